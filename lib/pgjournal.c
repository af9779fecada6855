/* SPDX-License-Identifier: MIT */
/* The PostgreSQL journal of a tinyfleetd cluster (see pgjournal.h for the tables and the
 * guarantees): one INSERT per committed write under a cluster-wide advisory lock, a follower
 * thread that applies the other daemons' records in seq order (LISTEN/NOTIFY, polling as the
 * fallback), and a local snapshot cache so that a restart replays only the recent records.
 * The only file that includes <libpq-fe.h>.
 *
 * Snapshot cache file: [u32 magic "FLP1"][u32 version = 1][u64 seq][40 bytes journal id, NUL
 * padded][u32 CRC-32 of the 56 bytes before][u32 0] then the fleet_qs_save stream (little-endian).
 */
#include "pgjournal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "crc32.h"
#include "log.h"

#define SNAP_MAGIC 0x31504c46u /* "FLP1" */
#define SNAP_VERSION 1
#define SNAP_HEADER 64
#define ID_LEN 40
/* Advisory lock keys (the two-int4 space; cluster.h's ownership locks use the bigint space). */
#define LOCK_CLASS_WRITE 1952869492 /* "tflt": (class, 0) schema creation, (class, 1) writes */
#define LOCK_CLASS_MEMBER 1952869493
#define MAX_MEMBERS 1024
#define FETCH_BATCH 1000
#define SNAPSHOT_RETRY_S 30
/* libpq keeps its buffers as large as the largest message: a connection that carried more is
 * made anew, because every resident byte of the daemon makes each forked query child slower
 * (measured: +16 MiB, +1 ms per query). */
#define BIG_BYTES ((size_t)1 << 20)

struct fleet_pgj {
    char *state_dir; /* for messages */
    char *conninfo;
    int dirfd, lockfd;
    long poll_ms;
    uint64_t snapshot_bytes;
    char id[ID_LEN + 1];
    char origin[128];

    pthread_mutex_t *lock; /* the store lock: guards the fields below up to "writer" */
    struct fleet_qs **qs;
    uint64_t *generation;
    uint64_t applied;        /* seq of the last applied record */
    uint64_t since_snapshot; /* record bytes applied since the last snapshot started */
    int broken;              /* a record could not be applied: follow no further, write nothing */
    pid_t child;             /* snapshot child, 0 if none */
    uint64_t child_bytes;    /* since_snapshot when it started, restored if it fails */
    time_t retry_at;

    PGconn *wconn; /* writer: used between begin and end, serialised by the caller */
    int in_txn;
    int wconn_big; /* carried a large message: renewed at the end of the write */

    PGconn *fconn; /* follower thread only (and open, before the thread starts) */
    pthread_t thread;
    int thread_started;
    int stop_pipe[2];

    pthread_mutex_t own_mu; /* guards oconn, member, session */
    PGconn *oconn;
    int32_t member;
    uint64_t session;
};

/* ---- helpers ------------------------------------------------------------------------------ */

/* libpq's messages end in a newline; one line is what the log wants. */
static const char *pq_msg(const PGconn *c)
{
    static __thread char msg[512];
    const char *m = c ? PQerrorMessage(c) : "no connection";
    snprintf(msg, sizeof(msg), "%s", m && *m ? m : "unknown error");
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = *(p + 1) ? ' ' : '\0';
    return msg;
}

/* Server notices ("relation already exists, skipping") go to the debug log, not stderr. */
static void on_notice(void *arg, const char *message)
{
    size_t n = strlen(message);
    fleet_log(FLEET_LOG_DEBUG, "postgresql: %.*s", (int)(n && message[n - 1] == '\n' ? n - 1 : n),
              message);
}

static PGconn *connect_db(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (c)
        PQsetNoticeProcessor(c, on_notice, NULL);
    return c;
}

