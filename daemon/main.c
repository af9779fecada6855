/* SPDX-License-Identifier: MIT */
/* tinyfleetd: start-up, signals and shutdown. Modules start in order (config, tokens, store,
 * HTTP) and stop in reverse. The main thread owns the signals: SIGTERM/SIGINT/SIGHUP are blocked
 * in every thread and taken with sigtimedwait(), so no handler runs asynchronously; the same loop
 * drives the store's housekeeping once a second. The daemon stays in the foreground. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "blobs.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "store.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tinyfleetd [-c FILE] [-l ADDR:PORT] [-d STATE_DIR] [--port-file FILE] [-t]\n"
            "                  [--version] [--help]\n"
            "  -c, --config FILE     read the configuration file (key value lines)\n"
            "  -l, --listen ADDR:PORT  listen address (config: listen); port 0 picks a free port\n"
            "  -d, --state-dir DIR   store directory (config: state_dir)\n"
            "      --port-file FILE  write the bound port to FILE once listening (config: "
            "port_file)\n"
            "  -t, --test-config     check the configuration and exit\n"
            "      --version         print the version and exit\n"
            "  -h, --help            this text\n");
}

struct cli {
    const char *config;
    const char *listen;
    const char *state_dir;
    const char *port_file;
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

static void reload(struct fleet_daemon *d, const struct cli *cli)
{
    struct fleet_config cfg;
    struct fleet_tokens *tok = NULL;
    char err[1024] = "";
    if (load_config(cli, &cfg, &tok, err, sizeof(err)) != 0) {
        fleet_log(FLEET_LOG_ERR, "reload failed, keeping the old configuration: %s", err);
        return;
    }
    if (strcmp(cfg.listen, d->cfg.listen) != 0 || strcmp(cfg.state_dir, d->cfg.state_dir) != 0)
        fleet_log(FLEET_LOG_WARNING, "reload: listen and state_dir take effect at restart only");
    pthread_rwlock_wrlock(&d->cfg_lock);
    struct fleet_tokens *old = d->tokens;
    /* Keep what cannot change at run time. */
    memcpy(cfg.listen, d->cfg.listen, sizeof(cfg.listen));
    memcpy(cfg.state_dir, d->cfg.state_dir, sizeof(cfg.state_dir));
    d->cfg = cfg;
    d->tokens = tok;
    fleet_log_set_level(cfg.log_level);
    pthread_rwlock_unlock(&d->cfg_lock);
    fleet_tokens_free(old);
    fleet_log(FLEET_LOG_NOTICE, "configuration reloaded (%zu tokens)", fleet_tokens_count(tok));
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"listen", required_argument, NULL, 'l'},
        {"state-dir", required_argument, NULL, 'd'}, {"port-file", required_argument, NULL, 'P'},
        {"test-config", no_argument, NULL, 't'},   {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    struct cli cli = {0};
    struct fleet_daemon d;
    char err[1024] = "";
    int c, status = 1;

    memset(&d, 0, sizeof(d));
    while ((c = getopt_long(argc, argv, "c:l:d:th", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cli.config = optarg; break;
        case 'l': cli.listen = optarg; break;
        case 'd': cli.state_dir = optarg; break;
        case 'P': cli.port_file = optarg; break;
        case 't': cli.test_only = 1; break;
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
    fleet_log_set_level(d.cfg.log_level);
    pthread_rwlock_init(&d.cfg_lock, NULL);

    /* Block the signals the main loop takes, before any thread exists, so that every thread
     * (libmicrohttpd's, and the children forked from them) inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct fleet_store_options so = {d.cfg.state_dir, d.cfg.ontology_dir, d.cfg.allow_service,
                                     d.cfg.snapshot_journal_bytes};
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
    static const char *const required_templates[] = {"models-list", NULL};
    if (fleet_templates_load(d.cfg.sparql_dir, required_templates, &d.templates, err,
                             sizeof(err)) != FLEET_OK) {
        fleet_log(FLEET_LOG_ERR, "%s (check sparql_dir)", err);
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

    for (;;) {
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            fleet_log(FLEET_LOG_NOTICE, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (sig == SIGHUP)
            reload(&d, &cli);
        fleet_store_maintain(d.store);
    }
    status = 0;
out:
    fleet_http_stop(&d, d.cfg.shutdown_timeout_ms);
    fleet_templates_free(d.templates);
    fleet_vocab_free(&d.vocab);
    fleet_store_close(d.store);
    if (status == 0 && d.cfg.port_file[0])
        unlink(d.cfg.port_file);
    fleet_tokens_free(d.tokens);
    pthread_rwlock_destroy(&d.cfg_lock);
    if (status == 0)
        fleet_log(FLEET_LOG_NOTICE, "stopped");
    return status;
}
