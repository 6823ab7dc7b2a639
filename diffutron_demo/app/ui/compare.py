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
from .. import edits, service
from ..manager import model_argument
from ..gpu import on_gpu
from .controls import control, error_md, follow_preset, wire_stop
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


def _controls(first_prompt: str) -> dict:
    """The task, prompt, seed and buttons, the four columns, the table and the grid file."""
    c = {}
    with gr.Row():
        c["task"] = gr.Radio(list(TASKS), value=TASKS[0], label="task", scale=2)
        c["prompt"] = gr.Textbox(first_prompt, label="Prompt, or a text with ___ blanks (the same for every column)",
                                 scale=6)
        c["seed"] = gr.Number(0, label="seed", scale=1)  # check_seed says the range
    with gr.Row():
        c["run"] = gr.Button("Run all", variant="primary")
        c["stop"] = gr.Button("Stop", variant="stop")
        c["sweep"] = gr.Button("Sweep this")
    with gr.Row():
        c["columns"] = []
        for i in range(COLUMNS):
            with gr.Column(min_width=220):
                c["columns"].append(_column(i))
    c["runs"] = gr.State({})  # column -> [its trajectory (branches kept), the branch it shows]
    c["table"] = gr.Dataframe(label="comparison", interactive=False)
    c["note"] = gr.Markdown()
    c["grid"] = gr.File(label="grid file for a sweep over a prompt set", interactive=False, visible=False)
    return c


def sweep_this(c: dict, current_model):
    """The "Sweep this" handler: the ticked columns as a grid file, and a command that sweeps them
    over a prompt set as printed."""

    def handler(values: dict, request: gr.Request):
        try:
            chosen, labels = column_settings(c["columns"], values)
            seed_value = check_seed(values[c["seed"]])
        except SettingsError as exc:
            return {c["grid"]: gr.File(None, visible=False), c["note"]: error_md(exc)}
        path = Path(tempfile.mkdtemp(prefix="diffutron-grid-")) / "grid.json"
        path.write_text(grid_file_text({labels[k]: s for k, s in chosen.items()}), encoding="utf-8")
        command = sweep_command(model_argument(current_model(request)), "grid.json", "prompts.txt", seed_value)
        return {c["grid"]: gr.File(str(path), visible=True),
                c["note"]: f"Grid of {len(chosen)} settings (the first ticked column is the reference). Save it as "
                           f"`grid.json`, write one prompt a line in `prompts.txt`, and run:\n\n```\n{command}\n```"
                           "\n\n`--compare-seeds` gives every setting of a prompt the seed itself, as Compare does, "
                           "so the sweep's answers for this prompt and seed are Compare's."}

    return handler


def redo_column(runs, number: int, col: dict, current_model):
    """A column's Redo: the tokens chosen in its player filled again, the column then showing the redo."""

    @on_gpu
    def handler(held: dict, event: gr.EventData, request: gr.Request):
        if number not in held:
            raise gr.Error("Run the columns first.")
        traj, parent = held[number]
        try:
            result = edits.redo(current_model(request), traj, [int(p) for p in getattr(event, "positions", [])],
                                parent=parent, group="compare")
        except (SettingsError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        return {runs: {**held, number: [traj, result.index]}, col["player"]: result.panels.player,
                col["answer"]: result.note}

    return handler


def compare_tab(current_model, sessions, first_prompt: str):
    c = _controls(first_prompt)
    columns, table, note = c["columns"], c["table"], c["note"]
    players, answers = [col["player"] for col in columns], [col["answer"] for col in columns]

    def shown(frame: service.CompareFrame | None) -> dict:
        """Each column's player and answer under that column; columns not run are emptied."""
        out = {**{p: None for p in players}, **{a: "" for a in answers}}
        if frame is not None:
            for k, col in enumerate(frame.columns):
                out[players[col - 1]], out[answers[col - 1]] = frame.players[k], frame.answers[k]
        return out

    @on_gpu
    def run_all(values: dict, request: gr.Request):
        stop = sessions.get(request.session_hash).stop
        stop.clear()
        try:
            chosen, labels = column_settings(columns, values)
            job = service.Task(values[c["prompt"]] or "", fill=values[c["task"]] == TASKS[1])
            frames = service.compare_frames(current_model(request), job, chosen, check_seed(values[c["seed"]]),
                                            labels, stop=stop)
            frame = next(frames)
        except (SettingsError, PromptError) as exc:
            yield {**shown(None), table: None, note: error_md(exc)}
            return
        for frame in itertools.chain([frame], frames):
            update = {**shown(frame), note: "running…"}
            if frame.done:
                update[c["runs"]] = {col: [t, None] for col, t in zip(frame.columns, frame.trajs)}
                stopped = any(t.stop_reason == "cancelled" for t in frame.trajs)
                update.update({table: table_value(frame.rows),
                               note: ("■ Stopped: partial runs. " if stopped else "") +
                               "Answers: words that differ from the first column run are highlighted. Moving the step "
                               "in one column moves them all."})
            yield update

    inputs = {c["prompt"], c["seed"], c["task"]} | {col[k] for col in columns for k in ["on", "preset"] + COLUMN_KNOBS}
    outputs = [table, note, c["runs"]] + players + answers
    for number, col in enumerate(columns, start=1):
        col["player"].submit(redo_column(c["runs"], number, col, current_model), c["runs"],
                             [c["runs"], col["player"], col["answer"]], api_visibility="private")
    c["run"].click(run_all, inputs, outputs, api_visibility="private")
    c["prompt"].submit(run_all, inputs, outputs, api_visibility="private")  # Enter runs, as in the chat
    wire_stop(c["stop"], sessions)
    c["sweep"].click(sweep_this(c, current_model), inputs, [c["grid"], note], api_visibility="private")
