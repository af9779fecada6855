/* SPDX-License-Identifier: MIT */
/* Join order for rasqal 0.9.33, done on the query text. rasqal runs a basic graph pattern as
 * nested loops over its triple patterns in the order they are written, so a query that names
 * `?b ex:sub ?s1 ; ex:sub ?s2 ; ex:sub ?s3` before `?s1 a ex:Accelerometer` enumerates every
 * combination before the first check. This module rewrites each group of plain triple patterns
 * into a greedy, selectivity-ordered sequence; rasqal then runs the same query faster. No Redland
 * calls here: text in, text out. */
#ifndef FLEET_SPARQL_REORDER_H
#define FLEET_SPARQL_REORDER_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Appends query to out (borrowed; the query is not kept), with the triple patterns of each
 * eligible group graph pattern of its WHERE clause put in greedy order:
 *  - a group is eligible when it holds nothing but triples (subject, predicate-object lists with
 *    `;` and `,`, every term a variable, blank node label, IRI, prefixed name or literal: no
 *    `[ ]`, no collection, no property path) and FILTERs without EXISTS. Groups holding anything
 *    else (OPTIONAL, UNION, MINUS, GRAPH, SERVICE, BIND, VALUES, a nested group, a sub-select)
 *    are left as they are, but the groups nested in them are considered in turn (not those
 *    inside expressions, i.e. EXISTS);
 *  - the order picks, again and again, the first written pattern with the best rank given the
 *    variables bound by the patterns picked before it (0: s,p,o bound; 1: s,p; 2: s,o; 3: s;
 *    4: p,o; 5: o; 6: p; 7: none; constants are bound, blank node labels are variables,
 *    variables in FILTERs bind nothing);
 *  - a reordered group's text becomes one `s p o .` per pattern (each term's source text
 *    verbatim, one pattern per line at the indentation of the group's first line, or one line if
 *    the group was on one line) followed by its FILTERs, verbatim, in their written order (a
 *    FILTER constrains its whole group, so this is the same query). Comments between the
 *    group's first and last token are dropped. A group whose order does not change keeps its
 *    bytes, and so does everything outside the WHERE clause (CONSTRUCT templates, solution
 *    modifiers, a trailing VALUES block).
 * *changed (may be NULL) is set to 1 when the text was rewritten, 0 when out received the query
 * unchanged, which is what happens for any text this module does not understand (a syntax error,
 * an update, an unterminated string, brackets nested deeper than 128) and for a rewrite that
 * would exceed eight times the query plus 1 MiB. Returns FLEET_OK, or FLEET_ERR_NOMEM (with a
 * message in err, which may be NULL) when memory runs out, in which case nothing was appended;
 * FLEET_ERR_INVAL only for a NULL query or out. */
enum fleet_err fleet_sparql_reorder(const char *query, struct fleet_buf *out, int *changed,
                                    char *err, size_t errlen);

#endif
