/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the metadata part of an upload: fleet_model_meta_parse (lib/model_graph.c)
 * over arbitrary bytes, with the closed lists the shipped ontology gives (categories, metrics,
 * sensors). Checks: an error names a field and says why, and leaves no result; a success has a
 * name, a category from the list and sensors from the list. Seeds: the 23 real metadata files
 * (copied in by run.sh) and tests/fuzz/corpus/fuzz_model_meta. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_graph.h"

#define NNET "http://tinyml-schema.org/networkschema#"
#define SOSAX "http://tinyml-schema.org/sosa_extend/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* model_graph.c's fleet_vocab_load reads the lists from the store, which this target does not
 * link (run.sh leaves the Redland boundary out); it is never called here, and these definitions
 * only satisfy the linker. */
long fleet_store_ontology_subjects(struct fleet_store *st, const char *predicate,
                                   const char *object, char ***out)
{
    (void)st, (void)predicate, (void)object, (void)out;
    abort();
}

char **fleet_store_ontology_codes(struct fleet_store *st, const char *predicate, size_t n)
{
    (void)st, (void)predicate, (void)n;
    abort();
}

static char *categories[] = {NNET "Classification", NNET "ObjectDetection",
                             NNET "FeatureExtraction", NNET "Unsupervised", NNET "OtherCategory",
                             NULL};
static char *metrics[] = {NNET "Top_1_accuracy", NNET "Top_5_accuracy", NNET "Other_metric", NULL};
static char *sensors[] = {SOSAX "Accelerometer", SOSAX "Camera",       SOSAX "Gyroscope",
                          SOSAX "Magnetometer",  SOSAX "Microphone",   SOSAX "OtherSensor",
                          SOSAX "Thermometer",   NULL};

static int in(char **list, const char *iri)
{
    for (char **p = list; *p; p++)
        if (strcmp(*p, iri) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fleet_vocab v = {categories, metrics, sensors, NULL, NULL, NULL};
    struct fleet_model_meta *m = (struct fleet_model_meta *)&m;
    char field[128], err[2048];
    field[0] = err[0] = '\0';
    enum fleet_err rc =
        fleet_model_meta_parse((const char *)data, size, &v, &m, field, sizeof(field), err,
                               sizeof(err));
    if (rc != FLEET_OK) {
        if (rc != FLEET_ERR_INVAL || m != NULL || field[0] == '\0' || err[0] == '\0')
            abort();
        return 0;
    }
    if (!m || !m->name || !m->category || !in(categories, m->category))
        abort();
    if (m->metric_type && !in(metrics, m->metric_type))
        abort();
    for (char **s = m->sensors; s && *s; s++)
        if (!in(sensors, *s))
            abort();
    fleet_model_meta_free(m);
    return 0;
}
