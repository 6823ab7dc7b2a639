"""The trajectory: a run as plain data (JSON, versioned), drawn and replayed with no model.

docs/trajectory.md documents every field. Loading checks every field it reads (record/load.py, record/checks.py)
and names the field and the problem when a file is malformed, truncated or from a future
version; older versions are upgraded on load (record/upgrade.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .branch import Blank, Branch, blanks_of
from .checks import TrajectoryError
from .load import BRANCH_KINDS, GENERATE, INFILL, KNOWN_FIELDS, MAX_FILE_BYTES, MODES, SCHEMA_VERSION, build, parse
from .step import Step

__all__ = ["BRANCH_KINDS", "Blank", "Branch", "GENERATE", "INFILL", "KNOWN_FIELDS", "MAX_FILE_BYTES", "MODES",
           "SCHEMA_VERSION", "Trajectory", "TrajectoryError", "blanks_of"]


@dataclass
class Trajectory:
    model: dict
    settings: dict
    seed: int
    prompt: dict
    prompt_ids: list[int]
    special_ids: dict
    final_ids: list[int]
    reply: str
    stop_reason: str
    wall_ms: float
    pieces: dict[int, str]
    steps: list[Step]
    schema_version: int = SCHEMA_VERSION
    branches: list[Branch] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    mode: str = GENERATE  # or INFILL: blanks anywhere in a given text
    initial_ids: list[int] | None = None  # the canvas before step 0 (None: the prompt, then masks)
    blanks: list[Blank] | None = None  # the spans the run fills (None: every masked span of initial_ids)

    def __post_init__(self):
        if self.initial_ids is None:
            self.initial_ids = list(self.prompt_ids) + [self.special_ids["mask"]] * (
                len(self.final_ids) - len(self.prompt_ids))
        if self.blanks is None:
            self.blanks = blanks_of(self.initial_ids, self.special_ids["mask"])

    @property
    def prompt_len(self) -> int:
        return len(self.prompt_ids)

    @property
    def is_infill(self) -> bool:
        return self.mode == INFILL

    @property
    def origin(self) -> int:
        """Where block 0 starts: the canvas's start in infill, the end of the prompt in generation."""
        return 0 if self.is_infill else self.prompt_len

    @cached_property
    def slots(self) -> list[int]:
        """The canvas positions the run writes, in canvas order: the heatmap's rows, numbered as
        answer positions 0, 1, ... (the masks before step 0, and any a redo masked again)."""
        mask = self.special_ids["mask"]
        chosen = {i for i, t in enumerate(self.initial_ids) if t == mask}
        chosen.update(e.pos for st in self.steps for e in st.forced if e.kind == "redo")
        return sorted(chosen)

    @cached_property
    def row_of(self) -> dict[int, int]:
        """Canvas position -> answer position (the heatmap's row), for each of `slots`."""
        return {pos: i for i, pos in enumerate(self.slots)}

    @property
    def answer_len(self) -> int:
        return len(self.slots)

    def piece(self, token: int) -> str:
        return self.pieces.get(int(token), f"<{token}>")

    def canvas_at(self, step: int) -> list[int]:
        """The canvas after `step` steps have run (0 = as it started), rebuilt from the records:
        a step's pins and redos first, then its commits, then a stop string's overwrite."""
        canvas = list(self.initial_ids)
        for record in self.steps[:step]:
            tokens = record.proposals()
            for edit in record.forced:
                if edit.before_step:
                    canvas[edit.pos] = edit.token
            for pos in record.committed:
                canvas[pos] = tokens.get(pos, self.final_ids[pos])
            for edit in record.forced:
                if not edit.before_step:
                    canvas[edit.pos] = edit.token
        return canvas

    # -- branches ---------------------------------------------------------------------------------
    def add_branch(self, branch: "Trajectory", from_step: int, pins: dict[int, int] | None = None, *,
                   parent: int | None = None) -> int:
        """Store `branch` (a run continued from step `from_step` of this run, or of branch `parent`) in
        this file; a branch run in infill mode is a redo. Returns its index."""
        self.pieces.update(branch.pieces)
        redo = any(b.was is not None for b in branch.blanks)
        self.branches.append(Branch(
            from_step=from_step, settings=branch.settings, seed=branch.seed,
            pins=[{"pos": int(p), "token": int(t)} for p, t in sorted((pins or {}).items())],
            final_ids=branch.final_ids, reply=branch.reply, stop_reason=branch.stop_reason,
            wall_ms=branch.wall_ms, steps=branch.steps, kind="redo" if redo else "what_if",
            blanks=branch.blanks if redo else [], parent=parent,
        ))
        return len(self.branches) - 1

    def branch(self, index: int) -> "Trajectory":
        """Branch `index` as a whole run: its base's steps up to the split, then the branch's."""
        b = self.branches[index]
        base = self if b.parent is None else self.branch(b.parent)
        return Trajectory(
            model=self.model, settings=b.settings, seed=b.seed, prompt=self.prompt,
            prompt_ids=self.prompt_ids, special_ids=self.special_ids, final_ids=b.final_ids,
            reply=b.reply, stop_reason=b.stop_reason, wall_ms=b.wall_ms, pieces=self.pieces,
            steps=base.steps[: b.from_step] + b.steps, mode=self.mode, initial_ids=self.initial_ids,
            blanks=self.blanks,
        )

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version, "model": self.model, "settings": self.settings, "seed": self.seed,
            "prompt": self.prompt, "prompt_ids": self.prompt_ids, "special_ids": self.special_ids,
            "final_ids": self.final_ids, "reply": self.reply, "stop_reason": self.stop_reason,
            "wall_ms": self.wall_ms, "pieces": {str(k): v for k, v in sorted(self.pieces.items())},
            "steps": [s.to_dict() for s in self.steps], "branches": [b.to_dict() for b in self.branches],
            "mode": self.mode, "initial_ids": self.initial_ids, "blanks": [b.to_dict() for b in self.blanks],
            **self.extra,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, text: str | bytes) -> "Trajectory":
        return cls.from_dict(parse(text))

    @classmethod
    def load(cls, path: str | Path) -> "Trajectory":
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise TrajectoryError(f"'{path.name}' is {size // 1_000_000} MB; trajectories are limited to {MAX_FILE_BYTES // 1_000_000} MB.")
            data = path.read_bytes()
        except OSError as exc:
            raise TrajectoryError(f"Can't read '{path.name}': {exc.strerror or exc}.") from None
        return cls.from_json(data)

    @classmethod
    def from_dict(cls, data) -> "Trajectory":
        try:
            return cls(**build(data))
        except TrajectoryError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:  # a check this reader lacks
            raise TrajectoryError(f"The file is not a trajectory this version can read ({type(exc).__name__}).") from None
