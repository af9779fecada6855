/* SPDX-License-Identifier: MIT */
/* Greedy join order for the triple patterns of a SPARQL query (see sparql_reorder.h). A small
 * lexer following the terminals of the SPARQL 1.1 grammar (section 19.8, lib/sparql_lex.c) turns
 * the text into tokens and pairs every bracket; a recursive walk over the group graph patterns of the WHERE
 * clause then checks each group strictly against the grammar (GroupGraphPatternSub) and collects
 * the patterns of the eligible ones. Whatever the walk does not understand makes the whole query
 * come out unchanged: rasqal will report the error itself, and an unreordered query is never
 * wrong. The lexer is the one sparql_text.c uses (sparql_lex.c). */
#include "sparql_reorder.h"

#include "sparql_lex.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NO_VAR SIZE_MAX

/* A term or a FILTER: tokens first..last, inclusive. */
struct span {
    size_t first, last;
};

struct pattern {
    struct span t[3]; /* subject, predicate, object */
};

struct walk {
    const struct fleet_sparql_lexed *lx;
    /* The patterns and FILTERs of the group being walked. A group that calls the walk on a
     * nested group is not eligible, so one set of arrays serves every level. */
    struct pattern *pats;
    size_t npats, cappats;
    struct span *filters;
    size_t nfilters, capfilters;
    struct fleet_buf out; /* the rewritten query so far */
    size_t copied;        /* source bytes up to here are in out */
    size_t limit;
    int rewritten;
};

static int is_var_or_iri(const struct fleet_sparql_lexed *lx, size_t i)
{
    return fleet_sparql_tok(lx, i)->type == FLEET_TK_VAR || fleet_sparql_is_iri(lx, i);
}

/* ---- the walk over group graph patterns ---------------------------------------------------- */

static enum fleet_err walk_group(struct walk *w, size_t open);

static enum fleet_err add_pattern(struct walk *w, struct span s, struct span p, struct span o)
{
    if (w->npats == w->cappats) {
        size_t cap = w->cappats ? w->cappats * 2 : 16;
        struct pattern *v =
            cap <= SIZE_MAX / sizeof(*v) ? realloc(w->pats, cap * sizeof(*v)) : NULL;
        if (!v)
            return FLEET_ERR_NOMEM;
        w->pats = v;
        w->cappats = cap;
    }
    w->pats[w->npats++] = (struct pattern){{s, p, o}};
    return FLEET_OK;
}

static enum fleet_err add_filter(struct walk *w, struct span f)
{
    if (w->nfilters == w->capfilters) {
        size_t cap = w->capfilters ? w->capfilters * 2 : 4;
        struct span *v =
            cap <= SIZE_MAX / sizeof(*v) ? realloc(w->filters, cap * sizeof(*v)) : NULL;
        if (!v)
            return FLEET_ERR_NOMEM;
        w->filters = v;
        w->capfilters = cap;
    }
    w->filters[w->nfilters++] = f;
    return FLEET_OK;
}

/* A graph node at i: returns the index after it, or i if there is none. *complex is set for a
 * blank node property list or a collection, which this module does not reorder. */
static size_t node_end(const struct fleet_sparql_lexed *lx, size_t i, size_t hi, int *complex)
{
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    if (i >= hi)
        return i;
    switch (t->type) {
    case FLEET_TK_VAR:
    case FLEET_TK_IRI:
    case FLEET_TK_PNAME:
    case FLEET_TK_NUMBER:
        return i + 1;
    case FLEET_TK_BNODE: /* the lexer lets a bare `_:` through; the grammar does not */
        return t->len > 2 ? i + 1 : i;
    case FLEET_TK_STRING:
        if (i + 1 < hi && fleet_sparql_tok(lx, i + 1)->type == FLEET_TK_LANGTAG)
            return i + 2;
        if (i + 1 < hi && fleet_sparql_is_punct(lx, i + 1, FLEET_P_HATHAT))
            return i + 2 < hi && fleet_sparql_is_iri(lx, i + 2) ? i + 3 : i;
        return i + 1;
    case FLEET_TK_WORD:
        return fleet_sparql_is_word(lx, i, "true") || fleet_sparql_is_word(lx, i, "false") ? i + 1
                                                                                           : i;
    case FLEET_TK_PUNCT:
        if (t->punct == '[' || t->punct == '(') {
            *complex = 1;
            return t->match + 1;
        }
        return i;
    default:
        return i;
    }
}

