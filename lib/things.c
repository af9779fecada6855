/* SPDX-License-Identifier: MIT */
/* The Thing registry: TDs in, enriched TDs out, one named graph per TD, an in-memory index sorted
 * by id for GET and listing. See things.h.
 *
 * A TD's JSON text is kept as sent: the registry splices rather than re-serialises, so a GET
 * returns the client's bytes (key order, number spelling, white space) with the discovery context
 * added to @context and a "registration" member appended. Only a merge patch that changes the TD
 * makes the registry write JSON of its own (jansson, compact). The splicing works on the
 * top-level members of text jansson has already accepted, and its result is checked against
 * jansson's reading of the same document before it is stored. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "things.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "durable.h"
#include "log.h"
#include "term.h"

#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_XSD "http://www.w3.org/2001/XMLSchema#"
#define NS_FLEET "https://tinyfleet.dev/ns#"
/* The discovery context maps the registration terms to http://schema.org/ (not https). */
#define NS_SCHEMA_HTTP "http://schema.org/"
#define P_DOCUMENT NS_FLEET "document"
#define P_LAST_SEEN NS_FLEET "lastSeen"
#define P_HAS_REG FLEET_DISCOVERY_NS "hasRegistrationInformation"
#define C_REG FLEET_DISCOVERY_NS "RegistrationInformation"
#define P_CREATED NS_SCHEMA_HTTP "dateCreated"
#define P_MODIFIED NS_SCHEMA_HTTP "dateModified"
#define P_EXPIRES NS_SCHEMA_HTTP "expires"
#define P_TTL FLEET_DISCOVERY_NS "ttl"
#define REG_FRAGMENT "#registration"
#define MAX_ERRORS 100

/* ---- small helpers ------------------------------------------------------------------------- */

void fleet_rfc3339(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* The modulos only tell the compiler the widths; gmtime's fields are in range. */
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)frac % 1000u);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int fleet_rfc3339_parse(const char *s, int64_t *ms)
{
    int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
    int64_t frac_ms = 0;
    if (!s || strlen(s) < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) ||
        s[7] != '-' || digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        int scale = 100, any = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, any = 1) {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (!any)
            return -1;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        p += 6;
    } else {
        return -1;
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (D > mdays[M - 1] || (M == 2 && D == 29 && !leap))
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm);
    t -= (int64_t)sign * (oh * 3600 + om * 60);
    *ms = t * 1000 + frac_ms;
    return 0;
}

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static void pct_encode(struct fleet_buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c))
            fleet_buf_putc(out, (char)c);
        else
            fleet_buf_printf(out, "%%%02X", c);
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into a new string; NULL if malformed or holding NUL. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t k = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return out;
}

void fleet_thing_graph_iri(const char *id, struct fleet_buf *out)
{
    fleet_buf_puts(out, FLEET_THING_GRAPH_BASE);
    pct_encode(out, id);
}

static char *graph_iri(const char *id)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    fleet_thing_graph_iri(id, &b);
    return fleet_buf_steal(&b, NULL);
}

static uint64_t random64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)&v;
    }
    return v;
}

/* A UUID version 4 as a URN (RFC 4122 / RFC 9562), written into out[46]. */
static void mint_uuid(char out[46])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        uint64_t a = random64(), c = random64();
        memcpy(b, &a, 8);
        memcpy(b + 8, &c, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 46,
             "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

__attribute__((format(printf, 3, 4))) static void add_error(struct fleet_td_errors *e,
                                                            const char *field, const char *fmt,
                                                            ...)
{
    if (e->n >= MAX_ERRORS) {
        e->truncated = 1;
        return;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        if (cap > MAX_ERRORS)
            cap = MAX_ERRORS;
        struct fleet_td_error *v = realloc(e->v, cap * sizeof(*v));
        if (!v)
            return;
        e->v = v;
        e->cap = cap;
    }
    struct fleet_td_error *x = &e->v[e->n++];
    snprintf(x->field, sizeof(x->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->description, sizeof(x->description), fmt, ap);
    va_end(ap);
}

/* ---- the top-level members of a JSON object text ------------------------------------------- */

struct member {
    size_t ks, ke; /* the key token, quotes included */
    size_t vs, ve; /* the value */
};

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i < len ? i + 1 : len;
}

static size_t skip_value(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (s[i] == '"')
        return skip_string(s, len, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < len) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, len, i);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return len;
    }
    while (i < len && !strchr(",}] \t\r\n", s[i]))
        i++;
    return i;
}

/* Splits a JSON object text (already accepted by jansson) into its members. *close receives
 * the position of the closing brace. Returns the count, or -1 if the text is not an object. */
static long scan_members(const char *s, size_t len, struct member **out, size_t *close)
{
    size_t i = skip_ws(s, len, 0), n = 0, cap = 0;
    struct member *v = NULL;
    *out = NULL;
    if (i >= len || s[i] != '{')
        return -1;
    i = skip_ws(s, len, i + 1);
    while (i < len && s[i] != '}') {
        if (s[i] == ',')
            i = skip_ws(s, len, i + 1);
        if (i >= len || s[i] != '"')
            goto bad;
        struct member m;
        m.ks = i;
        m.ke = skip_string(s, len, i);
        i = skip_ws(s, len, m.ke);
        if (i >= len || s[i] != ':')
            goto bad;
        m.vs = skip_ws(s, len, i + 1);
        m.ve = skip_value(s, len, m.vs);
        i = skip_ws(s, len, m.ve);
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct member *nv = realloc(v, nc * sizeof(*nv));
            if (!nv)
                goto bad;
            v = nv;
            cap = nc;
        }
        v[n++] = m;
    }
    if (i >= len)
        goto bad;
    *close = i;
    *out = v;
    return (long)n;
bad:
    free(v);
    return -1;
}

/* 1 if the key token s[m->ks..m->ke) is the string key. */
static int key_is(const char *s, const struct member *m, const char *key)
{
    size_t n = m->ke - m->ks - 2;
    const char *k = s + m->ks + 1;
    if (!memchr(k, '\\', n))
        return strlen(key) == n && memcmp(k, key, n) == 0;
    json_t *j = json_loadb(s + m->ks, m->ke - m->ks, JSON_DECODE_ANY, NULL);
    int eq = json_is_string(j) && strcmp(json_string_value(j), key) == 0;
    json_decref(j);
    return eq;
}

static long find_member(const char *s, const struct member *v, long n, const char *key)
{
    for (long i = 0; i < n; i++)
        if (key_is(s, &v[i], key))
            return i;
    return -1;
}

/* 1 if the @context value text names the discovery context. */
static int context_has_discovery(const char *s, size_t len)
{
    json_t *j = json_loadb(s, len, JSON_DECODE_ANY, NULL);
    int found = 0;
    if (json_is_string(j)) {
        found = strcmp(json_string_value(j), FLEET_DISCOVERY_CONTEXT) == 0;
    } else if (json_is_array(j)) {
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) if (json_is_string(x) &&
                                        strcmp(json_string_value(x), FLEET_DISCOVERY_CONTEXT) == 0)
            found = 1;
    }
    json_decref(j);
    return found;
}

