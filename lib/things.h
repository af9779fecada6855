/* SPDX-License-Identifier: MIT */
/* The Thing registry (W3C WoT Discovery, Thing Description Directory) without HTTP: each TD in its
 * own named graph (FLEET_THING_GRAPH_BASE + the percent-encoded id) holding the TD's RDF
 * (td.h), the TD's JSON text verbatim (fleet:document) and its registration information
 * (discovery:hasRegistrationInformation <graph#registration>: schema:dateCreated,
 * schema:dateModified, schema:expires, discovery:ttl; fleet:lastSeen on the Thing). The store is
 * the source of truth: every write commits one durable transaction before anything else changes.
 * An in-memory index sorted by id (Unicode code point order, which is UTF-8 byte order) serves
 * GET and listing; it is built from the store at start and rebuilt when something other than the
 * registry has written to the store (SPARQL Update, Graph Store Protocol), see fleet_things_sync.
 *
 * Thread-safe: writers are serialised by one mutex held across validation and commit; readers
 * share a read lock on the index and copy what they return. */
#ifndef FLEET_THINGS_H
#define FLEET_THINGS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "store.h"
#include "td.h"

#define FLEET_THING_GRAPH_BASE "https://tinyfleet.dev/graph/thing/"
#define FLEET_DISCOVERY_CONTEXT "https://www.w3.org/2022/wot/discovery"
#define FLEET_DISCOVERY_NS "https://www.w3.org/2022/wot/discovery#"
#define FLEET_THING_MAX_BYTES (4u << 20) /* the largest TD (or merge patch) accepted */

struct fleet_things;

/* Builds the index from the store (borrowed; must outlive the registry). On error returns a
 * code and a message in err. */
enum fleet_err fleet_things_open(struct fleet_store *st, struct fleet_things **out, char *err,
                                 size_t errlen);
/* NULL is a no-op. */
void fleet_things_free(struct fleet_things *t);

/* Changes, as the directory's notifications name them (W3C WoT Discovery 7.3.2.5). */
enum fleet_thing_change {
    FLEET_THING_CREATED,
    FLEET_THING_UPDATED,
    FLEET_THING_DELETED,
};
/* Called after each durable change, in commit order, with the registry's write lock held (so it
 * must be quick and must not call the registry). id and json are borrowed: json is the enriched
 * TD for CREATED, a merge patch that includes the id for UPDATED, NULL for DELETED (and may be
 * NULL on ENOMEM). Expiry purges are DELETED changes too. */
typedef void (*fleet_things_notify)(void *ctx, enum fleet_thing_change what, const char *id,
                                    const char *json);
void fleet_things_on_change(struct fleet_things *t, fleet_things_notify fn, void *ctx);

/* One write (PUT, POST or PATCH). The caller fills the inputs, zeroes the rest, and frees the
 * outputs with fleet_things_write_free whatever the result. */
struct fleet_things_write {
    /* in (borrowed) */
    const char *id;          /* PUT/PATCH: the id from the URL; POST: NULL (an id is minted) */
    const char *body;        /* the TD (PUT/POST) or the merge patch (PATCH), JSON text */
    size_t len;
    int64_t now_ms;          /* wall clock, ms since the epoch */
    uint64_t max_ttl_s;      /* ttl and expires are capped at now + max_ttl_s */
    /* out */
    int created;             /* PUT/POST: 1 if the TD is new (201), 0 if it replaced one (204) */
    char *thing_id;          /* new: the TD's id (the minted urn:uuid: for POST) */
    struct fleet_td_errors errs; /* FLEET_ERR_INVAL: every problem, by field ("" = the whole
                                    document) */
    char message[512];       /* a one-line summary for any error */
};
void fleet_things_write_free(struct fleet_things_write *w);

