/* SPDX-License-Identifier: MIT */
/* Native evaluation of a SELECT over one basic graph pattern with FILTERs (see bgp.h). */
#include "bgp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The effective boolean value, as rasqal's own FILTER applies it: exported by librasqal 0.9.33
 * (Debian 12) but missing from rasqal.h. Using it, not a copy of SPARQL 17.2.2, keeps FILTERs
 * here and in rasqal's engine the same. */
int rasqal_literal_as_boolean(rasqal_literal *l, int *error_p);

#define MAX_PATS 64
#define MAX_VARS 64
#define MAX_BRANCHES 16
#define XSD_STRING "http://www.w3.org/2001/XMLSchema#string"

/* A position of a pattern: a variable (var >= 0) or a constant term id (0: in no quad). */
struct slot {
    int var;
    fleet_tid id;
};

struct filter {
    rasqal_expression *e;
    uint64_t needs;  /* the branch's pattern variables it reads */
    int declined;    /* an expression this module does not hand to rasqal alone */
};

/* One basic graph pattern with its FILTERs; a query is one branch, or a UNION of several. */
struct branch {
    struct slot pat[MAX_PATS][3];
    size_t np;
    int order[MAX_PATS];
    struct filter *filt; /* its own FILTERs, then copies of the group's around the UNION */
    size_t nf;
    uint64_t binds; /* the variables its patterns bind */
    /* filters to apply after step k of the order: by_step[step_first[k] .. step_first[k+1]) */
    size_t *by_step, step_first[MAX_PATS + 1];
    int impossible; /* a constant of its patterns is in no quad: no solution */
};

struct fleet_bgp {
    rasqal_world *world;
    rasqal_evaluation_context *ec;
    const struct fleet_qs *qs;
    rasqal_variable *var[MAX_VARS]; /* the patterns' variables, then the FILTERs' others */
    size_t nv, nbound;               /* all of them; those the patterns bind */
    struct branch br[MAX_BRANCHES];
    size_t nbr;
    rasqal_expression *outer[MAX_PATS]; /* FILTERs of the group around a UNION */
    size_t nouter;
    int *proj; /* per projected name: variable index, or -1 (never bound) */
    size_t nproj;
    struct branch *cur; /* the branch being collected or run */
    int not_inline;     /* a FILTER uses more than inline_op() allows (see fleet_bgp_inline) */
    uint64_t offset, given; /* the query's OFFSET; solutions given so far (OFFSET counted) */
    int limit;              /* the query's LIMIT, or < 0 */
    fleet_tid bind[MAX_VARS];
    fleet_tid *row;
    /* running */
    fleet_bgp_accept_fn accept;
    void *actx;
    fleet_bgp_row_fn emit;
    void *rctx;
    int stop; /* 1 stop asked, -1 row error, -2 no memory, -3 over the step budget */
    uint64_t steps, max_steps; /* quads visited (a FILTER counts 8); 0: no budget */
    uint64_t deadline_ns;      /* with a budget: CLOCK_MONOTONIC time it also ends at */
};

static int var_index(struct fleet_bgp *b, rasqal_variable *v, int add)
{
    for (size_t i = 0; i < b->nv; i++)
        if (b->var[i] == v)
            return (int)i;
    if (!add || b->nv == MAX_VARS)
        return -1;
    b->var[b->nv] = v;
    return (int)b->nv++;
}

/* The store's view of a rasqal literal, as librdf would convert it (rasqal_literal_to_redland
 * _node): a URI, a blank node, or lexical form + language + datatype for every literal type. */
static int literal_term(rasqal_literal *l, struct fleet_term *t)
{
    memset(t, 0, sizeof(*t));
    rasqal_literal_type ty = l->type == RASQAL_LITERAL_INTEGER_SUBTYPE
                                 ? RASQAL_LITERAL_STRING
                                 : rasqal_literal_get_rdf_term_type(l);
    if (ty == RASQAL_LITERAL_URI) {
        t->kind = FLEET_TERM_IRI;
        t->value = (const char *)raptor_uri_as_string(l->value.uri);
    } else if (ty == RASQAL_LITERAL_STRING) {
        t->kind = FLEET_TERM_LITERAL;
        t->value = (const char *)l->string;
        t->lang = l->language && l->language[0] ? l->language : NULL;
        t->datatype = l->datatype && !t->lang ? (const char *)raptor_uri_as_string(l->datatype)
                                              : NULL;
        if (t->datatype && strcmp(t->datatype, XSD_STRING) == 0)
            t->datatype = NULL;
    } else if (ty == RASQAL_LITERAL_BLANK) {
        t->kind = FLEET_TERM_BLANK;
        t->value = (const char *)l->string;
    } else {
        return -1;
    }
    return t->value ? 0 : -1;
}

