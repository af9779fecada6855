/* SPDX-License-Identifier: MIT */
/* Integration tests for the directory's notifications (GET /api/v1/events, W3C WoT Discovery
 * Events API) on the real daemon: SSE streams held open by libcurl in their own threads while the
 * test registers, patches and deletes a Thing Description through /api/v1/things (the way a user
 * would), then checks the events (types, data, increasing ids), replay after Last-Event-ID,
 * ?diff=true payloads, the per-type endpoints, errors as problem+json, the read scope, the cap on
 * open streams and that a vanished client frees its slot, that a client which never reads
 * neither holds up writers nor other streams, and that SIGTERM with streams open exits well
 * within shutdown_timeout. */
#include <check.h>

#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define THING "urn:example:ev1"
#define THING_PATH "/api/v1/things/" THING
#define TD_EV1                                                                                     \
    "{\"@context\":\"https://www.w3.org/2022/wot/td/v1.1\",\"id\":\"" THING "\",\"title\":\"x\","  \
    "\"securityDefinitions\":{\"nosec_sc\":{\"scheme\":\"nosec\"}},\"security\":\"nosec_sc\"}"

/* ---- an SSE client in its own thread --------------------------------------------------------- */

struct sse {
    const struct daemon *d;
    char path[512];
    char last_event_id[64];
    const char *token;
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *text; /* the body so far, NUL-terminated */
    size_t len;
    long status;
    char ctype[128];
    int done; /* the transfer is over */
    CURLcode rc;
    atomic_int stop;
};

struct event {
    char type[32];
    char data[20000];
    uint64_t id;
};

static size_t sse_body(char *p, size_t size, size_t n, void *cls)
{
    struct sse *s = cls;
    size_t add = size * n;
    pthread_mutex_lock(&s->lock);
    char *nt = realloc(s->text, s->len + add + 1);
    if (!nt) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    memcpy(nt + s->len, p, add);
    s->len += add;
    nt[s->len] = '\0';
    s->text = nt;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return add;
}

static size_t sse_header(char *p, size_t size, size_t n, void *cls)
{
    struct sse *s = cls;
    size_t len = size * n;
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        size_t i = 13, j = len;
        while (i < len && p[i] == ' ')
            i++;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n'))
            j--;
        pthread_mutex_lock(&s->lock);
        snprintf(s->ctype, sizeof(s->ctype), "%.*s", (int)(j - i), p + i);
        pthread_mutex_unlock(&s->lock);
    }
    return len;
}

static int sse_progress(void *cls, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct sse *s = cls;
    return atomic_load(&s->stop) ? 1 : 0;
}

