/* SPDX-License-Identifier: MIT */
/* Durability for the quad store (see durable.h for the directory layout and the guarantees).
 * Transactions are kept in memory already encoded as journal payload, so commit writes them with
 * one pwritev and recovery and commit share one bounds-checked decoder. Snapshots are written by
 * a forked child from its copy-on-write view of the store, so writers never wait for them.
 *
 * Byte formats, all integers little-endian:
 *   record    [u32 magic "FLJ1"][u32 payload length][u32 CRC-32 of payload][payload]
 *   payload   [u8 version = 1][u32 op count] op...
 *   op        [u8 1 ADD | 2 REMOVE] term term term term   (s p o g; g kind NONE = default graph)
 *             [u8 3 CLEAR_GRAPH] term  |  [u8 4 CLEAR_ALL]
 *   term      [u8 kind] then nothing (NONE), str value (IRI, BLANK) or str value, lang, datatype
 *   str       [u32 n] n bytes and a NUL, or n = 0xffffffff for NULL
 *   snapshot  [u32 magic "FLS1"][u32 version = 1][u64 first segment not included]
 *             [u32 CRC-32 of the 16 bytes before][u32 0] then the fleet_qs_save stream
 * Strings are stored with their NUL so that decoded terms point straight into the record. */
#include "durable.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "crc32.h"
#include "log.h"

#define RECORD_MAGIC 0x314a4c46u   /* "FLJ1" */
#define SNAPSHOT_MAGIC 0x31534c46u /* "FLS1" */
#define TXN_VERSION 1
#define SNAPSHOT_VERSION 1
#define RECORD_HEADER 12
#define PAYLOAD_HEADER 5
#define SNAPSHOT_HEADER 24
/* Far above any sane transaction; bounds what a damaged length field can make us trust. */
#define MAX_PAYLOAD ((size_t)1 << 30)
#define STR_NULL UINT32_MAX
#define FIRST_SEQ ((uint64_t)1)
#define DEFAULT_MIN_JOURNAL ((uint64_t)64 << 20)
#define MAX_BACKOFF_S 300

enum txn_op { OP_ADD = 1, OP_REMOVE = 2, OP_CLEAR_GRAPH = 3, OP_CLEAR_ALL = 4 };

struct fleet_txn {
    struct fleet_buf ops; /* the ops exactly as they appear in a record payload */
    size_t count;
};

struct fleet_durable {
    char *dir; /* for messages */
    int dirfd;
    int lockfd;
    int jfd;               /* current segment, read-write */
    uint64_t seq;          /* current segment's sequence number */
    uint64_t cur_len;      /* bytes of complete records in the current segment */
    uint64_t closed_bytes; /* bytes in older segments the snapshot does not cover yet */
    uint64_t snapshot_bytes;
    uint64_t min_journal_bytes;
    uint64_t commits;
    uint64_t snapshots;
    pid_t child;        /* running snapshot child, 0 if none */
    uint64_t child_seq; /* first segment the child's snapshot does not contain */
    unsigned failures;  /* consecutive failed snapshots, for the back-off */
    time_t retry_at;    /* CLOCK_MONOTONIC seconds before which no snapshot is retried */
    int broken;         /* a failed append could not be truncated away */
};

/* ---- little-endian helpers ---------------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- transactions ------------------------------------------------------------------------- */

struct fleet_txn *fleet_txn_new(void)
{
    struct fleet_txn *txn = calloc(1, sizeof(*txn));
    return txn;
}

void fleet_txn_free(struct fleet_txn *txn)
{
    if (!txn)
        return;
    fleet_buf_free(&txn->ops);
    free(txn);
}

size_t fleet_txn_count(const struct fleet_txn *txn)
{
    return txn ? txn->count : 0;
}

static int bound_ok(const struct fleet_term *t)
{
    return (t->kind == FLEET_TERM_IRI || t->kind == FLEET_TERM_BLANK ||
            t->kind == FLEET_TERM_LITERAL) &&
           t->value;
}

/* A graph position: absent (the default graph), or an IRI or blank node naming a graph. */
static int graph_ok(const struct fleet_term *g)
{
    return g->kind == FLEET_TERM_NONE ||
           ((g->kind == FLEET_TERM_IRI || g->kind == FLEET_TERM_BLANK) && g->value);
}

/* The encoder and the decoder enforce the same rules, so a record that decodes is one that
 * fleet_txn_add could have produced. */
static int quad_ok(const struct fleet_term q[4])
{
    return bound_ok(&q[0]) && bound_ok(&q[1]) && bound_ok(&q[2]) && graph_ok(&q[3]);
}

/* Encoded size of t, or SIZE_MAX if one of its strings is longer than any payload can be. */
static size_t term_size(const struct fleet_term *t)
{
    const char *s[3] = {t->value, t->lang, t->datatype};
    int ns = t->kind == FLEET_TERM_NONE ? 0 : t->kind == FLEET_TERM_LITERAL ? 3 : 1;
    size_t n = 1;
    for (int i = 0; i < ns; i++) {
        size_t len = s[i] ? strlen(s[i]) : 0;
        if (len > MAX_PAYLOAD)
            return SIZE_MAX;
        n += 4 + (s[i] ? len + 1 : 0);
    }
    return n;
}

