#!/usr/bin/env bash
# Installs what cross-building and emulating the device agent needs on a Debian machine (run as root, or with sudo):
# cross C compilers, the targets' glibc libzstd through multiarch, musl for each target, and qemu-user.
#
#   tools/setup-cross.sh            # every target tools/build-agent.sh knows
#
# Idempotent: a second run installs nothing and returns at once.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# Debian names: armhf is ARMv7 hard-float, arm64 is AArch64. riscv64 is not a release architecture of Debian 12, so
# its libzstd is built from source like musl's (tools/build-agent.sh does that).
want_arch="armhf arm64"
for a in $want_arch; do
  dpkg --print-foreign-architectures | grep -qx "$a" || { $SUDO dpkg --add-architecture "$a"; added=1; }
done

# Source packages (apt-get source zstd) for the libzstd that musl builds compile themselves.
if ! grep -rqs 'deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "setup-cross: enabling Debian source packages" >&2
  $SUDO tee /etc/apt/sources.list.d/field-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  added=1
fi

pkgs="gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu libc6-dev-armhf-cross libc6-dev-arm64-cross
  libc6-dev-riscv64-cross binutils-multiarch qemu-user
  libc6:armhf libc6:arm64 musl-tools musl-dev:armhf musl-dev:arm64 libzstd-dev:armhf libzstd-dev:arm64 libmbedtls-dev:armhf libmbedtls-dev:arm64 dpkg-dev make file"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ] || [ -n "${added:-}" ]; then
  echo "setup-cross: installing$missing" >&2
  $SUDO apt-get update -qq
  [ -z "$missing" ] || $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
