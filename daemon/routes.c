/* SPDX-License-Identifier: MIT */
/* The route table: every URL tinyfleetd serves, its methods, body handling, scopes, and whether
 * its GET answers may be served from the response cache (only where the answer depends on the
 * store and the request alone: in the Thing directory only the match results, as TDs carry
 * registration times; never event streams or metrics). */
#include "routes.h"

const struct fleet_route fleet_routes[] = {
    {"/healthz", 0, "GET HEAD", FLEET_BODY_NONE, FLEET_SCOPE_NONE, FLEET_SCOPE_NONE,
     fleet_route_healthz, NULL},
    /* Prometheus text format (routes_metrics.c); read scope, as any read. */
    {"/metrics", 0, "GET HEAD", FLEET_BODY_NONE, FLEET_SCOPE_READ, FLEET_SCOPE_READ,
     fleet_route_metrics, NULL},
    /* Updates check the write scope themselves: a POST may be a query (read). */
    {"/sparql", 0, "GET HEAD POST OPTIONS", FLEET_BODY_MEMORY, FLEET_SCOPE_READ, FLEET_SCOPE_READ,
     fleet_route_sparql, fleet_cacheable_always},
    {"/data", 0, "GET HEAD PUT POST DELETE OPTIONS", FLEET_BODY_FILE, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_data, fleet_cacheable_always},
    {"/api/v1/models", 1, "GET HEAD POST DELETE OPTIONS", FLEET_BODY_FILE, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_models, fleet_cacheable_always},
    /* WoT Discovery notifications: /api/v1/events and /api/v1/events/{type} (SSE). */
    {"/api/v1/events", 1, "GET HEAD", FLEET_BODY_NONE, FLEET_SCOPE_READ, FLEET_SCOPE_WRITE,
     fleet_route_events, NULL},
    /* W3C WoT Discovery: the Thing Description Directory (routes_things.c). */
    {"/api/v1/things", 1, "GET HEAD PUT POST PATCH DELETE OPTIONS", FLEET_BODY_MEMORY,
     FLEET_SCOPE_READ, FLEET_SCOPE_WRITE, fleet_route_things, fleet_things_cacheable},
    /* A POST is a query (read); updates are refused there. */
    {"/api/v1/search/sparql", 0, "GET HEAD POST OPTIONS", FLEET_BODY_MEMORY, FLEET_SCOPE_READ,
     FLEET_SCOPE_READ, fleet_route_search_sparql, NULL},
    /* Operations: a consistent backup of the whole state as one tar archive. */
    {"/api/v1/admin/backup", 0, "GET HEAD", FLEET_BODY_NONE, FLEET_SCOPE_ADMIN, FLEET_SCOPE_ADMIN,
     fleet_route_admin, NULL},
    /* Device agents (routes_agents.c): health is memory state, so never cached. */
    {"/api/v1/agents", 1, "GET HEAD POST DELETE OPTIONS", FLEET_BODY_MEMORY, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_agents, NULL},
    /* Benchmark results and jobs (routes_agents.c); job states live in memory too. */
    {"/api/v1/benchmarks", 1, "GET HEAD POST OPTIONS", FLEET_BODY_MEMORY, FLEET_SCOPE_READ,
     FLEET_SCOPE_WRITE, fleet_route_benchmarks, NULL},
    /* The introduction (RFC 8615 well-known URI): the directory's own TD, open to all. */
    {"/.well-known/wot", 0, "GET HEAD OPTIONS", FLEET_BODY_NONE, FLEET_SCOPE_NONE,
     FLEET_SCOPE_NONE, fleet_route_wot, NULL},
};

const size_t fleet_nroutes = sizeof(fleet_routes) / sizeof(fleet_routes[0]);
