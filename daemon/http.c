/* SPDX-License-Identifier: MIT */
/* libmicrohttpd glue: one thread per connection (a handler may wait for a query child for up to
 * query_timeout, and must not hold up other clients meanwhile), request state in *req_cls freed
 * in the completion callback, bodies collected in memory or spooled to a file with the
 * max_body_bytes limit enforced while they arrive, bearer-token checks before any body is read,
 * and one access-log line per request. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <nettle/sha2.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "routes.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- helpers ------------------------------------------------------------------------------ */

const char *fleet_req_header(struct fleet_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *fleet_req_arg(struct fleet_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct args_ctx {
    const char *name;
    const char **values;
    size_t max;
    size_t n;
    int present;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct args_ctx *a = cls;
    if (key && strcmp(key, a->name) == 0) {
        a->present = 1;
        if (a->n < a->max && a->values)
            a->values[a->n] = value ? value : "";
        a->n++;
    }
    return MHD_YES;
}

size_t fleet_req_args(struct fleet_req *req, const char *name, const char **values, size_t max)
{
    struct args_ctx a = {name, values, max, 0, 0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    return a.n;
}

int fleet_req_has_arg(struct fleet_req *req, const char *name)
{
    struct args_ctx a = {name, NULL, 0, 0, 0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    return a.present;
}

int fleet_http_status(enum fleet_err err)
{
    switch (err) {
    case FLEET_OK: return 200;
    case FLEET_ERR_INVAL: return 400;
    case FLEET_ERR_NOTFOUND: return 404;
    case FLEET_ERR_EXISTS: return 409;
    case FLEET_ERR_TOOBIG: return 413;
    case FLEET_ERR_TIMEOUT: return 503;
    case FLEET_ERR_UNSUPPORTED: return 501;
    case FLEET_ERR_NOTACCEPTABLE: return 406;
    case FLEET_ERR_FORBIDDEN: return 403;
    case FLEET_ERR_NOMEM: return 503;
    case FLEET_ERR_CRASH:
    case FLEET_ERR_IO:
    case FLEET_ERR_CORRUPT:
    case FLEET_ERR_INTERNAL: return 500;
    }
    return 500;
}

static void add_common_headers(struct fleet_req *req, struct MHD_Response *resp)
{
    if (req->cors_origin[0]) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", req->cors_origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "Location, Link, ETag, Content-Type");
        if (strcmp(req->cors_origin, "*") != 0)
            MHD_add_response_header(resp, "Vary", "Origin");
    }
}

/* ---- the response cache ------------------------------------------------------------------- */

static void cache_store(struct fleet_req *req, const char *content_type, const char *body,
                        size_t len, const char *const *headers)
{
    struct fleet_cache_answer a;
    memset(&a, 0, sizeof(a));
    a.status = 200;
    a.content_type = (char *)content_type;
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2) {
        if (i / 2 >= FLEET_CACHE_MAX_HEADERS)
            return; /* more headers than an entry keeps: not cached */
        a.headers[i] = (char *)headers[i];
        a.headers[i + 1] = (char *)headers[i + 1];
    }
    a.body = (char *)body;
    a.len = len;
    fleet_cache_put(req->d->cache, req->cache_key, req->cache_gen, &a);
}

struct arg_list {
    const char *kv[2 * 64]; /* MHD's strings, alive as long as the request */
    size_t n;
    int overflow;
};

static enum MHD_Result cache_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    struct arg_list *l = cls;
    (void)kind;
    if (l->n == 64) {
        l->overflow = 1;
        return MHD_NO;
    }
    l->kv[2 * l->n] = key;
    l->kv[2 * l->n + 1] = value ? value : "";
    l->n++;
    return MHD_YES;
}

static int arg_cmp(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    int c = strcmp(x[0], y[0]);
    return c ? c : strcmp(x[1], y[1]);
}

/* Appends s length-prefixed ("5:hello"): no value can forge another argument. */
static void put_counted(struct fleet_buf *k, const char *s)
{
    size_t n = strlen(s);
    char num[24];
    int w = snprintf(num, sizeof(num), "%zu:", n);
    fleet_buf_append(k, num, (size_t)w);
    fleet_buf_append(k, s, n);
}

/* 1 if a SPARQL query's answer may change without a write: functions that read the clock or
 * make up values, and SERVICE. Conservative: a match in a string literal counts too. Runs on
 * every cache miss of a query, so it looks at the first letter before comparing words. */
static int sparql_volatile(const char *q)
{
    static const char *const words[] = {"NOW", "RAND", "UUID", "STRUUID", "BNODE", "SERVICE"};
    for (const char *p = q; *p; p++) {
        switch (*p | 0x20) {
        case 'n': case 'r': case 'u': case 's': case 'b':
            break;
        default:
            continue;
        }
        if (p != q && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == ':' ||
                       p[-1] == '?' || p[-1] == '$'))
            continue;
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
            size_t n = strlen(words[i]);
            if (strncasecmp(p, words[i], n) == 0 &&
                !(isalnum((unsigned char)p[n]) || p[n] == '_'))
                return 1;
        }
    }
    return 0;
}

