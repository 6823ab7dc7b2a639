"""Seeds: the --seeds list, and one random stream per (prompt, setting, seed) derived from those alone,
so a run's answer is the same whatever the number of processes, the batch size or the order."""

from __future__ import annotations

import hashlib
import json

from ..settings import MAX_SEED, SettingsError, check_seed
from .grid import SweepInputError


def parse_seeds(text: str) -> list[int]:
    parts = [p for p in str(text).split(",") if p.strip()]
    if not parts:
        raise SweepInputError("--seeds: give one or more seeds, like 0,1,2.")
    seeds = []
    for part in parts:
        try:
            seeds.append(check_seed(part))
        except SettingsError as exc:
            raise SweepInputError(f"--seeds: {exc.message} (got {part.strip()[:40]!r})") from None
    if len(set(seeds)) != len(seeds):
        raise SweepInputError("--seeds: a seed is listed twice.")
    return seeds


def stream_seed(prompt_id: str, setting: str, seed: int) -> int:
    """The seed of one run's generator: a hash of the triple (JSON, so no two triples collide by joining)."""
    digest = hashlib.sha256(json.dumps([prompt_id, setting, seed], ensure_ascii=False).encode()).digest()
    return int.from_bytes(digest[:8], "big") & MAX_SEED
