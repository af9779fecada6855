/* SPDX-License-Identifier: MIT */
/* Device agents and benchmark results over HTTP (daemon/poller.h does the polling):
 *   POST   /api/v1/agents              {"td_url", "interval_s"} -> 201, the agent's health
 *   GET    /api/v1/agents              {"total", "items"}: every agent's health
 *   GET    /api/v1/agents/{id}         one agent's health
 *   DELETE /api/v1/agents/{id}         204: polling stops, the results stay
 *   GET    /api/v1/benchmarks?model=&model_sha256=&device=&agent=&since=&unmatched=&limit&offset
 *   POST   /api/v1/benchmarks/jobs     {"model": ID, "devices": [TD ids] | "compatible",
 *                                       "runs": N} -> 201, the job
 *   GET    /api/v1/benchmarks/jobs[?limit&offset], /api/v1/benchmarks/jobs/{id}
 * Also the daemon's start, reload and stop of the poller (routes.h). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"
#include "agent_proto.h"
#include "bench_results.h"
#include "log.h"
#include "match.h"
#include "model_graph.h"
#include "poller.h"
#include "routes.h"
#include "sparql_text.h"
#include "things.h"

#define AGENTS "/api/v1/agents"
#define BENCH "/api/v1/benchmarks"
#define JOBS "/api/v1/benchmarks/jobs"
#define MAX_LIMIT 1000
#define DEFAULT_LIMIT 100
#define MAX_JOB_DEVICES 1000
#define DEFAULT_RUNS 100

/* ---- the poller's life in the daemon --------------------------------------------------------- */

static void options_of(const struct fleet_config *cfg, unsigned port,
                       struct fleet_poller_options *o)
{
    memset(o, 0, sizeof(*o));
    o->interval_ms = cfg->agent_interval_ms;
    o->timeout_ms = cfg->agent_timeout_ms;
    o->max_reply_bytes = cfg->agent_max_reply_bytes;
    o->max_backoff_ms = cfg->agent_max_backoff_ms;
    o->concurrency = cfg->agent_concurrency;
    o->page_size = cfg->agent_page_size;
    o->job_timeout_ms = cfg->job_timeout_ms;
    if (cfg->public_url[0]) {
        snprintf(o->public_url, sizeof(o->public_url), "%s", cfg->public_url);
    } else {
        /* The listen address as agents would dial it; a wildcard address needs public_url. */
        char host[256];
        unsigned ignored;
        if (fleet_config_listen(cfg, host, sizeof(host), &ignored) != 0)
            snprintf(host, sizeof(host), "127.0.0.1");
        snprintf(o->public_url, sizeof(o->public_url),
                 strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u", host, port);
    }
    size_t n = strlen(o->public_url);
    while (n > 0 && o->public_url[n - 1] == '/')
        o->public_url[--n] = '\0';
}

int fleet_agents_init(struct fleet_daemon *d, char *err, size_t errlen)
{
    struct fleet_poller_options o;
    options_of(&d->cfg, 0, &o);
    if (fleet_poller_new(d->store, &o, &d->poller, err, errlen) != FLEET_OK)
        return -1;
    return fleet_poller_load_agents_file(d->poller, d->cfg.agents_file, err, errlen);
}

int fleet_agents_start(struct fleet_daemon *d, char *err, size_t errlen)
{
    struct fleet_poller_options o;
    options_of(&d->cfg, d->port, &o);
    fleet_poller_configure(d->poller, &o);
    return fleet_poller_start(d->poller, err, errlen) == FLEET_OK ? 0 : -1;
}

void fleet_agents_reload(struct fleet_daemon *d)
{
    struct fleet_poller_options o;
    char agents_file[FLEET_PATH_MAX], err[1024];
    pthread_rwlock_rdlock(&d->cfg_lock);
    options_of(&d->cfg, d->port, &o);
    snprintf(agents_file, sizeof(agents_file), "%s", d->cfg.agents_file);
    pthread_rwlock_unlock(&d->cfg_lock);
    fleet_poller_configure(d->poller, &o);
    if (fleet_poller_load_agents_file(d->poller, agents_file, err, sizeof(err)) != 0)
        fleet_log(FLEET_LOG_ERR, "reload: agents_file: %s; the agents stay as they were", err);
}

void fleet_agents_stop(struct fleet_daemon *d)
{
    if (d->poller)
        fleet_poller_stop(d->poller);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static int respond_json(struct fleet_req *req, int status, json_t *j, const char *const *headers)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(j);
    if (!text)
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    return fleet_respond_steal(req, status, "application/json", text, strlen(text), headers);
}

static int is_get(const struct fleet_req *req)
{
    return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

static int hex_id(const char *s)
{
    return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

/* The JSON object body of a POST, or NULL with a problem queued in *r. */
static json_t *json_body(struct fleet_req *req, int *r)
{
    json_error_t jerr;
    const char *ct = fleet_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
        *r = fleet_problem(req, 415, "unsupported-media-type", "send application/json",
                           "Content-Type");
        return NULL;
    }
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "the body must be a JSON object: %s",
                 body ? "not an object" : jerr.text);
        json_decref(body);
        *r = fleet_problem(req, 400, "invalid-body", msg, "body");
        return NULL;
    }
    return body;
}

