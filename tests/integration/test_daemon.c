/* SPDX-License-Identifier: MIT */
/* Integration tests for tinyfleetd: each test starts the real daemon ($TINYFLEETD) on
 * 127.0.0.1 port 0 with a port file, in its own mkdtemp directory (config, token file, state
 * dir, log), and talks to it over HTTP with libcurl, the way a user would: the Graph Store
 * protocol on /data, queries and updates on /sparql, bearer tokens, problem+json errors, the
 * query timeout, crash durability (kill -9 right after a 2xx, and in the middle of a stream of
 * writes), SIGTERM and SIGHUP. The fixtures are written by the tests themselves; the one test
 * over the paper's TinyML boards ($SHARED_DIR/tinyml-kg) prints a note and passes when that
 * directory is absent. Every daemon a test starts is killed on every path: by the test, by the
 * checked teardown, by an atexit handler, and, last, by Check killing the test's process group. */
#include <check.h>

#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define PREFIX "PREFIX ex: <" EX ">\n"

/* Fixtures. */
static const char TTL_A[] = "@prefix ex: <" EX "> .\n"
                            "ex:a ex:p \"one\" ;\n"
                            "     ex:q ex:b .\n";
#define NT_A                                                                                       \
    "<" EX "a> <" EX "p> \"one\" .\n"                                                              \
    "<" EX "a> <" EX "q> <" EX "b> ."
static const char TTL_B[] = "@prefix ex: <" EX "> .\n"
                            "ex:b ex:p \"two\" .\n";
#define NT_B "<" EX "b> <" EX "p> \"two\" ."
static const char TTL_C[] = "@prefix ex: <" EX "> .\n"
                            "ex:c ex:p \"three\" .\n";
#define NT_C "<" EX "c> <" EX "p> \"three\" ."

/* ---- the tests --------------------------------------------------------------------------- */

START_TEST(test_healthz)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    http(d, "GET", "/healthz", NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "application/json"), "healthz type '%s'", r.ctype);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    ck_assert_msg(j != NULL, "healthz is not JSON: %s", r.body);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    ck_assert(json_is_integer(json_object_get(j, "triples")));
    ck_assert(json_is_string(json_object_get(j, "version")));
    json_int_t before = json_integer_value(json_object_get(j, "triples"));
    json_decref(j);
    reply_free(&r);

    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);
    http(d, "GET", "/healthz", NULL, NULL, NULL, NULL, 0, &r);
    j = json_loadb(r.body, r.len, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "triples")), before + 2);
    json_decref(j);
    reply_free(&r);

    http(d, "GET", "/no/such/thing", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    daemon_free(d);
}
END_TEST

START_TEST(test_graph_store_crud)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    char *g;
    struct reply r;
    char path[512];

    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);
    g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_A);
    free(g);

    /* Turtle by default and on request; HEAD has the headers and no body */
    data_path(path, sizeof(path), EX "g1");
    http(d, "GET", path, NULL, NULL, "text/turtle", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "text/turtle"), "type '%s'", r.ctype);
    ck_assert_ptr_nonnull(strstr(r.body, "one"));
    reply_free(&r);
    http(d, "HEAD", path, NULL, NULL, "text/turtle", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "text/turtle"), "HEAD type '%s'", r.ctype);
    ck_assert_uint_eq(r.len, 0);
    reply_free(&r);

    /* PUT replaces */
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_B), 204);
    g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_B);
    free(g);

    /* POST adds (N-Triples this time) */
    long st = send_graph(d, "POST", EX "g1", "application/n-triples", NT_C "\n");
    ck_assert_msg(st == 200 || st == 204, "POST to an existing graph: %ld", st);
    g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_B "\n" NT_C);
    free(g);

    /* POST to a new graph creates it */
    ck_assert_int_eq(send_graph(d, "POST", EX "g2", "text/turtle", TTL_A), 201);
    g = graph_lines(d, EX "g2");
    ck_assert_str_eq(g, NT_A);
    free(g);

    /* the default graph */
    st = send_graph(d, "PUT", NULL, "text/turtle", TTL_C);
    ck_assert_msg(st == 201 || st == 204, "PUT ?default: %ld", st);
    g = graph_lines(d, NULL);
    ck_assert_str_eq(g, NT_C);
    free(g);

    /* DELETE, then it is gone */
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, "404");
    free(g);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    /* the other graph is untouched */
    g = graph_lines(d, EX "g2");
    ck_assert_str_eq(g, NT_A);
    free(g);

    /* neither or both of ?default and ?graph */
    http(d, "GET", "/data", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    daemon_free(d);
}
END_TEST

START_TEST(test_auth)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    char path[512];
    data_path(path, sizeof(path), EX "g1");

    http(d, "PUT", path, NULL, "text/turtle", NULL, TTL_A, strlen(TTL_A), &r);
    assert_problem(&r, 401);
    ck_assert_msg(strncasecmp(r.www_auth, "Bearer", 6) == 0,
                  "401 without WWW-Authenticate: Bearer (got '%s')", r.www_auth);
    reply_free(&r);

    http(d, "PUT", path, "not-a-configured-token-0000", "text/turtle", NULL, TTL_A, strlen(TTL_A),
         &r);
    assert_problem(&r, 401);
    ck_assert_msg(strncasecmp(r.www_auth, "Bearer", 6) == 0, "WWW-Authenticate '%s'", r.www_auth);
    reply_free(&r);

    http(d, "PUT", path, READ_TOKEN, "text/turtle", NULL, TTL_A, strlen(TTL_A), &r);
    assert_problem(&r, 403);
    reply_free(&r);
    http(d, "DELETE", path, READ_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 403);
    reply_free(&r);

    const char *ins = PREFIX "INSERT DATA { ex:x ex:p \"1\" }";
    ck_assert_int_eq(update(d, NULL, ins, &r), 401);
    assert_problem(&r, 401);
    ck_assert_msg(strncasecmp(r.www_auth, "Bearer", 6) == 0, "WWW-Authenticate '%s'", r.www_auth);
    reply_free(&r);
    ck_assert_int_eq(update(d, READ_TOKEN, ins, &r), 403);
    assert_problem(&r, 403);
    reply_free(&r);
    /* the form-encoded update is checked the same way */
    const char *form = "update=INSERT%20DATA%20%7B%20%3Chttp%3A%2F%2Fexample.org%2Fx%3E%20"
                       "%3Chttp%3A%2F%2Fexample.org%2Fp%3E%20%221%22%20%7D";
    http(d, "POST", "/sparql", NULL, "application/x-www-form-urlencoded", NULL, form, strlen(form),
         &r);
    assert_problem(&r, 401);
    reply_free(&r);

    /* nothing was written */
    char *g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, "404");
    free(g);
    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:x ?p ?o }"), 0);

    /* reads need no token (require_read_token is off), writes work with the write token */
    ck_assert_int_eq(update(d, WRITE_TOKEN, ins, NULL), 204);
    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:x ex:p \"1\" }"), 1);
    http(d, "POST", "/sparql", WRITE_TOKEN, "application/x-www-form-urlencoded", NULL, form,
         strlen(form), &r);
    ck_assert_msg(r.status / 100 == 2, "form update with the write token: %ld %s", r.status,
                  r.body);
    reply_free(&r);
    daemon_free(d);
}
END_TEST

