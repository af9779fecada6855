/* SPDX-License-Identifier: MIT */
/* Integration tests for the model registry (/api/v1/models) on the real daemon: upload of all 23
 * real models of the paper with their metadata ($SHARED_DIR/tinyml-kg/models; the tests that need
 * them print a note and pass when it is absent), the paper's case-study queries 2 and 3 through
 * /sparql over the uploaded models, listing with filters and paging, the file with its ETag,
 * Turtle, deletion, the error answers (409, 400 naming the field and the allowed values, 422,
 * 401, 415), nothing stored on an error, and a 201 surviving kill -9. The small models of the
 * error cases are made by tests/unit/tflite_writer.c. */
#include <check.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "tflite_writer.h"

#define API "/api/v1/models"

static const char *const REAL[] = {
    "ARM_CNN_Small_keyword_spotting", "ARM_DS_CNN_Small_", "ARM_MicroNet_Small_anomaly_detection",
    "ARM_MicroNet_VWW_3", "Anomaly_Detection_Autoencoder", "Hello_World", "Magic_Wand_1",
    "Magic_Wand_2", "Mapping_Dance", "Micro_Speech_Forward_Backward", "Micro_Speech_Up_Down_Go",
    "Micro_Speech_Yes_No_1", "Micro_Speech_Yes_No_2", "Micro_Speech_Yes_No_3",
    "Micro_Speech_Yes_No_4", "Motion_Trainer_Left_Right", "Motion_Trainer_Up_Forward", "Move",
    "Person_Detection", "Snoring_Guardian", "Squats_Counter", "Visual_Alarm_Clock", "Voice_Turn",
};
#define N_REAL (sizeof(REAL) / sizeof(REAL[0]))

/* ---- helpers ------------------------------------------------------------------------------- */

/* $SHARED_DIR/tinyml-kg/models, or NULL (with a note) when the paper's data is absent. */
static const char *models_dir(const char *test)
{
    static char dir[1024];
    const char *shared = getenv("SHARED_DIR");
    struct stat sb;
    if (shared && *shared) {
        snprintf(dir, sizeof(dir), "%s/tinyml-kg/models", shared);
        if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
            return dir;
    }
    fprintf(stderr, "%s: $SHARED_DIR/tinyml-kg/models absent: skipped\n", test);
    return NULL;
}

/* Uploads REAL[i] from dir; returns the new model's id (new). */
static char *upload_real(const struct daemon *d, const char *dir, const char *name)
{
    char path[1200];
    size_t len, mlen;
    snprintf(path, sizeof(path), "%s/%s.tflite", dir, name);
    char *model = read_file(path, &len);
    ck_assert_msg(model != NULL, "cannot read %s", path);
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    char *meta = read_file(path, &mlen);
    ck_assert_msg(meta != NULL, "cannot read %s", path);
    struct reply r;
    upload_model(d, WRITE_TOKEN, model, len, meta, &r);
    ck_assert_msg(r.status == 201, "upload %s: HTTP %ld %s", name, r.status, r.body);
    json_t *j = reply_json(&r);
    const char *id = json_string_value(json_object_get(j, "id"));
    ck_assert_ptr_nonnull(id);
    char want[128];
    snprintf(want, sizeof(want), API "/%s", id);
    ck_assert_msg(strstr(r.location, want) != NULL, "Location '%s' does not name %s", r.location,
                  want);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "flash_bytes")), (json_int_t)len);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), name);
    ck_assert_int_eq(strlen(json_string_value(json_object_get(j, "sha256"))), 64);
    ck_assert(json_is_object(json_object_get(j, "arena_bytes")));
    ck_assert(json_array_size(json_object_get(j, "layers")) > 0);
    char *copy = strdup(id);
    json_decref(j);
    reply_free(&r);
    free(model);
    free(meta);
    return copy;
}

static char *run_case(const struct daemon *d, const char *file)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/tinyml-kg/queries/%s", getenv("SHARED_DIR"), file);
    char *q = read_file(path, NULL);
    ck_assert_msg(q != NULL, "cannot read %s", path);
    char *rows = select_rows(d, NULL, q);
    free(q);
    return rows;
}

