/* SPDX-License-Identifier: MIT */
/* Integration tests for matchmaking and deployments (daemon/routes_match.c, lib/match.c) on the
 * real daemon. Over the paper's 23 models and 6 boards ($SHARED_DIR/tinyml-kg; skipped with a
 * note when absent): every model/board verdict against what the test derives itself from the
 * boards' stated memory and sensors and the models' known arena and file sizes, and the three
 * case studies agreeing with the REST answers. Hand-made edge cases: RAM exactly equal to the
 * need, one byte short, a missing sensor, units in bytes, kibibytes and megabytes and without
 * unit, a board without capability data, an unknown unit, a hostile task parameter.
 * Deployments: fit-gated creation (409 with reasons, force), listing both ways, ending one,
 * deleting a deployed model (409, then ?force=true), and a deployment surviving kill -9. */
#include <check.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "prom_text.h"
#include "tflite_writer.h"

#define API "/api/v1"
#define PFX                                                                                        \
    "@prefix s3n: <http://w3id.org/s3n/> .\n"                                                      \
    "@prefix ssn: <http://www.w3.org/ns/ssn/> .\n"                                                 \
    "@prefix ssn-system: <http://www.w3.org/ns/ssn/systems/> .\n"                                  \
    "@prefix schema: <https://schema.org/> .\n"                                                    \
    "@prefix om: <http://www.ontology-of-units-of-measure.org/resource/om-2/> .\n"                 \
    "@prefix td: <https://www.w3.org/2019/wot/td#> .\n"                                            \
    "@prefix s3n_extend: <http://tinyml-schema.org/s3n_extend/> .\n"                               \
    "@prefix sosa_extend: <http://tinyml-schema.org/sosa_extend/> .\n"

/* ---- the paper's fleet, as the test reads it ---------------------------------------------- */

enum { ACC = 1, GYR = 2, MIC = 4, CAM = 8, THE = 16, MAG = 32, OTH = 64 };

static const struct {
    const char *file, *iri;
    unsigned ram_kb, flash_kb, sensors;
} BOARDS[] = {
    {"adafruit_pyBadge", NULL, 109, 385, ACC},
    {"adafruit_tflite_micro_kit", NULL, 96, 245, ACC | MIC},
    {"arduino_nano_ble_33_td", NULL, 172, 628, THE | ACC | GYR | MAG | MIC},
    {"arduino_nano_ble_33_tinyml_kit", NULL, 187, 785, THE | ACC | GYR | MAG | MIC | CAM},
    {"ssi_web_td", NULL, 86, 348, THE | ACC | GYR},
    {"syntiant_tinymlL_board", NULL, 25, 1883, ACC | GYR | MIC},
};
#define N_BOARDS (sizeof(BOARDS) / sizeof(BOARDS[0]))

/* name, ILP32 arena (check_arena.c's table), sensors from the metadata; flash is the file. */
static const struct {
    const char *name;
    unsigned long long arena;
    unsigned sensors;
} MODELS[] = {
    {"ARM_CNN_Small_keyword_spotting", 13376, MIC},
    {"ARM_DS_CNN_Small_", 29648, MIC},
    {"ARM_MicroNet_Small_anomaly_detection", 125936, MIC},
    {"ARM_MicroNet_VWW_3", 192768, CAM},
    {"Anomaly_Detection_Autoencoder", 1728, ACC},
    {"Hello_World", 1168, OTH},
    {"Magic_Wand_1", 15680, ACC},
    {"Magic_Wand_2", 10816, ACC | GYR},
    {"Mapping_Dance", 4112, ACC | GYR},
    {"Micro_Speech_Forward_Backward", 9520, MIC},
    {"Micro_Speech_Up_Down_Go", 7280, MIC},
    {"Micro_Speech_Yes_No_1", 7280, MIC},
    {"Micro_Speech_Yes_No_2", 7760, MIC},
    {"Micro_Speech_Yes_No_3", 9520, MIC},
    {"Micro_Speech_Yes_No_4", 7760, MIC},
    {"Motion_Trainer_Left_Right", 3008, ACC | GYR},
    {"Motion_Trainer_Up_Forward", 3008, ACC | GYR},
    {"Move", 1808, ACC | GYR},
    {"Person_Detection", 87760, CAM},
    {"Snoring_Guardian", 24096, MIC},
    {"Squats_Counter", 1488, ACC | GYR},
    {"Visual_Alarm_Clock", 109664, CAM},
    {"Voice_Turn", 4448, MIC},
};
#define N_MODELS (sizeof(MODELS) / sizeof(MODELS[0]))

