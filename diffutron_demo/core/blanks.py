"""Writing blanks: a text with `___` where the model should fill in, turned into an infill canvas.

The syntax (README "Fill in the blanks"):
- a run of three or more underscores is one blank of `blank_length` tokens;
- `___{5}` is a blank of its own length, 5 tokens;
- `\\___` is three literal underscores (the backslash goes);
- underscores touching letters or digits on both sides ("dosya___adı") are refused: meant as a
  blank, they need a space on one side; meant literally, a backslash.

Two shapes, as in dllm's fill-in-the-blanks: raw text (no template), or chat-shaped, the text being
the answer to a question, built with the chat template as a finished turn
(`add_generation_prompt=False`). The canvas is tokenized the way dllm tokenizes a text holding mask
tokens: each stretch of text between blanks on its own (typed special-token strings stay text),
with the blank's mask ids between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..settings import KNOBS, SettingsError, label
from .chat import PromptError, encode_text, render_turn

BLANK = re.compile(r"(\\?)(_{3,})(?:\{([^}]*)\})?")
LITERAL_HINT = "write \\___ for literal underscores"


class BlankError(PromptError):
    """A text with blanks that can't be used as given; the message says how to write it."""


@dataclass(frozen=True)
class InfillCanvas:
    ids: list[int]  # the whole canvas, mask ids at the blanks
    prompt_len: int  # the template's part before the answer (0 for raw text)
    blanks: list[tuple[int, int]]  # canvas spans [start, end) of the blanks, in order
    text: str  # the text as the model sees it, each blank written as its mask token string
    raw: bool
    context_window: int

    @property
    def blank_tokens(self) -> int:
        return sum(b - a for a, b in self.blanks)


def split_blanks(text: str, blank_length: int) -> list[str | int]:
    """The text as pieces: strings (given text, literal underscores restored) and ints (a blank's
    length in tokens). Raises BlankError for underscores inside a word or a bad length."""
    pieces: list[str | int] = []
    last = 0
    low, high = KNOBS["blank_length"].low, KNOBS["blank_length"].high
    for m in BLANK.finditer(text):
        escaped, run, own = m.groups()
        given = text[last : m.start()]
        if escaped:
            pieces.append(given + run + ("{" + own + "}" if own is not None else ""))
            last = m.end()
            continue
        before, after = text[m.start() - 1 : m.start()], text[m.end() : m.end() + 1]
        if before.isalnum() and after.isalnum():
            word = re.search(r"\w*$", text[: m.start()]).group() + run + re.match(r"\w*", text[m.end():]).group()
            raise BlankError(f"“{word}”: underscores inside a word are not a blank; put a space on one side for a "
                             f"blank, or {LITERAL_HINT}.")
        length = blank_length if own is None else _own_length(own, m.group(0), low, high)
        pieces += [given, length]
        last = m.end()
    pieces.append(text[last:])
    return [p for p in _merged(pieces) if p != ""]


def _own_length(own: str, written: str, low: float, high: float) -> int:
    if not own.strip().isdigit() or not low <= int(own) <= high:
        raise BlankError(f"“{written}”: a blank's own length is a whole number of tokens from {low:g} to {high:g}.")
    return int(own)


def _merged(pieces: list[str | int]) -> list[str | int]:
    out: list[str | int] = []
    for p in pieces:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        else:
            out.append(p)
    return out


def build_infill(tokenizer, text: str, *, blank_length: int, context_window: int,
                 question: str | None = None) -> InfillCanvas:
    """The canvas for `text` with blanks: raw, or (with `question`) the answer of a chat turn."""
    if not isinstance(text, str) or not text.strip():
        raise BlankError("The text is empty: type a sentence with ___ where the model should fill in.")
    if not isinstance(blank_length, int) or not KNOBS["blank_length"].low <= blank_length <= KNOBS["blank_length"].high:
        k = KNOBS["blank_length"]
        raise SettingsError("blank_length", f"{label('blank_length')} must be between {k.low:g} and {k.high:g} "
                                            f"(got {blank_length}).")
    raw = question is None or not question.strip()
    pieces = split_blanks(text if raw else text.strip(), blank_length)
    if not any(isinstance(p, int) for p in pieces):
        raise BlankError(f"There is no blank: write ___ (three or more underscores) where the model should fill in; "
                         f"{LITERAL_HINT}.")
    if not raw:  # the answer inside a finished chat turn, as dllm builds it
        head, tail = render_turn(question, "\0").split("\0")
        pieces = _merged([head, *pieces, tail])
    ids, blanks, shown = [], [], []
    mask_id, mask_text = tokenizer.mask_token_id, tokenizer.mask_token
    for p in pieces:
        if isinstance(p, int):
            blanks.append((len(ids), len(ids) + p))
            ids += [mask_id] * p
            shown.append(mask_text * p)
        else:
            ids += encode_text(tokenizer, p)
            shown.append(p)
    if len(ids) > context_window:
        raise BlankError(f"The text with its blanks is {len(ids)} tokens; the model's window is {context_window}: "
                         "shorten the text or the blanks.")
    # The template's part before the answer, where its tokens end (text right after it may merge).
    prompt_len = 0 if raw else _common_prefix(ids, encode_text(tokenizer, head))
    return InfillCanvas(ids, prompt_len, blanks, "".join(shown), raw, context_window)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def start_infill(lm, text: str, settings, seed: int, *, question: str | None = None):
    """(a Run that fills the text's blanks, its canvas): raw, or the answer under `question`."""
    # The sampler (and torch) only when a run starts: checking a text's blanks needs neither.
    from .layout import Layout
    from .sampler import Run

    canvas = build_infill(lm.tokenizer, text, blank_length=settings.blank_length,
                          context_window=lm.context_window, question=question)
    meta = {"raw": canvas.raw, "input": text, "question": None if canvas.raw else question.strip()}
    run = Run(lm, canvas.ids[: canvas.prompt_len], settings, seed, prompt_text=canvas.text, prompt_meta=meta,
              layout=Layout.infill(canvas.ids))
    return run, canvas