START_TEST(test_malformed_rdf_changes_nothing)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    char path[512];
    data_path(path, sizeof(path), EX "g1");
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);

    /* the first triple parses, the second does not: nothing of it may be stored */
    const char *bad = "@prefix ex: <" EX "> .\n"
                      "ex:new ex:p \"fine\" .\n"
                      "ex:bad ex:p .\n";
    http(d, "PUT", path, WRITE_TOKEN, "text/turtle", NULL, bad, strlen(bad), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    char *g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_A);
    free(g);

    http(d, "POST", path, WRITE_TOKEN, "text/turtle", NULL, bad, strlen(bad), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    const char *unterminated = "@prefix ex: <" EX "> .\nex:z ex:p \"no end ;\n";
    http(d, "PUT", path, WRITE_TOKEN, "text/turtle", NULL, unterminated, strlen(unterminated), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_A);
    free(g);
    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:new ?p ?o }"), 0);

    /* a bad document to a new graph does not create it */
    data_path(path, sizeof(path), EX "g-new");
    http(d, "PUT", path, WRITE_TOKEN, "text/turtle", NULL, bad, strlen(bad), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    g = graph_lines(d, EX "g-new");
    ck_assert_str_eq(g, "404");
    free(g);
    daemon_free(d);
}
END_TEST

START_TEST(test_unsupported_media_type)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    char path[512];
    data_path(path, sizeof(path), EX "g1");

    /* (text/plain is not here: it is the RDF 1.0 media type of N-Triples) */
    http(d, "PUT", path, WRITE_TOKEN, "application/pdf", NULL, TTL_A, strlen(TTL_A), &r);
    assert_problem(&r, 415);
    reply_free(&r);
    http(d, "POST", path, WRITE_TOKEN, "application/json", NULL, "{}", 2, &r);
    assert_problem(&r, 415);
    reply_free(&r);
    http(d, "PUT", path, WRITE_TOKEN, NULL, NULL, TTL_A, strlen(TTL_A), &r);
    assert_problem(&r, 415);
    reply_free(&r);
    char *g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, "404");
    free(g);

    const char *q = "ASK {}";
    http(d, "POST", "/sparql", NULL, "text/plain", NULL, q, strlen(q), &r);
    assert_problem(&r, 415);
    reply_free(&r);
    daemon_free(d);
}
END_TEST

static const char SELECT_AB[] = PREFIX "SELECT ?s ?o WHERE { ?s ex:p ?o } ORDER BY ?s";

static void get_select(const struct daemon *d, const char *query, const char *accept,
                       struct reply *r)
{
    char *eq = escape(query);
    char path[2048];
    snprintf(path, sizeof(path), "/sparql?query=%s", eq);
    free(eq);
    http(d, "GET", path, NULL, NULL, accept, NULL, 0, r);
}

START_TEST(test_select_formats)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g2", "text/turtle", TTL_B), 201);

    get_select(d, SELECT_AB, "application/sparql-results+json", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "application/sparql-results+json"), "type '%s'", r.ctype);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", r.body);
    json_t *vars = json_object_get(json_object_get(j, "head"), "vars");
    ck_assert_int_eq(json_array_size(vars), 2);
    ck_assert_str_eq(json_string_value(json_array_get(vars, 0)), "s");
    ck_assert_str_eq(json_string_value(json_array_get(vars, 1)), "o");
    json_t *rows = json_object_get(json_object_get(j, "results"), "bindings");
    ck_assert_int_eq(json_array_size(rows), 2);
    json_t *s0 = json_object_get(json_array_get(rows, 0), "s");
    json_t *o0 = json_object_get(json_array_get(rows, 0), "o");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "type")), "uri");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "value")), EX "a");
    ck_assert_str_eq(json_string_value(json_object_get(o0, "type")), "literal");
    ck_assert_str_eq(json_string_value(json_object_get(o0, "value")), "one");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(json_array_get(rows, 1), "s"), "value")),
        EX "b");
    json_decref(j);
    reply_free(&r);

    get_select(d, SELECT_AB, "application/sparql-results+xml", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "application/sparql-results+xml"), "type '%s'", r.ctype);
    ck_assert_ptr_nonnull(strstr(r.body, "http://www.w3.org/2005/sparql-results#"));
    ck_assert_ptr_nonnull(strstr(r.body, "<variable name=\"s\""));
    ck_assert_ptr_nonnull(strstr(r.body, "<variable name=\"o\""));
    ck_assert_ptr_nonnull(strstr(r.body, "<uri>" EX "a</uri>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<literal>one</literal>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<uri>" EX "b</uri>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<literal>two</literal>"));
    reply_free(&r);

    /* SPARQL 1.1 CSV: CRLF lines, plain values; TSV: '?' header, N-Triples terms, LF lines */
    get_select(d, SELECT_AB, "text/csv", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "text/csv"), "type '%s'", r.ctype);
    ck_assert_str_eq(r.body, "s,o\r\n" EX "a,one\r\n" EX "b,two\r\n");
    reply_free(&r);

    get_select(d, SELECT_AB, "text/tab-separated-values", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "text/tab-separated-values"), "type '%s'", r.ctype);
    ck_assert_str_eq(r.body, "?s\t?o\n<" EX "a>\t\"one\"\n<" EX "b>\t\"two\"\n");
    reply_free(&r);

    /* q-values decide */
    get_select(d, SELECT_AB, "application/sparql-results+json;q=0.2, text/csv;q=0.9", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "text/csv"), "type '%s'", r.ctype);
    reply_free(&r);

    /* no Accept: some SPARQL results format */
    get_select(d, SELECT_AB, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "application/sparql-results+json") ||
                      media_is(&r, "application/sparql-results+xml"),
                  "no Accept gave '%s'", r.ctype);
    reply_free(&r);

    get_select(d, SELECT_AB, "image/png", &r);
    assert_problem(&r, 406);
    reply_free(&r);
    daemon_free(d);
}
END_TEST

