/* SPDX-License-Identifier: MIT */
/* See ledger.h. The file is read incrementally: only complete lines (ending in '\n') count, so
 * a line being written by the harness is picked up once it is whole. */
#include "ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_proto.h"

#define MAX_LINE (1 << 20)

struct line {
    long long start, end; /* byte offsets: [start, end) including the '\n' */
    json_t *result;       /* NULL: not a valid RESULT */
};

struct fleet_ledger {
    pthread_mutex_t mu;
    json_t *fixed;
    char *path;
    struct line *lines;
    size_t n, cap;
    long long consumed; /* bytes of the file read into lines */
};

struct fleet_ledger *fleet_ledger_new(json_t *fixed, const char *jsonl)
{
    struct fleet_ledger *l = calloc(1, sizeof(*l));
    if (!l) {
        json_decref(fixed);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->fixed = fixed ? fixed : json_array();
    if (jsonl && *jsonl && !(l->path = strdup(jsonl))) {
        fleet_ledger_free(l);
        return NULL;
    }
    return l;
}

static void drop_lines(struct fleet_ledger *l)
{
    for (size_t i = 0; i < l->n; i++)
        json_decref(l->lines[i].result);
    l->n = 0;
    l->consumed = 0;
}

void fleet_ledger_free(struct fleet_ledger *l)
{
    if (!l)
        return;
    drop_lines(l);
    free(l->lines);
    free(l->path);
    json_decref(l->fixed);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void add_line(struct fleet_ledger *l, long long start, long long end, const char *text,
                     size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct line *v = realloc(l->lines, cap * sizeof(*v));
        if (!v)
            return;
        l->lines = v;
        l->cap = cap;
    }
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    struct fleet_agent_result r;
    char why[256] = "";
    if (!j)
        snprintf(why, sizeof(why), "not JSON: %s", jerr.text);
    else if (fleet_agent_result_parse(j, &r, why, sizeof(why)) == 0)
        fleet_agent_result_clear(&r);
    if (why[0]) {
        fprintf(stderr, "tinyfleet-agent: %s: the line at byte %lld is skipped: %s\n", l->path,
                start, why);
        json_decref(j);
        j = NULL;
    }
    l->lines[l->n++] = (struct line){start, end, j};
}

/* Reads the complete lines appended since the last call. Called with mu held. */
static void refresh(struct fleet_ledger *l)
{
    if (!l->path)
        return;
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0)
        return;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return;
    }
    if (sb.st_size < l->consumed) {
        fprintf(stderr, "tinyfleet-agent: %s shrank (it must only be appended to); read again\n",
                l->path);
        drop_lines(l);
    }
    if (sb.st_size == l->consumed) {
        close(fd);
        return;
    }
    size_t want = (size_t)(sb.st_size - l->consumed);
    char *buf = malloc(want + 1);
    ssize_t got = buf ? pread(fd, buf, want, l->consumed) : -1;
    close(fd);
    if (got <= 0) {
        free(buf);
        return;
    }
    size_t i = 0;
    while (i < (size_t)got) {
        char *nl = memchr(buf + i, '\n', (size_t)got - i);
        if (!nl)
            break; /* an incomplete line: next time */
        size_t len = (size_t)(nl - (buf + i));
        long long start = l->consumed + (long long)i;
        if (len > MAX_LINE)
            fprintf(stderr,
                    "tinyfleet-agent: %s: the line at byte %lld is longer than %d bytes, "
                    "skipped\n",
                    l->path, start, MAX_LINE);
        else if (len > 0)
            add_line(l, start, start + (long long)len + 1, buf + i, len);
        i += len + 1;
    }
    l->consumed += (long long)i;
    free(buf);
}

static int parse_cursor(const char *s, size_t *m, long long *j)
{
    int n = 0;
    if (!s) {
        *m = 0, *j = 0;
        return 0;
    }
    if (sscanf(s, "m%zu.j%lld%n", m, j, &n) != 2 || s[n] != '\0' || *j < 0 || s[1] == '-' ||
        s[1] == '+')
        return -1;
    return 0;
}

