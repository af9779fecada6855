/* SPDX-License-Identifier: MIT */
/* The HTTP layer of tinyfleetd over libmicrohttpd: request state, body collection (in memory
 * or spooled to a file), bearer-token checks, routing to routes_*.c, responses and RFC 7807
 * problem bodies. Only http*.c and routes_*.c include <microhttpd.h>. */
#ifndef FLEET_HTTP_H
#define FLEET_HTTP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "buf.h"
#include "cache.h"
#include "config.h"
#include "err.h"
#include "events.h"
#include "match.h"
#include "model_graph.h"
#include "store.h"
#include "templates.h"

struct MHD_Connection;
struct fleet_things;
struct fleet_poller;
struct MHD_Daemon;

/* What the daemon shares with every request. cfg and tokens are swapped on SIGHUP under
 * cfg_lock; a request copies what it needs while holding the read lock. */
struct fleet_daemon {
    struct fleet_store *store;
    pthread_rwlock_t cfg_lock;
    struct fleet_config cfg;
    struct fleet_tokens *tokens;
    struct MHD_Daemon *mhd;
    unsigned port;
    char tmp_dir[FLEET_PATH_MAX]; /* uploads are spooled here */
    char models_dir[FLEET_PATH_MAX]; /* the uploaded .tflite files, by sha256 (blobs.h) */
    struct fleet_vocab vocab;      /* closed lists and code tables from the ontology */
    struct fleet_templates *templates; /* sparql/<name>.rq */
    struct fleet_match *match;         /* model/board verdicts (lib/match.h) */
    struct fleet_cache *cache;         /* answers of cacheable GETs (lib/cache.h); NULL: off */
    struct fleet_events *events;       /* the Thing notification log (routes_events.c) */
    struct fleet_things *things;       /* the Thing registry (routes_things.c, lib/things.h) */
    struct fleet_poller *poller;       /* device agents and benchmark jobs (poller.h) */
};

enum fleet_body_mode {
    FLEET_BODY_NONE,   /* the route takes no body (a body is refused) */
    FLEET_BODY_MEMORY, /* collected into req->body (max_body_bytes) */
    FLEET_BODY_FILE,   /* spooled to req->body_path (max_body_bytes) */
};

/* One request. Lives from the first access-handler call to MHD's completion callback. */
struct fleet_req {
    struct fleet_daemon *d;
    struct MHD_Connection *conn;
    const char *method;     /* borrowed from MHD */
    const char *path;       /* borrowed from MHD, without the query string */
    const struct fleet_route *route;
    const char *allow;      /* a 405's Allow header when the route's methods do not all apply
                               to this resource (e.g. "GET, HEAD, POST"); NULL: the route's */
    unsigned scopes;        /* granted by the bearer token */
    int has_token;
    char token_id[24];      /* "sha256:" + 12 hex digits of the bearer token, "" without one */
    struct fleet_buf body;  /* FLEET_BODY_MEMORY */
    int body_fd;            /* FLEET_BODY_FILE, -1 otherwise */
    char body_path[FLEET_PATH_MAX + 32];
    uint64_t body_len;
    uint64_t max_body;      /* copied from the config at the start */
    int body_too_big;
    int responded;
    int status;             /* for the access log */
    size_t resp_bytes;
    double t0;
    /* Config values a handler may need, copied at the start of the request. */
    long query_timeout_ms;
    uint64_t max_result_rows;
    char cors_origin[512];
    char *cache_key;        /* set on a cache miss: the answer is stored under it (owned) */
    uint64_t cache_gen;     /* the store generation read before the handler ran */
};

typedef int (*fleet_handler)(struct fleet_req *req);

