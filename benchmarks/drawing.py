"""One step's drawing time beside one step's model time, as the live chat view draws them.

    python -m benchmarks.drawing                  # tiny random checkpoint
    python -m benchmarks.drawing --full-size      # full-size random mmBERT-base (307M)

Drawing = what the app does for a live frame: snapshot the trajectory, build the heatmap and the
canvas HTML, and serialize the figure to JSON (Gradio sends it to the browser).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from diffutron_demo.render import figures

from diffutron_demo.render import fragments
from diffutron_demo.core.checkpoints import build_random_checkpoint
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.settings import SamplerSettings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-size", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cache = Path(os.environ.get("DIFFUTRON_BENCH_CACHE", tempfile.gettempdir()))
    folder = cache / ("diffutron-bench-full" if args.full_size else "diffutron-bench-tiny")
    if not (folder / "model.safetensors").exists():
        build_random_checkpoint(folder, seed=0, full_size=args.full_size)
    lm = load_model(str(folder), device="cpu")
    n = args.max_new_tokens
    settings = SamplerSettings(steps=n, max_new_tokens=n)
    run, _ = start_run(lm, "Türkiye'nin başkenti neresidir?", settings, 0)
    model_ms, draw_ms = [], []
    for record in run:
        model_ms.append(record.step_ms)
        t0 = time.perf_counter()
        partial = run.trajectory()
        fig = figures.heatmap_figure(partial, total_steps=n)
        fragments.canvas_html(partial, len(partial.steps))
        fig.to_json()
        draw_ms.append((time.perf_counter() - t0) * 1000)
    print(f"{folder.name}: {len(model_ms)} steps, {n} answer positions, {args.threads} threads")
    print(f"  model time per step:   median {statistics.median(model_ms):8.1f} ms")
    print(f"  drawing time per step: median {statistics.median(draw_ms):8.1f} ms "
          f"(last step {draw_ms[-1]:.1f} ms, the largest frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
