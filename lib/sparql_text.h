/* SPDX-License-Identifier: MIT */
/* SPARQL text surgery around rasqal 0.9.33's defects, done on a token stream (strings, IRIs,
 * comments and prefixed names are never mistaken for keywords). rasqal parses and runs the
 * result; this module only rewrites what rasqal gets wrong into equivalent forms it runs
 * correctly, or names the feature it cannot run so the endpoint can answer 501 instead of a wrong
 * answer. No Redland calls here. */
#ifndef FLEET_SPARQL_TEXT_H
#define FLEET_SPARQL_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "term.h"

/* Bits for what a query or update uses that needs special handling. */
enum fleet_sparql_feature {
    FLEET_SPARQL_USES_SERVICE = 1 << 0,      /* SERVICE keyword */
    FLEET_SPARQL_USES_MINUS = 1 << 1,        /* MINUS (rasqal returns no result) */
    FLEET_SPARQL_USES_EXISTS = 1 << 2,       /* EXISTS / NOT EXISTS (rasqal: syntax error) */
    FLEET_SPARQL_USES_PATH = 1 << 3,         /* a property path operator / | ^ * + ? ! in a
                                                predicate position (rasqal: syntax error) */
    FLEET_SPARQL_USES_DESCRIBE = 1 << 4,     /* a DESCRIBE query */
};

/* Rewrites a query into a form rasqal 0.9.33 runs correctly, appending it to out:
 *  - the single-variable VALUES form `VALUES ?x { a b }` becomes `VALUES (?x) { (a) (b) }`
 *    (rasqal returns a wrong row or crashes on the former), both inline and after the WHERE;
 *  - `GROUP BY (expr AS ?v)` becomes `GROUP BY ?v` with `BIND(expr AS ?v)` appended as the last
 *    element of the WHERE group (rasqal groups wrongly otherwise); a bare `GROUP BY (expr)`
 *    without AS gets a fresh variable ?__fleet_gN the same way (the store hides ?__fleet_*
 *    from results). Done at the query's top level and in sub-selects; a WHERE that is only a
 *    sub-select is wrapped in braces so it can take the BIND;
 * and reports in *features the bits of enum fleet_sparql_feature the text uses.
 * Returns FLEET_ERR_INVAL with a message in err for a token-level error (unterminated string or
 * IRI, unbalanced braces); other syntax errors are left for rasqal to report. */
enum fleet_err fleet_sparql_fix_query(const char *query, struct fleet_buf *out, unsigned *features,
                                      char *err, size_t errlen);

/* What fleet_sparql_take_distinct took out of a query, for the caller to apply to its rows. */
struct fleet_sparql_slice {
    int distinct;    /* DISTINCT was removed: drop every row equal (all projected terms) to an
                        earlier one, then skip offset rows and keep at most limit */
    int has_limit;   /* a LIMIT was removed (only with distinct) */
    uint64_t limit;  /* if has_limit; saturates at UINT64_MAX */
    uint64_t offset; /* 0 if there was no OFFSET */
};

/* rasqal 0.9.33 keeps DISTINCT rows in an unbalanced binary tree, which degenerates into a list
 * (quadratic time) when rows arrive sorted, as the store yields them. For a query whose top-level
 * form is `SELECT DISTINCT`, appends to out the query without that keyword and without its
 * top-level LIMIT and OFFSET (the solution modifiers after the outermost WHERE group, before any
 * trailing VALUES; they apply after DISTINCT), and reports them in *slice for the caller to apply.
 * ORDER BY, GROUP BY and HAVING stay. `SELECT REDUCED` only loses its keyword (REDUCED permits
 * duplicates) and leaves slice->distinct 0. Sub-selects, DISTINCT inside aggregates, the other
 * query forms, and a top level this function does not fully understand (say a LIMIT that is not
 * an unsigned integer, or two of them) are appended unchanged, for rasqal to run or reject.
 * Returns FLEET_ERR_INVAL with a message in err for a token-level error, FLEET_ERR_NOMEM; on error
 * nothing is appended and *slice is all zero. */
enum fleet_err fleet_sparql_take_distinct(const char *query, struct fleet_buf *out,
                                          struct fleet_sparql_slice *slice, char *err,
                                          size_t errlen);

