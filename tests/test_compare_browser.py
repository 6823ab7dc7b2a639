"""Compare in a real browser: each ticked column's results sit under that column (tick 1 and 4: column
4's player is under column 4's settings, column 2's slot stays empty), the players share their step,
a column's tokens can be redone in place, and Stop ends every run."""

from __future__ import annotations

import pytest

from diffutron_demo.core import sampler
from tests.helpers_app import open_page, paced, running_app, shot

STATE = "(r => r ? r.dataset.state : null)(document.querySelector('#player-compare-{n} [data-ddp]'))"


def player(page, n: int, js: str):
    return page.evaluate(f"(r => {js})(document.querySelector('#player-compare-{n} [data-ddp]'))")


@pytest.fixture(scope="module")
def app(tiny_checkpoint):
    with running_app(tiny_checkpoint) as (_, url):
        yield url


@pytest.fixture(scope="module")
def page(browser, app):
    page = open_page(browser, app)
    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("column 2").uncheck()
    page.get_by_label("column 4").check()
    page.get_by_role("button", name="Run all").click()
    page.get_by_text("Answers: words that differ from the first column run").wait_for(timeout=180_000)
    yield page
    page.context.close()


def test_each_column_shows_its_own_run_under_its_settings(page):
    assert page.evaluate(STATE.format(n=4)) == "done" and page.evaluate(STATE.format(n=1)) == "done"
    assert page.evaluate(STATE.format(n=2)) == "empty" and page.evaluate(STATE.format(n=3)) == "empty"
    assert player(page, 4, "r.querySelector('.ddp-label').textContent") == "column 4: greedy"
    assert player(page, 1, "r.querySelector('.ddp-label').textContent") == "column 1: dllm (model card)"
    # Column 4's player is drawn under column 4's settings, beside column 3's (empty) slot.
    settings_4 = page.get_by_label("column 4").bounding_box()
    player_4 = page.locator("#player-compare-4").bounding_box()
    assert abs(player_4["x"] - settings_4["x"]) < 40 and player_4["y"] > settings_4["y"], (player_4, settings_4)
    table = page.locator(".block").filter(has_text="repeated 3-grams").last.text_content()
    assert "column 4: greedy" in table and "column 2" not in table, table[:300]
    shot(page, "compare-columns-1-4.png")


def test_moving_the_step_in_one_column_moves_the_others(page):
    page.locator("#player-compare-1 .ddp-slider").focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#player-compare-4 [data-ddp]').dataset.step === '1'")
    assert player(page, 4, "r.querySelector('.ddp-caption').textContent").startswith("Step 1 of ")
    page.keyboard.press("End")


def test_a_columns_tokens_are_redone_in_place(page):
    before = player(page, 4, "r.__ddp.data.steps.length")
    tokens = page.locator("#player-compare-4 .ddp-tokens [role=option]")
    tokens.nth(1).click()
    tokens.nth(2).click(modifiers=["Shift"])
    page.locator("#player-compare-4 .ddp-redo-btn").click()
    page.wait_for_function("document.querySelector('#player-compare-4 .ddp-label').textContent.startsWith('Redo 1')",
                           timeout=60_000)
    assert player(page, 4, "r.__ddp.data.split") == before
    assert player(page, 4, "r.__ddp.data.group") == "compare"
    assert player(page, 1, "r.querySelector('.ddp-label').textContent") == "column 1: dllm (model card)"
    assert page.locator("b", has_text="Redo 1 after step").count() == 1  # the column's answer says what changed
    shot(page, "compare-redo.png")


def test_stop_ends_every_run(page):
    with pytest.MonkeyPatch.context() as mp:  # 64 steps a column at 50 ms a step: time to press Stop
        mp.setattr(sampler.Run, "_step", paced(sampler.Run._step, 0.05))
        page.get_by_role("button", name="Run all").click()
        page.wait_for_function(STATE.format(n=1) + " === 'live'", timeout=60_000)
        page.get_by_role("button", name="Stop", exact=True).filter(visible=True).first.click()
        page.get_by_text("Stopped: partial runs.").wait_for(timeout=120_000)
    assert page.evaluate(STATE.format(n=1)) == "done"
    stops = page.locator(".block").filter(has_text="repeated 3-grams").last.text_content()
    assert "cancelled" in stops, stops[:400]
