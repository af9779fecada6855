/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/tflite.c (and the analysis in lib/model.c built on it): models written by
 * the test flatbuffer writer parse into exactly what was written (tensors, shapes, types,
 * buffers, operator codes, fused activations, offline plans); every malformation of the
 * reference's fuzz plan that can be built by construction (truncations, bad root and vtable
 * offsets, huge vector counts, self-referencing and aliased tables, strings without NUL, bad
 * opcode and tensor indices, negative dims, wrong filter ranks, missing buffers, external data
 * past the end) is refused with a message naming the defect; random corruption never crashes and
 * gives the same answer twice; the analysis counts MACs and writes valid JSON. With SHARED_DIR
 * set, the paper's 23 real models give its flash, MAC and layer figures. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "model.h"
#include "tflite.h"
#include "tflite_writer.h"

enum { F32 = 0, I32 = 2, U8 = 3, I8 = 9 };
enum {
    ADD = 0, AVG_POOL = 1, CONCAT = 2, CONV = 3, DW = 4, FC = 9, L2_POOL = 12, MAX_POOL = 17,
    MUL = 18, RELU = 19, RESHAPE = 22, SOFTMAX = 25, CUSTOM = 32, SUB = 41, GELU = 150,
};

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static uint8_t *build(const struct tw_model *m, size_t *len, struct tw_layout *lay)
{
    uint8_t *d = tw_build(m, len, lay);
    ck_assert_ptr_nonnull(d);
    return d;
}

static struct fleet_tflite_model *parse_ok(const uint8_t *d, size_t len)
{
    struct fleet_tflite_model *pm = NULL;
    char err[512];
    enum fleet_err rc = fleet_tflite_parse(d, len, &pm, err, sizeof(err));
    ck_assert_msg(rc == FLEET_OK, "parse: %s", err);
    ck_assert_ptr_nonnull(pm);
    return pm;
}

static struct fleet_tflite_model *parse_model(const struct tw_model *m)
{
    size_t len;
    uint8_t *d = build(m, &len, NULL);
    struct fleet_tflite_model *pm = parse_ok(d, len);
    free(d);
    return pm;
}

static void expect_err(const uint8_t *d, size_t len, const char *msg)
{
    struct fleet_tflite_model *pm = (struct fleet_tflite_model *)&pm;
    char err[512];
    ck_assert_int_eq(fleet_tflite_parse(d, len, &pm, err, sizeof(err)), FLEET_ERR_INVAL);
    ck_assert_ptr_null(pm);
    ck_assert_str_eq(err, msg);
}

static void expect_model_err(const struct tw_model *m, const char *msg)
{
    size_t len;
    uint8_t *d = build(m, &len, NULL);
    expect_err(d, len, msg);
    free(d);
}

static uint16_t get16(const uint8_t *p, size_t pos)
{
    return (uint16_t)(p[pos] | p[pos + 1] << 8);
}

/* Position of field id of the table at t whose vtable is at vt. */
static size_t field_pos(const uint8_t *p, size_t t, size_t vt, int id)
{
    uint16_t off = get16(p, vt + 4 + 2 * (size_t)id);
    ck_assert_uint_ne(off, 0);
    return t + off;
}

/* in int8 [1,10] -> FULLY_CONNECTED RELU (weights [4,10], bias [4]) -> [1,4] -> SOFTMAX. */
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
    m->description = "chain model";
    m->min_runtime_metadata = 1;
}

/* in [1,8,8,1] -> CONV_2D RELU [4,3,3,1] -> [1,6,6,4] -> DEPTHWISE_CONV_2D [1,3,3,4] -> [1,4,4,4]
 * -> RESHAPE [1,64] -> FULLY_CONNECTED [2,64] -> [1,2], weights of type wtype. */
static void convnet(struct tw_model *m, int wtype, int fc_type)
{
    static const int32_t s_in[4] = {1, 8, 8, 1}, s_cw[4] = {4, 3, 3, 1}, s_b[1] = {4},
                         s_co[4] = {1, 6, 6, 4}, s_dw[4] = {1, 3, 3, 4}, s_do[4] = {1, 4, 4, 4},
                         s_r[2] = {1, 64}, s_fw[2] = {2, 64}, s_fo[2] = {1, 2}, s_shape[1] = {2};
    tw_init(m);
    int32_t in = tw_qtensor(m, wtype, 4, s_in, 0, 1);
    int32_t cw = tw_qtensor(m, wtype, 4, s_cw, 36, 4);
    int32_t cb = tw_qtensor(m, I32, 1, s_b, 16, 4);
    int32_t co = tw_qtensor(m, wtype, 4, s_co, 0, 1);
    int32_t dw = tw_qtensor(m, wtype, 4, s_dw, 36, 4);
    int32_t db = tw_qtensor(m, I32, 1, s_b, 16, 4);
    int32_t dout = tw_qtensor(m, wtype, 4, s_do, 0, 1);
    int32_t shape = tw_tensor(m, I32, 1, s_shape, 8);
    int32_t r = tw_qtensor(m, wtype, 2, s_r, 0, 1);
    int32_t fw = tw_qtensor(m, fc_type, 2, s_fw, 128, 1);
    int32_t fo = tw_qtensor(m, wtype, 2, s_fo, 0, 1);
    tw_op(m, CONV, 1, 3, (int32_t[]){in, cw, cb}, 1, (int32_t[]){co});
    uint32_t k = tw_op(m, DW, 3, 3, (int32_t[]){co, dw, db}, 1, (int32_t[]){dout});
    m->ops[k].depth_multiplier = 1;
    tw_op(m, RESHAPE, -1, 2, (int32_t[]){dout, shape}, 1, (int32_t[]){r});
    tw_op(m, FC, 0, 3, (int32_t[]){r, fw, -1}, 1, (int32_t[]){fo});
    m->n_inputs = 1, m->inputs[0] = in;
    m->n_outputs = 1, m->outputs[0] = fo;
}

