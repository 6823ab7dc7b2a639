"""Lesson mode: walk a class through one run, guessing at each step what the model commits next.

Only steps with a real choice (two or more candidates) are asked. A guess scores when the
guessed position is among the positions that step committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..render.fragments import esc
from ..record.trajectory import Trajectory

TEXTS = {
    "en": {
        "pick": "Step {n} of {total}: which masked position will the model commit next? Pick one.",
        "right": "✔ Right! Position {pos} was committed.",
        "wrong": "✘ Not this time: the model committed {committed}, you picked {pos}.",
        "why": ("It commits the {quota} most confident of the {cands} masked positions left of the block's end "
                "(positions {start}–{end}). Your pick had confidence {mine}; the cutoff was {cutoff}."),
        "done": "Lesson finished: {score} of {asked} right.",
        "nothing": ("Nothing to guess here: at every step only one position could be committed (with block "
                    "length 1 the model writes strictly left to right)."),
    },
    "tr": {
        "pick": "Adım {n} / {total}: model sıradaki adımda hangi maskeli konumu kesinleştirecek? Birini seçin.",
        "right": "✔ Doğru! {pos}. konum kesinleştirildi.",
        "wrong": "✘ Bu sefer değil: model {committed} konumlarını kesinleştirdi, siz {pos} seçtiniz.",
        "why": ("Bloğun sonundan ({start}–{end}) önceki {cands} maskeli konumdan en güvenli {quota} tanesini "
                "kesinleştirir. Seçiminizin güveni {mine}; eşik {cutoff} idi."),
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

    def __post_init__(self):
        self.asked = [i for i, st in enumerate(self.traj.steps) if len(st["candidates"]) >= 2 and st["committed"]]

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
        P = self.traj.prompt_len
        return [c["pos"] - P for c in self.traj.steps[self.step]["candidates"] if c["pos"] >= P]

    def prompt_text(self) -> str:
        t = TEXTS[self.lang]
        if not self.asked:
            return t["nothing"]
        if self.finished:
            return t["done"].format(score=self.score, asked=len(self.asked))
        return t["pick"].format(n=self.step + 1, total=len(self.traj.steps))

    def guess(self, answer_pos: int) -> tuple[bool, str]:
        """Score a guess for the current step and explain; call once per step, then next()."""
        if self.finished:
            raise ValueError("The lesson is finished.")
        if self.revealed:
            raise ValueError("This step was already answered: go to the next one.")
        if answer_pos not in self.choices():
            raise ValueError(f"Position {answer_pos} is not a masked candidate at this step.")
        record = self.traj.steps[self.step]
        P = self.traj.prompt_len
        committed = [p - P for p in record["committed"]]
        right = answer_pos in committed
        self.score += right
        self.answered += 1
        self.revealed = True
        ranked = sorted(record["candidates"], key=lambda c: (-c["conf"], c["pos"]))
        conf = {c["pos"] - P: c["conf"] for c in ranked}
        cutoff = ranked[len(committed) - 1]["conf"] if 0 < len(committed) <= len(ranked) else None
        t = TEXTS[self.lang]
        head = t["right"].format(pos=answer_pos) if right else \
            t["wrong"].format(committed=", ".join(map(str, committed)), pos=answer_pos)
        why = t["why"].format(quota=len(committed), cands=len(ranked), start=record["window"][0] - P,
                              end=record["window"][1] - P - 1, mine=f"{conf[answer_pos]:.3f}",
                              cutoff="-" if cutoff is None else f"{cutoff:.3f}")
        return right, f"<div><b>{esc(head)}</b><br>{esc(why)}</div>"

    def next(self) -> None:
        self.position += 1
        self.revealed = False
