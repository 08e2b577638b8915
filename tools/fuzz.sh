#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, with AddressSanitizer) of the bundle reader, the record codecs, every procfs
# parser and the observation layer. Targets live in fuzz/ (a package of their own: `swift build` and `swift test`
# at the root never build them); docs/reliability.md says what each one checks.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS="bundle records procfs interpret timeline handlog"
FUZZ_BIN=fuzz/.build/release
OUT=fuzz/out
PROMETHEUS=../shared/corpora/prometheus-procfs/fixtures.ttar

usage() {
  cat <<EOF
usage: tools/fuzz.sh TARGET SECONDS [LIBFUZZER-FLAG...]   fuzz one target for SECONDS on its corpus
       tools/fuzz.sh all SECONDS [LIBFUZZER-FLAG...]      each target in turn, SECONDS each
       tools/fuzz.sh --replay TARGET FILE...               run saved inputs once (a finding, to see its stack)
       tools/fuzz.sh --seed                                rebuild fuzz/corpus from this machine and minimize it
       tools/fuzz.sh --build                               only build the targets
       tools/fuzz.sh --help

Targets: $TARGETS
  bundle     a whole .zst bundle's bytes into BundleReader, every record decoded
  records    one record payload: CBOR decoder, record decoders and their round trips, the direct sample
             decoder against the general one, direct JSON lines against the tree's
  procfs     every procfs parser of every backend (first line of the input names the file)
  interpret  samples of captures (a capture script) through the backends' interpreters, a timeline, the detectors
  timeline   a decompressed bundle stream, checksums fixed, through BundleReader, the timeline and the detectors
  handlog    a hand-made soak log through fieldctl import's block scanner and iteration assembler, every mode,
             then the Linux interpreter, a timeline and the detectors

The targets are built first when needed (swift build -c release --package-path fuzz, with -sanitize=fuzzer,address;
a few minutes the first time). A run reads fuzz/corpus/TARGET (checked in; not changed by a run), writes the
inputs it finds interesting to $OUT/TARGET/corpus (kept between runs, not checked in) and, for procfs and interpret,
also reads inputs derived at run time from $PROMETHEUS when that archive is there (read there, never copied in).

It prints executions, executions per second, coverage (libFuzzer's cov: edges and ft: features) and findings.
A finding (a trap, a failed check, an ASan report, a leak, a hang over 10 s, more than 2 GiB) is saved as
$OUT/TARGET/crash-*, timeout-*, leak-* or oom-*, its log beside it in $OUT/TARGET/log; the script then exits 1.
Reproduce one with: tools/fuzz.sh --replay TARGET FILE. Inputs of fixed findings go into fuzz/corpus/TARGET as
regression-NAME (every run replays them first); fuzz/findings/ holds reproducers of findings not fixed yet.
EOF
}

build() {
  echo "fuzz: building the targets (swift build -c release --package-path fuzz)" >&2
  swift build -c release --package-path fuzz --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address \
    -Xswiftc -enable-testing >&2
}

# Environment of every run: the Swift runtime's own crash reporter off (libFuzzer and ASan report instead; the two
# together make ASan report the reporter), stacks symbolized with the toolchain's symbolizer.
run_env() {
  local symbolizer
  symbolizer="$(dirname "$(command -v swift)")/llvm-symbolizer"
  export SWIFT_BACKTRACE=enable=no
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:symbolize=1:handle_abort=1}"
  [ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
  return 0
}

# Largest input a target makes: a little over its largest seed (bigger inputs only run slower).
max_len() {
  case "$1" in
    procfs) echo 16384 ;;
    records | interpret | bundle | handlog) echo 32768 ;;
    timeline) echo 65536 ;;
  esac
}

check_target() {
  case " $TARGETS " in
    *" $1 "*) ;;
    *) echo "fuzz: unknown target '$1' (targets: $TARGETS)" >&2; exit 2 ;;
  esac
}

# Inputs derived from the prometheus/procfs archive for the targets that read procfs files, into the scratch area.
prometheus_seeds() {
  local dir="$OUT/prometheus-seeds"
  if [ -f "$PROMETHEUS" ] && [ ! -d "$dir" ]; then
    python3 fuzz/seeds.py ttar "$PROMETHEUS" "$dir.tmp" && mv "$dir.tmp" "$dir"
  fi
  return 0
}

