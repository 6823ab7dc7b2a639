"""The per-step chart, a plotly figure drawn from a trajectory's record (the heatmap is the
player's, render/player.js).

Per step: how many tokens were committed, the mean candidate confidence, the least sure
candidate (the gate a threshold strategy acts on) and the cutoff (the last one committed by
rank). The plot area is transparent, so it is light or dark with the page's theme.
"""

from __future__ import annotations

import plotly.graph_objects as go

from ..record.cells import step_summary
from ..record.trajectory import Trajectory
from . import palette

THEMELESS = dict(template="plotly_white", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                 hoverlabel=dict(bgcolor="white", font=dict(color="#111")))
GRID = "rgba(127,127,127,0.35)"  # readable on a light and on a dark page


def step_chart(traj: Trajectory) -> go.Figure:
    """Per step: tokens committed (bars), mean and least candidate confidence, the cutoff (lines)."""
    rows = step_summary(traj)
    steps = [r["step"] + 1 for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=steps, y=[r["committed"] for r in rows], name="tokens committed",
                         marker_color=palette.MUTED, yaxis="y2", opacity=0.5))
    fig.add_trace(go.Scatter(x=steps, y=[r["mean_conf"] for r in rows], name="mean candidate confidence",
                             mode="lines+markers", line=dict(color=palette.LINE)))
    fig.add_trace(go.Scatter(x=steps, y=[r["gate"] for r in rows], name="least sure candidate (the gate)",
                             mode="lines", line=dict(color=palette.GATE, dash="dash")))
    fig.add_trace(go.Scatter(x=steps, y=[r["cutoff"] for r in rows], name="cutoff (last committed)",
                             mode="lines", line=dict(color=palette.CUTOFF, dash="dot")))
    fig.update_layout(
        xaxis=dict(title="step", gridcolor=GRID),
        yaxis=dict(title="confidence", range=[0, 1.02], gridcolor=GRID),
        yaxis2=dict(title="tokens", overlaying="y", side="right", rangemode="tozero", showgrid=False),
        legend=dict(orientation="h", y=-0.25),
        margin=dict(l=10, r=10, t=10, b=10),
        height=320,
        **THEMELESS,
    )
    return fig
