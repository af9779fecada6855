/* SPDX-License-Identifier: MIT */
/* Unit tests of lib/bench_results.c on a real store: a result becomes the triples the ontology
 * promises and is found again by its key (agent + result id); an agent's registration and a
 * job are rewritten whole and read back by fleet_bench_load, also after the store is closed and
 * opened again; deleting an agent leaves its results; numbers and times are written in forms
 * that read back exactly. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_results.h"
#include "model_graph.h"
#include "store.h"

static char dir[256];
static struct fleet_store *st;

static void open_store(void)
{
    char err[512] = "";
    struct fleet_store_options o = {.state_dir = dir};
    ck_assert_msg(fleet_store_open(&o, &st, err, sizeof(err)) == FLEET_OK, "%s", err);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check_agent_store.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    open_store();
}

static void teardown(void)
{
    char cmd[300];
    fleet_store_close(st);
    st = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void commit(struct fleet_txn *txn)
{
    ck_assert_int_eq(fleet_store_commit(st, txn), FLEET_OK);
    fleet_txn_free(txn);
}

/* SELECT answer rows as JSON (new). */
static json_t *select_rows(const char *text)
{
    struct fleet_query q = {text,  NULL, NULL, 0, NULL, 0, "application/sparql-results+json",
                            10000, 0,    0};
    struct fleet_answer ans;
    memset(&ans, 0, sizeof(ans));
    ck_assert_msg(fleet_store_query(st, &q, &ans) == FLEET_OK, "%s", ans.message);
    json_t *doc = json_loadb(ans.body.data, ans.body.len, 0, NULL);
    fleet_buf_free(&ans.body);
    json_t *rows = json_incref(json_object_get(json_object_get(doc, "results"), "bindings"));
    json_decref(doc);
    ck_assert(json_is_array(rows));
    return rows;
}

static const char *cell(json_t *rows, size_t i, const char *var)
{
    return json_string_value(
        json_object_get(json_object_get(json_array_get(rows, i), var), "value"));
}

static struct fleet_agent_result result(const char *id, const char *json_extra)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"id\": \"%s\", \"device\": \"urn:dev:board-1\", \"model_sha256\": "
             "\"%064d\", \"framework\": \"tflm\", \"runs\": 100, \"latency_ms\": {\"median\": "
             "43.417853421326846, \"p90\": 50, \"min\": 0.1, \"max\": 60}, \"started\": "
             "\"2024-05-01T10:00:00Z\", \"finished\": \"2024-05-01T10:00:05.250Z\", \"status\": "
             "\"ok\"%s}",
             id, 7, json_extra ? json_extra : "");
    json_t *j = json_loads(text, 0, NULL);
    struct fleet_agent_result r;
    char err[256];
    ck_assert_msg(fleet_agent_result_parse(j, &r, err, sizeof(err)) == FLEET_OK, "%s", err);
    json_decref(j);
    return r;
}