static int verb_starts(const struct fleet_sparql_lexed *lx, size_t i, size_t hi)
{
    return i < hi &&
           (is_var_or_iri(lx, i) || fleet_sparql_is_a(lx, i) || fleet_sparql_is_punct(lx, i, '^') ||
            fleet_sparql_is_punct(lx, i, '!') || fleet_sparql_is_punct(lx, i, '('));
}

/* A verb at i: a variable, or a path of one or more steps; anything beyond one IRI, prefixed
 * name or `a` is a property path and sets *complex. Returns the index after it, or i. */
static size_t verb_end(const struct fleet_sparql_lexed *lx, size_t i, size_t hi, int *complex)
{
    size_t j = i;
    if (i >= hi)
        return i;
    if (fleet_sparql_tok(lx, i)->type == FLEET_TK_VAR)
        return i + 1;
    for (;;) {
        while (j < hi && (fleet_sparql_is_punct(lx, j, '^') || fleet_sparql_is_punct(lx, j, '!'))) {
            *complex = 1;
            j++;
        }
        if (j < hi && fleet_sparql_is_punct(lx, j, '(')) {
            *complex = 1;
            j = fleet_sparql_tok(lx, j)->match + 1;
        } else if (j < hi && (fleet_sparql_is_iri(lx, j) || fleet_sparql_is_a(lx, j))) {
            j++;
        } else {
            return i;
        }
        if (j < hi && (fleet_sparql_is_punct(lx, j, '*') || fleet_sparql_is_punct(lx, j, '+') ||
                       fleet_sparql_is_punct(lx, j, '?'))) {
            *complex = 1;
            j++;
        }
        if (j < hi && (fleet_sparql_is_punct(lx, j, '/') || fleet_sparql_is_punct(lx, j, '|'))) {
            *complex = 1;
            j++;
            continue;
        }
        return j;
    }
}

/* TriplesSameSubjectPath at i, ending before hi. Sets *end past it; with collect set, appends
 * its patterns while none is complex, and sets *complex otherwise. */
static enum fleet_err walk_triples(struct walk *w, size_t i, size_t hi, int collect, size_t *end,
                                   int *complex)
{
    const struct fleet_sparql_lexed *lx = w->lx;
    int node_complex = 0;
    size_t k = node_end(lx, i, hi, &node_complex);
    struct span subj = {i, k - 1};
    enum fleet_err rc;

    if (k == i)
        return FLEET_ERR_INVAL;
    *complex |= node_complex;
    /* After `[ ... ]` or a collection the property list may be empty. */
    if (!node_complex || verb_starts(lx, k, hi)) {
        for (;;) {
            size_t v = verb_end(lx, k, hi, complex);
            struct span verb = {k, v - 1};
            if (v == k)
                return FLEET_ERR_INVAL;
            k = v;
            for (;;) {
                size_t o = node_end(lx, k, hi, complex);
                if (o == k)
                    return FLEET_ERR_INVAL;
                if (collect && !*complex) {
                    rc = add_pattern(w, subj, verb, (struct span){k, o - 1});
                    if (rc != FLEET_OK)
                        return rc;
                }
                k = o;
                if (k >= hi || !fleet_sparql_is_punct(lx, k, ','))
                    break;
                k++;
            }
            if (k >= hi || !fleet_sparql_is_punct(lx, k, ';'))
                break;
            while (k < hi && fleet_sparql_is_punct(lx, k, ';'))
                k++;
            if (!verb_starts(lx, k, hi))
                break;
        }
    }
    *end = k;
    return FLEET_OK;
}