static void put_str(struct fleet_buf *b, const char *s)
{
    unsigned char n[4];
    size_t len = s ? strlen(s) : 0;
    put32(n, s ? (uint32_t)len : STR_NULL);
    fleet_buf_append(b, n, sizeof(n));
    if (s)
        fleet_buf_append(b, s, len + 1);
}

static void put_term(struct fleet_buf *b, const struct fleet_term *t)
{
    fleet_buf_putc(b, (char)t->kind);
    if (t->kind == FLEET_TERM_NONE)
        return;
    put_str(b, t->value);
    if (t->kind == FLEET_TERM_LITERAL) {
        put_str(b, t->lang);
        put_str(b, t->datatype);
    }
}

static enum fleet_err txn_push(struct fleet_txn *txn, enum txn_op op, const struct fleet_term *t,
                               int nt)
{
    size_t need = 1;
    if (txn->count >= UINT32_MAX)
        return FLEET_ERR_TOOBIG;
    for (int i = 0; i < nt; i++) {
        size_t n = term_size(&t[i]);
        if (n > MAX_PAYLOAD - need)
            return FLEET_ERR_TOOBIG;
        need += n;
    }
    if (need > MAX_PAYLOAD - PAYLOAD_HEADER - txn->ops.len)
        return FLEET_ERR_TOOBIG;
    if (fleet_buf_reserve(&txn->ops, need) != 0) {
        /* A failed realloc leaves the bytes as they were: keep the transaction usable. */
        txn->ops.oom = 0;
        return FLEET_ERR_NOMEM;
    }
    fleet_buf_putc(&txn->ops, (char)op);
    for (int i = 0; i < nt; i++)
        put_term(&txn->ops, &t[i]);
    txn->count++;
    return FLEET_OK;
}

enum fleet_err fleet_txn_add(struct fleet_txn *txn, const struct fleet_term q[4])
{
    if (!txn || !q || !quad_ok(q))
        return FLEET_ERR_INVAL;
    return txn_push(txn, OP_ADD, q, 4);
}

enum fleet_err fleet_txn_remove(struct fleet_txn *txn, const struct fleet_term q[4])
{
    if (!txn || !q || !quad_ok(q))
        return FLEET_ERR_INVAL;
    return txn_push(txn, OP_REMOVE, q, 4);
}

enum fleet_err fleet_txn_clear_graph(struct fleet_txn *txn, const struct fleet_term *g)
{
    static const struct fleet_term none = {FLEET_TERM_NONE, NULL, NULL, NULL};
    if (!g)
        g = &none;
    if (!txn || !graph_ok(g))
        return FLEET_ERR_INVAL;
    return txn_push(txn, OP_CLEAR_GRAPH, g, 1);
}

enum fleet_err fleet_txn_clear_all(struct fleet_txn *txn)
{
    if (!txn)
        return FLEET_ERR_INVAL;
    return txn_push(txn, OP_CLEAR_ALL, NULL, 0);
}

/* ---- decoding and applying ---------------------------------------------------------------- */

struct reader {
    const unsigned char *p;
    size_t n;
    size_t pos;
};

static int get_u8(struct reader *r, unsigned *v)
{
    if (r->pos >= r->n)
        return -1;
    *v = r->p[r->pos++];
    return 0;
}

static int get_str(struct reader *r, const char **s)
{
    if (r->n - r->pos < 4)
        return -1;
    uint32_t n = get32(r->p + r->pos);
    r->pos += 4;
    if (n == STR_NULL) {
        *s = NULL;
        return 0;
    }
    if (n >= r->n - r->pos) /* n bytes and the NUL */
        return -1;
    const char *p = (const char *)r->p + r->pos;
    if (p[n] != '\0' || memchr(p, '\0', n))
        return -1;
    *s = p;
    r->pos += (size_t)n + 1;
    return 0;
}

static int get_term(struct reader *r, struct fleet_term *t)
{
    unsigned kind;
    memset(t, 0, sizeof(*t));
    if (get_u8(r, &kind) != 0)
        return -1;
    switch (kind) {
    case FLEET_TERM_NONE:
        t->kind = FLEET_TERM_NONE;
        return 0;
    case FLEET_TERM_IRI:
    case FLEET_TERM_BLANK:
        t->kind = (enum fleet_term_kind)kind;
        return get_str(r, &t->value);
    case FLEET_TERM_LITERAL:
        t->kind = FLEET_TERM_LITERAL;
        if (get_str(r, &t->value) != 0 || get_str(r, &t->lang) != 0 ||
            get_str(r, &t->datatype) != 0)
            return -1;
        return 0;
    }
    return -1;
}

