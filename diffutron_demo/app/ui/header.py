"""The header: one line that says which model runs, on what, exact or approximate; under it, the
visitor's own model choice. Each visitor's banner, picker and answers agree (app/sessions.py)."""

from __future__ import annotations

import html
import os

import gradio as gr

from ..manager import ModelManager, Served
from ..sessions import Sessions

MODEL_HELP = ("Your choice is yours alone: other visitors keep theirs. int8 quantizes the linear layers: faster "
              "on a CPU, but approximate, so answers differ from the exact path's (the README's Benchmark section "
              "has the measured agreement; the small demo model always runs exact).")


def model_choice_locked() -> bool:
    """Locked on a Space (SPACE_ID set) unless the owner sets DIFFUTRON_LOCK_MODEL=0; anywhere
    DIFFUTRON_LOCK_MODEL=1 locks it."""
    setting = os.environ.get("DIFFUTRON_LOCK_MODEL", "").strip().lower()
    if setting:
        return setting in ("1", "true", "yes", "on")
    return bool(os.environ.get("SPACE_ID"))


def banner_html(now: Served) -> str:
    text = html.escape(now.banner_now())
    return f'<div class="dd-banner">{text}</div>' if now.is_demo else f'<div class="dd-model">{text}</div>'


def loading_html(label: str) -> str:
    return f'<div class="dd-model">Model: {html.escape(label)} · loading…</div>'


def model_header(demo: gr.Blocks, manager: ModelManager, sessions: Sessions) -> None:
    locked = model_choice_locked()
    default = manager.peek()  # the page is built (and served) while the model may still be loading
    banner = gr.HTML(banner_html(default) if default else loading_html(manager.default_label),
                     elem_classes=["dd-header"])  # each visitor's own, once arrive() has run
    with gr.Accordion("Model and speed", open=False):
        with gr.Row():
            picker = gr.Dropdown(manager.choices(), value=manager.default_label, label="model", min_width=320,
                                 interactive=not locked)
            int8 = gr.Checkbox(manager.int8, label="int8 on CPU (faster, approximate)", interactive=not locked)
        why = gr.Markdown(html.escape(default.detail) if default else "")
        gr.Markdown(MODEL_HELP + (" The host has locked the model on this page." if locked else ""))

    def shown(now: Served) -> dict:
        """The banner, the picker and the int8 box as they are for what runs: the box is ticked only
        when int8 runs, and can be changed only where it applies (a CPU, a model other than the demo)."""
        runs_int8 = now.lm.dtype.startswith("int8")
        applies = not locked and not now.is_demo and now.lm.device == "cpu"
        return {banner: banner_html(now), picker: now.label, why: html.escape(now.detail),
                int8: gr.Checkbox(runs_int8, interactive=applies,
                                  info=None if applies or locked else "does not apply: " + (
                                      "the demo model always runs exact" if now.is_demo else "not on a CPU"))}

    def arrive(request: gr.Request):
        session = sessions.get(request.session_hash)
        return shown(manager.serve(session.model, session.int8))

    def switch(request: gr.Request, name=None, quantized=None):
        """A new model keeps the visitor's int8 choice; a new int8 choice keeps the model."""
        session = sessions.get(request.session_hash)
        if not locked:
            if name is not None:
                session.model = name
            if quantized is not None:
                session.int8 = bool(quantized)
        now = manager.serve(session.model, session.int8, retry=not locked)
        session.model = now.label  # a fallback shows as what it is: the demo model
        return shown(now)

    def pick_model(name, request: gr.Request):
        return switch(request, name=name)

    def pick_int8(quantized, request: gr.Request):
        return switch(request, quantized=quantized)

    # Not limited by the queue: a page load or a model switch never waits behind someone's run.
    outputs = [banner, picker, why, int8]
    demo.load(arrive, None, outputs, api_visibility="private", concurrency_limit=None)
    picker.input(pick_model, picker, outputs, api_visibility="private", concurrency_limit=None)
    int8.input(pick_int8, int8, outputs, api_visibility="private", concurrency_limit=None)
