/* SPDX-License-Identifier: MIT */
/* See match.h. The index holds every board (IRI, title, profile, RAM and flash in bytes, sensor
 * types) and every model (id, name, category, MACs, accuracy, dataset, description, flash, arena
 * per profile, sensor types), each array sorted by its key for bsearch. It is built from six
 * SELECTs (sparql/match-*.rq) and shared by reference count, so a rebuild never frees an index a
 * request is still reading. */
#include "match.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "buf.h"

#define OM "http://www.ontology-of-units-of-measure.org/resource/om-2/"
#define S3NX "http://tinyml-schema.org/s3n_extend/"
#define SOSAX "http://tinyml-schema.org/sosa_extend/"
#define MAX_PROFILES 4

const char *const fleet_match_templates[] = {"match-boards",      "match-board-memory",
                                             "match-board-sensors", "match-models",
                                             "match-model-arena", "match-model-sensors",
                                             "match-latency",     NULL};

/* ---- the index ---------------------------------------------------------------------------- */

struct strset {
    char **v; /* sorted, unique, new */
    size_t n;
};

struct board {
    char *iri, *title, *profile;
    int has_ram, has_flash;
    unsigned long long ram, flash;
    char *ram_problem, *flash_problem; /* why a stated value could not be read (new) or NULL */
    struct strset sensors;
};

struct model {
    char *id, *iri, *name, *category, *dataset, *description;
    int has_macs, has_accuracy;
    unsigned long long macs, flash;
    double accuracy;
    size_t n_arena;
    struct {
        char *profile;
        unsigned long long bytes;
    } arena[MAX_PROFILES];
    struct strset sensors;
};

/* The measured latency of a (model, board) pair: the median of the median latencies of its
 * successful benchmark results (sparql/match-latency.rq). */
struct latency {
    char *model_id, *board;
    double ms;
};

struct index {
    unsigned long refs;
    uint64_t generation;
    struct board *boards;
    size_t n_boards;
    struct model *models;
    size_t n_models;
    struct latency *lat; /* sorted by model id, then board */
    size_t n_lat;
};

struct fleet_match {
    struct fleet_store *st;
    const struct fleet_templates *t;
    long timeout_ms;
    pthread_mutex_t lock;       /* cur, refs, profile */
    pthread_mutex_t build_lock; /* one rebuild at a time */
    struct index *cur;
    char profile[64];
};

static void strset_free(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int strset_add(struct strset *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return 0;
    char **v = realloc(s->v, (s->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    s->v = v;
    if (!(s->v[s->n] = strdup(x)))
        return -1;
    s->n++;
    qsort(s->v, s->n, sizeof(*s->v), strp_cmp);
    return 0;
}

static int strset_has(const struct strset *s, const char *x)
{
    return s->n && bsearch(&x, s->v, s->n, sizeof(*s->v), strp_cmp) != NULL;
}

static void index_free(struct index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n_boards; i++) {
        struct board *b = &ix->boards[i];
        free(b->iri), free(b->title), free(b->profile);
        free(b->ram_problem), free(b->flash_problem);
        strset_free(&b->sensors);
    }
    for (size_t i = 0; i < ix->n_models; i++) {
        struct model *m = &ix->models[i];
        free(m->id), free(m->iri), free(m->name), free(m->category);
        free(m->dataset), free(m->description);
        for (size_t k = 0; k < m->n_arena; k++)
            free(m->arena[k].profile);
        strset_free(&m->sensors);
    }
    for (size_t i = 0; i < ix->n_lat; i++)
        free(ix->lat[i].model_id), free(ix->lat[i].board);
    free(ix->boards);
    free(ix->models);
    free(ix->lat);
    free(ix);
}

static int board_cmp(const void *a, const void *b)
{
    return strcmp(((const struct board *)a)->iri, ((const struct board *)b)->iri);
}

static int model_cmp(const void *a, const void *b)
{
    return strcmp(((const struct model *)a)->id, ((const struct model *)b)->id);
}

static struct board *find_board(const struct index *ix, const char *iri)
{
    struct board key = {.iri = (char *)iri};
    return ix->n_boards ? bsearch(&key, ix->boards, ix->n_boards, sizeof(key), board_cmp) : NULL;
}

static struct model *find_model(const struct index *ix, const char *id)
{
    struct model key = {.id = (char *)id};
    return ix->n_models ? bsearch(&key, ix->models, ix->n_models, sizeof(key), model_cmp) : NULL;
}

/* ---- units ---------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    double factor;
} units[] = {
    {"byte", 1},          {"kilobyte", 1e3},          {"kibibyte", 1024},
    {"megabyte", 1e6},    {"mebibyte", 1024.0 * 1024}, {"gigabyte", 1e9},
    {"gibibyte", 1024.0 * 1024 * 1024},
};

int fleet_match_bytes(const char *value, const char *unit, unsigned long long *bytes)
{
    double factor = 0;
    if (!value || !*value)
        return -1;
    if (!unit || !*unit) {
        factor = 1e3; /* the paper: plain numbers are kB */
    } else {
        const char *name = unit;
        if (strncmp(unit, OM, strlen(OM)) == 0)
            name = unit + strlen(OM);
        else if (strncmp(unit, "om:", 3) == 0)
            name = unit + 3;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcmp(units[i].name, name) == 0)
                factor = units[i].factor;
        if (factor == 0)
            return -1;
    }
    char *end;
    double v = strtod(value, &end);
    while (*end == ' ')
        end++;
    if (end == value || *end != '\0' || !isfinite(v) || v < 0)
        return -1;
    double b = round(v * factor);
    if (!(b < 18446744073709551615.0))
        return -1;
    *bytes = (unsigned long long)b;
    return 0;
}

