/* SPDX-License-Identifier: MIT */
/* Bearer tokens and their scopes, read from the token file: one "TOKEN SCOPE..." per line,
 * '#' starts a comment, scopes are read, write and admin. admin implies write, write implies
 * read. Tokens are compared in constant time (no early exit on the first differing byte, and
 * every configured token is compared). */
#ifndef FLEET_AUTH_H
#define FLEET_AUTH_H

#include <stddef.h>

#include "err.h"

enum fleet_scope {
    FLEET_SCOPE_NONE = 0,
    FLEET_SCOPE_READ = 1,
    FLEET_SCOPE_WRITE = 2,
    FLEET_SCOPE_ADMIN = 4,
};

struct fleet_tokens;

/* Loads path. On a syntax error (unknown scope, a token without scope, a token shorter than 16
 * bytes or with bytes outside the RFC 6750 b64token set, a duplicate token) returns
 * FLEET_ERR_INVAL and writes "PATH:LINE: message" into err. FLEET_ERR_IO if unreadable. */
enum fleet_err fleet_tokens_load(const char *path, struct fleet_tokens **out, char *err,
                                 size_t errlen);
struct fleet_tokens *fleet_tokens_new_empty(void);
void fleet_tokens_free(struct fleet_tokens *t);
size_t fleet_tokens_count(const struct fleet_tokens *t);

/* Returns the scopes (bitmask, with implied scopes added) granted to token, or
 * FLEET_SCOPE_NONE if it is not configured. token may be NULL. */
unsigned fleet_tokens_scopes(const struct fleet_tokens *t, const char *token);

/* Extracts the token from an Authorization header value "Bearer <token>" (scheme
 * case-insensitive, one or more spaces). Returns a pointer into header, or NULL. */
const char *fleet_bearer_token(const char *header);

/* Constant-time comparison of a (len alen) and b (len blen): time depends only on blen. */
int fleet_ct_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
