#!/usr/bin/env bash
# The test command: installs what is missing, runs the whole suite against the normal build, fuzzes each target
# for 12 s (tools/fuzz.sh: libFuzzer, its own build of about 4 minutes the first time), then builds the
# deployable agent (Embedded Swift) for x86_64 and ARM and runs the agent's end-to-end tests against each of them:
# x86_64 natively, ARM under qemu-user (tools/test-agents.sh; cross toolchains and qemu come from Debian).
#
#   bash tools/test.sh                 # everything
#   bash tools/test.sh --filter NAME   # swift test arguments: that part of the normal suite only
#   FIELD_TEST_TARGETS="aarch64-linux-gnu" bash tools/test.sh    # the suite, then only these agent builds
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
swift test "$@"
if [ $# -eq 0 ]; then
  # Each fuzz target briefly on its checked-in corpus (regressions first); a longer run is tools/fuzz.sh all 600.
  bash tools/fuzz.sh all 12
  # shellcheck disable=SC2086
  bash tools/test-agents.sh ${FIELD_TEST_TARGETS:-}
fi
