"""Seconds per answer: the project's sampler against a reference-style loop, in one process.

    python -m benchmarks.generate                 # full-size random mmBERT-base checkpoint (307M)
    python -m benchmarks.generate --smoke         # tiny checkpoint: proves it runs (CI)
    python -m benchmarks.generate --history 999 --reference-repeats 1   # a long history filling the window
    python -m benchmarks.generate --device cuda --compile --compare --no-reference   # a GPU
    python -m benchmarks.generate --smoke --compile --compile-check strict   # the compiled path's check, a CPU

--compile reports per graph the check against eager (benchmarks/compiled.py), its costs apart,
memory, steady-state passes, seconds per answer and tokens against eager over 20 prompts.

The reference-style loop is tests/dllm_reference.py (dllm's algorithm: all-row logits, float64
noise over the whole canvas and vocabulary). Runs on a GPU unchanged (--device cuda).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.checkpoints import build_random_checkpoint
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import Run
from diffutron_demo.settings import SamplerSettings

from .common import AGREEMENT_PROMPTS, sync, time_ours
from .compiled import compiled, guarded, print_graphs, say

QUESTION = "Türkiye'nin başkenti neresidir? Kısaca açıkla."
FILLER = "Ankara, İç Anadolu Bölgesi'nde yer alır. "


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_reference(lm, ids, settings, seed):
    from tests.dllm_reference import reference_generate

    sync(lm.device)
    t0 = time.perf_counter()
    final, histories = reference_generate(
        lm.model, lm.tokenizer, ids, generator=torch.Generator().manual_seed(seed),
        **{k: getattr(settings, k) for k in ("steps", "max_new_tokens", "block_length", "temperature",
                                              "repetition_penalty", "remasking", "stochastic_transfer", "cfg_scale")},
    )
    sync(lm.device)
    return time.perf_counter() - t0, len(histories) - 1, final


class RecordingTimer:
    """Seconds spent in the recording code itself (the per-step candidate records and the
    trajectory's assembly): what turning recording off saves, measured without run-to-run noise."""

    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self.saved = Run._describe, Run.trajectory
        timer = self

        def timed(fn):
            def wrapper(*a, **kw):
                t0 = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    timer.seconds += time.perf_counter() - t0
            return wrapper

        Run._describe, Run.trajectory = timed(self.saved[0]), timed(self.saved[1])
        return self

    def __exit__(self, *exc):
        Run._describe, Run.trajectory = self.saved


def build_lm(args):
    folder = args.checkpoint
    if not folder:
        cache = Path(os.environ.get("DIFFUTRON_BENCH_CACHE", tempfile.gettempdir())) / (
            "diffutron-bench-tiny" if args.smoke else "diffutron-bench-full")
        if not (cache / "model.safetensors").exists():
            t0 = time.perf_counter()
            build_random_checkpoint(cache, seed=0, full_size=not args.smoke)
            print(f"built {'tiny' if args.smoke else 'full-size'} checkpoint in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr)
        folder = str(cache)
    return folder, load_model(folder, device=args.device, dtype=args.dtype)


def table(rows, new_tokens):
    lines = [f"{'temp':>5}  {'loop':<38} {'s/answer':>9} {'passes':>7} {'tok/s':>7} {'vs ref':>7}"]
    ref = {t: s for t, n, s, _ in rows if n == "reference-style loop"}
    for temperature, name, seconds, passes in rows:
        if seconds is None:
            lines.append(f"{temperature:>5}  {name:<38} {passes:>9}")
            continue
        ratio = f"{ref[temperature] / seconds:.1f}x" if temperature in ref else "-"
        lines.append(f"{temperature:>5}  {name:<38} {seconds:>9.2f} {passes:>7} {new_tokens / seconds:>7.1f} {ratio:>7}")
    return "\n".join(lines)


def long_prompt(lm, new_tokens: int, history: int) -> list[int]:
    """The question, after filler sentences until the prompt has about `history` more tokens
    (never past the window: --history 999 fills it)."""
    def ids(fillers: int) -> list[int]:
        text = QUESTION if not fillers else FILLER * fillers + QUESTION
        return build_prompt(lm.tokenizer, text, max_new_tokens=0, context_window=10**6).ids

    base, fillers = len(ids(0)), 0
    while len(ids(fillers + 1)) - base <= history and len(ids(fillers + 1)) + new_tokens <= lm.context_window:
        fillers += 1
    return ids(fillers)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny checkpoint, one repeat")
    parser.add_argument("--checkpoint", help="an existing folder (default: build a random one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-repeats", type=int, default=None,
                        help="repeats of the slow reference loop (default: --repeats)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--temperatures", default="0.1,0", help="comma-separated (default: %(default)s)")
    parser.add_argument("--history", type=int, default=0, help="lengthen the prompt by up to this many tokens (999: fill the window)")
    parser.add_argument("--no-reference", action="store_true", help="skip the slow reference-style loop")
    parser.add_argument("--int8", action="store_true", help="also time the int8 (approximate) CPU path")
    parser.add_argument("--compile", action="store_true",
                        help="also time the compiled, bucketed encoder (CUDA graphs on a GPU) and count its "
                             "token differences from the eager path over 20 prompts")
    parser.add_argument("--compile-check", default="warn", choices=["off", "warn", "strict"],
                        help="the compiled encoder's check against eager (strict: exit 1 if a graph fails it)")
    parser.add_argument("--compare", action="store_true", help="also time comparing 4 settings against one run")
    parser.add_argument("--agreement-model", default=None,
                        help="measure int8-vs-exact token agreement over 20 prompts on this checkpoint")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder, lm = build_lm(args)
    params = sum(p.numel() for p in lm.model.parameters()) / 1e6
    repeats = 1 if args.smoke else args.repeats
    ref_repeats = 1 if args.smoke else (args.reference_repeats or repeats)

    card = SamplerSettings()
    ids = long_prompt(lm, card.max_new_tokens, args.history)
    where = torch.cuda.get_device_name() if lm.device.startswith("cuda") else f"{args.threads} threads"
    print(f"model {folder}: {params:.0f}M parameters on {lm.device}/{lm.dtype} ({where}); "
          f"prompt {len(ids)} tokens + {card.max_new_tokens} new = canvas {len(ids) + card.max_new_tokens}")

    time_ours(lm, ids, card.with_changes(steps=4, max_new_tokens=4, block_length=4), 0)  # warm-up, untimed
    rows, overhead = [], []
    exact = f"ours (exact, {lm.dtype})"
    for temperature in (float(t) for t in args.temperatures.split(",")):
        settings = card.with_changes(temperature=temperature)
        cases = [(exact, repeats, lambda s=settings: time_ours(lm, ids, s, 0)),
                 ("ours, recording off", repeats, lambda s=settings: time_ours(lm, ids, s, 0, record=False))]
        if not args.no_reference:
            cases.append(("reference-style loop", ref_repeats, lambda s=settings: time_reference(lm, ids, s, 0)))
        times, finals, passes = {n: [] for n, _, _ in cases}, {}, {}
        recording = []
        for r in range(max(n for _, n, _ in cases)):
            # interleaved, and in reverse order every other round: drift and a slow first run hit every case alike
            for name, n, fn in (cases if r % 2 == 0 else cases[::-1]):
                if r >= n:
                    continue
                with RecordingTimer() as timer:
                    seconds, passes[name], finals[name] = fn()
                times[name].append(seconds)
                if name == exact:
                    recording.append(timer.seconds / seconds)
        for name, _, _ in cases:
            rows.append((temperature, name, statistics.median(times[name]), passes[name]))
        same = ("yes" if finals.get("reference-style loop") == finals[exact] else "no") \
            if "reference-style loop" in finals else "-"
        rows.append((temperature, "identical tokens (ours vs reference)", None, same))
        on, off = statistics.median(times[exact]), statistics.median(times["ours, recording off"])
        overhead.append(f"temp {temperature}: recording on/off medians {on:.2f}/{off:.2f} s ({100 * (on / off - 1):+.1f}%); "
                        f"time inside the recording code {100 * statistics.median(recording):.1f}% of a run")
    print()
    print(table(rows, card.max_new_tokens))
    print("\n".join(["", *overhead]))
    status = compiled_part(args, lm, ids, card, repeats) if args.compile else 0
    if args.compare:
        guarded("compare (eager)", lambda: say(compare_cost(lm, ids, card, repeats) + " [eager encoder]"))
    if args.int8:
        ref = {t: s for t, n, s, _ in rows if n == "reference-style loop"}
        del lm
        lm8 = load_model(folder, device="cpu", int8=True)
        for temperature in (float(t) for t in args.temperatures.split(",")):
            settings = card.with_changes(temperature=temperature)
            results = [time_ours(lm8, ids, settings, 0) for _ in range(repeats)]
            seconds = statistics.median(r[0] for r in results)
            ratio = f"{ref[temperature] / seconds:.1f}x" if temperature in ref else "-"
            print(f"{temperature:>5}  {'ours, int8 (approximate)':<38} {seconds:>9.2f} {results[0][1]:>7} "
                  f"{card.max_new_tokens / seconds:>7.1f} {ratio:>7}")
    if args.agreement_model:
        print(agreement(args.agreement_model, card.with_changes(temperature=0.0)))
    print(f"\npeak RSS {peak_rss_mb():.0f} MB (whole process; median of {repeats} run(s) each"
          f"{', reference ' + str(ref_repeats) if not args.no_reference else ''})")
    return status


def compiled_part(args, lm, ids, card, repeats) -> int:
    """The compiled encoder's report; with --compare, its 4-row graph too. 1 if strict and a graph
    failed the check, or a planted fault was not caught."""
    fast, timed, planted_ok = compiled(lm, ids, card, repeats, check=args.compile_check)
    if args.compare:
        guarded("compare (compiled)", lambda: say(compare_cost(fast, ids, card, repeats) + " [compiled encoder]"))
        guarded("graphs", lambda: print_graphs(fast, timed))
    enc = fast.encoder
    if args.compile_check == "strict" and (enc.failed or enc.strict_off or not planted_ok):
        say(f"strict compile check FAILED: {enc.failed or enc.strict_off or 'a planted fault got its verdict wrong'}")
        return 1
    return 0


COMPARE_SET = [{}, {"temperature": 0.0}, {"remasking": "random"}, {"repetition_penalty": 1.0}]


def compare_cost(lm, ids, card, repeats) -> str:
    """4 settings of equal canvas length on one prompt: stepped together (one batched encoder pass
    per step) and one after another, against one run."""
    from diffutron_demo.core.sampler import drive

    settings = [card.with_changes(**c) for c in COMPARE_SET]

    def batched():
        runs = [Run(lm, ids, s, 0) for s in settings]
        for _ in drive(runs, batched=True):
            pass
        return runs

    def one_by_one():
        return [Run(lm, ids, s, 0).run_to_end() for s in settings]

    def timed(fn):
        sync(lm.device)
        t0 = time.perf_counter()
        fn()
        sync(lm.device)
        return time.perf_counter() - t0

    if lm.device != "cpu" or lm.encoder is not None:
        batched(), one_by_one()  # warm-up: a compiled encoder compiles its 4-row shape here
    single = statistics.median(timed(lambda: Run(lm, ids, settings[0], 0).run_to_end()) for _ in range(repeats))
    together = statistics.median(timed(batched) for _ in range(repeats))
    apart = statistics.median(timed(one_by_one) for _ in range(repeats))
    return (f"\ncompare 4 settings (same prompt and seed): one run {single:.2f} s; batched {together:.2f} s "
            f"({together / single:.2f}x one run); one after another {apart:.2f} s ({apart / single:.2f}x)")


def agreement(folder: str, settings: SamplerSettings) -> str:
    """int8 against exact at temperature 0 over 20 prompts: answer tokens and whole replies equal
    (one different commit changes every later step, so this compounds), and, on the very canvases
    of the exact runs, how often int8's top-1 at the masked positions equals exact's (no compounding)."""
    exact, quick = load_model(folder, device="cpu"), load_model(folder, device="cpu", int8=True)
    same_tokens = total = same_answers = same_top1 = masked = 0
    for question in AGREEMENT_PROMPTS:
        ids = build_prompt(exact.tokenizer, question, max_new_tokens=settings.max_new_tokens,
                           context_window=exact.context_window).ids
        a = Run(exact, ids, settings, 0).run_to_end()
        b = Run(quick, ids, settings, 0).run_to_end()
        same_tokens += sum(x == y for x, y in zip(a.final_ids[len(ids):], b.final_ids[len(ids):]))
        total += settings.max_new_tokens
        same_answers += a.reply == b.reply
        with torch.inference_mode():
            for step in range(len(a.steps)):
                canvas = torch.tensor([a.canvas_at(step)])
                where = canvas[0] == exact.mask_id
                top_a = exact.model(input_ids=canvas).logits[0, where].argmax(-1)
                top_b = quick.model(input_ids=canvas).logits[0, where].argmax(-1)
                same_top1 += int((top_a == top_b).sum())
                masked += int(where.sum())
    return (f"int8 vs exact on {Path(folder).name}, {len(AGREEMENT_PROMPTS)} prompts, temperature 0: "
            f"{100 * same_tokens / total:.1f}% of answer tokens equal, {same_answers} identical replies; "
            f"on the exact runs' canvases, int8's top-1 equals exact's at {100 * same_top1 / max(masked, 1):.1f}% "
            f"of {masked} masked positions")


if __name__ == "__main__":
    sys.exit(main())
