/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/sparql_reorder.c, as pure string tests: the case-study queries come out in
 * the expected greedy order (exact text), hand-ordered queries and every group holding something
 * other than triples and plain FILTERs keep their bytes (while groups nested in them are
 * reordered), strings, IRIs and comments holding braces, dots, semicolons or keywords are never
 * mistaken for structure, CONSTRUCT templates and VALUES blocks are never touched, and anything
 * malformed comes back unchanged with FLEET_OK. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparql_reorder.h"

/* reorder that must succeed; returns the new text (free it) and sets *changed. */
static char *reorder(const char *q, int *changed)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    char err[256] = "";
    int c = -1;
    enum fleet_err rc = fleet_sparql_reorder(q, &out, &c, err, sizeof(err));
    ck_assert_msg(rc == FLEET_OK, "reorder failed (%d: %s) on: %s", rc, err, q);
    ck_assert_msg(c == 0 || c == 1, "changed = %d", c);
    fleet_buf_append(&out, "", 0);
    if (changed)
        *changed = c;
    return fleet_buf_steal(&out, NULL);
}

static void assert_reordered(const char *in, const char *want)
{
    int changed;
    char *got = reorder(in, &changed);
    ck_assert_str_eq(got, want);
    ck_assert_int_eq(changed, 1);
    free(got);
    /* The greedy order of an already greedy text is the text itself. */
    got = reorder(want, &changed);
    ck_assert_msg(changed == 0 && strcmp(got, want) == 0, "not a fixed point: %s", got);
    free(got);
}

static void assert_unchanged(const char *in)
{
    int changed;
    char *got = reorder(in, &changed);
    ck_assert_str_eq(got, in);
    ck_assert_msg(changed == 0, "changed set for: %s", in);
    free(got);
}

/* Asserts that each of lines[] occurs in text, in that order. */
static void assert_in_order(const char *text, const char *const *lines, size_t n)
{
    const char *at = text;
    for (size_t i = 0; i < n; i++) {
        const char *p = strstr(at, lines[i]);
        ck_assert_msg(p != NULL, "'%s' missing or out of order in:\n%s", lines[i], text);
        at = p + strlen(lines[i]);
    }
}

/* ---- the case studies ---------------------------------------------------------------------- */

/* clang-format off */
#define CASE_PROLOGUE \
    "PREFIX s3n: <http://w3id.org/s3n/>\n" \
    "PREFIX sosa: <http://www.w3.org/ns/sosa/> \n" \
    "PREFIX ssn: <http://www.w3.org/ns/ssn/>\n" \
    "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>\n" \
    "PREFIX ssn-system: <http://www.w3.org/ns/ssn/systems/>\n" \
    "PREFIX schema: <https://schema.org/>\n" \
    "PREFIX om: <http://www.ontology-of-units-of-measure.org/resource/om-2/>\n" \
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n" \
    "PREFIX td: <https://www.w3.org/2019/wot/td#>\n" \
    "PREFIX nnet: <http://tinyml-schema.org/networkschema#>\n" \
    "PREFIX s3n_extend: <http://tinyml-schema.org/s3n_extend/> \n" \
    "PREFIX sosa_extend: <http://tinyml-schema.org/sosa_extend/> \n" \
    "PREFIX ssn_extend: <http://tinyml-schema.org/ssn_extend/>\n" \
    "\n"

/* A verbatim copy of ../shared/tinyml-kg/queries/case1-devices-for-model.rq, tabs and trailing
 * spaces included; test_case_study_files checks the file itself under `make check`. */
static const char case1[] = CASE_PROLOGUE
    "SELECT ?Board ?RAM ?Flash\n"
    "WHERE {\n"
    "    ?Board a s3n:SmartSensor ;\n"
    "    \tssn:hasSubSystem ?system_1 ;\n"
    "\t\tssn:hasSubSystem ?system_2 ;      \t\n"
    "\t\tssn:hasSubSystem ?system_3 .\n"
    "\t\t?system_1 a sosa_extend:Accelerometer .\n"
    "\t\t?system_2 a sosa_extend:Gyroscope .\n"
    "\t\t?system_3 a s3n:MicroController ;\n"
    "\t\t\ts3n:hasSystemCapability ?x .\n"
    "\t\t?x ssn-system:hasSystemProperty ?cond_1 .\n"
    "        ?x ssn-system:hasSystemProperty ?cond_2 .\n"
    "\t\t?cond_1 a s3n_extend:RAM ;\n"
    "\t\t\tschema:value ?RAM ;\n"
    "\t\t\tschema:unitCode om:kilobyte .\n"
    "    \t?cond_2 a s3n_extend:Flash ;\n"
    "\t\t\tschema:value ?Flash ;\n"
    "\t\t\tschema:unitCode om:kilobyte .\n"
    "\t\tFILTER (?RAM >= 116)\n"
    "    \tFILTER (?Flash >= 531)\n"
    "    }\n";

