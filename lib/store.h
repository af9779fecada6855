/* SPDX-License-Identifier: MIT */
/* The knowledge graph: one Redland world over tinyfleet's own librdf storage module ("fleet":
 * an indexed in-memory quad store made durable by a journal and snapshots, see quadstore.h and
 * durable.h). store.c is the only file that includes <redland.h>.
 *
 * Redland 1.0.17 / rasqal 0.9.33 are not thread-safe at all, so every call into them happens
 * under one store lock. Queries and updates are evaluated in forked children (sandbox.h) that see
 * a copy-on-write snapshot: the lock is held only for the fork, a slow query is killed at its
 * deadline, and a rasqal crash kills only the child.
 *
 * Graphs: every model and every Thing has its own named graph; the ontology files load at start
 * into the read-only graph FLEET_ONTOLOGY_GRAPH. A query's default graph is the union of all
 * graphs unless the protocol's default-graph-uri / named-graph-uri or the query's FROM /
 * FROM NAMED say otherwise. */
#ifndef FLEET_STORE_H
#define FLEET_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "durable.h"
#include "err.h"

#define FLEET_ONTOLOGY_GRAPH "https://tinyfleet.dev/graph/ontology"

struct fleet_store;

struct fleet_store_options {
    const char *state_dir;           /* borrowed; must exist or be creatable */
    const char *ontology_dir;        /* borrowed; NULL or "" = no ontology */
    int allow_service;               /* let SPARQL SERVICE make outgoing requests */
    uint64_t snapshot_journal_bytes; /* 0 = durable.h default */
    /* storage postgresql: a libpq connection string (borrowed), NULL or "" = embedded. The
     * journal is then a PostgreSQL table shared by a cluster of daemons (pgjournal.h) and
     * state_dir holds only a snapshot cache. */
    const char *pg_conninfo;
    long pg_poll_ms; /* how often to look for other daemons' writes without a notification */
    /* 1: every query runs in rasqal; 0: a SELECT over one basic graph pattern with FILTERs runs
     * in tinyfleet's native engine (bgp.h). sparql_native_bgp no in the config. */
    int rasqal_only;
    /* How many quads a native query may visit to be answered in the calling thread, without a
     * query child (store.c run_inline): 0 the default (20000), < 0 never. */
    long inline_steps;
};

/* Opens the store (recovering it from state_dir) and loads the ontology. On error returns a code
 * and a message in err. */
enum fleet_err fleet_store_open(const struct fleet_store_options *opt, struct fleet_store **out,
                                char *err, size_t errlen);
/* Writes a final snapshot and frees everything. NULL is a no-op. */
void fleet_store_close(struct fleet_store *st);

/* Periodic housekeeping (background snapshots); call about once a second. */
void fleet_store_maintain(struct fleet_store *st);

struct fleet_store_stats {
    uint64_t quads;          /* in every graph */
    uint64_t graphs;         /* named graphs holding data */
    uint64_t generation;     /* bumped by every committed write */
    uint64_t journal_bytes;
    uint64_t snapshot_bytes;
    uint64_t memory_bytes;   /* quad store heap */
    uint64_t queries_inline; /* native-engine queries small enough to answer without a child */
    uint64_t queries_native; /* native-engine queries run in a child */
    uint64_t queries_rasqal; /* queries run by rasqal (DESCRIBE: its inner SELECT) */
    /* the parse helper (sparql_check.h): texts checked, remembered as good without a check,
     * refused, and helpers started */
    uint64_t parse_checks, parse_remembered, parse_refused, parse_helpers;
};
void fleet_store_stats(struct fleet_store *st, struct fleet_store_stats *out);

/* Calls fn once for every graph holding quads, with the graph's IRI (NULL for the store's own
 * default graph, "" for a graph named by a blank node; borrowed, valid during the call only) and
 * its number of quads. fn runs under the store lock and must not call the store. O(graphs), for
 * the metrics of GET /metrics. */
typedef void (*fleet_store_graph_fn)(void *ctx, const char *graph, uint64_t quads);
void fleet_store_each_graph(struct fleet_store *st, fleet_store_graph_fn fn, void *ctx);

/* ---- SPARQL query ---------------------------------------------------------------------- */

struct fleet_query {
    const char *text;                  /* UTF-8 query */
    const char *base_uri;              /* for relative IRIs; may be NULL */
    const char *const *default_graphs; /* protocol default-graph-uri values */
    size_t n_default;
    const char *const *named_graphs;   /* protocol named-graph-uri values */
    size_t n_named;
    const char *accept;                /* Accept header or NULL */
    long timeout_ms;                   /* <= 0: none */
    uint64_t max_rows;                 /* 0: none */
    size_t max_bytes;                  /* result size cap, 0: none */
};

struct fleet_answer {
    const char *content_type;  /* static string */
    struct fleet_buf body;     /* the serialised result, or a message on error */
    char message[1024];        /* on error: what went wrong, for the problem body */
};

/* Runs a SPARQL 1.1 query. Errors: FLEET_ERR_INVAL (syntax, or an update sent as a query),
 * FLEET_ERR_UNSUPPORTED (a feature rasqal cannot run correctly), FLEET_ERR_FORBIDDEN (SERVICE
 * while disabled), FLEET_ERR_NOTACCEPTABLE, FLEET_ERR_TIMEOUT, FLEET_ERR_TOOBIG (rows or bytes),
 * FLEET_ERR_CRASH. The caller frees ans->body with fleet_buf_free. */
enum fleet_err fleet_store_query(struct fleet_store *st, const struct fleet_query *q,
                                 struct fleet_answer *ans);

/* ---- SPARQL update ---------------------------------------------------------------------- */

