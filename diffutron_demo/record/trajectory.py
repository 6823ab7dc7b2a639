"""The trajectory: a run as plain data (JSON, versioned), drawn and replayed with no model.

docs/trajectory.md documents every field. `load` checks every field it reads and names the
field and the problem when a file is malformed, truncated or from a future version.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

SCHEMA_VERSION = 2  # 2 added `branches`; version 1 files still load
MAX_FILE_BYTES = 20 * 1024 * 1024  # generous for 1024 steps x 1024 positions; uploads stay bounded


class TrajectoryError(ValueError):
    """A trajectory file that can't be used; the message names the field and the problem."""


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
    steps: list[dict]
    schema_version: int = SCHEMA_VERSION
    branches: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    # -- derived views used by the pictures -------------------------------------------------------
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
            tokens = {c["pos"]: c["token"] for c in record["candidates"]}
            tokens.update({o["pos"]: o["token"] for o in record["overflow"]})
            for pos in record["committed"]:
                canvas[pos] = tokens.get(pos, self.final_ids[pos])
            for edit in record["forced"]:
                canvas[edit["pos"]] = edit["token"]
        return canvas

    # -- branches ---------------------------------------------------------------------------------
    def add_branch(self, branch: "Trajectory", from_step: int, pins: dict[int, int] | None = None) -> int:
        """Store `branch` (a run continued from step `from_step`) in this file; returns its index."""
        self.pieces.update(branch.pieces)
        self.branches.append({
            "from_step": from_step,
            "settings": branch.settings,
            "seed": branch.seed,
            "pins": [{"pos": int(p), "token": int(t)} for p, t in sorted((pins or {}).items())],
            "final_ids": branch.final_ids,
            "reply": branch.reply,
            "stop_reason": branch.stop_reason,
            "wall_ms": branch.wall_ms,
            "steps": branch.steps,
        })
        return len(self.branches) - 1

    def branch(self, index: int) -> "Trajectory":
        """Branch `index` as a whole run: this run's steps up to the split, then the branch's."""
        b = self.branches[index]
        return Trajectory(
            model=self.model, settings=b["settings"], seed=b["seed"], prompt=self.prompt,
            prompt_ids=self.prompt_ids, special_ids=self.special_ids, final_ids=b["final_ids"],
            reply=b["reply"], stop_reason=b["stop_reason"], wall_ms=b["wall_ms"], pieces=self.pieces,
            steps=self.steps[: b["from_step"]] + b["steps"],
        )

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = asdict(self)
        extra = data.pop("extra")
        data["branches"] = data.pop("branches")
        data["pieces"] = {str(k): v for k, v in sorted(self.pieces.items())}
        return {"schema_version": data.pop("schema_version"), **data, **extra}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, text: str | bytes) -> "Trajectory":
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
            data = json.loads(text, parse_constant=_reject_constant)
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
        return cls.from_dict(data)

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
            return cls._from_dict(data)
        except TrajectoryError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError) as exc:  # a check this reader lacks
            raise TrajectoryError(f"The file is not a trajectory this version can read ({type(exc).__name__}).") from None

    @classmethod
    def _from_dict(cls, data) -> "Trajectory":
        v = _Checker()
        v.require(isinstance(data, dict), "top level", "must be a JSON object")
        version = data.get("schema_version")
        v.require(version is not None, "schema_version", "is missing")
        v.require(isinstance(version, int) and not isinstance(version, bool), "schema_version", "must be a whole number")
        if version > SCHEMA_VERSION:
            raise TrajectoryError(
                f"schema_version {version} is newer than this version of diffutron-demo reads ({SCHEMA_VERSION}): update it."
            )
        v.require(version >= 1, "schema_version", f"must be at least 1 (got {version})")
        model = v.obj(data, "model", {"name": str, "device": str, "dtype": str, "context_window": int})
        settings = v.field(data, "settings", dict)
        v.settings(settings, "settings")
        seed = v.field(data, "seed", int)
        prompt = v.field(data, "prompt", dict)
        v.field(prompt, "text", str, "prompt.text")
        special = v.obj(data, "special_ids", {"mask": int, "pad": int, "eos": int})
        pieces_raw = v.field(data, "pieces", dict)
        pieces = {}
        for key, text in pieces_raw.items():
            v.require(key.isascii() and key.isdigit() and len(key) <= 18, f"pieces['{key[:20]}']", "keys must be token ids")
            v.require(isinstance(text, str), f"pieces['{key}']", "must be text")
            pieces[int(key)] = text
        prompt_ids = v.ids(data, "prompt_ids", pieces)
        final_ids = v.ids(data, "final_ids", pieces)
        v.require(len(prompt_ids) >= 1, "prompt_ids", "is empty")
        v.require(len(final_ids) >= len(prompt_ids), "final_ids", "is shorter than prompt_ids")
        v.require(final_ids[: len(prompt_ids)] == prompt_ids, "final_ids", "does not start with prompt_ids")
        steps = v.field(data, "steps", list)
        T = len(final_ids)
        for i, record in enumerate(steps):
            v.step(record, i, T, pieces)
        branches = v.field(data, "branches", list) if version >= 2 else []
        for j, b in enumerate(branches):
            at = f"branches[{j}]"
            v.require(isinstance(b, dict), at, "must be an object")
            split = v.field(b, "from_step", int, f"{at}.from_step")
            v.require(0 <= split <= len(steps), f"{at}.from_step", f"is {split}, outside 0..{len(steps)}")
            v.settings(v.field(b, "settings", dict, f"{at}.settings"), f"{at}.settings")
            v.field(b, "seed", int, f"{at}.seed")
            v.field(b, "reply", str, f"{at}.reply")
            v.field(b, "stop_reason", str, f"{at}.stop_reason")
            v.number(b, "wall_ms", f"{at}.wall_ms")
            for k, pin in enumerate(v.field(b, "pins", list, f"{at}.pins")):
                v.require(isinstance(pin, dict), f"{at}.pins[{k}]", "must be an object")
                v.pos(pin.get("pos"), f"{at}.pins[{k}].pos", T - len(prompt_ids))
                v.ids({"t": [pin.get("token")]}, "t", pieces, f"{at}.pins[{k}].token")
            b_final = v.ids(b, "final_ids", pieces, f"{at}.final_ids")
            v.require(len(b_final) == T and b_final[: len(prompt_ids)] == prompt_ids, f"{at}.final_ids",
                      "must be the same canvas length and prompt as final_ids")
            for i, record in enumerate(v.field(b, "steps", list, f"{at}.steps")):
                v.step(record, i, T, pieces, first=split, where=f"{at}.steps[{i}]")
        known = {"schema_version", "model", "settings", "seed", "prompt", "prompt_ids", "special_ids",
                 "final_ids", "reply", "stop_reason", "wall_ms", "pieces", "steps", "branches"}
        return cls(
            model=model,
            settings=settings,
            seed=seed,
            prompt=prompt,
            prompt_ids=prompt_ids,
            special_ids=special,
            final_ids=final_ids,
            reply=v.field(data, "reply", str),
            stop_reason=v.field(data, "stop_reason", str),
            wall_ms=v.number(data, "wall_ms"),
            pieces=pieces,
            steps=steps,
            schema_version=SCHEMA_VERSION,  # an old file is upgraded on load; saving writes the new version
            branches=branches,
            extra={k: val for k, val in data.items() if k not in known},
        )


