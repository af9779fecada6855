#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what tinyfleet needs to build and test on Debian 12 (as root, or through sudo).
set -e
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# The package list, with the reasons for each choice, is .ci/packages.
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    $(grep -v '^#' "$(dirname "$0")/packages")
# systemd-analyze, for tests/integration/systemd.sh. Debian 12 machines mostly have it; installing
# the package where it is present would upgrade a running systemd, so only where it is missing.
command -v systemd-analyze >/dev/null 2>&1 ||
    $SUDO apt-get install -y -q --no-install-recommends systemd
# promtool, for the /metrics test (test_ops runs `promtool check metrics` where it exists).
# Debian ships it only inside the prometheus package, whose installation would also start a
# Prometheus server; the binary is taken out of the package instead.
if ! command -v promtool >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    if (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1) &&
        dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" &&
        $SUDO install -m 0755 "$tmp/x/usr/bin/promtool" /usr/local/bin/promtool; then
        echo "installed /usr/local/bin/promtool from Debian's prometheus package"
    else
        echo "promtool is not available; test_ops checks /metrics with its own reader only"
    fi
    rm -rf "$tmp"
fi
