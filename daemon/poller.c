/* SPDX-License-Identifier: MIT */
/* See poller.h. The registry is two arrays under one mutex: agents sorted by id, jobs in creation
 * order. In-flight requests carry the agent's id and serial (not a pointer), so an agent removed
 * (or removed and registered again) while a request of it is in flight is simply not found when
 * the reply comes. Memory changes that follow a commit are made only after the commit succeeded;
 * job items changed on the way are saved and restored if it did not. */
#include "poller.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agent.h"
#include "bench_results.h"
#include "buf.h"
#include "cluster.h"
#include "log.h"
#include "model_graph.h"

#define TD_REFRESH_MS (10 * 60 * 1000L)
#define JOB_MAX_ATTEMPTS 5
#define MAX_INTERVAL_MS (24 * 3600 * 1000L)
#define ACCEPT_JSON "application/json"
#define ACCEPT_TD "application/td+json, application/json"

enum phase { PH_IDLE, PH_TD, PH_DEVICES, PH_RESULTS };
enum jstate { J_QUEUED, J_DISPATCHED, J_DONE, J_FAILED };
static const char *const jstate_names[] = {"queued", "dispatched", "done", "failed"};

struct agent {
    char id[17];
    uint64_t serial; /* unique per registration in this process */
    char *td_url;
    long interval_ms;
    int configured; /* listed in agents_file */
    int64_t registered_ms;
    /* durable progress */
    char *title;
    char **devices; /* sorted strv, never NULL */
    char *cursor;
    uint64_t results;
    /* what the TD says */
    struct fleet_agent_td td;
    int td_ok, need_devices;
    int64_t td_at; /* monotonic ms */
    /* health (memory only) */
    int pending;                            /* no poll finished since start-up or registration */
    int64_t last_success_ms, last_error_ms; /* wall clock, 0 = never */
    char last_error[400];
    unsigned failures;
    int64_t next_due; /* monotonic ms */
    uint64_t requests, duplicates, rejected;
    enum phase phase;
    int elsewhere; /* another daemon of the cluster polls it (cluster.h) */
};

struct item {
    char *device;
    char agent[17]; /* "" when no agent fronts the board */
    enum jstate state;
    unsigned attempts;
    char error[256];
    char result[FLEET_AGENT_MAX_ID + 1];
    int64_t updated_ms;
    int64_t next_try; /* monotonic ms */
    int in_flight;
};

struct job {
    char id[17];
    char *model_id, *sha, *created_by;
    long long runs;
    int64_t created_ms;
    struct item *items;
    size_t n;
    int active; /* some item is queued or dispatched */
};

struct fleet_poller {
    pthread_mutex_t mu;
    struct fleet_store *st;
    struct fleet_poller_options o;
    struct agent **agents;
    size_t n_agents, cap_agents;
    struct job **jobs;
    size_t n_jobs, cap_jobs;
    struct fleet_agent_client *client;
    pthread_t thread;
    int thread_running, stop;
    unsigned inflight;
    uint64_t next_serial;
    size_t rr;
    unsigned rand_state;
};

enum xkind { X_TD, X_DEVICES, X_RESULTS, X_DISPATCH };
static const char *const xkind_names[] = {"td", "devices", "results", "runBenchmark"};

struct xfer {
    enum xkind kind;
    char agent[17];
    uint64_t serial;
    char job[17];
    size_t item;
    char *since; /* the cursor sent (X_RESULTS), or NULL */
};

/* ---- small helpers --------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *time_json(int64_t ms)
{
    char t[32];
    if (!ms)
        return json_null();
    fleet_bench_time(ms, t);
    return json_string(t);
}

static int64_t parse_doc_time(const char *s)
{
    struct tm tm;
    unsigned ms = 0;
    int n = 0;
    memset(&tm, 0, sizeof(tm));
    if (!s ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
        s[n])
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static int streq0(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

static unsigned next_rand(struct fleet_poller *p)
{
    /* xorshift32: jitter needs spread, not secrecy */
    unsigned x = p->rand_state ? p->rand_state : 2463534242u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p->rand_state = x;
    return x;
}

/* d/2 plus a random part of d/2: the retries of agents that failed together spread out. */
static long jitter(struct fleet_poller *p, long d)
{
    if (d < 2)
        return d;
    return d / 2 + (long)(next_rand(p) % (unsigned long)(d / 2 + 1));
}

static long backoff_ms(struct fleet_poller *p, const struct agent *a)
{
    long d = a->interval_ms;
    for (unsigned i = 1; i < a->failures && d < p->o.max_backoff_ms; i++)
        d *= 2;
    if (d > p->o.max_backoff_ms)
        d = p->o.max_backoff_ms;
    return jitter(p, d);
}

/* ---- agents ---------------------------------------------------------------------------------- */

static int agent_cmp(const void *k, const void *e)
{
    return strcmp((const char *)k, (*(struct agent *const *)e)->id);
}

static struct agent *find_agent(struct fleet_poller *p, const char *id)
{
    struct agent **a =
        p->n_agents ? bsearch(id, p->agents, p->n_agents, sizeof(*p->agents), agent_cmp) : NULL;
    return a ? *a : NULL;
}

static void agent_free(struct agent *a)
{
    if (!a)
        return;
    free(a->td_url);
    free(a->title);
    fleet_strv_free(a->devices);
    free(a->cursor);
    fleet_agent_td_clear(&a->td);
    free(a);
}

static struct agent *agent_new(struct fleet_poller *p, const char *td_url, long interval_ms)
{
    struct agent *a = calloc(1, sizeof(*a));
    if (!a || !(a->td_url = strdup(td_url)) || !(a->devices = calloc(1, sizeof(char *)))) {
        agent_free(a);
        return NULL;
    }
    fleet_agent_id(td_url, a->id);
    a->serial = ++p->next_serial;
    a->interval_ms = interval_ms;
    a->pending = 1;
    a->next_due = mono_ms();
    return a;
}

static int agent_insert(struct fleet_poller *p, struct agent *a)
{
    if (p->n_agents == p->cap_agents) {
        size_t cap = p->cap_agents ? p->cap_agents * 2 : 16;
        struct agent **v = realloc(p->agents, cap * sizeof(*v));
        if (!v)
            return -1;
        p->agents = v;
        p->cap_agents = cap;
    }
    size_t i = p->n_agents;
    while (i > 0 && strcmp(p->agents[i - 1]->id, a->id) > 0) {
        p->agents[i] = p->agents[i - 1];
        i--;
    }
    p->agents[i] = a;
    p->n_agents++;
    return 0;
}

static void agent_unlink(struct fleet_poller *p, struct agent *a)
{
    for (size_t i = 0; i < p->n_agents; i++)
        if (p->agents[i] == a) {
            memmove(&p->agents[i], &p->agents[i + 1], (p->n_agents - i - 1) * sizeof(*p->agents));
            p->n_agents--;
            return;
        }
}

