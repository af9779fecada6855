/* SPDX-License-Identifier: MIT */
/* /api/v1/models: the model registry.
 *   POST   /api/v1/models              multipart/form-data: part "model" (.tflite), part
 *                                      "metadata" (JSON) -> 201 + Location + the model as JSON
 *   GET    /api/v1/models?category=&sensor=&max_ram_kb=&max_flash_kb=&q=&limit=&offset=
 *   GET    /api/v1/models/{id}         JSON, or the model's triples with Accept: text/turtle
 *   GET    /api/v1/models/{id}/file    the exact bytes, ETag = sha256
 *   DELETE /api/v1/models/{id}[?force=true] -> 204, triples and file gone; 409 while deployed
 *   GET    /api/v1/models/{id}/devices, /deployments   (routes_match.c)
 * The upload is spooled to a file by http.c, split with libmicrohttpd's post processor (the
 * model part streams to its own file), analysed (lib/model.c), and committed as one durable
 * transaction after the file itself is durable (lib/blobs.c): a 201 survives kill -9, and an
 * error stores nothing. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blobs.h"
#include "conneg.h"
#include "log.h"
#include "model.h"
#include "model_graph.h"
#include "routes.h"
#include "sparql_text.h"

#define API "/api/v1/models"
#define MAX_METADATA_BYTES (1 << 20)
#define MAX_LIST_LIMIT 1000
#define DEFAULT_LIST_LIMIT 100

/* Serialises "is this file registered already?" with the commit, so that of two concurrent
 * uploads of the same file exactly one gets 201. */
static pthread_mutex_t register_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the upload ------------------------------------------------------------------------------ */

struct upload {
    struct fleet_req *req;
    int model_fd;
    char model_path[FLEET_PATH_MAX + 32];
    uint64_t model_bytes;
    int have_model;
    struct fleet_buf metadata;
    int have_metadata;
    char bad_part[128];  /* an unexpected or oversized part */
    int io_error;
};

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    struct upload *u = cls;
    if (!key)
        return MHD_YES;
    if (strcmp(key, "model") == 0) {
        u->have_model = 1;
        if (u->model_fd < 0) {
            snprintf(u->model_path, sizeof(u->model_path), "%s/model.XXXXXX", u->req->d->tmp_dir);
            u->model_fd = mkstemp(u->model_path);
            if (u->model_fd < 0) {
                u->model_path[0] = '\0';
                u->io_error = errno;
                return MHD_NO;
            }
        }
        size_t done = 0;
        while (done < size) {
            ssize_t w = write(u->model_fd, data + done, size - done);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                u->io_error = errno;
                return MHD_NO;
            }
            done += (size_t)w;
        }
        u->model_bytes += size;
        return MHD_YES;
    }
    if (strcmp(key, "metadata") == 0) {
        u->have_metadata = 1;
        if (u->metadata.len + size > MAX_METADATA_BYTES) {
            snprintf(u->bad_part, sizeof(u->bad_part), "metadata");
            return MHD_NO;
        }
        fleet_buf_append(&u->metadata, data, size);
        return u->metadata.oom ? MHD_NO : MHD_YES;
    }
    snprintf(u->bad_part, sizeof(u->bad_part), "%.100s", key);
    return MHD_NO;
}

static void upload_free(struct upload *u)
{
    if (u->model_fd >= 0)
        close(u->model_fd);
    if (u->model_path[0])
        unlink(u->model_path);
    fleet_buf_free(&u->metadata);
}

