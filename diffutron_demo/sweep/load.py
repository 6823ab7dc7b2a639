"""A sweep's files as uploaded to the app: runs.jsonl (+ summary.csv, manifest.json, trajectories),
or a zip of the sweep's folder. Read in memory with size limits; nothing is extracted to disk."""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..record.trajectory import GENERATE, MAX_FILE_BYTES, MODES
from . import runsfile
from .grid import SweepInputError
from .summary import FIGURES, from_csv, summarize

MAX_TOTAL = 200 * 1024 * 1024  # what a zip may unpack to, all members together
MAX_TRAJECTORIES = 5000


@dataclass
class SweepData:
    rows: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)
    reference: str | None = None
    manifest: dict | None = None
    trajectories: dict[str, bytes] = field(default_factory=dict)  # "trajectories/NAME.json" -> file

    def prompt_choices(self) -> list[tuple[str, str]]:
        seen = {}
        for r in self.rows:
            seen.setdefault(r["prompt_id"], r.get("prompt") or "")
        return [(f"{pid}: {text[:70]}", pid) for pid, text in seen.items()]

    def trajectory_choices(self, prompt_id: str) -> list[tuple[str, str]]:
        return [(f"{r['setting']} · seed {r['seed']}", r["trajectory"]) for r in self.rows
                if r["prompt_id"] == prompt_id and r.get("trajectory") in self.trajectories]


def load_files(paths: list[str | Path]) -> SweepData:
    """Raises SweepInputError (one line) when nothing usable is there."""
    found: dict[str, bytes] = {}
    trajectories: dict[str, bytes] = {}
    for path in paths:
        path = Path(path)
        if path.suffix.lower() == ".zip":
            _from_zip(path, found, trajectories)
        else:
            _take(path.name, path.read_bytes(), found, trajectories)
    if "runs.jsonl" not in found and "summary.csv" not in found:
        raise SweepInputError("No runs.jsonl or summary.csv among the files: upload those from a sweep's folder, "
                              "or a zip of the folder.")
    return _assemble(found, trajectories)


def _from_zip(path: Path, found: dict, trajectories: dict) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise SweepInputError(f"{path.name} is not a zip file.") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if sum(m.file_size for m in members) > MAX_TOTAL:
            raise SweepInputError(f"{path.name} unpacks to more than {MAX_TOTAL // 2**20} MB.")
        for m in members:
            parts = PurePosixPath(m.filename).parts
            name = "/".join(parts[-2:]) if len(parts) >= 2 and parts[-2] == "trajectories" else parts[-1]
            _take(name, archive.read(m), found, trajectories)


def _take(name: str, data: bytes, found: dict, trajectories: dict) -> None:
    base = name.rsplit("/", 1)[-1]
    if base.endswith(".jsonl") and base.startswith("runs"):
        found["runs.jsonl"] = data
    elif base.endswith(".csv") and base.startswith("summary"):
        found["summary.csv"] = data
    elif base == "manifest.json":
        found["manifest.json"] = data
    elif base.endswith(".json") and len(data) <= MAX_FILE_BYTES and len(trajectories) < MAX_TRAJECTORIES:
        trajectories[f"trajectories/{base}"] = data


def _well_formed(row: dict) -> bool:
    """An uploaded row can be anything: keep those whose figures are numbers and texts are text."""
    numbers = all(row.get(f) is None or (isinstance(row[f], (int, float)) and math.isfinite(row[f]))
                  for f in FIGURES)
    ok = row["status"] != "ok" or (isinstance(row.get("reply"), str) and isinstance(row.get("answer_ids"), list)
                                   and all(isinstance(row.get(f), (int, float)) for f in ("model_ms", "gen_tokens",
                                                                                           "nfe")))
    texts = all(row.get(f) is None or isinstance(row[f], str)
                for f in ("prompt", "reply", "reason", "trajectory", "question"))
    # An infill row's fields (rows from before them, and generation rows, have none).
    lists = all(row.get(f) is None or (isinstance(row[f], list) and all(isinstance(t, str) for t in row[f]))
                for f in ("blank_fills", "blank_references"))
    return numbers and ok and texts and lists and row.get("mode", GENERATE) in MODES


def _assemble(found: dict, trajectories: dict) -> SweepData:
    data = SweepData(trajectories=trajectories)
    if "manifest.json" in found:
        try:
            manifest = json.loads(found["manifest.json"])
            data.manifest = manifest if isinstance(manifest, dict) else None
        except ValueError:
            data.manifest = None
    if "runs.jsonl" in found:
        data.rows = [r for r in runsfile.parse(found["runs.jsonl"]).rows.values() if _well_formed(r)]
    grid = (data.manifest or {}).get("grid")
    order = list(grid) if isinstance(grid, dict) else []
    for r in data.rows:
        if r["setting"] not in order:
            order.append(r["setting"])
    if data.rows:
        data.summary = summarize(data.rows, order)
    else:
        try:
            data.summary = from_csv(found["summary.csv"].decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SweepInputError(f"summary.csv can't be read: {exc}.") from None
    data.settings = order or [r["setting"] for r in data.summary]
    reference = (data.manifest or {}).get("reference")
    data.reference = reference if reference in data.settings else (data.settings[0] if data.settings else None)
    return data
