"""The first five minutes, in a real browser (Debian's Chromium via Playwright): the first screen
is drawn before any click (a real model's own recorded example once it has one), Enter sends, the
Lesson is played by pointing, each visitor's model is their own, and the page reads at phone width
and in the dark theme, the text being written in sight (screenshots kept)."""

from __future__ import annotations

import re
import time

import pytest

from diffutron_demo.app.manager import DEMO_MODEL, demo_checkpoint_dir
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.render.palette import contrast, luminance
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.teach.gallery import gallery_items
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.core import sampler
from tests.helpers_app import open_page, paced, running_app, shot

STATUS = re.compile(r"stop: \w+")
TABS = ["Chat", "Fill", "Replay", "Gallery", "Lesson", "Compare", "Sweep", "Learn"]
DRAWN_JS = """(name) => { const r = document.querySelector(`#player-${name} [data-ddp]`);
  if (!r || r.dataset.state === 'empty' || !r.offsetParent) return null;
  const heat = r.querySelector('.ddp-heat');
  return {rows: r.__ddpApi.rows().length, columns: Number(r.dataset.steps), step: Number(r.dataset.step),
          width: heat.getBoundingClientRect().width, player: r.getBoundingClientRect().width,
          label: r.querySelector('.ddp-label').textContent}; }"""
TOKEN_CONTRAST_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  return [...document.querySelectorAll('#player-chat .ddp-tok')].filter(e => e.offsetParent).map(e => {
    const st = getComputedStyle(e);
    let bg = st.backgroundColor, n = e;
    while (/rgba\\(0, 0, 0, 0\\)|transparent/.test(bg) && n.parentElement) { n = n.parentElement; bg = getComputedStyle(n).backgroundColor; }
    return {fg: rgb(st.color), bg: rgb(bg), text: e.innerText.slice(0, 12)};
  });
}"""
HEAT_BG_JS = """() => { const c = document.querySelector('#player-chat .ddp-heat');
  const g = c.getContext('2d'); const d = g.getImageData(c.width - 2, c.height - 2, 1, 1).data; return [d[0], d[1], d[2]]; }"""


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def cache(tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("examples-cache")
    monkeypatch_module.setenv("DIFFUTRON_DEMO_CACHE", str(folder))
    return folder


@pytest.fixture(scope="module")
def app(tiny_checkpoint, monkeypatch_module, cache):
    monkeypatch_module.delenv("SPACE_ID", raising=False)
    monkeypatch_module.delenv("DIFFUTRON_LOCK_MODEL", raising=False)
    with running_app(tiny_checkpoint) as (demo, url):
        yield url


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


def drawn(page, name="chat") -> dict:
    return page.wait_for_function(f"({DRAWN_JS})('{name}')").json_value()


# -- nothing opens empty -------------------------------------------------------------------------
# Gradio marks a component whose handler failed with an "Error" badge, or shows a toast.
ERRORS_JS = """[...document.querySelectorAll('span.error, .toast-body')].filter(e => e.offsetParent)
  .map(e => e.innerText.trim())"""


def wait_for_example(cache) -> list:
    deadline = time.monotonic() + 120
    while not list((cache / "examples").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.5)
    return list((cache / "examples").glob("*.json"))


@pytest.mark.parametrize("cached", [True, False], ids=["example-cached", "no-example"])
def test_a_page_load_raises_no_error(browser, app, cache, cached):
    """Every handler a page load runs (the banner, the example) answers without an error, whether
    the model's own example is there or not (the demo model's case: it never records one)."""
    files = wait_for_example(cache)
    assert files, "the example was not recorded"
    away = [f.rename(f.with_suffix(".away")) for f in files] if not cached else []
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(app)
        message_box(page).wait_for()
        drawn(page)
        page.wait_for_timeout(2500)
        assert page.evaluate(ERRORS_JS) == []
        assert ("tiny-a" in drawn(page)["label"]) == cached
    finally:
        context.close()
        for f in away:
            f.rename(f.with_suffix(".json"))


def test_the_chat_opens_on_a_drawn_recorded_run(browser, app):
    page = open_page(browser, app)
    try:
        shown = drawn(page)
        # The gallery's first run, or this model's own example once it was recorded in the background.
        assert shown["columns"] in (len(first_run().steps), 64) and shown["step"] == shown["columns"], shown
        assert page.get_by_text("Recorded example").first.is_visible()
        shot(page, "first-screen.png")
    finally:
        page.context.close()


def test_a_real_model_records_its_own_first_screen_example(browser, app, cache):
    """tiny-a is not the demo model: its example is recorded once after it loads, cached, and a page
    load opens on it, labelled as tiny-a's."""
    deadline = time.monotonic() + 120
    while not list((cache / "examples").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.5)
    files = list((cache / "examples").glob("*.json"))
    assert len(files) == 1, files
    recorded = Trajectory.load(files[0])
    assert recorded.model["name"] == "tiny-a"
    page = open_page(browser, app)
    try:
        page.wait_for_function("document.querySelector('#player-chat .ddp-label').textContent.includes('tiny-a')")
        shown = drawn(page)
        assert shown["columns"] == len(recorded.steps) and "Recorded example" in shown["label"], shown
        assert page.get_by_text("Recorded example (tiny-a").first.is_visible()
        assert page.locator('[data-testid="bot"]').first.inner_text().startswith(recorded.reply.strip()[:20])
    finally:
        page.context.close()


