#!/usr/bin/env bash
# Bundle writer and reader benchmarks on real /proc content from this machine (results: docs/performance.md).
#
# 1. fieldagent samples this machine's /proc (every 0.25 s for 30 s) into a source bundle.
# 2. fieldbench write re-writes those samples 10 times over with the default writer: throughput, and bytes per
#    steady-state sample against compressing each sample's raw files alone with zstd -3.
# 3. The reader on that bundle, timed by hyperfine against `zstd -dc` on the same file.
#
# Needs: Swift, zstd, hyperfine (installed from Debian if missing), GNU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/setup.sh
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
for p in fieldagent fieldctl fieldbench; do swift build -c release --product $p 2>&1 | tail -n 1; done
BIN=$(swift build -c release --show-bin-path)
OUT=${BENCH_OUT:-out/bench}
rm -rf "$OUT"; mkdir -p "$OUT"

echo "## machine"
echo "$(nproc) cores, $(grep MemTotal /proc/meminfo | tr -s ' '), kernel $(uname -r), $(ls -d /proc/[0-9]* | wc -l) processes, zstd $(zstd -V | grep -o 'v[0-9.]*')"

echo "## capture: fieldagent --interval 0.25 --duration 30 on /proc"
"$BIN/fieldagent" --interval 0.25 --duration 30 --spool "$OUT/src" --device-id bench
SRC=$(ls "$OUT"/src/*.zst)

echo "## writer (3 runs, default options)"
for i in 1 2 3; do "$BIN/fieldbench" write "$SRC" "$OUT/big.zst" --repeat 10; done

echo "## reader"
"$BIN/fieldbench" read "$OUT/big.zst"
"$BIN/fieldbench" read "$OUT/big.zst" --typed
hyperfine --warmup 2 --runs 10 -N --export-markdown "$OUT/hyperfine.md" \
  "zstd -dcq $OUT/big.zst -o /dev/null -f" \
  "$BIN/fieldbench read $OUT/big.zst" \
  "$BIN/fieldbench read $OUT/big.zst --typed" \
  "$BIN/fieldctl decode --format summary $OUT/big.zst" 2>&1 | grep -vE '^\s*$'
cat "$OUT/hyperfine.md"

echo "## reader peak memory (GNU time, maximum resident set size)"
/usr/bin/time -f "fieldbench read: %M KiB" "$BIN/fieldbench" read "$OUT/big.zst" >/dev/null
/usr/bin/time -f "zstd -dc: %M KiB" zstd -dcq "$OUT/big.zst" -o /dev/null -f
ls -l "$OUT/big.zst" | awk '{print "bundle: " $5 " bytes compressed"}'

echo "## deployable agent (tools/build-agent.sh): size, memory, CPU per sample"
bash tools/build-agent.sh "$OUT/agent" | tail -n 1
/usr/bin/time -f "static agent, 30 s at 0.5 s: peak RSS %M KiB, CPU %U s user + %S s system" \
  "$OUT/agent/fieldagent" --interval 0.5 --duration 30 --spool "$OUT/agent-run" --device-id bench
"$BIN/fieldctl" decode "$OUT"/agent-run/*.zst | python3 -c '
import json, sys
st = [json.loads(l)["payload"] for l in sys.stdin if "\"type\":\"stats\"" in l]
rss = sorted(s["rss_bytes"] / 1048576 for s in st)
print("steady RSS (from the agent stats records, /proc/self/statm): median %.2f MiB, max %.2f MiB over %d samples" % (rss[len(rss) // 2], rss[-1], len(st)))
'
"$BIN/fieldbench" reread "$OUT"/agent-run/*.zst

echo "## size against level, window and match tables (same samples)"
for cfg in "3 22 0 0" "3 21 0 0" "5 21 16 16" "6 21 16 16" "7 21 16 16" "8 21 16 16" "7 20 16 16" "7 22 16 16"; do
  set -- $cfg
  extra=""; [ "$3" != - ] && extra="--hash-log $3 --chain-log $4"
  echo "level $1 window 2^$2 tables ${3}/${4}: $("$BIN/fieldbench" write "$SRC" "$OUT/cfg.zst" --repeat 10 --level $1 --window-log $2 $extra | tr '\n' ' ')"
done

echo "## analysis throughput against bundle size (same samples written 5 to 40 times)"
for r in 5 10 20 40; do
  "$BIN/fieldbench" write "$SRC" "$OUT/scale$r.zst" --repeat $r | head -n 1 | sed -E 's/ -> .*//'
  /usr/bin/time -f "  fieldctl analyze: %e s, max RSS %M KiB" "$BIN/fieldctl" analyze --format json "$OUT/scale$r.zst" > /dev/null
done
