/* SPDX-License-Identifier: MIT */
/* The route table: each routes_*.c file exports its handlers here; http.c dispatches. */
#ifndef FLEET_ROUTES_H
#define FLEET_ROUTES_H

#include "http.h"

int fleet_route_healthz(struct fleet_req *req);
int fleet_route_metrics(struct fleet_req *req);
int fleet_route_sparql(struct fleet_req *req);
int fleet_route_data(struct fleet_req *req);
int fleet_route_models(struct fleet_req *req);
int fleet_route_events(struct fleet_req *req);

/* routes_things.c: the WoT Discovery directory API. */
int fleet_route_things(struct fleet_req *req);
/* 1 for a GET of /api/v1/things/{id}/models (a match result), 0 for the directory's own answers. */
int fleet_things_cacheable(struct fleet_req *req);
int fleet_route_search_sparql(struct fleet_req *req);
int fleet_route_wot(struct fleet_req *req);
/* After fleet_things_open: the registry's changes become events (d->events). */
void fleet_things_routes_init(struct fleet_daemon *d);
/* Once a second from the main loop: re-index after outside writes, purge expired TDs. */
void fleet_things_tick(struct fleet_daemon *d);

int fleet_route_admin(struct fleet_req *req);

/* routes_agents.c: device agents, benchmark results and jobs (daemon/poller.h). init after the
 * store and the matcher (loads the stored agents and agents_file), start once the port is known
 * (agents fetch model files from public_url), reload on SIGHUP, stop before the HTTP server
 * stops; fleet_poller_free(d->poller) after. */
int fleet_route_agents(struct fleet_req *req);
int fleet_route_benchmarks(struct fleet_req *req);
int fleet_agents_init(struct fleet_daemon *d, char *err, size_t errlen);
int fleet_agents_start(struct fleet_daemon *d, char *err, size_t errlen);
void fleet_agents_reload(struct fleet_daemon *d);
void fleet_agents_stop(struct fleet_daemon *d);

/* routes_match.c: matchmaking and deployments, called by routes_models.c and routes_things.c
 * with the id taken from the path (a model id, or a Thing's IRI). */
int fleet_route_model_devices(struct fleet_req *req, const char *model_id);
int fleet_route_model_deployments(struct fleet_req *req, const char *model_id);
int fleet_route_thing_models(struct fleet_req *req, const char *thing_iri);
/* deployment_id NULL: the collection. */
int fleet_route_thing_deployments(struct fleet_req *req, const char *thing_iri,
                                  const char *deployment_id);
/* For DELETE /api/v1/models/{id}: the number of active deployments of a model (-1 on a query
 * error), and the changes that end them all (added to txn). Callers hold fleet_deploy_lock()
 * across the check and the commit. */
int fleet_model_active_deployments(struct fleet_req *req, const char *model_id, size_t *count);
struct fleet_txn;
enum fleet_err fleet_model_end_deployments(struct fleet_req *req, const char *model_id,
                                           struct fleet_txn *txn);
void fleet_deploy_lock(void);
void fleet_deploy_unlock(void);

extern const struct fleet_route fleet_routes[];
extern const size_t fleet_nroutes;

#endif
