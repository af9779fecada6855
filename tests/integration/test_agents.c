/* SPDX-License-Identifier: MIT */
/* Integration tests for device agents (daemon/poller.c, daemon/routes_agents.c, lib/agent*.c)
 * on the real daemon. Fake agents run in this process on 127.0.0.1 (libmicrohttpd), each
 * serving a TD, its boards and its results, and misbehaving on demand: hanging, closing the
 * connection mid-body, answering 500, sending invalid JSON, a 100 MB body (with and without a
 * Content-Length), a cursor that goes backwards, ids sent twice, a TD without the needed forms,
 * a runBenchmark that fails before it works. Each test asserts what a user sees: the agent's
 * health, the results exactly once in /api/v1/benchmarks and through /sparql, the other agents
 * and the daemon going on undisturbed. The real tinyfleet-agent serves tests/data/mlperf-tiny
 * (loaded from agents_file) for the end-to-end test: results across kill -9 of the daemon and a
 * restart of the agent, a job from the API call to stored results, and matching ranked by
 * measured latency. */
#include <check.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "harness.h"
#include "tflite_writer.h"

#define API "/api/v1"
#define BOARD_A EX "board/a"
#define BOARD_B EX "board/b"
#define FAST "agent_timeout 500ms\nagent_max_reply 1M\nagent_max_backoff 2s\n"

/* ---- fake agents ----------------------------------------------------------------------------- */

enum fault {
    F_NONE,
    F_HANG,         /* results: never answers (until the test ends) */
    F_CLOSE,        /* results: promises 1000 bytes, sends 10, closes */
    F_500,          /* results: HTTP 500 */
    F_BADJSON,      /* results: 200 with text that is not JSON */
    F_HUGE,         /* results: a 100 MB body with a Content-Length */
    F_HUGE_CHUNKED, /* results: a 100 MB body, chunked */
    F_BACKWARDS,    /* results: "next" one before where it should be; resends */
    F_DUPS,         /* results: every result twice in the reply */
};

struct fake {
    struct MHD_Daemon *mhd;
    unsigned port;
    char td_url[128];
    pthread_mutex_t mu;
    enum fault fault;
    int td_without_forms; /* the TD lacks the property "results" */
    int run_action;       /* the TD offers runBenchmark */
    int run_fail_first;   /* runBenchmark answers 500 this many times first */
    long delay_ms;        /* every results reply waits this long */
    json_t *results;      /* RESULT objects; the cursor is the index, in decimal */
    json_t *devices;
    json_t *since_log; /* the since of every results request (null when absent) */
    json_t *runs;      /* runBenchmark inputs */
    unsigned results_requests, td_requests;
    volatile int stopping;
};

static struct fake *fakes[16];

static char *td_text(struct fake *f)
{
    json_t *td =
        json_pack("{s:s, s:s, s:s, s:{s:{s:s}}, s:s, s:{s:{s:[{s:s}]}, s:{s:[{s:s, s:s}]}}}",
                  "@context", "https://www.w3.org/2022/wot/td/v1.1", "title", "fake agent", "base",
                  "", "securityDefinitions", "nosec_sc", "scheme", "nosec", "security", "nosec_sc",
                  "properties", "devices", "forms", "href", "devices", "results", "forms", "href",
                  "results{?since,limit}", "op", "readproperty");
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%u/", f->port);
    json_object_set_new(td, "base", json_string(base));
    if (f->td_without_forms)
        json_object_del(json_object_get(td, "properties"), "results");
    if (f->run_action)
        json_object_set_new(td, "actions",
                            json_pack("{s:{s:[{s:s}]}}", "runBenchmark", "forms", "href", "run"));
    char *s = json_dumps(td, JSON_COMPACT);
    json_decref(td);
    return s;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static ssize_t close_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    if (pos == 0 && max >= 10) {
        memcpy(buf, "{\"results\"", 10);
        return 10;
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static ssize_t huge_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct fake *f = cls;
    if (pos >= (100u << 20) || f->stopping)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > (100u << 20) - pos)
        max = (size_t)((100u << 20) - pos);
    memset(buf, ' ', max);
    return (ssize_t)max;
}

static enum MHD_Result results_reply(struct fake *f, struct MHD_Connection *c)
{
    const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    size_t limit = ls ? (size_t)atoi(ls) : 100, start = since ? (size_t)atoi(since) : 0;
    pthread_mutex_lock(&f->mu);
    f->results_requests++;
    json_array_append_new(f->since_log, since ? json_string(since) : json_null());
    enum fault fault = f->fault;
    long delay = f->delay_ms;
    pthread_mutex_unlock(&f->mu);
    if (delay)
        sleep_ms(delay);
    struct MHD_Response *r;
    enum MHD_Result ret;
    switch (fault) {
    case F_HANG:
        for (int i = 0; i < 300 && !f->stopping; i++)
            sleep_ms(100);
        return reply(c, 200, "{\"results\": []}");
    case F_CLOSE:
        r = MHD_create_response_from_callback(1000, 64, close_reader, f, NULL);
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    case F_500:
        return reply(c, 500, "{\"error\": \"database on fire\"}");
    case F_BADJSON:
        return reply(c, 200, "{\"results\": [ this is not json");
    case F_HUGE:
    case F_HUGE_CHUNKED:
        r = MHD_create_response_from_callback(fault == F_HUGE ? (100u << 20) : MHD_SIZE_UNKNOWN,
                                              64 * 1024, huge_reader, f, NULL);
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    default:
        break;
    }
    pthread_mutex_lock(&f->mu);
    size_t n = json_array_size(f->results);
    if (fault == F_BACKWARDS && since)
        start = start >= 2 ? start - 2 : 0;
    json_t *page = json_array();
    size_t k = start;
    for (; k < n && k < start + limit; k++) {
        json_array_append(page, json_array_get(f->results, k));
        if (fault == F_DUPS)
            json_array_append(page, json_array_get(f->results, k));
    }
    size_t next = k;
    if (fault == F_BACKWARDS && next > 0)
        next--;
    pthread_mutex_unlock(&f->mu);
    char cursor[32];
    snprintf(cursor, sizeof(cursor), "%zu", next);
    json_t *o = json_pack("{s:o, s:s}", "results", page, "next", cursor);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ret = reply(c, 200, text);
    free(text);
    return ret;
}

