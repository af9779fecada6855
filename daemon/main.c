/* SPDX-License-Identifier: MIT */
/* tinyfleetd: start-up, signals and shutdown. Modules start in order (config, tokens, store,
 * HTTP) and stop in reverse. The main thread owns the signals: SIGTERM/SIGINT/SIGHUP are blocked
 * in every thread and taken with sigtimedwait(), so no handler runs asynchronously; the same loop
 * drives the store's housekeeping once a second and tells the service manager (notify.c) when the
 * daemon is ready, reloading or stopping, and that it is alive (the watchdog). The daemon stays in
 * the foreground. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "auth.h"
#include "backup.h"
#include "blobs.h"
#include "config.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "poller.h"
#include "routes.h"
#include "store.h"
#include "things.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tinyfleetd [-c FILE] [-l ADDR:PORT] [-d STATE_DIR] [--port-file FILE] [-t]\n"
            "                  [--restore ARCHIVE] [--version] [--help]\n"
            "  -c, --config FILE     read the configuration file (key value lines)\n"
            "  -l, --listen ADDR:PORT  listen address (config: listen); port 0 picks a free port\n"
            "  -d, --state-dir DIR   store directory (config: state_dir)\n"
            "      --port-file FILE  write the bound port to FILE once listening (config: "
            "port_file)\n"
            "  -t, --test-config     check the configuration and exit\n"
            "      --restore ARCHIVE build the (new, empty) state directory from a backup made\n"
            "                        by GET /api/v1/admin/backup, then exit\n"
            "      --version         print the version and exit\n"
            "  -h, --help            this text\n");
}

struct cli {
    const char *config;
    const char *listen;
    const char *state_dir;
    const char *port_file;
    const char *restore;
    int test_only;
};

/* Loads the config file and applies the command line over it. Exit code 2 on error. */
static int load_config(const struct cli *cli, struct fleet_config *cfg, struct fleet_tokens **tok,
                       char *err, size_t errlen)
{
    fleet_config_defaults(cfg);
    if (cli->config && fleet_config_load(cli->config, cfg, err, errlen) != 0)
        return -1;
    if (cli->listen && fleet_config_set(cfg, "listen", cli->listen, "command line", err, errlen))
        return -1;
    if (cli->state_dir &&
        fleet_config_set(cfg, "state_dir", cli->state_dir, "command line", err, errlen))
        return -1;
    if (cli->port_file &&
        fleet_config_set(cfg, "port_file", cli->port_file, "command line", err, errlen))
        return -1;
    if (fleet_config_check(cfg, err, errlen) != 0)
        return -1;
    if (cfg->token_file[0]) {
        if (fleet_tokens_load(cfg->token_file, tok, err, errlen) != FLEET_OK)
            return -1;
    } else {
        *tok = fleet_tokens_new_empty();
        if (!*tok) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int write_port_file(const char *path, unsigned port)
{
    char tmp[FLEET_PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

/* Keys read once at start-up (by the listener, the store, the event log, the template loader).
 * A reload keeps their running values, so d->cfg always says what is in force, and names the
 * ones that changed. */
#define RESTART_KEY(key, member, is_string)                                                        \
    {key, offsetof(struct fleet_config, member), sizeof(((struct fleet_config *)0)->member),      \
     is_string}
static const struct {
    const char *key;
    size_t offset, size;
    int is_string; /* compared up to the NUL: the bytes after it are not part of the value */
} restart_keys[] = {
    RESTART_KEY("listen", listen, 1),
    RESTART_KEY("state_dir", state_dir, 1),
    RESTART_KEY("port_file", port_file, 1),
    RESTART_KEY("ontology_dir", ontology_dir, 1),
    RESTART_KEY("sparql_dir", sparql_dir, 1),
    RESTART_KEY("sparql_service", allow_service, 0),
    RESTART_KEY("sparql_native_bgp", native_bgp, 0),
    RESTART_KEY("snapshot_journal_bytes", snapshot_journal_bytes, 0),
    RESTART_KEY("http_threads", http_threads, 0),
    RESTART_KEY("max_connections", max_connections, 0),
    RESTART_KEY("event_log_size", event_log_size, 0),
    RESTART_KEY("cache_bytes", cache_bytes, 0),
    RESTART_KEY("storage", storage_pg, 0),
    RESTART_KEY("postgresql", pg_conninfo, 1),
    RESTART_KEY("pg_poll_interval", pg_poll_ms, 0),
};

static void reload(struct fleet_daemon *d, const struct cli *cli)
{
    struct fleet_config cfg;
    struct fleet_tokens *tok = NULL;
    char err[1024] = "";
    if (load_config(cli, &cfg, &tok, err, sizeof(err)) != 0) {
        fleet_log(FLEET_LOG_ERR, "reload failed, keeping the old configuration: %s", err);
        fleet_metrics_reload(0);
        return;
    }
    for (size_t i = 0; i < sizeof(restart_keys) / sizeof(restart_keys[0]); i++) {
        char *now = (char *)&cfg + restart_keys[i].offset;
        const char *running = (const char *)&d->cfg + restart_keys[i].offset;
        if (restart_keys[i].is_string ? strcmp(now, running) != 0
                                      : memcmp(now, running, restart_keys[i].size) != 0)
            fleet_log(FLEET_LOG_WARNING, "reload: %s takes effect at restart only",
                      restart_keys[i].key);
        memcpy(now, running, restart_keys[i].size);
    }
    pthread_rwlock_wrlock(&d->cfg_lock);
    struct fleet_tokens *old = d->tokens;
    d->cfg = cfg;
    d->tokens = tok;
    fleet_log_set_level(cfg.log_level);
    fleet_match_set_profile(d->match, cfg.arena_profile);
    if (d->cache) /* cached answers may depend on what changed (arena_profile, ...) */
        fleet_cache_clear(d->cache);
    pthread_rwlock_unlock(&d->cfg_lock);
    fleet_tokens_free(old);
    fleet_log(FLEET_LOG_NOTICE, "configuration reloaded (%zu tokens)", fleet_tokens_count(tok));
    fleet_metrics_reload(1);
    fleet_agents_reload(d);
}

/* Every query runs in a forked child (lib/sandbox.c), so what a fork costs is paid per query.
 * Two settings that only take effect at program start make it cheaper, so the daemon
 * re-executes itself once with them (same pid, so systemd's MAINPID holds):
 *  - GLIBC_TUNABLES glibc.malloc.hugetlb=1 puts glibc's heaps on transparent huge pages:
 *    fork() copies one page-table entry per 2 MiB of store instead of one per 4 KiB;
 *  - LD_BIND_NOW=1 resolves every library symbol once, in the parent: otherwise each child
 *    looks up again every rasqal and raptor function the parent never called.
 * Measured by bench/run (lookup row) and the closing note of the performance issue: CPU per
 * simple query at 0.5M triples 7.8 ms -> 3.6 ms with huge pages. TINYFLEET_REEXEC=0 skips it;
 * under valgrind (its preload in LD_PRELOAD) the exec would leave valgrind, so it is skipped. */
static void reexec_for_fork(char **argv)
{
    static const char tunable[] = "glibc.malloc.hugetlb=1";
    const char *opt = getenv("TINYFLEET_REEXEC");
    const char *pre = getenv("LD_PRELOAD");
    const char *cur = getenv("GLIBC_TUNABLES");
    if ((opt && strcmp(opt, "0") == 0) || (pre && strstr(pre, "vgpreload")) ||
        (cur && strstr(cur, "glibc.malloc.hugetlb") && getenv("LD_BIND_NOW")))
        return;
    char val[1024];
    int n = !cur || !*cur ? snprintf(val, sizeof(val), "%s", tunable)
            : strstr(cur, "glibc.malloc.hugetlb") ? snprintf(val, sizeof(val), "%s", cur)
                                                  : snprintf(val, sizeof(val), "%s:%s", cur, tunable);
    if (n < 0 || (size_t)n >= sizeof(val))
        return;
    /* Marks the exec as done even if the kernel or glibc ignores the settings: no loop. */
    if (setenv("GLIBC_TUNABLES", val, 1) != 0 || setenv("LD_BIND_NOW", "1", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* No /proc, or not allowed: run on as we are. */
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"listen", required_argument, NULL, 'l'},
        {"state-dir", required_argument, NULL, 'd'}, {"port-file", required_argument, NULL, 'P'},
        {"test-config", no_argument, NULL, 't'},   {"version", no_argument, NULL, 'V'},
        {"restore", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    struct cli cli = {0};
    struct fleet_daemon d;
    char err[1024] = "";
    int c, status = 1;

    memset(&d, 0, sizeof(d));
    reexec_for_fork(argv);
    while ((c = getopt_long(argc, argv, "c:l:d:th", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cli.config = optarg; break;
        case 'l': cli.listen = optarg; break;
        case 'd': cli.state_dir = optarg; break;
        case 'P': cli.port_file = optarg; break;
        case 't': cli.test_only = 1; break;
        case 'R': cli.restore = optarg; break;
        case 'V': printf("tinyfleetd %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tinyfleetd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (load_config(&cli, &d.cfg, &d.tokens, err, sizeof(err)) != 0) {
        fprintf(stderr, "tinyfleetd: %s\n", err);
        return 2;
    }
    if (cli.test_only) {
        printf("tinyfleetd: configuration ok\n");
        fleet_tokens_free(d.tokens);
        return 0;
    }
    if (cli.restore) {
        struct fleet_restore_report rep;
        fleet_tokens_free(d.tokens);
        enum fleet_err rc = fleet_backup_restore(cli.restore, d.cfg.state_dir, d.cfg.ontology_dir,
                                                 &rep, err, sizeof(err));
        if (rc != FLEET_OK) {
            fprintf(stderr, "tinyfleetd: restore: %s\n", err);
            return 1;
        }
        printf("tinyfleetd: restored %s from %s (backup of %s, generation %llu): %llu quads, "
               "%llu model files\n",
               d.cfg.state_dir, cli.restore, rep.created, (unsigned long long)rep.generation,
               (unsigned long long)rep.quads, (unsigned long long)rep.models);
        return 0;
    }
    fleet_log_set_level(d.cfg.log_level);
    pthread_rwlock_init(&d.cfg_lock, NULL);
    fleet_metrics_init();
    fleet_notify_init(); /* reads the environment: before any thread exists */

    /* Block the signals the main loop takes, before any thread exists, so that every thread
     * (libmicrohttpd's, and the children forked from them) inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* libcurl (device agents, lib/agent.c) is set up once, before any thread exists; raptor is
     * told to leave it alone (store.c). */
    if (fleet_agent_global_init(err, sizeof(err)) != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "%s", err);
        goto out;
    }

    struct fleet_store_options so = {d.cfg.state_dir, d.cfg.ontology_dir, d.cfg.allow_service,
                                     d.cfg.snapshot_journal_bytes,
                                     d.cfg.storage_pg ? d.cfg.pg_conninfo : NULL, d.cfg.pg_poll_ms,
                                     !d.cfg.native_bgp, 0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (fleet_store_open(&so, &d.store, err, sizeof(err)) != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "%s", err);
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (snprintf(d.tmp_dir, sizeof(d.tmp_dir), "%s/tmp", d.cfg.state_dir) >=
        (int)sizeof(d.tmp_dir)) {
        fleet_log(FLEET_LOG_ERR, "state_dir is too long");
        goto out;
    }
    if (mkdir(d.tmp_dir, 0700) != 0 && errno != EEXIST) {
        fleet_log(FLEET_LOG_ERR, "%s: %s", d.tmp_dir, strerror(errno));
        goto out;
    }
    if (snprintf(d.models_dir, sizeof(d.models_dir), "%s/models", d.cfg.state_dir) >=
            (int)sizeof(d.models_dir) ||
        fleet_blobs_init(d.models_dir) != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "cannot create the models directory under %s", d.cfg.state_dir);
        goto out;
    }
    if (fleet_vocab_load(d.store, &d.vocab, err, sizeof(err)) != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "%s", err);
        goto out;
    }
    static const char *const required_templates[] = {"models-list", "deployments",
                                                      "benchmarks", NULL};
    if (fleet_templates_load(d.cfg.sparql_dir, required_templates, &d.templates, err,
                             sizeof(err)) != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "%s (check sparql_dir)", err);
        goto out;
    }
    for (size_t i = 0; fleet_match_templates[i]; i++)
        if (!fleet_templates_get(d.templates, fleet_match_templates[i])) {
            fleet_log(FLEET_LOG_ERR, "%s/%s.rq is missing (check sparql_dir)", d.cfg.sparql_dir,
                      fleet_match_templates[i]);
            goto out;
        }
    if (d.cfg.cache_bytes) {
        d.cache = fleet_cache_new((size_t)d.cfg.cache_bytes);
        if (!d.cache) {
            fleet_log(FLEET_LOG_ERR, "out of memory");
            goto out;
        }
    }
    d.match = fleet_match_new(d.store, d.templates, d.cfg.arena_profile, d.cfg.query_timeout_ms);
    if (!d.match) {
        fleet_log(FLEET_LOG_ERR, "out of memory");
        goto out;
    }
    d.events = fleet_events_new((size_t)d.cfg.event_log_size);
    if (!d.events) {
        fleet_log(FLEET_LOG_ERR, "out of memory for an event log of %llu events",
                  (unsigned long long)d.cfg.event_log_size);
        goto out;
    }
    if (fleet_things_open(d.store, &d.things, err, sizeof(err)) != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "%s", err);
        goto out;
    }
    fleet_things_routes_init(&d);
    if (fleet_agents_init(&d, err, sizeof(err)) != 0) {
        fleet_log(FLEET_LOG_ERR, "%s", err);
        goto out;
    }
    if (fleet_http_start(&d, err, sizeof(err)) != 0) {
        fleet_log(FLEET_LOG_ERR, "%s", err);
        goto out;
    }
    struct fleet_store_stats ss;
    fleet_store_stats(d.store, &ss);
    fleet_log(FLEET_LOG_NOTICE,
              "tinyfleetd %s listening on port %u, store %s: %llu triples, opened in %.0f ms",
              PACKAGE_VERSION, d.port, d.cfg.state_dir, (unsigned long long)ss.quads,
              (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    if (d.cfg.port_file[0] && write_port_file(d.cfg.port_file, d.port) != 0) {
        fleet_log(FLEET_LOG_ERR, "%s: %s", d.cfg.port_file, strerror(errno));
        goto out;
    }

    if (fleet_agents_start(&d, err, sizeof(err)) != 0) { /* the port is known now */
        fleet_log(FLEET_LOG_ERR, "%s", err);
        goto out;
    }

    /* Ready: the store is open and the socket listens (and the port file says where). */
    fleet_notifyf("READY=1\nSTATUS=serving on port %u, %llu triples", d.port,
                  (unsigned long long)ss.quads);

    /* The housekeeping runs once a second; with a watchdog the loop also wakes at half its
     * interval (sd_watchdog_enabled(3)), so a main loop stuck in the store stops the pings. */
    uint64_t watchdog_usec = fleet_notify_watchdog_usec();
    long tick_ms = 1000;
    if (watchdog_usec && watchdog_usec / 2000 < (uint64_t)tick_ms)
        tick_ms = watchdog_usec >= 2000 ? (long)(watchdog_usec / 2000) : 1;
    uint64_t next_housekeeping = 0;
    for (;;) {
        struct timespec tick = {tick_ms / 1000, (tick_ms % 1000) * 1000000L};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            fleet_log(FLEET_LOG_NOTICE, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            fleet_notify("STOPPING=1\nSTATUS=stopping");
            break;
        }
        if (sig == SIGHUP) {
            fleet_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
                          (unsigned long long)fleet_notify_monotonic_usec());
            reload(&d, &cli);
            fleet_notify("READY=1\nSTATUS=serving");
        }
        uint64_t now = fleet_notify_monotonic_usec();
        if (now >= next_housekeeping) {
            fleet_store_maintain(d.store);
            fleet_things_tick(&d);
            next_housekeeping = now + 1000000;
        }
        if (watchdog_usec)
            fleet_notify("WATCHDOG=1");
    }
    status = 0;
out:
    /* Open event streams would otherwise keep their connections until shutdown_timeout. */
    fleet_events_close(d.events);
    fleet_agents_stop(&d); /* no agent reply is committed once the store starts closing */
    fleet_http_stop(&d, d.cfg.shutdown_timeout_ms);
    fleet_poller_free(d.poller);
    fleet_events_free(d.events);
    fleet_things_free(d.things);
    fleet_match_free(d.match);
    fleet_cache_free(d.cache);
    fleet_templates_free(d.templates);
    fleet_vocab_free(&d.vocab);
    fleet_store_close(d.store);
    if (status == 0 && d.cfg.port_file[0])
        unlink(d.cfg.port_file);
    fleet_tokens_free(d.tokens);
    pthread_rwlock_destroy(&d.cfg_lock);
    fleet_metrics_clear_sources();
    fleet_metrics_free();
    fleet_notify_close();
    fleet_agent_global_cleanup();
    if (status == 0)
        fleet_log(FLEET_LOG_NOTICE, "stopped");
    return status;
}
