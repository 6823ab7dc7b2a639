"""The Gradio Blocks app: chat, the live heatmap, replay, compare, learn. Wiring only.

Every handler here turns component values into calls of `service`, `figures` and `html_views`,
and their results back into component values.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr

from ...render import figures

from ...render import fragments as html_views
from ...core.chat import PromptError, encode_text
from ...render.export import gif_bytes, standalone_html
from ...teach.gallery import gallery_items
from ...teach.learn import LEARN_MD
from ...teach.lesson import Lesson
from ...core.models import ModelLoadError
from ...core.sampler import Run
from ..service import ModelManager, compare_runs, start_run
from ...settings import DEFAULT_PRESET, HELP, LIMITS, PRESETS, REMASKING, SamplerSettings, SettingsError, check_seed
from ...record.trajectory import Trajectory, TrajectoryError
from ...record.cells import run_stats

try:  # ZeroGPU on Hugging Face Spaces: generation runs inside spaces.GPU; elsewhere a no-op
    import spaces

    on_gpu = spaces.GPU
except ImportError:
    def on_gpu(fn):
        return fn

KNOBS = ["steps", "max_new_tokens", "block_length", "temperature", "repetition_penalty", "remasking",
         "stochastic_transfer", "cfg_scale", "threshold", "factor", "early_stop"]
FRAME_INTERVAL_S = 0.12  # at most ~8 live frames a second, so the browser keeps up
EXAMPLES = ["Türkiye'nin başkenti neresidir?", "Bana kısa bir şiir yazar mısın?",
            "Yapay zekâ nedir? Kısaca açıkla.", "İstanbul hakkında üç cümle yaz."]
_STOPS: dict[str, threading.Event] = {}


def _stop_event(request: gr.Request | None) -> threading.Event:
    key = getattr(request, "session_hash", None)
    if key is None:  # no session: a flag of its own, never one shared by everyone
        return threading.Event()
    return _STOPS.setdefault(key, threading.Event())


def _forget_session(request: gr.Request):
    _STOPS.pop(getattr(request, "session_hash", None), None)


# -- settings -------------------------------------------------------------------------------------
def settings_panel(prefix: str = "") -> dict:
    """The sampler's knobs, with ranges and help; returns {name: component}."""
    d = PRESETS[DEFAULT_PRESET]
    c = {}
    c["preset"] = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Preset",
                              info="The model card's recommended settings are the default.")
    with gr.Row():
        for name in ("steps", "max_new_tokens", "block_length"):
            low, high = LIMITS[name]
            c[name] = gr.Number(getattr(d, name), label=name.replace("_", " "), info=HELP[name], precision=0,
                                minimum=low, maximum=min(high, 256))
    with gr.Row():
        c["temperature"] = gr.Slider(0, 2, value=d.temperature, step=0.05, label="temperature", info=HELP["temperature"])
        c["repetition_penalty"] = gr.Slider(1, 2, value=d.repetition_penalty, step=0.05, label="repetition penalty",
                                            info=HELP["repetition_penalty"])
        c["cfg_scale"] = gr.Slider(0, 5, value=d.cfg_scale, step=0.1, label="CFG scale", info=HELP["cfg_scale"])
    with gr.Row():
        c["remasking"] = gr.Dropdown(list(REMASKING), value=d.remasking, label="remasking", info=HELP["remasking"])
        c["threshold"] = gr.Slider(0.05, 1, value=d.threshold, step=0.05, label="threshold", info=HELP["threshold"])
        c["factor"] = gr.Slider(0.1, 5, value=d.factor, step=0.1, label="factor", info=HELP["factor"])
    with gr.Row():
        c["stochastic_transfer"] = gr.Checkbox(d.stochastic_transfer, label="stochastic transfer",
                                               info=HELP["stochastic_transfer"])
        c["early_stop"] = gr.Checkbox(d.early_stop, label="early stop", info=HELP["early_stop"])
        c["seed"] = gr.Number(0, label="seed", precision=0, minimum=0, info="Same seed + settings = same run.")
    c["error"] = gr.Markdown(elem_classes=["dd-settings-error"])
    c["preset"].change(lambda p: [getattr(PRESETS[p], k) for k in KNOBS], c["preset"], [c[k] for k in KNOBS],
                       api_visibility="private", queue=False)
    return c


