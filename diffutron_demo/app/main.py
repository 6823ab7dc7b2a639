"""Start the app: pick the model (flag, env var, default), fall back offline, queue, launch."""

from __future__ import annotations

import argparse
import os

from ..core.compile_guard import CHECK_MODES
from ..core.models import DEFAULT_MODEL, ModelLoadError, pick_device
from ..render.styles import CSS
from . import examples
from .manager import ModelManager


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="diffutron-demo: chat with and watch a masked diffusion LM")
    parser.add_argument("--model", default=os.environ.get("DIFFUTRON_MODEL", DEFAULT_MODEL),
                        help="hub id or local folder (env DIFFUTRON_MODEL; default %(default)s)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--exact", action="store_true",
                        help="CPU: keep fp32, the exact path (default on a CPU: int8, faster and approximate)")
    parser.add_argument("--eager", action="store_true",
                        help="GPU: plain eager forward passes (default on a dedicated GPU: the encoder padded to "
                             "a few lengths and compiled with CUDA graphs, checked against eager)")
    parser.add_argument("--compile-check", default="warn", choices=CHECK_MODES,
                        help="GPU: check each compiled graph against the eager pass on first use; warn (default) "
                             "serves a shape that disagrees eagerly and says so in the banner, strict refuses "
                             "to start unless every shape a run uses agrees, off skips the check")
    return parser.parse_args(argv)


def zero_gpu() -> bool:
    """A ZeroGPU Space lends the GPU per call: CUDA graphs captured in one call can't outlive it."""
    return bool(os.environ.get("SPACES_ZERO_GPU"))


def create(model: str = DEFAULT_MODEL, device: str = "auto", dtype: str = "auto", int8: bool = False,
           compile: bool = False, compile_check: str = "warn"):
    """Build the Blocks app with its queue while the model (or the demo fallback) loads beside it:
    the page serves at once and the first run waits for the model. Strict compile checking loads
    first instead, so a disagreeing compiled path stops the start."""
    from .ui import build_app

    manager = ModelManager(requested=model, device=device, dtype=dtype, int8=int8, compile=compile,
                           compile_check=compile_check)
    if compile_check == "strict":
        print(manager.load(), flush=True)
        if not manager.is_demo:
            examples.record_in_background(manager.lm)
    else:  # a real model records the first screen's example once, beside the page
        manager.preload(lambda said: print(said, flush=True),
                        after=lambda served: None if served.is_demo else examples.record_in_background(served.lm))
    demo = build_app(manager)
    # One run at a time on a CPU (two cores are already busy); a GPU serves a few at once.
    limit = 1 if serving_device(device) == "cpu" else 4
    demo.queue(default_concurrency_limit=limit, max_size=32)
    return demo


def serving_device(device: str) -> str:
    try:
        return pick_device(device)
    except ModelLoadError:  # cuda asked for but absent: the model falls back to the CPU
        return "cpu"


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        demo = create(args.model, args.device, args.dtype, int8=not args.exact,
                      compile=not args.eager and not zero_gpu(), compile_check=args.compile_check)
    except ModelLoadError as exc:  # --compile-check strict, or even the demo fallback failed
        raise SystemExit(f"diffutron-demo: {exc}") from None
    demo.launch(server_name=args.host, server_port=args.port, **launch_options())


# Gradio announces a finished event with its "common.complete" text, which its own translations
# lack (a screen reader would say the key): give it, in the page's languages.
GRADIO_TEXTS = {"en": {"common.complete": "Done", "common.error": "Error"},
                "tr": {"common.complete": "Bitti", "common.error": "Hata"}}


def theme():
    """Gradio's default look with text that meets WCAG AA contrast: its subdued grey (help text,
    placeholders, the footer) and its orange and red buttons under white text fall short."""
    import gradio as gr

    return gr.themes.Default().set(
        body_text_color_subdued="*neutral_600", body_text_color_subdued_dark="*neutral_300",
        input_placeholder_color="*neutral_500", input_placeholder_color_dark="*neutral_400",
        button_primary_background_fill="*primary_700", button_primary_background_fill_hover="*primary_800",
        button_primary_background_fill_dark="*primary_700", button_primary_background_fill_hover_dark="*primary_800",
        button_cancel_background_fill="#b91c1c", button_cancel_background_fill_hover="#991b1b",
        button_cancel_background_fill_dark="#b91c1c", button_cancel_background_fill_hover_dark="#991b1b",
    )


def launch_options() -> dict:
    """What every launch of the app passes (python app.py and the tests): the CSS and theme, the
    upload limit (the trajectories' own), no share link, Gradio's missing announcement texts."""
    import gradio as gr

    return {"css": CSS, "theme": theme(), "max_file_size": "20mb", "share": False, "i18n": gr.I18n(**GRADIO_TEXTS)}
