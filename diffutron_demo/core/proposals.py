"""A step's model math (dllm-reference §4.6-4.7), on the candidate rows only.

The 256k-vocabulary head, CFG, the repetition penalty, the sampling and the softmax run only on
the rows that can be committed this step. Sampling draws one uniform per row (inverse CDF)
instead of a float64 Gumbel tensor over the whole vocabulary: the same distribution, a different
random stream.
"""

from __future__ import annotations

import torch

from ..settings import SamplerSettings


def penalized_logits(model, hidden: torch.Tensor, rows: torch.Tensor, settings: SamplerSettings,
                     canvas: torch.Tensor, mask_id: int, eos_id: int) -> torch.Tensor:
    """Logits [len(rows), V] for the given canvas rows, CFG and penalty applied, in float32.
    `hidden` has one row per pass: the canvas, then (with CFG) its prompt-masked copy."""
    out = model.decoder(model.head(hidden[:, rows])).float()
    if settings.cfg_scale > 0:
        cond, un = out[0], out[1]
        out = un + (settings.cfg_scale + 1) * (cond - un)
    else:
        out = out[0]
    theta = settings.repetition_penalty
    if theta == 1.0 or out.numel() == 0:
        return out
    # Presence penalty over every distinct id on the canvas but mask and eos (dllm's fork).
    present = torch.unique(canvas)
    present = present[(present != mask_id) & (present != eos_id)]
    cols = out[:, present]
    out[:, present] = torch.where(cols > 0, cols / theta, cols * theta)
    return out


def propose(logits: torch.Tensor, temperature: float, generator: torch.Generator):
    """(sampled token per row, its confidence, the temperature-free probabilities). The confidence
    is the probability under the temperature-free logits, as dllm ranks by."""
    if logits.shape[0] == 0:
        empty = torch.empty(0, device=logits.device)
        return empty.long(), empty, logits
    if temperature == 0:
        tokens = logits.argmax(dim=-1)
    else:
        probs = torch.softmax(logits.double() / temperature, dim=-1)
        cdf = probs.cumsum(dim=-1)
        u = torch.rand(logits.shape[0], generator=generator, dtype=torch.float64).to(logits.device)
        tokens = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
        tokens = tokens.clamp_max(logits.shape[1] - 1)
    # softmax then gather, as dllm does, so near-ties round the same way and rank the same.
    probs = torch.softmax(logits, dim=-1)
    conf = probs.gather(1, tokens.unsqueeze(1)).squeeze(1)
    return tokens, conf, probs


def draft_spread(probs: torch.Tensor, top_probs: torch.Tensor):
    """Per row of the temperature-free distribution: its entropy (nats), the first choice's lead
    over the second (margin), and the probability left outside the recorded top (rest)."""
    entropy = torch.special.entr(probs).sum(dim=-1)
    second = top_probs[:, 1] if top_probs.shape[1] > 1 else torch.zeros_like(top_probs[:, 0])
    return entropy, top_probs[:, 0] - second, (1 - top_probs.sum(dim=-1)).clamp_min(0)


def overflow_rows(canvas: torch.Tensor, candidates: torch.Tensor, extra: int, mask_id: int) -> torch.Tensor:
    """dllm's top-k over the whole row reaches past the candidates when the quota exceeds them;
    ties among those -inf rows go to the lowest positions. Only masks among them change."""
    outside = torch.ones_like(canvas, dtype=torch.bool)
    outside[candidates] = False
    picked = torch.nonzero(outside).flatten()[:extra]
    return picked[canvas[picked] == mask_id]
