#!/usr/bin/env bash
# Builds the deployable agent: release, Swift standard library and libzstd linked statically, stripped.
#
#   tools/build-agent.sh OUTDIR [extra swift build flags...]
#
# The result needs only the C library (glibc here) on the device. For another architecture or C library, pass a
# Swift SDK: e.g. `tools/build-agent.sh out --swift-sdk aarch64-swift-linux-musl` (see README, "Deploying").
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/build-agent.sh OUTDIR [swift build flags...]}
shift
bash tools/setup.sh >/dev/null
# -lzstd must find the static archive: a directory holding only libzstd.a goes first on the search path.
# The C compiler knows the multiarch library path (pkg-config's libdir may not: Debian says /usr/lib).
ZSTD_A=$(${CC:-cc} -print-file-name=libzstd.a)
STATIC_DIR=$(mktemp -d)
trap 'rm -rf "$STATIC_DIR"' EXIT
if [ -f "$ZSTD_A" ]; then ln -s "$ZSTD_A" "$STATIC_DIR/libzstd.a"; else echo "build-agent: no $ZSTD_A; libzstd stays a shared library" >&2; fi
swift build -c release --product fieldagent --static-swift-stdlib --scratch-path .build-agent \
  -Xlinker -L"$STATIC_DIR" "$@" 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
BIN=$(swift build -c release --static-swift-stdlib --scratch-path .build-agent --show-bin-path "$@")
# String.contains(String) and friends live in _StringProcessing; one call links its regex engine (1.5 MB).
if nm "$BIN/fieldagent" 2>/dev/null | grep -q '_StringProcessing\|RegexParser'; then
  echo "build-agent: warning: the agent links Swift's _StringProcessing (a String.contains/ranges/replacing call?): +1.5 MB" >&2
fi
mkdir -p "$OUT"
cp "$BIN/fieldagent" "$OUT/fieldagent.tmp"
${STRIP:-strip} "$OUT/fieldagent.tmp"
mv "$OUT/fieldagent.tmp" "$OUT/fieldagent"
echo "build-agent: $OUT/fieldagent, $(stat -c %s "$OUT/fieldagent") bytes; needs: $( (ldd "$OUT/fieldagent" 2>/dev/null || echo 'not a dynamic executable') | awk '{print $1}' | tr '\n' ' ')"