def read_settings(values: list) -> tuple[SamplerSettings, int]:
    """Knob values (in KNOBS order, then seed) -> validated settings and seed; raises SettingsError."""
    settings = SamplerSettings.from_dict(dict(zip(KNOBS, values[: len(KNOBS)])))
    return settings, check_seed(values[len(KNOBS)])


def _error_md(exc: Exception) -> str:
    where = f"**{exc.field.replace('_', ' ')}**: " if isinstance(exc, SettingsError) else ""
    return f"⚠️ {where}{html.escape(str(exc))}"


# -- the run viewer (shared by Chat and Replay) ---------------------------------------------------
class Viewer:
    """Heatmap (token or word view), step slider with play, canvas, "why this step", a position's
    history, the commit-order view, branching from any step, and exports."""

    def __init__(self, traj_state: gr.State, manager: ModelManager | None = None):
        self.state = traj_state
        self.view = gr.Radio(["tokens", "words"], value="tokens", label="view",
                             info="Words: pieces merged (ev+ler+imiz+den); a word is as sure as its least sure piece.")
        self.heatmap = gr.Plot(label="Denoising trajectory: rows = answer positions, columns = steps")
        with gr.Row():
            self.play = gr.Button("▶ Play", size="sm", scale=0, min_width=90)
            self.slider = gr.Slider(0, 1, value=0, step=1, label="step", interactive=True, scale=8)
        self.canvas = gr.HTML(label="canvas at this step")
        with gr.Accordion("Why this step", open=True):
            self.why = gr.HTML()
        with gr.Accordion("A position's history", open=False):
            self.position = gr.Number(0, label="answer position (row number on the heatmap)", precision=0, minimum=0)
            self.history = gr.HTML()
        with gr.Accordion("How left-to-right was it?", open=False):
            self.order = gr.HTML()
            self.chart = gr.Plot(label="per step: mean confidence and tokens committed")
        if manager is not None:
            self._branch_panel(manager)
        with gr.Accordion("Download / export", open=False):
            self.export_btn = gr.Button("Export trajectory JSON, HTML player and GIF", size="sm")
            self.files = gr.File(label="exports", file_count="multiple", interactive=False)

        step_inputs = [self.state, self.slider, self.view]
        self.slider.release(self.show_step, step_inputs, self.step_outputs, api_visibility="private")
        self.view.change(self.show_step, step_inputs, self.step_outputs, api_visibility="private")
        self.position.change(self.show_history, [self.state, self.position], self.history, api_visibility="private")
        self.play.click(self.play_steps, step_inputs, self.step_outputs + [self.slider], api_visibility="private")
        self.export_btn.click(self.export, self.state, self.files, api_visibility="private")

    def _branch_panel(self, manager: ModelManager):
        with gr.Accordion("What if? Branch from a step", open=False):
            gr.Markdown("Continue this run from the canvas at a step with other settings, or pin a token at a "
                        "position. With unchanged settings at temperature 0 the branch repeats the run exactly.")
            with gr.Row():
                at = gr.Number(0, label="branch from step", precision=0, minimum=0)
                temperature = gr.Number(None, label="temperature (empty = same)")
                remasking = gr.Dropdown([""] + list(REMASKING), value="", label="remasking (empty = same)")
                block = gr.Number(None, label="block length (empty = same)", precision=0)
            with gr.Row():
                pin_pos = gr.Number(None, label="pin at answer position (optional)", precision=0)
                pin_text = gr.Textbox(label="pinned text (its tokens fill from that position)")
                go_btn = gr.Button("Branch", variant="primary")
            self.branch_plot = gr.Plot(label="the branch")
            self.branch_note = gr.HTML()

        def branch(traj, step, temp, remask, block_len, pos, text):
            if traj is None:
                raise gr.Error("Run or load a trajectory first.")
            if traj.model.get("name") != manager.lm.name:
                raise gr.Error(f"This run was made with {traj.model.get('name')}; load that model to branch it.")
            changes = {k: v for k, v in (("temperature", temp), ("remasking", remask), ("block_length", block_len))
                       if v not in (None, "")}
            try:
                settings = SamplerSettings.from_dict({**traj.settings, **changes})
                pins = {}
                if pos is not None and text:
                    ids = encode_text(manager.lm.tokenizer, text)
                    pins = {int(pos) + i: t for i, t in enumerate(ids)}
                run = Run.branch(manager.lm, traj, int(step or 0), settings, pins=pins)
            except (SettingsError, ValueError) as exc:
                raise gr.Error(str(exc)) from None
            result = run.run_to_end()
            index = traj.add_branch(result, int(step or 0), pins)
            view = traj.branch(index)
            note = (f"<b>Branch {index + 1}</b> from step {int(step or 0)}: "
                    + html_views.diff_html(traj.reply, view.reply))
            return traj, figures.heatmap_figure(view, split_step=int(step or 0)), note

        go_btn.click(on_gpu(branch), [self.state, at, temperature, remasking, block, pin_pos, pin_text],
                     [self.state, self.branch_plot, self.branch_note], api_visibility="private")
        self.slider.release(lambda s: s, self.slider, at, api_visibility="private", queue=False)

    @property
    def step_outputs(self) -> list:
        return [self.heatmap, self.canvas, self.why]

    @property
    def all_outputs(self) -> list:
        return [self.heatmap, self.canvas, self.why, self.slider, self.order, self.chart, self.history, self.view]

    @staticmethod
    def show_step(traj: Trajectory | None, step, view="tokens"):
        if traj is None:
            return None, "", ""
        step = int(min(max(step or 0, 0), len(traj.steps)))
        if view == "words":
            return (figures.word_heatmap_figure(traj, marker_step=step or None),
                    html_views.word_canvas_html(traj, step), html_views.why_html(traj, step))
        return (figures.heatmap_figure(traj, marker_step=step or None), html_views.canvas_html(traj, step),
                html_views.why_html(traj, step))

    def play_steps(self, traj: Trajectory | None, start, view="tokens"):
        if traj is None or not traj.steps:
            yield None, "", "", 0
            return
        start = int(start or 0)
        start = 0 if start >= len(traj.steps) else start
        every = max(1, len(traj.steps) // 64)
        for step in list(range(start + 1, len(traj.steps), every)) + [len(traj.steps)]:
            yield (*self.show_step(traj, step, view), step)
            time.sleep(FRAME_INTERVAL_S)

    @staticmethod
    def show_history(traj: Trajectory | None, pos):
        if traj is None:
            return ""
        return html_views.history_html(traj, int(pos or 0))

    @classmethod
    def finished(cls, traj: Trajectory):
        """Values for all_outputs once a run is complete (or loaded); the view resets to tokens."""
        n = len(traj.steps)
        return (figures.heatmap_figure(traj), html_views.canvas_html(traj, n), html_views.why_html(traj, n),
                gr.Slider(0, max(n, 1), value=n, step=1), html_views.commit_order_html(traj),
                figures.step_chart(traj), html_views.history_html(traj, 0), "tokens")

    @staticmethod
    def export(traj: Trajectory | None):
        if traj is None:
            raise gr.Error("Nothing to export yet: run or load a trajectory first.")
        folder = Path(tempfile.mkdtemp(prefix="diffutron-export-"))
        paths = [traj.save(folder / "trajectory.json")]
        (folder / "trajectory-player.html").write_text(standalone_html(traj), encoding="utf-8")
        (folder / "trajectory.gif").write_bytes(gif_bytes(traj))
        return [str(p) for p in (paths[0], folder / "trajectory-player.html", folder / "trajectory.gif")]


# -- chat -----------------------------------------------------------------------------------------
def chat_tab(manager: ModelManager):
    history_state = gr.State([])  # the real (question, answer) pairs; the Chatbot shows escaped text
    traj_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=4):
            chatbot = gr.Chatbot(label="Chat", height=420, render_markdown=False, sanitize_html=True,
                                 buttons=["copy"], feedback_options=None)
            message = gr.Textbox(label="Message", placeholder="Türkçe bir soru yazın…", lines=2, max_lines=8)
            with gr.Row():
                send = gr.Button("Send", variant="primary")
                stop = gr.Button("Stop", variant="stop")
                clear = gr.Button("Clear")
            gr.Examples(EXAMPLES, inputs=message, label="Examples")
            raw = gr.Checkbox(False, label="raw text (no chat template)",
                              info="Continue the text as typed, like dllm's --chat False.")
            context = gr.HTML()
            status = gr.Markdown()
            with gr.Accordion("Settings", open=False):
                knobs = settings_panel()
        with gr.Column(scale=6):
            viewer = Viewer(traj_state, manager)

    inputs = [message, chatbot, history_state, raw] + [knobs[k] for k in KNOBS] + [knobs["seed"]]
    outputs = [chatbot, history_state, message, traj_state, context, status, knobs["error"]] + viewer.all_outputs

    @on_gpu
    def respond(request: gr.Request, text, shown, pairs, raw_mode, *values):
        idle = [gr.skip()] * len(viewer.all_outputs)
        try:
            settings, seed = read_settings(list(values))
        except SettingsError as exc:
            yield shown, pairs, text, gr.skip(), gr.skip(), "", _error_md(exc), *idle
            return
        lm = manager.lm
        try:
            run, prompt = start_run(lm, text, settings, seed, history=pairs, raw=raw_mode)
        except (PromptError, SettingsError) as exc:
            yield shown, pairs, text, gr.skip(), gr.skip(), "", _error_md(exc), *idle
            return
        stop_flag = _stop_event(request)
        stop_flag.clear()
        bar = html_views.context_bar_html(prompt.history_tokens, prompt.question_tokens, settings.max_new_tokens,
                                          lm.context_window, prompt.dropped_turns)
        shown = list(shown or []) + [{"role": "user", "content": html.escape(text)},
                                     {"role": "assistant", "content": "… (denoising)"}]
        yield shown, pairs, "", None, bar, "Starting…", "", *idle
        last_frame, draw_s, model_s = 0.0, 0.0, 0.0
        expected = settings.num_blocks * settings.steps_per_block
        for record in run:
            model_s += record.step_ms / 1000
            if stop_flag.is_set():
                run.cancel()
                break
            now = time.perf_counter()
            if now - last_frame < FRAME_INTERVAL_S:
                continue
            t0 = time.perf_counter()
            partial = run.trajectory()
            fig = figures.heatmap_figure(partial, total_steps=expected)
            canvas = html_views.canvas_html(partial, len(partial.steps))
            draw_s += time.perf_counter() - t0
            last_frame = time.perf_counter()
            n = len(partial.steps)
            line = (f"step {n} of ~{expected} · model {model_s / n:.3f} s/step · "
                    f"drawing {draw_s:.2f} s so far")
            yield (shown, pairs, "", None, bar, line, "", fig, canvas, gr.skip(),
                   gr.Slider(0, max(n, 1), value=n, step=1), gr.skip(), gr.skip(), gr.skip(), "tokens")
        traj = run.trajectory()
        reply = traj.reply
        label = ""
        if traj.stop_reason == "cancelled":
            label = f"\n\n⏹ stopped at step {len(traj.steps)} of ~{expected}: partial answer"
        shown[-1] = {"role": "assistant", "content": html.escape(reply.strip() or "(empty answer)") + label}
        pairs = list(prompt.history) + [(text, reply)]
        n = len(traj.steps)
        summary = (f"{n} steps · model {model_s:.2f} s ({model_s / max(n, 1):.3f} s/step) · "
                   f"drawing {draw_s:.2f} s · stop: {traj.stop_reason}")
        yield shown, pairs, "", traj, bar, summary, "", *Viewer.finished(traj)

    def request_stop(request: gr.Request = None):
        _stop_event(request).set()

    send.click(respond, inputs, outputs, api_visibility="private")
    message.submit(respond, inputs, outputs, api_visibility="private")
    stop.click(request_stop, None, None, queue=False, api_visibility="private")
    clear.click(lambda: ([], [], None, "", "", ""), None, [chatbot, history_state, traj_state, context, status,
                                                         viewer.canvas],
                api_visibility="private", queue=False)


