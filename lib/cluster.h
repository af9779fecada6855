/* SPDX-License-Identifier: MIT */
/* Splitting work among the live daemons of a cluster (storage postgresql): which daemon polls
 * which agent. Each live daemon holds a member slot in PostgreSQL (pgjournal.h); a key (an agent's
 * id or URL) is assigned to one live member by rendezvous hashing, and the daemon it is assigned
 * to must also hold the key's PostgreSQL advisory lock (session-level, so it is released when
 * that daemon's connection ends: kill -9 included) before it acts. So at any moment at most one
 * daemon owns a key, and while daemons are alive and reach PostgreSQL every key has an owner
 * after at most one refresh interval. When a daemon joins or leaves, the keys move: the old owner
 * releases a key at its next fleet_cluster_claim that no longer picks it, and the new owner gets
 * it at the first claim after that.
 *
 * For the poller (issue 6), once per agent per round:
 *     if (fleet_cluster_claim(fleet_store_cluster(store), agent_key) != 1)
 *         continue;  -- another daemon polls this agent now
 * and fleet_cluster_release(..., agent_key) when an agent is removed. Without a cluster
 * (storage embedded, the handle is NULL) every claim returns 1.
 *
 * Thread-safe. Keys are hashed to 64 bits (pg_try_advisory_lock(bigint)): one fleet per
 * database, and other applications' bigint advisory locks in it share the key space. */
#ifndef FLEET_CLUSTER_H
#define FLEET_CLUSTER_H

#include <stdint.h>

struct fleet_pgj;
struct fleet_cluster;

/* new; j borrowed (must outlive it). refresh_ms: how often the member list is re-read. */
struct fleet_cluster *fleet_cluster_new(struct fleet_pgj *j, long refresh_ms);
/* Releases every key held and frees c. NULL is a no-op. */
void fleet_cluster_free(struct fleet_cluster *c);

/* 1: this daemon owns key (borrowed) now and should act on it; 0: another live daemon does, or
 * PostgreSQL cannot be reached (so no key is ever acted on twice). c NULL: 1. */
int fleet_cluster_claim(struct fleet_cluster *c, const char *key);
/* Gives key up (an agent removed). c NULL: no-op. */
void fleet_cluster_release(struct fleet_cluster *c, const char *key);
/* Live daemons in the cluster (1 for NULL), and this one's member slot (-1 if none; 0 for NULL);
 * -1 if PostgreSQL cannot be reached. Re-reads the member list. */
long fleet_cluster_members(struct fleet_cluster *c, int32_t *me);

#endif
