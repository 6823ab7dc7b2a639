"""Figures of one run, read from its record: the compare table's row (and a sweep's)."""

from __future__ import annotations

from ..template import END_MARKER
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


def reply_rows(traj: Trajectory) -> list[int]:
    """The answer positions whose tokens make the reply. Generation: up to the first pad or eos, and
    before the end marker (the padding and the marker are how the model ends, not what it answers).
    Infill: every blank position."""
    rows = list(range(traj.answer_len))
    if traj.is_infill:
        return rows
    ends = (traj.special_ids["pad"], traj.special_ids["eos"])
    tokens = [traj.final_ids[p] for p in traj.slots]
    kept, text, starts = [], "", []
    for i in rows:
        if tokens[i] in ends:
            break
        starts.append(len(text))
        text += traj.piece(tokens[i])
        kept.append(i)
    marker = text.find(END_MARKER)
    return kept if marker < 0 else [i for i, at in zip(kept, starts) if at < marker]


def answer_tokens(traj: Trajectory) -> list[int]:
    """The ids the reply is made of (reply_rows), specials kept out."""
    special = {traj.special_ids["pad"], traj.special_ids["eos"], traj.special_ids["mask"]}
    tokens = [traj.final_ids[traj.slots[i]] for i in reply_rows(traj)]
    return [t for t in tokens if t not in special]


def forward_passes(traj: Trajectory) -> int:
    """Encoder passes the run made (NFE): one per step, two with CFG's unconditional pass."""
    return len(traj.steps) * (2 if traj.settings.get("cfg_scale", 0) > 0 else 1)


def committed_count(traj: Trajectory) -> int:
    """Positions committed over the run (overflow included)."""
    return sum(len(r.committed) for r in traj.steps)


def mean_committed_conf(traj: Trajectory) -> float | None:
    """Mean confidence at commit of the reply's tokens (reply_rows: not the padding or the end
    marker, which a run that stopped early lacks); None if none was committed by rank."""
    wanted = {traj.slots[i] for i in reply_rows(traj)}
    last = {}  # a position committed again (a redo) counts once, as it stands
    for r in traj.steps:
        for c in r.committed_candidates():
            if c.pos in wanted:
                last[c.pos] = c.conf
    return sum(last.values()) / len(last) if last else None


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


EMPTY = {
    "en": {
        "cancelled": "stopped at step {n}, before the answer had any text",
        "marker": "the model closed the answer at once: the end marker begins at answer position {pos}, written at "
                  "step {step}",
        "special": "the model's first answer position became {token} at step {step} (confidence {conf}): it chose to "
                   "write nothing",
        "masks": "the answer's first positions are still masks: the model proposed the mask token itself",
        "stop": "a stop string was generated at answer position {pos}; the stop check wrote the end marker there",
        "history": " Every token already on the canvas (the earlier turns too) is pushed down by the repetition "
                   "penalty, which can leave the end marker and padding the likeliest proposals.",
    },
    "tr": {
        "cancelled": "cevapta hiç metin yokken {n}. adımda durduruldu",
        "marker": "model cevabı hemen kapattı: bitiş işareti {pos}. konumda başlıyor, {step}. adımda yazıldı",
        "special": "modelin ilk cevap konumu {step}. adımda {token} oldu (güven {conf}): hiçbir şey yazmamayı seçti",
        "masks": "cevabın ilk konumları hâlâ maske: model maske belirtecinin kendisini önerdi",
        "stop": "{pos}. konumda bir durdurma dizisi üretildi; durdurma denetimi oraya bitiş işaretini yazdı",
        "history": " Tuvalde zaten bulunan her belirteç (önceki konuşmalarınki de) tekrar cezasıyla aşağı itilir; "
                   "bu, bitiş işaretini ve dolguyu en olası öneriler yapabilir.",
    },
}


def empty_reason(traj: Trajectory, lang: str = "en") -> str | None:
    """Why the reply is empty, read from the record, in sentences (None when it is not empty)."""
    if traj.reply.strip() or not traj.slots:
        return None
    t = EMPTY[lang]
    written = {c.pos: (r.step, c.conf) for r in traj.steps for c in r.committed_candidates()}
    stops = [e.pos for r in traj.steps for e in r.forced if e.kind == "stop_string"]
    start = len(reply_rows(traj))  # the first answer position past the reply
    at = traj.slots[min(start, len(traj.slots) - 1)]
    step, conf = written.get(at, (None, None))
    ends = (traj.special_ids["pad"], traj.special_ids["eos"])
    if traj.stop_reason == "cancelled" and not any(r.committed for r in traj.steps):
        reason = t["cancelled"].format(n=len(traj.steps))
    elif stops and min(stops) <= at:
        first = min(stops)
        reason = t["stop"].format(pos=traj.slots.index(first) if first in traj.slots else 0)
    elif traj.final_ids[traj.slots[0]] == traj.special_ids["mask"]:
        reason = t["masks"]
    elif traj.final_ids[at] in ends or not traj.piece(traj.final_ids[at]).strip() or END_MARKER not in \
            "".join(traj.piece(traj.final_ids[p]) for p in traj.slots[start:]):
        reason = t["special"].format(token=traj.piece(traj.final_ids[at]), step=(step or 0) + 1,
                                     conf="-" if conf is None else f"{conf:.2f}")
    else:
        reason = t["marker"].format(pos=start, step=(step or 0) + 1)
    history = traj.prompt.get("history_turns", 0) and traj.settings.get("repetition_penalty", 1.0) > 1.0
    return reason + "." + (t["history"] if history else "")