/* The agent's durable state (new), with the given progress in place of the agent's own. */
static json_t *agent_doc(const struct agent *a, const char *title, char *const *devices,
                         const char *cursor, uint64_t results)
{
    char reg[32];
    fleet_bench_time(a->registered_ms, reg);
    json_t *d = json_object(), *devs = json_array();
    json_object_set_new(d, "id", json_string(a->id));
    json_object_set_new(d, "td_url", json_string(a->td_url));
    json_object_set_new(d, "interval_s", json_real((double)a->interval_ms / 1000.0));
    json_object_set_new(d, "interval_ms", json_integer((json_int_t)a->interval_ms));
    json_object_set_new(d, "configured", json_boolean(a->configured));
    json_object_set_new(d, "registered", json_string(reg));
    json_object_set_new(d, "title", title ? json_string(title) : json_null());
    json_object_set_new(d, "cursor", cursor ? json_string(cursor) : json_null());
    json_object_set_new(d, "results_received", json_integer((json_int_t)results));
    for (size_t i = 0; devices && devices[i]; i++)
        json_array_append_new(devs, json_string(devices[i]));
    json_object_set_new(d, "devices", devs);
    return d;
}

/* Commits the agent's registration as it is in memory (creation, interval, configured). */
static enum fleet_err commit_agent(struct fleet_poller *p, const struct agent *a)
{
    struct fleet_txn *txn = fleet_txn_new();
    json_t *doc = agent_doc(a, a->title, a->devices, a->cursor, a->results);
    enum fleet_err rc = txn && doc ? fleet_bench_agent_txn(doc, txn) : FLEET_ERR_NOMEM;
    if (rc == FLEET_OK)
        rc = fleet_store_commit(p->st, txn);
    json_decref(doc);
    fleet_txn_free(txn);
    return rc;
}

/* Records a failed step: health, log, backoff, and a fresh TD at the next attempt. */
static void agent_fail(struct fleet_poller *p, struct agent *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void agent_fail(struct fleet_poller *p, struct agent *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->last_error, sizeof(a->last_error), fmt, ap);
    va_end(ap);
    a->failures++;
    a->pending = 0;
    a->last_error_ms = wall_ms();
    a->phase = PH_IDLE;
    a->td_ok = 0;
    long wait = backoff_ms(p, a);
    a->next_due = mono_ms() + wait;
    fleet_log(a->failures == 1 ? FLEET_LOG_WARNING : FLEET_LOG_INFO,
              "agent %s (%s): %s; failure %u, next attempt in %.1f s", a->id, a->td_url,
              a->last_error, a->failures, (double)wait / 1000.0);
}

static void agent_succeed(struct fleet_poller *p, struct agent *a, int again_now)
{
    if (a->failures)
        fleet_log(FLEET_LOG_NOTICE, "agent %s (%s): reachable again after %u failure(s)", a->id,
                  a->td_url, a->failures);
    a->failures = 0;
    a->pending = 0;
    a->last_success_ms = wall_ms();
    a->phase = PH_IDLE;
    a->next_due = mono_ms() + (again_now ? 0 : a->interval_ms);
}

static json_t *agent_health(const struct agent *a)
{
    json_t *j = agent_doc(a, a->title, a->devices, a->cursor, a->results);
    json_object_del(j, "interval_ms");
    json_object_set_new(j, "run_benchmark",
                        a->td_ok || a->td.results_url ? json_boolean(a->td.run_url != NULL)
                                                      : json_null());
    json_object_set_new(j, "status",
                        json_string(a->elsewhere       ? "elsewhere"
                                    : a->pending       ? "pending"
                                    : a->failures == 0 ? "ok"
                                                       : "failing"));
    json_object_set_new(j, "last_success", time_json(a->last_success_ms));
    if (a->last_error_ms) {
        json_t *e = json_object();
        json_object_set_new(e, "at", time_json(a->last_error_ms));
        json_object_set_new(e, "message", json_string(a->last_error));
        json_object_set_new(j, "last_error", e);
    } else {
        json_object_set_new(j, "last_error", json_null());
    }
    json_object_set_new(j, "consecutive_failures", json_integer(a->failures));
    json_object_set_new(j, "polling", json_boolean(a->phase != PH_IDLE));
    if (a->phase == PH_IDLE) {
        int64_t in = a->next_due - mono_ms();
        json_object_set_new(j, "next_poll", time_json(wall_ms() + (in > 0 ? in : 0)));
    } else {
        json_object_set_new(j, "next_poll", json_null());
    }
    json_object_set_new(j, "duplicates_ignored", json_integer((json_int_t)a->duplicates));
    json_object_set_new(j, "results_rejected", json_integer((json_int_t)a->rejected));
    json_object_set_new(j, "requests", json_integer((json_int_t)a->requests));
    return j;
}

/* ---- jobs ------------------------------------------------------------------------------------ */

static struct job *find_job(struct fleet_poller *p, const char *id)
{
    for (size_t i = 0; i < p->n_jobs; i++)
        if (strcmp(p->jobs[i]->id, id) == 0)
            return p->jobs[i];
    return NULL;
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++)
        free(j->items[i].device);
    free(j->items);
    free(j->model_id);
    free(j->sha);
    free(j->created_by);
    free(j);
}

static void job_refresh_active(struct job *j)
{
    j->active = 0;
    for (size_t i = 0; i < j->n; i++)
        if (j->items[i].state == J_QUEUED || j->items[i].state == J_DISPATCHED)
            j->active = 1;
}

static const char *job_state(const struct job *j)
{
    int q = 0, d = 0, f = 0;
    for (size_t i = 0; i < j->n; i++) {
        q |= j->items[i].state == J_QUEUED;
        d |= j->items[i].state == J_DISPATCHED;
        f |= j->items[i].state == J_FAILED;
    }
    return q ? "queued" : d ? "dispatched" : f ? "failed" : "done";
}

static json_t *job_json(const struct job *j)
{
    char t[32];
    json_t *o = json_object(), *items = json_array();
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "model", json_string(j->model_id));
    json_object_set_new(o, "model_sha256", json_string(j->sha));
    json_object_set_new(o, "runs", json_integer(j->runs));
    fleet_bench_time(j->created_ms, t);
    json_object_set_new(o, "created", json_string(t));
    json_object_set_new(o, "created_by", j->created_by ? json_string(j->created_by) : json_null());
    json_object_set_new(o, "state", json_string(job_state(j)));
    for (size_t i = 0; i < j->n; i++) {
        const struct item *it = &j->items[i];
        json_t *e = json_object();
        json_object_set_new(e, "device", json_string(it->device));
        json_object_set_new(e, "agent", it->agent[0] ? json_string(it->agent) : json_null());
        json_object_set_new(e, "state", json_string(jstate_names[it->state]));
        json_object_set_new(e, "attempts", json_integer(it->attempts));
        json_object_set_new(e, "error", it->error[0] ? json_string(it->error) : json_null());
        json_object_set_new(e, "result", it->result[0] ? json_string(it->result) : json_null());
        json_object_set_new(e, "updated", time_json(it->updated_ms));
        json_array_append_new(items, e);
    }
    json_object_set_new(o, "items", items);
    return o;
}

static enum fleet_err add_job_txn(const struct job *j, struct fleet_txn *txn)
{
    json_t *doc = job_json(j);
    enum fleet_err rc = doc ? fleet_bench_job_txn(doc, txn) : FLEET_ERR_NOMEM;
    json_decref(doc);
    return rc;
}

static enum fleet_err commit_job(struct fleet_poller *p, const struct job *j)
{
    struct fleet_txn *txn = fleet_txn_new();
    enum fleet_err rc = txn ? add_job_txn(j, txn) : FLEET_ERR_NOMEM;
    if (rc == FLEET_OK)
        rc = fleet_store_commit(p->st, txn);
    fleet_txn_free(txn);
    if (rc != FLEET_OK)
        fleet_log(FLEET_LOG_ERR, "job %s: cannot store its state: %s", j->id, fleet_strerror(rc));
    return rc;
}