/* Walks the group at open (if there is one there) and sets *end past it. */
static enum fleet_err walk_nested(struct walk *w, size_t open, size_t hi, size_t *end)
{
    if (open >= hi || !fleet_sparql_is_punct(w->lx, open, '{'))
        return FLEET_ERR_INVAL;
    *end = fleet_sparql_tok(w->lx, open)->match + 1;
    return walk_group(w, open);
}

/* A GraphPatternNotTriples at i. Sets *end past it, and *plain_filter for a FILTER without
 * EXISTS (the one element a reordered group may hold besides triples). */
static enum fleet_err walk_element(struct walk *w, size_t i, size_t hi, size_t *end,
                                   int *plain_filter)
{
    const struct fleet_sparql_lexed *lx = w->lx;
    enum fleet_err rc;
    size_t k;

    if (fleet_sparql_is_punct(lx, i, '{')) { /* GroupOrUnionGraphPattern */
        rc = walk_nested(w, i, hi, &k);
        while (rc == FLEET_OK && k < hi && fleet_sparql_is_word(lx, k, "UNION"))
            rc = walk_nested(w, k + 1, hi, &k);
        *end = k;
        return rc;
    }
    if (fleet_sparql_is_word(lx, i, "OPTIONAL") || fleet_sparql_is_word(lx, i, "MINUS"))
        return walk_nested(w, i + 1, hi, end);
    if (fleet_sparql_is_word(lx, i, "GRAPH")) {
        if (!is_var_or_iri(lx, i + 1))
            return FLEET_ERR_INVAL;
        return walk_nested(w, i + 2, hi, end);
    }
    if (fleet_sparql_is_word(lx, i, "SERVICE")) {
        k = fleet_sparql_is_word(lx, i + 1, "SILENT") ? i + 2 : i + 1;
        if (!is_var_or_iri(lx, k))
            return FLEET_ERR_INVAL;
        return walk_nested(w, k + 1, hi, end);
    }
    if (fleet_sparql_is_word(lx, i, "FILTER")) {
        size_t last;
        k = i + 1;
        if (fleet_sparql_is_word(lx, k, "NOT") && fleet_sparql_is_word(lx, k + 1, "EXISTS"))
            k++;
        if (fleet_sparql_is_word(lx, k, "EXISTS")) { /* expressions are not walked into */
            if (!fleet_sparql_is_punct(lx, k + 1, '{'))
                return FLEET_ERR_INVAL;
            *end = fleet_sparql_tok(lx, k + 1)->match + 1;
            return FLEET_OK;
        }
        if (fleet_sparql_is_punct(lx, k, '('))
            last = fleet_sparql_tok(lx, k)->match;
        else if ((fleet_sparql_tok(lx, k)->type == FLEET_TK_WORD || fleet_sparql_is_iri(lx, k)) &&
                 fleet_sparql_is_punct(lx, k + 1, '('))
            last = fleet_sparql_tok(lx, k + 1)->match;
        else
            return FLEET_ERR_INVAL;
        *plain_filter = 1;
        for (size_t j = k; j < last; j++)
            if (fleet_sparql_is_word(lx, j, "EXISTS"))
                *plain_filter = 0;
        *end = last + 1;
        return FLEET_OK;
    }
    if (fleet_sparql_is_word(lx, i, "BIND")) {
        if (!fleet_sparql_is_punct(lx, i + 1, '('))
            return FLEET_ERR_INVAL;
        *end = fleet_sparql_tok(lx, i + 1)->match + 1;
        return FLEET_OK;
    }
    if (fleet_sparql_is_word(lx, i, "VALUES")) { /* data, never walked into */
        k = i + 1;
        if (fleet_sparql_is_punct(lx, k, '('))
            k = fleet_sparql_tok(lx, k)->match + 1;
        else if (fleet_sparql_tok(lx, k)->type == FLEET_TK_VAR)
            k++;
        else
            return FLEET_ERR_INVAL;
        if (k >= hi || !fleet_sparql_is_punct(lx, k, '{'))
            return FLEET_ERR_INVAL;
        *end = fleet_sparql_tok(lx, k)->match + 1;
        return FLEET_OK;
    }
    return FLEET_ERR_INVAL;
}

