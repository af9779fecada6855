/* SPDX-License-Identifier: MIT */
/* SPARQL text surgery around rasqal 0.9.33's defects (see sparql_text.h). Everything works on a
 * token stream from a small lexer that follows the terminals of the SPARQL 1.1 grammar (section
 * 19.8), so a keyword inside a string, an IRI or a comment is never taken for one. The lexer also
 * pairs every bracket, which gives each later step a bounded region to work in: no scan leaves
 * the brackets it started in, and nesting is capped, so recursion is bounded too. Rewrites are
 * recorded as edits on byte ranges of the source and applied in one copy; VALUES and GROUP BY are
 * rewritten in two passes so the second pass sees the first one's result as plain text. */
#include "sparql_text.h"
#include "sparql_lex.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* fleet_buf_steal(), made safe for a buffer nothing was written to: steal() on such a buffer
 * allocates without writing the terminating NUL (lib/buf.c), so terminate it first. Returns the
 * bytes (new) or NULL when out of memory. */
static char *buf_take(struct fleet_buf *b)
{
    fleet_buf_append(b, "", 0);
    return fleet_buf_steal(b, NULL);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_opener(const struct fleet_sparql_lexed *lx, size_t i)
{
    return fleet_sparql_is_punct(lx, i, '{') || fleet_sparql_is_punct(lx, i, '(') ||
           fleet_sparql_is_punct(lx, i, '[');
}

static int is_closer(const struct fleet_sparql_lexed *lx, size_t i)
{
    return fleet_sparql_is_punct(lx, i, '}') || fleet_sparql_is_punct(lx, i, ')') ||
           fleet_sparql_is_punct(lx, i, ']');
}

/* ---- feature scan ------------------------------------------------------------------------ */

/* Walks the query as a tree of group graph patterns (pattern context, where a property path can
 * be written) and everything else (expressions, templates' surroundings, solution modifiers). Each
 * function works on tokens [i, hi), hi being a closing bracket or EOF, and recurses only into a
 * bracket inside that range. */
struct scan {
    const struct fleet_sparql_lexed *lx;
    unsigned features;
};

static void scan_ggp(struct scan *s, size_t open);
static size_t scan_prop_list(struct scan *s, size_t i, size_t hi);

/* VALUES: skips the variable(s) and the data block, which hold terms, never patterns. */
static size_t skip_values(const struct fleet_sparql_lexed *lx, size_t i, size_t hi)
{
    size_t j = i + 1;
    if (j < hi && fleet_sparql_tok(lx, j)->type == FLEET_TK_VAR)
        j++;
    else if (j < hi && fleet_sparql_is_punct(lx, j, '('))
        j = fleet_sparql_tok(lx, j)->match + 1;
    else
        return i + 1;
    if (j < hi && fleet_sparql_is_punct(lx, j, '{'))
        return fleet_sparql_tok(lx, j)->match + 1;
    return j;
}

/* Non-pattern context: only the group graph patterns inside (EXISTS, a sub-select's WHERE, the
 * query's own WHERE) matter. */
static void scan_expr(struct scan *s, size_t i, size_t hi)
{
    const struct fleet_sparql_lexed *lx = s->lx;
    while (i < hi) {
        if (fleet_sparql_is_punct(lx, i, '{')) {
            scan_ggp(s, i);
            i = fleet_sparql_tok(lx, i)->match + 1;
        } else if (fleet_sparql_is_word(lx, i, "VALUES")) {
            i = skip_values(lx, i, hi);
        } else {
            i++;
        }
    }
}

/* Scans the parenthesised region opening at i (if it is one) as an expression. */
static size_t scan_parens(struct scan *s, size_t i, size_t hi)
{
    if (i < hi && fleet_sparql_is_punct(s->lx, i, '(')) {
        size_t m = fleet_sparql_tok(s->lx, i)->match;
        scan_expr(s, i + 1, m);
        return m + 1;
    }
    return i;
}

/* A graph node (subject or object): returns the index after it, or i if there is none. */
static size_t scan_node(struct scan *s, size_t i, size_t hi)
{
    const struct fleet_sparql_lexed *lx = s->lx;
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    if (i >= hi)
        return i;
    switch (t->type) {
    case FLEET_TK_VAR:
    case FLEET_TK_IRI:
    case FLEET_TK_PNAME:
    case FLEET_TK_BNODE:
    case FLEET_TK_NUMBER:
        return i + 1;
    case FLEET_TK_STRING:
        if (i + 1 < hi && fleet_sparql_tok(lx, i + 1)->type == FLEET_TK_LANGTAG)
            return i + 2;
        if (i + 2 < hi && fleet_sparql_is_punct(lx, i + 1, FLEET_P_HATHAT) &&
            fleet_sparql_is_iri(lx, i + 2))
            return i + 3;
        return i + 1;
    case FLEET_TK_WORD:
        return fleet_sparql_is_word(lx, i, "true") || fleet_sparql_is_word(lx, i, "false") ? i + 1
                                                                                           : i;
    case FLEET_TK_PUNCT:
        if (t->punct == '[') {
            scan_prop_list(s, i + 1, t->match);
            return t->match + 1;
        }
        if (t->punct == '(') { /* a collection */
            size_t k = i + 1;
            while (k < t->match) {
                size_t e = scan_node(s, k, t->match);
                k = e > k ? e : k + 1;
            }
            return t->match + 1;
        }
        return i;
    default:
        return i;
    }
}

/* A verb: a variable, or a path of one or more steps. Anything beyond a single IRI, prefixed
 * name or `a` is a property path. Returns the index after the verb, or i if there is none. */
static size_t scan_verb(struct scan *s, size_t i, size_t hi)
{
    const struct fleet_sparql_lexed *lx = s->lx;
    size_t j = i;
    int path = 0;
    if (i >= hi)
        return i;
    if (fleet_sparql_tok(lx, i)->type == FLEET_TK_VAR)
        return i + 1;
    while (j < hi) {
        while (j < hi && (fleet_sparql_is_punct(lx, j, '^') || fleet_sparql_is_punct(lx, j, '!'))) {
            path = 1;
            j++;
        }
        if (j >= hi)
            break;
        if (fleet_sparql_is_punct(lx, j, '(')) {
            path = 1;
            j = fleet_sparql_tok(lx, j)->match + 1;
        } else if (fleet_sparql_is_iri(lx, j) || fleet_sparql_is_a(lx, j)) {
            j++;
        } else {
            break;
        }
        if (j < hi && (fleet_sparql_is_punct(lx, j, '*') || fleet_sparql_is_punct(lx, j, '+') ||
                       fleet_sparql_is_punct(lx, j, '?'))) {
            path = 1;
            j++;
        }
        if (j < hi && (fleet_sparql_is_punct(lx, j, '/') || fleet_sparql_is_punct(lx, j, '|'))) {
            path = 1;
            j++;
            continue;
        }
        break;
    }
    if (path)
        s->features |= FLEET_SPARQL_USES_PATH;
    return j;
}

static size_t scan_prop_list(struct scan *s, size_t i, size_t hi)
{
    const struct fleet_sparql_lexed *lx = s->lx;
    for (;;) {
        size_t j = scan_verb(s, i, hi);
        if (j == i)
            return i;
        i = j;
        for (;;) {
            j = scan_node(s, i, hi);
            if (j == i)
                break;
            i = j;
            if (i < hi && fleet_sparql_is_punct(lx, i, ','))
                i++;
            else
                break;
        }
        if (i < hi && fleet_sparql_is_punct(lx, i, ';')) {
            while (i < hi && fleet_sparql_is_punct(lx, i, ';'))
                i++;
            continue;
        }
        return i;
    }
}

/* One element of a group graph pattern at i; returns the index after it (> i). */
static size_t scan_ggp_element(struct scan *s, size_t i, size_t hi)
{
    const struct fleet_sparql_lexed *lx = s->lx;
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    if (fleet_sparql_is_punct(lx, i, '{')) {
        scan_ggp(s, i);
        return t->match + 1;
    }
    if (t->type == FLEET_TK_WORD) {
        if (fleet_sparql_is_word(lx, i, "FILTER")) {
            /* FILTER (expr) | FILTER builtin(...) | FILTER fn(...) | FILTER [NOT] EXISTS {..} */
            size_t j = i + 1;
            if (j < hi &&
                (fleet_sparql_tok(lx, j)->type == FLEET_TK_WORD || fleet_sparql_is_iri(lx, j)) &&
                fleet_sparql_is_punct(lx, j + 1, '(') && j + 1 < hi)
                j++;
            return scan_parens(s, j, hi);
        }
        if (fleet_sparql_is_word(lx, i, "BIND"))
            return scan_parens(s, i + 1, hi);
        if (fleet_sparql_is_word(lx, i, "VALUES"))
            return skip_values(lx, i, hi);
        if (fleet_sparql_is_word(lx, i, "GRAPH") || fleet_sparql_is_word(lx, i, "SERVICE")) {
            size_t j = i + 1;
            if (fleet_sparql_is_word(lx, j, "SILENT"))
                j++;
            if (j < hi &&
                (fleet_sparql_tok(lx, j)->type == FLEET_TK_VAR || fleet_sparql_is_iri(lx, j)))
                j++;
            return j < hi ? j : hi;
        }
        if (fleet_sparql_is_word(lx, i, "SELECT")) { /* a sub-select runs to the end of its group */
            scan_expr(s, i, hi);
            return hi;
        }
        if (!fleet_sparql_is_word(lx, i, "true") && !fleet_sparql_is_word(lx, i, "false"))
            return i + 1; /* OPTIONAL, MINUS, UNION, NOT, EXISTS or a stray word */
    }
    size_t j = scan_node(s, i, hi);
    if (j == i)
        return i + 1;
    return scan_prop_list(s, j, hi);
}

static void scan_ggp(struct scan *s, size_t open)
{
    size_t hi = fleet_sparql_tok(s->lx, open)->match;
    size_t i = open + 1;
    while (i < hi) {
        size_t j = scan_ggp_element(s, i, hi);
        i = j > i ? j : i + 1;
    }
}

static unsigned scan_features(const struct fleet_sparql_lexed *lx)
{
    struct scan s = {lx, 0};
    for (size_t i = 0; i < lx->n; i++) {
        if (fleet_sparql_is_word(lx, i, "SERVICE"))
            s.features |= FLEET_SPARQL_USES_SERVICE;
        else if (fleet_sparql_is_word(lx, i, "MINUS"))
            s.features |= FLEET_SPARQL_USES_MINUS;
        else if (fleet_sparql_is_word(lx, i, "EXISTS"))
            s.features |= FLEET_SPARQL_USES_EXISTS;
        else if (fleet_sparql_is_word(lx, i, "DESCRIBE"))
            s.features |= FLEET_SPARQL_USES_DESCRIBE;
    }
    scan_expr(&s, 0, lx->n - 1);
    return s.features;
}

/* ---- edits ------------------------------------------------------------------------------- */

struct edit {
    size_t start, end; /* source bytes replaced; start == end inserts */
    size_t seq;        /* keeps insertions at one offset in the order they were made */
    char *text;        /* owned */
};

struct edits {
    struct edit *v;
    size_t n, cap;
};

static void edits_free(struct edits *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].text);
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
}