/* ---- building ------------------------------------------------------------------------------ */

/* The rows of template name as a JSON array of bindings (new), or NULL with err set. */
static json_t *select_rows(struct fleet_match *m, const char *name, enum fleet_err *rc, char *err,
                           size_t errlen)
{
    const char *text = fleet_templates_get(m->t, name);
    if (!text) {
        snprintf(err, errlen, "the query template %s.rq is not loaded", name);
        *rc = FLEET_ERR_NOTFOUND;
        return NULL;
    }
    struct fleet_query q = {text, NULL, NULL, 0, NULL, 0, "application/sparql-results+json",
                            m->timeout_ms, 0, 0};
    struct fleet_answer ans;
    memset(&ans, 0, sizeof(ans));
    *rc = fleet_store_query(m->st, &q, &ans);
    if (*rc != FLEET_OK) {
        snprintf(err, errlen, "%s.rq: %s", name, ans.message);
        fleet_buf_free(&ans.body);
        return NULL;
    }
    json_t *doc = json_loadb(ans.body.data ? ans.body.data : "", ans.body.len, 0, NULL);
    fleet_buf_free(&ans.body);
    json_t *rows = json_incref(json_object_get(json_object_get(doc, "results"), "bindings"));
    json_decref(doc);
    if (!json_is_array(rows)) {
        json_decref(rows);
        snprintf(err, errlen, "%s.rq: the store's answer is not SPARQL JSON results", name);
        *rc = FLEET_ERR_INTERNAL;
        return NULL;
    }
    return rows;
}

static const char *val(json_t *row, const char *var)
{
    return json_string_value(json_object_get(json_object_get(row, var), "value"));
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    double d = strtod(s, &end);
    if (end == s || *end || !isfinite(d) || d < 0 || d >= 18446744073709551615.0)
        return -1;
    *out = (unsigned long long)d;
    return 0;
}

static void set_problem(char **slot, const char *what, const char *value, const char *unit)
{
    if (*slot)
        return;
    char msg[512];
    snprintf(msg, sizeof(msg),
             "%s: the stated value \"%s\" in unit %s cannot be read (units: om:byte, "
             "om:kilobyte, om:kibibyte, om:megabyte, om:mebibyte, or none for kB)",
             what, value ? value : "", unit && *unit ? unit : "(none)");
    *slot = strdup(msg);
}

/* One row of match-boards.rq: the board is an s3n:SmartSensor (no title, no profile), has a title,
 * or has a profile. The strings belong to the JSON rows. */
struct board_fact {
    const char *iri, *title, *profile;
};

static int fact_cmp(const void *a, const void *b)
{
    return strcmp(((const struct board_fact *)a)->iri, ((const struct board_fact *)b)->iri);
}

/* The smaller of two optional strings (NULL when both are), so that a board with several titles
 * gets the same one on every build. */
static const char *min_str(const char *a, const char *b)
{
    if (!a)
        return b;
    return !b || strcmp(a, b) <= 0 ? a : b;
}

/* Sorted "board\x1fproperty" keys of the memory values that state a unit. */
struct keyset {
    char **v;
    size_t n;
};

static char *memory_key(const char *board, const char *property)
{
    size_t a = strlen(board), b = strlen(property);
    char *k = malloc(a + b + 2);
    if (k) {
        memcpy(k, board, a);
        k[a] = '\x1f';
        memcpy(k + a + 1, property, b + 1);
    }
    return k;
}

static void keyset_free(struct keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        free(ks->v[i]);
    free(ks->v);
}

