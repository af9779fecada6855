/* SPDX-License-Identifier: MIT */
/* See mlperf.h. The results files are read as text, line by line, and only the lines named
 * there count; anything else in them (timestamps, runner chatter) is ignored. */
#include "mlperf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent_proto.h"
#include "buf.h"

#define MAX_FILE (1 << 20)

/* The first number after position p (skipping blanks, '=' and ':'), or NAN. */
static double number_after(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '=' || *p == ':')
        p++;
    char *end;
    double v = strtod(p, &end);
    return end == p || !isfinite(v) ? NAN : v;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int fleet_mlperf_parse_performance(const char *text, struct fleet_mlperf_perf *out)
{
    double median_tp = NAN, tps[256];
    size_t n = 0;
    long long inferences = 0;
    const char *line = text;
    memset(out, 0, sizeof(*out));
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) - 1 ? len : sizeof(buf) - 1),
                 line);
        const char *m;
        if ((m = strstr(buf, "Median throughput is"))) {
            median_tp = number_after(m + strlen("Median throughput is"));
        } else if ((m = strstr(buf, "Throughput")) && strstr(buf, "inf./sec") &&
                   (m = strchr(m, ':'))) {
            double v = number_after(m);
            if (isfinite(v) && v > 0 && n < sizeof(tps) / sizeof(tps[0]))
                tps[n++] = v;
        } else if ((m = strstr(buf, "# Inferences")) && (m = strchr(m, ':'))) {
            double v = number_after(m);
            if (isfinite(v) && v >= 0 && v < 1e12)
                inferences += (long long)v;
        }
        line = eol ? eol + 1 : NULL;
    }
    if (!isfinite(median_tp) || median_tp <= 0)
        return -1;
    double lat[256];
    for (size_t i = 0; i < n; i++)
        lat[i] = 1000.0 / tps[i];
    qsort(lat, n, sizeof(lat[0]), dbl_cmp);
    out->median_ms = 1000.0 / median_tp;
    out->min_ms = n ? lat[0] : out->median_ms;
    out->max_ms = n ? lat[n - 1] : out->median_ms;
    out->p90_ms = n ? lat[(size_t)ceil(0.9 * (double)n) - 1] : out->median_ms;
    if (out->min_ms > out->median_ms)
        out->min_ms = out->median_ms;
    if (out->p90_ms < out->median_ms)
        out->p90_ms = out->median_ms;
    if (out->max_ms < out->p90_ms)
        out->max_ms = out->p90_ms;
    out->windows = n;
    out->runs = inferences > 0 ? inferences : (long long)(n ? n : 1);
    return 0;
}

int fleet_mlperf_parse_energy(const char *text, double *uj)
{
    const char *m = strstr(text, "Median energy cost is");
    if (!m)
        return -1;
    double v = number_after(m + strlen("Median energy cost is"));
    if (!isfinite(v) || v < 0)
        return -1;
    *uj = v;
    return 0;
}

int fleet_mlperf_parse_accuracy(const char *text, double *percent)
{
    static const char *const keys[] = {"Top 1%", "Top-1%", "Top-1:", "Top 1:"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        const char *m = strstr(text, keys[k]);
        if (!m)
            continue;
        double v = number_after(m + strlen(keys[k]));
        if (isfinite(v) && v >= 0 && v <= 100) {
            *percent = v;
            return 0;
        }
    }
    return -1;
}

/* ---- the tree -------------------------------------------------------------------------------- */

/* The file's text (new) and mtime, or NULL. */
static char *read_text(const char *path, int64_t *mtime_ms)
{
    FILE *f = fopen(path, "re");
    struct stat sb;
    if (!f)
        return NULL;
    if (fstat(fileno(f), &sb) != 0 || sb.st_size > MAX_FILE) {
        fclose(f);
        return NULL;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)sb.st_size, f) : 0;
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    *mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    return buf;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir that are directories (or, with suffix, regular files
 * ending in suffix, which is cut off). new NULL-terminated array, or NULL. */
static char **list_dir(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    size_t n = 0, cap = 16;
    char **v = calloc(cap + 1, sizeof(*v));
    struct dirent *e;
    while (v && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0)
            continue;
        size_t len = strlen(e->d_name), sl = suffix ? strlen(suffix) : 0;
        if (suffix ? !S_ISREG(sb.st_mode) || len <= sl || strcmp(e->d_name + len - sl, suffix)
                   : !S_ISDIR(sb.st_mode))
            continue;
        if (n == cap) {
            char **nv = realloc(v, (cap * 2 + 1) * sizeof(*v));
            if (!nv)
                break;
            v = nv;
            cap *= 2;
        }
        v[n] = strndup(e->d_name, len - sl);
        if (v[n])
            n++;
        v[n] = NULL;
    }
    closedir(d);
    if (v)
        qsort(v, n, sizeof(*v), name_cmp);
    return v;
}

static void time_text(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static const char *lookup(const char *const *names, const char *const *values, size_t n,
                          const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], key) == 0)
            return values[i];
    return NULL;
}