static const char *shared_kg(const char *test)
{
    static char dir[1024];
    const char *shared = getenv("SHARED_DIR");
    struct stat sb;
    if (shared && *shared) {
        snprintf(dir, sizeof(dir), "%s/tinyml-kg", shared);
        if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
            return dir;
    }
    fprintf(stderr, "%s: $SHARED_DIR/tinyml-kg absent: skipped\n", test);
    return NULL;
}

/* "/api/v1/things/<escaped iri>" + suffix into out. */
static void thing_path(char *out, size_t len, const char *iri, const char *suffix)
{
    char *e = escape(iri);
    snprintf(out, len, API "/things/%s%s", e, suffix);
    free(e);
}

static void put_board(const struct daemon *d, const char *graph, const char *ttl)
{
    long st = send_graph(d, "PUT", graph, "text/turtle", ttl);
    ck_assert_msg(st == 201 || st == 204, "PUT %s: %ld", graph, st); /* created or replaced */
}

/* A board as Turtle: memory lines (inside the capability) and sensor classes. */
static void put_hand_board(const struct daemon *d, const char *name, const char *memory,
                           const char *sensors)
{
    char ttl[4096], graph[256];
    snprintf(ttl, sizeof(ttl),
             PFX "<" EX "board/%s> a s3n:SmartSensor ; td:title \"%s\" ;\n"
                 "  ssn:hasSubSystem [ a s3n:MicroController ; s3n:hasSystemCapability [ %s ] ]"
                 "%s .\n",
             name, name, memory, sensors);
    snprintf(graph, sizeof(graph), EX "graph/%s", name);
    put_board(d, graph, ttl);
}

static char *upload_file_model(const struct daemon *d, const char *dir, const char *name)
{
    char path[1200];
    size_t len, mlen;
    snprintf(path, sizeof(path), "%s/models/%s.tflite", dir, name);
    char *model = read_file(path, &len);
    ck_assert_ptr_nonnull(model);
    snprintf(path, sizeof(path), "%s/models/%s.json", dir, name);
    char *meta = read_file(path, &mlen);
    ck_assert_ptr_nonnull(meta);
    struct reply r;
    upload_model(d, WRITE_TOKEN, model, len, meta, &r);
    ck_assert_msg(r.status == 201, "upload %s: %ld %s", name, r.status, r.body);
    json_t *j = reply_json(&r);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    reply_free(&r);
    free(model);
    free(meta);
    return id;
}

/* in int8 [1,n] -> FULLY_CONNECTED (weights [4,n]) -> [1,4]: RAM about n bytes, flash about
 * 4n bytes. Returns the upload's id (new) and its ILP32 arena in *arena. */
static char *upload_synthetic(const struct daemon *d, int32_t n, const char *meta,
                              unsigned long long *arena)
{
    struct tw_model m;
    int32_t s_in[2] = {1, n}, s_w[2] = {4, n}, s_o[2] = {1, 4};
    tw_init(&m);
    int32_t in = tw_qtensor(&m, 9, 2, s_in, 0, 1);
    int32_t w = tw_qtensor(&m, 9, 2, s_w, (uint32_t)(4 * n), 1);
    int32_t out = tw_qtensor(&m, 9, 2, s_o, 0, 1);
    tw_op(&m, 9, 0, 3, (int32_t[]){in, w, -1}, 1, (int32_t[]){out});
    m.n_inputs = 1, m.inputs[0] = in;
    m.n_outputs = 1, m.outputs[0] = out;
    size_t len;
    uint8_t *bytes = tw_build(&m, &len, NULL);
    ck_assert_ptr_nonnull(bytes);
    struct reply r;
    upload_model(d, WRITE_TOKEN, bytes, len, meta, &r);
    ck_assert_msg(r.status == 201, "upload: %ld %s", r.status, r.body);
    json_t *j = reply_json(&r);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    if (arena)
        *arena = (unsigned long long)json_integer_value(
            json_object_get(json_object_get(j, "arena_bytes"), "tflm-2020-ilp32"));
    json_decref(j);
    reply_free(&r);
    free(bytes);
    return id;
}

