/* SPDX-License-Identifier: MIT */
/* Error codes shared by libtinyfleet and the daemon. Every fallible lib function returns an
 * enum fleet_err (or a pointer plus one through an out-parameter); the daemon maps them to HTTP
 * status codes in exactly one place (daemon/http_problem.c). */
#ifndef FLEET_ERR_H
#define FLEET_ERR_H

enum fleet_err {
    FLEET_OK = 0,
    FLEET_ERR_NOMEM,     /* allocation failed */
    FLEET_ERR_INVAL,     /* malformed input (syntax, bad value) */
    FLEET_ERR_NOTFOUND,  /* no such graph / object */
    FLEET_ERR_EXISTS,    /* already there */
    FLEET_ERR_IO,        /* read/write/fsync failed; errno was logged */
    FLEET_ERR_CORRUPT,   /* on-disk data failed a check */
    FLEET_ERR_TOOBIG,    /* a configured limit (bytes, rows) was exceeded */
    FLEET_ERR_TIMEOUT,   /* a configured time limit was exceeded */
    FLEET_ERR_UNSUPPORTED, /* valid input the engine cannot run correctly */
    FLEET_ERR_CRASH,     /* a sandboxed worker died */
    FLEET_ERR_INTERNAL,  /* a bug or an unexpected library failure */
    FLEET_ERR_NOTACCEPTABLE, /* no representation matches the client's Accept */
    FLEET_ERR_FORBIDDEN, /* the operation is switched off by configuration or policy */
};

/* Returns a static, human-readable name for err (never NULL). */
const char *fleet_strerror(enum fleet_err err);

#include <stddef.h>

/* Formats a message into err[0..errlen) for a caller's error out-parameter; err may be NULL or
 * errlen 0 (nothing is written). */
void fleet_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