/* -1 with a 400 queued if body has a member not in known (NULL-terminated). */
static int only_members(struct fleet_req *req, json_t *body, const char *const *known, int *r)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int ok = 0;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(key, known[i]) == 0;
        if (!ok) {
            struct fleet_buf msg = FLEET_BUF_INIT;
            fleet_buf_printf(&msg, "unknown member \"%.200s\" (known:", key);
            for (size_t i = 0; known[i]; i++)
                fleet_buf_printf(&msg, "%s %s", i ? "," : "", known[i]);
            fleet_buf_puts(&msg, ")");
            *r = fleet_problem(req, 400, "invalid-body", msg.data ? msg.data : "unknown member",
                               key[0] ? key : "body");
            fleet_buf_free(&msg);
            return -1;
        }
    }
    return 0;
}

/* limit and offset; -1 with a 400 queued. */
static int paging(struct fleet_req *req, size_t *limit, size_t *offset, int *r)
{
    const char *ls = fleet_req_arg(req, "limit"), *os = fleet_req_arg(req, "offset");
    char *end;
    *limit = DEFAULT_LIMIT;
    *offset = 0;
    if (ls) {
        unsigned long long v = strtoull(ls, &end, 10);
        if (end == ls || *end || *ls == '-' || v < 1 || v > MAX_LIMIT) {
            *r = fleet_problem(req, 400, "bad-parameter", "limit must be an integer from 1 to 1000",
                               "limit");
            return -1;
        }
        *limit = (size_t)v;
    }
    if (os) {
        unsigned long long v = strtoull(os, &end, 10);
        if (end == os || *end || *os == '-' || v > (1ULL << 40)) {
            *r = fleet_problem(req, 400, "bad-parameter", "offset must be an integer >= 0",
                               "offset");
            return -1;
        }
        *offset = (size_t)v;
    }
    return 0;
}

/* The sha256 of model id (new), or NULL. */
static char *model_sha(struct fleet_req *req, const char *id)
{
    char graph[256], iri[256];
    if (!hex_id(id))
        return NULL;
    fleet_model_graph_iri(id, graph, sizeof(graph));
    fleet_model_iri(id, iri, sizeof(iri));
    return fleet_store_literal(req->d->store, graph, iri, FLEET_NS "sha256");
}

/* ---- /api/v1/agents -------------------------------------------------------------------------- */