# -- replay ---------------------------------------------------------------------------------------
def replay_tab(manager: ModelManager):
    traj_state = gr.State(None)
    gr.Markdown("Load a trajectory JSON (downloaded from a run here, or made with "
                "`python -m diffutron_demo generate --out run.json`) and replay it. No model is needed.")
    upload = gr.File(label="trajectory JSON", file_types=[".json"], type="binary")
    message = gr.Markdown()
    viewer = Viewer(traj_state, manager)

    def load(data):
        if data is None:
            return None, "", *[gr.skip()] * len(viewer.all_outputs)
        try:
            traj = Trajectory.from_json(data)
            shown = Viewer.finished(traj)
        except TrajectoryError as exc:
            return None, f"⚠️ Can't replay this file: {html.escape(str(exc))}", *[gr.skip()] * len(viewer.all_outputs)
        except Exception:  # noqa: BLE001 - loaded, but the pictures can't be drawn from it
            return (None, "⚠️ Can't replay this file: it is not a trajectory this version can draw.",
                    *[gr.skip()] * len(viewer.all_outputs))
        name = traj.model["name"].replace("`", "'")  # a code span shows its text as is
        note = f"Loaded: {len(traj.steps)} steps, {traj.answer_len} answer positions, model `{name}`."
        return traj, note, *shown

    upload.change(load, upload, [traj_state, message] + viewer.all_outputs, api_visibility="private")


