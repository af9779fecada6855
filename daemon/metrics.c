/* SPDX-License-Identifier: MIT */
/* Request counters, latency histograms and the Prometheus text format writer (see metrics.h).
 * Counters per (route, method, status) are a short array searched linearly: a daemon answers a
 * handful of distinct statuses per route, so it stays at a few dozen entries. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS (FLEET_METRICS_MAX_ROUTES + 1) /* the last slot is route="unmatched" */

static const char *const methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                      "PATCH", "DELETE", "OPTIONS", "other"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* Upper bounds in seconds. From a cached GET (~1 ms) to a query near the default query_timeout
 * (10 s) and a large upload; an SSE stream lasts until the client leaves and lands in +Inf. */
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                0.5,   1,      2.5,   5,    10,    30,   60};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct series {
    unsigned short route, method, status;
    uint64_t count;
};

struct hist {
    uint64_t buckets[NBOUNDS]; /* not cumulative here; the writer sums */
    uint64_t count;
    double sum;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *series;
static size_t nseries, cap_series;
static uint64_t series_dropped; /* only on ENOMEM */
static struct hist hists[SLOTS][NMETHODS];
static long in_flight[SLOTS];
static uint64_t aborted[SLOTS];
static uint64_t reloads_ok, reloads_failed;
static double last_reload_ok; /* wall clock, seconds; the start counts as the first load */
static double start_time;

static struct {
    fleet_metrics_writer fn;
    void *ctx;
} sources[FLEET_METRICS_MAX_SOURCES];
static size_t nsources;

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fleet_metrics_init(void)
{
    pthread_mutex_lock(&lock);
    start_time = wall_now();
    last_reload_ok = start_time;
    pthread_mutex_unlock(&lock);
}

void fleet_metrics_free(void)
{
    pthread_mutex_lock(&lock);
    free(series);
    series = NULL;
    nseries = cap_series = 0;
    series_dropped = 0;
    memset(hists, 0, sizeof(hists));
    memset(in_flight, 0, sizeof(in_flight));
    memset(aborted, 0, sizeof(aborted));
    reloads_ok = reloads_failed = 0;
    pthread_mutex_unlock(&lock);
}

static size_t slot_of(int route)
{
    return route < 0 || route >= FLEET_METRICS_MAX_ROUTES ? SLOTS - 1 : (size_t)route;
}

static size_t method_of(const char *method)
{
    for (size_t i = 0; method && i + 1 < NMETHODS; i++)
        if (strcmp(method, methods[i]) == 0)
            return i;
    return NMETHODS - 1;
}

void fleet_metrics_request_begin(int route)
{
    pthread_mutex_lock(&lock);
    in_flight[slot_of(route)]++;
    pthread_mutex_unlock(&lock);
}

/* Called with the lock held. */
static void count_status(size_t slot, size_t m, int status)
{
    /* 0 stands for "no response"; anything outside the HTTP range is kept as 0 too. */
    unsigned short st = status >= 100 && status <= 999 ? (unsigned short)status : 0;
    for (size_t i = 0; i < nseries; i++) {
        if (series[i].route == slot && series[i].method == m && series[i].status == st) {
            series[i].count++;
            return;
        }
    }
    if (nseries == cap_series) {
        size_t nc = cap_series ? cap_series * 2 : 64;
        struct series *ns = realloc(series, nc * sizeof(*ns));
        if (!ns) {
            series_dropped++;
            return;
        }
        series = ns;
        cap_series = nc;
    }
    series[nseries++] = (struct series){(unsigned short)slot, (unsigned short)m, st, 1};
}

void fleet_metrics_request_end(int route, const char *method, int status, double seconds,
                               int completed)
{
    size_t slot = slot_of(route), m = method_of(method);
    if (!(seconds >= 0)) /* also catches NaN */
        seconds = 0;
    pthread_mutex_lock(&lock);
    in_flight[slot]--;
    if (!completed)
        aborted[slot]++;
    count_status(slot, m, status);
    struct hist *h = &hists[slot][m];
    size_t b = 0;
    while (b < NBOUNDS && seconds > bounds[b])
        b++;
    if (b < NBOUNDS)
        h->buckets[b]++;
    h->count++;
    h->sum += seconds;
    pthread_mutex_unlock(&lock);
}

void fleet_metrics_reload(int ok)
{
    pthread_mutex_lock(&lock);
    if (ok) {
        reloads_ok++;
        last_reload_ok = wall_now();
    } else {
        reloads_failed++;
    }
    pthread_mutex_unlock(&lock);
}

/* ---- the exposition format ---- */

static void put_escaped(struct fleet_buf *out, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fleet_buf_puts(out, "\\\\");
        else if (*s == '\n')
            fleet_buf_puts(out, "\\n");
        else if (*s == '"' && quote)
            fleet_buf_puts(out, "\\\"");
        else
            fleet_buf_putc(out, *s);
    }
}