class _Checker:
    """Small helpers that raise TrajectoryError naming the field."""

    def require(self, ok: bool, where: str, problem: str) -> None:
        if not ok:
            raise TrajectoryError(f"{where} {problem}.")

    def field(self, data: dict, key: str, kind, where: str | None = None):
        where = where or key
        self.require(key in data, where, "is missing")
        value = data[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        self.require(ok, where, f"must be {_KIND_NAMES.get(kind, kind.__name__)} (got {type(value).__name__})")
        return value

    def settings(self, values: dict, where: str) -> None:
        from ..settings import SamplerSettings, SettingsError

        try:
            SamplerSettings.from_dict(values)
        except SettingsError as exc:
            raise TrajectoryError(f"{where}.{exc.field}: {exc}") from None

    def number(self, data: dict, key: str, where: str | None = None) -> float:
        where = where or key
        self.require(key in data, where, "is missing")
        value = data[key]
        self.require(isinstance(value, (int, float)) and not isinstance(value, bool), where, "must be a number")
        self.require(isinstance(value, float) or abs(value) < 2**63, where, "is out of range")
        self.require(math.isfinite(value), where, "must be finite")
        return value

    def obj(self, data: dict, key: str, spec: dict) -> dict:
        value = self.field(data, key, dict)
        for name, kind in spec.items():
            self.field(value, name, kind, f"{key}.{name}")
        return value

    def ids(self, data: dict, key: str, pieces: dict, where: str | None = None) -> list[int]:
        where = where or key
        values = self.field(data, key, list, where)
        for j, token in enumerate(values):
            self.require(isinstance(token, int) and not isinstance(token, bool), f"{where}[{j}]", "must be a token id")
            self.require(token in pieces, f"{where}[{j}]", f"is token {token}, which is not in pieces")
        return values

    def pos(self, value, where: str, T: int) -> int:
        self.require(isinstance(value, int) and not isinstance(value, bool), where, "must be a canvas position")
        self.require(0 <= value < T, where, f"is {value}, outside the canvas (0..{T - 1})")
        return value

    def step(self, record, i: int, T: int, pieces: dict, first: int = 0, where: str | None = None) -> None:
        at = where or f"steps[{i}]"
        self.require(isinstance(record, dict), at, "must be an object")
        for key in ("step", "block", "scheduled", "quota"):
            self.field(record, key, int, f"{at}.{key}")
        self.require(record["step"] == first + i, f"{at}.step", f"is {record['step']}, expected {first + i}")
        window = self.field(record, "window", list, f"{at}.window")
        self.require(len(window) == 2 and all(isinstance(w, int) and not isinstance(w, bool) for w in window)
                     and 0 <= window[0] <= window[1] <= T, f"{at}.window", "must be [start, end] on the canvas")
        candidates = self.field(record, "candidates", list, f"{at}.candidates")
        tokens = {}
        for j, c in enumerate(candidates):
            w = f"{at}.candidates[{j}]"
            self.require(isinstance(c, dict), w, "must be an object")
            pos = self.pos(c.get("pos"), f"{w}.pos", T)
            self.ids({"token": [c.get("token")]}, "token", pieces, f"{w}.token")
            conf = self.number(c, "conf", f"{w}.conf")
            self.require(0.0 <= conf <= 1.0 + 1e-6, f"{w}.conf", f"is {conf}, not a probability")
            top = self.field(c, "top", list, f"{w}.top")
            for k, pair in enumerate(top):
                self.require(isinstance(pair, list) and len(pair) == 2, f"{w}.top[{k}]", "must be [token, probability]")
                self.ids({"t": [pair[0]]}, "t", pieces, f"{w}.top[{k}][0]")
                self.number({"p": pair[1]}, "p", f"{w}.top[{k}][1]")
            tokens[pos] = c["token"]
        overflow = self.field(record, "overflow", list, f"{at}.overflow")
        for j, o in enumerate(overflow):
            self.require(isinstance(o, dict), f"{at}.overflow[{j}]", "must be an object")
            tokens[self.pos(o.get("pos"), f"{at}.overflow[{j}].pos", T)] = o.get("token")
            self.ids({"t": [o.get("token")]}, "t", pieces, f"{at}.overflow[{j}].token")
        committed = self.field(record, "committed", list, f"{at}.committed")
        for j, pos in enumerate(committed):
            self.pos(pos, f"{at}.committed[{j}]", T)
            self.require(
                pos in tokens or not candidates,
                f"{at}.committed[{j}]",
                f"is position {pos}, which has no proposal in this step's candidates",
            )
        forced = self.field(record, "forced", list, f"{at}.forced")
        for j, edit in enumerate(forced):
            w = f"{at}.forced[{j}]"
            self.require(isinstance(edit, dict), w, "must be an object")
            self.pos(edit.get("pos"), f"{w}.pos", T)
            self.ids({"t": [edit.get("token")]}, "t", pieces, f"{w}.token")
            self.field(edit, "kind", str, f"{w}.kind")
        self.number(record, "forward_ms", f"{at}.forward_ms")


_KIND_NAMES = {int: "a whole number", str: "text", list: "a list", dict: "an object", float: "a number"}


def _reject_constant(name: str):
    raise TrajectoryError(f"The file holds {name}, which is not valid JSON (numbers must be finite).")