START_TEST(test_result_triples)
{
    struct fleet_agent_result r =
        result("run/1 é?", ", \"energy_uj\": 1430.6681, \"accuracy\": 90.2, \"job\": \"j/1\"");
    ck_assert_int_eq(fleet_bench_result_stored(st, "aaaaaaaaaaaaaaaa", r.id), 0);
    struct fleet_txn *txn = fleet_txn_new();
    ck_assert_int_eq(fleet_bench_result_txn("aaaaaaaaaaaaaaaa", &r, 1714557606000LL, txn),
                     FLEET_OK);
    commit(txn);
    ck_assert_int_eq(fleet_bench_result_stored(st, "aaaaaaaaaaaaaaaa", "run/1 é?"), 1);
    ck_assert_int_eq(fleet_bench_result_stored(st, "bbbbbbbbbbbbbbbb", "run/1 é?"), 0);
    ck_assert_int_eq(fleet_bench_result_stored(st, "aaaaaaaaaaaaaaaa", "run/2"), 0);

    json_t *rows = select_rows(
        "PREFIX fleet: <https://tinyfleet.dev/ns#>\n"
        "PREFIX sosa: <http://www.w3.org/ns/sosa/>\n"
        "SELECT ?r ?g ?id ?agent ?dev ?foi ?sha ?med ?energy ?acc ?at ?status ?job ?doc WHERE {"
        " GRAPH ?g { ?r a fleet:BenchmarkResult, sosa:Observation ; fleet:resultId ?id ;"
        " fleet:agent ?agent ; fleet:device ?dev ; sosa:hasFeatureOfInterest ?foi ;"
        " fleet:modelSha256 ?sha ; fleet:latencyMedianMs ?med ; fleet:energyMicrojoules ?energy ;"
        " fleet:accuracy ?acc ; fleet:measuredAt ?at ; fleet:status ?status ; fleet:job ?job ;"
        " fleet:document ?doc } }");
    ck_assert_uint_eq(json_array_size(rows), 1);
    ck_assert_str_eq(cell(rows, 0, "r"),
                     FLEET_BENCH_IRI_BASE "aaaaaaaaaaaaaaaa/run%2F1%20%C3%A9%3F");
    ck_assert_str_eq(cell(rows, 0, "g"), FLEET_BENCH_GRAPH_BASE "aaaaaaaaaaaaaaaa");
    ck_assert_str_eq(cell(rows, 0, "id"), "run/1 é?");
    ck_assert_str_eq(cell(rows, 0, "agent"), "aaaaaaaaaaaaaaaa");
    ck_assert_str_eq(cell(rows, 0, "dev"), "urn:dev:board-1");
    ck_assert_str_eq(cell(rows, 0, "foi"), "urn:dev:board-1");
    ck_assert_str_eq(cell(rows, 0, "med"), "43.417853421326846");
    ck_assert_str_eq(cell(rows, 0, "energy"), "1430.6681");
    ck_assert_str_eq(cell(rows, 0, "acc"), "90.2");
    /* rasqal writes xsd:dateTime canonically: no trailing zeros in the fraction */
    ck_assert_str_eq(cell(rows, 0, "at"), "2024-05-01T10:00:05.25Z");
    ck_assert_str_eq(cell(rows, 0, "status"), "ok");
    ck_assert_str_eq(cell(rows, 0, "job"), FLEET_JOB_IRI_BASE "j%2F1");
    json_t *doc = json_loads(cell(rows, 0, "doc"), 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "agent")), "aaaaaaaaaaaaaaaa");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "received")),
                     "2024-05-01T10:00:06.000Z");
    ck_assert(json_real_value(json_object_get(doc, "accuracy")) == 90.2);
    json_decref(doc);
    json_decref(rows);
    fleet_agent_result_clear(&r);
}
END_TEST

struct seen {
    json_t *docs;
};

static void collect(void *ctx, const json_t *doc)
{
    struct seen *s = ctx;
    json_array_append(s->docs, (json_t *)doc);
}

static json_t *load_all(const char *base)
{
    struct seen s = {json_array()};
    ck_assert_int_ge(fleet_bench_load(st, base, collect, &s), 0);
    return s.docs;
}

static json_t *agent_state(const char *cursor, int results)
{
    return json_pack("{s:s, s:s, s:i, s:b, s:s, s:s, s:s?, s:i, s:[s, s]}", "id",
                     "cccccccccccccccc", "td_url", "http://127.0.0.1:9/td", "interval_s", 60,
                     "configured", 0, "registered", "2024-05-01T10:00:00.000Z", "title", "agent",
                     "cursor", cursor, "results_received", results, "devices", "urn:dev:a",
                     "urn:dev:b");
}

