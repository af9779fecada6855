/* SPDX-License-Identifier: MIT */
/* Unit tests for daemon/metrics.c and for the strict exposition reader the tests use
 * (tests/unit/prom_text.c): what the writer produces must read back exactly (counts, histogram
 * buckets, escaped labels, NaN and infinities, large counts), and the reader must refuse the
 * mistakes a scraper would refuse, or a passing scrape test would prove nothing. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "prom_text.h"

static const char *const routes[] = {"/healthz", "/data", "/api/v1/events"};

/* The writer's page (new), after it passed the strict reader into *t. */
static char *scrape(struct prom_text *t)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    char err[512];
    fleet_metrics_write_counters(&b, routes, 3);
    fleet_metrics_write_sources(&b);
    ck_assert(!b.oom);
    int rc = prom_parse(b.data, b.len, t, err, sizeof(err));
    ck_assert_msg(rc == 0, "the writer's page does not parse: %s\n%s", err, b.data);
    return fleet_buf_steal(&b, NULL);
}

static void setup(void)
{
    fleet_metrics_init();
}

static void teardown(void)
{
    fleet_metrics_clear_sources();
    fleet_metrics_free();
}

START_TEST(test_requests_by_route_method_status)
{
    struct prom_text t;
    double v;
    fleet_metrics_request_begin(0);
    fleet_metrics_request_end(0, "GET", 200, 0.0005, 1);
    fleet_metrics_request_begin(0);
    fleet_metrics_request_end(0, "GET", 200, 0.002, 1);
    fleet_metrics_request_begin(1);
    fleet_metrics_request_end(1, "PUT", 201, 0.03, 1);
    fleet_metrics_request_begin(1);
    fleet_metrics_request_end(1, "PUT", 401, 0.001, 1);
    fleet_metrics_request_begin(FLEET_METRICS_NO_ROUTE);
    fleet_metrics_request_end(FLEET_METRICS_NO_ROUTE, "GET", 404, 0.0001, 1);
    fleet_metrics_request_begin(1);
    fleet_metrics_request_end(1, "BREW", 405, 0.0001, 1);
    fleet_metrics_request_begin(2);
    fleet_metrics_request_end(2, "GET", 0, 100.0, 0);
    char *page = scrape(&t);

    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/healthz", "method",
                       "GET", "code", "200", NULL));
    ck_assert_double_eq(v, 2);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/data", "method", "PUT",
                       "code", "201", NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/data", "method", "PUT",
                       "code", "401", NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "unmatched", "method",
                       "GET", "code", "404", NULL));
    ck_assert_double_eq(v, 1);
    /* An unknown method is "other", never the client's text (it would make series unbounded). */
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/data", "method", "other",
                       "code", "405", NULL));
    ck_assert(strstr(page, "BREW") == NULL);
    /* A stream the client left: code 0, aborted, in +Inf. */
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/api/v1/events", "method",
                       "GET", "code", "0", NULL));
    ck_assert(
        prom_get(&t, "tinyfleet_http_requests_aborted_total", &v, "route", "/api/v1/events", NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_aborted_total", &v, "route", "/data", NULL));
    ck_assert_double_eq(v, 0);
    ck_assert(prom_get(&t, "tinyfleet_http_request_duration_seconds_bucket", &v, "route",
                       "/api/v1/events", "method", "GET", "le", "60", NULL));
    ck_assert_double_eq(v, 0);
    ck_assert(prom_get(&t, "tinyfleet_http_request_duration_seconds_bucket", &v, "route",
                       "/api/v1/events", "method", "GET", "le", "+Inf", NULL));
    ck_assert_double_eq(v, 1);
    size_t n;
    ck_assert_double_eq(prom_sum(&t, "tinyfleet_http_requests_total", &n, NULL), 7);
    ck_assert_uint_eq(n, 6);
    free(page);
    prom_free(&t);
}
END_TEST

START_TEST(test_histogram_buckets)
{
    struct prom_text t;
    double v;
    /* 0.001 is on a bound: le is "less or equal". */
    const double secs[] = {0.0002, 0.001, 0.003, 0.003, 0.7, 12.0, 61.0};
    for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
        fleet_metrics_request_begin(1);
        fleet_metrics_request_end(1, "POST", 204, secs[i], 1);
    }
    char *page = scrape(&t);
    static const struct {
        const char *le;
        double count;
    } want[] = {{"0.001", 2}, {"0.0025", 2}, {"0.005", 4}, {"0.5", 4}, {"1", 5},
                {"10", 5},    {"30", 6},     {"60", 6},    {"+Inf", 7}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_msg(prom_get(&t, "tinyfleet_http_request_duration_seconds_bucket", &v, "route",
                               "/data", "method", "POST", "le", want[i].le, NULL),
                      "no bucket le=%s", want[i].le);
        ck_assert_msg(v == want[i].count, "le=%s holds %g, want %g", want[i].le, v, want[i].count);
    }
    ck_assert(prom_get(&t, "tinyfleet_http_request_duration_seconds_count", &v, "route", "/data",
                       "method", "POST", NULL));
    ck_assert_double_eq(v, 7);
    ck_assert(prom_get(&t, "tinyfleet_http_request_duration_seconds_sum", &v, "route", "/data",
                       "method", "POST", NULL));
    ck_assert_double_eq_tol(v, 0.0002 + 0.001 + 0.006 + 0.7 + 12 + 61, 1e-9);
    free(page);
    prom_free(&t);
}
END_TEST