void fleet_metrics_family(struct fleet_buf *out, const char *name, const char *type,
                          const char *help)
{
    fleet_buf_printf(out, "# HELP %s ", name);
    put_escaped(out, help, 0);
    fleet_buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* The shortest of %.15g and %.17g that reads back as the same double. */
static void put_double(struct fleet_buf *out, double value)
{
    char text[40];
    snprintf(text, sizeof(text), "%.15g", value);
    if (strtod(text, NULL) != value)
        snprintf(text, sizeof(text), "%.17g", value);
    fleet_buf_printf(out, " %s\n", text);
}

static void put_name_labels(struct fleet_buf *out, const char *name,
                            const struct fleet_metric_label *labels, size_t nlabels)
{
    fleet_buf_puts(out, name);
    if (nlabels == 0)
        return;
    fleet_buf_putc(out, '{');
    for (size_t i = 0; i < nlabels; i++) {
        if (i)
            fleet_buf_putc(out, ',');
        fleet_buf_printf(out, "%s=\"", labels[i].name);
        put_escaped(out, labels[i].value ? labels[i].value : "", 1);
        fleet_buf_putc(out, '"');
    }
    fleet_buf_putc(out, '}');
}

void fleet_metrics_sample(struct fleet_buf *out, const char *name,
                          const struct fleet_metric_label *labels, size_t nlabels, double value)
{
    put_name_labels(out, name, labels, nlabels);
    if (isnan(value))
        fleet_buf_puts(out, " NaN\n");
    else if (isinf(value))
        fleet_buf_puts(out, value > 0 ? " +Inf\n" : " -Inf\n");
    else
        put_double(out, value);
}

void fleet_metrics_sample_u64(struct fleet_buf *out, const char *name,
                              const struct fleet_metric_label *labels, size_t nlabels,
                              uint64_t value)
{
    put_name_labels(out, name, labels, nlabels);
    fleet_buf_printf(out, " %llu\n", (unsigned long long)value);
}

static const char *route_name(size_t slot, const char *const *names, size_t n)
{
    return slot < n && slot < SLOTS - 1 && names[slot] ? names[slot] : "unmatched";
}

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = a, *y = b;
    if (x->route != y->route)
        return x->route < y->route ? -1 : 1;
    if (x->method != y->method)
        return x->method < y->method ? -1 : 1;
    return x->status < y->status ? -1 : x->status > y->status;
}

