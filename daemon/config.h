/* SPDX-License-Identifier: MIT */
/* tinyfleetd configuration: "key value" lines, '#' comments, parsed by a {name, parser, offset}
 * table. Every command-line flag has a key. A parse error names FILE:LINE. SIGHUP parses into a
 * new struct and swaps only on success. */
#ifndef FLEET_CONFIG_H
#define FLEET_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define FLEET_PATH_MAX 4096

struct fleet_config {
    char listen[256];          /* "ADDR:PORT", "[v6]:PORT"; default "127.0.0.1:8080" */
    char state_dir[FLEET_PATH_MAX];  /* default "/var/lib/tinyfleet" */
    char port_file[FLEET_PATH_MAX];  /* "" = none */
    char token_file[FLEET_PATH_MAX]; /* "" = no tokens: every write is refused */
    char ontology_dir[FLEET_PATH_MAX]; /* default PKGDATADIR "/ontology" */
    char sparql_dir[FLEET_PATH_MAX];   /* query templates; default PKGDATADIR "/sparql" */
    char arena_profile[64];    /* default arena profile for RAM needs; default tflm-2020-ilp32 */
    char cors_origin[512];     /* "" = no CORS headers; "*" or an origin */
    int require_read_token;    /* yes|no, default no */
    int allow_service;         /* sparql_service yes|no, default no (SERVICE is an SSRF hole) */
    int native_bgp;            /* sparql_native_bgp yes|no, default yes (lib/bgp.h) */
    long query_timeout_ms;     /* query_timeout, seconds (decimals allowed) or "500ms"; default 10 s */
    long shutdown_timeout_ms;  /* shutdown_timeout, default 10 s */
    uint64_t max_result_rows;  /* default 100000 */
    uint64_t max_body_bytes;   /* default 256 MiB; suffixes K, M, G (powers of 1024) */
    uint64_t snapshot_journal_bytes; /* snapshot once the journal exceeds this; default 64 MiB */
    uint64_t cache_bytes;      /* response cache budget; default 64 MiB; 0 = off */
    unsigned http_threads;     /* default 4 */
    unsigned max_connections;  /* default 1024 */
    uint64_t event_log_size;   /* Thing events kept for Last-Event-ID replay; default 1000 */
    unsigned max_event_streams; /* open SSE streams on /api/v1/events; default 64 */
    uint64_t thing_max_ttl_s;  /* thing_max_ttl: cap on a TD's ttl/expires, seconds; default 1 day */
    unsigned thing_page_limit; /* the most TDs one /api/v1/things page holds; default 100 */
    /* device agents (daemon/poller.h) */
    char agents_file[FLEET_PATH_MAX]; /* "TD_URL [INTERVAL]" lines; "" = none */
    char public_url[512];      /* where agents fetch model files; "" = http://LISTEN */
    long agent_interval_ms;    /* agent_interval: poll interval by default; default 60 s */
    long agent_timeout_ms;     /* agent_timeout: one request to an agent; default 10 s */
    long agent_max_backoff_ms; /* agent_max_backoff: longest wait after failures; default 10 min */
    long job_timeout_ms;       /* job_timeout: a job item without a result fails; default 1 h */
    uint64_t agent_max_reply_bytes; /* agent_max_reply: reply body cap; default 8 MiB */
    unsigned agent_concurrency; /* requests to agents in flight at once; default 64 */
    unsigned agent_page_size;  /* results asked for per request (limit); default 100 */
    int log_level;             /* log_level err|warning|notice|info|debug; default info */
    int storage_pg;            /* storage embedded|postgresql; default embedded */
    char pg_conninfo[1024];    /* postgresql: libpq connection string; "" = none */
    long pg_poll_ms;           /* pg_poll_interval: follow other daemons' writes; default 1 s */
};

/* Fills cfg with the defaults. */
void fleet_config_defaults(struct fleet_config *cfg);

/* Parses path into cfg (which already holds defaults or earlier values). On error returns -1 and
 * writes "PATH:LINE: message" into err. Unknown key, missing value, bad value, duplicate key are
 * errors. */
int fleet_config_load(const char *path, struct fleet_config *cfg, char *err, size_t errlen);

/* Sets one key as the config file would (used for command-line flags). "where" names the source
 * in messages, e.g. "command line". Returns -1 with a message in err. */
int fleet_config_set(struct fleet_config *cfg, const char *key, const char *value,
                     const char *where, char *err, size_t errlen);

/* Checks cross-field constraints (e.g. listen parses). Returns -1 with a message. */
int fleet_config_check(const struct fleet_config *cfg, char *err, size_t errlen);

/* The keys of the table, in its order: name i (static) for i < fleet_config_key_count(). The
 * tests hold etc/tinyfleetd.conf and the man page to this list. */
size_t fleet_config_key_count(void);
const char *fleet_config_key_name(size_t i);

/* Splits cfg->listen into host and port. Returns -1 if malformed. */
int fleet_config_listen(const struct fleet_config *cfg, char *host, size_t hostlen,
                        unsigned *port);

#endif