/* `{ SELECT ... }`: walks the sub-select's WHERE group only; its projection, solution modifiers
 * and VALUES are not patterns. */
static enum fleet_err walk_subselect(struct walk *w, size_t i, size_t hi)
{
    const struct fleet_sparql_lexed *lx = w->lx;
    size_t end;
    while (i < hi && !fleet_sparql_is_punct(lx, i, '{'))
        i = fleet_sparql_is_punct(lx, i, '(') ? fleet_sparql_tok(lx, i)->match + 1 : i + 1;
    return walk_nested(w, i, hi, &end);
}

/* ---- greedy order -------------------------------------------------------------------------- */

struct var_ref {
    const char *name; /* borrowed from the source, sigil excluded */
    size_t len;
    int bnode;   /* blank node labels and variables are separate namespaces */
    size_t slot; /* pattern * 3 + position */
};

static int var_ref_cmp(const void *a, const void *b)
{
    const struct var_ref *x = a, *y = b;
    if (x->bnode != y->bnode)
        return x->bnode - y->bnode;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int c = memcmp(x->name, y->name, x->len);
    if (c)
        return c;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Rank by which of s, p, o are bound (bit 2, 1, 0): lower runs first. */
static const unsigned char rank_of_bound[8] = {7, 5, 6, 4, 3, 2, 1, 0};

static unsigned rank(const size_t *var_of, const unsigned char *bound, size_t pat)
{
    unsigned bits = 0;
    for (int k = 0; k < 3; k++) {
        size_t v = var_of[pat * 3 + k];
        if (v == NO_VAR || bound[v])
            bits |= 4u >> k;
    }
    return rank_of_bound[bits];
}

/* A binary min-heap of rank << 56 | pattern index: the best rank first, then the written order. */
static void heap_push(uint64_t *h, size_t *n, uint64_t key)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > key) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = key;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= last)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
    return top;
}

/* Fills order[0..n) with the greedy sequence of w's patterns. Each pattern's rank only improves,
 * at most three times, as its variables get bound, so a heap with stale entries skipped makes this
 * O(n log n) however large the group. */
static enum fleet_err greedy_order(const struct walk *w, size_t *order)
{
    const struct fleet_sparql_lexed *lx = w->lx;
    size_t n = w->npats, nrefs = 0, nvars = 0, nheap = 0, done = 0;
    struct var_ref *refs = malloc(3 * n * sizeof(*refs));
    size_t *var_of = malloc(3 * n * sizeof(*var_of));
    size_t *first = NULL, *users = NULL;
    unsigned char *bound = NULL, *cur = malloc(n), *picked = calloc(n, 1);
    uint64_t *heap = malloc(4 * n * sizeof(*heap));
    enum fleet_err rc = FLEET_ERR_NOMEM;

