/* SPDX-License-Identifier: MIT */
/* Names for enum fleet_err. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *fleet_strerror(enum fleet_err err)
{
    switch (err) {
    case FLEET_OK: return "ok";
    case FLEET_ERR_NOMEM: return "out of memory";
    case FLEET_ERR_INVAL: return "invalid input";
    case FLEET_ERR_NOTFOUND: return "not found";
    case FLEET_ERR_EXISTS: return "already exists";
    case FLEET_ERR_IO: return "I/O error";
    case FLEET_ERR_CORRUPT: return "corrupt data";
    case FLEET_ERR_TOOBIG: return "limit exceeded";
    case FLEET_ERR_TIMEOUT: return "timed out";
    case FLEET_ERR_UNSUPPORTED: return "not supported";
    case FLEET_ERR_CRASH: return "worker crashed";
    case FLEET_ERR_INTERNAL: return "internal error";
    case FLEET_ERR_NOTACCEPTABLE: return "not acceptable";
    case FLEET_ERR_FORBIDDEN: return "forbidden";
    }
    return "unknown error";
}

void fleet_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
