/* SPDX-License-Identifier: MIT */
/* The in-memory quad store behind the "fleet" librdf storage module; see quadstore.h.
 *
 * Layout, chosen for memory first (the daemon's budget is 400 B of RSS per triple):
 *  - Dictionary: one malloc block per term (header + "value\0lang\0"), an id -> block array, and
 *    an open-addressing table of ids keyed by the term's hash. A literal's datatype is itself an
 *    interned IRI term, referenced by id, so "xsd:integer" is stored once, not once per number.
 *    Freed ids are chained through the id array (low bit tagged), so unref never allocates.
 *  - Quads: one dense array of struct quad {ids[4], back[4]} (32 bytes), and an open-addressing
 *    table of slot numbers keyed by a hash of the ids, for O(1) add / remove / contains.
 *  - Posting lists: each term has one list of quad slots per position (s, p, o, g); the default
 *    graph's list lives in the store. A list of one slot is kept inline in the list word, which
 *    matters because most literals appear in exactly one quad.
 *
 * Removal is swap-remove everywhere, which keeps every array dense (no tombstones, no
 * compaction pauses, all-wildcard walks touch no dead slots, memory is given back as the store
 * shrinks) at the cost of 16 bytes of back-pointers per quad: back[i] is the quad's index in its
 * position-i list. Removing a quad moves each list's last entry into its hole (fixing that
 * quad's back pointer), then moves the array's last quad into its slot (fixing the four list
 * entries that name it, via its back pointers, and its hash entry). Every step is O(1).
 * Tombstones would save the 16 bytes but make a removed quad cost list scans or periodic
 * rebuilds and leave pattern walks skipping dead entries.
 */
#include "quadstore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crc32.h"
#include "log.h"

#define XSD_STRING "http://www.w3.org/2001/XMLSchema#string"

#define NO_SLOT UINT32_MAX
/* Slots must fit in a tagged list word (slot << 1 | 1) even where uintptr_t is 32 bits. */
#define MAX_QUADS 0x7ffffffeu
/* Ids are < MAX_IDS; UINT32_MAX is FLEET_QS_ANY_GRAPH and must never name a term. */
#define MAX_IDS (UINT32_MAX - 1)
/* Head-room kept below UINT32_MAX in a refcount, so one add (4 refs) or a temporary pin always
 * fits once the checks pass. */
#define REF_SLACK 8u

#define SNAP_MAGIC "TFQS"
#define SNAP_VERSION 1u
#define SNAP_HEADER 24  /* magic, version, nterms, nquads, u64 payload length */
#define SNAP_MIN_TERM 5 /* kind byte + value length */
#define SNAP_QUAD 16
#define IO_CHUNK ((size_t)1 << 20)

/* A posting list word: 0 is empty, an odd value is one inline slot (slot << 1 | 1), anything
 * else points to a struct plist. */
typedef uintptr_t plword;

struct plist {
    uint32_t len;
    uint32_t cap;
    uint32_t slot[];
};

struct qterm {
    plword pl[4]; /* quads using this term as s, p, o, g */
    uint32_t refs;
    uint32_t hash;
    fleet_tid dt; /* literal datatype (an IRI term this literal holds a reference on), or 0 */
    uint32_t vlen;
    uint8_t kind;
    char str[]; /* value NUL lang NUL (lang lower-cased, empty if none) */
};

struct quad {
    fleet_tid t[4];
    uint32_t back[4]; /* index of this quad in each of its four posting lists */
};

struct fleet_qs {
    uintptr_t *terms; /* by id: struct qterm *, or (next free id << 1 | 1); [0] unused */
    uint32_t nids;    /* ids below this have been handed out at some time */
    uint32_t ids_cap;
    uint32_t free_head; /* first free id, 0 if none */
    size_t nterms;      /* live terms */
    uint32_t *dict;     /* ids, 0 = empty; linear probing */
    size_t dict_cap;    /* a power of two, or 0 */

    struct quad *quads; /* dense: [0, nquads) */
    uint32_t nquads;
    uint32_t quads_cap;
    uint32_t *qhash;  /* slot + 1, 0 = empty; linear probing */
    size_t qhash_cap; /* a power of two, or 0 */
    plword dflt;      /* posting list of the default graph */

    /* Named graphs that have held quads: may hold stale or repeated ids, filtered on use and
     * compacted when full (graphs_reserve). */
    fleet_tid *graphs;
    uint32_t ngraphs;
    uint32_t graphs_cap;

    size_t mem;   /* approximate heap bytes, counted as glibc malloc chunks */
    uint64_t gen; /* bumped by every change, to end stale iterations */
};

struct tkey {
    const char *value;
    const char *lang; /* any case; stored terms hold it lower-cased */
    size_t vlen;
    size_t llen;
    fleet_tid dt;
    uint32_t hash;
    uint8_t kind;
};

/* ---- allocation with accounting ------------------------------------------------------- */

/* What glibc really takes for an n-byte request: 8 bytes of header, 16-byte rounding, 32 bytes
 * minimum. Close enough for metrics and the RSS benchmark. */
static size_t chunk_size(size_t n)
{
    if (n == 0)
        return 0;
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

static void *qs_alloc(struct fleet_qs *qs, size_t n)
{
    void *p = malloc(n);
    if (p)
        qs->mem += chunk_size(n);
    return p;
}

static void *qs_realloc(struct fleet_qs *qs, void *old, size_t oldn, size_t n)
{
    void *p = realloc(old, n);
    if (p)
        qs->mem = qs->mem - chunk_size(oldn) + chunk_size(n);
    return p;
}

static void qs_dealloc(struct fleet_qs *qs, void *p, size_t n)
{
    if (!p)
        return;
    free(p);
    qs->mem -= chunk_size(n);
}

/* Resizes an array of count elements of size elem to newcount; NULL on overflow or ENOMEM. */
static void *qs_resize_array(struct fleet_qs *qs, void *old, size_t count, size_t newcount,
                             size_t elem)
{
    if (newcount == 0 || newcount > SIZE_MAX / elem)
        return NULL;
    return qs_realloc(qs, old, count * elem, newcount * elem);
}

/* ---- hashing -------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static uint32_t key_hash(const struct tkey *k)
{
    const uint64_t prime = 0x100000001b3ULL;
    uint64_t h = 0xcbf29ce484222325ULL ^ k->kind;
    for (size_t i = 0; i < k->vlen; i++)
        h = (h ^ (unsigned char)k->value[i]) * prime;
    h = (h ^ 0x100) * prime; /* separates value from lang */
    for (size_t i = 0; i < k->llen; i++)
        h = (h ^ ascii_lower((unsigned char)k->lang[i])) * prime;
    return (uint32_t)mix64(h ^ ((uint64_t)k->dt << 40));
}