/* The cache key of a GET: path, Accept and the sorted query arguments; NULL if the request
 * has more arguments than a key takes. On every hit, so no formatting beyond lengths. */
static char *cache_key(struct fleet_req *req)
{
    struct arg_list l;
    l.n = 0;
    l.overflow = 0;
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, cache_collect_arg, &l);
    if (l.overflow)
        return NULL;
    qsort(l.kv, l.n, 2 * sizeof(l.kv[0]), arg_cmp);
    struct fleet_buf k = FLEET_BUF_INIT;
    const char *accept = fleet_req_header(req, MHD_HTTP_HEADER_ACCEPT);
    put_counted(&k, req->path);
    put_counted(&k, accept ? accept : "");
    for (size_t i = 0; i < 2 * l.n; i++)
        put_counted(&k, l.kv[i]);
    if (k.oom) {
        fleet_buf_free(&k);
        return NULL;
    }
    size_t len;
    return fleet_buf_steal(&k, &len);
}

int fleet_cacheable_always(struct fleet_req *req)
{
    (void)req;
    return 1;
}

/* Answers req from the cache if it can (returns 1 with *r set), else arms req->cache_key so that
 * the handler's 200 is stored (returns 0). */
static int cache_lookup(struct fleet_req *req, int *r)
{
    struct fleet_daemon *d = req->d;
    if (!d->cache || !req->route->cacheable || !req->route->cacheable(req) ||
        (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) ||
        req->body.len || req->body_len)
        return 0;
    char *key = cache_key(req);
    if (!key)
        return 0;
    /* Read before the handler runs: a write meanwhile makes this entry stale, never wrong. */
    uint64_t gen = fleet_store_generation(d->store);
    struct fleet_cache_answer a;
    int hit = fleet_cache_get(d->cache, key, gen, &a);
    if (hit != 1) {
        /* A volatile query is never stored, so a hit needs no such check: only a miss. */
        const char *q = fleet_req_arg(req, "query");
        if (q && sparql_volatile(q)) {
            free(key);
            return 0;
        }
        req->cache_key = key;
        req->cache_gen = gen;
        return 0;
    }
    free(key);
    const char *h[2 * FLEET_CACHE_MAX_HEADERS + 1];
    size_t n = 0;
    for (; n < 2 * FLEET_CACHE_MAX_HEADERS && a.headers[n]; n++)
        h[n] = a.headers[n];
    h[n] = NULL;
    *r = fleet_respond_steal(req, a.status, a.content_type, a.body, a.len, h);
    a.body = NULL; /* the response owns it */
    fleet_cache_answer_free(&a);
    return 1;
}

