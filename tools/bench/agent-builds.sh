#!/usr/bin/env bash
# The deployable agent, old build against new, in one run (results: docs/performance.md, "Agent builds").
#
# 1. Binary size of the Embedded build for every target of tools/build-agent.sh, and of the old deployable build
#    (normal Swift, static Swift stdlib and libzstd, stripped).
# 2. On this machine's /proc, with the leak workloads running, the old agent and the Embedded x86_64 builds (glibc
#    dynamic, musl static) sample side by side at the default settings (1 s, deep every 10) for DURATION seconds:
#    RSS (total and private, from /proc/PID/status once per sample), CPU per sample against merely re-reading the
#    same files, and bundle bytes per steady-state sample (the real bundle's growth) against zstd -3 of each sample
#    alone. `fieldbench follow` does the last two beside each agent: it re-reads each new sample's entries from the
#    live /proc while the same workload processes run (re-reading after the run found them gone and was too cheap).
#
#   tools/bench/agent-builds.sh [DURATION]     # default 60
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-60}
OUT=${BENCH_OUT:-out/bench-agents}
rm -rf "$OUT"; mkdir -p "$OUT"
bash tools/setup.sh >/dev/null
for p in fieldctl fieldbench; do swift build -c release --product $p 2>&1 | tail -n 1; done
BIN=$(swift build -c release --show-bin-path)

echo "## machine"
echo "$(nproc) cores, $(grep MemTotal /proc/meminfo | tr -s ' '), kernel $(uname -r), $(ls -d /proc/[0-9]* | wc -l) processes, $(date -u +%FT%TZ)"

echo "## binary size (stripped)"
# The old deployable agent: normal Swift, the Swift runtime and libzstd linked statically.
ZSTD_A=$(cc -print-file-name=libzstd.a)
mkdir -p "$OUT/zstd-static" && ln -sf "$ZSTD_A" "$OUT/zstd-static/libzstd.a"
swift build -c release --product fieldagent --static-swift-stdlib --scratch-path .build-old-agent \
  -Xlinker -L"$PWD/$OUT/zstd-static" 2>&1 | tail -n 1
mkdir -p "$OUT/old" && cp "$(swift build -c release --static-swift-stdlib --scratch-path .build-old-agent --show-bin-path)/fieldagent" "$OUT/old/"
strip "$OUT/old/fieldagent"
printf '| %s | %s | %s |\n' "build" "bytes" "links"
printf '| %s | %s | %s |\n' "old: normal Swift, static stdlib, x86_64 glibc" "$(stat -c %s "$OUT/old/fieldagent")" \
  "$(ldd "$OUT/old/fieldagent" | awk '{print $1}' | tr '\n' ' ')"
for t in x86_64-linux-gnu x86_64-linux-musl armv7-linux-gnueabihf armv7-linux-musleabihf aarch64-linux-gnu aarch64-linux-musl; do
  bash tools/build-agent.sh "$OUT/$t" --target "$t" >/dev/null 2>&1 || { echo "| $t | build failed | |"; continue; }
  links=$(readelf -d "$OUT/$t/fieldagent" 2>/dev/null | awk '/NEEDED/ {gsub(/[\[\]]/, "", $5); print $5}' | tr '\n' ' ')
  interp=$(readelf -l "$OUT/$t/fieldagent" | grep -o 'interpreter: [^]]*' | sed 's/interpreter: //' || true)
  printf '| %s | %s | %s |\n' "Embedded $t" "$(stat -c %s "$OUT/$t/fieldagent")" "${links:-static}${interp:+, $interp}"
done

echo "## side by side on /proc with the leak workloads, ${DURATION} s at the defaults"
bash tools/workloads/build.sh "$OUT/workloads" >/dev/null
wl=()
for w in leak-unjoined leak-growing leak-heap leak-fd ok-pool ok-steady; do
  "$OUT/workloads/$w" --count 200 --interval-ms 500 --hold-seconds "$DURATION" >/dev/null 2>&1 & wl+=($!)
