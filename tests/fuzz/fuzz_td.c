/* SPDX-License-Identifier: MIT */
/* libFuzzer target for lib/td.c: parses the bytes as JSON (jansson, duplicate keys rejected, NULs
 * in strings allowed so the NUL checks are reached) and runs fleet_td_validate and
 * fleet_td_to_rdf on it. Besides memory errors, leaks and UB it checks the promises of td.h: a
 * result is FLEET_OK with no errors or FLEET_ERR_INVAL with at least one explained error, a
 * rejected TD adds nothing to the transaction, and every quad of an accepted one has an absolute
 * IRI without spaces or <>"{}|\^` in each IRI position, blank labels with the given prefix,
 * and literals of valid UTF-8 not much longer than the input.
 * The Thing's IRI is the TD's id when it is a string, else an http or a urn IRI (so both
 * hierarchical and opaque Thing IRIs are resolved against).
 * Seeds: tests/fuzz/corpus/fuzz_td, small TDs written for it (an S3N board among them); the six
 * boards of ../shared/tinyml-kg/devices (*.td.json) are meant to be added at run time, as run.sh
 * does for fuzz_tflite, since that data's README asks that its files not be copied in. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "durable.h"
#include "quadstore.h"
#include "td.h"

#define MAX_INPUT (256 * 1024)
#define BLANK_PREFIX "fz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_errors(enum fleet_err rc, const struct fleet_td_errors *e)
{
    if (rc == FLEET_OK) {
        if (e->n != 0 || e->truncated)
            abort();
        return;
    }
    if (rc != FLEET_ERR_INVAL || e->n == 0)
        abort();
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i].description[0] == '\0' || memchr(e->v[i].field, '\0', 256) == NULL)
            abort();
}

static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80             ? 1
                   : (*p & 0xE0) == 0xC0 ? 2
                   : (*p & 0xF0) == 0xE0 ? 3
                   : (*p & 0xF8) == 0xF0 ? 4
                                         : 0;
        if (n == 0)
            return 0;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

static void check_iri(const char *s)
{
    const char *c = s;
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
        abort();
    while ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
           *c == '+' || *c == '-' || *c == '.')
        c++;
    if (*c != ':')
        abort();
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7F || strchr("<>\"{}|\\^`", *p))
            abort();
    if (!utf8_ok(s))
        abort();
}

static void check_term(const struct fleet_term *t, int pos, size_t size)
{
    switch (t->kind) {
    case FLEET_TERM_IRI:
        check_iri(t->value);
        break;
    case FLEET_TERM_BLANK:
        if (pos == 1 || strncmp(t->value, BLANK_PREFIX "_", strlen(BLANK_PREFIX "_")) != 0)
            abort();
        break;
    case FLEET_TERM_LITERAL:
        if (pos != 2 || !utf8_ok(t->value) || strlen(t->value) > size + 64)
            abort();
        if (t->datatype)
            check_iri(t->datatype);
        break;
    default:
        abort();
    }
}

/* Applies txn to a fresh store and checks every quad. */
static void check_quads(const struct fleet_txn *txn, size_t size)
{
    struct fleet_qs *qs = fleet_qs_new();
    fleet_tid pat[4] = {FLEET_QS_ANY, FLEET_QS_ANY, FLEET_QS_ANY, FLEET_QS_ANY_GRAPH}, q[4];
    struct fleet_qs_iter it;
    struct fleet_term t;

    if (!qs)
        return;
    if (fleet_txn_apply(txn, qs) != FLEET_OK) {
        fleet_qs_free(qs);
        return;
    }
    fleet_qs_find(qs, pat, &it);
    while (fleet_qs_next(&it, q)) {
        for (int i = 0; i < 3; i++) {
            if (fleet_qs_term(qs, q[i], &t) != FLEET_OK)
                abort();
            check_term(&t, i, size);
        }
    }
    fleet_qs_free(qs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fleet_td_errors errs = {0};
    json_error_t jerr;
    json_t *td;
    const json_t *id;
    const char *thing;
    struct fleet_txn *txn;
    enum fleet_err rc;

    if (size > MAX_INPUT)
        return 0;
    /* jansson's parser stops at 2048 levels of nesting (JSON_PARSER_MAX_DEPTH), so a deep input
     * cannot exhaust the stack here; td.c stops at 32 on its own. */
    td = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!td)
        return 0;

    rc = fleet_td_validate(td, &errs);
    if (rc == FLEET_ERR_NOMEM)
        goto out;
    check_errors(rc, &errs);
    fleet_td_errors_free(&errs);
    if (errs.v || errs.n)
        abort();

    id = json_is_object(td) ? json_object_get(td, "id") : NULL;
    if (json_is_string(id) && strlen(json_string_value(id)) == json_string_length(id))
        thing = json_string_value(id);
    else
        thing = size % 2 ? "urn:dev:ops:32473-fuzz" : "https://example.org/things/fuzz";
    txn = fleet_txn_new();
    if (!txn)
        goto out;
    rc = fleet_td_to_rdf(td, thing, "https://example.org/graph/fuzz", BLANK_PREFIX, txn, &errs);
    if (rc != FLEET_ERR_NOMEM) {
        check_errors(rc, &errs);
        if (rc != FLEET_OK && fleet_txn_count(txn) != 0)
            abort(); /* a rejected TD adds nothing */
        if (rc == FLEET_OK)
            check_quads(txn, size);
    }
    fleet_txn_free(txn);
out:
    fleet_td_errors_free(&errs);
    json_decref(td);
    return 0;
}
