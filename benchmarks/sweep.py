"""Wall time and tokens/s of a sweep (4 settings x 6 prompts), by process count and batch size.

    python -m benchmarks.sweep                          # full-size random checkpoint, 1 and 2 processes
    python -m benchmarks.sweep --smoke                  # tiny checkpoint, 2 processes: proves it runs (CI)
    python -m benchmarks.sweep --device cuda --processes 1 --batch-sizes 1,6   # a GPU: batched vs one at a time

Each configuration is a fresh `python -m diffutron_demo sweep` (1 process) or `accelerate launch
--multi_gpu --num_processes N -m diffutron_demo sweep` into its own folder, timed from outside;
the rows of every configuration are checked to be the same runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from diffutron_demo.settings import PRESETS

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["Türkiye'nin başkenti neresidir?", "Bana kısa bir şiir yazar mısın?", "Yapay zekâ nedir?",
           "İstanbul hakkında bilgi verir misin?", "Su kaç derecede kaynar?", "Deniz neden mavidir?"]
SETTINGS = ["dllm (model card)", "greedy", "fast: threshold 0.9", "left to right"]  # Compare's four columns
SHORT = {"steps": 8, "max_new_tokens": 8, "block_length": 4}


def write_inputs(folder: Path, prompts_used: list[str], smoke: bool, settings: list[str]) -> tuple[Path, Path]:
    prompts = folder / "prompts.txt"
    prompts.write_text("\n".join(prompts_used) + "\n", encoding="utf-8")
    grid = {name: {**PRESETS[name].to_dict(), **(SHORT if smoke else {})} for name in settings}
    (folder / "grid.json").write_text(json.dumps(grid, indent=2), encoding="utf-8")
    return prompts, folder / "grid.json"


def checkpoint(args) -> str:
    if args.checkpoint:
        return args.checkpoint
    from diffutron_demo.core.checkpoints import build_random_checkpoint

    cache = Path(os.environ.get("DIFFUTRON_BENCH_CACHE", tempfile.gettempdir())) / (
        "diffutron-bench-tiny" if args.smoke else "diffutron-bench-full")
    if not (cache / "model.safetensors").exists():
        build_random_checkpoint(cache, seed=0, full_size=not args.smoke)
    return str(cache)


def launch(model: str, inputs: tuple[Path, Path], out: Path, processes: int, batch: int, args) -> dict:
    sweep = ["-m", "diffutron_demo", "sweep", "--model", model, "--prompts", str(inputs[0]), "--grid",
             str(inputs[1]), "--out", str(out), "--batch-size", str(batch), "--dtype", args.dtype]
    if args.device == "cpu":
        sweep.append("--cpu")
    if args.compile:
        sweep.append("--compile")
    if processes == 1:
        cmd = [sys.executable, *sweep]
    else:
        accelerate = str(Path(sys.executable).with_name("accelerate"))
        cmd = [accelerate if Path(accelerate).exists() else "accelerate", "launch", "--multi_gpu", "--num_processes",
               str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(args.port), *sweep]
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in (out / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    final = done.stderr.strip().splitlines()[-1]
    return {"processes": processes, "batch": batch, "wall": wall, "rows": rows, "final": final,
            "ranks": sorted({r["process"] for r in rows}), "command": " ".join(cmd)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny checkpoint, short settings, 2 processes (CI)")
    p.add_argument("--checkpoint", default=None, help="a folder to use instead of building a random checkpoint")
    p.add_argument("--processes", default=None, help="comma-separated process counts (default 1,2; smoke: 2)")
    p.add_argument("--batch-sizes", default="1", help="comma-separated batch sizes (default 1)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="auto")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--settings", type=int, default=len(SETTINGS), help="the first N of the four settings")
    p.add_argument("--prompts", type=int, default=None, help="the first N of the six prompts (smoke: 3)")
    p.add_argument("--port", type=int, default=29517, help="accelerate's main process port")
    p.add_argument("--keep", default=None, help="keep the sweep folders here")
    args = p.parse_args(argv)
    counts = [int(n) for n in (args.processes or ("2" if args.smoke else "1,2")).split(",")]
    batches = [int(n) for n in args.batch_sizes.split(",")]
    work = Path(args.keep or tempfile.mkdtemp(prefix="diffutron-bench-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    settings, prompts = SETTINGS[: args.settings], PROMPTS[: args.prompts or (3 if args.smoke else len(PROMPTS))]
    inputs, model = write_inputs(work, prompts, args.smoke, settings), checkpoint(args)
    results = []
    for n in counts:
        for b in batches:
            out = work / f"out-p{n}-b{b}"
            shutil.rmtree(out, ignore_errors=True)
            results.append(launch(model, inputs, out, n, b, args))
            r = results[-1]
            print(f"{n} process(es), batch {b}: {r['wall']:.1f} s wall, {len(r['rows'])} runs, ranks {r['ranks']}\n"
                  f"  {r['command']}\n  {r['final']}", flush=True)
    code = check(results, len(settings) * len(prompts))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return code


def check(results: list[dict], expected: int) -> int:
    """Every configuration made every run once, on every rank it launched; the same answers at temperature 0."""
    def answers(r):
        return {(x["prompt_id"], x["setting"], x["seed"]): x["answer_ids"] for x in r["rows"]
                if PRESETS[x["setting"]].temperature == 0}

    for r in results:
        if len(r["rows"]) != expected or r["ranks"] != list(range(r["processes"])):
            print(f"FAILED: {r['command']}: {len(r['rows'])} of {expected} runs, ranks {r['ranks']}")
            return 1
    same = all(answers(r) == answers(results[0]) for r in results)
    tokens = [sum(x["gen_tokens"] or 0 for x in r["rows"]) for r in results]
    print("\n".join(f"{r['processes']} process(es), batch {r['batch']}: {r['wall']:.1f} s wall, "
                    f"{t / r['wall']:.2f} tokens/s over the whole launch" for r, t in zip(results, tokens)))
    print(f"temperature-0 answers identical across configurations: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
