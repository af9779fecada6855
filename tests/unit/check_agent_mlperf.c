/* SPDX-License-Identifier: MIT */
/* Unit tests of tinyfleet-agent's reader of MLPerf Tiny results (agent/mlperf.c) and of its
 * results ledger (agent/ledger.c): the numbers read from results.txt lines, the fixture tree
 * tests/data/mlperf-tiny as RESULTs, and the cursor over the tree and a JSON-lines file that
 * grows (a half-written line is not served, a bad line is skipped, a cursor stays valid for a new
 * ledger over the same files, i.e. across a restart of the agent). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "mlperf.h"

#define SHA_KWS "1111111111111111111111111111111111111111111111111111111111111111"
#define SHA_VWW "2222222222222222222222222222222222222222222222222222222222222222"

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fabs(b);
}

START_TEST(test_performance_lines)
{
    struct fleet_mlperf_perf p;
    const char *text = "junk\n"
                       "00012.015 ulp-mlperf:   # Inferences :          400\n"
                       "00012.015 ulp-mlperf:   Throughput   :       20.000 inf./sec.\n"
                       "x:   # Inferences :          100\n"
                       "x:   Throughput   :       25.000 inf./sec.\n"
                       "x:   Throughput   :       10.000 inf./sec.\n"
                       "00084.400 ulp-mlperf: Median throughput is 20.000 inf./sec.\n";
    ck_assert_int_eq(fleet_mlperf_parse_performance(text, &p), 0);
    ck_assert(near(p.median_ms, 50.0));
    ck_assert(near(p.min_ms, 40.0));
    ck_assert(near(p.max_ms, 100.0));
    ck_assert(near(p.p90_ms, 100.0)); /* nearest rank of 3 windows: the largest */
    ck_assert_int_eq(p.runs, 500);
    ck_assert_uint_eq(p.windows, 3);
    /* a median alone */
    ck_assert_int_eq(fleet_mlperf_parse_performance("Median throughput is 8.5 inf./sec.", &p), 0);
    ck_assert(near(p.median_ms, 1000.0 / 8.5) && p.min_ms == p.median_ms &&
              p.max_ms == p.median_ms);
    ck_assert_int_eq(p.runs, 1);
    ck_assert_int_eq(fleet_mlperf_parse_performance("Throughput : 3 inf./sec.\n", &p), -1);
    ck_assert_int_eq(fleet_mlperf_parse_performance("Median throughput is 0 inf./sec.", &p), -1);
    ck_assert_int_eq(fleet_mlperf_parse_performance("", &p), -1);

    double v;
    ck_assert_int_eq(fleet_mlperf_parse_energy("a\nMedian energy cost is 1430.6681 uJ/inf.\n", &v),
                     0);
    ck_assert(near(v, 1430.6681));
    ck_assert_int_eq(fleet_mlperf_parse_energy("Energy : 3 uJ\n", &v), -1);
    ck_assert_int_eq(fleet_mlperf_parse_accuracy("x: Top 1% = 90.2\n", &v), 0);
    ck_assert(near(v, 90.2));
    ck_assert_int_eq(fleet_mlperf_parse_accuracy("x: Top-1: 89.5%\n", &v), 0);
    ck_assert(near(v, 89.5));
    ck_assert_int_eq(fleet_mlperf_parse_accuracy("AUC = 0.86\n", &v), -1);
    ck_assert_int_eq(fleet_mlperf_parse_accuracy("Top 1% = 190\n", &v), -1);
}
END_TEST

static json_t *scan_fixture(void)
{
    const char *top = getenv("TOP_SRCDIR");
    char dir[1024], err[256];
    snprintf(dir, sizeof(dir), "%s/tests/data/mlperf-tiny", top ? top : ".");
    static const char *const bn[] = {"kws", "vww"}, *const bs[] = {SHA_KWS, SHA_VWW};
    static const char *const sn[] = {"fixture_m4"}, *const sd[] = {"https://example.org/m4"};
    struct fleet_mlperf_map map = {bn, bs, 2, sn, sd, 1};
    json_t *v = fleet_mlperf_scan(dir, &map, err, sizeof(err));
    ck_assert_msg(v != NULL, "%s", err);
    return v;
}

static json_t *by_id(json_t *arr, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) if (strcmp(json_string_value(json_object_get(e, "id")), id) ==
                                      0) return e;
    return NULL;
}

START_TEST(test_fixture_tree)
{
    json_t *v = scan_fixture();
    /* kws and vww of m4, kws of m0; ad has no model, ic no median */
    ck_assert_uint_eq(json_array_size(v), 3);
    json_t *kws = by_id(v, "mlperf/fixture_m4/kws");
    ck_assert_ptr_nonnull(kws);
    ck_assert_str_eq(json_string_value(json_object_get(kws, "device")), "https://example.org/m4");
    ck_assert_str_eq(json_string_value(json_object_get(kws, "model_sha256")), SHA_KWS);
    ck_assert_str_eq(json_string_value(json_object_get(kws, "framework")), "tflm (fixture build)");
    json_t *lat = json_object_get(kws, "latency_ms");
    ck_assert(near(json_real_value(json_object_get(lat, "median")), 1000.0 / 23.032));
    ck_assert(near(json_real_value(json_object_get(lat, "min")), 1000.0 / 23.041));
    ck_assert(near(json_real_value(json_object_get(lat, "max")), 1000.0 / 23.015));
    ck_assert_int_eq(json_integer_value(json_object_get(kws, "runs")), 2000);
    ck_assert(near(json_real_value(json_object_get(kws, "energy_uj")), 1430.6681));
    ck_assert(near(json_real_value(json_object_get(kws, "accuracy")), 90.2));
    json_t *m0 = by_id(v, "mlperf/fixture_m0/kws");
    ck_assert_str_eq(json_string_value(json_object_get(m0, "device")),
                     "urn:tinyfleet:mlperf:fixture_m0");
    ck_assert(near(json_real_value(json_object_get(m0, "accuracy")), 89.5));
    ck_assert(json_is_null(json_object_get(m0, "energy_uj")));
    json_t *vww = by_id(v, "mlperf/fixture_m4/vww");
    ck_assert_str_eq(json_string_value(json_object_get(vww, "model_sha256")), SHA_VWW);
    ck_assert_ptr_null(by_id(v, "mlperf/fixture_m4/ad"));
    json_decref(v);
    char err[256];
    struct fleet_mlperf_map none = {0};
    ck_assert_ptr_null(fleet_mlperf_scan("/nonexistent", &none, err, sizeof(err)));
}
END_TEST

