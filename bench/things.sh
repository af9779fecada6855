#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Thing Description Directory benchmark: registers N Thing Descriptions (default 10,000, made
# from the six real boards of ../shared/tinyml-kg/devices, else from a built-in TD) into a fresh
# tinyfleetd on 127.0.0.1, then measures the listing and retrieval latency at that size, the
# start-up with N TDs on disk (the registry rebuilds its index from the store), and memory. Every
# figure is printed next to a peer measured the same way on the same daemon in the same run:
# registrations against Graph Store PUTs of one small graph each (the same durable commit
# without the registry), reads against GET /healthz. It only prints figures; nothing here is a
# pass/fail assertion.
#
#   bench/things.sh [--tds N] [--jobs J] [--requests R] [--quick] [--tinyfleetd PATH]
#                   [--workdir DIR] [--keep]
#
# Needs curl and python3 (standard library only). Builds nothing: run it from a build directory
# (./daemon/tinyfleetd) or pass --tinyfleetd. Every process it starts is stopped by an EXIT trap.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)

TDS=10000
JOBS=4
REQUESTS=300
TFD=${TINYFLEETD:-}
WORK=
KEEP=0
WAIT_MAX=300

usage() {
    cat <<EOF
usage: $0 [options]
  --tds N             Thing Descriptions to register (default $TDS)
  --jobs J            concurrent writers and readers (default $JOBS)
  --requests R        requests per latency measurement (default $REQUESTS)
  --quick             1000 TDs, 100 requests
  --tinyfleetd PATH   the daemon (default: \$TINYFLEETD, ./daemon/tinyfleetd, $SRC/daemon/tinyfleetd)
  --workdir DIR       state and logs (default: a new /tmp/tinyfleet-things.*)
  --keep              keep the work directory
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --tds) TDS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --quick) TDS=1000; REQUESTS=100; shift ;;
    --tinyfleetd) TFD=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
for v in TDS JOBS REQUESTS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 1; }

if [ -z "$TFD" ]; then
    for c in ./daemon/tinyfleetd "$SRC/daemon/tinyfleetd"; do
        [ -x "$c" ] && { TFD=$(cd "$(dirname "$c")" && pwd)/tinyfleetd; break; }
    done
fi
[ -n "$TFD" ] && [ -x "$TFD" ] || { echo "no tinyfleetd: build first or pass --tinyfleetd" >&2; exit 1; }

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

if [ -z "$WORK" ]; then
    WORK=$(mktemp -d /tmp/tinyfleet-things.XXXXXX)
else
    mkdir -p "$WORK"
fi
PID=
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null || true
    fi
    [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

TOKEN=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$WORK/state"
printf '%s write\n' "$TOKEN" >"$WORK/tokens"
chmod 600 "$WORK/tokens"
ONTO="$SRC/ontology"
SPARQL="$SRC/sparql"
cat >"$WORK/tinyfleetd.conf" <<EOF
listen 127.0.0.1:0
state_dir $WORK/state
port_file $WORK/port
token_file $WORK/tokens
ontology_dir $ONTO
sparql_dir $SPARQL
log_level notice
EOF

start() {
    rm -f "$WORK/port"
    local t0
    t0=$(date +%s.%N)
    "$TFD" -c "$WORK/tinyfleetd.conf" >>"$WORK/daemon.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 $((WAIT_MAX * 20))); do
        if [ -s "$WORK/port" ]; then
            PORT=$(cat "$WORK/port")
            if curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; then
                READY=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
                return 0
            fi
        fi
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/daemon.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "tinyfleetd did not start" >&2
    exit 1
}

log "starting $TFD in $WORK"
start
DEVICES=
[ -d "$SRC/../shared/tinyml-kg/devices" ] && DEVICES=$(cd "$SRC/../shared/tinyml-kg/devices" && pwd)

export PORT TOKEN TDS JOBS REQUESTS DEVICES WORK
python3 - register <<'PY'
import glob, http.client, json, os, sys, threading, time, urllib.parse

port, token = int(os.environ["PORT"]), os.environ["TOKEN"]
n, jobs = int(os.environ["TDS"]), int(os.environ["JOBS"])
devices = os.environ.get("DEVICES", "")

templates = []
for f in sorted(glob.glob(os.path.join(devices, "*.td.json"))) if devices else []:
    templates.append(open(f, encoding="utf-8").read())
if not templates:
    templates.append(json.dumps({
        "@context": "https://www.w3.org/2022/wot/td/v1.1", "id": "urn:x", "title": "Board",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}}, "security": "nosec_sc",
        "properties": {"temperature": {"type": "number", "readOnly": True,
                                       "forms": [{"href": "http://192.0.2.1/t"}]}}}, indent=2))