/* The item of list whose member key equals value, or NULL. */
static json_t *item_by(json_t *list, const char *key, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        const char *v = json_string_value(json_object_get(it, key));
        if (v && strcmp(v, value) == 0)
            return it;
    }
    return NULL;
}

static int has_reason(json_t *item, const char *text)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(item, "reasons"), i, r)
    {
        if (strstr(json_string_value(r), text))
            return 1;
    }
    return 0;
}

/* ---- the paper's fleet ---------------------------------------------------------------------- */

START_TEST(test_real_fleet_verdicts_and_case_studies)
{
    const char *kg = shared_kg("test_real_fleet_verdicts_and_case_studies");
    if (!kg)
        return;
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    char path[2048], graph[256], *iris[N_BOARDS], *ids[N_MODELS];
    unsigned long long flash[N_MODELS];
    for (size_t b = 0; b < N_BOARDS; b++) {
        snprintf(path, sizeof(path), "%s/devices/%s.ttl", kg, BOARDS[b].file);
        char *ttl = read_file(path, NULL);
        ck_assert_ptr_nonnull(ttl);
        /* The board's IRI is the subject of the Turtle's one top-level "<...>" line. */
        const char *subj = strstr(ttl, "\n<");
        ck_assert_ptr_nonnull(subj);
        subj += 2;
        iris[b] = strndup(subj, strcspn(subj, ">"));
        snprintf(graph, sizeof(graph), EX "board/%s", BOARDS[b].file);
        put_board(d, graph, ttl);
        free(ttl);
    }
    for (size_t m = 0; m < N_MODELS; m++) {
        ids[m] = upload_file_model(d, kg, MODELS[m].name);
        snprintf(path, sizeof(path), "%s/models/%s.tflite", kg, MODELS[m].name);
        struct stat sb;
        ck_assert_int_eq(stat(path, &sb), 0);
        flash[m] = (unsigned long long)sb.st_size;
    }

    /* Every pair, both directions. */
    for (size_t m = 0; m < N_MODELS; m++) {
        snprintf(path, sizeof(path), API "/models/%s/devices", ids[m]);
        json_t *list = get_json(d, path, 200);
        ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), N_BOARDS);
        int seen_unfit = 0;
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(list, "items"), i, it)
        {
            /* fitting boards first */
            int f = json_is_true(json_object_get(it, "fits"));
            ck_assert_msg(!(f && seen_unfit), "%s: a fitting board after an unfit one",
                          MODELS[m].name);
            seen_unfit |= !f;
        }
        for (size_t b = 0; b < N_BOARDS; b++) {
            int ram_ok = MODELS[m].arena <= BOARDS[b].ram_kb * 1000ULL;
            int flash_ok = flash[m] <= BOARDS[b].flash_kb * 1000ULL;
            unsigned need = MODELS[m].sensors & ~(unsigned)OTH;
            int sensors_ok = (need & BOARDS[b].sensors) == need;
            json_t *item = item_by(list, "device", iris[b]);
            ck_assert_msg(item != NULL, "%s: board %s missing", MODELS[m].name, iris[b]);
            int fits = json_is_true(json_object_get(item, "fits"));
            ck_assert_msg(fits == (ram_ok && flash_ok && sensors_ok),
                          "%s on %s: fits=%d, expected ram %d flash %d sensors %d",
                          MODELS[m].name, BOARDS[b].file, fits, ram_ok, flash_ok, sensors_ok);
            ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(item, "ram"),
                                                                "need")),
                             (json_int_t)MODELS[m].arena);
            ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(item, "ram"),
                                                                "have")),
                             (json_int_t)(BOARDS[b].ram_kb * 1000));
            ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(item, "flash"),
                                                                "need")),
                             (json_int_t)flash[m]);
            ck_assert_int_eq(json_array_size(json_object_get(item, "reasons")) == 0, fits);
            if (!ram_ok) {
                char want[128];
                snprintf(want, sizeof(want), "ram: needs %llu B, has %u000 B",
                         MODELS[m].arena, BOARDS[b].ram_kb);
                ck_assert_msg(has_reason(item, want), "%s on %s: no '%s'", MODELS[m].name,
                              BOARDS[b].file, want);
            }
            if (!sensors_ok)
                ck_assert(has_reason(item, "sensors: missing"));
        }
        json_decref(list);
    }
    for (size_t b = 0; b < N_BOARDS; b++) {
        thing_path(path, sizeof(path), iris[b], "/models?fits=true&limit=100");
        json_t *list = get_json(d, path, 200);
        size_t expect = 0;
        for (size_t m = 0; m < N_MODELS; m++) {
            unsigned need = MODELS[m].sensors & ~(unsigned)OTH;
            int fits = MODELS[m].arena <= BOARDS[b].ram_kb * 1000ULL &&
                       flash[m] <= BOARDS[b].flash_kb * 1000ULL &&
                       (need & BOARDS[b].sensors) == need;
            expect += (size_t)fits;
            ck_assert_msg((item_by(list, "model", ids[m]) != NULL) == fits, "%s on %s",
                          MODELS[m].name, BOARDS[b].file);
        }
        ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), (json_int_t)expect);
        json_decref(list);
    }

    /* Case study 1 (boards with accelerometer and gyroscope, >= 116 kB RAM, >= 531 kB flash)
     * against the boards REST says fit a model with those needs. */
    char *rows;
    snprintf(path, sizeof(path), "%s/queries/case1-devices-for-model.rq", kg);
    char *q = read_file(path, NULL);
    rows = select_rows(d, NULL, q);
    free(q);
    unsigned long long arena;
    char *synth = upload_synthetic(
        d, 120000,
        "{\"name\":\"case1\",\"category\":\"Classification\",\"sensors\":[\"Accelerometer\","
        "\"Gyroscope\"]}",
        &arena);
    ck_assert_msg(arena > 109000 && arena <= 172000, "synthetic arena %llu", arena);
    snprintf(path, sizeof(path), API "/models/%s/devices?fits=true", synth);
    json_t *list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 2);
    for (size_t b = 0; b < N_BOARDS; b++)
        ck_assert_msg((item_by(list, "device", iris[b]) != NULL) == (strstr(rows, iris[b]) != NULL),
                      "case 1 and REST disagree on %s (rows: %s)", iris[b], rows);
    json_decref(list);
    free(rows);
    free(synth);

    /* Case study 2: camera models for a board of 127 kB RAM and 576 kB flash. */
    put_hand_board(d, "case2",
                   "ssn-system:hasSystemProperty [ a s3n_extend:RAM ; schema:value 127 ; "
                   "schema:unitCode om:kilobyte ], [ a s3n_extend:Flash ; schema:value 576 ; "
                   "schema:unitCode om:kilobyte ]",
                   " ; ssn:hasSubSystem [ a sosa_extend:Camera ]");
    snprintf(path, sizeof(path), "%s/queries/case2-models-for-device.rq", kg);
    q = read_file(path, NULL);
    rows = select_rows(d, NULL, q);
    free(q);
    thing_path(path, sizeof(path), EX "board/case2", "/models?fits=true");
    list = get_json(d, path, 200);
    size_t rest_cam = 0;
    for (size_t m = 0; m < N_MODELS; m++) {
        int in_sparql = strstr(rows, ids[m]) != NULL;
        json_t *it = item_by(list, "model", ids[m]);
        /* REST also lists fitting models that need no camera; case 2 asks for camera models */
        if (MODELS[m].sensors & CAM) {
            ck_assert_msg((it != NULL) == in_sparql, "case 2 and REST disagree on %s",
                          MODELS[m].name);
            rest_cam += it != NULL;
        }
    }
    ck_assert_int_eq(rest_cam, 2);
    json_decref(list);
    free(rows);

    /* Case study 3: yes/no models on speech_commands by accuracy, on a board with a microphone. */
    snprintf(path, sizeof(path), "%s/queries/case3-rank-models-for-task.rq", kg);
    q = read_file(path, NULL);
    struct reply r;
    http(d, "POST", "/sparql", NULL, "application/sparql-query", "application/sparql-results+json",
         q, strlen(q), &r);
    free(q);
    ck_assert_int_eq(r.status, 200);
    json_t *c3 = reply_json(&r);
    reply_free(&r);
    json_t *b3 = json_object_get(json_object_get(c3, "results"), "bindings");
    thing_path(path, sizeof(path), iris[2],
               "/models?fits=true&task=yes%2Fno&dataset=speech_commands&order=accuracy");
    list = get_json(d, path, 200);
    json_t *items = json_object_get(list, "items");
    ck_assert_int_eq(json_array_size(items), json_array_size(b3));
    ck_assert_int_eq(json_array_size(items), 4);
    for (size_t k = 0; k < 4; k++) {
        /* case 3 orders by accuracy ascending; REST ranks the best first */
        const char *sparql_id = json_string_value(json_object_get(
            json_object_get(json_array_get(b3, 3 - k), "uuid"), "value"));
        const char *rest_id = json_string_value(json_object_get(json_array_get(items, k), "model"));
        ck_assert_str_eq(rest_id, sparql_id);
    }
    json_decref(list);
    json_decref(c3);

    for (size_t b = 0; b < N_BOARDS; b++)
        free(iris[b]);
    for (size_t m = 0; m < N_MODELS; m++)
        free(ids[m]);
    daemon_free(d);
}
END_TEST