/* Feeds the spooled request body through libmicrohttpd's multipart parser. */
static int split_parts(struct fleet_req *req, struct upload *u, char *err, size_t errlen)
{
    struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 64 * 1024, on_part, u);
    char chunk[64 * 1024];
    ssize_t n;
    int ok = 1;
    if (!pp) {
        snprintf(err, errlen, "the body is not multipart/form-data with a boundary");
        return -1;
    }
    while (ok && (n = read(req->body_fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ok = 0;
            break;
        }
        ok = MHD_post_process(pp, chunk, (size_t)n) == MHD_YES;
    }
    if (MHD_destroy_post_processor(pp) != MHD_YES)
        ok = 0;
    if (!ok) {
        if (u->bad_part[0])
            snprintf(err, errlen, "unexpected or oversized part \"%s\"; the parts are \"model\" "
                                  "(the .tflite file) and \"metadata\" (JSON, at most 1 MiB)",
                     u->bad_part);
        else if (u->io_error)
            snprintf(err, errlen, "cannot store the upload: %s", strerror(u->io_error));
        else
            snprintf(err, errlen, "malformed multipart/form-data body");
        return -1;
    }
    return 0;
}

static int respond_json_text(struct fleet_req *req, int status, const char *text,
                             const char *const *headers)
{
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (!copy)
        return MHD_NO;
    memcpy(copy, text, len);
    copy[len] = '\n';
    return fleet_respond_steal(req, status, "application/json", copy, len + 1, headers);
}

static int create_model(struct fleet_req *req)
{
    struct fleet_daemon *d = req->d;
    struct upload u;
    struct fleet_model_info *info = NULL;
    struct fleet_model_meta *meta = NULL;
    struct fleet_txn *txn = NULL;
    char err[1024] = "", field[128] = "", id[17], ram_profile[64];
    char *doc = NULL;
    uint8_t *map = NULL;
    int r;

    memset(&u, 0, sizeof(u));
    u.req = req;
    u.model_fd = -1;
    const char *ctype = fleet_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ctype || !fleet_media_type_is(ctype, "multipart/form-data"))
        return fleet_problem(req, 415, "unsupported-media-type",
                             "upload a model as multipart/form-data with parts \"model\" and "
                             "\"metadata\"",
                             "Content-Type");
    if (split_parts(req, &u, err, sizeof(err)) != 0) {
        r = fleet_problem(req, u.io_error ? 500 : 400, "malformed-upload", err,
                          u.bad_part[0] ? u.bad_part : NULL);
        goto out;
    }
    if (!u.have_model || u.model_bytes == 0) {
        r = fleet_problem(req, 400, "missing-part", "the part \"model\" (the .tflite file) is "
                                                    "missing or empty",
                          "model");
        goto out;
    }
    if (!u.have_metadata) {
        r = fleet_problem(req, 400, "missing-part", "the part \"metadata\" (JSON) is missing",
                          "metadata");
        goto out;
    }
    /* Metadata first: a wrong category is a cheaper answer than an analysis. */
    if (fleet_model_meta_parse(u.metadata.data ? u.metadata.data : "", u.metadata.len, &d->vocab,
                               &meta, field, sizeof(field), err, sizeof(err)) != FLEET_OK) {
        char full[160];
        snprintf(full, sizeof(full), "metadata.%s", field);
        r = fleet_problem(req, 400, "invalid-metadata", err, strcmp(field, "metadata") == 0
                                                                 ? "metadata"
                                                                 : full);
        goto out;
    }
    map = mmap(NULL, u.model_bytes, PROT_READ, MAP_PRIVATE, u.model_fd, 0);
    if (map == MAP_FAILED) {
        map = NULL;
        r = fleet_problem(req, 500, "internal", "cannot read the uploaded model", NULL);
        goto out;
    }
    enum fleet_err rc = fleet_model_analyse(map, u.model_bytes, &info, err, sizeof(err));
    if (rc == FLEET_ERR_NOMEM) {
        r = fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
        goto out;
    }
    if (rc != FLEET_OK) {
        r = fleet_problem(req, 422, "not-a-tflite-model", err, "model");
        goto out;
    }
    fleet_model_id(info->sha256, meta->name, id);
    pthread_rwlock_rdlock(&d->cfg_lock);
    snprintf(ram_profile, sizeof(ram_profile), "%s", d->cfg.arena_profile);
    pthread_rwlock_unlock(&d->cfg_lock);
    doc = fleet_model_document(info, id, u.metadata.data, ram_profile, time(NULL));
    txn = fleet_txn_new();
    if (!doc || !txn ||
        fleet_model_txn(info, meta, &d->vocab, id, ram_profile, doc, txn) != FLEET_OK) {
        r = fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
        goto out;
    }

    pthread_mutex_lock(&register_lock);
    char graph[256];
    fleet_model_graph_iri(id, graph, sizeof(graph));
    if (fleet_store_graph_exists(d->store, graph)) {
        pthread_mutex_unlock(&register_lock);
        char extra[128];
        snprintf(extra, sizeof(extra), "\"id\":\"%s\",\"location\":\"" API "/%s\"", id, id);
        r = fleet_problem_ext(req, 409, "model-exists",
                              "this file is registered already under this name", "model", extra);
        goto out;
    }
    /* The file is made durable and named first; the triples that point at it are committed
     * second. A crash in between leaves an unreferenced file, never a dangling model. */
    close(u.model_fd);
    u.model_fd = -1;
    rc = fleet_blobs_put(d->models_dir, u.model_path, info->sha256);
    if (rc == FLEET_OK) {
        u.model_path[0] = '\0';
        rc = fleet_store_commit(d->store, txn);
    }
    pthread_mutex_unlock(&register_lock);
    if (rc != FLEET_OK) {
        r = fleet_problem(req, 500, "store-failed", fleet_strerror(rc), NULL);
        goto out;
    }
    fleet_log(FLEET_LOG_NOTICE, "model %s registered: %s (%llu bytes, %llu MACs)", id,
              meta->name, (unsigned long long)info->flash_bytes, (unsigned long long)info->macs);
    char loc[128];
    snprintf(loc, sizeof(loc), API "/%s", id);
    const char *h[] = {MHD_HTTP_HEADER_LOCATION, loc, NULL};
    r = respond_json_text(req, 201, doc, h);
