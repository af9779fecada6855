/* SPDX-License-Identifier: MIT */
/* GET /api/v1/admin/backup (scope admin): a consistent backup of the whole state, streamed as
 * one tar archive (lib/backup.h has the layout) while writes go on.
 *
 * Consistency: under the store lock, at one point in time, the model files are hard-linked into
 * a private directory and the dump child is forked (fleet_store_dump). Model files are written
 * before the triples that name them commit and removed after the triples that named them are
 * gone, both outside that lock, so every file the dumped triples name is among the links. The
 * links and the dump are unlinked as soon as they are open: nothing is left behind if the
 * daemon dies mid-backup. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "log.h"
#include "routes.h"

struct link_job {
    const char *models_dir;
    const char *link_dir;
};

/* Under the store lock: every model file, hard-linked into link_dir. */
static int link_models(void *arg)
{
    struct link_job *j = arg;
    DIR *d = opendir(j->models_dir);
    if (!d) {
        fleet_log(FLEET_LOG_ERR, "backup: %s: %s", j->models_dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    char from[FLEET_PATH_MAX + 80], to[FLEET_PATH_MAX + 80];
    while (rc == 0 && (de = readdir(d))) {
        if (strlen(de->d_name) != 64 || strspn(de->d_name, "0123456789abcdef") != 64)
            continue; /* temporaries of uploads in flight */
        snprintf(from, sizeof(from), "%s/%s", j->models_dir, de->d_name);
        snprintf(to, sizeof(to), "%s/%s", j->link_dir, de->d_name);
        if (link(from, to) != 0) {
            fleet_log(FLEET_LOG_ERR, "backup: link %s: %s", from, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

static ssize_t read_tar(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ssize_t n = fleet_tar_read(cls, buf, max);
    if (n < 0) {
        fleet_log(FLEET_LOG_ERR, "backup: reading the archive's files: %s", strerror(errno));
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void free_tar(void *cls)
{
    fleet_tar_free(cls);
}

static int backup(struct fleet_req *req)
{
    struct fleet_daemon *d = req->d;
    char dir[FLEET_PATH_MAX + 32], nq[FLEET_PATH_MAX + 48], path[FLEET_PATH_MAX + 120];
    char err[512] = "", sha[65], created[32];
    struct fleet_tar *tar = NULL;
    json_t *manifest = NULL, *models = NULL;
    int nq_fd = -1, r;
    uint64_t generation = 0, quads = 0;
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(dir, sizeof(dir), "%s/backup.XXXXXX", d->tmp_dir);
    if (!mkdtemp(dir)) {
        fleet_log(FLEET_LOG_ERR, "backup: mkdtemp %s: %s", dir, strerror(errno));
        return fleet_problem(req, 500, "backup-failed", "cannot create a work directory", NULL);
    }
    snprintf(nq, sizeof(nq), "%s/store.nq", dir);
    nq_fd = open(nq, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (nq_fd < 0) {
        r = fleet_problem(req, 500, "backup-failed", "cannot create the dump file", NULL);
        goto out;
    }
    unlink(nq);
    struct link_job lj = {d->models_dir, dir};
    enum fleet_err rc =
        fleet_store_dump(d->store, nq_fd, link_models, &lj, &generation, &quads, err, sizeof(err));
    if (rc != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "backup: %s", err);
        r = fleet_problem(req, 500, "backup-failed", err, NULL);
        goto out;
    }
    struct stat sb;
    if (fstat(nq_fd, &sb) != 0 || lseek(nq_fd, 0, SEEK_SET) != 0 ||
        fleet_sha256_fd(nq_fd, (uint64_t)sb.st_size, sha) != 0) {
        r = fleet_problem(req, 500, "backup-failed", "cannot read the dump back", NULL);
        goto out;
    }
    tar = fleet_tar_new();
    manifest = json_object();
    models = json_array();
    if (!tar || !manifest || !models) {
        r = fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
        goto out;
    }
    json_t *store = json_object();
    json_object_set_new(store, "file", json_string("store.nq"));
    json_object_set_new(store, "bytes", json_integer((json_int_t)sb.st_size));
    json_object_set_new(store, "sha256", json_string(sha));
    json_object_set_new(manifest, "format", json_string(FLEET_BACKUP_FORMAT));
    json_object_set_new(manifest, "version", json_integer(FLEET_BACKUP_VERSION));
    json_object_set_new(manifest, "tinyfleetd", json_string(PACKAGE_VERSION));
    json_object_set_new(manifest, "created", json_string(created));
    json_object_set_new(manifest, "generation", json_integer((json_int_t)generation));
    json_object_set_new(manifest, "quads", json_integer((json_int_t)quads));
    json_object_set_new(manifest, "store", store);

    /* The linked model files: open each, then drop its link. */
    struct mfile {
        char sha[65];
        int fd;
        uint64_t size;
    } *mf = NULL;
    size_t n_mf = 0, cap_mf = 0;
    DIR *dd = opendir(dir);
    struct dirent *de;
    int failed = !dd;
    while (!failed && (de = readdir(dd))) {
        if (strlen(de->d_name) != 64)
            continue;
        snprintf(path, sizeof(path), "%s/%.64s", dir, de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat fs;
        if (fd < 0 || fstat(fd, &fs) != 0) {
            if (fd >= 0)
                close(fd);
            failed = 1;
            break;
        }
        unlink(path);
        if (n_mf == cap_mf) {
            cap_mf = cap_mf ? 2 * cap_mf : 64;
            struct mfile *nm = realloc(mf, cap_mf * sizeof(*nm));
            if (!nm) {
                close(fd);
                failed = 1;
                break;
            }
            mf = nm;
        }
        snprintf(mf[n_mf].sha, sizeof(mf[n_mf].sha), "%s", de->d_name);
        mf[n_mf].fd = fd;
        mf[n_mf].size = (uint64_t)fs.st_size;
        n_mf++;
        json_t *m = json_object();
        json_object_set_new(m, "sha256", json_string(de->d_name));
        json_object_set_new(m, "bytes", json_integer((json_int_t)fs.st_size));
        json_array_append_new(models, m);
    }
    if (dd)
        closedir(dd);
    json_object_set(manifest, "models", models);
    char *mtext = failed ? NULL : json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS);
    failed = !mtext ||
             fleet_tar_add_mem(tar, FLEET_BACKUP_ROOT "manifest.json", mtext, strlen(mtext)) !=
                 FLEET_OK ||
             fleet_tar_add_fd(tar, FLEET_BACKUP_ROOT "store.nq", nq_fd, (uint64_t)sb.st_size) !=
                 FLEET_OK;
    nq_fd = -1; /* the archive owns it now, even on failure */
    free(mtext);
    size_t k = 0;
    for (; k < n_mf && !failed; k++) {
        char name[128];
        snprintf(name, sizeof(name), FLEET_BACKUP_ROOT "models/%s", mf[k].sha);
        failed = fleet_tar_add_fd(tar, name, mf[k].fd, mf[k].size) != FLEET_OK;
    }
    for (; k < n_mf; k++) /* not handed to the archive */
        close(mf[k].fd);
    free(mf);
    if (failed) {
        r = fleet_problem(req, 500, "backup-failed", "cannot assemble the archive", NULL);
        goto out;
    }
    fleet_log(FLEET_LOG_NOTICE, "backup: %llu quads at generation %llu, %zu model files",
              (unsigned long long)quads, (unsigned long long)generation, n_mf);
    char disp[96];
    snprintf(disp, sizeof(disp), "attachment; filename=\"tinyfleet-backup-%s.tar\"", created);
    const char *h[] = {"Content-Disposition", disp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store",
                       NULL};
    r = fleet_respond_reader(req, 200, "application/x-tar", 64 * 1024, read_tar, tar, free_tar,
                             h);
    tar = NULL; /* the response owns it */
out:
    if (nq_fd >= 0)
        close(nq_fd);
    fleet_tar_free(tar);
    json_decref(models);
    json_decref(manifest);
    /* Links left by an error, then the directory. */
    DIR *cd = opendir(dir);
    if (cd) {
        struct dirent *le;
        while ((le = readdir(cd))) {
            if (strlen(le->d_name) != 64)
                continue; /* only our links live here */
            snprintf(path, sizeof(path), "%s/%.64s", dir, le->d_name);
            unlink(path);
        }
        closedir(cd);
    }
    rmdir(dir);
    return r;
}

int fleet_route_admin(struct fleet_req *req)
{
    if (strcmp(req->path, "/api/v1/admin/backup") == 0) {
        if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
            return backup(req);
        return fleet_problem(req, 405, "method-not-allowed", "use GET here", NULL);
    }
    return fleet_problem(req, 404, "not-found", "no such resource", NULL);
}
