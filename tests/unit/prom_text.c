/* SPDX-License-Identifier: MIT */
/* See prom_text.h. One pass over the lines builds the samples and the families (name, type,
 * first and last sample); the histogram rules are checked per family at the end. */
#include "prom_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct family {
    char *name;
    char type[16]; /* "" until a TYPE line; untyped if none comes */
    int has_help;
    int closed; /* another family's sample or comment came after this one's samples */
    int has_samples;
    size_t first, last; /* sample indexes */
};

struct parser {
    struct prom_text *out;
    struct family *fam;
    size_t nfam, capfam, capsamples;
    long current; /* the family whose block is open, or -1 */
    unsigned long line;
    char *err;
    size_t errlen;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "line %lu: %s", p->line, msg);
    return -1;
}

static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i], n, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return 0;
        if (len - i <= n)
            return 0;
        for (unsigned k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

static int is_name_start(char c, int colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static int is_name_char(char c, int colon)
{
    return is_name_start(c, colon) || (c >= '0' && c <= '9');
}

/* Length of the metric (colon = 1) or label name at s, 0 if none. */
static size_t name_len(const char *s, int colon)
{
    size_t n = 0;
    if (!is_name_start(s[0], colon))
        return 0;
    while (is_name_char(s[n], colon))
        n++;
    return n;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A float as Go's strconv.ParseFloat takes it, decimal only (no hex, no underscores). */
static int parse_value(const char *s, double *out)
{
    const char *p = s;
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return 0;
    }
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcmp(s, "-Inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    if (*p == '+' || *p == '-')
        p++;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (!digits)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return -1;
    *out = strtod(s, NULL);
    return 0;
}

static struct family *family_get(struct parser *p, const char *name, size_t len, int create)
{
    for (size_t i = 0; i < p->nfam; i++)
        if (strlen(p->fam[i].name) == len && strncmp(p->fam[i].name, name, len) == 0)
            return &p->fam[i];
    if (!create)
        return NULL;
    if (p->nfam == p->capfam) {
        size_t nc = p->capfam ? p->capfam * 2 : 32;
        struct family *f = realloc(p->fam, nc * sizeof(*f));
        if (!f)
            return NULL;
        p->fam = f;
        p->capfam = nc;
    }
    struct family *f = &p->fam[p->nfam++];
    memset(f, 0, sizeof(*f));
    f->name = strndup(name, len);
    return f->name ? f : NULL;
}

/* The family a sample called name belongs to: its own TYPE, else the histogram or summary whose
 * _bucket/_sum/_count it is, else an untyped family of its own. */
static struct family *family_of_sample(struct parser *p, const char *name)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    struct family *f = family_get(p, name, strlen(name), 0);
    if (f && f->type[0])
        return f;
    for (size_t i = 0; i < 3; i++) {
        if (!ends_with(name, suffixes[i]))
            continue;
        size_t base = strlen(name) - strlen(suffixes[i]);
        struct family *h = family_get(p, name, base, 0);
        if (h && (strcmp(h->type, "histogram") == 0 || (strcmp(h->type, "summary") == 0 && i > 0)))
            return h;
    }
    return f ? f : family_get(p, name, strlen(name), 1);
}

/* Makes f the open block; a family whose block was closed cannot open again. */
static int enter_family(struct parser *p, struct family *f)
{
    long idx = (long)(f - p->fam);
    if (p->current == idx)
        return 0;
    if (f->closed)
        return fail(p, "%s: the family's lines are not together (it appeared before)", f->name);
    if (p->current >= 0 && p->fam[p->current].has_samples)
        p->fam[p->current].closed = 1;
    p->current = idx;
    return 0;
}

static int comment_line(struct parser *p, char *line)
{
    char *q = line + 1;
    if (*q != ' ')
        return 0; /* "#..." is a plain comment */
    q++;
    int help = strncmp(q, "HELP ", 5) == 0, type = strncmp(q, "TYPE ", 5) == 0;
    if (!help && !type)
        return 0;
    q += 5;
    size_t n = name_len(q, 1);
    if (!n || (q[n] != ' ' && q[n] != '\0'))
        return fail(p, "# %s: bad metric name", help ? "HELP" : "TYPE");
    struct family *f = family_get(p, q, n, 1);
    if (!f)
        return fail(p, "out of memory");
    if (f->has_samples)
        return fail(p, "%s: # %s after the family's samples", f->name, help ? "HELP" : "TYPE");
    if (enter_family(p, f) != 0)
        return -1;
    q += n;
    if (help) {
        if (f->has_help)
            return fail(p, "%s: a second # HELP", f->name);
        f->has_help = 1;
        if (*q == ' ')
            q++;
        for (; *q; q++) {
            if (*q == '\\' && q[1] != '\\' && q[1] != 'n')
                return fail(p, "%s: HELP has an escape other than \\\\ and \\n", f->name);
            if (*q == '\\')
                q++;
        }
        return 0;
    }
    if (f->type[0])
        return fail(p, "%s: a second # TYPE", f->name);
    if (*q != ' ')
        return fail(p, "%s: # TYPE without a type", f->name);
    q++;
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    for (size_t i = 0; i < 5; i++) {
        if (strcmp(q, types[i]) == 0) {
            snprintf(f->type, sizeof(f->type), "%s", types[i]);
            if (i == 0 && !ends_with(f->name, "_total"))
                return fail(p, "%s: a counter's name should end in _total", f->name);
            return 0;
        }
    }
    return fail(p, "%s: unknown type \"%s\"", f->name, q);
}

static int add_sample(struct parser *p, struct prom_sample *s)
{
    struct prom_text *out = p->out;
    if (out->n == p->capsamples) {
        size_t nc = p->capsamples ? p->capsamples * 2 : 128;
        struct prom_sample *ns = realloc(out->samples, nc * sizeof(*ns));
        if (!ns)
            return -1;
        out->samples = ns;
        p->capsamples = nc;
    }
    out->samples[out->n++] = *s;
    return 0;
}

static void sample_free(struct prom_sample *s)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        free(s->labels[i].name);
        free(s->labels[i].value);
    }
    free(s->labels);
    free(s->name);
}

