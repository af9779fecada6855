/* SPDX-License-Identifier: MIT */
/* GET /metrics: the Prometheus text exposition (scope read). The request counters come from
 * metrics.c; the store's figures are read at scrape time, so a scrape costs one pass over the
 * graph list (not over the triples) under the store lock.
 *
 * Triples are counted by graph *kind* (ontology, model, thing, deployment, default, other), not
 * by graph: every model, Thing and deployment has its own named graph, so a label per graph
 * would be one series per model and board, thousands on a real fleet, growing without bound
 * and churning as boards come and go, which is what Prometheus asks exporters not to do. The
 * per-graph figures are one SPARQL query away (SELECT ?g (COUNT(*) AS ?n) ... GROUP BY ?g). */
#include <dirent.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "deploy.h"
#include "metrics.h"
#include "model_graph.h"
#include "routes.h"
#include "sandbox.h"
#include "things.h"

enum graph_kind {
    KIND_ONTOLOGY,
    KIND_MODEL,
    KIND_THING,
    KIND_DEPLOYMENT,
    KIND_DEFAULT,
    KIND_OTHER,
    NKINDS
};
static const char *const kind_names[NKINDS] = {"ontology",   "model",   "thing",
                                               "deployment", "default", "other"};

struct kind_count {
    uint64_t triples[NKINDS];
    uint64_t graphs[NKINDS];
};

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void count_graph(void *ctx, const char *graph, uint64_t quads)
{
    struct kind_count *k = ctx;
    enum graph_kind kind;
    if (!graph)
        kind = KIND_DEFAULT;
    else if (strcmp(graph, FLEET_ONTOLOGY_GRAPH) == 0)
        kind = KIND_ONTOLOGY;
    else if (has_prefix(graph, FLEET_MODEL_GRAPH_BASE))
        kind = KIND_MODEL;
    else if (has_prefix(graph, FLEET_THING_GRAPH_BASE))
        kind = KIND_THING;
    else if (has_prefix(graph, FLEET_DEPLOYMENT_GRAPH_BASE))
        kind = KIND_DEPLOYMENT;
    else
        kind = KIND_OTHER;
    k->triples[kind] += quads;
    k->graphs[kind]++;
}

/* Resident set size from /proc/self/statm, or -1 where there is no /proc. */
static double resident_bytes(void)
{
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return -1;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) : -1;
}

static double open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    double n = 0;
    if (!dir)
        return -1;
    for (struct dirent *e; (e = readdir(dir));)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n - 1; /* the directory's own descriptor */
}

static void gauge(struct fleet_buf *out, const char *name, const char *help, double value)
{
    fleet_metrics_family(out, name, "gauge", help);
    fleet_metrics_sample(out, name, NULL, 0, value);
}

static void counter(struct fleet_buf *out, const char *name, const char *help,
                    unsigned long long value)
{
    fleet_metrics_family(out, name, "counter", help);
    fleet_metrics_sample_u64(out, name, NULL, 0, value);
}

/* The response cache (lib/cache.h), when cache_bytes is not 0. */
static void write_cache(struct fleet_buf *out, struct fleet_cache *cache)
{
    struct fleet_cache_stats cs;
    fleet_cache_stats(cache, &cs);
    fleet_metrics_family(out, "tinyfleet_cache_lookups_total", "counter",
                         "response cache lookups by result (stale: an entry computed at an older "
                         "store generation, not served)");
    struct fleet_metric_label hit[] = {{"result", "hit"}}, miss[] = {{"result", "miss"}},
                              stale[] = {{"result", "stale"}};
    fleet_metrics_sample_u64(out, "tinyfleet_cache_lookups_total", hit, 1, cs.hits);
    fleet_metrics_sample_u64(out, "tinyfleet_cache_lookups_total", miss, 1, cs.misses);
    fleet_metrics_sample_u64(out, "tinyfleet_cache_lookups_total", stale, 1, cs.stale);
    counter(out, "tinyfleet_cache_inserts_total", "answers stored in the response cache",
            cs.inserts);
    counter(out, "tinyfleet_cache_evictions_total", "answers evicted to stay within cache_bytes",
            cs.evictions);
    gauge(out, "tinyfleet_cache_entries", "answers in the response cache", (double)cs.entries);
    gauge(out, "tinyfleet_cache_bytes", "bytes the response cache holds", (double)cs.bytes);
    gauge(out, "tinyfleet_cache_max_bytes", "the response cache's budget (cache_bytes)",
          (double)cs.max_bytes);
}

