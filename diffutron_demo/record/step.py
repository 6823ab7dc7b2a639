"""One step of a run as the sampler decided it: candidates with score and rank, the rule, the commits.

Views read these fields and never re-rank: `rank` is the strategy's order (1 = first), `rule`
says what set the count. docs/trajectory.md documents the JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Candidate:
    pos: int  # canvas position
    token: int  # the proposed id
    conf: float  # its probability under the penalized, temperature-free distribution
    score: float | None  # what the strategy ranked by (None: not recorded, an old random run)
    rank: int  # 1 = first in the strategy's order
    top: list  # [[id, probability], ...], most likely first
    # The draft's spread, under the same distribution (None: an older file did not record it).
    entropy: float | None = None  # nats, over the whole vocabulary
    margin: float | None = None  # probability of the first choice minus the second's
    rest: float | None = None  # probability outside the recorded top

    def to_dict(self) -> dict:
        return {"pos": self.pos, "token": self.token, "conf": self.conf, "score": self.score, "rank": self.rank,
                "top": self.top, "entropy": self.entropy, "margin": self.margin, "rest": self.rest}

    @classmethod
    def from_dict(cls, c: dict) -> "Candidate":
        return cls(c["pos"], c["token"], c["conf"], c.get("score"), c["rank"], c["top"], c.get("entropy"),
                   c.get("margin"), c.get("rest"))


# Forced edits that happen before their step's commits (the person's), and after them (the sampler's).
BEFORE_STEP = ("pin", "redo")
EDIT_KINDS = BEFORE_STEP + ("stop_string",)


@dataclass(frozen=True, slots=True)
class Edit:
    """A change that is not a remasking decision: a stop string's overwrite, a branch's pin, a redo's
    re-masking (`token` is the mask id, `was` what it held), or a commit past the window (`overflow`,
    where `was` and `kind` are not used)."""
    pos: int
    token: int
    was: int | None = None
    kind: str = ""

    @property
    def before_step(self) -> bool:
        """Pins and redos are set before the step decides; a stop string's overwrite follows it."""
        return self.kind in BEFORE_STEP

    def to_dict(self) -> dict:
        if self.was is None and not self.kind:
            return {"pos": self.pos, "token": self.token}
        return {"pos": self.pos, "token": self.token, "was": self.was, "kind": self.kind}


@dataclass
class Step:
    step: int
    block: int
    scheduled: int  # the transfer schedule's count for this step (0 for unscheduled strategies)
    quota: int  # what the step could commit: min(scheduled, masks left on the canvas)
    window: tuple[int, int]  # canvas positions the block may commit in: [start, end)
    candidates: list[Candidate]  # canvas order
    committed: list[int]  # positions committed this step, by rank
    rule: dict  # {"kind": "quota" | "threshold" | "factor", "by", "committed", and the rule's numbers}
    overflow: list[Edit] = field(default_factory=list)  # commits past the window (quota > candidates)
    forced: list[Edit] = field(default_factory=list)  # not decisions: stop-string overwrites, pins
    forward_ms: float = 0.0  # encoder + head + logit processing
    step_ms: float = 0.0  # the whole step, stop check included
    derived: bool = False  # scores, ranks and rule were derived when an older file was loaded

    def ranked(self) -> list[Candidate]:
        """The candidates in the strategy's order, as recorded."""
        return sorted(self.candidates, key=lambda c: c.rank)

    def proposals(self) -> dict[int, int]:
        """Position -> the token this step would write there: candidates and overflow."""
        tokens = {c.pos: c.token for c in self.candidates}
        tokens.update({o.pos: o.token for o in self.overflow})
        return tokens

    def committed_candidates(self) -> list[Candidate]:
        chosen = set(self.committed)
        return [c for c in self.ranked() if c.pos in chosen]

    def to_dict(self) -> dict:
        data = {
            "step": self.step, "block": self.block, "scheduled": self.scheduled, "quota": self.quota,
            "window": list(self.window), "rule": self.rule,
            "candidates": [c.to_dict() for c in self.candidates], "committed": self.committed,
            "overflow": [o.to_dict() for o in self.overflow], "forced": [f.to_dict() for f in self.forced],
            "forward_ms": round(self.forward_ms, 3), "step_ms": round(self.step_ms, 3),
        }
        if self.derived:
            data["derived"] = True
        return data

    @classmethod
    def from_dict(cls, d: dict) -> "Step":
        """From a checked JSON object (record/load.py checks it first)."""
        return cls(
            step=d["step"], block=d["block"], scheduled=d["scheduled"], quota=d["quota"], window=tuple(d["window"]),
            candidates=[Candidate.from_dict(c) for c in d["candidates"]],
            committed=list(d["committed"]), rule=d["rule"],
            overflow=[Edit(o["pos"], o["token"]) for o in d["overflow"]],
            forced=[Edit(f["pos"], f["token"], f.get("was"), f["kind"]) for f in d["forced"]],
            forward_ms=d["forward_ms"], step_ms=d.get("step_ms", 0.0), derived=bool(d.get("derived", False)),
        )
