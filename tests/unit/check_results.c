/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/results.c: the exact bytes each SPARQL result format produces for the same
 * rows, the escaping rules of each spec (quotes, newlines, tabs, commas, <&>, control characters,
 * non-ASCII), unbound values, language and datatype literals, blank nodes, ill-formed UTF-8, and
 * JSON documents read back with jansson to prove they are valid JSON. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results.h"

#define XSD "http://www.w3.org/2001/XMLSchema#"
#define RDF_LANGSTRING "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
#define R "\xEF\xBF\xBD" /* U+FFFD in UTF-8 */

/* clang-format off */
#define IRI(v) {FLEET_TERM_IRI, (v), NULL, NULL}
#define BNODE(v) {FLEET_TERM_BLANK, (v), NULL, NULL}
#define LIT(v) {FLEET_TERM_LITERAL, (v), NULL, NULL}
#define LANG(v, l) {FLEET_TERM_LITERAL, (v), (l), NULL}
#define TYPED(v, d) {FLEET_TERM_LITERAL, (v), NULL, (d)}
#define UNBOUND {FLEET_TERM_NONE, NULL, NULL, NULL}
/* clang-format on */

/* Writes nrows rows of nvars terms (row-major in rows) and returns the document (new; free()). */
static char *render(enum fleet_rfmt fmt, const char *const *vars, size_t nvars,
                    const struct fleet_term *rows, size_t nrows)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    struct fleet_rw *rw = fleet_rw_new(fmt, vars, nvars, &b);
    ck_assert_ptr_nonnull(rw);
    for (size_t i = 0; i < nrows; i++)
        fleet_rw_row(rw, rows + i * nvars);
    fleet_rw_finish(rw);
    ck_assert_int_eq(b.oom, 0);
    char *s = fleet_buf_steal(&b, NULL);
    ck_assert_ptr_nonnull(s);
    return s;
}

static char *render_bool(enum fleet_rfmt fmt, int value)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    fleet_rw_boolean(fmt, value, &b);
    char *s = fleet_buf_steal(&b, NULL);
    ck_assert_ptr_nonnull(s);
    return s;
}

#define ASSERT_RENDER(fmt, vars, rows, expected)                                                   \
    do {                                                                                           \
        char *got_ = render((fmt), (vars), sizeof(vars) / sizeof(vars[0]), (rows),                 \
                            sizeof(rows) / sizeof(rows[0]) / (sizeof(vars) / sizeof(vars[0])));    \
        ck_assert_str_eq(got_, (expected));                                                        \
        free(got_);                                                                                \
    } while (0)

/* --- one table in every format ---------------------------------------------------------------- */

static const char *const basic_vars[] = {"x", "y"};
/* clang-format off */
static const struct fleet_term basic_rows[] = {
    IRI("http://example/a"), LANG("chat", "fr"),
    BNODE("b0"),             TYPED("5", XSD "integer"),
    UNBOUND,                 LIT("plain"),
    UNBOUND,                 UNBOUND,
};
/* clang-format on */

START_TEST(test_basic_json)
{
    ASSERT_RENDER(FLEET_RFMT_JSON, basic_vars, basic_rows,
                  "{\"head\":{\"vars\":[\"x\",\"y\"]},\"results\":{\"bindings\":["
                  "{\"x\":{\"type\":\"uri\",\"value\":\"http://example/a\"},"
                  "\"y\":{\"type\":\"literal\",\"value\":\"chat\",\"xml:lang\":\"fr\"}},"
                  "{\"x\":{\"type\":\"bnode\",\"value\":\"b0\"},"
                  "\"y\":{\"type\":\"literal\",\"value\":\"5\","
                  "\"datatype\":\"http://www.w3.org/2001/XMLSchema#integer\"}},"
                  "{\"y\":{\"type\":\"literal\",\"value\":\"plain\"}},"
                  "{}"
                  "]}}\n");
}
END_TEST

