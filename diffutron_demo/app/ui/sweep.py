"""The Sweep tab: a sweep's files (runs.jsonl + summary.csv, or a zip of its folder) shown as the
report shows them: plots, the per-setting table, one prompt's answers under every setting side by
side (an infill prompt's with each blank's fill), and any kept trajectory in the viewer. No model
is needed."""

from __future__ import annotations

import html

import gradio as gr

from ...sweep.grid import SweepInputError
from ...sweep.load import load_files
from ...sweep.plots import PAIRS, sweep_figures
from ...sweep.report import answers_html, summary_table_html
from .. import edits
from .viewer import Viewer

HELP = ("Upload a sweep's `runs.jsonl` (and `summary.csv`), or a zip of its folder with the trajectories, from "
        "`python -m diffutron_demo sweep ... --out DIR` (the README has the command). No model is needed. "
        "A fill-in-the-blanks prompt shows each blank's fill under every setting; *blanks exact* is the share "
        "of blanks filled with their reference.")


def sweep_tab():
    gr.Markdown(HELP)
    upload = gr.File(label="sweep files or a zip of the folder", file_count="multiple", type="filepath",
                     file_types=[".jsonl", ".csv", ".json", ".zip"])
    note = gr.Markdown()
    data_state, traj_state = gr.State(None), gr.State(None)
    with gr.Row():
        plots = [gr.Plot(label=pair[-1], visible=False) for pair in PAIRS]  # shown once a sweep is loaded
    table = gr.HTML()
    prompt = gr.Dropdown([], label="prompt: its answers under every setting", interactive=True)
    answers = gr.HTML(elem_classes=["dd-sweep-answers-panel"])
    run_pick = gr.Dropdown([], label="open a kept trajectory in the viewer", interactive=True)
    message = gr.Markdown()
    with gr.Accordion("Viewer", open=True):
        viewer = Viewer(traj_state, name="sweep")

    def load(files):
        empty = {data_state: None, note: "", table: "", answers: "", **{p: gr.Plot(None, visible=False) for p in plots},
                 prompt: gr.Dropdown([], value=None), run_pick: gr.Dropdown([], value=None)}
        if not files:
            return empty
        try:
            data = load_files(files)
        except (SweepInputError, OSError) as exc:
            return {**empty, note: f"⚠️ {html.escape(str(exc))}"}
        figs = sweep_figures(data.summary, data.reference)
        choices = data.prompt_choices()
        first = choices[0][1] if choices else None
        shown = f"{len(data.rows)} runs, {len(data.settings)} settings, {len(choices)} prompts, " \
                f"{len(data.trajectories)} trajectories." if data.rows else "summary.csv only: no answers to show."
        return {data_state: data, note: shown, table: summary_table_html(data.summary, data.reference),
                **{p: gr.Plot(f, visible=f is not None) for p, f in zip(plots, figs + [None] * (len(plots) - len(figs)))},
                prompt: gr.Dropdown(choices, value=first), **pick_prompt(data, first)}

    def pick_prompt(data, prompt_id):
        if data is None or prompt_id is None:
            return {answers: "", run_pick: gr.Dropdown([], value=None)}
        runs = data.trajectory_choices(prompt_id)
        return {answers: answers_html(data.rows, prompt_id, data.settings, data.reference),
                run_pick: gr.Dropdown(runs, value=None)}

    def open_run(data, name):
        if data is None or not name or name not in data.trajectories:
            return {message: "", traj_state: None, **viewer.cleared()}
        traj, text, panels = edits.load_replay(data.trajectories[name], name)
        if traj is None:
            return {message: text, traj_state: None, **viewer.cleared()}
        return {traj_state: traj, message: text, **viewer.finished(panels, traj)}

    upload.change(load, upload, [data_state, note, table, prompt, answers, run_pick] + plots,
                  api_visibility="private")
    prompt.change(pick_prompt, [data_state, prompt], [answers, run_pick], api_visibility="private")
    run_pick.change(open_run, [data_state, run_pick], [traj_state, message] + viewer.outputs,
                    api_visibility="private")
