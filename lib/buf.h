/* SPDX-License-Identifier: MIT */
/* A growable byte buffer. Writers append; the bytes are always NUL-terminated (the NUL is not
 * counted in len) so a buffer can be handed to C string functions. Once an append fails the buffer
 * remembers it (oom flag) and further appends are no-ops, so callers check once at the end. */
#ifndef FLEET_BUF_H
#define FLEET_BUF_H

#include <stddef.h>

struct fleet_buf {
    char *data;  /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    int oom;     /* set once an allocation failed */
};

#define FLEET_BUF_INIT {NULL, 0, 0, 0}

void fleet_buf_append(struct fleet_buf *b, const void *data, size_t len);
void fleet_buf_puts(struct fleet_buf *b, const char *s);
void fleet_buf_putc(struct fleet_buf *b, char c);
void fleet_buf_printf(struct fleet_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ensures room for extra more bytes; returns 0 or -1 (and sets oom). */
int fleet_buf_reserve(struct fleet_buf *b, size_t extra);
/* Hands the bytes to the caller (new, free() them; never NULL unless oom) and resets b. */
char *fleet_buf_steal(struct fleet_buf *b, size_t *len);
void fleet_buf_reset(struct fleet_buf *b); /* len = 0, keeps the allocation */
void fleet_buf_free(struct fleet_buf *b);  /* frees data and reinitialises */

/* Frees a NULL-terminated array of strings and the strings. NULL is a no-op. */
void fleet_strv_free(char **v);
/* Frees an array of n strings (some may be NULL) and the strings. NULL is a no-op. */
void fleet_strv_free_n(char **v, size_t n);

#endif
