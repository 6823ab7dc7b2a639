"""Drawing time beside model time, per step, in the app as a person uses it: real Chromium.

    python -m benchmarks.drawing                          # the bundled demo model
    python -m benchmarks.drawing --model PATH_OR_ID       # another model (a full-size one is slow here)

For each setting (blocks of 32, blocks of 1, threshold 0.9) a chat run is sent by Enter and drawn
live, then played back at the fastest speed. Reported per step:
- model: the run's own step time (the record's step_ms: encoder, head, sampling);
- live drawing: the server building the player's new steps (the chat's status line) plus the
  browser drawing what arrived (the player's own timer, `__ddpApi.stats()`);
- Play: the browser showing one step (its timer), no server involved.
Then Compare (blocks of 32 beside blocks of 1): wall time from the click to the table, against the
model time its runs recorded. Needs Debian's chromium (scripts/install-browser.sh).

The browser shares this machine's two cores with the model here (a visitor's browser would not): the
model runs on one torch thread (`--threads`), because two OpenMP threads spinning against the
browser's own work made each step many times slower, which would flatter the drawing.
"""

from __future__ import annotations

import argparse
import os
import re
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # see above; --threads changes it once torch is in
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHROMIUM = "/usr/bin/chromium"
QUESTION = "İstanbul hakkında bilgi verir misin?"
PRESETS = {"blocks of 32": "dllm (model card)", "blocks of 1": "left to right", "threshold 0.9": "fast: threshold 0.9"}
STATUS = re.compile(r"(\d+) steps · model ([\d.]+) s \(([\d.]+) s/step\) · drawing ([\d.]+) s")
ROOT = "document.querySelector('#player-chat [data-ddp]')"


def state_is(state: str, player: str = "chat") -> str:
    """A page predicate: the player is drawn and in `state` (null-safe while the page builds)."""
    return f"(r => !!r && r.dataset.state === '{state}')(document.querySelector('#player-{player} [data-ddp]'))"


def serve(model: str):
    from diffutron_demo.app.main import create, launch_options

    demo = create(model, device="cpu", dtype="float32")
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, ssr_mode=False,
                **launch_options())
    return demo


def stats(page) -> dict:
    return page.evaluate(f"{ROOT}.__ddpApi.stats()")


def chat_run(page, preset: str) -> dict:
    """One chat run by Enter, drawn live: steps, model and drawing seconds."""
    page.get_by_text("Clear", exact=True).click()
    page.wait_for_function(state_is("empty"))
    page.get_by_label("Preset").first.click()
    page.get_by_role("option", name=preset, exact=True).click()
    before = stats(page)["live"]
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill(QUESTION)
    t0 = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(state_is("done"), timeout=600_000)
    wall = time.perf_counter() - t0
    status = page.get_by_text(STATUS).inner_text()
    steps, model_s, _, server_s = STATUS.search(status).groups()
    after = stats(page)["live"]
    return {"steps": int(steps), "model_s": float(model_s), "server_s": float(server_s),
            "browser_s": (after["ms"] - before["ms"]) / 1000, "frames": after["n"] - before["n"], "wall_s": wall}


def play(page) -> dict:
    """Play the run back at the fastest speed: the browser's time per shown step."""
    page.locator("#player-chat .ddp-speed").select_option("3")
    page.locator("#player-chat .ddp-first").click()
    before = stats(page)["step"]
    page.locator("#player-chat .ddp-play").click()
    page.wait_for_function(f"{ROOT}.dataset.step === {ROOT}.dataset.steps", timeout=600_000)
    after = stats(page)["step"]
    n = after["n"] - before["n"]
    return {"steps": n, "ms": (after["ms"] - before["ms"]) / max(n, 1), "max_ms": after["max"]}


def compare(page) -> dict:
    """Compare: blocks of 32 beside blocks of 1, wall time to the table against its model time."""
    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("column 2").uncheck()
    page.get_by_label("column 3").check()
    t0 = time.perf_counter()
    page.get_by_role("button", name="Run all").click()
    page.wait_for_function(state_is("done", "compare-3"), timeout=600_000)
    page.get_by_text("Answers: words that differ").wait_for(timeout=600_000)
    wall = time.perf_counter() - t0
    # Each column's model time: the sum of its recorded steps' times, as its player holds them.
    model = page.evaluate("[1, 3].map(c => document.querySelector(`#player-compare-${c} [data-ddp]`).__ddp.data.steps"
                          ".reduce((t, e) => t + e.ms, 0)).reduce((a, b) => a + b, 0)") / 1000
    return {"wall_s": wall, "model_s": model}


def main(argv=None) -> int:
    from diffutron_demo.app.manager import BUNDLED_DEMO

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(BUNDLED_DEMO))
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the model (default: 1)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from playwright.sync_api import sync_playwright

    demo = serve(args.model)
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(demo.local_url)
            page.wait_for_function(state_is("done"))
            page.get_by_role("button", name="Settings").first.click()
            for name, preset in PRESETS.items():
                run, back = chat_run(page, preset), play(page)
                rows.append((name, run, back))
            cmp = None if args.skip_compare else compare(page)
            browser.close()
    finally:
        demo.close()
    print(f"model: {args.model}, {args.threads} torch thread(s); per step, in ms (live frames thin to ~8 a second)\n")
    print("| setting | steps | model | live drawing (server + browser) | Play (browser) | chat wall s |")
    print("|---|---|---|---|---|---|")
    for name, r, b in rows:
        n = max(r["steps"], 1)
        print(f"| {name} | {r['steps']} | {1000 * r['model_s'] / n:.1f} | "
              f"{1000 * (r['server_s'] + r['browser_s']) / n:.2f} ({1000 * r['server_s'] / n:.2f} + "
              f"{1000 * r['browser_s'] / n:.2f}, {r['frames']} frames) | {b['ms']:.2f} (max {b['max_ms']:.1f}) | "
              f"{r['wall_s']:.1f} |")
    if cmp:
        print(f"\nCompare, blocks of 32 beside blocks of 1: {cmp['wall_s']:.1f} s from the click to the table, "
              f"{cmp['model_s']:.1f} s of model time.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
