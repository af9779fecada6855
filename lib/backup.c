/* SPDX-License-Identifier: MIT */
/* See backup.h. The ustar subset written and read: regular files only, names up to 99 bytes in
 * the name field, sizes in 11 octal digits (8 GiB), mode 0600, mtime the backup's time, the
 * checksum over the header with its own field as spaces. The reader accepts exactly that (plus
 * the two zero blocks at the end) and nothing else. */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdarg.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blobs.h"
#include "store.h"

#define BLOCK 512
#define MAX_MANIFEST (16u << 20)

/* ---- writing ----------------------------------------------------------------------------- */

struct tar_entry {
    char name[100];
    int fd;           /* -1 for memory entries */
    char *mem;        /* memory entries: the data (owned) */
    uint64_t size;
};

struct fleet_tar {
    struct tar_entry *e;
    size_t n, cap;
    size_t cur;       /* entry being written */
    int phase;        /* 0 header, 1 data, 2 padding; per entry */
    uint64_t done;    /* bytes of the current phase written */
    unsigned char header[BLOCK];
    size_t trailer;   /* bytes of the end-of-archive blocks written */
    time_t mtime;
};

struct fleet_tar *fleet_tar_new(void)
{
    struct fleet_tar *t = calloc(1, sizeof(*t));
    if (t)
        t->mtime = time(NULL);
    return t;
}

void fleet_tar_free(struct fleet_tar *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        if (t->e[i].fd >= 0)
            close(t->e[i].fd);
        free(t->e[i].mem);
    }
    free(t->e);
    free(t);
}

static enum fleet_err add(struct fleet_tar *t, const char *name, int fd, char *mem, uint64_t size)
{
    if (strlen(name) >= sizeof(t->e[0].name) || size >= (1ULL << 33)) {
        if (fd >= 0)
            close(fd);
        free(mem);
        return FLEET_ERR_TOOBIG;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct tar_entry *e = realloc(t->e, cap * sizeof(*e));
        if (!e) {
            if (fd >= 0)
                close(fd);
            free(mem);
            return FLEET_ERR_NOMEM;
        }
        t->e = e;
        t->cap = cap;
    }
    struct tar_entry *e = &t->e[t->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->fd = fd;
    e->mem = mem;
    e->size = size;
    return FLEET_OK;
}

enum fleet_err fleet_tar_add_fd(struct fleet_tar *t, const char *name, int fd, uint64_t size)
{
    return add(t, name, fd, NULL, size);
}

enum fleet_err fleet_tar_add_mem(struct fleet_tar *t, const char *name, const void *data,
                                 size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return FLEET_ERR_NOMEM;
    memcpy(copy, data, len);
    return add(t, name, -1, copy, len);
}

static uint64_t padded(uint64_t n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

uint64_t fleet_tar_size(const struct fleet_tar *t)
{
    uint64_t total = 2 * BLOCK;
    for (size_t i = 0; i < t->n; i++)
        total += BLOCK + padded(t->e[i].size);
    return total;
}

static void make_header(const struct tar_entry *e, time_t mtime, unsigned char h[BLOCK])
{
    memset(h, 0, BLOCK);
    memcpy(h, e->name, strlen(e->name));
    snprintf((char *)h + 100, 8, "%07o", 0600);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)e->size);
    snprintf((char *)h + 136, 12, "%011llo", (unsigned long long)mtime & 077777777777ULL);
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

ssize_t fleet_tar_read(struct fleet_tar *t, char *buf, size_t max)
{
    size_t out = 0;
    while (out < max) {
        if (t->cur == t->n) {
            size_t left = 2 * BLOCK - t->trailer, k = left < max - out ? left : max - out;
            memset(buf + out, 0, k);
            t->trailer += k;
            out += k;
            if (t->trailer == 2 * BLOCK)
                break;
            continue;
        }
        struct tar_entry *e = &t->e[t->cur];
        if (t->phase == 0) {
            if (t->done == 0)
                make_header(e, t->mtime, t->header);
            size_t k = BLOCK - (size_t)t->done < max - out ? BLOCK - (size_t)t->done : max - out;
            memcpy(buf + out, t->header + t->done, k);
            out += k;
            t->done += k;
            if (t->done == BLOCK)
                t->phase = 1, t->done = 0;
        } else if (t->phase == 1) {
            uint64_t left = e->size - t->done;
            size_t k = left < max - out ? (size_t)left : max - out;
            if (k == 0) {
                t->phase = 2, t->done = 0;
                continue;
            }
            if (e->mem) {
                memcpy(buf + out, e->mem + t->done, k);
            } else {
                ssize_t r = read(e->fd, buf + out, k);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    if (r == 0)
                        errno = EIO; /* the file shrank under us */
                    return -1;
                }
                k = (size_t)r;
            }
            out += k;
            t->done += k;
        } else {
            uint64_t pad = padded(e->size) - e->size;
            size_t k = pad - t->done < max - out ? (size_t)(pad - t->done) : max - out;
            memset(buf + out, 0, k);
            out += k;
            t->done += k;
            if (t->done == pad) {
                if (e->fd >= 0) {
                    close(e->fd);
                    e->fd = -1;
                }
                t->cur++;
                t->phase = 0;
                t->done = 0;
            }
        }
    }
    return (ssize_t)out;
}

