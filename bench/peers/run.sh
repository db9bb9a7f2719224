#!/usr/bin/env bash
# bench/peers/run.sh: jclip side by side with PyTorch and ONNX Runtime (CPU) on the cases of
# `./jclip bench` (text-8, text-64, text-512, text-64x8, image-1, image-8), 1 and 2 threads.
# Peer benchmark only: nothing in bench/peers/ is part of the library or its tests.
#
# One-time installs (Debian 12; run from the repository root):
#   apt-get install -y python3-torch python3-numpy        # PyTorch 1.13 (CPU)
#   (cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund)
#                                                          # onnxruntime-node into bench/peers/node_modules;
#                                                          # "skip" stops its postinstall fetching CUDA bits
# Then:
#   bench/peers/run.sh                 # everything below, prints the table
#
# What it does, in order:
#   1. `make jclip` (no -j) and the model MODEL (default build/models/full-s1.jclip, made by the
#      Makefile's rule as for `make test` if missing: make_checkpoint.py --preset full --seed 1,
#      then convert/convert.py).
#   2. The checkpoint CKPT (default build/ckpt/full-s1, the same Makefile rule if missing)
#      -> bench/peers/build/onnx/{text,vision}.onnx via
#      torch.onnx.export (opset $OPSET, default 17; dynamic batch/sequence axes), if not there.
#   3. Parity (VERIFY=1, default when the goldens exist): the PyTorch model and the ONNX graphs
#      against shared/golden/model/full-s1 (cosine >= 0.99999, max|diff| <= 1e-4). Fails the run
#      if either misses.
#   4. ROUNDS rounds (default 3); in each, for every case and thread count, one process per engine
#      (jclip, torch, ort; the order rotates by round), each doing a warm-up then its repeats
#      (about 2 s worth, 3..50) and printing median/min ms and its peak RSS. One process per case
#      means the RSS is that case's alone, and the engines are interleaved in time, which matters
#      on a shared, noisy machine.
#   5. Table: per case and thread count the median over rounds of each engine's median (min: the
#      minimum of the minimums), the ratios jclip/torch and jclip/ort (< 1: jclip is faster), peak
#      RSS, and the load average before and after. Raw lines: bench/peers/results/<stamp>.jsonl.
#
# Environment: MODEL, CKPT, SHARED (default ../shared, else /work/shared), GOLDEN, ROUNDS, CASES,
# THREADS (default "1 2"), OPSET, VERIFY (0/1), PEER_PASSIVE (0/1, see below), PY (default
# /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PEERS=bench/peers
PY=${PY:-$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)}
SHARED=${SHARED:-${JCLIP_SHARED:-$(test -d ../shared && echo ../shared || echo /work/shared)}}
MODEL=${MODEL:-build/models/full-s1.jclip}
CKPT=${CKPT:-build/ckpt/full-s1}
GOLDEN=${GOLDEN:-$SHARED/golden/model/full-s1}
ROUNDS=${ROUNDS:-3}
CASES=${CASES:-text-8 text-64 text-512 text-64x8 image-1 image-8}
THREADS=${THREADS:-1 2}
OPSET=${OPSET:-17}
ONNX=$PEERS/build/onnx
mkdir -p "$PEERS/results"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$PEERS/results/$STAMP.jsonl
: >"$OUT"

say() { printf '== %s\n' "$*" >&2; }

