/* SPDX-License-Identifier: MIT */
/* The Redland boundary: one librdf world whose model sits on tinyfleet's own storage module
 * ("fleet", backed by the in-memory quad store of quadstore.c made durable by durable.c), SPARQL
 * queries and updates evaluated in forked children, and RDF parsing/serialising through raptor.
 * This is the only file that includes <redland.h>; every call into Redland, rasqal or raptor
 * happens under st->lock because none of them is thread-safe (see store.h). */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <redland.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bgp.h"
#include "cluster.h"
#include "conneg.h"
#include "durable.h"
#include "log.h"
#include "pgjournal.h"
#include "quadstore.h"
#include "results.h"
#include "sandbox.h"
#include "sparql_check.h"
#include "sparql_reorder.h"
#include "sparql_text.h"

#define XSD_STRING "http://www.w3.org/2001/XMLSchema#string"
/* How much of a child's output is flushed at a time. */
#define FLUSH_BYTES (64 * 1024)
/* The default budget of a native query answered without a child (run_inline): quads visited,
 * about a millisecond or two. */
#define INLINE_STEPS 20000
/* The marker a child writes before its error message at the end of its output. */
static const char ERR_MARK[] = "\n\0FLEET-ERROR:";

/* The dataset of the query being evaluated (set only inside a query child). */
struct view {
    int no_graphs;    /* the query has no GRAPH pattern: offer rasqal no named graphs (librdf
                         turns each into a rasqal data graph on every query, which costs time in
                         proportion to the number of graphs) */
    int active;       /* 0: default graph = union of all graphs, named = all named graphs */
    fleet_tid *dflt;  /* graphs merged into the default graph */
    size_t n_dflt;
    fleet_tid *named; /* graphs GRAPH ?g ranges over */
    size_t n_named;
    char **absent;    /* IRIs of GRAPH <iri> patterns naming no graph of the dataset: offered to
                         rasqal as empty graphs, because rasqal 0.9.33 answers a GRAPH <iri>
                         it does not know with one empty solution instead of none */
    size_t n_absent;
};

struct fleet_store {
    pthread_mutex_t lock;
    librdf_world *world;
    librdf_storage *storage;
    librdf_model *model;
    struct fleet_qs *qs;
    struct fleet_durable *dur;    /* storage embedded */
    struct fleet_pgj *pg;         /* storage postgresql (then dur is NULL) */
    struct fleet_cluster *cluster; /* with pg */
    struct view view;
    uint64_t generation;
    int allow_service;
    int rasqal_only;         /* never the native engine (bgp.h) */
    long inline_steps;       /* run_inline's budget; < 0: never inline */
    uint64_t queries_native, queries_rasqal; /* query children started, by engine */
    uint64_t queries_inline; /* native queries answered without a child (run_inline) */
    struct fleet_sparql_check *check; /* rasqal's parse tried in a helper first */
    fleet_tid onto_g;        /* the ontology graph id (a reference is held) */
    struct fleet_buf liberr; /* first error Redland reported during the current operation */
};

/* librdf_new_storage() calls the factory's init without a way to pass a pointer: the store being
 * opened is handed over here, under st->lock. */
static struct fleet_store *opening_store;

/* Serialises writers from the moment an update forks its child to its commit, so the changes
 * the child computed apply to exactly the state it saw; readers are not affected. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/* Takes the write lock; in a cluster also the cluster-wide one, after which the store holds every
 * record committed before, so that a change computed from it cannot race another daemon's.
 * Caller does not hold st->lock. On error nothing is held. */
static enum fleet_err write_enter(struct fleet_store *st)
{
    pthread_mutex_lock(&write_lock);
    if (st->pg) {
        enum fleet_err rc = fleet_pgj_begin(st->pg);
        if (rc != FLEET_OK) {
            fleet_pgj_end(st->pg);
            pthread_mutex_unlock(&write_lock);
            return rc;
        }
    }
    return FLEET_OK;
}

static void write_leave(struct fleet_store *st)
{
    if (st->pg)
        fleet_pgj_end(st->pg);
    pthread_mutex_unlock(&write_lock);
}

/* Makes txn durable in the store's journal and applies it. Caller is between write_enter and
 * write_leave and holds st->lock. */
static enum fleet_err journal_commit(struct fleet_store *st, const struct fleet_txn *txn)
{
    if (st->pg)
        return fleet_pgj_commit(st->pg, txn);
    return fleet_durable_commit(st->dur, st->qs, txn);
}

/* ---- logging --------------------------------------------------------------------------- */

static int redland_logger(void *user_data, librdf_log_message *msg)
{
    struct fleet_store *st = user_data;
    const char *text = librdf_log_message_message(msg);
    librdf_log_level level = librdf_log_message_level(msg);
    raptor_locator *loc = librdf_log_message_locator(msg);
    if (!text)
        text = "(no message)";
    if (level >= LIBRDF_LOG_ERROR) {
        if (st->liberr.len == 0) {
            if (loc && loc->line > 0)
                fleet_buf_printf(&st->liberr, "line %d: %s", loc->line, text);
            else
                fleet_buf_puts(&st->liberr, text);
        }
        fleet_log(FLEET_LOG_DEBUG, "redland: %s", text);
    } else {
        fleet_log(FLEET_LOG_DEBUG, "redland: %s", text);
    }
    return 1;
}

/* rasqal and raptor messages that do not pass through librdf's logger. */
static void raptor_log(void *user_data, raptor_log_message *m)
{
    struct fleet_store *st = user_data;
    const char *text = m && m->text ? m->text : "(no message)";
    if (m && m->level >= RAPTOR_LOG_LEVEL_ERROR && st && st->liberr.len == 0) {
        if (m->locator && m->locator->line > 0)
            fleet_buf_printf(&st->liberr, "line %d: %s", m->locator->line, text);
        else
            fleet_buf_puts(&st->liberr, text);
    }
    fleet_log(FLEET_LOG_DEBUG, "redland: %s", text);
}

static void raptor_init(void *user_data, raptor_world *rw)
{
    /* Freeing raptor would otherwise call curl_global_cleanup() and xmlCleanupParser(), which
     * belong to the daemon. */
    raptor_world_set_flag(rw, RAPTOR_WORLD_FLAG_WWW_SKIP_INIT_FINISH, 1);
}

static const char *liberr_text(struct fleet_store *st, const char *fallback)
{
    return st->liberr.len ? st->liberr.data : fallback;
}

/* ---- terms <-> nodes --------------------------------------------------------------------- */

/* Fills t with borrowed strings of node n. Returns 0, or -1 for an unusable node. */
static int node_to_term(librdf_node *n, struct fleet_term *t)
{
    memset(t, 0, sizeof(*t));
    if (!n)
        return -1;
    if (librdf_node_is_resource(n)) {
        t->kind = FLEET_TERM_IRI;
        t->value = (const char *)librdf_uri_as_string(librdf_node_get_uri(n));
    } else if (librdf_node_is_blank(n)) {
        t->kind = FLEET_TERM_BLANK;
        t->value = (const char *)librdf_node_get_blank_identifier(n);
    } else if (librdf_node_is_literal(n)) {
        librdf_uri *dt = librdf_node_get_literal_value_datatype_uri(n);
        t->kind = FLEET_TERM_LITERAL;
        t->value = (const char *)librdf_node_get_literal_value(n);
        t->lang = librdf_node_get_literal_value_language(n);
        t->datatype = dt ? (const char *)librdf_uri_as_string(dt) : NULL;
        if (t->datatype && strcmp(t->datatype, XSD_STRING) == 0)
            t->datatype = NULL;
    } else {
        return -1;
    }
    return t->value ? 0 : -1;
}

/* Same for a raptor term (parser output). */
static int rterm_to_term(const raptor_term *r, struct fleet_term *t)
{
    memset(t, 0, sizeof(*t));
    if (!r)
        return -1;
    switch (r->type) {
    case RAPTOR_TERM_TYPE_URI:
        t->kind = FLEET_TERM_IRI;
        t->value = (const char *)raptor_uri_as_string(r->value.uri);
        break;
    case RAPTOR_TERM_TYPE_BLANK:
        t->kind = FLEET_TERM_BLANK;
        t->value = (const char *)r->value.blank.string;
        break;
    case RAPTOR_TERM_TYPE_LITERAL:
        t->kind = FLEET_TERM_LITERAL;
        t->value = (const char *)r->value.literal.string;
        t->lang = (const char *)r->value.literal.language;
        t->datatype = r->value.literal.datatype
                          ? (const char *)raptor_uri_as_string(r->value.literal.datatype)
                          : NULL;
        if (t->datatype && strcmp(t->datatype, XSD_STRING) == 0)
            t->datatype = NULL;
        break;
    default:
        return -1;
    }
    return t->value ? 0 : -1;
}

/* New librdf node for a term, or NULL. */
static librdf_node *term_to_node(librdf_world *w, const struct fleet_term *t)
{
    switch (t->kind) {
    case FLEET_TERM_IRI:
        return librdf_new_node_from_uri_string(w, (const unsigned char *)t->value);
    case FLEET_TERM_BLANK:
        return librdf_new_node_from_blank_identifier(w, (const unsigned char *)t->value);
    case FLEET_TERM_LITERAL: {
        librdf_uri *dt = NULL;
        librdf_node *n;
        if (t->datatype && !(t->lang && t->lang[0])) {
            dt = librdf_new_uri(w, (const unsigned char *)t->datatype);
            if (!dt)
                return NULL;
        }
        n = librdf_new_node_from_typed_literal(w, (const unsigned char *)t->value,
                                               (t->lang && t->lang[0]) ? t->lang : NULL, dt);
        if (dt)
            librdf_free_uri(dt);
        return n;
    }
    default:
        return NULL;
    }
}

static librdf_node *tid_to_node(struct fleet_store *st, fleet_tid id)
{
    struct fleet_term t;
    if (fleet_qs_term(st->qs, id, &t) != FLEET_OK)
        return NULL;
    return term_to_node(st->world, &t);
}

/* The id of node n in the dictionary, 0 if absent (so nothing can match it). */
static fleet_tid node_tid(struct fleet_store *st, librdf_node *n)
{
    struct fleet_term t;
    if (node_to_term(n, &t) != 0)
        return 0;
    return fleet_qs_lookup(st->qs, &t);
}

static fleet_tid iri_tid(struct fleet_store *st, const char *iri)
{
    struct fleet_term t = {FLEET_TERM_IRI, iri, NULL, NULL};
    return fleet_qs_lookup(st->qs, &t);
}

/* ---- the "fleet" librdf storage module --------------------------------------------------- */

static int in_set(const fleet_tid *set, size_t n, fleet_tid g)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == g)
            return 1;
    return 0;
}

/* Whether graph g belongs to the query's default graph. */
static int default_has(const struct fleet_store *st, fleet_tid g)
{
    return !st->view.active || in_set(st->view.dflt, st->view.n_dflt, g);
}

/* The default graph is an RDF merge: a triple held by several of its graphs appears once, as
 * the occurrence in the lowest-numbered graph. */
static int first_in_default(const struct fleet_store *st, const fleet_tid q[4])
{
    fleet_tid pat[4] = {q[0], q[1], q[2], FLEET_QS_ANY_GRAPH}, other[4];
    struct fleet_qs_iter it;
    fleet_qs_find(st->qs, pat, &it);
    while (fleet_qs_next(&it, other))
        if (other[3] < q[3] && default_has(st, other[3]))
            return 0;
    return 1;
}

struct qstream {
    struct fleet_store *st;
    struct fleet_qs_iter it;
    fleet_tid cur[4];
    int have;
    int in_default;          /* filter to the default graph (merge) */
    librdf_statement *stmt;  /* materialised current statement, or NULL */
    librdf_node *ctx;        /* materialised current context, or NULL */
};

static void qstream_clear(struct qstream *qs)
{
    if (qs->stmt)
        librdf_free_statement(qs->stmt);
    if (qs->ctx)
        librdf_free_node(qs->ctx);
    qs->stmt = NULL;
    qs->ctx = NULL;
}

static void qstream_advance(struct qstream *s)
{
    qstream_clear(s);
    while ((s->have = fleet_qs_next(&s->it, s->cur))) {
        if (!s->in_default)
            break;
        if (default_has(s->st, s->cur[3]) && first_in_default(s->st, s->cur))
            break;
    }
}

static int qstream_is_end(void *ctx)
{
    return !((struct qstream *)ctx)->have;
}

static int qstream_next(void *ctx)
{
    qstream_advance(ctx);
    return !((struct qstream *)ctx)->have;
}

static void *qstream_get(void *ctx, int flags)
{
    struct qstream *s = ctx;
    if (!s->have)
        return NULL;
    if (flags == LIBRDF_STREAM_GET_METHOD_GET_CONTEXT) {
        if (s->cur[3] == FLEET_QS_DEFAULT_GRAPH)
            return NULL;
        if (!s->ctx)
            s->ctx = tid_to_node(s->st, s->cur[3]);
        return s->ctx;
    }
    if (!s->stmt) {
        librdf_node *n[3];
        for (int i = 0; i < 3; i++)
            n[i] = tid_to_node(s->st, s->cur[i]);
        if (!n[0] || !n[1] || !n[2]) {
            for (int i = 0; i < 3; i++)
                if (n[i])
                    librdf_free_node(n[i]);
            return NULL;
        }
        s->stmt = librdf_new_statement_from_nodes(s->st->world, n[0], n[1], n[2]);
    }
    return s->stmt;
}

static void qstream_finished(void *ctx)
{
    struct qstream *s = ctx;
    qstream_clear(s);
    free(s);
}

static librdf_stream *empty_stream(struct fleet_store *st)
{
    return librdf_new_empty_stream(st->world);
}

/* A stream over quads matching pattern; g is a graph id or FLEET_QS_ANY_GRAPH with
 * in_default set for the query's default graph. */
static librdf_stream *new_qstream(struct fleet_store *st, librdf_statement *pattern, fleet_tid g,
                                  int in_default)
{
    fleet_tid pat[4] = {FLEET_QS_ANY, FLEET_QS_ANY, FLEET_QS_ANY, g};
    if (pattern) {
        librdf_node *parts[3] = {librdf_statement_get_subject(pattern),
                                 librdf_statement_get_predicate(pattern),
                                 librdf_statement_get_object(pattern)};
        for (int i = 0; i < 3; i++) {
            if (!parts[i])
                continue;
            pat[i] = node_tid(st, parts[i]);
            if (pat[i] == 0)
                return empty_stream(st);
        }
    }
    struct qstream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->st = st;
    s->in_default = in_default;
    fleet_qs_find(st->qs, pat, &s->it);
    qstream_advance(s);
    librdf_stream *stream = librdf_new_stream(st->world, s, qstream_is_end, qstream_next,
                                              qstream_get, qstream_finished);
    if (!stream)
        qstream_finished(s);
    return stream;
}

static struct fleet_store *storage_store(librdf_storage *storage)
{
    return librdf_storage_get_instance(storage);
}

static int fs_init(librdf_storage *storage, const char *name, librdf_hash *options)
{
    if (options)
        librdf_free_hash(options);
    if (!opening_store)
        return 1;
    librdf_storage_set_instance(storage, opening_store);
    return 0;
}

static void fs_terminate(librdf_storage *storage)
{
}

static int fs_open(librdf_storage *storage, librdf_model *model)
{
    return 0;
}

static int fs_close(librdf_storage *storage)
{
    return 0;
}

static int fs_size(librdf_storage *storage)
{
    size_t n = fleet_qs_size(storage_store(storage)->qs);
    return n > (size_t)0x7fffffff ? 0x7fffffff : (int)n;
}

/* Writes go through fleet_txn and the journal, never through librdf. */
static int fs_add_statement(librdf_storage *storage, librdf_statement *statement)
{
    fleet_log(FLEET_LOG_ERR, "store: write through librdf refused (internal error)");
    return 1;
}

static int fs_add_statements(librdf_storage *storage, librdf_stream *stream)
{
    return fs_add_statement(storage, NULL);
}

static int fs_remove_statement(librdf_storage *storage, librdf_statement *statement)
{
    return fs_add_statement(storage, NULL);
}

static int fs_context_add(librdf_storage *storage, librdf_node *ctx, librdf_statement *statement)
{
    return fs_add_statement(storage, NULL);
}

static int fs_context_remove(librdf_storage *storage, librdf_node *ctx,
                             librdf_statement *statement)
{
    return fs_add_statement(storage, NULL);
}

static int fs_contains(librdf_storage *storage, librdf_statement *statement)
{
    struct fleet_store *st = storage_store(storage);
    librdf_stream *s = new_qstream(st, statement, FLEET_QS_ANY_GRAPH, 1);
    int found = s && !librdf_stream_end(s);
    if (s)
        librdf_free_stream(s);
    return found;
}

static librdf_stream *fs_serialise(librdf_storage *storage)
{
    return new_qstream(storage_store(storage), NULL, FLEET_QS_ANY_GRAPH, 1);
}

static librdf_stream *fs_find(librdf_storage *storage, librdf_statement *statement)
{
    return new_qstream(storage_store(storage), statement, FLEET_QS_ANY_GRAPH, 1);
}