/* ---------------------------------------------------------------------------------------------
 * Names and valid models
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_names)
{
    ck_assert_str_eq(fleet_tflite_builtin_name(0), "ADD");
    ck_assert_str_eq(fleet_tflite_builtin_name(3), "CONV_2D");
    ck_assert_str_eq(fleet_tflite_builtin_name(4), "DEPTHWISE_CONV_2D");
    ck_assert_str_eq(fleet_tflite_builtin_name(9), "FULLY_CONNECTED");
    ck_assert_str_eq(fleet_tflite_builtin_name(32), "CUSTOM");
    ck_assert_str_eq(fleet_tflite_builtin_name(97), "RESIZE_NEAREST_NEIGHBOR");
    ck_assert_str_eq(fleet_tflite_builtin_name(114), "QUANTIZE");
    ck_assert_str_eq(fleet_tflite_builtin_name(127), "PLACEHOLDER_FOR_GREATER_OP_CODES");
    ck_assert_str_eq(fleet_tflite_builtin_name(150), "GELU");
    ck_assert_str_eq(fleet_tflite_builtin_name(161), "RIGHT_SHIFT");
    ck_assert_ptr_null(fleet_tflite_builtin_name(162));
    ck_assert_ptr_null(fleet_tflite_builtin_name(-1));
    ck_assert_str_eq(fleet_tflite_type_name(0), "float32");
    ck_assert_str_eq(fleet_tflite_type_name(9), "int8");
    ck_assert_str_eq(fleet_tflite_type_name(3), "uint8");
    ck_assert_str_eq(fleet_tflite_type_name(17), "int4");
    ck_assert_str_eq(fleet_tflite_type_name(18), "unknown");
    ck_assert_str_eq(fleet_tflite_type_name(-1), "unknown");
    ck_assert_uint_eq(fleet_tflite_type_size(0), 4);
    ck_assert_uint_eq(fleet_tflite_type_size(4), 8);
    ck_assert_uint_eq(fleet_tflite_type_size(7), 2);
    ck_assert_uint_eq(fleet_tflite_type_size(11), 16);
    ck_assert_uint_eq(fleet_tflite_type_size(5), 0);
    ck_assert_uint_eq(fleet_tflite_type_size(99), 0);
    ck_assert_str_eq(fleet_tflite_activation_name(0), "NONE");
    ck_assert_str_eq(fleet_tflite_activation_name(2), "RELU_N1_TO_1");
    ck_assert_str_eq(fleet_tflite_activation_name(5), "SIGN_BIT");
    ck_assert_ptr_null(fleet_tflite_activation_name(6));
    ck_assert_ptr_null(fleet_tflite_activation_name(-1));
}
END_TEST

START_TEST(test_parse_chain)
{
    struct tw_model m;
    chain(&m);
    m.n_subgraphs = 2;
    struct fleet_tflite_model *pm = parse_model(&m);
    ck_assert_uint_eq(pm->version, 3);
    ck_assert_str_eq(pm->description, "chain model");
    ck_assert_uint_eq(pm->n_subgraphs, 2);
    ck_assert_uint_eq(pm->n_tensors, 5);
    ck_assert_uint_eq(pm->n_ops, 2);
    ck_assert_uint_eq(pm->n_buffers, 3);
    ck_assert_uint_eq(pm->buffer_bytes[0], 0);
    ck_assert_uint_eq(pm->buffer_bytes[1], 40);
    ck_assert_uint_eq(pm->buffer_bytes[2], 16);
    ck_assert_uint_eq(pm->n_offline, 0);
    ck_assert_ptr_null(pm->offline_offsets);
    ck_assert_uint_eq(pm->tensors[1].rank, 2);
    ck_assert_int_eq(pm->tensors[1].shape[0], 4);
    ck_assert_int_eq(pm->tensors[1].shape[1], 10);
    ck_assert_int_eq(pm->tensors[1].type, I8);
    ck_assert_uint_eq(pm->tensors[1].buffer, 1);
    ck_assert_int_eq(pm->tensors[2].type, I32);
    ck_assert_uint_eq(pm->tensors[2].quant_channels, 1);
    ck_assert_uint_eq(pm->tensors[0].buffer, 0);
    ck_assert_int_eq(pm->tensors[0].is_variable, 0);
    ck_assert_int_eq(pm->ops[0].builtin, FC);
    ck_assert_int_eq(pm->ops[0].custom, 0);
    ck_assert_int_eq(pm->ops[0].activation, 1);
    ck_assert_uint_eq(pm->ops[0].n_inputs, 3);
    ck_assert_int_eq(pm->ops[0].inputs[2], 2);
    ck_assert_uint_eq(pm->ops[0].n_outputs, 1);
    ck_assert_int_eq(pm->ops[0].outputs[0], 3);
    ck_assert_int_eq(pm->ops[1].builtin, SOFTMAX);
    ck_assert_int_eq(pm->ops[1].activation, -1);
    ck_assert_uint_eq(pm->n_inputs, 1);
    ck_assert_int_eq(pm->inputs[0], 0);
    ck_assert_uint_eq(pm->n_outputs, 1);
    ck_assert_int_eq(pm->outputs[0], 4);
    fleet_tflite_free(pm);
    fleet_tflite_free(NULL);

    /* A long description is truncated, not refused. */
    char longd[400];
    memset(longd, 'd', sizeof(longd) - 1);
    longd[sizeof(longd) - 1] = '\0';
    m.description = longd;
    pm = parse_model(&m);
    ck_assert_uint_eq(strlen(pm->description), 255);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_builtin_codes)
{
    struct tw_model m;
    static const int32_t s[2] = {1, 4};
    tw_init(&m);
    int32_t t0 = tw_tensor(&m, F32, 2, s, 0), t1 = tw_tensor(&m, F32, 2, s, 0);
    for (int i = 0; i < 4; i++)
        tw_op(&m, RELU, -1, 1, (int32_t[]){t0}, 1, (int32_t[]){t1});
    m.n_codes = 4;
    /* Only the deprecated int8 field (63 of the 106 seed opcodes look like this). */
    m.codes[0] = (struct tw_opcode){1, SOFTMAX, 0, 0, NULL};
    /* Only builtin_code. */
    m.codes[1] = (struct tw_opcode){0, 0, 1, GELU, NULL};
    /* The placeholder plus the real code. */
    m.codes[2] = (struct tw_opcode){1, 127, 1, GELU, NULL};
    /* An operator this schema does not know yet. */
    m.codes[3] = (struct tw_opcode){0, 0, 1, 200, NULL};
    for (uint32_t i = 0; i < 4; i++)
        m.ops[i].opcode_index = i;
    struct fleet_tflite_model *pm = parse_model(&m);
    ck_assert_int_eq(pm->ops[0].builtin, SOFTMAX);
    ck_assert_int_eq(pm->ops[1].builtin, GELU);
    ck_assert_int_eq(pm->ops[2].builtin, GELU);
    ck_assert_int_eq(pm->ops[3].builtin, 200);
    fleet_tflite_free(pm);

    m.codes[1] = (struct tw_opcode){1, 127, 0, 0, NULL};
    expect_model_err(&m, "operator code 1: deprecated_builtin_code 127 "
                         "(PLACEHOLDER_FOR_GREATER_OP_CODES) without a builtin_code");
    m.codes[1] = (struct tw_opcode){1, -5, 0, 0, NULL};
    expect_model_err(&m, "operator code 1: negative builtin code -5");
}
END_TEST

START_TEST(test_options)
{
    struct tw_model m;
    static const int32_t s4[4] = {1, 4, 4, 1}, s1[4] = {1, 1, 1, 1}, sw[2] = {1, 4};
    tw_init(&m);
    int32_t x = tw_tensor(&m, I8, 4, s4, 0);
    int32_t f = tw_tensor(&m, I8, 4, s1, 1);
    int32_t w = tw_tensor(&m, I8, 2, sw, 4);
    static const struct {
        int32_t builtin;
        int act;
        int expect;
    } cases[] = {
        {CONV, 3, 3},     {DW, 1, 1},      {AVG_POOL, 1, 1}, {MAX_POOL, 3, 3},
        {FC, 2, 2},       {ADD, 4, 4},     {SUB, 1, 1},      {MUL, 5, 5},
        {CONCAT, 1, 1},   {RESHAPE, -1, -1}, {SOFTMAX, -1, -1}, {L2_POOL, 0, 0},
        {FC, -1, 0},      /* no options: TFLM's zeroed params, NONE */
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        int32_t in2 = cases[i].builtin == FC ? w : f;
        tw_op(&m, cases[i].builtin, cases[i].act, 2, (int32_t[]){x, in2}, 1, (int32_t[]){x});
    }
    m.ops[1].depth_multiplier = 2;
    struct fleet_tflite_model *pm = parse_model(&m);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(pm->ops[i].activation == cases[i].expect, "op %zu: activation %d", i,
                      pm->ops[i].activation);
    ck_assert_int_eq(pm->ops[1].depth_multiplier, 2);
    ck_assert_int_eq(pm->ops[0].depth_multiplier, 0);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_options_edge)
{
    struct tw_model m;
    struct tw_layout lay;
    size_t len;
    static const int32_t s[2] = {1, 4};
    tw_init(&m);
    int32_t x = tw_tensor(&m, I8, 2, s, 0), w = tw_tensor(&m, I8, 2, s, 4);
    for (int i = 0; i < 4; i++)
        tw_op(&m, FC, 1, 2, (int32_t[]){x, w}, 1, (int32_t[]){x});
    /* 0: Conv2DOptions on a FULLY_CONNECTED: not its options, so NONE. */
    m.ops[0].options_type = 1, m.ops[0].act_field = 3;
    /* 1: an unknown union type is not parsed at all, even if its table is garbage. */
    m.ops[1].options_type = 200;
    /* 2: the type is set but there is no value. */
    m.ops[2].options_table = 0;
    /* 3: the right table without the activation field: the default, NONE. */
    m.ops[3].activation = -1;
    uint8_t *d = build(&m, &len, &lay);
    tw_put16(d, lay.options_vtable[1], 1);
    struct fleet_tflite_model *pm = parse_ok(d, len);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pm->ops[i].activation, 0);
    fleet_tflite_free(pm);

    /* A known type's table is checked even when it does not match the operator. */
    char msg[256];
    tw_put16(d, lay.options_vtable[0], 1);
    snprintf(msg, sizeof(msg),
             "operator 0: table at %zu: vtable at %zu has an invalid size of 1 bytes (must be "
             "even and at least 4)",
             lay.options[0], lay.options_vtable[0]);
    expect_err(d, len, msg);
    free(d);

    /* A Conv2DOptions too small for its activation field. */
    tw_init(&m);
    static const int32_t s4[4] = {1, 4, 4, 1}, s1[4] = {1, 1, 1, 1};
    x = tw_tensor(&m, I8, 4, s4, 0), w = tw_tensor(&m, I8, 4, s1, 1);
    tw_op(&m, CONV, 1, 2, (int32_t[]){x, w}, 1, (int32_t[]){x});
    d = build(&m, &len, &lay);
    tw_put16(d, lay.options_vtable[0] + 2, 4);
    expect_err(d, len, "operator 0: field fused_activation_function (1 byte at offset 4) lies "
                       "outside the 4-byte table object");
    free(d);
}
END_TEST

