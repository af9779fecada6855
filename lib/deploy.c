/* SPDX-License-Identifier: MIT */
/* See deploy.h. */
#include "deploy.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "model_graph.h"

#define SSN "http://www.w3.org/ns/ssn/"
#define RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define XSD "http://www.w3.org/2001/XMLSchema#"

int fleet_deployment_new_id(char id[17])
{
    unsigned char b[8];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return -1;
    for (int i = 0; i < 8; i++)
        snprintf(id + 2 * i, 3, "%02x", b[i]);
    return 0;
}

void fleet_deployment_iri(const char *id, char *buf, size_t len)
{
    snprintf(buf, len, FLEET_DEPLOYMENT_IRI_BASE "%s", id);
}

void fleet_deployment_graph_iri(const char *id, char *buf, size_t len)
{
    snprintf(buf, len, FLEET_DEPLOYMENT_GRAPH_BASE "%s", id);
}

void fleet_deployment_time(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int fleet_deployment_time_parse(const char *s, time_t *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    if (!end || *end)
        return -1;
    *t = timegm(&tm);
    return 0;
}

static enum fleet_err add(struct fleet_txn *txn, const char *graph, const char *s, const char *p,
                          enum fleet_term_kind kind, const char *o, const char *dt)
{
    struct fleet_term q[4] = {{FLEET_TERM_IRI, s, NULL, NULL},
                              {FLEET_TERM_IRI, p, NULL, NULL},
                              {kind, o, NULL, dt},
                              {FLEET_TERM_IRI, graph, NULL, NULL}};
    return fleet_txn_add(txn, q);
}

enum fleet_err fleet_deployment_txn(const struct fleet_deployment *dep, struct fleet_txn *txn)
{
    char graph[160], node[160], model[160], at[32], ended[32];
    fleet_deployment_graph_iri(dep->id, graph, sizeof(graph));
    fleet_deployment_iri(dep->id, node, sizeof(node));
    fleet_model_iri(dep->model_id, model, sizeof(model));
    fleet_deployment_time(dep->deployed_at, at);
    struct fleet_term g = {FLEET_TERM_IRI, graph, NULL, NULL};
    enum fleet_err rc = fleet_txn_clear_graph(txn, &g);
#define ADD(s, p, k, o, dt)                                                                        \
    if (rc == FLEET_OK)                                                                            \
    rc = add(txn, graph, s, p, k, o, dt)
    ADD(node, RDF "type", FLEET_TERM_IRI, FLEET_NS "Deployment", NULL);
    ADD(node, FLEET_NS "deploymentId", FLEET_TERM_LITERAL, dep->id, NULL);
    ADD(node, FLEET_NS "device", FLEET_TERM_IRI, dep->device, NULL);
    ADD(node, FLEET_NS "model", FLEET_TERM_IRI, model, NULL);
    ADD(node, FLEET_NS "modelId", FLEET_TERM_LITERAL, dep->model_id, NULL);
    ADD(node, FLEET_NS "deployedAt", FLEET_TERM_LITERAL, at, XSD "dateTime");
    ADD(node, FLEET_NS "forced", FLEET_TERM_LITERAL, dep->forced ? "true" : "false",
        XSD "boolean");
    if (dep->deployed_by)
        ADD(node, FLEET_NS "deployedBy", FLEET_TERM_LITERAL, dep->deployed_by, NULL);
    if (dep->note)
        ADD(node, FLEET_NS "note", FLEET_TERM_LITERAL, dep->note, NULL);
    if (dep->ended_at) {
        fleet_deployment_time(dep->ended_at, ended);
        ADD(node, FLEET_NS "endedAt", FLEET_TERM_LITERAL, ended, XSD "dateTime");
    } else {
        /* The paper's own statement of what a board runs. */
        ADD(dep->device, SSN "implements", FLEET_TERM_IRI, model, NULL);
    }
#undef ADD
    return rc;
}
