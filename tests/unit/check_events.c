/* SPDX-License-Identifier: MIT */
/* Tests for daemon/events.c, the notification log behind /api/v1/events: the SSE frames (event,
 * data, id lines; JSON escaping; multi-line data), ?diff payloads (the TD, the merge patch with
 * the id added, nothing extra for deletes), type filters, Last-Event-ID replay and gaps, the ring
 * wrapping, a slow stream being ended, frames longer than the reader's buffer, the stream cap,
 * keepalive comments, close and free with streams waiting in other threads, and several
 * publisher and subscriber threads at once. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a small SSE reader ---------------------------------------------------------------------- */

struct frame {
    char event[32];
    char data[16384]; /* data lines joined with '\n' */
    uint64_t id;
    int has_id;
};

struct reader {
    struct fleet_event_stream *s;
    char *text; /* everything read, NUL-terminated */
    size_t len, cap;
    size_t parsed; /* offset of the first byte not yet parsed into frames */
    int ended;
};

/* One read of at most max bytes; appends. Returns what the stream returned. */
static ssize_t pull(struct reader *r, size_t max, long wait_ms)
{
    char *buf = malloc(max);
    ck_assert_ptr_nonnull(buf);
    ssize_t n = fleet_event_stream_read(r->s, buf, max, wait_ms);
    if (n > 0) {
        ck_assert_uint_le((size_t)n, max);
        if (r->len + (size_t)n + 1 > r->cap) {
            r->cap = (r->len + (size_t)n + 1) * 2;
            r->text = realloc(r->text, r->cap);
            ck_assert_ptr_nonnull(r->text);
        }
        memcpy(r->text + r->len, buf, (size_t)n);
        r->len += (size_t)n;
        r->text[r->len] = '\0';
    } else {
        ck_assert_int_eq(n, -1);
        r->ended = 1;
    }
    free(buf);
    return n;
}

/* Parses the next complete block (up to a blank line) into f. Comment-only blocks are skipped
 * and, when comment is not NULL, the last one is copied there. Returns 0 if no complete event. */
static int next_frame(struct reader *r, struct frame *f, char *comment, size_t clen)
{
    for (;;) {
        char *start = r->text ? r->text + r->parsed : NULL;
        char *end = start ? strstr(start, "\n\n") : NULL;
        if (!end)
            return 0;
        memset(f, 0, sizeof(*f));
        int any = 0;
        for (char *line = start; line < end + 1;) {
            char *nl = strchr(line, '\n');
            size_t n = (size_t)(nl - line);
            if (n >= 7 && strncmp(line, "event: ", 7) == 0) {
                ck_assert_uint_lt(n - 7, sizeof(f->event));
                memcpy(f->event, line + 7, n - 7);
                any = 1;
            } else if (n >= 6 && strncmp(line, "data: ", 6) == 0) {
                size_t have = strlen(f->data);
                ck_assert_uint_lt(have + n, sizeof(f->data));
                if (have)
                    f->data[have++] = '\n';
                memcpy(f->data + have, line + 6, n - 6);
                any = 1;
            } else if (n >= 4 && strncmp(line, "id: ", 4) == 0) {
                f->id = strtoull(line + 4, NULL, 10);
                f->has_id = 1;
                any = 1;
            } else if (n >= 1 && line[0] == ':') {
                if (comment) {
                    size_t k = n < clen - 1 ? n : clen - 1;
                    memcpy(comment, line, k);
                    comment[k] = '\0';
                }
            } else {
                ck_abort_msg("unexpected SSE line '%.*s'", (int)n, line);
            }
            line = nl + 1;
        }
        r->parsed = (size_t)(end + 2 - r->text);
        if (any)
            return 1;
    }
}

/* Reads until an event frame is complete (or the stream ends / nothing comes); 1 if f is set. */
static int read_frame(struct reader *r, struct frame *f, long wait_ms)
{
    for (int i = 0; i < 10000; i++) {
        if (next_frame(r, f, NULL, 0))
            return 1;
        if (r->ended)
            return 0;
        ssize_t n = pull(r, 4096, wait_ms);
        if (n > 0 && strcmp(r->text + r->len - (size_t)n, ":keepalive\n\n") == 0) {
            next_frame(r, f, NULL, 0); /* consume it */
            return 0;
        }
    }
    ck_abort_msg("no frame after 10000 reads");
    return 0;
}

