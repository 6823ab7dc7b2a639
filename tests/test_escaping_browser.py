"""Hostile text in a real browser (headless Chromium): nothing typed or uploaded becomes markup.

Payloads are planted (a) in a chat message and (b) in a crafted trajectory file (real run, with
payloads in `pieces`, `reply`, `prompt.text` and `model.name`) uploaded through the Replay tab.
After each, the page must hold no element or event-handler attribute made from them and no script
may have run (`window.__pwned` stays undefined). The player (render/player.js) writes model text
with textContent only, so it must show the payloads as typed, never entity-escaped: its label,
canvas, why table, hover (`__ddpApi.cellText` and the real `.ddp-tip` under the mouse), the row
labels it draws on the heatmap's canvas, the table alternative, the word view and the exported
standalone player. Screenshots: artifacts/screenshots/escape-*.png.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from diffutron_demo.render.export import standalone_html
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.record.words import answer_words
from tests.helpers_app import open_page, running_app, shot

PAYLOADS = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    '"><svg onload=window.__pwned=3>',
]
ALL_PAYLOADS = " ".join(PAYLOADS)
RUN_TIMEOUT_MS = 120_000

# Everything the payloads could have created, anywhere in the document (shadow roots included).
DOM_FINDINGS_JS = """() => {
  const out = {handlers: [], bad_img: [], bad_svg: [], bad_script: [], payload_text_with_handler: []};
  const seen = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      seen.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  for (const el of seen) {
    const tag = el.tagName.toLowerCase();
    const handlers = [...el.attributes].filter(a => a.name.toLowerCase().startsWith('on'));
    for (const a of handlers) out.handlers.push(`${tag} ${a.name}=${a.value.slice(0, 80)}`);
    if (handlers.length && (el.textContent || '').includes('__pwned'))
      out.payload_text_with_handler.push(el.outerHTML.slice(0, 200));
    if (tag === 'img' && (el.getAttribute('src') === 'x' || el.hasAttribute('onerror')))
      out.bad_img.push(el.outerHTML.slice(0, 200));
    if (tag === 'svg' && el.hasAttribute('onload')) out.bad_svg.push(el.outerHTML.slice(0, 200));
    if (tag === 'script' && (el.textContent || '').includes('__pwned')) out.bad_script.push(el.outerHTML.slice(0, 200));
  }
  out.elements = seen.length;
  return out;
}"""

REPLAY = "document.querySelector('#player-replay [data-ddp]')"
# The texts drawn on the replay player's canvases (the heatmap's row labels), recorded as drawn.
CANVAS_TEXT_HOOK_JS = """() => { if (window.__drawn) return; window.__drawn = [];
  const fill = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    if (this.canvas.closest && this.canvas.closest('#player-replay')) window.__drawn.push(String(text));
    return fill.call(this, text, ...rest); }; }"""
ENTITY = re.compile(r"&(quot|lt|gt|amp|#x?[0-9a-f]+);", re.I)


def assert_nothing_was_created(page, where: str) -> dict:
    time.sleep(0.5)  # give a handler that slipped through the time to fire
    assert page.evaluate("typeof window.__pwned") == "undefined", f"a payload ran ({where})"
    found = page.evaluate(DOM_FINDINGS_JS)
    assert found["elements"] > 100, "the page did not render"
    for key in ("bad_img", "bad_svg", "bad_script", "payload_text_with_handler"):
        assert found[key] == [], (where, key, found[key])
    # Gradio itself sets no inline handlers, so any on* attribute at all would be planted.
    assert found["handlers"] == [], (where, found["handlers"])
    print(f"{where}: {found['elements']} elements, no on* attribute")
    return found


def shown(text: str) -> str:
    """A token's text as the player's row labels, tables and hovers show it (player.js `shown`)."""
    return text.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·") or "∅"


def gutter(label: str) -> str:
    """A row label as drawn beside the heatmap: cut to 18 characters."""
    return label if len(label) <= 18 else label[:17] + "…"


def drawn_row_labels(page) -> list[str]:
    """The row labels the replay's player draws on its heatmap canvas (redrawn on a colour change)."""
    page.evaluate(CANVAS_TEXT_HOOK_JS)
    page.select_option("#player-replay .ddp-metric", "entropy")
    page.evaluate("window.__drawn = []")
    page.select_option("#player-replay .ddp-metric", "confidence")
    rows = page.evaluate(f"{REPLAY}.__ddpApi.rows().length")
    drawn = page.evaluate("window.__drawn")
    assert len(drawn) >= rows, drawn
    return drawn[-rows:]


