"""runs.jsonl: one line per finished run, appended by every process.

A line counts only once its newline is on disk: each line is written with one `write` on an
O_APPEND descriptor under an exclusive lock, then fsync'd, so processes never interleave and a
kill loses at most the lines being written. A half-written last line (no newline) is never parsed
as data: `repair` (the main process, before anyone appends) cuts it off, and its run is redone.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

RUNS = "runs.jsonl"
STATUSES = ("ok", "too_long")
MAX_LINE = 4 * 1024 * 1024  # a line is one run's figures and reply: far below this


def key_of(row: dict) -> tuple[str, str, int]:
    return row["prompt_id"], row["setting"], row["seed"]


@dataclass
class RunsRead:
    rows: dict[tuple[str, str, int], dict] = field(default_factory=dict)  # file order, first of a key kept
    torn: bool = False  # the last line has no newline (a write cut short)
    bad: int = 0  # complete lines that are not a run's row
    duplicates: int = 0


def parse(data: bytes) -> RunsRead:
    out = RunsRead()
    lines = data.split(b"\n")
    out.torn = lines[-1] != b""
    for line in lines[:-1]:
        row = _row(line)
        if row is None:
            out.bad += line.strip() != b""
        elif key_of(row) in out.rows:
            out.duplicates += 1
        else:
            out.rows[key_of(row)] = row
    return out


def _row(line: bytes) -> dict | None:
    if not line.strip() or len(line) > MAX_LINE:
        return None
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        return None
    ok = (isinstance(row, dict) and isinstance(row.get("prompt_id"), str) and isinstance(row.get("setting"), str)
          and isinstance(row.get("seed"), int) and not isinstance(row.get("seed"), bool)
          and row.get("status") in STATUSES)
    return row if ok else None


def read(folder: Path) -> RunsRead:
    path = Path(folder) / RUNS
    return parse(path.read_bytes()) if path.exists() else RunsRead()


def repair(folder: Path) -> RunsRead:
    """Cut a torn last line; rewrite without lines that are not rows (atomically). Main process only."""
    path = Path(folder) / RUNS
    if not path.exists():
        return RunsRead()
    data = path.read_bytes()
    found = parse(data)
    if found.bad or found.duplicates:
        text = "".join(line_of(row) for row in found.rows.values())
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text(text, encoding="utf-8")
        _fsync(tmp)
        os.replace(tmp, path)
    elif found.torn:
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())
    return found


def line_of(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"


def append(folder: Path, rows: list[dict]) -> None:
    """Append rows as one write, locked against the other processes, and fsync before returning."""
    if not rows:
        return
    data = "".join(line_of(row) for row in rows).encode("utf-8")
    fd = os.open(Path(folder) / RUNS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:  # a regular file takes it in one go; loop in case it doesn't
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
