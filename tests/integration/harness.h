/* SPDX-License-Identifier: MIT */
/* The integration tests' harness: real tinyfleetd processes on 127.0.0.1 port 0, each in its own
 * mkdtemp directory under the run directory (config, token file, state dir, log), and HTTP
 * exchanges with them through libcurl. Every daemon a test starts is killed on every path: by the
 * test, by the checked teardown (reap_all), by an atexit handler, and, last, by Check killing the
 * test's process group. A suite's main() is harness_main(). */
#ifndef FLEET_ITEST_HARNESS_H
#define FLEET_ITEST_HARNESS_H

#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#define EX "http://example.org/"
#define WRITE_TOKEN "itest-write-0123456789abcdef"
#define READ_TOKEN "itest-read-0123456789abcdef"
#define NEW_TOKEN "itest-reloaded-0123456789abcdef"
#define XSD "http://www.w3.org/2001/XMLSchema#"
#define MAX_LIVE 8

struct daemon {
    char root[320]; /* mkdtemp: everything below lives here */
    char conf[400];
    char tokens[400];
    char state[400];
    char port_file[400];
    char log[400];
    char extra_conf[1024];
    pid_t pid; /* 0 when not running */
    unsigned port;
};

struct reply {
    long status; /* 0 if the exchange failed */
    CURLcode rc;
    char *body; /* NUL-terminated (new) */
    size_t len;
    char ctype[256]; /* the whole Content-Type header value */
    char www_auth[256];
    char location[512];
    char etag[256];
    char link[1024];
    char allow[256];
    double secs;
};

extern struct daemon *live[MAX_LIVE];
extern char run_dir[256];
extern int keep_dirs;
/* Set to send the next request's body with chunked transfer encoding (no Content-Length). */
extern int chunked_next;

double now_s(void);
void sleep_ms(long ms);
void write_file(const char *path, const char *text);
char *read_file(const char *path, size_t *len);
void rm_rf(const char *dir);
void daemon_kill(struct daemon *d);
void daemon_free(struct daemon *d);
void reap_all(void);
void write_tokens(struct daemon *d, const char *text);
void write_conf(struct daemon *d);
struct daemon *daemon_new(const char *extra_conf);
void dump_log(const struct daemon *d);
void daemon_start(struct daemon *d);
int daemon_signal_wait(struct daemon *d, int sig, double timeout_s);
void reply_free(struct reply *r);
void http(const struct daemon *d, const char *method, const char *path, const char *token,
                 const char *ctype, const char *accept, const char *body, size_t blen,
                 struct reply *r);
char *escape(const char *s);
int media_is(const struct reply *r, const char *mt);
void assert_problem(const struct reply *r, long status);
/* The reply's body as JSON (new); fails the test if it is not JSON. */
json_t *reply_json(const struct reply *r);
/* GET path, asserting status want; the body as JSON (new). */
json_t *get_json(const struct daemon *d, const char *path, long want);
void data_path(char *out, size_t outlen, const char *graph);
long send_graph(const struct daemon *d, const char *method, const char *graph,
                       const char *ctype, const char *doc);
int cmp_str(const void *a, const void *b);
char *sorted_lines(char *text);
char *graph_lines(const struct daemon *d, const char *graph);
void term_text(json_t *t, char *out, size_t outlen);
char *json_rows(const char *body, size_t len);
char *select_rows(const struct daemon *d, const char *params, const char *query);
int ask(const struct daemon *d, const char *query);
long update(const struct daemon *d, const char *token, const char *text, struct reply *out);

/* POSTs a multipart upload to /api/v1/models: part "model" (len bytes of model, if model) and part
 * "metadata" (if meta). The reply has status, body, Content-Type and Location. */
void upload_model(const struct daemon *d, const char *token, const void *model, size_t len,
                  const char *meta, struct reply *r);

/* Creates the run directory, runs the suite (CK_ENV verbosity) and removes the directory unless
 * TINYFLEET_ITEST_KEEP=1. Returns main()'s exit status (77 = skipped without $TINYFLEETD). */
int harness_main(const char *name, Suite *suite);

#endif
