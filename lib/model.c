/* SPDX-License-Identifier: MIT */
/* What tinyfleet knows about a model (see model.h). This file has two parts: the analysis of the
 * .tflite bytes (sha256, layers, MACs, quantization, input/output, arena under every profile) and
 * its JSON form, in the first section below; the knowledge-graph triples come in a later section.
 * Static helpers of the analysis are prefixed analysis_ or json_ so the sections stay apart. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "buf.h"

/* =============================================================================================
 * Analysis
 * ============================================================================================= */

enum {
    ANALYSIS_CONV_2D = 3,
    ANALYSIS_DEPTHWISE_CONV_2D = 4,
    ANALYSIS_FULLY_CONNECTED = 9,
    ANALYSIS_CUSTOM = 32,
    ANALYSIS_TRANSPOSE_CONV = 67,
    ANALYSIS_CONV_3D = 132,
};

/* The allocation behind struct fleet_model_info: the public part first, then the storage for
 * the layer type names that are not static ("UNKNOWN_<code>"). */
struct analysis_info {
    struct fleet_model_info pub;
    char (*type_names)[24];
};

static void analysis_sha256(const uint8_t *data, size_t len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];

    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, sizeof(digest), digest);
    for (size_t i = 0; i < sizeof(digest); i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

/* a *= b, -1 on overflow. */
static int analysis_mul(uint64_t *a, uint64_t b)
{
    if (b && *a > UINT64_MAX / b)
        return -1;
    *a *= b;
    return 0;
}

static int analysis_prod(const struct fleet_tflite_tensor *t, uint64_t *out)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->rank && d < FLEET_TFLITE_MAX_RANK; d++)
        if (analysis_mul(&n, t->shape[d] < 0 ? 0 : (uint64_t)t->shape[d]) < 0)
            return -1;
    *out = n;
    return 0;
}

/* MACs as the paper counts them: CONV_2D / DEPTHWISE_CONV_2D = out_H * out_W * prod(filter),
 * FULLY_CONNECTED = prod(weights); 0 for other operators. The reader has checked the ranks;
 * they are checked again here because this function indexes the shapes. */
static enum fleet_err analysis_macs(const struct fleet_tflite_model *m, uint32_t i, uint64_t *out,
                                    char *err, size_t errlen)
{
    const struct fleet_tflite_op *op = &m->ops[i];
    const char *name = fleet_tflite_builtin_name(op->builtin);
    int conv = op->builtin == ANALYSIS_CONV_2D || op->builtin == ANALYSIS_DEPTHWISE_CONV_2D;
    uint64_t macs = 0;

    *out = 0;
    if (!conv && op->builtin != ANALYSIS_FULLY_CONNECTED)
        return FLEET_OK;
    int32_t w = op->n_inputs >= 2 ? op->inputs[1] : -1;
    if (w < 0 || (uint32_t)w >= m->n_tensors || m->tensors[w].rank != (conv ? 4u : 2u)) {
        snprintf(err, errlen, "operator %u (%s): no weights of the expected rank", i, name);
        return FLEET_ERR_INVAL;
    }
    if (analysis_prod(&m->tensors[w], &macs) < 0)
        goto overflow;
    if (conv) {
        int32_t o = op->n_outputs >= 1 ? op->outputs[0] : -1;
        if (o < 0 || (uint32_t)o >= m->n_tensors || m->tensors[o].rank != 4) {
            snprintf(err, errlen, "operator %u (%s): output is not a rank-4 tensor", i, name);
            return FLEET_ERR_INVAL;
        }
        if (analysis_mul(&macs, (uint64_t)m->tensors[o].shape[1]) < 0 ||
            analysis_mul(&macs, (uint64_t)m->tensors[o].shape[2]) < 0)
            goto overflow;
    }
    *out = macs;
    return FLEET_OK;
overflow:
    snprintf(err, errlen, "operator %u (%s): MAC count overflows 64 bits", i, name);
    return FLEET_ERR_TOOBIG;
}

/* Operators whose inputs[1] holds the weights. */
static int analysis_weighted(int32_t builtin)
{
    return builtin == ANALYSIS_CONV_2D || builtin == ANALYSIS_DEPTHWISE_CONV_2D ||
           builtin == ANALYSIS_FULLY_CONNECTED || builtin == ANALYSIS_TRANSPOSE_CONV ||
           builtin == ANALYSIS_CONV_3D;
}

static int analysis_constant(const struct fleet_tflite_model *m, int32_t t)
{
    return t >= 0 && (uint32_t)t < m->n_tensors && m->tensors[t].buffer < m->n_buffers &&
           m->buffer_bytes[m->tensors[t].buffer] > 0;
}

/* The tensor whose type a layer reports: its constant weights, else its first input, else its
 * first output; -1 if it has no tensors. *weights tells whether it was the weights. */
