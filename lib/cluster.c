/* SPDX-License-Identifier: MIT */
/* Rendezvous hashing of keys over the live members of a cluster, with a PostgreSQL advisory lock
 * per owned key (see cluster.h). Rendezvous (highest random weight) rather than modulo: when a
 * daemon joins or leaves, only the keys it gains or loses move. */
#include "cluster.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgjournal.h"

struct fleet_cluster {
    struct fleet_pgj *j;
    long refresh_ms;
    pthread_mutex_t mu;
    int32_t *members;
    long nmembers;
    int32_t me;
    double refreshed; /* monotonic seconds, 0 = never */
    uint64_t session; /* the pgjournal session the owned keys were locked in */
    int64_t *owned;   /* sorted */
    size_t nowned, cap;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* FNV-1a, 64 bits. */
static uint64_t hash_key(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A well-mixed weight of (key, member) (the splitmix64 finaliser). */
static uint64_t weight(uint64_t h, int32_t member)
{
    uint64_t z = h ^ ((uint64_t)(uint32_t)member * 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t find(const struct fleet_cluster *c, int64_t k, int *found)
{
    size_t lo = 0, hi = c->nowned;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->owned[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < c->nowned && c->owned[lo] == k;
    return lo;
}

static void forget(struct fleet_cluster *c, size_t i)
{
    memmove(c->owned + i, c->owned + i + 1, (c->nowned - i - 1) * sizeof(*c->owned));
    c->nowned--;
}

static int remember(struct fleet_cluster *c, size_t i, int64_t k)
{
    if (c->nowned == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        int64_t *n = realloc(c->owned, ncap * sizeof(*n));
        if (!n)
            return -1;
        c->owned = n;
        c->cap = ncap;
    }
    memmove(c->owned + i + 1, c->owned + i, (c->nowned - i) * sizeof(*c->owned));
    c->owned[i] = k;
    c->nowned++;
    return 0;
}

/* Caller holds mu. A new pgjournal session means every lock was lost with the old one. */
static void note_session(struct fleet_cluster *c, uint64_t session)
{
    if (session != c->session) {
        c->nowned = 0;
        c->session = session;
    }
}

static void refresh(struct fleet_cluster *c)
{
    double now = mono_s();
    int32_t *m = NULL, me = -1;
    uint64_t session;
    if (c->refreshed > 0 && now - c->refreshed < (double)c->refresh_ms / 1e3)
        return;
    long n = fleet_pgj_members(c->j, &m, &me, &session);
    note_session(c, session);
    if (n < 0) {
        c->nmembers = 0; /* unreachable: own nothing new until it answers again */
        c->refreshed = 0;
        return;
    }
    free(c->members);
    c->members = m;
    c->nmembers = n;
    c->me = me;
    c->refreshed = now;
}

struct fleet_cluster *fleet_cluster_new(struct fleet_pgj *j, long refresh_ms)
{
    struct fleet_cluster *c;
    if (!j)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->j = j;
    c->refresh_ms = refresh_ms > 0 ? refresh_ms : 1000;
    c->me = -1;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void fleet_cluster_free(struct fleet_cluster *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nowned; i++)
        fleet_pgj_unlock(c->j, c->owned[i]);
    pthread_mutex_destroy(&c->mu);
    free(c->members);
    free(c->owned);
    free(c);
}

int fleet_cluster_claim(struct fleet_cluster *c, const char *key)
{
    int found, rc = 0;
    if (!c)
        return 1;
    if (!key)
        return 0;
    uint64_t h = hash_key(key);
    int64_t k = (int64_t)h;
    pthread_mutex_lock(&c->mu);
    refresh(c);
    int32_t best = -1;
    uint64_t best_w = 0;
    for (long i = 0; i < c->nmembers; i++) {
        uint64_t w = weight(h, c->members[i]);
        if (best < 0 || w > best_w) {
            best = c->members[i];
            best_w = w;
        }
    }
    size_t pos = find(c, k, &found);
    if (best < 0 || best != c->me) {
        if (found) { /* no longer ours: let the new owner have it */
            fleet_pgj_unlock(c->j, k);
            forget(c, pos);
        }
        goto out;
    }
    if (found) {
        rc = 1;
        goto out;
    }
    uint64_t session;
    int got = fleet_pgj_try_lock(c->j, k, &session);
    note_session(c, session);
    if (got == 1) {
        pos = find(c, k, &found);
        if (remember(c, pos, k) != 0)
            fleet_pgj_unlock(c->j, k);
        else
            rc = 1;
    }
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void fleet_cluster_release(struct fleet_cluster *c, const char *key)
{
    int found;
    if (!c || !key)
        return;
    int64_t k = (int64_t)hash_key(key);
    pthread_mutex_lock(&c->mu);
    size_t pos = find(c, k, &found);
    if (found) {
        fleet_pgj_unlock(c->j, k);
        forget(c, pos);
    }
    pthread_mutex_unlock(&c->mu);
}

long fleet_cluster_members(struct fleet_cluster *c, int32_t *me)
{
    if (!c) {
        if (me)
            *me = 0;
        return 1;
    }
    pthread_mutex_lock(&c->mu);
    c->refreshed = 0;
    refresh(c);
    long n = c->nmembers;
    if (me)
        *me = c->me;
    pthread_mutex_unlock(&c->mu);
    return n;
}
