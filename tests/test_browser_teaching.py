"""The teaching tabs in a real browser: headless Chromium (/usr/bin/chromium) driven by Playwright.

Gallery: pick a recorded run, switch the player to the word view, press Play (▶) and watch the
shown step walk from 0 to the last step, the heatmap's rows being the run's words. Lesson: pick a
run, start, guess a masked slot (the guess is checked at once), read the feedback and the score,
go to the next step. Screenshots go to artifacts/screenshots/teach-*.png (git-ignored).
"""

from __future__ import annotations

import re

import pytest

from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.record.words import answer_words
from diffutron_demo.teach.gallery import gallery_items
from diffutron_demo.teach.lesson import Lesson
from tests.helpers_app import running_app, shot

QUESTION = re.compile(r"^Step (\d+) of (\d+): which masked position")
FEEDBACK = re.compile(r"^(✔ Right!|✘ Not this time)")
GALLERY = "document.querySelector('#player-gallery [data-ddp]')"
LESSON = "document.querySelector('#player-lesson [data-ddp]')"


@pytest.fixture(scope="module")
def page(browser, tiny_checkpoint):
    with running_app(tiny_checkpoint) as (demo, url):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_role("tab", name="Gallery").wait_for()
        yield page
        context.close()


def pick_option(page, label: str, option: str) -> None:
    """Choose `option` in the visible dropdown labelled `label` (the canvas's tokens are options
    too, so the list's own option is the one with the exact name, in the list box)."""
    box = page.get_by_label(label, exact=True).filter(visible=True).first
    box.click()
    listed = page.locator("ul[role=listbox] [role=option]")
    listed.filter(has_text=re.compile(f"^\\W*{re.escape(option)}$")).first.click()


@pytest.fixture(scope="module")
def items():
    found = gallery_items()
    assert len(found) >= 2, "the package ships fewer than two gallery runs"
    return found


def test_gallery_plays_a_run_in_the_word_view(page, items):
    page.get_by_role("tab", name="Gallery").click()
    # Not the run the tab opens on: picking another must replace it.
    title = next(t for t in list(items)[1:] if Trajectory.load(items[t]).mode == "generate")
    traj = Trajectory.load(items[title])
    total = len(traj.steps)
    pick_option(page, "recorded run", title)
    page.wait_for_function(f"{GALLERY}.querySelector('.ddp-label').textContent.includes({title!r})")
    assert page.evaluate(f"{GALLERY}.dataset.step") == str(total), "a loaded run shows its last step"
    shot(page, "teach-01-gallery-loaded.png")

    page.select_option("#player-gallery .ddp-view", "words")
    words = [w for w in answer_words(traj) if not w.pads]
    rows = page.evaluate(f"{GALLERY}.__ddpApi.rows()")
    assert rows == [list(w.rows) for w in words], "the heatmap's rows are the run's words (pads folded away)"
    assert any(len(r) > 1 for r in rows), "no word of several pieces: the word view shows nothing new"
    hover = page.evaluate(f"{GALLERY}.__ddpApi.cellText({total}, 0)")
    assert hover[0] == f"Step {total} · {words[0].text}", hover
    shot(page, "teach-02-word-view.png")

    # Every step the player shows while it plays, as the step attribute changes.
    page.evaluate(f"""() => {{ const r = {GALLERY}; window.__played = [];
      new MutationObserver(() => window.__played.push(Number(r.dataset.step)))
        .observe(r, {{attributes: true, attributeFilter: ['data-step']}}); }}""")
    page.select_option("#player-gallery .ddp-speed", "3")  # 20 steps a second
    page.click("#player-gallery .ddp-play")
    assert page.get_attribute("#player-gallery .ddp-play", "aria-pressed") == "true"
    page.wait_for_function("window.__played.length >= 3")
    shot(page, "teach-03-word-view-playing.png")
    page.wait_for_function(f"{GALLERY}.__ddp.timer === null && {GALLERY}.dataset.step === '{total}'", timeout=60_000)
    seen = page.evaluate("window.__played")
    played = [s for k, s in enumerate(seen) if k == 0 or s != seen[k - 1]]
    # Play starts over from step 0 (the player was at the end) and walks up one step at a time.
    assert played == list(range(0, total + 1)), played
    assert page.evaluate(f"{GALLERY}.__ddpApi.rows()") == rows, "the word view stayed on while playing"
    assert page.get_attribute("#player-gallery .ddp-play", "aria-pressed") == "false"
    caption = page.text_content("#player-gallery .ddp-caption")
    assert caption.startswith(f"Step {total} of {total}"), caption
    shot(page, "teach-04-word-view-played.png")


def lesson_title(items) -> str:
    """A run that asks at least two questions, other than the one the Lesson opens on."""
    return next(t for t in list(items)[1:] if len(Lesson(Trajectory.load(items[t])).asked) >= 2)


def question(page) -> tuple[int, int]:
    text = page.text_content("#player-lesson .ddp-question")
    match = QUESTION.match(text)
    assert match, text
    return int(match.group(1)), int(match.group(2))


def test_lesson_guess_check_and_next(page, items):
    page.get_by_role("tab", name="Lesson").click()
    title = lesson_title(items)
    traj = Trajectory.load(items[title])
    asked = Lesson(traj).asked
    pick_option(page, "run to study (from the gallery)", title)
    page.get_by_role("button", name="Start lesson").click()
    page.wait_for_function(f"{LESSON}.querySelector('.ddp-label').textContent === {f'Lesson: {title}'!r}")
    step, total = question(page)
    assert (step, total) == (asked[0] + 1, len(traj.steps))
    assert page.evaluate(f"{LESSON}.__ddpApi.lastStep()") == asked[0], "the steps from the question on stay hidden"
    shot(page, "teach-05-lesson-started.png")

    picks = page.locator("#player-lesson button.ddp-pick")
    assert picks.count() >= 2, "a question offers a choice"
    pick = picks.first
    pos = int(pick.get_attribute("data-pick"))
    pick.click()  # the guess, checked at once
    feedback = page.locator("#player-lesson .ddp-feedback")
    feedback.wait_for()
    text = feedback.inner_text()
    assert FEEDBACK.match(text) and str(pos) in text, text
    rows = {p: i for i, p in enumerate(traj.slots)}
    right = pos in [rows[p] for p in traj.steps[asked[0]].committed]
    assert text.startswith("✔") == right, (text, pos)
    score = page.locator("#player-lesson .ddp-score").inner_text().strip()
    assert score == f"Score: {int(right)} / 1", score
    assert page.locator("#player-lesson button.ddp-pick").count() == 0, "the answer is shown: nothing left to pick"
    page.wait_for_function("document.activeElement && document.activeElement.classList.contains('ddp-next-q')")
    shot(page, "teach-06-lesson-checked.png")

    page.click("#player-lesson .ddp-next-q")
    page.wait_for_function(f"() => !{LESSON}.querySelector('.ddp-feedback')")
    assert question(page) == (asked[1] + 1, len(traj.steps))
    # The feedback is cleared for the new question and the score is kept.
    assert page.locator("#player-lesson .ddp-score").inner_text().strip() == score
    assert page.locator("#player-lesson button.ddp-pick").count() >= 2
    shot(page, "teach-07-lesson-next.png")
