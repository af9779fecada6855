/* SPDX-License-Identifier: MIT */
/* tinyfleet-inspect: the offline analysis of one .tflite file, for a CI pipeline step that wants
 * the figures tinyfleetd would compute (sha256, flash, MACs, layers, quantization, arena) without
 * a running daemon. JSON prints exactly the analysis the daemon stores (fleet_model_info_json);
 * text prints a table of the layers and a summary; turtle prints the model's named graph exactly
 * as tinyfleetd would write it for an upload with the given --metadata (the metadata's names of
 * categories, metrics and sensors are checked against the ontology, so the ontology directory is
 * read: --ontology-dir, default the installed one). Turtle builds the graph in a throw-away store
 * under $TMPDIR, removed on exit. Exit status: 0 on success, 1 when the file
 * cannot be read or is not a valid model (the message names the defect), 2 on a usage error.
 * Usage: tinyfleet-inspect FILE.tflite [--profile P] [--format json|text|turtle]
 *        [--metadata FILE.json] [--ontology-dir DIR] */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "model.h"
#include "model_graph.h"
#include "store.h"

#define PROG "tinyfleet-inspect"

/* Output formats; a new one is an enum value, a row in formats[] and a case in main(). */
enum format { FORMAT_JSON, FORMAT_TEXT, FORMAT_TURTLE };

static const struct {
    const char *name;
    enum format format;
} formats[] = {
    {"json", FORMAT_JSON},
    {"text", FORMAT_TEXT},
    {"turtle", FORMAT_TURTLE},
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

static int read_file(const char *path, uint8_t **data, size_t *len);

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " FILE.tflite [--profile P] [--format F] [--metadata M.json]\n"
               "           [--ontology-dir DIR]\n"
               "  --profile P  report the arena under profile P only; with turtle, the profile\n"
               "               whose estimate is the model's RAM requirement (");
    const char *const *p = fleet_arena_profiles();
    for (size_t i = 0; p[i]; i++)
        fprintf(f, "%s%s", i ? ", " : "", p[i]);
    fprintf(f, ")\n  --format F   output format (");
    for (size_t i = 0; i < N_FORMATS; i++)
        fprintf(f, "%s%s", i ? ", " : "", formats[i].name);
    fprintf(f, "; default json)\n"
               "  --metadata M.json   the upload's metadata (needed by turtle)\n"
               "  --ontology-dir DIR  the ontology files (turtle; default %s)\n",
            PKGDATADIR "/ontology");
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* The model's graph as Turtle, built as the daemon builds it, on stdout. Returns 0 or -1 with a
 * message printed. */
static int print_turtle(const char *path, const struct fleet_model_info *info,
                        const char *meta_path, const char *ontology_dir, const char *profile)
{
    char dir[512], err[1024], field[128], id[17], graph[256];
    const char *tmp = getenv("TMPDIR");
    struct fleet_store *st = NULL;
    struct fleet_vocab vocab;
    struct fleet_model_meta *meta = NULL;
    struct fleet_txn *txn = NULL;
    struct fleet_buf out = FLEET_BUF_INIT;
    uint8_t *meta_json = NULL;
    size_t meta_len = 0;
    char *doc = NULL;
    int rc = -1, have_vocab = 0;
    enum fleet_err e;

    if (read_file(meta_path, &meta_json, &meta_len) < 0) {
        fprintf(stderr, PROG ": %s: %s\n", meta_path, strerror(errno));
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s/tinyfleet-inspect.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, PROG ": mkdtemp %s: %s\n", dir, strerror(errno));
        free(meta_json);
        return -1;
    }
    struct fleet_store_options opt = {.state_dir = dir, .ontology_dir = ontology_dir};
    if ((e = fleet_store_open(&opt, &st, err, sizeof(err))) != FLEET_OK) {
        fprintf(stderr, PROG ": the ontology in %s: %s\n", ontology_dir, err);
        goto out;
    }
    if (fleet_vocab_load(st, &vocab, err, sizeof(err)) != FLEET_OK) {
        fprintf(stderr, PROG ": the ontology in %s: %s\n", ontology_dir, err);
        goto out;
    }
    have_vocab = 1;
    e = fleet_model_meta_parse((const char *)meta_json, meta_len, &vocab, &meta, field,
                               sizeof(field), err, sizeof(err));
    if (e != FLEET_OK) {
        fprintf(stderr, PROG ": %s: %s: %s\n", meta_path, field, err);
        goto out;
    }
    fleet_model_id(info->sha256, meta->name, id);
    doc = fleet_model_document(info, id, (const char *)meta_json, profile, time(NULL));
    txn = fleet_txn_new();
    if (!doc || !txn || fleet_model_txn(info, meta, &vocab, id, profile, doc, txn) != FLEET_OK ||
        fleet_store_commit(st, txn) != FLEET_OK) {
        fprintf(stderr, PROG ": %s: cannot build the model's graph\n", path);
        goto out;
    }
    fleet_model_graph_iri(id, graph, sizeof(graph));
    if (fleet_store_graph_get(st, graph, FLEET_RDF_TURTLE, &out) != FLEET_OK || out.oom) {
        fprintf(stderr, PROG ": %s: cannot serialise the model's graph\n", path);
        goto out;
    }
    fwrite(out.data, 1, out.len, stdout);
    rc = 0;