static void item_set(struct item *it, enum jstate s, const char *error)
{
    it->state = s;
    snprintf(it->error, sizeof(it->error), "%s", error ? error : "");
    it->updated_ms = wall_ms();
}

/* ---- requests -------------------------------------------------------------------------------- */

static void xfer_free(void *user)
{
    struct xfer *x = user;
    if (x)
        free(x->since);
    free(x);
}

static int issue(struct fleet_poller *p, struct xfer *x, const char *method, const char *url,
                 const char *accept, const char *body)
{
    struct fleet_agent_request req = {method,
                                      url,
                                      accept,
                                      "application/json",
                                      body,
                                      body ? strlen(body) : 0,
                                      p->o.timeout_ms,
                                      p->o.max_reply_bytes,
                                      x};
    if (fleet_agent_client_add(p->client, &req) != FLEET_OK) {
        xfer_free(x);
        return -1;
    }
    p->inflight++;
    return 0;
}

/* Starts the agent's next step of kind (TD, devices or results). */
static void agent_step(struct fleet_poller *p, struct agent *a, enum xkind kind)
{
    struct xfer *x = calloc(1, sizeof(*x));
    char *url = NULL;
    const char *accept = ACCEPT_JSON;
    if (!x) {
        agent_fail(p, a, "out of memory");
        return;
    }
    x->kind = kind;
    memcpy(x->agent, a->id, sizeof(x->agent));
    x->serial = a->serial;
    if (kind == X_TD) {
        url = strdup(a->td_url);
        accept = ACCEPT_TD;
    } else if (kind == X_DEVICES) {
        url = strdup(a->td.devices_url);
    } else {
        url = fleet_agent_results_url(a->td.results_url, a->cursor, p->o.page_size);
        if (a->cursor && !(x->since = strdup(a->cursor))) {
            free(url);
            url = NULL;
        }
    }
    if (!url) {
        xfer_free(x);
        agent_fail(p, a, "out of memory");
        return;
    }
    if (kind == X_RESULTS && !fleet_agent_url_ok(url)) {
        agent_fail(p, a, "results: the expanded URL %.200s is not an http(s) URL", url);
        xfer_free(x);
        free(url);
        return;
    }
    a->phase = kind == X_TD ? PH_TD : kind == X_DEVICES ? PH_DEVICES : PH_RESULTS;
    a->requests++;
    if (issue(p, x, "GET", url, accept, NULL) != 0)
        agent_fail(p, a, "%s: cannot start the request", xkind_names[kind]);
    free(url);
}

/* Takes the agent's progress from the store: another daemon of the cluster polled it until now. */
static void agent_reread(struct fleet_poller *p, struct agent *a)
{
    struct fleet_buf graph = FLEET_BUF_INIT, node = FLEET_BUF_INIT;
    fleet_buf_printf(&graph, FLEET_AGENT_GRAPH_BASE "%s", a->id);
    fleet_buf_printf(&node, FLEET_AGENT_IRI_BASE "%s", a->id);
    char *text = graph.oom || node.oom
                     ? NULL
                     : fleet_store_literal(p->st, graph.data, node.data, FLEET_NS "document");
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    const char *cursor = json_string_value(json_object_get(doc, "cursor"));
    char *c = cursor ? strdup(cursor) : NULL;
    if (doc && (c || !cursor)) {
        free(a->cursor);
        a->cursor = c;
        a->results = (uint64_t)json_integer_value(json_object_get(doc, "results_received"));
    } else {
        free(c);
    }
    json_decref(doc);
    free(text);
    fleet_buf_free(&graph);
    fleet_buf_free(&node);
}

static void agent_start(struct fleet_poller *p, struct agent *a, int64_t now)
{
    /* In a cluster one daemon polls an agent at a time; without one the claim is always 1. */
    if (fleet_cluster_claim(fleet_store_cluster(p->st), a->id) != 1) {
        a->elsewhere = 1;
        a->next_due = now + a->interval_ms;
        return;
    }
    if (a->elsewhere) {
        a->elsewhere = 0;
        agent_reread(p, a);
    }
    if (!a->td_ok || now - a->td_at >= TD_REFRESH_MS)
        agent_step(p, a, X_TD);
    else if (a->need_devices)
        agent_step(p, a, X_DEVICES);
    else
        agent_step(p, a, X_RESULTS);
}

/* ---- replies --------------------------------------------------------------------------------- */

static void on_td(struct fleet_poller *p, struct agent *a, const struct fleet_agent_response *r)
{
    struct fleet_agent_td td = {0};
    char field[256], err[512];
    if (fleet_agent_td_parse(r->body.data, r->body.len, a->td_url, &td, field, sizeof(field), err,
                             sizeof(err)) != FLEET_OK) {
        agent_fail(p, a, "td: %s%s%s", field[0] ? field : "", field[0] ? ": " : "", err);
        return;
    }
    fleet_agent_td_clear(&a->td);
    a->td = td;
    a->td_ok = 1;
    a->td_at = mono_ms();
    agent_step(p, a, X_DEVICES);
}

static int strv_eq(char *const *a, char *const *b)
{
    size_t i = 0;
    for (; a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return !a[i] && !b[i];
}

static void on_devices(struct fleet_poller *p, struct agent *a,
                       const struct fleet_agent_response *r)
{
    char **devices = NULL, err[512];
    if (fleet_agent_devices_parse(r->body.data, r->body.len, &devices, err, sizeof(err)) !=
        FLEET_OK) {
        agent_fail(p, a, "%s", err);
        return;
    }
    const char *title = a->td.title;
    if (!strv_eq(devices, a->devices) || !streq0(title, a->title)) {
        struct fleet_txn *txn = fleet_txn_new();
        json_t *doc = agent_doc(a, title, devices, a->cursor, a->results);
        enum fleet_err rc = txn && doc ? fleet_bench_agent_txn(doc, txn) : FLEET_ERR_NOMEM;
        if (rc == FLEET_OK)
            rc = fleet_store_commit(p->st, txn);
        json_decref(doc);
        fleet_txn_free(txn);
        char *t = dup0(title);
        if (rc != FLEET_OK || (title && !t)) {
            free(t);
            fleet_strv_free(devices);
            agent_fail(p, a, "devices: cannot store them: %s", fleet_strerror(rc));
            return;
        }
        size_t nd = 0;
        while (devices[nd])
            nd++;
        fleet_log(FLEET_LOG_INFO, "agent %s fronts %zu board(s)", a->id, nd);
        free(a->title);
        a->title = t;
        fleet_strv_free(a->devices);
        a->devices = devices;
    } else {
        fleet_strv_free(devices);
    }
    a->need_devices = 0;
    agent_step(p, a, X_RESULTS);
}

/* The results replies that complete in one wake-up of the poller are stored in one durable
 * transaction (one fdatasync, not one per reply): each agent's new results, its cursor and the
 * jobs they complete still commit together or not at all. Memory follows after the commit. */
struct pending {
    struct agent *a;
    char *cursor; /* the new cursor (owned) when it moved */
    int moved, had_since;
    size_t fresh, dups, twice, rejected, got;
};

struct saved_item {
    struct item *it;
    struct item copy;
};

struct batch {
    struct fleet_txn *txn;
    enum fleet_err rc;
    struct pending *v;
    size_t n, cap;
    struct saved_item *saved;
    size_t n_saved, cap_saved;
    struct job **touched;
    size_t n_touched, cap_touched;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, c * size);
    if (!nv)
        return -1;
    *v = nv;
    *cap = c;
    return 0;
}

