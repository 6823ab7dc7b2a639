"""A step's decision in words, read from its record, in English or Turkish: the rule that set the
count and what it ranked by, and one line a screen reader says when the step is shown."""

from __future__ import annotations

from .step import Step
from .trajectory import Trajectory

RULES = {
    "en": {
        "threshold": "Threshold τ = {tau}: {above} of the {n} candidates were at least that confident, so {took} {were} "
                     "committed.",
        "threshold_none": "Threshold τ = {tau}: no candidate reached it, so the most confident one was committed anyway "
                          "(every step commits at least one).",
        "factor": "Factor rule f = {f}: the largest n with (n+1)(1 − c_n) < f is {nf}, so the {took} most confident "
                  "of the {n} candidates were committed.",
        "random": "The schedule allowed {quota} this step: {took} of the {n} candidates were drawn at random (a "
                  "uniform score each) and committed, whatever their confidence.",
        "quota": "The schedule allowed {quota} this step: the {took} most confident of the {n} candidates were "
                 "committed.",
        "overflow": " The quota was larger than the candidates, so {k} more past the window were committed too, as "
                    "dllm does.",
        "short": " (The schedule said {scheduled}; only {quota} masks were left.)",
        "derived": " Scores and ranks were derived when this older file was loaded.",
        "derived_random": " Scores and ranks were derived when this older file was loaded; the random draw itself "
                          "was not recorded.",
        "were": ("was", "were"),
        "line": "Step {step} of {total}: {what}; {left} {masks} left{next}.",
        "wrote": "wrote {token} at answer position {pos}{blank}",
        "in_blank": " (blank {k})",
        "more": " and {k} more",
        "nothing": "nothing committed",
        "next": "; most likely next: {token} at position {pos} ({conf})",
        "pinned": "pinned {token} at answer position {pos}",
        "redone": ("masked {k} position again to redo it", "masked {k} positions again to redo them"),
        "stopped": "the stop check wrote the end marker from answer position {pos}",
        "masks": ("mask", "masks"),
    },
    "tr": {
        "threshold": "Eşik τ = {tau}: {n} adaydan {above} tanesi en az bu kadar emindi, bu yüzden {took} tanesi "
                     "kesinleştirildi.",
        "threshold_none": "Eşik τ = {tau}: hiçbir aday eşiğe ulaşmadı, bu yüzden en emin olan yine de kesinleştirildi "
                          "(her adım en az birini kesinleştirir).",
        "factor": "Faktör kuralı f = {f}: (n+1)(1 − c_n) < f olan en büyük n {nf}, bu yüzden {n} adaydan en emin "
                  "{took} tanesi kesinleştirildi.",
        "random": "Zamanlama bu adımda {quota} izin verdi: {n} adaydan {took} tanesi rastgele çekildi (her birine "
                  "tekdüze bir puan) ve güvenlerinden bağımsız olarak kesinleştirildi.",
        "quota": "Zamanlama bu adımda {quota} izin verdi: {n} adaydan en emin {took} tanesi kesinleştirildi.",
        "overflow": " Kota adaylardan büyüktü, bu yüzden dllm'deki gibi pencerenin ötesinden {k} tane daha "
                    "kesinleştirildi.",
        "short": " (Zamanlama {scheduled} diyordu; yalnızca {quota} maske kalmıştı.)",
        "derived": " Puanlar ve sıralar bu eski dosya yüklenirken türetildi.",
        "derived_random": " Puanlar ve sıralar bu eski dosya yüklenirken türetildi; rastgele çekilişin kendisi "
                          "kaydedilmemişti.",
        "were": ("", ""),
        "line": "Adım {step} / {total}: {what}; {left} {masks} kaldı{next}.",
        "wrote": "{pos}. konuma{blank} {token} yazıldı",
        "in_blank": " ({k}. boşluk)",
        "more": " ve {k} tane daha",
        "nothing": "hiçbir şey kesinleşmedi",
        "next": "; sıradaki en olası: {pos}. konumda {token} ({conf})",
        "pinned": "{pos}. konuma {token} sabitlendi",
        "redone": ("{k} konum yeniden yazılmak üzere tekrar maskelendi",) * 2,
        "stopped": "durdurma denetimi {pos}. konumdan itibaren bitiş işaretini yazdı",
        "masks": ("maske", "maske"),
    },
}


