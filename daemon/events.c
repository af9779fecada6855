/* SPDX-License-Identifier: MIT */
/* The directory's notification log (see events.h). A ring of the last N events under one mutex,
 * each stored as its finished SSE frames (the plain one with {"id":...}, and the ?diff=true one
 * when there is a diff), so that a stream only copies bytes and publishing only formats once.
 * Publishers format outside the lock and never wait for a stream: a stream that falls behind
 * the oldest kept event is ended and its client reconnects with Last-Event-ID. Streams wait on
 * a condition variable that every publish broadcasts. The log and its streams share a reference
 * count, so the log outlives fleet_events_free until the last stream's response is gone.
 *
 * Event ids grow across restarts: the first id of a run is the start time in seconds shifted
 * left by 20 bits, so a Last-Event-ID from an earlier run is older than anything kept (its
 * client is told about the gap and gets the whole log) instead of matching an unrelated event
 * of this run. That holds while a run averages fewer than a million events a second, and the
 * ids stay below 2^53 (exact as JavaScript numbers) until the year 2242. */
#include "events.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* "id: " + 20 digits + "\n\n" */
#define ID_LINE_MAX 32
#define KEEPALIVE ":keepalive\n\n"

struct event {
    uint64_t id;
    int type;
    char *plain; /* "event: T\ndata: {"id":...}\nid: N\n\n" */
    size_t plain_len;
    char *diff; /* the same with the TD or merge patch as data; NULL: use plain */
    size_t diff_len;
};

struct fleet_events {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* broadcast on every publish and on close */
    struct event *ring;
    size_t cap;
    size_t count;      /* events kept, <= cap: ids next_id - count .. next_id - 1 */
    uint64_t first_id; /* the id of this run's first event; its slot is ring[0] */
    uint64_t next_id;
    size_t bytes;     /* of the kept events' frames */
    size_t max_bytes; /* older events are dropped while bytes exceeds this */
    size_t streams;   /* open streams */
    size_t refs;      /* 1 for the owner until fleet_events_free, plus one per stream */
    int closed;
};

struct fleet_event_stream {
    struct fleet_events *ev;
    int type; /* FLEET_EVENT_ALL or one type */
    int diff;
    uint64_t next; /* the id of the next event to look at */
    int ended;
    char *pending; /* bytes owed to the client: the preamble, or the rest of a long frame */
    size_t pending_len, pending_off, pending_cap;
};

static const char *const type_names[] = {"thing_created", "thing_updated", "thing_deleted"};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

const char *fleet_event_type_name(enum fleet_event_type type)
{
    if ((unsigned)type >= NTYPES)
        return NULL;
    return type_names[type];
}

int fleet_event_type_parse(const char *name)
{
    for (size_t i = 0; name && i < NTYPES; i++)
        if (strcmp(name, type_names[i]) == 0)
            return (int)i;
    return -1;
}

struct fleet_events *fleet_events_new(size_t capacity)
{
    if (capacity < 1)
        return NULL;
    struct fleet_events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    ev->ring = calloc(capacity, sizeof(*ev->ring));
    if (!ev->ring)
        goto fail;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&ev->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        goto fail;
    if (pthread_mutex_init(&ev->lock, NULL) != 0) {
        pthread_cond_destroy(&ev->cond);
        goto fail;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ev->first_id = now.tv_sec > 0 ? (uint64_t)now.tv_sec << 20 : 1;
    ev->next_id = ev->first_id;
    ev->cap = capacity;
    ev->max_bytes = FLEET_EVENTS_MAX_BYTES;
    ev->refs = 1;
    return ev;
fail:
    free(ev->ring);
    free(ev);
    return NULL;
}

static void destroy(struct fleet_events *ev)
{
    for (size_t i = 0; i < ev->cap; i++) {
        free(ev->ring[i].plain);
        free(ev->ring[i].diff);
    }
    free(ev->ring);
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

void fleet_events_set_max_bytes(struct fleet_events *ev, size_t max_bytes)
{
    pthread_mutex_lock(&ev->lock);
    ev->max_bytes = max_bytes;
    pthread_mutex_unlock(&ev->lock);
}

void fleet_events_close(struct fleet_events *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->lock);
    ev->closed = 1;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
}

void fleet_events_free(struct fleet_events *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->lock);
    ev->closed = 1;
    pthread_cond_broadcast(&ev->cond);
    int last = --ev->refs == 0;
    pthread_mutex_unlock(&ev->lock);
    if (last)
        destroy(ev);
}