/* Saves it (once per batch) before a result changes it, and notes its job. */
static void batch_touch(struct batch *b, struct job *j, struct item *it)
{
    int seen = 0;
    for (size_t i = 0; i < b->n_saved; i++)
        seen |= b->saved[i].it == it;
    if (!seen) {
        if (grow((void **)&b->saved, &b->cap_saved, b->n_saved, sizeof(*b->saved)) != 0) {
            b->rc = FLEET_ERR_NOMEM;
            return;
        }
        b->saved[b->n_saved].it = it;
        b->saved[b->n_saved].copy = *it;
        b->n_saved++;
    }
    for (size_t i = 0; i < b->n_touched; i++)
        if (b->touched[i] == j)
            return;
    if (grow((void **)&b->touched, &b->cap_touched, b->n_touched, sizeof(*b->touched)) != 0) {
        b->rc = FLEET_ERR_NOMEM;
        return;
    }
    b->touched[b->n_touched++] = j;
}

/* The job item a result answers: the one it names, else the oldest dispatched item of the same
 * board, model and agent. */
static void correlate(struct fleet_poller *p, const struct agent *a,
                      const struct fleet_agent_result *r, struct batch *b)
{
    struct job *j = NULL;
    struct item *it = NULL;
    if (r->job && (j = find_job(p, r->job)))
        for (size_t i = 0; i < j->n && !it; i++)
            if (strcmp(j->items[i].device, r->device) == 0 && j->items[i].state != J_DONE &&
                !(j->items[i].state == J_FAILED && j->items[i].result[0]))
                it = &j->items[i];
    for (size_t k = 0; k < p->n_jobs && !it; k++) {
        j = p->jobs[k];
        if (!j->active || strcmp(j->sha, r->model_sha256) != 0)
            continue;
        for (size_t i = 0; i < j->n && !it; i++)
            if (j->items[i].state == J_DISPATCHED && strcmp(j->items[i].device, r->device) == 0 &&
                strcmp(j->items[i].agent, a->id) == 0)
                it = &j->items[i];
    }
    if (!it)
        return;
    batch_touch(b, j, it);
    if (b->rc != FLEET_OK)
        return;
    item_set(it, r->ok ? J_DONE : J_FAILED,
             r->ok      ? NULL
             : r->error ? r->error
                        : "the agent reported a failed run");
    snprintf(it->result, sizeof(it->result), "%s", r->id);
}

struct idx {
    const char *id;
    size_t i;
};

static int idx_cmp(const void *a, const void *b)
{
    const struct idx *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

/* Adds what a results reply brings to the batch; the agent's state changes at flush. */
static void on_results(struct fleet_poller *p, struct agent *a, const struct xfer *x,
                       const struct fleet_agent_response *r, struct batch *b)
{
    struct fleet_agent_reply reply = {0};
    char err[512];
    if (fleet_agent_reply_parse(r->body.data, r->body.len, &reply, err, sizeof(err)) != FLEET_OK) {
        agent_fail(p, a, "%s", err);
        return;
    }
    size_t n = reply.n, fresh = 0, dups = 0, twice = 0;
    unsigned char *skip = calloc(n + 1, 1);
    struct idx *order = calloc(n + 1, sizeof(*order));
    const char *cursor = reply.next ? reply.next : a->cursor;
    int moved = !streq0(cursor, a->cursor);
    int64_t now = wall_ms();
    if (!b->txn && !(b->txn = fleet_txn_new()))
        b->rc = FLEET_ERR_NOMEM;
    if (!skip || !order || grow((void **)&b->v, &b->cap, b->n, sizeof(*b->v)) != 0) {
        free(skip);
        free(order);
        fleet_agent_reply_clear(&reply);
        agent_fail(p, a, "results: out of memory");
        return;
    }
    /* The first of ids repeated within the reply counts. */
    for (size_t i = 0; i < n; i++)
        order[i] = (struct idx){reply.results[i].id, i};
    qsort(order, n, sizeof(*order), idx_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(order[i].id, order[i - 1].id) == 0)
            skip[order[i].i] = 1;
    for (size_t i = 0; i < n; i++) {
        const struct fleet_agent_result *res = &reply.results[i];
        if (skip[i] || fleet_bench_result_stored(p->st, a->id, res->id)) {
            dups++;
            twice += skip[i];
            continue;
        }
        if (b->rc == FLEET_OK)
            b->rc = fleet_bench_result_txn(a->id, res, now, b->txn);
        if (b->rc == FLEET_OK)
            correlate(p, a, res, b);
        fresh++;
    }
    for (size_t i = 0; i < reply.n_rejected; i++)
        fleet_log(FLEET_LOG_WARNING, "agent %s: result %s rejected: %s", a->id,
                  reply.rejected[i].id ? reply.rejected[i].id : "(no usable id)",
                  reply.rejected[i].message);
    if (b->rc == FLEET_OK && (fresh || moved)) {
        json_t *doc = agent_doc(a, a->title, a->devices, cursor, a->results + fresh);
        b->rc = doc ? fleet_bench_agent_txn(doc, b->txn) : FLEET_ERR_NOMEM;
        json_decref(doc);
    }
    struct pending *pe = &b->v[b->n++];
    memset(pe, 0, sizeof(*pe));
    pe->a = a;
    pe->moved = moved;
    pe->had_since = x->since != NULL;
    pe->fresh = fresh, pe->dups = dups, pe->twice = twice;
    pe->rejected = reply.n_rejected, pe->got = n + reply.n_rejected;
    if (moved && !(pe->cursor = strdup(cursor)))
        b->rc = FLEET_ERR_NOMEM;
    free(skip);
    free(order);
    fleet_agent_reply_clear(&reply);
}

/* Commits the batch and brings memory and health up to date with the outcome. */
static void flush(struct fleet_poller *p, struct batch *b)
{
    enum fleet_err rc = b->rc;
    if (!b->n)
        goto out;
    for (size_t i = 0; i < b->n_touched && rc == FLEET_OK; i++)
        rc = add_job_txn(b->touched[i], b->txn);
    if (rc == FLEET_OK && b->txn && fleet_txn_count(b->txn) > 0)
        rc = fleet_store_commit(p->st, b->txn);
    if (rc != FLEET_OK)
        for (size_t i = b->n_saved; i-- > 0;)
            *b->saved[i].it = b->saved[i].copy;
    for (size_t i = 0; i < b->n; i++) {
        struct pending *pe = &b->v[i];
        struct agent *a = pe->a;
        if (rc != FLEET_OK) {
            agent_fail(p, a, "results: cannot store them: %s", fleet_strerror(rc));
            continue;
        }
        if (pe->moved) {
            free(a->cursor);
            a->cursor = pe->cursor;
            pe->cursor = NULL;
        }
        a->results += pe->fresh;
        a->rejected += pe->rejected;
        a->duplicates += pe->dups;
        if (pe->fresh || pe->rejected)
            fleet_log(FLEET_LOG_INFO, "agent %s: %zu new result(s), %zu rejected, cursor %s", a->id,
                      pe->fresh, pe->rejected, a->cursor ? a->cursor : "(none)");
        if (pe->twice || (pe->dups && pe->had_since))
            /* An id twice in one reply is always wrong; with a cursor, nothing already stored
             * should come back either (without one, after a re-registration, it may). */
            agent_fail(p, a,
                       "results: %zu result(s) sent again (duplicate ids, or the cursor went "
                       "backwards); ignored, %zu new stored",
                       pe->dups, pe->fresh);
        else
            agent_succeed(p, a, pe->moved && pe->got >= p->o.page_size);
    }
    for (size_t i = 0; i < b->n_touched; i++)
        job_refresh_active(b->touched[i]);
out:
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].cursor);
    fleet_txn_free(b->txn);
    free(b->v);
    free(b->saved);
    free(b->touched);
    memset(b, 0, sizeof(*b));
}

