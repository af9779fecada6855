/* SPDX-License-Identifier: MIT */
/* /data: the SPARQL 1.1 Graph Store HTTP Protocol, indirect identification: ?default for the
 * store's own unnamed graph, ?graph=IRI for a named graph. GET/HEAD serialise by Accept; PUT
 * replaces, POST adds, DELETE drops. Bodies are spooled to a file by http.c while they arrive,
 * parsed completely, and committed in one durable transaction, so a bad document stores
 * nothing. */
#include <ctype.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conneg.h"
#include "log.h"
#include "routes.h"

/* An absolute IRI without characters IRIs exclude (RFC 3987). */
static int iri_ok(const char *s)
{
    const char *p = s;
    if (!isalpha((unsigned char)*p))
        return 0;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':')
        return 0;
    for (p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == '<' || c == '>' || c == '"' || c == '{' || c == '}' || c == '|' ||
            c == '\\' || c == '^' || c == '`' || c == 0x7f)
            return 0;
    }
    return p - s < 4096;
}

static const char *const rdf_offers[] = {"text/turtle", "application/n-triples",
                                         "application/rdf+xml", "application/n-quads",
                                         "application/trig"};
static const enum fleet_rdf_syntax rdf_offer_syn[] = {FLEET_RDF_TURTLE, FLEET_RDF_NTRIPLES,
                                                      FLEET_RDF_RDFXML, FLEET_RDF_NQUADS,
                                                      FLEET_RDF_TRIG};

int fleet_route_data(struct fleet_req *req)
{
    const char *graph = NULL;
    const char *vals[2];
    int is_default = fleet_req_has_arg(req, "default");
    size_t ng = fleet_req_args(req, "graph", vals, 2);
    if (is_default == (ng > 0))
        return fleet_problem(req, 400, "graph-required",
                             "name exactly one graph: ?default or ?graph=IRI", "graph");
    if (ng > 1)
        return fleet_problem(req, 400, "graph-required", "only one graph parameter is allowed",
                             "graph");
    if (ng) {
        graph = vals[0];
        if (!iri_ok(graph))
            return fleet_problem(req, 400, "bad-graph-iri", "graph must be an absolute IRI",
                                 "graph");
    }
    struct fleet_store *st = req->d->store;

    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        int pick = fleet_conneg_pick(fleet_req_header(req, MHD_HTTP_HEADER_ACCEPT), rdf_offers,
                                     sizeof(rdf_offers) / sizeof(rdf_offers[0]));
        if (pick < 0)
            return fleet_problem(req, 406, "not-acceptable",
                                 "offered: text/turtle, application/n-triples, "
                                 "application/rdf+xml, application/n-quads, application/trig",
                                 "Accept");
        struct fleet_buf out = FLEET_BUF_INIT;
        enum fleet_err rc = fleet_store_graph_get(st, graph, rdf_offer_syn[pick], &out);
        if (rc != FLEET_OK) {
            fleet_buf_free(&out);
            if (rc == FLEET_ERR_NOTFOUND)
                return fleet_problem(req, 404, "no-such-graph", "the graph holds no triples",
                                     "graph");
            return fleet_problem(req, fleet_http_status(rc), "graph-read-failed",
                                 fleet_strerror(rc), NULL);
        }
        size_t len = 0;
        char *body = fleet_buf_steal(&out, &len);
        const char *h[] = {MHD_HTTP_HEADER_VARY, "Accept", NULL};
        const char *ct = rdf_offers[pick];
        if (rdf_offer_syn[pick] == FLEET_RDF_NQUADS)
            ct = "application/n-triples"; /* one graph: served as triples */
        else if (rdf_offer_syn[pick] == FLEET_RDF_TRIG)
            ct = "text/turtle";
        return fleet_respond_steal(req, 200, ct, body, len, h);
    }

    if (strcmp(req->method, "DELETE") == 0) {
        enum fleet_err rc = fleet_store_graph_delete(st, graph);
        if (rc == FLEET_OK)
            return fleet_respond(req, 204, NULL, NULL, 0, NULL);
        if (rc == FLEET_ERR_NOTFOUND)
            return fleet_problem(req, 404, "no-such-graph", "the graph holds no triples",
                                 "graph");
        if (rc == FLEET_ERR_FORBIDDEN)
            return fleet_problem(req, 403, "read-only-graph", "the ontology graph is read-only",
                                 "graph");
        return fleet_problem(req, fleet_http_status(rc), "delete-failed", fleet_strerror(rc),
                             NULL);
    }

    /* PUT or POST */
    const char *ctype = fleet_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    int syn = fleet_rdf_syntax_from_mime(ctype);
    if (syn < 0)
        return fleet_problem(req, 415, "unsupported-media-type",
                             "Content-Type must be text/turtle, application/n-triples, "
                             "application/n-quads, application/rdf+xml or application/trig",
                             "Content-Type");
    char err[1024] = "";
    uint64_t count = 0;
    int created = 0;
    int replace = strcmp(req->method, "PUT") == 0;
    char base[4200];
    snprintf(base, sizeof(base), "%s", graph ? graph : "http://127.0.0.1/data");
    enum fleet_err rc = fleet_store_graph_load(st, graph, replace, (enum fleet_rdf_syntax)syn,
                                               req->body_path, base, &count, &created, err,
                                               sizeof(err));
    if (rc == FLEET_OK) {
        fleet_log(FLEET_LOG_DEBUG, "%s graph %s: %llu triples", req->method,
                  graph ? graph : "(default)", (unsigned long long)count);
        return fleet_respond(req, created && graph ? 201 : 204, NULL, NULL, 0, NULL);
    }
    if (rc == FLEET_ERR_INVAL)
        return fleet_problem(req, 400, "malformed-rdf", err, "body");
    if (rc == FLEET_ERR_FORBIDDEN)
        return fleet_problem(req, 403, "read-only-graph", err, "graph");
    return fleet_problem(req, fleet_http_status(rc), "store-failed", err[0] ? err : NULL, NULL);
}
