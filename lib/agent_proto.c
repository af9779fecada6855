/* SPDX-License-Identifier: MIT */
/* See agent_proto.h. URI references are resolved by RFC 3986 section 5.2 on the text, with the
 * braces of RFC 6570 expressions read as opaque (a '?' inside {?since,limit} does not start the
 * query), and templates are expanded at request time. Every limit here is a byte or element
 * count checked before anything is copied, so a hostile agent costs at most its reply size. */
#include "agent_proto.h"

#include <ctype.h>
#include <math.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "td.h"

/* ---- URIs ------------------------------------------------------------------------------------ */

struct uri {
    const char *scheme, *authority, *path, *query, *fragment; /* NULL = undefined */
    size_t scheme_n, authority_n, path_n, query_n, fragment_n;
};

/* Length of the text up to (not including) the first byte of stop outside braces. */
static size_t span_until(const char *s, const char *stop)
{
    size_t i = 0;
    while (s[i]) {
        if (s[i] == '{') {
            const char *close = strchr(s + i, '}');
            if (close) {
                i = (size_t)(close - s) + 1;
                continue;
            }
        }
        if (strchr(stop, s[i]))
            break;
        i++;
    }
    return i;
}

static size_t scheme_length(const char *s)
{
    size_t i = 0;
    if (!isalpha((unsigned char)s[0]))
        return 0;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' ? i : 0;
}

static void uri_split(const char *s, struct uri *u)
{
    memset(u, 0, sizeof(*u));
    size_t n = scheme_length(s);
    if (n) {
        u->scheme = s;
        u->scheme_n = n;
        s += n + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        u->authority = s;
        u->authority_n = span_until(s, "/?#");
        s += u->authority_n;
    }
    u->path = s;
    u->path_n = span_until(s, "?#");
    s += u->path_n;
    if (*s == '?') {
        s++;
        u->query = s;
        u->query_n = span_until(s, "#");
        s += u->query_n;
    }
    if (*s == '#') {
        s++;
        u->fragment = s;
        u->fragment_n = strlen(s);
    }
}

/* RFC 3986 5.2.4, appending the result to out. */
static void remove_dots(const char *in, size_t n, struct fleet_buf *out)
{
    size_t start = out->len;
    size_t i = 0;
    while (i < n) {
        const char *p = in + i;
        size_t left = n - i;
        if (left >= 3 && strncmp(p, "../", 3) == 0) {
            i += 3;
        } else if (left >= 2 && strncmp(p, "./", 2) == 0) {
            i += 2;
        } else if (left >= 3 && strncmp(p, "/./", 3) == 0) {
            i += 2;
        } else if (left == 2 && strncmp(p, "/.", 2) == 0) {
            i += 1;
            /* "/." at the end becomes "/" */
            fleet_buf_putc(out, '/');
            i += 1;
        } else if ((left >= 4 && strncmp(p, "/../", 4) == 0) ||
                   (left == 3 && strncmp(p, "/..", 3) == 0)) {
            /* drop the last output segment */
            size_t j = out->len;
            while (j > start && out->data[j - 1] != '/')
                j--;
            if (j > start)
                j--;
            out->len = j;
            if (out->data)
                out->data[j] = '\0';
            if (left == 3) {
                fleet_buf_putc(out, '/');
                i += 3;
            } else {
                i += 3;
            }
        } else if ((left == 1 && p[0] == '.') || (left == 2 && strncmp(p, "..", 2) == 0)) {
            i += left;
        } else {
            size_t j = p[0] == '/' ? 1 : 0;
            while (j < left && p[j] != '/')
                j++;
            fleet_buf_append(out, p, j);
            i += j;
        }
    }
}

static void put_n(struct fleet_buf *b, const char *s, size_t n)
{
    fleet_buf_append(b, s, n);
}

