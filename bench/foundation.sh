#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The foundation benchmark: tinyfleetd against Virtuoso 7 (Debian's virtuoso-opensource-7-bin) on
# the same generated TinyML fleet (bench/gen_triples.py), both on 127.0.0.1 only. For each side it
# prints bulk import rate, start-up time to ready with the data on disk (after a clean stop and
# after kill -9), query throughput and latency under wrk for three queries, and memory; then the
# ratio tinyfleetd/Virtuoso. It only prints figures: nothing here is a pass/fail assertion.
#
#   bench/foundation.sh [--triples N] [--quick] [options]      (--help for the list)
#
# Installs what is missing with apt-get (virtuoso-opensource-7-bin, wrk, curl, python3); builds
# tinyfleetd out of tree if no binary is given or found. Every process it starts is stopped by an
# EXIT trap, every wait is bounded, and the work directory is removed unless --keep.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)

TRIPLES=1000000
DURATION=10
CONNS=8
THREADS=2
UPLOAD_JOBS=2
VT_LOADERS=2
TFD=${TINYFLEETD:-}
WORK=
KEEP=0
WAIT_MAX=900 # seconds any single wait may take (start-up, load, shutdown)

usage() {
    cat <<EOF
usage: $0 [options]
  --triples N         triples to generate and load (default $TRIPLES)
  --quick             100000 triples and 3 s wrk runs (a one-minute check)
  --duration S        seconds per wrk run (default $DURATION)
  --connections C     wrk connections (default $CONNS; 2 threads)
  --upload-jobs J     concurrent N-Quads uploads to tinyfleetd (default $UPLOAD_JOBS)
  --vt-loaders L      concurrent rdf_loader_run() calls in Virtuoso (default $VT_LOADERS)
  --tinyfleetd PATH   the daemon to measure (default: \$TINYFLEETD, ./daemon/tinyfleetd,
                      $SRC/daemon/tinyfleetd, else built into the work directory)
  --workdir DIR       where data, state and logs go (default: a new /tmp/tinyfleet-bench.*)
  --keep              keep the work directory
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --triples) TRIPLES=$2; shift 2 ;;
    --quick) TRIPLES=100000; DURATION=3; shift ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --upload-jobs) UPLOAD_JOBS=$2; shift 2 ;;
    --vt-loaders) VT_LOADERS=$2; shift 2 ;;
    --tinyfleetd) TFD=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
for v in TRIPLES DURATION CONNS UPLOAD_JOBS VT_LOADERS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---------------------------------------------------------------- dependencies
missing=()
command -v virtuoso-t >/dev/null || missing+=(virtuoso-opensource-7-bin)
command -v isql-vt >/dev/null || missing+=(virtuoso-opensource-7-bin)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

# ---------------------------------------------------------------- work directory and cleanup
if [ -z "$WORK" ]; then
    WORK=$(mktemp -d /tmp/tinyfleet-bench.XXXXXX)
else
    mkdir -p "$WORK"
