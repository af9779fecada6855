/* SPDX-License-Identifier: MIT */
/* Matchmaking: which model fits which board, and why not. A board can run a model when its RAM
 * is at least the model's tensor arena under the board's arena profile (fleet:arenaProfile on
 * the board, else the daemon's arena_profile), its flash at least the model's file size, and it
 * has every sensor type the model's input needs (sosa_extend:OtherSensor asks for no particular
 * sensor and is met by any board). Board memory is normalised to bytes from om:byte,
 * om:kilobyte (1000 B), om:kibibyte (1024 B), om:megabyte, om:mebibyte, or a plain number read
 * as kB as in the paper; a board that states no RAM or flash, or states it in a unit the matcher
 * does not know, does not fit, and the reason says so.
 *
 * The facts come from the store through the templates sparql/match-*.rq (one per question) and
 * are kept in an index that is rebuilt when the store's generation has moved since it was built:
 * a match never sees data older than the last write that finished before it started. The
 * filters of the REST API are applied here, in C, on that index: no request parameter is ever
 * put into a query. No HTTP here. */
#ifndef FLEET_MATCH_H
#define FLEET_MATCH_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"
#include "store.h"
#include "templates.h"

/* The templates lib/match.c needs (for fleet_templates_load's required list). */
extern const char *const fleet_match_templates[];

struct fleet_match;

/* A matcher over st using the templates in t (both borrowed; they must outlive it).
 * default_profile is the arena profile of boards that do not name one (copied); timeout_ms
 * bounds each query of an index rebuild. NULL on ENOMEM. */
struct fleet_match *fleet_match_new(struct fleet_store *st, const struct fleet_templates *t,
                                    const char *default_profile, long timeout_ms);
void fleet_match_free(struct fleet_match *m);
/* Changes the default profile (a config reload). */
void fleet_match_set_profile(struct fleet_match *m, const char *default_profile);

enum fleet_fits_filter { FLEET_FITS_ALL, FLEET_FITS_TRUE, FLEET_FITS_FALSE };
enum fleet_match_order {
    FLEET_ORDER_FIT,      /* fitting first, then by RAM headroom (most first), then id */
    FLEET_ORDER_ACCURACY, /* fitting first, then Top-1 accuracy, highest first, unknown last */
    FLEET_ORDER_MACS,     /* fitting first, then MACs, fewest first */
    FLEET_ORDER_LATENCY,  /* fitting first, then measured latency, fastest first, unmeasured last */
};

struct fleet_match_query {
    enum fleet_fits_filter fits;
    size_t limit, offset;      /* limit 0 = no limit */
    /* models-for-device only; NULL/0 = no filter */
    const char *category;      /* the local name of an nnet:NetworkCategory, e.g. "Classification" */
    const char *task;          /* text the model's name or description contains (any case) */
    const char *dataset;       /* text the training dataset contains (any case) */
    int has_min_accuracy;
    double min_accuracy;       /* Top-1 accuracy as the metadata gives it (the paper's %) */
    enum fleet_match_order order;
};

/* Every board with its verdict for model_id: *out = {"model", "name", "total", "items": [{
 * "device", "title", "fits", "profile", "ram": {"need", "have"}, "flash": {"need", "have"},
 * "sensors": {"need", "have", "missing"}, "reasons": [...], "latency_ms"}]} (new), where
 * "latency_ms" (the median measured by device agents, sparql/match-latency.rq) is present only
 * when known. FLEET_ERR_NOTFOUND if no model has that id; query errors as fleet_store_query's,
 * with a message in err. */
enum fleet_err fleet_match_devices_for_model(struct fleet_match *m, const char *model_id,
                                             const struct fleet_match_query *q, json_t **out,
                                             char *err, size_t errlen);

/* Every model with its verdict for the board device_iri (the TD id): *out = {"device", "title",
 * "total", "items": [{"model", "name", "category", "accuracy", "macs", "fits", ... as above}]}.
 * FLEET_ERR_NOTFOUND if the matcher knows no such board. */
enum fleet_err fleet_match_models_for_device(struct fleet_match *m, const char *device_iri,
                                             const struct fleet_match_query *q, json_t **out,
                                             char *err, size_t errlen);

/* The verdict of one pair (*out as one item of the lists above, with both "model" and
 * "device"). FLEET_ERR_NOTFOUND with err naming which of the two is unknown (the board first:
 * "no board ..." / "no model ..."). */
enum fleet_err fleet_match_pair(struct fleet_match *m, const char *model_id,
                                const char *device_iri, json_t **out, char *err, size_t errlen);

/* Bytes for value in unit (an om: IRI, a compact "om:kilobyte", a bare "kilobyte", or NULL/""
 * for a plain number in kB). Returns 0, or -1 if the unit is unknown or the value is not a
 * finite number >= 0 that fits in 64 bits. Exposed for tests. */
int fleet_match_bytes(const char *value, const char *unit, unsigned long long *bytes);

#endif
