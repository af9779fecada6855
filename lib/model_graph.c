/* SPDX-License-Identifier: MIT */
/* Model metadata validation and the model's triples; see model_graph.h and ontology/README.md
 * for the shape (it follows the paper's knowledge graph so its case-study queries run
 * unchanged). Every node is an IRI under the model's IRI, so a model graph is self-contained and
 * replacing or deleting it leaves nothing behind. */
#include "model_graph.h"

#include <jansson.h>
#include <nettle/sha2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define RDFS "http://www.w3.org/2000/01/rdf-schema#"
#define XSD "http://www.w3.org/2001/XMLSchema#"
#define SCHEMA "https://schema.org/"
#define NNET "http://tinyml-schema.org/networkschema#"
#define SSN "http://www.w3.org/ns/ssn/"
#define SSNS "http://www.w3.org/ns/ssn/systems/"
#define SOSA "http://www.w3.org/ns/sosa/"
#define S3N "http://w3id.org/s3n/"
#define S3NX "http://tinyml-schema.org/s3n_extend/"
#define SOSAX "http://tinyml-schema.org/sosa_extend/"
#define SSNX "http://tinyml-schema.org/ssn_extend/"
#define OM "http://www.ontology-of-units-of-measure.org/resource/om-2/"

/* ---- vocabulary ------------------------------------------------------------------------------ */

enum fleet_err fleet_vocab_load(struct fleet_store *st, struct fleet_vocab *v, char *err,
                                size_t errlen)
{
    memset(v, 0, sizeof(*v));
    if (fleet_store_ontology_subjects(st, RDF "type", NNET "NetworkCategory", &v->categories) <= 0 ||
        fleet_store_ontology_subjects(st, RDFS "subClassOf", NNET "Metric", &v->metrics) <= 0 ||
        fleet_store_ontology_subjects(st, RDFS "subClassOf", SOSA "Sensor", &v->sensors) <= 0) {
        snprintf(err, errlen, "the ontology graph lacks the model vocabulary (categories, metric "
                              "types, sensor types): check ontology_dir");
        fleet_vocab_free(v);
        return FLEET_ERR_INVAL;
    }
    v->op_types = fleet_store_ontology_codes(st, FLEET_NS "tfliteBuiltinOperator", 256);
    v->activations = fleet_store_ontology_codes(st, FLEET_NS "tfliteActivation", 16);
    v->dtypes = fleet_store_ontology_codes(st, FLEET_NS "tfliteTensorType", 32);
    if (!v->op_types || !v->activations || !v->dtypes) {
        snprintf(err, errlen, "out of memory");
        fleet_vocab_free(v);
        return FLEET_ERR_NOMEM;
    }
    return FLEET_OK;
}

void fleet_vocab_free(struct fleet_vocab *v)
{
    fleet_strv_free(v->categories);
    fleet_strv_free(v->metrics);
    fleet_strv_free(v->sensors);
    fleet_strv_free_n(v->op_types, 256);
    fleet_strv_free_n(v->activations, 16);
    fleet_strv_free_n(v->dtypes, 32);
    memset(v, 0, sizeof(*v));
}

static const char *local_name(const char *iri)
{
    const char *h = strrchr(iri, '#'), *s = strrchr(iri, '/');
    const char *p = h > s ? h : s;
    return p ? p + 1 : iri;
}

/* The IRI in list whose local name is name, or NULL. */
static const char *vocab_find(char **list, const char *name)
{
    for (char **p = list; p && *p; p++)
        if (strcmp(local_name(*p), name) == 0)
            return *p;
    return NULL;
}

static void allowed_list(char **list, char *out, size_t len)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    for (char **p = list; p && *p; p++)
        fleet_buf_printf(&b, "%s%s", p == list ? "" : ", ", local_name(*p));
    snprintf(out, len, "%s", b.data ? b.data : "");
    fleet_buf_free(&b);
}

/* ---- metadata --------------------------------------------------------------------------------- */