    if (!refs || !var_of || !cur || !picked || !heap)
        goto out;
    for (size_t s = 0; s < 3 * n; s++) {
        const struct span *sp = &w->pats[s / 3].t[s % 3];
        const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, sp->first);
        var_of[s] = NO_VAR;
        if (sp->first == sp->last && (t->type == FLEET_TK_VAR || t->type == FLEET_TK_BNODE)) {
            size_t skip = t->type == FLEET_TK_VAR ? 1 : 2;
            refs[nrefs++] =
                (struct var_ref){lx->src + t->start + skip, t->len - skip, t->type == FLEET_TK_BNODE, s};
        }
    }
    qsort(refs, nrefs, sizeof(*refs), var_ref_cmp);
    for (size_t r = 0; r < nrefs; r++) {
        if (r > 0 && (refs[r].bnode != refs[r - 1].bnode || refs[r].len != refs[r - 1].len ||
                      memcmp(refs[r].name, refs[r - 1].name, refs[r].len) != 0))
            nvars++;
        var_of[refs[r].slot] = nvars;
    }
    if (nrefs)
        nvars++;
    /* users[first[v] .. first[v + 1]) are the patterns that mention variable v. */
    first = calloc(nvars + 1, sizeof(*first));
    users = malloc((nrefs ? nrefs : 1) * sizeof(*users));
    bound = calloc(nvars ? nvars : 1, 1);
    if (!first || !users || !bound)
        goto out;
    for (size_t r = 0; r < nrefs; r++)
        first[var_of[refs[r].slot] + 1]++;
    for (size_t v = 0; v < nvars; v++)
        first[v + 1] += first[v];
    for (size_t r = 0; r < nrefs; r++) /* refs are sorted by variable, so this fills in order */
        users[r] = refs[r].slot / 3;

    for (size_t i = 0; i < n; i++) {
        cur[i] = (unsigned char)rank(var_of, bound, i);
        heap_push(heap, &nheap, (uint64_t)cur[i] << 56 | i);
    }
    while (nheap > 0) {
        uint64_t key = heap_pop(heap, &nheap);
        size_t i = (size_t)(key & ((UINT64_C(1) << 56) - 1));
        if (picked[i] || (key >> 56) != cur[i])
            continue; /* stale: picked already, or pushed again with a better rank */
        picked[i] = 1;
        order[done++] = i;
        for (int k = 0; k < 3; k++) {
            size_t v = var_of[i * 3 + k];
            if (v == NO_VAR || bound[v])
                continue;
            bound[v] = 1;
            for (size_t u = first[v]; u < first[v + 1]; u++) {
                size_t j = users[u];
                unsigned r = rank(var_of, bound, j);
                if (!picked[j] && r < cur[j]) {
                    cur[j] = (unsigned char)r;
                    heap_push(heap, &nheap, (uint64_t)r << 56 | j);
                }
            }
        }
    }
    rc = done == n ? FLEET_OK : FLEET_ERR_INTERNAL;
out:
    free(refs);
    free(var_of);
    free(first);
    free(users);
    free(bound);
    free(cur);
    free(picked);
    free(heap);
    return rc;
}

static size_t span_len(const struct fleet_sparql_lexed *lx, struct span s)
{
    return fleet_sparql_tok(lx, s.last)->start + fleet_sparql_tok(lx, s.last)->len -
           fleet_sparql_tok(lx, s.first)->start;
}

static void put_span(struct fleet_buf *b, const struct fleet_sparql_lexed *lx, struct span s)
{
    fleet_buf_append(b, lx->src + fleet_sparql_tok(lx, s.first)->start, span_len(lx, s));
}

/* Rewrites the group at open from w's patterns and FILTERs if the greedy order differs from the
 * written one. */
static enum fleet_err reorder_group(struct walk *w, size_t open)
{
    const struct fleet_sparql_lexed *lx = w->lx;
    size_t close = fleet_sparql_tok(lx, open)->match, n = w->npats, k;
    size_t from = fleet_sparql_tok(lx, open + 1)->start;
    size_t to = fleet_sparql_tok(lx, close - 1)->start + fleet_sparql_tok(lx, close - 1)->len;
    size_t *order;
    enum fleet_err rc;

    /* The heap packs a pattern's index into 56 bits and needs 4n entries. */
    if (n > SIZE_MAX / (4 * sizeof(uint64_t)) || (uint64_t)n >= UINT64_C(1) << 56)
        return FLEET_OK;
    if (!(order = malloc(n * sizeof(*order))))
        return FLEET_ERR_NOMEM;
    if ((rc = greedy_order(w, order)) != FLEET_OK)
        goto out;
    for (k = 0; k < n && order[k] == k; k++)
        ;
    if (k == n)
        goto out; /* already in order: the bytes stay as written */

    /* One pattern per line at the first one's indentation, if the group spans lines. */
    const char *sep = " ";
    size_t seplen = 1, ws = from;
    while (ws > 0 && (lx->src[ws - 1] == ' ' || lx->src[ws - 1] == '\t'))
        ws--;
    if (ws > 0 && lx->src[ws - 1] == '\n') {
        ws -= ws > 1 && lx->src[ws - 2] == '\r' ? 2 : 1;
        sep = lx->src + ws;
        seplen = from - ws;
    }

