/* SPDX-License-Identifier: MIT */
/* Runs a function in a forked child and collects what it writes, under a time and size limit.
 *
 * Why: rasqal has no way to cancel a query, is not thread-safe, and some of its defects crash the
 * process. A forked child works on a copy-on-write snapshot of the in-memory store, so the parent
 * can release the store lock right after fork() (parallel reads), kill the child on timeout, and
 * survive its crash.
 *
 * Usage: under the store lock call fleet_sandbox_start(); release the lock; then
 * fleet_sandbox_collect(). The child calls fn(arg, fd) and then _exit()s with its return value
 * (no atexit handlers, no stdio flush of the parent's buffers). */
#ifndef FLEET_SANDBOX_H
#define FLEET_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

/* Runs in the child. Writes its output to fd (a pipe to the parent) and returns an exit code
 * 0..125. */
typedef int (*fleet_sandbox_fn)(void *arg, int fd);

struct fleet_sandbox {
    pid_t pid;  /* child, or -1 */
    int fd;     /* read end of the pipe, or -1 */
};

struct fleet_sandbox_limits {
    long timeout_ms;  /* <= 0: no limit */
    size_t max_bytes; /* 0: no limit */
};

/* Forks. In the child, runs fn and _exit()s; in the parent, fills *sb and returns FLEET_OK, or
 * FLEET_ERR_IO if pipe/fork failed (errno logged). */
enum fleet_err fleet_sandbox_start(struct fleet_sandbox *sb, fleet_sandbox_fn fn, void *arg);

/* Reads the child's output into out (appending) until EOF, then reaps it.
 * Returns FLEET_OK if the child exited normally (its code in *exit_code),
 * FLEET_ERR_TIMEOUT if the deadline passed (child SIGKILLed and reaped),
 * FLEET_ERR_TOOBIG if it wrote more than max_bytes (killed and reaped),
 * FLEET_ERR_CRASH if it died of a signal (signal number in *exit_code),
 * FLEET_ERR_NOMEM if out could not grow. Always reaps the child and closes the fd. */
enum fleet_err fleet_sandbox_collect(struct fleet_sandbox *sb, const struct fleet_sandbox_limits *lim,
                                     struct fleet_buf *out, int *exit_code);

/* Children fleet_sandbox_collect stopped at their deadline (FLEET_ERR_TIMEOUT), and children that
 * died of a signal (FLEET_ERR_CRASH), since the process started: for GET /metrics. */
unsigned long long fleet_sandbox_timeouts(void);
unsigned long long fleet_sandbox_crashes(void);

/* Kills and reaps a started child without reading it (error paths). */
void fleet_sandbox_abort(struct fleet_sandbox *sb);

/* In a child just forked from the daemon: a write to a peer that went away fails with EPIPE
 * instead of killing, termination signals get their default action back (the daemon's handlers
 * only set flags the child never reads), and the forking thread's signal mask is dropped. */
void fleet_child_signals(void);

/* Writes all of len bytes to fd, retrying on EINTR and short writes; 0 or -1. */
int fleet_write_all(int fd, const void *data, size_t len);

#endif
