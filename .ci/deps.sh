#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what tinyfleet needs to build and test on Debian 12 (as root, or through sudo).
# libcurl4-gnutls-dev, not -openssl-dev: Debian's libraptor2-dev depends on the GnuTLS flavour
# and the two conflict.
set -e
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    build-essential autoconf automake libtool pkg-config \
    librdf0-dev librasqal3-dev libraptor2-dev libmicrohttpd-dev libjansson-dev \
    libcurl4-gnutls-dev nettle-dev check python3 curl ca-certificates \
    valgrind clang libclang-rt-14-dev