START_TEST(test_custom)
{
    struct tw_model m;
    static const int32_t s[2] = {1, 4};
    tw_init(&m);
    int32_t x = tw_tensor(&m, F32, 2, s, 0), y = tw_tensor(&m, F32, 2, s, 0);
    tw_op(&m, CUSTOM, -1, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    m.codes[0].custom = "TFLite_Detection_PostProcess";
    m.n_inputs = 1, m.inputs[0] = x;
    m.n_outputs = 1, m.outputs[0] = y;
    struct fleet_tflite_model *pm = parse_model(&m);
    ck_assert_int_eq(pm->ops[0].custom, 1);
    ck_assert_int_eq(pm->ops[0].builtin, CUSTOM);
    ck_assert_int_eq(pm->ops[0].activation, -1);
    fleet_tflite_free(pm);

    struct fleet_model_info *info = NULL;
    size_t len;
    char err[256];
    uint8_t *d = build(&m, &len, NULL);
    ck_assert_int_eq(fleet_model_analyse(d, len, &info, err, sizeof(err)), FLEET_OK);
    ck_assert_str_eq(info->layers[0].type, "CUSTOM");
    ck_assert_ptr_null(info->layers[0].activation);
    ck_assert_str_eq(info->layers[0].dtype, "float32");
    ck_assert_str_eq(info->quantization, "float32");
    fleet_model_info_free(info);
    free(d);
}
END_TEST

static void offline_chain(struct tw_model *m)
{
    chain(m);
    m->offline = 1;
    m->offline_header[0] = 1, m->offline_header[1] = 1, m->offline_header[2] = 5;
    m->n_offline = 5;
    int32_t offs[5] = {100, -1, -1, 0, -1};
    memcpy(m->offline_offsets, offs, sizeof(offs));
}

START_TEST(test_offline)
{
    struct tw_model m;
    struct tw_layout lay;
    size_t len;
    char msg[256];

    offline_chain(&m);
    struct fleet_tflite_model *pm = parse_model(&m);
    ck_assert_uint_eq(pm->n_offline, 5);
    ck_assert_int_eq(pm->offline_offsets[0], 100);
    ck_assert_int_eq(pm->offline_offsets[1], -1);
    ck_assert_int_eq(pm->offline_offsets[3], 0);
    ck_assert_uint_eq(pm->n_buffers, 4);
    ck_assert_uint_eq(pm->buffer_bytes[3], 32);
    fleet_tflite_free(pm);

    /* Several subgraphs: subgraph 0's offsets come first and may be followed by others. */
    m.offline_header[1] = 2, m.offline_header[2] = 7, m.n_offline = 7;
    pm = parse_model(&m);
    ck_assert_uint_eq(pm->n_offline, 5);
    fleet_tflite_free(pm);

    offline_chain(&m);
    m.offline_header[0] = 2;
    expect_model_err(&m, "metadata OfflineMemoryAllocation: version 2 (expected 1)");
    offline_chain(&m);
    m.offline_header[1] = 0;
    expect_model_err(&m, "metadata OfflineMemoryAllocation: subgraph count 0 (expected at least 1)");
    offline_chain(&m);
    m.offline_header[2] = 4;
    expect_model_err(&m, "metadata OfflineMemoryAllocation: 4 offsets for the 5 tensors of "
                         "subgraph 0");
    offline_chain(&m);
    m.offline_header[2] = 9;
    expect_model_err(&m, "metadata OfflineMemoryAllocation: declares 9 offsets but buffer 3 "
                         "holds room for 5");
    offline_chain(&m);
    m.offline_offsets[2] = -7;
    expect_model_err(&m, "metadata OfflineMemoryAllocation: tensor 2: offset -7 (must be -1 or "
                         "at least 0)");

    offline_chain(&m);
    uint8_t *d = build(&m, &len, &lay);
    tw_put32(d, lay.offline_buffer, 9);
    expect_err(d, len, "metadata OfflineMemoryAllocation: buffer index 9 out of range (4 buffers)");
    /* Buffer 1 holds the FC weights, bytes 1, 8, 15, 22, ...: not a version 1 header. */
    tw_put32(d, lay.offline_buffer, 1);
    expect_err(d, len, "metadata OfflineMemoryAllocation: version 370083841 (expected 1)");
    tw_put32(d, lay.offline_buffer, 0);
    expect_err(d, len, "metadata OfflineMemoryAllocation: buffer 0 holds 0 bytes, less than the "
                       "12-byte header");
    tw_put32(d, lay.offline_buffer, 3);
    tw_put32(d, lay.offline_data - 4, 8);
    snprintf(msg, sizeof(msg), "metadata OfflineMemoryAllocation: buffer 3 holds 8 bytes, less "
                               "than the 12-byte header");
    expect_err(d, len, msg);
    free(d);
}
END_TEST

START_TEST(test_external_buffer)
{
    struct tw_model m;
    size_t len;
    char msg[256];
    chain(&m);
    /* Buffer 1 (the FC weights) moved out of the flatbuffer, as >2 GB models do. */
    m.buffers[1] = (struct tw_buffer){0, 0, 8, 40, NULL};
    uint8_t *d = build(&m, &len, NULL);
    struct fleet_tflite_model *pm = parse_ok(d, len);
    ck_assert_uint_eq(pm->buffer_bytes[1], 40);
    fleet_tflite_free(pm);
    free(d);

    m.buffers[1] = (struct tw_buffer){0, 0, 100000, 16, NULL};
    d = build(&m, &len, NULL);
    snprintf(msg, sizeof(msg), "buffer 1: external data (offset 100000, size 16) runs past the "
                               "end of the file (%zu bytes)", len);
    expect_err(d, len, msg);
    free(d);

    /* offset 1 is the converter's placeholder, not external data. */
    m.buffers[1] = (struct tw_buffer){0, 0, 1, 99999999, NULL};
    pm = parse_model(&m);
    ck_assert_uint_eq(pm->buffer_bytes[1], 0);
    fleet_tflite_free(pm);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Structural defects
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_short_and_identifier)
{
    uint8_t d[16] = {8, 0, 0, 0, 'T', 'F', 'L', '3'};
    char msg[128];
    struct fleet_tflite_model *pm;
    char err[128];
    for (size_t n = 0; n < 8; n++) {
        snprintf(msg, sizeof(msg), "file too short: %zu bytes (a TFLite file has at least 8)", n);
        expect_err(d, n, msg);
    }
    ck_assert_int_eq(fleet_tflite_parse(NULL, 0, &pm, err, sizeof(err)), FLEET_ERR_INVAL);
    ck_assert_str_eq(err, "file too short: 0 bytes (a TFLite file has at least 8)");
    /* A tiny error buffer still gets a NUL-terminated prefix. */
    ck_assert_int_eq(fleet_tflite_parse(d, 3, &pm, err, 5), FLEET_ERR_INVAL);
    ck_assert_str_eq(err, "file");
    ck_assert_int_eq(fleet_tflite_parse(d, 3, &pm, NULL, 0), FLEET_ERR_INVAL);

    memcpy(d + 4, "TFL2", 4);
    expect_err(d, 16, "not a TFLite file: identifier is not TFL3");
    memcpy(d + 4, "\0\0\0\0", 4);
    expect_err(d, 16, "not a TFLite file: identifier is not TFL3");
}
END_TEST

START_TEST(test_root_offset)
{
    struct tw_model m;
    size_t len;
    char msg[256];
    chain(&m);
    uint8_t *d = build(&m, &len, NULL);
    tw_put32(d, 0, 0xFFFFFFFFu);
    snprintf(msg, sizeof(msg),
             "root table offset 4294967295 points past the end of the file (%zu bytes)", len);
    expect_err(d, len, msg);
    tw_put32(d, 0, (uint32_t)len - 1);
    snprintf(msg, sizeof(msg), "root table offset %zu points past the end of the file (%zu bytes)",
             len - 1, len);
    expect_err(d, len, msg);
    /* Root 0: the table's soffset is the root offset itself, so its vtable is at 0 too. */
    tw_put32(d, 0, 0);
    expect_err(d, len, "model: table at 0: vtable at 0 has an invalid size of 0 bytes (must be "
                       "even and at least 4)");
    free(d);
}
END_TEST

START_TEST(test_soffset)
{
    struct tw_model m;
    struct tw_layout lay;
    size_t len;
    char msg[256];
    chain(&m);
    uint8_t *d = build(&m, &len, &lay);
    tw_put32(d, lay.model, 0x7FFFFFFF);
    snprintf(msg, sizeof(msg),
             "model: table at %zu: vtable offset 2147483647 points outside the file (%zu bytes)",
             lay.model, len);
    expect_err(d, len, msg);
    tw_put32(d, lay.model, (uint32_t)-100000);
    snprintf(msg, sizeof(msg),
             "model: table at %zu: vtable offset -100000 points outside the file (%zu bytes)",
             lay.model, len);
    expect_err(d, len, msg);
    /* Pointing to itself: the soffset (0) read as a vtable size. */
    tw_put32(d, lay.model, 0);
    snprintf(msg, sizeof(msg),
             "model: table at %zu: vtable at %zu has an invalid size of 0 bytes (must be even and "
             "at least 4)",
             lay.model, lay.model);
    expect_err(d, len, msg);
    free(d);
}
END_TEST

START_TEST(test_vtable_and_object_size)
{
    struct tw_model m;
    struct tw_layout lay;
    size_t len;
    char msg[256];
    chain(&m);
    uint8_t *d = build(&m, &len, &lay);
    uint8_t *orig = malloc(len);
    memcpy(orig, d, len);
    static const uint16_t bad[] = {0, 2, 5, 0xFFFF};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tw_put16(d, lay.model_vtable, bad[i]);
        snprintf(msg, sizeof(msg),
                 "model: table at %zu: vtable at %zu has an invalid size of %u bytes (must be "
                 "even and at least 4)",
                 lay.model, lay.model_vtable, bad[i]);
        expect_err(d, len, msg);
    }
    tw_put16(d, lay.model_vtable, 0xFFFE);
    snprintf(msg, sizeof(msg),
             "model: table at %zu: vtable at %zu (65534 bytes) runs past the end of the file "
             "(%zu bytes)",
             lay.model, lay.model_vtable, len);
    expect_err(d, len, msg);

    memcpy(d, orig, len);
    tw_put16(d, lay.model_vtable + 2, 0xFFFF);
    snprintf(msg, sizeof(msg),
             "model: table at %zu: object of 65535 bytes runs past the end of the file (%zu "
             "bytes)",
             lay.model, len);
    expect_err(d, len, msg);
    tw_put16(d, lay.model_vtable + 2, 2);
    snprintf(msg, sizeof(msg), "model: table at %zu: object size 2 is smaller than 4 bytes",
             lay.model);
    expect_err(d, len, msg);

    /* A field offset beyond the object. */
    memcpy(d, orig, len);
    uint16_t obj = get16(d, lay.model_vtable + 2);
    tw_put16(d, lay.model_vtable + 4, 0x100);
    snprintf(msg, sizeof(msg),
             "model: field version (4 bytes at offset 256) lies outside the %u-byte table object",
             obj);
    expect_err(d, len, msg);
    /* A field that overlaps the end of the object by one byte. */
    tw_put16(d, lay.model_vtable + 4, (uint16_t)(obj - 3));
    snprintf(msg, sizeof(msg),
             "model: field version (4 bytes at offset %u) lies outside the %u-byte table object",
             obj - 3, obj);
    expect_err(d, len, msg);
    free(orig);
    free(d);
}
END_TEST