static struct reader *open_reader(struct fleet_events *ev, int type, int diff, const char *last)
{
    enum fleet_err err = FLEET_OK;
    struct reader *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r->s = fleet_event_stream_open(ev, type, diff, last, 1000, &err);
    ck_assert_msg(r->s != NULL, "stream_open failed: %d", (int)err);
    return r;
}

static void close_reader(struct reader *r)
{
    fleet_event_stream_free(r->s);
    free(r->text);
    free(r);
}

/* The first comment of the stream (":ok" or a ":gap: ..."). */
static void first_comment(struct reader *r, char *out, size_t outlen)
{
    ck_assert_int_gt(pull(r, 4096, 0), 0);
    ck_assert_msg(r->text[0] == ':', "the stream does not start with a comment: %s", r->text);
    char *nl = strchr(r->text, '\n');
    size_t n = (size_t)(nl - r->text);
    ck_assert_uint_lt(n, outlen);
    memcpy(out, r->text, n);
    out[n] = '\0';
}

static char idbuf[64];
static const char *idstr(uint64_t id)
{
    snprintf(idbuf, sizeof(idbuf), "%" PRIu64, id);
    return idbuf;
}

/* ---- the tests ------------------------------------------------------------------------------- */

START_TEST(test_names)
{
    ck_assert_str_eq(fleet_event_type_name(FLEET_EVENT_THING_CREATED), "thing_created");
    ck_assert_str_eq(fleet_event_type_name(FLEET_EVENT_THING_UPDATED), "thing_updated");
    ck_assert_str_eq(fleet_event_type_name(FLEET_EVENT_THING_DELETED), "thing_deleted");
    ck_assert_int_eq(fleet_event_type_parse("thing_created"), FLEET_EVENT_THING_CREATED);
    ck_assert_int_eq(fleet_event_type_parse("thing_updated"), FLEET_EVENT_THING_UPDATED);
    ck_assert_int_eq(fleet_event_type_parse("thing_deleted"), FLEET_EVENT_THING_DELETED);
    ck_assert_int_eq(fleet_event_type_parse("created_td"), -1);
    ck_assert_int_eq(fleet_event_type_parse(""), -1);
    ck_assert_ptr_null(fleet_events_new(0));
    fleet_events_free(NULL);
    fleet_events_close(NULL);
    fleet_event_stream_free(NULL);
}
END_TEST

START_TEST(test_frames_and_ids)
{
    struct fleet_events *ev = fleet_events_new(10);
    ck_assert_ptr_nonnull(ev);
    struct reader *r = open_reader(ev, FLEET_EVENT_ALL, 0, NULL);
    char c[256];
    first_comment(r, c, sizeof(c));
    ck_assert_str_eq(c, ":ok");

    uint64_t a = fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, "urn:ex:a", NULL);
    uint64_t b = fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:\"b\"\\\n", NULL);
    uint64_t d = fleet_events_publish(ev, FLEET_EVENT_THING_DELETED, "urn:ex:a", NULL);
    ck_assert_uint_gt(a, 0);
    ck_assert_uint_eq(b, a + 1);
    ck_assert_uint_eq(d, a + 2);
    ck_assert_uint_eq(fleet_events_publish(NULL, FLEET_EVENT_THING_CREATED, "x", NULL), 0);
    ck_assert_uint_eq(fleet_events_publish(ev, (enum fleet_event_type)7, "x", NULL), 0);
    ck_assert_uint_eq(fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, NULL, NULL), 0);

    /* The exact bytes of the first frame. */
    ck_assert_int_gt(pull(r, 4096, 1000), 0);
    char want[256];
    snprintf(want, sizeof(want),
             ":ok\n\nevent: thing_created\ndata: {\"id\":\"urn:ex:a\"}\nid: %s\n\n", idstr(a));
    ck_assert_msg(strncmp(r->text, want, strlen(want)) == 0, "got '%s'", r->text);

    struct frame f;
    ck_assert(read_frame(r, &f, 1000));
    ck_assert_str_eq(f.event, "thing_created");
    ck_assert_uint_eq(f.id, a);
    ck_assert(read_frame(r, &f, 1000));
    ck_assert_str_eq(f.event, "thing_updated");
    ck_assert_str_eq(f.data, "{\"id\":\"urn:ex:\\\"b\\\"\\\\\\u000a\"}");
    ck_assert_uint_eq(f.id, b);
    ck_assert(read_frame(r, &f, 1000));
    ck_assert_str_eq(f.event, "thing_deleted");
    ck_assert_str_eq(f.data, "{\"id\":\"urn:ex:a\"}");
    ck_assert_uint_eq(f.id, d);

    /* Nothing more: a keepalive comment after the wait. */
    double t0 = now_s();
    ck_assert(!read_frame(r, &f, 200));
    double waited = now_s() - t0;
    ck_assert_msg(waited >= 0.15 && waited < 5, "keepalive after %.3f s", waited);
    ck_assert_str_eq(r->text + r->len - 12, ":keepalive\n\n");
    close_reader(r);
    fleet_events_free(ev);
}
END_TEST