static void *sse_run(void *arg)
{
    struct sse *s = arg;
    char url[1024], h[256];
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    if (!c)
        goto out;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", s->d->port, s->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sse_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sse_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
    if (s->token) {
        snprintf(h, sizeof(h), "Authorization: Bearer %s", s->token);
        hdrs = curl_slist_append(hdrs, h);
    }
    if (s->last_event_id[0]) {
        snprintf(h, sizeof(h), "Last-Event-ID: %s", s->last_event_id);
        hdrs = curl_slist_append(hdrs, h);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    pthread_mutex_lock(&s->lock);
    s->rc = rc;
    s->status = status;
    pthread_mutex_unlock(&s->lock);
out:
    pthread_mutex_lock(&s->lock);
    s->done = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Opens a stream (new); last_event_id and token may be NULL. */
static struct sse *sse_open(const struct daemon *d, const char *path, const char *last_event_id,
                            const char *token)
{
    struct sse *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    s->d = d;
    snprintf(s->path, sizeof(s->path), "%s", path);
    if (last_event_id)
        snprintf(s->last_event_id, sizeof(s->last_event_id), "%s", last_event_id);
    s->token = token;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    ck_assert_int_eq(pthread_create(&s->th, NULL, sse_run, s), 0);
    return s;
}

/* Waits until the body contains needle (or the transfer ends, or timeout_s pass); 1 if found. */
static int sse_wait_for(struct sse *s, const char *needle, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    int found = 0;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        found = s->text && strstr(s->text, needle) != NULL;
        if (found || s->done || now_s() > deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* Waits until the stream has started (its first comment arrived) and checks the response. */
static void sse_started(struct sse *s)
{
    ck_assert_msg(sse_wait_for(s, ":", 10), "no stream on %s (HTTP %ld): %s", s->path, s->status,
                  s->text ? s->text : "");
    pthread_mutex_lock(&s->lock);
    ck_assert_msg(strncmp(s->ctype, "text/event-stream", 17) == 0, "%s: Content-Type '%s'", s->path,
                  s->ctype);
    pthread_mutex_unlock(&s->lock);
}

/* Parses the events in the body so far (comments skipped) into ev[0..max); returns the count. */
static size_t sse_events(struct sse *s, struct event *ev, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    char *text = strdup(s->text ? s->text : "");
    pthread_mutex_unlock(&s->lock);
    ck_assert_ptr_nonnull(text);
    char *p = text;
    for (char *end; (end = strstr(p, "\n\n")); p = end + 2) {
        *end = '\0';
        struct event e;
        memset(&e, 0, sizeof(e));
        int any = 0;
        for (char *save = NULL, *line = strtok_r(p, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            if (strncmp(line, "event: ", 7) == 0) {
                snprintf(e.type, sizeof(e.type), "%s", line + 7);
                any = 1;
            } else if (strncmp(line, "data: ", 6) == 0) {
                size_t have = strlen(e.data);
                snprintf(e.data + have, sizeof(e.data) - have, "%s%s", have ? "\n" : "", line + 6);
                any = 1;
            } else if (strncmp(line, "id: ", 4) == 0) {
                e.id = strtoull(line + 4, NULL, 10);
                any = 1;
            } else {
                ck_assert_msg(line[0] == ':', "unexpected SSE line '%s'", line);
            }
        }
        if (any && n < max)
            ev[n++] = e;
    }
    free(text);
    return n;
}

/* Waits for at least want events; returns how many there are. */
static size_t sse_wait_events(struct sse *s, struct event *ev, size_t max, size_t want,
                              double timeout_s)
{
    double deadline = now_s() + timeout_s;
    for (;;) {
        size_t n = sse_events(s, ev, max);
        if (n >= want || now_s() > deadline)
            return n;
        pthread_mutex_lock(&s->lock);
        int done = s->done;
        pthread_mutex_unlock(&s->lock);
        if (done)
            return sse_events(s, ev, max);
        sleep_ms(20);
    }
}

/* Aborts the transfer (if still running), joins and frees. */
static void sse_close(struct sse *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->text);
    free(s);
}

/* 1 if the transfer ended within timeout_s. */
static int sse_wait_done(struct sse *s, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int done = s->done;
        pthread_mutex_unlock(&s->lock);
        if (done)
            return 1;
        if (now_s() > deadline)
            return 0;
        sleep_ms(20);
    }
}

/* ---- the registry ---------------------------------------------------------------------------- */

static long put_td(const struct daemon *d, const char *path, const char *td)
{
    struct reply r;
    http(d, "PUT", path, WRITE_TOKEN, "application/td+json", NULL, td, strlen(td), &r);
    long st = r.status;
    if (st / 100 != 2)
        fprintf(stderr, "PUT %s -> %ld %s\n", path, st, r.body);
    reply_free(&r);
    return st;
}

static long patch_td(const struct daemon *d, const char *path, const char *patch)
{
    struct reply r;
    http(d, "PATCH", path, WRITE_TOKEN, "application/merge-patch+json", NULL, patch, strlen(patch),
         &r);
    long st = r.status;
    if (st / 100 != 2)
        fprintf(stderr, "PATCH %s -> %ld %s\n", path, st, r.body);
    reply_free(&r);
    return st;
}

static long delete_td(const struct daemon *d, const char *path)
{
    struct reply r;
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    long st = r.status;
    if (st / 100 != 2)
        fprintf(stderr, "DELETE %s -> %ld %s\n", path, st, r.body);
    reply_free(&r);
    return st;
}

/* PUT (create), PATCH (title "y"), DELETE of THING, each answered 2xx. */
static void crud(const struct daemon *d)
{
    ck_assert_int_eq(put_td(d, THING_PATH, TD_EV1), 201);
    ck_assert_int_eq(patch_td(d, THING_PATH, "{\"title\":\"y\"}"), 204);
    ck_assert_int_eq(delete_td(d, THING_PATH), 204);
}

/* The event's data as a JSON object (new). */
static json_t *event_json(const struct event *e)
{
    json_error_t jerr;
    json_t *j = json_loads(e->data, 0, &jerr);
    ck_assert_msg(j && json_is_object(j), "%s data is not a JSON object (%s): %s", e->type,
                  jerr.text, e->data);
    return j;
}

/* Asserts that the data is exactly {"id": THING}. */
static void assert_id_only(const struct event *e)
{
    json_t *j = event_json(e);
    ck_assert_msg(json_object_size(j) == 1, "%s data has more than the id: %s", e->type, e->data);
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), THING);
    json_decref(j);
}

static const char *id_text(uint64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu64, id);
    return buf;
}