/* Steals text's bytes. */
static enum fleet_err edits_add(struct edits *e, size_t start, size_t end, struct fleet_buf *text)
{
    char *s = buf_take(text);
    if (!s)
        return FLEET_ERR_NOMEM;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        struct edit *v = cap <= SIZE_MAX / sizeof(*v) ? realloc(e->v, cap * sizeof(*v)) : NULL;
        if (!v) {
            free(s);
            return FLEET_ERR_NOMEM;
        }
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n] = (struct edit){start, end, e->n, s};
    e->n++;
    return FLEET_OK;
}

static int edit_cmp(const void *a, const void *b)
{
    const struct edit *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static enum fleet_err apply_edits(const char *src, size_t len, struct edits *e,
                                  struct fleet_buf *out)
{
    size_t pos = 0;
    if (e->n)
        qsort(e->v, e->n, sizeof(*e->v), edit_cmp);
    for (size_t i = 0; i < e->n; i++) {
        const struct edit *ed = &e->v[i];
        if (ed->start < pos || ed->end < ed->start || ed->end > len)
            return FLEET_ERR_INTERNAL; /* overlapping edits: a bug here, never silently wrong */
        fleet_buf_append(out, src + pos, ed->start - pos);
        fleet_buf_puts(out, ed->text);
        pos = ed->end;
    }
    fleet_buf_append(out, src + pos, len - pos);
    return out->oom ? FLEET_ERR_NOMEM : FLEET_OK;
}

/* Appends the source text of tokens [a, b] (inclusive), comments between them included. */
static void put_span(struct fleet_buf *b, const struct fleet_sparql_lexed *lx, size_t first, size_t last)
{
    const struct fleet_sparql_tok *x = fleet_sparql_tok(lx, first), *y = fleet_sparql_tok(lx, last);
    if (y->start + y->len > x->start)
        fleet_buf_append(b, lx->src + x->start, y->start + y->len - x->start);
}

/* ---- VALUES ?x { ... } ------------------------------------------------------------------- */

/* Index after the DataBlockValue at i, or i if there is none there. */
static size_t data_value_end(const struct fleet_sparql_lexed *lx, size_t i, size_t hi)
{
    if (i >= hi)
        return i;
    switch (fleet_sparql_tok(lx, i)->type) {
    case FLEET_TK_IRI:
    case FLEET_TK_PNAME:
    case FLEET_TK_NUMBER:
        return i + 1;
    case FLEET_TK_WORD:
        if (fleet_sparql_is_word(lx, i, "UNDEF") || fleet_sparql_is_word(lx, i, "true") ||
            fleet_sparql_is_word(lx, i, "false"))
            return i + 1;
        return i;
    case FLEET_TK_STRING:
        if (i + 1 < hi && fleet_sparql_tok(lx, i + 1)->type == FLEET_TK_LANGTAG)
            return i + 2;
        if (i + 2 < hi && fleet_sparql_is_punct(lx, i + 1, FLEET_P_HATHAT) &&
            fleet_sparql_is_iri(lx, i + 2))
            return i + 3;
        return i + 1;
    default:
        return i;
    }
}

static enum fleet_err rewrite_values(const struct fleet_sparql_lexed *lx, struct edits *e)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    enum fleet_err rc = FLEET_OK;
    for (size_t i = 0; i + 2 < lx->n; i++) {
        if (!fleet_sparql_is_word(lx, i, "VALUES") ||
            fleet_sparql_tok(lx, i + 1)->type != FLEET_TK_VAR ||
            !fleet_sparql_is_punct(lx, i + 2, '{'))
            continue;
        size_t close = fleet_sparql_tok(lx, i + 2)->match;
        int ok = 1;
        fleet_buf_reset(&b);
        fleet_buf_puts(&b, "VALUES (");
        put_span(&b, lx, i + 1, i + 1);
        fleet_buf_puts(&b, ") {");
        for (size_t k = i + 3; k < close;) {
            size_t end = data_value_end(lx, k, close);
            if (end == k) {
                ok = 0; /* not a plain data block: leave it for rasqal to judge */
                break;
            }
            fleet_buf_puts(&b, " (");
            put_span(&b, lx, k, end - 1);
            fleet_buf_putc(&b, ')');
            k = end;
        }
        fleet_buf_puts(&b, " }");
        if (ok) {
            rc = edits_add(e, fleet_sparql_tok(lx, i)->start,
                           fleet_sparql_tok(lx, close)->start + 1, &b);
            if (rc != FLEET_OK)
                goto out;
        }
        i = close;
    }
    if (b.oom)
        rc = FLEET_ERR_NOMEM;
out:
    fleet_buf_free(&b);
    return rc;
}

/* ---- GROUP BY (expr AS ?v) --------------------------------------------------------------- */

/* Fresh variables are ?__fleet_gN with N above every ?__fleet_gN the query already has; the
 * store hides ?__fleet_* variables from results. */
static unsigned long long first_fresh(const struct fleet_sparql_lexed *lx)
{
    static const char stem[] = "__fleet_g";
    unsigned long long max = 0;
    for (size_t i = 0; i < lx->n; i++) {
        const struct fleet_sparql_tok *t = &lx->t[i];
        const char *s = lx->src + t->start + 1;
        size_t len = t->len - 1, k = sizeof(stem) - 1;
        unsigned long long v = 0;
        /* Eighteen digits at most: the counter, bounded by the number of tokens, never gets
         * to nineteen, so longer names cannot collide. */
        if (t->type != FLEET_TK_VAR || len <= k || len > k + 18 || memcmp(s, stem, k) != 0)
            continue;
        for (; k < len && fleet_ascii_digit((unsigned char)s[k]); k++)
            v = v * 10 + (unsigned long long)(s[k] - '0');
        if (k == len && v > max)
            max = v;
    }
    return max;
}

static int is_modifier_word(const struct fleet_sparql_lexed *lx, size_t i)
{
    return fleet_sparql_is_word(lx, i, "HAVING") || fleet_sparql_is_word(lx, i, "ORDER") ||
           fleet_sparql_is_word(lx, i, "LIMIT") || fleet_sparql_is_word(lx, i, "OFFSET") ||
           fleet_sparql_is_word(lx, i, "VALUES");
}

