"""Runs made from a recorded one, without Gradio: a what-if branch, a redo of chosen tokens, the
left-to-right contrast, and a replayed file. Each result says which run it is (its label), so a
view never shows one run under another's name."""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..core.branching import branch_run, redo_run, rerun
from ..core.chat import encode_text
from ..core.models import LoadedModel
from ..record.checks import TrajectoryError
from ..record.trajectory import Trajectory
from ..render import fragments
from ..render.panels import RunPanels, run_panels
from ..settings import SamplerSettings


class ModelMismatch(ValueError):
    """A recorded run can only be continued by the model that made it."""


def same_model(lm: LoadedModel, traj: Trajectory, what: str) -> None:
    if traj.model.get("name") != lm.name:
        raise ModelMismatch(f"This run was made with {traj.model.get('name')}; load that model to {what}.")


def shown(traj: Trajectory, index: int | None) -> Trajectory:
    """The run a viewer shows: the recorded one, or one of its branches as a whole run."""
    return traj if index is None else traj.branch(index)


def branch_label(traj: Trajectory, index: int) -> str:
    b = traj.branches[index]
    if b.kind == "redo":
        slots = traj.branch(index).slots
        rows = sorted(slots.index(p) for x in b.blanks for p in range(x.start, x.end) if p in slots)
        where = f"answer position{'s' if len(rows) > 1 else ''} {spans(rows)}" if rows else "nothing"
        return f"Redo {index + 1} after step {b.from_step}: {where}"
    changed = {k: v for k, v in b.settings.items() if traj.settings.get(k) != v}
    what = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changed.items()) or "same settings"
    pins = f", {len(b.pins)} pinned" if b.pins else ""
    return f"Branch {index + 1} from step {b.from_step} ({what}{pins})"


def spans(rows: list[int]) -> str:
    """Sorted numbers as ranges: [2, 3, 4, 9] -> "2–4, 9"."""
    out, start = [], None
    for i, r in enumerate(rows):
        if start is None:
            start = r
        if i + 1 == len(rows) or rows[i + 1] != r + 1:
            out.append(str(start) if start == r else f"{start}–{r}")
            start = None
    return ", ".join(out)


def branch_choices(traj: Trajectory | None) -> list[tuple[str, int]]:
    """(label, value) for the viewer's "show" picker: the run itself (-1), then each branch."""
    if traj is None:
        return []
    return [("the run itself", -1)] + [(branch_label(traj, i), i) for i in range(len(traj.branches))]


@dataclass
class BranchResult:
    index: int
    view: Trajectory  # the run up to the split, then the branch
    panels: RunPanels
    note: str  # HTML


def _store(traj: Trajectory, result: Trajectory, split: int, parent: int | None, pins=None,
           group: str | None = None) -> BranchResult:
    index = traj.add_branch(result, split, pins, parent=parent)
    view = traj.branch(index)
    base = shown(traj, parent)
    note = f"<b>{html.escape(branch_label(traj, index))}</b>: " + fragments.diff_html(base.reply, view.reply)
    panels = run_panels(view, branch_label(traj, index), split=split, redo=True, group=group)
    return BranchResult(index, view, panels, note)


def branch(lm: LoadedModel, traj: Trajectory, at_step: int, changes: dict, pin_pos=None, pin_text: str = "",
           parent: int | None = None) -> BranchResult:
    """Continue the shown run (`traj`, or its branch `parent`) from `at_step` with `changes` to its
    settings and/or text pinned at an answer position; stored in `traj`. Raises SettingsError /
    ValueError with the reason."""
    same_model(lm, traj, "branch it")
    base = shown(traj, parent)
    settings = SamplerSettings.from_dict({**base.settings, **{k: v for k, v in changes.items() if v not in (None, "")}})
    pins = {}
    if pin_pos is not None and pin_text:
        pins = {int(pin_pos) + i: t for i, t in enumerate(encode_text(lm.tokenizer, pin_text))}
    result = branch_run(lm, base, at_step, settings, pins=pins).run_to_end()
    return _store(traj, result, at_step, parent, pins)


def redo(lm: LoadedModel, traj: Trajectory, positions: list[int], parent: int | None = None,
         changes: dict | None = None, group: str | None = None) -> BranchResult:
    """Mask `positions` (canvas positions) of the shown run's finished canvas again and fill them
    with the same model, as infill; stored in `traj` as a redo branch from its last step. `group`:
    the players whose step the new one shares (Compare's columns)."""
    same_model(lm, traj, "redo its tokens")
    base = shown(traj, parent)
    if not positions:
        raise ValueError("Select the tokens to redo first.")
    settings = SamplerSettings.from_dict({**base.settings, **(changes or {})})
    result = redo_run(lm, base, positions, settings).run_to_end()
    return _store(traj, result, len(base.steps), parent, group=group)


def left_to_right(lm: LoadedModel, base: Trajectory) -> Trajectory:
    """The same prompt, seed and settings with block length 1: strictly left to right."""
    same_model(lm, base, "make a contrast run")
    settings = SamplerSettings.from_dict({**base.settings, "block_length": 1})
    return rerun(lm, base, settings).run_to_end()


def load_replay(data: bytes | str, name: str = "the file") -> tuple[Trajectory | None, str, RunPanels | None]:
    """(the trajectory, a note, its pictures) for an uploaded file, or (None, why it can't be replayed, None)."""
    try:
        traj = Trajectory.from_json(data)
        panels = run_panels(traj, f"Replay of {name}: {len(traj.steps)} steps, {traj.model.get('name', '')}",
                            redo=True)  # a file can pass the checks and still not draw
    except TrajectoryError as exc:
        return None, f"⚠️ Can't replay this file: {html.escape(str(exc))}", None
    except Exception:  # noqa: BLE001 - loaded, but the pictures can't be drawn from it
        return None, "⚠️ Can't replay this file: it is not a trajectory this version can draw.", None
    model = traj.model["name"].replace("`", "'")  # a code span shows its text as is
    derived = " Scores and ranks were derived from an older file." if any(s.derived for s in traj.steps) else ""
    spread = "" if any(c.entropy is not None for s in traj.steps for c in s.candidates) or not traj.steps else \
        " Entropy and margin were not recorded in this older file."
    note = (f"Loaded: {len(traj.steps)} steps, {traj.answer_len} answer positions, model `{model}`, "
            f"{traj.mode}.{derived}{spread}")
    return traj, note, panels