/* Creates or replaces the TD w->id (PUT), or registers an anonymous TD under a new urn:uuid:
 * (POST, w->id NULL). The TD must be a JSON object without duplicate keys that passes
 * fleet_td_validate and maps to RDF; its id must equal w->id (PUT) or be absent (POST). A
 * "registration" member may set ttl (seconds > 0) or expires (RFC 3339); other registration
 * members are the directory's and are ignored. Errors: FLEET_ERR_INVAL (w->errs), FLEET_ERR_TOOBIG,
 * FLEET_ERR_NOMEM, store errors. On error nothing changed. */
enum fleet_err fleet_things_put(struct fleet_things *t, struct fleet_things_write *w);

/* Applies an RFC 7396 merge patch (a JSON object) to the TD w->id and validates the result as
 * put does. A patch that changes nothing in the TD (e.g. {}) only refreshes the registration: a
 * new modified time, expires recomputed from ttl, and lastSeen (the device's heartbeat). The
 * patch's "registration" member may set or remove (null) ttl and expires. FLEET_ERR_NOTFOUND if
 * there is no such TD; otherwise as put. */
enum fleet_err fleet_things_patch(struct fleet_things *t, struct fleet_things_write *w);

/* Removes the TD and its graph. FLEET_ERR_NOTFOUND if there is none. */
enum fleet_err fleet_things_delete(struct fleet_things *t, const char *id);

/* Appends the enriched TD (the stored text, the discovery context added to @context, and a
 * "registration" member with created, modified, expires, ttl, retrieved = now, lastSeen) to
 * out. FLEET_ERR_NOTFOUND if there is no such TD or it has expired. */
enum fleet_err fleet_things_get(struct fleet_things *t, const char *id, int64_t now_ms,
                                struct fleet_buf *out);

struct fleet_things_page {
    size_t total;     /* unexpired TDs in the directory */
    size_t count;     /* TDs in this page */
    int more;         /* TDs follow this page */
    char etag[64];    /* the collection's state: changes when a TD is created or deleted */
};
/* Appends the enriched TDs at positions [offset, offset + limit) of the id order, separated by
 * ",", to out (the caller adds the brackets). */
enum fleet_err fleet_things_list(struct fleet_things *t, size_t offset, size_t limit,
                                 int64_t now_ms, struct fleet_buf *out,
                                 struct fleet_things_page *page);

/* Deletes every TD whose expires is <= now_ms in one durable transaction. *ids receives a new
 * NULL-terminated array of the deleted ids (fleet_strv_free), or NULL when none. Returns the
 * count, or -1 on error (nothing deleted). */
long fleet_things_purge(struct fleet_things *t, int64_t now_ms, char ***ids);

/* Rebuilds the index from the store if the store's generation moved by more than the registry's
 * own commits since the last call (another writer may have changed a Thing's graph). Cheap when
 * nothing else wrote. Returns 1 if it rebuilt, 0 if not, -1 on error (the old index is kept). */
int fleet_things_sync(struct fleet_things *t);

/* 1 if a TD with this id is registered and unexpired at now_ms. */
int fleet_things_exists(struct fleet_things *t, const char *id, int64_t now_ms);

/* Number of TDs in the index. */
size_t fleet_things_count(struct fleet_things *t);

/* The graph IRI of the TD id, appended to out. */
void fleet_thing_graph_iri(const char *id, struct fleet_buf *out);

/* Converts N-Triples (as the store serialises CONSTRUCT and DESCRIBE results) to a JSON-LD 1.1
 * document in expanded, flattened form (an array of node objects, rdf:type as @type), appended
 * to out. FLEET_ERR_INVAL with a message for a line it cannot read. */
enum fleet_err fleet_ntriples_to_jsonld(const char *nt, size_t len, struct fleet_buf *out,
                                        char *err, size_t errlen);

/* Writes ms since the epoch as RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.000Z"). */
void fleet_rfc3339(int64_t ms, char out[32]);
/* Parses an RFC 3339 date-time (offset required) into ms since the epoch; -1 if malformed. */
int fleet_rfc3339_parse(const char *s, int64_t *ms);

#endif
