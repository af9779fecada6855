/* SPDX-License-Identifier: MIT */
/* The test-side .tflite writer (see tflite_writer.h). Unlike the flatbuffers builder, which
 * writes back to front, this one appends front to back: a table is written with placeholder
 * reference slots, its children follow, and each slot is patched with the (always positive)
 * distance to its child. Each vtable directly precedes its table. Scalars are aligned to their
 * size and vectors of 8-byte elements to 8, as flatc would, though the reader does not care. */
#include "tflite_writer.h"

#include <stdlib.h>
#include <string.h>

struct out {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static void reserve(struct out *o, size_t n)
{
    if (o->oom || o->len + n <= o->cap)
        return;
    size_t cap = o->cap ? o->cap : 1024;
    while (cap < o->len + n)
        cap *= 2;
    uint8_t *p = realloc(o->p, cap);
    if (!p) {
        o->oom = 1;
        return;
    }
    o->p = p;
    o->cap = cap;
}

static size_t emit(struct out *o, const void *d, size_t n)
{
    size_t at = o->len;
    reserve(o, n);
    if (o->oom)
        return at;
    if (d)
        memcpy(o->p + o->len, d, n);
    else
        memset(o->p + o->len, 0, n);
    o->len += n;
    return at;
}

static void align(struct out *o, size_t a)
{
    while (o->len % a)
        emit(o, NULL, 1);
}

void tw_put16(uint8_t *p, size_t pos, uint16_t v)
{
    p[pos] = (uint8_t)v;
    p[pos + 1] = (uint8_t)(v >> 8);
}

void tw_put32(uint8_t *p, size_t pos, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[pos + i] = (uint8_t)(v >> (8 * i));
}

static void put(struct out *o, size_t pos, uint64_t v, int size)
{
    if (o->oom)
        return;
    for (int i = 0; i < size; i++)
        o->p[pos + i] = (uint8_t)(v >> (8 * i));
}

static size_t emit_u32(struct out *o, uint32_t v)
{
    size_t at = emit(o, NULL, 4);
    put(o, at, v, 4);
    return at;
}

/* Points the reference slot at target (which follows it). */
static void patch(struct out *o, size_t slot, size_t target)
{
    put(o, slot, (uint64_t)(target - slot), 4);
}

struct fld {
    int id;
    int size;       /* 1, 2, 4 or 8 */
    uint64_t val;   /* scalar value; references are patched later */
};

#define MAX_FIELDS 16

/* Writes a vtable and its table; slot[i] receives the position of field f[i]. Returns the
 * table position and, in *vt, the vtable's. */
static size_t table(struct out *o, const struct fld *f, int n, size_t *slot, size_t *vt)
{
    size_t off[MAX_FIELDS];
    int maxid = -1;
    size_t obj = 4;
    for (int i = 0; i < n; i++) {
        if (f[i].id > maxid)
            maxid = f[i].id;
        obj = (obj + (size_t)f[i].size - 1) / (size_t)f[i].size * (size_t)f[i].size;
        off[i] = obj;
        obj += (size_t)f[i].size;
    }
    obj = (obj + 3) / 4 * 4;
    size_t vbytes = 4 + 2 * (size_t)(maxid + 1);

    /* vtable, then padding so the table starts 8-aligned. */
    align(o, 2);
    size_t pad = (8 - (o->len + vbytes) % 8) % 8;
    size_t v = emit(o, NULL, pad + vbytes) + pad;
    put(o, v, vbytes, 2);
    put(o, v + 2, obj, 2);
    for (int i = 0; i < n; i++)
        put(o, v + 4 + 2 * (size_t)f[i].id, off[i], 2);
    size_t t = emit(o, NULL, obj);
    put(o, t, (uint64_t)(t - v), 4);
    for (int i = 0; i < n; i++) {
        put(o, t + off[i], f[i].val, f[i].size);
        if (slot)
            slot[i] = t + off[i];
    }
    if (vt)
        *vt = v;
    return t;
}

static size_t string(struct out *o, const char *s)
{
    align(o, 4);
    size_t n = strlen(s);
    size_t at = emit_u32(o, (uint32_t)n);
    emit(o, s, n + 1);
    return at;
}

static size_t vec_i32(struct out *o, const int32_t *v, uint32_t n)
{
    align(o, 4);
    size_t at = emit_u32(o, n);
    for (uint32_t i = 0; i < n; i++)
        emit_u32(o, (uint32_t)v[i]);
    return at;
}

/* A vector of n elements of esize bytes with deterministic contents (or bytes). */
static size_t vec_fill(struct out *o, uint32_t n, int esize, const uint8_t *bytes)
{
    int ea = esize < 4 ? 4 : esize;
    align(o, 4);
    while ((o->len + 4) % (size_t)ea)
        emit(o, NULL, 4);
    size_t at = emit_u32(o, n);
    size_t e = emit(o, NULL, (size_t)n * (size_t)esize);
    for (size_t i = 0; !o->oom && i < (size_t)n * (size_t)esize; i++)
        o->p[e + i] = bytes ? bytes[i] : (uint8_t)(i * 7 + 1);
    return at;
}

/* A vector of n table references; element i's slot is at return + 4 + 4 * i. */
static size_t vec_refs(struct out *o, uint32_t n)
{
    align(o, 4);
    size_t at = emit_u32(o, n);
    emit(o, NULL, 4 * (size_t)n);
    return at;
}

void tw_init(struct tw_model *m)
{
    memset(m, 0, sizeof(*m));
    m->version = 3;
    m->n_subgraphs = 1;
    m->n_buffers = 1;    /* buffer 0: the empty sentinel every converter writes */
    m->buffers[0].has_data = 0;
}

uint32_t tw_code(struct tw_model *m, int32_t builtin)
{
    for (uint32_t i = 0; i < m->n_codes; i++)
        if (m->codes[i].builtin == builtin && m->codes[i].has_builtin)
            return i;
    struct tw_opcode *c = &m->codes[m->n_codes];
    c->has_deprecated = 1;
    c->deprecated = (int8_t)(builtin < 127 ? builtin : 127);
    c->has_builtin = 1;
    c->builtin = builtin;
    return m->n_codes++;
}

int32_t tw_qtensor(struct tw_model *m, int type, int rank, const int32_t *shape,
                   uint32_t data_bytes, uint32_t channels)
{
    struct tw_tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof(*t));
    t->rank = rank;
    for (int i = 0; i < rank && i < TW_MAX_RANK; i++)
        t->shape[i] = shape[i];
    t->type = type;
    if (data_bytes) {
        struct tw_buffer *b = &m->buffers[m->n_buffers];
        memset(b, 0, sizeof(*b));
        b->has_data = 1;
        b->data_bytes = data_bytes;
        t->buffer = m->n_buffers++;
    }
    t->n_scale = t->n_zero_point = channels;
    return (int32_t)m->n_tensors++;
}

