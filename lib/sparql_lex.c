/* SPDX-License-Identifier: MIT */
/* The SPARQL 1.1 lexer shared by the text rewrites (sparql_text.c) and the join reordering
 * (sparql_reorder.c); see sparql_lex.h. It follows the terminals of the grammar (section 19.8),
 * so a keyword inside a string, an IRI or a comment is never taken for one, and it pairs every
 * bracket, up to FLEET_SPARQL_MAX_DEPTH deep. */
#include "sparql_lex.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

unsigned fleet_sparql_line_of(const char *src, size_t off)
{
    unsigned line = 1;
    for (size_t i = 0; i < off; i++)
        if (src[i] == '\n')
            line++;
    return line;
}

/* PN_CHARS_BASE: every non-ASCII byte counts, which accepts the grammar's Unicode ranges (and a
 * little more; rasqal rejects the rest). */
static int is_pn_base(unsigned char c)
{
    return fleet_ascii_alpha(c) || c >= 0x80;
}

static int is_pn_u(unsigned char c)
{
    return is_pn_base(c) || c == '_';
}

static int is_pn_chars(unsigned char c)
{
    return is_pn_u(c) || c == '-' || fleet_ascii_digit(c);
}

static int is_varname(unsigned char c)
{
    return is_pn_u(c) || fleet_ascii_digit(c);
}

void fleet_sparql_lex_free(struct fleet_sparql_lexed *lx)
{
    free(lx->t);
    lx->t = NULL;
    lx->n = lx->cap = 0;
}

static int push_tok(struct fleet_sparql_lexed *lx, const struct fleet_sparql_tok *t)
{
    if (lx->n == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(*lx->t))
            return -1;
        struct fleet_sparql_tok *v = realloc(lx->t, cap * sizeof(*v));
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
    if (p >= len || (s[p] != 'e' && s[p] != 'E'))
        return 0;
    size_t q = p + 1;
    if (q < len && (s[q] == '+' || s[q] == '-'))
        q++;
    if (q >= len || !fleet_ascii_digit((unsigned char)s[q]))
        return 0;
    while (q < len && fleet_ascii_digit((unsigned char)s[q]))
        q++;
    return q - p;
}

static size_t scan_number(const char *s, size_t len, size_t p)
{
    size_t q = p;
    if (s[q] == '+' || s[q] == '-')
        q++;
    while (q < len && fleet_ascii_digit((unsigned char)s[q]))
        q++;
    if (q + 1 < len && s[q] == '.' && fleet_ascii_digit((unsigned char)s[q + 1])) {
        q++;
        while (q < len && fleet_ascii_digit((unsigned char)s[q]))
            q++;
    } else if (q < len && s[q] == '.' && exponent_len(s, len, q + 1)) {
        q++; /* `1.e5` is a DOUBLE; `1.` is an INTEGER followed by a dot */
    }
    return q + exponent_len(s, len, q);
}

/* PN_LOCAL from s[p]: returns its end, which never includes a trailing unescaped dot. */
static size_t scan_local(const char *s, size_t len, size_t p)
{
    static const char esc[] = "_~.-!$&'()*+,;=/?#@%";
    size_t q = p, end = p;
    while (q < len) {
        unsigned char c = (unsigned char)s[q];
        if (c == '%') {
            if (q + 2 < len && fleet_ascii_hex((unsigned char)s[q + 1]) &&
                fleet_ascii_hex((unsigned char)s[q + 2]))
                q += 3;
            else
                break;
        } else if (c == '\\') {
            if (q + 1 < len && s[q + 1] != '\0' && strchr(esc, s[q + 1]))
                q += 2;
            else
                break;
        } else if (c == '.' || c == '-') {
            if (q == p)
                break;
            q++;
            if (c == '.')
                continue;
        } else if (is_pn_u(c) || fleet_ascii_digit(c) || c == ':') {
            q++;
        } else {
            break;
        }
        end = q;
    }
    return end;
}

/* After '<': the end of an IRIREF (one past '>'), or 0 if the text is not one. *at_eof says the
 * scan ran into the end of the input rather than into a character an IRI cannot hold. */
