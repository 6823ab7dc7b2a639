"""Command line: `python -m diffutron_demo generate ...` prints the reply and writes the trajectory;
`infill` fills a text's ___ blanks; `record-gallery` records the gallery's runs; `sweep` runs a grid
of settings over a prompt set (diffutron_demo/sweep/). The settings flags are derived from the
settings dataclass (one flag per field, its help and range from the field's knob)."""

from __future__ import annotations

import argparse
import sys

from .core.models import DEFAULT_MODEL
from .sweep.command import add_parser as add_sweep_parser
from .settings import FIELD_TYPES, KNOBS, SamplerSettings, SettingsError, check_seed

DEVICES = ["auto", "cpu", "cuda", "mps"]
DTYPES = ["auto", "float32", "bfloat16"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        self.exit(2, f"error: {message}\n")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per settings field. Values stay text here: the settings' own validation reads them,
    so a bad value gets the same sentence as in the UI and the API."""
    defaults = SamplerSettings()
    for name, k in KNOBS.items():
        if FIELD_TYPES[name] == "bool":
            parser.add_argument(flag(name), dest=name, action="store_true", help=k.help)
            continue
        limits = f" [{k.low:g}..{k.high:g}]" if k.low is not None else ""
        choices = f" ({'|'.join(k.choices)})" if k.choices else ""
        parser.add_argument(flag(name), dest=name, default=getattr(defaults, name),
                            help=f"{k.help}{limits}{choices} (default: %(default)s)")


def settings_from_args(args) -> SamplerSettings:
    return SamplerSettings.from_dict({name: getattr(args, name) for name in KNOBS})


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m diffutron_demo", description="Masked diffusion LM demo tools.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    gen = sub.add_parser("generate", help="generate one answer and record its trajectory")
    gen.add_argument("--model", default=DEFAULT_MODEL, help="hub id or local folder (default: %(default)s)")
    gen.add_argument("--prompt", required=True, help="the question (or raw text with --raw)")
    gen.add_argument("--raw", action="store_true", help="send the text without the chat template")
    add_setting_flags(gen)
    _run_flags(gen)
    fill = sub.add_parser("infill", help="fill the ___ blanks of a text and record the trajectory")
    fill.add_argument("--model", default=DEFAULT_MODEL, help="hub id, local folder, or 'demo' (default: %(default)s)")
    fill.add_argument("--text", required=True, help="the text, ___ at each blank (___{n}: n tokens; \\___: literal)")
    fill.add_argument("--question", default=None, help="the text is the answer to this question (chat template); "
                                                       "without it the text is raw")
    add_setting_flags(fill)
    _run_flags(fill)
    rec = sub.add_parser("record-gallery", help="record the gallery's runs with a model")
    rec.add_argument("--model", default="demo", help="hub id, folder, or 'demo' (the bundled model; default)")
    rec.add_argument("--out", default=None, help="folder (default: the package's gallery)")
    rec.add_argument("--device", default="auto", choices=DEVICES)
    rec.add_argument("--dtype", default="auto", choices=DTYPES)
    add_sweep_parser(sub)
    return parser


def _run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", default=0)
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    parser.add_argument("--context-window", default=None, help="override the model's trained window")
    parser.add_argument("--out", default=None, help="write the trajectory JSON here")
    parser.add_argument("--quiet", action="store_true", help="print only the reply")


def _whole(name: str, value) -> int:
    try:
        number = float(value)
        if number != int(number):
            raise ValueError
        return int(number)
    except (TypeError, ValueError, OverflowError):
        raise SettingsError(name, f"{name.replace('_', ' ').capitalize()} must be a whole number (got {value!r}).") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sweep":
        from .sweep.command import main as sweep

        return sweep(args)
    from .core.chat import PromptError
    from .core.models import ModelLoadError

    try:
        return {"generate": _generate, "infill": _generate, "record-gallery": _record_gallery}[args.command](args)
    except (SettingsError, PromptError, ModelLoadError) as exc:
        where = f" ({flag(exc.field)})" if isinstance(exc, SettingsError) else ""
        print(f"error{where}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130


def _record_gallery(args) -> int:
    from pathlib import Path

    from .core.models import load_model
    from .teach.gallery import GALLERY_DIR, record_gallery

    if args.model == "demo":
        from .app.manager import DEMO_MODEL, ModelManager

        manager = ModelManager()
        manager.load(DEMO_MODEL)
        lm = manager.lm
    else:
        lm = load_model(args.model, device=args.device, dtype=args.dtype)
    for path in record_gallery(lm, Path(args.out) if args.out else GALLERY_DIR):
        print(path)
    return 0


def _start(args, settings, seed):
    """(the model, the Run) for `generate` or `infill`; bad input raises before the model loads."""
    from .app.manager import model_source
    from .core.blanks import BlankError, split_blanks, start_infill
    from .core.chat import PromptError, build_prompt
    from .core.models import load_model, quiet_transformers
    from .core.sampler import Run

    window = _whole("context_window", args.context_window) if args.context_window is not None else None
    if window is not None and window < 2:
        raise SettingsError("context_window", "Context window must be at least 2 tokens.")
    text = args.prompt if args.command == "generate" else args.text
    if not text.strip():
        raise PromptError(f"The {'prompt' if args.command == 'generate' else 'text'} is empty: pass "
                          f"{'--prompt' if args.command == 'generate' else '--text'} TEXT.")
    if args.command == "infill" and not any(isinstance(p, int) for p in split_blanks(text, settings.blank_length)):
        raise BlankError("There is no blank in --text: write ___ (three or more underscores) where the model "
                         "should fill in; write \\___ for literal underscores.")
    quiet_transformers()
    lm = load_model(model_source(args.model), device=args.device, dtype=args.dtype, context_window=window)
    if args.command == "infill":
        return lm, start_infill(lm, text, settings, seed, question=args.question)[0]
    prompt = build_prompt(lm.tokenizer, text, raw=args.raw, max_new_tokens=settings.max_new_tokens,
                          context_window=lm.context_window)
    return lm, Run(lm, prompt.ids, settings, seed, prompt_text=prompt.text, prompt_meta={"raw": prompt.raw})


def _generate(args) -> int:
    settings = settings_from_args(args)
    seed = check_seed(args.seed)
    lm, run = _start(args, settings, seed)
    try:
        for record in run:
            if not args.quiet:
                print(f"\rstep {record.step + 1}: committed {len(record.committed)}", end="", file=sys.stderr)
    except KeyboardInterrupt:
        run.cancel()
    trajectory = run.trajectory()
    if not args.quiet:
        forward_s = sum(s.forward_ms for s in trajectory.steps) / 1000
        print(f"\r{len(trajectory.steps)} steps, {trajectory.wall_ms / 1000:.2f} s "
              f"(model {forward_s:.2f} s) on {lm.device}/{lm.dtype}, stop: {trajectory.stop_reason}", file=sys.stderr)
    print(trajectory.reply)
    if args.out:
        trajectory.save(args.out)
        if not args.quiet:
            print(f"trajectory written to {args.out}", file=sys.stderr)
    return 130 if trajectory.stop_reason == "cancelled" else 0
