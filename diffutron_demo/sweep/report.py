"""report.html: a standalone page (plotly.js inline, works offline) with the plots, the per-setting
table and the prompts whose answers differ most between settings. The table and answer fragments
serve the app's Sweep tab too. Every text from a file goes through `esc`. An infill prompt's answer
shows each blank's fill, marked against the blank's reference where the row has one."""

from __future__ import annotations

from ..record.trajectory import INFILL
from ..render.fragments import diff_html, esc
from .figures import fold

TABLE = (("runs", "runs", "{:.0f}"), ("too_long", "too long", "{:.0f}"), ("nfe", "NFE", "{:.1f}"),
         ("tokens_per_forward", "tokens / forward", "{:.2f}"), ("gen_tokens", "answer tokens", "{:.1f}"),
         ("model_ms", "model ms / run", "{:.0f}"), ("mean_conf", "mean conf", "{:.3f}"),
         ("closed", "closed", "{:.0%}"), ("repeated_3grams", "repeated 3-grams", "{:.2f}"),
         ("agreement", "agreement", "{:.3f}"), ("exact_match", "exact match", "{:.0%}"), ("chrf", "chrF", "{:.1f}"),
         ("blank_exact", "blanks exact", "{:.0%}"), ("tokens_per_s", "tokens / s", "{:.2f}"))
