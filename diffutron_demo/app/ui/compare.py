"""The Compare tab: 2-4 columns of settings on the same prompt and seed, run together."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import gradio as gr

from ...core.chat import PromptError
from ...settings import PRESETS, SamplerSettings, SettingsError, check_seed
from ...sweep.grid import grid_file_text
from .. import service
from ..gpu import on_gpu
from .controls import control, error_md, follow_preset

COLUMNS = 4
COLUMN_KNOBS = ["steps", "max_new_tokens", "block_length", "temperature", "remasking", "threshold"]
COLUMN_PRESETS = ["dllm (model card)", "fast: threshold 0.9", "left to right", "greedy"]


def _column(i: int) -> dict:
    col = {"on": gr.Checkbox(i < 2, label=f"column {i + 1}"),
           "preset": gr.Dropdown(list(PRESETS), value=COLUMN_PRESETS[i], label="preset")}
    start = PRESETS[COLUMN_PRESETS[i]]
    for name in COLUMN_KNOBS:
        col[name] = control(name, getattr(start, name), compact=True)
    follow_preset(col["preset"], col, COLUMN_KNOBS)
    col["plot"] = gr.Plot(label=f"column {i + 1}", show_label=False)  # the figure's title names the column
    col["answer"] = gr.HTML()
    return col


def column_settings(columns: list[dict], values: dict) -> tuple[list[SamplerSettings], list[str]]:
    """The ticked columns' settings (preset + the column's knobs) and labels; raises SettingsError."""
    chosen, labels = [], []
    for i, col in enumerate(columns):
        if values[col["on"]]:
            preset = values[col["preset"]]
            chosen.append(SamplerSettings.from_dict({**PRESETS[preset].to_dict(),
                                                     **{n: values[col[n]] for n in COLUMN_KNOBS}}))
            labels.append(f"column {i + 1}: {preset}")
    if not 2 <= len(chosen) <= COLUMNS:
        raise SettingsError("on", f"Tick 2 to {COLUMNS} columns to compare.")
    return chosen, labels


def table_value(rows: list[dict]) -> dict:
    """Rows of figures as the Dataframe takes them: headers and a list of lists."""
    return {"headers": list(rows[0]) if rows else [], "data": [list(r.values()) for r in rows]}


def sweep_this(columns, seed, current_model, grid_file, note):
    """The "Sweep this" handler: the ticked columns as a grid file, and the command that sweeps them
    over a prompt set."""

    def handler(values: dict, request: gr.Request):
        try:
            chosen, labels = column_settings(columns, values)
            seed_value = check_seed(values[seed])
        except SettingsError as exc:
            return {grid_file: gr.File(None, visible=False), note: error_md(exc)}
        path = Path(tempfile.mkdtemp(prefix="diffutron-grid-")) / "grid.json"
        path.write_text(grid_file_text(dict(zip(labels, chosen))), encoding="utf-8")
        lm = current_model(request)
        model = (lm.name if lm else "MODEL").replace("`", "'")
        return {grid_file: gr.File(str(path), visible=True),
                note: f"Grid of {len(chosen)} settings (column 1 is the reference). Sweep them over a prompt set:\n\n"
                      f"`python -m diffutron_demo sweep --model {model} --grid grid.json --prompts prompts.txt "
                      f"--seeds {seed_value} --out sweep-out`"}

    return handler


def compare_tab(current_model, first_prompt: str):
    with gr.Row():
        prompt = gr.Textbox(first_prompt, label="Prompt (the same for every column)", scale=6)
        seed = gr.Number(0, label="seed", scale=1)  # check_seed says the range
        run_btn = gr.Button("Run all", variant="primary", scale=1)
        sweep_btn = gr.Button("Sweep this", scale=1)
    with gr.Row():
        columns = []
        for i in range(COLUMNS):
            with gr.Column(min_width=220):
                columns.append(_column(i))
    slider = gr.Slider(0, 1, value=0, step=1, label="shared step")
    table = gr.Dataframe(label="comparison", interactive=False)
    note = gr.Markdown()
    grid_file = gr.File(label="grid file for a sweep over a prompt set", interactive=False, visible=False)
    runs_state = gr.State([])
    plots, answers = [c["plot"] for c in columns], [c["answer"] for c in columns]

    def shown(heatmaps, texts) -> dict:
        """Each column's plot and answer; unused columns are emptied."""
        pad = COLUMNS - len(heatmaps)
        return {**dict(zip(plots, list(heatmaps) + [None] * pad)), **dict(zip(answers, list(texts) + [""] * pad))}

    @on_gpu
    def run_all(values: dict, request: gr.Request):
        try:
            chosen, labels = column_settings(columns, values)
            frames = service.compare_frames(current_model(request), values[prompt], chosen, labels,
                                            check_seed(values[seed]))
            frame = next(frames)
        except (SettingsError, PromptError) as exc:
            yield {runs_state: [], note: error_md(exc)}
            return
        for frame in itertools.chain([frame], frames):
            update = {runs_state: frame.trajs, **shown(frame.heatmaps, frame.answers), note: "running…"}
            if frame.done:
                update.update({slider: gr.Slider(0, max(frame.steps, 1), value=frame.steps, step=1),
                               table: table_value(frame.rows),
                               note: "Answers: words that differ from column 1 are highlighted."})
            yield update

    def show_shared(trajs, step):
        return shown(*service.shared_step(trajs, step))

    inputs = {prompt, seed} | {c[k] for c in columns for k in ["on", "preset"] + COLUMN_KNOBS}
    outputs = [runs_state, slider, table, note] + plots + answers
    run_btn.click(run_all, inputs, outputs, api_visibility="private")
    prompt.submit(run_all, inputs, outputs, api_visibility="private")  # Enter runs, as in the chat
    sweep_btn.click(sweep_this(columns, seed, current_model, grid_file, note), inputs, [grid_file, note],
                    api_visibility="private")
    slider.release(show_shared, [runs_state, slider], plots + answers, api_visibility="private")
