"""The model the app serves: loaded by label, with a banner that says what is loaded and why,
and the bundled demo model as the offline fallback."""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..core.models import DEFAULT_MODEL, KNOWN_MODELS, LoadedModel, ModelLoadError, load_model, pick_device

DEMO_MODEL = "demo (bundled, offline)"


BUNDLED_DEMO = Path(__file__).parents[1] / "demo_model"


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


@dataclass
class ModelManager:
    """The loaded model plus a banner that says what is loaded and why."""

    requested: str = DEFAULT_MODEL
    device: str = "auto"
    dtype: str = "auto"
    int8: bool = False  # CPU only: faster, approximate; named in the banner
    compile: bool = False  # CUDA only (not ZeroGPU): bucketed, compiled encoder (encoder.py)
    lm: LoadedModel | None = None
    banner: str = ""
    is_demo: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _label(self, source: str) -> str:
        """What the page shows for a model: a hub id as is, a local folder by its last part."""
        path = Path(source).expanduser()
        return path.resolve().name if path.exists() else source

    def choices(self) -> list[str]:
        labels = list(KNOWN_MODELS)
        if self._label(self.requested) not in labels:
            labels.insert(0, self._label(self.requested))
        return labels + [DEMO_MODEL]

    def load(self, label: str | None = None) -> str:
        """Load a model by its label (default: the requested one); on failure fall back to the demo
        model. Returns the banner. Labels map back to sources here, so no server path is sent out."""
        source = self.requested if label in (None, self._label(self.requested)) else label
        shown = self._label(source)
        with self.lock:
            if source == DEMO_MODEL:
                self._load_demo("")
                return self.banner
            try:
                device = pick_device(self.device)
                self.lm = load_model(source, device=self.device, dtype=self.dtype,
                                     int8=self.int8 and device == "cpu",
                                     compile=self.compile and device.startswith("cuda"))
                self.is_demo = False
                fast = f", {self.lm.encoder.label} encoder" if self.lm.encoder is not None else ""
                self.banner = (f"Model: {shown} ({self.lm.device}, {self.lm.dtype}{fast}, "
                               f"{self.lm.context_window}-token window).")
            except ModelLoadError as exc:
                self._load_demo(f"{str(exc).replace(source, shown)} ")
            return self.banner

    def _load_demo(self, reason: str) -> None:
        # Exact always: int8 buys nothing on a model this small and would change its answers.
        self.lm = load_model(str(demo_checkpoint_dir()), device="cpu", dtype="float32")
        self.lm.name = DEMO_MODEL
        self.is_demo = True
        if demo_checkpoint_dir() == BUNDLED_DEMO:
            what = ("a tiny Turkish model trained here on public-domain speeches and help pages: it shows how a "
                    "trained model's confidence looks, but it is not Diffutron and its answers are not reliable.")
        else:
            what = ("a small RANDOM checkpoint that shows the mechanics of masked diffusion, not real "
                    "Turkish answers.")
        self.banner = f"{reason}Using the bundled demo model ({self.lm.dtype}): {what}"