static int has_brace(const struct fleet_sparql_lexed *lx, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        if (fleet_sparql_is_punct(lx, i, '{'))
            return 1;
    return 0;
}

/* One GROUP BY at g (the GROUP token). Returns the index to continue from. */
static size_t rewrite_group(const struct fleet_sparql_lexed *lx, size_t g, struct edits *e,
                            unsigned long long *counter, enum fleet_err *rc)
{
    struct fleet_buf keys = FLEET_BUF_INIT, binds = FLEET_BUF_INIT, ins = FLEET_BUF_INIT;
    struct fleet_buf wrap = FLEET_BUF_INIT, list = FLEET_BUF_INIT;
    size_t k = g + 2, last = g + 1;
    int exprs = 0, bad = 0;

    for (;;) {
        const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, k);
        size_t next;
        if (keys.len)
            fleet_buf_putc(&keys, ' ');
        if (t->type == FLEET_TK_VAR) {
            put_span(&keys, lx, k, k);
            next = k + 1;
        } else if (fleet_sparql_is_punct(lx, k, '(')) {
            size_t m = t->match, expr_last;
            if (m <= k + 1 || has_brace(lx, k, m)) {
                bad = 1; /* `()` or EXISTS {..} in a key: not ours to move */
                break;
            }
            if (binds.len)
                fleet_buf_putc(&binds, ' ');
            fleet_buf_puts(&binds, "BIND(");
            if (fleet_sparql_is_word(lx, m - 2, "AS") &&
                fleet_sparql_tok(lx, m - 1)->type == FLEET_TK_VAR) {
                if (m < k + 4) {
                    bad = 1;
                    break;
                }
                expr_last = m - 3;
                put_span(&binds, lx, k + 1, expr_last);
                fleet_buf_puts(&binds, " AS ");
                put_span(&binds, lx, m - 1, m - 1);
                put_span(&keys, lx, m - 1, m - 1);
            } else {
                size_t mark = keys.len;
                put_span(&binds, lx, k + 1, m - 1);
                fleet_buf_puts(&binds, " AS ");
                fleet_buf_printf(&keys, "?__fleet_g%llu", ++*counter);
                if (!keys.oom)
                    fleet_buf_append(&binds, keys.data + mark, keys.len - mark);
            }
            fleet_buf_putc(&binds, ')');
            exprs = 1;
            next = m + 1;
        } else if ((t->type == FLEET_TK_WORD || t->type == FLEET_TK_IRI ||
                    t->type == FLEET_TK_PNAME) &&
                   !is_modifier_word(lx, k) && fleet_sparql_is_punct(lx, k + 1, '(')) {
            next = fleet_sparql_tok(lx, k + 1)->match +
                   1; /* a built-in or function call, kept as is */
            put_span(&keys, lx, k, next - 1);
        } else {
            break;
        }
        last = next - 1;
        k = next;
    }

    /* The WHERE group is the '}' right before GROUP. */
    if (!bad && exprs && g > 0 && fleet_sparql_is_punct(lx, g - 1, '}')) {
        size_t close = g - 1, open = fleet_sparql_tok(lx, close)->match;
        size_t at = fleet_sparql_tok(lx, close)->start;
        int space = at > 0 && is_space(lx->src[at - 1]);
        int subselect = fleet_sparql_is_word(lx, open + 1, "SELECT");
        if (!space)
            fleet_buf_putc(&ins, ' ');
        if (subselect) {
            /* `{ SELECT .. }` cannot take another element: make the sub-select a group. */
            fleet_buf_puts(&wrap, "{ ");
            fleet_buf_puts(&ins, "} ");
        }
        fleet_buf_append(&ins, binds.data ? binds.data : "", binds.len);
        fleet_buf_putc(&ins, ' ');
        if (keys.oom || binds.oom || ins.oom || wrap.oom) {
            *rc = FLEET_ERR_NOMEM;
            goto out;
        }
        if (subselect &&
            (*rc = edits_add(e, fleet_sparql_tok(lx, open + 1)->start,
                             fleet_sparql_tok(lx, open + 1)->start, &wrap)) != FLEET_OK)
            goto out;
        if ((*rc = edits_add(e, at, at, &ins)) != FLEET_OK)
            goto out;
        /* A key list that touched its neighbours (`BY(..)`, `(..)LIMIT`) must not glue onto
         * them once the parentheses are gone. */
        size_t from = fleet_sparql_tok(lx, g + 2)->start,
               to = fleet_sparql_tok(lx, last)->start + fleet_sparql_tok(lx, last)->len;
        while (keys.len && keys.data[keys.len - 1] == ' ')
            keys.data[--keys.len] = '\0';
        if (!is_space(lx->src[from - 1]))
            fleet_buf_putc(&list, ' ');
        fleet_buf_append(&list, keys.data ? keys.data : "", keys.len);
        if (to < lx->srclen && !is_space(lx->src[to]))
            fleet_buf_putc(&list, ' ');
        *rc = list.oom ? FLEET_ERR_NOMEM : edits_add(e, from, to, &list);
    }
out:
    fleet_buf_free(&keys);
    fleet_buf_free(&binds);
    fleet_buf_free(&ins);
    fleet_buf_free(&wrap);
    fleet_buf_free(&list);
    return k > g ? k : g + 1;
}

/* Rewrites GROUP BY only where the grammar puts one: at the top level of the query or directly
 * in a sub-select's `{ SELECT .. }`. Elsewhere the text is not SPARQL and is left to rasqal. */
static enum fleet_err rewrite_group_by(const struct fleet_sparql_lexed *lx, struct edits *e)
{
    enum fleet_err rc = FLEET_OK;
    unsigned long long counter = first_fresh(lx);
    size_t stack[FLEET_SPARQL_MAX_DEPTH];
    size_t depth = 0;
    size_t i = 0;
    while (i + 1 < lx->n && rc == FLEET_OK) {
        if (is_opener(lx, i) && depth < FLEET_SPARQL_MAX_DEPTH) {
            stack[depth++] = i++;
        } else if (is_closer(lx, i) && depth > 0) {
            depth--;
            i++;
        } else if (fleet_sparql_is_word(lx, i, "GROUP") && fleet_sparql_is_word(lx, i + 1, "BY") &&
                   (depth == 0 || (fleet_sparql_is_punct(lx, stack[depth - 1], '{') &&
                                   fleet_sparql_is_word(lx, stack[depth - 1] + 1, "SELECT")))) {
            /* The keys never hold an unbalanced bracket, so the stack stays right. */
            i = rewrite_group(lx, i, e, &counter, &rc);
        } else {
            i++;
        }
    }
    return rc;
}

enum fleet_err fleet_sparql_fix_query(const char *query, struct fleet_buf *out, unsigned *features,
                                      char *err, size_t errlen)
{
    struct fleet_sparql_lexed lx = {0};
    struct edits e = {0};
    struct fleet_buf pass1 = FLEET_BUF_INIT, pass2 = FLEET_BUF_INIT;
    enum fleet_err rc;
    unsigned feats;

    if (features)
        *features = 0;
    if (!query || !out) {
        fleet_errf(err, errlen, "no query");
        return FLEET_ERR_INVAL;
    }
    rc = fleet_sparql_lex(query, strlen(query), &lx, err, errlen);
    if (rc != FLEET_OK)
        goto out;
    feats = scan_features(&lx);
    rc = rewrite_values(&lx, &e);
    if (rc == FLEET_OK)
        rc = apply_edits(query, strlen(query), &e, &pass1);
    if (rc != FLEET_OK)
        goto out;
    edits_free(&e);
    fleet_sparql_lex_free(&lx);
    fleet_buf_append(&pass1, "", 0);
    rc = fleet_sparql_lex(pass1.data ? pass1.data : "", pass1.len, &lx, err, errlen);
    if (rc == FLEET_OK)
        rc = rewrite_group_by(&lx, &e);
    if (rc == FLEET_OK)
        rc = apply_edits(pass1.data ? pass1.data : "", pass1.len, &e, &pass2);
    if (rc != FLEET_OK)
        goto out;
    fleet_buf_append(out, pass2.data ? pass2.data : "", pass2.len);
    if (out->oom) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    if (features)
        *features = feats;
out:
    if (rc == FLEET_ERR_NOMEM)
        fleet_errf(err, errlen, "out of memory");
    else if (rc == FLEET_ERR_INTERNAL)
        fleet_errf(err, errlen, "internal error: overlapping rewrites");
    edits_free(&e);
    fleet_sparql_lex_free(&lx);
    fleet_buf_free(&pass1);
    fleet_buf_free(&pass2);
    return rc;
}