START_TEST(test_in_flight)
{
    struct prom_text t;
    double v;
    fleet_metrics_request_begin(2);
    fleet_metrics_request_begin(2);
    fleet_metrics_request_begin(0);
    fleet_metrics_request_end(0, "GET", 200, 0.001, 1);
    char *page = scrape(&t);
    ck_assert(
        prom_get(&t, "tinyfleet_http_requests_in_flight", &v, "route", "/api/v1/events", NULL));
    ck_assert_double_eq(v, 2);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_in_flight", &v, "route", "/healthz", NULL));
    ck_assert_double_eq(v, 0);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_in_flight", &v, "route", "unmatched", NULL));
    ck_assert_double_eq(v, 0);
    fleet_metrics_request_end(2, "GET", 200, 1, 1);
    fleet_metrics_request_end(2, "GET", 200, 1, 1);
    free(page);
    prom_free(&t);
}
END_TEST

START_TEST(test_reloads)
{
    struct prom_text t;
    double v, before;
    char *page = scrape(&t);
    ck_assert(
        prom_get(&t, "tinyfleet_config_last_reload_success_timestamp_seconds", &before, NULL));
    ck_assert(prom_get(&t, "process_start_time_seconds", &v, NULL));
    ck_assert_double_eq(v, before);
    ck_assert(v > 1.6e9);
    free(page);
    prom_free(&t);
    fleet_metrics_reload(1);
    fleet_metrics_reload(0);
    fleet_metrics_reload(0);
    page = scrape(&t);
    ck_assert(prom_get(&t, "tinyfleet_config_reloads_total", &v, "result", "success", NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_config_reloads_total", &v, "result", "failure", NULL));
    ck_assert_double_eq(v, 2);
    ck_assert(prom_get(&t, "tinyfleet_config_last_reload_success_timestamp_seconds", &v, NULL));
    ck_assert(v >= before);
    free(page);
    prom_free(&t);
}
END_TEST

/* Label values and help text with the characters the format escapes read back unchanged. */
START_TEST(test_escaping_and_values)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    struct prom_text t;
    char err[256];
    double v;
    const char *odd = "a \"quoted\" back\\slash and\na newline, \xc3\xa9t\xc3\xa9";
    fleet_metrics_family(&b, "x_info", "gauge", "help with \\ and\nnewline");
    struct fleet_metric_label l[] = {{"v", odd}, {"empty", ""}};
    fleet_metrics_sample(&b, "x_info", l, 2, 1);
    fleet_metrics_family(&b, "y", "gauge", "special values");
    struct fleet_metric_label k1[] = {{"k", "nan"}}, k2[] = {{"k", "inf"}}, k3[] = {{"k", "-inf"}},
                              k4[] = {{"k", "tenth"}}, k5[] = {{"k", "big"}};
    fleet_metrics_sample(&b, "y", k1, 1, NAN);
    fleet_metrics_sample(&b, "y", k2, 1, INFINITY);
    fleet_metrics_sample(&b, "y", k3, 1, -INFINITY);
    fleet_metrics_sample(&b, "y", k4, 1, 0.1);
    fleet_metrics_sample_u64(&b, "y", k5, 1, UINT64_C(18446744073709551615));
    ck_assert_msg(prom_parse(b.data, b.len, &t, err, sizeof(err)) == 0, "%s\n%s", err, b.data);
    ck_assert(prom_get(&t, "x_info", &v, "v", odd, "empty", "", NULL));
    ck_assert(prom_get(&t, "y", &v, "k", "nan", NULL) && isnan(v));
    ck_assert(prom_get(&t, "y", &v, "k", "inf", NULL) && isinf(v) && v > 0);
    ck_assert(prom_get(&t, "y", &v, "k", "-inf", NULL) && isinf(v) && v < 0);
    ck_assert(prom_get(&t, "y", &v, "k", "tenth", NULL) && v == 0.1);
    ck_assert(strstr(b.data, "y{k=\"tenth\"} 0.1\n") != NULL); /* the short form */
    ck_assert(strstr(b.data, "y{k=\"big\"} 18446744073709551615\n") != NULL);
    prom_free(&t);
    fleet_buf_free(&b);
}
END_TEST

static void poller_writer(void *ctx, struct fleet_buf *out)
{
    const int *up = ctx;
    fleet_metrics_family(out, "tinyfleet_agents", "gauge", "agents by state");
    struct fleet_metric_label u[] = {{"state", "up"}}, d[] = {{"state", "down"}};
    fleet_metrics_sample(out, "tinyfleet_agents", u, 1, up[0]);
    fleet_metrics_sample(out, "tinyfleet_agents", d, 1, up[1]);
}

START_TEST(test_sources)
{
    static int counts[2] = {3, 1};
    struct prom_text t;
    double v;
    ck_assert_int_eq(fleet_metrics_add_source(poller_writer, counts), 0);
    char *page = scrape(&t);
    ck_assert(prom_get(&t, "tinyfleet_agents", &v, "state", "up", NULL));
    ck_assert_double_eq(v, 3);
    ck_assert(prom_get(&t, "tinyfleet_agents", &v, "state", "down", NULL));
    ck_assert_double_eq(v, 1);
    free(page);
    prom_free(&t);
    for (int i = 1; i < FLEET_METRICS_MAX_SOURCES; i++)
        ck_assert_int_eq(fleet_metrics_add_source(poller_writer, counts), 0);
    ck_assert_int_eq(fleet_metrics_add_source(poller_writer, counts), -1);
    fleet_metrics_clear_sources();
    page = scrape(&t);
    ck_assert(!prom_get(&t, "tinyfleet_agents", &v, "state", "up", NULL));
    free(page);
    prom_free(&t);
}
END_TEST

static void *hammer(void *arg)
{
    int route = *(int *)arg;
    for (int i = 0; i < 20000; i++) {
        fleet_metrics_request_begin(route);
        fleet_metrics_request_end(route, i % 2 ? "GET" : "POST", i % 3 ? 200 : 503, 0.001, 1);
    }
    return NULL;
}

/* Counts stay exact with requests ending on many threads while a scrape runs. */
START_TEST(test_threads)
{
    pthread_t th[4];
    int r[4] = {0, 1, 1, 2};
    struct prom_text t;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &r[i]), 0);
    char *page = scrape(&t);
    free(page);
    prom_free(&t);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    page = scrape(&t);
    ck_assert_double_eq(prom_sum(&t, "tinyfleet_http_requests_total", NULL, NULL), 80000);
    ck_assert_double_eq(prom_sum(&t, "tinyfleet_http_requests_total", NULL, "route", "/data", NULL),
                        40000);
    ck_assert_double_eq(prom_sum(&t, "tinyfleet_http_requests_in_flight", NULL, NULL), 0);
    free(page);
    prom_free(&t);
}
END_TEST

