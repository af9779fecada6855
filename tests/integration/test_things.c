/* SPDX-License-Identifier: MIT */
/* The Thing Description Directory (W3C WoT Discovery, routes_things.c) against the real daemon:
 * the six boards of ../shared/tinyml-kg registered and read back (skipped with a note when
 * SHARED_DIR is absent), the paper's case study 1 over them, lossless round trips, anonymous
 * TDs, merge patches and heartbeats, expiry, deletion, paging and its Link headers, the
 * collection format, SPARQL search, the directory's own TD, every error as a problem body, an
 * invalid TD leaving the previous version intact, and a registration surviving kill -9. */
#include <check.h>
#include <glob.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define API "/api/v1/things"
#define DISCOVERY "https://www.w3.org/2022/wot/discovery"
#define TD11 "https://www.w3.org/2022/wot/td/v1.1"
#define GRAPH_BASE "https://tinyfleet.dev/graph/thing/"

/* ---- helpers --------------------------------------------------------------------------------- */

static char *thing_url(const char *id)
{
    char *e = escape(id);
    size_t n = strlen(e) + sizeof(API) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, API "/%s", e);
    free(e);
    return p;
}

/* A small valid TD, pretty-printed the way people write them, with a number spelled so that a
 * re-serialisation would change it (1.50) and a non-ASCII title. */
static char *fixture_td(const char *id, const char *title)
{
    char *text = malloc(4096);
    ck_assert_ptr_nonnull(text);
    snprintf(text, 4096,
             "{\n"
             "    \"@context\": [\"" TD11 "\"],\n"
             "    %s%s%s\n"
             "    \"title\": \"%s\",\n"
             "    \"description\": \"Gr\\u00fc\\u00dfe aus dem Labor \xe2\x9c\x93\",\n"
             "    \"securityDefinitions\": {\"nosec_sc\": {\"scheme\": \"nosec\"}},\n"
             "    \"security\": \"nosec_sc\",\n"
             "    \"properties\": {\n"
             "        \"status\": {\n"
             "            \"type\": \"number\",\n"
             "            \"minimum\": 1.50,\n"
             "            \"readOnly\": true,\n"
             "            \"forms\": [{\"href\": \"http://192.0.2.7/status\"}]\n"
             "        }\n"
             "    }\n"
             "}\n",
             id ? "\"id\": \"" : "", id ? id : "", id ? "\"," : "", title);
    return text;
}

static long put_td(const struct daemon *d, const char *id, const char *text, struct reply *out)
{
    struct reply r;
    char *path = thing_url(id);
    http(d, "PUT", path, WRITE_TOKEN, "application/td+json", NULL, text, strlen(text), &r);
    free(path);
    long status = r.status;
    if (out)
        *out = r;
    else
        reply_free(&r);
    return status;
}

static json_t *parse(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    ck_assert_msg(j != NULL, "not JSON (%s): %.400s", jerr.text, text);
    return j;
}

/* GETs a TD: 200, application/td+json, JSON. New reference. */
static json_t *get_td(const struct daemon *d, const char *id)
{
    struct reply r;
    char *path = thing_url(id);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    free(path);
    ck_assert_msg(r.status == 200, "GET %s: HTTP %ld %s", id, r.status, r.body);
    ck_assert_msg(media_is(&r, "application/td+json"), "GET gave '%s'", r.ctype);
    json_t *j = parse(r.body, r.len);
    reply_free(&r);
    return j;
}

static long get_status(const struct daemon *d, const char *id)
{
    struct reply r;
    char *path = thing_url(id);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    free(path);
    long s = r.status;
    if (s != 200)
        assert_problem(&r, s);
    reply_free(&r);
    return s;
}

/* Undoes exactly what enrichment adds (the registration member, the discovery context appended
 * to @context), asserting that both are there. Returns td. */
static json_t *unenrich(json_t *td, const json_t *original)
{
    json_t *reg = json_object_get(td, "registration");
    ck_assert_msg(json_is_object(reg), "no registration member");
    ck_assert_msg(json_is_string(json_object_get(reg, "created")) &&
                      json_is_string(json_object_get(reg, "modified")) &&
                      json_is_string(json_object_get(reg, "retrieved")),
                  "registration lacks created/modified/retrieved");
    json_object_del(td, "registration");
    json_t *ctx = json_object_get(td, "@context");
    json_t *octx = json_object_get(original, "@context");
    ck_assert_msg(json_is_array(ctx), "@context of an enriched TD is not an array");
    size_t n = json_array_size(ctx);
    ck_assert_str_eq(json_string_value(json_array_get(ctx, n - 1)), DISCOVERY);
    if (json_is_array(octx)) {
        json_array_remove(ctx, n - 1);
    } else {
        ck_assert_uint_eq(n, 2);
        json_object_set(td, "@context", json_array_get(ctx, 0));
    }
    return td;
}

static void assert_round_trip(const struct daemon *d, const char *id, const char *text)
{
    json_t *want = parse(text, strlen(text));
    json_object_del(want, "registration");
    json_t *got = unenrich(get_td(d, id), want);
    char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
    char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_msg(json_equal(got, want), "%s does not round-trip:\n got %.600s\nwant %.600s", id,
                  g, w);
    free(g);
    free(w);
    json_decref(got);
    json_decref(want);
}

/* The validationErrors of a 400 must name field. */
static void assert_validation_error(const struct reply *r, const char *field)
{
    assert_problem(r, 400);
    json_t *j = parse(r->body, r->len);
    json_t *errs = json_object_get(j, "validationErrors");
    ck_assert_msg(json_is_array(errs) && json_array_size(errs) > 0, "no validationErrors: %s",
                  r->body);
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        ck_assert_msg(json_is_string(json_object_get(e, "field")) &&
                          json_is_string(json_object_get(e, "description")),
                      "a validation error needs field and description: %s", r->body);
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
            found = 1;
    }
    ck_assert_msg(found, "no validation error for %s: %s", field, r->body);
    json_decref(j);
}

