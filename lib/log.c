/* SPDX-License-Identifier: MIT */
/* stderr logger with "<N>" priority prefixes (sd-daemon(3) convention). One write(2) per line so
 * lines from several threads never interleave. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static volatile int log_level = FLEET_LOG_INFO;

void fleet_log_set_level(int level)
{
    log_level = level;
}

int fleet_log_get_level(void)
{
    return log_level;
}

int fleet_log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"err", FLEET_LOG_ERR},   {"error", FLEET_LOG_ERR}, {"warning", FLEET_LOG_WARNING},
                 {"notice", FLEET_LOG_NOTICE}, {"info", FLEET_LOG_INFO}, {"debug", FLEET_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i].name) == 0)
            return names[i].level;
    return -1;
}

void fleet_vlog(int prio, const char *fmt, va_list ap)
{
    char line[2048];
    if (prio > log_level)
        return;
    int n = snprintf(line, sizeof(line), "<%d>", prio);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    /* Control characters from untrusted input must not forge extra log lines. */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void fleet_log(int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fleet_vlog(prio, fmt, ap);
    va_end(ap);
}