int32_t tw_tensor(struct tw_model *m, int type, int rank, const int32_t *shape,
                  uint32_t data_bytes)
{
    return tw_qtensor(m, type, rank, shape, data_bytes, 0);
}

/* The options union type and activation field id for builtin, 0 if it has none. */
static int options_of(int32_t builtin, int *act_field)
{
    switch (builtin) {
    case 3: *act_field = 3; return 1;              /* CONV_2D: Conv2DOptions */
    case 4: *act_field = 4; return 2;              /* DEPTHWISE_CONV_2D */
    case 1: case 12: case 17: *act_field = 5; return 5; /* pools: Pool2DOptions */
    case 9: *act_field = 0; return 8;              /* FULLY_CONNECTED */
    case 2: *act_field = 1; return 10;             /* CONCATENATION */
    case 0: *act_field = 0; return 11;             /* ADD */
    case 18: *act_field = 0; return 21;            /* MUL */
    case 41: *act_field = 0; return 28;            /* SUB */
    }
    *act_field = 0;
    return 0;
}

uint32_t tw_op(struct tw_model *m, int32_t builtin, int activation, uint32_t n_in,
               const int32_t *in, uint32_t n_out, const int32_t *out)
{
    struct tw_op *op = &m->ops[m->n_ops];
    memset(op, 0, sizeof(*op));
    op->opcode_index = tw_code(m, builtin);
    op->n_inputs = n_in;
    op->n_outputs = n_out;
    memcpy(op->inputs, in, n_in * sizeof(*in));
    memcpy(op->outputs, out, n_out * sizeof(*out));
    op->activation = -1;
    if (activation >= 0) {
        op->options_type = options_of(builtin, &op->act_field);
        op->options_table = op->options_type != 0;
        op->activation = activation;
    }
    return m->n_ops++;
}

