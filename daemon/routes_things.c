/* SPDX-License-Identifier: MIT */
/* The W3C WoT Discovery directory API (Thing Description Directory, HTTP):
 *   GET    /api/v1/things?offset=&limit=&format=array|collection   the TDs by id, paged
 *   POST   /api/v1/things              an anonymous TD -> 201 + Location (id: urn:uuid: v4)
 *   PUT    /api/v1/things/{id}         create (201) or replace (204)
 *   GET    /api/v1/things/{id}         the enriched TD, application/td+json
 *   PATCH  /api/v1/things/{id}         application/merge-patch+json (RFC 7396) -> 204; {} is a
 *                                      heartbeat: registration refreshed, lastSeen = now
 *   DELETE /api/v1/things/{id}         -> 204
 *   /api/v1/things/{id}/models, /api/v1/things/{id}/deployments[/{d}]   routes_match.c
 *   GET|POST /api/v1/search/sparql     SPARQL 1.1 queries over the whole graph (read-only)
 *   GET    /.well-known/wot            the directory's own TD (@type ThingDirectory)
 * {id} is the TD's id, percent-encoded in the path. HEAD answers every GET. Errors are RFC 7807
 * problems; a TD that fails validation adds validationErrors [{field, description}]. The
 * registry itself (validation, storage, index, expiry) is lib/things.c; this file is HTTP and
 * the notifications (events.h) sent after each durable change. */
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conneg.h"
#include "events.h"
#include "log.h"
#include "routes.h"
#include "things.h"

#define API "/api/v1/things"
#define SEARCH "/api/v1/search/sparql"
#define MAX_GRAPH_PARAMS 256

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_get(const struct fleet_req *req)
{
    return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

/* The registry's change notifications become the directory's events (events.h). */
static void on_change(void *ctx, enum fleet_thing_change what, const char *id, const char *json)
{
    struct fleet_daemon *d = ctx;
    enum fleet_event_type type = what == FLEET_THING_CREATED   ? FLEET_EVENT_THING_CREATED
                                 : what == FLEET_THING_UPDATED ? FLEET_EVENT_THING_UPDATED
                                                               : FLEET_EVENT_THING_DELETED;
    if (d->events && fleet_events_publish(d->events, type, id, json) == 0)
        fleet_log(FLEET_LOG_WARNING, "out of memory: the %s event of %s is lost",
                  fleet_event_type_name(type), id);
}

void fleet_things_routes_init(struct fleet_daemon *d)
{
    fleet_things_on_change(d->things, on_change, d);
}

/* The path of a TD: API "/" + id with everything but unreserved characters and ':' '@'
 * percent-encoded (a '/' in an id stays inside one path segment). */
static void thing_path(struct fleet_buf *b, const char *id)
{
    fleet_buf_puts(b, API "/");
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~:@", *p))
            fleet_buf_putc(b, (char)*p);
        else
            fleet_buf_printf(b, "%%%02X", *p);
    }
}

static int json_media_type(const char *ctype)
{
    return ctype && (fleet_media_type_is(ctype, "application/td+json") ||
                     fleet_media_type_is(ctype, "application/json") ||
                     fleet_media_type_is(ctype, "application/ld+json"));
}

/* Only UTF-8 (RFC 8259 section 8.1). */
static int charset_ok(const char *ctype)
{
    char cs[32];
    if (!fleet_media_type_param(ctype, "charset", cs, sizeof(cs)))
        return 1;
    return strcmp(cs, "utf-8") == 0 || strcmp(cs, "utf8") == 0;
}

/* 400 with the validation errors, or the status the error maps to. */
static int write_problem(struct fleet_req *req, enum fleet_err rc, struct fleet_things_write *w)
{
    if (rc == FLEET_ERR_NOTFOUND)
        return fleet_problem(req, 404, "no-such-thing", "no Thing Description with this id",
                             "id");
    if (rc == FLEET_ERR_TOOBIG)
        return fleet_problem(req, 413, "body-too-large", w->message, NULL);
    if (rc != FLEET_ERR_INVAL) {
        fleet_log(FLEET_LOG_ERR, "thing registry: %s", w->message);
        return fleet_problem(req, fleet_http_status(rc), "store-failed", w->message, NULL);
    }
    json_t *arr = json_array(), *wrap = json_object();
    for (size_t i = 0; i < w->errs.n; i++) {
        json_t *e = json_object();
        const char *f = w->errs.v[i].field;
        json_object_set_new(e, "field", json_string(f[0] ? f : "(root)"));
        json_object_set_new(e, "description", json_string(w->errs.v[i].description));
        json_array_append_new(arr, e);
    }
    json_object_set_new(wrap, "validationErrors", arr);
    char *text = json_dumps(wrap, JSON_COMPACT);
    json_decref(wrap);
    if (!text)
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    /* fleet_problem_ext wants the members without the braces. */
    size_t n = strlen(text);
    text[n - 1] = '\0';
    char detail[640];
    snprintf(detail, sizeof(detail), "%s%s", w->message,
             w->errs.truncated ? " (only the first 100 errors are listed)" : "");
    const char *field = w->errs.n ? (w->errs.v[0].field[0] ? w->errs.v[0].field : "(root)") : NULL;
    int r = fleet_problem_ext(req, 400, "invalid-thing-description", detail, field, text + 1);
    free(text);
    return r;
}

