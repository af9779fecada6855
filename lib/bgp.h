/* SPDX-License-Identifier: MIT */
/* Native evaluation of the commonest dashboard query: a SELECT of plain variables over one basic
 * graph pattern with FILTERs, or a UNION of such groups (with FILTERs around it), in the default
 * graph (the paper's case study 1; tinyfleet's own matcher templates). rasqal
 * 0.9.33 runs such a query as nested loops through librdf, building a librdf node, a statement
 * and a rasqal literal for every triple it touches and looking every bound term up again by its
 * text; here the join runs on the quad store's term ids and only the FILTERs see rasqal
 * literals.
 *
 * What is the same as rasqal: the query is rasqal's own parse (nothing is parsed here); each
 * FILTER is evaluated by rasqal (rasqal_expression_evaluate2, the effective boolean value, an
 * error is false), with every variable of the pattern bound as librdf would bind it; a FILTER
 * constrains its whole group, so applying it as soon as its variables are bound gives the same
 * solutions. What is tinyfleet's: the join order (greedy: the pattern with the fewest candidate
 * quads first, then always a pattern sharing a bound variable, the most bound positions first)
 * and the order of the rows, which SPARQL leaves open without ORDER BY.
 *
 * OFFSET and LIMIT count solutions as they come (there is no ORDER BY); a DISTINCT is never
 * in the parse here, since the store applies it to the rows itself (sparql_text.h).
 *
 * A UNION's branches are run one after the other, each with its own order and FILTERs (the
 * FILTERs around the UNION are applied to every branch's solutions): a bag union, as SPARQL's.
 *
 * Anything else (OPTIONAL, a UNION joined with other patterns or nested, GRAPH, BIND, VALUES,
 * FROM, sub-queries,
 * ORDER BY, GROUP BY, aggregates and expressions in the projection, IRI()/URI() in a FILTER,
 * which would need the base IRI, a term type this module does not map) makes fleet_bgp_plan
 * decline, and the caller lets rasqal run the query. The plan is made by the parent from its
 * parse and run in the query child over its copy of the store. */
#ifndef FLEET_BGP_H
#define FLEET_BGP_H

#include <rasqal.h>
#include <stddef.h>
#include <stdint.h>

#include "quadstore.h"

struct fleet_bgp;

/* Whether a quad {s, p, o, g} found for a pattern belongs to the query's default graph (and is
 * the one occurrence of its triple there): the caller's dataset. */
typedef int (*fleet_bgp_accept_fn)(void *ctx, const fleet_tid q[4]);
/* One solution: row[i] is the id bound to vars[i] of fleet_bgp_plan, 0 when unbound. Returns 0
 * to go on, 1 to stop (a LIMIT reached), -1 to stop on an error it has reported. */
typedef int (*fleet_bgp_row_fn)(void *ctx, const fleet_tid *row);

/* A plan for rq (prepared in world, and kept alive by the caller while the plan lives)
 * projecting vars (names, nvars of them), or NULL when the query is outside this module (or
 * memory is short): then rasqal must run it. */
struct fleet_bgp *fleet_bgp_plan(rasqal_world *world, rasqal_query *rq,
                                 const struct fleet_qs *qs, char *const *vars, size_t nvars);
/* Runs the plan, calling row for each solution. Returns 0 when every solution was given or row
 * asked to stop, -1 when row failed, -2 when memory ran out, -3 when more than max_steps quads
 * were visited (a FILTER evaluation counts as 8) or, with a budget, 10 ms have passed (0: no
 * budget), giving nothing more. A plan may be run again. */
int fleet_bgp_run(struct fleet_bgp *b, fleet_bgp_accept_fn accept, void *actx,
                  fleet_bgp_row_fn row, void *rctx, uint64_t max_steps);
/* 1 when the plan may be run in the daemon's own thread under a step budget (store.c
 * run_inline): its FILTERs use only comparisons, logic, term tests and accessors and
 * arithmetic, whose cost is bounded and whose rasqal code is small. 0 for anything else
 * (regular expressions, which backtrack as long as a reader's pattern makes them; string
 * functions over literals of any length; casts, dates, hashes...): run in a query child, where
 * a rasqal defect cannot reach the daemon. */
int fleet_bgp_inline(const struct fleet_bgp *b);
void fleet_bgp_free(struct fleet_bgp *b);

#endif
