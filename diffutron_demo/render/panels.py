"""The viewer's pictures for a trajectory, as plain values: what any front end shows for a step or a run."""

from __future__ import annotations

from dataclasses import dataclass

from ..record.trajectory import Trajectory
from . import figures, fragments

VIEWS = ("tokens", "words")


@dataclass
class StepPanels:
    heatmap: object  # a plotly Figure
    canvas: str  # HTML
    why: str  # HTML


@dataclass
class RunPanels(StepPanels):
    order: str  # HTML: the commit order
    chart: object  # a plotly Figure: per-step confidence and commits
    history: str  # HTML: answer position 0's history
    steps: int


def step_panels(traj: Trajectory, step, view: str = "tokens") -> StepPanels:
    """The heatmap marked at `step`, the canvas after it and "why this step", in the token or word view."""
    step = int(min(max(step or 0, 0), len(traj.steps)))
    if view == "words":
        return StepPanels(figures.word_heatmap_figure(traj, marker_step=step or None),
                          fragments.word_canvas_html(traj, step), fragments.why_html(traj, step))
    return StepPanels(figures.heatmap_figure(traj, marker_step=step or None), fragments.canvas_html(traj, step),
                      fragments.why_html(traj, step))


def run_panels(traj: Trajectory) -> RunPanels:
    """Everything the viewer shows once a run is complete (or loaded), at its last step, token view."""
    n = len(traj.steps)
    return RunPanels(figures.heatmap_figure(traj), fragments.canvas_html(traj, n), fragments.why_html(traj, n),
                     fragments.commit_order_html(traj), figures.step_chart(traj), fragments.history_html(traj, 0), n)