START_TEST(test_diff)
{
    static const char td[] =
        "{\"@context\":\"https://www.w3.org/2022/wot/td/v1.1\",\"id\":\"urn:ex:t\","
        "\"title\":\"x\"}";
    static const char pretty[] = "{\n  \"title\": \"y\",\r\n  \"description\": null\r}";
    struct fleet_events *ev = fleet_events_new(16);
    ck_assert_ptr_nonnull(ev);
    struct reader *plain = open_reader(ev, FLEET_EVENT_ALL, 0, NULL);
    struct reader *diff = open_reader(ev, FLEET_EVENT_ALL, 1, NULL);

    fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, "urn:ex:t", td);
    fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:t", "{\"title\":\"y\"}");
    fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:t",
                         "  {\"id\":\"urn:ex:t\",\"a\":1}");
    fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:t", "{ }");
    fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:t", pretty);
    fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:t", "[1,2]");   /* not an object */
    fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:t", "{broken"); /* not JSON */
    fleet_events_publish(ev, FLEET_EVENT_THING_DELETED, "urn:ex:t", td);        /* diff ignored */

    static const char *const want[] = {
        td,
        "{\"id\":\"urn:ex:t\",\"title\":\"y\"}",
        "  {\"id\":\"urn:ex:t\",\"a\":1}",
        "{\"id\":\"urn:ex:t\" }",
        "{\"id\":\"urn:ex:t\",\n  \"title\": \"y\",\n  \"description\": null\n}",
        "{\"id\":\"urn:ex:t\"}",
        "{\"id\":\"urn:ex:t\"}",
        "{\"id\":\"urn:ex:t\"}",
    };
    struct frame f;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert(read_frame(diff, &f, 1000));
        ck_assert_msg(strcmp(f.data, want[i]) == 0, "diff event %zu: got '%s'", i, f.data);
        ck_assert(read_frame(plain, &f, 1000));
        ck_assert_str_eq(f.data, "{\"id\":\"urn:ex:t\"}");
    }
    ck_assert(!read_frame(diff, &f, 0));
    close_reader(plain);
    close_reader(diff);
    fleet_events_free(ev);
}
END_TEST

START_TEST(test_filter)
{
    struct fleet_events *ev = fleet_events_new(64);
    ck_assert_ptr_nonnull(ev);
    struct reader *r[3];
    for (int t = 0; t < 3; t++)
        r[t] = open_reader(ev, t, 0, NULL);
    uint64_t ids[30];
    for (int i = 0; i < 30; i++) {
        char thing[32];
        snprintf(thing, sizeof(thing), "urn:ex:%d", i);
        ids[i] = fleet_events_publish(ev, (enum fleet_event_type)(i % 3), thing, NULL);
    }
    for (int t = 0; t < 3; t++) {
        struct frame f;
        for (int i = t; i < 30; i += 3) {
            ck_assert(read_frame(r[t], &f, 1000));
            ck_assert_str_eq(f.event, fleet_event_type_name((enum fleet_event_type)t));
            ck_assert_uint_eq(f.id, ids[i]);
        }
        ck_assert(!read_frame(r[t], &f, 0));
        close_reader(r[t]);
    }
    fleet_events_free(ev);
}
END_TEST

