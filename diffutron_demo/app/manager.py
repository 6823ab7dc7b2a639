"""The models the app serves: loaded by (label, int8) on first use, at most CAPACITY at once (the
least recently used is unloaded), each with a one-line banner that says what runs, on what,
exact or approximate, and why. The bundled demo model is the offline fallback.

Each visitor's session names its own choice (app/sessions.py), so one visitor switching models
changes nothing for another; a visitor whose model was unloaded gets it loaded again.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..core.models import (DEFAULT_MODEL, KNOWN_MODELS, CompileCheckError, LoadedModel, ModelLoadError, load_model,
                           pick_device, shown_name)

DEMO_MODEL = "demo (bundled, offline)"
BUNDLED_DEMO = Path(__file__).parents[1] / "demo_model"
CAPACITY = 2  # models held in memory at once


def demo_checkpoint_dir() -> Path:
    """The offline fallback: the small Turkish model trained here and bundled (training/), or,
    where a checkout lacks it, a small random checkpoint built deterministically on first use."""
    if (BUNDLED_DEMO / "model.safetensors").exists():
        return BUNDLED_DEMO
    root = Path(os.environ.get("DIFFUTRON_DEMO_CACHE", Path.home() / ".cache" / "diffutron_demo"))
    folder = root / "demo-random-v1"
    if not (folder / "model.safetensors").exists():
        from ..core.checkpoints import build_random_checkpoint

        tmp = root / f".building-{os.getpid()}"
        build_random_checkpoint(tmp, seed=0, logit_scale=4.0)
        try:
            tmp.rename(folder)
        except OSError:  # another process built it first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


@dataclass(frozen=True)
class Served:
    """A loaded model as the page names it."""
    lm: LoadedModel
    label: str  # the picker's value for it (the demo's label when a fallback replaced the choice)
    banner: str  # one line: which model, on what, exact or approximate
    is_demo: bool
    detail: str = ""  # for a fallback: why, and what the demo model is

    def banner_now(self) -> str:
        """The banner, plus what the compiled encoder's check has found since (graphs check on first use)."""
        check = getattr(self.lm.encoder, "verdict_note", None)
        note = check() if check else ""
        return f"{self.banner} · {note}" if note else self.banner