START_TEST(test_vector_counts)
{
    struct tw_model m;
    struct tw_layout lay;
    size_t len;
    char msg[256];
    chain(&m);
    uint8_t *d = build(&m, &len, &lay);
    static const uint32_t counts[] = {0xFFFFFFFFu, 0x40000000u, 0x3FFFFFFFu};
    for (size_t i = 0; i < 3; i++) {
        tw_put32(d, lay.tensors_vec, counts[i]);
        snprintf(msg, sizeof(msg),
                 "subgraph 0: tensors: vector of %u elements of 4 bytes at %zu does not fit in "
                 "the file (%zu bytes)",
                 counts[i], lay.tensors_vec, len);
        expect_err(d, len, msg);
    }
    tw_put32(d, lay.tensors_vec, 5);
    tw_put32(d, lay.op_inputs[0], 0x40000000u);
    snprintf(msg, sizeof(msg),
             "operator 0: inputs: vector of 1073741824 elements of 4 bytes at %zu does not fit in "
             "the file (%zu bytes)",
             lay.op_inputs[0], len);
    expect_err(d, len, msg);
    /* Exactly the bytes left after the count fit; one more element does not. */
    tw_put32(d, lay.op_inputs[0], (uint32_t)((len - lay.op_inputs[0] - 4) / 4 + 1));
    snprintf(msg, sizeof(msg),
             "operator 0: inputs: vector of %zu elements of 4 bytes at %zu does not fit in the "
             "file (%zu bytes)",
             (len - lay.op_inputs[0] - 4) / 4 + 1, lay.op_inputs[0], len);
    expect_err(d, len, msg);
    free(d);
}
END_TEST

START_TEST(test_element_offsets)
{
    struct tw_model m;
    struct tw_layout lay;
    size_t len;
    char msg[256];
    chain(&m);
    uint8_t *d = build(&m, &len, &lay);
    size_t slot = lay.tensors_vec + 4;
    tw_put32(d, slot, 0x7FFFFFF0u);
    snprintf(msg, sizeof(msg), "tensor 0: table at %zu runs past the end of the file (%zu bytes)",
             slot + 0x7FFFFFF0u, len);
    expect_err(d, len, msg);
    /* An element pointing at its own slot: a table whose soffset 0 makes it its own vtable. */
    tw_put32(d, slot, 0);
    snprintf(msg, sizeof(msg),
             "tensor 0: table at %zu: vtable at %zu has an invalid size of 0 bytes (must be even "
             "and at least 4)",
             slot, slot);
    expect_err(d, len, msg);
    free(d);

    /* A reference field pointing outside the file. */
    d = build(&m, &len, &lay);
    size_t f = field_pos(d, lay.subgraph, lay.subgraph_vtable, 3);
    tw_put32(d, f, (uint32_t)(len - f - 2));
    snprintf(msg, sizeof(msg),
             "subgraph 0: field operators points past the end of the file (to %zu, file %zu "
             "bytes)",
             len - 2, len);
    expect_err(d, len, msg);
    free(d);
}
END_TEST

