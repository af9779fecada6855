/* SPDX-License-Identifier: MIT */
/* See cache.h. A hash table of chained entries (FNV-1a over the key) plus an LRU list, under one
 * mutex; lookups copy the answer out, so no entry is ever shared with a request. */
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *next_hash;
    struct entry *prev_lru, *next_lru; /* head = most recently used */
    uint64_t hash, generation;
    size_t bytes;
    char *key;
    struct fleet_cache_answer a;
};

struct fleet_cache {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t nbuckets;
    struct entry *lru_head, *lru_tail;
    size_t bytes, max_bytes, entries;
    struct fleet_cache_stats st;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void fleet_cache_answer_free(struct fleet_cache_answer *a)
{
    if (!a)
        return;
    free(a->content_type);
    for (int i = 0; i < 2 * FLEET_CACHE_MAX_HEADERS && a->headers[i]; i++)
        free(a->headers[i]);
    free(a->body);
    memset(a, 0, sizeof(*a));
}

static char *dup_or_null(const char *s, int *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = 1;
    return d;
}

/* A deep copy of a into out; -1 on ENOMEM (out freed). */
static int copy_answer(const struct fleet_cache_answer *a, struct fleet_cache_answer *out)
{
    int fail = 0;
    memset(out, 0, sizeof(*out));
    out->status = a->status;
    out->content_type = dup_or_null(a->content_type, &fail);
    for (int i = 0; i < 2 * FLEET_CACHE_MAX_HEADERS && a->headers[i]; i++)
        out->headers[i] = dup_or_null(a->headers[i], &fail);
    out->len = a->len;
    out->body = malloc(a->len ? a->len : 1);
    if (!out->body)
        fail = 1;
    else if (a->len)
        memcpy(out->body, a->body, a->len);
    if (fail) {
        fleet_cache_answer_free(out);
        return -1;
    }
    return 0;
}

static size_t answer_bytes(const char *key, const struct fleet_cache_answer *a)
{
    size_t n = sizeof(struct entry) + strlen(key) + 1 + a->len;
    if (a->content_type)
        n += strlen(a->content_type) + 1;
    for (int i = 0; i < 2 * FLEET_CACHE_MAX_HEADERS && a->headers[i]; i++)
        n += strlen(a->headers[i]) + 1;
    return n;
}

struct fleet_cache *fleet_cache_new(size_t max_bytes)
{
    struct fleet_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->nbuckets = 4096;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->max_bytes = max_bytes;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void lru_unlink(struct fleet_cache *c, struct entry *e)
{
    if (e->prev_lru)
        e->prev_lru->next_lru = e->next_lru;
    else
        c->lru_head = e->next_lru;
    if (e->next_lru)
        e->next_lru->prev_lru = e->prev_lru;
    else
        c->lru_tail = e->prev_lru;
    e->prev_lru = e->next_lru = NULL;
}

static void lru_push_front(struct fleet_cache *c, struct entry *e)
{
    e->prev_lru = NULL;
    e->next_lru = c->lru_head;
    if (c->lru_head)
        c->lru_head->prev_lru = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

/* Removes e from the table and the list and frees it. */
static void drop(struct fleet_cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash % c->nbuckets];
    while (*pp && *pp != e)
        pp = &(*pp)->next_hash;
    if (*pp)
        *pp = e->next_hash;
    lru_unlink(c, e);
    c->bytes -= e->bytes;
    c->entries--;
    free(e->key);
    fleet_cache_answer_free(&e->a);
    free(e);
}

static struct entry *find(struct fleet_cache *c, const char *key, uint64_t h)
{
    for (struct entry *e = c->buckets[h % c->nbuckets]; e; e = e->next_hash)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

int fleet_cache_get(struct fleet_cache *c, const char *key, uint64_t generation,
                    struct fleet_cache_answer *out)
{
    uint64_t h = fnv1a(key);
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, key, h);
    if (e && e->generation != generation) {
        drop(c, e);
        c->st.stale++;
        e = NULL;
    }
    if (e) {
        lru_unlink(c, e);
        lru_push_front(c, e);
        rc = copy_answer(&e->a, out) == 0 ? 1 : -1;
        c->st.hits++;
    } else {
        c->st.misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void fleet_cache_put(struct fleet_cache *c, const char *key, uint64_t generation,
                     const struct fleet_cache_answer *a)
{
    size_t bytes = answer_bytes(key, a);
    if (c->max_bytes == 0 || bytes > c->max_bytes / 8)
        return;
    struct entry *e = calloc(1, sizeof(*e));
    if (!e)
        return;
    e->key = strdup(key);
    if (!e->key || copy_answer(a, &e->a) != 0) {
        free(e->key);
        free(e);
        return;
    }
    e->hash = fnv1a(key);
    e->generation = generation;
    e->bytes = bytes;
    pthread_mutex_lock(&c->lock);
    struct entry *old = find(c, key, e->hash);
    if (old)
        drop(c, old);
    while (c->lru_tail && c->bytes + bytes > c->max_bytes) {
        drop(c, c->lru_tail);
        c->st.evictions++;
    }
    e->next_hash = c->buckets[e->hash % c->nbuckets];
    c->buckets[e->hash % c->nbuckets] = e;
    lru_push_front(c, e);
    c->bytes += bytes;
    c->entries++;
    c->st.inserts++;
    pthread_mutex_unlock(&c->lock);
}

void fleet_cache_clear(struct fleet_cache *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->lru_head)
        drop(c, c->lru_head);
    pthread_mutex_unlock(&c->lock);
}

void fleet_cache_stats(struct fleet_cache *c, struct fleet_cache_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    out->entries = c->entries;
    out->bytes = c->bytes;
    out->max_bytes = c->max_bytes;
    pthread_mutex_unlock(&c->lock);
}

void fleet_cache_free(struct fleet_cache *c)
{
    if (!c)
        return;
    fleet_cache_clear(c);
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c);
}