static void write_tensor(struct out *o, const struct tw_tensor *t, size_t *pos, size_t *vt,
                         size_t *shape_pos)
{
    struct fld f[MAX_FIELDS];
    size_t slot[MAX_FIELDS];
    int n = 0, s_shape = -1, s_name = -1, s_quant = -1;
    if (t->rank >= 0)
        s_shape = n, f[n++] = (struct fld){0, 4, 0};
    f[n++] = (struct fld){1, 1, (uint64_t)(uint8_t)t->type};
    f[n++] = (struct fld){2, 4, t->buffer};
    if (t->name)
        s_name = n, f[n++] = (struct fld){3, 4, 0};
    if (t->n_scale || t->n_zero_point)
        s_quant = n, f[n++] = (struct fld){4, 4, 0};
    if (t->is_variable)
        f[n++] = (struct fld){5, 1, 1};
    *pos = table(o, f, n, slot, vt);
    *shape_pos = 0;
    if (s_shape >= 0) {
        size_t v = vec_i32(o, t->shape, (uint32_t)t->rank);
        patch(o, slot[s_shape], v);
        *shape_pos = v;
    }
    if (s_name >= 0)
        patch(o, slot[s_name], string(o, t->name));
    if (s_quant >= 0) {
        struct fld q[2] = {{2, 4, 0}, {3, 4, 0}};
        size_t qs[2];
        patch(o, slot[s_quant], table(o, q, 2, qs, NULL));
        patch(o, qs[0], vec_fill(o, t->n_scale, 4, NULL));
        patch(o, qs[1], vec_fill(o, t->n_zero_point, 8, NULL));
    }
}

static void write_op(struct out *o, const struct tw_op *op, size_t *pos, size_t *vt,
                     size_t *inputs, size_t *opt, size_t *opt_vt)
{
    struct fld f[MAX_FIELDS];
    size_t slot[MAX_FIELDS];
    int n = 0, s_opt = -1;
    f[n++] = (struct fld){0, 4, op->opcode_index};
    f[n++] = (struct fld){1, 4, 0};
    f[n++] = (struct fld){2, 4, 0};
    if (op->options_type)
        f[n++] = (struct fld){3, 1, (uint64_t)(uint8_t)op->options_type};
    if (op->options_table)
        s_opt = n, f[n++] = (struct fld){4, 4, 0};
    *pos = table(o, f, n, slot, vt);
    *inputs = vec_i32(o, op->inputs, op->n_inputs);
    patch(o, slot[1], *inputs);
    patch(o, slot[2], vec_i32(o, op->outputs, op->n_outputs));
    *opt = *opt_vt = 0;
    if (s_opt >= 0) {
        struct fld of[2];
        int k = 0;
        if (op->activation >= 0)
            of[k++] = (struct fld){op->act_field, 1, (uint64_t)(uint8_t)op->activation};
        if (op->depth_multiplier)
            of[k++] = (struct fld){3, 4, (uint64_t)(uint32_t)op->depth_multiplier};
        *opt = table(o, of, k, NULL, opt_vt);
        patch(o, slot[s_opt], *opt);
    }
}

