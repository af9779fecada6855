/* SPDX-License-Identifier: MIT */
/* Content-addressed files under the state directory (the uploaded .tflite models):
 * DIR/<sha256 hex>. A file is made durable before it is named (fsync, rename, fsync of the
 * directory), so a name that exists after a crash always holds complete content. */
#ifndef FLEET_BLOBS_H
#define FLEET_BLOBS_H

#include <stddef.h>

#include "err.h"

/* Creates dir if needed. */
enum fleet_err fleet_blobs_init(const char *dir);

/* Moves the file at tmp_path (on the same file system) to dir/sha256 durably. If a file of that
 * name exists already, tmp_path is removed and FLEET_OK returned (same content). */
enum fleet_err fleet_blobs_put(const char *dir, const char *tmp_path, const char *sha256);

/* Writes dir/sha256 into path. Returns -1 if sha256 is not 64 lower-case hex digits or the
 * result does not fit. */
int fleet_blobs_path(const char *dir, const char *sha256, char *path, size_t len);

/* Removes dir/sha256 (FLEET_ERR_NOTFOUND if absent) and syncs the directory. */
enum fleet_err fleet_blobs_remove(const char *dir, const char *sha256);

#endif
