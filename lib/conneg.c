/* SPDX-License-Identifier: MIT */
/* Accept-header negotiation and Content-Type parsing (see conneg.h). The parser walks the header
 * in place with no allocation and no fixed-size buffer, so any length is fine; it follows the
 * RFC 9110 grammar (media-range, parameters, weight, quoted-string) and skips an element it
 * cannot parse up to the next comma outside a quoted string. For an offer, the q that counts
 * comes from the most specific matching range (type/subtype over type/ star over star/star); if
 * several equally specific ranges match (parameters being ignored, "text/csv;q=0.2" and
 * "text/csv;charset=utf-8" both match text/csv) the highest q wins. Two old-client quirks are
 * accepted because they are unambiguous: a bare "*" means star/star and a qvalue may start with
 * "." (Java's HttpURLConnection sends "*; q=.2"). */
#include "conneg.h"

#include <limits.h>
#include <string.h>

/* Specificity of a media range; NONE = does not match. */
enum spec { SPEC_NONE = 0, SPEC_ANY, SPEC_TYPE, SPEC_FULL };

struct range {
    const char *type; /* not NUL-terminated: type[0..type_len) */
    size_t type_len;
    const char *sub;
    size_t sub_len;
    int q; /* thousandths, 0..1000 */
};

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static const char *skip_ows(const char *p)
{
    while (is_ows((unsigned char)*p))
        p++;
    return p;
}

static size_t span_token(const char *p)
{
    size_t n = 0;
    while (is_tchar((unsigned char)p[n]))
        n++;
    return n;
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static int ieq_n(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Returns the end of the quoted-string starting at p ('"'), or NULL if it is unterminated or
 * holds a character the grammar forbids (CTLs other than HTAB). */
static const char *skip_quoted(const char *p)
{
    for (p++; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            p++;
            c = (unsigned char)*p;
            if (!c || (c < 0x20 && c != '\t') || c == 0x7F)
                return NULL;
        } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
            return NULL;
        }
    }
    return NULL;
}

/* Parses a qvalue of length len: "0", "0.ddd", "1", "1.000" with up to three decimals (and the
 * ".ddd" quirk). Returns thousandths or -1. */
static int parse_qvalue(const char *v, size_t len)
{
    size_t i = 0;
    int whole, frac = 0, scale = 100;

    if (len == 0)
        return -1;
    if (v[0] == '0' || v[0] == '1') {
        whole = v[0] - '0';
        i = 1;
        if (i == len)
            return whole * 1000;
    } else if (v[0] == '.') {
        whole = 0;
    } else {
        return -1;
    }
    if (v[i] != '.' || len - i - 1 > 3)
        return -1;
    if (len - i - 1 == 0 && i == 0) /* a lone "." */
        return -1;
    for (i++; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        frac += (v[i] - '0') * scale;
        scale /= 10;
    }
    if (whole == 1 && frac != 0)
        return -1;
    return whole * 1000 + frac;
}

/* Walks the parameter list at p (just after a media type) to the end of the element (a ',' or
 * the NUL). When name is non-NULL, stops at the first parameter called name and returns its value
 * span, quotes included if quoted, in *val and *val_len (untouched if absent). Returns the
 * position after the list (or after the found parameter), or NULL if the list is malformed. */
static const char *parse_params(const char *p, const char *name, const char **val, size_t *val_len)
{
    size_t name_len = name ? strlen(name) : 0;

    for (;;) {
        p = skip_ows(p);
        if (*p != ';')
            return p;
        p = skip_ows(p + 1);
        if (*p == ';' || *p == ',' || *p == '\0')
            continue; /* RFC 9110 allows empty parameters */
        size_t n = span_token(p);
        if (n == 0)
            return NULL;
        const char *pname = p;
        p += n;
        if (*p != '=')
            return NULL;
        p++;
        const char *v = p;
        if (*p == '"') {
            p = skip_quoted(p);
            if (!p)
                return NULL;
        } else {
            size_t vn = span_token(p);
            if (vn == 0)
                return NULL;
            p += vn;
        }
        if (name && ieq_n(pname, n, name, name_len)) {
            *val = v;
            *val_len = (size_t)(p - v);
            return p;
        }
    }
}

/* Parses "type/subtype" at p. Returns the position after it or NULL. */
static const char *parse_type(const char *p, struct range *r)
{
    r->type = p;
    r->type_len = span_token(p);
    if (r->type_len == 0)
        return NULL;
    p += r->type_len;
    if (*p != '/') {
        /* Bare "*": an old-client spelling of star/star. */
        if (r->type_len == 1 && r->type[0] == '*') {
            r->sub = r->type;
            r->sub_len = 1;
            return p;
        }
        return NULL;
    }
    p++;
    r->sub = p;
    r->sub_len = span_token(p);
    if (r->sub_len == 0)
        return NULL;
    return p + r->sub_len;
}

/* Parses one Accept element starting at p (after OWS). Returns 1 and fills *r if it is valid,
 * 0 otherwise; *next is set to the position of the ',' ending the element or the NUL. */
