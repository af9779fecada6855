#!/bin/bash
# SPDX-License-Identifier: MIT
# The W3C SPARQL 1.1 Protocol tests (34 mf:ProtocolTest entries, run by
# $SHARED_DIR/conformance/sparql11-protocol/run_protocol_tests.py) against a throwaway tinyfleetd
# on 127.0.0.1 with a write token (the tests load their graphs with SPARQL Update and run
# CLEAR ALL / DROP ALL). Exit 0 if every test passes and the daemon then stops cleanly on
# SIGTERM, 77 if the suite or python3 is absent, 1 otherwise.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh" || exit 1

runner=${SHARED_DIR:-}/conformance/sparql11-protocol/run_protocol_tests.py
[ -n "${SHARED_DIR:-}" ] || tf_skip "SHARED_DIR is not set"
[ -d "$SHARED_DIR/conformance" ] || tf_skip "$SHARED_DIR/conformance is absent"
[ -f "$runner" ] || tf_skip "$runner is absent"
python=${PYTHON3:-}
[ -n "$python" ] || python=$(command -v python3 || true)
[ -n "$python" ] && [ -x "$python" ] || tf_skip "python3 is not installed"

tf_setup || exit 1
tf_start || exit 1

"$python" "$runner" "$TF_URL/sparql" --header "Authorization: Bearer $TF_TOKEN"
suite_rc=$?

stop_rc=0
tf_stop || stop_rc=$?
if [ "$stop_rc" -ne 0 ]; then
    echo "FAIL: tinyfleetd exited with status $stop_rc after SIGTERM; its log:"
    cat "$TF_DIR/daemon.log"
fi
if [ "$suite_rc" -ne 0 ]; then
    echo "FAIL: run_protocol_tests.py exited with status $suite_rc"
fi
[ "$suite_rc" -eq 0 ] && [ "$stop_rc" -eq 0 ] || exit 1
exit 0
