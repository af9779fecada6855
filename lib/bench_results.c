/* SPDX-License-Identifier: MIT */
/* See bench_results.h. */
#include "bench_results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "model_graph.h"

#define RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define XSD "http://www.w3.org/2001/XMLSchema#"
#define SOSA "http://www.w3.org/ns/sosa/"
#define SCHEMA "https://schema.org/"

void fleet_bench_time(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)frac % 1000u);
}

void fleet_bench_double(double d, char out[32])
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static void pct_encode(struct fleet_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            fleet_buf_putc(b, (char)c);
        else
            fleet_buf_printf(b, "%%%02X", c);
    }
}

void fleet_bench_graph_iri(const char *agent_id, struct fleet_buf *out)
{
    fleet_buf_puts(out, FLEET_BENCH_GRAPH_BASE);
    pct_encode(out, agent_id);
}

void fleet_bench_result_iri(const char *agent_id, const char *result_id, struct fleet_buf *out)
{
    fleet_buf_puts(out, FLEET_BENCH_IRI_BASE);
    pct_encode(out, agent_id);
    fleet_buf_putc(out, '/');
    pct_encode(out, result_id);
}

/* ---- writing --------------------------------------------------------------------------------- */

struct writer {
    struct fleet_txn *txn;
    const char *graph;
    enum fleet_err rc;
};

static void put(struct writer *w, const char *s, const char *p, enum fleet_term_kind kind,
                const char *o, const char *dt)
{
    if (w->rc != FLEET_OK || !o)
        return;
    struct fleet_term q[4] = {{FLEET_TERM_IRI, s, NULL, NULL},
                              {FLEET_TERM_IRI, p, NULL, NULL},
                              {kind, o, NULL, dt},
                              {FLEET_TERM_IRI, w->graph, NULL, NULL}};
    w->rc = fleet_txn_add(w->txn, q);
}

static void put_iri(struct writer *w, const char *s, const char *p, const char *o)
{
    put(w, s, p, FLEET_TERM_IRI, o, NULL);
}

static void put_str(struct writer *w, const char *s, const char *p, const char *o)
{
    put(w, s, p, FLEET_TERM_LITERAL, o, NULL);
}

static void put_int(struct writer *w, const char *s, const char *p, long long v)
{
    char text[32];
    snprintf(text, sizeof(text), "%lld", v);
    put(w, s, p, FLEET_TERM_LITERAL, text, XSD "integer");
}

static void put_double(struct writer *w, const char *s, const char *p, double v)
{
    char text[32];
    fleet_bench_double(v, text);
    put(w, s, p, FLEET_TERM_LITERAL, text, XSD "double");
}

static void put_time(struct writer *w, const char *s, const char *p, int64_t ms)
{
    char text[32];
    fleet_bench_time(ms, text);
    put(w, s, p, FLEET_TERM_LITERAL, text, XSD "dateTime");
}

static void put_bool(struct writer *w, const char *s, const char *p, int v)
{
    put(w, s, p, FLEET_TERM_LITERAL, v ? "true" : "false", XSD "boolean");
}

