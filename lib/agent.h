/* SPDX-License-Identifier: MIT */
/* Talking to device agents over HTTP(S) with libcurl; agent.c is the only file of lib/ and
 * daemon/ that includes <curl/curl.h>. What the bytes mean is agent_proto.h's business.
 *
 * Every request: http and https only (redirects are not followed), TLS peer and host verified,
 * a total time limit, a cap on the reply body (the transfer is aborted at the first byte past
 * it, whether or not the agent sent a Content-Length), no proxy for loopback addresses.
 *
 * libcurl's global state belongs to the daemon: fleet_agent_global_init() once before any
 * thread starts (raptor, under librdf, is told not to initialise or clean it up, see store.c),
 * fleet_agent_global_cleanup() at exit. */
#ifndef FLEET_AGENT_H
#define FLEET_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

enum fleet_err fleet_agent_global_init(char *err, size_t errlen);
void fleet_agent_global_cleanup(void);

struct fleet_agent_request {
    const char *method;       /* "GET" or "POST" */
    const char *url;          /* copied */
    const char *accept;       /* Accept header value, or NULL */
    const char *content_type; /* for POST */
    const char *body;         /* for POST, copied */
    size_t body_len;
    long timeout_ms;    /* the whole exchange */
    uint64_t max_bytes; /* reply body cap */
    void *user;         /* handed back with the response */
};

enum fleet_agent_fault {
    FLEET_AGENT_OK = 0,  /* an HTTP status arrived with the whole body (any status) */
    FLEET_AGENT_CONNECT, /* no connection (refused, unreachable, name not resolved) */
    FLEET_AGENT_TIMEOUT, /* the time limit passed */
    FLEET_AGENT_TOOBIG,  /* the body passed max_bytes */
    FLEET_AGENT_PARTIAL, /* the agent closed the connection mid-reply */
    FLEET_AGENT_TLS,     /* TLS handshake or certificate verification failed */
    FLEET_AGENT_FAILED,  /* anything else (a malformed reply, out of memory, ...) */
};

struct fleet_agent_response {
    void *user;
    enum fleet_agent_fault fault;
    long status;           /* HTTP status, 0 without one */
    struct fleet_buf body; /* owned; fleet_buf_free it */
    char message[320];     /* the fault, for logs and the agent's health */
    double secs;
};

/* Names a fault ("timeout", "reply too large", ...). */
const char *fleet_agent_fault_name(enum fleet_agent_fault f);

/* One blocking exchange (for a request handler: registering an agent). */
void fleet_agent_fetch(const struct fleet_agent_request *req, struct fleet_agent_response *resp);

/* Many exchanges at once on one thread (libcurl's multi interface). Not thread-safe except
 * fleet_agent_client_wakeup. */
struct fleet_agent_client;
struct fleet_agent_client *fleet_agent_client_new(void); /* NULL on ENOMEM */
/* Aborts what is in flight; free_user (may be NULL) is called with each one's user pointer.
 * NULL is a no-op. */
void fleet_agent_client_free(struct fleet_agent_client *c, void (*free_user)(void *user));
/* Starts an exchange. FLEET_ERR_NOMEM or FLEET_ERR_INTERNAL if it could not be started (then
 * there will be no response for it). */
enum fleet_err fleet_agent_client_add(struct fleet_agent_client *c,
                                      const struct fleet_agent_request *req);
/* Waits up to timeout_ms for network activity (or a wakeup) and moves the exchanges along. */
void fleet_agent_client_wait(struct fleet_agent_client *c, long timeout_ms);
/* Takes one finished exchange: returns 1 and fills resp, or 0 when none has finished. */
int fleet_agent_client_take(struct fleet_agent_client *c, struct fleet_agent_response *resp);
/* Number of exchanges in flight. */
size_t fleet_agent_client_running(const struct fleet_agent_client *c);
/* Makes a fleet_agent_client_wait in another thread return at once. */
void fleet_agent_client_wakeup(struct fleet_agent_client *c);

#endif
