#!/usr/bin/env bash
# Fleet analysis (docs/performance.md, "Analysis of a fleet"): synthesizes DEVICES devices of the bench-90
# scenario (94 processes at 1 s, each device its own id and seed) for HOURS each, as a collector's store
# (STORE/DEVICE/*.zst), then measures `fieldctl analyze STORE` with --jobs 1 and with one job per core: wall time,
# CPU time and peak memory against the decompressed size (what `zstd -dc` gives), and checks that both runs
# give the same report.
#
#   bash tools/bench/fleet-analysis.sh [WORKDIR] [--devices 8] [--hours 1]
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=/tmp/field-fleet-bench
DEVICES=8
HOURS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --devices) DEVICES=$2; shift 2 ;;
    --hours) HOURS=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) WORK=$1; shift ;;
  esac
done
command -v zstd >/dev/null && [ -x /usr/bin/time ] || { echo "bench: needs zstd and /usr/bin/time (apt-get install zstd time)" >&2; exit 1; }
swift build -c release --product fieldctl >/dev/null
swift build -c release --product fieldsoak >/dev/null
BIN=$(swift build -c release --show-bin-path)
STORE=$WORK/store-${DEVICES}x${HOURS}h
if [ ! -f "$STORE/.complete" ]; then
  rm -rf "$STORE"
  mkdir -p "$STORE"
  for i in $(seq 1 "$DEVICES"); do
    python3 - "$i" > "$WORK/device-$i.json" <<'PY'
import json, sys
s = json.load(open("tools/soak/scenarios/bench-90.json"))
i = int(sys.argv[1])
s["device"] = "bench-%02d" % i
s["seed"] = 100 + i
print(json.dumps(s))
PY
    "$BIN/fieldsoak" "$WORK/device-$i.json" "$STORE/bench-$(printf %02d "$i")" --hours "$HOURS" > /dev/null
  done
  touch "$STORE/.complete"
fi
bytes=$(cat "$STORE"/*/*.zst | zstd -dc | wc -c)
comp=$(cat "$STORE"/*/*.zst | wc -c)
echo "machine: $(nproc) cores; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "store: $DEVICES devices x $HOURS h, $((comp / 1000000)) MB compressed, $((bytes / 1000000)) MB decompressed"
printf '| jobs | wall | MB/s (wall) | CPU s | max RSS |\n|---|---|---|---|---|\n'
for jobs in 1 "$(nproc)"; do
  /usr/bin/time -f "%e %M %U %S" -o "$WORK/time" "$BIN/fieldctl" analyze "$STORE" --format json --jobs "$jobs" > "$WORK/report-$jobs.json" || true
  sed -i "/^Command exited/d" "$WORK/time"
  read -r secs kb user sys < "$WORK/time"
  printf '| %s | %s s | %s | %s s | %s MiB |\n' "$jobs" "$secs" "$(python3 -c "print(round($bytes / 1e6 / $secs))")" \
    "$(python3 -c "print(round($user + $sys, 1))")" "$((kb / 1024))"
done
cmp -s "$WORK/report-1.json" "$WORK/report-$(nproc).json" && echo "reports: identical" || echo "reports: DIFFER"
"$BIN/fieldctl" analyze "$STORE" --jobs "$(nproc)" | sed -n '1,/^$/p' || true
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
