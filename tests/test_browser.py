"""The app in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

One chat run with the "longer answer" preset (128 steps on a tiny checkpoint) is watched live:
the status line and the player's heatmap must grow while it runs. Then stepping by the number box
and by the keyboard, the export and an HTML payload typed as a message. Screenshots go to
artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from diffutron_demo.record.trajectory import Trajectory
from tests.helpers_app import running_app, shot

MESSAGE = "Merhaba! Bana İstanbul'u anlatır mısın?"
PAYLOAD = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> <b>bold?</b>'
RUNNING = re.compile(r"step (\d+) of ~(\d+)")
RUN_TIMEOUT_S = 180

PLAYER = "document.querySelector('#player-chat [data-ddp]')"
# The heatmap columns the player has drawn (one per step that arrived).
HEATMAP_COLUMNS_JS = f"() => {{ const r = {PLAYER}; return r && r.dataset.state !== 'empty' ? Number(r.dataset.steps) : null; }}"




@pytest.fixture(scope="module")
def page(browser, tiny_checkpoint):
    with running_app(tiny_checkpoint) as (demo, url):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        yield page
        context.close()


def message_box(page):
    return page.get_by_role("textbox", name="Message", exact=True)


STATUS_JS = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (/step \\d+ of ~\\d+|stop: \\w+/.test(node.nodeValue)) return node.nodeValue;
  }
  return null;
}"""


def status_text(page) -> str | None:
    """The chat's status line, read without waiting (it is replaced several times a second)."""
    return page.evaluate(STATUS_JS)


@pytest.fixture(scope="module")
def watched_run(page):
    """Load the page, pick the "longer answer" preset, send a message and watch the run live."""
    started = time.perf_counter()
    message_box(page).wait_for()
    shots = {"loaded": shot(page, "01-page-loaded.png")}

    page.get_by_role("button", name="Settings ▼").click()
    page.get_by_label("Preset").click()
    page.get_by_role("option", name="longer answer").click()
    page.wait_for_function("document.querySelector('input[aria-label=steps]').value === '128'")
    assert page.get_by_label("max new tokens", exact=True).input_value() == "128"

    # Every change of the page while the run is live: the status line and the player's columns (a
    # tiny model is fast, so the page records them itself rather than being polled).
    page.evaluate(f"""() => {{ window.__seen = []; const r = {PLAYER};
      const status = () => {{ const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = w.nextNode(); n; n = w.nextNode()) if (/step \\d+ of ~\\d+|stop: \\w+/.test(n.nodeValue))
          return n.nodeValue; return ''; }};
      new MutationObserver(() => window.__seen.push([status(), r.dataset.state, Number(r.dataset.steps)]))
        .observe(document.body, {{subtree: true, childList: true, characterData: true, attributes: true}}); }}""")
    message_box(page).fill(MESSAGE)
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_text(re.compile(r"stop: \w+")).wait_for(timeout=RUN_TIMEOUT_S * 1000)
    statuses, columns, final = [], [], None
    for text, state, drawn in page.evaluate("window.__seen"):
        match = RUNNING.search(text or "")
        if match and (not statuses or statuses[-1][0] != int(match.group(1))):
            statuses.append((int(match.group(1)), int(match.group(2))))
        if state == "live" and (not columns or columns[-1] != drawn):
            columns.append(drawn)
        if text and "stop:" in text:
            final = text
    assert final is not None, f"the run did not finish within {RUN_TIMEOUT_S} s; saw {statuses}"
    shots["mid-run"] = shot(page, "02-run.png")
    page.get_by_text(re.compile(r"stop: complete")).wait_for()
    shots["done"] = shot(page, "03-run-done.png")
    return {"statuses": statuses, "columns": columns, "final": final, "shots": shots,
            "seconds": time.perf_counter() - started}


def test_the_heatmap_grows_while_the_run_is_live(watched_run, page):
    statuses = watched_run["statuses"]
    print(f"live statuses {statuses}, heatmap columns {watched_run['columns']}, "
          f"load + run {watched_run['seconds']:.1f} s")
    assert len(statuses) >= 2, f"saw fewer than two live status lines: {statuses}"
    steps = [n for n, _ in statuses]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), steps
    assert all(expected == 128 for _, expected in statuses), statuses
    assert steps[-1] <= 128
    columns = watched_run["columns"]
    assert columns == sorted(columns), f"the heatmap lost columns while running: {columns}"
    assert "stop: complete" in watched_run["final"]
    assert watched_run["final"].startswith("128 steps"), watched_run["final"]
    assert page.evaluate(HEATMAP_COLUMNS_JS) == 128
    assert page.evaluate(f"{PLAYER}.dataset.state") == "done"
    for name, path in watched_run["shots"].items():
        assert path.stat().st_size > 0, name
    # The chat shows the question and an answer in place of the placeholder.
    assert page.locator('[data-testid="user"]').first.inner_text().strip() == MESSAGE
    assert "denoising" not in page.locator('[data-testid="bot"]').last.inner_text()


