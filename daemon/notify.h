/* SPDX-License-Identifier: MIT */
/* The service manager's readiness protocol (sd_notify(3)) without libsystemd: datagrams such as
 * "READY=1" sent to the AF_UNIX socket named by $NOTIFY_SOCKET, and the watchdog interval read
 * from $WATCHDOG_USEC. Outside systemd (no $NOTIFY_SOCKET) every call is a no-op, so main.c
 * calls them unconditionally. Why not libsystemd: one sendmsg(2) is all tinyfleetd needs, and
 * the daemon then builds and runs the same on systems without it. */
#ifndef FLEET_NOTIFY_H
#define FLEET_NOTIFY_H

#include <stdint.h>

/* Reads $NOTIFY_SOCKET ("/path" or "@abstract"), $WATCHDOG_USEC and $WATCHDOG_PID once, at
 * start-up, before any thread exists, and opens the socket (close-on-exec). The variables are
 * left in the environment: nothing tinyfleetd forks ever notifies. Returns 0, or -1 if
 * $NOTIFY_SOCKET is set but unusable (logged; the daemon goes on without notifications). */
int fleet_notify_init(void);
/* Closes the socket. Safe to call when fleet_notify_init found nothing. */
void fleet_notify_close(void);

/* Sends state, newline-separated "KEY=VALUE" assignments (e.g. "READY=1\nSTATUS=serving"), as
 * one datagram, without blocking. Called from the main thread. Returns 0 when sent or when there
 * is no manager to tell, -1 on a send error (logged once). */
int fleet_notify(const char *state);
/* fleet_notify with a printf-formatted state. */
int fleet_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval in microseconds that the manager expects WATCHDOG=1 within, or 0 when
 * there is no watchdog for this process ($WATCHDOG_PID names another). */
uint64_t fleet_notify_watchdog_usec(void);

/* CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants it in MONOTONIC_USEC. */
uint64_t fleet_notify_monotonic_usec(void);

#endif