# -- gallery --------------------------------------------------------------------------------------
def gallery_tab(manager: ModelManager, items: dict):
    gr.Markdown("Recorded runs that play at once, with no model and no queue. Pick one, then press ▶ Play; "
                "switch to the word view to see whole Turkish words fill in.")
    traj_state = gr.State(None)
    pick = gr.Dropdown(list(items), value=None, label="recorded run")
    viewer = Viewer(traj_state, manager)

    def load(title):
        if title not in items:
            return None, *[gr.skip()] * len(viewer.all_outputs)
        traj = Trajectory.load(items[title])
        return traj, *Viewer.finished(traj)

    pick.change(load, pick, [traj_state] + viewer.all_outputs, api_visibility="private")


# -- lesson ---------------------------------------------------------------------------------------
def lesson_tab(manager: ModelManager, items: dict):
    gr.Markdown("**Lesson / Ders.** At each step, guess which masked position the model commits next, then "
                "see why. · Her adımda modelin sıradaki adımda hangi maskeli konumu dolduracağını tahmin edin.")
    lesson_state = gr.State(None)
    with gr.Row():
        pick = gr.Dropdown(list(items), value=None, label="run to study (from the gallery)", scale=3)
        lang = gr.Radio(["en", "tr"], value="en", label="language", scale=1)
        start = gr.Button("Start lesson", variant="primary", scale=1)
        contrast = gr.Button("Contrast: same prompt, left to right (block length 1)", scale=2)
    question = gr.Markdown()
    canvas = gr.HTML()
    choice = gr.Radio([], label="your guess: answer position", interactive=True)
    with gr.Row():
        check = gr.Button("Check")
        nxt = gr.Button("Next step")
    feedback = gr.HTML()
    score = gr.Markdown()
    outputs = [lesson_state, question, canvas, choice, feedback, score]

    def show(lesson: Lesson, note: str = ""):
        if lesson.finished:
            return lesson, lesson.prompt_text(), html_views.canvas_html(lesson.traj, len(lesson.traj.steps)), \
                gr.Radio([], value=None), note, f"Score: {lesson.score} / {lesson.answered}"
        return (lesson, lesson.prompt_text(), html_views.canvas_html(lesson.traj, lesson.step, numbered=True),
                gr.Radio(lesson.choices(), value=None), note, f"Score: {lesson.score} / {lesson.answered}")

    def begin(title, language):
        if title not in items:
            raise gr.Error("Pick a recorded run first.")
        return show(Lesson(Trajectory.load(items[title]), lang=language))

    def left_to_right(title, language):
        if title not in items:
            raise gr.Error("Pick a recorded run first.")
        base = Trajectory.load(items[title])
        settings = SamplerSettings.from_dict({**base.settings, "block_length": 1})
        if base.model.get("name") != manager.lm.name:
            raise gr.Error(f"This run was made with {base.model.get('name')}; load that model for a contrast run.")
        traj = Run(manager.lm, base.prompt_ids, settings, base.seed,
                   prompt_text=base.prompt.get("text", "")).run_to_end()
        return show(Lesson(traj, lang=language), "Contrast run: block length 1 writes strictly left to right.")

    def guess(lesson, pos):
        if lesson is None:
            raise gr.Error("Start a lesson first.")
        if pos is None:
            raise gr.Error("Pick a position first.")
        try:
            _, note = lesson.guess(int(pos))
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        after = html_views.canvas_html(lesson.traj, lesson.step + 1)
        return lesson, gr.skip(), after, gr.skip(), note + html_views.why_html(lesson.traj, lesson.step + 1), \
            f"Score: {lesson.score} / {lesson.answered}"

    def advance(lesson):
        if lesson is None:
            raise gr.Error("Start a lesson first.")
        lesson.next()
        return show(lesson)

    start.click(begin, [pick, lang], outputs, api_visibility="private")
    contrast.click(on_gpu(left_to_right), [pick, lang], outputs, api_visibility="private")
    check.click(guess, [lesson_state, choice], outputs, api_visibility="private")
    nxt.click(advance, lesson_state, outputs, api_visibility="private")


