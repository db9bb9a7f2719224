#!/usr/bin/env bash
# bench/peers/run.sh: jclip side by side with PyTorch and ONNX Runtime (CPU, fp32 and int8) on the
# cases of `./jclip bench`, 1 and 2 threads, for jina-clip-v1 (default) or OpenAI CLIP ViT-B/32.
# Peer benchmark only: nothing in bench/peers/ is part of the library or its tests.
#
# One-time installs (Debian 12; run from the repository root):
#   apt-get install -y python3-torch python3-numpy python3-onnx   # PyTorch 1.13 (CPU); onnx for
#                                                          # the int8 rewrite (ENGINES with ort-int8)
#   (cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund)
#                                                          # onnxruntime-node into bench/peers/node_modules;
#                                                          # "skip" stops its postinstall fetching CUDA bits
# Then:
#   bench/peers/run.sh                 # jclip f32 / PyTorch / ORT fp32 on jina-clip-v1, prints the table
#   ENGINES="jclip torch ort ort-int8" \
#   MODELS="build/models/full-s1.jclip build/models/full-s1-bf16.jclip build/models/full-s1-q8.jclip" \
#   bench/peers/run.sh                 # every jclip dtype beside PyTorch, ORT fp32 and ORT int8
#   FAMILY=clip bench/peers/run.sh     # OpenAI CLIP ViT-B/32 (build/ckpt/b32-s1, build/models/b32-s1.jclip)
#
# What it does, in order:
#   1. `make jclip` (no -j) and each model of MODELS (default: MODEL, default
#      build/models/full-s1.jclip, or b32-s1.jclip for FAMILY=clip), made by the Makefile's rules
#      as for `make test` if missing (a checkpoint from shared/tools, then convert/convert.py;
#      a `-bf16` / `-q8` name converts with --dtype).
#   2. The checkpoint CKPT (default build/ckpt/full-s1, or build/ckpt/b32-s1; the same Makefile
#      rules if missing) -> ONNX (default bench/peers/build/onnx for full-s1, else
#      bench/peers/build/onnx-<checkpoint's folder name>, e.g. onnx-b32-s1)
#      {text,vision}.onnx via torch.onnx.export (opset $OPSET, default 17; dynamic batch/sequence
#      axes), if not there; with ort-int8 in ENGINES also its int8 rewrite into ${ONNX}-int8 by
#      quantize_onnx.py (every linear layer -> com.microsoft.DynamicQuantizeMatMul, int8 weights
#      with one scale per output column; attention products and the patch Conv stay fp32).
#   3. Parity (VERIFY=1, default when the goldens exist): the PyTorch model and the ONNX graphs
#      against the goldens GOLDEN (shared/golden/model/full-s1 or b32-s1; cosine >= 0.99999,
#      max|diff| <= 1e-4); fails the run if either misses. Then (COMPARE=1, default when INPUTS
#      exist: GOLDEN, else the family's seed-1 goldens) the reduced precisions on those golden
#      inputs (min/mean cosine; texts one by one and as one batch, images): with ort-int8, ORT int8
#      against ORT fp32 (`ort_bench.js compare`); with several MODELS, each later jclip file against
#      the first (jclip_compare.c, built into bench/peers/build/ with cc), e.g. q8 against f32.
#   4. ROUNDS rounds (default 3); in each, for every case and thread count, one process per engine
#      (each jclip model, torch, ort, ort-int8; the order rotates by round), each doing a warm-up
#      then its repeats (about 2 s worth, 3..50) and printing median/min ms and its peak RSS. One
#      process per case means the RSS is that case's alone, and the engines are interleaved in
#      time, which matters on a shared, noisy machine.
#   5. Table: per case and thread count the median over rounds of each engine's median (min: the
#      minimum of the minimums), the ratios jclip f32/PyTorch, jclip f32/ORT fp32, jclip bf16/ORT
#      fp32 and jclip q8/ORT int8 (those whose engines ran; < 1: jclip is faster), peak RSS, and
#      the load average before and after. Raw lines: bench/peers/results/<stamp>.jsonl.
#
# Environment: FAMILY (jina (default) or clip), ENGINES (default "jclip torch ort"; also ort-int8),
# MODEL, MODELS (jclip model files, each its own engine named by its dtype: jclip-f32, jclip-bf16,
# jclip-q8), CKPT, ONNX, SHARED (default ../shared, else /work/shared), GOLDEN, ROUNDS, CASES
# (default: jina text-8 text-64 text-512 text-64x8 image-1 image-8; clip text-8 text-77 text-77x8
# image-1 image-8), THREADS (default "1 2"), OPSET, VERIFY (0/1), COMPARE (0/1), INPUTS,
# PEER_PASSIVE (0/1, see below),
# PY (default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PEERS=bench/peers
PY=${PY:-$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)}
SHARED=${SHARED:-${JCLIP_SHARED:-$(test -d ../shared && echo ../shared || echo /work/shared)}}
FAMILY=${FAMILY:-jina}
case $FAMILY in
jina | jina-clip-v1)
    MODEL=${MODEL:-build/models/full-s1.jclip}; CKPT=${CKPT:-build/ckpt/full-s1}
    TORCH_PY=$PEERS/jina_clip_torch.py # build/onnx for full-s1 (as before), build/onnx-<ckpt> for others
    ONNX=${ONNX:-$PEERS/build/onnx$(b=$(basename "$CKPT"); test "$b" = full-s1 || echo "-$b")}
    CASES=${CASES:-text-8 text-64 text-512 text-64x8 image-1 image-8} ;;