/* The result a fake makes for a runBenchmark input. */
static json_t *job_result(json_t *in, double latency)
{
    char id[128];
    snprintf(id, sizeof(id), "job-%s", json_string_value(json_object_get(in, "job")));
    return json_pack("{s:s, s:O, s:O, s:s, s:i, s:{s:f, s:f, s:f, s:f}, s:s, s:s, s:s, s:O}", "id",
                     id, "device", json_object_get(in, "device"), "model_sha256",
                     json_object_get(in, "model_sha256"), "framework", "tflm", "runs", 5,
                     "latency_ms", "median", latency, "p90", latency, "min", latency, "max",
                     latency, "started", "2024-05-01T10:00:00Z", "finished", "2024-05-01T10:00:01Z",
                     "status", "ok", "job", json_object_get(in, "job"));
}

static enum MHD_Result on_fake(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls)
{
    struct fake *f = cls;
    (void)version;
    if (!*req_cls) {
        struct fleet_buf *b = calloc(1, sizeof(*b));
        *req_cls = b;
        return b ? MHD_YES : MHD_NO;
    }
    struct fleet_buf *body = *req_cls;
    if (*size) {
        fleet_buf_append(body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/td") == 0) {
        pthread_mutex_lock(&f->mu);
        f->td_requests++;
        char *td = td_text(f);
        pthread_mutex_unlock(&f->mu);
        enum MHD_Result ret = reply(c, 200, td);
        free(td);
        return ret;
    }
    if (strcmp(url, "/devices") == 0) {
        pthread_mutex_lock(&f->mu);
        char *text = json_dumps(f->devices, JSON_COMPACT);
        pthread_mutex_unlock(&f->mu);
        enum MHD_Result ret = reply(c, 200, text);
        free(text);
        return ret;
    }
    if (strcmp(url, "/results") == 0)
        return results_reply(f, c);
    if (strcmp(url, "/run") == 0 && strcmp(method, "POST") == 0) {
        json_t *in = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
        pthread_mutex_lock(&f->mu);
        int fail = f->run_fail_first > 0;
        if (fail)
            f->run_fail_first--;
        json_array_append(f->runs, in ? in : json_null());
        if (!fail && in)
            json_array_append_new(f->results, job_result(in, 7.5));
        pthread_mutex_unlock(&f->mu);
        json_decref(in);
        return fail ? reply(c, 500, "{}") : reply(c, 202, "{\"status\": \"accepted\"}");
    }
    return reply(c, 404, "{}");
}

static void on_fake_done(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct fleet_buf *b = *req_cls;
    if (b)
        fleet_buf_free(b);
    free(b);
    *req_cls = NULL;
}

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* A RESULT (new). */
static json_t *make_result(const char *id, const char *device, const char *sha, double latency,
                           int ok)
{
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "id", id, "device", device,
                          "model_sha256", sha, "framework", "tflm", "runs", ok ? 10 : 0, "started",
                          "2024-05-01T10:00:00Z", "finished", "2024-05-01T10:00:01Z", "status",
                          ok ? "ok" : "failed");
    if (ok)
        json_object_set_new(r, "latency_ms",
                            json_pack("{s:f, s:f, s:f, s:f}", "median", latency, "p90", latency,
                                      "min", latency, "max", latency));
    else
        json_object_set_new(r, "error", json_string("the board did not answer"));
    return r;
}

/* A fake with n results r0..r(n-1) on device for sha. */
static struct fake *fake_start(size_t n, const char *device, const char *sha)
{
    struct fake *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    pthread_mutex_init(&f->mu, NULL);
    f->results = json_array();
    f->devices = json_pack("[s]", device);
    f->since_log = json_array();
    f->runs = json_array();
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "r%zu", i);
        json_array_append_new(f->results, make_result(id, device, sha, 10.0 + (double)i, 1));
    }
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                              NULL, NULL, on_fake, f, MHD_OPTION_SOCK_ADDR, &sin,
                              MHD_OPTION_NOTIFY_COMPLETED, on_fake_done, f, MHD_OPTION_END);
    ck_assert_ptr_nonnull(f->mhd);
    f->port = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(f->td_url, sizeof(f->td_url), "http://127.0.0.1:%u/td", f->port);
    for (int i = 0; i < 16; i++)
        if (!fakes[i]) {
            fakes[i] = f;
            break;
        }
    return f;
}

static void fake_stop(struct fake *f)
{
    f->stopping = 1;
    MHD_stop_daemon(f->mhd);
    json_decref(f->results);
    json_decref(f->devices);
    json_decref(f->since_log);
    json_decref(f->runs);
    for (int i = 0; i < 16; i++)
        if (fakes[i] == f)
            fakes[i] = NULL;
    free(f);
}

static void fakes_stop_all(void)
{
    for (int i = 0; i < 16; i++)
        if (fakes[i])
            fake_stop(fakes[i]);
}

static void fake_set(struct fake *f, enum fault fault)
{
    pthread_mutex_lock(&f->mu);
    f->fault = fault;
    pthread_mutex_unlock(&f->mu);
}

static void fake_add(struct fake *f, json_t *result)
{
    pthread_mutex_lock(&f->mu);
    json_array_append_new(f->results, result);
    pthread_mutex_unlock(&f->mu);
}

static unsigned fake_results_requests(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    unsigned n = f->results_requests;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* ---- the daemon's side ----------------------------------------------------------------------- */

static void post_json(const struct daemon *d, const char *path, const char *body, struct reply *r)
{
    http(d, "POST", path, WRITE_TOKEN, "application/json", NULL, body, strlen(body), r);
}

/* Registers f (interval in seconds) and returns the agent's id (new). */
static char *register_fake(const struct daemon *d, const char *td_url, double interval)
{
    char body[512];
    struct reply r;
    snprintf(body, sizeof(body), "{\"td_url\": \"%s\", \"interval_s\": %g}", td_url, interval);
    post_json(d, API "/agents", body, &r);
    ck_assert_msg(r.status == 201, "register %s: %ld %s", td_url, r.status, r.body);
    json_t *j = reply_json(&r);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    char want[64];
    snprintf(want, sizeof(want), API "/agents/%s", id);
    ck_assert_str_eq(r.location, want);
    json_decref(j);
    reply_free(&r);
    return id;
}

static json_t *health(const struct daemon *d, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), API "/agents/%s", id);
    return get_json(d, path, 200);
}

static long long health_int(const struct daemon *d, const char *id, const char *key)
{
    json_t *h = health(d, id);
    long long v = json_integer_value(json_object_get(h, key));
    json_decref(h);
    return v;
}

/* Waits up to secs for the agent's member key to reach at least want. */
static void wait_received(const struct daemon *d, const char *id, long long want, double secs)
{
    double deadline = now_s() + secs;
    long long got = -1;
    while (now_s() < deadline) {
        if ((got = health_int(d, id, "results_received")) >= want)
            return;
        sleep_ms(50);
    }
    dump_log(d);
    ck_abort_msg("agent %s: %lld results after %.0f s, want %lld", id, got, secs, want);
}

