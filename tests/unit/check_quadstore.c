/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/quadstore.c: the term dictionary (interning, literal identity, reference
 * counts, id reuse), quad add/remove/contains, every pattern shape checked against a brute-force
 * filter over a random store with interleaved deletions, graph operations, and snapshots
 * (round trip, and truncated, bit-flipped or crafted hostile files failing cleanly). */
#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "crc32.h"
#include "log.h"
#include "quadstore.h"

#define XSD "http://www.w3.org/2001/XMLSchema#"

/* ---- helpers -------------------------------------------------------------------------- */

static fleet_tid iri(struct fleet_qs *qs, const char *v)
{
    struct fleet_term t = {FLEET_TERM_IRI, v, NULL, NULL};
    fleet_tid id = fleet_qs_intern(qs, &t);
    ck_assert_uint_ne(id, 0);
    return id;
}

static fleet_tid lit(struct fleet_qs *qs, const char *v, const char *lang, const char *dt)
{
    struct fleet_term t = {FLEET_TERM_LITERAL, v, lang, dt};
    fleet_tid id = fleet_qs_intern(qs, &t);
    ck_assert_uint_ne(id, 0);
    return id;
}

/* Adds {s,p,o,g} and drops the caller's references, so the quad alone keeps the terms. */
static int add_steal(struct fleet_qs *qs, fleet_tid s, fleet_tid p, fleet_tid o, fleet_tid g)
{
    const fleet_tid q[4] = {s, p, o, g};
    int r = fleet_qs_add(qs, q);
    fleet_qs_unref(qs, s);
    fleet_qs_unref(qs, p);
    fleet_qs_unref(qs, o);
    if (g)
        fleet_qs_unref(qs, g);
    return r;
}

static size_t count_pattern(const struct fleet_qs *qs, fleet_tid s, fleet_tid p, fleet_tid o,
                            fleet_tid g)
{
    const fleet_tid pat[4] = {s, p, o, g};
    struct fleet_qs_iter it;
    fleet_tid q[4];
    size_t n = 0;
    fleet_qs_find(qs, pat, &it);
    while (fleet_qs_next(&it, q))
        n++;
    return n;
}

/* Serialises qs into a new buffer. */
static unsigned char *save_bytes(const struct fleet_qs *qs, size_t *len)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    int fd = fileno(f);
    ck_assert_int_eq(fleet_qs_save(qs, fd), FLEET_OK);
    off_t end = lseek(fd, 0, SEEK_END);
    ck_assert_int_gt(end, 0);
    unsigned char *buf = malloc((size_t)end);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(fd, buf, (size_t)end, 0), end);
    fclose(f);
    *len = (size_t)end;
    return buf;
}

static enum fleet_err load_bytes(struct fleet_qs *qs, const void *buf, size_t len)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    int fd = fileno(f);
    if (len)
        ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    enum fleet_err err = fleet_qs_load(qs, fd);
    fclose(f);
    return err;
}

/* Through a pipe, the path for files whose size the loader cannot know (len < pipe buffer). */
static enum fleet_err load_bytes_pipe(struct fleet_qs *qs, const void *buf, size_t len)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    if (len)
        ck_assert_int_eq(write(fds[1], buf, len), (ssize_t)len);
    close(fds[1]);
    enum fleet_err err = fleet_qs_load(qs, fds[0]);
    close(fds[0]);
    return err;
}

static void assert_empty(const struct fleet_qs *qs)
{
    ck_assert_uint_eq(fleet_qs_size(qs), 0);
    ck_assert_uint_eq(fleet_qs_term_count(qs), 0);
    ck_assert_uint_eq(count_pattern(qs, 0, 0, 0, FLEET_QS_ANY_GRAPH), 0);
}

/* Every quad of a is in b, by term value (ids may differ), and the sizes agree. */
static void assert_same_quads(const struct fleet_qs *a, const struct fleet_qs *b)
{
    const fleet_tid any[4] = {0, 0, 0, FLEET_QS_ANY_GRAPH};
    struct fleet_qs_iter it;
    fleet_tid q[4];

    ck_assert_uint_eq(fleet_qs_size(a), fleet_qs_size(b));
    fleet_qs_find(a, any, &it);
    while (fleet_qs_next(&it, q)) {
        fleet_tid m[4] = {0, 0, 0, 0};
        for (int i = 0; i < 4; i++) {
            struct fleet_term t;
            if (i == 3 && q[3] == FLEET_QS_DEFAULT_GRAPH)
                continue;
            ck_assert_int_eq(fleet_qs_term(a, q[i], &t), FLEET_OK);
            m[i] = fleet_qs_lookup(b, &t);
            ck_assert_uint_ne(m[i], 0);
            struct fleet_term u;
            ck_assert_int_eq(fleet_qs_term(b, m[i], &u), FLEET_OK);
            ck_assert_int_eq(t.kind, u.kind);
            ck_assert_str_eq(t.value, u.value);
            ck_assert_pstr_eq(t.lang, u.lang);
            ck_assert_pstr_eq(t.datatype, u.datatype);
        }
        ck_assert_int_eq(fleet_qs_contains(b, m), 1);
    }
}

/* A store with a bit of everything, for the snapshot tests. */
static struct fleet_qs *small_store(void)
{
    struct fleet_qs *qs = fleet_qs_new();
    ck_assert_ptr_nonnull(qs);
    fleet_tid g = iri(qs, "http://ex/g1");
    for (int i = 0; i < 6; i++) {
        char v[32];
        snprintf(v, sizeof(v), "http://ex/s%d", i);
        add_steal(qs, iri(qs, v), iri(qs, "http://ex/p"), lit(qs, "42", NULL, XSD "integer"),
                  i % 2 ? iri(qs, "http://ex/g1") : FLEET_QS_DEFAULT_GRAPH);
        add_steal(qs, iri(qs, v), iri(qs, "http://ex/label"), lit(qs, v, "EN-gb", NULL),
                  FLEET_QS_DEFAULT_GRAPH);
    }
    struct fleet_term b = {FLEET_TERM_BLANK, "b0", NULL, NULL};
    fleet_tid bn = fleet_qs_intern(qs, &b);
    add_steal(qs, bn, iri(qs, "http://ex/p"), lit(qs, "", NULL, NULL), iri(qs, "http://ex/g2"));
    fleet_qs_unref(qs, g);
    return qs;
}

/* ---- dictionary ----------------------------------------------------------------------- */

