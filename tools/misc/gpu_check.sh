#!/usr/bin/env bash
# The checks a session runs when it is lent a GPU machine (one short script):
#   1. the CUDA tests (tests_gpu/),
#   2. a FLIP ViT-B/16 demo run through tools/dist_train.sh with AMP,
#   3. the benchmark (images/s, peak memory) for the README's performance table.
# Usage: bash tools/misc/gpu_check.sh [OUT_DIR]   (numbers go to OUT_DIR)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-${OUT:-work_dirs/gpu_check}}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
[ -d data/demo ] || python tools/misc/make_demo_data.py --out data/demo
python -m pytest tests_gpu -q 2>&1 | tee "$OUT/tests_gpu.txt"
PORT=${PORT:-29531} bash tools/dist_train.sh configs/flip/flip-it_vitb16_demo.py 1 \
    --amp --work-dir "$OUT/flip-it_vitb16_demo" --test 2>&1 | tail -n 40 | tee "$OUT/dist_train.txt"
python tools/analysis_tools/benchmark.py configs/flip/flip-it_vitb16_oci2m.py \
    --no-pretrained --device cuda --amp --batch-size 32 --iters 10 \
    --json "$OUT/benchmark_vitb16_amp.json" 2>&1 | tee "$OUT/benchmark.txt"
