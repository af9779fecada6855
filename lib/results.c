/* SPDX-License-Identifier: MIT */
/* SPARQL 1.1 result serialisers (see results.h): JSON, XML, CSV and TSV, streamed into a
 * struct fleet_buf one row at a time. Every format is written as UTF-8 and is valid UTF-8 whatever
 * the input: an ill-formed input sequence becomes one U+FFFD per maximal subpart (the Unicode
 * "best practice" for conversion). Format-specific rules, each taken from its spec:
 *   JSON  strings escape " \ and all C0 controls; U+2028/U+2029 are escaped too so the document
 *         is also safe as a JavaScript literal.
 *   XML   & < > " become entities; C0 controls other than TAB/LF/CR and U+FFFE/U+FFFF are not
 *         XML 1.0 characters (not even as &#N; references), so they are replaced by U+FFFD; CR
 *         is written &#13; (and TAB/LF in attributes &#9;/&#10;) so parsers do not normalise it.
 *   CSV   RFC 4180 quoting of fields holding " , CR or LF; CRLF line ends; values only.
 *   TSV   Turtle terms in the single-quoted form, LF line ends; in strings \t \n \r \" \\ and
 *         other controls as \u00XX; in IRIs the characters IRIREF forbids (space, <>"{}|^`\,
 *         controls) as \u00XX, so even a broken IRI stays one parseable field. Integers, decimals
 *         and doubles use the Turtle short form (the spec's "should") only when the lexical form
 *         is exactly Turtle's INTEGER/DECIMAL/DOUBLE token, so it reads back as the same term.
 * A literal's xsd:string datatype is left out (RDF 1.1: "x" and "x"^^xsd:string are one term), and
 * a language tag wins over any datatype (rdf:langString). CSV and TSV write blank node labels
 * re-encoded so that any label is a valid Turtle BLANK_NODE_LABEL: ASCII letters and digits are
 * kept and every other byte becomes "_" plus two hex digits (injective, so distinct nodes stay
 * distinct; labels are scoped to one result document, so the renaming is allowed). */
#include "results.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define XSD "http://www.w3.org/2001/XMLSchema#"
#define REPLACEMENT_UTF8 "\xEF\xBF\xBD" /* U+FFFD */

struct fleet_rw {
    enum fleet_rfmt fmt;
    struct fleet_buf *out; /* borrowed */
    size_t nvars;
    char **vars; /* owned copies */
    size_t rows;
};

/* How a string is escaped for its place in the output. */
enum esc {
    ESC_JSON,     /* inside a JSON string */
    ESC_XML_TEXT, /* XML character data */
    ESC_XML_ATTR, /* XML attribute value in double quotes */
    ESC_CSV,      /* CSV field body (the quotes around it are the caller's) */
    ESC_TSV_STR,  /* inside a Turtle "..." string */
    ESC_TSV_IRI,  /* inside a Turtle <...> IRI */
};

const char *fleet_rfmt_mime(enum fleet_rfmt fmt)
{
    switch (fmt) {
    case FLEET_RFMT_JSON:
        return "application/sparql-results+json";
    case FLEET_RFMT_XML:
        return "application/sparql-results+xml";
    case FLEET_RFMT_CSV:
        return "text/csv";
    case FLEET_RFMT_TSV:
        return "text/tab-separated-values";
    }
    return NULL;
}

/* Decodes one character at s (s[0] != 0, NUL-terminated) into *cp following the well-formed
 * byte sequences of Unicode Table 3-7 (no overlongs, surrogates or values above U+10FFFF).
 * Returns the bytes consumed; for an ill-formed sequence *cp is -1 and the maximal subpart is
 * consumed. Never reads past the terminating NUL, which is not a continuation byte. */
static size_t utf8_next(const unsigned char *s, int32_t *cp)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t need;
    int32_t v;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        unsigned char d = s[i];
        if (d < lo || d > hi) {
            *cp = -1;
            return i;
        }
        v = (v << 6) | (d & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = v;
    return need + 1;
}

/* Returns the text to write in place of character cp in mode, or NULL to copy its bytes as they
 * are. tmp (at least 8 bytes) holds generated escapes. */
