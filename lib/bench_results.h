/* SPDX-License-Identifier: MIT */
/* Benchmark results, device agents and benchmark jobs as knowledge. No HTTP, no Redland, no
 * curl: this module only turns them into changes of a transaction and reads them back.
 *
 * - Each result an agent reports is a node FLEET_BENCH_IRI_BASE{agent}/{pct-encoded result id}
 *   in the agent's results graph FLEET_BENCH_GRAPH_BASE{agent}, typed fleet:BenchmarkResult and
 *   sosa:Observation: the board (fleet:device, sosa:hasFeatureOfInterest, the TD id), the model
 *   by its file's digest (fleet:modelSha256, which joins with a model's fleet:sha256, so a result
 *   that arrived before its model was registered matches it once it is), the measurements, the
 *   agent (fleet:agent, its id), the times, and fleet:document, the JSON the REST API shows.
 *   The node's IRI is the key "agent + result id": it exists at most once.
 * - An agent's registration and progress (TD URL, interval, cursor, results received, the boards
 *   it fronts) is the node FLEET_AGENT_IRI_BASE{id} in the graph FLEET_AGENT_GRAPH_BASE{id},
 *   rewritten whole by every change, its state as JSON in fleet:document.
 * - A job (POST /api/v1/benchmarks/jobs) is FLEET_JOB_IRI_BASE{id} in FLEET_JOB_GRAPH_BASE{id}
 *   with one item per board, rewritten whole by every change, likewise.
 * Deleting an agent removes its registration graph; its results stay. */
#ifndef FLEET_BENCH_RESULTS_H
#define FLEET_BENCH_RESULTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_proto.h"
#include "buf.h"
#include "durable.h"
#include "err.h"
#include "store.h"

#define FLEET_AGENT_IRI_BASE "https://tinyfleet.dev/id/agent/"
#define FLEET_AGENT_GRAPH_BASE "https://tinyfleet.dev/graph/agent/"
#define FLEET_BENCH_IRI_BASE "https://tinyfleet.dev/id/benchmark/"
#define FLEET_BENCH_GRAPH_BASE "https://tinyfleet.dev/graph/benchmarks/"
#define FLEET_JOB_IRI_BASE "https://tinyfleet.dev/id/benchmark-job/"
#define FLEET_JOB_GRAPH_BASE "https://tinyfleet.dev/graph/benchmark-job/"

/* IRIs, appended to out. */
void fleet_bench_graph_iri(const char *agent_id, struct fleet_buf *out);
void fleet_bench_result_iri(const char *agent_id, const char *result_id, struct fleet_buf *out);

/* Adds the result r of agent agent_id, received at received_ms (ms since the epoch), to txn.
 * The caller checks first that it is not stored (fleet_bench_result_stored). */
enum fleet_err fleet_bench_result_txn(const char *agent_id, const struct fleet_agent_result *r,
                                      int64_t received_ms, struct fleet_txn *txn);

/* 1 if the store holds the result result_id of agent agent_id, 0 if not. */
int fleet_bench_result_stored(struct fleet_store *st, const char *agent_id, const char *result_id);

/* Adds to txn: empty the agent's registration graph and write state (borrowed), a JSON object
 * with "id", "td_url", "interval_s", "configured" (bool), "registered" (RFC 3339), "title"
 * (string or null), "cursor" (string or null), "results_received" and "devices" (array of
 * IRIs). The object is stored verbatim as fleet:document and read back by fleet_bench_load. */
enum fleet_err fleet_bench_agent_txn(const json_t *state, struct fleet_txn *txn);
/* Adds to txn: remove the agent's registration graph. */
enum fleet_err fleet_bench_agent_delete_txn(const char *agent_id, struct fleet_txn *txn);

/* Adds to txn: empty the job's graph and write job (borrowed): "id", "model", "model_sha256",
 * "runs", "created" (RFC 3339), "created_by" (string or null), "items": [{"device", "agent"
 * (string or null), "state" (queued|dispatched|done|failed), "attempts", "error", "result",
 * "updated"}]. Stored verbatim as fleet:document. */
enum fleet_err fleet_bench_job_txn(const json_t *job, struct fleet_txn *txn);

/* Calls fn with every document stored under graph_base (FLEET_AGENT_GRAPH_BASE or
 * FLEET_JOB_GRAPH_BASE), parsed (borrowed, valid during the call), in no particular order. A
 * document that does not parse is logged and skipped. Returns the number of calls or -1. */
typedef void (*fleet_bench_doc_fn)(void *ctx, const json_t *doc);
long fleet_bench_load(struct fleet_store *st, const char *graph_base, fleet_bench_doc_fn fn,
                      void *ctx);

/* ms since the epoch as RFC 3339 UTC with milliseconds, in out[32]. */
void fleet_bench_time(int64_t ms, char out[32]);
/* The shortest decimal text of the finite double d that reads back as d, in out[32]. */
void fleet_bench_double(double d, char out[32]);

#endif