/* ---- edge cases --------------------------------------------------------------------------- */

#define META_MIC                                                                                   \
    "{\"name\":\"edge\",\"description\":\"a yes/no edge model\",\"category\":\"Classification\","   \
    "\"trainingDataset\":\"speech_commands\",\"metric\":{\"type\":\"Top_1_accuracy\","             \
    "\"value\":90.0},\"sensors\":[\"Microphone\"]}"

/* A board's memory lines: RAM in bytes, and 1 MB of flash. */
static void ram_bytes_memory(char *mem, size_t len, unsigned long long ram)
{
    snprintf(mem, len,
             "ssn-system:hasSystemProperty [ a s3n_extend:RAM ; schema:value %llu ; "
             "schema:unitCode om:byte ], [ a s3n_extend:Flash ; schema:value 1 ; "
             "schema:unitCode om:megabyte ]",
             ram);
}

/* The response cache's hit counter from /metrics (tests/unit/prom_text.c reads it). */
static double cache_hits(const struct daemon *d)
{
    struct reply r;
    struct prom_text t;
    char err[256];
    double v = -1;
    http(d, "GET", "/metrics", READ_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(prom_parse(r.body, r.len, &t, err, sizeof(err)) == 0, "/metrics: %s", err);
    ck_assert_msg(prom_get(&t, "tinyfleet_cache_lookups_total", &v, "result", "hit", NULL),
                  "/metrics has no cache hit counter");
    prom_free(&t);
    reply_free(&r);
    return v;
}

static char *get_body(const struct daemon *d, const char *path, const char *accept)
{
    struct reply r;
    http(d, "GET", path, NULL, NULL, accept, NULL, 0, &r);
    ck_assert_msg(r.status == 200, "GET %s: %ld %s", path, r.status, r.body);
    char *b = strdup(r.body);
    reply_free(&r);
    return b;
}

/* board -> models answers come from the response cache until a write changes them; the
 * directory's own answers (TDs with registration times) never do, even for an id that ends in
 * "/models" like the sub-resource. */
START_TEST(test_board_models_cached)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    unsigned long long arena;
    char *id = upload_synthetic(d, 1000, META_MIC, &arena);
    char mem[1024], path[1024];
    const char *mic = " ; ssn:hasSubSystem [ a sosa_extend:Microphone ]";
    ram_bytes_memory(mem, sizeof(mem), arena);
    put_hand_board(d, "cached", mem, mic);
    thing_path(path, sizeof(path), EX "board/cached", "/models?fits=true");

    char *a = get_body(d, path, "application/json");
    double h0 = cache_hits(d);
    char *b = get_body(d, path, "application/json");
    ck_assert_str_eq(a, b);
    ck_assert_msg(cache_hits(d) == h0 + 1, "the repeated board -> models GET was not a hit");
    ck_assert_ptr_nonnull(strstr(a, id));
    free(a);
    free(b);

    /* one byte less RAM: the model no longer fits, and the next answer says so */
    ram_bytes_memory(mem, sizeof(mem), arena - 1);
    put_hand_board(d, "cached", mem, mic);
    a = get_body(d, path, "application/json");
    json_error_t je;
    json_t *j = json_loads(a, 0, &je);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 0);
    json_decref(j);
    free(a);

    /* A TD whose id ends in /models is the directory's, and is not cached. */
    const char *td = "{\"@context\":\"https://www.w3.org/2022/wot/td/v1.1\","
                     "\"id\":\"urn:dev:x/models\",\"title\":\"x\","
                     "\"securityDefinitions\":{\"nosec_sc\":{\"scheme\":\"nosec\"}},"
                     "\"security\":\"nosec_sc\"}";
    struct reply r;
    http(d, "PUT", API "/things/urn%3Adev%3Ax%2Fmodels", WRITE_TOKEN, "application/td+json",
         NULL, td, strlen(td), &r);
    ck_assert_msg(r.status == 201, "PUT TD: %ld %s", r.status, r.body);
    reply_free(&r);
    h0 = cache_hits(d);
    for (int i = 0; i < 2; i++) {
        a = get_body(d, API "/things/urn%3Adev%3Ax%2Fmodels", "application/td+json");
        ck_assert_ptr_nonnull(strstr(a, "\"title\":\"x\""));
        free(a);
    }
    ck_assert_msg(cache_hits(d) == h0, "a TD was answered from the cache");
    free(id);
    daemon_free(d);
}
END_TEST