# -- compare --------------------------------------------------------------------------------------
COMPARE_KNOBS = ["steps", "max_new_tokens", "block_length", "temperature", "remasking", "threshold"]
COMPARE_PRESETS = ["dllm (model card)", "fast: threshold 0.9", "left to right", "greedy"]


def compare_tab(manager: ModelManager):
    with gr.Row():
        prompt = gr.Textbox(EXAMPLES[0], label="Prompt (the same for every column)", scale=6)
        seed = gr.Number(0, label="seed", precision=0, minimum=0, scale=1)
        run_btn = gr.Button("Run all", variant="primary", scale=1)
    columns = []
    with gr.Row():
        for i in range(4):
            with gr.Column(min_width=220):
                col = {"on": gr.Checkbox(i < 2, label=f"column {i + 1}")}
                col["preset"] = gr.Dropdown(list(PRESETS), value=COMPARE_PRESETS[i], label="preset")
                start = PRESETS[COMPARE_PRESETS[i]]
                for name in COMPARE_KNOBS:
                    if name == "remasking":
                        col[name] = gr.Dropdown(list(REMASKING), value=start.remasking, label=name)
                    else:
                        col[name] = gr.Number(getattr(start, name), label=name.replace("_", " "))
                col["preset"].change(lambda p: [getattr(PRESETS[p], k) for k in COMPARE_KNOBS], col["preset"],
                                     [col[k] for k in COMPARE_KNOBS], api_visibility="private", queue=False)
                col["plot"] = gr.Plot(label=f"column {i + 1}")
                col["answer"] = gr.HTML()
                columns.append(col)
    slider = gr.Slider(0, 1, value=0, step=1, label="shared step")
    table = gr.Dataframe(label="comparison", interactive=False)
    note = gr.Markdown()
    runs_state = gr.State([])

    inputs = [prompt, seed] + [col[k] for col in columns for k in ["on", "preset"] + COMPARE_KNOBS]
    plots = [col["plot"] for col in columns]
    answers = [col["answer"] for col in columns]

    @on_gpu
    def run_all(text, seed_value, *values):
        width = 2 + len(COMPARE_KNOBS)
        chosen, labels = [], []
        try:
            for i in range(4):
                on, preset, *knobs = values[i * width : (i + 1) * width]
                if on:
                    base = PRESETS[preset].to_dict()
                    base.update(dict(zip(COMPARE_KNOBS, knobs)))
                    chosen.append(SamplerSettings.from_dict(base))
                    labels.append(f"column {i + 1}: {preset}")
            if not 2 <= len(chosen) <= 4:
                raise SettingsError("on", "Tick 2 to 4 columns to compare.")
            if seed_value is None or not float(seed_value).is_integer() or seed_value < 0:
                raise SettingsError("seed", "Seed must be a whole number from 0 up.")
            stream = compare_runs(manager.lm, text, chosen, int(seed_value))
            runs, stepped = next(stream)
        except (SettingsError, PromptError) as exc:
            yield [], *[gr.skip()] * 8, gr.skip(), gr.skip(), _error_md(exc)
            return
        last = 0.0
        for runs, stepped in stream:
            if stepped and time.perf_counter() - last < FRAME_INTERVAL_S * len(runs):
                continue
            trajs = [r.trajectory() for r in runs]
            figs = [figures.heatmap_figure(t, title=l) for t, l in zip(trajs, labels)] + [None] * (4 - len(trajs))
            texts = [html_views.diff_html(trajs[0].reply, t.reply) for t in trajs] + [""] * (4 - len(trajs))
            last = time.perf_counter()
            if not stepped:
                rows = [{"run": l, **run_stats(t)} for l, t in zip(labels, trajs)]
                steps = max(len(t.steps) for t in trajs)
                yield (trajs, *figs, *texts, gr.Slider(0, max(steps, 1), value=steps, step=1), rows,
                       "Answers: words that differ from column 1 are highlighted.")
            else:
                yield trajs, *figs, *texts, gr.skip(), gr.skip(), "running…"

    def show_shared(trajs, step):
        step = int(step or 0)
        figs = [figures.heatmap_figure(t, marker_step=min(step, len(t.steps)) or None) for t in trajs]
        texts = [html_views.canvas_html(t, min(step, len(t.steps))) for t in trajs]
        return *(figs + [None] * (4 - len(figs))), *(texts + [""] * (4 - len(texts)))

    run_btn.click(run_all, inputs, [runs_state] + plots + answers + [slider, table, note], api_visibility="private")
    slider.release(show_shared, [runs_state, slider], plots + answers, api_visibility="private")


