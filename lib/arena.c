/* SPDX-License-Identifier: MIT */
/* The TFLM arena estimate of ../shared/reference/ARENA_ALGORITHM.md: the greedy memory planner
 * (greedy_memory_planner.cc) over the non-persistent tensors of subgraph 0 gives the head, and a
 * replay of the persistent allocations that MicroAllocator and the reference kernels make from
 * the arena's tail, in TFLM's order, gives the tail. A profile is the set of struct sizes and
 * alignments of one TFLM build on one pointer width; the two profiles reproduce the 23 seed
 * models byte for byte (x86-64) and a gcc -m32 build of the same TFLM (ILP32). All arithmetic
 * is in 64 bits with overflow checks; the planner is quadratic in the number of planned tensors,
 * so that number is capped. */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TFLM's kBufferAlignment: planned buffers, OpData and variable tensors are 16-aligned. */
#define BUFFER_ALIGN 16
/* Above this many planned tensors the O(n^2) planner would be the slow part of an upload. */
#define MAX_PLANNED 16384

struct profile {
    const char *name;
    uint32_t ptr_align;        /* alignof of the pointer-carrying structs */
    uint32_t simple_allocator; /* SimpleMemoryAllocator object */
    uint32_t micro_allocator;  /* MicroAllocator object */
    uint32_t tensor;           /* TfLiteTensor */
    uint32_t affine_quant;     /* TfLiteAffineQuantization */
    uint32_t node_and_reg;     /* NodeAndRegistration */
    uint32_t opdata_conv, opdata_dw, opdata_fc, opdata_quantize, opdata_dequantize;
};

static const struct profile profiles[] = {
    {FLEET_ARENA_PROFILE_X86_64, 8, 48, 48, 112, 24, 80, 48, 48, 20, 8, 8},
    {FLEET_ARENA_PROFILE_ILP32, 4, 24, 24, 64, 12, 40, 40, 40, 20, 8, 8},
};
#define N_PROFILES (sizeof(profiles) / sizeof(profiles[0]))

static const char *const profile_names[] = {FLEET_ARENA_PROFILE_X86_64, FLEET_ARENA_PROFILE_ILP32,
                                            NULL};

static const char caveat[] =
    "TFLM of Sept. 2020 with reference kernels: optimized kernels (CMSIS-NN, Xtensa, Ethos-U) "
    "request scratch buffers, other TFLM versions and kernels keep other persistent data, and "
    "an arena that does not start 16-aligned needs up to 16 more bytes";

/* Builtin operator codes with kernel-specific persistent data. */
enum {
    OP_CONV_2D = 3,
    OP_DEPTHWISE_CONV_2D = 4,
    OP_DEQUANTIZE = 6,
    OP_FULLY_CONNECTED = 9,
    OP_QUANTIZE = 114,
};

/* The builtin params struct flatbuffer_conversions.cc allocates for an operator (TF 2.3
 * builtin_op_data.h; all-int structs, so the same on both pointer widths); 0 = none. */
struct params {
    int32_t builtin;
    uint8_t size, align;
};

static const struct params params_table[] = {
    {0, 4, 4},    /* ADD: TfLiteAddParams */
    {1, 40, 4},   /* AVERAGE_POOL_2D: TfLitePoolParams */
    {2, 8, 4},    /* CONCATENATION */
    {3, 24, 4},   /* CONV_2D */
    {4, 28, 4},   /* DEPTHWISE_CONV_2D */
    {5, 4, 4},    /* DEPTH_TO_SPACE */
    {9, 12, 4},   /* FULLY_CONNECTED */
    {11, 4, 4},   /* L2_NORMALIZATION */
    {12, 40, 4},  /* L2_POOL_2D */
    {13, 16, 4},  /* LOCAL_RESPONSE_NORMALIZATION */
    {17, 40, 4},  /* MAX_POOL_2D */
    {18, 4, 4},   /* MUL */
    {22, 36, 4},  /* RESHAPE: shape[8] + num_dimensions */
    {23, 2, 1},   /* RESIZE_BILINEAR */
    {25, 4, 4},   /* SOFTMAX */
    {26, 4, 4},   /* SPACE_TO_DEPTH */
    {27, 12, 4},  /* SVDF */
    {36, 4, 4},   /* GATHER */
    {40, 1, 1},   /* MEAN: TfLiteReducerParams */
    {41, 4, 4},   /* SUB */
    {42, 4, 4},   /* DIV */
    {43, 36, 4},  /* SQUEEZE */
    {45, 20, 4},  /* STRIDED_SLICE */
    {49, 4, 4},   /* SPLIT */
    {53, 8, 4},   /* CAST */
    {56, 4, 4},   /* ARG_MAX */
    {67, 12, 4},  /* TRANSPOSE_CONV */
    {74, 1, 1},   /* SUM */
    {77, 4, 4},   /* SHAPE */
    {79, 4, 4},   /* ARG_MIN */
    {80, 16, 4},  /* FAKE_QUANT */
    {81, 1, 1},   /* REDUCE_PROD */
    {82, 1, 1},   /* REDUCE_MAX */
    {83, 8, 4},   /* PACK */
    {88, 8, 4},   /* UNPACK */
    {89, 1, 1},   /* REDUCE_MIN */
    {91, 1, 1},   /* REDUCE_ANY */
    {97, 2, 1},   /* RESIZE_NEAREST_NEIGHBOR */
    {98, 4, 4},   /* LEAKY_RELU */
    {100, 4, 4},  /* MIRROR_PAD */
    {102, 4, 4},  /* SPLIT_V */
};