/* Every board's subsystems are typed right after they are bound, instead of after all three
 * hasSubSystem patterns (boards x subsystems^3 rows before the first check). */
static const char case1_reordered[] = CASE_PROLOGUE
    "SELECT ?Board ?RAM ?Flash\n"
    "WHERE {\n"
    "    ?Board a s3n:SmartSensor .\n"
    "    ?Board ssn:hasSubSystem ?system_1 .\n"
    "    ?system_1 a sosa_extend:Accelerometer .\n"
    "    ?Board ssn:hasSubSystem ?system_2 .\n"
    "    ?system_2 a sosa_extend:Gyroscope .\n"
    "    ?Board ssn:hasSubSystem ?system_3 .\n"
    "    ?system_3 a s3n:MicroController .\n"
    "    ?system_3 s3n:hasSystemCapability ?x .\n"
    "    ?x ssn-system:hasSystemProperty ?cond_1 .\n"
    "    ?cond_1 a s3n_extend:RAM .\n"
    "    ?cond_1 schema:unitCode om:kilobyte .\n"
    "    ?x ssn-system:hasSystemProperty ?cond_2 .\n"
    "    ?cond_2 a s3n_extend:Flash .\n"
    "    ?cond_2 schema:unitCode om:kilobyte .\n"
    "    ?cond_1 schema:value ?RAM .\n"
    "    ?cond_2 schema:value ?Flash .\n"
    "    FILTER (?RAM >= 116)\n"
    "    FILTER (?Flash >= 531)\n"
    "    }\n";
/* clang-format on */

START_TEST(test_case1)
{
    assert_reordered(case1, case1_reordered);
}
END_TEST

static const char *const case2_order[] = {
    "?nn a nnet:NeuralNetwork .",
    "?nn schema:identifier ?uuid .",
    "?nn ssn:hasInput ?input .",
    "?nn nnet:hasMultiplyAccumulateOps ?MACs .",
    "?nn s3n:hasProcedureFeature ?x_1 .",
    "?nn s3n:hasProcedureFeature ?x_2 .",
    "?x_1 ssn-system:inCondition ?cond_1 .",
    "?cond_1 a s3n_extend:RAM .",
    "?x_2 ssn-system:inCondition ?cond_2 .",
    "?cond_2 a s3n_extend:Flash .",
    "?cond_1 schema:minValue ?RAM .",
    "?cond_2 schema:minValue ?Flash .",
    "?sensor ssn_extend:provideInput ?input .",
    "?sensor a sosa_extend:Camera .",
    "FILTER (?RAM <= 127)",
    "FILTER (?Flash <= 576)",
    "}",
};

static const char *const case3_order[] = {
    "?nn a nnet:NeuralNetwork .",
    "?nn schema:identifier ?uuid .",
    "?nn schema:description ?description .",
    "?nn ssn:hasInput ?input .",
    "?nn nnet:hasCategory ?Category .",
    "?nn nnet:hasMetric ?metric .",
    "?metric a nnet:Top_1_accuracy .",
    "?nn nnet:hasMultiplyAccumulateOps ?MACs .",
    "?nn nnet:trainingDataset ?dataset .",
    "?nn s3n:hasProcedureFeature ?x_1 .",
    "?nn s3n:hasProcedureFeature ?x_2 .",
    "?metric nnet:hasMetricValue ?Acc .",
    "?x_1 ssn-system:inCondition ?cond_1 .",
    "?cond_1 a s3n_extend:RAM .",
    "?x_2 ssn-system:inCondition ?cond_2 .",
    "?cond_2 a s3n_extend:Flash .",
    "?cond_1 schema:minValue ?Min_RAM .",
    "?cond_2 schema:minValue ?Min_Flash .",
    "?sensor ssn_extend:provideInput ?input .",
    "?sensor a sosa_extend:Microphone .",
    "FILTER regex(?description, \"yes/no\", \"i\")",
    "FILTER regex(str(?dataset), \"speech_commands\", \"i\")",
    "}ORDER BY ?Acc\n",
};

