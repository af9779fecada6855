/* SPDX-License-Identifier: MIT */
/* Tests for lib/sandbox.c: output and exit codes come back, output far larger than a pipe buffer
 * arrives intact, a child that never ends is killed near the deadline, a child that writes too
 * much is killed, a crash is reported with its signal, signals in parent and child do not break
 * reading or writing, and no descriptor or zombie is left behind on any of these paths. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define BIG_BYTES (4u * 1024 * 1024)

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* The child is gone for good: not running, not a zombie waiting for us. */
static void assert_reaped(pid_t pid)
{
    errno = 0;
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

static enum fleet_err run(fleet_sandbox_fn fn, void *arg, long timeout_ms, size_t max_bytes,
                          struct fleet_buf *out, int *code, pid_t *pid)
{
    struct fleet_sandbox sb;
    struct fleet_sandbox_limits lim = {timeout_ms, max_bytes};
    ck_assert_int_eq(fleet_sandbox_start(&sb, fn, arg), FLEET_OK);
    ck_assert_int_gt(sb.pid, 0);
    ck_assert_int_ge(sb.fd, 0);
    if (pid)
        *pid = sb.pid;
    enum fleet_err rc = fleet_sandbox_collect(&sb, &lim, out, code);
    ck_assert_int_eq(sb.pid, -1);
    ck_assert_int_eq(sb.fd, -1);
    return rc;
}

static int write_str(void *arg, int fd)
{
    const char *s = arg;
    return fleet_write_all(fd, s, strlen(s)) == 0 ? 0 : 99;
}

static int exit_with(void *arg, int fd)
{
    (void)fd;
    return *(int *)arg;
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 7 + i / 4096) % 251);
}

static int write_big(void *arg, int fd)
{
    static unsigned char chunk[100000];
    size_t total = *(size_t *)arg;
    for (size_t off = 0; off < total;) {
        size_t n = total - off < sizeof(chunk) ? total - off : sizeof(chunk);
        for (size_t i = 0; i < n; i++)
            chunk[i] = pattern(off + i);
        if (fleet_write_all(fd, chunk, n) != 0)
            return 98;
        off += n;
    }
    return 0;
}

static int loop_forever(void *arg, int fd)
{
    volatile unsigned long spin = 0;
    (void)arg;
    (void)fd;
    for (;;)
        spin++;
    return 0;
}

static int write_forever(void *arg, int fd)
{
    char block[4096];
    (void)arg;
    memset(block, 'y', sizeof(block));
    for (;;)
        if (fleet_write_all(fd, block, sizeof(block)) != 0)
            return 97;
    return 0;
}

/* Closes its end of the pipe (EOF for the parent) and keeps running. */
static int close_and_sleep(void *arg, int fd)
{
    (void)arg;
    close(fd);
    for (;;)
        pause();
    return 0;
}

static int crash(void *arg, int fd)
{
    struct rlimit no_core = {0, 0};
    (void)arg;
    fleet_write_all(fd, "partial", 7);
    setrlimit(RLIMIT_CORE, &no_core);
    /* Sanitizers catch SIGSEGV and exit(1); a real crash in production has no such handler. */
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 0;
}

START_TEST(test_output)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    int code = -1;
    pid_t pid;
    ck_assert_int_eq(run(write_str, "hello, sandbox", 5000, 0, &out, &code, &pid), FLEET_OK);
    ck_assert_int_eq(code, 0);
    ck_assert_uint_eq(out.len, 14);
    ck_assert_str_eq(out.data, "hello, sandbox");
    assert_reaped(pid);

    /* collect appends to what the buffer already holds. */
    fleet_buf_reset(&out);
    fleet_buf_puts(&out, "before:");
    ck_assert_int_eq(run(write_str, "after", 0, 0, &out, &code, NULL), FLEET_OK);
    ck_assert_str_eq(out.data, "before:after");

    /* No output at all is fine; exit_code may be NULL. */
    fleet_buf_reset(&out);
    ck_assert_int_eq(run(write_str, "", 1000, 10, &out, NULL, NULL), FLEET_OK);
    ck_assert_uint_eq(out.len, 0);
    fleet_buf_free(&out);
}
END_TEST

START_TEST(test_exit_code)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    int code = -1;
    int want = 42;
    ck_assert_int_eq(run(exit_with, &want, 5000, 0, &out, &code, NULL), FLEET_OK);
    ck_assert_int_eq(code, 42);
    want = 125;
    ck_assert_int_eq(run(exit_with, &want, 5000, 0, &out, &code, NULL), FLEET_OK);
    ck_assert_int_eq(code, 125);
    /* Out of range would be truncated to 8 bits (256 -> 0, "success"); it becomes 125. */
    want = 256;
    ck_assert_int_eq(run(exit_with, &want, 5000, 0, &out, &code, NULL), FLEET_OK);
    ck_assert_int_eq(code, 125);
    want = -1;
    ck_assert_int_eq(run(exit_with, &want, 5000, 0, &out, &code, NULL), FLEET_OK);
    ck_assert_int_eq(code, 125);
    fleet_buf_free(&out);
}
END_TEST

