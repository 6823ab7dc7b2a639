"""The Fill tab: a text with blanks (___) anywhere, filled by the model in the order it is most sure
of, drawn live; then any of its tokens can be redone in place (the viewer's Redo).

A tab of its own rather than a mode of Chat: a fill is one text (or one answer under a question),
not a turn of a conversation, and its canvas is the whole text, not an answer after a prompt."""

from __future__ import annotations

import html

import gradio as gr

from ...core.blanks import build_infill
from ...core.chat import PromptError
from ...render.fragments import infill_preview_html
from ...render.panels import panels_with
from ...settings import SettingsError
from .. import service
from ..gpu import on_gpu
from .controls import error_md, knob_inputs, panel_values, read_settings, settings_panel, wire_stop
from .viewer import Viewer

EXAMPLES = [
    ["Damlaya damlaya ___ olur.", ""],
    ["___ Türkiye'nin başkentidir.", ""],
    ["Sabah erkenden ___ kalktım, kahvaltıda ___ yedim ve ___{6} işe gittim.", ""],
    ["İstanbul, ___ en kalabalık şehridir.", "İstanbul hakkında bir cümle yazar mısın?"],
]
PLACEHOLDER = ("Damlaya damlaya ___ olur.  (___ is a blank of 'blank length' tokens; ___{6} one of 6; "
               "\\___ writes literal underscores)")


def fill_tab(current_model, sessions):
    traj_state = gr.State(None)
    gr.Markdown("**Fill in the blanks.** Write `___` wherever the model should fill in: at the start, in the "
                "middle, in several places. A masked diffusion model sees the whole text at once and fills the "
                "blank it is surest of first; a left-to-right model could not. Afterwards, pick tokens of the "
                "result in the canvas and press Redo to have just those rewritten.")
    with gr.Row():
        with gr.Column(scale=4):
            text = gr.Textbox(label="Text with blanks", placeholder=PLACEHOLDER, lines=1, max_lines=6)
            question = gr.Textbox(label="Question (optional: the text is then the answer to it, in the chat template)",
                                  lines=1)
            with gr.Row():
                go, stop = gr.Button("Fill", variant="primary"), gr.Button("Stop", variant="stop")
            preview, status = gr.HTML(), gr.Markdown()
            gr.Examples(EXAMPLES, inputs=[text, question], label="Examples")
            with gr.Accordion("Settings", open=False):
                knobs = settings_panel()
        with gr.Column(scale=6):
            viewer = Viewer(traj_state, current_model, name="fill")

    def show_preview(values: dict, request: gr.Request):
        """The canvas's blanks and its share of the window, before anything runs (or why it can't run)."""
        if not (values[text] or "").strip():
            return {preview: "", knobs["error"]: ""}
        try:
            settings, _ = read_settings(panel_values(knobs, values))
            lm = current_model(request)
            canvas = build_infill(lm.tokenizer, values[text], blank_length=settings.blank_length,
                                  context_window=lm.context_window, question=values[question] or None)
        except (PromptError, SettingsError) as exc:
            return {preview: error_md(exc), knobs["error"]: error_md(exc)}  # said where the text is typed
        return {preview: infill_preview_html(canvas.blanks, len(canvas.ids), canvas.context_window),
                knobs["error"]: ""}

    @on_gpu
    def run_fill(values: dict, request: gr.Request):
        try:
            settings, seed = read_settings(panel_values(knobs, values))
            fill = service.FillRun(current_model(request), values[text], settings, seed, values[question] or None)
        except (PromptError, SettingsError) as exc:
            yield {status: error_md(exc), knobs["error"]: error_md(exc)}  # in sight, the settings closed or not
            return
        stop_flag = sessions.get(request.session_hash).stop
        stop_flag.clear()
        yield {status: "Starting…", preview: fill.preview(), knobs["error"]: "", traj_state: None, **viewer.cleared()}
        for frame in fill.frames(stop_flag):
            yield {status: frame.status, viewer.player: frame.player}
        traj, value = fill.finished()
        yield {traj_state: traj, status: html.escape(fill.summary(traj)), **viewer.finished(panels_with(traj, value), traj)}

    inputs = {text, question} | knob_inputs(knobs)
    outputs = [traj_state, status, preview, knobs["error"]] + viewer.outputs
    go.click(run_fill, inputs, outputs, api_visibility="private")
    text.submit(run_fill, inputs, outputs, api_visibility="private")  # Enter fills
    wire_stop(stop, sessions)
    for source in (text.change, question.change, knobs["blank_length"].change):
        source(show_preview, inputs, [preview, knobs["error"]], queue=False, api_visibility="private")