def td(i):
    doc = json.loads(templates[i % len(templates)])
    doc["id"] = "urn:bench:board:%06d" % i
    doc["title"] = "%s #%d" % (doc.get("title", "Board"), i)
    return json.dumps(doc, indent=2).encode()

def run(paths_bodies, method, ctype):
    """PUTs every (path, body) over jobs keep-alive connections; returns seconds, failures."""
    lock = threading.Lock()
    it = iter(paths_bodies)
    fails = []
    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                try:
                    path, body = next(it)
                except StopIteration:
                    break
            c.request(method, path, body=body, headers={
                "Authorization": "Bearer " + token, "Content-Type": ctype})
            r = c.getresponse()
            r.read()
            if r.status not in (201, 204):
                fails.append((path, r.status))
        c.close()
    ts = [threading.Thread(target=worker) for _ in range(jobs)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.time() - t0, fails

bodies = [td(i) for i in range(n)]
size = sum(len(b) for b in bodies) / n
things = ((("/api/v1/things/" + urllib.parse.quote("urn:bench:board:%06d" % i, safe="")), b)
          for i, b in enumerate(bodies))
secs, fails = run(things, "PUT", "application/td+json")
if fails:
    sys.exit("registration failed: %r" % fails[:5])
# The peer: a durable write of one small graph per request, without the registry.
peer_n = min(n, 2000)
graphs = (("/data?graph=" + urllib.parse.quote("urn:bench:graph:%06d" % i, safe=""),
           ("<urn:bench:s:%d> <urn:bench:p> \"%d\" .\n" % (i, i)).encode()) for i in range(peer_n))
psecs, pfails = run(graphs, "PUT", "application/n-triples")
if pfails:
    sys.exit("graph store PUT failed: %r" % pfails[:5])
with open(os.path.join(os.environ["WORK"], "register.txt"), "w") as f:
    f.write("%d %.3f %.0f %d %.3f\n" % (n, secs, size, peer_n, psecs))
PY
read -r N RSECS TDSIZE PEERN PSECS <"$WORK/register.txt"
RSS_KB=$(awk '/VmRSS/ { print $2 }' "/proc/$PID/status")

python3 - latency <<'PY'
import http.client, json, os, threading, time

port, n = int(os.environ["PORT"]), int(os.environ["TDS"])
reqs, jobs = int(os.environ["REQUESTS"]), int(os.environ["JOBS"])

def lat(path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out, size = [], 0
    for _ in range(reqs):
        t0 = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200, (path, r.status)
        size = len(body)
    c.close()
    out.sort()
    return out[len(out) // 2], out[int(len(out) * 0.9)], out[min(len(out) - 1, int(len(out) * 0.99))], size

def rate(path):
    count = [0]
    lock = threading.Lock()
    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(reqs):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
        c.close()
        with lock:
            count[0] += reqs
    ts = [threading.Thread(target=worker) for _ in range(jobs)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return count[0] / (time.time() - t0)

def walk():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    path, seen, pages = "/api/v1/things?limit=100", 0, 0
    t0 = time.time()
    while path:
        c.request("GET", path)
        r = c.getresponse()
        seen += len(json.loads(r.read()))
        pages += 1
        link = r.getheader("Link") or ""
        path = None
        for part in link.split(","):
            if 'rel="next"' in part:
                path = part.split("<", 1)[1].split(">", 1)[0]
    return time.time() - t0, seen, pages

mid = "/api/v1/things/urn%%3Abench%%3Aboard%%3A%06d" % (n // 2)
rows = [("GET /healthz (peer)", "/healthz"),
        ("GET /things (first page of 100)", "/api/v1/things"),
        ("GET /things?offset=N-100&limit=100", "/api/v1/things?offset=%d&limit=100" % max(0, n - 100)),
        ("GET /things?format=collection&limit=10", "/api/v1/things?format=collection&limit=10"),
        ("GET /things/{id} (one TD)", mid)]
res = []
for name, path in rows:
    p50, p90, p99, size = lat(path)
    res.append((name, p50, p90, p99, rate(path), size))
secs, seen, pages = walk()
with open(os.path.join(os.environ["WORK"], "latency.txt"), "w") as f:
    for name, p50, p90, p99, rps, size in res:
        f.write("%s\t%.3f\t%.3f\t%.3f\t%.1f\t%d\n" % (name, p50, p90, p99, rps, size))
    f.write("walk\t%.3f\t%d\t%d\n" % (secs, seen, pages))
PY

log "restarting with $N TDs on disk"
kill -TERM "$PID"
wait "$PID" 2>/dev/null || true
start
READY_CLEAN=$READY
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
start
READY_KILL9=$READY
COUNT=$(curl -s "http://127.0.0.1:$PORT/api/v1/things?format=collection&limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')

{
    echo "Thing Description Directory benchmark: $N TDs (average $TDSIZE bytes of JSON), $JOBS connections, $REQUESTS requests per latency row"
    echo "tinyfleetd $("$TFD" --version | awk '{ print $2 }') ($TFD, source $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$SRC" diff --quiet 2>/dev/null || echo ' (tree modified)'))"
    echo "$(date +%F) $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    awk -v n="$N" -v s="$RSECS" -v pn="$PEERN" -v ps="$PSECS" 'BEGIN {
        r = n / s; p = pn / ps
        printf "| %-44s | %12s | %12s | %7s |\n", "write", "per second", "peer /s", "ratio"
        printf "|%s|%s|%s|%s|\n", "----------------------------------------------", "--------------", "--------------", "---------"
        printf "| %-44s | %12.1f | %12.1f | %7.2f |\n", "PUT /things/{id} (201) vs PUT /data?graph=", r, p, r / p
    }'
    echo
    printf '| %-44s | %9s | %9s | %9s | %9s | %8s | %9s |\n' "read at $N TDs" "p50 ms" "p90 ms" "p99 ms" "req/s" "bytes" "p50/peer"
    printf '|%s|%s|%s|%s|%s|%s|%s|\n' "----------------------------------------------" "-----------" "-----------" "-----------" "-----------" "----------" "-----------"
    awk -F'\t' 'NR == 1 { peer = $2 } $1 != "walk" {
        printf "| %-44s | %9.3f | %9.3f | %9.3f | %9.1f | %8d | %9.1f |\n", $1, $2, $3, $4, $5, $6, $2 / peer
    }' "$WORK/latency.txt"
    awk -F'\t' '$1 == "walk" { printf "\nwhole listing by next links (limit=100): %d TDs in %d pages, %.2f s\n", $3, $4, $2 }' "$WORK/latency.txt"
    echo "start-up to ready with $COUNT TDs: ${READY_CLEAN} s after SIGTERM, ${READY_KILL9} s after kill -9 (index rebuilt from the store)"
    echo "RSS after registration: $((RSS_KB / 1024)) MiB"
} | tee "$WORK/result.txt"
