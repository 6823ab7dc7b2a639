"""Older trajectory files, made from a current one: what schema 1 and 2 wrote, and nothing more."""

from __future__ import annotations

import copy

SCHEMA_3_CANDIDATE_FIELDS = ("score", "rank")
SCHEMA_3_STEP_FIELDS = ("rule", "derived")


def _strip_steps(steps: list) -> None:
    for step in steps:
        for key in SCHEMA_3_STEP_FIELDS:
            step.pop(key, None)
        for c in step["candidates"]:
            for key in SCHEMA_3_CANDIDATE_FIELDS:
                c.pop(key, None)


def downgrade(data: dict, version: int) -> dict:
    """`data` (a schema 3 file's JSON) as schema `version` (1 or 2) wrote it."""
    old = copy.deepcopy(data)
    old["schema_version"] = version
    _strip_steps(old["steps"])
    if version == 1:
        del old["branches"]
    else:
        for branch in old["branches"]:
            _strip_steps(branch["steps"])
    return old


def without_derived(data: dict) -> dict:
    """A saved file's JSON with the `derived` marks of upgraded steps taken out."""
    out = copy.deepcopy(data)
    for steps in [out["steps"]] + [b["steps"] for b in out.get("branches", [])]:
        for step in steps:
            step.pop("derived", None)
    return out