START_TEST(test_edge_cases)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    unsigned long long arena;
    char *id = upload_synthetic(d, 1000, META_MIC, &arena);
    char mem[1024], path[1024];
    const char *mic = " ; ssn:hasSubSystem [ a sosa_extend:Microphone ]";

    /* RAM exactly the need, in bytes; flash in megabytes. */
    ram_bytes_memory(mem, sizeof(mem), arena);
    put_hand_board(d, "equal", mem, mic);
    /* One byte short. */
    ram_bytes_memory(mem, sizeof(mem), arena - 1);
    put_hand_board(d, "short", mem, mic);
    /* kibibytes, and a plain number read as kB; no microphone. */
    put_hand_board(d, "nomic",
                   "ssn-system:hasSystemProperty [ a s3n_extend:RAM ; schema:value 64 ; "
                   "schema:unitCode om:kibibyte ], [ a s3n_extend:Flash ; schema:value 512 ]",
                   " ; ssn:hasSubSystem [ a sosa_extend:Camera ]");
    /* No capability data at all. */
    put_board(d, EX "graph/bare",
              PFX "<" EX "board/bare> a s3n:SmartSensor ; td:title \"bare\" .\n");
    /* A unit nobody knows. */
    put_hand_board(d, "furlong",
                   "ssn-system:hasSystemProperty [ a s3n_extend:RAM ; schema:value 9 ; "
                   "schema:unitCode om:furlong ], [ a s3n_extend:Flash ; schema:value 1 ; "
                   "schema:unitCode om:megabyte ]",
                   mic);

    snprintf(path, sizeof(path), API "/models/%s/devices", id);
    json_t *list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 5);
    json_t *it = item_by(list, "device", EX "board/equal");
    ck_assert(json_is_true(json_object_get(it, "fits")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(it, "ram"), "have")),
                     (json_int_t)arena);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(it, "flash"), "have")),
                     1000000);
    /* the exact fit has no headroom, so it comes first only among fitting boards */
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(list, "items"), 0), "device")),
                     EX "board/equal");
    it = item_by(list, "device", EX "board/short");
    ck_assert(!json_is_true(json_object_get(it, "fits")));
    char want[128];
    snprintf(want, sizeof(want), "ram: needs %llu B, has %llu B", arena, arena - 1);
    ck_assert_msg(has_reason(it, want), "no '%s'", want);
    ck_assert_int_eq(json_array_size(json_object_get(it, "reasons")), 1);
    it = item_by(list, "device", EX "board/nomic");
    ck_assert(!json_is_true(json_object_get(it, "fits")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(it, "ram"), "have")),
                     65536);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(it, "flash"), "have")),
                     512000);
    ck_assert(has_reason(it, "sensors: missing Microphone"));
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(it, "sensors"), "missing"), 0)),
                     "Microphone");
    it = item_by(list, "device", EX "board/bare");
    ck_assert(!json_is_true(json_object_get(it, "fits")));
    ck_assert(has_reason(it, "ram: the board states no RAM"));
    ck_assert(has_reason(it, "flash: the board states no flash"));
    ck_assert(json_is_null(json_object_get(json_object_get(it, "ram"), "have")));
    it = item_by(list, "device", EX "board/furlong");
    ck_assert(!json_is_true(json_object_get(it, "fits")));
    ck_assert(has_reason(it, "furlong"));
    json_decref(list);

    snprintf(path, sizeof(path), API "/models/%s/devices?fits=false&limit=2", id);
    struct reply r;
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.link, "offset=2") && strstr(r.link, "fits=false"), "Link: %s", r.link);
    json_t *j = reply_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 4);
    ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 2);
    json_decref(j);
    reply_free(&r);

    /* Board to models, filters; a hostile task is only text. */
    thing_path(path, sizeof(path), EX "board/equal", "/models?task=YES%2FNO&min_accuracy=89");
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1);
    json_decref(list);
    thing_path(path, sizeof(path), EX "board/equal",
               "/models?task=%22)%20%7D%20%3B%20DROP%20ALL%20%3B%20%23&dataset=x%3E");
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 0);
    json_decref(list);
    ck_assert(ask(d, "ASK { ?m a <http://tinyml-schema.org/networkschema#NeuralNetwork> }"));

    /* Errors. */
    thing_path(path, sizeof(path), EX "board/equal", "/models?fits=maybe");
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 400);
    reply_free(&r);
    thing_path(path, sizeof(path), EX "board/equal", "/models?category=Regression");
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 400);
    ck_assert_msg(strstr(r.body, "Classification") != NULL, "%s", r.body);
    reply_free(&r);
    thing_path(path, sizeof(path), EX "board/nowhere", "/models");
    http(d, "GET", path, NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    http(d, "GET", API "/models/0123456789abcdef/devices", NULL, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);

    /* A write moves the store's generation: the next match sees the new board at once. */
    put_hand_board(d, "late",
                   "ssn-system:hasSystemProperty [ a s3n_extend:RAM ; schema:value 1 ; "
                   "schema:unitCode om:megabyte ], [ a s3n_extend:Flash ; schema:value 1 ; "
                   "schema:unitCode om:megabyte ]",
                   mic);
    snprintf(path, sizeof(path), API "/models/%s/devices?fits=true", id);
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 2);
    json_decref(list);
    free(id);
    daemon_free(d);
}
END_TEST

