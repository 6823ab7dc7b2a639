"""How many tokens each step commits: dllm's `get_num_transfer_tokens`, to the token.

The reference computes the linear scheduler's reverse-mask probability in float32, which moves
some counts off the exact-rational result near .5 (5 masks in 3 steps -> [2, 1, 2], not
[2, 2, 1]). numpy's float32 is the same IEEE arithmetic, so we emulate it with that.
"""

from __future__ import annotations

import numpy as np
import torch

_ONE = np.float32(1.0)


def _reverse_mask_prob(s: float, t: float) -> float:
    """Linear scheduler alpha(x) = 1 - x; RMP = (1 - alpha(s)) / (1 - alpha(t)), in float32."""
    alpha_s = _ONE - np.float32(s)
    alpha_t = _ONE - np.float32(t)
    return float((_ONE - alpha_s) / (_ONE - alpha_t))


def transfer_probability(j: int, steps: int) -> float:
    """Chance that a still-masked position is committed at step j of `steps` (about 1/(steps-j))."""
    return 1.0 - _reverse_mask_prob((steps - 1 - j) / steps, (steps - j) / steps)


def transfer_schedule(n: int, steps: int, generator: torch.Generator | None = None) -> list[int]:
    """Per-step commit counts for `n` masks over `steps` steps, zero steps dropped.

    With a generator, counts are Binomial draws (dllm's `stochastic_transfer`).
    """
    counts: list[int] = []
    remaining = n
    for j in range(steps):
        if remaining == 0:
            break
        p = transfer_probability(j, steps)
        if generator is None:
            c = int(np.round(np.float64(remaining) * p))  # round half to even, like torch.round
        else:
            c = int(torch.binomial(torch.tensor([float(remaining)]), torch.tensor([p]), generator=generator).item())
        c = min(c, remaining)
        counts.append(c)
        remaining -= c
    return [c for c in counts if c > 0]