/* The target of the rel="name" link in a Link header, or "" (written into out). */
static void link_target(const char *link, const char *rel, char *out, size_t outlen)
{
    char want[64];
    snprintf(want, sizeof(want), "rel=\"%s\"", rel);
    out[0] = '\0';
    const char *p = link;
    while ((p = strchr(p, '<'))) {
        const char *end = strchr(p, '>');
        if (!end)
            return;
        const char *next = strchr(end, '<');
        const char *r = strstr(end, want);
        if (r && (!next || r < next)) {
            size_t n = (size_t)(end - p - 1);
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, p + 1, n);
            out[n] = '\0';
            return;
        }
        p = end;
    }
}

static void link_etag(const char *link, char *out, size_t outlen)
{
    const char *p = strstr(link, "rel=\"canonical\"");
    out[0] = '\0';
    ck_assert_msg(p != NULL, "no canonical link in '%s'", link);
    p = strstr(p, "etag=\"");
    ck_assert_msg(p != NULL, "the canonical link has no etag: '%s'", link);
    p += 6;
    const char *e = strchr(p, '"');
    ck_assert_ptr_nonnull(e);
    snprintf(out, outlen, "%.*s", (int)(e - p), p);
}

/* 1 if the named graph holds triples, by the Graph Store Protocol (a SPARQL ASK over GRAPH <g>
 * is true for a graph that holds nothing: rasqal yields one empty solution). */
static int graph_exists(const struct daemon *d, const char *graph)
{
    char path[1024];
    struct reply r;
    data_path(path, sizeof(path), graph);
    http(d, "GET", path, NULL, NULL, "application/n-triples", NULL, 0, &r);
    ck_assert_msg(r.status == 200 || r.status == 404, "GET %s: %ld", path, r.status);
    long s = r.status;
    reply_free(&r);
    return s == 200;
}

static const char *shared_kg(char *dir, size_t len)
{
    const char *shared = getenv("SHARED_DIR");
    struct stat sb;
    if (!shared || !*shared)
        return NULL;
    snprintf(dir, len, "%s/tinyml-kg", shared);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return NULL;
    return dir;
}

/* ---- the paper's boards ---------------------------------------------------------------------- */

static const char *const CASE1_ROWS =
    "http://tinyml-schema.org/tinyml-demo/arduino_nano_ble_33-322-000-000-002 172 628\n"
    "http://tinyml-schema.org/tinyml-demo/arduino_nano_ble_33_tinyml_kit-322-000-000-003 187 785";

START_TEST(test_real_boards)
{
    char dir[1024], pattern[1100], qfile[1100];
    if (!shared_kg(dir, sizeof(dir))) {
        printf("NOTE: test_real_boards skipped: SHARED_DIR/tinyml-kg is absent\n");
        return;
    }
    snprintf(pattern, sizeof(pattern), "%s/devices/*.td.json", dir);
    snprintf(qfile, sizeof(qfile), "%s/queries/case1-devices-for-model.rq", dir);
    glob_t gl;
    ck_assert_int_eq(glob(pattern, 0, NULL, &gl), 0);
    ck_assert_uint_eq(gl.gl_pathc, 6);

    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    char *texts[6], *ids[6];
    for (size_t i = 0; i < 6; i++) {
        texts[i] = read_file(gl.gl_pathv[i], NULL);
        ck_assert_ptr_nonnull(texts[i]);
        json_t *j = parse(texts[i], strlen(texts[i]));
        ids[i] = strdup(json_string_value(json_object_get(j, "id")));
        json_decref(j);
        struct reply r;
        long s = put_td(d, ids[i], texts[i], &r);
        ck_assert_msg(s == 201, "PUT %s: HTTP %ld %s", gl.gl_pathv[i], s, r.body);
        ck_assert_msg(strstr(r.location, API "/") == r.location, "201 without Location: '%s'",
                      r.location);
        reply_free(&r);
    }
    for (size_t i = 0; i < 6; i++)
        assert_round_trip(d, ids[i], texts[i]);
    /* The same document again replaces: 204, and still the same document. */
    ck_assert_int_eq(put_td(d, ids[0], texts[0], NULL), 204);
    assert_round_trip(d, ids[0], texts[0]);

    /* The listing: all six, sorted by id (code point order). */
    struct reply r;
    http(d, "GET", API, NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "application/ld+json"), "listing gave '%s'", r.ctype);
    json_t *list = parse(r.body, r.len);
    reply_free(&r);
    ck_assert_uint_eq(json_array_size(list), 6);
    for (size_t i = 1; i < 6; i++)
        ck_assert_msg(strcmp(json_string_value(json_object_get(json_array_get(list, i - 1), "id")),
                             json_string_value(json_object_get(json_array_get(list, i), "id"))) <
                          0,
                      "the listing is not sorted by id");
    json_decref(list);

    /* Case study 1 over the registered TDs: the paper's two boards, through /sparql and through
     * the directory's search API. */
    size_t qlen;
    char *query = read_file(qfile, &qlen);
    ck_assert_ptr_nonnull(query);
    http(d, "POST", "/sparql", NULL, "application/sparql-query", "application/sparql-results+json",
         query, qlen, &r);
    ck_assert_msg(r.status == 200, "case 1: HTTP %ld %s", r.status, r.body);
    char *rows = json_rows(r.body, r.len);
    reply_free(&r);
    ck_assert_str_eq(rows, CASE1_ROWS);
    free(rows);
    http(d, "POST", "/api/v1/search/sparql", NULL, "application/sparql-query", NULL, query, qlen,
         &r);
    ck_assert_msg(r.status == 200, "case 1 via search: HTTP %ld %s", r.status, r.body);
    ck_assert_msg(media_is(&r, "application/json"), "search SELECT gave '%s'", r.ctype);
    rows = json_rows(r.body, r.len);
    reply_free(&r);
    ck_assert_str_eq(rows, CASE1_ROWS);
    free(rows);
    free(query);

    /* After a restart the index is rebuilt from the store: same documents. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_start(d);
    for (size_t i = 0; i < 6; i++) {
        assert_round_trip(d, ids[i], texts[i]);
        free(texts[i]);
        free(ids[i]);
    }
    globfree(&gl);
    daemon_free(d);
}
END_TEST

/* ---- round trips on the project's own fixtures --------------------------------------------- */

