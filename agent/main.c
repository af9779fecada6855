/* SPDX-License-Identifier: MIT */
/* tinyfleet-agent: a device agent (docs/agent-protocol.md) over a directory of MLPerf Tiny
 * results and a JSON-lines file a bench harness appends to. It serves its Thing Description at
 * /td (and /), the property "devices" at /properties/devices, the property "results" at
 * /properties/results{?since,limit} and, with --runner, the action "runBenchmark" at
 * /actions/runBenchmark, which runs the command with the job in its environment and appends the
 * result it prints to the JSON-lines file. The demo fleet's agent, and a template for real ones.
 *
 * usage: tinyfleet-agent [-l ADDR:PORT] [--port-file FILE] [--base-url URL] [--title TEXT]
 *                        [--mlperf DIR] [--results FILE.jsonl] [--model BENCH=FILE.tflite]...
 *                        [--device SYSTEM=TD_ID | TD_ID]... [--runner COMMAND] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <nettle/sha2.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_proto.h"
#include "buf.h"
#include "ledger.h"
#include "mlperf.h"

#define MAX_BODY (64 * 1024)
#define MAX_LIMIT 1000
#define MAX_OUTPUT (1 << 20)

extern char **environ;

struct agent {
    struct fleet_ledger *ledger;
    char base_url[512]; /* "" = from the Host header */
    char title[256];
    const char *runner;  /* NULL: no runBenchmark */
    const char **boards; /* --device values and TD ids without a system */
    size_t n_boards;
    unsigned port;
    pthread_mutex_t jobs_mu; /* one runner at a time: a board runs one model at once */
    pthread_mutex_t state_mu;
    pthread_cond_t idle; /* signalled when active drops to 0 */
    int active;          /* runner threads alive */
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: tinyfleet-agent [-l ADDR:PORT] [--port-file FILE] [--base-url URL]\n"
        "                       [--title TEXT] [--mlperf DIR] [--results FILE.jsonl]\n"
        "                       [--model BENCH=FILE.tflite]... [--device SYSTEM=TD_ID|TD_ID]...\n"
        "                       [--runner COMMAND]\n"
        "  -l, --listen ADDR:PORT  where to listen (default 127.0.0.1:8090; port 0 picks one)\n"
        "      --port-file FILE    write the bound port to FILE once listening\n"
        "      --base-url URL      the URL the daemon reaches this agent at (default: from the\n"
        "                          request's Host header)\n"
        "      --mlperf DIR        an MLPerf Tiny results tree (systems/, results/)\n"
        "      --results FILE      a JSON-lines file of RESULT objects, appended to by a bench\n"
        "                          harness and by --runner\n"
        "      --model BENCH=FILE  the model a benchmark (kws, vww, ic, ad) ran; its SHA-256\n"
        "                          names it in the results\n"
        "      --device SYSTEM=ID  the board (TD id) of an MLPerf system; a bare ID adds a board\n"
        "      --runner COMMAND    offer runBenchmark: run COMMAND (sh -c) with TINYFLEET_JOB,\n"
        "                          TINYFLEET_DEVICE, TINYFLEET_MODEL_URL, TINYFLEET_MODEL_SHA256\n"
        "                          and TINYFLEET_RUNS set; it prints the measurements as JSON\n");
}

/* ---- helpers --------------------------------------------------------------------------------- */