/* ---- writes ------------------------------------------------------------------------------ */

static void write_init(struct fleet_req *req, struct fleet_things_write *w, const char *id)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->body = req->body.data ? req->body.data : "";
    w->len = req->body.len;
    w->now_ms = now_ms();
    pthread_rwlock_rdlock(&req->d->cfg_lock);
    pthread_rwlock_rdlock(&req->d->cfg_lock);
    w->max_ttl_s = req->d->cfg.thing_max_ttl_s;
    pthread_rwlock_unlock(&req->d->cfg_lock);
    pthread_rwlock_unlock(&req->d->cfg_lock);
}

static int put_or_post(struct fleet_req *req, const char *id)
{
    const char *ctype = fleet_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct fleet_things_write w;
    if (!json_media_type(ctype) || !charset_ok(ctype))
        return fleet_problem(req, 415, "unsupported-media-type",
                             "send the Thing Description as application/td+json (UTF-8)",
                             "Content-Type");
    write_init(req, &w, id);
    enum fleet_err rc = fleet_things_put(req->d->things, &w);
    int r;
    if (rc != FLEET_OK) {
        r = write_problem(req, rc, &w);
        goto out;
    }
    struct fleet_buf loc = FLEET_BUF_INIT;
    thing_path(&loc, w.thing_id);
    fleet_log(FLEET_LOG_NOTICE, "thing %s %s", w.thing_id, w.created ? "registered" : "replaced");
    const char *h[] = {MHD_HTTP_HEADER_LOCATION, loc.data ? loc.data : API, NULL};
    r = w.created ? fleet_respond(req, 201, NULL, NULL, 0, h)
                  : fleet_respond(req, 204, NULL, NULL, 0, NULL);
    fleet_buf_free(&loc);
out:
    fleet_things_write_free(&w);
    return r;
}

static int patch_thing(struct fleet_req *req, const char *id)
{
    const char *ctype = fleet_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct fleet_things_write w;
    if (!ctype || !fleet_media_type_is(ctype, "application/merge-patch+json") ||
        !charset_ok(ctype))
        return fleet_problem(req, 415, "unsupported-media-type",
                             "a partial update is an RFC 7396 merge patch: Content-Type "
                             "application/merge-patch+json",
                             "Content-Type");
    write_init(req, &w, id);
    enum fleet_err rc = fleet_things_patch(req->d->things, &w);
    int r;
    if (rc != FLEET_OK) {
        r = write_problem(req, rc, &w);
    } else {
        fleet_log(FLEET_LOG_INFO, "thing %s patched", id);
        r = fleet_respond(req, 204, NULL, NULL, 0, NULL);
    }
    fleet_things_write_free(&w);
    return r;
}

static int delete_thing(struct fleet_req *req, const char *id)
{
    enum fleet_err rc = fleet_things_delete(req->d->things, id);
    if (rc == FLEET_ERR_NOTFOUND)
        return fleet_problem(req, 404, "no-such-thing", "no Thing Description with this id",
                             "id");
    if (rc != FLEET_OK)
        return fleet_problem(req, fleet_http_status(rc), "store-failed", fleet_strerror(rc),
                             NULL);
    fleet_log(FLEET_LOG_NOTICE, "thing %s deleted", id);
    return fleet_respond(req, 204, NULL, NULL, 0, NULL);
}

/* ---- reads ------------------------------------------------------------------------------- */