@pytest.mark.parametrize("tab", ["Gallery", "Lesson"])
def test_gallery_and_lesson_open_with_their_first_run_drawn(browser, app, tab):
    page = open_page(browser, app)
    try:
        page.get_by_role("tab", name=tab).click()
        title = next(iter(gallery_items()))
        if tab == "Gallery":
            assert drawn(page, "gallery")["columns"] == len(first_run().steps)
        else:
            page.locator("#player-lesson button.ddp-pick").first.wait_for()
            assert re.match(r"^Step \d+ of \d+: which masked position",
                            page.locator("#player-lesson .ddp-question").inner_text())
        assert page.locator("input").evaluate_all(
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
        prompt = page.get_by_label("Prompt, or a text with ___ blanks (the same for every column)")
        prompt.fill("Merhaba")
        prompt.press("Enter")
        page.get_by_text(re.compile("Answers: words that differ from the first column run")).wait_for(timeout=180_000)
        text = page.locator(".block").filter(has_text="repeated 3-grams").last.text_content()
        assert "column 2: fast: threshold 0.9" in text and "[object Object]" not in text, text[:300]
    finally:
        page.context.close()


# -- the lesson by pointing ----------------------------------------------------------------------
def test_a_lesson_guess_by_click_is_scored_and_focus_moves_on(browser, app):
    page = open_page(browser, app)
    try:
        page.get_by_role("tab", name="Lesson").click()
        pick = page.locator("#player-lesson button.ddp-pick").first
        pos = int(pick.get_attribute("data-pick"))
        pick.click()
        feedback = page.locator("#player-lesson .ddp-feedback")
        feedback.wait_for()
        assert re.match(r"^(✔ Right!|✘ Not this time)", feedback.inner_text()) and str(pos) in feedback.inner_text()
        traj = first_run()
        rows = {p: i for i, p in enumerate(traj.slots)}
        committed = [rows[p] for p in traj.steps[0].committed]  # the first asked step
        score = page.locator("#player-lesson .ddp-score").inner_text().strip()
        assert score == ("Score: 1 / 1" if pos in committed else "Score: 0 / 1")
        page.wait_for_function("document.activeElement && document.activeElement.classList.contains('ddp-next-q')")
        shot(page, "lesson-click-scored.png")
        page.keyboard.press("Enter")  # Next, by keyboard: focus lands on the next guess
        page.wait_for_function("document.activeElement && document.activeElement.classList.contains('ddp-pick')")
        assert page.locator("#player-lesson .ddp-feedback").count() == 0
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


def same_answer(shown: str, reply: str) -> bool:
    return shown.strip() == reply.strip() if reply.strip() else shown.strip().startswith("(empty answer: ")


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
        assert same_answer(reply_b, expected_reply(str(tiny_checkpoint), question)), reply_b
        assert same_answer(reply_a, expected_reply(str(demo_checkpoint_dir()), question)), reply_a
        # The demo model always runs exact: the int8 box says so, not ticked, and can't be ticked.
        int8 = a.get_by_label("int8 on CPU (faster, approximate)")
        assert not int8.is_checked() and int8.is_disabled()
        # A reload is a new session: it starts on the default again, with banner and picker agreeing.
        a.reload()
        message_box(a).wait_for()
        a.get_by_text("Model and speed", exact=True).click()
        assert "tiny-a" in banner(a).inner_text() and a.get_by_label("model", exact=True).input_value() == "tiny-a"
    finally:
        a.context.close()
        b.context.close()


# -- readable everywhere, the run in sight ---------------------------------------------------------
@pytest.mark.parametrize("name, width, height, query", [("phone", 390, 844, ""), ("dark", 1400, 900, "?__theme=dark"),
                                                        ("phone-dark", 390, 844, "?__theme=dark")])
def test_the_page_reads_at_phone_width_and_in_the_dark_theme(browser, app, name, width, height, query):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(app + query)
        message_box(page).wait_for()
        shown = drawn(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, "the page overflows sideways"
        assert shown["width"] >= 0.75 * shown["player"], shown
        tokens = page.evaluate(TOKEN_CONTRAST_JS)
        assert tokens, "no canvas tokens on the first screen"
        low = [t for t in tokens if contrast(tuple(t["fg"]), tuple(t["bg"])) < 4.5]
        assert not low, f"canvas tokens below WCAG AA contrast: {low[:5]}"
        background = tuple(page.evaluate(HEAT_BG_JS))
        assert (luminance(background) < 0.2) == ("dark" in name), f"heatmap area {background} in the {name} page"
        for tab in TABS:  # every tab in sight: none hidden behind a "more" menu
            assert page.get_by_role("tab", name=tab).is_visible(), tab
        if width < 700:  # the player comes before the conversation and the settings
            player_top = page.locator("#player-chat .ddp-canvas").bounding_box()["y"]
            for other in (page.get_by_text("Settings", exact=True).first, page.locator(".dd-history").first):
                assert player_top < other.bounding_box()["y"]
        shot(page, f"readable-{name}.png")
        page.get_by_role("tab", name="Lesson").click()
        page.locator("#player-lesson button.ddp-pick").first.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        shot(page, f"readable-{name}-lesson.png")
    finally:
        context.close()


@pytest.mark.parametrize("width, height", [(1400, 900), (390, 844)])
def test_the_text_being_written_is_in_sight_during_a_live_run(browser, app, width, height, monkeypatch):
    # Paced like a real model (the tiny one would be done before a frame is seen).
    monkeypatch.setattr(sampler.Run, "_step", paced(sampler.Run._step, 0.02))
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(app)
        drawn(page)
        # Where the canvas being written is, each time a live frame arrives (a tiny model is fast).
        page.evaluate("""() => { const r = document.querySelector('#player-chat [data-ddp]'); window.__tops = [];
          new MutationObserver(() => { if (r.dataset.state === 'live')
            window.__tops.push(r.querySelector('.ddp-canvas').getBoundingClientRect().top); })
          .observe(r, {attributes: true, subtree: true, childList: true}); }""")
        box = message_box(page)
        box.fill("İstanbul hakkında bilgi verir misin?")
        box.press("Enter")
        wait_done(page)
        page.wait_for_timeout(600)  # a phone scrolls the canvas into view smoothly
        tops = page.evaluate("window.__tops")
        assert len(tops) >= 2, f"saw {len(tops)} live frames"
        final = page.locator("#player-chat .ddp-canvas").bounding_box()["y"]
        assert -2 <= final < height - 40, f"the canvas ended at {final:.0f}px, out of sight"
        if width >= 700:  # a desktop never had to scroll: every live frame was in sight
            assert all(-2 <= top < height - 40 for top in tops), tops
        else:  # a phone brought the canvas into view when the run began, and kept it there
            assert all(-2 <= top < height - 40 for top in tops[1:]), tops
        shot(page, f"live-in-sight-{width}.png")
    finally:
        context.close()
