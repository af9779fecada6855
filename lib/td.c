/* SPDX-License-Identifier: MIT */
/* W3C WoT Thing Descriptions: validation with field paths, and the RDF a TD means as JSON-LD under
 * the TD 1.1 context (https://www.w3.org/2022/wot/td/v1.1, REC 2023-12-05 version, copied from
 * w3c/wot-resources td/v1.1/context/td-context-1.1.jsonld into the tables below; the TD 1.0 URI
 * https://www.w3.org/2019/wot/td/v1 is served that same context today, so both use it).
 *
 * JSON-LD subset supported. Anything outside it is an error at its field path, never dropped:
 *  - @context (top level only): the TD 1.1 and 1.0 context URIs, the WoT Discovery context URI
 *    (https://www.w3.org/2022/wot/discovery; with it, the top-level "registration" member is
 *    left to the directory, without it "registration" is an unknown key), and objects of simple
 *    term definitions {"s3n": "http://w3id.org/s3n/"} plus "@language". Not supported: other
 *    remote contexts, expanded term definitions, @vocab, @base, @version, @protected, @import,
 *    @propagate, @direction, compact-IRI or null definitions, and redefining a term or prefix of
 *    the TD context's top level with another IRI, unless a scoped context of the TD context
 *    declares that prefix with that IRI: {"schema": "https://schema.org/"}, which TDs with
 *    schema:value write, replaces the top-level term schema (hctl:hasAdditionalOutputSchema,
 *    meaningful only in forms, whose scoped context defines it again) by the prefix the data
 *    schema contexts declare, as JSON-LD does (the TD context is not @protected).
 *  - keys: TD context terms within their scoped contexts (properties, input, output,
 *    subscription, data, dataResponse, cancellation: the JSON Schema terms; forms, links: the
 *    hypermedia terms; security, securityDefinitions: the security terms), terms the TD's own
 *    @context defines, compact IRIs whose prefix is declared (by the TD context, a scoped context
 *    or the TD's own @context), absolute IRIs (scheme://..., or urn:, tag:, did:, mailto:, tel:),
 *    and the keywords @context, @type (with its aliases "type" in data schemas and "scheme" in
 *    security schemes) and @id (with its alias "id"). In value objects @value, @type, @language;
 *    {"@set": [...]} is read as the array.
 *  - containers: @index with a property-valued index (properties, actions, events, uriVariables
 *    and the affordance level of a schema's properties: key -> td:name; deeper schema properties:
 *    key -> jsonschema:propertyName; securityDefinitions: key -> td:hasInstanceConfiguration), the
 *    plain @index of schemaDefinitions (the key is dropped, as JSON-LD drops it), @language
 *    (titles, descriptions; "@none" gives an untagged literal), @set.
 *  - coercions: @id, @vocab (op, unit, and @type values), datatypes (xsd:dateTime for created and
 *    modified, xsd:anyURI for href and support, xsd:string for security and instance, which RDF 1.1
 *    makes the plain literal), a term's @language ("en" for title and description).
 *  - values: strings (tagged with the TD's @language if it sets one), numbers (xsd:integer when
 *    integral and within int64, else xsd:double in JSON-LD's canonical %1.15E form), booleans
 *    (xsd:boolean), null (no triple, as in JSON-LD), objects (a blank node, or the IRI of their
 *    @id/id), arrays (one triple per item; nested arrays are flattened, as JSON-LD does). A number
 *    or boolean under a datatype-coerced term (created, href, ...) keeps its lexical form and
 *    takes the term's datatype, as in JSON-LD.
 *  - rejected: @graph, @reverse, @list, @included, @nest, @index and every other keyword, blank
 *    node identifiers ("_:b0": omit @id instead), nesting deeper than 32 objects/arrays, more
 *    than 32 @context entries, strings and keys over 64 KiB or holding NUL.
 *
 * Deliberate deviations from strict JSON-LD 1.1 toRDF:
 *  1. The value of a key outside the TD vocabulary (an extension key such as "schema:unitCode")
 *     that is a string "prefix:rest", where prefix is declared in the TD's own @context and rest
 *     does not start with "//", becomes the IRI, not a literal. This is how the paper's converter
 *     produced schema:unitCode om:kilobyte, which its SPARQL queries match.
 *  2. title and description: the TD's own @language, if set, wins over the context's fixed "en"
 *     (TD 1.1 section 6.3.2: @language in @context sets the default language of the document).
 *  3. href (xsd:anyURI in the 1.1 context) is resolved against base when relative (TD 1.1: base
 *     applies to the relative URIs of the document); without base it is kept as written.
 *  4. Relative references in IRI positions (@id, id, and @id-coerced terms: anchor, items, proxy,
 *     authorization, token, refresh, version, ...) are resolved against base, else against the
 *     Thing's IRI (the document's identity), and are an error if that IRI is not hierarchical.
 *  5. Security scheme names (securityDefinitions keys as td:hasInstanceConfiguration, a form's
 *     security, the schema names of hctl:hasAdditionalOutputSchema) become
 *     <thing IRI>#name (<thing IRI>/name if it has a fragment already): strict JSON-LD would
 *     resolve "basic_sc" against the document URL, so equal names of two TDs would collide. A
 *     form's security IRI thus equals its scheme's hasInstanceConfiguration.
 *  6. uriVariables and schemaDefinitions entries are read with the data schema context (the TD
 *     context gives them none, so "type" would otherwise become td:type; the TD information model
 *     makes them DataSchemas).
 *  7. A key or @type value that is not a term, not a compact IRI with a declared prefix and not an
 *     absolute IRI is an error (JSON-LD would mint a @vocab-relative IRI, hiding typos), and so is
 *     a compact IRI with an undeclared prefix (JSON-LD would read "ex:x" as an IRI of scheme
 *     "ex").
 *  8. @vocab-coerced values (unit, op) that are neither terms nor IRIs become vocab-relative IRIs,
 *     as in JSON-LD, with the characters an IRI cannot hold percent-encoded. */
#include "td.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_TD "https://www.w3.org/2019/wot/td#"
#define NS_JS "https://www.w3.org/2019/wot/json-schema#"
#define NS_SEC "https://www.w3.org/2019/wot/security#"
#define NS_HCTL "https://www.w3.org/2019/wot/hypermedia#"
#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_RDFS "http://www.w3.org/2000/01/rdf-schema#"
#define NS_XSD "http://www.w3.org/2001/XMLSchema#"
#define NS_DCT "http://purl.org/dc/terms/"
#define NS_HTV "http://www.w3.org/2011/http#"
#define NS_TM "https://www.w3.org/2019/wot/tm#"
#define NS_SCHEMA "https://schema.org/"

#define DISCOVERY_CONTEXT "https://www.w3.org/2022/wot/discovery"
#define DISCOVERY_NS "https://www.w3.org/2022/wot/discovery#"

#define MAX_DEPTH 32            /* nested objects/arrays below the TD */
#define MAX_ERRORS 100          /* errors kept in a struct fleet_td_errors */
#define MAX_STRING (64 * 1024)  /* bytes in one string value or key */
#define MAX_CONTEXTS 32         /* entries of the @context array */
#define PATH_CAP 1024

/* ---- error reporting ------------------------------------------------------------------------ */

struct report {
    struct fleet_td_errors *errs; /* borrowed; NULL: count only */
    size_t found;                 /* violations found by this call */
    int nomem;
    size_t plen;
    char path[PATH_CAP]; /* the field being looked at, "a.b.0.c" */
};

static void report_init(struct report *r, struct fleet_td_errors *errs)
{
    r->errs = errs;
    r->found = 0;
    r->nomem = 0;
    r->plen = 0;
    r->path[0] = '\0';
}

/* Appends a path segment; returns what path_pop needs. Overlong paths are cut (the error field
 * holds 255 bytes anyway). */
static size_t path_push(struct report *r, const char *seg)
{
    size_t saved = r->plen;
    if (r->plen > 0 && r->plen < sizeof(r->path) - 1)
        r->path[r->plen++] = '.';
    size_t room = sizeof(r->path) - 1 - r->plen;
    size_t n = strlen(seg);
    if (n > room)
        n = room;
    memcpy(r->path + r->plen, seg, n);
    r->plen += n;
    r->path[r->plen] = '\0';
    return saved;
}

static size_t path_push_index(struct report *r, size_t i)
{
    char b[24];
    snprintf(b, sizeof(b), "%zu", i);
    return path_push(r, b);
}

static void path_pop(struct report *r, size_t saved)
{
    r->plen = saved;
    r->path[saved] = '\0';
}

/* Drops a UTF-8 sequence that a truncation cut in half at the end of s. */
static void cut_utf8(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < want)
        s[i - 1] = '\0';
}

static void vfail(struct report *r, const char *fmt, va_list ap)
{
    struct fleet_td_errors *e = r->errs;

    r->found++;
    if (!e)
        return;
    if (e->n >= MAX_ERRORS) {
        e->truncated = 1;
        return;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        if (cap > MAX_ERRORS)
            cap = MAX_ERRORS;
        struct fleet_td_error *v = realloc(e->v, cap * sizeof(*v));
        if (!v) {
            r->nomem = 1;
            return;
        }
        e->v = v;
        e->cap = cap;
    }
    struct fleet_td_error *x = &e->v[e->n++];
    size_t pl = strnlen(r->path, sizeof(x->field) - 1);
    memcpy(x->field, r->path, pl);
    x->field[pl] = '\0';
    cut_utf8(x->field);
    vsnprintf(x->description, sizeof(x->description), fmt, ap);
    cut_utf8(x->description);
}

__attribute__((format(printf, 2, 3))) static void fail(struct report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r, fmt, ap);
    va_end(ap);
}

/* Reports at path.key. */
__attribute__((format(printf, 3, 4))) static void fail_at(struct report *r, const char *key,
                                                          const char *fmt, ...)
{
    size_t saved = path_push(r, key);
    va_list ap;
    va_start(ap, fmt);
    vfail(r, fmt, ap);
    va_end(ap);
    path_pop(r, saved);
}

static enum fleet_err report_result(const struct report *r)
{
    if (r->nomem)
        return FLEET_ERR_NOMEM;
    return r->found ? FLEET_ERR_INVAL : FLEET_OK;
}

void fleet_td_errors_free(struct fleet_td_errors *e)
{
    if (!e)
        return;
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
    e->truncated = 0;
}

static const char *jtype(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* ---- string syntax -------------------------------------------------------------------------- */

static int is_alpha(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Length of the scheme if s starts with "scheme:", else 0. */
static size_t scheme_len(const char *s)
{
    size_t i = 0;
    if (!is_alpha((unsigned char)s[0]))
        return 0;
    while (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) || s[i] == '+' ||
           s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' ? i : 0;
}

/* No byte an IRI cannot hold (RFC 3987: controls, space, <>"{}|\^`). */
static int iri_chars_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7F || strchr("<>\"{}|\\^`", *p))
            return 0;
    return 1;
}

/* A URI reference, allowing the {} of URI templates (RFC 6570), as forms' hrefs use them. */
static int uri_ref_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7F || strchr("<>\"|\\^`", *p))
            return 0;
    return 1;
}

static int is_absolute_iri(const char *s)
{
    return scheme_len(s) > 0 && iri_chars_ok(s);
}

/* Schemes whose IRIs have no "//" but are read as absolute IRIs where a key or @type value is
 * expected; any other "x:y" must use a declared prefix x. */
static int is_opaque_scheme(const char *s, size_t n)
{
    static const char *const schemes[] = {"urn", "tag", "did", "mailto", "tel"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strlen(schemes[i]) == n && strncmp(s, schemes[i], n) == 0)
            return 1;
    return 0;
}

/* A BCP 47 language tag, structurally: alphanumeric subtags of 1-8 characters joined by '-', the
 * first one alphabetic. */
