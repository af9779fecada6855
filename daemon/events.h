/* SPDX-License-Identifier: MIT */
/* The directory's notifications (W3C WoT Discovery, 7.3.2.5): a bounded in-memory log of Thing
 * events, each with a strictly increasing id, that Server-Sent Event streams (GET /api/v1/events
 * and /api/v1/events/{type}) follow and replay from after a Last-Event-ID. Publishing never
 * waits for a subscriber: a stream that falls behind the log's oldest event is ended, and the
 * client reconnects with its Last-Event-ID. No Redland here; the registry (routes_things.c)
 * publishes after its write is durable. */
#ifndef FLEET_EVENTS_H
#define FLEET_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

enum fleet_event_type {
    FLEET_EVENT_THING_CREATED,
    FLEET_EVENT_THING_UPDATED,
    FLEET_EVENT_THING_DELETED,
};

struct fleet_events;

/* A log keeping the last capacity events (capacity >= 1), and fewer when they hold more than
 * FLEET_EVENTS_MAX_BYTES of SSE text (a TD may be megabytes; the newest event is always kept).
 * NULL on ENOMEM. */
struct fleet_events *fleet_events_new(size_t capacity);
#define FLEET_EVENTS_MAX_BYTES (64u << 20)
/* Changes the byte bound (for tests); takes effect at the next publish. */
void fleet_events_set_max_bytes(struct fleet_events *ev, size_t max_bytes);
/* Ends every stream (they see the end and finish their response) and frees the log once the
 * last stream has let go. NULL is a no-op. */
void fleet_events_free(struct fleet_events *ev);
/* Ends every stream once it has sent what the log holds, and refuses new ones; publishing stays
 * valid (the events are kept but nobody hears them). main.c calls it on SIGTERM before stopping
 * HTTP, so that open streams do not hold up the shutdown, and frees the log after HTTP is down. */
void fleet_events_close(struct fleet_events *ev);

/* Appends an event about the Thing thing_id (copied). diff_json (copied, may be NULL) is the
 * JSON text sent with ?diff=true: the whole TD for thing_created, the RFC 7396 merge patch for
 * thing_updated, NULL for thing_deleted. Returns the event's id (> 0), or 0 on ENOMEM (the event
 * is then lost and logged by the caller). Wakes every waiting stream. */
uint64_t fleet_events_publish(struct fleet_events *ev, enum fleet_event_type type,
                              const char *thing_id, const char *diff_json);

/* The SSE event name of a type: "thing_created", "thing_updated", "thing_deleted". */
const char *fleet_event_type_name(enum fleet_event_type type);
/* The type named name ("thing_created", ...), or -1. */
int fleet_event_type_parse(const char *name);

/* ---- streams: one per SSE response (routes_events.c) ---- */

#define FLEET_EVENT_ALL (-1) /* a stream's type filter: every type */

struct fleet_event_stream;

/* Opens a stream of the events of type (an enum fleet_event_type, or FLEET_EVENT_ALL), with the
 * diff payloads if diff is set. last_event_id (borrowed; NULL or "" if the client sent none) is
 * the Last-Event-ID header: the stream starts after that event, or, when the log no longer holds
 * the events after it (or the id is not one of ours), at the oldest event kept, after a comment
 * saying so. Without it the stream starts with the next event published. At most max_streams
 * streams are open at once. Returns a new stream, or NULL with *err set: FLEET_ERR_TOOBIG (too
 * many streams), FLEET_ERR_FORBIDDEN (the log is closed), FLEET_ERR_NOMEM. */
struct fleet_event_stream *fleet_event_stream_open(struct fleet_events *ev, int type, int diff,
                                                   const char *last_event_id, size_t max_streams,
                                                   enum fleet_err *err);
/* Writes the next bytes of the stream's text/event-stream body into buf (at most max, which must
 * be at least 64). Waits up to wait_ms for an event and writes a ":keepalive" comment if none
 * came. Returns the number of bytes written (> 0), or -1 once the stream has ended: the log was
 * closed and everything in it was sent, or the stream fell behind the oldest event kept (a client
 * too slow to keep up; it reconnects with Last-Event-ID). Only one thread reads a stream. */
ssize_t fleet_event_stream_read(struct fleet_event_stream *s, char *buf, size_t max,
                                long wait_ms);
/* Closes the stream; the log is freed here if fleet_events_free ran and this was its last
 * stream. NULL is a no-op. */
void fleet_event_stream_free(struct fleet_event_stream *s);

#endif