START_TEST(test_basic_xml)
{
    ASSERT_RENDER(FLEET_RFMT_XML, basic_vars, basic_rows,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
                  "  <head>\n"
                  "    <variable name=\"x\"/>\n"
                  "    <variable name=\"y\"/>\n"
                  "  </head>\n"
                  "  <results>\n"
                  "    <result>\n"
                  "      <binding name=\"x\"><uri>http://example/a</uri></binding>\n"
                  "      <binding name=\"y\"><literal xml:lang=\"fr\">chat</literal></binding>\n"
                  "    </result>\n"
                  "    <result>\n"
                  "      <binding name=\"x\"><bnode>b0</bnode></binding>\n"
                  "      <binding name=\"y\"><literal "
                  "datatype=\"http://www.w3.org/2001/XMLSchema#integer\">5</literal></binding>\n"
                  "    </result>\n"
                  "    <result>\n"
                  "      <binding name=\"y\"><literal>plain</literal></binding>\n"
                  "    </result>\n"
                  "    <result>\n"
                  "    </result>\n"
                  "  </results>\n"
                  "</sparql>\n");
}
END_TEST

START_TEST(test_basic_csv)
{
    ASSERT_RENDER(FLEET_RFMT_CSV, basic_vars, basic_rows,
                  "x,y\r\n"
                  "http://example/a,chat\r\n"
                  "_:b0,5\r\n"
                  ",plain\r\n"
                  ",\r\n");
}
END_TEST

START_TEST(test_basic_tsv)
{
    ASSERT_RENDER(FLEET_RFMT_TSV, basic_vars, basic_rows,
                  "?x\t?y\n"
                  "<http://example/a>\t\"chat\"@fr\n"
                  "_:b0\t5\n"
                  "\t\"plain\"\n"
                  "\t\n");
}
END_TEST

/* --- escaping ------------------------------------------------------------------------------- */

static const char *const esc_vars[] = {"v"};
static const struct fleet_term esc_rows[] = {
    LIT("say \"hi\"\\ back"),
    LIT("line1\nline2\ttab\rcr"),
    LIT("ctl\x01\x1f del\x7f"),
    LIT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
    LIT("a,b"),
    LIT("<&>'"),
    LIT("ls\xe2\x80\xa8"),
};

START_TEST(test_escape_json)
{
    ASSERT_RENDER(FLEET_RFMT_JSON, esc_vars, esc_rows,
                  "{\"head\":{\"vars\":[\"v\"]},\"results\":{\"bindings\":["
                  "{\"v\":{\"type\":\"literal\",\"value\":\"say \\\"hi\\\"\\\\ back\"}},"
                  "{\"v\":{\"type\":\"literal\",\"value\":\"line1\\nline2\\ttab\\rcr\"}},"
                  "{\"v\":{\"type\":\"literal\",\"value\":\"ctl\\u0001\\u001F del\x7f\"}},"
                  "{\"v\":{\"type\":\"literal\",\"value\":\"caf\xc3\xa9 \xe2\x82\xac "
                  "\xf0\x9f\x98\x80\"}},"
                  "{\"v\":{\"type\":\"literal\",\"value\":\"a,b\"}},"
                  "{\"v\":{\"type\":\"literal\",\"value\":\"<&>'\"}},"
                  "{\"v\":{\"type\":\"literal\",\"value\":\"ls\\u2028\"}}"
                  "]}}\n");
}
END_TEST