out:
    if (map)
        munmap(map, u.model_bytes);
    fleet_txn_free(txn);
    free(doc);
    fleet_model_info_free(info);
    fleet_model_meta_free(meta);
    upload_free(&u);
    return r;
}

/* ---- listing ----------------------------------------------------------------------------------- */

/* Parses a non-negative decimal number parameter; -1 if malformed. */
static int number_arg(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *binding_value(json_t *row, const char *var)
{
    return json_string_value(json_object_get(json_object_get(row, var), "value"));
}

/* The ids of the listed models, in order, from the bindings of sparql/models-list.rq: the rows
 * of its first two branches, less those whose ?nn no sensor row names when by_sensor. Sets *ids
 * (new array of strings borrowed from rows) and *n; returns -1 on ENOMEM. */
static int listed_ids(json_t *rows, int by_sensor, const char ***ids, size_t *n)
{
    size_t nrows = json_array_size(rows), nfed = 0, i;
    const char **fed = malloc((nrows ? nrows : 1) * sizeof(*fed));
    json_t *row;
    *ids = malloc((nrows ? nrows : 1) * sizeof(**ids));
    *n = 0;
    if (!fed || !*ids) {
        free(fed);
        free(*ids);
        *ids = NULL;
        return -1;
    }
    json_array_foreach(rows, i, row)
    {
        const char *nn = binding_value(row, "nn");
        if (json_object_get(row, "sensorNode") && nn)
            fed[nfed++] = nn;
    }
    qsort(fed, nfed, sizeof(*fed), strp_cmp);
    json_array_foreach(rows, i, row)
    {
        const char *nn = binding_value(row, "nn");
        if (json_object_get(row, "sensorNode") || !nn)
            continue;
        if (by_sensor && !bsearch(&nn, fed, nfed, sizeof(*fed), strp_cmp))
            continue;
        (*ids)[(*n)++] = binding_value(row, "id");
    }
    free(fed);
    return 0;
}

static int list_models(struct fleet_req *req)
{
    struct fleet_daemon *d = req->d;
    const char *category = fleet_req_arg(req, "category");
    const char *sensor = fleet_req_arg(req, "sensor");
    const char *q = fleet_req_arg(req, "q");
    const char *limit_s = fleet_req_arg(req, "limit"), *offset_s = fleet_req_arg(req, "offset");
    double max_ram = 1e15, max_flash = 1e15, limit = DEFAULT_LIST_LIMIT, offset = 0;
    const char *cat_iri = NULL, *sensor_iri = NULL;
    char msg[2048];

    if (fleet_req_has_arg(req, "max_ram_kb") &&
        number_arg(fleet_req_arg(req, "max_ram_kb"), &max_ram) != 0)
        return fleet_problem(req, 400, "bad-parameter", "max_ram_kb must be a number >= 0",
                             "max_ram_kb");
    if (fleet_req_has_arg(req, "max_flash_kb") &&
        number_arg(fleet_req_arg(req, "max_flash_kb"), &max_flash) != 0)
        return fleet_problem(req, 400, "bad-parameter", "max_flash_kb must be a number >= 0",
                             "max_flash_kb");
    if (limit_s && (number_arg(limit_s, &limit) != 0 || limit < 1 || limit > MAX_LIST_LIMIT ||
                    limit != floor(limit)))
        return fleet_problem(req, 400, "bad-parameter", "limit must be an integer from 1 to 1000",
                             "limit");
    if (offset_s && (number_arg(offset_s, &offset) != 0 || offset != floor(offset)))
        return fleet_problem(req, 400, "bad-parameter", "offset must be an integer >= 0",
                             "offset");
    if (category && *category) {
        for (char **p = d->vocab.categories; p && *p && !cat_iri; p++) {
            const char *ln = strrchr(*p, '#');
            if (ln && strcmp(ln + 1, category) == 0)
                cat_iri = *p;
        }
        if (!cat_iri) {
            size_t n = (size_t)snprintf(msg, sizeof(msg), "unknown category; allowed:");
            for (char **p = d->vocab.categories; p && *p && n < sizeof(msg); p++)
                n += (size_t)snprintf(msg + n, sizeof(msg) - n, " %s", strrchr(*p, '#') + 1);
            return fleet_problem(req, 400, "bad-parameter", msg, "category");
        }
    }
    if (sensor && *sensor) {
        for (char **p = d->vocab.sensors; p && *p && !sensor_iri; p++) {
            const char *ln = strrchr(*p, '/');
            if (ln && strcmp(ln + 1, sensor) == 0)
                sensor_iri = *p;
        }
        if (!sensor_iri) {
            size_t n = (size_t)snprintf(msg, sizeof(msg), "unknown sensor; allowed:");
            for (char **p = d->vocab.sensors; p && *p && n < sizeof(msg); p++)
                n += (size_t)snprintf(msg + n, sizeof(msg) - n, " %s", strrchr(*p, '/') + 1);
            return fleet_problem(req, 400, "bad-parameter", msg, "sensor");
        }
    }
    if (q && strlen(q) > 256)
        return fleet_problem(req, 400, "bad-parameter", "q is longer than 256 bytes", "q");

    char ram_s[64], flash_s[64];
    snprintf(ram_s, sizeof(ram_s), "%.6f", max_ram);
    snprintf(flash_s, sizeof(flash_s), "%.6f", max_flash);
    static const char *const names[] = {"anyCategory", "category", "anySensor", "sensor",
                                        "maxRamKb",    "maxFlashKb", "q"};
    const char *xbool = "http://www.w3.org/2001/XMLSchema#boolean";
    const char *xdec = "http://www.w3.org/2001/XMLSchema#decimal";
    struct fleet_term vals[7] = {
        {FLEET_TERM_LITERAL, cat_iri ? "false" : "true", NULL, xbool},
        {FLEET_TERM_IRI, cat_iri ? cat_iri : "urn:tinyfleet:none", NULL, NULL},
        {FLEET_TERM_LITERAL, sensor_iri ? "false" : "true", NULL, xbool},
        {FLEET_TERM_IRI, sensor_iri ? sensor_iri : "urn:tinyfleet:none", NULL, NULL},
        {FLEET_TERM_LITERAL, ram_s, NULL, xdec},
        {FLEET_TERM_LITERAL, flash_s, NULL, xdec},
        {FLEET_TERM_LITERAL, q ? q : "", NULL, NULL}};
    struct fleet_buf query = FLEET_BUF_INIT;
    char err[512];
    if (fleet_sparql_bind(fleet_templates_get(d->templates, "models-list"), names, vals, 7, &query,
                          err, sizeof(err)) != FLEET_OK) {
        fleet_buf_free(&query);
        return fleet_problem(req, 400, "bad-parameter", err, "q");
    }
    struct fleet_query fq = {query.data, NULL, NULL, 0, NULL, 0, "application/sparql-results+json",
                             req->query_timeout_ms, 0, 0};
    struct fleet_answer ans;
    memset(&ans, 0, sizeof(ans));
    enum fleet_err rc = fleet_store_query(d->store, &fq, &ans);
    fleet_buf_free(&query);
    if (rc != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "models-list query: %s", ans.message);
        fleet_buf_free(&ans.body);
        return fleet_problem(req, fleet_http_status(rc), "query-failed", ans.message, NULL);
    }
    json_t *res = json_loadb(ans.body.data, ans.body.len, 0, NULL);
    fleet_buf_free(&ans.body);
    const char **ids;
    size_t total;
    if (listed_ids(json_object_get(json_object_get(res, "results"), "bindings"),
                   sensor_iri != NULL, &ids, &total) != 0) {
        json_decref(res);
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);
    }
    json_t *out = json_object(), *items = json_array();
    for (size_t i = (size_t)offset; i < total && i < (size_t)offset + (size_t)limit; i++) {
        const char *mid = ids[i];
        char graph[256], iri[256];
        if (!mid)
            continue;
        fleet_model_graph_iri(mid, graph, sizeof(graph));
        fleet_model_iri(mid, iri, sizeof(iri));
        char *doc = fleet_store_literal(d->store, graph, iri, FLEET_NS "document");
        json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
        free(doc);
        if (j)
            json_array_append_new(items, j);
    }
    json_object_set_new(out, "total", json_integer((json_int_t)total));
    json_object_set_new(out, "items", items);
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    free(ids);
    json_decref(res);
    if (!text)
        return fleet_problem(req, 503, "out-of-memory", "out of memory", NULL);

    /* rel=next keeps every filter and moves the window. */
    char link[2048] = "";
    const char *h[3] = {NULL};
    if ((size_t)offset + (size_t)limit < total) {
        struct fleet_buf l = FLEET_BUF_INIT;
        char *e;
        fleet_buf_printf(&l, "<" API "?limit=%.0f&offset=%.0f", limit, offset + limit);
        const char *keep[] = {"category", "sensor", "max_ram_kb", "max_flash_kb", "q"};
        for (size_t i = 0; i < 5; i++) {
            const char *v = fleet_req_arg(req, keep[i]);
            if (!v)
                continue;
            fleet_buf_printf(&l, "&%s=", keep[i]);
            for (e = (char *)v; *e; e++) {
                unsigned char c = (unsigned char)*e;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr("-._~", c))
                    fleet_buf_putc(&l, (char)c);
                else
                    fleet_buf_printf(&l, "%%%02X", c);
            }
        }
        fleet_buf_puts(&l, ">; rel=\"next\"");
        snprintf(link, sizeof(link), "%s", l.data ? l.data : "");
        fleet_buf_free(&l);
        h[0] = MHD_HTTP_HEADER_LINK;
        h[1] = link;
    }
    int r = respond_json_text(req, 200, text, h);
    free(text);
    return r;
}

