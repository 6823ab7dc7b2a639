"""Plotly figures drawn from a trajectory: the token-by-step heatmap and the per-step chart.

Colour: the palette's cividis, which stays readable with red-green colour blindness and in
grayscale. State is carried by opacity and marker shape, not by hue alone. Hover text says what
the record says (rank, rule); nothing is re-ranked. All token text is escaped: plotly renders a
subset of HTML in labels and hover text.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from ..record.cells import COMMITTED, COMMITTED_NOW, FORCED, MASKED, PARTIAL, PROPOSED, cell_grid, step_summary
from ..record.step import Step
from ..record.trajectory import Trajectory
from ..record.words import word_grid
from . import palette

MAX_ROWS_WITH_TEXT = 96
# The paper is transparent, so the page's light or dark theme shows through (the app's CSS lightens
# the text in the dark theme); the plot area stays light in both, where cividis's dark end shows.
THEMELESS = dict(template="plotly_white", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor=palette.PLOT_BG,
                 hoverlabel=dict(bgcolor="white", font=dict(color="#111")))


def show_piece(text: str) -> str:
    """A token's text made visible and safe: whitespace shown, HTML escaped."""
    text = text.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·") or "∅"
    return html.escape(text, quote=False)


def _decision(cell, record: Step) -> str:
    """Why the cell was (not) committed at this step, from the record's rank and rule."""
    rule, n = record.rule, len(record.candidates)
    took = rule.get("committed", 0)
    if rule.get("kind") == "threshold":
        why = f"τ = {rule['tau']:g}: {'at or above' if cell.conf >= rule['tau'] else 'below'} it"
    elif rule.get("by") == "random draw":
        why = f"random draw, rank {cell.rank} of {n}; the schedule took {took}"
    else:
        why = f"rank {cell.rank} of {n} by confidence; the {rule.get('kind')} rule took {took}"
    return why


def _hover(traj: Trajectory, cell, step: int, record: Step) -> str:
    if cell.token is None:
        return f"step {step + 1}<br>still masked, no proposal yet (outside the window)"
    piece = show_piece(traj.piece(cell.token))
    lines = [f"step {step + 1} · <b>{piece}</b>"]
    if cell.conf is not None:
        lines.append(f"confidence {cell.conf:.3f}")
    if cell.state == COMMITTED_NOW:
        lines.append("committed now: " + (_decision(cell, record) if cell.rank else "quota reached past the window"))
    elif cell.state == PROPOSED:
        lines.append("still masked: " + _decision(cell, record))
    elif cell.state == FORCED:
        lines.append("forced edit (stop string or pin): not a remasking decision")
    else:
        lines.append("committed earlier")
    for token, prob in (cell.top or [])[:5]:
        lines.append(f"&nbsp;&nbsp;{show_piece(traj.piece(token))} {prob:.3f}")
    return "<br>".join(lines)


def heatmap_figure(traj: Trajectory, upto: int | None = None, *, total_steps: int | None = None,
                   marker_step: int | None = None, title: str | None = None, split_step: int | None = None) -> go.Figure:
    """Rows = answer positions, columns = steps; `upto` draws a run in progress."""
    grid = cell_grid(traj, upto)
    n_steps, n_pos = len(grid), traj.answer_len
    P = traj.prompt_len
    final = traj.canvas_at(n_steps) if n_steps else traj.final_ids
    labels = [f"{i}: {show_piece(traj.piece(final[P + i]))}" for i in range(n_pos)]
    faint = [[None] * n_steps for _ in range(n_pos)]
    solid = [[None] * n_steps for _ in range(n_pos)]
    hover = [[""] * n_steps for _ in range(n_pos)]
    now, forced = [], []
    for s, row in enumerate(grid):
        record = traj.steps[s]
        for i, cell in enumerate(row):
            hover[i][s] = _hover(traj, cell, s, record)
            if cell.state == PROPOSED:
                faint[i][s] = cell.conf
            elif cell.state in (COMMITTED, COMMITTED_NOW):
                solid[i][s] = cell.conf if cell.conf is not None else 1.0
                if cell.state == COMMITTED_NOW:
                    now.append((s + 1, i))
            elif cell.state == FORCED:
                forced.append((s + 1, i))
    block = traj.settings.get("block_length") or n_pos
    edges = list(range(block, n_pos, block))
    return _grid_figure(labels, faint, solid, hover, now, forced, edges, y_title="answer position",
                        expected=max(total_steps or n_steps, 1), marker_step=marker_step, title=title,
                        split_step=split_step)