const char *const *fleet_arena_profiles(void)
{
    return profile_names;
}

static const struct profile *find_profile(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < N_PROFILES; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

int fleet_arena_profile_known(const char *name)
{
    return find_profile(name) != NULL;
}

static enum fleet_err fail(char *err, size_t errlen, enum fleet_err rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum fleet_err fail(char *err, size_t errlen, enum fleet_err rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* align_up(v, a) for a power of two, 0 on overflow (v itself is never 0 when that matters). */
static int align_up(uint64_t v, uint64_t a, uint64_t *out)
{
    if (v > UINT64_MAX - (a - 1))
        return -1;
    *out = (v + a - 1) & ~(a - 1);
    return 0;
}

/* Bytes a tensor occupies: prod(shape) (a scalar is 1 element) times the element size. */
static int tensor_bytes(const struct fleet_tflite_tensor *t, uint64_t *out)
{
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->rank && d < FLEET_TFLITE_MAX_RANK; d++) {
        uint64_t dim = t->shape[d] < 0 ? 0 : (uint64_t)t->shape[d];
        if (dim && n > UINT64_MAX / dim)
            return -1;
        n *= dim;
    }
    uint64_t size = fleet_tflite_type_size(t->type);
    if (size && n > UINT64_MAX / size)
        return -1;
    *out = n * size;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Head: the greedy planner
 * ------------------------------------------------------------------------------------------- */

struct plan_buf {
    uint64_t size;      /* aligned */
    int64_t first, last;
    int64_t offline;    /* fixed offset, or -1 */
    uint64_t offset;
    uint32_t tensor;
    int32_t next;       /* next in offset order, -1 = end */
};

/* Online buffers go largest first; TFLM's stable bubble sort over a list built in reverse
 * tensor order breaks ties by the higher tensor index. */
static int by_size_desc(const void *a, const void *b)
{
    const struct plan_buf *x = *(const struct plan_buf *const *)a;
    const struct plan_buf *y = *(const struct plan_buf *const *)b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->tensor > y->tensor ? -1 : x->tensor < y->tensor;
}

static int overlaps(const struct plan_buf *a, const struct plan_buf *b)
{
    return !(a->last < b->first || b->last < a->first);
}

/* Places every buffer (GreedyMemoryPlanner::CalculateOffsetsIfNeeded) and returns the peak. */
static uint64_t greedy_plan(struct plan_buf *bufs, struct plan_buf **order, size_t n)
{
    size_t head = 0, tail = n;
    for (size_t i = 0; i < n; i++) {
        if (bufs[i].offline >= 0)
            order[head++] = &bufs[i];
        else
            order[--tail] = &bufs[i];
    }
    qsort(order + head, n - head, sizeof(*order), by_size_desc);

    /* bufs[] index of the first entry of the offset-ordered list. */
    int32_t first = (int32_t)(order[0] - bufs);
    order[0]->offset = order[0]->offline >= 0 ? (uint64_t)order[0]->offline : 0;
    order[0]->next = -1;
    for (size_t i = 1; i < n; i++) {
        struct plan_buf *w = order[i];
        uint64_t cand = 0;
        if (w->offline >= 0) {
            cand = (uint64_t)w->offline;
        } else {
            for (int32_t e = first; e >= 0; e = bufs[e].next) {
                const struct plan_buf *b = &bufs[e];
                if (!overlaps(b, w))
                    continue;
                if (b->offset >= cand && b->offset - cand >= w->size)
                    break;
                if (b->offset + b->size > cand)
                    cand = b->offset + b->size;
            }
        }
        w->offset = cand;
        int32_t self = (int32_t)(w - bufs);
        if (bufs[first].offset > cand) {
            w->next = first;
            first = self;
        } else {
            int32_t e = first;
            while (bufs[e].next >= 0 && bufs[bufs[e].next].offset <= cand)
                e = bufs[e].next;
            w->next = bufs[e].next;
            bufs[e].next = self;
        }
    }
    uint64_t peak = 0;
    for (size_t i = 0; i < n; i++)
        if (bufs[i].offset + bufs[i].size > peak)
            peak = bufs[i].offset + bufs[i].size;
    return peak;
}

/* ---------------------------------------------------------------------------------------------
 * Tail: persistent allocations
 * ------------------------------------------------------------------------------------------- */

struct tail {
    uint64_t used;
    int overflow;
};

/* SimpleMemoryAllocator::AllocateFromTail with a 16-aligned arena end. */
static void tail_alloc(struct tail *t, uint64_t size, uint64_t align)
{
    if (t->overflow || size > UINT64_MAX - t->used ||
        align_up(t->used + size, align, &t->used) < 0)
        t->overflow = 1;
}

static const struct params *builtin_params(int32_t builtin)
{
    for (size_t i = 0; i < sizeof(params_table) / sizeof(params_table[0]); i++)
        if (params_table[i].builtin == builtin)
            return &params_table[i];
    return NULL;
}

/* The tensor a kernel reads its channel count from, or -1. */
static int32_t weight_tensor(const struct fleet_tflite_op *op)
{
    return op->n_inputs >= 2 ? op->inputs[1] : -1;
}

static enum fleet_err persistent(const struct fleet_tflite_model *m, const struct profile *p,
                                 const uint64_t *bytes, uint64_t *out, char *err, size_t errlen)
{
    struct tail t = {0, 0};

    tail_alloc(&t, p->simple_allocator, p->ptr_align);
    tail_alloc(&t, p->micro_allocator, p->ptr_align);
    tail_alloc(&t, (uint64_t)p->tensor * m->n_tensors, p->ptr_align);
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        if (!m->tensors[i].quant_channels)
            continue;
        tail_alloc(&t, p->affine_quant, p->ptr_align);
        tail_alloc(&t, 4 + 4 * (uint64_t)m->tensors[i].quant_channels, 4);
    }
    tail_alloc(&t, (uint64_t)p->node_and_reg * m->n_ops, p->ptr_align);
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const struct params *bp = m->ops[i].custom ? NULL : builtin_params(m->ops[i].builtin);
        if (bp)
            tail_alloc(&t, bp->size, bp->align);
    }
    /* Init: each kernel's OpData. */
    for (uint32_t i = 0; i < m->n_ops; i++) {
        uint32_t size = 0;
        switch (m->ops[i].builtin) {
        case OP_CONV_2D: size = p->opdata_conv; break;
        case OP_DEPTHWISE_CONV_2D: size = p->opdata_dw; break;
        case OP_FULLY_CONNECTED: size = p->opdata_fc; break;
        case OP_QUANTIZE: size = p->opdata_quantize; break;
        case OP_DEQUANTIZE: size = p->opdata_dequantize; break;
        }
        if (size)
            tail_alloc(&t, size, BUFFER_ALIGN);
    }
    /* Prepare: conv and depthwise keep a per-channel multiplier and shift. */
    for (uint32_t i = 0; i < m->n_ops; i++) {
        const struct fleet_tflite_op *op = &m->ops[i];
        if (op->builtin != OP_CONV_2D && op->builtin != OP_DEPTHWISE_CONV_2D)
            continue;
        int32_t w = weight_tensor(op);
        if (w < 0 || (uint32_t)w >= m->n_tensors || m->tensors[w].rank != 4)
            return fail(err, errlen, FLEET_ERR_INVAL,
                        "operator %u: %s filter is not a rank-4 tensor", i,
                        fleet_tflite_builtin_name(op->builtin));
        int32_t ch = m->tensors[w].shape[op->builtin == OP_CONV_2D ? 0 : 3];
        uint64_t arr = 4 * (uint64_t)(ch < 0 ? 0 : ch);
        tail_alloc(&t, arr, BUFFER_ALIGN);
        tail_alloc(&t, arr, BUFFER_ALIGN);
    }
    /* After planning: variable tensors. */
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].is_variable)
            tail_alloc(&t, bytes[i], BUFFER_ALIGN);
    if (t.overflow)
        return fail(err, errlen, FLEET_ERR_TOOBIG, "persistent allocations overflow 64 bits");
    *out = t.used;
    return FLEET_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The estimate
 * ------------------------------------------------------------------------------------------- */

