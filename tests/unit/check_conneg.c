/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/conneg.c: which result format a client gets for its Accept header (q-values,
 * type and star wildcards, more specific ranges overriding less specific ones, q=0 exclusion,
 * ties to the server's order, real browser and library headers, garbage and huge headers), and
 * the Content-Type helpers used to read request bodies. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conneg.h"

enum { JSON, XML, CSV, TSV };
static const char *const offers[] = {
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "text/csv",
    "text/tab-separated-values",
};
#define NOFFERS (sizeof(offers) / sizeof(offers[0]))

static int pick(const char *accept)
{
    return fleet_conneg_pick(accept, offers, NOFFERS);
}

START_TEST(test_no_preference)
{
    ck_assert_int_eq(pick(NULL), JSON);
    ck_assert_int_eq(pick(""), JSON);
    ck_assert_int_eq(pick(" \t "), JSON);
    ck_assert_int_eq(pick("*/*"), JSON);
    ck_assert_int_eq(pick("*/*;q=0.5"), JSON);
}
END_TEST

START_TEST(test_exact_and_type_wildcards)
{
    ck_assert_int_eq(pick("application/sparql-results+xml"), XML);
    ck_assert_int_eq(pick("text/tab-separated-values"), TSV);
    ck_assert_int_eq(pick("text/csv"), CSV);
    ck_assert_int_eq(pick("application/*"), JSON);
    ck_assert_int_eq(pick("text/*"), CSV);
    ck_assert_int_eq(pick("image/png"), -1);
    ck_assert_int_eq(pick("image/*"), -1);
    ck_assert_int_eq(pick("application/json"), -1);
}
END_TEST

START_TEST(test_case_insensitive)
{
    ck_assert_int_eq(pick("TEXT/CSV"), CSV);
    ck_assert_int_eq(pick("Application/SPARQL-Results+XML"), XML);
    ck_assert_int_eq(pick("Text/Csv;Q=0.5, application/sparql-results+json;q=0.4"), CSV);
}
END_TEST

START_TEST(test_q_ordering)
{
    ck_assert_int_eq(pick("application/sparql-results+json;q=0.5, "
                          "application/sparql-results+xml;q=0.9"),
                     XML);
    ck_assert_int_eq(pick("application/sparql-results+json;q=0.9, "
                          "application/sparql-results+xml;q=0.5"),
                     JSON);
    ck_assert_int_eq(pick("text/csv;q=0.001, text/tab-separated-values;q=0.002"), TSV);
    ck_assert_int_eq(pick("text/csv;q=1.000, text/tab-separated-values;q=0.999"), CSV);
    ck_assert_int_eq(pick("text/csv;q=0.3, */*;q=0.2"), CSV);
    ck_assert_int_eq(pick("text/csv;q=0.1, */*;q=0.2"), JSON);
}
END_TEST

START_TEST(test_q_zero_excludes)
{
    ck_assert_int_eq(pick("application/sparql-results+json;q=0, */*"), XML);
    ck_assert_int_eq(pick("*/*;q=0"), -1);
    ck_assert_int_eq(pick("text/csv;q=0"), -1);
    ck_assert_int_eq(pick("text/csv;q=0.000"), -1);
    ck_assert_int_eq(pick("application/*;q=0, */*"), CSV);
    ck_assert_int_eq(pick("application/*;q=0, text/*;q=0, */*"), -1);
}
END_TEST

START_TEST(test_specific_beats_wildcard)
{
    /* RFC 9110 12.5.1: the most specific range that matches sets the q of an offer */
    ck_assert_int_eq(pick("text/*;q=0.1, text/csv"), CSV);
    ck_assert_int_eq(pick("text/csv, text/*;q=0.1"), CSV);
    ck_assert_int_eq(pick("text/*, text/csv;q=0"), TSV);
    ck_assert_int_eq(pick("text/csv;q=0.2, text/*;q=0.8"), TSV);
    ck_assert_int_eq(pick("*/*;q=0.1, text/tab-separated-values;q=0.2"), TSV);
    /* json/xml 0.1 (application/star), csv 0.5 (exact), tsv 0.9 (only star/star matches) */
    ck_assert_int_eq(pick("*/*;q=0.9, application/*;q=0.1, text/csv;q=0.5"), TSV);
    ck_assert_int_eq(pick("*/*, application/sparql-results+json;q=0"), XML);
}
END_TEST

START_TEST(test_ties_go_to_earlier_offer)
{
    ck_assert_int_eq(pick("text/csv, application/sparql-results+xml"), XML);
    ck_assert_int_eq(pick("text/tab-separated-values;q=0.5, text/csv;q=0.5"), CSV);
    static const char *const reversed[] = {"text/csv", "application/sparql-results+json"};
    ck_assert_int_eq(fleet_conneg_pick("*/*", reversed, 2), 0);
    ck_assert_int_eq(fleet_conneg_pick(NULL, reversed, 2), 0);
}
END_TEST

START_TEST(test_parameters_ignored)
{
    ck_assert_int_eq(pick("text/csv;charset=utf-8;q=0.9, application/sparql-results+json;q=0.8"),
                     CSV);
    ck_assert_int_eq(pick("text/csv; header=\"present,absent\"; q=0.9, "
                          "application/sparql-results+json;q=0.8"),
                     CSV);
    ck_assert_int_eq(pick("text/csv;q=0.5;foo=bar, application/sparql-results+xml;q=0.4"), CSV);
    /* a second q is an accept-ext, not the weight */
    ck_assert_int_eq(pick("text/csv;q=0.5;q=0.9, text/tab-separated-values;q=0.7"), TSV);
    /* empty parameters are allowed by the grammar */
    ck_assert_int_eq(pick("text/csv;;q=0.5;, application/sparql-results+xml;q=0.4"), CSV);
    /* equally specific duplicates: the highest q counts */
    ck_assert_int_eq(pick("text/csv;q=0.1, text/csv;q=0.9, text/tab-separated-values;q=0.5"), CSV);
}
END_TEST

START_TEST(test_whitespace)
{
    ck_assert_int_eq(pick("  text/csv ; q=0.5 ,\tapplication/sparql-results+xml\t;\tq=0.4  "), CSV);
    ck_assert_int_eq(pick(",, ,text/csv,,"), CSV);
}
END_TEST

START_TEST(test_browsers_and_libraries)
{
    static const char *const html_offers[] = {"application/sparql-results+json", "text/html"};
    const char *firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    const char *chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                         "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
    const char *java = "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2";

    ck_assert_int_eq(pick(firefox), JSON);
    ck_assert_int_eq(pick(chrome), JSON);
    ck_assert_int_eq(pick(java), JSON);
    ck_assert_int_eq(fleet_conneg_pick(firefox, html_offers, 2), 1);
    ck_assert_int_eq(fleet_conneg_pick(chrome, html_offers, 2), 1);
    ck_assert_int_eq(fleet_conneg_pick(java, html_offers, 2), 1);
    /* what SPARQL clients send */
    ck_assert_int_eq(pick("application/sparql-results+json, application/sparql-results+xml;q=0.9, "
                          "*/*;q=0.1"),
                     JSON);
    ck_assert_int_eq(pick("application/sparql-results+xml, application/xml;q=0.9"), XML);
}
END_TEST

START_TEST(test_broken_elements_ignored)
{
    ck_assert_int_eq(pick("text/csv;q=abc, application/sparql-results+xml;q=0.1"), XML);
    ck_assert_int_eq(pick("text/csv;q=1.5, text/tab-separated-values"), TSV);
    ck_assert_int_eq(pick("text/csv;q=2, text/tab-separated-values;q=0.1"), TSV);
    ck_assert_int_eq(pick("text/csv;q=-1, text/tab-separated-values;q=0.1"), TSV);
    ck_assert_int_eq(pick("text/csv;q=0.1234, text/tab-separated-values;q=0.1"), TSV);
    ck_assert_int_eq(pick("text/csv;q=\"0.9\", text/tab-separated-values;q=0.1"), TSV);
    ck_assert_int_eq(pick("text/csv;q=, text/tab-separated-values;q=0.1"), TSV);
    ck_assert_int_eq(pick("text/csv;q, text/tab-separated-values;q=0.1"), TSV);
    ck_assert_int_eq(pick("text/csv junk, text/tab-separated-values;q=0.1"), TSV);
    ck_assert_int_eq(pick("*/csv, text/tab-separated-values;q=0.1"), TSV);
    ck_assert_int_eq(pick("text/, /csv, text, text/tab-separated-values;q=0.1"), TSV);
    ck_assert_int_eq(pick("\x01\xff, text/csv"), CSV);
    /* a broken element is skipped to the next comma outside a quoted string */
    ck_assert_int_eq(pick("text/csv;a=\"x, application/sparql-results+xml, y\" junk, "
                          "text/tab-separated-values;q=0.1"),
                     TSV);
}
END_TEST

START_TEST(test_garbage_only)
{
    /* no parseable element at all: treated as if there were no Accept header */
    ck_assert_int_eq(pick("garbage"), JSON);
    ck_assert_int_eq(pick(",,,;;;"), JSON);
    ck_assert_int_eq(pick("text/csv;q=9"), JSON);
    ck_assert_int_eq(pick(";q=0.5"), JSON);
    ck_assert_int_eq(pick("\"text/csv\""), JSON);
    /* an unterminated quoted string swallows the rest of the header */
    ck_assert_int_eq(pick("text/csv;a=\"x, application/sparql-results+xml"), JSON);
    ck_assert_int_eq(pick("text/csv;a=\"x\\"), JSON);
}
END_TEST

START_TEST(test_long_headers)
{
    const char *unit = "text/plain;q=0.1, ";
    size_t ul = strlen(unit), reps = 100000;
    char *h = malloc(ul * reps + 32);
    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < reps; i++)
        memcpy(h + i * ul, unit, ul);
    strcpy(h + ul * reps, "text/csv");
    ck_assert_int_eq(pick(h), CSV);
    /* one enormous token and one enormous parameter value */
    memset(h, 'a', ul * reps);
    h[ul * reps] = '\0';
    ck_assert_int_eq(pick(h), JSON);
    memcpy(h, "text/csv;x=\"", 12);
    ck_assert_int_eq(pick(h), JSON);
    h[ul * reps - 1] = '"';
    ck_assert_int_eq(pick(h), CSV);
    free(h);
}
END_TEST