# 1. jclip
say "make jclip"
make jclip >&2
case $MODEL in build/models/*.jclip) test -f "$MODEL" || make "$MODEL" >&2 ;; esac # via build/ckpt, as `make test`
test -f "$MODEL" || { echo "no model $MODEL (convert a checkpoint with convert/convert.py)" >&2; exit 1; }

# 2. checkpoint and ONNX export
if [ ! -f "$CKPT/model.safetensors" ]; then
    case $CKPT in
    build/ckpt/*) say "making checkpoint $CKPT"; make "$CKPT/model.safetensors" SHARED="$SHARED" >&2 ;;
    *) echo "no checkpoint $CKPT/model.safetensors" >&2; exit 1 ;;
    esac
fi
"$PY" -c 'import torch, numpy' || { echo "PyTorch missing: apt-get install -y python3-torch python3-numpy" >&2; exit 1; }
test -d "$PEERS/node_modules/onnxruntime-node" ||
    { echo "onnxruntime-node missing: (cd $PEERS && ONNXRUNTIME_NODE_INSTALL=skip npm install)" >&2; exit 1; }
if [ ! -f "$ONNX/text.onnx" ] || [ ! -f "$ONNX/vision.onnx" ] || [ "$CKPT/model.safetensors" -nt "$ONNX/text.onnx" ]; then
    say "torch.onnx.export -> $ONNX (opset $OPSET)"
    OPSET=$OPSET "$PY" -W ignore "$PEERS/jina_clip_torch.py" export "$CKPT" "$ONNX" 2>&1 | grep -v -i warn >&2 || true
    test -f "$ONNX/text.onnx" && test -f "$ONNX/vision.onnx" || { echo "ONNX export failed" >&2; exit 1; }
fi

# 3. parity
if [ "${VERIFY:-$(test -f "$GOLDEN/text_emb.npy" && echo 1 || echo 0)}" = 1 ]; then
    say "parity vs $GOLDEN: PyTorch model"
    THREADS=2 "$PY" "$PEERS/jina_clip_torch.py" verify "$CKPT" "$GOLDEN" | tee "$PEERS/results/$STAMP.parity-torch.txt" >&2
    say "parity vs $GOLDEN: ONNX Runtime on the export"
    node "$PEERS/ort_bench.js" verify "$ONNX" "$GOLDEN" | tee "$PEERS/results/$STAMP.parity-ort.txt" >&2
fi

# 4. interleaved rounds
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(loadavg)
say "load average before: $LOAD_BEFORE; $ROUNDS rounds of: $CASES x threads $THREADS"
run_engine() { # engine case threads -> one JSON line on stdout
    case $1 in
    jclip) ./jclip bench -m "$MODEL" --json --threads "$3" --cases "$2" | sed 's/^{/{"engine":"jclip",/' ;;
    torch) env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${TORCH_ENV[@]}" \
        "$PY" -W ignore "$PEERS/jina_clip_torch.py" bench "$CKPT" --case "$2" --threads "$3" ;;
    ort) env "${ORT_ENV[@]}" node "$PEERS/ort_bench.js" bench "$ONNX" --case "$2" --threads "$3" ;;
    esac
}
# jclip's pool sleeps on condition variables. With PEER_PASSIVE=1 (default) the peers' pools do
# too: OMP_WAIT_POLICY=PASSIVE for torch's OpenMP pool and session.intra_op.allow_spinning=0 for
# ORT. On a shared machine their default busy-waiting makes 2-thread runs several times slower
# (torch text-8 at 2 threads: ~670 ms spinning vs ~140 ms passive here); PEER_PASSIVE=0 measures
# the defaults. torch's GEMMs run in OpenBLAS, whose pool jina_clip_torch.py sizes to --threads
# (OPENBLAS_NUM_THREADS); OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are unset so it picks its AVX-512 kernels.
if [ "${PEER_PASSIVE:-1}" = 1 ]; then TORCH_ENV=(OMP_WAIT_POLICY=PASSIVE); ORT_ENV=(ORT_SPIN=0)
else TORCH_ENV=(-u OMP_WAIT_POLICY); ORT_ENV=(ORT_SPIN=1); fi
ENGINES=(jclip torch ort)
for ((r = 0; r < ROUNDS; r++)); do
    for c in $CASES; do
        for t in $THREADS; do
            for ((e = 0; e < 3; e++)); do
                eng=${ENGINES[$(((e + r) % 3))]}
                line=$(run_engine "$eng" "$c" "$t") || { echo "$eng $c $t failed" >&2; continue; }
                line=$(printf '%s\n' "$line" | grep '^{' | tail -1)
                printf '%s\n' "${line%\}},\"round\":$r,\"load1\":$(cut -d' ' -f1 /proc/loadavg)}" | tee -a "$OUT" >&2
            done
        done
    done
done
LOAD_AFTER=$(loadavg)

# 5. table
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
"$PY" "$PEERS/table.py" "$OUT" "$LOAD_BEFORE" "$LOAD_AFTER" "$CPU ($(nproc) cpus)"