static int32_t analysis_dtype_tensor(const struct fleet_tflite_model *m,
                                     const struct fleet_tflite_op *op, int *weights)
{
    *weights = 0;
    if (analysis_weighted(op->builtin) && op->n_inputs >= 2 && analysis_constant(m, op->inputs[1])) {
        *weights = 1;
        return op->inputs[1];
    }
    for (uint32_t k = 0; k < op->n_inputs; k++)
        if (op->inputs[k] >= 0)
            return op->inputs[k];
    for (uint32_t k = 0; k < op->n_outputs; k++)
        if (op->outputs[k] >= 0)
            return op->outputs[k];
    return -1;
}

static void analysis_io(const struct fleet_tflite_model *m, uint32_t n, const int32_t *idx,
                        struct fleet_io *io)
{
    memset(io, 0, sizeof(*io));
    io->dtype = "none";
    if (!n || idx[0] < 0 || (uint32_t)idx[0] >= m->n_tensors)
        return;
    const struct fleet_tflite_tensor *t = &m->tensors[idx[0]];
    io->dtype = fleet_tflite_type_name(t->type);
    io->rank = t->rank;
    memcpy(io->shape, t->shape, sizeof(io->shape));
}

void fleet_model_info_free(struct fleet_model_info *pub)
{
    struct analysis_info *info = (struct analysis_info *)pub;
    if (!info)
        return;
    free(info->pub.layers);
    free(info->type_names);
    free(info);
}

enum fleet_err fleet_model_analyse(const uint8_t *data, size_t len, struct fleet_model_info **out,
                                   char *err, size_t errlen)
{
    struct fleet_tflite_model *m = NULL;
    struct analysis_info *info = NULL;
    char local[256];
    enum fleet_err rc;

    if (!err || !errlen) {
        err = local;
        errlen = sizeof(local);
    }
    err[0] = '\0';
    *out = NULL;
    rc = fleet_tflite_parse(data, len, &m, err, errlen);
    if (rc != FLEET_OK)
        return rc;

    info = calloc(1, sizeof(*info));
    if (!info)
        goto nomem;
    struct fleet_model_info *pi = &info->pub;
    analysis_sha256(data, len, pi->sha256);
    pi->flash_bytes = len;
    pi->schema_version = m->version;
    pi->n_tensors = m->n_tensors;
    pi->n_ops = m->n_ops;
    analysis_io(m, m->n_inputs, m->inputs, &pi->input);
    analysis_io(m, m->n_outputs, m->outputs, &pi->output);

    if (m->n_ops) {
        pi->layers = calloc(m->n_ops, sizeof(*pi->layers));
        info->type_names = calloc(m->n_ops, sizeof(*info->type_names));
        if (!pi->layers || !info->type_names)
            goto nomem;
    }
    pi->n_layers = m->n_ops;

    /* Layers, MACs, and the weight types behind the quantization summary. */
    const char *quant = NULL;
    int mixed = 0;
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const struct fleet_tflite_op *op = &m->ops[i];
        struct fleet_layer *l = &pi->layers[i];
        l->index = i;
        l->type = op->custom ? "CUSTOM" : fleet_tflite_builtin_name(op->builtin);
        if (!l->type) {
            snprintf(info->type_names[i], sizeof(info->type_names[i]), "UNKNOWN_%d",
                     (int)op->builtin);
            l->type = info->type_names[i];
        }
        if (op->activation >= 0) {
            l->activation = fleet_tflite_activation_name(op->activation);
            if (!l->activation)
                l->activation = "UNKNOWN";
        }
        int weights;
        int32_t t = analysis_dtype_tensor(m, op, &weights);
        l->dtype = t >= 0 ? fleet_tflite_type_name(m->tensors[t].type) : "none";
        if (weights) {
            if (!quant)
                quant = l->dtype;
            else if (strcmp(quant, l->dtype) != 0)
                mixed = 1;
        }
        rc = analysis_macs(m, i, &l->macs, err, errlen);
        if (rc != FLEET_OK)
            goto out;
        if (pi->macs > UINT64_MAX - l->macs) {
            snprintf(err, errlen, "total MAC count overflows 64 bits");
            rc = FLEET_ERR_TOOBIG;
            goto out;
        }
        pi->macs += l->macs;
    }
    /* Without weighted layers the model computes in the type of its input. */
    pi->quantization = mixed ? "mixed" : quant ? quant : pi->input.dtype;

    const char *const *profiles = fleet_arena_profiles();
    for (size_t k = 0; profiles[k]; k++) {
        if (k == sizeof(pi->arena) / sizeof(pi->arena[0])) {
            snprintf(err, errlen, "more arena profiles than the analysis holds");
            rc = FLEET_ERR_INTERNAL;
            goto out;
        }
        char aerr[200];
        pi->arena[k].profile = profiles[k];
        rc = fleet_arena_estimate(m, profiles[k], &pi->arena[k].arena, aerr, sizeof(aerr));
        if (rc != FLEET_OK) {
            snprintf(err, errlen, "arena (%s): %s", profiles[k], aerr);
            goto out;
        }
        pi->n_arena = k + 1;
    }
    rc = FLEET_OK;
    *out = pi;
    info = NULL;
    goto out;