/* ---- formatting (outside the lock) ----------------------------------------------------------- */

struct text {
    char *p;
    size_t len, cap;
    int oom;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 128;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->oom = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* A JSON string literal for s. Bytes >= 0x80 pass through: the ids come from validated TDs. */
static void put_json_string(struct text *t, const char *s)
{
    put(t, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(t, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(t, esc, 6);
        } else {
            put(t, (const char *)&c, 1);
        }
    }
    put(t, "\"", 1);
}

/* "event: NAME\n" and one "data: " line per line of data (SSE joins them with "\n" again, so a
 * pretty-printed document arrives unchanged), with room left for the id line. */
static int frame_begin(struct text *t, const char *name, const char *data, size_t len)
{
    puts_(t, "event: ");
    puts_(t, name);
    put(t, "\n", 1);
    size_t i = 0;
    do {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        puts_(t, "data: ");
        put(t, data + i, j - i);
        put(t, "\n", 1);
        if (j < len && data[j] == '\r' && j + 1 < len && data[j + 1] == '\n')
            j++;
        i = j + 1;
    } while (i < len);
    /* Reserve the id line now so that the locked part cannot fail. */
    size_t keep = t->len;
    char room[ID_LINE_MAX];
    memset(room, ' ', sizeof(room));
    put(t, room, sizeof(room));
    t->len = keep;
    return t->oom ? -1 : 0;
}

static void frame_end(struct text *t, uint64_t id)
{
    int n = snprintf(t->p + t->len, t->cap - t->len, "id: %llu\n\n", (unsigned long long)id);
    t->len += (size_t)n;
}

/* The ?diff=true data: diff_json if it is a JSON object, with an "id" member added in front when
 * it has none (a merge patch usually does not repeat the id, and the data MUST carry it). NULL if
 * it is not a JSON object (logged) or on ENOMEM (*oom set). */
static char *diff_data(const char *thing_id, const char *diff_json, int *oom)
{
    json_error_t jerr;
    json_t *j = json_loads(diff_json, 0, &jerr);
    if (!j || !json_is_object(j)) {
        fleet_log(FLEET_LOG_WARNING,
                  "events: the diff for %s is not a JSON object (%s); "
                  "its event carries the id only",
                  thing_id, j ? "not an object" : jerr.text);
        json_decref(j);
        return NULL;
    }
    struct text t = {0};
    if (json_object_get(j, "id")) {
        puts_(&t, diff_json);
    } else {
        const char *brace = strchr(diff_json, '{'); /* the first character that is not a blank */
        puts_(&t, "{\"id\":");
        put_json_string(&t, thing_id);
        if (json_object_size(j) > 0)
            put(&t, ",", 1);
        puts_(&t, brace + 1);
    }
    json_decref(j);
    if (t.oom) {
        free(t.p);
        *oom = 1;
        return NULL;
    }
    return t.p;
}

uint64_t fleet_events_publish(struct fleet_events *ev, enum fleet_event_type type,
                              const char *thing_id, const char *diff_json)
{
    const char *name = fleet_event_type_name(type);
    struct text plain = {0}, diff = {0}, id = {0};
    char *dd = NULL;
    int oom = 0;
    uint64_t eid = 0;

    if (!ev || !name || !thing_id)
        return 0;
    put(&id, "{\"id\":", 6);
    put_json_string(&id, thing_id);
    put(&id, "}", 1);
    if (id.oom || frame_begin(&plain, name, id.p, id.len) != 0)
        goto out;
    /* WoT Discovery: the diff parameter MUST be ignored for thing_deleted. */
    if (diff_json && type != FLEET_EVENT_THING_DELETED) {
        dd = diff_data(thing_id, diff_json, &oom);
        if (oom || (dd && frame_begin(&diff, name, dd, strlen(dd)) != 0))
            goto out;
    }

    pthread_mutex_lock(&ev->lock);
    eid = ev->next_id++;
    struct event *e = &ev->ring[(eid - ev->first_id) % ev->cap];
    /* A slot outside the kept window is empty, so this is the oldest event or nothing. */
    char *old_plain = e->plain, *old_diff = e->diff;
    if (old_plain)
        ev->bytes -= e->plain_len + e->diff_len;
    frame_end(&plain, eid);
    e->id = eid;
    e->type = (int)type;
    e->plain = plain.p;
    e->plain_len = plain.len;
    plain.p = NULL;
    if (diff.p) {
        frame_end(&diff, eid);
        e->diff = diff.p;
        e->diff_len = diff.len;
        diff.p = NULL;
    } else {
        e->diff = NULL;
        e->diff_len = 0;
    }
    if (ev->count < ev->cap)
        ev->count++;
    ev->bytes += e->plain_len + e->diff_len;
    /* Streams look at an id only after checking that it is >= the oldest kept, so they never
     * see the slots emptied here. */
    while (ev->bytes > ev->max_bytes && ev->count > 1) {
        struct event *o = &ev->ring[(ev->next_id - ev->count - ev->first_id) % ev->cap];
        ev->bytes -= o->plain_len + o->diff_len;
        free(o->plain);
        free(o->diff);
        memset(o, 0, sizeof(*o));
        ev->count--;
    }
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
    free(old_plain);
    free(old_diff);
out:
    free(id.p);
    free(plain.p);
    free(diff.p);
    free(dd);
    return eid;
}

/* ---- streams --------------------------------------------------------------------------------- */

/* 1 and *out if s is a whole decimal number that fits in 64 bits. */
static int parse_id(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int pending_set(struct fleet_event_stream *s, const char *p, size_t n)
{
    if (n > s->pending_cap) {
        char *np = realloc(s->pending, n);
        if (!np)
            return -1;
        s->pending = np;
        s->pending_cap = n;
    }
    memcpy(s->pending, p, n);
    s->pending_len = n;
    s->pending_off = 0;
    return 0;
}

struct fleet_event_stream *fleet_event_stream_open(struct fleet_events *ev, int type, int diff,
                                                   const char *last_event_id, size_t max_streams,
                                                   enum fleet_err *err)
{
    char note[200];
    struct fleet_event_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        *err = FLEET_ERR_NOMEM;
        return NULL;
    }
    s->ev = ev;
    s->type = type;
    s->diff = diff;

    pthread_mutex_lock(&ev->lock);
    if (ev->closed || ev->streams >= max_streams) {
        *err = ev->closed ? FLEET_ERR_FORBIDDEN : FLEET_ERR_TOOBIG;
        pthread_mutex_unlock(&ev->lock);
        free(s);
        return NULL;
    }
    ev->streams++;
    ev->refs++;
    uint64_t oldest = ev->next_id - ev->count, last;
    /* A comment as the first bytes: the client sees the response headers at once. */
    snprintf(note, sizeof(note), ":ok\n\n");
    if (!last_event_id || !*last_event_id) {
        s->next = ev->next_id;
    } else if (parse_id(last_event_id, &last) && last + 1 >= oldest && last < ev->next_id) {
        s->next = last + 1;
    } else {
        /* WoT Discovery wants every missed event delivered; the log is bounded, so say what is
         * missing in a comment (ignored by EventSource, visible to people) and send what is
         * kept. An id that is not ours at all means "from the start". */
        s->next = oldest;
        if (parse_id(last_event_id, &last) && last < oldest)
            snprintf(note, sizeof(note),
                     ":gap: events after %llu up to %llu are no longer in the log; "
                     "replaying from %llu\n\n",
                     (unsigned long long)last, (unsigned long long)(oldest - 1),
                     (unsigned long long)oldest);
        else
            snprintf(note, sizeof(note),
                     ":gap: Last-Event-ID is not an event of this server; replaying the whole "
                     "log from %llu\n\n",
                     (unsigned long long)oldest);
    }
    pthread_mutex_unlock(&ev->lock);
    if (pending_set(s, note, strlen(note)) != 0) {
        fleet_event_stream_free(s);
        *err = FLEET_ERR_NOMEM;
        return NULL;
    }
    return s;
}

static size_t drain_pending(struct fleet_event_stream *s, char *buf, size_t max)
{
    size_t n = s->pending_len - s->pending_off;
    if (n > max)
        n = max;
    memcpy(buf, s->pending + s->pending_off, n);
    s->pending_off += n;
    return n;
}

ssize_t fleet_event_stream_read(struct fleet_event_stream *s, char *buf, size_t max, long wait_ms)
{
    struct fleet_events *ev = s->ev;
    size_t out = 0;
    struct timespec deadline;

    if (s->ended)
        return -1;
    if (s->pending_off < s->pending_len) {
        out = drain_pending(s, buf, max);
        if (s->pending_off < s->pending_len)
            return (ssize_t)out;
    }
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (wait_ms > 0) {
        deadline.tv_sec += wait_ms / 1000;
        deadline.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }

    pthread_mutex_lock(&ev->lock);
    while (out < max) {
        uint64_t oldest = ev->next_id - ev->count;
        if (s->next < oldest) {
            fleet_log(FLEET_LOG_INFO,
                      "events: a stream fell behind the log (next %llu, oldest kept %llu); "
                      "ending it so that its client reconnects",
                      (unsigned long long)s->next, (unsigned long long)oldest);
            s->ended = 1;
            break;
        }
        if (s->next < ev->next_id) {
            const struct event *e = &ev->ring[(s->next - ev->first_id) % ev->cap];
            s->next++;
            if (s->type != FLEET_EVENT_ALL && e->type != s->type)
                continue;
            const char *f = s->diff && e->diff ? e->diff : e->plain;
            size_t len = s->diff && e->diff ? e->diff_len : e->plain_len;
            size_t n = len < max - out ? len : max - out;
            if (n < len && pending_set(s, f + n, len - n) != 0) {
                fleet_log(FLEET_LOG_ERR, "events: out of memory; ending a stream");
                s->ended = 1;
                break;
            }
            memcpy(buf + out, f, n);
            out += n;
            if (n < len)
                break;
            continue;
        }
        if (ev->closed) { /* everything kept has been sent */
            s->ended = 1;
            break;
        }
        if (out > 0)
            break;
        int rc = wait_ms > 0 ? pthread_cond_timedwait(&ev->cond, &ev->lock, &deadline) : ETIMEDOUT;
        if (rc == ETIMEDOUT && s->next == ev->next_id && !ev->closed) {
            memcpy(buf, KEEPALIVE, sizeof(KEEPALIVE) - 1);
            out = sizeof(KEEPALIVE) - 1;
            break;
        }
    }
    pthread_mutex_unlock(&ev->lock);
    if (out == 0 && s->ended)
        return -1;
    return (ssize_t)out;
}

void fleet_event_stream_free(struct fleet_event_stream *s)
{
    if (!s)
        return;
    struct fleet_events *ev = s->ev;
    pthread_mutex_lock(&ev->lock);
    ev->streams--;
    int last = --ev->refs == 0;
    pthread_mutex_unlock(&ev->lock);
    free(s->pending);
    free(s);
    if (last)
        destroy(ev);
}