static enum fleet_err build_boards(struct fleet_match *m, struct index *ix, char *err,
                                   size_t errlen)
{
    enum fleet_err rc;
    json_t *rows = select_rows(m, "match-boards", &rc, err, errlen), *row;
    size_t i, nf = 0;
    if (!rows)
        return rc;
    struct board_fact *facts = calloc(json_array_size(rows) + 1, sizeof(*facts));
    ix->boards = calloc(json_array_size(rows) + 1, sizeof(*ix->boards));
    if (!facts || !ix->boards) {
        free(facts);
        json_decref(rows);
        return FLEET_ERR_NOMEM;
    }
    json_array_foreach(rows, i, row)
    {
        const char *iri = val(row, "board");
        if (iri)
            facts[nf++] = (struct board_fact){iri, val(row, "title"), val(row, "profile")};
    }
    /* Merge the facts of each board; a node that only states a profile is not a board. */
    qsort(facts, nf, sizeof(*facts), fact_cmp);
    for (size_t r = 0; r < nf;) {
        size_t e = r;
        int is_board = 0;
        const char *title = NULL, *profile = NULL;
        for (; e < nf && strcmp(facts[e].iri, facts[r].iri) == 0; e++) {
            if (facts[e].title || !facts[e].profile)
                is_board = 1;
            title = min_str(title, facts[e].title);
            profile = min_str(profile, facts[e].profile);
        }
        if (is_board) {
            struct board *b = &ix->boards[ix->n_boards++];
            b->iri = strdup(facts[r].iri);
            b->title = dup_or_null(title);
            b->profile = dup_or_null(profile);
            if (!b->iri || (title && !b->title) || (profile && !b->profile)) {
                free(facts);
                json_decref(rows);
                return FLEET_ERR_NOMEM;
            }
        }
        r = e;
    }
    free(facts);
    json_decref(rows);

    /* Values with a unit first: a unit-less row of the same (board, property) is the second
     * branch of the UNION repeating it, not a value in kB. */
    if (!(rows = select_rows(m, "match-board-memory", &rc, err, errlen)))
        return rc;
    struct keyset with_unit = {calloc(json_array_size(rows) + 1, sizeof(char *)), 0};
    if (!with_unit.v) {
        json_decref(rows);
        return FLEET_ERR_NOMEM;
    }
    json_array_foreach(rows, i, row)
    {
        const char *board = val(row, "board"), *property = val(row, "property");
        if (!board || !property || !val(row, "unit"))
            continue;
        if (!(with_unit.v[with_unit.n] = memory_key(board, property))) {
            keyset_free(&with_unit);
            json_decref(rows);
            return FLEET_ERR_NOMEM;
        }
        with_unit.n++;
    }
    qsort(with_unit.v, with_unit.n, sizeof(*with_unit.v), strp_cmp);
    json_array_foreach(rows, i, row)
    {
        struct board *b = find_board(ix, val(row, "board") ? val(row, "board") : "");
        const char *kind = val(row, "kind"), *value = val(row, "value"), *unit = val(row, "unit");
        const char *property = val(row, "property");
        if (!b || !kind)
            continue;
        if (!unit && property && with_unit.n) {
            char *key = memory_key(b->iri, property);
            if (!key) {
                keyset_free(&with_unit);
                json_decref(rows);
                return FLEET_ERR_NOMEM;
            }
            int stated = bsearch(&key, with_unit.v, with_unit.n, sizeof(key), strp_cmp) != NULL;
            free(key);
            if (stated)
                continue;
        }
        int is_ram = strcmp(kind, S3NX "RAM") == 0;
        unsigned long long bytes;
        if (fleet_match_bytes(value, unit, &bytes) != 0) {
            set_problem(is_ram ? &b->ram_problem : &b->flash_problem, is_ram ? "ram" : "flash",
                        value, unit);
            continue;
        }
        /* A board stating several values (two microcontrollers) offers the largest. */
        if (is_ram && (!b->has_ram || bytes > b->ram))
            b->has_ram = 1, b->ram = bytes;
        else if (!is_ram && (!b->has_flash || bytes > b->flash))
            b->has_flash = 1, b->flash = bytes;
    }
    keyset_free(&with_unit);
    json_decref(rows);

    if (!(rows = select_rows(m, "match-board-sensors", &rc, err, errlen)))
        return rc;
    json_array_foreach(rows, i, row)
    {
        struct board *b = find_board(ix, val(row, "board") ? val(row, "board") : "");
        const char *type = val(row, "sensorType");
        if (b && type && strset_add(&b->sensors, type) != 0) {
            json_decref(rows);
            return FLEET_ERR_NOMEM;
        }
    }
    json_decref(rows);
    return FLEET_OK;
}

/* Sets *slot to a copy of v unless it is set already or v is NULL; -1 when out of memory. */
static int fill(char **slot, const char *v)
{
    if (*slot || !v)
        return 0;
    return (*slot = strdup(v)) ? 0 : -1;
}

