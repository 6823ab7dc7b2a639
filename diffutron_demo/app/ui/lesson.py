"""The Lesson tab: guess, step by step, which masked position a recorded run commits next, in the
player itself: the masked slots to guess are buttons (click, or Tab and Enter), the drafts the model
ranks are shown, then the answer, why (from the record) and the score; focus moves to the next
action. English or Turkish throughout."""

from __future__ import annotations

import gradio as gr

from ...record.trajectory import Trajectory
from ...render.runview import run_value
from ...teach.lesson import Lesson
from .. import edits
from ..gpu import on_gpu
from .viewer import player

HEAD = {"en": "**Lesson.** At each step, pick the masked slot you think the model commits next, then see why.",
        "tr": "**Ders.** Her adımda modelin sıradaki adımda kesinleştireceğini düşündüğünüz maskeli yuvayı seçin, "
              "sonra nedenini görün."}
BUTTONS = {"en": ("Start lesson", "Contrast: same prompt, left to right (block length 1)"),
           "tr": ("Dersi başlat", "Karşılaştır: aynı istem, soldan sağa (blok uzunluğu 1)")}
CONTRAST = {"en": "Contrast run: block length 1 writes strictly left to right.",
            "tr": "Karşılaştırma: blok uzunluğu 1 ile model tam soldan sağa yazar."}
TITLE = {"en": ("Lesson: {}", "Lesson: {}, left to right"), "tr": ("Ders: {}", "Ders: {}, soldan sağa")}


def lesson_value(lesson: Lesson | None, title: str, note: str = "") -> dict | None:
    """The player's value for a lesson at its current step: the run, and the question, picks and feedback."""
    if lesson is None:
        return None
    t = lesson.traj
    quiz = {"step": len(t.steps) if lesson.finished else lesson.step, "picks": lesson.choices(),
            "revealed": lesson.revealed or lesson.finished, "done": lesson.finished,
            "question": lesson.prompt_text(), "feedback": note, "score": lesson.score_text()}
    return run_value(t, label=title, lang=lesson.lang, run_id=f"lesson-{lesson.key}", extra={"quiz": quiz})


class LessonTab:
    def __init__(self, current_model, items: dict, first=None):
        self.current_model, self.items = current_model, items
        self.head = gr.Markdown(HEAD["en"])
        lesson = Lesson(first.traj) if first else None
        self.title = TITLE["en"][0].format(first.title) if first else ""
        self.state = gr.State(lesson)
        with gr.Row():
            pick = gr.Dropdown(list(items), value=next(iter(items), None), label="run to study (from the gallery)",
                               scale=3)
            lang = gr.Radio([("English", "en"), ("Türkçe", "tr")], value="en", label="language / dil", scale=1)
            begin = gr.Button(BUTTONS["en"][0], variant="primary", scale=1)
            contrast = gr.Button(BUTTONS["en"][1], scale=2)
        self.player = player(lesson_value(lesson, self.title), elem_id="player-lesson")
        self.label = gr.State(self.title)
        outputs = [self.state, self.label, self.player]
        begin.click(self.begin, [pick, lang], outputs, api_visibility="private")
        contrast.click(on_gpu(self.left_to_right), [pick, lang], outputs, api_visibility="private")
        self.player.click(self.guess, [self.state, self.label], [self.state, self.player], api_visibility="private")
        self.player.submit(self.advance, [self.state, self.label], [self.state, self.player], api_visibility="private")
        lang.change(lambda code: {self.head: HEAD[code], begin: BUTTONS[code][0], contrast: BUTTONS[code][1]}, lang,
                    [self.head, begin, contrast], queue=False, api_visibility="private")

    def chosen(self, title) -> Trajectory:
        if title not in self.items:
            raise gr.Error("Pick a recorded run first.")
        return Trajectory.load(self.items[title])

    def begin(self, title, language):
        lesson, label = Lesson(self.chosen(title), lang=language), TITLE[language][0].format(title)
        return {self.state: lesson, self.label: label, self.player: lesson_value(lesson, label)}

    def left_to_right(self, title, language, request: gr.Request):
        try:
            traj = edits.left_to_right(self.current_model(request), self.chosen(title))
        except edits.ModelMismatch as exc:
            raise gr.Error(str(exc)) from None
        lesson, label = Lesson(traj, lang=language), TITLE[language][1].format(title)
        return {self.state: lesson, self.label: label, self.player: lesson_value(lesson, label, CONTRAST[language])}

    def guess(self, lesson, label, event: gr.EventData):
        pos = getattr(event, "pos", None)
        if lesson is None or pos is None:
            return {self.state: lesson}  # nothing to guess: everything stays as it is
        try:
            _, note = lesson.guess(int(pos))
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        return {self.state: lesson, self.player: lesson_value(lesson, label, note)}

    def advance(self, lesson, label):
        if lesson is None or lesson.finished:
            return {self.state: lesson}  # nothing to advance: everything stays as it is
        lesson.next()
        return {self.state: lesson, self.player: lesson_value(lesson, label)}


def lesson_tab(current_model, items: dict, first=None) -> LessonTab:
    """`first`: the recorded run the lesson opens on."""
    return LessonTab(current_model, items, first)