static librdf_stream *fs_find_in_context(librdf_storage *storage, librdf_statement *statement,
                                         librdf_node *context)
{
    struct fleet_store *st = storage_store(storage);
    if (!context)
        return fs_find(storage, statement);
    fleet_tid g = node_tid(st, context);
    if (g == 0 || (st->view.active && !in_set(st->view.named, st->view.n_named, g)))
        return empty_stream(st);
    return new_qstream(st, statement, g, 0);
}

static librdf_stream *fs_context_serialise(librdf_storage *storage, librdf_node *context)
{
    return fs_find_in_context(storage, NULL, context);
}

struct giter {
    struct fleet_store *st;
    fleet_tid *ids;
    long n;          /* graphs of the store in ids */
    long n_absent;   /* then st->view.absent[0..n_absent) */
    long pos;
    librdf_node *cur;
};

static int giter_is_end(void *ctx)
{
    struct giter *g = ctx;
    return g->pos >= g->n + g->n_absent;
}

static int giter_next(void *ctx)
{
    struct giter *g = ctx;
    if (g->cur)
        librdf_free_node(g->cur);
    g->cur = NULL;
    g->pos++;
    return g->pos >= g->n + g->n_absent;
}

static void *giter_get(void *ctx, int flags)
{
    struct giter *g = ctx;
    if (g->pos >= g->n + g->n_absent || flags != LIBRDF_ITERATOR_GET_METHOD_GET_OBJECT)
        return NULL;
    if (!g->cur)
        g->cur = g->pos < g->n
                     ? tid_to_node(g->st, g->ids[g->pos])
                     : librdf_new_node_from_uri_string(
                           g->st->world,
                           (const unsigned char *)g->st->view.absent[g->pos - g->n]);
    return g->cur;
}

static void giter_finished(void *ctx)
{
    struct giter *g = ctx;
    if (g->cur)
        librdf_free_node(g->cur);
    free(g->ids);
    free(g);
}

static librdf_iterator *fs_get_contexts(librdf_storage *storage)
{
    struct fleet_store *st = storage_store(storage);
    struct giter *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->st = st;
    if (st->view.no_graphs) {
        g->ids = NULL;
        g->n = 0;
    } else {
        g->n = fleet_qs_graphs(st->qs, &g->ids);
    }
    if (g->n < 0) {
        free(g);
        return NULL;
    }
    if (st->view.active) {
        long k = 0;
        for (long i = 0; i < g->n; i++)
            if (in_set(st->view.named, st->view.n_named, g->ids[i]))
                g->ids[k++] = g->ids[i];
        g->n = k;
    }
    /* Graph IRIs the query names that are not among these (fs_find_in_context answers them with
     * nothing). */
    g->n_absent = (long)st->view.n_absent;
    librdf_iterator *it = librdf_new_iterator(st->world, g, giter_is_end, giter_next, giter_get,
                                              giter_finished);
    if (!it)
        giter_finished(g);
    return it;
}

static librdf_node *fs_get_feature(librdf_storage *storage, librdf_uri *feature)
{
    if (feature &&
        strcmp((const char *)librdf_uri_as_string(feature), LIBRDF_MODEL_FEATURE_CONTEXTS) == 0)
        return librdf_new_node_from_typed_literal(librdf_storage_get_world(storage),
                                                  (const unsigned char *)"1", NULL, NULL);
    return NULL;
}

static void fs_register(librdf_storage_factory *f)
{
    f->version = LIBRDF_STORAGE_INTERFACE_VERSION;
    f->init = fs_init;
    f->terminate = fs_terminate;
    f->open = fs_open;
    f->close = fs_close;
    f->size = fs_size;
    f->add_statement = fs_add_statement;
    f->add_statements = fs_add_statements;
    f->remove_statement = fs_remove_statement;
    f->contains_statement = fs_contains;
    f->serialise = fs_serialise;
    f->find_statements = fs_find;
    f->context_add_statement = fs_context_add;
    f->context_remove_statement = fs_context_remove;
    f->context_serialise = fs_context_serialise;
    f->find_statements_in_context = fs_find_in_context;
    f->get_contexts = fs_get_contexts;
    f->get_feature = fs_get_feature;
}

/* ---- RDF syntaxes ------------------------------------------------------------------------ */

static const struct {
    const char *mime;
    const char *raptor; /* parser/serializer name */
    enum fleet_rdf_syntax syn;
} syntaxes[] = {
    {"text/turtle", "turtle", FLEET_RDF_TURTLE},
    {"application/x-turtle", "turtle", FLEET_RDF_TURTLE},
    {"application/n-triples", "ntriples", FLEET_RDF_NTRIPLES},
    {"text/plain", "ntriples", FLEET_RDF_NTRIPLES},
    {"application/n-quads", "nquads", FLEET_RDF_NQUADS},
    {"text/x-nquads", "nquads", FLEET_RDF_NQUADS},
    {"application/rdf+xml", "rdfxml", FLEET_RDF_RDFXML},
    {"application/trig", "trig", FLEET_RDF_TRIG},
};

int fleet_rdf_syntax_from_mime(const char *content_type)
{
    if (!content_type)
        return -1;
    for (size_t i = 0; i < sizeof(syntaxes) / sizeof(syntaxes[0]); i++)
        if (fleet_media_type_is(content_type, syntaxes[i].mime))
            return (int)syntaxes[i].syn;
    return -1;
}

const char *fleet_rdf_syntax_mime(enum fleet_rdf_syntax syn)
{
    for (size_t i = 0; i < sizeof(syntaxes) / sizeof(syntaxes[0]); i++)
        if (syntaxes[i].syn == syn)
            return syntaxes[i].mime;
    return "application/octet-stream";
}

static const char *raptor_name(enum fleet_rdf_syntax syn)
{
    for (size_t i = 0; i < sizeof(syntaxes) / sizeof(syntaxes[0]); i++)
        if (syntaxes[i].syn == syn)
            return syntaxes[i].raptor;
    return "turtle";
}

/* Prefixes a Turtle/RDF-XML writer uses to keep the output readable. */
static const char *const well_known_prefixes[][2] = {
    {"rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"},
    {"rdfs", "http://www.w3.org/2000/01/rdf-schema#"},
    {"xsd", "http://www.w3.org/2001/XMLSchema#"},
    {"owl", "http://www.w3.org/2002/07/owl#"},
    {"schema", "https://schema.org/"},
    {"nnet", "http://tinyml-schema.org/networkschema#"},
    {"s3n", "http://w3id.org/s3n/"},
    {"ssn", "http://www.w3.org/ns/ssn/"},
    {"sosa", "http://www.w3.org/ns/sosa/"},
    {"td", "https://www.w3.org/2019/wot/td#"},
    {"fleet", "https://tinyfleet.dev/ns#"},
};

/* A serializer writing into out (through a raptor string iostream flushed by the caller). */
struct ser {
    raptor_serializer *ser;
    raptor_iostream *ios;
    void *str;
    size_t len;
};

static int ser_start(struct fleet_store *st, struct ser *s, const char *name)
{
    raptor_world *rw = librdf_world_get_raptor(st->world);
    memset(s, 0, sizeof(*s));
    s->ser = raptor_new_serializer(rw, name);
    if (!s->ser)
        return -1;
    if (strcmp(name, "turtle") == 0 || strcmp(name, "rdfxml-abbrev") == 0 ||
        strcmp(name, "trig") == 0) {
        for (size_t i = 0; i < sizeof(well_known_prefixes) / sizeof(well_known_prefixes[0]); i++) {
            raptor_uri *u =
                raptor_new_uri(rw, (const unsigned char *)well_known_prefixes[i][1]);
            if (u) {
                raptor_serializer_set_namespace(s->ser, u,
                                                (const unsigned char *)well_known_prefixes[i][0]);
                raptor_free_uri(u);
            }
        }
    }
    s->ios = raptor_new_iostream_to_string(rw, &s->str, &s->len, malloc);
    if (!s->ios || raptor_serializer_start_to_iostream(s->ser, NULL, s->ios) != 0) {
        if (s->ios)
            raptor_free_iostream(s->ios);
        raptor_free_serializer(s->ser);
        return -1;
    }
    return 0;
}

/* Ends the document and appends it to out. */
static int ser_finish(struct ser *s, struct fleet_buf *out)
{
    raptor_serializer_serialize_end(s->ser);
    raptor_free_serializer(s->ser);
    raptor_free_iostream(s->ios); /* sets str/len */
    if (!s->str)
        return -1;
    fleet_buf_append(out, s->str, s->len);
    free(s->str);
    return out->oom ? -1 : 0;
}

/* ---- opening ------------------------------------------------------------------------------ */

static enum fleet_err load_file_into(struct fleet_store *st, struct fleet_txn *txn,
                                     const char *graph, enum fleet_rdf_syntax syn,
                                     const char *path, const char *base, uint64_t *count,
                                     char *err, size_t errlen);

static enum fleet_err load_ontology(struct fleet_store *st, const char *dir, char *err,
                                    size_t errlen)
{
    struct fleet_term g = {FLEET_TERM_IRI, FLEET_ONTOLOGY_GRAPH, NULL, NULL};
    enum fleet_err rc = FLEET_OK;
    struct fleet_txn *txn = fleet_txn_new();
    DIR *d = NULL;
    if (!txn)
        return FLEET_ERR_NOMEM;
    /* The ontology graph is not journaled: it is rebuilt from the files at every start. */
    fleet_txn_clear_graph(txn, &g);
    if (dir && dir[0]) {
        d = opendir(dir);
        if (!d) {
            fleet_errf(err, errlen, "%s: %s", dir, strerror(errno));
            rc = FLEET_ERR_IO;
            goto out;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t n = strlen(de->d_name);
            if (n < 5 || strcmp(de->d_name + n - 4, ".ttl") != 0)
                continue;
            char path[4096];
            uint64_t count = 0;
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            rc = load_file_into(st, txn, FLEET_ONTOLOGY_GRAPH, FLEET_RDF_TURTLE, path, NULL,
                                &count, err, errlen);
            if (rc != FLEET_OK)
                goto out;
            fleet_log(FLEET_LOG_DEBUG, "ontology: %s: %llu triples", path,
                      (unsigned long long)count);
        }
    }
    rc = fleet_txn_apply(txn, st->qs);
    if (rc == FLEET_OK) {
        st->onto_g = fleet_qs_intern(st->qs, &g);
    }
out:
    if (d)
        closedir(d);
    fleet_txn_free(txn);
    return rc;
}

enum fleet_err fleet_store_open(const struct fleet_store_options *opt, struct fleet_store **out,
                                char *err, size_t errlen)
{
    enum fleet_err rc = FLEET_ERR_NOMEM;
    struct fleet_store *st = calloc(1, sizeof(*st));
    *out = NULL;
    if (!st) {
        fleet_errf(err, errlen, "out of memory");
        return FLEET_ERR_NOMEM;
    }
    pthread_mutex_init(&st->lock, NULL);
    st->allow_service = opt->allow_service;
    st->rasqal_only = opt->rasqal_only;
    st->check = fleet_sparql_check_new(0, 0);
    if (!st->check) {
        free(st);
        fleet_errf(err, errlen, "out of memory");
        return FLEET_ERR_NOMEM;
    }
    st->inline_steps = opt->inline_steps ? opt->inline_steps : INLINE_STEPS;
    if (mkdir(opt->state_dir, 0750) != 0 && errno != EEXIST) {
        fleet_errf(err, errlen, "%s: %s", opt->state_dir, strerror(errno));
        rc = FLEET_ERR_IO;
        goto fail;
    }
    st->qs = fleet_qs_new();
    if (!st->qs)
        goto fail;
    if (opt->pg_conninfo && opt->pg_conninfo[0]) {
        struct fleet_pgj_options po = {opt->pg_conninfo, opt->state_dir, opt->pg_poll_ms,
                                       opt->snapshot_journal_bytes};
        rc = fleet_pgj_open(&po, &st->qs, &st->lock, &st->generation, &st->pg, err, errlen);
        if (rc != FLEET_OK)
            goto fail;
        st->cluster = fleet_cluster_new(st->pg, opt->pg_poll_ms);
        if (!st->cluster) {
            rc = FLEET_ERR_NOMEM;
            goto fail;
        }
    } else {
        rc = fleet_durable_open(opt->state_dir, st->qs, &st->dur);
    }
    if (rc != FLEET_OK) {
        fleet_errf(err, errlen, "%s: cannot open the store: %s%s", opt->state_dir,
                   fleet_strerror(rc),
                   rc == FLEET_ERR_EXISTS ? " (another tinyfleetd uses this directory)" : "");
        goto fail;
    }
    if (opt->snapshot_journal_bytes && st->dur)
        fleet_durable_set_min_journal_bytes(st->dur, opt->snapshot_journal_bytes);

    rc = FLEET_ERR_INTERNAL;
    st->world = librdf_new_world();
    if (!st->world)
        goto fail;
    librdf_world_set_logger(st->world, st, redland_logger);
    librdf_world_set_raptor_init_handler(st->world, NULL, raptor_init);
    librdf_world_open(st->world);
    rasqal_world_set_log_handler(librdf_world_get_rasqal(st->world), st, raptor_log);
    raptor_world_set_log_handler(librdf_world_get_raptor(st->world), st, raptor_log);

    pthread_mutex_lock(&st->lock);
    opening_store = st;
    if (librdf_storage_register_factory(st->world, "fleet", "tinyfleet quad store",
                                        fs_register) == 0)
        st->storage = librdf_new_storage(st->world, "fleet", "fleet", NULL);
    opening_store = NULL;
    if (st->storage)
        st->model = librdf_new_model(st->world, st->storage, NULL);
    pthread_mutex_unlock(&st->lock);
    if (!st->model || !librdf_model_supports_contexts(st->model)) {
        fleet_errf(err, errlen, "cannot create the librdf model over the fleet storage");
        goto fail;
    }
    pthread_mutex_lock(&st->lock);
    rc = load_ontology(st, opt->ontology_dir, err, errlen);
    pthread_mutex_unlock(&st->lock);
    if (rc != FLEET_OK)
        goto fail;
    *out = st;
    return FLEET_OK;
fail:
    if (err && errlen && !err[0])
        fleet_errf(err, errlen, "cannot open the store: %s", fleet_strerror(rc));
    fleet_store_close(st);
    return rc;
}

void fleet_store_close(struct fleet_store *st)
{
    if (!st)
        return;
    /* The follower applies under st->lock: stop it first. The cluster's locks go with it. */
    fleet_cluster_free(st->cluster);
    fleet_pgj_stop(st->pg);
    pthread_mutex_lock(&st->lock);
    if (st->pg) {
        if (fleet_pgj_snapshot(st->pg) != FLEET_OK)
            fleet_log(FLEET_LOG_WARNING, "store: the snapshot cache was not written; the next "
                                         "start replays more of the PostgreSQL journal");
        fleet_pgj_close(st->pg);
    }
    if (st->dur) {
        enum fleet_err rc = fleet_durable_snapshot(st->dur, st->qs);
        if (rc != FLEET_OK)
            fleet_log(FLEET_LOG_WARNING, "store: final snapshot failed: %s (the journal is "
                                         "intact; the next start replays it)",
                      fleet_strerror(rc));
        fleet_durable_close(st->dur);
    }
    if (st->model)
        librdf_free_model(st->model);
    if (st->storage)
        librdf_free_storage(st->storage);
    if (st->world)
        librdf_free_world(st->world);
    if (st->onto_g)
        fleet_qs_unref(st->qs, st->onto_g);
    fleet_qs_free(st->qs);
    fleet_buf_free(&st->liberr);
    pthread_mutex_unlock(&st->lock);
    pthread_mutex_destroy(&st->lock);
    fleet_sparql_check_free(st->check);
    free(st);
}

void fleet_store_maintain(struct fleet_store *st)
{
    pthread_mutex_lock(&st->lock);
    enum fleet_err rc = FLEET_OK;
    if (st->pg)
        fleet_pgj_maintain(st->pg);
    else
        rc = fleet_durable_maintain(st->dur, st->qs);
    pthread_mutex_unlock(&st->lock);
    if (rc != FLEET_OK)
        fleet_log(FLEET_LOG_WARNING, "store: background snapshot: %s", fleet_strerror(rc));
}

void fleet_store_stats(struct fleet_store *st, struct fleet_store_stats *out)
{
    struct fleet_durable_stats ds;
    fleet_tid *ids = NULL;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&st->lock);
    out->quads = fleet_qs_size(st->qs);
    long n = fleet_qs_graphs(st->qs, &ids);
    out->graphs = n > 0 ? (uint64_t)n : 0;
    free(ids);
    out->generation = st->generation;
    out->memory_bytes = fleet_qs_memory(st->qs);
    out->queries_native = st->queries_native;
    out->queries_rasqal = st->queries_rasqal;
    out->queries_inline = st->queries_inline;
    struct fleet_sparql_check_stats cs;
    fleet_sparql_check_stats(st->check, &cs);
    out->parse_checks = cs.checks;
    out->parse_remembered = cs.remembered;
    out->parse_refused = cs.refused;
    out->parse_helpers = cs.helpers_started;
    fleet_durable_stats(st->dur, &ds);
    out->journal_bytes = ds.journal_bytes;
    out->snapshot_bytes = ds.snapshot_bytes;
    pthread_mutex_unlock(&st->lock);
}

