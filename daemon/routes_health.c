/* SPDX-License-Identifier: MIT */
/* GET /healthz: liveness plus the figures an operator looks at first. */
#include <microhttpd.h>
#include <stdio.h>

#include "routes.h"

int fleet_route_healthz(struct fleet_req *req)
{
    struct fleet_store_stats s;
    char body[256];
    fleet_store_stats(req->d->store, &s);
    int n = snprintf(body, sizeof(body), "{\"status\":\"ok\",\"triples\":%llu,\"version\":\"%s\"}\n",
                     (unsigned long long)s.quads, PACKAGE_VERSION);
    const char *h[] = {MHD_HTTP_HEADER_CACHE_CONTROL, "no-store", NULL};
    return fleet_respond(req, 200, "application/json", body, (size_t)n, h);
}