json_t *fleet_ledger_page(struct fleet_ledger *l, const char *since, size_t limit)
{
    size_t m;
    long long j;
    if (parse_cursor(since, &m, &j) != 0)
        return NULL;
    json_t *results = json_array(), *out = json_object();
    size_t count = 0;
    pthread_mutex_lock(&l->mu);
    refresh(l);
    size_t nfixed = json_array_size(l->fixed);
    if (m > nfixed)
        m = nfixed;
    while (m < nfixed && count < limit) {
        json_array_append(results, json_array_get(l->fixed, m++));
        count++;
    }
    if (count < limit) {
        /* the first line at or after j */
        size_t lo = 0, hi = l->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (l->lines[mid].start < j)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t k = lo; k < l->n && count < limit; k++) {
            j = l->lines[k].end;
            if (l->lines[k].result) {
                json_array_append(results, l->lines[k].result);
                count++;
            }
        }
        if (lo == l->n && j > l->consumed)
            j = l->consumed; /* a cursor past what the file holds (the file was replaced) */
    }
    pthread_mutex_unlock(&l->mu);
    char next[64];
    snprintf(next, sizeof(next), "m%zu.j%lld", m, j);
    json_object_set_new(out, "results", results);
    json_object_set_new(out, "next", json_string(next));
    return out;
}

int fleet_ledger_append(struct fleet_ledger *l, const json_t *result, char *err, size_t errlen)
{
    if (!l->path) {
        snprintf(err, errlen, "no results file (--results)");
        return -1;
    }
    char *text = json_dumps(result, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps left room for the NUL: the line is len + 1 bytes */
    pthread_mutex_lock(&l->mu);
    int fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    int rc = -1;
    if (fd >= 0) {
        ssize_t w = write(fd, text, len + 1);
        if (w == (ssize_t)(len + 1) && fdatasync(fd) == 0)
            rc = 0;
        else
            snprintf(err, errlen, "%s: %s", l->path, w < 0 ? strerror(errno) : "short write");
        close(fd);
    } else {
        snprintf(err, errlen, "%s: %s", l->path, strerror(errno));
    }
    pthread_mutex_unlock(&l->mu);
    free(text);
    return rc;
}

static int str_is(const json_t *o, const char *key, const char *v)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && strcmp(s, v) == 0;
}

int fleet_ledger_has_job(struct fleet_ledger *l, const char *job, const char *device)
{
    int found = 0;
    pthread_mutex_lock(&l->mu);
    refresh(l);
    for (size_t i = 0; i < l->n && !found; i++)
        found = l->lines[i].result && str_is(l->lines[i].result, "job", job) &&
                str_is(l->lines[i].result, "device", device);
    pthread_mutex_unlock(&l->mu);
    return found;
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *fleet_ledger_devices(struct fleet_ledger *l, const char *const *extra, size_t n)
{
    pthread_mutex_lock(&l->mu);
    refresh(l);
    size_t cap = json_array_size(l->fixed) + l->n + n, k = 0;
    const char **v = calloc(cap + 1, sizeof(*v));
    json_t *out = json_array();
    size_t i;
    json_t *e;
    if (v) {
        json_array_foreach(l->fixed, i, e) if (json_string_value(json_object_get(e, "device")))
            v[k++] = json_string_value(json_object_get(e, "device"));
        for (i = 0; i < l->n; i++)
            if (l->lines[i].result)
                v[k++] = json_string_value(json_object_get(l->lines[i].result, "device"));
        for (i = 0; i < n; i++)
            v[k++] = extra[i];
        qsort(v, k, sizeof(*v), strp_cmp);
        for (i = 0; i < k; i++)
            if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
                json_array_append_new(out, json_string(v[i]));
    }
    pthread_mutex_unlock(&l->mu);
    free(v);
    return out;
}
