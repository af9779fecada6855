/* SPDX-License-Identifier: MIT */
/* Greedy join order for the triple patterns of a SPARQL query (see sparql_reorder.h). A small
 * lexer following the terminals of the SPARQL 1.1 grammar (section 19.8) turns the text into
 * tokens and pairs every bracket; a recursive walk over the group graph patterns of the WHERE
 * clause then checks each group strictly against the grammar (GroupGraphPatternSub) and collects
 * the patterns of the eligible ones. Whatever the walk does not understand makes the whole query
 * come out unchanged: rasqal will report the error itself, and an unreordered query is never
 * wrong. Its own lexer rather than sparql_text.c's keeps the two modules independent; the rules
 * are the same. */
#include "sparql_reorder.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* As in sparql_text.c: deeper than any real query, shallow enough for the recursive walk. */
#define FLEET_REORDER_MAX_DEPTH 128
#define NO_VAR SIZE_MAX

enum tok_type {
    T_EOF = 0,
    T_IRI,     /* IRIREF with its angle brackets */
    T_PNAME,   /* PNAME_NS or PNAME_LN */
    T_BNODE,   /* BLANK_NODE_LABEL */
    T_VAR,     /* VAR1 or VAR2 */
    T_STRING,  /* any of the four forms, quotes included */
    T_LANGTAG, /* @en-GB */
    T_NUMBER,  /* INTEGER, DECIMAL or DOUBLE, with an adjacent sign */
    T_WORD,    /* keywords, function names, `a`, true/false */
    T_PUNCT,
};

/* Two-character operators; other punctuation is the character itself. */
enum { P_HATHAT = 256, P_OR, P_AND, P_NE, P_LE, P_GE };

struct tok {
    enum tok_type type;
    int punct;    /* T_PUNCT: the character or a P_ code */
    size_t start; /* byte offset in the source */
    size_t len;
    size_t match; /* brackets: index of the partner */
};

struct lexed {
    const char *src; /* borrowed */
    struct tok *t;   /* t[n - 1] is T_EOF */
    size_t n, cap;
};

/* A term or a FILTER: tokens first..last, inclusive. */
struct span {
    size_t first, last;
};

struct pattern {
    struct span t[3]; /* subject, predicate, object */
};

