/* SPDX-License-Identifier: MIT */
/* Unit tests of lib/agent_proto.c, the agent protocol without I/O: RFC 3986 reference
 * resolution (the RFC's own examples, plus URI templates kept opaque), the expansion of the
 * results URL, reading an agent's TD (forms found, not assumed; every way one can be unusable),
 * and the validation of devices and results replies, field by field. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_proto.h"

/* ---- URIs ------------------------------------------------------------------------------------ */

static void resolves(const char *base, const char *ref, const char *want)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    ck_assert_int_eq(fleet_agent_uri_resolve(base, ref, &b), 0);
    ck_assert_msg(b.data && strcmp(b.data, want) == 0, "resolve(%s, %s) = %s, want %s", base, ref,
                  b.data ? b.data : "(null)", want);
    fleet_buf_free(&b);
}

START_TEST(test_rfc3986_examples)
{
    const char *base = "http://a/b/c/d;p?q";
    static const char *const ex[][2] = {
        /* 5.4.1 normal */
        {"g:h", "g:h"},
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"},
        {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"},
        {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../", "http://a/"},
        {"../../g", "http://a/g"},
        /* 5.4.2 abnormal */
        {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"},
        {"http:g", "http:g"},
    };
    for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++)
        resolves(base, ex[i][0], ex[i][1]);
    struct fleet_buf b = FLEET_BUF_INIT;
    ck_assert_int_eq(fleet_agent_uri_resolve("relative/base", "g", &b), -1);
    fleet_buf_free(&b);
}
END_TEST

START_TEST(test_templates_stay_opaque)
{
    /* The '?' inside the braces does not start a query. */
    resolves("http://127.0.0.1:8090/td", "properties/results{?since,limit}",
             "http://127.0.0.1:8090/properties/results{?since,limit}");
    resolves("http://h/agent/", "../r/{id}/x{?since}", "http://h/r/{id}/x{?since}");
    resolves("http://h/a/b", "/x?k=1{&since,limit}", "http://h/x?k=1{&since,limit}");
    resolves("https://h:8443", "r", "https://h:8443/r");
}
END_TEST

static void expands(const char *url, const char *since, unsigned limit, const char *want)
{
    char *got = fleet_agent_results_url(url, since, limit);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strcmp(got, want) == 0, "expand(%s, %s) = %s, want %s", url,
                  since ? since : "NULL", got, want);
    free(got);
}

START_TEST(test_results_url)
{
    expands("http://h/r{?since,limit}", NULL, 100, "http://h/r?limit=100");
    expands("http://h/r{?since,limit}", "m1.j20", 7, "http://h/r?since=m1.j20&limit=7");
    expands("http://h/r{?since,limit}", "a b&c/é", 1,
            "http://h/r?since=a%20b%26c%2F%C3%A9&limit=1");
    expands("http://h/r{?limit}{&since}", "x", 5, "http://h/r?limit=5&since=x");
    expands("http://h/r/{since}/p{?limit}", "7", 9, "http://h/r/7/p?limit=9");
    expands("http://h/r{?since,limit,other}", "", 3, "http://h/r?since=&limit=3");
    expands("http://h/r", NULL, 100, "http://h/r?limit=100");
    expands("http://h/r", "c", 10, "http://h/r?since=c&limit=10");
    expands("http://h/r?fmt=json", "c", 10, "http://h/r?fmt=json&since=c&limit=10");
    expands("http://h/r?#frag", NULL, 2, "http://h/r?limit=2");
    ck_assert(fleet_agent_url_ok("http://127.0.0.1:1/x"));
    ck_assert(fleet_agent_url_ok("HTTPS://host/x?y=1"));
    ck_assert(!fleet_agent_url_ok("ftp://host/x"));
    ck_assert(!fleet_agent_url_ok("http:///x"));
    ck_assert(!fleet_agent_url_ok("http://h/a b"));
    ck_assert(!fleet_agent_url_ok("http://h/{x}"));
    ck_assert(!fleet_agent_url_ok("file:///etc/passwd"));
    ck_assert(!fleet_agent_url_ok(NULL));
}
END_TEST

/* ---- TDs ------------------------------------------------------------------------------------- */

#define TD_HEAD                                                                                    \
    "{\"@context\": \"https://www.w3.org/2022/wot/td/v1.1\", \"title\": \"agent\","                \
    " \"securityDefinitions\": {\"nosec_sc\": {\"scheme\": \"nosec\"}}, \"security\": "            \
    "\"nosec_sc\", "

static enum fleet_err parse_td(const char *text, struct fleet_agent_td *td, char *field, char *err)
{
    memset(td, 0, sizeof(*td));
    return fleet_agent_td_parse(text, strlen(text), "http://10.0.0.7:8090/agent/td", td, field, 256,
                                err, 512);
}

START_TEST(test_td_forms)
{
    struct fleet_agent_td td;
    char field[256], err[512];
    const char *text =
        TD_HEAD "\"id\": \"urn:dev:agent-1\", \"base\": \"http://10.0.0.7:8090/api/\", "
                "\"properties\": {"
                "\"devices\": {\"forms\": [{\"href\": \"mqtt://broker/devices\"}, "
                "{\"href\": \"devices\", \"op\": [\"readproperty\", \"observeproperty\"]}]},"
                "\"results\": {\"uriVariables\": {\"since\": {\"type\": \"string\"}}, \"forms\": "
                "[{\"href\": \"results\", \"op\": \"writeproperty\"}, {\"href\": "
                "\"https://other.example/r{?since,limit}\", \"htv:methodName\": \"GET\"}]}},"
                "\"actions\": {\"runBenchmark\": {\"forms\": [{\"href\": \"run#frag\", "
                "\"contentType\": \"application/json\"}]}}}";
    ck_assert_msg(parse_td(text, &td, field, err) == FLEET_OK, "%s: %s", field, err);
    ck_assert_str_eq(td.title, "agent");
    ck_assert_str_eq(td.thing_id, "urn:dev:agent-1");
    ck_assert_str_eq(td.devices_url, "http://10.0.0.7:8090/api/devices");
    ck_assert_str_eq(td.results_url, "https://other.example/r{?since,limit}");
    ck_assert_str_eq(td.run_url, "http://10.0.0.7:8090/api/run");
    ck_assert_str_eq(td.run_ctype, "application/json");
    fleet_agent_td_clear(&td);
    ck_assert_ptr_null(td.title);

    /* no base: relative to the TD's own URL; no action */
    text = TD_HEAD "\"properties\": {\"devices\": {\"forms\": [{\"href\": \"d\"}]}, "
                   "\"results\": {\"forms\": [{\"href\": \"/r\"}]}}}";
    ck_assert_int_eq(parse_td(text, &td, field, err), FLEET_OK);
    ck_assert_str_eq(td.devices_url, "http://10.0.0.7:8090/agent/d");
    ck_assert_str_eq(td.results_url, "http://10.0.0.7:8090/r");
    ck_assert_ptr_null(td.run_url);
    ck_assert_ptr_null(td.thing_id);
    fleet_agent_td_clear(&td);
}
END_TEST

START_TEST(test_td_unusable)
{
    struct fleet_agent_td td;
    char field[256], err[512];
    static const struct {
        const char *text, *field, *says;
    } bad[] = {
        {"not json", "", "not a JSON object"},
        {"[1]", "", "not a JSON object"},
        {"{\"title\": \"x\"}", NULL, "not a valid Thing Description"},
        {TD_HEAD "\"properties\": {\"devices\": {\"forms\": [{\"href\": \"d\"}]}}}",
         "properties.results", "needs the properties"},
        {TD_HEAD "\"properties\": {\"results\": {\"forms\": [{\"href\": \"r\"}]}}}",
         "properties.devices", "needs the properties"},
        {TD_HEAD "\"properties\": {\"devices\": {\"forms\": [{\"href\": \"d\"}]}, \"results\": "
                 "{\"forms\": [{\"href\": \"r\", \"op\": \"writeproperty\"}]}}}",
         "properties.results.forms", "readproperty"},
        {TD_HEAD "\"properties\": {\"devices\": {\"forms\": [{\"href\": \"coap://h/d\"}]}, "
                 "\"results\": {\"forms\": [{\"href\": \"r\"}]}}}",
         "properties.devices.forms", "http or https"},
        {TD_HEAD "\"properties\": {\"devices\": {\"forms\": [{\"href\": \"d\", "
                 "\"htv:methodName\": \"POST\"}]}, \"results\": {\"forms\": [{\"href\": "
                 "\"r\"}]}}}",
         "properties.devices.forms", "method GET"},
        {TD_HEAD "\"properties\": {\"devices\": {\"forms\": [{\"href\": \"d\"}]}, \"results\": "
                 "{\"forms\": [{\"href\": \"r\"}]}}, \"actions\": {\"runBenchmark\": {\"forms\": "
                 "[{\"href\": \"x\", \"htv:methodName\": \"GET\"}]}}}",
         "actions.runBenchmark.forms", "invokeaction"},
        {TD_HEAD "\"title\": \"dup\", \"properties\": {}}", "", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse_td(bad[i].text, &td, field, err) == FLEET_ERR_INVAL, "case %zu", i);
        ck_assert_msg(!bad[i].field || strcmp(field, bad[i].field) == 0,
                      "case %zu: field %s, want %s", i, field, bad[i].field);
        ck_assert_msg(strstr(err, bad[i].says) != NULL, "case %zu: '%s' lacks '%s'", i, err,
                      bad[i].says);
        ck_assert_ptr_null(td.devices_url);
        ck_assert_ptr_null(td.results_url);
    }
}
END_TEST

/* ---- replies --------------------------------------------------------------------------------- */

START_TEST(test_devices)
{
    char **v, err[256];
    const char *text = "[\"urn:b\", \"https://x/a\", \"urn:b\"]";
    ck_assert_int_eq(fleet_agent_devices_parse(text, strlen(text), &v, err, sizeof(err)), FLEET_OK);
    ck_assert_str_eq(v[0], "https://x/a");
    ck_assert_str_eq(v[1], "urn:b");
    ck_assert_ptr_null(v[2]);
    fleet_strv_free(v);
    static const char *const bad[] = {"{}",   "[1]",          "[\"no scheme\"]", "[\"urn:a b\"]",
                                      "nope", "[\"urn:<x>\"]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(fleet_agent_devices_parse(bad[i], strlen(bad[i]), &v, err, sizeof(err)),
                         FLEET_ERR_INVAL);
        ck_assert_ptr_null(v);
        ck_assert(strstr(err, "devices") != NULL);
    }
    struct fleet_buf many = FLEET_BUF_INIT;
    fleet_buf_putc(&many, '[');
    for (int i = 0; i <= FLEET_AGENT_MAX_DEVICES; i++)
        fleet_buf_printf(&many, "%s\"urn:d:%d\"", i ? "," : "", i);
    fleet_buf_putc(&many, ']');
    ck_assert_int_eq(fleet_agent_devices_parse(many.data, many.len, &v, err, sizeof(err)),
                     FLEET_ERR_INVAL);
    fleet_buf_free(&many);
}
END_TEST

