/* SPDX-License-Identifier: MIT */
/* Integration tests of storage postgresql: a throw-away PostgreSQL (Debian's initdb and pg_ctl,
 * in a temp directory, on 127.0.0.1 and a free port, its unix socket in that directory too) and
 * two real tinyfleetd sharing one database. Writes through one daemon are read through the other
 * (Graph Store PUT and DELETE, SPARQL Update, with the response cache primed so a stale answer
 * would show); a daemon killed with -9 catches up when restarted; read-modify-write updates sent
 * concurrently through both daemons lose nothing and both daemons converge on the same state;
 * the agent split of cluster.h gives every key to exactly one live daemon.
 *
 * Skips (exit 77) when the PostgreSQL server binaries are not installed (Debian: postgresql), or
 * when run as root without a "postgres" user to run them as (initdb refuses root). Set
 * TINYFLEET_PG_BINDIR to use other binaries. */
#include <errno.h>
#include <glob.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cluster.h"
#include "harness.h"
#include "store.h"

#define ONTOLOGY "https://tinyfleet.dev/graph/ontology"
#define WAIT_S 15.0

static char pg_bin[512];
static char pg_dir[256];
static const char *pg_user; /* run the server as this user (when we are root), or NULL */
static unsigned pg_port;

/* Runs a shell command built from fmt (only our own paths and numbers go in); as pg_user if
 * set. Returns the exit status, -1 if it did not exit. */