/* 1 if a and b have the same name and label set, ignoring the label called skip (or none). */
static int same_series(const struct prom_sample *a, const struct prom_sample *b, const char *skip)
{
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < a->nlabels; i++)
        if (!skip || strcmp(a->labels[i].name, skip) != 0)
            na++;
    for (size_t i = 0; i < b->nlabels; i++)
        if (!skip || strcmp(b->labels[i].name, skip) != 0)
            nb++;
    if (na != nb)
        return 0;
    for (size_t i = 0; i < a->nlabels; i++) {
        if (skip && strcmp(a->labels[i].name, skip) == 0)
            continue;
        size_t j = 0;
        while (j < b->nlabels && strcmp(a->labels[i].name, b->labels[j].name) != 0)
            j++;
        if (j == b->nlabels || strcmp(a->labels[i].value, b->labels[j].value) != 0)
            return 0;
    }
    return 1;
}

static const char *label_of(const struct prom_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return NULL;
}

static int sample_line(struct parser *p, char *line)
{
    struct prom_sample s = {0};
    size_t n = name_len(line, 1);
    char *q = line + n;
    if (!n)
        return fail(p, "a sample must start with a metric name");
    s.name = strndup(line, n);
    if (!s.name)
        return fail(p, "out of memory");
    if (*q == '{') {
        q++;
        while (*q != '}') {
            size_t ln = name_len(q, 0);
            if (!ln || q[ln] != '=' || q[ln + 1] != '"') {
                sample_free(&s);
                return fail(p, "%s: bad label (name=\"value\" expected)", line);
            }
            if (ln >= 2 && q[0] == '_' && q[1] == '_') {
                sample_free(&s);
                return fail(p, "label names starting with __ are reserved");
            }
            struct prom_label l = {strndup(q, ln), NULL};
            q += ln + 2;
            char *v = malloc(strlen(q) + 1);
            size_t k = 0;
            if (!v || !l.name) {
                free(v);
                free(l.name);
                sample_free(&s);
                return fail(p, "out of memory");
            }
            for (; *q && *q != '"'; q++) {
                if (*q == '\\') {
                    q++;
                    if (*q == '\\' || *q == '"')
                        v[k++] = *q;
                    else if (*q == 'n')
                        v[k++] = '\n';
                    else
                        break;
                } else {
                    v[k++] = *q;
                }
            }
            v[k] = '\0';
            l.value = v;
            struct prom_label *nl = realloc(s.labels, (s.nlabels + 1) * sizeof(*nl));
            if (!nl) {
                free(l.name);
                free(l.value);
                sample_free(&s);
                return fail(p, "out of memory");
            }
            s.labels = nl;
            s.labels[s.nlabels++] = l;
            if (*q != '"') {
                sample_free(&s);
                return fail(p, "%s: label value not closed, or a bad escape", line);
            }
            q++;
            for (size_t i = 0; i + 1 < s.nlabels; i++)
                if (strcmp(s.labels[i].name, l.name) == 0) {
                    fail(p, "label %s given twice", l.name);
                    sample_free(&s);
                    return -1;
                }
            if (*q == ',')
                q++;
            else if (*q != '}') {
                sample_free(&s);
                return fail(p, "',' or '}' expected after a label");
            }
        }
        q++;
    }
    if (*q != ' ') {
        fail(p, "a space and a value expected after %s", s.name);
        sample_free(&s);
        return -1;
    }
    q++;
    char *ts = strchr(q, ' ');
    if (ts) {
        *ts++ = '\0';
        char *e = ts + (*ts == '-');
        if (!*e || strspn(e, "0123456789") != strlen(e)) {
            sample_free(&s);
            return fail(p, "bad timestamp \"%s\"", ts);
        }
    }
    if (parse_value(q, &s.value) != 0) {
        sample_free(&s);
        return fail(p, "bad value \"%s\"", q);
    }

    struct family *f = family_of_sample(p, s.name);
    if (!f || enter_family(p, f) != 0) {
        sample_free(&s);
        return f ? -1 : fail(p, "out of memory");
    }
    if (strcmp(f->type, "counter") == 0 && (isnan(s.value) || s.value < 0)) {
        sample_free(&s);
        return fail(p, "counter %s is negative or NaN", f->name);
    }
    if (strcmp(f->type, "histogram") == 0) {
        int bucket = ends_with(s.name, "_bucket") && strlen(s.name) == strlen(f->name) + 7;
        if (!bucket && strcmp(s.name + strlen(f->name), "_sum") != 0 &&
            strcmp(s.name + strlen(f->name), "_count") != 0) {
            fail(p, "histogram %s: sample %s is not _bucket, _sum or _count", f->name, s.name);
            sample_free(&s);
            return -1;
        }
        if (bucket != (label_of(&s, "le") != NULL)) {
            sample_free(&s);
            return fail(p, "histogram %s: le belongs on _bucket samples only", f->name);
        }
    }
    for (size_t i = 0; i < p->out->n; i++) {
        if (same_series(&p->out->samples[i], &s, NULL) &&
            strcmp(p->out->samples[i].name, s.name) == 0) {
            sample_free(&s);
            return fail(p, "series %s given twice", line);
        }
    }
    if (!f->has_samples)
        f->first = p->out->n;
    f->has_samples = 1;
    f->last = p->out->n;
    if (add_sample(p, &s) != 0) {
        sample_free(&s);
        return fail(p, "out of memory");
    }
    return 0;
}

