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
    long query_timeout_ms;     /* query_timeout, seconds (decimals allowed) or "500ms"; default 10 s */
    long shutdown_timeout_ms;  /* shutdown_timeout, default 10 s */
    uint64_t max_result_rows;  /* default 100000 */
    uint64_t max_body_bytes;   /* default 256 MiB; suffixes K, M, G (powers of 1024) */
    uint64_t snapshot_journal_bytes; /* snapshot once the journal exceeds this; default 64 MiB */
    unsigned http_threads;     /* default 4 */
    unsigned max_connections;  /* default 1024 */
    int log_level;             /* log_level err|warning|notice|info|debug; default info */
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

/* Splits cfg->listen into host and port. Returns -1 if malformed. */
int fleet_config_listen(const struct fleet_config *cfg, char *host, size_t hostlen,
                        unsigned *port);

#endif