/* ---- the tests ------------------------------------------------------------------------------- */

START_TEST(test_events_crud_and_replay)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct sse *s = sse_open(d, "/api/v1/events", NULL, NULL);
    sse_started(s);
    pthread_mutex_lock(&s->lock);
    ck_assert_int_eq(s->done, 0);
    pthread_mutex_unlock(&s->lock);
    crud(d);

    static struct event ev[8];
    size_t n = sse_wait_events(s, ev, 8, 3, 10);
    ck_assert_msg(n == 3, "%zu events, expected 3: %s", n, s->text);
    ck_assert_str_eq(ev[0].type, "thing_created");
    ck_assert_str_eq(ev[1].type, "thing_updated");
    ck_assert_str_eq(ev[2].type, "thing_deleted");
    ck_assert_uint_gt(ev[0].id, 0);
    ck_assert_uint_gt(ev[1].id, ev[0].id);
    ck_assert_uint_gt(ev[2].id, ev[1].id);
    for (int i = 0; i < 3; i++)
        assert_id_only(&ev[i]);
    sse_close(s);

    /* A client that saw the first event reconnects: it gets the other two, same ids. */
    char last[32];
    static struct event re[8];
    s = sse_open(d, "/api/v1/events", id_text(ev[0].id, last, sizeof(last)), NULL);
    sse_started(s);
    n = sse_wait_events(s, re, 8, 2, 10);
    ck_assert_msg(n == 2, "replay after %s: %zu events: %s", last, n, s->text);
    ck_assert_str_eq(re[0].type, "thing_updated");
    ck_assert_uint_eq(re[0].id, ev[1].id);
    ck_assert_str_eq(re[1].type, "thing_deleted");
    ck_assert_uint_eq(re[1].id, ev[2].id);
    ck_assert_msg(strstr(s->text, ":gap") == NULL, "a gap where there is none: %s", s->text);
    sse_close(s);

    /* Up to date: nothing replayed; the next write arrives. */
    s = sse_open(d, "/api/v1/events", id_text(ev[2].id, last, sizeof(last)), NULL);
    sse_started(s);
    sleep_ms(300);
    ck_assert_uint_eq(sse_events(s, re, 8), 0);
    ck_assert_int_eq(put_td(d, THING_PATH, TD_EV1), 201);
    n = sse_wait_events(s, re, 8, 1, 10);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(re[0].type, "thing_created");
    ck_assert_uint_gt(re[0].id, ev[2].id);
    sse_close(s);

    /* An id this server never sent: the whole log, after a comment saying so. */
    s = sse_open(d, "/api/v1/events", "not-an-id", NULL);
    sse_started(s);
    n = sse_wait_events(s, re, 8, 4, 10);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(re[0].id, ev[0].id);
    ck_assert_msg(strncmp(s->text, ":gap", 4) == 0, "no gap comment: %s", s->text);
    sse_close(s);
    daemon_free(d);
}
END_TEST

