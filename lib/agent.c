/* SPDX-License-Identifier: MIT */
/* See agent.h. One easy handle per exchange; the multi handle keeps the connection cache, so a
 * kept-alive connection to an agent is reused by the next exchange with it. */
#include "agent.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef PACKAGE_VERSION /* tests/fuzz/run.sh compiles lib/ without autoconfig.h */
#define PACKAGE_VERSION "unknown"
#endif

struct xfer {
    CURL *easy;
    struct curl_slist *headers;
    void *user;
    uint64_t max_bytes;
    int too_big;
    struct fleet_buf body;
    char errbuf[CURL_ERROR_SIZE];
    double t0;
    struct xfer *next; /* the client's list */
};

struct fleet_agent_client {
    CURLM *multi;
    struct xfer *running;
    size_t n_running;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum fleet_err fleet_agent_global_init(char *err, size_t errlen)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
        return FLEET_ERR_INTERNAL;
    }
    return FLEET_OK;
}

void fleet_agent_global_cleanup(void)
{
    curl_global_cleanup();
}

const char *fleet_agent_fault_name(enum fleet_agent_fault f)
{
    switch (f) {
    case FLEET_AGENT_OK:
        return "ok";
    case FLEET_AGENT_CONNECT:
        return "cannot connect";
    case FLEET_AGENT_TIMEOUT:
        return "timeout";
    case FLEET_AGENT_TOOBIG:
        return "reply too large";
    case FLEET_AGENT_PARTIAL:
        return "connection closed mid-reply";
    case FLEET_AGENT_TLS:
        return "TLS failure";
    case FLEET_AGENT_FAILED:
        return "failed";
    }
    return "failed";
}

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
    struct xfer *x = cls;
    size_t add = size * n;
    if (x->body.len + add > x->max_bytes) {
        x->too_big = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    fleet_buf_append(&x->body, p, add);
    return x->body.oom ? 0 : add;
}

static void xfer_free(struct xfer *x)
{
    if (!x)
        return;
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    fleet_buf_free(&x->body);
    free(x);
}

static struct xfer *xfer_new(const struct fleet_agent_request *req)
{
    struct xfer *x = calloc(1, sizeof(*x));
    char h[256];
    if (!x || !(x->easy = curl_easy_init())) {
        free(x);
        return NULL;
    }
    CURL *e = x->easy;
    x->user = req->user;
    x->max_bytes = req->max_bytes;
    x->t0 = mono_s();
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_bytes);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tinyfleetd/" PACKAGE_VERSION);
    x->headers = curl_slist_append(x->headers, "Expect:");
    if (req->accept) {
        snprintf(h, sizeof(h), "Accept: %s", req->accept);
        x->headers = curl_slist_append(x->headers, h);
    }
    if (req->method && strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
        snprintf(h, sizeof(h), "Content-Type: %s",
                 req->content_type ? req->content_type : "application/json");
        x->headers = curl_slist_append(x->headers, h);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    return x;
}

/* Fills resp from a finished transfer (takes the body). */
static void finish(struct xfer *x, CURLcode rc, struct fleet_agent_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->user = x->user;
    resp->secs = mono_s() - x->t0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &resp->status);
    const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OK:
        resp->fault = x->body.oom ? FLEET_AGENT_FAILED : FLEET_AGENT_OK;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        resp->fault = FLEET_AGENT_TIMEOUT;
        break;
    case CURLE_FILESIZE_EXCEEDED:
        resp->fault = FLEET_AGENT_TOOBIG;
        break;
    case CURLE_WRITE_ERROR:
        resp->fault = x->too_big ? FLEET_AGENT_TOOBIG : FLEET_AGENT_FAILED;
        break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
        resp->fault = FLEET_AGENT_PARTIAL;
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        resp->fault = FLEET_AGENT_CONNECT;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        resp->fault = FLEET_AGENT_TLS;
        break;
    default:
        resp->fault = FLEET_AGENT_FAILED;
        break;
    }
    if (resp->fault == FLEET_AGENT_TOOBIG)
        snprintf(resp->message, sizeof(resp->message), "reply too large: more than %llu bytes",
                 (unsigned long long)x->max_bytes);
    else if (resp->fault == FLEET_AGENT_OK && x->body.oom)
        snprintf(resp->message, sizeof(resp->message), "out of memory for the reply");
    else if (resp->fault != FLEET_AGENT_OK)
        snprintf(resp->message, sizeof(resp->message), "%s: %s",
                 fleet_agent_fault_name(resp->fault), detail);
    if (resp->fault == FLEET_AGENT_OK) {
        resp->body = x->body;
        memset(&x->body, 0, sizeof(x->body));
    }
}

void fleet_agent_fetch(const struct fleet_agent_request *req, struct fleet_agent_response *resp)
{
    struct xfer *x = xfer_new(req);
    if (!x) {
        memset(resp, 0, sizeof(*resp));
        resp->user = req->user;
        resp->fault = FLEET_AGENT_FAILED;
        snprintf(resp->message, sizeof(resp->message), "failed: out of memory");
        return;
    }
    CURLcode rc = curl_easy_perform(x->easy);
    finish(x, rc, resp);
    xfer_free(x);
}

struct fleet_agent_client *fleet_agent_client_new(void)
{
    struct fleet_agent_client *c = calloc(1, sizeof(*c));
    if (!c || !(c->multi = curl_multi_init())) {
        free(c);
        return NULL;
    }
    return c;
}

void fleet_agent_client_free(struct fleet_agent_client *c, void (*free_user)(void *user))
{
    if (!c)
        return;
    while (c->running) {
        struct xfer *x = c->running;
        c->running = x->next;
        curl_multi_remove_handle(c->multi, x->easy);
        if (free_user)
            free_user(x->user);
        xfer_free(x);
    }
    curl_multi_cleanup(c->multi);
    free(c);
}

enum fleet_err fleet_agent_client_add(struct fleet_agent_client *c,
                                      const struct fleet_agent_request *req)
{
    struct xfer *x = xfer_new(req);
    if (!x)
        return FLEET_ERR_NOMEM;
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        xfer_free(x);
        return FLEET_ERR_INTERNAL;
    }
    x->next = c->running;
    c->running = x;
    c->n_running++;
    return FLEET_OK;
}

void fleet_agent_client_wait(struct fleet_agent_client *c, long timeout_ms)
{
    int active;
    curl_multi_perform(c->multi, &active);
    curl_multi_poll(c->multi, NULL, 0, (int)(timeout_ms < 0 ? 0 : timeout_ms), NULL);
    curl_multi_perform(c->multi, &active);
}

int fleet_agent_client_take(struct fleet_agent_client *c, struct fleet_agent_response *resp)
{
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(c->multi, x->easy);
        for (struct xfer **pp = &c->running; *pp; pp = &(*pp)->next)
            if (*pp == x) {
                *pp = x->next;
                break;
            }
        c->n_running--;
        finish(x, rc, resp);
        xfer_free(x);
        return 1;
    }
    return 0;
}

size_t fleet_agent_client_running(const struct fleet_agent_client *c)
{
    return c->n_running;
}

void fleet_agent_client_wakeup(struct fleet_agent_client *c)
{
    curl_multi_wakeup(c->multi);
}
