"""Where a run writes and how its blocks tile the canvas: generation (after the prompt) or infill
(blanks anywhere in a given text, the fork's `LLaDAGenerator.infill`; sampler-contract §4).

One loop serves both (sampler.py); they differ only in what this says:

- generation: blocks tile the answer from the end of the prompt; a step's candidates are every
  mask left of the window's end (an earlier block's leftovers too); the stop check runs;
  the model sees the whole canvas (no attention mask).
- infill: blocks tile the whole canvas from position 0; a step's candidates are the masks inside
  the window only; the stop check is off (given text is never overwritten); the attention mask
  hides the canvas's eos ids as they were at the start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..record.trajectory import GENERATE, INFILL


@dataclass(frozen=True)
class Layout:
    initial: tuple[int, ...]  # the canvas before step 0: mask ids where the run writes
    origin: int  # where block 0 starts
    mode: str = GENERATE
    # Masks the run leaves as they are: a redo of a canvas that still holds masks (a stopped run,
    # or the model's own committed mask ids) fills only the positions chosen.
    fixed: frozenset[int] = frozenset()

    @classmethod
    def generation(cls, prompt_ids: list[int], new_tokens: int, mask_id: int) -> "Layout":
        return cls(tuple(prompt_ids) + (mask_id,) * new_tokens, len(prompt_ids), GENERATE)

    @classmethod
    def infill(cls, canvas: list[int], fixed=frozenset()) -> "Layout":
        return cls(tuple(canvas), 0, INFILL, frozenset(fixed))

    def writes(self) -> list[int]:
        """The canvas with the masks this run leaves alone hidden: what its blanks are read from."""
        return [-1 if i in self.fixed else t for i, t in enumerate(self.initial)]

    @property
    def is_infill(self) -> bool:
        return self.mode == INFILL

    def num_blocks(self, block_length: int) -> int:
        return math.ceil((len(self.initial) - self.origin) / block_length)

    def steps_per_block(self, steps: int, block_length: int) -> int:
        return math.ceil(steps / max(self.num_blocks(block_length), 1))

    def window(self, block: int, block_length: int) -> tuple[int, int]:
        """Canvas positions [start, end) that block `block` may commit in."""
        start = self.origin + block * block_length
        return start, min(start + block_length, len(self.initial))

    def candidates_from(self, window: tuple[int, int]) -> int:
        """The first position a step in `window` may commit: 0 in generation (leftovers of earlier
        blocks stay candidates, as in dllm's generate), the window's start in infill."""
        return window[0] if self.is_infill else 0

    def expected_steps(self, steps: int, block_length: int, mask_id: int) -> int:
        """Steps a scheduled run takes: per block, one per mask up to the block's budget (a block
        without masks costs nothing; the schedule drops steps that would commit nothing)."""
        budget, canvas = self.steps_per_block(steps, block_length), self.writes()
        total = 0
        for block in range(self.num_blocks(block_length)):
            start, end = self.window(block, block_length)
            total += min(canvas[start:end].count(mask_id), budget)
        return total