enum fleet_err fleet_bench_result_txn(const char *agent_id, const struct fleet_agent_result *r,
                                      int64_t received_ms, struct fleet_txn *txn)
{
    struct fleet_buf graph = FLEET_BUF_INIT, node = FLEET_BUF_INIT, job = FLEET_BUF_INIT;
    char received[32];
    fleet_bench_graph_iri(agent_id, &graph);
    fleet_bench_result_iri(agent_id, r->id, &node);
    if (r->job) {
        fleet_buf_puts(&job, FLEET_JOB_IRI_BASE);
        pct_encode(&job, r->job);
    }
    fleet_bench_time(received_ms, received);
    json_t *doc = fleet_agent_result_json(r);
    char *text = NULL;
    if (doc) {
        json_object_set_new(doc, "agent", json_string(agent_id));
        json_object_set_new(doc, "received", json_string(received));
        text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    }
    json_decref(doc);
    struct writer w = {txn, graph.data, FLEET_OK};
    if (graph.oom || node.oom || job.oom || !text) {
        w.rc = FLEET_ERR_NOMEM;
        goto out;
    }
    const char *n = node.data;
    put_iri(&w, n, RDF "type", FLEET_NS "BenchmarkResult");
    put_iri(&w, n, RDF "type", SOSA "Observation");
    put_str(&w, n, FLEET_NS "resultId", r->id);
    put_str(&w, n, FLEET_NS "agent", agent_id);
    put_iri(&w, n, FLEET_NS "device", r->device);
    put_iri(&w, n, SOSA "hasFeatureOfInterest", r->device);
    put_str(&w, n, FLEET_NS "modelSha256", r->model_sha256);
    put_str(&w, n, FLEET_NS "framework", r->framework);
    put_int(&w, n, FLEET_NS "runs", (long long)r->runs);
    put_str(&w, n, FLEET_NS "status", r->ok ? "ok" : "failed");
    if (r->has_latency) {
        put_double(&w, n, FLEET_NS "latencyMedianMs", r->lat_median);
        put_double(&w, n, FLEET_NS "latencyP90Ms", r->lat_p90);
        put_double(&w, n, FLEET_NS "latencyMinMs", r->lat_min);
        put_double(&w, n, FLEET_NS "latencyMaxMs", r->lat_max);
    }
    if (r->has_arena)
        put_int(&w, n, FLEET_NS "measuredArenaBytes", (long long)r->arena_bytes);
    if (r->has_energy)
        put_double(&w, n, FLEET_NS "energyMicrojoules", r->energy_uj);
    if (r->has_accuracy)
        put_double(&w, n, FLEET_NS "accuracy", r->accuracy);
    put_time(&w, n, FLEET_NS "startedAt", r->started_ms);
    put_time(&w, n, FLEET_NS "measuredAt", r->finished_ms);
    put_time(&w, n, SOSA "resultTime", r->finished_ms);
    put_time(&w, n, FLEET_NS "receivedAt", received_ms);
    if (r->error)
        put_str(&w, n, FLEET_NS "errorMessage", r->error);
    if (r->job)
        put_iri(&w, n, FLEET_NS "job", job.data);
    put_str(&w, n, FLEET_NS "document", text);
out:
    free(text);
    fleet_buf_free(&graph);
    fleet_buf_free(&node);
    fleet_buf_free(&job);
    return w.rc;
}