clip | clip-b32)
    MODEL=${MODEL:-build/models/b32-s1.jclip}; CKPT=${CKPT:-build/ckpt/b32-s1}
    TORCH_PY=$PEERS/clip_torch.py; ONNX=${ONNX:-$PEERS/build/onnx-$(basename "$CKPT")}
    CASES=${CASES:-text-8 text-77 text-77x8 image-1 image-8} ;;
*) echo "FAMILY=$FAMILY: jina or clip" >&2; exit 1 ;;
esac
MODELS=${MODELS:-$MODEL}
GOLDEN=${GOLDEN:-$SHARED/golden/model/$(basename "$CKPT")}
# the inputs of the int8 / dtype comparisons: the goldens' texts and pixels, those of the family's
# seed-1 goldens for a checkpoint without goldens of its own (e.g. full-s1-real)
if [ -f "$GOLDEN/texts.jsonl" ]; then INPUTS=${INPUTS:-$GOLDEN}
elif [ "$FAMILY" = clip ] || [ "$FAMILY" = clip-b32 ]; then INPUTS=${INPUTS:-$SHARED/golden/model/b32-s1}
else INPUTS=${INPUTS:-$SHARED/golden/model/full-s1}; fi
ENGINES_IN=${ENGINES:-jclip torch ort}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1 2}
OPSET=${OPSET:-17}
ONNX_INT8=${ONNX}-int8
has_engine() { case " $ENGINES_IN " in *" $1 "*) return 0 ;; esac; return 1; }
for e in $ENGINES_IN; do
    case $e in jclip | torch | ort | ort-int8) ;; *) echo "ENGINES: unknown engine $e (jclip torch ort ort-int8)" >&2; exit 1 ;; esac
done
mkdir -p "$PEERS/results"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$PEERS/results/$STAMP.jsonl
: >"$OUT"

say() { printf '== %s\n' "$*" >&2; }

