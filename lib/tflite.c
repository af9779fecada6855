/* SPDX-License-Identifier: MIT */
/* The bounds-checked .tflite reader (see tflite.h and ../shared/reference/FLATBUFFER_C_READER.md).
 * Every read goes through a helper that checks the position against the file length in 64-bit
 * arithmetic and copies the bytes out with memcpy, assembling little-endian values byte by byte,
 * so a hostile offset can neither overflow a sum nor make an unaligned or out-of-bounds access.
 * The walk only follows the schema paths the analysis needs, so it never recurses on the input's
 * say-so; what bounds the work is a cap on tables visited and on vector elements copied, since
 * shared offsets (every element of a vector aliasing one table) are legal flatbuffers and can
 * make a small file describe a huge model. Structural errors name the entity being read
 * ("tensor 4", "operator code 2"), the field and the offending position; semantic errors name the
 * value and the limit it breaks. */
#include "tflite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The official flatbuffers Verifier's defaults. */
#define MAX_DEPTH 64
#define MAX_TABLES 1000000u
/* BuiltinOptions union members 1..126 exist in the tflite-micro HEAD schema; larger type codes
 * are left unparsed, as the reference asks. */
#define MAX_OPTIONS_TYPE 126
#define OFFLINE_METADATA "OfflineMemoryAllocation"

/* Builtin operator codes the reader checks or decodes options for. */
enum {
    OP_ADD = 0,
    OP_AVERAGE_POOL_2D = 1,
    OP_CONCATENATION = 2,
    OP_CONV_2D = 3,
    OP_DEPTHWISE_CONV_2D = 4,
    OP_FULLY_CONNECTED = 9,
    OP_L2_POOL_2D = 12,
    OP_MAX_POOL_2D = 17,
    OP_MUL = 18,
    OP_CUSTOM = 32,
    OP_SUB = 41,
    OP_PLACEHOLDER = 127,
};

/* ---------------------------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------------------------- */

static const char *const type_names[] = {
    "float32", "float16", "int32",      "uint8",  "int64",    "string",  "bool",
    "int16",   "complex64", "int8",     "float64", "complex128", "uint64", "resource",
    "variant", "uint32",  "uint16",     "int4",
};
#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

/* INT4 is held one value per byte once TFLM unpacks it; string, resource and variant have no
 * fixed element size. */
static const unsigned char type_sizes[N_TYPES] = {4, 2, 4, 1, 8, 0, 1, 2, 8, 1, 8, 16, 8, 0, 0, 4,
                                                  2, 1};

const char *fleet_tflite_type_name(int type)
{
    if (type < 0 || (size_t)type >= N_TYPES)
        return "unknown";
    return type_names[type];
}

size_t fleet_tflite_type_size(int type)
{
    if (type < 0 || (size_t)type >= N_TYPES)
        return 0;
    return type_sizes[type];
}

/* BuiltinOperator, 0..161, as schema.fbs spells it. */
static const char *const builtin_names[] = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
    "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC",
    "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE",
    "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS",
    "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN",
    "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV",
    "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN",
    "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST",
    "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL",
    "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE",
    "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN",
    "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND",
    "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE",
    "FILL", "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE",
    "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS",
    "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG",
    "ROUND", "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D",
    "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT",
    "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE",
    "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM",
    "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD",
    "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN",
    "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
};
#define N_BUILTINS (sizeof(builtin_names) / sizeof(builtin_names[0]))
_Static_assert(N_BUILTINS == 162, "BuiltinOperator names 0..161");

const char *fleet_tflite_builtin_name(int32_t builtin)
{
    if (builtin < 0 || (uint32_t)builtin >= N_BUILTINS)
        return NULL;
    return builtin_names[builtin];
}

const char *fleet_tflite_activation_name(int act)
{
    static const char *const names[] = {"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH",
                                        "SIGN_BIT"};
    if (act < 0 || (size_t)act >= sizeof(names) / sizeof(names[0]))
        return NULL;
    return names[act];
}

/* ---------------------------------------------------------------------------------------------
 * Bounds-checked primitives
 * ------------------------------------------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    uint64_t len;
    uint64_t tables;       /* tables opened so far */
    uint64_t elems;        /* vector elements copied so far */
    uint64_t elem_budget;
    char ctx[48];          /* the entity being read, prefixed to structural errors */
    char *err;
    size_t errlen;
    int nomem;
};

struct tbl {
    uint64_t pos;          /* the table object */
    uint64_t vt;           /* its vtable */
    uint32_t vt_bytes;
    uint32_t obj_bytes;
    int depth;
};