/* ---- one model ---------------------------------------------------------------------------------- */

static int valid_id(const char *id, size_t len)
{
    if (len != 16)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static int get_model(struct fleet_req *req, const char *id)
{
    struct fleet_daemon *d = req->d;
    char graph[256], iri[256];
    fleet_model_graph_iri(id, graph, sizeof(graph));
    fleet_model_iri(id, iri, sizeof(iri));
    static const char *const offers[] = {"application/json", "text/turtle",
                                         "application/n-triples"};
    int pick = fleet_conneg_pick(fleet_req_header(req, MHD_HTTP_HEADER_ACCEPT), offers, 3);
    if (pick < 0)
        return fleet_problem(req, 406, "not-acceptable",
                             "offered: application/json, text/turtle, application/n-triples",
                             "Accept");
    const char *vary[] = {MHD_HTTP_HEADER_VARY, "Accept", NULL};
    if (pick > 0) {
        struct fleet_buf out = FLEET_BUF_INIT;
        enum fleet_err rc = fleet_store_graph_get(
            d->store, graph, pick == 1 ? FLEET_RDF_TURTLE : FLEET_RDF_NTRIPLES, &out);
        if (rc != FLEET_OK) {
            fleet_buf_free(&out);
            return fleet_problem(req, rc == FLEET_ERR_NOTFOUND ? 404 : 500, "no-such-model",
                                 "no model with this id", "id");
        }
        size_t len;
        char *body = fleet_buf_steal(&out, &len);
        return fleet_respond_steal(req, 200, offers[pick], body, len, vary);
    }
    char *doc = fleet_store_literal(d->store, graph, iri, FLEET_NS "document");
    if (!doc)
        return fleet_problem(req, 404, "no-such-model", "no model with this id", "id");
    int r = respond_json_text(req, 200, doc, vary);
    free(doc);
    return r;
}

static int get_file(struct fleet_req *req, const char *id)
{
    struct fleet_daemon *d = req->d;
    char graph[256], iri[256], path[FLEET_PATH_MAX + 80], etag[80];
    fleet_model_graph_iri(id, graph, sizeof(graph));
    fleet_model_iri(id, iri, sizeof(iri));
    char *sha = fleet_store_literal(d->store, graph, iri, FLEET_NS "sha256");
    if (!sha)
        return fleet_problem(req, 404, "no-such-model", "no model with this id", "id");
    snprintf(etag, sizeof(etag), "\"%s\"", sha);
    int bad_path = fleet_blobs_path(d->models_dir, sha, path, sizeof(path));
    free(sha);
    const char *inm = fleet_req_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
    const char *h[] = {MHD_HTTP_HEADER_ETAG, etag, MHD_HTTP_HEADER_CACHE_CONTROL,
                       "public, max-age=31536000, immutable", NULL};
    if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0))
        return fleet_respond(req, 304, NULL, NULL, 0, h);
    int fd = bad_path ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        fleet_log(FLEET_LOG_ERR, "model %s: file %s is missing", id, path);
        return fleet_problem(req, 500, "file-missing", "the model's file is missing from the "
                                                       "state directory",
                             NULL);
    }
    return fleet_respond_fd(req, 200, "application/octet-stream", fd, (uint64_t)sb.st_size, h);
}