def hover_first_row(page) -> str:
    """The real tooltip, with the mouse over the heatmap's last column, first row."""
    heat = page.locator("#player-replay .ddp-heat")
    heat.scroll_into_view_if_needed()
    box = heat.bounding_box()
    rows = page.evaluate(f"{REPLAY}.__ddpApi.rows().length")
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + 1 + (box["height"] - 2) / rows / 2)
    tip = page.locator("#player-replay .ddp-tip")
    tip.wait_for(state="visible")
    text = tip.text_content()
    page.mouse.move(0, 0)
    return text


@pytest.fixture(scope="module")
def app(tiny_checkpoint):
    with running_app(tiny_checkpoint) as (demo, url):
        yield url


@pytest.fixture(scope="module")
def page(browser, app):
    page = open_page(browser, app)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def crafted_file(tiny_checkpoint, tmp_path_factory) -> Path:
    """A real saved run, with payloads written into what the pages show."""
    lm = load_model(str(tiny_checkpoint), device="cpu", dtype="float32")
    run, _ = start_run(lm, "Merhaba! Nasılsın?", SamplerSettings(steps=8, max_new_tokens=8, block_length=4,
                                                                 temperature=0.5), 1)
    folder = tmp_path_factory.mktemp("crafted")
    saved = run.run_to_end().save(folder / "real.json")
    traj = Trajectory.load(saved)
    traj.pieces = {token: f"{PAYLOADS[i % len(PAYLOADS)]}{token}" for i, token in enumerate(sorted(traj.pieces))}
    traj.reply = ALL_PAYLOADS
    traj.prompt["text"] = ALL_PAYLOADS
    traj.model["name"] = PAYLOADS[0]
    path = traj.save(folder / "crafted.json")
    assert Trajectory.load(path).pieces == traj.pieces
    return path


@pytest.fixture(scope="module")
def crafted(crafted_file) -> Trajectory:
    return Trajectory.load(crafted_file)


def test_a_chat_message_with_payloads_stays_text(page):
    page.get_by_role("button", name="Settings ▼").click()
    for label in ("steps", "max new tokens", "block length"):
        page.get_by_label(label, exact=True).fill("8")
    page.get_by_role("textbox", name="Message", exact=True).fill(ALL_PAYLOADS)
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_function("""() => {
      const bots = document.querySelectorAll('[data-testid="bot"]');
      return bots.length === 1 && !bots[0].innerText.includes('denoising');
    }""", timeout=RUN_TIMEOUT_MS)
    page.get_by_text(re.compile(r"stop: complete")).wait_for()
    user = page.locator('[data-testid="user"]')
    assert user.count() == 1 and user.first.inner_text().strip() == ALL_PAYLOADS, "shown as typed, as text"
    assert page.evaluate("document.querySelector('#player-chat [data-ddp]').dataset.state") == "done"
    assert_nothing_was_created(page, "chat")
    shot(page, "escape-chat.png")


def test_a_crafted_trajectory_uploaded_to_replay_stays_text(page, crafted_file, crafted):
    page.get_by_role("tab", name="Replay").click()
    page.locator('input[type="file"]').first.set_input_files(str(crafted_file))
    page.wait_for_function(f"{REPLAY}.dataset.state === 'done'", timeout=RUN_TIMEOUT_MS)
    n = len(crafted.steps)
    assert page.text_content("#player-replay .ddp-label") == f"Replay of the uploaded file: {n} steps, {PAYLOADS[0]}"
    # The canvas: every token's text as the file wrote it (the player's canvas shows it as is).
    tokens = page.evaluate(f"() => [...{REPLAY}.querySelectorAll('.ddp-tokens .ddp-tok')].map(t => t.textContent)")
    assert tokens == [crafted.piece(crafted.final_ids[p]) for p in crafted.slots], tokens[:3]
    assert any(PAYLOADS[0] in t for t in tokens) and any(PAYLOADS[1] in t for t in tokens)
    # Why this step: the drafts and the next best, as text.
    why = page.evaluate(f"() => [...{REPLAY}.querySelectorAll('.ddp-why table td')].map(td => td.textContent)")
    assert any("__pwned" in cell for cell in why), why
    assert not any(ENTITY.search(cell) for cell in why), why
    # A position's history (a click on a canvas token): its drafts step by step, as text.
    page.click(f"#player-replay .ddp-tokens [data-pos='{crafted.slots[0]}']")
    history = page.evaluate(f"""() => [...{REPLAY}.querySelectorAll('.ddp-hist table tr')].slice(1)
        .map(tr => tr.children[1].textContent)""")
    final = shown(crafted.piece(crafted.final_ids[crafted.slots[0]]))
    assert final in history and all("__pwned" in h and not ENTITY.search(h) for h in history), history
    page.click("#player-replay .ddp-clear")  # the click also chose the token for a redo
    assert_nothing_was_created(page, "replay, token view")
    # The hover, from the record and under the mouse: the payloads as typed, never escaped.
    lines = page.evaluate(f"{REPLAY}.__ddpApi.cellText({n}, 0)")
    token = crafted.final_ids[crafted.slots[0]]
    assert lines[1].endswith(": " + shown(crafted.piece(token))), lines
    tip = hover_first_row(page)
    assert tip == "\n".join(lines), (tip, lines)
    assert "<" in tip and "__pwned" in tip and not ENTITY.search(tip), tip
    shot(page, "escape-replay.png")
    assert_nothing_was_created(page, "replay, after hover")