static enum fleet_err build_models(struct fleet_match *m, struct index *ix, char *err,
                                   size_t errlen)
{
    enum fleet_err rc;
    json_t *rows = select_rows(m, "match-models", &rc, err, errlen), *row;
    size_t i;
    if (!rows)
        return rc;
    ix->models = calloc(json_array_size(rows) + 1, sizeof(*ix->models));
    if (!ix->models) {
        json_decref(rows);
        return FLEET_ERR_NOMEM;
    }
    /* The rows with ?flash make the models (one per id), the others fill in their fields. */
    json_array_foreach(rows, i, row)
    {
        const char *id = val(row, "id");
        unsigned long long flash;
        if (!id || !val(row, "flash") || parse_u64(val(row, "flash"), &flash) != 0)
            continue;
        struct model *md = &ix->models[ix->n_models++];
        md->id = strdup(id);
        md->iri = dup_or_null(val(row, "model"));
        md->flash = flash;
        if (!md->id) {
            json_decref(rows);
            return FLEET_ERR_NOMEM;
        }
    }
    qsort(ix->models, ix->n_models, sizeof(*ix->models), model_cmp);
    size_t w = 0;
    for (size_t r = 0; r < ix->n_models; r++) {
        if (w && strcmp(ix->models[w - 1].id, ix->models[r].id) == 0) {
            free(ix->models[r].id), free(ix->models[r].iri);
            continue;
        }
        ix->models[w++] = ix->models[r];
    }
    ix->n_models = w;
    json_array_foreach(rows, i, row)
    {
        struct model *md = find_model(ix, val(row, "id") ? val(row, "id") : "");
        if (!md || val(row, "flash"))
            continue;
        if (fill(&md->name, val(row, "name")) || fill(&md->category, val(row, "category")) ||
            fill(&md->dataset, val(row, "dataset")) ||
            fill(&md->description, val(row, "description"))) {
            json_decref(rows);
            return FLEET_ERR_NOMEM;
        }
        if (!md->has_macs)
            md->has_macs = parse_u64(val(row, "macs"), &md->macs) == 0;
        const char *acc = val(row, "accuracy");
        if (acc && !md->has_accuracy) {
            char *end;
            md->accuracy = strtod(acc, &end);
            md->has_accuracy = end != acc && isfinite(md->accuracy);
        }
    }
    json_decref(rows);

    if (!(rows = select_rows(m, "match-model-arena", &rc, err, errlen)))
        return rc;
    json_array_foreach(rows, i, row)
    {
        struct model *md = find_model(ix, val(row, "id") ? val(row, "id") : "");
        const char *profile = val(row, "profile");
        unsigned long long bytes;
        if (!md || !profile || parse_u64(val(row, "bytes"), &bytes) != 0 ||
            md->n_arena == MAX_PROFILES)
            continue;
        md->arena[md->n_arena].profile = strdup(profile);
        md->arena[md->n_arena].bytes = bytes;
        if (md->arena[md->n_arena].profile)
            md->n_arena++;
    }
    json_decref(rows);

    if (!(rows = select_rows(m, "match-model-sensors", &rc, err, errlen)))
        return rc;
    json_array_foreach(rows, i, row)
    {
        struct model *md = find_model(ix, val(row, "id") ? val(row, "id") : "");
        const char *type = val(row, "sensorType");
        if (md && type && strset_add(&md->sensors, type) != 0) {
            json_decref(rows);
            return FLEET_ERR_NOMEM;
        }
    }
    json_decref(rows);
    return FLEET_OK;
}

static int latency_cmp(const void *a, const void *b)
{
    const struct latency *x = a, *y = b;
    int c = strcmp(x->model_id, y->model_id);
    if (!c)
        c = strcmp(x->board, y->board);
    return c ? c : (x->ms < y->ms ? -1 : x->ms > y->ms);
}