START_TEST(test_escape_xml)
{
    ASSERT_RENDER(FLEET_RFMT_XML, esc_vars, esc_rows,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
                  "  <head>\n"
                  "    <variable name=\"v\"/>\n"
                  "  </head>\n"
                  "  <results>\n"
                  "    <result>\n"
                  "      <binding name=\"v\"><literal>say &quot;hi&quot;\\ back</literal>"
                  "</binding>\n"
                  "    </result>\n"
                  "    <result>\n"
                  "      <binding name=\"v\"><literal>line1\nline2\ttab&#13;cr</literal>"
                  "</binding>\n"
                  "    </result>\n"
                  "    <result>\n"
                  /* U+0001 and U+001F are not XML 1.0 characters at all */
                  "      <binding name=\"v\"><literal>ctl" R R " del\x7f</literal></binding>\n"
                  "    </result>\n"
                  "    <result>\n"
                  "      <binding name=\"v\"><literal>caf\xc3\xa9 \xe2\x82\xac "
                  "\xf0\x9f\x98\x80</literal></binding>\n"
                  "    </result>\n"
                  "    <result>\n"
                  "      <binding name=\"v\"><literal>a,b</literal></binding>\n"
                  "    </result>\n"
                  "    <result>\n"
                  "      <binding name=\"v\"><literal>&lt;&amp;&gt;'</literal></binding>\n"
                  "    </result>\n"
                  "    <result>\n"
                  "      <binding name=\"v\"><literal>ls\xe2\x80\xa8</literal></binding>\n"
                  "    </result>\n"
                  "  </results>\n"
                  "</sparql>\n");
}
END_TEST

START_TEST(test_escape_csv)
{
    ASSERT_RENDER(FLEET_RFMT_CSV, esc_vars, esc_rows,
                  "v\r\n"
                  "\"say \"\"hi\"\"\\ back\"\r\n"
                  "\"line1\nline2\ttab\rcr\"\r\n"
                  "ctl\x01\x1f del\x7f\r\n"
                  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\r\n"
                  "\"a,b\"\r\n"
                  "<&>'\r\n"
                  "ls\xe2\x80\xa8\r\n");
}
END_TEST

START_TEST(test_escape_tsv)
{
    ASSERT_RENDER(FLEET_RFMT_TSV, esc_vars, esc_rows,
                  "?v\n"
                  "\"say \\\"hi\\\"\\\\ back\"\n"
                  "\"line1\\nline2\\ttab\\rcr\"\n"
                  "\"ctl\\u0001\\u001F del\\u007F\"\n"
                  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n"
                  "\"a,b\"\n"
                  "\"<&>'\"\n"
                  "\"ls\xe2\x80\xa8\"\n");
}
END_TEST

START_TEST(test_csv_quotes_iris_and_header)
{
    static const char *const vars[] = {"a", "b"};
    static const struct fleet_term rows[] = {
        IRI("http://example/x,y"),
        LANG("comma, lang", "en"),
        IRI("http://example/\"q\""),
        TYPED("", XSD "string"),
    };
    ASSERT_RENDER(FLEET_RFMT_CSV, vars, rows,
                  "a,b\r\n"
                  "\"http://example/x,y\",\"comma, lang\"\r\n"
                  "\"http://example/\"\"q\"\"\",\r\n");
}
END_TEST

/* --- terms: datatypes, numbers, blank nodes, IRIs --------------------------------------------- */

static const char *const term_vars[] = {"t"};
static const struct fleet_term term_rows[] = {
    TYPED("42", XSD "integer"),
    TYPED("-7", XSD "integer"),
    TYPED("+3", XSD "integer"),
    TYPED("1.5", XSD "decimal"),
    TYPED(".5", XSD "decimal"),
    TYPED("1.", XSD "decimal"),
    TYPED("1", XSD "decimal"),
    TYPED("1.0e3", XSD "double"),
    TYPED("2E-2", XSD "double"),
    TYPED("INF", XSD "double"),
    TYPED("1.5", XSD "double"),
    TYPED("12", XSD "int"),
    TYPED(" 5", XSD "integer"),
    TYPED("true", XSD "boolean"),
    TYPED("x", XSD "string"),
    {FLEET_TERM_LITERAL, "y", "en-GB", RDF_LANGSTRING},
    TYPED("5", "http://example/dt"),
    IRI("http://example/a b<c>"),
    BNODE("node-1.x"),
    BNODE(""),
};

