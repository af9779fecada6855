/* SPDX-License-Identifier: MIT */
/* rasqal's parse of a query, checked in a helper process first (see sparql_check.h).
 *
 * The helper is a forked child that talks over a socketpair: a request is the text's length
 * (uint32), the text, the base's length and the base; an answer is one byte (1 parsed, 0 not),
 * the message's length (uint32) and the message. It ends when its end of the socket reads EOF,
 * i.e. when the daemon closed it or exited. (Not a fleet_sandbox child: their parent-death
 * signal follows the thread that forked, and the helper outlives the request's thread.) */
#include "sparql_check.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <rasqal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h" /* fleet_child_signals */

#define GOOD_SLOTS 65536
/* A helper is forked from the daemon, so it shares the daemon's pages copy-on-write: every page
 * the daemon changes after the fork is then held twice. A helper is replaced after max_age
 * seconds (and ends by itself a little later if the daemon has not replaced it), so it never
 * holds more than what the daemon changed in that time. */
#define MAX_AGE_S 30
#define MAX_TEXT (64u << 20) /* larger requests are never sent: the caller's body limit is lower */

struct fleet_sparql_check {
    pthread_mutex_t lock;
    pid_t pid;               /* the helper, -1 when none */
    time_t started;          /* CLOCK_MONOTONIC seconds */
    int sock;                /* our end of the socketpair, -1 when none */
    unsigned failures;       /* failed parses by the current helper */
    unsigned recycle_after;
    unsigned max_age;        /* seconds */
    uint64_t good[GOOD_SLOTS];
    struct fleet_sparql_check_stats stats;
};

/* ---- the helper ---------------------------------------------------------------------------- */

struct helper_msg {
    char text[1024];
    int have;
};

static void helper_log(void *user, raptor_log_message *m)
{
    struct helper_msg *h = user;
    if (h->have || !m || m->level < RAPTOR_LOG_LEVEL_ERROR || !m->text)
        return;
    if (m->locator && m->locator->line > 0)
        snprintf(h->text, sizeof(h->text), "line %d: %s", m->locator->line, m->text);
    else
        snprintf(h->text, sizeof(h->text), "%s", m->text);
    h->have = 1;
}

static int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A counted string (new, NUL-terminated), or NULL at EOF or on a bad length. */
static char *read_counted(int fd)
{
    uint32_t n;
    if (read_full(fd, &n, sizeof(n)) != 0 || n > MAX_TEXT)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s || read_full(fd, s, n) != 0) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

/* send(MSG_NOSIGNAL) on both sides: a peer that died must not SIGPIPE the other. */
static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_counted(int fd, const char *s, size_t n)
{
    uint32_t len = (uint32_t)n;
    return send_all(fd, &len, sizeof(len)) != 0 || (n && send_all(fd, s, n) != 0) ? -1 : 0;
}

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static int helper_main(int fd, unsigned max_age)
{
    struct helper_msg msg;
    time_t end = mono_s() + (time_t)max_age + 5;
    /* raptor would otherwise initialise curl and libxml2, which belong to the daemon */
    raptor_world *rw = raptor_new_world();
    rasqal_world *w = rasqal_new_world();
    if (!rw || !w)
        return 1;
    raptor_world_set_flag(rw, RAPTOR_WORLD_FLAG_WWW_SKIP_INIT_FINISH, 1);
    if (raptor_world_open(rw))
        return 1;
    rasqal_world_set_raptor(w, rw);
    if (rasqal_world_open(w))
        return 1;
    rasqal_world_set_log_handler(w, &msg, helper_log);
    raptor_world_set_log_handler(rasqal_world_get_raptor(w), &msg, helper_log);
    for (;;) {
        /* past its age and idle: end (the daemon starts another when it needs one) */
        struct pollfd p = {fd, POLLIN, 0};
        time_t left = end - mono_s();
        if (left <= 0 || poll(&p, 1, (int)left * 1000) == 0)
            return 0;
        char *text = read_counted(fd), *base = text ? read_counted(fd) : NULL;
        if (!text || !base) {
            free(text);
            free(base);
            return 0; /* the daemon closed its end */
        }
        memset(&msg, 0, sizeof(msg));
        raptor_uri *b = raptor_new_uri(rasqal_world_get_raptor(w), (const unsigned char *)base);
        rasqal_query *q = rasqal_new_query(w, "sparql", NULL);
        unsigned char ok = q && b && rasqal_query_prepare(q, (const unsigned char *)text, b) == 0;
        if (q)
            rasqal_free_query(q);
        if (b)
            raptor_free_uri(b);
        free(text);
        free(base);
        if (!ok && !msg.have)
            snprintf(msg.text, sizeof(msg.text), "the query does not parse");
        if (send_all(fd, &ok, 1) != 0 ||
            send_counted(fd, ok ? "" : msg.text, ok ? 0 : strlen(msg.text)) != 0)
            return 0;
    }
}

