/* SPDX-License-Identifier: MIT */
/* Hand-run benchmark for lib/durable.c, not a test: commits/s of single-quad transactions (one
 * fdatasync each), quads/s in 1000-quad transactions, the pause a background snapshot costs the
 * writer (rotate + fork), and the time to reopen a store of N quads (default 1M) from the journal
 * alone and from a snapshot. Works in a mkdtemp directory under the given parent (default /tmp),
 * which decides the disk being measured, and removes it at the end.
 *
 *   gcc -std=c11 -D_GNU_SOURCE -O2 -Ilib bench/durable_bench.c lib/durable.c lib/quadstore.c \
 *       lib/crc32.c lib/buf.c lib/log.c lib/err.c -o /tmp/durable_bench
 *   /tmp/durable_bench [parent-dir [quads]]
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "quadstore.h"

#define EX "http://example.org/"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, enum fleet_err err)
{
    fprintf(stderr, "durable_bench: %s: %s\n", what, fleet_strerror(err));
    exit(1);
}

static void check(const char *what, enum fleet_err err)
{
    if (err != FLEET_OK)
        die(what, err);
}

/* Quad i: 10 properties per subject, a distinct literal each, spread over 16 named graphs. */
static void add_quad(struct fleet_txn *txn, uint64_t i)
{
    char s[64], p[64], o[64], g[64];
    snprintf(s, sizeof(s), EX "thing/%llu", (unsigned long long)(i / 10));
    snprintf(p, sizeof(p), EX "prop%llu", (unsigned long long)(i % 10));
    snprintf(o, sizeof(o), "value %llu", (unsigned long long)i);
    snprintf(g, sizeof(g), EX "graph/%llu", (unsigned long long)(i % 16));
    struct fleet_term q[4] = {
        {FLEET_TERM_IRI, s, NULL, NULL},
        {FLEET_TERM_IRI, p, NULL, NULL},
        {FLEET_TERM_LITERAL, o, NULL, NULL},
        {FLEET_TERM_IRI, g, NULL, NULL},
    };
    check("txn add", fleet_txn_add(txn, q));
}

/* Commits quads [first, first + n) in transactions of per_txn quads. */
static void commit_range(struct fleet_durable *d, struct fleet_qs *qs, uint64_t first, uint64_t n,
                         uint64_t per_txn)
{
    for (uint64_t i = 0; i < n; i += per_txn) {
        struct fleet_txn *txn = fleet_txn_new();
        if (!txn)
            die("txn", FLEET_ERR_NOMEM);
        for (uint64_t k = i; k < i + per_txn && k < n; k++)
            add_quad(txn, first + k);
        check("commit", fleet_durable_commit(d, qs, txn));
        fleet_txn_free(txn);
    }
}

static struct fleet_qs *open_store(const char *dir, struct fleet_durable **d, double *secs)
{
    struct fleet_qs *qs = fleet_qs_new();
    double t0 = now();
    if (!qs)
        die("qs", FLEET_ERR_NOMEM);
    check("open", fleet_durable_open(dir, qs, d));
    if (secs)
        *secs = now() - t0;
    return qs;
}

static void remove_dir(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    if (!dh)
        return;
    while ((e = readdir(dh)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(dh), e->d_name, 0);
    closedir(dh);
    rmdir(dir);
}

static void fresh_dir(const char *parent, char *dir, size_t n)
{
    snprintf(dir, n, "%s/durable_bench.XXXXXX", parent);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : "/tmp";
    uint64_t big = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    struct fleet_durable_stats st;
    struct fleet_durable *d;
    struct fleet_qs *qs;
    char dir[4096];
    double t0, t, secs;

    /* 1. Single-quad transactions: bounded by fdatasync latency. */
    fresh_dir(parent, dir, sizeof(dir));
    qs = open_store(dir, &d, NULL);
    uint64_t n = 0;
    t0 = now();
    while ((t = now() - t0) < 3.0) {
        commit_range(d, qs, n, 1, 1);
        n++;
    }
    printf("single-quad commits:      %8.0f commits/s (%llu in %.2f s, %.3f ms each)\n", n / t,
           (unsigned long long)n, t, 1e3 * t / n);

    /* 2. 1000-quad transactions. */
    uint64_t base = n, m = 200 * 1000;
    t0 = now();
    commit_range(d, qs, base, m, 1000);
    t = now() - t0;
    printf("1000-quad commits:        %8.0f quads/s (%.1f commits/s)\n", m / t, m / 1000 / t);
    fleet_durable_close(d);
    fleet_qs_free(qs);
    remove_dir(dir);

    /* 3. A big store: journal only, then from a snapshot. */
    fresh_dir(parent, dir, sizeof(dir));
    qs = open_store(dir, &d, NULL);
    t0 = now();
    commit_range(d, qs, 0, big, 1000);
    t = now() - t0;
    fleet_durable_stats(d, &st);
    printf("load %llu quads:         %8.2f s (%.0f quads/s), journal %.1f MiB, qs %.1f MiB\n",
           (unsigned long long)big, t, big / t, st.journal_bytes / 1048576.0,
           fleet_qs_memory(qs) / 1048576.0);
    fleet_durable_close(d);
    fleet_qs_free(qs);

    qs = open_store(dir, &d, &secs);
    printf("reopen from journal:      %8.3f s (%zu quads)\n", secs, fleet_qs_size(qs));

    /* The writer's pause when a background snapshot starts: rotate + fork of the whole heap. */
    fleet_durable_set_min_journal_bytes(d, 1);
    t0 = now();
    check("maintain", fleet_durable_maintain(d, qs));
    t = now() - t0;
    fleet_durable_stats(d, &st);
    if (!st.snapshot_running)
        die("maintain started no snapshot", FLEET_ERR_INTERNAL);
    double t1 = now();
    while (st.snapshot_running) {
        usleep(10000);
        check("maintain", fleet_durable_maintain(d, qs));
        fleet_durable_stats(d, &st);
    }
    printf("background snapshot:      %8.3f s writer pause (fork), done %.2f s later, %.1f MiB\n",
           t, now() - t1, st.snapshot_bytes / 1048576.0);
    t0 = now();
    check("snapshot", fleet_durable_snapshot(d, qs));
    printf("synchronous snapshot:     %8.3f s\n", now() - t0);
    fleet_durable_close(d);
    fleet_qs_free(qs);

    qs = open_store(dir, &d, &secs);
    printf("reopen from snapshot:     %8.3f s (%zu quads)\n", secs, fleet_qs_size(qs));
    fleet_durable_close(d);
    fleet_qs_free(qs);
    remove_dir(dir);
    return 0;
}