START_TEST(test_term_formats)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    const char *ttl = "@prefix ex: <" EX "> .\n"
                      "ex:t1 ex:v 5 .\n"
                      "ex:t2 ex:v \"chat\"@fr .\n"
                      "ex:t3 ex:v \"a,b \\\"q\\\"\" .\n"
                      "ex:t4 ex:v \"\xc3\xa9 \xc3\xbc \xf0\x9f\x98\x80\" .\n"
                      "ex:t5 ex:v [ ex:w \"inner\" ] .\n";
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", ttl), 201);

    get_select(d, PREFIX "SELECT ?s ?v WHERE { ?s ex:v ?v } ORDER BY ?s",
               "application/sparql-results+json", &r);
    ck_assert_int_eq(r.status, 200);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", r.body);
    json_t *rows = json_object_get(json_object_get(j, "results"), "bindings");
    ck_assert_int_eq(json_array_size(rows), 5);
    json_t *v1 = json_object_get(json_array_get(rows, 0), "v");
    ck_assert_str_eq(json_string_value(json_object_get(v1, "type")), "literal");
    ck_assert_str_eq(json_string_value(json_object_get(v1, "value")), "5");
    ck_assert_str_eq(json_string_value(json_object_get(v1, "datatype")), XSD "integer");
    json_t *v2 = json_object_get(json_array_get(rows, 1), "v");
    ck_assert_str_eq(json_string_value(json_object_get(v2, "value")), "chat");
    ck_assert_str_eq(json_string_value(json_object_get(v2, "xml:lang")), "fr");
    ck_assert_ptr_null(json_object_get(v2, "datatype"));
    json_t *v3 = json_object_get(json_array_get(rows, 2), "v");
    ck_assert_str_eq(json_string_value(json_object_get(v3, "value")), "a,b \"q\"");
    ck_assert_ptr_null(json_object_get(v3, "datatype"));
    json_t *v4 = json_object_get(json_array_get(rows, 3), "v");
    ck_assert_str_eq(json_string_value(json_object_get(v4, "value")),
                     "\xc3\xa9 \xc3\xbc \xf0\x9f\x98\x80");
    json_t *v5 = json_object_get(json_array_get(rows, 4), "v");
    ck_assert_str_eq(json_string_value(json_object_get(v5, "type")), "bnode");
    json_decref(j);
    reply_free(&r);

    get_select(d,
               PREFIX "SELECT ?v WHERE { ?s ex:v ?v FILTER(?s = ex:t1 || ?s = ex:t2) } "
                      "ORDER BY ?s",
               "application/sparql-results+xml", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "<literal datatype=\"" XSD "integer\">5</literal>") != NULL,
                  "XML typed literal: %s", r.body);
    ck_assert_msg(strstr(r.body, "<literal xml:lang=\"fr\">chat</literal>") != NULL,
                  "XML language literal: %s", r.body);
    reply_free(&r);

    /* CSV quotes a field with a comma or quote, doubling the quotes */
    get_select(d, PREFIX "SELECT ?v WHERE { ex:t3 ex:v ?v }", "text/csv", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "v\r\n\"a,b \"\"q\"\"\"\r\n");
    reply_free(&r);
    /* TSV writes terms in Turtle form */
    get_select(d,
               PREFIX "SELECT ?v WHERE { ?s ex:v ?v FILTER(?s = ex:t1 || ?s = ex:t2 || "
                      "?s = ex:t3) } ORDER BY ?s",
               "text/tab-separated-values", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strcmp(r.body, "?v\n5\n\"chat\"@fr\n\"a,b \\\"q\\\"\"\n") == 0 ||
                      strcmp(r.body, "?v\n\"5\"^^<" XSD "integer>\n\"chat\"@fr\n"
                                     "\"a,b \\\"q\\\"\"\n") == 0,
                  "TSV terms: '%s'", r.body);
    reply_free(&r);

    /* UTF-8 through a GET query string and through an update */
    char *rows_txt = select_rows(d, NULL,
                                 PREFIX "SELECT ?s WHERE { ?s ex:v \"\xc3\xa9 \xc3\xbc "
                                        "\xf0\x9f\x98\x80\" }");
    ck_assert_str_eq(rows_txt, EX "t4");
    free(rows_txt);
    ck_assert_int_eq(update(d, WRITE_TOKEN,
                            PREFIX "INSERT DATA { ex:t6 ex:v \"\xe6\x97\xa5\xe6\x9c\xac\"@ja }",
                            NULL),
                     204);
    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:t6 ex:v \"\xe6\x97\xa5\xe6\x9c\xac\"@ja }"), 1);
    /* invalid UTF-8 in a query is refused */
    const char *bad = "ASK { <" EX "a> <" EX "b> \"\xc3\x28\" }";
    http(d, "POST", "/sparql", NULL, "application/sparql-query", NULL, bad, strlen(bad), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    daemon_free(d);
}
END_TEST

START_TEST(test_body_limit)
{
    struct daemon *d = daemon_new("max_body_bytes 2K\n");
    daemon_start(d);
    struct reply r;
    char path[512];
    data_path(path, sizeof(path), EX "g1");
    char *big = malloc(8192);
    ck_assert_ptr_nonnull(big);
    size_t n = 0;
    for (int i = 0; n < 3000; i++)
        n += (size_t)snprintf(big + n, 8192 - n, "<" EX "s%d> <" EX "p> \"%d\" .\n", i, i);

    http(d, "PUT", path, WRITE_TOKEN, "application/n-triples", NULL, big, n, &r);
    assert_problem(&r, 413);
    reply_free(&r);
    /* without a Content-Length the limit applies while the body arrives */
    chunked_next = 1;
    http(d, "PUT", path, WRITE_TOKEN, "application/n-triples", NULL, big, n, &r);
    assert_problem(&r, 413);
    reply_free(&r);
    char *g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, "404");
    free(g);
    free(big);

    /* a body under the limit, chunked too */
    chunked_next = 1;
    http(d, "PUT", path, WRITE_TOKEN, "text/turtle", NULL, TTL_A, strlen(TTL_A), &r);
    ck_assert_msg(r.status == 201, "chunked PUT: %ld %s", r.status, r.body);
    reply_free(&r);
    g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_A);
    free(g);

    /* Reads and deletes of the spooling routes take no body (and spool none). */
    http(d, "GET", path, WRITE_TOKEN, "text/turtle", NULL, TTL_A, strlen(TTL_A), &r);
    assert_problem(&r, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "unexpected-body"));
    reply_free(&r);
    http(d, "DELETE", path, WRITE_TOKEN, "text/turtle", NULL, TTL_A, strlen(TTL_A), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_A);
    free(g);
    daemon_free(d);
}
END_TEST

START_TEST(test_ask_construct_describe)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    const char *ttl = "@prefix ex: <" EX "> .\n"
                      "ex:r ex:p \"v\" ;\n"
                      "     ex:knows [ ex:name \"bn\" ] .\n"
                      "ex:other ex:p \"w\" .\n"
                      "ex:x ex:ref ex:r .\n";
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", ttl), 201);

    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:r ex:p \"v\" }"), 1);
    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:r ex:p \"nope\" }"), 0);
    /* ASK in XML */
    const char *q = PREFIX "ASK { ex:other ex:p ?o }";
    http(d, "POST", "/sparql", NULL, "application/sparql-query", "application/sparql-results+xml",
         q, strlen(q), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "application/sparql-results+xml"), "type '%s'", r.ctype);
    ck_assert_ptr_nonnull(strstr(r.body, "<boolean>true</boolean>"));
    reply_free(&r);

    /* CONSTRUCT as Turtle: read it back by storing it in another graph */
    q = PREFIX "CONSTRUCT { ?s ex:copied ?o } WHERE { ?s ex:p ?o }";
    http(d, "POST", "/sparql", NULL, "application/sparql-query", "text/turtle", q, strlen(q), &r);
    ck_assert_msg(r.status == 200, "CONSTRUCT: %ld %s", r.status, r.body);
    ck_assert_msg(media_is(&r, "text/turtle"), "CONSTRUCT type '%s'", r.ctype);
    ck_assert_int_eq(send_graph(d, "PUT", EX "constructed", "text/turtle", r.body), 201);
    reply_free(&r);
    char *g = graph_lines(d, EX "constructed");
    ck_assert_str_eq(g, "<" EX "other> <" EX "copied> \"w\" .\n"
                        "<" EX "r> <" EX "copied> \"v\" .");
    free(g);
    char path[512];
    data_path(path, sizeof(path), EX "constructed");
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);

    /* DESCRIBE <iri>: the resource's own triples and those of the blank node it reaches */
    q = PREFIX "DESCRIBE ex:r";
    http(d, "POST", "/sparql", NULL, "application/sparql-query", "application/n-triples", q,
         strlen(q), &r);
    ck_assert_msg(r.status == 200, "DESCRIBE: %ld %s", r.status, r.body);
    ck_assert_msg(media_is(&r, "application/n-triples"), "DESCRIBE type '%s'", r.ctype);
    char *lines = sorted_lines(r.body);
    reply_free(&r);
    int n = 1;
    for (char *p = lines; *p; p++)
        n += *p == '\n';
    ck_assert_msg(n == 3, "DESCRIBE ex:r gave %d triples:\n%s", n, lines);
    ck_assert_ptr_nonnull(strstr(lines, "<" EX "r> <" EX "p> \"v\" ."));
    ck_assert_ptr_nonnull(strstr(lines, "<" EX "r> <" EX "knows> _:"));
    ck_assert_ptr_nonnull(strstr(lines, "<" EX "name> \"bn\" ."));
    ck_assert_ptr_null(strstr(lines, "other"));
    free(lines);

    /* DESCRIBE as Turtle, through the same store round trip */
    q = PREFIX "DESCRIBE <" EX "other>";
    http(d, "POST", "/sparql", NULL, "application/sparql-query", "text/turtle", q, strlen(q), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "text/turtle"), "DESCRIBE type '%s'", r.ctype);
    ck_assert_int_eq(send_graph(d, "PUT", EX "described", "text/turtle", r.body), 201);
    reply_free(&r);
    g = graph_lines(d, EX "described");
    ck_assert_str_eq(g, "<" EX "other> <" EX "p> \"w\" .");
    free(g);
    daemon_free(d);
}
END_TEST

