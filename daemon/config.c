/* SPDX-License-Identifier: MIT */
/* tinyfleetd configuration: reads "key value" lines and sets struct fleet_config fields through one
 * {name, parser, offset} table, so adding a key is one table row and every key gets the same
 * checks (missing value, duplicate, bad value, too long) and the same "FILE:LINE: key: ..."
 * messages. Parsers validate the whole value before they store it, and fleet_config_load works on
 * a copy, so a failed load (e.g. on SIGHUP) leaves the caller's config untouched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"
#include "arena.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/tinyfleet"
#endif

#define MS_PER_DAY (24ULL * 60 * 60 * 1000)
/* Longer than any valid line (the longest value is a path); stops a stray binary file early. */
#define LINE_MAX_BYTES (FLEET_PATH_MAX + 1024)
#define QUOTE_MAX 64

struct key;
/* Parses value into field (which it writes only on success). On failure writes what was wrong
 * into msg (borrowed), e.g. "bad value \"x\": expected ...", and returns -1. */
typedef int (*parse_fn)(const struct key *k, const char *value, void *field, char *msg,
                        size_t msglen);

struct key {
    const char *name;
    parse_fn parse;
    size_t offset;      /* of the field in struct fleet_config */
    size_t size;        /* of the field; for strings, the buffer length */
    uint64_t min, max;  /* accepted range, for numeric keys */
    const char *expect; /* what a good value looks like */
};

/* Copies s into dst for a message: at most QUOTE_MAX bytes, control bytes shown as '?', so a
 * hostile or binary value cannot forge terminal or log output. */
static void quote(char *dst, size_t dstlen, const char *s)
{
    size_t i = 0;
    for (; *s && i + 4 < dstlen && i < QUOTE_MAX; s++)
        dst[i++] = (*s >= 0 && *s < 0x20) || *s == 0x7f ? '?' : *s;
    if (*s && i + 4 <= dstlen) {
        memcpy(dst + i, "...", 3);
        i += 3;
    }
    dst[i] = '\0';
}