# -- API (gradio_client) --------------------------------------------------------------------------
def register_api(manager: ModelManager):
    @on_gpu
    def api_generate(prompt: str, settings_json: str = "{}", seed: int = 0, raw: bool = False) -> str:
        """Generate one answer; returns the trajectory JSON (schema in docs/trajectory.md)."""
        settings = _api_settings(settings_json)
        run, _ = _api_start(manager, prompt, settings, seed, raw=raw)
        return run.run_to_end().to_json()

    @on_gpu
    def api_chat(message: str, history_json: str = "[]", settings_json: str = "{}", seed: int = 0) -> str:
        """One chat turn. history_json: [[question, answer], ...]. Returns the reply text."""
        try:
            items = json.loads(history_json or "[]")
            if not isinstance(items, list) or not all(isinstance(p, list) and len(p) == 2 for p in items):
                raise ValueError
            pairs = [(str(q), str(a)) for q, a in items]
        except (ValueError, TypeError):
            raise gr.Error("history_json must be a JSON list of [question, answer] pairs.") from None
        run, _ = _api_start(manager, message, _api_settings(settings_json), seed, history=pairs)
        return run.run_to_end().reply

    @on_gpu
    def api_compare(prompt: str, settings_list_json: str, seed: int = 0) -> str:
        """Run 2-4 settings on one prompt and seed; returns JSON: [{"settings", "stats", "reply"}, ...]."""
        try:
            items = json.loads(settings_list_json)
            assert isinstance(items, list) and 2 <= len(items) <= 4
        except (ValueError, AssertionError):
            raise gr.Error("settings_list_json must be a JSON list of 2 to 4 settings objects.") from None
        chosen = [_api_settings(json.dumps(item)) for item in items]
        try:
            *_, (runs, _) = compare_runs(manager.lm, prompt, chosen, _api_seed(seed))
        except (PromptError, SettingsError) as exc:
            raise gr.Error(str(exc)) from None
        return json.dumps([{"settings": r.settings.to_dict(), "stats": run_stats(t), "reply": t.reply}
                           for r, t in ((r, r.trajectory()) for r in runs)], ensure_ascii=False)

    gr.api(api_generate, api_name="generate")
    gr.api(api_chat, api_name="chat")
    gr.api(api_compare, api_name="compare")