/* Re-makes a lost connection. 1 if c is usable. */
static int ensure(PGconn *c)
{
    if (!c)
        return 0;
    if (PQstatus(c) == CONNECTION_OK)
        return 1;
    PQreset(c);
    return PQstatus(c) == CONNECTION_OK;
}

/* Runs sql (one or more statements, no parameters); 0 if the last one succeeded. */
static int exec_ok(PGconn *c, const char *sql, const char *what)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok)
        fleet_log(FLEET_LOG_ERR, "postgresql: %s: %s", what, pq_msg(c));
    PQclear(r);
    return ok ? 0 : -1;
}

static uint64_t be64(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | u[i];
    return v;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* ---- applying records --------------------------------------------------------------------- */

/* Fetches the records after the last applied one, FETCH_BATCH at a time, and applies them in
 * seq order under the store lock. Records at or below the applied seq (already applied by
 * another path of this daemon) are skipped. */
static enum fleet_err catch_up(struct fleet_pgj *j, PGconn *c, size_t *largest)
{
    for (;;) {
        char after[24];
        const char *values[1] = {after};
        pthread_mutex_lock(j->lock);
        int broken = j->broken;
        snprintf(after, sizeof(after), "%" PRIu64, j->applied);
        pthread_mutex_unlock(j->lock);
        if (broken)
            return FLEET_ERR_CORRUPT;
        PGresult *r = PQexecParams(c,
                                   "SELECT seq, payload, crc FROM tinyfleet_journal WHERE seq > $1"
                                   " ORDER BY seq LIMIT 1000",
                                   1, NULL, values, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fleet_log(FLEET_LOG_WARNING, "postgresql: reading the journal: %s", pq_msg(c));
            PQclear(r);
            return FLEET_ERR_IO;
        }
        int n = PQntuples(r);
        enum fleet_err rc = FLEET_OK;
        pthread_mutex_lock(j->lock);
        for (int i = 0; i < n && rc == FLEET_OK; i++) {
            uint64_t seq = be64(PQgetvalue(r, i, 0));
            const char *p = PQgetvalue(r, i, 1);
            size_t len = (size_t)PQgetlength(r, i, 1);
            uint64_t crc = be64(PQgetvalue(r, i, 2));
            if (largest && len > *largest)
                *largest = len;
            if (seq <= j->applied)
                continue;
            if (fleet_crc32(0, p, len) != crc) {
                rc = FLEET_ERR_CORRUPT;
            } else {
                rc = fleet_txn_apply_payload(p, len, *j->qs);
                if (rc == FLEET_ERR_NOMEM) {
                    /* Part of the record is applied: only a restart brings the store back. */
                    fleet_log(FLEET_LOG_ERR,
                              "postgresql: journal record %" PRIu64
                              ": out of memory while applying it; aborting",
                              seq);
                    abort();
                }
            }
            if (rc != FLEET_OK) {
                fleet_log(FLEET_LOG_ERR,
                          "postgresql: journal record %" PRIu64 " cannot be applied: %s; this "
                          "daemon stops following the journal and refuses writes",
                          seq, fleet_strerror(rc));
                j->broken = 1;
                break;
            }
            j->applied = seq;
            j->since_snapshot += len;
            (*j->generation)++;
        }
        pthread_mutex_unlock(j->lock);
        PQclear(r);
        if (rc != FLEET_OK)
            return rc;
        if (n < FETCH_BATCH)
            return FLEET_OK;
    }
}

/* Replaces *c by a new connection (see BIG_BYTES). A failure leaves a bad connection that the
 * next use re-makes. */
static void renew(const struct fleet_pgj *j, PGconn **c)
{
    PQfinish(*c);
    *c = connect_db(j->conninfo);
}

/* ---- snapshot cache ----------------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void make_header(unsigned char h[SNAP_HEADER], uint64_t seq, const char *id)
{
    memset(h, 0, SNAP_HEADER);
    put32(h, SNAP_MAGIC);
    put32(h + 4, SNAP_VERSION);
    put32(h + 8, (uint32_t)seq);
    put32(h + 12, (uint32_t)(seq >> 32));
    memcpy(h + 16, id, strnlen(id, ID_LEN));
    put32(h + 56, fleet_crc32(0, h, 56));
}

/* Writes pg-snapshot.tmp, fsyncs it, renames it over pg-snapshot and fsyncs the directory. */
static enum fleet_err write_snapshot(const struct fleet_pgj *j, const struct fleet_qs *qs,
                                     uint64_t seq)
{
    unsigned char h[SNAP_HEADER];
    enum fleet_err rc = FLEET_ERR_IO;
    int fd = openat(j->dirfd, "pg-snapshot.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    make_header(h, seq, j->id);
    if (write_all(fd, h, sizeof(h)) != 0)
        goto fail;
    rc = fleet_qs_save(qs, fd);
    if (rc != FLEET_OK)
        goto fail;
    rc = FLEET_ERR_IO;
    if (fsync(fd) != 0)
        goto fail;
    close(fd);
    fd = -1;
    if (renameat(j->dirfd, "pg-snapshot.tmp", j->dirfd, "pg-snapshot") != 0 || fsync(j->dirfd) != 0)
        goto fail;
    return FLEET_OK;
fail:
    fleet_log(FLEET_LOG_WARNING, "postgresql: %s/pg-snapshot: cannot write the snapshot cache: %s",
              j->state_dir, rc == FLEET_ERR_IO ? strerror(errno) : fleet_strerror(rc));
    if (fd >= 0)
        close(fd);
    unlinkat(j->dirfd, "pg-snapshot.tmp", 0);
    return rc;
}

/* Loads pg-snapshot into a new store if it belongs to this journal and is not ahead of it (a
 * database restored from an older backup). *out stays NULL when there is nothing usable: the
 * caller replays the whole journal, so a bad cache costs time, never data. */
static void load_snapshot(struct fleet_pgj *j, uint64_t max_seq, struct fleet_qs **out,
                          uint64_t *seq)
{
    unsigned char h[SNAP_HEADER];
    ssize_t got;
    struct fleet_qs *qs = NULL;
    const char *why = NULL;
    int fd = openat(j->dirfd, "pg-snapshot", O_RDONLY | O_CLOEXEC);
    *out = NULL;
    *seq = 0;
    if (fd < 0) {
        if (errno != ENOENT)
            why = strerror(errno);
        goto out;
    }
    do
        got = read(fd, h, sizeof(h));
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof(h) || get32(h) != SNAP_MAGIC || get32(h + 4) != SNAP_VERSION ||
        get32(h + 56) != fleet_crc32(0, h, 56)) {
        why = "bad header";
        goto out;
    }
    uint64_t s = (uint64_t)get32(h + 8) | (uint64_t)get32(h + 12) << 32;
    char id[ID_LEN + 1];
    memcpy(id, h + 16, ID_LEN);
    id[ID_LEN] = '\0';
    if (strcmp(id, j->id) != 0) {
        why = "taken from another journal";
        goto out;
    }
    if (s > max_seq) {
        why = "ahead of the journal (was the database restored?)";
        goto out;
    }
    qs = fleet_qs_new();
    if (!qs) {
        why = "out of memory";
        goto out;
    }
    enum fleet_err rc = fleet_qs_load(qs, fd);
    if (rc != FLEET_OK) {
        why = fleet_strerror(rc);
        fleet_qs_free(qs);
        goto out;
    }
    *out = qs;
    *seq = s;
out:
    if (why)
        fleet_log(FLEET_LOG_WARNING,
                  "postgresql: %s/pg-snapshot: not used (%s); replaying the "
                  "whole journal",
                  j->state_dir, why);
    if (fd >= 0)
        close(fd);
}

/* Collects the snapshot child, waiting for it if block. */
static void reap(struct fleet_pgj *j, int block)
{
    int status = 0;
    pid_t r;
    do
        r = waitpid(j->child, &status, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return;
    j->child = 0;
    if (r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    /* ECHILD: somebody reaped it for us; the next snapshot tells. */
    if (r < 0 && errno == ECHILD)
        return;
    fleet_log(FLEET_LOG_WARNING, "postgresql: snapshot cache child failed; retrying later");
    j->since_snapshot += j->child_bytes;
    j->retry_at = now_s() + SNAPSHOT_RETRY_S;
}

void fleet_pgj_maintain(struct fleet_pgj *j)
{
    if (!j)
        return;
    if (j->child > 0)
        reap(j, 0);
    if (j->child > 0 || j->broken || j->since_snapshot <= j->snapshot_bytes ||
        now_s() < j->retry_at)
        return;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fleet_log(FLEET_LOG_WARNING, "postgresql: fork for the snapshot cache: %s",
                  strerror(errno));
        j->retry_at = now_s() + SNAPSHOT_RETRY_S;
        return;
    }
    if (pid == 0) {
        /* The child touches no connection: they belong to the parent. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(1);
        _exit(write_snapshot(j, *j->qs, j->applied) == FLEET_OK ? 0 : 1);
    }
    j->child = pid;
    j->child_bytes = j->since_snapshot;
    j->since_snapshot = 0;
}

enum fleet_err fleet_pgj_snapshot(struct fleet_pgj *j)
{
    if (!j)
        return FLEET_ERR_INVAL;
    if (j->child > 0)
        reap(j, 1);
    if (j->broken)
        return FLEET_ERR_CORRUPT;
    enum fleet_err rc = write_snapshot(j, *j->qs, j->applied);
    if (rc == FLEET_OK)
        j->since_snapshot = 0;
    return rc;
}

/* ---- following ---------------------------------------------------------------------------- */

static int listen_on(PGconn *c)
{
    return exec_ok(c, "LISTEN tinyfleet_journal", "LISTEN");
}

static void *follow(void *arg)
{
    struct fleet_pgj *j = arg;
    int connected = PQstatus(j->fconn) == CONNECTION_OK, need = 1, renewed = 0;
    for (;;) {
        if (!connected) {
            connected = ensure(j->fconn) && listen_on(j->fconn) == 0;
            if (connected && !renewed)
                fleet_log(FLEET_LOG_NOTICE, "postgresql: following the journal again");
            renewed = 0;
            need = 1;
        }
        if (connected && need) {
            size_t largest = 0;
            enum fleet_err rc = catch_up(j, j->fconn, &largest);
            if (rc == FLEET_ERR_IO && PQstatus(j->fconn) != CONNECTION_OK)
                connected = 0;
            if (largest > BIG_BYTES) {
                renew(j, &j->fconn);
                connected = 0; /* LISTEN again, then look again */
                renewed = 1;
                continue;
            }
        }
        struct pollfd pf[2] = {{j->stop_pipe[0], POLLIN, 0}, {-1, POLLIN, 0}};
        if (connected)
            pf[1].fd = PQsocket(j->fconn);
        int n = poll(pf, connected ? 2 : 1, (int)j->poll_ms);
        if (n < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            break;
        need = n == 0; /* the poll interval passed: look even without a notification */
        if (connected && pf[1].revents) {
            if (!PQconsumeInput(j->fconn)) {
                fleet_log(FLEET_LOG_WARNING, "postgresql: follower connection: %s",
                          pq_msg(j->fconn));
                connected = 0;
                continue;
            }
            PGnotify *nt;
            uint64_t top = 0;
            while ((nt = PQnotifies(j->fconn))) {
                uint64_t s = strtoull(nt->extra ? nt->extra : "0", NULL, 10);
                if (s > top)
                    top = s;
                PQfreemem(nt);
            }
            /* Our own commits notify too: they are applied already. */
            pthread_mutex_lock(j->lock);
            if (top > j->applied)
                need = 1;
            pthread_mutex_unlock(j->lock);
        }
    }
    return NULL;
}

/* ---- writing ------------------------------------------------------------------------------ */

enum fleet_err fleet_pgj_begin(struct fleet_pgj *j)
{
    pthread_mutex_lock(j->lock);
    int broken = j->broken;
    pthread_mutex_unlock(j->lock);
    if (broken)
        return FLEET_ERR_CORRUPT;
    if (!ensure(j->wconn)) {
        fleet_log(FLEET_LOG_ERR, "postgresql: cannot connect: %s", pq_msg(j->wconn));
        return FLEET_ERR_IO;
    }
    /* Transaction-scoped: released by COMMIT, ROLLBACK or a lost connection, never leaked.
     * The last seq is read by a statement of its own: under READ COMMITTED it then sees every
     * commit made before the lock was granted (one statement with both would not). */
    PGresult *r = PQexec(j->wconn, "BEGIN; SELECT pg_advisory_xact_lock(1952869492, 1);"
                                   " SELECT coalesce(max(seq), 0) FROM tinyfleet_journal");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fleet_log(FLEET_LOG_ERR, "postgresql: taking the write lock: %s", pq_msg(j->wconn));
        PQclear(r);
        exec_ok(j->wconn, "ROLLBACK", "ROLLBACK");
        return FLEET_ERR_IO;
    }
    j->in_txn = 1;
    uint64_t last = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    pthread_mutex_lock(j->lock);
    int behind = last > j->applied;
    pthread_mutex_unlock(j->lock);
    if (!behind) /* the usual case: the follower was quicker than this write */
        return FLEET_OK;
    size_t largest = 0;
    enum fleet_err rc = catch_up(j, j->wconn, &largest);
    if (largest > BIG_BYTES)
        j->wconn_big = 1;
    return rc;
}

enum fleet_err fleet_pgj_commit(struct fleet_pgj *j, const struct fleet_txn *txn)
{
    struct fleet_buf b = FLEET_BUF_INIT;
    enum fleet_err rc = FLEET_ERR_IO;
    PGresult *r = NULL;
    char crc[16];
    uint64_t seq;
    if (!j || !txn || !j->in_txn)
        return FLEET_ERR_INVAL;
    if (fleet_txn_count(txn) == 0)
        return FLEET_OK;
    if (fleet_txn_payload(txn, &b) != FLEET_OK || b.len > INT32_MAX) {
        rc = b.oom ? FLEET_ERR_NOMEM : FLEET_ERR_TOOBIG;
        fleet_buf_free(&b);
        return rc;
    }
    snprintf(crc, sizeof(crc), "%" PRIu32, fleet_crc32(0, b.data, b.len));
    const char *values[3] = {b.data, crc, j->origin};
    int lengths[3] = {(int)b.len, 0, 0};
    int formats[3] = {1, 0, 0};
    /* The NOTIFY is delivered at COMMIT, with the seq so followers that have it can skip. */
    r = PQexecParams(j->wconn,
                     "WITH r AS (INSERT INTO tinyfleet_journal (payload, crc, origin) "
                     "VALUES ($1, $2, $3) RETURNING seq) "
                     "SELECT seq, pg_notify('tinyfleet_journal', seq::text) FROM r",
                     3, NULL, values, lengths, formats, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fleet_log(FLEET_LOG_ERR, "postgresql: appending to the journal: %s", pq_msg(j->wconn));
        goto out;
    }
    seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    r = PQexec(j->wconn, "COMMIT");
    j->in_txn = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        /* Lost with the connection, the COMMIT may or may not have happened: the follower
         * applies the record if it did. */
        fleet_log(FLEET_LOG_ERR, "postgresql: COMMIT of journal record %" PRIu64 ": %s", seq,
                  pq_msg(j->wconn));
        goto out;
    }
    if (seq > j->applied) {
        rc = fleet_txn_apply(txn, *j->qs);
        if (rc != FLEET_OK) {
            fleet_log(FLEET_LOG_ERR,
                      "postgresql: applying committed record %" PRIu64
                      ": %s; aborting (a restart replays it)",
                      seq, fleet_strerror(rc));
            abort();
        }
        j->applied = seq;
        j->since_snapshot += b.len;
    }
    rc = FLEET_OK;
out:
    if (b.len > BIG_BYTES)
        j->wconn_big = 1;
    PQclear(r);
    fleet_buf_free(&b);
    return rc;
}

void fleet_pgj_end(struct fleet_pgj *j)
{
    if (!j)
        return;
    if (j->in_txn) {
        j->in_txn = 0;
        if (PQstatus(j->wconn) == CONNECTION_OK)
            exec_ok(j->wconn, "ROLLBACK", "ROLLBACK");
    }
    if (j->wconn_big) {
        j->wconn_big = 0;
        renew(j, &j->wconn);
    }
}

uint64_t fleet_pgj_applied(const struct fleet_pgj *j)
{
    return j ? j->applied : 0;
}

/* ---- cluster locks ------------------------------------------------------------------------ */

/* Takes a member slot on oconn; caller holds own_mu. */
static void take_member(struct fleet_pgj *j)
{
    j->member = -1;
    for (int s = 0; s < MAX_MEMBERS; s++) {
        char sql[96];
        snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d, %d)", LOCK_CLASS_MEMBER, s);
        PGresult *r = PQexec(j->oconn, sql);
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        int got = ok && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (!ok) {
            fleet_log(FLEET_LOG_WARNING, "postgresql: taking a member slot: %s", pq_msg(j->oconn));
            return;
        }
        if (got) {
            j->member = s;
            return;
        }
    }
    fleet_log(FLEET_LOG_WARNING, "postgresql: more than %d daemons: no member slot left",
              MAX_MEMBERS);
}

/* Caller holds own_mu. 1 if oconn is usable; a new session gets a new member slot. */
static int own_ready(struct fleet_pgj *j)
{
    if (PQstatus(j->oconn) == CONNECTION_OK)
        return 1;
    if (!ensure(j->oconn))
        return 0;
    j->session++;
    take_member(j);
    return 1;
}

long fleet_pgj_members(struct fleet_pgj *j, int32_t **out, int32_t *me, uint64_t *session)
{
    long n = -1;
    char sql[512];
    *out = NULL;
    pthread_mutex_lock(&j->own_mu);
    if (!own_ready(j))
        goto out;
    snprintf(sql, sizeof(sql),
             "SELECT objid::int4 FROM pg_locks WHERE locktype = 'advisory' AND classid = %d"
             " AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database"
             " WHERE datname = current_database()) ORDER BY 1",
             LOCK_CLASS_MEMBER);
    PGresult *r = PQexec(j->oconn, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        int rows = PQntuples(r);
        int32_t *v = malloc(((size_t)rows + 1) * sizeof(*v));
        if (v) {
            for (int i = 0; i < rows; i++)
                v[i] = (int32_t)strtol(PQgetvalue(r, i, 0), NULL, 10);
            *out = v;
            n = rows;
        }
    } else {
        fleet_log(FLEET_LOG_WARNING, "postgresql: listing members: %s", pq_msg(j->oconn));
    }
    PQclear(r);
out:
    *me = j->member;
    *session = j->session;
    pthread_mutex_unlock(&j->own_mu);
    return n;
}

int fleet_pgj_try_lock(struct fleet_pgj *j, int64_t key, uint64_t *session)
{
    int rc = -1;
    char sql[96];
    pthread_mutex_lock(&j->own_mu);
    if (own_ready(j)) {
        snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%" PRId64 ")", key);
        PGresult *r = PQexec(j->oconn, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        else
            fleet_log(FLEET_LOG_WARNING, "postgresql: advisory lock: %s", pq_msg(j->oconn));
        PQclear(r);
    }
    *session = j->session;
    pthread_mutex_unlock(&j->own_mu);
    return rc;
}

void fleet_pgj_unlock(struct fleet_pgj *j, int64_t key)
{
    char sql[96];
    pthread_mutex_lock(&j->own_mu);
    if (PQstatus(j->oconn) == CONNECTION_OK) {
        snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%" PRId64 ")", key);
        PQclear(PQexec(j->oconn, sql));
    }
    pthread_mutex_unlock(&j->own_mu);
}

/* ---- opening and closing ------------------------------------------------------------------ */

static const char SCHEMA[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(1952869492, 0);"
    "CREATE TABLE IF NOT EXISTS tinyfleet_journal ("
    " seq bigserial PRIMARY KEY,"
    " payload bytea NOT NULL,"
    " crc bigint NOT NULL,"
    " origin text NOT NULL DEFAULT '',"
    " created timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS tinyfleet_cluster ("
    " one int PRIMARY KEY CHECK (one = 1),"
    " id text NOT NULL,"
    " created timestamptz NOT NULL DEFAULT now());"
    "INSERT INTO tinyfleet_cluster (one, id)"
    " VALUES (1, md5(random()::text || clock_timestamp()::text)) ON CONFLICT DO NOTHING;"
    "COMMIT";

static enum fleet_err open_db(struct fleet_pgj *j, const char *conninfo, uint64_t *max_seq,
                              char *err, size_t errlen)
{
    PGresult *r;
    j->wconn = connect_db(conninfo);
    if (!j->wconn || PQstatus(j->wconn) != CONNECTION_OK) {
        fleet_errf(err, errlen, "postgresql: cannot connect: %s", pq_msg(j->wconn));
        return FLEET_ERR_IO;
    }
    if (exec_ok(j->wconn, SCHEMA, "creating the tables") != 0) {
        fleet_errf(err, errlen, "postgresql: cannot create the journal tables: %s",
                   pq_msg(j->wconn));
        return FLEET_ERR_IO;
    }
    r = PQexec(j->wconn, "SELECT (SELECT id FROM tinyfleet_cluster),"
                         " (SELECT coalesce(max(seq), 0) FROM tinyfleet_journal)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
        fleet_errf(err, errlen, "postgresql: reading the journal: %s", pq_msg(j->wconn));
        PQclear(r);
        return FLEET_ERR_IO;
    }
    snprintf(j->id, sizeof(j->id), "%s", PQgetvalue(r, 0, 0));
    *max_seq = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    j->fconn = connect_db(conninfo);
    j->oconn = connect_db(conninfo);
    if (PQstatus(j->fconn) != CONNECTION_OK || PQstatus(j->oconn) != CONNECTION_OK ||
        listen_on(j->fconn) != 0) {
        fleet_errf(err, errlen, "postgresql: cannot connect: %s",
                   pq_msg(PQstatus(j->fconn) != CONNECTION_OK ? j->fconn : j->oconn));
        return FLEET_ERR_IO;
    }
    j->session = 1;
    take_member(j);
    return FLEET_OK;
}

enum fleet_err fleet_pgj_open(const struct fleet_pgj_options *opt, struct fleet_qs **qs,
                              pthread_mutex_t *lock, uint64_t *generation, struct fleet_pgj **out,
                              char *err, size_t errlen)
{
    struct fleet_pgj *j;
    enum fleet_err rc = FLEET_ERR_NOMEM;
    uint64_t max_seq = 0, snap_seq = 0;
    struct fleet_qs *loaded = NULL;
    char host[64] = "";
    *out = NULL;
    if (!opt || !opt->conninfo || !opt->state_dir || !qs || !*qs || !lock || !generation)
        return FLEET_ERR_INVAL;
    j = calloc(1, sizeof(*j));
    if (!j || !(j->state_dir = strdup(opt->state_dir)) || !(j->conninfo = strdup(opt->conninfo))) {
        if (j)
            free(j->state_dir);
        free(j);
        fleet_errf(err, errlen, "out of memory");
        return FLEET_ERR_NOMEM;
    }
    j->dirfd = j->lockfd = -1;
    j->stop_pipe[0] = j->stop_pipe[1] = -1;
    j->poll_ms = opt->poll_ms > 0 ? opt->poll_ms : 1000;
    j->snapshot_bytes = opt->snapshot_bytes ? opt->snapshot_bytes : (uint64_t)64 << 20;
    j->lock = lock;
    j->qs = qs;
    j->generation = generation;
    j->member = -1;
    pthread_mutex_init(&j->own_mu, NULL);
    gethostname(host, sizeof(host) - 1);
    snprintf(j->origin, sizeof(j->origin), "%s:%ld", host, (long)getpid());

    rc = FLEET_ERR_IO;
    j->dirfd = open(opt->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dirfd < 0) {
        fleet_errf(err, errlen, "%s: %s", opt->state_dir, strerror(errno));
        goto fail;
    }
    /* The same lock file as durable.c: one daemon per state directory, whatever its storage. */
    j->lockfd = openat(j->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->lockfd < 0 || flock(j->lockfd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? FLEET_ERR_EXISTS : FLEET_ERR_IO;
        fleet_errf(err, errlen, "%s/lock: %s", opt->state_dir,
                   rc == FLEET_ERR_EXISTS ? "held by another tinyfleetd" : strerror(errno));
        goto fail;
    }
    rc = open_db(j, opt->conninfo, &max_seq, err, errlen);
    if (rc != FLEET_OK)
        goto fail;
    load_snapshot(j, max_seq, &loaded, &snap_seq);
    pthread_mutex_lock(lock);
    if (loaded) {
        fleet_qs_free(*qs);
        *qs = loaded;
        j->applied = snap_seq;
    }
    pthread_mutex_unlock(lock);
    size_t largest = 0;
    rc = catch_up(j, j->wconn, &largest);
    if (rc != FLEET_OK) {
        fleet_errf(err, errlen, "postgresql: replaying the journal: %s", fleet_strerror(rc));
        goto fail;
    }
    if (largest > BIG_BYTES)
        renew(j, &j->wconn);
    fleet_log(FLEET_LOG_INFO,
              "postgresql: journal %s: snapshot cache at record %" PRIu64 ", replayed to %" PRIu64
              ", member slot %d",
              j->id, snap_seq, j->applied, (int)j->member);
    if (pipe2(j->stop_pipe, O_CLOEXEC) != 0 || pthread_create(&j->thread, NULL, follow, j) != 0) {
        fleet_errf(err, errlen, "cannot start the journal follower: %s", strerror(errno));
        rc = FLEET_ERR_INTERNAL;
        goto fail;
    }
    j->thread_started = 1;
    *out = j;
    return FLEET_OK;
fail:
    fleet_pgj_close(j);
    return rc;
}

void fleet_pgj_stop(struct fleet_pgj *j)
{
    if (!j || !j->thread_started)
        return;
    char c = 0;
    while (write(j->stop_pipe[1], &c, 1) < 0 && errno == EINTR)
        ;
    pthread_join(j->thread, NULL);
    j->thread_started = 0;
}

void fleet_pgj_close(struct fleet_pgj *j)
{
    if (!j)
        return;
    fleet_pgj_stop(j);
    if (j->child > 0)
        reap(j, 1);
    fleet_pgj_end(j);
    if (j->wconn)
        PQfinish(j->wconn);
    if (j->fconn)
        PQfinish(j->fconn);
    if (j->oconn)
        PQfinish(j->oconn);
    for (int i = 0; i < 2; i++)
        if (j->stop_pipe[i] >= 0)
            close(j->stop_pipe[i]);
    if (j->dirfd >= 0)
        close(j->dirfd);
    if (j->lockfd >= 0)
        close(j->lockfd);
    pthread_mutex_destroy(&j->own_mu);
    free(j->state_dir);
    if (j->conninfo) {
        /* It may hold a password. */
        explicit_bzero(j->conninfo, strlen(j->conninfo));
        free(j->conninfo);
    }
    free(j);
}