START_TEST(test_big_output)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    size_t total = BIG_BYTES; /* 64 times the default pipe buffer */
    int code = -1;
    ck_assert_int_eq(run(write_big, &total, 30000, BIG_BYTES, &out, &code, NULL), FLEET_OK);
    ck_assert_int_eq(code, 0);
    ck_assert_uint_eq(out.len, total);
    for (size_t i = 0; i < total; i++)
        if ((unsigned char)out.data[i] != pattern(i))
            ck_abort_msg("byte %zu differs", i);
    ck_assert_int_eq(out.data[out.len], '\0');
    fleet_buf_free(&out);
}
END_TEST

START_TEST(test_timeout)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    int code = -1;
    pid_t pid;
    long t0 = now_ms();
    ck_assert_int_eq(run(loop_forever, NULL, 300, 0, &out, &code, &pid), FLEET_ERR_TIMEOUT);
    long took = now_ms() - t0;
    ck_assert_msg(took >= 290 && took < 2000, "took %ld ms for a 300 ms timeout", took);
    assert_reaped(pid);

    /* Output does not extend the deadline. */
    t0 = now_ms();
    ck_assert_int_eq(run(write_forever, NULL, 300, 0, &out, &code, &pid), FLEET_ERR_TIMEOUT);
    took = now_ms() - t0;
    ck_assert_msg(took >= 290 && took < 2000, "took %ld ms for a 300 ms timeout", took);
    ck_assert_uint_gt(out.len, 0);
    assert_reaped(pid);

    /* EOF without exiting: the deadline still applies to the reaping. */
    fleet_buf_reset(&out);
    t0 = now_ms();
    ck_assert_int_eq(run(close_and_sleep, NULL, 300, 0, &out, &code, &pid), FLEET_ERR_TIMEOUT);
    took = now_ms() - t0;
    ck_assert_msg(took >= 290 && took < 2000, "took %ld ms for a 300 ms timeout", took);
    assert_reaped(pid);
    fleet_buf_free(&out);
}
END_TEST

START_TEST(test_too_big)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    size_t total = BIG_BYTES;
    int code = -1;
    pid_t pid;
    ck_assert_int_eq(run(write_big, &total, 30000, 1000, &out, &code, &pid), FLEET_ERR_TOOBIG);
    ck_assert_uint_le(out.len, 1000);
    assert_reaped(pid);

    /* A child that never stops writing is stopped by the size limit before the time limit. */
    fleet_buf_reset(&out);
    long t0 = now_ms();
    ck_assert_int_eq(run(write_forever, NULL, 20000, 100000, &out, &code, &pid), FLEET_ERR_TOOBIG);
    ck_assert_int_lt(now_ms() - t0, 10000);
    ck_assert_uint_le(out.len, 100000);
    assert_reaped(pid);

    /* Exactly max_bytes is allowed. */
    fleet_buf_reset(&out);
    total = 65536 * 2 + 17;
    ck_assert_int_eq(run(write_big, &total, 30000, total, &out, &code, NULL), FLEET_OK);
    ck_assert_uint_eq(out.len, total);
    fleet_buf_reset(&out);
    ck_assert_int_eq(run(write_big, &total, 30000, total - 1, &out, &code, NULL), FLEET_ERR_TOOBIG);
    fleet_buf_free(&out);
}
END_TEST

START_TEST(test_crash)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    int code = -1;
    pid_t pid;
    ck_assert_int_eq(run(crash, NULL, 10000, 0, &out, &code, &pid), FLEET_ERR_CRASH);
    ck_assert_int_eq(code, SIGSEGV);
    ck_assert_str_eq(out.data, "partial");
    assert_reaped(pid);
    fleet_buf_free(&out);
}
END_TEST

START_TEST(test_abort)
{
    struct fleet_sandbox sb;
    ck_assert_int_eq(fleet_sandbox_start(&sb, loop_forever, NULL), FLEET_OK);
    pid_t pid = sb.pid;
    fleet_sandbox_abort(&sb);
    ck_assert_int_eq(sb.pid, -1);
    ck_assert_int_eq(sb.fd, -1);
    assert_reaped(pid);
    fleet_sandbox_abort(&sb); /* a second abort is harmless */
}
END_TEST

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* SIGALRM every 2 ms, without SA_RESTART, so blocking calls return EINTR or short. */
static void start_alarms(void)
{
    struct sigaction sa;
    struct itimerval it = {{0, 2000}, {0, 2000}};
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarms = 0;
    setitimer(ITIMER_REAL, &it, NULL);
}

