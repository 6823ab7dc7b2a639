"""The Lesson tab: guess, step by step, which masked position a recorded run commits next, by
clicking it in the canvas (or choosing its number, for keyboards and screen readers)."""

from __future__ import annotations

import gradio as gr

from ...record.trajectory import Trajectory
from ...render.fragments import canvas_html, why_html
from ...teach.lesson import Lesson
from .. import service
from ..gpu import on_gpu

# A click on a pickable mask in the canvas is sent to the server as a click event with its position.
PICK_JS = ("element.addEventListener('click', (e) => { const b = e.target.closest('[data-pick]'); "
           "if (b) trigger('click', {pos: Number(b.dataset.pick)}); });")


def lesson_view(lesson: Lesson | None, note: str = "") -> dict:
    """What the tab shows for a lesson at its current step, by name."""
    if lesson is None:
        return {"question": "", "canvas": "", "choices": [], "feedback": note, "score": ""}
    at = len(lesson.traj.steps) if lesson.finished else lesson.step
    return {"question": lesson.prompt_text(),
            "canvas": canvas_html(lesson.traj, at, numbered=not lesson.finished, pickable=set(lesson.choices())),
            "choices": lesson.choices(), "feedback": note, "score": f"Score: {lesson.score} / {lesson.answered}"}


class LessonTab:
    def __init__(self, current_model, items: dict, first=None):
        self.current_model, self.items = current_model, items
        gr.Markdown("**Lesson / Ders.** At each step, click the masked position you think the model commits next, "
                    "then see why. · Her adımda modelin sıradaki adımda dolduracağı maskeli konuma tıklayın.")
        lesson = Lesson(first.traj) if first else None
        start = lesson_view(lesson)
        self.state = gr.State(lesson)
        with gr.Row():
            pick = gr.Dropdown(list(items), value=next(iter(items), None), label="run to study (from the gallery)",
                               scale=3)
            lang = gr.Radio(["en", "tr"], value="en", label="language", scale=1)
            begin = gr.Button("Start lesson", variant="primary", scale=1)
            contrast = gr.Button("Contrast: same prompt, left to right (block length 1)", scale=2)
        self.question = gr.Markdown(start["question"])
        self.canvas = gr.HTML(start["canvas"], js_on_load=PICK_JS)
        with gr.Row():
            self.choice = gr.Radio(start["choices"], scale=4, interactive=True,
                                   label="your guess: answer position (or click a masked slot above)")
            check, nxt = gr.Button("Check", scale=1), gr.Button("Next step", scale=1)
        self.feedback, self.score = gr.HTML(), gr.Markdown(start["score"])
        outputs = [self.state, self.question, self.canvas, self.choice, self.feedback, self.score]
        begin.click(self.begin, [pick, lang], outputs, api_visibility="private")
        contrast.click(on_gpu(self.left_to_right), [pick, lang], outputs, api_visibility="private")
        check.click(self.guess, [self.state, self.choice], outputs, api_visibility="private")
        self.canvas.click(self.clicked, self.state, outputs, api_visibility="private")
        nxt.click(self.advance, self.state, outputs, api_visibility="private")

    def show(self, lesson: Lesson, note: str = "") -> dict:
        v = lesson_view(lesson, note)
        return {self.state: lesson, self.question: v["question"], self.canvas: v["canvas"],
                self.choice: gr.Radio(v["choices"], value=None), self.feedback: v["feedback"], self.score: v["score"]}

    def chosen(self, title) -> Trajectory:
        if title not in self.items:
            raise gr.Error("Pick a recorded run first.")
        return Trajectory.load(self.items[title])

    def begin(self, title, language):
        return self.show(Lesson(self.chosen(title), lang=language))

    def left_to_right(self, title, language, request: gr.Request):
        try:
            traj = service.left_to_right(self.current_model(request), self.chosen(title))
        except service.ModelMismatch as exc:
            raise gr.Error(str(exc)) from None
        return self.show(Lesson(traj, lang=language), "Contrast run: block length 1 writes strictly left to right.")

    def guess(self, lesson, pos):
        if lesson is None:
            raise gr.Error("Start a lesson first.")
        if pos is None:
            raise gr.Error("Pick a position first.")
        try:
            _, note = lesson.guess(int(pos))
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        return {self.state: lesson, self.canvas: canvas_html(lesson.traj, lesson.step + 1),
                self.feedback: note + why_html(lesson.traj, lesson.step + 1),
                self.score: f"Score: {lesson.score} / {lesson.answered}"}

    def clicked(self, lesson, event: gr.EventData):
        try:
            pos = event.pos
        except (AttributeError, TypeError):  # a click that carried no position
            pos = None
        return self.guess(lesson, pos)

    def advance(self, lesson):
        if lesson is None:
            raise gr.Error("Start a lesson first.")
        lesson.next()
        return self.show(lesson)


def lesson_tab(current_model, items: dict, first=None) -> LessonTab:
    """`first`: the recorded run the lesson opens on."""
    return LessonTab(current_model, items, first)
