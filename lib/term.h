/* SPDX-License-Identifier: MIT */
/* An RDF term as plain C strings, the currency between the store, the result writers and the
 * routes. Strings are borrowed from whoever produced the term unless a function says otherwise. */
#ifndef FLEET_TERM_H
#define FLEET_TERM_H

enum fleet_term_kind {
    FLEET_TERM_NONE = 0, /* unbound variable / absent */
    FLEET_TERM_IRI,
    FLEET_TERM_BLANK,    /* value is the label without "_:" */
    FLEET_TERM_LITERAL,
};

struct fleet_term {
    enum fleet_term_kind kind;
    const char *value;    /* IRI, blank label or lexical form; UTF-8, NUL-terminated */
    const char *lang;     /* literal language tag or NULL */
    const char *datatype; /* literal datatype IRI or NULL (plain / xsd:string / rdf:langString) */
};

#endif