START_TEST(test_case_study_files)
{
    static const char *const names[] = {"case1-devices-for-model.rq", "case2-models-for-device.rq",
                                        "case3-rank-models-for-task.rq"};
    const char *dir = getenv("SHARED_DIR");
    if (!dir)
        return; /* only under `make check`; test_case1 covers the first file's text */
    for (size_t i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/tinyml-kg/queries/%s", dir, names[i]);
        FILE *fp = fopen(path, "r");
        if (!fp && i == 0) {
            fprintf(stderr, "test_case_study_files: %s absent (no ../shared): skipped\n", path);
            return;
        }
        ck_assert_msg(fp != NULL, "cannot open %s", path);
        struct fleet_buf b = FLEET_BUF_INIT;
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
            fleet_buf_append(&b, chunk, n);
        fclose(fp);
        fleet_buf_append(&b, "", 0);
        int changed;
        char *out = reorder(b.data, &changed);
        ck_assert_msg(changed == 1, "%s not reordered", names[i]);
        if (i == 0)
            ck_assert_str_eq(out, case1_reordered);
        else if (i == 1)
            assert_in_order(out, case2_order, sizeof(case2_order) / sizeof(case2_order[0]));
        else
            assert_in_order(out, case3_order, sizeof(case3_order) / sizeof(case3_order[0]));
        /* the prologue and the select line are kept byte for byte */
        const char *where = strstr(b.data, "WHERE");
        ck_assert_ptr_nonnull(where);
        ck_assert_int_eq(strncmp(out, b.data, (size_t)(where - b.data)), 0);
        free(out);
        fleet_buf_free(&b);
    }
}
END_TEST

/* ---- what is reordered, and how ------------------------------------------------------------ */

START_TEST(test_basic_one_line)
{
    assert_reordered("SELECT * WHERE { ?s ex:p ?o . ?s a ex:T }",
                     "SELECT * WHERE { ?s a ex:T . ?s ex:p ?o . }");
    /* Lower-case keywords, no WHERE, ASK and DESCRIBE too. */
    assert_reordered("select * { ?s ex:p ?o . ?s a ex:T }",
                     "select * { ?s a ex:T . ?s ex:p ?o . }");
    assert_reordered("ASK { ?s ex:p ?o . ?s a ex:T }", "ASK { ?s a ex:T . ?s ex:p ?o . }");
    assert_reordered("DESCRIBE ?s WHERE { ?s ex:p ?o . ?s a ex:T }",
                     "DESCRIBE ?s WHERE { ?s a ex:T . ?s ex:p ?o . }");
}
END_TEST

START_TEST(test_ranks)
{
    /* Nothing bound (7) waits for the constant-subject pattern (s,p: 1), whose object then binds
     * the next one's subject (s: 3), and so on. */
    assert_reordered("SELECT * { ?a ?b ?c . ?x ?y ?a . <s> ex:p ?x }",
                     "SELECT * { <s> ex:p ?x . ?x ?y ?a . ?a ?b ?c . }");
    /* s,p,o (0) before s,p (1) before s (3). */
    assert_reordered("SELECT * { ex:s ex:p ?o . ex:s ?q ?z . ?o ex:r ?w . ?o ex:r 1 }",
                     "SELECT * { ex:s ex:p ?o . ?o ex:r 1 . ?o ex:r ?w . ex:s ?q ?z . }");
    /* s,o (2) before s (3); p,o (4) before o (5); o (5) before p (6). */
    assert_reordered("SELECT * { ex:s ?p ?o . ex:s ?q ex:o }",
                     "SELECT * { ex:s ?q ex:o . ex:s ?p ?o . }");
    assert_reordered("SELECT * { ?s ?p ex:o . ?t ex:p ex:o }",
                     "SELECT * { ?t ex:p ex:o . ?s ?p ex:o . }");
    assert_reordered("SELECT * { ?s ex:p ?o . ?s ?p ex:o }",
                     "SELECT * { ?s ?p ex:o . ?s ex:p ?o . }");
    assert_reordered("SELECT * { ex:a ex:b ?o . ?x ex:p ?y . ?z ?q ?o }",
                     "SELECT * { ex:a ex:b ?o . ?z ?q ?o . ?x ex:p ?y . }");
    /* Ties keep the written order. */
    assert_unchanged("SELECT * { ?a ex:p ?b . ?c ex:q ?d . ?e ex:r ?f }");
}
END_TEST

