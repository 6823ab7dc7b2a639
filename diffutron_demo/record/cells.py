"""Plain per-cell views of a trajectory: what every answer position looked like at every step.

Pictures (plotly figures, HTML, GIF, the standalone player) all read these; none touches torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from .trajectory import Trajectory

MASKED, PROPOSED, COMMITTED_NOW, COMMITTED, FORCED = "masked", "proposed", "committed now", "committed", "forced"


@dataclass
class Cell:
    state: str  # one of the constants above
    token: int | None  # the proposal (masked) or the token on the canvas (committed / forced)
    conf: float | None  # the proposal's confidence; for committed cells, the confidence at commit
    rank: int | None = None  # rank among this step's candidates (1 = most confident)
    top: list | None = None  # [[token, prob], ...]


def cell_grid(traj: Trajectory, upto: int | None = None) -> list[list[Cell]]:
    """grid[step][answer position] for steps 0..upto-1 (the state *after* that step)."""
    P, T = traj.prompt_len, len(traj.final_ids)
    upto = len(traj.steps) if upto is None else min(upto, len(traj.steps))
    mask_id = traj.special_ids["mask"]
    current: list[Cell] = [Cell(MASKED, None, None) for _ in range(P, T)]
    grid = []
    for record in traj.steps[:upto]:
        row = [Cell(COMMITTED if c.state in (COMMITTED, COMMITTED_NOW) else (FORCED if c.state == FORCED else MASKED),
                    c.token if c.state != PROPOSED else None, c.conf if c.state != PROPOSED else None)
               for c in current]
        ranked = sorted(record["candidates"], key=lambda c: (-c["conf"], c["pos"]))
        rank = {c["pos"]: i + 1 for i, c in enumerate(ranked)}
        committed = set(record["committed"])
        for c in record["candidates"]:
            i = c["pos"] - P
            if i < 0:
                continue  # a prompt position (never happens with typed text kept as text)
            if c["pos"] in committed and c["token"] != mask_id:
                row[i] = Cell(COMMITTED_NOW, c["token"], c["conf"], rank[c["pos"]], c["top"])
            else:
                row[i] = Cell(PROPOSED, c["token"], c["conf"], rank[c["pos"]], c["top"])
        for o in record["overflow"]:
            if o["pos"] >= P and o["token"] != mask_id:
                row[o["pos"] - P] = Cell(COMMITTED_NOW, o["token"], None)
        for edit in record["forced"]:
            if edit["pos"] >= P:
                row[edit["pos"] - P] = Cell(FORCED, edit["token"], None)
        grid.append(row)
        current = row
    return grid


def commit_steps(traj: Trajectory) -> list[int | None]:
    """For each answer position, the step that last committed it (None: never committed)."""
    P = traj.prompt_len
    mask_id = traj.special_ids["mask"]
    out: list[int | None] = [None] * traj.answer_len
    for record in traj.steps:
        tokens = {c["pos"]: c["token"] for c in record["candidates"]}
        tokens.update({o["pos"]: o["token"] for o in record["overflow"]})
        for pos in record["committed"]:
            if pos >= P and tokens.get(pos) != mask_id:
                out[pos - P] = record["step"]
        for edit in record["forced"]:
            if edit["pos"] >= P:
                out[edit["pos"] - P] = record["step"]
    return out


def step_summary(traj: Trajectory) -> list[dict]:
    """Per step: tokens committed, mean / min candidate confidence, the cutoff confidence."""
    rows = []
    for record in traj.steps:
        confs = sorted((c["conf"] for c in record["candidates"]), reverse=True)
        n = len(record["committed"])
        rows.append({
            "step": record["step"],
            "block": record["block"],
            "committed": n,
            "candidates": len(confs),
            "mean_conf": sum(confs) / len(confs) if confs else None,
            "cutoff": confs[n - 1] if 0 < n <= len(confs) else None,
            "forward_ms": record["forward_ms"],
        })
    return rows


def position_history(traj: Trajectory, pos: int) -> list[dict]:
    """One answer position's proposal and confidence at every step until it was committed."""
    rows = []
    for record in traj.steps:
        for c in record["candidates"]:
            if c["pos"] == pos:
                committed = pos in record["committed"]
                rows.append({"step": record["step"], "token": c["token"], "conf": c["conf"],
                             "top": c["top"], "committed": committed})
        for edit in record["forced"]:
            if edit["pos"] == pos:
                rows.append({"step": record["step"], "token": edit["token"], "conf": None, "top": [],
                             "committed": True, "forced": edit["kind"]})
    return rows


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


def run_stats(traj: Trajectory) -> dict:
    """The compare table's row for one run."""
    steps = len(traj.steps)
    committed = sum(len(r["committed"]) for r in traj.steps)
    confs = [c["conf"] for r in traj.steps for c in r["candidates"] if c["pos"] in r["committed"]]
    model_ms = sum(r["forward_ms"] for r in traj.steps)
    tokens = answer_tokens(traj)
    return {
        "forward passes": steps * (2 if traj.settings.get("cfg_scale", 0) > 0 else 1),
        "steps": steps,
        "model s": round(model_ms / 1000, 3),
        "wall s": round(traj.wall_ms / 1000, 3),
        "tokens / step": round(committed / steps, 2) if steps else 0.0,
        "mean conf": round(sum(confs) / len(confs), 3) if confs else None,
        "answer tokens": len(tokens),
        "repeated 3-grams": repeated_ngrams(tokens),
        "stop": traj.stop_reason,
    }