out:
    fleet_buf_free(&out);
    fleet_txn_free(txn);
    free(doc);
    fleet_model_meta_free(meta);
    if (have_vocab)
        fleet_vocab_free(&vocab);
    fleet_store_close(st);
    free(meta_json);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}

/* Reads the whole file into *data (new, free()). Returns 0, or -1 with errno set. */
static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct fleet_buf b = FLEET_BUF_INIT;
    char chunk[65536];
    size_t n;
    int saved;

    if (!f)
        return -1;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fleet_buf_append(&b, chunk, n);
    if (ferror(f) || b.oom) {
        saved = ferror(f) ? EIO : ENOMEM;
        fclose(f);
        fleet_buf_free(&b);
        errno = saved;
        return -1;
    }
    fclose(f);
    *data = (uint8_t *)fleet_buf_steal(&b, len);
    if (!*data) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

static void shape_text(const struct fleet_io *io, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (uint32_t i = 0; i < io->rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%d", i ? ", " : "", (int)io->shape[i]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
}

static void print_text(const char *path, const struct fleet_model_info *info)
{
    char in[160], out[160];
    shape_text(&info->input, in, sizeof(in));
    shape_text(&info->output, out, sizeof(out));
    printf("model         %s\n", path);
    printf("sha256        %s\n", info->sha256);
    printf("flash         %llu bytes\n", (unsigned long long)info->flash_bytes);
    printf("MACs          %llu\n", (unsigned long long)info->macs);
    printf("tensors       %u\n", info->n_tensors);
    printf("operators     %u\n", info->n_ops);
    printf("quantization  %s\n", info->quantization);
    printf("input         %s %s\n", info->input.dtype, in);
    printf("output        %s %s\n", info->output.dtype, out);
    for (size_t i = 0; i < info->n_arena; i++) {
        const struct fleet_arena *a = &info->arena[i].arena;
        printf("%-14s%-18s %llu bytes (head %llu + tail %llu)%s\n", i ? "" : "arena",
               info->arena[i].profile, (unsigned long long)a->total_bytes,
               (unsigned long long)a->head_bytes, (unsigned long long)a->tail_bytes,
               a->offline_planned ? ", offline plan" : "");
    }
    if (info->n_arena)
        printf("note          %s\n", info->arena[0].arena.caveat);
    printf("\n%5s  %-32s %-13s %-10s %12s\n", "#", "layer", "activation", "dtype", "MACs");
    for (size_t i = 0; i < info->n_layers; i++) {
        const struct fleet_layer *l = &info->layers[i];
        printf("%5u  %-32s %-13s %-10s %12llu\n", l->index, l->type,
               l->activation ? l->activation : "-", l->dtype, (unsigned long long)l->macs);
    }
}

int main(int argc, char **argv)
{
    const char *path = NULL, *profile = NULL, *format_name = "json", *meta_path = NULL;
    const char *ontology_dir = PKGDATADIR "/ontology";
    uint8_t *data = NULL;
    size_t len = 0;
    struct fleet_model_info *info = NULL;
    char err[512];
    int status = 1, options = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **target = NULL, *value = NULL;
        if (options && strcmp(a, "--") == 0) {
            options = 0;
            continue;
        }
        if (options && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            usage(stdout);
            return 0;
        }
        if (options && strncmp(a, "--profile", 9) == 0 && (a[9] == '\0' || a[9] == '='))
            target = &profile, value = a[9] ? a + 10 : NULL;
        else if (options && strncmp(a, "--format", 8) == 0 && (a[8] == '\0' || a[8] == '='))
            target = &format_name, value = a[8] ? a + 9 : NULL;
        else if (options && strncmp(a, "--metadata", 10) == 0 && (a[10] == '\0' || a[10] == '='))
            target = &meta_path, value = a[10] ? a + 11 : NULL;
        else if (options && strncmp(a, "--ontology-dir", 14) == 0 &&
                 (a[14] == '\0' || a[14] == '='))
            target = &ontology_dir, value = a[14] ? a + 15 : NULL;
        if (target) {
            if (!value) {
                if (i + 1 == argc) {
                    fprintf(stderr, PROG ": %s needs a value\n", a);
                    usage(stderr);
                    return 2;
                }
                value = argv[++i];
            }
            *target = value;
            continue;
        }
        if (options && a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, PROG ": unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (path) {
            fprintf(stderr, PROG ": one model at a time (%s, then %s)\n", path, a);
            usage(stderr);
            return 2;
        }
        path = a;
    }
    if (!path) {
        fprintf(stderr, PROG ": no model file given\n");
        usage(stderr);
        return 2;
    }
    size_t fi = 0;
    while (fi < N_FORMATS && strcmp(formats[fi].name, format_name) != 0)
        fi++;
    if (fi == N_FORMATS) {
        fprintf(stderr, PROG ": unknown format \"%s\"\n", format_name);
        usage(stderr);
        return 2;
    }
    if (formats[fi].format == FORMAT_TURTLE && !meta_path) {
        fprintf(stderr, PROG ": --format turtle needs --metadata FILE.json (the name, category "
                        "and sensors are part of the model's triples)\n");
        usage(stderr);
        return 2;
    }
    if (profile && !fleet_arena_profile_known(profile)) {
        fprintf(stderr, PROG ": unknown profile \"%s\"\n", profile);
        usage(stderr);
        return 2;
    }

    if (read_file(path, &data, &len) < 0) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        goto out;
    }
    enum fleet_err rc = fleet_model_analyse(data, len, &info, err, sizeof(err));
    if (rc != FLEET_OK) {
        fprintf(stderr, PROG ": %s: %s: %s\n", path, fleet_strerror(rc), err);
        goto out;
    }
    if (info->schema_version != 3)
        fprintf(stderr, PROG ": %s: warning: schema version %u (expected 3)\n", path,
                info->schema_version);

    /* --profile: a copy of the analysis that holds only that profile's arena. */
    struct fleet_model_info shown = *info;
    if (profile) {
        shown.n_arena = 0;
        for (size_t k = 0; k < info->n_arena; k++)
            if (strcmp(info->arena[k].profile, profile) == 0)
                shown.arena[shown.n_arena++] = info->arena[k];
    }

    switch (formats[fi].format) {
    case FORMAT_JSON: {
        struct fleet_buf b = FLEET_BUF_INIT;
        fleet_model_info_json(&shown, &b);
        fleet_buf_putc(&b, '\n');
        if (b.oom) {
            fprintf(stderr, PROG ": out of memory\n");
            fleet_buf_free(&b);
            goto out;
        }
        fwrite(b.data, 1, b.len, stdout);
        fleet_buf_free(&b);
        break;
    }
    case FORMAT_TEXT:
        print_text(path, &shown);
        break;
    case FORMAT_TURTLE:
        if (print_turtle(path, info, meta_path, ontology_dir,
                         profile ? profile : FLEET_ARENA_PROFILE_ILP32) < 0)
            goto out;
        break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": writing the output: %s\n", strerror(errno));
        goto out;
    }
    status = 0;
out:
    fleet_model_info_free(info);
    free(data);
    return status;
}
