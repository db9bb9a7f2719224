#!/usr/bin/env bash
# bench/serve/run.sh: load test of `jclip serve` with wrk (Debian package `wrk`), not a test.
#
#   bench/serve/run.sh [MODEL] [SECONDS]
#
# MODEL defaults to build/models/full-s1.jclip (the full-size jina-clip-v1 architecture with
# random weights, made by `make test-models`; timings equal the real model's) and SECONDS (per
# load level) to 10. It starts ./jclip serve on a free loopback port and prints, as markdown:
#  - the machine (CPU, CPUs usable, memory, kernel) and the load average before and after;
#  - requests/s and p50/p99 latency for one-text requests (a 17-token sentence, batched by the
#    server) at concurrency 1, 8 and 64, for a 6-token text (batched too: short texts keep the
#    CLI's bits in a batch) at 8, for one request carrying 64 texts at 1, and for
#    one-image requests (a JPEG photo as base64) at 1 and 8;
#  - the batching gain: texts/s of 64 concurrent one-text clients (the server batches them)
#    against one client at a time and against the same 64 texts sent as one batch request;
#  - the server's peak RSS and batch sizes, then `jclip bench`'s single-call timings on the
#    same model in the same run.
# Environment: IMG (the image), SERVE_ARGS (extra `jclip serve` options, e.g. --threads 2),
# SKIP_IMAGES=1, JCLIP_SHARED. Needs wrk, curl, ./jclip (make jclip), ../shared test images.
# A load level that fails (wrk error, server gone) prints its row with the reason and the
# script goes on; it exits 1 at the end if any level failed or had errors.
set -uo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:-build/models/full-s1.jclip}
SECS=${2:-10}
SHARED=${JCLIP_SHARED:-../shared}
IMG=${IMG:-$SHARED/testdata/images/photos/mate_LadyBird.jpg}
die() { echo "bench/serve: $*" >&2; exit 1; }
for t in wrk curl awk base64; do command -v $t >/dev/null || die "needs $t (apt-get install wrk curl)"; done
[ -x ./jclip ] || die "build ./jclip first (make jclip)"
[ -f "$MODEL" ] || die "model $MODEL not found (make test-models, or pass MODEL)"
[[ "$SECS" =~ ^[0-9]+$ && "$SECS" -ge 1 ]] || die "SECONDS must be a whole number >= 1, got '$SECS'"
if [ "${SKIP_IMAGES:-0}" != 1 ] && [ ! -f "$IMG" ]; then
    echo "bench/serve: image $IMG not found: image rows skipped (set IMG or JCLIP_SHARED)" >&2
    SKIP_IMAGES=1
fi
OUT=build/bench_serve
mkdir -p "$OUT"
SENT="A man is playing a guitar on a stage in front of a big crowd of people"
printf '{"input":"%s","model":"jina-clip-v1"}' "$SENT" > "$OUT/text.json"
printf '{"input":"a photo of a cat","model":"jina-clip-v1"}' > "$OUT/short.json"
{ printf '{"model":"jina-clip-v1","input":["%s"' "$SENT"; for _ in $(seq 2 64); do printf ',"%s"' "$SENT"; done; printf ']}'; } > "$OUT/batch64.json"
if [ "${SKIP_IMAGES:-0}" != 1 ]; then
    { printf '{"model":"jina-clip-v1","input":[{"image":"'; base64 -w0 "$IMG"; printf '"}]}'; } > "$OUT/image.json"
fi

