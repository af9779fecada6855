/* SPDX-License-Identifier: MIT */
/* libFuzzer target for lib/agent_proto.c, everything the daemon reads from a device agent: the
 * bytes are given to the TD reader, the devices and results reply parsers, and (as a URI
 * reference and as a cursor) to reference resolution and the results URL expansion. Besides
 * memory errors, leaks and UB it checks the promises of agent_proto.h: a TD that is accepted
 * yields http(s) URLs without fragments; accepted devices are sorted, distinct, absolute IRIs;
 * every accepted result is consistent (lower-case 64-digit digest, min <= median <= p90 <= max,
 * finished >= started, runs >= 1 when ok) and survives the round trip through
 * fleet_agent_result_json and fleet_agent_result_parse unchanged; a rejected reply leaves nothing
 * behind. libcurl is not linked: agent_proto.c does not use it.
 * Seeds: tests/fuzz/corpus/fuzz_agent_reply (a TD, devices and results replies). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "agent_proto.h"
#include "buf.h"

#define MAX_INPUT (512 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_url(const char *u)
{
    if (!u)
        return;
    if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
        abort();
    /* a fragment is never sent (one inside a template expression is not a fragment) */
    int depth = 0;
    for (const char *p = u; *p; p++) {
        depth += *p == '{';
        depth -= *p == '}' && depth > 0;
        if (*p == '#' && !depth)
            abort();
    }
}

static void check_result(const struct fleet_agent_result *r)
{
    if (!r->id || !*r->id || strlen(r->id) > FLEET_AGENT_MAX_ID || !r->device || !r->framework ||
        !r->started || !r->finished)
        abort();
    if (strlen(r->model_sha256) != 64 || strspn(r->model_sha256, "0123456789abcdef") != 64)
        abort();
    if (r->finished_ms < r->started_ms || r->runs < 0 ||
        (r->ok && (r->runs < 1 || !r->has_latency)))
        abort();
    if (r->has_latency &&
        !(r->lat_min <= r->lat_median && r->lat_median <= r->lat_p90 && r->lat_p90 <= r->lat_max))
        abort();
    if (r->error && strlen(r->error) > FLEET_AGENT_MAX_ERROR)
        abort();
    /* the round trip the daemon relies on when it stores and lists a result */
    json_t *j = fleet_agent_result_json(r);
    struct fleet_agent_result again;
    char err[256];
    if (!j || fleet_agent_result_parse(j, &again, err, sizeof(err)) != FLEET_OK)
        abort();
    json_t *j2 = fleet_agent_result_json(&again);
    if (!json_equal(j, j2))
        abort();
    json_decref(j);
    json_decref(j2);
    fleet_agent_result_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    const char *text = (const char *)data;
    char field[256], err[512];

    struct fleet_agent_td td;
    memset(&td, 0, sizeof(td));
    enum fleet_err rc = fleet_agent_td_parse(text, size, "http://127.0.0.1:8090/agent/td", &td,
                                             field, sizeof(field), err, sizeof(err));
    if (rc == FLEET_OK) {
        if (!td.title || !td.devices_url || !td.results_url)
            abort();
        check_url(td.devices_url);
        check_url(td.results_url);
        check_url(td.run_url);
        char *u = fleet_agent_results_url(td.results_url, "m1.j2", 100);
        free(u);
    } else if (rc == FLEET_ERR_INVAL && (td.devices_url || td.results_url || !err[0])) {
        abort();
    }
    fleet_agent_td_clear(&td);

    char **devices = NULL;
    if (fleet_agent_devices_parse(text, size, &devices, err, sizeof(err)) == FLEET_OK) {
        for (size_t i = 0; devices[i]; i++)
            if (!strchr(devices[i], ':') || (i && strcmp(devices[i - 1], devices[i]) >= 0))
                abort();
        fleet_strv_free(devices);
    } else if (devices) {
        abort();
    }

    struct fleet_agent_reply reply;
    memset(&reply, 0, sizeof(reply));
    rc = fleet_agent_reply_parse(text, size, &reply, err, sizeof(err));
    if (rc == FLEET_OK) {
        if (reply.n && !reply.next)
            abort();
        for (size_t i = 0; i < reply.n; i++)
            check_result(&reply.results[i]);
        for (size_t i = 0; i < reply.n_rejected; i++)
            if (!reply.rejected[i].message[0])
                abort();
    } else if (reply.n || reply.results || reply.next) {
        abort();
    }
    fleet_agent_reply_clear(&reply);

    /* the bytes as a reference and as a cursor */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct fleet_buf b = FLEET_BUF_INIT;
    if (fleet_agent_uri_resolve("http://h:1/a/b/c?q", s, &b) != 0)
        abort();
    fleet_buf_free(&b);
    char *u = fleet_agent_results_url("http://h/r{?since,limit}", s, 7);
    if (u && strncmp(u, "http://h/r?since=", 17) != 0)
        abort();
    if (u && strpbrk(u + 17, " {}\"<>"))
        abort(); /* the cursor is percent-encoded */
    free(u);
    u = fleet_agent_results_url(s, NULL, 7);
    free(u);
    (void)fleet_agent_url_ok(s);
    free(s);
    return 0;
}
