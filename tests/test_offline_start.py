"""With no network, `python app.py` serves the bundled fallback within seconds and says why in
one line: no half minute of hub retries. The hub is made unreachable two ways: a refused
connection (a closed port), and a name that can't be looked up (as on this machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers_app import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVING_WITHIN_S = 10


PROBE_ALLOWANCE_S = 4  # the hub question's own limit (core/hub.py: 3 s) and some slack


def serving_after(endpoint: str, tmp_path, offline: bool = False) -> tuple[float, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf"), GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1", **({"HF_HUB_OFFLINE": "1"} if offline else {}))
    log = tmp_path / "app.log"
    started = time.monotonic()
    with open(log, "w") as out:
        app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
        while time.monotonic() - started < 60 and app.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started, said_once_loaded(log)
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the app was not serving after 60 s:\n{log.read_text()[-2000:]}")
    finally:
        app.kill()
        app.wait(10)


def said_once_loaded(log: Path, within_s: float = 30) -> str:
    """The app's output once the model (loading beside the served page) is in and the banner printed."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and "Model: " not in log.read_text():
        time.sleep(0.1)
    return log.read_text()


@pytest.fixture(scope="module")
def told_offline(tmp_path_factory) -> float:
    """How long the same start takes when HF_HUB_OFFLINE says there is no network: no time spent asking."""
    return serving_after("http://127.0.0.1:9", tmp_path_factory.mktemp("offline"), offline=True)[0]


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "https://hub.invalid"], ids=["refused", "no-dns"])
def test_the_app_with_no_network_serves_the_fallback_within_seconds(endpoint, tmp_path, told_offline):
    seconds, log = serving_after(endpoint, tmp_path)
    assert "Retrying" not in log and "Traceback" not in log, log[-2000:]
    said = [line for line in log.splitlines() if "could not be loaded" in line]
    assert len(said) == 1 and "demo (bundled, offline)" in said[0], log[-2000:]
    assert "unreachable" in log, log[-2000:]
    print(f"serving after {seconds:.1f} s ({endpoint}); {told_offline:.1f} s with HF_HUB_OFFLINE=1")
    assert seconds - told_offline < PROBE_ALLOWANCE_S, "finding out there is no network took too long"
    assert seconds < SERVING_WITHIN_S, f"serving only after {seconds:.1f} s:\n{log[-1500:]}"
