/* SPDX-License-Identifier: MIT */
/* Bearer tokens: the token file parser, scope lookup and "Authorization: Bearer" parsing. A lookup
 * compares the presented token with every configured token using a comparison whose running time
 * depends only on the presented token's length, so timing reveals neither which token matched nor
 * how long the configured tokens are. Token bytes never appear in error messages, and they are
 * wiped before their memory is freed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "auth.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"

#define TOKEN_MIN_BYTES 16
#define QUOTE_MAX 32

struct token {
    char *tok; /* owned, NUL-terminated */
    size_t len;
    unsigned scopes; /* with implied scopes added */
    unsigned long line;
};

struct fleet_tokens {
    struct token *v; /* owned */
    size_t n, cap;
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int is_b64char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

/* RFC 6750: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static int is_b64token(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && is_b64char((unsigned char)s[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < len && s[i] == '=')
        i++;
    return i == len;
}

static unsigned parse_scope(const char *word)
{
    if (strcmp(word, "read") == 0)
        return FLEET_SCOPE_READ;
    if (strcmp(word, "write") == 0)
        return FLEET_SCOPE_WRITE | FLEET_SCOPE_READ;
    if (strcmp(word, "admin") == 0)
        return FLEET_SCOPE_ADMIN | FLEET_SCOPE_WRITE | FLEET_SCOPE_READ;
    return FLEET_SCOPE_NONE;
}

static void token_wipe_free(struct token *t)
{
    if (t->tok) {
        explicit_bzero(t->tok, t->len);
        free(t->tok);
        t->tok = NULL;
    }
}

struct fleet_tokens *fleet_tokens_new_empty(void)
{
    return calloc(1, sizeof(struct fleet_tokens));
}

void fleet_tokens_free(struct fleet_tokens *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        token_wipe_free(&t->v[i]);
    free(t->v);
    free(t);
}

size_t fleet_tokens_count(const struct fleet_tokens *t)
{
    return t ? t->n : 0;
}

/* Splits off the next blank-separated word of *p (modified in place); NULL at the end. */
static char *next_word(char **p)
{
    char *s = *p;
    while (is_blank(*s))
        s++;
    if (*s == '\0')
        return NULL;
    char *w = s;
    while (*s && !is_blank(*s))
        s++;
    if (*s)
        *s++ = '\0';
    *p = s;
    return w;
}

/* Parses one line (comment already cut) into t. Returns FLEET_OK (also for a blank line),
 * FLEET_ERR_INVAL with a message after "where: ", or FLEET_ERR_NOMEM. */
static enum fleet_err parse_line(struct fleet_tokens *t, char *line, unsigned long lineno,
                                 const char *where, char *err, size_t errlen)
{
    char *p = line;
    char *tok = next_word(&p);
    char *word;
    unsigned scopes = FLEET_SCOPE_NONE;

    if (!tok)
        return FLEET_OK;
    size_t len = strlen(tok);
    if (len < TOKEN_MIN_BYTES) {
        fleet_errf(err, errlen, "%s: token is %zu bytes long, at least %d required", where, len,
                   TOKEN_MIN_BYTES);
        return FLEET_ERR_INVAL;
    }
    if (!is_b64token(tok, len)) {
        fleet_errf(err, errlen,
                   "%s: token has a byte outside the RFC 6750 b64token set "
                   "(A-Z a-z 0-9 - . _ ~ + / and trailing =)",
                   where);
        return FLEET_ERR_INVAL;
    }
    while ((word = next_word(&p)) != NULL) {
        unsigned s = parse_scope(word);
        if (s == FLEET_SCOPE_NONE) {
            char q[QUOTE_MAX + 4];
            size_t i = 0;
            for (; word[i] && i < QUOTE_MAX; i++)
                q[i] = (word[i] >= 0 && word[i] < 0x20) || word[i] == 0x7f ? '?' : word[i];
            q[i] = '\0';
            fleet_errf(err, errlen, "%s: unknown scope \"%s\" (expected read, write or admin)",
                       where, q);
            return FLEET_ERR_INVAL;
        }
        scopes |= s;
    }
    if (scopes == FLEET_SCOPE_NONE) {
        fleet_errf(err, errlen, "%s: token has no scope (expected TOKEN read|write|admin...)",
                   where);
        return FLEET_ERR_INVAL;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].len == len && memcmp(t->v[i].tok, tok, len) == 0) {
            fleet_errf(err, errlen, "%s: duplicate token (first on line %lu)", where, t->v[i].line);
            return FLEET_ERR_INVAL;
        }
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct token *v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            goto nomem;
        t->v = v;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        goto nomem;
    memcpy(copy, tok, len + 1);
    t->v[t->n++] = (struct token){copy, len, scopes, lineno};
    return FLEET_OK;
nomem:
    fleet_errf(err, errlen, "%s: out of memory", where);
    return FLEET_ERR_NOMEM;
}

