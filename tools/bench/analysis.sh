#!/usr/bin/env bash
# Analysis at soak length (docs/performance.md, "Analysis at soak length"): synthesizes the bench-90 scenario
# (94 processes at 1 s, tools/soak/scenarios/bench-90.json) as 1 h, 24 h and 7-day soaks, then measures on one core
# (taskset) the wall time and peak memory of `fieldctl analyze`, `fieldctl decode` and tools/fieldbundle.py against
# the decompressed size of the bundles (what `zstd -dc` gives), and checks the verdicts.
#
#   bash tools/bench/analysis.sh [WORKDIR] [--hours "1 24 168"]
#
# The soaks take about 1.2 GB of disk for the week (kept in WORKDIR, default /tmp/field-bench, and reused).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=/tmp/field-bench
HOURS="1 24 168"
while [ $# -gt 0 ]; do
  case "$1" in
    --hours) HOURS=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) WORK=$1; shift ;;
  esac
done
command -v zstd >/dev/null && [ -x /usr/bin/time ] || { echo "bench: needs zstd and /usr/bin/time (apt-get install zstd time)" >&2; exit 1; }
swift build -c release --product fieldctl >/dev/null
swift build -c release --product fieldsoak >/dev/null
BIN=$(swift build -c release --show-bin-path)
mkdir -p "$WORK"
CPU="taskset -c 0"
command -v taskset >/dev/null || CPU=""

# wall seconds, max RSS (MiB) and CPU seconds (user + system) of a command, its output to a file. On a busy machine
# the pinned core is shared and the wall time grows; the CPU time is what the work itself took.
measure() {  # OUT CMD...
  local out=$1; shift
  # analyze exits 1 when it finds something: the status is not the measurement
  /usr/bin/time -f "%e %M %U %S" -o "$WORK/time" $CPU "$@" > "$out" || true
  sed -i "/^Command exited/d" "$WORK/time"
  read -r secs kb user sys < "$WORK/time"
  echo "$secs $((kb / 1024)) $(python3 -c "print(round($user + $sys, 2))")"
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| soak | samples | compressed | decompressed | analyze wall | MB/s (wall) | CPU s | MB/s (CPU) | max RSS |\n|---|---|---|---|---|---|---|---|---|\n'
for h in $HOURS; do
  dir=$WORK/soak-${h}h
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    "$BIN/fieldsoak" tools/soak/scenarios/bench-90.json "$dir" --hours "$h" > "$WORK/soak-${h}h.log"
    touch "$dir/.complete"
  fi
  bytes=$(cat "$dir"/*.zst | zstd -dc | wc -c)
  comp=$(cat "$dir"/*.zst | wc -c)
  read -r secs mib cpu < <(measure "$WORK/analysis-${h}h.json" "$BIN/fieldctl" analyze "$dir" --format json)
  samples=$(( h * 3600 + 1 ))
  printf '| %s h | %s | %s MB | %s MB | %s s | %s | %s s | %s | %s MiB |\n' "$h" "$samples" "$((comp / 1000000))" "$((bytes / 1000000))" "$secs" \
    "$(python3 -c "print(round($bytes / 1e6 / $secs))")" "$cpu" "$(python3 -c "print(round($bytes / 1e6 / max($cpu, 0.01)))")" "$mib"
  python3 - "$WORK/analysis-${h}h.json" <<'PY' >&2
import json, sys
d = json.load(open(sys.argv[1]))
named = sorted((f.get("process") or "-", f["kind"]) for f in d["findings"] if f["severity"] != "info")
print("  findings:", ", ".join("%s %s" % n for n in named))
PY
done

# Decoders, on the first bundle of the 1 h soak.
first=$(ls "$WORK"/soak-1h/*.zst 2>/dev/null | head -1 || true)
if [ -n "$first" ]; then
  bytes=$(zstd -dc "$first" | wc -c)
  printf '\n| decoder | decompressed | wall | MB/s (wall) | CPU s | MB/s (CPU) |\n|---|---|---|---|---|---|\n'
  decoder() {  # LABEL CMD...
    local label=$1; shift
    read -r secs _ cpu < <(measure /dev/null "$@")
    printf '| %s | %s MB | %s s | %s | %s s | %s |\n' "$label" "$((bytes / 1000000))" "$secs" \
      "$(python3 -c "print(round($bytes / 1e6 / max($secs, 0.01)))")" "$cpu" "$(python3 -c "print(round($bytes / 1e6 / max($cpu, 0.01)))")"
  }
  decoder "zstd -dc" zstd -dc "$first"
  decoder "fieldctl decode" "$BIN/fieldctl" decode "$first"
  decoder "tools/fieldbundle.py" python3 tools/fieldbundle.py "$first"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