void fleet_store_each_graph(struct fleet_store *st, fleet_store_graph_fn fn, void *ctx)
{
    fleet_tid *ids = NULL;
    pthread_mutex_lock(&st->lock);
    size_t dflt = fleet_qs_graph_size(st->qs, FLEET_QS_DEFAULT_GRAPH);
    if (dflt)
        fn(ctx, NULL, dflt);
    long n = fleet_qs_graphs(st->qs, &ids);
    for (long i = 0; i < n; i++) {
        struct fleet_term t;
        if (fleet_qs_term(st->qs, ids[i], &t) != FLEET_OK)
            continue;
        fn(ctx, t.kind == FLEET_TERM_IRI ? t.value : "", fleet_qs_graph_size(st->qs, ids[i]));
    }
    pthread_mutex_unlock(&st->lock);
    free(ids);
}

/* ---- parsing into a transaction ----------------------------------------------------------- */

struct parse_ctx {
    struct fleet_store *st;
    struct fleet_txn *txn;
    struct fleet_term graph; /* kind NONE = default graph */
    uint64_t count;
    int failed;
};

static void on_statement(void *user_data, raptor_statement *s)
{
    struct parse_ctx *pc = user_data;
    struct fleet_term q[4];
    if (pc->failed)
        return;
    if (rterm_to_term(s->subject, &q[0]) || rterm_to_term(s->predicate, &q[1]) ||
        rterm_to_term(s->object, &q[2])) {
        pc->failed = FLEET_ERR_INVAL;
        return;
    }
    if (s->graph) {
        if (rterm_to_term(s->graph, &q[3])) {
            pc->failed = FLEET_ERR_INVAL;
            return;
        }
    } else {
        q[3] = pc->graph;
    }
    enum fleet_err rc = fleet_txn_add(pc->txn, q);
    if (rc != FLEET_OK)
        pc->failed = rc;
    pc->count++;
}

/* Parses path into txn (graph NULL: default graph). Caller holds the lock. */
static enum fleet_err load_file_into(struct fleet_store *st, struct fleet_txn *txn,
                                     const char *graph, enum fleet_rdf_syntax syn,
                                     const char *path, const char *base, uint64_t *count,
                                     char *err, size_t errlen)
{
    raptor_world *rw = librdf_world_get_raptor(st->world);
    struct parse_ctx pc = {st, txn, {FLEET_TERM_NONE, NULL, NULL, NULL}, 0, 0};
    raptor_uri *base_uri = NULL;
    raptor_parser *p = NULL;
    enum fleet_err rc = FLEET_OK;
    FILE *f = NULL;
    if (graph) {
        pc.graph.kind = FLEET_TERM_IRI;
        pc.graph.value = graph;
    }
    fleet_buf_reset(&st->liberr);
    f = fopen(path, "rb");
    if (!f) {
        fleet_errf(err, errlen, "%s: %s", path, strerror(errno));
        return FLEET_ERR_IO;
    }
    p = raptor_new_parser(rw, raptor_name(syn));
    base_uri = raptor_new_uri(rw, (const unsigned char *)(base && base[0] ? base
                                                                         : "urn:tinyfleet:base"));
    if (!p || !base_uri) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    /* The parser must never fetch anything (RDF/XML entities, Turtle @base tricks). */
    raptor_parser_set_option(p, RAPTOR_OPTION_NO_NET, NULL, 1);
    raptor_parser_set_option(p, RAPTOR_OPTION_NO_FILE, NULL, 1);
    raptor_parser_set_statement_handler(p, &pc, on_statement);
    int prc = raptor_parser_parse_file_stream(p, f, NULL, base_uri);
    if (pc.failed) {
        rc = pc.failed;
        fleet_errf(err, errlen, "%s", rc == FLEET_ERR_NOMEM ? "out of memory" : "unusable term");
    } else if (prc != 0 || st->liberr.len) {
        rc = FLEET_ERR_INVAL;
        fleet_errf(err, errlen, "%s", liberr_text(st, "syntax error"));
    }
    *count = pc.count;
out:
    if (p)
        raptor_free_parser(p);
    if (base_uri)
        raptor_free_uri(base_uri);
    fclose(f);
    return rc;
}

static int is_ontology(const char *graph)
{
    return graph && strcmp(graph, FLEET_ONTOLOGY_GRAPH) == 0;
}

enum fleet_err fleet_store_graph_load(struct fleet_store *st, const char *graph, int replace,
                                      enum fleet_rdf_syntax syn, const char *path,
                                      const char *base, uint64_t *count, int *created,
                                      char *err, size_t errlen)
{
    enum fleet_err rc;
    struct fleet_txn *txn;
    if (is_ontology(graph)) {
        fleet_errf(err, errlen, "the ontology graph is read-only");
        return FLEET_ERR_FORBIDDEN;
    }
    txn = fleet_txn_new();
    if (!txn)
        return FLEET_ERR_NOMEM;
    rc = write_enter(st);
    if (rc != FLEET_OK) {
        fleet_errf(err, errlen, "cannot commit: %s", fleet_strerror(rc));
        fleet_txn_free(txn);
        return rc;
    }
    pthread_mutex_lock(&st->lock);
    fleet_tid g = graph ? iri_tid(st, graph) : FLEET_QS_DEFAULT_GRAPH;
    *created = !(graph ? g && fleet_qs_graph_size(st->qs, g) : fleet_qs_graph_size(st->qs, 0));
    if (replace) {
        struct fleet_term gt = {FLEET_TERM_IRI, graph, NULL, NULL};
        rc = fleet_txn_clear_graph(txn, graph ? &gt : NULL);
        if (rc != FLEET_OK)
            goto out;
    }
    rc = load_file_into(st, txn, graph, syn, path, base, count, err, errlen);
    if (rc != FLEET_OK)
        goto out;
    if (*count == 0)
        *created = 0; /* empty graphs are not kept: nothing was created */
    /* A quad format may name the ontology graph too. */
    rc = journal_commit(st, txn);
    if (rc == FLEET_OK)
        st->generation++;
    else
        fleet_errf(err, errlen, "cannot commit: %s", fleet_strerror(rc));
out:
    pthread_mutex_unlock(&st->lock);
    write_leave(st);
    fleet_txn_free(txn);
    return rc;
}

int fleet_store_graph_exists(struct fleet_store *st, const char *graph)
{
    pthread_mutex_lock(&st->lock);
    fleet_tid g = graph ? iri_tid(st, graph) : FLEET_QS_DEFAULT_GRAPH;
    int exists = (graph == NULL || g != 0) && fleet_qs_graph_size(st->qs, g) > 0;
    pthread_mutex_unlock(&st->lock);
    return exists;
}

enum fleet_err fleet_store_graph_delete(struct fleet_store *st, const char *graph)
{
    enum fleet_err rc = FLEET_ERR_NOTFOUND;
    struct fleet_term gt = {FLEET_TERM_IRI, graph, NULL, NULL};
    if (is_ontology(graph))
        return FLEET_ERR_FORBIDDEN;
    struct fleet_txn *txn = fleet_txn_new();
    if (!txn)
        return FLEET_ERR_NOMEM;
    rc = write_enter(st);
    if (rc != FLEET_OK) {
        fleet_txn_free(txn);
        return rc;
    }
    rc = FLEET_ERR_NOTFOUND;
    pthread_mutex_lock(&st->lock);
    fleet_tid g = graph ? iri_tid(st, graph) : FLEET_QS_DEFAULT_GRAPH;
    if ((graph == NULL || g != 0) && fleet_qs_graph_size(st->qs, g) > 0) {
        rc = fleet_txn_clear_graph(txn, graph ? &gt : NULL);
        if (rc == FLEET_OK)
            rc = journal_commit(st, txn);
        if (rc == FLEET_OK)
            st->generation++;
    }
    pthread_mutex_unlock(&st->lock);
    write_leave(st);
    fleet_txn_free(txn);
    return rc;
}

/* Serialises the quads matching g into out with raptor serializer name. Caller holds the lock. */
static enum fleet_err serialise_graph(struct fleet_store *st, fleet_tid g, const char *name,
                                      struct fleet_buf *out)
{
    struct ser s;
    fleet_tid pat[4] = {0, 0, 0, g}, q[4];
    struct fleet_qs_iter it;
    if (ser_start(st, &s, name) != 0)
        return FLEET_ERR_INTERNAL;
    fleet_qs_find(st->qs, pat, &it);
    while (fleet_qs_next(&it, q)) {
        librdf_node *n[3];
        for (int i = 0; i < 3; i++)
            n[i] = tid_to_node(st, q[i]);
        if (n[0] && n[1] && n[2]) {
            librdf_statement *stmt = librdf_new_statement_from_nodes(st->world, n[0], n[1], n[2]);
            if (stmt) {
                raptor_serializer_serialize_statement(s.ser, stmt);
                librdf_free_statement(stmt);
            }
        } else {
            for (int i = 0; i < 3; i++)
                if (n[i])
                    librdf_free_node(n[i]);
        }
    }
    return ser_finish(&s, out) == 0 ? FLEET_OK : FLEET_ERR_NOMEM;
}

enum fleet_err fleet_store_graph_get(struct fleet_store *st, const char *graph,
                                     enum fleet_rdf_syntax syn, struct fleet_buf *out)
{
    enum fleet_err rc = FLEET_ERR_NOTFOUND;
    const char *name = raptor_name(syn);
    if (syn == FLEET_RDF_NQUADS || syn == FLEET_RDF_TRIG)
        name = syn == FLEET_RDF_NQUADS ? "ntriples" : "turtle"; /* one graph: triples suffice */
    pthread_mutex_lock(&st->lock);
    fleet_tid g = graph ? iri_tid(st, graph) : FLEET_QS_DEFAULT_GRAPH;
    /* The default graph always exists (possibly empty); a named graph exists while it holds
     * triples. */
    if (graph == NULL || (g != 0 && fleet_qs_graph_size(st->qs, g) > 0))
        rc = serialise_graph(st, g, name, out);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- SPARQL queries ------------------------------------------------------------------------ */

static const char *skip_lexeme(const char *p, const char *end);

/* 1 if text holds the keyword GRAPH outside strings, IRIs and comments. */
static int mentions_graph(const char *text)
{
    const char *p = text, *end = text + strlen(text);
    while (p < end) {
        const char *q = skip_lexeme(p, end);
        if (q != p) {
            p = q;
            continue;
        }
        if ((*p == 'g' || *p == 'G') && strncasecmp(p, "GRAPH", 5) == 0 &&
            (p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == ':' ||
                            p[-1] == '?' || p[-1] == '$')) &&
            !(isalnum((unsigned char)p[5]) || p[5] == '_' || p[5] == ':'))
            return 1;
        p++;
    }
    return 0;
}

/* rasqal 0.9.33 cannot parse FILTER NOT EXISTS. When it is the last element of its group it
 * means exactly OPTIONAL { P BIND(true AS ?m) } FILTER(!BOUND(?m)): a solution survives iff P
 * has no match compatible with it. Other positions are left alone (and answered 501). Returns
 * the number of rewrites; out receives the text. */
static int rewrite_not_exists(const char *in, struct fleet_buf *out)
{
    const char *p = in, *end = in + strlen(in), *copied = in;
    int n = 0;
    while (p < end) {
        const char *q = skip_lexeme(p, end);
        if (q != p) {
            p = q;
            continue;
        }
        if (strncasecmp(p, "FILTER", 6) == 0 && (p == in || !isalnum((unsigned char)p[-1]))) {
            const char *f = p + 6;
            while (f < end && strchr(" \t\r\n", *f))
                f++;
            if (strncasecmp(f, "NOT", 3) == 0 && f + 3 < end && strchr(" \t\r\n", f[3])) {
                f += 3;
                while (f < end && strchr(" \t\r\n", *f))
                    f++;
                if (strncasecmp(f, "EXISTS", 6) == 0) {
                    f += 6;
                    while (f < end && strchr(" \t\r\n", *f))
                        f++;
                    if (*f == '{') {
                        const char *b = f;
                        int depth = 0;
                        while (f < end) {
                            q = skip_lexeme(f, end);
                            if (q != f) {
                                f = q;
                                continue;
                            }
                            if (*f == '{')
                                depth++;
                            else if (*f == '}' && --depth == 0) {
                                f++;
                                break;
                            }
                            f++;
                        }
                        const char *after = f;
                        while (after < end && strchr(" \t\r\n.", *after))
                            after++;
                        if (depth == 0 && after < end && *after == '}') {
                            fleet_buf_append(out, copied, (size_t)(p - copied));
                            fleet_buf_printf(out, "OPTIONAL { ");
                            fleet_buf_append(out, b + 1, (size_t)(f - b - 2));
                            fleet_buf_printf(out, " BIND(true AS ?__fleet_ne%d) } "
                                                  "FILTER(!BOUND(?__fleet_ne%d)) ", n, n);
                            copied = p = f;
                            n++;
                            continue;
                        }
                    }
                }
            }
        }
        p++;
    }
    fleet_buf_append(out, copied, (size_t)(end - copied));
    return n;
}

enum form {
    FORM_SELECT,
    FORM_ASK,
    FORM_GRAPH,    /* CONSTRUCT */
    FORM_DESCRIBE,
};

static const char *const table_offers[] = {"application/sparql-results+json",
                                           "application/sparql-results+xml", "text/csv",
                                           "text/tab-separated-values"};
static const enum fleet_rfmt table_formats[] = {FLEET_RFMT_JSON, FLEET_RFMT_XML, FLEET_RFMT_CSV,
                                                FLEET_RFMT_TSV};
static const char *const graph_offers[] = {"text/turtle", "application/n-triples",
                                           "application/rdf+xml"};
static const char *const graph_serializers[] = {"turtle", "ntriples", "rdfxml-abbrev"};

/* What a query child needs; everything is prepared in the parent, before fork(). */
struct query_job {
    struct fleet_store *st;
    const char *text;           /* rewritten query */
    const char *base;
    enum form form;
    enum fleet_rfmt rfmt;       /* SELECT / ASK */
    const char *serializer;     /* CONSTRUCT / DESCRIBE */
    uint64_t max_rows;
    struct view view;
    char **describe_iris;       /* DESCRIBE targets named directly */
    const char *describe_select; /* SELECT giving the other DESCRIBE targets, or "" */
    char **vars;                /* SELECT projection, from the parse (librdf reports no
                                   variables for an empty result) */
    size_t nvars;
    struct fleet_term *empty_row; /* the row an implicit-group aggregate query yields over no
                                     solutions (rasqal yields none), or NULL */
    struct fleet_bgp *plan;      /* the native engine's plan (bgp.h) made by the parent from
                                    its parse, or NULL to leave the query to rasqal */
    struct fleet_sparql_slice slice; /* the DISTINCT, OFFSET and LIMIT taken out of the SELECT
                                        the child runs (text, or describe_select), which the
                                        child applies to rasqal's rows itself */
};

/* Child side: writes an error marker, the message, and returns the exit code for err. */
static int child_fail(int fd, enum fleet_err err, const char *msg)
{
    fleet_write_all(fd, ERR_MARK, sizeof(ERR_MARK) - 1);
    fleet_write_all(fd, msg, strlen(msg));
    return 10 + (int)err;
}

static int flush_buf(int fd, struct fleet_buf *b)
{
    if (b->oom)
        return -1;
    if (b->len && fleet_write_all(fd, b->data, b->len) != 0)
        return -1;
    fleet_buf_reset(b);
    return 0;
}

static librdf_query_results *child_execute(struct fleet_store *st, const char *text,
                                           const char *base, librdf_query **qout)
{
    librdf_uri *base_uri = NULL;
    if (base && base[0])
        base_uri = librdf_new_uri(st->world, (const unsigned char *)base);
    librdf_query *q = librdf_new_query(st->world, "sparql", NULL, (const unsigned char *)text,
                                       base_uri);
    if (base_uri)
        librdf_free_uri(base_uri);
    *qout = q;
    if (!q)
        return NULL;
    return librdf_model_query_execute(st->model, q);
}

/* The rows a child has seen, for the DISTINCT it applies itself (see
 * fleet_sparql_take_distinct): each row serialised once into keys, found through an
 * open-addressing table of 64-bit hashes and confirmed by comparing the bytes. */
struct rowslot {
    uint64_t hash;
    size_t off, len; /* the row in keys */
    int used;
};

struct rowset {
    struct rowslot *slot; /* cap slots; cap is 0 or a power of two */
    size_t cap, n;
    struct fleet_buf keys; /* the serialised rows, back to back */
    struct fleet_buf row;  /* scratch: the row being looked up */
};

static void rowset_free(struct rowset *rs)
{
    free(rs->slot);
    fleet_buf_free(&rs->keys);
    fleet_buf_free(&rs->row);
    memset(rs, 0, sizeof(*rs));
}

/* A string field, length first, so no two rows serialise alike (NULL differs from ""); lower
 * folds ASCII case (by hand: <ctype.h> follows the locale), for language tags, which RDF
 * compares without case. */
static void row_put(struct fleet_buf *b, const char *s, int lower)
{
    size_t len = s ? strlen(s) : 0;
    fleet_buf_putc(b, s ? 1 : 0);
    if (!s)
        return;
    fleet_buf_append(b, &len, sizeof(len));
    if (!lower) {
        fleet_buf_append(b, s, len);
        return;
    }
    for (size_t i = 0; i < len; i++)
        fleet_buf_putc(b, s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i]);
}

