/* SPDX-License-Identifier: MIT */
/* The device-agent protocol, version 1 (docs/agent-protocol.md), without any I/O: reading an
 * agent's Thing Description (which URLs to call, found through its forms, never assumed),
 * expanding the results URL with the since/limit variables, and validating the replies of the
 * devices and results properties. The other half of the agent module, lib/agent.c, moves the
 * bytes (libcurl); this half is curl-free so that tests/fuzz/fuzz_agent_reply.c reaches all of it
 * and tinyfleet-agent validates its own results with the same code. No HTTP, no Redland. */
#ifndef FLEET_AGENT_PROTO_H
#define FLEET_AGENT_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define FLEET_AGENT_PROTOCOL_VERSION 1
#define FLEET_AGENT_MAX_ID 256        /* bytes in a result id */
#define FLEET_AGENT_MAX_CURSOR 1024   /* bytes in a cursor */
#define FLEET_AGENT_MAX_URL 2048      /* bytes in any URL the daemon calls or a device IRI */
#define FLEET_AGENT_MAX_DEVICES 10000 /* boards one agent may front */
#define FLEET_AGENT_MAX_RESULTS 10000 /* results in one reply, whatever the limit asked */
#define FLEET_AGENT_MAX_ERROR 4096    /* bytes of a result's error text kept */

/* What the daemon needs from an agent's TD. Strings are new; absolute http(s) URLs. */
struct fleet_agent_td {
    char *title;       /* the TD's title */
    char *thing_id;    /* the TD's id, or NULL */
    char *devices_url; /* the readproperty form of property "devices" */
    char *results_url; /* the readproperty form of property "results"; may hold an RFC 6570
                          template such as {?since,limit} */
    char *run_url;     /* the invokeaction form of action "runBenchmark", or NULL */
    char *run_ctype;   /* that form's contentType (default application/json), or NULL */
};

/* Reads the TD text fetched from td_url (borrowed): it must be a JSON object that
 * fleet_td_validate accepts, with a readproperty form for the properties "devices" and
 * "results" (op absent counts as readproperty; htv:methodName, if given, GET) and, optionally,
 * an invokeaction form for the action "runBenchmark" (method POST if given). Every href is
 * resolved against the TD's base, itself resolved against td_url; a form whose target is not
 * http or https is skipped. On error returns FLEET_ERR_INVAL with the field at fault (e.g.
 * "properties.results.forms") in field and a message in err; *td is then empty. td must be zeroed
 * or cleared before. */
enum fleet_err fleet_agent_td_parse(const char *text, size_t len, const char *td_url,
                                    struct fleet_agent_td *td, char *field, size_t fieldlen,
                                    char *err, size_t errlen);
/* Frees the strings and zeroes td. */
void fleet_agent_td_clear(struct fleet_agent_td *td);

/* The URL of the next results request (new string, NULL on ENOMEM): the template variables
 * since (omitted when NULL) and limit expanded as RFC 6570 level 3 does for the operators
 * none, "?" and "&"; without a template, "since" and "limit" are added to the query. */
char *fleet_agent_results_url(const char *results_url, const char *since, unsigned limit);

/* Resolves the URI reference ref against the absolute URI base (RFC 3986 section 5.2), keeping
 * RFC 6570 template expressions ({...}) as they are. Appends the result to out; returns -1 if
 * base is not absolute. */
int fleet_agent_uri_resolve(const char *base, const char *ref, struct fleet_buf *out);

/* 1 if url is an absolute http: or https: URL with a host, at most FLEET_AGENT_MAX_URL bytes,
 * without spaces or control bytes. */
int fleet_agent_url_ok(const char *url);

/* The reply of property "devices": a JSON array of distinct absolute IRIs (the boards' TD ids).
 * *out receives a new sorted NULL-terminated array of new strings (fleet_strv_free). Errors:
 * FLEET_ERR_INVAL with a message. */
enum fleet_err fleet_agent_devices_parse(const char *text, size_t len, char ***out, char *err,
                                         size_t errlen);

/* One RESULT, validated. Strings are new. */
struct fleet_agent_result {
    char *id;
    char *device;       /* an absolute IRI */
    char *model_sha256; /* 64 lower-case hex digits */
    char *framework;
    char *job;                /* the runBenchmark job it answers, or NULL */
    char *started, *finished; /* RFC 3339 as sent */
    char *error;              /* or NULL */
    int64_t started_ms, finished_ms;
    int ok; /* status "ok" (1) or "failed" (0) */
    int64_t runs;
    int has_latency; /* required when ok */
    double lat_median, lat_p90, lat_min, lat_max;
    int has_arena, has_energy, has_accuracy;
    int64_t arena_bytes;
    double energy_uj, accuracy;
};

/* Validates one RESULT object (borrowed) into r (zeroed before). Unknown members are ignored.
 * FLEET_ERR_INVAL with the member at fault in err ("latency_ms.p90: ..."); r is then cleared.
 * FLEET_ERR_NOMEM. */
enum fleet_err fleet_agent_result_parse(const json_t *j, struct fleet_agent_result *r, char *err,
                                        size_t errlen);
void fleet_agent_result_clear(struct fleet_agent_result *r);
/* The result as the REST API shows it, without agent, model and received (new). */
json_t *fleet_agent_result_json(const struct fleet_agent_result *r);

/* One RESULT that failed validation: the daemon skips it and says why. */
struct fleet_agent_rejected {
    char *id; /* new, or NULL when the id itself was unusable */
    char message[320];
};

/* The reply of property "results": {"results": [RESULT...], "next": CURSOR}. */
struct fleet_agent_reply {
    struct fleet_agent_result *results; /* the valid ones, in reply order */
    size_t n;
    struct fleet_agent_rejected *rejected;
    size_t n_rejected;
    char *next; /* new; NULL when the reply had none (allowed only with no results) */
};

/* Parses a results reply. The reply as a whole is FLEET_ERR_INVAL (err says why) when it is not
 * a JSON object, "results" is not an array of objects, there are more than
 * FLEET_AGENT_MAX_RESULTS, or "next" is missing while results are not, or is not a string of at
 * most FLEET_AGENT_MAX_CURSOR bytes; single results that fail fleet_agent_result_parse go to
 * rejected. reply must be zeroed or cleared before. */
enum fleet_err fleet_agent_reply_parse(const char *text, size_t len,
                                       struct fleet_agent_reply *reply, char *err, size_t errlen);
void fleet_agent_reply_clear(struct fleet_agent_reply *reply);

/* The agent's id: the first 16 hex digits of the SHA-256 of its TD URL, in id[17]. */
void fleet_agent_id(const char *td_url, char id[17]);

#endif
