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

#endif