int fleet_route_metrics(struct fleet_req *req)
{
    struct fleet_daemon *d = req->d;
    struct fleet_buf out = FLEET_BUF_INIT;
    const char *names[FLEET_METRICS_MAX_ROUTES];
    size_t nroutes =
        fleet_nroutes < FLEET_METRICS_MAX_ROUTES ? fleet_nroutes : FLEET_METRICS_MAX_ROUTES;
    struct fleet_store_stats ss;
    struct kind_count kc;

    for (size_t i = 0; i < nroutes; i++)
        names[i] = fleet_routes[i].path;
    memset(&kc, 0, sizeof(kc));
    fleet_store_stats(d->store, &ss);
    fleet_store_each_graph(d->store, count_graph, &kc);
    pthread_rwlock_rdlock(&d->cfg_lock);
    size_t ntokens = fleet_tokens_count(d->tokens);
    pthread_rwlock_unlock(&d->cfg_lock);

    fleet_metrics_family(&out, "tinyfleet_build_info", "gauge", "the running version, always 1");
    struct fleet_metric_label ver[] = {{"version", PACKAGE_VERSION}};
    fleet_metrics_sample(&out, "tinyfleet_build_info", ver, 1, 1);
    fleet_metrics_write_counters(&out, names, nroutes);
    double rss = resident_bytes(), fds = open_fds();
    if (rss >= 0)
        gauge(&out, "process_resident_memory_bytes", "resident memory size in bytes", rss);
    if (fds >= 0)
        gauge(&out, "process_open_fds", "number of open file descriptors", fds);

    fleet_metrics_family(&out, "tinyfleet_store_triples", "gauge",
                         "triples in the store by kind of named graph (ontology, model, thing, "
                         "deployment, default: the unnamed graph, other: graphs written through "
                         "/data or SPARQL Update)");
    for (int k = 0; k < NKINDS; k++) {
        struct fleet_metric_label l[] = {{"kind", kind_names[k]}};
        fleet_metrics_sample_u64(&out, "tinyfleet_store_triples", l, 1, kc.triples[k]);
    }
    fleet_metrics_family(&out, "tinyfleet_store_graphs", "gauge",
                         "named graphs holding triples, by kind (default: 1 if the unnamed graph "
                         "holds any)");
    for (int k = 0; k < NKINDS; k++) {
        struct fleet_metric_label l[] = {{"kind", kind_names[k]}};
        fleet_metrics_sample_u64(&out, "tinyfleet_store_graphs", l, 1, kc.graphs[k]);
    }
    fleet_metrics_family(&out, "tinyfleet_sparql_queries_total", "counter",
                         "SPARQL queries evaluated, by engine (native: one basic graph pattern "
                         "with FILTERs, lib/bgp.h, in a query child; native_inline: the same, "
                         "small enough to answer without one; rasqal: everything else)");
    struct fleet_metric_label en[] = {{"engine", "native"}}, er[] = {{"engine", "rasqal"}},
                              ei[] = {{"engine", "native_inline"}};
    fleet_metrics_sample_u64(&out, "tinyfleet_sparql_queries_total", ei, 1, ss.queries_inline);
    fleet_metrics_sample_u64(&out, "tinyfleet_sparql_queries_total", en, 1, ss.queries_native);
    fleet_metrics_sample_u64(&out, "tinyfleet_sparql_queries_total", er, 1, ss.queries_rasqal);
    fleet_metrics_family(&out, "tinyfleet_sparql_parse_checks_total", "counter",
                         "query texts checked by the parse helper before the daemon parses them "
                         "(lib/sparql_check.h), by result: remembered (parsed before, not sent), "
                         "accepted, refused");
    struct fleet_metric_label pr[] = {{"result", "remembered"}}, pa[] = {{"result", "accepted"}},
                              pf[] = {{"result", "refused"}};
    fleet_metrics_sample_u64(&out, "tinyfleet_sparql_parse_checks_total", pr, 1,
                             ss.parse_remembered);
    fleet_metrics_sample_u64(&out, "tinyfleet_sparql_parse_checks_total", pa, 1,
                             ss.parse_checks - ss.parse_remembered - ss.parse_refused);
    fleet_metrics_sample_u64(&out, "tinyfleet_sparql_parse_checks_total", pf, 1,
                             ss.parse_refused);
    fleet_metrics_family(&out, "tinyfleet_sparql_parse_helpers_total", "counter",
                         "parse helper processes started (one is replaced after 30 s or 1,000 "
                         "refusals)");
    fleet_metrics_sample_u64(&out, "tinyfleet_sparql_parse_helpers_total", NULL, 0,
                             ss.parse_helpers);
    gauge(&out, "tinyfleet_store_journal_bytes",
          "size of the write-ahead journal since the last snapshot", (double)ss.journal_bytes);
    gauge(&out, "tinyfleet_store_snapshot_bytes", "size of the last snapshot",
          (double)ss.snapshot_bytes);
    gauge(&out, "tinyfleet_store_memory_bytes", "heap used by the in-memory quad store",
          (double)ss.memory_bytes);
    gauge(&out, "tinyfleet_store_generation",
          "the store's write generation (moves with every committed write)", (double)ss.generation);
    /* Each model is one graph (model_graph.h), so this needs no query. */
    gauge(&out, "tinyfleet_models", "models in the registry", (double)kc.graphs[KIND_MODEL]);
    gauge(&out, "tinyfleet_things", "Thing Descriptions in the directory",
          d->things ? (double)fleet_things_count(d->things) : 0);
    counter(&out, "tinyfleet_query_timeouts_total",
            "SPARQL queries, updates and graph reads stopped at query_timeout",
            fleet_sandbox_timeouts());
    counter(&out, "tinyfleet_query_crashes_total",
            "query or update workers that died of a signal (the daemon answered 500 and went on)",
            fleet_sandbox_crashes());
    gauge(&out, "tinyfleet_tokens", "bearer tokens configured (token_file)", (double)ntokens);
    if (d->cache)
        write_cache(&out, d->cache);
    fleet_metrics_write_sources(&out);

    if (out.oom) {
        fleet_buf_free(&out);
        return fleet_problem(req, 503, "out-of-memory", "cannot build the metrics page", NULL);
    }
    size_t len;
    char *body = fleet_buf_steal(&out, &len);
    const char *h[] = {MHD_HTTP_HEADER_CACHE_CONTROL, "no-store", NULL};
    return fleet_respond_steal(req, 200, FLEET_METRICS_CONTENT_TYPE, body, len, h);
}
