/* SPDX-License-Identifier: MIT */
/* librdf's own "postgresql" storage (Debian librdf-storage-postgresql) on the fleet workload, for
 * comparison with tinyfleetd's storage postgresql (bench/pg-bench.py builds and runs this; it is
 * not part of the daemon). Measures, against an empty database:
 *   bulk    parsing an N-Triples file into the model (raptor -> librdf_model_add_statement)
 *   single  N more statements added one at a time (each its own autocommit)
 *   lookup  a one-pattern SPARQL SELECT on a board's memory, M times, different boards
 *   txn     the same single adds inside librdf_model_transaction_start/commit
 * and prints one "name value unit" line per figure.
 *
 * usage: pg-librdf HOST PORT DATABASE USER FILE.nt SINGLE LOOKUPS */
#include <redland.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static librdf_statement *stmt(librdf_world *w, const char *s, const char *p, const char *o)
{
    return librdf_new_statement_from_nodes(
        w, librdf_new_node_from_uri_string(w, (const unsigned char *)s),
        librdf_new_node_from_uri_string(w, (const unsigned char *)p),
        librdf_new_node_from_literal(w, (const unsigned char *)o, NULL, 0));
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT DATABASE USER FILE.nt SINGLE LOOKUPS\n", argv[0]);
        return 2;
    }
    int single = atoi(argv[6]), lookups = atoi(argv[7]);
    char opts[1024], uri[4200];
    snprintf(opts, sizeof(opts),
             "host='%s',port='%s',database='%s',user='%s',password='',new='yes',contexts='no'",
             argv[1], argv[2], argv[3], argv[4]);
    librdf_world *w = librdf_new_world();
    librdf_world_open(w);
    librdf_storage *st = librdf_new_storage(w, "postgresql", "fleet", opts);
    if (!st) {
        fprintf(stderr, "cannot open librdf's postgresql storage\n");
        return 1;
    }
    librdf_model *m = librdf_new_model(w, st, NULL);
    librdf_parser *parser = librdf_new_parser(w, "ntriples", NULL, NULL);
    snprintf(uri, sizeof(uri), "file://%s", argv[5]);
    librdf_uri *u = librdf_new_uri(w, (const unsigned char *)uri);

    double t0 = now();
    if (librdf_parser_parse_into_model(parser, u, NULL, m) != 0) {
        fprintf(stderr, "bulk load failed\n");
        return 1;
    }
    double bulk = now() - t0;
    int n = librdf_model_size(m);
    printf("bulk_triples %d triples\n", n);
    printf("bulk_rate %.0f triples/s\n", n / bulk);

    t0 = now();
    for (int i = 0; i < single; i++) {
        char s[128];
        snprintf(s, sizeof(s), "http://example.org/single/%d", i);
        librdf_statement *x = stmt(w, s, "http://example.org/p", "v");
        librdf_model_add_statement(m, x);
        librdf_free_statement(x);
    }
    double one = now() - t0;
    printf("single_rate %.0f commits/s\n", single / one);

    int failed = 0;
    t0 = now();
    for (int i = 0; i < lookups; i++) {
        char q[512];
        snprintf(q, sizeof(q),
                 "SELECT ?o WHERE { <https://fleet.example/board/%d> "
                 "<https://tinyfleet.dev/ns#ramBytes> ?o }",
                 (i * 7919) % 1000);
        librdf_query *qq = librdf_new_query(w, "sparql", NULL, (const unsigned char *)q, NULL);
        librdf_query_results *r = qq ? librdf_query_execute(qq, m) : NULL;
        int rows = 0;
        while (r && !librdf_query_results_finished(r)) {
            rows++;
            librdf_query_results_next(r);
        }
        failed += rows != 1;
        if (r)
            librdf_free_query_results(r);
        if (qq)
            librdf_free_query(qq);
    }
    double look = now() - t0;
    printf("lookup_ms %.2f ms/query\n", 1e3 * look / lookups);
    printf("lookup_wrong %d queries\n", failed);

    /* The transaction mode the issue reports broken. */
    int ok = librdf_model_transaction_start(m) == 0;
    for (int i = 0; ok && i < 10; i++) {
        char s[128];
        snprintf(s, sizeof(s), "http://example.org/txn/%d", i);
        librdf_statement *x = stmt(w, s, "http://example.org/p", "v");
        ok = librdf_model_add_statement(m, x) == 0;
        librdf_free_statement(x);
    }
    ok = ok && librdf_model_transaction_commit(m) == 0;
    printf("txn_ok %d (1 = 10 adds in a transaction committed)\n", ok);

    librdf_free_uri(u);
    librdf_free_parser(parser);
    librdf_free_model(m);
    librdf_free_storage(st);
    librdf_free_world(w);
    return 0;
}