static uint32_t quad_hash(const fleet_tid q[4])
{
    uint64_t a = (uint64_t)q[0] << 32 | q[1];
    uint64_t b = (uint64_t)q[2] << 32 | q[3];
    return (uint32_t)mix64(a ^ mix64(b));
}

/* ---- posting lists -------------------------------------------------------------------- */

static struct plist *pl_ptr(plword w)
{
    return (struct plist *)w;
}

static size_t pl_bytes(uint32_t cap)
{
    return sizeof(struct plist) + (size_t)cap * sizeof(uint32_t);
}

static uint32_t pl_len(plword w)
{
    if (w == 0)
        return 0;
    return (w & 1) ? 1 : pl_ptr(w)->len;
}

static uint32_t pl_at(plword w, uint32_t i)
{
    return (w & 1) ? (uint32_t)(w >> 1) : pl_ptr(w)->slot[i];
}

static void pl_set(plword *w, uint32_t i, uint32_t slot)
{
    if (*w & 1)
        *w = (plword)slot << 1 | 1;
    else
        pl_ptr(*w)->slot[i] = slot;
}

/* Appends slot, storing its index in *idx. Returns 0, or -1 on ENOMEM (list unchanged). */
static int pl_push(struct fleet_qs *qs, plword *w, uint32_t slot, uint32_t *idx)
{
    if (*w == 0) {
        *w = (plword)slot << 1 | 1;
        *idx = 0;
        return 0;
    }
    if (*w & 1) {
        /* 4 slots fill the smallest malloc chunk exactly. */
        struct plist *p = qs_alloc(qs, pl_bytes(4));
        if (!p)
            return -1;
        p->len = 2;
        p->cap = 4;
        p->slot[0] = (uint32_t)(*w >> 1);
        p->slot[1] = slot;
        *w = (plword)p;
        *idx = 1;
        return 0;
    }
    struct plist *p = pl_ptr(*w);
    if (p->len == p->cap) {
        /* x1.5, multiples of 4 so that requests fill glibc's 16-byte chunk steps. */
        uint32_t cap = (p->cap + p->cap / 2 + 3) & ~3u;
        p = qs_realloc(qs, p, pl_bytes(p->cap), pl_bytes(cap));
        if (!p)
            return -1;
        p->cap = cap;
        *w = (plword)p;
    }
    p->slot[p->len] = slot;
    *idx = p->len++;
    return 0;
}

/* Removes entry i by moving the last entry into its place. Returns the slot that moved to
 * index i (its owner must fix its back pointer), or NO_SLOT if none did. */
static uint32_t pl_remove(struct fleet_qs *qs, plword *w, uint32_t i)
{
    if (*w & 1) {
        *w = 0;
        return NO_SLOT;
    }
    struct plist *p = pl_ptr(*w);
    uint32_t moved = NO_SLOT;
    p->len--;
    if (i != p->len) {
        p->slot[i] = p->slot[p->len];
        moved = p->slot[i];
    }
    if (p->len <= 1) {
        /* Back to inline form; the survivor (if any) is at index 0 already. */
        *w = p->len ? ((plword)p->slot[0] << 1 | 1) : 0;
        qs_dealloc(qs, p, pl_bytes(p->cap));
    } else if (p->cap >= 16 && p->len <= p->cap / 4) {
        uint32_t cap = (p->cap / 2 + 3) & ~3u;
        struct plist *np = qs_realloc(qs, p, pl_bytes(p->cap), pl_bytes(cap));
        if (np) { /* a failed shrink just keeps the bigger block */
            np->cap = cap;
            *w = (plword)np;
        }
    }
    return moved;
}

static void pl_free(struct fleet_qs *qs, plword *w)
{
    if (*w && !(*w & 1))
        qs_dealloc(qs, pl_ptr(*w), pl_bytes(pl_ptr(*w)->cap));
    *w = 0;
}

/* ---- dictionary ----------------------------------------------------------------------- */

static struct qterm *term_at(const struct fleet_qs *qs, fleet_tid id)
{
    return (struct qterm *)qs->terms[id];
}

/* The live term named id, or NULL. */
static struct qterm *term_get(const struct fleet_qs *qs, fleet_tid id)
{
    if (id == 0 || id >= qs->nids || (qs->terms[id] & 1))
        return NULL;
    return term_at(qs, id);
}

static const char *term_lang(const struct qterm *t)
{
    return t->str + t->vlen + 1;
}

static size_t term_bytes(size_t vlen, size_t llen)
{
    return offsetof(struct qterm, str) + vlen + llen + 2;
}

static bool term_matches(const struct qterm *t, const struct tkey *k)
{
    if (t->hash != k->hash || t->kind != k->kind || t->vlen != k->vlen || t->dt != k->dt)
        return false;
    if (memcmp(t->str, k->value, k->vlen) != 0)
        return false;
    const char *lang = term_lang(t);
    for (size_t i = 0; i < k->llen; i++)
        if ((unsigned char)lang[i] != ascii_lower((unsigned char)k->lang[i]))
            return false;
    return lang[k->llen] == '\0';
}

static fleet_tid dict_find(const struct fleet_qs *qs, const struct tkey *k)
{
    if (qs->dict_cap == 0)
        return 0;
    size_t mask = qs->dict_cap - 1;
    for (size_t i = k->hash & mask;; i = (i + 1) & mask) {
        fleet_tid id = qs->dict[i];
        if (id == 0)
            return 0;
        if (term_matches(term_at(qs, id), k))
            return id;
    }
}

static void dict_put(uint32_t *dict, size_t cap, uint32_t hash, fleet_tid id)
{
    size_t mask = cap - 1;
    size_t i = hash & mask;
    while (dict[i] != 0)
        i = (i + 1) & mask;
    dict[i] = id;
}

static int dict_rebuild(struct fleet_qs *qs, size_t cap)
{
    if (cap > SIZE_MAX / sizeof(uint32_t))
        return -1;
    uint32_t *d = qs_alloc(qs, cap * sizeof(*d));
    if (!d)
        return -1;
    memset(d, 0, cap * sizeof(*d));
    for (fleet_tid id = 1; id < qs->nids; id++) {
        const struct qterm *t = term_get(qs, id);
        if (t)
            dict_put(d, cap, t->hash, id);
    }
    qs_dealloc(qs, qs->dict, qs->dict_cap * sizeof(*qs->dict));
    qs->dict = d;
    qs->dict_cap = cap;
    return 0;
}

/* Capacity keeping n entries at most 3/4 full. */
static size_t table_cap_for(size_t n)
{
    size_t cap = 64;
    while (cap / 4 * 3 < n) {
        if (cap > SIZE_MAX / 2)
            return 0;
        cap *= 2;
    }
    return cap;
}