def test_the_replay_note_shows_the_model_name_as_typed(page, crafted):
    """The "Loaded: …" note names the file's model in a Markdown code span, which already shows
    its text literally: escaping it first shows `&lt;img…` instead of the name."""
    notes = [line for line in page.evaluate("() => document.body.innerText").splitlines() if "Loaded:" in line]
    assert len(notes) == 1, notes
    assert PAYLOADS[0] in notes[0], notes[0]


def test_the_heatmap_labels_show_the_payload_as_typed_text(page, crafted):
    """The row labels are drawn on the heatmap's canvas with fillText: they read `<img·src=x…`, not
    `&lt;`; the table alternative (a <details> drawn when opened) holds the same tokens in full."""
    finals = [shown(crafted.piece(crafted.final_ids[p])) for p in crafted.slots]
    assert page.evaluate(f"{REPLAY}.__ddpApi.rows()") == [[r] for r in range(len(finals))]
    labels = drawn_row_labels(page)
    assert labels == [gutter(f"{r} {text}") for r, text in enumerate(finals)], labels
    assert any("<img" in label for label in labels) and not any(ENTITY.search(label) for label in labels)
    page.click("#player-replay .ddp-table-box summary")
    page.wait_for_selector("#player-replay .ddp-table-alt table")
    table = page.evaluate(f"""() => [...{REPLAY}.querySelectorAll('.ddp-table-alt tr')].slice(1)
        .map(tr => [...tr.children].map(td => td.textContent))""")
    assert [row[2] for row in table] == finals, table[:2]
    page.click("#player-replay .ddp-table-box summary")
    assert_nothing_was_created(page, "replay, table")


def test_the_word_view_of_the_crafted_trajectory_stays_text(page, crafted):
    page.select_option("#player-replay .ddp-view", "words")
    words = [w for w in answer_words(crafted) if not w.pads]
    assert page.evaluate(f"{REPLAY}.__ddpApi.rows()") == [list(w.rows) for w in words]
    labels = drawn_row_labels(page)
    assert labels == [gutter(w.text.replace("\n", "⏎").replace("\t", "⇥") or "∅") for w in words], labels
    n = len(crafted.steps)
    lines = page.evaluate(f"{REPLAY}.__ddpApi.cellText({n}, 0)")
    assert lines[0] == f"Step {n} · {words[0].text}" and "<script>window.__pwned=2</script>" in lines[0], lines
    tip = hover_first_row(page)
    assert tip == "\n".join(lines), (tip, lines)
    assert_nothing_was_created(page, "replay, word view")
    shot(page, "escape-replay-words.png")
    page.select_option("#player-replay .ddp-view", "tokens")


