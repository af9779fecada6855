/* SPDX-License-Identifier: MIT */
/* By-hand benchmark of lib/quadstore.c (not a test, not built by make): inserts N synthetic
 * quads (default 1M: 100k subjects x 10 quads, 50 predicates, objects half IRIs, a quarter
 * xsd:integer literals, a quarter language-tagged labels, 10 named graphs plus the default
 * graph), then prints the insert rate, fleet_qs_memory and RSS per quad, the cost of (s ? ?) and
 * (? p o) lookups, and snapshot save and load times.
 *
 *   gcc -std=c11 -D_GNU_SOURCE -O2 -Ilib bench/qs_bench.c lib/quadstore.c lib/buf.c lib/log.c \
 *       lib/err.c lib/crc32.c -o /tmp/qs_bench && /tmp/qs_bench [nquads] [snapshot-path]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "quadstore.h"

#define XSD_INTEGER "http://www.w3.org/2001/XMLSchema#integer"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static uint64_t rng = 88172645463325252ULL;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static fleet_tid intern(struct fleet_qs *qs, enum fleet_term_kind kind, const char *v,
                        const char *lang, const char *dt)
{
    struct fleet_term t = {kind, v, lang, dt};
    fleet_tid id = fleet_qs_intern(qs, &t);
    if (!id) {
        fprintf(stderr, "intern failed\n");
        exit(1);
    }
    return id;
}

/* The i-th synthetic quad, interned (the caller owns one reference per non-zero id). */
static void make_quad(struct fleet_qs *qs, uint32_t i, fleet_tid q[4])
{
    char buf[96];
    uint32_t s = i / 10, k = i % 10;

    snprintf(buf, sizeof(buf), "http://example.org/device/%u", s);
    q[0] = intern(qs, FLEET_TERM_IRI, buf, NULL, NULL);
    snprintf(buf, sizeof(buf), "http://example.org/vocab#prop%u", (s % 5) * 10 + k);
    q[1] = intern(qs, FLEET_TERM_IRI, buf, NULL, NULL);
    switch (k % 4) {
    case 0:
    case 1:
        snprintf(buf, sizeof(buf), "http://example.org/device/%u", rnd() % 100000);
        q[2] = intern(qs, FLEET_TERM_IRI, buf, NULL, NULL);
        break;
    case 2:
        snprintf(buf, sizeof(buf), "%u", rnd() % 100000);
        q[2] = intern(qs, FLEET_TERM_LITERAL, buf, NULL, XSD_INTEGER);
        break;
    default:
        snprintf(buf, sizeof(buf), "sensor %u reading %u", s, k);
        q[2] = intern(qs, FLEET_TERM_LITERAL, buf, "en", NULL);
        break;
    }
    if (s % 11 == 0) {
        q[3] = FLEET_QS_DEFAULT_GRAPH;
    } else {
        snprintf(buf, sizeof(buf), "http://example.org/graph/%u", s % 11);
        q[3] = intern(qs, FLEET_TERM_IRI, buf, NULL, NULL);
    }
}