static int register_agent(struct fleet_req *req)
{
    struct fleet_daemon *d = req->d;
    int r;
    json_t *body = json_body(req, &r);
    if (!body)
        return r;
    static const char *const known[] = {"td_url", "interval_s", NULL};
    if (only_members(req, body, known, &r) != 0) {
        json_decref(body);
        return r;
    }
    const char *url = json_string_value(json_object_get(body, "td_url"));
    json_t *iv = json_object_get(body, "interval_s");
    long interval_ms = 0;
    if (!url || !fleet_agent_url_ok(url)) {
        json_decref(body);
        return fleet_problem(req, 400, "invalid-body",
                             "td_url must be the http or https URL of the agent's Thing "
                             "Description",
                             "td_url");
    }
    if (iv && !json_is_null(iv)) {
        double s = json_is_number(iv) ? json_number_value(iv) : -1;
        if (!isfinite(s) || s < 0.1 || s > 86400) {
            json_decref(body);
            return fleet_problem(req, 400, "invalid-body",
                                 "interval_s must be a number of seconds from 0.1 to 86400",
                                 "interval_s");
        }
        interval_ms = (long)(s * 1000);
    }
    char id[17], loc[64];
    fleet_agent_id(url, id);
    snprintf(loc, sizeof(loc), AGENTS "/%s", id);
    json_t *existing = fleet_poller_agent_json(d->poller, id);
    if (existing) {
        json_decref(existing);
        json_decref(body);
        char extra[128];
        snprintf(extra, sizeof(extra), "\"id\":\"%s\",\"location\":\"%s\"", id, loc);
        return fleet_problem_ext(req, 409, "agent-exists",
                                 "an agent with this td_url is "
                                 "registered already",
                                 "td_url", extra);
    }
    /* The TD is read now, so a wrong URL or a TD without the needed forms is refused here and
     * not found out later in the agent's health. */
    pthread_rwlock_rdlock(&d->cfg_lock);
    long timeout = d->cfg.agent_timeout_ms;
    uint64_t max = d->cfg.agent_max_reply_bytes;
    pthread_rwlock_unlock(&d->cfg_lock);
    struct fleet_agent_request areq = {
        "GET", url, "application/td+json, application/json", NULL, NULL, 0, timeout, max, NULL};
    struct fleet_agent_response resp;
    fleet_agent_fetch(&areq, &resp);
    if (resp.fault != FLEET_AGENT_OK || resp.status < 200 || resp.status > 299) {
        char msg[512];
        if (resp.fault != FLEET_AGENT_OK)
            snprintf(msg, sizeof(msg), "cannot read the agent's Thing Description: %s",
                     resp.message);
        else
            snprintf(msg, sizeof(msg), "the agent answered HTTP %ld for its Thing Description",
                     resp.status);
        fleet_buf_free(&resp.body);
        json_decref(body);
        return fleet_problem(req, resp.fault == FLEET_AGENT_TIMEOUT ? 504 : 502,
                             "agent-unreachable", msg, "td_url");
    }
    struct fleet_agent_td td = {0};
    char field[256], err[512];
    enum fleet_err rc = fleet_agent_td_parse(resp.body.data, resp.body.len, url, &td, field,
                                             sizeof(field), err, sizeof(err));
    fleet_buf_free(&resp.body);
    if (rc != FLEET_OK) {
        json_decref(body);
        if (rc == FLEET_ERR_NOMEM)
            return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
        char full[300];
        snprintf(full, sizeof(full), "td%s%s", field[0] ? "." : "", field);
        return fleet_problem(req, 422, "invalid-agent-td", err, full);
    }
    rc = fleet_poller_add(d->poller, url, interval_ms, &td, id);
    fleet_agent_td_clear(&td);
    json_decref(body);
    if (rc == FLEET_ERR_EXISTS) {
        char extra[128];
        snprintf(extra, sizeof(extra), "\"id\":\"%s\",\"location\":\"%s\"", id, loc);
        return fleet_problem_ext(req, 409, "agent-exists",
                                 "an agent with this td_url is registered already", "td_url",
                                 extra);
    }
    if (rc != FLEET_OK)
        return fleet_problem(req, fleet_http_status(rc), "store-failed", fleet_strerror(rc), NULL);
    const char *h[] = {MHD_HTTP_HEADER_LOCATION, loc, NULL};
    return respond_json(req, 201, fleet_poller_agent_json(d->poller, id), h);
}

