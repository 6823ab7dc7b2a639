"""Trajectory files in tests: older ones made from a current one (what schema 1, 2 and 3 wrote, and
nothing more), and the check that a malformed one is refused with a message naming the fault."""

from __future__ import annotations

import copy

import pytest

from diffutron_demo.record.trajectory import Trajectory, TrajectoryError


def refused(payload, *words) -> str:
    """Load `payload` (dict, str or bytes) and return the message; every word must be in it."""
    with pytest.raises(TrajectoryError) as info:
        if isinstance(payload, dict):
            Trajectory.from_dict(payload)
        else:
            Trajectory.from_json(payload)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    return message

SCHEMA_3_CANDIDATE_FIELDS = ("score", "rank")
SCHEMA_3_STEP_FIELDS = ("rule", "derived")
# What schema 4 added: infill runs and redo branches, and each draft's spread.
SCHEMA_4_TOP_FIELDS = ("mode", "initial_ids", "blanks")
SCHEMA_4_BRANCH_FIELDS = ("kind", "blanks", "parent")
SCHEMA_4_CANDIDATE_FIELDS = ("entropy", "margin", "rest")


def _all_steps(data: dict) -> list:
    return data["steps"] + [st for b in data.get("branches", []) for st in b["steps"]]


def _strip_steps(steps: list, fields_step=(), fields_candidate=()) -> None:
    for step in steps:
        for key in fields_step:
            step.pop(key, None)
        for c in step["candidates"]:
            for key in fields_candidate:
                c.pop(key, None)


def downgrade(data: dict, version: int) -> dict:
    """`data` (a schema 4 file's JSON of a generation run with what-if branches only) as schema
    `version` (1, 2 or 3) wrote it."""
    assert version in (1, 2, 3), version
    assert data.get("mode", "generate") == "generate", "schema 1 to 3 hold generation runs only"
    assert all(b.get("kind", "what_if") == "what_if" and b.get("parent") is None for b in data.get("branches", [])), \
        "schema 1 to 3 hold what-if branches of the run itself only"
    old = copy.deepcopy(data)
    old["schema_version"] = version
    for key in SCHEMA_4_TOP_FIELDS:
        old.pop(key, None)
    for branch in old.get("branches", []):
        for key in SCHEMA_4_BRANCH_FIELDS:
            branch.pop(key, None)
    _strip_steps(_all_steps(old), (), SCHEMA_4_CANDIDATE_FIELDS)
    if version == 3:
        return old
    _strip_steps(old["steps"], SCHEMA_3_STEP_FIELDS, SCHEMA_3_CANDIDATE_FIELDS)
    if version == 1:
        del old["branches"]
    else:
        for branch in old["branches"]:
            _strip_steps(branch["steps"], SCHEMA_3_STEP_FIELDS, SCHEMA_3_CANDIDATE_FIELDS)
    return old


def without_derived(data: dict) -> dict:
    """A saved file's JSON with the `derived` marks of upgraded steps taken out."""
    out = copy.deepcopy(data)
    for steps in [out["steps"]] + [b["steps"] for b in out.get("branches", [])]:
        for step in steps:
            step.pop("derived", None)
    return out


def without_spread(data: dict) -> dict:
    """A file's JSON with each draft's entropy, margin and rest unrecorded (null), as an upgraded
    older file holds them."""
    out = copy.deepcopy(data)
    for step in _all_steps(out):
        for c in step["candidates"]:
            for key in SCHEMA_4_CANDIDATE_FIELDS:
                c[key] = None
    return out
