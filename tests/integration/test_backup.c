/* SPDX-License-Identifier: MIT */
/* Integration tests for backup and restore: GET /api/v1/admin/backup on a loaded daemon (Turtle
 * graphs with blank nodes, models with their files, a deployment) taken while writes go on, then
 * `tinyfleetd --restore` into an empty directory, a second daemon on it, and every graph and
 * every model file compared. Also: the admin scope, a restore refused over an existing store,
 * and damaged archives (a flipped byte in the store, a truncated archive) refused with nothing
 * left behind. The models are made by tests/unit/tflite_writer.c. */
#include <check.h>

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tflite_writer.h"

#define ADMIN_TOKEN "itest-admin-0123456789abcdef"

static void add_admin(struct daemon *d)
{
    write_tokens(d, "# test tokens\n" WRITE_TOKEN " write\n" READ_TOKEN " read\n" ADMIN_TOKEN
                    " admin\n");
}

/* A small model with n inputs (distinct n: distinct files). */
static uint8_t *model_bytes(int32_t n, size_t *len)
{
    struct tw_model m;
    int32_t s_in[2] = {1, n}, s_w[2] = {2, n}, s_o[2] = {1, 2};
    tw_init(&m);
    int32_t in = tw_qtensor(&m, 9, 2, s_in, 0, 1);
    int32_t w = tw_qtensor(&m, 9, 2, s_w, (uint32_t)(2 * n), 1);
    int32_t out = tw_qtensor(&m, 9, 2, s_o, 0, 1);
    tw_op(&m, 9, 0, 3, (int32_t[]){in, w, -1}, 1, (int32_t[]){out});
    m.n_inputs = 1, m.inputs[0] = in;
    m.n_outputs = 1, m.outputs[0] = out;
    uint8_t *b = tw_build(&m, len, NULL);
    ck_assert_ptr_nonnull(b);
    return b;
}

/* Every quad as sorted lines "graph s p o" with blank nodes replaced by "_" (labels differ
 * between stores), plus the number of distinct blank nodes per graph, via SPARQL. new. */
static char *all_quads(const struct daemon *d)
{
    return select_rows(d, NULL,
                       "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } "
                       "FILTER (?g != <https://tinyfleet.dev/graph/ontology>) }");
}

/* Takes rows (freed). */
static char *blank_free(char *rows)
{
    /* "_:label" tokens become "_" so that the comparison ignores blank node labels */
    char *out = malloc(strlen(rows) + 1), *w = out;
    ck_assert_ptr_nonnull(out);
    for (char *p = rows; *p;) {
        if (p[0] == '_' && p[1] == ':' && (p == rows || p[-1] == ' ' || p[-1] == '\n')) {
            *w++ = '_';
            p += 2;
            while (*p && *p != ' ' && *p != '\n')
                p++;
            continue;
        }
        *w++ = *p++;
    }
    *w = '\0';
    char *sorted = sorted_lines(out);
    free(out);
    free(rows);
    return sorted;
}

struct writer_arg {
    const struct daemon *d;
    volatile int stop;
    int done;
};

static void *writer(void *arg)
{
    struct writer_arg *a = arg;
    char ttl[256], graph[128];
    while (!a->stop) {
        snprintf(graph, sizeof(graph), EX "during/%d", a->done);
        snprintf(ttl, sizeof(ttl), "<" EX "w%d> <" EX "p> \"during\" .\n", a->done);
        if (send_graph(a->d, "PUT", graph, "text/turtle", ttl) / 100 == 2)
            a->done++;
    }
    return NULL;
}

