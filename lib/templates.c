/* SPDX-License-Identifier: MIT */
/* Loads sparql/<name>.rq; see templates.h. */
#include "templates.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define MAX_TEMPLATE_BYTES (1 << 20)

struct fleet_templates {
    size_t n;
    char **names;
    char **texts;
};

void fleet_templates_free(struct fleet_templates *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->names[i]);
        free(t->texts[i]);
    }
    free(t->names);
    free(t->texts);
    free(t);
}

const char *fleet_templates_get(const struct fleet_templates *t, const char *name)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (strcmp(t->names[i], name) == 0)
            return t->texts[i];
    return NULL;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct fleet_buf b = FLEET_BUF_INIT;
    char chunk[8192];
    size_t n;
    if (!f)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= MAX_TEMPLATE_BYTES)
        fleet_buf_append(&b, chunk, n);
    int bad = ferror(f) || b.len > MAX_TEMPLATE_BYTES || b.oom;
    fclose(f);
    if (bad) {
        fleet_buf_free(&b);
        errno = EFBIG;
        return NULL;
    }
    return fleet_buf_steal(&b, NULL);
}

enum fleet_err fleet_templates_load(const char *dir, const char *const *required,
                                    struct fleet_templates **out, char *err, size_t errlen)
{
    struct fleet_templates *t = calloc(1, sizeof(*t));
    enum fleet_err rc = FLEET_OK;
    DIR *d = NULL;
    size_t cap = 0;
    *out = NULL;
    if (!t)
        return FLEET_ERR_NOMEM;
    d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        rc = FLEET_ERR_IO;
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".rq") != 0 || de->d_name[0] == '.')
            continue;
        if (t->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(t->names, nc * sizeof(*nn));
            if (nn)
                t->names = nn;
            char **nt = nn ? realloc(t->texts, nc * sizeof(*nt)) : NULL;
            if (!nn || !nt) {
                rc = FLEET_ERR_NOMEM;
                goto out;
            }
            t->texts = nt;
            cap = nc;
        }
        char path[4352];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        char *text = read_text(path);
        char *name = strndup(de->d_name, len - 3);
        if (!text || !name) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            free(text);
            free(name);
            rc = FLEET_ERR_IO;
            goto out;
        }
        t->names[t->n] = name;
        t->texts[t->n] = text;
        t->n++;
    }
    for (const char *const *r = required; r && *r; r++) {
        if (!fleet_templates_get(t, *r)) {
            snprintf(err, errlen, "%s/%s.rq: required query template is missing", dir, *r);
            rc = FLEET_ERR_NOTFOUND;
            goto out;
        }
    }
    *out = t;
    t = NULL;
out:
    if (d)
        closedir(d);
    fleet_templates_free(t);
    return rc;
}