START_TEST(test_variables_and_bnodes)
{
    /* $y and ?y are one variable: binding $y makes `?x ex:p ?y` rank 4 ahead of rank 6. */
    assert_reordered("SELECT * { ?a ex:q ?b . ?x ex:p ?y . $y a ex:T }",
                     "SELECT * { $y a ex:T . ?x ex:p ?y . ?a ex:q ?b . }");
    /* A blank node label is a variable, and `_:x` is not `?x`. */
    assert_reordered("SELECT * { _:b ex:p ?o . _:b a ex:T }",
                     "SELECT * { _:b a ex:T . _:b ex:p ?o . }");
    assert_reordered("SELECT * { ?x a ex:T . _:x ex:p ?o . ?o ex:q ?x }",
                     "SELECT * { ?x a ex:T . ?o ex:q ?x . _:x ex:p ?o . }");
    /* Variables in a FILTER bind nothing; the FILTER moves after the triples. */
    assert_reordered("SELECT * { ?s ex:p ?o FILTER(?s = ex:a) ?s a ex:T }",
                     "SELECT * { ?s a ex:T . ?s ex:p ?o . FILTER(?s = ex:a) }");
}
END_TEST

START_TEST(test_lists_and_literals)
{
    /* `;` and `,` expand to one pattern each; literals keep their text, tags and datatypes. */
    assert_reordered(
        "SELECT * { ?o ex:r ?s . ?s ex:name \"n\"@en-GB , 'm'^^xsd:string ; ex:n 1.5e3 , -2 , "
        "true ; ; a ex:T ; . ?s ex:x \"\"\"long\nstring\"\"\" }",
        "SELECT * { ?s ex:name \"n\"@en-GB . ?s ex:name 'm'^^xsd:string . ?s ex:n 1.5e3 . "
        "?s ex:n -2 . ?s ex:n true . ?s a ex:T . ?s ex:x \"\"\"long\nstring\"\"\" . "
        "?o ex:r ?s . }");
    /* Prefixed names: the empty prefix, dots inside the local part, escapes, and a '.' right
     * after a name, which ends the triple. */
    assert_reordered("SELECT * { ?t ?u ?s . ?s :p ex:a.b. ?s ex:q ex:c\\.d , ex:e\\,f. }",
                     "SELECT * { ?s :p ex:a.b . ?s ex:q ex:c\\.d . ?s ex:q ex:e\\,f . "
                     "?t ?u ?s . }");
    assert_unchanged("SELECT * { ?s :p ex:a.b. ?s ex:q ex:c\\.d , ex:e\\,f. ?t ?u ?s }");
}
END_TEST

START_TEST(test_layout)
{
    /* A multi-line group gets one pattern per line at its first line's indentation (CRLF kept);
     * comments before the first and after the last token stay, those between go. */
    assert_reordered("SELECT * WHERE {\n  # why\n  ?s ex:p ?o ; # first\n\ta ex:T .\n  "
                     "FILTER(?o > 1) # last\n}",
                     "SELECT * WHERE {\n  # why\n  ?s a ex:T .\n  ?s ex:p ?o .\n  "
                     "FILTER(?o > 1) # last\n}");
    assert_reordered("SELECT * WHERE {\r\n\t?s ex:p ?o .\r\n\t?s a ex:T .\r\n}\r\n",
                     "SELECT * WHERE {\r\n\t?s a ex:T .\r\n\t?s ex:p ?o .\r\n}\r\n");
    /* Tight text: tokens are separated in the output. */
    assert_reordered("SELECT*{?s ex:p ?o.?s a<http://t>FILTER(?o>1)}",
                     "SELECT*{?s a <http://t> . ?s ex:p ?o . FILTER(?o>1)}");
    /* `ex:T.FILTER` is one prefixed name (dots go inside local parts): a syntax error. */
    assert_unchanged("SELECT*{?s ex:p ?o.?s a ex:T.FILTER(?o>1)}");
}
END_TEST

START_TEST(test_good_order_unchanged)
{
    /* Hand-ordered, selective first: byte-identical, with its lists, comments and FILTERs
     * wherever they were written. */
    assert_unchanged("SELECT ?b ?r WHERE {\n    ?b a ex:Board ; # boards\n       ex:ram ?r ;\n"
                     "       ex:sensor ?s .\n    FILTER(?r >= 64)\n    ?s a ex:Camera .\n}\n"
                     "ORDER BY ?r LIMIT 10");
    assert_unchanged(case1_reordered);
    assert_unchanged("SELECT * { ?s ex:p ?o }");
    assert_unchanged("SELECT * { }");
    assert_unchanged("ASK {}");
}
END_TEST

/* ---- what is left alone -------------------------------------------------------------------- */