START_TEST(test_events_log_bounded)
{
    /* A log of 2 events: a client that missed more is told about the gap and gets the two. */
    struct daemon *d = daemon_new("event_log_size 2\n");
    daemon_start(d);
    struct sse *s = sse_open(d, "/api/v1/events", NULL, NULL);
    sse_started(s);
    crud(d);
    static struct event ev[8], re[8];
    ck_assert_uint_eq(sse_wait_events(s, ev, 8, 3, 10), 3);
    sse_close(s);
    char last[32];
    s = sse_open(d, "/api/v1/events", id_text(ev[0].id - 1, last, sizeof(last)), NULL);
    sse_started(s);
    size_t n = sse_wait_events(s, re, 8, 2, 10);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(re[0].id, ev[1].id);
    ck_assert_uint_eq(re[1].id, ev[2].id);
    ck_assert_msg(strncmp(s->text, ":gap", 4) == 0, "no gap comment: %s", s->text);
    sse_close(s);
    daemon_free(d);
}
END_TEST

START_TEST(test_events_diff)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct sse *s = sse_open(d, "/api/v1/events?diff=true", NULL, NULL);
    struct sse *del = sse_open(d, "/api/v1/events/thing_deleted?diff=true", NULL, NULL);
    struct sse *off = sse_open(d, "/api/v1/events?diff=false", NULL, NULL);
    sse_started(s);
    sse_started(del);
    sse_started(off);
    crud(d);
    static struct event ev[8];
    ck_assert_uint_eq(sse_wait_events(s, ev, 8, 3, 10), 3);

    /* thing_created: the whole TD (the directory may enrich it: "registration", the discovery
     * context added to "@context"). */
    json_t *td = json_loads(TD_EV1, 0, NULL);
    json_t *got = event_json(&ev[0]);
    const char *key;
    json_t *value;
    json_object_foreach(td, key, value)
    {
        json_t *v = json_object_get(got, key);
        int same = json_equal(value, v);
        for (size_t i = 0; !same && strcmp(key, "@context") == 0 && i < json_array_size(v); i++)
            same = json_equal(value, json_array_get(v, i));
        ck_assert_msg(same, "the created event's TD differs at \"%s\": %s", key, ev[0].data);
    }
    json_decref(got);
    json_decref(td);

    /* thing_updated: the merge patch, with the id. */
    got = event_json(&ev[1]);
    ck_assert_str_eq(json_string_value(json_object_get(got, "id")), THING);
    ck_assert_str_eq(json_string_value(json_object_get(got, "title")), "y");
    ck_assert_ptr_null(json_object_get(got, "securityDefinitions"));
    json_decref(got);

    /* thing_deleted: diff is ignored. */
    assert_id_only(&ev[2]);
    ck_assert_uint_eq(sse_wait_events(del, ev, 8, 1, 10), 1);
    ck_assert_str_eq(ev[0].type, "thing_deleted");
    assert_id_only(&ev[0]);
    ck_assert_uint_eq(sse_wait_events(off, ev, 8, 3, 10), 3);
    for (int i = 0; i < 3; i++)
        assert_id_only(&ev[i]);
    sse_close(s);
    sse_close(del);
    sse_close(off);
    daemon_free(d);
}
END_TEST

START_TEST(test_events_per_type)
{
    static const char *const types[] = {"thing_created", "thing_updated", "thing_deleted"};
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct sse *s[3];
    char path[128];
    for (int t = 0; t < 3; t++) {
        snprintf(path, sizeof(path), "/api/v1/events/%s", types[t]);
        s[t] = sse_open(d, path, NULL, NULL);
        sse_started(s[t]);
    }
    crud(d);
    crud(d);
    static struct event ev[8];
    for (int t = 0; t < 3; t++) {
        size_t n = sse_wait_events(s[t], ev, 8, 2, 10);
        sleep_ms(200); /* anything else would have arrived by now */
        n = sse_events(s[t], ev, 8);
        ck_assert_msg(n == 2, "%s: %zu events: %s", types[t], n, s[t]->text);
        ck_assert_str_eq(ev[0].type, types[t]);
        ck_assert_str_eq(ev[1].type, types[t]);
        ck_assert_uint_gt(ev[1].id, ev[0].id);
        sse_close(s[t]);
    }
    daemon_free(d);
}
END_TEST

