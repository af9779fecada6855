/* SPDX-License-Identifier: MIT */
/* A model as knowledge: the uploader's metadata (validated against the ontology's closed lists)
 * and the analysis of its .tflite file, written as the triples of the model's own named graph in
 * the shape of the paper's knowledge graph, so the paper's queries run unchanged. */
#ifndef FLEET_MODEL_GRAPH_H
#define FLEET_MODEL_GRAPH_H

#include <stddef.h>
#include <time.h>

#include "durable.h"
#include "err.h"
#include "model.h"
#include "store.h"

#define FLEET_MODEL_IRI_BASE "https://tinyfleet.dev/id/model/"
#define FLEET_MODEL_GRAPH_BASE "https://tinyfleet.dev/graph/model/"
#define FLEET_NS "https://tinyfleet.dev/ns#"

/* The closed lists and code tables, read from the ontology graph at start-up. */
struct fleet_vocab {
    char **categories;   /* IRIs of nnet:NetworkCategory individuals */
    char **metrics;      /* IRIs of the subclasses of nnet:Metric */
    char **sensors;      /* IRIs of the subclasses of sosa:Sensor */
    char **op_types;     /* [builtin code] -> nnet:LayerType IRI or NULL */
    char **activations;  /* [activation code] -> nnet:Activation IRI or NULL */
    char **dtypes;       /* [tensor type code] -> nnet:Quantization IRI or NULL */
};

/* Loads the lists; FLEET_ERR_INVAL with a message if a list is empty (no ontology loaded). */
enum fleet_err fleet_vocab_load(struct fleet_store *st, struct fleet_vocab *v, char *err,
                                size_t errlen);
void fleet_vocab_free(struct fleet_vocab *v);

/* The registration metadata of ../shared/tinyml-kg/models/NAME.json. Strings are new. */
struct fleet_model_meta {
    char *name, *description, *creator, *date_created, *citation, *training_dataset,
        *runtime_platform, *sensor_info, *input_info, *output_info;
    char *category;      /* IRI from the vocabulary */
    char *metric_type;   /* IRI from the vocabulary, or NULL */
    double metric_value;
    char **sensors;      /* IRIs, NULL-terminated */
};

/* Parses and validates metadata JSON. On error returns FLEET_ERR_INVAL with the offending field
 * (e.g. "category", "sensors[1]") in field and a message that, for closed lists, names the
 * allowed values. */
enum fleet_err fleet_model_meta_parse(const char *json, size_t len, const struct fleet_vocab *v,
                                      struct fleet_model_meta **out, char *field,
                                      size_t fieldlen, char *err, size_t errlen);
void fleet_model_meta_free(struct fleet_model_meta *m);

/* The model id, written into id[17]: the first 16 hex digits of sha256(file sha256 hex, NUL,
 * name). A registration is a file under a name: the same file under the same name again is the
 * same model (409), while two models may share a file (the paper's fleet has two names for one
 * keyword-spotting file). */
void fleet_model_id(const char *sha256, const char *name, char id[17]);

/* Adds to txn: clear the model's graph, then every triple of the model (see ontology/README.md),
 * including `fleet:document` holding document (the JSON the REST API returns, verbatim).
 * ram_profile names the arena profile whose estimate becomes the RAM requirement. */
enum fleet_err fleet_model_txn(const struct fleet_model_info *info,
                               const struct fleet_model_meta *meta, const struct fleet_vocab *v,
                               const char *id, const char *ram_profile, const char *document,
                               struct fleet_txn *txn);

/* The model's JSON document, as the REST API returns it and fleet:document keeps it: the analysis
 * (fleet_model_info_json) plus the metadata as uploaded (meta_json, already validated), id,
 * ram_profile and the registration time. New string; NULL on ENOMEM or unparsable input. */
char *fleet_model_document(const struct fleet_model_info *info, const char *id,
                           const char *meta_json, const char *ram_profile, time_t registered);

/* The model's graph and node IRIs for id, written into buf. */
void fleet_model_graph_iri(const char *id, char *buf, size_t len);
void fleet_model_iri(const char *id, char *buf, size_t len);

#endif