def rule_words(record: Step, lang: str = "en") -> str:
    """One or two plain sentences saying why exactly these positions were committed."""
    t, rule, n = RULES[lang], record.rule, len(record.candidates)
    took = rule.get("committed", len(record.committed_candidates()))
    kind, by = rule.get("kind"), rule.get("by", "confidence")
    if kind == "threshold":
        key = "threshold" if rule.get("above", 0) else "threshold_none"
        text = t[key].format(tau=f"{rule.get('tau'):g}", above=rule.get("above", 0), n=n, took=took,
                             were=t["were"][took != 1])
    elif kind == "factor":
        text = t["factor"].format(f=f"{rule.get('f'):g}", nf=rule.get("n"), took=took, n=n)
    else:
        text = t["random" if by == "random draw" else "quota"].format(quota=rule.get("quota"), took=took, n=n)
    if record.overflow:
        text += t["overflow"].format(k=len(record.overflow))
    if record.scheduled > record.quota and kind == "quota":
        text += t["short"].format(scheduled=record.scheduled, quota=record.quota)
    if record.derived:
        text += t["derived_random" if by == "random draw" else "derived"]
    return text


def shown(text: str) -> str:
    """A token's text as a sentence quotes it: spaces and line breaks visible (· and ⏎)."""
    return "‘" + (text.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·") or "∅") + "’"


def _blank_of(traj: Trajectory, pos: int) -> int | None:
    """A fill's blank (1-based) that holds canvas position `pos`; None for a generation run."""
    if not traj.is_infill:
        return None
    return next((k for k, b in enumerate(traj.blanks, start=1) if b.start <= pos < b.end), None)


def step_line(traj: Trajectory, record: Step, masks_left: int, total: int, lang: str = "en") -> str:
    """What a screen reader says when this step is shown: what it wrote, what is left, what is next."""
    t, rows = RULES[lang], traj.row_of
    tokens, chosen = record.proposals(), set(record.committed)
    wrote = [(rows[p], tokens.get(p)) for p in record.committed if p in rows and tokens.get(p) is not None]
    forced = {e.kind for e in record.forced}
    if "redo" in forced:
        k = sum(e.kind == "redo" for e in record.forced)
        what = t["redone"][k != 1].format(k=k)
    elif "pin" in forced:
        pin = next(e for e in record.forced if e.kind == "pin")
        what = t["pinned"].format(token=shown(traj.piece(pin.token)), pos=rows.get(pin.pos, "?"))
    else:
        what = ""
    if wrote:
        blank = _blank_of(traj, traj.slots[wrote[0][0]])
        first = t["wrote"].format(token=shown(traj.piece(wrote[0][1])), pos=wrote[0][0],
                                  blank=t["in_blank"].format(k=blank) if blank else "")
        what = (what + "; " if what else "") + first + (t["more"].format(k=len(wrote) - 1) if len(wrote) > 1 else "")
    elif not what:
        what = t["nothing"]
    if "stop_string" in forced:
        pos = min(rows.get(e.pos, 0) for e in record.forced if e.kind == "stop_string")
        what += "; " + t["stopped"].format(pos=pos)
    waiting = [c for c in record.candidates if c.pos not in chosen and c.pos in rows]
    best = max(waiting, key=lambda c: (c.conf, -c.pos), default=None)
    after = t["next"].format(token=shown(traj.piece(best.token)), pos=rows[best.pos], conf=f"{best.conf:.2f}") \
        if best else ""
    return t["line"].format(step=record.step + 1, total=max(total, record.step + 1), what=what, left=masks_left,
                            masks=t["masks"][masks_left != 1], next=after)
