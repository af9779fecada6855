#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds every libFuzzer target in tests/fuzz/ with clang (ASan+UBSan) and runs each for the given
# number of seconds (default 60) on its seed corpus: tests/fuzz/corpus/<name>/, plus the real
# models, metadata, Thing Descriptions and case-study queries of ../shared/tinyml-kg when that
# directory is there (copied in for the run, never into the tree), with tests/fuzz/<name>.dict as
# the dictionary if there is one. Naming targets runs only those.
# The library is built once into an archive, so each target links only what it uses (store.c,
# the Redland boundary, and pgjournal.c, the libpq one, are left out: no target reaches them;
# fuzz_bgp links rasqal, whose parse it fuzzes through).
# Usage: tests/fuzz/run.sh [SECONDS [fuzz_NAME...]]
set -euo pipefail
secs=${1:-60}
shift || true
only=" $* "
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cflags="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer-no-link,address,undefined
        -fno-sanitize-recover=undefined -I$top/lib -I$top/daemon
        $(pkg-config --cflags jansson rasqal)"
mkdir -p "$out/obj"
for f in $(ls "$top"/lib/*.c | grep -v -E '/(store|pgjournal)\.c$') "$top/daemon/config.c"; do
    clang $cflags -c "$f" -o "$out/obj/$(basename "$f" .c).o"
done
ar rcs "$out/libfuzzlib.a" "$out"/obj/*.o
libs="$(pkg-config --libs jansson nettle rasqal) -lm -lpthread"

for f in "$top"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$f" .c)
    if [ "$only" != "  " ] && [[ "$only" != *" $name "* ]]; then
        continue
    fi
    echo "== $name (${secs}s)"
    clang $cflags -fsanitize=fuzzer "$f" "$out/libfuzzlib.a" $libs -o "$out/$name"
    corpus="$out/corpus-$name"
    mkdir -p "$corpus"
    [ -d "$top/tests/fuzz/corpus/$name" ] && cp -r "$top/tests/fuzz/corpus/$name/." "$corpus/"
    if [ "$name" = fuzz_tflite ] && [ -d "$top/../shared/tinyml-kg/models" ]; then
        cp "$top"/../shared/tinyml-kg/models/*.tflite "$corpus/"
    fi
    if [ "$name" = fuzz_model_meta ] && [ -d "$top/../shared/tinyml-kg/models" ]; then
        cp "$top"/../shared/tinyml-kg/models/*.json "$corpus/"
    fi
    if [ "$name" = fuzz_td ] && [ -d "$top/../shared/tinyml-kg/devices" ]; then
        cp "$top"/../shared/tinyml-kg/devices/*.td.json "$corpus/"
    fi
    if [[ "$name" = fuzz_sparql_reorder || "$name" = fuzz_bgp ]] &&
        [ -d "$top/../shared/tinyml-kg/queries" ]; then
        cp "$top"/../shared/tinyml-kg/queries/*.rq "$corpus/"
    fi
    dict=()
    [ -f "$top/tests/fuzz/$name.dict" ] && dict=(-dict="$top/tests/fuzz/$name.dict")
    # the native engine's input is SPARQL too
    [ "$name" = fuzz_bgp ] && dict=(-dict="$top/tests/fuzz/fuzz_sparql_reorder.dict")
    # rasqal's own leaks are not the targets' findings (tests/lsan.supp, or NAME.lsan)
    supp="$top/tests/lsan.supp"
    [ -f "$top/tests/fuzz/$name.lsan" ] && supp="$top/tests/fuzz/$name.lsan"
    (cd "$out" && LSAN_OPTIONS="suppressions=$supp:print_suppressions=0" "./$name" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 "${dict[@]}" "$corpus" 2>&1 | tail -15)
done