enum fleet_err fleet_arena_estimate(const struct fleet_tflite_model *m, const char *profile,
                                    struct fleet_arena *out, char *err, size_t errlen)
{
    const struct profile *p = find_profile(profile);
    uint64_t *bytes = NULL;
    int64_t *first = NULL, *last = NULL;
    struct plan_buf *bufs = NULL;
    struct plan_buf **order = NULL;
    enum fleet_err rc = FLEET_OK;
    uint32_t n = m ? m->n_tensors : 0;

    memset(out, 0, sizeof(*out));
    out->caveat = caveat;
    if (err && errlen)
        err[0] = '\0';
    if (!p)
        return fail(err, errlen, FLEET_ERR_INVAL, "unknown arena profile \"%.64s\"",
                    profile ? profile : "(null)");
    if (!m)
        return fail(err, errlen, FLEET_ERR_INVAL, "no model");

    size_t alloc_n = n ? n : 1;
    bytes = calloc(alloc_n, sizeof(*bytes));
    first = malloc(alloc_n * sizeof(*first));
    last = malloc(alloc_n * sizeof(*last));
    bufs = calloc(alloc_n, sizeof(*bufs));
    order = calloc(alloc_n, sizeof(*order));
    if (!bytes || !first || !last || !bufs || !order) {
        rc = fail(err, errlen, FLEET_ERR_NOMEM, "out of memory");
        goto out;
    }