START_TEST(test_replay_and_gap)
{
    struct fleet_events *ev = fleet_events_new(4);
    ck_assert_ptr_nonnull(ev);
    uint64_t ids[10];
    for (int i = 0; i < 10; i++)
        ids[i] = fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:r", NULL);
    /* Kept: ids[6..9]. */
    struct frame f;
    char c[256];

    /* After ids[7]: ids[8], ids[9], no gap. */
    struct reader *r = open_reader(ev, FLEET_EVENT_ALL, 0, idstr(ids[7]));
    first_comment(r, c, sizeof(c));
    ck_assert_str_eq(c, ":ok");
    ck_assert(read_frame(r, &f, 1000));
    ck_assert_uint_eq(f.id, ids[8]);
    ck_assert(read_frame(r, &f, 1000));
    ck_assert_uint_eq(f.id, ids[9]);
    ck_assert(!read_frame(r, &f, 0));
    close_reader(r);

    /* After ids[5], the oldest kept minus one: everything kept, no gap. */
    r = open_reader(ev, FLEET_EVENT_ALL, 0, idstr(ids[5]));
    first_comment(r, c, sizeof(c));
    ck_assert_str_eq(c, ":ok");
    ck_assert(read_frame(r, &f, 1000));
    ck_assert_uint_eq(f.id, ids[6]);
    close_reader(r);

    /* After the newest: nothing until the next publish. */
    r = open_reader(ev, FLEET_EVENT_ALL, 0, idstr(ids[9]));
    ck_assert(!read_frame(r, &f, 0));
    close_reader(r);

    /* After ids[1]: ids[2..5] were dropped; a gap comment, then ids[6..9]. */
    const char *const lost[] = {"first", "garbage", "future", "empty"};
    for (size_t k = 0; k < 4; k++) {
        char last[64];
        if (k == 0)
            snprintf(last, sizeof(last), "%s", idstr(ids[1]));
        else if (k == 1)
            snprintf(last, sizeof(last), "event_7");
        else if (k == 2)
            snprintf(last, sizeof(last), "%s", idstr(ids[9] + 1));
        else
            snprintf(last, sizeof(last), "99999999999999999999999"); /* overflows */
        r = open_reader(ev, FLEET_EVENT_ALL, 0, last);
        first_comment(r, c, sizeof(c));
        ck_assert_msg(strncmp(c, ":gap:", 5) == 0, "%s: no gap comment but '%s'", lost[k], c);
        if (k == 0) {
            char want[200];
            snprintf(want, sizeof(want),
                     ":gap: events after %" PRIu64 " up to %" PRIu64
                     " are no longer in the log; replaying from %" PRIu64,
                     ids[1], ids[5], ids[6]);
            ck_assert_str_eq(c, want);
        }
        for (int i = 6; i < 10; i++) {
            ck_assert(read_frame(r, &f, 1000));
            ck_assert_uint_eq(f.id, ids[i]);
        }
        ck_assert(!read_frame(r, &f, 0));
        close_reader(r);
    }
    /* An empty header is no header. */
    r = open_reader(ev, FLEET_EVENT_ALL, 0, "");
    ck_assert(!read_frame(r, &f, 0));
    close_reader(r);
    fleet_events_free(ev);
}
END_TEST

START_TEST(test_ring_wrap_many_times)
{
    struct fleet_events *ev = fleet_events_new(3);
    ck_assert_ptr_nonnull(ev);
    struct reader *r = open_reader(ev, FLEET_EVENT_ALL, 1, NULL);
    struct frame f;
    for (int i = 0; i < 1000; i++) {
        char thing[32], patch[64];
        snprintf(thing, sizeof(thing), "urn:ex:%d", i);
        snprintf(patch, sizeof(patch), "{\"n\":%d}", i);
        uint64_t id = fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, thing, patch);
        ck_assert(read_frame(r, &f, 1000));
        ck_assert_uint_eq(f.id, id);
        char want[128];
        snprintf(want, sizeof(want), "{\"id\":\"urn:ex:%d\",\"n\":%d}", i, i);
        ck_assert_str_eq(f.data, want);
    }
    close_reader(r);
    fleet_events_free(ev);
}
END_TEST

