"""HTML fragments for the app: the canvas at a step, "why this step", commit order, history.

Every piece of model or user text goes through `esc` before it meets HTML.
"""

from __future__ import annotations

import difflib
import html

from ..record.trajectory import Trajectory
from ..record.cells import FORCED, PROPOSED, cell_grid, commit_steps, position_history

MASK_GLYPH = "▒"


def esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _piece(traj: Trajectory, token: int) -> str:
    return esc(traj.piece(token)).replace("\n", "⏎<br>")


def _cividis(value: float) -> str:
    """A few stops of cividis (colour-blind safe), interpolated; value in [0, 1]."""
    stops = [(0.0, (0, 34, 78)), (0.25, (65, 77, 107)), (0.5, (124, 123, 120)), (0.75, (188, 175, 111)),
             (1.0, (254, 232, 56))]
    value = min(max(value, 0.0), 1.0)
    for (x0, c0), (x1, c1) in zip(stops, stops[1:]):
        if value <= x1:
            f = (value - x0) / (x1 - x0)
            return "#%02x%02x%02x" % tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))
    return "#fee838"


def _text_on(value: float) -> str:
    return "#000" if value > 0.55 else "#fff"


def canvas_html(traj: Trajectory, step: int, numbered: bool = False) -> str:
    """The answer canvas after `step` steps: committed tokens tinted by confidence, masks visible
    (`numbered` writes each mask's answer position under it, for the lesson)."""
    P = traj.prompt_len
    grid = cell_grid(traj, step) if step else []
    spans = []
    for i in range(traj.answer_len):
        cell = grid[-1][i] if grid else None
        glyph = f"{MASK_GLYPH}<sub>{i}</sub>" if numbered else MASK_GLYPH
        if cell is None or cell.state == "masked":
            spans.append(f'<span class="dd-tok dd-mask" title="position {P + i}: masked">{glyph}</span>')
        elif cell.state == PROPOSED:
            proposal = "" if numbered else f"; proposal {esc(traj.piece(cell.token))} ({cell.conf:.2f})"
            spans.append(f'<span class="dd-tok dd-mask" title="position {P + i}: masked{proposal}">{glyph}</span>')
        else:
            conf = cell.conf if cell.conf is not None else 1.0
            kind = "forced edit" if cell.state == FORCED else f"confidence {conf:.2f}"
            border = "outline:2px solid #d62728;" if cell.state == FORCED else ""
            now = " dd-now" if cell.state == "committed now" else ""
            spans.append(
                f'<span class="dd-tok{now}" style="background:{_cividis(conf)};color:{_text_on(conf)};{border}" '
                f'title="position {P + i}: {kind}">{_piece(traj, cell.token)}</span>'
            )
    total = len(traj.steps)
    return (f'<div class="dd-canvas" data-step="{step}"><div class="dd-caption">step {step} of {total}</div>'
            + "".join(spans) + "</div>")


def word_canvas_html(traj: Trajectory, step: int) -> str:
    """The word view of the canvas: whole words tinted by their least sure piece; partly
    committed words show their committed pieces and a mask glyph for the rest, dashed."""
    from ..record.words import PARTIAL, word_grid

    words, grid = word_grid(traj, step)
    P = traj.prompt_len
    cells = cell_grid(traj, step)[-1] if step else None
    spans = []
    for w, (a, b, text) in enumerate(words):
        cell = grid[-1][w] if grid else None
        pieces = " + ".join(esc(traj.piece(traj.final_ids[P + k])) for k in range(a, b))
        if cell is None or cell.state == "masked":
            spans.append(f'<span class="dd-tok dd-mask" title="pieces: {pieces}">{MASK_GLYPH * (b - a)}</span>')
            continue
        shown = "".join(
            _piece(traj, cells[k].token) if cells[k].state in ("committed", "committed now", FORCED)
            else MASK_GLYPH for k in range(a, b)
        )
        conf = cell.conf if cell.conf is not None else 1.0
        dashed = "border:1px dashed #e45756;" if cell.state == PARTIAL else ""
        spans.append(
            f'<span class="dd-tok" style="background:{_cividis(conf)};color:{_text_on(conf)};{dashed}" '
            f'title="{cell.state}: {cell.committed}/{cell.pieces} pieces ({pieces}); least sure piece '
            f'{conf:.2f}">{shown}</span>'
        )
    return (f'<div class="dd-canvas" data-step="{step}"><div class="dd-caption">word view · step {step} of '
            f"{len(traj.steps)} · dashed = partly committed</div>" + "".join(spans) + "</div>")