void fleet_metrics_write_counters(struct fleet_buf *out, const char *const *route_names, size_t n)
{
    /* Copy under the lock, format outside it: a slow scrape must not hold up requests. */
    static struct hist h[SLOTS][NMETHODS]; /* too big for a thread's stack; guarded by copy_lock */
    static pthread_mutex_t copy_lock = PTHREAD_MUTEX_INITIALIZER;
    long flight[SLOTS];
    uint64_t ab[SLOTS], rok, rfail, dropped;
    double last_ok, started;
    struct series *s = NULL;
    size_t ns;

    pthread_mutex_lock(&copy_lock);
    pthread_mutex_lock(&lock);
    ns = nseries;
    if (ns) {
        s = malloc(ns * sizeof(*s));
        if (s)
            memcpy(s, series, ns * sizeof(*s));
        else
            ns = 0;
    }
    memcpy(h, hists, sizeof(h));
    memcpy(flight, in_flight, sizeof(flight));
    memcpy(ab, aborted, sizeof(ab));
    rok = reloads_ok;
    rfail = reloads_failed;
    last_ok = last_reload_ok;
    started = start_time;
    dropped = series_dropped;
    pthread_mutex_unlock(&lock);

    if (ns > 1)
        qsort(s, ns, sizeof(*s), cmp_series);
    fleet_metrics_family(out, "tinyfleet_http_requests_total", "counter",
                         "HTTP requests answered, by route (an entry of the route table), method "
                         "and status code; code 0: the client left before any response");
    for (size_t i = 0; i < ns; i++) {
        char code[8];
        if (s[i].route >= n && s[i].route != SLOTS - 1)
            continue; /* not a route of the table (http.c records none such) */
        snprintf(code, sizeof(code), "%u", s[i].status);
        struct fleet_metric_label l[] = {{"route", route_name(s[i].route, route_names, n)},
                                         {"method", methods[s[i].method]},
                                         {"code", code}};
        fleet_metrics_sample_u64(out, "tinyfleet_http_requests_total", l, 3, s[i].count);
    }
    free(s);
    if (dropped) {
        fleet_metrics_family(out, "tinyfleet_http_requests_uncounted_total", "counter",
                             "requests not counted by route for lack of memory");
        fleet_metrics_sample_u64(out, "tinyfleet_http_requests_uncounted_total", NULL, 0, dropped);
    }

    fleet_metrics_family(out, "tinyfleet_http_request_duration_seconds", "histogram",
                         "time from a request's headers to the end of its response, by route "
                         "and method (an event stream counts until the client leaves)");
    for (size_t r = 0; r < SLOTS; r++) {
        for (size_t m = 0; m < NMETHODS; m++) {
            const struct hist *x = &h[r][m];
            if (!x->count || (r >= n && r != SLOTS - 1))
                continue;
            const char *rn = route_name(r, route_names, n);
            uint64_t cum = 0;
            char le[32];
            for (size_t b = 0; b < NBOUNDS; b++) {
                cum += x->buckets[b];
                snprintf(le, sizeof(le), "%g", bounds[b]);
                struct fleet_metric_label l[] = {{"route", rn}, {"method", methods[m]}, {"le", le}};
                fleet_metrics_sample_u64(out, "tinyfleet_http_request_duration_seconds_bucket", l,
                                         3, cum);
            }
            struct fleet_metric_label l[] = {{"route", rn}, {"method", methods[m]}, {"le", "+Inf"}};
            fleet_metrics_sample_u64(out, "tinyfleet_http_request_duration_seconds_bucket", l, 3,
                                     x->count);
            fleet_metrics_sample(out, "tinyfleet_http_request_duration_seconds_sum", l, 2, x->sum);
            fleet_metrics_sample_u64(out, "tinyfleet_http_request_duration_seconds_count", l, 2,
                                     x->count);
        }
    }

    fleet_metrics_family(out, "tinyfleet_http_requests_in_flight", "gauge",
                         "requests being served, by route; for /api/v1/events, the open event "
                         "streams");
    for (size_t r = 0; r < SLOTS; r++) {
        if (r >= n && r != SLOTS - 1)
            continue;
        struct fleet_metric_label l[] = {{"route", route_name(r, route_names, n)}};
        fleet_metrics_sample(out, "tinyfleet_http_requests_in_flight", l, 1, (double)flight[r]);
    }
    fleet_metrics_family(out, "tinyfleet_http_requests_aborted_total", "counter",
                         "requests whose connection ended before the response was complete");
    for (size_t r = 0; r < SLOTS; r++) {
        if (r >= n && r != SLOTS - 1)
            continue;
        struct fleet_metric_label l[] = {{"route", route_name(r, route_names, n)}};
        fleet_metrics_sample_u64(out, "tinyfleet_http_requests_aborted_total", l, 1, ab[r]);
    }

    fleet_metrics_family(out, "tinyfleet_config_reloads_total", "counter",
                         "SIGHUP reloads, by result (failure: the old configuration was kept)");
    struct fleet_metric_label ok[] = {{"result", "success"}}, bad[] = {{"result", "failure"}};
    fleet_metrics_sample_u64(out, "tinyfleet_config_reloads_total", ok, 1, rok);
    fleet_metrics_sample_u64(out, "tinyfleet_config_reloads_total", bad, 1, rfail);
    fleet_metrics_family(out, "tinyfleet_config_last_reload_success_timestamp_seconds", "gauge",
                         "when the configuration in force was loaded (start-up or SIGHUP)");
    fleet_metrics_sample(out, "tinyfleet_config_last_reload_success_timestamp_seconds", NULL, 0,
                         last_ok);
    fleet_metrics_family(out, "process_start_time_seconds", "gauge",
                         "start time of the process since the Unix epoch in seconds");
    fleet_metrics_sample(out, "process_start_time_seconds", NULL, 0, started);
    pthread_mutex_unlock(&copy_lock);
}

/* ---- sources ---- */

int fleet_metrics_add_source(fleet_metrics_writer fn, void *ctx)
{
    if (nsources == FLEET_METRICS_MAX_SOURCES)
        return -1;
    sources[nsources].fn = fn;
    sources[nsources].ctx = ctx;
    nsources++;
    return 0;
}

void fleet_metrics_write_sources(struct fleet_buf *out)
{
    for (size_t i = 0; i < nsources; i++)
        sources[i].fn(sources[i].ctx, out);
}

void fleet_metrics_clear_sources(void)
{
    nsources = 0;
}