int fleet_respond_steal(struct fleet_req *req, int status, const char *content_type, char *body,
                        size_t len, const char *const *headers)
{
    struct MHD_Response *resp;
    if (body)
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    add_common_headers(req, resp);
    if (req->cache_key && status == 200)
        cache_store(req, content_type, body, len, headers);
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    req->responded = 1;
    req->status = status;
    req->resp_bytes = len;
    return r;
}

int fleet_respond(struct fleet_req *req, int status, const char *content_type, const void *body,
                  size_t len, const char *const *headers)
{
    char *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return MHD_NO;
        memcpy(copy, body, len);
    }
    return fleet_respond_steal(req, status, content_type, copy, len, headers);
}

static void json_escape(struct fleet_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fleet_buf_putc(b, '\\');
            fleet_buf_putc(b, (char)c);
        } else if (c < 0x20) {
            fleet_buf_printf(b, "\\u%04x", c);
        } else {
            fleet_buf_putc(b, (char)c);
        }
    }
}

static const char *status_title(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    }
    return "Error";
}

int fleet_respond_fd(struct fleet_req *req, int status, const char *content_type, int fd,
                     uint64_t size, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    add_common_headers(req, resp);
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    req->responded = 1;
    req->status = status;
    req->resp_bytes = (size_t)size;
    return r;
}

int fleet_respond_reader(struct fleet_req *req, int status, const char *content_type,
                         size_t block_size, fleet_body_reader reader, void *cls,
                         void (*free_cls)(void *cls), const char *const *headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block_size, reader, cls, free_cls);
    if (!resp) {
        free_cls(cls);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    add_common_headers(req, resp);
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp); /* calls free_cls if the queueing failed */
    req->responded = 1;
    req->status = status;
    req->resp_bytes = 0; /* the reader counts */
    return r;
}

int fleet_problem(struct fleet_req *req, int status, const char *slug, const char *detail,
                  const char *field)
{
    return fleet_problem_ext(req, status, slug, detail, field, NULL);
}

int fleet_problem_ext(struct fleet_req *req, int status, const char *slug, const char *detail,
                      const char *field, const char *extra)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    fleet_buf_printf(&b, "{\"type\":\"https://tinyfleet.dev/problems/%s\",\"title\":\"%s\","
                         "\"status\":%d",
                     slug, status_title(status), status);
    if (detail) {
        fleet_buf_puts(&b, ",\"detail\":\"");
        json_escape(&b, detail);
        fleet_buf_putc(&b, '"');
    }
    if (field) {
        fleet_buf_puts(&b, ",\"field\":\"");
        json_escape(&b, field);
        fleet_buf_putc(&b, '"');
    }
    if (extra && extra[0]) {
        fleet_buf_putc(&b, ',');
        fleet_buf_puts(&b, extra);
    }
    fleet_buf_puts(&b, ",\"instance\":\"");
    json_escape(&b, req->path ? req->path : "");
    fleet_buf_puts(&b, "\"}\n");
    size_t len = 0;
    char *body = fleet_buf_steal(&b, &len);
    if (!body)
        return MHD_NO;
    const char *hdrs[5] = {NULL};
    char allow[256];
    size_t k = 0;
    if (status == 401) {
        hdrs[k++] = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        hdrs[k++] = "Bearer realm=\"tinyfleet\"";
    } else if (status == 405 && (req->allow || req->route)) {
        /* Allow is a comma-separated list (RFC 9110 10.2.1); the route table separates by spaces. */
        size_t n = 0;
        for (const char *m = req->allow ? req->allow : req->route->methods;
             *m && n + 3 < sizeof(allow); m++) {
            if (*m == ' ' && !req->allow) {
                allow[n++] = ',';
                allow[n++] = ' ';
            } else {
                allow[n++] = *m;
            }
        }
        allow[n] = '\0';
        hdrs[k++] = MHD_HTTP_HEADER_ALLOW;
        hdrs[k++] = allow;
    }
    return fleet_respond_steal(req, status, "application/problem+json", body, len, hdrs);
}

