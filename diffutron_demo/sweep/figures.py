"""One run's figures, read from its trajectory (record/stats.py's figures, plus agreement and chrF),
and an infill run's: each blank's fill against its reference (`blank_exact`, per-blank chrF).

Blank fills are compared after `fold`: stripped, Unicode NFC, and lowered the Turkish way ("I" to
"ı", "İ" to "i", then Python's casefold for the rest), so "İstanbul" and "istanbul" match and
"Irmak" and "ırmak" match, but "Irmak" and "irmak" do not.
"""

from __future__ import annotations

import unicodedata

from ..template import END_MARKER
from ..record.stats import answer_tokens, committed_count, forward_passes, mean_committed_conf, model_ms, \
    repeated_ngrams
from ..record.trajectory import INFILL, Trajectory


def run_figures(traj: Trajectory) -> dict:
    """The row's figures that need only this run (the reference's and chrF are added by `compared`)."""
    tokens = answer_tokens(traj)
    nfe = forward_passes(traj)
    conf = mean_committed_conf(traj)
    return {
        "reply": traj.reply,
        "answer_ids": tokens,
        "gen_tokens": len(tokens),
        "nfe": nfe,
        "steps": len(traj.steps),
        "tokens_per_forward": round(committed_count(traj) / nfe, 6) if nfe else 0.0,
        "model_ms": round(model_ms(traj), 3),
        "wall_ms": round(traj.wall_ms, 3),
        "mean_conf": None if conf is None else round(conf, 6),
        "closed": closed(traj),
        "stop_reason": traj.stop_reason,
        "repeated_3grams": repeated_ngrams(tokens),
    }


def closed(traj: Trajectory) -> bool | None:
    """The answer ended by itself: the end marker or the eos token was generated (None for infill:
    the given text ends it)."""
    if traj.is_infill:
        return None
    body = traj.final_ids[traj.prompt_len :]
    if traj.special_ids["eos"] in body:
        return True
    return END_MARKER in "".join(traj.piece(t) for t in body)


def agreement(answer: list[int], reference: list[int]) -> float:
    """Share of answer positions where the two answers hold the same token (over the longer one)."""
    longest = max(len(answer), len(reference))
    if longest == 0:
        return 1.0
    return round(sum(a == b for a, b in zip(answer, reference)) / longest, 6)


def chrf(reply: str, reference: str) -> float:
    """sacrebleu's sentence chrF (0-100) of the reply against the prompt's reference answer."""
    from sacrebleu.metrics import CHRF

    return round(CHRF().sentence_score(reply.strip(), [reference.strip()]).score, 4)


def fold(text: str) -> str:
    """A blank's fill or reference as compared: stripped, NFC, lowered with Turkish dotted/dotless i."""
    text = unicodedata.normalize("NFC", text.strip())
    return text.replace("I", "ı").replace("İ", "i").casefold()


def blank_figures(fills: list[str] | None, blank_references: list[str] | None, reply: str | None,
                  whole_reference: str | None) -> dict:
    """An infill row's own figures: `blank_exact` (share of blanks whose fill equals its reference
    after `fold`; None without per-blank references) and `chrf` (against a whole filled text: the
    reply's; else the mean of each blank's sentence chrF against its reference; None without one)."""
    ok = fills is not None
    exact = None
    if ok and blank_references is not None:
        exact = round(sum(fold(f) == fold(r) for f, r in zip(fills, blank_references)) / len(fills), 6)
    if not ok:
        score = None
    elif whole_reference is not None:
        score = chrf(reply, whole_reference)
    elif blank_references is not None:
        score = round(sum(chrf(f, r) for f, r in zip(fills, blank_references)) / len(fills), 4)
    else:
        score = None
    return {"blank_fills": fills, "blank_references": None if blank_references is None else list(blank_references),
            "blank_exact": exact, "chrf": score}


def compared(row: dict, reference_row: dict | None, reference_text: str | None) -> dict:
    """The row with agreement / exact match against the reference setting's run and chrF added
    (an infill row's chrF comes with its blank figures)."""
    ok = row["status"] == "ok"
    ref_ok = reference_row is not None and reference_row.get("status") == "ok"
    row["agreement"] = agreement(row["answer_ids"], reference_row["answer_ids"]) if ok and ref_ok else None
    row["exact_match"] = row["answer_ids"] == reference_row["answer_ids"] if ok and ref_ok else None
    if row.get("mode") != INFILL:
        row["chrf"] = chrf(row["reply"], reference_text) if ok and reference_text is not None else None
    return row