/* The model names a listing returns, in its order, each followed by '\n' (new). */
static char *listing_in_order(const struct daemon *d, const char *query, json_int_t *total,
                              char *link, size_t linklen)
{
    struct reply r;
    char path[1024];
    snprintf(path, sizeof(path), API "%s", query);
    http(d, "GET", path, NULL, NULL, "application/json", NULL, 0, &r);
    ck_assert_msg(r.status == 200, "GET %s: HTTP %ld %s", path, r.status, r.body);
    json_t *j = reply_json(&r);
    *total = json_integer_value(json_object_get(j, "total"));
    if (link)
        snprintf(link, linklen, "%s", r.link);
    char buf[4096] = "";
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(j, "items"), i, it)
    {
        strcat(buf, json_string_value(json_object_get(it, "name")));
        strcat(buf, "\n");
    }
    json_decref(j);
    reply_free(&r);
    char *names = strdup(buf);
    ck_assert_ptr_nonnull(names);
    return names;
}

/* The list of model names a listing returns, sorted, joined by '\n' (new). */
static char *listing_names(const struct daemon *d, const char *query, json_int_t *total,
                           char *link, size_t linklen)
{
    char *names = listing_in_order(d, query, total, link, linklen);
    char *sorted = sorted_lines(names);
    free(names);
    return sorted;
}

