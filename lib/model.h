/* SPDX-License-Identifier: MIT */
/* What tinyfleet knows about a model: the analysis of its .tflite file (layers, quantization,
 * MACs, flash, arena under every profile, sha256) and, from that plus the uploader's metadata,
 * the model's triples in the paper's knowledge-graph shape. No HTTP, no Redland. */
#ifndef FLEET_MODEL_H
#define FLEET_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "err.h"
#include "tflite.h"

struct fleet_layer {
    uint32_t index;
    const char *type;        /* "CONV_2D", ... or "CUSTOM" / "UNKNOWN_<code>" (static or owned
                                by the analysis) */
    const char *activation;  /* "NONE", "RELU", ... or NULL when the op has no fused activation */
    const char *dtype;       /* weight dtype ("int8", "float32"), or of the first input when the
                                op has no constant weights */
    uint64_t macs;
};

struct fleet_io {
    const char *dtype;
    uint32_t rank;
    int32_t shape[FLEET_TFLITE_MAX_RANK];
};

struct fleet_model_info {
    char sha256[65];          /* lower-case hex of the file */
    uint64_t flash_bytes;     /* file size */
    uint64_t macs;            /* as the paper counts them */
    uint32_t schema_version;  /* Model.version: 3 expected, callers warn about others */
    uint32_t n_tensors, n_ops;
    const char *quantization; /* "int8", "uint8", "float32", "mixed" ... (static) */
    struct fleet_io input, output;   /* subgraph input 0 / output 0 */
    size_t n_layers;
    struct fleet_layer *layers;
    size_t n_arena;           /* one per profile, in fleet_arena_profiles() order */
    struct { const char *profile; struct fleet_arena arena; } arena[4];
};

/* Analyses a .tflite file held in memory. MACs: CONV_2D and DEPTHWISE_CONV_2D = out_H * out_W *
 * prod(filter shape); FULLY_CONNECTED = prod(weight shape); others 0; 64-bit, overflow-checked
 * (FLEET_ERR_TOOBIG). Errors from the reader come back as FLEET_ERR_INVAL with its message. */
enum fleet_err fleet_model_analyse(const uint8_t *data, size_t len, struct fleet_model_info **out,
                                   char *err, size_t errlen);
void fleet_model_info_free(struct fleet_model_info *info);

/* The analysis as a JSON object (jansson-free: written into buf): sha256, flash_bytes, macs,
 * schema_version, tensors, operators, quantization, input, output, layers [{index, type,
 * activation, dtype, macs}], arena_bytes {profile: bytes}, arena_detail {profile: {head, tail,
 * offline_planned}}, arena_caveat. */
struct fleet_buf;
void fleet_model_info_json(const struct fleet_model_info *info, struct fleet_buf *buf);

#endif