def shown(page) -> dict:
    """What the chat's player shows now: its step, slider, number box, caption and why header."""
    return page.evaluate(f"""() => {{ const r = {PLAYER};
      return {{step: Number(r.dataset.step), slider: r.querySelector('.ddp-slider').value,
               number: r.querySelector('.ddp-num').value, caption: r.querySelector('.ddp-caption').textContent,
               why: r.querySelector('.ddp-whyhead') ? r.querySelector('.ddp-whyhead').textContent : ''}}; }}""")


def test_the_number_box_and_the_keys_move_every_view_together(watched_run, page):
    number = page.locator("#player-chat .ddp-num")
    assert number.input_value() == "128"
    number.fill("10")
    number.press("Enter")
    page.wait_for_function(f"{PLAYER}.dataset.step === '10'")
    now = shown(page)
    assert now["slider"] == now["number"] == "10"
    assert now["caption"].startswith("Step 10 of 128") and now["why"].startswith("Step 10"), now
    page.locator("#player-chat .ddp-slider").focus()
    for key, step in (("ArrowRight", 11), ("PageDown", 21), ("ArrowLeft", 20), ("Home", 0), ("End", 128)):
        page.keyboard.press(key)
        page.wait_for_function(f"{PLAYER}.dataset.step === '{step}'")
        now = shown(page)
        assert now["slider"] == now["number"] == str(step), (key, now)
        if step:
            assert now["caption"].startswith(f"Step {step} of 128") and now["why"].startswith(f"Step {step}"), (key, now)
    shot(page, "04-after-keys.png")


CANVAS_OVERFLOW_JS = f"""() => {{ const c = {PLAYER}.querySelector('.ddp-tokens'); const box = c.getBoundingClientRect();
  const rights = [...c.querySelectorAll('.ddp-tok')].map(s => s.getBoundingClientRect().right);
  return {{canvas_right: box.right, token_right: Math.max(...rights), tokens: rights.length}}; }}"""


def test_the_canvas_wraps_inside_its_column(watched_run, page):
    # Early steps are mostly masks: a long row of mask glyphs must wrap, not run off the column.
    page.evaluate(f"{PLAYER}.__ddpApi.go(10)")
    canvas = page.evaluate(CANVAS_OVERFLOW_JS)
    assert canvas["tokens"] == 128, canvas
    assert canvas["token_right"] <= canvas["canvas_right"] + 1, (
        f"the canvas's tokens reach {canvas['token_right']:.0f}px, past its right edge at "
        f"{canvas['canvas_right']:.0f}px")


def test_export_gives_the_trajectory_json(watched_run, page):
    page.get_by_text("Download / export", exact=True).click()
    page.get_by_role("button", name="Export trajectory JSON, HTML player and GIF").click()
    link = page.locator('a[download="trajectory.json"]')
    try:  # the GIF of a 128 x 128 run takes seconds to draw, many more on a busy machine
        link.wait_for(timeout=RUN_TIMEOUT_S * 1000)
    except Exception:
        shot(page, "failed-export.png")
        raise
    for name in ("trajectory-player.html", "trajectory.gif"):
        assert page.locator(f'a[download="{name}"]').count() == 1, name
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "trajectory.json"
    traj = Trajectory.from_json(Path(download.path()).read_bytes())
    assert len(traj.steps) == 128 and traj.settings["steps"] == 128
    assert traj.answer_len == 128 and traj.stop_reason == "complete"
    assert MESSAGE in traj.prompt["text"]
    # The same bytes are served at the link's address.
    response = page.request.get(link.get_attribute("href"))
    assert response.ok
    assert Trajectory.from_json(response.body()).final_ids == traj.final_ids


def test_a_typed_html_payload_stays_text(watched_run, page):
    page.get_by_label("steps", exact=True).fill("16")
    page.get_by_label("max new tokens", exact=True).fill("16")
    page.get_by_label("block length", exact=True).fill("16")
    message_box(page).fill(PAYLOAD)
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_function("""() => {
      const bots = document.querySelectorAll('[data-testid="bot"]');
      return bots.length === 2 && !bots[1].innerText.includes('denoising');
    }""", timeout=RUN_TIMEOUT_S * 1000)
    page.get_by_text(re.compile(r"^16 steps .*stop: complete")).wait_for()
    users = page.locator('[data-testid="user"]')
    assert users.count() == 2
    assert users.nth(1).inner_text().strip() == PAYLOAD, "the message is shown as typed, as text"
    assert page.locator('[data-testid="user"] img, [data-testid="bot"] img').count() == 0
    assert page.locator('[data-testid="user"] b, [data-testid="user"] script').count() == 0
    assert page.locator('img[src="x"]').count() == 0
    time.sleep(0.5)  # give a handler that slipped through the time to fire
    assert page.evaluate("typeof window.__pwned") == "undefined"
    shot(page, "05-html-payload.png")

