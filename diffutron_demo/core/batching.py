"""Sharing encoder passes: what one step's pass takes, and one pass for several runs' inputs.

Runs whose inputs have the same length (or fall in one bucket of a bucketed encoder) share a pass;
each row's padding, and an infill run's hidden eos ids, are masked from attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .models import LoadedModel


@dataclass(frozen=True)
class ModelInput:
    """What a step's encoder pass takes: the rows (the canvas, and CFG's prompt-masked copy) and,
    for infill, the attention mask (0 hides a key)."""
    ids: torch.Tensor
    keys: torch.Tensor | None = None

    @property
    def shape(self):
        return self.ids.shape


def group_key(lm: LoadedModel, x: ModelInput) -> tuple:
    """Inputs with equal keys share a pass: equal length, or one bucket of a bucketed encoder."""
    bucket_for = getattr(lm.encoder, "bucket_for", None)
    bucket = bucket_for(x.shape[1]) if bucket_for else None
    return ("bucket", bucket) if bucket is not None else ("length", x.shape[1])


def encode_group(lm: LoadedModel, xs: list[ModelInput]) -> list[torch.Tensor]:
    """One encoder pass for several runs' inputs; each gets its own rows and length back."""
    lengths = [x.shape[1] for x in xs]
    longest = max(lengths)
    pad = torch.nn.functional.pad
    masked = any(x.keys is not None for x in xs)
    with torch.inference_mode():
        if min(lengths) == longest and not masked:
            hidden = lm.encode(torch.cat([x.ids for x in xs]))
        else:  # right-pad to the longest; the encoder hides each row's padding (and an infill's eos ids)
            ids = torch.cat([pad(x.ids, (0, longest - x.shape[1]), value=lm.pad_id) for x in xs])
            if masked:
                keys = torch.cat([pad(x.keys if x.keys is not None else torch.ones_like(x.ids),
                                      (0, longest - x.shape[1])) for x in xs])
                hidden = lm.encode(ids, attention_mask=keys)
            else:
                hidden = lm.encode(ids, lengths=[x.shape[1] for x in xs for _ in range(x.shape[0])])
    out, row = [], 0
    for x in xs:
        out.append(hidden[row : row + x.shape[0], : x.shape[1]])
        row += x.shape[0]
    return out