static int add_slot(struct fleet_bgp *b, rasqal_literal *l, struct slot *s)
{
    struct branch *br = b->cur;
    if (!l)
        return -1;
    if (l->type == RASQAL_LITERAL_VARIABLE) {
        s->var = var_index(b, l->value.variable, 1);
        s->id = 0;
        return s->var < 0 ? -1 : 0;
    }
    struct fleet_term t;
    /* A blank node in a query pattern is a variable to rasqal's parser already; one that is
     * still a term here is declined rather than guessed at. */
    if (literal_term(l, &t) != 0 || t.kind == FLEET_TERM_BLANK)
        return -1;
    s->var = -1;
    s->id = fleet_qs_lookup(b->qs, &t);
    if (s->id == 0)
        br->impossible = 1;
    return 0;
}

static int add_filter(struct branch *br, rasqal_expression *e)
{
    struct filter *f = realloc(br->filt, (br->nf + 1) * sizeof(*f));
    if (!f)
        return -1;
    br->filt = f;
    memset(&f[br->nf], 0, sizeof(f[0]));
    f[br->nf++].e = e;
    return 0;
}

static int collect_triples(struct fleet_bgp *b, rasqal_graph_pattern *gp)
{
    struct branch *br = b->cur;
    rasqal_triple *t;
    for (int i = 0; (t = rasqal_graph_pattern_get_triple(gp, i)); i++) {
        if (t->origin || br->np == MAX_PATS)
            return -1;
        if (add_slot(b, t->subject, &br->pat[br->np][0]) != 0 ||
            add_slot(b, t->predicate, &br->pat[br->np][1]) != 0 ||
            add_slot(b, t->object, &br->pat[br->np][2]) != 0)
            return -1;
        br->np++;
    }
    return 0;
}

/* A group of BASIC and FILTER patterns (the FILTERs of a group constrain the whole group), or
 * one BASIC pattern, into b->cur. Anything else declines. */