static int fail(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the message (with the current context as a prefix) and returns -1. */
static int fail(struct rd *r, const char *fmt, ...)
{
    if (r->err && r->errlen) {
        size_t n = 0;
        if (r->ctx[0]) {
            int k = snprintf(r->err, r->errlen, "%s: ", r->ctx);
            n = k < 0 ? 0 : (size_t)k;
        }
        if (n < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->errlen - n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int nomem(struct rd *r)
{
    r->nomem = 1;
    r->ctx[0] = '\0';
    return fail(r, "out of memory");
}

static void set_ctx(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_ctx(struct rd *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->ctx, sizeof(r->ctx), fmt, ap);
    va_end(ap);
}

/* 1 if [pos, pos+n) lies inside the file; no sum can overflow since pos <= len is tested first. */
static int in_file(const struct rd *r, uint64_t pos, uint64_t n)
{
    return pos <= r->len && n <= r->len - pos;
}

/* Little-endian loads; callers have checked the range. */
static uint64_t load_le(const struct rd *r, uint64_t pos, unsigned n)
{
    uint8_t b[8];
    uint64_t v = 0;
    memcpy(b, r->p + pos, n);
    for (unsigned i = n; i-- > 0;)
        v = (v << 8) | b[i];
    return v;
}

static uint16_t ld16(const struct rd *r, uint64_t pos)
{
    return (uint16_t)load_le(r, pos, 2);
}

static uint32_t ld32(const struct rd *r, uint64_t pos)
{
    return (uint32_t)load_le(r, pos, 4);
}

static int32_t ldi32(const struct rd *r, uint64_t pos)
{
    uint32_t u = ld32(r, pos);
    int32_t v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* Opens the table at pos and checks its header, its vtable and its object against the file. */
static int tbl_open(struct rd *r, uint64_t pos, int depth, struct tbl *t)
{
    if (depth > MAX_DEPTH)
        return fail(r, "tables nested deeper than %d", MAX_DEPTH);
    if (++r->tables > MAX_TABLES) {
        r->ctx[0] = '\0';
        return fail(r, "too much work: more than %u tables visited (offsets shared or cyclic?)",
                    MAX_TABLES);
    }
    if (!in_file(r, pos, 4))
        return fail(r, "table at %llu runs past the end of the file (%llu bytes)",
                    (unsigned long long)pos, (unsigned long long)r->len);
    int64_t so = ldi32(r, pos);
    int64_t vt = (int64_t)pos - so;
    if (vt < 0 || !in_file(r, (uint64_t)vt, 4))
        return fail(r, "table at %llu: vtable offset %lld points outside the file (%llu bytes)",
                    (unsigned long long)pos, (long long)so, (unsigned long long)r->len);
    t->pos = pos;
    t->vt = (uint64_t)vt;
    t->vt_bytes = ld16(r, t->vt);
    t->obj_bytes = ld16(r, t->vt + 2);
    t->depth = depth;
    if (t->vt_bytes < 4 || (t->vt_bytes & 1))
        return fail(r, "table at %llu: vtable at %llu has an invalid size of %u bytes "
                       "(must be even and at least 4)",
                    (unsigned long long)pos, (unsigned long long)t->vt, t->vt_bytes);
    if (!in_file(r, t->vt, t->vt_bytes))
        return fail(r, "table at %llu: vtable at %llu (%u bytes) runs past the end of the file "
                       "(%llu bytes)",
                    (unsigned long long)pos, (unsigned long long)t->vt, t->vt_bytes,
                    (unsigned long long)r->len);
    if (t->obj_bytes < 4)
        return fail(r, "table at %llu: object size %u is smaller than 4 bytes",
                    (unsigned long long)pos, t->obj_bytes);
    if (!in_file(r, pos, t->obj_bytes))
        return fail(r, "table at %llu: object of %u bytes runs past the end of the file "
                       "(%llu bytes)",
                    (unsigned long long)pos, t->obj_bytes, (unsigned long long)r->len);
    return 0;
}

/* Finds field id of size bytes: 1 and *pos if present, 0 if absent (default), -1 on error. */
static int field_at(struct rd *r, const struct tbl *t, unsigned id, const char *name,
                    unsigned size, uint64_t *pos)
{
    uint64_t slot = 4 + 2 * (uint64_t)id;
    if (slot >= t->vt_bytes)
        return 0;
    uint16_t off = ld16(r, t->vt + slot);
    if (off == 0)
        return 0;
    if ((uint64_t)off + size > t->obj_bytes)
        return fail(r, "field %s (%u byte%s at offset %u) lies outside the %u-byte table object",
                    name, size, size == 1 ? "" : "s", off, t->obj_bytes);
    *pos = t->pos + off;
    return 1;
}

static int get_u64(struct rd *r, const struct tbl *t, unsigned id, const char *name,
                   unsigned size, uint64_t dflt, uint64_t *out)
{
    uint64_t pos;
    int rc = field_at(r, t, id, name, size, &pos);
    if (rc < 0)
        return -1;
    *out = rc ? load_le(r, pos, size) : dflt;
    return 0;
}

/* A signed field of size bytes, sign-extended. */
static int get_i64(struct rd *r, const struct tbl *t, unsigned id, const char *name,
                   unsigned size, int64_t dflt, int64_t *out)
{
    uint64_t u;
    if (get_u64(r, t, id, name, size, (uint64_t)dflt, &u) < 0)
        return -1;
    if (size < 8 && (u >> (8 * size - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * size);
    memcpy(out, &u, sizeof(*out));
    return 0;
}

/* Follows reference field id: 1 and *target, 0 if absent, -1 on error. */
static int get_ref(struct rd *r, const struct tbl *t, unsigned id, const char *name,
                   uint64_t *target)
{
    uint64_t f;
    int rc = field_at(r, t, id, name, 4, &f);
    if (rc <= 0)
        return rc;
    uint64_t tg = f + ld32(r, f);
    if (!in_file(r, tg, 4))
        return fail(r, "field %s points past the end of the file (to %llu, file %llu bytes)",
                    name, (unsigned long long)tg, (unsigned long long)r->len);
    *target = tg;
    return 1;
}

struct vec {
    uint32_t count;
    uint64_t elems;   /* position of element 0 */
    int present;
};

/* The vector at pos (pos+4 is in the file): its count must fit the rest of the file. */
static int vec_at(struct rd *r, uint64_t pos, unsigned esize, const char *name, struct vec *v)
{
    uint32_t n = ld32(r, pos);
    if ((uint64_t)n > (r->len - pos - 4) / esize)
        return fail(r, "%s: vector of %u elements of %u bytes at %llu does not fit in the file "
                       "(%llu bytes)",
                    name, n, esize, (unsigned long long)pos, (unsigned long long)r->len);
    v->count = n;
    v->elems = pos + 4;
    v->present = 1;
    return 0;
}

/* Vector field id; an absent field reads as an empty vector with present = 0. */
static int get_vec(struct rd *r, const struct tbl *t, unsigned id, const char *name,
                   unsigned esize, struct vec *v)
{
    uint64_t pos;
    memset(v, 0, sizeof(*v));
    int rc = get_ref(r, t, id, name, &pos);
    if (rc <= 0)
        return rc;
    return vec_at(r, pos, esize, name, v);
}

/* Opens element i of a vector of tables (each element is an offset relative to its own slot). */
static int vec_table(struct rd *r, const struct vec *v, uint32_t i, int depth, struct tbl *t)
{
    uint64_t slot = v->elems + 4 * (uint64_t)i;
    return tbl_open(r, slot + ld32(r, slot), depth, t);
}

/* String field id: its bytes must fit and end in a NUL. */
static int get_str(struct rd *r, const struct tbl *t, unsigned id, const char *name,
                   uint64_t *pos, uint32_t *slen)
{
    uint64_t p;
    int rc = get_ref(r, t, id, name, &p);
    if (rc <= 0)
        return rc;
    uint32_t n = ld32(r, p);
    if ((uint64_t)n + 1 > r->len - p - 4)
        return fail(r, "field %s: string of %u bytes at %llu runs past the end of the file "
                       "(%llu bytes)",
                    name, n, (unsigned long long)p, (unsigned long long)r->len);
    if (r->p[p + 4 + n] != '\0')
        return fail(r, "field %s: string at %llu is not NUL-terminated", name,
                    (unsigned long long)p);
    *pos = p + 4;
    *slen = n;
    return 1;
}

/* Counts copied vector elements against the budget that keeps aliased vectors bounded. */
static int charge(struct rd *r, uint64_t n)
{
    r->elems += n;
    if (r->elems > r->elem_budget) {
        r->ctx[0] = '\0';
        return fail(r, "too much work: more than %llu vector elements in a %llu-byte file "
                       "(vectors shared?)",
                    (unsigned long long)r->elem_budget, (unsigned long long)r->len);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The model being built
 * ------------------------------------------------------------------------------------------- */

struct impl {
    struct fleet_tflite_model pub;   /* first, so the public pointer is the allocation */
    struct fleet_tflite_tensor *tensors;
    struct fleet_tflite_op *ops;
    uint64_t *buffer_bytes;
    int32_t *offline;
    int32_t *pool;                   /* every index array: op inputs/outputs, subgraph io */
    size_t pool_len, pool_cap;
};

/* Appends the int32 vector v to the pool; *at receives its start (pointers are fixed up at the
 * end because the pool may move). */
static int pool_add(struct rd *r, struct impl *m, const struct vec *v, size_t *at)
{
    if (charge(r, v->count) < 0)
        return -1;
    if (m->pool_len + v->count > m->pool_cap) {
        size_t cap = m->pool_cap ? m->pool_cap : 64;
        while (cap < m->pool_len + v->count)
            cap *= 2;
        int32_t *p = realloc(m->pool, cap * sizeof(*p));
        if (!p)
            return nomem(r);
        m->pool = p;
        m->pool_cap = cap;
    }
    *at = m->pool_len;
    for (uint32_t i = 0; i < v->count; i++)
        m->pool[m->pool_len++] = ldi32(r, v->elems + 4 * (uint64_t)i);
    return 0;
}

/* An array in the pool; NULL while the pool is empty (no offset may be added to NULL). */
static const int32_t *pool_ptr(const struct impl *m, size_t at)
{
    return m->pool ? m->pool + at : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Schema tables
 * ------------------------------------------------------------------------------------------- */

struct opcodes {
    uint32_t n;
    int32_t *builtin;
};

/* Model.operator_codes: builtin = max(builtin_code, deprecated_builtin_code). */
static int read_opcodes(struct rd *r, const struct tbl *model, struct opcodes *oc)
{
    struct vec v;
    set_ctx(r, "model");
    if (get_vec(r, model, 1, "operator_codes", 4, &v) < 0)
        return -1;
    oc->n = v.count;
    if (!v.count)
        return 0;
    oc->builtin = calloc(v.count, sizeof(*oc->builtin));
    if (!oc->builtin)
        return nomem(r);
    for (uint32_t i = 0; i < v.count; i++) {
        struct tbl t;
        int64_t deprecated, builtin;
        uint64_t spos;
        uint32_t slen;
        set_ctx(r, "operator code %u", i);
        if (vec_table(r, &v, i, model->depth + 1, &t) < 0 ||
            get_i64(r, &t, 0, "deprecated_builtin_code", 1, 0, &deprecated) < 0 ||
            get_str(r, &t, 1, "custom_code", &spos, &slen) < 0 ||
            get_i64(r, &t, 3, "builtin_code", 4, 0, &builtin) < 0)
            return -1;
        uint64_t unused;
        if (field_at(r, &t, 2, "version", 4, &unused) < 0)
            return -1;
        if (deprecated == OP_PLACEHOLDER && builtin == 0)
            return fail(r, "deprecated_builtin_code 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) "
                           "without a builtin_code");
        if (deprecated < 0 || builtin < 0)
            return fail(r, "negative builtin code %lld",
                        (long long)(deprecated < 0 ? deprecated : builtin));
        int64_t code = builtin > deprecated ? builtin : deprecated;
        oc->builtin[i] = (int32_t)code;
    }
    return 0;
}

/* Model.buffers: the size of each buffer's data, inline or (for >2 GB models) at an absolute
 * file offset. want is the buffer whose data position the caller needs (the offline plan). */
static int read_buffers(struct rd *r, const struct tbl *model, struct impl *m, int64_t want,
                        uint64_t *want_pos)
{
    struct vec v;
    set_ctx(r, "model");
    if (get_vec(r, model, 4, "buffers", 4, &v) < 0)
        return -1;
    m->pub.n_buffers = v.count;
    if (!v.count)
        return 0;
    m->buffer_bytes = calloc(v.count, sizeof(*m->buffer_bytes));
    if (!m->buffer_bytes)
        return nomem(r);
    for (uint32_t i = 0; i < v.count; i++) {
        struct tbl t;
        struct vec data;
        uint64_t offset, size;
        set_ctx(r, "buffer %u", i);
        if (vec_table(r, &v, i, model->depth + 1, &t) < 0 ||
            get_vec(r, &t, 0, "data", 1, &data) < 0 ||
            get_u64(r, &t, 1, "offset", 8, 0, &offset) < 0 ||
            get_u64(r, &t, 2, "size", 8, 0, &size) < 0)
            return -1;
        uint64_t pos = data.elems;
        if (data.present) {
            m->buffer_bytes[i] = data.count;
        } else if (offset > 1) {
            if (!in_file(r, offset, size))
                return fail(r, "external data (offset %llu, size %llu) runs past the end of "
                               "the file (%llu bytes)",
                            (unsigned long long)offset, (unsigned long long)size,
                            (unsigned long long)r->len);
            m->buffer_bytes[i] = size;
            pos = offset;
        }
        if ((int64_t)i == want)
            *want_pos = pos;
    }
    return 0;
}

/* Model.metadata: the index of the OfflineMemoryAllocation buffer, or -1. */
static int find_offline(struct rd *r, const struct tbl *model, int64_t *buffer)
{
    struct vec v;
    *buffer = -1;
    set_ctx(r, "model");
    if (get_vec(r, model, 6, "metadata", 4, &v) < 0)
        return -1;
    for (uint32_t i = 0; i < v.count; i++) {
        struct tbl t;
        uint64_t name, buf;
        uint32_t nlen;
        set_ctx(r, "metadata %u", i);
        int rc;
        if (vec_table(r, &v, i, model->depth + 1, &t) < 0 ||
            (rc = get_str(r, &t, 0, "name", &name, &nlen)) < 0 ||
            get_u64(r, &t, 1, "buffer", 4, 0, &buf) < 0)
            return -1;
        if (*buffer < 0 && rc && nlen == strlen(OFFLINE_METADATA) &&
            memcmp(r->p + name, OFFLINE_METADATA, nlen) == 0)
            *buffer = (int64_t)buf;
    }
    return 0;
}

/* The OfflineMemoryAllocation buffer: int32 LE [version, subgraphs, count, offsets...]. */
static int read_offline(struct rd *r, struct impl *m, int64_t buffer, uint64_t pos)
{
    set_ctx(r, "metadata " OFFLINE_METADATA);
    if ((uint64_t)buffer >= m->pub.n_buffers)
        return fail(r, "buffer index %lld out of range (%u buffers)", (long long)buffer,
                    m->pub.n_buffers);
    uint64_t bytes = m->buffer_bytes[buffer];
    if (bytes < 12)
        return fail(r, "buffer %lld holds %llu bytes, less than the 12-byte header",
                    (long long)buffer, (unsigned long long)bytes);
    int32_t version = ldi32(r, pos), nsub = ldi32(r, pos + 4), count = ldi32(r, pos + 8);
    if (version != 1)
        return fail(r, "version %d (expected 1)", version);
    if (nsub < 1)
        return fail(r, "subgraph count %d (expected at least 1)", nsub);
    if (count < 0 || (uint64_t)count > (bytes - 12) / 4)
        return fail(r, "declares %d offsets but buffer %lld holds room for %llu",
                    count, (long long)buffer, (unsigned long long)((bytes - 12) / 4));
    /* One offset per tensor of subgraph 0 (TFLM's check); with several subgraphs the offsets of
     * subgraph 0 come first. */
    uint32_t nt = m->pub.n_tensors;
    if (nsub == 1 ? (uint32_t)count != nt : (uint32_t)count < nt)
        return fail(r, "%d offsets for the %u tensors of subgraph 0", count, nt);
    if (!nt)
        return 0;
    if (charge(r, nt) < 0)
        return -1;
    m->offline = malloc(nt * sizeof(*m->offline));
    if (!m->offline)
        return nomem(r);
    for (uint32_t i = 0; i < nt; i++) {
        int32_t off = ldi32(r, pos + 12 + 4 * (uint64_t)i);
        if (off < -1)
            return fail(r, "tensor %u: offset %d (must be -1 or at least 0)", i, off);
        m->offline[i] = off;
    }
    m->pub.n_offline = nt;
    m->pub.offline_offsets = m->offline;
    return 0;
}

static int read_quantization(struct rd *r, const struct tbl *tensor, uint32_t idx,
                             struct fleet_tflite_tensor *out)
{
    uint64_t pos;
    struct tbl q;
    struct vec mn, mx, scale, zp;
    uint64_t unused;
    int rc = get_ref(r, tensor, 4, "quantization", &pos);
    if (rc <= 0)
        return rc;
    set_ctx(r, "tensor %u quantization", idx);
    if (tbl_open(r, pos, tensor->depth + 1, &q) < 0 || get_vec(r, &q, 0, "min", 4, &mn) < 0 ||
        get_vec(r, &q, 1, "max", 4, &mx) < 0 || get_vec(r, &q, 2, "scale", 4, &scale) < 0 ||
        get_vec(r, &q, 3, "zero_point", 8, &zp) < 0 ||
        field_at(r, &q, 6, "quantized_dimension", 4, &unused) < 0)
        return -1;
    set_ctx(r, "tensor %u", idx);
    if (scale.count && zp.count) {
        /* TFLM copies zero_point[i] for every scale; TFLite insists the counts match. */
        if (scale.count != zp.count)
            return fail(r, "quantization has %u scales but %u zero points", scale.count,
                        zp.count);
        out->quant_channels = scale.count;
    }
    return 0;
}

static int read_tensor(struct rd *r, const struct vec *v, uint32_t i, int depth,
                       const struct impl *m, struct fleet_tflite_tensor *out)
{
    struct tbl t;
    struct vec shape, sig;
    int64_t type;
    uint64_t buffer, is_var, spos, unused;
    uint32_t slen;

    set_ctx(r, "tensor %u", i);
    if (vec_table(r, v, i, depth, &t) < 0 || get_vec(r, &t, 0, "shape", 4, &shape) < 0 ||
        get_i64(r, &t, 1, "type", 1, 0, &type) < 0 ||
        get_u64(r, &t, 2, "buffer", 4, 0, &buffer) < 0 ||
        get_str(r, &t, 3, "name", &spos, &slen) < 0 ||
        get_u64(r, &t, 5, "is_variable", 1, 0, &is_var) < 0 ||
        get_vec(r, &t, 7, "shape_signature", 4, &sig) < 0 ||
        field_at(r, &t, 6, "sparsity", 4, &unused) < 0)
        return -1;
    if (shape.count > FLEET_TFLITE_MAX_RANK)
        return fail(r, "rank %u exceeds the supported %d", shape.count, FLEET_TFLITE_MAX_RANK);
    if (charge(r, shape.count) < 0)
        return -1;
    out->rank = shape.count;
    for (uint32_t d = 0; d < shape.count; d++) {
        int32_t dim = ldi32(r, shape.elems + 4 * (uint64_t)d);
        if (dim < 0)
            return fail(r, "shape dimension %u is %d", d, dim);
        out->shape[d] = dim;
    }
    out->type = (int)type;
    if (buffer >= m->pub.n_buffers)
        return fail(r, "buffer index %llu out of range (%u buffers)", (unsigned long long)buffer,
                    m->pub.n_buffers);
    out->buffer = (uint32_t)buffer;
    out->is_variable = is_var != 0;
    return read_quantization(r, &t, i, out);
}

/* The fused activation (and depth multiplier) from an operator's builtin options. */
static int read_options(struct rd *r, const struct tbl *op, struct fleet_tflite_op *out)
{
    uint64_t type, pos;
    int want, act_field;

    switch (out->builtin) {
    case OP_CONV_2D: want = 1, act_field = 3; break;
    case OP_DEPTHWISE_CONV_2D: want = 2, act_field = 4; break;
    case OP_AVERAGE_POOL_2D:
    case OP_MAX_POOL_2D:
    case OP_L2_POOL_2D: want = 5, act_field = 5; break;
    case OP_FULLY_CONNECTED: want = 8, act_field = 0; break;
    case OP_CONCATENATION: want = 10, act_field = 1; break;
    case OP_ADD: want = 11, act_field = 0; break;
    case OP_MUL: want = 21, act_field = 0; break;
    case OP_SUB: want = 28, act_field = 0; break;
    default: want = 0, act_field = -1; break;
    }
    /* Absent or mismatched options leave TFLM's params zeroed: activation NONE. */
    out->activation = want ? 0 : -1;

    if (get_u64(r, op, 3, "builtin_options_type", 1, 0, &type) < 0)
        return -1;
    int rc = get_ref(r, op, 4, "builtin_options", &pos);
    if (rc < 0)
        return -1;
    if (!rc || type == 0 || type > MAX_OPTIONS_TYPE)
        return 0;
    struct tbl t;
    if (tbl_open(r, pos, op->depth + 1, &t) < 0)
        return -1;
    if ((int)type != want)
        return 0;
    int64_t act;
    if (get_i64(r, &t, (unsigned)act_field, "fused_activation_function", 1, 0, &act) < 0)
        return -1;
    out->activation = (int)act;
    if (out->builtin == OP_DEPTHWISE_CONV_2D) {
        int64_t dm;
        if (get_i64(r, &t, 3, "depth_multiplier", 4, 0, &dm) < 0)
            return -1;
        out->depth_multiplier = (int32_t)dm;
    }
    return 0;
}

static int check_index(struct rd *r, const char *what, uint32_t k, int32_t t, uint32_t n,
                       int optional)
{
    if (t < (optional ? -1 : 0) || t >= (int64_t)n)
        return fail(r, "%s %u: tensor index %d out of range (%u tensors)", what, k, t, n);
    return 0;
}

/* The rank checks the analysis relies on before it indexes shapes. */
static int check_op_shapes(struct rd *r, const struct impl *m, const struct fleet_tflite_op *op)
{
    const char *name = fleet_tflite_builtin_name(op->builtin);
    int conv = op->builtin == OP_CONV_2D || op->builtin == OP_DEPTHWISE_CONV_2D;
    if (!conv && op->builtin != OP_FULLY_CONNECTED)
        return 0;
    const char *wname = conv ? "filter" : "weights";
    uint32_t wrank = conv ? 4 : 2;
    if (op->n_inputs < 2 || op->inputs[1] < 0)
        return fail(r, "%s has no %s input", name, wname);
    uint32_t rank = m->tensors[op->inputs[1]].rank;
    if (rank != wrank)
        return fail(r, "%s %s tensor %d has rank %u, expected %u", name, wname, op->inputs[1],
                    rank, wrank);
    if (!conv)
        return 0;
    if (op->n_outputs < 1 || op->outputs[0] < 0)
        return fail(r, "%s has no output", name);
    rank = m->tensors[op->outputs[0]].rank;
    if (rank != 4)
        return fail(r, "%s output tensor %d has rank %u, expected 4", name, op->outputs[0], rank);
    return 0;
}

static int read_subgraph(struct rd *r, const struct vec *subgraphs, int depth, struct impl *m,
                         const struct opcodes *oc)
{
    struct tbl g;
    struct vec tv, iv, ov, opv;
    size_t in_at = 0, out_at = 0, *at = NULL;
    int rc = -1;

    set_ctx(r, "subgraph 0");
    if (vec_table(r, subgraphs, 0, depth, &g) < 0 || get_vec(r, &g, 0, "tensors", 4, &tv) < 0 ||
        get_vec(r, &g, 1, "inputs", 4, &iv) < 0 || get_vec(r, &g, 2, "outputs", 4, &ov) < 0 ||
        get_vec(r, &g, 3, "operators", 4, &opv) < 0)
        return -1;
    uint64_t spos;
    uint32_t slen;
    if (get_str(r, &g, 4, "name", &spos, &slen) < 0)
        return -1;

    uint32_t nt = tv.count;
    if (nt) {
        m->tensors = calloc(nt, sizeof(*m->tensors));
        if (!m->tensors)
            return nomem(r);
    }
    m->pub.n_tensors = nt;
    for (uint32_t i = 0; i < nt; i++)
        if (read_tensor(r, &tv, i, g.depth + 1, m, &m->tensors[i]) < 0)
            return -1;

    if (pool_add(r, m, &iv, &in_at) < 0 || pool_add(r, m, &ov, &out_at) < 0)
        return -1;
    m->pub.n_inputs = iv.count;
    m->pub.n_outputs = ov.count;
    r->ctx[0] = '\0';
    for (uint32_t k = 0; k < iv.count; k++)
        if (check_index(r, "subgraph input", k, m->pool[in_at + k], nt, 0) < 0)
            return -1;
    for (uint32_t k = 0; k < ov.count; k++)
        if (check_index(r, "subgraph output", k, m->pool[out_at + k], nt, 0) < 0)
            return -1;

    uint32_t nops = opv.count;
    if (nops) {
        m->ops = calloc(nops, sizeof(*m->ops));
        at = calloc(2 * (size_t)nops, sizeof(*at));
        if (!m->ops || !at) {
            nomem(r);
            goto out;
        }
    }
    m->pub.n_ops = nops;
    for (uint32_t i = 0; i < nops; i++) {
        struct tbl t;
        struct vec ins, outs;
        uint64_t opcode;
        struct fleet_tflite_op *op = &m->ops[i];
        set_ctx(r, "operator %u", i);
        if (vec_table(r, &opv, i, g.depth + 1, &t) < 0 ||
            get_u64(r, &t, 0, "opcode_index", 4, 0, &opcode) < 0 ||
            get_vec(r, &t, 1, "inputs", 4, &ins) < 0 || get_vec(r, &t, 2, "outputs", 4, &outs) < 0)
            goto out;
        if (opcode >= oc->n) {
            fail(r, "opcode_index %llu out of range (%u operator codes)",
                 (unsigned long long)opcode, oc->n);
            goto out;
        }
        op->builtin = oc->builtin[opcode];
        op->custom = op->builtin == OP_CUSTOM;
        if (read_options(r, &t, op) < 0 || pool_add(r, m, &ins, &at[2 * i]) < 0 ||
            pool_add(r, m, &outs, &at[2 * i + 1]) < 0)
            goto out;
        op->n_inputs = ins.count;
        op->n_outputs = outs.count;
        for (uint32_t k = 0; k < ins.count; k++)
            if (check_index(r, "input", k, m->pool[at[2 * i] + k], nt, 1) < 0)
                goto out;
        for (uint32_t k = 0; k < outs.count; k++)
            if (check_index(r, "output", k, m->pool[at[2 * i + 1] + k], nt, 1) < 0)
                goto out;
    }

    /* The pool no longer moves: point the arrays into it. */
    m->pub.inputs = pool_ptr(m, in_at);
    m->pub.outputs = pool_ptr(m, out_at);
    for (uint32_t i = 0; i < nops; i++) {
        m->ops[i].inputs = pool_ptr(m, at[2 * i]);
        m->ops[i].outputs = pool_ptr(m, at[2 * i + 1]);
        set_ctx(r, "operator %u", i);
        if (check_op_shapes(r, m, &m->ops[i]) < 0)
            goto out;
    }
    rc = 0;
out:
    free(at);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------- */

void fleet_tflite_free(struct fleet_tflite_model *pub)
{
    struct impl *m = (struct impl *)pub;
    if (!m)
        return;
    free(m->tensors);
    free(m->ops);
    free(m->buffer_bytes);
    free(m->offline);
    free(m->pool);
    free(m);
}

static int parse(struct rd *r, struct impl *m)
{
    struct tbl model;
    struct opcodes oc = {0, NULL};
    struct vec subgraphs;
    uint64_t offline_pos = 0, version, spos;
    uint32_t slen;
    int64_t offline_buf;
    int rc = -1;

    if (r->len < 8)
        return fail(r, "file too short: %llu bytes (a TFLite file has at least 8)",
                    (unsigned long long)r->len);
    if (memcmp(r->p + 4, "TFL3", 4) != 0)
        return fail(r, "not a TFLite file: identifier is not TFL3");
    uint32_t root = ld32(r, 0);
    if (!in_file(r, root, 4))
        return fail(r, "root table offset %u points past the end of the file (%llu bytes)",
                    root, (unsigned long long)r->len);
    set_ctx(r, "model");
    if (tbl_open(r, root, 1, &model) < 0 ||
        get_u64(r, &model, 0, "version", 4, 0, &version) < 0)
        return -1;
    m->pub.version = (uint32_t)version;
    int has_desc = get_str(r, &model, 3, "description", &spos, &slen);
    if (has_desc < 0)
        return -1;
    if (has_desc) {
        size_t n = slen < sizeof(m->pub.description) - 1 ? slen : sizeof(m->pub.description) - 1;
        memcpy(m->pub.description, r->p + spos, n);
        m->pub.description[n] = '\0';
    }

    if (read_opcodes(r, &model, &oc) < 0 || find_offline(r, &model, &offline_buf) < 0 ||
        read_buffers(r, &model, m, offline_buf, &offline_pos) < 0)
        goto out;

    set_ctx(r, "model");
    if (get_vec(r, &model, 2, "subgraphs", 4, &subgraphs) < 0)
        goto out;
    if (!subgraphs.count) {
        fail(r, "no subgraphs");
        goto out;
    }
    m->pub.n_subgraphs = subgraphs.count;
    if (read_subgraph(r, &subgraphs, model.depth + 1, m, &oc) < 0)
        goto out;
    for (uint32_t i = 1; i < subgraphs.count; i++) {
        struct tbl g;
        set_ctx(r, "subgraph %u", i);
        if (vec_table(r, &subgraphs, i, model.depth + 1, &g) < 0)
            goto out;
    }
    if (offline_buf >= 0 && read_offline(r, m, offline_buf, offline_pos) < 0)
        goto out;
    rc = 0;
out:
    free(oc.builtin);
    return rc;
}

enum fleet_err fleet_tflite_parse(const uint8_t *data, size_t len, struct fleet_tflite_model **out,
                                  char *err, size_t errlen)
{
    struct rd r;
    memset(&r, 0, sizeof(r));
    r.p = data;
    r.len = len;
    /* An honest file holds at most len/4 int32 elements; 4x that tolerates writers that share
     * identical vectors while keeping hostile aliasing linear in the input. */
    r.elem_budget = (uint64_t)len + 64;
    r.err = err;
    r.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    *out = NULL;
    if (!data && len) {
        fail(&r, "no data");
        return FLEET_ERR_INVAL;
    }

    struct impl *m = calloc(1, sizeof(*m));
    if (!m) {
        nomem(&r);
        return FLEET_ERR_NOMEM;
    }
    if (parse(&r, m) < 0) {
        fleet_tflite_free(&m->pub);
        return r.nomem ? FLEET_ERR_NOMEM : FLEET_ERR_INVAL;
    }
    m->pub.tensors = m->tensors;
    m->pub.ops = m->ops;
    m->pub.buffer_bytes = m->buffer_bytes;
    *out = &m->pub;
    return FLEET_OK;
}
