"""Plain per-cell views of a trajectory: what every answer position looked like at every step.

The rows are the run's slots (`Trajectory.slots`: the positions it writes, numbered as answer
positions 0, 1, ...; in infill, the blanks). Pictures (the player, GIF, HTML) all read these;
none touches torch. Ranks come from the record as the strategy decided them; nothing here re-ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .step import Step
from .trajectory import Trajectory


class CellState(IntEnum):
    """A cell's state; the numbers are the codes the player's data uses."""
    MASKED = 0  # masked, no proposal recorded (outside the window)
    PROPOSED = 1  # masked, with this step's proposal (the draft)
    COMMITTED_NOW = 2
    COMMITTED = 3  # committed at an earlier step
    FORCED = 4  # written by the stop check: not a remasking decision
    PARTIAL = 5  # the word view only: some of a word's pieces committed
    PINNED = 6  # written by a branch's pin: the person's choice, not the model's

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


MASKED, PROPOSED, COMMITTED_NOW, COMMITTED, FORCED, PARTIAL, PINNED = CellState
DONE = (COMMITTED, COMMITTED_NOW, FORCED, PINNED)  # the cell holds a token on the canvas


@dataclass
class Cell:
    state: CellState
    token: int | None  # the proposal (masked) or the token on the canvas (committed / forced / pinned)
    conf: float | None  # the proposal's confidence; for committed cells, the confidence at commit
    rank: int | None = None  # the strategy's rank among this step's candidates (1 = first), as recorded
    top: list | None = None  # [[token, prob], ...]
    score: float | None = None  # what the strategy ranked by, as recorded
    entropy: float | None = None
    margin: float | None = None
    event: str = ""  # a forced edit at this step: "pin", "redo" (masked again) or "stop_string"


EMPTY = Cell(MASKED, None, None)


def cell_grid(traj: Trajectory, upto: int | None = None) -> list[list[Cell]]:
    """grid[step][answer position] for steps 0..upto-1 (the state *after* that step)."""
    index = traj.row_of
    upto = len(traj.steps) if upto is None else min(upto, len(traj.steps))
    current: list[Cell] = [EMPTY] * len(index)
    grid = []
    for record in traj.steps[:upto]:
        current = next_row(current, record, index, traj.special_ids["mask"])
        grid.append(current)
    return grid


def _carried(c: Cell) -> Cell:
    """A cell as the next step finds it: a token stays, a draft is gone."""
    if c.state == COMMITTED_NOW:
        return Cell(COMMITTED, c.token, c.conf, entropy=c.entropy, margin=c.margin)
    if c.state in DONE:
        return Cell(c.state, c.token, c.conf, entropy=c.entropy, margin=c.margin) if c.event else c
    return EMPTY


def next_row(previous: list[Cell], record: Step, index: dict[int, int], mask_id: int) -> list[Cell]:
    """The row after `record`: its pins and redos, its drafts and commits, then a stop string's overwrite."""
    row = [_carried(c) for c in previous]
    events = {}
    for edit in record.forced:
        i = index.get(edit.pos)
        if i is None or not edit.before_step:
            continue
        events[i] = edit.kind
        row[i] = Cell(PINNED, edit.token, None, event="pin") if edit.kind == "pin" else Cell(MASKED, None, None,
                                                                                              event="redo")
    committed = set(record.committed)
    for c in record.candidates:
        i = index.get(c.pos)
        if i is None:
            continue
        state = COMMITTED_NOW if c.pos in committed and c.token != mask_id else PROPOSED
        row[i] = Cell(state, c.token, c.conf, c.rank, c.top, c.score, c.entropy, c.margin, events.get(i, ""))
    for o in record.overflow:
        i = index.get(o.pos)
        if i is not None and o.token != mask_id:
            row[i] = Cell(COMMITTED_NOW, o.token, None)
    for edit in record.forced:
        i = index.get(edit.pos)
        if i is not None and not edit.before_step:
            row[i] = Cell(FORCED, edit.token, None, event=edit.kind)
    return row


def commit_steps(traj: Trajectory, grid: list[list[Cell]] | None = None) -> list[int | None]:
    """For each answer position, the step that last wrote it (None: never, or masked again since).
    `grid`: the run's cell_grid, where the caller has it already."""
    out: list[int | None] = [None] * traj.answer_len
    for s, row in enumerate(grid or cell_grid(traj)):
        for i, cell in enumerate(row):
            if cell.state in (COMMITTED_NOW, FORCED) or cell.event == "pin":
                out[i] = traj.steps[s].step
            elif cell.state in (MASKED, PROPOSED):
                out[i] = None
    return out


def commit_ranks(traj: Trajectory, grid: list[list[Cell]] | None = None) -> list[tuple[int, int] | None]:
    """For each answer position, (rank at commit, candidates then) as recorded; None if not by rank.
    `grid`: the run's cell_grid, where the caller has it already."""
    out: list[tuple[int, int] | None] = [None] * traj.answer_len
    for s, row in enumerate(grid or cell_grid(traj)):
        n = len(traj.steps[s].candidates)
        for i, cell in enumerate(row):
            if cell.state == COMMITTED_NOW:
                out[i] = (cell.rank, n) if cell.rank else None
            elif cell.state not in (COMMITTED,):
                out[i] = None
    return out


def step_summary(traj: Trajectory) -> list[dict]:
    """Per step: tokens committed, mean candidate confidence, the least sure candidate (the gate a
    threshold acts on), and the confidence of the last candidate committed by rank (the cutoff;
    for a random draw there is none by confidence)."""
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
            "gate": min(confs) if confs else None,
            "cutoff": chosen[-1].conf if chosen and by_conf else None,
            "forward_ms": record.forward_ms,
        })
    return rows


def position_history(traj: Trajectory, pos: int) -> list[dict]:
    """One canvas position's draft, confidence, spread and rank at every step it was a candidate,
    and the forced edits that touched it."""
    rows = []
    for record in traj.steps:
        for c in record.candidates:
            if c.pos == pos:
                rows.append({"step": record.step, "token": c.token, "conf": c.conf, "rank": c.rank,
                             "of": len(record.candidates), "top": c.top, "committed": pos in record.committed,
                             "entropy": c.entropy, "margin": c.margin})
        for edit in record.forced:
            if edit.pos == pos:
                rows.append({"step": record.step, "token": edit.token, "conf": None, "rank": None, "of": None,
                             "top": [], "committed": edit.kind != "redo", "forced": edit.kind,
                             "entropy": None, "margin": None})
    return rows