START_TEST(test_aliasing)
{
    /* Every element of the operators vector aliasing operator 0 is a legal flatbuffer. */
    struct tw_model m;
    struct tw_layout lay;
    size_t len;
    static const int32_t s[2] = {1, 4};
    tw_init(&m);
    int32_t x = tw_tensor(&m, F32, 2, s, 0), y = tw_tensor(&m, F32, 2, s, 0);
    for (int i = 0; i < 6; i++)
        tw_op(&m, RELU, -1, 1, (int32_t[]){i ? y : x}, 1, (int32_t[]){y});
    uint8_t *d = build(&m, &len, &lay);
    for (uint32_t i = 1; i < 6; i++) {
        size_t slot = lay.operators_vec + 4 + 4 * i;
        tw_put32(d, slot, (uint32_t)(lay.op[0] - slot));
    }
    struct fleet_tflite_model *pm = parse_ok(d, len);
    ck_assert_uint_eq(pm->n_ops, 6);
    for (uint32_t i = 0; i < 6; i++) {
        ck_assert_int_eq(pm->ops[i].builtin, RELU);
        ck_assert_int_eq(pm->ops[i].inputs[0], x);
        ck_assert_int_eq(pm->ops[i].outputs[0], y);
    }
    fleet_tflite_free(pm);
    free(d);
}
END_TEST

/* Appends to a built model a new operators vector of k elements that all alias one operator
 * table whose inputs vector holds n entries of -1, and points subgraph 0 at it. */
static uint8_t *alias_ops(struct tw_model *m, uint32_t k, uint32_t n, size_t *len)
{
    struct tw_layout lay;
    size_t base;
    uint8_t *d = build(m, &base, &lay);
    size_t vec = (base + 3) / 4 * 4;
    size_t vt = vec + 4 + 4 * (size_t)k;
    size_t t = vt + 8;
    size_t inputs = t + 8;
    *len = inputs + 4 + 4 * (size_t)n;
    d = realloc(d, *len);
    ck_assert_ptr_nonnull(d);
    memset(d + base, 0, *len - base);
    tw_put32(d, vec, k);
    for (uint32_t i = 0; i < k; i++)
        tw_put32(d, vec + 4 + 4 * i, (uint32_t)(t - (vec + 4 + 4 * i)));
    tw_put16(d, vt, 8);      /* vtable: 8 bytes, object 8 bytes */
    tw_put16(d, vt + 2, 8);
    tw_put16(d, vt + 4, 0);  /* opcode_index: default 0 */
    tw_put16(d, vt + 6, 4);  /* inputs at +4 */
    tw_put32(d, t, (uint32_t)(t - vt));
    tw_put32(d, t + 4, (uint32_t)(inputs - (t + 4)));
    tw_put32(d, inputs, n);
    for (uint32_t i = 0; i < n; i++)
        tw_put32(d, inputs + 4 + 4 * i, 0xFFFFFFFFu);
    size_t f = field_pos(d, lay.subgraph, lay.subgraph_vtable, 3);
    tw_put32(d, f, (uint32_t)(vec - f));
    return d;
}

START_TEST(test_work_limits)
{
    struct tw_model m;
    size_t len;
    char msg[256];
    static const int32_t s[2] = {1, 4};
    tw_init(&m);
    int32_t x = tw_tensor(&m, F32, 2, s, 0);
    tw_op(&m, RELU, -1, 1, (int32_t[]){x}, 1, (int32_t[]){x});

    /* A few aliases: a valid model whose operators are all the same one. */
    uint8_t *d = alias_ops(&m, 7, 3, &len);
    struct fleet_tflite_model *pm = parse_ok(d, len);
    ck_assert_uint_eq(pm->n_ops, 7);
    for (uint32_t i = 0; i < 7; i++) {
        ck_assert_int_eq(pm->ops[i].builtin, RELU);
        ck_assert_uint_eq(pm->ops[i].n_inputs, 3);
        ck_assert_int_eq(pm->ops[i].inputs[2], -1);
    }
    fleet_tflite_free(pm);
    free(d);

    /* 3000 operators x 3000 inputs from a 24 kB file: refused before it costs 36 MB. */
    d = alias_ops(&m, 3000, 3000, &len);
    snprintf(msg, sizeof(msg),
             "too much work: more than %zu vector elements in a %zu-byte file (vectors shared?)",
             len + 64, len);
    expect_err(d, len, msg);
    free(d);

    /* A million and one operator slots aliasing one table. */
    d = alias_ops(&m, 1000001, 0, &len);
    expect_err(d, len, "too much work: more than 1000000 tables visited (offsets shared or "
                       "cyclic?)");
    free(d);
}
END_TEST

START_TEST(test_strings)
{
    struct tw_model m;
    struct tw_layout lay;
    size_t len;
    char msg[256];
    chain(&m);
    uint8_t *d = build(&m, &len, &lay);
    size_t n = strlen("chain model");
    d[lay.description + 4 + n] = 'X';
    snprintf(msg, sizeof(msg), "model: field description: string at %zu is not NUL-terminated",
             lay.description);
    expect_err(d, len, msg);
    d[lay.description + 4 + n] = '\0';
    tw_put32(d, lay.description, 0x7FFFFFFF);
    snprintf(msg, sizeof(msg),
             "model: field description: string of 2147483647 bytes at %zu runs past the end of "
             "the file (%zu bytes)",
             lay.description, len);
    expect_err(d, len, msg);
    free(d);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Semantic defects
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_opcode_index)
{
    struct tw_model m;
    static const int32_t s[2] = {1, 4};
    tw_init(&m);
    int32_t t[5];
    for (int i = 0; i < 5; i++)
        t[i] = tw_tensor(&m, F32, 2, s, 0);
    for (int i = 0; i < 4; i++)
        tw_op(&m, RELU, -1, 1, (int32_t[]){t[i]}, 1, (int32_t[]){t[i + 1]});
    static const int32_t more[] = {0, 1, 2, 6, 8, 14, 17, 18, 22, 25, 28};
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
        tw_code(&m, more[i]);
    ck_assert_uint_eq(m.n_codes, 12);
    m.ops[3].opcode_index = 40;
    expect_model_err(&m, "operator 3: opcode_index 40 out of range (12 operator codes)");
    m.ops[3].opcode_index = 12;
    expect_model_err(&m, "operator 3: opcode_index 12 out of range (12 operator codes)");
    m.ops[3].opcode_index = 11;
    struct fleet_tflite_model *pm = parse_model(&m);
    ck_assert_int_eq(pm->ops[3].builtin, 28);
    fleet_tflite_free(pm);

    /* No operator codes at all. */
    m.n_codes = 0;
    expect_model_err(&m, "operator 0: opcode_index 0 out of range (0 operator codes)");
}
END_TEST

START_TEST(test_tensor_indices)
{
    struct tw_model m;
    chain(&m);
    m.ops[1].inputs[0] = -2;
    expect_model_err(&m, "operator 1: input 0: tensor index -2 out of range (5 tensors)");
    chain(&m);
    m.ops[0].outputs[0] = 5;
    expect_model_err(&m, "operator 0: output 0: tensor index 5 out of range (5 tensors)");
    chain(&m);
    m.ops[0].inputs[2] = -1; /* an optional input (no bias) */
    struct fleet_tflite_model *pm = parse_model(&m);
    ck_assert_int_eq(pm->ops[0].inputs[2], -1);
    fleet_tflite_free(pm);
    chain(&m);
    m.inputs[0] = 7;
    expect_model_err(&m, "subgraph input 0: tensor index 7 out of range (5 tensors)");
    chain(&m);
    m.outputs[0] = -1;
    expect_model_err(&m, "subgraph output 0: tensor index -1 out of range (5 tensors)");
}
END_TEST

