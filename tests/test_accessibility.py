"""Accessibility scan of every tab with axe-core (the axe-playwright-python package bundles it), in
real Chromium: at desktop and phone width, in the light and the dark theme, before and after a run
fills the player. No critical or serious violation is allowed: the app's theme, CSS and player
are ours, and so is choosing which Gradio components show (an empty plot is hidden, not shown
with Gradio's mislabelled placeholder). Also: Gradio's finished-event announcement is a word in
the page's language, not its untranslated key."""

from __future__ import annotations

import pytest

from tests.helpers_app import running_app

TABS = ["Chat", "Fill", "Replay", "Gallery", "Lesson", "Compare", "Sweep", "Learn"]
SIZES = {"desktop": (1400, 900), "phone": (390, 844)}
BAD = ("critical", "serious")


@pytest.fixture(scope="module")
def app(tiny_checkpoint):
    with running_app(tiny_checkpoint) as (_, url):
        yield url


def violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {n['html'][:120]} | {(n.get('any') or [{}])[0].get('message', '')[:160]}"
            for v in found if v["impact"] in BAD for n in v["nodes"]]


def open_app(browser, url, size, theme):
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url + ("?__theme=dark" if theme == "dark" else ""))
    page.get_by_role("textbox", name="Message", exact=True).wait_for()
    page.wait_for_function("document.querySelector('#player-chat [data-ddp]').dataset.state === 'done'")
    return context, page


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
def test_every_tab_has_no_serious_violation(browser, app, size, theme):
    context, page = open_app(browser, app, size, theme)
    try:
        found = {}
        for tab in TABS:
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(400)
            for details in page.locator("[role=tabpanel]:visible details.ddp-hist-box, "
                                        "[role=tabpanel]:visible details.ddp-table-box").all():
                details.evaluate("d => { d.open = true; }")  # the player's closed panels are scanned too
            bad = violations(page)
            if bad:
                found[tab] = bad
        assert not found, found
    finally:
        context.close()


def test_after_a_run_the_player_has_no_serious_violation_and_says_done(browser, app):
    context, page = open_app(browser, app, "desktop", "light")
    try:
        page.evaluate("""() => { window.__said = []; new MutationObserver(ms => { for (const m of ms) {
            const n = m.target.nodeType === 3 ? m.target.parentElement : m.target;
            const live = n && n.closest && n.closest('[aria-live]');
            if (live) window.__said.push(live.textContent.trim()); } })
            .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
        page.get_by_role("textbox", name="Message", exact=True).fill("Merhaba, nasılsın?")
        page.keyboard.press("Enter")
        page.wait_for_function("(() => { const r = document.querySelector('#player-chat [data-ddp]');"
                               " return r.dataset.state === 'done' && r.dataset.steps === '64'; })()")
        # Gradio speaks at most every 5 s: its "Done" may come a while after the run.
        page.wait_for_function("window.__said.includes('Done')", timeout=15_000)
        page.locator("#player-chat .ddp-slider").focus()
        page.keyboard.press("Home")
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        page.wait_for_timeout(600)
        for details in page.locator("#player-chat details").all():
            details.evaluate("d => { d.open = true; }")
        assert not violations(page), violations(page)
        said = [s for s in page.evaluate("window.__said") if s]
        assert not any("common." in s for s in said), said
        assert "Done" in said, said
        assert any(s.startswith("Step 5 of 64") for s in said), said
    finally:
        context.close()