void fleet_model_meta_free(struct fleet_model_meta *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->description);
    free(m->creator);
    free(m->date_created);
    free(m->citation);
    free(m->training_dataset);
    free(m->runtime_platform);
    free(m->sensor_info);
    free(m->input_info);
    free(m->output_info);
    free(m->category);
    free(m->metric_type);
    fleet_strv_free(m->sensors);
    free(m);
}

#define META_MAX_STRING 4096

/* Copies an optional string member. Returns -1 (with field/err set) if present but not a string
 * or too long. */
static int opt_string(json_t *obj, const char *key, char **out, int required, char *field,
                      size_t fieldlen, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        snprintf(field, fieldlen, "%s", key);
        snprintf(err, errlen, "%s is required", key);
        return -1;
    }
    if (!json_is_string(v) || json_string_length(v) > META_MAX_STRING ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(field, fieldlen, "%s", key);
        snprintf(err, errlen, "%s must be a string of at most %d bytes without NUL", key,
                 META_MAX_STRING);
        return -1;
    }
    if (required && json_string_length(v) == 0) {
        snprintf(field, fieldlen, "%s", key);
        snprintf(err, errlen, "%s must not be empty", key);
        return -1;
    }
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

enum fleet_err fleet_model_meta_parse(const char *json, size_t len, const struct fleet_vocab *v,
                                      struct fleet_model_meta **out, char *field,
                                      size_t fieldlen, char *err, size_t errlen)
{
    static const char *const known[] = {"name",        "description",     "category",
                                        "creator",     "dateCreated",     "citation",
                                        "trainingDataset", "runtimePlatform", "metric",
                                        "sensors",     "sensorInfo",      "inputInfo",
                                        "outputInfo",  NULL};
    json_error_t jerr;
    char allowed[2048];
    struct fleet_model_meta *m = NULL;
    enum fleet_err rc = FLEET_ERR_INVAL;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    *out = NULL;
    field[0] = '\0';
    if (!root || !json_is_object(root)) {
        snprintf(field, fieldlen, "metadata");
        if (root)
            snprintf(err, errlen, "metadata must be a JSON object");
        else
            snprintf(err, errlen, "metadata is not JSON: line %d: %s", jerr.line, jerr.text);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        int ok = 0;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            /* an empty key names no field: blame the document */
            snprintf(field, fieldlen, "%s", key[0] ? key : "metadata");
            snprintf(err, errlen, "unknown metadata field \"%s\" (known: name, description, "
                                  "category, creator, dateCreated, citation, trainingDataset, "
                                  "runtimePlatform, metric, sensors, sensorInfo, inputInfo, "
                                  "outputInfo)", key);
            goto out;
        }
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    char *category = NULL;
    if (opt_string(root, "name", &m->name, 1, field, fieldlen, err, errlen) ||
        opt_string(root, "description", &m->description, 0, field, fieldlen, err, errlen) ||
        opt_string(root, "creator", &m->creator, 0, field, fieldlen, err, errlen) ||
        opt_string(root, "dateCreated", &m->date_created, 0, field, fieldlen, err, errlen) ||
        opt_string(root, "citation", &m->citation, 0, field, fieldlen, err, errlen) ||
        opt_string(root, "trainingDataset", &m->training_dataset, 0, field, fieldlen, err,
                   errlen) ||
        opt_string(root, "runtimePlatform", &m->runtime_platform, 0, field, fieldlen, err,
                   errlen) ||
        opt_string(root, "sensorInfo", &m->sensor_info, 0, field, fieldlen, err, errlen) ||
        opt_string(root, "inputInfo", &m->input_info, 0, field, fieldlen, err, errlen) ||
        opt_string(root, "outputInfo", &m->output_info, 0, field, fieldlen, err, errlen) ||
        opt_string(root, "category", &category, 1, field, fieldlen, err, errlen))
        goto out;
    const char *cat = vocab_find(v->categories, category);
    if (!cat) {
        allowed_list(v->categories, allowed, sizeof(allowed));
        snprintf(field, fieldlen, "category");
        snprintf(err, errlen, "unknown category \"%s\"; allowed: %s", category, allowed);
        free(category);
        goto out;
    }
    free(category);
    m->category = strdup(cat);
    if (m->date_created) {
        int y, mo, d;
        char tail;
        if (sscanf(m->date_created, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) != 3 || mo < 1 ||
            mo > 12 || d < 1 || d > 31 || strlen(m->date_created) != 10) {
            snprintf(field, fieldlen, "dateCreated");
            snprintf(err, errlen, "dateCreated must be a date YYYY-MM-DD");
            goto out;
        }
    }
    json_t *metric = json_object_get(root, "metric");
    if (metric && !json_is_null(metric)) {
        json_t *type = json_object_get(metric, "type"), *value = json_object_get(metric, "value");
        const char *mt;
        if (!json_is_object(metric) || !json_is_string(type)) {
            snprintf(field, fieldlen, "metric.type");
            snprintf(err, errlen, "metric must be an object {\"type\": string, \"value\": number}");
            goto out;
        }
        if (!(mt = vocab_find(v->metrics, json_string_value(type)))) {
            allowed_list(v->metrics, allowed, sizeof(allowed));
            snprintf(field, fieldlen, "metric.type");
            snprintf(err, errlen, "unknown metric type \"%s\"; allowed: %s",
                     json_string_value(type), allowed);
            goto out;
        }
        if (!json_is_number(value) || !isfinite(json_number_value(value))) {
            snprintf(field, fieldlen, "metric.value");
            snprintf(err, errlen, "metric.value must be a finite number");
            goto out;
        }
        m->metric_type = strdup(mt);
        m->metric_value = json_number_value(value);
    }
    json_t *sensors = json_object_get(root, "sensors");
    size_t ns = sensors && json_is_array(sensors) ? json_array_size(sensors) : 0;
    if (sensors && !json_is_null(sensors) && (!json_is_array(sensors) || ns > 64)) {
        snprintf(field, fieldlen, "sensors");
        snprintf(err, errlen, "sensors must be an array of at most 64 sensor types");
        goto out;
    }
    m->sensors = calloc(ns + 1, sizeof(char *));
    if (!m->sensors || !m->category) {
        rc = FLEET_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < ns; i++) {
        json_t *s = json_array_get(sensors, i);
        const char *iri = json_is_string(s) ? vocab_find(v->sensors, json_string_value(s)) : NULL;
        if (!iri) {
            allowed_list(v->sensors, allowed, sizeof(allowed));
            snprintf(field, fieldlen, "sensors[%zu]", i);
            snprintf(err, errlen, "unknown sensor type %s%s%s; allowed: %s",
                     json_is_string(s) ? "\"" : "", json_is_string(s) ? json_string_value(s) : "(not a string)",
                     json_is_string(s) ? "\"" : "", allowed);
            goto out;
        }
        if (!(m->sensors[i] = strdup(iri))) {
            rc = FLEET_ERR_NOMEM;
            goto out;
        }
    }
    *out = m;
    m = NULL;
    rc = FLEET_OK;
out:
    fleet_model_meta_free(m);
    json_decref(root);
    return rc;
}