/* ---- registration information --------------------------------------------------------------- */

struct reg {
    int64_t created, modified, expires, last_seen; /* ms since the epoch; 0 = absent */
    double ttl;                                    /* seconds; 0 = none */
};

static int expired(const struct reg *r, int64_t now)
{
    return r->expires && r->expires <= now;
}

static void put_ttl(struct fleet_buf *b, double ttl)
{
    if (ttl == floor(ttl) && ttl < 1e15)
        fleet_buf_printf(b, "%.0f", ttl);
    else
        fleet_buf_printf(b, "%.17g", ttl);
}

static void reg_json(struct fleet_buf *b, const struct reg *r, int64_t now)
{
    char t[32];
    const char *sep = "";
    fleet_buf_puts(b, "\"registration\":{");
    if (r->created) {
        fleet_rfc3339(r->created, t);
        fleet_buf_printf(b, "\"created\":\"%s\"", t);
        sep = ",";
    }
    if (r->modified) {
        fleet_rfc3339(r->modified, t);
        fleet_buf_printf(b, "%s\"modified\":\"%s\"", sep, t);
        sep = ",";
    }
    if (r->expires) {
        fleet_rfc3339(r->expires, t);
        fleet_buf_printf(b, "%s\"expires\":\"%s\"", sep, t);
        sep = ",";
    }
    if (r->ttl > 0) {
        fleet_buf_printf(b, "%s\"ttl\":", sep);
        put_ttl(b, r->ttl);
        sep = ",";
    }
    fleet_rfc3339(now, t);
    fleet_buf_printf(b, "%s\"retrieved\":\"%s\"", sep, t);
    if (r->last_seen) {
        fleet_rfc3339(r->last_seen, t);
        fleet_buf_printf(b, ",\"lastSeen\":\"%s\"", t);
    }
    fleet_buf_putc(b, '}');
}

/* What a client asked for in a "registration" member. */
struct reg_in {
    int has_ttl, ttl_null, has_expires, expires_null;
    double ttl;
    int64_t expires;
};

static void parse_reg_in(const json_t *reg, int allow_null, int64_t now, struct reg_in *ri,
                         struct fleet_td_errors *errs)
{
    memset(ri, 0, sizeof(*ri));
    if (!reg)
        return;
    if (!json_is_object(reg)) {
        if (!(allow_null && json_is_null(reg)))
            add_error(errs, "registration", "must be an object (keys ttl, expires)");
        return;
    }
    const json_t *ttl = json_object_get(reg, "ttl"), *exp = json_object_get(reg, "expires");
    if (ttl) {
        double v = json_number_value(ttl);
        if (allow_null && json_is_null(ttl))
            ri->ttl_null = 1;
        else if (!json_is_number(ttl) || !isfinite(v) || v <= 0)
            add_error(errs, "registration.ttl", "must be a number of seconds greater than 0");
        else {
            ri->has_ttl = 1;
            ri->ttl = v;
        }
    }
    if (exp) {
        int64_t ms;
        if (allow_null && json_is_null(exp))
            ri->expires_null = 1;
        else if (!json_is_string(exp) || fleet_rfc3339_parse(json_string_value(exp), &ms) != 0)
            add_error(errs, "registration.expires",
                      "must be an RFC 3339 date-time with a time zone offset, such as "
                      "2030-01-31T12:00:00Z");
        else if (!ri->has_ttl && ms <= now)
            add_error(errs, "registration.expires", "is in the past");
        else {
            ri->has_expires = 1;
            ri->expires = ms;
        }
    }
}

/* The new expiry from a request (ri), the old registration (old, NULL for a new TD) and the cap.
 * A PUT replaces the registration (old_ttl_kept 0); a PATCH keeps what it does not change. */
static void compute_expiry(struct reg *r, const struct reg_in *ri, const struct reg *old,
                           int64_t now, uint64_t max_ttl_s)
{
    double max = (double)max_ttl_s;
    double ttl = ri->has_ttl ? ri->ttl : ri->ttl_null || !old ? 0 : old->ttl;
    if (ttl > max)
        ttl = max;
    r->ttl = ttl;
    if (ttl > 0)
        r->expires = now + (int64_t)llround(ttl * 1000.0);
    else if (ri->has_expires)
        r->expires = ri->expires;
    else if (ri->expires_null || !old || (old->ttl > 0 && ri->ttl_null))
        r->expires = 0;
    else
        r->expires = old->expires;
    int64_t cap = now + (int64_t)max_ttl_s * 1000;
    if (r->expires > cap)
        r->expires = cap;
}

/* ---- the index ------------------------------------------------------------------------------ */

struct entry {
    char *id;
    char *doc; /* the TD's JSON text as stored (no registration member) */
    size_t doc_len;
    struct reg reg;
};

static void entry_free(struct entry *e)
{
    if (!e)
        return;
    free(e->id);
    free(e->doc);
    free(e);
}

struct index {
    struct entry **v;
    size_t n, cap;
};

static void index_clear(struct index *x)
{
    for (size_t i = 0; i < x->n; i++)
        entry_free(x->v[i]);
    free(x->v);
    memset(x, 0, sizeof(*x));
}

