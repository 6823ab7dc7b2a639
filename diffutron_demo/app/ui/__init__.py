"""The Gradio Blocks app: a one-line header, one tab per module, the named API. Wiring only:
handlers map components to the service and back, returning {component: value}.

Every visitor has a Session (app/sessions.py): the model they chose lives there, so the banner,
the picker and the answers agree for each visitor, whatever another visitor picks.
"""

from __future__ import annotations

import gradio as gr

from ...teach.gallery import gallery_items
from ...teach.learn import LEARN_MD
from ..api import register_api
from ..manager import ModelManager
from ..sessions import Sessions
from .chat import EXAMPLES, chat_tab
from .compare import compare_tab
from .fill import fill_tab
from .header import model_choice_locked, model_header
from .lesson import lesson_tab
from .replay import first_recorded, gallery_tab, replay_tab
from .sweep import sweep_tab

TITLE = ("# Diffutron: watch a masked diffusion language model write\n"
         "It starts from a canvas of masks and fills it over many steps, most confident positions first, "
         "block by block.")
SESSIONS = Sessions()

__all__ = ["SESSIONS", "build_app", "model_choice_locked"]


def build_app(manager: ModelManager, sessions: Sessions = SESSIONS) -> gr.Blocks:
    items = gallery_items()
    first = first_recorded(items)  # what Chat, Gallery and Lesson open on, drawn once

    def current_model(request: gr.Request | None = None):
        """The model serving this visitor: their own choice, else the app's default."""
        session = sessions.get(getattr(request, "session_hash", None))
        return manager.serve(session.model, session.int8).lm

    def model_if_ready(request: gr.Request | None = None):
        """The visitor's model if it is loaded, else None: a page load never waits for a load."""
        session = sessions.get(getattr(request, "session_hash", None))
        served = manager.peek(session.model, session.int8)
        return served and served.lm

    def forget(request: gr.Request):
        sessions.forget(request.session_hash)

    with gr.Blocks(title="diffutron-demo: watch a masked diffusion LM write") as demo:
        gr.Markdown(TITLE)
        model_header(demo, manager, sessions)
        with gr.Tabs(overflow_behavior="wrap"):  # on a phone every tab stays in sight
            with gr.Tab("Chat"):
                chat_tab(demo, current_model, sessions, first, model_if_ready)
            with gr.Tab("Fill"):
                fill_tab(current_model, sessions)
            with gr.Tab("Replay"):
                replay_tab(current_model)
            with gr.Tab("Gallery"):
                gallery_tab(current_model, items, first)
            with gr.Tab("Lesson"):
                lesson_tab(current_model, items, first)
            with gr.Tab("Compare"):
                compare_tab(current_model, sessions, EXAMPLES[0])
            with gr.Tab("Sweep"):
                sweep_tab()
            with gr.Tab("Learn"):
                gr.Markdown(LEARN_MD)
        register_api(current_model)
        demo.unload(forget)
    return demo
