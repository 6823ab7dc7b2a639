"""Exports that play a run with no server: a standalone HTML player and an animated GIF."""

from __future__ import annotations

import io

from ..record.cells import FORCED, MASKED, PINNED, PROPOSED, cell_grid
from ..record.trajectory import Trajectory
from ..template import last_question
from . import palette
from .player import standalone_page
from .runview import run_value


def standalone_html(traj: Trajectory, label: str | None = None) -> str:
    """A single HTML file (no network, no server) that plays the run with the app's own player,
    opening where the app shows it: at the last step."""
    question = last_question(traj.prompt.get("text", "")) if traj.mode == "generate" else \
        traj.prompt.get("input", traj.prompt.get("text", ""))
    name = label or f"{traj.model.get('name', '')} · {len(traj.steps)} steps"
    value = run_value(traj, label=name, extra={"prompt": question})
    return standalone_page(value, f"diffutron-demo: {question[:60]}")


def gif_bytes(traj: Trajectory, cell: int = 8, max_frames: int = 80, frame_ms: int = 90) -> bytes:
    """An animated GIF of the heatmap filling in (Pillow, which Gradio already depends on)."""
    from PIL import Image, ImageDraw

    grid = cell_grid(traj)
    n, L = len(grid), traj.answer_len
    width, height = max(n, 1) * cell + 2, max(L, 1) * cell + 18
    every = max(1, -(-n // max_frames))
    shown = list(range(every, n + 1, every))
    if not shown or shown[-1] != n:
        shown.append(n)
    # Columns never change once drawn: paint each step once on a base image, snapshot per frame.
    base = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(base)
    images, painted = [], 0
    for upto in shown:
        for s in range(painted, upto):
            for i, c in enumerate(grid[s]):
                if c.state == MASKED:
                    continue
                x, y = 1 + s * cell, 16 + i * cell
                color = palette.FORCED if c.state == FORCED else palette.PIN if c.state == PINNED else \
                    palette.colour(1.0 if c.conf is None else c.conf)
                if c.state == PROPOSED:  # faint: blend with white
                    rgb = tuple(int(color[k : k + 2], 16) for k in (1, 3, 5))
                    color = tuple(int(255 - (255 - v) * 0.35) for v in rgb)
                draw.rectangle([x, y, x + cell - 2, y + cell - 2], fill=color)
        painted = upto
        frame = base.copy()
        ImageDraw.Draw(frame).text((2, 2), f"step {upto}/{n}", fill="black")
        images.append(frame)
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()