# ---- the machine, before anything runs -----------------------------------------------------
cpu=$(awk -F: '/^model name/ {sub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo 2>/dev/null)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null)
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
echo "machine: ${cpu:-unknown CPU}, $(nproc) CPUs usable ($(getconf _NPROCESSORS_ONLN) online), ${mem:-? GiB}, $(uname -sr)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average before: $load0"
echo "model: $MODEL, $SECS s per level"

# ---- the server ----------------------------------------------------------------------------
# shellcheck disable=SC2086
./jclip serve -m "$MODEL" --port 0 --max-conns 512 ${SERVE_ARGS:-} 2> "$OUT/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
PORT=
for _ in $(seq 1 600); do
    PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$OUT/server.log")
    [ -n "$PORT" ] && break
    kill -0 $PID 2>/dev/null || break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not start:"; cat "$OUT/server.log"; exit 1; }
BASE="http://127.0.0.1:$PORT"
URL="$BASE/v1/embeddings"
head -1 "$OUT/server.log" | sed 's/^jclip serve: /server: /'
# Warm up both towers (a tower's second pass packs its weights) and time one request of each
# kind alone: a level lasts at least twice what its `concurrency` requests take one after the
# other (capped at 12 x SECONDS), so that short SECONDS on a slow model still complete requests.
declare -A T1
warm="text text short batch64"
[ "${SKIP_IMAGES:-0}" != 1 ] && warm="$warm image image"
for b in $warm; do
    T1[$b]=$(curl -sf -o /dev/null -w '%{time_total}' --max-time 600 -H 'Content-Type: application/json' \
                  --data-binary @"$OUT/$b.json" "$URL") || die "warm-up request $b.json failed (see $OUT/server.log)"
done

metric() { curl -s --max-time 10 "$BASE/metrics" | awk -v k="$1" '$1 == k {print $2; exit}'; }
# A level's leftovers (wrk stops with requests in flight; the server drops the queued work of
# connections that closed) must not slow the next level: wait, bounded, until it is idle.
drain() {
    for _ in $(seq 1 600); do
        [ "$(metric jclip_queue_depth)" = 0 ] && [ "$(metric jclip_connections)" = 1 ] && return 0
        sleep 0.2
    done
    echo "(server not idle after 120 s; the next level starts anyway)" >&2
}

FAILED=0
declare -A RPS
echo
echo "| request | concurrency | seconds | requests | requests/s | texts or images/s | p50 ms | p99 ms | errors |"
echo "|---------|------------:|--------:|---------:|-----------:|------------------:|-------:|-------:|-------:|"
run() { # key name body concurrency inputs-per-request
    local key=$1 name=$2 body=$3 conc=$4 per=$5 out line n secs p50 p99 st sock dur
    dur=$(awk -v t="${T1[$body]:-0}" -v c="$conc" -v s="$SECS" 'BEGIN{d = int(2 * t * c + 1); if (d > 12 * s) d = 12 * s; print (d > s ? d : s)}')
    drain
    if ! kill -0 $PID 2>/dev/null; then
        printf '| %s | %d | - | - | - | - | - | - | server gone |\n' "$name" "$conc"; FAILED=1; return
    fi
    out=$(BODY_FILE="$OUT/$body.json" wrk -t1 -c"$conc" -d"${dur}s" --timeout 300s -s bench/serve/post.lua "$URL" 2>&1)
    line=$(grep '^RESULT' <<< "$out")
    if [ -z "$line" ]; then
        printf '| %s | %d | %d | - | - | - | - | - | wrk failed: %s |\n' "$name" "$conc" "$dur" "$(tr '\n' ' ' <<< "$out" | cut -c1-120)"
        FAILED=1; return
    fi
    read -r _ n secs p50 p99 st sock <<< "$line"
    RPS[$key]=$(awk -v n="$n" -v s="$secs" -v k="$per" 'BEGIN{printf "%.1f", (s > 0 ? n * k / s : 0)}')
    [ "$n" -gt 0 ] || { p50=-; p99=-; FAILED=1; }
    [ $((st + sock)) -eq 0 ] || FAILED=1
    printf '| %s | %d | %d | %d | %.1f | %.1f | %s | %s | %d |\n' "$name" "$conc" "$dur" "$n" \
        "$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.3f", (s > 0 ? n / s : 0)}')" "${RPS[$key]}" "$p50" "$p99" $((st + sock))
}
run t1 "one text (17 tokens)" text 1 1
run t8 "one text (17 tokens)" text 8 1
run t64 "one text (17 tokens)" text 64 1
run s8 "one text (6 tokens)" short 8 1
run b64 "64 texts (17 tokens) in one request" batch64 1 64
if [ "${SKIP_IMAGES:-0}" != 1 ]; then
    run i1 "one image (JPEG $(($(stat -c %s "$IMG") / 1024)) KB, base64)" image 1 1
    run i8 "one image (JPEG $(($(stat -c %s "$IMG") / 1024)) KB, base64)" image 8 1
fi
echo
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
echo "batching gain (17-token texts): 64 concurrent one-text clients ${RPS[t64]:-?} texts/s =" \
     "$(ratio "${RPS[t64]:-}" "${RPS[t1]:-}") x one client at a time (${RPS[t1]:-?} texts/s);" \
     "the same texts as one 64-text request ${RPS[b64]:-?} texts/s = $(ratio "${RPS[b64]:-}" "${RPS[t1]:-}") x;" \
     "dynamic batching reaches $(ratio "${RPS[t64]:-}" "${RPS[b64]:-}") of the client-side batch"
echo "server: peak RSS $(awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' /proc/$PID/status)," \
     "$(metric jclip_batch_size_sum) inputs in $(metric jclip_batch_size_count) worker passes," \
     "$(metric jclip_dropped_inputs_total) inputs of disconnected clients dropped (wrk's in-flight requests at the end of each level)"
kill -TERM $PID
wait $PID
rc=$?
trap - EXIT
[ $rc -eq 0 ] || { echo "server exited $rc (log: $OUT/server.log)"; FAILED=1; }
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo
echo "jclip bench (single calls, same model, same run):"
cases="text-17,text-17x64,text-8,text-64"
[ "${SKIP_IMAGES:-0}" != 1 ] && cases="$cases,image-1,image-8"
# shellcheck disable=SC2086
./jclip bench -m "$MODEL" --cases "$cases" $(sed -n 's/.*\(--threads [0-9]*\).*/\1/p' <<< "${SERVE_ARGS:-}") || FAILED=1
exit $FAILED
