"""What if? A branch continues a recorded run from the canvas after a step, with new settings or pins."""

from __future__ import annotations

from ..record.step import Edit
from ..record.trajectory import Trajectory
from ..settings import SamplerSettings
from .models import LoadedModel
from .sampler import Run, Start
from .schedule import transfer_schedule
from .strategies import get_strategy

SCHEDULE_FIELDS = ("steps", "block_length", "remasking")


def branch_run(lm: LoadedModel, traj: Trajectory, at_step: int, settings: SamplerSettings | None = None,
               seed: int | None = None, pins: dict[int, int] | None = None) -> Run:
    """A Run that continues `traj` from the canvas after `at_step` steps.

    With the same schedule settings it resumes the original block part-way through its plan, so at
    temperature 0 (low_confidence) it reproduces the original run from there, token for token.
    Otherwise the schedule restarts over the masks left. `pins` maps answer positions to token ids,
    recorded as forced edits of the branch's first step."""
    settings = settings or SamplerSettings.from_dict(traj.settings)
    if settings.max_new_tokens != traj.answer_len:
        raise ValueError("A branch keeps the canvas: max new tokens can't change.")
    if not 0 <= at_step <= len(traj.steps):
        raise ValueError(f"Branch step must be between 0 and {len(traj.steps)}.")
    canvas, P = traj.canvas_at(at_step), traj.prompt_len
    edits = []
    for pos, token in sorted((pins or {}).items()):
        if not 0 <= pos < traj.answer_len:
            raise ValueError(f"Pinned position {pos} is outside the answer (0..{traj.answer_len - 1}).")
        edits.append(Edit(P + pos, int(token), canvas[P + pos], "pin"))
        canvas[P + pos] = int(token)
    return Run(lm, traj.prompt_ids, settings, traj.seed if seed is None else seed,
               prompt_text=traj.prompt.get("text", ""),
               prompt_meta={k: v for k, v in traj.prompt.items() if k != "text"},
               canvas=canvas, start=_resume_point(traj, at_step, settings), pins=edits)


def _resume_point(traj: Trajectory, at_step: int, settings: SamplerSettings) -> Start:
    """Where the branch's loop starts: inside the block of step `at_step` when the schedule is unchanged
    (after the last step: that block with its plan used up, so, like the run, nothing is left)."""
    same = all(traj.settings.get(k) == getattr(settings, k) for k in SCHEDULE_FIELDS) \
        and not settings.stochastic_transfer
    if not (same and traj.steps and get_strategy(settings.remasking).follows_schedule):
        return Start(step=at_step)
    ref = traj.steps[min(at_step, len(traj.steps) - 1)]
    first = next(i for i, st in enumerate(traj.steps) if st.block == ref.block)
    start, end = ref.window
    n_masks = traj.canvas_at(first)[start:end].count(traj.special_ids["mask"])
    plan = tuple(transfer_schedule(n_masks, settings.steps_per_block))
    return Start(block=ref.block, index=at_step - first, plan=plan, step=at_step)
