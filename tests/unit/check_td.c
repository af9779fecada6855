/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/td.c on Thing Descriptions the tests write: validation of valid TDs (minimal,
 * full, TD 1.0) and of each kind of invalid one, asserting the exact field path of every
 * violation and that all of them are reported; the RDF of small TDs, triple by triple (@type,
 * nested objects as blank nodes with the caller's prefix, typed numbers and booleans, languages,
 * base resolution, compact IRIs, value objects, security names, an S3N capability block); and the
 * JSON-LD the mapping rejects, each with its field path and nothing added to the transaction.
 * With SHARED_DIR set, the six real boards of ../shared/tinyml-kg/devices: each .td.json must
 * give exactly the capability triples (subsystems, RAM and flash values and units, sensors) of
 * the paper's Turtle for the same board, compared modulo blank node labels. */
#include <check.h>
#include <jansson.h>
#include <raptor2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "quadstore.h"
#include "td.h"

#define TD "https://www.w3.org/2019/wot/td#"
#define JS "https://www.w3.org/2019/wot/json-schema#"
#define SEC "https://www.w3.org/2019/wot/security#"
#define HCTL "https://www.w3.org/2019/wot/hypermedia#"
#define RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define XSD "http://www.w3.org/2001/XMLSchema#"
#define DCT "http://purl.org/dc/terms/"
#define SCHEMA "https://schema.org/"
#define SSN "http://www.w3.org/ns/ssn/"
#define SSNS "http://www.w3.org/ns/ssn/systems/"
#define S3N "http://w3id.org/s3n/"
#define S3NX "http://tinyml-schema.org/s3n_extend/"
#define SOSAX "http://tinyml-schema.org/sosa_extend/"
#define OM "http://www.ontology-of-units-of-measure.org/resource/om-2/"
#define EX "http://example.org/ns#"

#define THING "https://example.org/things/lamp"
#define GRAPH "https://example.org/graph/lamp"

/* Every TD below is written with ' for " to stay readable; tdj swaps them back. */
#define CTX "'@context': 'https://www.w3.org/2022/wot/td/v1.1'"
#define NOSEC "'securityDefinitions': {'nosec_sc': {'scheme': 'nosec'}}, 'security': 'nosec_sc'"

static json_t *tdj(const char *text)
{
    char *s = strdup(text);
    json_error_t jerr;
    ck_assert_ptr_nonnull(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(j != NULL, "test TD is not JSON: %s at %d: %s", jerr.text, jerr.position, s);
    free(s);
    return j;
}

static void print_errors(const char *what, const struct fleet_td_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "%s: %s: %s\n", what, e->v[i].field, e->v[i].description);
}

/* ---- validation ------------------------------------------------------------------------------ */

static void expect_valid(const char *text)
{
    json_t *td = tdj(text);
    struct fleet_td_errors e = {0};
    enum fleet_err rc = fleet_td_validate(td, &e);
    print_errors("unexpected", &e);
    ck_assert_int_eq(rc, FLEET_OK);
    ck_assert_uint_eq(e.n, 0);
    fleet_td_errors_free(&e);
    json_decref(td);
}

/* Asserts that validating text reports exactly the errors at fields (NULL-terminated; a field
 * may repeat), in any order, each with a description. */
static void expect_invalid_j(const json_t *td, const char *const *fields)
{
    struct fleet_td_errors e = {0};
    size_t n = 0;
    int used[64] = {0};

    while (fields[n])
        n++;
    ck_assert_int_eq(fleet_td_validate(td, &e), FLEET_ERR_INVAL);
    if (e.n != n)
        print_errors("got", &e);
    ck_assert_uint_eq(e.n, n);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < e.n && (used[k] || strcmp(e.v[k].field, fields[i]) != 0))
            k++;
        if (k == e.n)
            print_errors("got", &e);
        ck_assert_msg(k < e.n, "no error at '%s'", fields[i]);
        ck_assert_msg(e.v[k].description[0] != '\0', "error at '%s' without description",
                      fields[i]);
        used[k] = 1;
    }
    ck_assert_int_eq(e.truncated, 0);
    fleet_td_errors_free(&e);
}

static void expect_invalid(const char *text, const char *const *fields)
{
    json_t *td = tdj(text);
    expect_invalid_j(td, fields);
    json_decref(td);
}

#define INVALID(text, ...)                                                                         \
    do {                                                                                           \
        static const char *const f_[] = {__VA_ARGS__, NULL};                                       \
        expect_invalid((text), f_);                                                                \
    } while (0)

/* The error at field, for checking what it says. */
static const char *error_at(const char *text, const char *field)
{
    static char desc[512];
    json_t *td = tdj(text);
    struct fleet_td_errors e = {0};
    desc[0] = '\0';
    fleet_td_validate(td, &e);
    for (size_t i = 0; i < e.n; i++)
        if (strcmp(e.v[i].field, field) == 0)
            snprintf(desc, sizeof(desc), "%s", e.v[i].description);
    fleet_td_errors_free(&e);
    json_decref(td);
    return desc;
}

START_TEST(test_valid_minimal)
{
    expect_valid("{" CTX ", 'title': 'Lamp', " NOSEC "}");
    /* security as an array, the TD context in an array with prefixes and the Discovery context */
    expect_valid("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', "
                 "'https://www.w3.org/2022/wot/discovery', {'ex': 'http://example.org/ns#'}], "
                 "'title': 'Lamp', 'securityDefinitions': {'s': {'scheme': 'nosec'}}, "
                 "'security': ['s']}");
}
END_TEST

START_TEST(test_valid_td10)
{
    expect_valid("{'@context': 'https://www.w3.org/2019/wot/td/v1', 'id': 'urn:dev:ops:1', "
                 "'title': 'Old', " NOSEC ", 'properties': {'p': {'type': 'integer', "
                 "'forms': [{'href': 'http://a.example/p'}]}}}");
    expect_valid("{'@context': ['https://www.w3.org/2019/wot/td/v1', "
                 "'https://www.w3.org/2022/wot/td/v1.1'], 'title': 'Both', " NOSEC "}");
}
END_TEST

static const char full_td[] =
    "{'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'ex': 'http://example.org/ns#'}],"
    " 'id': 'urn:dev:ops:32473-WoTLamp-1234', '@type': ['Thing', 'ex:Lamp'],"
    " 'title': 'Lamp', 'titles': {'en': 'Lamp', 'de-CH': 'Lampe'},"
    " 'description': 'A lamp', 'descriptions': {'en': 'A lamp'},"
    " 'version': {'instance': '1.2.1', 'model': 'm1'},"
    " 'created': '2024-02-29T10:00:00.5Z', 'modified': '2024-03-01T10:00:00+01:00',"
    " 'support': 'mailto:support@example.org', 'base': 'https://lamp.example.org/api/v1/',"
    " 'securityDefinitions': {"
    "   'basic_sc': {'scheme': 'basic', 'in': 'header'},"
    "   'bearer_sc': {'scheme': 'bearer', 'authorization': 'https://auth.example.org/a',"
    "                 'format': 'jwt', 'alg': 'ES256', 'in': 'header'},"
    "   'oauth_sc': {'scheme': 'oauth2', 'flow': 'code', 'token': 'https://auth.example.org/t',"
    "                'scopes': ['a', 'b']},"
    "   'digest_sc': {'scheme': 'digest', 'qop': 'auth-int'},"
    "   'apikey_sc': {'scheme': 'apikey', 'in': 'uri', 'name': 'k'},"
    "   'psk_sc': {'scheme': 'psk', 'identity': 'me'}, 'auto_sc': {'scheme': 'auto'},"
    "   'ext_sc': {'scheme': 'ex:Custom'},"
    "   'combo_sc': {'scheme': 'combo', 'oneOf': ['basic_sc', 'bearer_sc']}},"
    " 'security': ['combo_sc'],"
    " 'profile': ['https://www.w3.org/2022/wot/discovery-ontology#http-basic'],"
    " 'schemaDefinitions': {'err': {'type': 'object', 'properties': {'code': {'type': "
    "'integer'}}}},"
    " 'uriVariables': {'unit': {'type': 'string', 'enum': ['c', 'f']}},"
    " 'links': [{'href': '../manual.pdf', 'rel': 'service-doc', 'type': 'application/pdf',"
    "            'hreflang': ['en', 'de-CH'], 'anchor': 'https://lamp.example.org/'},"
    "           {'href': 'icon.png', 'rel': 'icon', 'sizes': '16x16 32x32'}],"
    " 'forms': [{'href': 'all', 'op': ['readallproperties', 'writemultipleproperties'],"
    "            'contentType': 'application/json'}],"
    " 'properties': {"
    "   'status': {'type': 'string', 'enum': ['on', 'off'], 'readOnly': true, 'observable': true,"
    "              'forms': [{'href': 'props/status{?unit}', 'op': 'readproperty',"
    "                         'security': 'basic_sc', 'scopes': 'r',"
    "                         'additionalResponses': [{'success': false, 'schema': 'err',"
    "                              'contentType': 'application/problem+json'}]}]},"
    "   'level': {'type': 'number', 'minimum': 0.5, 'maximum': 1e3, 'multipleOf': 0.25,"
    "             'unit': 'ex:percent', 'forms': [{'href': 'coap://lamp.example.org/level',"
    "             'op': ['readproperty', 'writeproperty'], 'subprotocol': 'cov:observe'}]},"
    "   'cfg': {'type': 'object', 'required': ['a'], 'properties': {'a': {'type': 'array',"
    "           'items': {'type': 'boolean'}, 'minItems': 1, 'maxItems': 3.0}},"
    "           'forms': [{'href': 'cfg', 'response': {'contentType': 'application/json'}}]}},"
    " 'actions': {'toggle': {'safe': false, 'idempotent': false, 'synchronous': true,"
    "   'input': {'type': 'object', 'properties': {'ms': {'type': 'integer', 'const': 5}}},"
    "   'output': {'oneOf': [{'type': 'boolean'}, {'type': 'null'}]},"
    "   'uriVariables': {'x': {'type': 'integer', 'minimum': 0}},"
    "   'forms': [{'href': 'actions/toggle', 'op': ['invokeaction', 'queryaction']}]}},"
    " 'events': {'overheat': {'data': {'type': 'number'}, 'subscription': {'type': 'string'},"
    "   'cancellation': {'type': 'null'}, 'dataResponse': {'type': 'string'},"
    "   'forms': [{'href': 'events/overheat', 'op': 'subscribeevent', 'subprotocol': 'sse'}]}}}";