static int sha256_file(const char *path, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct sha256_ctx ctx;
    uint8_t buf[65536], d[SHA256_DIGEST_SIZE];
    size_t n;
    sha256_init(&ctx);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sha256_update(&ctx, n, buf);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return -1;
    sha256_digest(&ctx, sizeof(d), d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    return 0;
}

static void now_text(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(text ? strlen(text) : 0, text, MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(j);
    if (!text)
        return MHD_NO;
    return send_text(c, status, ctype, text);
}

static enum MHD_Result problem(struct MHD_Connection *c, unsigned status, const char *detail)
{
    json_t *j = json_object();
    json_object_set_new(j, "status", json_integer(status));
    json_object_set_new(j, "title",
                        json_string(status == 404   ? "Not Found"
                                    : status == 405 ? "Method Not Allowed"
                                                    : "Bad Request"));
    json_object_set_new(j, "detail", json_string(detail));
    return send_json(c, status, "application/problem+json", j);
}

/* ---- the Thing Description ------------------------------------------------------------------- */

static json_t *thing_description(struct agent *a, struct MHD_Connection *c)
{
    char base[600];
    if (a->base_url[0]) {
        snprintf(base, sizeof(base), "%s", a->base_url);
    } else {
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
        if (host && strlen(host) < 256 && !strpbrk(host, " /\\\"<>"))
            snprintf(base, sizeof(base), "http://%s/", host);
        else
            snprintf(base, sizeof(base), "http://127.0.0.1:%u/", a->port);
    }
    json_t *td = json_pack(
        "{s:s, s:s, s:s, s:{s:{s:s}}, s:s, s:{s:{s:s, s:{s:s}, s:b, s:[{s:s, s:s, s:s}]}, "
        "s:{s:s, s:b, s:{s:{s:s}, s:{s:s, s:i, s:i}}, s:[{s:s, s:s, s:s}]}}}",
        "@context", "https://www.w3.org/2022/wot/td/v1.1", "title", a->title, "base", base,
        "securityDefinitions", "nosec_sc", "scheme", "nosec", "security", "nosec_sc", "properties",
        "devices", "type", "array", "items", "type", "string", "readOnly", 1, "forms", "href",
        "properties/devices", "op", "readproperty", "contentType", "application/json", "results",
        "type", "object", "readOnly", 1, "uriVariables", "since", "type", "string", "limit", "type",
        "integer", "minimum", 1, "maximum", MAX_LIMIT, "forms", "href",
        "properties/results{?since,limit}", "op", "readproperty", "contentType",
        "application/json");
    if (td)
        json_object_set_new(td, "description",
                            json_string("tinyfleet device agent, protocol version 1: MLPerf Tiny "
                                        "results and a bench harness's JSON lines"));
    if (td && a->runner) {
        json_t *actions = json_pack(
            "{s:{s:{s:s, s:[s, s, s, s], s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s, s:i}}}, "
            "s:[{s:s, s:s, s:s}]}}",
            "runBenchmark", "input", "type", "object", "required", "job", "device", "model_sha256",
            "model_url", "properties", "job", "type", "string", "device", "type", "string",
            "model_sha256", "type", "string", "model_url", "type", "string", "runs", "type",
            "integer", "minimum", 1, "forms", "href", "actions/runBenchmark", "op", "invokeaction",
            "contentType", "application/json");
        json_object_set_new(td, "actions", actions);
    }
    return td;
}

/* ---- runBenchmark ---------------------------------------------------------------------------- */

struct job {
    struct agent *a;
    char *job, *device, *sha, *url;
    long long runs;
};

static void job_free(struct job *j)
{
    free(j->job);
    free(j->device);
    free(j->sha);
    free(j->url);
    free(j);
}

/* Runs the command; out and err receive its output (at most MAX_OUTPUT each). Returns the exit
 * status (-1 if it could not run). */
static int run_command(const struct job *j, struct fleet_buf *out, struct fleet_buf *err)
{
    char runs[32];
    snprintf(runs, sizeof(runs), "%lld", j->runs);
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 6, sizeof(*env));
    struct fleet_buf vars[5] = {FLEET_BUF_INIT, FLEET_BUF_INIT, FLEET_BUF_INIT, FLEET_BUF_INIT,
                                FLEET_BUF_INIT};
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, status = -1;
    if (!env || pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "TINYFLEET_", 10) != 0)
            env[k++] = environ[i];
    fleet_buf_printf(&vars[0], "TINYFLEET_JOB=%s", j->job);
    fleet_buf_printf(&vars[1], "TINYFLEET_DEVICE=%s", j->device);
    fleet_buf_printf(&vars[2], "TINYFLEET_MODEL_URL=%s", j->url);
    fleet_buf_printf(&vars[3], "TINYFLEET_MODEL_SHA256=%s", j->sha);
    fleet_buf_printf(&vars[4], "TINYFLEET_RUNS=%s", runs);
    for (int i = 0; i < 5; i++)
        if (vars[i].data)
            env[k++] = vars[i].data;
    env[k] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        goto out;
    if (pid == 0) {
        /* only async-signal-safe calls until exec */
        dup2(po[1], 1);
        dup2(pe[1], 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        execle("/bin/sh", "sh", "-c", j->a->runner, (char *)NULL, env);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t r = read(fds[i].fd, buf, sizeof(buf));
            if (r <= 0) {
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            struct fleet_buf *b = i == 0 ? out : err;
            if (b->len + (size_t)r <= MAX_OUTPUT)
                fleet_buf_append(b, buf, (size_t)r);
        }
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
out:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    for (int i = 0; i < 5; i++)
        fleet_buf_free(&vars[i]);
    free(env);
    return status;
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct fleet_buf out = FLEET_BUF_INIT, err = FLEET_BUF_INIT;
    char started[32], finished[32], id[128], why[320] = "";
    pthread_mutex_lock(&j->a->jobs_mu);
    now_text(started);
    int status = run_command(j, &out, &err);
    now_text(finished);
    pthread_mutex_unlock(&j->a->jobs_mu);

    /* The runner's JSON, completed with what the agent knows. */
    json_t *r = out.data ? json_loads(out.data, 0, NULL) : NULL;
    if (!json_is_object(r)) {
        json_decref(r);
        r = json_object();
        if (status == 0)
            snprintf(why, sizeof(why), "the runner printed no JSON object");
    }
    uint8_t d[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(j->device), (const uint8_t *)j->device);
    sha256_digest(&ctx, sizeof(d), d);
    snprintf(id, sizeof(id), "job/%s/%02x%02x%02x%02x%02x%02x", j->job, d[0], d[1], d[2], d[3],
             d[4], d[5]);
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "device", json_string(j->device));
    json_object_set_new(r, "model_sha256", json_string(j->sha));
    json_object_set_new(r, "job", json_string(j->job));
    json_object_set_new(r, "started", json_string(started));
    json_object_set_new(r, "finished", json_string(finished));
    if (!json_object_get(r, "framework"))
        json_object_set_new(r, "framework", json_string("unknown"));
    if (!json_object_get(r, "runs"))
        json_object_set_new(r, "runs", json_integer(j->runs));
    if (status != 0 && !why[0]) {
        const char *tail = err.data ? err.data : "";
        size_t n = strlen(tail);
        snprintf(why, sizeof(why), "the runner exited with status %d: %s", status,
                 n > 200 ? tail + n - 200 : tail);
    }
    if (!why[0] && !json_object_get(r, "status"))
        json_object_set_new(r, "status", json_string("ok"));
    struct fleet_agent_result check;
    char bad[240];
    if (!why[0] && fleet_agent_result_parse(r, &check, bad, sizeof(bad)) != 0)
        snprintf(why, sizeof(why), "the runner's result is not valid: %s", bad);
    else if (!why[0])
        fleet_agent_result_clear(&check);
    if (why[0]) {
        /* A failed result still answers the job. */
        json_object_set_new(r, "status", json_string("failed"));
        json_object_set_new(r, "error", json_string(why));
        json_object_set_new(r, "latency_ms", json_null());
        json_object_set_new(r, "runs", json_integer(0));
        json_object_set_new(r, "framework", json_string("unknown"));
        const char *drop[] = {"arena_bytes", "energy_uj", "accuracy"};
        for (int i = 0; i < 3; i++)
            json_object_del(r, drop[i]);
    }
    char msg[256];
    if (fleet_ledger_append(j->a->ledger, r, msg, sizeof(msg)) != 0)
        fprintf(stderr, "tinyfleet-agent: job %s: cannot record the result: %s\n", j->job, msg);
    else
        fprintf(stderr, "tinyfleet-agent: job %s on %s: %s\n", j->job, j->device,
                why[0] ? why : "done");
    json_decref(r);
    fleet_buf_free(&out);
    fleet_buf_free(&err);
    struct agent *a = j->a;
    job_free(j);
    pthread_mutex_lock(&a->state_mu);
    if (--a->active == 0)
        pthread_cond_broadcast(&a->idle);
    pthread_mutex_unlock(&a->state_mu);
    return NULL;
}

static enum MHD_Result run_benchmark(struct agent *a, struct MHD_Connection *c,
                                     const struct fleet_buf *body)
{
    json_error_t jerr;
    json_t *in = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
    const char *job = json_string_value(json_object_get(in, "job"));
    const char *dev = json_string_value(json_object_get(in, "device"));
    const char *sha = json_string_value(json_object_get(in, "model_sha256"));
    const char *url = json_string_value(json_object_get(in, "model_url"));
    json_t *jr = json_object_get(in, "runs");
    if (!job || !*job || strlen(job) > 64 || !dev || !sha || strlen(sha) != 64 || !url ||
        (jr && (!json_is_integer(jr) || json_integer_value(jr) < 1))) {
        json_decref(in);
        return problem(c, 400,
                       "the input is {\"job\", \"device\", \"model_sha256\", "
                       "\"model_url\", \"runs\"}");
    }
    json_t *devices = fleet_ledger_devices(a->ledger, a->boards, a->n_boards);
    int fronted = 0;
    size_t i;
    json_t *e;
    json_array_foreach(devices, i, e) fronted |= strcmp(json_string_value(e), dev) == 0;
    json_decref(devices);
    if (!fronted) {
        json_decref(in);
        return problem(c, 404, "this agent does not front that board");
    }
    json_t *ack = json_pack("{s:s, s:s}", "job", job, "status", "accepted");
    if (fleet_ledger_has_job(a->ledger, job, dev)) {
        /* Asked again (the daemon retried): the result is there already. */
        json_decref(in);
        return send_json(c, 202, "application/json", ack);
    }
    struct job *j = calloc(1, sizeof(*j));
    pthread_t t;
    if (!j || !(j->job = strdup(job)) || !(j->device = strdup(dev)) || !(j->sha = strdup(sha)) ||
        !(j->url = strdup(url))) {
        if (j)
            job_free(j);
        json_decref(in);
        json_decref(ack);
        return MHD_NO;
    }
    j->a = a;
    j->runs = jr ? json_integer_value(jr) : 100;
    json_decref(in);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&a->state_mu);
    a->active++;
    pthread_mutex_unlock(&a->state_mu);
    int rc = pthread_create(&t, &attr, run_job, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&a->state_mu);
        a->active--;
        pthread_mutex_unlock(&a->state_mu);
        job_free(j);
        json_decref(ack);
        return problem(c, 503, "cannot start the runner");
    }
    return send_json(c, 202, "application/json", ack);
}

