/* SPDX-License-Identifier: MIT */
/* A strict reader of the Prometheus text exposition format (version 0.0.4), for the tests of
 * GET /metrics: check_metrics feeds it the writer's output, test_ops a real scrape. It refuses
 * what Prometheus would refuse and what promtool's lint flags as wrong, so a test passes only on
 * a page a scraper takes as it is:
 *   - lines end in '\n', the text is UTF-8 and ends in '\n';
 *   - "# HELP" and "# TYPE" at most once per family, TYPE before the family's first sample, types
 *     counter, gauge, histogram, summary, untyped;
 *   - metric and label names by the format's grammar, no label name starting "__", no label
 *     twice in a sample, label values quoted with only \\, \" and \n escapes;
 *   - values as Go's ParseFloat reads them (NaN, +Inf, -Inf included), optional integer
 *     timestamps;
 *   - a family's samples in one block (no interleaving), no series twice;
 *   - counters never negative or NaN, and named ..._total;
 *   - histograms: only _bucket (with le), _sum and _count samples; per series the buckets in
 *     increasing le, cumulative (never decreasing), ending at le="+Inf" equal to _count.
 * Written for the tests; no code from Prometheus. */
#ifndef PROM_TEXT_H
#define PROM_TEXT_H

#include <stddef.h>

struct prom_label {
    char *name, *value; /* value unescaped */
};

struct prom_sample {
    char *name;
    struct prom_label *labels; /* in the order of the text */
    size_t nlabels;
    double value;
};

struct prom_text {
    struct prom_sample *samples;
    size_t n;
};

/* Parses text[0..len). Returns 0, or -1 with "line N: what is wrong" in err (out is then empty).
 * Free out with prom_free either way. */
int prom_parse(const char *text, size_t len, struct prom_text *out, char *err, size_t errlen);
void prom_free(struct prom_text *p);

/* The value of the sample called name whose labels are exactly the NULL-terminated name, value
 * pairs that follow (in any order). Returns 1 and sets *value if there is one, else 0. */
int prom_get(const struct prom_text *p, const char *name, double *value, ...);
/* The sum of the values of the samples called name that carry every pair given (and maybe
 * more labels), and in *count how many there were (count may be NULL). */
double prom_sum(const struct prom_text *p, const char *name, size_t *count, ...);

#endif