static void wait_failing(const struct daemon *d, const char *id, int failures, double secs)
{
    double deadline = now_s() + secs;
    while (now_s() < deadline) {
        if (health_int(d, id, "consecutive_failures") >= failures)
            return;
        sleep_ms(50);
    }
    json_t *h = health(d, id);
    char *t = json_dumps(h, 0);
    dump_log(d);
    ck_abort_msg("agent %s is not failing %d times: %s", id, failures, t);
}

static long long count_results(const struct daemon *d, const char *extra_filter)
{
    char q[1024];
    snprintf(q, sizeof(q),
             "PREFIX fleet: <https://tinyfleet.dev/ns#>\n"
             "SELECT (COUNT(?r) AS ?n) (COUNT(DISTINCT ?k) AS ?distinct) WHERE { ?r a "
             "fleet:BenchmarkResult ; fleet:resultId ?id ; fleet:agent ?a . "
             "BIND(CONCAT(?a, \"/\", ?id) AS ?k) %s }",
             extra_filter ? extra_filter : "");
    char *rows = select_rows(d, "", q);
    long long n = -1, distinct = -2;
    ck_assert_int_eq(sscanf(rows, "%lld %lld", &n, &distinct), 2);
    ck_assert_msg(n == distinct, "%lld results stored, %lld distinct: a result is duplicated", n,
                  distinct);
    free(rows);
    return n;
}

static const char *error_text(json_t *h)
{
    const char *m = json_string_value(json_object_get(json_object_get(h, "last_error"), "message"));
    return m ? m : "";
}

/* A board the matcher knows, with memory and a microphone. */
static void put_board(const struct daemon *d, const char *iri, const char *title)
{
    char ttl[2048], graph[256];
    snprintf(ttl, sizeof(ttl),
             "@prefix s3n: <http://w3id.org/s3n/> .\n"
             "@prefix ssn: <http://www.w3.org/ns/ssn/> .\n"
             "@prefix ssn-system: <http://www.w3.org/ns/ssn/systems/> .\n"
             "@prefix schema: <https://schema.org/> .\n"
             "@prefix om: <http://www.ontology-of-units-of-measure.org/resource/om-2/> .\n"
             "@prefix td: <https://www.w3.org/2019/wot/td#> .\n"
             "@prefix s3n_extend: <http://tinyml-schema.org/s3n_extend/> .\n"
             "@prefix sosa_extend: <http://tinyml-schema.org/sosa_extend/> .\n"
             "<%s> a s3n:SmartSensor ; td:title \"%s\" ;\n"
             "  ssn:hasSubSystem [ a s3n:MicroController ; s3n:hasSystemCapability [\n"
             "    ssn-system:hasSystemProperty [ a s3n_extend:RAM ; schema:value 256 ;"
             " schema:unitCode om:kilobyte ], [ a s3n_extend:Flash ; schema:value 1 ;"
             " schema:unitCode om:megabyte ] ] ], [ a sosa_extend:Microphone ] .\n",
             iri, title);
    snprintf(graph, sizeof(graph), "%sgraph", iri);
    ck_assert_int_eq(send_graph(d, "PUT", graph, "text/turtle", ttl), 201);
}

#define META_MIC                                                                                   \
    "{\"name\":\"%s\",\"description\":\"a keyword model\",\"category\":\"Classification\","        \
    "\"trainingDataset\":\"speech_commands\",\"metric\":{\"type\":\"Top_1_accuracy\","             \
    "\"value\":90.0},\"sensors\":[\"Microphone\"]}"

/* A small model file (new bytes, *len). */
static uint8_t *model_bytes(int32_t n, size_t *len)
{
    struct tw_model m;
    int32_t s_in[2] = {1, n}, s_w[2] = {4, n}, s_o[2] = {1, 4};
    tw_init(&m);
    int32_t in = tw_qtensor(&m, 9, 2, s_in, 0, 1);
    int32_t w = tw_qtensor(&m, 9, 2, s_w, (uint32_t)(4 * n), 1);
    int32_t out = tw_qtensor(&m, 9, 2, s_o, 0, 1);
    tw_op(&m, 9, 0, 3, (int32_t[]){in, w, -1}, 1, (int32_t[]){out});
    m.n_inputs = 1, m.inputs[0] = in;
    m.n_outputs = 1, m.outputs[0] = out;
    uint8_t *bytes = tw_build(&m, len, NULL);
    ck_assert_ptr_nonnull(bytes);
    return bytes;
}

/* Uploads a model; returns its id (new) and its sha256 in sha[65]. */
static char *upload(const struct daemon *d, const uint8_t *bytes, size_t len, const char *name,
                    char sha[65])
{
    char meta[512];
    struct reply r;
    snprintf(meta, sizeof(meta), META_MIC, name);
    upload_model(d, WRITE_TOKEN, bytes, len, meta, &r);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    json_t *j = reply_json(&r);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    snprintf(sha, 65, "%s", json_string_value(json_object_get(j, "sha256")));
    json_decref(j);
    reply_free(&r);
    return id;
}

static json_t *item_with(json_t *list, const char *key, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        const char *v = json_string_value(json_object_get(it, key));
        if (v && strcmp(v, value) == 0)
            return it;
    }
    return NULL;
}

/* ---- registration, listing, the same data through /sparql ------------------------------------ */

