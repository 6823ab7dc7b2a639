"""The Fill tab in a real browser (headless Chromium via Playwright), on a tiny checkpoint.

A sentence with blanks is typed; the preview counts the blanks and the canvas's share of the
window; Enter fills, and the fill player is watched while it runs (a MutationObserver on its root
records every frame drawn): the masked slots shown in the canvas go down from frame to frame while
the given text stays as typed. Then one filled token and one given word's token are chosen with the
mouse and redone: the player shows the redo, its split marked, the "show" picker lists the run and
the redo, only the chosen positions changed, and the picker brings the run back. The same redo by
keyboard only. Bad input gets one sentence and loses nothing. Screenshots: artifacts/screenshots/fill-*.png.
"""

from __future__ import annotations

import re

import pytest

from diffutron_demo.core.blanks import build_infill
from diffutron_demo.core import sampler
from diffutron_demo.core.models import load_model
from tests.helpers_app import open_page, running_app, shot, paced

TEXT = "Bugün hava ___ ve ben ___{3} gittim."
GIVEN_TEXT = ["Bugün hava ", " ve ben ", " gittim."]  # the typed text around its blanks
BLANK_LENGTH = 24  # a longer first blank: 27 blank tokens, 27 steps
STEP_PACE_S = 0.02  # the live run's pace: 27 steps in about half a second, a frame every 0.12 s
FILL = "document.querySelector('#player-fill [data-ddp]')"
RUN_TIMEOUT_MS = 120_000

# Each frame the fill player draws: its state, steps, the masked slots in the canvas, the given text.
WATCH_JS = f"""() => {{ const r = {FILL}; window.__frames = [];
  new MutationObserver(() => {{ if (r.dataset.state === 'empty') return;
    const toks = [...r.querySelectorAll('.ddp-tokens .ddp-tok')];
    window.__frames.push({{state: r.dataset.state, steps: Number(r.dataset.steps),
      masks: toks.filter(t => t.classList.contains('ddp-mask')).length,
      given: toks.filter(t => t.classList.contains('ddp-given'))
                 .map(t => [Number(t.dataset.pos), t.textContent])}}); }})
  .observe(r, {{attributes: true, subtree: true, childList: true, characterData: true}}); }}"""
CANVAS_JS = f"""() => [...{FILL}.querySelectorAll('.ddp-tokens .ddp-tok')].map(t => ({{
  pos: Number(t.dataset.pos), text: t.textContent, cls: [...t.classList],
  selected: t.getAttribute('aria-selected')}}))"""


@pytest.fixture(scope="module")
def app(tiny_checkpoint):
    with running_app(tiny_checkpoint) as (demo, url):
        yield url


