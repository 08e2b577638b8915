#!/usr/bin/env bash
# Installs what building and testing field needs on a Debian machine (run as root, or with sudo available).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need_apt=""
dpkg -s "libzstd-dev:$(dpkg --print-architecture)" >/dev/null 2>&1 || need_apt="$need_apt libzstd-dev"
dpkg -s "libmbedtls-dev:$(dpkg --print-architecture)" >/dev/null 2>&1 || need_apt="$need_apt libmbedtls-dev"
command -v curl >/dev/null 2>&1 || need_apt="$need_apt curl"
command -v openssl >/dev/null 2>&1 || need_apt="$need_apt openssl"
command -v zstd >/dev/null 2>&1 || need_apt="$need_apt zstd"
command -v pkg-config >/dev/null 2>&1 || need_apt="$need_apt pkg-config"
command -v cc >/dev/null 2>&1 || need_apt="$need_apt gcc libc6-dev"
if [ -n "$need_apt" ]; then
  echo "setup: installing$need_apt" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need_apt >/dev/null
fi
if ! python3 -c 'import cbor2, zstandard' >/dev/null 2>&1; then
  echo "setup: installing the Python packages cbor2 and zstandard" >&2
  python3 -m pip install -q --disable-pip-version-check cbor2 zstandard crc32c 2>&1 | grep -v "Running pip as the 'root' user" || true
  python3 -c 'import cbor2, zstandard'
fi
command -v swift >/dev/null 2>&1 || { echo "setup: no Swift toolchain on PATH (Swift 6.0 or newer is needed)" >&2; exit 1; }