START_TEST(test_byte_bound)
{
    /* Room for 100 events by count, but only about 1000 bytes: big diffs push old events out
     * early, the newest is kept even when it alone is larger, and replay says so. */
    struct fleet_events *ev = fleet_events_new(100);
    ck_assert_ptr_nonnull(ev);
    fleet_events_set_max_bytes(ev, 1000);
    char patch[400];
    snprintf(patch, sizeof(patch), "{\"description\":\"%0300d\"}", 0);
    uint64_t ids[10];
    for (int i = 0; i < 10; i++)
        ids[i] = fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:b", patch);
    struct frame f;
    char c[256];
    struct reader *r = open_reader(ev, FLEET_EVENT_ALL, 1, idstr(ids[0]));
    first_comment(r, c, sizeof(c));
    ck_assert_msg(strncmp(c, ":gap:", 5) == 0, "no gap: %s", c);
    int kept = 0;
    uint64_t first = 0;
    while (read_frame(r, &f, 0)) {
        if (!kept)
            first = f.id;
        kept++;
        ck_assert_ptr_nonnull(strstr(f.data, "description"));
    }
    ck_assert_msg(kept >= 1 && kept <= 3, "%d events of ~370 bytes kept in 1000", kept);
    ck_assert_uint_eq(first, ids[10 - kept]);
    close_reader(r);

    char *big = malloc(5000);
    ck_assert_ptr_nonnull(big);
    snprintf(big, 5000, "{\"description\":\"%04000d\"}", 0);
    uint64_t id = fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, "urn:ex:big", big);
    free(big);
    r = open_reader(ev, FLEET_EVENT_ALL, 1, idstr(ids[9]));
    ck_assert(read_frame(r, &f, 0));
    ck_assert_uint_eq(f.id, id);
    ck_assert_uint_gt(strlen(f.data), 4000);
    ck_assert(!read_frame(r, &f, 0));
    close_reader(r);
    fleet_events_free(ev);
}
END_TEST

START_TEST(test_slow_stream_ends)
{
    struct fleet_events *ev = fleet_events_new(4);
    ck_assert_ptr_nonnull(ev);
    struct reader *slow = open_reader(ev, FLEET_EVENT_ALL, 0, NULL);
    struct reader *fine = open_reader(ev, FLEET_EVENT_ALL, 0, NULL);
    struct frame f;
    uint64_t first = fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, "urn:ex:s", NULL);
    ck_assert(read_frame(slow, &f, 1000)); /* the slow one read one event, then stopped */
    ck_assert_uint_eq(f.id, first);
    ck_assert(read_frame(fine, &f, 1000));
    for (int i = 0; i < 5; i++) {
        fleet_events_publish(ev, FLEET_EVENT_THING_UPDATED, "urn:ex:s", NULL);
        ck_assert(read_frame(fine, &f, 1000));
    }
    /* 6 events, 4 kept: the slow one's next event (first + 1) is gone. It ends, without
     * skipping silently; the one that kept up goes on. */
    ck_assert(!read_frame(slow, &f, 1000));
    ck_assert(slow->ended);
    ck_assert_int_eq(fleet_event_stream_read(slow->s, (char[64]){0}, 64, 0), -1);
    uint64_t last = fleet_events_publish(ev, FLEET_EVENT_THING_DELETED, "urn:ex:s", NULL);
    ck_assert(read_frame(fine, &f, 1000));
    ck_assert_uint_eq(f.id, last);
    close_reader(slow);
    close_reader(fine);
    fleet_events_free(ev);
}
END_TEST