static enum fleet_err build_latency(struct fleet_match *m, struct index *ix, char *err,
                                    size_t errlen)
{
    enum fleet_err rc;
    json_t *rows = select_rows(m, "match-latency", &rc, err, errlen), *row;
    size_t i, n = 0;
    if (!rows)
        return rc;
    struct latency *v = calloc(json_array_size(rows) + 1, sizeof(*v));
    if (!v) {
        json_decref(rows);
        return FLEET_ERR_NOMEM;
    }
    json_array_foreach(rows, i, row)
    {
        const char *id = val(row, "id"), *board = val(row, "board"), *ms = val(row, "ms");
        char *end;
        double d = ms ? strtod(ms, &end) : -1;
        if (!id || !board || !ms || end == ms || *end || !isfinite(d) || d < 0)
            continue;
        v[n].model_id = strdup(id);
        v[n].board = strdup(board);
        v[n].ms = d;
        if (!v[n].model_id || !v[n].board) {
            for (size_t k = 0; k <= n; k++)
                free(v[k].model_id), free(v[k].board);
            free(v);
            json_decref(rows);
            return FLEET_ERR_NOMEM;
        }
        n++;
    }
    json_decref(rows);
    qsort(v, n, sizeof(*v), latency_cmp);
    /* One entry per pair: the median of its results (the lower middle of an even count). */
    size_t w = 0;
    for (size_t r = 0; r < n;) {
        size_t e = r;
        while (e < n && strcmp(v[e].model_id, v[r].model_id) == 0 &&
               strcmp(v[e].board, v[r].board) == 0)
            e++;
        double median = v[r + (e - r - 1) / 2].ms;
        for (size_t k = r + 1; k < e; k++)
            free(v[k].model_id), free(v[k].board);
        v[w] = v[r];
        v[w++].ms = median;
        r = e;
    }
    ix->lat = v;
    ix->n_lat = w;
    return FLEET_OK;
}

static void index_release(struct fleet_match *m, struct index *ix)
{
    if (!ix)
        return;
    pthread_mutex_lock(&m->lock);
    int last = --ix->refs == 0;
    pthread_mutex_unlock(&m->lock);
    if (last)
        index_free(ix);
}

/* An index at least as new as the store's generation now (a reference the caller releases). */
static enum fleet_err index_get(struct fleet_match *m, struct index **out, char *err,
                                size_t errlen)
{
    uint64_t want = fleet_store_generation(m->st);
    pthread_mutex_lock(&m->lock);
    if (m->cur && m->cur->generation >= want) {
        m->cur->refs++;
        *out = m->cur;
        pthread_mutex_unlock(&m->lock);
        return FLEET_OK;
    }
    pthread_mutex_unlock(&m->lock);

    pthread_mutex_lock(&m->build_lock);
    /* Another request may have rebuilt it while this one waited. */
    pthread_mutex_lock(&m->lock);
    if (m->cur && m->cur->generation >= want) {
        m->cur->refs++;
        *out = m->cur;
        pthread_mutex_unlock(&m->lock);
        pthread_mutex_unlock(&m->build_lock);
        return FLEET_OK;
    }
    pthread_mutex_unlock(&m->lock);
    struct index *ix = calloc(1, sizeof(*ix));
    enum fleet_err rc = FLEET_ERR_NOMEM;
    if (ix) {
        /* Read before the queries: a write during the build makes the next request rebuild. */
        ix->generation = fleet_store_generation(m->st);
        ix->refs = 1; /* the matcher's own */
        rc = build_boards(m, ix, err, errlen);
        if (rc == FLEET_OK)
            rc = build_models(m, ix, err, errlen);
        if (rc == FLEET_OK)
            rc = build_latency(m, ix, err, errlen);
    }
    if (rc != FLEET_OK) {
        if (rc == FLEET_ERR_NOMEM)
            snprintf(err, errlen, "out of memory building the match index");
        index_free(ix);
        pthread_mutex_unlock(&m->build_lock);
        return rc;
    }
    pthread_mutex_lock(&m->lock);
    struct index *old = m->cur;
    m->cur = ix;
    ix->refs++; /* the caller's */
    int free_old = old && --old->refs == 0;
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_unlock(&m->build_lock);
    if (free_old)
        index_free(old);
    *out = ix;
    return FLEET_OK;
}

/* ---- verdicts ------------------------------------------------------------------------------ */

static const char *local_name(const char *iri)
{
    const char *h = strrchr(iri, '#'), *s = strrchr(iri, '/');
    const char *p = h > s ? h : s;
    return p && p[1] ? p + 1 : iri;
}

struct verdict {
    int fits;
    int has_latency;        /* measured: latency_ms, see add_latency */
    double latency_ms;
    const char *profile;
    int has_need_ram;
    unsigned long long need_ram;
    long long ram_headroom; /* have - need, or LLONG_MIN when unknown */
};

static json_t *json_u64_or_null(int has, unsigned long long v)
{
    return has ? json_integer((json_int_t)v) : json_null();
}

static json_t *names_array(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(local_name(v[i])));
    return a;
}

/* The numbers of the verdict of model md on board b (no JSON: a list judges every pair and
 * describes only its page); default_profile for boards that name none. */