static void unref_quad(struct fleet_qs *qs, const fleet_tid q[4])
{
    for (int i = 0; i < 4; i++)
        if (q[i])
            fleet_qs_unref(qs, q[i]);
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
    const char *path = argc > 2 ? argv[2] : "/tmp/qs_bench.snapshot";
    fleet_tid q[4];
    struct fleet_qs_iter it;
    double t0, t1;

    size_t rss0 = rss_bytes();
    struct fleet_qs *qs = fleet_qs_new();
    t0 = now();
    for (uint32_t i = 0; i < n; i++) {
        make_quad(qs, i, q);
        if (fleet_qs_add(qs, q) < 0) {
            fprintf(stderr, "add failed\n");
            return 1;
        }
        unref_quad(qs, q);
    }
    t1 = now();
    size_t rss1 = rss_bytes();
    size_t nq = fleet_qs_size(qs);
    printf("quads %zu, terms %zu\n", nq, fleet_qs_term_count(qs));
    printf("insert (intern 4 terms + add): %.2f s, %.0f quads/s\n", t1 - t0, (double)n / (t1 - t0));
    printf("fleet_qs_memory: %.1f MB, %.1f B/quad\n", fleet_qs_memory(qs) / 1e6,
           (double)fleet_qs_memory(qs) / (double)nq);
    printf("RSS growth:      %.1f MB, %.1f B/quad\n", (double)(rss1 - rss0) / 1e6,
           (double)(rss1 - rss0) / (double)nq);

    /* (s ? ?) for random subjects. */
    enum { LOOKUPS = 100000 };
    size_t results = 0;
    char buf[96];
    fleet_tid *subj = malloc(LOOKUPS * sizeof(*subj));
    for (int i = 0; i < LOOKUPS; i++) {
        struct fleet_term t = {FLEET_TERM_IRI, buf, NULL, NULL};
        snprintf(buf, sizeof(buf), "http://example.org/device/%u", rnd() % (n / 10 ? n / 10 : 1));
        subj[i] = fleet_qs_lookup(qs, &t);
    }
    t0 = now();
    for (int i = 0; i < LOOKUPS; i++) {
        const fleet_tid pat[4] = {subj[i], 0, 0, FLEET_QS_ANY_GRAPH};
        fleet_qs_find(qs, pat, &it);
        while (fleet_qs_next(&it, q))
            results++;
    }
    t1 = now();
    printf("(s ? ?):  %.0f ns/lookup, %.1f results/lookup\n", (t1 - t0) * 1e9 / LOOKUPS,
           (double)results / LOOKUPS);

    /* (? p o) for (p, o) pairs of random quads. */
    fleet_tid(*po)[2] = malloc(LOOKUPS * sizeof(*po));
    const fleet_tid any[4] = {0, 0, 0, FLEET_QS_ANY_GRAPH};
    fleet_qs_find(qs, any, &it);
    for (int i = 0; i < LOOKUPS; i++) {
        if (!fleet_qs_next(&it, q)) { /* wrap around */
            fleet_qs_find(qs, any, &it);
            fleet_qs_next(&it, q);
        }
        po[i][0] = q[1];
        po[i][1] = q[2];
        for (uint32_t skip = rnd() % 8; skip > 0 && fleet_qs_next(&it, q); skip--)
            ;
    }
    results = 0;
    t0 = now();
    for (int i = 0; i < LOOKUPS; i++) {
        const fleet_tid pat[4] = {0, po[i][0], po[i][1], FLEET_QS_ANY_GRAPH};
        fleet_qs_find(qs, pat, &it);
        while (fleet_qs_next(&it, q))
            results++;
    }
    t1 = now();
    printf("(? p o):  %.0f ns/lookup, %.1f results/lookup\n", (t1 - t0) * 1e9 / LOOKUPS,
           (double)results / LOOKUPS);

    /* (? p ?) walks a whole predicate list. */
    results = 0;
    t0 = now();
    for (int i = 0; i < 50; i++) {
        const fleet_tid pat[4] = {0, po[i][0], 0, FLEET_QS_ANY_GRAPH};
        fleet_qs_find(qs, pat, &it);
        while (fleet_qs_next(&it, q))
            results++;
    }
    t1 = now();
    printf("(? p ?):  %.2f ms/lookup, %.0f results/lookup\n", (t1 - t0) * 1e3 / 50,
           (double)results / 50);

    /* Snapshot. */
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    t0 = now();
    enum fleet_err err = fleet_qs_save(qs, fd);
    t1 = now();
    off_t size = lseek(fd, 0, SEEK_END);
    printf("save: %s, %.0f ms, %.1f MB (%.1f B/quad)\n", fleet_strerror(err), (t1 - t0) * 1e3,
           (double)size / 1e6, (double)size / (double)nq);

    size_t rss2 = rss_bytes();
    struct fleet_qs *copy = fleet_qs_new();
    lseek(fd, 0, SEEK_SET);
    t0 = now();
    err = fleet_qs_load(copy, fd);
    t1 = now();
    size_t rss3 = rss_bytes();
    close(fd);
    unlink(path);
    printf("load: %s, %.0f ms, %zu quads, %zu terms\n", fleet_strerror(err), (t1 - t0) * 1e3,
           fleet_qs_size(copy), fleet_qs_term_count(copy));
    printf("loaded store: fleet_qs_memory %.1f B/quad, RSS growth %.1f B/quad\n",
           (double)fleet_qs_memory(copy) / (double)nq, (double)(rss3 - rss2) / (double)nq);

    t0 = now();
    fleet_qs_free(copy);
    fleet_qs_free(qs);
    t1 = now();
    printf("free both: %.0f ms\n", (t1 - t0) * 1e3);
    free(po);
    free(subj);
    return 0;
}