/* Backward-shift deletion of the entry at hole of a linear-probing table, where home(entry) is
 * the hash an entry was placed by. Keeps probe chains intact without tombstones. */
static void table_delete(const struct fleet_qs *qs, uint32_t *tab, size_t cap, size_t hole,
                         uint32_t (*home)(const struct fleet_qs *, uint32_t))
{
    size_t mask = cap - 1;
    for (size_t j = (hole + 1) & mask; tab[j] != 0; j = (j + 1) & mask) {
        size_t h = home(qs, tab[j]) & mask;
        /* The entry may move back into the hole unless its home lies cyclically in (hole, j]. */
        bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (!stays) {
            tab[hole] = tab[j];
            hole = j;
        }
    }
    tab[hole] = 0;
}

static uint32_t dict_home(const struct fleet_qs *qs, uint32_t id)
{
    return term_at(qs, id)->hash;
}

static void dict_remove(struct fleet_qs *qs, fleet_tid id)
{
    size_t mask = qs->dict_cap - 1;
    size_t i = term_at(qs, id)->hash & mask;
    while (qs->dict[i] != id)
        i = (i + 1) & mask;
    table_delete(qs, qs->dict, qs->dict_cap, i, dict_home);
}

static int ids_reserve(struct fleet_qs *qs, size_t want)
{
    if (want <= qs->ids_cap)
        return 0;
    if (want > MAX_IDS)
        return -1;
    size_t cap = qs->ids_cap ? (size_t)qs->ids_cap + qs->ids_cap / 2 : 64;
    if (cap < want)
        cap = want;
    if (cap > MAX_IDS)
        cap = MAX_IDS;
    uintptr_t *t = qs_resize_array(qs, qs->terms, qs->ids_cap, cap, sizeof(*t));
    if (!t)
        return -1;
    if (qs->ids_cap == 0)
        t[0] = 0;
    qs->terms = t;
    qs->ids_cap = (uint32_t)cap;
    return 0;
}

/* Adds the term k (hash set) with refs references. k->dt's reference, if any, is stolen.
 * Returns its id, or 0 on ENOMEM or a limit. */
static fleet_tid term_new(struct fleet_qs *qs, const struct tkey *k, uint32_t refs)
{
    if (k->vlen >= UINT32_MAX || k->llen >= UINT32_MAX)
        return 0;
    if ((qs->nterms + 1) > qs->dict_cap / 4 * 3) {
        size_t cap = table_cap_for(qs->nterms + 1);
        if (cap == 0 || dict_rebuild(qs, cap) != 0)
            return 0;
    }
    if (qs->free_head == 0 && ids_reserve(qs, (size_t)qs->nids + 1) != 0)
        return 0;
    struct qterm *t = qs_alloc(qs, term_bytes(k->vlen, k->llen));
    if (!t)
        return 0;
    memset(t->pl, 0, sizeof(t->pl));
    t->refs = refs;
    t->hash = k->hash;
    t->dt = k->dt;
    t->vlen = (uint32_t)k->vlen;
    t->kind = k->kind;
    memcpy(t->str, k->value, k->vlen);
    t->str[k->vlen] = '\0';
    char *lang = t->str + k->vlen + 1;
    for (size_t i = 0; i < k->llen; i++)
        lang[i] = (char)ascii_lower((unsigned char)k->lang[i]);
    lang[k->llen] = '\0';

    fleet_tid id;
    if (qs->free_head) {
        id = qs->free_head;
        qs->free_head = (uint32_t)(qs->terms[id] >> 1);
    } else {
        id = qs->nids++;
    }
    qs->terms[id] = (uintptr_t)t;
    qs->nterms++;
    dict_put(qs->dict, qs->dict_cap, t->hash, id);
    return id;
}

/* Drops one reference on the live term id, freeing it (and then dropping its datatype's
 * reference) when none remain. A term whose count reaches 0 has empty posting lists, since each
 * quad holds a reference per position. */
static void term_drop(struct fleet_qs *qs, fleet_tid id)
{
    while (id) {
        struct qterm *t = term_at(qs, id);
        if (--t->refs > 0)
            return;
        fleet_tid dt = t->dt;
        dict_remove(qs, id);
        for (int pos = 0; pos < 4; pos++)
            pl_free(qs, &t->pl[pos]);
        qs_dealloc(qs, t, term_bytes(t->vlen, strlen(term_lang(t))));
        qs->terms[id] = (uintptr_t)qs->free_head << 1 | 1;
        qs->free_head = id;
        qs->nterms--;
        if (qs->dict_cap > 64 && qs->nterms * 8 < qs->dict_cap)
            (void)dict_rebuild(qs, qs->dict_cap / 2); /* failure keeps the bigger table */
        id = dt;
    }
}

/* Fills k from t, except dt and hash. *dtiri is the datatype IRI to resolve, or NULL.
 * Returns false if t cannot be a stored term. */
static bool key_from_term(const struct fleet_term *t, struct tkey *k, const char **dtiri)
{
    *dtiri = NULL;
    if (!t || !t->value)
        return false;
    if (t->kind != FLEET_TERM_IRI && t->kind != FLEET_TERM_BLANK && t->kind != FLEET_TERM_LITERAL)
        return false;
    memset(k, 0, sizeof(*k));
    k->kind = (uint8_t)t->kind;
    k->value = t->value;
    k->vlen = strlen(t->value);
    k->lang = "";
    if (t->kind != FLEET_TERM_LITERAL)
        return true;
    if (t->lang && t->lang[0]) {
        /* A language-tagged literal's datatype is always rdf:langString: store none. */
        k->lang = t->lang;
        k->llen = strlen(t->lang);
    } else if (t->datatype && t->datatype[0] && strcmp(t->datatype, XSD_STRING) != 0) {
        *dtiri = t->datatype;
    }
    return true;
}

fleet_tid fleet_qs_intern(struct fleet_qs *qs, const struct fleet_term *t)
{
    struct tkey k;
    const char *dtiri;
    fleet_tid dt = 0;

    if (!qs || !key_from_term(t, &k, &dtiri))
        return 0;
    if (dtiri) {
        const struct fleet_term dterm = {FLEET_TERM_IRI, dtiri, NULL, NULL};
        dt = fleet_qs_intern(qs, &dterm);
        if (!dt)
            return 0;
    }
    k.dt = dt;
    k.hash = key_hash(&k);
    fleet_tid id = dict_find(qs, &k);
    if (id) {
        struct qterm *q = term_at(qs, id);
        if (q->refs >= UINT32_MAX - REF_SLACK)
            id = 0;
        else
            q->refs++;
    } else {
        id = term_new(qs, &k, 1);
        if (id)
            return id; /* the new literal stole our reference on dt */
    }
    if (dt)
        term_drop(qs, dt);
    return id;
}