/* in int8 [1,width] -> FULLY_CONNECTED [4,width] -> [1,4]: 4 * width MACs. */
static uint8_t *tiny_model_of_width(int32_t width, size_t *len)
{
    struct tw_model m;
    const int32_t s_in[2] = {1, width}, s_w[2] = {4, width}, s_o[2] = {1, 4};
    tw_init(&m);
    int32_t in = tw_qtensor(&m, 9, 2, s_in, 0, 1);
    int32_t w = tw_qtensor(&m, 9, 2, s_w, (uint32_t)(4 * width), 1);
    int32_t out = tw_qtensor(&m, 9, 2, s_o, 0, 1);
    tw_op(&m, 9, 0, 3, (int32_t[]){in, w, -1}, 1, (int32_t[]){out});
    m.n_inputs = 1, m.inputs[0] = in;
    m.n_outputs = 1, m.outputs[0] = out;
    uint8_t *d = tw_build(&m, len, NULL);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* in int8 [1,10] -> FULLY_CONNECTED [4,10] -> [1,4]: 40 MACs. */
static uint8_t *tiny_model(size_t *len)
{
    return tiny_model_of_width(10, len);
}

static const char TINY_META[] =
    "{\"name\":\"tiny\",\"description\":\"a test model\",\"category\":\"Classification\","
    "\"metric\":{\"type\":\"Top_1_accuracy\",\"value\":50.0},\"sensors\":[\"Microphone\"]}";

static json_int_t count_models(const struct daemon *d)
{
    json_int_t total;
    free(listing_names(d, "", &total, NULL, 0));
    return total;
}

/* ---- tests ------------------------------------------------------------------------------------ */

/* All 23 real models upload; case studies 2 and 3 give the paper's models over them; listing
 * filters and paging; the file comes back byte for byte with its ETag. */
START_TEST(test_real_models_and_case_studies)
{
    const char *dir = models_dir("test_real_models_and_case_studies");
    if (!dir)
        return;
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    char *ids[N_REAL];
    for (size_t i = 0; i < N_REAL; i++)
        ids[i] = upload_real(d, dir, REAL[i]);
    ck_assert_int_eq(count_models(d), (json_int_t)N_REAL);

    /* Case 2: camera models within 127 kB RAM (the ILP32 arena) and 576 kB flash. */
    char *rows = run_case(d, "case2-models-for-device.rq");
    int found_pd = 0, found_vac = 0;
    for (size_t i = 0; i < N_REAL; i++) {
        if (strstr(rows, ids[i])) {
            found_pd |= strcmp(REAL[i], "Person_Detection") == 0;
            found_vac |= strcmp(REAL[i], "Visual_Alarm_Clock") == 0;
            ck_assert_msg(strcmp(REAL[i], "Person_Detection") == 0 ||
                              strcmp(REAL[i], "Visual_Alarm_Clock") == 0,
                          "case 2 returned %s", REAL[i]);
        }
    }
    ck_assert_msg(found_pd && found_vac, "case 2 rows: %s", rows);
    free(rows);

    /* Case 3: the four yes/no models, by accuracy (the ORDER BY is checked on the raw reply). */
    char path[1200];
    snprintf(path, sizeof(path), "%s/tinyml-kg/queries/case3-rank-models-for-task.rq",
             getenv("SHARED_DIR"));
    char *q = read_file(path, NULL);
    ck_assert_ptr_nonnull(q);
    struct reply r;
    http(d, "POST", "/sparql", NULL, "application/sparql-query", "application/sparql-results+json",
         q, strlen(q), &r);
    free(q);
    ck_assert_msg(r.status == 200, "case 3: %ld %s", r.status, r.body);
    json_t *j = reply_json(&r);
    json_t *b = json_object_get(json_object_get(j, "results"), "bindings");
    ck_assert_int_eq(json_array_size(b), 4);
    static const char *const order[] = {"Micro_Speech_Yes_No_2", "Micro_Speech_Yes_No_4",
                                        "Micro_Speech_Yes_No_1", "Micro_Speech_Yes_No_3"};
    for (size_t k = 0; k < 4; k++) {
        const char *uuid = json_string_value(
            json_object_get(json_object_get(json_array_get(b, k), "uuid"), "value"));
        size_t i = 0;
        while (i < N_REAL && strcmp(REAL[i], order[k]) != 0)
            i++;
        ck_assert_msg(uuid && strcmp(uuid, ids[i]) == 0, "case 3 row %zu is %s, want %s (%s)", k,
                      uuid ? uuid : "-", order[k], ids[i]);
    }
    json_decref(j);
    reply_free(&r);

    /* Listing filters and paging. */
    json_int_t total;
    char link[1024];
    char *names = listing_names(d, "?sensor=Camera", &total, NULL, 0);
    ck_assert_int_eq(total, 3);
    ck_assert_str_eq(names, "ARM_MicroNet_VWW_3\nPerson_Detection\nVisual_Alarm_Clock");
    free(names);
    names = listing_names(d, "?sensor=Camera&max_ram_kb=127&max_flash_kb=576", &total, NULL, 0);
    ck_assert_str_eq(names, "Person_Detection\nVisual_Alarm_Clock");
    free(names);
    names = listing_names(d, "?q=yes%2Fno&category=Classification", &total, NULL, 0);
    ck_assert_int_eq(total, 4);
    free(names);
    names = listing_names(d, "?limit=10", &total, link, sizeof(link));
    ck_assert_int_eq(total, (json_int_t)N_REAL);
    ck_assert_msg(strstr(link, "offset=10") && strstr(link, "rel=\"next\""), "Link: %s", link);
    free(names);
    names = listing_names(d, "?limit=10&offset=20", &total, link, sizeof(link));
    ck_assert_int_eq(strlen(link), 0); /* the last page has no next */
    free(names);

    /* The file, byte for byte, with its ETag; If-None-Match gives 304. */
    size_t i_pd = 0;
    while (strcmp(REAL[i_pd], "Person_Detection") != 0)
        i_pd++;
    size_t flen;
    snprintf(path, sizeof(path), "%s/Person_Detection.tflite", dir);
    char *file = read_file(path, &flen);
    snprintf(path, sizeof(path), API "/%s/file", ids[i_pd]);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, flen);
    ck_assert(memcmp(r.body, file, flen) == 0);
    ck_assert_msg(strlen(r.etag) >= 64, "ETag '%s'", r.etag);
    char etag[300];
    snprintf(etag, sizeof(etag), "%s", r.etag);
    reply_free(&r);
    free(file);
    {
        /* If-None-Match: http() has no slot for it, so this exchange uses curl directly. */
        char url[1400], hdr[400];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", d->port, path);
        snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
        CURL *c = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, hdr);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
        FILE *sink = fopen("/dev/null", "w");
        curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
        ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        ck_assert_int_eq(code, 304);
        fclose(sink);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
    }

    /* One model as JSON and as Turtle. */
    snprintf(path, sizeof(path), API "/%s", ids[i_pd]);
    http(d, "GET", path, NULL, NULL, "application/json", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    j = reply_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "arena_bytes"),
                                                        "tflm-2020-ilp32")),
                     87760);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "arena_bytes"),
                                                        "tflm-2020-x86_64")),
                     94128);
    json_decref(j);
    reply_free(&r);
    http(d, "GET", path, NULL, NULL, "text/turtle", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(media_is(&r, "text/turtle"));
    ck_assert_msg(strstr(r.body, "nnet:NeuralNetwork") != NULL, "%.400s", r.body);
    reply_free(&r);

    for (size_t i = 0; i < N_REAL; i++)
        free(ids[i]);
    daemon_free(d);
}
END_TEST