START_TEST(test_terms_tsv)
{
    ASSERT_RENDER(FLEET_RFMT_TSV, term_vars, term_rows,
                  "?t\n"
                  "42\n"
                  "-7\n"
                  "+3\n"
                  "1.5\n"
                  ".5\n"
                  "\"1.\"^^<http://www.w3.org/2001/XMLSchema#decimal>\n"
                  "\"1\"^^<http://www.w3.org/2001/XMLSchema#decimal>\n"
                  "1.0e3\n"
                  "2E-2\n"
                  "\"INF\"^^<http://www.w3.org/2001/XMLSchema#double>\n"
                  "\"1.5\"^^<http://www.w3.org/2001/XMLSchema#double>\n"
                  "\"12\"^^<http://www.w3.org/2001/XMLSchema#int>\n"
                  "\" 5\"^^<http://www.w3.org/2001/XMLSchema#integer>\n"
                  "\"true\"^^<http://www.w3.org/2001/XMLSchema#boolean>\n"
                  "\"x\"\n"
                  "\"y\"@en-GB\n"
                  "\"5\"^^<http://example/dt>\n"
                  "<http://example/a\\u0020b\\u003Cc\\u003E>\n"
                  "_:node_2D1_2Ex\n"
                  "_:_\n");
}
END_TEST

START_TEST(test_terms_csv)
{
    ASSERT_RENDER(FLEET_RFMT_CSV, term_vars, term_rows,
                  "t\r\n"
                  "42\r\n-7\r\n+3\r\n1.5\r\n.5\r\n1.\r\n1\r\n1.0e3\r\n2E-2\r\nINF\r\n1.5\r\n"
                  "12\r\n 5\r\ntrue\r\nx\r\ny\r\n5\r\n"
                  "http://example/a b<c>\r\n"
                  "_:node_2D1_2Ex\r\n"
                  "_:_\r\n");
}
END_TEST

START_TEST(test_terms_json_datatype_rules)
{
    static const char *const vars[] = {"s", "l", "d"};
    static const struct fleet_term rows[] = {
        TYPED("x", XSD "string"),
        {FLEET_TERM_LITERAL, "y", "en", RDF_LANGSTRING},
        {FLEET_TERM_LITERAL, "z", "", ""}, /* empty tag and datatype mean none */
    };
    ASSERT_RENDER(FLEET_RFMT_JSON, vars, rows,
                  "{\"head\":{\"vars\":[\"s\",\"l\",\"d\"]},\"results\":{\"bindings\":["
                  "{\"s\":{\"type\":\"literal\",\"value\":\"x\"},"
                  "\"l\":{\"type\":\"literal\",\"value\":\"y\",\"xml:lang\":\"en\"},"
                  "\"d\":{\"type\":\"literal\",\"value\":\"z\"}}"
                  "]}}\n");
    ASSERT_RENDER(FLEET_RFMT_XML, vars, rows,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
                  "  <head>\n"
                  "    <variable name=\"s\"/>\n"
                  "    <variable name=\"l\"/>\n"
                  "    <variable name=\"d\"/>\n"
                  "  </head>\n"
                  "  <results>\n"
                  "    <result>\n"
                  "      <binding name=\"s\"><literal>x</literal></binding>\n"
                  "      <binding name=\"l\"><literal xml:lang=\"en\">y</literal></binding>\n"
                  "      <binding name=\"d\"><literal>z</literal></binding>\n"
                  "    </result>\n"
                  "  </results>\n"
                  "</sparql>\n");
}
END_TEST