void fleet_qs_unref(struct fleet_qs *qs, fleet_tid id)
{
    struct qterm *t = qs ? term_get(qs, id) : NULL;
    if (t && t->refs > 0)
        term_drop(qs, id);
}

fleet_tid fleet_qs_lookup(const struct fleet_qs *qs, const struct fleet_term *t)
{
    struct tkey k;
    const char *dtiri;

    if (!qs || !key_from_term(t, &k, &dtiri))
        return 0;
    if (dtiri) {
        const struct fleet_term dterm = {FLEET_TERM_IRI, dtiri, NULL, NULL};
        k.dt = fleet_qs_lookup(qs, &dterm);
        if (!k.dt)
            return 0;
    }
    k.hash = key_hash(&k);
    return dict_find(qs, &k);
}

enum fleet_err fleet_qs_term(const struct fleet_qs *qs, fleet_tid id, struct fleet_term *out)
{
    const struct qterm *t = term_get(qs, id);
    if (!t)
        return FLEET_ERR_NOTFOUND;
    out->kind = (enum fleet_term_kind)t->kind;
    out->value = t->str;
    out->lang = term_lang(t)[0] ? term_lang(t) : NULL;
    out->datatype = t->dt ? term_at(qs, t->dt)->str : NULL;
    return FLEET_OK;
}

size_t fleet_qs_term_count(const struct fleet_qs *qs)
{
    return qs->nterms;
}

/* ---- quad hash set -------------------------------------------------------------------- */

static uint32_t qhash_find(const struct fleet_qs *qs, const fleet_tid q[4])
{
    if (qs->qhash_cap == 0)
        return NO_SLOT;
    size_t mask = qs->qhash_cap - 1;
    for (size_t i = quad_hash(q) & mask;; i = (i + 1) & mask) {
        uint32_t e = qs->qhash[i];
        if (e == 0)
            return NO_SLOT;
        const fleet_tid *t = qs->quads[e - 1].t;
        if (t[0] == q[0] && t[1] == q[1] && t[2] == q[2] && t[3] == q[3])
            return e - 1;
    }
}

static void qhash_put(uint32_t *tab, size_t cap, const fleet_tid q[4], uint32_t slot)
{
    size_t mask = cap - 1;
    size_t i = quad_hash(q) & mask;
    while (tab[i] != 0)
        i = (i + 1) & mask;
    tab[i] = slot + 1;
}

static int qhash_rebuild(struct fleet_qs *qs, size_t cap)
{
    if (cap > SIZE_MAX / sizeof(uint32_t))
        return -1;
    uint32_t *tab = qs_alloc(qs, cap * sizeof(*tab));
    if (!tab)
        return -1;
    memset(tab, 0, cap * sizeof(*tab));
    /* From the quad array, not the old table: sequential reads. */
    for (uint32_t s = 0; s < qs->nquads; s++)
        qhash_put(tab, cap, qs->quads[s].t, s);
    qs_dealloc(qs, qs->qhash, qs->qhash_cap * sizeof(*qs->qhash));
    qs->qhash = tab;
    qs->qhash_cap = cap;
    return 0;
}

/* Index in qhash of the entry for slot (which must be present). */
static size_t qhash_index(const struct fleet_qs *qs, uint32_t slot)
{
    size_t mask = qs->qhash_cap - 1;
    size_t i = quad_hash(qs->quads[slot].t) & mask;
    while (qs->qhash[i] != slot + 1)
        i = (i + 1) & mask;
    return i;
}

static uint32_t qhash_home(const struct fleet_qs *qs, uint32_t e)
{
    return quad_hash(qs->quads[e - 1].t);
}

static void qhash_remove(struct fleet_qs *qs, uint32_t slot)
{
    table_delete(qs, qs->qhash, qs->qhash_cap, qhash_index(qs, slot), qhash_home);
}

/* ---- quads ---------------------------------------------------------------------------- */

static plword *list_of(struct fleet_qs *qs, int pos, fleet_tid id)
{
    return (pos == 3 && id == 0) ? &qs->dflt : &term_at(qs, id)->pl[pos];
}

static int quads_reserve(struct fleet_qs *qs, size_t want)
{
    if (want <= qs->quads_cap)
        return 0;
    if (want > MAX_QUADS)
        return -1;
    size_t cap = qs->quads_cap ? (size_t)qs->quads_cap + qs->quads_cap / 2 : 64;
    if (cap < want)
        cap = want;
    if (cap > MAX_QUADS)
        cap = MAX_QUADS;
    struct quad *q = qs_resize_array(qs, qs->quads, qs->quads_cap, cap, sizeof(*q));
    if (!q)
        return -1;
    qs->quads = q;
    qs->quads_cap = (uint32_t)cap;
    return 0;
}

static int graph_cmp(const void *a, const void *b)
{
    fleet_tid x = *(const fleet_tid *)a, y = *(const fleet_tid *)b;
    return (x > y) - (x < y);
}

/* Keeps the ids of graphs that hold quads, sorted, once each; returns the new count. */
static uint32_t graphs_filter(const struct fleet_qs *qs, fleet_tid *g, uint32_t n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct qterm *t = term_get(qs, g[i]);
        if (t && pl_len(t->pl[3]) > 0)
            g[k++] = g[i];
    }
    if (k > 1)
        qsort(g, k, sizeof(*g), graph_cmp);
    uint32_t u = 0;
    for (uint32_t i = 0; i < k; i++)
        if (u == 0 || g[u - 1] != g[i])
            g[u++] = g[i];
    return u;
}

/* Ensures room to note one more graph. Compacting first bounds the list by twice the number of
 * graphs in use, however often graphs empty and refill. */
static int graphs_reserve(struct fleet_qs *qs)
{
    if (qs->ngraphs < qs->graphs_cap)
        return 0;
    qs->ngraphs = graphs_filter(qs, qs->graphs, qs->ngraphs);
    if (qs->graphs_cap && qs->ngraphs < qs->graphs_cap / 2)
        return 0;
    size_t cap = qs->graphs_cap ? (size_t)qs->graphs_cap * 2 : 16;
    if (cap > MAX_IDS)
        return -1;
    fleet_tid *g = qs_resize_array(qs, qs->graphs, qs->graphs_cap, cap, sizeof(*g));
    if (!g)
        return -1;
    qs->graphs = g;
    qs->graphs_cap = (uint32_t)cap;
    return 0;
}

