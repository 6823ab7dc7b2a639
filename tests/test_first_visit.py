"""The first five minutes, in a real browser (Debian's Chromium via Playwright): the first screen
is drawn before any click, Enter sends, the Lesson is played by pointing, each visitor's model is
their own, and the page reads at phone width and in the dark theme (screenshots kept)."""

from __future__ import annotations

import re
import time

import pytest

from diffutron_demo.app.manager import DEMO_MODEL, demo_checkpoint_dir
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.render.palette import contrast
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.teach.gallery import gallery_items
from diffutron_demo.record.trajectory import Trajectory
from tests.helpers_app import open_page, running_app, shot

STATUS = re.compile(r"stop: \w+")
PLOT_JS = """(tab) => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')].filter(g => g.offsetParent);
  const heat = plots.find(g => (g.data || []).some(t => t.type === 'heatmap'));
  if (!heat) return null;
  const t = heat.data.find(t => t.type === 'heatmap');
  return {rows: t.z.length, columns: t.z.length ? t.z[0].length : 0, width: heat.getBoundingClientRect().width};
}"""
TOKEN_CONTRAST_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  return [...document.querySelectorAll('.dd-canvas .dd-tok')].filter(e => e.offsetParent).map(e => {
    const st = getComputedStyle(e);
    return {fg: rgb(st.color), bg: rgb(st.backgroundColor), text: e.innerText.slice(0, 12)};
  });
}"""
PLOT_TEXT_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const tick = [...document.querySelectorAll('.js-plotly-plot .ytick text')].find(e => e.getBoundingClientRect().width);
  return tick ? rgb(getComputedStyle(tick).fill) : null;
}"""


@pytest.fixture(scope="module")
def app(tiny_checkpoint, monkeypatch_module):
    monkeypatch_module.delenv("SPACE_ID", raising=False)
    monkeypatch_module.delenv("DIFFUTRON_LOCK_MODEL", raising=False)
    with running_app(tiny_checkpoint) as (demo, url):
        yield url


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def banner(page):
    """The header's one line, once the model is in (the page may be served while it loads)."""
    line = page.locator(".dd-header .dd-model, .dd-header .dd-banner").filter(has_text="window").first
    line.wait_for()
    return line


def message_box(page):
    return page.get_by_role("textbox", name="Message", exact=True)


def status_text(page) -> str:
    return page.evaluate("""() => { const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = w.nextNode(); n; n = w.nextNode()) if (/stop: \\w+|step \\d+ of ~\\d+/.test(n.nodeValue))
        return n.nodeValue; return ''; }""")


