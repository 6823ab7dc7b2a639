"""The run viewer, shared by Chat, Replay and Gallery: heatmap (token or word view), step slider
with play, canvas, "why this step", a position's history, the commit-order view, branching from
any step, and exports. Handlers return {component: value}."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import gradio as gr

from ...render.export import gif_bytes, standalone_html
from ...render.fragments import history_html
from ...render.panels import VIEWS, RunPanels, step_panels
from ...settings import KNOBS, SettingsError
from .. import service
from ..gpu import on_gpu

PLAY_FRAMES = 64  # Play shows at most this many steps of a long run
BRANCH_CHANGES = ("temperature", "remasking", "block_length")


class Viewer:
    """`initial` (a recorded run's panels) is what the viewer shows before anything is chosen or run."""

    def __init__(self, traj_state: gr.State, current_model=None, initial: RunPanels | None = None):
        self.state = traj_state
        self.view = gr.Radio(list(VIEWS), value="tokens", label="view",
                             info="Words: pieces merged (ev+ler+imiz+den); a word is as sure as its least sure piece.")
        self.heatmap = gr.Plot(initial and initial.heatmap,
                               label="Denoising trajectory: rows = answer positions, columns = steps")
        with gr.Row():
            self.play = gr.Button("▶ Play", size="sm", scale=0, min_width=90)
            steps = initial.steps if initial else 0
            self.slider = gr.Slider(0, max(steps, 1), value=steps, step=1, label="step", interactive=True, scale=8)
        self.canvas = gr.HTML(initial and initial.canvas, label="canvas at this step")
        with gr.Accordion("Why this step", open=True):
            self.why = gr.HTML(initial and initial.why)
        with gr.Accordion("A position's history", open=False):
            self.position = gr.Number(0, label="answer position (row number on the heatmap)", precision=0, minimum=0)
            self.history = gr.HTML(initial and initial.history)
        with gr.Accordion("How left-to-right was it?", open=False):
            self.order = gr.HTML(initial and initial.order)
            self.chart = gr.Plot(initial and initial.chart, label="per step: mean confidence and tokens committed")
        if current_model is not None:
            self._branch_panel(current_model)
        with gr.Accordion("Download / export", open=False):
            self.export_btn = gr.Button("Export trajectory JSON, HTML player and GIF", size="sm")
            self.files = gr.File(label="exports", file_count="multiple", interactive=False)

        step_inputs = [self.state, self.slider, self.view]
        self.slider.release(self.show_step, step_inputs, self.step_outputs, api_visibility="private")
        self.view.change(self.show_step, step_inputs, self.step_outputs, api_visibility="private")
        self.position.change(lambda t, p: history_html(t, int(p or 0)) if t is not None else "",
                             [self.state, self.position], self.history, api_visibility="private")
        self.play.click(self.play_steps, step_inputs, self.step_outputs + [self.slider], api_visibility="private")
        self.export_btn.click(export, self.state, self.files, api_visibility="private")

    @property
    def step_outputs(self) -> list:
        return [self.heatmap, self.canvas, self.why]

    @property
    def outputs(self) -> list:
        """Every component `finished` fills."""
        return [self.heatmap, self.canvas, self.why, self.slider, self.order, self.chart, self.history, self.view]

    def show_step(self, traj, step, view="tokens") -> dict:
        if traj is None:
            return {self.heatmap: None, self.canvas: "", self.why: ""}
        p = step_panels(traj, step, view)
        return {self.heatmap: p.heatmap, self.canvas: p.canvas, self.why: p.why}

    def play_steps(self, traj, start, view="tokens"):
        if traj is None or not traj.steps:
            yield {self.heatmap: None, self.canvas: "", self.why: "", self.slider: 0}
            return
        start = int(start or 0)
        start = 0 if start >= len(traj.steps) else start
        every = max(1, len(traj.steps) // PLAY_FRAMES)
        for step in list(range(start + 1, len(traj.steps), every)) + [len(traj.steps)]:
            yield {**self.show_step(traj, step, view), self.slider: step}
            time.sleep(service.FRAME_INTERVAL_S)

    def finished(self, panels: RunPanels) -> dict:
        """A complete (or loaded) run at its last step, in the token view."""
        return {self.heatmap: panels.heatmap, self.canvas: panels.canvas, self.why: panels.why,
                self.slider: gr.Slider(0, max(panels.steps, 1), value=panels.steps, step=1),
                self.order: panels.order, self.chart: panels.chart, self.history: panels.history,
                self.view: "tokens"}

    def _branch_panel(self, current_model):
        with gr.Accordion("What if? Branch from a step", open=False):
            gr.Markdown("Continue this run from the canvas at a step with other settings, or pin a token at a "
                        "position. With unchanged settings at temperature 0 the branch repeats the run exactly.")
            with gr.Row():
                at = gr.Number(0, label="branch from step", precision=0, minimum=0)
                changes = {n: _same_or(n) for n in BRANCH_CHANGES}
            with gr.Row():
                pin_pos = gr.Number(0, label="pin at answer position", precision=0)
                pin_text = gr.Textbox(label="pinned text (its tokens fill from that position)")
                go_btn = gr.Button("Branch", variant="primary")
            plot, note = gr.Plot(label="the branch"), gr.HTML()

        @on_gpu
        def run_branch(values: dict, request: gr.Request):
            traj = values[self.state]
            if traj is None:
                raise gr.Error("Run or load a trajectory first.")
            try:
                result = service.branch(current_model(request), traj, int(values[at] or 0),
                                        {n: values[c] for n, c in changes.items()}, values[pin_pos], values[pin_text])
            except (SettingsError, ValueError) as exc:
                raise gr.Error(str(exc)) from None
            return {self.state: traj, plot: result.heatmap, note: result.note}

        go_btn.click(run_branch, {self.state, at, pin_pos, pin_text, *changes.values()}, [self.state, plot, note],
                     api_visibility="private")
        self.slider.release(lambda s: s, self.slider, at, api_visibility="private", queue=False)


def _same_or(name: str):
    """A branch control for one setting, empty = keep the run's value. A text box, since an empty
    number box still sends 0; the settings read the text (and name a bad value) as everywhere."""
    label = f"{name.replace('_', ' ')} (empty = same)"
    if KNOBS[name].choices:
        return gr.Dropdown([""] + list(KNOBS[name].choices), value="", label=label)
    return gr.Textbox("", label=label, placeholder="same as the run")


def export(traj):
    if traj is None:
        raise gr.Error("Nothing to export yet: run or load a trajectory first.")
    folder = Path(tempfile.mkdtemp(prefix="diffutron-export-"))
    paths = [traj.save(folder / "trajectory.json"), folder / "trajectory-player.html", folder / "trajectory.gif"]
    paths[1].write_text(standalone_html(traj), encoding="utf-8")
    paths[2].write_bytes(gif_bytes(traj))
    return [str(p) for p in paths]