START_TEST(test_lossless_round_trip)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    const char *id = "urn:example:lab/sensor?1#x";
    char *text = fixture_td(id, "Lab sensor");
    ck_assert_int_eq(put_td(d, id, text, NULL), 201);
    assert_round_trip(d, id, text);

    /* Byte for byte: the document as sent with the two enrichment splices, and nothing else. */
    struct reply r;
    char *path = thing_url(id);
    http(d, "GET", path, NULL, NULL, "application/td+json", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"minimum\": 1.50,") != NULL, "1.50 was rewritten: %s", r.body);
    ck_assert_msg(strstr(r.body, "Gr\\u00fc\\u00dfe aus dem Labor \xe2\x9c\x93") != NULL,
                  "the escapes were rewritten: %s", r.body);
    const char *tail = strstr(text, "    \"title\"");
    const char *got_tail = strstr(r.body, "    \"title\"");
    ck_assert_ptr_nonnull(got_tail);
    size_t keep = strlen(tail) - strlen("}\n") - 1; /* up to the last member's closing brace */
    ck_assert_msg(strncmp(got_tail, tail, keep) == 0, "the body changed:\n%s", r.body);
    reply_free(&r);

    /* HEAD: the headers of the GET, no body. */
    http(d, "HEAD", path, NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(media_is(&r, "application/td+json"), "HEAD gave '%s'", r.ctype);
    ck_assert_uint_eq(r.len, 0);
    reply_free(&r);

    /* A client may send back an enriched TD it got: the registration member is the
     * directory's, and the discovery context is not added twice. */
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    char *enriched = strdup(r.body);
    reply_free(&r);
    ck_assert_int_eq(put_td(d, id, enriched, NULL), 204);
    json_t *again = get_td(d, id);
    json_t *ctx = json_object_get(again, "@context");
    size_t discoveries = 0, i;
    json_t *c;
    json_array_foreach(ctx, i, c) if (json_is_string(c) &&
                                      strcmp(json_string_value(c), DISCOVERY) == 0) discoveries++;
    ck_assert_uint_eq(discoveries, 1);
    json_decref(again);
    free(enriched);
    free(path);
    free(text);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

START_TEST(test_anonymous_td)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    char *text = fixture_td(NULL, "Anonymous board");
    struct reply r;
    http(d, "POST", API, WRITE_TOKEN, "application/td+json", NULL, text, strlen(text), &r);
    ck_assert_msg(r.status == 201, "POST: HTTP %ld %s", r.status, r.body);
    const char *pfx = API "/urn:uuid:";
    ck_assert_msg(strncmp(r.location, pfx, strlen(pfx)) == 0, "Location '%s'", r.location);
    const char *uuid = r.location + strlen(pfx);
    /* RFC 4122 version 4: xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx */
    ck_assert_uint_eq(strlen(uuid), 36);
    ck_assert_int_eq(uuid[14], '4');
    ck_assert_ptr_nonnull(strchr("89ab", uuid[19]));
    char id[64];
    snprintf(id, sizeof(id), "urn:uuid:%s", uuid);
    char location[512];
    snprintf(location, sizeof(location), "%s", r.location);
    reply_free(&r);

    http(d, "GET", location, NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *td = parse(r.body, r.len);
    reply_free(&r);
    ck_assert_str_eq(json_string_value(json_object_get(td, "id")), id);
    json_t *want = parse(text, strlen(text));
    json_object_set_new(want, "id", json_string(id));
    ck_assert(json_equal(unenrich(td, want), want));
    json_decref(td);
    json_decref(want);

    /* A TD with an id goes to PUT /things/{id}. */
    char *with_id = fixture_td("urn:example:has-id", "Has an id");
    http(d, "POST", API, WRITE_TOKEN, "application/td+json", NULL, with_id, strlen(with_id), &r);
    assert_validation_error(&r, "id");
    reply_free(&r);
    ck_assert_int_eq(get_status(d, "urn:example:has-id"), 404);
    free(with_id);
    free(text);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

/* ---- patch, heartbeat, expiry -------------------------------------------------------------- */

static long patch(const struct daemon *d, const char *id, const char *ctype, const char *body,
                  struct reply *out)
{
    struct reply r;
    char *path = thing_url(id);
    http(d, "PATCH", path, WRITE_TOKEN, ctype, NULL, body, strlen(body), &r);
    free(path);
    long s = r.status;
    if (out)
        *out = r;
    else
        reply_free(&r);
    return s;
}

static const char *reg_str(json_t *td, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(td, "registration"), key));
    return s ? s : "";
}

