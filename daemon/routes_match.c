/* SPDX-License-Identifier: MIT */
/* Matchmaking and deployments over HTTP (lib/match.h, lib/deploy.h):
 *   GET    /api/v1/models/{id}/devices?fits=true|false|all&order=fit|latency&limit&offset
 *   GET    /api/v1/things/{id}/models?fits=&category=&task=&dataset=&min_accuracy=
 *                                     &order=fit|accuracy|macs|latency&limit&offset
 *   POST   /api/v1/things/{id}/deployments   {"model": ID, "force": bool, "note": "..."}
 *   GET    /api/v1/things/{id}/deployments[?all=true]
 *   GET    /api/v1/things/{id}/deployments/{deployment}
 *   DELETE /api/v1/things/{id}/deployments/{deployment}   (ends it; the record stays)
 *   GET    /api/v1/models/{id}/deployments[?all=true]
 * routes_models.c and routes_things.c own the URL prefixes and call in here with the model id or
 * the Thing's IRI already taken from the path. */
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "deploy.h"
#include "log.h"
#include "match.h"
#include "model_graph.h"
#include "routes.h"
#include "sparql_text.h"

#define MAX_LIMIT 10000
#define MAX_NOTE_BYTES 1024

/* Serialises "does it fit, then record" against concurrent deployments and model deletes. */
static pthread_mutex_t deploy_lock = PTHREAD_MUTEX_INITIALIZER;

static int respond_json(struct fleet_req *req, int status, json_t *j, const char *const *headers)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    size_t len = strlen(text);
    return fleet_respond_steal(req, status, "application/json", text, len, headers);
}

static int match_error(struct fleet_req *req, enum fleet_err rc, const char *err,
                       const char *field)
{
    if (rc == FLEET_ERR_NOTFOUND)
        return fleet_problem(req, 404, field && strcmp(field, "model") == 0 ? "no-such-model"
                                                                            : "no-such-thing",
                             err, field);
    fleet_log(FLEET_LOG_ERR, "matching: %s", err);
    return fleet_problem(req, fleet_http_status(rc), "match-failed", err, NULL);
}

/* A non-negative integer parameter in [0, max]; -1 (and a 400 queued in *r) if malformed. */
static int size_arg(struct fleet_req *req, const char *name, size_t dflt, size_t max,
                    size_t *out, int *r)
{
    const char *s = fleet_req_arg(req, name);
    *out = dflt;
    if (!s)
        return 0;
    char *end, msg[128];
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || *s == '-' || v > max) {
        snprintf(msg, sizeof(msg), "%s must be an integer from 0 to %zu", name, max);
        *r = fleet_problem(req, 400, "bad-parameter", msg, name);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* fits, limit, offset; -1 with a 400 queued in *r. */
static int common_args(struct fleet_req *req, struct fleet_match_query *q, int *r)
{
    const char *fits = fleet_req_arg(req, "fits");
    memset(q, 0, sizeof(*q));
    if (!fits || strcmp(fits, "all") == 0)
        q->fits = FLEET_FITS_ALL;
    else if (strcmp(fits, "true") == 0)
        q->fits = FLEET_FITS_TRUE;
    else if (strcmp(fits, "false") == 0)
        q->fits = FLEET_FITS_FALSE;
    else {
        *r = fleet_problem(req, 400, "bad-parameter", "fits must be true, false or all", "fits");
        return -1;
    }
    if (size_arg(req, "limit", 100, MAX_LIMIT, &q->limit, r) < 0 ||
        size_arg(req, "offset", 0, (size_t)1 << 40, &q->offset, r) < 0)
        return -1;
    if (q->limit == 0) {
        *r = fleet_problem(req, 400, "bad-parameter", "limit must be at least 1", "limit");
        return -1;
    }
    return 0;
}

/* Adds Link rel=next to a paged answer when there is more. link must outlive the response
 * queueing (the caller's buffer). */
static void next_link(struct fleet_req *req, const struct fleet_match_query *q, json_t *res,
                      char *link, size_t linklen, const char **h)
{
    size_t total = (size_t)json_integer_value(json_object_get(res, "total"));
    h[0] = NULL;
    if (q->offset + q->limit >= total)
        return;
    /* The path is re-encoded: MHD hands it over decoded, and a TD id holds ':' and '/'. */
    struct fleet_buf b = FLEET_BUF_INIT;
    fleet_buf_putc(&b, '<');
    for (const char *p = req->path; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~/", c))
            fleet_buf_putc(&b, (char)c);
        else
            fleet_buf_printf(&b, "%%%02X", c);
    }
    fleet_buf_printf(&b, "?limit=%zu&offset=%zu", q->limit, q->offset + q->limit);
    static const char *const keep[] = {"fits", "category", "task", "dataset", "min_accuracy",
                                       "order", NULL};
    for (size_t i = 0; keep[i]; i++) {
        const char *v = fleet_req_arg(req, keep[i]);
        if (!v)
            continue;
        fleet_buf_printf(&b, "&%s=", keep[i]);
        for (const char *p = v; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                strchr("-._~", c))
                fleet_buf_putc(&b, (char)c);
            else
                fleet_buf_printf(&b, "%%%02X", c);
        }
    }
    fleet_buf_puts(&b, ">; rel=\"next\"");
    if (!b.oom && b.len < linklen) {
        memcpy(link, b.data, b.len + 1);
        h[0] = MHD_HTTP_HEADER_LINK;
        h[1] = link;
        h[2] = NULL;
    }
    fleet_buf_free(&b);
}