int fleet_bench_result_stored(struct fleet_store *st, const char *agent_id, const char *result_id)
{
    struct fleet_buf graph = FLEET_BUF_INIT, node = FLEET_BUF_INIT;
    fleet_bench_graph_iri(agent_id, &graph);
    fleet_bench_result_iri(agent_id, result_id, &node);
    char *v = graph.oom || node.oom
                  ? NULL
                  : fleet_store_literal(st, graph.data, node.data, FLEET_NS "resultId");
    fleet_buf_free(&graph);
    fleet_buf_free(&node);
    int found = v != NULL;
    free(v);
    return found;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t jtime(const json_t *o, const char *k, int *ok)
{
    /* The documents hold what fleet_bench_time wrote. */
    const char *s = jstr(o, k);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    unsigned ms = 0;
    int n = 0;
    *ok = s &&
          sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) == 7 &&
          s[n] == '\0';
    if (!*ok)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Starts the record of id in a graph of its own (graph_base + id, about the node iri_base + id):
 * fills graph and node, clears the graph in txn and sets up w to write into it. Returns w->rc:
 * FLEET_ERR_NOMEM if the IRIs could not be built. */
static enum fleet_err record_start(struct fleet_txn *txn, const char *graph_base,
                                   const char *iri_base, const char *id, struct fleet_buf *graph,
                                   struct fleet_buf *node, struct writer *w)
{
    fleet_buf_puts(graph, graph_base);
    pct_encode(graph, id);
    fleet_buf_puts(node, iri_base);
    pct_encode(node, id);
    *w = (struct writer){txn, graph->data, FLEET_OK};
    if (graph->oom || node->oom)
        return w->rc = FLEET_ERR_NOMEM;
    struct fleet_term g = {FLEET_TERM_IRI, graph->data, NULL, NULL};
    return w->rc = fleet_txn_clear_graph(txn, &g);
}

enum fleet_err fleet_bench_agent_txn(const json_t *state, struct fleet_txn *txn)
{
    const char *id = jstr(state, "id"), *url = jstr(state, "td_url");
    if (!id || !url)
        return FLEET_ERR_INVAL;
    struct fleet_buf graph = FLEET_BUF_INIT, node = FLEET_BUF_INIT;
    struct writer w;
    char *text = json_dumps(state, JSON_COMPACT);
    if (record_start(txn, FLEET_AGENT_GRAPH_BASE, FLEET_AGENT_IRI_BASE, id, &graph, &node, &w) ==
            FLEET_ERR_NOMEM ||
        !text) {
        w.rc = FLEET_ERR_NOMEM;
        goto out;
    }
    const char *n = node.data;
    int ok;
    put_iri(&w, n, RDF "type", FLEET_NS "Agent");
    put_str(&w, n, SCHEMA "identifier", id);
    put(&w, n, FLEET_NS "tdUrl", FLEET_TERM_LITERAL, url, XSD "anyURI");
    put_str(&w, n, SCHEMA "name", jstr(state, "title"));
    put_double(&w, n, FLEET_NS "pollInterval",
               json_number_value(json_object_get(state, "interval_s")));
    put_bool(&w, n, FLEET_NS "configured", json_is_true(json_object_get(state, "configured")));
    int64_t reg = jtime(state, "registered", &ok);
    if (ok)
        put_time(&w, n, FLEET_NS "registeredAt", reg);
    put_str(&w, n, FLEET_NS "cursor", jstr(state, "cursor"));
    put_int(&w, n, FLEET_NS "resultsReceived",
            (long long)json_integer_value(json_object_get(state, "results_received")));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(state, "devices"), i, e)
        put_iri(&w, n, FLEET_NS "fronts", json_string_value(e));
    put_str(&w, n, FLEET_NS "document", text);
out:
    free(text);
    fleet_buf_free(&graph);
    fleet_buf_free(&node);
    return w.rc;
}

enum fleet_err fleet_bench_agent_delete_txn(const char *agent_id, struct fleet_txn *txn)
{
    struct fleet_buf graph = FLEET_BUF_INIT;
    fleet_buf_puts(&graph, FLEET_AGENT_GRAPH_BASE);
    pct_encode(&graph, agent_id);
    enum fleet_err rc = FLEET_ERR_NOMEM;
    if (!graph.oom) {
        struct fleet_term g = {FLEET_TERM_IRI, graph.data, NULL, NULL};
        rc = fleet_txn_clear_graph(txn, &g);
    }
    fleet_buf_free(&graph);
    return rc;
}

