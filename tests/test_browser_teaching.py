"""The teaching tabs in a real browser: headless Chromium (/usr/bin/chromium) driven by Playwright.

Gallery: pick a recorded run, switch to the word view, press ▶ Play and watch the canvas's step
advance. Lesson: pick a run, start, guess a position, check, read the feedback and the score,
go to the next step. Screenshots go to artifacts/screenshots/teach-*.png (git-ignored).
"""

from __future__ import annotations

import re
import time

import pytest

from diffutron_demo.teach.gallery import gallery_items
from tests.helpers_app import running_app, shot

WORD_CAPTION = re.compile(r"word view · step (\d+) of (\d+)")
QUESTION = re.compile(r"Step (\d+) of (\d+): which masked position")
FEEDBACK = re.compile(r"^(✔ Right!|✘ Not this time)")  # the lesson's verdict (not the "✔ committed" table cells)

# The caption of the canvas that is on screen now (hidden tabs keep theirs in the DOM).
VISIBLE_CAPTIONS_JS = """() => [...document.querySelectorAll('.dd-canvas .dd-caption')]
  .filter(c => c.offsetParent !== null).map(c => c.textContent)"""




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


def visible(page, selector: str):
    return page.locator(f"{selector} >> visible=true").first


def word_caption_steps(page) -> list[int]:
    return [int(m.group(1)) for text in page.evaluate(VISIBLE_CAPTIONS_JS) if (m := WORD_CAPTION.search(text))]


def pick_option(page, label: str, option: str) -> None:
    """Choose `option` in the visible dropdown labelled `label`."""
    box = page.get_by_label(label, exact=True).filter(visible=True).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


@pytest.fixture(scope="module")
def titles():
    items = list(gallery_items())
    assert items, "the package ships no gallery runs"
    return items


def test_gallery_plays_a_run_in_the_word_view(page, titles):
    page.get_by_role("tab", name="Gallery").click()
    pick_option(page, "recorded run", titles[0])
    # Loading a run shows its last step, in the token view.
    page.wait_for_function(f"""() => ({VISIBLE_CAPTIONS_JS})().some(t => /^step \\d+ of \\d+$/.test(t.trim()))""")
    shot(page, "teach-01-gallery-loaded.png")

    words = page.locator("input[value=words] >> visible=true").first
    words.check()
    page.wait_for_function(f"""() => ({VISIBLE_CAPTIONS_JS})().some(t => t.includes('word view'))""")
    steps = word_caption_steps(page)
    assert len(steps) == 1, page.evaluate(VISIBLE_CAPTIONS_JS)
    total = int(WORD_CAPTION.search(next(t for t in page.evaluate(VISIBLE_CAPTIONS_JS) if "word view" in t)).group(2))
    assert steps[0] == total > 1
    shot(page, "teach-02-word-view.png")

    visible(page, "button:has-text('▶ Play')").click()
    seen: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        now = word_caption_steps(page)
        if now and (not seen or now[0] != seen[-1]):
            seen.append(now[0])
            if len(seen) == 3:
                shot(page, "teach-03-word-view-playing.png")
        if len(seen) >= 4 and seen[-1] == total:
            break
        time.sleep(0.05)
    # Play starts over from step 1 (the slider was at the end) and walks up to the last step.
    playing = seen[1:]
    assert len(playing) >= 3, f"the word canvas's step did not advance while playing: {seen}"
    assert playing == sorted(playing) and len(set(playing)) == len(playing), seen
    assert playing[0] < total and playing[-1] == total, seen
    assert page.locator(".dd-canvas >> visible=true").count() >= 1
    shot(page, "teach-04-word-view-played.png")


def question_step(page) -> int:
    body = page.locator("body").inner_text()
    match = QUESTION.search(body)
    assert match, "no lesson question on the page"
    return int(match.group(1))


def test_lesson_guess_check_and_next(page, titles):
    page.get_by_role("tab", name="Lesson").click()
    # The first run the lesson can ask about (a left-to-right run offers no choice at any step).
    from diffutron_demo.teach.lesson import Lesson
    from diffutron_demo.record.trajectory import Trajectory

    items = gallery_items()
    title = next(t for t in titles if len(Lesson(Trajectory.load(items[t])).asked) >= 2)
    pick_option(page, "run to study (from the gallery)", title)
    visible(page, "button:has-text('Start lesson')").click()
    page.get_by_text(QUESTION).first.wait_for()
    first_step = question_step(page)
    shot(page, "teach-05-lesson-started.png")

    group = page.locator("fieldset, .block").filter(has_text="your guess: answer position")
    radio = group.locator("input[type=radio] >> visible=true").first
    radio.wait_for()
    picked = radio.get_attribute("value")
    radio.check()
    visible(page, "button:has-text('Check')").click()
    feedback = page.get_by_text(FEEDBACK).filter(visible=True).first
    feedback.wait_for()
    text = feedback.inner_text()
    assert text.startswith(("✔", "✘")), text
    assert picked in text, (picked, text)
    score = page.get_by_text(re.compile(r"^Score: \d+ / 1$")).first
    score.wait_for()
    assert re.fullmatch(r"Score: [01] / 1", score.inner_text().strip())
    assert ("✔" in text) == (score.inner_text().strip() == "Score: 1 / 1")
    shot(page, "teach-06-lesson-checked.png")

    visible(page, "button:has-text('Next step')").click()
    page.wait_for_function(
        """([pattern, old]) => { const m = document.body.innerText.match(new RegExp(pattern));
             return m && Number(m[1]) !== old; }""", arg=[QUESTION.pattern, first_step])
    assert question_step(page) > first_step
    # The feedback is cleared for the new question and the score is kept.
    page.get_by_text(re.compile(r"^Score: [01] / 1$")).first.wait_for()
    assert page.get_by_text(FEEDBACK).filter(visible=True).count() == 0
    shot(page, "teach-07-lesson-next.png")