/* Adds q, whose ids are known to be live. Returns 1, 0 if present, -1 on ENOMEM or a limit. */
static int quad_add(struct fleet_qs *qs, const fleet_tid q[4])
{
    if (qhash_find(qs, q) != NO_SLOT)
        return 0;
    if (qs->nquads >= MAX_QUADS)
        return -1;
    for (int pos = 0; pos < 4; pos++)
        if (q[pos] && term_at(qs, q[pos])->refs >= UINT32_MAX - REF_SLACK)
            return -1;
    if (quads_reserve(qs, (size_t)qs->nquads + 1) != 0)
        return -1;
    if ((size_t)qs->nquads + 1 > qs->qhash_cap / 4 * 3) {
        size_t cap = table_cap_for((size_t)qs->nquads + 1);
        if (cap == 0 || qhash_rebuild(qs, cap) != 0)
            return -1;
    }
    bool new_graph = q[3] != 0 && pl_len(*list_of(qs, 3, q[3])) == 0;
    if (new_graph && graphs_reserve(qs) != 0)
        return -1;

    uint32_t slot = qs->nquads;
    struct quad *qd = &qs->quads[slot];
    int pos;
    for (pos = 0; pos < 4; pos++) {
        if (pl_push(qs, list_of(qs, pos, q[pos]), slot, &qd->back[pos]) != 0)
            goto undo;
        qd->t[pos] = q[pos];
    }
    qs->nquads++;
    qhash_put(qs->qhash, qs->qhash_cap, q, slot);
    for (pos = 0; pos < 4; pos++)
        if (q[pos])
            term_at(qs, q[pos])->refs++;
    if (new_graph)
        qs->graphs[qs->ngraphs++] = q[3];
    qs->gen++;
    return 1;

undo:
    /* Each entry pushed is its list's last, so removing it moves nothing. */
    while (pos-- > 0)
        pl_remove(qs, list_of(qs, pos, q[pos]), qd->back[pos]);
    return -1;
}

static void quad_delete(struct fleet_qs *qs, uint32_t slot)
{
    const struct quad dead = qs->quads[slot];
    uint32_t last = qs->nquads - 1;

    qhash_remove(qs, slot);
    for (int pos = 0; pos < 4; pos++) {
        uint32_t moved = pl_remove(qs, list_of(qs, pos, dead.t[pos]), dead.back[pos]);
        if (moved != NO_SLOT)
            qs->quads[moved].back[pos] = dead.back[pos];
    }
    if (slot != last) {
        /* Fill the hole with the last quad: repoint its four list entries and hash entry. */
        const struct quad *lq = &qs->quads[last];
        for (int pos = 0; pos < 4; pos++)
            pl_set(list_of(qs, pos, lq->t[pos]), lq->back[pos], slot);
        qs->qhash[qhash_index(qs, last)] = slot + 1;
        qs->quads[slot] = *lq;
    }
    qs->nquads--;

    if (qs->quads_cap > 1024 && qs->nquads < qs->quads_cap / 4) {
        uint32_t cap = qs->quads_cap / 2;
        struct quad *q = qs_resize_array(qs, qs->quads, qs->quads_cap, cap, sizeof(*q));
        if (q) {
            qs->quads = q;
            qs->quads_cap = cap;
        }
    }
    if (qs->qhash_cap > 64 && (size_t)qs->nquads * 8 < qs->qhash_cap)
        (void)qhash_rebuild(qs, qs->qhash_cap / 2); /* failure keeps the bigger table */

    for (int pos = 0; pos < 4; pos++)
        if (dead.t[pos])
            term_drop(qs, dead.t[pos]);
    qs->gen++;
}

static bool quad_valid(const struct fleet_qs *qs, const fleet_tid q[4])
{
    return term_get(qs, q[0]) && term_get(qs, q[1]) && term_get(qs, q[2]) &&
           (q[3] == FLEET_QS_DEFAULT_GRAPH || term_get(qs, q[3]));
}

int fleet_qs_add(struct fleet_qs *qs, const fleet_tid q[4])
{
    if (!quad_valid(qs, q))
        return -1;
    return quad_add(qs, q);
}

int fleet_qs_remove(struct fleet_qs *qs, const fleet_tid q[4])
{
    uint32_t slot = qhash_find(qs, q);
    if (slot == NO_SLOT)
        return 0;
    quad_delete(qs, slot);
    return 1;
}

int fleet_qs_contains(const struct fleet_qs *qs, const fleet_tid q[4])
{
    return qhash_find(qs, q) != NO_SLOT;
}

size_t fleet_qs_size(const struct fleet_qs *qs)
{
    return qs->nquads;
}

size_t fleet_qs_graph_size(const struct fleet_qs *qs, fleet_tid g)
{
    if (g == FLEET_QS_ANY_GRAPH)
        return qs->nquads;
    if (g == FLEET_QS_DEFAULT_GRAPH)
        return pl_len(qs->dflt);
    const struct qterm *t = term_get(qs, g);
    return t ? pl_len(t->pl[3]) : 0;
}

size_t fleet_qs_clear_graph(struct fleet_qs *qs, fleet_tid g)
{
    size_t n = 0;
    uint32_t len;

    if (g != FLEET_QS_DEFAULT_GRAPH) {
        struct qterm *t = term_get(qs, g);
        if (!t)
            return 0;
        t->refs++; /* pin: the list word lives in the term, which its last quad could free */
    }
    plword *w = list_of(qs, 3, g);
    /* Deleting from the end of the list moves no other entry of it. */
    while ((len = pl_len(*w)) > 0) {
        quad_delete(qs, pl_at(*w, len - 1));
        n++;
    }
    if (g != FLEET_QS_DEFAULT_GRAPH)
        term_drop(qs, g);
    return n;
}

long fleet_qs_graphs(const struct fleet_qs *qs, fleet_tid **out)
{
    *out = NULL;
    fleet_tid *g = malloc((qs->ngraphs ? qs->ngraphs : 1) * sizeof(*g));
    if (!g)
        return -1;
    if (qs->ngraphs)
        memcpy(g, qs->graphs, qs->ngraphs * sizeof(*g));
    *out = g;
    return (long)graphs_filter(qs, g, qs->ngraphs);
}

/* ---- iteration ------------------------------------------------------------------------ */

enum { IT_EMPTY, IT_ALL, IT_LIST, IT_ONE };