static char jsonl[256];

static void append_text(const char *text)
{
    FILE *f = fopen(jsonl, "a");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

#define LINE(id)                                                                                   \
    "{\"id\":\"" id "\",\"device\":\"urn:dev:x\",\"model_sha256\":\"" SHA_KWS "\","                \
    "\"framework\":\"tflm\",\"runs\":3,\"latency_ms\":{\"median\":1,\"p90\":1,\"min\":1,"          \
    "\"max\":1},\"started\":\"2024-05-01T10:00:00Z\",\"finished\":\"2024-05-01T10:00:01Z\","       \
    "\"status\":\"ok\"%s}"

static void ids_are(json_t *page, const char *const *want, size_t n)
{
    json_t *r = json_object_get(page, "results");
    ck_assert_uint_eq(json_array_size(r), n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r, i), "id")), want[i]);
}

START_TEST(test_ledger_cursor)
{
    snprintf(jsonl, sizeof(jsonl), "/tmp/check_agent_ledger.XXXXXX");
    int fd = mkstemp(jsonl);
    ck_assert_int_ge(fd, 0);
    close(fd);
    struct fleet_ledger *l = fleet_ledger_new(scan_fixture(), jsonl);
    ck_assert_ptr_nonnull(l);

    json_t *p = fleet_ledger_page(l, NULL, 2);
    const char *w1[] = {"mlperf/fixture_m0/kws", "mlperf/fixture_m4/kws"};
    ids_are(p, w1, 2);
    char next[64];
    snprintf(next, sizeof(next), "%s", json_string_value(json_object_get(p, "next")));
    ck_assert_str_eq(next, "m2.j0");
    json_decref(p);

    char line[2048];
    snprintf(line, sizeof(line), LINE("h1") "\n", "");
    append_text(line);
    append_text("not json\n");
    snprintf(line, sizeof(line), LINE("h2") "\n", ",\"job\":\"job-7\"");
    append_text(line);
    snprintf(line, sizeof(line), LINE("h3"), ""); /* no newline yet: half written */
    append_text(line);
    p = fleet_ledger_page(l, next, 10);
    const char *w2[] = {"mlperf/fixture_m4/vww", "h1", "h2"};
    ids_are(p, w2, 3);
    snprintf(next, sizeof(next), "%s", json_string_value(json_object_get(p, "next")));
    json_decref(p);
    ck_assert(fleet_ledger_has_job(l, "job-7", "urn:dev:x"));
    ck_assert(!fleet_ledger_has_job(l, "job-7", "urn:dev:y"));

    /* nothing new: the same cursor, no results */
    p = fleet_ledger_page(l, next, 10);
    ids_are(p, NULL, 0);
    ck_assert_str_eq(json_string_value(json_object_get(p, "next")), next);
    json_decref(p);

    /* the line completes; a new ledger (the agent restarted) continues from the cursor */
    append_text("\n");
    fleet_ledger_free(l);
    l = fleet_ledger_new(scan_fixture(), jsonl);
    p = fleet_ledger_page(l, next, 10);
    const char *w3[] = {"h3"};
    ids_are(p, w3, 1);
    json_decref(p);

    /* appending through the ledger */
    json_t *r = json_loads("{\"id\":\"h4\",\"device\":\"urn:dev:z\",\"model_sha256\":\"" SHA_KWS
                           "\",\"framework\":\"tflm\",\"runs\":0,\"started\":"
                           "\"2024-05-01T10:00:00Z\",\"finished\":\"2024-05-01T10:00:00Z\","
                           "\"status\":\"failed\",\"error\":\"no board\"}",
                           0, NULL);
    char err[256];
    ck_assert_int_eq(fleet_ledger_append(l, r, err, sizeof(err)), 0);
    json_decref(r);
    p = fleet_ledger_page(l, NULL, 100);
    ck_assert_uint_eq(json_array_size(json_object_get(p, "results")), 7);
    json_decref(p);

    json_t *devs = fleet_ledger_devices(l, (const char *[]){"urn:dev:extra"}, 1);
    ck_assert_uint_eq(json_array_size(devs), 5);
    ck_assert_str_eq(json_string_value(json_array_get(devs, 0)), "https://example.org/m4");
    json_decref(devs);

    static const char *const bad[] = {"m", "x1.j2", "m1.j-1", "m1.j2x", "m-1.j0", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(fleet_ledger_page(l, bad[i], 1) == NULL, "cursor '%s' accepted", bad[i]);
    fleet_ledger_free(l);
    unlink(jsonl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent_mlperf");
    TCase *tc = tcase_create("agent_mlperf");
    tcase_add_test(tc, test_performance_lines);
    tcase_add_test(tc, test_fixture_tree);
    tcase_add_test(tc, test_ledger_cursor);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