int fleet_route_model_devices(struct fleet_req *req, const char *model_id)
{
    struct fleet_match_query q;
    int r;
    char err[512], link[4096];
    const char *h[3];
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return fleet_problem(req, 405, "method-not-allowed", "use GET here", NULL);
    if (common_args(req, &q, &r) < 0)
        return r;
    const char *order = fleet_req_arg(req, "order");
    if (order && strcmp(order, "latency") == 0)
        q.order = FLEET_ORDER_LATENCY;
    else if (order && strcmp(order, "fit") != 0)
        return fleet_problem(req, 400, "bad-parameter", "order must be fit or latency", "order");
    json_t *res;
    enum fleet_err rc = fleet_match_devices_for_model(req->d->match, model_id, &q, &res, err,
                                                      sizeof(err));
    if (rc != FLEET_OK)
        return match_error(req, rc, err, "model");
    next_link(req, &q, res, link, sizeof(link), h);
    return respond_json(req, 200, res, h);
}

int fleet_route_thing_models(struct fleet_req *req, const char *thing_iri)
{
    struct fleet_match_query q;
    int r;
    char err[512], link[4096], msg[1024];
    const char *h[3];
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return fleet_problem(req, 405, "method-not-allowed", "use GET here", NULL);
    if (common_args(req, &q, &r) < 0)
        return r;
    q.category = fleet_req_arg(req, "category");
    q.task = fleet_req_arg(req, "task");
    q.dataset = fleet_req_arg(req, "dataset");
    if (q.category && *q.category) {
        int known = 0;
        size_t n = (size_t)snprintf(msg, sizeof(msg), "unknown category; allowed:");
        for (char **p = req->d->vocab.categories; p && *p; p++) {
            const char *ln = strrchr(*p, '#') ? strrchr(*p, '#') + 1 : *p;
            known |= strcmp(ln, q.category) == 0;
            if (n < sizeof(msg))
                n += (size_t)snprintf(msg + n, sizeof(msg) - n, " %s", ln);
        }
        if (!known)
            return fleet_problem(req, 400, "bad-parameter", msg, "category");
    }
    if ((q.task && strlen(q.task) > 256) || (q.dataset && strlen(q.dataset) > 256))
        return fleet_problem(req, 400, "bad-parameter", "task and dataset are at most 256 bytes",
                             q.task && strlen(q.task) > 256 ? "task" : "dataset");
    const char *acc = fleet_req_arg(req, "min_accuracy");
    if (acc) {
        char *end;
        q.min_accuracy = strtod(acc, &end);
        if (end == acc || *end || !isfinite(q.min_accuracy))
            return fleet_problem(req, 400, "bad-parameter", "min_accuracy must be a number",
                                 "min_accuracy");
        q.has_min_accuracy = 1;
    }
    const char *order = fleet_req_arg(req, "order");
    if (!order || strcmp(order, "fit") == 0)
        q.order = FLEET_ORDER_FIT;
    else if (strcmp(order, "accuracy") == 0)
        q.order = FLEET_ORDER_ACCURACY;
    else if (strcmp(order, "macs") == 0)
        q.order = FLEET_ORDER_MACS;
    else if (strcmp(order, "latency") == 0)
        q.order = FLEET_ORDER_LATENCY;
    else
        return fleet_problem(req, 400, "bad-parameter",
                             "order must be fit, accuracy, macs or latency", "order");
    json_t *res;
    enum fleet_err rc =
        fleet_match_models_for_device(req->d->match, thing_iri, &q, &res, err, sizeof(err));
    if (rc != FLEET_OK)
        return match_error(req, rc, err, "id");
    next_link(req, &q, res, link, sizeof(link), h);
    return respond_json(req, 200, res, h);
}