def wait_done(page, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = status_text(page)
        if STATUS.search(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"no finished run within {timeout:.0f} s (status: {status_text(page)!r})")


def first_run() -> Trajectory:
    return Trajectory.load(next(iter(gallery_items().values())))


# -- nothing opens empty -------------------------------------------------------------------------
def test_the_chat_opens_on_a_drawn_recorded_run(browser, app):
    page = open_page(browser, app)
    try:
        traj = first_run()
        drawn = page.wait_for_function(f"({PLOT_JS})()").json_value()
        assert drawn["rows"] == traj.answer_len and drawn["columns"] == len(traj.steps), drawn
        number = page.get_by_label("number input for step", exact=True).first
        assert number.input_value() == str(len(traj.steps)), "the slider is not at the last step"
        assert page.get_by_text("Recorded example").first.is_visible()
        shot(page, "first-screen.png")
    finally:
        page.context.close()


@pytest.mark.parametrize("tab", ["Gallery", "Lesson"])
def test_gallery_and_lesson_open_with_their_first_run_drawn(browser, app, tab):
    page = open_page(browser, app)
    try:
        page.get_by_role("tab", name=tab).click()
        title = next(iter(gallery_items()))
        if tab == "Gallery":
            drawn = page.wait_for_function(f"({PLOT_JS})()").json_value()
            assert drawn["columns"] == len(first_run().steps)
        else:
            page.locator("button.dd-pick").first.wait_for()
            assert page.get_by_text(re.compile(r"^Step \d+ of \d+: which masked position")).first.is_visible()
        assert page.locator("input[role=listbox], input").filter(has_text="").evaluate_all(
            "(els, title) => els.some(e => e.value === title && e.offsetParent)", title), "the first run is not chosen"
    finally:
        page.context.close()


# -- Enter sends, Shift+Enter breaks the line ----------------------------------------------------
def test_enter_sends_and_shift_enter_breaks_the_line(browser, app):
    page = open_page(browser, app)
    try:
        box = message_box(page)
        box.click()
        box.type("Merhaba")
        page.keyboard.press("Shift+Enter")
        box.type("nasılsın?")
        time.sleep(1.0)
        assert box.input_value() == "Merhaba\nnasılsın?", "Shift+Enter sent or lost the text"
        assert not STATUS.search(status_text(page)), "Shift+Enter started a run"
        page.keyboard.press("Enter")
        final = wait_done(page)
        assert box.input_value() == "" and "stop: complete" in final
        assert "nasılsın?" in page.locator('[data-testid="user"]').last.inner_text()
    finally:
        page.context.close()


def test_enter_runs_the_compare_tab(browser, app):
    page = open_page(browser, app)
    try:
        page.get_by_role("tab", name="Compare").click()
        prompt = page.get_by_label("Prompt (the same for every column)")
        prompt.fill("Merhaba")
        prompt.press("Enter")
        page.get_by_text("Answers: words that differ from column 1 are highlighted.").wait_for(timeout=180_000)
        text = page.locator(".block").filter(has_text="repeated 3-grams").last.text_content()
        assert "column 2: fast: threshold 0.9" in text and "[object Object]" not in text, text[:300]
    finally:
        page.context.close()


# -- the lesson by pointing ----------------------------------------------------------------------
def test_a_lesson_guess_by_click_is_scored(browser, app):
    page = open_page(browser, app)
    try:
        page.get_by_role("tab", name="Lesson").click()
        pick = page.locator("button.dd-pick").first
        pos = int(pick.get_attribute("data-pick"))
        pick.click()
        feedback = page.get_by_text(re.compile(r"^(✔ Right!|✘ Not this time)")).first
        feedback.wait_for()
        assert str(pos) in feedback.inner_text()
        committed = [p - first_run().prompt_len for p in first_run().steps[0].committed]  # the first asked step
        score = page.get_by_text(re.compile(r"^Score: [01] / 1$")).first
        assert score.inner_text().strip() == ("Score: 1 / 1" if pos in committed else "Score: 0 / 1")
        shot(page, "lesson-click-scored.png")
    finally:
        page.context.close()


# -- each visitor's model is theirs --------------------------------------------------------------
def expected_reply(model_path: str, question: str) -> str:
    lm = load_model(model_path, device="cpu", dtype="float32")
    run, _ = start_run(lm, question, SamplerSettings(), 0)
    return run.run_to_end().reply


def send_and_read(page, question: str) -> str:
    box = message_box(page)
    box.fill(question)
    box.press("Enter")
    wait_done(page)
    return page.locator('[data-testid="bot"]').last.inner_text()


def test_one_visitor_switching_models_changes_nothing_for_another(browser, app, tiny_checkpoint):
    a, b = open_page(browser, app), open_page(browser, app)
    try:
        banner_b = banner(b).inner_text()
        assert "tiny-a" in banner_b
        a.get_by_text("Model and speed", exact=True).click()
        a.get_by_label("model", exact=True).click()
        a.get_by_role("option", name=DEMO_MODEL).click()
        a.locator(".dd-header .dd-banner", has_text=DEMO_MODEL).wait_for()
        question = "Merhaba!"
        reply_a = send_and_read(a, question)
        reply_b = send_and_read(b, question)
        assert banner(b).inner_text() == banner_b
        b.get_by_text("Model and speed", exact=True).click()
        assert b.get_by_label("model", exact=True).input_value() == "tiny-a"
        assert reply_b.strip() == (expected_reply(str(tiny_checkpoint), question).strip() or "(empty answer)")
        assert reply_a.strip() == (expected_reply(str(demo_checkpoint_dir()), question).strip() or "(empty answer)")
        # A reload is a new session: it starts on the default again, with banner and picker agreeing.
        a.reload()
        message_box(a).wait_for()
        a.get_by_text("Model and speed", exact=True).click()
        assert "tiny-a" in banner(a).inner_text() and a.get_by_label("model", exact=True).input_value() == "tiny-a"
    finally:
        a.context.close()
        b.context.close()


# -- readable everywhere -------------------------------------------------------------------------
def backdrop(page) -> tuple[int, int, int]:
    """The colour a plot's (transparent) paper shows: the commonest pixel of its left margin."""
    import io
    from collections import Counter

    from PIL import Image

    box = page.locator(".js-plotly-plot").first.bounding_box()
    png = page.screenshot(full_page=True, clip={"x": box["x"] + 1, "y": box["y"] + 1, "width": 6,
                                                "height": box["height"] - 2})
    return Counter(Image.open(io.BytesIO(png)).convert("RGB").getdata()).most_common(1)[0][0]


def open_tab(page, name: str) -> None:
    """Click a tab; on a narrow screen Gradio moves some into its "More tabs" menu."""
    tab = page.get_by_role("tab", name=name)
    if not (tab.count() and tab.first.is_visible()):
        page.get_by_role("button", name="More tabs").click()
        tab = page.get_by_role("button", name=name, exact=True)
    tab.filter(visible=True).first.click()



@pytest.mark.parametrize("name, width, query", [("phone", 390, ""), ("dark", 1400, "?__theme=dark"),
                                                ("phone-dark", 390, "?__theme=dark")])
def test_the_page_reads_at_phone_width_and_in_the_dark_theme(browser, app, name, width, query):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(app + query)
        message_box(page).wait_for()
        drawn = page.wait_for_function(f"({PLOT_JS})()").json_value()
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, "the page overflows sideways"
        assert drawn["width"] >= 0.75 * min(width, 700), drawn
        tokens = page.evaluate(TOKEN_CONTRAST_JS)
        assert tokens, "no canvas tokens on the first screen"
        low = [t for t in tokens if contrast(tuple(t["fg"]), tuple(t["bg"])) < 4.5]
        assert not low, f"canvas tokens below WCAG AA contrast: {low[:5]}"
        tick = page.evaluate(PLOT_TEXT_JS)
        behind = backdrop(page)
        assert tick and contrast(tuple(tick), behind) >= 4.5, f"plot labels {tick} on {behind}"
        shot(page, f"readable-{name}.png")
        open_tab(page, "Lesson")
        page.locator("button.dd-pick").first.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        shot(page, f"readable-{name}-lesson.png")
    finally:
        context.close()
