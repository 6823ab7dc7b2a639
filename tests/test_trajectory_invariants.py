"""What a recorded trajectory promises (sampler-contract.md §3), checked over many random runs.

Every step is replayed from the record alone (`canvas_at`) and its numbers are recomputed
with a fresh full forward pass of the model, so a record that drifts from what the sampler
really did (or a sampler that drifts from the reference's rules) shows up here.
"""

import random

import pytest
import torch

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.sampler import TOP_K, generate
from diffutron_demo.settings import SamplerSettings
from tests.dllm_reference import reference_schedule

PROMPTS = ["Türkiye'nin başkenti neresidir?", "Merhaba! Nasılsın?", "a", "Bir, iki, üç, dört", "İstanbul"]
RUNS = 40
TOL = 1e-5


def random_case(i: int):
    rng = random.Random(7000 + i)
    settings = SamplerSettings(
        steps=rng.randint(1, 24),
        max_new_tokens=rng.randint(1, 24),
        block_length=rng.choice([rng.randint(1, 24), rng.randint(1, 6)]),
        temperature=rng.choice([0.0, 0.0, 0.5, 1.0, round(rng.uniform(0.05, 2.0), 3)]),
        repetition_penalty=rng.choice([1.0, 1.2, round(rng.uniform(1.0, 2.0), 3)]),
        remasking=rng.choice(["low_confidence", "random"]),
        stochastic_transfer=rng.random() < 0.3,
        cfg_scale=rng.choice([0.0, 0.0, round(rng.uniform(0.2, 3.0), 2)]),
    )
    return i % 4, settings, rng.choice(PROMPTS), rng.random() < 0.3, rng.randint(0, 2**31)


def fresh_probs(lm, canvas, given, settings):
    """softmax of the processed logits, from a full forward pass: CFG, then the presence penalty."""
    x = torch.tensor([canvas])
    with torch.inference_mode():
        cond = lm.model(input_ids=x).logits[0].float()
        if settings.cfg_scale > 0:
            un_x = x.clone()
            un_x[0, given] = lm.mask_id
            un = lm.model(input_ids=un_x).logits[0].float()
            logits = un + (settings.cfg_scale + 1) * (cond - un)
        else:
            logits = cond
        theta = settings.repetition_penalty
        if theta != 1.0:
            present = sorted(set(canvas) - {lm.mask_id, lm.eos_id})
            cols = logits[:, present]
            logits[:, present] = torch.where(cols > 0, cols / theta, cols * theta)
        return torch.softmax(logits, dim=-1)