# How many findings a target's output directory holds.
findings() {
  find "$1" -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' -o -name 'leak-*' -o -name 'oom-*' \) | wc -l
}

fuzz_one() {
  local target="$1" seconds="$2"
  shift 2
  local dir="$OUT/$target"
  mkdir -p "$dir/corpus" fuzz/corpus/"$target"
  local corpora=("$dir/corpus" "fuzz/corpus/$target")
  case "$target" in
    procfs | interpret)
      prometheus_seeds
      [ -d "$OUT/prometheus-seeds/$target" ] && corpora+=("$OUT/prometheus-seeds/$target")
      ;;
  esac
  local before
  before=$(findings "$dir")
  echo "fuzz: $target for ${seconds}s on ${corpora[*]}" >&2
  local flags=()
  [ -f "fuzz/dict/$target.dict" ] && flags+=("-dict=fuzz/dict/$target.dict")
  local rc=0
  "$FUZZ_BIN/fuzz$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" \
    -print_final_stats=1 -artifact_prefix="$dir/" "${flags[@]}" "$@" "${corpora[@]}" >"$dir/log" 2>&1 || rc=$?
  local after
  after=$(findings "$dir")
  local execs speed cov rss
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$dir/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$dir/log" | tail -1 || true)
  printf '%-10s %10s execs %7s/s  %-22s peak rss %s MB  findings: %s\n' \
    "$target" "${execs:-?}" "${speed:-?}" "${cov:-cov: ?}" "${rss:-?}" "$((after - before))"
  if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
    echo "fuzz: $target FINDING (libFuzzer exit $rc); log: $dir/log" >&2
    grep -E 'fuzz check failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY|Test unit written' \
      "$dir/log" >&2 || true
    grep -E '^ *#[0-9]+ 0x' "$dir/log" | grep -v -E 'libFuzzer|compiler-rt|fuzzer::' | head -12 >&2 || true
    return 1
  fi
  return 0
}

replay() {
  local target="$1"
  shift
  check_target "$target"
  build
  run_env
  "$FUZZ_BIN/fuzz$target" -timeout=10 -rss_limit_mb=2048 "$@"
}

seed() {
  local work
  work=$(mktemp -d /tmp/field-fuzz-seeds.XXXXXX)
  echo "fuzz: building the agent (swift build --product fieldagent)" >&2
  swift build --product fieldagent >&2
  python3 fuzz/seeds.py live "$work" --agent "$(swift build --show-bin-path)/fieldagent"
  build
  run_env
  for t in $TARGETS; do
    local fresh="$work/$t.merged"
    mkdir -p "$fresh" "fuzz/corpus/$t" "$work/$t"
    find "fuzz/corpus/$t" -maxdepth 1 -name 'regression-*' -exec cp {} "$fresh/" \;
    "$FUZZ_BIN/fuzz$t" -merge=1 -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
      "$fresh" "fuzz/corpus/$t" "$work/$t" >"$work/$t.log" 2>&1 || { cat "$work/$t.log" >&2; exit 1; }
    rm -rf "fuzz/corpus/$t"
    mv "$fresh" "fuzz/corpus/$t"
    echo "fuzz: corpus/$t: $(find "fuzz/corpus/$t" -type f | wc -l) inputs, $(du -sk "fuzz/corpus/$t" | cut -f1) kB" >&2
  done
  rm -rf "$work"
}

case "${1:-}" in
  "" | -h | --help) usage; exit 0 ;;
  --build) build; exit 0 ;;
  --seed) seed; exit 0 ;;
  --replay) shift; [ $# -ge 2 ] || { usage >&2; exit 2; }; replay "$@"; exit $? ;;
esac

[ $# -ge 2 ] || { usage >&2; exit 2; }
which="$1" seconds="$2"
shift 2
case "$seconds" in '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;; esac
if [ "$which" = all ]; then list=$TARGETS; else check_target "$which"; list=$which; fi
build
run_env
found=0
for t in $list; do
  fuzz_one "$t" "$seconds" "$@" || found=1
done
if [ "$found" -ne 0 ]; then
  echo "fuzz: findings saved under $OUT/ (tools/fuzz.sh --replay TARGET FILE shows one)" >&2
  exit 1
fi
echo "fuzz: no findings" >&2