/* Position of id, or where it would go; *found set if present. */
static size_t index_find(const struct index *x, const char *id, int *found)
{
    size_t lo = 0, hi = x->n;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(x->v[mid]->id, id);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int index_reserve(struct index *x, size_t extra)
{
    if (x->n + extra <= x->cap)
        return 0;
    size_t nc = x->cap ? x->cap : 64;
    while (nc < x->n + extra)
        nc *= 2;
    struct entry **nv = realloc(x->v, nc * sizeof(*nv));
    if (!nv)
        return -1;
    x->v = nv;
    x->cap = nc;
    return 0;
}

struct fleet_things {
    struct fleet_store *st;
    pthread_mutex_t write_lock; /* one writer at a time, from validation to the index update */
    pthread_rwlock_t lock;      /* the index */
    struct index x;
    uint64_t version;           /* bumped when a TD is created or deleted (the listing's etag) */
    uint64_t boot;              /* random per start: etags and blank node labels never repeat */
    uint64_t seq;               /* blank node label prefixes (under write_lock) */
    uint64_t gen_base;          /* store generation at the last sync */
    uint64_t own_commits;       /* commits by the registry since then */
    fleet_things_notify notify; /* told of every change, under write_lock, in commit order */
    void *notify_ctx;
};

void fleet_things_on_change(struct fleet_things *t, fleet_things_notify fn, void *ctx)
{
    pthread_mutex_lock(&t->write_lock);
    t->notify = fn;
    t->notify_ctx = ctx;
    pthread_mutex_unlock(&t->write_lock);
}

static void notify(struct fleet_things *t, enum fleet_thing_change what, const char *id,
                   const char *json)
{
    if (t->notify)
        t->notify(t->notify_ctx, what, id, json);
}

size_t fleet_things_count(struct fleet_things *t)
{
    pthread_rwlock_rdlock(&t->lock);
    size_t n = t->x.n;
    pthread_rwlock_unlock(&t->lock);
    return n;
}

/* ---- rebuilding the index from the store ---------------------------------------------------- */

struct rebuild {
    struct index x;
    int nomem;
};

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int on_document(void *ctx, const struct fleet_term q[4])
{
    struct rebuild *rb = ctx;
    if (q[0].kind != FLEET_TERM_IRI || q[2].kind != FLEET_TERM_LITERAL ||
        q[3].kind != FLEET_TERM_IRI || !starts_with(q[3].value, FLEET_THING_GRAPH_BASE))
        return 0;
    char *g = graph_iri(q[0].value);
    int mine = g && strcmp(g, q[3].value) == 0;
    free(g);
    if (!mine)
        return 0;
    struct entry *e = calloc(1, sizeof(*e));
    if (!e || index_reserve(&rb->x, 1) != 0 || !(e->id = strdup(q[0].value)) ||
        !(e->doc = strdup(q[2].value))) {
        entry_free(e);
        rb->nomem = 1;
        return 1;
    }
    e->doc_len = strlen(e->doc);
    rb->x.v[rb->x.n++] = e;
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp((*(struct entry *const *)a)->id, (*(struct entry *const *)b)->id);
}

/* The entry whose graph is g (an IRI under FLEET_THING_GRAPH_BASE, optionally followed by
 * suffix), or NULL. */
static struct entry *entry_of_graph(struct rebuild *rb, const char *iri, const char *suffix)
{
    size_t blen = strlen(FLEET_THING_GRAPH_BASE), slen = strlen(suffix), n = strlen(iri);
    int found;
    if (n < blen + slen || !starts_with(iri, FLEET_THING_GRAPH_BASE) ||
        strcmp(iri + n - slen, suffix) != 0)
        return NULL;
    char *id = pct_decode(iri + blen, n - blen - slen);
    if (!id)
        return NULL;
    size_t pos = index_find(&rb->x, id, &found);
    free(id);
    return found ? rb->x.v[pos] : NULL;
}

struct reg_pass {
    struct rebuild *rb;
    int which; /* 0 created, 1 modified, 2 expires, 3 ttl, 4 lastSeen */
};

static int on_reg(void *ctx, const struct fleet_term q[4])
{
    struct reg_pass *p = ctx;
    struct entry *e;
    if (q[0].kind != FLEET_TERM_IRI || q[2].kind != FLEET_TERM_LITERAL ||
        q[3].kind != FLEET_TERM_IRI)
        return 0;
    if (p->which == 4) {
        int found;
        size_t pos = index_find(&p->rb->x, q[0].value, &found);
        e = found ? p->rb->x.v[pos] : NULL;
        if (e) {
            char *g = graph_iri(e->id);
            if (!g || strcmp(g, q[3].value) != 0)
                e = NULL;
            free(g);
        }
    } else {
        e = entry_of_graph(p->rb, q[0].value, REG_FRAGMENT);
        if (e) {
            size_t gl = strlen(q[0].value) - strlen(REG_FRAGMENT);
            if (strlen(q[3].value) != gl || strncmp(q[3].value, q[0].value, gl) != 0)
                e = NULL;
        }
    }
    if (!e)
        return 0;
    int64_t ms;
    if (p->which == 3) {
        char *end;
        double v = strtod(q[2].value, &end);
        if (*end == '\0' && isfinite(v) && v > 0)
            e->reg.ttl = v;
        return 0;
    }
    if (fleet_rfc3339_parse(q[2].value, &ms) != 0)
        return 0;
    switch (p->which) {
    case 0: e->reg.created = ms; break;
    case 1: e->reg.modified = ms; break;
    case 2: e->reg.expires = ms; break;
    default: e->reg.last_seen = ms; break;
    }
    return 0;
}

static enum fleet_err rebuild(struct fleet_store *st, struct index *out)
{
    struct rebuild rb;
    memset(&rb, 0, sizeof(rb));
    fleet_store_each(st, P_DOCUMENT, on_document, &rb);
    if (rb.nomem) {
        index_clear(&rb.x);
        return FLEET_ERR_NOMEM;
    }
    if (rb.x.n)
        qsort(rb.x.v, rb.x.n, sizeof(*rb.x.v), entry_cmp);
    /* A graph edited from outside may hold two documents: keep one. */
    size_t k = 0;
    for (size_t i = 0; i < rb.x.n; i++) {
        if (k > 0 && strcmp(rb.x.v[k - 1]->id, rb.x.v[i]->id) == 0)
            entry_free(rb.x.v[i]);
        else
            rb.x.v[k++] = rb.x.v[i];
    }
    rb.x.n = k;
    static const char *const preds[] = {P_CREATED, P_MODIFIED, P_EXPIRES, P_TTL, P_LAST_SEEN};
    for (int i = 0; i < 5; i++) {
        struct reg_pass p = {&rb, i};
        fleet_store_each(st, preds[i], on_reg, &p);
    }
    *out = rb.x;
    return FLEET_OK;
}

enum fleet_err fleet_things_open(struct fleet_store *st, struct fleet_things **out, char *err,
                                 size_t errlen)
{
    struct fleet_things *t = calloc(1, sizeof(*t));
    *out = NULL;
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return FLEET_ERR_NOMEM;
    }
    t->st = st;
    t->boot = random64();
    pthread_mutex_init(&t->write_lock, NULL);
    pthread_rwlock_init(&t->lock, NULL);
    t->gen_base = fleet_store_generation(st);
    enum fleet_err rc = rebuild(st, &t->x);
    if (rc != FLEET_OK) {
        snprintf(err, errlen, "cannot build the Thing index: %s", fleet_strerror(rc));
        fleet_things_free(t);
        return rc;
    }
    *out = t;
    return FLEET_OK;
}

void fleet_things_free(struct fleet_things *t)
{
    if (!t)
        return;
    index_clear(&t->x);
    pthread_rwlock_destroy(&t->lock);
    pthread_mutex_destroy(&t->write_lock);
    free(t);
}

int fleet_things_sync(struct fleet_things *t)
{
    int r = 0;
    pthread_mutex_lock(&t->write_lock);
    uint64_t g = fleet_store_generation(t->st);
    if (g != t->gen_base + t->own_commits) {
        struct index x;
        if (rebuild(t->st, &x) != FLEET_OK) {
            r = -1;
        } else {
            pthread_rwlock_wrlock(&t->lock);
            struct index old = t->x;
            t->x = x;
            t->version++;
            pthread_rwlock_unlock(&t->lock);
            index_clear(&old);
            r = 1;
        }
    }
    if (r >= 0) {
        t->gen_base = g;
        t->own_commits = 0;
    }
    pthread_mutex_unlock(&t->write_lock);
    return r;
}

/* ---- enriched output ------------------------------------------------------------------------ */

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The white space before position i (back to the previous token), as [*ws, i). */
static size_t ws_before(const char *s, size_t i)
{
    while (i > 0 && is_ws(s[i - 1]))
        i--;
    return i;
}

