"""Shared fixtures: small random ModernBERT checkpoints built offline in a temp folder."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest

from diffutron_demo.checkpoints import build_random_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    """Two seeded random tiny checkpoints; the second has sharper (more confident) proposals."""
    root = tmp_path_factory.mktemp("ckpt")
    return [
        build_random_checkpoint(root / "tiny-a", seed=1),
        build_random_checkpoint(root / "tiny-b", seed=2, logit_scale=8.0),
    ]


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_checkpoints):
    return tiny_checkpoints[0]