START_TEST(test_dataset)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    char *rows;
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g2", "text/turtle", TTL_B), 201);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g3", "text/turtle", TTL_C), 201);
    long st =
        send_graph(d, "PUT", NULL, "text/turtle", "@prefix ex: <" EX "> .\nex:d ex:p \"four\" .\n");
    ck_assert_msg(st / 100 == 2, "PUT ?default: %ld", st);
    const char *q = PREFIX "SELECT ?s WHERE { ?s ex:p ?o }";
    const char *qg = PREFIX "SELECT ?g ?s WHERE { GRAPH ?g { ?s ex:p ?o } }";
    char params[1024];
    char *e1 = escape(EX "g1"), *e2 = escape(EX "g2"), *e3 = escape(EX "g3");

    /* no dataset: the default graph is the union of every graph */
    rows = select_rows(d, NULL, q);
    ck_assert_str_eq(rows, EX "a\n" EX "b\n" EX "c\n" EX "d");
    free(rows);
    rows = select_rows(d, NULL, qg);
    ck_assert_str_eq(rows, EX "g1 " EX "a\n" EX "g2 " EX "b\n" EX "g3 " EX "c");
    free(rows);

    /* FROM */
    rows = select_rows(d, NULL, PREFIX "SELECT ?s FROM ex:g1 WHERE { ?s ex:p ?o }");
    ck_assert_str_eq(rows, EX "a");
    free(rows);
    rows = select_rows(d, NULL, PREFIX "SELECT ?s FROM ex:g1 FROM ex:g2 WHERE { ?s ex:p ?o }");
    ck_assert_str_eq(rows, EX "a\n" EX "b");
    free(rows);
    /* FROM NAMED only: an empty default graph */
    rows = select_rows(d, NULL, PREFIX "SELECT ?s FROM NAMED ex:g1 WHERE { ?s ex:p ?o }");
    ck_assert_str_eq(rows, "");
    free(rows);
    rows = select_rows(d, NULL,
                       PREFIX "SELECT ?g ?s FROM NAMED ex:g1 FROM NAMED ex:g3 "
                              "WHERE { GRAPH ?g { ?s ex:p ?o } }");
    ck_assert_str_eq(rows, EX "g1 " EX "a\n" EX "g3 " EX "c");
    free(rows);

    /* the protocol's default-graph-uri / named-graph-uri */
    snprintf(params, sizeof(params), "default-graph-uri=%s", e2);
    rows = select_rows(d, params, q);
    ck_assert_str_eq(rows, EX "b");
    free(rows);
    snprintf(params, sizeof(params), "default-graph-uri=%s&default-graph-uri=%s", e1, e3);
    rows = select_rows(d, params, q);
    ck_assert_str_eq(rows, EX "a\n" EX "c");
    free(rows);
    /* ... and they override FROM */
    snprintf(params, sizeof(params), "default-graph-uri=%s", e3);
    rows = select_rows(d, params, PREFIX "SELECT ?s FROM ex:g1 WHERE { ?s ex:p ?o }");
    ck_assert_str_eq(rows, EX "c");
    free(rows);
    snprintf(params, sizeof(params), "named-graph-uri=%s", e2);
    rows = select_rows(d, params, qg);
    ck_assert_str_eq(rows, EX "g2 " EX "b");
    free(rows);
    rows = select_rows(d, params, q);
    ck_assert_str_eq(rows, "");
    free(rows);
    snprintf(params, sizeof(params), "default-graph-uri=%s&named-graph-uri=%s", e1, e3);
    rows = select_rows(d, params,
                       PREFIX "SELECT ?s ?g ?t WHERE { ?s ex:p ?o . "
                              "OPTIONAL { GRAPH ?g { ?t ex:p ?x } } }");
    ck_assert_str_eq(rows, EX "a " EX "g3 " EX "c");
    free(rows);
    /* a graph that does not exist is just empty */
    snprintf(params, sizeof(params), "default-graph-uri=%s", "http%3A%2F%2Fexample.org%2Fnone");
    rows = select_rows(d, params, q);
    ck_assert_str_eq(rows, "");
    free(rows);

    /* the dataset parameters in a form POST body */
    char *eq = escape(q);
    char form[2048];
    snprintf(form, sizeof(form), "query=%s&default-graph-uri=%s", eq, e1);
    free(eq);
    struct reply r;
    http(d, "POST", "/sparql", NULL, "application/x-www-form-urlencoded",
         "application/sparql-results+json", form, strlen(form), &r);
    ck_assert_msg(r.status == 200, "form query: %ld %s", r.status, r.body);
    rows = json_rows(r.body, r.len);
    ck_assert_str_eq(rows, EX "a");
    free(rows);
    reply_free(&r);
    /* and in the query string of a direct POST */
    snprintf(params, sizeof(params), "/sparql?default-graph-uri=%s", e2);
    http(d, "POST", params, NULL, "application/sparql-query", "application/sparql-results+json", q,
         strlen(q), &r);
    ck_assert_msg(r.status == 200, "direct POST query: %ld %s", r.status, r.body);
    rows = json_rows(r.body, r.len);
    ck_assert_str_eq(rows, EX "b");
    free(rows);
    reply_free(&r);
    free(e1);
    free(e2);
    free(e3);
    daemon_free(d);
}
END_TEST

/* GRAPH <iri> naming no graph of the dataset matches nothing (rasqal alone answers it with one
 * empty solution). */