START_TEST(test_shapes)
{
    struct tw_model m;
    chain(&m);
    m.tensors[1].shape[1] = -3;
    expect_model_err(&m, "tensor 1: shape dimension 1 is -3");
    chain(&m);
    m.tensors[0].rank = 9;
    for (int i = 0; i < 9; i++)
        m.tensors[0].shape[i] = 1;
    expect_model_err(&m, "tensor 0: rank 9 exceeds the supported 8");
    chain(&m);
    m.tensors[0].rank = 8;
    for (int i = 0; i < 8; i++)
        m.tensors[0].shape[i] = 65536;
    struct fleet_tflite_model *pm = parse_model(&m);
    ck_assert_int_eq(pm->tensors[0].shape[7], 65536);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_filter_ranks)
{
    struct tw_model m;
    convnet(&m, I8, I8);
    m.tensors[1].rank = 1;
    expect_model_err(&m, "operator 0: CONV_2D filter tensor 1 has rank 1, expected 4");
    convnet(&m, I8, I8);
    m.tensors[1].rank = -1;
    expect_model_err(&m, "operator 0: CONV_2D filter tensor 1 has rank 0, expected 4");
    convnet(&m, I8, I8);
    m.ops[0].n_inputs = 1;
    expect_model_err(&m, "operator 0: CONV_2D has no filter input");
    convnet(&m, I8, I8);
    m.tensors[6].rank = 2;
    expect_model_err(&m, "operator 1: DEPTHWISE_CONV_2D output tensor 6 has rank 2, expected 4");
    convnet(&m, I8, I8);
    m.ops[1].n_outputs = 0;
    expect_model_err(&m, "operator 1: DEPTHWISE_CONV_2D has no output");
    convnet(&m, I8, I8);
    m.tensors[9].rank = 1;
    expect_model_err(&m, "operator 3: FULLY_CONNECTED weights tensor 9 has rank 1, expected 2");
    convnet(&m, I8, I8);
    m.ops[3].inputs[1] = -1;
    expect_model_err(&m, "operator 3: FULLY_CONNECTED has no weights input");
}
END_TEST

START_TEST(test_subgraphs_and_buffers)
{
    struct tw_model m;
    chain(&m);
    m.n_subgraphs = 0;
    expect_model_err(&m, "model: no subgraphs");
    chain(&m);
    m.no_subgraphs = 1;
    expect_model_err(&m, "model: no subgraphs");
    chain(&m);
    m.no_buffers = 1;
    expect_model_err(&m, "tensor 0: buffer index 0 out of range (0 buffers)");
    chain(&m);
    m.tensors[3].buffer = 9;
    expect_model_err(&m, "tensor 3: buffer index 9 out of range (3 buffers)");

    /* No operators, no tensors: parses (the arena planner decides what it makes of it). */
    tw_init(&m);
    struct fleet_tflite_model *pm = parse_model(&m);
    ck_assert_uint_eq(pm->n_ops, 0);
    ck_assert_uint_eq(pm->n_tensors, 0);
    ck_assert_ptr_null(pm->ops);
    fleet_tflite_free(pm);
}
END_TEST

START_TEST(test_quantization)
{
    struct tw_model m;
    chain(&m);
    m.tensors[1].n_scale = 4;
    expect_model_err(&m, "tensor 1: quantization has 4 scales but 1 zero points");
    chain(&m);
    m.tensors[1].n_scale = 3, m.tensors[1].n_zero_point = 0;
    m.tensors[2].n_scale = 0, m.tensors[2].n_zero_point = 2;
    struct fleet_tflite_model *pm = parse_model(&m);
    ck_assert_uint_eq(pm->tensors[1].quant_channels, 0);
    ck_assert_uint_eq(pm->tensors[2].quant_channels, 0);
    ck_assert_uint_eq(pm->tensors[0].quant_channels, 1);
    fleet_tflite_free(pm);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Robustness
 * ------------------------------------------------------------------------------------------- */

static void each_base(void (*fn)(const uint8_t *, size_t))
{
    struct tw_model m;
    size_t len;
    uint8_t *d;
    chain(&m);
    d = build(&m, &len, NULL);
    fn(d, len);
    free(d);
    convnet(&m, I8, I8);
    d = build(&m, &len, NULL);
    fn(d, len);
    free(d);
    offline_chain(&m);
    d = build(&m, &len, NULL);
    fn(d, len);
    free(d);
}

static void truncations(const uint8_t *d, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        struct fleet_tflite_model *pm = NULL;
        char err[512];
        /* A copy of exactly k bytes, so ASan sees any read past the end. */
        uint8_t *c = malloc(k ? k : 1);
        memcpy(c, d, k);
        enum fleet_err rc = fleet_tflite_parse(c, k, &pm, err, sizeof(err));
        ck_assert_msg(rc == FLEET_ERR_INVAL, "truncated to %zu of %zu bytes: accepted", k, len);
        ck_assert_ptr_null(pm);
        ck_assert_msg(err[0] != '\0', "truncated to %zu: no message", k);
        free(c);
    }
}

START_TEST(test_truncations)
{
    each_base(truncations);
}
END_TEST

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Everything the daemon would do with the bytes, as a string, so two runs can be compared. */
static char *run_all(const uint8_t *d, size_t len)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    struct fleet_tflite_model *pm = NULL;
    struct fleet_model_info *info = NULL;
    char err[512];
    enum fleet_err rc = fleet_tflite_parse(d, len, &pm, err, sizeof(err));
    fleet_buf_printf(&out, "parse %d %s\n", (int)rc, rc ? err : "");
    if (rc == FLEET_OK) {
        const char *const *p = fleet_arena_profiles();
        for (size_t i = 0; p[i]; i++) {
            struct fleet_arena a;
            rc = fleet_arena_estimate(pm, p[i], &a, err, sizeof(err));
            fleet_buf_printf(&out, "arena %d %llu %s\n", (int)rc,
                             (unsigned long long)a.total_bytes, rc ? err : "");
        }
        fleet_tflite_free(pm);
    }
    rc = fleet_model_analyse(d, len, &info, err, sizeof(err));
    fleet_buf_printf(&out, "analyse %d %s\n", (int)rc, rc ? err : "");
    if (rc == FLEET_OK) {
        fleet_model_info_json(info, &out);
        fleet_model_info_free(info);
    }
    ck_assert_int_eq(out.oom, 0);
    return fleet_buf_steal(&out, NULL);
}

static void bit_flips(const uint8_t *d, size_t len)
{
    uint8_t *c = malloc(len);
    for (int iter = 0; iter < 1500; iter++) {
        memcpy(c, d, len);
        int flips = 1 + (int)(rng() % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)(rng() % len);
            if (rng() % 2)
                c[at] ^= (uint8_t)(1u << (rng() % 8));
            else
                c[at] = (uint8_t)rng();
        }
        char *a = run_all(c, len);
        char *b = run_all(c, len);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
    }
    free(c);
}

