"""Shared fixtures: small random ModernBERT checkpoints built offline in a temp folder."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest
import torch

from diffutron_demo.core.checkpoints import build_random_checkpoint

# Tiny models gain nothing from threads, and spinning thread pools slow them many times over
# when the machine is busy; one thread keeps the suite's time steady.
torch.set_num_threads(1)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives headless Chromium (deselect with -m 'not browser')")


def pytest_collection_modifyitems(items):
    for item in items:  # every test that uses the browser fixture, however indirectly
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    """Seeded random tiny checkpoints: plain; sharper (more confident) proposals; one whose
    tokenizer has "<s>"/"</s>" as single tokens that it likes to propose (the stop check fires);
    one that likes to propose the mask id itself (a committed mask stays a mask)."""
    root = tmp_path_factory.mktemp("ckpt")
    stop_tokens = ["<s>", "</s>"]  # ids 600 and 601 after the 600-token BPE
    return [
        build_random_checkpoint(root / "tiny-a", seed=1),
        build_random_checkpoint(root / "tiny-b", seed=2, logit_scale=8.0),
        build_random_checkpoint(root / "tiny-stop", seed=3, added_tokens=stop_tokens, token_bias={600: 2.5, 601: 2.5}),
        build_random_checkpoint(root / "tiny-mask", seed=4, token_bias={4: 2.5}),
    ]


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_checkpoints):
    return tiny_checkpoints[0]


@pytest.fixture(scope="module")
def models(tiny_checkpoints):
    """The tiny checkpoints loaded (fresh for each test module), in the fixture's order."""
    from diffutron_demo.core.models import load_model

    return [load_model(str(p), device="cpu", dtype="float32") for p in tiny_checkpoints]


CHROMIUM = "/usr/bin/chromium"  # Debian's Chromium; Playwright's own browser download is never used


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright; a missing browser fails with what to install."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: install it with `apt-get install chromium` "
                    "(this test drives the system browser and never downloads one).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        except Exception as exc:  # a broken install
            pytest.fail(f"Chromium at {CHROMIUM} did not start ({exc}); reinstall it with `apt-get install chromium`.")
        yield launched
        launched.close()