START_TEST(test_other_elements_untouched)
{
    /* Each of these groups would be reordered without the element in it. */
    static const char *const q[] = {
        "SELECT * { ?s ex:p ?o . ?s a ex:T OPTIONAL { ?o ex:q ?z } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T . { ?o ex:q ?z } UNION { ?o ex:r ?z } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T MINUS { ?o ex:q ?z } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T . GRAPH ?g { ?o ex:q ?z } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T . SERVICE SILENT <http://x/> { ?o ex:q ?z } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T BIND(1 AS ?one) }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T VALUES ?s { ex:a ex:b } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T VALUES (?s ?o) { (ex:a 1) (UNDEF 2) } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T { ?o ex:q ?z } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T FILTER EXISTS { ?o ex:q ?z } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T FILTER NOT EXISTS { ?o ex:q ?z } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T FILTER(?o > 1 && NOT EXISTS { ?o ex:q ?z }) }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T FILTER(!exists { ?o ex:q ?z }) }",
        /* property paths, blank node property lists, collections */
        "SELECT * { ?s ex:p/ex:q ?o . ?s a ex:T }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T ; ex:p|ex:q ?z }",
        "SELECT * { ?s ex:p ?o . ?s ^ex:r ex:T }",
        "SELECT * { ?s ex:p ?o . ?s !ex:r ex:T }",
        "SELECT * { ?s ex:p ?o . ?s ex:r* ex:T }",
        "SELECT * { ?s ex:p ?o . ?s ex:r+ ex:T }",
        "SELECT * { ?s ex:p ?o . ?s ex:r? ex:T }",
        "SELECT * { ?s ex:p ?o . ?s (ex:r) ex:T }",
        "SELECT * { ?s ex:p ?o . ?s a [ ex:q ?z ] }",
        "SELECT * { ?s ex:p ?o . ?s a [] }",
        "SELECT * { ?s ex:p ?o . [ ex:q ?s ] a ex:T }",
        "SELECT * { ?s ex:p ?o . [ ex:q ?s ] . ?s a ex:T }",
        "SELECT * { ?s ex:p ?o . ?s a ( ex:T ?z ) }",
        "SELECT * { ?s ex:p ?o . ?s a () }",
        /* not a query this module rewrites */
        "CONSTRUCT WHERE { ?s ex:p ?o . ?s a ex:T }",
        "INSERT { ?s ex:p ?o . ?s a ex:T } WHERE { ?s ex:p ?o . ?s a ex:T }",
        "DELETE WHERE { ?s ex:p ?o . ?s a ex:T }",
        "PREFIX ex: <http://e/> INSERT DATA { ex:s ex:p 1 . ex:s a ex:T }",
        "DESCRIBE <http://x/>",
    };
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
        assert_unchanged(q[i]);
}
END_TEST

START_TEST(test_nested_groups_reordered)
{
    /* The outer group holds OPTIONAL/UNION/GRAPH/...: untouched; the inner ones are plain. */
    assert_reordered("SELECT * { ?a ex:p ?b . ?a a ex:T OPTIONAL { ?o ex:q ?z . ?o a ex:U } }",
                     "SELECT * { ?a ex:p ?b . ?a a ex:T OPTIONAL { ?o a ex:U . ?o ex:q ?z . } }");
    assert_reordered("SELECT * WHERE { ?g ex:owner ?u . GRAPH ?g { ?s ex:p ?o . ?s a ex:T } }",
                     "SELECT * WHERE { ?g ex:owner ?u . GRAPH ?g { ?s a ex:T . ?s ex:p ?o . } }");
    assert_reordered(
        "SELECT * { { ?s ex:p ?o . ?s a ex:T } UNION { ?s ex:q ?o . ?s a ex:U } }",
        "SELECT * { { ?s a ex:T . ?s ex:p ?o . } UNION { ?s a ex:U . ?s ex:q ?o . } }");
    assert_reordered("SELECT * { ?x ex:q ?y MINUS { ?s ex:p ?o . ?s a ex:T } }",
                     "SELECT * { ?x ex:q ?y MINUS { ?s a ex:T . ?s ex:p ?o . } }");
    /* A sub-select's WHERE group, but not its trailing VALUES block. */
    assert_reordered("SELECT * { ?x ex:q ?s { SELECT ?s (COUNT(*) AS ?n) WHERE { ?s ex:p ?o . "
                     "?s a ex:T } GROUP BY ?s VALUES ?s { ex:b ex:a } } }",
                     "SELECT * { ?x ex:q ?s { SELECT ?s (COUNT(*) AS ?n) WHERE { ?s a ex:T . "
                     "?s ex:p ?o . } GROUP BY ?s VALUES ?s { ex:b ex:a } } }");
    assert_reordered("SELECT * { SELECT * { ?s ex:p ?o . ?s a ex:T } }",
                     "SELECT * { SELECT * { ?s a ex:T . ?s ex:p ?o . } }");
    /* The group inside FILTER EXISTS is an expression's: left alone. */
    assert_unchanged("SELECT * { ?s a ex:T FILTER EXISTS { ?s ex:p ?o . ?s a ex:T } }");
}
END_TEST

