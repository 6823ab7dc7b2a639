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

import json
import re
import time
from pathlib import Path

import pytest

from diffutron_demo.render.export import standalone_html
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import Trajectory
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

# Every string in every Plotly figure's data and layout (hover text, tick labels, titles).
FIGURE_STRINGS_JS = """() => {
  const strings = [];
  const collect = (v, depth) => {
    if (depth > 8 || v === null || v === undefined) return;
    if (typeof v === 'string') { strings.push(v); return; }
    if (Array.isArray(v)) { for (const x of v) collect(x, depth + 1); return; }
    if (typeof v === 'object') { for (const k of Object.keys(v)) if (!k.startsWith('_')) collect(v[k], depth + 1); }
  };
  for (const g of document.querySelectorAll('.js-plotly-plot')) { collect(g.data, 0); collect(g.layout, 0); }
  return strings;
}"""



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


def assert_figures_hold_payloads_only_escaped(page, where: str) -> int:
    strings = page.evaluate(FIGURE_STRINGS_JS)
    with_payload = [s for s in strings if "__pwned" in s]
    assert with_payload, f"no figure text holds a payload ({where}): the check would be vacuous"
    raw = [s for s in with_payload if re.search(r"<\s*(img|script|svg)", s, re.I)]
    assert raw == [], (where, raw[:3])
    # Plotly labels show spaces as "·" (show_piece); the markup characters must be entities.
    assert any(re.search(r"&lt;img[ ·]src=x[ ·]onerror", s) for s in with_payload), with_payload[:3]
    assert any("&lt;script&gt;" in s for s in with_payload), with_payload[:3]
    return len(with_payload)



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
    assert_nothing_was_created(page, "chat")
    shot(page, "escape-chat.png")


def test_a_crafted_trajectory_uploaded_to_replay_stays_text(page, crafted_file):
    page.get_by_role("tab", name="Replay").click()
    page.locator('input[type="file"]').first.set_input_files(str(crafted_file))
    page.get_by_text(re.compile(r"Loaded: 8 steps")).wait_for(timeout=RUN_TIMEOUT_MS)
    panel_text = page.evaluate("() => document.body.innerText")
    assert "window.__pwned=1" in panel_text, "the crafted pieces are on the page, as text"
    assert_nothing_was_created(page, "replay, token view")
    n = assert_figures_hold_payloads_only_escaped(page, "replay, token view")
    print(f"{n} figure strings hold a payload, all escaped")
    # Hover a heatmap cell: plotly draws the hover label from that text.
    plot = page.locator(".js-plotly-plot").filter(has=page.locator(".hm, .heatmaplayer")).locator(".nsewdrag")
    visible = [plot.nth(i) for i in range(plot.count()) if plot.nth(i).is_visible()]
    if visible:
        box = visible[0].bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.1)
        time.sleep(0.5)
        labels = page.evaluate("() => [...document.querySelectorAll('.hoverlayer .hovertext')].map(h => h.innerHTML)")
        print(f"hover labels drawn: {len(labels)}")
        for html in labels:
            assert not re.search(r"<\s*(img|script)\b", html, re.I), html[:300]
    shot(page, "escape-replay.png")
    assert_nothing_was_created(page, "replay, after hover")


def test_the_replay_note_shows_the_model_name_as_typed(page, crafted_file):
    """The "Loaded: …" note names the file's model in a Markdown code span, which already shows
    its text literally: escaping it first shows `&lt;img…` instead of the name."""
    notes = [line for line in page.evaluate("() => document.body.innerText").splitlines() if "Loaded:" in line]
    assert len(notes) == 1, notes
    assert PAYLOADS[0] in notes[0], notes[0]


TICK_TEXT_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].filter(g => g.offsetParent)
  .flatMap(g => [...g.querySelectorAll('.ytick text')].map(t => t.textContent))"""


def test_the_heatmap_labels_show_the_payload_as_typed_text(page, crafted_file):
    """Escaped for plotly, shown as the characters: the row labels read `onerror="window...`, not
    `&quot;` (plotly decodes &lt; &gt; &amp; and numeric entities, but not &quot;)."""
    labels = page.evaluate(TICK_TEXT_JS)
    with_payload = [t for t in labels if "__pwned" in t]
    assert with_payload, labels[:5]
    assert any("<img" in t for t in with_payload), "the label text should read <img…, as typed"
    leftovers = [t for t in with_payload if re.search(r"&(quot|lt|gt|amp|#x?[0-9a-f]+);", t)]
    assert leftovers == [], f"entities shown as text in the heatmap labels: {leftovers[:3]}"


def test_the_word_view_of_the_crafted_trajectory_stays_text(page, crafted_file):
    words = [r for r in page.get_by_role("radio", name="words").all() if r.is_visible()]
    assert words, "the Replay tab's view switch is not visible"
    words[0].check()
    page.locator(".dd-caption", has_text="word view").filter(visible=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    assert_nothing_was_created(page, "replay, word view")
    assert_figures_hold_payloads_only_escaped(page, "replay, word view")
    shot(page, "escape-replay-words.png")


def test_the_exported_player_of_the_crafted_trajectory_stays_text(browser, crafted_file):
    """The standalone HTML export is opened by whoever downloads it: it must not run the payloads."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(standalone_html(Trajectory.load(crafted_file)), wait_until="load")
        page.click("#play")
        time.sleep(1.5)
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("img, svg").count() == 0
        assert "window.__pwned=1" in page.inner_text("#canvas")
        assert page.title().startswith("diffutron-demo: <img src=x onerror="), page.title()  # text, not markup
    finally:
        context.close()


def test_the_python_made_html_escapes_payloads_before_it_reaches_the_page(crafted_file):
    """The same rule checked without a browser. The player's value carries the model's text as plain
    data (the player writes it with textContent only); what Python writes as HTML (the commit order,
    the exported page around its data) holds the payloads only escaped."""
    from diffutron_demo.render import fragments
    from diffutron_demo.render.runview import run_value

    traj = Trajectory.load(crafted_file)
    value = run_value(traj, label=PAYLOADS[1])
    assert value["pieces"] and all(traj.pieces[int(t)] == p for t, p in value["pieces"].items()), "exact, as data"
    assert any("<img" in p for p in value["pieces"].values())
    order = fragments.commit_order_html(traj)
    assert "__pwned" in order
    assert not re.search(r"<\s*(img|script|svg)", order, re.I), order[:300]
    page = standalone_html(traj)
    data = page.split('<script id="data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert "__pwned" in data and "<" not in data, "model text inside the <script> data is escaped"
    assert json.loads(data)["pieces"] == value["pieces"]
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert "__pwned" in title and "<" not in title