json_t *fleet_mlperf_scan(const char *dir, const struct fleet_mlperf_map *map, char *err,
                          size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/results", dir);
    char **systems = list_dir(path, NULL);
    if (!systems) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno ? errno : ENOENT));
        return NULL;
    }
    json_t *out = json_array();
    for (size_t s = 0; systems[s] && out; s++) {
        const char *sys = systems[s];
        json_t *desc = NULL;
        snprintf(path, sizeof(path), "%s/systems/%s.json", dir, sys);
        desc = json_load_file(path, 0, NULL);
        const char *framework = json_string_value(json_object_get(desc, "framework"));
        const char *device = lookup(map->system_names, map->system_devices, map->n_systems, sys);
        struct fleet_buf urn = FLEET_BUF_INIT;
        if (!device)
            device = json_string_value(json_object_get(desc, "td_id"));
        if (!device) {
            fleet_buf_puts(&urn, "urn:tinyfleet:mlperf:");
            for (const char *p = sys; *p; p++)
                fleet_buf_putc(&urn, isalnum((unsigned char)*p) || strchr("-._", *p) ? *p : '_');
            device = urn.data;
        }
        snprintf(path, sizeof(path), "%s/results/%s", dir, sys);
        char **benches = list_dir(path, NULL);
        for (size_t b = 0; benches && benches[b]; b++) {
            const char *bench = benches[b];
            const char *sha = lookup(map->bench_names, map->bench_sha256, map->n_bench, bench);
            if (!sha) {
                fprintf(stderr, "tinyfleet-agent: %s/%s: no --model %s=FILE given, skipped\n", sys,
                        bench, bench);
                continue;
            }
            int64_t t, first = INT64_MAX, last = 0;
            struct fleet_mlperf_perf perf;
            snprintf(path, sizeof(path), "%s/results/%s/%s/performance/results.txt", dir, sys,
                     bench);
            char *text = read_text(path, &t);
            if (!text || fleet_mlperf_parse_performance(text, &perf) != 0) {
                fprintf(stderr, "tinyfleet-agent: %s: no \"Median throughput is\" line, skipped\n",
                        path);
                free(text);
                continue;
            }
            free(text);
            first = t < first ? t : first;
            last = t > last ? t : last;
            double energy = 0, acc = 0;
            int has_energy = 0, has_acc = 0;
            snprintf(path, sizeof(path), "%s/results/%s/%s/energy/results.txt", dir, sys, bench);
            if ((text = read_text(path, &t))) {
                has_energy = fleet_mlperf_parse_energy(text, &energy) == 0;
                first = t < first ? t : first;
                last = t > last ? t : last;
                free(text);
            }
            snprintf(path, sizeof(path), "%s/results/%s/%s/accuracy/results.txt", dir, sys, bench);
            if ((text = read_text(path, &t))) {
                has_acc = fleet_mlperf_parse_accuracy(text, &acc) == 0;
                first = t < first ? t : first;
                last = t > last ? t : last;
                free(text);
            }
            char started[32], finished[32], id[512];
            time_text(first, started);
            time_text(last, finished);
            snprintf(id, sizeof(id), "mlperf/%s/%s", sys, bench);
            json_t *r = json_object(), *lat = json_object();
            json_object_set_new(lat, "median", json_real(perf.median_ms));
            json_object_set_new(lat, "p90", json_real(perf.p90_ms));
            json_object_set_new(lat, "min", json_real(perf.min_ms));
            json_object_set_new(lat, "max", json_real(perf.max_ms));
            json_object_set_new(r, "id", json_string(id));
            json_object_set_new(r, "device", json_string(device));
            json_object_set_new(r, "model_sha256", json_string(sha));
            json_object_set_new(r, "framework", json_string(framework ? framework : "mlperf-tiny"));
            json_object_set_new(r, "runs", json_integer(perf.runs));
            json_object_set_new(r, "latency_ms", lat);
            json_object_set_new(r, "arena_bytes", json_null());
            json_object_set_new(r, "energy_uj", has_energy ? json_real(energy) : json_null());
            json_object_set_new(r, "accuracy", has_acc ? json_real(acc) : json_null());
            json_object_set_new(r, "started", json_string(started));
            json_object_set_new(r, "finished", json_string(finished));
            json_object_set_new(r, "status", json_string("ok"));
            json_object_set_new(r, "error", json_null());
            /* Served only if it passes the daemon's own check. */
            struct fleet_agent_result check;
            char why[256];
            if (fleet_agent_result_parse(r, &check, why, sizeof(why)) != 0) {
                fprintf(stderr, "tinyfleet-agent: %s: %s, skipped\n", id, why);
                json_decref(r);
                continue;
            }
            fleet_agent_result_clear(&check);
            json_array_append_new(out, r);
        }
        fleet_strv_free(benches);
        fleet_buf_free(&urn);
        json_decref(desc);
    }
    fleet_strv_free(systems);
    if (!out)
        snprintf(err, errlen, "out of memory");
    return out;
}
