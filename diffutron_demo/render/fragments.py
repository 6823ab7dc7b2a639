"""HTML fragments for the app: the commit order, the context bar, answer differences.

(What a step shows, canvas, why and history, is the player's: render/player.js.) Every piece of
model or user text goes through `esc` before it meets HTML.
"""

from __future__ import annotations

import difflib
import html

from ..record.cells import cell_grid, commit_ranks, commit_steps
from ..record.trajectory import Trajectory
from . import palette

MASK_GLYPH = "▒"


def esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _piece(traj: Trajectory, token: int) -> str:
    return esc(traj.piece(token)).replace("\n", "⏎<br>")


def _tinted(conf: float, body: str, title: str, extra_class: str = "", extra_style: str = "") -> str:
    return (f'<span class="dd-tok{extra_class}" style="background:{palette.colour(conf)};'
            f'color:{palette.text_on(conf)};{extra_style}" title="{title}">{body}</span>')


def commit_order_html(traj: Trajectory) -> str:
    """The answer with each token tinted by the step that committed it: how left-to-right was it?
    Each token also says it in words (its title and the screen reader's label)."""
    grid = cell_grid(traj)  # read once for both
    order, ranks = commit_steps(traj, grid), commit_ranks(traj, grid)
    total = max(len(traj.steps) - 1, 1)
    spans = []
    for i, step in enumerate(order):
        if step is None:
            spans.append(f'<span class="dd-tok dd-mask" title="answer position {i}: never committed">{MASK_GLYPH}</span>')
            continue
        rank = f", rank {ranks[i][0]} of {ranks[i][1]}" if ranks[i] else " (not by rank: a pin or the stop check)"
        spans.append(_tinted(step / total, _piece(traj, traj.final_ids[traj.slots[i]]),
                             f"answer position {i}: committed at step {step + 1}{rank}"))
    return ('<div class="dd-canvas"><div class="dd-caption">dark = committed early, light = committed late '
            '(hover or focus a token for its step)</div>' + "".join(spans) + "</div>")


def infill_preview_html(blanks: list[tuple[int, int]], canvas_tokens: int, window: int) -> str:
    """Before a fill runs: how many tokens each blank is and how much of the window the canvas takes."""
    sizes = ", ".join(f"blank {k + 1}: {b - a} token{'s' if b - a != 1 else ''}" for k, (a, b) in enumerate(blanks))
    share = 100 * canvas_tokens / window
    return (f'<div class="dd-context"><div class="dd-bar"><div style="width:{share:.2f}%;background:{palette.ANSWER}">'
            f'</div></div><div class="dd-caption">{len(blanks)} blank{"s" if len(blanks) != 1 else ""} ({esc(sizes)}) · '
            f"canvas {canvas_tokens} of the model's {window}-token window</div></div>")


def context_bar_html(history_tokens: int, question_tokens: int, answer_tokens: int, window: int,
                     dropped_turns: int = 0) -> str:
    """How history, the new question and the answer share the model's window."""
    free = max(window - history_tokens - question_tokens - answer_tokens, 0)
    parts = [("history", history_tokens, palette.MUTED), ("question", question_tokens, palette.QUESTION),
             ("answer", answer_tokens, palette.ANSWER), ("free", free, palette.FREE)]
    bar = "".join(
        f'<div title="{name}: {n} tokens" style="width:{100 * n / window:.2f}%;background:{color}"></div>'
        for name, n, color in parts if n
    )
    legend = " · ".join(f"{name} {n}" for name, n, _ in parts)
    dropped = (f' · <b>{dropped_turns} oldest turn{"s" if dropped_turns != 1 else ""} dropped to fit</b>'
               if dropped_turns else "")
    return (f'<div class="dd-context"><div class="dd-bar">{bar}</div>'
            f'<div class="dd-caption">{legend} of {window} tokens{dropped}</div></div>')


def diff_html(base: str, other: str) -> str:
    """`other` with the words that differ from `base` highlighted."""
    a, b = base.split(), other.split()
    out = []
    for op, _, _, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        words = esc(" ".join(b[j1:j2]))
        if not words:
            continue
        out.append(words if op == "equal" else f'<mark class="dd-diff">{words}</mark>')
    return '<div class="dd-answer">' + (" ".join(out) or "<i>(empty)</i>") + "</div>"
