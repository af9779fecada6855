/* SPDX-License-Identifier: MIT */
/* Checks that rasqal parses a query, in a helper process, before the daemon parses it itself.
 *
 * Why: rasqal 0.9.33's parser leaks on its error paths (about 100 bytes to 1.6 KB per query that
 * fails to parse, even after rasqal_free_query), and the daemon parses every query in its own
 * process to plan it: 111,000 malformed queries sent by an anonymous reader in 10 s grew the
 * daemon by 182 MB. Here a forked helper parses each query first and says whether rasqal
 * accepts it (and rasqal's first error if not); only accepted queries are parsed by the daemon.
 * The helper's leaks are bounded by replacing it after a number of failed parses, and the
 * daemon pages it shares copy-on-write by replacing it after 30 seconds; a query that crashes
 * or hangs it is refused, and the next check starts a new helper.
 *
 * Texts that parsed are remembered by a 64-bit hash (65,536 slots, overwritten on collision), so
 * the dashboard queries a daemon sees again and again cost one check in all. Thread-safe: one
 * check at a time goes to the helper. */
#ifndef FLEET_SPARQL_CHECK_H
#define FLEET_SPARQL_CHECK_H

#include <stddef.h>

struct fleet_sparql_check;

/* A checker whose helper is replaced after recycle_after failed parses (0: 1000) or max_age
 * seconds (0: 30). NULL on ENOMEM. The helper is started by the first check. */
struct fleet_sparql_check *fleet_sparql_check_new(unsigned recycle_after, unsigned max_age);
/* Stops the helper. NULL is a no-op. */
void fleet_sparql_check_free(struct fleet_sparql_check *c);

/* 1 if rasqal's "sparql" parser takes text against base (NULL: a placeholder base; the parser
 * also takes SPARQL Update forms, which the caller refuses by their verb), 0 if it
 * does not (rasqal's first message in msg), -1 if the helper could not answer (it crashed on
 * the text, took longer than timeout_ms, or could not be started: msg says which). */
int fleet_sparql_check(struct fleet_sparql_check *c, const char *text, const char *base,
                       long timeout_ms, char *msg, size_t msglen);

struct fleet_sparql_check_stats {
    unsigned long long checks, remembered, refused, helpers_started;
};
void fleet_sparql_check_stats(struct fleet_sparql_check *c, struct fleet_sparql_check_stats *out);

#endif