START_TEST(test_offer_edges)
{
    ck_assert_int_eq(fleet_conneg_pick("*/*", offers, 0), -1);
    ck_assert_int_eq(fleet_conneg_pick(NULL, offers, 0), -1);
    ck_assert_int_eq(fleet_conneg_pick("*/*", NULL, 3), -1);
    static const char *const holes[] = {NULL, "text/csv"};
    ck_assert_int_eq(fleet_conneg_pick("*/*", holes, 2), 1);
    /* an offer written with parameters is matched on its type alone */
    static const char *const with_params[] = {"text/csv; charset=utf-8"};
    ck_assert_int_eq(fleet_conneg_pick("text/csv", with_params, 1), 0);
}
END_TEST

START_TEST(test_media_type_is)
{
    const char *q = "application/sparql-query";
    ck_assert_int_eq(fleet_media_type_is("application/sparql-query", q), 1);
    ck_assert_int_eq(fleet_media_type_is("Application/SPARQL-Query; charset=UTF-8", q), 1);
    ck_assert_int_eq(fleet_media_type_is("  application/sparql-query ;charset=utf-8", q), 1);
    ck_assert_int_eq(fleet_media_type_is("application/sparql-query  ", q), 1);
    ck_assert_int_eq(fleet_media_type_is("application/sparql-query;", q), 1);
    ck_assert_int_eq(fleet_media_type_is("application/sparql-query-x", q), 0);
    ck_assert_int_eq(fleet_media_type_is("application/sparql", q), 0);
    ck_assert_int_eq(fleet_media_type_is("application/sparql-update", q), 0);
    ck_assert_int_eq(fleet_media_type_is("application/sparql-query garbage", q), 0);
    ck_assert_int_eq(fleet_media_type_is("application/sparql-query,text/plain", q), 0);
    ck_assert_int_eq(fleet_media_type_is("text/sparql-query", q), 0);
    ck_assert_int_eq(fleet_media_type_is("*/*", q), 0);
    ck_assert_int_eq(fleet_media_type_is("", q), 0);
    ck_assert_int_eq(fleet_media_type_is(NULL, q), 0);
    ck_assert_int_eq(fleet_media_type_is(q, NULL), 0);
    ck_assert_int_eq(fleet_media_type_is("application/x-www-form-urlencoded",
                                         "application/x-www-form-urlencoded"),
                     1);
}
END_TEST