static int delete_model(struct fleet_req *req, const char *id)
{
    struct fleet_daemon *d = req->d;
    char graph[256], iri[256];
    fleet_model_graph_iri(id, graph, sizeof(graph));
    fleet_model_iri(id, iri, sizeof(iri));
    pthread_mutex_lock(&register_lock);
    char *sha = fleet_store_literal(d->store, graph, iri, FLEET_NS "sha256");
    if (!sha) {
        pthread_mutex_unlock(&register_lock);
        return fleet_problem(req, 404, "no-such-model", "no model with this id", "id");
    }
    /* A model that runs somewhere stays unless ?force=true, which ends those deployments in
     * the same transaction as the delete. */
    const char *force_s = fleet_req_arg(req, "force");
    int force = force_s && strcmp(force_s, "true") == 0;
    if (force_s && !force && strcmp(force_s, "false") != 0) {
        pthread_mutex_unlock(&register_lock);
        free(sha);
        return fleet_problem(req, 400, "bad-parameter", "force must be true or false", "force");
    }
    size_t deployed = 0;
    fleet_deploy_lock();
    if (fleet_model_active_deployments(req, id, &deployed) != 0) {
        fleet_deploy_unlock();
        pthread_mutex_unlock(&register_lock);
        free(sha);
        return fleet_problem(req, 500, "query-failed", "cannot read the model's deployments",
                             NULL);
    }
    if (deployed && !force) {
        fleet_deploy_unlock();
        pthread_mutex_unlock(&register_lock);
        free(sha);
        char msg[160], extra[64];
        snprintf(msg, sizeof(msg),
                 "the model is deployed on %zu board(s); end the deployments first or delete "
                 "with ?force=true",
                 deployed);
        snprintf(extra, sizeof(extra), "\"deployments\":%zu", deployed);
        return fleet_problem_ext(req, 409, "model-deployed", msg, "id", extra);
    }
    /* Triples first, file second: a crash in between leaves only an unreferenced file. */
    struct fleet_txn *txn = fleet_txn_new();
    struct fleet_term g = {FLEET_TERM_IRI, graph, NULL, NULL};
    enum fleet_err rc = txn ? fleet_txn_clear_graph(txn, &g) : FLEET_ERR_NOMEM;
    if (rc == FLEET_OK && deployed)
        rc = fleet_model_end_deployments(req, id, txn);
    if (rc == FLEET_OK)
        rc = fleet_store_commit(d->store, txn);
    fleet_txn_free(txn);
    fleet_deploy_unlock();
    /* Another model may be the same file under another name. */
    if (rc == FLEET_OK && !fleet_store_has_literal(d->store, FLEET_NS "sha256", sha))
        fleet_blobs_remove(d->models_dir, sha);
    pthread_mutex_unlock(&register_lock);
    free(sha);
    if (rc != FLEET_OK)
        return fleet_problem(req, 500, "store-failed", fleet_strerror(rc), NULL);
    fleet_log(FLEET_LOG_NOTICE, "model %s deleted", id);
    return fleet_respond(req, 204, NULL, NULL, 0, NULL);
}