#define SHA "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
#define GOOD                                                                                       \
    "{\"id\": \"r1\", \"device\": \"urn:dev:1\", \"model_sha256\": \"" SHA "\", \"framework\": "   \
    "\"tflm\", \"runs\": 10, \"latency_ms\": {\"median\": 2.5, \"p90\": 3, \"min\": 2, \"max\": "  \
    "4}, \"arena_bytes\": 12000, \"energy_uj\": 10.5, \"accuracy\": 91, \"started\": "             \
    "\"2024-05-01T10:00:00Z\", \"finished\": \"2024-05-01T12:00:01.5+02:00\", \"status\": "        \
    "\"ok\", \"error\": null, \"job\": \"j1\", \"future_member\": [1]}"

static enum fleet_err parse_result(const char *text, struct fleet_agent_result *r, char *err)
{
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_msg(j != NULL, "test JSON does not parse: %s", text);
    enum fleet_err rc = fleet_agent_result_parse(j, r, err, 256);
    json_decref(j);
    return rc;
}

START_TEST(test_result_valid)
{
    struct fleet_agent_result r;
    char err[256];
    ck_assert_int_eq(parse_result(GOOD, &r, err), FLEET_OK);
    ck_assert_str_eq(r.id, "r1");
    ck_assert_str_eq(r.model_sha256,
                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    ck_assert(r.ok && r.has_latency && r.has_arena && r.has_energy && r.has_accuracy);
    ck_assert(r.lat_median == 2.5 && r.lat_max == 4);
    ck_assert_int_eq(r.started_ms, 1714557600000LL);
    ck_assert_int_eq(r.finished_ms, 1714557601500LL); /* 12:00:01.5+02:00 is 10:00:01.5Z */
    ck_assert_str_eq(r.job, "j1");
    json_t *j = fleet_agent_result_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    ck_assert(json_is_null(json_object_get(j, "error")));
    ck_assert_ptr_null(json_object_get(j, "future_member"));
    json_decref(j);
    fleet_agent_result_clear(&r);

    /* a failed run needs no measurements */
    const char *failed = "{\"id\": \"r2\", \"device\": \"urn:dev:1\", \"model_sha256\": \"" SHA
                         "\", \"framework\": \"tflm\", \"runs\": 0, \"started\": "
                         "\"2024-05-01T10:00:00Z\", \"finished\": \"2024-05-01T10:00:00Z\", "
                         "\"status\": \"failed\", \"error\": \"flash write failed\"}";
    ck_assert_int_eq(parse_result(failed, &r, err), FLEET_OK);
    ck_assert(!r.ok && !r.has_latency && !r.has_energy);
    ck_assert_str_eq(r.error, "flash write failed");
    fleet_agent_result_clear(&r);
}
END_TEST

/* GOOD with one member replaced (or removed, with value NULL). */
static char *variant(const char *member, const char *value)
{
    json_t *j = json_loads(GOOD, 0, NULL);
    if (value)
        json_object_set_new(j, member, json_loads(value, JSON_DECODE_ANY, NULL));
    else
        json_object_del(j, member);
    char *s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

START_TEST(test_result_invalid)
{
    static const struct {
        const char *member, *value, *says;
    } bad[] = {
        {"id", NULL, "id:"},
        {"id", "\"\"", "id:"},
        {"id", "\"a\\nb\"", "id:"},
        {"id", "7", "id:"},
        {"device", "\"not an iri\"", "device:"},
        {"device", NULL, "device:"},
        {"model_sha256", "\"abc\"", "model_sha256:"},
        {"model_sha256", "\"" SHA "0\"", "model_sha256:"},
        {"framework", "\"\"", "framework:"},
        {"status", "\"maybe\"", "status:"},
        {"runs", "-1", "runs:"},
        {"runs", "1.5", "runs:"},
        {"runs", "0", "runs:"},
        {"latency_ms", NULL, "latency_ms:"},
        {"latency_ms", "{\"median\": 1, \"p90\": 1, \"min\": 1}", "latency_ms.max:"},
        {"latency_ms", "{\"median\": 5, \"p90\": 3, \"min\": 2, \"max\": 4}", "min <= median"},
        {"latency_ms", "{\"median\": -1, \"p90\": 3, \"min\": 2, \"max\": 4}", "latency_ms.median"},
        {"latency_ms", "[1,2]", "latency_ms:"},
        {"arena_bytes", "-5", "arena_bytes:"},
        {"energy_uj", "\"lots\"", "energy_uj:"},
        {"accuracy", "100.5", "accuracy:"},
        {"started", "\"yesterday\"", "started:"},
        {"started", "\"2024-02-30T00:00:00Z\"", "started:"},
        {"finished", "\"2024-05-01T12:00:00\"", "finished:"},
        {"finished", "\"2024-05-01T09:59:59Z\"", "before started"},
        {"error", "5", "error:"},
        {"job", "{}", "job:"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fleet_agent_result r;
        char err[256] = "", *text = variant(bad[i].member, bad[i].value);
        ck_assert_msg(parse_result(text, &r, err) == FLEET_ERR_INVAL, "case %zu accepted: %s", i,
                      text);
        ck_assert_msg(strstr(err, bad[i].says) != NULL, "case %zu: '%s' lacks '%s'", i, err,
                      bad[i].says);
        ck_assert_ptr_null(r.id);
        free(text);
    }
    /* an overlong error text is cut, not refused */
    char *long_err = malloc(2 * FLEET_AGENT_MAX_ERROR + 3);
    long_err[0] = '"';
    memset(long_err + 1, 'e', 2 * FLEET_AGENT_MAX_ERROR);
    strcpy(long_err + 1 + 2 * FLEET_AGENT_MAX_ERROR, "\"");
    char *text = variant("error", long_err);
    struct fleet_agent_result r;
    char err[256];
    ck_assert_int_eq(parse_result(text, &r, err), FLEET_OK);
    ck_assert_uint_eq(strlen(r.error), FLEET_AGENT_MAX_ERROR);
    fleet_agent_result_clear(&r);
    free(text);
    free(long_err);
}
END_TEST

START_TEST(test_reply)
{
    struct fleet_agent_reply rep;
    char err[256];
    memset(&rep, 0, sizeof(rep));
    const char *text =
        "{\"results\": [" GOOD ", {\"id\": \"bad\"}, 5, " GOOD "], \"next\": \"c2\"}";
    ck_assert_int_eq(fleet_agent_reply_parse(text, strlen(text), &rep, err, sizeof(err)), FLEET_OK);
    ck_assert_uint_eq(rep.n, 2); /* duplicates are the poller's business */
    ck_assert_uint_eq(rep.n_rejected, 2);
    ck_assert_str_eq(rep.rejected[0].id, "bad");
    ck_assert(strstr(rep.rejected[0].message, "results[1]") != NULL);
    ck_assert_ptr_null(rep.rejected[1].id);
    ck_assert_str_eq(rep.next, "c2");
    fleet_agent_reply_clear(&rep);

    text = "{\"results\": []}";
    ck_assert_int_eq(fleet_agent_reply_parse(text, strlen(text), &rep, err, sizeof(err)), FLEET_OK);
    ck_assert_uint_eq(rep.n, 0);
    ck_assert_ptr_null(rep.next);
    fleet_agent_reply_clear(&rep);

    static const char *const bad[] = {"",
                                      "[]",
                                      "{\"results\": {}}",
                                      "{\"next\": \"x\"}",
                                      "{\"results\": [" GOOD "]}",
                                      "{\"results\": [" GOOD "], \"next\": null}",
                                      "{\"results\": [], \"next\": 5}",
                                      "{\"results\": [], \"next\": \"a\\u0001\"}",
                                      "{\"results\": [1,",
                                      "\xff\xfe"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(fleet_agent_reply_parse(bad[i], strlen(bad[i]), &rep, err, sizeof(err)) ==
                          FLEET_ERR_INVAL,
                      "case %zu accepted", i);
        ck_assert(strncmp(err, "results:", 8) == 0);
        ck_assert_uint_eq(rep.n, 0);
    }
    /* more results than any reply may hold */
    struct fleet_buf many = FLEET_BUF_INIT;
    fleet_buf_puts(&many, "{\"next\": \"x\", \"results\": [");
    for (int i = 0; i <= FLEET_AGENT_MAX_RESULTS; i++)
        fleet_buf_printf(&many, "%s{}", i ? "," : "");
    fleet_buf_puts(&many, "]}");
    ck_assert_int_eq(fleet_agent_reply_parse(many.data, many.len, &rep, err, sizeof(err)),
                     FLEET_ERR_INVAL);
    fleet_buf_free(&many);
}
END_TEST

START_TEST(test_agent_id)
{
    char a[17], b[17];
    fleet_agent_id("http://127.0.0.1:8090/td", a);
    fleet_agent_id("http://127.0.0.1:8091/td", b);
    ck_assert_uint_eq(strlen(a), 16);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 16);
    ck_assert_str_ne(a, b);
    fleet_agent_id("http://127.0.0.1:8090/td", b);
    ck_assert_str_eq(a, b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent_proto");
    TCase *tc = tcase_create("agent_proto");
    tcase_add_test(tc, test_rfc3986_examples);
    tcase_add_test(tc, test_templates_stay_opaque);
    tcase_add_test(tc, test_results_url);
    tcase_add_test(tc, test_td_forms);
    tcase_add_test(tc, test_td_unusable);
    tcase_add_test(tc, test_devices);
    tcase_add_test(tc, test_result_valid);
    tcase_add_test(tc, test_result_invalid);
    tcase_add_test(tc, test_reply);
    tcase_add_test(tc, test_agent_id);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