void fleet_qs_find(const struct fleet_qs *qs, const fleet_tid pat[4], struct fleet_qs_iter *it)
{
    plword best = 0;
    uint32_t best_len = UINT32_MAX;
    int bound = 0;

    memset(it, 0, sizeof(*it));
    it->qs = qs;
    memcpy(it->pat, pat, sizeof(it->pat));
    it->gen = qs->gen;
    it->mode = IT_EMPTY;
    for (int pos = 0; pos < 4; pos++) {
        fleet_tid id = pat[pos];
        plword w;
        if (id == (pos < 3 ? FLEET_QS_ANY : FLEET_QS_ANY_GRAPH))
            continue;
        bound++;
        if (pos == 3 && id == FLEET_QS_DEFAULT_GRAPH) {
            w = qs->dflt;
        } else {
            const struct qterm *t = term_get(qs, id);
            if (!t)
                return;
            w = t->pl[pos];
        }
        uint32_t n = pl_len(w);
        if (n == 0)
            return;
        if (n < best_len) {
            best = w;
            best_len = n;
        }
    }
    if (bound == 0) {
        it->mode = IT_ALL;
        it->end = qs->nquads;
    } else if (bound == 4) {
        uint32_t slot = qhash_find(qs, pat);
        if (slot != NO_SLOT) {
            it->mode = IT_ONE;
            it->one = slot;
            it->end = 1;
        }
    } else if (best & 1) {
        it->mode = IT_ONE;
        it->one = (uint32_t)(best >> 1);
        it->end = 1;
    } else {
        it->mode = IT_LIST;
        it->list = pl_ptr(best)->slot;
        it->end = best_len;
    }
}

size_t fleet_qs_estimate(const struct fleet_qs *qs, const fleet_tid pat[4])
{
    struct fleet_qs_iter it;
    fleet_qs_find(qs, pat, &it);
    return it.end;
}

int fleet_qs_next(struct fleet_qs_iter *it, fleet_tid q[4])
{
    const struct fleet_qs *qs = it->qs;
    const fleet_tid *pat = it->pat;

    if (it->mode == IT_EMPTY || it->gen != qs->gen)
        return 0;
    while (it->pos < it->end) {
        uint32_t slot;
        if (it->mode == IT_LIST)
            slot = ((const uint32_t *)it->list)[it->pos];
        else if (it->mode == IT_ONE)
            slot = it->one;
        else
            slot = (uint32_t)it->pos;
        it->pos++;
        const fleet_tid *t = qs->quads[slot].t;
        if ((pat[0] != FLEET_QS_ANY && t[0] != pat[0]) ||
            (pat[1] != FLEET_QS_ANY && t[1] != pat[1]) ||
            (pat[2] != FLEET_QS_ANY && t[2] != pat[2]) ||
            (pat[3] != FLEET_QS_ANY_GRAPH && t[3] != pat[3]))
            continue;
        memcpy(q, t, 4 * sizeof(*q));
        return 1;
    }
    return 0;
}

/* ---- life cycle ----------------------------------------------------------------------- */

static void qs_release(struct fleet_qs *qs)
{
    for (fleet_tid id = 1; id < qs->nids; id++) {
        struct qterm *t = term_get(qs, id);
        if (!t)
            continue;
        for (int pos = 0; pos < 4; pos++)
            pl_free(qs, &t->pl[pos]);
        free(t);
    }
    pl_free(qs, &qs->dflt);
    free(qs->terms);
    free(qs->dict);
    free(qs->quads);
    free(qs->qhash);
    free(qs->graphs);
    memset(qs, 0, sizeof(*qs));
    qs->nids = 1; /* id 0 is never handed out */
    qs->mem = chunk_size(sizeof(*qs));
}

struct fleet_qs *fleet_qs_new(void)
{
    struct fleet_qs *qs = calloc(1, sizeof(*qs));
    if (!qs)
        return NULL;
    qs->nids = 1;
    qs->mem = chunk_size(sizeof(*qs));
    return qs;
}

void fleet_qs_free(struct fleet_qs *qs)
{
    if (!qs)
        return;
    qs_release(qs);
    free(qs);
}

size_t fleet_qs_memory(const struct fleet_qs *qs)
{
    return qs->mem;
}

/* ---- snapshot -------------------------------------------------------------------------
 *
 * All integers little-endian:
 *   header   "TFQS" u32 version u32 nterms u32 nquads u64 payload_length
 *   payload  nterms term records, ids 1..nterms in order:
 *              u8 kind, u32 length, value bytes,
 *              literals then: u32 datatype id (0 or an earlier IRI term), u32 length, lang bytes
 *            nquads quad records: u32 s, p, o, g (g 0 = default graph)
 *   trailer  u32 CRC-32 of header and payload
 * The writer renumbers ids densely, non-literals first (so a datatype always precedes its
 * literals), and writes only terms some quad uses. The reader accepts only that canonical form
 * (no duplicate or unused terms, lower-case lang, no xsd:string datatype) so that a loaded store
 * is always one the API could have built. The length and CRC come before any parsing, so the
 * parser only ever sees bytes the writer produced, but it bounds-checks as if it did not. */

static void put_u32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32le(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static enum fleet_err write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fleet_log(FLEET_LOG_ERR, "quadstore: snapshot write: %s", strerror(errno));
            return FLEET_ERR_IO;
        }
        c += w;
        n -= (size_t)w;
    }
    return FLEET_OK;
}