/* Decodes the next op; its terms borrow r's bytes. 0, or -1 if the bytes are malformed. */
static int get_op(struct reader *r, unsigned *op, struct fleet_term q[4])
{
    if (get_u8(r, op) != 0)
        return -1;
    switch (*op) {
    case OP_ADD:
    case OP_REMOVE:
        for (int i = 0; i < 4; i++)
            if (get_term(r, &q[i]) != 0)
                return -1;
        return quad_ok(q) ? 0 : -1;
    case OP_CLEAR_GRAPH:
        if (get_term(r, &q[3]) != 0)
            return -1;
        return graph_ok(&q[3]) ? 0 : -1;
    case OP_CLEAR_ALL:
        return 0;
    }
    return -1;
}

static enum fleet_err apply_add(struct fleet_qs *qs, const struct fleet_term q[4])
{
    fleet_tid id[4] = {0, 0, 0, FLEET_QS_DEFAULT_GRAPH};
    int n = q[3].kind == FLEET_TERM_NONE ? 3 : 4;
    enum fleet_err err = FLEET_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        id[i] = fleet_qs_intern(qs, &q[i]);
        if (id[i] == 0)
            goto out;
    }
    if (fleet_qs_add(qs, id) < 0)
        goto out;
    err = FLEET_OK;
out:
    /* The quad holds its own references now; drop the ones intern gave us. */
    for (int i = 0; i < n; i++)
        if (id[i] != 0)
            fleet_qs_unref(qs, id[i]);
    return err;
}

static void apply_remove(struct fleet_qs *qs, const struct fleet_term q[4])
{
    fleet_tid id[4] = {0, 0, 0, FLEET_QS_DEFAULT_GRAPH};
    int n = q[3].kind == FLEET_TERM_NONE ? 3 : 4;
    /* A term missing from the dictionary means no quad uses it: nothing to remove. */
    for (int i = 0; i < n; i++)
        if ((id[i] = fleet_qs_lookup(qs, &q[i])) == 0)
            return;
    fleet_qs_remove(qs, id);
}

static void apply_clear_graph(struct fleet_qs *qs, const struct fleet_term *g)
{
    fleet_tid id = FLEET_QS_DEFAULT_GRAPH;
    if (g->kind != FLEET_TERM_NONE && (id = fleet_qs_lookup(qs, g)) == 0)
        return;
    fleet_qs_clear_graph(qs, id);
}

static enum fleet_err apply_clear_all(struct fleet_qs *qs)
{
    fleet_tid *graphs = NULL;
    /* List the graphs before clearing anything so that ENOMEM leaves the store unchanged. */
    long n = fleet_qs_graphs(qs, &graphs);
    if (n < 0)
        return FLEET_ERR_NOMEM;
    fleet_qs_clear_graph(qs, FLEET_QS_DEFAULT_GRAPH);
    for (long i = 0; i < n; i++)
        fleet_qs_clear_graph(qs, graphs[i]);
    free(graphs);
    return FLEET_OK;
}

/* Applies the count ops encoded in p[0..n). All of them are decoded and checked before the first
 * is applied, so a malformed payload (FLEET_ERR_CORRUPT) changes nothing. */
static enum fleet_err apply_ops(const unsigned char *p, size_t n, size_t count, struct fleet_qs *qs)
{
    struct reader r = {p, n, 0};
    struct fleet_term q[4];
    unsigned op;
    for (size_t i = 0; i < count; i++)
        if (get_op(&r, &op, q) != 0)
            return FLEET_ERR_CORRUPT;
    if (r.pos != n)
        return FLEET_ERR_CORRUPT;
    r.pos = 0;
    for (size_t i = 0; i < count; i++) {
        enum fleet_err err = FLEET_OK;
        get_op(&r, &op, q);
        switch (op) {
        case OP_ADD:
            err = apply_add(qs, q);
            break;
        case OP_REMOVE:
            apply_remove(qs, q);
            break;
        case OP_CLEAR_GRAPH:
            apply_clear_graph(qs, &q[3]);
            break;
        case OP_CLEAR_ALL:
            err = apply_clear_all(qs);
            break;
        }
        if (err != FLEET_OK)
            return err;
    }
    return FLEET_OK;
}

enum fleet_err fleet_txn_apply(const struct fleet_txn *txn, struct fleet_qs *qs)
{
    if (!txn || !qs)
        return FLEET_ERR_INVAL;
    return apply_ops((const unsigned char *)txn->ops.data, txn->ops.len, txn->count, qs);
}

enum fleet_err fleet_txn_payload(const struct fleet_txn *txn, struct fleet_buf *out)
{
    unsigned char h[PAYLOAD_HEADER];
    if (!txn || !out)
        return FLEET_ERR_INVAL;
    h[0] = TXN_VERSION;
    put32(h + 1, (uint32_t)txn->count);
    fleet_buf_append(out, h, sizeof(h));
    fleet_buf_append(out, txn->ops.data, txn->ops.len);
    return out->oom ? FLEET_ERR_NOMEM : FLEET_OK;
}