/* The reader refuses each of these; a reader that took anything would make the scrape tests
 * worthless. */
START_TEST(test_reader_refuses)
{
    static const char *const bad[] = {
        "",
        "a 1",                                   /* no final newline */
        "a 1\r\n",                               /* carriage return */
        "1a 1\n",                                /* bad metric name */
        "a{1b=\"x\"} 1\n",                       /* bad label name */
        "a{__x=\"x\"} 1\n",                      /* reserved label name */
        "a{b=x} 1\n",                            /* unquoted value */
        "a{b=\"x\\t\"} 1\n",                     /* bad escape */
        "a{b=\"x\",b=\"y\"} 1\n",                /* label twice */
        "a{b=\"x\" 1\n",                         /* unclosed braces */
        "a 0x10\n",                              /* hex value */
        "a one\n",                               /* not a number */
        "a 1 12.5\n",                            /* fractional timestamp */
        "a 1\na 2\n",                            /* series twice */
        "a 1\nb 1\na{x=\"1\"} 2\n",              /* family split */
        "# TYPE a gauge\n# TYPE a gauge\na 1\n", /* TYPE twice */
        "# HELP a x\n# HELP a y\na 1\n",         /* HELP twice */
        "a 1\n# TYPE a gauge\n",                 /* TYPE after samples */
        "# TYPE a gauges\na 1\n",                /* unknown type */
        "# HELP a bad \\escape\na 1\n",          /* bad escape in HELP */
        "# TYPE a_total counter\na_total -1\n",  /* negative counter */
        "# TYPE a_total counter\na_total NaN\n", /* NaN counter */
        "# TYPE a counter\na 1\n",               /* counter without _total */
        "\xff 1\n",                              /* not UTF-8 */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",                     /* le not increasing */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",    /* no +Inf */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", /* count != +Inf */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",          /* no _sum */
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n",            /* no _count */
        "# TYPE h histogram\nh 1\n",                                         /* bare sample */
        "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n",              /* bucket, no le */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct prom_text t;
        char err[256] = "";
        size_t len = strlen(bad[i]);
        ck_assert_msg(prom_parse(bad[i], len, &t, err, sizeof(err)) == -1,
                      "case %zu was accepted: %s", i, bad[i]);
        ck_assert_msg(err[0], "case %zu: no message", i);
        prom_free(&t);
    }
    /* ...and takes these. */
    static const char *const good[] = {
        "a 1\n",
        "\n# a plain comment\na{b=\"x\",} 1 1700000000000\nb -Inf\nc +1.5e-3\n",
        "# HELP h a \\\\ and \\n\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 0\n"
        "h_bucket{le=\"+Inf\"} 3\nh_sum 4.5\nh_count 3\n",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct prom_text t;
        char err[256] = "";
        ck_assert_msg(prom_parse(good[i], strlen(good[i]), &t, err, sizeof(err)) == 0,
                      "case %zu was refused: %s", i, err);
        prom_free(&t);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_requests_by_route_method_status);
    tcase_add_test(tc, test_histogram_buckets);
    tcase_add_test(tc, test_in_flight);
    tcase_add_test(tc, test_reloads);
    tcase_add_test(tc, test_escaping_and_values);
    tcase_add_test(tc, test_sources);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_reader_refuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
