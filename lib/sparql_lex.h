/* SPDX-License-Identifier: MIT */
/* The token stream every SPARQL text rewrite works on (lib/sparql_text.c, lib/sparql_reorder.c):
 * one lexer, so the modules agree on what a string, an IRI, a prefixed name or a bracket is.
 * Internal to those modules; no Redland calls. */
#ifndef FLEET_SPARQL_LEX_H
#define FLEET_SPARQL_LEX_H

#include <stddef.h>

#include "err.h"

/* Deep enough for any hand-written or generated query we have seen; shallow enough that the
 * recursive scans below stay far from the stack limit. */
#define FLEET_SPARQL_MAX_DEPTH 128

enum fleet_sparql_tok_type {
    FLEET_TK_EOF = 0,
    FLEET_TK_IRI,     /* IRIREF, including the angle brackets */
    FLEET_TK_PNAME,   /* PNAME_NS or PNAME_LN */
    FLEET_TK_BNODE,   /* BLANK_NODE_LABEL */
    FLEET_TK_VAR,     /* VAR1 or VAR2 */
    FLEET_TK_STRING,  /* any of the four string forms, quotes included */
    FLEET_TK_LANGTAG, /* @en-GB */
    FLEET_TK_NUMBER,  /* INTEGER/DECIMAL/DOUBLE, with an adjacent sign */
    FLEET_TK_WORD,    /* keywords, function names, `a`, true/false */
    FLEET_TK_PUNCT,
};

/* Two-character operators; single-character punctuation uses the character itself. */
enum { FLEET_P_HATHAT = 256, FLEET_P_OR, FLEET_P_AND, FLEET_P_NE, FLEET_P_LE, FLEET_P_GE };

struct fleet_sparql_tok {
    enum fleet_sparql_tok_type type;
    int punct;    /* FLEET_TK_PUNCT: the character or a P_ code */
    size_t start; /* byte offset in the source */
    size_t len;
    size_t match; /* brackets: index of the partner bracket */
};

struct fleet_sparql_lexed {
    const char *src; /* borrowed */
    size_t srclen;
    struct fleet_sparql_tok *t; /* t[n - 1] is always FLEET_TK_EOF */
    size_t n, cap;
};

/* Tokenizes src[0..len) into lx (its array new; free with fleet_sparql_lex_free), pairing
 * brackets. Returns FLEET_ERR_INVAL with a message naming the line in err (may be NULL) for an
 * unterminated string or IRI, unbalanced or too deeply nested brackets, and FLEET_ERR_NOMEM;
 * lx holds nothing then. */
enum fleet_err fleet_sparql_lex(const char *src, size_t len, struct fleet_sparql_lexed *lx, char *err,
                                size_t errlen);
void fleet_sparql_lex_free(struct fleet_sparql_lexed *lx);

/* Whether s[0..len) starts with `scheme:` (and, with slashes set, `scheme://`). */
int fleet_sparql_looks_like_scheme(const char *s, size_t len, int slashes);

/* The 1-based line of byte off in src, for messages. */
unsigned fleet_sparql_line_of(const char *src, size_t off);

/* ---- reading the tokens (for the modules above) ------------------------------------------ */

/* Token i, or the final EOF token past the end: a walk may look ahead without bounds checks. */
static inline const struct fleet_sparql_tok *fleet_sparql_tok(const struct fleet_sparql_lexed *lx,
                                                              size_t i)
{
    return &lx->t[i < lx->n ? i : lx->n - 1];
}

static inline int fleet_sparql_is_punct(const struct fleet_sparql_lexed *lx, size_t i, int p)
{
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    return t->type == FLEET_TK_PUNCT && t->punct == p;
}

/* Keyword kw, case-insensitively (SPARQL keywords are); `a` is fleet_sparql_is_a. */
int fleet_sparql_is_word(const struct fleet_sparql_lexed *lx, size_t i, const char *kw);

/* The keyword `a` (rdf:type), which is case-sensitive. */
static inline int fleet_sparql_is_a(const struct fleet_sparql_lexed *lx, size_t i)
{
    const struct fleet_sparql_tok *t = fleet_sparql_tok(lx, i);
    return t->type == FLEET_TK_WORD && t->len == 1 && lx->src[t->start] == 'a';
}

/* An IRI written as <...> or as a prefixed name. */
static inline int fleet_sparql_is_iri(const struct fleet_sparql_lexed *lx, size_t i)
{
    enum fleet_sparql_tok_type ty = fleet_sparql_tok(lx, i)->type;
    return ty == FLEET_TK_IRI || ty == FLEET_TK_PNAME;
}

/* ASCII classes by hand: <ctype.h> depends on the locale and on the sign of char. */
static inline int fleet_ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline int fleet_ascii_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int fleet_ascii_alnum(unsigned char c)
{
    return fleet_ascii_alpha(c) || fleet_ascii_digit(c);
}

static inline int fleet_ascii_hex(unsigned char c)
{
    return fleet_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

#endif
