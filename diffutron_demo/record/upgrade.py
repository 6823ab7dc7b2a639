"""Older trajectory files, upgraded once at load.

Schema 1 and 2 hold no score, rank or rule: what can be derived is derived from what the file holds
and each such step is marked `derived`, so views can say so. For the confidence strategies the
score is the confidence and the order is the recorded one exactly. For `random` the draw was not
recorded: the committed positions rank first in their recorded order, the rest follow in canvas
order, and the score stays unknown.

Schema 1 to 3 are all generation runs: their canvas before step 0 is the prompt then masks, and
their branches are what-ifs. Their drafts' entropy, margin and rest were not recorded and stay
absent (None), which the views say.
"""

from __future__ import annotations

from ..settings import SamplerSettings


def upgrade(data: dict, version: int) -> None:
    """Add the newer schemas' fields to an older file, in place (a malformed file is left for the checks)."""
    if version < 3:
        _derive(data.get("steps"), data.get("settings"))
        if version >= 2 and isinstance(data.get("branches"), list):
            for branch in data["branches"]:
                if isinstance(branch, dict):
                    _derive(branch.get("steps"), branch.get("settings"))
    if version < 4:
        _generation_run(data)


def _generation_run(data: dict) -> None:
    """Schema 4's run fields for a generation run (schema 1 to 3 had no other kind)."""
    prompt, final, special = data.get("prompt_ids"), data.get("final_ids"), data.get("special_ids")
    data.setdefault("mode", "generate")
    if isinstance(prompt, list) and isinstance(final, list) and isinstance(special, dict):
        mask = special.get("mask")
        data.setdefault("initial_ids", list(prompt) + [mask] * (len(final) - len(prompt)))
        data.setdefault("blanks", [{"start": len(prompt), "end": len(final), "was": None}]
                        if len(final) > len(prompt) else [])
    for branch in data.get("branches") if isinstance(data.get("branches"), list) else []:
        if isinstance(branch, dict):
            branch.setdefault("kind", "what_if")
            branch.setdefault("blanks", [])
            branch.setdefault("parent", None)


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
