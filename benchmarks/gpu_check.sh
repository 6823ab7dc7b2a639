#!/usr/bin/env bash
# The GPU figure for the speed targets, as one call on a lent H100/H200 (device tool):
#   run(command="bash benchmarks/gpu_check.sh", timeout_s=540)
# Uses the machine's own python3 (PyTorch with CUDA, transformers); nothing is installed.
set -o pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DIFFUTRON_BENCH_CACHE=/tmp
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  # bf16, eager vs compiled (compile time apart), tokens vs eager over 20 prompts, 4-setting compare,
  # and the reference-style loop for the ratio
  timeout 480 python3 -m benchmarks.generate --device cuda --compile --compare --repeats 5
} 2>&1 | tee "$OUT/gpu-check.log"