START_TEST(test_patch)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    const char *id = "urn:example:patched";
    char *text = fixture_td(id, "Before");
    ck_assert_int_eq(put_td(d, id, text, NULL), 201);
    json_t *v1 = get_td(d, id);
    sleep_ms(20);

    struct reply r;
    long s = patch(d, id, "application/merge-patch+json",
                   "{\"title\":\"After\",\"description\":null,"
                   "\"properties\":{\"status\":{\"maximum\":9},\"mode\":{\"type\":\"string\","
                   "\"forms\":[{\"href\":\"http://192.0.2.7/mode\"}]}}}",
                   &r);
    ck_assert_msg(s == 204, "PATCH: HTTP %ld %s", s, r.body);
    reply_free(&r);
    json_t *v2 = get_td(d, id);
    ck_assert_str_eq(json_string_value(json_object_get(v2, "title")), "After");
    ck_assert_ptr_null(json_object_get(v2, "description"));
    json_t *props = json_object_get(v2, "properties");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(props, "status"),
                                                        "maximum")),
                     9);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(props, "status"), "forms"));
    ck_assert_ptr_nonnull(json_object_get(props, "mode"));
    ck_assert_str_eq(reg_str(v2, "created"), reg_str(v1, "created"));
    ck_assert_msg(strcmp(reg_str(v2, "modified"), reg_str(v1, "modified")) > 0,
                  "modified did not move: %s -> %s", reg_str(v1, "modified"),
                  reg_str(v2, "modified"));
    /* The RDF follows the document. */
    char q[512];
    snprintf(q, sizeof(q),
             "ASK { GRAPH <" GRAPH_BASE "urn%%3Aexample%%3Apatched> { <%s> "
             "<https://www.w3.org/2019/wot/td#title> \"After\"@en } }",
             id);
    ck_assert_int_eq(ask(d, q), 1);

    /* Wrong media type: 415, nothing changes. */
    s = patch(d, id, "application/json", "{\"title\":\"Nope\"}", &r);
    assert_problem(&r, 415);
    reply_free(&r);
    /* A patch that makes the TD invalid: 400 with field-level errors, nothing changes. */
    s = patch(d, id, "application/merge-patch+json",
              "{\"title\":null,\"properties\":{\"status\":{\"forms\":[{\"href\":5}]}}}", &r);
    assert_validation_error(&r, "title");
    assert_validation_error(&r, "properties.status.forms.0.href");
    reply_free(&r);
    s = patch(d, id, "application/merge-patch+json", "{\"id\":\"urn:example:other\"}", &r);
    assert_validation_error(&r, "id");
    reply_free(&r);
    s = patch(d, id, "application/merge-patch+json", "[1,2]", &r);
    assert_validation_error(&r, "(root)");
    reply_free(&r);
    json_t *v3 = get_td(d, id);
    json_object_del(v2, "registration");
    json_object_del(v3, "registration");
    ck_assert(json_equal(v2, v3));
    /* No such TD. */
    s = patch(d, "urn:example:nobody", "application/merge-patch+json", "{}", &r);
    assert_problem(&r, 404);
    reply_free(&r);

    json_decref(v1);
    json_decref(v2);
    json_decref(v3);
    free(text);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

START_TEST(test_heartbeat_and_expiry)
{
    struct daemon *d = daemon_new("thing_max_ttl 3600\n");
    daemon_start(d);
    const char *id = "urn:example:board-with-ttl";
    char *text = fixture_td(id, "Short-lived");
    /* ttl in the registration member: expires = modified + ttl. */
    json_t *j = parse(text, strlen(text));
    json_object_set_new(j, "registration", json_pack("{s:i}", "ttl", 2));
    char *with_ttl = json_dumps(j, 0);
    json_decref(j);
    ck_assert_int_eq(put_td(d, id, with_ttl, NULL), 201);
    assert_round_trip(d, id, text); /* the client's registration member is not stored */
    json_t *td = get_td(d, id);
    json_t *reg = json_object_get(td, "registration");
    ck_assert_int_eq(json_integer_value(json_object_get(reg, "ttl")), 2);
    ck_assert_ptr_null(json_object_get(reg, "lastSeen"));
    int64_t modified, expires;
    /* expires - modified == ttl (2 s) */
    {
        int y, mo, dd, h, mi;
        double s1, s2;
        ck_assert_int_eq(sscanf(reg_str(td, "modified"), "%d-%d-%dT%d:%d:%lfZ", &y, &mo, &dd, &h,
                                &mi, &s1),
                         6);
        modified = (int64_t)(((h * 60 + mi) * 60 + s1) * 1000);
        ck_assert_int_eq(sscanf(reg_str(td, "expires"), "%d-%d-%dT%d:%d:%lfZ", &y, &mo, &dd, &h,
                                &mi, &s2),
                         6);
        expires = (int64_t)(((h * 60 + mi) * 60 + s2) * 1000);
        int64_t diff = (expires - modified + 86400000) % 86400000;
        ck_assert_msg(diff >= 1999 && diff <= 2001, "expires - modified = %lld ms",
                      (long long)diff);
    }
    json_decref(td);

    /* Heartbeats (empty patches) keep it alive past its ttl and show it as seen. */
    double t0 = now_s();
    while (now_s() - t0 < 3.5) {
        ck_assert_int_eq(patch(d, id, "application/merge-patch+json", "{}", NULL), 204);
        sleep_ms(400);
    }
    td = get_td(d, id);
    ck_assert_msg(reg_str(td, "lastSeen")[0], "no lastSeen after heartbeats");
    json_decref(td);
    /* Then silence: the daemon purges it (once a second) and a GET finds nothing. */
    double deadline = now_s() + 6;
    int listed = 1;
    while (now_s() < deadline) {
        struct reply r;
        http(d, "GET", API, NULL, NULL, NULL, NULL, 0, &r);
        listed = strstr(r.body, id) != NULL;
        reply_free(&r);
        if (!listed)
            break;
        sleep_ms(200);
    }
    ck_assert_msg(!listed, "the expired TD is still listed");
    ck_assert_int_eq(get_status(d, id), 404);
    /* Expired TDs are hidden at once and purged from the store by the once-a-second
     * housekeeping: soon no graph is left. */
    deadline = now_s() + 5;
    int exists = 1;
    while (now_s() < deadline &&
           (exists = graph_exists(d, GRAPH_BASE "urn%3Aexample%3Aboard-with-ttl")))
        sleep_ms(100);
    ck_assert_msg(!exists, "the expired TD's graph was not purged");

    /* A ttl above thing_max_ttl is capped; an expiry in the past or a bad ttl is refused. */
    j = parse(text, strlen(text));
    json_object_set_new(j, "registration", json_pack("{s:i}", "ttl", 99999999));
    free(with_ttl);
    with_ttl = json_dumps(j, 0);
    json_decref(j);
    ck_assert_int_eq(put_td(d, id, with_ttl, NULL), 201);
    td = get_td(d, id);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(td, "registration"),
                                                        "ttl")),
                     3600);
    json_decref(td);
    struct reply r;
    ck_assert_int_eq(patch(d, id, "application/merge-patch+json",
                           "{\"registration\":{\"ttl\":\"soon\"}}", &r),
                     400);
    assert_validation_error(&r, "registration.ttl");
    reply_free(&r);
    ck_assert_int_eq(patch(d, id, "application/merge-patch+json",
                           "{\"registration\":{\"ttl\":null,"
                           "\"expires\":\"2001-01-01T00:00:00Z\"}}",
                           &r),
                     400);
    assert_validation_error(&r, "registration.expires");
    reply_free(&r);
    /* Removing the ttl makes the registration permanent. */
    ck_assert_int_eq(patch(d, id, "application/merge-patch+json", "{\"registration\":{\"ttl\":null}}",
                           NULL),
                     204);
    td = get_td(d, id);
    ck_assert_ptr_null(json_object_get(json_object_get(td, "registration"), "expires"));
    json_decref(td);
    free(with_ttl);
    free(text);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