START_TEST(test_events_errors)
{
    struct daemon *d = daemon_new("require_read_token yes\n");
    daemon_start(d);
    struct reply r;
    static const char *const missing[] = {"/api/v1/events/thing_exploded", "/api/v1/events/",
                                          "/api/v1/events/thing_created/x", "/api/v1/eventsx"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        http(d, "GET", missing[i], READ_TOKEN, NULL, NULL, NULL, 0, &r);
        assert_problem(&r, 404);
        reply_free(&r);
    }
    http(d, "GET", "/api/v1/events?diff=yes", READ_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 400);
    ck_assert_msg(strstr(r.body, "diff") != NULL, "the problem does not name diff: %s", r.body);
    reply_free(&r);
    http(d, "POST", "/api/v1/events", WRITE_TOKEN, "application/json", NULL, "{}", 2, &r);
    assert_problem(&r, 405);
    reply_free(&r);
    /* Reads need a token here. */
    http(d, "GET", "/api/v1/events", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 401);
    reply_free(&r);
    http(d, "HEAD", "/api/v1/events", READ_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(media_is(&r, "text/event-stream"));
    reply_free(&r);
    struct sse *s = sse_open(d, "/api/v1/events/thing_updated", NULL, READ_TOKEN);
    sse_started(s);
    sse_close(s);
    daemon_free(d);
}
END_TEST

START_TEST(test_events_stream_cap)
{
    struct daemon *d = daemon_new("max_event_streams 2\n");
    daemon_start(d);
    struct sse *a = sse_open(d, "/api/v1/events", NULL, NULL);
    struct sse *b = sse_open(d, "/api/v1/events", NULL, NULL);
    sse_started(a);
    sse_started(b);
    struct reply r;
    http(d, "GET", "/api/v1/events", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 503);
    reply_free(&r);

    /* One client goes away. The daemon notices when it next writes to it, and the slot frees. */
    sse_close(a);
    double deadline = now_s() + 15;
    long st = 0;
    while (now_s() < deadline) {
        ck_assert_int_eq(put_td(d, THING_PATH, TD_EV1), 201);
        ck_assert_int_eq(delete_td(d, THING_PATH), 204);
        struct sse *c = sse_open(d, "/api/v1/events", NULL, NULL);
        sse_wait_for(c, ":", 10);
        pthread_mutex_lock(&c->lock);
        int started = c->text && c->text[0] == ':';
        pthread_mutex_unlock(&c->lock);
        sse_wait_done(c, 0);
        st = started ? 200 : 503;
        sse_close(c);
        if (started)
            break;
        sleep_ms(100);
    }
    ck_assert_msg(st == 200, "the vanished client's stream slot was not released");
    sse_close(b);
    daemon_free(d);
}
END_TEST

/* A client that sends its request and never reads a byte (rcvbuf as small as the kernel allows). */
static int stalled_client(const struct daemon *d, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    int small = 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)d->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    ck_assert_int_eq(send(fd, req, (size_t)n, 0), n);
    return fd;
}

