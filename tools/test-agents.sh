#!/usr/bin/env bash
# Builds the deployable (Embedded Swift) agent for each target and runs the agent's end-to-end tests against it:
# natively for x86_64, under qemu-user for ARM, on this machine's real /proc with the real leak workloads.
#
#   tools/test-agents.sh [TRIPLET...]     # default: x86_64-linux-gnu x86_64-linux-musl armv7-linux-gnueabihf
#                                         #          armv7-linux-musleabihf aarch64-linux-gnu aarch64-linux-musl
#                                         #          riscv64-linux-gnu
#
# Needs the normal build's tests compiled (tools/test.sh runs `swift test` first): the same test binary checks every
# agent (FIELD_AGENT, FIELD_AGENT_EMULATOR; Tests/EndToEndTests/Harness.swift).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-linux-gnu x86_64-linux-musl armv7-linux-gnueabihf armv7-linux-musleabihf aarch64-linux-gnu
  aarch64-linux-musl riscv64-linux-gnu)

# Native: every end-to-end suite. Emulated: the agent's own behaviour, uploads (HTTP and TLS), and the verdicts on
# its bundles.
native_suites="EndToEndTests"
# Suites that run no agent (the collector, its object store, TLS, fleet analysis of synthesized bundles), and the
# shell capture's import (the agent there is only the reference): the main run of the tests covers them, and each
# took a minute or more per agent build.
native_skip="FleetTests|FleetAnalysisTests|CollectorTLSTests|ObjectStoreTests|CaptureImportTests|HandLogImportTests"
emulated_suites="AgentAndDecodeTests|AgentBehaviourTests|AccuracyMatrixTests|AgentBuildTests|SylixOSSimulatorTests|UploadTests|UploadTLSTests"

failed=()
flaky=()
for t in "${targets[@]}"; do
  out=.build-agent/out/$t
  start=$(date +%s)
  bash tools/build-agent.sh "$out" --target "$t" 2>&1 | grep -E '^build-agent:' || { failed+=("$t (build)"); continue; }
  emulator=""
  case "$t" in
    x86_64-*) ;;
    # The multiarch C library (libc6:armhf, libc6:arm64), whose loader and libc match: with -L /usr/<triplet>,
    # qemu takes the cross package's loader but finds the multiarch libc.so.6, a different build, and threads crash.
    armv7-*gnueabihf) emulator="qemu-arm -L /" ;;
    armv7-*musleabihf) emulator="qemu-arm" ;;
    aarch64-*gnu) emulator="qemu-aarch64 -L /" ;;
    aarch64-*musl) emulator="qemu-aarch64" ;;
    riscv64-*gnu) emulator="qemu-riscv64 -L /usr/riscv64-linux-gnu" ;;  # no multiarch riscv64 in Debian 12: the cross libc only
  esac
  suites=$native_suites
  skip=(--skip "$native_skip")
  [ -z "$emulator" ] || { suites=$emulated_suites; skip=(); }
  echo "test-agents: $t: $suites${emulator:+ under $emulator}${emulator:- but $native_skip}"
  if FIELD_AGENT=$PWD/$out/fieldagent FIELD_AGENT_EMULATOR=$emulator FIELD_AGENT_TARGET=$t swift test --skip-build --filter "$suites" \
      "${skip[@]}" > ".build-agent/test-$t.log" 2>&1; then
    echo "test-agents: $t passed in $(( $(date +%s) - start )) s ($(grep -E 'Test run with' ".build-agent/test-$t.log" | tail -n 1))"
  else
    grep -E '✘|error|Expectation failed' ".build-agent/test-$t.log" | head -n 40 >&2 || true
    # Under emulation a test's timing depends on the machine's load: the tests that failed run once more, alone.
    # Their first failure stays in this output above; only a second failure fails the build.
    names=$(sed -n 's/^✘ Test \([A-Za-z0-9_]*\)(.*) .*failed after.*/\1/p' ".build-agent/test-$t.log" | sort -u | paste -sd'|' -)
    if [ -n "$emulator" ] && [ -n "$names" ] && [ "$(echo "$names" | tr '|' '\n' | wc -l)" -le 3 ] &&
        FIELD_AGENT=$PWD/$out/fieldagent FIELD_AGENT_EMULATOR=$emulator FIELD_AGENT_TARGET=$t swift test --skip-build \
          --filter "$names" > ".build-agent/retry-$t.log" 2>&1; then
      echo "test-agents: $t: FLAKY under $emulator: $names failed, then passed run again alone" \
        "($(grep -E 'Test run with' ".build-agent/retry-$t.log" | tail -n 1)); first run's log: .build-agent/test-$t.log" >&2
      flaky+=("$t: $names")
    else
      echo "test-agents: $t FAILED (log: .build-agent/test-$t.log)" >&2
      failed+=("$t")
    fi
  fi
done
if [ ${#failed[@]} -gt 0 ]; then echo "test-agents: failed: ${failed[*]}" >&2; exit 1; fi
echo "test-agents: ${#targets[@]} builds passed${flaky[0]:+ (flaky, passed when run again: ${flaky[*]})}"