int fleet_route_agents(struct fleet_req *req)
{
    const char *rest = req->path + strlen(AGENTS);
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        req->allow = "GET, HEAD, POST, OPTIONS";
        if (is_get(req)) {
            json_t *items = fleet_poller_agents_json(req->d->poller), *out = json_object();
            json_object_set_new(out, "total", json_integer((json_int_t)json_array_size(items)));
            json_object_set_new(out, "items", items);
            return respond_json(req, 200, out, NULL);
        }
        if (strcmp(req->method, "POST") == 0)
            return register_agent(req);
        return fleet_problem(req, 405, "method-not-allowed", "use GET or POST here", NULL);
    }
    if (*rest != '/')
        return fleet_problem(req, 404, "not-found", "no such resource", NULL);
    const char *id = rest + 1;
    if (!hex_id(id))
        return fleet_problem(req, 404, "no-such-agent", "an agent id is 16 hex digits", "id");
    req->allow = "GET, HEAD, DELETE, OPTIONS";
    if (is_get(req)) {
        json_t *j = fleet_poller_agent_json(req->d->poller, id);
        if (!j)
            return fleet_problem(req, 404, "no-such-agent", "no agent with this id", "id");
        return respond_json(req, 200, j, NULL);
    }
    if (strcmp(req->method, "DELETE") == 0) {
        enum fleet_err rc = fleet_poller_remove(req->d->poller, id);
        if (rc == FLEET_ERR_NOTFOUND)
            return fleet_problem(req, 404, "no-such-agent", "no agent with this id", "id");
        if (rc == FLEET_ERR_FORBIDDEN)
            return fleet_problem(req, 409, "agent-configured",
                                 "this agent is listed in agents_file; remove it there and send "
                                 "SIGHUP",
                                 "id");
        if (rc != FLEET_OK)
            return fleet_problem(req, fleet_http_status(rc), "store-failed", fleet_strerror(rc),
                                 NULL);
        return fleet_respond(req, 204, NULL, NULL, 0, NULL);
    }
    return fleet_problem(req, 405, "method-not-allowed", "use GET or DELETE here", NULL);
}

/* ---- /api/v1/benchmarks ---------------------------------------------------------------------- */