START_TEST(test_graph_absent)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);
    ck_assert(!ask(d, "ASK { GRAPH <" EX "nothing> { ?s ?p ?o } }"));
    ck_assert(ask(d, "ASK { GRAPH <" EX "g1> { ?s ?p ?o } }"));
    char *rows = select_rows(d, NULL,
                             "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <" EX "nothing> { ?s ?p ?o } }");
    ck_assert_str_eq(rows, "0");
    free(rows);
    rows = select_rows(d, NULL, "SELECT ?s WHERE { GRAPH <" EX "nothing> { ?s ?p ?o } }");
    ck_assert_str_eq(rows, "");
    free(rows);
    /* A graph of the store outside FROM NAMED is not in the dataset either. */
    rows = select_rows(d, NULL,
                       "SELECT ?s FROM NAMED <" EX "other> WHERE { GRAPH <" EX "g1> { ?s ?p ?o } }");
    ck_assert_str_eq(rows, "");
    free(rows);
    /* Beside a present graph, the absent one adds nothing. */
    char *both = select_rows(d, NULL,
                             "SELECT ?s ?o WHERE { { GRAPH <" EX "g1> { ?s ?p ?o } } UNION "
                             "{ GRAPH <" EX "nothing> { ?s ?p ?o } } }");
    char *one = select_rows(d, NULL, "SELECT ?s ?o WHERE { GRAPH <" EX "g1> { ?s ?p ?o } }");
    ck_assert_str_eq(both, one);
    free(both);
    free(one);
    daemon_free(d);
}
END_TEST

START_TEST(test_malformed_query)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    get_select(d, "SELECT * WHERE { ?s ?p ", "application/sparql-results+json", &r);
    assert_problem(&r, 400);
    reply_free(&r);
    const char *q = "SELEKT ?x WHERE { ?x ?y ?z }";
    http(d, "POST", "/sparql", NULL, "application/sparql-query", NULL, q, strlen(q), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    http(d, "GET", "/sparql", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    /* an update sent as a query */
    get_select(d, "INSERT DATA { <" EX "a> <" EX "b> <" EX "c> }", NULL, &r);
    ck_assert_msg(r.status / 100 == 4, "an update by GET: %ld", r.status);
    reply_free(&r);
    ck_assert_int_eq(ask(d, "ASK { <" EX "a> ?p ?o }"), 0);
    daemon_free(d);
}
END_TEST

struct bg_query {
    const struct daemon *d;
    const char *query;
    struct reply r;
};

static void *bg_query_run(void *arg)
{
    struct bg_query *b = arg;
    http(b->d, "POST", "/sparql", NULL, "application/sparql-query",
         "application/sparql-results+json", b->query, strlen(b->query), &b->r);
    return NULL;
}

START_TEST(test_query_timeout)
{
    struct daemon *d = daemon_new("query_timeout 1\n");
    daemon_start(d);
    /* 3000 triples: any three-way cross product is 2.7e10 rows */
    size_t cap = 3000 * 80, n = 0;
    char *nt = malloc(cap);
    ck_assert_ptr_nonnull(nt);
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(nt + n, cap - n, "<" EX "n%d> <" EX "v> \"%d\" .\n", i, i);
    ck_assert_int_eq(send_graph(d, "PUT", EX "big", "application/n-triples", nt), 201);
    free(nt);

    /* never true and never emits a row, so only the clock can stop it */
    struct bg_query b = {d,
                         PREFIX "ASK { ?a ex:v ?c . ?d ex:v ?f . ?g ex:v ?i . "
                                "FILTER (?c = CONCAT(?f, ?i, \"x\")) }",
                         {0}};
    pthread_t th;
    double t0 = now_s();
    ck_assert_int_eq(pthread_create(&th, NULL, bg_query_run, &b), 0);
    sleep_ms(300);
    struct reply r;
    http(d, "GET", "/healthz", NULL, NULL, NULL, NULL, 0, &r);
    double health_secs = r.secs;
    long health_status = r.status;
    reply_free(&r);
    pthread_join(th, NULL);
    double q_secs = now_s() - t0;
    ck_assert_int_eq(health_status, 200);
    ck_assert_msg(health_secs < 0.5, "/healthz took %.2f s while a query ran", health_secs);
    assert_problem(&b.r, 503);
    ck_assert_msg(strstr(b.r.body, "timeout") != NULL, "503 does not say timeout: %s", b.r.body);
    ck_assert_msg(q_secs < 5.0, "the 1 s timeout answered after %.1f s", q_secs);
    reply_free(&b.r);

    /* the brief's cross product by GET */
    t0 = now_s();
    get_select(d, "SELECT * WHERE {?a ?b ?c . ?d ?e ?f . ?g ?h ?i}",
               "application/sparql-results+json", &r);
    assert_problem(&r, 503);
    ck_assert_msg(now_s() - t0 < 5.0, "the 1 s timeout answered after %.1f s", now_s() - t0);
    reply_free(&r);

    /* the daemon still works */
    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:n7 ex:v \"7\" }"), 1);
    daemon_free(d);
}
END_TEST

START_TEST(test_update_operations)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    const char *q = PREFIX "SELECT ?s ?o WHERE { ?s ex:p ?o }";
    char *rows, *g;
    struct reply r;

    ck_assert_int_eq(update(d, WRITE_TOKEN,
                            PREFIX "INSERT DATA { ex:s1 ex:p \"a\" . "
                                   "GRAPH ex:g { ex:s2 ex:p \"b\" } }",
                            NULL),
                     204);
    rows = select_rows(d, NULL, q);
    ck_assert_str_eq(rows, EX "s1 a\n" EX "s2 b");
    free(rows);
    g = graph_lines(d, NULL);
    ck_assert_str_eq(g, "<" EX "s1> <" EX "p> \"a\" .");
    free(g);
    g = graph_lines(d, EX "g");
    ck_assert_str_eq(g, "<" EX "s2> <" EX "p> \"b\" .");
    free(g);

    ck_assert_int_eq(update(d, WRITE_TOKEN, PREFIX "DELETE DATA { ex:s1 ex:p \"a\" }", NULL), 204);
    rows = select_rows(d, NULL, q);
    ck_assert_str_eq(rows, EX "s2 b");
    free(rows);

    /* two operations in one request; DELETE WHERE */
    ck_assert_int_eq(update(d, WRITE_TOKEN,
                            PREFIX "INSERT DATA { ex:s3 ex:p \"c\" . ex:s3 ex:tag \"x\" . "
                                   "ex:s4 ex:tag \"x\" } ;\n"
                                   "DELETE WHERE { ?s ex:tag \"x\" }",
                            NULL),
                     204);
    ck_assert_int_eq(ask(d, PREFIX "ASK { ?s ex:tag ?t }"), 0);
    rows = select_rows(d, NULL, q);
    ck_assert_str_eq(rows, EX "s2 b\n" EX "s3 c");
    free(rows);

    /* DELETE/INSERT WHERE without WITH works on the default graph */
    ck_assert_int_eq(update(d, WRITE_TOKEN,
                            PREFIX "DELETE { ?s ex:p \"c\" } INSERT { ?s ex:p \"C\" } "
                                   "WHERE { ?s ex:p \"c\" }",
                            NULL),
                     204);
    g = graph_lines(d, NULL);
    ck_assert_str_eq(g, "<" EX "s3> <" EX "p> \"C\" .");
    free(g);

    /* ... and with WITH on the named graph only */
    ck_assert_int_eq(update(d, WRITE_TOKEN,
                            PREFIX "WITH ex:g DELETE { ?s ex:p ?o } INSERT { ?s ex:p \"B\" } "
                                   "WHERE { ?s ex:p ?o }",
                            NULL),
                     204);
    g = graph_lines(d, EX "g");
    ck_assert_str_eq(g, "<" EX "s2> <" EX "p> \"B\" .");
    free(g);
    g = graph_lines(d, NULL);
    ck_assert_str_eq(g, "<" EX "s3> <" EX "p> \"C\" .");
    free(g);

    /* the form encoding; CLEAR GRAPH */
    const char *form = "update=CLEAR+GRAPH+%3Chttp%3A%2F%2Fexample.org%2Fg%3E";
    http(d, "POST", "/sparql", WRITE_TOKEN, "application/x-www-form-urlencoded", NULL, form,
         strlen(form), &r);
    ck_assert_msg(r.status == 204 || r.status == 200, "CLEAR GRAPH: %ld %s", r.status, r.body);
    reply_free(&r);
    g = graph_lines(d, EX "g");
    ck_assert_str_eq(g, "404");
    free(g);
    rows = select_rows(d, NULL, q);
    ck_assert_str_eq(rows, EX "s3 C");
    free(rows);

    /* DROP ALL */
    ck_assert_int_eq(
        update(d, WRITE_TOKEN, PREFIX "INSERT DATA { GRAPH ex:h { ex:s5 ex:p \"e\" } }", NULL),
        204);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);
    ck_assert_int_eq(update(d, WRITE_TOKEN, "DROP ALL", NULL), 204);
    rows = select_rows(d, NULL,
                       PREFIX "SELECT ?s ?o WHERE { ?s ?p ?o FILTER(STRSTARTS(STR(?s), "
                              "\"http://example.org/\")) }");
    ck_assert_str_eq(rows, "");
    free(rows);
    g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, "404");
    free(g);
    g = graph_lines(d, EX "h");
    ck_assert_str_eq(g, "404");
    free(g);
    daemon_free(d);
}
END_TEST

