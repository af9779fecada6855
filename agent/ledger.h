/* SPDX-License-Identifier: MIT */
/* tinyfleet-agent: the results it serves, oldest first, in two streams: a fixed list (the
 * MLPerf Tiny tree, read at start-up) followed by a JSON-lines file that a bench harness (or the
 * agent's own runner) appends RESULT objects to. The cursor names a position in each stream,
 * "m<N>.j<BYTES>": N fixed results and BYTES of the file consumed. Appending to the file never
 * moves a result already served, so a cursor stays valid across restarts of the agent and of
 * the daemon. Lines that are not a valid RESULT (lib/agent_proto.h) are skipped with a message.
 * Thread-safe. */
#ifndef FLEET_AGENT_LEDGER_H
#define FLEET_AGENT_LEDGER_H

#include <jansson.h>
#include <stddef.h>

struct fleet_ledger;

/* fixed: a JSON array of RESULT objects (stolen; may be NULL). jsonl: the file's path (copied;
 * NULL or "" for none; it need not exist yet). NULL on ENOMEM. */
struct fleet_ledger *fleet_ledger_new(json_t *fixed, const char *jsonl);
void fleet_ledger_free(struct fleet_ledger *l);

/* The page after cursor since (NULL: from the start): {"results": [...], "next": CURSOR} with
 * at most limit results (new), after reading the lines appended since the last call. NULL if
 * since is not a cursor of this ledger. */
json_t *fleet_ledger_page(struct fleet_ledger *l, const char *since, size_t limit);

/* Appends result (borrowed; must pass fleet_agent_result_parse) as one line and fsyncs the file.
 * Returns 0, or -1 with a message. */
int fleet_ledger_append(struct fleet_ledger *l, const json_t *result, char *err, size_t errlen);

/* 1 if the ledger holds a result whose "job" is job and "device" is device. */
int fleet_ledger_has_job(struct fleet_ledger *l, const char *job, const char *device);

/* The boards the results name, plus extra (n of them), sorted and distinct (a new array). */
json_t *fleet_ledger_devices(struct fleet_ledger *l, const char *const *extra, size_t n);

#endif