START_TEST(test_agent_rewritten_and_reloaded)
{
    struct fleet_txn *txn = fleet_txn_new();
    json_t *a = agent_state(NULL, 0);
    ck_assert_int_eq(fleet_bench_agent_txn(a, txn), FLEET_OK);
    json_decref(a);
    commit(txn);
    /* a result and the cursor after it, in one transaction */
    struct fleet_agent_result r = result("r1", NULL);
    txn = fleet_txn_new();
    ck_assert_int_eq(fleet_bench_result_txn("cccccccccccccccc", &r, 1714557606000LL, txn),
                     FLEET_OK);
    a = agent_state("cursor-1", 1);
    ck_assert_int_eq(fleet_bench_agent_txn(a, txn), FLEET_OK);
    json_decref(a);
    commit(txn);
    fleet_agent_result_clear(&r);

    json_t *docs = load_all(FLEET_AGENT_GRAPH_BASE);
    ck_assert_uint_eq(json_array_size(docs), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(docs, 0), "cursor")),
                     "cursor-1");
    json_decref(docs);
    json_t *rows = select_rows("PREFIX fleet: <https://tinyfleet.dev/ns#>\n"
                               "SELECT ?c ?n ?d WHERE { ?a a fleet:Agent ; fleet:cursor ?c ;"
                               " fleet:resultsReceived ?n ; fleet:fronts ?d } ORDER BY ?d");
    ck_assert_uint_eq(json_array_size(rows), 2);
    ck_assert_str_eq(cell(rows, 0, "c"), "cursor-1");
    ck_assert_str_eq(cell(rows, 0, "n"), "1");
    ck_assert_str_eq(cell(rows, 1, "d"), "urn:dev:b");
    json_decref(rows);

    /* close and open: the same state */
    fleet_store_close(st);
    open_store();
    docs = load_all(FLEET_AGENT_GRAPH_BASE);
    ck_assert_uint_eq(json_array_size(docs), 1);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(docs, 0), "results_received")), 1);
    json_decref(docs);
    ck_assert_int_eq(fleet_bench_result_stored(st, "cccccccccccccccc", "r1"), 1);

    /* removing the agent keeps its results */
    txn = fleet_txn_new();
    ck_assert_int_eq(fleet_bench_agent_delete_txn("cccccccccccccccc", txn), FLEET_OK);
    commit(txn);
    docs = load_all(FLEET_AGENT_GRAPH_BASE);
    ck_assert_uint_eq(json_array_size(docs), 0);
    json_decref(docs);
    ck_assert_int_eq(fleet_bench_result_stored(st, "cccccccccccccccc", "r1"), 1);
    /* other documents (models) are not agents */
    docs = load_all(FLEET_JOB_GRAPH_BASE);
    ck_assert_uint_eq(json_array_size(docs), 0);
    json_decref(docs);
}
END_TEST

START_TEST(test_job_document)
{
    json_t *job = json_pack("{s:s, s:s, s:s, s:i, s:s, s:n, s:s, s:[{s:s, s:s, s:s, s:i, s:n, "
                            "s:n, s:s}]}",
                            "id", "0123456789abcdef", "model", "fedcba9876543210", "model_sha256",
                            "ab", "runs", 10, "created", "2024-05-01T10:00:00.000Z", "created_by",
                            "state", "queued", "items", "device", "urn:dev:a", "agent",
                            "cccccccccccccccc", "state", "queued", "attempts", 0, "error", "result",
                            "updated", "2024-05-01T10:00:00.000Z");
    struct fleet_txn *txn = fleet_txn_new();
    ck_assert_int_eq(fleet_bench_job_txn(job, txn), FLEET_OK);
    commit(txn);
    json_object_set_new(json_array_get(json_object_get(job, "items"), 0), "state",
                        json_string("done"));
    txn = fleet_txn_new();
    ck_assert_int_eq(fleet_bench_job_txn(job, txn), FLEET_OK);
    commit(txn);
    json_decref(job);
    json_t *docs = load_all(FLEET_JOB_GRAPH_BASE);
    ck_assert_uint_eq(json_array_size(docs), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_array_get(docs, 0), "items"), 0), "state")),
        "done");
    json_decref(docs);
    json_t *rows = select_rows("PREFIX fleet: <https://tinyfleet.dev/ns#>\n"
                               "SELECT ?s ?dev WHERE { ?j a fleet:BenchmarkJob ; fleet:jobItem ?i ."
                               " ?i fleet:jobState ?s ; fleet:device ?dev }");
    ck_assert_uint_eq(json_array_size(rows), 1);
    ck_assert_str_eq(cell(rows, 0, "s"), "done");
    ck_assert_str_eq(cell(rows, 0, "dev"), "urn:dev:a");
    json_decref(rows);
}
END_TEST

START_TEST(test_number_and_time_forms)
{
    char t[32];
    static const double v[] = {0.1, 2.5, 43.417853421326846, 1e-7, 1430.6681, 123456789.0, 0};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        fleet_bench_double(v[i], t);
        ck_assert_msg(strtod(t, NULL) == v[i], "%s does not read back as %.17g", t, v[i]);
    }
    fleet_bench_double(0.1, t);
    ck_assert_str_eq(t, "0.1");
    fleet_bench_double(90.2, t);
    ck_assert_str_eq(t, "90.2");
    fleet_bench_time(0, t);
    ck_assert_str_eq(t, "1970-01-01T00:00:00.000Z");
    fleet_bench_time(1714557601500LL, t);
    ck_assert_str_eq(t, "2024-05-01T10:00:01.500Z");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent_store");
    TCase *tc = tcase_create("agent_store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_result_triples);
    tcase_add_test(tc, test_agent_rewritten_and_reloaded);
    tcase_add_test(tc, test_job_document);
    tcase_add_test(tc, test_number_and_time_forms);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
