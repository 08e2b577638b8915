#!/usr/bin/env bash
# What each --fsync policy costs per sample (results: docs/reliability.md, "Power loss", "Measured cost").
#
# The deployable agent (tools/build-agent.sh, Embedded Swift, dynamically linked against glibc) samples this
# machine's /proc with the default settings under the power-cut shim (tools/powercut/shim.c), which times every
# fsync the agent makes; GNU time gives the agent's CPU. For each spool directory, each policy and each interval
# (1 s for LONG seconds, 0.1 s for SHORT seconds); bundles rotate every 10 s so that closes are measured too.
#
#   tools/bench/fsync.sh [DIR...]      # default: /var/tmp/field-fsync (disk) and /dev/shm/field-fsync (tmpfs)
#   LONG=60 SHORT=20 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
LONG=${LONG:-60}
SHORT=${SHORT:-20}
OUT=${BENCH_OUT:-out/bench-fsync}
rm -rf "$OUT"; mkdir -p "$OUT"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
AGENT=${FIELD_AGENT:-}
if [ -z "$AGENT" ]; then bash tools/build-agent.sh "$OUT/agent" | tail -n 1; AGENT="$OUT/agent/fieldagent"; fi
cc -shared -fPIC -O2 -o "$OUT/shim.so" tools/powercut/shim.c -ldl -lpthread
DIRS=("$@")
[ ${#DIRS[@]} -gt 0 ] || DIRS=(/var/tmp/field-fsync /dev/shm/field-fsync)

echo "## machine"
echo "$(nproc) cores, kernel $(uname -r), $(ls -d /proc/[0-9]* | wc -l) processes, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
for dir in "${DIRS[@]}"; do
  rm -rf "$dir"; mkdir -p "$dir"
  echo "## spool in $dir: $(df -T "$dir" | awk 'NR==2 {print $2 " on " $1}')"
  for interval in 1 0.1; do
    seconds=$([ "$interval" = 1 ] && echo "$LONG" || echo "$SHORT")
    for policy in never close sample; do
      run="$dir/$policy-$interval"; mkdir -p "$run"; rm -f "$OUT/log"
      LD_PRELOAD="$OUT/shim.so" POWERCUT_ROOT="$run" POWERCUT_LOG="$OUT/log" \
        /usr/bin/time -f "%U %S" -o "$OUT/time" \
        "$AGENT" --interval "$interval" --duration "$seconds" --bundle-seconds 10 --fsync "$policy" \
          --device-id bench --spool "$run/spool" > "$OUT/out" 2> "$OUT/err"
      samples=$(grep -o '([0-9]* samples' "$OUT/out" | tr -dc 0-9)
      bundles=$(ls "$run/spool" | grep -c '\.zst$' || true)
      read -r user sys < "$OUT/time"
      syncs=$(python3 tools/powercut/replay.py cost "$OUT/log")
      python3 - "$policy" "$interval" "$samples" "$bundles" "$user" "$sys" "$syncs" <<'PY'
import json, sys
policy, interval, samples, bundles, user, sys_, syncs = sys.argv[1:]
samples, s = int(samples), json.loads(syncs)
total = sum(k["total_ms"] for k in s.values())
cpu = sum(k["cpu_ms"] for k in s.values())
calls = sum(k["calls"] for k in s.values())
detail = ", ".join("%s %d calls median %.2f ms max %.1f ms" % (k, v["calls"], v["median_ms"], v["max_ms"]) for k, v in s.items())
print("%-6s %4s s: %4d samples, %2s bundles, fsync %5.2f ms/sample wall, %.3f ms/sample CPU (%d calls%s); agent CPU %.1f ms/sample"
      % (policy, interval, samples, bundles, total / samples, cpu / samples, calls, ": " + detail if detail else "",
         (float(user) + float(sys_)) * 1000 / samples))
PY
    done
  done
  rm -rf "$dir"
done