/* ---- deployments --------------------------------------------------------------------------- */

/* Runs sparql/deployments.rq; *rows is the bindings array (new). */
static enum fleet_err list_deployments(struct fleet_req *req, const char *device,
                                       const char *model_id, const char *deployment, int all,
                                       json_t **rows, char *err, size_t errlen)
{
    static const char *const names[] = {"anyDevice", "device", "anyModel", "model",
                                        "anyDeployment", "deployment", "all"};
    const char *xbool = "http://www.w3.org/2001/XMLSchema#boolean";
    char dep_iri[160] = "urn:tinyfleet:none";
    if (deployment)
        fleet_deployment_iri(deployment, dep_iri, sizeof(dep_iri));
    struct fleet_term vals[7] = {
        {FLEET_TERM_LITERAL, device ? "false" : "true", NULL, xbool},
        {FLEET_TERM_IRI, device ? device : "urn:tinyfleet:none", NULL, NULL},
        {FLEET_TERM_LITERAL, model_id ? "false" : "true", NULL, xbool},
        {FLEET_TERM_LITERAL, model_id ? model_id : "", NULL, NULL},
        {FLEET_TERM_LITERAL, deployment ? "false" : "true", NULL, xbool},
        {FLEET_TERM_IRI, dep_iri, NULL, NULL},
        {FLEET_TERM_LITERAL, all ? "true" : "false", NULL, xbool}};
    struct fleet_buf text = FLEET_BUF_INIT;
    enum fleet_err rc = fleet_sparql_bind(fleet_templates_get(req->d->templates, "deployments"),
                                          names, vals, 7, &text, err, errlen);
    if (rc != FLEET_OK) {
        fleet_buf_free(&text);
        return rc;
    }
    struct fleet_query q = {text.data, NULL, NULL, 0, NULL, 0, "application/sparql-results+json",
                            req->query_timeout_ms, 0, 0};
    struct fleet_answer ans;
    memset(&ans, 0, sizeof(ans));
    rc = fleet_store_query(req->d->store, &q, &ans);
    fleet_buf_free(&text);
    if (rc != FLEET_OK) {
        snprintf(err, errlen, "%.500s", ans.message);
        fleet_buf_free(&ans.body);
        return rc;
    }
    json_t *doc = json_loadb(ans.body.data ? ans.body.data : "", ans.body.len, 0, NULL);
    fleet_buf_free(&ans.body);
    *rows = json_incref(json_object_get(json_object_get(doc, "results"), "bindings"));
    json_decref(doc);
    if (!json_is_array(*rows)) {
        json_decref(*rows);
        snprintf(err, errlen, "deployments.rq: unexpected answer");
        return FLEET_ERR_INTERNAL;
    }
    return FLEET_OK;
}

static const char *bval(json_t *row, const char *var)
{
    return json_string_value(json_object_get(json_object_get(row, var), "value"));
}

/* One deployment row as the API's JSON (new). */
static json_t *deployment_json(json_t *row)
{
    json_t *j = json_object();
    const char *by = bval(row, "by"), *note = bval(row, "note"), *ended = bval(row, "endedAt");
    json_object_set_new(j, "id", json_string(bval(row, "id") ? bval(row, "id") : ""));
    json_object_set_new(j, "device", json_string(bval(row, "device") ? bval(row, "device") : ""));
    json_object_set_new(j, "model",
                        json_string(bval(row, "modelId") ? bval(row, "modelId") : ""));
    json_object_set_new(j, "deployed_at", json_string(bval(row, "at") ? bval(row, "at") : ""));
    json_object_set_new(j, "deployed_by", by ? json_string(by) : json_null());
    json_object_set_new(j, "forced",
                        json_boolean(bval(row, "forced") && strcmp(bval(row, "forced"), "true") == 0));
    json_object_set_new(j, "note", note ? json_string(note) : json_null());
    json_object_set_new(j, "ended_at", ended ? json_string(ended) : json_null());
    json_object_set_new(j, "active", json_boolean(ended == NULL));
    return j;
}