uint8_t *tw_build(const struct tw_model *m, size_t *len, struct tw_layout *lay)
{
    struct out o = {NULL, 0, 0, 0};
    struct tw_layout local;
    struct fld f[MAX_FIELDS];
    size_t slot[MAX_FIELDS];
    int n = 0, s_codes, s_subgraphs = -1, s_desc = -1, s_buffers = -1, s_meta = -1;
    uint32_t n_buffers = m->n_buffers + (m->offline ? 1 : 0);
    uint32_t n_meta = (m->min_runtime_metadata ? 1 : 0) + (m->offline ? 1 : 0);

    if (!lay)
        lay = &local;
    memset(lay, 0, sizeof(*lay));

    size_t root = emit_u32(&o, 0);
    emit(&o, "TFL3", 4);

    f[n++] = (struct fld){0, 4, m->version};
    s_codes = n, f[n++] = (struct fld){1, 4, 0};
    if (!m->no_subgraphs)
        s_subgraphs = n, f[n++] = (struct fld){2, 4, 0};
    if (m->description)
        s_desc = n, f[n++] = (struct fld){3, 4, 0};
    if (!m->no_buffers)
        s_buffers = n, f[n++] = (struct fld){4, 4, 0};
    if (n_meta)
        s_meta = n, f[n++] = (struct fld){6, 4, 0};
    lay->model = table(&o, f, n, slot, &lay->model_vtable);
    patch(&o, root, lay->model);

    if (s_desc >= 0) {
        lay->description = string(&o, m->description);
        patch(&o, slot[s_desc], lay->description);
    }

    lay->opcodes_vec = vec_refs(&o, m->n_codes);
    patch(&o, slot[s_codes], lay->opcodes_vec);
    for (uint32_t i = 0; i < m->n_codes; i++) {
        const struct tw_opcode *c = &m->codes[i];
        struct fld cf[3];
        size_t cs[3];
        int k = 0, s_custom = -1;
        if (c->has_deprecated)
            cf[k++] = (struct fld){0, 1, (uint64_t)(uint8_t)c->deprecated};
        if (c->custom)
            s_custom = k, cf[k++] = (struct fld){1, 4, 0};
        if (c->has_builtin)
            cf[k++] = (struct fld){3, 4, (uint64_t)(uint32_t)c->builtin};
        lay->opcode[i] = table(&o, cf, k, cs, NULL);
        patch(&o, lay->opcodes_vec + 4 + 4 * i, lay->opcode[i]);
        if (s_custom >= 0)
            patch(&o, cs[s_custom], string(&o, c->custom));
    }

    if (s_subgraphs >= 0) {
        uint32_t ns = (uint32_t)(m->n_subgraphs < 0 ? 0 : m->n_subgraphs);
        lay->subgraphs_vec = vec_refs(&o, ns);
        patch(&o, slot[s_subgraphs], lay->subgraphs_vec);
        if (ns) {
            struct fld gf[4] = {{0, 4, 0}, {1, 4, 0}, {2, 4, 0}, {3, 4, 0}};
            size_t gs[4];
            lay->subgraph = table(&o, gf, 4, gs, &lay->subgraph_vtable);
            patch(&o, lay->subgraphs_vec + 4, lay->subgraph);
            lay->tensors_vec = vec_refs(&o, m->n_tensors);
            patch(&o, gs[0], lay->tensors_vec);
            for (uint32_t i = 0; i < m->n_tensors; i++) {
                write_tensor(&o, &m->tensors[i], &lay->tensor[i], &lay->tensor_vtable[i],
                             &lay->shape_vec[i]);
                patch(&o, lay->tensors_vec + 4 + 4 * i, lay->tensor[i]);
            }
            lay->inputs_vec = vec_i32(&o, m->inputs, m->n_inputs);
            patch(&o, gs[1], lay->inputs_vec);
            lay->outputs_vec = vec_i32(&o, m->outputs, m->n_outputs);
            patch(&o, gs[2], lay->outputs_vec);
            lay->operators_vec = vec_refs(&o, m->n_ops);
            patch(&o, gs[3], lay->operators_vec);
            for (uint32_t i = 0; i < m->n_ops; i++) {
                write_op(&o, &m->ops[i], &lay->op[i], &lay->op_vtable[i], &lay->op_inputs[i],
                         &lay->options[i], &lay->options_vtable[i]);
                patch(&o, lay->operators_vec + 4 + 4 * i, lay->op[i]);
            }
            for (uint32_t i = 1; i < ns; i++) {
                struct fld ef[1] = {{0, 4, 0}};
                size_t es[1];
                size_t g = table(&o, ef, 1, es, NULL);
                patch(&o, lay->subgraphs_vec + 4 + 4 * i, g);
                patch(&o, es[0], vec_refs(&o, 0));
            }
        }
    }

    if (s_buffers >= 0) {
        lay->buffers_vec = vec_refs(&o, n_buffers);
        patch(&o, slot[s_buffers], lay->buffers_vec);
        for (uint32_t i = 0; i < n_buffers; i++) {
            struct tw_buffer off;
            const struct tw_buffer *b = &off;
            if (i < m->n_buffers) {
                b = &m->buffers[i];
            } else {
                memset(&off, 0, sizeof(off));
                off.has_data = 1;
                off.data_bytes = 12 + 4 * m->n_offline;
            }
            struct fld bf[3];
            size_t bs[3];
            int k = 0;
            if (b->has_data)
                bf[k++] = (struct fld){0, 4, 0};
            if (b->offset) {
                bf[k++] = (struct fld){1, 8, b->offset};
                bf[k++] = (struct fld){2, 8, b->size};
            }
            lay->buffer[i] = table(&o, bf, k, bs, NULL);
            patch(&o, lay->buffers_vec + 4 + 4 * i, lay->buffer[i]);
            if (!b->has_data)
                continue;
            size_t v;
            if (i < m->n_buffers) {
                v = vec_fill(&o, b->data_bytes, 1, b->bytes);
            } else {
                int32_t words[3 + TW_MAX_TENSORS];
                memcpy(words, m->offline_header, sizeof(m->offline_header));
                memcpy(words + 3, m->offline_offsets, m->n_offline * sizeof(int32_t));
                uint8_t bytes[4 * (3 + TW_MAX_TENSORS)];
                for (uint32_t w = 0; w < 3 + m->n_offline; w++)
                    for (int k2 = 0; k2 < 4; k2++)
                        bytes[4 * w + (uint32_t)k2] = (uint8_t)((uint32_t)words[w] >> (8 * k2));
                v = vec_fill(&o, b->data_bytes, 1, bytes);
                lay->offline_data = v + 4;
            }
            patch(&o, bs[0], v);
        }
    }

    if (s_meta >= 0) {
        lay->metadata_vec = vec_refs(&o, n_meta);
        patch(&o, slot[s_meta], lay->metadata_vec);
        uint32_t k = 0;
        if (m->min_runtime_metadata) {
            struct fld mf[2] = {{0, 4, 0}, {1, 4, 0}};
            size_t ms[2];
            size_t t = table(&o, mf, 2, ms, NULL);
            patch(&o, lay->metadata_vec + 4 + 4 * k++, t);
            patch(&o, ms[0], string(&o, "min_runtime_version"));
        }
        if (m->offline) {
            struct fld mf[2] = {{0, 4, 0}, {1, 4, n_buffers - 1}};
            size_t ms[2];
            size_t t = table(&o, mf, 2, ms, NULL);
            patch(&o, lay->metadata_vec + 4 + 4 * k++, t);
            patch(&o, ms[0], string(&o, "OfflineMemoryAllocation"));
            lay->offline_buffer = ms[1];
        }
    }

    if (o.oom) {
        free(o.p);
        return NULL;
    }
    *len = o.len;
    return o.p;
}