START_TEST(test_long_frame_small_buffer)
{
    struct fleet_events *ev = fleet_events_new(4);
    ck_assert_ptr_nonnull(ev);
    size_t n = 10000;
    char *td = malloc(n + 64);
    ck_assert_ptr_nonnull(td);
    int k = snprintf(td, n + 64, "{\"id\":\"urn:ex:big\",\"description\":\"");
    memset(td + k, 'x', n);
    strcpy(td + k + n, "\"}");
    struct reader *r = open_reader(ev, FLEET_EVENT_THING_CREATED, 1, NULL);
    uint64_t id = fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, "urn:ex:big", td);
    uint64_t id2 = fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, "urn:ex:small", NULL);
    /* 64-byte reads: the frame arrives in pieces, in order, and the next one after it. */
    int reads = 0;
    while (!strstr(r->text ? r->text : "", "urn:ex:small\"}\nid:") && reads < 1000) {
        ck_assert_int_gt(pull(r, 64, 1000), 0);
        reads++;
    }
    ck_assert_int_gt(reads, (int)(n / 64));
    struct frame f;
    ck_assert(next_frame(r, &f, NULL, 0));
    ck_assert_uint_eq(f.id, id);
    ck_assert_str_eq(f.data, td);
    ck_assert(read_frame(r, &f, 1000));
    ck_assert_uint_eq(f.id, id2);
    close_reader(r);
    free(td);
    fleet_events_free(ev);
}
END_TEST

START_TEST(test_stream_cap)
{
    struct fleet_events *ev = fleet_events_new(4);
    ck_assert_ptr_nonnull(ev);
    enum fleet_err err = FLEET_OK;
    struct fleet_event_stream *a = fleet_event_stream_open(ev, FLEET_EVENT_ALL, 0, NULL, 2, &err);
    struct fleet_event_stream *b = fleet_event_stream_open(ev, FLEET_EVENT_ALL, 0, NULL, 2, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(fleet_event_stream_open(ev, FLEET_EVENT_ALL, 0, NULL, 2, &err));
    ck_assert_int_eq(err, FLEET_ERR_TOOBIG);
    fleet_event_stream_free(a); /* a client went away: its slot is free again */
    a = fleet_event_stream_open(ev, FLEET_EVENT_ALL, 0, NULL, 2, &err);
    ck_assert_ptr_nonnull(a);
    fleet_event_stream_free(a);
    fleet_event_stream_free(b);
    fleet_events_free(ev);
}
END_TEST

START_TEST(test_close_drains_then_ends)
{
    struct fleet_events *ev = fleet_events_new(8);
    ck_assert_ptr_nonnull(ev);
    struct reader *r = open_reader(ev, FLEET_EVENT_ALL, 0, NULL);
    uint64_t a = fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, "urn:ex:c", NULL);
    uint64_t b = fleet_events_publish(ev, FLEET_EVENT_THING_DELETED, "urn:ex:c", NULL);
    fleet_events_close(ev);
    struct frame f;
    ck_assert(read_frame(r, &f, 5000));
    ck_assert_uint_eq(f.id, a);
    ck_assert(read_frame(r, &f, 5000));
    ck_assert_uint_eq(f.id, b);
    double t0 = now_s();
    ck_assert(!read_frame(r, &f, 5000));
    ck_assert(r->ended);
    ck_assert_msg(now_s() - t0 < 1.0, "a closed stream waited");
    enum fleet_err err = FLEET_OK;
    ck_assert_ptr_null(fleet_event_stream_open(ev, FLEET_EVENT_ALL, 0, NULL, 10, &err));
    ck_assert_int_eq(err, FLEET_ERR_FORBIDDEN);
    /* Publishing after close is harmless (a write finishing during shutdown). */
    ck_assert_uint_eq(fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, "urn:ex:d", NULL), b + 1);
    close_reader(r);
    fleet_events_free(ev);
}
END_TEST

/* ---- threads --------------------------------------------------------------------------------- */

struct waiter {
    struct fleet_event_stream *s;
    double ended_after; /* seconds from start to -1 */
    double t0;
    int events;
};

