/* SPDX-License-Identifier: MIT */
/* The device-agent poller: one thread that pulls what agents measured into the knowledge graph
 * (docs/agent-protocol.md) and sends them the benchmark jobs of POST /api/v1/benchmarks/jobs.
 *
 * Each agent is polled every interval: its TD (when it was never read, after a failure, and every
 * ten minutes), its "devices", then its "results" from the stored cursor; a full page is followed
 * at once by the next. Many agents are in flight at once over libcurl's multi interface
 * (lib/agent.h) with a per-request timeout and a reply size cap. A failure (no connection,
 * timeout, a non-2xx status, a reply too large, closed mid-body, not JSON, not the protocol,
 * results sent twice) is logged, shown in the agent's health, and backs the agent off
 * exponentially with jitter (up to max_backoff); nothing else waits for it.
 *
 * Exactly once: the new results of a reply, the cursor that follows them, the count of results
 * received and the jobs they finish are one durable transaction; a result already stored (key:
 * agent + result id) is never stored again. A restart or kill -9 resumes from the stored cursor.
 *
 * Thread-safety: every function may be called from any thread; one mutex guards the registry
 * and is held by the poller thread while it processes a reply and commits it (never while it
 * waits for the network). */
#ifndef FLEET_POLLER_H
#define FLEET_POLLER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_proto.h"
#include "err.h"
#include "store.h"

struct fleet_poller_options {
    long interval_ms;         /* agent_interval: agents registered without an interval */
    long timeout_ms;          /* agent_timeout: one request, connection to last byte */
    uint64_t max_reply_bytes; /* agent_max_reply */
    long max_backoff_ms;      /* agent_max_backoff */
    unsigned concurrency;     /* agent_concurrency: requests in flight */
    unsigned page_size;       /* agent_page_size: the limit asked for */
    long job_timeout_ms;      /* job_timeout: a dispatched job item without a result fails */
    char public_url[512];     /* where agents fetch model files: public_url + /api/v1/... */
};

struct fleet_poller;

/* Loads the agents and jobs stored in st (borrowed; must outlive the poller). Does not start the
 * thread. On error returns a code and a message. */
enum fleet_err fleet_poller_new(struct fleet_store *st, const struct fleet_poller_options *o,
                                struct fleet_poller **out, char *err, size_t errlen);
/* Stops the thread if it runs and frees everything. NULL is a no-op. */
void fleet_poller_free(struct fleet_poller *p);

/* Starts / stops (joins) the thread. Stop is idempotent. */
enum fleet_err fleet_poller_start(struct fleet_poller *p, char *err, size_t errlen);
void fleet_poller_stop(struct fleet_poller *p);

/* Replaces the options (a config reload). */
void fleet_poller_configure(struct fleet_poller *p, const struct fleet_poller_options *o);

/* Makes the agents of the agents_file path (lines "TD_URL [INTERVAL]", '#' comments; INTERVAL
 * in seconds or with a unit as agent_interval takes) the configured agents: new ones are added,
 * configured agents no longer listed are removed, an agent registered through the API that the
 * file lists becomes configured. path "" means no file (every configured agent goes). Errors
 * name FILE:LINE; then nothing changed. */
int fleet_poller_load_agents_file(struct fleet_poller *p, const char *path, char *err,
                                  size_t errlen);

/* Registers an agent whose TD (fetched from td_url and parsed by the caller) is td, which the
 * registry takes over (td is zeroed). interval_ms 0: the default. id receives the agent's id.
 * FLEET_ERR_EXISTS if an agent with this TD URL is registered (id is its id). Store errors. */
enum fleet_err fleet_poller_add(struct fleet_poller *p, const char *td_url, long interval_ms,
                                struct fleet_agent_td *td, char id[17]);
/* Stops polling an agent and removes its registration (its results stay).
 * FLEET_ERR_NOTFOUND, FLEET_ERR_FORBIDDEN (it comes from agents_file), store errors. */
enum fleet_err fleet_poller_remove(struct fleet_poller *p, const char *id);

/* The health of one agent (new), or NULL if there is none: see README.md. */
json_t *fleet_poller_agent_json(struct fleet_poller *p, const char *id);
/* Every agent, sorted by id (new array). */
json_t *fleet_poller_agents_json(struct fleet_poller *p);

/* 1 if a registered agent says it fronts the board device (a TD id). */
int fleet_poller_fronted(struct fleet_poller *p, const char *device);

struct fleet_job_request {
    const char *model_id; /* borrowed */
    const char *model_sha256;
    long long runs;
    const char *const *devices; /* TD ids, n of them, distinct */
    size_t n;
    const char *created_by; /* a token fingerprint or NULL */
};
/* Records a job durably: one item per board, queued for the agent that fronts it, or failed at
 * once when none does. *job receives it as JSON (new). Store errors. */
enum fleet_err fleet_poller_job_create(struct fleet_poller *p, const struct fleet_job_request *r,
                                       json_t **job);
/* One job as JSON (new), or NULL. */
json_t *fleet_poller_job_json(struct fleet_poller *p, const char *id);
/* Jobs, newest first: {"total", "items"} (new). */
json_t *fleet_poller_jobs_json(struct fleet_poller *p, size_t offset, size_t limit);

#endif
