/* SPDX-License-Identifier: MIT */
/* The route table: each routes_*.c file exports its handlers here; http.c dispatches. */
#ifndef FLEET_ROUTES_H
#define FLEET_ROUTES_H

#include "http.h"

int fleet_route_healthz(struct fleet_req *req);
int fleet_route_sparql(struct fleet_req *req);
int fleet_route_data(struct fleet_req *req);
int fleet_route_models(struct fleet_req *req);

extern const struct fleet_route fleet_routes[];
extern const size_t fleet_nroutes;

#endif