START_TEST(test_media_type_param)
{
    char out[32];
    const char *ct = "application/sparql-query; charset=UTF-16";

    ck_assert_int_eq(fleet_media_type_param(ct, "charset", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "utf-16");
    ck_assert_int_eq(fleet_media_type_param(ct, "CharSet", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "utf-16");
    ck_assert_int_eq(
        fleet_media_type_param("text/plain;CHARSET=\"UTF-8\"", "charset", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "utf-8");
    ck_assert_int_eq(
        fleet_media_type_param("text/plain; x=\"a\\\"b;c\"; charset=latin1", "x", out, sizeof(out)),
        1);
    ck_assert_str_eq(out, "a\"b;c");
    ck_assert_int_eq(fleet_media_type_param("text/plain; x=\"a;charset=no\"; charset=latin1",
                                            "charset", out, sizeof(out)),
                     1);
    ck_assert_str_eq(out, "latin1");
    ck_assert_int_eq(
        fleet_media_type_param("text/plain; charsetx=a; charset=b", "charset", out, sizeof(out)),
        1);
    ck_assert_str_eq(out, "b");
    ck_assert_int_eq(
        fleet_media_type_param("text/plain; charset=a; charset=b", "charset", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "a");
    ck_assert_int_eq(fleet_media_type_param("text/plain; x=\"\"", "x", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_media_type_param_absent_or_bad)
{
    char out[7];

    strcpy(out, "junk");
    ck_assert_int_eq(fleet_media_type_param("application/sparql-query", "charset", out, 7), 0);
    ck_assert_str_eq(out, "");
    /* "utf-16" needs 7 bytes with the NUL */
    ck_assert_int_eq(fleet_media_type_param("text/plain;charset=utf-16", "charset", out, 7), 1);
    ck_assert_str_eq(out, "utf-16");
    ck_assert_int_eq(fleet_media_type_param("text/plain;charset=utf-16", "charset", out, 6), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(fleet_media_type_param("text/plain;charset=\"utf-16\"", "charset", out, 6), 0);
    ck_assert_int_eq(fleet_media_type_param("text/plain; charset", "charset", out, 7), 0);
    ck_assert_int_eq(fleet_media_type_param("text/plain; charset=", "charset", out, 7), 0);
    ck_assert_int_eq(fleet_media_type_param("text/plain; charset=\"utf", "charset", out, 7), 0);
    ck_assert_int_eq(fleet_media_type_param("text/plain; a b; charset=x", "charset", out, 7), 0);
    ck_assert_int_eq(fleet_media_type_param("garbage; charset=x", "charset", out, 7), 0);
    ck_assert_int_eq(fleet_media_type_param(NULL, "charset", out, 7), 0);
    ck_assert_int_eq(fleet_media_type_param("text/plain;charset=x", NULL, out, 7), 0);
    ck_assert_int_eq(fleet_media_type_param("text/plain;charset=x", "charset", NULL, 7), 0);
    ck_assert_int_eq(fleet_media_type_param("text/plain;charset=x", "charset", out, 0), 0);
}
END_TEST

static Suite *conneg_suite(void)
{
    Suite *s = suite_create("conneg");
    TCase *tc = tcase_create("accept");
    tcase_add_test(tc, test_no_preference);
    tcase_add_test(tc, test_exact_and_type_wildcards);
    tcase_add_test(tc, test_case_insensitive);
    tcase_add_test(tc, test_q_ordering);
    tcase_add_test(tc, test_q_zero_excludes);
    tcase_add_test(tc, test_specific_beats_wildcard);
    tcase_add_test(tc, test_ties_go_to_earlier_offer);
    tcase_add_test(tc, test_parameters_ignored);
    tcase_add_test(tc, test_whitespace);
    tcase_add_test(tc, test_browsers_and_libraries);
    tcase_add_test(tc, test_broken_elements_ignored);
    tcase_add_test(tc, test_garbage_only);
    tcase_add_test(tc, test_long_headers);
    tcase_add_test(tc, test_offer_edges);
    suite_add_tcase(s, tc);
    tc = tcase_create("content-type");
    tcase_add_test(tc, test_media_type_is);
    tcase_add_test(tc, test_media_type_param);
    tcase_add_test(tc, test_media_type_param_absent_or_bad);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conneg_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
