"""Remasking strategies: which candidates a step commits. One small shape, chosen by name.

A strategy gives each candidate a score (higher = commit first) and says how many of the best
to commit. Candidates are ranked by score with ties toward the lowest position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..settings import REMASKING


@dataclass(frozen=True)
class Strategy:
    name: str
    # (confidences of the candidates, their positions, canvas length, generator) -> scores
    scores: Callable[[torch.Tensor, torch.Tensor, int, torch.Generator], torch.Tensor]
    # (scores sorted high to low, the schedule's quota, settings) -> how many to commit
    count: Callable[[torch.Tensor, int, object], int]
    # Scheduled strategies run the transfer schedule's steps; the others run until the block is full.
    follows_schedule: bool
    summary: str


def _confidence(conf, positions, canvas_len, generator):
    return conf


def _uniform(conf, positions, canvas_len, generator):
    # One draw over the whole canvas per step, as dllm does, so the random stream matches it.
    draw = torch.rand((1, canvas_len), generator=generator, dtype=torch.float32)[0]
    return draw[positions.cpu()].to(conf.device)


def _quota(sorted_scores, quota, settings):
    return quota


def _above_threshold(sorted_scores, quota, settings):
    return max(1, int((sorted_scores >= settings.threshold).sum()))


def _factor_rule(sorted_scores, quota, settings):
    # Fast-dLLM's factor rule: the largest n with (n + 1) * (1 - c_n) < f, c sorted high to low.
    n = torch.arange(1, len(sorted_scores) + 1, device=sorted_scores.device, dtype=sorted_scores.dtype)
    ok = ((n + 1) * (1 - sorted_scores) < settings.factor).nonzero()
    return max(1, int(ok.max()) + 1) if len(ok) else 1


STRATEGIES = {
    s.name: s
    for s in (
        Strategy("low_confidence", _confidence, _quota, True, "commit the most confident proposals (dllm)"),
        Strategy("random", _uniform, _quota, True, "commit random masked positions (dllm)"),
        Strategy("threshold", _confidence, _above_threshold, False, "commit every proposal above a confidence threshold"),
        Strategy("factor", _confidence, _factor_rule, False, "commit the n best while (n+1)(1-c_n) < factor"),
    )
}


assert tuple(STRATEGIES) == REMASKING, "settings.REMASKING names the strategies the settings accept"


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"Unknown remasking strategy '{name}': choose one of {', '.join(STRATEGIES)}.") from None
