"""HTML fragments for the app: the canvas at a step, "why this step", commit order, history.

Every piece of model or user text goes through `esc` before it meets HTML. What a step decided
(rank, score, rule) is read from the record, never re-derived.
"""

from __future__ import annotations

import difflib
import html

from ..record.cells import COMMITTED_NOW, DONE, FORCED, MASKED, PARTIAL, PROPOSED, cell_grid, commit_ranks, \
    commit_steps, position_history
from ..record.explain import rule_words
from ..record.trajectory import Trajectory
from ..record.words import word_grid
from . import palette

MASK_GLYPH = "▒"
WHY_ROWS = 40  # candidates listed in "why this step"; the rest are counted


def esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _piece(traj: Trajectory, token: int) -> str:
    return esc(traj.piece(token)).replace("\n", "⏎<br>")


def _tinted(conf: float, body: str, title: str, extra_class: str = "", extra_style: str = "") -> str:
    return (f'<span class="dd-tok{extra_class}" style="background:{palette.colour(conf)};'
            f'color:{palette.text_on(conf)};{extra_style}" title="{title}">{body}</span>')


def canvas_html(traj: Trajectory, step: int, numbered: bool = False, pickable: set[int] = frozenset()) -> str:
    """The answer canvas after `step` steps: committed tokens tinted by confidence, masks visible.
    For the lesson, `numbered` writes each mask's answer position under it and the masks in
    `pickable` become buttons (a click or Enter picks that position)."""
    P = traj.prompt_len
    grid = cell_grid(traj, step) if step else []
    spans = []
    for i in range(traj.answer_len):
        cell = grid[-1][i] if grid else None
        if cell is None or cell.state in (MASKED, PROPOSED):
            proposal = "" if numbered or cell is None or cell.state == MASKED else \
                f"; proposal {esc(traj.piece(cell.token))} ({cell.conf:.2f})"
            glyph = f"{MASK_GLYPH}<sub>{i}</sub>" if numbered else MASK_GLYPH
            if i in pickable:
                spans.append(f'<button type="button" class="dd-tok dd-mask dd-pick" data-pick="{i}" '
                             f'aria-label="guess answer position {i}">{glyph}</button>')
            else:
                spans.append(f'<span class="dd-tok dd-mask" title="position {P + i}: masked{proposal}">{glyph}</span>')
            continue
        conf = cell.conf if cell.conf is not None else 1.0
        kind = "forced edit" if cell.state == FORCED else f"confidence {conf:.2f}"
        spans.append(_tinted(conf, _piece(traj, cell.token), f"position {P + i}: {kind}",
                             " dd-now" if cell.state == COMMITTED_NOW else "",
                             f"outline:2px solid {palette.FORCED};" if cell.state == FORCED else ""))
    return (f'<div class="dd-canvas" data-step="{step}"><div class="dd-caption">step {step} of {len(traj.steps)}</div>'
            + "".join(spans) + "</div>")


def word_canvas_html(traj: Trajectory, step: int) -> str:
    """The word view of the canvas: whole words tinted by their least sure piece; partly
    committed words show their committed pieces and a mask glyph for the rest, dashed."""
    words, grid = word_grid(traj, step)
    P = traj.prompt_len
    cells = cell_grid(traj, step)[-1] if step else None
    spans = []
    for w, (a, b, _) in enumerate(words):
        cell = grid[-1][w] if grid else None
        pieces = " + ".join(esc(traj.piece(traj.final_ids[P + k])) for k in range(a, b))
        if cell is None or cell.state == MASKED:
            spans.append(f'<span class="dd-tok dd-mask" title="pieces: {pieces}">{MASK_GLYPH * (b - a)}</span>')
            continue
        shown = "".join(_piece(traj, cells[k].token) if cells[k].state in DONE else MASK_GLYPH for k in range(a, b))
        conf = cell.conf if cell.conf is not None else 1.0
        title = f"{cell.state.label}: {cell.committed}/{cell.pieces} pieces ({pieces}); least sure piece {conf:.2f}"
        spans.append(_tinted(conf, shown, title, "",
                             f"border:1px dashed {palette.NOW};" if cell.state == PARTIAL else ""))
    return (f'<div class="dd-canvas" data-step="{step}"><div class="dd-caption">word view · step {step} of '
            f"{len(traj.steps)} · dashed = partly committed</div>" + "".join(spans) + "</div>")


