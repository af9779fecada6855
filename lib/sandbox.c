/* SPDX-License-Identifier: MIT */
/* Forked workers with a time and size limit; see sandbox.h for why. The parent reads the pipe with
 * poll() against a CLOCK_MONOTONIC deadline (wall-clock jumps must not stretch or cut a query),
 * and every path out of fleet_sandbox_collect() reaps the child and closes the read end, so no
 * zombie or descriptor outlives a request. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "log.h"

#define READ_CHUNK 65536
#define CHILD_BAD_CODE 125

/* Held from pipe() until the parent has closed the write end. Without it, a sandbox forked by
 * another thread in that window would inherit this write end, and our reader would not see EOF
 * until that unrelated child exited too. */
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;

static void child_main(int rfd, int wfd, pid_t parent, fleet_sandbox_fn fn, void *arg)
    __attribute__((noreturn));

void fleet_child_signals(void)
{
    struct sigaction sa;
    sigset_t none;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_main(int rfd, int wfd, pid_t parent, fleet_sandbox_fn fn, void *arg)
{
    close(rfd);
#ifdef __linux__
    /* If the daemon dies, nobody would enforce the deadline any more. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && getppid() != parent)
        _exit(CHILD_BAD_CODE);
#else
    (void)parent;
#endif
    fleet_child_signals();

    int code = fn(arg, wfd);
    /* Out-of-range codes would be truncated to 8 bits and could read as success (256 -> 0). */
    if (code < 0 || code > CHILD_BAD_CODE)
        code = CHILD_BAD_CODE;
    _exit(code);
}

enum fleet_err fleet_sandbox_start(struct fleet_sandbox *sb, fleet_sandbox_fn fn, void *arg)
{
    int p[2];
    pid_t parent = getpid();
    pid_t pid;
    int saved;

    sb->pid = -1;
    sb->fd = -1;
    pthread_mutex_lock(&fork_lock);
    if (pipe2(p, O_CLOEXEC) != 0) {
        saved = errno;
        pthread_mutex_unlock(&fork_lock);
        fleet_log(FLEET_LOG_ERR, "sandbox: pipe: %s", strerror(saved));
        return FLEET_ERR_IO;
    }
    pid = fork();
    if (pid == 0)
        child_main(p[0], p[1], parent, fn, arg);
    saved = errno;
    close(p[1]);
    pthread_mutex_unlock(&fork_lock);
    if (pid < 0) {
        close(p[0]);
        fleet_log(FLEET_LOG_ERR, "sandbox: fork: %s", strerror(saved));
        return FLEET_ERR_IO;
    }
    sb->pid = pid;
    sb->fd = p[0];
    return FLEET_OK;
}

/* Milliseconds from now until deadline (negative once it passed). */
static long ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(deadline->tv_sec - now.tv_sec) * 1000 +
           (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Blocking waitpid() that survives EINTR. Returns 0, or -1 (errno logged). */
static int reap(pid_t pid, int *status)
{
    for (;;) {
        if (waitpid(pid, status, 0) == pid)
            return 0;
        if (errno != EINTR) {
            fleet_log(FLEET_LOG_ERR, "sandbox: waitpid(%ld): %s", (long)pid, strerror(errno));
            return -1;
        }
    }
}

/* A descriptor that polls readable when pid exits (pidfd_open, Linux 5.3), or -1. */
static int pid_fd(pid_t pid)
{
#if defined(__linux__) && defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

/* Reaps pid if it exits before deadline (NULL: wait as long as it takes). Returns 1 if reaped,
 * 0 if the deadline passed first, -1 on error. EOF on the pipe usually means the child is exiting,
 * but it may also have closed its end and kept running, hence the deadline. A child tearing down
 * a large copy-on-write address space takes milliseconds to exit: with a pidfd the parent wakes
 * the moment it has, instead of sleeping in growing steps (which cost up to half that again). */
static int reap_by(pid_t pid, const struct timespec *deadline, int *status)
{
    long sleep_us = 50;
    if (!deadline)
        return reap(pid, status) == 0 ? 1 : -1;
    int pfd = pid_fd(pid);
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid) {
            if (pfd >= 0)
                close(pfd);
            return 1;
        }
        if (w < 0 && errno != EINTR) {
            fleet_log(FLEET_LOG_ERR, "sandbox: waitpid(%ld): %s", (long)pid, strerror(errno));
            if (pfd >= 0)
                close(pfd);
            return -1;
        }
        long left = ms_left(deadline);
        if (left <= 0) {
            if (pfd >= 0)
                close(pfd);
            return 0;
        }
        if (pfd >= 0) {
            struct pollfd p = {.fd = pfd, .events = POLLIN};
            poll(&p, 1, left >= INT_MAX ? INT_MAX : (int)left + 1);
            continue;
        }
        if (sleep_us / 1000 > left)
            sleep_us = left * 1000;
        struct timespec ts = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
        if (sleep_us < 10000)
            sleep_us *= 2;
    }
}

void fleet_sandbox_abort(struct fleet_sandbox *sb)
{
    int status;
    if (sb->pid > 0) {
        kill(sb->pid, SIGKILL);
        reap(sb->pid, &status);
    }
    if (sb->fd >= 0)
        close(sb->fd);
    sb->pid = -1;
    sb->fd = -1;
}

static unsigned long long timeouts, crashes; /* __atomic: every request thread collects */

unsigned long long fleet_sandbox_timeouts(void)
{
    return __atomic_load_n(&timeouts, __ATOMIC_RELAXED);
}

unsigned long long fleet_sandbox_crashes(void)
{
    return __atomic_load_n(&crashes, __ATOMIC_RELAXED);
}

enum fleet_err fleet_sandbox_collect(struct fleet_sandbox *sb,
                                     const struct fleet_sandbox_limits *lim, struct fleet_buf *out,
                                     int *exit_code)
{
    enum fleet_err rc = FLEET_OK;
    long timeout_ms = lim ? lim->timeout_ms : 0;
    size_t max = lim ? lim->max_bytes : 0;
    size_t got = 0;
    struct timespec deadline;
    int status = 0;
    int dummy;

    if (!exit_code)
        exit_code = &dummy;
    *exit_code = 0;
    if (sb->pid <= 0 || sb->fd < 0) {
        fleet_sandbox_abort(sb);
        return FLEET_ERR_INTERNAL;
    }
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
    }

    for (;;) {
        int wait_ms = -1;
        if (timeout_ms > 0) {
            long left = ms_left(&deadline);
            if (left <= 0) {
                rc = FLEET_ERR_TIMEOUT;
                goto kill;
            }
            /* Round up so poll() does not wake just before the deadline and spin. */
            wait_ms = left >= INT_MAX ? INT_MAX : (int)left + 1;
        }
        struct pollfd pfd = {.fd = sb->fd, .events = POLLIN};
        int n = poll(&pfd, 1, wait_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fleet_log(FLEET_LOG_ERR, "sandbox: poll: %s", strerror(errno));
            rc = FLEET_ERR_IO;
            goto kill;
        }
        if (n == 0)
            continue;
        /* With a size limit, read at most one byte past it: enough to know it was exceeded. */
        size_t want = READ_CHUNK;
        if (max && max - got < READ_CHUNK)
            want = max - got + 1;
        if (fleet_buf_reserve(out, want) != 0) {
            rc = FLEET_ERR_NOMEM;
            goto kill;
        }
        ssize_t r = read(sb->fd, out->data + out->len, want);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fleet_log(FLEET_LOG_ERR, "sandbox: read: %s", strerror(errno));
            rc = FLEET_ERR_IO;
            goto kill;
        }
        if (r == 0)
            break;
        if (max && (size_t)r > max - got) {
            r = (ssize_t)(max - got); /* keep what fitted, drop the rest */
            rc = FLEET_ERR_TOOBIG;
        }
        out->len += (size_t)r;
        out->data[out->len] = '\0';
        got += (size_t)r;
        if (rc != FLEET_OK)
            goto kill;
    }

    close(sb->fd);
    sb->fd = -1;
    switch (reap_by(sb->pid, timeout_ms > 0 ? &deadline : NULL, &status)) {
    case 1:
        break;
    case 0:
        rc = FLEET_ERR_TIMEOUT;
        goto kill;
    default:
        rc = FLEET_ERR_INTERNAL;
        goto out;
    }
    sb->pid = -1;
    if (WIFEXITED(status)) {
        *exit_code = WEXITSTATUS(status);
        rc = FLEET_OK;
    } else if (WIFSIGNALED(status)) {
        *exit_code = WTERMSIG(status);
        rc = FLEET_ERR_CRASH;
    } else {
        rc = FLEET_ERR_INTERNAL;
    }
    goto out;

kill:
    kill(sb->pid, SIGKILL);
    reap(sb->pid, &status);
out:
    /* The child may be unreapable only if someone else waited for it (SIGCHLD ignored or a
     * waitpid(-1) elsewhere); either way it is gone, so forget it. */
    sb->pid = -1;
    if (sb->fd >= 0)
        close(sb->fd);
    sb->fd = -1;
    if (rc == FLEET_ERR_TIMEOUT)
        __atomic_add_fetch(&timeouts, 1, __ATOMIC_RELAXED);
    else if (rc == FLEET_ERR_CRASH)
        __atomic_add_fetch(&crashes, 1, __ATOMIC_RELAXED);
    return rc;
}

int fleet_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) { /* cannot happen for len > 0; do not spin if it does */
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}
