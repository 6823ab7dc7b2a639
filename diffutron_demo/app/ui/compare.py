"""The Compare tab: 2-4 columns of settings on the same prompt (or text with blanks) and seed, run
together. Each column's results sit under its own settings; the players share their step."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import gradio as gr

from ...core.chat import PromptError
from ...settings import PRESETS, SamplerSettings, SettingsError, check_seed
from ...sweep.grid import grid_file_text, sweep_command
from .. import service
from ..manager import model_argument
from ..gpu import on_gpu
from .controls import control, error_md, follow_preset
from .viewer import player

COLUMNS = 4
COLUMN_KNOBS = ["steps", "max_new_tokens", "block_length", "temperature", "remasking", "threshold"]
COLUMN_PRESETS = ["dllm (model card)", "fast: threshold 0.9", "left to right", "greedy"]
TASKS = ("answer a question", "fill the blanks")


def _column(i: int) -> dict:
    col = {"on": gr.Checkbox(i < 2, label=f"column {i + 1}"),
           "preset": gr.Dropdown(list(PRESETS), value=COLUMN_PRESETS[i], label="preset")}
    start = PRESETS[COLUMN_PRESETS[i]]
    for name in COLUMN_KNOBS:
        col[name] = control(name, getattr(start, name), compact=True)
    follow_preset(col["preset"], col, COLUMN_KNOBS)
    col["player"] = player(elem_id=f"player-compare-{i + 1}")
    col["answer"] = gr.HTML()
    return col


def column_settings(columns: list[dict], values: dict) -> tuple[dict[int, SamplerSettings], dict[int, str]]:
    """The ticked columns' settings (preset + the column's knobs) and labels, by column number (1-based);
    raises SettingsError."""
    chosen, labels = {}, {}
    for i, col in enumerate(columns, start=1):
        if values[col["on"]]:
            preset = values[col["preset"]]
            chosen[i] = SamplerSettings.from_dict({**PRESETS[preset].to_dict(),
                                                   **{n: values[col[n]] for n in COLUMN_KNOBS}})
            labels[i] = f"column {i}: {preset}"
    if not 2 <= len(chosen) <= COLUMNS:
        raise SettingsError("on", f"Tick 2 to {COLUMNS} columns to compare.")
    return chosen, labels


def table_value(rows: list[dict]) -> dict:
    """Rows of figures as the Dataframe takes them: headers and a list of lists."""
    return {"headers": list(rows[0]) if rows else [], "data": [list(r.values()) for r in rows]}


def compare_tab(current_model, sessions, first_prompt: str):
    with gr.Row():
        task = gr.Radio(list(TASKS), value=TASKS[0], label="task", scale=2)
        prompt = gr.Textbox(first_prompt, label="Prompt, or a text with ___ blanks (the same for every column)", scale=6)
        seed = gr.Number(0, label="seed", scale=1)  # check_seed says the range
    with gr.Row():
        run_btn = gr.Button("Run all", variant="primary")
        stop_btn = gr.Button("Stop", variant="stop")
        sweep_btn = gr.Button("Sweep this")
    with gr.Row():
        columns = []
        for i in range(COLUMNS):
            with gr.Column(min_width=220):
                columns.append(_column(i))
    table = gr.Dataframe(label="comparison", interactive=False)
    note = gr.Markdown()
    grid_file = gr.File(label="grid file for a sweep over a prompt set", interactive=False, visible=False)
    players, answers = [c["player"] for c in columns], [c["answer"] for c in columns]

    def shown(frame: service.CompareFrame | None) -> dict:
        """Each column's player and answer under that column; columns not run are emptied."""
        out = {**{p: None for p in players}, **{a: "" for a in answers}}
        if frame is not None:
            for k, c in enumerate(frame.columns):
                out[players[c - 1]], out[answers[c - 1]] = frame.players[k], frame.answers[k]
        return out

    @on_gpu
    def run_all(values: dict, request: gr.Request):
        stop = sessions.get(request.session_hash).stop
        stop.clear()
        try:
            chosen, labels = column_settings(columns, values)
            job = service.Task(values[prompt] or "", fill=values[task] == TASKS[1])
            frames = service.compare_frames(current_model(request), job, chosen, check_seed(values[seed]), labels,
                                            stop=stop)
            frame = next(frames)
        except (SettingsError, PromptError) as exc:
            yield {**shown(None), table: None, note: error_md(exc)}
            return
        for frame in itertools.chain([frame], frames):
            update = {**shown(frame), note: "running…"}
            if frame.done:
                stopped = any(t.stop_reason == "cancelled" for t in frame.trajs)
                update.update({table: table_value(frame.rows),
                               note: ("■ Stopped: partial runs. " if stopped else "") +
                               "Answers: words that differ from the first column run are highlighted. Moving the step "
                               "in one column moves them all."})
            yield update

    def request_stop(request: gr.Request):
        sessions.get(request.session_hash).stop.set()

    def sweep_this(values: dict, request: gr.Request):
        """The ticked columns as a grid file, and a command that sweeps them over a prompt set as printed."""
        try:
            chosen, labels = column_settings(columns, values)
            seed_value = check_seed(values[seed])
        except SettingsError as exc:
            return {grid_file: gr.File(None, visible=False), note: error_md(exc)}
        path = Path(tempfile.mkdtemp(prefix="diffutron-grid-")) / "grid.json"
        path.write_text(grid_file_text({labels[c]: s for c, s in chosen.items()}), encoding="utf-8")
        command = sweep_command(model_argument(current_model(request)), "grid.json", "prompts.txt", seed_value)
        return {grid_file: gr.File(str(path), visible=True),
                note: f"Grid of {len(chosen)} settings (the first ticked column is the reference). Save it as "
                      f"`grid.json`, write one prompt a line in `prompts.txt`, and run:\n\n```\n{command}\n```\n\n"
                      "`--compare-seeds` gives every setting of a prompt the seed itself, as Compare does, so the "
                      "sweep's answers for this prompt and seed are Compare's."}

    inputs = {prompt, seed, task} | {c[k] for c in columns for k in ["on", "preset"] + COLUMN_KNOBS}
    outputs = [table, note] + players + answers
    run_btn.click(run_all, inputs, outputs, api_visibility="private")
    prompt.submit(run_all, inputs, outputs, api_visibility="private")  # Enter runs, as in the chat
    stop_btn.click(request_stop, None, None, queue=False, api_visibility="private")
    sweep_btn.click(sweep_this, inputs, [grid_file, note], api_visibility="private")