START_TEST(test_intern_lookup_unref)
{
    struct fleet_qs *qs = fleet_qs_new();
    struct fleet_term a = {FLEET_TERM_IRI, "http://ex/a", NULL, NULL};
    struct fleet_term b = {FLEET_TERM_BLANK, "http://ex/a", NULL, NULL};
    struct fleet_term none = {FLEET_TERM_NONE, "x", NULL, NULL};
    struct fleet_term out;

    ck_assert_uint_eq(fleet_qs_lookup(qs, &a), 0);
    ck_assert_uint_eq(fleet_qs_intern(qs, &none), 0);
    fleet_tid ia = fleet_qs_intern(qs, &a);
    ck_assert_uint_ne(ia, 0);
    ck_assert_uint_eq(fleet_qs_lookup(qs, &a), ia);
    ck_assert_uint_eq(fleet_qs_intern(qs, &a), ia); /* second reference */
    fleet_tid ib = fleet_qs_intern(qs, &b);
    ck_assert_uint_ne(ib, ia); /* same text, different kind */
    ck_assert_uint_eq(fleet_qs_term_count(qs), 2);

    ck_assert_int_eq(fleet_qs_term(qs, ia, &out), FLEET_OK);
    ck_assert_int_eq(out.kind, FLEET_TERM_IRI);
    ck_assert_str_eq(out.value, "http://ex/a");
    ck_assert_ptr_null(out.lang);
    ck_assert_ptr_null(out.datatype);

    fleet_qs_unref(qs, ia);
    ck_assert_uint_eq(fleet_qs_lookup(qs, &a), ia); /* one reference left */
    fleet_qs_unref(qs, ia);
    ck_assert_uint_eq(fleet_qs_lookup(qs, &a), 0);
    ck_assert_int_eq(fleet_qs_term(qs, ia, &out), FLEET_ERR_NOTFOUND);
    ck_assert_uint_eq(fleet_qs_term_count(qs), 1);
    fleet_qs_unref(qs, ia); /* unknown id: ignored */
    ck_assert_int_eq(fleet_qs_term(qs, 0, &out), FLEET_ERR_NOTFOUND);
    ck_assert_int_eq(fleet_qs_term(qs, 12345, &out), FLEET_ERR_NOTFOUND);

    /* The freed id is reused for the next new term. */
    struct fleet_term c = {FLEET_TERM_IRI, "http://ex/c", NULL, NULL};
    fleet_tid ic = fleet_qs_intern(qs, &c);
    ck_assert_uint_eq(ic, ia);
    ck_assert_int_eq(fleet_qs_term(qs, ic, &out), FLEET_OK);
    ck_assert_str_eq(out.value, "http://ex/c");

    fleet_qs_unref(qs, ib);
    fleet_qs_unref(qs, ic);
    assert_empty(qs);
    fleet_qs_free(qs);
    fleet_qs_free(NULL);
}
END_TEST

START_TEST(test_many_terms)
{
    /* Enough terms to grow and shrink the dictionary several times, freeing in a scattered
     * order. */
    struct fleet_qs *qs = fleet_qs_new();
    enum { N = 20000 };
    fleet_tid *ids = malloc(N * sizeof(*ids));
    char v[64];
    for (int i = 0; i < N; i++) {
        snprintf(v, sizeof(v), "http://ex/t/%d", i);
        ids[i] = iri(qs, v);
    }
    ck_assert_uint_eq(fleet_qs_term_count(qs), N);
    for (int i = 0; i < N; i += 3)
        fleet_qs_unref(qs, ids[i]);
    for (int i = 0; i < N; i++) {
        struct fleet_term t = {FLEET_TERM_IRI, v, NULL, NULL};
        snprintf(v, sizeof(v), "http://ex/t/%d", i);
        ck_assert_uint_eq(fleet_qs_lookup(qs, &t), i % 3 ? ids[i] : 0);
    }
    for (int i = 0; i < N; i++)
        if (i % 3)
            fleet_qs_unref(qs, ids[i]);
    assert_empty(qs);
    free(ids);
    fleet_qs_free(qs);
}
END_TEST

START_TEST(test_literal_identity)
{
    struct fleet_qs *qs = fleet_qs_new();
    struct fleet_term out;

    fleet_tid en = lit(qs, "chat", "EN-gb", NULL);
    ck_assert_uint_eq(lit(qs, "chat", "en-GB", NULL), en);
    ck_assert_uint_eq(lit(qs, "chat", "en-gb", XSD "string"), en); /* lang wins */
    ck_assert_int_eq(fleet_qs_term(qs, en, &out), FLEET_OK);
    ck_assert_int_eq(out.kind, FLEET_TERM_LITERAL);
    ck_assert_str_eq(out.lang, "en-gb");
    ck_assert_ptr_null(out.datatype);
    ck_assert_uint_ne(lit(qs, "chat", "fr", NULL), en);
    ck_assert_uint_ne(lit(qs, "Chat", "en-gb", NULL), en);

    fleet_tid plain = lit(qs, "chat", NULL, NULL);
    ck_assert_uint_ne(plain, en);
    ck_assert_uint_eq(lit(qs, "chat", NULL, XSD "string"), plain);
    ck_assert_uint_eq(lit(qs, "chat", "", ""), plain);
    struct fleet_term s = {FLEET_TERM_LITERAL, "chat", NULL, XSD "string"};
    ck_assert_uint_eq(fleet_qs_lookup(qs, &s), plain);
    ck_assert_int_eq(fleet_qs_term(qs, plain, &out), FLEET_OK);
    ck_assert_ptr_null(out.lang);
    ck_assert_ptr_null(out.datatype);

    struct fleet_term tok = {FLEET_TERM_LITERAL, "chat", NULL, XSD "token"};
    ck_assert_uint_eq(fleet_qs_lookup(qs, &tok), 0);
    fleet_tid typed = lit(qs, "chat", NULL, XSD "token");
    ck_assert_uint_ne(typed, plain);
    ck_assert_uint_eq(fleet_qs_lookup(qs, &tok), typed);
    ck_assert_int_eq(fleet_qs_term(qs, typed, &out), FLEET_OK);
    ck_assert_str_eq(out.datatype, XSD "token");
    ck_assert_ptr_null(out.lang);

    fleet_tid i1 = lit(qs, "1", NULL, XSD "integer");
    ck_assert_uint_ne(i1, lit(qs, "1", NULL, XSD "decimal"));
    ck_assert_uint_ne(i1, lit(qs, "01", NULL, XSD "integer")); /* lexical, not value, identity */

    /* An IRI with a literal's text is another term. */
    ck_assert_uint_ne(iri(qs, "chat"), plain);
    fleet_qs_free(qs); /* frees everything still referenced */
}
END_TEST

