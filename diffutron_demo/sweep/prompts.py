"""The prompt file: `.txt` (one prompt a line, blank lines skipped) or `.jsonl` with
{"prompt": ..., "id": optional, "reference": optional, "mode": optional, "question": optional}.

A `.jsonl` row with `"mode": "infill"` is a text with `___` blanks (core/blanks.py's syntax) that
the model fills: raw, or with `question` the answer of a chat turn. Its `reference` is a list of
texts, one per blank in order, or one text:
- a text that reads as the prompt with its blanks filled (the given parts in order, whitespace
  aside) is the whole filled text; the parts it puts in the blanks are the blanks' references;
- for a prompt with one blank, any other text is that blank's fill (`"reference": "göl"`);
- otherwise it is the whole filled text only (chrF of the reply; no per-blank figures).
Every row is checked here, before any model loads. The number of blanks does not depend on the
settings (`blank_length` sets only a plain blank's token count), so a list of the wrong length is
refused at load, whatever the grid.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..record.trajectory import GENERATE, INFILL, MODES
from .grid import SweepInputError

FIELDS = ("prompt", "id", "reference", "mode", "question")
MAX_ID = 80


@dataclass(frozen=True)
class PromptItem:
    id: str
    text: str
    reference: str | None = None  # generation: the answer; infill: the whole filled text, when given as one
    mode: str = GENERATE  # or INFILL: `text` holds ___ blanks
    question: str | None = None  # infill: the chat question the text answers (None: raw text)
    blank_references: tuple[str, ...] | None = None  # infill: one reference per blank, when known


def load_prompts(path: str | Path) -> tuple[list[PromptItem], str]:
    """(the prompts in file order, the file's sha256); raises SweepInputError with one line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SweepInputError(f"{path}: no such prompt file.") from None
    except OSError as exc:
        raise SweepInputError(f"{path}: can't read the prompt file ({exc.strerror or exc}).") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SweepInputError(f"{path.name}: not UTF-8 text (byte {exc.start}).") from None
    kind = path.suffix.lower()
    if kind == ".txt":
        items = [PromptItem(f"p{i + 1}", line.strip()) for i, line in
                 enumerate(line for line in text.splitlines() if line.strip())]
    elif kind == ".jsonl":
        items = _jsonl(path.name, text)
    else:
        raise SweepInputError(f"{path.name}: a prompt file is .txt (one prompt a line) or .jsonl.")
    if not items:
        raise SweepInputError(f"{path.name}: the prompt file holds no prompts.")
    return items, hashlib.sha256(data).hexdigest()


def _jsonl(name: str, text: str) -> list[PromptItem]:
    items, ids = [], set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SweepInputError(f"{where}: not valid JSON ({exc.msg}).") from None
        if not isinstance(row, dict):
            raise SweepInputError(f"{where}: each line must be an object like {{\"prompt\": \"...\"}}.")
        unknown = sorted(set(row) - set(FIELDS))
        if unknown:
            raise SweepInputError(f"{where}: unknown field '{unknown[0]}' (fields: {', '.join(FIELDS)}).")
        prompt, mode = row.get("prompt"), row.get("mode", GENERATE)
        if not isinstance(prompt, str) or not prompt.strip():
            raise SweepInputError(f"{where}: 'prompt' must be non-empty text.")
        if mode not in MODES:
            shown = json.dumps(mode, ensure_ascii=False)[:40]
            raise SweepInputError(f"{where}: 'mode' must be \"generate\" or \"infill\" (got {shown}).")
        pid = _id(where, row.get("id"), len(items))
        if pid in ids:
            raise SweepInputError(f"{where}: id '{pid}' is used twice.")
        ids.add(pid)
        if mode == INFILL:
            items.append(_infill(where, pid, prompt, row))
            continue
        reference = row.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise SweepInputError(f"{where}: 'reference' must be text.")
        if "question" in row:
            raise SweepInputError(f"{where}: 'question' is for \"mode\": \"infill\" rows (the chat question the "
                                  "text answers); a generation row's prompt is the question.")
        items.append(PromptItem(pid, prompt, reference))
    return items


def _infill(where: str, pid: str, text: str, row: dict) -> PromptItem:
    """An infill row, checked: the question, the blanks, the reference against the blanks."""
    question = row.get("question")
    if question is not None and (not isinstance(question, str) or not question.strip()):
        raise SweepInputError(f"{where}: 'question' must be non-empty text (leave it out for raw text).")
    pieces = blank_pieces(where, text if question is None else text.strip())
    count = sum(isinstance(p, int) for p in pieces)
    if count == 0:
        raise SweepInputError(f"{where}: 'prompt' has no blank: write ___ (three or more underscores) where the "
                              "model should fill in.")
    reference = row.get("reference")
    whole, per_blank = None, None
    if isinstance(reference, list):
        if not all(isinstance(r, str) for r in reference):
            raise SweepInputError(f"{where}: 'reference' must be text, or a list of texts (one per blank).")
        if len(reference) != count:
            raise SweepInputError(f"{where}: 'reference' lists {len(reference)} text{'s' * (len(reference) != 1)} "
                                  f"but the prompt has {count} blank{'s' * (count != 1)}.")
        per_blank = tuple(reference)
    elif isinstance(reference, str):
        parts = read_as_filled(pieces, reference)
        if parts is not None:
            whole, per_blank = reference, parts
        elif count == 1:
            per_blank = (reference,)
        else:
            whole = reference
    elif reference is not None:
        raise SweepInputError(f"{where}: 'reference' must be text, or a list of texts (one per blank).")
    return PromptItem(pid, text, whole, INFILL, question, per_blank)


def blank_pieces(where: str, text: str) -> list[str | int]:
    """core.blanks.split_blanks (imported here only: core/blanks.py loads the sampler, and torch)."""
    from ..core.blanks import BlankError, split_blanks
    from ..settings import SamplerSettings

    try:
        return split_blanks(text, SamplerSettings().blank_length)  # the count doesn't depend on the length
    except BlankError as exc:
        raise SweepInputError(f"{where}: 'prompt': {exc}") from None


def read_as_filled(pieces: list[str | int], reference: str) -> tuple[str, ...] | None:
    """What `reference` puts in each blank, if it reads as the text with its blanks filled: the given
    parts in order (any run of whitespace as any, or none), each found at its leftmost place after
    the blank before it, the last one at the end. None if it doesn't read so, or if two blanks touch
    (nothing tells their fills apart). One scan, no backtracking: a long reference can't stall it."""
    ref = reference.strip()
    kinds = [isinstance(p, int) for p in pieces]
    if any(a and b for a, b in zip(kinds, kinds[1:])) or any(
            not kinds[i] and not pieces[i].strip() and 0 < i < len(pieces) - 1 for i in range(len(pieces))):
        return None
    fills, at, open_blank = [], 0, False
    for i, p in enumerate(pieces):
        if isinstance(p, int):
            open_blank = True
            continue
        given = _given_pattern(p) + (r"\Z" if i == len(pieces) - 1 else "")
        found = re.compile(given).search(ref, at) if open_blank else re.compile(given).match(ref, at)
        if found is None:
            return None
        if open_blank:
            fills.append(ref[at : found.start()].strip())
        at, open_blank = found.end(), False
    if open_blank:
        fills.append(ref[at:].strip())
    elif at != len(ref):
        return None
    return tuple(fills)


def _given_pattern(text: str) -> str:
    return "".join(r"\s*" if part.isspace() else re.escape(part) for part in re.split(r"(\s+)", text) if part)


def _id(where: str, value, index: int) -> str:
    if value is None:
        return f"p{index + 1}"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SweepInputError(f"{where}: 'id' must be text or a whole number.")
    value = str(value).strip()
    if not value or len(value) > MAX_ID or any(ch in value for ch in "\n\r\t"):
        raise SweepInputError(f"{where}: 'id' must be 1 to {MAX_ID} characters on one line.")
    return value
