"""A step's decision in words, read from its record: the rule that set the count and what it ranked by."""

from __future__ import annotations

from .step import Step


def rule_words(record: Step) -> str:
    """One or two plain sentences saying why exactly these positions were committed."""
    rule, n = record.rule, len(record.candidates)
    took = rule.get("committed", len(record.committed_candidates()))
    kind, by = rule.get("kind"), rule.get("by", "confidence")
    if kind == "threshold":
        tau, above = rule.get("tau"), rule.get("above", 0)
        text = (f"Threshold τ = {tau:g}: {above} of the {n} candidates were at least that confident, "
                f"so {took} {'was' if took == 1 else 'were'} committed.") if above else \
            (f"Threshold τ = {tau:g}: no candidate reached it, so the most confident one was committed anyway "
             "(every step commits at least one).")
    elif kind == "factor":
        text = (f"Factor rule f = {rule.get('f'):g}: the largest n with (n+1)(1 − c_n) < f is {rule.get('n')}, "
                f"so the {took} most confident of the {n} candidates were committed.")
    elif by == "random draw":
        text = (f"The schedule allowed {rule.get('quota')} this step: {took} of the {n} candidates were drawn at "
                "random (a uniform score each) and committed, whatever their confidence.")
    else:
        text = (f"The schedule allowed {rule.get('quota')} this step: the {took} most confident of the {n} "
                "candidates were committed.")
    if record.overflow:
        text += (f" The quota was larger than the candidates, so {len(record.overflow)} more past the window "
                 "were committed too, as dllm does.")
    if record.scheduled > record.quota and kind == "quota":
        text += f" (The schedule said {record.scheduled}; only {record.quota} masks were left.)"
    if record.derived:
        text += " Scores and ranks were derived when this older file was loaded"
        text += "; the random draw itself was not recorded." if by == "random draw" else "."
    return text