static size_t scan_iri(const char *s, size_t len, size_t p, int *at_eof)
{
    size_t q = p + 1;
    *at_eof = 0;
    while (q < len) {
        unsigned char c = (unsigned char)s[q];
        if (c == '>')
            return q + 1;
        if (c <= 0x20 || strchr("<\"{}|^`", c))
            return 0;
        if (c == '\\') {
            if (q + 1 < len && (s[q + 1] == 'u' || s[q + 1] == 'U')) {
                q += 2;
                continue;
            }
            return 0;
        }
        q++;
    }
    *at_eof = 1;
    return 0;
}

/* Whether s starts with `scheme:` (and, with slashes set, `scheme://`). */
int fleet_sparql_is_word(const struct fleet_sparql_lexed *lx, size_t i, const char *kw)
{
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    size_t n = strlen(kw);
    return t->type == FLEET_TK_WORD && t->len == n && strncasecmp(lx->src + t->start, kw, n) == 0;
}

int fleet_sparql_looks_like_scheme(const char *s, size_t len, int slashes)
{
    size_t i = 0;
    if (len == 0 || !fleet_ascii_alpha((unsigned char)s[0]))
        return 0;
    while (i < len &&
           (fleet_ascii_alpha((unsigned char)s[i]) || fleet_ascii_digit((unsigned char)s[i]) ||
            s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i >= len || s[i] != ':')
        return 0;
    return !slashes || (i + 2 < len && s[i + 1] == '/' && s[i + 2] == '/');
}

/* Splits src[0..len) into tokens and pairs brackets. */
enum fleet_err fleet_sparql_lex(const char *src, size_t len, struct fleet_sparql_lexed *lx, char *err,
                                size_t errlen)
{
    size_t stack[FLEET_SPARQL_MAX_DEPTH];
    size_t depth = 0;
    size_t p = 0;

    lx->src = src;
    lx->srclen = len;
    lx->t = NULL;
    lx->n = lx->cap = 0;
    while (p < len) {
        unsigned char c = (unsigned char)src[p];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            p++;
            continue;
        }
        if (c == '#') {
            while (p < len && src[p] != '\n' && src[p] != '\r')
                p++;
            continue;
        }
        struct fleet_sparql_tok t = {FLEET_TK_PUNCT, c, p, 1, 0};
        unsigned char n1 = p + 1 < len ? (unsigned char)src[p + 1] : 0;
        unsigned char n2 = p + 2 < len ? (unsigned char)src[p + 2] : 0;
        if (c == '<') {
            int at_eof;
            size_t end = scan_iri(src, len, p, &at_eof);
            if (end) {
                t.type = FLEET_TK_IRI;
                t.len = end - p;
            } else if (fleet_sparql_looks_like_scheme(src + p + 1, len - p - 1, !at_eof)) {
                /* `<scheme://` can never start a valid expression, nor `<scheme:` at the end of
                 * the text; anything else (`?a <?b`, `?a <ex:b`) is the less-than operator. */
                fleet_errf(err, errlen, "unterminated IRI at line %u",
                           fleet_sparql_line_of(src, p));
                goto inval;
            } else if (n1 == '=') {
                t.punct = FLEET_P_LE;
                t.len = 2;
            }
        } else if (c == '"' || c == '\'') {
            size_t q;
            t.type = FLEET_TK_STRING;
            if (n1 == c && n2 == c) {
                for (q = p + 3;; q++) {
                    if (q >= len)
                        goto unterminated;
                    if (src[q] == '\\') {
                        q++;
                        continue;
                    }
                    if (q + 2 < len && src[q] == c && src[q + 1] == c && src[q + 2] == c) {
                        q += 3;
                        break;
                    }
                }
            } else {
                for (q = p + 1;; q++) {
                    if (q >= len || src[q] == '\n' || src[q] == '\r')
                        goto unterminated;
                    if (src[q] == '\\') {
                        q++;
                        continue;
                    }
                    if ((unsigned char)src[q] == c) {
                        q++;
                        break;
                    }
                }
            }
            t.len = q - p;
        } else if ((c == '?' || c == '$') && is_varname(n1)) {
            size_t q = p + 1;
            while (q < len && is_varname((unsigned char)src[q]))
                q++;
            t.type = FLEET_TK_VAR;
            t.len = q - p;
        } else if (c == '@' && fleet_ascii_alpha(n1)) {
            size_t q = p + 1;
            while (q < len && fleet_ascii_alpha((unsigned char)src[q]))
                q++;
            while (q + 1 < len && src[q] == '-' && fleet_ascii_alnum((unsigned char)src[q + 1])) {
                q++;
                while (q < len && fleet_ascii_alnum((unsigned char)src[q]))
                    q++;
            }
            t.type = FLEET_TK_LANGTAG;
            t.len = q - p;
        } else if (c == '_' && n1 == ':') {
            size_t q = p + 2, end = p + 2;
            if (q < len && is_varname((unsigned char)src[q])) {
                /* the label may hold dots, but not end with one */
                for (q++, end = q; q < len && (is_pn_chars((unsigned char)src[q]) || src[q] == '.');
                     q++)
                    if (src[q] != '.')
                        end = q + 1;
            }
            t.type = FLEET_TK_BNODE;
            t.len = end - p;
        } else if (fleet_ascii_digit(c) || (c == '.' && fleet_ascii_digit(n1)) ||
                   ((c == '+' || c == '-') &&
                    (fleet_ascii_digit(n1) || (n1 == '.' && fleet_ascii_digit(n2))))) {
            t.type = FLEET_TK_NUMBER;
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
                t.type = FLEET_TK_PNAME;
                t.len = scan_local(src, len, last + 1) - p;
            } else {
                q = p + 1;
                while (q < len && (fleet_ascii_alpha((unsigned char)src[q]) ||
                                   fleet_ascii_digit((unsigned char)src[q]) || src[q] == '_' ||
                                   (unsigned char)src[q] >= 0x80))
                    q++;
                t.type = FLEET_TK_WORD;
                t.len = q - p;
            }
        } else if (c == '^' && n1 == '^') {
            t.punct = FLEET_P_HATHAT;
            t.len = 2;
        } else if (c == '|' && n1 == '|') {
            t.punct = FLEET_P_OR;
            t.len = 2;
        } else if (c == '&' && n1 == '&') {
            t.punct = FLEET_P_AND;
            t.len = 2;
        } else if (c == '!' && n1 == '=') {
            t.punct = FLEET_P_NE;
            t.len = 2;
        } else if (c == '>' && n1 == '=') {
            t.punct = FLEET_P_GE;
            t.len = 2;
        }

        size_t idx = lx->n;
        if (t.type == FLEET_TK_PUNCT && (c == '{' || c == '(' || c == '[') && t.len == 1) {
            if (depth == FLEET_SPARQL_MAX_DEPTH) {
                fleet_errf(err, errlen, "brackets nested deeper than %d at line %u",
                           FLEET_SPARQL_MAX_DEPTH, fleet_sparql_line_of(src, p));
                goto inval;
            }
            stack[depth++] = idx;
        } else if (t.type == FLEET_TK_PUNCT && (c == '}' || c == ')' || c == ']') && t.len == 1) {
            static const char pair[] = {['}'] = '{', [')'] = '(', [']'] = '['};
            if (depth == 0 || lx->t[stack[depth - 1]].punct != pair[c]) {
                fleet_errf(err, errlen, "unbalanced '%c' at line %u", c,
                           fleet_sparql_line_of(src, p));
                goto inval;
            }
            size_t open = stack[--depth];
            lx->t[open].match = idx;
            t.match = open;
        }
        if (push_tok(lx, &t) != 0)
            goto nomem;
        p = t.start + t.len;
    }
    if (depth > 0) {
        size_t open = lx->t[stack[depth - 1]].start;
        fleet_errf(err, errlen, "'%c' at line %u is never closed", src[open],
                   fleet_sparql_line_of(src, open));
        goto inval;
    }
    struct fleet_sparql_tok eof = {FLEET_TK_EOF, 0, len, 0, 0};
    if (push_tok(lx, &eof) != 0)
        goto nomem;
    return FLEET_OK;

unterminated:
    fleet_errf(err, errlen, "unterminated string at line %u", fleet_sparql_line_of(src, p));
inval:
    fleet_sparql_lex_free(lx);
    return FLEET_ERR_INVAL;
nomem:
    fleet_sparql_lex_free(lx);
    fleet_errf(err, errlen, "out of memory");
    return FLEET_ERR_NOMEM;
}
