#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds every libFuzzer target in tests/fuzz/ with clang (ASan+UBSan) and runs each for the given
# number of seconds (default 60) on its seed corpus (tests/fuzz/corpus/<name>/, if any).
# Usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
secs=${1:-60}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Everything in lib/ but the Redland boundary, plus the daemon's config parser.
srcs=$(ls "$top"/lib/*.c | grep -v '/store\.c$')
srcs="$srcs $top/daemon/config.c"
for f in "$top"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$f" .c)
    echo "== $name (${secs}s)"
    clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -I"$top/lib" -I"$top/daemon" \
        "$f" $srcs -o "$out/$name" -lpthread
    corpus="$out/corpus-$name"
    mkdir -p "$corpus"
    [ -d "$top/tests/fuzz/corpus/$name" ] && cp -r "$top/tests/fuzz/corpus/$name/." "$corpus/"
    (cd "$out" && "./$name" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
        "$corpus" 2>&1 | tail -15)
done