static const char *escape_for(enum esc mode, int32_t cp, char tmp[8])
{
    static const char hex[] = "0123456789ABCDEF";

    if (cp < 0)
        return REPLACEMENT_UTF8;
    switch (mode) {
    case ESC_JSON:
        /* clang-format off */
        switch (cp) {
        case '"': return "\\\"";
        case '\\': return "\\\\";
        case '\b': return "\\b";
        case '\f': return "\\f";
        case '\n': return "\\n";
        case '\r': return "\\r";
        case '\t': return "\\t";
        case 0x2028: return "\\u2028";
        case 0x2029: return "\\u2029";
        }
        /* clang-format on */
        if (cp < 0x20) {
            memcpy(tmp, "\\u00", 4);
            tmp[4] = hex[cp >> 4];
            tmp[5] = hex[cp & 0xF];
            tmp[6] = '\0';
            return tmp;
        }
        return NULL;
    case ESC_XML_TEXT:
    case ESC_XML_ATTR:
        /* clang-format off */
        switch (cp) {
        case '&': return "&amp;";
        case '<': return "&lt;";
        case '>': return "&gt;";
        case '"': return "&quot;";
        case '\r': return "&#13;";
        case '\n': return mode == ESC_XML_ATTR ? "&#10;" : NULL;
        case '\t': return mode == ESC_XML_ATTR ? "&#9;" : NULL;
        }
        /* clang-format on */
        if (cp < 0x20 || cp == 0xFFFE || cp == 0xFFFF)
            return REPLACEMENT_UTF8;
        return NULL;
    case ESC_CSV:
        return cp == '"' ? "\"\"" : NULL;
    case ESC_TSV_STR:
    case ESC_TSV_IRI:
        if (mode == ESC_TSV_STR) {
            /* clang-format off */
            switch (cp) {
            case '"': return "\\\"";
            case '\\': return "\\\\";
            case '\n': return "\\n";
            case '\r': return "\\r";
            case '\t': return "\\t";
            }
            /* clang-format on */
            if (cp >= 0x20 && cp != 0x7F)
                return NULL;
        } else if (cp > 0x20 && (cp >= 0x80 || !strchr("<>\"{}|^`\\", (int)cp))) {
            return NULL;
        }
        /* Turtle UCHAR: valid in both strings and IRIREFs. */
        memcpy(tmp, "\\u00", 4);
        tmp[4] = hex[cp >> 4];
        tmp[5] = hex[cp & 0xF];
        tmp[6] = '\0';
        return tmp;
    }
    return NULL;
}

/* Appends s escaped for mode, replacing ill-formed UTF-8 with U+FFFD. Runs of characters that
 * need no escape are copied in one append. */
static void put_esc(struct fleet_buf *b, const char *s, enum esc mode)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    const unsigned char *run = p;
    char tmp[8];

    while (*p) {
        int32_t cp;
        size_t n = utf8_next(p, &cp);
        const char *rep = escape_for(mode, cp, tmp);
        if (rep) {
            fleet_buf_append(b, run, (size_t)(p - run));
            fleet_buf_puts(b, rep);
            run = p + n;
        }
        p += n;
    }
    fleet_buf_append(b, run, (size_t)(p - run));
}

/* Writes a blank node label for CSV/TSV; see the top of this file. */
static void put_bnode_label(struct fleet_buf *b, const char *label)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)(label ? label : "");

    fleet_buf_puts(b, "_:");
    if (!*p) {
        fleet_buf_putc(b, '_'); /* never produced for a non-empty label */
        return;
    }
    for (; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) {
            fleet_buf_putc(b, (char)*p);
        } else {
            char e[3] = {'_', hex[*p >> 4], hex[*p & 0xF]};
            fleet_buf_append(b, e, sizeof(e));
        }
    }
}

/* Language tag of a literal, or NULL when it has none. */
static const char *lit_lang(const struct fleet_term *t)
{
    return t->lang && *t->lang ? t->lang : NULL;
}

/* Datatype to write for a literal, or NULL for a simple or language-tagged literal. */
static const char *lit_datatype(const struct fleet_term *t)
{
    if (lit_lang(t) || !t->datatype || !*t->datatype)
        return NULL;
    if (strcmp(t->datatype, XSD "string") == 0)
        return NULL;
    return t->datatype;
}