int fleet_agent_uri_resolve(const char *base, const char *ref, struct fleet_buf *out)
{
    struct uri b, r;
    uri_split(base, &b);
    uri_split(ref, &r);
    if (!b.scheme)
        return -1;
    struct fleet_buf path = FLEET_BUF_INIT, merged = FLEET_BUF_INIT;
    const char *scheme, *auth, *query;
    size_t scheme_n, auth_n, query_n;
    int has_auth, has_query;
    if (r.scheme) {
        scheme = r.scheme, scheme_n = r.scheme_n;
        has_auth = r.authority != NULL, auth = r.authority, auth_n = r.authority_n;
        remove_dots(r.path, r.path_n, &path);
        has_query = r.query != NULL, query = r.query, query_n = r.query_n;
    } else {
        scheme = b.scheme, scheme_n = b.scheme_n;
        if (r.authority) {
            has_auth = 1, auth = r.authority, auth_n = r.authority_n;
            remove_dots(r.path, r.path_n, &path);
            has_query = r.query != NULL, query = r.query, query_n = r.query_n;
        } else {
            has_auth = b.authority != NULL, auth = b.authority, auth_n = b.authority_n;
            if (r.path_n == 0) {
                put_n(&path, b.path, b.path_n);
                if (r.query)
                    has_query = 1, query = r.query, query_n = r.query_n;
                else
                    has_query = b.query != NULL, query = b.query, query_n = b.query_n;
            } else {
                if (r.path[0] == '/') {
                    remove_dots(r.path, r.path_n, &path);
                } else {
                    /* RFC 3986 5.2.3 */
                    if (b.authority && b.path_n == 0) {
                        fleet_buf_putc(&merged, '/');
                    } else {
                        size_t k = b.path_n;
                        while (k > 0 && b.path[k - 1] != '/')
                            k--;
                        put_n(&merged, b.path, k);
                    }
                    put_n(&merged, r.path, r.path_n);
                    remove_dots(merged.data ? merged.data : "", merged.len, &path);
                }
                has_query = r.query != NULL, query = r.query, query_n = r.query_n;
            }
        }
    }
    put_n(out, scheme, scheme_n);
    fleet_buf_putc(out, ':');
    if (has_auth) {
        fleet_buf_puts(out, "//");
        put_n(out, auth, auth_n);
    }
    if (path.len)
        put_n(out, path.data, path.len);
    if (has_query) {
        fleet_buf_putc(out, '?');
        put_n(out, query, query_n);
    }
    if (r.fragment) {
        fleet_buf_putc(out, '#');
        put_n(out, r.fragment, r.fragment_n);
    }
    fleet_buf_free(&path);
    fleet_buf_free(&merged);
    if (!out->data)
        fleet_buf_puts(out, "");
    return 0;
}

static int url_ok(const char *url, int allow_braces)
{
    size_t len = strlen(url);
    if (len == 0 || len > FLEET_AGENT_MAX_URL)
        return 0;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f || strchr("<>\"|\\^`", *p))
            return 0;
        if (!allow_braces && (*p == '{' || *p == '}'))
            return 0;
    }
    const char *rest;
    if (strncasecmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        rest = url + 8;
    else
        return 0;
    size_t auth = strcspn(rest, "/?#{");
    const char *at = memchr(rest, '@', auth);
    const char *host = at ? at + 1 : rest;
    size_t host_n = auth - (size_t)(host - rest);
    if (host_n == 0 || host[0] == ':')
        return 0;
    return 1;
}

int fleet_agent_url_ok(const char *url)
{
    return url && url_ok(url, 0);
}

/* ---- URI templates --------------------------------------------------------------------------- */

static int unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void pct_put(struct fleet_buf *b, const char *v, int allow_reserved)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (unreserved(*p) || (allow_reserved && strchr(":/?#[]@!$&'()*+,;=", *p)))
            fleet_buf_putc(b, (char)*p);
        else
            fleet_buf_printf(b, "%%%02X", *p);
    }
}