static int streq_or_null(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static const char *bval(json_t *row, const char *var)
{
    return json_string_value(json_object_get(json_object_get(row, var), "value"));
}

static int list_benchmarks(struct fleet_req *req)
{
    struct fleet_daemon *d = req->d;
    size_t limit, offset;
    int r;
    if (paging(req, &limit, &offset, &r) != 0)
        return r;
    const char *model = fleet_req_arg(req, "model"), *sha_arg = fleet_req_arg(req, "model_sha256");
    const char *device = fleet_req_arg(req, "device"), *agent = fleet_req_arg(req, "agent");
    const char *since_s = fleet_req_arg(req, "since"), *unm = fleet_req_arg(req, "unmatched");
    int64_t since = 0;
    int unmatched = -1;
    char *sha = NULL;
    if (since_s && fleet_rfc3339_parse(since_s, &since) != 0)
        return fleet_problem(req, 400, "bad-parameter",
                             "since must be an RFC 3339 date-time with a time zone", "since");
    if (unm) {
        if (strcmp(unm, "true") != 0 && strcmp(unm, "false") != 0)
            return fleet_problem(req, 400, "bad-parameter", "unmatched must be true or false",
                                 "unmatched");
        unmatched = strcmp(unm, "true") == 0;
    }
    if (agent && !hex_id(agent))
        return fleet_problem(req, 400, "bad-parameter", "agent must be an agent id (16 hex digits)",
                             "agent");
    if (device && (strlen(device) > FLEET_AGENT_MAX_URL || !strchr(device, ':')))
        return fleet_problem(req, 400, "bad-parameter", "device must be a board's TD id (an IRI)",
                             "device");
    if (sha_arg) {
        if (strlen(sha_arg) != 64 || strspn(sha_arg, "0123456789abcdef") != 64)
            return fleet_problem(req, 400, "bad-parameter",
                                 "model_sha256 must be 64 lower-case hex digits", "model_sha256");
        sha = strdup(sha_arg);
    } else if (model) {
        if (!(sha = model_sha(req, model)))
            return fleet_problem(req, 400, "no-such-model", "no model with this id", "model");
    }
    if ((sha_arg || model) && !sha)
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);

    static const char *const names[] = {"anyAgent", "agent",  "anyDevice",
                                        "device",   "anySha", "sha"};
    const char *xbool = "http://www.w3.org/2001/XMLSchema#boolean";
    struct fleet_term vals[6] = {
        {FLEET_TERM_LITERAL, agent ? "false" : "true", NULL, xbool},
        {FLEET_TERM_LITERAL, agent ? agent : "", NULL, NULL},
        {FLEET_TERM_LITERAL, device ? "false" : "true", NULL, xbool},
        {FLEET_TERM_IRI, device ? device : "urn:tinyfleet:none", NULL, NULL},
        {FLEET_TERM_LITERAL, sha ? "false" : "true", NULL, xbool},
        {FLEET_TERM_LITERAL, sha ? sha : "", NULL, NULL}};
    struct fleet_buf query = FLEET_BUF_INIT;
    char err[512];
    enum fleet_err rc = fleet_sparql_bind(fleet_templates_get(d->templates, "benchmarks"), names,
                                          vals, 6, &query, err, sizeof(err));
    free(sha);
    if (rc != FLEET_OK) {
        fleet_buf_free(&query);
        return fleet_problem(req, 400, "bad-parameter", err, "device");
    }
    struct fleet_query fq = {query.data,
                             NULL,
                             NULL,
                             0,
                             NULL,
                             0,
                             "application/sparql-results+json",
                             req->query_timeout_ms,
                             0,
                             0};
    struct fleet_answer ans;
    memset(&ans, 0, sizeof(ans));
    rc = fleet_store_query(d->store, &fq, &ans);
    fleet_buf_free(&query);
    if (rc != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "benchmarks query: %s", ans.message);
        fleet_buf_free(&ans.body);
        return fleet_problem(req, fleet_http_status(rc), "query-failed", ans.message, NULL);
    }
    json_t *res = json_loadb(ans.body.data ? ans.body.data : "", ans.body.len, 0, NULL);
    fleet_buf_free(&ans.body);
    json_t *rows = json_object_get(json_object_get(res, "results"), "bindings");
    json_t *out = json_object(), *items = json_array();
    size_t total = 0, i = 0, nrows = json_array_size(rows);
    while (i < nrows) {
        /* The rows of one result are adjacent (ordered by result, then model id). */
        const char *iri = bval(json_array_get(rows, i), "result");
        size_t j = i;
        json_t *models = json_array();
        int known_board = 0;
        for (; j < nrows && iri && streq_or_null(bval(json_array_get(rows, j), "result"), iri);
             j++) {
            json_t *row = json_array_get(rows, j);
            const char *mid = bval(row, "modelId");
            if (mid &&
                (!json_array_size(models) ||
                 strcmp(json_string_value(json_array_get(models, json_array_size(models) - 1)),
                        mid) != 0))
                json_array_append_new(models, json_string(mid));
            known_board |= bval(row, "deviceTitle") || bval(row, "deviceType");
        }
        if (j == i)
            j = i + 1;
        json_t *row = json_array_get(rows, i);
        i = j;
        int64_t fin;
        if (since_s && (fleet_rfc3339_parse(bval(row, "finished"), &fin) != 0 || fin < since)) {
            json_decref(models);
            continue;
        }
        int is_unmatched = !json_array_size(models) || !known_board;
        if (unmatched >= 0 && is_unmatched != unmatched) {
            json_decref(models);
            continue;
        }
        total++;
        if (total <= offset || total > offset + limit) {
            json_decref(models);
            continue;
        }
        json_t *doc = bval(row, "doc") ? json_loads(bval(row, "doc"), 0, NULL) : NULL;
        if (!json_is_object(doc)) {
            json_decref(doc);
            json_decref(models);
            continue;
        }
        json_object_set(doc, "model",
                        json_array_size(models) ? json_array_get(models, 0) : json_null());
        json_object_set_new(doc, "models", models);
        json_object_set_new(doc, "device_registered", json_boolean(known_board));
        json_object_set_new(doc, "unmatched", json_boolean(is_unmatched));
        json_array_append_new(items, doc);
    }
    json_decref(res);
    json_object_set_new(out, "total", json_integer((json_int_t)total));
    json_object_set_new(out, "items", items);
    return respond_json(req, 200, out, NULL);
}

