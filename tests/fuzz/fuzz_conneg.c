/* SPDX-License-Identifier: MIT */
/* libFuzzer target for lib/conneg.c: feeds arbitrary bytes, NUL-terminated, as an Accept header
 * to fleet_conneg_pick with the SPARQL result offers, and as a Content-Type value to
 * fleet_media_type_is and fleet_media_type_param (with a tight and a roomy output buffer).
 * Build: clang -g -fsanitize=fuzzer,address,undefined -Ilib tests/fuzz/fuzz_conneg.c lib/conneg.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conneg.h"

static const char *const offers[] = {
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "text/csv",
    "text/tab-separated-values",
};
#define NOFFERS (sizeof(offers) / sizeof(offers[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    char small[4];
    char big[64];

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    int i = fleet_conneg_pick(s, offers, NOFFERS);
    if (i < -1 || i >= (int)NOFFERS)
        abort();

    (void)fleet_media_type_is(s, "application/sparql-query");
    (void)fleet_media_type_is(s, "application/x-www-form-urlencoded");
    if (fleet_media_type_param(s, "charset", small, sizeof(small)) &&
        strlen(small) >= sizeof(small))
        abort();
    if (fleet_media_type_param(s, "charset", big, sizeof(big)) && strlen(big) >= sizeof(big))
        abort();

    free(s);
    return 0;
}