static int is_lang_tag(const char *s)
{
    size_t seg = 0, nseg = 0;
    if (!*s)
        return 0;
    for (const char *p = s;; p++) {
        if (*p == '-' || *p == '\0') {
            if (seg == 0 || seg > 8)
                return 0;
            nseg++;
            seg = 0;
            if (!*p)
                return 1;
            continue;
        }
        if (!is_alpha((unsigned char)*p) && !(nseg > 0 && is_digit((unsigned char)*p)))
            return 0;
        seg++;
    }
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* RFC 3339 date-time, the JSON Schema "date-time" format. */
static int is_datetime(const char *s)
{
    int y, mo, d, h, mi, se, oh, om;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return 0;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 0;
    s += 19;
    if (*s == '.') {
        s++;
        if (!is_digit((unsigned char)*s))
            return 0;
        while (is_digit((unsigned char)*s))
            s++;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
        return 1;
    if ((*s == '+' || *s == '-') && digits(s + 1, 2, &oh) && s[3] == ':' &&
        digits(s + 4, 2, &om) && s[6] == '\0')
        return oh <= 23 && om <= 59;
    return 0;
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

/* ---- validation ----------------------------------------------------------------------------- */

enum aff { AFF_PROPERTY, AFF_ACTION, AFF_EVENT, AFF_ROOT };

static const char *const ops_property[] = {"readproperty", "writeproperty", "observeproperty",
                                           "unobserveproperty", NULL};
static const char *const ops_action[] = {"invokeaction", "queryaction", "cancelaction", NULL};
static const char *const ops_event[] = {"subscribeevent", "unsubscribeevent", NULL};
static const char *const ops_root[] = {
    "readallproperties",      "writeallproperties",   "readmultipleproperties",
    "writemultipleproperties", "observeallproperties", "unobserveallproperties",
    "queryallactions",        "subscribeallevents",   "unsubscribeallevents",
    NULL};
static const char *const aff_names[] = {"a property affordance", "an action affordance",
                                        "an event affordance", "the Thing"};
static const char *const ops_text[] = {
    "readproperty, writeproperty, observeproperty, unobserveproperty",
    "invokeaction, queryaction, cancelaction", "subscribeevent, unsubscribeevent",
    "readallproperties, writeallproperties, readmultipleproperties, writemultipleproperties, "
    "observeallproperties, unobserveallproperties, queryallactions, subscribeallevents, "
    "unsubscribeallevents"};

static const char *const schema_types[] = {"boolean", "integer", "number", "string",
                                           "object",  "array",   "null",   NULL};
static const char *const schemes_known[] = {"nosec",  "auto", "combo", "basic", "digest",
                                            "apikey", "bearer", "psk", "oauth2", NULL};
static const char *const in_basic[] = {"header", "query", "body", "cookie", "auto", NULL};
static const char *const in_apikey[] = {"header", "query", "body", "cookie", "uri", "auto", NULL};
static const char *const qop_digest[] = {"auth", "auth-int", NULL};

struct vctx {
    struct report r;
    const json_t *secdefs;    /* securityDefinitions if an object, else NULL */
    const json_t *schemadefs; /* schemaDefinitions if an object, else NULL */
};

static void v_schema(struct vctx *v, const json_t *s, int depth);

/* Each helper checks member key of obj (if present, or reports it missing when required) and
 * reports at path.key. */

static const char *v_string(struct vctx *v, const json_t *obj, const char *key, int required,
                            const char *what)
{
    const json_t *j = json_object_get(obj, key);
    if (!j) {
        if (required)
            fail_at(&v->r, key, "required: %s (a string)", what);
        return NULL;
    }
    if (!json_is_string(j)) {
        fail_at(&v->r, key, "%s must be a string, not %s", what, jtype(j));
        return NULL;
    }
    return json_string_value(j);
}

static void v_bool(struct vctx *v, const json_t *obj, const char *key)
{
    const json_t *j = json_object_get(obj, key);
    if (j && !json_is_boolean(j))
        fail_at(&v->r, key, "must be a boolean, not %s", jtype(j));
}

static void v_number(struct vctx *v, const json_t *obj, const char *key)
{
    const json_t *j = json_object_get(obj, key);
    if (j && !json_is_number(j))
        fail_at(&v->r, key, "must be a number, not %s", jtype(j));
}

/* A non-negative integer (JSON Schema "integer" accepts 3.0). */
static void v_count(struct vctx *v, const json_t *obj, const char *key)
{
    const json_t *j = json_object_get(obj, key);
    if (!j)
        return;
    double d = json_is_number(j) ? json_number_value(j) : -1;
    if (!json_is_number(j) || d < 0 || d != floor(d))
        fail_at(&v->r, key, "must be a non-negative integer");
}

static void v_uri_member(struct vctx *v, const json_t *obj, const char *key, const char *what)
{
    const char *s = v_string(v, obj, key, 0, what);
    if (s && !uri_ref_ok(s))
        fail_at(&v->r, key, "'%s' is not a URI reference", s);
}

/* A MultiLanguage map: language tag -> string. */
static void v_langmap(struct vctx *v, const json_t *obj, const char *key)
{
    const json_t *m = json_object_get(obj, key);
    const char *lang;
    json_t *s;

    if (!m)
        return;
    if (!json_is_object(m)) {
        fail_at(&v->r, key, "must be an object mapping language tags to strings, not %s",
                jtype(m));
        return;
    }
    size_t saved = path_push(&v->r, key);
    json_object_foreach((json_t *)m, lang, s) {
        if (!is_lang_tag(lang))
            fail_at(&v->r, lang, "'%s' is not a BCP 47 language tag", lang);
        else if (!json_is_string(s))
            fail_at(&v->r, lang, "must be a string, not %s", jtype(s));
    }
    path_pop(&v->r, saved);
}

/* @type: a string or an array of strings, never tm:ThingModel. */
static void v_type_decl(struct vctx *v, const json_t *obj)
{
    const json_t *t = json_object_get(obj, "@type");
    size_t i;
    json_t *e;

    if (!t)
        return;
    if (json_is_string(t)) {
        if (strcmp(json_string_value(t), "tm:ThingModel") == 0)
            fail_at(&v->r, "@type", "a Thing Description cannot be a tm:ThingModel");
        return;
    }
    if (!json_is_array(t)) {
        fail_at(&v->r, "@type", "must be a string or an array of strings, not %s", jtype(t));
        return;
    }
    size_t saved = path_push(&v->r, "@type");
    json_array_foreach(t, i, e) {
        size_t s2 = path_push_index(&v->r, i);
        if (!json_is_string(e))
            fail(&v->r, "must be a string, not %s", jtype(e));
        else if (strcmp(json_string_value(e), "tm:ThingModel") == 0)
            fail(&v->r, "a Thing Description cannot be a tm:ThingModel");
        path_pop(&v->r, s2);
    }
    path_pop(&v->r, saved);
}

static void v_human(struct vctx *v, const json_t *obj)
{
    v_type_decl(v, obj);
    v_string(v, obj, "title", 0, "title");
    v_string(v, obj, "description", 0, "description");
    v_langmap(v, obj, "titles");
    v_langmap(v, obj, "descriptions");
}

/* String or array of strings (scopes, profile); min1: the array must not be empty. */
static void v_strings(struct vctx *v, const json_t *obj, const char *key, int min1)
{
    const json_t *j = json_object_get(obj, key);
    size_t i;
    json_t *e;

    if (!j || json_is_string(j))
        return;
    if (!json_is_array(j) || (min1 && json_array_size(j) == 0)) {
        fail_at(&v->r, key, "must be a string or a%s array of strings", min1 ? " non-empty" : "n");
        return;
    }
    size_t saved = path_push(&v->r, key);
    json_array_foreach(j, i, e) {
        if (!json_is_string(e)) {
            size_t s2 = path_push_index(&v->r, i);
            fail(&v->r, "must be a string, not %s", jtype(e));
            path_pop(&v->r, s2);
        }
    }
    path_pop(&v->r, saved);
}

static void v_secname(struct vctx *v, const json_t *e)
{
    if (!json_is_string(e))
        fail(&v->r, "must be the name of a security definition (a string), not %s", jtype(e));
    else if (v->secdefs && !json_object_get(v->secdefs, json_string_value(e)))
        fail(&v->r, "'%s' is not the name of an entry of securityDefinitions",
             json_string_value(e));
}

/* security (Thing or form): a name or a non-empty array of names of securityDefinitions. */
static void v_security(struct vctx *v, const json_t *obj, int required)
{
    const json_t *j = json_object_get(obj, "security");
    size_t i;
    json_t *e;

    if (!j) {
        if (required)
            fail_at(&v->r, "security",
                    "required: the name of a security definition, or an array of them");
        return;
    }
    size_t saved = path_push(&v->r, "security");
    if (json_is_string(j)) {
        v_secname(v, j);
    } else if (!json_is_array(j) || json_array_size(j) == 0) {
        fail(&v->r, "must be a string or a non-empty array of strings naming entries of "
                    "securityDefinitions");
    } else {
        json_array_foreach(j, i, e) {
            size_t s2 = path_push_index(&v->r, i);
            v_secname(v, e);
            path_pop(&v->r, s2);
        }
    }
    path_pop(&v->r, saved);
}

static void v_schema_list(struct vctx *v, const json_t *obj, const char *key, int depth)
{
    const json_t *j = json_object_get(obj, key);
    size_t i;
    json_t *e;

    if (!j)
        return;
    if (!json_is_array(j)) {
        fail_at(&v->r, key, "must be an array of data schemas, not %s", jtype(j));
        return;
    }
    size_t saved = path_push(&v->r, key);
    json_array_foreach(j, i, e) {
        size_t s2 = path_push_index(&v->r, i);
        v_schema(v, e, depth + 1);
        path_pop(&v->r, s2);
    }
    path_pop(&v->r, saved);
}

/* An object mapping names to data schemas (uriVariables, properties, schemaDefinitions). */
static void v_schema_map(struct vctx *v, const json_t *obj, const char *key, int depth, int min1)
{
    const json_t *m = json_object_get(obj, key);
    const char *name;
    json_t *s;

    if (!m)
        return;
    if (!json_is_object(m) || (min1 && json_object_size(m) == 0)) {
        fail_at(&v->r, key, "must be a%s object mapping names to data schemas",
                min1 ? " non-empty" : "n");
        return;
    }
    size_t saved = path_push(&v->r, key);
    json_object_foreach((json_t *)m, name, s) {
        size_t s2 = path_push(&v->r, name);
        v_schema(v, s, depth + 1);
        path_pop(&v->r, s2);
    }
    path_pop(&v->r, saved);
}

struct dump {
    char *text;
    size_t index;
};

static int dump_cmp(const void *a, const void *b)
{
    const struct dump *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* enum: a non-empty array of unique values. Uniqueness by sorting canonical serialisations, so
 * a long enum costs n log n, not n^2. */
static void v_enum(struct vctx *v, const json_t *obj)
{
    const json_t *j = json_object_get(obj, "enum");
    size_t n, i, done = 0;

    if (!j)
        return;
    if (!json_is_array(j) || (n = json_array_size(j)) == 0) {
        fail_at(&v->r, "enum", "must be a non-empty array");
        return;
    }
    struct dump *d = calloc(n, sizeof(*d));
    if (!d) {
        v->r.nomem = 1;
        return;
    }
    for (; done < n; done++) {
        d[done].index = done;
        d[done].text = json_dumps(json_array_get(j, done),
                                  JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!d[done].text) {
            v->r.nomem = 1;
            goto out;
        }
    }
    qsort(d, n, sizeof(*d), dump_cmp);
    size_t saved = path_push(&v->r, "enum");
    for (i = 1; i < n; i++) {
        if (strcmp(d[i].text, d[i - 1].text) == 0) {
            size_t s2 = path_push_index(&v->r, d[i].index);
            fail(&v->r, "duplicates enum.%zu: enum values must be unique", d[i - 1].index);
            path_pop(&v->r, s2);
        }
    }
    path_pop(&v->r, saved);
out:
    for (i = 0; i < done; i++)
        free(d[i].text);
    free(d);
}

/* The DataSchema members of obj (a data schema or a property affordance). */
static void v_schema_fields(struct vctx *v, const json_t *s, int depth)
{
    const json_t *j;
    const char *t;

    v_human(v, s);
    v_bool(v, s, "readOnly");
    v_bool(v, s, "writeOnly");
    v_schema_list(v, s, "oneOf", depth);
    v_schema_list(v, s, "allOf", depth);
    v_schema_list(v, s, "anyOf", depth);
    v_string(v, s, "unit", 0, "unit");
    v_enum(v, s);
    v_string(v, s, "format", 0, "format");
    v_string(v, s, "pattern", 0, "pattern");
    v_string(v, s, "contentEncoding", 0, "contentEncoding");
    v_string(v, s, "contentMediaType", 0, "contentMediaType");
    if ((t = v_string(v, s, "type", 0, "type")) && !in_list(t, schema_types))
        fail_at(&v->r, "type",
                "'%s' is not a data schema type (boolean, integer, number, string, object, "
                "array, null)",
                t);
    if ((j = json_object_get(s, "items"))) {
        if (json_is_array(j)) {
            v_schema_list(v, s, "items", depth);
        } else {
            size_t saved = path_push(&v->r, "items");
            v_schema(v, j, depth + 1);
            path_pop(&v->r, saved);
        }
    }
    v_count(v, s, "maxItems");
    v_count(v, s, "minItems");
    v_count(v, s, "minLength");
    v_count(v, s, "maxLength");
    v_number(v, s, "minimum");
    v_number(v, s, "maximum");
    v_number(v, s, "exclusiveMinimum");
    v_number(v, s, "exclusiveMaximum");
    if ((j = json_object_get(s, "multipleOf")) &&
        (!json_is_number(j) || json_number_value(j) <= 0))
        fail_at(&v->r, "multipleOf", "must be a number greater than 0");
    v_schema_map(v, s, "properties", depth, 0);
    v_strings(v, s, "required", 0);
    if ((j = json_object_get(s, "required")) && json_is_string(j))
        fail_at(&v->r, "required", "must be an array of strings");
}

static void v_schema(struct vctx *v, const json_t *s, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(&v->r, "nested deeper than %d levels", MAX_DEPTH);
        return;
    }
    if (!json_is_object(s)) {
        fail(&v->r, "must be a data schema (an object), not %s", jtype(s));
        return;
    }
    v_schema_fields(v, s, depth);
}

static void v_op(struct vctx *v, const json_t *e, enum aff kind)
{
    const char *const *ops = kind == AFF_PROPERTY ? ops_property
                             : kind == AFF_ACTION ? ops_action
                             : kind == AFF_EVENT  ? ops_event
                                                  : ops_root;
    if (!json_is_string(e))
        fail(&v->r, "an operation type must be a string, not %s", jtype(e));
    else if (!in_list(json_string_value(e), ops))
        fail(&v->r, "'%s' is not an operation type of %s (%s)", json_string_value(e),
             aff_names[kind], ops_text[kind]);
}

static void v_form(struct vctx *v, const json_t *f, enum aff kind)
{
    const json_t *j;
    const char *s;
    size_t i;
    json_t *e;

    if (!json_is_object(f)) {
        fail(&v->r, "a form must be an object, not %s", jtype(f));
        return;
    }
    if ((s = v_string(v, f, "href", 1, "the form's target URI (href)")) && !uri_ref_ok(s))
        fail_at(&v->r, "href", "'%s' is not a URI reference", s);
    if ((j = json_object_get(f, "op"))) {
        size_t saved = path_push(&v->r, "op");
        if (json_is_array(j)) {
            if (json_array_size(j) == 0)
                fail(&v->r, "must not be an empty array");
            json_array_foreach(j, i, e) {
                size_t s2 = path_push_index(&v->r, i);
                v_op(v, e, kind);
                path_pop(&v->r, s2);
            }
        } else {
            v_op(v, j, kind);
        }
        path_pop(&v->r, saved);
    } else if (kind == AFF_ROOT) {
        fail_at(&v->r, "op", "required: a form of the Thing itself must name its operation "
                             "(%s)",
                ops_text[AFF_ROOT]);
    }
    v_string(v, f, "contentType", 0, "contentType");
    v_string(v, f, "contentCoding", 0, "contentCoding");
    v_string(v, f, "subprotocol", 0, "subprotocol");
    v_security(v, f, 0);
    v_strings(v, f, "scopes", 0);
    if ((j = json_object_get(f, "response"))) {
        if (!json_is_object(j))
            fail_at(&v->r, "response", "must be an object, not %s", jtype(j));
        else {
            size_t saved = path_push(&v->r, "response");
            v_string(v, j, "contentType", 1, "the response's contentType");
            path_pop(&v->r, saved);
        }
    }
    if ((j = json_object_get(f, "additionalResponses"))) {
        if (!json_is_array(j)) {
            fail_at(&v->r, "additionalResponses", "must be an array of objects, not %s",
                    jtype(j));
            return;
        }
        size_t saved = path_push(&v->r, "additionalResponses");
        json_array_foreach(j, i, e) {
            size_t s2 = path_push_index(&v->r, i);
            if (!json_is_object(e)) {
                fail(&v->r, "must be an object, not %s", jtype(e));
            } else {
                v_string(v, e, "contentType", 0, "contentType");
                v_bool(v, e, "success");
                if ((s = v_string(v, e, "schema", 0, "schema")) &&
                    !(v->schemadefs && json_object_get(v->schemadefs, s)))
                    fail_at(&v->r, "schema", "'%s' is not the name of an entry of "
                                             "schemaDefinitions",
                            s);
            }
            path_pop(&v->r, s2);
        }
        path_pop(&v->r, saved);
    }
}

static void v_forms(struct vctx *v, const json_t *obj, enum aff kind, int required)
{
    const json_t *j = json_object_get(obj, "forms");
    size_t i;
    json_t *e;

    if (!j) {
        if (required)
            fail_at(&v->r, "forms", "required: %s needs at least one form", aff_names[kind]);
        return;
    }
    if (!json_is_array(j) || json_array_size(j) == 0) {
        fail_at(&v->r, "forms", "must be a non-empty array of forms");
        return;
    }
    size_t saved = path_push(&v->r, "forms");
    json_array_foreach(j, i, e) {
        size_t s2 = path_push_index(&v->r, i);
        v_form(v, e, kind);
        path_pop(&v->r, s2);
    }
    path_pop(&v->r, saved);
}

static void v_affordance(struct vctx *v, const json_t *a, enum aff kind)
{
    if (!json_is_object(a)) {
        fail(&v->r, "%s must be an object, not %s", aff_names[kind], jtype(a));
        return;
    }
    if (kind == AFF_PROPERTY) {
        v_schema_fields(v, a, 1);
        v_bool(v, a, "observable");
    } else {
        v_human(v, a);
    }
    v_forms(v, a, kind, 1);
    v_schema_map(v, a, "uriVariables", 1, 0);
    if (kind == AFF_ACTION) {
        static const char *const keys[] = {"input", "output", NULL};
        for (const char *const *k = keys; *k; k++) {
            const json_t *s = json_object_get(a, *k);
            if (s) {
                size_t saved = path_push(&v->r, *k);
                v_schema(v, s, 2);
                path_pop(&v->r, saved);
            }
        }
        v_bool(v, a, "safe");
        v_bool(v, a, "idempotent");
        v_bool(v, a, "synchronous");
    } else if (kind == AFF_EVENT) {
        static const char *const keys[] = {"subscription", "data", "dataResponse",
                                           "cancellation", NULL};
        for (const char *const *k = keys; *k; k++) {
            const json_t *s = json_object_get(a, *k);
            if (s) {
                size_t saved = path_push(&v->r, *k);
                v_schema(v, s, 2);
                path_pop(&v->r, saved);
            }
        }
    }
}

static void v_affordances(struct vctx *v, const json_t *td, const char *key, enum aff kind)
{
    const json_t *m = json_object_get(td, key);
    const char *name;
    json_t *a;

    if (!m)
        return;
    if (!json_is_object(m)) {
        fail_at(&v->r, key, "must be an object mapping names to affordances, not %s", jtype(m));
        return;
    }
    size_t saved = path_push(&v->r, key);
    json_object_foreach((json_t *)m, name, a) {
        size_t s2 = path_push(&v->r, name);
        v_affordance(v, a, kind);
        path_pop(&v->r, s2);
    }
    path_pop(&v->r, saved);
}

static void v_in(struct vctx *v, const json_t *d, const char *const *allowed, const char *text)
{
    const char *s = v_string(v, d, "in", 0, "in");
    if (s && !in_list(s, allowed))
        fail_at(&v->r, "in", "'%s' is not one of %s", s, text);
}

static void v_combo_list(struct vctx *v, const json_t *d, const char *key)
{
    const json_t *j = json_object_get(d, key);
    size_t i;
    json_t *e;

    if (!json_is_array(j) || json_array_size(j) < 2) {
        fail_at(&v->r, key, "must be an array of at least two names of security definitions");
        return;
    }
    size_t saved = path_push(&v->r, key);
    json_array_foreach(j, i, e) {
        size_t s2 = path_push_index(&v->r, i);
        v_secname(v, e);
        path_pop(&v->r, s2);
    }
    path_pop(&v->r, saved);
}

static void v_secdef(struct vctx *v, const json_t *d)
{
    const char *scheme;

    if (!json_is_object(d)) {
        fail(&v->r, "a security scheme must be an object, not %s", jtype(d));
        return;
    }
    v_type_decl(v, d);
    v_string(v, d, "description", 0, "description");
    v_langmap(v, d, "descriptions");
    v_uri_member(v, d, "proxy", "proxy");
    scheme = v_string(v, d, "scheme", 1, "the security scheme (scheme)");
    if (!scheme)
        return;
    if (!in_list(scheme, schemes_known)) {
        const char *colon = strchr(scheme, ':');
        if (!colon || colon == scheme)
            fail_at(&v->r, "scheme",
                    "'%s' is not a TD 1.1 security scheme (nosec, auto, combo, basic, digest, "
                    "apikey, bearer, psk, oauth2) nor a prefixed extension scheme (ex:Scheme)",
                    scheme);
        return;
    }
    if (strcmp(scheme, "basic") == 0) {
        v_in(v, d, in_basic, "header, query, body, cookie, auto");
        v_string(v, d, "name", 0, "name");
    } else if (strcmp(scheme, "digest") == 0) {
        const char *qop = v_string(v, d, "qop", 0, "qop");
        if (qop && !in_list(qop, qop_digest))
            fail_at(&v->r, "qop", "'%s' is not one of auth, auth-int", qop);
        v_in(v, d, in_basic, "header, query, body, cookie, auto");
        v_string(v, d, "name", 0, "name");
    } else if (strcmp(scheme, "apikey") == 0) {
        v_in(v, d, in_apikey, "header, query, body, cookie, uri, auto");
        v_string(v, d, "name", 0, "name");
    } else if (strcmp(scheme, "bearer") == 0) {
        v_uri_member(v, d, "authorization", "authorization");
        v_string(v, d, "alg", 0, "alg");
        v_string(v, d, "format", 0, "format");
        v_in(v, d, in_basic, "header, query, body, cookie, auto");
        v_string(v, d, "name", 0, "name");
    } else if (strcmp(scheme, "psk") == 0) {
        v_string(v, d, "identity", 0, "identity");
    } else if (strcmp(scheme, "oauth2") == 0) {
        v_uri_member(v, d, "authorization", "authorization");
        v_uri_member(v, d, "token", "token");
        v_uri_member(v, d, "refresh", "refresh");
        v_strings(v, d, "scopes", 0);
        v_string(v, d, "flow", 0, "flow");
    } else if (strcmp(scheme, "auto") == 0) {
        if (json_object_get(d, "name"))
            fail_at(&v->r, "name", "the auto scheme takes no name");
    } else if (strcmp(scheme, "combo") == 0) {
        int one = json_object_get(d, "oneOf") != NULL, all = json_object_get(d, "allOf") != NULL;
        if (one == all)
            fail(&v->r, "a combo scheme needs exactly one of oneOf and allOf");
        if (one)
            v_combo_list(v, d, "oneOf");
        if (all)
            v_combo_list(v, d, "allOf");
    }
}

static void v_links(struct vctx *v, const json_t *td)
{
    const json_t *l = json_object_get(td, "links");
    const json_t *j;
    const char *s, *rel;
    size_t i, k;
    json_t *e, *h;

    if (!l)
        return;
    if (!json_is_array(l)) {
        fail_at(&v->r, "links", "must be an array of links, not %s", jtype(l));
        return;
    }
    size_t saved = path_push(&v->r, "links");
    json_array_foreach(l, i, e) {
        size_t s2 = path_push_index(&v->r, i);
        if (!json_is_object(e)) {
            fail(&v->r, "a link must be an object, not %s", jtype(e));
            path_pop(&v->r, s2);
            continue;
        }
        if ((s = v_string(v, e, "href", 1, "the link's target URI (href)")) && !uri_ref_ok(s))
            fail_at(&v->r, "href", "'%s' is not a URI reference", s);
        v_string(v, e, "type", 0, "type");
        rel = v_string(v, e, "rel", 0, "rel");
        if (rel && strcmp(rel, "tm:extends") == 0)
            fail_at(&v->r, "rel", "tm:extends links belong in Thing Models, not TDs");
        v_uri_member(v, e, "anchor", "anchor");
        if ((j = json_object_get(e, "hreflang"))) {
            size_t s3 = path_push(&v->r, "hreflang");
            if (json_is_string(j)) {
                if (!is_lang_tag(json_string_value(j)))
                    fail(&v->r, "'%s' is not a BCP 47 language tag", json_string_value(j));
            } else if (json_is_array(j)) {
                json_array_foreach(j, k, h) {
                    if (!json_is_string(h) || !is_lang_tag(json_string_value(h))) {
                        size_t s4 = path_push_index(&v->r, k);
                        fail(&v->r, "must be a BCP 47 language tag");
                        path_pop(&v->r, s4);
                    }
                }
            } else {
                fail(&v->r, "must be a language tag or an array of them");
            }
            path_pop(&v->r, s3);
        }
        if ((s = v_string(v, e, "sizes", 0, "sizes"))) {
            const char *x = strchr(s, 'x');
            if (!rel || strcmp(rel, "icon") != 0)
                fail_at(&v->r, "sizes", "only icon links (rel \"icon\") have sizes");
            else if (!x || !is_digit((unsigned char)x[1]))
                fail_at(&v->r, "sizes", "'%s' is not of the form 16x16", s);
        }
        path_pop(&v->r, s2);
    }
    path_pop(&v->r, saved);
}

static int is_td_context(const json_t *j)
{
    return json_is_string(j) && (strcmp(json_string_value(j), FLEET_TD_CONTEXT_11) == 0 ||
                                 strcmp(json_string_value(j), FLEET_TD_CONTEXT_10) == 0);
}

static void v_context(struct vctx *v, const json_t *td)
{
    const json_t *c = json_object_get(td, "@context");
    const char *key;
    size_t i;
    json_t *e, *val;

    if (!c) {
        fail_at(&v->r, "@context", "required: the TD context URI " FLEET_TD_CONTEXT_11
                                   " (or " FLEET_TD_CONTEXT_10 ")");
        return;
    }
    size_t saved = path_push(&v->r, "@context");
    if (json_is_string(c)) {
        if (!is_td_context(c))
            fail(&v->r, "'%s' is not the TD context URI " FLEET_TD_CONTEXT_11 " (or "
                        FLEET_TD_CONTEXT_10 ")",
                 json_string_value(c));
    } else if (!json_is_array(c)) {
        fail(&v->r, "must be the TD context URI or an array starting with it, not %s", jtype(c));
    } else if (!is_td_context(json_array_get(c, 0))) {
        fail(&v->r, "the first entry must be the TD context URI " FLEET_TD_CONTEXT_11
                    " (or " FLEET_TD_CONTEXT_10 ")");
    } else {
        int v11 = strcmp(json_string_value(json_array_get(c, 0)), FLEET_TD_CONTEXT_11) == 0;
        json_array_foreach(c, i, e) {
            if (i == 0)
                continue;
            size_t s2 = path_push_index(&v->r, i);
            if (json_is_string(e)) {
                if (v11 && strcmp(json_string_value(e), FLEET_TD_CONTEXT_10) == 0)
                    fail(&v->r, "the TD 1.0 context URI cannot follow the TD 1.1 one");
            } else if (json_is_object(e)) {
                json_object_foreach(e, key, val) {
                    if (!json_is_string(val))
                        fail_at(&v->r, key, "must be a string (a namespace IRI or, for "
                                            "@language, a language tag), not %s",
                                jtype(val));
                }
            } else {
                fail(&v->r, "must be a context URI or an object of prefixes, not %s", jtype(e));
            }
            path_pop(&v->r, s2);
        }
    }
    path_pop(&v->r, saved);
}

enum fleet_err fleet_td_validate(const json_t *td, struct fleet_td_errors *errs)
{
    struct vctx *v = malloc(sizeof(*v));
    const json_t *j;
    const char *s;
    enum fleet_err err;

    if (!v)
        return FLEET_ERR_NOMEM;
    report_init(&v->r, errs);
    v->secdefs = v->schemadefs = NULL;
    if (!td || !json_is_object(td)) {
        fail(&v->r, "a Thing Description must be a JSON object, not %s",
             td ? jtype(td) : "nothing");
        goto out;
    }
    j = json_object_get(td, "securityDefinitions");
    v->secdefs = json_is_object(j) ? j : NULL;
    j = json_object_get(td, "schemaDefinitions");
    v->schemadefs = json_is_object(j) ? j : NULL;

    v_context(v, td);
    v_type_decl(v, td);
    if ((s = v_string(v, td, "id", 0, "id")) && !is_absolute_iri(s))
        fail_at(&v->r, "id", "'%s' is not an absolute URI", s);
    v_string(v, td, "title", 1, "the Thing's title");
    v_langmap(v, td, "titles");
    v_string(v, td, "description", 0, "description");
    v_langmap(v, td, "descriptions");
    if ((j = json_object_get(td, "version"))) {
        if (!json_is_object(j)) {
            fail_at(&v->r, "version", "must be an object with an instance string, not %s",
                    jtype(j));
        } else {
            size_t saved = path_push(&v->r, "version");
            v_string(v, j, "instance", 1, "the version's instance");
            v_string(v, j, "model", 0, "model");
            path_pop(&v->r, saved);
        }
    }
    if ((s = v_string(v, td, "created", 0, "created")) && !is_datetime(s))
        fail_at(&v->r, "created", "'%s' is not an RFC 3339 date-time", s);
    if ((s = v_string(v, td, "modified", 0, "modified")) && !is_datetime(s))
        fail_at(&v->r, "modified", "'%s' is not an RFC 3339 date-time", s);
    v_uri_member(v, td, "support", "support");
    if ((s = v_string(v, td, "base", 0, "base")) && !is_absolute_iri(s))
        fail_at(&v->r, "base", "'%s' is not an absolute URI", s);
    v_strings(v, td, "profile", 1);
    v_links(v, td);

    if (!(j = json_object_get(td, "securityDefinitions"))) {
        fail_at(&v->r, "securityDefinitions",
                "required: an object naming at least one security scheme");
    } else if (!json_is_object(j) || json_object_size(j) == 0) {
        fail_at(&v->r, "securityDefinitions",
                "must be an object naming at least one security scheme");
    } else {
        const char *name;
        json_t *d;
        size_t saved = path_push(&v->r, "securityDefinitions");
        json_object_foreach((json_t *)j, name, d) {
            size_t s2 = path_push(&v->r, name);
            v_secdef(v, d);
            path_pop(&v->r, s2);
        }
        path_pop(&v->r, saved);
    }
    v_security(v, td, 1);
    v_schema_map(v, td, "schemaDefinitions", 0, 1);
    v_schema_map(v, td, "uriVariables", 0, 0);
    v_forms(v, td, AFF_ROOT, 0);
    v_affordances(v, td, "properties", AFF_PROPERTY);
    v_affordances(v, td, "actions", AFF_ACTION);
    v_affordances(v, td, "events", AFF_EVENT);
out:
    err = report_result(&v->r);
    free(v);
    return err;
}

/* ---- the TD 1.1 context as tables ------------------------------------------------------------ */

enum coerce {
    C_NONE = 0,
    C_ID,         /* "@type": "@id" */
    C_NAME,       /* a name of this TD's (deviation 5) */
    C_VOCAB,      /* "@type": "@vocab" */
    C_TYPED,      /* "@type": datatype */
    C_HREF,       /* xsd:anyURI, resolved against base (deviation 3) */
    C_TYPE_ALIAS, /* the term is an alias of @type */
    C_ID_ALIAS,   /* the term is an alias of @id */
};

enum container { K_NONE = 0, K_SET, K_INDEX, K_LANGUAGE };

enum scope_id { S_NONE = 0, S_SCHEMA, S_AFF, S_SECURITY, S_FORM, S_COUNT };

struct term {
    const char *name;
    const char *iri; /* NULL for keyword aliases */
    enum coerce coerce;
    const char *datatype; /* C_TYPED; xsd:string is written as the plain literal */
    const char *lang;     /* the term's @language */
    enum container container;
    const char *index;        /* K_INDEX: the predicate the key becomes a value of; NULL: dropped */
    enum coerce index_coerce; /* C_NONE (literal) or C_NAME */
    enum scope_id scope;      /* the scoped context the term's values are read in */
};

struct prefix {
    const char *name, *iri;
};

struct scope {
    const char *vocab;
    const struct prefix *prefixes;
    size_t nprefixes;
    const struct term *terms;
    size_t nterms;
    enum scope_id under; /* a scope entered together with (below) this one */
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct prefix thing_prefixes[] = {
    {"td", NS_TD},    {"jsonschema", NS_JS}, {"wotsec", NS_SEC}, {"hctl", NS_HCTL},
    {"rdfs", NS_RDFS}, {"xsd", NS_XSD},      {"dct", NS_DCT},    {"htv", NS_HTV},
    {"tm", NS_TM},
};

static const struct term thing_terms[] = {
    {.name = "license", .iri = NS_DCT "license"},
    {.name = "id", .coerce = C_ID_ALIAS},
    {.name = "properties", .iri = NS_TD "hasPropertyAffordance", .coerce = C_ID,
     .container = K_INDEX, .index = NS_TD "name", .scope = S_AFF},
    {.name = "actions", .iri = NS_TD "hasActionAffordance", .coerce = C_ID, .container = K_INDEX,
     .index = NS_TD "name"},
    {.name = "events", .iri = NS_TD "hasEventAffordance", .coerce = C_ID, .container = K_INDEX,
     .index = NS_TD "name"},
    {.name = "security", .iri = NS_TD "hasSecurityConfiguration", .coerce = C_TYPED,
     .datatype = NS_XSD "string", .scope = S_SECURITY},
    {.name = "schema", .iri = NS_HCTL "hasAdditionalOutputSchema", .coerce = C_NAME},
    {.name = "securityDefinitions", .iri = NS_TD "definesSecurityScheme", .coerce = C_ID,
     .container = K_INDEX, .index = NS_TD "hasInstanceConfiguration", .index_coerce = C_NAME,
     .scope = S_SECURITY},
    {.name = "hasInstanceConfiguration", .iri = NS_TD "hasInstanceConfiguration",
     .coerce = C_ID},
    {.name = "schemaDefinitions", .iri = NS_TD "schemaDefinitions", .coerce = C_ID,
     .container = K_INDEX, .scope = S_SCHEMA},
    {.name = "Thing", .iri = NS_TD "Thing"},
    {.name = "EventAffordance", .iri = NS_TD "EventAffordance"},
    {.name = "name", .iri = NS_TD "name"},
    {.name = "profile", .iri = NS_TD "followsProfile"},
    {.name = "created", .iri = NS_DCT "created", .coerce = C_TYPED,
     .datatype = NS_XSD "dateTime"},
    {.name = "modified", .iri = NS_DCT "modified", .coerce = C_TYPED,
     .datatype = NS_XSD "dateTime"},
    {.name = "observable", .iri = NS_TD "isObservable"},
    {.name = "VersionInfo", .iri = NS_TD "VersionInfo"},
    {.name = "PropertyAffordance", .iri = NS_TD "PropertyAffordance"},
    {.name = "forms", .iri = NS_TD "hasForm", .coerce = C_ID, .container = K_SET,
     .scope = S_FORM},
    {.name = "version", .iri = NS_TD "versionInfo", .coerce = C_ID},
    {.name = "links", .iri = NS_TD "hasLink", .coerce = C_ID, .container = K_SET,
     .scope = S_FORM},
    {.name = "uriVariables", .iri = NS_TD "hasUriTemplateSchema", .coerce = C_ID,
     .container = K_INDEX, .index = NS_TD "name", .scope = S_SCHEMA},
    {.name = "safe", .iri = NS_TD "isSafe"},
    {.name = "idempotent", .iri = NS_TD "isIdempotent"},
    {.name = "synchronous", .iri = NS_TD "isSynchronous"},
    {.name = "instance", .iri = NS_TD "instance", .coerce = C_TYPED,
     .datatype = NS_XSD "string"},
    {.name = "model", .iri = NS_TD "model"},
    {.name = "InteractionAffordance", .iri = NS_TD "InteractionAffordance"},
    {.name = "ActionAffordance", .iri = NS_TD "ActionAffordance"},
    {.name = "input", .iri = NS_TD "hasInputSchema", .coerce = C_ID, .scope = S_SCHEMA},
    {.name = "output", .iri = NS_TD "hasOutputSchema", .coerce = C_ID, .scope = S_SCHEMA},
    {.name = "subscription", .iri = NS_TD "hasSubscriptionSchema", .coerce = C_ID,
     .scope = S_SCHEMA},
    {.name = "data", .iri = NS_TD "hasNotificationSchema", .coerce = C_ID, .scope = S_SCHEMA},
    {.name = "dataResponse", .iri = NS_TD "hasNotificationResponseSchema", .coerce = C_ID,
     .scope = S_SCHEMA},
    {.name = "cancellation", .iri = NS_TD "hasCancellationSchema", .coerce = C_ID,
     .scope = S_SCHEMA},
    {.name = "description", .iri = NS_TD "description", .lang = "en"},
    {.name = "descriptions", .iri = NS_TD "descriptionInLanguage", .container = K_LANGUAGE},
    {.name = "title", .iri = NS_TD "title", .lang = "en"},
    {.name = "titles", .iri = NS_TD "titleInLanguage", .container = K_LANGUAGE},
    {.name = "support", .iri = NS_TD "supportContact", .coerce = C_TYPED,
     .datatype = NS_XSD "anyURI"},
    {.name = "base", .iri = NS_TD "baseURI"},
};

static const struct prefix schema_prefixes[] = {
    {"td", NS_TD},   {"jsonschema", NS_JS},     {"wotsec", NS_SEC}, {"hctl", NS_HCTL},
    {"dct", NS_DCT}, {"schema", NS_SCHEMA}, {"rdf", NS_RDF},
};

/* The scoped context of input, output, subscription, data, dataResponse, cancellation (and of
 * properties, with the override in aff_terms). */
static const struct term schema_terms[] = {
    {.name = "DataSchema", .iri = NS_JS "DataSchema"},
    {.name = "readOnly", .iri = NS_JS "readOnly"},
    {.name = "writeOnly", .iri = NS_JS "writeOnly"},
    {.name = "exclusiveMaximum", .iri = NS_JS "exclusiveMaximum"},
    {.name = "exclusiveMinimum", .iri = NS_JS "exclusiveMinimum"},
    {.name = "maximum", .iri = NS_JS "maximum"},
    {.name = "minimum", .iri = NS_JS "minimum"},
    {.name = "maxItems", .iri = NS_JS "maxItems"},
    {.name = "minItems", .iri = NS_JS "minItems"},
    {.name = "contentEncoding", .iri = NS_JS "contentEncoding"},
    {.name = "minLength", .iri = NS_JS "minLength"},
    {.name = "maxLength", .iri = NS_JS "maxLength"},
    {.name = "pattern", .iri = NS_JS "pattern"},
    {.name = "contentMediaType", .iri = NS_JS "contentMediaType"},
    {.name = "items", .iri = NS_JS "items", .coerce = C_ID},
    {.name = "required", .iri = NS_JS "required", .container = K_SET},
    {.name = "enum", .iri = NS_JS "enum", .container = K_SET},
    {.name = "const", .iri = NS_JS "const"},
    {.name = "default", .iri = NS_JS "default"},
    {.name = "multipleOf", .iri = NS_JS "multipleOf"},
    {.name = "format", .iri = NS_JS "format"},
    {.name = "oneOf", .iri = NS_JS "oneOf", .container = K_SET},
    {.name = "allOf", .iri = NS_JS "allOf", .container = K_SET},
    {.name = "anyOf", .iri = NS_JS "anyOf", .container = K_SET},
    {.name = "type", .coerce = C_TYPE_ALIAS},
    {.name = "title", .iri = NS_TD "title", .lang = "en"},
    {.name = "titles", .iri = NS_TD "titleInLanguage", .container = K_LANGUAGE},
    {.name = "description", .iri = NS_TD "description", .lang = "en"},
    {.name = "descriptions", .iri = NS_TD "descriptionInLanguage", .container = K_LANGUAGE},
    {.name = "object", .iri = NS_JS "ObjectSchema"},
    {.name = "array", .iri = NS_JS "ArraySchema"},
    {.name = "boolean", .iri = NS_JS "BooleanSchema"},
    {.name = "string", .iri = NS_JS "StringSchema"},
    {.name = "number", .iri = NS_JS "NumberSchema"},
    {.name = "integer", .iri = NS_JS "IntegerSchema"},
    {.name = "null", .iri = NS_JS "NullSchema"},
    {.name = "properties", .iri = NS_JS "properties", .container = K_INDEX,
     .index = NS_JS "propertyName"},
    {.name = "propertyName", .iri = NS_JS "propertyName"},
    {.name = "unit", .iri = NS_SCHEMA "unitCode", .coerce = C_VOCAB},
};

/* properties' own scoped context differs from schema_terms only in its properties term, whose
 * index is the affordance's name; below it, properties are indexed by propertyName again. */
static const struct term aff_terms[] = {
    {.name = "properties", .iri = NS_JS "properties", .container = K_INDEX,
     .index = NS_TD "name", .scope = S_SCHEMA},
};

static const struct prefix security_prefixes[] = {
    {"td", NS_TD},   {"jsonschema", NS_JS}, {"wotsec", NS_SEC}, {"hctl", NS_HCTL},
    {"dct", NS_DCT}, {"rdf", NS_RDF},
};

static const struct term security_terms[] = {
    {.name = "in", .iri = NS_SEC "in"},
    {.name = "name", .iri = NS_SEC "name"},
    {.name = "authorization", .iri = NS_SEC "authorization", .coerce = C_ID},
    {.name = "token", .iri = NS_SEC "token", .coerce = C_ID},
    {.name = "refresh", .iri = NS_SEC "refresh", .coerce = C_ID},
    {.name = "proxy", .iri = NS_SEC "proxy", .coerce = C_ID},
    {.name = "scopes", .iri = NS_SEC "scopes"},
    {.name = "flow", .iri = NS_SEC "flow"},
    {.name = "qop", .iri = NS_SEC "qop"},
    {.name = "alg", .iri = NS_SEC "alg"},
    {.name = "format", .iri = NS_SEC "format"},
    {.name = "identity", .iri = NS_SEC "identity"},
    {.name = "allOf", .iri = NS_SEC "allOf", .container = K_SET},
    {.name = "oneOf", .iri = NS_SEC "oneOf", .container = K_SET},
    {.name = "scheme", .coerce = C_TYPE_ALIAS},
    {.name = "description", .iri = NS_TD "description"},
    {.name = "descriptions", .iri = NS_TD "descriptionInLanguage", .container = K_LANGUAGE},
    {.name = "nosec", .iri = NS_SEC "NoSecurityScheme"},
    {.name = "auto", .iri = NS_SEC "AutoSecurityScheme"},
    {.name = "combo", .iri = NS_SEC "ComboSecurityScheme"},
    {.name = "basic", .iri = NS_SEC "BasicSecurityScheme"},
    {.name = "digest", .iri = NS_SEC "DigestSecurityScheme"},
    {.name = "apikey", .iri = NS_SEC "APIKeySecurityScheme"},
    {.name = "bearer", .iri = NS_SEC "BearerSecurityScheme"},
    {.name = "cert", .iri = NS_SEC "CertSecurityScheme"},
    {.name = "psk", .iri = NS_SEC "PSKSecurityScheme"},
    {.name = "public", .iri = NS_SEC "PublicSecurityScheme"},
    {.name = "pop", .iri = NS_SEC "PoPSecurityScheme"},
    {.name = "oauth2", .iri = NS_SEC "OAuth2SecurityScheme"},
    {.name = "uriVariables", .iri = NS_TD "uriVariables"},
};

static const struct prefix form_prefixes[] = {
    {"td", NS_TD},    {"jsonschema", NS_JS}, {"wotsec", NS_SEC}, {"hctl", NS_HCTL},
    {"rdf", NS_RDF}, {"rdfs", NS_RDFS},     {"xsd", NS_XSD},
};

/* The scoped context of forms and links (the same in the TD 1.1 context). */
static const struct term form_terms[] = {
    {.name = "Link", .iri = NS_HCTL "Link"},
    {.name = "Form", .iri = NS_HCTL "Form"},
    {.name = "scopes", .iri = NS_SEC "scopes"},
    {.name = "security", .iri = NS_TD "hasSecurityConfiguration", .coerce = C_NAME},
    {.name = "op", .iri = NS_HCTL "hasOperationType", .coerce = C_VOCAB},
    {.name = "readproperty", .iri = NS_TD "readProperty"},
    {.name = "writeproperty", .iri = NS_TD "writeProperty"},
    {.name = "observeproperty", .iri = NS_TD "observeProperty"},
    {.name = "observeallproperties", .iri = NS_TD "observeAllProperties"},
    {.name = "unobserveproperty", .iri = NS_TD "unobserveProperty"},
    {.name = "unobserveallproperties", .iri = NS_TD "unobserveAllProperties"},
    {.name = "invokeaction", .iri = NS_TD "invokeAction"},
    {.name = "queryaction", .iri = NS_TD "queryAction"},
    {.name = "queryallactions", .iri = NS_TD "queryAllActions"},
    {.name = "cancelaction", .iri = NS_TD "cancelAction"},
    {.name = "subscribeevent", .iri = NS_TD "subscribeEvent"},
    {.name = "subscribeallevents", .iri = NS_TD "subscribeAllEvents"},
    {.name = "unsubscribeevent", .iri = NS_TD "unsubscribeEvent"},
    {.name = "unsubscribeallevents", .iri = NS_TD "unsubscribeAllEvents"},
    {.name = "readallproperties", .iri = NS_TD "readAllProperties"},
    {.name = "writeallproperties", .iri = NS_TD "writeAllProperties"},
    {.name = "readmultipleproperties", .iri = NS_TD "readMultipleProperties"},
    {.name = "writemultipleproperties", .iri = NS_TD "writeMultipleProperties"},
    {.name = "subprotocol", .iri = NS_HCTL "forSubProtocol"},
    {.name = "contentType", .iri = NS_HCTL "forContentType"},
    {.name = "contentCoding", .iri = NS_HCTL "forContentCoding"},
    {.name = "anchor", .iri = NS_HCTL "hasAnchor", .coerce = C_ID},
    {.name = "sizes", .iri = NS_HCTL "hasSizes"},
    {.name = "hreflang", .iri = NS_HCTL "hasHreflang"},
    {.name = "href", .iri = NS_HCTL "hasTarget", .coerce = C_HREF,
     .datatype = NS_XSD "anyURI"},
    {.name = "rel", .iri = NS_HCTL "hasRelationType"},
    {.name = "type", .iri = NS_HCTL "hintsAtMediaType"},
    {.name = "response", .iri = NS_HCTL "returns"},
    {.name = "additionalResponses", .iri = NS_HCTL "additionalReturns", .container = K_SET},
    {.name = "schema", .iri = NS_HCTL "hasAdditionalOutputSchema", .coerce = C_NAME},
    {.name = "success", .iri = NS_HCTL "isSuccess"},
};

static const struct scope thing_scope = {NS_TD,       thing_prefixes, N(thing_prefixes),
                                         thing_terms, N(thing_terms), S_NONE};

static const struct scope scopes[S_COUNT] = {
    [S_SCHEMA] = {NS_JS, schema_prefixes, N(schema_prefixes), schema_terms, N(schema_terms),
                  S_NONE},
    [S_AFF] = {NS_JS, NULL, 0, aff_terms, N(aff_terms), S_SCHEMA},
    [S_SECURITY] = {NS_SEC, security_prefixes, N(security_prefixes), security_terms,
                    N(security_terms), S_NONE},
    [S_FORM] = {NS_HCTL, form_prefixes, N(form_prefixes), form_terms, N(form_terms), S_NONE},
};

/* The active context: the TD context (thing_scope, overridden by the TD's own @context), with
 * the scoped contexts entered on the way down stacked on top, innermost first. */
struct frame {
    const struct scope *scope;
    const struct frame *up;
};

static const struct term *scope_term(const struct scope *s, const char *name)
{
    for (size_t i = 0; i < s->nterms; i++)
        if (strcmp(s->terms[i].name, name) == 0)
            return &s->terms[i];
    return NULL;
}

static const char *scope_prefix(const struct scope *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nprefixes; i++)
        if (strlen(s->prefixes[i].name) == len && memcmp(s->prefixes[i].name, name, len) == 0)
            return s->prefixes[i].iri;
    return NULL;
}

/* Stacks scope id on cx, using f (two frames on the caller's stack). */
static const struct frame *enter(const struct frame *cx, enum scope_id id, struct frame f[2])
{
    if (id == S_NONE)
        return cx;
    const struct scope *s = &scopes[id];
    if (s->under != S_NONE) {
        f[0].scope = &scopes[s->under];
        f[0].up = cx;
        cx = &f[0];
    }
    f[1].scope = s;
    f[1].up = cx;
    return &f[1];
}

/* Whether the TD's own @context defining name as iri clashes with the TD context: name is a term
 * or prefix of the top-level TD context with another IRI, unless one of the scoped contexts
 * declares the same prefix with this IRI. The TD 1.1 context's "schema" is both a term
 * (hctl:hasAdditionalOutputSchema) and, in the data schema contexts, the prefix of
 * https://schema.org/, so {"schema": "https://schema.org/"} (what TDs with schema:value write) is
 * consistent with it. */
static int td_name_clash(const char *name, const char *iri)
{
    size_t len = strlen(name);
    const struct term *t = scope_term(&thing_scope, name);
    const char *p = t ? t->iri : scope_prefix(&thing_scope, name, len);

    if (!t && !p)
        return 0;
    if (p && strcmp(p, iri) == 0)
        return 0;
    for (int id = 0; id < S_COUNT; id++) {
        const char *q = scope_prefix(&scopes[id], name, len);
        if (q && strcmp(q, iri) == 0)
            return 0;
    }
    return 1;
}

/* ---- mapping -------------------------------------------------------------------------------- */

struct mapper {
    struct report r;
    const json_t *uctx[MAX_CONTEXTS]; /* the TD's own context objects, in order */
    size_t nuctx;
    const char *lang;      /* the TD's @language, or NULL */
    int discovery;         /* the TD's @context includes the WoT Discovery context */
    const char *base;      /* the TD's base when it is an absolute IRI, or NULL */
    const char *thing_iri; /* borrowed */
    const char *blank_prefix;
    struct fleet_term graph;
    struct fleet_txn *txn; /* NULL during the checking pass */
    unsigned long nblank;
    enum fleet_err err; /* a txn failure during the emitting pass */
};

static char *dupn(struct mapper *m, const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) {
        m->r.nomem = 1;
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *concat(struct mapper *m, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *d = malloc(la + lb + 1);
    if (!d) {
        m->r.nomem = 1;
        return NULL;
    }
    memcpy(d, a, la);
    memcpy(d + la, b, lb + 1);
    return d;
}

/* a + b with the bytes an IRI cannot hold percent-encoded in b. */
static char *concat_encoded(struct mapper *m, const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *d = malloc(la + ls + 3 * lb + 1), *o;
    if (!d) {
        m->r.nomem = 1;
        return NULL;
    }
    memcpy(d, a, la);
    memcpy(d + la, sep, ls);
    o = d + la + ls;
    for (const unsigned char *p = (const unsigned char *)b; *p; p++) {
        if (*p <= 0x20 || *p == 0x7F || strchr("<>\"{}|\\^`#%", *p)) {
            sprintf(o, "%%%02X", *p);
            o += 3;
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return d;
}

/* The user's definition of name in the TD's own @context (later objects win), or NULL. */
static const char *user_term(const struct mapper *m, const char *name, size_t len)
{
    if (len > 0 && name[0] == '@')
        return NULL; /* "@language" is a setting, not a term */
    for (size_t i = m->nuctx; i-- > 0;) {
        const json_t *v = json_object_getn(m->uctx[i], name, len);
        if (json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

/* A term definition can serve as a prefix if its IRI ends with a gen-delim (JSON-LD 1.1). */
static const char *user_prefix(const struct mapper *m, const char *name, size_t len)
{
    const char *iri = user_term(m, name, len);
    if (!iri || !*iri || !strchr(":/?#[]@", iri[strlen(iri) - 1]))
        return NULL;
    return iri;
}

struct lookup {
    const struct term *term; /* a TD context term, or */
    const char *user_iri;    /* a term of the TD's own @context */
};

static int find_term(const struct mapper *m, const struct frame *cx, const char *name,
                     struct lookup *out)
{
    out->term = NULL;
    out->user_iri = NULL;
    for (const struct frame *f = cx; f; f = f->up)
        if ((out->term = scope_term(f->scope, name)))
            return 1;
    if ((out->user_iri = user_term(m, name, strlen(name))))
        return 1;
    /* The WoT Discovery context's classes, for a directory's own TD and for Thing Links. */
    if (m->discovery && strcmp(name, "ThingDirectory") == 0)
        return (out->user_iri = DISCOVERY_NS "ThingDirectory") != NULL;
    if (m->discovery && strcmp(name, "ThingLink") == 0)
        return (out->user_iri = DISCOVERY_NS "ThingLink") != NULL;
    return (out->term = scope_term(&thing_scope, name)) != NULL;
}

static const char *find_prefix(const struct mapper *m, const struct frame *cx, const char *name,
                               size_t len)
{
    const char *iri;
    for (const struct frame *f = cx; f; f = f->up)
        if ((iri = scope_prefix(f->scope, name, len)))
            return iri;
    if ((iri = user_prefix(m, name, len)))
        return iri;
    return scope_prefix(&thing_scope, name, len);
}

static const char *active_vocab(const struct frame *cx)
{
    return cx ? cx->scope->vocab : thing_scope.vocab;
}

/* Expands a compact IRI with a declared prefix, or takes an absolute IRI. Returns a new string;
 * NULL with *why set if s is neither (or nomem). */
static char *expand_compact(struct mapper *m, const struct frame *cx, const char *s,
                            const char **why)
{
    const char *colon = strchr(s, ':');
    *why = NULL;
    if (!colon || colon == s) {
        *why = "not an IRI";
        return NULL;
    }
    size_t plen = (size_t)(colon - s);
    if (plen == 1 && s[0] == '_') {
        *why = "blank node identifiers are not supported (leave @id out for a blank node)";
        return NULL;
    }
    if (colon[1] != '/' || colon[2] != '/') {
        const char *ns = find_prefix(m, cx, s, plen);
        if (ns) {
            char *iri = concat(m, ns, colon + 1);
            if (iri && !iri_chars_ok(iri)) {
                free(iri);
                *why = "expands to something that is not a valid IRI";
                return NULL;
            }
            return iri;
        }
        if (!is_opaque_scheme(s, plen)) {
            *why = "its prefix is not declared in @context";
            return NULL;
        }
    }
    if (!is_absolute_iri(s)) {
        *why = "not a valid IRI";
        return NULL;
    }
    return dupn(m, s, strlen(s));
}

/* IRI expansion with vocab = true, for keys, @type values (vocab_relative 0) and @vocab-coerced
 * values (vocab_relative 1). Reports why at the current path and returns NULL on failure. */
static char *expand_vocab(struct mapper *m, const struct frame *cx, const char *s,
                          int vocab_relative, const char *what)
{
    struct lookup lk;
    const char *why;

    if (find_term(m, cx, s, &lk)) {
        const char *iri = lk.term ? lk.term->iri : lk.user_iri;
        if (!iri) {
            fail(&m->r, "'%s' is a keyword alias, not %s", s, what);
            return NULL;
        }
        return dupn(m, iri, strlen(iri));
    }
    if (strchr(s, ':')) {
        char *iri = expand_compact(m, cx, s, &why);
        if (!iri && why)
            fail(&m->r, "'%s' is not %s: %s", s, what, why);
        return iri;
    }
    if (vocab_relative)
        return concat_encoded(m, active_vocab(cx), "", s);
    fail(&m->r,
         "'%s' is not a term of the TD context, nor a compact IRI with a prefix declared in "
         "@context, nor an absolute IRI",
         s);
    return NULL;
}

/* ---- RFC 3986 reference resolution -- */

struct part {
    const char *p;
    size_t n;
    int set;
};

struct uri {
    struct part scheme, auth, path, query, frag;
};

static void uri_split(const char *s, struct uri *u)
{
    size_t n = scheme_len(s);
    memset(u, 0, sizeof(*u));
    if (n) {
        u->scheme = (struct part){s, n, 1};
        s += n + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        n = strcspn(s, "/?#");
        u->auth = (struct part){s, n, 1};
        s += n;
    }
    n = strcspn(s, "?#");
    u->path = (struct part){s, n, 1};
    s += n;
    if (*s == '?') {
        s++;
        n = strcspn(s, "#");
        u->query = (struct part){s, n, 1};
        s += n;
    }
    if (*s == '#') {
        s++;
        u->frag = (struct part){s, strlen(s), 1};
    }
}

/* RFC 3986 5.2.4 on in (modified) into out, which has room for n bytes; returns the length. */
static size_t remove_dots(char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        char *p = in + i;
        size_t r = n - i;
        if (r >= 3 && memcmp(p, "../", 3) == 0) {
            i += 3;
        } else if (r >= 2 && memcmp(p, "./", 2) == 0) {
            i += 2;
        } else if (r >= 3 && memcmp(p, "/./", 3) == 0) {
            i += 2;
        } else if (r == 2 && memcmp(p, "/.", 2) == 0) {
            p[1] = '/';
            i += 1;
        } else if (r >= 4 && memcmp(p, "/../", 4) == 0) {
            i += 3;
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else if (r == 3 && memcmp(p, "/..", 3) == 0) {
            p[2] = '/';
            i += 2;
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else if ((r == 1 && p[0] == '.') || (r == 2 && memcmp(p, "..", 2) == 0)) {
            i = n;
        } else {
            /* the first segment, with its leading "/" if any (in is not NUL-terminated) */
            size_t k = 1;
            while (k < r && p[k] != '/')
                k++;
            memcpy(out + o, p, k);
            o += k;
            i += k;
        }
    }
    return o;
}

/* ref resolved against base (an absolute IRI). New string, NULL on ENOMEM. */
static char *resolve(struct mapper *m, const char *base, const char *ref)
{
    struct uri b, r;
    struct part auth, query;
    size_t cap = strlen(base) + strlen(ref) + 8;
    char *path = malloc(cap), *clean = malloc(cap), *out = malloc(cap + 8);
    size_t plen = 0, clen;

    if (!path || !clean || !out) {
        free(path);
        free(clean);
        free(out);
        m->r.nomem = 1;
        return NULL;
    }
    uri_split(base, &b);
    uri_split(ref, &r);
    if (r.scheme.set) {
        b.scheme = r.scheme;
        auth = r.auth;
        memcpy(path, r.path.p, r.path.n);
        plen = r.path.n;
        query = r.query;
    } else if (r.auth.set) {
        auth = r.auth;
        memcpy(path, r.path.p, r.path.n);
        plen = r.path.n;
        query = r.query;
    } else {
        auth = b.auth;
        if (r.path.n == 0) {
            memcpy(path, b.path.p, b.path.n);
            plen = b.path.n;
            query = r.query.set ? r.query : b.query;
        } else {
            if (r.path.p[0] != '/') {
                if (b.auth.set && b.path.n == 0) {
                    path[plen++] = '/';
                } else {
                    size_t k = b.path.n;
                    while (k > 0 && b.path.p[k - 1] != '/')
                        k--;
                    memcpy(path, b.path.p, k);
                    plen = k;
                }
            }
            memcpy(path + plen, r.path.p, r.path.n);
            plen += r.path.n;
            query = r.query;
        }
    }
    clen = remove_dots(path, plen, clean);
    clean[clen] = '\0';
    snprintf(out, cap + 8, "%.*s:%s%.*s%s%s%.*s%s%.*s", (int)b.scheme.n, b.scheme.p,
             auth.set ? "//" : "", (int)auth.n, auth.set ? auth.p : "", clean,
             query.set ? "?" : "", (int)query.n, query.set ? query.p : "", r.frag.set ? "#" : "",
             (int)r.frag.n, r.frag.set ? r.frag.p : "");
    free(path);
    free(clean);
    return out;
}

static int hierarchical(const char *iri)
{
    struct uri u;
    uri_split(iri, &u);
    return u.auth.set || (u.path.n > 0 && u.path.p[0] == '/');
}

/* An IRI position's value: compact or absolute IRI, else a reference resolved against base or
 * the Thing's IRI (deviation 4). */
static char *expand_doc(struct mapper *m, const struct frame *cx, const char *s)
{
    const char *why = NULL;
    size_t sl = scheme_len(s);
    if (sl) {
        char *iri = expand_compact(m, cx, s, &why);
        if (!iri && why)
            fail(&m->r, "'%s' is not an IRI: %s", s, why);
        return iri;
    }
    if (strncmp(s, "_:", 2) == 0) {
        fail(&m->r, "blank node identifiers ('%s') are not supported (leave @id out for a blank "
                    "node)",
             s);
        return NULL;
    }
    if (!uri_ref_ok(s) || strchr(s, '{') || strchr(s, '}')) {
        fail(&m->r, "'%s' is not a URI reference", s);
        return NULL;
    }
    const char *base = m->base ? m->base : m->thing_iri;
    if (s[0] != '#' && !hierarchical(base)) {
        fail(&m->r, "the relative reference '%s' cannot be resolved against '%s': set base or "
                    "use an absolute IRI",
             s, base);
        return NULL;
    }
    return resolve(m, base, s);
}

/* A name of this TD's (deviation 5). */
static char *name_iri(struct mapper *m, const char *name)
{
    return concat_encoded(m, m->thing_iri, strchr(m->thing_iri, '#') ? "/" : "#", name);
}

/* ---- emitting -- */

static void put(struct mapper *m, const struct fleet_term *s, const char *p,
                const struct fleet_term *o)
{
    if (!m->txn || m->err)
        return;
    struct fleet_term q[4] = {*s, {FLEET_TERM_IRI, p, NULL, NULL}, *o, m->graph};
    enum fleet_err e = fleet_txn_add(m->txn, q);
    if (e != FLEET_OK)
        m->err = e;
}

static void put_iri(struct mapper *m, const struct fleet_term *s, const char *p, const char *o)
{
    struct fleet_term t = {FLEET_TERM_IRI, o, NULL, NULL};
    put(m, s, p, &t);
}

static void put_lit(struct mapper *m, const struct fleet_term *s, const char *p, const char *lex,
                    const char *lang, const char *dt)
{
    if (dt && strcmp(dt, NS_XSD "string") == 0)
        dt = NULL;
    struct fleet_term t = {FLEET_TERM_LITERAL, lex, dt ? NULL : lang, dt};
    put(m, s, p, &t);
}

/* The lexical form and datatype of a JSON number or boolean, as JSON-LD writes them. */
static const char *native_lexical(const json_t *v, char *buf, size_t len, const char **dt)
{
    if (json_is_boolean(v)) {
        *dt = NS_XSD "boolean";
        return json_is_true(v) ? "true" : "false";
    }
    if (json_is_integer(v)) {
        *dt = NS_XSD "integer";
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    double d = json_real_value(v);
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        *dt = NS_XSD "integer";
        snprintf(buf, len, "%lld", (long long)d);
        return buf;
    }
    /* JSON-LD's canonical xsd:double: %1.15E without trailing zeros, exponent without + or
     * leading zeros ("5.3E0", "-1.0E-5"). */
    char tmp[40], *e, *z;
    *dt = NS_XSD "double";
    snprintf(tmp, sizeof(tmp), "%1.15E", d);
    e = strchr(tmp, 'E');
    if (!e) {
        snprintf(buf, len, "%s", tmp);
        return buf;
    }
    *e = '\0';
    z = e - 1;
    while (z > tmp && *z == '0' && z[-1] != '.')
        *z-- = '\0';
    int exp = atoi(e + 1);
    snprintf(buf, len, "%sE%d", tmp, exp);
    return buf;
}

/* The C string of a JSON string, or NULL (reported) if it is too long or holds a NUL. */
static const char *checked_string(struct mapper *m, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > MAX_STRING) {
        fail(&m->r, "strings longer than %d bytes are not accepted", MAX_STRING);
        return NULL;
    }
    if (strlen(s) != n) {
        fail(&m->r, "strings holding a NUL character are not accepted");
        return NULL;
    }
    return s;
}

struct prop {
    const char *iri;       /* the predicate */
    const struct term *t;  /* its TD context term, or NULL for keys outside the TD vocabulary */
};

static void map_node(struct mapper *m, const struct frame *cx, const json_t *obj,
                     const struct fleet_term *subj, int depth);

/* A node object's subject: its @id / id, or a new blank node. *buf is new. 0 on failure. */
static int node_subject(struct mapper *m, const struct frame *cx, const json_t *obj,
                        struct fleet_term *out, char **buf)
{
    const json_t *id = json_object_get(obj, "@id");
    const json_t *alias = json_object_get(obj, "id");
    const char *s;

    *buf = NULL;
    if (id && alias) {
        fail(&m->r, "has both @id and its alias id");
        return 0;
    }
    if (!id)
        id = alias;
    if (id && !json_is_null(id)) {
        size_t saved = path_push(&m->r, id == alias ? "id" : "@id");
        if (!json_is_string(id))
            fail(&m->r, "must be an IRI (a string), not %s", jtype(id));
        else if ((s = checked_string(m, id)))
            *buf = expand_doc(m, cx, s);
        path_pop(&m->r, saved);
        if (!*buf)
            return 0;
        *out = (struct fleet_term){FLEET_TERM_IRI, *buf, NULL, NULL};
        return 1;
    }
    size_t n = strlen(m->blank_prefix) + 24;
    if (!(*buf = malloc(n))) {
        m->r.nomem = 1;
        return 0;
    }
    snprintf(*buf, n, "%s_%lu", m->blank_prefix, m->nblank++);
    *out = (struct fleet_term){FLEET_TERM_BLANK, *buf, NULL, NULL};
    return 1;
}

/* {"@value": ..., "@type"/"@language": ...} */
static void map_value_object(struct mapper *m, const struct frame *cx,
                             const struct fleet_term *subj, const char *pred, const json_t *obj)
{
    const json_t *val = json_object_get(obj, "@value");
    const json_t *type = json_object_get(obj, "@type");
    const json_t *lang = json_object_get(obj, "@language");
    const char *key, *lex, *l = NULL;
    char *dt = NULL, num[48];
    const char *ndt;
    json_t *x;

    json_object_foreach((json_t *)obj, key, x) {
        if (strcmp(key, "@value") && strcmp(key, "@type") && strcmp(key, "@language"))
            fail_at(&m->r, key, "a value object holds only @value, @type and @language");
    }
    if (type && lang) {
        fail(&m->r, "a value object cannot have both @type and @language");
        return;
    }
    if (json_is_null(val))
        return;
    if (lang) {
        size_t saved = path_push(&m->r, "@language");
        if (!json_is_string(lang) || !is_lang_tag(json_string_value(lang)))
            fail(&m->r, "must be a BCP 47 language tag");
        else if (!json_is_string(val))
            fail(&m->r, "only a string @value can have a language");
        else
            l = json_string_value(lang);
        path_pop(&m->r, saved);
        if (!l)
            return;
    }
    if (type) {
        size_t saved = path_push(&m->r, "@type");
        if (!json_is_string(type))
            fail(&m->r, "must be a datatype IRI (a string), not %s", jtype(type));
        else if ((lex = checked_string(m, type)))
            dt = expand_vocab(m, cx, lex, 0, "a datatype IRI");
        path_pop(&m->r, saved);
        if (!dt)
            return;
    }
    size_t saved = path_push(&m->r, "@value");
    if (json_is_string(val)) {
        if ((lex = checked_string(m, val)))
            put_lit(m, subj, pred, lex, l ? l : (dt ? NULL : m->lang), dt);
    } else if (json_is_number(val) || json_is_boolean(val)) {
        lex = native_lexical(val, num, sizeof(num), &ndt);
        put_lit(m, subj, pred, lex, NULL, dt ? dt : ndt);
    } else {
        fail(&m->r, "must be a string, number, boolean or null, not %s", jtype(val));
    }
    path_pop(&m->r, saved);
    free(dt);
}

static void map_values(struct mapper *m, const struct frame *cx, const struct fleet_term *subj,
                       const struct prop *pr, const json_t *v, int depth);

/* A string value of pr. */
static void map_string(struct mapper *m, const struct frame *cx, const struct fleet_term *subj,
                       const struct prop *pr, const char *s)
{
    enum coerce c = pr->t ? pr->t->coerce : C_NONE;
    char *iri = NULL;

    switch (c) {
    case C_ID:
        if ((iri = expand_doc(m, cx, s)))
            put_iri(m, subj, pr->iri, iri);
        break;
    case C_NAME:
        if ((iri = name_iri(m, s)))
            put_iri(m, subj, pr->iri, iri);
        break;
    case C_VOCAB:
        if ((iri = expand_vocab(m, cx, s, 1, "an IRI")))
            put_iri(m, subj, pr->iri, iri);
        break;
    case C_HREF:
        if (m->base && !scheme_len(s) && uri_ref_ok(s)) {
            if ((iri = resolve(m, m->base, s)))
                put_lit(m, subj, pr->iri, iri, NULL, pr->t->datatype);
        } else {
            put_lit(m, subj, pr->iri, s, NULL, pr->t->datatype);
        }
        break;
    case C_TYPED:
        put_lit(m, subj, pr->iri, s, NULL, pr->t->datatype);
        break;
    default:
        if (pr->t) {
            put_lit(m, subj, pr->iri, s, m->lang ? m->lang : pr->t->lang, NULL);
            break;
        }
        /* deviation 1: "prefix:rest" with a prefix of the TD's own @context is an IRI */
        const char *colon = strchr(s, ':');
        const char *ns = colon && colon != s && !(colon[1] == '/' && colon[2] == '/')
                             ? user_prefix(m, s, (size_t)(colon - s))
                             : NULL;
        if (ns && (iri = concat(m, ns, colon + 1)) && iri_chars_ok(iri))
            put_iri(m, subj, pr->iri, iri);
        else if (!m->r.nomem)
            put_lit(m, subj, pr->iri, s, m->lang, NULL);
        break;
    }
    free(iri);
}

/* One value (not an array) of pr. */
static void map_one(struct mapper *m, const struct frame *cx, const struct fleet_term *subj,
                    const struct prop *pr, const json_t *v, int depth)
{
    char num[48];
    const char *dt, *s;

    if (json_is_null(v))
        return;
    if (json_is_string(v)) {
        if ((s = checked_string(m, v)))
            map_string(m, cx, subj, pr, s);
        return;
    }
    if (json_is_number(v) || json_is_boolean(v)) {
        s = native_lexical(v, num, sizeof(num), &dt);
        if (pr->t && (pr->t->coerce == C_TYPED || pr->t->coerce == C_HREF))
            dt = pr->t->datatype;
        put_lit(m, subj, pr->iri, s, NULL, dt);
        return;
    }
    /* an object */
    if (json_object_get(v, "@value")) {
        map_value_object(m, cx, subj, pr->iri, v);
        return;
    }
    if (json_object_get(v, "@list")) {
        fail_at(&m->r, "@list", "lists (@list) are not supported");
        return;
    }
    if (json_object_get(v, "@set")) {
        if (json_object_size(v) != 1) {
            fail(&m->r, "a @set object holds nothing but @set");
            return;
        }
        size_t saved = path_push(&m->r, "@set");
        map_values(m, cx, subj, pr, json_object_get(v, "@set"), depth + 1);
        path_pop(&m->r, saved);
        return;
    }
    if (depth > MAX_DEPTH) {
        fail(&m->r, "nested deeper than %d levels", MAX_DEPTH);
        return;
    }
    struct fleet_term node;
    struct frame f[2];
    char *label;
    if (!node_subject(m, cx, v, &node, &label))
        return;
    put(m, subj, pr->iri, &node);
    map_node(m, enter(cx, pr->t ? pr->t->scope : S_NONE, f), v, &node, depth + 1);
    free(label);
}

static void map_values(struct mapper *m, const struct frame *cx, const struct fleet_term *subj,
                       const struct prop *pr, const json_t *v, int depth)
{
    size_t i;
    json_t *e;

    if (!json_is_array(v)) {
        map_one(m, cx, subj, pr, v, depth);
        return;
    }
    if (depth > MAX_DEPTH) {
        fail(&m->r, "nested deeper than %d levels", MAX_DEPTH);
        return;
    }
    json_array_foreach(v, i, e) {
        size_t saved = path_push_index(&m->r, i);
        map_values(m, cx, subj, pr, e, depth + 1);
        path_pop(&m->r, saved);
    }
}

/* One member of an @index map: a node object, its key as the value of t->index. */
static void map_index_node(struct mapper *m, const struct frame *cx,
                           const struct fleet_term *subj, const struct term *t, const char *key,
                           const json_t *v, int depth)
{
    struct fleet_term node;
    struct frame f[2];
    char *label, *iri;

    if (json_is_null(v))
        return;
    if (!json_is_object(v)) {
        fail(&m->r, "must be an object, not %s", jtype(v));
        return;
    }
    if (json_object_get(v, "@value") || json_object_get(v, "@list") ||
        json_object_get(v, "@set")) {
        fail(&m->r, "must be a node object (no @value, @list or @set)");
        return;
    }
    if (!node_subject(m, cx, v, &node, &label))
        return;
    put(m, subj, t->iri, &node);
    if (t->index && t->index_coerce == C_NAME) {
        if ((iri = name_iri(m, key)))
            put_iri(m, &node, t->index, iri);
        free(iri);
    } else if (t->index) {
        put_lit(m, &node, t->index, key, m->lang, NULL);
    }
    map_node(m, enter(cx, t->scope, f), v, &node, depth + 1);
    free(label);
}

static void map_index(struct mapper *m, const struct frame *cx, const struct fleet_term *subj,
                      const struct term *t, const json_t *v, int depth)
{
    const char *key;
    size_t klen, i;
    json_t *e, *x;

    if (json_is_null(v))
        return;
    if (!json_is_object(v)) {
        fail(&m->r, "must be an object mapping names to objects, not %s", jtype(v));
        return;
    }
    if (depth > MAX_DEPTH) {
        fail(&m->r, "nested deeper than %d levels", MAX_DEPTH);
        return;
    }
    json_object_keylen_foreach((json_t *)v, key, klen, e) {
        size_t saved = path_push(&m->r, key);
        if (klen != strlen(key) || klen > MAX_STRING) {
            fail(&m->r, "names longer than %d bytes or holding a NUL are not accepted",
                 MAX_STRING);
        } else if (json_is_array(e)) {
            json_array_foreach(e, i, x) {
                size_t s2 = path_push_index(&m->r, i);
                map_index_node(m, cx, subj, t, key, x, depth + 1);
                path_pop(&m->r, s2);
            }
        } else {
            map_index_node(m, cx, subj, t, key, e, depth);
        }
        path_pop(&m->r, saved);
    }
}

/* titles, descriptions: language tag -> string(s). */
static void map_langmap(struct mapper *m, const struct fleet_term *subj, const struct term *t,
                        const json_t *v)
{
    const char *lang, *s;
    size_t i;
    json_t *e, *x;

    if (json_is_null(v))
        return;
    if (!json_is_object(v)) {
        fail(&m->r, "must be an object mapping language tags to strings, not %s", jtype(v));
        return;
    }
    json_object_foreach((json_t *)v, lang, e) {
        size_t saved = path_push(&m->r, lang);
        int none = strcmp(lang, "@none") == 0;
        if (!none && !is_lang_tag(lang)) {
            fail(&m->r, "'%s' is not a BCP 47 language tag", lang);
        } else if (json_is_string(e)) {
            if ((s = checked_string(m, e)))
                put_lit(m, subj, t->iri, s, none ? NULL : lang, NULL);
        } else if (json_is_array(e)) {
            json_array_foreach(e, i, x) {
                size_t s2 = path_push_index(&m->r, i);
                if (!json_is_string(x))
                    fail(&m->r, "must be a string, not %s", jtype(x));
                else if ((s = checked_string(m, x)))
                    put_lit(m, subj, t->iri, s, none ? NULL : lang, NULL);
                path_pop(&m->r, s2);
            }
        } else if (!json_is_null(e)) {
            fail(&m->r, "must be a string, not %s", jtype(e));
        }
        path_pop(&m->r, saved);
    }
}

/* @type (or type, scheme): rdf:type for each class. */
static void map_types(struct mapper *m, const struct frame *cx, const struct fleet_term *subj,
                      const json_t *v)
{
    const char *s;
    char *iri;
    size_t i;
    json_t *e;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            size_t saved = path_push_index(&m->r, i);
            if (!json_is_string(e))
                fail(&m->r, "a type must be a string, not %s", jtype(e));
            else if ((s = checked_string(m, e)) && (iri = expand_vocab(m, cx, s, 0, "a class")))
                put_iri(m, subj, NS_RDF "type", iri), free(iri);
            path_pop(&m->r, saved);
        }
    } else if (!json_is_string(v)) {
        fail(&m->r, "must be a string or an array of strings, not %s", jtype(v));
    } else if ((s = checked_string(m, v)) && (iri = expand_vocab(m, cx, s, 0, "a class"))) {
        put_iri(m, subj, NS_RDF "type", iri);
        free(iri);
    }
}

static void map_member(struct mapper *m, const struct frame *cx, const json_t *obj,
                       const struct fleet_term *subj, const char *key, const json_t *v,
                       int depth)
{
    struct lookup lk;
    struct prop pr;
    char *iri;
    int top = depth == 0;

    (void)obj;
    if (key[0] == '@') {
        if (strcmp(key, "@type") == 0)
            map_types(m, cx, subj, v);
        else if (strcmp(key, "@context") == 0 && !top)
            fail(&m->r, "@context is supported only at the top of the TD");
        else if (strcmp(key, "@context") && strcmp(key, "@id"))
            fail(&m->r, "the JSON-LD keyword %s is not supported here", key);
        return;
    }
    if (top && m->discovery && strcmp(key, "registration") == 0)
        return; /* the WoT Discovery registration information: the directory's */
    if (find_term(m, cx, key, &lk)) {
        if (lk.user_iri) {
            pr = (struct prop){lk.user_iri, NULL};
            map_values(m, cx, subj, &pr, v, depth);
            return;
        }
        switch (lk.term->coerce) {
        case C_ID_ALIAS:
            return; /* the subject, already used */
        case C_TYPE_ALIAS:
            map_types(m, cx, subj, v);
            return;
        default:
            break;
        }
        switch (lk.term->container) {
        case K_INDEX:
            map_index(m, cx, subj, lk.term, v, depth);
            return;
        case K_LANGUAGE:
            map_langmap(m, subj, lk.term, v);
            return;
        default:
            pr = (struct prop){lk.term->iri, lk.term};
            map_values(m, cx, subj, &pr, v, depth);
            return;
        }
    }
    if (!(iri = expand_vocab(m, cx, key, 0, "a property")))
        return;
    pr = (struct prop){iri, NULL};
    map_values(m, cx, subj, &pr, v, depth);
    free(iri);
}

static void map_node(struct mapper *m, const struct frame *cx, const json_t *obj,
                     const struct fleet_term *subj, int depth)
{
    const char *key;
    size_t klen;
    json_t *v;

    if (depth > MAX_DEPTH) {
        fail(&m->r, "nested deeper than %d levels", MAX_DEPTH);
        return;
    }
    json_object_keylen_foreach((json_t *)obj, key, klen, v) {
        size_t saved = path_push(&m->r, key);
        if (klen != strlen(key) || klen > MAX_STRING)
            fail(&m->r, "keys longer than %d bytes or holding a NUL are not accepted",
                 MAX_STRING);
        else
            map_member(m, cx, obj, subj, key, v, depth);
        path_pop(&m->r, saved);
        if (m->r.nomem || m->err)
            return;
    }
}

/* Reads the TD's @context: which context URIs, its own prefixes and @language. */
static void parse_context(struct mapper *m, const json_t *td)
{
    const json_t *c = json_object_get(td, "@context");
    const json_t *one[1];
    const json_t *const *items;
    const char *key;
    size_t n, i;
    int td_ctx = 0;
    json_t *v;

    if (!c) {
        fail_at(&m->r, "@context", "required: the TD context URI " FLEET_TD_CONTEXT_11);
        return;
    }
    size_t saved = path_push(&m->r, "@context");
    if (json_is_array(c)) {
        n = json_array_size(c);
        items = NULL;
    } else {
        one[0] = c;
        items = one;
        n = 1;
    }
    if (n > MAX_CONTEXTS) {
        fail(&m->r, "more than %d entries are not accepted", MAX_CONTEXTS);
        path_pop(&m->r, saved);
        return;
    }
    for (i = 0; i < n; i++) {
        const json_t *e = items ? items[i] : json_array_get(c, i);
        size_t s2 = items ? m->r.plen : path_push_index(&m->r, i);
        if (json_is_string(e)) {
            const char *s = json_string_value(e);
            if (strcmp(s, FLEET_TD_CONTEXT_11) == 0 || strcmp(s, FLEET_TD_CONTEXT_10) == 0)
                td_ctx = 1;
            else if (strcmp(s, DISCOVERY_CONTEXT) == 0)
                m->discovery = 1;
            else
                fail(&m->r, "the remote context '%s' is not supported (only the TD 1.1 and 1.0 "
                            "and the WoT Discovery context URIs, and objects of prefixes)",
                     s);
        } else if (json_is_object(e)) {
            json_object_foreach((json_t *)e, key, v) {
                size_t s3 = path_push(&m->r, key);
                if (strcmp(key, "@language") == 0) {
                    if (json_is_null(v))
                        m->lang = NULL;
                    else if (!json_is_string(v) || !is_lang_tag(json_string_value(v)))
                        fail(&m->r, "must be a BCP 47 language tag");
                    else
                        m->lang = json_string_value(v);
                } else if (key[0] == '@') {
                    fail(&m->r, "%s in a TD's own @context is not supported", key);
                } else if (strchr(key, ':')) {
                    fail(&m->r, "defining compact IRIs or absolute IRIs as terms is not "
                                "supported");
                } else if (!json_is_string(v)) {
                    fail(&m->r, "only simple term definitions (\"prefix\": \"namespace IRI\") "
                                "are supported, not %s",
                         jtype(v));
                } else if (!is_absolute_iri(json_string_value(v))) {
                    fail(&m->r, "'%s' is not an absolute IRI", json_string_value(v));
                } else if (td_name_clash(key, json_string_value(v))) {
                    fail(&m->r, "redefines the TD context's '%s'", key);
                }
                path_pop(&m->r, s3);
            }
            if (m->nuctx < MAX_CONTEXTS)
                m->uctx[m->nuctx++] = e;
        } else {
            fail(&m->r, "must be a context URI or an object of prefixes, not %s", jtype(e));
        }
        path_pop(&m->r, s2);
    }
    if (!td_ctx)
        fail(&m->r, "does not include the TD context URI " FLEET_TD_CONTEXT_11
                    " (or " FLEET_TD_CONTEXT_10 ")");
    path_pop(&m->r, saved);
}

static void map_run(struct mapper *m, const json_t *td)
{
    struct fleet_term thing = {FLEET_TERM_IRI, m->thing_iri, NULL, NULL};
    m->nblank = 0;
    map_node(m, NULL, td, &thing, 0);
}

enum fleet_err fleet_td_to_rdf(const json_t *td, const char *thing_iri, const char *graph,
                               const char *blank_prefix, struct fleet_txn *txn,
                               struct fleet_td_errors *errs)
{
    struct mapper *m;
    const json_t *b;
    enum fleet_err err;

    if (!td || !thing_iri || !txn)
        return FLEET_ERR_INVAL;
    if (!(m = calloc(1, sizeof(*m))))
        return FLEET_ERR_NOMEM;
    report_init(&m->r, errs);
    m->thing_iri = thing_iri;
    m->blank_prefix = blank_prefix ? blank_prefix : "b";
    m->graph = (struct fleet_term){graph ? FLEET_TERM_IRI : FLEET_TERM_NONE, graph, NULL, NULL};
    if (!is_absolute_iri(thing_iri)) {
        fail(&m->r, "the Thing's IRI '%s' is not an absolute IRI", thing_iri);
        goto out;
    }
    if (!json_is_object(td)) {
        fail(&m->r, "a Thing Description must be a JSON object, not %s", jtype(td));
        goto out;
    }
    parse_context(m, td);
    b = json_object_get(td, "base");
    if (json_is_string(b) && is_absolute_iri(json_string_value(b)) &&
        hierarchical(json_string_value(b)))
        m->base = json_string_value(b);
    if (m->r.found || m->r.nomem)
        goto out;
    /* First pass: find every error and add nothing, so an invalid TD leaves txn untouched. */
    map_run(m, td);
    if (m->r.found || m->r.nomem)
        goto out;
    m->txn = txn;
    m->r.errs = NULL;
    map_run(m, td);
out:
    err = m->err != FLEET_OK ? m->err : report_result(&m->r);
    free(m);
    return err;
}