static int get_thing(struct fleet_req *req, const char *id)
{
    static const char *const offers[] = {"application/td+json", "application/json",
                                         "application/ld+json"};
    int pick = fleet_conneg_pick(fleet_req_header(req, MHD_HTTP_HEADER_ACCEPT), offers, 3);
    if (pick < 0)
        return fleet_problem(req, 406, "not-acceptable",
                             "offered: application/td+json, application/json, "
                             "application/ld+json",
                             "Accept");
    struct fleet_buf out = FLEET_BUF_INIT;
    enum fleet_err rc = fleet_things_get(req->d->things, id, now_ms(), &out);
    if (rc != FLEET_OK) {
        fleet_buf_free(&out);
        return rc == FLEET_ERR_NOTFOUND
                   ? fleet_problem(req, 404, "no-such-thing", "no Thing Description with this id",
                                   "id")
                   : fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    }
    fleet_buf_putc(&out, '\n');
    size_t len;
    char *body = fleet_buf_steal(&out, &len);
    if (!body)
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    const char *h[] = {MHD_HTTP_HEADER_VARY, "Accept", MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache",
                       NULL};
    return fleet_respond_steal(req, 200, offers[pick], body, len, h);
}

/* A non-negative integer query parameter; -1 if malformed. */
static int size_arg(const char *s, size_t *out)
{
    size_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > ((size_t)-1 - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int list_things(struct fleet_req *req)
{
    const char *limit_s = fleet_req_arg(req, "limit"), *offset_s = fleet_req_arg(req, "offset");
    const char *format = fleet_req_arg(req, "format");
    size_t limit = 0, offset = 0;
    unsigned page_limit;
    int collection = 0;

    if (limit_s && (size_arg(limit_s, &limit) != 0 || limit == 0))
        return fleet_problem(req, 400, "bad-parameter", "limit must be a positive integer",
                             "limit");
    if (offset_s && size_arg(offset_s, &offset) != 0)
        return fleet_problem(req, 400, "bad-parameter", "offset must be an integer >= 0",
                             "offset");
    if (format && strcmp(format, "collection") == 0)
        collection = 1;
    else if (format && strcmp(format, "array") != 0)
        return fleet_problem(req, 400, "bad-parameter", "format must be array or collection",
                             "format");
    pthread_rwlock_rdlock(&req->d->cfg_lock);
    pthread_rwlock_rdlock(&req->d->cfg_lock);
    page_limit = req->d->cfg.thing_page_limit;
    pthread_rwlock_unlock(&req->d->cfg_lock);
    pthread_rwlock_unlock(&req->d->cfg_lock);
    /* The page the client asked for, at most page_limit TDs of it (the next link keeps its
     * limit, as the spec requires). */
    size_t asked = limit_s ? limit : page_limit;
    size_t take = asked < page_limit ? asked : page_limit;

    struct fleet_buf items = FLEET_BUF_INIT, body = FLEET_BUF_INIT, next = FLEET_BUF_INIT,
                     self = FLEET_BUF_INIT, link = FLEET_BUF_INIT;
    struct fleet_things_page page;
    enum fleet_err rc = fleet_things_list(req->d->things, offset, take, now_ms(), &items, &page);
    int r;
    if (rc != FLEET_OK) {
        r = fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
        goto out;
    }
    const char *fmt = collection ? "&format=collection" : "";
    fleet_buf_printf(&self, API "?offset=%zu&limit=%zu%s", offset, asked, fmt);
    if (page.more)
        fleet_buf_printf(&next, API "?offset=%zu&limit=%zu%s", offset + page.count, asked, fmt);
    if (collection) {
        fleet_buf_printf(&body,
                         "{\"@context\":\"" FLEET_DISCOVERY_CONTEXT "\",\"@type\":\"ThingCollection\","
                         "\"total\":%zu,\"members\":[",
                         page.total);
        fleet_buf_append(&body, items.data ? items.data : "", items.len);
        fleet_buf_printf(&body, "],\"@id\":\"%s\"", self.data);
        if (page.more)
            fleet_buf_printf(&body, ",\"next\":\"%s\"", next.data);
        fleet_buf_puts(&body, "}\n");
    } else {
        fleet_buf_putc(&body, '[');
        fleet_buf_append(&body, items.data ? items.data : "", items.len);
        fleet_buf_puts(&body, "]\n");
    }
    if (page.more)
        fleet_buf_printf(&link, "<%s>; rel=\"next\", ", next.data);
    fleet_buf_printf(&link, "<" API ">; rel=\"canonical\"; etag=\"%s\"", page.etag);
    if (body.oom || link.oom || self.oom || next.oom) {
        r = fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
        goto out;
    }
    size_t len;
    char *text = fleet_buf_steal(&body, &len);
    const char *h[] = {MHD_HTTP_HEADER_LINK, link.data, MHD_HTTP_HEADER_CACHE_CONTROL,
                       "no-cache", NULL};
    r = fleet_respond_steal(req, 200, "application/ld+json", text, len, h);
out:
    fleet_buf_free(&items);
    fleet_buf_free(&body);
    fleet_buf_free(&next);
    fleet_buf_free(&self);
    fleet_buf_free(&link);
    return r;
}

/* {id}/models and {id}/deployments[/{deployment}] belong to routes_match.c. A TD id may itself
 * end in such a suffix ("urn:x/models"), so a registered id with the whole text wins. Returns 1
 * with the handler's result in *r, or 0 when path is a Thing of its own. */
static int match_sub_resource(struct fleet_req *req, const char *id, int *r)
{
    size_t n = strlen(id), cut = 0;
    const char *dep = NULL;
    static const char models[] = "/models", deps[] = "/deployments";
    if (n > sizeof(models) - 1 && strcmp(id + n - (sizeof(models) - 1), models) == 0) {
        cut = n - (sizeof(models) - 1);
    } else if (n > sizeof(deps) - 1 && strcmp(id + n - (sizeof(deps) - 1), deps) == 0) {
        cut = n - (sizeof(deps) - 1);
    } else if (n > sizeof(deps) + 16 && id[n - 17] == '/' &&
               strncmp(id + n - 17 - (sizeof(deps) - 1), deps, sizeof(deps) - 1) == 0) {
        cut = n - 17 - (sizeof(deps) - 1);
        dep = id + n - 16;
    } else {
        return 0;
    }
    /* PUT and PATCH only address TDs (the sub-resources take GET, POST and DELETE). */
    if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0 ||
        fleet_things_exists(req->d->things, id, now_ms()))
        return 0;
    char *thing = strndup(id, cut);
    if (!thing) {
        *r = fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
        return 1;
    }
    if (id[cut + 1] == 'm')
        *r = fleet_route_thing_models(req, thing);
    else
        *r = fleet_route_thing_deployments(req, thing, dep);
    free(thing);
    return 1;
}

int fleet_things_cacheable(struct fleet_req *req)
{
    static const char models[] = "/models";
    const char *rest = req->path + strlen(API);
    size_t n = strlen(rest);
    /* "/{id}/models" with a non-empty id, and not itself a registered TD's id (as above) */
    if (!req->d->things || n < sizeof(models) + 1 || rest[0] != '/' ||
        strcmp(rest + n - (sizeof(models) - 1), models) != 0)
        return 0;
    return !fleet_things_exists(req->d->things, rest + 1, now_ms());
}

int fleet_route_things(struct fleet_req *req)
{
    const char *rest = req->path + strlen(API);
    if (!req->d->things)
        return fleet_problem(req, 503, "starting", "the Thing registry is not ready", NULL);
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        req->allow = "GET, HEAD, POST";
        if (is_get(req))
            return list_things(req);
        if (strcmp(req->method, "POST") == 0)
            return put_or_post(req, NULL);
        return fleet_problem(req, 405, "method-not-allowed",
                             "the collection takes GET (listing) and POST (an anonymous TD)",
                             NULL);
    }
    if (*rest != '/' || rest[1] == '\0')
        return fleet_problem(req, 404, "not-found", "no such resource", NULL);
    const char *id = rest + 1; /* libmicrohttpd has percent-decoded the path */
    int r;
    if (match_sub_resource(req, id, &r))
        return r;
    req->allow = "GET, HEAD, PUT, PATCH, DELETE";
    if (is_get(req))
        return get_thing(req, id);
    if (strcmp(req->method, "PUT") == 0)
        return put_or_post(req, id);
    if (strcmp(req->method, "PATCH") == 0)
        return patch_thing(req, id);
    if (strcmp(req->method, "DELETE") == 0)
        return delete_thing(req, id);
    return fleet_problem(req, 405, "method-not-allowed",
                         "a TD takes GET, PUT, PATCH and DELETE; anonymous TDs are POSTed to "
                         API,
                         NULL);
}