static int run(int as_pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(int as_pg, const char *fmt, ...)
{
    char cmd[2048], full[2300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (as_pg && pg_user)
        snprintf(full, sizeof(full), "runuser -u %s -- %s", pg_user, cmd);
    else
        snprintf(full, sizeof(full), "%s", cmd);
    int st = system(full);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int find_pg(void)
{
    const char *env = getenv("TINYFLEET_PG_BINDIR");
    if (env && *env) {
        snprintf(pg_bin, sizeof(pg_bin), "%s", env);
    } else {
        glob_t g;
        if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
            return -1;
        snprintf(pg_bin, sizeof(pg_bin), "%s", g.gl_pathv[g.gl_pathc - 1]);
        globfree(&g);
        *strrchr(pg_bin, '/') = '\0';
    }
    char p[600];
    const char *need[] = {"initdb", "pg_ctl", "postgres", "createdb"};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", pg_bin, need[i]);
        if (access(p, X_OK) != 0)
            return -1;
    }
    return 0;
}

static unsigned free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void stop_pg(void)
{
    if (!pg_dir[0])
        return;
    if (pg_port)
        run(1, "%s/pg_ctl -D %s/data -m immediate -w stop >/dev/null 2>&1", pg_bin, pg_dir);
    const char *keep = getenv("TINYFLEET_ITEST_KEEP");
    if (!(keep && *keep && strcmp(keep, "0") != 0))
        run(0, "rm -rf %s", pg_dir);
    pg_dir[0] = '\0';
}

static int start_pg(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(pg_dir, sizeof(pg_dir), "%s/tinyfleet-pg.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(pg_dir)) {
        pg_dir[0] = '\0';
        return -1;
    }
    if (pg_user) {
        struct passwd *pw = getpwnam(pg_user);
        if (!pw || chown(pg_dir, pw->pw_uid, pw->pw_gid) != 0)
            return -1;
    }
    if (run(1,
            "%s/initdb -D %s/data -U postgres --auth=trust -E UTF8 --no-sync >%s/initdb.log 2>&1",
            pg_bin, pg_dir, pg_dir) != 0) {
        run(0, "cat %s/initdb.log >&2", pg_dir);
        return -1;
    }
    /* A port found free can be taken before the server binds it: try a few. */
    for (int attempt = 0; attempt < 5; attempt++) {
        unsigned port = free_port();
        if (!port)
            continue;
        if (run(1,
                "%s/pg_ctl -D %s/data -l %s/server.log -w -t 60 -o \"-p %u -k %s "
                "-h 127.0.0.1 -c fsync=off\" start >/dev/null 2>&1",
                pg_bin, pg_dir, pg_dir, port, pg_dir) == 0) {
            pg_port = port;
            return 0;
        }
    }
    run(0, "cat %s/server.log >&2", pg_dir);
    return -1;
}

/* A new empty database for one test; returns the daemon config lines that use it. */
static void new_db(const char *name, char *conf, size_t conflen)
{
    ck_assert_int_eq(run(0, "%s/createdb -h 127.0.0.1 -p %u -U postgres %s", pg_bin, pg_port, name),
                     0);
    snprintf(conf, conflen,
             "storage postgresql\n"
             "postgresql host=127.0.0.1 port=%u dbname=%s user=postgres connect_timeout=10\n"
             "pg_poll_interval 500ms\n"
             "query_timeout 60\n", /* sanitizer and valgrind builds on a loaded machine */
             pg_port, name);
}

/* Waits until GET graph on d gives want (sorted N-Triples lines, or "404"). */
static void wait_graph(const struct daemon *d, const char *graph, const char *want)
{
    double deadline = now_s() + WAIT_S;
    char *got = NULL;
    for (;;) {
        free(got);
        got = graph_lines(d, graph);
        if (strcmp(got, want) == 0)
            break;
        ck_assert_msg(now_s() < deadline, "daemon on port %u: graph %s is\n%s\nnot\n%s", d->port,
                      graph, got, want);
        sleep_ms(20);
    }
    free(got);
}

static void wait_rows(const struct daemon *d, const char *query, const char *want)
{
    double deadline = now_s() + WAIT_S;
    char *got = NULL;
    for (;;) {
        free(got);
        got = select_rows(d, NULL, query);
        if (strcmp(got, want) == 0)
            break;
        ck_assert_msg(now_s() < deadline, "daemon on port %u: %s gave\n%s\nnot\n%s", d->port, query,
                      got, want);
        sleep_ms(20);
    }
    free(got);
}

static struct daemon *start(const char *conf)
{
    struct daemon *d = daemon_new(conf);
    daemon_start(d);
    return d;
}

START_TEST(test_writes_through_one_read_through_the_other)
{
    char conf[512];
    new_db("c_rw", conf, sizeof(conf));
    struct daemon *a = start(conf), *b = start(conf);
    const char *q = "SELECT ?o WHERE { GRAPH <" EX "g1> { <" EX "s> <" EX "p> ?o } }";

    /* Read-your-writes: the writer shows its write at once. */
    ck_assert_int_eq(send_graph(a, "PUT", EX "g1", "text/turtle", "<" EX "s> <" EX "p> \"one\" ."),
                     201);
    char *g = graph_lines(a, EX "g1");
    ck_assert_str_eq(g, "<" EX "s> <" EX "p> \"one\" .");
    wait_graph(b, EX "g1", g);
    free(g);
    /* Answered twice, so that B's response cache holds it: another daemon's write must still
     * show. */
    wait_rows(b, q, "one");
    wait_rows(b, q, "one");
    ck_assert_int_eq(send_graph(a, "PUT", EX "g1", "text/turtle", "<" EX "s> <" EX "p> \"two\" ."),
                     204);
    wait_rows(b, q, "two");

    /* SPARQL Update through B, read through A. */
    ck_assert_int_eq(
        update(b, WRITE_TOKEN, "INSERT DATA { GRAPH <" EX "g2> { <" EX "x> <" EX "p> 42 } }", NULL),
        204);
    wait_graph(a, EX "g2", "<" EX "x> <" EX "p> \"42\"^^<" XSD "integer> .");
    ck_assert_int_eq(update(b, WRITE_TOKEN,
                            "DELETE { GRAPH <" EX "g1> { ?s ?p ?o } } WHERE { GRAPH <" EX
                            "g1> { ?s ?p ?o } }",
                            NULL),
                     204);
    wait_graph(a, EX "g1", "404");
    /* Graph Store DELETE through A. */
    ck_assert_int_eq(send_graph(a, "DELETE", EX "g2", NULL, ""), 204);
    wait_graph(b, EX "g2", "404");

    /* A bulk import of a few MB (the connections that carried it are made anew), then small
     * writes both ways over the new connections. */
    struct fleet_buf doc = FLEET_BUF_INIT;
    for (int i = 0; i < 30000; i++)
        fleet_buf_printf(&doc, "<" EX "big/%d> <" EX "p> \"value %d\" .\n", i, i);
    ck_assert(!doc.oom);
    ck_assert_int_eq(send_graph(a, "PUT", EX "big", "application/n-triples", doc.data), 201);
    fleet_buf_free(&doc);
    wait_rows(b, "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <" EX "big> { ?s ?p ?o } }", "30000");
    ck_assert_int_eq(send_graph(b, "PUT", EX "g3", "text/turtle", "<" EX "s> <" EX "p> \"b\" ."),
                     201);
    wait_graph(a, EX "g3", "<" EX "s> <" EX "p> \"b\" .");
    ck_assert_int_eq(send_graph(a, "PUT", EX "g3", "text/turtle", "<" EX "s> <" EX "p> \"a\" ."),
                     204);
    wait_graph(b, EX "g3", "<" EX "s> <" EX "p> \"a\" .");
    daemon_free(a);
    daemon_free(b);
}
END_TEST

START_TEST(test_kill_and_restart_catches_up)
{
    char conf[512];
    new_db("c_kill", conf, sizeof(conf));
    struct daemon *a = start(conf), *b = start(conf);
    ck_assert_int_eq(send_graph(a, "PUT", EX "k1", "text/turtle", "<" EX "s> <" EX "p> 1 ."), 201);
    wait_graph(b, EX "k1", "<" EX "s> <" EX "p> \"1\"^^<" XSD "integer> .");

    /* B dies; A goes on writing; B restarted has it all before it answers. */
    daemon_kill(b);
    ck_assert_int_eq(send_graph(a, "PUT", EX "k2", "text/turtle", "<" EX "s> <" EX "p> 2 ."), 201);
    ck_assert_int_eq(
        update(a, WRITE_TOKEN, "INSERT DATA { GRAPH <" EX "k1> { <" EX "s> <" EX "p> 3 } }", NULL),
        204);
    daemon_start(b);
    char *k1 = graph_lines(b, EX "k1"), *k2 = graph_lines(b, EX "k2");
    ck_assert_str_eq(k1, "<" EX "s> <" EX "p> \"1\"^^<" XSD "integer> .\n<" EX "s> <" EX
                         "p> \"3\"^^<" XSD "integer> .");
    ck_assert_str_eq(k2, "<" EX "s> <" EX "p> \"2\"^^<" XSD "integer> .");
    free(k1);
    free(k2);

    /* A acknowledged a write and died at once: the write is PostgreSQL's, B has it. */
    ck_assert_int_eq(send_graph(a, "PUT", EX "k3", "text/turtle", "<" EX "s> <" EX "p> 4 ."), 201);
    daemon_kill(a);
    wait_graph(b, EX "k3", "<" EX "s> <" EX "p> \"4\"^^<" XSD "integer> .");
    ck_assert_int_eq(send_graph(b, "DELETE", EX "k2", NULL, ""), 204);
    daemon_start(a);
    wait_graph(a, EX "k3", "<" EX "s> <" EX "p> \"4\"^^<" XSD "integer> .");
    wait_graph(a, EX "k2", "404");

    /* A clean stop leaves a snapshot cache; the restart loads it and replays only the rest. */
    ck_assert_int_eq(daemon_signal_wait(b, SIGTERM, 20), 0);
    ck_assert_int_eq(send_graph(a, "PUT", EX "k4", "text/turtle", "<" EX "s> <" EX "p> 5 ."), 201);
    daemon_start(b);
    char *log = read_file(b->log, NULL), *last = NULL;
    ck_assert_ptr_nonnull(log);
    for (char *p = log; (p = strstr(p, "snapshot cache at record ")); p++)
        last = p;
    ck_assert_msg(last && strncmp(last, "snapshot cache at record 0,", 27) != 0,
                  "the restart did not use the snapshot cache:\n%s", log);
    free(log);
    char *k4 = graph_lines(b, EX "k4");
    ck_assert_str_eq(k4, "<" EX "s> <" EX "p> \"5\"^^<" XSD "integer> .");
    free(k4);
    wait_graph(b, EX "k3", "<" EX "s> <" EX "p> \"4\"^^<" XSD "integer> .");
    daemon_free(a);
    daemon_free(b);
}
END_TEST

#define INCREMENTS 20
#define INCREMENT                                                                                  \
    "DELETE { GRAPH <" EX "c> { <" EX "counter> <" EX "value> ?n } } "                             \
    "INSERT { GRAPH <" EX "c> { <" EX "counter> <" EX "value> ?m } } "                             \
    "WHERE { GRAPH <" EX "c> { <" EX "counter> <" EX "value> ?n } BIND(?n + 1 AS ?m) }"

/* A child process: INCREMENTS read-modify-write updates and as many inserts through d. */
static int writer(const struct daemon *d, int id)
{
    for (int k = 0; k < INCREMENTS; k++) {
        char ins[512];
        long st = update(d, WRITE_TOKEN, INCREMENT, NULL);
        if (st != 204) {
            fprintf(stderr, "writer %d: increment %d: HTTP %ld\n", id, k, st);
            return 1;
        }
        snprintf(ins, sizeof(ins),
                 "INSERT DATA { GRAPH <" EX "items> { <" EX "w%d> <" EX "item> %d } }", id, k);
        /* Inserting the same triple again changes nothing, so a request that got no answer (a
         * client timeout on a loaded machine) may be repeated; an increment may not. */
        for (int attempt = 0; (st = update(d, WRITE_TOKEN, ins, NULL)) != 204; attempt++) {
            fprintf(stderr, "writer %d: insert %d: HTTP %ld\n", id, k, st);
            if (attempt == 4 || (st != 0 && st != 503))
                return 2;
        }
    }
    return 0;
}

START_TEST(test_concurrent_writes_converge)
{
    char conf[512], want[64];
    new_db("c_conc", conf, sizeof(conf));
    struct daemon *a = start(conf), *b = start(conf);
    const struct daemon *ds[2] = {a, b};
    ck_assert_int_eq(update(a, WRITE_TOKEN,
                            "INSERT DATA { GRAPH <" EX "c> { <" EX "counter> <" EX "value> 0 } }",
                            NULL),
                     204);
    pid_t kids[2];
    fflush(NULL);
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0)
            _exit(writer(ds[i], i));
    }
    for (int i = 0; i < 2; i++) {
        int st;
        ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d failed (status 0x%x)", i,
                      st);
    }
    /* Every increment saw the one before it, whichever daemon ran it. */
    snprintf(want, sizeof(want), "%d", 2 * INCREMENTS);
    const char *q = "SELECT ?n WHERE { GRAPH <" EX "c> { <" EX "counter> <" EX "value> ?n } }";
    wait_rows(a, q, want);
    wait_rows(b, q, want);
    const char *all =
        "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } FILTER(?g != <" ONTOLOGY ">) }";
    char *ra = select_rows(a, NULL, all);
    wait_rows(b, all, ra);
    size_t lines = 1;
    for (const char *p = ra; *p; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, 2 * INCREMENTS + 1);
    free(ra);
    daemon_free(a);
    daemon_free(b);
}
END_TEST