static int deployments_listing(struct fleet_req *req, const char *device, const char *model_id)
{
    const char *all_s = fleet_req_arg(req, "all");
    int all = all_s && strcmp(all_s, "true") == 0;
    if (all_s && !all && strcmp(all_s, "false") != 0)
        return fleet_problem(req, 400, "bad-parameter", "all must be true or false", "all");
    json_t *rows;
    char err[512];
    enum fleet_err rc = list_deployments(req, device, model_id, NULL, all, &rows, err, sizeof(err));
    if (rc != FLEET_OK)
        return fleet_problem(req, fleet_http_status(rc), "query-failed", err, NULL);
    json_t *items = json_array(), *row, *out = json_object();
    size_t i;
    json_array_foreach(rows, i, row) json_array_append_new(items, deployment_json(row));
    json_decref(rows);
    json_object_set_new(out, "total", json_integer((json_int_t)json_array_size(items)));
    json_object_set_new(out, "items", items);
    return respond_json(req, 200, out, NULL);
}

int fleet_model_active_deployments(struct fleet_req *req, const char *model_id, size_t *count)
{
    json_t *rows;
    char err[512];
    enum fleet_err rc = list_deployments(req, NULL, model_id, NULL, 0, &rows, err, sizeof(err));
    if (rc != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "deployments of model %s: %s", model_id, err);
        return -1;
    }
    *count = json_array_size(rows);
    json_decref(rows);
    return 0;
}

enum fleet_err fleet_model_end_deployments(struct fleet_req *req, const char *model_id,
                                           struct fleet_txn *txn)
{
    json_t *rows, *row;
    char err[512];
    size_t i;
    enum fleet_err rc = list_deployments(req, NULL, model_id, NULL, 0, &rows, err, sizeof(err));
    if (rc != FLEET_OK)
        return rc;
    time_t now = time(NULL);
    json_array_foreach(rows, i, row)
    {
        struct fleet_deployment dep;
        memset(&dep, 0, sizeof(dep));
        snprintf(dep.id, sizeof(dep.id), "%s", bval(row, "id") ? bval(row, "id") : "");
        dep.device = bval(row, "device");
        dep.model_id = model_id;
        dep.deployed_by = bval(row, "by");
        dep.note = bval(row, "note");
        dep.forced = bval(row, "forced") && strcmp(bval(row, "forced"), "true") == 0;
        dep.ended_at = now;
        if (!dep.device || fleet_deployment_time_parse(bval(row, "at"), &dep.deployed_at) != 0)
            continue;
        if ((rc = fleet_deployment_txn(&dep, txn)) != FLEET_OK)
            break;
    }
    json_decref(rows);
    return rc;
}

