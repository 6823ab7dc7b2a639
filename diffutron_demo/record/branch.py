"""The parts of a run a trajectory holds beside its steps: the blanks it fills and the branches
continued from it (what-ifs and redos)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .step import Step


@dataclass(frozen=True)
class Blank:
    """Canvas positions [start, end) the run fills; for a redo, `was` holds what they held before."""
    start: int
    end: int
    was: list[int] | None = None

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "was": self.was}


def blanks_of(ids: list[int], mask_id: int, before: list[int] | None = None) -> list[Blank]:
    """The runs of mask ids in `ids` as blanks; `before` (a redo's canvas before it) gives each one's `was`."""
    out, i = [], 0
    while i < len(ids):
        if ids[i] != mask_id:
            i += 1
            continue
        j = i
        while j < len(ids) and ids[j] == mask_id:
            j += 1
        out.append(Blank(i, j, None if before is None else list(before[i:j])))
        i = j
    return out


@dataclass
class Branch:
    """A run continued from step `from_step` of its base (the main run, or branch `parent`), stored in
    the same file: a what-if (other settings or pins) or a redo (chosen positions masked and filled
    again, `blanks` saying what they held)."""
    from_step: int
    settings: dict
    seed: int
    pins: list[dict]  # [{"pos": answer position, "token": id}, ...]
    final_ids: list[int]
    reply: str
    stop_reason: str
    wall_ms: float
    steps: list[Step]
    kind: str = "what_if"
    blanks: list[Blank] = field(default_factory=list)
    parent: int | None = None

    def to_dict(self) -> dict:
        return {"from_step": self.from_step, "settings": self.settings, "seed": self.seed, "pins": self.pins,
                "final_ids": self.final_ids, "reply": self.reply, "stop_reason": self.stop_reason,
                "wall_ms": self.wall_ms, "steps": [s.to_dict() for s in self.steps], "kind": self.kind,
                "blanks": [b.to_dict() for b in self.blanks], "parent": self.parent}