/* The errors of an upload, each naming its field, and nothing stored by any of them. */
START_TEST(test_upload_errors)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    size_t len;
    uint8_t *model = tiny_model(&len);
    struct reply r;

    upload_model(d, NULL, model, len, TINY_META, &r);
    assert_problem(&r, 401);
    reply_free(&r);
    upload_model(d, READ_TOKEN, model, len, TINY_META, &r);
    assert_problem(&r, 403);
    reply_free(&r);

    upload_model(d, WRITE_TOKEN, model, len, NULL, &r);
    assert_problem(&r, 400);
    ck_assert_msg(strstr(r.body, "metadata") != NULL, "%s", r.body);
    reply_free(&r);
    upload_model(d, WRITE_TOKEN, NULL, 0, TINY_META, &r);
    assert_problem(&r, 400);
    reply_free(&r);

    /* A closed list: the field and every allowed value are named. */
    upload_model(d, WRITE_TOKEN, model, len,
           "{\"name\":\"tiny\",\"category\":\"Regression\",\"sensors\":[\"Microphone\"]}", &r);
    assert_problem(&r, 400);
    json_t *j = reply_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "field")), "metadata.category");
    const char *detail = json_string_value(json_object_get(j, "detail"));
    ck_assert_msg(detail && strstr(detail, "Classification") && strstr(detail, "ObjectDetection"),
                  "%s", r.body);
    json_decref(j);
    reply_free(&r);
    upload_model(d, WRITE_TOKEN, model, len,
           "{\"name\":\"tiny\",\"category\":\"Classification\",\"sensors\":[\"Microphone\","
           "\"Radar\"]}",
           &r);
    assert_problem(&r, 400);
    j = reply_json(&r);
    ck_assert_msg(strstr(json_string_value(json_object_get(j, "field")), "sensors") != NULL, "%s",
                  r.body);
    ck_assert_msg(strstr(r.body, "Camera") != NULL, "%s", r.body);
    json_decref(j);
    reply_free(&r);
    upload_model(d, WRITE_TOKEN, model, len, "{\"name\": 3", &r);
    assert_problem(&r, 400);
    reply_free(&r);

    /* Not a model: 422 naming the defect. */
    static const char junk[] = "this is not a flatbuffer at all, just text";
    upload_model(d, WRITE_TOKEN, junk, sizeof(junk), TINY_META, &r);
    assert_problem(&r, 422);
    j = reply_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "field")), "model");
    ck_assert(strlen(json_string_value(json_object_get(j, "detail"))) > 10);
    json_decref(j);
    reply_free(&r);
    /* A truncated model. */
    upload_model(d, WRITE_TOKEN, model, len / 2, TINY_META, &r);
    assert_problem(&r, 422);
    reply_free(&r);

    /* A body that is not multipart. */
    http(d, "POST", API, WRITE_TOKEN, "application/json", NULL, TINY_META, strlen(TINY_META), &r);
    assert_problem(&r, 415);
    reply_free(&r);

    ck_assert_int_eq(count_models(d), 0);

    /* Now the good one, then the same again: 409 with the existing id. */
    upload_model(d, WRITE_TOKEN, model, len, TINY_META, &r);
    ck_assert_msg(r.status == 201, "%ld %s", r.status, r.body);
    j = reply_json(&r);
    char id[32];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "macs")), 40);
    json_decref(j);
    reply_free(&r);
    upload_model(d, WRITE_TOKEN, model, len, TINY_META, &r);
    assert_problem(&r, 409);
    j = reply_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
    json_decref(j);
    reply_free(&r);
    ck_assert_int_eq(count_models(d), 1);

    /* Bad listing parameters. */
    http(d, "GET", API "?category=Nope", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    http(d, "GET", API "?limit=0", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    http(d, "GET", API "/0123456789abcdef", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    http(d, "GET", API "/not-an-id", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    free(model);
    daemon_free(d);
}
END_TEST

/* Uploads tiny_model_of_width(width) with meta; sets id (the new model's) and returns its flash
 * size in bytes. */
static json_int_t upload_tiny(const struct daemon *d, int32_t width, const char *meta, char *id,
                              size_t idlen)
{
    size_t len;
    uint8_t *model = tiny_model_of_width(width, &len);
    struct reply r;
    upload_model(d, WRITE_TOKEN, model, len, meta, &r);
    ck_assert_msg(r.status == 201, "upload %s: HTTP %ld %s", meta, r.status, r.body);
    json_t *j = reply_json(&r);
    snprintf(id, idlen, "%s", json_string_value(json_object_get(j, "id")));
    json_int_t flash = json_integer_value(json_object_get(j, "flash_bytes"));
    json_decref(j);
    reply_free(&r);
    free(model);
    return flash;
}

/* Checks a listing: its total, its names in order (each followed by '\n') and whether it has a
 * Link rel=next containing want_link (NULL: no Link). */
static void assert_listing(const struct daemon *d, const char *query, json_int_t want_total,
                           const char *want_names, const char *want_link)
{
    json_int_t total;
    char link[1024];
    char *names = listing_in_order(d, query, &total, link, sizeof(link));
    ck_assert_msg(total == want_total, "%s: total %lld, want %lld", query, (long long)total,
                  (long long)want_total);
    ck_assert_msg(strcmp(names, want_names) == 0, "%s: names '%s', want '%s'", query, names,
                  want_names);
    if (want_link)
        ck_assert_msg(strstr(link, want_link) && strstr(link, "rel=\"next\""),
                      "%s: Link '%s', want %s", query, link, want_link);
    else
        ck_assert_msg(link[0] == '\0', "%s: Link '%s' on the last page", query, link);
    free(names);
}

/* Listing filters on small models, without the paper's data: q on the name or the description,
 * case-insensitive, a model matching both listed once; sensor=X when one of the sensors feeding
 * the input has type X; category; RAM and flash bounds (inclusive); paging with Link; the order
 * by name then id; a hostile q changes nothing but the text searched for. */
START_TEST(test_listing_filters)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    char id[5][32], q[512];
#define META(name, desc, category, sensors)                                                        \
    "{\"name\":\"" name "\"," desc "\"category\":\"" category "\",\"sensors\":[" sensors "]}"
    json_int_t flash10 =
        upload_tiny(d, 10, META("alpha", "\"description\":\"Detects KEYWORDS in speech\",",
                                "Classification", "\"Microphone\""),
                    id[0], sizeof(id[0]));
    upload_tiny(d, 10, META("Beta_keyword", "\"description\":\"a keyword spotter\",",
                            "Classification", "\"Microphone\",\"Accelerometer\""),
                id[1], sizeof(id[1]));
    upload_tiny(d, 10, META("gamma", "", "ObjectDetection", "\"Camera\""), id[2], sizeof(id[2]));
    upload_tiny(d, 10, META("delta", "\"description\":\"a camera model\",", "Classification",
                            "\"Camera\",\"Microphone\""),
                id[3], sizeof(id[3]));
    /* Another file with the same name: a second "delta", after the first when its id is larger. */
    json_int_t flash12 =
        upload_tiny(d, 12, META("delta", "\"description\":\"another\",", "FeatureExtraction",
                                "\"Thermometer\""),
                    id[4], sizeof(id[4]));
#undef META
    ck_assert_msg(flash12 > flash10, "flash %lld vs %lld", (long long)flash12, (long long)flash10);

    /* Byte order of the names ("B" < "a"), then the id. */
    struct reply r;
    http(d, "GET", API, NULL, NULL, "application/json", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *j = reply_json(&r), *items = json_object_get(j, "items");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 5);
    ck_assert_int_eq(json_array_size(items), 5);
    static const char *const order[] = {"Beta_keyword", "alpha", "delta", "delta", "gamma"};
    for (size_t i = 0; i < 5; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, i), "name")),
                         order[i]);
    const char *d1 = json_string_value(json_object_get(json_array_get(items, 2), "id"));
    const char *d2 = json_string_value(json_object_get(json_array_get(items, 3), "id"));
    ck_assert_msg(strcmp(d1, d2) < 0, "the two deltas out of id order: %s, %s", d1, d2);
    ck_assert(strcmp(d1, id[3]) == 0 || strcmp(d1, id[4]) == 0);
    json_decref(j);
    reply_free(&r);

    assert_listing(d, "?q=keyword", 2, "Beta_keyword\nalpha\n", NULL);
    assert_listing(d, "?q=KeyWord", 2, "Beta_keyword\nalpha\n", NULL);
    assert_listing(d, "?q=camera", 1, "delta\n", NULL);
    assert_listing(d, "?q=", 5, "Beta_keyword\nalpha\ndelta\ndelta\ngamma\n", NULL);
    assert_listing(d, "?sensor=Microphone", 3, "Beta_keyword\nalpha\ndelta\n", NULL);
    assert_listing(d, "?sensor=Camera", 2, "delta\ngamma\n", NULL);
    assert_listing(d, "?sensor=Camera&q=CAMERA", 1, "delta\n", NULL);
    assert_listing(d, "?sensor=Thermometer", 1, "delta\n", NULL);
    assert_listing(d, "?sensor=Accelerometer&category=Classification", 1, "Beta_keyword\n",
                   NULL);
    assert_listing(d, "?sensor=Gyroscope", 0, "", NULL);
    assert_listing(d, "?category=ObjectDetection", 1, "gamma\n", NULL);
    assert_listing(d, "?category=FeatureExtraction&q=delta", 1, "delta\n", NULL);
    assert_listing(d, "?max_ram_kb=0", 0, "", NULL);
    assert_listing(d, "?max_ram_kb=1000000&max_flash_kb=1000000", 5,
                   "Beta_keyword\nalpha\ndelta\ndelta\ngamma\n", NULL);
    snprintf(q, sizeof(q), "?max_flash_kb=%.3f", (double)flash10 / 1000.0);
    assert_listing(d, q, 4, "Beta_keyword\nalpha\ndelta\ngamma\n", NULL);
    snprintf(q, sizeof(q), "?max_flash_kb=%.3f&sensor=Microphone&q=TA",
             (double)flash10 / 1000.0);
    assert_listing(d, q, 2, "Beta_keyword\ndelta\n", NULL);

    /* Paging keeps the filters in rel=next. */
    assert_listing(d, "?sensor=Microphone&limit=1", 3, "Beta_keyword\n", "offset=1");
    assert_listing(d, "?sensor=Microphone&limit=1&offset=1", 3, "alpha\n", "sensor=Microphone");
    assert_listing(d, "?sensor=Microphone&limit=2&offset=1", 3, "alpha\ndelta\n", NULL);
    assert_listing(d, "?q=keyword&limit=1", 2, "Beta_keyword\n", "q=keyword");
    assert_listing(d, "?limit=2&offset=4", 5, "gamma\n", NULL);
    assert_listing(d, "?offset=5", 5, "", NULL);

    /* Quotes and braces in q are text to search for, not SPARQL. */
    assert_listing(d, "?q=%22%20%7D%20UNION%20%7B%20%3Fx%20%3Fy%20%3Fz%20%7D%20%23", 0, "", NULL);
    assert_listing(d, "?q=keyword%22)%20%7C%7C%20true%20%7C%7C%20(%22", 0, "", NULL);
    daemon_free(d);
}
END_TEST

