"""Lesson mode on recorded runs: which steps are asked, how guesses score, the end, and the feedback.

Runs come from a tiny checkpoint (saved and loaded back, as the app reads them) and from the
gallery files shipped with the package.
"""

from __future__ import annotations

import copy
import re

import pytest

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.teach.gallery import GALLERY_DIR
from diffutron_demo.teach.lesson import Lesson
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import Run
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import Trajectory

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "</b><script>alert(2)</script>"
GALLERY = sorted(GALLERY_DIR.glob("*.json"))


@pytest.fixture(scope="module")
def recorded(tiny_checkpoints, tmp_path_factory):
    """A run with blocks of 4 (so some steps have a single candidate) at temperature 0.8."""
    lm = load_model(str(tiny_checkpoints[1]), device="cpu", dtype="float32")
    settings = SamplerSettings(steps=12, max_new_tokens=12, block_length=4, temperature=0.8)
    prompt = build_prompt(lm.tokenizer, "Bana kısa bir şiir yazar mısın?", max_new_tokens=12,
                          context_window=lm.context_window)
    traj = Run(lm, prompt.ids, settings, 4, prompt_text=prompt.text).run_to_end()
    path = traj.save(tmp_path_factory.mktemp("lesson") / "run.json")
    return path


@pytest.fixture
def traj(recorded):
    return Trajectory.load(recorded)  # fresh per test: some tests plant text in its pieces


def rows_of(traj: Trajectory) -> dict[int, int]:
    """Canvas position -> answer position: the run's slots (in infill, the blanks), in order."""
    return {p: i for i, p in enumerate(traj.slots)}


def committed_answer_positions(traj: Trajectory, step: int) -> list[int]:
    rows = rows_of(traj)
    return [rows[p] for p in traj.steps[step].committed if p in rows]


def expected_asked(traj: Trajectory) -> list[int]:
    return [i for i, st in enumerate(traj.steps) if len(st.candidates) >= 2 and len(st.committed) >= 1]


def test_asked_holds_exactly_the_steps_with_a_choice(traj):
    lesson = Lesson(traj)
    assert lesson.asked == expected_asked(traj)
    assert lesson.asked, "the run has no step with a choice"
    assert len(lesson.asked) < len(traj.steps), "every step offers a choice: the test run should have single-candidate steps"
    assert not lesson.finished and lesson.score == 0 and lesson.step == lesson.asked[0]


@pytest.mark.parametrize("path", GALLERY, ids=[p.stem for p in GALLERY])
def test_asked_on_the_gallery_runs(path):
    traj = Trajectory.load(path)
    lesson = Lesson(traj)
    assert lesson.asked == expected_asked(traj)
    if not lesson.asked:  # left to right: one candidate per step, nothing to guess
        assert lesson.finished and lesson.choices() == []


@pytest.mark.parametrize("source", ["recorded"] + [p.stem for p in GALLERY])
def test_choices_are_the_masked_candidates_in_canvas_order(recorded, source):
    traj = Trajectory.load(recorded if source == "recorded" else GALLERY_DIR / f"{source}.json")
    lesson = Lesson(traj)
    rows, mask = rows_of(traj), traj.special_ids["mask"]
    while not lesson.finished:
        record = traj.steps[lesson.step]
        choices = lesson.choices()
        assert choices == [rows[c.pos] for c in record.candidates] == sorted(choices)
        assert all(0 <= c < traj.answer_len for c in choices), "choices are answer positions (rows)"
        canvas = traj.canvas_at(lesson.step)
        assert all(canvas[traj.slots[c]] == mask for c in choices), "a choice that is not a mask on the shown canvas"
        lesson.next()


def test_guessing_a_committed_position_scores_one(traj):
    lesson = Lesson(traj)
    committed = committed_answer_positions(traj, lesson.step)
    right, note = lesson.guess(committed[0])
    assert right is True and lesson.score == 1 and lesson.answered == 1
    assert "✔" in note and f"Position {committed[0]}" in note


def test_guessing_a_candidate_that_was_not_committed_scores_zero(traj):
    lesson = Lesson(traj)
    while not lesson.finished:
        committed = set(committed_answer_positions(traj, lesson.step))
        missed = [c for c in lesson.choices() if c not in committed]
        if missed:
            break
        lesson.next()
    else:
        pytest.fail("no asked step has a candidate that was not committed")
    right, note = lesson.guess(missed[0])
    assert right is False and lesson.score == 0 and lesson.answered == 1
    assert "✘" in note
    for pos in committed:
        assert str(pos) in note


def test_a_position_that_is_not_a_candidate_is_refused(traj):
    lesson = Lesson(traj)
    choices = lesson.choices()
    outside = [p for p in range(-1, traj.answer_len + 2) if p not in choices]
    assert outside
    for pos in outside:
        with pytest.raises(ValueError, match="not a masked candidate"):
            lesson.guess(pos)
    assert lesson.score == 0 and lesson.answered == 0 and not lesson.revealed