START_TEST(test_datatype_lifetime)
{
    /* A typed literal keeps its datatype alive; the datatype goes when its last literal does. */
    struct fleet_qs *qs = fleet_qs_new();
    struct fleet_term dt = {FLEET_TERM_IRI, XSD "integer", NULL, NULL};
    struct fleet_term out;

    fleet_tid a = lit(qs, "1", NULL, XSD "integer");
    fleet_tid b = lit(qs, "2", NULL, XSD "integer");
    fleet_tid d = fleet_qs_lookup(qs, &dt);
    ck_assert_uint_ne(d, 0);
    fleet_qs_unref(qs, a);
    ck_assert_uint_eq(fleet_qs_lookup(qs, &dt), d);
    ck_assert_int_eq(fleet_qs_term(qs, b, &out), FLEET_OK);
    ck_assert_str_eq(out.datatype, XSD "integer");
    fleet_qs_unref(qs, b);
    ck_assert_uint_eq(fleet_qs_lookup(qs, &dt), 0);
    assert_empty(qs);
    fleet_qs_free(qs);
}
END_TEST

/* ---- quads ---------------------------------------------------------------------------- */

START_TEST(test_add_remove_contains)
{
    struct fleet_qs *qs = fleet_qs_new();
    fleet_tid s = iri(qs, "http://ex/s"), p = iri(qs, "http://ex/p"), o = lit(qs, "o", 0, 0);
    fleet_tid g = iri(qs, "http://ex/g");
    const fleet_tid q1[4] = {s, p, o, FLEET_QS_DEFAULT_GRAPH};
    const fleet_tid q2[4] = {s, p, o, g};
    const fleet_tid bad[4] = {s, p, 999, FLEET_QS_DEFAULT_GRAPH};
    const fleet_tid unbound[4] = {s, 0, o, FLEET_QS_DEFAULT_GRAPH};
    const fleet_tid anyg[4] = {s, p, o, FLEET_QS_ANY_GRAPH};

    ck_assert_int_eq(fleet_qs_contains(qs, q1), 0);
    ck_assert_int_eq(fleet_qs_add(qs, q1), 1);
    ck_assert_int_eq(fleet_qs_add(qs, q1), 0);
    ck_assert_int_eq(fleet_qs_add(qs, q2), 1); /* same triple, other graph */
    ck_assert_int_eq(fleet_qs_add(qs, bad), -1);
    ck_assert_int_eq(fleet_qs_add(qs, unbound), -1);
    ck_assert_int_eq(fleet_qs_add(qs, anyg), -1);
    ck_assert_int_eq(fleet_qs_contains(qs, q1), 1);
    ck_assert_int_eq(fleet_qs_contains(qs, q2), 1);
    ck_assert_uint_eq(fleet_qs_size(qs), 2);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, FLEET_QS_DEFAULT_GRAPH), 1);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, g), 1);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, s), 0);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, FLEET_QS_ANY_GRAPH), 2);

    ck_assert_int_eq(fleet_qs_remove(qs, q1), 1);
    ck_assert_int_eq(fleet_qs_remove(qs, q1), 0);
    ck_assert_int_eq(fleet_qs_contains(qs, q1), 0);
    ck_assert_int_eq(fleet_qs_contains(qs, q2), 1);
    ck_assert_uint_eq(fleet_qs_size(qs), 1);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, FLEET_QS_DEFAULT_GRAPH), 0);
    ck_assert_int_eq(fleet_qs_remove(qs, q2), 1);
    ck_assert_uint_eq(fleet_qs_size(qs), 0);
    ck_assert_uint_eq(fleet_qs_term_count(qs), 4); /* still held by this test */
    fleet_qs_free(qs);
}
END_TEST

START_TEST(test_refcount_frees_terms)
{
    struct fleet_qs *qs = fleet_qs_new();
    size_t empty_mem = fleet_qs_memory(qs);
    fleet_tid s = iri(qs, "http://ex/s"), p = iri(qs, "http://ex/p");
    fleet_tid o = lit(qs, "5", NULL, XSD "integer"), g = iri(qs, "http://ex/g");
    const fleet_tid q1[4] = {s, p, o, g};
    const fleet_tid q2[4] = {s, p, s, FLEET_QS_DEFAULT_GRAPH}; /* s twice in one quad */
    const fleet_tid q3[4] = {g, p, o, g};
    struct fleet_term out;

    ck_assert_int_eq(fleet_qs_add(qs, q1), 1);
    ck_assert_int_eq(fleet_qs_add(qs, q2), 1);
    ck_assert_int_eq(fleet_qs_add(qs, q3), 1);
    fleet_qs_unref(qs, s);
    fleet_qs_unref(qs, p);
    fleet_qs_unref(qs, o);
    fleet_qs_unref(qs, g);
    ck_assert_uint_eq(fleet_qs_term_count(qs), 5); /* s p o g and xsd:integer */
    size_t full_mem = fleet_qs_memory(qs);
    ck_assert_uint_gt(full_mem, empty_mem);

    ck_assert_int_eq(fleet_qs_remove(qs, q2), 1);
    ck_assert_int_eq(fleet_qs_term(qs, s, &out), FLEET_OK); /* q1 still uses s */
    ck_assert_int_eq(fleet_qs_remove(qs, q1), 1);
    ck_assert_int_eq(fleet_qs_term(qs, s, &out), FLEET_ERR_NOTFOUND);
    ck_assert_int_eq(fleet_qs_term(qs, o, &out), FLEET_OK);
    ck_assert_uint_eq(fleet_qs_term_count(qs), 4);
    ck_assert_int_eq(fleet_qs_remove(qs, q3), 1);
    assert_empty(qs);
    ck_assert_uint_lt(fleet_qs_memory(qs), full_mem);

    /* Freed ids come back: ids 1..5 were all used and freed. */
    fleet_tid n = iri(qs, "http://ex/new");
    ck_assert_uint_le(n, 5);
    fleet_qs_unref(qs, n);
    fleet_qs_free(qs);
}
END_TEST

START_TEST(test_iterator_invalidated)
{
    struct fleet_qs *qs = fleet_qs_new();
    fleet_tid s = iri(qs, "http://ex/s"), p = iri(qs, "http://ex/p");
    const fleet_tid q1[4] = {s, p, s, 0}, q2[4] = {s, p, p, 0};
    const fleet_tid pat[4] = {s, 0, 0, FLEET_QS_ANY_GRAPH};
    struct fleet_qs_iter it;
    fleet_tid q[4];

    fleet_qs_add(qs, q1);
    fleet_qs_add(qs, q2);
    fleet_qs_find(qs, pat, &it);
    ck_assert_int_eq(fleet_qs_next(&it, q), 1);
    fleet_qs_remove(qs, q);
    ck_assert_int_eq(fleet_qs_next(&it, q), 0); /* ends instead of reading freed memory */
    fleet_qs_free(qs);
}
END_TEST