/* A 201 survives kill -9; DELETE removes the triples and the file, and the delete survives too. */
START_TEST(test_durable_and_delete)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    size_t len;
    uint8_t *model = tiny_model(&len);
    struct reply r;
    upload_model(d, WRITE_TOKEN, model, len, TINY_META, &r);
    ck_assert_int_eq(r.status, 201);
    json_t *j = reply_json(&r);
    char id[32], path[128];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    reply_free(&r);
    daemon_kill(d); /* SIGKILL right after the 201 */
    daemon_start(d);
    snprintf(path, sizeof(path), API "/%s/file", id);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, len);
    ck_assert(memcmp(r.body, model, len) == 0);
    reply_free(&r);
    ck_assert(ask(d, "ASK { ?m a <http://tinyml-schema.org/networkschema#NeuralNetwork> ; "
                     "<https://schema.org/name> \"tiny\" }"));

    snprintf(path, sizeof(path), API "/%s", id);
    http(d, "DELETE", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 401);
    reply_free(&r);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    daemon_kill(d);
    daemon_start(d);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    snprintf(path, sizeof(path), API "/%s/file", id);
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    ck_assert(!ask(d, "ASK { ?m a <http://tinyml-schema.org/networkschema#NeuralNetwork> }"));
    ck_assert_int_eq(count_models(d), 0);
    free(model);
    daemon_free(d);
}
END_TEST

static Suite *models_suite(void)
{
    Suite *s = suite_create("models");
    TCase *tc;
#define ADD(name)                                                                                  \
    tc = tcase_create(#name);                                                                      \
    tcase_add_checked_fixture(tc, NULL, reap_all);                                                 \
    tcase_add_test(tc, name);                                                                      \
    suite_add_tcase(s, tc)
    ADD(test_real_models_and_case_studies);
    ADD(test_upload_errors);
    ADD(test_listing_filters);
    ADD(test_durable_and_delete);
#undef ADD
    return s;
}

int main(void)
{
    return harness_main("test_models", models_suite());
}