static void on_dispatch(struct fleet_poller *p, const struct xfer *x,
                        const struct fleet_agent_response *r)
{
    struct job *j = find_job(p, x->job);
    if (!j || x->item >= j->n)
        return;
    struct item *it = &j->items[x->item], saved = *it;
    it->in_flight = 0;
    if (it->state != J_QUEUED)
        return; /* a result came first, or a timeout */
    it->attempts++;
    char msg[360] = "";
    if (r->fault != FLEET_AGENT_OK)
        snprintf(msg, sizeof(msg), "runBenchmark: %s", r->message);
    else if (r->status < 200 || r->status > 299)
        snprintf(msg, sizeof(msg), "runBenchmark: HTTP %ld", r->status);
    if (!msg[0]) {
        item_set(it, J_DISPATCHED, NULL);
    } else if (it->attempts >= JOB_MAX_ATTEMPTS) {
        item_set(it, J_FAILED, msg);
    } else {
        snprintf(it->error, sizeof(it->error), "%s (will retry)", msg);
        it->next_try = mono_ms() + jitter(p, 1000L << it->attempts);
    }
    if (commit_job(p, j) != FLEET_OK) {
        *it = saved;
        it->in_flight = 0;
        it->next_try = mono_ms() + 1000;
        return;
    }
    job_refresh_active(j);
    fleet_log(msg[0] ? FLEET_LOG_WARNING : FLEET_LOG_INFO, "job %s: %s on %s %s%s", j->id,
              jstate_names[it->state], it->device, msg[0] ? ": " : "", msg);
}

static void handle(struct fleet_poller *p, struct fleet_agent_response *r, struct batch *b)
{
    struct xfer *x = r->user;
    p->inflight--;
    if (x->kind == X_DISPATCH) {
        on_dispatch(p, x, r);
        goto out;
    }
    struct agent *a = find_agent(p, x->agent);
    if (!a || a->serial != x->serial)
        goto out; /* removed meanwhile */
    if (r->fault != FLEET_AGENT_OK) {
        agent_fail(p, a, "%s: %s", xkind_names[x->kind], r->message);
    } else if (r->status < 200 || r->status > 299) {
        agent_fail(p, a, "%s: HTTP %ld", xkind_names[x->kind], r->status);
    } else if (x->kind == X_TD) {
        on_td(p, a, r);
    } else if (x->kind == X_DEVICES) {
        on_devices(p, a, r);
    } else {
        on_results(p, a, x, r, b);
    }
out:
    xfer_free(x);
    fleet_buf_free(&r->body);
}

/* ---- scheduling ------------------------------------------------------------------------------ */

static void dispatch_item(struct fleet_poller *p, struct job *j, size_t k, const struct agent *a)
{
    struct item *it = &j->items[k];
    struct xfer *x = calloc(1, sizeof(*x));
    json_t *body = json_object();
    char *text = NULL;
    if (x && body) {
        struct fleet_buf url = FLEET_BUF_INIT;
        fleet_buf_printf(&url, "%s/api/v1/models/%s/file", p->o.public_url, j->model_id);
        json_object_set_new(body, "job", json_string(j->id));
        json_object_set_new(body, "device", json_string(it->device));
        json_object_set_new(body, "model_sha256", json_string(j->sha));
        json_object_set_new(body, "model_url", json_string(url.data ? url.data : ""));
        json_object_set_new(body, "runs", json_integer(j->runs));
        text = json_dumps(body, JSON_COMPACT);
        fleet_buf_free(&url);
    }
    json_decref(body);
    if (!text) {
        free(x);
        it->next_try = mono_ms() + 1000;
        return;
    }
    x->kind = X_DISPATCH;
    memcpy(x->job, j->id, sizeof(x->job));
    x->item = k;
    struct fleet_agent_request req = {"POST",
                                      a->td.run_url,
                                      ACCEPT_JSON,
                                      a->td.run_ctype ? a->td.run_ctype : "application/json",
                                      text,
                                      strlen(text),
                                      p->o.timeout_ms,
                                      p->o.max_reply_bytes,
                                      x};
    if (fleet_agent_client_add(p->client, &req) != FLEET_OK) {
        xfer_free(x);
        it->next_try = mono_ms() + 1000;
    } else {
        it->in_flight = 1;
        p->inflight++;
    }
    free(text);
}

/* Dispatches queued items, fails late ones. Returns ms until it wants to look again. */
static long schedule_jobs(struct fleet_poller *p, int64_t now)
{
    long wait = 1000;
    int64_t wall = wall_ms();
    for (size_t k = 0; k < p->n_jobs; k++) {
        struct job *j = p->jobs[k];
        if (!j->active)
            continue;
        int changed = 0;
        for (size_t i = 0; i < j->n; i++) {
            struct item *it = &j->items[i];
            if (it->state != J_QUEUED && it->state != J_DISPATCHED)
                continue;
            if (wall - j->created_ms >= p->o.job_timeout_ms && !it->in_flight) {
                char msg[128];
                snprintf(msg, sizeof(msg), "no result within job_timeout (%ld s)",
                         p->o.job_timeout_ms / 1000);
                item_set(it, J_FAILED, msg);
                changed = 1;
                continue;
            }
            if (it->state != J_QUEUED || it->in_flight || it->next_try > now ||
                p->inflight >= p->o.concurrency)
                continue;
            struct agent *a = find_agent(p, it->agent);
            if (!a) {
                item_set(it, J_FAILED, "the agent that fronts this board is no longer registered");
                changed = 1;
            } else if (a->elsewhere || !a->td_ok) {
                it->next_try = now + 500; /* its next poll reads the TD (here, or elsewhere) */
            } else if (!a->td.run_url) {
                item_set(it, J_FAILED, "the agent's TD has no action runBenchmark");
                changed = 1;
            } else {
                dispatch_item(p, j, i, a);
            }
        }
        if (changed)
            commit_job(p, j);
        job_refresh_active(j);
    }
    return wait;
}

static long schedule(struct fleet_poller *p)
{
    int64_t now = mono_ms();
    long wait = schedule_jobs(p, now);
    size_t n = p->n_agents;
    for (size_t k = 0; k < n; k++) {
        struct agent *a = p->agents[(p->rr + k) % n];
        if (a->phase != PH_IDLE)
            continue;
        if (a->next_due <= now) {
            if (p->inflight >= p->o.concurrency) {
                wait = 0;
                p->rr = (p->rr + k) % n;
                break;
            }
            agent_start(p, a, now);
        } else if (a->next_due - now < wait) {
            wait = (long)(a->next_due - now);
        }
    }
    if (p->inflight >= p->o.concurrency)
        wait = 1000; /* replies wake the loop */
    return wait;
}

