/* SPDX-License-Identifier: MIT */
/* SPARQL 1.1 result serialisers, written to the W3C specs:
 *   application/sparql-results+json  (SPARQL 1.1 Query Results JSON Format)
 *   application/sparql-results+xml   (SPARQL Query Results XML Format, 2nd ed.)
 *   text/csv and text/tab-separated-values (SPARQL 1.1 Query Results CSV and TSV Formats)
 * Unbound variables are omitted from a JSON binding object, omitted in XML, empty in CSV/TSV.
 * Pure C, no Redland: rows arrive as struct fleet_term arrays. */
#ifndef FLEET_RESULTS_H
#define FLEET_RESULTS_H

#include <stddef.h>

#include "buf.h"
#include "term.h"

enum fleet_rfmt {
    FLEET_RFMT_JSON,
    FLEET_RFMT_XML,
    FLEET_RFMT_CSV,
    FLEET_RFMT_TSV,
};

const char *fleet_rfmt_mime(enum fleet_rfmt fmt); /* e.g. "application/sparql-results+json" */

struct fleet_rw;

/* Starts a SELECT result for nvars variables (names without '?', copied) writing into out
 * (borrowed; must outlive the writer). Returns NULL on ENOMEM. */
struct fleet_rw *fleet_rw_new(enum fleet_rfmt fmt, const char *const *vars, size_t nvars,
                              struct fleet_buf *out);
/* Appends one row: vals[i] is the value of vars[i]; kind FLEET_TERM_NONE = unbound. */
void fleet_rw_row(struct fleet_rw *rw, const struct fleet_term *vals);
/* Closes the document and frees the writer. NULL is a no-op. */
void fleet_rw_finish(struct fleet_rw *rw);

/* Writes a whole ASK result. CSV/TSV have no boolean form in the spec: they write a one-column
 * table "_askResult" with true/false, as common practice does. */
void fleet_rw_boolean(enum fleet_rfmt fmt, int value, struct fleet_buf *out);

#endif