START_TEST(test_failed_update_changes_nothing)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);

    /* a syntax error in the second operation */
    ck_assert_int_eq(update(d, WRITE_TOKEN,
                            PREFIX "INSERT DATA { ex:f1 ex:p \"1\" } ;\n"
                                   "INSERT DATA { ex:f2 ex:p }",
                            &r),
                     400);
    assert_problem(&r, 400);
    reply_free(&r);
    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:f1 ?p ?o }"), 0);

    /* a first operation that deletes, a second that does not parse */
    ck_assert_int_eq(update(d, WRITE_TOKEN,
                            PREFIX "DELETE WHERE { GRAPH ex:g1 { ex:a ?p ?o } } ;\n"
                                   "CLEAR XYZ",
                            &r),
                     400);
    reply_free(&r);
    char *g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_A);
    free(g);

    /* a second operation that fails while running (DROP of a graph that does not exist) */
    long st = update(d, WRITE_TOKEN,
                     PREFIX "INSERT DATA { ex:f3 ex:p \"3\" } ;\n"
                            "DROP GRAPH <http://example.org/no-such-graph>",
                     &r);
    ck_assert_msg(st / 100 == 4, "DROP of a missing graph: %ld %s", st, r.body);
    reply_free(&r);
    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:f3 ?p ?o }"), 0);
    daemon_free(d);
}
END_TEST

#define WRITERS 4
#define WRITES_EACH 25

struct writer {
    const struct daemon *d;
    int id;
    int ok; /* writes acknowledged with a 2xx */
    char first_err[256]; /* the first refusal: status and body */
    int reads_ok;        /* native-engine queries answered 200 */
};

/* Alternates Graph Store PUTs and SPARQL INSERT DATA, each to its own graph, with a query in
 * between, so writers, updates and queries overlap. */
static void *writer_run(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < WRITES_EACH; i++) {
        char graph[128], path[256], text[512];
        struct reply r;
        snprintf(graph, sizeof(graph), EX "w%d/%d", w->id, i);
        if (i % 2 == 0) {
            snprintf(text, sizeof(text), "<" EX "w%d-%d> <" EX "p> \"%d\" .\n", w->id, i, i);
            data_path(path, sizeof(path), graph);
            http(w->d, "PUT", path, WRITE_TOKEN, "application/n-triples", NULL, text, strlen(text),
                 &r);
        } else {
            snprintf(text, sizeof(text),
                     "INSERT DATA { GRAPH <%s> { <" EX "w%d-%d> <" EX "p> \"%d\" } }", graph, w->id,
                     i, i);
            http(w->d, "POST", "/sparql", WRITE_TOKEN, "application/sparql-update", NULL, text,
                 strlen(text), &r);
        }
        w->ok += r.status / 100 == 2;
        if (r.status / 100 != 2 && !w->first_err[0])
            snprintf(w->first_err, sizeof(w->first_err), "%ld %s", r.status,
                     r.body ? r.body : "");
        reply_free(&r);
        const char *q = "SELECT (COUNT(*) AS ?n) WHERE { ?s <" EX "p> ?o }";
        http(w->d, "POST", "/sparql", NULL, "application/sparql-query", NULL, q, strlen(q), &r);
        reply_free(&r);
        /* one for the native engine (lib/bgp.c), whose parse and plan are made and freed
         * while other threads do the same */
        q = "SELECT ?s ?o WHERE { ?s <" EX "p> ?o FILTER(?o != \"x\") }";
        http(w->d, "POST", "/sparql", NULL, "application/sparql-query", NULL, q, strlen(q), &r);
        w->reads_ok += r.status == 200;
        reply_free(&r);
    }
    return NULL;
}

START_TEST(test_concurrent_writers)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct writer w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){d, i, 0, "", 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer_run, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(w[i].ok == WRITES_EACH, "writer %d: %d of %d acknowledged; first refusal: %s",
                      i, w[i].ok, WRITES_EACH, w[i].first_err);
        ck_assert_int_eq(w[i].reads_ok, WRITES_EACH);
    }
    char *rows = select_rows(
        d, NULL, "SELECT (COUNT(DISTINCT ?g) AS ?n) WHERE { GRAPH ?g { ?s <" EX "p> ?o } }");
    char want[32];
    snprintf(want, sizeof(want), "%d", WRITERS * WRITES_EACH);
    ck_assert_str_eq(rows, want);
    free(rows);
    daemon_free(d);
}
END_TEST

/* The response cache never answers from before a write that finished before the read began:
 * a writer bumps a counter graph by graph while readers repeat one GET, and every answer must be
 * at least the value acknowledged when that GET was sent. Volatile queries (NOW()) bypass it. */
struct cache_writer {
    const struct daemon *d;
    volatile int acked;
    volatile int stop;
};

static void *cache_writer_run(void *arg)
{
    struct cache_writer *w = arg;
    for (int v = 1; !w->stop && v <= 200; v++) {
        char doc[128];
        snprintf(doc, sizeof(doc), "<" EX "counter> <" EX "value> %d .\n", v);
        if (send_graph(w->d, "PUT", EX "counter", "text/turtle", doc) / 100 == 2)
            __atomic_store_n(&w->acked, v, __ATOMIC_RELEASE);
    }
    return NULL;
}

