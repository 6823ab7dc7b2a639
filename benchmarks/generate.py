"""Seconds per answer: the project's sampler against a reference-style loop, in one process.

    python -m benchmarks.generate                 # full-size random mmBERT-base checkpoint (307M)
    python -m benchmarks.generate --smoke         # tiny checkpoint: proves it runs (CI)
    python -m benchmarks.generate --repeats 5 --history 200   # a long history filling the window

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

from diffutron_demo.chat import build_prompt
from diffutron_demo.checkpoints import build_random_checkpoint
from diffutron_demo.models import load_model
from diffutron_demo.sampler import Run
from diffutron_demo.settings import SamplerSettings

QUESTION = "Türkiye'nin başkenti neresidir? Kısaca açıkla."
AGREEMENT_PROMPTS = [
    "Türkiye'nin başkenti neresidir?", "Bana kısa bir şiir yazar mısın?", "Yapay zekâ nedir?",
    "İstanbul hakkında bilgi verir misin?", "Su kaç derecede kaynar?", "En sevdiğin kitap hangisi?",
    "Bir dosya nasıl kaydedilir?", "Tabloya satır nasıl eklenir?", "Cumhuriyet ne zaman ilan edildi?",
    "Ankara'nın nüfusu nedir?", "Bugün hava nasıl?", "Matematik neden önemlidir?",
    "Bir mektup yazar mısın?", "Öğrenciler okulda ne öğrenir?", "Deniz neden mavidir?",
    "Kitap okumanın faydaları nelerdir?", "Bir paragraf nasıl biçimlendirilir?", "Gençlere ne söylersin?",
    "Tarih dersi neden önemlidir?", "Merhaba, nasılsın?",
]
FILLER = "Ankara, İç Anadolu Bölgesi'nde yer alır. "


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_ours(lm, ids, settings, seed, record=True):
    _sync(lm.device)
    t0 = time.perf_counter()
    run = Run(lm, ids, settings, seed, record=record)
    traj = run.run_to_end()
    _sync(lm.device)
    return time.perf_counter() - t0, len(traj.steps), traj.final_ids


def time_reference(lm, ids, settings, seed):
    from tests.dllm_reference import reference_generate

    _sync(lm.device)
    t0 = time.perf_counter()
    final, histories = reference_generate(
        lm.model, lm.tokenizer, ids, generator=torch.Generator().manual_seed(seed),
        **{k: getattr(settings, k) for k in ("steps", "max_new_tokens", "block_length", "temperature",
                                              "repetition_penalty", "remasking", "stochastic_transfer", "cfg_scale")},
    )
    _sync(lm.device)
    return time.perf_counter() - t0, len(histories) - 1, final


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny checkpoint, one repeat")
    parser.add_argument("--checkpoint", help="an existing folder (default: build a random one)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--history", type=int, default=0, help="pad the prompt with about this many tokens")
    parser.add_argument("--no-reference", action="store_true", help="skip the slow reference-style loop")
    parser.add_argument("--int8", action="store_true", help="also time the int8 (approximate) CPU path")
    parser.add_argument("--agreement-model", default=None,
                        help="measure int8-vs-exact token agreement over 20 prompts on this checkpoint")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

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
    lm = load_model(folder, device=args.device, dtype=args.dtype)
    params = sum(p.numel() for p in lm.model.parameters()) / 1e6
    repeats = 1 if args.smoke else args.repeats

    question = QUESTION + (" " + FILLER * max(1, args.history // 12) if args.history else "")
    card = SamplerSettings()
    ids = build_prompt(lm.tokenizer, question, max_new_tokens=card.max_new_tokens,
                       context_window=lm.context_window).ids
    print(f"model {folder}: {params:.0f}M parameters on {lm.device}/{lm.dtype}, {args.threads} threads; "
          f"prompt {len(ids)} tokens + {card.max_new_tokens} new = canvas {len(ids) + card.max_new_tokens}")

    rows = []
    for temperature in (0.1, 0.0):
        settings = card.with_changes(temperature=temperature)
        cases = [("ours (exact, fp32)", lambda s=settings: time_ours(lm, ids, s, 0)),
                 ("ours, recording off", lambda s=settings: time_ours(lm, ids, s, 0, record=False))]
        if not args.no_reference:
            cases.append(("reference-style loop", lambda s=settings: time_reference(lm, ids, s, 0)))
        finals = {}
        for name, fn in cases:
            times = []
            for _ in range(repeats):
                seconds, passes, final = fn()
                times.append(seconds)
            finals[name] = final
            rows.append((temperature, name, statistics.median(times), passes))
        same = ("yes" if finals.get("reference-style loop") == finals["ours (exact, fp32)"] else "no") \
            if "reference-style loop" in finals else "-"
        rows.append((temperature, "identical tokens (ours vs reference)", None, same))

    print(f"\n{'temp':>5}  {'loop':<38} {'s/answer':>9} {'passes':>7} {'tok/s':>7} {'vs ref':>7}")
    ref = {t: s for t, n, s, _ in rows if n == "reference-style loop"}
    for temperature, name, seconds, passes in rows:
        if seconds is None:
            print(f"{temperature:>5}  {name:<38} {passes:>9}")
            continue
        ratio = f"{ref[temperature] / seconds:.1f}x" if temperature in ref else "-"
        print(f"{temperature:>5}  {name:<38} {seconds:>9.2f} {passes:>7} "
              f"{card.max_new_tokens / seconds:>7.1f} {ratio:>7}")
    if args.int8:
        del lm
        lm8 = load_model(folder, device="cpu", int8=True)
        for temperature in (0.1, 0.0):
            settings = card.with_changes(temperature=temperature)
            results = [time_ours(lm8, ids, settings, 0) for _ in range(repeats)]
            seconds = statistics.median(r[0] for r in results)
            ratio = f"{ref[temperature] / seconds:.1f}x" if temperature in ref else "-"
            print(f"{temperature:>5}  {'ours, int8 (approximate)':<38} {seconds:>9.2f} {results[0][1]:>7} "
                  f"{card.max_new_tokens / seconds:>7.1f} {ratio:>7}")
    if args.agreement_model:
        print(agreement(args.agreement_model, card.with_changes(temperature=0.0)))
    print(f"\npeak RSS {peak_rss_mb():.0f} MB (median of {repeats} run(s) each)")
    return 0


def agreement(folder: str, settings: SamplerSettings) -> str:
    """Share of answer tokens the int8 path puts where the exact path does, at temperature 0."""
    exact, quick = load_model(folder, device="cpu"), load_model(folder, device="cpu", int8=True)
    same_tokens = total = same_answers = 0
    for question in AGREEMENT_PROMPTS:
        ids = build_prompt(exact.tokenizer, question, max_new_tokens=settings.max_new_tokens,
                           context_window=exact.context_window).ids
        a = Run(exact, ids, settings, 0).run_to_end()
        b = Run(quick, ids, settings, 0).run_to_end()
        same_tokens += sum(x == y for x, y in zip(a.final_ids[len(ids):], b.final_ids[len(ids):]))
        total += settings.max_new_tokens
        same_answers += a.reply == b.reply
    return (f"int8 vs exact on {Path(folder).name}, {len(AGREEMENT_PROMPTS)} prompts, temperature 0: "
            f"{100 * same_tokens / total:.1f}% of answer tokens equal, {same_answers} identical replies")


if __name__ == "__main__":
    sys.exit(main())