/* ---- search ------------------------------------------------------------------------------ */

/* The query form keyword after the prologue (PREFIX / BASE declarations and comments), upper
 * case, into form[16]; "" if there is none. */
static void query_form(const char *q, char form[16])
{
    const char *p = q;
    form[0] = '\0';
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '#') {
            if (*p == '#')
                while (*p && *p != '\n')
                    p++;
            else
                p++;
        }
        size_t n = 0;
        while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z'))
            n++;
        if (n == 0 || n >= 16)
            return;
        if ((n == 6 && strncasecmp(p, "PREFIX", 6) == 0) ||
            (n == 4 && strncasecmp(p, "BASE", 4) == 0)) {
            p = strchr(p + n, '<');
            if (!p || !(p = strchr(p, '>')))
                return;
            p++;
            continue;
        }
        for (size_t i = 0; i < n; i++)
            form[i] = (char)(p[i] >= 'a' ? p[i] - 'a' + 'A' : p[i]);
        form[n] = '\0';
        return;
    }
}

static int search(struct fleet_req *req, const char *text, const char *const *dflt, size_t nd,
                  const char *const *named, size_t nn)
{
    static const char *const result_offers[] = {
        "application/json", "application/sparql-results+json", "application/sparql-results+xml",
        "text/csv", "text/tab-separated-values"};
    static const char *const graph_offers[] = {"application/ld+json", "text/turtle",
                                               "application/n-triples", "application/rdf+xml",
                                               "application/json"};
    char form[16];
    const char *accept = fleet_req_header(req, MHD_HTTP_HEADER_ACCEPT);
    if (nd > MAX_GRAPH_PARAMS || nn > MAX_GRAPH_PARAMS)
        return fleet_problem(req, 400, "too-many-graphs", "at most 256 graph parameters",
                             "default-graph-uri");
    if (!fleet_utf8_valid(text, strlen(text)))
        return fleet_problem(req, 400, "bad-encoding", "the query is not valid UTF-8", "query");
    query_form(text, form);
    int graph = strcmp(form, "CONSTRUCT") == 0 || strcmp(form, "DESCRIBE") == 0;
    if (!graph && strcmp(form, "SELECT") != 0 && strcmp(form, "ASK") != 0)
        return fleet_problem(req, 400, "unsupported-query-form",
                             "the search API answers SELECT, ASK, CONSTRUCT and DESCRIBE queries "
                             "(SPARQL Update goes to /sparql)",
                             "query");
    const char *const *offers = graph ? graph_offers : result_offers;
    int pick = fleet_conneg_pick(accept, offers, 5);
    if (pick < 0)
        return fleet_problem(req, 406, "not-acceptable",
                             graph ? "offered: application/ld+json, text/turtle, "
                                     "application/n-triples, application/rdf+xml"
                                   : "offered: application/json, application/sparql-results+json, "
                                     "application/sparql-results+xml, text/csv, "
                                     "text/tab-separated-values",
                             "Accept");
    /* What the store is asked for: JSON-LD is made here from N-Triples. */
    const char *want = offers[pick];
    int jsonld = graph && (pick == 0 || pick == 4);
    if (jsonld)
        want = "application/n-triples";
    else if (!graph && pick == 0)
        want = "application/sparql-results+json";
    struct fleet_query q = {text, "http://127.0.0.1" SEARCH, dflt, nd, named, nn, want,
                            req->query_timeout_ms, req->max_result_rows, 0};
    struct fleet_answer ans;
    memset(&ans, 0, sizeof(ans));
    enum fleet_err rc = fleet_store_query(req->d->store, &q, &ans);
    const char *vary[] = {MHD_HTTP_HEADER_VARY, "Accept", NULL};
    if (rc == FLEET_OK && jsonld) {
        struct fleet_buf out = FLEET_BUF_INIT;
        rc = fleet_ntriples_to_jsonld(ans.body.data ? ans.body.data : "", ans.body.len, &out,
                                      ans.message, sizeof(ans.message));
        fleet_buf_free(&ans.body);
        if (rc != FLEET_OK) {
            fleet_buf_free(&out);
            fleet_log(FLEET_LOG_ERR, "search: JSON-LD conversion: %s", ans.message);
            return fleet_problem(req, 500, "internal", ans.message, NULL);
        }
        fleet_buf_putc(&out, '\n');
        size_t len;
        char *body = fleet_buf_steal(&out, &len);
        if (!body)
            return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
        return fleet_respond_steal(req, 200, offers[pick], body, len, vary);
    }
    if (rc == FLEET_OK) {
        size_t len = 0;
        char *body = fleet_buf_steal(&ans.body, &len);
        return fleet_respond_steal(req, 200, !graph && pick == 0 ? offers[0] : ans.content_type,
                                   body, len, vary);
    }
    fleet_buf_free(&ans.body);
    int status = fleet_http_status(rc);
    const char *slug = "query-failed";
    switch (rc) {
    case FLEET_ERR_INVAL: slug = "malformed-query"; break;
    case FLEET_ERR_TIMEOUT: slug = "query-timeout"; break;
    case FLEET_ERR_TOOBIG: slug = "result-too-large"; status = 503; break;
    case FLEET_ERR_UNSUPPORTED: slug = "unsupported-feature"; break;
    case FLEET_ERR_NOTACCEPTABLE: slug = "not-acceptable"; break;
    case FLEET_ERR_FORBIDDEN: slug = "forbidden"; break;
    case FLEET_ERR_CRASH: slug = "engine-crash"; break;
    default: break;
    }
    return fleet_problem(req, status, slug, ans.message, "query");
}