@pytest.fixture(scope="module")
def lm(tiny_checkpoint):
    return load_model(str(tiny_checkpoint), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def page(browser, app):
    page = open_page(browser, app)
    page.get_by_role("tab", name="Fill").click()
    text_box(page).wait_for()
    yield page
    page.context.close()


def text_box(page):
    return page.get_by_role("textbox", name="Text with blanks")


def open_settings(page) -> None:
    """The Fill tab's Settings accordion, open (its error line and knobs exist only once opened)."""
    if not page.get_by_label("blank length", exact=True).filter(visible=True).count():
        page.get_by_role("button", name="Settings ▼").filter(visible=True).click()
        page.get_by_label("blank length", exact=True).filter(visible=True).wait_for()


def preview(page) -> str:
    return " ".join(page.locator(".dd-context").filter(visible=True).all_inner_texts())


def error_line(page) -> str:
    """The Settings' error line (the innermost element of that class: Gradio gives it to two)."""
    line = page.locator(".dd-settings-error:not(:has(.dd-settings-error))").filter(visible=True)
    return " ".join(line.all_inner_texts()).strip()


def canvas(page) -> list[dict]:
    return page.evaluate(CANVAS_JS)


def label(page) -> str:
    return page.text_content("#player-fill .ddp-label")


def expected_canvas(lm, blank_length: int):
    """The canvas the typed text makes, built here without the app: ids, blanks and given pieces."""
    c = build_infill(lm.tokenizer, TEXT, blank_length=blank_length, context_window=lm.context_window)
    inside = {p for a, b in c.blanks for p in range(a, b)}
    given = [[p, lm.tokenizer.decode([t], skip_special_tokens=False)] for p, t in enumerate(c.ids) if p not in inside]
    return c, given


def open_picker(page):
    """Open the viewer's "show" picker (a Gradio dropdown opens when it takes the focus)."""
    box = page.get_by_label("show", exact=True).filter(visible=True)
    box.blur()
    box.click()
    listed = page.locator("ul[role=listbox] [role=option]")
    listed.first.wait_for()
    return box, listed


def picker_options(page) -> list[str]:
    """The viewer's "show" picker: its choices as listed (then closed again)."""
    box, listed = open_picker(page)
    options = listed.all_inner_texts()
    box.press("Escape")
    box.blur()
    return [re.sub(r"^\W+", "", o).strip() for o in options]


def show(page, choice: str) -> None:
    _, listed = open_picker(page)
    listed.filter(has_text=choice).first.click()


# -- typing, the preview, a live fill ------------------------------------------------------------
def test_the_preview_counts_the_blanks_and_the_windows_share(page, lm):
    text_box(page).fill(TEXT)
    c, _ = expected_canvas(lm, 4)
    want = (f"2 blanks (blank 1: 4 tokens, blank 2: 3 tokens) · canvas {len(c.ids)} of the model's "
            f"{lm.context_window}-token window")
    page.wait_for_function("(want) => [...document.querySelectorAll('.dd-context')].some(e => e.innerText === want)",
                           arg=want)
    assert preview(page) == want
    bar = page.locator(".dd-context .dd-bar").filter(visible=True).first
    share = bar.evaluate("b => b.firstElementChild.getBoundingClientRect().width / b.getBoundingClientRect().width")
    assert share == pytest.approx(len(c.ids) / lm.context_window, abs=0.01), share
    # A longer blank: the preview follows the setting.
    open_settings(page)
    length = page.get_by_label("blank length", exact=True).filter(visible=True)
    length.fill(str(BLANK_LENGTH))
    length.press("Tab")
    c, _ = expected_canvas(lm, BLANK_LENGTH)
    page.get_by_text(f"blank 1: {BLANK_LENGTH} tokens, blank 2: 3 tokens) · canvas {len(c.ids)} of").wait_for()
    assert text_box(page).input_value() == TEXT
    shot(page, "fill-01-preview.png")


@pytest.fixture(scope="module")
def filled(page, lm):
    """The typed text filled with blank length 24, Enter pressed, every frame of the player recorded.
    The tiny model takes ~2 ms a step, so a fill would be over before a second frame (the app sends
    one at most every 0.12 s); paced at a real model's speed or so, the run draws several live frames."""
    text_box(page).fill(TEXT)
    open_settings(page)
    length = page.get_by_label("blank length", exact=True).filter(visible=True)
    if length.input_value() != str(BLANK_LENGTH):
        length.fill(str(BLANK_LENGTH))
        length.press("Tab")
    c, given = expected_canvas(lm, BLANK_LENGTH)
    page.get_by_text(f"canvas {len(c.ids)} of").wait_for()
    page.evaluate(WATCH_JS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sampler.Run, "_step", paced(sampler.Run._step, STEP_PACE_S))
        text_box(page).press("Enter")
        page.wait_for_function(f"{FILL}.dataset.state === 'done' && {FILL}.querySelector('.ddp-label').textContent"
                               ".startsWith('Fill ·')", timeout=RUN_TIMEOUT_MS)
    page.get_by_text(re.compile(r"stop: complete")).wait_for()
    shot(page, "fill-02-filled.png")
    frames = page.evaluate("window.__frames")
    return {"canvas": c, "given": given, "frames": frames, "final": canvas(page),
            "steps": page.evaluate(f"Number({FILL}.dataset.steps)")}


def test_enter_fills_the_blanks_live_and_the_given_text_stays(page, filled):
    c, given = filled["canvas"], filled["given"]
    blank_slots = sum(b - a for a, b in c.blanks)
    frames = []  # one entry per frame drawn (the observer fires for every change a frame makes)
    for f in filled["frames"]:
        key = (f["state"], f["steps"])
        if not frames or (frames[-1]["state"], frames[-1]["steps"]) != key:
            frames.append(f)
        else:
            frames[-1] = f
    print("frames (state, steps, masked):", [(f["state"], f["steps"], f["masks"]) for f in frames])
    live = [f for f in frames if f["state"] == "live"]
    assert len(live) >= 2, f"fewer than two live frames seen: {frames}"
    assert frames[-1]["state"] == "done" and frames[-1]["steps"] == filled["steps"]
    # One value per step count: the done frame may repeat the last live frame's steps.
    masks = list({f["steps"]: f["masks"] for f in frames}.values())
    assert masks == sorted(masks, reverse=True) and len(set(masks)) == len(masks), \
        f"the masked slots did not go down frame by frame: {masks}"
    assert masks[0] < blank_slots and masks[-1] == 0
    for f in frames:  # the given text is the typed text in every frame
        assert f["given"] == given, (f["state"], f["steps"], f["given"][:4])
    # Done: no mask left in the blanks, the given text is the typed text's tokens, the canvas is the text's.
    final = filled["final"]
    assert [t["pos"] for t in final] == list(range(len(c.ids)))
    blanks = {p for a, b in c.blanks for p in range(a, b)}
    assert not [t for t in final if "ddp-mask" in t["cls"]], "a mask is left in the canvas"
    assert all("ddp-given" not in t["cls"] and t["text"] != "▒" for t in final if t["pos"] in blanks)
    assert [[t["pos"], t["text"]] for t in final if "ddp-given" in t["cls"]] == given
    segments, current = [], ""
    for t in final:
        if t["pos"] in blanks:
            if current:
                segments.append(current)
            current = ""
        else:
            current += t["text"]
    assert segments + [current] == GIVEN_TEXT
    assert page.evaluate(f"{FILL}.__ddp.data.initial") == c.ids
    assert label(page).startswith("Fill · 2 blanks · tiny-a")


# -- redo ----------------------------------------------------------------------------------------
def test_redo_a_filled_token_and_a_given_word_shows_the_branch(page, filled):
    c, n, base = filled["canvas"], filled["steps"], filled["final"]
    filled_pos = c.blanks[0][0] + 2  # a token the model wrote in the first blank
    given_pos = c.blanks[0][1]  # " ve", right after it: given text
    assert "ddp-given" in base[given_pos]["cls"] and base[given_pos]["text"] == " ve"
    page.click(f"#player-fill .ddp-tokens [data-pos='{filled_pos}']")
    page.click(f"#player-fill .ddp-tokens [data-pos='{given_pos}']")
    chosen = [t["pos"] for t in canvas(page) if t["selected"] == "true"]
    assert chosen == [filled_pos, given_pos]
    button = page.locator("#player-fill .ddp-redo-btn")
    assert button.inner_text() == "Redo 2 selected"
    button.click()
    page.wait_for_function(f"{FILL}.querySelector('.ddp-label').textContent.startsWith('Redo 1')",
                           timeout=RUN_TIMEOUT_MS)
    shown = label(page)
    assert shown.startswith(f"Redo 1 after step {n}: answer position"), shown
    data = page.evaluate(f"(() => {{ const d = {FILL}.__ddp.data; return {{split: d.split, steps: d.steps.length, "
                         "rows: d.rows, redone: d.steps.slice(d.split).flatMap(e => e.f).filter(f => f[2] === 'redo')"
                         ".map(f => d.rows[f[0]])}; })()")
    assert data["split"] == n, "the redo's split is at the end of the run"
    assert data["steps"] > n
    assert sorted(data["redone"]) == [filled_pos, given_pos], "the chosen positions were masked again"
    named = {int(x) for x in re.findall(r"\d+", shown.split(":", 1)[1])}
    assert named <= {data["rows"].index(filled_pos), data["rows"].index(given_pos)}, (shown, named)
    after = canvas(page)
    changed = [t["pos"] for t, b in zip(after, base) if t["text"] != b["text"]]
    assert set(changed) <= {filled_pos, given_pos}, f"positions not chosen changed: {changed}"
    assert [t["pos"] for t in after] == [t["pos"] for t in base]
    assert "ddp-given" not in next(t for t in after if t["pos"] == given_pos)["cls"], "the given word was redone"
    assert picker_options(page) == ["the run itself", shown]
    shot(page, "fill-03-redo.png")

    show(page, "the run itself")
    page.wait_for_function(f"{FILL}.querySelector('.ddp-label').textContent.startsWith('The run itself')")
    assert label(page) == f"The run itself · {n} steps"
    assert page.evaluate(f"{FILL}.__ddp.data.split") is None
    assert canvas(page) == base, "the picker shows the first run again"


def test_the_same_redo_by_keyboard_only(page, filled):
    c, n, base = filled["canvas"], filled["steps"], filled["final"]
    if not label(page).startswith("The run itself"):
        show(page, "the run itself")
        page.wait_for_function(f"{FILL}.querySelector('.ddp-label').textContent.startsWith('The run itself')")
    first, second = c.blanks[1][0], c.blanks[1][1]  # the second blank's first token, the given " g" after it
    # From the player's last control, one Tab enters the canvas: a single tab stop for all its tokens.
    last_control = page.evaluate(f"{FILL}.querySelector('.ddp-pads').disabled") and ".ddp-drafts" or ".ddp-pads"
    page.focus(f"#player-fill {last_control}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('.ddp-tokens') !== null"), "Tab did not enter the canvas"
    assert page.evaluate(f"[...{FILL}.querySelectorAll('.ddp-tokens [role=option]')].filter(t => t.tabIndex === 0)"
                         ".length") == 1
    page.keyboard.press("Home")
    for _ in range(first):
        page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")
    for _ in range(second - first):
        page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")
    assert [t["pos"] for t in canvas(page) if t["selected"] == "true"] == [first, second]
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('ddp-redo-btn')"), \
        page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    page.keyboard.press("Enter")
    page.wait_for_function(f"{FILL}.querySelector('.ddp-label').textContent.startsWith('Redo 2')",
                           timeout=RUN_TIMEOUT_MS)
    assert label(page).startswith(f"Redo 2 after step {n}: answer position")
    assert page.evaluate(f"{FILL}.__ddp.data.split") == n
    changed = [t["pos"] for t, b in zip(canvas(page), base) if t["text"] != b["text"]]
    assert set(changed) <= {first, second}, changed
    options = picker_options(page)
    assert len(options) == 3 and options[0] == "the run itself" and options[2] == label(page), options
    shot(page, "fill-04-redo-keys.png")


# -- bad input -----------------------------------------------------------------------------------
def bad_input(page, text: str) -> str:
    """Type `text`, press Enter: the settings error line's sentence (the player keeps what it showed)."""
    before = label(page)
    open_settings(page)
    text_box(page).fill(text)
    text_box(page).press("Enter")
    page.wait_for_function("() => [...document.querySelectorAll('.dd-settings-error')].some(e => e.offsetParent "
                           "&& e.innerText.trim())")
    page.wait_for_timeout(500)  # the run's answer, if it started, would arrive now
    assert text_box(page).input_value() == text, "the typed text was lost"
    assert label(page) == before, "the player changed"
    assert preview(page) == "", "a preview for a text that can't run"
    line = error_line(page)
    assert line.startswith("⚠️ ") and line.endswith(".") and ". " not in line, f"not one sentence: {line!r}"
    return line


def test_bad_input_gets_one_sentence_and_loses_nothing(page):
    line = bad_input(page, "Bugün hava güzel.")
    assert line.startswith("⚠️ There is no blank"), line
    line = bad_input(page, "dosya___adı ___ var.")
    assert "“dosya___adı”" in line and "literal underscores" in line, line
    shot(page, "fill-05-bad-input.png")


def test_the_hint_for_literal_underscores_shows_the_backslash(page):
    line = bad_input(page, "dosya___adı ___ var.")
    assert "\\___" in line, line


def test_bad_input_is_explained_with_the_settings_closed(browser, app):
    page = open_page(browser, app)
    try:
        page.get_by_role("tab", name="Fill").click()
        text_box(page).fill("Bugün hava güzel.")
        text_box(page).press("Enter")
        page.wait_for_timeout(1500)
        assert "There is no blank" in page.locator("body").inner_text()
    finally:
        page.context.close()
