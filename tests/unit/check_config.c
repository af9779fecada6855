/* SPDX-License-Identifier: MIT */
/* Tests for daemon/config.c: the defaults, every key with good and bad values, FILE:LINE in
 * messages, duplicate and unknown keys, comments and whitespace, loads that fail leaving the
 * config untouched, and "listen" splitting (IPv4, hostnames, bracketed IPv6, port 0). Config files
 * are written into a fresh mkdtemp() directory per test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* By path: under automake, -I$(top_builddir) comes first and holds autoconf's own config.h. */
#include "config.h"
#include "log.h"

#ifndef PKGDATADIR /* as in config.c */
#define PKGDATADIR "/usr/local/share/tinyfleet"
#endif

static char tmpdir[FLEET_PATH_MAX];
static char conf_path[FLEET_PATH_MAX + 32];
static char err[8192];

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/check_config.XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(conf_path, sizeof(conf_path), "%s/tinyfleetd.conf", tmpdir);
    err[0] = '\0';
}

static void teardown(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[FLEET_PATH_MAX + 300];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

/* Writes len bytes of text to conf_path. */
static void write_conf_n(const char *text, size_t len)
{
    FILE *f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_conf(const char *text)
{
    write_conf_n(text, strlen(text));
}

/* Writes text to the config file and loads it over the defaults. */
static int load_text(const char *text, struct fleet_config *cfg)
{
    fleet_config_defaults(cfg);
    write_conf(text);
    err[0] = '\0';
    return fleet_config_load(conf_path, cfg, err, sizeof(err));
}

/* err must start with "PATH:LINE: " and contain every non-NULL needle. */
static void assert_err_at(unsigned line, const char *needle1, const char *needle2)
{
    char prefix[FLEET_PATH_MAX + 64];
    snprintf(prefix, sizeof(prefix), "%s:%u: ", conf_path, line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "expected \"%s...\", got \"%s\"",
                  prefix, err);
    if (needle1)
        ck_assert_msg(strstr(err, needle1) != NULL, "\"%s\" not in \"%s\"", needle1, err);
    if (needle2)
        ck_assert_msg(strstr(err, needle2) != NULL, "\"%s\" not in \"%s\"", needle2, err);
}

START_TEST(test_defaults)
{
    struct fleet_config cfg;
    char host[64];
    unsigned port = 1;

    memset(&cfg, 0x5a, sizeof(cfg));
    fleet_config_defaults(&cfg);
    ck_assert_str_eq(cfg.listen, "127.0.0.1:8080");
    ck_assert_str_eq(cfg.state_dir, "/var/lib/tinyfleet");
    ck_assert_str_eq(cfg.port_file, "");
    ck_assert_str_eq(cfg.token_file, "");
    ck_assert_str_eq(cfg.ontology_dir, PKGDATADIR "/ontology");
    ck_assert_str_eq(cfg.cors_origin, "");
    ck_assert_int_eq(cfg.require_read_token, 0);
    ck_assert_int_eq(cfg.allow_service, 0);
    ck_assert_int_eq(cfg.query_timeout_ms, 10000);
    ck_assert_int_eq(cfg.shutdown_timeout_ms, 10000);
    ck_assert_uint_eq(cfg.max_result_rows, 100000);
    ck_assert_uint_eq(cfg.max_body_bytes, 256u * 1024 * 1024);
    ck_assert_uint_eq(cfg.snapshot_journal_bytes, 64u * 1024 * 1024);
    ck_assert_uint_eq(cfg.http_threads, 4);
    ck_assert_uint_eq(cfg.max_connections, 1024);
    ck_assert_int_eq(cfg.log_level, FLEET_LOG_INFO);
    ck_assert_int_eq(fleet_config_check(&cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(fleet_config_listen(&cfg, host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_uint_eq(port, 8080);
}
END_TEST

enum kind { STR, INT, LONG, U64, UNS };

struct good {
    const char *key, *value;
    size_t off;
    enum kind kind;
    uint64_t num;    /* expected number */
    const char *str; /* expected string (STR), NULL = value itself */
};

#define OFF(m) offsetof(struct fleet_config, m)
#define MIB (1024ULL * 1024)

static const struct good goods[] = {
    {"listen", "0.0.0.0:80", OFF(listen), STR, 0, NULL},
    {"listen", "[::1]:0", OFF(listen), STR, 0, NULL},
    {"listen", "localhost:65535", OFF(listen), STR, 0, NULL},
    {"state_dir", "/srv/my fleet", OFF(state_dir), STR, 0, NULL},
    {"state_dir", "relative/dir", OFF(state_dir), STR, 0, NULL},
    {"port_file", "/run/tinyfleet/port", OFF(port_file), STR, 0, NULL},
    {"token_file", "/etc/tinyfleet/tokens", OFF(token_file), STR, 0, NULL},
    {"ontology_dir", "/usr/share/tf/ontology", OFF(ontology_dir), STR, 0, NULL},
    {"cors_origin", "*", OFF(cors_origin), STR, 0, NULL},
    {"cors_origin", "https://example.org", OFF(cors_origin), STR, 0, NULL},
    {"cors_origin", "http://localhost:3000", OFF(cors_origin), STR, 0, NULL},
    {"require_read_token", "yes", OFF(require_read_token), INT, 1, NULL},
    {"require_read_token", "true", OFF(require_read_token), INT, 1, NULL},
    {"require_read_token", "on", OFF(require_read_token), INT, 1, NULL},
    {"require_read_token", "1", OFF(require_read_token), INT, 1, NULL},
    {"require_read_token", "YES", OFF(require_read_token), INT, 1, NULL},
    {"require_read_token", "no", OFF(require_read_token), INT, 0, NULL},
    {"require_read_token", "false", OFF(require_read_token), INT, 0, NULL},
    {"require_read_token", "off", OFF(require_read_token), INT, 0, NULL},
    {"require_read_token", "0", OFF(require_read_token), INT, 0, NULL},
    {"sparql_service", "yes", OFF(allow_service), INT, 1, NULL},
    {"sparql_service", "on", OFF(allow_service), INT, 1, NULL},
    {"sparql_service", "no", OFF(allow_service), INT, 0, NULL},
    {"sparql_native_bgp", "no", OFF(native_bgp), INT, 0, NULL},
    {"sparql_native_bgp", "yes", OFF(native_bgp), INT, 1, NULL},
    {"query_timeout", "30", OFF(query_timeout_ms), LONG, 30000, NULL},
    {"query_timeout", "2.5", OFF(query_timeout_ms), LONG, 2500, NULL},
    {"query_timeout", "0.001", OFF(query_timeout_ms), LONG, 1, NULL},
    {"query_timeout", "500ms", OFF(query_timeout_ms), LONG, 500, NULL},
    {"query_timeout", "500 ms", OFF(query_timeout_ms), LONG, 500, NULL},
    {"query_timeout", "45s", OFF(query_timeout_ms), LONG, 45000, NULL},
    {"query_timeout", "1.5s", OFF(query_timeout_ms), LONG, 1500, NULL},
    {"query_timeout", "5m", OFF(query_timeout_ms), LONG, 300000, NULL},
    {"query_timeout", "1.5m", OFF(query_timeout_ms), LONG, 90000, NULL},
    {"query_timeout", "86400", OFF(query_timeout_ms), LONG, 86400000, NULL},
    {"query_timeout", "1440m", OFF(query_timeout_ms), LONG, 86400000, NULL},
    {"shutdown_timeout", "3", OFF(shutdown_timeout_ms), LONG, 3000, NULL},
    {"shutdown_timeout", "250ms", OFF(shutdown_timeout_ms), LONG, 250, NULL},
    {"max_result_rows", "1", OFF(max_result_rows), U64, 1, NULL},
    {"max_result_rows", "18446744073709551615", OFF(max_result_rows), U64, UINT64_MAX, NULL},
    {"max_body_bytes", "1024", OFF(max_body_bytes), U64, 1024, NULL},
    {"max_body_bytes", "1K", OFF(max_body_bytes), U64, 1024, NULL},
    {"max_body_bytes", "512k", OFF(max_body_bytes), U64, 512 * 1024, NULL},
    {"max_body_bytes", "16M", OFF(max_body_bytes), U64, 16 * MIB, NULL},
    {"max_body_bytes", "2G", OFF(max_body_bytes), U64, 2048 * MIB, NULL},
    {"max_body_bytes", "16777215G", OFF(max_body_bytes), U64, 16777215ULL << 30, NULL},
    {"snapshot_journal_bytes", "1", OFF(snapshot_journal_bytes), U64, 1, NULL},
    {"snapshot_journal_bytes", "8M", OFF(snapshot_journal_bytes), U64, 8 * MIB, NULL},
    {"http_threads", "1", OFF(http_threads), UNS, 1, NULL},
    {"http_threads", "256", OFF(http_threads), UNS, 256, NULL},
    {"max_connections", "1", OFF(max_connections), UNS, 1, NULL},
    {"max_connections", "65536", OFF(max_connections), UNS, 65536, NULL},
    {"log_level", "err", OFF(log_level), INT, FLEET_LOG_ERR, NULL},
    {"log_level", "warning", OFF(log_level), INT, FLEET_LOG_WARNING, NULL},
    {"log_level", "notice", OFF(log_level), INT, FLEET_LOG_NOTICE, NULL},
    {"log_level", "info", OFF(log_level), INT, FLEET_LOG_INFO, NULL},
    {"log_level", "debug", OFF(log_level), INT, FLEET_LOG_DEBUG, NULL},
};

static void assert_field(const struct fleet_config *cfg, const struct good *g)
{
    const char *field = (const char *)cfg + g->off;
    switch (g->kind) {
    case STR:
        ck_assert_str_eq(field, g->str ? g->str : g->value);
        break;
    case INT: {
        int v;
        memcpy(&v, field, sizeof(v));
        ck_assert_int_eq(v, (int)g->num);
        break;
    }
    case LONG: {
        long v;
        memcpy(&v, field, sizeof(v));
        ck_assert_int_eq(v, (long)g->num);
        break;
    }
    case U64: {
        uint64_t v;
        memcpy(&v, field, sizeof(v));
        ck_assert_uint_eq(v, g->num);
        break;
    }
    case UNS: {
        unsigned v;
        memcpy(&v, field, sizeof(v));
        ck_assert_uint_eq(v, g->num);
        break;
    }
    }
}

START_TEST(test_good_value)
{
    const struct good *g = &goods[_i];
    int is_bool =
        strcmp(g->key, "require_read_token") == 0 || strcmp(g->key, "sparql_service") == 0;
    struct fleet_config cfg;
    char text[512];

    /* Bools start at the opposite value so that "no" is seen to change something. */
    fleet_config_defaults(&cfg);
    if (is_bool)
        *(int *)((char *)&cfg + g->off) = !g->num;
    snprintf(text, sizeof(text), "# header\n%s %s\n", g->key, g->value);
    write_conf(text);
    ck_assert_msg(fleet_config_load(conf_path, &cfg, err, sizeof(err)) == 0, "%s %s: %s", g->key,
                  g->value, err);
    assert_field(&cfg, g);
    /* One connection for four default threads is the one combination check() refuses. */
    if (strcmp(g->key, "max_connections") != 0 || g->num >= cfg.http_threads)
        ck_assert_msg(fleet_config_check(&cfg, err, sizeof(err)) == 0, "%s", err);

    /* The same value through fleet_config_set. */
    fleet_config_defaults(&cfg);
    if (is_bool)
        *(int *)((char *)&cfg + g->off) = !g->num;
    ck_assert_msg(fleet_config_set(&cfg, g->key, g->value, "command line", err, sizeof(err)) == 0,
                  "%s", err);
    assert_field(&cfg, g);
}
END_TEST

struct bad {
    const char *key, *value;
    const char *needle; /* expected in the message besides the key */
};

#define LONGSTR_MARK "@long"

static const struct bad bads[] = {
    {"listen", "127.0.0.1", "HOST:PORT"},
    {"listen", "::1:80", "HOST:PORT"},
    {"listen", "[::1]80", "HOST:PORT"},
    {"listen", "[::1]:65536", "HOST:PORT"},
    {"listen", "[zz::1]:80", "HOST:PORT"},
    {"listen", "[]:80", "HOST:PORT"},
    {"listen", ":80", "HOST:PORT"},
    {"listen", "host:", "HOST:PORT"},
    {"listen", "host:-1", "HOST:PORT"},
    {"listen", "host:+80", "HOST:PORT"},
    {"listen", "host:80x", "HOST:PORT"},
    {"listen", "127.0.0.256:80", "HOST:PORT"},
    {"listen", "ho st:80", "HOST:PORT"},
    {"listen", LONGSTR_MARK, "at most 255"},
    {"state_dir", LONGSTR_MARK, "at most 4095"},
    {"port_file", LONGSTR_MARK, "at most 4095"},
    {"token_file", LONGSTR_MARK, "at most 4095"},
    {"ontology_dir", LONGSTR_MARK, "at most 4095"},
    {"cors_origin", LONGSTR_MARK, "at most 511"},
    {"cors_origin", "example.org", "origin"},
    {"cors_origin", "https://example.org/", "origin"},
    {"cors_origin", "https://", "origin"},
    {"cors_origin", "ftp://example.org", "origin"},
    {"cors_origin", "**", "origin"},
    {"require_read_token", "maybe", "yes, no"},
    {"require_read_token", "2", "yes, no"},
    {"sparql_service", "enabled", "yes, no"},
    {"query_timeout", "0", "duration"},
    {"query_timeout", "0ms", "duration"},
    {"query_timeout", "0.0001", "duration"},
    {"query_timeout", "-1", "duration"},
    {"query_timeout", "+5", "duration"},
    {"query_timeout", "1h", "duration"},
    {"query_timeout", "5 minutes", "duration"},
    {"query_timeout", "1.", "duration"},
    {"query_timeout", ".5", "duration"},
    {"query_timeout", "1.5.2", "duration"},
    {"query_timeout", "86400.001", "duration"},
    {"query_timeout", "1441m", "duration"},
    {"query_timeout", "99999999999999999999999", "duration"},
    {"query_timeout", "ten", "duration"},
    {"shutdown_timeout", "0", "duration"},
    {"shutdown_timeout", "2d", "duration"},
    {"max_result_rows", "0", "positive integer"},
    {"max_result_rows", "-1", "positive integer"},
    {"max_result_rows", "18446744073709551616", "positive integer"},
    {"max_result_rows", "1e6", "positive integer"},
    {"max_result_rows", "0x10", "positive integer"},
    {"max_result_rows", "12 rows", "positive integer"},
    {"max_body_bytes", "1023", "at least 1024"},
    {"max_body_bytes", "0K", "at least 1024"},
    {"max_body_bytes", "1T", "at least 1024"},
    {"max_body_bytes", "1.5M", "at least 1024"},
    {"max_body_bytes", "1KB", "at least 1024"},
    {"max_body_bytes", "-1024", "at least 1024"},
    {"max_body_bytes", "17179869184G", "at least 1024"},
    {"max_body_bytes", "99999999999999999999", "at least 1024"},
    {"snapshot_journal_bytes", "0", "size > 0"},
    {"snapshot_journal_bytes", "lots", "size > 0"},
    {"http_threads", "0", "1 to 256"},
    {"http_threads", "257", "1 to 256"},
    {"http_threads", "4x", "1 to 256"},
    {"http_threads", "4294967297", "1 to 256"},
    {"max_connections", "0", "1 to 65536"},
    {"max_connections", "65537", "1 to 65536"},
    {"log_level", "verbose", "err, warning"},
    {"log_level", "7", "err, warning"},
};

START_TEST(test_bad_value)
{
    const struct bad *b = &bads[_i];
    struct fleet_config cfg, before;
    char *value = NULL;
    char *text;
    char needle[128];

    if (strcmp(b->value, LONGSTR_MARK) == 0) { /* one byte more than the field can hold */
        size_t len = FLEET_PATH_MAX;
        if (strcmp(b->key, "listen") == 0)
            len = 256;
        else if (strcmp(b->key, "cors_origin") == 0)
            len = 512;
        value = malloc(len + 1);
        ck_assert_ptr_nonnull(value);
        memset(value, 'a', len);
        value[len] = '\0';
    } else {
        value = strdup(b->value);
        ck_assert_ptr_nonnull(value);
    }
    /* Line 3 sets some other key, so the bad line is not the first one in the file. */
    ck_assert_int_ge(
        asprintf(&text, "# a comment\n\n%s\n%s %s\n",
                 strcmp(b->key, "http_threads") == 0 ? "log_level debug" : "http_threads 2", b->key,
                 value),
        0);
    fleet_config_defaults(&before);
    ck_assert_int_eq(load_text(text, &cfg), -1);
    snprintf(needle, sizeof(needle), "%s: ", b->key);
    assert_err_at(4, needle, b->needle);
    /* A failed load leaves the config as it was. */
    ck_assert_int_eq(memcmp(&cfg, &before, sizeof(cfg)), 0);

    /* The same through fleet_config_set: a message naming the source, and nothing changed. */
    err[0] = '\0';
    ck_assert_int_eq(fleet_config_set(&cfg, b->key, value, "--flag", err, sizeof(err)), -1);
    snprintf(needle, sizeof(needle), "--flag: %s: ", b->key);
    ck_assert_msg(strncmp(err, needle, strlen(needle)) == 0, "got \"%s\"", err);
    ck_assert_msg(strstr(err, b->needle) != NULL, "\"%s\" not in \"%s\"", b->needle, err);
    ck_assert_int_eq(memcmp(&cfg, &before, sizeof(cfg)), 0);
    free(text);
    free(value);
}
END_TEST

static const char *const all_keys[] = {
    "listen",
    "state_dir",
    "port_file",
    "token_file",
    "ontology_dir",
    "cors_origin",
    "require_read_token",
    "sparql_service",
    "query_timeout",
    "shutdown_timeout",
    "max_result_rows",
    "max_body_bytes",
    "snapshot_journal_bytes",
    "http_threads",
    "max_connections",
    "log_level",
};

START_TEST(test_missing_value)
{
    struct fleet_config cfg;
    char text[256];
    char needle[128];

    snprintf(needle, sizeof(needle), "%s: missing value", all_keys[_i]);
    snprintf(text, sizeof(text), "\n%s\n", all_keys[_i]);
    ck_assert_int_eq(load_text(text, &cfg), -1);
    assert_err_at(2, needle, "expected");
    /* A value that is only a comment is no value. */
    snprintf(text, sizeof(text), "%s   # later\n", all_keys[_i]);
    ck_assert_int_eq(load_text(text, &cfg), -1);
    assert_err_at(1, needle, NULL);
    ck_assert_int_eq(fleet_config_set(&cfg, all_keys[_i], "", "command line", err, sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, needle));
    ck_assert_int_eq(fleet_config_set(&cfg, all_keys[_i], NULL, "command line", err, sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, needle));
}
END_TEST

START_TEST(test_unknown_key)
{
    struct fleet_config cfg;
    ck_assert_int_eq(load_text("listen 127.0.0.1:1\n\n\nfrobnicate 1\n", &cfg), -1);
    assert_err_at(4, "unknown key \"frobnicate\"", NULL);
    ck_assert_int_eq(load_text("Listen 127.0.0.1:1\n", &cfg), -1);
    assert_err_at(1, "unknown key \"Listen\"", NULL);
    ck_assert_int_eq(load_text("listen#x 127.0.0.1:1\n", &cfg), -1);
    assert_err_at(1, "unknown key \"listen#x\"", NULL);
    ck_assert_int_eq(fleet_config_set(&cfg, "nope", "1", "command line", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "command line: unknown key \"nope\"");
}
END_TEST

START_TEST(test_duplicate_key)
{
    struct fleet_config cfg;
    ck_assert_int_eq(load_text("# dup\nhttp_threads 2\nlisten a:1\nhttp_threads 2\n", &cfg), -1);
    assert_err_at(4, "duplicate key \"http_threads\"", "line 2");
    ck_assert_uint_eq(cfg.http_threads, 4);
    /* Duplicates are per file: a second file (or a flag) may override the first. */
    ck_assert_int_eq(load_text("http_threads 2\n", &cfg), 0);
    write_conf("http_threads 3\n");
    ck_assert_int_eq(fleet_config_load(conf_path, &cfg, err, sizeof(err)), 0);
    ck_assert_uint_eq(cfg.http_threads, 3);
    ck_assert_int_eq(fleet_config_set(&cfg, "http_threads", "5", "command line", err, sizeof(err)),
                     0);
    ck_assert_uint_eq(cfg.http_threads, 5);
}
END_TEST

START_TEST(test_comments_and_whitespace)
{
    struct fleet_config cfg;
    const char *text = "# whole-line comment\n"
                       "   # indented comment\n"
                       "\n"
                       "   \t  \n"
                       "listen\t[::1]:0   # trailing comment\n"
                       "  state_dir   /srv/tiny fleet  \n"
                       "port_file /run/a#b\n"
                       "token_file /etc/tokens\t#comment after a tab\n"
                       "http_threads 8\r\n"
                       "log_level debug#not-a-comment-so-bad\n";
    ck_assert_int_eq(load_text(text, &cfg), -1);
    assert_err_at(10, "log_level: bad value \"debug#not-a-comment-so-bad\"", NULL);

    const char *good = "# whole-line comment\n"
                       "   # indented comment\n"
                       "\n"
                       "   \t  \n"
                       "listen\t[::1]:0   # trailing comment\n"
                       "  state_dir   /srv/tiny fleet  \n"
                       "port_file /run/a#b\n"
                       "token_file /etc/tokens\t#comment after a tab\n"
                       "http_threads 8\r\n"
                       "log_level debug #";
    ck_assert_msg(load_text(good, &cfg) == 0, "%s", err);
    ck_assert_str_eq(cfg.listen, "[::1]:0");
    ck_assert_str_eq(cfg.state_dir, "/srv/tiny fleet");
    ck_assert_str_eq(cfg.port_file, "/run/a#b");
    ck_assert_str_eq(cfg.token_file, "/etc/tokens");
    ck_assert_uint_eq(cfg.http_threads, 8);
    ck_assert_int_eq(cfg.log_level, FLEET_LOG_DEBUG);

    /* An empty file and a comments-only file keep the defaults. */
    struct fleet_config def;
    fleet_config_defaults(&def);
    ck_assert_int_eq(load_text("", &cfg), 0);
    ck_assert_int_eq(memcmp(&cfg, &def, sizeof(cfg)), 0);
    ck_assert_int_eq(load_text("#\n# x y\n\n", &cfg), 0);
    ck_assert_int_eq(memcmp(&cfg, &def, sizeof(cfg)), 0);
}
END_TEST

START_TEST(test_failed_load_changes_nothing)
{
    struct fleet_config cfg, before;
    fleet_config_defaults(&cfg);
    ck_assert_int_eq(fleet_config_set(&cfg, "http_threads", "9", "x", err, sizeof(err)), 0);
    before = cfg;
    write_conf("http_threads 2\nlisten 10.0.0.1:1\nstate_dir /x\nmax_connections 0\n");
    ck_assert_int_eq(fleet_config_load(conf_path, &cfg, err, sizeof(err)), -1);
    assert_err_at(4, "max_connections", NULL);
    ck_assert_int_eq(memcmp(&cfg, &before, sizeof(cfg)), 0);
}
END_TEST

START_TEST(test_file_errors)
{
    struct fleet_config cfg;
    char missing[FLEET_PATH_MAX + 64];

    fleet_config_defaults(&cfg);
    snprintf(missing, sizeof(missing), "%s/does-not-exist.conf", tmpdir);
    ck_assert_int_eq(fleet_config_load(missing, &cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, missing));
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));

    /* A directory opens but does not read. */
    ck_assert_int_eq(fleet_config_load(tmpdir, &cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, tmpdir));

    /* A NUL byte would silently cut the line short. */
    static const char nul[] = "listen 1.2.3.4:5\nstate_dir /a\0b\n";
    write_conf_n(nul, sizeof(nul) - 1);
    ck_assert_int_eq(fleet_config_load(conf_path, &cfg, err, sizeof(err)), -1);
    assert_err_at(2, "NUL", NULL);

    /* The message is bounded by errlen and still NUL-terminated. */
    char small[12];
    memset(small, 'x', sizeof(small));
    ck_assert_int_eq(load_text("bogus 1\n", &cfg), -1);
    ck_assert_int_eq(fleet_config_load(conf_path, &cfg, small, sizeof(small)), -1);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);

    /* Without a newline at the end, the last line still counts. */
    ck_assert_int_eq(load_text("http_threads 7", &cfg), 0);
    ck_assert_uint_eq(cfg.http_threads, 7);
}
END_TEST

START_TEST(test_check)
{
    struct fleet_config cfg;
    fleet_config_defaults(&cfg);
    ck_assert_int_eq(fleet_config_check(&cfg, err, sizeof(err)), 0);

    cfg.http_threads = 8;
    cfg.max_connections = 4;
    ck_assert_int_eq(fleet_config_check(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "max_connections"));

    fleet_config_defaults(&cfg);
    snprintf(cfg.listen, sizeof(cfg.listen), "nonsense");
    ck_assert_int_eq(fleet_config_check(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "listen"));

    fleet_config_defaults(&cfg);
    cfg.query_timeout_ms = 0;
    ck_assert_int_eq(fleet_config_check(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "query_timeout"));

    fleet_config_defaults(&cfg);
    cfg.state_dir[0] = '\0';
    ck_assert_int_eq(fleet_config_check(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "state_dir"));
}
END_TEST

struct listen_case {
    const char *in;
    const char *host; /* NULL: must be rejected */
    unsigned port;
};

static const struct listen_case listens[] = {
    {"127.0.0.1:8080", "127.0.0.1", 8080},
    {"0.0.0.0:0", "0.0.0.0", 0},
    {"localhost:65535", "localhost", 65535},
    {"fleet-1.example.org:443", "fleet-1.example.org", 443},
    {"[::1]:0", "::1", 0},
    {"[::]:8080", "::", 8080},
    {"[2001:db8::42]:9000", "2001:db8::42", 9000},
    {"[::ffff:192.0.2.1]:1", "::ffff:192.0.2.1", 1},
    {"127.0.0.1:08080", "127.0.0.1", 8080},
    {"127.0.0.1", NULL, 0},
    {"127.0.0.1:", NULL, 0},
    {"127.0.0.1:65536", NULL, 0},
    {"127.0.0.1:99999999999999999999999", NULL, 0},
    {":8080", NULL, 0},
    {"::1:8080", NULL, 0},
    {"[::1]", NULL, 0},
    {"[::1]8080", NULL, 0},
    {"[::1:8080", NULL, 0},
    {"[fe80::1%eth0]:80", NULL, 0},
    {"[1.2.3.4]:80", NULL, 0},
    {"1.2.3:80", NULL, 0},
    {"a_b:80", NULL, 0},
    {"host:8 0", NULL, 0},
    {"", NULL, 0},
};

START_TEST(test_listen)
{
    const struct listen_case *c = &listens[_i];
    struct fleet_config cfg;
    char host[64];
    unsigned port = 12345;

    fleet_config_defaults(&cfg);
    snprintf(cfg.listen, sizeof(cfg.listen), "%s", c->in);
    int rc = fleet_config_listen(&cfg, host, sizeof(host), &port);
    if (c->host) {
        ck_assert_msg(rc == 0, "\"%s\" rejected", c->in);
        ck_assert_str_eq(host, c->host);
        ck_assert_uint_eq(port, c->port);
        ck_assert_int_eq(fleet_config_check(&cfg, err, sizeof(err)), 0);
        ck_assert_int_eq(fleet_config_set(&cfg, "listen", c->in, "x", err, sizeof(err)), 0);
    } else {
        ck_assert_msg(rc == -1, "\"%s\" accepted", c->in);
        ck_assert_int_eq(fleet_config_check(&cfg, err, sizeof(err)), -1);
    }
}
END_TEST

START_TEST(test_listen_host_buffer)
{
    struct fleet_config cfg;
    char host[10];
    unsigned port;
    fleet_config_defaults(&cfg);
    snprintf(cfg.listen, sizeof(cfg.listen), "abcdefghi:1");
    ck_assert_int_eq(fleet_config_listen(&cfg, host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "abcdefghi");
    snprintf(cfg.listen, sizeof(cfg.listen), "abcdefghij:1");
    ck_assert_int_eq(fleet_config_listen(&cfg, host, sizeof(host), &port), -1);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_loop_test(tc, test_good_value, 0, (int)(sizeof(goods) / sizeof(goods[0])));
    tcase_add_loop_test(tc, test_bad_value, 0, (int)(sizeof(bads) / sizeof(bads[0])));
    tcase_add_loop_test(tc, test_missing_value, 0, (int)(sizeof(all_keys) / sizeof(all_keys[0])));
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_duplicate_key);
    tcase_add_test(tc, test_comments_and_whitespace);
    tcase_add_test(tc, test_failed_load_changes_nothing);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_check);
    tcase_add_loop_test(tc, test_listen, 0, (int)(sizeof(listens) / sizeof(listens[0])));
    tcase_add_test(tc, test_listen_host_buffer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