static void *wait_for_end(void *arg)
{
    struct waiter *w = arg;
    char buf[256];
    for (;;) {
        ssize_t n = fleet_event_stream_read(w->s, buf, sizeof(buf) - 1, 30000);
        if (n < 0)
            break;
        buf[n] = '\0';
        if (strstr(buf, "event: "))
            w->events++;
    }
    w->ended_after = now_s() - w->t0;
    /* The last stream to let go frees the log: this runs after fleet_events_free. */
    fleet_event_stream_free(w->s);
    return NULL;
}

START_TEST(test_free_with_waiters)
{
    enum { N = 8 };
    struct fleet_events *ev = fleet_events_new(16);
    ck_assert_ptr_nonnull(ev);
    struct waiter w[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        enum fleet_err err;
        memset(&w[i], 0, sizeof(w[i]));
        w[i].s = fleet_event_stream_open(ev, FLEET_EVENT_ALL, 0, NULL, N, &err);
        ck_assert_ptr_nonnull(w[i].s);
        w[i].t0 = now_s();
        ck_assert_int_eq(pthread_create(&th[i], NULL, wait_for_end, &w[i]), 0);
    }
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL); /* let them block in the wait */
    fleet_events_publish(ev, FLEET_EVENT_THING_CREATED, "urn:ex:w", NULL);
    nanosleep(&ts, NULL);
    fleet_events_free(ev); /* wakes every waiter; the log lives on until the last stream */
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_msg(w[i].ended_after < 5.0, "waiter %d ended after %.2f s", i, w[i].ended_after);
        ck_assert_int_eq(w[i].events, 1);
    }
}
END_TEST

enum { PUBLISHERS = 4, PER_PUBLISHER = 3000, SUBSCRIBERS = 4 };

struct sub {
    struct fleet_events *ev;
    struct fleet_event_stream *s;
    int type;
    int expect_all; /* the log is big enough: every event must arrive */
    long seen;
    int ended;
    int ok;
    char msg[256];
};

static void *publisher(void *arg)
{
    struct fleet_events *ev = ((void **)arg)[0];
    int k = (int)(intptr_t)((void **)arg)[1];
    for (int i = 0; i < PER_PUBLISHER; i++) {
        char thing[64], patch[64];
        snprintf(thing, sizeof(thing), "urn:ex:p%d:%d", k, i);
        snprintf(patch, sizeof(patch), "{\"seq\":%d}", i);
        if (fleet_events_publish(ev, (enum fleet_event_type)(i % 3), thing, patch) == 0)
            return (void *)1;
    }
    return NULL;
}

static void *subscriber(void *arg)
{
    struct sub *s = arg;
    struct reader r = {0};
    r.s = s->s;
    uint64_t last_id = 0;
    int last_seq[PUBLISHERS];
    long want =
        s->type == FLEET_EVENT_ALL ? PUBLISHERS * PER_PUBLISHER : PUBLISHERS * (PER_PUBLISHER / 3);
    /* A filtered stream sees every third event of a publisher, starting at seq == its type. */
    for (int i = 0; i < PUBLISHERS; i++)
        last_seq[i] = s->type == FLEET_EVENT_ALL ? -1 : s->type - 3;
    s->ok = 1;
    while (s->seen < want) {
        struct frame f;
        if (!read_frame(&r, &f, 5000)) {
            if (r.ended) {
                s->ended = 1;
                break;
            }
            snprintf(s->msg, sizeof(s->msg), "no event for 5 s after %ld", s->seen);
            s->ok = 0;
            break;
        }
        int p, seq;
        if (!f.has_id || f.id <= last_id ||
            sscanf(f.data, "{\"id\":\"urn:ex:p%d:%d\"", &p, &seq) != 2 || p < 0 ||
            p >= PUBLISHERS || seq <= last_seq[p] ||
            (s->type != FLEET_EVENT_ALL && strcmp(f.event, fleet_event_type_name(s->type)) != 0) ||
            (s->expect_all && seq != last_seq[p] + (s->type == FLEET_EVENT_ALL ? 1 : 3))) {
            snprintf(s->msg, sizeof(s->msg),
                     "bad event %s id %" PRIu64 " after %" PRIu64 ": %.100s", f.event, f.id,
                     last_id, f.data);
            s->ok = 0;
            break;
        }
        char member[32];
        snprintf(member, sizeof(member), ",\"seq\":%d}", seq);
        if ((strcmp(f.event, "thing_deleted") == 0) != (strstr(f.data, member) == NULL)) {
            snprintf(s->msg, sizeof(s->msg), "%s with the wrong diff: %.100s", f.event, f.data);
            s->ok = 0;
            break;
        }
        last_id = f.id;
        last_seq[p] = seq;
        s->seen++;
    }
    free(r.text);
    return NULL;
}

