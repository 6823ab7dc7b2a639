"""Field-by-field checks of a trajectory file: each failure names the field and the problem."""

from __future__ import annotations

import math

from ..settings import SamplerSettings, SettingsError
from .step import EDIT_KINDS

RULE_KINDS = ("quota", "threshold", "factor")
_KIND_NAMES = {int: "a whole number", str: "text", list: "a list", dict: "an object", float: "a number"}


class TrajectoryError(ValueError):
    """A trajectory file that can't be used; the message names the field and the problem."""


class Checker:
    """Small checks that raise TrajectoryError naming the field."""

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

    def settings(self, values: dict, where: str) -> SamplerSettings:
        try:
            return SamplerSettings.from_dict(values)
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

    def ids(self, data: dict, key: str, pieces: dict, where: str | None = None, also: int | None = None) -> list[int]:
        """A list of token ids, each in `pieces` (or equal to `also`: the mask id, before step 0)."""
        where = where or key
        values = self.field(data, key, list, where)
        for j, token in enumerate(values):
            self.require(isinstance(token, int) and not isinstance(token, bool), f"{where}[{j}]", "must be a token id")
            self.require(token in pieces or token == also, f"{where}[{j}]", f"is token {token}, which is not in pieces")
        return values

    def token(self, value, where: str, pieces: dict) -> None:
        self.ids({"t": [value]}, "t", pieces, where)

    def pos(self, value, where: str, T: int) -> int:
        self.require(isinstance(value, int) and not isinstance(value, bool), where, "must be a canvas position")
        self.require(0 <= value < T, where, f"is {value}, outside the canvas (0..{T - 1})")
        return value

    def step(self, record, i: int, T: int, pieces: dict, first: int = 0, where: str | None = None,
             edits_from: int = 0) -> None:
        """A step as schema 4 writes it (older files are upgraded before this check). Forced edits
        only ever touch the part of the canvas after the prompt (`edits_from`)."""
        at = where or f"steps[{i}]"
        self.require(isinstance(record, dict), at, "must be an object")
        for key in ("step", "block", "scheduled", "quota"):
            self.field(record, key, int, f"{at}.{key}")
        self.require(record["step"] == first + i, f"{at}.step", f"is {record['step']}, expected {first + i}")
        window = self.field(record, "window", list, f"{at}.window")
        self.require(len(window) == 2 and all(isinstance(w, int) and not isinstance(w, bool) for w in window)
                     and 0 <= window[0] <= window[1] <= T, f"{at}.window", "must be [start, end] on the canvas")
        rule = self.field(record, "rule", dict, f"{at}.rule")
        self.require(rule.get("kind") in RULE_KINDS, f"{at}.rule.kind", f"must be one of {', '.join(RULE_KINDS)}")
        tokens = self.candidates(record, at, T, pieces)
        for j, o in enumerate(self.field(record, "overflow", list, f"{at}.overflow")):
            self.require(isinstance(o, dict), f"{at}.overflow[{j}]", "must be an object")
            tokens[self.pos(o.get("pos"), f"{at}.overflow[{j}].pos", T)] = o.get("token")
            self.token(o.get("token"), f"{at}.overflow[{j}].token", pieces)
        for j, pos in enumerate(self.field(record, "committed", list, f"{at}.committed")):
            self.pos(pos, f"{at}.committed[{j}]", T)
            self.require(pos in tokens or not record["candidates"], f"{at}.committed[{j}]",
                         f"is position {pos}, which has no proposal in this step's candidates")
        for j, edit in enumerate(self.field(record, "forced", list, f"{at}.forced")):
            self.edit(edit, f"{at}.forced[{j}]", T, pieces, edits_from)
        self.number(record, "forward_ms", f"{at}.forward_ms")
        if "step_ms" in record:
            self.number(record, "step_ms", f"{at}.step_ms")

    def edit(self, edit, w: str, T: int, pieces: dict, edits_from: int) -> None:
        self.require(isinstance(edit, dict), w, "must be an object")
        pos = self.pos(edit.get("pos"), f"{w}.pos", T)
        self.require(pos >= edits_from, f"{w}.pos", f"is {pos}, inside the prompt (0..{edits_from - 1})")
        self.token(edit.get("token"), f"{w}.token", pieces)
        if edit.get("was") is not None:
            self.token(edit.get("was"), f"{w}.was", pieces)
        kind = self.field(edit, "kind", str, f"{w}.kind")
        self.require(kind in EDIT_KINDS, f"{w}.kind", f"must be one of {', '.join(EDIT_KINDS)}")

    def candidates(self, record: dict, at: str, T: int, pieces: dict) -> dict[int, int]:
        """Checks each candidate (ranks must be 1..n, each once); returns position -> proposal."""
        candidates = self.field(record, "candidates", list, f"{at}.candidates")
        tokens, ranks = {}, set()
        for j, c in enumerate(candidates):
            w = f"{at}.candidates[{j}]"
            self.require(isinstance(c, dict), w, "must be an object")
            pos = self.pos(c.get("pos"), f"{w}.pos", T)
            self.token(c.get("token"), f"{w}.token", pieces)
            conf = self.number(c, "conf", f"{w}.conf")
            self.require(0.0 <= conf <= 1.0 + 1e-6, f"{w}.conf", f"is {conf}, not a probability")
            for key in ("score", "entropy", "margin", "rest"):  # null: not recorded
                if c.get(key) is not None:
                    self.number(c, key, f"{w}.{key}")
            rank = self.field(c, "rank", int, f"{w}.rank")
            self.require(1 <= rank <= len(candidates) and rank not in ranks, f"{w}.rank",
                         f"is {rank}: ranks must be 1..{len(candidates)}, each once")
            ranks.add(rank)
            for k, pair in enumerate(self.field(c, "top", list, f"{w}.top")):
                self.require(isinstance(pair, list) and len(pair) == 2, f"{w}.top[{k}]", "must be [token, probability]")
                self.token(pair[0], f"{w}.top[{k}][0]", pieces)
                self.number({"p": pair[1]}, "p", f"{w}.top[{k}][1]")
            tokens[pos] = c["token"]
        return tokens