# 1. jclip
say "make jclip"
make jclip >&2
if has_engine jclip; then
    for m in $MODELS; do
        case $m in build/models/*.jclip) test -f "$m" || make "$m" >&2 ;; esac # via build/ckpt, as `make test`
        test -f "$m" || { echo "no model $m (convert a checkpoint with convert/convert.py)" >&2; exit 1; }
    done
fi
set -- $MODELS
JCLIP_REF=$1
if has_engine jclip && [ $# -gt 1 ]; then # the later MODELS against the first, in the parity step
    CMP=$PEERS/build/jclip_compare
    if [ ! -x "$CMP" ] || [ jclip -nt "$CMP" ] || [ "$PEERS/jclip_compare.c" -nt "$CMP" ]; then
        say "cc $CMP"
        mkdir -p "$PEERS/build"
        cc -std=c11 -D_GNU_SOURCE -O2 -I. "$PEERS/jclip_compare.c" jclip.c -o "$CMP" -lm -lpthread >&2
    fi
fi

# 2. checkpoint, ONNX export and its int8 rewrite
if [ ! -f "$CKPT/model.safetensors" ]; then
    case $CKPT in
    build/ckpt/*) say "making checkpoint $CKPT"; make "$CKPT/model.safetensors" SHARED="$SHARED" >&2 ;;
    *) echo "no checkpoint $CKPT/model.safetensors" >&2; exit 1 ;;
    esac
fi
if [ "$FAMILY" = jina ] && grep -q '"model_type": *"clip"' "$CKPT/config.json"; then
    echo "$CKPT is a CLIP checkpoint: run with FAMILY=clip" >&2; exit 1
fi
"$PY" -c 'import torch, numpy' || { echo "PyTorch missing: apt-get install -y python3-torch python3-numpy" >&2; exit 1; }
test -d "$PEERS/node_modules/onnxruntime-node" ||
    { echo "onnxruntime-node missing: (cd $PEERS && ONNXRUNTIME_NODE_INSTALL=skip npm install)" >&2; exit 1; }
if [ ! -f "$ONNX/text.onnx" ] || [ ! -f "$ONNX/vision.onnx" ] || [ "$CKPT/model.safetensors" -nt "$ONNX/text.onnx" ]; then
    say "torch.onnx.export -> $ONNX (opset $OPSET)"
    OPSET=$OPSET "$PY" -W ignore "$TORCH_PY" export "$CKPT" "$ONNX" 2>&1 | grep -v -i warn >&2 || true
    test -f "$ONNX/text.onnx" && test -f "$ONNX/vision.onnx" || { echo "ONNX export failed" >&2; exit 1; }
fi
if has_engine ort-int8; then
    if [ ! -f "$ONNX_INT8/text.onnx" ] || [ ! -f "$ONNX_INT8/vision.onnx" ] || [ "$ONNX/text.onnx" -nt "$ONNX_INT8/text.onnx" ] ||
        [ "$PEERS/quantize_onnx.py" -nt "$ONNX_INT8/text.onnx" ]; then
        "$PY" -c 'import onnx' || { echo "onnx missing: apt-get install -y python3-onnx" >&2; exit 1; }
        say "int8 rewrite (DynamicQuantizeMatMul) -> $ONNX_INT8"
        "$PY" "$PEERS/quantize_onnx.py" "$ONNX" "$ONNX_INT8" >&2
    fi
fi

# 3. parity, then the reduced-precision engines against fp32
if [ "${VERIFY:-$(test -f "$GOLDEN/texts.jsonl" && echo 1 || echo 0)}" = 1 ]; then
    say "parity vs $GOLDEN: PyTorch model"
    THREADS=2 "$PY" "$TORCH_PY" verify "$CKPT" "$GOLDEN" | tee "$PEERS/results/$STAMP.parity-torch.txt" >&2
    say "parity vs $GOLDEN: ONNX Runtime on the export"
    node "$PEERS/ort_bench.js" verify "$ONNX" "$GOLDEN" | tee "$PEERS/results/$STAMP.parity-ort.txt" >&2
fi
if [ "${COMPARE:-$(test -f "$INPUTS/texts.jsonl" && echo 1 || echo 0)}" = 1 ]; then
    if has_engine jclip && [ $# -gt 1 ]; then
        for m in "${@:2}"; do
            say "jclip: $m vs $JCLIP_REF on the inputs of $INPUTS"
            "$CMP" "$JCLIP_REF" "$m" "$INPUTS" | tee "$PEERS/results/$STAMP.compare-jclip-$(basename "$m" .jclip).txt" >&2
        done
    fi
    if has_engine ort-int8; then
        say "ORT int8 vs ORT fp32 on the inputs of $INPUTS"
        node "$PEERS/ort_bench.js" compare "$ONNX" "$ONNX_INT8" "$INPUTS" | tee "$PEERS/results/$STAMP.compare-ort-int8.txt" >&2
    fi
fi

# 4. interleaved rounds
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(loadavg)
say "load average before: $LOAD_BEFORE; $ROUNDS rounds of: $CASES x threads $THREADS"
run_engine() { # engine case threads -> one JSON line on stdout
    case $1 in
    jclip:*) # jclip:MODEL; the line names the model's dtype, table.py makes it jclip-<dtype>
        ./jclip bench -m "${1#jclip:}" --json --threads "$3" --cases "$2" | sed 's/^{/{"engine":"jclip",/' ;;
    torch) env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${TORCH_ENV[@]}" \
        "$PY" -W ignore "$TORCH_PY" bench "$CKPT" --case "$2" --threads "$3" ;;
    ort) env "${ORT_ENV[@]}" node "$PEERS/ort_bench.js" bench "$ONNX" --case "$2" --threads "$3" ;;
    ort-int8) env "${ORT_ENV[@]}" node "$PEERS/ort_bench.js" bench "$ONNX_INT8" --engine ort-int8 --case "$2" --threads "$3" ;;
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
ENGINES=()
for e in $ENGINES_IN; do
    if [ "$e" = jclip ]; then for m in $MODELS; do ENGINES+=("jclip:$m"); done; else ENGINES+=("$e"); fi
done
NE=${#ENGINES[@]}
for ((r = 0; r < ROUNDS; r++)); do
    for c in $CASES; do
        for t in $THREADS; do
            for ((e = 0; e < NE; e++)); do
                eng=${ENGINES[$(((e + r) % NE))]}
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
"$PY" "$PEERS/table.py" "$OUT" "$LOAD_BEFORE" "$LOAD_AFTER" "$CPU ($(nproc) cpus)" "$FAMILY ($CKPT)"
