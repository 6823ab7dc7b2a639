"""The run player (render/player.js) in a real browser without a server: the exported standalone
page, which runs the app's own player script on a run's value. Tests read what a person sees (the
DOM) and the player's state (`__ddp`, `__ddpApi` on its root)."""

from __future__ import annotations

from diffutron_demo.render.player import standalone_page

ROOT = "document.querySelector('[data-ddp]')"


def open_player(page, value: dict) -> None:
    """Show `value` (a player value, render/runview.py) in `page`, drawn (a fresh document each time:
    the page's script declares the player's names once)."""
    page.goto("about:blank")
    page.set_content(standalone_page(value, "test"))
    page.wait_for_function(f"{ROOT}.dataset.state !== 'empty'")


def shown_step(page) -> int:
    return page.evaluate(f"Number({ROOT}.dataset.step)")


def canvas_tokens(page) -> list[dict]:
    """Each token of the canvas as shown: text, canvas position, classes."""
    return page.evaluate("""() => [...document.querySelectorAll('.ddp-tokens .ddp-tok')].map(n => ({
        text: n.textContent, pos: n.dataset.pos === undefined ? null : Number(n.dataset.pos),
        cls: [...n.classList], pick: n.dataset.pick === undefined ? null : Number(n.dataset.pick)}))""")


def why_rows(page) -> list[list[str]]:
    """The "why this step" table's rows (header left out)."""
    return page.evaluate("""() => [...document.querySelectorAll('.ddp-why table tr')].slice(1)
        .map(tr => [...tr.children].map(td => td.textContent))""")


def events(page) -> list:
    """What the player told the app (trigger calls): [[name, data], ...]."""
    return page.evaluate("window.__ddpEvents")
