"""Plain per-cell views of a trajectory: what every answer position looked like at every step.

Pictures (plotly figures, HTML, GIF, the standalone player) all read these; none touches torch.
Ranks come from the record as the strategy decided them; nothing here re-ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .step import Step
from .trajectory import Trajectory


class CellState(IntEnum):
    """A cell's state; the numbers are the codes the standalone player's data uses."""
    MASKED = 0  # masked, no proposal recorded (outside the window)
    PROPOSED = 1  # masked, with this step's proposal
    COMMITTED_NOW = 2
    COMMITTED = 3  # committed at an earlier step
    FORCED = 4  # written by a forced edit (stop string, pin): not a remasking decision
    PARTIAL = 5  # the word view only: some of a word's pieces committed

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


MASKED, PROPOSED, COMMITTED_NOW, COMMITTED, FORCED, PARTIAL = CellState
DONE = (COMMITTED, COMMITTED_NOW, FORCED)  # the cell holds a token on the canvas


@dataclass
class Cell:
    state: CellState
    token: int | None  # the proposal (masked) or the token on the canvas (committed / forced)
    conf: float | None  # the proposal's confidence; for committed cells, the confidence at commit
    rank: int | None = None  # the strategy's rank among this step's candidates (1 = first), as recorded
    top: list | None = None  # [[token, prob], ...]
    score: float | None = None  # what the strategy ranked by, as recorded


def cell_grid(traj: Trajectory, upto: int | None = None) -> list[list[Cell]]:
    """grid[step][answer position] for steps 0..upto-1 (the state *after* that step)."""
    P, T = traj.prompt_len, len(traj.final_ids)
    upto = len(traj.steps) if upto is None else min(upto, len(traj.steps))
    current: list[Cell] = [Cell(MASKED, None, None) for _ in range(P, T)]
    grid = []
    for record in traj.steps[:upto]:
        current = _next_row(current, record, P, traj.special_ids["mask"])
        grid.append(current)
    return grid


def _next_row(previous: list[Cell], record: Step, P: int, mask_id: int) -> list[Cell]:
    row = [c if c.state in DONE else Cell(MASKED, None, None) for c in previous]
    row = [Cell(COMMITTED, c.token, c.conf) if c.state == COMMITTED_NOW else c for c in row]
    committed = set(record.committed)
    for c in record.candidates:
        if c.pos < P:
            continue  # a prompt position (never happens with typed text kept as text)
        state = COMMITTED_NOW if c.pos in committed and c.token != mask_id else PROPOSED
        row[c.pos - P] = Cell(state, c.token, c.conf, c.rank, c.top, c.score)
    for o in record.overflow:
        if o.pos >= P and o.token != mask_id:
            row[o.pos - P] = Cell(COMMITTED_NOW, o.token, None)
    for edit in record.forced:
        if edit.pos >= P:
            row[edit.pos - P] = Cell(FORCED, edit.token, None)
    return row


def commit_steps(traj: Trajectory) -> list[int | None]:
    """For each answer position, the step that last committed it (None: never committed)."""
    P = traj.prompt_len
    mask_id = traj.special_ids["mask"]
    out: list[int | None] = [None] * traj.answer_len
    for record in traj.steps:
        tokens = record.proposals()
        for pos in record.committed:
            if pos >= P and tokens.get(pos) != mask_id:
                out[pos - P] = record.step
        for edit in record.forced:
            if edit.pos >= P:
                out[edit.pos - P] = record.step
    return out


def commit_ranks(traj: Trajectory) -> list[tuple[int, int] | None]:
    """For each answer position, (rank at commit, candidates then) as recorded; None if not by rank."""
    P = traj.prompt_len
    out: list[tuple[int, int] | None] = [None] * traj.answer_len
    for record in traj.steps:
        for c in record.committed_candidates():
            if c.pos >= P:
                out[c.pos - P] = (c.rank, len(record.candidates))
        for edit in record.forced:
            if edit.pos >= P:
                out[edit.pos - P] = None
    return out


def step_summary(traj: Trajectory) -> list[dict]:
    """Per step: tokens committed, mean candidate confidence, and the confidence of the last
    candidate committed by rank (the cutoff; for a random draw there is none by confidence)."""
    rows = []
    for record in traj.steps:
        confs = [c.conf for c in record.candidates]
        chosen = record.committed_candidates()
        by_conf = record.rule.get("by") == "confidence"
        rows.append({
            "step": record.step,
            "block": record.block,
            "committed": len(record.committed),
            "candidates": len(confs),
            "mean_conf": sum(confs) / len(confs) if confs else None,
            "cutoff": chosen[-1].conf if chosen and by_conf else None,
            "forward_ms": record.forward_ms,
        })
    return rows


def position_history(traj: Trajectory, pos: int) -> list[dict]:
    """One answer position's proposal, confidence and rank at every step until it was committed."""
    rows = []
    for record in traj.steps:
        for c in record.candidates:
            if c.pos == pos:
                rows.append({"step": record.step, "token": c.token, "conf": c.conf, "rank": c.rank,
                             "of": len(record.candidates), "top": c.top, "committed": pos in record.committed})
        for edit in record.forced:
            if edit.pos == pos:
                rows.append({"step": record.step, "token": edit.token, "conf": None, "rank": None, "of": None,
                             "top": [], "committed": True, "forced": edit.kind})
    return rows
