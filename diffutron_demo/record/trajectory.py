"""The trajectory: a run as plain data (JSON, versioned), drawn and replayed with no model.

docs/trajectory.md documents every field. `load` checks every field it reads (record/checks.py)
and names the field and the problem when a file is malformed, truncated or from a future
version; older versions are upgraded on load (record/upgrade.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .checks import Checker, TrajectoryError
from .step import Step
from .upgrade import upgrade

SCHEMA_VERSION = 3  # 2 added `branches`, 3 each candidate's score and rank and each step's rule
MAX_FILE_BYTES = 20 * 1024 * 1024  # generous for 1024 steps x 1024 positions; uploads stay bounded
KNOWN_FIELDS = {"schema_version", "model", "settings", "seed", "prompt", "prompt_ids", "special_ids", "final_ids",
                "reply", "stop_reason", "wall_ms", "pieces", "steps", "branches"}

__all__ = ["Branch", "MAX_FILE_BYTES", "SCHEMA_VERSION", "Trajectory", "TrajectoryError"]


@dataclass
class Branch:
    """A run continued from step `from_step` of its trajectory (what-if), stored in the same file."""
    from_step: int
    settings: dict
    seed: int
    pins: list[dict]  # [{"pos": answer position, "token": id}, ...]
    final_ids: list[int]
    reply: str
    stop_reason: str
    wall_ms: float
    steps: list[Step]

    def to_dict(self) -> dict:
        return {"from_step": self.from_step, "settings": self.settings, "seed": self.seed, "pins": self.pins,
                "final_ids": self.final_ids, "reply": self.reply, "stop_reason": self.stop_reason,
                "wall_ms": self.wall_ms, "steps": [s.to_dict() for s in self.steps]}


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

    @property
    def prompt_len(self) -> int:
        return len(self.prompt_ids)

    @property
    def answer_len(self) -> int:
        return len(self.final_ids) - len(self.prompt_ids)

    def piece(self, token: int) -> str:
        return self.pieces.get(int(token), f"<{token}>")

    def canvas_at(self, step: int) -> list[int]:
        """The canvas after `step` steps have run (0 = all masks), rebuilt from the records."""
        canvas = list(self.prompt_ids) + [self.special_ids["mask"]] * self.answer_len
        for record in self.steps[:step]:
            tokens = record.proposals()
            for pos in record.committed:
                canvas[pos] = tokens.get(pos, self.final_ids[pos])
            for edit in record.forced:
                canvas[edit.pos] = edit.token
        return canvas

    # -- branches ---------------------------------------------------------------------------------
    def add_branch(self, branch: "Trajectory", from_step: int, pins: dict[int, int] | None = None) -> int:
        """Store `branch` (a run continued from step `from_step`) in this file; returns its index."""
        self.pieces.update(branch.pieces)
        self.branches.append(Branch(
            from_step=from_step, settings=branch.settings, seed=branch.seed,
            pins=[{"pos": int(p), "token": int(t)} for p, t in sorted((pins or {}).items())],
            final_ids=branch.final_ids, reply=branch.reply, stop_reason=branch.stop_reason,
            wall_ms=branch.wall_ms, steps=branch.steps,
        ))
        return len(self.branches) - 1

    def branch(self, index: int) -> "Trajectory":
        """Branch `index` as a whole run: this run's steps up to the split, then the branch's."""
        b = self.branches[index]
        return Trajectory(
            model=self.model, settings=b.settings, seed=b.seed, prompt=self.prompt,
            prompt_ids=self.prompt_ids, special_ids=self.special_ids, final_ids=b.final_ids,
            reply=b.reply, stop_reason=b.stop_reason, wall_ms=b.wall_ms, pieces=self.pieces,
            steps=self.steps[: b.from_step] + b.steps,
        )

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version, "model": self.model, "settings": self.settings, "seed": self.seed,
            "prompt": self.prompt, "prompt_ids": self.prompt_ids, "special_ids": self.special_ids,
            "final_ids": self.final_ids, "reply": self.reply, "stop_reason": self.stop_reason,
            "wall_ms": self.wall_ms, "pieces": {str(k): v for k, v in sorted(self.pieces.items())},
            "steps": [s.to_dict() for s in self.steps], "branches": [b.to_dict() for b in self.branches],
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
        return cls.from_dict(_parse(text))

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
            return _build(data)
        except TrajectoryError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:  # a check this reader lacks
            raise TrajectoryError(f"The file is not a trajectory this version can read ({type(exc).__name__}).") from None


def _parse(text: str | bytes):
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise TrajectoryError(f"The file is {len(text) // 1_000_000} MB; trajectories are limited to {MAX_FILE_BYTES // 1_000_000} MB.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TrajectoryError(f"The file is not UTF-8 text (byte {exc.start}): is it a trajectory JSON?") from None
    elif len(text) > MAX_FILE_BYTES:
        raise TrajectoryError(f"The file is larger than {MAX_FILE_BYTES // 1_000_000} MB.")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        # An unterminated string reports where the string began; any other error at the end means truncation.
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        where = "the file ends early (truncated?)" if truncated else f"line {exc.lineno}, column {exc.colno}"
        raise TrajectoryError(f"The file is not valid JSON: {exc.msg} ({where}).") from None
    except RecursionError:
        raise TrajectoryError("The file nests JSON too deeply to be a trajectory.") from None
    except TrajectoryError:  # from _reject_constant (a ValueError too)
        raise
    except ValueError:  # an integer literal past Python's 4300-digit conversion limit
        raise TrajectoryError("The file holds a number far too long to be a trajectory's.") from None


def _build(data) -> Trajectory:
    v = Checker()
    v.require(isinstance(data, dict), "top level", "must be a JSON object")
    version = data.get("schema_version")
    v.require(version is not None, "schema_version", "is missing")
    v.require(isinstance(version, int) and not isinstance(version, bool), "schema_version", "must be a whole number")
    if version > SCHEMA_VERSION:
        raise TrajectoryError(
            f"schema_version {version} is newer than this version of diffutron-demo reads ({SCHEMA_VERSION}): update it."
        )
    v.require(version >= 1, "schema_version", f"must be at least 1 (got {version})")
    upgrade(data, version)
    model = v.obj(data, "model", {"name": str, "device": str, "dtype": str, "context_window": int})
    settings = v.field(data, "settings", dict)
    v.settings(settings, "settings")
    v.field(data, "seed", int)
    v.field(v.field(data, "prompt", dict), "text", str, "prompt.text")
    special = v.obj(data, "special_ids", {"mask": int, "pad": int, "eos": int})
    pieces = _pieces(v, v.field(data, "pieces", dict))
    prompt_ids = v.ids(data, "prompt_ids", pieces)
    final_ids = v.ids(data, "final_ids", pieces)
    v.require(len(prompt_ids) >= 1, "prompt_ids", "is empty")
    v.require(len(final_ids) >= len(prompt_ids), "final_ids", "is shorter than prompt_ids")
    v.require(final_ids[: len(prompt_ids)] == prompt_ids, "final_ids", "does not start with prompt_ids")
    steps = v.field(data, "steps", list)
    for i, record in enumerate(steps):
        v.step(record, i, len(final_ids), pieces)
    branches = v.field(data, "branches", list) if version >= 2 else []
    for j, b in enumerate(branches):
        _check_branch(v, b, f"branches[{j}]", len(steps), prompt_ids, final_ids, pieces)
    return Trajectory(
        model=model, settings=settings, seed=data["seed"], prompt=data["prompt"], prompt_ids=prompt_ids,
        special_ids=special, final_ids=final_ids, reply=v.field(data, "reply", str),
        stop_reason=v.field(data, "stop_reason", str), wall_ms=v.number(data, "wall_ms"), pieces=pieces,
        steps=[Step.from_dict(s) for s in steps],
        schema_version=SCHEMA_VERSION,  # an old file is upgraded on load; saving writes the new version
        branches=[_branch(b) for b in branches],
        extra={k: val for k, val in data.items() if k not in KNOWN_FIELDS},
    )


def _branch(b: dict) -> Branch:
    return Branch(from_step=b["from_step"], settings=b["settings"], seed=b["seed"], pins=b["pins"],
                  final_ids=b["final_ids"], reply=b["reply"], stop_reason=b["stop_reason"], wall_ms=b["wall_ms"],
                  steps=[Step.from_dict(s) for s in b["steps"]])


def _pieces(v: Checker, raw: dict) -> dict[int, str]:
    pieces = {}
    for key, text in raw.items():
        v.require(key.isascii() and key.isdigit() and len(key) <= 18, f"pieces['{key[:20]}']", "keys must be token ids")
        v.require(isinstance(text, str), f"pieces['{key}']", "must be text")
        pieces[int(key)] = text
    return pieces


def _check_branch(v: Checker, b, at: str, n_steps: int, prompt_ids: list, final_ids: list, pieces: dict) -> None:
    v.require(isinstance(b, dict), at, "must be an object")
    split = v.field(b, "from_step", int, f"{at}.from_step")
    v.require(0 <= split <= n_steps, f"{at}.from_step", f"is {split}, outside 0..{n_steps}")
    v.settings(v.field(b, "settings", dict, f"{at}.settings"), f"{at}.settings")
    v.field(b, "seed", int, f"{at}.seed")
    v.field(b, "reply", str, f"{at}.reply")
    v.field(b, "stop_reason", str, f"{at}.stop_reason")
    v.number(b, "wall_ms", f"{at}.wall_ms")
    T = len(final_ids)
    for k, pin in enumerate(v.field(b, "pins", list, f"{at}.pins")):
        v.require(isinstance(pin, dict), f"{at}.pins[{k}]", "must be an object")
        v.pos(pin.get("pos"), f"{at}.pins[{k}].pos", T - len(prompt_ids))
        v.token(pin.get("token"), f"{at}.pins[{k}].token", pieces)
    b_final = v.ids(b, "final_ids", pieces, f"{at}.final_ids")
    v.require(len(b_final) == T and b_final[: len(prompt_ids)] == prompt_ids, f"{at}.final_ids",
              "must be the same canvas length and prompt as final_ids")
    for i, record in enumerate(v.field(b, "steps", list, f"{at}.steps")):
        v.step(record, i, T, pieces, first=split, where=f"{at}.steps[{i}]")


def _reject_constant(name: str):
    raise TrajectoryError(f"The file holds {name}, which is not valid JSON (numbers must be finite).")
