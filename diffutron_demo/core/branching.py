"""Runs that continue a recorded one: a what-if branch (from a step, with new settings or pins) and a
redo (chosen positions of the finished canvas masked again and filled by the same loop, as infill)."""

from __future__ import annotations

from ..record.step import Edit
from ..record.trajectory import Trajectory
from ..settings import SamplerSettings
from .layout import Layout
from .models import LoadedModel
from .sampler import Run, Start
from .schedule import transfer_schedule
from .strategies import get_strategy

SCHEDULE_FIELDS = ("steps", "block_length", "remasking")


def layout_of(traj: Trajectory) -> Layout:
    """The layout a recorded run ran with."""
    return Layout(tuple(traj.initial_ids), traj.origin, traj.mode)


def _same_run(traj: Trajectory, layout: Layout | None = None) -> dict:
    """The Run arguments a continuation keeps from `traj`: its prompt and (unless given) its layout."""
    return {"prompt_text": traj.prompt.get("text", ""),
            "prompt_meta": {k: v for k, v in traj.prompt.items() if k != "text"}, "layout": layout or layout_of(traj)}


def rerun(lm: LoadedModel, traj: Trajectory, settings: SamplerSettings) -> Run:
    """A fresh Run of `traj`'s prompt (or text with blanks) and seed, from step 0, with other settings."""
    return Run(lm, traj.prompt_ids, settings, traj.seed, **_same_run(traj))


def branch_run(lm: LoadedModel, traj: Trajectory, at_step: int, settings: SamplerSettings | None = None,
               seed: int | None = None, pins: dict[int, int] | None = None) -> Run:
    """A Run that continues `traj` from the canvas after `at_step` steps.

    With the same schedule settings it resumes the original block part-way through its plan, so at
    temperature 0 (low_confidence) it reproduces the original run from there, token for token.
    Otherwise the schedule restarts over the masks left. `pins` maps answer positions to token ids,
    recorded as forced edits of the branch's first step; only a position still masked at the split
    can be pinned (a pin never overwrites a committed token)."""
    settings = settings or SamplerSettings.from_dict(traj.settings)
    if not traj.is_infill and settings.max_new_tokens != len(traj.final_ids) - traj.prompt_len:
        raise ValueError("A branch keeps the canvas: max new tokens can't change.")
    if not 0 <= at_step <= len(traj.steps):
        raise ValueError(f"Branch step must be between 0 and {len(traj.steps)}.")
    canvas, slots, mask = traj.canvas_at(at_step), traj.slots, traj.special_ids["mask"]
    edits = []
    for pos, token in sorted((pins or {}).items()):
        if not 0 <= pos < len(slots):
            raise ValueError(f"Pinned position {pos} is outside the answer (0..{len(slots) - 1}).")
        at = slots[pos]
        if canvas[at] != mask:
            raise ValueError(f"Answer position {pos} already holds {traj.piece(canvas[at])!r} after step {at_step}: "
                             "pin only positions still masked there (or branch from an earlier step).")
        edits.append(Edit(at, int(token), canvas[at], "pin"))
        canvas[at] = int(token)
    return Run(lm, traj.prompt_ids, settings, traj.seed if seed is None else seed, canvas=canvas,
               start=_resume_point(traj, at_step, settings), pins=edits, **_same_run(traj))


def redo_run(lm: LoadedModel, traj: Trajectory, positions, settings: SamplerSettings | None = None,
             seed: int | None = None) -> Run:
    """A Run that fills `positions` (canvas positions of the finished canvas, outside the prompt)
    again: they are masked and the rest stays as it is, the same loop run as infill (blocks over
    the whole canvas, candidates inside the window). Numbered on from the run's last step."""
    settings = settings or SamplerSettings.from_dict(traj.settings)
    before, mask = list(traj.final_ids), traj.special_ids["mask"]
    chosen = sorted({int(p) for p in positions})
    for p in chosen:
        if not traj.prompt_len <= p < len(before):
            raise ValueError(f"Position {p} is not on the canvas that can be redone "
                             f"({traj.prompt_len}..{len(before) - 1}).")
    canvas = list(before)
    for p in chosen:
        canvas[p] = mask
    edits = [Edit(p, mask, before[p], "redo") for p in chosen]
    left = {i for i, t in enumerate(before) if t == mask} - set(chosen)  # still masked, not chosen: they stay
    return Run(lm, traj.prompt_ids, settings, traj.seed if seed is None else seed, start=Start(step=len(traj.steps)),
               pins=edits, before=before, **_same_run(traj, Layout.infill(canvas, fixed=left)))


def _resume_point(traj: Trajectory, at_step: int, settings: SamplerSettings) -> Start:
    """Where the branch's loop starts: inside the block of step `at_step` when the schedule is unchanged
    (after the last step: that block with its plan used up, so, like the run, nothing is left)."""
    same = all(traj.settings.get(k) == getattr(settings, k) for k in SCHEDULE_FIELDS) \
        and not settings.stochastic_transfer
    if not (same and traj.steps and get_strategy(settings.remasking).follows_schedule):
        return Start(step=at_step)
    ref = traj.steps[min(at_step, len(traj.steps) - 1)]
    layout = layout_of(traj)
    if tuple(ref.window) != layout.window(ref.block, settings.block_length):  # a redo's step: its own layout
        return Start(step=at_step)
    first = next(i for i, st in enumerate(traj.steps) if st.block == ref.block)
    start, end = ref.window
    n_masks = traj.canvas_at(first)[start:end].count(traj.special_ids["mask"])
    budget = layout.steps_per_block(settings.steps, settings.block_length)
    plan = tuple(transfer_schedule(n_masks, budget))
    return Start(block=ref.block, index=at_step - first, plan=plan, step=at_step)
