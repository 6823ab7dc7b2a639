"""What the app does, without Gradio: hold the model, run chats and comparisons step by step.

The UI module only wires components to these functions, so they are tested directly.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..core.chat import Prompt, build_prompt
from ..core.models import (DEFAULT_MODEL, KNOWN_MODELS, CompileCheckError, LoadedModel, ModelLoadError, load_model,
                           pick_device)
from ..core.sampler import Run
from ..settings import SamplerSettings

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
    compile_check: str = "warn"  # off | warn | strict: each compiled graph against eager (compile_guard.py)
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
                                     compile=self.compile and device.startswith("cuda"),
                                     compile_check=self.compile_check)
                self.is_demo = False
                fast = f", {self.lm.encoder.label} encoder" if self.lm.encoder is not None else ""
                self.banner = (f"Model: {shown} ({self.lm.device}, {self.lm.dtype}{fast}, "
                               f"{self.lm.context_window}-token window).")
            except CompileCheckError:
                raise  # strict: refuse to serve rather than fall back
            except ModelLoadError as exc:
                self._load_demo(f"{str(exc).replace(source, shown)} ")
            return self.banner

    @property
    def banner_now(self) -> str:
        """The banner, plus what the compiled encoder's check found since (graphs check on first use)."""
        note = getattr(self.lm.encoder, "verdict_note", None) if self.lm is not None else None
        return f"{self.banner} {note()}".strip() if note else self.banner

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


def start_run(lm: LoadedModel, question: str, settings: SamplerSettings, seed: int, *,
              history: list[tuple[str, str]] | None = None, raw: bool = False) -> tuple[Run, Prompt]:
    """Build the prompt (dropping old turns to fit) and a Run ready to iterate."""
    prompt = build_prompt(lm.tokenizer, question, history=history, raw=raw,
                          max_new_tokens=settings.max_new_tokens, context_window=lm.context_window)
    meta = {"raw": raw, "history_turns": len(prompt.history), "dropped_turns": prompt.dropped_turns}
    run = Run(lm, prompt.ids, settings, seed, prompt_text=prompt.text, prompt_meta=meta)
    return run, prompt


def compare_runs(lm: LoadedModel, question: str, settings_list: list[SamplerSettings], seed: int,
                 raw: bool = False, batched: bool | None = None):
    """Run several settings on the same prompt and seed, stepping them together.

    Yields (runs, stepped) after every round, `stepped` being the indices that advanced; the
    last yield has stepped == []. Batched (default on a GPU): runs whose canvases have the same
    length share one encoder pass per round. On a CPU a batch costs as much as its runs one by
    one, so they are stepped in turn there, which also keeps each run bit-identical to a run alone.
    """
    runs = [start_run(lm, question, s, seed, raw=raw)[0] for s in settings_list]
    if batched is None:
        batched = lm.device != "cpu"
    while True:
        active = [i for i, r in enumerate(runs) if r.pending() is not None]
        if not active:
            break
        if batched:
            step_together([runs[i] for i in active])
        else:
            for i in active:
                next(runs[i])
        yield runs, active
    yield runs, []


def step_together(runs: list[Run]) -> None:
    """One step of each run, with one encoder pass per group of equal canvas lengths."""
    import time

    import torch

    groups: dict[int, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.canvas.shape[1], []).append(run)
    for group in groups.values():
        inputs = [run.model_input() for run in group]
        t0 = time.perf_counter()
        with torch.inference_mode():
            hidden = group[0].lm.encode(torch.cat(inputs))
        encode_ms = (time.perf_counter() - t0) * 1000
        row = 0
        for run, x in zip(group, inputs):
            run.advance(hidden[row : row + x.shape[0]], encode_ms=encode_ms)
            row += x.shape[0]
