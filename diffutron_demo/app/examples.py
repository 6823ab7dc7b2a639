"""The first screen's recorded example, from the model the app runs.

The page opens on a recorded run so nothing is empty. With the bundled demo model that is the
gallery's first run; with a real model, the same question is run once by that model in the
background after it loads, saved in a cache folder (one file per model and its settings), and
every later page load opens on it, labelled as that model's.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from ..core.models import LoadedModel
from ..core.sampler import start_run
from ..record.checks import TrajectoryError
from ..record.trajectory import Trajectory
from ..settings import SamplerSettings

log = logging.getLogger(__name__)

EXAMPLE_QUESTION = "Türkiye'nin başkenti neresidir?"  # the gallery's first run asks the same


def cache_folder() -> Path:
    return Path(os.environ.get("DIFFUTRON_DEMO_CACHE", Path.home() / ".cache" / "diffutron_demo")) / "examples"


def example_path(lm: LoadedModel) -> Path:
    """One file per model name, device and dtype (int8 answers differ from the exact path's)."""
    key = hashlib.sha256(f"{lm.name}|{lm.device}|{lm.dtype}".encode()).hexdigest()[:16]
    return cache_folder() / f"{key}.json"


def cached_example(lm: LoadedModel) -> Trajectory | None:
    path = example_path(lm)
    try:
        traj = Trajectory.load(path) if path.exists() else None
    except TrajectoryError:
        return None  # a damaged cache file is recorded again
    return traj if traj is not None and traj.model.get("name") == lm.name else None


def record_example(lm: LoadedModel) -> Path:
    """Run the example question with the model card's settings and save it (written whole, then moved)."""
    run, _ = start_run(lm, EXAMPLE_QUESTION, SamplerSettings(), 0)
    traj = run.run_to_end()
    traj.extra["gallery_title"] = f"{EXAMPLE_QUESTION} ({lm.name})"
    path = example_path(lm)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    traj.save(tmp)
    tmp.replace(path)
    return path


def record_in_background(lm: LoadedModel) -> threading.Thread | None:
    """Record the example once, beside the page (nothing when it is cached already)."""
    if cached_example(lm) is not None:
        return None

    def record():
        try:
            log.info("recorded the first screen's example: %s", record_example(lm))
        except Exception as exc:  # noqa: BLE001 - the page keeps the gallery's example
            log.warning("could not record the first screen's example with %s: %s", lm.name, exc)

    thread = threading.Thread(target=record, name="diffutron-example", daemon=True)
    thread.start()
    return thread