/* Expands one expression body (between the braces). */
static void expand(struct fleet_buf *b, const char *e, size_t n, const char *since,
                   const char *limit)
{
    char op = n ? e[0] : '\0';
    const char *first = "", *sep = ",", *ifemp = "";
    int named = 0, reserved = 0;
    switch (op) {
    case '+':
        reserved = 1;
        break;
    case '#':
        first = "#", reserved = 1;
        break;
    case '.':
        first = ".", sep = ".";
        break;
    case '/':
        first = "/", sep = "/";
        break;
    case ';':
        first = ";", sep = ";", named = 1;
        break;
    case '?':
        first = "?", sep = "&", named = 1, ifemp = "=";
        break;
    case '&':
        first = "&", sep = "&", named = 1, ifemp = "=";
        break;
    default:
        op = '\0';
    }
    size_t i = op ? 1 : 0;
    int any = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && e[j] != ',')
            j++;
        /* the name, without level-4 modifiers */
        size_t k = i;
        while (k < j && e[k] != ':' && e[k] != '*')
            k++;
        const char *value = NULL;
        if (k - i == 5 && strncmp(e + i, "since", 5) == 0)
            value = since;
        else if (k - i == 5 && strncmp(e + i, "limit", 5) == 0)
            value = limit;
        if (value) {
            fleet_buf_puts(b, any ? sep : first);
            any = 1;
            if (named) {
                fleet_buf_append(b, e + i, k - i);
                if (*value)
                    fleet_buf_putc(b, '=');
                else
                    fleet_buf_puts(b, ifemp);
            }
            pct_put(b, value, reserved);
        }
        i = j + 1;
    }
}

char *fleet_agent_results_url(const char *results_url, const char *since, unsigned limit)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    char lim[24];
    snprintf(lim, sizeof(lim), "%u", limit);
    if (!strchr(results_url, '{')) {
        size_t n = strcspn(results_url, "#");
        fleet_buf_append(&b, results_url, n);
        int has_query = memchr(results_url, '?', n) != NULL;
        char last = n ? results_url[n - 1] : '\0';
        fleet_buf_puts(&b, !has_query ? "?" : (last == '?' || last == '&') ? "" : "&");
        if (since) {
            fleet_buf_puts(&b, "since=");
            pct_put(&b, since, 0);
            fleet_buf_putc(&b, '&');
        }
        fleet_buf_printf(&b, "limit=%s", lim);
    } else {
        const char *p = results_url;
        while (*p) {
            const char *open = strchr(p, '{');
            const char *close = open ? strchr(open, '}') : NULL;
            if (!open || !close) {
                fleet_buf_puts(&b, p);
                break;
            }
            fleet_buf_append(&b, p, (size_t)(open - p));
            expand(&b, open + 1, (size_t)(close - open - 1), since, lim);
            p = close + 1;
        }
    }
    if (b.oom) {
        fleet_buf_free(&b);
        return NULL;
    }
    size_t len;
    return fleet_buf_steal(&b, &len);
}

/* ---- the TD ---------------------------------------------------------------------------------- */

static int op_listed(const json_t *op, const char *want, int absent_matches)
{
    if (!op)
        return absent_matches;
    if (json_is_string(op))
        return strcmp(json_string_value(op), want) == 0;
    size_t i;
    json_t *e;
    json_array_foreach(op, i, e) if (json_is_string(e) &&
                                     strcmp(json_string_value(e), want) == 0) return 1;
    return 0;
}

/* The resolved target of the first form of aff that does op with method (new), or NULL. */
static char *pick_form(const json_t *aff, const char *op, const char *method, const char *base,
                       const char **ctype)
{
    const json_t *forms = json_object_get(aff, "forms");
    size_t i;
    json_t *f;
    json_array_foreach(forms, i, f)
    {
        const char *href = json_string_value(json_object_get(f, "href"));
        const char *m = json_string_value(json_object_get(f, "htv:methodName"));
        if (!href || !op_listed(json_object_get(f, "op"), op, 1))
            continue;
        if (m && strcmp(m, method) != 0)
            continue;
        struct fleet_buf u = FLEET_BUF_INIT;
        if (fleet_agent_uri_resolve(base, href, &u) != 0 || u.oom || !url_ok(u.data, 1)) {
            fleet_buf_free(&u);
            continue;
        }
        /* The fragment is never sent. */
        size_t len;
        char *s = fleet_buf_steal(&u, &len);
        if (s) {
            s[span_until(s, "#")] = '\0';
            if (ctype)
                *ctype = json_string_value(json_object_get(f, "contentType"));
        }
        return s;
    }
    return NULL;
}

