/* SPDX-License-Identifier: MIT */
/* Growable byte buffer; see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fleet_buf_reserve(struct fleet_buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    b->data[b->len] = '\0'; /* an empty buffer handed out by steal is still a string */
    return 0;
}

void fleet_buf_append(struct fleet_buf *b, const void *data, size_t len)
{
    if (fleet_buf_reserve(b, len) != 0)
        return;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void fleet_buf_puts(struct fleet_buf *b, const char *s)
{
    fleet_buf_append(b, s, strlen(s));
}

void fleet_buf_putc(struct fleet_buf *b, char c)
{
    fleet_buf_append(b, &c, 1);
}

void fleet_buf_printf(struct fleet_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        fleet_buf_append(b, small, (size_t)n);
        return;
    }
    if (fleet_buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *fleet_buf_steal(struct fleet_buf *b, size_t *len)
{
    if (b->oom) {
        fleet_buf_free(b);
        return NULL;
    }
    if (!b->data && fleet_buf_reserve(b, 0) != 0)
        return NULL;
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void fleet_buf_reset(struct fleet_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void fleet_buf_free(struct fleet_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void fleet_strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

void fleet_strv_free_n(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}