    for (uint32_t i = 0; i < n; i++) {
        if (tensor_bytes(&m->tensors[i], &bytes[i]) < 0) {
            rc = fail(err, errlen, FLEET_ERR_TOOBIG, "tensor %u: byte size overflows 64 bits", i);
            goto out;
        }
        first[i] = last[i] = -1;
    }

    /* Lifetimes (AllocationInfoBuilder::AddTensors). */
    int64_t nops = m->n_ops;
    for (uint32_t k = 0; k < m->n_inputs; k++)
        if (m->inputs[k] >= 0 && (uint32_t)m->inputs[k] < n)
            first[m->inputs[k]] = 0;
    for (uint32_t k = 0; k < m->n_outputs; k++)
        if (m->outputs[k] >= 0 && (uint32_t)m->outputs[k] < n)
            last[m->outputs[k]] = nops - 1;
    for (int64_t i = nops - 1; i >= 0; i--) {
        const struct fleet_tflite_op *op = &m->ops[i];
        for (uint32_t k = 0; k < op->n_inputs; k++) {
            int32_t t = op->inputs[k];
            if (t >= 0 && (uint32_t)t < n && (last[t] == -1 || last[t] < i))
                last[t] = i;
        }
        for (uint32_t k = 0; k < op->n_outputs; k++) {
            int32_t t = op->outputs[k];
            if (t >= 0 && (uint32_t)t < n && (first[t] == -1 || first[t] > i))
                first[t] = i;
        }
    }

    size_t nb = 0;
    int offline_used = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct fleet_tflite_tensor *t = &m->tensors[i];
        int has_data = t->buffer < m->n_buffers && m->buffer_bytes[t->buffer] > 0;
        if (has_data || t->is_variable)
            continue;
        if (first[i] == -1 && last[i] != -1)
            continue; /* read-only: TFLM does not plan it */
        if (first[i] == -1 || last[i] == -1) {
            rc = fail(err, errlen, FLEET_ERR_INVAL,
                      "tensor %u has an invalid lifetime (first written by operator %lld, last "
                      "read by operator %lld): TFLM cannot plan it",
                      i, (long long)first[i], (long long)last[i]);
            goto out;
        }
        if (nb == MAX_PLANNED) {
            rc = fail(err, errlen, FLEET_ERR_TOOBIG,
                      "more than %d tensors to plan: beyond the planner's limit", MAX_PLANNED);
            goto out;
        }
        struct plan_buf *b = &bufs[nb++];
        if (align_up(bytes[i], BUFFER_ALIGN, &b->size) < 0) {
            rc = fail(err, errlen, FLEET_ERR_TOOBIG, "tensor %u: byte size overflows 64 bits", i);
            goto out;
        }
        b->first = first[i];
        b->last = last[i];
        b->tensor = i;
        b->offline = -1;
        if (m->offline_offsets && i < m->n_offline && m->offline_offsets[i] >= 0) {
            b->offline = m->offline_offsets[i];
            offline_used = 1;
        }
        /* Offsets and sizes below 2^62 keep every sum in the planner exact. */
        if (b->size > (UINT64_C(1) << 62)) {
            rc = fail(err, errlen, FLEET_ERR_TOOBIG, "tensor %u: %llu bytes is too large", i,
                      (unsigned long long)b->size);
            goto out;
        }
    }
    uint64_t head = nb ? greedy_plan(bufs, order, nb) : 0;

    uint64_t tail = 0;
    rc = persistent(m, p, bytes, &tail, err, errlen);
    if (rc != FLEET_OK)
        goto out;
    if (head > UINT64_MAX - tail) {
        rc = fail(err, errlen, FLEET_ERR_TOOBIG, "arena size overflows 64 bits");
        goto out;
    }
    out->head_bytes = head;
    out->tail_bytes = tail;
    out->total_bytes = head + tail;
    out->offline_planned = offline_used;
out:
    free(bytes);
    free(first);
    free(last);
    free(bufs);
    free(order);
    return rc;
}