START_TEST(test_construct_template_untouched)
{
    assert_reordered("CONSTRUCT { ?s ex:p ?o . ?s a ex:T } WHERE { ?s ex:p ?o . ?s a ex:T }",
                     "CONSTRUCT { ?s ex:p ?o . ?s a ex:T } WHERE { ?s a ex:T . ?s ex:p ?o . }");
    assert_reordered("PREFIX ex: <http://e/>\nCONSTRUCT { ?s ex:p ?o ; a ex:T } FROM <http://g/> "
                     "{ ?s ex:p ?o ; a ex:T } LIMIT 5",
                     "PREFIX ex: <http://e/>\nCONSTRUCT { ?s ex:p ?o ; a ex:T } FROM <http://g/> "
                     "{ ?s a ex:T . ?s ex:p ?o . } LIMIT 5");
}
END_TEST

START_TEST(test_values_block_untouched)
{
    assert_reordered("SELECT * WHERE { ?s ex:p ?o . ?s a ex:T } VALUES (?s ?o) "
                     "{ (ex:b 2) (ex:a 1) }",
                     "SELECT * WHERE { ?s a ex:T . ?s ex:p ?o . } VALUES (?s ?o) "
                     "{ (ex:b 2) (ex:a 1) }");
    /* Solution modifiers and what follows the WHERE group are never looked into. */
    assert_reordered("SELECT ?s (COUNT(*) AS ?n) { ?s ex:p ?o . ?s a ex:T } GROUP BY ?s "
                     "HAVING (COUNT(*) > 1) ORDER BY DESC(?n) LIMIT 3 OFFSET 1",
                     "SELECT ?s (COUNT(*) AS ?n) { ?s a ex:T . ?s ex:p ?o . } GROUP BY ?s "
                     "HAVING (COUNT(*) > 1) ORDER BY DESC(?n) LIMIT 3 OFFSET 1");
}
END_TEST

/* ---- the lexer ----------------------------------------------------------------------------- */

START_TEST(test_strings_iris_comments)
{
    /* Braces, dots, semicolons and keywords inside strings, IRIs and comments are not
     * structure. */
    assert_reordered(
        "SELECT * WHERE { ?x ex:knows ?s . ?s ex:label \"a { b } . c ; OPTIONAL }\" ; "
        "a <http://x/a.b;c#OPTIONAL> . # } OPTIONAL { ?z ;\n ?x ex:note '''FILTER { .''' }",
        "SELECT * WHERE { ?s ex:label \"a { b } . c ; OPTIONAL }\" . "
        "?s a <http://x/a.b;c#OPTIONAL> . ?x ex:knows ?s . ?x ex:note '''FILTER { .''' . }");
    assert_reordered("SELECT * { ?s ?p 'it\\'s } ; .' . ?s a \"\\\"{\" }",
                     "SELECT * { ?s a \"\\\"{\" . ?s ?p 'it\\'s } ; .' . }");
    assert_reordered("SELECT * { ?s ?p \"\"\"a \"\" } \" \\\" .\"\"\" . ?s a ex:T }",
                     "SELECT * { ?s a ex:T . ?s ?p \"\"\"a \"\" } \" \\\" .\"\"\" . }");
    /* Keywords in prefixed names and variables are names. */
    assert_reordered("PREFIX optional: <http://o/> SELECT ?filter { ?filter optional:union "
                     "?values . ?filter a optional:graph }",
                     "PREFIX optional: <http://o/> SELECT ?filter { ?filter a optional:graph . "
                     "?filter optional:union ?values . }");
    /* A comment holding a brace at the end of the query. */
    assert_reordered("SELECT * { ?s ex:p ?o . ?s a ex:T } # {",
                     "SELECT * { ?s a ex:T . ?s ex:p ?o . } # {");
}
END_TEST

