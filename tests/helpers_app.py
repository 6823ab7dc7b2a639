"""Start the Gradio app in-process on a free localhost port (for the API and browser tests)."""

from __future__ import annotations

import contextlib
from pathlib import Path
import socket
import time
import urllib.request


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "config", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"the app at {url} did not answer within {timeout:.0f} s: {last}")


@contextlib.contextmanager
def running_app(model_path):
    """Yield (demo, base_url) for the app built by app_main.create on `model_path`; close afterwards."""
    from diffutron_demo.app.main import create, launch_options

    demo = create(str(model_path), device="cpu", dtype="float32")
    for attempt in range(5):  # a free port can be taken between probing and binding
        port = free_port()
        try:
            demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                        ssr_mode=False, **launch_options())
            break
        except OSError:
            if attempt == 4:
                raise
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url)
        yield demo, url
    finally:
        demo.close()


def open_page(browser, url):
    """A new browser context's page on the app, once the chat box is there (60 s timeouts)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("textbox", name="Message", exact=True).wait_for()
    return page


SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def shot(page, name: str) -> Path:
    """A full-page screenshot kept as a test artifact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def paced(step, seconds: float):
    """`Run._step`, taking at least `seconds`: the app serves a tiny model in this process, whose runs
    end before a person (or a test) could watch or stop them; paced at a real model's speed."""
    import time

    def slower(self, *args, **kwargs):
        time.sleep(seconds)
        return step(self, *args, **kwargs)
    return slower