/* Appends the @context value text v (an array, a string or an object) with the discovery context
 * added as the last entry, in the array's own layout. */
static void context_with_discovery(struct fleet_buf *out, const char *v, size_t vlen)
{
    static const char disc[] = "\"" FLEET_DISCOVERY_CONTEXT "\"";
    if (v[0] != '[') {
        fleet_buf_putc(out, '[');
        fleet_buf_append(out, v, vlen);
        fleet_buf_puts(out, ",");
        fleet_buf_puts(out, disc);
        fleet_buf_putc(out, ']');
        return;
    }
    size_t i = skip_ws(v, vlen, 1), last_s = 0, last_e = 0;
    while (i < vlen && v[i] != ']') {
        last_s = i;
        last_e = skip_value(v, vlen, i);
        i = skip_ws(v, vlen, last_e);
        if (i < vlen && v[i] == ',')
            i = skip_ws(v, vlen, i + 1);
    }
    if (!last_e) { /* [] */
        fleet_buf_putc(out, '[');
        fleet_buf_puts(out, disc);
        fleet_buf_append(out, v + 1, vlen - 1);
        return;
    }
    size_t w = ws_before(v, last_s);
    fleet_buf_append(out, v, last_e);
    fleet_buf_putc(out, ',');
    fleet_buf_append(out, v + w, last_s - w);
    fleet_buf_puts(out, disc);
    fleet_buf_append(out, v + last_e, vlen - last_e);
}

/* Appends e's TD with the discovery context in @context and the registration member, both in
 * the layout of the document's own members. */
static int enrich(const struct entry *e, int64_t now, struct fleet_buf *out)
{
    const char *s = e->doc;
    size_t len = e->doc_len, close, pos = 0;
    struct member *m;
    long n = scan_members(s, len, &m, &close);
    if (n < 0)
        return -1;
    long c = find_member(s, m, n, "@context");
    if (c >= 0 && !context_has_discovery(s + m[c].vs, m[c].ve - m[c].vs)) {
        fleet_buf_append(out, s, m[c].vs);
        context_with_discovery(out, s + m[c].vs, m[c].ve - m[c].vs);
        pos = m[c].ve;
    }
    size_t after = n > 0 ? m[n - 1].ve : close;
    if (after < pos)
        after = pos;
    fleet_buf_append(out, s + pos, after - pos);
    if (n > 0) {
        size_t w = ws_before(s, m[n - 1].ks);
        fleet_buf_putc(out, ',');
        fleet_buf_append(out, s + w, m[n - 1].ks - w);
    }
    reg_json(out, &e->reg, now);
    fleet_buf_append(out, s + after, len - after);
    free(m);
    return out->oom ? -1 : 0;
}