int fleet_route_models(struct fleet_req *req)
{
    const char *rest = req->path + strlen(API);
    int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (get)
            return list_models(req);
        if (strcmp(req->method, "POST") == 0)
            return create_model(req);
        return fleet_problem(req, 405, "method-not-allowed", "use GET or POST here", NULL);
    }
    rest++; /* past '/' */
    const char *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    char id[17];
    if (!valid_id(rest, idlen))
        return fleet_problem(req, 404, "no-such-model", "a model id is 16 hex digits", "id");
    memcpy(id, rest, 16);
    id[16] = '\0';
    if (!slash) {
        if (get)
            return get_model(req, id);
        if (strcmp(req->method, "DELETE") == 0)
            return delete_model(req, id);
        return fleet_problem(req, 405, "method-not-allowed", "use GET or DELETE here", NULL);
    }
    if (strcmp(slash, "/devices") == 0)
        return fleet_route_model_devices(req, id);
    if (strcmp(slash, "/deployments") == 0)
        return fleet_route_model_deployments(req, id);
    if (strcmp(slash, "/file") == 0) {
        if (get)
            return get_file(req, id);
        return fleet_problem(req, 405, "method-not-allowed", "use GET here", NULL);
    }
    return fleet_problem(req, 404, "not-found", "no such resource", NULL);
}
