"""The Replay and Gallery tabs: recorded runs in the viewer, with no model and no queue."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ...record.trajectory import Trajectory
from ...render.panels import RunPanels, run_panels
from ...teach.gallery import shown_branch
from .. import edits
from .viewer import Viewer


@dataclass(frozen=True)
class Recorded:
    """A recorded run and its pictures: what a tab shows before anything is chosen (an edit opens
    on its redo branch)."""
    traj: Trajectory
    panels: RunPanels
    title: str
    shown: int | None = None


def recorded(path, title: str) -> Recorded:
    traj = Trajectory.load(path)
    show = shown_branch(traj)
    label = f"Recorded: {title} · {traj.model.get('name', '')}"
    if show is None:
        return Recorded(traj, run_panels(traj, label, redo=True), title)
    label = f"{label} · {edits.branch_label(traj, show)}"
    panels = run_panels(traj.branch(show), label, split=traj.branches[show].from_step, redo=True)
    return Recorded(traj, panels, title, show)


def first_recorded(items: dict) -> Recorded | None:
    if not items:
        return None
    title, path = next(iter(items.items()))
    return recorded(path, title)


def replay_tab(current_model):
    traj_state = gr.State(None)
    gr.Markdown("Load a trajectory JSON (downloaded from a run here, or made with "
                "`python -m diffutron_demo generate --out run.json`) and replay it. No model is needed.")
    upload = gr.File(label="trajectory JSON", file_types=[".json"], type="binary")
    message = gr.Markdown()
    viewer = Viewer(traj_state, current_model, name="replay")

    def load(data):
        if data is None:
            return {traj_state: None, message: "", **viewer.cleared()}
        traj, note, panels = edits.load_replay(data, "the uploaded file")
        if traj is None:  # a bad file clears what the last good one showed
            return {traj_state: None, message: note, **viewer.cleared()}
        return {traj_state: traj, message: note, **viewer.finished(panels, traj)}

    upload.change(load, upload, [traj_state, message] + viewer.outputs, api_visibility="private")


def gallery_tab(current_model, items: dict, first: Recorded | None):
    gr.Markdown("Recorded runs that play at once, with no model and no queue. Pick one, then press Play (▶) or step "
                "with the arrow keys; switch the view to words to see whole Turkish words fill in, or colour by "
                "entropy to see where the model hesitated.")
    traj_state = gr.State(first and first.traj)
    pick = gr.Dropdown(list(items), value=next(iter(items), None), label="recorded run")
    viewer = Viewer(traj_state, current_model, first and first.panels, name="gallery", shown=first and first.shown)

    def load(title):
        if title not in items:
            return {traj_state: None, **viewer.cleared()}
        shown = recorded(items[title], title)
        return {traj_state: shown.traj, **viewer.finished(shown.panels, shown.traj, shown.shown)}

    pick.change(load, pick, [traj_state] + viewer.outputs, api_visibility="private")