/* ---- patterns against brute force --------------------------------------------------- */

struct mirror {
    fleet_tid (*q)[4];
    size_t n;
    size_t cap;
};

static long mirror_find(const struct mirror *m, const fleet_tid q[4])
{
    for (size_t i = 0; i < m->n; i++)
        if (memcmp(m->q[i], q, sizeof(m->q[i])) == 0)
            return (long)i;
    return -1;
}

static bool matches(const fleet_tid q[4], const fleet_tid pat[4])
{
    for (int i = 0; i < 3; i++)
        if (pat[i] != FLEET_QS_ANY && pat[i] != q[i])
            return false;
    return pat[3] == FLEET_QS_ANY_GRAPH || pat[3] == q[3];
}

static int cmp_quad(const void *a, const void *b)
{
    return memcmp(a, b, 4 * sizeof(fleet_tid));
}

static void check_pattern(const struct fleet_qs *qs, const struct mirror *m, const fleet_tid pat[4])
{
    size_t expect = 0;
    for (size_t i = 0; i < m->n; i++)
        expect += matches(m->q[i], pat);

    fleet_tid(*got)[4] = malloc((m->n + 1) * sizeof(*got));
    struct fleet_qs_iter it;
    size_t n = 0;
    fleet_qs_find(qs, pat, &it);
    while (n <= m->n && fleet_qs_next(&it, got[n])) {
        ck_assert_msg(matches(got[n], pat), "result outside pattern");
        ck_assert_msg(mirror_find(m, got[n]) >= 0, "result not in store");
        n++;
    }
    ck_assert_msg(n == expect, "pattern {%u %u %u %u}: %zu results, expected %zu", pat[0], pat[1],
                  pat[2], pat[3], n, expect);
    qsort(got, n, sizeof(*got), cmp_quad);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(cmp_quad(got[i - 1], got[i]) != 0, "duplicate result");
    free(got);
}

/* All 8 subsets of {s, p, o} bound from a template quad, times g = any / default / named. */
static void check_all_shapes(const struct fleet_qs *qs, const struct mirror *m,
                             const fleet_tid tmpl[4], fleet_tid named_graph)
{
    const fleet_tid graphs[3] = {FLEET_QS_ANY_GRAPH, FLEET_QS_DEFAULT_GRAPH, named_graph};
    for (int mask = 0; mask < 8; mask++) {
        for (int gi = 0; gi < 3; gi++) {
            const fleet_tid pat[4] = {mask & 1 ? tmpl[0] : FLEET_QS_ANY,
                                      mask & 2 ? tmpl[1] : FLEET_QS_ANY,
                                      mask & 4 ? tmpl[2] : FLEET_QS_ANY, graphs[gi]};
            check_pattern(qs, m, pat);
        }
    }
}

static int cmp_tid(const void *a, const void *b)
{
    fleet_tid x = *(const fleet_tid *)a, y = *(const fleet_tid *)b;
    return (x > y) - (x < y);
}

static void check_graphs(const struct fleet_qs *qs, const struct mirror *m)
{
    fleet_tid *g;
    long n = fleet_qs_graphs(qs, &g);
    ck_assert_int_ge(n, 0);
    for (long i = 0; i < n; i++) {
        ck_assert_uint_ne(g[i], FLEET_QS_DEFAULT_GRAPH);
        if (i > 0)
            ck_assert_uint_lt(g[i - 1], g[i]);
        ck_assert_uint_gt(fleet_qs_graph_size(qs, g[i]), 0);
    }
    /* Every graph in the mirror is listed, and sizes agree. */
    size_t dflt = 0;
    for (size_t i = 0; i < m->n; i++) {
        fleet_tid gi = m->q[i][3];
        if (gi == FLEET_QS_DEFAULT_GRAPH) {
            dflt++;
            continue;
        }
        ck_assert_ptr_nonnull(bsearch(&gi, g, (size_t)n, sizeof(*g), cmp_tid));
    }
    size_t total = dflt;
    for (long j = 0; j < n; j++)
        total += fleet_qs_graph_size(qs, g[j]);
    ck_assert_uint_eq(total, m->n);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, FLEET_QS_DEFAULT_GRAPH), dflt);
    free(g);
}

/* Deterministic pseudo-random numbers (xorshift), so failures reproduce. */
static uint32_t rnd(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return (uint32_t)(*st >> 16);
}

static fleet_tid random_term(struct fleet_qs *qs, uint64_t *st, int pos)
{
    char v[64];
    uint32_t r = rnd(st);
    switch (pos) {
    case 0:
        if (r % 10 == 0) {
            struct fleet_term b = {FLEET_TERM_BLANK, v, NULL, NULL};
            snprintf(v, sizeof(v), "b%u", r / 10 % 20);
            return fleet_qs_intern(qs, &b);
        }
        snprintf(v, sizeof(v), "http://ex/s/%u", r / 10 % 80);
        return iri(qs, v);
    case 1:
        snprintf(v, sizeof(v), "http://ex/p/%u", r % 7);
        return iri(qs, v);
    case 2:
        switch (r % 4) {
        case 0:
            snprintf(v, sizeof(v), "http://ex/s/%u", r / 4 % 80);
            return iri(qs, v);
        case 1:
            snprintf(v, sizeof(v), "%u", r / 4 % 50);
            return lit(qs, v, NULL, XSD "integer");
        case 2:
            snprintf(v, sizeof(v), "word %u", r / 4 % 60);
            return lit(qs, v, (r / 4) % 3 ? "en" : NULL, NULL);
        default:
            snprintf(v, sizeof(v), "unique %u", r);
            return lit(qs, v, NULL, NULL);
        }
    default:
        if (r % 3 == 0)
            return FLEET_QS_DEFAULT_GRAPH;
        snprintf(v, sizeof(v), "http://ex/g/%u", r % 5);
        return iri(qs, v);
    }
}