START_TEST(test_cache_sees_writes)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    ck_assert_int_eq(send_graph(d, "PUT", EX "counter", "text/turtle",
                                "<" EX "counter> <" EX "value> 0 .\n"),
                     201);
    char *eq = escape("SELECT ?v WHERE { <" EX "counter> <" EX "value> ?v }");
    char path[512];
    snprintf(path, sizeof(path), "/sparql?query=%s", eq);
    free(eq);
    struct cache_writer w = {d, 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cache_writer_run, &w), 0);
    int reads = 0, last = -1;
    for (;;) {
        int before = __atomic_load_n(&w.acked, __ATOMIC_ACQUIRE);
        struct reply r;
        http(d, "GET", path, NULL, NULL, "text/csv", NULL, 0, &r);
        ck_assert_int_eq(r.status, 200);
        int v = -1;
        ck_assert_int_eq(sscanf(r.body, "v\r\n%d", &v), 1);
        ck_assert_msg(v >= before, "read %d after %d was acknowledged (stale cache)", v, before);
        reply_free(&r);
        reads++;
        last = v;
        if (before == 200)
            break;
    }
    pthread_join(th, NULL);
    ck_assert_int_eq(last, 200);
    /* Repeated reads with no write in between are answered the same (and from the cache). */
    struct reply a, b;
    http(d, "GET", path, NULL, NULL, "text/csv", NULL, 0, &a);
    http(d, "GET", path, NULL, NULL, "text/csv", NULL, 0, &b);
    ck_assert_str_eq(a.body, b.body);
    reply_free(&a);
    reply_free(&b);
    /* NOW() is never served from the cache. */
    eq = escape("SELECT (STR(NOW()) AS ?t) WHERE {}");
    snprintf(path, sizeof(path), "/sparql?query=%s", eq);
    free(eq);
    http(d, "GET", path, NULL, NULL, "text/csv", NULL, 0, &a);
    sleep_ms(1100);
    http(d, "GET", path, NULL, NULL, "text/csv", NULL, 0, &b);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_ne(a.body, b.body);
    reply_free(&a);
    reply_free(&b);
    fprintf(stderr, "test_cache_sees_writes: %d reads during 200 writes\n", reads);
    daemon_free(d);
}
END_TEST

START_TEST(test_durable_after_kill9)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g2", "text/turtle", TTL_B), 201);
    ck_assert_int_eq(send_graph(d, "POST", EX "g1", "text/turtle", TTL_C), 204);
    struct reply r;
    char path[512];
    data_path(path, sizeof(path), EX "g2");
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    ck_assert_int_eq(
        update(d, WRITE_TOKEN, PREFIX "INSERT DATA { GRAPH ex:g3 { ex:u ex:p \"u\" } }", NULL),
        204);
    daemon_kill(d); /* right after the last 2xx */

    daemon_start(d);
    char *g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_A "\n" NT_C);
    free(g);
    g = graph_lines(d, EX "g2");
    ck_assert_str_eq(g, "404");
    free(g);
    g = graph_lines(d, EX "g3");
    ck_assert_str_eq(g, "<" EX "u> <" EX "p> \"u\" .");
    free(g);

    /* the recovered store takes new writes, and they survive another crash too */
    ck_assert_int_eq(
        update(d, WRITE_TOKEN, PREFIX "DELETE DATA { GRAPH ex:g1 { ex:c ex:p \"three\" } }", NULL),
        204);
    daemon_kill(d);
    daemon_start(d);
    g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_A);
    free(g);
    daemon_free(d);
}
END_TEST

#define STREAM_MAX 20000

struct stream {
    const struct daemon *d;
    volatile int acked[STREAM_MAX];
    volatile int sent; /* PUTs started */
    volatile int nacked;
};

static void stream_doc(int i, char *doc, size_t len, char *graph, size_t glen)
{
    snprintf(graph, glen, EX "stream/%d", i);
    snprintf(doc, len,
             "<" EX "item%d> <" EX "seq> \"%d\" .\n<" EX "item%d> <" EX "pad> \"%0*d\" .\n", i, i,
             i, 40, i);
}

static void *stream_run(void *arg)
{
    struct stream *s = arg;
    for (int i = 0; i < STREAM_MAX; i++) {
        char doc[512], graph[128], path[256];
        stream_doc(i, doc, sizeof(doc), graph, sizeof(graph));
        data_path(path, sizeof(path), graph);
        struct reply r;
        s->sent = i + 1;
        http(s->d, "PUT", path, WRITE_TOKEN, "application/n-triples", NULL, doc, strlen(doc), &r);
        long st = r.status;
        reply_free(&r);
        if (st / 100 != 2)
            break; /* the daemon is gone */
        s->acked[i] = 1;
        s->nacked = s->nacked + 1;
    }
    return NULL;
}

/* After a restart: every acknowledged PUT is there whole, the one in flight is there whole or
 * not at all, and nothing that was never sent exists. */
static void stream_verify(const struct daemon *d, const struct stream *s)
{
    int present = 0;
    for (int i = 0; i < s->sent + 1 && i < STREAM_MAX; i++) {
        char doc[512], graph[128];
        stream_doc(i, doc, sizeof(doc), graph, sizeof(graph));
        char *want = sorted_lines(doc);
        char *g = graph_lines(d, graph);
        if (s->acked[i]) {
            ck_assert_msg(strcmp(g, want) == 0,
                          "acknowledged PUT %d (of %d) lost after kill -9: %s", i, (int)s->nacked,
                          g);
            present++;
        } else if (i == s->sent - 1) {
            ck_assert_msg(strcmp(g, "404") == 0 || strcmp(g, want) == 0,
                          "the PUT in flight came back half-done: %s", g);
        } else {
            ck_assert_msg(strcmp(g, "404") == 0, "PUT %d was never sent but exists", i);
        }
        free(want);
        free(g);
    }
    ck_assert_int_eq(present, s->nacked);
}

START_TEST(test_durable_kill9_mid_stream)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct stream *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    s->d = d;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, stream_run, s), 0);
    double deadline = now_s() + 20.0;
    while (s->nacked < 40 && now_s() < deadline)
        sleep_ms(2);
    kill(d->pid, SIGKILL); /* mid-stream: the thread is sending the next PUT */
    pthread_join(th, NULL);
    daemon_kill(d);
    ck_assert_msg(s->nacked >= 40, "only %d PUTs acknowledged in 20 s", (int)s->nacked);
    ck_assert_msg(s->sent < STREAM_MAX, "the stream ended before the kill");

    daemon_start(d);
    stream_verify(d, s);
    ck_assert_int_eq(send_graph(d, "PUT", EX "after", "text/turtle", TTL_A), 201);
    free(s);
    daemon_free(d);
}
END_TEST

/* The same with snapshots: the journal threshold is tiny, so the daemon snapshots (in a forked
 * child) about once a second while the writes go on, and the crash lands between or during
 * snapshots; recovery must combine snapshot and journal without losing a write. */
START_TEST(test_durable_kill9_across_snapshots)
{
    struct daemon *d = daemon_new("snapshot_journal_bytes 1\n");
    daemon_start(d);
    struct stream *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    s->d = d;
    char snap[512];
    snprintf(snap, sizeof(snap), "%s/snapshot", d->state);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, stream_run, s), 0);
    double t0 = now_s();
    int snapped = 0;
    while (now_s() < t0 + 15.0) {
        snapped = snapped || access(snap, F_OK) == 0;
        if (snapped && now_s() > t0 + 2.5)
            break;
        sleep_ms(5);
    }
    kill(d->pid, SIGKILL);
    pthread_join(th, NULL);
    daemon_kill(d);
    ck_assert_msg(snapped, "no snapshot was written in 15 s with snapshot_journal_bytes 1");
    ck_assert_msg(s->sent < STREAM_MAX, "the stream ended before the kill");

    daemon_start(d);
    stream_verify(d, s);
    /* and once more after the recovered store has taken writes */
    ck_assert_int_eq(send_graph(d, "PUT", EX "after", "text/turtle", TTL_A), 201);
    daemon_kill(d);
    daemon_start(d);
    char *g = graph_lines(d, EX "after");
    ck_assert_str_eq(g, NT_A);
    free(g);
    stream_verify(d, s);
    free(s);
    daemon_free(d);
}
END_TEST