static void bad_value(const struct key *k, const char *value, char *msg, size_t msglen)
{
    char q[QUOTE_MAX + 8];
    quote(q, sizeof(q), value);
    fleet_errf(msg, msglen, "bad value \"%s\": expected %s", q, k->expect);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Parses a run of decimal digits at s (no sign, no leading space: strtoull would accept "-1" and
 * wrap it). Sets *end past the digits. Returns -1 if there is no digit or on overflow. */
static int parse_digits(const char *s, uint64_t *out, const char **end)
{
    char *e;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno == ERANGE || e == s)
        return -1;
    *out = v;
    *end = e;
    return 0;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static int parse_string(const struct key *k, const char *value, void *field, char *msg,
                        size_t msglen)
{
    size_t len = strlen(value);
    if (len >= k->size) {
        fleet_errf(msg, msglen, "value is %zu bytes long, at most %zu allowed", len, k->size - 1);
        return -1;
    }
    memcpy(field, value, len + 1);
    return 0;
}

/* Splits "HOST:PORT" or "[IPV6]:PORT". HOST is a hostname or dotted IPv4 address; an IPv6 address
 * must be bracketed because its colons would make the port ambiguous. */
static int split_listen(const char *s, char *host, size_t hostlen, unsigned *port)
{
    const char *h, *colon;
    size_t hlen;
    uint64_t p;
    const char *end;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        char tmp[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        hlen = (size_t)(close - h);
        if (hlen == 0 || hlen >= sizeof(tmp))
            return -1;
        memcpy(tmp, h, hlen);
        tmp[hlen] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return -1;
        colon = close + 1;
    } else {
        int numeric = 1;
        colon = strchr(s, ':');
        if (!colon || strchr(colon + 1, ':'))
            return -1;
        h = s;
        hlen = (size_t)(colon - s);
        if (hlen == 0)
            return -1;
        for (size_t i = 0; i < hlen; i++) {
            unsigned char c = (unsigned char)h[i];
            if (!isalnum(c) && c != '.' && c != '-')
                return -1;
            if (!isdigit(c) && c != '.')
                numeric = 0;
        }
        if (numeric) { /* looks like an IPv4 address, so it must be one */
            char tmp[INET_ADDRSTRLEN];
            struct in_addr a4;
            if (hlen >= sizeof(tmp))
                return -1;
            memcpy(tmp, h, hlen);
            tmp[hlen] = '\0';
            if (inet_pton(AF_INET, tmp, &a4) != 1)
                return -1;
        }
    }
    if (parse_digits(colon + 1, &p, &end) != 0 || *end != '\0' || p > 65535)
        return -1;
    if (!host || hlen >= hostlen)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (port)
        *port = (unsigned)p;
    return 0;
}

static int parse_listen(const struct key *k, const char *value, void *field, char *msg,
                        size_t msglen)
{
    char host[256];
    unsigned port;
    if (strlen(value) >= k->size)
        return parse_string(k, value, field, msg, msglen);
    if (split_listen(value, host, sizeof(host), &port) != 0) {
        bad_value(k, value, msg, msglen);
        return -1;
    }
    return parse_string(k, value, field, msg, msglen);
}

/* "*" or "scheme://host[:port]": the value goes verbatim into Access-Control-Allow-Origin, and a
 * browser only matches a bare origin (no path, no trailing slash). */
static int parse_arena_profile(const struct key *k, const char *value, void *field, char *msg,
                               size_t msglen)
{
    if (!fleet_arena_profile_known(value)) {
        fleet_errf(msg, msglen, "unknown arena profile \"%s\"", value);
        return -1;
    }
    return parse_string(k, value, field, msg, msglen);
}

static int parse_origin(const struct key *k, const char *value, void *field, char *msg,
                        size_t msglen)
{
    const char *p;
    if (strlen(value) >= k->size)
        return parse_string(k, value, field, msg, msglen);
    if (strcmp(value, "*") == 0)
        return parse_string(k, value, field, msg, msglen);
    if (strncmp(value, "http://", 7) == 0)
        p = value + 7;
    else if (strncmp(value, "https://", 8) == 0)
        p = value + 8;
    else
        goto bad;
    if (*p == '\0' || *p == ':')
        goto bad;
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']')
            goto bad;
    }
    return parse_string(k, value, field, msg, msglen);
bad:
    bad_value(k, value, msg, msglen);
    return -1;
}

static int parse_bool(const struct key *k, const char *value, void *field, char *msg, size_t msglen)
{
    static const struct {
        const char *word;
        int value;
    } words[] = {{"yes", 1}, {"no", 0},  {"true", 1}, {"false", 0},
                 {"on", 1},  {"off", 0}, {"1", 1},    {"0", 0}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasecmp(value, words[i].word) == 0) {
            *(int *)field = words[i].value;
            return 0;
        }
    }
    bad_value(k, value, msg, msglen);
    return -1;
}

/* Seconds with optional decimals ("10", "2.5"), or a number with a unit: "500ms", "30s", "5m".
 * Rounds down to whole milliseconds. */
static int parse_duration(const struct key *k, const char *value, void *field, char *msg,
                          size_t msglen)
{
    uint64_t ip, frac = 0, den = 1, unit, ms;
    const char *p;

    if (parse_digits(value, &ip, &p) != 0)
        goto bad;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            goto bad;
        /* Digits past the ninth are below a nanosecond of a minute: read but ignored. */
        for (; isdigit((unsigned char)*p); p++) {
            if (den < 1000000000ULL) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                den *= 10;
            }
        }
    }
    p = skip_blanks(p);
    if (*p == '\0' || strcmp(p, "s") == 0)
        unit = 1000;
    else if (strcmp(p, "ms") == 0)
        unit = 1;
    else if (strcmp(p, "m") == 0)
        unit = 60000;
    else
        goto bad;
    if (ip > MS_PER_DAY / unit)
        goto bad;
    ms = ip * unit + frac * unit / den;
    if (ms < k->min || ms > k->max)
        goto bad;
    *(long *)field = (long)ms;
    return 0;
bad:
    bad_value(k, value, msg, msglen);
    return -1;
}