static int parse_element(const char *p, struct range *r, const char **next)
{
    const char *q;
    const char *e;
    size_t qlen;

    r->q = 1000;
    e = parse_type(p, r);
    if (!e)
        goto skip;
    if (r->type_len == 1 && r->type[0] == '*' && !(r->sub_len == 1 && r->sub[0] == '*'))
        goto skip; /* "star/html" is not a media range */
    q = NULL;
    /* The first "q" parameter is the weight; anything after it is accept-ext, ignored. */
    e = parse_params(e, "q", &q, &qlen);
    if (!e)
        goto skip;
    if (q) {
        r->q = *q == '"' ? -1 : parse_qvalue(q, qlen);
        if (r->q < 0)
            goto skip;
        e = parse_params(e, NULL, NULL, NULL);
        if (!e)
            goto skip;
    }
    e = skip_ows(e);
    if (*e == ',' || *e == '\0') {
        *next = e;
        return 1;
    }
skip:
    /* Resynchronise at the next comma outside a quoted string. */
    for (e = p; *e && *e != ','; e++) {
        if (*e == '"') {
            const char *end = skip_quoted(e);
            if (!end) {
                e += strlen(e);
                break;
            }
            e = end - 1;
        }
    }
    *next = e;
    return 0;
}

/* How specifically range r matches the offer type/sub. */
static enum spec match(const struct range *r, const char *type, size_t type_len, const char *sub,
                       size_t sub_len)
{
    int any_type = r->type_len == 1 && r->type[0] == '*';
    int any_sub = r->sub_len == 1 && r->sub[0] == '*';

    if (any_type)
        return any_sub ? SPEC_ANY : SPEC_NONE;
    if (!ieq_n(r->type, r->type_len, type, type_len))
        return SPEC_NONE;
    if (any_sub)
        return SPEC_TYPE;
    return ieq_n(r->sub, r->sub_len, sub, sub_len) ? SPEC_FULL : SPEC_NONE;
}

/* Returns the q (thousandths) the header gives offer, 0 if no range matches it, or -1 if the
 * header holds no valid element at all. */
static int offer_q(const char *accept, const char *offer)
{
    const char *slash = strchr(offer, '/');
    const char *end = offer + strcspn(offer, "; \t");
    enum spec best = SPEC_NONE;
    int best_q = 0, any_valid = 0;
    const char *p = accept;

    if (!slash || slash > end)
        return 0;
    while (*p) {
        struct range r;
        const char *next;
        p = skip_ows(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (!*p)
            break;
        if (parse_element(p, &r, &next)) {
            any_valid = 1;
            enum spec s =
                match(&r, offer, (size_t)(slash - offer), slash + 1, (size_t)(end - slash - 1));
            if (s > best) {
                best = s;
                best_q = r.q;
            } else if (s != SPEC_NONE && s == best && r.q > best_q) {
                best_q = r.q;
            }
        }
        p = *next ? next + 1 : next;
    }
    return any_valid ? best_q : -1;
}

int fleet_conneg_pick(const char *accept, const char *const *offers, size_t n)
{
    int best = -1, best_q = 0;

    if (!offers || n == 0)
        return -1;
    if (!accept || !*skip_ows(accept))
        return 0;
    for (size_t i = 0; i < n && i < (size_t)INT_MAX; i++) {
        if (!offers[i])
            continue;
        int q = offer_q(accept, offers[i]);
        if (q < 0)
            return 0; /* nothing parseable: treat as no Accept header (RFC 9110 allows this) */
        if (q > best_q) {
            best = (int)i;
            best_q = q;
        }
    }
    return best;
}

/* Parses the media type at the start of a Content-Type value. Returns the position after it
 * (before any parameters) or NULL if malformed. */
static const char *ct_type(const char *ct, struct range *r)
{
    const char *p = parse_type(skip_ows(ct), r);
    if (!p || r->sub == r->type)
        return NULL; /* the bare-star quirk belongs to Accept only */
    return p;
}

int fleet_media_type_is(const char *content_type, const char *type)
{
    struct range r;
    const char *p;
    const char *slash;

    if (!content_type || !type)
        return 0;
    p = ct_type(content_type, &r);
    if (!p)
        return 0;
    p = skip_ows(p);
    if (*p != ';' && *p != '\0')
        return 0;
    slash = strchr(type, '/');
    if (!slash)
        return 0;
    return ieq_n(r.type, r.type_len, type, (size_t)(slash - type)) &&
           ieq_n(r.sub, r.sub_len, slash + 1, strlen(slash + 1));
}

int fleet_media_type_param(const char *content_type, const char *name, char *out, size_t outlen)
{
    struct range r;
    const char *p;
    const char *v = NULL;
    size_t vlen = 0, n = 0;

    if (!out || outlen == 0)
        return 0;
    out[0] = '\0';
    if (!content_type || !name || !*name)
        return 0;
    p = ct_type(content_type, &r);
    if (!p)
        return 0;
    if (!parse_params(p, name, &v, &vlen) || !v)
        return 0;
    if (*v == '"') {
        /* Copy the quoted-string without its quotes and backslashes. */
        for (size_t i = 1; i + 1 < vlen; i++) {
            if (v[i] == '\\')
                i++;
            if (n + 1 >= outlen)
                goto too_long;
            out[n++] = (char)lower((unsigned char)v[i]);
        }
    } else {
        for (size_t i = 0; i < vlen; i++) {
            if (n + 1 >= outlen)
                goto too_long;
            out[n++] = (char)lower((unsigned char)v[i]);
        }
    }
    out[n] = '\0';
    return 1;

too_long:
    out[0] = '\0';
    return 0;
}
