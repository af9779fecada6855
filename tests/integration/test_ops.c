/* SPDX-License-Identifier: MIT */
/* Integration tests for operating tinyfleetd (issue 7), on the real daemon as systemd runs it:
 *   - the service manager protocol: NOTIFY_SOCKET pointed at the test's own AF_UNIX datagram
 *     socket (a path, and an @abstract name) receives READY=1 once the daemon serves, WATCHDOG=1
 *     at half of WATCHDOG_USEC (none when WATCHDOG_PID names another process), RELOADING=1 then
 *     READY=1 around SIGHUP (also for a broken file), and STOPPING=1 on SIGTERM;
 *   - GET /metrics: a scrape the strict reader (tests/unit/prom_text.c), and promtool where it
 *     is installed, take as it is, with counts that follow what the test did (requests, triples
 *     by graph kind, models, Things, query timeouts, reloads), behind a read token when
 *     require_read_token is set;
 *   - SIGHUP: a keep-alive connection and an open event stream survive it, a token added works
 *     on them, the log level changes, restart-only keys are named;
 *   - the access log: one line per request with method, path, status, bytes and time, and never
 *     a token, a query string or a body;
 *   - SIGTERM: an idle keep-alive connection does not hold the stop up, a request in flight
 *     finishes (and its write survives), a stalled one is cut at shutdown_timeout;
 *   - etc/tinyfleetd.conf and the man page name every key of daemon/config.c's table, and the
 *     example's values are valid. */
#include <check.h>

#include "config.h"
#include "harness.h"
#include "prom_text.h"
#include "tflite_writer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define TD11 "https://www.w3.org/2022/wot/td/v1.1"

/* ---- the notification socket ----------------------------------------------------------------- */

struct notify_sock {
    int fd;
    char name[320]; /* what NOTIFY_SOCKET says: a path, or "@name" */
};

static void notify_open(struct notify_sock *ns, int abstract)
{
    struct sockaddr_un a;
    socklen_t alen;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (abstract) {
        snprintf(ns->name, sizeof(ns->name), "@tinyfleet-itest-%ld-%ld", (long)getpid(),
                 (long)random());
        memcpy(a.sun_path + 1, ns->name + 1, strlen(ns->name) - 1);
        alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(ns->name));
    } else {
        snprintf(ns->name, sizeof(ns->name), "%s/notify.%ld", run_dir, (long)random());
        ck_assert_uint_lt(strlen(ns->name), sizeof(a.sun_path));
        strcpy(a.sun_path, ns->name);
        alen = sizeof(a);
    }
    ns->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(ns->fd, 0);
    ck_assert_msg(bind(ns->fd, (struct sockaddr *)&a, alen) == 0, "bind %s: %s", ns->name,
                  strerror(errno));
}

static void notify_close(struct notify_sock *ns)
{
    close(ns->fd);
    if (ns->name[0] == '/')
        unlink(ns->name);
}

/* The next datagram (NUL-terminated in buf), or 0 if none came within timeout_s. */
static int notify_next(struct notify_sock *ns, char *buf, size_t len, double timeout_s)
{
    struct pollfd pfd = {ns->fd, POLLIN, 0};
    int n = poll(&pfd, 1, (int)(timeout_s * 1000));
    if (n <= 0)
        return 0;
    ssize_t r = recv(ns->fd, buf, len - 1, 0);
    ck_assert_int_ge(r, 0);
    buf[r] = '\0';
    return 1;
}

/* 1 if msg holds the line "line" (a KEY=VALUE assignment), alone on its line. */
static int has_line(const char *msg, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = msg; (p = strstr(p, line)); p += n)
        if ((p == msg || p[-1] == '\n') && (p[n] == '\0' || p[n] == '\n'))
            return 1;
    return 0;
}

/* Waits for a datagram holding want, skipping WATCHDOG=1 pings; any other datagram before it
 * fails the test (the order is the protocol). The datagram is copied to buf. */
static void notify_expect(struct notify_sock *ns, const char *want, char *buf, size_t len,
                          double timeout_s)
{
    double deadline = now_s() + timeout_s;
    for (;;) {
        double left = deadline - now_s();
        ck_assert_msg(left > 0 && notify_next(ns, buf, len, left),
                      "no %s from the daemon within %.0f s", want, timeout_s);
        if (has_line(buf, want))
            return;
        ck_assert_msg(strcmp(buf, "WATCHDOG=1") == 0, "expected %s, got \"%s\"", want, buf);
    }
}

static void set_notify_env(const struct notify_sock *ns, const char *watchdog_usec,
                           const char *watchdog_pid)
{
    setenv("NOTIFY_SOCKET", ns->name, 1);
    if (watchdog_usec)
        setenv("WATCHDOG_USEC", watchdog_usec, 1);
    else
        unsetenv("WATCHDOG_USEC");
    if (watchdog_pid)
        setenv("WATCHDOG_PID", watchdog_pid, 1);
    else
        unsetenv("WATCHDOG_PID");
}