static int create_deployment(struct fleet_req *req, const char *thing_iri)
{
    struct fleet_daemon *d = req->d;
    json_error_t jerr;
    const char *ct = fleet_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
        return fleet_problem(req, 415, "unsupported-media-type",
                             "send the deployment as application/json", "Content-Type");
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "the body must be a JSON object: %s",
                 body ? "not an object" : jerr.text);
        json_decref(body);
        return fleet_problem(req, 400, "invalid-body", msg, "body");
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "model") != 0 && strcmp(key, "force") != 0 && strcmp(key, "note") != 0) {
            char msg[300];
            snprintf(msg, sizeof(msg), "unknown member \"%.200s\" (known: model, force, note)",
                     key);
            /* key lives in body: answer first, then let body go */
            int r = fleet_problem(req, 400, "invalid-body", msg, key[0] ? key : "body");
            json_decref(body);
            return r;
        }
    }
    json_t *jm = json_object_get(body, "model"), *jf = json_object_get(body, "force"),
           *jn = json_object_get(body, "note");
    int r;
    if (!json_is_string(jm))
        r = fleet_problem(req, 400, "invalid-body", "model must be a model id (a string)",
                          "model");
    else if (jf && !json_is_boolean(jf))
        r = fleet_problem(req, 400, "invalid-body", "force must be true or false", "force");
    else if (jn && !json_is_null(jn) &&
             (!json_is_string(jn) || strlen(json_string_value(jn)) > MAX_NOTE_BYTES))
        r = fleet_problem(req, 400, "invalid-body", "note must be a string of at most 1024 bytes",
                          "note");
    else
        r = -1;
    if (r != -1) {
        json_decref(body);
        return r;
    }
    const char *model_id = json_string_value(jm);
    int force = json_is_true(jf);
    char err[512], id[17];
    json_t *verdict;

    pthread_mutex_lock(&deploy_lock);
    enum fleet_err rc = fleet_match_pair(d->match, model_id, thing_iri, &verdict, err, sizeof(err));
    if (rc != FLEET_OK) {
        pthread_mutex_unlock(&deploy_lock);
        json_decref(body);
        int unknown_model = rc == FLEET_ERR_NOTFOUND && strncmp(err, "no model", 8) == 0;
        if (unknown_model)
            return fleet_problem(req, 400, "no-such-model", err, "model");
        return match_error(req, rc, err, "id");
    }
    int fits = json_is_true(json_object_get(verdict, "fits"));
    if (!fits && !force) {
        pthread_mutex_unlock(&deploy_lock);
        char *reasons = json_dumps(json_object_get(verdict, "reasons"), JSON_COMPACT);
        struct fleet_buf extra = FLEET_BUF_INIT;
        fleet_buf_printf(&extra, "\"reasons\":%s", reasons ? reasons : "[]");
        free(reasons);
        r = fleet_problem_ext(req, 409, "does-not-fit",
                              "the model does not fit this board (send \"force\": true to record "
                              "it anyway)",
                              "model", extra.data);
        fleet_buf_free(&extra);
        json_decref(verdict);
        json_decref(body);
        return r;
    }
    struct fleet_deployment dep = {.device = thing_iri,
                                   .model_id = model_id,
                                   .deployed_at = time(NULL),
                                   .deployed_by = req->token_id[0] ? req->token_id : NULL,
                                   .forced = !fits,
                                   .note = json_is_string(jn) ? json_string_value(jn) : NULL};
    struct fleet_txn *txn = fleet_txn_new();
    if (fleet_deployment_new_id(id) != 0 || !txn) {
        pthread_mutex_unlock(&deploy_lock);
        fleet_txn_free(txn);
        json_decref(verdict);
        json_decref(body);
        return fleet_problem(req, 503, "unavailable", "no randomness or memory for a new id", NULL);
    }
    memcpy(dep.id, id, sizeof(id));
    rc = fleet_deployment_txn(&dep, txn);
    if (rc == FLEET_OK)
        rc = fleet_store_commit(d->store, txn);
    pthread_mutex_unlock(&deploy_lock);
    fleet_txn_free(txn);
    if (rc != FLEET_OK) {
        json_decref(verdict);
        json_decref(body);
        return fleet_problem(req, 500, "store-failed", fleet_strerror(rc), NULL);
    }
    fleet_log(FLEET_LOG_NOTICE, "deployment %s: model %s on %s%s", id, model_id, thing_iri,
              dep.forced ? " (forced)" : "");
    char at[32], loc[2048];
    fleet_deployment_time(dep.deployed_at, at);
    json_t *out = json_object();
    json_object_set_new(out, "id", json_string(id));
    json_object_set_new(out, "device", json_string(thing_iri));
    json_object_set_new(out, "model", json_string(model_id));
    json_object_set_new(out, "deployed_at", json_string(at));
    json_object_set_new(out, "deployed_by", dep.deployed_by ? json_string(dep.deployed_by)
                                                            : json_null());
    json_object_set_new(out, "forced", json_boolean(dep.forced));
    json_object_set_new(out, "note", dep.note ? json_string(dep.note) : json_null());
    json_object_set_new(out, "ended_at", json_null());
    json_object_set_new(out, "active", json_true());
    json_object_set_new(out, "verdict", verdict);
    json_decref(body);
    /* Location: the request path (re-encoded) plus the new id. */
    size_t n = 0;
    for (const char *p = req->path; *p && n + 4 < sizeof(loc) - 20; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~/", c))
            loc[n++] = (char)c;
        else
            n += (size_t)snprintf(loc + n, sizeof(loc) - n, "%%%02X", c);
    }
    snprintf(loc + n, sizeof(loc) - n, "/%s", id);
    const char *h[] = {MHD_HTTP_HEADER_LOCATION, loc, NULL};
    return respond_json(req, 201, out, h);
}