/* The agent split for the poller: two stores in this process, every key owned by exactly one of
 * them; once one closes, the other owns them all. */
START_TEST(test_cluster_splits_keys)
{
    char conf[512], conninfo[256], dir1[300], dir2[300], err[512] = "";
    new_db("c_split", conf, sizeof(conf));
    snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%u dbname=c_split user=postgres",
             pg_port);
    snprintf(dir1, sizeof(dir1), "%s/split1", run_dir);
    snprintf(dir2, sizeof(dir2), "%s/split2", run_dir);
    struct fleet_store_options o1 = {dir1, NULL, 0, 0, conninfo, 200};
    struct fleet_store_options o2 = {dir2, NULL, 0, 0, conninfo, 200};
    struct fleet_store *s1 = NULL, *s2 = NULL;
    ck_assert_msg(fleet_store_open(&o1, &s1, err, sizeof(err)) == FLEET_OK, "%s", err);
    ck_assert_msg(fleet_store_open(&o2, &s2, err, sizeof(err)) == FLEET_OK, "%s", err);
    struct fleet_cluster *c1 = fleet_store_cluster(s1), *c2 = fleet_store_cluster(s2);
    ck_assert_ptr_nonnull(c1);
    ck_assert_ptr_nonnull(c2);
    ck_assert_int_eq(fleet_cluster_members(c1, NULL), 2);
    int n1 = 0, n2 = 0;
    for (int round = 0; round < 2; round++) {
        n1 = n2 = 0;
        for (int i = 0; i < 200; i++) {
            char key[64];
            snprintf(key, sizeof(key), "http://agent-%d.example/td", i);
            int a = fleet_cluster_claim(c1, key), b = fleet_cluster_claim(c2, key);
            ck_assert_msg(a + b == 1, "%s: claimed by %d daemons", key, a + b);
            n1 += a;
            n2 += b;
        }
    }
    ck_assert_msg(n1 > 40 && n2 > 40, "an uneven split: %d / %d", n1, n2);
    fleet_store_close(s2);
    /* The server ends the closed session (and its locks) shortly after the connection. */
    double deadline = now_s() + WAIT_S;
    while (fleet_cluster_members(c1, NULL) != 1) {
        ck_assert_msg(now_s() < deadline, "the closed store is still a member");
        sleep_ms(20);
    }
    sleep_ms(300); /* past c1's member-list refresh (200 ms) */
    for (int i = 0; i < 200; i++) {
        char key[64];
        snprintf(key, sizeof(key), "http://agent-%d.example/td", i);
        ck_assert_int_eq(fleet_cluster_claim(c1, key), 1);
    }
    /* Without a cluster every key is ours. */
    ck_assert_int_eq(fleet_cluster_claim(NULL, "http://agent-0.example/td"), 1);
    fleet_store_close(s1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("postgresql");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, NULL, reap_all);
    tcase_add_test(tc, test_writes_through_one_read_through_the_other);
    tcase_add_test(tc, test_kill_and_restart_catches_up);
    tcase_add_test(tc, test_concurrent_writes_converge);
    tcase_add_test(tc, test_cluster_splits_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (find_pg() != 0) {
        printf("SKIP: test_cluster: PostgreSQL server binaries (initdb, pg_ctl) not found; "
               "install Debian's postgresql package or set TINYFLEET_PG_BINDIR\n");
        return 77;
    }
    if (geteuid() == 0) {
        /* initdb and postgres refuse to run as root. */
        if (!getpwnam("postgres")) {
            printf("SKIP: test_cluster: running as root and there is no postgres user to run "
                   "the server as\n");
            return 77;
        }
        pg_user = "postgres";
    }
    if (!getenv("TINYFLEETD"))
        return harness_main("test_cluster", suite());
    if (start_pg() != 0) {
        fprintf(stderr, "test_cluster: cannot start PostgreSQL from %s\n", pg_bin);
        stop_pg();
        return EXIT_FAILURE;
    }
    int rc = harness_main("test_cluster", suite());
    stop_pg();
    return rc;
}