START_TEST(test_patterns_random)
{
    struct fleet_qs *qs = fleet_qs_new();
    struct mirror m = {NULL, 0, 0};
    uint64_t st = 0x9e3779b97f4a7c15ULL;
    fleet_tid named = FLEET_QS_DEFAULT_GRAPH;

    m.cap = 8192;
    m.q = malloc(m.cap * sizeof(*m.q));
    for (int round = 0; round < 12; round++) {
        /* Grow in early rounds, shrink in later ones, always interleaving both. */
        int add_pct = round < 6 ? 75 : 35;
        for (int op = 0; op < 700; op++) {
            if ((int)(rnd(&st) % 100) < add_pct || m.n == 0) {
                fleet_tid q[4];
                for (int i = 0; i < 4; i++)
                    q[i] = random_term(qs, &st, i);
                int r = add_steal(qs, q[0], q[1], q[2], q[3]);
                ck_assert_int_ge(r, 0);
                ck_assert_int_eq(r, mirror_find(&m, q) < 0);
                if (r == 1) {
                    ck_assert_uint_lt(m.n, m.cap);
                    memcpy(m.q[m.n++], q, sizeof(q));
                }
                if (q[3])
                    named = q[3];
            } else {
                size_t i = rnd(&st) % m.n;
                ck_assert_int_eq(fleet_qs_remove(qs, m.q[i]), 1);
                ck_assert_int_eq(fleet_qs_contains(qs, m.q[i]), 0);
                memcpy(m.q[i], m.q[--m.n], sizeof(m.q[i]));
            }
        }
        ck_assert_uint_eq(fleet_qs_size(qs), m.n);
        for (size_t i = 0; i < m.n; i++)
            ck_assert_int_eq(fleet_qs_contains(qs, m.q[i]), 1);

        for (int k = 0; k < 4 && m.n > 0; k++) {
            const fleet_tid *tmpl = m.q[rnd(&st) % m.n];
            check_all_shapes(qs, &m, tmpl, tmpl[3] ? tmpl[3] : named);
        }
        /* Ids that name no term, or a term never in that position. */
        const fleet_tid nowhere[4] = {999999, 999998, 999997, 999996};
        check_all_shapes(qs, &m, nowhere, 999996);
        if (m.n > 0) {
            const fleet_tid *t = m.q[0];
            const fleet_tid swapped[4] = {t[1], t[0], t[1], t[0]};
            check_all_shapes(qs, &m, swapped, t[1]);
        }
        check_graphs(qs, &m);
    }
    ck_assert_uint_gt(m.n, 500);

    /* A snapshot of the random store round-trips. */
    size_t len;
    unsigned char *buf = save_bytes(qs, &len);
    struct fleet_qs *copy = fleet_qs_new();
    ck_assert_int_eq(load_bytes(copy, buf, len), FLEET_OK);
    assert_same_quads(qs, copy);
    assert_same_quads(copy, qs);
    ck_assert_uint_eq(fleet_qs_term_count(copy), fleet_qs_term_count(qs));
    fleet_qs_free(copy);
    free(buf);

    /* Removing everything leaves no terms behind. */
    while (m.n > 0)
        ck_assert_int_eq(fleet_qs_remove(qs, m.q[--m.n]), 1);
    assert_empty(qs);
    free(m.q);
    fleet_qs_free(qs);
}
END_TEST

/* ---- graphs --------------------------------------------------------------------------- */

START_TEST(test_clear_graph_and_list)
{
    struct fleet_qs *qs = fleet_qs_new();
    fleet_tid p = iri(qs, "http://ex/p");
    fleet_tid g1 = iri(qs, "http://ex/g1"), g2 = iri(qs, "http://ex/g2");
    fleet_tid g3 = iri(qs, "http://ex/g3");
    char v[32];
    fleet_tid *g;

    ck_assert_int_eq(fleet_qs_graphs(qs, &g), 0);
    free(g);
    for (int i = 0; i < 300; i++) {
        snprintf(v, sizeof(v), "o%d", i);
        fleet_tid o = lit(qs, v, NULL, NULL);
        const fleet_tid qa[4] = {g1, p, o, g1}, qb[4] = {g1, p, o, g2};
        const fleet_tid qc[4] = {g1, p, o, FLEET_QS_DEFAULT_GRAPH};
        ck_assert_int_eq(fleet_qs_add(qs, qa), 1);
        if (i % 3 == 0)
            ck_assert_int_eq(fleet_qs_add(qs, qb), 1);
        if (i % 2 == 0)
            ck_assert_int_eq(fleet_qs_add(qs, qc), 1);
        fleet_qs_unref(qs, o);
    }
    ck_assert_int_eq(fleet_qs_graphs(qs, &g), 2);
    ck_assert_uint_eq(g[0], g1 < g2 ? g1 : g2);
    ck_assert_uint_eq(g[1], g1 < g2 ? g2 : g1);
    free(g);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, g1), 300);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, g2), 100);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, FLEET_QS_DEFAULT_GRAPH), 150);

    ck_assert_uint_eq(fleet_qs_clear_graph(qs, g3), 0);
    ck_assert_uint_eq(fleet_qs_clear_graph(qs, 424242), 0);
    /* g1 is also the subject of every quad: clearing it must not disturb that use. */
    ck_assert_uint_eq(fleet_qs_clear_graph(qs, g1), 300);
    ck_assert_uint_eq(fleet_qs_size(qs), 250);
    ck_assert_uint_eq(fleet_qs_graph_size(qs, g1), 0);
    ck_assert_uint_eq(count_pattern(qs, 0, 0, 0, g1), 0);
    ck_assert_uint_eq(count_pattern(qs, g1, 0, 0, FLEET_QS_ANY_GRAPH), 250);
    ck_assert_int_eq(fleet_qs_graphs(qs, &g), 1);
    ck_assert_uint_eq(g[0], g2);
    free(g);

    ck_assert_uint_eq(fleet_qs_clear_graph(qs, FLEET_QS_DEFAULT_GRAPH), 150);
    ck_assert_uint_eq(fleet_qs_size(qs), 100);
    ck_assert_uint_eq(count_pattern(qs, 0, 0, 0, FLEET_QS_DEFAULT_GRAPH), 0);
    ck_assert_uint_eq(count_pattern(qs, 0, 0, 0, FLEET_QS_ANY_GRAPH), 100);

    /* Graphs emptied and refilled many times are listed once. */
    for (int i = 0; i < 200; i++) {
        const fleet_tid q[4] = {p, p, p, g3};
        ck_assert_int_eq(fleet_qs_add(qs, q), 1);
        ck_assert_int_eq(fleet_qs_remove(qs, q), 1);
    }
    const fleet_tid q3[4] = {p, p, p, g3};
    ck_assert_int_eq(fleet_qs_add(qs, q3), 1);
    ck_assert_int_eq(fleet_qs_graphs(qs, &g), 2);
    ck_assert_uint_eq(g[0], g2 < g3 ? g2 : g3);
    ck_assert_uint_eq(g[1], g2 < g3 ? g3 : g2);
    free(g);

    /* Clearing a graph whose name only its quads keep alive frees it, and the literals. */
    fleet_qs_unref(qs, g2);
    ck_assert_uint_eq(fleet_qs_clear_graph(qs, g2), 100);
    struct fleet_term out;
    ck_assert_int_eq(fleet_qs_term(qs, g2, &out), FLEET_ERR_NOTFOUND);
    ck_assert_uint_eq(fleet_qs_term_count(qs), 3); /* p, g1, g3 */
    fleet_qs_free(qs);
}
END_TEST