/* ---- IRIs, prefixes and the prologue ----------------------------------------------------- */

static void put_utf8(struct fleet_buf *b, uint32_t cp)
{
    char u[4];
    if (cp < 0x80) {
        fleet_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        fleet_buf_append(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        fleet_buf_append(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        fleet_buf_append(b, u, 4);
    }
}

/* Appends the content of an IRIREF (without the brackets) with \u and \U escapes decoded;
 * an escape that does not name a usable code point is kept as written. */
static void put_iri_decoded(struct fleet_buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
            size_t nd = s[i + 1] == 'u' ? 4 : 8, k;
            uint32_t cp = 0;
            for (k = 0; k < nd && i + 2 + k < len && fleet_ascii_hex((unsigned char)s[i + 2 + k]);
                 k++) {
                unsigned char c = (unsigned char)s[i + 2 + k];
                cp = cp * 16 + (uint32_t)(fleet_ascii_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
            }
            if (k == nd && cp != 0 && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF)) {
                put_utf8(b, cp);
                i += 1 + nd;
                continue;
            }
        }
        fleet_buf_putc(b, s[i]);
    }
}

/* Appends iri as an IRIREF, escaping what an IRIREF cannot hold. */
static void put_iriref(struct fleet_buf *b, const char *iri)
{
    fleet_buf_putc(b, '<');
    for (const unsigned char *p = (const unsigned char *)iri; *p; p++) {
        if (*p <= 0x20 || strchr("<>\"{}|^`\\", *p))
            fleet_buf_printf(b, "\\u%04X", *p);
        else
            fleet_buf_putc(b, (char)*p);
    }
    fleet_buf_putc(b, '>');
}

struct uri_parts {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_len, auth_len, path_len, query_len, frag_len;
    int has_scheme, has_auth, has_query, has_frag;
};

static void uri_split(const char *s, struct uri_parts *u)
{
    const char *p = s, *q = s;
    memset(u, 0, sizeof(*u));
    if (fleet_ascii_alpha((unsigned char)*q)) {
        q++;
        while (fleet_ascii_alpha((unsigned char)*q) || fleet_ascii_digit((unsigned char)*q) ||
               *q == '+' || *q == '-' || *q == '.')
            q++;
        if (*q == ':') {
            u->has_scheme = 1;
            u->scheme = s;
            u->scheme_len = (size_t)(q - s);
            p = q + 1;
        }
    }
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        u->has_auth = 1;
        u->auth = p;
        while (*p && *p != '/' && *p != '?' && *p != '#')
            p++;
        u->auth_len = (size_t)(p - u->auth);
    }
    u->path = p;
    while (*p && *p != '?' && *p != '#')
        p++;
    u->path_len = (size_t)(p - u->path);
    if (*p == '?') {
        u->has_query = 1;
        u->query = ++p;
        while (*p && *p != '#')
            p++;
        u->query_len = (size_t)(p - u->query);
    }
    if (*p == '#') {
        u->has_frag = 1;
        u->frag = p + 1;
        u->frag_len = strlen(p + 1);
    }
}

/* RFC 3986 section 5.2.4, appending the result to out. in is modified. */
static void remove_dot_segments(char *in, size_t len, struct fleet_buf *out)
{
    size_t mark = out->len, pos = 0;
    while (pos < len && !out->oom) {
        size_t rest = len - pos;
        char *p = in + pos;
        if (rest >= 3 && memcmp(p, "../", 3) == 0) {
            pos += 3;
        } else if (rest >= 2 && memcmp(p, "./", 2) == 0) {
            pos += 2;
        } else if (rest >= 3 && memcmp(p, "/./", 3) == 0) {
            pos += 2;
        } else if (rest == 2 && memcmp(p, "/.", 2) == 0) {
            p[1] = '/';
            pos += 1;
        } else if ((rest >= 4 && memcmp(p, "/../", 4) == 0) ||
                   (rest == 3 && memcmp(p, "/..", 3) == 0)) {
            if (rest == 3)
                p[2] = '/';
            pos += rest == 3 ? 2 : 3;
            while (out->len > mark && out->data[out->len - 1] != '/')
                out->len--;
            if (out->len > mark)
                out->len--;
            if (out->data)
                out->data[out->len] = '\0';
        } else if ((rest == 1 && p[0] == '.') || (rest == 2 && memcmp(p, "..", 2) == 0)) {
            pos = len;
        } else {
            size_t j = p[0] == '/' ? 1 : 0;
            while (j < rest && p[j] != '/')
                j++;
            fleet_buf_append(out, p, j);
            pos += j;
        }
    }
}

static void put_dotless(struct fleet_buf *out, const char *path, size_t len)
{
    char *tmp = malloc(len + 1);
    if (!tmp) {
        out->oom = 1;
        return;
    }
    memcpy(tmp, path, len);
    remove_dot_segments(tmp, len, out);
    free(tmp);
}

/* Resolves ref against base (RFC 3986 section 5.2.2); without a base, or for an absolute ref,
 * returns a copy of ref. Returns a new string, or NULL when out of memory. */
static char *iri_resolve(const char *base, const char *ref)
{
    struct uri_parts r, b;
    struct fleet_buf out = FLEET_BUF_INIT, merged = FLEET_BUF_INIT;
    uri_split(ref, &r);
    if (!base || r.has_scheme)
        return strdup(ref);
    uri_split(base, &b);
    if (b.has_scheme) {
        fleet_buf_append(&out, b.scheme, b.scheme_len);
        fleet_buf_putc(&out, ':');
    }
    const struct uri_parts *q = &r;
    if (r.has_auth) {
        fleet_buf_puts(&out, "//");
        fleet_buf_append(&out, r.auth, r.auth_len);
        put_dotless(&out, r.path, r.path_len);
    } else {
        if (b.has_auth) {
            fleet_buf_puts(&out, "//");
            fleet_buf_append(&out, b.auth, b.auth_len);
        }
        if (r.path_len == 0) {
            fleet_buf_append(&out, b.path, b.path_len);
            if (!r.has_query)
                q = &b;
        } else if (r.path[0] == '/') {
            put_dotless(&out, r.path, r.path_len);
        } else {
            if (b.has_auth && b.path_len == 0) {
                fleet_buf_putc(&merged, '/');
            } else {
                size_t cut = b.path_len;
                while (cut > 0 && b.path[cut - 1] != '/')
                    cut--;
                fleet_buf_append(&merged, b.path, cut);
            }
            fleet_buf_append(&merged, r.path, r.path_len);
            if (!merged.oom)
                put_dotless(&out, merged.data, merged.len);
            else
                out.oom = 1;
        }
    }
    if (q->has_query) {
        fleet_buf_putc(&out, '?');
        fleet_buf_append(&out, q->query, q->query_len);
    }
    if (r.has_frag) {
        fleet_buf_putc(&out, '#');
        fleet_buf_append(&out, r.frag, r.frag_len);
    }
    fleet_buf_free(&merged);
    return buf_take(&out);
}

/* ---- a string index ---------------------------------------------------------------------- */

/* Open addressing over strings someone else owns: keeps prefix lookup and de-duplication linear
 * on requests with many thousands of declarations or names. */
struct strmap_slot {
    const char *key; /* borrowed; NULL for an empty slot */
    size_t len;
    size_t val;
};

struct strmap {
    struct strmap_slot *v;
    size_t cap, n; /* cap is 0 or a power of two */
};

static size_t strmap_find(const struct strmap *m, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211u;
    size_t i = (size_t)h & (m->cap - 1);
    while (m->v[i].key && !(m->v[i].len == len && memcmp(m->v[i].key, key, len) == 0))
        i = (i + 1) & (m->cap - 1);
    return i;
}

/* Returns 1 and sets *val if key is there. */
static int strmap_get(const struct strmap *m, const char *key, size_t len, size_t *val)
{
    if (m->n == 0)
        return 0;
    size_t i = strmap_find(m, key, len);
    if (!m->v[i].key)
        return 0;
    *val = m->v[i].val;
    return 1;
}

/* Adds or replaces key (borrowed: it must outlive the map or be replaced first). */
static enum fleet_err strmap_put(struct strmap *m, const char *key, size_t len, size_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct strmap old = *m;
        size_t cap = m->cap ? m->cap * 2 : 16;
        if (cap > SIZE_MAX / sizeof(*m->v))
            return FLEET_ERR_NOMEM;
        m->v = calloc(cap, sizeof(*m->v));
        if (!m->v) {
            *m = old;
            return FLEET_ERR_NOMEM;
        }
        m->cap = cap;
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.v[i].key) {
                m->v[strmap_find(m, old.v[i].key, old.v[i].len)] = old.v[i];
                m->n++;
            }
        free(old.v);
    }
    size_t i = strmap_find(m, key, len);
    if (!m->v[i].key)
        m->n++;
    m->v[i] = (struct strmap_slot){key, len, val};
    return FLEET_OK;
}