/* ---- requests
 * ------------------------------------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **req_cls)
{
    struct agent *a = cls;
    (void)version;
    if (!*req_cls) {
        struct fleet_buf *b = calloc(1, sizeof(*b));
        if (!b)
            return MHD_NO;
        *req_cls = b;
        return MHD_YES;
    }
    struct fleet_buf *body = *req_cls;
    if (*size) {
        if (body->len + *size > MAX_BODY)
            body->oom = 1; /* refused below */
        else
            fleet_buf_append(body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/") == 0 || strcmp(url, "/td") == 0) {
        if (!get)
            return problem(c, 405, "use GET");
        return send_json(c, 200, "application/td+json", thing_description(a, c));
    }
    if (strcmp(url, "/properties/devices") == 0) {
        if (!get)
            return problem(c, 405, "use GET");
        return send_json(c, 200, "application/json",
                         fleet_ledger_devices(a->ledger, a->boards, a->n_boards));
    }
    if (strcmp(url, "/properties/results") == 0) {
        if (!get)
            return problem(c, 405, "use GET");
        const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
        const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
        long limit = 100;
        if (ls) {
            char *end;
            limit = strtol(ls, &end, 10);
            if (end == ls || *end || limit < 1 || limit > MAX_LIMIT)
                return problem(c, 400, "limit must be an integer from 1 to 1000");
        }
        json_t *page = fleet_ledger_page(a->ledger, since, (size_t)limit);
        if (!page)
            return problem(c, 400, "since is not a cursor of this agent");
        return send_json(c, 200, "application/json", page);
    }
    if (strcmp(url, "/actions/runBenchmark") == 0 && a->runner) {
        if (strcmp(method, "POST") != 0)
            return problem(c, 405, "use POST");
        if (body->oom)
            return problem(c, 400, "the input is too large");
        return run_benchmark(a, c, body);
    }
    return problem(c, 404, "no such resource");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct fleet_buf *b = *req_cls;
    if (b) {
        fleet_buf_free(b);
        free(b);
    }
    *req_cls = NULL;
}