def _api_settings(settings_json: str) -> SamplerSettings:
    try:
        values = json.loads(settings_json or "{}")
        if not isinstance(values, dict):
            raise ValueError
    except ValueError:
        raise gr.Error("settings_json must be a JSON object such as {\"steps\": 64}.") from None
    try:
        return SamplerSettings.from_dict(values)
    except SettingsError as exc:
        raise gr.Error(str(exc)) from None


def _api_seed(seed) -> int:
    try:
        return check_seed(seed)
    except SettingsError as exc:
        raise gr.Error(str(exc)) from None


def _api_start(manager, text, settings, seed, **kw):
    try:
        return start_run(manager.lm, text, settings, _api_seed(seed), **kw)
    except (PromptError, SettingsError) as exc:
        raise gr.Error(str(exc)) from None


# -- the app --------------------------------------------------------------------------------------
def build_app(manager: ModelManager) -> gr.Blocks:
    items = gallery_items()
    with gr.Blocks(title="diffutron-demo: watch a masked diffusion LM write") as demo:
        gr.Markdown("# Diffutron: watch a masked diffusion language model write\n"
                    "It starts from a canvas of masks and fills it over many steps, most confident "
                    "positions first, block by block.")
        with gr.Row():
            banner = gr.HTML(_banner(manager))
            # The model is shared by every visitor: a public Space can lock it (DIFFUTRON_LOCK_MODEL=1).
            locked = os.environ.get("DIFFUTRON_LOCK_MODEL", "").lower() in ("1", "true", "yes")
            picker = gr.Dropdown(manager.choices(), value=manager.lm.name if manager.lm else None,
                                 label="model", scale=0, min_width=320, interactive=not locked)
            int8 = gr.Checkbox(manager.int8, label="int8 on CPU (faster, approximate)", scale=0, min_width=200,
                               interactive=not locked,
                               info="Quantized linear layers, about 3x faster for the 307M model on a 2-core "
                                    "CPU (the small demo model always runs exact). Approximate, and the answers "
                                    "differ: on a trained model (the demo's, 20 prompts, temperature 0) int8 "
                                    "picks the same top token as the exact path at 88% of masked positions of "
                                    "the same canvas, but one different commit changes every later step, so "
                                    "only 44% of answer tokens and 0 of 20 replies came out equal (python -m "
                                    "benchmarks.generate --agreement-model ...). Untick for the exact path.")
        with gr.Tabs():
            with gr.Tab("Chat"):
                chat_tab(manager)
            with gr.Tab("Replay"):
                replay_tab(manager)
            with gr.Tab("Gallery"):
                gallery_tab(manager, items)
            with gr.Tab("Lesson"):
                lesson_tab(manager, items)
            with gr.Tab("Compare"):
                compare_tab(manager)
            with gr.Tab("Learn"):
                gr.Markdown(LEARN_MD)
        register_api(manager)

        def switch(name, quantized):
            manager.int8 = bool(quantized)
            try:
                manager.load(name)
            except ModelLoadError as exc:  # even the fallback failed
                return f'<div class="dd-banner">⚠️ {html.escape(str(exc))}</div>'
            return _banner(manager)

        picker.change(switch, [picker, int8], banner, api_visibility="private")
        int8.change(switch, [picker, int8], banner, api_visibility="private")
        # The compiled encoder checks each graph on first use: a page load shows what it found.
        demo.load(lambda: _banner(manager), None, banner, api_visibility="private")
        demo.unload(_forget_session)
    return demo


def _banner(manager: ModelManager) -> str:
    return f'<div class="dd-banner">{html.escape(manager.banner_now)}</div>' if manager.is_demo else \
        f"<div>{html.escape(manager.banner_now)}</div>"