/* For a DESCRIBE query: the IRIs named directly (e.g. `DESCRIBE <a> <b>`, prefixed names expanded
 * through the query's PREFIX and BASE declarations into absolute IRIs) go into *iris (a new
 * NULL-terminated array of new strings; free with fleet_sparql_strv_free), and if the query
 * names variables or `*` and has a WHERE clause, *select receives (appended) an equivalent
 * `SELECT DISTINCT ?v... WHERE {...}` (same prologue, dataset clauses and solution modifiers)
 * whose rows give the other resources to describe; select is left empty otherwise. A relative IRI
 * with no BASE to resolve it stays relative. Returns FLEET_ERR_INVAL with a message for
 * token-level errors, a query that is not a DESCRIBE, or an undeclared prefix, and
 * FLEET_ERR_TOOBIG if the IRIs would exceed 16 times the query plus 1 MiB. */
enum fleet_err fleet_sparql_describe_plan(const char *query, char ***iris, struct fleet_buf *select,
                                          char *err, size_t errlen);
void fleet_sparql_strv_free(char **v);

/* One operation of an update request, split at top-level ';'. */
enum fleet_update_kind {
    FLEET_UPDATE_OTHER = 0,     /* anything rasqal parses itself (INSERT DATA, DELETE WHERE,
                                   CLEAR/DROP/CREATE GRAPH <g>, ADD/MOVE/COPY, LOAD), and
                                   anything malformed, for rasqal to report */
    FLEET_UPDATE_MODIFY,        /* DELETE {..} INSERT {..} / INSERT {..} / DELETE {..} ... WHERE
                                   with or without WITH/USING (always this kind, even where
                                   rasqal could parse it): see the fields below */
    FLEET_UPDATE_CLEAR_SPECIAL, /* CLEAR [SILENT] ALL | DEFAULT | NAMED */
    FLEET_UPDATE_DROP_SPECIAL,  /* DROP [SILENT] ALL | DEFAULT | NAMED */
};

enum fleet_update_target {
    FLEET_TARGET_NONE = 0,
    FLEET_TARGET_ALL,
    FLEET_TARGET_DEFAULT,
    FLEET_TARGET_NAMED,
};

struct fleet_update_op {
    enum fleet_update_kind kind;
    enum fleet_update_target target; /* for *_SPECIAL */
    int silent;
    char *text;       /* new: the operation alone, prefixed by the PREFIX declarations it uses
                         and the BASE if it needs one, as in force at that point of the request
                         (IRIs resolved), ready to hand to rasqal. Only what it uses, so that
                         many operations after many declarations stay linear in size */
    /* For FLEET_UPDATE_MODIFY (new strings or NULL): */
    char *with_iri;   /* WITH <iri>, absolute */
    char *delete_tpl; /* the text inside DELETE { ... }, or NULL */
    char *insert_tpl; /* the text inside INSERT { ... }, or NULL */
    char *where;      /* the group graph pattern after WHERE, including its braces */
    char **using;     /* NULL-terminated list of USING <iri>, absolute (new; never NULL for
                         MODIFY, possibly empty) */
    char **using_named; /* NULL-terminated list of USING NAMED <iri>, absolute (new; ditto) */
    char *prologue;   /* those declarations alone, for every kind (new; "" if none) */
};

/* Splits an update request into operations. rasqal drops every operation after a
 * DROP ALL/DEFAULT/NAMED and rejects DELETE/INSERT without WITH; splitting first lets the caller
 * run each operation on its own. Returns FLEET_ERR_INVAL with a message for token-level errors
 * (and for an empty operation before ';', or an undeclared prefix in WITH/USING), and
 * FLEET_ERR_TOOBIG if the operations' texts would exceed 16 times the request plus 1 MiB (a long
 * BASE or prefix IRI repeated into many operations).
 * *ops is new (free with fleet_update_ops_free); NULL with *nops == 0 for an empty request. */
enum fleet_err fleet_sparql_split_update(const char *update, struct fleet_update_op **ops,
                                         size_t *nops, char *err, size_t errlen);
void fleet_update_ops_free(struct fleet_update_op *ops, size_t nops);

/* Fills a query template: every `$name` variable whose name is in names[0..n) is replaced by
 * values[k] written as a SPARQL term (IRIs checked for characters IRIREF excludes, literals
 * escaped), so a parameter can never change the query's structure. A `$name` without a value
 * is an error (FLEET_ERR_INVAL naming it); `?name` variables are left alone. Appends to out. */
enum fleet_err fleet_sparql_bind(const char *tpl, const char *const *names,
                                 const struct fleet_term *values, size_t n, struct fleet_buf *out,
                                 char *err, size_t errlen);

#endif
