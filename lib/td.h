/* SPDX-License-Identifier: MIT */
/* W3C WoT Thing Descriptions (TD 1.1, TD 1.0 accepted): validation with field-level errors, and
 * the mapping of a TD's JSON-LD to RDF quads as the TD 1.1 context defines it, with the context
 * embedded (no network). Terms the TD's own @context maps with prefixes (s3n:, ssn:, schema:,
 * ...) become triples too, so a board's S3N capability block becomes the same triples the paper's
 * Turtle has. The JSON-LD subset supported is documented in td.c; anything outside it is
 * rejected with an error naming the field instead of being dropped. No HTTP, no Redland. */
#ifndef FLEET_TD_H
#define FLEET_TD_H

#include <jansson.h>
#include <stddef.h>

#include "durable.h"
#include "err.h"

#define FLEET_TD_CONTEXT_11 "https://www.w3.org/2022/wot/td/v1.1"
#define FLEET_TD_CONTEXT_10 "https://www.w3.org/2019/wot/td/v1"

struct fleet_td_error {
    char field[256];        /* path in the document, e.g. "properties.status.forms.0.href";
                               "" for the document itself */
    char description[512];
};

/* Start zeroed ({0}); the functions below append to it. fleet_td_errors_free releases v and zeroes
 * the counts, so the struct can be reused. */
struct fleet_td_errors {
    struct fleet_td_error *v; /* owned */
    size_t n, cap;
    int truncated;            /* more errors than were kept (at most 100) */
};

void fleet_td_errors_free(struct fleet_td_errors *e);

/* Checks td (borrowed) against what the TD 1.1 JSON Schema requires: @context containing the TD
 * 1.1 (or 1.0) context URI, title (string), security (string or non-empty array of strings, each
 * naming an entry of securityDefinitions), securityDefinitions (object; each entry an object with
 * a string scheme), forms with href (string, URI reference) on every property, action and event
 * affordance and on the top-level forms, op values from the TD operation types, and the JSON
 * types of every other known key (id a URI string, titles/descriptions maps of strings,
 * properties/actions/events objects of objects, links an array of objects with href, version an
 * object, created/modified RFC 3339 date-time strings with valid calendar dates, base a URI,
 * ...). Every violation is reported, not just the first (up to 100; errs->truncated says there
 * were more). errs may be NULL to get the verdict only. Returns FLEET_OK when valid,
 * FLEET_ERR_INVAL with errs filled otherwise, FLEET_ERR_NOMEM. */
enum fleet_err fleet_td_validate(const json_t *td, struct fleet_td_errors *errs);

/* Adds the RDF of td to txn, every quad in graph. thing_iri is the IRI of the Thing node (the
 * TD's id when it has one, else one minted by the caller); nested objects become blank nodes
 * whose labels are prefixed by blank_prefix (unique per registration, so two TDs never share a
 * blank node; NULL: "b"). Errors for JSON-LD the mapping cannot represent go to errs
 * (FLEET_ERR_INVAL), and then nothing is added to txn (every error is found in a first pass that
 * adds nothing); errs may be NULL. A thing_iri that is not absolute is such an error; a NULL td,
 * thing_iri or txn is FLEET_ERR_INVAL without one. A txn failure (FLEET_ERR_NOMEM) can leave
 * part of the TD in txn: discard it. td is not validated here; call fleet_td_validate first. The
 * registration member of the WoT Discovery context is not mapped here. */
enum fleet_err fleet_td_to_rdf(const json_t *td, const char *thing_iri, const char *graph,
                               const char *blank_prefix, struct fleet_txn *txn,
                               struct fleet_td_errors *errs);

#endif