static int parse_u64(const struct key *k, const char *value, void *field, char *msg, size_t msglen)
{
    uint64_t v;
    const char *end;
    if (parse_digits(value, &v, &end) != 0 || *end != '\0' || v < k->min || v > k->max) {
        bad_value(k, value, msg, msglen);
        return -1;
    }
    *(uint64_t *)field = v;
    return 0;
}

static int parse_unsigned(const struct key *k, const char *value, void *field, char *msg,
                          size_t msglen)
{
    uint64_t v;
    const char *end;
    if (parse_digits(value, &v, &end) != 0 || *end != '\0' || v < k->min || v > k->max) {
        bad_value(k, value, msg, msglen);
        return -1;
    }
    *(unsigned *)field = (unsigned)v;
    return 0;
}

/* An integer with an optional K, M or G suffix (powers of 1024). */
static int parse_bytes(const struct key *k, const char *value, void *field, char *msg,
                       size_t msglen)
{
    uint64_t v;
    const char *p;
    unsigned shift;

    if (parse_digits(value, &v, &p) != 0)
        goto bad;
    p = skip_blanks(p);
    if (*p == '\0')
        shift = 0;
    else if ((*p == 'K' || *p == 'k') && p[1] == '\0')
        shift = 10;
    else if ((*p == 'M' || *p == 'm') && p[1] == '\0')
        shift = 20;
    else if ((*p == 'G' || *p == 'g') && p[1] == '\0')
        shift = 30;
    else
        goto bad;
    if (v > (UINT64_MAX >> shift))
        goto bad;
    v <<= shift;
    if (v < k->min || v > k->max)
        goto bad;
    *(uint64_t *)field = v;
    return 0;
bad:
    bad_value(k, value, msg, msglen);
    return -1;
}

/* An http or https URL without spaces: where the daemon tells agents to fetch from. */
static int parse_http_url(const struct key *k, const char *value, void *field, char *msg,
                          size_t msglen)
{
    const char *host = strncmp(value, "http://", 7) == 0    ? value + 7
                       : strncmp(value, "https://", 8) == 0 ? value + 8
                                                            : NULL;
    if (!host || !*host || *host == '/' || strpbrk(value, " \t\"<>{}|\\^`?#")) {
        bad_value(k, value, msg, msglen);
        return -1;
    }
    return parse_string(k, value, field, msg, msglen);
}

static int parse_storage(const struct key *k, const char *value, void *field, char *msg,
                         size_t msglen)
{
    if (strcmp(value, "embedded") == 0 || strcmp(value, "postgresql") == 0) {
        *(int *)field = strcmp(value, "postgresql") == 0;
        return 0;
    }
    bad_value(k, value, msg, msglen);
    return -1;
}

static int parse_log_level(const struct key *k, const char *value, void *field, char *msg,
                           size_t msglen)
{
    int level = fleet_log_level_parse(value);
    if (level < 0) {
        bad_value(k, value, msg, msglen);
        return -1;
    }
    *(int *)field = level;
    return 0;
}

#define F(member) offsetof(struct fleet_config, member), sizeof(((struct fleet_config *)0)->member)
#define DURATION_EXPECT "a duration > 0 and at most 1 day, such as 10, 2.5, 500ms, 30s or 5m"
#define SIZE_SUFFIXES "such as 1048576, 512K, 256M or 1G"