enum fleet_err fleet_txn_apply_payload(const void *payload, size_t len, struct fleet_qs *qs)
{
    const unsigned char *p = payload;
    if (!payload || !qs)
        return FLEET_ERR_INVAL;
    if (len < PAYLOAD_HEADER || len > MAX_PAYLOAD)
        return FLEET_ERR_CORRUPT;
    if (p[0] != TXN_VERSION)
        return FLEET_ERR_UNSUPPORTED;
    return apply_ops(p + PAYLOAD_HEADER, len - PAYLOAD_HEADER, get32(p + 1), qs);
}

/* ---- files -------------------------------------------------------------------------------- */

static void log_sys(const struct fleet_durable *d, const char *file, const char *what)
{
    int e = errno;
    fleet_log(FLEET_LOG_ERR, "durable: %s/%s: %s: %s", d->dir, file, what, strerror(e));
    errno = e;
}

static void seg_name(char name[32], uint64_t seq)
{
    snprintf(name, 32, "journal.%016" PRIx64, seq);
}

static int parse_seg_name(const char *s, uint64_t *seq)
{
    uint64_t v = 0;
    if (strncmp(s, "journal.", 8) != 0)
        return 0;
    s += 8;
    for (int i = 0; i < 16; i++) {
        int x = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                                             : -1;
        if (x < 0)
            return 0;
        v = v << 4 | (uint64_t)x;
    }
    if (s[16] != '\0')
        return 0;
    *seq = v;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The sequence numbers of the segments in the directory, ascending. *out is new. */
static enum fleet_err list_segments(const struct fleet_durable *d, uint64_t **out, size_t *count)
{
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    enum fleet_err err = FLEET_ERR_IO;
    struct dirent *e;
    DIR *dir = NULL;
    int fd = fcntl(d->dirfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0 || !(dir = fdopendir(fd))) {
        log_sys(d, ".", "opendir");
        if (fd >= 0)
            close(fd);
        return FLEET_ERR_IO;
    }
    rewinddir(dir); /* the duplicate shares its offset with earlier listings */
    for (;;) {
        uint64_t seq;
        errno = 0;
        if (!(e = readdir(dir))) {
            if (errno != 0) {
                log_sys(d, ".", "readdir");
                goto out;
            }
            break;
        }
        if (!parse_seg_name(e->d_name, &seq))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, ncap * sizeof(*v));
            if (!nv) {
                err = FLEET_ERR_NOMEM;
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        v[n++] = seq;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_u64);
    *out = v;
    *count = n;
    v = NULL;
    err = FLEET_OK;
out:
    free(v);
    closedir(dir);
    return err;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* pwritev until everything is written; iov is consumed. */
static int pwritev_all(int fd, struct iovec *iov, int cnt, off_t off)
{
    while (cnt > 0) {
        ssize_t w = pwritev(fd, iov, cnt, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        off += w;
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Creates the empty segment seq and makes its name durable, so that records fdatasync'd into it
 * are reachable after a crash. */
static enum fleet_err create_segment(struct fleet_durable *d, uint64_t seq, int *out)
{
    char name[32];
    seg_name(name, seq);
    int fd = openat(d->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_sys(d, name, "create");
        return FLEET_ERR_IO;
    }
    if (fsync(d->dirfd) != 0) {
        log_sys(d, ".", "fsync");
        close(fd);
        unlinkat(d->dirfd, name, 0);
        return FLEET_ERR_IO;
    }
    *out = fd;
    return FLEET_OK;
}

static enum fleet_err rotate(struct fleet_durable *d)
{
    int fd;
    enum fleet_err err = create_segment(d, d->seq + 1, &fd);
    if (err != FLEET_OK)
        return err;
    close(d->jfd);
    d->jfd = fd;
    d->closed_bytes += d->cur_len;
    d->cur_len = 0;
    d->seq++;
    return FLEET_OK;
}

/* ---- snapshots ---------------------------------------------------------------------------- */

/* Reads and checks the snapshot header at fd's offset, leaving fd at the fleet_qs_save stream. */
static enum fleet_err read_snapshot_header(const struct fleet_durable *d, int fd, uint64_t *seq)
{
    unsigned char h[SNAPSHOT_HEADER];
    size_t got = 0;
    while (got < sizeof(h)) {
        ssize_t r = read(fd, h + got, sizeof(h) - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            log_sys(d, "snapshot", "read");
            return FLEET_ERR_IO;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof(h) || get32(h) != SNAPSHOT_MAGIC || get32(h + 16) != fleet_crc32(0, h, 16) ||
        get64(h + 8) == 0) {
        fleet_log(FLEET_LOG_ERR, "durable: %s/snapshot: bad header", d->dir);
        return FLEET_ERR_CORRUPT;
    }
    if (get32(h + 4) != SNAPSHOT_VERSION) {
        fleet_log(FLEET_LOG_ERR, "durable: %s/snapshot: unknown version %" PRIu32, d->dir,
                  get32(h + 4));
        return FLEET_ERR_UNSUPPORTED;
    }
    *seq = get64(h + 8);
    return FLEET_OK;
}

/* Loads dir/snapshot into qs if there is one; *seq is the first segment it does not contain, or
 * 0 if there is no snapshot. */
static enum fleet_err load_snapshot(struct fleet_durable *d, struct fleet_qs *qs, uint64_t *seq)
{
    struct stat st;
    enum fleet_err err;
    int fd = openat(d->dirfd, "snapshot", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *seq = 0;
            return FLEET_OK;
        }
        log_sys(d, "snapshot", "open");
        return FLEET_ERR_IO;
    }
    err = read_snapshot_header(d, fd, seq);
    if (err != FLEET_OK)
        goto out;
    err = fleet_qs_load(qs, fd);
    if (err != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "durable: %s/snapshot: cannot load: %s", d->dir,
                  fleet_strerror(err));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        log_sys(d, "snapshot", "stat");
        err = FLEET_ERR_IO;
        goto out;
    }
    d->snapshot_bytes = (uint64_t)st.st_size;
out:
    close(fd);
    return err;
}

/* Reads just the header of the snapshot on disk: which segment it ends before, and its size. */
static enum fleet_err stat_snapshot(const struct fleet_durable *d, uint64_t *seq, uint64_t *size)
{
    struct stat st;
    enum fleet_err err;
    int fd = openat(d->dirfd, "snapshot", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_sys(d, "snapshot", "open");
        return FLEET_ERR_IO;
    }
    err = read_snapshot_header(d, fd, seq);
    if (err == FLEET_OK && fstat(fd, &st) != 0) {
        log_sys(d, "snapshot", "stat");
        err = FLEET_ERR_IO;
    }
    if (err == FLEET_OK)
        *size = (uint64_t)st.st_size;
    close(fd);
    return err;
}

/* Writes qs as the snapshot that contains every segment before next_seq: snapshot.tmp, fsync,
 * rename over snapshot, fsync the directory. Only plain system calls and fleet_qs_save, so it is
 * also what a forked child runs. */
static enum fleet_err write_snapshot(const struct fleet_durable *d, const struct fleet_qs *qs,
                                     uint64_t next_seq, uint64_t *size)
{
    unsigned char h[SNAPSHOT_HEADER] = {0};
    enum fleet_err err = FLEET_ERR_IO;
    struct stat st;
    int fd = openat(d->dirfd, "snapshot.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_sys(d, "snapshot.tmp", "create");
        return FLEET_ERR_IO;
    }
    put32(h, SNAPSHOT_MAGIC);
    put32(h + 4, SNAPSHOT_VERSION);
    put64(h + 8, next_seq);
    put32(h + 16, fleet_crc32(0, h, 16));
    if (write_all(fd, h, sizeof(h)) != 0) {
        log_sys(d, "snapshot.tmp", "write");
        goto out;
    }
    err = fleet_qs_save(qs, fd);
    if (err != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "durable: %s/snapshot.tmp: save: %s", d->dir, fleet_strerror(err));
        goto out;
    }
    err = FLEET_ERR_IO;
    if (fsync(fd) != 0 || fstat(fd, &st) != 0) {
        log_sys(d, "snapshot.tmp", "fsync");
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        log_sys(d, "snapshot.tmp", "close");
        goto out;
    }
    fd = -1;
    if (renameat(d->dirfd, "snapshot.tmp", d->dirfd, "snapshot") != 0) {
        log_sys(d, "snapshot.tmp", "rename");
        goto out;
    }
    /* Until the rename is durable the old snapshot may come back, so the segments it needs must
     * stay: report failure and let the caller keep them. */
    if (fsync(d->dirfd) != 0) {
        log_sys(d, ".", "fsync");
        goto out;
    }
    *size = (uint64_t)st.st_size;
    err = FLEET_OK;
out:
    if (fd >= 0)
        close(fd);
    if (err != FLEET_OK)
        unlinkat(d->dirfd, "snapshot.tmp", 0);
    return err;
}

/* The snapshot on disk now contains every segment before next_seq: drop those segments. */
static void snapshot_done(struct fleet_durable *d, uint64_t next_seq, uint64_t size)
{
    uint64_t *segs = NULL;
    size_t n = 0;
    d->snapshot_bytes = size;
    d->snapshots++;
    d->failures = 0;
    /* next_seq is the current segment: only snapshots rotate, and one never starts while another
     * runs, so every closed segment is covered. */
    d->closed_bytes = 0;
    /* Segments left behind by a failed listing or unlink are deleted by the next recovery. */
    if (list_segments(d, &segs, &n) != FLEET_OK)
        return;
    for (size_t i = 0; i < n && segs[i] < next_seq; i++) {
        char name[32];
        seg_name(name, segs[i]);
        if (unlinkat(d->dirfd, name, 0) != 0)
            log_sys(d, name, "unlink");
    }
    free(segs);
}

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void snapshot_failed(struct fleet_durable *d)
{
    unsigned shift = d->failures < 9 ? d->failures : 9;
    time_t wait = (time_t)1 << shift;
    d->failures++;
    d->retry_at = now_s() + (wait < MAX_BACKOFF_S ? wait : MAX_BACKOFF_S);
}

/* Collects the snapshot child (waiting for it if block); if its snapshot made it to disk, drops
 * the segments it covers. FLEET_ERR_IO if the snapshot failed. */
static enum fleet_err reap(struct fleet_durable *d, int block)
{
    uint64_t seq = 0, size = 0;
    int status = 0, ok;
    pid_t r;
    do
        r = waitpid(d->child, &status, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return FLEET_OK;
    d->child = 0;
    /* ECHILD: the daemon let the kernel reap its children; the file tells whether it worked. */
    ok = r < 0 ? errno == ECHILD : WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok && stat_snapshot(d, &seq, &size) == FLEET_OK && seq == d->child_seq) {
        snapshot_done(d, seq, size);
        return FLEET_OK;
    }
    if (r > 0 && WIFSIGNALED(status))
        fleet_log(FLEET_LOG_WARNING, "durable: %s: snapshot child killed by signal %d", d->dir,
                  WTERMSIG(status));
    else
        fleet_log(FLEET_LOG_WARNING, "durable: %s: snapshot child failed", d->dir);
    unlinkat(d->dirfd, "snapshot.tmp", 0);
    snapshot_failed(d);
    return FLEET_ERR_IO;
}

/* Rotates (so that the snapshot ends at a segment boundary) and forks a child that writes the
 * snapshot from its copy-on-write image of qs while the parent goes on committing. */
static enum fleet_err start_snapshot(struct fleet_durable *d, const struct fleet_qs *qs)
{
    pid_t parent = getpid(), pid;
    /* An empty current segment is already a boundary; a retry after a failure must not pile up
     * empty segments. */
    if (d->cur_len > 0) {
        enum fleet_err err = rotate(d);
        if (err != FLEET_OK) {
            snapshot_failed(d);
            return err;
        }
    }
    pid = fork();
    if (pid < 0) {
        log_sys(d, ".", "fork");
        snapshot_failed(d);
        return FLEET_ERR_IO;
    }
    if (pid == 0) {
        uint64_t size;
        /* The child keeps the inherited directory lock and dies with its parent: a snapshot
         * renamed into place after a restarted daemon took over would put an old state over
         * the new one. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(1);
        _exit(write_snapshot(d, qs, d->seq, &size) == FLEET_OK ? 0 : 1);
    }
    d->child = pid;
    d->child_seq = d->seq;
    return FLEET_OK;
}

/* ---- recovery ----------------------------------------------------------------------------- */

/* The payload length of the complete, checksum-valid record at pos, or SIZE_MAX. */
static size_t record_at(const unsigned char *map, size_t size, size_t pos)
{
    const unsigned char *h = map + pos;
    size_t len;
    if (size - pos < RECORD_HEADER || get32(h) != RECORD_MAGIC)
        return SIZE_MAX;
    len = get32(h + 4);
    if (len < PAYLOAD_HEADER || len > MAX_PAYLOAD || len > size - pos - RECORD_HEADER)
        return SIZE_MAX;
    if (fleet_crc32(0, h + RECORD_HEADER, len) != get32(h + 8))
        return SIZE_MAX;
    return len;
}

/* Whether a valid record starts anywhere after the damaged one at pos. A crash can only tear the
 * last append (each earlier one was fdatasync'd before the next began), so a good record after
 * the damage means the damage is something else, and truncating would lose committed data. */
static int valid_record_after(const unsigned char *map, size_t size, size_t pos)
{
    unsigned char magic[4];
    put32(magic, RECORD_MAGIC);
    for (size_t i = pos + 1; i < size && size - i >= RECORD_HEADER; i++) {
        const unsigned char *m = memmem(map + i, size - i, magic, sizeof(magic));
        if (!m)
            return 0;
        i = (size_t)(m - map);
        if (record_at(map, size, i) != SIZE_MAX)
            return 1;
    }
    return 0;
}

/* Replays every record of segment seq into qs. The last segment may end in a torn append, which
 * is truncated away; it stays open as the segment new commits go to. */
static enum fleet_err replay_segment(struct fleet_durable *d, struct fleet_qs *qs, uint64_t seq,
                                     int last)
{
    unsigned char *map = NULL;
    size_t size = 0, pos = 0;
    enum fleet_err err = FLEET_ERR_IO;
    struct stat st;
    char name[32];
    int fd;
    seg_name(name, seq);
    fd = openat(d->dirfd, name, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        log_sys(d, name, "open");
        return FLEET_ERR_IO;
    }
    if (fstat(fd, &st) != 0) {
        log_sys(d, name, "stat");
        goto out;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        fleet_log(FLEET_LOG_ERR, "durable: %s/%s: too large to map", d->dir, name);
        err = FLEET_ERR_TOOBIG;
        goto out;
    }
    size = (size_t)st.st_size;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            map = NULL;
            log_sys(d, name, "mmap");
            goto out;
        }
        madvise(map, size, MADV_SEQUENTIAL);
    }
    while (pos < size) {
        size_t len = record_at(map, size, pos);
        const unsigned char *p = map + pos + RECORD_HEADER;
        if (len == SIZE_MAX)
            break;
        if (p[0] != TXN_VERSION) {
            fleet_log(FLEET_LOG_ERR, "durable: %s/%s: offset %zu: unknown record version %u",
                      d->dir, name, pos, p[0]);
            err = FLEET_ERR_UNSUPPORTED;
            goto out;
        }
        err = apply_ops(p + PAYLOAD_HEADER, len - PAYLOAD_HEADER, get32(p + 1), qs);
        if (err != FLEET_OK) {
            fleet_log(FLEET_LOG_ERR, "durable: %s/%s: offset %zu: cannot replay: %s", d->dir, name,
                      pos, fleet_strerror(err));
            goto out;
        }
        pos += RECORD_HEADER + len;
    }
    if (pos < size) {
        if (!last || valid_record_after(map, size, pos)) {
            fleet_log(FLEET_LOG_ERR, "durable: %s/%s: damaged record at offset %zu", d->dir, name,
                      pos);
            err = FLEET_ERR_CORRUPT;
            goto out;
        }
        fleet_log(FLEET_LOG_WARNING,
                  "durable: %s/%s: truncating %zu bytes of torn or damaged tail at offset %zu",
                  d->dir, name, size - pos, pos);
        if (ftruncate(fd, (off_t)pos) != 0 || fsync(fd) != 0) {
            log_sys(d, name, "truncate");
            err = FLEET_ERR_IO;
            goto out;
        }
    }
    if (last) {
        d->jfd = fd;
        fd = -1;
        d->seq = seq;
        d->cur_len = pos;
    } else {
        d->closed_bytes += pos;
    }
    err = FLEET_OK;
out:
    if (map)
        munmap(map, size);
    if (fd >= 0)
        close(fd);
    return err;
}

static enum fleet_err recover(struct fleet_durable *d, struct fleet_qs *qs)
{
    uint64_t *segs = NULL, snap_seq = 0, start;
    size_t n = 0, first = 0;
    char name[32];
    enum fleet_err err = load_snapshot(d, qs, &snap_seq);
    if (err != FLEET_OK)
        return err;
    err = list_segments(d, &segs, &n);
    if (err != FLEET_OK)
        return err;
    /* Segments the snapshot contains, left by a crash before they were deleted. */
    for (; first < n && segs[first] < snap_seq; first++) {
        seg_name(name, segs[first]);
        if (unlinkat(d->dirfd, name, 0) != 0)
            log_sys(d, name, "unlink");
    }
    /* The segment a snapshot ends before is created before the snapshot is written and the first
     * segment of a store is journal.1, so a missing one means lost commits. */
    start = snap_seq ? snap_seq : FIRST_SEQ;
    if ((first == n && snap_seq) || (first < n && segs[first] != start)) {
        seg_name(name, start);
        fleet_log(FLEET_LOG_ERR, "durable: %s/%s: missing", d->dir, name);
        err = FLEET_ERR_CORRUPT;
        goto out;
    }
    for (size_t i = first + 1; i < n; i++) {
        if (segs[i] != segs[i - 1] + 1) {
            seg_name(name, segs[i - 1] + 1);
            fleet_log(FLEET_LOG_ERR, "durable: %s/%s: missing", d->dir, name);
            err = FLEET_ERR_CORRUPT;
            goto out;
        }
    }
    if (first == n) {
        err = create_segment(d, start, &d->jfd);
        d->seq = start;
        goto out;
    }
    for (size_t i = first; i < n && err == FLEET_OK; i++)
        err = replay_segment(d, qs, segs[i], i == n - 1);
out:
    free(segs);
    return err;
}

/* ---- public API --------------------------------------------------------------------------- */

enum fleet_err fleet_durable_open(const char *dir, struct fleet_qs *qs, struct fleet_durable **out)
{
    struct fleet_durable *d = NULL;
    enum fleet_err err = FLEET_ERR_INVAL;
    if (out)
        *out = NULL;
    if (!dir || !qs || !out || fleet_qs_size(qs) != 0 || fleet_qs_term_count(qs) != 0)
        return FLEET_ERR_INVAL;
    d = calloc(1, sizeof(*d));
    if (!d || !(d->dir = strdup(dir))) {
        free(d);
        return FLEET_ERR_NOMEM;
    }
    d->dirfd = d->lockfd = d->jfd = -1;
    d->min_journal_bytes = DEFAULT_MIN_JOURNAL;
    d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->dirfd < 0) {
        err = errno == ENOENT || errno == ENOTDIR ? FLEET_ERR_NOTFOUND : FLEET_ERR_IO;
        log_sys(d, ".", "open");
        goto out;
    }
    err = FLEET_ERR_IO;
    d->lockfd = openat(d->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lockfd < 0) {
        log_sys(d, "lock", "open");
        goto out;
    }
    if (flock(d->lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            fleet_log(FLEET_LOG_ERR, "durable: %s/lock: held by another process", dir);
            err = FLEET_ERR_EXISTS;
        } else {
            log_sys(d, "lock", "flock");
        }
        goto out;
    }
    if (unlinkat(d->dirfd, "snapshot.tmp", 0) != 0 && errno != ENOENT)
        log_sys(d, "snapshot.tmp", "unlink");
    err = recover(d, qs);
    if (err != FLEET_OK)
        goto out;
    *out = d;
    return FLEET_OK;
out:
    fleet_durable_close(d);
    return err;
}

enum fleet_err fleet_durable_commit(struct fleet_durable *d, struct fleet_qs *qs,
                                    const struct fleet_txn *txn)
{
    unsigned char h[RECORD_HEADER + PAYLOAD_HEADER];
    struct iovec iov[2];
    size_t len;
    enum fleet_err err;
    char name[32];
    if (!d || !qs || !txn)
        return FLEET_ERR_INVAL;
    if (d->broken)
        return FLEET_ERR_IO;
    if (txn->count == 0)
        return FLEET_OK;
    len = PAYLOAD_HEADER + txn->ops.len;
    h[RECORD_HEADER] = TXN_VERSION;
    put32(h + RECORD_HEADER + 1, (uint32_t)txn->count);
    put32(h, RECORD_MAGIC);
    put32(h + 4, (uint32_t)len);
    put32(h + 8, fleet_crc32(fleet_crc32(0, h + RECORD_HEADER, PAYLOAD_HEADER), txn->ops.data,
                             txn->ops.len));
    iov[0].iov_base = h;
    iov[0].iov_len = sizeof(h);
    iov[1].iov_base = txn->ops.data;
    iov[1].iov_len = txn->ops.len;
    seg_name(name, d->seq);
    if (pwritev_all(d->jfd, iov, 2, (off_t)d->cur_len) != 0) {
        log_sys(d, name, "write");
        goto fail;
    }
    if (fdatasync(d->jfd) != 0) {
        log_sys(d, name, "fdatasync");
        goto fail;
    }
    d->cur_len += RECORD_HEADER + len;
    d->commits++;
    err = fleet_txn_apply(txn, qs);
    if (err != FLEET_OK) {
        /* The journal has the transaction and the store has part of it: only a restart, which
         * replays the journal, brings them back together. */
        fleet_log(FLEET_LOG_ERR, "durable: %s: applying a committed transaction: %s; aborting",
                  d->dir, fleet_strerror(err));
        abort();
    }
    return FLEET_OK;
fail:
    /* A partial record would be taken for a torn tail after a crash, but would turn into
     * corruption once more records follow it: cut it off or refuse to append again. */
    if (ftruncate(d->jfd, (off_t)d->cur_len) != 0) {
        log_sys(d, name, "ftruncate");
        d->broken = 1;
    }
    return FLEET_ERR_IO;
}

enum fleet_err fleet_durable_maintain(struct fleet_durable *d, struct fleet_qs *qs)
{
    enum fleet_err err = FLEET_OK;
    uint64_t limit;
    if (!d || !qs)
        return FLEET_ERR_INVAL;
    if (d->child > 0) {
        err = reap(d, 0);
        if (d->child > 0 || err != FLEET_OK)
            return err;
    }
    if (d->broken)
        return FLEET_ERR_IO;
    limit = d->snapshot_bytes > d->min_journal_bytes ? d->snapshot_bytes : d->min_journal_bytes;
    if (d->closed_bytes + d->cur_len <= limit)
        return FLEET_OK;
    if (d->failures > 0 && now_s() < d->retry_at)
        return FLEET_OK;
    return start_snapshot(d, qs);
}

enum fleet_err fleet_durable_snapshot(struct fleet_durable *d, const struct fleet_qs *qs)
{
    enum fleet_err err;
    uint64_t size = 0;
    if (!d || !qs)
        return FLEET_ERR_INVAL;
    if (d->child > 0)
        reap(d, 1);
    if (d->broken)
        return FLEET_ERR_IO;
    if (d->cur_len > 0) {
        err = rotate(d);
        if (err != FLEET_OK)
            return err;
    }
    err = write_snapshot(d, qs, d->seq, &size);
    if (err != FLEET_OK)
        return err;
    snapshot_done(d, d->seq, size);
    return FLEET_OK;
}

void fleet_durable_set_min_journal_bytes(struct fleet_durable *d, uint64_t bytes)
{
    if (d)
        d->min_journal_bytes = bytes;
}

void fleet_durable_stats(const struct fleet_durable *d, struct fleet_durable_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!d)
        return;
    out->journal_bytes = d->closed_bytes + d->cur_len;
    out->snapshot_bytes = d->snapshot_bytes;
    out->commits = d->commits;
    out->snapshots = d->snapshots;
    out->snapshot_running = d->child > 0;
}

void fleet_durable_close(struct fleet_durable *d)
{
    if (!d)
        return;
    if (d->child > 0)
        reap(d, 1);
    if (d->jfd >= 0)
        close(d->jfd);
    if (d->dirfd >= 0)
        close(d->dirfd);
    /* Last, so that no other process can take the directory while files are still open. */
    if (d->lockfd >= 0)
        close(d->lockfd);
    free(d->dir);
    free(d);
}