static size_t rowset_find(const struct rowset *rs, uint64_t h, const char *row, size_t len)
{
    size_t i = (size_t)h & (rs->cap - 1);
    while (rs->slot[i].used && !(rs->slot[i].hash == h && rs->slot[i].len == len &&
                                 memcmp(rs->keys.data + rs->slot[i].off, row, len) == 0))
        i = (i + 1) & (rs->cap - 1);
    return i;
}

/* Adds the row of n terms (kind, value, datatype and language of each; an unbound term differs
 * from every value) unless an equal one is there. Returns 1 if it was new, 0 if seen before, -1
 * when out of memory. */
static int rowset_add(struct rowset *rs, const struct fleet_term *vals, size_t n)
{
    struct fleet_buf *r = &rs->row;
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    fleet_buf_reset(r);
    for (size_t i = 0; i < n; i++) {
        fleet_buf_putc(r, (char)vals[i].kind);
        if (vals[i].kind == FLEET_TERM_NONE)
            continue;
        row_put(r, vals[i].value, 0);
        if (vals[i].kind == FLEET_TERM_LITERAL) {
            row_put(r, vals[i].datatype, 0);
            row_put(r, vals[i].lang, 1);
        }
    }
    if (r->oom)
        return -1;
    for (size_t i = 0; i < r->len; i++)
        h = (h ^ (unsigned char)r->data[i]) * 1099511628211u;
    if ((rs->n + 1) * 2 > rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 1024;
        struct rowslot *old = rs->slot;
        size_t oldcap = rs->cap;
        if (cap > SIZE_MAX / sizeof(*old) || !(rs->slot = calloc(cap, sizeof(*old)))) {
            rs->slot = old;
            return -1;
        }
        rs->cap = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].used)
                rs->slot[rowset_find(rs, old[i].hash, rs->keys.data + old[i].off, old[i].len)] =
                    old[i];
        free(old);
    }
    size_t i = rowset_find(rs, h, r->data, r->len);
    if (rs->slot[i].used)
        return 0;
    size_t off = rs->keys.len;
    fleet_buf_append(&rs->keys, r->data, r->len);
    if (rs->keys.oom)
        return -1;
    rs->slot[i] = (struct rowslot){h, off, r->len, 1};
    rs->n++;
    return 1;
}

/* For a DISTINCT the child applies: whether to keep a row (1), skip it (0: a repeat, or within
 * OFFSET), or -1 when out of memory. *skipped counts the distinct rows OFFSET dropped. */
static int slice_keep(const struct fleet_sparql_slice *sl, struct rowset *seen,
                      const struct fleet_term *vals, size_t n, uint64_t *skipped)
{
    if (!sl->distinct)
        return 1;
    int r = rowset_add(seen, vals, n);
    if (r <= 0)
        return r;
    if (*skipped < sl->offset) {
        (*skipped)++;
        return 0;
    }
    return 1;
}

static void free_nodes(librdf_node **nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (nodes[i])
            librdf_free_node(nodes[i]);
        nodes[i] = NULL;
    }
}

/* Where a SELECT's rows go, from rasqal or from the native engine (bgp.h): the DISTINCT,
 * OFFSET and LIMIT the child applies, max_result_rows, the result writer, and flushes. */
struct sel_sink {
    struct query_job *job;
    int fd;                  /* the child's pipe, or -1 for an inline run (see run_inline) */
    size_t cap;              /* inline: the most bytes to build before giving up */
    struct fleet_buf out;
    struct fleet_term *vals; /* the row being given, job->nvars terms */
    struct rowset seen;
    uint64_t rows, read, skipped;
    struct fleet_rw *rw;
    int rc; /* the child's exit code once failed */
};

/* A failure: reported on the child's pipe; an inline run just gives up (rc -1), and the query
 * is then run in a child, which reports it. */
static void sink_fail(struct sel_sink *k, enum fleet_err err, const char *msg)
{
    k->rc = k->fd >= 0 ? child_fail(k->fd, err, msg) : -1;
}

