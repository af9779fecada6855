# SPDX-License-Identifier: MIT
# Shell helpers for the integration scripts (sourced, not run): make a throwaway directory with a
# config, a token file and a state dir, start the real tinyfleetd ($TINYFLEETD) on 127.0.0.1
# port 0 with a port file, wait for the port, and stop it with SIGTERM. An EXIT trap kills a
# daemon that is still running and removes the directory, whatever way the script ends.
#
# After tf_start: TF_PID, TF_PORT, TF_URL (http://127.0.0.1:PORT), TF_TOKEN (scope write),
# TF_READ_TOKEN (scope read), TF_DIR (the directory; the daemon logs to $TF_DIR/daemon.log).

TF_PID=
TF_PORT=
TF_URL=
TF_DIR=
TF_TOKEN=tf-write-$$-0123456789abcdef
TF_READ_TOKEN=tf-read-$$-0123456789abcdef

tf_skip() {
    echo "SKIP: $*"
    exit 77
}

tf_cleanup() {
    if [ -n "$TF_PID" ] && kill -0 "$TF_PID" 2>/dev/null; then
        kill -KILL "$TF_PID" 2>/dev/null
        wait "$TF_PID" 2>/dev/null
    fi
    TF_PID=
    if [ -n "$TF_DIR" ] && [ -z "${TINYFLEET_ITEST_KEEP:-}" ]; then
        rm -rf "$TF_DIR"
    fi
}

# tf_setup [CONFIG-LINE...]: the directory, config (with any extra lines) and token file.
tf_setup() {
    [ -n "${TINYFLEETD:-}" ] || tf_skip "TINYFLEETD is not set (run through make check)"
    [ -x "$TINYFLEETD" ] || tf_skip "$TINYFLEETD is not executable"
    TF_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tinyfleet-sh.XXXXXX") || exit 1
    trap tf_cleanup EXIT
    mkdir "$TF_DIR/state" || exit 1
    printf '%s write\n%s read\n' "$TF_TOKEN" "$TF_READ_TOKEN" >"$TF_DIR/tokens"
    chmod 600 "$TF_DIR/tokens"
    {
        echo "token_file $TF_DIR/tokens"
        if [ -n "${TOP_SRCDIR:-}" ]; then
            echo "ontology_dir $TOP_SRCDIR/ontology"
            echo "sparql_dir $TOP_SRCDIR/sparql"
        fi
        echo "shutdown_timeout 5"
        for line in "$@"; do
            echo "$line"
        done
    } >"$TF_DIR/tinyfleetd.conf"
}

# tf_start: starts the daemon and waits up to 20 s for its port file. TINYFLEETD_WRAPPER, if
# set, is put in front of the command (e.g. valgrind).
tf_start() {
    rm -f "$TF_DIR/port"
    ${TINYFLEETD_WRAPPER:-} "$TINYFLEETD" -c "$TF_DIR/tinyfleetd.conf" -l 127.0.0.1:0 -d "$TF_DIR/state" \
        --port-file "$TF_DIR/port" >>"$TF_DIR/daemon.log" 2>&1 &
    TF_PID=$!
    local i
    for i in $(seq 1 2000); do
        if [ -s "$TF_DIR/port" ]; then
            TF_PORT=$(head -n 1 "$TF_DIR/port")
            case $TF_PORT in
            '' | *[!0-9]*) ;;
            *)
                TF_URL=http://127.0.0.1:$TF_PORT
                return 0
                ;;
            esac
        fi
        if ! kill -0 "$TF_PID" 2>/dev/null; then
            wait "$TF_PID"
            echo "FAIL: tinyfleetd exited during start-up (status $?):"
            cat "$TF_DIR/daemon.log"
            TF_PID=
            return 1
        fi
        sleep 0.01
    done
    echo "FAIL: tinyfleetd wrote no port file within 20 s:"
    cat "$TF_DIR/daemon.log"
    return 1
}

# tf_stop: SIGTERM, then waits up to 15 s. Returns the daemon's exit status (1 if it had to be
# killed).
tf_stop() {
    [ -n "$TF_PID" ] || return 1
    kill -TERM "$TF_PID" 2>/dev/null
    local i
    for i in $(seq 1 1500); do
        if ! kill -0 "$TF_PID" 2>/dev/null; then
            local rc=0
            wait "$TF_PID" || rc=$?
            TF_PID=
            return $rc
        fi
        sleep 0.01
    done
    echo "FAIL: tinyfleetd did not exit within 15 s of SIGTERM"
    kill -KILL "$TF_PID" 2>/dev/null
    wait "$TF_PID" 2>/dev/null
    TF_PID=
    return 1
}