static void strmap_free(struct strmap *m)
{
    free(m->v);
    memset(m, 0, sizeof(*m));
}

/* ---- the prologue ------------------------------------------------------------------------ */

struct prefix {
    char *name;     /* without the colon */
    char *iri;      /* resolved against the BASE in force when declared */
    size_t used_by; /* 1 + the operation that last listed it (split_update) */
};

struct prologue {
    char *base;
    struct prefix *v; /* in order of first declaration */
    size_t n, cap;
    struct strmap names; /* name -> index in v */
};

static void prologue_free(struct prologue *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].name);
        free(p->v[i].iri);
    }
    free(p->v);
    free(p->base);
    strmap_free(&p->names);
    memset(p, 0, sizeof(*p));
}

/* The IRI of an IRIREF token, escapes decoded and resolved against the BASE; new string. */
static char *iri_of_ref(const struct prologue *p, const struct fleet_sparql_lexed *lx, size_t i)
{
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    struct fleet_buf raw = FLEET_BUF_INIT;
    put_iri_decoded(&raw, lx->src + t->start + 1, t->len - 2);
    fleet_buf_append(&raw, "", 0);
    char *s = raw.oom ? NULL : iri_resolve(p->base, raw.data);
    fleet_buf_free(&raw);
    return s;
}

/* The declaration a prefixed-name token refers to, or NULL. */
static struct prefix *prefix_of(const struct prologue *p, const struct fleet_sparql_lexed *lx, size_t i)
{
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    const char *s = lx->src + t->start;
    const char *colon = memchr(s, ':', t->len);
    size_t k;
    if (t->type != FLEET_TK_PNAME || !colon || !strmap_get(&p->names, s, (size_t)(colon - s), &k))
        return NULL;
    return &p->v[k];
}

/* Expands an IRIREF or a prefixed name into *iri (new). */
static enum fleet_err expand_term(const struct prologue *p, const struct fleet_sparql_lexed *lx, size_t i,
                                  char **iri, char *err, size_t errlen)
{
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    *iri = NULL;
    if (t->type == FLEET_TK_IRI) {
        *iri = iri_of_ref(p, lx, i);
    } else if (t->type == FLEET_TK_PNAME) {
        const char *s = lx->src + t->start;
        const char *colon = memchr(s, ':', t->len);
        const struct prefix *pf = prefix_of(p, lx, i);
        if (!pf) {
            fleet_errf(err, errlen, "undeclared prefix '%.*s:' at line %u", (int)(colon - s), s,
                       fleet_sparql_line_of(lx->src, t->start));
            return FLEET_ERR_INVAL;
        }
        struct fleet_buf b = FLEET_BUF_INIT;
        fleet_buf_puts(&b, pf->iri);
        for (const char *c = colon + 1; c < s + t->len; c++) {
            if (*c == '\\' && c + 1 < s + t->len)
                c++; /* PN_LOCAL_ESC stands for the character itself */
            fleet_buf_putc(&b, *c);
        }
        *iri = buf_take(&b);
    } else {
        fleet_errf(err, errlen, "expected an IRI at line %u",
                   fleet_sparql_line_of(lx->src, t->start));
        return FLEET_ERR_INVAL;
    }
    if (!*iri) {
        fleet_errf(err, errlen, "out of memory");
        return FLEET_ERR_NOMEM;
    }
    return FLEET_OK;
}

static int is_pname_ns(const struct fleet_sparql_lexed *lx, size_t i)
{
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    const char *s = lx->src + t->start;
    return t->type == FLEET_TK_PNAME && memchr(s, ':', t->len) == s + t->len - 1;
}

/* Records one PREFIX declaration; steals name and iri (also on failure). */
static enum fleet_err prologue_add(struct prologue *p, char *name, char *iri)
{
    size_t k;
    if (strmap_get(&p->names, name, strlen(name), &k)) { /* a redeclaration replaces the old */
        free(p->v[k].iri);
        p->v[k].iri = iri;
        free(name);
        return FLEET_OK;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct prefix *v = cap <= SIZE_MAX / sizeof(*v) ? realloc(p->v, cap * sizeof(*v)) : NULL;
        if (!v)
            goto nomem;
        p->v = v;
        p->cap = cap;
    }
    if (strmap_put(&p->names, name, strlen(name), p->n) != FLEET_OK)
        goto nomem;
    p->v[p->n++] = (struct prefix){name, iri, 0};
    return FLEET_OK;
nomem:
    free(name);
    free(iri);
    return FLEET_ERR_NOMEM;
}

/* Consumes BASE and PREFIX declarations from *i (below hi) into p. */
static enum fleet_err prologue_parse(struct prologue *p, const struct fleet_sparql_lexed *lx, size_t *i,
                                     size_t hi, char *err, size_t errlen)
{
    for (;;) {
        size_t k = *i;
        if (k + 1 < hi && fleet_sparql_is_word(lx, k, "BASE") &&
            fleet_sparql_tok(lx, k + 1)->type == FLEET_TK_IRI) {
            char *base = iri_of_ref(p, lx, k + 1);
            if (!base)
                goto nomem;
            free(p->base);
            p->base = base;
            *i = k + 2;
        } else if (k + 2 < hi && fleet_sparql_is_word(lx, k, "PREFIX") && is_pname_ns(lx, k + 1) &&
                   fleet_sparql_tok(lx, k + 2)->type == FLEET_TK_IRI) {
            const struct fleet_sparql_tok *nt = fleet_sparql_tok(lx, k + 1);
            char *name = strndup(lx->src + nt->start, nt->len - 1);
            char *iri = iri_of_ref(p, lx, k + 2);
            if (!name || !iri) {
                free(name);
                free(iri);
                goto nomem;
            }
            if (prologue_add(p, name, iri) != FLEET_OK)
                goto nomem;
            *i = k + 3;
        } else {
            return FLEET_OK;
        }
    }
nomem:
    fleet_errf(err, errlen, "out of memory");
    return FLEET_ERR_NOMEM;
}

static int idx_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Appends the declarations operation number op in tokens [c, b) needs: the BASE if it holds a
 * relative IRI (or uses a prefix that still is one), and each prefix it uses, in declaration
 * order. Only what is used, so that a
 * request of many operations after many declarations does not grow quadratically. */
static enum fleet_err prologue_put_used(struct prologue *p, const struct fleet_sparql_lexed *lx, size_t c,
                                        size_t b, size_t op, struct fleet_buf *out)
{
    size_t *used = NULL, nused = 0, cap = 0;
    int relative = 0;
    for (size_t i = c; i < b; i++) {
        const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
        if (t->type == FLEET_TK_IRI && !fleet_sparql_looks_like_scheme(lx->src + t->start + 1, t->len - 2, 0)) {
            relative = 1;
        } else if (t->type == FLEET_TK_PNAME) {
            struct prefix *pf = prefix_of(p, lx, i);
            if (!pf || pf->used_by == op + 1)
                continue;
            pf->used_by = op + 1;
            if (!fleet_sparql_looks_like_scheme(pf->iri, strlen(pf->iri), 0))
                relative = 1; /* declared under a BASE that was itself relative */
            if (nused == cap) {
                cap = cap ? cap * 2 : 8;
                size_t *v = realloc(used, cap * sizeof(*v));
                if (!v) {
                    free(used);
                    return FLEET_ERR_NOMEM;
                }
                used = v;
            }
            used[nused++] = (size_t)(pf - p->v);
        }
    }
    if (nused)
        qsort(used, nused, sizeof(*used), idx_cmp);
    if (p->base && relative) {
        fleet_buf_puts(out, "BASE ");
        put_iriref(out, p->base);
        fleet_buf_putc(out, '\n');
    }
    for (size_t k = 0; k < nused; k++) {
        fleet_buf_printf(out, "PREFIX %s: ", p->v[used[k]].name);
        put_iriref(out, p->v[used[k]].iri);
        fleet_buf_putc(out, '\n');
    }
    free(used);
    return out->oom ? FLEET_ERR_NOMEM : FLEET_OK;
}

/* What the caller may get back for a request of len bytes: prefixes carried to many operations,
 * or a long BASE joined to many relative IRIs, could otherwise turn a small request into
 * gigabytes. */
