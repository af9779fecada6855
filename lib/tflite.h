/* SPDX-License-Identifier: MIT */
/* A bounds-checked reader of the TensorFlow Lite flatbuffer schema (.tflite files), written for
 * untrusted input: any byte string yields either a fully checked model or a precise error, never
 * a crash, a hang, or an allocation the input size does not justify. Only what the analysis needs
 * is decoded: subgraph 0's tensors and operators, operator codes, buffer sizes and the
 * OfflineMemoryAllocation metadata. See ../shared/reference/FLATBUFFER_C_READER.md. */
#ifndef FLEET_TFLITE_H
#define FLEET_TFLITE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define FLEET_TFLITE_MAX_RANK 8

/* TensorType codes of the schema (0..17 known; others are reported as unknown). */
enum fleet_tflite_type {
    FLEET_TFLITE_FLOAT32 = 0, FLEET_TFLITE_FLOAT16 = 1, FLEET_TFLITE_INT32 = 2,
    FLEET_TFLITE_UINT8 = 3, FLEET_TFLITE_INT64 = 4, FLEET_TFLITE_STRING = 5,
    FLEET_TFLITE_BOOL = 6, FLEET_TFLITE_INT16 = 7, FLEET_TFLITE_COMPLEX64 = 8,
    FLEET_TFLITE_INT8 = 9, FLEET_TFLITE_FLOAT64 = 10, FLEET_TFLITE_COMPLEX128 = 11,
    FLEET_TFLITE_UINT64 = 12, FLEET_TFLITE_RESOURCE = 13, FLEET_TFLITE_VARIANT = 14,
    FLEET_TFLITE_UINT32 = 15, FLEET_TFLITE_UINT16 = 16, FLEET_TFLITE_INT4 = 17,
};

/* Lower-case name of a type ("int8", "float32", ...), "unknown" for others. Static. */
const char *fleet_tflite_type_name(int type);
/* Bytes per element, 0 for unknown or variable-size types. */
size_t fleet_tflite_type_size(int type);
/* Schema name of a builtin operator ("CONV_2D", "FULLY_CONNECTED", ...), or NULL if unknown. */
const char *fleet_tflite_builtin_name(int32_t builtin);
/* Name of a fused activation code ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH",
 * "SIGN_BIT"), or NULL. */
const char *fleet_tflite_activation_name(int act);

struct fleet_tflite_tensor {
    uint32_t rank;
    int32_t shape[FLEET_TFLITE_MAX_RANK];
    int type;                 /* enum fleet_tflite_type, or another schema code */
    uint32_t buffer;          /* index into buffers */
    int is_variable;
    uint32_t quant_channels;  /* count of scale[] entries when scale and zero_point are both
                                 non-empty, else 0 */
};

struct fleet_tflite_op {
    int32_t builtin;          /* max(builtin_code, deprecated_builtin_code) */
    int custom;               /* 1 for a CUSTOM operator */
    int activation;           /* fused activation from the builtin options, -1 if the op has
                                 none */
    int32_t depth_multiplier; /* DEPTHWISE_CONV_2D, else 0 */
    uint32_t n_inputs, n_outputs;
    const int32_t *inputs;    /* tensor indices, -1 = optional input absent */
    const int32_t *outputs;
};

struct fleet_tflite_model {
    uint32_t version;         /* schema version (3 expected) */
    uint32_t n_subgraphs;
    uint32_t n_tensors;       /* of subgraph 0 */
    const struct fleet_tflite_tensor *tensors;
    uint32_t n_ops;
    const struct fleet_tflite_op *ops;
    uint32_t n_inputs, n_outputs;
    const int32_t *inputs;    /* subgraph inputs */
    const int32_t *outputs;
    uint32_t n_buffers;
    const uint64_t *buffer_bytes; /* size of each buffer's data (0 = empty) */
    /* OfflineMemoryAllocation metadata, if present: one offset per tensor of subgraph 0
     * (-1 = not planned offline). */
    uint32_t n_offline;
    const int32_t *offline_offsets;
    char description[256];    /* the model's description string, truncated */
};

/* Parses data (borrowed; need not outlive the call) into *out (new, fleet_tflite_free). Returns
 * FLEET_ERR_INVAL with a message naming the defect (e.g. "tensor 12: shape dimension -3", "not
 * a TFLite file: identifier is not TFL3") or FLEET_ERR_NOMEM. Work is bounded (tables visited,
 * depth) so a small hostile file cannot expand into a huge walk. */
enum fleet_err fleet_tflite_parse(const uint8_t *data, size_t len, struct fleet_tflite_model **out,
                                  char *err, size_t errlen);
void fleet_tflite_free(struct fleet_tflite_model *m);

#endif
