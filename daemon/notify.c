/* SPDX-License-Identifier: MIT */
/* A $NOTIFY_SOCKET writer (see notify.h): the socket address and the watchdog interval are read
 * once at start-up; each notification is one datagram. */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;
static uint64_t watchdog_usec;
static int send_failed_logged;

/* Parses a decimal integer without sign or trailing bytes; -1 if s is not one. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static void read_watchdog(void)
{
    uint64_t usec, pid;
    const char *s = getenv("WATCHDOG_USEC");
    const char *p = getenv("WATCHDOG_PID");
    watchdog_usec = 0;
    if (!s)
        return;
    if (parse_u64(s, &usec) != 0 || usec == 0) {
        fleet_log(FLEET_LOG_WARNING, "notify: ignoring WATCHDOG_USEC=\"%.32s\"", s);
        return;
    }
    /* The manager names the process it watches; a child that inherited the variables is not it. */
    if (p && (parse_u64(p, &pid) != 0 || pid != (uint64_t)getpid()))
        return;
    watchdog_usec = usec;
}

int fleet_notify_init(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    read_watchdog();
    if (!path || !*path)
        return 0;
    size_t len = strlen(path);
    memset(&notify_addr, 0, sizeof(notify_addr));
    notify_addr.sun_family = AF_UNIX;
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(notify_addr.sun_path)) {
        fleet_log(FLEET_LOG_WARNING,
                  "notify: NOTIFY_SOCKET \"%.64s\" is not an AF_UNIX path or @abstract name; "
                  "not notifying the service manager",
                  path);
        return -1;
    }
    memcpy(notify_addr.sun_path, path, len);
    if (path[0] == '@')
        notify_addr.sun_path[0] = '\0'; /* the abstract namespace; the name is not terminated */
    notify_addrlen =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/' ? 1 : 0));
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (notify_fd < 0) {
        fleet_log(FLEET_LOG_WARNING, "notify: socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void fleet_notify_close(void)
{
    if (notify_fd >= 0)
        close(notify_fd);
    notify_fd = -1;
}

int fleet_notify(const char *state)
{
    if (notify_fd < 0)
        return 0;
    ssize_t n;
    do
        n = sendto(notify_fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                   (const struct sockaddr *)&notify_addr, notify_addrlen);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        /* A manager that does not read its socket must not stall the main loop (MSG_DONTWAIT),
         * and the watchdog would repeat the message every few seconds: say it once. */
        if (!send_failed_logged) {
            send_failed_logged = 1;
            fleet_log(FLEET_LOG_WARNING, "notify: cannot send to NOTIFY_SOCKET: %s",
                      strerror(errno));
        }
        return -1;
    }
    return 0;
}

int fleet_notifyf(const char *fmt, ...)
{
    char state[512];
    va_list ap;
    if (notify_fd < 0)
        return 0;
    va_start(ap, fmt);
    vsnprintf(state, sizeof(state), fmt, ap);
    va_end(ap);
    return fleet_notify(state);
}

uint64_t fleet_notify_watchdog_usec(void)
{
    return watchdog_usec;
}

uint64_t fleet_notify_monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