SCROLL = '<div style="overflow-x:auto">'  # inline: the app's page doesn't have the report's style sheet
PLAIN = {"runs", "too_long", "tokens_per_s"}  # one number per setting, no interval
STYLE = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:12px 0;font-size:14px}td,th{border:1px solid #ddd;padding:4px 8px;
vertical-align:top;text-align:left}th{background:#f4f4f4}.ci{color:#777;font-size:12px}
.dd-sweep-answers td{max-width:360px;white-space:pre-wrap}.dd-blank-fills{margin:4px 0;padding-left:22px}mark.dd-diff{background:#fde68a}.ref{font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:8px}
"""


def cell(row: dict, fig: str, fmt: str) -> str:
    """A table cell: the mean with its interval, or a plain number."""
    if fig in PLAIN:
        return "–" if row.get(fig) is None else fmt.format(row[fig])
    mean, low, high = (row.get(f"{fig}_{p}") for p in ("mean", "low", "high"))
    if mean is None:
        return "–"
    ci = f' <span class="ci">[{fmt.format(low)}, {fmt.format(high)}]</span>' if low is not None else ""
    return fmt.format(mean) + ci


def summary_table_html(summary: list[dict], reference: str | None = None) -> str:
    head = "".join(f"<th>{esc(title)}</th>" for _, title, _ in TABLE)
    body = ""
    for row in summary:
        mark = ' class="ref"' if row["setting"] == reference else ""
        body += f"<tr><td{mark}>{esc(row['setting'])}</td>" + "".join(f"<td>{cell(row, f, fmt)}</td>"
                                                                      for f, _, fmt in TABLE) + "</tr>"
    return (f'{SCROLL}<table class="dd-sweep-table"><tr><th>setting</th>{head}</tr>{body}</table></div>'
            '<p class="ci">Means with 95% t-intervals over runs; agreement and exact match against the '
            f"reference setting{' (' + esc(reference) + ')' if reference else ''} on the same prompt and seed; "
            "blanks exact: the share of an infill prompt's blanks filled with their reference (case and "
            "surrounding spaces aside).</p>")


def most_different(rows: list[dict], reference: str, count: int = 5) -> list[tuple[str, int, float]]:
    """(prompt id, seed, 1 - mean agreement of the other settings) for the prompts that differ most."""
    spread: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        if r["setting"] != reference and r.get("agreement") is not None:
            spread.setdefault((r["prompt_id"], r["seed"]), []).append(r["agreement"])
    scored = [(pid, seed, 1 - sum(v) / len(v)) for (pid, seed), v in spread.items()]
    return sorted(scored, key=lambda t: (-t[2], t[0], t[1]))[:count]


def answers_html(rows: list[dict], prompt_id: str, settings: list[str], reference: str | None,
                 seed: int | None = None) -> str:
    """One prompt's answers under every setting side by side (words differing from the reference marked)."""
    mine = [r for r in rows if r["prompt_id"] == prompt_id and (seed is None or r["seed"] == seed)]
    if not mine:
        return "<p>No runs for this prompt.</p>"
    out = f'<p><b>Prompt {esc(prompt_id)}</b>: {esc(mine[0].get("prompt") or "")}</p>'
    if mine[0].get("mode") == INFILL:
        question = mine[0].get("question")
        out += (f'<p class="ci">Fill in the blanks, {"the answer to: " + esc(question) if question else "raw text"}'
                "</p>")
    for s in sorted({r["seed"] for r in mine}):
        by = {r["setting"]: r for r in mine if r["seed"] == s}
        base = (by.get(reference) or {}).get("reply") or ""
        head = body = ""
        for name in [n for n in settings if n in by]:
            r = by[name]
            head += f"<th>{esc(name)}{' (reference)' if name == reference else ''}</th>"
            body += f"<td>{_answer(r, base, name == reference)}</td>"
        out += f'<p>seed {s}</p>{SCROLL}<table class="dd-sweep-answers"><tr>{head}</tr><tr>{body}</tr></table></div>'
    return out


def _answer(r: dict, base: str, is_reference: bool) -> str:
    if r["status"] != "ok":
        return f"<i>no answer: {esc(r.get('reason') or r['status'])}</i>"
    text = f'<div class="dd-answer">{esc(r["reply"])}</div>' if is_reference else diff_html(base, r["reply"])
    facts = [f"NFE {r['nfe']}"]
    if r.get("agreement") is not None:
        facts.append(f"agreement {r['agreement']:.3f}")
    if r.get("chrf") is not None:
        facts.append(f"chrF {r['chrf']:.1f}")
    if r.get("blank_exact") is not None:
        facts.append(f"blanks exact {r['blank_exact']:.0%}")
    return text + blank_fills_html(r) + f'<div class="ci">{esc(" · ".join(facts))}</div>'


def blank_fills_html(r: dict) -> str:
    """An infill row's fills, one per blank in order, each marked against its reference (if any)."""
    fills = r.get("blank_fills")
    if r.get("mode") != INFILL or not isinstance(fills, list):
        return ""
    refs = r.get("blank_references")
    refs = refs if isinstance(refs, list) and len(refs) == len(fills) else None
    items = ""
    for i, fill in enumerate(fills):
        shown = esc(fill) if fill else "<i>(empty)</i>"
        mark = ""
        if refs is not None:
            same = fold(fill) == fold(refs[i])
            mark = f' <span class="ci" style="color:#777">({"✓ reference" if same else "reference: " + esc(refs[i])})</span>'
        items += f'<li><span class="dd-fill">{shown}</span>{mark}</li>'
    return f'<div class="ci">blanks:</div><ol class="dd-blank-fills">{items}</ol>'


def report_html(rows: list[dict], summary: list[dict], manifest: dict) -> str:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    from .plots import sweep_figures

    reference, settings = manifest.get("reference"), [s["setting"] for s in summary]
    # A fixed width: plotly sizes a plot once, when its script runs, before the page's layout settles.
    plots = "".join("<div>" + pio.to_html(f, full_html=False, include_plotlyjs=False, default_width="580px") + "</div>"
                    for f in sweep_figures(summary, reference))
    differ = most_different(rows, reference)
    answers = "".join(answers_html(rows, pid, settings, reference, seed) for pid, seed, _ in differ) \
        or "<p>No other setting to compare with the reference.</p>"
    prompts = len({r["prompt_id"] for r in rows})
    title = f"Sweep of {esc(manifest.get('model_name') or manifest.get('model', ''))}"
    facts = (f"{len(settings)} settings × {prompts} prompts × {len(manifest.get('seeds', []))} seeds; reference: "
             f"{esc(reference)}; {len(rows)} runs.")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body><h1>{title}</h1><p>{facts}</p>"
            f'<div class="plots">{plots}</div><h2>Per setting</h2>{summary_table_html(summary, reference)}'
            f"<h2>Prompts whose answers differ most between settings</h2>{answers}</body></html>")
