"""The Lesson tab: guess, step by step, which masked position a recorded run commits next."""

from __future__ import annotations

import gradio as gr

from ...record.trajectory import Trajectory
from ...render.fragments import canvas_html, why_html
from ...teach.lesson import Lesson
from .. import service
from ..gpu import on_gpu


def lesson_tab(current_model, items: dict):
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

    def show(lesson: Lesson, note: str = "") -> dict:
        at = len(lesson.traj.steps) if lesson.finished else lesson.step
        return {lesson_state: lesson, question: lesson.prompt_text(),
                canvas: canvas_html(lesson.traj, at, numbered=not lesson.finished),
                choice: gr.Radio(lesson.choices(), value=None), feedback: note,
                score: f"Score: {lesson.score} / {lesson.answered}"}

    def chosen(title) -> Trajectory:
        if title not in items:
            raise gr.Error("Pick a recorded run first.")
        return Trajectory.load(items[title])

    def begin(title, language):
        return show(Lesson(chosen(title), lang=language))

    @on_gpu
    def left_to_right(title, language, request: gr.Request):
        try:
            traj = service.left_to_right(current_model(request), chosen(title))
        except service.ModelMismatch as exc:
            raise gr.Error(str(exc)) from None
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
        return {lesson_state: lesson, canvas: canvas_html(lesson.traj, lesson.step + 1),
                feedback: note + why_html(lesson.traj, lesson.step + 1),
                score: f"Score: {lesson.score} / {lesson.answered}"}

    def advance(lesson):
        if lesson is None:
            raise gr.Error("Start a lesson first.")
        lesson.next()
        return show(lesson)

    start.click(begin, [pick, lang], outputs, api_visibility="private")
    contrast.click(left_to_right, [pick, lang], outputs, api_visibility="private")
    check.click(guess, [lesson_state, choice], outputs, api_visibility="private")
    nxt.click(advance, lesson_state, outputs, api_visibility="private")