static int run_restore(const struct daemon *cfg_from, const char *archive, const char *dir,
                       char *out, size_t outlen)
{
    char cmd[4096];
    /* Under --enable-sanitizers: full malloc stacks, so that tests/lsan.supp can name the
     * Redland allocation the restore's N-Quads load leaves referenced (the default fast unwind
     * stops inside libraptor, which has no frame pointers). */
    const char *asan = getenv("ASAN_OPTIONS");
    snprintf(cmd, sizeof(cmd),
             "ASAN_OPTIONS='%s%sfast_unwind_on_malloc=0' '%s' -c '%s' -d '%s' --restore '%s' 2>&1",
             asan ? asan : "", asan && *asan ? ":" : "", getenv("TINYFLEETD"), cfg_from->conf,
             dir, archive);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_backup_restore_round_trip)
{
    struct daemon *d = daemon_new(NULL);
    add_admin(d);
    daemon_start(d);
    /* Graphs with blank nodes and literals of every kind. */
    ck_assert_int_eq(
        send_graph(d, "PUT", EX "g/board", "text/turtle",
                   "@prefix ex: <" EX "> .\n"
                   "ex:b a ex:Board ; ex:has [ a ex:Mem ; ex:kb 256 ] , [ a ex:Mem ; ex:kb 1024 ] ;\n"
                   "  ex:title \"quote \\\" back\\\\slash\\nline\"@en , \"tab\\tx\"^^ex:dt .\n"),
        201);
    ck_assert_int_eq(send_graph(d, "PUT", NULL, "text/turtle",
                                "<" EX "default> <" EX "p> \"in the default graph\" .\n"),
                     204);
    /* Models: three files, one of them registered twice under two names. */
    char ids[4][32];
    for (int i = 0; i < 4; i++) {
        size_t len;
        uint8_t *m = model_bytes(i < 3 ? 100 + i : 100, &len);
        char meta[256];
        snprintf(meta, sizeof(meta),
                 "{\"name\":\"m%d\",\"category\":\"Classification\",\"sensors\":[\"Camera\"]}", i);
        struct reply r;
        upload_model(d, WRITE_TOKEN, m, len, meta, &r);
        ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
        json_t *j = json_loads(r.body, 0, NULL);
        snprintf(ids[i], sizeof(ids[i]), "%s", json_string_value(json_object_get(j, "id")));
        json_decref(j);
        reply_free(&r);
        free(m);
    }

    /* Only admin may back up. */
    struct reply r;
    http(d, "GET", "/api/v1/admin/backup", WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 403);
    reply_free(&r);
    http(d, "GET", "/api/v1/admin/backup", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 401);
    reply_free(&r);

    /* The backup, while another thread keeps writing. */
    char *before = blank_free(all_quads(d));
    struct writer_arg wa = {d, 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, writer, &wa), 0);
    sleep_ms(50);
    http(d, "GET", "/api/v1/admin/backup", ADMIN_TOKEN, NULL, NULL, NULL, 0, &r);
    wa.stop = 1;
    pthread_join(th, NULL);
    ck_assert_msg(r.status == 200, "%ld %.300s", r.status, r.body);
    ck_assert(media_is(&r, "application/x-tar"));
    char archive[600];
    snprintf(archive, sizeof(archive), "%s/backup.tar", d->root);
    FILE *f = fopen(archive, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(r.body, 1, r.len, f), r.len);
    fclose(f);
    size_t tar_len = r.len;
    reply_free(&r);

    /* Restore into a new directory and start a second daemon there. */
    struct daemon *e = daemon_new(NULL);
    add_admin(e);
    ck_assert_int_eq(rmdir(e->state), 0);
    char out[2048];
    int st = run_restore(e, archive, e->state, out, sizeof(out));
    ck_assert_msg(st == 0, "restore exit %d: %s", st, out);
    ck_assert_msg(strstr(out, "3 model files") != NULL, "%s", out);
    daemon_start(e);

    /* Every graph: the restored store holds what the original held at the backup's point in
     * time, i.e. everything written before it, plus some prefix of the concurrent writes. */
    char *after = blank_free(all_quads(e));
    char *orig_now = blank_free(all_quads(d));
    /* Each line of `before` is in `after`, and each line of `after` is in the original now. */
    for (char *save = NULL, *l = strtok_r(before, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        ck_assert_msg(strstr(after, l) != NULL, "lost in the restore: %s", l);
    char *after_copy = strdup(after);
    for (char *save = NULL, *l = strtok_r(after_copy, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save))
        ck_assert_msg(strstr(orig_now, l) != NULL, "invented by the restore: %s", l);
    free(after_copy);
    ck_assert(ask(e, "ASK { <" EX "default> <" EX "p> \"in the default graph\" }"));
    ck_assert(ask(e, "ASK { GRAPH <" EX "g/board> { ?b <" EX "title> \"quote \\\" "
                     "back\\\\slash\\nline\"@en } }"));
    char *mems = select_rows(e, NULL,
                             "SELECT ?kb WHERE { GRAPH <" EX "g/board> { <" EX "b> <" EX "has> ?m . "
                             "?m <" EX "kb> ?kb } }");
    ck_assert_str_eq(mems, "1024\n256");
    free(mems);

    /* Every model file, byte for byte, and the models as JSON. */
    for (int i = 0; i < 4; i++) {
        char path[256];
        struct reply a, b;
        snprintf(path, sizeof(path), "/api/v1/models/%s/file", ids[i]);
        http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &a);
        http(e, "GET", path, NULL, NULL, NULL, NULL, 0, &b);
        ck_assert_int_eq(a.status, 200);
        ck_assert_int_eq(b.status, 200);
        ck_assert_uint_eq(a.len, b.len);
        ck_assert(memcmp(a.body, b.body, a.len) == 0);
        reply_free(&a);
        reply_free(&b);
        snprintf(path, sizeof(path), "/api/v1/models/%s", ids[i]);
        http(e, "GET", path, NULL, NULL, "application/json", NULL, 0, &b);
        ck_assert_int_eq(b.status, 200);
        reply_free(&b);
    }

    /* A restore over an existing store is refused and changes nothing. */
    st = run_restore(e, archive, e->state, out, sizeof(out));
    ck_assert_msg(st != 0 && strstr(out, "not empty"), "exit %d: %s", st, out);

    /* A flipped byte in store.nq, and a truncated archive: refused, nothing left. */
    size_t len;
    char *bytes = read_file(archive, &len);
    ck_assert_uint_eq(len, tar_len);
    char *nq = memmem(bytes, len, "in the default graph", 20);
    ck_assert_ptr_nonnull(nq);
    nq[0] = 'X';
    char bad[700], dir[700];
    snprintf(bad, sizeof(bad), "%s/bad.tar", e->root);
    f = fopen(bad, "wb");
    fwrite(bytes, 1, len, f);
    fclose(f);
    snprintf(dir, sizeof(dir), "%s/r2", e->root);
    st = run_restore(e, bad, dir, out, sizeof(out));
    ck_assert_msg(st != 0 && strstr(out, "store.nq"), "exit %d: %s", st, out);
    struct stat sb;
    ck_assert_msg(stat(dir, &sb) != 0, "a failed restore left %s behind", dir);
    nq[0] = 'i';
    f = fopen(bad, "wb");
    fwrite(bytes, 1, len / 2, f);
    fclose(f);
    st = run_restore(e, bad, dir, out, sizeof(out));
    ck_assert_msg(st != 0, "a truncated archive was accepted: %s", out);
    ck_assert(stat(dir, &sb) != 0);
    free(bytes);

    free(before);
    free(after);
    free(orig_now);
    daemon_free(e);
    daemon_free(d);
}
END_TEST

static Suite *backup_suite(void)
{
    Suite *s = suite_create("backup");
    TCase *tc = tcase_create("test_backup_restore_round_trip");
    tcase_add_checked_fixture(tc, NULL, reap_all);
    tcase_add_test(tc, test_backup_restore_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_main("test_backup", backup_suite());
}
