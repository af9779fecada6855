/* SPDX-License-Identifier: MIT */
/* Deployments: the record that a board runs a model. Each lives in its own named graph
 * FLEET_DEPLOYMENT_GRAPH_BASE{id} as a fleet:Deployment node (board, model, when, who, forced,
 * note, and when it ended) plus, while it is active, the paper's `<board> ssn:implements <model>`.
 * Ending a deployment keeps its record (with fleet:endedAt) and drops ssn:implements.
 * sparql/deployments.rq lists them. No HTTP, no Redland. */
#ifndef FLEET_DEPLOY_H
#define FLEET_DEPLOY_H

#include <stddef.h>
#include <time.h>

#include "durable.h"
#include "err.h"

#define FLEET_DEPLOYMENT_IRI_BASE "https://tinyfleet.dev/id/deployment/"
#define FLEET_DEPLOYMENT_GRAPH_BASE "https://tinyfleet.dev/graph/deployment/"

struct fleet_deployment {
    char id[17];           /* 16 hex digits */
    const char *device;    /* the board's IRI */
    const char *model_id;  /* the model's id */
    time_t deployed_at;
    const char *deployed_by; /* a token fingerprint, or NULL */
    int forced;            /* recorded although the model did not fit */
    const char *note;      /* the client's free text, or NULL */
    time_t ended_at;       /* 0 while active */
};

/* A new random deployment id (16 lower-case hex digits) in id[17]. Returns -1 if the system has
 * no randomness to give. */
int fleet_deployment_new_id(char id[17]);
void fleet_deployment_iri(const char *id, char *buf, size_t len);
void fleet_deployment_graph_iri(const char *id, char *buf, size_t len);
/* Adds to txn: empty the deployment's graph, then write dep. */
enum fleet_err fleet_deployment_txn(const struct fleet_deployment *dep, struct fleet_txn *txn);
/* The RFC 3339 UTC text of t ("YYYY-MM-DDTHH:MM:SSZ") in out[32]. */
void fleet_deployment_time(time_t t, char out[32]);
/* Parses what fleet_rfc3339 writes ("YYYY-MM-DDTHH:MM:SSZ"); -1 if s is not that. */
int fleet_deployment_time_parse(const char *s, time_t *t);

#endif