enum fleet_err fleet_things_get(struct fleet_things *t, const char *id, int64_t now_ms,
                                struct fleet_buf *out)
{
    enum fleet_err rc = FLEET_ERR_NOTFOUND;
    int found;
    pthread_rwlock_rdlock(&t->lock);
    size_t pos = index_find(&t->x, id, &found);
    if (found && !expired(&t->x.v[pos]->reg, now_ms))
        rc = enrich(t->x.v[pos], now_ms, out) == 0 ? FLEET_OK : FLEET_ERR_NOMEM;
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int fleet_things_exists(struct fleet_things *t, const char *id, int64_t now_ms)
{
    int found;
    pthread_rwlock_rdlock(&t->lock);
    size_t pos = index_find(&t->x, id, &found);
    int live = found && !expired(&t->x.v[pos]->reg, now_ms);
    pthread_rwlock_unlock(&t->lock);
    return live;
}

enum fleet_err fleet_things_list(struct fleet_things *t, size_t offset, size_t limit,
                                 int64_t now_ms, struct fleet_buf *out,
                                 struct fleet_things_page *page)
{
    enum fleet_err rc = FLEET_OK;
    size_t live = 0;
    memset(page, 0, sizeof(*page));
    pthread_rwlock_rdlock(&t->lock);
    for (size_t i = 0; i < t->x.n; i++) {
        const struct entry *e = t->x.v[i];
        if (expired(&e->reg, now_ms))
            continue;
        if (live >= offset && page->count < limit && rc == FLEET_OK) {
            if (page->count)
                fleet_buf_putc(out, ',');
            if (enrich(e, now_ms, out) != 0)
                rc = FLEET_ERR_NOMEM;
            page->count++;
        }
        live++;
    }
    page->total = live;
    page->more = offset + page->count < live;
    snprintf(page->etag, sizeof(page->etag), "%016" PRIx64 "-%" PRIu64, t->boot, t->version);
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

/* ---- writing a TD --------------------------------------------------------------------------- */

static void term_iri(struct fleet_term *t, const char *iri)
{
    *t = (struct fleet_term){FLEET_TERM_IRI, iri, NULL, NULL};
}

static void term_lit(struct fleet_term *t, const char *value, const char *datatype)
{
    *t = (struct fleet_term){FLEET_TERM_LITERAL, value, NULL, datatype};
}

static enum fleet_err add_quad(struct fleet_txn *txn, const struct fleet_term *s,
                               const struct fleet_term *p, const struct fleet_term *o,
                               const struct fleet_term *g)
{
    struct fleet_term q[4] = {*s, *p, *o, *g};
    return fleet_txn_add(txn, q);
}

/* Adds to txn: empty the TD's graph, then its RDF (or errors in errs), then its document. */
static enum fleet_err td_txn(struct fleet_things *t, const json_t *td, const char *id,
                             const char *doc, struct fleet_txn *txn,
                             struct fleet_td_errors *errs)
{
    char *graph = graph_iri(id);
    char prefix[64];
    struct fleet_term g, s, p, o;
    enum fleet_err rc;
    if (!graph)
        return FLEET_ERR_NOMEM;
    term_iri(&g, graph);
    snprintf(prefix, sizeof(prefix), "t%" PRIx64 "x%" PRIu64 "_", t->boot, ++t->seq);
    rc = fleet_txn_clear_graph(txn, &g);
    if (rc == FLEET_OK)
        rc = fleet_td_to_rdf(td, id, graph, prefix, txn, errs);
    if (rc == FLEET_OK) {
        term_iri(&s, id);
        term_iri(&p, P_DOCUMENT);
        term_lit(&o, doc, NULL);
        rc = add_quad(txn, &s, &p, &o, &g);
    }
    free(graph);
    return rc;
}

/* Adds the registration triples to txn. */
static enum fleet_err reg_txn(const char *id, const struct reg *r, struct fleet_txn *txn)
{
    struct fleet_buf gb = FLEET_BUF_INIT, rb = FLEET_BUF_INIT, ttl = FLEET_BUF_INIT;
    struct fleet_term g, s, p, o, reg;
    char tc[32], tm[32], te[32], tl[32];
    enum fleet_err rc = FLEET_OK;
    fleet_thing_graph_iri(id, &gb);
    fleet_thing_graph_iri(id, &rb);
    fleet_buf_puts(&rb, REG_FRAGMENT);
    put_ttl(&ttl, r->ttl);
    if (gb.oom || rb.oom || ttl.oom) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    term_iri(&g, gb.data);
    term_iri(&s, id);
    term_iri(&reg, rb.data);
    fleet_rfc3339(r->created, tc);
    fleet_rfc3339(r->modified, tm);
    fleet_rfc3339(r->expires, te);
    fleet_rfc3339(r->last_seen, tl);
    term_iri(&p, P_HAS_REG);
    rc = add_quad(txn, &s, &p, &reg, &g);
    term_iri(&p, NS_RDF "type");
    term_iri(&o, C_REG);
    if (rc == FLEET_OK)
        rc = add_quad(txn, &reg, &p, &o, &g);
    term_iri(&p, P_CREATED);
    term_lit(&o, tc, NS_XSD "dateTime");
    if (rc == FLEET_OK)
        rc = add_quad(txn, &reg, &p, &o, &g);
    term_iri(&p, P_MODIFIED);
    term_lit(&o, tm, NS_XSD "dateTime");
    if (rc == FLEET_OK)
        rc = add_quad(txn, &reg, &p, &o, &g);
    if (r->expires) {
        term_iri(&p, P_EXPIRES);
        term_lit(&o, te, NS_XSD "dateTime");
        if (rc == FLEET_OK)
            rc = add_quad(txn, &reg, &p, &o, &g);
    }
    if (r->ttl > 0) {
        term_iri(&p, P_TTL);
        term_lit(&o, ttl.data,
                 r->ttl == floor(r->ttl) ? NS_XSD "unsignedInt" : NS_XSD "double");
        if (rc == FLEET_OK)
            rc = add_quad(txn, &reg, &p, &o, &g);
    }
    if (r->last_seen) {
        term_iri(&p, P_LAST_SEEN);
        term_lit(&o, tl, NS_XSD "dateTime");
        if (rc == FLEET_OK)
            rc = add_quad(txn, &s, &p, &o, &g);
    }
out:
    fleet_buf_free(&gb);
    fleet_buf_free(&rb);
    fleet_buf_free(&ttl);
    return rc;
}

/* The text to store for a TD received as body: body itself, without its registration member
 * (index reg, or -1) and with "id" inserted after @context when minted. Checked against td (the
 * parsed document as it must read); falls back to jansson's serialisation if the splice
 * disagrees. New string. */
static char *stored_text(const char *body, size_t len, const json_t *td, int drop_registration,
                         const char *minted_id)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    struct member *m = NULL;
    size_t close;
    long n = scan_members(body, len, &m, &close);
    if (n >= 0) {
        size_t cut_s = 0, cut_e = 0, ins = 0;
        long r = drop_registration ? find_member(body, m, n, "registration") : -1;
        if (r >= 0) {
            if (r + 1 < n) {
                cut_s = m[r].ks;
                cut_e = m[r + 1].ks;
            } else if (r > 0) {
                cut_s = m[r - 1].ve;
                cut_e = m[r].ve;
            } else {
                cut_s = m[r].ks;
                cut_e = m[r].ve;
            }
        }
        if (minted_id) {
            long c = find_member(body, m, n, "@context");
            ins = c >= 0 ? m[c].ve : 0;
            if (ins > cut_s && ins < cut_e) /* cannot happen: @context is not registration */
                ins = cut_s;
        }
        for (size_t i = 0; i < len;) {
            if (minted_id && i == ins) {
                json_t *idj = json_string(minted_id);
                char *idtext = idj ? json_dumps(idj, JSON_ENCODE_ANY) : NULL;
                fleet_buf_printf(&b, ",\"id\":%s", idtext ? idtext : "\"\"");
                free(idtext);
                json_decref(idj);
                minted_id = NULL;
            }
            if (cut_e > cut_s && i == cut_s) {
                i = cut_e;
                continue;
            }
            size_t next = len;
            if (minted_id && ins > i && ins < next)
                next = ins;
            if (cut_e > cut_s && cut_s > i && cut_s < next)
                next = cut_s;
            fleet_buf_append(&b, body + i, next - i);
            i = next;
        }
        free(m);
        json_t *check = b.oom ? NULL : json_loadb(b.data ? b.data : "", b.len, 0, NULL);
        int same = check && json_equal(check, td);
        json_decref(check);
        if (same)
            return fleet_buf_steal(&b, NULL);
    }
    fleet_buf_free(&b);
    return json_dumps(td, JSON_COMPACT);
}

/* Merges patch (an object) into target (an object), RFC 7396. */
static int merge_into(json_t *target, const json_t *patch)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)patch, key, val) {
        if (json_is_null(val)) {
            json_object_del(target, key);
        } else if (json_is_object(val)) {
            json_t *sub = json_object_get(target, key);
            if (!json_is_object(sub)) {
                sub = json_object();
                if (!sub || json_object_set_new(target, key, sub) != 0)
                    return -1;
            }
            if (merge_into(sub, val) != 0)
                return -1;
        } else if (json_object_set_new(target, key, json_deep_copy(val)) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The merge patch that turns old into new (both objects). New reference. */
static json_t *merge_diff(const json_t *old, const json_t *new)
{
    json_t *d = json_object();
    const char *key;
    json_t *val;
    if (!d)
        return NULL;
    json_object_foreach((json_t *)old, key, val) if (!json_object_get(new, key))
        json_object_set_new(d, key, json_null());
    json_object_foreach((json_t *)new, key, val) {
        json_t *was = json_object_get(old, key);
        if (was && json_equal(was, val))
            continue;
        if (json_is_object(was) && json_is_object(val))
            json_object_set_new(d, key, merge_diff(was, val));
        else
            json_object_set_new(d, key, json_deep_copy(val));
    }
    return d;
}

void fleet_things_write_free(struct fleet_things_write *w)
{
    free(w->thing_id);
    w->thing_id = NULL;
    fleet_td_errors_free(&w->errs);
}

static json_t *parse_body(struct fleet_things_write *w, const char *what)
{
    json_error_t jerr;
    json_t *j = json_loadb(w->body ? w->body : "", w->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        add_error(&w->errs, "", "the %s is not valid JSON: %s (line %d, column %d)", what,
                  jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        add_error(&w->errs, "", "the %s must be a JSON object", what);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Commits txn and installs the entry (takes it on success) in place of the entry for e->id,
 * whose previous version is handed back in *old (may be NULL). created: the TD is new to
 * clients, which changes the listing's etag. Called under write_lock. */
static enum fleet_err commit_entry(struct fleet_things *t, struct fleet_txn *txn,
                                   struct entry *e, int created, struct entry **old)
{
    int found;
    *old = NULL;
    /* Room first, so that nothing can fail between the commit and the index update. */
    pthread_rwlock_wrlock(&t->lock);
    int room = index_reserve(&t->x, 1);
    pthread_rwlock_unlock(&t->lock);
    if (room != 0)
        return FLEET_ERR_NOMEM;
    enum fleet_err rc = fleet_store_commit(t->st, txn);
    if (rc != FLEET_OK)
        return rc;
    t->own_commits++;
    pthread_rwlock_wrlock(&t->lock);
    size_t pos = index_find(&t->x, e->id, &found);
    if (found) {
        *old = t->x.v[pos];
        t->x.v[pos] = e;
    } else {
        memmove(t->x.v + pos + 1, t->x.v + pos, (t->x.n - pos) * sizeof(*t->x.v));
        t->x.v[pos] = e;
        t->x.n++;
    }
    if (created)
        t->version++;
    pthread_rwlock_unlock(&t->lock);
    return FLEET_OK;
}

static char *event_created(const struct entry *e, int64_t now)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    if (enrich(e, now, &b) != 0) {
        fleet_buf_free(&b);
        return NULL;
    }
    return fleet_buf_steal(&b, NULL);
}

static char *event_updated(json_t *patch, const char *id)
{
    json_object_set_new(patch, "id", json_string(id));
    return json_dumps(patch, JSON_COMPACT);
}

enum fleet_err fleet_things_put(struct fleet_things *t, struct fleet_things_write *w)
{
    json_t *td = NULL;
    struct fleet_txn *txn = NULL;
    struct entry *e = NULL, *old = NULL;
    char minted[46] = "", *doc = NULL;
    const char *id;
    struct reg_in ri;
    enum fleet_err rc;
    int locked = 0;

    if (w->len > FLEET_THING_MAX_BYTES) {
        snprintf(w->message, sizeof(w->message), "a Thing Description is at most %u bytes",
                 FLEET_THING_MAX_BYTES);
        return FLEET_ERR_TOOBIG;
    }
    if (!(td = parse_body(w, "Thing Description"))) {
        rc = FLEET_ERR_INVAL;
        goto out;
    }
    const json_t *idv = json_object_get(td, "id");
    if (w->id) {
        id = w->id;
        if (!idv)
            add_error(&w->errs, "id",
                      "the TD has no id: add \"id\": \"%.300s\" (the id in the URL), or register "
                      "it as an anonymous TD with POST /api/v1/things",
                      w->id);
        else if (!json_is_string(idv) || strcmp(json_string_value(idv), w->id) != 0)
            add_error(&w->errs, "id", "the TD's id must equal the id in the URL (%.300s)", w->id);
    } else {
        if (idv) {
            add_error(&w->errs, "id",
                      "a TD with an id is registered with PUT /api/v1/things/{id}; POST is for "
                      "TDs without one");
            rc = FLEET_ERR_INVAL;
            goto out;
        }
        mint_uuid(minted);
        id = minted;
        json_object_set_new(td, "id", json_string(minted));
    }
    json_t *regj = json_object_get(td, "registration");
    int had_reg = regj != NULL;
    parse_reg_in(regj, 0, w->now_ms, &ri, &w->errs);
    if (had_reg)
        json_object_del(td, "registration");
    rc = fleet_td_validate(td, &w->errs);
    if (rc == FLEET_ERR_NOMEM)
        goto out;
    if (w->errs.n || w->errs.truncated) {
        rc = FLEET_ERR_INVAL;
        goto out;
    }
    if (!(doc = stored_text(w->body, w->len, td, had_reg, minted[0] ? minted : NULL)) ||
        !(txn = fleet_txn_new()) || !(e = calloc(1, sizeof(*e))) || !(e->id = strdup(id))) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    e->doc = doc;
    e->doc_len = strlen(doc);
    doc = NULL;

    pthread_mutex_lock(&t->write_lock);
    locked = 1;
    rc = td_txn(t, td, id, e->doc, txn, &w->errs);
    if (rc != FLEET_OK)
        goto out;
    int found;
    const struct entry *cur = NULL;
    pthread_rwlock_rdlock(&t->lock);
    size_t pos = index_find(&t->x, id, &found);
    if (found && !expired(&t->x.v[pos]->reg, w->now_ms))
        cur = t->x.v[pos];
    e->reg.created = cur ? cur->reg.created : w->now_ms;
    e->reg.last_seen = cur ? cur->reg.last_seen : 0;
    pthread_rwlock_unlock(&t->lock); /* only writers change entries, and we are the writer */
    e->reg.modified = w->now_ms;
    compute_expiry(&e->reg, &ri, NULL, w->now_ms, w->max_ttl_s);
    w->created = cur == NULL;
    if ((rc = reg_txn(id, &e->reg, txn)) != FLEET_OK)
        goto out;
    rc = commit_entry(t, txn, e, w->created, &old);
    if (rc != FLEET_OK)
        goto out;
    w->thing_id = strdup(id);
    /* Notified under write_lock, so that notifications come in commit order. */
    if (w->created) {
        char *json = event_created(e, w->now_ms); /* e stays put: we are the only writer */
        notify(t, FLEET_THING_CREATED, id, json);
        free(json);
    } else {
        json_t *was = old ? json_loadb(old->doc, old->doc_len, 0, NULL) : NULL;
        json_t *d = was ? merge_diff(was, td) : json_object();
        char *json = d ? event_updated(d, id) : NULL;
        notify(t, FLEET_THING_UPDATED, id, json);
        free(json);
        json_decref(d);
        json_decref(was);
    }
    e = NULL;
out:
    if (locked)
        pthread_mutex_unlock(&t->write_lock);
    if (rc != FLEET_OK && !w->message[0])
        snprintf(w->message, sizeof(w->message), "%s",
                 rc == FLEET_ERR_INVAL ? "the Thing Description is not valid"
                                       : fleet_strerror(rc));
    entry_free(old);
    entry_free(e);
    free(doc);
    fleet_txn_free(txn);
    json_decref(td);
    return rc;
}

enum fleet_err fleet_things_patch(struct fleet_things *t, struct fleet_things_write *w)
{
    json_t *patch = NULL, *td = NULL, *before = NULL, *tdpatch = NULL;
    struct fleet_txn *txn = NULL;
    struct entry *e = NULL, *old = NULL;
    struct reg_in ri;
    enum fleet_err rc;
    int found;

    if (w->len > FLEET_THING_MAX_BYTES) {
        snprintf(w->message, sizeof(w->message), "a merge patch is at most %u bytes",
                 FLEET_THING_MAX_BYTES);
        return FLEET_ERR_TOOBIG;
    }
    if (!(patch = parse_body(w, "merge patch")))
        return FLEET_ERR_INVAL;
    pthread_mutex_lock(&t->write_lock);
    pthread_rwlock_rdlock(&t->lock);
    size_t pos = index_find(&t->x, w->id, &found);
    const struct entry *cur = found && !expired(&t->x.v[pos]->reg, w->now_ms) ? t->x.v[pos] : NULL;
    pthread_rwlock_unlock(&t->lock);
    if (!cur) {
        snprintf(w->message, sizeof(w->message), "no Thing Description with this id");
        rc = FLEET_ERR_NOTFOUND;
        goto out;
    }
    if (!(td = json_loadb(cur->doc, cur->doc_len, 0, NULL)) || !(before = json_deep_copy(td)) ||
        !(tdpatch = json_deep_copy(patch))) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    parse_reg_in(json_object_get(tdpatch, "registration"), 1, w->now_ms, &ri, &w->errs);
    json_object_del(tdpatch, "registration");
    const json_t *idv = json_object_get(tdpatch, "id");
    if (idv && (!json_is_string(idv) || strcmp(json_string_value(idv), w->id) != 0))
        add_error(&w->errs, "id", "a merge patch cannot change or remove the TD's id");
    if (merge_into(td, tdpatch) != 0) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    rc = fleet_td_validate(td, &w->errs);
    if (rc == FLEET_ERR_NOMEM)
        goto out;
    if (w->errs.n || w->errs.truncated) {
        rc = FLEET_ERR_INVAL;
        goto out;
    }
    int unchanged = json_equal(td, before);
    if (!(txn = fleet_txn_new()) || !(e = calloc(1, sizeof(*e))) || !(e->id = strdup(w->id)) ||
        !(e->doc = unchanged ? strdup(cur->doc) : json_dumps(td, JSON_COMPACT))) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    e->doc_len = strlen(e->doc);
    e->reg = cur->reg;
    e->reg.modified = w->now_ms;
    /* A patch that leaves the TD as it was is the device saying it is alive. */
    if (unchanged)
        e->reg.last_seen = w->now_ms;
    compute_expiry(&e->reg, &ri, &cur->reg, w->now_ms, w->max_ttl_s);
    if ((rc = td_txn(t, td, w->id, e->doc, txn, &w->errs)) != FLEET_OK ||
        (rc = reg_txn(w->id, &e->reg, txn)) != FLEET_OK)
        goto out;
    rc = commit_entry(t, txn, e, 0, &old);
    if (rc != FLEET_OK)
        goto out;
    e = NULL;
    w->thing_id = strdup(w->id);
    char *json = event_updated(patch, w->id);
    notify(t, FLEET_THING_UPDATED, w->id, json);
    free(json);
out:
    pthread_mutex_unlock(&t->write_lock);
    if (rc != FLEET_OK && !w->message[0])
        snprintf(w->message, sizeof(w->message), "%s",
                 rc == FLEET_ERR_INVAL ? "the patched Thing Description is not valid"
                                       : fleet_strerror(rc));
    entry_free(old);
    entry_free(e);
    fleet_txn_free(txn);
    json_decref(patch);
    json_decref(tdpatch);
    json_decref(td);
    json_decref(before);
    return rc;
}

/* Removes the TDs at the given ids from the store (one transaction) and the index. Called
 * under write_lock. */
static enum fleet_err remove_ids(struct fleet_things *t, char *const *ids, size_t n)
{
    struct fleet_txn *txn = fleet_txn_new();
    enum fleet_err rc = txn ? FLEET_OK : FLEET_ERR_NOMEM;
    for (size_t i = 0; i < n && rc == FLEET_OK; i++) {
        char *graph = graph_iri(ids[i]);
        struct fleet_term g;
        if (!graph) {
            rc = FLEET_ERR_NOMEM;
            break;
        }
        term_iri(&g, graph);
        rc = fleet_txn_clear_graph(txn, &g);
        free(graph);
    }
    if (rc == FLEET_OK)
        rc = fleet_store_commit(t->st, txn);
    fleet_txn_free(txn);
    if (rc != FLEET_OK)
        return rc;
    t->own_commits++;
    pthread_rwlock_wrlock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        int found;
        size_t pos = index_find(&t->x, ids[i], &found);
        if (!found)
            continue;
        entry_free(t->x.v[pos]);
        memmove(t->x.v + pos, t->x.v + pos + 1, (t->x.n - pos - 1) * sizeof(*t->x.v));
        t->x.n--;
    }
    t->version++;
    pthread_rwlock_unlock(&t->lock);
    for (size_t i = 0; i < n; i++)
        notify(t, FLEET_THING_DELETED, ids[i], NULL);
    return FLEET_OK;
}

enum fleet_err fleet_things_delete(struct fleet_things *t, const char *id)
{
    int found;
    enum fleet_err rc = FLEET_ERR_NOTFOUND;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    pthread_mutex_lock(&t->write_lock);
    /* The index only changes under write_lock, which we hold. */
    size_t pos = index_find(&t->x, id, &found);
    if (found && !expired(&t->x.v[pos]->reg, now)) {
        char *ids[1] = {(char *)id};
        rc = remove_ids(t, ids, 1);
    }
    pthread_mutex_unlock(&t->write_lock);
    return rc;
}

long fleet_things_purge(struct fleet_things *t, int64_t now_ms, char ***ids)
{
    long n = 0;
    char **v = NULL;
    *ids = NULL;
    pthread_mutex_lock(&t->write_lock);
    /* The index only changes under write_lock, which we hold: no read lock needed to scan it. */
    for (size_t i = 0; i < t->x.n; i++)
        if (expired(&t->x.v[i]->reg, now_ms))
            n++;
    if (n == 0)
        goto out;
    v = calloc((size_t)n + 1, sizeof(*v));
    if (!v) {
        n = -1;
        goto out;
    }
    long k = 0;
    for (size_t i = 0; i < t->x.n && k < n; i++)
        if (expired(&t->x.v[i]->reg, now_ms) && !(v[k++] = strdup(t->x.v[i]->id))) {
            n = -1;
            goto out;
        }
    if (remove_ids(t, v, (size_t)n) != FLEET_OK) {
        n = -1;
        goto out;
    }
    *ids = v;
    v = NULL;
out:
    pthread_mutex_unlock(&t->write_lock);
    fleet_strv_free(v);
    return n;
}

/* ---- N-Triples to JSON-LD ------------------------------------------------------------------- */

static void put_utf8(struct fleet_buf *b, unsigned long cp)
{
    char u[4];
    if (cp < 0x80) {
        fleet_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        fleet_buf_append(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        fleet_buf_append(b, u, 3);
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        fleet_buf_append(b, u, 4);
    }
}

/* Reads the escaped text s[*i..] up to the terminator into out (unescaped). */
static int nt_unescape(const char *s, size_t len, size_t *i, char term, struct fleet_buf *out)
{
    fleet_buf_reset(out);
    while (*i < len && s[*i] != term) {
        char c = s[*i];
        if (c != '\\') {
            fleet_buf_putc(out, c);
            (*i)++;
            continue;
        }
        if (*i + 1 >= len)
            return -1;
        char e = s[*i + 1];
        *i += 2;
        switch (e) {
        case 't': fleet_buf_putc(out, '\t'); break;
        case 'b': fleet_buf_putc(out, '\b'); break;
        case 'n': fleet_buf_putc(out, '\n'); break;
        case 'r': fleet_buf_putc(out, '\r'); break;
        case 'f': fleet_buf_putc(out, '\f'); break;
        case '"': fleet_buf_putc(out, '"'); break;
        case '\'': fleet_buf_putc(out, '\''); break;
        case '\\': fleet_buf_putc(out, '\\'); break;
        case 'u':
        case 'U': {
            int n = e == 'u' ? 4 : 8;
            unsigned long cp = 0;
            if (*i + (size_t)n > len)
                return -1;
            for (int k = 0; k < n; k++) {
                int h = hexval(s[*i + (size_t)k]);
                if (h < 0)
                    return -1;
                cp = cp * 16 + (unsigned long)h;
            }
            if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return -1;
            put_utf8(out, cp);
            *i += (size_t)n;
            break;
        }
        default: return -1;
        }
    }
    if (*i >= len)
        return -1;
    (*i)++; /* the terminator */
    fleet_buf_putc(out, '\0');
    out->len--;
    return out->oom ? -1 : 0;
}

/* One N-Triples term at s[*i..]: *kind 'I' IRI, 'B' blank node, 'L' literal (with lang or dt). */
struct nt_term {
    char kind;
    struct fleet_buf value, extra; /* extra: language tag or datatype IRI */
    int has_lang, has_dt;
};

static int nt_term(const char *s, size_t len, size_t *i, struct nt_term *t)
{
    t->has_lang = t->has_dt = 0;
    fleet_buf_reset(&t->extra);
    *i = skip_ws(s, len, *i);
    if (*i >= len)
        return -1;
    if (s[*i] == '<') {
        (*i)++;
        t->kind = 'I';
        return nt_unescape(s, len, i, '>', &t->value);
    }
    if (s[*i] == '_' && *i + 1 < len && s[*i + 1] == ':') {
        size_t st = *i;
        while (*i < len && !strchr(" \t\r\n", s[*i]))
            (*i)++;
        /* a blank label may not end with '.', which then ends the statement */
        if (*i > st && s[*i - 1] == '.')
            (*i)--;
        t->kind = 'B';
        fleet_buf_reset(&t->value);
        fleet_buf_append(&t->value, s + st, *i - st);
        fleet_buf_putc(&t->value, '\0');
        t->value.len--;
        return 0;
    }
    if (s[*i] == '"') {
        (*i)++;
        t->kind = 'L';
        if (nt_unescape(s, len, i, '"', &t->value) != 0)
            return -1;
        if (*i < len && s[*i] == '@') {
            size_t st = ++(*i);
            while (*i < len && (s[*i] == '-' || (s[*i] >= 'a' && s[*i] <= 'z') ||
                                (s[*i] >= 'A' && s[*i] <= 'Z') || (s[*i] >= '0' && s[*i] <= '9')))
                (*i)++;
            fleet_buf_append(&t->extra, s + st, *i - st);
            fleet_buf_putc(&t->extra, '\0');
            t->extra.len--;
            t->has_lang = 1;
        } else if (*i + 2 < len && s[*i] == '^' && s[*i + 1] == '^' && s[*i + 2] == '<') {
            *i += 3;
            if (nt_unescape(s, len, i, '>', &t->extra) != 0)
                return -1;
            t->has_dt = 1;
        }
        return 0;
    }
    return -1;
}

static json_t *nt_object(const struct nt_term *o)
{
    json_t *v = json_object();
    if (!v)
        return NULL;
    if (o->kind == 'I' || o->kind == 'B') {
        json_object_set_new(v, "@id", json_string(o->value.data ? o->value.data : ""));
        return v;
    }
    json_object_set_new(v, "@value", json_stringn(o->value.data ? o->value.data : "",
                                                   o->value.len));
    if (o->has_lang)
        json_object_set_new(v, "@language", json_string(o->extra.data ? o->extra.data : ""));
    else if (o->has_dt && strcmp(o->extra.data ? o->extra.data : "", NS_XSD "string") != 0)
        json_object_set_new(v, "@type", json_string(o->extra.data ? o->extra.data : ""));
    return v;
}

enum fleet_err fleet_ntriples_to_jsonld(const char *nt, size_t len, struct fleet_buf *out,
                                        char *err, size_t errlen)
{
    json_t *nodes = json_object(), *list = NULL;
    struct nt_term t[3];
    enum fleet_err rc = FLEET_OK;
    size_t i = 0, line = 0;
    char *text = NULL;
    memset(t, 0, sizeof(t));
    if (!nodes) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    while (i < len) {
        line++;
        size_t eol = i;
        while (eol < len && nt[eol] != '\n')
            eol++;
        size_t p = i;
        while (p < eol && (nt[p] == ' ' || nt[p] == '\t' || nt[p] == '\r'))
            p++;
        if (p == eol || nt[p] == '#') {
            i = eol + 1;
            continue;
        }
        int ok = 1;
        for (int k = 0; k < 3 && ok; k++)
            ok = nt_term(nt, eol, &p, &t[k]) == 0;
        ok = ok && t[0].kind != 'L' && t[1].kind == 'I';
        if (ok) {
            p = skip_ws(nt, eol, p);
            ok = p < eol && nt[p] == '.';
            p++;
            while (ok && p < eol && (nt[p] == ' ' || nt[p] == '\t' || nt[p] == '\r'))
                p++;
            ok = ok && (p == eol || nt[p] == '#');
        }
        if (!ok) {
            snprintf(err, errlen, "cannot read line %zu of the N-Triples result", line);
            rc = FLEET_ERR_INVAL;
            goto out;
        }
        const char *subj = t[0].value.data ? t[0].value.data : "";
        json_t *node = json_object_get(nodes, subj);
        if (!node) {
            node = json_object();
            if (!node || json_object_set_new(nodes, subj, node) != 0) {
                rc = FLEET_ERR_NOMEM;
                goto out;
            }
            json_object_set_new(node, "@id", json_string(subj));
        }
        const char *pred = t[1].value.data ? t[1].value.data : "";
        int is_type = strcmp(pred, NS_RDF "type") == 0 && t[2].kind != 'L';
        const char *key = is_type ? "@type" : pred;
        json_t *arr = json_object_get(node, key);
        if (!arr) {
            arr = json_array();
            if (!arr || json_object_set_new(node, key, arr) != 0) {
                rc = FLEET_ERR_NOMEM;
                goto out;
            }
        }
        json_t *val = is_type ? json_string(t[2].value.data ? t[2].value.data : "")
                              : nt_object(&t[2]);
        if (!val || json_array_append_new(arr, val) != 0) {
            rc = FLEET_ERR_NOMEM;
            goto out;
        }
        i = eol + 1;
    }
    if (!(list = json_array())) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    const char *key;
    json_t *node;
    json_object_foreach(nodes, key, node) json_array_append(list, node);
    if (!(text = json_dumps(list, JSON_COMPACT))) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    fleet_buf_puts(out, text);
    if (out->oom)
        rc = FLEET_ERR_NOMEM;
out:
    free(text);
    for (int k = 0; k < 3; k++) {
        fleet_buf_free(&t[k].value);
        fleet_buf_free(&t[k].extra);
    }
    json_decref(list);
    json_decref(nodes);
    return rc;
}