def why_html(traj: Trajectory, step: int) -> str:
    """Step `step` (1-based): candidates by confidence, the quota and cutoff, what was committed."""
    if not 1 <= step <= len(traj.steps):
        return '<div class="dd-why">Move the slider to a step to see why it committed what it did.</div>'
    record = traj.steps[step - 1]
    committed = set(record["committed"])
    ranked = sorted(record["candidates"], key=lambda c: (-c["conf"], c["pos"]))
    window = record["window"]
    head = (f'<div class="dd-why"><b>Step {step}</b> · block {record["block"] + 1} '
            f'(positions {window[0] - traj.prompt_len}–{window[1] - traj.prompt_len - 1}) · '
            f'{len(ranked)} masked candidates · quota {record["quota"]} '
            f'(schedule {record["scheduled"]}) · committed {len(committed)}</div>')
    rows = []
    for i, c in enumerate(ranked[:40]):
        mark = "✔ committed" if c["pos"] in committed else ""
        alts = ", ".join(f"{esc(traj.piece(t))} {p:.2f}" for t, p in c["top"][1:4])
        style = ' class="dd-cut"' if i == len(committed) - 1 else ""
        rows.append(f"<tr{style}><td>{i + 1}</td><td>{c['pos'] - traj.prompt_len}</td>"
                    f"<td>{esc(traj.piece(c['token']))}</td><td>{c['conf']:.3f}</td><td>{mark}</td><td>{alts}</td></tr>")
    more = f"<div>… and {len(ranked) - 40} more</div>" if len(ranked) > 40 else ""
    forced = ""
    if record["forced"]:
        forced = (f'<div class="dd-forced">Forced: a stop string was found, so {len(record["forced"])} positions were '
                  "overwritten with the end marker and padding (not a remasking decision).</div>")
    return (head + '<table class="dd-table"><tr><th>rank</th><th>pos</th><th>proposal</th><th>confidence</th>'
            "<th></th><th>next best</th></tr>" + "".join(rows) + "</table>" + more + forced)


def commit_order_html(traj: Trajectory) -> str:
    """The answer with each token tinted by the step that committed it: how left-to-right was it?"""
    order = commit_steps(traj)
    total = max(len(traj.steps) - 1, 1)
    P = traj.prompt_len
    spans = []
    for i, step in enumerate(order):
        token = traj.final_ids[P + i]
        if step is None:
            spans.append(f'<span class="dd-tok dd-mask" title="never committed">{MASK_GLYPH}</span>')
            continue
        v = step / total
        spans.append(f'<span class="dd-tok" style="background:{_cividis(v)};color:{_text_on(v)}" '
                     f'title="committed at step {step + 1}">{_piece(traj, token)}</span>')
    return ('<div class="dd-canvas"><div class="dd-caption">dark = committed early, light = committed late</div>'
            + "".join(spans) + "</div>")


def history_html(traj: Trajectory, answer_pos: int) -> str:
    """One position's proposal and confidence at every step until it was committed."""
    if not 0 <= answer_pos < traj.answer_len:
        return f"<div>Pick a position between 0 and {traj.answer_len - 1}.</div>"
    rows = position_history(traj, traj.prompt_len + answer_pos)
    if not rows:
        return f"<div>Position {answer_pos} was never a candidate.</div>"
    body = "".join(
        f"<tr><td>{r['step'] + 1}</td><td>{esc(traj.piece(r['token']))}</td>"
        f"<td>{'' if r['conf'] is None else format(r['conf'], '.3f')}</td>"
        f"<td>{'✔' if r['committed'] else ''}{' (forced)' if r.get('forced') else ''}</td></tr>"
        for r in rows
    )
    return (f'<table class="dd-table"><tr><th>step</th><th>proposal</th><th>confidence</th><th>committed</th></tr>'
            f"{body}</table>")


def context_bar_html(history_tokens: int, question_tokens: int, answer_tokens: int, window: int,
                     dropped_turns: int = 0) -> str:
    """How history, the new question and the answer share the model's window."""
    free = max(window - history_tokens - question_tokens - answer_tokens, 0)
    parts = [("history", history_tokens, "#7f7f7f"), ("question", question_tokens, "#00204d"),
             ("answer", answer_tokens, "#bcaf6f"), ("free", free, "#eeeeee")]
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


CSS = """
.dd-canvas{font-family:ui-monospace,Menlo,monospace;line-height:1.9;font-size:14px}
.dd-tok{display:inline-block;padding:1px 2px;margin:0 1px;border-radius:3px;white-space:pre-wrap}
.dd-mask{color:#999;background:#f2f2f2}
.dd-now{box-shadow:0 0 0 2px #e45756}
.dd-caption{font-size:12px;color:#666;margin-bottom:4px}
.dd-table{font-size:13px;border-collapse:collapse}
.dd-table td,.dd-table th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}
.dd-cut td{border-bottom:3px solid #e45756}
.dd-forced{color:#d62728;margin-top:6px}
.dd-bar{display:flex;height:14px;border:1px solid #ccc;border-radius:4px;overflow:hidden}
.dd-diff{background:#fde68a}
.dd-banner{padding:8px 12px;border-radius:6px;background:#fff4e5;border:1px solid #f0b46c}
"""