struct fleet_update {
    const char *text;
    const char *base_uri;
    const char *const *using_graphs;  /* protocol using-graph-uri */
    size_t n_using;
    const char *const *using_named;   /* protocol using-named-graph-uri */
    size_t n_using_named;
    long timeout_ms;
};

/* Runs a SPARQL 1.1 Update request all-or-nothing and durably. Errors as for queries, plus
 * FLEET_ERR_FORBIDDEN for changes to the read-only ontology graph or LOAD. */
enum fleet_err fleet_store_update(struct fleet_store *st, const struct fleet_update *u,
                                  struct fleet_answer *ans);

/* ---- Graph Store Protocol ---------------------------------------------------------------- */

enum fleet_rdf_syntax {
    FLEET_RDF_TURTLE,
    FLEET_RDF_NTRIPLES,
    FLEET_RDF_NQUADS,
    FLEET_RDF_RDFXML,
    FLEET_RDF_TRIG,
};

/* Maps a media type (parameters ignored) to a syntax; -1 if unknown. */
int fleet_rdf_syntax_from_mime(const char *content_type);
const char *fleet_rdf_syntax_mime(enum fleet_rdf_syntax syn);

/* graph NULL = the store's own unnamed default graph. */
/* Serialises one graph. FLEET_ERR_NOTFOUND if it holds no triples. */
enum fleet_err fleet_store_graph_get(struct fleet_store *st, const char *graph,
                                     enum fleet_rdf_syntax syn, struct fleet_buf *out);
/* 1 if the graph holds triples, else 0. */
int fleet_store_graph_exists(struct fleet_store *st, const char *graph);

/* Parses the file at path (syntax syn, relative IRIs against base) and, if it parses completely,
 * commits it durably: replace=1 empties the graph first (PUT), 0 adds (POST). For N-Quads and
 * TriG, quads naming a graph go to that graph and the rest to graph. Nothing is stored on any
 * error. *count receives the number of triples parsed; *created is set if the graph was empty. */
enum fleet_err fleet_store_graph_load(struct fleet_store *st, const char *graph, int replace,
                                      enum fleet_rdf_syntax syn, const char *path,
                                      const char *base, uint64_t *count, int *created,
                                      char *err, size_t errlen);
/* Empties and removes a graph. FLEET_ERR_NOTFOUND if it held nothing. */
enum fleet_err fleet_store_graph_delete(struct fleet_store *st, const char *graph);

/* ---- direct access for the registries ---------------------------------------------------- */

/* Commits txn durably (all or nothing) and bumps the generation. Changes to the ontology graph
 * are the caller's to avoid: the registries only write their own graphs. */
enum fleet_err fleet_store_commit(struct fleet_store *st, const struct fleet_txn *txn);

/* IRIs s with (s, predicate, object) in the ontology graph, sorted; *out is a new
 * NULL-terminated array of new strings (free with fleet_strv_free). Returns the count or -1. */
long fleet_store_ontology_subjects(struct fleet_store *st, const char *predicate,
                                   const char *object, char ***out);

/* For ontology terms tagged with an integer code (e.g. fleet:tfliteBuiltinOperator 3): a new
 * array of n strings where [code] is the IRI tagged with code (new) or NULL; codes outside
 * [0, n) are ignored. Free with fleet_strv_free_n. */
char **fleet_store_ontology_codes(struct fleet_store *st, const char *predicate, size_t n);

/* The lexical form of the first literal object of (subject, predicate, ?) in graph, as a new
 * string, or NULL if there is none. */
char *fleet_store_literal(struct fleet_store *st, const char *graph, const char *subject,
                          const char *predicate);

/* 1 if some graph holds (?, predicate, "value") with a plain literal value. */
int fleet_store_has_literal(struct fleet_store *st, const char *predicate, const char *value);

/* Calls fn once for every quad (?, predicate, ?, any graph) with the quad's terms (graph kind
 * FLEET_TERM_NONE for the default graph; strings borrowed, valid during the call only) until fn
 * returns non-zero. fn runs under the store lock and must not call the store. Returns the number
 * of calls. For a registry rebuilding its index from the store at start-up. */
typedef int (*fleet_store_quad_fn)(void *ctx, const struct fleet_term q[4]);
long fleet_store_each(struct fleet_store *st, const char *predicate, fleet_store_quad_fn fn,
                      void *ctx);

/* The store's generation: bumped by every committed write (in a cluster, by every record of
 * another daemon applied too). */
uint64_t fleet_store_generation(struct fleet_store *st);

/* The cluster the store is part of (cluster.h: which daemon polls which agent), or NULL with
 * storage embedded (fleet_cluster_claim(NULL, ...) is 1). Borrowed; lives as long as st. */
struct fleet_cluster *fleet_store_cluster(struct fleet_store *st);

/* ---- backups ----------------------------------------------------------------------------- */

/* Runs under the store lock at the backup's point in time, just before the dump forks (e.g. to
 * hard-link the model files that point in time references). Returns 0, or -1 to abort. */
typedef int (*fleet_store_dump_hook)(void *arg);

/* Writes every quad outside the ontology graph (which the daemon reloads from ontology_dir) as
 * N-Quads to fd and fsyncs it, as of one point in time, from a forked child over a copy-on-write
 * view: writers are held up only for the fork. Blank nodes are relabelled _:bN. *generation is
 * the store's generation at that point, *quads the number written. */
enum fleet_err fleet_store_dump(struct fleet_store *st, int fd, fleet_store_dump_hook hook,
                                void *hook_arg, uint64_t *generation, uint64_t *quads, char *err,
                                size_t errlen);

#endif