void fleet_agent_td_clear(struct fleet_agent_td *td)
{
    free(td->title);
    free(td->thing_id);
    free(td->devices_url);
    free(td->results_url);
    free(td->run_url);
    free(td->run_ctype);
    memset(td, 0, sizeof(*td));
}

enum fleet_err fleet_agent_td_parse(const char *text, size_t len, const char *td_url,
                                    struct fleet_agent_td *td, char *field, size_t fieldlen,
                                    char *err, size_t errlen)
{
    json_error_t jerr;
    struct fleet_td_errors errs = {0};
    struct fleet_buf base = FLEET_BUF_INIT;
    enum fleet_err rc = FLEET_ERR_INVAL;
    fleet_errf(field, fieldlen, "%s", "");
    json_t *doc = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        fleet_errf(err, errlen, "the Thing Description is not a JSON object%s%s", doc ? "" : ": ",
                   doc ? "" : jerr.text);
        goto out;
    }
    enum fleet_err vrc = fleet_td_validate(doc, &errs);
    if (vrc == FLEET_ERR_NOMEM) {
        rc = vrc;
        goto out;
    }
    if (vrc != FLEET_OK) {
        fleet_errf(field, fieldlen, "%s", errs.n ? errs.v[0].field : "");
        fleet_errf(err, errlen, "not a valid Thing Description: %s%s",
                   errs.n ? errs.v[0].description : "invalid",
                   errs.n > 1 ? " (and more; the directory's validation lists them all)" : "");
        goto out;
    }
    const char *b = json_string_value(json_object_get(doc, "base"));
    if (b) {
        if (fleet_agent_uri_resolve(td_url, b, &base) != 0 || base.oom) {
            fleet_errf(field, fieldlen, "base");
            fleet_errf(err, errlen, "base cannot be resolved against %s", td_url);
            goto out;
        }
    } else {
        fleet_buf_puts(&base, td_url);
    }
    if (base.oom) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    const json_t *props = json_object_get(doc, "properties");
    const json_t *devices = json_object_get(props, "devices");
    const json_t *results = json_object_get(props, "results");
    const json_t *run = json_object_get(json_object_get(doc, "actions"), "runBenchmark");
    if (!devices || !results) {
        fleet_errf(field, fieldlen, "properties.%s", !devices ? "devices" : "results");
        fleet_errf(err, errlen,
                   "an agent's TD needs the properties \"devices\" and \"results\" (agent protocol "
                   "version %d)",
                   FLEET_AGENT_PROTOCOL_VERSION);
        goto out;
    }
    td->devices_url = pick_form(devices, "readproperty", "GET", base.data, NULL);
    td->results_url = pick_form(results, "readproperty", "GET", base.data, NULL);
    if (!td->devices_url || !td->results_url) {
        fleet_errf(field, fieldlen, "properties.%s.forms",
                   !td->devices_url ? "devices" : "results");
        fleet_errf(err, errlen,
                   "property \"%s\" has no form with op readproperty (and method GET, if given) "
                   "whose target is an http or https URL",
                   !td->devices_url ? "devices" : "results");
        fleet_agent_td_clear(td);
        goto out;
    }
    if (run) {
        const char *ct = NULL;
        td->run_url = pick_form(run, "invokeaction", "POST", base.data, &ct);
        if (!td->run_url) {
            fleet_errf(field, fieldlen, "actions.runBenchmark.forms");
            fleet_errf(err, errlen,
                       "action \"runBenchmark\" has no form with op invokeaction (and method POST, "
                       "if given) whose target is an http or https URL");
            fleet_agent_td_clear(td);
            goto out;
        }
        td->run_ctype = strdup(ct ? ct : "application/json");
    }
    td->title = strdup(json_string_value(json_object_get(doc, "title")));
    const char *id = json_string_value(json_object_get(doc, "id"));
    td->thing_id = id ? strdup(id) : NULL;
    if (!td->title || (id && !td->thing_id) || (run && !td->run_ctype)) {
        fleet_agent_td_clear(td);
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    rc = FLEET_OK;
out:
    fleet_buf_free(&base);
    fleet_td_errors_free(&errs);
    json_decref(doc);
    return rc;
}