/* Buckets increasing in le and cumulative, +Inf last and equal to _count, _sum present. */
static int check_histogram(struct parser *p, const struct family *f)
{
    const struct prom_text *t = p->out;
    char bucket[256], sum[256], count[256];
    snprintf(bucket, sizeof(bucket), "%s_bucket", f->name);
    snprintf(sum, sizeof(sum), "%s_sum", f->name);
    snprintf(count, sizeof(count), "%s_count", f->name);
    for (size_t i = f->first; i <= f->last; i++) {
        const struct prom_sample *s = &t->samples[i];
        if (strcmp(s->name, count) != 0)
            continue;
        double prev_le = -INFINITY, prev = 0, inf = NAN;
        int has_sum = 0, nb = 0;
        for (size_t j = f->first; j <= f->last; j++) {
            const struct prom_sample *b = &t->samples[j];
            if (strcmp(b->name, sum) == 0 && same_series(b, s, NULL))
                has_sum = 1;
            if (strcmp(b->name, bucket) != 0 || !same_series(b, s, "le"))
                continue;
            double le;
            if (parse_value(label_of(b, "le"), &le) != 0 || isnan(le))
                return fail(p, "%s: bad le \"%s\"", bucket, label_of(b, "le"));
            if (le <= prev_le)
                return fail(p, "%s: le %g after %g (buckets must increase)", bucket, le, prev_le);
            if (b->value < prev)
                return fail(p, "%s: le %g holds %g, less than the bucket below (%g)", bucket, le,
                            b->value, prev);
            prev_le = le;
            prev = b->value;
            nb++;
            if (isinf(le))
                inf = b->value;
        }
        if (!nb || !isinf(prev_le))
            return fail(p, "%s: a series without a le=\"+Inf\" bucket", bucket);
        if (inf != s->value)
            return fail(p, "%s: _count %g differs from the +Inf bucket %g", f->name, s->value, inf);
        if (!has_sum)
            return fail(p, "%s: a series without _sum", f->name);
    }
    for (size_t i = f->first; i <= f->last; i++) {
        const struct prom_sample *s = &t->samples[i];
        if (strcmp(s->name, count) == 0)
            continue;
        int found = 0;
        for (size_t j = f->first; j <= f->last && !found; j++)
            found = strcmp(t->samples[j].name, count) == 0 && same_series(&t->samples[j], s, "le");
        if (!found)
            return fail(p, "%s: a series without _count", f->name);
    }
    return 0;
}

