"""Remasking strategies: which candidates a step commits. One small function each, chosen by name.

A strategy scores every candidate (higher = commit first) and says how many of the best to
commit and by what rule. The sampler ranks by score (ties toward the lowest position) and
records the score, the rank and the rule, so every view explains the step from the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..settings import REMASKING, SamplerSettings


@dataclass(frozen=True)
class Candidates:
    conf: torch.Tensor  # each candidate's confidence in its proposal
    positions: torch.Tensor  # their canvas positions, ascending
    canvas_len: int
    generator: torch.Generator


@dataclass(frozen=True)
class Decision:
    scores: torch.Tensor  # what the candidates are ranked by
    count: int  # how many of the best to commit (the sampler caps it at the candidates and the quota)
    rule: dict  # what decided the count, in the record: {"kind": "quota" | "threshold" | "factor", ...}


@dataclass(frozen=True)
class Strategy:
    name: str
    decide: Callable[[Candidates, int, SamplerSettings], Decision]
    # Scheduled strategies run the transfer schedule's steps; the others run until the block is full.
    follows_schedule: bool
    ranks_by: str  # what the score is, in words: "confidence" or "random draw"
    summary: str


STRATEGIES: dict[str, Strategy] = {}


def strategy(name: str, *, follows_schedule: bool, ranks_by: str, summary: str):
    def register(decide):
        STRATEGIES[name] = Strategy(name, decide, follows_schedule, ranks_by, summary)
        return decide
    return register


@strategy("low_confidence", follows_schedule=True, ranks_by="confidence",
          summary="commit the most confident proposals (dllm)")
def low_confidence(c: Candidates, quota: int, s: SamplerSettings) -> Decision:
    return Decision(c.conf, quota, {"kind": "quota", "quota": quota})


@strategy("random", follows_schedule=True, ranks_by="random draw", summary="commit random masked positions (dllm)")
def random(c: Candidates, quota: int, s: SamplerSettings) -> Decision:
    # One draw over the whole canvas per step, as dllm does, so the random stream matches it.
    draw = torch.rand((1, c.canvas_len), generator=c.generator, dtype=torch.float32)[0]
    return Decision(draw[c.positions.cpu()].to(c.conf.device), quota, {"kind": "quota", "quota": quota})


@strategy("threshold", follows_schedule=False, ranks_by="confidence",
          summary="commit every proposal above a confidence threshold")
def threshold(c: Candidates, quota: int, s: SamplerSettings) -> Decision:
    above = int((c.conf >= s.threshold).sum())
    # With none above the threshold the best one is committed anyway, so every step makes progress.
    return Decision(c.conf, max(1, above), {"kind": "threshold", "tau": s.threshold, "above": above})


@strategy("factor", follows_schedule=False, ranks_by="confidence",
          summary="commit the n best while (n+1)(1-c_n) < factor")
def factor(c: Candidates, quota: int, s: SamplerSettings) -> Decision:
    # Fast-dLLM's factor rule: the largest n with (n + 1) * (1 - c_n) < f, c sorted high to low.
    ranked = torch.sort(c.conf, descending=True, stable=True).values
    n = torch.arange(1, len(ranked) + 1, device=ranked.device, dtype=ranked.dtype)
    ok = ((n + 1) * (1 - ranked) < s.factor).nonzero()
    count = max(1, int(ok.max()) + 1) if len(ok) else 1
    return Decision(c.conf, count, {"kind": "factor", "f": s.factor, "n": count})


assert tuple(STRATEGIES) == REMASKING, "settings.REMASKING names the strategies the settings accept"


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"Unknown remasking strategy '{name}': choose one of {', '.join(STRATEGIES)}.") from None


def stable_desc(scores: torch.Tensor) -> torch.Tensor:
    """Indices from high to low score; equal scores keep canvas order (ties go to the lowest position)."""
    return torch.sort(scores, descending=True, stable=True).indices
