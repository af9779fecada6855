/* SPDX-License-Identifier: MIT */
/* A tiny FlatBuffers writer for the .tflite schema, for tests and seed corpora only: a test fills a
 * struct tw_model (tensors, shapes, types, buffers, operator codes, operators with their builtin
 * options, metadata) and tw_build() lays it out front to back, parents before children, so every
 * offset is a small positive number the test can find again. struct tw_layout reports where each
 * table, vtable, vector and string went, so a test can then corrupt exactly one thing (a vector
 * count, a vtable size, an element offset) and assert the reader's message. */
#ifndef FLEET_TFLITE_WRITER_H
#define FLEET_TFLITE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#define TW_MAX_TENSORS 64
#define TW_MAX_OPS 32
#define TW_MAX_CODES 16
#define TW_MAX_BUFFERS 72
#define TW_MAX_IO 8
#define TW_MAX_RANK 12

struct tw_tensor {
    int rank;                 /* dims in shape[]; -1 writes no shape field (a scalar) */
    int32_t shape[TW_MAX_RANK];
    int type;                 /* TensorType, written as int8 */
    uint32_t buffer;
    int is_variable;
    uint32_t n_scale, n_zero_point; /* quantization vectors; both 0 = no quantization table */
    const char *name;         /* NULL = no name field */
};

struct tw_opcode {
    int has_deprecated;       /* write deprecated_builtin_code (field 0, int8) */
    int8_t deprecated;
    int has_builtin;          /* write builtin_code (field 3, int32) */
    int32_t builtin;
    const char *custom;       /* custom_code, or NULL */
};

struct tw_op {
    uint32_t opcode_index;
    uint32_t n_inputs, n_outputs;
    int32_t inputs[TW_MAX_IO], outputs[TW_MAX_IO];
    int options_type;         /* BuiltinOptions union type written as field 3; 0 = none */
    int options_table;        /* write a builtin_options table (field 4) */
    int act_field;            /* field id of fused_activation_function in that table */
    int activation;           /* its value; -1 = field absent */
    int32_t depth_multiplier; /* written as field 3 when nonzero */
};

struct tw_buffer {
    int has_data;             /* write a data vector of data_bytes bytes (pattern filled) */
    uint32_t data_bytes;
    uint64_t offset, size;    /* written when offset != 0 (external data of >2 GB models) */
    const uint8_t *bytes;     /* data contents instead of the pattern, or NULL */
};

struct tw_model {
    uint32_t version;
    const char *description;  /* NULL = none */
    uint32_t n_codes;
    struct tw_opcode codes[TW_MAX_CODES];
    int n_subgraphs;          /* subgraph 0 below plus empty ones; 0 = empty vector */
    int no_subgraphs;         /* omit Model.subgraphs */
    uint32_t n_tensors;
    struct tw_tensor tensors[TW_MAX_TENSORS];
    uint32_t n_inputs, n_outputs;
    int32_t inputs[TW_MAX_IO], outputs[TW_MAX_IO];
    uint32_t n_ops;
    struct tw_op ops[TW_MAX_OPS];
    int no_buffers;           /* omit Model.buffers */
    uint32_t n_buffers;
    struct tw_buffer buffers[TW_MAX_BUFFERS];
    int min_runtime_metadata; /* write a "min_runtime_version" metadata entry first */
    int offline;              /* write OfflineMemoryAllocation metadata in a new last buffer */
    int32_t offline_header[3]; /* version, subgraph count, offset count, written as given */
    uint32_t n_offline;
    int32_t offline_offsets[TW_MAX_TENSORS];
};

/* Positions tw_build() chose (file offsets). */
struct tw_layout {
    size_t model, model_vtable, description;
    size_t opcodes_vec, subgraphs_vec, buffers_vec, metadata_vec;
    size_t opcode[TW_MAX_CODES];
    size_t subgraph, subgraph_vtable, tensors_vec, inputs_vec, outputs_vec, operators_vec;
    size_t tensor[TW_MAX_TENSORS], tensor_vtable[TW_MAX_TENSORS], shape_vec[TW_MAX_TENSORS];
    size_t op[TW_MAX_OPS], op_vtable[TW_MAX_OPS], op_inputs[TW_MAX_OPS];
    size_t options[TW_MAX_OPS], options_vtable[TW_MAX_OPS];
    size_t buffer[TW_MAX_BUFFERS];
    size_t offline_data;      /* first byte of the OfflineMemoryAllocation buffer */
    size_t offline_buffer;    /* its Metadata.buffer field */
};

/* Empty model: version 3, buffer 0 empty, one subgraph with nothing in it. */
void tw_init(struct tw_model *m);
/* The index of the operator code for builtin (added on first use, written with both the
 * deprecated field, clamped to 127, and builtin_code). */
uint32_t tw_code(struct tw_model *m, int32_t builtin);
/* Adds a tensor of type and shape; data_bytes > 0 gives it a buffer with that many bytes
 * (a constant), 0 leaves it on the empty buffer 0. Returns its index. */
int32_t tw_tensor(struct tw_model *m, int type, int rank, const int32_t *shape,
                  uint32_t data_bytes);
/* Like tw_tensor, with per-tensor (channels = 1) or per-channel quantization. */
int32_t tw_qtensor(struct tw_model *m, int type, int rank, const int32_t *shape,
                   uint32_t data_bytes, uint32_t channels);
/* Adds an operator; activation >= 0 writes the builtin options table that builtin uses (with
 * the activation at the schema's field id), -1 writes no options. Returns its index. */
uint32_t tw_op(struct tw_model *m, int32_t builtin, int activation, uint32_t n_in,
               const int32_t *in, uint32_t n_out, const int32_t *out);

/* Serialises m. Returns the bytes (new, free()) and their length, and fills lay if not NULL;
 * NULL if out of memory. */
uint8_t *tw_build(const struct tw_model *m, size_t *len, struct tw_layout *lay);

/* Little-endian stores for corrupting a built file. */
void tw_put16(uint8_t *p, size_t pos, uint16_t v);
void tw_put32(uint8_t *p, size_t pos, uint32_t v);

#endif
