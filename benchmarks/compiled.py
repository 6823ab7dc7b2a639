"""The compiled encoder in the benchmark: the check's verdict per graph, first-call and steady-state
times, memory per graph, seconds per answer, and tokens against the eager path over 20 prompts.

    python -m benchmarks.generate --smoke --compile --no-reference   # a CPU: inductor, no CUDA graphs
    python -m benchmarks.generate --device cuda --compile            # a GPU (benchmarks/gpu_check.sh)
    python -m benchmarks.compiled --dtype bfloat16 --rows 1,2        # only the check, per graph, no timing

Every part prints as it goes and a failing part prints one line, so a run cut short by a timeout
still shows what came before. The planted faults (wrong compiled forwards, nothing compiled)
show on the real model and dtype that the check catches what it is meant to catch.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import torch

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.compile_guard import tolerance_for
from diffutron_demo.core.encoder import BucketedEncoder, EagerEncoder
from diffutron_demo.core.sampler import Run

from .common import AGREEMENT_PROMPTS, sync, time_ours


def say(text: str) -> None:
    print(text, flush=True)


def guarded(what: str, fn):
    """Run one part; a failure prints one line and the benchmark goes on."""
    try:
        return fn()
    except Exception as exc:
        say(f"{what} FAILED: {type(exc).__name__}: {exc}")
        return None


def compiled(lm, ids, card, repeats, check: str = "warn"):
    """The bucketed, compiled encoder against the eager one; returns the model with it, the graphs
    whose steady state was timed, and whether every planted fault got its expected verdict."""
    fast = dataclasses.replace(lm, encoder=BucketedEncoder(lm.model, lm.pad_id, compile_check=check))
    enc, timed = fast.encoder, set()
    bucket = enc.bucket_for(len(ids) + card.max_new_tokens)
    say(f"\ncompiled encoder: {enc.label}; compile check: {check}")
    guarded("warm-up", lambda: warm_up(enc, bucket))
    guarded("graphs", lambda: print_graphs(fast, timed))
    guarded("seconds per answer", lambda: per_answer(lm, fast, ids, card, repeats))
    guarded("agreement", lambda: token_agreement(lm, fast, card))
    if enc.verdict_note():  # then "compiled" above ran those shapes eagerly
        say(f"NOTE: {enc.verdict_note()}")
    planted_ok = guarded("planted faults", lambda: planted_faults(lm, bucket or enc.buckets[-1]))
    return fast, timed, bool(planted_ok)


def warm_up(enc: BucketedEncoder, bucket: int | None) -> None:
    seconds = enc.warm_up(rows=(1,), lengths=[bucket] if bucket else None)
    where = next(enc.backbone.parameters()).device
    memory = f"; CUDA memory reserved now {torch.cuda.memory_reserved(where) / 2**20:.0f} MB" \
        if where.type == "cuda" else ""
    say(f"first use of rows 1 x bucket {bucket} (compile + capture + check): {seconds:.1f} s{memory}")


def print_graphs(fast, timed: set) -> None:
    """Each graph's report line; for graphs not timed yet, compiled and eager milliseconds per pass."""
    enc = fast.encoder
    say(f"graphs ({len(enc.graphs)}, cap {enc.max_graphs}): verdict, first call (compile, capture), "
        "the check apart, memory")
    for key, line in zip(list(enc.graphs), enc.report_lines()):
        say("  " + line)
        if key in timed or enc.graphs[key].verdict in ("over cap", "failed"):
            continue
        timed.add(key)
        rows, bucket = key
        vocab = enc.backbone.get_input_embeddings().num_embeddings
        x = torch.randint(5, vocab, (rows, enc.length_in(bucket)), generator=torch.Generator().manual_seed(0))
        x = x.to(next(enc.backbone.parameters()).device)
        compiled_ms = per_pass_ms(enc.run_graph, x)
        eager_ms = per_pass_ms(EagerEncoder(fast.model), x)
        say(f"    steady state, canvas {x.shape[1]}: compiled {compiled_ms:.2f} ms/pass, eager {eager_ms:.2f} "
            f"ms/pass ({eager_ms / compiled_ms:.1f}x; median of 5 x 10 passes)")


def per_pass_ms(fn, x, passes: int = 10, rounds: int = 5) -> float:
    with torch.inference_mode():
        fn(x)
        times = []
        for _ in range(rounds):
            sync(str(x.device))
            t0 = time.perf_counter()
            for _ in range(passes):
                fn(x)
            sync(str(x.device))
            times.append((time.perf_counter() - t0) / passes * 1000)
    return statistics.median(times)


def per_answer(lm, fast, ids, card, repeats) -> None:
    for temperature in (0.1, 0.0):
        settings = card.with_changes(temperature=temperature)
        eager_s = statistics.median(time_ours(lm, ids, settings, 0)[0] for _ in range(repeats))
        fast_s = statistics.median(time_ours(fast, ids, settings, 0)[0] for _ in range(repeats))
        say(f"temp {temperature}: eager {eager_s:.3f} s/answer, compiled {fast_s:.3f} s/answer "
            f"({eager_s / fast_s:.1f}x)")