START_TEST(test_bit_flips)
{
    each_base(bit_flips);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The analysis
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_analyse_chain)
{
    struct tw_model m;
    struct fleet_model_info *info = NULL;
    size_t len;
    char err[256], want[2048];
    struct tw_layout lay;
    chain(&m);
    uint8_t *d = build(&m, &len, &lay);
    ck_assert_int_eq(fleet_model_analyse(d, len, &info, err, sizeof(err)), FLEET_OK);
    ck_assert_uint_eq(strlen(info->sha256), 64);
    ck_assert_uint_eq(strspn(info->sha256, "0123456789abcdef"), 64);
    ck_assert_uint_eq(info->flash_bytes, len);
    ck_assert_uint_eq(info->macs, 40);
    ck_assert_uint_eq(info->schema_version, 3);
    ck_assert_uint_eq(info->n_tensors, 5);
    ck_assert_uint_eq(info->n_ops, 2);
    ck_assert_str_eq(info->quantization, "int8");
    ck_assert_uint_eq(info->n_arena, 2);
    ck_assert_str_eq(info->arena[0].profile, FLEET_ARENA_PROFILE_X86_64);
    ck_assert_uint_eq(info->arena[0].arena.total_bytes, 1056);
    ck_assert_str_eq(info->arena[1].profile, FLEET_ARENA_PROFILE_ILP32);
    ck_assert_uint_eq(info->arena[1].arena.total_bytes, 624);

    struct fleet_buf b = FLEET_BUF_INIT;
    fleet_model_info_json(info, &b);
    snprintf(want, sizeof(want),
             "{\"sha256\":\"%s\",\"flash_bytes\":%zu,\"macs\":40,\"schema_version\":3,"
             "\"tensors\":5,\"operators\":2,\"quantization\":\"int8\","
             "\"input\":{\"dtype\":\"int8\",\"shape\":[1,10]},"
             "\"output\":{\"dtype\":\"int8\",\"shape\":[1,4]},"
             "\"layers\":[{\"index\":0,\"type\":\"FULLY_CONNECTED\",\"activation\":\"RELU\","
             "\"dtype\":\"int8\",\"macs\":40},{\"index\":1,\"type\":\"SOFTMAX\","
             "\"activation\":null,\"dtype\":\"int8\",\"macs\":0}],"
             "\"arena_bytes\":{\"tflm-2020-x86_64\":1056,\"tflm-2020-ilp32\":624},"
             "\"arena_detail\":{\"tflm-2020-x86_64\":{\"head\":32,\"tail\":1024,"
             "\"offline_planned\":false},\"tflm-2020-ilp32\":{\"head\":32,\"tail\":592,"
             "\"offline_planned\":false}},\"arena_caveat\":\"%s\"}",
             info->sha256, len, info->arena[0].arena.caveat);
    ck_assert_str_eq(b.data, want);
    fleet_buf_free(&b);

    /* One byte changed in the weights: another digest. */
    char first[65];
    memcpy(first, info->sha256, sizeof(first));
    fleet_model_info_free(info);
    d[lay.description + 4] ^= 1;
    ck_assert_int_eq(fleet_model_analyse(d, len, &info, err, sizeof(err)), FLEET_OK);
    ck_assert_str_ne(info->sha256, first);
    fleet_model_info_free(info);
    fleet_model_info_free(NULL);
    free(d);
}
END_TEST

START_TEST(test_analyse_convnet)
{
    struct tw_model m;
    struct fleet_model_info *info = NULL;
    size_t len;
    char err[256];
    convnet(&m, I8, I8);
    uint8_t *d = build(&m, &len, NULL);
    ck_assert_int_eq(fleet_model_analyse(d, len, &info, err, sizeof(err)), FLEET_OK);
    /* CONV: 6*6 * 4*3*3*1 = 1296; DW: 4*4 * 1*3*3*4 = 576; FC: 2*64 = 128. */
    ck_assert_uint_eq(info->layers[0].macs, 1296);
    ck_assert_uint_eq(info->layers[1].macs, 576);
    ck_assert_uint_eq(info->layers[2].macs, 0);
    ck_assert_uint_eq(info->layers[3].macs, 128);
    ck_assert_uint_eq(info->macs, 2000);
    ck_assert_str_eq(info->layers[0].type, "CONV_2D");
    ck_assert_str_eq(info->layers[0].activation, "RELU");
    ck_assert_str_eq(info->layers[1].activation, "RELU6");
    ck_assert_ptr_null(info->layers[2].activation);
    ck_assert_str_eq(info->layers[3].activation, "NONE");
    /* RESHAPE reports its data, not its int32 shape operand. */
    ck_assert_str_eq(info->layers[2].dtype, "int8");
    ck_assert_str_eq(info->quantization, "int8");
    ck_assert_uint_eq(info->input.rank, 4);
    ck_assert_int_eq(info->input.shape[1], 8);
    ck_assert_str_eq(info->output.dtype, "int8");
    fleet_model_info_free(info);
    free(d);

    convnet(&m, F32, F32);
    d = build(&m, &len, NULL);
    ck_assert_int_eq(fleet_model_analyse(d, len, &info, err, sizeof(err)), FLEET_OK);
    ck_assert_str_eq(info->quantization, "float32");
    fleet_model_info_free(info);
    free(d);

    convnet(&m, U8, F32);
    d = build(&m, &len, NULL);
    ck_assert_int_eq(fleet_model_analyse(d, len, &info, err, sizeof(err)), FLEET_OK);
    ck_assert_str_eq(info->quantization, "mixed");
    ck_assert_str_eq(info->layers[0].dtype, "uint8");
    ck_assert_str_eq(info->layers[3].dtype, "float32");
    fleet_model_info_free(info);
    free(d);
}
END_TEST

START_TEST(test_analyse_errors)
{
    struct tw_model m;
    struct fleet_model_info *info = (struct fleet_model_info *)&m;
    size_t len;
    char err[256];
    static const uint8_t junk[4] = {1, 2, 3, 4};
    ck_assert_int_eq(fleet_model_analyse(junk, 4, &info, err, sizeof(err)), FLEET_ERR_INVAL);
    ck_assert_ptr_null(info);
    ck_assert_str_eq(err, "file too short: 4 bytes (a TFLite file has at least 8)");
    ck_assert_int_eq(fleet_model_analyse(junk, 4, &info, NULL, 0), FLEET_ERR_INVAL);

    /* MACs beyond 64 bits. */
    convnet(&m, I8, I8);
    m.tensors[1].shape[0] = 65536, m.tensors[1].shape[1] = 65536;
    m.tensors[1].shape[2] = 65536, m.tensors[1].shape[3] = 65536;
    uint8_t *d = build(&m, &len, NULL);
    ck_assert_int_eq(fleet_model_analyse(d, len, &info, err, sizeof(err)), FLEET_ERR_TOOBIG);
    ck_assert_str_eq(err, "operator 0 (CONV_2D): MAC count overflows 64 bits");
    free(d);

    /* A graph TFLM cannot plan. */
    chain(&m);
    m.outputs[0] = 3;
    d = build(&m, &len, NULL);
    ck_assert_int_eq(fleet_model_analyse(d, len, &info, err, sizeof(err)), FLEET_ERR_INVAL);
    ck_assert_str_eq(err, "arena (tflm-2020-x86_64): tensor 4 has an invalid lifetime (first "
                          "written by operator 1, last read by operator -1): TFLM cannot plan "
                          "it");
    free(d);
}
END_TEST