/* ---- IRIs and triples ------------------------------------------------------------------------ */

void fleet_model_id(const char *sha256, const char *name, char id[17])
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(sha256) + 1, (const uint8_t *)sha256);
    sha256_update(&ctx, strlen(name), (const uint8_t *)name);
    sha256_digest(&ctx, sizeof(digest), digest);
    for (int i = 0; i < 8; i++)
        snprintf(id + 2 * i, 3, "%02x", digest[i]);
}

void fleet_model_graph_iri(const char *id, char *buf, size_t len)
{
    snprintf(buf, len, FLEET_MODEL_GRAPH_BASE "%s", id);
}

void fleet_model_iri(const char *id, char *buf, size_t len)
{
    snprintf(buf, len, FLEET_MODEL_IRI_BASE "%s", id);
}

struct writer {
    struct fleet_txn *txn;
    const char *graph;
    enum fleet_err rc;
};

static void put(struct writer *w, const char *s, const char *p, const struct fleet_term *o)
{
    if (w->rc != FLEET_OK)
        return;
    struct fleet_term q[4] = {{FLEET_TERM_IRI, s, NULL, NULL},
                              {FLEET_TERM_IRI, p, NULL, NULL},
                              *o,
                              {FLEET_TERM_IRI, w->graph, NULL, NULL}};
    w->rc = fleet_txn_add(w->txn, q);
}

