/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the two start-up file parsers: each input is written to a temporary file
 * and read with fleet_config_load() and fleet_tokens_load(). Both parsers read through stdio from
 * a path, so the fuzzer exercises exactly what the daemon runs. Also checks the invariants a
 * caller relies on: a failed load leaves the config as it was and always yields a message, and a
 * loaded config passes fleet_config_listen().
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ilib -Idaemon \
 *          tests/fuzz/fuzz_config.c daemon/config.c lib/auth.c lib/log.c lib/err.c lib/buf.c
 * Run:   ./fuzz_config -max_total_time=60 corpus/ */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* By path: under automake, -I$(top_builddir) comes first and holds autoconf's own config.h. */
#include "config.h"
#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void)
{
    if (path[0])
        unlink(path);
}

/* One file for the whole run, rewritten for every input: mkstemp() per input would be slower. */
static int input_file(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(path, sizeof(path), "%s/fuzz_config.XXXXXX",
                 base && *base && strlen(base) < 40 ? base : "/tmp");
        int fd = mkstemp(path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(remove_file);
    }
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fleet_config cfg, before;
    struct fleet_tokens *tokens = NULL;
    char err[512];
    char host[256];
    unsigned port;

    input_file(data, size);

    fleet_config_defaults(&cfg);
    before = cfg;
    err[0] = '\0';
    if (fleet_config_load(path, &cfg, err, sizeof(err)) == 0) {
        /* Every value that loads must also split. */
        if (fleet_config_listen(&cfg, host, sizeof(host), &port) != 0 || port > 65535)
            abort();
        fleet_config_check(&cfg, err, sizeof(err));
    } else {
        if (memcmp(&cfg, &before, sizeof(cfg)) != 0 || err[0] == '\0' || strlen(err) >= sizeof(err))
            abort();
    }

    err[0] = '\0';
    enum fleet_err rc = fleet_tokens_load(path, &tokens, err, sizeof(err));
    if (rc == FLEET_OK) {
        fleet_tokens_scopes(tokens, "0123456789abcdef");
        fleet_tokens_free(tokens);
    } else if (tokens != NULL || err[0] == '\0') {
        abort();
    }
    return 0;
}
