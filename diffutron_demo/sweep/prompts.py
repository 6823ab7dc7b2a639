"""The prompt file: `.txt` (one prompt a line, blank lines skipped) or `.jsonl` with
{"prompt": ..., "id": optional, "reference": optional answer text}."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .grid import SweepInputError

FIELDS = ("prompt", "id", "reference")
MAX_ID = 80


@dataclass(frozen=True)
class PromptItem:
    id: str
    text: str
    reference: str | None = None


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
        prompt, reference = row.get("prompt"), row.get("reference")
        if not isinstance(prompt, str) or not prompt.strip():
            raise SweepInputError(f"{where}: 'prompt' must be non-empty text.")
        if reference is not None and not isinstance(reference, str):
            raise SweepInputError(f"{where}: 'reference' must be text.")
        pid = _id(where, row.get("id"), len(items))
        if pid in ids:
            raise SweepInputError(f"{where}: id '{pid}' is used twice.")
        ids.add(pid)
        items.append(PromptItem(pid, prompt, reference))
    return items


def _id(where: str, value, index: int) -> str:
    if value is None:
        return f"p{index + 1}"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SweepInputError(f"{where}: 'id' must be text or a whole number.")
    value = str(value).strip()
    if not value or len(value) > MAX_ID or any(ch in value for ch in "\n\r\t"):
        raise SweepInputError(f"{where}: 'id' must be 1 to {MAX_ID} characters on one line.")
    return value
