/* SPDX-License-Identifier: MIT */
/* The daemon's counters and the Prometheus text exposition format (version 0.0.4) they are
 * written in. http.c records every request here; GET /metrics (routes_metrics.c) writes these
 * counters and the store's figures, read at scrape time, with the helpers below. No HTTP and no
 * Redland here, so the unit test (tests/unit/check_metrics.c) links this file alone.
 *
 * Label sets are bounded on purpose: a route is an entry of the route table (never the request
 * path, which holds ids), a method is one of eight, a status is what the daemon answered. A few
 * hundred series at most, whatever the fleet's size.
 *
 * Thread-safe: recording takes one mutex for a few additions, which is nothing beside the work
 * of a request; writing copies the counters under the same mutex. */
#ifndef FLEET_METRICS_H
#define FLEET_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define FLEET_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Route indexes at or past this (and FLEET_METRICS_NO_ROUTE) are counted as route="unmatched". */
#define FLEET_METRICS_MAX_ROUTES 32
#define FLEET_METRICS_NO_ROUTE (-1)

/* Records the process start time. Call once in main() before anything is recorded. */
void fleet_metrics_init(void);
/* Frees what recording allocated and zeroes every count (at exit, and between unit tests). */
void fleet_metrics_free(void);

/* ---- recording ---- */

/* A request reached the route (its index in the route table, or FLEET_METRICS_NO_ROUTE). */
void fleet_metrics_request_begin(int route);
/* The request ended: method as sent (borrowed), status answered (0 if none was), seconds from
 * its first byte of headers to its last byte of response, completed = 0 if the connection ended
 * before the response did. Pairs with one fleet_metrics_request_begin(route). */
void fleet_metrics_request_end(int route, const char *method, int status, double seconds,
                               int completed);
/* A SIGHUP reload finished: ok = 1 if the new configuration is in force. */
void fleet_metrics_reload(int ok);

/* ---- writing: the exposition format ---- */

struct fleet_metric_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]* (borrowed) */
    const char *value; /* any UTF-8; escaped as the format requires (borrowed) */
};

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram, untyped). Each
 * family once per exposition, before its samples. help is escaped. */
void fleet_metrics_family(struct fleet_buf *out, const char *name, const char *type,
                          const char *help);
/* One sample line: name{labels} value. NaN and the infinities are written as the format spells
 * them. */
void fleet_metrics_sample(struct fleet_buf *out, const char *name,
                          const struct fleet_metric_label *labels, size_t nlabels, double value);
/* The same for a count, written exactly (a double would round past 2^53). */
void fleet_metrics_sample_u64(struct fleet_buf *out, const char *name,
                              const struct fleet_metric_label *labels, size_t nlabels,
                              uint64_t value);

/* Writes the request and reload counters: tinyfleet_http_requests_total{route,method,code},
 * tinyfleet_http_request_duration_seconds{route,method} (histogram),
 * tinyfleet_http_requests_in_flight{route}, tinyfleet_http_requests_aborted_total{route},
 * tinyfleet_config_reloads_total{result}, tinyfleet_config_last_reload_success_timestamp_seconds,
 * process_start_time_seconds. route_names[i] (borrowed) names route index i; n <=
 * FLEET_METRICS_MAX_ROUTES. */
void fleet_metrics_write_counters(struct fleet_buf *out, const char *const *route_names, size_t n);

/* ---- the hook for other modules (e.g. daemon/poller.c, issue 6) ---- */

/* A module with figures of its own registers a writer once, at start-up, before the HTTP server
 * starts; GET /metrics then calls it on every scrape, after the daemon's own families, from the
 * scraping request's thread (so the writer must take its own locks and must not block for
 * long). The writer appends whole families (fleet_metrics_family, then samples) whose names no
 * other writer uses; by convention tinyfleet_<module>_..., e.g. the poller's
 *   tinyfleet_agents{state="up|down"}                       gauge
 *   tinyfleet_agent_polls_total{result="ok|error|timeout"}  counter
 * Returns 0, or -1 when FLEET_METRICS_MAX_SOURCES writers are registered already. The module
 * must stay valid until the HTTP server has stopped. */
#define FLEET_METRICS_MAX_SOURCES 8
typedef void (*fleet_metrics_writer)(void *ctx, struct fleet_buf *out);
int fleet_metrics_add_source(fleet_metrics_writer fn, void *ctx);
/* Calls every registered writer in registration order (routes_metrics.c). */
void fleet_metrics_write_sources(struct fleet_buf *out);
/* Forgets every writer (main.c at exit, after HTTP has stopped). */
void fleet_metrics_clear_sources(void);

#endif
