"""What the app does, without Gradio: runs drawn live (a chat turn, a fill, a comparison), their
results and labels. Branches, redos and replays are in app/edits.py.

The UI only wires components to these functions and maps their results onto components, so
everything here is tested directly. Frames are thinned here (at most one per FRAME_INTERVAL_S),
and each frame adds only the new steps to the player's value (render/runview.py).
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

from ..core.blanks import start_infill
from ..core.models import LoadedModel
from ..core.sampler import Run, drive, start_run
from ..record.stats import empty_reason, run_stats
from ..record.trajectory import Trajectory
from ..render import fragments
from ..render.runview import RunView
from ..settings import SamplerSettings

FRAME_INTERVAL_S = 0.12  # at most ~8 live frames a second, so the browser keeps up


@dataclass
class LiveFrame:
    steps: int
    player: dict  # the player's value after these steps
    status: str


class LiveRun:
    """A run drawn while it runs: a frame at most every `interval` s, model and drawing time kept apart."""

    def __init__(self, run: Run, label: str, *, lang: str = "en", redo: bool = True):
        self.run, self.label = run, label
        self.expected = run.expected_steps()
        self.view = RunView(run.snapshot(), label=label, lang=lang, expected=self.expected, redo=redo)
        self.model_s = self.draw_s = 0.0

    def frames(self, stop: threading.Event, interval: float = FRAME_INTERVAL_S) -> Iterator[LiveFrame]:
        """Step the run; a set `stop` cancels it between steps."""
        last = 0.0
        for record in self.run:
            self.model_s += record.step_ms / 1000
            if stop.is_set():
                self.run.cancel()
                break
            if time.perf_counter() - last < interval:
                continue
            t0 = time.perf_counter()
            value = self.view.update(self.run.snapshot(), done=False)
            self.draw_s += time.perf_counter() - t0
            last = time.perf_counter()
            n = len(self.run.steps)
            yield LiveFrame(n, value, f"step {n} of ~{self.expected} · model {self.model_s / n:.3f} s/step · "
                                      f"drawing {self.draw_s:.2f} s so far")

    def finished(self) -> tuple[Trajectory, dict]:
        """The record and the player's last value (reply, words, why an empty answer is empty)."""
        traj = self.run.trajectory()
        t0 = time.perf_counter()
        value = self.view.update(traj, done=True)
        self.draw_s += time.perf_counter() - t0
        return traj, value

    def summary(self, traj: Trajectory) -> str:
        n = len(traj.steps)
        return (f"{n} steps · model {self.model_s:.2f} s ({self.model_s / max(n, 1):.3f} s/step) · "
                f"drawing {self.draw_s:.2f} s · stop: {traj.stop_reason}")


def shown_answer(traj: Trajectory, expected: int) -> str:
    """The answer as the chat shows it: escaped; a stopped run and an empty answer say so, and why."""
    n = len(traj.steps)
    label = f"\n\n■ stopped at step {n} of ~{expected}: partial answer" if traj.stop_reason == "cancelled" else ""
    why = empty_reason(traj)
    text = traj.reply.strip() or f"(empty answer: {why})"
    return html.escape(text) + label


# -- a chat turn ------------------------------------------------------------------------------------
@dataclass
class TurnResult:
    traj: Trajectory
    player: dict
    shown: str  # the answer as the chat shows it: escaped, labelled if stopped or empty
    pairs: list[tuple[str, str]]  # the history with this turn
    summary: str


class ChatTurn(LiveRun):
    """One chat turn: the prompt built to fit the window, the run drawn live, the result."""

    def __init__(self, lm: LoadedModel, question: str, pairs: list[tuple[str, str]], settings: SamplerSettings,
                 seed: int, raw: bool = False):
        run, self.prompt = start_run(lm, question, settings, seed, history=pairs, raw=raw)
        self.lm, self.question, self.settings = lm, question, settings
        super().__init__(run, f"Your question {len(self.prompt.history) + 1} · {lm.name} · seed {seed}")

    def context_bar(self) -> str:
        p = self.prompt
        return fragments.context_bar_html(p.history_tokens, p.question_tokens, self.settings.max_new_tokens,
                                          self.lm.context_window, p.dropped_turns)

    def result(self) -> TurnResult:
        traj, value = self.finished()
        return TurnResult(traj, value, shown_answer(traj, self.expected),
                          list(self.prompt.history) + [(self.question, traj.reply)], self.summary(traj))


