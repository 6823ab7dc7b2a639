"""What the app does, without Gradio: chat turns drawn live, comparisons, branches, contrasts, replays.

The UI only wires components to these functions and maps their results onto components, so
everything here is tested directly. Frames are thinned here (at most one per FRAME_INTERVAL_S).
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

from ..core.branching import branch_run
from ..core.chat import encode_text
from ..core.models import LoadedModel
from ..core.sampler import Run, drive, start_run
from ..record.checks import TrajectoryError
from ..record.stats import run_stats
from ..record.trajectory import Trajectory
from ..render import figures, fragments
from ..render.panels import RunPanels, run_panels, step_panels
from ..settings import SamplerSettings

FRAME_INTERVAL_S = 0.12  # at most ~8 live frames a second, so the browser keeps up


# -- a chat turn, drawn live ------------------------------------------------------------------------
@dataclass
class LiveFrame:
    steps: int
    heatmap: object
    canvas: str
    status: str


@dataclass
class TurnResult:
    traj: Trajectory
    shown: str  # the answer as the chat shows it: escaped, labelled if stopped
    pairs: list[tuple[str, str]]  # the history with this turn
    summary: str


@dataclass
class ChatTurn:
    """One chat turn: the prompt built to fit, the run, live frames while it runs, the result after."""
    lm: LoadedModel
    question: str
    pairs: list[tuple[str, str]]
    settings: SamplerSettings
    seed: int
    raw: bool = False
    model_s: float = field(default=0.0, init=False)
    draw_s: float = field(default=0.0, init=False)

    def __post_init__(self):
        self.run, self.prompt = start_run(self.lm, self.question, self.settings, self.seed,
                                          history=self.pairs, raw=self.raw)
        self.expected = self.settings.num_blocks * self.settings.steps_per_block

    def context_bar(self) -> str:
        p = self.prompt
        return fragments.context_bar_html(p.history_tokens, p.question_tokens, self.settings.max_new_tokens,
                                          self.lm.context_window, p.dropped_turns)

    def frames(self, stop: threading.Event, interval: float = FRAME_INTERVAL_S) -> Iterator[LiveFrame]:
        """Step the run; a frame at most every `interval` s. A set `stop` cancels between steps."""
        last = 0.0
        for record in self.run:
            self.model_s += record.step_ms / 1000
            if stop.is_set():
                self.run.cancel()
                break
            if time.perf_counter() - last < interval:
                continue
            t0 = time.perf_counter()
            partial = self.run.trajectory()
            fig = figures.heatmap_figure(partial, total_steps=self.expected)
            canvas = fragments.canvas_html(partial, len(partial.steps))
            self.draw_s += time.perf_counter() - t0
            last = time.perf_counter()
            n = len(partial.steps)
            yield LiveFrame(n, fig, canvas, f"step {n} of ~{self.expected} · model {self.model_s / n:.3f} s/step · "
                                            f"drawing {self.draw_s:.2f} s so far")

    def result(self) -> TurnResult:
        traj = self.run.trajectory()
        n = len(traj.steps)
        label = f"\n\n⏹ stopped at step {n} of ~{self.expected}: partial answer" \
            if traj.stop_reason == "cancelled" else ""
        summary = (f"{n} steps · model {self.model_s:.2f} s ({self.model_s / max(n, 1):.3f} s/step) · "
                   f"drawing {self.draw_s:.2f} s · stop: {traj.stop_reason}")
        return TurnResult(traj, html.escape(traj.reply.strip() or "(empty answer)") + label,
                          list(self.prompt.history) + [(self.question, traj.reply)], summary)


# -- compare ----------------------------------------------------------------------------------------
def compare_runs(lm: LoadedModel, question: str, settings_list: list[SamplerSettings], seed: int,
                 raw: bool = False, batched: bool | None = None) -> Iterator[tuple[list[Run], list[int]]]:
    """Several settings on the same prompt and seed, stepped together round by round.

    Yields (runs, stepped) after every round and a last (runs, []). Batched (default on a GPU):
    runs whose inputs have the same shape share one encoder pass per round. On a CPU a batch costs
    as much as its runs one by one, so they are stepped in turn there, bit-identical to each alone."""
    runs = [start_run(lm, question, s, seed, raw=raw)[0] for s in settings_list]
    for stepped in drive(runs, lm.device != "cpu" if batched is None else batched):
        yield runs, stepped
    yield runs, []


@dataclass
class CompareFrame:
    trajs: list[Trajectory]
    heatmaps: list
    answers: list[str]  # HTML: each answer with the words that differ from the first highlighted
    done: bool
    rows: list[dict] = field(default_factory=list)  # the comparison table, once done

    @property
    def steps(self) -> int:
        return max((len(t.steps) for t in self.trajs), default=0)


def compare_frames(lm: LoadedModel, question: str, settings_list: list[SamplerSettings], labels: list[str],
                   seed: int, interval: float = FRAME_INTERVAL_S) -> Iterator[CompareFrame]:
    """`compare_runs` drawn: a frame at most every `interval` s per run, and the last one with the table."""
    last = 0.0
    for runs, stepped in compare_runs(lm, question, settings_list, seed):
        if stepped and time.perf_counter() - last < interval * len(runs):
            continue
        trajs = [r.trajectory() for r in runs]
        frame = CompareFrame(trajs, [figures.heatmap_figure(t, title=label) for t, label in zip(trajs, labels)],
                             [fragments.diff_html(trajs[0].reply, t.reply) for t in trajs], done=not stepped)
        if frame.done:
            frame.rows = [{"run": label, **run_stats(t)} for label, t in zip(labels, trajs)]
        last = time.perf_counter()
        yield frame


def shared_step(trajs: list[Trajectory], step) -> tuple[list, list[str]]:
    """The compared runs' heatmaps and canvases at one shared step."""
    panels = [step_panels(t, step) for t in trajs]
    return [p.heatmap for p in panels], [p.canvas for p in panels]


