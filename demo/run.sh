#!/bin/bash
# SPDX-License-Identifier: MIT
# Starts tinyfleetd on 127.0.0.1:8080 with its embedded store in ./demo-state, loads the demo
# fleet through the Graph Store Protocol, and stays in the foreground (Ctrl-C stops it).
# Usage: demo/run.sh [BUILD_DIR]   (BUILD_DIR defaults to the source tree)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src}
state=${TINYFLEET_DEMO_STATE:-$PWD/demo-state}
mkdir -p "$state"
if [ ! -f "$state/tokens" ]; then
    umask 077
    echo "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n') read write admin" > "$state/tokens"
fi
token=$(awk '{print $1; exit}' "$state/tokens")
cat > "$state/tinyfleetd.conf" <<CONF
listen 127.0.0.1:8080
state_dir $state
token_file $state/tokens
ontology_dir $src/ontology
sparql_dir $src/sparql
cors_origin *
CONF
rm -f "$state/port"
"$build/daemon/tinyfleetd" -c "$state/tinyfleetd.conf" --port-file "$state/port" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 100); do [ -f "$state/port" ] && break; sleep 0.1; done
[ -f "$state/port" ] || { echo "tinyfleetd did not start" >&2; exit 1; }
for f in "$src"/demo/*.ttl; do
    g="https://tinyfleet.dev/demo/graph/$(basename "$f" .ttl)"
    curl -sf -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: text/turtle' \
        --data-binary @"$f" "http://127.0.0.1:8080/data?graph=$g" >/dev/null
    echo "loaded $f into <$g>"
done
cat <<MSG
tinyfleetd is running on http://127.0.0.1:8080 (state in $state).
  curl -s http://127.0.0.1:8080/healthz
  curl -s http://127.0.0.1:8080/sparql --data-urlencode 'query=SELECT ?b ?t WHERE { ?b <https://www.w3.org/2019/wot/td#title> ?t }'
Write token: $token   (in $state/tokens)
Ctrl-C stops it.
MSG
wait $pid
