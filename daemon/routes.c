/* SPDX-License-Identifier: MIT */
/* The route table: every URL tinyfleetd serves, its methods, body handling, scopes, and whether
 * its GET answers may be served from the response cache (only where the answer depends on the
 * store and the request alone: not the Thing directory, whose answers carry registration times,
 * nor event streams or metrics). */
#include "routes.h"

const struct fleet_route fleet_routes[] = {
    {"/healthz", 0, "GET HEAD", FLEET_BODY_NONE, FLEET_SCOPE_NONE, FLEET_SCOPE_NONE,
     fleet_route_healthz, 0},
    /* Prometheus text format (routes_metrics.c); read scope, as any read. */
    {"/metrics", 0, "GET HEAD", FLEET_BODY_NONE, FLEET_SCOPE_READ, FLEET_SCOPE_READ,
     fleet_route_metrics, 0},
    /* Updates check the write scope themselves: a POST may be a query (read). */
    {"/sparql", 0, "GET HEAD POST OPTIONS", FLEET_BODY_MEMORY, FLEET_SCOPE_READ, FLEET_SCOPE_READ,
     fleet_route_sparql, 1},
    {"/data", 0, "GET HEAD PUT POST DELETE OPTIONS", FLEET_BODY_FILE, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_data, 1},
    {"/api/v1/models", 1, "GET HEAD POST DELETE OPTIONS", FLEET_BODY_FILE, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_models, 1},
    /* WoT Discovery notifications: /api/v1/events and /api/v1/events/{type} (SSE). */
    {"/api/v1/events", 1, "GET HEAD", FLEET_BODY_NONE, FLEET_SCOPE_READ, FLEET_SCOPE_WRITE,
     fleet_route_events, 0},
    /* W3C WoT Discovery: the Thing Description Directory (routes_things.c). */
    {"/api/v1/things", 1, "GET HEAD PUT POST PATCH DELETE OPTIONS", FLEET_BODY_MEMORY,
     FLEET_SCOPE_READ, FLEET_SCOPE_WRITE, fleet_route_things, 0},
    /* A POST is a query (read); updates are refused there. */
    {"/api/v1/search/sparql", 0, "GET HEAD POST OPTIONS", FLEET_BODY_MEMORY, FLEET_SCOPE_READ,
     FLEET_SCOPE_READ, fleet_route_search_sparql, 0},
    /* Operations: a consistent backup of the whole state as one tar archive. */
    {"/api/v1/admin/backup", 0, "GET HEAD", FLEET_BODY_NONE, FLEET_SCOPE_ADMIN, FLEET_SCOPE_ADMIN,
     fleet_route_admin, 0},
    /* Device agents (routes_agents.c): health is memory state, so never cached. */
    {"/api/v1/agents", 1, "GET HEAD POST DELETE OPTIONS", FLEET_BODY_MEMORY, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_agents, 0},
    /* Benchmark results and jobs (routes_agents.c); job states live in memory too. */
    {"/api/v1/benchmarks", 1, "GET HEAD POST OPTIONS", FLEET_BODY_MEMORY, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_benchmarks, 0},
    /* The introduction (RFC 8615 well-known URI): the directory's own TD, open to all. */
    {"/.well-known/wot", 0, "GET HEAD OPTIONS", FLEET_BODY_NONE, FLEET_SCOPE_NONE,
     FLEET_SCOPE_NONE, fleet_route_wot, 0},
};

const size_t fleet_nroutes = sizeof(fleet_routes) / sizeof(fleet_routes[0]);
