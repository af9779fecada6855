#!/bin/bash
# SPDX-License-Identifier: MIT
# The demo fleet's device agent: starts tinyfleet-agent on 127.0.0.1:8090 over the MLPerf Tiny
# fixture tree (tests/data/mlperf-tiny), its systems mapped to two of the demo boards, plus a
# JSON-lines file in the demo state directory that you can append results to, and registers it
# with the demo daemon (demo/run.sh, running). Stays in the foreground (Ctrl-C stops it).
# Usage: demo/agent.sh [BUILD_DIR]   (BUILD_DIR defaults to the source tree)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src}
state=${TINYFLEET_DEMO_STATE:-$PWD/demo-state}
[ -f "$state/tokens" ] || { echo "start demo/run.sh first (no $state/tokens)" >&2; exit 1; }
token=$(awk '{print $1; exit}' "$state/tokens")
# The models the benchmarks ran, as demo/run.sh registers them: their digests match them up.
if [ -d "$src/../shared/tinyml-kg/models" ]; then
    kws=$src/../shared/tinyml-kg/models/ARM_DS_CNN_Small_.tflite
    vww=$src/../shared/tinyml-kg/models/ARM_MicroNet_VWW_3.tflite
else
    kws=$src/tests/fuzz/corpus/fuzz_tflite/chain.tflite
    vww=$src/tests/fuzz/corpus/fuzz_tflite/convnet.tflite
fi
rm -f "$state/agent.port"
"$build/agent/tinyfleet-agent" -l 127.0.0.1:8090 --port-file "$state/agent.port" \
    --title "demo bench rack" --mlperf "$src/tests/data/mlperf-tiny" \
    --results "$state/agent-results.jsonl" --model "kws=$kws" --model "vww=$vww" \
    --device fixture_m4=urn:tinyfleet:demo:cortex-m4-sense \
    --device fixture_m0=urn:tinyfleet:demo:cortex-m0-tiny &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM EXIT
for _ in $(seq 100); do [ -f "$state/agent.port" ] && break; sleep 0.1; done
[ -f "$state/agent.port" ] || { echo "tinyfleet-agent did not start" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"td_url": "http://127.0.0.1:8090/td", "interval_s": 10}' \
    http://127.0.0.1:8080/api/v1/agents)
case $code in 201) echo "agent registered" ;; 409) echo "agent registered already" ;;
    *) echo "registering the agent: HTTP $code" >&2 ;; esac
cat <<MSG
tinyfleet-agent is serving http://127.0.0.1:8090/td; tinyfleetd polls it every 10 s.
  curl -s http://127.0.0.1:8080/api/v1/agents
  curl -s http://127.0.0.1:8080/api/v1/benchmarks
  curl -s 'http://127.0.0.1:8080/api/v1/things/urn%3Atinyfleet%3Ademo%3Acortex-m4-sense/models?order=latency'
Append RESULT lines (docs/agent-protocol.md) to $state/agent-results.jsonl to report more.
Ctrl-C stops it.
MSG
wait $pid
