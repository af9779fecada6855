/* SPDX-License-Identifier: MIT */
/* Durability for the in-memory quad store: a write-ahead journal of transactions, fsync'd before
 * a write is acknowledged, plus snapshots (fleet_qs_save) that bound the journal's length.
 *
 * On-disk layout in the state directory:
 *   snapshot            the last complete snapshot (written to snapshot.tmp, fsync'd, renamed,
 *                       directory fsync'd); absent on a new store
 *   journal.<seq>       journal segments (seq: 16 hex digits, increasing). A snapshot records the
 *                       first segment it does not contain; older segments are deleted after it is
 *                       durable.
 * A journal record is [u32 magic][u32 payload length][u32 CRC32 of payload][payload], one record
 * per transaction. Recovery loads the snapshot, replays every complete record of the later
 * segments in order, and truncates a torn or checksum-failing tail of the *last* segment (a crash
 * mid-append); corruption anywhere else is FLEET_ERR_CORRUPT, never silently skipped.
 *
 * All calls are made under the store's lock (store.c); none are thread-safe on their own. */
#ifndef FLEET_DURABLE_H
#define FLEET_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "quadstore.h"
#include "term.h"

/* A transaction: an ordered list of changes, applied all-or-nothing. Terms are copied in. */
struct fleet_txn;

struct fleet_txn *fleet_txn_new(void); /* new; NULL on ENOMEM */
void fleet_txn_free(struct fleet_txn *txn);
/* q = {s, p, o, g}; g->kind == FLEET_TERM_NONE means the default graph. s/p/o must be bound. */
enum fleet_err fleet_txn_add(struct fleet_txn *txn, const struct fleet_term q[4]);
enum fleet_err fleet_txn_remove(struct fleet_txn *txn, const struct fleet_term q[4]);
/* Removes every quad of graph g (g NULL or kind NONE: the default graph). */
enum fleet_err fleet_txn_clear_graph(struct fleet_txn *txn, const struct fleet_term *g);
/* Removes every quad of every graph, the default graph included. */
enum fleet_err fleet_txn_clear_all(struct fleet_txn *txn);
size_t fleet_txn_count(const struct fleet_txn *txn); /* number of changes recorded */

/* Applies txn to qs in order, without journaling (used by commit and by recovery). On ENOMEM
 * part of txn may have been applied: commit treats that as fatal. */
enum fleet_err fleet_txn_apply(const struct fleet_txn *txn, struct fleet_qs *qs);

/* The transaction as a journal payload ([u8 version][u32 op count] ops: the bytes a journal
 * record checksums), appended to out (borrowed). For journals kept elsewhere (pgjournal.h).
 * FLEET_ERR_NOMEM if out ran out of memory. */
struct fleet_buf;
enum fleet_err fleet_txn_payload(const struct fleet_txn *txn, struct fleet_buf *out);
/* Checks the len bytes at payload (borrowed), as fleet_txn_payload wrote them, and applies them
 * to qs. FLEET_ERR_CORRUPT (nothing applied) if malformed, FLEET_ERR_UNSUPPORTED for an unknown
 * version; on ENOMEM part of it may have been applied, as with fleet_txn_apply. */
enum fleet_err fleet_txn_apply_payload(const void *payload, size_t len, struct fleet_qs *qs);

struct fleet_durable_stats {
    uint64_t journal_bytes;   /* bytes in live journal segments */
    uint64_t snapshot_bytes;  /* size of the current snapshot file, 0 if none */
    uint64_t commits;         /* transactions committed since open */
    uint64_t snapshots;       /* snapshots completed since open */
    int snapshot_running;     /* a snapshot child is at work */
};

struct fleet_durable;

/* Opens (creating if needed) the store in dir, which must exist, and recovers it into qs, which
 * must be empty. Takes an exclusive flock on dir/lock so two daemons cannot share a directory
 * (FLEET_ERR_EXISTS if held). */
enum fleet_err fleet_durable_open(const char *dir, struct fleet_qs *qs, struct fleet_durable **out);

/* Appends txn to the journal and fdatasync()s it, then applies it to qs. On FLEET_OK the change
 * survives kill -9. If the append fails nothing is applied and the journal is left as it was
 * (a partial record is truncated away). An apply failure after a durable append aborts the
 * process: restarting replays the journal. */
enum fleet_err fleet_durable_commit(struct fleet_durable *d, struct fleet_qs *qs,
                                    const struct fleet_txn *txn);

/* Housekeeping, called periodically (e.g. every second) under the store lock: reaps a finished
 * snapshot child and deletes the segments it made obsolete; starts a new snapshot in a forked
 * child (copy-on-write view of qs, so writers are not blocked) when the journal has grown past
 * max(snapshot_bytes, min_journal_bytes). */
enum fleet_err fleet_durable_maintain(struct fleet_durable *d, struct fleet_qs *qs);

/* Writes a snapshot synchronously (used at clean shutdown and by tests). */
enum fleet_err fleet_durable_snapshot(struct fleet_durable *d, const struct fleet_qs *qs);

void fleet_durable_set_min_journal_bytes(struct fleet_durable *d, uint64_t bytes); /* default 64 MiB */
void fleet_durable_stats(const struct fleet_durable *d, struct fleet_durable_stats *out);

/* Waits for a running snapshot child, closes files, releases the lock. NULL is a no-op. */
void fleet_durable_close(struct fleet_durable *d);

#endif