struct fleet_route {
    const char *path;       /* exact path, or a prefix ending in '/' when prefix is set */
    int prefix;
    const char *methods;    /* e.g. "GET HEAD POST" (the Allow header) */
    enum fleet_body_mode body;
    unsigned read_scope;    /* scope needed for GET/HEAD, FLEET_SCOPE_READ or NONE */
    unsigned write_scope;   /* scope needed for other methods */
    fleet_handler handler;
    /* Whether a GET may be answered from the response cache (lib/cache.h): only where the
     * answer depends on the store and the request alone. NULL: never; fleet_cacheable_always;
     * or a route's own test of the request (the Thing directory caches matches, not TDs). */
    int (*cacheable)(struct fleet_req *req);
};

int fleet_cacheable_always(struct fleet_req *req);

/* Starts libmicrohttpd on cfg.listen. Returns -1 with a message. */
int fleet_http_start(struct fleet_daemon *d, char *err, size_t errlen);
/* Stops accepting, waits up to timeout_ms for in-flight requests, stops. */
void fleet_http_stop(struct fleet_daemon *d, long timeout_ms);

/* ---- helpers for routes ---- */

/* A request header, or NULL. */
const char *fleet_req_header(struct fleet_req *req, const char *name);
/* A query-string argument (first occurrence), or NULL. */
const char *fleet_req_arg(struct fleet_req *req, const char *name);
/* Every value of a query-string argument; returns the count (values borrowed from MHD, at most
 * max stored). */
size_t fleet_req_args(struct fleet_req *req, const char *name, const char **values, size_t max);
/* 1 if the query string contains key (with or without a value). */
int fleet_req_has_arg(struct fleet_req *req, const char *name);

/* Queues a response; body copied. Extra headers as NULL-terminated name/value pairs. */
int fleet_respond(struct fleet_req *req, int status, const char *content_type, const void *body,
                  size_t len, const char *const *headers);
/* Queues a response taking ownership of body (malloc'd). */
int fleet_respond_steal(struct fleet_req *req, int status, const char *content_type, char *body,
                        size_t len, const char *const *headers);
/* Queues a response that streams size bytes of the open file fd (the response takes fd). */
int fleet_respond_fd(struct fleet_req *req, int status, const char *content_type, int fd,
                     uint64_t size, const char *const *headers);
/* Queues a response of unknown length whose body reader produces as it goes (chunked), e.g. an
 * SSE stream. reader has libmicrohttpd's MHD_ContentReaderCallback signature and may block (one
 * thread per connection); it runs only while req is alive. free_cls(cls) is called exactly once,
 * when the response is done, the client went away, or queueing failed. */
typedef ssize_t (*fleet_body_reader)(void *cls, uint64_t pos, char *buf, size_t max);
int fleet_respond_reader(struct fleet_req *req, int status, const char *content_type,
                         size_t block_size, fleet_body_reader reader, void *cls,
                         void (*free_cls)(void *cls), const char *const *headers);
/* RFC 7807 application/problem+json: type slug, title from the status, detail, and the name of
 * the offending field or parameter (NULL if none). */
int fleet_problem(struct fleet_req *req, int status, const char *slug, const char *detail,
                  const char *field);
/* The same with extra members: extra is a JSON object text without braces (e.g.
 * "\"id\":\"abc\""), appended verbatim, or NULL. */
int fleet_problem_ext(struct fleet_req *req, int status, const char *slug, const char *detail,
                      const char *field, const char *extra);
/* Maps a library error to an HTTP status. */
int fleet_http_status(enum fleet_err err);

/* Decodes application/x-www-form-urlencoded data into key/value pairs (new strings, freed with
 * fleet_form_free). Returns -1 on malformed percent-encoding. */
struct fleet_form {
    char **keys;
    char **values;
    size_t n;
};
int fleet_form_parse(const char *data, size_t len, struct fleet_form *form);
void fleet_form_free(struct fleet_form *form);
/* Number of values of key; *first gets the first (borrowed) or NULL. */
size_t fleet_form_get(const struct fleet_form *form, const char *key, const char **first);

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int fleet_utf8_valid(const char *s, size_t len);

#endif