def word_heatmap_figure(traj: Trajectory, *, marker_step: int | None = None, title: str | None = None,
                        split_step: int | None = None) -> go.Figure:
    """The word view: rows = words (pieces merged), value = the least confident piece."""
    words, grid = word_grid(traj)
    n_steps = len(grid)
    labels = [f"{i}: {show_piece(text.strip() or text)}" for i, (_, _, text) in enumerate(words)]
    faint = [[None] * n_steps for _ in words]
    solid = [[None] * n_steps for _ in words]
    hover = [[""] * n_steps for _ in words]
    done, forced = [], []
    P = traj.prompt_len
    for s, row in enumerate(grid):
        for w, cell in enumerate(row):
            a, b, text = words[w]
            pieces = " + ".join(show_piece(traj.piece(traj.final_ids[P + k])) for k in range(a, b))
            conf = "" if cell.conf is None else f"<br>min piece confidence {cell.conf:.3f}"
            hover[w][s] = (f"step {s + 1} · <b>{show_piece(text)}</b><br>pieces: {pieces}<br>"
                           f"{cell.state}: {cell.committed} of {cell.pieces} pieces committed{conf}")
            if cell.state in (MASKED, PARTIAL):
                faint[w][s] = cell.conf
            elif cell.state == COMMITTED:
                solid[w][s] = cell.conf if cell.conf is not None else 1.0
                if s == 0 or grid[s - 1][w].state != COMMITTED:
                    done.append((s + 1, w))
            else:
                forced.append((s + 1, w))
    return _grid_figure(labels, faint, solid, hover, done, forced, [], y_title="answer word",
                        expected=max(n_steps, 1), marker_step=marker_step, title=title, split_step=split_step,
                        names=("not all pieces committed (least sure piece)", "word complete",
                               "word completed at this step"))


def _grid_figure(labels, faint, solid, hover, now, forced, edges, *, y_title, expected, marker_step, title,
                 split_step=None, names=("still masked (proposal)", "committed", "committed at this step")):
    n_rows = len(labels)
    columns = list(range(1, (len(faint[0]) if faint else 0) + 1))
    fig = go.Figure()
    common = dict(x=columns, y=list(range(n_rows)), coloraxis="coloraxis", hoverinfo="text", xgap=1, ygap=1)
    fig.add_trace(go.Heatmap(z=faint, text=hover, name=names[0], opacity=0.35, **common))
    fig.add_trace(go.Heatmap(z=solid, text=hover, name=names[1], **common))
    fig.add_trace(go.Scatter(x=[x for x, _ in now], y=[y for _, y in now], mode="markers", name=names[2],
                             marker=dict(symbol="square-open", size=9, color="white", line=dict(width=2)),
                             hoverinfo="skip"))
    if forced:
        fig.add_trace(go.Scatter(x=[x for x, _ in forced], y=[y for _, y in forced], mode="markers",
                                 name="forced edit (stop string)", marker=dict(symbol="x", size=8, color=palette.FORCED),
                                 hoverinfo="skip"))
    for edge in edges:
        fig.add_hline(y=edge - 0.5, line=dict(color=palette.BLOCK_EDGE, width=1.5, dash="dash"))
    if marker_step:
        fig.add_vline(x=marker_step, line=dict(color=palette.NOW, width=2))
    if split_step is not None:
        fig.add_vline(x=split_step + 0.5, line=dict(color=palette.SPLIT, width=2, dash="dot"),
                      annotation_text=f"branch from step {split_step}", annotation_position="top")
    show_text = n_rows <= MAX_ROWS_WITH_TEXT
    fig.update_layout(
        title=title,
        # A thin bar above the plot, not beside it: on a phone the cells keep the width.
        coloraxis=dict(colorscale=palette.PLOTLY_SCALE, cmin=0, cmax=1,
                       colorbar=dict(title=dict(text="confidence", side="top"), orientation="h", thickness=10,
                                     len=0.5, x=1, xanchor="right", y=1.0, yanchor="bottom")),
        xaxis=dict(title="step", range=[0.5, expected + 0.5]),
        yaxis=dict(title=y_title, autorange="reversed",
                   tickmode="array" if show_text else "auto",
                   tickvals=list(range(n_rows)) if show_text else None,
                   ticktext=labels if show_text else None, tickfont=dict(size=9)),
        legend=dict(orientation="h", y=-0.12),
        margin=dict(l=10, r=10, t=70 if title else 40, b=10),
        height=max(320, min(1400, 14 * n_rows + 170)),
        uirevision="heatmap",
        **THEMELESS,
    )
    return fig


def step_chart(traj: Trajectory) -> go.Figure:
    """Per step: tokens committed (bars) and mean candidate confidence (line)."""
    rows = step_summary(traj)
    steps = [r["step"] + 1 for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=steps, y=[r["committed"] for r in rows], name="tokens committed",
                         marker_color=palette.MUTED, yaxis="y2", opacity=0.5))
    fig.add_trace(go.Scatter(x=steps, y=[r["mean_conf"] for r in rows], name="mean candidate confidence",
                             mode="lines+markers", line=dict(color=palette.LINE)))
    fig.add_trace(go.Scatter(x=steps, y=[r["cutoff"] for r in rows], name="cutoff (last committed)",
                             mode="lines", line=dict(color=palette.CUTOFF, dash="dot")))
    fig.update_layout(
        xaxis=dict(title="step"),
        yaxis=dict(title="confidence", range=[0, 1.02]),
        yaxis2=dict(title="tokens", overlaying="y", side="right", rangemode="tozero"),
        legend=dict(orientation="h", y=-0.25),
        margin=dict(l=10, r=10, t=10, b=10),
        height=300,
        **THEMELESS,
    )
    return fig
