"""The sweep's plotly figures, from summary rows only (so summary.csv alone can draw them): cost
(NFE or model time) against agreement with the reference, and against chrF where references exist.
One point per setting with its 95% interval on both axes. Every label is escaped: plotly renders a
subset of HTML in text."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from ..render import palette

# (x figure, x axis, y figure, y axis, title)
PAIRS = (("nfe", "forward passes per run (NFE)", "agreement", "token agreement with the reference",
          "agreement against NFE"),
         ("model_ms", "model time per run (ms)", "agreement", "token agreement with the reference",
          "agreement against model time"),
         ("nfe", "forward passes per run (NFE)", "chrf", "chrF against the reference answers", "chrF against NFE"))


def sweep_figures(summary: list[dict], reference: str | None = None) -> list[go.Figure]:
    """The report's plots; the chrF one only where some run has a reference answer."""
    figs = []
    for x, x_title, y, y_title, title in PAIRS:
        points = [r for r in summary if r.get(f"{x}_mean") is not None and r.get(f"{y}_mean") is not None]
        if points:
            figs.append(_figure(points, (x, x_title), (y, y_title), title, reference))
    return figs


def _figure(rows: list[dict], x_axis: tuple, y_axis: tuple, title: str, reference: str | None) -> go.Figure:
    (x, x_title), (y, y_title) = x_axis, y_axis
    def errors(fig_name):
        mean = [r[f"{fig_name}_mean"] for r in rows]
        high = [(r[f"{fig_name}_high"] - m) if r.get(f"{fig_name}_high") is not None else 0 for r, m in zip(rows, mean)]
        low = [(m - r[f"{fig_name}_low"]) if r.get(f"{fig_name}_low") is not None else 0 for r, m in zip(rows, mean)]
        return mean, dict(type="data", symmetric=False, array=high, arrayminus=low, thickness=1.2)

    xs, x_err = errors(x)
    ys, y_err = errors(y)
    names = [html.escape(str(r["setting"]), quote=False) for r in rows]
    colours = [palette.NOW if r["setting"] == reference else palette.LINE for r in rows]
    hover = [f"<b>{n}</b><br>{x_title}: {a:.4g}<br>{y_title}: {b:.4g}<br>runs: {int(r['runs'])}"
             for n, a, b, r in zip(names, xs, ys, rows)]
    x_range = _padded(xs, x_err, 0.15)
    middle = sum(x_range) / 2
    sides = ["top right" if v < middle else "top left" for v in xs]  # labels run toward the middle, never off
    fig = go.Figure(go.Scatter(x=xs, y=ys, error_x=x_err, error_y=y_err, mode="markers+text", text=names,
                               textposition=sides, hovertext=hover, hoverinfo="text",
                               marker=dict(size=11, color=colours, line=dict(width=1, color="#222"))))
    fig.update_layout(title=title, xaxis_title=x_title,
                      yaxis_title=y_title, height=420, margin=dict(l=60, r=20, t=50, b=50),
                      plot_bgcolor="white", showlegend=False)
    fig.update_xaxes(showgrid=True, gridcolor="#e5e5e5", zeroline=False, range=x_range)
    fig.update_yaxes(showgrid=True, gridcolor="#e5e5e5", zeroline=False, range=_padded(ys, y_err, 0.12))
    return fig


def _padded(values: list[float], err: dict, share: float) -> list[float]:
    """The axis range around the points and their intervals, with room for the labels."""
    low = min(v - e for v, e in zip(values, err["arrayminus"]))
    high = max(v + e for v, e in zip(values, err["array"]))
    pad = (high - low) * share or max(abs(high) * 0.1, 0.5)
    return [low - pad, high + pad]