enum fleet_err fleet_bench_job_txn(const json_t *job, struct fleet_txn *txn)
{
    const char *id = jstr(job, "id");
    if (!id)
        return FLEET_ERR_INVAL;
    struct fleet_buf graph = FLEET_BUF_INIT, node = FLEET_BUF_INIT, item = FLEET_BUF_INIT;
    struct writer w;
    char *text = json_dumps(job, JSON_COMPACT);
    if (record_start(txn, FLEET_JOB_GRAPH_BASE, FLEET_JOB_IRI_BASE, id, &graph, &node, &w) ==
            FLEET_ERR_NOMEM ||
        !text) {
        w.rc = FLEET_ERR_NOMEM;
        goto out;
    }
    const char *n = node.data;
    int ok;
    put_iri(&w, n, RDF "type", FLEET_NS "BenchmarkJob");
    put_str(&w, n, SCHEMA "identifier", id);
    put_str(&w, n, FLEET_NS "modelId", jstr(job, "model"));
    put_str(&w, n, FLEET_NS "modelSha256", jstr(job, "model_sha256"));
    put_int(&w, n, FLEET_NS "requestedRuns",
            (long long)json_integer_value(json_object_get(job, "runs")));
    int64_t created = jtime(job, "created", &ok);
    if (ok)
        put_time(&w, n, FLEET_NS "createdAt", created);
    put_str(&w, n, FLEET_NS "createdBy", jstr(job, "created_by"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(job, "items"), i, e)
    {
        fleet_buf_reset(&item);
        fleet_buf_printf(&item, "%s#item-%zu", n, i);
        if (item.oom) {
            w.rc = FLEET_ERR_NOMEM;
            break;
        }
        put_iri(&w, n, FLEET_NS "jobItem", item.data);
        put_iri(&w, item.data, RDF "type", FLEET_NS "BenchmarkJobItem");
        put_iri(&w, item.data, FLEET_NS "device", jstr(e, "device"));
        put_str(&w, item.data, FLEET_NS "assignedAgent", jstr(e, "agent"));
        put_str(&w, item.data, FLEET_NS "jobState", jstr(e, "state"));
        put_int(&w, item.data, FLEET_NS "attempts",
                (long long)json_integer_value(json_object_get(e, "attempts")));
        put_str(&w, item.data, FLEET_NS "errorMessage", jstr(e, "error"));
        put_str(&w, item.data, FLEET_NS "resultId", jstr(e, "result"));
        int64_t t = jtime(e, "updated", &ok);
        if (ok)
            put_time(&w, item.data, FLEET_NS "updatedAt", t);
    }
    put_str(&w, n, FLEET_NS "document", text);
out:
    free(text);
    fleet_buf_free(&graph);
    fleet_buf_free(&node);
    fleet_buf_free(&item);
    return w.rc;
}

/* ---- reading back ---------------------------------------------------------------------------- */

struct collect {
    const char *base;
    char **docs;
    size_t n, cap;
    int oom;
};

static int on_document(void *ctx, const struct fleet_term q[4])
{
    struct collect *c = ctx;
    size_t bl = strlen(c->base);
    /* The callback runs under the store lock: copy now, parse later. */
    if (q[3].kind != FLEET_TERM_IRI || strncmp(q[3].value, c->base, bl) != 0 ||
        q[2].kind != FLEET_TERM_LITERAL)
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        char **v = realloc(c->docs, cap * sizeof(*v));
        if (!v) {
            c->oom = 1;
            return 1;
        }
        c->docs = v;
        c->cap = cap;
    }
    if (!(c->docs[c->n] = strdup(q[2].value))) {
        c->oom = 1;
        return 1;
    }
    c->n++;
    return 0;
}

long fleet_bench_load(struct fleet_store *st, const char *graph_base, fleet_bench_doc_fn fn,
                      void *ctx)
{
    struct collect c = {graph_base, NULL, 0, 0, 0};
    long calls = -1;
    if (fleet_store_each(st, FLEET_NS "document", on_document, &c) < 0 || c.oom)
        goto out;
    calls = 0;
    for (size_t i = 0; i < c.n; i++) {
        json_error_t jerr;
        json_t *doc = json_loads(c.docs[i], 0, &jerr);
        if (!json_is_object(doc)) {
            fleet_log(FLEET_LOG_WARNING, "a stored document under %s does not parse: %s",
                      graph_base, jerr.text);
            json_decref(doc);
            continue;
        }
        fn(ctx, doc);
        json_decref(doc);
        calls++;
    }
out:
    for (size_t i = 0; i < c.n; i++)
        free(c.docs[i]);
    free(c.docs);
    return calls;
}
