#!/usr/bin/env bash
# Collector load benchmark (results: docs/performance.md): 50 simulated devices upload at once to `fieldctl serve`
# on this machine; nothing may be lost or stored twice.
#
# 1. A tokens file for bench00..bench49 (random tokens, mode 600) and a collector on 127.0.0.1 (port picked by it).
# 2. fieldbench upload writes PER_DEVICE small proc-like bundles per device, then sends them from one thread per
#    device (one HTTP client each, the agent's CFieldHTTP), re-sending about 5 % of them, which must be answered 200:
#    bundles/s, MB/s, latency percentiles, statuses, retries.
# 3. SIGTERM stops the collector (it must exit 0); fieldbench upload-verify then compares the store with what was
#    sent (SHA-256, exactly once, no .part left, one index line each), and fieldctl devices reads the store back.
#
# With S3=1 the collector stores into a SeaweedFS started here (weed mini on loopback, data in BENCH_OUT): step 3
# then counts the bundle objects in the bucket and reads them back with fieldctl devices instead of upload-verify.
#
# Knobs (environment): DEVICES (50), PER_DEVICE (1000 bundles each: 50,000 bundles, about 40 s of uploads on 2 idle
# cores), SAMPLES (6 samples per bundle), SAMPLE_BYTES (12000 bytes of proc text per sample), BENCH_OUT (out/upload-bench).
# Other work on the machine (a build) halves the numbers: the collector needs about 1.2 ms of CPU per upload.
# Needs: Swift, mbed TLS, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/setup.sh
for p in fieldctl fieldbench; do swift build -c release --product $p 2>&1 | tail -n 1; done
BIN=$(swift build -c release --show-bin-path)
OUT=${BENCH_OUT:-out/upload-bench}
DEVICES=${DEVICES:-50}
PER_DEVICE=${PER_DEVICE:-1000}
SAMPLES=${SAMPLES:-6}
SAMPLE_BYTES=${SAMPLE_BYTES:-12000}
if [ -e "$OUT" ]; then
  # ext4 without a journal (this machine's) skips inodes freed in the last minute when it allocates new ones: tens
  # of thousands of fresh deletions make every file creation scan, and the collector creates one per upload.
  rm -rf "$OUT"; sync
  echo "removed the previous $OUT; waiting 65 s so that its inodes are not 'recently deleted' any more"
  sleep 65
fi
mkdir -p "$OUT"

echo "## machine"
echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(grep MemTotal /proc/meminfo | tr -s ' '), kernel $(uname -r)"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg); other busy processes: $(top -b -n 2 -d 1 -w 200 | awk '/^top -/ {f++} f == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 {printf "%s (%s%% CPU) ", $12, $9}')"
echo "store filesystem: $(df -T "$OUT" | awk 'NR == 2 {print $2}') ($(findmnt -no OPTIONS -T "$OUT" 2>/dev/null || echo '?')), $(curl --version | head -n 1 | cut -d' ' -f1-2)"

STORE="$OUT/store"
WEED=""
if [ "${S3:-0}" = 1 ]; then
  export AWS_ACCESS_KEY_ID=field-bench AWS_SECRET_ACCESS_KEY=field-bench-secret-0123456789 AWS_REGION=us-east-1
  base=31000
  export AWS_ENDPOINT_URL=http://127.0.0.1:$((base + 6))
  weed mini -dir="$OUT/seaweedfs" -ip=127.0.0.1 -ip.bind=127.0.0.1 -bucket=field-bench -admin.ui=false -webdav=false \
    -s3.port.iceberg=0 -s3.port.lance=0 -master.port=$base -master.port.grpc=$((base + 1)) -volume.port=$((base + 2)) \
    -volume.port.grpc=$((base + 3)) -filer.port=$((base + 4)) -filer.port.grpc=$((base + 5)) -s3.port=$((base + 6)) \
    -s3.port.grpc=$((base + 7)) -admin.port=$((base + 8)) -admin.port.grpc=$((base + 9)) > "$OUT/weed.log" 2>&1 &
  WEED=$!
  for _ in $(seq 90); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
      "$AWS_ENDPOINT_URL/field-bench?list-type=2")" = 200 ] && break
    sleep 1
  done
  STORE=s3://field-bench/run
  echo "## object store: SeaweedFS $(weed version 2>/dev/null | awk '{print $3}') at $AWS_ENDPOINT_URL, store $STORE"
fi

echo "## collector: fieldctl serve --listen 127.0.0.1:0, $DEVICES devices in the tokens file"
for i in $(seq 0 $((DEVICES - 1))); do
  printf 'bench%02d %s\n' "$i" "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
done > "$OUT/tokens"
chmod 600 "$OUT/tokens"
"$BIN/fieldctl" serve --listen 127.0.0.1:0 --address-file "$OUT/address" --store "$STORE" --tokens "$OUT/tokens" \
  > "$OUT/server.log" 2> "$OUT/server.err" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true; [ -z "$WEED" ] || kill $WEED 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ -s "$OUT/address" ] && break
  kill -0 $SERVER 2>/dev/null || { echo "fieldctl serve exited:"; cat "$OUT/server.err"; exit 1; }
  sleep 0.1
done
[ -s "$OUT/address" ] || { echo "fieldctl serve wrote no address within 10 s"; exit 1; }
ADDR=$(cat "$OUT/address")
echo "listening on $ADDR; health: $(curl -fsS "http://$ADDR/v1/health")"