struct walk {
    const struct lexed *lx;
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

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- lexer --------------------------------------------------------------------------------- */

/* ASCII classes by hand: <ctype.h> depends on the locale and on the sign of char. */
static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(unsigned char c)
{
    return is_alpha(c) || is_digit(c);
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* PN_CHARS_BASE, taking every non-ASCII byte for the grammar's Unicode ranges. */
static int is_pn_base(unsigned char c)
{
    return is_alpha(c) || c >= 0x80;
}

static int is_pn_u(unsigned char c)
{
    return is_pn_base(c) || c == '_';
}

static int is_pn_chars(unsigned char c)
{
    return is_pn_u(c) || c == '-' || is_digit(c);
}

static int is_varname(unsigned char c)
{
    return is_pn_u(c) || is_digit(c);
}

static int push_tok(struct lexed *lx, const struct tok *t)
{
    if (lx->n == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 64;
        struct tok *v = cap <= SIZE_MAX / sizeof(*v) ? realloc(lx->t, cap * sizeof(*v)) : NULL;
        if (!v)
            return -1;
        lx->t = v;
        lx->cap = cap;
    }
    lx->t[lx->n++] = *t;
    return 0;
}

/* Length of an EXPONENT at s[p], or 0. */
static size_t exponent_len(const char *s, size_t len, size_t p)
{
    size_t q = p + 1;
    if (p >= len || (s[p] != 'e' && s[p] != 'E'))
        return 0;
    if (q < len && (s[q] == '+' || s[q] == '-'))
        q++;
    if (q >= len || !is_digit((unsigned char)s[q]))
        return 0;
    while (q < len && is_digit((unsigned char)s[q]))
        q++;
    return q - p;
}

static size_t scan_number(const char *s, size_t len, size_t p)
{
    size_t q = p;
    if (s[q] == '+' || s[q] == '-')
        q++;
    while (q < len && is_digit((unsigned char)s[q]))
        q++;
    if (q + 1 < len && s[q] == '.' && is_digit((unsigned char)s[q + 1])) {
        q++;
        while (q < len && is_digit((unsigned char)s[q]))
            q++;
    } else if (q < len && s[q] == '.' && exponent_len(s, len, q + 1)) {
        q++; /* `1.e5` is a DOUBLE; `1.` is an INTEGER and the dot ending a triple */
    }
    return q + exponent_len(s, len, q);
}

/* PN_LOCAL from s[p]: returns its end, which never takes in a trailing unescaped dot. */
static size_t scan_local(const char *s, size_t len, size_t p)
{
    static const char esc[] = "_~.-!$&'()*+,;=/?#@%";
    size_t q = p, end = p;
    while (q < len) {
        unsigned char c = (unsigned char)s[q];
        if (c == '%') {
            if (q + 2 >= len || !is_hex((unsigned char)s[q + 1]) ||
                !is_hex((unsigned char)s[q + 2]))
                break;
            q += 3;
        } else if (c == '\\') {
            if (q + 1 >= len || s[q + 1] == '\0' || !strchr(esc, s[q + 1]))
                break;
            q += 2;
        } else if (c == '.') {
            if (q == p)
                break;
            q++;
            continue; /* only part of the name if more follows */
        } else if (c == '-') {
            if (q == p)
                break;
            q++;
        } else if (is_pn_u(c) || is_digit(c) || c == ':') {
            q++;
        } else {
            break;
        }
        end = q;
    }
    return end;
}

/* After '<': one past the closing '>' of an IRIREF, or 0 when the text is not one (then '<' is
 * the less-than operator). An IRIREF holds no space, control character or <>"{}|^`\. */
static size_t scan_iri(const char *s, size_t len, size_t p)
{
    for (size_t q = p + 1; q < len; q++) {
        unsigned char c = (unsigned char)s[q];
        if (c == '>')
            return q + 1;
        if (c <= 0x20 || strchr("<\"{}|^`\\", c))
            return 0;
    }
    return 0;
}

/* One past the closing quote(s) of the string starting at s[p], or 0 if it is unterminated. */
static size_t scan_string(const char *s, size_t len, size_t p)
{
    char qc = s[p];
    if (p + 2 < len && s[p + 1] == qc && s[p + 2] == qc) {
        for (size_t q = p + 3; q < len; q++) {
            if (s[q] == '\\')
                q++;
            else if (s[q] == qc && q + 2 < len && s[q + 1] == qc && s[q + 2] == qc)
                return q + 3;
        }
        return 0;
    }
    for (size_t q = p + 1; q < len; q++) {
        if (s[q] == '\n' || s[q] == '\r')
            return 0;
        if (s[q] == '\\') {
            if (q + 1 < len && (s[q + 1] == '\n' || s[q + 1] == '\r'))
                return 0;
            q++;
        } else if (s[q] == qc) {
            return q + 1;
        }
    }
    return 0;
}

/* Splits src into tokens and pairs brackets. FLEET_ERR_INVAL for anything that is not a SPARQL
 * token sequence with balanced brackets. */
static enum fleet_err lex(const char *src, size_t len, struct lexed *lx)
{
    size_t stack[FLEET_REORDER_MAX_DEPTH];
    size_t depth = 0, p = 0;

    lx->src = src;
    while (p < len) {
        unsigned char c = (unsigned char)src[p];
        unsigned char n1 = p + 1 < len ? (unsigned char)src[p + 1] : 0;
        unsigned char n2 = p + 2 < len ? (unsigned char)src[p + 2] : 0;
        struct tok t = {T_PUNCT, c, p, 1, 0};

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            p++;
            continue;
        }
        if (c == '#') {
            while (p < len && src[p] != '\n' && src[p] != '\r')
                p++;
            continue;
        }
        if (c == '<') {
            size_t end = scan_iri(src, len, p);
            if (end) {
                t.type = T_IRI;
                t.len = end - p;
            } else if (n1 == '=') {
                t.punct = P_LE;
                t.len = 2;
            }
        } else if (c == '"' || c == '\'') {
            size_t end = scan_string(src, len, p);
            if (!end)
                return FLEET_ERR_INVAL;
            t.type = T_STRING;
            t.len = end - p;
        } else if ((c == '?' || c == '$') && is_varname(n1)) {
            size_t q = p + 1;
            while (q < len && is_varname((unsigned char)src[q]))
                q++;
            t.type = T_VAR;
            t.len = q - p;
        } else if (c == '@') {
            size_t q = p + 1;
            if (!is_alpha(n1))
                return FLEET_ERR_INVAL;
            while (q < len && is_alpha((unsigned char)src[q]))
                q++;
            while (q + 1 < len && src[q] == '-' && is_alnum((unsigned char)src[q + 1])) {
                q++;
                while (q < len && is_alnum((unsigned char)src[q]))
                    q++;
            }
            t.type = T_LANGTAG;
            t.len = q - p;
        } else if (c == '_') {
            size_t q, end;
            if (n1 != ':' || !is_varname(n2))
                return FLEET_ERR_INVAL; /* `_` starts nothing else */
            /* the label may hold dots, but not end with one */
            for (q = p + 3, end = q;
                 q < len && (is_pn_chars((unsigned char)src[q]) || src[q] == '.'); q++)
                if (src[q] != '.')
                    end = q + 1;
            t.type = T_BNODE;
            t.len = end - p;
        } else if (is_digit(c) || (c == '.' && is_digit(n1)) ||
                   ((c == '+' || c == '-') && (is_digit(n1) || (n1 == '.' && is_digit(n2))))) {
            t.type = T_NUMBER;
            t.len = scan_number(src, len, p) - p;
        } else if (is_pn_base(c) || c == ':') {
            size_t q = p, last = p;
            if (c != ':') {
                for (q = p + 1, last = q;
                     q < len && (is_pn_chars((unsigned char)src[q]) || src[q] == '.');) {
                    q++;
                    if (src[q - 1] != '.')
                        last = q;
                }
            }
            if (last < len && src[last] == ':') {
                t.type = T_PNAME;
                t.len = scan_local(src, len, last + 1) - p;
            } else {
                for (q = p + 1; q < len && (is_alnum((unsigned char)src[q]) || src[q] == '_' ||
                                            (unsigned char)src[q] >= 0x80);
                     q++)
                    ;
                t.type = T_WORD;
                t.len = q - p;
            }
        } else if (c == '^' && n1 == '^') {
            t.punct = P_HATHAT;
            t.len = 2;
        } else if (c == '|' && n1 == '|') {
            t.punct = P_OR;
            t.len = 2;
        } else if (c == '&' && n1 == '&') {
            t.punct = P_AND;
            t.len = 2;
        } else if (c == '!' && n1 == '=') {
            t.punct = P_NE;
            t.len = 2;
        } else if (c == '>' && n1 == '=') {
            t.punct = P_GE;
            t.len = 2;
        } else if (!strchr("{}()[].,;*+-/|^!=<>?", c) || c == '\0') {
            return FLEET_ERR_INVAL; /* no SPARQL token starts with this byte */
        }

        if (t.type == T_PUNCT && t.len == 1 && (c == '{' || c == '(' || c == '[')) {
            if (depth == FLEET_REORDER_MAX_DEPTH)
                return FLEET_ERR_INVAL;
            stack[depth++] = lx->n;
        } else if (t.type == T_PUNCT && t.len == 1 && (c == '}' || c == ')' || c == ']')) {
            int want = c == '}' ? '{' : c == ')' ? '(' : '[';
            if (depth == 0 || lx->t[stack[depth - 1]].punct != want)
                return FLEET_ERR_INVAL;
            t.match = stack[--depth];
            lx->t[t.match].match = lx->n;
        }
        if (push_tok(lx, &t) != 0)
            return FLEET_ERR_NOMEM;
        p = t.start + t.len;
    }
    if (depth > 0)
        return FLEET_ERR_INVAL;
    struct tok eof = {T_EOF, 0, len, 0, 0};
    return push_tok(lx, &eof) == 0 ? FLEET_OK : FLEET_ERR_NOMEM;
}

static const struct tok *tok(const struct lexed *lx, size_t i)
{
    return &lx->t[i < lx->n ? i : lx->n - 1];
}

static int is_punct(const struct lexed *lx, size_t i, int p)
{
    const struct tok *t = tok(lx, i);
    return t->type == T_PUNCT && t->punct == p;
}

/* Keywords are case-insensitive, except `a`, which is_a() tests. */
static int is_word(const struct lexed *lx, size_t i, const char *kw)
{
    const struct tok *t = tok(lx, i);
    size_t n = strlen(kw);
    return t->type == T_WORD && t->len == n && strncasecmp(lx->src + t->start, kw, n) == 0;
}

static int is_a(const struct lexed *lx, size_t i)
{
    const struct tok *t = tok(lx, i);
    return t->type == T_WORD && t->len == 1 && lx->src[t->start] == 'a';
}

static int is_iri(const struct lexed *lx, size_t i)
{
    enum tok_type ty = tok(lx, i)->type;
    return ty == T_IRI || ty == T_PNAME;
}

static int is_var_or_iri(const struct lexed *lx, size_t i)
{
    return tok(lx, i)->type == T_VAR || is_iri(lx, i);
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
static size_t node_end(const struct lexed *lx, size_t i, size_t hi, int *complex)
{
    const struct tok *t = tok(lx, i);
    if (i >= hi)
        return i;
    switch (t->type) {
    case T_VAR:
    case T_IRI:
    case T_PNAME:
    case T_BNODE:
    case T_NUMBER:
        return i + 1;
    case T_STRING:
        if (i + 1 < hi && tok(lx, i + 1)->type == T_LANGTAG)
            return i + 2;
        if (i + 1 < hi && is_punct(lx, i + 1, P_HATHAT))
            return i + 2 < hi && is_iri(lx, i + 2) ? i + 3 : i;
        return i + 1;
    case T_WORD:
        return is_word(lx, i, "true") || is_word(lx, i, "false") ? i + 1 : i;
    case T_PUNCT:
        if (t->punct == '[' || t->punct == '(') {
            *complex = 1;
            return t->match + 1;
        }
        return i;
    default:
        return i;
    }
}

static int verb_starts(const struct lexed *lx, size_t i, size_t hi)
{
    return i < hi && (is_var_or_iri(lx, i) || is_a(lx, i) || is_punct(lx, i, '^') ||
                      is_punct(lx, i, '!') || is_punct(lx, i, '('));
}

/* A verb at i: a variable, or a path of one or more steps; anything beyond one IRI, prefixed
 * name or `a` is a property path and sets *complex. Returns the index after it, or i. */
static size_t verb_end(const struct lexed *lx, size_t i, size_t hi, int *complex)
{
    size_t j = i;
    if (i >= hi)
        return i;
    if (tok(lx, i)->type == T_VAR)
        return i + 1;
    for (;;) {
        while (j < hi && (is_punct(lx, j, '^') || is_punct(lx, j, '!'))) {
            *complex = 1;
            j++;
        }
        if (j < hi && is_punct(lx, j, '(')) {
            *complex = 1;
            j = tok(lx, j)->match + 1;
        } else if (j < hi && (is_iri(lx, j) || is_a(lx, j))) {
            j++;
        } else {
            return i;
        }
        if (j < hi && (is_punct(lx, j, '*') || is_punct(lx, j, '+') || is_punct(lx, j, '?'))) {
            *complex = 1;
            j++;
        }
        if (j < hi && (is_punct(lx, j, '/') || is_punct(lx, j, '|'))) {
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
    const struct lexed *lx = w->lx;
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
                if (k >= hi || !is_punct(lx, k, ','))
                    break;
                k++;
            }
            if (k >= hi || !is_punct(lx, k, ';'))
                break;
            while (k < hi && is_punct(lx, k, ';'))
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
    if (open >= hi || !is_punct(w->lx, open, '{'))
        return FLEET_ERR_INVAL;
    *end = tok(w->lx, open)->match + 1;
    return walk_group(w, open);
}

/* A GraphPatternNotTriples at i. Sets *end past it, and *plain_filter for a FILTER without
 * EXISTS (the one element a reordered group may hold besides triples). */
static enum fleet_err walk_element(struct walk *w, size_t i, size_t hi, size_t *end,
                                   int *plain_filter)
{
    const struct lexed *lx = w->lx;
    enum fleet_err rc;
    size_t k;

    if (is_punct(lx, i, '{')) { /* GroupOrUnionGraphPattern */
        rc = walk_nested(w, i, hi, &k);
        while (rc == FLEET_OK && k < hi && is_word(lx, k, "UNION"))
            rc = walk_nested(w, k + 1, hi, &k);
        *end = k;
        return rc;
    }
    if (is_word(lx, i, "OPTIONAL") || is_word(lx, i, "MINUS"))
        return walk_nested(w, i + 1, hi, end);
    if (is_word(lx, i, "GRAPH")) {
        if (!is_var_or_iri(lx, i + 1))
            return FLEET_ERR_INVAL;
        return walk_nested(w, i + 2, hi, end);
    }
    if (is_word(lx, i, "SERVICE")) {
        k = is_word(lx, i + 1, "SILENT") ? i + 2 : i + 1;
        if (!is_var_or_iri(lx, k))
            return FLEET_ERR_INVAL;
        return walk_nested(w, k + 1, hi, end);
    }
    if (is_word(lx, i, "FILTER")) {
        size_t last;
        k = i + 1;
        if (is_word(lx, k, "NOT") && is_word(lx, k + 1, "EXISTS"))
            k++;
        if (is_word(lx, k, "EXISTS")) { /* expressions are not walked into */
            if (!is_punct(lx, k + 1, '{'))
                return FLEET_ERR_INVAL;
            *end = tok(lx, k + 1)->match + 1;
            return FLEET_OK;
        }
        if (is_punct(lx, k, '('))
            last = tok(lx, k)->match;
        else if ((tok(lx, k)->type == T_WORD || is_iri(lx, k)) && is_punct(lx, k + 1, '('))
            last = tok(lx, k + 1)->match;
        else
            return FLEET_ERR_INVAL;
        *plain_filter = 1;
        for (size_t j = k; j < last; j++)
            if (is_word(lx, j, "EXISTS"))
                *plain_filter = 0;
        *end = last + 1;
        return FLEET_OK;
    }
    if (is_word(lx, i, "BIND")) {
        if (!is_punct(lx, i + 1, '('))
            return FLEET_ERR_INVAL;
        *end = tok(lx, i + 1)->match + 1;
        return FLEET_OK;
    }
    if (is_word(lx, i, "VALUES")) { /* data, never walked into */
        k = i + 1;
        if (is_punct(lx, k, '('))
            k = tok(lx, k)->match + 1;
        else if (tok(lx, k)->type == T_VAR)
            k++;
        else
            return FLEET_ERR_INVAL;
        if (k >= hi || !is_punct(lx, k, '{'))
            return FLEET_ERR_INVAL;
        *end = tok(lx, k)->match + 1;
        return FLEET_OK;
    }
    return FLEET_ERR_INVAL;
}

/* `{ SELECT ... }`: walks the sub-select's WHERE group only; its projection, solution modifiers
 * and VALUES are not patterns. */
static enum fleet_err walk_subselect(struct walk *w, size_t i, size_t hi)
{
    const struct lexed *lx = w->lx;
    size_t end;
    while (i < hi && !is_punct(lx, i, '{'))
        i = is_punct(lx, i, '(') ? tok(lx, i)->match + 1 : i + 1;
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
    const struct lexed *lx = w->lx;
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
        const struct tok *t = tok(lx, sp->first);
        var_of[s] = NO_VAR;
        if (sp->first == sp->last && (t->type == T_VAR || t->type == T_BNODE)) {
            size_t skip = t->type == T_VAR ? 1 : 2;
            refs[nrefs++] =
                (struct var_ref){lx->src + t->start + skip, t->len - skip, t->type == T_BNODE, s};
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

static size_t span_len(const struct lexed *lx, struct span s)
{
    return tok(lx, s.last)->start + tok(lx, s.last)->len - tok(lx, s.first)->start;
}

static void put_span(struct fleet_buf *b, const struct lexed *lx, struct span s)
{
    fleet_buf_append(b, lx->src + tok(lx, s.first)->start, span_len(lx, s));
}

/* Rewrites the group at open from w's patterns and FILTERs if the greedy order differs from the
 * written one. */
static enum fleet_err reorder_group(struct walk *w, size_t open)
{
    const struct lexed *lx = w->lx;
    size_t close = tok(lx, open)->match, n = w->npats, k;
    size_t from = tok(lx, open + 1)->start;
    size_t to = tok(lx, close - 1)->start + tok(lx, close - 1)->len;
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
    const struct lexed *lx = w->lx;
    size_t close = tok(lx, open)->match, i = open + 1;
    enum { AT_START, AFTER_TRIPLES, AFTER_ELEMENT, AFTER_DOT } state = AT_START;
    int eligible = 1;
    enum fleet_err rc;

    w->npats = w->nfilters = 0;
    if (is_word(lx, i, "SELECT"))
        return walk_subselect(w, i, close);
    while (i < close) {
        size_t end = i;
        if (is_punct(lx, i, '.')) {
            if (state != AFTER_TRIPLES && state != AFTER_ELEMENT)
                return FLEET_ERR_INVAL;
            state = AFTER_DOT;
            i++;
            continue;
        }
        if (is_punct(lx, i, '{') ||
            (tok(lx, i)->type == T_WORD && !is_word(lx, i, "true") && !is_word(lx, i, "false"))) {
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
    const struct lexed *lx = w->lx;
    size_t i = 0, eof = lx->n - 1, end;

    for (;;) {
        if (is_word(lx, i, "BASE") && tok(lx, i + 1)->type == T_IRI) {
            i += 2;
        } else if (is_word(lx, i, "PREFIX") && tok(lx, i + 1)->type == T_PNAME &&
                   lx->src[tok(lx, i + 1)->start + tok(lx, i + 1)->len - 1] == ':' &&
                   tok(lx, i + 2)->type == T_IRI) {
            i += 3;
        } else {
            break;
        }
    }
    if (is_word(lx, i, "CONSTRUCT")) {
        if (!is_punct(lx, i + 1, '{'))
            return FLEET_ERR_INVAL;
        i = tok(lx, i + 1)->match + 1; /* the template is never touched */
    } else if (!is_word(lx, i, "SELECT") && !is_word(lx, i, "ASK") && !is_word(lx, i, "DESCRIBE")) {
        return FLEET_ERR_INVAL;
    }
    while (i < eof && !is_punct(lx, i, '{'))
        i = is_punct(lx, i, '(') ? tok(lx, i)->match + 1 : i + 1;
    if (i >= eof)
        return FLEET_ERR_INVAL; /* e.g. DESCRIBE <x>: nothing to reorder */
    return walk_nested(w, i, eof, &end);
}

enum fleet_err fleet_sparql_reorder(const char *query, struct fleet_buf *out, int *changed,
                                    char *err, size_t errlen)
{
    struct lexed lx = {0};
    struct walk w = {0};
    size_t len;
    enum fleet_err rc;

    if (changed)
        *changed = 0;
    if (!query || !out) {
        set_err(err, errlen, "no query or no output buffer");
        return FLEET_ERR_INVAL;
    }
    len = strlen(query);
    rc = lex(query, len, &lx);
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
        set_err(err, errlen, "out of memory");
    free(lx.t);
    free(w.pats);
    free(w.filters);
    fleet_buf_free(&w.out);
    return rc;
}