/* ---- forms and UTF-8 ------------------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char *form_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t k = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[k++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < len + 0 || i + 2 == len - 0 ? -1 : -1;
            (void)hi;
            if (i + 2 >= len + 1 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
                free(out);
                return NULL;
            }
            out[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return out;
}

int fleet_form_parse(const char *data, size_t len, struct fleet_form *form)
{
    memset(form, 0, sizeof(*form));
    size_t cap = 0, i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && data[j] != '&')
            j++;
        if (j > i) {
            size_t eq = i;
            while (eq < j && data[eq] != '=')
                eq++;
            if (form->n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                char **k = realloc(form->keys, nc * sizeof(*k));
                if (!k)
                    goto fail;
                form->keys = k;
                char **v = realloc(form->values, nc * sizeof(*v));
                if (!v)
                    goto fail;
                form->values = v;
                cap = nc;
            }
            char *key = form_decode(data + i, eq - i);
            char *val = eq < j ? form_decode(data + eq + 1, j - eq - 1) : form_decode("", 0);
            if (!key || !val) {
                free(key);
                free(val);
                goto fail;
            }
            form->keys[form->n] = key;
            form->values[form->n] = val;
            form->n++;
        }
        i = j + 1;
    }
    return 0;
fail:
    fleet_form_free(form);
    return -1;
}

void fleet_form_free(struct fleet_form *form)
{
    for (size_t i = 0; i < form->n; i++) {
        free(form->keys[i]);
        free(form->values[i]);
    }
    free(form->keys);
    free(form->values);
    memset(form, 0, sizeof(*form));
}

size_t fleet_form_get(const struct fleet_form *form, const char *key, const char **first)
{
    size_t n = 0;
    if (first)
        *first = NULL;
    for (size_t i = 0; i < form->n; i++) {
        if (strcmp(form->keys[i], key) == 0) {
            if (n == 0 && first)
                *first = form->values[i];
            n++;
        }
    }
    return n;
}

int fleet_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            if (c == 0)
                return 0;
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + n >= len + 0 && i + n > len - 1 + 1)
            return 0;
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* ---- request lifecycle ------------------------------------------------------------------------ */

static const struct fleet_route *find_route(const char *path)
{
    for (size_t i = 0; i < fleet_nroutes; i++) {
        const struct fleet_route *r = &fleet_routes[i];
        if (r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0)
            return r;
    }
    return NULL;
}

