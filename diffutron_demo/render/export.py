"""Exports that play a run with no server: a standalone HTML player and an animated GIF."""

from __future__ import annotations

from ..record.trajectory import Trajectory
from ..template import last_question
from .gif import encode_gif, gif_frames
from .player import standalone_page
from .runview import run_value


def standalone_html(traj: Trajectory, label: str | None = None) -> str:
    """A single HTML file (no network, no server) that plays the run with the app's own player,
    opening where the app shows it: at the last step."""
    question = traj.prompt.get("input", traj.prompt.get("text", "")) if traj.is_infill else \
        last_question(traj.prompt.get("text", ""))
    name = label or f"{traj.model.get('name', '')} · {len(traj.steps)} steps"
    value = run_value(traj, label=name, extra={"prompt": question})
    return standalone_page(value, f"diffutron-demo: {question[:60]}")


def gif_bytes(traj: Trajectory, cell: int = 8, max_frames: int = 80, frame_ms: int = 90) -> bytes:
    """An animated GIF of the run (Pillow, which Gradio already depends on) that explains itself: the
    question, the model and "step n of N"; the canvas text at each frame's step; the heatmap filling
    in with its axes and row labels; a legend (render/gif.py). At most `max_frames` frames (the first
    shows the start); cells shrink and labels thin out for long runs, so the picture stays bounded.
    The last frame holds for two seconds."""
    frames, _ = gif_frames(traj, cell=cell, max_frames=max_frames)
    return encode_gif(frames, [frame_ms] * (len(frames) - 1) + [max(frame_ms, 2000)])
