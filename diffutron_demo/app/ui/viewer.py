"""The run viewer, shared by Chat, Fill, Replay and Gallery: the player (heatmap, step controls,
canvas with drafts, why this step, a position's history, the table; render/player.js), a picker
for the run and its branches, the commit order and per-step chart, what-if branching, redo and
exports. Handlers return {component: value}."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from ...render.export import gif_bytes, standalone_html
from ...render.panels import RunPanels, run_panels
from ...render.player import SKELETON, script
from ...settings import KNOBS, SettingsError
from .. import edits
from ..gpu import on_gpu

BRANCH_CHANGES = ("temperature", "remasking", "block_length")
# The Branch button reads the step the player shows (it lives in the browser) when the box is empty.
READ_STEP_JS = """(...args) => {
  const root = document.querySelector('#%s [data-ddp]');
  if (root && (args[1] === null || args[1] === '' || args[1] === undefined)) args[1] = Number(root.dataset.step);
  return args;
}"""


def player(value=None, elem_id: str | None = None) -> gr.HTML:
    """The run player: the value is a run's player data (render/runview.py), drawn in the browser."""
    return gr.HTML(value, html_template=SKELETON, js_on_load=script(), elem_id=elem_id, elem_classes=["dd-player"],
                   apply_default_css=False)


class Viewer:
    """`initial` (a recorded run's panels) is what the viewer shows before anything is chosen or run."""

    def __init__(self, traj_state: gr.State, current_model=None, initial: RunPanels | None = None, *, name: str,
                 shown: int | None = None):
        self.state, self.name = traj_state, name
        self.shown = gr.State(shown)  # the branch shown (None: the run itself)
        self.pick = gr.Dropdown([], value=None, label="show", visible=False, interactive=True,
                                info="The run, or one of its branches and redos.")
        self.player = player(initial and initial.player, elem_id=f"player-{name}")
        self.note = gr.HTML()
        with gr.Accordion("How left-to-right was it?", open=False):
            self.order = gr.HTML(initial and initial.order)
            self.chart = gr.Plot(initial and initial.chart, label="per step: mean and least candidate confidence, "
                                                                  "the cutoff and tokens committed")
        wire_branch = self._branch_panel(current_model) if current_model is not None else None
        with gr.Accordion("Download / export", open=False):
            self.export_btn = gr.Button("Export trajectory JSON, HTML player and GIF", size="sm")
            self.files = gr.File(label="exports", file_count="multiple", interactive=False)
        self.export_btn.click(self.export, [self.state, self.shown], self.files, api_visibility="private")
        if current_model is not None:  # wired once every output exists
            wire_branch()
            self._redo(current_model)
        self.pick.input(self.show_branch, [self.state, self.pick], self.outputs, api_visibility="private")

    @property
    def outputs(self) -> list:
        """Every component `finished` and `cleared` fill."""
        return [self.player, self.order, self.chart, self.pick, self.shown, self.note, self.files]

    def finished(self, panels: RunPanels, traj=None, shown: int | None = None, note: str = "") -> dict:
        """A complete (or loaded) run, or one of its branches, in the player."""
        choices = edits.branch_choices(traj)
        return {self.player: panels.player, self.order: panels.order, self.chart: panels.chart,
                self.pick: gr.Dropdown(choices, value=-1 if shown is None else shown, visible=len(choices) > 1),
                self.shown: shown, self.note: note, self.files: None}

    def cleared(self, note: str = "") -> dict:
        """Nothing shown: no run's pictures stay under another's label."""
        return {self.player: None, self.order: "", self.chart: None, self.pick: gr.Dropdown([], value=None, visible=False),
                self.shown: None, self.note: note, self.files: None}

    def show_branch(self, traj, index) -> dict:
        if traj is None:
            return self.cleared()
        shown = None if index in (None, -1) else int(index)
        view = edits.shown(traj, shown)
        label = edits.branch_label(traj, shown) if shown is not None else f"The run itself · {len(view.steps)} steps"
        split = None if shown is None else traj.branches[shown].from_step
        return self.finished(run_panels(view, label, split=split, redo=True), traj, shown)

    def _branch_panel(self, current_model):
        with gr.Accordion("What if? Branch from a step", open=False):
            gr.Markdown("Continue the run shown from the canvas at a step with other settings, or pin text at masked "
                        "positions. With unchanged settings at temperature 0 the branch repeats the run exactly.")
            with gr.Row():
                at = gr.Number(None, label="branch from step (empty = the step shown)")
                changes = {n: _same_or(n) for n in BRANCH_CHANGES}
            with gr.Row():
                pin_pos = gr.Number(None, label="pin at answer position")
                pin_text = gr.Textbox(label="pinned text (its tokens fill masked positions from there)")
                go_btn = gr.Button("Branch", variant="primary")

        @on_gpu
        def run_branch(traj, step, pos, text, shown, *values, request: gr.Request):
            if traj is None:
                raise gr.Error("Run or load a trajectory first.")
            try:
                result = edits.branch(current_model(request), traj, int(step or 0), dict(zip(changes, values)),
                                      pos, text, parent=shown)
            except (SettingsError, ValueError) as exc:
                raise gr.Error(str(exc)) from None
            return {self.state: traj, **self.finished(result.panels, traj, result.index, result.note)}

        return lambda: go_btn.click(run_branch, [self.state, at, pin_pos, pin_text, self.shown, *changes.values()],
                                    [self.state] + self.outputs, js=READ_STEP_JS % f"player-{self.name}",
                                    api_visibility="private")

    def _redo(self, current_model):
        @on_gpu
        def run_redo(traj, shown, event: gr.EventData, request: gr.Request):
            positions = getattr(event, "positions", None) or []
            if traj is None:
                raise gr.Error("Run or load a trajectory first.")
            try:
                result = edits.redo(current_model(request), traj, [int(p) for p in positions], parent=shown)
            except (SettingsError, ValueError) as exc:
                raise gr.Error(str(exc)) from None
            return {self.state: traj, **self.finished(result.panels, traj, result.index, result.note)}

        self.player.submit(run_redo, [self.state, self.shown], [self.state] + self.outputs, api_visibility="private")

    @staticmethod
    def export(traj, shown):
        if traj is None:
            raise gr.Error("Nothing to export yet: run or load a trajectory first.")
        view = edits.shown(traj, shown)
        folder = Path(tempfile.mkdtemp(prefix="diffutron-export-"))
        paths = [traj.save(folder / "trajectory.json"), folder / "trajectory-player.html", folder / "trajectory.gif"]
        paths[1].write_text(standalone_html(view), encoding="utf-8")
        paths[2].write_bytes(gif_bytes(view))
        return [str(p) for p in paths]


def _same_or(name: str):
    """A branch control for one setting, empty = keep the run's value. A text box, since an empty
    number box still sends 0; the settings read the text (and name a bad value) as everywhere."""
    label = f"{name.replace('_', ' ')} (empty = same)"
    if KNOBS[name].choices:
        return gr.Dropdown([""] + list(KNOBS[name].choices), value="", label=label)
    return gr.Textbox("", label=label, placeholder="same as the run")