static void clear_notify_env(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

/* ---- /metrics -------------------------------------------------------------------------------- */

/* Runs promtool check metrics on the page where promtool is installed. */
static void promtool_check(const char *page, size_t len)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        static int said;
        if (!said++)
            printf("test_ops: promtool is not installed; the strict reader alone checks "
                   "/metrics\n");
        return;
    }
    char path[400], cmd[900];
    snprintf(path, sizeof(path), "%s/metrics.%ld.txt", run_dir, (long)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(page, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' > '%s.out' 2>&1", path, path);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof(cmd), "%s.out", path);
        char *out = read_file(cmd, NULL);
        ck_abort_msg("promtool check metrics refused the page: %s", out ? out : "?");
    }
}

/* GET /metrics, checked by the strict reader (and promtool); the parsed page in *t. */
static void scrape(const struct daemon *d, const char *token, struct prom_text *t)
{
    struct reply r;
    char err[512];
    http(d, "GET", "/metrics", token, NULL, NULL, NULL, 0, &r);
    ck_assert_msg(r.status == 200, "GET /metrics: HTTP %ld %s", r.status, r.body);
    ck_assert_str_eq(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_msg(prom_parse(r.body, r.len, t, err, sizeof(err)) == 0, "/metrics: %s\n%s", err,
                  r.body);
    promtool_check(r.body, r.len);
    reply_free(&r);
}

static double metric(const struct daemon *d, const char *name, const char *label, const char *value)
{
    struct prom_text t;
    double v = -1;
    scrape(d, READ_TOKEN, &t);
    int found = label ? prom_get(&t, name, &v, label, value, NULL) : prom_get(&t, name, &v, NULL);
    ck_assert_msg(found, "/metrics has no %s{%s=\"%s\"}", name, label ? label : "",
                  value ? value : "");
    prom_free(&t);
    return v;
}

/* Sends SIGHUP and waits until /metrics counts it (result success or failure). */
static void reload_and_wait(const struct daemon *d, const char *result)
{
    double before = metric(d, "tinyfleet_config_reloads_total", "result", result);
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    double deadline = now_s() + 10;
    while (metric(d, "tinyfleet_config_reloads_total", "result", result) == before) {
        ck_assert_msg(now_s() < deadline, "no reload (%s) counted within 10 s", result);
        sleep_ms(20);
    }
}

/* in int8 [1,10] -> FULLY_CONNECTED [4,10] -> [1,4]. */
static uint8_t *tiny_model(size_t *len)
{
    struct tw_model m;
    static const int32_t s_in[2] = {1, 10}, s_w[2] = {4, 10}, s_o[2] = {1, 4};
    tw_init(&m);
    int32_t in = tw_qtensor(&m, 9, 2, s_in, 0, 1);
    int32_t w = tw_qtensor(&m, 9, 2, s_w, 40, 1);
    int32_t out = tw_qtensor(&m, 9, 2, s_o, 0, 1);
    tw_op(&m, 9, 0, 3, (int32_t[]){in, w, -1}, 1, (int32_t[]){out});
    m.n_inputs = 1, m.inputs[0] = in;
    m.n_outputs = 1, m.outputs[0] = out;
    uint8_t *data = tw_build(&m, len, NULL);
    ck_assert_ptr_nonnull(data);
    return data;
}

static const char TINY_META[] =
    "{\"name\":\"tiny\",\"description\":\"a test model\",\"category\":\"Classification\","
    "\"metric\":{\"type\":\"Top_1_accuracy\",\"value\":50.0},\"sensors\":[\"Microphone\"]}";

static void put_td(const struct daemon *d, const char *token, const char *id, long want)
{
    char body[1024], path[512];
    struct reply r;
    snprintf(body, sizeof(body),
             "{\"@context\": \"" TD11 "\", \"id\": \"%s\", \"title\": \"ops board\", "
             "\"securityDefinitions\": {\"nosec_sc\": {\"scheme\": \"nosec\"}}, "
             "\"security\": \"nosec_sc\"}",
             id);
    char *e = escape(id);
    snprintf(path, sizeof(path), "/api/v1/things/%s", e);
    free(e);
    http(d, "PUT", path, token, "application/td+json", NULL, body, strlen(body), &r);
    ck_assert_msg(r.status == want, "PUT %s: HTTP %ld (want %ld) %s", path, r.status, want, r.body);
    reply_free(&r);
}

/* ---- the tests ------------------------------------------------------------------------------- */

START_TEST(test_notify_protocol)
{
    struct notify_sock ns;
    char msg[512];
    notify_open(&ns, 0);
    set_notify_env(&ns, "200000", NULL); /* a ping every 100 ms */
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    clear_notify_env();

    /* READY=1 comes first, and by then the daemon answers. */
    ck_assert_msg(notify_next(&ns, msg, sizeof(msg), 10), "no notification within 10 s");
    ck_assert_msg(has_line(msg, "READY=1"), "the first notification is \"%s\", not READY=1", msg);
    ck_assert_msg(strstr(msg, "STATUS=") != NULL, "READY=1 without a STATUS: \"%s\"", msg);
    struct reply r;
    http(d, "GET", "/healthz", NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);

    /* WATCHDOG=1 at about half the interval: ~10 in a second, at least 4 even on a slow run. */
    int pings = 0;
    double until = now_s() + 1.0;
    while (now_s() < until && notify_next(&ns, msg, sizeof(msg), until - now_s())) {
        ck_assert_msg(strcmp(msg, "WATCHDOG=1") == 0, "unexpected \"%s\" while idle", msg);
        pings++;
    }
    ck_assert_msg(pings >= 4 && pings <= 25, "%d WATCHDOG=1 in a second at WATCHDOG_USEC=200000",
                  pings);

    /* SIGHUP: RELOADING=1 with the monotonic time, then READY=1. */
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    notify_expect(&ns, "RELOADING=1", msg, sizeof(msg), 10);
    const char *mono = strstr(msg, "MONOTONIC_USEC=");
    ck_assert_msg(mono && mono[15] >= '1' && mono[15] <= '9',
                  "RELOADING=1 without "
                  "MONOTONIC_USEC: \"%s\"",
                  msg);
    notify_expect(&ns, "READY=1", msg, sizeof(msg), 10);

    /* A broken file: the reload fails, the service manager still hears that it is over. */
    write_file(d->conf, "no_such_key 1\n");
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    notify_expect(&ns, "RELOADING=1", msg, sizeof(msg), 10);
    notify_expect(&ns, "READY=1", msg, sizeof(msg), 10);
    ck_assert_msg(waitpid(d->pid, NULL, WNOHANG) == 0, "a failed reload stopped the daemon");
    write_conf(d);

    /* SIGTERM: STOPPING=1, then a clean exit. */
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM: status 0x%x", status);
    notify_expect(&ns, "STOPPING=1", msg, sizeof(msg), 1);
    daemon_free(d);
    notify_close(&ns);
}
END_TEST

/* An abstract socket name works; a watchdog meant for another process is not fed. */
START_TEST(test_notify_abstract_and_watchdog_pid)
{
    struct notify_sock ns;
    char msg[512];
    notify_open(&ns, 1);
    set_notify_env(&ns, "200000", "1");
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    clear_notify_env();
    ck_assert_msg(notify_next(&ns, msg, sizeof(msg), 10), "no READY=1 on %s", ns.name);
    ck_assert_msg(has_line(msg, "READY=1"), "got \"%s\"", msg);
    ck_assert_msg(!notify_next(&ns, msg, sizeof(msg), 0.8),
                  "\"%s\" although WATCHDOG_PID names another process", msg);
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    notify_expect(&ns, "STOPPING=1", msg, sizeof(msg), 1);
    daemon_free(d);
    notify_close(&ns);
}
END_TEST

/* The value of name in the environment of process pid (new), or NULL. */
static char *environ_of(pid_t pid, const char *name)
{
    char path[64];
    size_t len, n = strlen(name);
    snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
    char *env = read_file(path, &len);
    char *found = NULL;
    for (size_t i = 0; env && i < len && !found; i += strlen(env + i) + 1)
        if (strncmp(env + i, name, n) == 0 && env[i + n] == '=')
            found = strdup(env + i + n + 1);
    free(env);
    return found;
}

/* tinyfleetd re-executes itself once, same pid, with glibc's huge-page heaps and every symbol
 * bound (cheaper forks per query); TINYFLEET_REEXEC=0 keeps it as started. Not under valgrind,
 * where the daemon skips the exec on purpose. */
START_TEST(test_reexec_for_fork)
{
    if (getenv("FLEET_UNDER_VALGRIND")) {
        fprintf(stderr, "test_reexec_for_fork: under valgrind the daemon does not re-execute\n");
        return;
    }
    unsetenv("GLIBC_TUNABLES");
    unsetenv("LD_BIND_NOW");
    unsetenv("TINYFLEET_REEXEC");
    struct daemon *d = daemon_new(NULL);
    daemon_start(d); /* the harness waits for the port file: the same pid that it forked */
    char *tun = environ_of(d->pid, "GLIBC_TUNABLES"), *bind = environ_of(d->pid, "LD_BIND_NOW");
    ck_assert_msg(tun && strstr(tun, "glibc.malloc.hugetlb=1"), "GLIBC_TUNABLES=%s",
                  tun ? tun : "(unset)");
    ck_assert_str_eq(bind ? bind : "(unset)", "1");
    free(tun), free(bind);
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    daemon_free(d);

    setenv("TINYFLEET_REEXEC", "0", 1);
    d = daemon_new(NULL);
    daemon_start(d);
    tun = environ_of(d->pid, "GLIBC_TUNABLES");
    ck_assert_msg(tun == NULL, "re-executed although TINYFLEET_REEXEC=0: GLIBC_TUNABLES=%s", tun);
    status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    daemon_free(d);
    unsetenv("TINYFLEET_REEXEC");
}
END_TEST

/* Without NOTIFY_SOCKET the daemon runs as before (and says nothing about notifications). */
START_TEST(test_no_notify_socket)
{
    clear_notify_env();
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *log = read_file(d->log, NULL);
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(strstr(log, "notify:") == NULL, "notify messages without NOTIFY_SOCKET:\n%s", log);
    free(log);
    daemon_free(d);
}
END_TEST

START_TEST(test_metrics_scrape)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    for (int i = 0; i < 3; i++) {
        http(d, "GET", "/healthz", NULL, NULL, NULL, NULL, 0, &r);
        ck_assert_int_eq(r.status, 200);
        reply_free(&r);
    }
    http(d, "GET", "/no/such/thing", NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    reply_free(&r);
    http(d, "PUT", "/data?graph=" EX "g", NULL, "text/turtle", NULL, "", 0, &r);
    ck_assert_int_eq(r.status, 401);
    reply_free(&r);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g", "text/turtle", "<" EX "a> <" EX "p> 1, 2, 3 .\n"),
                     201);
    /* The default graph always exists: 204. */
    ck_assert_int_eq(send_graph(d, "PUT", NULL, "text/turtle", "<" EX "a> <" EX "q> 1 .\n"), 204);
    /* The same read twice: the second answer comes from the response cache. */
    for (int i = 0; i < 2; i++) {
        http(d, "GET", "/data?graph=" EX "g", NULL, NULL, "application/n-triples", NULL, 0, &r);
        ck_assert_int_eq(r.status, 200);
        reply_free(&r);
    }
    size_t len;
    uint8_t *model = tiny_model(&len);
    upload_model(d, WRITE_TOKEN, model, len, TINY_META, &r);
    ck_assert_msg(r.status == 201, "upload: HTTP %ld %s", r.status, r.body);
    reply_free(&r);
    free(model);
    put_td(d, WRITE_TOKEN, "urn:example:ops:board1", 201);
    put_td(d, WRITE_TOKEN, "urn:example:ops:board2", 201);
    /* one malformed query (refused by the parse helper), one lookup twice (the native engine
     * without a child; the second parse remembered) */
    const char *bad = "SELECT ?s WHERE { ?s ?p ?o } LIMIT x";
    http(d, "POST", "/sparql", NULL, "application/sparql-query", NULL, bad, strlen(bad), &r);
    ck_assert_int_eq(r.status, 400);
    reply_free(&r);
    const char *look = "SELECT ?p ?o WHERE { <" EX "a> ?p ?o }";
    for (int i = 0; i < 2; i++) {
        http(d, "POST", "/sparql", NULL, "application/sparql-query", NULL, look, strlen(look),
             &r);
        ck_assert_int_eq(r.status, 200);
        reply_free(&r);
    }

    struct prom_text t;
    double v;
    scrape(d, NULL, &t);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/healthz", "method",
                       "GET", "code", "200", NULL));
    ck_assert_double_eq(v, 3);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "unmatched", "method",
                       "GET", "code", "404", NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/data", "method", "PUT",
                       "code", "401", NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/data", "method", "PUT",
                       "code", "201", NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/data", "method", "PUT",
                       "code", "204", NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_http_requests_total", &v, "route", "/api/v1/models", "method",
                       "POST", "code", "201", NULL));
    ck_assert(prom_get(&t, "tinyfleet_http_request_duration_seconds_count", &v, "route", "/healthz",
                       "method", "GET", NULL));
    ck_assert_double_eq(v, 3);
    /* The scrape itself is in flight while it is written. */
    ck_assert(prom_get(&t, "tinyfleet_http_requests_in_flight", &v, "route", "/metrics", NULL));
    ck_assert_double_eq(v, 1);

    ck_assert(prom_get(&t, "tinyfleet_store_triples", &v, "kind", "other", NULL));
    ck_assert_double_eq(v, 3);
    ck_assert(prom_get(&t, "tinyfleet_store_triples", &v, "kind", "default", NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_store_triples", &v, "kind", "ontology", NULL) && v > 100);
    ck_assert(prom_get(&t, "tinyfleet_store_triples", &v, "kind", "model", NULL) && v > 10);
    ck_assert(prom_get(&t, "tinyfleet_store_triples", &v, "kind", "thing", NULL) && v > 2);
    ck_assert(prom_get(&t, "tinyfleet_store_graphs", &v, "kind", "thing", NULL));
    ck_assert_double_eq(v, 2);
    ck_assert(prom_get(&t, "tinyfleet_models", &v, NULL));
    ck_assert_double_eq(v, 1);
    ck_assert(prom_get(&t, "tinyfleet_things", &v, NULL));
    ck_assert_double_eq(v, 2);
    ck_assert(prom_get(&t, "tinyfleet_store_journal_bytes", &v, NULL) && v > 0);
    ck_assert(prom_get(&t, "tinyfleet_store_snapshot_bytes", &v, NULL) && v >= 0);
    ck_assert(prom_get(&t, "tinyfleet_tokens", &v, NULL));
    ck_assert_double_eq(v, 2);
    ck_assert(prom_get(&t, "tinyfleet_build_info", &v, "version", PACKAGE_VERSION, NULL));
    ck_assert(prom_get(&t, "tinyfleet_query_timeouts_total", &v, NULL));
    ck_assert_double_eq(v, 0);
    ck_assert(prom_get(&t, "process_resident_memory_bytes", &v, NULL) && v > 1e6);
    ck_assert(prom_get(&t, "tinyfleet_cache_lookups_total", &v, "result", "hit", NULL) && v >= 1);
    ck_assert(prom_get(&t, "tinyfleet_cache_max_bytes", &v, NULL));
    ck_assert_double_eq(v, 64 << 20);
    ck_assert(prom_get(&t, "tinyfleet_sparql_parse_checks_total", &v, "result", "refused",
                       NULL) && v >= 1);
    ck_assert(prom_get(&t, "tinyfleet_sparql_parse_checks_total", &v, "result", "remembered",
                       NULL) && v >= 1);
    ck_assert(prom_get(&t, "tinyfleet_sparql_parse_helpers_total", &v, NULL) && v >= 1);
    ck_assert(prom_get(&t, "tinyfleet_sparql_queries_total", &v, "engine", "native_inline",
                       NULL) && v >= 2);
    /* The sum of triples by kind is every triple the store holds. */
    double all = prom_sum(&t, "tinyfleet_store_triples", NULL, NULL);
    prom_free(&t);
    http(d, "GET", "/healthz", NULL, NULL, "application/json", NULL, 0, &r);
    json_t *h = json_loads(r.body, 0, NULL);
    ck_assert_ptr_nonnull(h);
    ck_assert_double_eq(all, (double)json_integer_value(json_object_get(h, "triples")));
    json_decref(h);
    reply_free(&r);

    http(d, "HEAD", "/metrics", NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    http(d, "POST", "/metrics", WRITE_TOKEN, "text/plain", NULL, "x", 1, &r);
    assert_problem(&r, 405);
    reply_free(&r);
    daemon_free(d);
}
END_TEST

/* /metrics is a read: with require_read_token, a token is needed. */
START_TEST(test_metrics_read_scope)
{
    struct daemon *d = daemon_new("require_read_token yes\n");
    daemon_start(d);
    struct reply r;
    http(d, "GET", "/metrics", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 401);
    reply_free(&r);
    http(d, "GET", "/metrics", "not-a-configured-token", NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 401);
    reply_free(&r);
    struct prom_text t;
    scrape(d, READ_TOKEN, &t);
    prom_free(&t);
    daemon_free(d);
}
END_TEST

START_TEST(test_metrics_query_timeouts)
{
    struct daemon *d = daemon_new("query_timeout 300ms\n");
    daemon_start(d);
    size_t cap = 2000 * 80, n = 0;
    char *nt = malloc(cap);
    ck_assert_ptr_nonnull(nt);
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(nt + n, cap - n, "<" EX "n%d> <" EX "v> \"%d\" .\n", i, i);
    ck_assert_int_eq(send_graph(d, "PUT", EX "big", "application/n-triples", nt), 201);
    free(nt);
    /* never true and never emits a row, so only the clock stops it */
    char *q = escape("PREFIX ex: <" EX "> ASK { ?a ex:v ?c . ?d ex:v ?f . ?g ex:v ?i . "
                     "FILTER (?c = CONCAT(?f, ?i, \"x\")) }");
    char path[1024];
    snprintf(path, sizeof(path), "/sparql?query=%s", q);
    free(q);
    struct reply r;
    for (int i = 0; i < 2; i++) {
        http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
        assert_problem(&r, 503);
        reply_free(&r);
    }
    ck_assert_double_eq(metric(d, "tinyfleet_query_timeouts_total", NULL, NULL), 2);
    daemon_free(d);
}
END_TEST

/* ---- SIGHUP ---------------------------------------------------------------------------------- */

struct stream {
    const struct daemon *d;
    char buf[8192];
    size_t len;
    CURLcode rc;
    long status;
    int connects;
};

static size_t on_stream(char *p, size_t size, size_t n, void *cls)
{
    struct stream *s = cls;
    size_t add = size * n;
    if (s->len + add >= sizeof(s->buf))
        add = sizeof(s->buf) - 1 - s->len;
    memcpy(s->buf + s->len, p, add);
    s->len += add;
    s->buf[s->len] = '\0';
    /* The event we wait for has come: leave (curl reports a write error, which is expected). */
    return strstr(s->buf, "urn:example:ops:after-reload") ? 0 : size * n;
}

static void *stream_run(void *arg)
{
    struct stream *s = arg;
    char url[256];
    CURL *c = curl_easy_init();
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/events/thing_created", s->d->port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    s->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
    long connects = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    s->connects = (int)connects;
    curl_easy_cleanup(c);
    return NULL;
}

static long get_on(CURL *c, const struct daemon *d, const char *path, long *new_connects)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", d->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, new_connects);
    return status;
}

static size_t discard(char *p, size_t size, size_t n, void *cls)
{
    (void)p, (void)cls;
    return size * n;
}

static CURL *keepalive_handle(void)
{
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    return c;
}

/* Tokens, log level and limits change on SIGHUP while a keep-alive connection and an event
 * stream stay open; restart-only keys are named in the log. */
START_TEST(test_reload_keeps_connections)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    CURL *c = keepalive_handle();
    long connects;
    ck_assert_int_eq(get_on(c, d, "/healthz", &connects), 200);
    ck_assert_int_eq(connects, 1);

    struct stream s = {d, "", 0, CURLE_OK, 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, stream_run, &s), 0);
    double deadline = now_s() + 10;
    while (metric(d, "tinyfleet_http_requests_in_flight", "route", "/api/v1/events") < 1) {
        ck_assert_msg(now_s() < deadline, "the event stream did not open");
        sleep_ms(20);
    }

    /* A new token, the access log off, and a restart-only key changed. */
    write_tokens(d, "# rotated\n" NEW_TOKEN " write\n" READ_TOKEN " read\n");
    snprintf(d->extra_conf, sizeof(d->extra_conf), "log_level warning\nhttp_threads 8\n");
    write_conf(d);
    reload_and_wait(d, "success");

    /* The same connection goes on, and the new token works at once; the old one is gone. */
    ck_assert_int_eq(get_on(c, d, "/healthz", &connects), 200);
    ck_assert_msg(connects == 0, "the keep-alive connection was dropped by the reload");
    put_td(d, WRITE_TOKEN, "urn:example:ops:refused", 401);
    put_td(d, NEW_TOKEN, "urn:example:ops:after-reload", 201);
    pthread_join(th, NULL);
    ck_assert_msg(strstr(s.buf, "urn:example:ops:after-reload") != NULL,
                  "the stream opened before the reload did not get the event: %s", s.buf);
    ck_assert_int_eq(s.status, 200);
    ck_assert_int_eq(s.connects, 1);

    /* log_level warning: no access-log lines for what follows; the warning about http_threads */
    char *log = read_file(d->log, NULL);
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(strstr(log, "http_threads takes effect at restart only") != NULL, "%s", log);
    size_t before = strlen(log);
    free(log);
    struct reply r;
    http(d, "GET", "/healthz", NULL, NULL, NULL, NULL, 0, &r);
    reply_free(&r);
    log = read_file(d->log, NULL);
    ck_assert_msg(strstr(log + before, "GET /healthz") == NULL,
                  "an access-log line at log_level warning:\n%s", log + before);
    free(log);

    /* ...and back to info. */
    snprintf(d->extra_conf, sizeof(d->extra_conf), "log_level info\nhttp_threads 8\n");
    write_conf(d);
    reload_and_wait(d, "success");
    ck_assert_int_eq(get_on(c, d, "/healthz", &connects), 200);
    ck_assert_int_eq(connects, 0);
    log = read_file(d->log, NULL);
    ck_assert_msg(strstr(log, "GET /healthz 200") != NULL, "no access-log line at info");
    free(log);

    /* A broken file is counted as a failed reload, and the running tokens stay. */
    write_file(d->conf, "listen nonsense\n");
    reload_and_wait(d, "failure");
    put_td(d, NEW_TOKEN, "urn:example:ops:still", 201);
    curl_easy_cleanup(c);
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    daemon_free(d);
}
END_TEST

