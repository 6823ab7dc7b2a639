"""Running a sweep's jobs on one process's share: batched by setting with `drive`, rows appended as
runs finish.

Each job is one (prompt, setting, seed) run with its own random stream (seeds.stream_seed), so
where and with what it runs changes no answer; with --compare-seeds every run is seeded with the
seed itself, as the app's Compare tab seeds its columns. On a GPU, runs of one setting go
`batch_size` at a time through one batched encoder pass per step (a bucketed encoder pads them to a
shared length, the padding masked); with batch size 1 each run is stepped alone.

A prompt row in infill mode starts with `start_infill` (its blanks filled, raw or under its chat
question) and goes through the same `drive` loop; its row adds each blank's fill and the figures
against the blanks' references.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..core.blanks import BlankError, start_infill
from ..core.models import LoadedModel
from ..core.sampler import Run, drive, start_run
from ..settings import SamplerSettings, SettingsError
from . import runsfile
from .figures import blank_figures, compared, run_figures
from ..record.trajectory import INFILL
from .prompts import PromptItem
from .seeds import stream_seed

TRAJECTORIES = "trajectories"


@dataclass(frozen=True)
class Job:
    prompt: PromptItem
    setting: str
    seed: int

    @property
    def key(self) -> tuple[str, str, int]:
        return self.prompt.id, self.setting, self.seed


@dataclass
class Context:
    """What every job of one launch shares."""
    lm: LoadedModel
    grid: dict[str, SamplerSettings]
    reference: str
    out: Path
    raw: bool = False
    batch_size: int = 1
    keep_trajectories: bool = False
    rank: int = 0
    launch: str = ""
    compare_seeds: bool = False  # every run seeded with the seed itself (Compare's answers), not stream_seed

    def run_seed(self, job: Job) -> int:
        """The seed of the job's generator: the triple's stream_seed, or with --compare-seeds the seed."""
        return job.seed if self.compare_seeds else stream_seed(*job.key)


def all_jobs(grid: dict, prompts: list[PromptItem], seeds: list[int]) -> list[Job]:
    """Every run, prompt by prompt: a contiguous share of this list holds every setting alike."""
    return [Job(p, name, seed) for p in prompts for seed in seeds for name in grid]


def run_jobs(ctx: Context, jobs: list[Job], refs: dict) -> Iterator[list[dict]]:
    """Run `jobs` setting by setting, `batch_size` at a time; yield each round's finished rows,
    already appended to runs.jsonl. `refs` maps a key to the reference setting's row (rows of the
    reference setting itself are measured against themselves)."""
    for name in ctx.grid:
        mine = [j for j in jobs if j.setting == name]
        for start in range(0, len(mine), ctx.batch_size):
            for rows in _run_chunk(ctx, mine[start : start + ctx.batch_size], refs):
                runsfile.append(ctx.out, rows)
                yield rows


def _start(ctx: Context, job: Job) -> tuple[Run, list[tuple[int, int]] | None]:
    """(the job's Run, its blanks' canvas spans for infill, else None); raises SettingsError or
    BlankError when the prompt doesn't fit the window (every other fault was refused at load)."""
    settings, seed = ctx.grid[job.setting], ctx.run_seed(job)
    if job.prompt.mode == INFILL:
        run, canvas = start_infill(ctx.lm, job.prompt.text, settings, seed, question=job.prompt.question)
        return run, list(canvas.blanks)
    return start_run(ctx.lm, job.prompt.text, settings, seed, raw=ctx.raw)[0], None


def _run_chunk(ctx: Context, jobs: list[Job], refs: dict) -> Iterator[list[dict]]:
    started, skipped = [], []
    for job in jobs:
        try:
            run, blanks = _start(ctx, job)
        except (SettingsError, BlankError) as exc:  # the prompt doesn't fit the window with this setting
            skipped.append(_row(ctx, job, None, refs, reason=str(exc)))
            continue
        started.append((job, run, blanks))
    if skipped:
        yield skipped
    pending = dict(enumerate(started))
    for _ in drive([run for _, run, _ in started], batched=ctx.batch_size > 1):
        over = [i for i, (_, run, _) in pending.items() if run.stop_reason != "running"]
        if over:
            yield [_row(ctx, job, run, refs, blanks) for job, run, blanks in map(pending.pop, over)]
    if pending:  # a run that ended before its first step (nothing to do)
        yield [_row(ctx, job, run, refs, blanks) for job, run, blanks in pending.values()]