START_TEST(test_register_poll_list)
{
    struct daemon *d = daemon_new(FAST);
    daemon_start(d);
    size_t len;
    char sha[65], path[1024], *e;
    uint8_t *bytes = model_bytes(200, &len);
    char *model = upload(d, bytes, len, "kws", sha);
    free(bytes);
    put_board(d, BOARD_A, "board a");

    struct fake *f = fake_start(0, BOARD_A, sha);
    fake_add(f, make_result("matched", BOARD_A, sha, 12.5, 1));
    fake_add(f, make_result("unknown-model", BOARD_A, SHA_A, 9, 1));
    fake_add(f, make_result("unknown-board", EX "board/nowhere", sha, 30, 1));
    fake_add(f, make_result("failed-run", BOARD_A, sha, 0, 0));

    /* the API refuses what is not a registration */
    struct reply r;
    char body[512];
    snprintf(body, sizeof(body), "{\"td_url\": \"%s\"}", f->td_url);
    http(d, "POST", API "/agents", NULL, "application/json", NULL, body, strlen(body), &r);
    assert_problem(&r, 401);
    reply_free(&r);
    http(d, "POST", API "/agents", READ_TOKEN, "application/json", NULL, body, strlen(body), &r);
    assert_problem(&r, 403);
    reply_free(&r);
    http(d, "POST", API "/agents", WRITE_TOKEN, "text/plain", NULL, body, strlen(body), &r);
    assert_problem(&r, 415);
    reply_free(&r);
    post_json(d, API "/agents", "{\"td_url\": \"ftp://x/td\"}", &r);
    assert_problem(&r, 400);
    ck_assert(strstr(r.body, "td_url") != NULL);
    reply_free(&r);
    snprintf(body, sizeof(body), "{\"td_url\": \"%s\", \"interval_s\": 0}", f->td_url);
    post_json(d, API "/agents", body, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    snprintf(body, sizeof(body), "{\"td_url\": \"%s\", \"colour\": \"red\"}", f->td_url);
    post_json(d, API "/agents", body, &r);
    assert_problem(&r, 400);
    ck_assert(strstr(r.body, "colour") != NULL);
    reply_free(&r);

    char *id = register_fake(d, f->td_url, 0.2);
    snprintf(body, sizeof(body), "{\"td_url\": \"%s\"}", f->td_url);
    post_json(d, API "/agents", body, &r);
    assert_problem(&r, 409);
    ck_assert(strstr(r.body, id) != NULL);
    reply_free(&r);

    wait_received(d, id, 4, 20);
    json_t *h = health(d, id);
    ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "ok");
    ck_assert_str_eq(json_string_value(json_object_get(h, "cursor")), "4");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(h, "devices"), 0)), BOARD_A);
    ck_assert(json_is_string(json_object_get(h, "last_success")));
    ck_assert(json_is_null(json_object_get(h, "last_error")));
    ck_assert(json_is_false(json_object_get(h, "configured")));
    ck_assert_str_eq(json_string_value(json_object_get(h, "td_url")), f->td_url);
    json_decref(h);

    json_t *list = get_json(d, API "/benchmarks", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 4);
    json_t *it = item_with(list, "id", "matched");
    ck_assert_str_eq(json_string_value(json_object_get(it, "model")), model);
    ck_assert_str_eq(json_string_value(json_object_get(it, "agent")), id);
    ck_assert(json_is_false(json_object_get(it, "unmatched")));
    ck_assert(json_real_value(json_object_get(json_object_get(it, "latency_ms"), "median")) ==
              12.5);
    it = item_with(list, "id", "unknown-model");
    ck_assert(json_is_null(json_object_get(it, "model")));
    ck_assert(json_is_true(json_object_get(it, "unmatched")));
    it = item_with(list, "id", "unknown-board");
    ck_assert(json_is_false(json_object_get(it, "device_registered")));
    ck_assert(json_is_true(json_object_get(it, "unmatched")));
    it = item_with(list, "id", "failed-run");
    ck_assert_str_eq(json_string_value(json_object_get(it, "status")), "failed");
    ck_assert_str_eq(json_string_value(json_object_get(it, "error")), "the board did not answer");
    json_decref(list);

    /* filters */
    static const struct {
        const char *query;
        long long total;
    } filters[] = {
        {"?unmatched=true", 2},
        {"?unmatched=false", 2},
        {"?model_sha256=" SHA_A, 1},
        {"?since=2030-01-01T00:00:00Z", 0},
        {"?since=2024-05-01T10:00:00Z", 4},
        {"?limit=1&offset=1", 4},
    };
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        snprintf(path, sizeof(path), API "/benchmarks%s", filters[i].query);
        list = get_json(d, path, 200);
        ck_assert_msg(json_integer_value(json_object_get(list, "total")) == filters[i].total,
                      "%s: total %lld", path,
                      (long long)json_integer_value(json_object_get(list, "total")));
        json_decref(list);
    }
    snprintf(path, sizeof(path), API "/benchmarks?model=%s", model);
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 3);
    json_decref(list);
    e = escape(BOARD_A);
    snprintf(path, sizeof(path), API "/benchmarks?device=%s&agent=%s", e, id);
    free(e);
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 3);
    json_decref(list);
    static const char *const bad[] = {"?limit=0",         "?since=yesterday",
                                      "?agent=xyz",       "?model=0123456789abcdef",
                                      "?unmatched=maybe", "?model_sha256=12"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), API "/benchmarks%s", bad[i]);
        http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
        assert_problem(&r, 400);
        reply_free(&r);
    }
    /* the same data through /sparql */
    ck_assert_int_eq(count_results(d, NULL), 4);
    ck_assert(ask(d, "PREFIX fleet: <https://tinyfleet.dev/ns#>\n"
                     "ASK { ?r fleet:resultId \"matched\" ; fleet:latencyMedianMs ?ms ;"
                     " fleet:device <" BOARD_A "> ; fleet:status \"ok\" . FILTER (?ms = 12.5) }"));

    list = get_json(d, API "/agents", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1);
    json_decref(list);
    snprintf(path, sizeof(path), API "/agents/%s", id);
    http(d, "DELETE", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 401);
    reply_free(&r);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    /* polling stopped, the results stay */
    unsigned before = fake_results_requests(f);
    sleep_ms(800);
    ck_assert_uint_eq(fake_results_requests(f), before);
    ck_assert_int_eq(count_results(d, NULL), 4);
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 15), 0);
    fake_stop(f);
    free(id);
    free(model);
}
END_TEST

/* ---- faults ---------------------------------------------------------------------------------- */