/* One line per request, "<6>METHOD PATH STATUS BYTES MSms", and no token, query string or body
 * in the log at all. */
START_TEST(test_access_log)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    const char body[] = "<" EX "s> <" EX "p> \"BODY-MARKER-7f3a\" .\n";
    http(d, "PUT", "/data?graph=" EX "QUERY-MARKER-19bd", WRITE_TOKEN, "text/turtle", NULL, body,
         strlen(body), &r);
    ck_assert_int_eq(r.status, 201);
    reply_free(&r);
    http(d, "PUT", "/data?graph=" EX "x", "wrong-token-SECRET-42aa", "text/turtle", NULL, body,
         strlen(body), &r);
    ck_assert_int_eq(r.status, 401);
    reply_free(&r);
    char *q = escape("SELECT * WHERE { ?s ?p \"SPARQL-MARKER-c001\" }");
    char path[512];
    snprintf(path, sizeof(path), "/sparql?query=%s", q);
    free(q);
    http(d, "GET", path, READ_TOKEN, NULL, "application/sparql-results+json", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    size_t sparql_bytes = r.len;
    reply_free(&r);
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    char *log = read_file(d->log, NULL);
    ck_assert_ptr_nonnull(log);
    static const char *const secrets[] = {WRITE_TOKEN,   READ_TOKEN,     "SECRET-42aa",
                                          "BODY-MARKER", "QUERY-MARKER", "SPARQL-MARKER"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        ck_assert_msg(strstr(log, secrets[i]) == NULL, "the log holds \"%s\":\n%s", secrets[i],
                      log);
    int puts201 = 0, puts401 = 0, gets = 0;
    for (char *save = NULL, *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char method[16], p[256], rest[64];
        int st;
        size_t bytes;
        double ms;
        if (sscanf(l, "<6>%15s %255s %d %zu %lfms%63s", method, p, &st, &bytes, &ms, rest) < 5)
            continue;
        ck_assert_msg(ms >= 0 && ms < 30000, "bad time in \"%s\"", l);
        if (strcmp(method, "PUT") == 0 && strcmp(p, "/data") == 0)
            st == 201 ? puts201++ : st == 401 ? puts401++ : 0;
        if (strcmp(method, "GET") == 0 && strcmp(p, "/sparql") == 0 && st == 200) {
            gets++;
            ck_assert_uint_eq(bytes, sparql_bytes);
        }
    }
    ck_assert_int_eq(puts201, 1);
    ck_assert_int_eq(puts401, 1);
    ck_assert_int_eq(gets, 1);
    free(log);
    daemon_free(d);
}
END_TEST

/* ---- SIGTERM --------------------------------------------------------------------------------- */

struct slow_put {
    const struct daemon *d;
    int chunks_left;
    long status;
    CURLcode rc;
};

static size_t slow_read(char *buf, size_t size, size_t n, void *cls)
{
    struct slow_put *s = cls;
    (void)size, (void)n;
    if (s->chunks_left == 0)
        return 0;
    sleep_ms(100);
    int k = 20 - s->chunks_left--;
    return (size_t)snprintf(buf, 64, "<" EX "s%02d> <" EX "p> %02d .\n", k, k);
}

static void *slow_put_run(void *arg)
{
    struct slow_put *s = arg;
    char url[256];
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/turtle");
    char auth[128];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", WRITE_TOKEN);
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Expect:");
    CURL *c = curl_easy_init();
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/data?graph=%sslow", s->d->port, EX);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, slow_read);
    curl_easy_setopt(c, CURLOPT_READDATA, s);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    s->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return NULL;
}

/* A config with shutdown_timeout = secs (the harness's own file sets it to 5). */
static void conf_with_shutdown_timeout(struct daemon *d, const char *secs)
{
    const char *top = getenv("TOP_SRCDIR");
    char text[2048];
    snprintf(text, sizeof(text),
             "token_file %s\nontology_dir %s/ontology\nsparql_dir %s/sparql\n"
             "shutdown_timeout %s\n",
             d->tokens, top ? top : ".", top ? top : ".", secs);
    write_file(d->conf, text);
}

START_TEST(test_stop_idle_keepalive)
{
    struct daemon *d = daemon_new(NULL);
    conf_with_shutdown_timeout(d, "4");
    daemon_start(d);
    CURL *c = keepalive_handle();
    long connects;
    ck_assert_int_eq(get_on(c, d, "/healthz", &connects), 200);
    /* The connection stays open and idle: it is no request, and must not hold the stop up. */
    double t0 = now_s();
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    double secs = now_s() - t0;
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(secs < 2.0, "an idle keep-alive connection held the stop up for %.1f s", secs);
    curl_easy_cleanup(c);
    daemon_free(d);
}
END_TEST

START_TEST(test_stop_finishes_in_flight)
{
    struct daemon *d = daemon_new(NULL);
    conf_with_shutdown_timeout(d, "8");
    daemon_start(d);
    struct slow_put s = {d, 20, 0, CURLE_OK}; /* 20 chunks, 100 ms apart */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, slow_put_run, &s), 0);
    sleep_ms(500);
    double t0 = now_s();
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    double secs = now_s() - t0;
    pthread_join(th, NULL);
    ck_assert_msg(s.rc == CURLE_OK && s.status == 201,
                  "the PUT in flight at SIGTERM: curl %d, "
                  "HTTP %ld",
                  (int)s.rc, s.status);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(secs < 6.0, "the stop took %.1f s", secs);
    daemon_start(d);
    char *g = graph_lines(d, EX "slow");
    ck_assert_msg(strstr(g, "<" EX "s19> <" EX "p> \"19\"") != NULL, "the write is lost: %s", g);
    free(g);
    daemon_free(d);
}
END_TEST