    /* Measured before it is written: repeated subjects can make it far longer than the query. */
    size_t budget = w->out.len < w->limit ? w->limit - w->out.len : 0;
    size_t need = from - w->copied;
    for (k = 0; k < n + w->nfilters && need <= budget; k++) {
        if (k < n)
            for (int t = 0; t < 3; t++)
                need += span_len(lx, w->pats[k].t[t]) + 2; /* and ' ', ' ' or " ." */
        else
            need += span_len(lx, w->filters[k - n]);
        need += seplen;
    }
    if (need > budget) {
        rc = FLEET_ERR_TOOBIG;
        goto out;
    }
    fleet_buf_append(&w->out, lx->src + w->copied, from - w->copied);
    for (k = 0; k < n; k++) {
        const struct pattern *p = &w->pats[order[k]];
        if (k > 0)
            fleet_buf_append(&w->out, sep, seplen);
        put_span(&w->out, lx, p->t[0]);
        fleet_buf_putc(&w->out, ' ');
        put_span(&w->out, lx, p->t[1]);
        fleet_buf_putc(&w->out, ' ');
        put_span(&w->out, lx, p->t[2]);
        fleet_buf_puts(&w->out, " .");
    }
    for (k = 0; k < w->nfilters; k++) {
        fleet_buf_append(&w->out, sep, seplen);
        put_span(&w->out, lx, w->filters[k]);
    }
    w->copied = to;
    w->rewritten = 1;
    if (w->out.oom)
        rc = FLEET_ERR_NOMEM;
out:
    free(order);
    return rc;
}

/* GroupGraphPattern at open: '{' ( SubSelect | GroupGraphPatternSub ) '}', where
 * GroupGraphPatternSub ::= TriplesBlock? ( GraphPatternNotTriples '.'? TriplesBlock? )*
 * and TriplesBlock ::= TriplesSameSubjectPath ( '.' TriplesBlock? )?. */
static enum fleet_err walk_group(struct walk *w, size_t open)
{
    const struct fleet_sparql_lexed *lx = w->lx;
    size_t close = fleet_sparql_tok(lx, open)->match, i = open + 1;
    enum { AT_START, AFTER_TRIPLES, AFTER_ELEMENT, AFTER_DOT } state = AT_START;
    int eligible = 1;
    enum fleet_err rc;

    w->npats = w->nfilters = 0;
    if (fleet_sparql_is_word(lx, i, "SELECT"))
        return walk_subselect(w, i, close);
    while (i < close) {
        size_t end = i;
        if (fleet_sparql_is_punct(lx, i, '.')) {
            if (state != AFTER_TRIPLES && state != AFTER_ELEMENT)
                return FLEET_ERR_INVAL;
            state = AFTER_DOT;
            i++;
            continue;
        }
        if (fleet_sparql_is_punct(lx, i, '{') ||
            (fleet_sparql_tok(lx, i)->type == FLEET_TK_WORD &&
             !fleet_sparql_is_word(lx, i, "true") && !fleet_sparql_is_word(lx, i, "false"))) {
            int plain_filter = 0;
            rc = walk_element(w, i, close, &end, &plain_filter);
            if (rc != FLEET_OK)
                return rc;
            if (!plain_filter)
                eligible = 0; /* and w's arrays may now hold a nested group's patterns */
            else if (eligible && (rc = add_filter(w, (struct span){i, end - 1})) != FLEET_OK)
                return rc;
            state = AFTER_ELEMENT;
        } else {
            int complex = 0;
            if (state == AFTER_TRIPLES)
                return FLEET_ERR_INVAL; /* two triples need a '.' between them */
            rc = walk_triples(w, i, close, eligible, &end, &complex);
            if (rc != FLEET_OK)
                return rc;
            if (complex)
                eligible = 0;
            state = AFTER_TRIPLES;
        }
        if (end <= i || end > close)
            return FLEET_ERR_INVAL; /* no progress, or past the group: not understood */
        i = end;
    }
    if (!eligible || w->npats < 2)
        return FLEET_OK;
    return reorder_group(w, open);
}