/* ---- the daemon's side --------------------------------------------------------------------- */


struct fleet_sparql_check *fleet_sparql_check_new(unsigned recycle_after, unsigned max_age)
{
    struct fleet_sparql_check *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->pid = -1;
    c->sock = -1;
    c->recycle_after = recycle_after ? recycle_after : 1000;
    c->max_age = max_age ? max_age : MAX_AGE_S;
    return c;
}

static void stop_helper(struct fleet_sparql_check *c)
{
    if (c->sock >= 0)
        close(c->sock);
    c->sock = -1;
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    c->pid = -1;
    c->failures = 0;
}

void fleet_sparql_check_free(struct fleet_sparql_check *c)
{
    if (!c)
        return;
    stop_helper(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int start_helper(struct fleet_sparql_check *c)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        fleet_log(FLEET_LOG_ERR, "sparql check: socketpair: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        fleet_child_signals();
        /* Everything else the daemon had open goes: the helper outlives requests, and a query
         * child's pipe it kept would hold that query's EOF back for as long as it lives (and the
         * listening socket would stay bound after the daemon died). */
        if (dup2(sv[1], 3) < 0)
            _exit(1);
        close_range(4, ~0U, 0);
        _exit(helper_main(3, c->max_age));
    }
    int saved = errno;
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        fleet_log(FLEET_LOG_ERR, "sparql check: fork: %s", strerror(saved));
        return -1;
    }
    c->pid = pid;
    c->sock = sv[0];
    c->started = mono_s();
    c->failures = 0;
    c->stats.helpers_started++;
    return 0;
}

static uint64_t text_hash(const char *text, const char *base)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a over text, NUL, base */
    for (const char *p = text;; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211u;
        if (!*p)
            break;
    }
    for (const char *p = base; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    return h ? h : 1;
}

/* Waits for fd to be readable until deadline_ms (CLOCK_MONOTONIC); 0 or -1. */
static int wait_readable(int fd, long timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    for (;;) {
        int r = poll(&p, 1, timeout_ms > 0 ? (int)(timeout_ms > 60000 ? 60000 : timeout_ms) : -1);
        if (r > 0)
            return 0;
        if (r == 0 || errno != EINTR)
            return -1;
    }
}

int fleet_sparql_check(struct fleet_sparql_check *c, const char *text, const char *base,
                       long timeout_ms, char *msg, size_t msglen)
{
    if (!base || !base[0])
        base = "urn:tinyfleet:base";
    if (msglen)
        msg[0] = '\0';
    uint64_t h = text_hash(text, base);
    size_t slot = (size_t)(h % GOOD_SLOTS);
    size_t len = strlen(text);
    int r = -1;
    pthread_mutex_lock(&c->lock);
    c->stats.checks++;
    if (c->good[slot] == h) {
        c->stats.remembered++;
        pthread_mutex_unlock(&c->lock);
        return 1;
    }
    if (len > MAX_TEXT) {
        snprintf(msg, msglen, "the query is longer than %u bytes", MAX_TEXT);
        c->stats.refused++;
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    if (c->sock >= 0 && mono_s() - c->started >= (time_t)c->max_age)
        stop_helper(c);
    if (c->sock < 0 && start_helper(c) != 0) {
        snprintf(msg, msglen, "cannot start the query checker");
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    unsigned char ok = 0;
    uint32_t mlen = 0;
    char buf[1024];
    if (send_counted(c->sock, text, len) != 0 || send_counted(c->sock, base, strlen(base)) != 0 ||
        wait_readable(c->sock, timeout_ms) != 0 || read_full(c->sock, &ok, 1) != 0 ||
        read_full(c->sock, &mlen, sizeof(mlen)) != 0 || mlen >= sizeof(buf) ||
        read_full(c->sock, buf, mlen) != 0) {
        /* It crashed on this text, hung, or went away: this text is refused, and the next
         * check starts a new helper. */
        snprintf(msg, msglen,
                 "the SPARQL parser failed on this query (it crashed or took longer than %ld ms)",
                 timeout_ms);
        fleet_log(FLEET_LOG_WARNING, "sparql check: the helper failed on a query; replaced");
        stop_helper(c);
        c->stats.refused++;
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    buf[mlen] = '\0';
    if (ok) {
        c->good[slot] = h;
        r = 1;
    } else {
        snprintf(msg, msglen, "%s", buf);
        c->stats.refused++;
        if (++c->failures >= c->recycle_after)
            stop_helper(c); /* its leaks go with it */
        r = 0;
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

void fleet_sparql_check_stats(struct fleet_sparql_check *c, struct fleet_sparql_check_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    pthread_mutex_unlock(&c->lock);
}