static void *run(void *arg)
{
    struct fleet_poller *p = arg;
    struct fleet_agent_response r;
    struct batch b;
    memset(&b, 0, sizeof(b));
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        long wait = schedule(p);
        pthread_mutex_unlock(&p->mu);
        fleet_agent_client_wait(p->client, wait);
        pthread_mutex_lock(&p->mu);
        while (!p->stop && fleet_agent_client_take(p->client, &r)) {
            /* Other replies may commit on their own (devices, jobs): the batch goes first, so
             * nothing is written from a state that might not be stored. */
            if (((struct xfer *)r.user)->kind != X_RESULTS)
                flush(p, &b);
            handle(p, &r, &b);
        }
        flush(p, &b);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- loading --------------------------------------------------------------------------------- */

struct load_ctx {
    struct fleet_poller *p;
    int oom;
};

static void load_agent(void *ctx, const json_t *doc)
{
    struct load_ctx *c = ctx;
    const char *url = json_string_value(json_object_get(doc, "td_url"));
    if (!url || !fleet_agent_url_ok(url))
        return;
    long interval = (long)json_integer_value(json_object_get(doc, "interval_ms"));
    if (interval <= 0)
        interval = (long)json_integer_value(json_object_get(doc, "interval_s")) * 1000;
    if (interval <= 0 || interval > MAX_INTERVAL_MS)
        interval = c->p->o.interval_ms;
    struct agent *a = agent_new(c->p, url, interval);
    if (!a) {
        c->oom = 1;
        return;
    }
    if (find_agent(c->p, a->id)) {
        agent_free(a);
        return;
    }
    a->configured = json_is_true(json_object_get(doc, "configured"));
    a->registered_ms = parse_doc_time(json_string_value(json_object_get(doc, "registered")));
    a->title = dup0(json_string_value(json_object_get(doc, "title")));
    a->cursor = dup0(json_string_value(json_object_get(doc, "cursor")));
    a->results = (uint64_t)json_integer_value(json_object_get(doc, "results_received"));
    const json_t *devs = json_object_get(doc, "devices");
    char **v = calloc(json_array_size(devs) + 1, sizeof(*v));
    size_t i, n = 0;
    json_t *e;
    if (v) {
        json_array_foreach(devs, i,
                           e) if (json_is_string(e) && (v[n] = strdup(json_string_value(e)))) n++;
        fleet_strv_free(a->devices);
        a->devices = v;
    }
    if (!v || agent_insert(c->p, a) != 0) {
        agent_free(a);
        c->oom = 1;
    }
}

static int job_time_cmp(const void *x, const void *y)
{
    const struct job *a = *(struct job *const *)x, *b = *(struct job *const *)y;
    if (a->created_ms != b->created_ms)
        return a->created_ms < b->created_ms ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int add_job(struct fleet_poller *p, struct job *j)
{
    if (p->n_jobs == p->cap_jobs) {
        size_t cap = p->cap_jobs ? p->cap_jobs * 2 : 16;
        struct job **v = realloc(p->jobs, cap * sizeof(*v));
        if (!v)
            return -1;
        p->jobs = v;
        p->cap_jobs = cap;
    }
    p->jobs[p->n_jobs++] = j;
    return 0;
}

static void load_job(void *ctx, const json_t *doc)
{
    struct load_ctx *c = ctx;
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *model = json_string_value(json_object_get(doc, "model"));
    const char *sha = json_string_value(json_object_get(doc, "model_sha256"));
    const json_t *items = json_object_get(doc, "items");
    if (!id || strlen(id) != 16 || !model || !sha || !json_is_array(items) || find_job(c->p, id))
        return;
    struct job *j = calloc(1, sizeof(*j));
    size_t i;
    json_t *e;
    if (!j || !(j->items = calloc(json_array_size(items) + 1, sizeof(*j->items))))
        goto nomem;
    memcpy(j->id, id, 17);
    j->model_id = strdup(model);
    j->sha = strdup(sha);
    j->created_by = dup0(json_string_value(json_object_get(doc, "created_by")));
    j->runs = json_integer_value(json_object_get(doc, "runs"));
    j->created_ms = parse_doc_time(json_string_value(json_object_get(doc, "created")));
    if (!j->model_id || !j->sha)
        goto nomem;
    json_array_foreach(items, i, e)
    {
        struct item *it = &j->items[j->n];
        const char *dev = json_string_value(json_object_get(e, "device"));
        const char *st = json_string_value(json_object_get(e, "state"));
        if (!dev || !st)
            continue;
        if (!(it->device = strdup(dev)))
            goto nomem;
        j->n++;
        snprintf(it->agent, sizeof(it->agent), "%s",
                 json_string_value(json_object_get(e, "agent"))
                     ? json_string_value(json_object_get(e, "agent"))
                     : "");
        it->state = J_FAILED;
        for (int s = 0; s < 4; s++)
            if (strcmp(st, jstate_names[s]) == 0)
                it->state = (enum jstate)s;
        it->attempts = (unsigned)json_integer_value(json_object_get(e, "attempts"));
        snprintf(it->error, sizeof(it->error), "%s",
                 json_string_value(json_object_get(e, "error"))
                     ? json_string_value(json_object_get(e, "error"))
                     : "");
        snprintf(it->result, sizeof(it->result), "%s",
                 json_string_value(json_object_get(e, "result"))
                     ? json_string_value(json_object_get(e, "result"))
                     : "");
        it->updated_ms = parse_doc_time(json_string_value(json_object_get(e, "updated")));
    }
    job_refresh_active(j);
    if (add_job(c->p, j) != 0)
        goto nomem;
    return;
nomem:
    job_free(j);
    c->oom = 1;
}

enum fleet_err fleet_poller_new(struct fleet_store *st, const struct fleet_poller_options *o,
                                struct fleet_poller **out, char *err, size_t errlen)
{
    struct fleet_poller *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return FLEET_ERR_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    p->st = st;
    p->o = *o;
    if (getrandom(&p->rand_state, sizeof(p->rand_state), GRND_NONBLOCK) !=
        (ssize_t)sizeof(p->rand_state))
        p->rand_state = (unsigned)time(NULL);
    struct load_ctx c = {p, 0};
    if (fleet_bench_load(st, FLEET_AGENT_GRAPH_BASE, load_agent, &c) < 0 || c.oom ||
        fleet_bench_load(st, FLEET_JOB_GRAPH_BASE, load_job, &c) < 0 || c.oom) {
        snprintf(err, errlen, "cannot load the device agents and jobs from the store");
        fleet_poller_free(p);
        return FLEET_ERR_NOMEM;
    }
    if (p->n_jobs)
        qsort(p->jobs, p->n_jobs, sizeof(*p->jobs), job_time_cmp);
    if (!(p->client = fleet_agent_client_new())) {
        snprintf(err, errlen, "libcurl: cannot create a multi handle");
        fleet_poller_free(p);
        return FLEET_ERR_NOMEM;
    }
    fleet_log(FLEET_LOG_INFO, "device agents: %zu registered, %zu benchmark jobs", p->n_agents,
              p->n_jobs);
    *out = p;
    return FLEET_OK;
}

void fleet_poller_free(struct fleet_poller *p)
{
    if (!p)
        return;
    fleet_poller_stop(p);
    fleet_agent_client_free(p->client, xfer_free);
    for (size_t i = 0; i < p->n_agents; i++)
        agent_free(p->agents[i]);
    for (size_t i = 0; i < p->n_jobs; i++)
        job_free(p->jobs[i]);
    free(p->agents);
    free(p->jobs);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

enum fleet_err fleet_poller_start(struct fleet_poller *p, char *err, size_t errlen)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 0;
    int rc = pthread_create(&p->thread, NULL, run, p);
    p->thread_running = rc == 0;
    pthread_mutex_unlock(&p->mu);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the agent poller thread: %s", strerror(rc));
        return FLEET_ERR_INTERNAL;
    }
    return FLEET_OK;
}

void fleet_poller_stop(struct fleet_poller *p)
{
    pthread_mutex_lock(&p->mu);
    int running = p->thread_running;
    p->stop = 1;
    p->thread_running = 0;
    pthread_mutex_unlock(&p->mu);
    if (!running)
        return;
    fleet_agent_client_wakeup(p->client);
    pthread_join(p->thread, NULL);
}

void fleet_poller_configure(struct fleet_poller *p, const struct fleet_poller_options *o)
{
    pthread_mutex_lock(&p->mu);
    p->o = *o;
    pthread_mutex_unlock(&p->mu);
    fleet_agent_client_wakeup(p->client);
}

/* ---- registration ---------------------------------------------------------------------------- */

enum fleet_err fleet_poller_add(struct fleet_poller *p, const char *td_url, long interval_ms,
                                struct fleet_agent_td *td, char id[17])
{
    pthread_mutex_lock(&p->mu);
    struct agent *a = agent_new(p, td_url, interval_ms > 0 ? interval_ms : p->o.interval_ms);
    enum fleet_err rc = FLEET_ERR_NOMEM;
    if (!a)
        goto out;
    memcpy(id, a->id, 17);
    if (find_agent(p, a->id)) {
        agent_free(a);
        rc = FLEET_ERR_EXISTS;
        goto out;
    }
    a->registered_ms = wall_ms();
    a->td = *td;
    memset(td, 0, sizeof(*td));
    a->td_ok = 1;
    a->td_at = mono_ms();
    a->need_devices = 1;
    if (!(a->title = dup0(a->td.title)) && a->td.title) {
        agent_free(a);
        goto out;
    }
    if ((rc = commit_agent(p, a)) != FLEET_OK || agent_insert(p, a) != 0) {
        if (rc == FLEET_OK) {
            /* stored but not in memory: take it out of the store again */
            struct fleet_txn *txn = fleet_txn_new();
            if (txn && fleet_bench_agent_delete_txn(a->id, txn) == FLEET_OK)
                fleet_store_commit(p->st, txn);
            fleet_txn_free(txn);
            rc = FLEET_ERR_NOMEM;
        }
        agent_free(a);
        goto out;
    }
    fleet_log(FLEET_LOG_NOTICE, "agent %s registered: %s, every %g s", a->id, a->td_url,
              (double)a->interval_ms / 1000.0);
out:
    pthread_mutex_unlock(&p->mu);
    if (rc == FLEET_OK)
        fleet_agent_client_wakeup(p->client);
    return rc;
}

static enum fleet_err remove_locked(struct fleet_poller *p, struct agent *a)
{
    struct fleet_txn *txn = fleet_txn_new();
    enum fleet_err rc = txn ? fleet_bench_agent_delete_txn(a->id, txn) : FLEET_ERR_NOMEM;
    if (rc == FLEET_OK)
        rc = fleet_store_commit(p->st, txn);
    fleet_txn_free(txn);
    if (rc != FLEET_OK)
        return rc;
    fleet_log(FLEET_LOG_NOTICE, "agent %s (%s) removed; its %llu results stay", a->id, a->td_url,
              (unsigned long long)a->results);
    fleet_cluster_release(fleet_store_cluster(p->st), a->id);
    agent_unlink(p, a);
    agent_free(a); /* a request in flight finds no agent with its serial */
    return FLEET_OK;
}

enum fleet_err fleet_poller_remove(struct fleet_poller *p, const char *id)
{
    pthread_mutex_lock(&p->mu);
    struct agent *a = find_agent(p, id);
    enum fleet_err rc = !a              ? FLEET_ERR_NOTFOUND
                        : a->configured ? FLEET_ERR_FORBIDDEN
                                        : remove_locked(p, a);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Seconds or a number with a unit (ms, s, m, h), as a whole number of ms in (0, 1 day]. */
static int parse_interval(const char *s, long *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v <= 0 || !isdigit((unsigned char)*s))
        return -1;
    double unit = 1000;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "m") == 0)
        unit = 60000;
    else if (strcmp(end, "h") == 0)
        unit = 3600000;
    else if (*end && strcmp(end, "s") != 0)
        return -1;
    double r = v * unit;
    if (r < 1 || r > (double)MAX_INTERVAL_MS)
        return -1;
    *ms = (long)r;
    return 0;
}

