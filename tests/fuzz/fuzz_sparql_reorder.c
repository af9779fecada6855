/* SPDX-License-Identifier: MIT */
/* libFuzzer target for lib/sparql_reorder.c: feeds arbitrary bytes, NUL-terminated, to
 * fleet_sparql_reorder. Besides memory errors and leaks it checks what the header promises: the
 * only outcome is FLEET_OK, the text comes back byte for byte when changed is 0 and differs when
 * it is 1, and the rewrite is a fixed point (the greedy order of a greedy text is itself), which
 * also shows the rewritten text parses as well as the original did.
 * Build: clang -g -fsanitize=fuzzer,address,undefined -Ilib tests/fuzz/fuzz_sparql_reorder.c
 *        lib/sparql_reorder.c lib/buf.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sparql_reorder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fleet_buf once = FLEET_BUF_INIT, twice = FLEET_BUF_INIT;
    int changed = -1, again = -1;
    char err[128];
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    if (fleet_sparql_reorder(s, &once, &changed, err, sizeof(err)) != FLEET_OK)
        abort();
    fleet_buf_append(&once, "", 0);
    if (!once.data || strlen(once.data) != once.len)
        abort();
    if (changed == 0 && strcmp(once.data, s) != 0)
        abort(); /* "unchanged" must mean byte for byte */
    if (changed == 1) {
        if (strcmp(once.data, s) == 0)
            abort();
        if (fleet_sparql_reorder(once.data, &twice, &again, err, sizeof(err)) != FLEET_OK)
            abort();
        fleet_buf_append(&twice, "", 0);
        if (again != 0 || strcmp(once.data, twice.data) != 0)
            abort();
    } else if (changed != 0) {
        abort();
    }
    fleet_buf_free(&once);
    fleet_buf_free(&twice);
    free(s);
    return 0;
}
