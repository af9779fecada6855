/* SPDX-License-Identifier: MIT */
/* PostgreSQL as the shared durable journal of a cluster of tinyfleetd (config: storage
 * postgresql). Each daemon keeps the whole graph in its own in-memory quad store and follows one
 * table of journal records; PostgreSQL is the only durable copy. This is the only file pair that
 * knows libpq (<libpq-fe.h> is included by pgjournal.c alone).
 *
 * Tables (created if missing, in the connection's default schema):
 *   tinyfleet_journal  seq bigserial primary key, payload bytea (the encoded transaction exactly
 *                      as durable.c journals it locally: fleet_txn_payload), crc bigint (CRC-32 of
 *                      payload), origin text (host:pid of the writer), created timestamptz
 *   tinyfleet_cluster  one row: a random id naming this journal, so a local snapshot cache taken
 *                      from another database is never loaded
 *
 * Writes: fleet_pgj_begin takes a transaction-scoped advisory lock (one cluster-wide write lock)
 * and applies every record committed so far; the caller then computes its change from that
 * state; fleet_pgj_commit INSERTs the record (and NOTIFY tinyfleet_journal with its seq) and
 * COMMITs, and only then applies the change locally. Records therefore commit one at a time in
 * seq order, every write sees all earlier ones, and a write is durable once it is acknowledged.
 *
 * Follow: a thread LISTENs on tinyfleet_journal and applies records with seq > the last applied
 * one, in seq order, when notified or every poll_ms (if a notification is lost or the connection
 * was re-made). Every applied record bumps the store generation.
 *
 * Start-up: loads the local snapshot cache (state_dir/pg-snapshot: the quad store as of some seq,
 * written in a forked child after snapshot_bytes of records and at close) if it belongs to this
 * journal and is not ahead of it, then replays the later records.
 *
 * Locking: the caller passes the store lock (under which the quad store and the generation
 * change) and serialises begin/commit/end itself (store.c's write lock). */
#ifndef FLEET_PGJOURNAL_H
#define FLEET_PGJOURNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "durable.h"
#include "err.h"
#include "quadstore.h"

struct fleet_pgj_options {
    const char *conninfo;    /* borrowed: a libpq connection string; never logged */
    const char *state_dir;   /* borrowed: the snapshot cache and the directory lock live here */
    long poll_ms;            /* follow by polling this often even without notifications */
    uint64_t snapshot_bytes; /* write a new snapshot cache after this many record bytes */
};

struct fleet_pgj;

/* Connects (three connections: writes, following, cluster locks), creates the
 * tables if needed, recovers *qs (which must be empty; it is replaced by the loaded snapshot, the
 * old one freed) and starts the follower thread. lock and generation are borrowed and must outlive
 * the journal: the follower changes **qs and *generation only while holding lock. On error returns
 * a code and a message in err (the connection string is never in it). */
enum fleet_err fleet_pgj_open(const struct fleet_pgj_options *opt, struct fleet_qs **qs,
                              pthread_mutex_t *lock, uint64_t *generation, struct fleet_pgj **out,
                              char *err, size_t errlen);

/* Takes the cluster-wide write lock and applies every record committed so far (reading the last
 * seq first, so a daemon that is up to date makes no further query). The caller holds its own
 * write lock and not the store lock. FLEET_ERR_IO if PostgreSQL cannot be reached,
 * FLEET_ERR_CORRUPT if an earlier record could not be applied (the daemon stopped following).
 * Must be followed by fleet_pgj_end, whatever it returns. */
enum fleet_err fleet_pgj_begin(struct fleet_pgj *j);
/* Appends txn as one record and commits it, then applies it to the store; the caller holds the
 * store lock and bumps the generation on FLEET_OK. An empty txn writes nothing. FLEET_ERR_IO: not
 * applied locally; if the COMMIT did reach PostgreSQL, the follower applies it like any record. */
enum fleet_err fleet_pgj_commit(struct fleet_pgj *j, const struct fleet_txn *txn);
/* Ends the write: rolls back if nothing was committed, releasing the cluster-wide lock. */
void fleet_pgj_end(struct fleet_pgj *j);

/* The seq of the last record applied; the caller holds the store lock. */
uint64_t fleet_pgj_applied(const struct fleet_pgj *j);

/* Under the store lock, about once a second: reaps a finished snapshot child and starts a new
 * one when snapshot_bytes of records were applied since the last. */
void fleet_pgj_maintain(struct fleet_pgj *j);
/* Under the store lock: writes the snapshot cache now (at clean shutdown). */
enum fleet_err fleet_pgj_snapshot(struct fleet_pgj *j);
/* Stops and joins the follower thread. Call without the store lock, before fleet_pgj_close.
 * NULL is a no-op. */
void fleet_pgj_stop(struct fleet_pgj *j);
/* Closes the connections (releasing every advisory lock held) and frees j. NULL is a no-op. */
void fleet_pgj_close(struct fleet_pgj *j);

/* ---- cluster locks (for cluster.c) ---------------------------------------------------------
 * One connection holds session-level advisory locks: a member slot per live daemon (taken at
 * open, released when the daemon's connection ends, so a dead daemon leaves the set) and the
 * ownership locks of cluster.h. *session counts that connection's sessions: when it changes
 * every lock of the previous session is gone. All thread-safe. */

/* The live members' slots, ascending (*out new), and this daemon's (*me; -1 if it holds none).
 * Returns the count or -1. */
long fleet_pgj_members(struct fleet_pgj *j, int32_t **out, int32_t *me, uint64_t *session);
/* pg_try_advisory_lock(key): 1 taken (or already held), 0 held by another session, -1 error. */
int fleet_pgj_try_lock(struct fleet_pgj *j, int64_t key, uint64_t *session);
/* pg_advisory_unlock(key). */
void fleet_pgj_unlock(struct fleet_pgj *j, int64_t key);

#endif
