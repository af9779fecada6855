/* SPDX-License-Identifier: MIT */
/* Backups: one POSIX ustar archive holding a consistent copy of the state.
 *
 *   tinyfleet-backup/manifest.json     format, version, time, store generation, quad count, and
 *                                      the sha256 and size of every other entry
 *   tinyfleet-backup/store.nq          every graph but the ontology's, as N-Quads
 *   tinyfleet-backup/models/<sha256>   every model file, named by its content
 *
 * The writer streams the archive from open files (the daemon's GET /api/v1/admin/backup); the
 * restore (tinyfleetd --restore) checks every header, size and checksum, and every file's
 * sha256, before it builds a state directory, and refuses a directory that holds a store. No
 * HTTP here. */
#ifndef FLEET_BACKUP_H
#define FLEET_BACKUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define FLEET_BACKUP_ROOT "tinyfleet-backup/"
#define FLEET_BACKUP_FORMAT "tinyfleet-backup"
#define FLEET_BACKUP_VERSION 1

/* ---- writing ----------------------------------------------------------------------------- */

struct fleet_tar;

struct fleet_tar *fleet_tar_new(void);
/* Adds an entry whose data is the next size bytes of fd (taken: closed by the stream). */
enum fleet_err fleet_tar_add_fd(struct fleet_tar *t, const char *name, int fd, uint64_t size);
/* Adds an entry holding a copy of data. */
enum fleet_err fleet_tar_add_mem(struct fleet_tar *t, const char *name, const void *data,
                                 size_t len);
/* The next bytes of the archive into buf (at most max): > 0 bytes, 0 at the end, -1 on a read
 * error or a file shorter than announced (errno set). */
ssize_t fleet_tar_read(struct fleet_tar *t, char *buf, size_t max);
/* Total size of the archive as it stands. */
uint64_t fleet_tar_size(const struct fleet_tar *t);
void fleet_tar_free(struct fleet_tar *t);

/* sha256 of the next size bytes of fd from its current offset, as hex in out[65]; the offset is
 * restored. -1 on a read error. */
int fleet_sha256_fd(int fd, uint64_t size, char out[65]);

/* ---- restoring --------------------------------------------------------------------------- */

struct fleet_restore_report {
    uint64_t quads;
    uint64_t models;
    uint64_t generation; /* of the store the backup was taken from */
    char created[40];
};

/* Builds state_dir (created if missing; it must not hold a store already) from the archive at
 * path: the model files under state_dir/models, then the quads loaded into a new store opened with
 * ontology_dir and closed again (a snapshot written). Nothing is left in state_dir on an error.
 * Errors: FLEET_ERR_INVAL or FLEET_ERR_CORRUPT for a bad archive (message names the entry),
 * FLEET_ERR_EXISTS if state_dir holds a store, FLEET_ERR_IO. */
enum fleet_err fleet_backup_restore(const char *path, const char *state_dir,
                                    const char *ontology_dir, struct fleet_restore_report *rep,
                                    char *err, size_t errlen);

#endif
