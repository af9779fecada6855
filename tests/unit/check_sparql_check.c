/* SPDX-License-Identifier: MIT */
/* Unit tests of lib/sparql_check.c: the helper that tries rasqal's parse before the daemon does. */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sparql_check.h"

START_TEST(test_accepts_and_refuses)
{
    struct fleet_sparql_check *c = fleet_sparql_check_new(0, 0);
    char msg[512];
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(fleet_sparql_check(c, "SELECT * WHERE { ?s ?p ?o }", NULL, 5000, msg,
                                        sizeof(msg)), 1);
    ck_assert_str_eq(msg, "");
    ck_assert_int_eq(fleet_sparql_check(c, "SELECT ?s WHERE { ?s ?p ?o } LIMIT x", NULL, 5000,
                                        msg, sizeof(msg)), 0);
    /* rasqal's own words, with the line, as the daemon reports them */
    ck_assert_msg(strstr(msg, "line 1:") && strstr(msg, "syntax error"), "%s", msg);
    /* relative IRIs are resolved against the base given */
    ck_assert_int_eq(fleet_sparql_check(c, "SELECT * WHERE { <a> ?p ?o }", "http://ex.org/",
                                        5000, msg, sizeof(msg)), 1);
    /* rasqal's "sparql" parser takes an update too: the daemon refuses it by its verb after */
    ck_assert_int_eq(fleet_sparql_check(c, "INSERT DATA { <a:b> <a:c> <a:d> }", NULL, 5000, msg,
                                        sizeof(msg)), 1);
    /* an empty text, and bytes that are not SPARQL at all */
    ck_assert_int_eq(fleet_sparql_check(c, "", NULL, 5000, msg, sizeof(msg)), 0);
    ck_assert_int_eq(fleet_sparql_check(c, "\x01\xff{{{", NULL, 5000, msg, sizeof(msg)), 0);
    fleet_sparql_check_free(c);
}
END_TEST

/* A text that parsed is not sent again; refusals always are. */
START_TEST(test_remembers_good_texts)
{
    struct fleet_sparql_check *c = fleet_sparql_check_new(0, 0);
    struct fleet_sparql_check_stats s;
    char msg[512];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(fleet_sparql_check(c, "ASK {}", NULL, 5000, msg, sizeof(msg)), 1);
        ck_assert_int_eq(fleet_sparql_check(c, "ASK {", NULL, 5000, msg, sizeof(msg)), 0);
    }
    /* the same text against another base is another check */
    ck_assert_int_eq(fleet_sparql_check(c, "ASK {}", "http://ex.org/", 5000, msg, sizeof(msg)),
                     1);
    fleet_sparql_check_stats(c, &s);
    ck_assert_uint_eq(s.checks, 7);
    ck_assert_uint_eq(s.remembered, 2);
    ck_assert_uint_eq(s.refused, 3);
    ck_assert_uint_eq(s.helpers_started, 1);
    fleet_sparql_check_free(c);
}
END_TEST

/* After recycle_after refusals the helper (and what rasqal leaked in it) is replaced. */
START_TEST(test_recycles_the_helper)
{
    struct fleet_sparql_check *c = fleet_sparql_check_new(3, 0);
    struct fleet_sparql_check_stats s;
    char msg[512], q[64];
    for (int i = 0; i < 10; i++) {
        snprintf(q, sizeof(q), "SELECT ?s WHERE { ?s ?p ?o } LIMIT x%d", i);
        ck_assert_int_eq(fleet_sparql_check(c, q, NULL, 5000, msg, sizeof(msg)), 0);
    }
    ck_assert_int_eq(fleet_sparql_check(c, "ASK {}", NULL, 5000, msg, sizeof(msg)), 1);
    fleet_sparql_check_stats(c, &s);
    /* refusals 1-3 in the first helper, 4-6, 7-9, 10 and the ASK in the fourth */
    ck_assert_uint_eq(s.helpers_started, 4);
    fleet_sparql_check_free(c);
}
END_TEST

/* A helper older than max_age is replaced before it is used (it shares the daemon's pages
 * copy-on-write), and one left idle past it ends by itself: the next check starts another. */
START_TEST(test_replaced_by_age)
{
    struct fleet_sparql_check *c = fleet_sparql_check_new(0, 1);
    struct fleet_sparql_check_stats s;
    char msg[512];
    ck_assert_int_eq(fleet_sparql_check(c, "ASK { ?a ?b 1 }", NULL, 5000, msg, sizeof(msg)), 1);
    sleep(2);
    ck_assert_int_eq(fleet_sparql_check(c, "ASK { ?a ?b 2 }", NULL, 5000, msg, sizeof(msg)), 1);
    fleet_sparql_check_stats(c, &s);
    ck_assert_uint_eq(s.helpers_started, 2);
    sleep(7); /* past max_age + 5 s: the helper has ended on its own, unreaped so far */
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    ck_assert_int_eq(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT), 0);
    ck_assert_msg(si.si_pid > 0, "the idle helper is still running");
    ck_assert_int_eq(si.si_code, CLD_EXITED);
    ck_assert_int_eq(fleet_sparql_check(c, "ASK { ?a ?b 3 }", NULL, 5000, msg, sizeof(msg)), 1);
    fleet_sparql_check_stats(c, &s);
    ck_assert_uint_eq(s.helpers_started, 3);
    ck_assert_uint_eq(s.refused, 0);
    fleet_sparql_check_free(c);
}
END_TEST

/* The helper keeps nothing the daemon had open: a pipe made before it started reads EOF as
 * soon as the daemon closes its write end (a query child's pipe held by the helper would keep
 * that query waiting for as long as the helper lives). */
START_TEST(test_keeps_no_descriptors)
{
    int p[2];
    char msg[256], b;
    ck_assert_int_eq(pipe(p), 0);
    struct fleet_sparql_check *c = fleet_sparql_check_new(0, 0);
    ck_assert_int_eq(fleet_sparql_check(c, "ASK {}", NULL, 5000, msg, sizeof(msg)), 1);
    close(p[1]);
    struct pollfd pf = {p[0], POLLIN, 0};
    ck_assert_int_eq(poll(&pf, 1, 2000), 1);
    ck_assert_int_eq(read(p[0], &b, 1), 0); /* EOF, not a timeout */
    close(p[0]);
    fleet_sparql_check_free(c);
}
END_TEST

/* Many threads at once get their own answers. */
struct worker {
    struct fleet_sparql_check *c;
    int id, wrong;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    char q[128], msg[256];
    for (int i = 0; i < 200; i++) {
        int good = (i + w->id) % 2;
        snprintf(q, sizeof(q), good ? "SELECT ?x%d WHERE { ?x%d ?p %d }" :
                                      "SELECT ?x%d WHERE { ?x%d ?p %d ",
                 w->id, w->id, i);
        w->wrong += fleet_sparql_check(w->c, q, NULL, 5000, msg, sizeof(msg)) != good;
    }
    return NULL;
}

START_TEST(test_threads)
{
    struct fleet_sparql_check *c = fleet_sparql_check_new(50, 0);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){c, i, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].wrong, 0);
    }
    fleet_sparql_check_free(c);
}
END_TEST

static Suite *check_suite(void)
{
    Suite *s = suite_create("sparql_check");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_accepts_and_refuses);
    tcase_add_test(tc, test_remembers_good_texts);
    tcase_add_test(tc, test_recycles_the_helper);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_replaced_by_age);
    tcase_add_test(tc, test_keeps_no_descriptors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(check_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
