/* SPDX-License-Identifier: MIT */
/* /api/v1/events: the directory's notifications (W3C WoT Discovery, Events API) as Server-Sent
 * Events.
 *   GET /api/v1/events                every event: thing_created, thing_updated, thing_deleted
 *   GET /api/v1/events/{type}         the events of one type
 *   ?diff=true                        thing_created carries the whole TD, thing_updated the JSON
 *                                     merge patch (with the id); ignored for thing_deleted
 *   Last-Event-ID: N                  replay what came after N from the log (events.c)
 * Each event is "event: TYPE", "data: {"id":...}" and "id: N". A stream is a chunked response
 * whose reader blocks, in its connection's own thread, until an event comes or 15 s pass (then
 * it sends a comment, which keeps proxies and libmicrohttpd's idle timeout from closing it, and
 * lets a vanished client be noticed). The response closes its connection when it ends, so a
 * reconnecting client and a shutting-down daemon do not wait on a kept-alive socket. */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "routes.h"

#define API "/api/v1/events"
#define KEEPALIVE_MS 15000
#define BLOCK_SIZE 4096

struct sse {
    struct fleet_event_stream *stream;
    struct fleet_req *req; /* alive while the reader can run; not used when freeing */
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse *c = cls;
    (void)pos;
    if (max < 64) /* cannot happen with libmicrohttpd's buffers; never busy-loop on it */
        return MHD_CONTENT_READER_END_WITH_ERROR;
    ssize_t n = fleet_event_stream_read(c->stream, buf, max, KEEPALIVE_MS);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    c->req->resp_bytes += (size_t)n;
    return n;
}

static void sse_free(void *cls)
{
    struct sse *c = cls;
    fleet_event_stream_free(c->stream);
    free(c);
}

int fleet_route_events(struct fleet_req *req)
{
    const char *rest = req->path + strlen(API);
    int type = FLEET_EVENT_ALL;

    if (*rest == '/') {
        type = fleet_event_type_parse(rest + 1);
        if (type < 0)
            return fleet_problem(req, 404, "no-such-event-type",
                                 "the event types are thing_created, thing_updated and "
                                 "thing_deleted",
                                 "type");
    } else if (*rest != '\0') {
        return fleet_problem(req, 404, "not-found", "no such resource", NULL);
    }

    int diff = 0;
    const char *dv = fleet_req_arg(req, "diff");
    if (fleet_req_has_arg(req, "diff")) {
        if (dv && strcmp(dv, "true") == 0)
            diff = 1;
        else if (!dv || strcmp(dv, "false") != 0)
            return fleet_problem(req, 400, "bad-parameter", "diff must be true or false", "diff");
    }

    const char *h[] = {MHD_HTTP_HEADER_CACHE_CONTROL, "no-store", MHD_HTTP_HEADER_CONNECTION,
                       "close", NULL};
    if (strcmp(req->method, "HEAD") == 0)
        return fleet_respond(req, 200, "text/event-stream", NULL, 0, h);

    pthread_rwlock_rdlock(&req->d->cfg_lock);
    pthread_rwlock_rdlock(&req->d->cfg_lock);
    size_t max_streams = req->d->cfg.max_event_streams;
    pthread_rwlock_unlock(&req->d->cfg_lock);
    pthread_rwlock_unlock(&req->d->cfg_lock);

    enum fleet_err err = FLEET_OK;
    struct sse *c = calloc(1, sizeof(*c));
    if (!c)
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    c->req = req;
    c->stream = fleet_event_stream_open(req->d->events, type, diff,
                                        fleet_req_header(req, "Last-Event-ID"), max_streams, &err);
    if (!c->stream) {
        free(c);
        if (err == FLEET_ERR_TOOBIG) {
            char msg[160];
            snprintf(msg, sizeof(msg), "%zu event streams are open already (max_event_streams)",
                     max_streams);
            return fleet_problem(req, 503, "too-many-streams", msg, NULL);
        }
        if (err == FLEET_ERR_FORBIDDEN)
            return fleet_problem(req, 503, "shutting-down", "the server is stopping", NULL);
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    }
    return fleet_respond_reader(req, 200, "text/event-stream", BLOCK_SIZE, sse_read, c, sse_free,
                                h);
}
