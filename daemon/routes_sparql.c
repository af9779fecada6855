/* SPDX-License-Identifier: MIT */
/* /sparql: the SPARQL 1.1 Protocol. Queries by GET ?query=, POST form (query=) or POST
 * application/sparql-query; updates by POST form (update=) or application/sparql-update, with a
 * write token. The dataset parameters (default-graph-uri, named-graph-uri, using-graph-uri,
 * using-named-graph-uri) come from the query string, or from the form body for form posts. */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "conneg.h"
#include "routes.h"

#define MAX_GRAPH_PARAMS 256

struct params {
    const char *query;
    const char *update;
    size_t n_query, n_update;
    const char *dflt[MAX_GRAPH_PARAMS], *named[MAX_GRAPH_PARAMS];
    size_t n_dflt, n_named;
};

static void graphs_from_form(const struct fleet_form *f, const char *key, const char **out,
                             size_t *n)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->keys[i], key) == 0) {
            if (*n < MAX_GRAPH_PARAMS)
                out[*n] = f->values[i];
            (*n)++;
        }
}

/* Only UTF-8 is accepted (SPARQL 1.1 Protocol 2.1.2 / 2.2.2). */
static int charset_ok(const char *ctype)
{
    char cs[32];
    if (!fleet_media_type_param(ctype, "charset", cs, sizeof(cs)))
        return 1;
    return strcmp(cs, "utf-8") == 0 || strcmp(cs, "utf8") == 0 || strcmp(cs, "us-ascii") == 0;
}

static int run_query(struct fleet_req *req, const char *text, struct params *p, int is_update)
{
    struct fleet_answer ans;
    enum fleet_err rc;
    const char *base = "http://127.0.0.1/sparql";
    memset(&ans, 0, sizeof(ans));
    if (p->n_dflt > MAX_GRAPH_PARAMS || p->n_named > MAX_GRAPH_PARAMS)
        return fleet_problem(req, 400, "too-many-graphs", "at most 256 graph parameters",
                             is_update ? "using-graph-uri" : "default-graph-uri");
    if (!fleet_utf8_valid(text, strlen(text)))
        return fleet_problem(req, 400, "bad-encoding", "the request is not valid UTF-8",
                             is_update ? "update" : "query");
    if (is_update) {
        if (!(req->scopes & FLEET_SCOPE_WRITE))
            return fleet_problem(req, req->has_token ? 403 : 401,
                                 req->has_token ? "forbidden" : "unauthorized",
                                 "SPARQL Update needs a bearer token with scope write",
                                 "Authorization");
        struct fleet_update u = {text, base, p->dflt, p->n_dflt, p->named, p->n_named,
                                 req->query_timeout_ms};
        rc = fleet_store_update(req->d->store, &u, &ans);
        if (rc == FLEET_OK) {
            fleet_buf_free(&ans.body);
            return fleet_respond(req, 204, NULL, NULL, 0, NULL);
        }
    } else {
        struct fleet_query q = {text,      base,       p->dflt,
                                p->n_dflt, p->named,   p->n_named,
                                fleet_req_header(req, MHD_HTTP_HEADER_ACCEPT),
                                req->query_timeout_ms, req->max_result_rows, 0};
        rc = fleet_store_query(req->d->store, &q, &ans);
        if (rc == FLEET_OK) {
            size_t len = 0;
            char *body = fleet_buf_steal(&ans.body, &len);
            const char *h[] = {MHD_HTTP_HEADER_VARY, "Accept", NULL};
            return fleet_respond_steal(req, 200, ans.content_type, body, len, h);
        }
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
    return fleet_problem(req, status, slug, ans.message, is_update ? "update" : "query");
}

int fleet_route_sparql(struct fleet_req *req)
{
    struct params p;
    struct fleet_form form = {0};
    const char *ctype = fleet_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    int is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    int r;
    memset(&p, 0, sizeof(p));

    if (is_get) {
        if (fleet_req_has_arg(req, "update"))
            return fleet_problem(req, 400, "update-by-get",
                                 "SPARQL Update must be sent with POST", "update");
        p.n_query = fleet_req_args(req, "query", &p.query, 1);
        p.n_dflt = fleet_req_args(req, "default-graph-uri", p.dflt, MAX_GRAPH_PARAMS);
        p.n_named = fleet_req_args(req, "named-graph-uri", p.named, MAX_GRAPH_PARAMS);
        if (p.n_query != 1)
            return fleet_problem(req, 400, "missing-query",
                                 p.n_query ? "exactly one query parameter is allowed"
                                           : "a query parameter is required",
                                 "query");
        return run_query(req, p.query, &p, 0);
    }

    /* POST */
    if (!ctype)
        return fleet_problem(req, 415, "missing-content-type",
                             "POST needs Content-Type application/x-www-form-urlencoded, "
                             "application/sparql-query or application/sparql-update",
                             "Content-Type");
    if (!charset_ok(ctype))
        return fleet_problem(req, 415, "bad-charset", "only UTF-8 is accepted", "Content-Type");
    const char *body = req->body.data ? req->body.data : "";
    if (fleet_media_type_is(ctype, "application/x-www-form-urlencoded")) {
        if (fleet_form_parse(body, req->body.len, &form) != 0)
            return fleet_problem(req, 400, "malformed-form", "malformed form encoding", NULL);
        p.n_query = fleet_form_get(&form, "query", &p.query);
        p.n_update = fleet_form_get(&form, "update", &p.update);
        if (p.n_query + p.n_update != 1) {
            r = fleet_problem(req, 400, "missing-query",
                              p.n_query + p.n_update ? "exactly one query or update is allowed"
                                                     : "a query or update parameter is required",
                              p.n_update ? "update" : "query");
            goto out;
        }
        if (p.n_query) {
            graphs_from_form(&form, "default-graph-uri", p.dflt, &p.n_dflt);
            graphs_from_form(&form, "named-graph-uri", p.named, &p.n_named);
        } else {
            graphs_from_form(&form, "using-graph-uri", p.dflt, &p.n_dflt);
            graphs_from_form(&form, "using-named-graph-uri", p.named, &p.n_named);
        }
        r = run_query(req, p.n_query ? p.query : p.update, &p, p.n_update > 0);
        goto out;
    }
    int is_query = fleet_media_type_is(ctype, "application/sparql-query");
    int is_update = fleet_media_type_is(ctype, "application/sparql-update");
    if (!is_query && !is_update)
        return fleet_problem(req, 415, "unsupported-media-type",
                             "POST needs Content-Type application/x-www-form-urlencoded, "
                             "application/sparql-query or application/sparql-update",
                             "Content-Type");
    if (fleet_req_has_arg(req, "query") || fleet_req_has_arg(req, "update"))
        return fleet_problem(req, 400, "ambiguous-request",
                             "a direct POST carries the operation in the body only",
                             is_query ? "query" : "update");
    if (is_query) {
        p.n_dflt = fleet_req_args(req, "default-graph-uri", p.dflt, MAX_GRAPH_PARAMS);
        p.n_named = fleet_req_args(req, "named-graph-uri", p.named, MAX_GRAPH_PARAMS);
    } else {
        p.n_dflt = fleet_req_args(req, "using-graph-uri", p.dflt, MAX_GRAPH_PARAMS);
        p.n_named = fleet_req_args(req, "using-named-graph-uri", p.named, MAX_GRAPH_PARAMS);
    }
    r = run_query(req, body, &p, is_update);
out:
    fleet_form_free(&form);
    return r;
}
