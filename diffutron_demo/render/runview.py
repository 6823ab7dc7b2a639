"""A run as the browser's player reads it (render/player.js): plain JSON, one entry per step.

The player draws everything a step shows (heatmap column, canvas, drafts, "why this step", the
screen-reader line) from these entries; nothing in it re-ranks or re-decides. Live, a RunView
adds only the steps that are new since the last frame and returns a fresh top-level dict whose
old entries are the same objects, so Gradio's streaming diff sends just the new steps.

Rows are answer positions (the run's slots); each also knows its canvas index for the hover.
"""

from __future__ import annotations

import uuid

from ..record.explain import rule_words, step_line
from ..record.stats import empty_reason
from ..record.step import Step
from ..record.trajectory import Trajectory
from ..record.words import answer_words
from . import palette
from .texts import player_texts


def _r(x, digits=4):
    return None if x is None else round(float(x), digits)


class RunView:
    """The player's data for one run; `update(traj)` after each step (or once, for a finished run)."""

    def __init__(self, traj: Trajectory, *, label: str, lang: str = "en", expected: int | None = None,
                 split: int | None = None, group: str | None = None, redo: bool = False, run_id: str = ""):
        self.lang, self.expected, self.redo = lang, expected, redo
        self.run_id = run_id or uuid.uuid4().hex[:12]  # a new run starts the player over
        self.slots = list(traj.slots)
        self.index = traj.row_of
        self.mask = traj.special_ids["mask"]
        self.steps: list[dict] = []
        self.pieces: dict[str, str] = {}
        self.new_pieces: dict[str, str] = {}
        self.masked = {i for i, p in enumerate(self.slots) if traj.initial_ids[p] == self.mask}
        P = traj.prompt_len
        self._piece_ids(traj, traj.initial_ids[P:])
        # What never changes during a run: the same objects every frame, so the diff skips them.
        self.fixed = {
            "v": 1, "id": self.run_id, "label": label, "lang": lang, "text": player_texts(lang),
            "palette": palette.PLAYER_PALETTE, "mask": self.mask, "rows": self.slots, "region": P, "initial": traj.initial_ids[P:], "split": split, "group": group,
            "edges": self._edges(traj),
        }

    def _piece_ids(self, traj: Trajectory, ids) -> None:
        for t in ids:
            key = str(t)
            if key not in self.pieces and key not in self.new_pieces:
                self.new_pieces[key] = traj.piece(t)

    def update(self, traj: Trajectory, done: bool = True, extra: dict | None = None) -> dict:
        """The player's value after the run's steps so far (only the new ones are built). Lists and
        dicts that grew are new objects, so the diff against the last frame sees what is new."""
        new = [self._step(traj, record) for record in traj.steps[len(self.steps):]]
        if new:
            self.steps = self.steps + new
        if self.new_pieces:
            self.pieces, self.new_pieces = {**self.pieces, **self.new_pieces}, {}
        return self._value(traj, done, extra or {})

    def _step(self, traj: Trajectory, record: Step) -> dict:
        rows = self.index
        ids = [c.token for c in record.candidates] + [t for c in record.candidates for t, _ in c.top[:5]]
        self._piece_ids(traj, ids + [e.token for e in record.forced + record.overflow])
        for e in record.forced:
            if e.was is not None:
                self._piece_ids(traj, [e.was])
            if e.kind == "redo" and e.pos in rows:
                self.masked.add(rows[e.pos])
        committed, tokens = set(record.committed), record.proposals()
        for p in record.committed:
            if p in rows and tokens.get(p) != self.mask:
                self.masked.discard(rows[p])
        for e in record.forced:
            if e.kind in ("pin", "stop_string") and e.pos in rows:
                self.masked.discard(rows[e.pos])
        return {
            "n": record.step + 1, "b": record.block, "w": self._window_rows(record.window),
            "c": [[rows[c.pos], c.token, _r(c.conf), c.rank, _r(c.entropy, 3), _r(c.margin), _r(c.rest),
                   [[t, _r(p)] for t, p in c.top[:5]], int(c.pos in committed)]
                  for c in record.candidates if c.pos in rows],
            "k": [rows[p] for p in record.committed if p in rows],
            "o": [[rows[o.pos], o.token] for o in record.overflow if o.pos in rows],
            "f": [[rows[e.pos], e.token, e.kind, e.was] for e in record.forced if e.pos in rows],
            "why": rule_words(record, self.lang),
            "say": step_line(traj, record, len(self.masked), self.expected or len(traj.steps), self.lang),
            "ms": _r(record.step_ms, 1), "derived": record.derived,
        }

    def _window_rows(self, window) -> list[int]:
        """The window as answer positions: the first and last row inside it (empty: none)."""
        inside = [i for i, p in enumerate(self.slots) if window[0] <= p < window[1]]
        return [inside[0], inside[-1]] if inside else []

    def _value(self, traj: Trajectory, done: bool, extra: dict) -> dict:
        value = {
            **self.fixed, "pieces": self.pieces, "steps": self.steps, "done": done,
            "expected": max(self.expected or 0, len(self.steps)), "redo": self.redo and done,
        }
        if done:
            words = answer_words(traj)
            value.update({
                "words": [{"rows": list(w.rows), "text": w.label, "pads": w.pads} for w in words],
                "reply": traj.reply, "empty": empty_reason(traj, self.lang),
            })
        value.update(extra)
        return value

    def _edges(self, traj: Trajectory) -> list[int]:
        """Rows where a new block starts (a dashed line above them); none for one-token blocks,
        where every row would have one."""
        L = traj.settings.get("block_length") or len(self.slots)
        if L <= 1:
            return []
        starts = range(traj.origin + L, len(traj.final_ids), L)
        # A block's first row: the first slot at or after its start.
        rows = {next((i for i, q in enumerate(self.slots) if q >= p), None) for p in starts}
        return sorted(r for r in rows if r)


def run_value(traj: Trajectory, *, label: str, lang: str = "en", split: int | None = None,
              group: str | None = None, redo: bool = False, extra: dict | None = None, run_id: str = "") -> dict:
    """A finished (or loaded) run's player value in one go. The same `run_id` again (a lesson's next
    question) keeps the player's state; a new one starts it over."""
    return RunView(traj, label=label, lang=lang, split=split, group=group, redo=redo,
                   run_id=run_id).update(traj, True, extra)