static void put_iri(struct writer *w, const char *s, const char *p, const char *o)
{
    struct fleet_term t = {FLEET_TERM_IRI, o, NULL, NULL};
    if (o)
        put(w, s, p, &t);
}

static void put_str(struct writer *w, const char *s, const char *p, const char *v)
{
    struct fleet_term t = {FLEET_TERM_LITERAL, v, NULL, NULL};
    if (v)
        put(w, s, p, &t);
}

static void put_typed(struct writer *w, const char *s, const char *p, const char *v,
                      const char *dt)
{
    struct fleet_term t = {FLEET_TERM_LITERAL, v, NULL, dt};
    put(w, s, p, &t);
}

static void put_u64(struct writer *w, const char *s, const char *p, uint64_t v)
{
    char num[32];
    snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
    put_typed(w, s, p, num, XSD "integer");
}

/* A byte count in kB (1000 bytes), exact to the byte, as xsd:decimal. */
static void put_kb(struct writer *w, const char *s, const char *p, uint64_t bytes)
{
    char num[48];
    snprintf(num, sizeof(num), "%llu.%03llu", (unsigned long long)(bytes / 1000),
             (unsigned long long)(bytes % 1000));
    put_typed(w, s, p, num, XSD "decimal");
}

static void shape_text(const struct fleet_io *io, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (uint32_t i = 0; i < io->rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%d", i ? "," : "", io->shape[i]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
}

/* The ontology IRI for a TFLite dtype name ("int8" -> nnet:Int8 via the code table). */
static const char *dtype_iri(const struct fleet_vocab *v, const char *name)
{
    for (int code = 0; code < 32; code++)
        if (v->dtypes[code] && name && strcmp(fleet_tflite_type_name(code), name) == 0)
            return v->dtypes[code];
    return NULL;
}

static const char *op_iri(const struct fleet_vocab *v, const char *type)
{
    for (int code = 0; code < 256; code++) {
        const char *n = fleet_tflite_builtin_name(code);
        if (n && type && strcmp(n, type) == 0)
            return v->op_types[code];
    }
    return NULL;
}

static const char *act_iri(const struct fleet_vocab *v, const char *act)
{
    for (int code = 1; code < 16; code++) {
        const char *n = fleet_tflite_activation_name(code);
        if (n && act && strcmp(n, act) == 0)
            return v->activations[code];
    }
    return NULL;
}

enum fleet_err fleet_model_txn(const struct fleet_model_info *info,
                               const struct fleet_model_meta *meta, const struct fleet_vocab *v,
                               const char *id, const char *ram_profile, const char *document,
                               struct fleet_txn *txn)
{
    char graph[256], nn[256], node[320], sub[320], text[128];
    struct writer w = {txn, graph, FLEET_OK};
    struct fleet_term g = {FLEET_TERM_IRI, graph, NULL, NULL};

    fleet_model_graph_iri(id, graph, sizeof(graph));
    fleet_model_iri(id, nn, sizeof(nn));
    w.rc = fleet_txn_clear_graph(txn, &g);

    /* The network and its registration metadata. */
    put_iri(&w, nn, RDF "type", NNET "NeuralNetwork");
    put_str(&w, nn, SCHEMA "identifier", id);
    put_str(&w, nn, SCHEMA "name", meta->name);
    put_str(&w, nn, SCHEMA "description", meta->description);
    put_str(&w, nn, SCHEMA "creator", meta->creator);
    if (meta->date_created)
        put_typed(&w, nn, SCHEMA "dateCreated", meta->date_created, XSD "date");
    put_str(&w, nn, SCHEMA "citation", meta->citation);
    put_str(&w, nn, SCHEMA "runtimePlatform", meta->runtime_platform);
    if (meta->training_dataset) {
        /* An IRI when it is one (the paper's data links papers and data sets), else text. */
        if (strncmp(meta->training_dataset, "http://", 7) == 0 ||
            strncmp(meta->training_dataset, "https://", 8) == 0) {
            int clean = 1;
            for (const char *p = meta->training_dataset; *p; p++)
                clean &= *(const unsigned char *)p > 0x20 && !strchr("<>\"{}|^`\\", *p);
            if (clean)
                put_iri(&w, nn, NNET "trainingDataset", meta->training_dataset);
            else
                put_str(&w, nn, NNET "trainingDataset", meta->training_dataset);
        } else {
            put_str(&w, nn, NNET "trainingDataset", meta->training_dataset);
        }
    }
    put_iri(&w, nn, NNET "hasCategory", meta->category);
    if (meta->metric_type) {
        snprintf(node, sizeof(node), "%s/metric", nn);
        put_iri(&w, nn, NNET "hasMetric", node);
        put_iri(&w, node, RDF "type", NNET "Metric");
        put_iri(&w, node, RDF "type", meta->metric_type);
        /* The shortest text that reads back as the same double. */
        snprintf(text, sizeof(text), "%.15g", meta->metric_value);
        if (strtod(text, NULL) != meta->metric_value)
            snprintf(text, sizeof(text), "%.17g", meta->metric_value);
        put_typed(&w, node, NNET "hasMetricValue", text, XSD "double");
    }
    put_u64(&w, nn, NNET "hasMultiplyAccumulateOps", info->macs);

    /* Input, output, and the sensors that feed the input. */
    char input[320], output[320];
    snprintf(input, sizeof(input), "%s/input", nn);
    snprintf(output, sizeof(output), "%s/output", nn);
    put_iri(&w, nn, SSN "hasInput", input);
    put_iri(&w, input, RDF "type", NNET "NetworkInput");
    put_str(&w, input, NNET "hasInputInfo", meta->input_info);
    shape_text(&info->input, text, sizeof(text));
    put_str(&w, input, FLEET_NS "shape", text);
    put_iri(&w, input, FLEET_NS "dtype", dtype_iri(v, info->input.dtype));
    put_iri(&w, nn, SSN "hasOutput", output);
    put_iri(&w, output, RDF "type", NNET "NetworkOutput");
    put_str(&w, output, NNET "hasOutputInfo", meta->output_info);
    shape_text(&info->output, text, sizeof(text));
    put_str(&w, output, FLEET_NS "shape", text);
    put_iri(&w, output, FLEET_NS "dtype", dtype_iri(v, info->output.dtype));
    for (size_t i = 0; meta->sensors && meta->sensors[i]; i++) {
        snprintf(node, sizeof(node), "%s/sensor/%zu", nn, i);
        put_iri(&w, node, RDF "type", SOSA "Sensor");
        put_iri(&w, node, RDF "type", meta->sensors[i]);
        put_iri(&w, node, SSNX "provideInput", input);
        put_str(&w, node, SOSAX "hasSensorInfo", meta->sensor_info);
    }

    /* Layers. */
    for (size_t i = 0; i < info->n_layers; i++) {
        const struct fleet_layer *l = &info->layers[i];
        const char *rel = i == 0 ? NNET "inputLayer"
                          : i + 1 == info->n_layers ? NNET "outputLayer"
                                                    : NNET "middleLayer";
        snprintf(node, sizeof(node), "%s/layer/%u", nn, l->index);
        put_iri(&w, nn, rel, node);
        put_iri(&w, node, RDF "type", NNET "Layer");
        put_u64(&w, node, NNET "hasIndex", l->index);
        put_iri(&w, node, NNET "hasType", op_iri(v, l->type));
        put_str(&w, node, RDFS "label", l->type);
        if (l->activation && strcmp(l->activation, "NONE") != 0)
            put_iri(&w, node, NNET "hasActivation", act_iri(v, l->activation));
        put_iri(&w, node, NNET "hasQuantization", dtype_iri(v, l->dtype));
        put_u64(&w, node, FLEET_NS "macs", l->macs);
    }

    /* What the model needs: RAM (the arena under ram_profile) and flash, in kB, as the paper's
     * s3n:ProcedureFeatures, plus the exact figures under tinyfleet's own terms. */
    uint64_t ram = 0;
    for (size_t i = 0; i < info->n_arena; i++) {
        const struct fleet_arena *a = &info->arena[i].arena;
        snprintf(node, sizeof(node), "%s/arena/%s", nn, info->arena[i].profile);
        put_iri(&w, nn, FLEET_NS "arenaBytes", node);
        put_iri(&w, node, RDF "type", FLEET_NS "ArenaEstimate");
        put_str(&w, node, FLEET_NS "profile", info->arena[i].profile);
        put_u64(&w, node, FLEET_NS "bytes", a->total_bytes);
        if (strcmp(info->arena[i].profile, ram_profile) == 0)
            ram = a->total_bytes;
    }
    static const struct {
        const char *name, *cls;
    } needs[] = {{"ram", S3NX "RAM"}, {"flash", S3NX "Flash"}};
    for (size_t i = 0; i < 2; i++) {
        snprintf(node, sizeof(node), "%s/requirement/%s", nn, needs[i].name);
        snprintf(sub, sizeof(sub), "%s/requirement/%s/condition", nn, needs[i].name);
        put_iri(&w, nn, S3N "hasProcedureFeature", node);
        put_iri(&w, node, RDF "type", S3N "ProcedureFeature");
        put_iri(&w, node, SSNS "inCondition", sub);
        put_iri(&w, sub, RDF "type", needs[i].cls);
        put_kb(&w, sub, SCHEMA "minValue", i == 0 ? ram : info->flash_bytes);
        put_iri(&w, sub, SCHEMA "unitCode", OM "kilobyte");
    }
    put_u64(&w, nn, FLEET_NS "flashBytes", info->flash_bytes);
    put_str(&w, nn, FLEET_NS "sha256", info->sha256);
    put_u64(&w, nn, FLEET_NS "tensorCount", info->n_tensors);
    put_u64(&w, nn, FLEET_NS "operatorCount", info->n_ops);
    put_str(&w, nn, FLEET_NS "ramProfile", ram_profile);
    if (document)
        put_str(&w, nn, FLEET_NS "document", document);
    return w.rc;
}

char *fleet_model_document(const struct fleet_model_info *info, const char *id,
                           const char *meta_json, const char *ram_profile, time_t registered)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    json_t *doc = NULL, *meta = NULL;
    char *text = NULL;
    char created[32];
    struct tm tm;
    fleet_model_info_json(info, &b);
    if (b.oom)
        goto out;
    doc = json_loads(b.data, 0, NULL);
    meta = json_loads(meta_json, 0, NULL);
    if (!doc || !meta)
        goto out;
    json_object_update(doc, meta); /* metadata keys never collide with analysis keys */
    json_object_set_new(doc, "id", json_string(id));
    json_object_set_new(doc, "ram_profile", json_string(ram_profile));
    gmtime_r(&registered, &tm);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(doc, "registered", json_string(created));
    text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(doc);
    json_decref(meta);
    fleet_buf_free(&b);
    return text;
}