START_TEST(test_less_than_operator)
{
    assert_reordered("SELECT * { ?s ex:p ?v . ?s a ex:T FILTER(?v < 3 && ?v > 1) "
                     "FILTER (?v<=2) FILTER(?v<3&&?v>1) }",
                     "SELECT * { ?s a ex:T . ?s ex:p ?v . FILTER(?v < 3 && ?v > 1) "
                     "FILTER (?v<=2) FILTER(?v<3&&?v>1) }");
    assert_reordered("SELECT * { ?s ex:p ?v FILTER (?v <?w) . ?s a ex:T ; ex:w ?w }",
                     "SELECT * { ?s a ex:T . ?s ex:p ?v . ?s ex:w ?w . FILTER (?v <?w) }");
    /* Function-call FILTERs, with built-ins and IRIs. */
    assert_reordered("SELECT * { ?s ex:p ?v FILTER regex(?v, \"^a}\") FILTER ex:f(?v) "
                     "FILTER <http://f/g>(?v) ?s a ex:T }",
                     "SELECT * { ?s a ex:T . ?s ex:p ?v . FILTER regex(?v, \"^a}\") "
                     "FILTER ex:f(?v) FILTER <http://f/g>(?v) }");
}
END_TEST

START_TEST(test_malformed_unchanged)
{
    static const char *const q[] = {
        "",
        "   ",
        "# only a comment",
        "SELECT * { ?s ex:p ?o . ?s a ex:T",
        "SELECT * { ?s ex:p ?o . ?s a ex:T } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T ) }",
        "SELECT * { ?s ex:p \"open . ?s a ex:T }",
        "SELECT * { ?s ex:p '''open . ?s a ex:T }",
        "SELECT * { ?s ex:p \"line\nbreak\" . ?s a ex:T }",
        "SELECT * { ?s ex:p ?o ?s a ex:T }",
        "SELECT * { ?s ex:p ?o . . ?s a ex:T }",
        "SELECT * { . ?s ex:p ?o . ?s a ex:T }",
        "SELECT * { ?s ex:p ?o , . ?s a ex:T }",
        "SELECT * { ?s ex:p . ?s a ex:T }",
        "SELECT * { ?s ex:p ?o . ?s A ex:T }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T FILTER }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T FILTER ?o }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T FROB(?o) }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T . { ?x ex:q ?y } UNION }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T . OPTIONAL ?x }",
        "SELECT * { ?s ex:p \"x\"^^ . ?s a ex:T }",
        "SELECT * { ?s ex:p @en . ?s a ex:T }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T ~ }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T \\ }",
        "SELECT * { ?s ex:p _: . ?s a ex:T }",
        "SELECT * { ?s ex:p <http://x y> . ?s a ex:T }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T . GRAPH { ?x ex:q ?y } }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T . VALUES ?x ?y }",
        "SELECT * { ?s ex:p ?o . ?s a ex:T . BIND ?x }",
        "PREFIX ex <http://e/> SELECT * { ?s ex:p ?o . ?s a ex:T }",
        "FROB * { ?s ex:p ?o . ?s a ex:T }",
        "SELECT *",
        "}{",
    };
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
        assert_unchanged(q[i]);

    /* Nested deeper than the walk goes: unchanged, and no crash. */
    struct fleet_buf deep = FLEET_BUF_INIT;
    fleet_buf_puts(&deep, "SELECT * { ?s ex:p ?o . ?s a ex:T ");
    for (int i = 0; i < 1000; i++)
        fleet_buf_puts(&deep, "{ ");
    for (int i = 0; i < 1000; i++)
        fleet_buf_puts(&deep, "} ");
    fleet_buf_puts(&deep, "}");
    assert_unchanged(deep.data);
    fleet_buf_free(&deep);
}
END_TEST

START_TEST(test_deep_but_allowed_nesting)
{
    /* 100 nested OPTIONALs, the innermost reordered. */
    struct fleet_buf in = FLEET_BUF_INIT, want = FLEET_BUF_INIT;
    fleet_buf_puts(&in, "SELECT * { ?a ex:p ?b ");
    fleet_buf_puts(&want, "SELECT * { ?a ex:p ?b ");
    for (int i = 0; i < 100; i++) {
        fleet_buf_puts(&in, "OPTIONAL { ?a ex:q ?c ");
        fleet_buf_puts(&want, "OPTIONAL { ?a ex:q ?c ");
    }
    fleet_buf_puts(&in, "{ ?s ex:p ?o . ?s a ex:T }");
    fleet_buf_puts(&want, "{ ?s a ex:T . ?s ex:p ?o . }");
    for (int i = 0; i < 100; i++) {
        fleet_buf_puts(&in, " }");
        fleet_buf_puts(&want, " }");
    }
    fleet_buf_puts(&in, " }");
    fleet_buf_puts(&want, " }");
    assert_reordered(in.data, want.data);
    fleet_buf_free(&in);
    fleet_buf_free(&want);
}
END_TEST

