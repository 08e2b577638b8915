#!/usr/bin/env bash
# The main job, for now: build, run the real agent on this machine's /proc for a few seconds, then open the bundle
# with fieldctl (summary and the first JSON lines) and check it with zstd and the Python reference decoder.
# Later issues grow this into the full demo (leak workloads, analysis, HTML report).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
echo "== building (release)"
swift build -c release --product fieldagent 2>&1 | tail -n 1
swift build -c release --product fieldctl 2>&1 | tail -n 1
BIN=$(swift build -c release --show-bin-path)
OUT=${DEMO_OUT:-out/demo}
rm -rf "$OUT"; mkdir -p "$OUT"
echo "== sampling this machine's /proc for 5 s (interval 0.5 s) into $OUT/spool"
"$BIN/fieldagent" --interval 0.5 --duration 5 --spool "$OUT/spool" --device-id demo-host
BUNDLE=$(ls "$OUT"/spool/*.zst | head -n 1)
echo "== zstd -t: $(zstd -tq "$BUNDLE" && echo 'valid zstd frame')"
echo "== fieldctl decode --format summary"
"$BIN/fieldctl" decode --format summary "$BUNDLE"
echo "== fieldctl decode (JSON lines; first 3, cut at 300 characters)"
"$BIN/fieldctl" decode "$BUNDLE" > "$OUT/bundle.jsonl"
head -n 3 "$OUT/bundle.jsonl" | cut -c 1-300
echo "== tools/fieldbundle.py (Python reference decoder) prints the same lines:"
python3 tools/fieldbundle.py "$BUNDLE" > "$OUT/bundle.py.jsonl"
cmp "$OUT/bundle.jsonl" "$OUT/bundle.py.jsonl" && echo "identical ($(wc -l < "$OUT/bundle.jsonl") lines)"