int fleet_sha256_fd(int fd, uint64_t size, char out[65])
{
    struct sha256_ctx h;
    uint8_t digest[SHA256_DIGEST_SIZE];
    unsigned char chunk[65536];
    off_t start = lseek(fd, 0, SEEK_CUR);
    if (start < 0)
        return -1;
    sha256_init(&h);
    uint64_t left = size;
    while (left > 0) {
        ssize_t r = read(fd, chunk, left < sizeof(chunk) ? (size_t)left : sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        sha256_update(&h, (size_t)r, chunk);
        left -= (uint64_t)r;
    }
    sha256_digest(&h, sizeof(digest), digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    return lseek(fd, start, SEEK_SET) < 0 ? -1 : 0;
}

/* ---- restoring ------------------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Parses an octal field of n bytes (NUL or space terminated). -1 if malformed. */
static int octal(const unsigned char *f, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && f[i] == ' ')
        i++;
    size_t start = i;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    if (i == start)
        return -1;
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *out = v;
    return 0;
}

/* Copies size bytes from in to a new file at path (fsync'd). */
static int copy_out(FILE *in, uint64_t size, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    char chunk[65536];
    while (size > 0) {
        size_t k = size < sizeof(chunk) ? (size_t)size : sizeof(chunk);
        if (fread(chunk, 1, k, in) != k) {
            close(fd);
            errno = EIO;
            return -1;
        }
        size_t off = 0;
        while (off < k) {
            ssize_t w = write(fd, chunk + off, k - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                close(fd);
                return -1;
            }
            off += (size_t)w;
        }
        size -= k;
    }
    if (fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

static int is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* 1 if dir exists and holds anything at all. */
static int nonempty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d)))
        found = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return found;
}

struct seen_model {
    char sha[65];
    uint64_t size;
};