static int collect_group(struct fleet_bgp *b, rasqal_graph_pattern *gp)
{
    rasqal_graph_pattern_operator op = rasqal_graph_pattern_get_operator(gp);
    rasqal_expression *fe = rasqal_graph_pattern_get_filter_expression(gp);
    if (op != RASQAL_GRAPH_PATTERN_OPERATOR_BASIC && op != RASQAL_GRAPH_PATTERN_OPERATOR_GROUP)
        return -1;
    if (fe && add_filter(b->cur, fe) != 0)
        return -1;
    if (op == RASQAL_GRAPH_PATTERN_OPERATOR_BASIC) {
        if (rasqal_graph_pattern_get_sub_graph_pattern(gp, 0))
            return -1;
        return collect_triples(b, gp);
    }
    rasqal_graph_pattern *sub;
    for (int i = 0; (sub = rasqal_graph_pattern_get_sub_graph_pattern(gp, i)); i++) {
        rasqal_graph_pattern_operator sop = rasqal_graph_pattern_get_operator(sub);
        rasqal_expression *sfe = rasqal_graph_pattern_get_filter_expression(sub);
        if (sop == RASQAL_GRAPH_PATTERN_OPERATOR_FILTER) {
            if (!sfe || add_filter(b->cur, sfe) != 0)
                return -1;
        } else if (sop == RASQAL_GRAPH_PATTERN_OPERATOR_BASIC) {
            if (rasqal_graph_pattern_get_sub_graph_pattern(sub, 0))
                return -1;
            if (sfe && add_filter(b->cur, sfe) != 0)
                return -1;
            if (collect_triples(b, sub) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

static int collect_branch(struct fleet_bgp *b, rasqal_graph_pattern *gp)
{
    if (b->nbr == MAX_BRANCHES)
        return -1;
    b->cur = &b->br[b->nbr++];
    return collect_group(b, gp) != 0 || b->cur->np == 0 ? -1 : 0;
}

/* The query's pattern: one group as above (one branch), or a UNION of such groups (a branch
 * each), alone or in a group with FILTERs (applied to every branch's solutions). */
static int collect(struct fleet_bgp *b, rasqal_graph_pattern *gp)
{
    rasqal_graph_pattern *u = NULL, *sub;
    if (rasqal_graph_pattern_get_operator(gp) == RASQAL_GRAPH_PATTERN_OPERATOR_UNION) {
        u = gp;
    } else if (rasqal_graph_pattern_get_operator(gp) == RASQAL_GRAPH_PATTERN_OPERATOR_GROUP) {
        for (int i = 0; (sub = rasqal_graph_pattern_get_sub_graph_pattern(gp, i)); i++)
            if (rasqal_graph_pattern_get_operator(sub) == RASQAL_GRAPH_PATTERN_OPERATOR_UNION)
                u = sub;
    }
    if (!u)
        return collect_branch(b, gp);
    if (rasqal_graph_pattern_get_filter_expression(u))
        return -1;
    if (u != gp) { /* the group holds the UNION and FILTERs, nothing else */
        rasqal_expression *fe = rasqal_graph_pattern_get_filter_expression(gp);
        if (fe)
            b->outer[b->nouter++] = fe;
        for (int i = 0; (sub = rasqal_graph_pattern_get_sub_graph_pattern(gp, i)); i++) {
            if (sub == u)
                continue;
            fe = rasqal_graph_pattern_get_filter_expression(sub);
            if (rasqal_graph_pattern_get_operator(sub) != RASQAL_GRAPH_PATTERN_OPERATOR_FILTER ||
                !fe || b->nouter == MAX_PATS)
                return -1;
            b->outer[b->nouter++] = fe;
        }
    }
    for (int i = 0; (sub = rasqal_graph_pattern_get_sub_graph_pattern(u, i)); i++)
        if (collect_branch(b, sub) != 0)
            return -1;
    /* the group's FILTERs constrain each branch's solutions */
    for (size_t k = 0; k < b->nbr; k++)
        for (size_t j = 0; j < b->nouter; j++)
            if (add_filter(&b->br[k], b->outer[j]) != 0)
                return -1;
    return b->nbr ? 0 : -1;
}

/* The operators a FILTER may use for the query to be run in the daemon itself (fleet_bgp_inline):
 * comparisons, logic, term tests and accessors and arithmetic, whose cost is bounded and whose
 * rasqal code is small. Not: regular expressions (a reader's pattern can backtrack for as long
 * as it likes), string functions (literals of any length), hashes, casts, dates, anything else:
 * a rasqal defect there stays in a query child. */
static int inline_op(rasqal_op op)
{
    switch (op) {
    case RASQAL_EXPR_AND:
    case RASQAL_EXPR_OR:
    case RASQAL_EXPR_BANG:
    case RASQAL_EXPR_EQ:
    case RASQAL_EXPR_NEQ:
    case RASQAL_EXPR_LT:
    case RASQAL_EXPR_GT:
    case RASQAL_EXPR_LE:
    case RASQAL_EXPR_GE:
    case RASQAL_EXPR_SAMETERM:
    case RASQAL_EXPR_LITERAL:
    case RASQAL_EXPR_BOUND:
    case RASQAL_EXPR_ISURI:
    case RASQAL_EXPR_ISBLANK:
    case RASQAL_EXPR_ISLITERAL:
    case RASQAL_EXPR_ISNUMERIC:
    case RASQAL_EXPR_LANG:
    case RASQAL_EXPR_DATATYPE:
    case RASQAL_EXPR_UMINUS:
    case RASQAL_EXPR_PLUS:
    case RASQAL_EXPR_MINUS:
    case RASQAL_EXPR_STAR:
    case RASQAL_EXPR_SLASH:
        return 1;
    default:
        return 0;
    }
}

struct visit {
    struct fleet_bgp *b;
    struct branch *br;
    struct filter *f;
};

static int visit_expr(void *user, rasqal_expression *e)
{
    struct visit *v = user;
    switch (e->op) {
    /* relative IRIs would need the query's base, which this module does not carry */
    case RASQAL_EXPR_IRI:
    case RASQAL_EXPR_URI:
    /* aggregates and sub-patterns belong to rasqal's engine */
    case RASQAL_EXPR_COUNT:
    case RASQAL_EXPR_SUM:
    case RASQAL_EXPR_AVG:
    case RASQAL_EXPR_MIN:
    case RASQAL_EXPR_MAX:
    case RASQAL_EXPR_SAMPLE:
    case RASQAL_EXPR_GROUP_CONCAT:
    case RASQAL_EXPR_VARSTAR:
        v->f->declined = 1;
        return 1;
    default:
        break;
    }
    if (!inline_op(e->op))
        v->b->not_inline = 1;
    if (e->op == RASQAL_EXPR_LITERAL && e->literal &&
        e->literal->type == RASQAL_LITERAL_VARIABLE) {
        int i = var_index(v->b, e->literal->value.variable, 1);
        if (i < 0) {
            v->f->declined = 1;
            return 1;
        }
        if ((size_t)i < v->b->nbound && (v->br->binds & ((uint64_t)1 << i)))
            v->f->needs |= (uint64_t)1 << i;
    }
    return 0; /* go on into the arguments */
}

static size_t estimate(const struct fleet_qs *qs, const struct slot s[3], uint64_t bound)
{
    fleet_tid pat[4] = {FLEET_QS_ANY, FLEET_QS_ANY, FLEET_QS_ANY, FLEET_QS_ANY_GRAPH};
    size_t vars_bound = 0;
    for (int i = 0; i < 3; i++) {
        if (s[i].var < 0)
            pat[i] = s[i].id;
        else if (bound & ((uint64_t)1 << s[i].var))
            vars_bound++;
    }
    size_t n = fleet_qs_estimate(qs, pat);
    /* a position bound by an earlier pattern narrows the walk to that term's quads: counted
     * as a hundredfold, which keeps the join connected without knowing the values */
    while (vars_bound--)
        n /= 100;
    return n;
}

/* Greedy order: first the pattern with the fewest candidate quads, then again and again a
 * pattern sharing a bound variable (any, when none does), fewest estimated candidates first. */
static void plan_order(struct fleet_bgp *fb, struct branch *b)
{
    uint64_t bound = 0;
    int used[MAX_PATS] = {0};
    for (size_t k = 0; k < b->np; k++) {
        int best = -1, best_conn = 0;
        size_t best_n = SIZE_MAX;
        for (size_t p = 0; p < b->np; p++) {
            if (used[p])
                continue;
            int conn = 0;
            for (int i = 0; i < 3; i++)
                if (b->pat[p][i].var >= 0 && (bound & ((uint64_t)1 << b->pat[p][i].var)))
                    conn = 1;
            size_t n = estimate(fb->qs, b->pat[p], bound);
            if (best < 0 || conn > best_conn || (conn == best_conn && n < best_n)) {
                best = (int)p;
                best_conn = conn;
                best_n = n;
            }
        }
        used[best] = 1;
        b->order[k] = best;
        for (int i = 0; i < 3; i++)
            if (b->pat[best][i].var >= 0)
                bound |= (uint64_t)1 << b->pat[best][i].var;
    }
}

/* Each FILTER goes after the first step that binds all the pattern variables it reads. */
static int place_filters(struct branch *b)
{
    b->by_step = calloc(b->nf ? b->nf : 1, sizeof(*b->by_step));
    if (!b->by_step)
        return -1;
    uint64_t bound = 0, *after = calloc(b->np + 1, sizeof(*after));
    if (!after)
        return -1;
    for (size_t k = 0; k < b->np; k++) {
        int p = b->order[k];
        for (int i = 0; i < 3; i++)
            if (b->pat[p][i].var >= 0)
                bound |= (uint64_t)1 << b->pat[p][i].var;
        after[k] = bound;
    }
    size_t n = 0;
    for (size_t k = 0; k < b->np; k++) {
        b->step_first[k] = n;
        for (size_t f = 0; f < b->nf; f++) {
            uint64_t need = b->filt[f].needs;
            int here = (need & after[k]) == need && (k == 0 || (need & after[k - 1]) != need);
            if (here)
                b->by_step[n++] = f;
        }
    }
    b->step_first[b->np] = n;
    free(after);
    return n == b->nf ? 0 : -1;
}

struct fleet_bgp *fleet_bgp_plan(rasqal_world *world, rasqal_query *rq,
                                 const struct fleet_qs *qs, char *const *vars, size_t nvars)
{
    if (!rq || rasqal_query_get_verb(rq) != RASQAL_QUERY_VERB_SELECT ||
        rasqal_query_get_distinct(rq) || rasqal_query_get_order_condition(rq, 0) ||
        rasqal_query_get_group_condition(rq, 0) || rasqal_query_get_having_condition(rq, 0) ||
        rasqal_query_get_bindings_variables_sequence(rq) ||
        rasqal_query_get_data_graph(rq, 0))
        return NULL;
    raptor_sequence *bv = rasqal_query_get_bound_variable_sequence(rq);
    for (int i = 0; bv && i < raptor_sequence_size(bv); i++) {
        rasqal_variable *v = raptor_sequence_get_at(bv, i);
        if (!v || v->expression)
            return NULL;
    }
    rasqal_graph_pattern *gp = rasqal_query_get_query_graph_pattern(rq);
    if (!gp)
        return NULL;
    struct fleet_bgp *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->qs = qs;
    b->world = world;
    /* without ORDER BY and DISTINCT, OFFSET and LIMIT count solutions as they come */
    b->offset = rasqal_query_get_offset(rq) > 0 ? (uint64_t)rasqal_query_get_offset(rq) : 0;
    b->limit = rasqal_query_get_limit(rq);
    if (collect(b, gp) != 0)
        goto decline;
    b->nbound = b->nv;
    size_t nf = 0;
    for (size_t k = 0; k < b->nbr; k++) {
        struct branch *br = &b->br[k];
        for (size_t p = 0; p < br->np; p++)
            for (int i = 0; i < 3; i++)
                if (br->pat[p][i].var >= 0)
                    br->binds |= (uint64_t)1 << br->pat[p][i].var;
        for (size_t f = 0; f < br->nf; f++) {
            struct visit v = {b, br, &br->filt[f]};
            rasqal_expression_visit(br->filt[f].e, visit_expr, &v);
            if (br->filt[f].declined)
                goto decline;
        }
        nf += br->nf;
    }
    b->proj = calloc(nvars ? nvars : 1, sizeof(*b->proj));
    b->row = calloc(nvars ? nvars : 1, sizeof(*b->row));
    if (!b->proj || !b->row)
        goto decline;
    b->nproj = nvars;
    for (size_t i = 0; i < nvars; i++) {
        b->proj[i] = -1;
        for (size_t k = 0; k < b->nbound; k++)
            if (strcmp((const char *)b->var[k]->name, vars[i]) == 0)
                b->proj[i] = (int)k;
    }
    if (nf) {
        b->ec = rasqal_new_evaluation_context(b->world, NULL, RASQAL_COMPARE_XQUERY);
        if (!b->ec)
            goto decline;
    }
    for (size_t k = 0; k < b->nbr; k++) {
        plan_order(b, &b->br[k]);
        if (place_filters(&b->br[k]) != 0)
            goto decline;
    }
    return b;
decline:
    fleet_bgp_free(b);
    return NULL;
}

int fleet_bgp_inline(const struct fleet_bgp *b)
{
    return !b->not_inline;
}

void fleet_bgp_free(struct fleet_bgp *b)
{
    if (!b)
        return;
    if (b->ec)
        rasqal_free_evaluation_context(b->ec);
    for (size_t k = 0; k < b->nbr; k++) {
        free(b->br[k].filt);
        free(b->br[k].by_step);
    }
    free(b->proj);
    free(b->row);
    free(b);
}

/* The rasqal literal of a stored term, as librdf makes it (redland_node_to_rasqal_literal). */
static rasqal_literal *term_literal(struct fleet_bgp *b, fleet_tid id)
{
    struct fleet_term t;
    if (fleet_qs_term(b->qs, id, &t) != FLEET_OK)
        return NULL;
    raptor_world *rw = rasqal_world_get_raptor(b->world);
    size_t n = strlen(t.value);
    unsigned char *s = malloc(n + 1);
    if (!s)
        return NULL;
    memcpy(s, t.value, n + 1);
    switch (t.kind) {
    case FLEET_TERM_IRI: {
        raptor_uri *u = raptor_new_uri_from_counted_string(rw, s, n);
        free(s);
        return u ? rasqal_new_uri_literal(b->world, u) : NULL;
    }
    case FLEET_TERM_BLANK:
        return rasqal_new_simple_literal(b->world, RASQAL_LITERAL_BLANK, s);
    case FLEET_TERM_LITERAL: {
        char *lang = NULL;
        raptor_uri *dt = NULL;
        if (t.lang && t.lang[0]) {
            lang = strdup(t.lang);
            if (!lang) {
                free(s);
                return NULL;
            }
        } else if (t.datatype) {
            dt = raptor_new_uri(rw, (const unsigned char *)t.datatype);
            if (!dt) {
                free(s);
                return NULL;
            }
        }
        return rasqal_new_string_literal(b->world, s, lang, dt, NULL);
    }
    default:
        free(s);
        return NULL;
    }
}

/* Applies the FILTERs placed after step k; 1 if the solution so far passes them all. */
static int filters_pass(struct fleet_bgp *b, size_t k)
{
    struct branch *br = b->cur;
    for (size_t j = br->step_first[k]; j < br->step_first[k + 1]; j++) {
        struct filter *f = &br->filt[br->by_step[j]];
        b->steps += 8;
        for (size_t i = 0; i < b->nbound; i++) {
            if (!(f->needs & ((uint64_t)1 << i)))
                continue;
            rasqal_literal *l = term_literal(b, b->bind[i]);
            if (!l) {
                b->stop = -2;
                return 0;
            }
            rasqal_variable_set_value(b->var[i], l);
        }
        int error = 0;
        rasqal_literal *r = rasqal_expression_evaluate2(f->e, b->ec, &error);
        int ok = 0;
        if (r && !error)
            ok = rasqal_literal_as_boolean(r, &error) && !error;
        if (r)
            rasqal_free_literal(r);
        if (!ok)
            return 0;
    }
    return 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The budget: steps, and (looked at every 256 steps) the time a long FILTER may take. */
static int over_budget(struct fleet_bgp *b)
{
    if (!b->max_steps)
        return 0;
    b->steps++;
    return b->steps > b->max_steps || ((b->steps & 255) == 0 && now_ns() > b->deadline_ns);
}

static void step(struct fleet_bgp *b, size_t k)
{
    struct branch *br = b->cur;
    if (k == br->np) {
        if (b->given++ < b->offset)
            return;
        if (b->limit >= 0 && b->given - b->offset > (uint64_t)b->limit) {
            b->stop = 1;
            return;
        }
        for (size_t i = 0; i < b->nproj; i++)
            b->row[i] = b->proj[i] >= 0 ? b->bind[b->proj[i]] : 0;
        int r = b->emit(b->rctx, b->row);
        if (r)
            b->stop = r > 0 ? 1 : -1;
        return;
    }
    const struct slot *s = br->pat[br->order[k]];
    fleet_tid pat[4] = {0, 0, 0, FLEET_QS_ANY_GRAPH}, q[4];
    int fresh[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (s[i].var < 0) {
            pat[i] = s[i].id;
        } else if (b->bind[s[i].var]) {
            pat[i] = b->bind[s[i].var];
        } else {
            fresh[i] = 1;
            pat[i] = FLEET_QS_ANY;
        }
    }
    struct fleet_qs_iter it;
    fleet_qs_find(b->qs, pat, &it);
    while (!b->stop && fleet_qs_next(&it, q)) {
        if (over_budget(b)) {
            b->stop = -3;
            break;
        }
        /* a variable twice in one pattern (?x ?p ?x) binds once */
        int ok = 1;
        for (int i = 0; i < 3 && ok; i++)
            for (int j = i + 1; j < 3; j++)
                if (fresh[i] && fresh[j] && s[i].var == s[j].var && q[i] != q[j])
                    ok = 0;
        if (!ok || !b->accept(b->actx, q))
            continue;
        for (int i = 0; i < 3; i++)
            if (fresh[i])
                b->bind[s[i].var] = q[i];
        if (filters_pass(b, k))
            step(b, k + 1);
        for (int i = 0; i < 3; i++)
            if (fresh[i])
                b->bind[s[i].var] = 0;
    }
}

int fleet_bgp_run(struct fleet_bgp *b, fleet_bgp_accept_fn accept, void *actx,
                  fleet_bgp_row_fn row, void *rctx, uint64_t max_steps)
{
    b->steps = 0;
    b->max_steps = max_steps;
    b->deadline_ns = max_steps ? now_ns() + 10000000u : 0; /* 10 ms */
    b->accept = accept;
    b->actx = actx;
    b->emit = row;
    b->rctx = rctx;
    b->stop = 0;
    b->given = 0;
    memset(b->bind, 0, sizeof(b->bind));
    if (b->limit == 0)
        return 0;
    /* the branches of a UNION one after the other; a FILTER that reads none of a branch's
     * variables is placed after its step 0 */
    for (size_t k = 0; k < b->nbr && !b->stop; k++) {
        b->cur = &b->br[k];
        if (b->cur->impossible)
            continue;
        step(b, 0);
        for (size_t i = 0; i < b->nbound; i++)
            rasqal_variable_set_value(b->var[i], NULL);
    }
    return b->stop < 0 ? b->stop : 0;
}