START_TEST(test_faults_isolated)
{
    struct daemon *d = daemon_new(FAST);
    daemon_start(d);
    static const struct {
        enum fault fault;
        const char *says;
    } cases[] = {
        {F_HANG, "timeout"},   {F_CLOSE, "closed mid-reply"},
        {F_500, "HTTP 500"},   {F_BADJSON, "not a JSON object"},
        {F_HUGE, "too large"}, {F_HUGE_CHUNKED, "too large"},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    struct fake *good = fake_start(3, BOARD_A, SHA_A), *bad[N];
    char *good_id = register_fake(d, good->td_url, 0.2), *bad_id[N];
    for (size_t i = 0; i < N; i++) {
        bad[i] = fake_start(2, BOARD_B, SHA_A);
        fake_set(bad[i], cases[i].fault);
        bad_id[i] = register_fake(d, bad[i]->td_url, 0.2);
    }
    /* While they fail, the good agent's new results keep arriving and the daemon answers. */
    double worst = 0;
    for (int k = 0; k < 30; k++) {
        if (k % 5 == 0) {
            char rid[32];
            snprintf(rid, sizeof(rid), "late-%d", k);
            fake_add(good, make_result(rid, BOARD_A, SHA_A, 1, 1));
        }
        struct reply r;
        http(d, "GET", "/healthz", NULL, NULL, NULL, NULL, 0, &r);
        ck_assert_int_eq(r.status, 200);
        worst = r.secs > worst ? r.secs : worst;
        reply_free(&r);
        sleep_ms(150);
    }
    ck_assert_msg(worst < 1.0, "/healthz took %.2f s while agents failed", worst);
    wait_received(d, good_id, 9, 20);
    for (size_t i = 0; i < N; i++) {
        wait_failing(d, bad_id[i], 2, 20);
        json_t *h = health(d, bad_id[i]);
        ck_assert_msg(strstr(error_text(h), cases[i].says) != NULL, "case %zu: '%s' lacks '%s'", i,
                      error_text(h), cases[i].says);
        ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "failing");
        ck_assert_int_eq(json_integer_value(json_object_get(h, "results_received")), 0);
        json_decref(h);
        /* backed off: asked far less often than the healthy agent */
        ck_assert_msg(fake_results_requests(bad[i]) * 3 < fake_results_requests(good) * 2,
                      "case %zu: %u requests, the good agent %u", i, fake_results_requests(bad[i]),
                      fake_results_requests(good));
    }
    json_t *h = health(d, good_id);
    ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "ok");
    ck_assert_int_eq(json_integer_value(json_object_get(h, "consecutive_failures")), 0);
    json_decref(h);
    /* the log names the failures */
    char *log = read_file(d->log, NULL);
    ck_assert(log && strstr(log, "HTTP 500") && strstr(log, "next attempt in"));
    free(log);

    /* healed, each gets its results exactly once */
    for (size_t i = 0; i < N; i++)
        fake_set(bad[i], F_NONE);
    for (size_t i = 0; i < N; i++) {
        wait_received(d, bad_id[i], 2, 30);
        h = health(d, bad_id[i]);
        ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "ok");
        ck_assert(json_is_object(json_object_get(h, "last_error"))); /* the last one is kept */
        json_decref(h);
    }
    ck_assert_int_eq(count_results(d, NULL), 9 + 2 * N);
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 15), 0);
    fakes_stop_all();
    free(good_id);
    for (size_t i = 0; i < N; i++)
        free(bad_id[i]);
}
END_TEST

START_TEST(test_duplicates_and_backwards)
{
    struct daemon *d = daemon_new(FAST);
    daemon_start(d);
    struct fake *dups = fake_start(3, BOARD_A, SHA_A), *back = fake_start(5, BOARD_B, SHA_A);
    fake_set(dups, F_DUPS);
    fake_set(back, F_BACKWARDS);
    char *dups_id = register_fake(d, dups->td_url, 0.2);
    char *back_id = register_fake(d, back->td_url, 0.2);
    wait_received(d, dups_id, 3, 20);
    wait_received(d, back_id, 5, 20);
    wait_failing(d, back_id, 2, 20); /* it keeps sending them */
    json_t *h = health(d, back_id);
    ck_assert(strstr(error_text(h), "sent again") != NULL);
    ck_assert_int_gt(json_integer_value(json_object_get(h, "duplicates_ignored")), 0);
    json_decref(h);
    h = health(d, dups_id);
    ck_assert(strstr(error_text(h), "sent again") != NULL);
    ck_assert_int_ge(json_integer_value(json_object_get(h, "duplicates_ignored")), 3);
    json_decref(h);
    /* the agents add results: they arrive, once */
    fake_add(back, make_result("r5", BOARD_B, SHA_A, 1, 1));
    fake_add(dups, make_result("r3", BOARD_A, SHA_A, 1, 1));
    wait_received(d, back_id, 6, 20);
    wait_received(d, dups_id, 4, 20);
    sleep_ms(500);
    ck_assert_int_eq(health_int(d, back_id, "results_received"), 6);
    ck_assert_int_eq(health_int(d, dups_id, "results_received"), 4);
    ck_assert_int_eq(count_results(d, NULL), 10);
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 15), 0);
    fakes_stop_all();
    free(dups_id);
    free(back_id);
}
END_TEST

START_TEST(test_td_problems)
{
    struct daemon *d = daemon_new(FAST);
    daemon_start(d);
    struct fake *f = fake_start(1, BOARD_A, SHA_A);
    struct reply r;
    char body[512];

    f->td_without_forms = 1;
    snprintf(body, sizeof(body), "{\"td_url\": \"%s\"}", f->td_url);
    post_json(d, API "/agents", body, &r);
    assert_problem(&r, 422);
    ck_assert(strstr(r.body, "td.properties.results") != NULL);
    reply_free(&r);
    /* no TD at that URL, nothing listening, not JSON */
    snprintf(body, sizeof(body), "{\"td_url\": \"http://127.0.0.1:%u/nothing\"}", f->port);
    post_json(d, API "/agents", body, &r);
    assert_problem(&r, 502);
    ck_assert(strstr(r.body, "HTTP 404") != NULL);
    reply_free(&r);
    post_json(d, API "/agents", "{\"td_url\": \"http://127.0.0.1:1/td\"}", &r);
    assert_problem(&r, 502);
    reply_free(&r);
    snprintf(body, sizeof(body), "{\"td_url\": \"http://127.0.0.1:%u/results\"}", f->port);
    post_json(d, API "/agents", body, &r);
    assert_problem(&r, 422); /* a JSON object, but no Thing Description */
    reply_free(&r);
    json_t *list = get_json(d, API "/agents", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 0);
    json_decref(list);

    /* registered while its TD was good; later it loses the forms */
    f->td_without_forms = 0;
    char *id = register_fake(d, f->td_url, 0.2);
    wait_received(d, id, 1, 20);
    pthread_mutex_lock(&f->mu);
    f->td_without_forms = 1;
    f->fault = F_500;
    pthread_mutex_unlock(&f->mu);
    double deadline = now_s() + 20;
    json_t *h = NULL;
    for (;;) {
        h = health(d, id);
        if (strstr(error_text(h), "properties.results"))
            break;
        ck_assert_msg(now_s() < deadline, "no TD error in the health: %s", error_text(h));
        json_decref(h);
        sleep_ms(100);
    }
    ck_assert_str_eq(json_string_value(json_object_get(h, "status")), "failing");
    json_decref(h);
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 15), 0);
    fake_stop(f);
    free(id);
}
END_TEST

/* ---- exactly once across kill -9 ------------------------------------------------------------- */

