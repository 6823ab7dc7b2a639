"""Lesson mode: walk a class through one run, guessing at each step what the model commits next
(for a fill: which blank it fills first).

Only steps with a real choice (two or more candidates) are asked. A guess scores when the
guessed position is among the positions that step committed. The explanation reads the step's
recorded rule and ranks: a random draw is called a random draw. Texts are plain (the player
shows them as text), in English or Turkish.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ..record.trajectory import Trajectory

TEXTS = {
    "en": {
        "pick": "Step {n} of {total}: which masked position will the model commit next? Pick one.",
        "pick_fill": "Step {n} of {total}: which blank will the model fill next? Pick one of its masked slots.",
        "score": "Score: {score} / {answered}",
        "right": "✔ Right! Position {pos} was committed.",
        "wrong": "✘ Not this time: the model committed {committed}, you picked {pos}.",
        "quota": ("It commits the {took} most confident of the {cands} masked positions left of the block's end "
                  "(positions {start}–{end}): the schedule allows {quota} this step. Your pick ranked {rank} of "
                  "{cands} (confidence {mine}); the last one committed ranked {last} ({cutoff})."),
        "random": ("This run ranks by a random draw, not by confidence: it commits {took} of the {cands} masked "
                   "positions left of the block's end (positions {start}–{end}), drawn at random. Your pick was "
                   "drawn rank {rank} of {cands}; its confidence ({mine}) played no part."),
        "threshold": ("With threshold τ = {tau}, it commits {took} of the {cands} masked positions left of the "
                      "block's end (positions {start}–{end}): every one at least τ confident, or the single most "
                      "confident if none is ({above} were). Your pick had confidence {mine}: {side} τ."),
        "factor": ("The factor rule (f = {f}) chose n = {n}: it commits the {took} most confident of the {cands} "
                   "masked positions left of the block's end (positions {start}–{end}). Your pick ranked {rank} of "
                   "{cands} (confidence {mine})."),
        "above": "at or above", "below": "below",
        "done": "Lesson finished: {score} of {asked} right.",
        "nothing": ("Nothing to guess here: at every step only one position could be committed (with block "
                    "length 1 the model writes strictly left to right)."),
    },
    "tr": {
        "pick": "Adım {n} / {total}: model sıradaki adımda hangi maskeli konumu kesinleştirecek? Birini seçin.",
        "pick_fill": "Adım {n} / {total}: model sıradaki adımda hangi boşluğu dolduracak? Onun maskeli yuvalarından "
                     "birini seçin.",
        "score": "Puan: {score} / {answered}",
        "right": "✔ Doğru! {pos}. konum kesinleştirildi.",
        "wrong": "✘ Bu sefer değil: model {committed} konumlarını kesinleştirdi, siz {pos} seçtiniz.",
        "quota": ("Bloğun sonundan ({start}–{end}) önceki {cands} maskeli konumdan en güvenli {took} tanesini "
                  "kesinleştirir: zamanlama bu adımda {quota} izin veriyor. Seçiminiz {cands} içinde {rank}. "
                  "sıradaydı (güven {mine}); son kesinleşen {last}. sıradaydı ({cutoff})."),
        "random": ("Bu çalışma konumları güvene göre değil, rastgele çekilişle sıralar: bloğun sonundan "
                   "({start}–{end}) önceki {cands} maskeli konumdan {took} tanesi rastgele çekilip kesinleştirildi. "
                   "Seçiminiz çekilişte {rank}. sıradaydı; güveninin ({mine}) bir rolü yoktu."),
        "threshold": ("τ = {tau} eşiğiyle, bloğun sonundan ({start}–{end}) önceki {cands} maskeli konumdan {took} "
                      "tanesini kesinleştirir: güveni en az τ olan her birini, hiçbiri değilse en güvenli olanı "
                      "({above} tanesi eşiği geçti). Seçiminizin güveni {mine}: τ'nun {side}."),
        "factor": ("Faktör kuralı (f = {f}) n = {n} seçti: bloğun sonundan ({start}–{end}) önceki {cands} maskeli "
                   "konumdan en güvenli {took} tanesini kesinleştirir. Seçiminiz {rank}. sıradaydı (güven {mine})."),
        "above": "üstünde", "below": "altında",
        "done": "Ders bitti: {asked} sorudan {score} doğru.",
        "nothing": ("Burada tahmin edilecek bir şey yok: her adımda yalnızca bir konum kesinleşebiliyordu (blok "
                    "uzunluğu 1 ile model tam soldan sağa yazar)."),
    },
}


@dataclass
class Lesson:
    traj: Trajectory
    lang: str = "en"
    asked: list[int] = field(default_factory=list)  # the steps (0-based) that offer a choice
    position: int = 0  # index into `asked`
    score: int = 0
    answered: int = 0
    revealed: bool = False
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # the same lesson, across the app's copies

    def __post_init__(self):
        self.asked = [i for i, st in enumerate(self.traj.steps) if len(st.candidates) >= 2 and st.committed]

    @property
    def finished(self) -> bool:
        return self.position >= len(self.asked)

    @property
    def step(self) -> int:
        """The 0-based step being asked about (the canvas shown is the one before it)."""
        return self.asked[self.position]

    def choices(self) -> list[int]:
        """Answer positions the student can pick: this step's candidates, in canvas order."""
        if self.finished:
            return []
        rows = self.traj.row_of
        return [rows[c.pos] for c in self.traj.steps[self.step].candidates if c.pos in rows]

    def prompt_text(self) -> str:
        t = TEXTS[self.lang]
        if not self.asked:
            return t["nothing"]
        if self.finished:
            return t["done"].format(score=self.score, asked=len(self.asked))
        key = "pick_fill" if self.traj.is_infill else "pick"
        return t[key].format(n=self.step + 1, total=len(self.traj.steps))

    def score_text(self) -> str:
        return TEXTS[self.lang]["score"].format(score=self.score, answered=self.answered)

    def guess(self, answer_pos: int) -> tuple[bool, str]:
        """Score a guess for the current step and explain; call once per step, then next()."""
        if self.finished:
            raise ValueError("The lesson is finished.")
        if self.revealed:
            raise ValueError("This step was already answered: go to the next one.")
        if answer_pos not in self.choices():
            raise ValueError(f"Position {answer_pos} is not a masked candidate at this step.")
        record = self.traj.steps[self.step]
        rows = self.traj.row_of
        committed = [rows[p] for p in record.committed if p in rows]
        right = answer_pos in committed
        self.score += right
        self.answered += 1
        self.revealed = True
        t = TEXTS[self.lang]
        head = t["right"].format(pos=answer_pos) if right else \
            t["wrong"].format(committed=", ".join(map(str, committed)), pos=answer_pos)
        return right, f"{head} {self._why(record, answer_pos)}"

    def _why(self, record, answer_pos: int) -> str:
        """The step's rule in the lesson's language, with where the pick stood, all from the record."""
        t, rule = TEXTS[self.lang], record.rule
        rows = self.traj.row_of
        mine = next(c for c in record.candidates if rows.get(c.pos) == answer_pos)
        inside = [i for p, i in rows.items() if record.window[0] <= p < record.window[1]] or [0]
        chosen = record.committed_candidates()
        kind = "random" if rule.get("by") == "random draw" else rule.get("kind", "quota")
        return t[kind].format(
            took=rule.get("committed", len(chosen)), cands=len(record.candidates), start=min(inside),
            end=max(inside), quota=rule.get("quota"), rank=mine.rank, mine=f"{mine.conf:.3f}",
            last=chosen[-1].rank if chosen else "-", cutoff=f"{chosen[-1].conf:.3f}" if chosen else "-",
            tau=rule.get("tau"), above=rule.get("above"), f=rule.get("f"), n=rule.get("n"),
            side=t["above"] if kind == "threshold" and mine.conf >= rule["tau"] else t["below"],
        )

    def next(self) -> None:
        self.position += 1
        self.revealed = False
