/* SPDX-License-Identifier: MIT */
/* Content-addressed, crash-safe file storage; see blobs.h. */
#include "blobs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

enum fleet_err fleet_blobs_init(const char *dir)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        fleet_log(FLEET_LOG_ERR, "%s: %s", dir, strerror(errno));
        return FLEET_ERR_IO;
    }
    return FLEET_OK;
}

int fleet_blobs_path(const char *dir, const char *sha256, char *path, size_t len)
{
    size_t n = strlen(sha256);
    if (n != 64)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!((sha256[i] >= '0' && sha256[i] <= '9') || (sha256[i] >= 'a' && sha256[i] <= 'f')))
            return -1;
    int w = snprintf(path, len, "%s/%s", dir, sha256);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

enum fleet_err fleet_blobs_put(const char *dir, const char *tmp_path, const char *sha256)
{
    char path[4200];
    struct stat sb;
    if (fleet_blobs_path(dir, sha256, path, sizeof(path)) != 0)
        return FLEET_ERR_INVAL;
    if (stat(path, &sb) == 0) {
        unlink(tmp_path);
        return FLEET_OK;
    }
    int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        fleet_log(FLEET_LOG_ERR, "%s: %s", tmp_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return FLEET_ERR_IO;
    }
    close(fd);
    if (rename(tmp_path, path) != 0 || sync_dir(dir) != 0) {
        fleet_log(FLEET_LOG_ERR, "%s: %s", path, strerror(errno));
        return FLEET_ERR_IO;
    }
    return FLEET_OK;
}

enum fleet_err fleet_blobs_remove(const char *dir, const char *sha256)
{
    char path[4200];
    if (fleet_blobs_path(dir, sha256, path, sizeof(path)) != 0)
        return FLEET_ERR_INVAL;
    if (unlink(path) != 0) {
        if (errno == ENOENT)
            return FLEET_ERR_NOTFOUND;
        fleet_log(FLEET_LOG_ERR, "%s: %s", path, strerror(errno));
        return FLEET_ERR_IO;
    }
    sync_dir(dir);
    return FLEET_OK;
}
