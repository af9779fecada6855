/* SPDX-License-Identifier: MIT */
/* See harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time and files ------------------------------------------------------------------------ */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void write_file(const char *path, const char *text)
{
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", tmp, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    /* rename: a daemon re-reading the file on SIGHUP never sees half of it */
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* The whole file, NUL-terminated (new), or NULL. */
char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            ck_assert_ptr_nonnull(p);
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- daemons ----------------------------------------------------------------------------- */


struct daemon *live[MAX_LIVE];
/* Made by main() before the tests fork, removed by main() at the end: a test that fails exits
 * at once, without running cleanup code, and must not leave its directory behind. */
char run_dir[256];
int keep_dirs; /* TINYFLEET_ITEST_KEEP=1: keep logs and state for a post-mortem */

void daemon_kill(struct daemon *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        d->pid = 0;
    }
}

void daemon_free(struct daemon *d)
{
    if (!d)
        return;
    daemon_kill(d);
    if (d->root[0] && !keep_dirs)
        rm_rf(d->root);
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i] == d)
            live[i] = NULL;
    free(d);
}

/* Runs in the test process on any exit (a failed ck_assert exits the forked test) and as the
 * checked teardown (which also runs after a failure in CK_NOFORK mode). */
void reap_all(void)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i])
            daemon_free(live[i]);
}

void write_tokens(struct daemon *d, const char *text)
{
    write_file(d->tokens, text);
    chmod(d->tokens, 0600);
}

void write_conf(struct daemon *d)
{
    const char *top = getenv("TOP_SRCDIR");
    char text[4096];
    snprintf(text, sizeof(text),
             "# written by test_daemon\n"
             "token_file %s\n"
             "ontology_dir %s/ontology\n"
             "sparql_dir %s/sparql\n"
             "shutdown_timeout 5\n"
             "%s",
             d->tokens, top ? top : ".", top ? top : ".", d->extra_conf);
    write_file(d->conf, text);
}

/* A new daemon directory with a config (plus extra_conf lines) and a token file holding a write
 * and a read-only token. Not started yet. */
struct daemon *daemon_new(const char *extra_conf)
{
    struct daemon *d = calloc(1, sizeof(*d));
    ck_assert_ptr_nonnull(d);
    snprintf(d->root, sizeof(d->root), "%s/d.XXXXXX", run_dir);
    ck_assert_msg(mkdtemp(d->root) != NULL, "mkdtemp: %s", strerror(errno));
    int slot = -1;
    for (int i = 0; i < MAX_LIVE && slot < 0; i++)
        if (!live[i])
            slot = i;
    ck_assert_int_ge(slot, 0);
    live[slot] = d;
    snprintf(d->conf, sizeof(d->conf), "%s/tinyfleetd.conf", d->root);
    snprintf(d->tokens, sizeof(d->tokens), "%s/tokens", d->root);
    snprintf(d->state, sizeof(d->state), "%s/state", d->root);
    snprintf(d->port_file, sizeof(d->port_file), "%s/port", d->root);
    snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->root);
    snprintf(d->extra_conf, sizeof(d->extra_conf), "%s", extra_conf ? extra_conf : "");
    ck_assert_int_eq(mkdir(d->state, 0700), 0);
    write_tokens(d, "# test tokens\n" WRITE_TOKEN " write\n" READ_TOKEN " read\n");
    write_conf(d);
    return d;
}

void dump_log(const struct daemon *d)
{
    char *text = read_file(d->log, NULL);
    fprintf(stderr, "---- %s ----\n%s---- end of log ----\n", d->log, text ? text : "(none)\n");
    free(text);
}

