"""The Chat tab: a conversation whose answers are drawn live in the viewer beside it (above it on a
phone, so the text being written is in sight)."""

from __future__ import annotations

import html

import gradio as gr

from ...core.chat import PromptError
from ...render.panels import panels_with, run_panels
from ...settings import SettingsError
from ...template import last_question
from .. import service
from ..examples import cached_example
from ..manager import DEMO_MODEL
from ..gpu import on_gpu
from .controls import error_md, knob_inputs, panel_values, read_settings, settings_panel, wire_stop
from .viewer import Viewer

EXAMPLES = ["Türkiye'nin başkenti neresidir?", "Bana kısa bir şiir yazar mısın?",
            "Yapay zekâ nedir? Kısaca açıkla.", "İstanbul hakkında üç cümle yaz."]


def example_note(traj) -> str:
    return (f"Recorded example ({traj.model.get('name', '')}, recorded once, no model needed): Send runs your own "
            "question and replaces it.")


def example_messages(traj) -> list[dict]:
    """A recorded run as the chat shows it on arrival, labelled as the example it is."""
    if traj is None:
        return []
    return [{"role": "user", "content": html.escape(last_question(traj.prompt.get("text", "")))},
            {"role": "assistant", "content": html.escape(f"{traj.reply.strip()}\n\n({example_note(traj)})")}]


def _chat_column(example) -> dict:
    """The left column: the message box and its buttons, the conversation, the settings."""
    c = {"chatbot": gr.Chatbot(example_messages(example), label="Chat", height=380, render_markdown=False,
                               sanitize_html=True, buttons=["copy"], feedback_options=None,
                               elem_classes=["dd-history"]),
         # One line that grows: Enter sends, Shift+Enter breaks the line (Gradio's rule for lines=1).
         "message": gr.Textbox(label="Message", placeholder="Türkçe bir soru yazın…", lines=1, max_lines=8,
                               elem_classes=["dd-input"])}
    with gr.Row(elem_classes=["dd-input"]):
        c["send"], c["stop"], c["clear"] = (gr.Button("Send", variant="primary"), gr.Button("Stop", variant="stop"),
                                            gr.Button("Clear"))
    c["status"] = gr.Markdown(html.escape(example_note(example)) if example is not None else "",
                              elem_classes=["dd-input"])
    gr.Examples(EXAMPLES, inputs=c["message"], label="Examples")
    c["raw"] = gr.Checkbox(False, label="raw text (no chat template)",
                           info="Continue the text as typed, like dllm's --chat False.")
    c["context"] = gr.HTML()
    with gr.Accordion("Settings", open=False):
        c["knobs"] = settings_panel()
    return c


def own_example(model_if_ready, viewer, history_state, chatbot, traj_state, status):
    """The page-load handler that shows the model's own recorded example (app/examples.py) once it
    exists and the model is in; otherwise it leaves the gallery's example (or the visitor's chat)."""

    def arrive(pairs, request: gr.Request):
        lm = model_if_ready(request) if model_if_ready else None
        traj = None if lm is None or lm.name == DEMO_MODEL or pairs else cached_example(lm)
        if traj is None:
            return {history_state: pairs}  # its own input back: nothing changes
        label = f"Recorded example: {last_question(traj.prompt.get('text', ''))} · {lm.name}"
        return {chatbot: example_messages(traj), traj_state: traj, status: html.escape(example_note(traj)),
                **viewer.finished(run_panels(traj, label, redo=True), traj)}

    return arrive


def chat_tab(demo, current_model, sessions, recorded=None, model_if_ready=None):
    """`recorded`: a recorded run (and its pictures) shown on arrival: chat, player at its last step.
    A real model's own example (app/examples.py) replaces it on page load, once it is recorded and
    the model is in (`model_if_ready`: a page load never waits for it)."""
    example = recorded and recorded.traj
    history_state = gr.State([])  # the real (question, answer) pairs; the Chatbot shows escaped text
    traj_state = gr.State(example)
    with gr.Row(elem_classes=["dd-chat-row"]):
        with gr.Column(scale=4, elem_classes=["dd-chat-col"]):
            c = _chat_column(example)
        with gr.Column(scale=6, elem_classes=["dd-viewer-col"]):
            viewer = Viewer(traj_state, current_model, recorded and recorded.panels, name="chat")
    chatbot, message, status, context, knobs = c["chatbot"], c["message"], c["status"], c["context"], c["knobs"]

    @on_gpu
    def respond(values: dict, request: gr.Request):
        text, pairs = values[message], values[history_state]
        shown = list(values[chatbot] or []) if pairs else []  # with no real turn yet, the example goes
        try:
            settings, seed = read_settings(panel_values(knobs, values))
            turn = service.ChatTurn(current_model(request), text, pairs, settings, seed, raw=values[c["raw"]])
        except (PromptError, SettingsError) as exc:
            yield {status: error_md(exc), knobs["error"]: error_md(exc)}  # in sight, the settings closed or not
            return
        stop_flag = sessions.get(request.session_hash).stop
        stop_flag.clear()
        shown += [{"role": "user", "content": html.escape(text)}, {"role": "assistant", "content": "… (denoising)"}]
        yield {chatbot: shown, message: "", traj_state: None, context: turn.context_bar(), status: "Starting…",
               knobs["error"]: "", **viewer.cleared()}
        for frame in turn.frames(stop_flag):
            yield {status: frame.status, viewer.player: frame.player}
        done = turn.result()
        shown[-1] = {"role": "assistant", "content": done.shown}
        panels = panels_with(done.traj, done.player)
        yield {chatbot: shown, history_state: done.pairs, traj_state: done.traj, status: done.summary,
               **viewer.finished(panels, done.traj)}

    def clear_chat():
        return {chatbot: [], history_state: [], traj_state: None, context: "", status: "", **viewer.cleared()}

    inputs = {message, chatbot, history_state, c["raw"]} | knob_inputs(knobs)
    outputs = [chatbot, history_state, message, traj_state, context, status, knobs["error"]] + viewer.outputs
    c["send"].click(respond, inputs, outputs, api_visibility="private")
    message.submit(respond, inputs, outputs, api_visibility="private")
    wire_stop(c["stop"], sessions)
    c["clear"].click(clear_chat, None, [chatbot, history_state, traj_state, context, status] + viewer.outputs,
                     api_visibility="private", queue=False)
    arrive = own_example(model_if_ready, viewer, history_state, chatbot, traj_state, status)
    demo.load(arrive, history_state, [history_state, chatbot, traj_state, status] + viewer.outputs,
              api_visibility="private", concurrency_limit=None)