def test_guessing_twice_on_one_step_is_refused(traj):
    lesson = Lesson(traj)
    lesson.guess(lesson.choices()[0])
    score = lesson.score
    for pos in (lesson.choices()[0], lesson.choices()[-1]):
        with pytest.raises(ValueError, match="already answered"):
            lesson.guess(pos)
    assert lesson.score == score and lesson.answered == 1


@pytest.mark.parametrize("lang, done", [("en", "Lesson finished: {score} of {asked} right."),
                                        ("tr", "Ders bitti: {asked} sorudan {score} doğru.")])
def test_the_end_reports_the_score_of_the_asked_steps(traj, lang, done):
    lesson = Lesson(traj, lang=lang)
    asked = len(lesson.asked)
    assert re.search(r"\d+", lesson.prompt_text())
    assert str(lesson.step + 1) in lesson.prompt_text() and str(len(traj.steps)) in lesson.prompt_text()
    score = 0
    for i in range(asked):
        assert not lesson.finished
        if i % 2 == 0:  # guess on every other step, always a committed position
            right, _ = lesson.guess(committed_answer_positions(traj, lesson.step)[0])
            score += right
        lesson.next()
    assert lesson.finished
    assert lesson.score == score == (asked + 1) // 2
    assert lesson.prompt_text() == done.format(score=score, asked=asked)
    assert lesson.choices() == []
    with pytest.raises(ValueError):
        lesson.guess(0)


@pytest.mark.parametrize("source", ["recorded"] + [p.stem for p in GALLERY])
def test_a_perfect_player_scores_every_asked_step(recorded, source):
    traj = Trajectory.load(recorded if source == "recorded" else GALLERY_DIR / f"{source}.json")
    lesson = Lesson(traj)
    while not lesson.finished:
        right, _ = lesson.guess(committed_answer_positions(traj, lesson.step)[0])
        assert right
        lesson.next()
    assert lesson.score == lesson.answered == len(lesson.asked)


@pytest.mark.parametrize("source", ["recorded"] + [p.stem for p in GALLERY])
def test_the_explanation_counts_what_the_step_committed(recorded, source):
    # "It commits [the] N [most confident] of the M masked positions": N must be what the step
    # committed and M its candidates, and a random draw is called one, whatever the strategy.
    traj = Trajectory.load(recorded if source == "recorded" else GALLERY_DIR / f"{source}.json")
    lesson = Lesson(traj)
    while not lesson.finished:
        record = traj.steps[lesson.step]
        _, note = lesson.guess(lesson.choices()[0])
        match = re.search(r"commits (?:the )?(\d+) (?:most confident )?of the (\d+) masked", note)
        assert match, note
        assert (int(match.group(1)), int(match.group(2))) == (len(record.committed), len(record.candidates)), (
            f"step {lesson.step} ({traj.settings['remasking']}): {note}")
        assert ("random" in note) == (traj.settings["remasking"] == "random"), note
        if traj.settings["remasking"] in ("low_confidence", "factor"):
            assert f"the {len(record.committed)} most confident" in note, note
        lesson.next()


@pytest.mark.parametrize("lang", ["en", "tr"])
def test_feedback_is_plain_text_and_the_player_carries_payloads_as_data(traj, lang):
    """The feedback is plain text (the player shows it with textContent): no markup of its own, and
    the model's text (planted with payloads here) reaches the lesson's player value as exact data;
    the exported page holds it only escaped."""
    from diffutron_demo.app.ui.lesson import lesson_value
    from diffutron_demo.render.export import standalone_html

    for token in list(traj.pieces):
        traj.pieces[token] = IMG if token % 2 else SCRIPT
    traj.prompt = copy.deepcopy(traj.prompt) | {"text": IMG}
    lesson = Lesson(traj, lang=lang)
    while not lesson.finished:
        step = lesson.step
        committed = set(committed_answer_positions(traj, step))
        guess = next((c for c in lesson.choices() if c not in committed), lesson.choices()[0])
        _, note = lesson.guess(guess)
        assert "<" not in note and ">" not in note and "&lt;" not in note, note
        value = lesson_value(lesson, "Lesson: planted", note)
        quiz = value["quiz"]
        assert quiz["feedback"] == note and quiz["step"] == step and quiz["revealed"]
        assert quiz["picks"] == lesson.choices() and quiz["question"] == lesson.prompt_text()
        assert all(traj.pieces[int(t)] == p for t, p in value["pieces"].items())
        lesson.next()
    page = standalone_html(traj)
    data = page.split('<script id="data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert "alert(" in data and "<" not in data


@pytest.mark.parametrize("lang, words", [("en", "left to right"), ("tr", "soldan sağa")])
def test_a_left_to_right_run_has_nothing_to_guess_and_says_so(tiny_checkpoints, lang, words):
    lm = load_model(str(tiny_checkpoints[1]), device="cpu", dtype="float32")
    settings = SamplerSettings(steps=8, max_new_tokens=8, block_length=1, temperature=0.0)
    prompt = build_prompt(lm.tokenizer, "Merhaba", max_new_tokens=8, context_window=lm.context_window)
    lesson = Lesson(Run(lm, prompt.ids, settings, 0).run_to_end(), lang=lang)
    assert lesson.asked == [] and lesson.finished
    assert words in lesson.prompt_text()