static size_t span_digits(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* Returns 1 if lex is exactly a Turtle number token whose implied datatype is dt, so that the
 * bare token reads back as the same literal. */
static int turtle_number(const char *lex, const char *dt)
{
    const char *p = lex;
    size_t before, after = 0;
    int dot = 0;

    if (strncmp(dt, XSD, sizeof(XSD) - 1) != 0)
        return 0;
    dt += sizeof(XSD) - 1;
    if (*p == '+' || *p == '-')
        p++;
    before = span_digits(p);
    p += before;
    if (*p == '.') {
        dot = 1;
        p++;
        after = span_digits(p);
        p += after;
    }
    if (*p == 'e' || *p == 'E') { /* DOUBLE */
        p++;
        if (*p == '+' || *p == '-')
            p++;
        size_t exp = span_digits(p);
        p += exp;
        return strcmp(dt, "double") == 0 && *p == '\0' && exp > 0 && (before > 0 || after > 0);
    }
    if (*p != '\0')
        return 0;
    if (!dot) /* INTEGER */
        return strcmp(dt, "integer") == 0 && before > 0;
    return strcmp(dt, "decimal") == 0 && after > 0; /* DECIMAL: [0-9]* '.' [0-9]+ */
}

static void put_json_term(struct fleet_buf *b, const struct fleet_term *t)
{
    const char *v = t->value ? t->value : "";

    switch (t->kind) {
    case FLEET_TERM_IRI:
        fleet_buf_puts(b, "{\"type\":\"uri\",\"value\":\"");
        put_esc(b, v, ESC_JSON);
        fleet_buf_puts(b, "\"}");
        break;
    case FLEET_TERM_BLANK:
        fleet_buf_puts(b, "{\"type\":\"bnode\",\"value\":\"");
        put_esc(b, v, ESC_JSON);
        fleet_buf_puts(b, "\"}");
        break;
    case FLEET_TERM_LITERAL:
        fleet_buf_puts(b, "{\"type\":\"literal\",\"value\":\"");
        put_esc(b, v, ESC_JSON);
        fleet_buf_putc(b, '"');
        if (lit_lang(t)) {
            fleet_buf_puts(b, ",\"xml:lang\":\"");
            put_esc(b, t->lang, ESC_JSON);
            fleet_buf_putc(b, '"');
        } else if (lit_datatype(t)) {
            fleet_buf_puts(b, ",\"datatype\":\"");
            put_esc(b, t->datatype, ESC_JSON);
            fleet_buf_putc(b, '"');
        }
        fleet_buf_putc(b, '}');
        break;
    case FLEET_TERM_NONE:
        break;
    }
}

static void put_xml_term(struct fleet_buf *b, const struct fleet_term *t)
{
    const char *v = t->value ? t->value : "";

    switch (t->kind) {
    case FLEET_TERM_IRI:
        fleet_buf_puts(b, "<uri>");
        put_esc(b, v, ESC_XML_TEXT);
        fleet_buf_puts(b, "</uri>");
        break;
    case FLEET_TERM_BLANK:
        fleet_buf_puts(b, "<bnode>");
        put_esc(b, v, ESC_XML_TEXT);
        fleet_buf_puts(b, "</bnode>");
        break;
    case FLEET_TERM_LITERAL:
        fleet_buf_puts(b, "<literal");
        if (lit_lang(t)) {
            fleet_buf_puts(b, " xml:lang=\"");
            put_esc(b, t->lang, ESC_XML_ATTR);
            fleet_buf_putc(b, '"');
        } else if (lit_datatype(t)) {
            fleet_buf_puts(b, " datatype=\"");
            put_esc(b, t->datatype, ESC_XML_ATTR);
            fleet_buf_putc(b, '"');
        }
        fleet_buf_putc(b, '>');
        put_esc(b, v, ESC_XML_TEXT);
        fleet_buf_puts(b, "</literal>");
        break;
    case FLEET_TERM_NONE:
        break;
    }
}

static void put_csv_field(struct fleet_buf *b, const char *s)
{
    if (strpbrk(s, "\",\r\n")) {
        fleet_buf_putc(b, '"');
        put_esc(b, s, ESC_CSV);
        fleet_buf_putc(b, '"');
    } else {
        put_esc(b, s, ESC_CSV);
    }
}

static void put_csv_term(struct fleet_buf *b, const struct fleet_term *t)
{
    switch (t->kind) {
    case FLEET_TERM_IRI:
    case FLEET_TERM_LITERAL:
        put_csv_field(b, t->value ? t->value : "");
        break;
    case FLEET_TERM_BLANK:
        put_bnode_label(b, t->value); /* letters, digits and '_' only: never quoted */
        break;
    case FLEET_TERM_NONE:
        break;
    }
}

static void put_tsv_term(struct fleet_buf *b, const struct fleet_term *t)
{
    const char *v = t->value ? t->value : "";
    const char *dt;

    switch (t->kind) {
    case FLEET_TERM_IRI:
        fleet_buf_putc(b, '<');
        put_esc(b, v, ESC_TSV_IRI);
        fleet_buf_putc(b, '>');
        break;
    case FLEET_TERM_BLANK:
        put_bnode_label(b, v);
        break;
    case FLEET_TERM_LITERAL:
        dt = lit_datatype(t);
        if (dt && turtle_number(v, dt)) {
            fleet_buf_puts(b, v); /* ASCII only, checked by turtle_number */
            break;
        }
        fleet_buf_putc(b, '"');
        put_esc(b, v, ESC_TSV_STR);
        fleet_buf_putc(b, '"');
        if (lit_lang(t)) {
            /* A tag is [a-zA-Z0-9-]; anything else is escaped so the field stays one field. */
            fleet_buf_putc(b, '@');
            put_esc(b, t->lang, ESC_TSV_STR);
        } else if (dt) {
            fleet_buf_puts(b, "^^<");
            put_esc(b, dt, ESC_TSV_IRI);
            fleet_buf_putc(b, '>');
        }
        break;
    case FLEET_TERM_NONE:
        break;
    }
}

static int is_bound(const struct fleet_term *t)
{
    return t->kind == FLEET_TERM_IRI || t->kind == FLEET_TERM_BLANK ||
           t->kind == FLEET_TERM_LITERAL;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void rw_free(struct fleet_rw *rw)
{
    if (!rw)
        return;
    for (size_t i = 0; i < rw->nvars; i++)
        free(rw->vars[i]);
    free(rw->vars);
    free(rw);
}

static void put_head(struct fleet_rw *rw)
{
    struct fleet_buf *b = rw->out;

    switch (rw->fmt) {
    case FLEET_RFMT_JSON:
        fleet_buf_puts(b, "{\"head\":{\"vars\":[");
        for (size_t i = 0; i < rw->nvars; i++) {
            fleet_buf_puts(b, i ? ",\"" : "\"");
            put_esc(b, rw->vars[i], ESC_JSON);
            fleet_buf_putc(b, '"');
        }
        fleet_buf_puts(b, "]},\"results\":{\"bindings\":[");
        break;
    case FLEET_RFMT_XML:
        fleet_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
                          "  <head>\n");
        for (size_t i = 0; i < rw->nvars; i++) {
            fleet_buf_puts(b, "    <variable name=\"");
            put_esc(b, rw->vars[i], ESC_XML_ATTR);
            fleet_buf_puts(b, "\"/>\n");
        }
        fleet_buf_puts(b, "  </head>\n  <results>\n");
        break;
    case FLEET_RFMT_CSV:
        for (size_t i = 0; i < rw->nvars; i++) {
            if (i)
                fleet_buf_putc(b, ',');
            put_csv_field(b, rw->vars[i]);
        }
        fleet_buf_puts(b, "\r\n");
        break;
    case FLEET_RFMT_TSV:
        for (size_t i = 0; i < rw->nvars; i++) {
            fleet_buf_puts(b, i ? "\t?" : "?");
            put_esc(b, rw->vars[i], ESC_TSV_STR);
        }
        fleet_buf_putc(b, '\n');
        break;
    }
}

struct fleet_rw *fleet_rw_new(enum fleet_rfmt fmt, const char *const *vars, size_t nvars,
                              struct fleet_buf *out)
{
    struct fleet_rw *rw;

    if (!out || !fleet_rfmt_mime(fmt) || (nvars && !vars))
        return NULL;
    rw = calloc(1, sizeof(*rw));
    if (!rw)
        return NULL;
    rw->fmt = fmt;
    rw->out = out;
    if (nvars) {
        rw->vars = calloc(nvars, sizeof(*rw->vars));
        if (!rw->vars)
            goto fail;
        for (size_t i = 0; i < nvars; i++) {
            rw->vars[i] = dup_str(vars[i] ? vars[i] : "");
            rw->nvars = i + 1; /* so rw_free frees what was copied so far */
            if (!rw->vars[i])
                goto fail;
        }
    }
    put_head(rw);
    return rw;

fail:
    rw_free(rw);
    return NULL;
}

void fleet_rw_row(struct fleet_rw *rw, const struct fleet_term *vals)
{
    static const struct fleet_term unbound = {FLEET_TERM_NONE, NULL, NULL, NULL};
    struct fleet_buf *b;

    if (!rw)
        return;
    b = rw->out;
    switch (rw->fmt) {
    case FLEET_RFMT_JSON: {
        int first = 1;
        fleet_buf_puts(b, rw->rows ? ",{" : "{");
        for (size_t i = 0; i < rw->nvars; i++) {
            const struct fleet_term *t = vals ? &vals[i] : &unbound;
            if (!is_bound(t))
                continue;
            fleet_buf_puts(b, first ? "\"" : ",\"");
            first = 0;
            put_esc(b, rw->vars[i], ESC_JSON);
            fleet_buf_puts(b, "\":");
            put_json_term(b, t);
        }
        fleet_buf_putc(b, '}');
        break;
    }
    case FLEET_RFMT_XML:
        fleet_buf_puts(b, "    <result>\n");
        for (size_t i = 0; i < rw->nvars; i++) {
            const struct fleet_term *t = vals ? &vals[i] : &unbound;
            if (!is_bound(t))
                continue;
            fleet_buf_puts(b, "      <binding name=\"");
            put_esc(b, rw->vars[i], ESC_XML_ATTR);
            fleet_buf_puts(b, "\">");
            put_xml_term(b, t);
            fleet_buf_puts(b, "</binding>\n");
        }
        fleet_buf_puts(b, "    </result>\n");
        break;
    case FLEET_RFMT_CSV:
        for (size_t i = 0; i < rw->nvars; i++) {
            if (i)
                fleet_buf_putc(b, ',');
            put_csv_term(b, vals ? &vals[i] : &unbound);
        }
        fleet_buf_puts(b, "\r\n");
        break;
    case FLEET_RFMT_TSV:
        for (size_t i = 0; i < rw->nvars; i++) {
            if (i)
                fleet_buf_putc(b, '\t');
            put_tsv_term(b, vals ? &vals[i] : &unbound);
        }
        fleet_buf_putc(b, '\n');
        break;
    }
    rw->rows++;
}

void fleet_rw_finish(struct fleet_rw *rw)
{
    if (!rw)
        return;
    switch (rw->fmt) {
    case FLEET_RFMT_JSON:
        fleet_buf_puts(rw->out, "]}}\n");
        break;
    case FLEET_RFMT_XML:
        fleet_buf_puts(rw->out, "  </results>\n</sparql>\n");
        break;
    case FLEET_RFMT_CSV:
    case FLEET_RFMT_TSV:
        break;
    }
    rw_free(rw);
}

void fleet_rw_boolean(enum fleet_rfmt fmt, int value, struct fleet_buf *out)
{
    const char *v = value ? "true" : "false";

    if (!out)
        return;
    switch (fmt) {
    case FLEET_RFMT_JSON:
        fleet_buf_printf(out, "{\"head\":{},\"boolean\":%s}\n", v);
        break;
    case FLEET_RFMT_XML:
        fleet_buf_printf(out,
                         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<sparql xmlns=\"http://www.w3.org/2005/sparql-results#\">\n"
                         "  <head/>\n"
                         "  <boolean>%s</boolean>\n"
                         "</sparql>\n",
                         v);
        break;
    case FLEET_RFMT_CSV:
        fleet_buf_printf(out, "_askResult\r\n%s\r\n", v);
        break;
    case FLEET_RFMT_TSV:
        fleet_buf_printf(out, "?_askResult\n%s\n", v);
        break;
    }
}