# -- a fill ------------------------------------------------------------------------------------------
class FillRun(LiveRun):
    """A text with blanks filled, drawn live: raw, or the answer under `question`."""

    def __init__(self, lm: LoadedModel, text: str, settings: SamplerSettings, seed: int, question: str | None = None):
        run, self.canvas = start_infill(lm, text, settings, seed, question=question)
        self.lm = lm
        super().__init__(run, f"Fill · {len(self.canvas.blanks)} blanks · {lm.name} · seed {seed}")

    def preview(self) -> str:
        c = self.canvas
        return fragments.infill_preview_html(c.blanks, len(c.ids), c.context_window)


# -- compare ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """What every compared column runs: a question (generation) or a text with blanks (infill)."""
    text: str
    fill: bool = False
    question: str | None = None  # a fill's chat question (None: raw text)
    raw: bool = False  # generation without the chat template

    def start(self, lm: LoadedModel, settings: SamplerSettings, seed: int) -> Run:
        if self.fill:
            return start_infill(lm, self.text, settings, seed, question=self.question)[0]
        return start_run(lm, self.text, settings, seed, raw=self.raw)[0]


def compare_runs(lm: LoadedModel, task: Task, settings_list: list[SamplerSettings], seed: int,
                 batched: bool | None = None, stop: threading.Event | None = None) \
        -> Iterator[tuple[list[Run], list[int]]]:
    """Several settings on the same task and seed, stepped together round by round.

    Yields (runs, stepped) after every round and a last (runs, []). Batched (default on a GPU):
    runs whose inputs have the same shape share one encoder pass per round. On a CPU a batch costs
    as much as its runs one by one, so they are stepped in turn there, bit-identical to each alone.
    A set `stop` cancels every run between rounds."""
    runs = [task.start(lm, s, seed) for s in settings_list]
    for stepped in drive(runs, lm.device != "cpu" if batched is None else batched):
        if stop is not None and stop.is_set():
            for run in runs:
                run.cancel()
        yield runs, stepped
    yield runs, []


@dataclass
class CompareFrame:
    columns: list[int]  # which column each run belongs to
    players: list[dict]
    answers: list[str]  # HTML: each answer with the words that differ from the first highlighted
    done: bool
    trajs: list[Trajectory] = field(default_factory=list)  # once done
    rows: list[dict] = field(default_factory=list)  # the comparison table, once done


def compare_frames(lm: LoadedModel, task: Task, columns: dict[int, SamplerSettings], seed: int,
                   labels: dict[int, str], stop: threading.Event | None = None,
                   interval: float = FRAME_INTERVAL_S) -> Iterator[CompareFrame]:
    """`compare_runs` drawn: a frame at most every `interval` s per run, the last one with the table.
    `columns` maps a column number to its settings; every frame keeps that mapping."""
    order = sorted(columns)
    views: list[RunView] = []
    last = 0.0
    for runs, stepped in compare_runs(lm, task, [columns[c] for c in order], seed, stop=stop):
        if not views:
            views = [RunView(r.snapshot(), label=labels[c], expected=r.expected_steps(), group="compare", redo=True)
                     for c, r in zip(order, runs)]
        if stepped and time.perf_counter() - last < interval * len(runs):
            continue
        done = not stepped
        trajs = [r.trajectory() if done else r.snapshot() for r in runs]
        frame = CompareFrame(order, [v.update(t, done) for v, t in zip(views, trajs)],
                             [fragments.diff_html(trajs[0].reply, t.reply) for t in trajs] if done else [""] * len(runs),
                             done)
        if done:
            frame.trajs = trajs
            frame.rows = [{"column": c, "run": labels[c], **run_stats(t)} for c, t in zip(order, trajs)]
        last = time.perf_counter()
        yield frame
