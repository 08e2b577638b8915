#!/usr/bin/env bash
# The main job: build; start the leak workloads and their healthy twins; run the real agent on this machine's
# /proc for a minute; check the bundle (zstd, the Python reference decoder); print the analysis.
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
for w in leak-unjoined leak-unjoined-small leak-growing leak-heap leak-anon leak-shm leak-fd ok-joined ok-detached ok-pool ok-steady; do
  "$OUT/workloads/$w" --count 60 --interval-ms 800 --hold-seconds 15 > /dev/null 2>&1 &
  pids+=($!)
  echo "   $w: pid $!"
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
echo "== the same thread leak on a simulated SylixOS controller (tools/sylixos-sim), sampled by a second agent"
python3 tools/sylixos-sim/sylixos_sim.py --root "$OUT/sylixos-proc" --scenario thread-leak --thread-total 500 \
  --leak-interval 0.5 --duration 70 > "$OUT/sylixos-sim.json" 2>/dev/null &
pids+=($!)
sleep 1
"$BIN/fieldagent" --proc-root "$OUT/sylixos-proc" --interval 1 --duration 60 --spool "$OUT/sylixos-spool" --device-id plc-sim > /dev/null &
sylix_agent=$!
echo "== sampling this machine's /proc for 60 s (interval 1 s) into $OUT/spool"
"$BIN/fieldagent" --interval 1 --duration 60 --spool "$OUT/spool" --device-id demo-host --deep-every 3
wait $sylix_agent
BUNDLE=$(ls "$OUT"/spool/*.zst | head -n 1)
echo "== $(zstd -tq "$BUNDLE" && echo 'zstd -t: valid'); fieldctl decode and tools/fieldbundle.py agree:"
"$BIN/fieldctl" decode "$BUNDLE" > "$OUT/bundle.jsonl"
python3 tools/fieldbundle.py "$BUNDLE" > "$OUT/bundle.py.jsonl"
cmp "$OUT/bundle.jsonl" "$OUT/bundle.py.jsonl" && echo "   identical ($(wc -l < "$OUT/bundle.jsonl") lines)"
"$BIN/fieldctl" decode --format summary "$BUNDLE" | sed -n '1,12p'
echo "== fieldctl analyze $OUT/spool"
"$BIN/fieldctl" analyze --output "$OUT/report.json" --format json "$OUT/spool"
"$BIN/fieldctl" analyze --output "$OUT/report.html" --format html "$OUT/spool"
"$BIN/fieldctl" analyze "$OUT/spool" | tee "$OUT/report.txt"
echo "== HTML report with charts: $OUT/report.html"
echo "== fieldctl compare: Linux (real workload) and SylixOS (simulator) side by side"
"$BIN/fieldctl" compare "$OUT/spool" "$OUT/sylixos-spool" | tee "$OUT/compare.txt"