static void judge(const struct model *md, const struct board *b, const char *default_profile,
                  struct verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->profile = default_profile;
    if (b->profile && fleet_arena_profile_known(b->profile))
        v->profile = b->profile;
    v->fits = 1;
    for (size_t k = 0; k < md->n_arena; k++)
        if (strcmp(md->arena[k].profile, v->profile) == 0)
            v->has_need_ram = 1, v->need_ram = md->arena[k].bytes;
    if (!v->has_need_ram || !b->has_ram || v->need_ram > b->ram)
        v->fits = 0;
    v->ram_headroom = v->has_need_ram && b->has_ram ? (long long)b->ram - (long long)v->need_ram
                                                    : INT64_MIN;
    if (!b->has_flash || md->flash > b->flash)
        v->fits = 0;
    for (size_t i = 0; i < md->sensors.n && v->fits; i++) {
        const char *s = md->sensors.v[i];
        if (strcmp(s, SOSAX "OtherSensor") != 0 && !strset_has(&b->sensors, s))
            v->fits = 0;
    }
}

/* The verdict v (from judge) as a new JSON item with its reasons. */
static json_t *verdict_item(const struct model *md, const struct board *b,
                            const char *default_profile, const struct verdict *v)
{
    json_t *reasons = json_array(), *item = json_object();
    char msg[512];
    if (b->profile && v->profile != b->profile) {
        snprintf(msg, sizeof(msg),
                 "profile: the board asks for arena profile \"%s\", which tinyfleet does not "
                 "know; %s used",
                 b->profile, default_profile);
        json_array_append_new(reasons, json_string(msg));
    }
    /* RAM */
    if (!v->has_need_ram) {
        snprintf(msg, sizeof(msg), "ram: the model has no arena estimate under profile %s",
                 v->profile);
        json_array_append_new(reasons, json_string(msg));
    } else if (!b->has_ram) {
        json_array_append_new(reasons, json_string(b->ram_problem
                                                       ? b->ram_problem
                                                       : "ram: the board states no RAM"));
    } else if (v->need_ram > b->ram) {
        snprintf(msg, sizeof(msg), "ram: needs %llu B, has %llu B", v->need_ram, b->ram);
        json_array_append_new(reasons, json_string(msg));
    }
    /* Flash */
    if (!b->has_flash) {
        json_array_append_new(reasons, json_string(b->flash_problem
                                                       ? b->flash_problem
                                                       : "flash: the board states no flash"));
    } else if (md->flash > b->flash) {
        snprintf(msg, sizeof(msg), "flash: needs %llu B, has %llu B", md->flash, b->flash);
        json_array_append_new(reasons, json_string(msg));
    }
    /* Sensors */
    json_t *missing = json_array();
    struct fleet_buf mb = FLEET_BUF_INIT;
    for (size_t i = 0; i < md->sensors.n; i++) {
        const char *s = md->sensors.v[i];
        if (strcmp(s, SOSAX "OtherSensor") == 0 || strset_has(&b->sensors, s))
            continue;
        json_array_append_new(missing, json_string(local_name(s)));
        fleet_buf_printf(&mb, "%s%s", mb.len ? ", " : "", local_name(s));
    }
    if (json_array_size(missing)) {
        snprintf(msg, sizeof(msg), "sensors: missing %s", mb.data ? mb.data : "");
        json_array_append_new(reasons, json_string(msg));
    }
    fleet_buf_free(&mb);

    json_object_set_new(item, "fits", json_boolean(v->fits));
    json_object_set_new(item, "profile", json_string(v->profile));
    json_t *ram = json_object(), *flash = json_object(), *sensors = json_object();
    json_object_set_new(ram, "need", json_u64_or_null(v->has_need_ram, v->need_ram));
    json_object_set_new(ram, "have", json_u64_or_null(b->has_ram, b->ram));
    json_object_set_new(flash, "need", json_integer((json_int_t)md->flash));
    json_object_set_new(flash, "have", json_u64_or_null(b->has_flash, b->flash));
    json_object_set_new(sensors, "need", names_array(md->sensors.v, md->sensors.n));
    json_object_set_new(sensors, "have", names_array(b->sensors.v, b->sensors.n));
    json_object_set_new(sensors, "missing", missing);
    json_object_set_new(item, "ram", ram);
    json_object_set_new(item, "flash", flash);
    json_object_set_new(item, "sensors", sensors);
    json_object_set_new(item, "reasons", reasons);
    if (v->has_latency)
        json_object_set_new(item, "latency_ms", json_real(v->latency_ms));
    return item;
}

/* The measured latency of md on b into v, when there is one. */
static void add_latency(const struct index *ix, const struct model *md, const struct board *b,
                        struct verdict *v)
{
    struct latency key = {md->id, b->iri, 0};
    size_t lo = 0, hi = ix->n_lat;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->lat[mid].model_id, key.model_id);
        if (!c)
            c = strcmp(ix->lat[mid].board, key.board);
        if (c == 0) {
            v->has_latency = 1;
            v->latency_ms = ix->lat[mid].ms;
            return;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
}