def test_the_exported_player_of_the_crafted_trajectory_stays_text(browser, page, crafted):
    """The standalone HTML the Replay tab exports is opened by whoever downloads it: it must play the
    run without running the payloads."""
    page.get_by_text("Download / export", exact=True).filter(visible=True).click()
    page.get_by_role("button", name="Export trajectory JSON, HTML player and GIF").filter(visible=True).click()
    link = page.locator('a[download="trajectory-player.html"]')
    link.wait_for(timeout=RUN_TIMEOUT_MS)
    response = page.request.get(link.get_attribute("href"))
    assert response.ok
    exported = response.body().decode("utf-8")
    context = browser.new_context()
    try:
        player = context.new_page()
        player.set_content(exported, wait_until="load")
        root = "document.querySelector('[data-ddp]')"
        player.wait_for_function(f"{root}.dataset.state === 'done'")
        player.click(".ddp-play")
        player.wait_for_function(f"{root}.__ddp.timer === null && {root}.dataset.step === '{len(crafted.steps)}'")
        time.sleep(0.5)
        assert player.evaluate("typeof window.__pwned") == "undefined"
        assert player.locator("img, svg").count() == 0
        planted = "[...document.scripts].filter(s => !s.id && s.textContent.includes('__pwned')).length"
        assert player.evaluate(planted) == 0, "only the run's JSON data block mentions the payloads"
        assert "window.__pwned=1" in player.inner_text(".ddp-tokens")
        assert player.inner_text("#prompt") == "Prompt: " + ALL_PAYLOADS
        assert player.text_content(".ddp-label") == f"{PAYLOADS[0]} · {len(crafted.steps)} steps"
        assert player.title().startswith("diffutron-demo: <img src=x onerror="), player.title()  # text, not markup
    finally:
        context.close()


def strings_in(value, path="") -> list[tuple[str, str]]:
    """(path, string) for every string in a JSON-like value."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in strings_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in strings_in(v, f"{path}[{i}]")]
    return []


class Tags(HTMLParser):
    """The elements and attributes an HTML fragment makes."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.handlers = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.lower().startswith("on")]


def test_the_python_made_html_escapes_payloads_before_it_reaches_the_page(crafted):
    """The same rule checked without a browser. What Python still writes as HTML (the commit order, the
    context bar, the answer differences, the fill preview, the chat's answer) holds the payloads only
    escaped and makes no element of them; the player's value carries them only as JSON strings (the
    player writes them with textContent), and the exported page embeds that value with `<` escaped."""
    from diffutron_demo.app.service import shown_answer
    from diffutron_demo.render import fragments
    from diffutron_demo.render.runview import run_value

    escaped = html.escape(PAYLOADS[0], quote=True)
    made = {
        "commit order": fragments.commit_order_html(crafted),
        "answer differences": fragments.diff_html(PAYLOADS[2], ALL_PAYLOADS),
        "chat answer": shown_answer(crafted, len(crafted.steps)),
        "stopped chat answer": shown_answer(dataclasses.replace(crafted, stop_reason="cancelled"), 8),
        "context bar": fragments.context_bar_html(12, 5, 8, 256, dropped_turns=1),
        "fill preview": fragments.infill_preview_html([(2, 6), (9, 12)], 20, 256),
    }
    allowed = {"div", "span", "mark", "b", "i", "br"}
    for name, text in made.items():
        parsed = Tags(text)
        assert set(parsed.tags) <= allowed and parsed.handlers == [], (name, parsed.tags, parsed.handlers)
        if name in ("context bar", "fill preview"):  # numbers only: no model or user text reaches them
            assert "__pwned" not in text
            continue
        assert "__pwned" in text, name
        assert not re.search(r"<\s*(img|script|svg)", text, re.I), (name, text[:300])
        assert escaped in text, (name, text[:300])  # the payload, entity-escaped, shows as typed
    assert made["stopped chat answer"].endswith("■ stopped at step 8 of ~8: partial answer")

    value = run_value(crafted, label=PAYLOADS[1])
    carried = [(path, s) for path, s in strings_in(value) if "__pwned" in s]
    assert carried and {re.sub(r"\[\d+\]|\.\d+$", "", p) for p, _ in carried} <= \
        {".label", ".pieces", ".reply", ".words.text", ".steps.say"}, sorted({p for p, _ in carried})
    assert all(crafted.pieces[int(t)] == p for t, p in value["pieces"].items()), "exact, as data"
    assert not any(ENTITY.search(s) for _, s in carried), "the value holds the text itself, not entities"
    page = standalone_html(crafted)
    data = page.split('<script id="data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert "__pwned" in data and "<" not in data, "model text inside the <script> data is escaped"
    assert json.loads(data)["pieces"] == value["pieces"]
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert "__pwned" in title and "<" not in title
    outside = page.replace(data, "").replace(title, "")
    assert "__pwned" not in outside, "the payloads reach the page only as the JSON data and the escaped title"