static int method_allowed(const struct fleet_route *r, const char *method)
{
    size_t n = strlen(method);
    const char *p = r->methods;
    while ((p = strstr(p, method))) {
        if ((p == r->methods || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

static void free_req(struct fleet_req *req)
{
    if (req->body_fd >= 0)
        close(req->body_fd);
    if (req->body_path[0])
        unlink(req->body_path);
    fleet_buf_free(&req->body);
    free(req->cache_key);
    free(req);
}

/* Requests between their first access_handler call and completed(): what a graceful stop waits
 * for (idle keep-alive connections are not requests and do not hold it up). */
static long active_requests;

static int route_index(const struct fleet_req *req)
{
    return req->route ? (int)(req->route - fleet_routes) : FLEET_METRICS_NO_ROUTE;
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct fleet_req *req = *req_cls;
    if (!req)
        return;
    double ms = now_ms() - req->t0;
    int ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    /* The path only: no query string, header, token or body is ever logged. */
    fleet_log(FLEET_LOG_INFO, "%s %s %d %zu %.1fms%s", req->method, req->path, req->status,
              req->resp_bytes, ms, ok ? "" : " (aborted)");
    fleet_metrics_request_end(route_index(req), req->method, req->status, ms / 1000.0, ok);
    __atomic_sub_fetch(&active_requests, 1, __ATOMIC_RELEASE);
    free_req(req);
    *req_cls = NULL;
}

static int method_takes_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

/* First call for a request: route, authorise, check the declared length. Returns MHD_YES to
 * go on reading the body, or the result of queueing an early error. */
static int begin(struct fleet_req *req)
{
    struct fleet_daemon *d = req->d;
    const char *auth = fleet_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *token = auth ? fleet_bearer_token(auth) : NULL;
    int require_read;

    if (token) {
        /* Who made a change, for records such as deployments: a fingerprint, never the token. */
        struct sha256_ctx h;
        uint8_t digest[SHA256_DIGEST_SIZE];
        sha256_init(&h);
        sha256_update(&h, strlen(token), (const uint8_t *)token);
        sha256_digest(&h, sizeof(digest), digest);
        int n = snprintf(req->token_id, sizeof(req->token_id), "sha256:");
        for (int i = 0; i < 6; i++)
            n += snprintf(req->token_id + n, sizeof(req->token_id) - (size_t)n, "%02x", digest[i]);
    }
    pthread_rwlock_rdlock(&d->cfg_lock);
    req->scopes = fleet_tokens_scopes(d->tokens, token);
    req->max_body = d->cfg.max_body_bytes;
    req->query_timeout_ms = d->cfg.query_timeout_ms;
    req->max_result_rows = d->cfg.max_result_rows;
    snprintf(req->cors_origin, sizeof(req->cors_origin), "%s", d->cfg.cors_origin);
    require_read = d->cfg.require_read_token;
    pthread_rwlock_unlock(&d->cfg_lock);
    req->has_token = auth != NULL;

    req->route = find_route(req->path);
    if (!req->route)
        return fleet_problem(req, 404, "not-found", "no such resource", NULL);
    if (strcmp(req->method, "OPTIONS") == 0 && req->cors_origin[0]) {
        const char *h[] = {"Access-Control-Allow-Methods", req->route->methods,
                           "Access-Control-Allow-Headers", "Authorization, Content-Type, Accept",
                           "Access-Control-Max-Age", "600", NULL};
        return fleet_respond(req, 204, NULL, NULL, 0, h);
    }
    if (!method_allowed(req->route, req->method))
        return fleet_problem(req, 405, "method-not-allowed",
                             "this resource does not support the method", NULL);

    int reading = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    unsigned need = reading ? req->route->read_scope : req->route->write_scope;
    if (need == FLEET_SCOPE_READ && !require_read)
        need = FLEET_SCOPE_NONE;
    if (need != FLEET_SCOPE_NONE && !(req->scopes & need)) {
        if (!token || req->scopes == FLEET_SCOPE_NONE)
            return fleet_problem(req, 401, "unauthorized",
                                 token ? "the bearer token is not valid"
                                       : "this request needs an Authorization: Bearer token",
                                 "Authorization");
        return fleet_problem(req, 403, "forbidden", "the token lacks the scope this request needs",
                             "Authorization");
    }

    const char *cl = fleet_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && n > req->max_body) {
            char msg[160];
            snprintf(msg, sizeof(msg), "the body is larger than max_body_bytes (%llu bytes)",
                     (unsigned long long)req->max_body);
            return fleet_problem(req, 413, "body-too-large", msg, "Content-Length");
        }
    }
    /* Only a method with a body gets a spool file: a GET of a FILE route (the model registry's
     * reads) must not create and unlink a file per request. */
    if (req->route->body == FLEET_BODY_FILE && method_takes_body(req->method)) {
        snprintf(req->body_path, sizeof(req->body_path), "%s/upload.XXXXXX", d->tmp_dir);
        req->body_fd = mkstemp(req->body_path);
        if (req->body_fd < 0) {
            fleet_log(FLEET_LOG_ERR, "cannot create %s: %s", req->body_path, strerror(errno));
            req->body_path[0] = '\0';
            return fleet_problem(req, 500, "internal", "cannot spool the request body", NULL);
        }
    }
    return MHD_YES;
}

static int take_body(struct fleet_req *req, const char *data, size_t len)
{
    if (req->body_too_big)
        return MHD_YES;
    if (req->body_len + len > req->max_body) {
        req->body_too_big = 1;
        return MHD_YES;
    }
    req->body_len += len;
    if (req->route->body == FLEET_BODY_FILE) {
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(req->body_fd, data + off, len - off);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                fleet_log(FLEET_LOG_ERR, "spooling upload: %s", strerror(errno));
                return MHD_NO;
            }
            off += (size_t)w;
        }
    } else {
        fleet_buf_append(&req->body, data, len);
        if (req->body.oom)
            return MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **req_cls)
{
    struct fleet_req *req = *req_cls;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->d = cls;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->body_fd = -1;
        req->t0 = now_ms();
        req->status = 0;
        *req_cls = req;
        __atomic_add_fetch(&active_requests, 1, __ATOMIC_ACQUIRE);
        int r = begin(req);
        fleet_metrics_request_begin(route_index(req));
        return (enum MHD_Result)r;
    }
    if (req->responded) {
        *upload_data_size = 0; /* discard the body of a refused request */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (req->route->body == FLEET_BODY_NONE ||
            (req->route->body == FLEET_BODY_FILE && req->body_fd < 0)) {
            *upload_data_size = 0;
            req->body_too_big = 2;
            return MHD_YES;
        }
        int r = take_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return (enum MHD_Result)r;
    }
    if (req->body_too_big == 2)
        return (enum MHD_Result)fleet_problem(req, 400, "unexpected-body",
                                              "this request takes no body", NULL);
    if (req->body_too_big) {
        char msg[160];
        snprintf(msg, sizeof(msg), "the body is larger than max_body_bytes (%llu bytes)",
                 (unsigned long long)req->max_body);
        return (enum MHD_Result)fleet_problem(req, 413, "body-too-large", msg, NULL);
    }
    if (req->body_fd >= 0 && lseek(req->body_fd, 0, SEEK_SET) < 0)
        return MHD_NO;
    int r;
    if (cache_lookup(req, &r))
        return (enum MHD_Result)r;
    r = req->route->handler(req);
    if (!req->responded && r == MHD_YES)
        r = fleet_problem(req, 500, "internal", "the handler sent no response", NULL);
    return (enum MHD_Result)r;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    fleet_log(FLEET_LOG_WARNING, "http: %s", line);
}