START_TEST(test_exactly_once_across_kill9)
{
    struct daemon *d = daemon_new(FAST "agent_page_size 7\n");
    daemon_start(d);
    struct fake *f = fake_start(300, BOARD_A, SHA_A);
    f->delay_ms = 15;
    char *id = register_fake(d, f->td_url, 0.1);
    static const long long kill_after[] = {40, 140, 240};
    for (size_t k = 0; k < 3; k++) {
        double deadline = now_s() + 30;
        long long got;
        while ((got = health_int(d, id, "results_received")) < kill_after[k]) {
            ck_assert_msg(now_s() < deadline, "stuck at %lld results", got);
            sleep_ms(5);
        }
        ck_assert_msg(got < 300, "all results arrived before kill -9 number %zu", k + 1);
        daemon_kill(d);
        pthread_mutex_lock(&f->mu);
        size_t mark = json_array_size(f->since_log);
        pthread_mutex_unlock(&f->mu);
        daemon_start(d);
        /* it resumes from the stored cursor, not from the start */
        double until = now_s() + 20;
        for (;;) {
            pthread_mutex_lock(&f->mu);
            json_t *first = json_array_get(f->since_log, mark);
            int seen = first != NULL, from_cursor = json_is_string(first);
            pthread_mutex_unlock(&f->mu);
            if (seen) {
                ck_assert_msg(from_cursor, "after kill -9 the first poll had no cursor");
                break;
            }
            ck_assert(now_s() < until);
            sleep_ms(10);
        }
    }
    wait_received(d, id, 300, 60);
    sleep_ms(300);
    ck_assert_int_eq(health_int(d, id, "results_received"), 300);
    ck_assert_int_eq(health_int(d, id, "duplicates_ignored"), 0);
    ck_assert_int_eq(count_results(d, NULL), 300);
    json_t *list = get_json(d, API "/benchmarks?limit=1", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 300);
    json_decref(list);
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 15), 0);
    fake_stop(f);
    free(id);
}
END_TEST

/* ---- jobs with a fake agent ------------------------------------------------------------------ */

static json_t *wait_job(const struct daemon *d, const char *loc, const char *state, double secs)
{
    double deadline = now_s() + secs;
    for (;;) {
        json_t *j = get_json(d, loc, 200);
        if (strcmp(json_string_value(json_object_get(j, "state")), state) == 0)
            return j;
        if (now_s() > deadline) {
            char *t = json_dumps(j, 0);
            dump_log(d);
            ck_abort_msg("job %s is not %s: %s", loc, state, t);
        }
        json_decref(j);
        sleep_ms(100);
    }
}

START_TEST(test_jobs_fake)
{
    struct daemon *d = daemon_new(FAST);
    daemon_start(d);
    size_t len;
    char sha[65], body[1024], loc[512];
    uint8_t *bytes = model_bytes(100, &len);
    char *model = upload(d, bytes, len, "job-model", sha);
    free(bytes);
    put_board(d, BOARD_A, "board a");
    put_board(d, BOARD_B, "board b");
    struct fake *runner = fake_start(0, BOARD_A, sha), *plain = fake_start(0, BOARD_B, sha);
    runner->run_action = 1;
    runner->run_fail_first = 2; /* retried */
    char *rid = register_fake(d, runner->td_url, 0.2), *pid = register_fake(d, plain->td_url, 0.2);
    /* wait until both have said which boards they front */
    double deadline = now_s() + 20;
    for (;;) {
        json_t *h1 = health(d, rid), *h2 = health(d, pid);
        int ready = json_array_size(json_object_get(h1, "devices")) == 1 &&
                    json_array_size(json_object_get(h2, "devices")) == 1;
        json_decref(h1);
        json_decref(h2);
        if (ready)
            break;
        ck_assert(now_s() < deadline);
        sleep_ms(50);
    }
    struct reply r;
    /* refused: unknown model, no devices, no agent for any of them, bad runs */
    post_json(d, API "/benchmarks/jobs",
              "{\"model\": \"0123456789abcdef\", \"devices\": \"compatible\"}", &r);
    assert_problem(&r, 400);
    reply_free(&r);
    snprintf(body, sizeof(body), "{\"model\": \"%s\", \"devices\": []}", model);
    post_json(d, API "/benchmarks/jobs", body, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    snprintf(body, sizeof(body), "{\"model\": \"%s\", \"devices\": [\"urn:x:nobody\"]}", model);
    post_json(d, API "/benchmarks/jobs", body, &r);
    assert_problem(&r, 422);
    reply_free(&r);
    snprintf(body, sizeof(body), "{\"model\": \"%s\", \"devices\": \"compatible\", \"runs\": 0}",
             model);
    post_json(d, API "/benchmarks/jobs", body, &r);
    assert_problem(&r, 400);
    reply_free(&r);

    /* both boards fit and are fronted; one agent cannot run jobs; a third board has no agent */
    snprintf(body, sizeof(body),
             "{\"model\": \"%s\", \"devices\": [\"" BOARD_A "\", \"" BOARD_B
             "\", \"urn:x:nobody\"],"
             " \"runs\": 5}",
             model);
    post_json(d, API "/benchmarks/jobs", body, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    snprintf(loc, sizeof(loc), "%s", r.location);
    json_t *job = reply_json(&r);
    reply_free(&r);
    ck_assert_str_eq(json_string_value(json_object_get(job, "model")), model);
    ck_assert_int_eq(json_array_size(json_object_get(job, "items")), 3);
    json_decref(job);
    job = wait_job(d, loc, "failed", 30); /* done on A, failed on B and nobody */
    json_t *items = json_object_get(job, "items");
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(items, i);
        const char *dev = json_string_value(json_object_get(it, "device"));
        const char *st = json_string_value(json_object_get(it, "state"));
        const char *err = json_string_value(json_object_get(it, "error"));
        if (strcmp(dev, BOARD_A) == 0) {
            ck_assert_str_eq(st, "done");
            /* two refusals, then accepted (the result may come before the 202 is read) */
            ck_assert_int_ge(json_integer_value(json_object_get(it, "attempts")), 2);
            ck_assert(strncmp(json_string_value(json_object_get(it, "result")), "job-", 4) == 0);
        } else if (strcmp(dev, BOARD_B) == 0) {
            ck_assert_str_eq(st, "failed");
            ck_assert(err && strstr(err, "runBenchmark"));
        } else {
            ck_assert_str_eq(st, "failed");
            ck_assert(err && strstr(err, "no registered agent"));
        }
    }
    json_decref(job);
    /* what the agent was asked */
    pthread_mutex_lock(&runner->mu);
    ck_assert_uint_eq(json_array_size(runner->runs), 3);
    json_t *in = json_array_get(runner->runs, 2);
    ck_assert_str_eq(json_string_value(json_object_get(in, "device")), BOARD_A);
    ck_assert_str_eq(json_string_value(json_object_get(in, "model_sha256")), sha);
    ck_assert_int_eq(json_integer_value(json_object_get(in, "runs")), 5);
    char want[256];
    snprintf(want, sizeof(want), "/api/v1/models/%s/file", model);
    const char *url = json_string_value(json_object_get(in, "model_url"));
    ck_assert(url && strncmp(url, "http://127.0.0.1:", 17) == 0 && strstr(url, want));
    pthread_mutex_unlock(&runner->mu);
    /* the job's result is listed with the job */
    json_t *list = get_json(d, API "/benchmarks", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1);
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_array_get(json_object_get(list, "items"), 0), "job")),
                     loc + strlen(API "/benchmarks/jobs/"));
    json_decref(list);
    list = get_json(d, API "/benchmarks/jobs", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1);
    json_decref(list);
    /* jobs survive a restart */
    daemon_kill(d);
    daemon_start(d);
    job = get_json(d, loc, 200);
    ck_assert_str_eq(json_string_value(json_object_get(job, "state")), "failed");
    json_decref(job);
    http(d, "GET", API "/benchmarks/jobs/0123456789abcdef", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 15), 0);
    fakes_stop_all();
    free(model);
    free(rid);
    free(pid);
}
END_TEST