def check_run(lm, settings, question, raw, seed):
    prompt = build_prompt(lm.tokenizer, question, raw=raw, max_new_tokens=settings.max_new_tokens,
                          context_window=lm.context_window)
    traj = generate(lm, prompt.ids, settings, seed=seed)
    mask, P, N, L = lm.mask_id, len(prompt.ids), settings.max_new_tokens, settings.block_length
    T = P + N
    steps = traj.steps
    initial = traj.canvas_at(0)
    assert initial == prompt.ids + [mask] * N
    given = torch.tensor([(t != mask and t != lm.eos_id) for t in initial])
    assert traj.canvas_at(len(steps)) == traj.final_ids

    last_event = {}  # pos -> ("commit" | "forced", token)
    for s, st in enumerate(steps):
        before = traj.canvas_at(s)
        start, end = st.window
        b = st.block
        assert (start, end) == (P + b * L, min(P + (b + 1) * L, T))
        cands = st.candidates

        # Candidates: exactly the masks left of the window's end, in canvas order.
        assert [c.pos for c in cands] == [p for p in range(end) if before[p] == mask]

        # Every recorded number, recomputed from a fresh forward on the replayed canvas.
        probs = fresh_probs(lm, before, given, settings)
        for c in cands:
            row = probs[c.pos]
            assert abs(c.conf - float(row[c.token])) <= TOL, (s, c.pos)
            top = c.top
            assert len(top) == TOP_K
            top_p = [p for _, p in top]
            assert top_p == sorted(top_p, reverse=True)
            assert top_p[0] >= c.conf - 1e-7
            for tok, p in top:
                assert abs(p - float(row[tok])) <= TOL
            assert abs(top_p[-1] - float(row.topk(TOP_K).values[-1])) <= TOL  # really the best five
            if settings.temperature == 0:
                assert abs(c.conf - float(row.max())) <= TOL  # greedy takes the argmax

        # How many were committed, and which.
        masks_left = before.count(mask)
        assert st.quota == min(st.scheduled, masks_left)
        committed = st.committed
        assert len(set(committed)) == len(committed)
        proposals = {c.pos: c.token for c in cands}
        proposals.update({o.pos: o.token for o in st.overflow})
        assert set(committed) <= set(proposals)
        if len(cands) >= st.quota:
            assert len(committed) == st.quota and not st.overflow
        else:  # every candidate, plus masks the reference's whole-row top-k reaches past them
            assert set(committed) >= set(proposals) - {o.pos for o in st.overflow}
            assert all(o.pos >= end for o in st.overflow)
        if settings.remasking == "low_confidence":
            # Best first; ties toward the lowest position.
            order = sorted(cands, key=lambda c: (-c.conf, c.pos))
            assert committed[: min(len(cands), st.quota)] == [c.pos for c in order[: st.quota]]

        for pos in committed:
            # Only masks are committed; a position already committed is only committed again
            # when its earlier commit was the mask id itself (and nothing overwrote it since).
            assert pos >= P and before[pos] == mask, (s, pos)
            if pos in last_event:
                assert last_event[pos] == ("commit", mask), (s, pos, last_event[pos])
            last_event[pos] = ("commit", proposals[pos])
        for edit in st.forced:
            assert edit.kind == "stop_string" and edit.pos >= P
            last_event[edit.pos] = ("forced", edit.token)

    # Every generated position's final token is its last commit's, or a forced edit's after it.
    for pos in range(P, T):
        kind, token = last_event.get(pos, (None, mask))
        assert traj.final_ids[pos] == token, (pos, kind)
    assert traj.final_ids[:P] == prompt.ids

    # The schedule per block: the reference's counts for the masks the block started with.
    S = settings.steps_per_block
    first_forced = min([s for s, st in enumerate(steps) if st.forced], default=len(steps))
    for b in sorted({st.block for st in steps}):
        idx = [s for s, st in enumerate(steps) if st.block == b]
        if idx[-1] >= first_forced:
            break  # the stop check rewrote the canvas: later counts start from its canvas
        start, end = steps[idx[0]].window
        n_b = traj.canvas_at(idx[0])[start:end].count(mask)
        scheduled = [steps[s].scheduled for s in idx]
        emptied = mask not in traj.canvas_at(idx[-1] + 1)  # the fork's early exit may cut it short
        if not settings.stochastic_transfer:
            expected = reference_schedule(n_b, S)
            assert scheduled == expected or (emptied and scheduled == expected[: len(scheduled)]), (b, n_b)
        else:
            assert all(c > 0 for c in scheduled) and len(scheduled) <= S
            assert sum(scheduled) == n_b or (emptied and sum(scheduled) <= n_b), (b, n_b, scheduled)
    return traj


@pytest.mark.parametrize("i", range(RUNS))
def test_trajectory_invariants(models, i):
    which, settings, question, raw, seed = random_case(i)
    check_run(models[which], settings, question, raw, seed)


def test_the_runs_cover_the_settings(models):
    # The invariants are only as good as the runs: make sure the mix reaches every setting and
    # the rare paths (a committed mask, a forced edit, several commits in one step).
    seen = {"t0": 0, "t>0": 0, "random": 0, "low_confidence": 0, "cfg": 0, "stochastic": 0,
            "forced": 0, "mask_commit": 0, "multi": 0}
    for i in range(RUNS):
        which, s, question, raw, seed = random_case(i)
        seen["t0"] += s.temperature == 0
        seen["t>0"] += s.temperature > 0
        seen[s.remasking] += 1
        seen["cfg"] += s.cfg_scale > 0
        seen["stochastic"] += s.stochastic_transfer
        if which in (2, 3):
            lm = models[which]
            prompt = build_prompt(lm.tokenizer, question, raw=raw, max_new_tokens=s.max_new_tokens,
                                  context_window=lm.context_window)
            traj = generate(lm, prompt.ids, s, seed=seed)
            seen["forced"] += any(st.forced for st in traj.steps)
            seen["mask_commit"] += any(c.token == lm.mask_id and c.pos in st.committed
                                       for st in traj.steps for c in st.candidates)
            seen["multi"] += any(len(st.committed) > 1 for st in traj.steps)
    assert all(v >= 2 for v in seen.values()), seen