static size_t output_limit(size_t len)
{
    return len > (SIZE_MAX - ((size_t)1 << 20)) / 16 ? SIZE_MAX : len * 16 + ((size_t)1 << 20);
}

/* ---- string vectors ---------------------------------------------------------------------- */

struct strv {
    char **v; /* NULL-terminated once anything was added, or by strv_finish() */
    size_t n, cap;
    struct strmap seen; /* for strv_add_unique */
};

static void strv_clear(struct strv *sv)
{
    fleet_sparql_strv_free(sv->v);
    strmap_free(&sv->seen);
    memset(sv, 0, sizeof(*sv));
}

/* Steals s (also on failure). */
static enum fleet_err strv_add(struct strv *sv, char *s)
{
    if (sv->n + 1 >= sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 4;
        char **v = cap <= SIZE_MAX / sizeof(*v) ? realloc(sv->v, cap * sizeof(*v)) : NULL;
        if (!v) {
            free(s);
            return FLEET_ERR_NOMEM;
        }
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
    return FLEET_OK;
}

/* Like strv_add, but drops s if an equal string is there already. */
static enum fleet_err strv_add_unique(struct strv *sv, char *s)
{
    size_t k, len = strlen(s);
    if (strmap_get(&sv->seen, s, len, &k)) {
        free(s);
        return FLEET_OK;
    }
    if (strmap_put(&sv->seen, s, len, sv->n) != FLEET_OK) {
        free(s);
        return FLEET_ERR_NOMEM;
    }
    if (strv_add(sv, s) != FLEET_OK) {
        strmap_free(&sv->seen); /* it may point at s, which is gone */
        return FLEET_ERR_NOMEM;
    }
    return FLEET_OK;
}

/* Makes sure there is an array, possibly empty. */
static enum fleet_err strv_finish(struct strv *sv)
{
    if (sv->v)
        return FLEET_OK;
    sv->v = calloc(1, sizeof(*sv->v));
    if (!sv->v)
        return FLEET_ERR_NOMEM;
    sv->cap = 1;
    return FLEET_OK;
}

/* Hands the array over (new) and forgets it. */
static char **strv_steal(struct strv *sv)
{
    char **v = sv->v;
    sv->v = NULL;
    strv_clear(sv);
    return v;
}

void fleet_sparql_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* ---- DESCRIBE ---------------------------------------------------------------------------- */

enum fleet_err fleet_sparql_describe_plan(const char *query, char ***iris, struct fleet_buf *select,
                                          char *err, size_t errlen)
{
    struct fleet_sparql_lexed lx = {0};
    struct prologue pro = {0};
    struct strv list = {0}, vars = {0};
    struct fleet_buf sel = FLEET_BUF_INIT;
    enum fleet_err rc;
    size_t i = 0, d, k, total = 0, limit;
    int star = 0;

    if (iris)
        *iris = NULL;
    if (!query || !iris || !select) {
        fleet_errf(err, errlen, "no query");
        return FLEET_ERR_INVAL;
    }
    limit = output_limit(strlen(query));
    rc = fleet_sparql_lex(query, strlen(query), &lx, err, errlen);
    if (rc != FLEET_OK)
        goto out;
    rc = prologue_parse(&pro, &lx, &i, lx.n - 1, err, errlen);
    if (rc != FLEET_OK)
        goto out;
    if (!fleet_sparql_is_word(&lx, i, "DESCRIBE")) {
        fleet_errf(err, errlen, "not a DESCRIBE query");
        rc = FLEET_ERR_INVAL;
        goto out;
    }
    d = i++;
    for (;; i++) {
        const struct fleet_sparql_tok *t = fleet_sparql_tok(&lx, i);
        if (t->type == FLEET_TK_VAR) {
            char *v = strndup(query + t->start + 1, t->len - 1);
            if (!v) {
                rc = FLEET_ERR_NOMEM;
                goto out;
            }
            if ((rc = strv_add_unique(&vars, v)) != FLEET_OK)
                goto out;
        } else if (t->type == FLEET_TK_IRI || t->type == FLEET_TK_PNAME) {
            char *iri;
            rc = expand_term(&pro, &lx, i, &iri, err, errlen);
            if (rc != FLEET_OK)
                goto out;
            total += strlen(iri);
            if ((rc = strv_add_unique(&list, iri)) != FLEET_OK)
                goto out;
            if (total > limit) {
                fleet_errf(err, errlen, "the IRIs to describe exceed %zu bytes", limit);
                rc = FLEET_ERR_TOOBIG;
                goto out;
            }
        } else if (fleet_sparql_is_punct(&lx, i, '*')) {
            star = 1;
        } else {
            break;
        }
    }
    if (i == d + 1) {
        fleet_errf(err, errlen, "DESCRIBE names nothing to describe");
        rc = FLEET_ERR_INVAL;
        goto out;
    }
    /* WhereClause ::= 'WHERE'? GroupGraphPattern, after any FROM [NAMED] clauses. */
    for (k = i; fleet_sparql_is_word(&lx, k, "FROM");)
        k += fleet_sparql_is_word(&lx, k + 1, "NAMED") ? 3 : 2;
    if ((vars.n || star) &&
        (fleet_sparql_is_word(&lx, k, "WHERE") || fleet_sparql_is_punct(&lx, k, '{'))) {
        fleet_buf_append(&sel, query, fleet_sparql_tok(&lx, d)->start);
        fleet_buf_puts(&sel, "SELECT DISTINCT");
        if (star)
            fleet_buf_puts(&sel, " *");
        else
            for (size_t v = 0; v < vars.n; v++)
                fleet_buf_printf(&sel, " ?%s", vars.v[v]);
        fleet_buf_putc(&sel, ' ');
        fleet_buf_puts(&sel, query + fleet_sparql_tok(&lx, i)->start);
    }
    if (sel.oom || strv_finish(&list) != FLEET_OK) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    fleet_buf_append(select, sel.data ? sel.data : "", sel.len);
    if (select->oom) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    *iris = strv_steal(&list);
out:
    if (rc == FLEET_ERR_NOMEM)
        fleet_errf(err, errlen, "out of memory");
    strv_clear(&list);
    strv_clear(&vars);
    fleet_buf_free(&sel);
    prologue_free(&pro);
    fleet_sparql_lex_free(&lx);
    return rc;
}

/* ---- top-level SELECT DISTINCT ---------------------------------------------------------- */

/* The value of the INTEGER token at i (digits only, no sign), saturating at UINT64_MAX.
 * Returns 0, or -1 if the token is not one. */
static int integer_at(const struct fleet_sparql_lexed *lx, size_t i, uint64_t *v)
{
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    uint64_t x = 0;
    if (t->type != FLEET_TK_NUMBER)
        return -1;
    for (size_t k = 0; k < t->len; k++) {
        unsigned char c = (unsigned char)lx->src[t->start + k];
        if (!fleet_ascii_digit(c))
            return -1;
        unsigned d = (unsigned)(c - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    *v = x;
    return 0;
}

/* Removes tokens [first, last] and the blanks after them; a space stays where the text around
 * would otherwise touch (`}LIMIT 5 VALUES`). */
static enum fleet_err cut_tokens(const struct fleet_sparql_lexed *lx, size_t first, size_t last, struct edits *e)
{
    struct fleet_buf sp = FLEET_BUF_INIT;
    size_t from = fleet_sparql_tok(lx, first)->start,
           to = fleet_sparql_tok(lx, last)->start + fleet_sparql_tok(lx, last)->len;
    while (to < lx->srclen && is_space(lx->src[to]))
        to++;
    if (from > 0 && !is_space(lx->src[from - 1]) && to < lx->srclen)
        fleet_buf_putc(&sp, ' ');
    return edits_add(e, from, to, &sp);
}

/* Finds the edits for fleet_sparql_take_distinct; leaves e empty if the query is not one to
 * rewrite. */
static enum fleet_err plan_distinct(const struct fleet_sparql_lexed *lx, struct edits *e,
                                    struct fleet_sparql_slice *s)
{
    struct fleet_sparql_slice found = {0};
    size_t i = 0, kw, w, lim = 0, off = 0;
    enum fleet_err rc;

    for (;;) { /* the prologue */
        if (fleet_sparql_is_word(lx, i, "BASE") &&
            fleet_sparql_tok(lx, i + 1)->type == FLEET_TK_IRI)
            i += 2;
        else if (fleet_sparql_is_word(lx, i, "PREFIX") && is_pname_ns(lx, i + 1) &&
                 fleet_sparql_tok(lx, i + 2)->type == FLEET_TK_IRI)
            i += 3;
        else
            break;
    }
    kw = i + 1;
    if (!fleet_sparql_is_word(lx, i, "SELECT") || fleet_sparql_is_word(lx, kw + 1, "DISTINCT") ||
        fleet_sparql_is_word(lx, kw + 1, "REDUCED"))
        return FLEET_OK;
    if (fleet_sparql_is_word(lx, kw, "REDUCED"))
        return cut_tokens(lx, kw, kw, e);
    if (!fleet_sparql_is_word(lx, kw, "DISTINCT"))
        return FLEET_OK;
    /* The WHERE group is the first '{' at this level: the projection's expressions are all in
     * parentheses, and FROM clauses hold IRIs. */
    for (w = kw + 1; w + 1 < lx->n && !fleet_sparql_is_punct(lx, w, '{'); w++)
        if (is_opener(lx, w))
            w = fleet_sparql_tok(lx, w)->match;
    if (w + 1 >= lx->n)
        return FLEET_OK; /* no WHERE: for rasqal to reject */
    for (size_t k = fleet_sparql_tok(lx, w)->match + 1; k + 1 < lx->n; k++) {
        if (fleet_sparql_is_word(lx, k, "VALUES"))
            break; /* the trailing ValuesClause: the query ends there */
        if (fleet_sparql_is_punct(lx, k, '{'))
            return FLEET_OK; /* a second group at the top level is not SPARQL */
        if (is_opener(lx, k)) {
            k = fleet_sparql_tok(lx, k)->match; /* ORDER BY / GROUP BY / HAVING expressions */
        } else if (fleet_sparql_is_word(lx, k, "LIMIT") || fleet_sparql_is_word(lx, k, "OFFSET")) {
            int is_limit = fleet_sparql_is_word(lx, k, "LIMIT");
            uint64_t v;
            if ((is_limit ? lim : off) != 0 || integer_at(lx, k + 1, &v) != 0)
                return FLEET_OK;
            if (is_limit) {
                lim = k;
                found.has_limit = 1;
                found.limit = v;
            } else {
                off = k;
                found.offset = v;
            }
            k++;
        }
    }
    found.distinct = 1;
    *s = found;
    rc = cut_tokens(lx, kw, kw, e);
    if (rc == FLEET_OK && lim)
        rc = cut_tokens(lx, lim, lim + 1, e);
    if (rc == FLEET_OK && off)
        rc = cut_tokens(lx, off, off + 1, e);
    return rc;
}

enum fleet_err fleet_sparql_take_distinct(const char *query, struct fleet_buf *out,
                                          struct fleet_sparql_slice *slice, char *err,
                                          size_t errlen)
{
    struct fleet_sparql_lexed lx = {0};
    struct edits e = {0};
    struct fleet_sparql_slice s = {0};
    struct fleet_buf text = FLEET_BUF_INIT;
    enum fleet_err rc;
    size_t len;

    if (slice)
        memset(slice, 0, sizeof(*slice));
    if (!query || !out || !slice) {
        fleet_errf(err, errlen, "no query");
        return FLEET_ERR_INVAL;
    }
    len = strlen(query);
    rc = fleet_sparql_lex(query, len, &lx, err, errlen);
    if (rc != FLEET_OK)
        return rc;
    rc = plan_distinct(&lx, &e, &s);
    if (rc == FLEET_OK)
        rc = apply_edits(query, len, &e, &text);
    if (rc == FLEET_OK) {
        fleet_buf_append(out, text.data, text.len);
        if (out->oom)
            rc = FLEET_ERR_NOMEM;
        else
            *slice = s;
    }
    if (rc == FLEET_ERR_NOMEM)
        fleet_errf(err, errlen, "out of memory");
    else if (rc == FLEET_ERR_INTERNAL)
        fleet_errf(err, errlen, "internal error: overlapping rewrites");
    edits_free(&e);
    fleet_sparql_lex_free(&lx);
    fleet_buf_free(&text);
    return rc;
}

/* ---- update requests --------------------------------------------------------------------- */

static void op_clear(struct fleet_update_op *op)
{
    free(op->text);
    free(op->with_iri);
    free(op->delete_tpl);
    free(op->insert_tpl);
    free(op->where);
    fleet_sparql_strv_free(op->using);
    fleet_sparql_strv_free(op->using_named);
    free(op->prologue);
    memset(op, 0, sizeof(*op));
}

void fleet_update_ops_free(struct fleet_update_op *ops, size_t nops)
{
    if (!ops)
        return;
    for (size_t i = 0; i < nops; i++)
        op_clear(&ops[i]);
    free(ops);
}

/* The text between the brackets at open, from its first token to its last (so a trailing
 * comment can never swallow whatever the caller puts after it); new string. */
static char *inner_text(const struct fleet_sparql_lexed *lx, size_t open)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    size_t close = fleet_sparql_tok(lx, open)->match;
    if (close > open + 1)
        put_span(&b, lx, open + 1, close - 1);
    return buf_take(&b);
}

/* Fills the MODIFY fields of op from tokens [c, b) when they are ( WITH iri )? ( DeleteClause
 * InsertClause? | InsertClause ) UsingClause* WHERE GroupGraphPattern; otherwise leaves op alone
 * (rasqal will judge it). */
static enum fleet_err parse_modify(struct fleet_update_op *op, const struct prologue *pro,
                                   const struct fleet_sparql_lexed *lx, size_t c, size_t b, char *err,
                                   size_t errlen)
{
    struct fleet_update_op m = {0};
    struct strv using = {0}, named = {0};
    struct fleet_buf where = FLEET_BUF_INIT;
    enum fleet_err rc = FLEET_OK;
    size_t k = c;

    if (fleet_sparql_is_word(lx, k, "WITH")) {
        if (!fleet_sparql_is_iri(lx, k + 1) || k + 1 >= b)
            goto out;
        if ((rc = expand_term(pro, lx, k + 1, &m.with_iri, err, errlen)) != FLEET_OK)
            goto out;
        k += 2;
    }
    if (fleet_sparql_is_word(lx, k, "DELETE") && fleet_sparql_is_punct(lx, k + 1, '{')) {
        if (!(m.delete_tpl = inner_text(lx, k + 1)))
            goto nomem;
        k = fleet_sparql_tok(lx, k + 1)->match + 1;
    }
    if (k < b && fleet_sparql_is_word(lx, k, "INSERT") && fleet_sparql_is_punct(lx, k + 1, '{')) {
        if (!(m.insert_tpl = inner_text(lx, k + 1)))
            goto nomem;
        k = fleet_sparql_tok(lx, k + 1)->match + 1;
    }
    if (!m.delete_tpl && !m.insert_tpl)
        goto out;
    while (k < b && fleet_sparql_is_word(lx, k, "USING")) {
        int is_named = fleet_sparql_is_word(lx, k + 1, "NAMED");
        size_t at = k + 1 + (size_t)is_named;
        char *iri;
        if (at >= b || !fleet_sparql_is_iri(lx, at))
            goto out;
        if ((rc = expand_term(pro, lx, at, &iri, err, errlen)) != FLEET_OK)
            goto out;
        if ((rc = strv_add(is_named ? &named : &using, iri)) != FLEET_OK)
            goto nomem;
        k = at + 1;
    }
    if (k >= b || !fleet_sparql_is_word(lx, k, "WHERE") || !fleet_sparql_is_punct(lx, k + 1, '{'))
        goto out;
    put_span(&where, lx, k + 1, fleet_sparql_tok(lx, k + 1)->match);
    k = fleet_sparql_tok(lx, k + 1)->match + 1;
    if (k != b)
        goto out;
    if (!(m.where = buf_take(&where)))
        goto nomem;
    if (strv_finish(&using) != FLEET_OK || strv_finish(&named) != FLEET_OK)
        goto nomem;
    op->kind = FLEET_UPDATE_MODIFY;
    op->with_iri = m.with_iri;
    op->delete_tpl = m.delete_tpl;
    op->insert_tpl = m.insert_tpl;
    op->where = m.where;
    op->using = strv_steal(&using);
    op->using_named = strv_steal(&named);
    memset(&m, 0, sizeof(m));
    goto out;
nomem:
    fleet_errf(err, errlen, "out of memory");
    rc = FLEET_ERR_NOMEM;
out:
    op_clear(&m);
    strv_clear(&using);
    strv_clear(&named);
    fleet_buf_free(&where);
    return rc;
}

struct op_list {
    struct fleet_update_op *v;
    size_t n, cap;
    size_t bytes; /* of all texts so far, against output_limit() */
};

/* Classifies the operation in tokens [c, b) and appends it to list. */
static enum fleet_err add_op(struct op_list *list, struct prologue *pro, const struct fleet_sparql_lexed *lx,
                             size_t c, size_t b, size_t limit, char *err, size_t errlen)
{
    struct fleet_update_op op = {0};
    struct fleet_buf pb = FLEET_BUF_INIT, tb = FLEET_BUF_INIT;
    enum fleet_err rc;

    if ((rc = prologue_put_used(pro, lx, c, b, list->n, &pb)) != FLEET_OK)
        goto nomem;
    fleet_buf_append(&tb, pb.data ? pb.data : "", pb.len);
    put_span(&tb, lx, c, b - 1);
    list->bytes += tb.len + pb.len;
    if (list->bytes > limit) {
        fleet_errf(err, errlen, "the operations' texts exceed %zu bytes", limit);
        rc = FLEET_ERR_TOOBIG;
        goto out;
    }
    op.prologue = buf_take(&pb);
    op.text = buf_take(&tb);
    if (!op.prologue || !op.text)
        goto nomem;

    if (fleet_sparql_is_word(lx, c, "CLEAR") || fleet_sparql_is_word(lx, c, "DROP")) {
        int drop = fleet_sparql_is_word(lx, c, "DROP");
        size_t k = c + 1;
        enum fleet_update_target target = FLEET_TARGET_NONE;
        if (fleet_sparql_is_word(lx, k, "SILENT")) {
            op.silent = 1;
            k++;
        }
        if (fleet_sparql_is_word(lx, k, "ALL"))
            target = FLEET_TARGET_ALL;
        else if (fleet_sparql_is_word(lx, k, "DEFAULT"))
            target = FLEET_TARGET_DEFAULT;
        else if (fleet_sparql_is_word(lx, k, "NAMED"))
            target = FLEET_TARGET_NAMED;
        if (target != FLEET_TARGET_NONE && k + 1 == b) {
            op.kind = drop ? FLEET_UPDATE_DROP_SPECIAL : FLEET_UPDATE_CLEAR_SPECIAL;
            op.target = target;
        }
    } else if (fleet_sparql_is_word(lx, c, "WITH") || fleet_sparql_is_word(lx, c, "DELETE") ||
               fleet_sparql_is_word(lx, c, "INSERT")) {
        rc = parse_modify(&op, pro, lx, c, b, err, errlen);
        if (rc != FLEET_OK)
            goto out;
    } else if (fleet_sparql_is_word(lx, c + 1, "SILENT")) {
        op.silent = 1; /* LOAD, CREATE, ADD, MOVE, COPY */
    }

    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 4;
        struct fleet_update_op *v =
            cap <= SIZE_MAX / sizeof(*v) ? realloc(list->v, cap * sizeof(*v)) : NULL;
        if (!v)
            goto nomem;
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = op;
    memset(&op, 0, sizeof(op));
    goto out;
nomem:
    fleet_errf(err, errlen, "out of memory");
    rc = FLEET_ERR_NOMEM;
out:
    op_clear(&op);
    fleet_buf_free(&pb);
    fleet_buf_free(&tb);
    return rc;
}

enum fleet_err fleet_sparql_split_update(const char *update, struct fleet_update_op **ops,
                                         size_t *nops, char *err, size_t errlen)
{
    struct fleet_sparql_lexed lx = {0};
    struct prologue pro = {0};
    struct op_list list = {0};
    enum fleet_err rc;
    size_t a = 0, eof, limit;

    if (ops)
        *ops = NULL;
    if (nops)
        *nops = 0;
    if (!update || !ops || !nops) {
        fleet_errf(err, errlen, "no update");
        return FLEET_ERR_INVAL;
    }
    limit = output_limit(strlen(update));
    rc = fleet_sparql_lex(update, strlen(update), &lx, err, errlen);
    if (rc != FLEET_OK)
        goto out;
    eof = lx.n - 1;
    for (;;) {
        size_t b = a, c = a;
        while (b < eof && !fleet_sparql_is_punct(&lx, b, ';'))
            b = is_opener(&lx, b) ? fleet_sparql_tok(&lx, b)->match + 1 : b + 1;
        rc = prologue_parse(&pro, &lx, &c, b, err, errlen);
        if (rc != FLEET_OK)
            goto out;
        if (c == b) {
            if (b < eof) {
                fleet_errf(err, errlen, "empty operation before ';' at line %u",
                           fleet_sparql_line_of(update, fleet_sparql_tok(&lx, b)->start));
                rc = FLEET_ERR_INVAL;
                goto out;
            }
            break; /* a request may end with ';' or with a prologue */
        }
        rc = add_op(&list, &pro, &lx, c, b, limit, err, errlen);
        if (rc != FLEET_OK || b >= eof)
            break;
        a = b + 1;
    }
    if (rc == FLEET_OK) {
        *ops = list.v;
        *nops = list.n;
        list.v = NULL;
        list.n = 0;
    }
out:
    fleet_update_ops_free(list.v, list.n);
    prologue_free(&pro);
    fleet_sparql_lex_free(&lx);
    return rc;
}

/* ---- template parameters ------------------------------------------------------------------- */

/* Writes t as a SPARQL term. IRIs are refused if they hold a character IRIREF excludes;
 * literals are escaped so that no value can end the string early. */
static enum fleet_err put_term(struct fleet_buf *b, const struct fleet_term *t, char *err,
                               size_t errlen)
{
    switch (t->kind) {
    case FLEET_TERM_IRI:
        for (const unsigned char *p = (const unsigned char *)t->value; *p; p++)
            if (*p <= 0x20 || strchr("<>\"{}|^`\\", *p)) {
                fleet_errf(err, errlen, "not a valid IRI: contains byte 0x%02x", *p);
                return FLEET_ERR_INVAL;
            }
        fleet_buf_putc(b, '<');
        fleet_buf_puts(b, t->value);
        fleet_buf_putc(b, '>');
        break;
    case FLEET_TERM_LITERAL:
        fleet_buf_putc(b, '"');
        for (const char *p = t->value; *p; p++) {
            switch (*p) {
            case '"': fleet_buf_puts(b, "\\\""); break;
            case '\\': fleet_buf_puts(b, "\\\\"); break;
            case '\n': fleet_buf_puts(b, "\\n"); break;
            case '\r': fleet_buf_puts(b, "\\r"); break;
            case '\t': fleet_buf_puts(b, "\\t"); break;
            default: fleet_buf_putc(b, *p); break;
            }
        }
        fleet_buf_putc(b, '"');
        if (t->lang && t->lang[0]) {
            for (const char *p = t->lang; *p; p++)
                if (!fleet_ascii_alnum((unsigned char)*p) && *p != '-') {
                    fleet_errf(err, errlen, "not a valid language tag");
                    return FLEET_ERR_INVAL;
                }
            fleet_buf_printf(b, "@%s", t->lang);
        } else if (t->datatype) {
            struct fleet_term dt = {FLEET_TERM_IRI, t->datatype, NULL, NULL};
            fleet_buf_puts(b, "^^");
            return put_term(b, &dt, err, errlen);
        }
        break;
    default:
        fleet_errf(err, errlen, "a parameter must be an IRI or a literal");
        return FLEET_ERR_INVAL;
    }
    return FLEET_OK;
}

enum fleet_err fleet_sparql_bind(const char *tpl, const char *const *names,
                                 const struct fleet_term *values, size_t n, struct fleet_buf *out,
                                 char *err, size_t errlen)
{
    struct fleet_sparql_lexed lx = {0};
    size_t copied = 0, len = strlen(tpl);
    enum fleet_err rc = fleet_sparql_lex(tpl, len, &lx, err, errlen);
    if (rc != FLEET_OK)
        return rc;
    for (size_t i = 0; i < lx.n && rc == FLEET_OK; i++) {
        const struct fleet_sparql_tok *t = &lx.t[i];
        if (t->type != FLEET_TK_VAR || tpl[t->start] != '$')
            continue;
        size_t k;
        for (k = 0; k < n; k++)
            if (strlen(names[k]) == t->len - 1 && memcmp(names[k], tpl + t->start + 1, t->len - 1) == 0)
                break;
        if (k == n) {
            fleet_errf(err, errlen, "template parameter %.*s has no value", (int)t->len,
                       tpl + t->start);
            rc = FLEET_ERR_INVAL;
            break;
        }
        fleet_buf_append(out, tpl + copied, t->start - copied);
        rc = put_term(out, &values[k], err, errlen);
        copied = t->start + t->len;
    }
    if (rc == FLEET_OK)
        fleet_buf_append(out, tpl + copied, len - copied);
    if (rc == FLEET_OK && out->oom)
        rc = FLEET_ERR_NOMEM;
    fleet_sparql_lex_free(&lx);
    return rc;
}