def why_html(traj: Trajectory, step: int) -> str:
    """Step `step` (1-based): the candidates in the strategy's recorded order, the rule in words,
    and a line under the last one committed."""
    if not 1 <= step <= len(traj.steps):
        return '<div class="dd-why">Move the slider to a step to see why it committed what it did.</div>'
    record = traj.steps[step - 1]
    P, window = traj.prompt_len, record.window
    committed = set(record.committed)
    ranked = record.ranked()
    last = max((c.rank for c in ranked if c.pos in committed), default=0)
    head = (f'<div class="dd-why"><b>Step {step}</b> · block {record.block + 1} '
            f'(positions {window[0] - P}–{window[1] - P - 1}) · {len(ranked)} masked candidates · '
            f'quota {record.quota} (schedule {record.scheduled}) · committed {len(committed)}'
            f'<div class="dd-rule">{esc(rule_words(record))}</div></div>')
    score_head, score = _score_column(record)
    rows = []
    for c in ranked[:WHY_ROWS]:
        mark = "✔ committed" if c.pos in committed else ""
        alts = ", ".join(f"{esc(traj.piece(t))} {p:.2f}" for t, p in c.top[1:4])
        style = ' class="dd-cut"' if c.rank == last else ""
        rows.append(f"<tr{style}><td>{c.rank}</td><td>{c.pos - P}</td><td>{esc(traj.piece(c.token))}</td>"
                    f"<td>{c.conf:.3f}</td>{score(c)}<td>{mark}</td><td>{alts}</td></tr>")
    more = f"<div>… and {len(ranked) - WHY_ROWS} more</div>" if len(ranked) > WHY_ROWS else ""
    forced = ""
    if record.forced:
        forced = (f'<div class="dd-forced">Forced: {len(record.forced)} positions were overwritten '
                  f'({esc(", ".join(sorted({e.kind for e in record.forced})))}): not a remasking decision.</div>')
    return (head + f'<div class="dd-scroll"><table class="dd-table"><tr><th>rank</th><th>pos</th><th>proposal</th>'
            f"<th>confidence</th>{score_head}<th></th><th>next best</th></tr>" + "".join(rows) + "</table></div>"
            + more + forced)


def _score_column(record):
    """The column that shows what the candidates were ranked by, when it is not the confidence."""
    rule = record.rule
    if rule.get("by") == "random draw":
        return "<th>random draw</th>", lambda c: f"<td>{'-' if c.score is None else format(c.score, '.3f')}</td>"
    if rule.get("kind") == "threshold":
        tau = rule["tau"]
        return f"<th>≥ τ ({tau:g})</th>", lambda c: f"<td>{'yes' if c.conf >= tau else 'no'}</td>"
    return "", lambda c: ""


def commit_order_html(traj: Trajectory) -> str:
    """The answer with each token tinted by the step that committed it: how left-to-right was it?"""
    order, ranks = commit_steps(traj), commit_ranks(traj)
    total = max(len(traj.steps) - 1, 1)
    P = traj.prompt_len
    spans = []
    for i, step in enumerate(order):
        if step is None:
            spans.append(f'<span class="dd-tok dd-mask" title="never committed">{MASK_GLYPH}</span>')
            continue
        rank = f", rank {ranks[i][0]} of {ranks[i][1]}" if ranks[i] else " (forced edit)"
        spans.append(_tinted(step / total, _piece(traj, traj.final_ids[P + i]), f"committed at step {step + 1}{rank}"))
    return ('<div class="dd-canvas"><div class="dd-caption">dark = committed early, light = committed late</div>'
            + "".join(spans) + "</div>")


def history_html(traj: Trajectory, answer_pos: int) -> str:
    """One position's proposal, confidence and rank at every step until it was committed."""
    if not 0 <= answer_pos < traj.answer_len:
        return f"<div>Pick a position between 0 and {traj.answer_len - 1}.</div>"
    rows = position_history(traj, traj.prompt_len + answer_pos)
    if not rows:
        return f"<div>Position {answer_pos} was never a candidate.</div>"
    body = "".join(
        f"<tr><td>{r['step'] + 1}</td><td>{esc(traj.piece(r['token']))}</td>"
        f"<td>{'' if r['conf'] is None else format(r['conf'], '.3f')}</td>"
        f"<td>{'' if r['rank'] is None else str(r['rank']) + ' of ' + str(r['of'])}</td>"
        f"<td>{'✔' if r['committed'] else ''}{' (forced)' if r.get('forced') else ''}</td></tr>"
        for r in rows
    )
    return ('<div class="dd-scroll"><table class="dd-table"><tr><th>step</th><th>proposal</th><th>confidence</th>'
            f"<th>rank</th><th>committed</th></tr>{body}</table></div>")


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
