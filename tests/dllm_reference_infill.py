"""Independent test oracle: the Diffutron fork of dllm's `LLaDAGenerator.infill`, batch of one.

Written from /work/shared/docs/sampler-contract.md §4 ("Infill") and dllm-reference.md §4.5-4.7
(numerics), with the project's deliberate differences (contract §4):
- the fork's stop check is OFF by default (given text is never overwritten; what the model writes
  into a blank stays as written). `fork_stop_check=True` turns the fork's check back on, so tests
  can show what the fork would have done;
- ties in confidence break toward the lowest position (a stable sort), -inf rows included.

What the fork's infill does, as implemented here:
- T = len(canvas); block_length None = T; num_blocks = ceil(T / L); S = ceil(steps / num_blocks).
  Blocks tile the whole canvas from position 0.
- The attention mask (x != eos_id) is taken once from the initial canvas and passed to every
  forward (repeated for both rows of a CFG batch). `given` = (x != mask) & (x != eos) at the start.
- Per block: the transfer schedule from the masks inside the window (float32 detour, half-to-even
  rounding, or Binomial draws at block start; zero steps compacted away, so a block with no
  blank makes no forward pass).
- Per step: break when no mask is left anywhere; one forward over the whole canvas, full
  vocabulary; CFG; presence penalty; argmax or float64 Gumbel-max; confidence (softmax of the
  penalized, temperature-free logits at the sampled token, or a fresh uniform [1, T] draw for
  `random`); everything outside [start, stop) and every non-mask is -inf; k = min(count, masks
  left anywhere); commit the k best.

Plain torch; the only helpers taken are the package-independent ones of tests/dllm_reference.py.
"""

from __future__ import annotations

import math

import torch

from tests.dllm_reference import _apply_stop_criteria, _repetition_penalty, _sample_and_confidence, _transfer_schedule


@torch.inference_mode()
def reference_infill(
    model,
    tokenizer,
    canvas_ids: list[int],
    *,
    steps: int,
    block_length: int | None,
    temperature: float,
    repetition_penalty: float,
    remasking: str,
    stochastic_transfer: bool,
    cfg_scale: float,
    generator: torch.Generator,
    cfg_keep_tokens: list[int] | None = None,
    fork_stop_check: bool = False,
    hide_eos: bool = True,
    stats: dict | None = None,
) -> tuple[list[int], list[list[int]], int]:
    """Return (final canvas, histories, forward_passes).

    histories = the initial canvas, then one copy per executed step. forward_passes counts rows
    through the model: one per step, two for a CFG step (its one call runs two rows). `stats`, if
    given, is filled with {"calls": model calls, "passes": forward_passes, "steps_per_block": S,
    "num_blocks": ..., "schedules": [per-block transfer counts], "step_blocks" / "step_counts": each
    executed step's block and scheduled count}.

    Test instruments, off in the reference proper: `fork_stop_check=True` runs the fork's stop check
    after every step; `hide_eos=False` passes an all-ones attention mask."""
    assert steps >= 1
    if remasking not in ("low_confidence", "random"):
        raise NotImplementedError(remasking)
    mask_id, eos_id = tokenizer.mask_token_id, tokenizer.eos_token_id
    dev = next(model.parameters()).device

    T = len(canvas_ids)
    L = T if block_length is None else block_length
    assert L >= 1 and T >= 1
    x = torch.tensor([list(canvas_ids)], dtype=torch.long, device=dev)
    attn = (x != eos_id).long()  # fixed for the whole run, set even for one row (fork's infill)
    if not hide_eos:  # a test instrument: what a sampler that forgot the mask would do
        attn = torch.ones_like(attn)
    given = (x != mask_id) & (x != eos_id)  # what CFG's unconditional row hides
    if cfg_keep_tokens:
        given &= ~torch.isin(x, torch.tensor(cfg_keep_tokens, device=dev))

    num_blocks = math.ceil(T / L)
    S = math.ceil(steps / num_blocks)
    histories = [x[0].tolist()]
    calls = passes = 0
    schedules, step_blocks, step_counts = [], [], []

    for b in range(num_blocks):
        start, stop = b * L, min((b + 1) * L, T)
        n = int((x[0, start:stop] == mask_id).sum())
        K = _transfer_schedule(n, S, stochastic_transfer, generator)  # [] when the block has no blank
        schedules.append(K)
        for s in range(len(K)):
            if not bool((x == mask_id).any()):  # the fork's early exit (the block loop goes on)
                break
            M = x == mask_id
            step_blocks.append(b)
            step_counts.append(K[s])

            if cfg_scale > 0:
                un_x = x.clone()
                un_x[given] = mask_id
                both = model(input_ids=torch.cat([x, un_x]), attention_mask=attn.repeat(2, 1)).logits
                calls, passes = calls + 1, passes + 2
                cond, un = both[:1], both[1:]
                logits = un + (cfg_scale + 1) * (cond - un)
            else:
                logits = model(input_ids=x, attention_mask=attn).logits
                calls, passes = calls + 1, passes + 1
            logits = _repetition_penalty(logits.clone(), x, repetition_penalty, mask_id, eos_id)

            x0, conf = _sample_and_confidence(logits, temperature, remasking, generator)  # as the fork draws them
            conf[:, :start] = -math.inf  # candidates: the masks inside the window only
            conf[:, stop:] = -math.inf
            x0 = torch.where(M, x0, x)
            conf = torch.where(M, conf, torch.full_like(conf, -math.inf))

            k = min(K[s], int(M[0].sum()))  # masks left anywhere
            if k > 0:
                order = torch.sort(conf[0], descending=True, stable=True).indices[:k]
                x[0, order] = x0[0, order]

            if fork_stop_check:
                x = torch.tensor([_apply_stop_criteria(tokenizer, x[0].tolist())], dtype=torch.long, device=dev)
            histories.append(x[0].tolist())

    if stats is not None:
        stats.update(calls=calls, passes=passes, steps_per_block=S, num_blocks=num_blocks, schedules=schedules,
                     step_blocks=step_blocks, step_counts=step_counts)
    return x[0].tolist(), histories, passes


@torch.inference_mode()
def reference_row_logits(model, tokenizer, canvas_ids: list[int], row: int, *, repetition_penalty: float,
                         cfg_scale: float) -> torch.Tensor:
    """The processed logits (attention mask, CFG, presence penalty) of one row of the canvas as the
    first step sees it, in float64: what the first commit at `row` is sampled from (/ temperature)."""
    mask_id, eos_id = tokenizer.mask_token_id, tokenizer.eos_token_id
    x = torch.tensor([list(canvas_ids)], dtype=torch.long)
    attn = (x != eos_id).long()
    if cfg_scale > 0:
        un_x = x.clone()
        un_x[(x != mask_id) & (x != eos_id)] = mask_id
        both = model(input_ids=torch.cat([x, un_x]), attention_mask=attn.repeat(2, 1)).logits.double()
        logits = both[1:] + (cfg_scale + 1) * (both[:1] - both[1:])
    else:
        logits = model(input_ids=x, attention_mask=attn).logits.double()
    logits = _repetition_penalty(logits.clone(), x, repetition_penalty, mask_id, eos_id)
    return logits[0, row]
