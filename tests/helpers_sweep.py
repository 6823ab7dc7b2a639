"""A small sweep on a tiny checkpoint: its files, the command, and rows compared without timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKUP = "Merhaba <img src=x onerror=\"window.__pwned=1\"> <b>kalın</b> <mask> </s>"
PROMPTS = [
    {"prompt": "Türkiye'nin başkenti neresidir?", "reference": "Türkiye'nin başkenti Ankara'dır."},
    {"prompt": MARKUP, "id": "markup"},
    {"prompt": "Bana kısa bir şiir yazar mısın?", "reference": "Gökyüzü mavi, deniz derin."},
]
# Temperature 0 and above; a remasking strategy that ends early; short runs.
GRID = {
    "greedy": {"steps": 8, "max_new_tokens": 8, "block_length": 8, "temperature": 0},
    "warm blocks": {"steps": 8, "max_new_tokens": 8, "block_length": 4, "temperature": 0.8},
    "threshold": {"steps": 8, "max_new_tokens": 8, "block_length": 8, "temperature": 0.3,
                  "remasking": "threshold", "threshold": 0.5},
}
SEEDS = "0,1"
VARYING = ("model_ms", "wall_ms", "finished_at", "launch", "process")  # differ between two runs of a sweep


def write_inputs(folder: Path, prompts=PROMPTS, grid=GRID) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    p, g = folder / "prompts.jsonl", folder / "grid.json"
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in prompts), encoding="utf-8")
    g.write_text(json.dumps(grid), encoding="utf-8")
    return p, g


def sweep_args(model, prompts, grid, out, *extra) -> list[str]:
    return ["sweep", "--model", str(model), "--prompts", str(prompts), "--grid", str(grid), "--out", str(out),
            "--seeds", SEEDS, *map(str, extra)]


def env(threads: int = 1) -> dict:
    e = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT),
             OMP_NUM_THREADS=str(threads))
    e.pop("RANK", None)
    return e


def run_cli(args: list[str], timeout: float = 240, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    cmd = (launcher or [sys.executable]) + ["-m", "diffutron_demo", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)


def accelerate_launch(port: int) -> list[str]:
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    return [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port)]


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "runs.jsonl").read_text(encoding="utf-8").splitlines()]


def content(out: Path) -> dict:
    """runs.jsonl as {key: row} without the fields that differ between two runs of the same sweep."""
    rows = {}
    for row in lines(out):
        key = (row["prompt_id"], row["setting"], row["seed"])
        assert key not in rows, f"{key} appears twice"
        rows[key] = {k: v for k, v in row.items() if k not in VARYING}
    return rows