static void run_concurrent(size_t capacity, int expect_all)
{
    struct fleet_events *ev = fleet_events_new(capacity);
    ck_assert_ptr_nonnull(ev);
    struct sub subs[SUBSCRIBERS];
    pthread_t sth[SUBSCRIBERS], pth[PUBLISHERS];
    void *pargs[PUBLISHERS][2];
    for (int i = 0; i < SUBSCRIBERS; i++) {
        enum fleet_err err;
        memset(&subs[i], 0, sizeof(subs[i]));
        subs[i].ev = ev;
        subs[i].type = i < 2 ? FLEET_EVENT_ALL
                             : (i == 2 ? FLEET_EVENT_THING_CREATED : FLEET_EVENT_THING_DELETED);
        subs[i].expect_all = expect_all;
        subs[i].s = fleet_event_stream_open(ev, subs[i].type, 1, NULL, 100, &err);
        ck_assert_ptr_nonnull(subs[i].s);
        ck_assert_int_eq(pthread_create(&sth[i], NULL, subscriber, &subs[i]), 0);
    }
    double t0 = now_s();
    for (int i = 0; i < PUBLISHERS; i++) {
        pargs[i][0] = ev;
        pargs[i][1] = (void *)(intptr_t)i;
        ck_assert_int_eq(pthread_create(&pth[i], NULL, publisher, pargs[i]), 0);
    }
    for (int i = 0; i < PUBLISHERS; i++) {
        void *rv;
        ck_assert_int_eq(pthread_join(pth[i], &rv), 0);
        ck_assert_ptr_null(rv);
    }
    double publish_s = now_s() - t0;
    for (int i = 0; i < SUBSCRIBERS; i++) {
        ck_assert_int_eq(pthread_join(sth[i], NULL), 0);
        ck_assert_msg(subs[i].ok, "subscriber %d: %s", i, subs[i].msg);
        if (expect_all)
            ck_assert_msg(!subs[i].ended && subs[i].seen > 0, "subscriber %d ended", i);
        fleet_event_stream_free(subs[i].s);
    }
    fprintf(stderr, "capacity %zu: %d events published in %.3f s\n", capacity,
            PUBLISHERS * PER_PUBLISHER, publish_s);
    fleet_events_free(ev);
}

START_TEST(test_concurrent_big_log)
{
    /* The log holds everything: every subscriber sees every event of its type, ids increasing,
     * each publisher's events in order and none missing. */
    run_concurrent(PUBLISHERS * PER_PUBLISHER, 1);
}
END_TEST

START_TEST(test_concurrent_small_log)
{
    /* A log of 8: subscribers may fall behind and be ended, but what they see is never out of
     * order or duplicated, and publishers never wait for them. */
    run_concurrent(8, 0);
}
END_TEST

static Suite *events_suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("events");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_frames_and_ids);
    tcase_add_test(tc, test_diff);
    tcase_add_test(tc, test_filter);
    tcase_add_test(tc, test_replay_and_gap);
    tcase_add_test(tc, test_ring_wrap_many_times);
    tcase_add_test(tc, test_byte_bound);
    tcase_add_test(tc, test_slow_stream_ends);
    tcase_add_test(tc, test_long_frame_small_buffer);
    tcase_add_test(tc, test_stream_cap);
    tcase_add_test(tc, test_close_drains_then_ends);
    tcase_add_test(tc, test_free_with_waiters);
    tcase_add_test(tc, test_concurrent_big_log);
    tcase_add_test(tc, test_concurrent_small_log);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(events_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