/* ---- snapshots ------------------------------------------------------------------------ */

START_TEST(test_save_load_roundtrip)
{
    struct fleet_qs *qs = small_store();
    size_t len;
    unsigned char *buf = save_bytes(qs, &len);
    ck_assert_mem_eq(buf, "TFQS", 4);

    struct fleet_qs *a = fleet_qs_new();
    ck_assert_int_eq(load_bytes(a, buf, len), FLEET_OK);
    assert_same_quads(qs, a);
    assert_same_quads(a, qs);
    ck_assert_uint_eq(fleet_qs_term_count(a), fleet_qs_term_count(qs));
    ck_assert_int_eq(load_bytes(a, buf, len), FLEET_ERR_INVAL); /* not empty */

    struct fleet_qs *b = fleet_qs_new();
    ck_assert_int_eq(load_bytes_pipe(b, buf, len), FLEET_OK);
    assert_same_quads(qs, b);

    /* The loaded store works like any other, and saves to the same bytes. */
    size_t len2;
    unsigned char *buf2 = save_bytes(a, &len2);
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(buf2, buf, len);
    fleet_tid x = iri(a, "http://ex/x");
    const fleet_tid q[4] = {x, x, x, x};
    ck_assert_int_eq(fleet_qs_add(a, q), 1);
    fleet_qs_unref(a, x);
    ck_assert_uint_eq(fleet_qs_clear_graph(a, x), 1);
    ck_assert_uint_eq(fleet_qs_size(a), fleet_qs_size(qs));

    /* An empty store round-trips too, and a store with only intern references saves empty. */
    struct fleet_qs *e = fleet_qs_new();
    fleet_tid held = iri(e, "http://ex/held");
    size_t elen;
    unsigned char *ebuf = save_bytes(e, &elen);
    struct fleet_qs *e2 = fleet_qs_new();
    ck_assert_int_eq(load_bytes(e2, ebuf, elen), FLEET_OK);
    assert_empty(e2);
    /* A store holding only freed ids is empty: it loads. */
    fleet_qs_unref(e, held);
    ck_assert_int_eq(load_bytes(e, buf, len), FLEET_OK);
    assert_same_quads(qs, e);

    free(ebuf);
    free(buf2);
    free(buf);
    fleet_qs_free(e2);
    fleet_qs_free(e);
    fleet_qs_free(b);
    fleet_qs_free(a);
    fleet_qs_free(qs);
}
END_TEST

START_TEST(test_save_load_large_and_io_errors)
{
    /* Long literals push the snapshot past the writer's 1 MiB buffer and the pipe reader's
     * first 1 MiB step. */
    struct fleet_qs *qs = fleet_qs_new();
    enum { NLIT = 300, LITLEN = 5000 };
    char *v = malloc(LITLEN + 1);
    fleet_tid s = iri(qs, "http://ex/s"), p = iri(qs, "http://ex/p");
    for (int i = 0; i < NLIT; i++) {
        memset(v, 'a' + i % 26, LITLEN);
        snprintf(v, 16, "%d:", i);
        v[strlen(v)] = ' ';
        v[LITLEN] = '\0';
        ck_assert_int_eq(add_steal(qs, s, p, lit(qs, v, "de", NULL), FLEET_QS_DEFAULT_GRAPH), 1);
        s = iri(qs, "http://ex/s");
        p = iri(qs, "http://ex/p");
    }
    fleet_qs_unref(qs, s);
    fleet_qs_unref(qs, p);
    size_t len;
    unsigned char *buf = save_bytes(qs, &len);
    ck_assert_uint_gt(len, (size_t)NLIT * LITLEN);

    struct fleet_qs *a = fleet_qs_new();
    ck_assert_int_eq(load_bytes(a, buf, len), FLEET_OK);
    assert_same_quads(qs, a);

    /* Through a pipe bigger than its buffer: a child writes while the loader reads. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(write(fds[1], buf, len) == (ssize_t)len ? 0 : 1);
    }
    close(fds[1]);
    struct fleet_qs *b = fleet_qs_new();
    ck_assert_int_eq(fleet_qs_load(b, fds[0]), FLEET_OK);
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_same_quads(qs, b);

    /* I/O errors are FLEET_ERR_IO, not corruption (and logged: silence that here). */
    int level = fleet_log_get_level();
    fleet_log_set_level(0);
    int ro = open("/dev/null", O_RDONLY), wo = open("/dev/null", O_WRONLY);
    ck_assert_int_ge(ro, 0);
    ck_assert_int_ge(wo, 0);
    ck_assert_int_eq(fleet_qs_save(qs, ro), FLEET_ERR_IO);
    struct fleet_qs *c = fleet_qs_new();
    ck_assert_int_eq(fleet_qs_load(c, wo), FLEET_ERR_IO);
    assert_empty(c);
    close(ro);
    close(wo);
    fleet_log_set_level(level);

    fleet_qs_free(c);
    fleet_qs_free(b);
    fleet_qs_free(a);
    fleet_qs_free(qs);
    free(buf);
    free(v);
}
END_TEST

START_TEST(test_load_truncated_and_flipped)
{
    struct fleet_qs *qs = small_store();
    size_t len;
    unsigned char *buf = save_bytes(qs, &len);
    struct fleet_qs *t = fleet_qs_new();

    for (size_t n = 0; n < len; n++) {
        ck_assert_int_eq(load_bytes(t, buf, n), FLEET_ERR_CORRUPT);
        assert_empty(t);
    }
    for (size_t n = 0; n < len; n += 7) {
        ck_assert_int_eq(load_bytes_pipe(t, buf, n), FLEET_ERR_CORRUPT);
        assert_empty(t);
    }
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    ck_assert_int_eq(load_bytes(t, longer, len + 1), FLEET_ERR_CORRUPT);
    ck_assert_int_eq(load_bytes_pipe(t, longer, len + 1), FLEET_ERR_CORRUPT);
    free(longer);

    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            buf[i] ^= (unsigned char)(1u << bit);
            ck_assert_msg(load_bytes(t, buf, len) == FLEET_ERR_CORRUPT, "flip %zu:%d", i, bit);
            assert_empty(t);
            buf[i] ^= (unsigned char)(1u << bit);
        }
    }
    ck_assert_int_eq(load_bytes(t, buf, len), FLEET_OK);
    free(buf);
    fleet_qs_free(t);
    fleet_qs_free(qs);
}
END_TEST