START_TEST(test_expansion_limit)
{
    /* One long subject with many objects would be repeated once per object: past eight times
     * the query plus 1 MiB the query is left as it is. */
    struct fleet_buf in = FLEET_BUF_INIT;
    fleet_buf_puts(&in, "SELECT * { ?x ex:q ?o . <http://x/");
    for (int i = 0; i < 20000; i++)
        fleet_buf_putc(&in, 'a');
    fleet_buf_puts(&in, "> ex:p ?o");
    for (int i = 0; i < 2000; i++)
        fleet_buf_puts(&in, ",1");
    fleet_buf_puts(&in, " }");
    assert_unchanged(in.data);
    fleet_buf_free(&in);
}
END_TEST

START_TEST(test_big_group)
{
    /* A long chain written backwards comes out forwards, quickly (the order is O(n log n)). */
    enum { N = 20000 };
    struct fleet_buf in = FLEET_BUF_INIT, want = FLEET_BUF_INIT;
    fleet_buf_puts(&in, "SELECT * {");
    fleet_buf_puts(&want, "SELECT * { ex:start ex:p ?v0 .");
    for (int i = N - 1; i >= 0; i--)
        fleet_buf_printf(&in, " ?v%d ex:p ?v%d .", i, i + 1);
    fleet_buf_puts(&in, " ex:start ex:p ?v0 }");
    for (int i = 0; i < N; i++)
        fleet_buf_printf(&want, " ?v%d ex:p ?v%d .", i, i + 1);
    fleet_buf_puts(&want, " }");
    int changed;
    char *got = reorder(in.data, &changed);
    ck_assert_int_eq(changed, 1);
    ck_assert_str_eq(got, want.data);
    free(got);
    fleet_buf_free(&in);
    fleet_buf_free(&want);
}
END_TEST

START_TEST(test_api)
{
    /* Appends to what out holds; changed may be NULL; NULL query or out is refused. */
    struct fleet_buf out = FLEET_BUF_INIT;
    char err[64] = "";
    fleet_buf_puts(&out, "# kept\n");
    ck_assert_int_eq(
        fleet_sparql_reorder("ASK { ?s ex:p ?o . ?s a ex:T }", &out, NULL, err, sizeof(err)),
        FLEET_OK);
    ck_assert_str_eq(out.data, "# kept\nASK { ?s a ex:T . ?s ex:p ?o . }");
    ck_assert_int_eq(fleet_sparql_reorder("ASK {", &out, NULL, NULL, 0), FLEET_OK);
    ck_assert_str_eq(out.data, "# kept\nASK { ?s a ex:T . ?s ex:p ?o . }ASK {");
    int changed = 7;
    ck_assert_int_eq(fleet_sparql_reorder(NULL, &out, &changed, err, sizeof(err)), FLEET_ERR_INVAL);
    ck_assert_int_eq(changed, 0);
    ck_assert_int_eq(fleet_sparql_reorder("ASK {}", NULL, &changed, NULL, 0), FLEET_ERR_INVAL);
    fleet_buf_free(&out);
}
END_TEST

static Suite *sparql_reorder_suite(void)
{
    Suite *s = suite_create("sparql_reorder");
    TCase *tc = tcase_create("order");
    tcase_add_test(tc, test_case1);
    tcase_add_test(tc, test_case_study_files);
    tcase_add_test(tc, test_basic_one_line);
    tcase_add_test(tc, test_ranks);
    tcase_add_test(tc, test_variables_and_bnodes);
    tcase_add_test(tc, test_lists_and_literals);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_good_order_unchanged);
    tcase_add_test(tc, test_big_group);
    suite_add_tcase(s, tc);

    tc = tcase_create("untouched");
    tcase_add_test(tc, test_other_elements_untouched);
    tcase_add_test(tc, test_nested_groups_reordered);
    tcase_add_test(tc, test_construct_template_untouched);
    tcase_add_test(tc, test_values_block_untouched);
    tcase_add_test(tc, test_expansion_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("lexer");
    tcase_add_test(tc, test_strings_iris_comments);
    tcase_add_test(tc, test_less_than_operator);
    tcase_add_test(tc, test_malformed_unchanged);
    tcase_add_test(tc, test_deep_but_allowed_nesting);
    tcase_add_test(tc, test_api);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sparql_reorder_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
