"""The end of a launch (main process): summary.csv and report.html from runs.jsonl, and the final line."""

from __future__ import annotations

import os
from pathlib import Path

from . import manifest, runsfile
from .report import report_html
from .summary import summarize, to_csv


def finish(out: Path, launch: str, seconds: float, processes: int, expected: int) -> str:
    """Write the summary and the report; return the line with the totals."""
    data = manifest.read(out)
    settings = list(data["grid"])
    rows = list(runsfile.read(out).rows.values())
    summary = summarize(rows, settings)
    _write(out / "summary.csv", to_csv(summary))
    _write(out / "report.html", report_html(rows, summary, data))
    new = [r for r in rows if r.get("launch") == launch]
    made = sum(r["gen_tokens"] or 0 for r in new)
    too_long = sum(r["status"] == "too_long" for r in rows)
    rate = f"{made / seconds:.2f}" if seconds > 0 else "-"
    return (f"sweep done: {len(rows)} of {expected} runs ({len(new)} this launch, {too_long} too long) in "
            f"{seconds:.1f} s with {processes} process{'es' if processes > 1 else ''}; {made} tokens this launch, "
            f"{rate} tokens/s; wrote {out / 'summary.csv'} and {out / 'report.html'}")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