struct listed {
    char *url;
    long interval_ms;
};

int fleet_poller_load_agents_file(struct fleet_poller *p, const char *path, char *err,
                                  size_t errlen)
{
    struct listed *v = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    unsigned long lineno = 0;
    int rc = -1;
    FILE *f = NULL;
    if (path && *path) {
        if (!(f = fopen(path, "re"))) {
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
            goto out;
        }
        ssize_t len;
        while ((len = getline(&line, &lcap, f)) >= 0) {
            lineno++;
            if (strlen(line) != (size_t)len) {
                snprintf(err, errlen, "%s:%lu: line contains a NUL byte", path, lineno);
                goto out;
            }
            char *hash = strchr(line, '#');
            if (hash && (hash == line || isspace((unsigned char)hash[-1])))
                *hash = '\0';
            char *save = NULL, *url = strtok_r(line, " \t\r\n", &save);
            char *iv = url ? strtok_r(NULL, " \t\r\n", &save) : NULL;
            char *extra = iv ? strtok_r(NULL, " \t\r\n", &save) : NULL;
            long interval = p->o.interval_ms;
            if (!url)
                continue;
            if (!fleet_agent_url_ok(url)) {
                snprintf(err, errlen, "%s:%lu: \"%.100s\" is not an http or https URL", path,
                         lineno, url);
                goto out;
            }
            if ((iv && parse_interval(iv, &interval) != 0) || extra) {
                snprintf(err, errlen,
                         "%s:%lu: expected \"TD_URL [INTERVAL]\" with INTERVAL in seconds (or "
                         "500ms, 30s, 5m, 1h; at most 1 day)",
                         path, lineno);
                goto out;
            }
            for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].url, url) == 0) {
                    snprintf(err, errlen, "%s:%lu: %.100s is listed twice", path, lineno, url);
                    goto out;
                }
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct listed *nv = realloc(v, cap * sizeof(*nv));
                if (!nv) {
                    snprintf(err, errlen, "%s: out of memory", path);
                    goto out;
                }
                v = nv;
            }
            if (!(v[n].url = strdup(url))) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            v[n++].interval_ms = interval;
        }
    }
    /* The file is good: make the registry match it, in one transaction (all of it or none). */
    pthread_mutex_lock(&p->mu);
    struct change {
        struct agent *a;
        int is_new, old_conf;
        long old_iv;
    } *ch = calloc(n + 1, sizeof(*ch));
    struct agent **gone = calloc(p->n_agents + 1, sizeof(*gone));
    size_t nch = 0, ngone = 0;
    struct fleet_txn *txn = fleet_txn_new();
    enum fleet_err frc = ch && gone && txn ? FLEET_OK : FLEET_ERR_NOMEM;
    for (size_t i = 0; i < n && frc == FLEET_OK; i++) {
        char id[17];
        fleet_agent_id(v[i].url, id);
        struct agent *a = find_agent(p, id);
        if (a && a->configured && a->interval_ms == v[i].interval_ms)
            continue;
        struct change *c = &ch[nch++];
        if (!a) {
            if (!(a = agent_new(p, v[i].url, v[i].interval_ms))) {
                frc = FLEET_ERR_NOMEM;
                nch--;
                break;
            }
            a->registered_ms = wall_ms();
            c->is_new = 1;
        }
        c->a = a;
        c->old_conf = a->configured;
        c->old_iv = a->interval_ms;
        a->configured = 1;
        a->interval_ms = v[i].interval_ms;
        json_t *doc = agent_doc(a, a->title, a->devices, a->cursor, a->results);
        frc = doc ? fleet_bench_agent_txn(doc, txn) : FLEET_ERR_NOMEM;
        json_decref(doc);
    }
    for (size_t k = 0; k < p->n_agents && frc == FLEET_OK; k++) {
        struct agent *a = p->agents[k];
        int listed = 0;
        for (size_t i = 0; i < n && !listed; i++)
            listed = strcmp(a->td_url, v[i].url) == 0;
        if (a->configured && !listed) {
            gone[ngone++] = a;
            frc = fleet_bench_agent_delete_txn(a->id, txn);
        }
    }
    if (frc == FLEET_OK && fleet_txn_count(txn) > 0)
        frc = fleet_store_commit(p->st, txn);
    for (size_t i = 0; i < nch; i++) {
        struct agent *a = ch[i].a;
        if (frc == FLEET_OK && ch[i].is_new && agent_insert(p, a) != 0) {
            /* stored; memory cannot follow: a restart or the next reload picks it up */
            frc = FLEET_ERR_NOMEM;
            agent_free(a);
        } else if (frc != FLEET_OK && ch[i].is_new) {
            agent_free(a);
        } else if (frc != FLEET_OK) {
            a->configured = ch[i].old_conf;
            a->interval_ms = ch[i].old_iv;
        } else if (ch[i].is_new) {
            fleet_log(FLEET_LOG_NOTICE, "agent %s from %s: %s, every %g s", a->id, path, a->td_url,
                      (double)a->interval_ms / 1000.0);
        }
    }
    if (frc == FLEET_OK)
        for (size_t i = 0; i < ngone; i++) {
            fleet_log(FLEET_LOG_NOTICE,
                      "agent %s (%s) is no longer in %s: removed; its %llu "
                      "results stay",
                      gone[i]->id, gone[i]->td_url, path && *path ? path : "agents_file",
                      (unsigned long long)gone[i]->results);
            fleet_cluster_release(fleet_store_cluster(p->st), gone[i]->id);
            agent_unlink(p, gone[i]);
            agent_free(gone[i]);
        }
    fleet_txn_free(txn);
    free(ch);
    free(gone);
    pthread_mutex_unlock(&p->mu);
    fleet_agent_client_wakeup(p->client);
    if (frc != FLEET_OK) {
        snprintf(err, errlen, "%s: the agents cannot be stored: %s",
                 path && *path ? path : "agents_file", fleet_strerror(frc));
        goto out;
    }
    rc = 0;