START_TEST(test_delete)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    const char *id = "urn:example:doomed";
    char *text = fixture_td(id, "Doomed");
    ck_assert_int_eq(put_td(d, id, text, NULL), 201);
    ck_assert_int_eq(graph_exists(d, GRAPH_BASE "urn%3Aexample%3Adoomed"), 1);
    struct reply r;
    char *path = thing_url(id);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    ck_assert_int_eq(get_status(d, id), 404);
    ck_assert_int_eq(graph_exists(d, GRAPH_BASE "urn%3Aexample%3Adoomed"), 0);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    /* Created again after a delete: 201. */
    ck_assert_int_eq(put_td(d, id, text, NULL), 201);
    free(path);
    free(text);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

/* ---- listing -------------------------------------------------------------------------------- */

static json_t *get_list(const struct daemon *d, const char *path, char *link, size_t linklen)
{
    struct reply r;
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_msg(r.status == 200, "GET %s: HTTP %ld %s", path, r.status, r.body);
    ck_assert_msg(media_is(&r, "application/ld+json"), "listing gave '%s'", r.ctype);
    snprintf(link, linklen, "%s", r.link);
    json_t *j = parse(r.body, r.len);
    reply_free(&r);
    return j;
}

START_TEST(test_paging)
{
    struct daemon *d = daemon_new("thing_page_limit 7\n");
    daemon_start(d);
    char id[64];
    /* Registered out of order; listed by id. */
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "urn:example:t%02d", (i * 7) % 25);
        char *text = fixture_td(id, "Paged");
        ck_assert_int_eq(put_td(d, id, text, NULL), 201);
        free(text);
    }
    char link[1024], next[512], etag[128], etag2[128], path[512];
    /* Pages of 5 (below thing_page_limit), followed to the end by their next links. */
    json_t *seen = json_array();
    snprintf(path, sizeof(path), API "?limit=5");
    json_t *page = get_list(d, path, link, sizeof(link));
    ck_assert_uint_eq(json_array_size(page), 5);
    link_target(link, "next", next, sizeof(next));
    ck_assert_str_eq(next, API "?offset=5&limit=5");
    link_target(link, "canonical", path, sizeof(path));
    ck_assert_str_eq(path, API);
    link_etag(link, etag, sizeof(etag));
    size_t i;
    json_t *td;
    json_array_foreach(page, i, td) json_array_append(seen, json_object_get(td, "id"));
    json_decref(page);
    while (next[0]) {
        snprintf(path, sizeof(path), "%s", next);
        page = get_list(d, path, link, sizeof(link));
        link_etag(link, etag2, sizeof(etag2));
        ck_assert_str_eq(etag2, etag); /* the collection did not change while paging */
        json_array_foreach(page, i, td) json_array_append(seen, json_object_get(td, "id"));
        json_decref(page);
        link_target(link, "next", next, sizeof(next));
    }
    ck_assert_uint_eq(json_array_size(seen), 25);
    for (i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "urn:example:t%02zu", i);
        ck_assert_str_eq(json_string_value(json_array_get(seen, i)), id);
    }
    json_decref(seen);

    /* No limit: thing_page_limit (7) per page, and the next link says so. */
    page = get_list(d, API, link, sizeof(link));
    ck_assert_uint_eq(json_array_size(page), 7);
    json_decref(page);
    link_target(link, "next", next, sizeof(next));
    ck_assert_str_eq(next, API "?offset=7&limit=7");
    /* A limit above it: at most 7, the next link keeps the client's limit. */
    page = get_list(d, API "?limit=100&offset=20", link, sizeof(link));
    ck_assert_uint_eq(json_array_size(page), 5);
    json_decref(page);
    link_target(link, "next", next, sizeof(next));
    ck_assert_str_eq(next, "");
    page = get_list(d, API "?limit=100&offset=10", link, sizeof(link));
    ck_assert_uint_eq(json_array_size(page), 7);
    json_decref(page);
    link_target(link, "next", next, sizeof(next));
    ck_assert_str_eq(next, API "?offset=17&limit=100");
    /* Past the end: an empty page. */
    page = get_list(d, API "?offset=500", link, sizeof(link));
    ck_assert_uint_eq(json_array_size(page), 0);
    json_decref(page);

    /* The collection format. */
    page = get_list(d, API "?format=collection&limit=4&offset=4", link, sizeof(link));
    ck_assert_str_eq(json_string_value(json_object_get(page, "@context")), DISCOVERY);
    ck_assert_str_eq(json_string_value(json_object_get(page, "@type")), "ThingCollection");
    ck_assert_int_eq(json_integer_value(json_object_get(page, "total")), 25);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "members")), 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(page,
                                                                                      "members"),
                                                                      0),
                                                       "id")),
                     "urn:example:t04");
    ck_assert_str_eq(json_string_value(json_object_get(page, "next")),
                     API "?offset=8&limit=4&format=collection");
    ck_assert_str_eq(json_string_value(json_object_get(page, "@id")),
                     API "?offset=4&limit=4&format=collection");
    json_decref(page);

    /* A new TD changes the etag; an update does not. */
    char *text = fixture_td("urn:example:t99", "Late");
    ck_assert_int_eq(put_td(d, "urn:example:t99", text, NULL), 201);
    page = get_list(d, API, link, sizeof(link));
    json_decref(page);
    link_etag(link, etag2, sizeof(etag2));
    ck_assert_str_ne(etag2, etag);
    snprintf(etag, sizeof(etag), "%s", etag2);
    ck_assert_int_eq(put_td(d, "urn:example:t99", text, NULL), 204);
    page = get_list(d, API, link, sizeof(link));
    json_decref(page);
    link_etag(link, etag2, sizeof(etag2));
    ck_assert_str_eq(etag2, etag);
    free(text);

    /* HEAD on the listing. */
    struct reply r;
    http(d, "HEAD", API "?limit=2", NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_msg(strstr(r.link, "rel=\"next\"") != NULL, "HEAD lost the Link header");
    reply_free(&r);

    /* Bad parameters. */
    static const char *const bad[] = {API "?limit=0", API "?limit=ten", API "?offset=-1",
                                      API "?format=xml"};
    for (i = 0; i < 4; i++) {
        http(d, "GET", bad[i], NULL, NULL, NULL, NULL, 0, &r);
        assert_problem(&r, 400);
        reply_free(&r);
    }
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------------- */

START_TEST(test_errors)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    const char *id = "urn:example:err";
    char *text = fixture_td(id, "Errors");
    char *path = thing_url(id);
    struct reply r;

    /* 401 without a token (WWW-Authenticate), 403 with a read-only one. */
    http(d, "PUT", path, NULL, "application/td+json", NULL, text, strlen(text), &r);
    assert_problem(&r, 401);
    ck_assert_msg(strncmp(r.www_auth, "Bearer", 6) == 0, "WWW-Authenticate '%s'", r.www_auth);
    reply_free(&r);
    http(d, "PUT", path, READ_TOKEN, "application/td+json", NULL, text, strlen(text), &r);
    assert_problem(&r, 403);
    reply_free(&r);
    http(d, "DELETE", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 401);
    reply_free(&r);
    /* 415 for a body that is not JSON-typed. */
    http(d, "PUT", path, WRITE_TOKEN, "text/plain", NULL, text, strlen(text), &r);
    assert_problem(&r, 415);
    reply_free(&r);
    http(d, "POST", API, WRITE_TOKEN, "application/xml", NULL, text, strlen(text), &r);
    assert_problem(&r, 415);
    reply_free(&r);
    /* 405 with Allow naming what the resource takes. */
    http(d, "POST", path, WRITE_TOKEN, "application/td+json", NULL, text, strlen(text), &r);
    assert_problem(&r, 405);
    ck_assert_str_eq(r.allow, "GET, HEAD, PUT, PATCH, DELETE");
    reply_free(&r);
    http(d, "DELETE", API, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 405);
    ck_assert_str_eq(r.allow, "GET, HEAD, POST");
    reply_free(&r);
    http(d, "PUT", "/api/v1/search/sparql", WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 405);
    reply_free(&r);
    /* 404 */
    ck_assert_int_eq(get_status(d, "urn:example:none"), 404);
    http(d, "GET", "/api/v1/thingsX", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    /* 400: not JSON, not an object, duplicate keys, an id that is not the URL's, an invalid TD
     * with field-level errors. */
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"title\": ", "(root)"},
        {"[1, 2]", "(root)"},
        {"{\"@context\": \"" TD11 "\", \"id\": \"urn:example:err\", \"title\": \"a\", "
         "\"title\": \"b\", \"security\": \"s\", \"securityDefinitions\": {\"s\": {\"scheme\": "
         "\"nosec\"}}}",
         "(root)"},
        {"{\"@context\": \"" TD11 "\", \"id\": \"urn:example:other\", \"title\": \"a\", "
         "\"security\": \"s\", \"securityDefinitions\": {\"s\": {\"scheme\": \"nosec\"}}}",
         "id"},
        {"{\"@context\": \"" TD11 "\", \"id\": \"urn:example:err\", \"title\": \"a\", "
         "\"security\": \"s\", \"securityDefinitions\": {\"s\": {\"scheme\": \"nosec\"}}, "
         "\"properties\": {\"status\": {\"forms\": [{\"href\": 7}]}}}",
         "properties.status.forms.0.href"},
        {"{\"@context\": \"" TD11 "\", \"id\": \"urn:example:err\", \"title\": \"a\", "
         "\"security\": \"s\", \"securityDefinitions\": {\"s\": {\"scheme\": \"nosec\"}}, "
         "\"registration\": {\"ttl\": -5}}",
         "registration.ttl"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        http(d, "PUT", path, WRITE_TOKEN, "application/td+json", NULL, bad[i].body,
             strlen(bad[i].body), &r);
        assert_validation_error(&r, bad[i].field);
        reply_free(&r);
    }
    ck_assert_int_eq(get_status(d, id), 404); /* none of them registered anything */
    free(path);
    free(text);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

START_TEST(test_invalid_td_leaves_previous)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    const char *id = "urn:example:kept";
    char *text = fixture_td(id, "Version 1");
    ck_assert_int_eq(put_td(d, id, text, NULL), 201);
    json_t *before = get_td(d, id);
    char *graph_before = graph_lines(d, GRAPH_BASE "urn%3Aexample%3Akept");
    const char *invalid =
        "{\"@context\": \"" TD11 "\", \"id\": \"urn:example:kept\", \"title\": \"Version 2\", "
        "\"security\": \"missing_sc\", \"securityDefinitions\": {}}";
    struct reply r;
    put_td(d, id, invalid, &r);
    assert_validation_error(&r, "security");
    reply_free(&r);
    /* JSON-LD the mapping cannot represent is refused the same way. */
    const char *unmappable =
        "{\"@context\": \"" TD11 "\", \"id\": \"urn:example:kept\", \"title\": \"Version 2\", "
        "\"security\": \"s\", \"securityDefinitions\": {\"s\": {\"scheme\": \"nosec\"}}, "
        "\"undeclared:thing\": 1}";
    put_td(d, id, unmappable, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    json_t *after = get_td(d, id);
    json_object_del(before, "registration");
    json_object_del(after, "registration");
    ck_assert(json_equal(before, after));
    char *graph_after = graph_lines(d, GRAPH_BASE "urn%3Aexample%3Akept");
    ck_assert_str_eq(graph_after, graph_before);
    free(graph_before);
    free(graph_after);
    json_decref(before);
    json_decref(after);
    free(text);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

/* ---- durability ------------------------------------------------------------------------------ */

START_TEST(test_kill9_keeps_td)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    const char *id = "urn:example:durable";
    char *text = fixture_td(id, "Durable");
    ck_assert_int_eq(put_td(d, id, text, NULL), 201);
    char *anon = fixture_td(NULL, "Durable too");
    struct reply r;
    http(d, "POST", API, WRITE_TOKEN, "application/td+json", NULL, anon, strlen(anon), &r);
    ck_assert_int_eq(r.status, 201);
    char location[512];
    snprintf(location, sizeof(location), "%s", r.location);
    reply_free(&r);
    char *gone = fixture_td("urn:example:gone", "Deleted");
    ck_assert_int_eq(put_td(d, "urn:example:gone", gone, NULL), 201);
    char *gpath = thing_url("urn:example:gone");
    http(d, "DELETE", gpath, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    ck_assert_int_eq(patch(d, id, "application/merge-patch+json", "{\"title\":\"Patched\"}", NULL),
                     204);

    daemon_kill(d); /* SIGKILL right after the answers */
    daemon_start(d);
    json_t *td = get_td(d, id);
    ck_assert_str_eq(json_string_value(json_object_get(td, "title")), "Patched");
    json_decref(td);
    http(d, "GET", location, NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    reply_free(&r);
    ck_assert_int_eq(get_status(d, "urn:example:gone"), 404);
    free(gpath);
    free(gone);
    free(anon);
    free(text);
    daemon_free(d);
}
END_TEST

/* ---- search, outside writes, the directory's TD ------------------------------------------ */

START_TEST(test_search_sparql)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    const char *id = "urn:example:searchable";
    char *text = fixture_td(id, "Searchable");
    ck_assert_int_eq(put_td(d, id, text, NULL), 201);
    struct reply r;
    const char *select = "SELECT ?title ?created WHERE { ?t "
                         "<https://www.w3.org/2019/wot/td#title> ?title ; "
                         "<https://www.w3.org/2022/wot/discovery#hasRegistrationInformation> ?r . "
                         "?r <http://schema.org/dateCreated> ?created }";
    char *q = escape(select);
    char path[2048];
    snprintf(path, sizeof(path), "/api/v1/search/sparql?query=%s", q);
    free(q);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_msg(r.status == 200, "search: %ld %s", r.status, r.body);
    ck_assert_msg(media_is(&r, "application/json"), "SELECT gave '%s'", r.ctype);
    ck_assert_msg(strstr(r.body, "\"Searchable\"") != NULL, "no title in %s", r.body);
    reply_free(&r);
    /* The SPARQL results media type still works when asked for. */
    http(d, "GET", path, NULL, NULL, "application/sparql-results+json", NULL, 0, &r);
    ck_assert(media_is(&r, "application/sparql-results+json"));
    reply_free(&r);
    /* ASK by form POST. */
    char body[512];
    q = escape("ASK { <urn:example:searchable> ?p ?o }");
    snprintf(body, sizeof(body), "query=%s", q);
    free(q);
    http(d, "POST", "/api/v1/search/sparql", NULL, "application/x-www-form-urlencoded", NULL, body,
         strlen(body), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "true") != NULL, "ASK: %s", r.body);
    reply_free(&r);
    /* CONSTRUCT and DESCRIBE: JSON-LD by default, Turtle on request. */
    const char *construct = "CONSTRUCT { ?t <urn:x:title> ?title } WHERE { ?t "
                            "<https://www.w3.org/2019/wot/td#title> ?title }";
    http(d, "POST", "/api/v1/search/sparql", NULL, "application/sparql-query", NULL, construct,
         strlen(construct), &r);
    ck_assert_msg(r.status == 200, "CONSTRUCT: %ld %s", r.status, r.body);
    ck_assert_msg(media_is(&r, "application/ld+json"), "CONSTRUCT gave '%s'", r.ctype);
    json_t *ld = parse(r.body, r.len);
    reply_free(&r);
    ck_assert_uint_eq(json_array_size(ld), 1);
    json_t *node = json_array_get(ld, 0);
    ck_assert_str_eq(json_string_value(json_object_get(node, "@id")), id);
    json_t *title = json_array_get(json_object_get(node, "urn:x:title"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(title, "@value")), "Searchable");
    ck_assert_str_eq(json_string_value(json_object_get(title, "@language")), "en");
    json_decref(ld);
    const char *describe = "DESCRIBE <urn:example:searchable>";
    http(d, "POST", "/api/v1/search/sparql", NULL, "application/sparql-query", "text/turtle",
         describe, strlen(describe), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(media_is(&r, "text/turtle"));
    reply_free(&r);
    http(d, "POST", "/api/v1/search/sparql", NULL, "application/sparql-query", NULL, describe,
         strlen(describe), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(media_is(&r, "application/ld+json"));
    json_decref(parse(r.body, r.len));
    reply_free(&r);
    /* Anything but the four query forms: 400. Updates never run here. */
    const char *upd = "INSERT DATA { <urn:a> <urn:b> <urn:c> }";
    http(d, "POST", "/api/v1/search/sparql", WRITE_TOKEN, "application/sparql-query", NULL, upd,
         strlen(upd), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    http(d, "POST", "/api/v1/search/sparql", WRITE_TOKEN, "application/sparql-update", NULL, upd,
         strlen(upd), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    q = escape(upd);
    snprintf(body, sizeof(body), "update=%s", q);
    free(q);
    http(d, "POST", "/api/v1/search/sparql", WRITE_TOKEN, "application/x-www-form-urlencoded",
         NULL, body, strlen(body), &r);
    assert_problem(&r, 400);
    reply_free(&r);
    ck_assert_int_eq(ask(d, "ASK { <urn:a> <urn:b> <urn:c> }"), 0);
    http(d, "GET", "/api/v1/search/sparql", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    q = escape("SELECT * WHERE { ?s ?p }");
    snprintf(path, sizeof(path), "/api/v1/search/sparql?query=%s", q);
    free(q);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    free(text);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

START_TEST(test_outside_write_reindexes)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    const char *id = "urn:example:dropped";
    char *text = fixture_td(id, "Dropped");
    ck_assert_int_eq(put_td(d, id, text, NULL), 201);
    struct reply r;
    ck_assert_int_eq(update(d, WRITE_TOKEN,
                            "DROP GRAPH <" GRAPH_BASE "urn%3Aexample%3Adropped>", &r),
                     204);
    reply_free(&r);
    /* The registry notices within its once-a-second housekeeping. */
    double deadline = now_s() + 5;
    long s = 200;
    while (now_s() < deadline && (s = get_status(d, id)) == 200)
        sleep_ms(100);
    ck_assert_int_eq(s, 404);
    free(text);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

START_TEST(test_directory_td)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    struct reply r;
    http(d, "GET", "/.well-known/wot", NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(media_is(&r, "application/td+json"));
    json_t *td = parse(r.body, r.len);
    size_t len = r.len;
    reply_free(&r);
    ck_assert_str_eq(json_string_value(json_object_get(td, "@type")), "ThingDirectory");
    json_t *ctx = json_object_get(td, "@context");
    ck_assert_str_eq(json_string_value(json_array_get(ctx, 0)), TD11);
    ck_assert_str_eq(json_string_value(json_array_get(ctx, 1)), DISCOVERY);
    char base[128];
    snprintf(base, sizeof(base), "http://127.0.0.1:%u/api/v1/", d->port);
    ck_assert_str_eq(json_string_value(json_object_get(td, "base")), base);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(td, "properties"), "things"));
    static const char *const actions[] = {"createThing",          "createAnonymousThing",
                                          "retrieveThing",        "updateThing",
                                          "partiallyUpdateThing", "deleteThing",
                                          "searchSPARQL"};
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        ck_assert_msg(json_object_get(json_object_get(td, "actions"), actions[i]), "no %s",
                      actions[i]);
    http(d, "HEAD", "/.well-known/wot", NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, 0);
    reply_free(&r);
    (void)len;
    /* The directory's TD is a TD: the registry's own validation and RDF mapping accept it,
     * @type ThingDirectory (from the discovery context) included, and it becomes RDF. */
    json_object_set_new(td, "id", json_string("urn:example:directory-copy"));
    char *text = json_dumps(td, 0);
    struct reply pr;
    long s = put_td(d, "urn:example:directory-copy", text, &pr);
    ck_assert_msg(s == 201, "the directory TD does not validate: %ld %s", s, pr.body);
    reply_free(&pr);
    ck_assert(ask(d, "ASK { <urn:example:directory-copy> a "
                     "<https://www.w3.org/2022/wot/discovery#ThingDirectory> }"));
    free(text);
    json_decref(td);
    /* A clean exit: under --enable-sanitizers this is where leaks would show. */
    ck_assert_int_eq(daemon_signal_wait(d, SIGTERM, 20), 0);
    daemon_free(d);
}
END_TEST

/* ---- runner ----------------------------------------------------------------------------- */

static Suite *things_suite(void)
{
    Suite *s = suite_create("things");
    TCase *tc;
#define ADD(name)                                                                                  \
    tc = tcase_create(#name);                                                                      \
    tcase_add_checked_fixture(tc, NULL, reap_all);                                                 \
    tcase_add_test(tc, name);                                                                      \
    suite_add_tcase(s, tc)
    ADD(test_real_boards);
    ADD(test_lossless_round_trip);
    ADD(test_anonymous_td);
    ADD(test_patch);
    ADD(test_heartbeat_and_expiry);
    ADD(test_delete);
    ADD(test_paging);
    ADD(test_errors);
    ADD(test_invalid_td_leaves_previous);
    ADD(test_kill9_keeps_td);
    ADD(test_search_sparql);
    ADD(test_outside_write_reindexes);
    ADD(test_directory_td);
#undef ADD
    return s;
}

int main(void)
{
    return harness_main("test_things", things_suite());
}
