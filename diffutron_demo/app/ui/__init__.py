"""The Gradio Blocks app: a header, one tab per module, the named API. Wiring only: handlers map
components to the service and back, returning {component: value}."""

from __future__ import annotations

import html
import os

import gradio as gr

from ...core.models import ModelLoadError
from ...teach.gallery import gallery_items
from ...teach.learn import LEARN_MD
from ..api import register_api
from ..manager import ModelManager
from ..sessions import Sessions
from .chat import EXAMPLES, chat_tab
from .compare import compare_tab
from .lesson import lesson_tab
from .replay import gallery_tab, replay_tab
from .sweep import sweep_tab

INT8_INFO = ("Quantized linear layers: faster on a CPU for the 307M model, approximate, and its answers differ "
             "from the exact path's (the README has the measured agreement). The small demo model always runs "
             "exact. Untick for the exact path.")

SESSIONS = Sessions()


def build_app(manager: ModelManager) -> gr.Blocks:
    items = gallery_items()

    def current_model(request: gr.Request | None = None):
        return manager.lm

    with gr.Blocks(title="diffutron-demo: watch a masked diffusion LM write") as demo:
        gr.Markdown("# Diffutron: watch a masked diffusion language model write\n"
                    "It starts from a canvas of masks and fills it over many steps, most confident "
                    "positions first, block by block.")
        with gr.Row():
            banner = gr.HTML(banner_html(manager))
            # The model is shared by every visitor: a public Space can lock it (DIFFUTRON_LOCK_MODEL=1).
            locked = os.environ.get("DIFFUTRON_LOCK_MODEL", "").lower() in ("1", "true", "yes")
            picker = gr.Dropdown(manager.choices(), value=manager.lm.name if manager.lm else None,
                                 label="model", scale=0, min_width=320, interactive=not locked)
            int8 = gr.Checkbox(manager.int8, label="int8 on CPU (faster, approximate)", scale=0, min_width=200,
                               interactive=not locked, info=INT8_INFO)
        with gr.Tabs():
            with gr.Tab("Chat"):
                chat_tab(current_model, SESSIONS)
            with gr.Tab("Replay"):
                replay_tab(current_model)
            with gr.Tab("Gallery"):
                gallery_tab(current_model, items)
            with gr.Tab("Lesson"):
                lesson_tab(current_model, items)
            with gr.Tab("Compare"):
                compare_tab(current_model, EXAMPLES[0])
            with gr.Tab("Sweep"):
                sweep_tab()
            with gr.Tab("Learn"):
                gr.Markdown(LEARN_MD)
        register_api(current_model)

        def switch(name, quantized):
            manager.int8 = bool(quantized)
            try:
                manager.load(name)
            except ModelLoadError as exc:  # even the fallback failed
                return f'<div class="dd-banner">⚠️ {html.escape(str(exc))}</div>'
            return banner_html(manager)

        def forget(request: gr.Request):
            SESSIONS.forget(request.session_hash)

        picker.change(switch, [picker, int8], banner, api_visibility="private")
        int8.change(switch, [picker, int8], banner, api_visibility="private")
        demo.unload(forget)
    return demo


def banner_html(manager: ModelManager) -> str:
    text = html.escape(manager.banner)
    return f'<div class="dd-banner">{text}</div>' if manager.is_demo else f"<div>{text}</div>"
