#!/usr/bin/env bash
# bench/serve/run.sh: load test of `jclip serve` with wrk (Debian package `wrk`), not a test.
#
#   bench/serve/run.sh [MODEL] [SECONDS]
#
# MODEL defaults to build/models/full-s1.jclip (the full-size jina-clip-v1 architecture with
# random weights, made by `make test-models`; timings equal the real model's) and SECONDS (per
# load level) to 10. It starts ./jclip serve on a free loopback port and measures requests/s
# and p50/p99 latency for one-text requests (a 17-token sentence, batched by the server, and an
# 8-token text, which the server embeds one per call to keep the CLI's bits) at concurrency 1,
# 8 and 64, and one-image requests (a 350 KB JPEG photo as base64) at 1 and 8, then
# `jclip bench`'s single-call timings on the same model in the same run, and the server's peak
# RSS. Prints a markdown table. Needs: wrk, ./jclip (make jclip), ../shared test images.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:-build/models/full-s1.jclip}
SECS=${2:-10}
SHARED=${JCLIP_SHARED:-../shared}
IMG=${IMG:-$SHARED/testdata/images/photos/mate_LadyBird.jpg}
command -v wrk >/dev/null || { echo "bench/serve: needs wrk (apt-get install wrk)"; exit 1; }
[ -x ./jclip ] || { echo "bench/serve: build ./jclip first (make jclip)"; exit 1; }
[ -f "$MODEL" ] || { echo "bench/serve: model $MODEL not found (make test-models, or pass MODEL)"; exit 1; }
OUT=build/bench_serve
mkdir -p "$OUT"
printf '{"input":"A man is playing a guitar on a stage in front of a big crowd of people","model":"jina-clip-v1"}' > "$OUT/text.json"
printf '{"input":"a photo of a cat","model":"jina-clip-v1"}' > "$OUT/short.json"
{ printf '{"model":"jina-clip-v1","input":[{"image":"'; base64 -w0 "$IMG"; printf '"}]}'; } > "$OUT/image.json"

./jclip serve -m "$MODEL" --port 0 --max-conns 512 2> "$OUT/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
PORT=
for _ in $(seq 1 300); do
    PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$OUT/server.log")
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not start:"; cat "$OUT/server.log"; exit 1; }
URL="http://127.0.0.1:$PORT/v1/embeddings"
head -1 "$OUT/server.log"
# warm up both towers (the second pass of each packs its weights)
for b in text short image image; do curl -sf -o /dev/null -H 'Content-Type: application/json' --data-binary @"$OUT/$b.json" "$URL"; done

echo
echo "| request | concurrency | requests/s | p50 ms | p99 ms | errors |"
echo "|---------|------------:|-----------:|-------:|-------:|-------:|"
drain() { # a level's leftovers (wrk stops mid-request) must not slow the next one
    for _ in $(seq 1 600); do
        curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^jclip_queue_depth 0$' && \
            curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^jclip_connections 1$' && return
        sleep 0.2
    done
}
run() { # name body concurrency
    local line
    drain
    line=$(BODY_FILE="$OUT/$2.json" wrk -t1 -c"$3" -d"${SECS}s" --timeout 120s -s bench/serve/post.lua "$URL" | grep '^RESULT')
    read -r _ n secs p50 p99 st sock <<< "$line"
    printf '| %s | %d | %.1f | %.1f | %.1f | %d |\n' "$1" "$3" "$(awk -v n="$n" -v s="$secs" 'BEGIN{print n/s}')" "$p50" "$p99" $((st + sock))
}
run "one text (17 tokens)" text 1
run "one text (17 tokens)" text 8
run "one text (17 tokens)" text 64
run "one text (6 tokens, unbatched)" short 8
run "one image (JPEG 350 KB)" image 1
run "one image (JPEG 350 KB)" image 8
echo
echo "server peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MiB"}')"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^jclip_batch_size_(sum|count)' | tr '\n' ' '
echo
kill -TERM $PID
wait $PID || true
trap - EXIT
echo
echo "jclip bench (single calls, same model, same run):"
./jclip bench -m "$MODEL" --cases text-8,text-64,image-1,image-8