done
declare -A pid follow
for a in old x86_64-linux-gnu x86_64-linux-musl; do
  "$OUT/$a/fieldagent" --duration "$DURATION" --spool "$OUT/run-$a" --device-id "bench-$a" 2>"$OUT/run-$a.err" &
  pid[$a]=$!
  # Beside each agent, the same entries re-read from the live /proc half an interval after each of its samples.
  # It also reads the agent's VmRSS and RssAnon once per sample (a shell loop would spawn processes every second,
  # which every agent then captures whole as new processes: that alone doubled the bytes per sample).
  "$BIN/fieldbench" follow "$OUT/run-$a" --pid "${pid[$a]}" > "$OUT/follow-$a.txt" 2>&1 &
  follow[$a]=$!
done
for a in "${!pid[@]}"; do wait "${pid[$a]}"; wait "${follow[$a]}" || true; done
kill "${wl[@]}" 2>/dev/null || true
wait 2>/dev/null || true

printf '| %s | %s | %s | %s | %s |\n' "agent" "VmRSS median / max (KiB)" "RssAnon median (KiB)" "CPU per sample: agent / reread (us)" "bytes per sample: bundle / zstd -3"
for a in old x86_64-linux-gnu x86_64-linux-musl; do
  f=$(cat "$OUT/follow-$a.txt")
  rss=$(sed -nE 's/^rss: VmRSS median ([0-9]+) KiB, max ([0-9]+) KiB; RssAnon median ([0-9]+) KiB.*/\1 \/ \2|\3/p' <<< "$f")
  cpu=$(sed -nE 's/.*agent ([0-9]+) us, reading the same entries ([0-9]+) us, ratio ([0-9.]+).*/\1 \/ \2 = \3x/p' <<< "$f")
  size=$(sed -nE 's/.*bundle ([0-9]+) B, each sample alone with zstd -3 ([0-9]+) B, ratio (1\/[0-9.]+).*/\1 \/ \2 = \3/p' <<< "$f")
  printf '| %s | %s | %s | %s | %s |\n' "$a" "${rss%%|*}" "${rss##*|}" "$cpu" "$size"
done

echo "## uploading: the Embedded builds with --upload to a collector on loopback (bundles every 5 s), 25 s at 0.5 s"
umask 077
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$OUT/token"
for a in x86_64-linux-gnu x86_64-linux-musl; do echo "up-$a $(cat "$OUT/token")"; done > "$OUT/tokens"
"$BIN/fieldctl" serve --listen 127.0.0.1:0 --store "$OUT/store" --tokens "$OUT/tokens" > "$OUT/serve.log" 2>&1 &
serve=$!
for _ in $(seq 100); do grep -qo 'listening on [0-9.:]*' "$OUT/serve.log" && break; sleep 0.1; done
ADDR=$(grep -o 'listening on [0-9.:]*' "$OUT/serve.log" | head -n 1 | awk '{print $3}')
printf '| %s | %s | %s | %s |\n' "agent" "VmRSS (KiB)" "RssAnon (KiB)" "bundles stored"
for a in x86_64-linux-gnu x86_64-linux-musl; do
  "$OUT/$a/fieldagent" --interval 0.5 --duration 25 --bundle-seconds 5 --spool "$OUT/up-$a" --device-id "up-$a" \
    --upload "http://$ADDR" --token-file "$OUT/token" 2>"$OUT/up-$a.err" &
  p=$!
  sleep 22
  read -r rss anon < <(awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} END {print r, a}' "/proc/$p/status")
  wait "$p" || true
  printf '| %s | %s | %s | %s |\n' "$a" "$rss" "$anon" "$(ls "$OUT/store/up-$a"/*.zst 2>/dev/null | wc -l)"
done
kill "$serve" 2>/dev/null || true