echo "## load: fieldbench upload, $DEVICES devices x $PER_DEVICE bundles"
rc_upload=0
"$BIN/fieldbench" upload "http://$ADDR" "$OUT/tokens" --devices "$DEVICES" --bundles-per-device "$PER_DEVICE" \
  --samples-per-bundle "$SAMPLES" --bytes-per-sample "$SAMPLE_BYTES" --work "$OUT/sent" || rc_upload=$?

# The collector's own cost over the run (it idles while the bundles are prepared), read before it stops.
read -r utime stime < <(awk '{print $14, $15}' /proc/$SERVER/stat)
tick=$(getconf CLK_TCK)
echo "collector CPU: $((utime / tick)).$(( (utime % tick) * 100 / tick )) s user + $((stime / tick)).$(( (stime % tick) * 100 / tick )) s system; $(grep VmHWM /proc/$SERVER/status | tr -s ' \t' ' '), threads $(grep Threads /proc/$SERVER/status | cut -f2)"

echo "## stop: SIGTERM"
t0=$(date +%s%N)
kill -TERM $SERVER
rc_server=0
wait $SERVER || rc_server=$?
trap '[ -z "$WEED" ] || kill $WEED 2>/dev/null || true' EXIT
echo "fieldctl serve exited $rc_server after $(( ($(date +%s%N) - t0) / 1000000 )) ms; stderr: $(wc -c < "$OUT/server.err") bytes"
[ -s "$OUT/server.err" ] && head -n 5 "$OUT/server.err"

echo "## request log (one line per request)"
echo "$(wc -l < "$OUT/server.log") lines: $(awk '$3 == "PUT" {n[$5]++} END {for (s in n) printf "PUT %s x%d, ", s, n[s]}' "$OUT/server.log")$(grep -c ' GET /v1/health ' "$OUT/server.log") health"
awk '$3 == "PUT" && $5 == 201 {sub("ms", "", $7); print $7}' "$OUT/server.log" | sort -n | awk '
  {v[NR] = $1} END {if (NR) printf "collector-side time of 201s (request start to response): p50 %s ms, p90 %s ms, p99 %s ms, max %s ms\n",
    v[int((NR + 1) * 0.50)], v[int(NR * 0.90)], v[int(NR * 0.99)], v[NR]}'
# Per whole second, leaving out the first and the last (partial) seconds.
awk '$3 == "PUT" {print substr($1, 1, 19)}' "$OUT/server.log" | sort | uniq -c | awk '{print $1}' | sed '1d;$d' | sort -n | awk '
  {v[NR] = $1} END {if (NR) printf "requests per second (%d whole seconds): min %d, median %d, max %d\n", NR, v[1], v[int((NR + 1) / 2)], v[NR]}'
unusual=$(grep -cvE ' (PUT|GET) [^ ]+ 20[01] |listening on |stopped$' "$OUT/server.log" || true)
echo "other lines (errors, refusals): $unusual"
grep -vE ' (PUT|GET) [^ ]+ 20[01] |listening on |stopped$' "$OUT/server.log" | head -n 5 || true

echo "## verify: fieldbench upload-verify, fieldctl devices"
rc_verify=0
if [ -n "$WEED" ]; then
  # Every bundle object once: DEVICES x PER_DEVICE keys ending in .zst, each device's own.
  objects=$(python3 - "$AWS_ENDPOINT_URL" <<'PY'
import re, subprocess, sys, urllib.parse
endpoint, token, n = sys.argv[1], None, 0
while True:
    q = "list-type=2&prefix=run%2F" + ("&continuation-token=" + urllib.parse.quote(token, safe="") if token else "")
    # Signature V4 wants the query sorted by name.
    q = "&".join(sorted(q.split("&")))
    out = subprocess.run(["curl", "-s", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
                          "field-bench:field-bench-secret-0123456789", endpoint + "/field-bench?" + q],
                         capture_output=True, text=True).stdout
    n += len(re.findall(r"<Key>run/bench\d+/[^/<]+\.zst</Key>", out))
    m = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", out)
    if "<IsTruncated>true</IsTruncated>" not in out or not m:
        break
    token = m.group(1)
print(n)
PY
)
  echo "bundle objects in the bucket: $objects of $((DEVICES * PER_DEVICE))"
  [ "$objects" -eq $((DEVICES * PER_DEVICE)) ] || rc_verify=1
fi
[ -n "$WEED" ] || "$BIN/fieldbench" upload-verify "$OUT/store" --sent "$OUT/sent" --devices "$DEVICES" --bundles-per-device "$PER_DEVICE" || rc_verify=$?
"$BIN/fieldctl" devices --store "$STORE" --format json 2> "$OUT/devices.err" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("fieldctl devices: %d devices, %d bundles, %.1f MB, %d samples" % (len(d), sum(x["bundles"] for x in d), sum(x["bytes"] for x in d) / 1e6, sum(x["samples"] for x in d)))
'
echo "fieldctl devices notes (index or files out of step): $(wc -l < "$OUT/devices.err")"
head -n 5 "$OUT/devices.err"
[ -n "$WEED" ] || du -sh "$OUT/store" | awk '{print "store on disk: " $1}'

echo "## result"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "upload exit $rc_upload, verify exit $rc_verify, collector exit $rc_server"
[ "$rc_upload" -eq 0 ] && [ "$rc_verify" -eq 0 ] && [ "$rc_server" -eq 0 ] && [ ! -s "$OUT/devices.err" ]
