/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/arena.c: the TFLM arena estimate of small graphs built with the test
 * flatbuffer writer, whose head (greedy plan of the tensor lifetimes) and tail (persistent
 * allocations in TFLM's order and alignment) are computed by hand in the comments, under both
 * profiles; the tie order of equal-sized buffers, offline offsets overriding the plan, variable
 * and read-only tensors, lifetimes TFLM refuses, overflow and the planner's size cap. With
 * SHARED_DIR set, the 23 real models of the paper give the RAM figures of its knowledge graph. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "tflite.h"
#include "tflite_writer.h"

#define X86 FLEET_ARENA_PROFILE_X86_64
#define ILP32 FLEET_ARENA_PROFILE_ILP32

enum { F32 = 0, I32 = 2, I8 = 9 };
enum { ADD = 0, CONV = 3, DW = 4, FC = 9, RELU = 19, SOFTMAX = 25 };

static struct fleet_tflite_model *parse(const struct tw_model *m)
{
    size_t len;
    uint8_t *d = tw_build(m, &len, NULL);
    struct fleet_tflite_model *pm = NULL;
    char err[256];
    ck_assert_ptr_nonnull(d);
    enum fleet_err rc = fleet_tflite_parse(d, len, &pm, err, sizeof(err));
    ck_assert_msg(rc == FLEET_OK, "parse: %s", err);
    free(d);
    return pm;
}

static void expect(const struct fleet_tflite_model *pm, const char *profile, uint64_t head,
                   uint64_t tail)
{
    struct fleet_arena a;
    char err[256];
    enum fleet_err rc = fleet_arena_estimate(pm, profile, &a, err, sizeof(err));
    ck_assert_msg(rc == FLEET_OK, "%s: %s", profile, err);
    ck_assert_uint_eq(a.head_bytes, head);
    ck_assert_uint_eq(a.tail_bytes, tail);
    ck_assert_uint_eq(a.total_bytes, head + tail);
    ck_assert_int_eq(a.offline_planned, 0);
    ck_assert_ptr_nonnull(a.caveat);
}

static void expect_err(const struct fleet_tflite_model *pm, enum fleet_err want, const char *msg)
{
    struct fleet_arena a;
    char err[256];
    ck_assert_int_eq(fleet_arena_estimate(pm, X86, &a, err, sizeof(err)), want);
    ck_assert_str_eq(err, msg);
}

/* in int8 [1,10] -> FULLY_CONNECTED (weights [4,10], bias [4]) -> [1,4] -> SOFTMAX -> [1,4],
 * every tensor quantized per tensor. */
static void chain(struct tw_model *m)
{
    static const int32_t s_in[2] = {1, 10}, s_w[2] = {4, 10}, s_b[1] = {4}, s_o[2] = {1, 4};
    tw_init(m);
    int32_t in = tw_qtensor(m, I8, 2, s_in, 0, 1);
    int32_t w = tw_qtensor(m, I8, 2, s_w, 40, 1);
    int32_t b = tw_qtensor(m, I32, 1, s_b, 16, 1);
    int32_t fc = tw_qtensor(m, I8, 2, s_o, 0, 1);
    int32_t sm = tw_qtensor(m, I8, 2, s_o, 0, 1);
    tw_op(m, FC, 1, 3, (int32_t[]){in, w, b}, 1, (int32_t[]){fc});
    tw_op(m, SOFTMAX, -1, 1, (int32_t[]){fc}, 1, (int32_t[]){sm});
    m->n_inputs = 1, m->inputs[0] = in;
    m->n_outputs = 1, m->outputs[0] = sm;
}

START_TEST(test_profiles)
{
    const char *const *p = fleet_arena_profiles();
    ck_assert_str_eq(p[0], "tflm-2020-x86_64");
    ck_assert_str_eq(p[1], "tflm-2020-ilp32");
    ck_assert_ptr_null(p[2]);
    ck_assert_int_eq(fleet_arena_profile_known("tflm-2020-x86_64"), 1);
    ck_assert_int_eq(fleet_arena_profile_known("tflm-2020-ilp32"), 1);
    ck_assert_int_eq(fleet_arena_profile_known("tflm-2020"), 0);
    ck_assert_int_eq(fleet_arena_profile_known(""), 0);
    ck_assert_int_eq(fleet_arena_profile_known(NULL), 0);
}
END_TEST

START_TEST(test_unknown_profile)
{
    struct tw_model m;
    struct fleet_arena a;
    char err[128];
    chain(&m);
    struct fleet_tflite_model *pm = parse(&m);
    ck_assert_int_eq(fleet_arena_estimate(pm, "cortex-m7", &a, err, sizeof(err)),
                     FLEET_ERR_INVAL);
    ck_assert_str_eq(err, "unknown arena profile \"cortex-m7\"");
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_chain)
{
    struct tw_model m;
    chain(&m);
    struct fleet_tflite_model *pm = parse(&m);
    /* Planned, 16 bytes each after alignment: t0 [0,0], t3 [0,1], t4 [1,1]. Order t4, t3, t0
     * (equal sizes, higher index first): t4@0; t3 overlaps t4 -> @16; t0 skips t4 (disjoint),
     * fits before t3@16 -> @0. Peak 32.
     * x86-64 tail: 48+48 = 96; 5 x 112 -> 656; 5 quantized tensors x (24@8 + 8@4) -> 816;
     * 2 x 80 nodes -> 976; FC params 12 -> 988; SOFTMAX params 4 -> 992; FC OpData 20@16 ->
     * 1024. ILP32: 24+24 = 48; 5 x 64 -> 368; 5 x (12 + 8) -> 468; 2 x 40 -> 548; 12 -> 560;
     * 4 -> 564; 20@16 -> 592. */
    expect(pm, X86, 32, 1024);
    expect(pm, ILP32, 32, 592);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_tie_order)
{
    /* t0 32B [2,2], t1 32B [0,0], t2 32B [1,2], t3 16B [0,1]. TFLM's order (ties: higher index
     * first) is t2, t1, t0, t3: t2@0, t1@0 (disjoint), t0@32, t3@32 -> peak 64. Ties taken in
     * index order would give 80. */
    struct tw_model m;
    static const int32_t s32[2] = {1, 32}, s16[2] = {1, 16};
    tw_init(&m);
    int32_t a = tw_tensor(&m, I8, 2, s32, 0);
    int32_t b = tw_tensor(&m, I8, 2, s32, 0);
    int32_t c = tw_tensor(&m, I8, 2, s32, 0);
    int32_t d = tw_tensor(&m, I8, 2, s16, 0);
    tw_op(&m, RELU, -1, 1, (int32_t[]){b}, 1, (int32_t[]){d});
    tw_op(&m, RELU, -1, 1, (int32_t[]){d}, 1, (int32_t[]){c});
    tw_op(&m, RELU, -1, 1, (int32_t[]){c}, 1, (int32_t[]){a});
    m.n_inputs = 1, m.inputs[0] = b;
    m.n_outputs = 1, m.outputs[0] = a;
    struct fleet_tflite_model *pm = parse(&m);
    /* Tail: 96 + 4 x 112 + 3 x 80 = 784 (RELU has no params); ILP32 48 + 256 + 120 = 424. */
    expect(pm, X86, 64, 784);
    expect(pm, ILP32, 64, 424);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_conv_dw)
{
    /* in int8 [1,8,8,1] -> CONV_2D (filter [4,3,3,1] per-channel, bias [4]) -> [1,6,6,4] ->
     * DEPTHWISE_CONV_2D (filter [1,3,3,4], bias [4]) -> [1,4,4,4]. */
    struct tw_model m;
    static const int32_t s_in[4] = {1, 8, 8, 1}, s_cw[4] = {4, 3, 3, 1}, s_b[1] = {4},
                         s_co[4] = {1, 6, 6, 4}, s_dw[4] = {1, 3, 3, 4}, s_do[4] = {1, 4, 4, 4};
    tw_init(&m);
    int32_t in = tw_qtensor(&m, I8, 4, s_in, 0, 1);
    int32_t cw = tw_qtensor(&m, I8, 4, s_cw, 36, 4);
    int32_t cb = tw_qtensor(&m, I32, 1, s_b, 16, 4);
    int32_t co = tw_qtensor(&m, I8, 4, s_co, 0, 1);
    int32_t dw = tw_qtensor(&m, I8, 4, s_dw, 36, 4);
    int32_t db = tw_qtensor(&m, I32, 1, s_b, 16, 4);
    int32_t dout = tw_qtensor(&m, I8, 4, s_do, 0, 1);
    tw_op(&m, CONV, 1, 3, (int32_t[]){in, cw, cb}, 1, (int32_t[]){co});
    uint32_t k = tw_op(&m, DW, 0, 3, (int32_t[]){co, dw, db}, 1, (int32_t[]){dout});
    m.ops[k].depth_multiplier = 1;
    m.n_inputs = 1, m.inputs[0] = in;
    m.n_outputs = 1, m.outputs[0] = dout;
    struct fleet_tflite_model *pm = parse(&m);
    /* Head: co 144B [0,1]@0; then dout (64, index 6) before in (64, index 0): dout [1,1]
     * overlaps co -> @144; in [0,0] overlaps co, not dout -> @144. Peak 208.
     * x86-64 tail: 96; 7 x 112 -> 880; quantization (24@8, then 4+4n@4) for n = 1,4,4,1,4,4,1:
     * 912, 956, 1004, 1040, 1084, 1132, 1168; nodes 160 -> 1328; CONV 24 -> 1352; DW 28 ->
     * 1380; OpData 48@16 -> 1440, 1488; per-channel 2 x 16@16 for each -> 1552.
     * ILP32: 48; 7 x 64 -> 496; quantization (12@4 + 4+4n): 516, 548, 580, 600, 632, 664, 684;
     * nodes 80 -> 764; params -> 788, 816; OpData 40@16 -> 864, 912; arrays -> 976. */
    expect(pm, X86, 208, 1552);
    expect(pm, ILP32, 208, 976);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_offline_override)
{
    struct tw_model m;
    chain(&m);
    m.offline = 1;
    m.offline_header[0] = 1, m.offline_header[1] = 1, m.offline_header[2] = 5;
    m.n_offline = 5;
    /* t0 at 100, t3 at 0, the rest planned online. */
    int32_t offs[5] = {100, -1, -1, 0, -1};
    memcpy(m.offline_offsets, offs, sizeof(offs));
    struct fleet_tflite_model *pm = parse(&m);
    ck_assert_uint_eq(pm->n_offline, 5);
    /* Offline buffers first, in index order: t0@100, t3@0 (becomes the list head); then t4
     * [1,1] overlaps t3@0 -> @16, does not overlap t0. Peak = 100 + 16 = 116. The tail gains
     * nothing from the metadata (it lives in a buffer with data). */
    struct fleet_arena a;
    char err[256];
    ck_assert_int_eq(fleet_arena_estimate(pm, X86, &a, err, sizeof(err)), FLEET_OK);
    ck_assert_uint_eq(a.head_bytes, 116);
    ck_assert_uint_eq(a.tail_bytes, 1024);
    ck_assert_uint_eq(a.total_bytes, 1140);
    ck_assert_int_eq(a.offline_planned, 1);
    ck_assert_int_eq(fleet_arena_estimate(pm, ILP32, &a, err, sizeof(err)), FLEET_OK);
    ck_assert_uint_eq(a.head_bytes, 116);
    ck_assert_uint_eq(a.tail_bytes, 592);
    ck_assert_int_eq(a.offline_planned, 1);
    fleet_tflite_free(pm);

    /* All offsets -1: the metadata is there but the plan is the greedy one. */
    for (int i = 0; i < 5; i++)
        m.offline_offsets[i] = -1;
    pm = parse(&m);
    expect(pm, X86, 32, 1024);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_variable_tensor)
{
    /* t0 float32 [1,4] in, t1 float32 [1,5] variable state, ADD(t0, t1) -> t2 [1,4] out.
     * Head: t2, t0 (16 each, both [0,0]) -> 32. Tail x86: 96 + 3 x 112 = 432; node 80 -> 512;
     * ADD params 4 -> 516; then the variable tensor after planning, 20@16 -> 544.
     * ILP32: 48 + 192 + 40 + 4 = 284; 20@16 -> 304. */
    struct tw_model m;
    static const int32_t s4[2] = {1, 4}, s5[2] = {1, 5};
    tw_init(&m);
    int32_t in = tw_tensor(&m, F32, 2, s4, 0);
    int32_t st = tw_tensor(&m, F32, 2, s5, 0);
    int32_t out = tw_tensor(&m, F32, 2, s4, 0);
    m.tensors[st].is_variable = 1;
    tw_op(&m, ADD, 0, 2, (int32_t[]){in, st}, 1, (int32_t[]){out});
    m.n_inputs = 1, m.inputs[0] = in;
    m.n_outputs = 1, m.outputs[0] = out;
    struct fleet_tflite_model *pm = parse(&m);
    ck_assert_int_eq(pm->tensors[st].is_variable, 1);
    expect(pm, X86, 32, 544);
    expect(pm, ILP32, 32, 304);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_read_only_not_planned)
{
    /* t2 has no data and no producer but is read by operator 1: TFLM treats it as read-only
     * and does not plan it. Planned: t0 [0,0], t1 [0,1], t3 [1,1], 16 each: t3@0, t1@16, t0@0
     * -> 32. Tail x86: 96 + 4 x 112 + 2 x 80 + ADD 4 = 708 (RELU has none): the total, 740, is
     * what arena_used_bytes() reports, not a multiple of 16. ILP32: 48 + 256 + 80 + 4 = 388. */
    struct tw_model m;
    static const int32_t s[2] = {1, 4};
    tw_init(&m);
    int32_t t0 = tw_tensor(&m, I8, 2, s, 0), t1 = tw_tensor(&m, I8, 2, s, 0);
    int32_t t2 = tw_tensor(&m, I8, 2, s, 0), t3 = tw_tensor(&m, I8, 2, s, 0);
    tw_op(&m, RELU, -1, 1, (int32_t[]){t0}, 1, (int32_t[]){t1});
    tw_op(&m, ADD, 0, 2, (int32_t[]){t1, t2}, 1, (int32_t[]){t3});
    m.n_inputs = 1, m.inputs[0] = t0;
    m.n_outputs = 1, m.outputs[0] = t3;
    struct fleet_tflite_model *pm = parse(&m);
    expect(pm, X86, 32, 708);
    expect(pm, ILP32, 32, 388);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_invalid_lifetime)
{
    /* Operator 0 writes t2, which nobody reads and which is not an output. */
    struct tw_model m;
    static const int32_t s[2] = {1, 4};
    tw_init(&m);
    int32_t t0 = tw_tensor(&m, I8, 2, s, 0), t1 = tw_tensor(&m, I8, 2, s, 0);
    int32_t t2 = tw_tensor(&m, I8, 2, s, 0);
    tw_op(&m, RELU, -1, 1, (int32_t[]){t0}, 2, (int32_t[]){t1, t2});
    m.n_inputs = 1, m.inputs[0] = t0;
    m.n_outputs = 1, m.outputs[0] = t1;
    struct fleet_tflite_model *pm = parse(&m);
    expect_err(pm, FLEET_ERR_INVAL,
               "tensor 2 has an invalid lifetime (first written by operator 0, last read by "
               "operator -1): TFLM cannot plan it");
    fleet_tflite_free(pm);

    /* No operators: the input is born at 0 and the output dies at -1. */
    tw_init(&m);
    t0 = tw_tensor(&m, I8, 2, s, 0);
    m.n_inputs = 1, m.inputs[0] = t0;
    m.n_outputs = 1, m.outputs[0] = t0;
    pm = parse(&m);
    expect_err(pm, FLEET_ERR_INVAL,
               "tensor 0 has an invalid lifetime (first written by operator 0, last read by "
               "operator -1): TFLM cannot plan it");
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_empty_and_scalar)
{
    struct tw_model m;
    tw_init(&m);
    struct fleet_tflite_model *pm = parse(&m);
    /* Nothing but the two allocator objects. */
    expect(pm, X86, 0, 96);
    expect(pm, ILP32, 0, 48);
    fleet_tflite_free(pm);

    /* A scalar (no shape) counts as one element: int32 -> 4 bytes -> 16 planned. Two scalars
     * through RELU: both [0,0] -> 32. Tail: 96 + 224 + 80 = 400; ILP32 48 + 128 + 40 = 216. */
    tw_init(&m);
    int32_t a = tw_tensor(&m, I32, -1, NULL, 0), b = tw_tensor(&m, I32, 0, NULL, 0);
    tw_op(&m, RELU, -1, 1, (int32_t[]){a}, 1, (int32_t[]){b});
    m.n_inputs = 1, m.inputs[0] = a;
    m.n_outputs = 1, m.outputs[0] = b;
    pm = parse(&m);
    ck_assert_uint_eq(pm->tensors[a].rank, 0);
    expect(pm, X86, 32, 400);
    expect(pm, ILP32, 32, 216);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_overflow)
{
    struct tw_model m;
    static const int32_t huge[4] = {65536, 65536, 65536, 65536};
    static const int32_t big[2] = {65536, 65536};
    tw_init(&m);
    int32_t a = tw_tensor(&m, I8, 4, huge, 0), b = tw_tensor(&m, I8, 4, huge, 0);
    tw_op(&m, RELU, -1, 1, (int32_t[]){a}, 1, (int32_t[]){b});
    m.n_inputs = 1, m.inputs[0] = a;
    m.n_outputs = 1, m.outputs[0] = b;
    struct fleet_tflite_model *pm = parse(&m);
    expect_err(pm, FLEET_ERR_TOOBIG, "tensor 0: byte size overflows 64 bits");
    fleet_tflite_free(pm);

    /* 16 GiB float32 tensors are fine in 64 bits. */
    tw_init(&m);
    a = tw_tensor(&m, F32, 2, big, 0), b = tw_tensor(&m, F32, 2, big, 0);
    tw_op(&m, RELU, -1, 1, (int32_t[]){a}, 1, (int32_t[]){b});
    m.n_inputs = 1, m.inputs[0] = a;
    m.n_outputs = 1, m.outputs[0] = b;
    pm = parse(&m);
    expect(pm, X86, 2 * (UINT64_C(16) << 30), 400);
    fleet_tflite_free(pm);
}
END_TEST

/* A model held directly in the public struct: n tensors, all inputs and outputs of one
 * operator-less graph step, so every lifetime is [0,0]. */
static void wide_model(struct fleet_tflite_model *pm, struct fleet_tflite_tensor *t,
                       int32_t *idx, uint32_t n, struct fleet_tflite_op *op, uint64_t *bufs)
{
    memset(pm, 0, sizeof(*pm));
    memset(op, 0, sizeof(*op));
    for (uint32_t i = 0; i < n; i++) {
        memset(&t[i], 0, sizeof(t[i]));
        t[i].rank = 1;
        t[i].shape[0] = 16;
        t[i].type = I8;
        idx[i] = (int32_t)i;
    }
    op->builtin = RELU;
    bufs[0] = 0;
    pm->n_subgraphs = 1;
    pm->n_tensors = n, pm->tensors = t;
    pm->n_ops = 1, pm->ops = op;
    pm->n_inputs = n, pm->inputs = idx;
    pm->n_outputs = n, pm->outputs = idx;
    pm->n_buffers = 1, pm->buffer_bytes = bufs;
}

START_TEST(test_planner_cap)
{
    uint32_t n = 16385;
    struct fleet_tflite_model pm;
    struct fleet_tflite_tensor *t = calloc(n, sizeof(*t));
    int32_t *idx = calloc(n, sizeof(*idx));
    struct fleet_tflite_op op;
    uint64_t bufs[1];
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(idx);

    wide_model(&pm, t, idx, 2000, &op, bufs);
    /* 2000 simultaneous 16-byte buffers stack up; tail 96 + 2000 x 112 + 80. */
    expect(&pm, X86, 2000 * 16, 96 + 2000 * 112 + 80);

    wide_model(&pm, t, idx, n, &op, bufs);
    expect_err(&pm, FLEET_ERR_TOOBIG, "more than 16384 tensors to plan: beyond the planner's limit");
    free(t);
    free(idx);
}
END_TEST

/* The paper's knowledge graph (RAM = find-arena-size on x86-64), and the ILP32 profile. */
static const struct {
    const char *name;
    uint64_t x86, ilp32;
} real[] = {
    {"ARM_CNN_Small_keyword_spotting", 15168, 13376},
    {"ARM_DS_CNN_Small_", 32528, 29648},
    {"ARM_MicroNet_Small_anomaly_detection", 128256, 125936},
    {"ARM_MicroNet_VWW_3", 206976, 192768},
    {"Anomaly_Detection_Autoencoder", 2816, 1728},
    {"Hello_World", 1936, 1168},
    {"Magic_Wand_1", 16784, 15680},
    {"Magic_Wand_2", 12080, 10816},
    {"Mapping_Dance", 4848, 4112},
    {"Micro_Speech_Forward_Backward", 10480, 9520},
    {"Micro_Speech_Up_Down_Go", 8080, 7280},
    {"Micro_Speech_Yes_No_1", 8080, 7280},
    {"Micro_Speech_Yes_No_2", 8800, 7760},
    {"Micro_Speech_Yes_No_3", 10480, 9520},
    {"Micro_Speech_Yes_No_4", 8800, 7760},
    {"Motion_Trainer_Left_Right", 4048, 3008},
    {"Motion_Trainer_Up_Forward", 4048, 3008},
    {"Move", 2848, 1808},
    {"Person_Detection", 94128, 87760},
    {"Snoring_Guardian", 25968, 24096},
    {"Squats_Counter", 2224, 1488},
    {"Visual_Alarm_Clock", 116480, 109664},
    {"Voice_Turn", 6288, 4448},
};

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(n > 0 ? (size_t)n : 1);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return d;
}

