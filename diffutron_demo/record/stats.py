"""Figures of one run, read from its record: the compare table's row (and a sweep's)."""

from __future__ import annotations

from .trajectory import Trajectory


def repeated_ngrams(tokens: list[int], n: int = 3) -> int:
    """How many n-grams occur more than once (a cheap degeneration signal for the compare table)."""
    seen, repeats = set(), 0
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i : i + n])
        if gram in seen:
            repeats += 1
        seen.add(gram)
    return repeats


def answer_tokens(traj: Trajectory) -> list[int]:
    """The generated ids up to the first pad / eos (what the reply is made of, specials kept out)."""
    special = {traj.special_ids["pad"], traj.special_ids["eos"], traj.special_ids["mask"]}
    out = []
    for token in traj.final_ids[traj.prompt_len :]:
        if token in (traj.special_ids["pad"], traj.special_ids["eos"]):
            break
        if token not in special:
            out.append(token)
    return out


def forward_passes(traj: Trajectory) -> int:
    """Encoder passes the run made (NFE): one per step, two with CFG's unconditional pass."""
    return len(traj.steps) * (2 if traj.settings.get("cfg_scale", 0) > 0 else 1)


def committed_count(traj: Trajectory) -> int:
    """Positions committed over the run (overflow included)."""
    return sum(len(r.committed) for r in traj.steps)


def mean_committed_conf(traj: Trajectory) -> float | None:
    """Mean confidence of the candidates the run committed; None if it committed none."""
    confs = [c.conf for r in traj.steps for c in r.committed_candidates()]
    return sum(confs) / len(confs) if confs else None


def model_ms(traj: Trajectory) -> float:
    """Encoder, head and logit work over the run."""
    return sum(r.forward_ms for r in traj.steps)


def run_stats(traj: Trajectory) -> dict:
    """The compare table's row for one run."""
    steps = len(traj.steps)
    conf = mean_committed_conf(traj)
    tokens = answer_tokens(traj)
    return {
        "forward passes": forward_passes(traj),
        "steps": steps,
        "model s": round(model_ms(traj) / 1000, 3),
        "wall s": round(traj.wall_ms / 1000, 3),
        "tokens / step": round(committed_count(traj) / steps, 2) if steps else 0.0,
        "mean conf": None if conf is None else round(conf, 3),
        "answer tokens": len(tokens),
        "repeated 3-grams": repeated_ngrams(tokens),
        "stop": traj.stop_reason,
    }
