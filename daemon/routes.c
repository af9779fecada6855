/* SPDX-License-Identifier: MIT */
/* The route table: every URL tinyfleetd serves, its methods, body handling and scopes. */
#include "routes.h"

const struct fleet_route fleet_routes[] = {
    {"/healthz", 0, "GET HEAD", FLEET_BODY_NONE, FLEET_SCOPE_NONE, FLEET_SCOPE_NONE,
     fleet_route_healthz},
    /* Updates check the write scope themselves: a POST may be a query (read). */
    {"/sparql", 0, "GET HEAD POST OPTIONS", FLEET_BODY_MEMORY, FLEET_SCOPE_READ, FLEET_SCOPE_READ,
     fleet_route_sparql},
    {"/data", 0, "GET HEAD PUT POST DELETE OPTIONS", FLEET_BODY_FILE, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_data},
    {"/api/v1/models", 1, "GET HEAD POST DELETE OPTIONS", FLEET_BODY_FILE, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_models},
};

const size_t fleet_nroutes = sizeof(fleet_routes) / sizeof(fleet_routes[0]);