static int sink_open(struct sel_sink *k, struct query_job *job, int fd)
{
    memset(k, 0, sizeof(*k));
    k->job = job;
    k->fd = fd;
    k->out = (struct fleet_buf)FLEET_BUF_INIT;
    k->vals = calloc(job->nvars ? job->nvars : 1, sizeof(*k->vals));
    if (k->vals)
        k->rw = fleet_rw_new(job->rfmt, (const char *const *)job->vars, job->nvars, &k->out);
    if (!k->vals || !k->rw) {
        sink_fail(k, FLEET_ERR_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

/* 1 when the LIMIT is reached (no more rows wanted). */
static int sink_full(const struct sel_sink *k)
{
    const struct fleet_sparql_slice *sl = &k->job->slice;
    return sl->has_limit && k->rows >= sl->limit;
}

/* Gives k->vals. Returns 0 to go on, 1 when the LIMIT is reached, -1 on a failure (reported,
 * k->rc set). */
static int sink_row(struct sel_sink *k)
{
    struct query_job *job = k->job;
    if (sink_full(k))
        return 1;
    k->read++;
    int keep = slice_keep(&job->slice, &k->seen, k->vals, job->nvars, &k->skipped);
    if (keep < 0) {
        fleet_rw_finish(k->rw);
        k->rw = NULL;
        sink_fail(k, FLEET_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (keep && job->max_rows && k->rows >= job->max_rows) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "the result has more than max_result_rows (%llu) rows; add a LIMIT or "
                 "narrow the query",
                 (unsigned long long)job->max_rows);
        fleet_rw_finish(k->rw);
        k->rw = NULL;
        sink_fail(k, FLEET_ERR_TOOBIG, msg);
        return -1;
    }
    if (keep) {
        fleet_rw_row(k->rw, k->vals);
        k->rows++;
    }
    if (k->fd < 0) {
        if (k->out.len > k->cap || k->out.oom) {
            k->rc = -1;
            return -1;
        }
    } else if (k->out.len >= FLUSH_BYTES && flush_buf(k->fd, &k->out) != 0) {
        k->rc = 1;
        return -1;
    }
    return sink_full(k);
}

/* Ends the result (when nothing failed) and returns the child's exit code; an inline run's
 * result is moved to *keep instead of a pipe. */
static int sink_close_into(struct sel_sink *k, struct fleet_buf *keep)
{
    struct query_job *job = k->job;
    const struct fleet_sparql_slice *sl = &job->slice;
    if (k->rw && k->rc == 0) {
        /* The implicit group's row is the one solution: OFFSET and LIMIT apply to it too. */
        if (k->read == 0 && job->empty_row && sl->offset == 0 &&
            !(sl->has_limit && sl->limit == 0))
            fleet_rw_row(k->rw, job->empty_row);
        fleet_rw_finish(k->rw);
        k->rw = NULL;
        if (keep) {
            if (k->out.oom) {
                k->rc = -1;
            } else {
                *keep = k->out;
                k->out = (struct fleet_buf)FLEET_BUF_INIT;
            }
        } else if (flush_buf(k->fd, &k->out) != 0) {
            k->rc = 1;
        }
    }
    fleet_rw_finish(k->rw);
    fleet_buf_free(&k->out);
    rowset_free(&k->seen);
    free(k->vals);
    return k->rc;
}

static int sink_close(struct sel_sink *k)
{
    return sink_close_into(k, NULL);
}

static int child_select(struct query_job *job, librdf_query_results *res, int fd)
{
    struct sel_sink k;
    size_t n = job->nvars;
    librdf_node **nodes = calloc(n ? n : 1, sizeof(*nodes));
    if (sink_open(&k, job, fd) != 0 || !nodes) {
        if (!nodes && k.rc == 0)
            sink_fail(&k, FLEET_ERR_NOMEM, "out of memory");
        free(nodes);
        return sink_close(&k);
    }
    /* With a DISTINCT taken out of the query, LIMIT counts distinct rows: stop reading at it. */
    while (!librdf_query_results_finished(res) && !sink_full(&k)) {
        for (size_t i = 0; i < n; i++) {
            nodes[i] = librdf_query_results_get_binding_value_by_name(res, job->vars[i]);
            if (!nodes[i] || node_to_term(nodes[i], &k.vals[i]) != 0)
                memset(&k.vals[i], 0, sizeof(k.vals[i]));
        }
        int r = sink_row(&k);
        free_nodes(nodes, n);
        if (r < 0)
            break;
        librdf_query_results_next(res);
    }
    free_nodes(nodes, n);
    free(nodes);
    return sink_close(&k);
}

/* The native engine's side (bgp.h): the dataset's default graph, and rows as terms. */
static int bgp_accept(void *ctx, const fleet_tid q[4])
{
    struct fleet_store *st = ctx;
    return default_has(st, q[3]) && first_in_default(st, q);
}

static int bgp_row(void *ctx, const fleet_tid *row)
{
    struct sel_sink *k = ctx;
    for (size_t i = 0; i < k->job->nvars; i++)
        if (!row[i] || fleet_qs_term(k->job->st->qs, row[i], &k->vals[i]) != FLEET_OK)
            memset(&k->vals[i], 0, sizeof(k->vals[i]));
    return sink_row(k);
}

static int child_select_native(struct query_job *job, struct fleet_bgp *plan, int fd)
{
    struct sel_sink k;
    if (sink_open(&k, job, fd) == 0) {
        int r = fleet_bgp_run(plan, bgp_accept, job->st, bgp_row, &k, 0);
        if (r == -2 && k.rc == 0)
            sink_fail(&k, FLEET_ERR_NOMEM, "out of memory");
    }
    return sink_close(&k);
}

/* A native query small enough to answer without a child: run in the caller's thread, under the
 * store lock, within st->inline_steps quads visited and INLINE_BYTES of result (about a millisecond
 * or two), so a lookup costs no fork and a larger query holds the lock no longer than that
 * before it is run in a child like any other (only plans whose FILTERs are simple are run
 * here: fleet_bgp_inline). 0 with the whole result in *body, or -1 (nothing
 * kept) when the query must go to a child: over budget, max_result_rows or max_bytes reached,
 * out of memory. Called under st->lock. */
#define INLINE_BYTES (256 * 1024)
static int run_inline(struct fleet_store *st, struct query_job *job, size_t max_bytes,
                      struct fleet_buf *body)
{
    struct view saved = st->view;
    struct sel_sink k;
    int ok = 0;
    st->view = job->view;
    if (sink_open(&k, job, -1) == 0) {
        k.cap = max_bytes && max_bytes < INLINE_BYTES ? max_bytes : INLINE_BYTES;
        ok = fleet_bgp_run(job->plan, bgp_accept, st, bgp_row, &k,
                           (uint64_t)st->inline_steps) == 0 &&
             k.rc == 0;
    }
    if (!ok && k.rc == 0)
        k.rc = -1;
    st->view = saved;
    return sink_close_into(&k, body) == 0 ? 0 : -1;
}

static int child_graph(struct query_job *job, librdf_query_results *res, int fd)
{
    struct fleet_store *st = job->st;
    struct fleet_buf out = FLEET_BUF_INIT;
    struct ser s;
    uint64_t rows = 0;
    int rc = 0;
    librdf_stream *stream = librdf_query_results_as_stream(res);
    if (ser_start(st, &s, job->serializer) != 0) {
        if (stream)
            librdf_free_stream(stream);
        return child_fail(fd, FLEET_ERR_INTERNAL, "cannot start the RDF serializer");
    }
    while (stream && !librdf_stream_end(stream)) {
        librdf_statement *stmt = librdf_stream_get_object(stream);
        if (job->max_rows && rows >= job->max_rows) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "the result has more than max_result_rows (%llu) triples; add a LIMIT",
                     (unsigned long long)job->max_rows);
            librdf_free_stream(stream);
            ser_finish(&s, &out);
            fleet_buf_free(&out);
            return child_fail(fd, FLEET_ERR_TOOBIG, msg);
        }
        if (stmt)
            raptor_serializer_serialize_statement(s.ser, stmt);
        rows++;
        librdf_stream_next(stream);
    }
    if (stream)
        librdf_free_stream(stream);
    if (ser_finish(&s, &out) != 0 || flush_buf(fd, &out) != 0)
        rc = 1;
    fleet_buf_free(&out);
    return rc;
}

/* Concise bounded description: the triples of the default graph with r as subject, and,
 * recursively, those of the blank nodes they reach. */
static int describe_add(struct fleet_store *st, fleet_tid r, struct ser *s, fleet_tid **seen,
                        size_t *nseen, size_t *cap, uint64_t *count, uint64_t max)
{
    for (size_t i = 0; i < *nseen; i++)
        if ((*seen)[i] == r)
            return 0;
    if (*nseen == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        fleet_tid *p = realloc(*seen, nc * sizeof(*p));
        if (!p)
            return -1;
        *seen = p;
        *cap = nc;
    }
    (*seen)[(*nseen)++] = r;
    fleet_tid pat[4] = {r, 0, 0, FLEET_QS_ANY_GRAPH}, q[4];
    struct fleet_qs_iter it;
    fleet_qs_find(st->qs, pat, &it);
    while (fleet_qs_next(&it, q)) {
        if (!default_has(st, q[3]) || !first_in_default(st, q))
            continue;
        if (max && *count >= max)
            return 1;
        librdf_node *n[3];
        for (int i = 0; i < 3; i++)
            n[i] = tid_to_node(st, q[i]);
        if (n[0] && n[1] && n[2]) {
            librdf_statement *stmt = librdf_new_statement_from_nodes(st->world, n[0], n[1], n[2]);
            if (stmt) {
                raptor_serializer_serialize_statement(s->ser, stmt);
                librdf_free_statement(stmt);
            }
            (*count)++;
        } else {
            for (int i = 0; i < 3; i++)
                if (n[i])
                    librdf_free_node(n[i]);
        }
        struct fleet_term ot;
        if (fleet_qs_term(st->qs, q[2], &ot) == FLEET_OK && ot.kind == FLEET_TERM_BLANK) {
            /* The iterator is not disturbed: describing never changes the store. */
            int rc = describe_add(st, q[2], s, seen, nseen, cap, count, max);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int child_describe(struct query_job *job, int fd)
{
    struct fleet_store *st = job->st;
    const struct fleet_sparql_slice *sl = &job->slice;
    struct fleet_buf out = FLEET_BUF_INIT;
    struct ser s;
    fleet_tid *seen = NULL;
    size_t nseen = 0, cap = 0;
    uint64_t count = 0, rows = 0, skipped = 0;
    int rc = 0, lim = 0;
    librdf_query *q = NULL;
    librdf_query_results *res = NULL;
    librdf_node **nodes = NULL;
    struct fleet_term *vals = NULL;
    struct rowset distinct = {0};
    size_t n = 0;
    if (ser_start(st, &s, job->serializer) != 0)
        return child_fail(fd, FLEET_ERR_INTERNAL, "cannot start the RDF serializer");
    for (char **iri = job->describe_iris; iri && *iri && !lim; iri++) {
        fleet_tid r = iri_tid(st, *iri);
        if (r)
            lim = describe_add(st, r, &s, &seen, &nseen, &cap, &count, job->max_rows);
    }
    if (job->describe_select && job->describe_select[0] && !lim) {
        res = child_execute(st, job->describe_select, job->base, &q);
        if (!res) {
            ser_finish(&s, &out);
            rc = child_fail(fd, FLEET_ERR_INVAL, liberr_text(st, "cannot run the DESCRIBE"));
            goto out;
        }
        int nb = librdf_query_results_get_bindings_count(res);
        n = nb > 0 ? (size_t)nb : 0;
        nodes = calloc(n ? n : 1, sizeof(*nodes));
        vals = calloc(n ? n : 1, sizeof(*vals));
        if (!nodes || !vals)
            lim = -1;
        /* The SELECT's DISTINCT, OFFSET and LIMIT, applied here (see child_select). */
        while (!lim && !librdf_query_results_finished(res) &&
               !(sl->has_limit && rows >= sl->limit)) {
            for (size_t i = 0; i < n; i++) {
                nodes[i] = librdf_query_results_get_binding_value(res, (int)i);
                if (!nodes[i] || node_to_term(nodes[i], &vals[i]) != 0)
                    memset(&vals[i], 0, sizeof(vals[i]));
            }
            int keep = slice_keep(sl, &distinct, vals, n, &skipped);
            if (keep < 0)
                lim = -1;
            if (keep > 0)
                rows++;
            for (size_t i = 0; i < n && keep > 0 && !lim; i++) {
                fleet_tid r = nodes[i] ? node_tid(st, nodes[i]) : 0;
                if (r)
                    lim = describe_add(st, r, &s, &seen, &nseen, &cap, &count, job->max_rows);
            }
            free_nodes(nodes, n);
            librdf_query_results_next(res);
        }
    }
    if (ser_finish(&s, &out) != 0) {
        rc = child_fail(fd, FLEET_ERR_NOMEM, "out of memory");
    } else if (lim > 0) {
        rc = child_fail(fd, FLEET_ERR_TOOBIG, "the description has more than max_result_rows "
                                              "triples");
    } else if (lim < 0) {
        rc = child_fail(fd, FLEET_ERR_NOMEM, "out of memory");
    } else if (flush_buf(fd, &out) != 0) {
        rc = 1;
    }
out:
    if (nodes)
        free_nodes(nodes, n);
    free(nodes);
    free(vals);
    rowset_free(&distinct);
    if (res)
        librdf_free_query_results(res);
    if (q)
        librdf_free_query(q);
    free(seen);
    fleet_buf_free(&out);
    return rc;
}

/* Runs in the forked child: the store is a private copy-on-write snapshot, the lock is not
 * taken (the parent's holder is not in this process). */
static int query_child(void *arg, int fd)
{
    struct query_job *job = arg;
    struct fleet_store *st = job->st;
    librdf_query *q = NULL;
    librdf_query_results *res = NULL;
    int rc;
    st->view = job->view;
    fleet_buf_reset(&st->liberr);
    if (job->form == FORM_DESCRIBE)
        return child_describe(job, fd);
    if (job->plan)
        return child_select_native(job, job->plan, fd);
    res = child_execute(st, job->text, job->base, &q);
    if (!res) {
        rc = child_fail(fd, FLEET_ERR_INVAL, liberr_text(st, "the query engine failed"));
    } else if (job->form == FORM_ASK || librdf_query_results_is_boolean(res)) {
        struct fleet_buf out = FLEET_BUF_INIT;
        int b = librdf_query_results_get_boolean(res);
        if (b < 0) {
            rc = child_fail(fd, FLEET_ERR_INVAL, liberr_text(st, "the query engine failed"));
        } else {
            fleet_rw_boolean(job->rfmt, b > 0, &out);
            rc = flush_buf(fd, &out) ? 1 : 0;
        }
        fleet_buf_free(&out);
    } else if (librdf_query_results_is_bindings(res)) {
        rc = child_select(job, res, fd);
    } else if (librdf_query_results_is_graph(res)) {
        rc = child_graph(job, res, fd);
    } else {
        rc = child_fail(fd, FLEET_ERR_INTERNAL, "unknown result type");
    }
    /* The process exits right after: freeing is only for leak checkers. */
    if (res)
        librdf_free_query_results(res);
    if (q)
        librdf_free_query(q);
    return rc;
}

/* A SELECT whose every projected variable is an aggregate, with no GROUP BY and no HAVING,
 * forms one group even over no solutions, so it yields one row (COUNT and SUM 0, AVG 0,
 * GROUP_CONCAT "", others unbound); rasqal 0.9.33 yields none. Fills *row (new, nvars terms
 * with static strings) and returns 1 for such a query. */
static int implicit_group_row(rasqal_query *rq, char **vars, size_t nvars,
                              struct fleet_term **row)
{
    raptor_sequence *vs = rasqal_query_get_bound_variable_sequence(rq);
    raptor_sequence *gs = rasqal_query_get_group_conditions_sequence(rq);
    raptor_sequence *hs = rasqal_query_get_having_conditions_sequence(rq);
    int n = vs ? raptor_sequence_size(vs) : 0;
    *row = NULL;
    if (n == 0 || (size_t)n != nvars || (gs && raptor_sequence_size(gs) > 0) ||
        (hs && raptor_sequence_size(hs) > 0))
        return 0;
    struct fleet_term *r = calloc(nvars, sizeof(*r));
    if (!r)
        return 0;
    for (int i = 0; i < n; i++) {
        rasqal_variable *v = raptor_sequence_get_at(vs, i);
        rasqal_expression *e = v ? v->expression : NULL;
        if (!e || strcmp((const char *)v->name, vars[i]) != 0) {
            free(r);
            return 0;
        }
        switch (e->op) {
        case RASQAL_EXPR_COUNT:
        case RASQAL_EXPR_SUM:
        case RASQAL_EXPR_AVG:
            r[i].kind = FLEET_TERM_LITERAL;
            r[i].value = "0";
            r[i].datatype = "http://www.w3.org/2001/XMLSchema#integer";
            break;
        case RASQAL_EXPR_GROUP_CONCAT:
            r[i].kind = FLEET_TERM_LITERAL;
            r[i].value = "";
            break;
        case RASQAL_EXPR_MIN:
        case RASQAL_EXPR_MAX:
        case RASQAL_EXPR_SAMPLE:
            break; /* unbound */
        default:
            free(r);
            return 0;
        }
    }
    *row = r;
    return 1;
}

/* Maps a list of graph IRIs to ids (absent graphs are simply empty and dropped). */
static fleet_tid *graph_ids(struct fleet_store *st, const char *const *iris, size_t n,
                            size_t *nout)
{
    fleet_tid *ids = calloc(n ? n : 1, sizeof(*ids));
    *nout = 0;
    if (!ids)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        fleet_tid g = iri_tid(st, iris[i]);
        if (g && !in_set(ids, *nout, g))
            ids[(*nout)++] = g;
    }
    return ids;
}

/* Collects the query's FROM / FROM NAMED into string lists (borrowed from rq). */
static void query_dataset(rasqal_query *rq, const char ***dflt, size_t *nd, const char ***named,
                          size_t *nn)
{
    raptor_sequence *seq = rasqal_query_get_data_graph_sequence(rq);
    int n = seq ? raptor_sequence_size(seq) : 0;
    *dflt = calloc((size_t)n + 1, sizeof(char *));
    *named = calloc((size_t)n + 1, sizeof(char *));
    *nd = *nn = 0;
    if (!*dflt || !*named)
        return;
    for (int i = 0; i < n; i++) {
        rasqal_data_graph *dg = raptor_sequence_get_at(seq, i);
        if (!dg)
            continue;
        if (dg->flags & RASQAL_DATA_GRAPH_NAMED) {
            raptor_uri *u = dg->name_uri ? dg->name_uri : dg->uri;
            if (u)
                (*named)[(*nn)++] = (const char *)raptor_uri_as_string(u);
        } else if (dg->uri) {
            (*dflt)[(*nd)++] = (const char *)raptor_uri_as_string(dg->uri);
        }
    }
}

/* Turns a child's result into an answer. */
static enum fleet_err finish_child(enum fleet_err crc, int code, const struct fleet_query *q,
                                   struct fleet_answer *ans)
{
    switch (crc) {
    case FLEET_OK:
        break;
    case FLEET_ERR_TIMEOUT:
        fleet_errf(ans->message, sizeof(ans->message),
                   "the query ran longer than query_timeout (%ld ms) and was stopped",
                   q->timeout_ms);
        return crc;
    case FLEET_ERR_TOOBIG:
        fleet_errf(ans->message, sizeof(ans->message),
                   "the result is larger than the limit of %zu bytes", q->max_bytes);
        return crc;
    case FLEET_ERR_CRASH:
        fleet_errf(ans->message, sizeof(ans->message),
                   "the query engine crashed on this query (signal %d); the daemon is unaffected",
                   code);
        fleet_log(FLEET_LOG_WARNING, "query child died of signal %d", code);
        return crc;
    default:
        fleet_errf(ans->message, sizeof(ans->message), "query failed: %s", fleet_strerror(crc));
        return crc;
    }
    if (code == 0)
        return FLEET_OK;
    char *mark = NULL;
    if (ans->body.len >= sizeof(ERR_MARK) - 1)
        mark = memmem(ans->body.data, ans->body.len, ERR_MARK, sizeof(ERR_MARK) - 1);
    enum fleet_err err = code >= 10 ? (enum fleet_err)(code - 10) : FLEET_ERR_INTERNAL;
    if (mark) {
        const char *msg = mark + sizeof(ERR_MARK) - 1;
        size_t len = ans->body.len - (size_t)(msg - ans->body.data);
        if (len >= sizeof(ans->message))
            len = sizeof(ans->message) - 1;
        memcpy(ans->message, msg, len);
        ans->message[len] = '\0';
    } else {
        fleet_errf(ans->message, sizeof(ans->message), "the query engine failed (exit %d)", code);
    }
    fleet_buf_reset(&ans->body);
    return err == FLEET_OK ? FLEET_ERR_INTERNAL : err;
}

/* Collects into v->absent the IRIs of GRAPH <iri> patterns (anywhere in gp) that name no graph
 * of the query's dataset: a graph without triples, or one outside FROM NAMED / named-graph-uri.
 * Called under st->lock. -1 on ENOMEM. */
static int absent_graphs(struct fleet_store *st, rasqal_graph_pattern *gp, struct view *v)
{
    if (!gp)
        return 0;
    if (rasqal_graph_pattern_get_operator(gp) == RASQAL_GRAPH_PATTERN_OPERATOR_GRAPH) {
        rasqal_literal *origin = rasqal_graph_pattern_get_origin(gp);
        if (origin && origin->type == RASQAL_LITERAL_URI) {
            const char *iri = (const char *)raptor_uri_as_string(origin->value.uri);
            fleet_tid g = iri_tid(st, iri);
            int present = g != 0 && fleet_qs_graph_size(st->qs, g) > 0 &&
                          (!v->active || in_set(v->named, v->n_named, g));
            for (size_t i = 0; !present && i < v->n_absent; i++)
                present = strcmp(v->absent[i], iri) == 0; /* listed already */
            if (!present) {
                char **a = realloc(v->absent, (v->n_absent + 1) * sizeof(*a));
                if (!a)
                    return -1;
                v->absent = a;
                if (!(a[v->n_absent] = strdup(iri)))
                    return -1;
                v->n_absent++;
            }
        }
    }
    for (int i = 0;; i++) {
        rasqal_graph_pattern *sub = rasqal_graph_pattern_get_sub_graph_pattern(gp, i);
        if (!sub)
            break;
        if (absent_graphs(st, sub, v) != 0)
            return -1;
    }
    return 0;
}

/* rasqal's DISTINCT is quadratic on the store's sorted rows: the child applies it instead.
 * Replaces *text by the query without it (a no-op for other queries). */
static enum fleet_err take_distinct(struct fleet_buf *text, struct fleet_sparql_slice *slice,
                                    struct fleet_answer *ans)
{
    struct fleet_buf plain = FLEET_BUF_INIT;
    enum fleet_err rc = fleet_sparql_take_distinct(text->data ? text->data : "", &plain, slice,
                                                   ans->message, sizeof(ans->message));
    if (rc != FLEET_OK) {
        fleet_buf_free(&plain);
        return rc;
    }
    fleet_buf_free(text);
    *text = plain;
    return FLEET_OK;
}

/* The answer to a query rasqal did not parse (why: rasqal's first message): the constructs
 * rasqal 0.9.33 lacks, found by the text scan, are named as unsupported before any syntax
 * error they cause. */
static enum fleet_err parse_refused(unsigned features, const char *why, struct fleet_answer *ans)
{
    if (features & FLEET_SPARQL_USES_EXISTS) {
        fleet_errf(ans->message, sizeof(ans->message),
                   "EXISTS / NOT EXISTS are not supported by this SPARQL engine (rasqal "
                   "0.9.33); rewrite with OPTIONAL and !BOUND");
        return FLEET_ERR_UNSUPPORTED;
    }
    if (features & FLEET_SPARQL_USES_PATH) {
        fleet_errf(ans->message, sizeof(ans->message),
                   "property paths are not supported by this SPARQL engine (rasqal 0.9.33); "
                   "spell the path out as triple patterns");
        return FLEET_ERR_UNSUPPORTED;
    }
    fleet_errf(ans->message, sizeof(ans->message), "SPARQL syntax error: %s", why);
    return FLEET_ERR_INVAL;
}

enum fleet_err fleet_store_query(struct fleet_store *st, const struct fleet_query *q,
                                 struct fleet_answer *ans)
{
    struct fleet_buf fixed = FLEET_BUF_INIT, select = FLEET_BUF_INIT, ordered = FLEET_BUF_INIT;
    struct query_job job;
    unsigned features = 0;
    enum fleet_err rc;
    rasqal_query *rq = NULL;
    const char **qd = NULL, **qn = NULL;
    size_t nqd = 0, nqn = 0;
    int locked = 0, pick;
    struct fleet_sandbox sb;
    struct fleet_term *empty_row = NULL;

    memset(&job, 0, sizeof(job));
    ans->content_type = "text/plain";
    ans->message[0] = '\0';
    rc = fleet_sparql_fix_query(q->text, &fixed, &features, ans->message, sizeof(ans->message));
    if (rc != FLEET_OK)
        goto out;
    if (features & FLEET_SPARQL_USES_EXISTS) {
        struct fleet_buf ne = FLEET_BUF_INIT;
        if (rewrite_not_exists(fixed.data, &ne) > 0) {
            fleet_buf_free(&fixed);
            fixed = ne;
        } else {
            fleet_buf_free(&ne);
        }
    }
    if (fixed.oom) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    rc = take_distinct(&fixed, &job.slice, ans);
    if (rc != FLEET_OK)
        goto out;
    if ((features & FLEET_SPARQL_USES_SERVICE) && !st->allow_service) {
        fleet_errf(ans->message, sizeof(ans->message),
                   "SERVICE is disabled on this endpoint (it would make the server send requests "
                   "elsewhere); an operator can enable it with sparql_service yes");
        rc = FLEET_ERR_FORBIDDEN;
        goto out;
    }

    /* rasqal leaks on its parser's error paths: a helper process tries the parse first, and
     * only a query it accepts is parsed here (lib/sparql_check.h). */
    char cmsg[1024];
    const char *base_iri = q->base_uri && q->base_uri[0] ? q->base_uri : "urn:tinyfleet:base";
    int checked = fleet_sparql_check(st->check, fixed.data, base_iri,
                                     q->timeout_ms > 0 ? q->timeout_ms : 60000, cmsg, sizeof(cmsg));
    if (checked <= 0) {
        rc = parse_refused(features, cmsg[0] ? cmsg : "the query does not parse", ans);
        goto out;
    }

    pthread_mutex_lock(&st->lock);
    locked = 1;
    fleet_buf_reset(&st->liberr);
    rasqal_world *qw = librdf_world_get_rasqal(st->world);
    raptor_uri *base = raptor_new_uri(rasqal_world_get_raptor(qw), (const unsigned char *)base_iri);
    rq = rasqal_new_query(qw, "sparql", NULL);
    if (!rq || !base) {
        if (base)
            raptor_free_uri(base);
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    int prc = rasqal_query_prepare(rq, (const unsigned char *)fixed.data, base);
    raptor_free_uri(base);
    if (prc != 0) {
        rc = parse_refused(features, liberr_text(st, "the query does not parse"), ans);
        goto out;
    }
    if (features & FLEET_SPARQL_USES_MINUS) {
        fleet_errf(ans->message, sizeof(ans->message),
                   "MINUS is not supported by this SPARQL engine (rasqal 0.9.33 returns no "
                   "result); rewrite with OPTIONAL and !BOUND");
        rc = FLEET_ERR_UNSUPPORTED;
        goto out;
    }
    switch (rasqal_query_get_verb(rq)) {
    case RASQAL_QUERY_VERB_SELECT:
        job.form = FORM_SELECT;
        break;
    case RASQAL_QUERY_VERB_ASK:
        job.form = FORM_ASK;
        break;
    case RASQAL_QUERY_VERB_CONSTRUCT:
        job.form = FORM_GRAPH;
        break;
    case RASQAL_QUERY_VERB_DESCRIBE:
        job.form = FORM_DESCRIBE;
        break;
    default:
        fleet_errf(ans->message, sizeof(ans->message),
                   "not a query: send SPARQL updates as update= or application/sparql-update");
        rc = FLEET_ERR_INVAL;
        goto out;
    }

    if (job.form == FORM_SELECT) {
        raptor_sequence *vs = rasqal_query_get_bound_variable_sequence(rq);
        int nv = vs ? raptor_sequence_size(vs) : 0;
        job.vars = calloc((size_t)nv + 1, sizeof(char *));
        if (!job.vars) {
            rc = FLEET_ERR_NOMEM;
            goto out;
        }
        for (int i = 0; i < nv; i++) {
            rasqal_variable *v = raptor_sequence_get_at(vs, i);
            if (v && v->name && strncmp((const char *)v->name, "__fleet_", 8) != 0 &&
                (job.vars[job.nvars] = strdup((const char *)v->name)))
                job.nvars++;
        }
    }

    if (job.form == FORM_SELECT && implicit_group_row(rq, job.vars, job.nvars, &empty_row))
        job.empty_row = empty_row;

    /* Content negotiation. */
    if (job.form == FORM_SELECT || job.form == FORM_ASK) {
        pick = fleet_conneg_pick(q->accept, table_offers, 4);
        if (pick >= 0) {
            job.rfmt = table_formats[pick];
            ans->content_type = table_offers[pick];
        }
    } else {
        pick = fleet_conneg_pick(q->accept, graph_offers, 3);
        if (pick >= 0) {
            job.serializer = graph_serializers[pick];
            ans->content_type = graph_offers[pick];
        }
    }
    if (pick < 0) {
        fleet_errf(ans->message, sizeof(ans->message),
                   "none of the media types in Accept can carry this result; offered: %s",
                   job.form == FORM_SELECT || job.form == FORM_ASK
                       ? "application/sparql-results+json, application/sparql-results+xml, "
                         "text/csv, text/tab-separated-values"
                       : "text/turtle, application/n-triples, application/rdf+xml");
        rc = FLEET_ERR_NOTACCEPTABLE;
        goto out;
    }

    if (job.form == FORM_DESCRIBE) {
        rc = fleet_sparql_describe_plan(fixed.data, &job.describe_iris, &select, ans->message,
                                        sizeof(ans->message));
        if (rc != FLEET_OK)
            goto out;
        rc = take_distinct(&select, &job.slice, ans);
        if (rc != FLEET_OK)
            goto out;
        job.describe_select = select.data ? select.data : "";
    }

    /* The dataset: the protocol's graph lists win over the query's FROM / FROM NAMED. */
    if (q->n_default || q->n_named) {
        job.view.active = 1;
        job.view.dflt = graph_ids(st, q->default_graphs, q->n_default, &job.view.n_dflt);
        job.view.named = graph_ids(st, q->named_graphs, q->n_named, &job.view.n_named);
    } else {
        query_dataset(rq, &qd, &nqd, &qn, &nqn);
        if (nqd || nqn) {
            job.view.active = 1;
            job.view.dflt = graph_ids(st, qd, nqd, &job.view.n_dflt);
            job.view.named = graph_ids(st, qn, nqn, &job.view.n_named);
        }
    }
    if (job.view.active && (!job.view.dflt || !job.view.named)) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    if (absent_graphs(st, rasqal_query_get_query_graph_pattern(rq), &job.view) != 0) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    job.st = st;
    job.text = fixed.data;
    job.base = q->base_uri;
    job.max_rows = q->max_rows;
    job.view.no_graphs = !mentions_graph(fixed.data) &&
                         !(job.describe_select && mentions_graph(job.describe_select));
    /* A SELECT over one basic graph pattern runs in the native engine; the plan points into
     * this parse, so both live until the child is started (freed at out:). */
    if (job.form == FORM_SELECT && !st->rasqal_only && !(features & FLEET_SPARQL_USES_EXISTS))
        job.plan = fleet_bgp_plan(qw, rq, st->qs, job.vars, job.nvars);
    if (job.plan) {
        struct fleet_buf body = FLEET_BUF_INIT;
        if (st->inline_steps > 0 && fleet_bgp_inline(job.plan) &&
            run_inline(st, &job, q->max_bytes, &body) == 0) {
            st->queries_inline++;
            ans->body = body;
            rc = FLEET_OK;
            goto out;
        }
        st->queries_native++;
    } else {
        st->queries_rasqal++;
        /* rasqal joins a group's triple patterns in the order written (case study 1 enumerated
         * every board's subsystems cubed before checking their types): its child runs them in a
         * selective order (lib/sparql_reorder.c). The text checked above, and quoted in errors,
         * is the user's. */
        int changed = 0;
        char rerr[256];
        if (fleet_sparql_reorder(fixed.data, &ordered, &changed, rerr, sizeof(rerr)) == FLEET_OK &&
            changed && !ordered.oom)
            job.text = ordered.data;
    }

    rc = fleet_sandbox_start(&sb, query_child, &job);
    /* The parse and the plan touch the Redland world (URI interning): freed under the lock. */
    fleet_bgp_free(job.plan);
    job.plan = NULL;
    rasqal_free_query(rq);
    rq = NULL;
    pthread_mutex_unlock(&st->lock);
    locked = 0;
    if (rc != FLEET_OK) {
        fleet_errf(ans->message, sizeof(ans->message), "cannot start a query worker");
        goto out;
    }
    struct fleet_sandbox_limits lim = {q->timeout_ms, q->max_bytes ? q->max_bytes + 4096 : 0};
    int code = 0;
    rc = fleet_sandbox_collect(&sb, &lim, &ans->body, &code);
    rc = finish_child(rc, code, q, ans);
out:
    if (rq || job.plan) {
        if (!locked) { /* Redland objects are freed under the lock */
            pthread_mutex_lock(&st->lock);
            locked = 1;
        }
        fleet_bgp_free(job.plan);
        if (rq)
            rasqal_free_query(rq);
    }
    if (locked)
        pthread_mutex_unlock(&st->lock);
    free(job.view.dflt);
    free(job.view.named);
    fleet_strv_free_n(job.view.absent, job.view.n_absent);
    free(qd);
    free(qn);
    fleet_sparql_strv_free(job.describe_iris);
    fleet_sparql_strv_free(job.vars);
    free(empty_row);
    fleet_buf_free(&fixed);
    fleet_buf_free(&ordered);
    fleet_buf_free(&select);
    if (rc != FLEET_OK) {
        fleet_buf_free(&ans->body);
        if (!ans->message[0])
            fleet_errf(ans->message, sizeof(ans->message), "%s", fleet_strerror(rc));
    }
    return rc;
}

/* ---- SPARQL update ------------------------------------------------------------------------- */

/* An update request is evaluated in a child on its copy-on-write store: each operation is
 * applied to that copy as it goes (so later operations see earlier ones) and recorded in a
 * change log the child sends back. The parent decodes the log into one transaction and commits
 * it durably, all or nothing. Writers are serialised by write_lock, held from the fork to the
 * commit, so the changes apply to exactly the state the child saw. */

struct upd {
    struct fleet_store *st;
    const struct fleet_update *u;
    struct fleet_buf log;  /* encoded changes, sent to the parent */
    unsigned long blank_seq;
    char msg[1024];
};

static void enc_str(struct fleet_buf *b, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen(s) : 0;
    fleet_buf_append(b, &n, sizeof(n));
    if (n)
        fleet_buf_append(b, s, n);
}

static void enc_term(struct fleet_buf *b, const struct fleet_term *t)
{
    fleet_buf_putc(b, (char)t->kind);
    enc_str(b, t->value);
    enc_str(b, t->lang);
    enc_str(b, t->datatype);
}

static void enc_quad(struct fleet_buf *b, char op, const struct fleet_term q[4])
{
    fleet_buf_putc(b, op);
    for (int i = 0; i < 4; i++)
        enc_term(b, &q[i]);
}

struct dec {
    const char *p, *end;
};

static int dec_str(struct dec *d, char **out)
{
    uint32_t n;
    *out = NULL;
    if ((size_t)(d->end - d->p) < sizeof(n))
        return -1;
    memcpy(&n, d->p, sizeof(n));
    d->p += sizeof(n);
    if ((size_t)(d->end - d->p) < n)
        return -1;
    if (n == 0)
        return 0;
    *out = strndup(d->p, n);
    d->p += n;
    return *out ? 0 : -1;
}

static int dec_term(struct dec *d, struct fleet_term *t, char *hold[3])
{
    if (d->p >= d->end)
        return -1;
    t->kind = (enum fleet_term_kind)(unsigned char)*d->p++;
    if (dec_str(d, &hold[0]) || dec_str(d, &hold[1]) || dec_str(d, &hold[2]))
        return -1;
    t->value = hold[0] ? hold[0] : "";
    t->lang = hold[1];
    t->datatype = hold[2];
    return t->kind <= FLEET_TERM_LITERAL ? 0 : -1;
}

/* Decodes a change log into txn. */
static enum fleet_err decode_log(const char *data, size_t len, struct fleet_txn *txn)
{
    struct dec d = {data, data + len};
    enum fleet_err rc = FLEET_OK;
    while (d.p < d.end && rc == FLEET_OK) {
        char op = *d.p++;
        struct fleet_term q[4];
        char *hold[4][3] = {{0}};
        int nterms = op == 'A' || op == 'R' ? 4 : op == 'C' ? 1 : 0;
        if (op != 'A' && op != 'R' && op != 'C' && op != 'X')
            return FLEET_ERR_INTERNAL;
        for (int i = 0; i < nterms && rc == FLEET_OK; i++)
            if (dec_term(&d, &q[i], hold[i]) != 0)
                rc = FLEET_ERR_INTERNAL;
        if (rc == FLEET_OK) {
            if (op == 'A')
                rc = fleet_txn_add(txn, q);
            else if (op == 'R')
                rc = fleet_txn_remove(txn, q);
            else if (op == 'C')
                rc = fleet_txn_clear_graph(txn, q[0].kind == FLEET_TERM_NONE ? NULL : &q[0]);
            else
                rc = fleet_txn_clear_all(txn);
        }
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 3; k++)
                free(hold[i][k]);
    }
    return rc;
}

/* Records one change in the log and applies it to the child's store. */
static enum fleet_err upd_change(struct upd *c, char op, const struct fleet_term q[4])
{
    struct fleet_txn *txn = fleet_txn_new();
    enum fleet_err rc;
    if (!txn)
        return FLEET_ERR_NOMEM;
    if (op == 'A')
        rc = fleet_txn_add(txn, q);
    else if (op == 'R')
        rc = fleet_txn_remove(txn, q);
    else
        rc = fleet_txn_clear_graph(txn, q[0].kind == FLEET_TERM_NONE ? NULL : &q[0]);
    if (rc == FLEET_OK)
        rc = fleet_txn_apply(txn, c->st->qs);
    fleet_txn_free(txn);
    if (rc != FLEET_OK)
        return rc;
    if (op == 'C') {
        fleet_buf_putc(&c->log, 'C');
        enc_term(&c->log, &q[0]);
    } else {
        enc_quad(&c->log, op, q);
    }
    return c->log.oom ? FLEET_ERR_NOMEM : FLEET_OK;
}

/* Changes collected while iterating the store, applied together afterwards. */
struct batch {
    struct fleet_txn *txn;
    struct fleet_buf enc;
};

static int batch_init(struct batch *b)
{
    b->txn = fleet_txn_new();
    b->enc = (struct fleet_buf)FLEET_BUF_INIT;
    return b->txn ? 0 : -1;
}

static enum fleet_err batch_add(struct batch *b, char op, const struct fleet_term q[4])
{
    enum fleet_err rc = op == 'A' ? fleet_txn_add(b->txn, q) : fleet_txn_remove(b->txn, q);
    if (rc == FLEET_OK)
        enc_quad(&b->enc, op, q);
    return b->enc.oom ? FLEET_ERR_NOMEM : rc;
}

static enum fleet_err batch_commit(struct upd *c, struct batch *b)
{
    enum fleet_err rc = fleet_txn_apply(b->txn, c->st->qs);
    if (rc == FLEET_OK)
        fleet_buf_append(&c->log, b->enc.data, b->enc.len);
    return c->log.oom ? FLEET_ERR_NOMEM : rc;
}

static void batch_free(struct batch *b)
{
    fleet_txn_free(b->txn);
    fleet_buf_free(&b->enc);
}

static int graph_term(const char *iri, struct fleet_term *t)
{
    memset(t, 0, sizeof(*t));
    if (iri) {
        t->kind = FLEET_TERM_IRI;
        t->value = iri;
    }
    return 0;
}

static enum fleet_err upd_clear(struct upd *c, const char *iri)
{
    struct fleet_term q[4];
    memset(q, 0, sizeof(q));
    if (is_ontology(iri)) {
        fleet_errf(c->msg, sizeof(c->msg), "the ontology graph is read-only");
        return FLEET_ERR_FORBIDDEN;
    }
    graph_term(iri, &q[0]);
    return upd_change(c, 'C', q);
}

/* Clears every named graph (and the default graph if with_default), the ontology excepted. */
static enum fleet_err upd_clear_many(struct upd *c, int named, int with_default)
{
    fleet_tid *ids = NULL;
    enum fleet_err rc = FLEET_OK;
    long n = named ? fleet_qs_graphs(c->st->qs, &ids) : 0;
    if (n < 0)
        return FLEET_ERR_NOMEM;
    for (long i = 0; i < n && rc == FLEET_OK; i++) {
        struct fleet_term t;
        if (ids[i] == c->st->onto_g || fleet_qs_term(c->st->qs, ids[i], &t) != FLEET_OK)
            continue;
        char *iri = strdup(t.value); /* t's strings go away with the graph's last quad */
        if (!iri) {
            rc = FLEET_ERR_NOMEM;
            break;
        }
        rc = upd_clear(c, iri);
        free(iri);
    }
    free(ids);
    if (rc == FLEET_OK && with_default)
        rc = upd_clear(c, NULL);
    return rc;
}

static int graph_has_data(struct fleet_store *st, const char *iri)
{
    fleet_tid g = iri ? iri_tid(st, iri) : FLEET_QS_DEFAULT_GRAPH;
    return (iri == NULL || g != 0) && fleet_qs_graph_size(st->qs, g) > 0;
}

/* ADD / COPY / MOVE from src to dst (NULL = default graph). */
static enum fleet_err upd_transfer(struct upd *c, rasqal_update_type type, const char *src,
                                   const char *dst, int silent)
{
    struct fleet_store *st = c->st;
    enum fleet_err rc = FLEET_OK;
    if ((src && dst && strcmp(src, dst) == 0) || (!src && !dst))
        return FLEET_OK;
    if (src && !graph_has_data(st, src)) {
        if (silent)
            return FLEET_OK;
        fleet_errf(c->msg, sizeof(c->msg), "graph <%s> does not exist", src);
        return FLEET_ERR_NOTFOUND;
    }
    if (type != RASQAL_UPDATE_TYPE_ADD) {
        rc = upd_clear(c, dst);
        if (rc != FLEET_OK)
            return rc;
    } else if (is_ontology(dst)) {
        return upd_clear(c, dst); /* reports read-only */
    }
    /* Collect first: the store changes while we add. */
    struct batch b;
    fleet_tid g = src ? iri_tid(st, src) : FLEET_QS_DEFAULT_GRAPH;
    fleet_tid pat[4] = {0, 0, 0, g}, q[4];
    struct fleet_qs_iter it;
    if (batch_init(&b) != 0)
        return FLEET_ERR_NOMEM;
    fleet_qs_find(st->qs, pat, &it);
    while (rc == FLEET_OK && fleet_qs_next(&it, q)) {
        struct fleet_term t[4];
        for (int j = 0; j < 3; j++)
            fleet_qs_term(st->qs, q[j], &t[j]);
        graph_term(dst, &t[3]);
        rc = batch_add(&b, 'A', t);
    }
    if (rc == FLEET_OK)
        rc = batch_commit(c, &b);
    batch_free(&b);
    if (rc == FLEET_OK && type == RASQAL_UPDATE_TYPE_MOVE)
        rc = upd_clear(c, src);
    return rc;
}

/* A rasqal literal from an update template as a term; variables are looked up in row (a query
 * result positioned on a row, or NULL for ground data). Blank nodes of INSERT templates get a
 * fresh label per row. Returns 0, or -1 if a variable is unbound (the triple is skipped). */
static int lit_to_term(struct upd *c, rasqal_literal *l, librdf_query_results *row,
                       struct fleet_term *t, librdf_node **hold, char *blank, size_t blanklen)
{
    memset(t, 0, sizeof(*t));
    *hold = NULL;
    if (!l)
        return -1;
    if (l->type == RASQAL_LITERAL_VARIABLE) {
        rasqal_variable *v = rasqal_literal_as_variable(l);
        if (!row || !v || !v->name)
            return -1;
        *hold = librdf_query_results_get_binding_value_by_name(row, (const char *)v->name);
        if (!*hold || node_to_term(*hold, t) != 0)
            return -1;
        return 0;
    }
    if (l->type == RASQAL_LITERAL_URI) {
        t->kind = FLEET_TERM_IRI;
        t->value = (const char *)raptor_uri_as_string(l->value.uri);
        return 0;
    }
    if (l->type == RASQAL_LITERAL_BLANK) {
        t->kind = FLEET_TERM_BLANK;
        if (row) {
            snprintf(blank, blanklen, "u%lx_%s", c->blank_seq, (const char *)l->string);
            t->value = blank;
        } else {
            t->value = (const char *)l->string;
        }
        return 0;
    }
    t->kind = FLEET_TERM_LITERAL;
    t->value = (const char *)l->string;
    t->lang = l->language;
    raptor_uri *dt = rasqal_literal_datatype(l);
    t->datatype = dt ? (const char *)raptor_uri_as_string(dt) : NULL;
    if (t->datatype && strcmp(t->datatype, XSD_STRING) == 0)
        t->datatype = NULL;
    return t->value ? 0 : -1;
}

/* Instantiates the templates in seq for one row (or ground data when row is NULL) into b.
 * default_graph: where triples without GRAPH go (NULL = the default graph). */
static enum fleet_err instantiate(struct upd *c, raptor_sequence *seq, librdf_query_results *row,
                                  const char *default_graph, char op, struct batch *b)
{
    int n = seq ? raptor_sequence_size(seq) : 0;
    enum fleet_err rc = FLEET_OK;
    for (int i = 0; i < n && rc == FLEET_OK; i++) {
        rasqal_triple *tr = raptor_sequence_get_at(seq, i);
        struct fleet_term q[4];
        librdf_node *hold[4] = {NULL};
        char blanks[3][256];
        rasqal_literal *parts[3] = {tr->subject, tr->predicate, tr->object};
        int ok = 1;
        for (int k = 0; k < 3 && ok; k++)
            ok = lit_to_term(c, parts[k], row, &q[k], &hold[k], blanks[k], sizeof(blanks[k])) == 0;
        if (ok && tr->origin) {
            ok = lit_to_term(c, tr->origin, row, &q[3], &hold[3], NULL, 0) == 0 &&
                 q[3].kind == FLEET_TERM_IRI;
        } else if (ok) {
            graph_term(default_graph, &q[3]);
        }
        /* A solution that makes an ill-formed triple is skipped (SPARQL 1.1 Update 3.1.3). */
        if (ok && q[0].kind != FLEET_TERM_LITERAL && q[1].kind == FLEET_TERM_IRI) {
            if (q[3].kind == FLEET_TERM_IRI && is_ontology(q[3].value)) {
                fleet_errf(c->msg, sizeof(c->msg), "the ontology graph is read-only");
                rc = FLEET_ERR_FORBIDDEN;
            } else if (op == 'A' && !row && (q[0].kind == FLEET_TERM_BLANK ||
                                             q[2].kind == FLEET_TERM_BLANK)) {
                /* INSERT DATA: blank nodes are fresh for the request. */
                char b0[300], b2[300];
                if (q[0].kind == FLEET_TERM_BLANK) {
                    snprintf(b0, sizeof(b0), "d%lx_%s", c->blank_seq, q[0].value);
                    q[0].value = b0;
                }
                if (q[2].kind == FLEET_TERM_BLANK) {
                    snprintf(b2, sizeof(b2), "d%lx_%s", c->blank_seq, q[2].value);
                    q[2].value = b2;
                }
                rc = batch_add(b, op, q);
            } else {
                rc = batch_add(b, op, q);
            }
        }
        for (int k = 0; k < 4; k++)
            if (hold[k])
                librdf_free_node(hold[k]);
    }
    return rc;
}

/* DELETE {..} INSERT {..} WHERE {..}: where is the group pattern text, the templates come from
 * rasqal's parse of tpl_query. */
static enum fleet_err upd_modify(struct upd *c, const char *prologue, const char *where,
                                 raptor_sequence *del, raptor_sequence *ins, const char *with,
                                 char **using, char **using_named)
{
    struct fleet_store *st = c->st;
    const struct fleet_update *u = c->u;
    struct fleet_buf qtext = FLEET_BUF_INIT;
    struct batch bd, bi;
    enum fleet_err rc = FLEET_OK;
    librdf_query *q = NULL;
    librdf_query_results *res = NULL;
    struct view saved = st->view, v = {0};

    if (batch_init(&bd) != 0 || batch_init(&bi) != 0)
        return FLEET_ERR_NOMEM;
    /* The WHERE dataset: protocol USING params, else the operation's USING, else WITH, else the
     * union of all graphs. */
    size_t nu = 0, nun = 0;
    if (u->n_using || u->n_using_named) {
        v.active = 1;
        v.dflt = graph_ids(st, u->using_graphs, u->n_using, &v.n_dflt);
        v.named = graph_ids(st, u->using_named, u->n_using_named, &v.n_named);
    } else if ((using && using[0]) || (using_named && using_named[0])) {
        while (using && using[nu])
            nu++;
        while (using_named && using_named[nun])
            nun++;
        v.active = 1;
        v.dflt = graph_ids(st, (const char *const *)using, nu, &v.n_dflt);
        v.named = graph_ids(st, (const char *const *)using_named, nun, &v.n_named);
    } else if (with) {
        fleet_tid *all = NULL;
        long n = fleet_qs_graphs(st->qs, &all);
        v.active = 1;
        v.dflt = graph_ids(st, &with, 1, &v.n_dflt);
        v.named = all;
        v.n_named = n > 0 ? (size_t)n : 0;
    }
    if (v.active && (!v.dflt || !v.named)) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    fleet_buf_printf(&qtext, "%s\nSELECT * WHERE %s", prologue ? prologue : "", where);
    v.no_graphs = !mentions_graph(where);
    if (qtext.oom) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    st->view = v;
    fleet_buf_reset(&st->liberr);
    res = child_execute(st, qtext.data, u->base_uri, &q);
    if (!res) {
        fleet_errf(c->msg, sizeof(c->msg), "WHERE clause: %s",
                   liberr_text(st, "the query engine failed"));
        rc = FLEET_ERR_INVAL;
        goto out;
    }
    while (rc == FLEET_OK && !librdf_query_results_finished(res)) {
        c->blank_seq++;
        rc = instantiate(c, del, res, with, 'R', &bd);
        if (rc == FLEET_OK)
            rc = instantiate(c, ins, res, with, 'A', &bi);
        librdf_query_results_next(res);
    }
    librdf_free_query_results(res);
    res = NULL;
    st->view = saved;
    if (rc == FLEET_OK)
        rc = batch_commit(c, &bd);
    if (rc == FLEET_OK)
        rc = batch_commit(c, &bi);
out:
    st->view = saved;
    if (res)
        librdf_free_query_results(res);
    if (q)
        librdf_free_query(q);
    free(v.dflt);
    free(v.named);
    fleet_buf_free(&qtext);
    batch_free(&bd);
    batch_free(&bi);
    return rc;
}

static rasqal_query *parse_update(struct upd *c, const char *text)
{
    struct fleet_store *st = c->st;
    rasqal_world *qw = librdf_world_get_rasqal(st->world);
    raptor_uri *base = raptor_new_uri(rasqal_world_get_raptor(qw),
                                      (const unsigned char *)(c->u->base_uri && c->u->base_uri[0]
                                                                  ? c->u->base_uri
                                                                  : "urn:tinyfleet:base"));
    rasqal_query *rq = rasqal_new_query(qw, "sparql11-update", NULL);
    fleet_buf_reset(&st->liberr);
    if (!rq || !base || rasqal_query_prepare(rq, (const unsigned char *)text, base) != 0) {
        fleet_errf(c->msg, sizeof(c->msg), "SPARQL Update syntax error: %s",
                   liberr_text(st, "the update does not parse"));
        if (rq)
            rasqal_free_query(rq);
        rq = NULL;
    }
    if (base)
        raptor_free_uri(base);
    return rq;
}

static const char *uri_or_null(raptor_uri *u)
{
    return u ? (const char *)raptor_uri_as_string(u) : NULL;
}

static enum fleet_err upd_modify_op(struct upd *c, const struct fleet_update_op *op);

/* "DELETE WHERE { P }" (after the prologue): rasqal turns it into nothing when P has a GRAPH
 * block, so it runs as DELETE { P } WHERE { P }. Returns 1 if op is of that form. */
static int delete_where_form(const struct fleet_update_op *op, char **tpl, char **where)
{
    size_t plen = op->prologue ? strlen(op->prologue) : 0;
    const char *p = op->text;
    if (strncmp(p, op->prologue ? op->prologue : "", plen) == 0)
        p += plen;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    if (strncasecmp(p, "DELETE", 6) != 0)
        return 0;
    p += 6;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    if (strncasecmp(p, "WHERE", 5) != 0)
        return 0;
    p += 5;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\n' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        n--;
    if (n < 2 || p[0] != '{' || p[n - 1] != '}')
        return 0;
    *where = strndup(p, n);
    *tpl = strndup(p + 1, n - 2);
    return 1;
}

/* Skips a string, IRI or comment starting at p (in [p, end)); returns the position after it, or
 * p itself if nothing is there. */
static const char *skip_lexeme(const char *p, const char *end)
{
    if (*p == '#') {
        while (p < end && *p != '\n')
            p++;
        return p;
    }
    if (*p == '<') {
        const char *q = p + 1;
        while (q < end && *q != '>' && *q != ' ' && *q != '\n' && *q != '{' && *q != '}')
            q++;
        return q < end && *q == '>' ? q + 1 : p;
    }
    if (*p == '"' || *p == '\'') {
        char quote = *p;
        int longq = end - p >= 3 && p[1] == quote && p[2] == quote;
        const char *q = p + (longq ? 3 : 1);
        while (q < end) {
            if (*q == '\\') {
                q += 2;
                continue;
            }
            if (*q == quote && (!longq || (end - q >= 3 && q[1] == quote && q[2] == quote)))
                return q + (longq ? 3 : 1);
            q++;
        }
        return end;
    }
    return p;
}

/* rasqal 0.9.33 rejects INSERT DATA / DELETE DATA whose block holds more than one GRAPH block
 * (or triples beside one). Such an operation is rewritten into one operation per GRAPH block plus
 * one for the loose triples, applied in order; *parts receives the new texts (NULL-terminated).
 * Returns 0 if op is not of that form. */
static int split_quad_data(const struct fleet_update_op *op, char ***parts)
{
    size_t plen = op->prologue ? strlen(op->prologue) : 0;
    const char *p = op->text + (strncmp(op->text, op->prologue ? op->prologue : "", plen) ? 0 : plen);
    const char *end = op->text + strlen(op->text);
    const char *verb;
    *parts = NULL;
    while (p < end && strchr(" \t\r\n", *p))
        p++;
    if (strncasecmp(p, "INSERT", 6) == 0)
        verb = "INSERT DATA";
    else if (strncasecmp(p, "DELETE", 6) == 0)
        verb = "DELETE DATA";
    else
        return 0;
    p += 6;
    while (p < end && strchr(" \t\r\n", *p))
        p++;
    if (strncasecmp(p, "DATA", 4) != 0)
        return 0;
    p += 4;
    while (p < end && *p != '{')
        p++;
    if (p >= end)
        return 0;
    p++;
    /* Walk the top level of the block: GRAPH blocks and loose triples. */
    struct fleet_buf loose = FLEET_BUF_INIT;
    char **out = calloc(64, sizeof(char *));
    size_t n = 0, graphs = 0;
    int ok = out != NULL;
    while (ok && p < end) {
        const char *q = skip_lexeme(p, end);
        if (q != p) {
            fleet_buf_append(&loose, p, (size_t)(q - p));
            p = q;
            continue;
        }
        if (*p == '}')
            break;
        if (strncasecmp(p, "GRAPH", 5) == 0 && (p == op->text || !isalnum((unsigned char)p[-1])) &&
            strchr(" \t\r\n<", p[5])) {
            const char *g = p;
            int depth = 0;
            while (p < end) {
                q = skip_lexeme(p, end);
                if (q != p) {
                    p = q;
                    continue;
                }
                if (*p == '{')
                    depth++;
                else if (*p == '}' && --depth == 0) {
                    p++;
                    break;
                }
                p++;
            }
            if (depth != 0 || n >= 62) {
                ok = 0;
                break;
            }
            struct fleet_buf one = FLEET_BUF_INIT;
            fleet_buf_printf(&one, "%s\n%s { ", op->prologue ? op->prologue : "", verb);
            fleet_buf_append(&one, g, (size_t)(p - g));
            fleet_buf_puts(&one, " }");
            out[n++] = fleet_buf_steal(&one, NULL);
            graphs++;
            continue;
        }
        fleet_buf_putc(&loose, *p);
        p++;
    }
    /* Only worth it when rasqal would fail: two or more blocks, or a block beside triples. */
    int has_loose = 0;
    for (size_t i = 0; i < loose.len; i++)
        if (!strchr(" \t\r\n.", loose.data[i]))
            has_loose = 1;
    if (!ok || graphs == 0 || (graphs == 1 && !has_loose)) {
        fleet_buf_free(&loose);
        fleet_sparql_strv_free(out);
        return 0;
    }
    if (has_loose) {
        struct fleet_buf one = FLEET_BUF_INIT;
        fleet_buf_printf(&one, "%s\n%s { %s }", op->prologue ? op->prologue : "", verb,
                         loose.data);
        out[n++] = fleet_buf_steal(&one, NULL);
    }
    fleet_buf_free(&loose);
    *parts = out;
    return 1;
}

/* An operation rasqal parses on its own. */
static enum fleet_err upd_other(struct upd *c, const struct fleet_update_op *op)
{
    char **parts = NULL;
    if (split_quad_data(op, &parts)) {
        enum fleet_err prc = FLEET_OK;
        for (char **t = parts; *t && prc == FLEET_OK; t++) {
            struct fleet_update_op one = *op;
            one.text = *t;
            prc = upd_other(c, &one);
        }
        fleet_sparql_strv_free(parts);
        return prc;
    }
    enum fleet_err rc = FLEET_OK;
    char *tpl = NULL, *where = NULL;
    if (delete_where_form(op, &tpl, &where)) {
        struct fleet_update_op m = *op;
        m.kind = FLEET_UPDATE_MODIFY;
        m.delete_tpl = tpl;
        m.insert_tpl = NULL;
        m.where = where;
        rc = tpl && where ? upd_modify_op(c, &m) : FLEET_ERR_NOMEM;
        free(tpl);
        free(where);
        return rc;
    }
    rasqal_query *rq = parse_update(c, op->text);
    if (!rq)
        return FLEET_ERR_INVAL;
    for (int i = 0; rc == FLEET_OK; i++) {
        rasqal_update_operation *uo = rasqal_query_get_update_operation(rq, i);
        if (!uo)
            break;
        int silent = (uo->flags & RASQAL_UPDATE_FLAGS_SILENT) != 0;
        const char *g = uri_or_null(uo->graph_uri);
        switch (uo->type) {
        case RASQAL_UPDATE_TYPE_UPDATE:
            if (uo->flags & RASQAL_UPDATE_FLAGS_DATA) {
                struct batch b;
                if (batch_init(&b) != 0)
                    return FLEET_ERR_NOMEM;
                c->blank_seq++;
                rc = instantiate(c, uo->delete_templates, NULL, g, 'R', &b);
                if (rc == FLEET_OK)
                    rc = instantiate(c, uo->insert_templates, NULL, g, 'A', &b);
                if (rc == FLEET_OK)
                    rc = batch_commit(c, &b);
                batch_free(&b);
            } else {
                /* Template forms are split out as FLEET_UPDATE_MODIFY or handled by
                 * delete_where_form() before rasqal sees them. */
                fleet_errf(c->msg, sizeof(c->msg), "unsupported form of DELETE/INSERT");
                rc = FLEET_ERR_UNSUPPORTED;
            }
            break;
        case RASQAL_UPDATE_TYPE_CLEAR:
        case RASQAL_UPDATE_TYPE_DROP:
            if (uo->applies == RASQAL_UPDATE_GRAPH_ONE && g) {
                if (!graph_has_data(c->st, g) && !silent && uo->type == RASQAL_UPDATE_TYPE_DROP) {
                    fleet_errf(c->msg, sizeof(c->msg), "graph <%s> does not exist", g);
                    rc = FLEET_ERR_NOTFOUND;
                } else {
                    rc = upd_clear(c, g);
                }
            } else {
                int all = uo->applies == RASQAL_UPDATE_GRAPH_ALL;
                rc = upd_clear_many(c, all || uo->applies == RASQAL_UPDATE_GRAPH_NAMED,
                                    all || uo->applies == RASQAL_UPDATE_GRAPH_DEFAULT || !g);
            }
            break;
        case RASQAL_UPDATE_TYPE_CREATE:
            if (g && graph_has_data(c->st, g) && !silent) {
                fleet_errf(c->msg, sizeof(c->msg), "graph <%s> already exists", g);
                rc = FLEET_ERR_EXISTS;
            }
            break; /* empty graphs are not stored: nothing to create */
        case RASQAL_UPDATE_TYPE_ADD:
        case RASQAL_UPDATE_TYPE_MOVE:
        case RASQAL_UPDATE_TYPE_COPY:
            rc = upd_transfer(c, uo->type, g, uri_or_null(uo->document_uri), silent);
            break;
        case RASQAL_UPDATE_TYPE_LOAD:
            fleet_errf(c->msg, sizeof(c->msg),
                       "LOAD is disabled: the server does not fetch documents; PUT them to /data");
            rc = FLEET_ERR_FORBIDDEN;
            break;
        default:
            fleet_errf(c->msg, sizeof(c->msg), "unsupported update operation");
            rc = FLEET_ERR_UNSUPPORTED;
            break;
        }
    }
    rasqal_free_query(rq);
    return rc;
}

/* Parses a template (the text inside DELETE { } or INSERT { }) through rasqal as the template of
 * a synthetic INSERT {..} WHERE {}, the form whose templates rasqal keeps exactly as written (a
 * WITH would overwrite every triple's graph, and DELETE WHERE with GRAPH parses to nothing).
 * NULL text gives no query and no error. */
static enum fleet_err parse_template(struct upd *c, const struct fleet_update_op *op,
                                     const char *text, rasqal_query **out)
{
    struct fleet_buf t = FLEET_BUF_INIT;
    *out = NULL;
    if (!text)
        return FLEET_OK;
    fleet_buf_printf(&t, "%s\nINSERT { %s } WHERE { }", op->prologue ? op->prologue : "", text);
    if (t.oom)
        return FLEET_ERR_NOMEM;
    *out = parse_update(c, t.data);
    fleet_buf_free(&t);
    if (*out && !rasqal_query_get_update_operation(*out, 0)) {
        rasqal_free_query(*out);
        *out = NULL;
    }
    return *out ? FLEET_OK : FLEET_ERR_INVAL;
}

/* DELETE/INSERT ... WHERE, with or without WITH: the WHERE runs as a SELECT, the templates are
 * instantiated per solution. */
static enum fleet_err upd_modify_op(struct upd *c, const struct fleet_update_op *op)
{
    rasqal_query *dq = NULL, *iq = NULL;
    enum fleet_err rc = parse_template(c, op, op->delete_tpl, &dq);
    if (rc == FLEET_OK)
        rc = parse_template(c, op, op->insert_tpl, &iq);
    if (rc == FLEET_OK) {
        raptor_sequence *del = dq ? rasqal_query_get_update_operation(dq, 0)->insert_templates
                                  : NULL;
        raptor_sequence *ins = iq ? rasqal_query_get_update_operation(iq, 0)->insert_templates
                                  : NULL;
        rc = upd_modify(c, op->prologue, op->where ? op->where : "{}", del, ins, op->with_iri,
                        op->using, op->using_named);
    }
    if (dq)
        rasqal_free_query(dq);
    if (iq)
        rasqal_free_query(iq);
    return rc;
}

struct update_job {
    struct upd *c;
    struct fleet_update_op *ops;
    size_t nops;
};

static int update_child(void *arg, int fd)
{
    struct update_job *job = arg;
    struct upd *c = job->c;
    enum fleet_err rc = FLEET_OK;
    for (size_t i = 0; i < job->nops && rc == FLEET_OK; i++) {
        const struct fleet_update_op *op = &job->ops[i];
        switch (op->kind) {
        case FLEET_UPDATE_CLEAR_SPECIAL:
        case FLEET_UPDATE_DROP_SPECIAL:
            rc = upd_clear_many(c,
                                op->target == FLEET_TARGET_ALL || op->target == FLEET_TARGET_NAMED,
                                op->target == FLEET_TARGET_ALL ||
                                    op->target == FLEET_TARGET_DEFAULT);
            break;
        case FLEET_UPDATE_MODIFY:
            rc = upd_modify_op(c, op);
            break;
        default:
            rc = upd_other(c, op);
            break;
        }
    }
    if (rc != FLEET_OK)
        return child_fail(fd, rc, c->msg[0] ? c->msg : fleet_strerror(rc));
    if (c->log.oom)
        return child_fail(fd, FLEET_ERR_NOMEM, "out of memory");
    return flush_buf(fd, &c->log) ? 1 : 0;
}

/* Checks that rasqal parses an operation (or the pieces it is run as). */
static enum fleet_err preparse(struct upd *c, const struct fleet_update_op *op)
{
    char **parts = NULL, *tpl = NULL, *where = NULL;
    enum fleet_err rc = FLEET_OK;
    if (delete_where_form(op, &tpl, &where)) {
        rasqal_query *rq = NULL;
        rc = parse_template(c, op, tpl, &rq);
        if (rq)
            rasqal_free_query(rq);
        free(tpl);
        free(where);
        return rc;
    }
    if (split_quad_data(op, &parts)) {
        for (char **t = parts; *t && rc == FLEET_OK; t++) {
            rasqal_query *rq = parse_update(c, *t);
            if (!rq)
                rc = FLEET_ERR_INVAL;
            else
                rasqal_free_query(rq);
        }
        fleet_sparql_strv_free(parts);
        return rc;
    }
    rasqal_query *rq = parse_update(c, op->text);
    if (!rq)
        return FLEET_ERR_INVAL;
    rasqal_free_query(rq);
    return FLEET_OK;
}

enum fleet_err fleet_store_update(struct fleet_store *st, const struct fleet_update *u,
                                  struct fleet_answer *ans)
{
    struct fleet_update_op *ops = NULL;
    size_t nops = 0;
    struct upd c;
    struct update_job job;
    struct fleet_sandbox sb;
    struct fleet_txn *txn = NULL;
    enum fleet_err rc;
    int code = 0;

    memset(&c, 0, sizeof(c));
    ans->content_type = "text/plain";
    ans->message[0] = '\0';
    rc = fleet_sparql_split_update(u->text, &ops, &nops, ans->message, sizeof(ans->message));
    if (rc != FLEET_OK)
        return rc;
    /* Protocol USING params and an operation's own USING/WITH conflict (SPARQL 1.1 Protocol
     * 2.2.3). */
    for (size_t i = 0; i < nops; i++) {
        if ((u->n_using || u->n_using_named) &&
            (ops[i].with_iri || (ops[i].using && ops[i].using[0]) ||
             (ops[i].using_named && ops[i].using_named[0]))) {
            fleet_errf(ans->message, sizeof(ans->message),
                       "using-graph-uri / using-named-graph-uri cannot be combined with an "
                       "update that has USING, USING NAMED or WITH");
            rc = FLEET_ERR_INVAL;
            goto out;
        }
    }
    /* Parse every operation before running any, so a syntax error anywhere changes nothing
     * and is reported as a 400. */
    rc = write_enter(st);
    if (rc != FLEET_OK) {
        fleet_errf(ans->message, sizeof(ans->message), "cannot commit the update: %s",
                   fleet_strerror(rc));
        goto out;
    }
    pthread_mutex_lock(&st->lock);
    c.st = st;
    c.u = u;
    /* In a cluster the last journal seq (all of it applied under the cluster-wide write lock) is
     * what differs between any two writes, whichever daemon runs them. */
    c.blank_seq = (unsigned long)(st->pg ? fleet_pgj_applied(st->pg) : st->generation) * 1000003UL +
                  (unsigned long)getpid();
    for (size_t i = 0; i < nops && rc == FLEET_OK; i++) {
        if (ops[i].kind == FLEET_UPDATE_OTHER)
            rc = preparse(&c, &ops[i]);
    }
    if (rc != FLEET_OK) {
        pthread_mutex_unlock(&st->lock);
        write_leave(st);
        fleet_errf(ans->message, sizeof(ans->message), "%s", c.msg);
        goto out;
    }
    job.c = &c;
    job.ops = ops;
    job.nops = nops;
    rc = fleet_sandbox_start(&sb, update_child, &job);
    pthread_mutex_unlock(&st->lock);
    if (rc != FLEET_OK) {
        write_leave(st);
        fleet_errf(ans->message, sizeof(ans->message), "cannot start an update worker");
        goto out;
    }
    struct fleet_sandbox_limits lim = {u->timeout_ms, 0};
    rc = fleet_sandbox_collect(&sb, &lim, &ans->body, &code);
    struct fleet_query fq = {0};
    fq.timeout_ms = u->timeout_ms;
    rc = finish_child(rc, code, &fq, ans);
    if (rc == FLEET_OK) {
        txn = fleet_txn_new();
        rc = txn ? decode_log(ans->body.data, ans->body.len, txn) : FLEET_ERR_NOMEM;
        if (rc == FLEET_OK && fleet_txn_count(txn) > 0) {
            pthread_mutex_lock(&st->lock);
            rc = journal_commit(st, txn);
            if (rc == FLEET_OK)
                st->generation++;
            pthread_mutex_unlock(&st->lock);
        }
        if (rc != FLEET_OK && !ans->message[0])
            fleet_errf(ans->message, sizeof(ans->message), "cannot commit the update: %s",
                       fleet_strerror(rc));
    } else if (rc == FLEET_ERR_TIMEOUT) {
        fleet_errf(ans->message, sizeof(ans->message),
                   "the update ran longer than query_timeout (%ld ms) and was stopped; nothing "
                   "was changed",
                   u->timeout_ms);
    }
    write_leave(st);
out:
    fleet_txn_free(txn);
    fleet_buf_free(&c.log);
    fleet_buf_free(&ans->body);
    fleet_update_ops_free(ops, nops);
    return rc;
}

/* ---- direct access for the registries ------------------------------------------------------ */

enum fleet_err fleet_store_commit(struct fleet_store *st, const struct fleet_txn *txn)
{
    enum fleet_err rc = write_enter(st);
    if (rc != FLEET_OK)
        return rc;
    pthread_mutex_lock(&st->lock);
    rc = journal_commit(st, txn);
    if (rc == FLEET_OK)
        st->generation++;
    pthread_mutex_unlock(&st->lock);
    write_leave(st);
    return rc;
}

struct fleet_cluster *fleet_store_cluster(struct fleet_store *st)
{
    return st ? st->cluster : NULL;
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

long fleet_store_ontology_subjects(struct fleet_store *st, const char *predicate,
                                   const char *object, char ***out)
{
    long n = 0, cap = 16;
    char **v = calloc((size_t)cap + 1, sizeof(*v));
    *out = NULL;
    if (!v)
        return -1;
    pthread_mutex_lock(&st->lock);
    fleet_tid pat[4] = {0, iri_tid(st, predicate), iri_tid(st, object), st->onto_g}, q[4];
    struct fleet_qs_iter it;
    if (pat[1] && pat[2] && pat[3]) {
        fleet_qs_find(st->qs, pat, &it);
        while (fleet_qs_next(&it, q)) {
            struct fleet_term t;
            if (fleet_qs_term(st->qs, q[0], &t) != FLEET_OK || t.kind != FLEET_TERM_IRI)
                continue;
            if (n == cap) {
                char **nv = realloc(v, ((size_t)cap * 2 + 1) * sizeof(*v));
                if (!nv) {
                    n = -1;
                    break;
                }
                v = nv;
                cap *= 2;
            }
            if (!(v[n] = strdup(t.value))) {
                n = -1;
                break;
            }
            v[++n] = NULL;
        }
    }
    pthread_mutex_unlock(&st->lock);
    if (n < 0) {
        fleet_strv_free(v);
        return -1;
    }
    qsort(v, (size_t)n, sizeof(*v), strp_cmp);
    *out = v;
    return n;
}

char *fleet_store_literal(struct fleet_store *st, const char *graph, const char *subject,
                          const char *predicate)
{
    char *value = NULL;
    pthread_mutex_lock(&st->lock);
    fleet_tid pat[4] = {iri_tid(st, subject), iri_tid(st, predicate), 0,
                        graph ? iri_tid(st, graph) : FLEET_QS_ANY_GRAPH},
              q[4];
    struct fleet_qs_iter it;
    if (pat[0] && pat[1] && pat[3]) {
        fleet_qs_find(st->qs, pat, &it);
        while (!value && fleet_qs_next(&it, q)) {
            struct fleet_term t;
            if (fleet_qs_term(st->qs, q[2], &t) == FLEET_OK && t.kind == FLEET_TERM_LITERAL)
                value = strdup(t.value);
        }
    }
    pthread_mutex_unlock(&st->lock);
    return value;
}

uint64_t fleet_store_generation(struct fleet_store *st)
{
    pthread_mutex_lock(&st->lock);
    uint64_t g = st->generation;
    pthread_mutex_unlock(&st->lock);
    return g;
}

char **fleet_store_ontology_codes(struct fleet_store *st, const char *predicate, size_t n)
{
    char **v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return NULL;
    pthread_mutex_lock(&st->lock);
    fleet_tid pat[4] = {0, iri_tid(st, predicate), 0, st->onto_g}, q[4];
    struct fleet_qs_iter it;
    if (pat[1] && pat[3]) {
        fleet_qs_find(st->qs, pat, &it);
        while (fleet_qs_next(&it, q)) {
            struct fleet_term s, o;
            char *end;
            if (fleet_qs_term(st->qs, q[0], &s) != FLEET_OK || s.kind != FLEET_TERM_IRI ||
                fleet_qs_term(st->qs, q[2], &o) != FLEET_OK || o.kind != FLEET_TERM_LITERAL)
                continue;
            long code = strtol(o.value, &end, 10);
            if (*end || code < 0 || (size_t)code >= n || v[code])
                continue;
            v[code] = strdup(s.value);
        }
    }
    pthread_mutex_unlock(&st->lock);
    return v;
}

int fleet_store_has_literal(struct fleet_store *st, const char *predicate, const char *value)
{
    struct fleet_term t = {FLEET_TERM_LITERAL, value, NULL, NULL};
    int found = 0;
    pthread_mutex_lock(&st->lock);
    fleet_tid pat[4] = {0, iri_tid(st, predicate), fleet_qs_lookup(st->qs, &t),
                        FLEET_QS_ANY_GRAPH},
              q[4];
    struct fleet_qs_iter it;
    if (pat[1] && pat[2]) {
        fleet_qs_find(st->qs, pat, &it);
        found = fleet_qs_next(&it, q);
    }
    pthread_mutex_unlock(&st->lock);
    return found;
}

long fleet_store_each(struct fleet_store *st, const char *predicate, fleet_store_quad_fn fn,
                      void *ctx)
{
    long n = 0;
    pthread_mutex_lock(&st->lock);
    fleet_tid pat[4] = {0, iri_tid(st, predicate), 0, FLEET_QS_ANY_GRAPH}, q[4];
    struct fleet_qs_iter it;
    if (pat[1]) {
        fleet_qs_find(st->qs, pat, &it);
        while (fleet_qs_next(&it, q)) {
            struct fleet_term t[4] = {{FLEET_TERM_NONE, NULL, NULL, NULL}};
            int ok = 1;
            for (int i = 0; i < 4 && ok; i++)
                if (i < 3 || q[3] != FLEET_QS_DEFAULT_GRAPH)
                    ok = fleet_qs_term(st->qs, q[i], &t[i]) == FLEET_OK;
            if (!ok)
                continue;
            n++;
            if (fn(ctx, t) != 0)
                break;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return n;
}

/* ---- backups ----------------------------------------------------------------------------- */

struct dump_job {
    struct fleet_store *st;
    int out_fd;
};

static void nq_iri(struct fleet_buf *b, const char *s)
{
    fleet_buf_putc(b, '<');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || strchr("<>\"{}|^`\\", *p))
            fleet_buf_printf(b, "\\u%04X", *p);
        else
            fleet_buf_putc(b, (char)*p);
    }
    fleet_buf_putc(b, '>');
}

static void nq_term(struct fleet_buf *b, fleet_tid id, const struct fleet_term *t)
{
    switch (t->kind) {
    case FLEET_TERM_IRI:
        nq_iri(b, t->value);
        break;
    case FLEET_TERM_BLANK:
        /* Labels are renamed by term id: unique within the dump, always valid N-Quads. */
        fleet_buf_printf(b, "_:b%lu", (unsigned long)id);
        break;
    default:
        fleet_buf_putc(b, '"');
        for (const unsigned char *p = (const unsigned char *)t->value; *p; p++) {
            switch (*p) {
            case '"': fleet_buf_puts(b, "\\\""); break;
            case '\\': fleet_buf_puts(b, "\\\\"); break;
            case '\n': fleet_buf_puts(b, "\\n"); break;
            case '\r': fleet_buf_puts(b, "\\r"); break;
            default:
                if (*p < 0x20 || *p == 0x7f)
                    fleet_buf_printf(b, "\\u%04X", *p);
                else
                    fleet_buf_putc(b, (char)*p);
            }
        }
        fleet_buf_putc(b, '"');
        if (t->lang && *t->lang)
            fleet_buf_printf(b, "@%s", t->lang);
        else if (t->datatype && *t->datatype &&
                 strcmp(t->datatype, "http://www.w3.org/2001/XMLSchema#string") != 0) {
            fleet_buf_puts(b, "^^");
            nq_iri(b, t->datatype);
        }
    }
}

/* Runs in the forked child over the copy-on-write store: every quad but the ontology graph's, as
 * N-Quads, to job->out_fd. Reports "QUADS\n" on the pipe. */
static int dump_child(void *arg, int fd)
{
    struct dump_job *job = arg;
    struct fleet_store *st = job->st;
    fleet_tid pat[4] = {0, 0, 0, FLEET_QS_ANY_GRAPH}, q[4];
    struct fleet_qs_iter it;
    struct fleet_buf b = FLEET_BUF_INIT;
    unsigned long long n = 0;
    fleet_qs_find(st->qs, pat, &it);
    while (fleet_qs_next(&it, q)) {
        struct fleet_term t[4];
        if (q[3] == st->onto_g)
            continue;
        int ok = 1;
        for (int i = 0; i < 3 && ok; i++)
            ok = fleet_qs_term(st->qs, q[i], &t[i]) == FLEET_OK;
        if (ok && q[3] != FLEET_QS_DEFAULT_GRAPH)
            ok = fleet_qs_term(st->qs, q[3], &t[3]) == FLEET_OK;
        if (!ok)
            return 3;
        for (int i = 0; i < 3; i++) {
            nq_term(&b, q[i], &t[i]);
            fleet_buf_putc(&b, ' ');
        }
        if (q[3] != FLEET_QS_DEFAULT_GRAPH) {
            nq_term(&b, q[3], &t[3]);
            fleet_buf_putc(&b, ' ');
        }
        fleet_buf_puts(&b, ".\n");
        n++;
        if (b.len >= (1u << 20)) {
            if (b.oom || fleet_write_all(job->out_fd, b.data, b.len) != 0)
                return 2;
            fleet_buf_reset(&b);
        }
    }
    if (b.oom || (b.len && fleet_write_all(job->out_fd, b.data, b.len) != 0) ||
        fsync(job->out_fd) != 0)
        return 2;
    char line[32];
    int len = snprintf(line, sizeof(line), "%llu\n", n);
    return fleet_write_all(fd, line, (size_t)len) == 0 ? 0 : 2;
}

enum fleet_err fleet_store_dump(struct fleet_store *st, int fd, fleet_store_dump_hook hook,
                                void *hook_arg, uint64_t *generation, uint64_t *quads, char *err,
                                size_t errlen)
{
    struct dump_job job = {st, fd};
    struct fleet_sandbox sb;
    struct fleet_buf out = FLEET_BUF_INIT;
    int code = 0;
    enum fleet_err rc;

    pthread_mutex_lock(&st->lock);
    *generation = st->generation;
    if (hook && hook(hook_arg) != 0) {
        pthread_mutex_unlock(&st->lock);
        snprintf(err, errlen, "preparing the backup failed (see the log)");
        return FLEET_ERR_IO;
    }
    rc = fleet_sandbox_start(&sb, dump_child, &job);
    pthread_mutex_unlock(&st->lock);
    if (rc != FLEET_OK) {
        snprintf(err, errlen, "cannot fork the dump");
        return rc;
    }
    struct fleet_sandbox_limits lim = {0, 64};
    rc = fleet_sandbox_collect(&sb, &lim, &out, &code);
    if (rc == FLEET_OK && code == 0 && out.data) {
        *quads = strtoull(out.data, NULL, 10);
    } else {
        snprintf(err, errlen, "the dump failed (%s, code %d)",
                 rc == FLEET_OK ? "write error" : fleet_strerror(rc), code);
        if (rc == FLEET_OK)
            rc = FLEET_ERR_IO;
    }
    fleet_buf_free(&out);
    return rc;
}