START_TEST(test_stop_cuts_stalled_request)
{
    struct daemon *d = daemon_new(NULL);
    conf_with_shutdown_timeout(d, "1");
    daemon_start(d);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)d->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "PUT /data?graph=%sstalled HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: text/turtle\r\n"
                     "Content-Length: 1000\r\n\r\n<%sa> ",
                     EX, WRITE_TOKEN, EX);
    ck_assert_int_eq(write(fd, req, (size_t)n), n);
    double deadline = now_s() + 5;
    while (metric(d, "tinyfleet_http_requests_in_flight", "route", "/data") < 1) {
        ck_assert_msg(now_s() < deadline, "the stalled PUT never became a request");
        sleep_ms(20);
    }
    double t0 = now_s();
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    double secs = now_s() - t0;
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(secs >= 0.9 && secs < 4.0,
                  "a stalled request at shutdown_timeout 1: the stop took %.1f s", secs);
    char *log = read_file(d->log, NULL);
    ck_assert_msg(strstr(log, "shutdown_timeout passed with 1 request(s) in flight") != NULL, "%s",
                  log);
    free(log);
    close(fd);
    daemon_free(d);
}
END_TEST

/* ---- the example configuration and the man page -----------------------------------------------
 */

/* 1 if line is a setting of key: "key value" or "#key value" (prose comments are "# ..."). */
static int is_setting(const char *line, const char *key)
{
    if (line[0] == '#')
        line++;
    size_t n = strlen(key);
    return strncmp(line, key, n) == 0 && line[n] == ' ' && line[n + 1] && line[n + 1] != ' ';
}

