"""The named API endpoints (gradio_client): /generate, /chat, /compare, /infill. Parsing goes through
the settings dataclass, so a bad value gets the same sentence as in the UI and the CLI."""

from __future__ import annotations

import json

import gradio as gr

from ..core.chat import PromptError
from ..record.stats import run_stats
from ..settings import SamplerSettings, SettingsError, check_seed
from . import service
from .gpu import on_gpu


def parse_settings(settings_json: str) -> SamplerSettings:
    """A JSON object of settings; raises SettingsError (from the one validation) or ValueError."""
    values = json.loads(settings_json or "{}")
    if not isinstance(values, dict):
        raise ValueError
    return SamplerSettings.from_dict(values)


def parse_history(history_json: str) -> list[tuple[str, str]]:
    items = json.loads(history_json or "[]")
    if not isinstance(items, list) or not all(isinstance(p, list) and len(p) == 2 for p in items):
        raise ValueError
    return [(str(q), str(a)) for q, a in items]


def _settings(settings_json: str) -> SamplerSettings:
    try:
        return parse_settings(settings_json)
    except SettingsError as exc:
        raise gr.Error(str(exc)) from None
    except (ValueError, TypeError):
        raise gr.Error("settings_json must be a JSON object such as {\"steps\": 64}.") from None


def _answer(fn, *args, **kw):
    """Call into the service; a prompt, settings or seed problem reaches the client as its sentence."""
    try:
        return fn(*args, **kw)
    except (PromptError, SettingsError) as exc:
        raise gr.Error(str(exc)) from None


def register_api(current_model):
    """`current_model(request)` is the LoadedModel serving that caller."""

    @on_gpu
    def api_generate(prompt: str, settings_json: str = "{}", seed: int = 0, raw: bool = False,
                     request: gr.Request = None) -> str:
        """Generate one answer; returns the trajectory JSON (schema in docs/trajectory.md)."""
        settings = _settings(settings_json)
        run, _ = _answer(lambda: service.start_run(current_model(request), prompt, settings, check_seed(seed),
                                                   raw=raw))
        return run.run_to_end().to_json()

    @on_gpu
    def api_chat(message: str, history_json: str = "[]", settings_json: str = "{}", seed: int = 0,
                 request: gr.Request = None) -> str:
        """One chat turn. history_json: [[question, answer], ...]. Returns the reply text."""
        try:
            pairs = parse_history(history_json)
        except (ValueError, TypeError):
            raise gr.Error("history_json must be a JSON list of [question, answer] pairs.") from None
        settings = _settings(settings_json)
        run, _ = _answer(lambda: service.start_run(current_model(request), message, settings, check_seed(seed),
                                                   history=pairs))
        return run.run_to_end().reply

    @on_gpu
    def api_compare(prompt: str, settings_list_json: str, seed: int = 0, request: gr.Request = None) -> str:
        """Run 2-4 settings on one prompt and seed; returns JSON: [{"settings", "stats", "reply"}, ...]."""
        try:
            items = json.loads(settings_list_json)
            assert isinstance(items, list) and 2 <= len(items) <= 4
        except (ValueError, AssertionError):
            raise gr.Error("settings_list_json must be a JSON list of 2 to 4 settings objects.") from None
        chosen = [_settings(json.dumps(item)) for item in items]
        *_, (runs, _) = _answer(lambda: list(service.compare_runs(current_model(request), service.Task(prompt),
                                                                  chosen, check_seed(seed))))
        return json.dumps([{"settings": r.settings.to_dict(), "stats": run_stats(t), "reply": t.reply}
                           for r, t in ((r, r.trajectory()) for r in runs)], ensure_ascii=False)

    @on_gpu
    def api_infill(text: str, settings_json: str = "{}", seed: int = 0, chat_question: str = "",
                   request: gr.Request = None) -> str:
        """Fill the blanks (___) of a text; with chat_question, the text is the answer to it. Returns
        the trajectory JSON (mode "infill")."""
        settings = _settings(settings_json)
        run, _ = _answer(lambda: service.start_infill(current_model(request), text, settings, check_seed(seed),
                                                      question=chat_question or None))
        return run.run_to_end().to_json()

    gr.api(api_generate, api_name="generate")
    gr.api(api_infill, api_name="infill")
    gr.api(api_chat, api_name="chat")
    gr.api(api_compare, api_name="compare")