static void stop_alarms(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_IGN);
}

/* Writes in one fleet_write_all() while signals interrupt the blocking write. */
static int write_interrupted(void *arg, int fd)
{
    size_t total = *(size_t *)arg;
    unsigned char *p = malloc(total);
    if (!p)
        return 90;
    for (size_t i = 0; i < total; i++)
        p[i] = pattern(i);
    start_alarms();
    int rc = fleet_write_all(fd, p, total);
    stop_alarms();
    free(p);
    if (rc != 0)
        return 91;
    return alarms > 0 ? 0 : 92; /* 92: the test did not test anything */
}

START_TEST(test_write_all_eintr)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    struct fleet_sandbox sb;
    struct fleet_sandbox_limits lim = {60000, 0};
    struct timespec pause_ts = {0, 100 * 1000000};
    size_t total = 1024u * 1024;
    int code = -1;

    ck_assert_int_eq(fleet_sandbox_start(&sb, write_interrupted, &total), FLEET_OK);
    /* Not reading yet: the child fills the pipe and blocks in write() while its alarms fire. */
    nanosleep(&pause_ts, NULL);
    ck_assert_int_eq(fleet_sandbox_collect(&sb, &lim, &out, &code), FLEET_OK);
    ck_assert_int_eq(code, 0);
    ck_assert_uint_eq(out.len, total);
    for (size_t i = 0; i < total; i++)
        if ((unsigned char)out.data[i] != pattern(i))
            ck_abort_msg("byte %zu differs", i);
    fleet_buf_free(&out);
}
END_TEST

static int slow_write(void *arg, int fd)
{
    struct timespec ts = {0, 200 * 1000000};
    (void)arg;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return fleet_write_all(fd, "done", 4) == 0 ? 0 : 99;
}

START_TEST(test_collect_eintr)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    int code = -1;
    start_alarms(); /* in the parent: poll() and read() see EINTR */
    enum fleet_err rc = run(slow_write, NULL, 10000, 0, &out, &code, NULL);
    stop_alarms();
    ck_assert_int_eq(rc, FLEET_OK);
    ck_assert_int_eq(code, 0);
    ck_assert_str_eq(out.data, "done");
    ck_assert_int_gt(alarms, 0);

    /* And a timeout still fires on time while signals keep arriving. */
    start_alarms();
    long t0 = now_ms();
    rc = run(loop_forever, NULL, 300, 0, &out, &code, NULL);
    long took = now_ms() - t0;
    stop_alarms();
    ck_assert_int_eq(rc, FLEET_ERR_TIMEOUT);
    ck_assert_msg(took >= 290 && took < 2000, "took %ld ms", took);
    fleet_buf_free(&out);
}
END_TEST

START_TEST(test_no_fd_leak)
{
    struct fleet_buf out = FLEET_BUF_INIT;
    size_t total = BIG_BYTES;
    int want = 3;
    int code;
    struct fleet_sandbox sb;
    int before = count_fds();

    for (int i = 0; i < 3; i++) {
        fleet_buf_reset(&out);
        ck_assert_int_eq(run(write_str, "x", 5000, 0, &out, &code, NULL), FLEET_OK);
        ck_assert_int_eq(run(exit_with, &want, 5000, 0, &out, &code, NULL), FLEET_OK);
        ck_assert_int_eq(run(loop_forever, NULL, 50, 0, &out, &code, NULL), FLEET_ERR_TIMEOUT);
        ck_assert_int_eq(run(close_and_sleep, NULL, 50, 0, &out, &code, NULL), FLEET_ERR_TIMEOUT);
        ck_assert_int_eq(run(write_big, &total, 30000, 10, &out, &code, NULL), FLEET_ERR_TOOBIG);
        ck_assert_int_eq(run(crash, NULL, 10000, 0, &out, &code, NULL), FLEET_ERR_CRASH);
        ck_assert_int_eq(fleet_sandbox_start(&sb, loop_forever, NULL), FLEET_OK);
        fleet_sandbox_abort(&sb);
    }
    ck_assert_int_eq(count_fds(), before);
    /* And no zombie: there is no child left to wait for. */
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    fleet_buf_free(&out);
}
END_TEST

static Suite *sandbox_suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *tc = tcase_create("sandbox");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_output);
    tcase_add_test(tc, test_exit_code);
    tcase_add_test(tc, test_big_output);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_too_big);
    tcase_add_test(tc, test_crash);
    tcase_add_test(tc, test_abort);
    tcase_add_test(tc, test_write_all_eintr);
    tcase_add_test(tc, test_collect_eintr);
    tcase_add_test(tc, test_no_fd_leak);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sandbox_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