/* ---- /api/v1/benchmarks/jobs ----------------------------------------------------------------- */

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int create_job(struct fleet_req *req)
{
    struct fleet_daemon *d = req->d;
    int r;
    json_t *body = json_body(req, &r), *compat = NULL;
    if (!body)
        return r;
    static const char *const known[] = {"model", "devices", "runs", NULL};
    const char **devices = NULL;
    char *sha = NULL;
    size_t n = 0;
    if (only_members(req, body, known, &r) != 0)
        goto out;
    const char *model = json_string_value(json_object_get(body, "model"));
    json_t *jd = json_object_get(body, "devices"), *jr = json_object_get(body, "runs");
    long long runs = DEFAULT_RUNS;
    if (!model) {
        r = fleet_problem(req, 400, "invalid-body", "model must be a model id (a string)", "model");
        goto out;
    }
    if (jr && (!json_is_integer(jr) || json_integer_value(jr) < 1 ||
               json_integer_value(jr) > 1000000000)) {
        r = fleet_problem(req, 400, "invalid-body", "runs must be an integer from 1 to 1e9",
                          "runs");
        goto out;
    }
    if (jr)
        runs = json_integer_value(jr);
    if (!(sha = model_sha(req, model))) {
        r = fleet_problem(req, 400, "no-such-model", "no model with this id", "model");
        goto out;
    }
    int compatible = json_is_string(jd) && strcmp(json_string_value(jd), "compatible") == 0;
    if (!compatible &&
        (!json_is_array(jd) || json_array_size(jd) == 0 || json_array_size(jd) > MAX_JOB_DEVICES)) {
        r = fleet_problem(req, 400, "invalid-body",
                          "devices must be \"compatible\" or an array of 1 to 1000 board TD ids",
                          "devices");
        goto out;
    }
    if (compatible) {
        struct fleet_match_query q;
        char err[512];
        memset(&q, 0, sizeof(q));
        q.fits = FLEET_FITS_TRUE;
        enum fleet_err rc =
            fleet_match_devices_for_model(d->match, model, &q, &compat, err, sizeof(err));
        if (rc != FLEET_OK) {
            r = fleet_problem(req, fleet_http_status(rc), "match-failed", err, "model");
            goto out;
        }
        json_t *items = json_object_get(compat, "items");
        devices = calloc(json_array_size(items) + 1, sizeof(*devices));
        size_t i;
        json_t *e;
        json_array_foreach(items, i, e)
        {
            const char *dev = json_string_value(json_object_get(e, "device"));
            if (devices && dev && fleet_poller_fronted(d->poller, dev))
                devices[n++] = dev;
        }
        if (devices && n == 0) {
            r = fleet_problem(req, 422, "no-compatible-board",
                              "no board that fits the model is fronted by a registered agent",
                              "devices");
            goto out;
        }
    } else {
        devices = calloc(json_array_size(jd) + 1, sizeof(*devices));
        size_t i, fronted = 0;
        json_t *e;
        json_array_foreach(jd, i, e)
        {
            const char *dev = json_string_value(e);
            if (!dev || strlen(dev) > FLEET_AGENT_MAX_URL || !strchr(dev, ':')) {
                char field[32];
                snprintf(field, sizeof(field), "devices[%zu]", i);
                r = fleet_problem(req, 400, "invalid-body",
                                  "a board is named by its TD id (an IRI)", field);
                goto out;
            }
            if (devices)
                devices[n++] = dev;
            fronted += fleet_poller_fronted(d->poller, dev);
        }
        if (devices && fronted == 0) {
            r = fleet_problem(req, 422, "no-agent",
                              "no registered agent fronts any of these boards", "devices");
            goto out;
        }
    }
    if (!devices) {
        r = fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
        goto out;
    }
    qsort(devices, n, sizeof(*devices), strp_cmp);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (!w || strcmp(devices[w - 1], devices[i]) != 0)
            devices[w++] = devices[i];
    n = w;
    struct fleet_job_request jr_ = {model,   sha, runs,
                                    devices, n,   req->token_id[0] ? req->token_id : NULL};
    json_t *job;
    enum fleet_err rc = fleet_poller_job_create(d->poller, &jr_, &job);
    if (rc != FLEET_OK) {
        r = fleet_problem(req, fleet_http_status(rc), "store-failed", fleet_strerror(rc), NULL);
        goto out;
    }
    char loc[64];
    snprintf(loc, sizeof(loc), JOBS "/%s", json_string_value(json_object_get(job, "id")));
    const char *h[] = {MHD_HTTP_HEADER_LOCATION, loc, NULL};
    r = respond_json(req, 201, job, h);
out:
    free(devices);
    free(sha);
    json_decref(compat);
    json_decref(body);
    return r;
}

