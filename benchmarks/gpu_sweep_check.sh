#!/usr/bin/env bash
# The sweep's GPU figure: tokens/s of 4 settings x 6 prompts (model card settings, full-size random
# checkpoint, bf16) batched (one encoder pass per step for a setting's 6 runs) against one run at a
# time, in one process. One call on a lent GPU (device tool), carrying the wheels the GPU machine lacks:
#   pip download --no-deps -d .whl accelerate sacrebleu portalocker colorama tabulate psutil   # here, once
#   run(command="bash benchmarks/gpu_sweep_check.sh", carry=[".whl"], timeout_s=540)
# gpu_check.sh can call this script as its last line.
set -o pipefail
OUT=${OUT:-/tmp/gpu-sweep-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DIFFUTRON_BENCH_CACHE=/tmp
{
  python3 -c "import accelerate, sacrebleu" 2>/dev/null || python3 -m pip install -q --no-index --no-deps .whl/*.whl
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  # eager bf16: one run at a time, then a setting's runs batched; then the same batched and compiled
  timeout 240 python3 -m benchmarks.sweep --device cuda --processes 1 --batch-sizes 1,6
  timeout 200 python3 -m benchmarks.sweep --device cuda --processes 1 --batch-sizes 6 --compile
} 2>&1 | tee "$OUT/gpu-sweep-check.log"