START_TEST(test_real_models)
{
    const char *dir = getenv("SHARED_DIR");
    char path[1024];
    if (!dir || !*dir) {
        fprintf(stderr, "test_real_models: SHARED_DIR unset: skipped\n");
        return;
    }
    snprintf(path, sizeof(path), "%s/tinyml-kg/models/Hello_World.tflite", dir);
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        fprintf(stderr, "test_real_models: %s absent (no ../shared): skipped\n", path);
        return;
    }
    fclose(probe);
    for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
        size_t len;
        snprintf(path, sizeof(path), "%s/tinyml-kg/models/%s.tflite", dir, real[i].name);
        uint8_t *d = slurp(path, &len);
        ck_assert_msg(d != NULL, "%s unreadable", path);
        struct fleet_tflite_model *pm = NULL;
        struct fleet_arena a;
        char err[256];
        ck_assert_msg(fleet_tflite_parse(d, len, &pm, err, sizeof(err)) == FLEET_OK, "%s: %s",
                      real[i].name, err);
        ck_assert_int_eq(fleet_arena_estimate(pm, X86, &a, err, sizeof(err)), FLEET_OK);
        ck_assert_msg(a.total_bytes == real[i].x86, "%s x86-64: %llu, expected %llu",
                      real[i].name, (unsigned long long)a.total_bytes,
                      (unsigned long long)real[i].x86);
        ck_assert_int_eq(fleet_arena_estimate(pm, ILP32, &a, err, sizeof(err)), FLEET_OK);
        ck_assert_msg(a.total_bytes == real[i].ilp32, "%s ilp32: %llu, expected %llu",
                      real[i].name, (unsigned long long)a.total_bytes,
                      (unsigned long long)real[i].ilp32);
        fleet_tflite_free(pm);
        free(d);
    }
}
END_TEST

static Suite *arena_suite(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_profiles);
    tcase_add_test(tc, test_unknown_profile);
    tcase_add_test(tc, test_chain);
    tcase_add_test(tc, test_tie_order);
    tcase_add_test(tc, test_conv_dw);
    tcase_add_test(tc, test_offline_override);
    tcase_add_test(tc, test_variable_tensor);
    tcase_add_test(tc, test_read_only_not_planned);
    tcase_add_test(tc, test_invalid_lifetime);
    tcase_add_test(tc, test_empty_and_scalar);
    tcase_add_test(tc, test_overflow);
    tcase_add_test(tc, test_planner_cap);
    tcase_add_test(tc, test_real_models);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(arena_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