static int route_jobs(struct fleet_req *req, const char *rest)
{
    int r;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        req->allow = "GET, HEAD, POST, OPTIONS";
        if (is_get(req)) {
            size_t limit, offset;
            if (paging(req, &limit, &offset, &r) != 0)
                return r;
            return respond_json(req, 200, fleet_poller_jobs_json(req->d->poller, offset, limit),
                                NULL);
        }
        if (strcmp(req->method, "POST") == 0)
            return create_job(req);
        return fleet_problem(req, 405, "method-not-allowed", "use GET or POST here", NULL);
    }
    if (*rest != '/' || !hex_id(rest + 1))
        return fleet_problem(req, 404, "no-such-job", "a job id is 16 hex digits", "id");
    req->allow = "GET, HEAD, OPTIONS";
    if (!is_get(req))
        return fleet_problem(req, 405, "method-not-allowed", "use GET here", NULL);
    json_t *j = fleet_poller_job_json(req->d->poller, rest + 1);
    if (!j)
        return fleet_problem(req, 404, "no-such-job", "no job with this id", "id");
    return respond_json(req, 200, j, NULL);
}

int fleet_route_benchmarks(struct fleet_req *req)
{
    const char *rest = req->path + strlen(BENCH);
    if (strncmp(rest, "/jobs", 5) == 0 && (rest[5] == '\0' || rest[5] == '/'))
        return route_jobs(req, rest + 5);
    if (*rest != '\0' && strcmp(rest, "/") != 0)
        return fleet_problem(req, 404, "not-found", "no such resource", NULL);
    req->allow = "GET, HEAD, OPTIONS";
    if (!is_get(req))
        return fleet_problem(req, 405, "method-not-allowed",
                             "use GET here; jobs are POSTed to " JOBS, NULL);
    return list_benchmarks(req);
}