START_TEST(test_sigterm_clean_exit)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);
    ck_assert_int_eq(update(d, WRITE_TOKEN, PREFIX "INSERT DATA { ex:t ex:p \"t\" }", NULL), 204);
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "SIGTERM: status 0x%x (exit %d, signal %d)", status,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ck_assert_msg(access(d->port_file, F_OK) != 0, "the port file outlived a clean exit");

    daemon_start(d);
    char *g = graph_lines(d, EX "g1");
    ck_assert_str_eq(g, NT_A);
    free(g);
    ck_assert_int_eq(ask(d, PREFIX "ASK { ex:t ex:p \"t\" }"), 1);
    status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    daemon_free(d);
}
END_TEST

START_TEST(test_sighup_reloads_tokens)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    ck_assert_int_eq(send_graph(d, "PUT", EX "g1", "text/turtle", TTL_A), 201);

    write_tokens(d, "# reloaded\n" NEW_TOKEN " write\n");
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    char path[512];
    data_path(path, sizeof(path), EX "g2");
    struct reply r;
    long st = 0;
    double deadline = now_s() + 5.0;
    while (now_s() < deadline) {
        http(d, "PUT", path, NEW_TOKEN, "text/turtle", NULL, TTL_B, strlen(TTL_B), &r);
        st = r.status;
        reply_free(&r);
        if (st / 100 == 2)
            break;
        sleep_ms(50);
    }
    ck_assert_msg(st / 100 == 2, "the new token still fails 5 s after SIGHUP: %ld", st);
    http(d, "PUT", path, WRITE_TOKEN, "text/turtle", NULL, TTL_C, strlen(TTL_C), &r);
    assert_problem(&r, 401);
    ck_assert_msg(strncasecmp(r.www_auth, "Bearer", 6) == 0, "WWW-Authenticate '%s'", r.www_auth);
    reply_free(&r);
    char *g = graph_lines(d, EX "g2");
    ck_assert_str_eq(g, NT_B);
    free(g);

    /* a broken token file is refused and the running tokens stay */
    write_tokens(d, "short write\n");
    ck_assert_int_eq(kill(d->pid, SIGHUP), 0);
    sleep_ms(1500);
    ck_assert_msg(waitpid(d->pid, NULL, WNOHANG) == 0, "a bad reload killed the daemon");
    http(d, "PUT", path, WRITE_TOKEN, "text/turtle", NULL, TTL_C, strlen(TTL_C), &r);
    assert_problem(&r, 401);
    reply_free(&r);
    http(d, "PUT", path, NEW_TOKEN, "text/turtle", NULL, TTL_C, strlen(TTL_C), &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    int status = daemon_signal_wait(d, SIGTERM, 15.0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    daemon_free(d);
}
END_TEST

/* The paper's case 1 over its own board descriptions: boards with an accelerometer, a gyroscope
 * and a microcontroller with RAM >= 116 kB and flash >= 531 kB. By hand from the six device files:
 * SSI-Web (RAM 86), Syntiant (RAM 25) fail on RAM, the PyBadge and the Adafruit kit have no
 * gyroscope, which leaves the Arduino Nano 33 BLE (172 kB / 628 kB) and the Arduino Nano 33 BLE
 * TinyML kit (187 kB / 785 kB). */
START_TEST(test_tinyml_case1)
{
    const char *shared = getenv("SHARED_DIR");
    char dir[1024], pattern[1100], qfile[1100];
    struct stat sb;
    if (!shared || !*shared) {
        printf("NOTE: test_tinyml_case1 skipped: SHARED_DIR is not set\n");
        return;
    }
    snprintf(dir, sizeof(dir), "%s/tinyml-kg", shared);
    snprintf(qfile, sizeof(qfile), "%s/queries/case1-devices-for-model.rq", dir);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(qfile, R_OK) != 0) {
        printf("NOTE: test_tinyml_case1 skipped: %s is absent\n", dir);
        return;
    }
    snprintf(pattern, sizeof(pattern), "%s/devices/*.ttl", dir);
    glob_t gl;
    ck_assert_int_eq(glob(pattern, 0, NULL, &gl), 0);
    ck_assert_uint_eq(gl.gl_pathc, 6);

    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        char *ttl = read_file(gl.gl_pathv[i], NULL);
        ck_assert_ptr_nonnull(ttl);
        const char *base = strrchr(gl.gl_pathv[i], '/') + 1;
        char graph[512];
        snprintf(graph, sizeof(graph), EX "devices/%.*s", (int)(strlen(base) - 4), base);
        ck_assert_msg(send_graph(d, "PUT", graph, "text/turtle", ttl) == 201, "PUT %s",
                      gl.gl_pathv[i]);
        free(ttl);
    }
    globfree(&gl);

    size_t qlen;
    char *query = read_file(qfile, &qlen);
    ck_assert_ptr_nonnull(query);
    struct reply r;
    http(d, "POST", "/sparql", NULL, "application/sparql-query", "application/sparql-results+json",
         query, qlen, &r);
    free(query);
    ck_assert_msg(r.status == 200, "case 1: HTTP %ld %s", r.status, r.body);
    char *rows = json_rows(r.body, r.len);
    reply_free(&r);
    ck_assert_str_eq(rows,
                     "http://tinyml-schema.org/tinyml-demo/arduino_nano_ble_33-322-000-000-002 "
                     "172 628\n"
                     "http://tinyml-schema.org/tinyml-demo/"
                     "arduino_nano_ble_33_tinyml_kit-322-000-000-003 187 785");
    free(rows);
    daemon_free(d);
}
END_TEST

/* ---- runner ----------------------------------------------------------------------------- */

static Suite *daemon_suite(void)
{
    Suite *s = suite_create("tinyfleetd");
    TCase *tc;
#define ADD(name)                                                                                  \
    tc = tcase_create(#name);                                                                      \
    tcase_add_checked_fixture(tc, NULL, reap_all);                                                 \
    tcase_add_test(tc, name);                                                                      \
    suite_add_tcase(s, tc)
    ADD(test_healthz);
    ADD(test_graph_store_crud);
    ADD(test_auth);
    ADD(test_malformed_rdf_changes_nothing);
    ADD(test_unsupported_media_type);
    ADD(test_select_formats);
    ADD(test_term_formats);
    ADD(test_body_limit);
    ADD(test_ask_construct_describe);
    ADD(test_dataset);
    ADD(test_graph_absent);
    ADD(test_malformed_query);
    ADD(test_query_timeout);
    ADD(test_update_operations);
    ADD(test_failed_update_changes_nothing);
    ADD(test_concurrent_writers);
    ADD(test_cache_sees_writes);
    ADD(test_durable_after_kill9);
    ADD(test_durable_kill9_mid_stream);
    ADD(test_durable_kill9_across_snapshots);
    ADD(test_sigterm_clean_exit);
    ADD(test_sighup_reloads_tokens);
    ADD(test_tinyml_case1);
#undef ADD
    return s;
}

int main(void)
{
    return harness_main("test_daemon", daemon_suite());
}
