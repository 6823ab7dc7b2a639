"""`python -m diffutron_demo sweep`: the flags, the checks made before any model loads, and the
launch: every process runs its share of the reference setting's runs, waits for the others, then
its share of the rest (measured against the reference rows now on disk); the main process writes
the summary and the report.

Resuming: the plan is what runs.jsonl lacks when the launch starts; every process reads the same
file before anyone appends, so the shares are the same on every process.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from . import manifest, runsfile
from .grid import SweepInputError, grid_dict, load_grid, pick_reference
from .prompts import load_prompts
from .seeds import parse_seeds

BARRIER_TIMEOUT = timedelta(hours=12)  # processes wait for the slowest between phases; torchrun ends a broken group


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid of settings over a prompt set and seeds (accelerate launch works)")
    p.add_argument("--model", required=True, help="hub id, local folder, or 'demo' (the bundled demo model)")
    p.add_argument("--prompts", required=True, help=".txt (one prompt a line) or .jsonl {prompt, id, reference, "
                                                    "mode, question}")
    p.add_argument("--grid", required=True, help=".json/.yaml: named settings, or {base, vary}")
    p.add_argument("--out", required=True, help="output folder (resumed if it holds this sweep)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    p.add_argument("--compare-seeds", action="store_true",
                   help="seed every run with the seed itself, as the app's Compare tab does (default: a stream "
                        "per prompt, setting and seed)")
    p.add_argument("--reference", default=None, help="the grid entry others are measured against (default: first)")
    p.add_argument("--batch-size", default=None, help="runs of one setting stepped together (default: 1 on a CPU, "
                                                      "32 on a GPU)")
    p.add_argument("--keep-trajectories", action="store_true", help="write every run's trajectory under OUT")
    p.add_argument("--raw", action="store_true", help="send prompts without the chat template")
    p.add_argument("--force", action="store_true", help="start over in an OUT that holds another sweep")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even where CUDA is available")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    p.add_argument("--compile", action="store_true", help="GPU: compile the bucketed encoder (CUDA graphs)")


@dataclass
class Inputs:
    grid: dict
    prompts: list
    prompts_sha256: str
    seeds: list[int]
    reference: str
    out: Path
    batch_size: int | None
    wanted: dict  # the sweep's identity, as the manifest stores it


def check_inputs(args) -> Inputs:
    """Everything that can be checked without torch; raises SweepInputError (one line)."""
    grid = load_grid(args.grid)
    prompts, sha = load_prompts(args.prompts)
    seeds = parse_seeds(args.seeds)
    reference = pick_reference(grid, args.reference)
    batch = None
    if args.batch_size is not None:
        try:
            batch = int(str(args.batch_size).strip())
        except ValueError:
            batch = 0
        if not 1 <= batch <= 4096:
            raise SweepInputError(f"--batch-size must be a whole number from 1 to 4096 (got {args.batch_size!r}).")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SweepInputError(f"--out {out}: exists and is not a folder.")
    wanted = manifest.identity(args.model, grid_dict(grid), sha, seeds, reference, bool(args.raw),
                               bool(args.compare_seeds))
    if not args.force:
        manifest.check_same(out, wanted)
    return Inputs(grid, prompts, sha, seeds, reference, out, batch, wanted)


def main(args) -> int:
    say = _main_process_says()
    try:
        inputs = check_inputs(args)
    except SweepInputError as exc:
        say(f"error: {exc}")
        return 2
    from ..core.models import ModelLoadError

    try:
        return _launch(args, inputs, say)
    except (ModelLoadError, SweepInputError) as exc:
        say(f"error: {exc}")
        return 2


def _main_process_says():
    """Before accelerate starts, the launcher's RANK tells the main process (one line, not one per process)."""
    main = os.environ.get("RANK", "0") == "0"
    return lambda text: print(text, file=sys.stderr, flush=True) if main else None


def _launch(args, inputs: Inputs, say) -> int:
    import torch
    from accelerate import PartialState

    from ..app.manager import model_source
    from ..core.models import load_model, quiet_transformers
    from .runner import Context

    quiet_transformers()
    state = PartialState(cpu=args.cpu or not torch.cuda.is_available(), timeout=BARRIER_TIMEOUT)
    device = "cpu" if state.device.type == "cpu" else str(state.device)  # accelerate says cpu:0 under torchrun
    source = model_source(args.model)
    lm = load_model(source, device=device, dtype=args.dtype, compile=args.compile)
    model_facts = {"model_name": lm.name, "model_revision": getattr(lm.model.config, "_commit_hash", None),
                   "model_fingerprint": manifest.fingerprint(source)}
    old = manifest.read(inputs.out) if not args.force else None
    if old and any(k in old and old[k] != model_facts[k] for k in ("model_revision", "model_fingerprint")):
        raise SweepInputError(f"{inputs.out} holds a sweep of another revision of the model: use another --out, "
                              "or --force to start over.")
    batch = inputs.batch_size or (1 if lm.device == "cpu" else 32)
    if batch > 1 and lm.encoder is None:  # pad runs of one setting to shared bucket lengths, masked
        from ..core.encoder import BucketedEncoder

        lm.encoder = BucketedEncoder(lm.model, lm.pad_id, compile_mode=None)
    if state.is_main_process:
        inputs.out.mkdir(parents=True, exist_ok=True)
        _prepare(inputs, args.force, model_facts, _launch_facts(state, lm, batch), old)
    state.wait_for_everyone()
    ctx = Context(lm, inputs.grid, inputs.reference, inputs.out, bool(args.raw), batch, args.keep_trajectories,
                  state.process_index, manifest.read(inputs.out)["launches"][-1]["id"], bool(args.compare_seeds))
    from .runner import run_phases

    started = time.perf_counter()
    run_phases(state, ctx, inputs.prompts, inputs.seeds)
    if state.is_main_process:
        from .finish import finish

        expected = len(inputs.grid) * len(inputs.prompts) * len(inputs.seeds)
        say(finish(inputs.out, ctx.launch, time.perf_counter() - started, state.num_processes, expected))
    return 0


def _prepare(inputs: Inputs, force: bool, model_facts: dict, launch: dict, old: dict | None) -> None:
    """Main process, before any run: a forced start clears the old sweep's files; a torn last line goes."""
    if force:
        for name in manifest.OUTPUTS:
            (inputs.out / name).unlink(missing_ok=True)
        shutil.rmtree(inputs.out / "trajectories", ignore_errors=True)
        old = None
    found = runsfile.repair(inputs.out)
    if found.torn or found.bad or found.duplicates:
        print(f"runs.jsonl: dropped {int(found.torn)} half-written and {found.bad} unreadable lines "
              f"({found.duplicates} duplicates); their runs are redone", file=sys.stderr)
    manifest.write(inputs.out, {**inputs.wanted, **model_facts}, launch, old)


def _launch_facts(state, lm, batch: int) -> dict:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def v(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    from .. import __version__

    packages = ("torch", "transformers", "accelerate", "sacrebleu", "tokenizers")
    return {"id": manifest.launch_id(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "num_processes": state.num_processes, "device": lm.device, "dtype": lm.dtype, "batch_size": batch,
            "encoder": getattr(lm.encoder, "label", "eager"), "python": platform.python_version(),
            "packages": {"diffutron_demo": __version__, **{p: v(p) for p in packages if v(p)}}}