/* Rewrites the trailer so the CRC matches, to reach the parser with hostile content. */
static void fix_crc(unsigned char *buf, size_t len)
{
    uint32_t c = fleet_crc32(0, buf, len - 4);
    for (int i = 0; i < 4; i++)
        buf[len - 4 + i] = (unsigned char)(c >> (8 * i));
}

START_TEST(test_load_mutated_with_valid_crc)
{
    struct fleet_qs *qs = small_store();
    size_t len;
    unsigned char *orig = save_bytes(qs, &len);
    unsigned char *buf = malloc(len);
    uint64_t st = 12345;
    int ok = 0, corrupt = 0;

    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, orig, len);
        int nmut = 1 + (int)(rnd(&st) % 4);
        for (int k = 0; k < nmut; k++) {
            size_t at = rnd(&st) % (len - 4);
            switch (rnd(&st) % 3) {
            case 0:
                buf[at] ^= (unsigned char)(1u << (rnd(&st) % 8));
                break;
            case 1:
                buf[at] = (unsigned char)rnd(&st);
                break;
            default:
                buf[at] = (unsigned char)(rnd(&st) % 2 ? 0xff : 0);
                break;
            }
        }
        fix_crc(buf, len);
        struct fleet_qs *t = fleet_qs_new();
        enum fleet_err err = load_bytes(t, buf, len);
        ck_assert_msg(err == FLEET_OK || err == FLEET_ERR_CORRUPT, "iter %d: %d", iter, err);
        if (err == FLEET_OK) {
            /* Whatever loaded is a consistent store. */
            ok++;
            const fleet_tid any[4] = {0, 0, 0, FLEET_QS_ANY_GRAPH};
            struct fleet_qs_iter it;
            fleet_tid q[4];
            size_t n = 0;
            fleet_qs_find(t, any, &it);
            while (fleet_qs_next(&it, q)) {
                ck_assert_int_eq(fleet_qs_contains(t, q), 1);
                n++;
            }
            ck_assert_uint_eq(n, fleet_qs_size(t));
        } else {
            corrupt++;
            assert_empty(t);
        }
        fleet_qs_free(t);
    }
    ck_assert_int_gt(corrupt, 0);
    ck_assert_int_gt(ok, 0); /* e.g. a changed letter in a literal */
    free(buf);
    free(orig);
    fleet_qs_free(qs);
}
END_TEST

/* Builds snapshot files by hand for the cases random mutation rarely reaches. */
struct snap {
    struct fleet_buf b;
    uint32_t nterms;
    uint32_t nquads;
};

static void put32(struct fleet_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    fleet_buf_append(b, x, 4);
}

static void snap_term(struct snap *s, int kind, const char *v, uint32_t dt, const char *lang)
{
    fleet_buf_putc(&s->b, (char)kind);
    put32(&s->b, (uint32_t)strlen(v));
    fleet_buf_puts(&s->b, v);
    if (kind == FLEET_TERM_LITERAL) {
        put32(&s->b, dt);
        put32(&s->b, (uint32_t)strlen(lang));
        fleet_buf_puts(&s->b, lang);
    }
    s->nterms++;
}

static void snap_quad(struct snap *s, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    put32(&s->b, a);
    put32(&s->b, b);
    put32(&s->b, c);
    put32(&s->b, d);
    s->nquads++;
}

/* Loads header(counts, payload length = payload + extra_len) + payload + CRC. */
static enum fleet_err snap_load(struct snap *s, uint32_t nterms, uint32_t nquads,
                                uint64_t claimed_len)
{
    struct fleet_buf f = FLEET_BUF_INIT;
    fleet_buf_append(&f, "TFQS", 4);
    put32(&f, 1);
    put32(&f, nterms);
    put32(&f, nquads);
    put32(&f, (uint32_t)claimed_len);
    put32(&f, (uint32_t)(claimed_len >> 32));
    fleet_buf_append(&f, s->b.data, s->b.len);
    put32(&f, fleet_crc32(0, f.data, f.len));
    ck_assert(!f.oom);

    struct fleet_qs *qs = fleet_qs_new();
    enum fleet_err err = load_bytes(qs, f.data, f.len);
    if (err != FLEET_OK)
        assert_empty(qs);
    enum fleet_err err2 = load_bytes_pipe(qs, f.data, f.len);
    ck_assert_int_eq(err2, err == FLEET_OK ? FLEET_ERR_INVAL : err);
    fleet_qs_free(qs);
    fleet_buf_free(&f);
    fleet_buf_free(&s->b);
    s->nterms = 0;
    s->nquads = 0;
    return err;
}

static enum fleet_err snap_done(struct snap *s)
{
    return snap_load(s, s->nterms, s->nquads, s->b.len);
}