int fleet_route_search_sparql(struct fleet_req *req)
{
    const char *dflt[MAX_GRAPH_PARAMS], *named[MAX_GRAPH_PARAMS];
    size_t nd = 0, nn = 0;
    const char *query = NULL;
    req->allow = "GET, HEAD, POST";
    if (is_get(req)) {
        if (fleet_req_has_arg(req, "update"))
            return fleet_problem(req, 400, "unsupported-query-form",
                                 "the search API is read-only; SPARQL Update goes to /sparql",
                                 "update");
        size_t n = fleet_req_args(req, "query", &query, 1);
        if (n != 1)
            return fleet_problem(req, 400, "missing-query",
                                 n ? "exactly one query parameter is allowed"
                                   : "a query parameter is required",
                                 "query");
        nd = fleet_req_args(req, "default-graph-uri", dflt, MAX_GRAPH_PARAMS);
        nn = fleet_req_args(req, "named-graph-uri", named, MAX_GRAPH_PARAMS);
        return search(req, query, dflt, nd, named, nn);
    }
    const char *ctype = fleet_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *body = req->body.data ? req->body.data : "";
    if (ctype && fleet_media_type_is(ctype, "application/x-www-form-urlencoded")) {
        struct fleet_form f;
        int r;
        if (fleet_form_parse(body, req->body.len, &f) != 0)
            return fleet_problem(req, 400, "malformed-form", "malformed form encoding", NULL);
        size_t n = fleet_form_get(&f, "query", &query);
        if (fleet_form_get(&f, "update", NULL)) {
            r = fleet_problem(req, 400, "unsupported-query-form",
                              "the search API is read-only; SPARQL Update goes to /sparql",
                              "update");
        } else if (n != 1) {
            r = fleet_problem(req, 400, "missing-query",
                              n ? "exactly one query parameter is allowed"
                                : "a query parameter is required",
                              "query");
        } else {
            for (size_t i = 0; i < f.n; i++) {
                if (strcmp(f.keys[i], "default-graph-uri") == 0) {
                    if (nd < MAX_GRAPH_PARAMS)
                        dflt[nd] = f.values[i];
                    nd++; /* search() refuses more than MAX_GRAPH_PARAMS */
                } else if (strcmp(f.keys[i], "named-graph-uri") == 0) {
                    if (nn < MAX_GRAPH_PARAMS)
                        named[nn] = f.values[i];
                    nn++;
                }
            }
            r = search(req, query, dflt, nd, named, nn);
        }
        fleet_form_free(&f);
        return r;
    }
    if (ctype && fleet_media_type_is(ctype, "application/sparql-query")) {
        if (!charset_ok(ctype))
            return fleet_problem(req, 415, "bad-charset", "only UTF-8 is accepted",
                                 "Content-Type");
        nd = fleet_req_args(req, "default-graph-uri", dflt, MAX_GRAPH_PARAMS);
        nn = fleet_req_args(req, "named-graph-uri", named, MAX_GRAPH_PARAMS);
        return search(req, body, dflt, nd, named, nn);
    }
    if (ctype && fleet_media_type_is(ctype, "application/sparql-update"))
        return fleet_problem(req, 400, "unsupported-query-form",
                             "the search API is read-only; SPARQL Update goes to /sparql",
                             "Content-Type");
    return fleet_problem(req, 415, "unsupported-media-type",
                         "POST a query as application/sparql-query or as the form field query "
                         "(application/x-www-form-urlencoded)",
                         "Content-Type");
}