int prom_parse(const char *text, size_t len, struct prom_text *out, char *err, size_t errlen)
{
    struct parser p = {out, NULL, 0, 0, 0, -1, 0, err, errlen};
    int rc = -1;
    memset(out, 0, sizeof(*out));
    char *copy = malloc(len + 1);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (len == 0 || strlen(copy) != len || copy[len - 1] != '\n') {
        snprintf(err, errlen, "the text is empty, holds a NUL byte or does not end in a newline");
        goto out;
    }
    if (!utf8_valid((const unsigned char *)copy, len)) {
        snprintf(err, errlen, "the text is not UTF-8");
        goto out;
    }
    for (char *line = copy, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        p.line++;
        if (strchr(line, '\r')) {
            fail(&p, "a carriage return");
            goto out;
        }
        if (*line == '\0')
            continue;
        if ((line[0] == '#' ? comment_line(&p, line) : sample_line(&p, line)) != 0)
            goto out;
    }
    for (size_t i = 0; i < p.nfam; i++) {
        if (strcmp(p.fam[i].type, "histogram") == 0 && p.fam[i].has_samples &&
            check_histogram(&p, &p.fam[i]) != 0)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < p.nfam; i++)
        free(p.fam[i].name);
    free(p.fam);
    free(copy);
    if (rc != 0)
        prom_free(out);
    return rc;
}

void prom_free(struct prom_text *p)
{
    for (size_t i = 0; i < p->n; i++)
        sample_free(&p->samples[i]);
    free(p->samples);
    p->samples = NULL;
    p->n = 0;
}

/* 1 if s carries each name, value pair of ap (NULL-terminated); *npairs gets their number. */
static int has_pairs(const struct prom_sample *s, va_list ap, size_t *npairs)
{
    int ok = 1;
    *npairs = 0;
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *), *have = label_of(s, k);
        (*npairs)++;
        if (!have || strcmp(have, v) != 0)
            ok = 0;
    }
    return ok;
}

int prom_get(const struct prom_text *p, const char *name, double *value, ...)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct prom_sample *s = &p->samples[i];
        size_t npairs;
        va_list ap;
        if (strcmp(s->name, name) != 0)
            continue;
        va_start(ap, value);
        int ok = has_pairs(s, ap, &npairs);
        va_end(ap);
        if (ok && npairs == s->nlabels) {
            *value = s->value;
            return 1;
        }
    }
    return 0;
}

double prom_sum(const struct prom_text *p, const char *name, size_t *count, ...)
{
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct prom_sample *s = &p->samples[i];
        size_t npairs;
        va_list ap;
        if (strcmp(s->name, name) != 0)
            continue;
        va_start(ap, count);
        int ok = has_pairs(s, ap, &npairs);
        va_end(ap);
        if (ok) {
            sum += s->value;
            n++;
        }
    }
    if (count)
        *count = n;
    return sum;
}
