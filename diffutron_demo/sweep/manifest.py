"""manifest.json: what a sweep is (model, grid, prompts, seeds, --raw, --compare-seeds) and each launch
that worked on it.

The identity is what the rows depend on; a folder holding another sweep is refused before any
model is loaded. Batch size and process count are not part of it: they don't change an answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from .grid import SweepInputError

MANIFEST = "manifest.json"
IDENTITY = ("model", "grid", "prompts_sha256", "seeds", "reference", "raw", "compare_seeds")
ABSENT = {"compare_seeds": False}  # what a manifest written before a field existed meant by leaving it out
OUTPUTS = ("runs.jsonl", "summary.csv", "report.html", MANIFEST)


def identity(model: str, grid: dict, prompts_sha256: str, seeds: list[int], reference: str, raw: bool,
             compare_seeds: bool = False) -> dict:
    return {"model": model, "grid": grid, "prompts_sha256": prompts_sha256, "seeds": seeds, "reference": reference,
            "raw": raw, "compare_seeds": compare_seeds}


def read(folder: Path) -> dict | None:
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SweepInputError(f"{path}: not a readable sweep manifest; use --force to start the sweep over.") \
            from None
    if not isinstance(data, dict):
        raise SweepInputError(f"{path}: not a sweep manifest; use --force to start the sweep over.")
    return data


def check_same(folder: Path, wanted: dict) -> None:
    """Refuse a folder that holds another sweep (one line naming what differs)."""
    folder = Path(folder)
    old = read(folder)
    if old is None:
        if (folder / "runs.jsonl").exists():
            raise SweepInputError(f"{folder} holds a runs.jsonl but no manifest.json: use another --out, or --force.")
        return
    differs = [k for k in IDENTITY if old.get(k, ABSENT.get(k)) != wanted[k]]
    if differs:
        names = {"prompts_sha256": "prompt file", "raw": "--raw", "compare_seeds": "--compare-seeds"}
        what = ", ".join(names.get(k, k) for k in differs)
        raise SweepInputError(f"{folder} holds another sweep (different {what}): use another --out, or --force "
                              "to start over.")


def fingerprint(model: str) -> dict:
    """A local folder's config hash and weight file sizes (cheap; a hub id's revision comes from its config)."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return {}
    config = path / "config.json"
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
    return {"config_sha256": hashlib.sha256(config.read_bytes()).hexdigest() if config.exists() else None,
            "weights": {p.name: p.stat().st_size for p in weights}}


def write(folder: Path, wanted: dict, launch: dict, previous: dict | None) -> dict:
    """The manifest with this launch appended, written atomically (main process only)."""
    data = {**wanted, "launches": list((previous or {}).get("launches", [])) + [launch]}
    data["num_processes"] = launch["num_processes"]
    path = Path(folder) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return data


def launch_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
