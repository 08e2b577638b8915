#!/bin/sh
# build.sh [OUTDIR] - compile every workload in this directory into OUTDIR
# (default: <repo>/.build/workloads).  Stops with a non-zero status at the
# first compile error.  Safe to run again: each binary is rebuilt in place.
# CC and CFLAGS may be overridden, e.g. CC=aarch64-linux-musl-gcc for a device.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../../.build/workloads"}
cc=${CC:-cc}
cflags=${CFLAGS:-"-O2 -Wall -Wextra -pthread"}

mkdir -p "$out"
out=$(cd "$out" && pwd)

built=0
for src in "$here"/*.c; do
    name=$(basename "$src" .c)
    # Write to a temporary name first so a failed build never leaves a stale
    # or half-written binary under the real name.
    # shellcheck disable=SC2086 # cflags is a list of words on purpose
    if ! $cc -std=gnu11 $cflags -o "$out/$name.tmp" "$src"; then
        rm -f "$out/$name.tmp"
        echo "build.sh: failed to compile $name" >&2
        exit 1
    fi
    mv -f "$out/$name.tmp" "$out/$name"
    built=$((built + 1))
done
echo "build.sh: $built workloads in $out"