enum fleet_err fleet_backup_restore(const char *path, const char *state_dir,
                                    const char *ontology_dir, struct fleet_restore_report *rep,
                                    char *err, size_t errlen)
{
    char models_dir[4200], work[4200], nq_path[4300], tmp_path[4300];
    unsigned char h[BLOCK];
    char *manifest = NULL;
    struct seen_model *seen = NULL;
    size_t n_seen = 0, cap_seen = 0;
    int have_store = 0, created_dir = 0, ok = 0;
    uint64_t store_size = 0;
    char store_sha[65] = "";
    enum fleet_err rc = FLEET_ERR_CORRUPT;
    struct fleet_store *st = NULL;
    json_t *mj = NULL;

    memset(rep, 0, sizeof(*rep));
    err[0] = '\0';
    if (nonempty_dir(state_dir)) {
        snprintf(err, errlen, "%s is not empty: restore into a new directory", state_dir);
        return FLEET_ERR_EXISTS;
    }
    if (mkdir(state_dir, 0700) == 0)
        created_dir = 1;
    else if (errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
        return FLEET_ERR_IO;
    }
    snprintf(models_dir, sizeof(models_dir), "%s/models", state_dir);
    snprintf(work, sizeof(work), "%s/restore.tmp", state_dir);
    snprintf(nq_path, sizeof(nq_path), "%s/store.nq", work);
    FILE *in = fopen(path, "rb");
    if (!in) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = FLEET_ERR_IO;
        goto out;
    }
    if (fleet_blobs_init(models_dir) != FLEET_OK || mkdir(work, 0700) != 0) {
        snprintf(err, errlen, "cannot create directories under %s", state_dir);
        rc = FLEET_ERR_IO;
        fclose(in);
        goto out;
    }

    /* Walk the archive. */
    int zero_blocks = 0;
    for (;;) {
        if (fread(h, 1, BLOCK, in) != BLOCK) {
            fail(err, errlen, "%s: the archive ends without its end-of-archive blocks", path);
            break;
        }
        int zero = 1;
        for (int i = 0; i < BLOCK && zero; i++)
            zero = h[i] == 0;
        if (zero) {
            if (++zero_blocks == 2) {
                ok = 1;
                break;
            }
            continue;
        }
        if (zero_blocks) {
            fail(err, errlen, "%s: data after an end-of-archive block", path);
            break;
        }
        uint64_t size, sum;
        char name[101];
        memcpy(name, h, 100);
        name[100] = '\0';
        if (memchr(h, '\0', 100) == NULL || octal(h + 124, 12, &size) != 0 ||
            octal(h + 148, 8, &sum) != 0 || (h[156] != '0' && h[156] != '\0') ||
            memcmp(h + 257, "ustar", 5) != 0) {
            fail(err, errlen, "%s: a malformed tar header (entry \"%.100s\")", path, name);
            break;
        }
        unsigned calc = 0;
        for (int i = 0; i < BLOCK; i++)
            calc += (i >= 148 && i < 156) ? ' ' : h[i];
        if (calc != sum) {
            fail(err, errlen, "%s: the header checksum of \"%.100s\" is wrong", path, name);
            break;
        }
        const char *rel = strncmp(name, FLEET_BACKUP_ROOT, strlen(FLEET_BACKUP_ROOT)) == 0
                              ? name + strlen(FLEET_BACKUP_ROOT)
                              : NULL;
        int stored = 0;
        if (rel && strcmp(rel, "manifest.json") == 0 && !manifest) {
            if (size > MAX_MANIFEST) {
                fail(err, errlen, "%s: manifest.json is too large", path);
                break;
            }
            manifest = malloc((size_t)size + 1);
            if (!manifest || fread(manifest, 1, (size_t)size, in) != size) {
                fail(err, errlen, "%s: cannot read manifest.json", path);
                break;
            }
            manifest[size] = '\0';
            stored = 1;
        } else if (rel && strcmp(rel, "store.nq") == 0 && !have_store) {
            if (copy_out(in, size, nq_path) != 0) {
                fail(err, errlen, "%s: cannot extract store.nq: %s", path, strerror(errno));
                rc = FLEET_ERR_IO;
                break;
            }
            have_store = 1;
            store_size = size;
            stored = 1;
        } else if (rel && strncmp(rel, "models/", 7) == 0 && is_hex64(rel + 7)) {
            snprintf(tmp_path, sizeof(tmp_path), "%s/model.%zu", work, n_seen);
            if (copy_out(in, size, tmp_path) != 0) {
                fail(err, errlen, "%s: cannot extract %s", path, rel);
                rc = FLEET_ERR_IO;
                break;
            }
            char sha[65];
            int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
            int hashed = fd >= 0 && fleet_sha256_fd(fd, size, sha) == 0;
            if (fd >= 0)
                close(fd);
            if (!hashed || strcmp(sha, rel + 7) != 0) {
                fail(err, errlen, "%s: the content of %s does not match its name", path, rel);
                break;
            }
            if (fleet_blobs_put(models_dir, tmp_path, sha) != FLEET_OK) {
                fail(err, errlen, "%s: cannot store %s", path, rel);
                rc = FLEET_ERR_IO;
                break;
            }
            if (n_seen == cap_seen) {
                cap_seen = cap_seen ? cap_seen * 2 : 64;
                struct seen_model *s = realloc(seen, cap_seen * sizeof(*s));
                if (!s) {
                    rc = FLEET_ERR_NOMEM;
                    break;
                }
                seen = s;
            }
            snprintf(seen[n_seen].sha, sizeof(seen[n_seen].sha), "%s", sha);
            seen[n_seen++].size = size;
            stored = 1;
        }
        if (!stored) {
            fail(err, errlen, "%s: unexpected entry \"%.100s\"", path, name);
            break;
        }
        uint64_t pad = padded(size) - size;
        if (pad && fseek(in, (long)pad, SEEK_CUR) != 0) {
            fail(err, errlen, "%s: truncated after \"%.100s\"", path, name);
            break;
        }
    }
    fclose(in);
    if (!ok)
        goto out;
    ok = 0;

    /* The manifest must vouch for everything extracted. */
    json_error_t jerr;
    mj = manifest ? json_loads(manifest, 0, &jerr) : NULL;
    const char *fmt = json_string_value(json_object_get(mj, "format"));
    json_t *store = json_object_get(mj, "store"), *models = json_object_get(mj, "models");
    if (!mj || !fmt || strcmp(fmt, FLEET_BACKUP_FORMAT) != 0 ||
        json_integer_value(json_object_get(mj, "version")) != FLEET_BACKUP_VERSION ||
        !json_is_object(store) || !json_is_array(models) || !have_store) {
        fail(err, errlen, "%s: no valid manifest.json (format %s, version 1) with a store.nq",
             path, FLEET_BACKUP_FORMAT);
        rc = FLEET_ERR_CORRUPT;
        goto out;
    }
    int fd = open(nq_path, O_RDONLY | O_CLOEXEC);
    int hashed = fd >= 0 && fleet_sha256_fd(fd, store_size, store_sha) == 0;
    if (fd >= 0)
        close(fd);
    const char *want_sha = json_string_value(json_object_get(store, "sha256"));
    if (!hashed || !want_sha || strcmp(want_sha, store_sha) != 0 ||
        (uint64_t)json_integer_value(json_object_get(store, "bytes")) != store_size) {
        fail(err, errlen, "%s: store.nq does not match the manifest", path);
        rc = FLEET_ERR_CORRUPT;
        goto out;
    }
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m)
    {
        const char *sha = json_string_value(json_object_get(m, "sha256"));
        size_t k = 0;
        while (sha && k < n_seen && strcmp(seen[k].sha, sha) != 0)
            k++;
        if (!sha || k == n_seen) {
            fail(err, errlen, "%s: model file %s is listed in the manifest but missing", path,
                 sha ? sha : "(no sha256)");
            rc = FLEET_ERR_CORRUPT;
            goto out;
        }
    }

    /* The store. */
    struct fleet_store_options opt = {.state_dir = state_dir, .ontology_dir = ontology_dir};
    if ((rc = fleet_store_open(&opt, &st, err, errlen)) != FLEET_OK)
        goto out;
    uint64_t count = 0;
    int created = 0;
    rc = fleet_store_graph_load(st, NULL, 0, FLEET_RDF_NQUADS, nq_path, NULL, &count, &created,
                                err, errlen);
    if (rc != FLEET_OK)
        goto out;
    uint64_t want_quads = (uint64_t)json_integer_value(json_object_get(mj, "quads"));
    if (count != want_quads) {
        snprintf(err, errlen, "store.nq held %llu quads, the manifest says %llu",
                 (unsigned long long)count, (unsigned long long)want_quads);
        rc = FLEET_ERR_CORRUPT;
        goto out;
    }
    fleet_store_close(st); /* writes the snapshot */
    st = NULL;
    rep->quads = count;
    rep->models = n_seen;
    rep->generation = (uint64_t)json_integer_value(json_object_get(mj, "generation"));
    snprintf(rep->created, sizeof(rep->created), "%s",
             json_string_value(json_object_get(mj, "created"))
                 ? json_string_value(json_object_get(mj, "created"))
                 : "");
    ok = 1;
    rc = FLEET_OK;
out:
    fleet_store_close(st);
    json_decref(mj);
    free(manifest);
    free(seen);
    nftw(work, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (!ok) {
        if (rc == FLEET_OK)
            rc = FLEET_ERR_CORRUPT;
        /* Leave nothing behind: the directory was empty (or new) before. */
        DIR *dd = opendir(state_dir);
        if (dd) {
            struct dirent *de;
            char p[4400];
            while ((de = readdir(dd))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                    continue;
                snprintf(p, sizeof(p), "%s/%s", state_dir, de->d_name);
                nftw(p, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
            }
            closedir(dd);
        }
        if (created_dir)
            rmdir(state_dir);
    }
    return rc;
}
