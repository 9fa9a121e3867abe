#!/usr/bin/env bash
# The GPU check of issue 7, for a machine with an NVIDIA GPU and binaries built elsewhere.
#
# Build on any machine (no GPU or CUDA toolkit needed), from the repository root:
#   cargo build --release -p dbn-train --features cuda && mkdir -p target/gpu && cp target/release/dbn target/gpu/dbn-cuda
#   cargo build --release -p dbn-train --features wgpu && cp target/release/dbn target/gpu/dbn-wgpu
# then, on the GPU machine, from the repository root (data/mnist and benches/ are read):
#   scripts/gpu-check.sh [BIN_DIR]          # BIN_DIR defaults to target/gpu
#
# For every BIN_DIR/dbn-* it prints the start-up cost (first and second run of a tiny epoch:
# kernel compilation, then Burn's caches), `dbn bench` against PyTorch on the same GPU, and a
# short training run (784-500-500-2000, 2 CD epochs per layer, 2 fine-tuning epochs) with its
# time and test error; first the GPU, the driver and the Vulkan loader and ICDs that wgpu needs.
# Environment: OUT (artifacts, default /tmp/gpu-check), BENCH_ARGS (default "--repeat 3"),
# TRAIN_ARGS (added to the training run), PYTHON (default python3). About 5 minutes with
# two binaries; every step has a time limit, and a failing step is reported, not fatal.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN_DIR=${1:-target/gpu}
OUT=${OUT:-/tmp/gpu-check}
BENCH_ARGS=${BENCH_ARGS:---repeat 3}
TRAIN_ARGS=${TRAIN_ARGS:-}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"

section() { printf '\n== %s\n' "$*"; }
step() { # step SECONDS COMMAND...: runs it with a time limit, says how it ended
    local limit=$1; shift
    local start=$SECONDS
    timeout "$limit" "$@"
    local rc=$?
    if [ $rc -eq 124 ]; then echo "(stopped after ${limit} s)"; elif [ $rc -ne 0 ]; then echo "(exit status $rc)"; fi
    echo "($((SECONDS - start)) s)"
}

section "GPU and driver"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
else
    echo "nvidia-smi: not found"
fi
section "Vulkan (wgpu needs the loader libvulkan.so.1 and an ICD for the GPU)"
ldconfig -p 2>/dev/null | grep -E 'libvulkan\.so|libGLX_nvidia|libEGL_nvidia' || echo "no Vulkan loader or NVIDIA GL libraries in the linker cache"
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null || echo "no Vulkan ICD folders"
"$PYTHON" -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.cuda.is_available())' 2>&1 | tail -1

shopt -s nullglob
bins=("$BIN_DIR"/dbn-*)
[ ${#bins[@]} -gt 0 ] || { echo "no $BIN_DIR/dbn-* binaries: build them as the header of $0 says"; exit 2; }
for bin in "${bins[@]}"; do
    name=$(basename "$bin")
    section "$name: start-up (a 1,000-example CD-1 epoch, twice)"
    for run in first second; do
        echo "$run run:"
        step 240 "$bin" bench --only "cd1 784x500" --examples 1000 --no-peer
    done
    section "$name: dbn bench $BENCH_ARGS"
    # shellcheck disable=SC2086
    step 300 "$bin" bench $BENCH_ARGS --python "$PYTHON" --peer-script benches/peer_torch.py
    section "$name: short training run"
    # shellcheck disable=SC2086
    step 300 "$bin" train --layers 784,500,500,2000 --pretrain-epochs 2 --finetune-epochs 2 \
        --out "$OUT/train-$name" --overwrite $TRAIN_ARGS > "$OUT/train-$name.log" 2>&1
    tail -n 12 "$OUT/train-$name.log"
    step 120 "$bin" sample --model "$OUT/train-$name" --out "$OUT/samples-$name.png" 2>&1 | tail -n 2
done
echo
echo "artifacts and logs: $OUT"
