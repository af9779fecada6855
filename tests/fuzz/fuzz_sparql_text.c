/* SPDX-License-Identifier: MIT */
/* libFuzzer target for lib/sparql_text.c: feeds arbitrary bytes, NUL-terminated, to
 * fleet_sparql_fix_query, fleet_sparql_take_distinct, fleet_sparql_describe_plan and
 * fleet_sparql_split_update (and fix_query again on every split operation, as the endpoint does).
 * Besides memory errors and leaks it checks that a rewrite is a fixed point (rewriting the output
 * again changes neither the text nor the feature flags; taking DISTINCT out twice takes nothing
 * the second time), that a DESCRIBE lists each IRI once, and that every update operation has the
 * fields the header promises.
 * Build: clang -g -fsanitize=fuzzer,address,undefined -Ilib tests/fuzz/fuzz_sparql_text.c
 *        lib/sparql_text.c lib/buf.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sparql_text.h"

static void check_fix(const char *q)
{
    struct fleet_buf once = FLEET_BUF_INIT, twice = FLEET_BUF_INIT;
    unsigned f1 = 0, f2 = 0;
    char err[128];

    err[0] = '\0';
    enum fleet_err rc = fleet_sparql_fix_query(q, &once, &f1, err, sizeof(err));
    if (rc != FLEET_OK) {
        if (rc != FLEET_ERR_INVAL || err[0] == '\0' || once.len != 0 || f1 != 0)
            abort(); /* only token-level errors, always explained, nothing half-written */
        fleet_buf_free(&once);
        return;
    }
    if (!once.data || strlen(once.data) != once.len)
        abort();
    if (fleet_sparql_fix_query(once.data, &twice, &f2, err, sizeof(err)) != FLEET_OK)
        abort();
    if (strcmp(once.data, twice.data) != 0 || f1 != f2)
        abort();
    fleet_buf_free(&once);
    fleet_buf_free(&twice);
}

static void check_distinct(const char *q)
{
    struct fleet_buf once = FLEET_BUF_INIT, twice = FLEET_BUF_INIT;
    struct fleet_sparql_slice s1, s2;
    char err[128];

    if (fleet_sparql_take_distinct(q, &once, &s1, err, sizeof(err)) != FLEET_OK) {
        if (once.len || s1.distinct || s1.has_limit || s1.offset)
            abort();
        fleet_buf_free(&once);
        return;
    }
    if (!s1.distinct && (s1.has_limit || s1.offset))
        abort(); /* LIMIT and OFFSET are taken only with a DISTINCT */
    if (fleet_sparql_take_distinct(once.data, &twice, &s2, err, sizeof(err)) != FLEET_OK)
        abort();
    if (strcmp(once.data, twice.data) != 0 || s2.distinct || s2.has_limit || s2.offset)
        abort();
    fleet_buf_free(&once);
    fleet_buf_free(&twice);
}

static void check_describe(const char *q)
{
    struct fleet_buf sel = FLEET_BUF_INIT;
    char **iris = NULL;
    char err[128];

    if (fleet_sparql_describe_plan(q, &iris, &sel, err, sizeof(err)) == FLEET_OK) {
        if (!iris)
            abort();
        for (char **p = iris; *p; p++) /* each IRI named once */
            for (char **r = p + 1; *r; r++)
                if (strcmp(*p, *r) == 0)
                    abort();
    } else if (iris || sel.len) {
        abort();
    }
    fleet_sparql_strv_free(iris);
    fleet_buf_free(&sel);
}

static void check_split(const char *u)
{
    struct fleet_update_op *ops = NULL;
    size_t n = 0;
    char err[128];

    if (fleet_sparql_split_update(u, &ops, &n, err, sizeof(err)) != FLEET_OK) {
        if (ops || n)
            abort();
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct fleet_update_op *op = &ops[i];
        if (!op->text || !op->prologue || strncmp(op->text, op->prologue, strlen(op->prologue)))
            abort();
        if (op->kind == FLEET_UPDATE_MODIFY &&
            (!op->where || !op->using || !op->using_named || (!op->delete_tpl && !op->insert_tpl)))
            abort();
        if ((op->kind == FLEET_UPDATE_CLEAR_SPECIAL || op->kind == FLEET_UPDATE_DROP_SPECIAL) ==
            (op->target == FLEET_TARGET_NONE))
            abort();
        check_fix(op->text);
    }
    fleet_update_ops_free(ops, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_fix(s);
    check_distinct(s);
    check_describe(s);
    check_split(s);
    free(s);
    return 0;
}
