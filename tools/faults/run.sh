#!/usr/bin/env bash
# Fault-injection harness (issue 13): kills fieldagent and fieldctl serve at seeded-random instants and checks
# that at most the sample in flight is lost per kill, every loss is recorded, nothing is stored twice, and every
# acknowledged bundle is in the collector's store once. See docs/reliability.md, "Fault injection".
#
#   tools/faults/run.sh [--seconds N] [--seed S] [--out DIR] [--self-check] [--inject WHAT] [harness options]
#
# Binaries: FIELD_BIN=DIR (holding fieldagent and fieldctl), else .build/release, else .build/debug, else it
# builds the release ones. FIELD_AGENT=PATH runs another agent binary (an Embedded build) with that fieldctl.
# Needs root for the full-disk kind (a 256 KiB tmpfs); without it that kind is reported as not run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=420 seed=2026 out=
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; python3 "$here/harness.py" --help; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
[ -n "$out" ] || out=$(mktemp -d /tmp/field-faults.XXXXXX)
bin=${FIELD_BIN:-}
if [ -z "$bin" ]; then
    for d in "$root/.build/release" "$root/.build/debug"; do
        if [ -x "$d/fieldagent" ] && [ -x "$d/fieldctl" ]; then bin=$d; break; fi
    done
fi
if [ -z "$bin" ]; then
    echo "run.sh: building the release binaries (swift build -c release)" >&2
    (cd "$root" && swift build -c release --product fieldagent >&2 && swift build -c release --product fieldctl >&2)
    bin=$root/.build/release
fi
for b in fieldagent fieldctl; do
    [ -x "$bin/$b" ] || { echo "run.sh: no $bin/$b" >&2; exit 2; }
done
if [ -n "${FIELD_AGENT:-}" ] && [ ! -x "$FIELD_AGENT" ]; then
    echo "run.sh: FIELD_AGENT=$FIELD_AGENT is not an executable" >&2
    exit 2
fi
echo "run.sh: binaries in $bin${FIELD_AGENT:+, agent $FIELD_AGENT}; report in $out" >&2
exec python3 "$here/harness.py" --bin "$bin" --seconds "$seconds" --seed "$seed" --out "$out" "${args[@]}"
