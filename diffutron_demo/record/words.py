"""The word view: token pieces merged into words, for an agglutinative language like Turkish.

Words are cut from the final canvas (`ev`+`ler`+`imiz`+`den` is one word): a piece that starts
with whitespace starts a word, punctuation stands alone, and apostrophes stay inside the word
(`Ankara'nın`). A word's state at a step comes from its pieces (masked: none committed; partial:
some; committed: all), and its confidence is the **minimum** over its pieces: a word is only
as sure as its least sure piece.
"""

from __future__ import annotations

from dataclasses import dataclass

from .trajectory import Trajectory
from .cells import COMMITTED, DONE, FORCED, MASKED, PARTIAL, CellState, cell_grid

APOSTROPHES = "'’`"
BROKEN_BYTES = "\ufffd"  # a letter cut across byte-level pieces decodes to U+FFFD: part of a word


def _is_punct(piece: str) -> bool:
    core = piece.strip()
    return bool(core) and all(not ch.isalnum() and ch not in APOSTROPHES + BROKEN_BYTES for ch in core)


def word_spans(pieces: list[str]) -> list[tuple[int, int]]:
    """[start, end) index ranges of the words made of consecutive pieces."""
    spans: list[list[int]] = []
    previous = ""
    for i, piece in enumerate(pieces):
        starts_word = (
            not spans
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
        previous = piece
    return [(a, b) for a, b in spans]


@dataclass
class WordCell:
    state: CellState  # masked, partial, committed (or forced if a forced edit touched it)
    conf: float | None  # min over the pieces that have a confidence
    committed: int  # pieces committed so far
    pieces: int


def answer_words(traj: Trajectory) -> list[tuple[int, int, str]]:
    """(start, end, text) for each word of the answer; positions are answer indices."""
    P = traj.prompt_len
    pieces = [traj.piece(t) for t in traj.final_ids[P:]]
    return [(a, b, "".join(pieces[a:b])) for a, b in word_spans(pieces)]


def word_grid(traj: Trajectory, upto: int | None = None) -> tuple[list[tuple[int, int, str]], list[list[WordCell]]]:
    """The words, and grid[step][word] derived from the token grid."""
    words = answer_words(traj)
    grid = []
    for row in cell_grid(traj, upto):
        out = []
        for a, b, _ in words:
            cells = row[a:b]
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
