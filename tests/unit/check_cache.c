/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/cache.c: hits only at the generation an answer was stored with, a stale
 * entry dropped on sight, copies in and out (the caller's buffers are never kept), the byte
 * budget with least-recently-used eviction, oversized answers not kept, clear, and many threads
 * reading and writing while the generation moves. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

static struct fleet_cache_answer answer(int status, const char *body)
{
    struct fleet_cache_answer a;
    memset(&a, 0, sizeof(a));
    a.status = status;
    a.content_type = (char *)"application/json";
    a.headers[0] = (char *)"Link";
    a.headers[1] = (char *)"</next>; rel=\"next\"";
    a.body = (char *)body;
    a.len = strlen(body);
    return a;
}

START_TEST(test_generation)
{
    struct fleet_cache *c = fleet_cache_new(1 << 20);
    char body[] = "{\"total\":1}";
    struct fleet_cache_answer a = answer(200, body), out;
    ck_assert_int_eq(fleet_cache_get(c, "k", 7, &out), 0);
    fleet_cache_put(c, "k", 7, &a);
    body[0] = 'X'; /* the cache holds its own copy */
    ck_assert_int_eq(fleet_cache_get(c, "k", 7, &out), 1);
    ck_assert_int_eq(out.status, 200);
    ck_assert_uint_eq(out.len, 11);
    ck_assert(memcmp(out.body, "{\"total\":1}", 11) == 0);
    ck_assert_str_eq(out.content_type, "application/json");
    ck_assert_str_eq(out.headers[0], "Link");
    ck_assert_str_eq(out.headers[1], "</next>; rel=\"next\"");
    ck_assert_ptr_null(out.headers[2]);
    fleet_cache_answer_free(&out);
    /* Another generation: a miss, and the entry is gone even for its own generation. */
    ck_assert_int_eq(fleet_cache_get(c, "k", 8, &out), 0);
    ck_assert_int_eq(fleet_cache_get(c, "k", 7, &out), 0);
    struct fleet_cache_stats st;
    fleet_cache_stats(c, &st);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.stale, 1);
    ck_assert_uint_eq(st.misses, 3);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_eq(st.bytes, 0);
    /* Replacing an entry. */
    fleet_cache_put(c, "k", 9, &a);
    struct fleet_cache_answer b = answer(404, "gone");
    fleet_cache_put(c, "k", 9, &b);
    ck_assert_int_eq(fleet_cache_get(c, "k", 9, &out), 1);
    ck_assert_int_eq(out.status, 404);
    fleet_cache_answer_free(&out);
    fleet_cache_stats(c, &st);
    ck_assert_uint_eq(st.entries, 1);
    fleet_cache_clear(c);
    ck_assert_int_eq(fleet_cache_get(c, "k", 9, &out), 0);
    fleet_cache_free(c);
}
END_TEST

START_TEST(test_budget_and_lru)
{
    /* Each entry costs its key, body and headers plus a fixed overhead: measure one. */
    struct fleet_cache *probe = fleet_cache_new(1 << 20);
    char body[1000];
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    struct fleet_cache_answer a = answer(200, body), out;
    fleet_cache_put(probe, "key-00", 1, &a);
    struct fleet_cache_stats st;
    fleet_cache_stats(probe, &st);
    size_t one = st.bytes;
    fleet_cache_free(probe);
    ck_assert_uint_gt(one, 999);

    /* Room for exactly 10 entries (each under the 1/8 limit). */
    struct fleet_cache *c = fleet_cache_new(10 * one);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "key-%02d", i);
        fleet_cache_put(c, key, 1, &a);
    }
    fleet_cache_stats(c, &st);
    ck_assert_uint_eq(st.entries, 10);
    /* Touch key-00: key-01 becomes the least recently used and goes first. */
    ck_assert_int_eq(fleet_cache_get(c, "key-00", 1, &out), 1);
    fleet_cache_answer_free(&out);
    fleet_cache_put(c, "key-10", 1, &a);
    ck_assert_int_eq(fleet_cache_get(c, "key-01", 1, &out), 0);
    ck_assert_int_eq(fleet_cache_get(c, "key-00", 1, &out), 1);
    fleet_cache_answer_free(&out);
    fleet_cache_stats(c, &st);
    ck_assert_uint_eq(st.entries, 10);
    ck_assert_uint_eq(st.evictions, 1);
    ck_assert_uint_le(st.bytes, st.max_bytes);
    fleet_cache_free(c);

    /* An answer over an eighth of the budget is not kept; a zero budget keeps nothing. */
    c = fleet_cache_new(4 * one);
    fleet_cache_put(c, "big", 1, &a);
    ck_assert_int_eq(fleet_cache_get(c, "big", 1, &out), 0);
    fleet_cache_free(c);
    c = fleet_cache_new(0);
    fleet_cache_put(c, "any", 1, &a);
    ck_assert_int_eq(fleet_cache_get(c, "any", 1, &out), 0);
    fleet_cache_free(c);
}
END_TEST

struct worker {
    struct fleet_cache *c;
    volatile uint64_t *gen;
    int id;
    int bad;
};

/* Readers and writers over 64 keys while the generation moves: every hit must carry the body
 * stored for that key at that generation. */
static void *work(void *arg)
{
    struct worker *w = arg;
    char key[16], body[64];
    for (int i = 0; i < 20000; i++) {
        uint64_t g = __atomic_load_n(w->gen, __ATOMIC_ACQUIRE);
        int k = (i * 7 + w->id) % 64;
        snprintf(key, sizeof(key), "k%d", k);
        snprintf(body, sizeof(body), "%s@%llu", key, (unsigned long long)g);
        struct fleet_cache_answer out;
        int r = fleet_cache_get(w->c, key, g, &out);
        if (r == 1) {
            if (out.len != strlen(body) || memcmp(out.body, body, out.len) != 0)
                w->bad++;
            fleet_cache_answer_free(&out);
        } else {
            struct fleet_cache_answer a = answer(200, body);
            fleet_cache_put(w->c, key, g, &a);
        }
        if (w->id == 0 && i % 500 == 0)
            __atomic_add_fetch(w->gen, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

START_TEST(test_threads)
{
    struct fleet_cache *c = fleet_cache_new(64 * 1024);
    volatile uint64_t gen = 1;
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){c, &gen, i, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].bad, 0);
    }
    struct fleet_cache_stats st;
    fleet_cache_stats(c, &st);
    ck_assert_uint_gt(st.hits, 0);
    ck_assert_uint_le(st.bytes, st.max_bytes);
    fleet_cache_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_generation);
    tcase_add_test(tc, test_budget_and_lru);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