/* ---- start-up
 * ------------------------------------------------------------------------------------- */

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return -1;
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[strlen(host) - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"port-file", required_argument, NULL, 'P'},
                                         {"base-url", required_argument, NULL, 'B'},
                                         {"title", required_argument, NULL, 'T'},
                                         {"mlperf", required_argument, NULL, 'M'},
                                         {"results", required_argument, NULL, 'R'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"device", required_argument, NULL, 'D'},
                                         {"runner", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *listen_at = "127.0.0.1:8090", *port_file = NULL, *mlperf = NULL, *results = NULL;
    const char *bench_names[16], *bench_sha[16], *sys_names[256], *sys_dev[256];
    char shas[16][65];
    size_t n_bench = 0, n_sys = 0;
    struct agent a;
    int c, status = 1;
    memset(&a, 0, sizeof(a));
    snprintf(a.title, sizeof(a.title), "tinyfleet-agent");
    a.boards = calloc((size_t)argc + 1, sizeof(*a.boards));
    if (!a.boards)
        return 1;
    while ((c = getopt_long(argc, argv, "l:h", opts, NULL)) != -1) {
        char *eq;
        switch (c) {
        case 'l':
            listen_at = optarg;
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'B':
            snprintf(a.base_url, sizeof(a.base_url), "%s", optarg);
            break;
        case 'T':
            snprintf(a.title, sizeof(a.title), "%s", optarg);
            break;
        case 'M':
            mlperf = optarg;
            break;
        case 'R':
            results = optarg;
            break;
        case 'r':
            a.runner = optarg;
            break;
        case 'm':
            if (!(eq = strchr(optarg, '=')) || n_bench == 16) {
                fprintf(stderr, "tinyfleet-agent: --model wants BENCH=FILE.tflite\n");
                return 2;
            }
            *eq = '\0';
            if (sha256_file(eq + 1, shas[n_bench]) != 0) {
                fprintf(stderr, "tinyfleet-agent: %s: %s\n", eq + 1, strerror(errno));
                return 2;
            }
            bench_names[n_bench] = optarg;
            bench_sha[n_bench] = shas[n_bench];
            n_bench++;
            break;
        case 'D':
            /* SYSTEM=ID when what precedes the first '=' cannot be part of an IRI's scheme
             * and authority, else a bare TD id (which may hold '=' in its query) */
            eq = strchr(optarg, '=');
            if (eq && eq > optarg && !memchr(optarg, ':', (size_t)(eq - optarg)) &&
                !memchr(optarg, '/', (size_t)(eq - optarg)) && n_sys < 256) {
                *eq = '\0';
                sys_names[n_sys] = optarg;
                sys_dev[n_sys++] = eq + 1;
                a.boards[a.n_boards++] = eq + 1;
            } else {
                a.boards[a.n_boards++] = optarg;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (a.runner && !results) {
        fprintf(stderr, "tinyfleet-agent: --runner needs --results (the results go there)\n");
        return 2;
    }
    json_t *fixed = NULL;
    if (mlperf) {
        char err[512];
        struct fleet_mlperf_map map = {bench_names, bench_sha, n_bench, sys_names, sys_dev, n_sys};
        if (!(fixed = fleet_mlperf_scan(mlperf, &map, err, sizeof(err)))) {
            fprintf(stderr, "tinyfleet-agent: %s\n", err);
            return 1;
        }
        fprintf(stderr, "tinyfleet-agent: %zu MLPerf Tiny results in %s\n", json_array_size(fixed),
                mlperf);
    }
    if (!(a.ledger = fleet_ledger_new(fixed, results)))
        return 1;
    pthread_mutex_init(&a.jobs_mu, NULL);
    pthread_mutex_init(&a.state_mu, NULL);
    pthread_cond_init(&a.idle, NULL);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_storage ss;
    socklen_t sslen;
    if (parse_listen(listen_at, &ss, &sslen) != 0) {
        fprintf(stderr, "tinyfleet-agent: --listen wants ADDR:PORT (IPv6 in brackets)\n");
        goto out;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *mhd =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, &a, MHD_OPTION_SOCK_ADDR, &ss,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!mhd) {
        fprintf(stderr, "tinyfleet-agent: cannot listen on %s\n", listen_at);
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    a.port = info ? info->port : 0;
    fprintf(stderr, "tinyfleet-agent: listening on port %u; TD at /td\n", a.port);
    if (port_file) {
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", a.port) < 0 || fclose(f) != 0 || rename(tmp, port_file)) {
            fprintf(stderr, "tinyfleet-agent: %s: %s\n", port_file, strerror(errno));
            MHD_stop_daemon(mhd);
            goto out;
        }
    }
    int sig;
    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "tinyfleet-agent: stopping\n");
    MHD_stop_daemon(mhd);
    /* A runner at work is waited for: its result belongs in the file. */
    pthread_mutex_lock(&a.state_mu);
    while (a.active > 0)
        pthread_cond_wait(&a.idle, &a.state_mu);
    pthread_mutex_unlock(&a.state_mu);
    status = 0;
out:
    fleet_ledger_free(a.ledger);
    free(a.boards);
    return status;
}