out:
    if (f)
        fclose(f);
    free(line);
    for (size_t i = 0; i < n; i++)
        free(v[i].url);
    free(v);
    return rc;
}

/* ---- reading --------------------------------------------------------------------------------- */

json_t *fleet_poller_agent_json(struct fleet_poller *p, const char *id)
{
    pthread_mutex_lock(&p->mu);
    struct agent *a = find_agent(p, id);
    json_t *j = a ? agent_health(a) : NULL;
    pthread_mutex_unlock(&p->mu);
    return j;
}

json_t *fleet_poller_agents_json(struct fleet_poller *p)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n_agents && arr; i++)
        json_array_append_new(arr, agent_health(p->agents[i]));
    pthread_mutex_unlock(&p->mu);
    return arr;
}

static const struct agent *fronting(struct fleet_poller *p, const char *device)
{
    for (size_t i = 0; i < p->n_agents; i++) {
        char *const *d = p->agents[i]->devices;
        for (size_t k = 0; d && d[k]; k++)
            if (strcmp(d[k], device) == 0)
                return p->agents[i];
    }
    return NULL;
}

int fleet_poller_fronted(struct fleet_poller *p, const char *device)
{
    pthread_mutex_lock(&p->mu);
    int yes = fronting(p, device) != NULL;
    pthread_mutex_unlock(&p->mu);
    return yes;
}

/* ---- jobs ------------------------------------------------------------------------------------ */

enum fleet_err fleet_poller_job_create(struct fleet_poller *p, const struct fleet_job_request *r,
                                       json_t **out)
{
    struct job *j = calloc(1, sizeof(*j));
    unsigned char rnd[8];
    *out = NULL;
    if (!j || !(j->items = calloc(r->n + 1, sizeof(*j->items))) ||
        !(j->model_id = strdup(r->model_id)) || !(j->sha = strdup(r->model_sha256)) ||
        (r->created_by && !(j->created_by = strdup(r->created_by)))) {
        job_free(j);
        return FLEET_ERR_NOMEM;
    }
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        job_free(j);
        return FLEET_ERR_INTERNAL;
    }
    for (int i = 0; i < 8; i++)
        snprintf(j->id + 2 * i, 3, "%02x", rnd[i]);
    j->runs = r->runs;
    j->created_ms = wall_ms();
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < r->n; i++) {
        struct item *it = &j->items[j->n];
        if (!(it->device = strdup(r->devices[i]))) {
            pthread_mutex_unlock(&p->mu);
            job_free(j);
            return FLEET_ERR_NOMEM;
        }
        j->n++;
        const struct agent *a = fronting(p, r->devices[i]);
        it->updated_ms = j->created_ms;
        if (a)
            memcpy(it->agent, a->id, 17);
        else
            item_set(it, J_FAILED, "no registered agent fronts this board");
    }
    job_refresh_active(j);
    enum fleet_err rc = commit_job(p, j);
    if (rc == FLEET_OK && add_job(p, j) != 0) {
        rc = FLEET_ERR_NOMEM; /* stored; it comes back at restart */
    }
    if (rc == FLEET_OK) {
        *out = job_json(j);
        fleet_log(FLEET_LOG_NOTICE, "job %s: model %s on %zu board(s)", j->id, j->model_id, j->n);
    } else {
        job_free(j);
    }
    pthread_mutex_unlock(&p->mu);
    if (rc == FLEET_OK)
        fleet_agent_client_wakeup(p->client);
    return rc;
}

json_t *fleet_poller_job_json(struct fleet_poller *p, const char *id)
{
    pthread_mutex_lock(&p->mu);
    struct job *j = find_job(p, id);
    json_t *o = j ? job_json(j) : NULL;
    pthread_mutex_unlock(&p->mu);
    return o;
}

json_t *fleet_poller_jobs_json(struct fleet_poller *p, size_t offset, size_t limit)
{
    json_t *out = json_object(), *items = json_array();
    pthread_mutex_lock(&p->mu);
    size_t total = p->n_jobs;
    for (size_t k = offset; k < total && k < offset + limit; k++)
        json_array_append_new(items, job_json(p->jobs[total - 1 - k]));
    pthread_mutex_unlock(&p->mu);
    json_object_set_new(out, "total", json_integer((json_int_t)total));
    json_object_set_new(out, "items", items);
    return out;
}