/* ---- the directory's own TD ---------------------------------------------------------------- */

static json_t *form(const char *href, const char *method, const char *op, const char *ctype,
                    int needs_write)
{
    json_t *f = json_object();
    json_object_set_new(f, "href", json_string(href));
    json_object_set_new(f, "htv:methodName", json_string(method));
    json_object_set_new(f, "op", json_string(op));
    if (ctype)
        json_object_set_new(f, "contentType", json_string(ctype));
    if (needs_write)
        json_object_set_new(f, "security", json_string("bearer_sc"));
    return f;
}

static json_t *id_variable(void)
{
    return json_pack("{s:{s:s,s:s,s:s}}", "id", "title", "Thing Description ID", "type",
                     "string", "format", "iri-reference");
}

static json_t *action(const char *description, json_t *forms, int with_id, int with_input)
{
    json_t *a = json_object();
    json_object_set_new(a, "description", json_string(description));
    if (with_id)
        json_object_set_new(a, "uriVariables", id_variable());
    if (with_input)
        json_object_set_new(a, "input", json_pack("{s:s}", "type", "object"));
    json_object_set_new(a, "forms", forms);
    return a;
}

static json_t *event(const char *description, const char *href)
{
    json_t *f = json_pack("{s:s,s:s,s:s,s:s}", "href", href, "op", "subscribeevent",
                          "subprotocol", "sse", "contentType", "text/event-stream");
    return json_pack("{s:s,s:{s:s},s:[o]}", "description", description, "data", "type", "object",
                     "forms", f);
}