int fleet_http_start(struct fleet_daemon *d, char *err, size_t errlen)
{
    char host[256];
    unsigned port;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (fleet_config_listen(&d->cfg, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "listen: cannot parse '%s'", d->cfg.listen);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "listen: '%s' is not a numeric IPv4 or IPv6 address", host);
        return -1;
    }
    /* The logger goes first so that MHD's own start-up messages reach it. */
    d->mhd = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, access_handler, d, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_logger, d, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, completed, d,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)d->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!d->mhd) {
        snprintf(err, errlen, "cannot listen on %s: %s", d->cfg.listen,
                 errno ? strerror(errno) : "libmicrohttpd failed to start");
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
    d->port = info ? info->port : port;
    return 0;
}

void fleet_http_stop(struct fleet_daemon *d, long timeout_ms)
{
    if (!d->mhd)
        return;
    MHD_quiesce_daemon(d->mhd);
    double deadline = now_ms() + (double)timeout_ms;
    for (;;) {
        long active = __atomic_load_n(&active_requests, __ATOMIC_ACQUIRE);
        if (active == 0)
            break;
        if (now_ms() >= deadline) {
            fleet_log(FLEET_LOG_WARNING,
                      "shutdown_timeout passed with %ld request(s) in flight; closing them", active);
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(d->mhd);
    d->mhd = NULL;
}