static void describe_board(json_t *item, const struct board *b)
{
    json_object_set_new(item, "device", json_string(b->iri));
    json_object_set_new(item, "title", b->title ? json_string(b->title) : json_null());
}

static void describe_model(json_t *item, const struct model *md)
{
    json_object_set_new(item, "model", json_string(md->id));
    json_object_set_new(item, "name", md->name ? json_string(md->name) : json_null());
    json_object_set_new(item, "category",
                        md->category ? json_string(local_name(md->category)) : json_null());
    json_object_set_new(item, "accuracy",
                        md->has_accuracy ? json_real(md->accuracy) : json_null());
    json_object_set_new(item, "macs", json_u64_or_null(md->has_macs, md->macs));
}

/* Sort record for a list. */
struct ranked {
    struct verdict v;
    const char *key;  /* device IRI or model id: the last tie-break */
    const struct model *md;
    const struct board *b;
};

static int ranked_cmp(const void *pa, const void *pb, void *ctx)
{
    const struct ranked *a = pa, *b = pb;
    enum fleet_match_order sort_order = *(const enum fleet_match_order *)ctx;
    if (a->v.fits != b->v.fits)
        return b->v.fits - a->v.fits;
    if (sort_order == FLEET_ORDER_ACCURACY && a->md && b->md) {
        int ha = a->md->has_accuracy, hb = b->md->has_accuracy;
        if (ha != hb)
            return hb - ha;
        if (ha && a->md->accuracy != b->md->accuracy)
            return a->md->accuracy > b->md->accuracy ? -1 : 1;
    } else if (sort_order == FLEET_ORDER_LATENCY) {
        if (a->v.has_latency != b->v.has_latency)
            return b->v.has_latency - a->v.has_latency;
        if (a->v.has_latency && a->v.latency_ms != b->v.latency_ms)
            return a->v.latency_ms < b->v.latency_ms ? -1 : 1;
    } else if (sort_order == FLEET_ORDER_MACS && a->md && b->md) {
        if (a->md->has_macs != b->md->has_macs)
            return b->md->has_macs - a->md->has_macs;
        if (a->md->macs != b->md->macs)
            return a->md->macs < b->md->macs ? -1 : 1;
    }
    if (a->v.ram_headroom != b->v.ram_headroom)
        return a->v.ram_headroom > b->v.ram_headroom ? -1 : 1;
    return strcmp(a->key, b->key);
}

/* Sorts n records and pages them by q into a new {"total", "items"}; only the page's items are
 * built, each described by its board (boards) or its model. */
static json_t *page(struct ranked *r, size_t n, const struct fleet_match_query *q,
                    const char *profile, int boards)
{
    enum fleet_match_order order = q->order;
    qsort_r(r, n, sizeof(*r), ranked_cmp, &order);
    json_t *out = json_object(), *items = json_array();
    size_t end = q->limit ? q->offset + q->limit : n;
    for (size_t i = q->offset; i < n && i < end; i++) {
        json_t *item = verdict_item(r[i].md, r[i].b, profile, &r[i].v);
        if (boards)
            describe_board(item, r[i].b);
        else
            describe_model(item, r[i].md);
        json_array_append_new(items, item);
    }
    json_object_set_new(out, "total", json_integer((json_int_t)n));
    json_object_set_new(out, "items", items);
    return out;
}

static int fits_wanted(const struct fleet_match_query *q, int fits)
{
    return q->fits == FLEET_FITS_ALL || (q->fits == FLEET_FITS_TRUE) == !!fits;
}