START_TEST(test_xml_escapes_in_iris_and_attributes)
{
    static const char *const vars[] = {"i", "b", "l"};
    static const struct fleet_term rows[] = {
        IRI("http://example/?a=1&b=<2>"),
        BNODE("b&1"),
        {FLEET_TERM_LITERAL, "v", NULL, "http://example/dt?a=\"1\"&b\t\n"},
    };
    ASSERT_RENDER(FLEET_RFMT_XML, vars, rows,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
                  "  <head>\n"
                  "    <variable name=\"i\"/>\n"
                  "    <variable name=\"b\"/>\n"
                  "    <variable name=\"l\"/>\n"
                  "  </head>\n"
                  "  <results>\n"
                  "    <result>\n"
                  "      <binding name=\"i\"><uri>http://example/?a=1&amp;b=&lt;2&gt;</uri>"
                  "</binding>\n"
                  "      <binding name=\"b\"><bnode>b&amp;1</bnode></binding>\n"
                  "      <binding name=\"l\"><literal "
                  "datatype=\"http://example/dt?a=&quot;1&quot;&amp;b&#9;&#10;\">v</literal>"
                  "</binding>\n"
                  "    </result>\n"
                  "  </results>\n"
                  "</sparql>\n");
}
END_TEST

START_TEST(test_xml_noncharacters_replaced)
{
    /* U+FFFE and U+FFFF are well-formed UTF-8 but not XML 1.0 Chars; JSON keeps them. */
    static const char *const vars[] = {"v"};
    static const struct fleet_term rows[] = {LIT("a\xef\xbf\xbe"
                                                 "b\xef\xbf\xbf"
                                                 "c\x0b")};
    char *xml = render(FLEET_RFMT_XML, vars, 1, rows, 1);
    ck_assert_ptr_nonnull(strstr(xml, "<literal>a" R "b" R "c" R "</literal>"));
    free(xml);
    char *json = render(FLEET_RFMT_JSON, vars, 1, rows, 1);
    ck_assert_ptr_nonnull(strstr(json, "\"a\xef\xbf\xbe"
                                       "b\xef\xbf\xbf"
                                       "c\\u000B\""));
    free(json);
}
END_TEST

/* --- ill-formed UTF-8 ------------------------------------------------------------------------ */

/* Each ill-formed piece becomes one U+FFFD per maximal subpart (Unicode ch. 3, "U+FFFD
 * Substitution of Maximal Subparts"): a stray byte, a truncated sequence, an overlong form, an
 * encoded surrogate, a truncated 4-byte sequence before ASCII, a value above U+10FFFF. */
#define BAD_IN                                                                                     \
    "a\xff"                                                                                        \
    "b|\xc3|\xc0\xaf|\xed\xa0\x80|\xf0\x9f\x98"                                                    \
    "x|\xf4\x90\x80\x80|\xe2\x82"
#define BAD_OUT "a" R "b|" R "|" R R "|" R R R "|" R "x|" R R R R "|" R

START_TEST(test_invalid_utf8_all_formats)
{
    static const char *const vars[] = {"v"};
    static const struct fleet_term rows[] = {LIT(BAD_IN)};

    char *s = render(FLEET_RFMT_JSON, vars, 1, rows, 1);
    ck_assert_str_eq(s, "{\"head\":{\"vars\":[\"v\"]},\"results\":{\"bindings\":["
                        "{\"v\":{\"type\":\"literal\",\"value\":\"" BAD_OUT "\"}}]}}\n");
    json_error_t err;
    json_t *doc = json_loads(s, 0, &err); /* jansson rejects ill-formed UTF-8 */
    ck_assert_msg(doc != NULL, "invalid JSON: %s", err.text);
    json_t *v = json_object_get(
        json_object_get(
            json_array_get(json_object_get(json_object_get(doc, "results"), "bindings"), 0), "v"),
        "value");
    ck_assert_str_eq(json_string_value(v), BAD_OUT);
    json_decref(doc);
    free(s);

    s = render(FLEET_RFMT_XML, vars, 1, rows, 1);
    ck_assert_ptr_nonnull(strstr(s, "<literal>" BAD_OUT "</literal>"));
    free(s);
    s = render(FLEET_RFMT_CSV, vars, 1, rows, 1);
    ck_assert_str_eq(s, "v\r\n" BAD_OUT "\r\n");
    free(s);
    s = render(FLEET_RFMT_TSV, vars, 1, rows, 1);
    ck_assert_str_eq(s, "?v\n\"" BAD_OUT "\"\n");
    free(s);
}
END_TEST