/* A Host header we can put into base as it is: host name or address, optional port. */
static int host_ok(const char *h)
{
    if (!h || !*h || strlen(h) > 255)
        return 0;
    for (; *h; h++)
        if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
              strchr(".-:[]", *h)))
            return 0;
    return 1;
}

int fleet_route_wot(struct fleet_req *req)
{
    const char *host = fleet_req_header(req, MHD_HTTP_HEADER_HOST);
    char base[320];
    int require_read;
    if (!is_get(req))
        return fleet_problem(req, 405, "method-not-allowed", "use GET here", NULL);
    if (host_ok(host))
        snprintf(base, sizeof(base), "http://%s/api/v1/", host);
    else
        snprintf(base, sizeof(base), "http://127.0.0.1:%u/api/v1/", req->d->port);
    pthread_rwlock_rdlock(&req->d->cfg_lock);
    pthread_rwlock_rdlock(&req->d->cfg_lock);
    require_read = req->d->cfg.require_read_token;
    pthread_rwlock_unlock(&req->d->cfg_lock);
    pthread_rwlock_unlock(&req->d->cfg_lock);

    json_t *td = json_object();
    json_object_set_new(td, "@context",
                        json_pack("[s,s]", FLEET_TD_CONTEXT_11, FLEET_DISCOVERY_CONTEXT));
    json_object_set_new(td, "@type", json_string("ThingDirectory"));
    json_object_set_new(td, "id", json_string("urn:tinyfleet:thing-directory"));
    json_object_set_new(td, "title", json_string("tinyfleet Thing Description Directory"));
    json_object_set_new(td, "description",
                        json_string("The TinyML boards and other Things of this tinyfleet "
                                    "knowledge graph (W3C WoT Discovery directory API)"));
    json_object_set_new(td, "version", json_pack("{s:s}", "instance", PACKAGE_VERSION));
    json_object_set_new(td, "base", json_string(base));
    json_object_set_new(td, "securityDefinitions",
                        json_pack("{s:{s:s},s:{s:s,s:s,s:s}}", "nosec_sc", "scheme", "nosec",
                                  "bearer_sc", "scheme", "bearer", "in", "header", "name",
                                  "Authorization"));
    json_object_set_new(td, "security", json_string(require_read ? "bearer_sc" : "nosec_sc"));

    json_t *things_prop = json_pack(
        "{s:s,s:s,s:b,s:{s:{s:s,s:s,s:i},s:{s:s,s:s},s:{s:s,s:s,s:[s,s],s:s}}}", "description",
        "Retrieve all Thing Descriptions (by id, paged; Link rel=next)", "type", "array",
        "readOnly", 1, "uriVariables", "offset", "title", "Number of TDs to skip before the page",
        "type", "integer", "default", 0, "limit", "title", "Number of TDs in a page", "type",
        "integer", "format", "title", "Payload format", "type", "string", "enum", "array",
        "collection", "default", "array");
    json_object_set_new(things_prop, "forms",
                        json_pack("[o]", form("things{?offset,limit,format}", "GET",
                                              "readproperty", "application/ld+json", 0)));
    json_object_set_new(td, "properties", json_pack("{s:o}", "things", things_prop));

    json_t *actions = json_object();
    json_object_set_new(actions, "createThing",
                        action("Create (or replace) a Thing Description",
                               json_pack("[o]", form("things/{id}", "PUT", "invokeaction",
                                                     "application/td+json", 1)),
                               1, 1));
    json_object_set_new(actions, "createAnonymousThing",
                        action("Create an anonymous Thing Description (the directory assigns a "
                               "urn:uuid: id; Location names it)",
                               json_pack("[o]", form("things", "POST", "invokeaction",
                                                     "application/td+json", 1)),
                               0, 1));
    json_t *retrieve = action("Retrieve a Thing Description",
                              json_pack("[o]", form("things/{id}", "GET", "invokeaction",
                                                    "application/td+json", 0)),
                              1, 0);
    json_object_set_new(retrieve, "safe", json_true());
    json_object_set_new(retrieve, "idempotent", json_true());
    json_object_set_new(actions, "retrieveThing", retrieve);
    json_object_set_new(actions, "updateThing",
                        action("Update a Thing Description",
                               json_pack("[o]", form("things/{id}", "PUT", "invokeaction",
                                                     "application/td+json", 1)),
                               1, 1));
    json_object_set_new(actions, "partiallyUpdateThing",
                        action("Partially update a Thing Description (an empty patch refreshes "
                               "the registration: a heartbeat)",
                               json_pack("[o]", form("things/{id}", "PATCH", "invokeaction",
                                                     "application/merge-patch+json", 1)),
                               1, 1));
    json_object_set_new(actions, "deleteThing",
                        action("Delete a Thing Description",
                               json_pack("[o]", form("things/{id}", "DELETE", "invokeaction",
                                                     NULL, 1)),
                               1, 0));
    json_t *sparql = action("SPARQL semantic search (SELECT, ASK, CONSTRUCT, DESCRIBE)",
                            json_pack("[o,o]",
                                      form("search/sparql?query={query}", "GET", "invokeaction",
                                           NULL, 0),
                                      form("search/sparql", "POST", "invokeaction",
                                           "application/sparql-query", 0)),
                            0, 0);
    json_object_set_new(sparql, "uriVariables",
                        json_pack("{s:{s:s,s:s}}", "query", "title", "A SPARQL 1.1 query",
                                  "type", "string"));
    json_object_set_new(sparql, "safe", json_true());
    json_object_set_new(sparql, "idempotent", json_true());
    json_object_set_new(actions, "searchSPARQL", sparql);
    json_object_set_new(td, "actions", actions);

    json_object_set_new(
        td, "events",
        json_pack("{s:o,s:o,s:o}", "thingCreated",
                  event("Registration of Thing Descriptions", "events/thing_created{?diff}"),
                  "thingUpdated",
                  event("Updates to Thing Descriptions", "events/thing_updated{?diff}"),
                  "thingDeleted", event("Deletion of Thing Descriptions", "events/thing_deleted")));

    char *text = json_dumps(td, JSON_INDENT(2));
    json_decref(td);
    if (!text)
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    size_t len = strlen(text);
    char *body = realloc(text, len + 2);
    if (!body) {
        free(text);
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    }
    body[len] = '\n';
    return fleet_respond_steal(req, 200, "application/td+json", body, len + 1, NULL);
}

/* ---- housekeeping ------------------------------------------------------------------------ */

void fleet_things_tick(struct fleet_daemon *d)
{
    char **ids = NULL;
    if (!d->things)
        return;
    int synced = fleet_things_sync(d->things);
    if (synced > 0)
        fleet_log(FLEET_LOG_INFO, "thing index rebuilt from the store (%zu TDs): the store was "
                                  "written outside the registry",
                  fleet_things_count(d->things));
    else if (synced < 0)
        fleet_log(FLEET_LOG_ERR, "cannot rebuild the thing index (out of memory)");
    long n = fleet_things_purge(d->things, now_ms(), &ids);
    if (n < 0)
        fleet_log(FLEET_LOG_ERR, "cannot purge expired Thing Descriptions");
    for (long i = 0; i < n; i++)
        fleet_log(FLEET_LOG_NOTICE, "thing %s expired and was removed", ids[i]);
    fleet_strv_free(ids);
}