static int contains_ci(const char *hay, const char *needle)
{
    if (!needle || !*needle)
        return 1;
    if (!hay)
        return 0;
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

static void current_profile(struct fleet_match *m, char *out, size_t len)
{
    pthread_mutex_lock(&m->lock);
    snprintf(out, len, "%s", m->profile);
    pthread_mutex_unlock(&m->lock);
}

enum fleet_err fleet_match_devices_for_model(struct fleet_match *m, const char *model_id,
                                             const struct fleet_match_query *q, json_t **out,
                                             char *err, size_t errlen)
{
    struct index *ix;
    char profile[64];
    enum fleet_err rc = index_get(m, &ix, err, errlen);
    *out = NULL;
    if (rc != FLEET_OK)
        return rc;
    current_profile(m, profile, sizeof(profile));
    const struct model *md = find_model(ix, model_id);
    if (!md) {
        snprintf(err, errlen, "no model with id %s", model_id);
        index_release(m, ix);
        return FLEET_ERR_NOTFOUND;
    }
    struct ranked *r = calloc(ix->n_boards + 1, sizeof(*r));
    if (!r) {
        index_release(m, ix);
        return FLEET_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < ix->n_boards; i++) {
        const struct board *b = &ix->boards[i];
        judge(md, b, profile, &r[n].v);
        if (!fits_wanted(q, r[n].v.fits))
            continue;
        add_latency(ix, md, b, &r[n].v);
        r[n].key = b->iri;
        r[n].md = md;
        r[n].b = b;
        n++;
    }
    json_t *res = page(r, n, q, profile, 1);
    json_object_set_new(res, "model", json_string(md->id));
    json_object_set_new(res, "name", md->name ? json_string(md->name) : json_null());
    free(r);
    index_release(m, ix);
    *out = res;
    return FLEET_OK;
}

enum fleet_err fleet_match_models_for_device(struct fleet_match *m, const char *device_iri,
                                             const struct fleet_match_query *q, json_t **out,
                                             char *err, size_t errlen)
{
    struct index *ix;
    char profile[64];
    enum fleet_err rc = index_get(m, &ix, err, errlen);
    *out = NULL;
    if (rc != FLEET_OK)
        return rc;
    current_profile(m, profile, sizeof(profile));
    const struct board *b = find_board(ix, device_iri);
    if (!b) {
        snprintf(err, errlen, "no board %s is known to the matcher", device_iri);
        index_release(m, ix);
        return FLEET_ERR_NOTFOUND;
    }
    struct ranked *r = calloc(ix->n_models + 1, sizeof(*r));
    if (!r) {
        index_release(m, ix);
        return FLEET_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < ix->n_models; i++) {
        const struct model *md = &ix->models[i];
        if (q->category && *q->category &&
            (!md->category || strcmp(local_name(md->category), q->category) != 0))
            continue;
        if (q->task && *q->task && !contains_ci(md->description, q->task) &&
            !contains_ci(md->name, q->task))
            continue;
        if (q->dataset && *q->dataset && !contains_ci(md->dataset, q->dataset))
            continue;
        if (q->has_min_accuracy && (!md->has_accuracy || md->accuracy < q->min_accuracy))
            continue;
        judge(md, b, profile, &r[n].v);
        if (!fits_wanted(q, r[n].v.fits))
            continue;
        add_latency(ix, md, b, &r[n].v);
        r[n].key = md->id;
        r[n].md = md;
        r[n].b = b;
        n++;
    }
    json_t *res = page(r, n, q, profile, 0);
    json_object_set_new(res, "device", json_string(b->iri));
    json_object_set_new(res, "title", b->title ? json_string(b->title) : json_null());
    free(r);
    index_release(m, ix);
    *out = res;
    return FLEET_OK;
}

enum fleet_err fleet_match_pair(struct fleet_match *m, const char *model_id,
                                const char *device_iri, json_t **out, char *err, size_t errlen)
{
    struct index *ix;
    char profile[64];
    enum fleet_err rc = index_get(m, &ix, err, errlen);
    *out = NULL;
    if (rc != FLEET_OK)
        return rc;
    current_profile(m, profile, sizeof(profile));
    const struct model *md = find_model(ix, model_id);
    const struct board *b = find_board(ix, device_iri);
    if (!md || !b) {
        /* The board first: it is the resource the request names. */
        snprintf(err, errlen, !b ? "no board %s is known to the matcher" : "no model with id %s",
                 !b ? device_iri : model_id);
        index_release(m, ix);
        return FLEET_ERR_NOTFOUND;
    }
    struct verdict v;
    judge(md, b, profile, &v);
    add_latency(ix, md, b, &v);
    json_t *item = verdict_item(md, b, profile, &v);
    describe_model(item, md);
    describe_board(item, b);
    index_release(m, ix);
    *out = item;
    return FLEET_OK;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

struct fleet_match *fleet_match_new(struct fleet_store *st, const struct fleet_templates *t,
                                    const char *default_profile, long timeout_ms)
{
    struct fleet_match *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->st = st;
    m->t = t;
    m->timeout_ms = timeout_ms;
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->build_lock, NULL);
    snprintf(m->profile, sizeof(m->profile), "%s",
             default_profile ? default_profile : FLEET_ARENA_PROFILE_ILP32);
    return m;
}

void fleet_match_set_profile(struct fleet_match *m, const char *default_profile)
{
    pthread_mutex_lock(&m->lock);
    snprintf(m->profile, sizeof(m->profile), "%s", default_profile);
    pthread_mutex_unlock(&m->lock);
}

void fleet_match_free(struct fleet_match *m)
{
    if (!m)
        return;
    index_free(m->cur); /* no request may hold a reference any more */
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->build_lock);
    free(m);
}