START_TEST(test_load_crafted)
{
    struct snap s = {FLEET_BUF_INIT, 0, 0};

    /* The base case is valid. */
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_term(&s, FLEET_TERM_IRI, XSD "integer", 0, "");
    snap_term(&s, FLEET_TERM_LITERAL, "1", 2, "");
    snap_quad(&s, 1, 1, 3, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_OK);

    /* Duplicate term. */
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 2, 1, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);

    /* A term no quad uses. */
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_term(&s, FLEET_TERM_IRI, "http://ex/unused", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);

    /* Datatype referring forward, to itself, to a literal, or being xsd:string. */
    const uint32_t bad_dt[] = {3, 2};
    for (size_t i = 0; i < 2; i++) {
        snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
        snap_term(&s, FLEET_TERM_LITERAL, "1", bad_dt[i], "");
        snap_term(&s, FLEET_TERM_IRI, XSD "integer", 0, "");
        snap_quad(&s, 1, 1, 2, 3);
        ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);
    }
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_term(&s, FLEET_TERM_LITERAL, "x", 0, "");
    snap_term(&s, FLEET_TERM_LITERAL, "1", 2, "");
    snap_quad(&s, 1, 1, 2, 0);
    snap_quad(&s, 1, 1, 3, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, XSD "string", 0, "");
    snap_term(&s, FLEET_TERM_LITERAL, "1", 1, "");
    snap_quad(&s, 1, 1, 2, 1);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);
    /* Lang and datatype together; upper-case lang. */
    snap_term(&s, FLEET_TERM_IRI, XSD "integer", 0, "");
    snap_term(&s, FLEET_TERM_LITERAL, "1", 1, "en");
    snap_quad(&s, 1, 1, 2, 1);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_term(&s, FLEET_TERM_LITERAL, "1", 0, "En");
    snap_quad(&s, 1, 1, 2, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);

    /* Bad kinds, NUL inside a value. */
    snap_term(&s, FLEET_TERM_NONE, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);
    snap_term(&s, 9, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);
    fleet_buf_putc(&s.b, FLEET_TERM_IRI);
    put32(&s.b, 3);
    fleet_buf_append(&s.b, "a\0b", 3);
    s.nterms++;
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);

    /* Quad ids out of range, 0 outside the graph position, the any-graph id, duplicates. */
    const uint32_t bad_q[][4] = {{2, 1, 1, 0},         {1, 1, 1, 2}, {0, 1, 1, 0},
                                 {1, 0, 1, 0},         {1, 1, 0, 0}, {1, 1, 1, UINT32_MAX},
                                 {UINT32_MAX, 1, 1, 0}};
    for (size_t i = 0; i < sizeof(bad_q) / sizeof(bad_q[0]); i++) {
        snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
        snap_quad(&s, bad_q[i][0], bad_q[i][1], bad_q[i][2], bad_q[i][3]);
        ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);
    }
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 1);
    snap_quad(&s, 1, 1, 1, 0);
    snap_quad(&s, 1, 1, 1, 1);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);

    /* Lengths running past the end of the payload. */
    fleet_buf_putc(&s.b, FLEET_TERM_IRI);
    put32(&s.b, 0xfffffff0u);
    fleet_buf_puts(&s.b, "http://ex/a");
    s.nterms++;
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    fleet_buf_putc(&s.b, FLEET_TERM_LITERAL);
    put32(&s.b, 1);
    fleet_buf_putc(&s.b, 'x');
    put32(&s.b, 0);
    put32(&s.b, 1000); /* lang length */
    s.nterms++;
    snap_quad(&s, 1, 1, 2, 0);
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);

    /* Counts that disagree with the payload, huge counts, a lying payload length. */
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_load(&s, 1, 2, s.b.len), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_load(&s, 1, 0, s.b.len), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    put32(&s.b, 0); /* junk after the last quad, inside the payload */
    ck_assert_int_eq(snap_done(&s), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_load(&s, 2, 1, s.b.len), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_load(&s, 0x7fffffffu, 0x7fffffffu, s.b.len), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_load(&s, 1, 1, (uint64_t)1 << 40), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_load(&s, 1, 1, UINT64_MAX), FLEET_ERR_CORRUPT);
    snap_term(&s, FLEET_TERM_IRI, "http://ex/a", 0, "");
    snap_quad(&s, 1, 1, 1, 0);
    ck_assert_int_eq(snap_load(&s, 1, 1, s.b.len - 1), FLEET_ERR_CORRUPT);

    /* Wrong magic or version, with a valid CRC. */
    struct fleet_qs *qs = small_store();
    size_t len;
    unsigned char *buf = save_bytes(qs, &len);
    struct fleet_qs *t = fleet_qs_new();
    buf[0] = 'X';
    fix_crc(buf, len);
    ck_assert_int_eq(load_bytes(t, buf, len), FLEET_ERR_CORRUPT);
    buf[0] = 'T';
    buf[4] = 2;
    fix_crc(buf, len);
    ck_assert_int_eq(load_bytes(t, buf, len), FLEET_ERR_CORRUPT);
    assert_empty(t);
    buf[4] = 1;
    fix_crc(buf, len);
    ck_assert_int_eq(load_bytes(t, buf, len), FLEET_OK);
    free(buf);
    fleet_qs_free(t);
    fleet_qs_free(qs);
}
END_TEST

/* fleet_qs_estimate: the shortest bound list, never fewer than the matches. */
START_TEST(test_estimate)
{
    struct fleet_qs *qs = fleet_qs_new();
    fleet_tid p = iri(qs, "http://ex.org/p"), q = iri(qs, "http://ex.org/q");
    char name[64];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "http://ex.org/s%d", i);
        fleet_tid s = iri(qs, name);
        snprintf(name, sizeof(name), "%d", i % 5);
        fleet_tid o = lit(qs, name, NULL, XSD "integer");
        const fleet_tid quad[4] = {s, i < 40 ? p : q, o, FLEET_QS_DEFAULT_GRAPH};
        ck_assert_int_eq(fleet_qs_add(qs, quad), 1);
        fleet_qs_unref(qs, s);
        fleet_qs_unref(qs, o);
    }
    const fleet_tid all[4] = {0, 0, 0, FLEET_QS_ANY_GRAPH}, byp[4] = {0, p, 0, FLEET_QS_ANY_GRAPH},
                    byq[4] = {0, q, 0, FLEET_QS_ANY_GRAPH};
    ck_assert_uint_eq(fleet_qs_estimate(qs, all), 50);
    ck_assert_uint_eq(fleet_qs_estimate(qs, byp), 40);
    ck_assert_uint_eq(fleet_qs_estimate(qs, byq), 10);
    fleet_tid zero = lit(qs, "0", NULL, XSD "integer");
    const fleet_tid pz[4] = {0, p, zero, FLEET_QS_ANY_GRAPH};
    /* o = "0" is in 10 quads, p in 40: the shorter list, and at least the 8 matches */
    ck_assert_uint_eq(fleet_qs_estimate(qs, pz), 10);
    ck_assert_uint_ge(fleet_qs_estimate(qs, pz), count_pattern(qs, 0, p, zero, FLEET_QS_ANY_GRAPH));
    fleet_qs_unref(qs, zero);
    fleet_qs_unref(qs, p);
    fleet_qs_unref(qs, q);
    fleet_qs_free(qs);
}
END_TEST

static Suite *quadstore_suite(void)
{
    Suite *s = suite_create("quadstore");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_intern_lookup_unref);
    tcase_add_test(tc, test_estimate);
    tcase_add_test(tc, test_many_terms);
    tcase_add_test(tc, test_literal_identity);
    tcase_add_test(tc, test_datatype_lifetime);
    tcase_add_test(tc, test_add_remove_contains);
    tcase_add_test(tc, test_refcount_frees_terms);
    tcase_add_test(tc, test_iterator_invalidated);
    tcase_add_test(tc, test_patterns_random);
    tcase_add_test(tc, test_clear_graph_and_list);
    tcase_add_test(tc, test_save_load_roundtrip);
    tcase_add_test(tc, test_save_load_large_and_io_errors);
    tcase_add_test(tc, test_load_truncated_and_flipped);
    tcase_add_test(tc, test_load_mutated_with_valid_crc);
    tcase_add_test(tc, test_load_crafted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(quadstore_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
