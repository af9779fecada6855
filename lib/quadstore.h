/* SPDX-License-Identifier: MIT */
/* An in-memory, indexed RDF quad store: the data structure under tinyfleet's librdf storage
 * module ("fleet", registered in store.c). No Redland, no I/O except snapshot save/load.
 *
 * Terms are interned into a dictionary and named by a 32-bit id (fleet_tid); id 0 never names a
 * term. Terms are reference-counted by the quads that use them and are freed (their id reused)
 * when no quad uses them any more and no caller holds a reference from fleet_qs_intern.
 *
 * A quad is {s, p, o, g}. g == FLEET_QS_DEFAULT_GRAPH (0) is the store's own unnamed graph;
 * any other g is the id of an IRI (or blank node) term naming a graph.
 *
 * Not thread-safe: the caller (store.c) serialises every call under its one lock. Iterators are
 * invalidated by any add/remove/clear on the same store. */
#ifndef FLEET_QUADSTORE_H
#define FLEET_QUADSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "term.h"

typedef uint32_t fleet_tid;

#define FLEET_QS_DEFAULT_GRAPH ((fleet_tid)0)
/* In a pattern's graph position: match quads in every graph, the default graph included. */
#define FLEET_QS_ANY_GRAPH ((fleet_tid)UINT32_MAX)
/* In a pattern's s/p/o position: wildcard. */
#define FLEET_QS_ANY ((fleet_tid)0)

struct fleet_qs;

struct fleet_qs *fleet_qs_new(void); /* new; NULL on ENOMEM */
void fleet_qs_free(struct fleet_qs *qs); /* NULL is a no-op */

/* Returns the id of t, adding it to the dictionary if new (t's strings are copied), and takes
 * one reference on it that the caller must drop with fleet_qs_unref once the id is either
 * used in fleet_qs_add (which takes its own references) or no longer needed.
 * Returns 0 on ENOMEM or if t->kind is FLEET_TERM_NONE. Literal identity is (lexical form,
 * lang, datatype); lang tags compare case-insensitively and are stored lower-cased;
 * a datatype of xsd:string is the same as no datatype (RDF 1.1). */
fleet_tid fleet_qs_intern(struct fleet_qs *qs, const struct fleet_term *t);
void fleet_qs_unref(struct fleet_qs *qs, fleet_tid id);

/* The id of t if it is in the dictionary, else 0. Takes no reference. */
fleet_tid fleet_qs_lookup(const struct fleet_qs *qs, const struct fleet_term *t);

/* Fills *out with the term named id (strings borrowed from the store, valid until the term is
 * freed). Returns FLEET_ERR_NOTFOUND for an unknown or freed id. */
enum fleet_err fleet_qs_term(const struct fleet_qs *qs, fleet_tid id, struct fleet_term *out);

/* q = {s, p, o, g}; s, p, o must be non-zero live ids; g may be FLEET_QS_DEFAULT_GRAPH.
 * add: 1 if added, 0 if already present, -1 on ENOMEM (store unchanged).
 * remove: 1 if removed, 0 if absent. contains: 1 or 0. */
int fleet_qs_add(struct fleet_qs *qs, const fleet_tid q[4]);
int fleet_qs_remove(struct fleet_qs *qs, const fleet_tid q[4]);
int fleet_qs_contains(const struct fleet_qs *qs, const fleet_tid q[4]);

size_t fleet_qs_size(const struct fleet_qs *qs);       /* quads in all graphs */
size_t fleet_qs_graph_size(const struct fleet_qs *qs, fleet_tid g);
size_t fleet_qs_term_count(const struct fleet_qs *qs); /* live dictionary entries */

/* Removes every quad of graph g (g may be the default graph). Returns the number removed. */
size_t fleet_qs_clear_graph(struct fleet_qs *qs, fleet_tid g);

/* Pattern iteration. pat = {s, p, o, g}: s/p/o FLEET_QS_ANY or an id; g an id,
 * FLEET_QS_DEFAULT_GRAPH or FLEET_QS_ANY_GRAPH. The iterator walks the shortest index list among
 * the bound positions, so any pattern with a bound term costs O(min list length), and an
 * all-wildcard pattern walks everything. Order is unspecified but stable while the store is
 * unchanged. */
struct fleet_qs_iter {
    /* private; sized so the iterator can live on the stack */
    const struct fleet_qs *qs;
    const void *list; /* the posting list walked (uint32_t quad slots), or NULL */
    uint64_t gen;     /* the store's change count at fleet_qs_find; a change ends the walk */
    size_t pos;
    size_t end;
    fleet_tid pat[4];
    uint32_t one; /* the only slot of a one-entry list, which the store keeps inline */
    int mode;
};

void fleet_qs_find(const struct fleet_qs *qs, const fleet_tid pat[4], struct fleet_qs_iter *it);
/* Stores the next matching quad in q and returns 1, or returns 0 at the end. */
int fleet_qs_next(struct fleet_qs_iter *it, fleet_tid q[4]);
/* How many quads fleet_qs_find would walk for pat (an upper bound of the matches): the length
 * of the shortest index list among its bound positions. O(1); for join planning. */
size_t fleet_qs_estimate(const struct fleet_qs *qs, const fleet_tid pat[4]);

/* Distinct graph ids that hold at least one quad, excluding the default graph, in ascending
 * order. *out is new (free() it); returns the count or -1 on ENOMEM. */
long fleet_qs_graphs(const struct fleet_qs *qs, fleet_tid **out);

/* Snapshot: writes the whole store (dictionary and quads) to fd in a compact binary format with
 * a magic header, a version and a CRC32 of the payload; loads it into an empty store. Loading
 * 1M quads should take well under a second. load returns FLEET_ERR_CORRUPT for any malformed,
 * truncated or checksum-failing input (it is bounds-checked: a hostile file cannot crash it),
 * FLEET_ERR_INVAL if qs is not empty, FLEET_ERR_IO on read errors. */
enum fleet_err fleet_qs_save(const struct fleet_qs *qs, int fd);
enum fleet_err fleet_qs_load(struct fleet_qs *qs, int fd);

/* Bytes of heap the store uses (dictionary + indexes), for metrics and the RSS benchmark. */
size_t fleet_qs_memory(const struct fleet_qs *qs);

#endif
