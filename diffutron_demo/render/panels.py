"""What the viewer shows for a run, as plain values: the player's value, the commit order and the
per-step chart. Any front end (the app's viewer, a test) takes these."""

from __future__ import annotations

from dataclasses import dataclass

from ..record.trajectory import Trajectory
from . import figures, fragments
from .runview import run_value


@dataclass
class RunPanels:
    player: dict  # the player's value (render/runview.py)
    order: str  # HTML: the commit order
    chart: object  # a plotly Figure: per-step confidence and commits
    steps: int


def run_panels(traj: Trajectory, label: str, *, lang: str = "en", split: int | None = None, redo: bool = False,
               group: str | None = None) -> RunPanels:
    """Everything the viewer shows once a run is complete (or loaded)."""
    return RunPanels(run_value(traj, label=label, lang=lang, split=split, redo=redo, group=group),
                     fragments.commit_order_html(traj), figures.step_chart(traj), len(traj.steps))


def panels_with(traj: Trajectory, player: dict) -> RunPanels:
    """A live run's panels once it is over: its last player value, the commit order and the chart."""
    return RunPanels(player, fragments.commit_order_html(traj), figures.step_chart(traj), len(traj.steps))