/* Reads up to n bytes, fewer only at end of file; *got says how many. */
static enum fleet_err read_upto(int fd, void *p, size_t n, size_t *got)
{
    char *c = p;
    *got = 0;
    while (*got < n) {
        ssize_t r = read(fd, c + *got, n - *got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fleet_log(FLEET_LOG_ERR, "quadstore: snapshot read: %s", strerror(errno));
            return FLEET_ERR_IO;
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return FLEET_OK;
}

struct writer {
    int fd;
    struct fleet_buf buf;
    uint32_t crc;
    enum fleet_err err;
};

static void w_flush(struct writer *w)
{
    if (w->err == FLEET_OK && w->buf.oom)
        w->err = FLEET_ERR_NOMEM;
    if (w->err != FLEET_OK)
        return;
    w->crc = fleet_crc32(w->crc, w->buf.data, w->buf.len);
    w->err = write_all(w->fd, w->buf.data, w->buf.len);
    fleet_buf_reset(&w->buf);
}

static void w_bytes(struct writer *w, const void *p, size_t n)
{
    fleet_buf_append(&w->buf, p, n);
    if (w->buf.len >= IO_CHUNK)
        w_flush(w);
}

static void w_u32(struct writer *w, uint32_t v)
{
    unsigned char b[4];
    put_u32(b, v);
    w_bytes(w, b, 4);
}

static uint64_t term_record_size(const struct qterm *t)
{
    uint64_t n = SNAP_MIN_TERM + (uint64_t)t->vlen;
    if (t->kind == FLEET_TERM_LITERAL)
        n += 8 + strlen(term_lang(t));
    return n;
}

#define UNNUMBERED UINT32_MAX

enum fleet_err fleet_qs_save(const struct fleet_qs *qs, int fd)
{
    struct writer w = {fd, FLEET_BUF_INIT, 0, FLEET_OK};
    uint32_t *map = NULL;
    uint64_t payload = (uint64_t)qs->nquads * SNAP_QUAD;
    uint32_t n = 0;

    /* map[old id] = new id; first mark what the quads use, with their datatypes. */
    map = calloc(qs->nids, sizeof(*map));
    if (!map) {
        w.err = FLEET_ERR_NOMEM;
        goto out;
    }
    for (fleet_tid id = 1; id < qs->nids; id++) {
        const struct qterm *t = term_get(qs, id);
        if (!t || (!t->pl[0] && !t->pl[1] && !t->pl[2] && !t->pl[3]))
            continue;
        map[id] = UNNUMBERED;
        if (t->dt)
            map[t->dt] = UNNUMBERED;
    }
    for (fleet_tid id = 1; id < qs->nids; id++)
        if (map[id])
            payload += term_record_size(term_at(qs, id));

    unsigned char hdr[SNAP_HEADER];
    uint32_t nterms = 0;
    for (fleet_tid id = 1; id < qs->nids; id++)
        nterms += map[id] != 0;
    memcpy(hdr, SNAP_MAGIC, 4);
    put_u32(hdr + 4, SNAP_VERSION);
    put_u32(hdr + 8, nterms);
    put_u32(hdr + 12, qs->nquads);
    put_u32(hdr + 16, (uint32_t)payload);
    put_u32(hdr + 20, (uint32_t)(payload >> 32));
    if (fleet_buf_reserve(&w.buf, IO_CHUNK + 4096) != 0) {
        w.err = FLEET_ERR_NOMEM;
        goto out;
    }
    w_bytes(&w, hdr, sizeof(hdr));

    for (int literals = 0; literals < 2; literals++) {
        for (fleet_tid id = 1; id < qs->nids && w.err == FLEET_OK; id++) {
            const struct qterm *t;
            if (map[id] != UNNUMBERED)
                continue;
            t = term_at(qs, id);
            if ((t->kind == FLEET_TERM_LITERAL) != literals)
                continue;
            map[id] = ++n;
            unsigned char kind = t->kind;
            w_bytes(&w, &kind, 1);
            w_u32(&w, t->vlen);
            w_bytes(&w, t->str, t->vlen);
            if (t->kind == FLEET_TERM_LITERAL) {
                size_t llen = strlen(term_lang(t));
                w_u32(&w, t->dt ? map[t->dt] : 0);
                w_u32(&w, (uint32_t)llen);
                w_bytes(&w, term_lang(t), llen);
            }
        }
    }
    for (uint32_t s = 0; s < qs->nquads && w.err == FLEET_OK; s++) {
        const fleet_tid *t = qs->quads[s].t;
        unsigned char b[SNAP_QUAD];
        put_u32(b, map[t[0]]);
        put_u32(b + 4, map[t[1]]);
        put_u32(b + 8, map[t[2]]);
        put_u32(b + 12, t[3] ? map[t[3]] : 0);
        w_bytes(&w, b, sizeof(b));
    }
    w_flush(&w);
    if (w.err == FLEET_OK) {
        unsigned char b[4];
        put_u32(b, w.crc);
        w.err = write_all(fd, b, sizeof(b));
    }

out:
    free(map);
    fleet_buf_free(&w.buf);
    return w.err;
}

/* Reads exactly n bytes (payload and trailer) into a new buffer, then insists on end of file.
 * The header's length is not trusted for allocation: a regular file must be exactly that long,
 * and anything else is read in doubling steps, so the buffer is never much bigger than the
 * bytes that really arrived. */
static enum fleet_err read_body(int fd, uint64_t n64, unsigned char **out)
{
    enum fleet_err err = FLEET_OK;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0, got;
    struct stat st;
    off_t off;

    *out = NULL;
    if (n64 > (uint64_t)SIZE_MAX / 2)
        return FLEET_ERR_CORRUPT;
    size_t n = (size_t)n64;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (off = lseek(fd, 0, SEEK_CUR)) >= 0) {
        if (st.st_size < off || (uint64_t)(st.st_size - off) != n64)
            return FLEET_ERR_CORRUPT;
        cap = n;
    }
    for (;;) {
        if (len == cap) {
            if (cap == n)
                break;
            size_t ncap = cap ? cap * 2 : IO_CHUNK;
            if (ncap > n)
                ncap = n;
            unsigned char *nb = realloc(buf, ncap ? ncap : 1);
            if (!nb) {
                err = FLEET_ERR_NOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        } else if (!buf) {
            buf = malloc(cap ? cap : 1);
            if (!buf) {
                err = FLEET_ERR_NOMEM;
                goto out;
            }
        }
        err = read_upto(fd, buf + len, cap - len, &got);
        if (err != FLEET_OK)
            goto out;
        len += got;
        if (len < cap) { /* end of file before the header's length */
            err = FLEET_ERR_CORRUPT;
            goto out;
        }
    }
    unsigned char extra;
    err = read_upto(fd, &extra, 1, &got);
    if (err == FLEET_OK && got != 0)
        err = FLEET_ERR_CORRUPT; /* trailing bytes */
out:
    if (err != FLEET_OK)
        free(buf);
    else
        *out = buf;
    return err;
}

struct cursor {
    const unsigned char *p;
    const unsigned char *end;
};

static bool take(struct cursor *c, size_t n, const unsigned char **out)
{
    if ((size_t)(c->end - c->p) < n)
        return false;
    *out = c->p;
    c->p += n;
    return true;
}

static bool take_u32(struct cursor *c, uint32_t *v)
{
    const unsigned char *b;
    if (!take(c, 4, &b))
        return false;
    *v = get_u32le(b);
    return true;
}

static enum fleet_err load_terms(struct fleet_qs *qs, struct cursor *c, uint32_t nterms)
{
    for (uint32_t i = 1; i <= nterms; i++) {
        const unsigned char *kind, *v, *l = (const unsigned char *)"";
        uint32_t vlen, dt = 0, llen = 0;
        if (!take(c, 1, &kind) || !take_u32(c, &vlen) || !take(c, vlen, &v))
            return FLEET_ERR_CORRUPT;
        if (*kind != FLEET_TERM_IRI && *kind != FLEET_TERM_BLANK && *kind != FLEET_TERM_LITERAL)
            return FLEET_ERR_CORRUPT;
        if (memchr(v, '\0', vlen))
            return FLEET_ERR_CORRUPT;
        if (*kind == FLEET_TERM_LITERAL) {
            if (!take_u32(c, &dt) || !take_u32(c, &llen) || !take(c, llen, &l))
                return FLEET_ERR_CORRUPT;
            for (uint32_t j = 0; j < llen; j++)
                if (l[j] == '\0' || ascii_lower(l[j]) != l[j])
                    return FLEET_ERR_CORRUPT;
            if (dt) {
                if (dt >= i || llen)
                    return FLEET_ERR_CORRUPT;
                const struct qterm *d = term_at(qs, dt);
                if (d->kind != FLEET_TERM_IRI || strcmp(d->str, XSD_STRING) == 0)
                    return FLEET_ERR_CORRUPT;
            }
        }
        struct tkey k = {(const char *)v, (const char *)l, vlen, llen, dt, 0, *kind};
        k.hash = key_hash(&k);
        if (dict_find(qs, &k))
            return FLEET_ERR_CORRUPT; /* a duplicate */
        if (term_new(qs, &k, 0) != i)
            return FLEET_ERR_NOMEM;
        if (dt)
            term_at(qs, dt)->refs++;
    }
    return FLEET_OK;
}

/* Turns a count left in a list word by load_quads into an empty list of that capacity, so the
 * pushes that follow never reallocate and no list carries slack. */
static void presize_list(struct fleet_qs *qs, plword *w, bool *failed)
{
    plword count = *w;
    *w = 0;
    if (count < 2 || *failed)
        return;
    struct plist *p = qs_alloc(qs, pl_bytes((uint32_t)count));
    if (!p) {
        *failed = true;
        return;
    }
    p->len = 0;
    p->cap = (uint32_t)count;
    *w = (plword)p;
}

/* Loading is bound by cache misses on the hash table and the term blocks, all at random
 * addresses; asking for those of a quad a few records ahead overlaps them (about 20% faster). */
#define LOAD_PREFETCH 16

static void prefetch_quad(const struct fleet_qs *qs, const unsigned char *b)
{
#if defined(__GNUC__)
    const fleet_tid q[4] = {get_u32le(b), get_u32le(b + 4), get_u32le(b + 8), get_u32le(b + 12)};
    __builtin_prefetch(&qs->qhash[quad_hash(q) & (qs->qhash_cap - 1)]);
    for (int pos = 0; pos < 4; pos++)
        if (q[pos])
            __builtin_prefetch((const void *)qs->terms[q[pos]]);
#else
    (void)qs;
    (void)b;
#endif
}

static enum fleet_err load_quads(struct fleet_qs *qs, struct cursor *c, uint32_t nterms,
                                 uint32_t nquads)
{
    const unsigned char *qb;
    bool failed = false;

    size_t qbytes = (size_t)nquads * SNAP_QUAD;
    if ((size_t)(c->end - c->p) != qbytes || !take(c, qbytes, &qb))
        return FLEET_ERR_CORRUPT;
    /* Pass 1: check every id and count list lengths in the (still empty) list words. */
    for (uint32_t i = 0; i < nquads; i++) {
        const unsigned char *b = qb + (size_t)i * SNAP_QUAD;
        for (int pos = 0; pos < 4; pos++) {
            fleet_tid id = get_u32le(b + 4 * pos);
            if (id > nterms || (id == 0 && pos < 3)) {
                failed = true;
                break;
            }
            (*list_of(qs, pos, id))++;
        }
        if (failed)
            break;
    }
    /* Even after a failure every word must go back to being a list, for qs_release. */
    bool corrupt = failed;
    for (fleet_tid id = 1; id <= nterms; id++)
        for (int pos = 0; pos < 4; pos++)
            presize_list(qs, &term_at(qs, id)->pl[pos], &failed);
    presize_list(qs, &qs->dflt, &failed);
    if (failed)
        return corrupt ? FLEET_ERR_CORRUPT : FLEET_ERR_NOMEM;

    for (uint32_t i = 0; i < nquads; i++) {
        const unsigned char *b = qb + (size_t)i * SNAP_QUAD;
        if (i + LOAD_PREFETCH < nquads)
            prefetch_quad(qs, b + LOAD_PREFETCH * SNAP_QUAD);
        const fleet_tid q[4] = {get_u32le(b), get_u32le(b + 4), get_u32le(b + 8),
                                get_u32le(b + 12)};
        int r = quad_add(qs, q);
        if (r == 0)
            return FLEET_ERR_CORRUPT; /* a duplicate */
        if (r < 0)
            return FLEET_ERR_NOMEM;
    }
    for (fleet_tid id = 1; id <= nterms; id++)
        if (term_at(qs, id)->refs == 0)
            return FLEET_ERR_CORRUPT; /* a term nothing uses */
    return FLEET_OK;
}

enum fleet_err fleet_qs_load(struct fleet_qs *qs, int fd)
{
    unsigned char hdr[SNAP_HEADER];
    unsigned char *body = NULL;
    enum fleet_err err;
    size_t got;

    if (qs->nquads || qs->nterms)
        return FLEET_ERR_INVAL;
    qs_release(qs); /* forget freed ids, so the file's ids can be used as they are */

    err = read_upto(fd, hdr, sizeof(hdr), &got);
    if (err != FLEET_OK)
        goto out;
    if (got != sizeof(hdr) || memcmp(hdr, SNAP_MAGIC, 4) != 0 ||
        get_u32le(hdr + 4) != SNAP_VERSION) {
        err = FLEET_ERR_CORRUPT;
        goto out;
    }
    uint32_t nterms = get_u32le(hdr + 8);
    uint32_t nquads = get_u32le(hdr + 12);
    uint64_t plen = get_u32le(hdr + 16) | (uint64_t)get_u32le(hdr + 20) << 32;
    /* Cheap plausibility before reading: the counts must fit in the claimed payload. */
    if (nterms >= MAX_IDS || nquads > MAX_QUADS ||
        plen < (uint64_t)nterms * SNAP_MIN_TERM + (uint64_t)nquads * SNAP_QUAD ||
        plen > UINT64_MAX / 2) {
        err = FLEET_ERR_CORRUPT;
        goto out;
    }
    err = read_body(fd, plen + 4, &body);
    if (err != FLEET_OK)
        goto out;
    size_t len = (size_t)plen;
    if (fleet_crc32(fleet_crc32(0, hdr, sizeof(hdr)), body, len) != get_u32le(body + len)) {
        err = FLEET_ERR_CORRUPT;
        goto out;
    }

    /* Pre-size everything from the counts, which the checks above bound by the file size. */
    size_t dcap = table_cap_for(nterms), qcap = table_cap_for(nquads);
    if (ids_reserve(qs, (size_t)nterms + 1) != 0 || dcap == 0 || dict_rebuild(qs, dcap) != 0 ||
        quads_reserve(qs, nquads) != 0 || qcap == 0 || qhash_rebuild(qs, qcap) != 0) {
        err = FLEET_ERR_NOMEM;
        goto out;
    }
    struct cursor c = {body, body + len};
    err = load_terms(qs, &c, nterms);
    if (err == FLEET_OK)
        err = load_quads(qs, &c, nterms, nquads);

out:
    free(body);
    if (err != FLEET_OK)
        qs_release(qs);
    return err;
}