START_TEST(test_valid_full)
{
    expect_valid(full_td);
    /* and the mapping takes it too */
    json_t *td = tdj(full_td);
    struct fleet_txn *txn = fleet_txn_new();
    struct fleet_td_errors e = {0};
    enum fleet_err rc = fleet_td_to_rdf(td, "urn:dev:ops:32473-WoTLamp-1234", GRAPH, "f", txn, &e);
    print_errors("to_rdf", &e);
    ck_assert_int_eq(rc, FLEET_OK);
    ck_assert_uint_gt(fleet_txn_count(txn), 100);
    fleet_txn_free(txn);
    json_decref(td);
}
END_TEST

START_TEST(test_invalid_document)
{
    json_t *a = json_array();
    static const char *const root[] = {"", NULL};
    expect_invalid_j(a, root);
    json_decref(a);
    struct fleet_td_errors e = {0};
    ck_assert_int_eq(fleet_td_validate(NULL, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(e.n, 1);
    fleet_td_errors_free(&e);
    ck_assert_ptr_null(e.v);
    ck_assert_uint_eq(e.n, 0);
    fleet_td_errors_free(NULL);
    /* NULL errs: the verdict without the details */
    json_t *td = tdj("{" CTX ", " NOSEC "}");
    ck_assert_int_eq(fleet_td_validate(td, NULL), FLEET_ERR_INVAL);
    json_decref(td);
}
END_TEST

START_TEST(test_invalid_title)
{
    INVALID("{" CTX ", " NOSEC "}", "title");
    INVALID("{" CTX ", 'title': 5, " NOSEC "}", "title");
    ck_assert_ptr_nonnull(strstr(error_at("{" CTX ", " NOSEC "}", "title"), "required"));
    INVALID("{" CTX ", 'title': 'x', 'titles': ['x'], " NOSEC "}", "titles");
    INVALID("{" CTX ", 'title': 'x', 'titles': {'en': 1, 'e_n': 'x', '': 'y', 'de': 'z'}, " NOSEC
            "}",
            "titles.en", "titles.e_n", "titles.");
    INVALID("{" CTX
            ", 'title': 'x', 'descriptions': {'toolongsubtag': 'x'}, 'description': []," NOSEC "}",
            "descriptions.toolongsubtag", "description");
}
END_TEST

START_TEST(test_invalid_context)
{
    INVALID("{'title': 'x', " NOSEC "}", "@context");
    INVALID("{'@context': 'https://www.w3.org/ns/td', 'title': 'x', " NOSEC "}", "@context");
    INVALID("{'@context': [{'ex': 'http://e/'}, 'https://www.w3.org/2022/wot/td/v1.1'], "
            "'title': 'x', " NOSEC "}",
            "@context");
    INVALID("{'@context': [], 'title': 'x', " NOSEC "}", "@context");
    INVALID("{'@context': 7, 'title': 'x', " NOSEC "}", "@context");
    INVALID("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', "
            "'https://www.w3.org/2019/wot/td/v1', 3, {'ex': 4, 'ok': 'http://e/'}], "
            "'title': 'x', " NOSEC "}",
            "@context.1", "@context.2", "@context.3.ex");
}
END_TEST

START_TEST(test_invalid_security)
{
    /* a name that is not a security definition, as a string and in arrays */
    INVALID("{" CTX ", 'title': 'x', 'securityDefinitions': {'s': {'scheme': 'nosec'}}, "
            "'security': 'basic_sc'}",
            "security");
    ck_assert_ptr_nonnull(
        strstr(error_at("{" CTX ", 'title': 'x', 'securityDefinitions': {'s': {'scheme': "
                        "'nosec'}}, 'security': 'basic_sc'}",
                        "security"),
               "'basic_sc' is not the name of an entry of securityDefinitions"));
    INVALID("{" CTX ", 'title': 'x', 'securityDefinitions': {'s': {'scheme': 'nosec'}}, "
            "'security': ['s', 'nope', 3]}",
            "security.1", "security.2");
    INVALID("{" CTX ", 'title': 'x', 'securityDefinitions': {'s': {'scheme': 'nosec'}}, "
            "'security': []}",
            "security");
    INVALID("{" CTX ", 'title': 'x', 'securityDefinitions': {'s': {'scheme': 'nosec'}}}",
            "security");
    INVALID("{" CTX ", 'title': 'x', 'security': 'nosec_sc'}", "securityDefinitions");
    INVALID("{" CTX ", 'title': 'x', 'securityDefinitions': {}, 'security': 'x'}",
            "securityDefinitions", "security");
    /* a form's security */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'properties': {'p': {'forms': [{'href': '/p', "
            "'security': ['nosec_sc', 'other']}]}}}",
            "properties.p.forms.0.security.1");
    /* schemes */
    INVALID("{" CTX ", 'title': 'x', 'securityDefinitions': {'a': {}, 'b': {'scheme': 'magic'}, "
            "'c': {'scheme': 'combo', 'oneOf': ['a']}, 'd': {'scheme': 'combo'}, "
            "'e': {'scheme': 'basic', 'in': 'path'}, 'f': {'scheme': 'digest', 'qop': 'x'}, "
            "'g': {'scheme': 'apikey', 'in': 'nowhere'}, 'h': {'scheme': 'auto', 'name': 'n'}, "
            "'i': 'nosec', 'j': {'scheme': 'combo', 'allOf': ['a', 'zz']}}, 'security': 'a'}",
            "securityDefinitions.a.scheme", "securityDefinitions.b.scheme",
            "securityDefinitions.c.oneOf", "securityDefinitions.d", "securityDefinitions.e.in",
            "securityDefinitions.f.qop", "securityDefinitions.g.in", "securityDefinitions.h.name",
            "securityDefinitions.i", "securityDefinitions.j.allOf.1");
}
END_TEST

START_TEST(test_invalid_forms)
{
    /* a form without href */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'properties': {'status': {'forms': "
            "[{'href': '/ok'}, {'op': 'readproperty'}]}}}",
            "properties.status.forms.1.href");
    ck_assert_ptr_nonnull(strstr(error_at("{" CTX ", 'title': 'x', " NOSEC ", 'properties': "
                                          "{'status': {'forms': [{'op': 'readproperty'}]}}}",
                                          "properties.status.forms.0.href"),
                                 "required"));
    /* href of the wrong type or not a URI reference */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'actions': {'a': {'forms': [{'href': 1}, "
            "{'href': 'has space'}, {'href': '<x>'}]}}}",
            "actions.a.forms.0.href", "actions.a.forms.1.href", "actions.a.forms.2.href");
    /* op values: of another affordance kind, unknown, not strings, empty */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'properties': {'status': {'forms': "
            "[{'href': '/s', 'op': 'invokeaction'}]}}, 'actions': {'a': {'forms': [{'href': '/a',"
            " 'op': ['invokeaction', 'readproperty', 7]}, {'href': '/b', 'op': []}]}}, "
            "'events': {'e': {'forms': [{'href': '/e', 'op': 'subscribe'}]}}}",
            "properties.status.forms.0.op", "actions.a.forms.0.op.1", "actions.a.forms.0.op.2",
            "actions.a.forms.1.op", "events.e.forms.0.op");
    /* the Thing's own forms need an op from the Thing's list */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'forms': [{'href': '/all'}, "
            "{'href': '/all', 'op': 'readproperty'}, {'href': '/all', 'op': 'readallproperties'}]}",
            "forms.0.op", "forms.1.op");
    /* forms missing, empty, not an array, not objects */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'properties': {'a': {}, 'b': {'forms': []}, "
            "'c': {'forms': {}}, 'd': {'forms': ['x']}}}",
            "properties.a.forms", "properties.b.forms", "properties.c.forms",
            "properties.d.forms.0");
    /* response, additionalResponses */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'properties': {'p': {'forms': [{'href': '/p', "
            "'response': {}, 'additionalResponses': [{'schema': 'nope', 'success': 1}, 3]}]}}}",
            "properties.p.forms.0.response.contentType",
            "properties.p.forms.0.additionalResponses.0.schema",
            "properties.p.forms.0.additionalResponses.0.success",
            "properties.p.forms.0.additionalResponses.1");
}
END_TEST

START_TEST(test_invalid_types)
{
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'properties': ['p'], 'actions': 1, "
            "'events': {'e': 'x'}, 'links': {}, 'version': '1', 'id': 'not absolute', "
            "'base': '/relative', 'support': 3, 'profile': [], 'uriVariables': []}",
            "properties", "actions", "events.e", "links", "version", "id", "base", "support",
            "profile", "uriVariables");
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'version': {'model': 1}, "
            "'@type': ['Thing', 3], 'links': [{'href': '/a', 'hreflang': 'e_n'}, "
            "{'href': '/b', 'sizes': '16x16'}, {'href': '/c', 'rel': 'icon', 'sizes': 'big'}, 5]}",
            "version.instance", "version.model", "@type.1", "links.0.hreflang", "links.1.sizes",
            "links.2.sizes", "links.3");
    /* data schema members */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'properties': {'p': {'forms': [{'href': '/p'}], "
            "'readOnly': 'yes', 'observable': 1, 'minimum': '0', 'maxLength': -1, "
            "'minItems': 1.5, 'multipleOf': 0, 'type': 'float', 'enum': [], 'required': 'a', "
            "'unit': 5, 'items': 3, 'oneOf': {}, 'properties': {'q': []}}}}",
            "properties.p.readOnly", "properties.p.observable", "properties.p.minimum",
            "properties.p.maxLength", "properties.p.minItems", "properties.p.multipleOf",
            "properties.p.type", "properties.p.enum", "properties.p.required", "properties.p.unit",
            "properties.p.items", "properties.p.oneOf", "properties.p.properties.q");
    /* action and event schemas */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'actions': {'a': {'forms': [{'href': '/a'}], "
            "'input': 5, 'output': {'type': 'x'}, 'safe': 'no'}}, 'events': {'e': "
            "{'forms': [{'href': '/e'}], 'data': {'items': [{'type': 'string'}, 2]}}}}",
            "actions.a.input", "actions.a.output.type", "actions.a.safe", "events.e.data.items.1");
    /* enum values must be unique: the later copy is named */
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'properties': {'p': {'forms': [{'href': '/p'}], "
            "'enum': [{'a': 1, 'b': 2}, 'x', {'b': 2, 'a': 1}, 'y', 'x']}}}",
            "properties.p.enum.2", "properties.p.enum.4");
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'schemaDefinitions': {}}", "schemaDefinitions");
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", '@type': 'tm:ThingModel'}", "@type");
}
END_TEST

START_TEST(test_invalid_dates)
{
    static const char *const bad[] = {
        "yesterday",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:60:00Z",
        "2024-01-01T10:00:00",
        "2024-01-01 10:00:00Z",
        "2024-01-01T10:00:00.Z",
        "2024-01-01T10:00:00+0100",
        "2024-01-01T10:00:00+24:00",
        "2024-01-01",
        "2024-01-01T10:00:00Zjunk",
        "",
    };
    static const char *const good[] = {
        "2024-02-29T00:00:00Z",
        "2000-02-29T23:59:60Z",
        "2024-12-31T10:00:00.123456-05:30",
        "2024-01-01t10:00:00z",
    };
    char text[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "{" CTX ", 'title': 'x', " NOSEC ", 'created': '%s', "
                 "'modified': '%s'}",
                 bad[i], bad[i]);
        INVALID(text, "created", "modified");
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "{" CTX ", 'title': 'x', " NOSEC ", 'created': '%s'}",
                 good[i]);
        expect_valid(text);
    }
    INVALID("{" CTX ", 'title': 'x', " NOSEC ", 'created': 20240101}", "created");
}
END_TEST

/* One TD with a violation of nearly every kind: all are reported, at their fields. */
START_TEST(test_invalid_all_reported)
{
    INVALID("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'x': 5}], "
            "'@type': 'tm:ThingModel', 'titles': {'e_n': 'x'}, "
            "'securityDefinitions': {'a': {'scheme': 'digest', 'qop': 'none'}}, "
            "'security': ['b'], 'created': '2023-02-30T00:00:00Z', "
            "'properties': {'p': {'forms': [{'op': 'invokeaction'}], 'type': 'float'}}, "
            "'links': [{'rel': 'tm:extends'}], "
            "'events': {'e': {'forms': [{'href': 'a b'}]}}}",
            "@context.1.x", "@type", "title", "titles.e_n", "created", "links.0.href",
            "links.0.rel", "securityDefinitions.a.qop", "security.0", "properties.p.type",
            "properties.p.forms.0.href", "properties.p.forms.0.op", "events.e.forms.0.href");
}
END_TEST

START_TEST(test_invalid_truncated)
{
    json_t *td = tdj("{" CTX ", 'title': 'x', " NOSEC ", 'properties': {}}");
    json_t *props = json_object_get(td, "properties");
    char name[16];
    for (int i = 0; i < 150; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        json_object_set_new(props, name, json_object()); /* each lacks forms */
    }
    struct fleet_td_errors e = {0};
    ck_assert_int_eq(fleet_td_validate(td, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(e.n, 100);
    ck_assert_int_eq(e.truncated, 1);
    ck_assert_str_eq(e.v[0].field, "properties.p0.forms");
    ck_assert_str_eq(e.v[99].field, "properties.p99.forms");
    fleet_td_errors_free(&e);
    ck_assert_int_eq(e.truncated, 0);
    json_decref(td);
}
END_TEST

START_TEST(test_invalid_deep_schema)
{
    json_t *td = tdj("{" CTX ", 'title': 'x', " NOSEC ", 'properties': {'p': {'forms': "
                     "[{'href': '/p'}]}}}");
    json_t *s = json_object_get(json_object_get(td, "properties"), "p");
    for (int i = 0; i < 40; i++) {
        json_t *inner = json_object();
        json_object_set_new(s, "items", inner);
        s = inner;
    }
    struct fleet_td_errors e = {0};
    ck_assert_int_eq(fleet_td_validate(td, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(e.n, 1);
    ck_assert_ptr_nonnull(strstr(e.v[0].description, "nested deeper"));
    ck_assert_ptr_nonnull(strstr(e.v[0].field, "properties.p.items.items."));
    fleet_td_errors_free(&e);
    json_decref(td);
}
END_TEST

/* ---- mapping --------------------------------------------------------------------------------- */

static char *term_text(const struct fleet_term *t)
{
    char *s = NULL;
    int n = -1;
    switch (t->kind) {
    case FLEET_TERM_IRI:
        n = asprintf(&s, "<%s>", t->value);
        break;
    case FLEET_TERM_BLANK:
        n = asprintf(&s, "_:%s", t->value);
        break;
    case FLEET_TERM_LITERAL:
        if (t->lang)
            n = asprintf(&s, "\"%s\"@%s", t->value, t->lang);
        else if (t->datatype)
            n = asprintf(&s, "\"%s\"^^<%s>", t->value, t->datatype);
        else
            n = asprintf(&s, "\"%s\"", t->value);
        break;
    default:
        break;
    }
    ck_assert_int_ge(n, 0);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct triples {
    char **v; /* "S P O" lines, sorted */
    size_t n;
};

static void triples_free(struct triples *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
}

/* The triples of txn, which must all be in graph (NULL: the default graph). */
static struct triples txn_triples(const struct fleet_txn *txn, const char *graph)
{
    struct fleet_qs *qs = fleet_qs_new();
    struct triples out = {NULL, 0};
    ck_assert_ptr_nonnull(qs);
    ck_assert_int_eq(fleet_txn_apply(txn, qs), FLEET_OK);
    fleet_tid g = FLEET_QS_DEFAULT_GRAPH;
    if (graph) {
        struct fleet_term gt = {FLEET_TERM_IRI, graph, NULL, NULL};
        g = fleet_qs_lookup(qs, &gt);
        ck_assert_uint_ne(g, 0);
    }
    ck_assert_uint_eq(fleet_qs_graph_size(qs, g), fleet_qs_size(qs));
    out.v = calloc(fleet_qs_size(qs) + 1, sizeof(char *));
    ck_assert_ptr_nonnull(out.v);
    fleet_tid pat[4] = {FLEET_QS_ANY, FLEET_QS_ANY, FLEET_QS_ANY, FLEET_QS_ANY_GRAPH}, q[4];
    struct fleet_qs_iter it;
    fleet_qs_find(qs, pat, &it);
    while (fleet_qs_next(&it, q)) {
        char *part[3];
        for (int i = 0; i < 3; i++) {
            struct fleet_term t;
            ck_assert_int_eq(fleet_qs_term(qs, q[i], &t), FLEET_OK);
            part[i] = term_text(&t);
        }
        ck_assert_int_ge(asprintf(&out.v[out.n++], "%s %s %s", part[0], part[1], part[2]), 0);
        for (int i = 0; i < 3; i++)
            free(part[i]);
    }
    qsort(out.v, out.n, sizeof(char *), cmp_str);
    fleet_qs_free(qs);
    return out;
}

/* Maps text for thing (blank prefix "b", graph GRAPH) and asserts it gives exactly the triples
 * expected (NULL-terminated, any order). */
static void expect_triples(const char *text, const char *thing, const char *const *expected)
{
    json_t *td = tdj(text);
    struct fleet_txn *txn = fleet_txn_new();
    struct fleet_td_errors e = {0};
    size_t n = 0;

    enum fleet_err rc = fleet_td_to_rdf(td, thing, GRAPH, "b", txn, &e);
    print_errors("to_rdf", &e);
    ck_assert_int_eq(rc, FLEET_OK);
    ck_assert_uint_eq(e.n, 0);
    struct triples got = txn_triples(txn, GRAPH);
    while (expected[n])
        n++;
    char **want = calloc(n + 1, sizeof(char *));
    ck_assert_ptr_nonnull(want);
    memcpy(want, expected, n * sizeof(char *));
    qsort(want, n, sizeof(char *), cmp_str);
    int same = got.n == n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(got.v[i], want[i]) == 0;
    if (!same) {
        for (size_t i = 0; i < got.n; i++)
            fprintf(stderr, "got:  %s\n", got.v[i]);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "want: %s\n", want[i]);
    }
    ck_assert_msg(same, "triples differ (%zu got, %zu wanted)", got.n, n);
    free(want);
    triples_free(&got);
    fleet_td_errors_free(&e);
    fleet_txn_free(txn);
    json_decref(td);
}

#define TRIPLES(text, thing, ...)                                                                  \
    do {                                                                                           \
        static const char *const t_[] = {__VA_ARGS__, NULL};                                       \
        expect_triples((text), (thing), t_);                                                       \
    } while (0)

/* Asserts that mapping text is rejected with errors at exactly fields and adds nothing. */
static void expect_rejected(const char *text, const char *thing, const char *const *fields)
{
    json_t *td = tdj(text);
    struct fleet_txn *txn = fleet_txn_new();
    struct fleet_td_errors e = {0};
    size_t n = 0;

    while (fields[n])
        n++;
    ck_assert_int_eq(fleet_td_to_rdf(td, thing, GRAPH, "b", txn, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(fleet_txn_count(txn), 0);
    if (e.n != n)
        print_errors("got", &e);
    ck_assert_uint_eq(e.n, n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e.v[i].field, fields[i]) != 0)
            print_errors("got", &e);
        ck_assert_str_eq(e.v[i].field, fields[i]);
        ck_assert_msg(e.v[i].description[0] != '\0', "no description at %s", fields[i]);
    }
    fleet_td_errors_free(&e);
    fleet_txn_free(txn);
    json_decref(td);
}

#define REJECTED(text, ...)                                                                        \
    do {                                                                                           \
        static const char *const f_[] = {__VA_ARGS__, NULL};                                       \
        expect_rejected((text), THING, f_);                                                        \
    } while (0)

#define T "<" THING "> "

START_TEST(test_map_minimal)
{
    TRIPLES("{" CTX ", 'id': 'urn:ignored', 'title': 'Lamp', " NOSEC "}", THING,
            T "<" TD "title> \"Lamp\"@en", T "<" TD "definesSecurityScheme> _:b_0",
            "_:b_0 <" TD "hasInstanceConfiguration> <" THING "#nosec_sc>",
            "_:b_0 <" RDF "type> <" SEC "NoSecurityScheme>",
            T "<" TD "hasSecurityConfiguration> \"nosec_sc\"");
}
END_TEST

START_TEST(test_map_blank_prefix_and_graph)
{
    json_t *td = tdj("{" CTX ", 'title': 'Lamp', " NOSEC "}");
    struct fleet_txn *txn = fleet_txn_new();
    struct fleet_td_errors e = {0};
    ck_assert_int_eq(fleet_td_to_rdf(td, THING, NULL, "reg42", txn, &e), FLEET_OK);
    /* a second registration into the same transaction: its own blank nodes */
    ck_assert_int_eq(fleet_td_to_rdf(td, THING "2", NULL, "reg43", txn, &e), FLEET_OK);
    struct triples got = txn_triples(txn, NULL);
    ck_assert_uint_eq(got.n, 10);
    int r42 = 0, r43 = 0;
    for (size_t i = 0; i < got.n; i++) {
        r42 += strstr(got.v[i], "_:reg42_0") != NULL;
        r43 += strstr(got.v[i], "_:reg43_0") != NULL;
    }
    ck_assert_int_eq(r42, 3);
    ck_assert_int_eq(r43, 3);
    triples_free(&got);
    fleet_txn_free(txn);
    json_decref(td);
}
END_TEST

START_TEST(test_map_types)
{
    TRIPLES("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'ex': 'http://example.org/ns#'}"
            "], '@type': ['Thing', 'ex:Lamp', 'https://x.example/C', 'urn:x:y', 'td:Other', "
            "'tm:Optional'], 'title': 'L', " NOSEC "}",
            THING, T "<" RDF "type> <" TD "Thing>", T "<" RDF "type> <" EX "Lamp>",
            T "<" RDF "type> <https://x.example/C>", T "<" RDF "type> <urn:x:y>",
            T "<" RDF "type> <" TD "Other>",
            T "<" RDF "type> <https://www.w3.org/2019/wot/tm#Optional>", T "<" TD "title> \"L\"@en",
            T "<" TD "definesSecurityScheme> _:b_0",
            "_:b_0 <" TD "hasInstanceConfiguration> <" THING "#nosec_sc>",
            "_:b_0 <" RDF "type> <" SEC "NoSecurityScheme>",
            T "<" TD "hasSecurityConfiguration> \"nosec_sc\"");
}
END_TEST

/* Nested objects, numbers, booleans, null, schema terms, forms and op. */
START_TEST(test_map_values)
{
    TRIPLES("{" CTX ", 'title': 'L', " NOSEC ", 'properties': {'level': {'type': 'number', "
            "'minimum': 0, 'maximum': 100.0, 'multipleOf': 0.5, 'exclusiveMinimum': -1e-5, "
            "'default': 12345678901234, 'readOnly': true, 'writeOnly': false, "
            "'observable': null, 'description': 'Level', 'unit': 'percent', "
            "'forms': [{'href': 'http://l.example/level', 'op': ['readproperty', 'writeproperty'],"
            " 'contentType': 'application/json'}]}}}",
            THING, T "<" TD "title> \"L\"@en", T "<" TD "definesSecurityScheme> _:b_0",
            "_:b_0 <" TD "hasInstanceConfiguration> <" THING "#nosec_sc>",
            "_:b_0 <" RDF "type> <" SEC "NoSecurityScheme>",
            T "<" TD "hasSecurityConfiguration> \"nosec_sc\"",
            T "<" TD "hasPropertyAffordance> _:b_1", "_:b_1 <" TD "name> \"level\"",
            "_:b_1 <" RDF "type> <" JS "NumberSchema>",
            "_:b_1 <" JS "minimum> \"0\"^^<" XSD "integer>",
            "_:b_1 <" JS "maximum> \"100\"^^<" XSD "integer>",
            "_:b_1 <" JS "multipleOf> \"5.0E-1\"^^<" XSD "double>",
            "_:b_1 <" JS "exclusiveMinimum> \"-1.0E-5\"^^<" XSD "double>",
            "_:b_1 <" JS "default> \"12345678901234\"^^<" XSD "integer>",
            "_:b_1 <" JS "readOnly> \"true\"^^<" XSD "boolean>",
            "_:b_1 <" JS "writeOnly> \"false\"^^<" XSD "boolean>",
            "_:b_1 <" TD "description> \"Level\"@en", "_:b_1 <" SCHEMA "unitCode> <" JS "percent>",
            "_:b_1 <" TD "hasForm> _:b_2",
            "_:b_2 <" HCTL "hasTarget> \"http://l.example/level\"^^<" XSD "anyURI>",
            "_:b_2 <" HCTL "hasOperationType> <" TD "readProperty>",
            "_:b_2 <" HCTL "hasOperationType> <" TD "writeProperty>",
            "_:b_2 <" HCTL "forContentType> \"application/json\"");
}
END_TEST

/* The TD's @language tags its plain strings and wins over the context's "en" for title;
 * titles/descriptions give each language, "@none" an untagged string. */
START_TEST(test_map_language)
{
    TRIPLES("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'@language': 'de'}], "
            "'title': 'Lampe', 'titles': {'en': 'Lamp', 'fr': ['Lampe', 'Luminaire'], "
            "'@none': 'Lamp?'}, 'description': 'Eine Lampe', "
            "'securityDefinitions': {'s': {'scheme': 'basic', 'in': 'header'}}, 'security': 's', "
            "'created': '2024-01-01T00:00:00Z', 'version': {'instance': '1.0', 'model': 'X'}}",
            THING, T "<" TD "title> \"Lampe\"@de", T "<" TD "titleInLanguage> \"Lamp\"@en",
            T "<" TD "titleInLanguage> \"Lampe\"@fr", T "<" TD "titleInLanguage> \"Luminaire\"@fr",
            T "<" TD "titleInLanguage> \"Lamp?\"", T "<" TD "description> \"Eine Lampe\"@de",
            T "<" TD "definesSecurityScheme> _:b_0",
            "_:b_0 <" TD "hasInstanceConfiguration> <" THING "#s>",
            "_:b_0 <" RDF "type> <" SEC "BasicSecurityScheme>", "_:b_0 <" SEC "in> \"header\"@de",
            T "<" TD "hasSecurityConfiguration> \"s\"",
            T "<" DCT "created> \"2024-01-01T00:00:00Z\"^^<" XSD "dateTime>",
            T "<" TD "versionInfo> _:b_1", "_:b_1 <" TD "instance> \"1.0\"",
            "_:b_1 <" TD "model> \"X\"@de");
}
END_TEST

/* href relative to base; @id and @id-coerced terms relative to base, or to the Thing's IRI
 * without one; href without base as written. */
START_TEST(test_map_base)
{
    TRIPLES("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'ex': 'http://example.org/ns#'}"
            "], 'title': 'L', 'base': 'coap://dev.example/api/v1/', " NOSEC ", "
            "'links': [{'href': '../doc/./manual.pdf?x=1#p2', 'anchor': 'sub/'}], "
            "'forms': [{'href': '/all', 'op': 'readallproperties'}], "
            "'ex:owner': {'id': '../people/ann', 'ex:name': 'Ann'}}",
            THING, T "<" TD "title> \"L\"@en", T "<" TD "baseURI> \"coap://dev.example/api/v1/\"",
            T "<" TD "definesSecurityScheme> _:b_0",
            "_:b_0 <" TD "hasInstanceConfiguration> <" THING "#nosec_sc>",
            "_:b_0 <" RDF "type> <" SEC "NoSecurityScheme>",
            T "<" TD "hasSecurityConfiguration> \"nosec_sc\"", T "<" TD "hasLink> _:b_1",
            "_:b_1 <" HCTL "hasTarget> \"coap://dev.example/api/doc/manual.pdf?x=1#p2\"^^<" XSD
            "anyURI>",
            "_:b_1 <" HCTL "hasAnchor> <coap://dev.example/api/v1/sub/>", T "<" TD "hasForm> _:b_2",
            "_:b_2 <" HCTL "hasTarget> \"coap://dev.example/all\"^^<" XSD "anyURI>",
            "_:b_2 <" HCTL "hasOperationType> <" TD "readAllProperties>",
            T "<" EX "owner> <coap://dev.example/api/people/ann>",
            "<coap://dev.example/api/people/ann> <" EX "name> \"Ann\"");
    /* no base: @id against the Thing's IRI, href kept */
    TRIPLES("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'ex': 'http://example.org/ns#'}"
            "], 'title': 'L', " NOSEC ", 'forms': [{'href': 'all', 'op': 'readallproperties'}], "
            "'ex:part': [{'@id': 'lamp/bulb'}, {'@id': '#switch'}, {'@id': '../x/../y'}]}",
            "https://example.org/things/lamp", T "<" TD "title> \"L\"@en",
            T "<" TD "definesSecurityScheme> _:b_0",
            "_:b_0 <" TD "hasInstanceConfiguration> <" THING "#nosec_sc>",
            "_:b_0 <" RDF "type> <" SEC "NoSecurityScheme>",
            T "<" TD "hasSecurityConfiguration> \"nosec_sc\"", T "<" TD "hasForm> _:b_1",
            "_:b_1 <" HCTL "hasTarget> \"all\"^^<" XSD "anyURI>",
            "_:b_1 <" HCTL "hasOperationType> <" TD "readAllProperties>",
            T "<" EX "part> <https://example.org/things/lamp/bulb>",
            T "<" EX "part> <https://example.org/things/lamp#switch>",
            T "<" EX "part> <https://example.org/y>");
}
END_TEST

START_TEST(test_map_base_opaque_thing)
{
    /* a urn Thing: '#frag' resolves, a relative path cannot */
    TRIPLES("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'ex': 'http://example.org/ns#'}"
            "], 'title': 'L', " NOSEC ", 'ex:part': {'@id': '#switch'}}",
            "urn:dev:ops:1", "<urn:dev:ops:1> <" TD "title> \"L\"@en",
            "<urn:dev:ops:1> <" TD "definesSecurityScheme> _:b_0",
            "_:b_0 <" TD "hasInstanceConfiguration> <urn:dev:ops:1#nosec_sc>",
            "_:b_0 <" RDF "type> <" SEC "NoSecurityScheme>",
            "<urn:dev:ops:1> <" TD "hasSecurityConfiguration> \"nosec_sc\"",
            "<urn:dev:ops:1> <" EX "part> <urn:dev:ops:1#switch>");
    static const char *const f[] = {"ex:part.@id", NULL};
    expect_rejected("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', "
                    "{'ex': 'http://example.org/ns#'}], 'title': 'L', " NOSEC ", "
                    "'ex:part': {'@id': 'bulb'}}",
                    "urn:dev:ops:1", f);
}
END_TEST

/* Keys and values with prefixes the TD declares; absolute IRIs; value objects; @set. */
START_TEST(test_map_compact_iris)
{
    TRIPLES("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'ex': 'http://example.org/ns#', "
            "'om': 'http://www.ontology-of-units-of-measure.org/resource/om-2/', "
            "'owner': 'http://example.org/ns#owner'}], 'title': 'L', " NOSEC ", "
            "'ex:unit': 'om:kilobyte', 'ex:note': 'nope:not-declared', 'ex:url': 'http://x/y', "
            "'http://example.org/abs#p': 'v', 'owner': 'Ann', "
            "'ex:age': {'@value': '41', '@type': 'xsd:integer'}, "
            "'ex:name': {'@value': 'Ann', '@language': 'en-GB'}, "
            "'ex:tags': {'@set': ['a', 1.5, true, null]}, 'ex:none': null, "
            "'ex:nested': [[{'@type': 'ex:Part'}]]}",
            THING, T "<" TD "title> \"L\"@en", T "<" TD "definesSecurityScheme> _:b_0",
            "_:b_0 <" TD "hasInstanceConfiguration> <" THING "#nosec_sc>",
            "_:b_0 <" RDF "type> <" SEC "NoSecurityScheme>",
            T "<" TD "hasSecurityConfiguration> \"nosec_sc\"", T "<" EX "unit> <" OM "kilobyte>",
            T "<" EX "note> \"nope:not-declared\"", T "<" EX "url> \"http://x/y\"",
            T "<http://example.org/abs#p> \"v\"", T "<" EX "owner> \"Ann\"",
            T "<" EX "age> \"41\"^^<" XSD "integer>", T "<" EX "name> \"Ann\"@en-gb",
            T "<" EX "tags> \"a\"", T "<" EX "tags> \"1.5E0\"^^<" XSD "double>",
            T "<" EX "tags> \"true\"^^<" XSD "boolean>", T "<" EX "nested> _:b_1",
            "_:b_1 <" RDF "type> <" EX "Part>");
}
END_TEST

/* The security names of a Thing IRI that has a fragment already; hasAdditionalOutputSchema. */
START_TEST(test_map_security_names)
{
    TRIPLES("{" CTX ", 'title': 'L', 'securityDefinitions': {'b': {'scheme': 'bearer', "
            "'authorization': 'https://auth.example/a'}}, 'security': ['b'], "
            "'schemaDefinitions': {'err': {'type': 'null'}}, "
            "'forms': [{'href': 'https://l.example/all', 'op': 'readallproperties', "
            "'security': 'b', 'additionalResponses': [{'schema': 'err', 'success': false}]}]}",
            "https://example.org/t#it", "<https://example.org/t#it> <" TD "title> \"L\"@en",
            "<https://example.org/t#it> <" TD "definesSecurityScheme> _:b_0",
            "_:b_0 <" TD "hasInstanceConfiguration> <https://example.org/t#it/b>",
            "_:b_0 <" RDF "type> <" SEC "BearerSecurityScheme>",
            "_:b_0 <" SEC "authorization> <https://auth.example/a>",
            "<https://example.org/t#it> <" TD "hasSecurityConfiguration> \"b\"",
            "<https://example.org/t#it> <" TD "schemaDefinitions> _:b_1",
            "_:b_1 <" RDF "type> <" JS "NullSchema>",
            "<https://example.org/t#it> <" TD "hasForm> _:b_2",
            "_:b_2 <" HCTL "hasTarget> \"https://l.example/all\"^^<" XSD "anyURI>",
            "_:b_2 <" HCTL "hasOperationType> <" TD "readAllProperties>",
            "_:b_2 <" TD "hasSecurityConfiguration> <https://example.org/t#it/b>",
            "_:b_2 <" HCTL "additionalReturns> _:b_3",
            "_:b_3 <" HCTL "hasAdditionalOutputSchema> <https://example.org/t#it/err>",
            "_:b_3 <" HCTL "isSuccess> \"false\"^^<" XSD "boolean>");
}
END_TEST

/* An S3N capability block as the paper's boards have it, with the "schema" prefix the TD context
 * also uses for https://schema.org/. The WoT Discovery registration member is the directory's. */
START_TEST(test_map_s3n)
{
    TRIPLES(
        "{'@context': ['https://www.w3.org/2022/wot/td/v1.1', "
        "'https://www.w3.org/2022/wot/discovery', {'s3n': 'http://w3id.org/s3n/', "
        "'ssn': 'http://www.w3.org/ns/ssn/', 'ssn-system': 'http://www.w3.org/ns/ssn/systems/',"
        " 'schema': 'https://schema.org/', "
        "'om': 'http://www.ontology-of-units-of-measure.org/resource/om-2/', "
        "'sosa_extend': 'http://tinyml-schema.org/sosa_extend/', "
        "'s3n_extend': 'http://tinyml-schema.org/s3n_extend/'}], "
        "'@type': 's3n:SmartSensor', 'title': 'Board', " NOSEC ", "
        "'registration': {'created': '2024-01-01T00:00:00Z'}, "
        "'ssn:hasSubSystem': [{'@type': 's3n:MicroController', 's3n:hasSystemCapability': "
        "{'ssn-system:hasSystemProperty': [{'@type': 's3n_extend:RAM', 'schema:value': 256, "
        "'schema:unitCode': 'om:kilobyte'}, {'@type': 's3n_extend:Flash', "
        "'schema:value': 1024.0, 'schema:unitCode': 'om:kilobyte'}]}}, "
        "{'@type': 'sosa_extend:Camera'}]}",
        THING, T "<" RDF "type> <" S3N "SmartSensor>", T "<" TD "title> \"Board\"@en",
        T "<" TD "definesSecurityScheme> _:b_0",
        "_:b_0 <" TD "hasInstanceConfiguration> <" THING "#nosec_sc>",
        "_:b_0 <" RDF "type> <" SEC "NoSecurityScheme>",
        T "<" TD "hasSecurityConfiguration> \"nosec_sc\"", T "<" SSN "hasSubSystem> _:b_1",
        "_:b_1 <" RDF "type> <" S3N "MicroController>", "_:b_1 <" S3N "hasSystemCapability> _:b_2",
        "_:b_2 <" SSNS "hasSystemProperty> _:b_3", "_:b_3 <" RDF "type> <" S3NX "RAM>",
        "_:b_3 <" SCHEMA "value> \"256\"^^<" XSD "integer>",
        "_:b_3 <" SCHEMA "unitCode> <" OM "kilobyte>", "_:b_2 <" SSNS "hasSystemProperty> _:b_4",
        "_:b_4 <" RDF "type> <" S3NX "Flash>", "_:b_4 <" SCHEMA "value> \"1024\"^^<" XSD "integer>",
        "_:b_4 <" SCHEMA "unitCode> <" OM "kilobyte>", T "<" SSN "hasSubSystem> _:b_5",
        "_:b_5 <" RDF "type> <" SOSAX "Camera>");
}
END_TEST

/* What the mapping cannot represent is an error at its field, and nothing is added. */
START_TEST(test_map_rejected)
{
#define CTXEX                                                                                      \
    "'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'ex': 'http://example.org/ns#'}]"
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", 'ex:l': {'@list': [1, 2]}}", "ex:l.@list");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", '@graph': []}", "@graph");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", '@reverse': {}}", "@reverse");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", 'ex:a': {'@included': []}}", "ex:a.@included");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", 'ex:a': {'@id': '_:b0'}}", "ex:a.@id");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", '_:p': 1}", "_:p");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", 'ex:a': {'@context': {}}}", "ex:a.@context");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", 'typo': 1, 'nope:x': 2, 'ex:ok': 3}", "typo",
             "nope:x");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", '@type': ['Thing', 'Lamp', 'nope:Lamp']}",
             "@type.1", "@type.2");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", 'ex:v': {'@value': 1, '@language': 'en'}, "
             "'ex:w': {'@value': 'x', '@type': 'ex:dt', '@language': 'en'}, "
             "'ex:x': {'@value': 'x', 'ex:y': 1}, 'ex:z': {'@value': [1]}}",
             "ex:v.@language", "ex:w", "ex:x.ex:y", "ex:z.@value");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC
             ", 'ex:a': {'@id': 'http://a/', 'id': 'http://b/'}}",
             "ex:a");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", 'ex:a': {'@set': [1], 'x': 2}}", "ex:a");
    /* registration is the directory's only when the TD uses the Discovery context */
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", 'registration': {}}", "registration");
    REJECTED("{" CTXEX ", 'title': 'L', " NOSEC ", 'properties': {'p': 5, 'q': {'@value': 1}},"
             " 'titles': ['x']}",
             "properties.p", "properties.q", "titles");
    /* contexts */
    REJECTED("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', 'https://schema.org/'], "
             "'title': 'L', " NOSEC "}",
             "@context.1");
    REJECTED("{'@context': ['https://www.w3.org/2022/wot/td/v1.1', {'@vocab': 'http://e/', "
             "'@base': 'http://e/', 'ex': {'@id': 'http://e/'}, 'ex:y': 'http://e/y', "
             "'title': 'http://e/title', 'td': 'http://e/td#', 'rel': 'e/', '@language': 'e_n'}],"
             " 'title': 'L', " NOSEC "}",
             "@context.1.@vocab", "@context.1.@base", "@context.1.ex", "@context.1.ex:y",
             "@context.1.title", "@context.1.td", "@context.1.rel", "@context.1.@language");
    REJECTED("{'@context': {'ex': 'http://e/'}, 'title': 'L', " NOSEC "}", "@context");
    REJECTED("{'@context': [], 'title': 'L', " NOSEC "}", "@context");
    REJECTED("{'title': 'L', " NOSEC "}", "@context");
    /* deeper than 32 levels */
    json_t *td = tdj("{" CTXEX ", 'title': 'L', " NOSEC "}");
    json_t *o = td;
    for (int i = 0; i < 40; i++) {
        json_t *inner = json_object();
        json_object_set_new(o, "ex:d", inner);
        o = inner;
    }
    struct fleet_txn *txn = fleet_txn_new();
    struct fleet_td_errors e = {0};
    ck_assert_int_eq(fleet_td_to_rdf(td, THING, GRAPH, "b", txn, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(fleet_txn_count(txn), 0);
    ck_assert_uint_eq(e.n, 1);
    ck_assert_ptr_nonnull(strstr(e.v[0].description, "nested deeper"));
    ck_assert_ptr_nonnull(strstr(e.v[0].field, "ex:d.ex:d.ex:d."));
    fleet_td_errors_free(&e);
    fleet_txn_free(txn);
    json_decref(td);
#undef CTXEX
}
END_TEST

START_TEST(test_map_bad_arguments)
{
    json_t *td = tdj("{" CTX ", 'title': 'L', " NOSEC "}");
    struct fleet_txn *txn = fleet_txn_new();
    struct fleet_td_errors e = {0};
    ck_assert_int_eq(fleet_td_to_rdf(td, "not/absolute", GRAPH, "b", txn, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(e.n, 1);
    ck_assert_str_eq(e.v[0].field, "");
    fleet_td_errors_free(&e);
    ck_assert_int_eq(fleet_td_to_rdf(NULL, THING, GRAPH, "b", txn, &e), FLEET_ERR_INVAL);
    ck_assert_int_eq(fleet_td_to_rdf(td, THING, GRAPH, "b", NULL, &e), FLEET_ERR_INVAL);
    json_t *arr = json_array();
    ck_assert_int_eq(fleet_td_to_rdf(arr, THING, GRAPH, "b", txn, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(e.n, 1);
    fleet_td_errors_free(&e);
    ck_assert_uint_eq(fleet_txn_count(txn), 0);
    /* NULL errs: the verdict only */
    json_t *bad = tdj("{" CTX ", 'title': 'L', " NOSEC ", 'typo': 1}");
    ck_assert_int_eq(fleet_td_to_rdf(bad, THING, GRAPH, "b", txn, NULL), FLEET_ERR_INVAL);
    ck_assert_uint_eq(fleet_txn_count(txn), 0);
    json_decref(bad);
    json_decref(arr);
    fleet_txn_free(txn);
    json_decref(td);
}
END_TEST

/* NUL in a string or a key and overlong strings are refused. */
START_TEST(test_map_strings)
{
    json_t *td = tdj("{" CTX ", 'title': 'L', " NOSEC "}");
    json_object_set_new(td, "description", json_stringn("a\0b", 3));
    struct fleet_txn *txn = fleet_txn_new();
    struct fleet_td_errors e = {0};
    ck_assert_int_eq(fleet_td_to_rdf(td, THING, GRAPH, "b", txn, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(e.n, 1);
    ck_assert_str_eq(e.v[0].field, "description");
    fleet_td_errors_free(&e);
    json_object_del(td, "description");

    size_t big = 70 * 1024;
    char *s = malloc(big + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'a', big);
    s[big] = '\0';
    json_object_set_new(td, "description", json_string(s));
    ck_assert_int_eq(fleet_td_to_rdf(td, THING, GRAPH, "b", txn, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(e.n, 1);
    ck_assert_str_eq(e.v[0].field, "description");
    fleet_td_errors_free(&e);
    json_object_del(td, "description");
    free(s);

    json_object_setn_new_nocheck(td, "ex\0x", 4, json_true());
    ck_assert_int_eq(fleet_td_to_rdf(td, THING, GRAPH, "b", txn, &e), FLEET_ERR_INVAL);
    ck_assert_uint_eq(e.n, 1);
    ck_assert_str_eq(e.v[0].field, "ex");
    fleet_td_errors_free(&e);
    ck_assert_uint_eq(fleet_txn_count(txn), 0);
    fleet_txn_free(txn);
    json_decref(td);
}
END_TEST

/* ---- the real boards --------------------------------------------------------------------------
 */

/* A small in-memory graph: the side both the TD mapping and the paper's Turtle are read into. */
struct node {
    int kind; /* FLEET_TERM_* */
    char *value, *lang, *datatype;
};

struct graph {
    struct node (*t)[3];
    size_t n, cap;
};

static char *dup_or_null(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    ck_assert(!s || d);
    return d;
}

static void graph_add(struct graph *g, const struct fleet_term t[3])
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->t = realloc(g->t, g->cap * sizeof(*g->t));
        ck_assert_ptr_nonnull(g->t);
    }
    for (int i = 0; i < 3; i++) {
        g->t[g->n][i].kind = t[i].kind;
        g->t[g->n][i].value = dup_or_null(t[i].value);
        /* the quad store lower-cases language tags; so does this side */
        g->t[g->n][i].lang = dup_or_null(t[i].lang);
        for (char *p = g->t[g->n][i].lang; p && *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        g->t[g->n][i].datatype = dup_or_null(t[i].datatype);
    }
    g->n++;
}

static void graph_free(struct graph *g)
{
    for (size_t i = 0; i < g->n; i++)
        for (int k = 0; k < 3; k++) {
            free(g->t[i][k].value);
            free(g->t[i][k].lang);
            free(g->t[i][k].datatype);
        }
    free(g->t);
}

static void turtle_statement(void *user, raptor_statement *st)
{
    raptor_term *in[3] = {st->subject, st->predicate, st->object};
    struct fleet_term t[3];
    for (int i = 0; i < 3; i++) {
        raptor_term *r = in[i];
        memset(&t[i], 0, sizeof(t[i]));
        switch (r->type) {
        case RAPTOR_TERM_TYPE_URI:
            t[i].kind = FLEET_TERM_IRI;
            t[i].value = (const char *)raptor_uri_as_string(r->value.uri);
            break;
        case RAPTOR_TERM_TYPE_BLANK:
            t[i].kind = FLEET_TERM_BLANK;
            t[i].value = (const char *)r->value.blank.string;
            break;
        case RAPTOR_TERM_TYPE_LITERAL:
            t[i].kind = FLEET_TERM_LITERAL;
            t[i].value = (const char *)r->value.literal.string;
            t[i].lang = (const char *)r->value.literal.language;
            t[i].datatype = r->value.literal.datatype
                                ? (const char *)raptor_uri_as_string(r->value.literal.datatype)
                                : NULL;
            break;
        default:
            ck_abort_msg("unexpected raptor term type");
        }
    }
    graph_add(user, t);
}

static void read_turtle(const char *path, struct graph *g)
{
    raptor_world *w = raptor_new_world();
    ck_assert_ptr_nonnull(w);
    raptor_parser *p = raptor_new_parser(w, "turtle");
    ck_assert_ptr_nonnull(p);
    raptor_parser_set_statement_handler(p, g, turtle_statement);
    unsigned char *us = raptor_uri_filename_to_uri_string(path);
    raptor_uri *uri = raptor_new_uri(w, us);
    ck_assert_int_eq(raptor_parser_parse_file(p, uri, uri), 0);
    raptor_free_uri(uri);
    raptor_free_memory(us);
    raptor_free_parser(p);
    raptor_free_world(w);
}

static void read_td(const char *path, const char *thing, struct graph *g)
{
    json_error_t jerr;
    json_t *td = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(td != NULL, "%s: %s", path, jerr.text);
    struct fleet_td_errors e = {0};
    enum fleet_err rc = fleet_td_validate(td, &e);
    print_errors(path, &e);
    ck_assert_int_eq(rc, FLEET_OK);
    struct fleet_txn *txn = fleet_txn_new();
    rc = fleet_td_to_rdf(td, thing, GRAPH, "board", txn, &e);
    print_errors(path, &e);
    ck_assert_int_eq(rc, FLEET_OK);

    struct fleet_qs *qs = fleet_qs_new();
    ck_assert_int_eq(fleet_txn_apply(txn, qs), FLEET_OK);
    fleet_tid pat[4] = {FLEET_QS_ANY, FLEET_QS_ANY, FLEET_QS_ANY, FLEET_QS_ANY_GRAPH}, q[4];
    struct fleet_qs_iter it;
    fleet_qs_find(qs, pat, &it);
    while (fleet_qs_next(&it, q)) {
        struct fleet_term t[3];
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(fleet_qs_term(qs, q[i], &t[i]), FLEET_OK);
        graph_add(g, t);
    }
    fleet_qs_free(qs);
    fleet_txn_free(txn);
    json_decref(td);
}

/* The capability predicates the issue names, plus rdf:type. */
static const char *const capability[] = {
    RDF "type",
    SSN "hasSubSystem",
    S3N "hasSystemCapability",
    SSNS "hasSystemProperty",
    SCHEMA "value",
    SCHEMA "unitCode",
    NULL,
};

static int is_capability(const char *p)
{
    for (const char *const *c = capability; *c; c++)
        if (strcmp(*c, p) == 0)
            return 1;
    return 0;
}

/* A canonical text for the capability subgraph below node: "[p o; p o; ...]" with the entries
 * sorted and blank nodes written as their own canonical text, so two graphs that differ only in
 * blank node labels give the same text. The subgraphs are trees (no blank node is shared). */
static char *canon(const struct graph *g, const struct node *n, int depth)
{
    char *s = NULL;
    ck_assert_int_lt(depth, 16);
    if (n->kind == FLEET_TERM_LITERAL) {
        ck_assert_int_ge(asprintf(&s, "\"%s\"@%s^^%s", n->value, n->lang ? n->lang : "",
                                  n->datatype ? n->datatype : ""),
                         0);
        return s;
    }
    if (n->kind == FLEET_TERM_IRI && depth > 0) {
        ck_assert_int_ge(asprintf(&s, "<%s>", n->value), 0);
        return s;
    }
    char **items = calloc(g->n + 1, sizeof(char *));
    size_t k = 0, len = 3;
    ck_assert_ptr_nonnull(items);
    for (size_t i = 0; i < g->n; i++) {
        const struct node *t = g->t[i];
        if (t[0].kind != n->kind || strcmp(t[0].value, n->value) != 0 || !is_capability(t[1].value))
            continue;
        char *o = canon(g, &t[2], depth + 1);
        ck_assert_int_ge(asprintf(&items[k], "<%s> %s", t[1].value, o), 0);
        len += strlen(items[k++]) + 2;
        free(o);
    }
    qsort(items, k, sizeof(char *), cmp_str);
    s = malloc(len);
    ck_assert_ptr_nonnull(s);
    strcpy(s, "[");
    for (size_t i = 0; i < k; i++) {
        strcat(s, items[i]);
        strcat(s, i + 1 < k ? "; " : "");
        free(items[i]);
    }
    strcat(s, "]");
    free(items);
    return s;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* What the paper's Turtle says of each board, read off the .ttl files: a check that the
 * comparison below compares something. */
static const struct board {
    const char *file, *thing;
    const char *flash, *ram;
    size_t sensors;
} boards[] = {
    {"adafruit_pyBadge", "http://tinyml-schema.org/tinyml-demo/adafruit_pybadge-322-000-000-005",
     "385", "109", 1},
    {"adafruit_tflite_micro_kit",
     "http://tinyml-schema.org/tinyml-demo/adafruit_tflite_micro_kit-322-000-000-006", "245", "96",
     2},
    {"arduino_nano_ble_33_td",
     "http://tinyml-schema.org/tinyml-demo/arduino_nano_ble_33-322-000-000-002", "628", "172", 5},
    {"arduino_nano_ble_33_tinyml_kit",
     "http://tinyml-schema.org/tinyml-demo/arduino_nano_ble_33_tinyml_kit-322-000-000-003", "785",
     "187", 6},
    {"ssi_web_td", "http://tinyml-schema.org/tinyml-demo/SSI_Web-322-000-000-001", "348", "86", 3},
    {"syntiant_tinymlL_board",
     "http://tinyml-schema.org/tinyml-demo/syntiant_tinyml-322-000-000-004", "1883", "25", 3},
};

START_TEST(test_real_boards)
{
    const char *dir = getenv("SHARED_DIR");
    char path[1024];
    if (!dir || !*dir) {
        fprintf(stderr, "test_real_boards: SHARED_DIR unset: skipped\n");
        return;
    }
    snprintf(path, sizeof(path), "%s/tinyml-kg/devices/%s.td.json", dir, boards[0].file);
    FILE *probe = fopen(path, "r");
    if (!probe) {
        fprintf(stderr, "test_real_boards: %s absent (no ../shared): skipped\n", path);
        return;
    }
    fclose(probe);
    for (size_t i = 0; i < sizeof(boards) / sizeof(boards[0]); i++) {
        const struct board *b = &boards[i];
        struct graph ttl = {0}, td = {0};
        struct node root = {FLEET_TERM_IRI, (char *)b->thing, NULL, NULL};
        char want[512];

        snprintf(path, sizeof(path), "%s/tinyml-kg/devices/%s.ttl", dir, b->file);
        read_turtle(path, &ttl);
        snprintf(path, sizeof(path), "%s/tinyml-kg/devices/%s.td.json", dir, b->file);
        read_td(path, b->thing, &td);
        char *from_ttl = canon(&ttl, &root, 0), *from_td = canon(&td, &root, 0);
        ck_assert_msg(strcmp(from_ttl, from_td) == 0, "%s:\n ttl: %s\n td:  %s", b->file, from_ttl,
                      from_td);

        ck_assert_uint_eq(count(from_td, "<" SSN "hasSubSystem>"), b->sensors + 1);
        ck_assert_uint_eq(count(from_td, "<" SOSAX), b->sensors);
        ck_assert_uint_eq(count(from_td, "<" SCHEMA "unitCode> <" OM "kilobyte>"), 2);
        snprintf(want, sizeof(want),
                 "[<" RDF "type> <" S3NX "Flash>; <" SCHEMA "unitCode> <" OM "kilobyte>; <" SCHEMA
                 "value> \"%s\"@^^" XSD "integer]",
                 b->flash);
        ck_assert_msg(strstr(from_td, want), "%s: no flash of %s kB", b->file, b->flash);
        snprintf(want, sizeof(want),
                 "[<" RDF "type> <" S3NX "RAM>; <" SCHEMA "unitCode> <" OM "kilobyte>; <" SCHEMA
                 "value> \"%s\"@^^" XSD "integer]",
                 b->ram);
        ck_assert_msg(strstr(from_td, want), "%s: no RAM of %s kB", b->file, b->ram);
        ck_assert_ptr_nonnull(strstr(from_td, "<" RDF "type> <" S3N "SmartSensor>"));
        free(from_ttl);
        free(from_td);
        graph_free(&ttl);
        graph_free(&td);
    }
}
END_TEST

static Suite *td_suite(void)
{
    Suite *s = suite_create("td");
    TCase *v = tcase_create("validate");
    tcase_add_test(v, test_valid_minimal);
    tcase_add_test(v, test_valid_td10);
    tcase_add_test(v, test_valid_full);
    tcase_add_test(v, test_invalid_document);
    tcase_add_test(v, test_invalid_title);
    tcase_add_test(v, test_invalid_context);
    tcase_add_test(v, test_invalid_security);
    tcase_add_test(v, test_invalid_forms);
    tcase_add_test(v, test_invalid_types);
    tcase_add_test(v, test_invalid_dates);
    tcase_add_test(v, test_invalid_all_reported);
    tcase_add_test(v, test_invalid_truncated);
    tcase_add_test(v, test_invalid_deep_schema);
    suite_add_tcase(s, v);
    TCase *m = tcase_create("to_rdf");
    tcase_add_test(m, test_map_minimal);
    tcase_add_test(m, test_map_blank_prefix_and_graph);
    tcase_add_test(m, test_map_types);
    tcase_add_test(m, test_map_values);
    tcase_add_test(m, test_map_language);
    tcase_add_test(m, test_map_base);
    tcase_add_test(m, test_map_base_opaque_thing);
    tcase_add_test(m, test_map_compact_iris);
    tcase_add_test(m, test_map_security_names);
    tcase_add_test(m, test_map_s3n);
    tcase_add_test(m, test_map_rejected);
    tcase_add_test(m, test_map_bad_arguments);
    tcase_add_test(m, test_map_strings);
    suite_add_tcase(s, m);
    TCase *r = tcase_create("real");
    tcase_add_test(r, test_real_boards);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(td_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
