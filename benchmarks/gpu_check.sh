#!/usr/bin/env bash
# The GPU figures, as one call on a lent H100/H200 (device tool), 7 minutes at most (the parts' timeouts):
#   run(command="bash benchmarks/gpu_check.sh", timeout_s=540)
# Uses the machine's own python3 (PyTorch with CUDA, transformers); nothing is installed.
# Each part has its own timeout and prints even when an earlier one failed or ran out of time.
# A dry run of the same script on a CPU, tiny checkpoint (a minute):
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_SMOKE=--smoke bash benchmarks/gpu_check.sh
set -o pipefail
DEVICE=${GPU_CHECK_DEVICE:-cuda}
SMOKE=${GPU_CHECK_SMOKE:-}
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DIFFUTRON_BENCH_CACHE=/tmp
part() { echo; echo "== $1"; SECONDS=0; }
done_part() { echo "(exit $1, ${SECONDS} s)"; }
{
  part "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi FAILED"
  timeout 30 python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available(), 'transformers', transformers.__version__)"; done_part $?

  part "the full-size random checkpoint (307M), built once"
  timeout 60 python3 -c "from pathlib import Path; from diffutron_demo.core.checkpoints import build_random_checkpoint
p = Path('/tmp/diffutron-bench-full')
(p / 'model.safetensors').exists() or build_random_checkpoint(p, seed=0, full_size=True); print(p)"; done_part $?

  # bf16. Per graph: the check's verdict (hidden-state error, padding replay, top-1), compile,
  # capture and check seconds apart, CUDA memory reserved, steady-state ms/pass compiled vs eager;
  # seconds per answer; tokens vs eager over 20 prompts; the planted faults' verdicts; compare 4
  # settings (adds the 4-row graph, then the graph table again).
  part "compiled encoder, checked against eager (warn)"
  timeout 260 python3 -m benchmarks.generate --device "$DEVICE" $SMOKE --compile --compare --no-reference --repeats 3
  done_part $?

  # the sampler against the reference-style loop (the speed target's ratio), eager
  part "eager: ours vs the reference-style loop"
  timeout 70 python3 -m benchmarks.generate --device "$DEVICE" $SMOKE --repeats 3 --reference-repeats 2
  done_part $?
} 2>&1 | tee "$OUT/gpu-check.log"
