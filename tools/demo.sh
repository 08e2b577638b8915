#!/usr/bin/env bash
# The main job: build; start a collector (fieldctl serve) on loopback; start the leak workloads and their healthy
# twins; run the real agent on this machine's /proc for 90 s, uploading to the collector; check a stored
# bundle (zstd, the Python reference decoder); print the analysis of what the collector stored.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
echo "== building (release)"
swift build -c release --product fieldagent 2>&1 | tail -n 1
swift build -c release --product fieldctl 2>&1 | tail -n 1
BIN=$(swift build -c release --show-bin-path)
OUT=${DEMO_OUT:-out/demo}
rm -rf "$OUT"; mkdir -p "$OUT"
bash tools/workloads/build.sh "$OUT/workloads" >/dev/null
echo "== starting the workloads (each stops by itself)"
pids=()
# They leak (or stay healthy) for 120 s, past the agent's 90 s: a leak that stops before the end is a plateau.
for w in leak-unjoined leak-unjoined-small leak-growing leak-heap leak-anon leak-shm leak-fd \
         ok-joined ok-detached ok-pool ok-steady ok-cache ok-pool-grow ok-workers; do
  "$OUT/workloads/$w" --count 150 --interval-ms 800 --hold-seconds 10 > /dev/null 2>&1 &
  pids+=($!)
  echo "   $w: pid $!"
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
echo "== starting the collector: fieldctl serve on loopback, store $OUT/store"
umask 077
for d in demo-host plc-sim; do
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$d $token" >> "$OUT/tokens"
  echo "$token" > "$OUT/$d.token"
done
umask 022
"$BIN/fieldctl" serve --listen 127.0.0.1:0 --address-file "$OUT/collector.address" --store "$OUT/store" \
  --tokens "$OUT/tokens" > "$OUT/collector.log" 2>&1 &
collector=$!
pids+=($collector)
for _ in $(seq 100); do [ -s "$OUT/collector.address" ] && break; sleep 0.1; done
URL="http://$(cat "$OUT/collector.address")"
echo "   listening at $URL (log: $OUT/collector.log)"
echo "== the same thread leak on a simulated SylixOS controller (tools/sylixos-sim), sampled by a second agent"
python3 tools/sylixos-sim/sylixos_sim.py --root "$OUT/sylixos-proc" --scenario thread-leak --thread-total 500 \
  --leak-interval 0.5 --duration 100 > "$OUT/sylixos-sim.json" 2>/dev/null &
pids+=($!)
sleep 1
"$BIN/fieldagent" --proc-root "$OUT/sylixos-proc" --interval 1 --duration 90 --spool "$OUT/sylixos-spool" --device-id plc-sim \
  --upload "$URL" --token-file "$OUT/plc-sim.token" > /dev/null 2>&1 &
sylix_agent=$!
echo "== sampling this machine's /proc for 90 s (interval 1 s, a bundle every 20 s), uploading to the collector"
"$BIN/fieldagent" --interval 1 --duration 90 --spool "$OUT/spool" --device-id demo-host --deep-every 3 \
  --bundle-seconds 20 --upload "$URL" --token-file "$OUT/demo-host.token" 2>&1 | grep -E "delivered|refused|unreachable|wrote" || true
wait $sylix_agent
echo "== the spools drained: $(ls "$OUT"/spool/*.zst "$OUT"/sylixos-spool/*.zst 2>/dev/null | wc -l) bundles left on the devices"
"$BIN/fieldctl" devices --store "$OUT/store"
BUNDLE=$(ls "$OUT"/store/demo-host/*.zst | head -n 1)
echo "== $(zstd -tq "$BUNDLE" && echo 'zstd -t: valid'); fieldctl decode and tools/fieldbundle.py agree:"
"$BIN/fieldctl" decode "$BUNDLE" > "$OUT/bundle.jsonl"
python3 tools/fieldbundle.py "$BUNDLE" > "$OUT/bundle.py.jsonl"
cmp "$OUT/bundle.jsonl" "$OUT/bundle.py.jsonl" && echo "   identical ($(wc -l < "$OUT/bundle.jsonl") lines)"
"$BIN/fieldctl" decode --format summary "$BUNDLE" | sed -n '1,12p'
echo "== fieldctl analyze $OUT/store/demo-host (what the collector stored)"
"$BIN/fieldctl" analyze --output "$OUT/report.json" --format json "$OUT/store/demo-host"
"$BIN/fieldctl" analyze --output "$OUT/report.html" --format html "$OUT/store/demo-host"
"$BIN/fieldctl" analyze "$OUT/store/demo-host" | tee "$OUT/report.txt"
echo "== HTML report with charts: $OUT/report.html"
echo "== fieldctl compare: Linux (real workload) and SylixOS (simulator) side by side"
"$BIN/fieldctl" compare "$OUT/store/demo-host" "$OUT/store/plc-sim" | tee "$OUT/compare.txt"
kill -TERM $collector && wait $collector 2>/dev/null || true
echo "== collector stopped; it logged $(grep -c ' PUT ' "$OUT/collector.log") uploads"
