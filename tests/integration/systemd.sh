#!/bin/sh
# SPDX-License-Identifier: MIT
# The systemd unit as make builds it (systemd/tinyfleetd.service): `systemd-analyze verify` must
# find nothing wrong with it and `systemd-analyze security` must rate its exposure 2.0 or lower.
# ExecStart is pointed at the built daemon (verify wants an executable there) and the man page
# named by Documentation= at the built one; the rest of the unit is checked as installed.
# Exit 0 on success, 77 (skip) where systemd-analyze is absent, 1 otherwise.
set -u
max_exposure=2.0

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd.sh: systemd-analyze is not installed; skipping the unit checks"
    exit 77
fi
unit=${TOP_BUILDDIR:?run through make check}/systemd/tinyfleetd.service
man8=$TOP_BUILDDIR/man/tinyfleetd.8
daemon=${TINYFLEETD:?run through make check}
for f in "$unit" "$man8" "$daemon"; do
    [ -f "$f" ] || { echo "FAIL: $f is missing (make builds it)"; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tinyfleet-systemd.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$daemon|" "$unit" >"$tmp/tinyfleetd.service"
grep -q "^ExecStart=$daemon " "$tmp/tinyfleetd.service" || {
    echo "FAIL: no ExecStart= line in $unit"; exit 1; }

status=0
# verify runs man(1) for Documentation=man:tinyfleetd(8); without man it cannot, so it is told
# not to (the page itself is checked by groff where groff is installed).
if command -v man >/dev/null 2>&1; then
    mkdir -p "$tmp/man/man8" && cp "$man8" "$tmp/man/man8/"
    MANPATH="$tmp/man" systemd-analyze verify "$tmp/tinyfleetd.service" >"$tmp/verify.out" 2>&1
else
    echo "systemd.sh: man is not installed; verify runs with --man=no"
    systemd-analyze verify --man=no "$tmp/tinyfleetd.service" >"$tmp/verify.out" 2>&1
fi
rc=$?
# verify may mention other units of the machine it loads; what it says about ours is an error.
if [ "$rc" -ne 0 ] || grep -q "tinyfleetd" "$tmp/verify.out"; then
    echo "FAIL: systemd-analyze verify (exit $rc):"
    cat "$tmp/verify.out"
    status=1
else
    echo "ok: systemd-analyze verify"
fi
# Every groff warning but line filling, which depends on how long the configured paths are.
if command -v groff >/dev/null 2>&1; then
    for page in "$man8" "$TOP_BUILDDIR/man/tinyfleet-inspect.1"; do
        out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
        rc=$?
        out=$(printf '%s\n' "$out" | grep -v -e 'cannot adjust line' -e 'cannot break line')
        if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
            echo "FAIL: groff warns about $page:"; echo "$out"; status=1
        fi
    done
fi

systemd-analyze security --offline=true "$tmp/tinyfleetd.service" >"$tmp/security.out" 2>&1
rc=$?
score=$(sed -n 's/.*Overall exposure level for tinyfleetd.service: \([0-9][0-9.]*\).*/\1/p' \
    "$tmp/security.out")
if [ "$rc" -ne 0 ] || [ -z "$score" ]; then
    echo "FAIL: systemd-analyze security --offline=true (exit $rc):"
    cat "$tmp/security.out"
    exit 1
fi
if awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s + 0 <= m + 0) }'; then
    echo "ok: systemd-analyze security: exposure $score (at most $max_exposure)"
else
    echo "FAIL: systemd-analyze security rates the unit $score, above $max_exposure:"
    grep '✗' "$tmp/security.out"
    status=1
fi
exit $status
