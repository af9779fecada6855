#!/bin/bash
# SPDX-License-Identifier: MIT
# Starts tinyfleetd on 127.0.0.1:8080 with its embedded store in ./demo-state, registers the demo
# fleet (three boards as Thing Descriptions, and models), and stays in the foreground (Ctrl-C
# stops it).
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
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM EXIT
for _ in $(seq 100); do [ -f "$state/port" ] && break; sleep 0.1; done
[ -f "$state/port" ] || { echo "tinyfleetd did not start" >&2; exit 1; }
api=http://127.0.0.1:8080/api/v1
auth="Authorization: Bearer $token"
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# The boards: the demo's own Thing Descriptions, registered in the directory (201, or 204 when a
# restart finds them there already).
for f in "$src"/demo/things/*.td.json; do
    id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$f")
    curl -sf -o /dev/null -X PUT -H "$auth" -H 'Content-Type: application/td+json' \
        --data-binary @"$f" "$api/things/$(urlenc "$id")"
    echo "registered board $id"
done
# The models: the paper's 23 when ../shared is beside the tree (read from there, not copied),
# else the two small models the fuzz corpus keeps. 409 means it is registered already.
upload() { # FILE METADATA_FILE
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" -F "model=@$1" \
        -F "metadata=@$2;type=application/json" "$api/models")
    case $code in 201) echo "uploaded $(basename "$1")" ;; 409) ;; *) echo "upload $1: HTTP $code" >&2 ;; esac
}
if [ -d "$src/../shared/tinyml-kg/models" ]; then
    for f in "$src"/../shared/tinyml-kg/models/*.tflite; do upload "$f" "${f%.tflite}.json"; done
else
    meta=$(mktemp)
    printf '%s' '{"name":"demo-chain","description":"a tiny fully connected keyword classifier","category":"Classification","sensors":["Microphone"],"metric":{"type":"Top_1_accuracy","value":71.5}}' > "$meta"
    upload "$src/tests/fuzz/corpus/fuzz_tflite/chain.tflite" "$meta"
    printf '%s' '{"name":"demo-convnet","description":"a tiny convolutional image classifier","category":"Classification","sensors":["Camera"],"metric":{"type":"Top_1_accuracy","value":64.0}}' > "$meta"
    upload "$src/tests/fuzz/corpus/fuzz_tflite/convnet.tflite" "$meta"
    rm -f "$meta"
fi
cat <<MSG
tinyfleetd is running on http://127.0.0.1:8080 (state in $state).
  curl -s http://127.0.0.1:8080/healthz
  curl -s http://127.0.0.1:8080/api/v1/things
  curl -s http://127.0.0.1:8080/api/v1/models
  curl -s 'http://127.0.0.1:8080/api/v1/things/urn%3Atinyfleet%3Ademo%3Acortex-m4-sense/models?fits=true'
  curl -s http://127.0.0.1:8080/sparql --data-urlencode 'query=SELECT ?b ?t WHERE { ?b <https://www.w3.org/2019/wot/td#title> ?t }'
Write token: $token   (in $state/tokens)
Ctrl-C stops it.
MSG
wait $pid