class ModelManager:
    """Loads models by label on demand and keeps the CAPACITY most recently used."""

    def __init__(self, requested: str = DEFAULT_MODEL, device: str = "auto", dtype: str = "auto",
                 int8: bool = False, compile: bool = False, compile_check: str = "warn", capacity: int = CAPACITY):
        # "demo" names the bundled demo model here as on the command line.
        self.requested = DEMO_MODEL if requested == "demo" else requested
        self.device, self.dtype = device, dtype
        self.int8 = int8  # the default choice; CPU only: faster, approximate
        self.compile = compile  # CUDA only (not ZeroGPU): bucketed, compiled encoder (core/encoder.py)
        self.compile_check = compile_check  # off | warn | strict: each compiled graph against eager
        self.capacity = capacity
        self._served: OrderedDict[tuple[str, bool], Served] = OrderedDict()
        self._loading: dict[tuple[str, bool], threading.Lock] = {}
        self._lock = threading.Lock()

    # -- what the page offers -----------------------------------------------------------------------
    @property
    def default_label(self) -> str:
        return self.label_of(self.requested)

    def label_of(self, source: str) -> str:
        """What the page shows for a model: a hub id as is, a local folder by its last part."""
        return shown_name(source)

    def choices(self) -> list[str]:
        labels = list(KNOWN_MODELS)
        if self.default_label not in labels:
            labels.insert(0, self.default_label)
        return labels + [DEMO_MODEL]

    # -- serving ------------------------------------------------------------------------------------
    def serve(self, label: str | None = None, int8: bool | None = None, retry: bool = False) -> Served:
        """The model for a choice (None: the app's default), loaded now if it isn't held; on failure
        the demo model with a banner that says why (`retry` tries a failed choice again). Labels map
        back to sources here, so no server path is ever sent out."""
        key = (self.default_label if label is None else label, self.int8 if int8 is None else bool(int8))
        with self._lock:
            held = self._served.get(key)
            if held is not None and not (retry and held.is_demo and key[0] != DEMO_MODEL):
                self._served.move_to_end(key)
                return held
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per choice at a time; other choices are served meanwhile
            with self._lock:
                fresh = self._served.get(key)
            if fresh is not None and fresh is not held:  # another visitor loaded it while this one waited
                return fresh
            served = self._load(*key)
            with self._lock:
                self._served[key] = served
                self._served.move_to_end(key)
                while len(self._served) > self.capacity:
                    self._served.popitem(last=False)
                self._loading.pop(key, None)
            return served

    def peek(self, label: str | None = None, int8: bool | None = None) -> Served | None:
        """A choice (default: the app's) if it is loaded already, without waiting or loading it."""
        key = (self.default_label if label is None else label, self.int8 if int8 is None else bool(int8))
        with self._lock:
            return self._served.get(key)

    def preload(self, report=print, after=None) -> threading.Thread:
        """Load the default choice in the background, so the page serves while it loads (the first
        request waits for it); `report` gets what the page will say of it, `after` the Served."""
        def load():
            served = self.serve()
            report(f"{served.banner}\n{served.detail}".strip())
            if after is not None:
                after(served)

        thread = threading.Thread(target=load, name="diffutron-preload", daemon=True)
        thread.start()
        return thread

    def held(self) -> list[tuple[str, bool]]:
        with self._lock:
            return list(self._served)

    def _load(self, label: str, int8: bool) -> Served:
        if label == DEMO_MODEL:
            return self._demo(label)
        source = self.requested if label == self.default_label else label
        try:
            device = pick_device(self.device)
            lm = load_model(source, device=self.device, dtype=self.dtype, int8=int8 and device == "cpu",
                            compile=self.compile and device.startswith("cuda"), compile_check=self.compile_check)
        except CompileCheckError:
            raise  # strict: refuse to serve rather than fall back
        except ModelLoadError as exc:
            return self._demo(label, str(exc).replace(source, label))
        return Served(lm, label, banner_line(label, lm), is_demo=False)

    def _demo(self, wanted: str, reason: str = "") -> Served:
        # Exact always: int8 buys nothing on a model this small and would change its answers.
        lm = load_model(str(demo_checkpoint_dir()), device="cpu", dtype="float32")
        lm.name = DEMO_MODEL
        if demo_checkpoint_dir() == BUNDLED_DEMO:
            what = ("The bundled demo model is a tiny Turkish model trained here, not Diffutron: its confidence "
                    "looks trained, its answers are unreliable.")
        else:
            what = "The bundled demo model is a small RANDOM checkpoint: the mechanics, not real Turkish answers."
        line = banner_line(DEMO_MODEL, lm)
        if reason:
            line += f" · {wanted} could not be loaded (why: Model and speed, below)"
        return Served(lm, DEMO_MODEL, line, is_demo=True, detail=f"{reason} {what}".strip())

    # -- the default choice, for one-model callers (CLI, tests) ---------------------------------------
    def load(self, label: str | None = None) -> str:
        """Serve `label` (default: the requested model) with the default int8 choice; returns what the
        page says of it (the banner line, and for a fallback why)."""
        served = self.serve(label)
        return f"{served.banner}\n{served.detail}".strip()

    @property
    def lm(self) -> LoadedModel:
        return self.serve().lm

    @property
    def banner(self) -> str:
        return self.serve().banner

    @property
    def is_demo(self) -> bool:
        return self.serve().is_demo


def model_source(name: str) -> str:
    """What to load for a command's --model: `demo` is the bundled demo model's folder (or the random
    fallback's); anything else as given."""
    return str(demo_checkpoint_dir()) if name == "demo" else name


def model_argument(lm: LoadedModel) -> str:
    """What `--model` takes to load the same model again from the checkout's folder: the bundled demo
    model's folder, `demo` for the random fallback, a hub id, or a local folder by the name the page
    shows (its full path stays on the server)."""
    if lm.name != DEMO_MODEL:
        return lm.name
    folder = demo_checkpoint_dir()
    return str(folder.relative_to(BUNDLED_DEMO.parents[1])) if folder == BUNDLED_DEMO else "demo"


def banner_line(label: str, lm: LoadedModel) -> str:
    """One line: which model, on what, exact or approximate."""
    exact = "approximate (int8)" if lm.dtype.startswith("int8") else f"exact ({lm.dtype})"
    fast = f" · {lm.encoder.label} encoder" if lm.encoder is not None else ""
    return f"Model: {label} · {lm.device} · {exact}{fast} · {lm.context_window}-token window"
