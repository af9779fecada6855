/* SPDX-License-Identifier: MIT */
/* A response cache for reads: answers keyed by the normalised request, each stamped with the
 * store generation it was computed from. An entry is served only while the store is still at
 * that generation; every write bumps the generation, so a hit is always what the handler would
 * answer now. The caller reads the generation BEFORE computing an answer and stores it with the
 * answer: if a write lands meanwhile, the entry carries the older generation and is never
 * served (it may hold newer data, never older). Least recently used entries go first when the
 * byte budget is exceeded. Thread-safe. No HTTP here: the daemon's http.c decides what is
 * cacheable and builds the keys. */
#ifndef FLEET_CACHE_H
#define FLEET_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define FLEET_CACHE_MAX_HEADERS 4

struct fleet_cache;

/* An answer. Strings and body are owned by whoever holds the struct (fleet_cache_answer_free). */
struct fleet_cache_answer {
    int status;
    char *content_type;                          /* may be NULL */
    char *headers[2 * FLEET_CACHE_MAX_HEADERS];  /* name/value pairs, NULL-terminated early */
    char *body;
    size_t len;
};

/* A cache of at most max_bytes (keys, bodies and headers counted); entries larger than
 * max_bytes / 8 are not kept. NULL on ENOMEM; max_bytes 0 gives a cache that keeps nothing. */
struct fleet_cache *fleet_cache_new(size_t max_bytes);
void fleet_cache_free(struct fleet_cache *c);

/* A copy of the answer stored under key for exactly this generation into *out. Returns 1 on a
 * hit, 0 on a miss (an entry of another generation is dropped), -1 on ENOMEM. */
int fleet_cache_get(struct fleet_cache *c, const char *key, uint64_t generation,
                    struct fleet_cache_answer *out);
/* Stores a copy of a (replacing any entry under key). Silently keeps nothing when it does not
 * fit or memory is short. */
void fleet_cache_put(struct fleet_cache *c, const char *key, uint64_t generation,
                     const struct fleet_cache_answer *a);
/* Drops every entry (e.g. a configuration reload changed what answers mean). */
void fleet_cache_clear(struct fleet_cache *c);
void fleet_cache_answer_free(struct fleet_cache_answer *a);

struct fleet_cache_stats {
    uint64_t hits, misses, stale, inserts, evictions;
    size_t entries, bytes, max_bytes;
};
void fleet_cache_stats(struct fleet_cache *c, struct fleet_cache_stats *out);

#endif