/* Starts the daemon and waits (up to 20 s) for its port file. */
void daemon_start(struct daemon *d)
{
    const char *bin = getenv("TINYFLEETD");
    ck_assert_msg(bin && *bin, "TINYFLEETD is not set (run through make check)");
    ck_assert_int_eq(d->pid, 0);
    unlink(d->port_file); /* a kill -9 leaves the old one behind */
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(bin, bin, "-c", d->conf, "-l", "127.0.0.1:0", "-d", d->state, "--port-file",
              d->port_file, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    d->pid = pid;
    double deadline = now_s() + 20.0;
    for (;;) {
        char *text = read_file(d->port_file, NULL);
        if (text) {
            char *end;
            unsigned long port = strtoul(text, &end, 10);
            int ok = end != text && *end == '\n' && port > 0 && port < 65536;
            free(text);
            if (ok) {
                d->port = (unsigned)port;
                return;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            d->pid = 0;
            dump_log(d);
            ck_abort_msg("tinyfleetd exited during start-up (status 0x%x)", status);
        }
        if (now_s() > deadline) {
            dump_log(d);
            ck_abort_msg("tinyfleetd wrote no port file within 20 s");
        }
        sleep_ms(10);
    }
}

/* Sends sig and waits up to timeout_s for the exit; returns the wait status (the test fails if
 * the daemon does not exit). */
int daemon_signal_wait(struct daemon *d, int sig, double timeout_s)
{
    int status = 0;
    ck_assert_int_gt(d->pid, 0);
    ck_assert_int_eq(kill(d->pid, sig), 0);
    double deadline = now_s() + timeout_s;
    for (;;) {
        pid_t w = waitpid(d->pid, &status, WNOHANG);
        if (w == d->pid)
            break;
        if (now_s() > deadline) {
            dump_log(d);
            ck_abort_msg("tinyfleetd did not exit within %.0f s of signal %d", timeout_s, sig);
        }
        sleep_ms(10);
    }
    d->pid = 0;
    return status;
}

/* ---- HTTP ------------------------------------------------------------------------------------ */


void reply_free(struct reply *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
    struct reply *r = cls;
    size_t add = size * n;
    char *nb = realloc(r->body, r->len + add + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, add);
    r->len += add;
    nb[r->len] = '\0';
    r->body = nb;
    return add;
}

static void header_value(const char *p, size_t len, size_t namelen, char *out, size_t outlen)
{
    size_t i = namelen;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t j = len;
    while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' '))
        j--;
    size_t n = j - i < outlen - 1 ? j - i : outlen - 1;
    memcpy(out, p + i, n);
    out[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
    struct reply *r = cls;
    size_t len = size * n;
    if (len > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
        header_value(p, len, 17, r->www_auth, sizeof(r->www_auth));
    else if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0)
        header_value(p, len, 13, r->ctype, sizeof(r->ctype));
    else if (len > 9 && strncasecmp(p, "Location:", 9) == 0)
        header_value(p, len, 9, r->location, sizeof(r->location));
    else if (len > 5 && strncasecmp(p, "ETag:", 5) == 0)
        header_value(p, len, 5, r->etag, sizeof(r->etag));
    else if (len > 5 && strncasecmp(p, "Link:", 5) == 0)
        header_value(p, len, 5, r->link, sizeof(r->link));
    else if (len > 6 && strncasecmp(p, "Allow:", 6) == 0)
        header_value(p, len, 6, r->allow, sizeof(r->allow));
    return len;
}

/* Set to send the next request's body with chunked transfer encoding (no Content-Length). */
int chunked_next;

/* One exchange with the daemon on 127.0.0.1. token, ctype, accept may be NULL (then no
 * Authorization, Content-Type or Accept header is sent at all); body may be NULL. */
void http(const struct daemon *d, const char *method, const char *path, const char *token,
                 const char *ctype, const char *accept, const char *body, size_t blen,
                 struct reply *r)
{
    char url[8192], h[512];
    struct curl_slist *hdrs = NULL;
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", d->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0 || body) {
        /* a GET with a body stays a GET (libcurl would make it a POST) */
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (chunked_next) {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        chunked_next = 0;
    }
    if (token) {
        snprintf(h, sizeof(h), "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, h);
    }
    if (ctype) {
        snprintf(h, sizeof(h), "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, h);
    } else {
        hdrs = curl_slist_append(hdrs, "Content-Type:");
    }
    if (accept) {
        snprintf(h, sizeof(h), "Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, h);
    } else {
        hdrs = curl_slist_append(hdrs, "Accept:");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    double t0 = now_s();
    r->rc = curl_easy_perform(c);
    r->secs = now_s() - t0;
    if (r->rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (!r->body) {
        r->body = calloc(1, 1);
        ck_assert_ptr_nonnull(r->body);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
}

char *escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    ck_assert_ptr_nonnull(e);
    char *copy = strdup(e);
    curl_free(e);
    ck_assert_ptr_nonnull(copy);
    return copy;
}

/* 1 if the reply's media type (parameters ignored) is mt. */
int media_is(const struct reply *r, const char *mt)
{
    size_t n = strlen(mt);
    return strncasecmp(r->ctype, mt, n) == 0 &&
           (r->ctype[n] == '\0' || r->ctype[n] == ';' || r->ctype[n] == ' ');
}

/* Asserts an RFC 7807 problem with the given status. */
void assert_problem(const struct reply *r, long status)
{
    ck_assert_msg(r->status == status, "expected HTTP %ld, got %ld: %s", status, r->status,
                  r->body);
    ck_assert_msg(media_is(r, "application/problem+json"),
                  "a %ld should be application/problem+json, got '%s'", status, r->ctype);
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->len, 0, &jerr);
    ck_assert_msg(j != NULL, "problem body is not JSON (%s): %s", jerr.text, r->body);
    ck_assert_msg(json_integer_value(json_object_get(j, "status")) == status,
                  "problem status member is not %ld: %s", status, r->body);
    ck_assert_msg(json_is_string(json_object_get(j, "type")), "problem has no type: %s", r->body);
    ck_assert_msg(json_is_string(json_object_get(j, "title")), "problem has no title: %s", r->body);
    json_decref(j);
}

void data_path(char *out, size_t outlen, const char *graph)
{
    if (!graph) {
        snprintf(out, outlen, "/data?default");
        return;
    }
    char *e = escape(graph);
    snprintf(out, outlen, "/data?graph=%s", e);
    free(e);
}

/* PUT or POST a document to a graph (NULL = the default graph) with the write token. */
long send_graph(const struct daemon *d, const char *method, const char *graph,
                       const char *ctype, const char *doc)
{
    char path[2048];
    struct reply r;
    data_path(path, sizeof(path), graph);
    http(d, method, path, WRITE_TOKEN, ctype, NULL, doc, strlen(doc), &r);
    long st = r.status;
    if (st / 100 != 2)
        fprintf(stderr, "%s %s -> %ld %s\n", method, path, st, r.body);
    reply_free(&r);
    return st;
}

int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the non-empty lines of text (modified in place) and returns them joined by '\n'
 * (new). */
char *sorted_lines(char *text)
{
    size_t n = 0, cap = 16;
    char **lines = malloc(cap * sizeof(*lines));
    ck_assert_ptr_nonnull(lines);
    for (char *save = NULL, *l = strtok_r(text, "\r\n", &save); l;
         l = strtok_r(NULL, "\r\n", &save)) {
        if (!*l)
            continue;
        if (n == cap) {
            cap *= 2;
            lines = realloc(lines, cap * sizeof(*lines));
            ck_assert_ptr_nonnull(lines);
        }
        lines[n++] = l;
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(lines[i]) + 1;
    char *out = malloc(total);
    ck_assert_ptr_nonnull(out);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, "\n");
        strcat(out, lines[i]);
    }
    free(lines);
    return out;
}

/* The graph as sorted N-Triples lines, or "404" (new). */
char *graph_lines(const struct daemon *d, const char *graph)
{
    char path[2048];
    struct reply r;
    data_path(path, sizeof(path), graph);
    http(d, "GET", path, NULL, NULL, "application/n-triples", NULL, 0, &r);
    if (r.status == 404) {
        reply_free(&r);
        return strdup("404");
    }
    ck_assert_msg(r.status == 200, "GET %s: HTTP %ld %s", path, r.status, r.body);
    ck_assert_msg(media_is(&r, "application/n-triples"), "GET %s as N-Triples gave '%s'", path,
                  r.ctype);
    char *out = sorted_lines(r.body);
    reply_free(&r);
    return out;
}

/* One SPARQL JSON term as text: IRIs and literals by value, blank nodes as _:label. */
void term_text(json_t *t, char *out, size_t outlen)
{
    const char *type = json_string_value(json_object_get(t, "type"));
    const char *value = json_string_value(json_object_get(t, "value"));
    if (!t || !type || !value)
        snprintf(out, outlen, "-");
    else if (strcmp(type, "bnode") == 0)
        snprintf(out, outlen, "_:%s", value);
    else
        snprintf(out, outlen, "%s", value);
}

/* Turns a SPARQL JSON results document into sorted lines, one per row, the values of the head's
 * variables in order separated by spaces (unbound: "-"). new. */
char *json_rows(const char *body, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    ck_assert_msg(j != NULL, "results are not JSON (%s): %.300s", jerr.text, body);
    json_t *vars = json_object_get(json_object_get(j, "head"), "vars");
    json_t *rows = json_object_get(json_object_get(j, "results"), "bindings");
    ck_assert_msg(json_is_array(vars) && json_is_array(rows), "not SELECT results: %.300s", body);
    size_t cap = 64, n = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    text[0] = '\0';
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        size_t k;
        json_t *var;
        json_array_foreach(vars, k, var)
        {
            char val[2048];
            term_text(json_object_get(row, json_string_value(var)), val, sizeof(val));
            size_t need = n + strlen(val) + 3;
            if (need > cap) {
                cap = need * 2;
                text = realloc(text, cap);
                ck_assert_ptr_nonnull(text);
            }
            n += (size_t)sprintf(text + n, "%s%s", k ? " " : "", val);
        }
        if (n + 2 > cap) {
            cap = cap * 2;
            text = realloc(text, cap);
            ck_assert_ptr_nonnull(text);
        }
        text[n++] = '\n';
        text[n] = '\0';
    }
    json_decref(j);
    char *out = sorted_lines(text);
    free(text);
    return out;
}

/* Runs a SELECT by GET (params: extra query-string text such as "default-graph-uri=...", or
 * NULL) and returns its rows as sorted lines (new); asserts a 200. */
char *select_rows(const struct daemon *d, const char *params, const char *query)
{
    char *eq = escape(query);
    size_t plen = strlen(eq) + (params ? strlen(params) : 0) + 32;
    char *path = malloc(plen);
    ck_assert_ptr_nonnull(path);
    snprintf(path, plen, "/sparql?query=%s%s%s", eq, params ? "&" : "", params ? params : "");
    free(eq);
    struct reply r;
    http(d, "GET", path, NULL, NULL, "application/sparql-results+json", NULL, 0, &r);
    ck_assert_msg(r.status == 200, "query %s: HTTP %ld %s", query, r.status, r.body);
    ck_assert_msg(media_is(&r, "application/sparql-results+json"), "query gave '%s'", r.ctype);
    char *out = json_rows(r.body, r.len);
    reply_free(&r);
    free(path);
    return out;
}

/* Runs an ASK by POST application/sparql-query; returns 1 or 0 (asserts a boolean answer). */
int ask(const struct daemon *d, const char *query)
{
    struct reply r;
    http(d, "POST", "/sparql", NULL, "application/sparql-query", "application/sparql-results+json",
         query, strlen(query), &r);
    ck_assert_msg(r.status == 200, "ASK: HTTP %ld %s", r.status, r.body);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    ck_assert_msg(j && json_is_boolean(json_object_get(j, "boolean")), "not an ASK result: %s",
                  r.body);
    int b = json_is_true(json_object_get(j, "boolean"));
    json_decref(j);
    reply_free(&r);
    return b;
}

/* POSTs an update as application/sparql-update; returns the status, the body in r if wanted. */
long update(const struct daemon *d, const char *token, const char *text, struct reply *out)
{
    struct reply r;
    http(d, "POST", "/sparql", token, "application/sparql-update", NULL, text, strlen(text), &r);
    long st = r.status;
    if (out)
        *out = r;
    else
        reply_free(&r);
    return st;
}

/* POSTs a multipart upload: part "model" (len bytes of model, if model) and part "metadata"
 * (if meta). */
void upload_model(const struct daemon *d, const char *token, const void *model, size_t len,
                   const char *meta, struct reply *r)
{
    char url[256], h[256];
    struct curl_slist *hdrs = NULL;
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    curl_mime *mime = curl_mime_init(c);
    if (model) {
        curl_mimepart *p = curl_mime_addpart(mime);
        curl_mime_name(p, "model");
        curl_mime_filename(p, "model.tflite");
        curl_mime_type(p, "application/octet-stream");
        curl_mime_data(p, model, len);
    }
    if (meta) {
        curl_mimepart *p = curl_mime_addpart(mime);
        curl_mime_name(p, "metadata");
        curl_mime_type(p, "application/json");
        curl_mime_data(p, meta, CURL_ZERO_TERMINATED);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/models", d->port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (token) {
        snprintf(h, sizeof(h), "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, h);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    /* Reuse the harness's reply handling by doing the exchange through a one-off FILE. */
    FILE *body = tmpfile(), *heads = tmpfile();
    ck_assert_ptr_nonnull(body);
    ck_assert_ptr_nonnull(heads);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, heads);
    r->rc = curl_easy_perform(c);
    if (r->rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    long n = ftell(body);
    r->body = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    ck_assert_ptr_nonnull(r->body);
    rewind(body);
    r->len = fread(r->body, 1, (size_t)(n > 0 ? n : 0), body);
    char line[2048];
    rewind(heads);
    while (fgets(line, sizeof(line), heads)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncasecmp(line, "Content-Type: ", 14) == 0)
            snprintf(r->ctype, sizeof(r->ctype), "%.255s", line + 14);
        else if (strncasecmp(line, "Location: ", 10) == 0)
            snprintf(r->location, sizeof(r->location), "%.511s", line + 10);
    }
    fclose(body);
    fclose(heads);
    curl_slist_free_all(hdrs);
    curl_mime_free(mime);
    curl_easy_cleanup(c);
}

int harness_main(const char *name, Suite *suite)
{
    if (!getenv("TINYFLEETD")) {
        fprintf(stderr, "%s: TINYFLEETD is not set; run it through make check\n", name);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *tmp = getenv("TMPDIR");
    snprintf(run_dir, sizeof(run_dir), "%s/tinyfleet-itest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(run_dir)) {
        fprintf(stderr, "%s: mkdtemp %s: %s\n", name, run_dir, strerror(errno));
        return EXIT_FAILURE;
    }
    const char *keep = getenv("TINYFLEET_ITEST_KEEP");
    keep_dirs = keep && *keep && strcmp(keep, "0") != 0;
    atexit(reap_all);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY, default normal */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    if (keep_dirs)
        printf("%s: daemon directories kept in %s\n", name, run_dir);
    else
        rm_rf(run_dir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

json_t *reply_json(const struct reply *r)
{
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->len, 0, &jerr);
    ck_assert_msg(j != NULL, "not JSON (%s): %.300s", jerr.text, r->body);
    return j;
}

json_t *get_json(const struct daemon *d, const char *path, long want)
{
    struct reply r;
    http(d, "GET", path, NULL, NULL, "application/json", NULL, 0, &r);
    ck_assert_msg(r.status == want, "GET %s: HTTP %ld (want %ld) %.400s", path, r.status, want,
                  r.body);
    json_t *j = reply_json(&r);
    reply_free(&r);
    return j;
}
