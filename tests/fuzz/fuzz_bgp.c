/* SPDX-License-Identifier: MIT */
/* libFuzzer target for lib/bgp.c, the native engine: arbitrary bytes, NUL-terminated, are parsed
 * by rasqal as the daemon parses a query (rasqal_query_prepare), and whatever parses is planned
 * and run against a small quad store holding IRIs, blank nodes and literals of several types.
 * Besides memory errors and leaks it checks what bgp.h promises: a run ends in 0 or, over its
 * step budget, -3 (the row callback never fails here), every projected id is 0 or a live term,
 * and a second run of the same plan gives the same number of rows.
 * Build: see tests/fuzz/run.sh (needs rasqal's and raptor's flags).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rasqal.h>

#include "bgp.h"
#include "quadstore.h"

static rasqal_world *world;
static struct fleet_qs *qs;

static void quiet(void *user, raptor_log_message *m)
{
    (void)user;
    (void)m;
}

static fleet_tid term(const char *kind, const char *value, const char *dt, const char *lang)
{
    struct fleet_term t = {FLEET_TERM_IRI, value, lang, dt};
    if (kind[0] == 'b')
        t.kind = FLEET_TERM_BLANK;
    else if (kind[0] == 'l')
        t.kind = FLEET_TERM_LITERAL;
    return fleet_qs_intern(qs, &t);
}

#define X "http://ex.org/"
#define XSD "http://www.w3.org/2001/XMLSchema#"

static void setup(void)
{
    world = rasqal_new_world();
    if (!world || rasqal_world_open(world))
        abort();
    raptor_world_set_log_handler(rasqal_world_get_raptor(world), NULL, quiet);
    rasqal_world_set_log_handler(world, NULL, quiet);
    qs = fleet_qs_new();
    if (!qs)
        abort();
    fleet_tid a = term("i", X "a", NULL, NULL), b = term("i", X "b", NULL, NULL),
              c = term("b", "c1", NULL, NULL), p = term("i", X "p", NULL, NULL),
              q = term("i", X "q", NULL, NULL),
              ty = term("i", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type", NULL, NULL),
              cls = term("i", X "Board", NULL, NULL), g = term("i", X "g", NULL, NULL);
    fleet_tid lits[] = {term("l", "1", XSD "integer", NULL), term("l", "2.5", XSD "decimal", NULL),
                        term("l", "x", NULL, NULL), term("l", "x", NULL, "en"),
                        term("l", "true", XSD "boolean", NULL), term("l", "0", XSD "integer", NULL)};
    fleet_tid quads[][4] = {{a, ty, cls, 0}, {b, ty, cls, g}, {a, p, b, 0}, {b, p, c, 0},
                            {c, p, a, g}, {a, p, a, 0}, {a, q, lits[0], 0}, {b, q, lits[1], 0},
                            {c, q, lits[2], g}, {a, q, lits[3], g}, {b, q, lits[4], 0},
                            {c, q, lits[5], 0}, {a, ty, cls, g}};
    for (size_t i = 0; i < sizeof(quads) / sizeof(quads[0]); i++)
        if (fleet_qs_add(qs, quads[i]) < 0)
            abort();
}

struct count {
    size_t n, nvars;
};

static int accept_all(void *ctx, const fleet_tid q[4])
{
    (void)ctx;
    (void)q;
    return 1; /* every graph: the default graph is their merge */
}

static int row(void *ctx, const fleet_tid *r)
{
    struct count *c = ctx;
    for (size_t i = 0; i < c->nvars; i++) {
        struct fleet_term t;
        if (r[i] && fleet_qs_term(qs, r[i], &t) != FLEET_OK)
            abort(); /* a projected id that names no term */
    }
    c->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!world)
        setup();
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    raptor_uri *base = raptor_new_uri(rasqal_world_get_raptor(world),
                                      (const unsigned char *)"http://ex.org/base/");
    rasqal_query *rq = rasqal_new_query(world, "sparql", NULL);
    if (rq && base && rasqal_query_prepare(rq, (const unsigned char *)s, base) == 0 &&
        rasqal_query_get_verb(rq) == RASQAL_QUERY_VERB_SELECT) {
        raptor_sequence *vs = rasqal_query_get_bound_variable_sequence(rq);
        int nv = vs ? raptor_sequence_size(vs) : 0;
        char **vars = calloc((size_t)nv + 1, sizeof(*vars));
        size_t n = 0;
        for (int i = 0; vars && i < nv; i++) {
            rasqal_variable *v = raptor_sequence_get_at(vs, i);
            if (v && v->name)
                vars[n++] = (char *)v->name;
        }
        struct fleet_bgp *plan = vars ? fleet_bgp_plan(world, rq, qs, vars, n) : NULL;
        if (plan) {
            struct count c1 = {0, n}, c2 = {0, n};
            int r1 = fleet_bgp_run(plan, accept_all, NULL, row, &c1, 100000);
            if (r1 != 0 && r1 != -3)
                abort();
            int r2 = fleet_bgp_run(plan, accept_all, NULL, row, &c2, 100000);
            if (r2 != r1 || (r1 == 0 && c1.n != c2.n))
                abort(); /* a plan run twice answers the same */
            (void)fleet_bgp_inline(plan);
            fleet_bgp_free(plan);
        }
        free(vars);
    }
    if (rq)
        rasqal_free_query(rq);
    if (base)
        raptor_free_uri(base);
    free(s);
    return 0;
}