/* A `<long IRI> ex:p 1, 2, 3, ...` repeats the IRI once per object: past this many bytes the
 * rewrite is given up rather than letting a small query grow without bound. */
static size_t max_output(size_t len)
{
    const size_t slack = (size_t)1 << 20;
    return len <= (SIZE_MAX - slack) / 8 ? len * 8 + slack : SIZE_MAX;
}

/* Query ::= Prologue ( SelectQuery | ConstructQuery | DescribeQuery | AskQuery ) ValuesClause:
 * finds the WHERE group and walks it. Anything else (an update, a CONSTRUCT WHERE whose group is
 * also its template) is not understood. */
static enum fleet_err walk_query(struct walk *w)
{
    const struct fleet_sparql_lexed *lx = w->lx;
    size_t i = 0, eof = lx->n - 1, end;

    for (;;) {
        if (fleet_sparql_is_word(lx, i, "BASE") &&
            fleet_sparql_tok(lx, i + 1)->type == FLEET_TK_IRI) {
            i += 2;
        } else if (fleet_sparql_is_word(lx, i, "PREFIX") &&
                   fleet_sparql_tok(lx, i + 1)->type == FLEET_TK_PNAME &&
                   lx->src[fleet_sparql_tok(lx, i + 1)->start + fleet_sparql_tok(lx, i + 1)->len -
                           1] == ':' &&
                   fleet_sparql_tok(lx, i + 2)->type == FLEET_TK_IRI) {
            i += 3;
        } else {
            break;
        }
    }
    if (fleet_sparql_is_word(lx, i, "CONSTRUCT")) {
        if (!fleet_sparql_is_punct(lx, i + 1, '{'))
            return FLEET_ERR_INVAL;
        i = fleet_sparql_tok(lx, i + 1)->match + 1; /* the template is never touched */
    } else if (!fleet_sparql_is_word(lx, i, "SELECT") && !fleet_sparql_is_word(lx, i, "ASK") &&
               !fleet_sparql_is_word(lx, i, "DESCRIBE")) {
        return FLEET_ERR_INVAL;
    }
    while (i < eof && !fleet_sparql_is_punct(lx, i, '{'))
        i = fleet_sparql_is_punct(lx, i, '(') ? fleet_sparql_tok(lx, i)->match + 1 : i + 1;
    if (i >= eof)
        return FLEET_ERR_INVAL; /* e.g. DESCRIBE <x>: nothing to reorder */
    return walk_nested(w, i, eof, &end);
}

enum fleet_err fleet_sparql_reorder(const char *query, struct fleet_buf *out, int *changed,
                                    char *err, size_t errlen)
{
    struct fleet_sparql_lexed lx = {0};
    struct walk w = {0};
    size_t len;
    enum fleet_err rc;

    if (changed)
        *changed = 0;
    if (!query || !out) {
        fleet_errf(err, errlen, "no query or no output buffer");
        return FLEET_ERR_INVAL;
    }
    len = strlen(query);
    rc = fleet_sparql_lex(query, len, &lx, NULL, 0);
    if (rc == FLEET_OK) {
        w.lx = &lx;
        w.limit = max_output(len);
        rc = walk_query(&w);
    }
    if (rc == FLEET_ERR_NOMEM)
        goto out;
    if (rc == FLEET_OK && w.rewritten) {
        fleet_buf_append(&w.out, query + w.copied, len - w.copied);
        if (w.out.oom) {
            rc = FLEET_ERR_NOMEM;
            goto out;
        }
        fleet_buf_append(out, w.out.data, w.out.len);
    } else {
        w.rewritten = 0; /* not understood after all, or too big: the query as it came */
        fleet_buf_append(out, query, len);
    }
    rc = out->oom ? FLEET_ERR_NOMEM : FLEET_OK;
    if (rc == FLEET_OK && changed)
        *changed = w.rewritten;
out:
    if (rc == FLEET_ERR_NOMEM)
        fleet_errf(err, errlen, "out of memory");
    fleet_sparql_lex_free(&lx);
    free(w.pats);
    free(w.filters);
    fleet_buf_free(&w.out);
    return rc;
}