START_TEST(test_json_escaping)
{
    struct fleet_model_info info;
    struct fleet_layer layer;
    struct fleet_buf b = FLEET_BUF_INIT;
    memset(&info, 0, sizeof(info));
    memset(&layer, 0, sizeof(layer));
    strcpy(info.sha256, "00");
    info.quantization = "q\"\\/\n\t\x01\x1f\x7f";
    info.input.dtype = "caf\xc3\xa9";          /* valid UTF-8 passes through */
    info.output.dtype = "\xff\xc3(\xe2\x82";    /* invalid bytes become U+FFFD */
    layer.type = "\xf0\x9f\x98\x80";            /* a 4-byte sequence */
    layer.activation = "\xed\xa0\x80";          /* an encoded surrogate is not valid UTF-8 */
    layer.dtype = "\xc0\xaf";                   /* an overlong encoding neither */
    info.layers = &layer;
    info.n_layers = 1;
    fleet_model_info_json(&info, &b);
    ck_assert_str_eq(b.data,
                     "{\"sha256\":\"00\",\"flash_bytes\":0,\"macs\":0,\"schema_version\":0,"
                     "\"tensors\":0,\"operators\":0,"
                     "\"quantization\":\"q\\\"\\\\/\\n\\t\\u0001\\u001f\\u007f\","
                     "\"input\":{\"dtype\":\"caf\xc3\xa9\",\"shape\":[]},"
                     "\"output\":{\"dtype\":\"\\ufffd\\ufffd(\\ufffd\\ufffd\",\"shape\":[]},"
                     "\"layers\":[{\"index\":0,\"type\":\"\xf0\x9f\x98\x80\","
                     "\"activation\":\"\\ufffd\\ufffd\\ufffd\",\"dtype\":\"\\ufffd\\ufffd\","
                     "\"macs\":0}],\"arena_bytes\":{},\"arena_detail\":{},\"arena_caveat\":null}");
    fleet_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The paper's models
 * ------------------------------------------------------------------------------------------- */

/* Flash and MACs as the paper's knowledge graph has them (its MACs are rounded to 7 significant
 * digits: 18740192 appears as 1.874019e+07), layers as the operator count, arena on x86-64. */
static const struct {
    const char *name;
    uint64_t flash, macs;
    uint32_t ops, tensors;
    uint64_t ram;
    const char *quantization;
} real[] = {
    {"ARM_CNN_Small_keyword_spotting", 76752, 2498304, 10, 23, 15168, "int8"},
    {"ARM_DS_CNN_Small_", 47616, 2656768, 14, 37, 32528, "int8"},
    {"ARM_MicroNet_Small_anomaly_detection", 252848, 18740192, 12, 29, 128256, "int8"},
    {"ARM_MicroNet_VWW_3", 542400, 22565040, 71, 185, 206976, "int8"},
    {"Anomaly_Detection_Autoencoder", 4736, 1008, 5, 14, 2816, "int8"},
    {"Hello_World", 2472, 288, 3, 10, 1936, "int8"},
    {"Magic_Wand_1", 19616, 62016, 7, 16, 16784, "float32"},
    {"Magic_Wand_2", 31256, 701056, 6, 16, 12080, "int8"},
    {"Mapping_Dance", 147828, 36495, 4, 11, 4848, "float32"},
    {"Micro_Speech_Forward_Backward", 18856, 336000, 5, 12, 10480, "int8"},
    {"Micro_Speech_Up_Down_Go", 22712, 340000, 4, 10, 8080, "int8"},
    {"Micro_Speech_Yes_No_1", 18712, 336000, 4, 10, 8080, "int8"},
    {"Micro_Speech_Yes_No_2", 8864, 381824, 5, 13, 8800, "int8"},
    {"Micro_Speech_Yes_No_3", 18856, 336000, 5, 12, 10480, "int8"},
    {"Micro_Speech_Yes_No_4", 8864, 381824, 5, 13, 8800, "int8"},
    {"Motion_Trainer_Left_Right", 18480, 15780, 6, 13, 4048, "int8"},
    {"Motion_Trainer_Up_Forward", 18480, 15780, 6, 13, 4048, "int8"},
    {"Move", 6480, 3780, 6, 13, 2848, "int8"},
    {"Person_Detection", 236072, 7158144, 29, 86, 94128, "uint8"},
    {"Snoring_Guardian", 219896, 2119808, 10, 24, 25968, "int8"},
    {"Squats_Counter", 17048, 3780, 4, 11, 2224, "float32"},
    {"Visual_Alarm_Clock", 531624, 7387976, 30, 89, 116480, "int8"},
    {"Voice_Turn", 8048, 26032, 11, 23, 6288, "int8"},
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
        char err[256];
        struct fleet_model_info *info = NULL;
        snprintf(path, sizeof(path), "%s/tinyml-kg/models/%s.tflite", dir, real[i].name);
        uint8_t *d = slurp(path, &len);
        ck_assert_msg(d != NULL, "%s unreadable", path);
        ck_assert_msg(fleet_model_analyse(d, len, &info, err, sizeof(err)) == FLEET_OK, "%s: %s",
                      real[i].name, err);
        ck_assert_uint_eq(info->flash_bytes, real[i].flash);
        ck_assert_msg(info->macs == real[i].macs, "%s: %llu MACs", real[i].name,
                      (unsigned long long)info->macs);
        ck_assert_uint_eq(info->n_ops, real[i].ops);
        ck_assert_uint_eq(info->n_layers, real[i].ops);
        ck_assert_uint_eq(info->n_tensors, real[i].tensors);
        ck_assert_uint_eq(info->schema_version, 3);
        ck_assert_uint_eq(info->arena[0].arena.total_bytes, real[i].ram);
        ck_assert_str_eq(info->quantization, real[i].quantization);
        if (strcmp(real[i].name, "Hello_World") == 0) {
            ck_assert_str_eq(info->sha256,
                             "b18237bc1dd8bbb33e7da6f85b0dd197f63baab2507774cb4129d417d6f85cd7");
            ck_assert_str_eq(info->layers[0].type, "FULLY_CONNECTED");
            ck_assert_str_eq(info->layers[0].activation, "RELU");
            ck_assert_str_eq(info->layers[2].activation, "NONE");
            ck_assert_str_eq(info->input.dtype, "int8");
        }
        /* Truncations of a real model are refused (a few hundred, spread out, and the last
         * 16). Three of the files end in 8 bytes nothing references (orphan OperatorCode
         * tables the converter left behind), so cutting those off still leaves a model. */
        for (size_t k = 0; k < len; k += k + 16 >= len ? 1 : 1 + len / 300) {
            struct fleet_tflite_model *pm = NULL;
            enum fleet_err rc = fleet_tflite_parse(d, k, &pm, err, sizeof(err));
            if (rc == FLEET_OK && k >= len - 8) {
                ck_assert_uint_eq(pm->n_ops, real[i].ops);
                fleet_tflite_free(pm);
                continue;
            }
            ck_assert_msg(rc == FLEET_ERR_INVAL, "%s cut to %zu bytes: accepted", real[i].name, k);
        }
        fleet_model_info_free(info);
        free(d);
    }
}
END_TEST

static Suite *tflite_suite(void)
{
    Suite *s = suite_create("tflite");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_parse_chain);
    tcase_add_test(tc, test_builtin_codes);
    tcase_add_test(tc, test_options);
    tcase_add_test(tc, test_options_edge);
    tcase_add_test(tc, test_custom);
    tcase_add_test(tc, test_offline);
    tcase_add_test(tc, test_external_buffer);
    tcase_add_test(tc, test_short_and_identifier);
    tcase_add_test(tc, test_root_offset);
    tcase_add_test(tc, test_soffset);
    tcase_add_test(tc, test_vtable_and_object_size);
    tcase_add_test(tc, test_vector_counts);
    tcase_add_test(tc, test_element_offsets);
    tcase_add_test(tc, test_aliasing);
    tcase_add_test(tc, test_work_limits);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_opcode_index);
    tcase_add_test(tc, test_tensor_indices);
    tcase_add_test(tc, test_shapes);
    tcase_add_test(tc, test_filter_ranks);
    tcase_add_test(tc, test_subgraphs_and_buffers);
    tcase_add_test(tc, test_quantization);
    tcase_add_test(tc, test_truncations);
    tcase_add_test(tc, test_bit_flips);
    tcase_add_test(tc, test_analyse_chain);
    tcase_add_test(tc, test_analyse_convnet);
    tcase_add_test(tc, test_analyse_errors);
    tcase_add_test(tc, test_json_escaping);
    tcase_add_test(tc, test_real_models);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tflite_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