def _row(ctx: Context, job: Job, run: Run | None, refs: dict, blanks: list | None = None,
         reason: str | None = None) -> dict:
    pid, setting, seed = job.key
    item = job.prompt
    row = {"prompt_id": pid, "setting": setting, "seed": seed, "status": "ok" if run else "too_long",
           "reason": reason, "prompt": item.text, "stream_seed": ctx.run_seed(job)}
    if item.mode == INFILL:
        row.update({"mode": INFILL, "question": item.question})
    if run is None:
        row.update({k: None for k in ("reply", "answer_ids", "gen_tokens", "nfe", "steps", "tokens_per_forward",
                                      "model_ms", "wall_ms", "mean_conf", "closed", "stop_reason",
                                      "repeated_3grams")})
        row["trajectory"] = None
    else:
        traj = run.trajectory()
        row.update(run_figures(traj))
        row["trajectory"] = _save(ctx, job, traj) if ctx.keep_trajectories else None
    if item.mode == INFILL:
        fills = None if run is None else [fill_text(ctx.lm, run.final_ids, span) for span in blanks]
        row.update(blank_figures(fills, item.blank_references, row["reply"], item.reference))
    reference = row if setting == ctx.reference else refs.get((pid, ctx.reference, seed))
    compared(row, reference, item.reference)
    row.update({"process": ctx.rank, "launch": ctx.launch, "finished_at": round(time.time(), 3)})
    return row


def fill_text(lm: LoadedModel, ids: list[int], span: tuple[int, int]) -> str:
    """What a blank was filled with: its span's ids decoded, special tokens left out, stripped."""
    start, end = span
    return lm.tokenizer.decode(ids[start:end], skip_special_tokens=True).strip()


def _save(ctx: Context, job: Job, traj) -> str:
    """Write the run's trajectory before its row, so a row never names a missing file."""
    folder = ctx.out / TRAJECTORIES
    folder.mkdir(exist_ok=True)
    name = f"{safe_name(job.prompt.id)}__{safe_name(job.setting)}__s{job.seed}.json"
    tmp = folder / f".{name}.tmp"
    traj.save(tmp)
    os.replace(tmp, folder / name)
    return f"{TRAJECTORIES}/{name}"


def safe_name(text: str) -> str:
    """A file-name part for any id or setting name: readable, and unique by a short hash."""
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-.")[:40] or "x"
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def run_phases(state, ctx: Context, prompts: list[PromptItem], seeds: list[int]) -> None:
    """This process's share of what runs.jsonl lacks: the reference setting's runs first, then
    (once every process has written its reference rows) the rest. One progress bar per process."""
    from tqdm.auto import tqdm

    done = runsfile.read(ctx.out).rows
    state.wait_for_everyone()  # every process has read the same file before anyone appends
    todo = [j for j in all_jobs(ctx.grid, prompts, seeds) if j.key not in done]
    shares = []
    for phase in ([j for j in todo if j.setting == ctx.reference], [j for j in todo if j.setting != ctx.reference]):
        with state.split_between_processes(phase) as mine:
            shares.append(list(mine))
    total = sum(map(len, shares))
    print(f"process {state.process_index} of {state.num_processes}: {total} runs to do on {ctx.lm.device} "
          f"({ctx.lm.dtype}, batch size {ctx.batch_size}); {len(done)} done before", file=sys.stderr, flush=True)
    bar = tqdm(total=total, desc=f"process {state.process_index}", position=state.process_index, unit="run",
               file=sys.stderr, dynamic_ncols=True)
    for rows in run_jobs(ctx, shares[0], {}):
        bar.update(len(rows))
    state.wait_for_everyone()
    refs = {k: row for k, row in runsfile.read(ctx.out).rows.items() if k[1] == ctx.reference}
    for rows in run_jobs(ctx, shares[1], refs):
        bar.update(len(rows))
    bar.close()
    state.wait_for_everyone()