START_TEST(test_example_config_and_man_page)
{
    const char *top = getenv("TOP_SRCDIR");
    char path[1024], uncommented[1024], err[1024];
    ck_assert_ptr_nonnull(top);
    snprintf(path, sizeof(path), "%s/etc/tinyfleetd.conf", top);
    char *text = read_file(path, NULL);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    snprintf(path, sizeof(path), "%s/man/tinyfleetd.8.in", top);
    char *man = read_file(path, NULL);
    ck_assert_msg(man != NULL, "cannot read %s", path);

    size_t nkeys = fleet_config_key_count();
    ck_assert_uint_gt(nkeys, 10);
    int *seen = calloc(nkeys, sizeof(*seen));
    ck_assert_ptr_nonnull(seen);
    /* Every setting line names a key of the table; uncommented they make a valid file. */
    snprintf(uncommented, sizeof(uncommented), "%s/example-uncommented.conf", run_dir);
    FILE *out = fopen(uncommented, "w");
    ck_assert_ptr_nonnull(out);
    char *copy = strdup(text);
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (l[0] == '#' && (l[1] == ' ' || l[1] == '\0' || l[1] == '#'))
            continue; /* prose */
        size_t i = 0;
        while (i < nkeys && !is_setting(l, fleet_config_key_name(i)))
            i++;
        ck_assert_msg(i < nkeys, "etc/tinyfleetd.conf: \"%s\" sets no key tinyfleetd knows", l);
        seen[i]++;
        fprintf(out, "%s\n", l[0] == '#' ? l + 1 : l);
    }
    ck_assert_int_eq(fclose(out), 0);
    for (size_t i = 0; i < nkeys; i++) {
        const char *k = fleet_config_key_name(i);
        ck_assert_msg(seen[i] == 1,
                      "etc/tinyfleetd.conf has %d lines for \"%s\" (one wanted: "
                      "a new key needs its commented default there)",
                      seen[i], k);
        char want[128];
        snprintf(want, sizeof(want), "\n.BI %s ", k);
        ck_assert_msg(strstr(man, want) != NULL, "man/tinyfleetd.8.in does not describe \"%s\"", k);
    }
    struct fleet_config cfg;
    fleet_config_defaults(&cfg);
    ck_assert_msg(fleet_config_load(uncommented, &cfg, err, sizeof(err)) == 0,
                  "the example's values do not load: %s", err);
    ck_assert_msg(fleet_config_check(&cfg, err, sizeof(err)) == 0, "%s", err);
    /* The commented values are the defaults (cors_origin and the paths show examples). */
    struct fleet_config def;
    fleet_config_defaults(&def);
    ck_assert_str_eq(cfg.listen, def.listen);
    ck_assert_int_eq(cfg.query_timeout_ms, def.query_timeout_ms);
    ck_assert_int_eq(cfg.shutdown_timeout_ms, def.shutdown_timeout_ms);
    ck_assert_uint_eq(cfg.max_body_bytes, def.max_body_bytes);
    ck_assert_uint_eq(cfg.snapshot_journal_bytes, def.snapshot_journal_bytes);
    ck_assert_uint_eq(cfg.max_result_rows, def.max_result_rows);
    ck_assert_uint_eq(cfg.http_threads, def.http_threads);
    ck_assert_uint_eq(cfg.max_connections, def.max_connections);
    ck_assert_uint_eq(cfg.event_log_size, def.event_log_size);
    ck_assert_uint_eq(cfg.max_event_streams, def.max_event_streams);
    ck_assert_uint_eq(cfg.thing_max_ttl_s, def.thing_max_ttl_s);
    ck_assert_uint_eq(cfg.thing_page_limit, def.thing_page_limit);
    ck_assert_int_eq(cfg.log_level, def.log_level);
    ck_assert_int_eq(cfg.require_read_token, def.require_read_token);
    ck_assert_int_eq(cfg.allow_service, def.allow_service);
    ck_assert_str_eq(cfg.arena_profile, def.arena_profile);
    ck_assert_str_eq(cfg.state_dir, def.state_dir);
    free(seen);
    free(copy);
    free(text);
    free(man);
}
END_TEST

static Suite *ops_suite(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("daemon");
    tcase_add_checked_fixture(tc, NULL, reap_all);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_notify_protocol);
    tcase_add_test(tc, test_notify_abstract_and_watchdog_pid);
    tcase_add_test(tc, test_no_notify_socket);
    tcase_add_test(tc, test_reexec_for_fork);
    tcase_add_test(tc, test_metrics_scrape);
    tcase_add_test(tc, test_metrics_read_scope);
    tcase_add_test(tc, test_metrics_query_timeouts);
    tcase_add_test(tc, test_reload_keeps_connections);
    tcase_add_test(tc, test_access_log);
    tcase_add_test(tc, test_stop_idle_keepalive);
    tcase_add_test(tc, test_stop_finishes_in_flight);
    tcase_add_test(tc, test_stop_cuts_stalled_request);
    tcase_add_test(tc, test_example_config_and_man_page);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    srandom((unsigned)getpid());
    return harness_main("test_ops", ops_suite());
}