nomem:
    snprintf(err, errlen, "out of memory");
    rc = FLEET_ERR_NOMEM;
out:
    fleet_model_info_free(info ? &info->pub : NULL);
    fleet_tflite_free(m);
    return rc;
}

/* =============================================================================================
 * JSON
 * ============================================================================================= */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if it is not one. */
static size_t json_utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp, min;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f, min = 0x80;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f, min = 0x800;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A JSON string: quotes, backslashes and control characters escaped, invalid UTF-8 replaced by
 * U+FFFD so the document stays valid whatever bytes a name holds; NULL becomes null. */
static void json_str(struct fleet_buf *b, const char *s)
{
    if (!s) {
        fleet_buf_puts(b, "null");
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    fleet_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t k;
        if (c == '"' || c == '\\') {
            fleet_buf_putc(b, '\\');
            fleet_buf_putc(b, (char)c);
            i++;
        } else if (c < 0x20) {
            static const char esc[] = "btn\0fr";
            if (c >= '\b' && c <= '\r' && esc[c - '\b'])
                fleet_buf_printf(b, "\\%c", esc[c - '\b']);
            else
                fleet_buf_printf(b, "\\u%04x", c);
            i++;
        } else if (c == 0x7f) {
            fleet_buf_puts(b, "\\u007f");
            i++;
        } else if ((k = json_utf8_len(p + i, n - i)) > 0) {
            fleet_buf_append(b, p + i, k);
            i += k;
        } else {
            fleet_buf_puts(b, "\\ufffd");
            i++;
        }
    }
    fleet_buf_putc(b, '"');
}

static void json_io(struct fleet_buf *b, const struct fleet_io *io)
{
    fleet_buf_puts(b, "{\"dtype\":");
    json_str(b, io->dtype);
    fleet_buf_puts(b, ",\"shape\":[");
    for (uint32_t i = 0; i < io->rank && i < FLEET_TFLITE_MAX_RANK; i++)
        fleet_buf_printf(b, "%s%d", i ? "," : "", (int)io->shape[i]);
    fleet_buf_puts(b, "]}");
}

void fleet_model_info_json(const struct fleet_model_info *info, struct fleet_buf *b)
{
    fleet_buf_puts(b, "{\"sha256\":");
    json_str(b, info->sha256);
    fleet_buf_printf(b,
                     ",\"flash_bytes\":%llu,\"macs\":%llu,\"schema_version\":%u,\"tensors\":%u,"
                     "\"operators\":%u,\"quantization\":",
                     (unsigned long long)info->flash_bytes, (unsigned long long)info->macs,
                     info->schema_version, info->n_tensors, info->n_ops);
    json_str(b, info->quantization);
    fleet_buf_puts(b, ",\"input\":");
    json_io(b, &info->input);
    fleet_buf_puts(b, ",\"output\":");
    json_io(b, &info->output);
    fleet_buf_puts(b, ",\"layers\":[");
    for (size_t i = 0; i < info->n_layers; i++) {
        const struct fleet_layer *l = &info->layers[i];
        fleet_buf_printf(b, "%s{\"index\":%u,\"type\":", i ? "," : "", l->index);
        json_str(b, l->type);
        fleet_buf_puts(b, ",\"activation\":");
        json_str(b, l->activation);
        fleet_buf_puts(b, ",\"dtype\":");
        json_str(b, l->dtype);
        fleet_buf_printf(b, ",\"macs\":%llu}", (unsigned long long)l->macs);
    }
    fleet_buf_puts(b, "],\"arena_bytes\":{");
    for (size_t i = 0; i < info->n_arena; i++) {
        if (i)
            fleet_buf_putc(b, ',');
        json_str(b, info->arena[i].profile);
        fleet_buf_printf(b, ":%llu", (unsigned long long)info->arena[i].arena.total_bytes);
    }
    fleet_buf_puts(b, "},\"arena_detail\":{");
    for (size_t i = 0; i < info->n_arena; i++) {
        const struct fleet_arena *a = &info->arena[i].arena;
        if (i)
            fleet_buf_putc(b, ',');
        json_str(b, info->arena[i].profile);
        fleet_buf_printf(b, ":{\"head\":%llu,\"tail\":%llu,\"offline_planned\":%s}",
                         (unsigned long long)a->head_bytes, (unsigned long long)a->tail_bytes,
                         a->offline_planned ? "true" : "false");
    }
    fleet_buf_puts(b, "},\"arena_caveat\":");
    json_str(b, info->n_arena ? info->arena[0].arena.caveat : NULL);
    fleet_buf_putc(b, '}');
}

/* =============================================================================================
 * Knowledge-graph triples (added later)
 * ============================================================================================= */