enum fleet_err fleet_tokens_load(const char *path, struct fleet_tokens **out, char *err,
                                 size_t errlen)
{
    enum fleet_err rc = FLEET_ERR_IO;
    struct fleet_tokens *t = NULL;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    char where[4096 + 32];
    struct stat st;

    *out = NULL;
    f = fopen(path, "re");
    if (!f) {
        fleet_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IRWXO))
        fleet_log(FLEET_LOG_WARNING, "%s: token file is accessible to other users", path);
    t = fleet_tokens_new_empty();
    if (!t) {
        fleet_errf(err, errlen, "%s: out of memory", path);
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        snprintf(where, sizeof(where), "%s:%lu", path, lineno);
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (strlen(line) != (size_t)n) {
            fleet_errf(err, errlen, "%s: line contains a NUL byte", where);
            rc = FLEET_ERR_INVAL;
            goto out;
        }
        for (char *p = line; *p; p++) {
            if (*p == '#' && (p == line || is_blank(p[-1]))) {
                *p = '\0';
                break;
            }
        }
        rc = parse_line(t, line, lineno, where, err, errlen);
        if (rc != FLEET_OK)
            goto out;
    }
    if (ferror(f)) {
        fleet_errf(err, errlen, "%s: read error: %s", path, strerror(errno));
        rc = FLEET_ERR_IO;
        goto out;
    }
    *out = t;
    t = NULL;
    rc = FLEET_OK;
out:
    if (line) {
        explicit_bzero(line, cap);
        free(line);
    }
    if (f)
        fclose(f);
    fleet_tokens_free(t);
    return rc;
}

int fleet_ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    static const unsigned char zero;
    const unsigned char *pa = alen ? (const unsigned char *)a : &zero;
    const unsigned char *pb = (const unsigned char *)b;
    unsigned diff = 0;

    for (size_t i = 0; i < blen; i++) {
        /* All ones while i < alen, else zero, without a branch on the (secret) length of a:
         * string lengths stay below SIZE_MAX / 2, so i - alen has its top bit set iff i < alen. */
        size_t amask = (size_t)0 - ((i - alen) >> (sizeof(size_t) * CHAR_BIT - 1));
        /* Past the end of a, compare with a[0]; the length check below decides anyway. */
        diff |= (unsigned)(pa[i & amask] ^ pb[i]);
    }
    diff |= (unsigned)((alen ^ blen) != 0);
    return diff == 0;
}

unsigned fleet_tokens_scopes(const struct fleet_tokens *t, const char *token)
{
    unsigned scopes = FLEET_SCOPE_NONE;
    const char *b = token ? token : "";
    size_t blen = strlen(b);

    if (!t)
        return FLEET_SCOPE_NONE;
    /* No early exit: every configured token is compared, whatever matched before. */
    for (size_t i = 0; i < t->n; i++) {
        unsigned eq = (unsigned)fleet_ct_equal(t->v[i].tok, t->v[i].len, b, blen);
        scopes |= t->v[i].scopes & (0u - eq);
    }
    return scopes;
}

const char *fleet_bearer_token(const char *header)
{
    if (!header)
        return NULL;
    if (strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
        return NULL;
    const char *tok = header + 6;
    while (*tok == ' ')
        tok++;
    if (!is_b64token(tok, strlen(tok)))
        return NULL;
    return tok;
}