fi
WORK=$(cd "$WORK" && pwd)
PIDS=()
cleanup() {
    local rc=$? p
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill -KILL "$p" 2>/dev/null || true
            { wait "$p"; } 2>/dev/null || true
        fi
    done
    if [ "$KEEP" = 0 ]; then
        rm -rf "$WORK"
    else
        log "work directory kept: $WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls "$@" (a command) every 20 ms until it succeeds; fails after WAIT_MAX seconds.
wait_for() {
    local deadline=$((SECONDS + WAIT_MAX))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.02
    done
}
# Waits for a process we started to exit, up to WAIT_MAX seconds.
wait_exit() {
    local pid=$1 deadline=$((SECONDS + WAIT_MAX))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.05
    done
    { wait "$pid"; } 2>/dev/null || true # also silences bash's "Killed" job notice
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# ---------------------------------------------------------------- tinyfleetd binary
if [ -z "$TFD" ]; then
    for c in ./daemon/tinyfleetd "$SRC/daemon/tinyfleetd"; do
        if [ -x "$c" ]; then TFD=$c; break; fi
    done
fi
if [ -z "$TFD" ]; then
    [ ! -f "$SRC/config.status" ] ||
        die "$SRC is configured in-tree: build there (make) or pass --tinyfleetd PATH"
    log "no tinyfleetd binary found: building one in $WORK/build"
    [ -x "$SRC/configure" ] || (cd "$SRC" && autoreconf -fi >/dev/null)
    mkdir -p "$WORK/build"
    (cd "$WORK/build" && "$SRC/configure" -q CFLAGS='-O2 -g' && make -j2 daemon/tinyfleetd) \
        >"$WORK/build.log" 2>&1 || die "build failed, see $WORK/build.log (use --keep)"
    TFD=$WORK/build/daemon/tinyfleetd
fi
TFD=$(cd "$(dirname "$TFD")" && pwd)/$(basename "$TFD")
[ -x "$TFD" ] || die "$TFD is not executable"

# ---------------------------------------------------------------- data
log "generating $TRIPLES triples"
python3 "$HERE/gen_triples.py" --triples "$TRIPLES" --out "$WORK/data" 2>"$WORK/gen.log"
meta() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$WORK/data/meta.json" "$1"
}
BOARDS=$(meta boards)
CASE1_EXPECT=$(meta case1_boards)
NQ_FILES=("$WORK"/data/nq/*.nq)
log "$BOARDS boards, $(meta models) models, $(meta graphs) graphs," \
    "${#NQ_FILES[@]} N-Quads files, $(du -sh "$WORK/data/nq" | cut -f1)"

LOOKUP_IRI=$(printf 'http://bench.tinyfleet.dev/board/%06d' $(((BOARDS + 1) / 2)))
Q_LOOKUP="SELECT ?p ?o WHERE { <$LOOKUP_IRI> ?p ?o }"
Q_SCAN='SELECT ?s WHERE { ?s a <http://w3id.org/s3n/SmartSensor> } LIMIT 100'
CASE1_RQ=/work/shared/tinyml-kg/queries/case1-devices-for-model.rq
[ -f "$CASE1_RQ" ] || CASE1_RQ=$SRC/../shared/tinyml-kg/queries/case1-devices-for-model.rq
[ -f "$CASE1_RQ" ] || die "case1-devices-for-model.rq not found (../shared/tinyml-kg/queries)"
Q_CASE1=$(cat "$CASE1_RQ")
QNAMES=(lookup scan case1)
urlenc() {
    python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))'
}
declare -A QENC
QENC[lookup]=$(printf '%s' "$Q_LOOKUP" | urlenc)
QENC[scan]=$(printf '%s' "$Q_SCAN" | urlenc)
QENC[case1]=$(printf '%s' "$Q_CASE1" | urlenc)
ACCEPT='Accept: application/sparql-results+json'

declare -A R # results: R[side.metric]

# Rows in a SPARQL JSON result on stdin ("ERR" if it is not one).
json_rows() {
    python3 -c 'import json,sys
try: print(len(json.load(sys.stdin)["results"]["bindings"]))
except Exception: print("ERR")'
}

# check_query SIDE BASE_URL NAME: one request with curl; records rows and the single latency.
check_query() {
    local side=$1 url=$2 q=$3 out code t
    out=$WORK/$side.$q.json
    read -r code t < <(curl -sS -o "$out" -w '%{http_code} %{time_total}\n' -H "$ACCEPT" \
        --max-time 120 "$url/sparql?query=${QENC[$q]}" || echo "000 0")
    R[$side.$q.rows]=$(json_rows <"$out")
    R[$side.$q.first_ms]=$(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')
    if [ "$code" != 200 ]; then
        log "$side $q: HTTP $code: $(head -c 400 "$out")"
        R[$side.$q.rows]="HTTP $code"
    fi
    log "$side $q: HTTP $code, ${R[$side.$q.rows]} rows, ${R[$side.$q.first_ms]} ms"
}

# to_ms "1.23ms" -> 1.230
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else print "?" }'
}

# run_wrk SIDE BASE_URL NAME: wrk counts only requests that finish within the run, so for a slow
# query the run is stretched to about three rounds of all connections (at most 120 s).
run_wrk() {
    local side=$1 url=$2 q=$3 out=$WORK/wrk.$1.$3.txt d
    d=$(awk -v d="$DURATION" -v f="${R[$side.$q.first_ms]}" -v c="$CONNS" 'BEGIN {
        n = int(f * c * 3 / 1000) + 1; if (n > d) d = n; if (d > 120) d = 120; print d }')
    R[$side.$q.dur]=$d
    timeout $((d + 90)) wrk -t"$THREADS" -c"$CONNS" -d"${d}s" --timeout 60s \
        --latency -H "$ACCEPT" "$url/sparql?query=${QENC[$q]}" >"$out" 2>&1 || true
    R[$side.$q.n]=$(awk '/requests in/ { print $1 }' "$out")
    R[$side.$q.rps]=$(awk '/^Requests\/sec:/ { printf "%.1f", $2 }' "$out")
    R[$side.$q.p50]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    R[$side.$q.p99]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    R[$side.$q.non2xx]=$(awk '/Non-2xx/ { print $NF }' "$out")
    R[$side.$q.sockerr]=$(awk '/Socket errors/ { sub(/.*errors: /, ""); print }' "$out")
    local k=$side.$q
    log "$k: ${R[$k.rps]} req/s (${R[$k.n]} in ${d} s), p50 ${R[$k.p50]} ms," \
        "p99 ${R[$k.p99]} ms${R[$k.non2xx]:+, non-2xx ${R[$k.non2xx]}}" \
        "${R[$k.sockerr]:+, socket errors ${R[$k.sockerr]}}"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ================================================================ tinyfleetd
TF=$WORK/tinyfleetd
mkdir -p "$TF/state"
TOKEN=bench-$$-0123456789abcdef
echo "$TOKEN read write admin" >"$TF/tokens"
chmod 600 "$TF/tokens"
# snapshot_journal_bytes is raised so that the kill -9 restart below replays the journal alone
# (with the default 64M, snapshots would be taken during the import).
cat >"$TF/tinyfleetd.conf" <<EOF
token_file $TF/tokens
ontology_dir $SRC/ontology
query_timeout 60
max_body_bytes 2G
snapshot_journal_bytes 64G
shutdown_timeout 30
EOF
TF_PID=
TF_URL=
tf_start() {
    rm -f "$TF/port"
    "$TFD" -l 127.0.0.1:0 -d "$TF/state" --port-file "$TF/port" -c "$TF/tinyfleetd.conf" \
        >>"$TF/daemon.log" 2>&1 &
    TF_PID=$!
    disown "$TF_PID" # no "Killed" job notice after kill -9; we poll with kill -0
    PIDS+=("$TF_PID")
}
tf_port_ready() {
    kill -0 "$TF_PID" 2>/dev/null || die "tinyfleetd exited; log: $(tail -5 "$TF/daemon.log")"
    [ -s "$TF/port" ] || return 1
    TF_URL=http://127.0.0.1:$(cat "$TF/port")
}
tf_triples() {
    curl -s --max-time 5 "$TF_URL/healthz" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["triples"])' 2>/dev/null
}
tf_has() {
    tf_port_ready || return 1
    [ "$(tf_triples)" = "$1" ]
}

log "tinyfleetd: $TFD"
tf_start
wait_for tf_port_ready || die "tinyfleetd did not write its port file"
wait_for tf_triples >/dev/null || die "tinyfleetd /healthz did not answer"
TF_BASE=$(tf_triples)
TF_FULL=$((TF_BASE + TRIPLES))
log "tinyfleetd on $TF_URL, $TF_BASE triples before the import (ontology graph)"

upload() { # FILE: prints the HTTP status
    curl -sS -o "$1.resp" -w '%{http_code}\n' --max-time "$WAIT_MAX" -X POST \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/n-quads' \
        --data-binary "@$1" "$TF_URL/data?default" || echo 000
}
export -f upload
export TOKEN TF_URL WAIT_MAX
log "tinyfleetd: importing ${#NQ_FILES[@]} N-Quads files, $UPLOAD_JOBS at a time"
t0=$(now)
printf '%s\n' "${NQ_FILES[@]}" | xargs -P "$UPLOAD_JOBS" -I{} bash -c 'upload "$1"' _ {} \
    >"$TF/upload.codes"
t1=$(now)
bad=$(grep -cv '^2' "$TF/upload.codes" || true)
if [ "$bad" != 0 ]; then
    log "tinyfleetd: $bad uploads failed:"
    for f in "${NQ_FILES[@]}"; do
        grep -q '"status"' "$f.resp" 2>/dev/null && log "  $f: $(head -c 300 "$f.resp")"
    done
fi
R[tf.load_s]=$(secs "$t0" "$t1")
R[tf.loaded]=$(($(tf_triples) - TF_BASE))
R[tf.load_tps]=$(awk -v n="${R[tf.loaded]}" -v s="${R[tf.load_s]}" 'BEGIN { printf "%.0f", n / s }')
log "tinyfleetd: ${R[tf.loaded]} triples in ${R[tf.load_s]} s"
R[tf.rss_kb]=$(rss_kb "$TF_PID")
R[tf.hwm_kb]=$(hwm_kb "$TF_PID")
R[tf.disk]=$(du -sh "$TF/state" | cut -f1)
log "tinyfleetd: VmRSS ${R[tf.rss_kb]} kB (peak ${R[tf.hwm_kb]} kB);" \
    "state dir ${R[tf.disk]}: $(ls "$TF/state" | tr '\n' ' ')"

log "tinyfleetd: kill -9, restart from the journal"
kill -KILL "$TF_PID"
wait_exit "$TF_PID"
R[tf.kill9_files]=$(ls "$TF/state" | tr '\n' ' ')
t0=$(now)
tf_start
wait_for tf_has "$TF_FULL" || die "tinyfleetd did not come back with $TF_FULL triples"
t1=$(now)
R[tf.start_kill9]=$(secs "$t0" "$t1")
log "tinyfleetd: ready after ${R[tf.start_kill9]} s (state: ${R[tf.kill9_files]})"

log "tinyfleetd: SIGTERM (writes a snapshot), restart"
t0=$(now)
kill -TERM "$TF_PID"
wait_exit "$TF_PID" || die "tinyfleetd did not stop on SIGTERM"
R[tf.stop_s]=$(secs "$t0" "$(now)")
R[tf.clean_files]=$(ls "$TF/state" | tr '\n' ' ')
t0=$(now)
tf_start
wait_for tf_has "$TF_FULL" || die "tinyfleetd did not come back with $TF_FULL triples"
t1=$(now)
R[tf.start_clean]=$(secs "$t0" "$t1")
R[tf.rss2_kb]=$(rss_kb "$TF_PID")
log "tinyfleetd: stop took ${R[tf.stop_s]} s; ready after ${R[tf.start_clean]} s" \
    "(state: ${R[tf.clean_files]}); VmRSS ${R[tf.rss2_kb]} kB"

for q in "${QNAMES[@]}"; do check_query tf "$TF_URL" "$q"; done
for q in "${QNAMES[@]}"; do run_wrk tf "$TF_URL" "$q"; done
R[tf.rss3_kb]=$(rss_kb "$TF_PID")
kill -TERM "$TF_PID"
wait_exit "$TF_PID" || true
R[tf.log_err]=$(grep -c '^<[0-3]>' "$TF/daemon.log" || true)
R[tf.log_warn]=$(grep -c '^<4>' "$TF/daemon.log" || true)

# ================================================================ Virtuoso
VT=$WORK/virtuoso
mkdir -p "$VT/db"
VT_SQL=$(free_port)
VT_HTTP=$(free_port)
[ "$VT_SQL" != "$VT_HTTP" ] || VT_HTTP=$(free_port)
# Buffers for about 2 GB (8 kB pages), as in Virtuoso's performance tuning guide.
cat >"$VT/virtuoso.ini" <<EOF
[Database]
DatabaseFile = $VT/db/virtuoso.db
ErrorLogFile = $VT/db/virtuoso.log
LockFile = $VT/db/virtuoso.lck
TransactionFile = $VT/db/virtuoso.trx
xa_persistent_file = $VT/db/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = $VT/db/virtuoso-temp.db
TransactionFile = $VT/db/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:$VT_SQL
LiteMode = 0
DisableUnixSocket = 1
DisableTcpSocket = 0
MaxClientConnections = 20
CheckpointInterval = 60
O_DIRECT = 0
CaseMode = 2
MaxStaticCursorRows = 5000
CheckpointAuditTrail = 0
AllowOSCalls = 0
SchedulerInterval = 10
DirsAllowed = ., $WORK/data/nq
ThreadCleanupInterval = 0
ThreadThreshold = 10
ResourcesCleanupInterval = 0
FreeTextBatchSize = 100000
SingleCPU = 0
PrefixResultNames = 0
RdfFreeTextRulesSize = 100
IndexTreeMaps = 64
MaxMemPoolSize = 200000000
MaxQueryMem = 2G
VectorSize = 1000
MaxVectorSize = 1000000
AdjustVectorSize = 0
ThreadsPerQuery = 2
AsyncQueueMaxThreads = 10
NumberOfBuffers = 170000
MaxDirtyBuffers = 130000

[HTTPServer]
ServerPort = 127.0.0.1:$VT_HTTP
ServerRoot = $VT/vsp
MaxClientConnections = 20
DavRoot = DAV
EnabledDavVSP = 0
HTTPProxyEnabled = 0
TempASPXDir = 0
ServerThreads = 20
MaxKeepAlives = 20
KeepAliveTimeout = 10
MaxCachedProxyConnections = 10
ProxyConnectionCacheTimeout = 15
HTTPThreadSize = 280000
HttpPrintWarningsInOutput = 0
Charset = UTF-8
EnabledGzipContent = 0

[Client]
SQL_PREFETCH_ROWS = 100
SQL_PREFETCH_BYTES = 16000
SQL_QUERY_TIMEOUT = 0
SQL_TXN_TIMEOUT = 0

[SPARQL]
ResultSetMaxRows = 100000
MaxQueryCostEstimationTime = 400
MaxQueryExecutionTime = 60
DeferInferenceRulesInit = 0
EOF
mkdir -p "$VT/vsp"
VT_URL=http://127.0.0.1:$VT_HTTP
VT_PID=
vt_start() {
    (cd "$VT/db" && exec virtuoso-t -f +configfile "$VT/virtuoso.ini") >>"$VT/stdout.log" 2>&1 &
    VT_PID=$!
    disown "$VT_PID"
    PIDS+=("$VT_PID")
}
isql() { # SQL...: runs statements through isql-vt
    timeout "$WAIT_MAX" isql-vt "127.0.0.1:$VT_SQL" dba dba "exec=$*" 2>&1
}
vt_isql_ready() {
    kill -0 "$VT_PID" 2>/dev/null || die "virtuoso-t exited: $(tail -5 "$VT/db/virtuoso.log")"
    timeout 5 isql-vt "127.0.0.1:$VT_SQL" dba dba "exec=select 1;" >/dev/null 2>&1
}
VT_ASK=$(printf 'ASK { <%s> ?p ?o }' "$LOOKUP_IRI" | urlenc)
vt_sparql_ready() {
    kill -0 "$VT_PID" 2>/dev/null || die "virtuoso-t exited: $(tail -5 "$VT/db/virtuoso.log")"
    curl -s --max-time 5 -H "$ACCEPT" "$VT_URL/sparql?query=$VT_ASK" 2>/dev/null | grep -q true
}
vt_quads() { isql "select count(*) from DB.DBA.RDF_QUAD;" | awk '/^[0-9]+ *$/ && !n { n = $1 } END { print n }'; }
vt_stop() { # clean shutdown (checkpoint) through isql
    isql "shutdown;" >/dev/null || true
    wait_exit "$VT_PID" || die "virtuoso-t did not stop"
}

VT_VERSION="Virtuoso $( (virtuoso-t -? 2>&1 || true) | awk '/^Version/ && !v { v = $2 } END { print v }')"
VT_VERSION+=" ($(dpkg-query -W -f '${Version}' virtuoso-opensource-7-bin 2>/dev/null))"
log "virtuoso: $VT_VERSION on 127.0.0.1:$VT_SQL (SQL), :$VT_HTTP (HTTP)"
t0=$(now)
vt_start
wait_for vt_isql_ready || die "virtuoso-t did not answer isql"
log "virtuoso: new database up in $(secs "$t0" "$(now)") s"
VT_BASE=$(vt_quads)

log "virtuoso: bulk load (ld_dir + $VT_LOADERS x rdf_loader_run() + checkpoint)"
t0=$(now)
isql "ld_dir('$WORK/data/nq', '*.nq', 'http://bench.tinyfleet.dev/graph/default');" >"$VT/ld_dir.log"
lpids=()
for ((i = 0; i < VT_LOADERS; i++)); do
    isql "rdf_loader_run();" >"$VT/loader.$i.log" &
    lpids+=($!)
done
for p in "${lpids[@]}"; do wait "$p" || log "virtuoso: a loader exited $?"; done
isql "checkpoint;" >"$VT/checkpoint.log"
t1=$(now)
R[vt.load_s]=$(secs "$t0" "$t1")
R[vt.loaded]=$(($(vt_quads) - VT_BASE))
R[vt.load_tps]=$(awk -v n="${R[vt.loaded]}" -v s="${R[vt.load_s]}" 'BEGIN { printf "%.0f", n / s }')
LL_ERRORS="select ll_file, ll_error from DB.DBA.LOAD_LIST where ll_error is not null;"
errs=$(isql "$LL_ERRORS" | grep -c '\.nq' || true)
[ "$errs" = 0 ] || log "virtuoso: $errs files failed to load: $(isql "$LL_ERRORS" | head -20)"
log "virtuoso: ${R[vt.loaded]} quads in ${R[vt.load_s]} s"
R[vt.rss_kb]=$(rss_kb "$VT_PID")
R[vt.disk]=$(du -sh "$VT/db" | cut -f1)

log "virtuoso: clean shutdown, restart"
vt_stop
t0=$(now)
vt_start
wait_for vt_sparql_ready || die "virtuoso SPARQL endpoint did not answer"
t1=$(now)
R[vt.start_clean]=$(secs "$t0" "$t1")
log "virtuoso: ready after ${R[vt.start_clean]} s"

log "virtuoso: kill -9, restart"
kill -KILL "$VT_PID"
wait_exit "$VT_PID"
rm -f "$VT/db/virtuoso.lck"
t0=$(now)
vt_start
wait_for vt_sparql_ready || die "virtuoso SPARQL endpoint did not answer after kill -9"
t1=$(now)
R[vt.start_kill9]=$(secs "$t0" "$t1")
R[vt.after_kill9]=$(($(vt_quads) - VT_BASE))
log "virtuoso: ready after ${R[vt.start_kill9]} s, ${R[vt.after_kill9]} quads"

for q in "${QNAMES[@]}"; do check_query vt "$VT_URL" "$q"; done
for q in "${QNAMES[@]}"; do run_wrk vt "$VT_URL" "$q"; done
R[vt.rss2_kb]=$(rss_kb "$VT_PID")
vt_stop

# ================================================================ report
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
row() { printf '| %-44s | %14s | %14s | %8s |\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }

echo
REV=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$SRC" status --porcelain --untracked-files=no 2>/dev/null)" ] || REV="$REV (tree modified)"
echo "foundation benchmark: $TRIPLES triples ($BOARDS boards, $(meta models) models, $(meta graphs) graphs)"
echo "$("$TFD" --version 2>&1 | head -1) ($TFD, source $REV); $VT_VERSION"
RAM=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
echo "$(date -u +%F) $(nproc) cores, $RAM RAM, $(uname -r); wrk -t$THREADS -c$CONNS" \
    "-d${DURATION}s; load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| %-44s | %14s | %14s | %8s |\n' "measure" "tinyfleetd" "Virtuoso" "tf/vt"
dashes() { printf -- '-%.0s' $(seq "$1"); }
printf '|%s|%s|%s|%s|\n' "$(dashes 46)" "$(dashes 16)" "$(dashes 16)" "$(dashes 10)"
row "bulk import, s" "${R[tf.load_s]}" "${R[vt.load_s]}"
row "bulk import, triples/s" "${R[tf.load_tps]}" "${R[vt.load_tps]}"
row "start-up to ready after clean stop, s" "${R[tf.start_clean]}" "${R[vt.start_clean]}"
row "start-up to ready after kill -9, s" "${R[tf.start_kill9]}" "${R[vt.start_kill9]}"
for q in "${QNAMES[@]}"; do
    case $q in
    lookup) label="single-subject lookup" ;;
    scan) label="type scan LIMIT 100" ;;
    case1) label="case study 1" ;;
    esac
    row "$label, req/s" "${R[tf.$q.rps]}" "${R[vt.$q.rps]}"
    row "$label, p50 ms" "${R[tf.$q.p50]}" "${R[vt.$q.p50]}"
    row "$label, p99 ms" "${R[tf.$q.p99]}" "${R[vt.$q.p99]}"
done
row "RSS after import, MB" "$(mb "${R[tf.rss_kb]}")" "$(mb "${R[vt.rss_kb]}")"
row "RSS after import, bytes/triple" \
    "$(awk -v k="${R[tf.rss_kb]}" -v n="$TRIPLES" 'BEGIN { printf "%.0f", k * 1024 / n }')" \
    "$(awk -v k="${R[vt.rss_kb]}" -v n="$TRIPLES" 'BEGIN { printf "%.0f", k * 1024 / n }')"
echo
per_query() { # FORMAT KEY...: "q tf X / vt Y" for each query, KEYs filling the %s in FORMAT
    local fmt=$1 q k
    shift
    for q in "${QNAMES[@]}"; do
        printf ' %s' "$q"
        for k in "$@"; do printf " $fmt" "${R[tf.$q.$k]}" "${R[vt.$q.$k]}"; done
        printf ';'
    done
}
echo "rows returned (generator expects $CASE1_EXPECT boards for case study 1):$(per_query 'tf %s / vt %s' rows)"
echo "first (cold) request, ms:$(per_query 'tf %s / vt %s' first_ms)"
echo "loaded: tf ${R[tf.loaded]} triples (healthz), vt ${R[vt.loaded]} quads (RDF_QUAD); vt after kill -9: ${R[vt.after_kill9]}"
echo "tinyfleetd: peak RSS during import $(mb "${R[tf.hwm_kb]}") MB, RSS after snapshot" \
    "restart $(mb "${R[tf.rss2_kb]}") MB, after wrk $(mb "${R[tf.rss3_kb]}") MB; SIGTERM stop" \
    "${R[tf.stop_s]} s; state dir ${R[tf.disk]}; log lines err ${R[tf.log_err]}," \
    "warning ${R[tf.log_warn]}"
echo "tinyfleetd state before kill -9 restart: ${R[tf.kill9_files]}; before clean restart: ${R[tf.clean_files]}"
echo "virtuoso: database dir ${R[vt.disk]} after import; RSS after wrk $(mb "${R[vt.rss2_kb]}") MB"
echo "wrk requests completed:$(per_query 'tf %s / vt %s' n) run length, s:$(per_query 'tf %s / vt %s' dur)"
for s in tf vt; do
    for q in "${QNAMES[@]}"; do
        [ -z "${R[$s.$q.non2xx]:-}${R[$s.$q.sockerr]:-}" ] ||
            echo "$s $q under wrk: non-2xx ${R[$s.$q.non2xx]:-0}, socket errors ${R[$s.$q.sockerr]:-none}"
    done
done
