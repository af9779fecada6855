/* SPDX-License-Identifier: MIT */
/* HTTP content negotiation (RFC 9110 section 12.5.1): picks the best of the media types a
 * resource can produce for an Accept header, honouring q-values, type/ wildcards, star-slash-star
 * and q=0 exclusions; ties go to the earlier offer (the server's preference). */
#ifndef FLEET_CONNEG_H
#define FLEET_CONNEG_H

#include <stddef.h>

/* offers: n media types such as "application/sparql-results+json" (no parameters).
 * Returns the index of the chosen offer; 0 when accept is NULL or empty (no preference);
 * -1 when nothing offered is acceptable (the caller answers 406). Media type parameters other
 * than q (e.g. charset) are ignored for matching. Tolerates malformed headers by ignoring the
 * broken elements. */
int fleet_conneg_pick(const char *accept, const char *const *offers, size_t n);

/* Compares the media type of a Content-Type header value (parameters ignored, case-insensitive)
 * with type. Returns 1 on match. */
int fleet_media_type_is(const char *content_type, const char *type);

/* Returns the value of parameter name (e.g. "charset") of a Content-Type header copied into
 * out (lower-cased, quotes removed), or 0 if absent or longer than outlen-1. */
int fleet_media_type_param(const char *content_type, const char *name, char *out, size_t outlen);

#endif
