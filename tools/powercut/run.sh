#!/usr/bin/env bash
# Power-cut check by hand: traces one agent run under the shim and replays cuts at many points of it
# (tools/powercut/replay.py; docs/reliability.md, "Power loss"). The end-to-end test Tests/EndToEndTests/PowerCutTests.swift
# does the same for each policy.
#
#   tools/powercut/run.sh POLICY [SECONDS] [POINTS]     POLICY: never, close or sample
#
# Uses the debug agent (swift build first): the shim needs a dynamically linked glibc program. Work files go to
# ${POWERCUT_OUT:-/tmp/powercut}; the JSON report is printed, and the exit status is 1 when a check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
policy=${1:?usage: run.sh never|close|sample [SECONDS] [POINTS]}
seconds=${2:-3}
points=${3:-60}
agent=$(swift build --show-bin-path)/fieldagent
out=${POWERCUT_OUT:-/tmp/powercut}
rm -rf "$out"; mkdir -p "$out/root"
cc -shared -fPIC -O2 -o "$out/shim.so" tools/powercut/shim.c -ldl -lpthread
common=(--pid 1 --device-id powercut --interval 0.1 --bundle-bytes 6K --spool-max-bytes 24K)
# A leftover for the traced run to recover: an agent killed while it wrote.
"$agent" "${common[@]}" --spool "$out/root/spool" & pid=$!
sleep 1.5; kill -9 $pid; wait $pid 2>/dev/null || true
cp -a "$out/root" "$out/base"
LD_PRELOAD="$out/shim.so" POWERCUT_ROOT="$out/root" POWERCUT_LOG="$out/log" \
  "$agent" "${common[@]}" --fsync "$policy" --duration "$seconds" --spool "$out/root/spool" >&2
python3 tools/powercut/replay.py --log "$out/log" --base "$out/base" --root "$out/root" --policy "$policy" \
  --points "$points" --scratch "$out/cuts" --keep -- "$agent" "${common[@]}"