START_TEST(test_invalid_utf8_in_iri_lang_and_var)
{
    static const char *const vars[] = {"v\xff"};
    static const struct fleet_term rows[] = {
        {FLEET_TERM_LITERAL, "x", "e\xc3", NULL},
    };
    char *s = render(FLEET_RFMT_JSON, vars, 1, rows, 1);
    ck_assert_str_eq(s, "{\"head\":{\"vars\":[\"v" R "\"]},\"results\":{\"bindings\":["
                        "{\"v" R "\":{\"type\":\"literal\",\"value\":\"x\",\"xml:lang\":\"e" R
                        "\"}}]}}\n");
    json_t *doc = json_loads(s, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    json_decref(doc);
    free(s);

    static const char *const ivars[] = {"i"};
    static const struct fleet_term irows[] = {IRI("http://example/\xe9t\xc3\xa9")};
    s = render(FLEET_RFMT_TSV, ivars, 1, irows, 1);
    ck_assert_str_eq(s, "?i\n<http://example/" R "t\xc3\xa9>\n");
    free(s);
}
END_TEST

/* --- JSON read back --------------------------------------------------------------------------- */

START_TEST(test_json_roundtrip_jansson)
{
    static const char *const vars[] = {"s", "o"};
    enum { NROWS = 1000 };
    struct fleet_term *rows = calloc(NROWS * 2, sizeof(*rows));
    char(*text)[64] = calloc(NROWS, sizeof(*text));
    ck_assert_ptr_nonnull(rows);
    ck_assert_ptr_nonnull(text);
    for (int i = 0; i < NROWS; i++) {
        /* every byte value 1..255 appears somewhere, most of them ill-formed on their own */
        for (int j = 0; j < 8; j++)
            text[i][j] = (char)(1 + (i * 8 + j) % 255);
        snprintf(text[i] + 8, sizeof(text[i]) - 8, "\"\\\n#%d", i);
        rows[2 * i] = (struct fleet_term){FLEET_TERM_IRI, "http://example/s", NULL, NULL};
        if (i % 3 == 0)
            rows[2 * i + 1] = (struct fleet_term){FLEET_TERM_NONE, NULL, NULL, NULL};
        else
            rows[2 * i + 1] = (struct fleet_term){FLEET_TERM_LITERAL, text[i], "en", NULL};
    }
    char *s = render(FLEET_RFMT_JSON, vars, 2, rows, NROWS);

    json_error_t err;
    json_t *doc = json_loads(s, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(doc != NULL, "invalid JSON at %d: %s", err.position, err.text);
    json_t *hvars = json_object_get(json_object_get(doc, "head"), "vars");
    ck_assert_int_eq(json_array_size(hvars), 2);
    ck_assert_str_eq(json_string_value(json_array_get(hvars, 1)), "o");
    json_t *bindings = json_object_get(json_object_get(doc, "results"), "bindings");
    ck_assert_int_eq(json_array_size(bindings), NROWS);
    for (int i = 0; i < NROWS; i++) {
        json_t *b = json_array_get(bindings, (size_t)i);
        json_t *o = json_object_get(b, "o");
        if (i % 3 == 0) {
            ck_assert_ptr_null(o); /* unbound: left out of the binding object */
            ck_assert_int_eq(json_object_size(b), 1);
            continue;
        }
        ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "literal");
        ck_assert_str_eq(json_string_value(json_object_get(o, "xml:lang")), "en");
        const char *v = json_string_value(json_object_get(o, "value"));
        ck_assert_ptr_nonnull(v);
        char tail[32];
        snprintf(tail, sizeof(tail), "\"\\\n#%d", i);
        size_t vl = strlen(v), tl = strlen(tail);
        ck_assert_uint_ge(vl, tl);
        ck_assert_str_eq(v + vl - tl, tail);
    }
    json_decref(doc);
    free(s);
    free(rows);
    free(text);
}
END_TEST

/* --- ASK, empty results, API edges ----------------------------------------------------------- */

START_TEST(test_boolean_all_formats)
{
    static const struct {
        enum fleet_rfmt fmt;
        int value;
        const char *expected;
    } cases[] = {
        {FLEET_RFMT_JSON, 1, "{\"head\":{},\"boolean\":true}\n"},
        {FLEET_RFMT_JSON, 0, "{\"head\":{},\"boolean\":false}\n"},
        {FLEET_RFMT_XML, 1,
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
         "  <head/>\n"
         "  <boolean>true</boolean>\n"
         "</sparql>\n"},
        {FLEET_RFMT_XML, 0,
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
         "  <head/>\n"
         "  <boolean>false</boolean>\n"
         "</sparql>\n"},
        {FLEET_RFMT_CSV, 1, "_askResult\r\ntrue\r\n"},
        {FLEET_RFMT_CSV, 0, "_askResult\r\nfalse\r\n"},
        {FLEET_RFMT_TSV, 42, "?_askResult\ntrue\n"},
        {FLEET_RFMT_TSV, 0, "?_askResult\nfalse\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = render_bool(cases[i].fmt, cases[i].value);
        ck_assert_str_eq(s, cases[i].expected);
        if (cases[i].fmt == FLEET_RFMT_JSON) {
            json_t *doc = json_loads(s, 0, NULL);
            ck_assert_ptr_nonnull(doc);
            ck_assert(json_is_boolean(json_object_get(doc, "boolean")));
            ck_assert_int_eq(json_is_true(json_object_get(doc, "boolean")), !!cases[i].value);
            json_decref(doc);
        }
        free(s);
    }
}
END_TEST

START_TEST(test_no_rows)
{
    static const char *const vars[] = {"x", "y"};
    struct fleet_buf b = FLEET_BUF_INIT;
    static const struct {
        enum fleet_rfmt fmt;
        const char *expected;
    } cases[] = {
        {FLEET_RFMT_JSON, "{\"head\":{\"vars\":[\"x\",\"y\"]},\"results\":{\"bindings\":[]}}\n"},
        {FLEET_RFMT_XML, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
                         "  <head>\n"
                         "    <variable name=\"x\"/>\n"
                         "    <variable name=\"y\"/>\n"
                         "  </head>\n"
                         "  <results>\n"
                         "  </results>\n"
                         "</sparql>\n"},
        {FLEET_RFMT_CSV, "x,y\r\n"},
        {FLEET_RFMT_TSV, "?x\t?y\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fleet_buf_reset(&b);
        fleet_rw_finish(fleet_rw_new(cases[i].fmt, vars, 2, &b));
        ck_assert_str_eq(b.data, cases[i].expected);
    }
    fleet_buf_free(&b);
}
END_TEST

START_TEST(test_no_vars)
{
    /* SELECT * { } : no variables, one empty solution */
    struct fleet_buf b = FLEET_BUF_INIT;
    struct fleet_rw *rw = fleet_rw_new(FLEET_RFMT_JSON, NULL, 0, &b);
    ck_assert_ptr_nonnull(rw);
    fleet_rw_row(rw, NULL);
    fleet_rw_finish(rw);
    ck_assert_str_eq(b.data, "{\"head\":{\"vars\":[]},\"results\":{\"bindings\":[{}]}}\n");
    fleet_buf_free(&b);
}
END_TEST

START_TEST(test_vars_are_copied)
{
    char name[] = "x";
    const char *vars[] = {name};
    static const struct fleet_term row[] = {LIT("1")};
    struct fleet_buf b = FLEET_BUF_INIT;
    struct fleet_rw *rw = fleet_rw_new(FLEET_RFMT_JSON, vars, 1, &b);
    ck_assert_ptr_nonnull(rw);
    name[0] = 'z';
    fleet_rw_row(rw, row);
    fleet_rw_finish(rw);
    ck_assert_ptr_nonnull(strstr(b.data, "\"bindings\":[{\"x\":"));
    fleet_buf_free(&b);
}
END_TEST

START_TEST(test_appends_to_buffer)
{
    static const char *const vars[] = {"x"};
    struct fleet_buf b = FLEET_BUF_INIT;
    fleet_buf_puts(&b, "prefix|");
    fleet_rw_finish(fleet_rw_new(FLEET_RFMT_CSV, vars, 1, &b));
    ck_assert_str_eq(b.data, "prefix|x\r\n");
    fleet_buf_free(&b);
}
END_TEST

START_TEST(test_api_edges)
{
    static const char *const vars[] = {"x"};
    struct fleet_buf b = FLEET_BUF_INIT;

    ck_assert_str_eq(fleet_rfmt_mime(FLEET_RFMT_JSON), "application/sparql-results+json");
    ck_assert_str_eq(fleet_rfmt_mime(FLEET_RFMT_XML), "application/sparql-results+xml");
    ck_assert_str_eq(fleet_rfmt_mime(FLEET_RFMT_CSV), "text/csv");
    ck_assert_str_eq(fleet_rfmt_mime(FLEET_RFMT_TSV), "text/tab-separated-values");
    ck_assert_ptr_null(fleet_rfmt_mime((enum fleet_rfmt)99));

    ck_assert_ptr_null(fleet_rw_new((enum fleet_rfmt)99, vars, 1, &b));
    ck_assert_ptr_null(fleet_rw_new(FLEET_RFMT_JSON, vars, 1, NULL));
    ck_assert_ptr_null(fleet_rw_new(FLEET_RFMT_JSON, NULL, 1, &b));
    fleet_rw_row(NULL, NULL);
    fleet_rw_finish(NULL);
    fleet_rw_boolean(FLEET_RFMT_JSON, 1, NULL);
    fleet_rw_boolean((enum fleet_rfmt)99, 1, &b);
    ck_assert_uint_eq(b.len, 0);
    fleet_buf_free(&b);
}
END_TEST

static Suite *results_suite(void)
{
    Suite *s = suite_create("results");
    TCase *tc = tcase_create("formats");
    tcase_add_test(tc, test_basic_json);
    tcase_add_test(tc, test_basic_xml);
    tcase_add_test(tc, test_basic_csv);
    tcase_add_test(tc, test_basic_tsv);
    tcase_add_test(tc, test_escape_json);
    tcase_add_test(tc, test_escape_xml);
    tcase_add_test(tc, test_escape_csv);
    tcase_add_test(tc, test_escape_tsv);
    tcase_add_test(tc, test_csv_quotes_iris_and_header);
    tcase_add_test(tc, test_terms_tsv);
    tcase_add_test(tc, test_terms_csv);
    tcase_add_test(tc, test_terms_json_datatype_rules);
    tcase_add_test(tc, test_xml_escapes_in_iris_and_attributes);
    tcase_add_test(tc, test_xml_noncharacters_replaced);
    tcase_add_test(tc, test_invalid_utf8_all_formats);
    tcase_add_test(tc, test_invalid_utf8_in_iri_lang_and_var);
    tcase_add_test(tc, test_json_roundtrip_jansson);
    tcase_add_test(tc, test_boolean_all_formats);
    tcase_add_test(tc, test_no_rows);
    tcase_add_test(tc, test_no_vars);
    tcase_add_test(tc, test_vars_are_copied);
    tcase_add_test(tc, test_appends_to_buffer);
    tcase_add_test(tc, test_api_edges);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(results_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