def token_agreement(lm, fast, card) -> None:
    """Tokens against the eager path at temperature 0 over 20 prompts: differences counted, with the
    eager run's confidence gap at the first step that differs (a near-tie or a real change)."""
    settings = card.with_changes(temperature=0.0)
    differing, gaps, tokens_diff, tokens = 0, [], 0, 0
    for question in AGREEMENT_PROMPTS:
        p = build_prompt(lm.tokenizer, question, max_new_tokens=settings.max_new_tokens,
                         context_window=lm.context_window).ids
        a, b = Run(lm, p, settings, 0).run_to_end(), Run(fast, p, settings, 0).run_to_end()
        tokens += settings.max_new_tokens
        if a.final_ids == b.final_ids:
            continue
        differing += 1
        tokens_diff += sum(x != y for x, y in zip(a.final_ids, b.final_ids))
        gaps.append(first_divergence_gap(a, b))
    if fast.encoder.failed:
        say(f"compile FAILED, eager fallback: {fast.encoder.failed}")
    say(f"temperature 0, {len(AGREEMENT_PROMPTS)} prompts: {len(AGREEMENT_PROMPTS) - differing} identical, "
        f"{differing} differ ({tokens_diff} of {tokens} answer tokens, {100 * (1 - tokens_diff / tokens):.1f}% "
        "equal); eager confidence gap at the first differing step: " + (", ".join(f"{g:.2e}" for g in gaps) or "-"))


def first_divergence_gap(a, b) -> float:
    """At the first step where the two runs commit differently: the smallest gap in the eager
    run between a committed candidate's confidence and the best one left masked, or the top-2
    probability gap of a position where the proposed tokens differ."""
    for sa, sb in zip(a.steps, b.steps):
        if sa.committed == sb.committed and \
                [c.token for c in sa.candidates] == [c.token for c in sb.candidates]:
            continue
        cands = {c.pos: c for c in sa.candidates}
        other = {c.pos: c for c in sb.candidates}
        gaps = [c.top[0][1] - c.top[1][1] for p, c in cands.items()
                if p in other and other[p].token != c.token and len(c.top) > 1]
        chosen = [cands[p].conf for p in sa.committed if p in cands]
        left = [c.conf for p, c in cands.items() if p not in sa.committed]
        if chosen and left:
            gaps.append(min(chosen) - max(left))
        return min(gaps) if gaps else float("nan")
    return float("nan")


# -- planted faults: wrong "compiled" forwards the check must catch (tests use them too) ----------
def perturbed(factor: float):
    """States off by `factor` x the dtype's tolerance, relative, at every position (the same offset
    at every call, as a graph that rounds differently would give)."""
    def plant(forward):
        def wrong(ids, mask):
            h = forward(ids, mask)
            noise = torch.randn(h.shape, generator=torch.Generator().manual_seed(0)).to(h.device)
            noise = noise / noise.norm(dim=-1, keepdim=True) * h.float().norm(dim=-1, keepdim=True)
            return (h.float() + factor * tolerance_for(h.dtype, h.device.type) * noise).to(h.dtype)
        return wrong
    return plant


def stale(forward):
    """A graph that kept its capture's input buffers: every call computes on the first call's input."""
    kept = []

    def wrong(ids, mask):
        if not kept:
            kept.extend([ids.clone(), mask.clone()])
        return forward(*kept)
    return wrong


def mask_ignored(forward):
    """A mask that never reaches attention: the real positions see the pads."""
    return lambda ids, mask: forward(ids, torch.ones_like(mask))


PLANTED_FAULTS = {
    "states off by 5x the tolerance": (perturbed(5.0), "rejected"),
    "states off by 0.3x the tolerance": (perturbed(0.3), "ok"),
    "stale capture buffer": (stale, "rejected"),
    "attention mask ignored": (mask_ignored, "rejected"),
}


def planted_faults(lm, bucket: int) -> bool:
    """Each planted fault through the check on this model and dtype; True if all got their verdict."""
    say(f"planted faults (no compile; {lm.dtype}, rows 1 x bucket {bucket}): the check's verdict")
    as_expected = True
    for name, (plant, expected) in PLANTED_FAULTS.items():
        enc = BucketedEncoder(lm.model, lm.pad_id, compile_mode="planted", compiler=plant)
        enc.warm_up(rows=(1,), lengths=[bucket])
        report = enc.graphs[(1, bucket)]
        as_expected &= report.verdict == expected
        mark = "as expected" if report.verdict == expected else f"EXPECTED {expected}"
        say(f"  {name}: {report.verdict} ({mark}); hidden rel. error {report.rel_error:.1e} "
            f"(tolerance {report.tolerance:.0e}), other padding moved it {report.pad_shift:.1e}, top-1 beyond "
            f"a near-tie at {report.top1_beyond_tie}/{report.positions}")
    return as_expected


def main(argv=None) -> int:
    """Only the check: compile and check some graphs of the benchmark's checkpoint, then the planted
    faults. Exit 1 if a graph was rejected or a planted fault got the wrong verdict."""
    parser = argparse.ArgumentParser(description="the compiled encoder's check against eager, per graph")
    parser.add_argument("--smoke", action="store_true", help="tiny checkpoint")
    parser.add_argument("--checkpoint", help="an existing folder (default: build a random one)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", default="1", help="comma-separated (default: %(default)s)")
    parser.add_argument("--buckets", default="128", help="comma-separated bucket lengths (default: %(default)s)")
    args = parser.parse_args(argv)
    from .generate import build_lm

    torch.set_num_threads(args.threads)
    folder, lm = build_lm(args)
    enc = BucketedEncoder(lm.model, lm.pad_id)
    fast = dataclasses.replace(lm, encoder=enc)
    buckets = [int(b) for b in args.buckets.split(",")]
    say(f"model {folder} on {lm.device}/{lm.dtype}: {enc.label}")
    guarded("warm-up", lambda: enc.warm_up(rows=[int(r) for r in args.rows.split(",")], lengths=buckets))
    guarded("graphs", lambda: print_graphs(fast, set()))
    planted_ok = guarded("planted faults", lambda: planted_faults(lm, enc.bucket_for(buckets[0])))
    agreed = all(r.verdict == "ok" for r in enc.graphs.values()) and not enc.failed
    return 0 if planted_ok and agreed and enc.graphs else 1


if __name__ == "__main__":
    sys.exit(main())