START_TEST(test_events_stalled_client)
{
    enum { WRITES = 400, BIG = 16384 };
    struct daemon *d = daemon_new("event_log_size 50\n");
    daemon_start(d);
    int stalled[2] = {stalled_client(d, "/api/v1/events?diff=true"),
                      stalled_client(d, "/api/v1/events/thing_updated?diff=true")};
    struct sse *s = sse_open(d, "/api/v1/events", NULL, NULL);
    sse_started(s);
    ck_assert_int_eq(put_td(d, THING_PATH, TD_EV1), 201);

    /* Merge patches of 16 KiB each: megabytes for the stalled clients, which never read. */
    char *patch = malloc(BIG + 64);
    ck_assert_ptr_nonnull(patch);
    double worst = 0, t0 = now_s();
    for (int i = 0; i < WRITES; i++) {
        int k = snprintf(patch, BIG + 64, "{\"description\":\"%d ", i);
        memset(patch + k, 'a' + i % 26, BIG);
        strcpy(patch + k + BIG, "\"}");
        double t = now_s();
        ck_assert_int_eq(patch_td(d, THING_PATH, patch), 204);
        if (now_s() - t > worst)
            worst = now_s() - t;
    }
    double total = now_s() - t0;
    free(patch);
    fprintf(stderr, "test_events_stalled_client: %d writes in %.2f s, slowest %.3f s\n", WRITES,
            total, worst);
    ck_assert_msg(worst < 5.0, "a write took %.2f s with stalled clients open", worst);

    /* The reading client got every event, in order. */
    static struct event ev[WRITES + 8];
    size_t n = sse_wait_events(s, ev, WRITES + 8, WRITES + 1, 20);
    ck_assert_msg(n == WRITES + 1, "%zu of %d events", n, WRITES + 1);
    for (size_t i = 1; i < n; i++)
        ck_assert_uint_gt(ev[i].id, ev[i - 1].id);

    /* New streams still open and see new events. */
    struct sse *s2 = sse_open(d, "/api/v1/events", NULL, NULL);
    sse_started(s2);
    ck_assert_int_eq(delete_td(d, THING_PATH), 204);
    ck_assert_uint_eq(sse_wait_events(s2, ev, 8, 1, 10), 1);
    ck_assert_str_eq(ev[0].type, "thing_deleted");

    /* SIGTERM with the stalled clients still connected: out within shutdown_timeout (5 s). */
    double t = now_s();
    int status = daemon_signal_wait(d, SIGTERM, 5.0 + 3.0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
    fprintf(stderr, "test_events_stalled_client: exited %.2f s after SIGTERM\n", now_s() - t);
    sse_close(s);
    sse_close(s2);
    close(stalled[0]);
    close(stalled[1]);
    daemon_free(d);
}
END_TEST

START_TEST(test_events_sigterm)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct sse *s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = sse_open(d, i % 2 ? "/api/v1/events/thing_created" : "/api/v1/events", NULL, NULL);
        sse_started(s[i]);
    }
    /* The streams end at once and cleanly (not cut at shutdown_timeout, 5 s here). */
    double t = now_s();
    int status = daemon_signal_wait(d, SIGTERM, 5.0);
    double took = now_s() - t;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
    ck_assert_msg(took < 3.0, "SIGTERM took %.2f s with streams open", took);
    for (int i = 0; i < 4; i++) {
        ck_assert(sse_wait_done(s[i], 5));
        ck_assert_msg(s[i]->rc == CURLE_OK, "stream %d ended with %s", i,
                      curl_easy_strerror(s[i]->rc));
        ck_assert_int_eq(s[i]->status, 200);
        sse_close(s[i]);
    }
    daemon_free(d);
}
END_TEST

/* ---- runner ---------------------------------------------------------------------------------- */

static Suite *events_suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc;
#define ADD(name)                                                                                  \
    tc = tcase_create(#name);                                                                      \
    tcase_add_checked_fixture(tc, NULL, reap_all);                                                 \
    tcase_set_timeout(tc, 120);                                                                    \
    tcase_add_test(tc, name);                                                                      \
    suite_add_tcase(s, tc)
    ADD(test_events_errors);
    ADD(test_events_sigterm);
    ADD(test_events_crud_and_replay);
    ADD(test_events_log_bounded);
    ADD(test_events_diff);
    ADD(test_events_per_type);
    ADD(test_events_stream_cap);
    ADD(test_events_stalled_client);
#undef ADD
    return s;
}

int main(void)
{
    return harness_main("test_events", events_suite());
}
