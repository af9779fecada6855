/* SPDX-License-Identifier: MIT */
/* Logging to stderr with sd-daemon "<N>" priority prefixes, which journald understands.
 * Thread-safe: each message is formatted into one buffer and written with one write(2). */
#ifndef FLEET_LOG_H
#define FLEET_LOG_H

#include <stdarg.h>

enum fleet_log_prio {
    FLEET_LOG_ERR = 3,
    FLEET_LOG_WARNING = 4,
    FLEET_LOG_NOTICE = 5,
    FLEET_LOG_INFO = 6,
    FLEET_LOG_DEBUG = 7,
};

/* Messages with a priority number above level are dropped. Default FLEET_LOG_INFO. */
void fleet_log_set_level(int level);
int fleet_log_get_level(void);
/* Parses "err", "warning", "notice", "info", "debug"; returns -1 if unknown. */
int fleet_log_level_parse(const char *name);

void fleet_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fleet_vlog(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
