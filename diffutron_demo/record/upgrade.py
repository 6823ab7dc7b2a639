"""Older trajectory files (schema 1 and 2) hold no score, rank or rule: derive them once, at load.

What can be derived is derived from what the file holds and each such step is marked `derived`,
so views can say so. For the confidence strategies the score is the confidence and the order is
the recorded one exactly. For `random` the draw was not recorded: the committed positions rank
first in their recorded order, the rest follow in canvas order, and the score stays unknown.
"""

from __future__ import annotations

from ..settings import SamplerSettings


def upgrade(data: dict, version: int) -> None:
    """Add schema 3's fields to an older file's steps, in place (a malformed file is left for the checks)."""
    if version >= 3:
        return
    _derive(data.get("steps"), data.get("settings"))
    if version >= 2 and isinstance(data.get("branches"), list):
        for branch in data["branches"]:
            if isinstance(branch, dict):
                _derive(branch.get("steps"), branch.get("settings"))


def _derive(steps, settings) -> None:
    if not isinstance(steps, list):
        return
    defaults = SamplerSettings()
    settings = settings if isinstance(settings, dict) else {}
    remasking = settings.get("remasking", defaults.remasking)
    for step in steps:
        if not isinstance(step, dict) or not isinstance(step.get("candidates"), list):
            continue
        candidates = [c for c in step["candidates"] if isinstance(c, dict)]
        committed = step.get("committed") if isinstance(step.get("committed"), list) else []
        chosen = [c for pos in committed for c in candidates if c.get("pos") == pos]
        rest = [c for c in candidates if c not in chosen]
        if remasking != "random":
            rest.sort(key=lambda c: (-_number(c.get("conf")), _number(c.get("pos"))))
        for rank, c in enumerate(chosen + rest, start=1):
            c["rank"] = rank
            c["score"] = None if remasking == "random" else c.get("conf")
        step["rule"] = _rule(remasking, step, candidates, len(chosen), settings, defaults)
        step["derived"] = True


def _rule(remasking: str, step: dict, candidates: list, committed: int, settings: dict,
          defaults: SamplerSettings) -> dict:
    by = "random draw" if remasking == "random" else "confidence"
    if remasking == "threshold":
        tau = settings.get("threshold", defaults.threshold)
        above = sum(1 for c in candidates if _number(c.get("conf")) >= _number(tau))
        rule = {"kind": "threshold", "tau": tau, "above": above}
    elif remasking == "factor":
        rule = {"kind": "factor", "f": settings.get("factor", defaults.factor), "n": committed}
    else:
        rule = {"kind": "quota", "quota": step.get("quota")}
    return {**rule, "by": by, "committed": committed}


def _number(value) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