static int one_deployment(struct fleet_req *req, const char *thing_iri, const char *dep_id)
{
    json_t *rows;
    char err[512];
    int valid = strlen(dep_id) == 16 && strspn(dep_id, "0123456789abcdef") == 16;
    if (!valid)
        return fleet_problem(req, 404, "no-such-deployment", "a deployment id is 16 hex digits",
                             "deployment");
    int del = strcmp(req->method, "DELETE") == 0;
    if (del)
        pthread_mutex_lock(&deploy_lock);
    enum fleet_err rc = list_deployments(req, thing_iri, NULL, dep_id, 1, &rows, err, sizeof(err));
    if (rc != FLEET_OK) {
        if (del)
            pthread_mutex_unlock(&deploy_lock);
        return fleet_problem(req, fleet_http_status(rc), "query-failed", err, NULL);
    }
    json_t *row = json_array_get(rows, 0);
    if (!row) {
        if (del)
            pthread_mutex_unlock(&deploy_lock);
        json_decref(rows);
        return fleet_problem(req, 404, "no-such-deployment",
                             "this board has no deployment with this id", "deployment");
    }
    if (!del) {
        json_t *j = deployment_json(row);
        json_decref(rows);
        return respond_json(req, 200, j, NULL);
    }
    if (bval(row, "endedAt")) {
        pthread_mutex_unlock(&deploy_lock);
        json_decref(rows);
        return fleet_problem(req, 404, "no-such-deployment", "this deployment has ended already",
                             "deployment");
    }
    struct fleet_deployment dep;
    memset(&dep, 0, sizeof(dep));
    memcpy(dep.id, dep_id, 17);
    dep.device = thing_iri;
    dep.model_id = bval(row, "modelId");
    dep.deployed_by = bval(row, "by");
    dep.note = bval(row, "note");
    dep.forced = bval(row, "forced") && strcmp(bval(row, "forced"), "true") == 0;
    dep.ended_at = time(NULL);
    struct fleet_txn *txn = fleet_txn_new();
    rc = !txn || !dep.model_id || fleet_deployment_time_parse(bval(row, "at"), &dep.deployed_at) != 0
             ? FLEET_ERR_INTERNAL
             : fleet_deployment_txn(&dep, txn);
    if (rc == FLEET_OK)
        rc = fleet_store_commit(req->d->store, txn);
    pthread_mutex_unlock(&deploy_lock);
    fleet_txn_free(txn);
    json_decref(rows);
    if (rc != FLEET_OK)
        return fleet_problem(req, 500, "store-failed", fleet_strerror(rc), NULL);
    fleet_log(FLEET_LOG_NOTICE, "deployment %s ended", dep_id);
    return fleet_respond(req, 204, NULL, NULL, 0, NULL);
}

int fleet_route_thing_deployments(struct fleet_req *req, const char *thing_iri,
                                  const char *deployment_id)
{
    int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (deployment_id) {
        if (get || strcmp(req->method, "DELETE") == 0)
            return one_deployment(req, thing_iri, deployment_id);
        return fleet_problem(req, 405, "method-not-allowed", "use GET or DELETE here", NULL);
    }
    if (get)
        return deployments_listing(req, thing_iri, NULL);
    if (strcmp(req->method, "POST") == 0)
        return create_deployment(req, thing_iri);
    return fleet_problem(req, 405, "method-not-allowed", "use GET or POST here", NULL);
}

int fleet_route_model_deployments(struct fleet_req *req, const char *model_id)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return fleet_problem(req, 405, "method-not-allowed", "use GET here", NULL);
    return deployments_listing(req, NULL, model_id);
}

void fleet_deploy_lock(void)
{
    pthread_mutex_lock(&deploy_lock);
}

void fleet_deploy_unlock(void)
{
    pthread_mutex_unlock(&deploy_lock);
}