# -- what if, and the left-to-right contrast ----------------------------------------------------------
class ModelMismatch(ValueError):
    """A recorded run can only be continued by the model that made it."""


def _same_model(lm: LoadedModel, traj: Trajectory, what: str) -> None:
    if traj.model.get("name") != lm.name:
        raise ModelMismatch(f"This run was made with {traj.model.get('name')}; load that model to {what}.")


@dataclass
class BranchResult:
    index: int
    view: Trajectory  # the run up to the split, then the branch
    heatmap: object
    note: str  # HTML


def branch(lm: LoadedModel, traj: Trajectory, at_step: int, changes: dict, pin_pos=None, pin_text: str = "") \
        -> BranchResult:
    """Continue `traj` from `at_step` with `changes` to its settings and/or text pinned at an answer
    position; the branch is stored in `traj`. Raises SettingsError / ValueError with the reason."""
    _same_model(lm, traj, "branch it")
    settings = SamplerSettings.from_dict({**traj.settings, **{k: v for k, v in changes.items() if v not in (None, "")}})
    pins = {}
    if pin_pos is not None and pin_text:
        pins = {int(pin_pos) + i: t for i, t in enumerate(encode_text(lm.tokenizer, pin_text))}
    result = branch_run(lm, traj, at_step, settings, pins=pins).run_to_end()
    index = traj.add_branch(result, at_step, pins)
    view = traj.branch(index)
    note = f"<b>Branch {index + 1}</b> from step {at_step}: " + fragments.diff_html(traj.reply, view.reply)
    return BranchResult(index, view, figures.heatmap_figure(view, split_step=at_step), note)


def left_to_right(lm: LoadedModel, base: Trajectory) -> Trajectory:
    """The same prompt, seed and settings with block length 1: strictly left to right."""
    _same_model(lm, base, "make a contrast run")
    settings = SamplerSettings.from_dict({**base.settings, "block_length": 1})
    return Run(lm, base.prompt_ids, settings, base.seed, prompt_text=base.prompt.get("text", "")).run_to_end()


# -- replay ---------------------------------------------------------------------------------------------
def load_replay(data: bytes | str) -> tuple[Trajectory | None, str, RunPanels | None]:
    """(the trajectory, a note, its pictures) for an uploaded file, or (None, why it can't be replayed, None)."""
    try:
        traj = Trajectory.from_json(data)
        panels = run_panels(traj)  # a file can pass the checks and still not draw
    except TrajectoryError as exc:
        return None, f"⚠️ Can't replay this file: {html.escape(str(exc))}", None
    except Exception:  # noqa: BLE001 - loaded, but the pictures can't be drawn from it
        return None, "⚠️ Can't replay this file: it is not a trajectory this version can draw.", None
    name = traj.model["name"].replace("`", "'")  # a code span shows its text as is
    derived = " Scores and ranks were derived from an older file." if any(s.derived for s in traj.steps) else ""
    note = f"Loaded: {len(traj.steps)} steps, {traj.answer_len} answer positions, model `{name}`.{derived}"
    return traj, note, panels