/* ---- replies --------------------------------------------------------------------------------- */

static int iri_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FLEET_AGENT_MAX_URL || !scheme_length(s))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || strchr("<>\"{}|\\^`", *p))
            return 0;
    return 1;
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum fleet_err fleet_agent_devices_parse(const char *text, size_t len, char ***out, char *err,
                                         size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text ? text : "", len, 0, &jerr);
    *out = NULL;
    if (!json_is_array(doc)) {
        fleet_errf(err, errlen, "devices: the reply is not a JSON array%s%s", doc ? "" : ": ",
                   doc ? "" : jerr.text);
        json_decref(doc);
        return FLEET_ERR_INVAL;
    }
    size_t n = json_array_size(doc), i;
    if (n > FLEET_AGENT_MAX_DEVICES) {
        fleet_errf(err, errlen, "devices: %zu boards, at most %d", n, FLEET_AGENT_MAX_DEVICES);
        json_decref(doc);
        return FLEET_ERR_INVAL;
    }
    char **v = calloc(n + 1, sizeof(*v));
    json_t *e;
    if (!v) {
        json_decref(doc);
        return FLEET_ERR_NOMEM;
    }
    json_array_foreach(doc, i, e)
    {
        const char *s = json_string_value(e);
        if (!s || strlen(s) != json_string_length(e) || !iri_ok(s)) {
            fleet_errf(err, errlen, "devices[%zu]: not a Thing Description id (an absolute IRI)",
                       i);
            fleet_strv_free_n(v, n);
            json_decref(doc);
            return FLEET_ERR_INVAL;
        }
        if (!(v[i] = strdup(s))) {
            fleet_strv_free_n(v, n);
            json_decref(doc);
            return FLEET_ERR_NOMEM;
        }
    }
    json_decref(doc);
    qsort(v, n, sizeof(*v), strp_cmp);
    size_t w = 0;
    for (i = 0; i < n; i++) {
        if (w && strcmp(v[w - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[w++] = v[i];
    }
    v[w] = NULL;
    *out = v;
    return FLEET_OK;
}

/* RFC 3339 date-time with a time zone, to ms since the epoch; -1 if malformed. */
static int parse_time(const char *s, int64_t *ms)
{
    int v[6];
    static const int at[6] = {0, 5, 8, 11, 14, 17}, width[6] = {4, 2, 2, 2, 2, 2};
    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -1;
    for (int k = 0; k < 6; k++) {
        v[k] = 0;
        for (int i = 0; i < width[k]; i++) {
            char c = s[at[k] + i];
            if (c < '0' || c > '9')
                return -1;
            v[k] = v[k] * 10 + (c - '0');
        }
    }
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int scale = 100, any = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, any = 1) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
        if (!any)
            return -1;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
            !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
            return -1;
        int oh = (p[1] - '0') * 10 + (p[2] - '0'), om = (p[4] - '0') * 10 + (p[5] - '0');
        if (oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
        p += 6;
    } else {
        return -1;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
    if (*p || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1] ||
        (v[1] == 2 && v[2] == 29 && !leap) || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return -1;
    /* Days from the civil date (proleptic Gregorian), so no time zone is involved. */
    int64_t y = v[0] - (v[1] <= 2), era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400, mp = (v[1] + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + v[2] - 1, doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *ms = ((days * 86400 + v[3] * 3600 + v[4] * 60 + v[5]) - off) * 1000 + frac;
    return 0;
}

static int text_ok(const json_t *j, size_t max)
{
    const char *s = json_string_value(j);
    if (!s || strlen(s) != json_string_length(j) || strlen(s) > max)
        return 0;
    return 1;
}

static int no_controls(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* A finite number >= 0 from member key of o. -1 if absent or null (when allowed), -2 if bad. */
static int number_member(const json_t *o, const char *key, double *out)
{
    const json_t *j = json_object_get(o, key);
    if (!j || json_is_null(j))
        return -1;
    if (!json_is_number(j))
        return -2;
    double d = json_number_value(j);
    if (!isfinite(d) || d < 0)
        return -2;
    *out = d;
    return 0;
}

void fleet_agent_result_clear(struct fleet_agent_result *r)
{
    free(r->id);
    free(r->device);
    free(r->model_sha256);
    free(r->framework);
    free(r->job);
    free(r->started);
    free(r->finished);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        fleet_errf(err, errlen, __VA_ARGS__);                                                      \
        goto bad;                                                                                  \
    } while (0)

enum fleet_err fleet_agent_result_parse(const json_t *j, struct fleet_agent_result *r, char *err,
                                        size_t errlen)
{
    const json_t *m;
    const char *s;
    memset(r, 0, sizeof(*r));
    if (!json_is_object(j))
        BAD("a result must be a JSON object");
    m = json_object_get(j, "id");
    if (!text_ok(m, FLEET_AGENT_MAX_ID) || !*(s = json_string_value(m)) || !no_controls(s))
        BAD("id: must be a non-empty string of at most %d bytes without control characters",
            FLEET_AGENT_MAX_ID);
    r->id = strdup(s);
    m = json_object_get(j, "device");
    if (!text_ok(m, FLEET_AGENT_MAX_URL) || !iri_ok(json_string_value(m)))
        BAD("device: must be the board's Thing Description id (an absolute IRI)");
    r->device = strdup(json_string_value(m));
    m = json_object_get(j, "model_sha256");
    s = json_string_value(m);
    if (!s || json_string_length(m) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64)
        BAD("model_sha256: must be the SHA-256 of the model file as 64 hex digits");
    r->model_sha256 = strdup(s);
    if (r->model_sha256)
        for (char *p = r->model_sha256; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    m = json_object_get(j, "framework");
    if (!text_ok(m, 256) || !*json_string_value(m) || !no_controls(json_string_value(m)))
        BAD("framework: must be a non-empty string of at most 256 bytes (e.g. \"tflm\")");
    r->framework = strdup(json_string_value(m));
    m = json_object_get(j, "status");
    s = json_string_value(m);
    if (!s || (strcmp(s, "ok") != 0 && strcmp(s, "failed") != 0))
        BAD("status: must be \"ok\" or \"failed\"");
    r->ok = strcmp(s, "ok") == 0;
    m = json_object_get(j, "runs");
    if (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 1000000000000LL)
        BAD("runs: must be an integer >= 0");
    r->runs = (int64_t)json_integer_value(m);
    if (r->ok && r->runs < 1)
        BAD("runs: an \"ok\" result summarises at least one run");
    m = json_object_get(j, "latency_ms");
    if (m && !json_is_null(m)) {
        static const char *const keys[] = {"median", "p90", "min", "max"};
        double *dst[] = {&r->lat_median, &r->lat_p90, &r->lat_min, &r->lat_max};
        if (!json_is_object(m))
            BAD("latency_ms: must be an object {\"median\", \"p90\", \"min\", \"max\"}");
        for (int k = 0; k < 4; k++)
            if (number_member(m, keys[k], dst[k]) != 0)
                BAD("latency_ms.%s: must be a number >= 0 (milliseconds)", keys[k]);
        if (r->lat_min > r->lat_median || r->lat_median > r->lat_p90 || r->lat_p90 > r->lat_max)
            BAD("latency_ms: needs min <= median <= p90 <= max");
        r->has_latency = 1;
    } else if (r->ok) {
        BAD("latency_ms: required for an \"ok\" result");
    }
    m = json_object_get(j, "arena_bytes");
    if (m && !json_is_null(m)) {
        if (!json_is_integer(m) || json_integer_value(m) < 0)
            BAD("arena_bytes: must be an integer >= 0 or null");
        r->has_arena = 1;
        r->arena_bytes = (int64_t)json_integer_value(m);
    }
    int k = number_member(j, "energy_uj", &r->energy_uj);
    if (k == -2)
        BAD("energy_uj: must be a number >= 0 (microjoules per inference) or null");
    r->has_energy = k == 0;
    k = number_member(j, "accuracy", &r->accuracy);
    if (k == -2 || (k == 0 && r->accuracy > 100))
        BAD("accuracy: must be a number from 0 to 100 (Top-1, percent) or null");
    r->has_accuracy = k == 0;
    m = json_object_get(j, "started");
    if (!text_ok(m, 64) || parse_time(json_string_value(m), &r->started_ms) != 0)
        BAD("started: must be an RFC 3339 date-time with a time zone");
    r->started = strdup(json_string_value(m));
    m = json_object_get(j, "finished");
    if (!text_ok(m, 64) || parse_time(json_string_value(m), &r->finished_ms) != 0)
        BAD("finished: must be an RFC 3339 date-time with a time zone");
    r->finished = strdup(json_string_value(m));
    if (r->finished_ms < r->started_ms)
        BAD("finished: is before started");
    m = json_object_get(j, "error");
    if (m && !json_is_null(m)) {
        if (!json_is_string(m) || strlen(json_string_value(m)) != json_string_length(m))
            BAD("error: must be a string or null");
        size_t n = json_string_length(m);
        if (n > FLEET_AGENT_MAX_ERROR) {
            /* keep the head, cut at a character boundary */
            n = FLEET_AGENT_MAX_ERROR;
            while (n > 0 && ((unsigned char)json_string_value(m)[n] & 0xC0) == 0x80)
                n--;
        }
        r->error = strndup(json_string_value(m), n);
        if (!r->error)
            goto nomem;
    }
    m = json_object_get(j, "job");
    if (m && !json_is_null(m)) {
        if (!text_ok(m, 64) || !no_controls(json_string_value(m)))
            BAD("job: must be the job id from runBenchmark (a string) or null");
        r->job = strdup(json_string_value(m));
        if (!r->job)
            goto nomem;
    }
    if (!r->id || !r->device || !r->model_sha256 || !r->framework || !r->started || !r->finished)
        goto nomem;
    return FLEET_OK;
bad:
    fleet_agent_result_clear(r);
    return FLEET_ERR_INVAL;
nomem:
    fleet_agent_result_clear(r);
    return FLEET_ERR_NOMEM;
}
#undef BAD

json_t *fleet_agent_result_json(const struct fleet_agent_result *r)
{
    json_t *j = json_object();
    if (!j)
        return NULL;
    json_object_set_new(j, "id", json_string(r->id));
    json_object_set_new(j, "device", json_string(r->device));
    json_object_set_new(j, "model_sha256", json_string(r->model_sha256));
    json_object_set_new(j, "framework", json_string(r->framework));
    json_object_set_new(j, "runs", json_integer((json_int_t)r->runs));
    if (r->has_latency) {
        json_t *l = json_object();
        json_object_set_new(l, "median", json_real(r->lat_median));
        json_object_set_new(l, "p90", json_real(r->lat_p90));
        json_object_set_new(l, "min", json_real(r->lat_min));
        json_object_set_new(l, "max", json_real(r->lat_max));
        json_object_set_new(j, "latency_ms", l);
    } else {
        json_object_set_new(j, "latency_ms", json_null());
    }
    json_object_set_new(j, "arena_bytes",
                        r->has_arena ? json_integer((json_int_t)r->arena_bytes) : json_null());
    json_object_set_new(j, "energy_uj", r->has_energy ? json_real(r->energy_uj) : json_null());
    json_object_set_new(j, "accuracy", r->has_accuracy ? json_real(r->accuracy) : json_null());
    json_object_set_new(j, "started", json_string(r->started));
    json_object_set_new(j, "finished", json_string(r->finished));
    json_object_set_new(j, "status", json_string(r->ok ? "ok" : "failed"));
    json_object_set_new(j, "error", r->error ? json_string(r->error) : json_null());
    json_object_set_new(j, "job", r->job ? json_string(r->job) : json_null());
    return j;
}

void fleet_agent_reply_clear(struct fleet_agent_reply *reply)
{
    for (size_t i = 0; i < reply->n; i++)
        fleet_agent_result_clear(&reply->results[i]);
    for (size_t i = 0; i < reply->n_rejected; i++)
        free(reply->rejected[i].id);
    free(reply->results);
    free(reply->rejected);
    free(reply->next);
    memset(reply, 0, sizeof(*reply));
}

enum fleet_err fleet_agent_reply_parse(const char *text, size_t len,
                                       struct fleet_agent_reply *reply, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text ? text : "", len, 0, &jerr);
    enum fleet_err rc = FLEET_ERR_INVAL;
    if (!json_is_object(doc)) {
        fleet_errf(err, errlen, "results: the reply is not a JSON object%s%s", doc ? "" : ": ",
                   doc ? "" : jerr.text);
        goto out;
    }
    const json_t *results = json_object_get(doc, "results");
    const json_t *next = json_object_get(doc, "next");
    if (!json_is_array(results)) {
        fleet_errf(err, errlen, "results: the reply has no \"results\" array");
        goto out;
    }
    size_t n = json_array_size(results);
    if (n > FLEET_AGENT_MAX_RESULTS) {
        fleet_errf(err, errlen, "results: %zu results in one reply, at most %d", n,
                   FLEET_AGENT_MAX_RESULTS);
        goto out;
    }
    if (next && !json_is_null(next) &&
        (!text_ok(next, FLEET_AGENT_MAX_CURSOR) || !no_controls(json_string_value(next)))) {
        fleet_errf(err, errlen, "results: \"next\" must be a cursor string of at most %d bytes",
                   FLEET_AGENT_MAX_CURSOR);
        goto out;
    }
    if (n && (!next || json_is_null(next))) {
        fleet_errf(err, errlen, "results: \"next\" (the cursor) is missing");
        goto out;
    }
    reply->results = calloc(n + 1, sizeof(*reply->results));
    reply->rejected = calloc(n + 1, sizeof(*reply->rejected));
    if (!reply->results || !reply->rejected)
        goto nomem;
    if (next && !json_is_null(next) && !(reply->next = strdup(json_string_value(next))))
        goto nomem;
    size_t i;
    json_t *e;
    json_array_foreach(results, i, e)
    {
        char msg[256];
        enum fleet_err r = fleet_agent_result_parse(e, &reply->results[reply->n], msg, sizeof(msg));
        if (r == FLEET_OK) {
            reply->n++;
            continue;
        }
        if (r == FLEET_ERR_NOMEM)
            goto nomem;
        struct fleet_agent_rejected *rj = &reply->rejected[reply->n_rejected++];
        const json_t *id = json_object_get(e, "id");
        if (text_ok(id, FLEET_AGENT_MAX_ID) && no_controls(json_string_value(id)))
            rj->id = strdup(json_string_value(id));
        snprintf(rj->message, sizeof(rj->message), "results[%zu]: %s", i, msg);
    }
    rc = FLEET_OK;
    goto out;
nomem:
    rc = FLEET_ERR_NOMEM;
    fleet_errf(err, errlen, "out of memory");
out:
    if (rc != FLEET_OK)
        fleet_agent_reply_clear(reply);
    json_decref(doc);
    return rc;
}

void fleet_agent_id(const char *td_url, char id[17])
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(td_url), (const uint8_t *)td_url);
    sha256_digest(&ctx, sizeof(digest), digest);
    for (int i = 0; i < 8; i++)
        snprintf(id + 2 * i, 3, "%02x", digest[i]);
}