/* ---- deployments ------------------------------------------------------------------------------ */

static long deploy(const struct daemon *d, const char *board, const char *body, struct reply *r)
{
    char path[1024];
    thing_path(path, sizeof(path), board, "/deployments");
    http(d, "POST", path, WRITE_TOKEN, "application/json", NULL, body, strlen(body), r);
    return r->status;
}

START_TEST(test_deployments)
{
    struct daemon *d = daemon_new(NULL);
    daemon_start(d);
    char *id = upload_synthetic(d, 1000, META_MIC, NULL);
    const char *mic = " ; ssn:hasSubSystem [ a sosa_extend:Microphone ]";
    put_hand_board(d, "big",
                   "ssn-system:hasSystemProperty [ a s3n_extend:RAM ; schema:value 256 ], "
                   "[ a s3n_extend:Flash ; schema:value 1024 ]",
                   mic);
    put_hand_board(d, "tiny",
                   "ssn-system:hasSystemProperty [ a s3n_extend:RAM ; schema:value 1 ], "
                   "[ a s3n_extend:Flash ; schema:value 1024 ]",
                   mic);
    char body[256], path[1024];
    struct reply r;

    /* Fits: 201 with Location, who and the verdict. */
    snprintf(body, sizeof(body), "{\"model\":\"%s\",\"note\":\"ci job 42\"}", id);
    ck_assert_int_eq(deploy(d, EX "board/big", body, &r), 201);
    json_t *j = reply_json(&r);
    char dep[32];
    snprintf(dep, sizeof(dep), "%s", json_string_value(json_object_get(j, "id")));
    ck_assert_int_eq(strlen(dep), 16);
    ck_assert_msg(strstr(r.location, dep) != NULL, "Location %s", r.location);
    ck_assert(!json_is_true(json_object_get(j, "forced")));
    ck_assert(json_is_true(json_object_get(json_object_get(j, "verdict"), "fits")));
    ck_assert_msg(strncmp(json_string_value(json_object_get(j, "deployed_by")), "sha256:", 7) == 0,
                  "%s", r.body);
    ck_assert_msg(strstr(r.body, WRITE_TOKEN) == NULL, "the token leaked: %s", r.body);
    json_decref(j);
    reply_free(&r);
    ck_assert(ask(d, "ASK { <" EX "board/big> <http://www.w3.org/ns/ssn/implements> ?m }"));

    /* Does not fit: 409 with the reasons; force records it as forced. */
    ck_assert_int_eq(deploy(d, EX "board/tiny", body, &r), 409);
    assert_problem(&r, 409);
    ck_assert_msg(strstr(r.body, "ram: needs") != NULL, "%s", r.body);
    reply_free(&r);
    snprintf(body, sizeof(body), "{\"model\":\"%s\",\"force\":true}", id);
    ck_assert_int_eq(deploy(d, EX "board/tiny", body, &r), 201);
    j = reply_json(&r);
    ck_assert(json_is_true(json_object_get(j, "forced")));
    json_decref(j);
    reply_free(&r);

    /* Bad bodies. */
    ck_assert_int_eq(deploy(d, EX "board/big", "{\"model\":3}", &r), 400);
    assert_problem(&r, 400);
    reply_free(&r);
    ck_assert_int_eq(deploy(d, EX "board/big", "{\"model\":\"0123456789abcdef\"}", &r), 400);
    assert_problem(&r, 400);
    reply_free(&r);
    ck_assert_int_eq(deploy(d, EX "board/big", "{\"model\":\"x\",\"colour\":1}", &r), 400);
    reply_free(&r);
    ck_assert_int_eq(deploy(d, EX "board/nowhere", body, &r), 404);
    reply_free(&r);
    thing_path(path, sizeof(path), EX "board/big", "/deployments");
    http(d, "POST", path, NULL, "application/json", NULL, body, strlen(body), &r);
    assert_problem(&r, 401);
    reply_free(&r);
    http(d, "POST", path, WRITE_TOKEN, "text/plain", NULL, body, strlen(body), &r);
    assert_problem(&r, 415);
    reply_free(&r);

    /* Listing both ways. */
    json_t *list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1);
    json_decref(list);
    snprintf(path, sizeof(path), API "/models/%s/deployments", id);
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 2);
    json_decref(list);

    /* A deployment survives kill -9. */
    daemon_kill(d);
    daemon_start(d);
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 2);
    json_decref(list);

    /* Deleting a deployed model: 409, then ?force=true ends the deployments. */
    snprintf(path, sizeof(path), API "/models/%s", id);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 409);
    reply_free(&r);

    /* End one deployment; its record stays with ended_at. */
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "/deployments/%s", dep);
    thing_path(path, sizeof(path), EX "board/big", suffix);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    j = get_json(d, path, 200);
    ck_assert(!json_is_null(json_object_get(j, "ended_at")));
    ck_assert(!json_is_true(json_object_get(j, "active")));
    json_decref(j);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 404);
    reply_free(&r);
    ck_assert(!ask(d, "ASK { <" EX "board/big> <http://www.w3.org/ns/ssn/implements> ?m }"));
    thing_path(path, sizeof(path), EX "board/big", "/deployments?all=true");
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1);
    json_decref(list);

    snprintf(path, sizeof(path), API "/models/%s", id);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    assert_problem(&r, 409); /* still forced onto "tiny" */
    reply_free(&r);
    snprintf(path, sizeof(path), API "/models/%s?force=true", id);
    http(d, "DELETE", path, WRITE_TOKEN, NULL, NULL, NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    reply_free(&r);
    ck_assert(!ask(d, "ASK { ?b <http://www.w3.org/ns/ssn/implements> ?m }"));
    snprintf(path, sizeof(path), API "/models/%s/deployments?all=true", id);
    list = get_json(d, path, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 2);
    json_decref(list);
    free(id);
    daemon_free(d);
}
END_TEST

static Suite *match_suite(void)
{
    Suite *s = suite_create("match");
    TCase *tc;
#define ADD(name)                                                                                  \
    tc = tcase_create(#name);                                                                      \
    tcase_add_checked_fixture(tc, NULL, reap_all);                                                 \
    tcase_add_test(tc, name);                                                                      \
    suite_add_tcase(s, tc)
    ADD(test_real_fleet_verdicts_and_case_studies);
    ADD(test_edge_cases);
    ADD(test_board_models_cached);
    ADD(test_deployments);
#undef ADD
    return s;
}

int main(void)
{
    return harness_main("test_match", match_suite());
}