static const struct key keys[] = {
    {"listen", parse_listen, F(listen), 0, 0, "HOST:PORT or [IPV6]:PORT with PORT 0..65535"},
    {"state_dir", parse_string, F(state_dir), 0, 0, "a directory"},
    {"port_file", parse_string, F(port_file), 0, 0, "a file name"},
    {"token_file", parse_string, F(token_file), 0, 0, "a file name"},
    {"ontology_dir", parse_string, F(ontology_dir), 0, 0, "a directory"},
    {"sparql_dir", parse_string, F(sparql_dir), 0, 0, "a directory"},
    {"arena_profile", parse_arena_profile, F(arena_profile), 0, 0,
     "tflm-2020-ilp32 or tflm-2020-x86_64"},
    {"cors_origin", parse_origin, F(cors_origin), 0, 0,
     "\"*\" or an origin such as https://example.org"},
    {"require_read_token", parse_bool, F(require_read_token), 0, 1,
     "yes, no, true, false, on, off, 1 or 0"},
    {"sparql_service", parse_bool, F(allow_service), 0, 1, "yes, no, true, false, on, off, 1 or 0"},
    {"sparql_native_bgp", parse_bool, F(native_bgp), 0, 1, "yes, no, true, false, on, off, 1 or 0"},
    {"query_timeout", parse_duration, F(query_timeout_ms), 1, MS_PER_DAY, DURATION_EXPECT},
    {"shutdown_timeout", parse_duration, F(shutdown_timeout_ms), 1, MS_PER_DAY, DURATION_EXPECT},
    {"max_result_rows", parse_u64, F(max_result_rows), 1, UINT64_MAX, "a positive integer"},
    {"max_body_bytes", parse_bytes, F(max_body_bytes), 1024, UINT64_MAX,
     "a size of at least 1024 bytes, " SIZE_SUFFIXES},
    {"snapshot_journal_bytes", parse_bytes, F(snapshot_journal_bytes), 1, UINT64_MAX,
     "a size > 0, " SIZE_SUFFIXES},
    {"cache_bytes", parse_bytes, F(cache_bytes), 0, UINT64_MAX,
     "a size (0 turns the response cache off), " SIZE_SUFFIXES},
    {"http_threads", parse_unsigned, F(http_threads), 1, 256, "an integer from 1 to 256"},
    {"max_connections", parse_unsigned, F(max_connections), 1, 65536, "an integer from 1 to 65536"},
    {"event_log_size", parse_u64, F(event_log_size), 1, 1000000, "an integer from 1 to 1000000"},
    {"max_event_streams", parse_unsigned, F(max_event_streams), 1, 65536,
     "an integer from 1 to 65536"},
    {"thing_max_ttl", parse_u64, F(thing_max_ttl_s), 1, 10ULL * 366 * 24 * 3600,
     "a number of seconds from 1 to 316224000 (ten years)"},
    {"thing_page_limit", parse_unsigned, F(thing_page_limit), 1, 100000,
     "an integer from 1 to 100000"},
    {"agents_file", parse_string, F(agents_file), 0, 0, "a file name"},
    {"agent_interval", parse_duration, F(agent_interval_ms), 100, MS_PER_DAY,
     "a duration from 100ms to 1 day, such as 60, 30s or 5m"},
    {"agent_timeout", parse_duration, F(agent_timeout_ms), 1, MS_PER_DAY, DURATION_EXPECT},
    {"agent_max_backoff", parse_duration, F(agent_max_backoff_ms), 100, MS_PER_DAY,
     "a duration from 100ms to 1 day, such as 10m"},
    {"agent_max_reply", parse_bytes, F(agent_max_reply_bytes), 1024, 1ULL << 30,
     "a size from 1K to 1G, " SIZE_SUFFIXES},
    {"agent_concurrency", parse_unsigned, F(agent_concurrency), 1, 4096,
     "an integer from 1 to 4096"},
    {"agent_page_size", parse_unsigned, F(agent_page_size), 1, 10000,
     "an integer from 1 to 10000"},
    {"job_timeout", parse_duration, F(job_timeout_ms), 1000, MS_PER_DAY,
     "a duration from 1 s to 1 day, such as 3600 or 30m"},
    {"public_url", parse_http_url, F(public_url), 0, 0,
     "an http or https URL without query, such as https://fleet.example.org"},
    {"log_level", parse_log_level, F(log_level), 0, 0, "err, warning, notice, info or debug"},
    {"storage", parse_storage, F(storage_pg), 0, 0, "embedded or postgresql"},
    {"postgresql", parse_string, F(pg_conninfo), 0, 0,
     "a libpq connection string such as host=127.0.0.1 dbname=tinyfleet"},
    {"pg_poll_interval", parse_duration, F(pg_poll_ms), 1, MS_PER_DAY, DURATION_EXPECT},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

size_t fleet_config_key_count(void)
{
    return NKEYS;
}

const char *fleet_config_key_name(size_t i)
{
    return i < NKEYS ? keys[i].name : NULL;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Sets one key; where (borrowed) prefixes any message, e.g. "FILE:LINE". */
static int apply(struct fleet_config *cfg, const struct key *k, const char *value,
                 const char *where, char *err, size_t errlen)
{
    char msg[512];
    if (!value || *value == '\0') {
        fleet_errf(err, errlen, "%s: %s: missing value (expected %s)", where, k->name, k->expect);
        return -1;
    }
    if (k->parse(k, value, (char *)cfg + k->offset, msg, sizeof(msg)) != 0) {
        fleet_errf(err, errlen, "%s: %s: %s", where, k->name, msg);
        return -1;
    }
    return 0;
}

void fleet_config_defaults(struct fleet_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "%s", "127.0.0.1:8080");
    snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", "/var/lib/tinyfleet");
    snprintf(cfg->ontology_dir, sizeof(cfg->ontology_dir), "%s", PKGDATADIR "/ontology");
    snprintf(cfg->sparql_dir, sizeof(cfg->sparql_dir), "%s", PKGDATADIR "/sparql");
    snprintf(cfg->arena_profile, sizeof(cfg->arena_profile), "%s", FLEET_ARENA_PROFILE_ILP32);
    cfg->require_read_token = 0;
    cfg->allow_service = 0;
    cfg->native_bgp = 1;
    cfg->query_timeout_ms = 10000;
    cfg->shutdown_timeout_ms = 10000;
    cfg->max_result_rows = 100000;
    cfg->max_body_bytes = 256ULL << 20;
    cfg->snapshot_journal_bytes = 64ULL << 20;
    cfg->cache_bytes = 64ULL << 20;
    cfg->http_threads = 4;
    cfg->max_connections = 1024;
    cfg->event_log_size = 1000;
    cfg->max_event_streams = 64;
    cfg->thing_max_ttl_s = 24 * 3600;
    cfg->thing_page_limit = 100;
    cfg->agent_interval_ms = 60000;
    cfg->agent_timeout_ms = 10000;
    cfg->agent_max_backoff_ms = 600000;
    cfg->job_timeout_ms = 3600000;
    cfg->agent_max_reply_bytes = 8ULL << 20;
    cfg->agent_concurrency = 64;
    cfg->agent_page_size = 100;
    cfg->log_level = FLEET_LOG_INFO;
    cfg->storage_pg = 0;
    cfg->pg_poll_ms = 1000;
}

/* Cuts a comment ('#' at the start or after a blank) and trims; returns the first non-blank. */
static char *strip_line(char *line)
{
    for (char *p = line; *p; p++) {
        if (*p == '#' && (p == line || is_blank(p[-1]))) {
            *p = '\0';
            break;
        }
    }
    size_t len = strlen(line);
    while (len > 0 && is_blank(line[len - 1]))
        line[--len] = '\0';
    while (is_blank(*line))
        line++;
    return line;
}

int fleet_config_load(const char *path, struct fleet_config *cfg, char *err, size_t errlen)
{
    int rc = -1;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    unsigned long first_line[NKEYS] = {0};
    char where[FLEET_PATH_MAX + 32];
    struct fleet_config *work = malloc(sizeof(*work));

    if (!work) {
        fleet_errf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    *work = *cfg;
    f = fopen(path, "re");
    if (!f) {
        fleet_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        snprintf(where, sizeof(where), "%s:%lu", path, lineno);
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (strlen(line) != (size_t)n) {
            fleet_errf(err, errlen, "%s: line contains a NUL byte", where);
            goto out;
        }
        if (n > LINE_MAX_BYTES) {
            fleet_errf(err, errlen, "%s: line is longer than %d bytes", where, LINE_MAX_BYTES);
            goto out;
        }
        char *name = strip_line(line);
        if (*name == '\0')
            continue;
        char *value = name;
        while (*value && !is_blank(*value))
            value++;
        if (*value)
            *value++ = '\0';
        while (is_blank(*value))
            value++;

        const struct key *k = find_key(name);
        if (!k) {
            char q[QUOTE_MAX + 8];
            quote(q, sizeof(q), name);
            fleet_errf(err, errlen, "%s: unknown key \"%s\"", where, q);
            goto out;
        }
        size_t idx = (size_t)(k - keys);
        if (first_line[idx]) {
            fleet_errf(err, errlen, "%s: duplicate key \"%s\" (first set on line %lu)", where,
                       k->name, first_line[idx]);
            goto out;
        }
        first_line[idx] = lineno;
        if (apply(work, k, value, where, err, errlen) != 0)
            goto out;
    }
    if (ferror(f)) {
        fleet_errf(err, errlen, "%s: read error: %s", path, strerror(errno));
        goto out;
    }
    *cfg = *work;
    rc = 0;
out:
    free(line);
    if (f)
        fclose(f);
    free(work);
    return rc;
}

int fleet_config_set(struct fleet_config *cfg, const char *key, const char *value,
                     const char *where, char *err, size_t errlen)
{
    const struct key *k = key ? find_key(key) : NULL;
    if (!where)
        where = "command line";
    if (!k) {
        char q[QUOTE_MAX + 8];
        quote(q, sizeof(q), key ? key : "");
        fleet_errf(err, errlen, "%s: unknown key \"%s\"", where, q);
        return -1;
    }
    return apply(cfg, k, value, where, err, errlen);
}

int fleet_config_check(const struct fleet_config *cfg, char *err, size_t errlen)
{
    char host[256];
    unsigned port;
    char q[QUOTE_MAX + 8];

    if (memchr(cfg->listen, '\0', sizeof(cfg->listen)) == NULL ||
        split_listen(cfg->listen, host, sizeof(host), &port) != 0) {
        quote(q, sizeof(q), memchr(cfg->listen, '\0', sizeof(cfg->listen)) ? cfg->listen : "");
        fleet_errf(err, errlen, "listen: bad value \"%s\": expected %s", q, keys[0].expect);
        return -1;
    }
    if (cfg->state_dir[0] == '\0') {
        fleet_errf(err, errlen, "state_dir: must not be empty");
        return -1;
    }
    if (cfg->ontology_dir[0] == '\0') {
        fleet_errf(err, errlen, "ontology_dir: must not be empty");
        return -1;
    }
    if (cfg->query_timeout_ms <= 0 || (uint64_t)cfg->query_timeout_ms > MS_PER_DAY ||
        cfg->shutdown_timeout_ms <= 0 || (uint64_t)cfg->shutdown_timeout_ms > MS_PER_DAY) {
        fleet_errf(err, errlen, "query_timeout and shutdown_timeout must be > 0 and at most 1 day");
        return -1;
    }
    if (cfg->max_result_rows == 0 || cfg->max_body_bytes < 1024 ||
        cfg->snapshot_journal_bytes == 0) {
        fleet_errf(err, errlen,
                   "max_result_rows and snapshot_journal_bytes must be > 0, "
                   "max_body_bytes at least 1024");
        return -1;
    }
    if (cfg->http_threads < 1 || cfg->http_threads > 256 || cfg->max_connections < 1 ||
        cfg->max_connections > 65536) {
        fleet_errf(err, errlen, "http_threads must be 1..256 and max_connections 1..65536");
        return -1;
    }
    /* libmicrohttpd splits the connection limit across its pool threads; a thread whose share
     * is zero connections would never serve anything. */
    if (cfg->max_connections < cfg->http_threads) {
        fleet_errf(err, errlen, "max_connections (%u) is smaller than http_threads (%u)",
                   cfg->max_connections, cfg->http_threads);
        return -1;
    }
    if (cfg->storage_pg && cfg->pg_conninfo[0] == '\0') {
        fleet_errf(err, errlen, "storage postgresql needs a postgresql connection string");
        return -1;
    }
    if (cfg->log_level < FLEET_LOG_ERR || cfg->log_level > FLEET_LOG_DEBUG) {
        fleet_errf(err, errlen, "log_level: %d is not a log level", cfg->log_level);
        return -1;
    }
    return 0;
}

int fleet_config_listen(const struct fleet_config *cfg, char *host, size_t hostlen, unsigned *port)
{
    if (memchr(cfg->listen, '\0', sizeof(cfg->listen)) == NULL)
        return -1;
    return split_listen(cfg->listen, host, hostlen, port);
}
