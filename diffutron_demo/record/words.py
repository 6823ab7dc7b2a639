"""The word view: token pieces merged into words, for an agglutinative language like Turkish.

Words are cut from the final canvas (`ev`+`ler`+`imiz`+`den` is one word): a piece that starts
with whitespace starts a word, punctuation stands alone, apostrophes stay inside the word
(`Ankara'nın`), and a special token (pad, eos) is never part of a word: the padding after an
answer folds into one short "pads" row, which views hide unless asked. A word's state at a step
comes from its pieces (masked: none committed; partial: some; committed: all), and its confidence
is the **minimum** over its pieces: a word is only as sure as its least sure piece.

In infill a word can hold given pieces and blank pieces ("başkent" + a blank "i"): its row holds
the blank's pieces, its text the whole word.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cells import COMMITTED, DONE, FORCED, MASKED, PARTIAL, CellState, cell_grid
from .trajectory import Trajectory

APOSTROPHES = "'’`"
BROKEN_BYTES = "\ufffd"  # a letter cut across byte-level pieces decodes to U+FFFD: part of a word


def _is_punct(piece: str) -> bool:
    core = piece.strip()
    return bool(core) and all(not ch.isalnum() and ch not in APOSTROPHES + BROKEN_BYTES for ch in core)


def word_spans(pieces: list[str], special: list[bool] | None = None) -> list[tuple[int, int]]:
    """[start, end) index ranges of the words made of consecutive pieces; `special[i]` marks a piece
    that always stands alone (pad, eos)."""
    special = special or [False] * len(pieces)
    spans: list[list[int]] = []
    previous, previous_special = "", False
    for i, piece in enumerate(pieces):
        starts_word = (
            not spans
            or special[i] or previous_special
            or piece[:1].isspace()
            or _is_punct(piece)
            or _is_punct(previous)
            or (previous.strip() == "" and previous != "")
            or piece == ""
        )
        if starts_word:
            spans.append([i, i + 1])
        else:
            spans[-1][1] = i + 1
        previous, previous_special = piece, special[i]
    return [(a, b) for a, b in spans]


@dataclass(frozen=True)
class Word:
    rows: tuple[int, ...]  # the answer positions (rows) it holds
    text: str  # the whole word on the final canvas (given pieces too)
    pads: bool = False  # the folded padding after the answer

    @property
    def label(self) -> str:
        return f"pads ×{len(self.rows)}" if self.pads else self.text


@dataclass
class WordCell:
    state: CellState  # masked, partial, committed (or forced if a forced edit touched it)
    conf: float | None  # min over the pieces that have a confidence
    committed: int  # pieces committed so far
    pieces: int


def answer_words(traj: Trajectory) -> list[Word]:
    """The words that hold answer positions, in canvas order; trailing pads folded into one."""
    start = traj.prompt_len
    ids = traj.final_ids[start:]
    specials = {traj.special_ids[k] for k in ("pad", "eos", "mask") if traj.special_ids.get(k) is not None}
    flags = [t in specials for t in ids]
    pieces = [traj.piece(t) for t in ids]
    index = traj.row_of
    words = []
    for a, b in word_spans(pieces, flags):
        rows = tuple(index[start + k] for k in range(a, b) if start + k in index)
        if rows:
            words.append(Word(rows, "".join(pieces[a:b]), pads=all(flags[a:b])))
    tail = len(words)
    while tail and words[tail - 1].pads:
        tail -= 1
    if tail < len(words) - 1:
        words[tail:] = [Word(tuple(r for w in words[tail:] for r in w.rows), words[tail].text, pads=True)]
    for k in range(tail):
        if words[k].pads:  # a pad inside the answer stays its own word, not hidden
            words[k] = Word(words[k].rows, words[k].text)
    return words


def word_grid(traj: Trajectory, upto: int | None = None) -> tuple[list[Word], list[list[WordCell]]]:
    """The words, and grid[step][word] derived from the token grid."""
    words = answer_words(traj)
    grid = []
    for row in cell_grid(traj, upto):
        out = []
        for word in words:
            cells = [row[i] for i in word.rows]
            done = sum(c.state in DONE for c in cells)
            confs = [c.conf for c in cells if c.conf is not None]
            if any(c.state == FORCED for c in cells):
                state = FORCED
            elif done == len(cells):
                state = COMMITTED
            elif done:
                state = PARTIAL
            else:
                state = MASKED
            out.append(WordCell(state, min(confs) if confs else None, done, len(cells)))
        grid.append(out)
    return words, grid
