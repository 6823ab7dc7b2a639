"""The Replay and Gallery tabs: recorded runs in the viewer, with no model and no queue."""

from __future__ import annotations

import gradio as gr

from dataclasses import dataclass

from ...record.trajectory import Trajectory
from ...render.panels import RunPanels, run_panels
from .. import service
from .viewer import Viewer


@dataclass(frozen=True)
class Recorded:
    """A recorded run and its pictures: what a tab shows before anything is chosen."""
    traj: Trajectory
    panels: RunPanels


def first_recorded(items: dict) -> Recorded | None:
    if not items:
        return None
    traj = Trajectory.load(next(iter(items.values())))
    return Recorded(traj, run_panels(traj))


def replay_tab(current_model):
    traj_state = gr.State(None)
    gr.Markdown("Load a trajectory JSON (downloaded from a run here, or made with "
                "`python -m diffutron_demo generate --out run.json`) and replay it. No model is needed.")
    upload = gr.File(label="trajectory JSON", file_types=[".json"], type="binary")
    message = gr.Markdown()
    viewer = Viewer(traj_state, current_model)

    def load(data):
        if data is None:
            return {traj_state: None, message: ""}
        traj, note, panels = service.load_replay(data)
        if traj is None:
            return {traj_state: None, message: note}
        return {traj_state: traj, message: note, **viewer.finished(panels)}

    upload.change(load, upload, [traj_state, message] + viewer.outputs, api_visibility="private")


def gallery_tab(current_model, items: dict, first: Recorded | None):
    gr.Markdown("Recorded runs that play at once, with no model and no queue. Pick one, then press ▶ Play; "
                "switch to the word view to see whole Turkish words fill in.")
    traj_state = gr.State(first and first.traj)
    pick = gr.Dropdown(list(items), value=next(iter(items), None), label="recorded run")
    viewer = Viewer(traj_state, current_model, first and first.panels)

    def load(title):
        if title not in items:
            return {}
        traj = Trajectory.load(items[title])
        return {traj_state: traj, **viewer.finished(run_panels(traj))}

    pick.change(load, pick, [traj_state] + viewer.outputs, api_visibility="private")