/* ---- the real agent -------------------------------------------------------------------------- */

struct proc {
    pid_t pid;
    unsigned port;
};

static void agent_start(struct proc *p, const char *dir, const char *const *args)
{
    const char *top = getenv("TOP_BUILDDIR");
    char bin[1024], port_file[600], logf[600];
    snprintf(bin, sizeof(bin), "%s/agent/tinyfleet-agent", top ? top : ".");
    snprintf(port_file, sizeof(port_file), "%s/agent.port", dir);
    snprintf(logf, sizeof(logf), "%s/agent.log", dir);
    unlink(port_file);
    const char *argv[32] = {bin, "--port-file", port_file};
    size_t n = 3;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(NULL);
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    double deadline = now_s() + 20;
    for (;;) {
        char *t = read_file(port_file, NULL);
        if (t && atoi(t) > 0) {
            p->port = (unsigned)atoi(t);
            free(t);
            return;
        }
        free(t);
        ck_assert_msg(waitpid(p->pid, NULL, WNOHANG) == 0, "tinyfleet-agent exited at start");
        ck_assert_msg(now_s() < deadline, "tinyfleet-agent wrote no port file");
        sleep_ms(10);
    }
}

static void agent_stop(struct proc *p)
{
    int status;
    kill(p->pid, SIGTERM);
    ck_assert_int_eq(waitpid(p->pid, &status, 0), p->pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "agent exit status 0x%x", status);
    p->pid = 0;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

#define M4 "https://example.org/fixture/m4"
#define M0 "urn:tinyfleet:mlperf:fixture_m0"

START_TEST(test_mlperf_agent_end_to_end)
{
    const char *top = getenv("TOP_SRCDIR");
    char dir[512], kws[600], vww[600], jsonl[600], runner[600], agents[600], tree[1024];
    char conf[1024], port_arg[64], path[2048];
    snprintf(dir, sizeof(dir), "%s/agent.XXXXXX", run_dir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(kws, sizeof(kws), "%s/kws.tflite", dir);
    snprintf(vww, sizeof(vww), "%s/vww.tflite", dir);
    snprintf(jsonl, sizeof(jsonl), "%s/bench.jsonl", dir);
    snprintf(runner, sizeof(runner), "%s/runner.sh", dir);
    snprintf(agents, sizeof(agents), "%s/agents", dir);
    snprintf(tree, sizeof(tree), "%s/tests/data/mlperf-tiny", top ? top : ".");
    size_t klen, vlen;
    uint8_t *kbytes = model_bytes(300, &klen), *vbytes = model_bytes(77, &vlen);
    write_bytes(kws, kbytes, klen);
    write_bytes(vww, vbytes, vlen);
    free(vbytes);
    /* The runner fetches the model the job names and checks its digest, then reports. */
    write_file(
        runner,
        "#!/bin/sh\n"
        "curl -sf \"$TINYFLEET_MODEL_URL\" -o \"$0.model\" || exit 3\n"
        "got=$(sha256sum \"$0.model\" | cut -d' ' -f1)\n"
        "[ \"$got\" = \"$TINYFLEET_MODEL_SHA256\" ] || { echo \"digest $got\" >&2; exit 4; }\n"
        "case \"$TINYFLEET_DEVICE\" in *m4) ms=12.5 ;; *) ms=30 ;; esac\n"
        "printf '{\"framework\":\"tflm-test\",\"runs\":%s,\"latency_ms\":{\"median\":%s,"
        "\"p90\":%s,\"min\":%s,\"max\":%s},\"arena_bytes\":4096}\\n' \"$TINYFLEET_RUNS\" "
        "$ms $ms $ms $ms\n");
    chmod(runner, 0755);
    char model_kws[700], model_vww[700], device_m4[200];
    snprintf(model_kws, sizeof(model_kws), "--model=kws=%s", kws);
    snprintf(model_vww, sizeof(model_vww), "--model=vww=%s", vww);
    snprintf(device_m4, sizeof(device_m4), "--device=fixture_m4=%s", M4);
    char mlperf_arg[1100], results_arg[700], runner_arg[700];
    snprintf(mlperf_arg, sizeof(mlperf_arg), "--mlperf=%s", tree);
    snprintf(results_arg, sizeof(results_arg), "--results=%s", jsonl);
    snprintf(runner_arg, sizeof(runner_arg), "--runner=%s", runner);
    const char *args[] = {"-l",      "127.0.0.1:0", mlperf_arg, results_arg, model_kws,
                          model_vww, device_m4,     runner_arg, NULL};
    struct proc ag = {0, 0};
    agent_start(&ag, dir, args);
    char td_url[128];
    snprintf(td_url, sizeof(td_url), "http://127.0.0.1:%u/td", ag.port);
    snprintf(path, sizeof(path), "# the fixture agent\n%s 200ms\n", td_url);
    write_file(agents, path);
    snprintf(conf, sizeof(conf), FAST "agents_file %s\n", agents);
    struct daemon *d = daemon_new(conf);
    daemon_start(d);

    char sha[65];
    char *model = upload(d, kbytes, klen, "kws", sha);
    free(kbytes);
    put_board(d, M4, "fixture m4");
    put_board(d, M0, "fixture m0");
    char agent_id[17];
    json_t *list = get_json(d, API "/agents", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1);
    json_t *a = json_array_get(json_object_get(list, "items"), 0);
    snprintf(agent_id, sizeof(agent_id), "%s", json_string_value(json_object_get(a, "id")));
    ck_assert(json_is_true(json_object_get(a, "configured")));
    json_decref(list);
    wait_received(d, agent_id, 3, 30);

    /* the tree's numbers, matched to the model by its digest */
    snprintf(path, sizeof(path), API "/benchmarks?model=%s", model);
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 2);
    json_t *it = item_with(list, "id", "mlperf/fixture_m4/kws");
    ck_assert_ptr_nonnull(it);
    ck_assert_str_eq(json_string_value(json_object_get(it, "device")), M4);
    ck_assert(fabs(json_real_value(json_object_get(json_object_get(it, "latency_ms"), "median")) -
                   1000.0 / 23.032) < 1e-9);
    ck_assert(fabs(json_real_value(json_object_get(it, "energy_uj")) - 1430.6681) < 1e-9);
    ck_assert(fabs(json_real_value(json_object_get(it, "accuracy")) - 90.2) < 1e-9);
    ck_assert(json_is_false(json_object_get(it, "unmatched")));
    json_decref(list);
    list = get_json(d, API "/benchmarks?unmatched=true", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1); /* vww: no model */
    json_decref(list);

    /* matching ranks the boards by measured latency */
    snprintf(path, sizeof(path), API "/models/%s/devices?order=latency", model);
    list = get_json(d, path, 200);
    json_t *items = json_object_get(list, "items");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "device")), M4);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "device")), M0);
    ck_assert(fabs(json_real_value(json_object_get(json_array_get(items, 1), "latency_ms")) -
                   1000.0 / 8.5) < 1e-9);
    json_decref(list);
    char *e = escape(M0);
    snprintf(path, sizeof(path), API "/things/%s/models?order=latency", e);
    free(e);
    struct reply r;
    list = get_json(d, path, 200);
    it = item_with(list, "model", model);
    ck_assert(it && fabs(json_real_value(json_object_get(it, "latency_ms")) - 1000.0 / 8.5) < 1e-9);
    json_decref(list);

    /* a bench harness appends a line: it arrives, once */
    char line[1024];
    snprintf(line, sizeof(line),
             "{\"id\":\"harness-1\",\"device\":\"%s\",\"model_sha256\":\"%s\",\"framework\":"
             "\"tflm\",\"runs\":50,\"latency_ms\":{\"median\":40,\"p90\":41,\"min\":39,\"max\":42},"
             "\"started\":\"2024-06-01T10:00:00Z\",\"finished\":\"2024-06-01T10:00:02Z\","
             "\"status\":\"ok\"}\n",
             M4, sha);
    FILE *fj = fopen(jsonl, "a");
    fputs(line, fj);
    fclose(fj);
    wait_received(d, agent_id, 4, 20);

    /* a CI pipeline asks for a benchmark on every compatible board */
    snprintf(path, sizeof(path), "{\"model\": \"%s\", \"devices\": \"compatible\", \"runs\": 7}",
             model);
    post_json(d, API "/benchmarks/jobs", path, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    char loc[512];
    snprintf(loc, sizeof(loc), "%s", r.location);
    reply_free(&r);
    json_t *job = wait_job(d, loc, "done", 40);
    ck_assert_int_eq(json_array_size(json_object_get(job, "items")), 2);
    json_decref(job);
    wait_received(d, agent_id, 6, 20);
    snprintf(path, sizeof(path), API "/benchmarks?model=%s&device=", model);
    e = escape(M4);
    strncat(path, e, sizeof(path) - strlen(path) - 1);
    free(e);
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 3);
    int with_job = 0;
    size_t i;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        if (!json_is_string(json_object_get(it, "job")))
            continue;
        with_job++;
        ck_assert_str_eq(json_string_value(json_object_get(it, "framework")), "tflm-test");
        ck_assert_int_eq(json_integer_value(json_object_get(it, "runs")), 7);
        ck_assert_int_eq(json_integer_value(json_object_get(it, "arena_bytes")), 4096);
    }
    ck_assert_int_eq(with_job, 1);
    json_decref(list);

    /* kill -9 the daemon, restart the agent: nothing lost, nothing twice */
    long long before = count_results(d, NULL);
    daemon_kill(d);
    agent_stop(&ag);
    snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%u", ag.port);
    args[1] = port_arg;
    agent_start(&ag, dir, args);
    daemon_start(d);
    sleep_ms(1500);
    ck_assert_int_eq(count_results(d, NULL), before);
    ck_assert_int_eq(health_int(d, agent_id, "duplicates_ignored"), 0);
    ck_assert_int_eq(health_int(d, agent_id, "results_received"), before);

    /* a configured agent is removed in agents_file, not through the API */
    snprintf(path, sizeof(path), API "/agents/%s", agent_id);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 409);
    reply_free(&r);
    write_file(agents, "this is not a URL\n");
    kill(d->pid, SIGHUP);
    sleep_ms(700);
    list = get_json(d, API "/agents", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1);
    json_decref(list);
    char *log = read_file(d->log, NULL);
    ck_assert(log && strstr(log, "agents:1:"));
    free(log);
    write_file(agents, "# none\n");
    kill(d->pid, SIGHUP);
    double deadline = now_s() + 10;
    for (;;) {
        list = get_json(d, API "/agents", 200);
        long long n = json_integer_value(json_object_get(list, "total"));
        json_decref(list);
        if (n == 0)
            break;
        ck_assert(now_s() < deadline);
        sleep_ms(100);
    }
    ck_assert_int_eq(count_results(d, NULL), before); /* the results stay */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 15), 0);
    agent_stop(&ag);
    free(model);
}
END_TEST

static void teardown(void)
{
    fakes_stop_all();
    reap_all();
}

int main(void)
{
    Suite *s = suite_create("agents");
    TCase *tc = tcase_create("agents");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_register_poll_list);
    tcase_add_test(tc, test_faults_isolated);
    tcase_add_test(tc, test_duplicates_and_backwards);
    tcase_add_test(tc, test_td_problems);
    tcase_add_test(tc, test_exactly_once_across_kill9);
    tcase_add_test(tc, test_jobs_fake);
    tcase_add_test(tc, test_mlperf_agent_end_to_end);
    suite_add_tcase(s, tc);
    return harness_main("agents", s);
}
