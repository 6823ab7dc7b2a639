"""The run player's page parts: its HTML skeleton, its CSS and its script (player.js), for the app's
viewer (a Gradio HTML component) and for the exported standalone page, which run the same code.

The skeleton holds no run data: the script fills it from the run's value (render/runview.py) with
textContent only, so model and user text never meets HTML as markup.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path

from . import palette

HERE = Path(__file__).parent

# No ${ }, {{ }} or backticks: Gradio evaluates the template as a JS template and Handlebars.
SKELETON = """<div class="ddp" data-ddp data-state="empty" data-step="0">
<div class="ddp-head"><span class="ddp-label"></span> <span class="ddp-live"></span></div>
<div class="ddp-controls" role="group">
<button type="button" class="ddp-first">|&lt;</button><button type="button" class="ddp-prev">&lt;</button>
<button type="button" class="ddp-play" aria-pressed="false">&#9654;</button>
<button type="button" class="ddp-next">&gt;</button><button type="button" class="ddp-last">&gt;|</button>
<input type="range" class="ddp-slider" min="0" max="0" value="0" step="1">
<input type="number" class="ddp-num" min="0" max="0" value="0" step="1"><span class="ddp-total"></span>
<label><span data-t="speed"></span> <select class="ddp-speed"><option value="0">2/s</option>
<option value="1" selected>5/s</option><option value="2">10/s</option><option value="3">20/s</option></select></label>
<label><span data-t="colour"></span> <select class="ddp-metric"><option value="confidence">confidence</option>
<option value="entropy">entropy</option><option value="margin">margin</option></select></label>
<label><span data-t="view"></span> <select class="ddp-view"><option value="tokens">tokens</option>
<option value="words">words</option></select></label>
<label><input type="checkbox" class="ddp-drafts" checked> <span data-t="drafts"></span></label>
<label><input type="checkbox" class="ddp-pads"> <span data-t="pads"></span></label>
</div>
<div class="ddp-say ddp-sr" aria-live="polite" aria-atomic="true"></div>
<div class="ddp-canvas"></div>
<div class="ddp-quiz"></div>
<div class="ddp-redo"></div>
<div class="ddp-heat-wrap" role="group"><canvas class="ddp-heat" tabindex="0"></canvas>
<canvas class="ddp-over" aria-hidden="true"></canvas><div class="ddp-tip" role="tooltip" hidden></div></div>
<div class="ddp-legend"></div>
<details class="ddp-why-box" open><summary data-t="why"></summary><div class="ddp-why"></div></details>
<details class="ddp-hist-box"><summary data-t="history"></summary><div class="ddp-hist"></div></details>
<details class="ddp-table-box"><summary data-t="table"></summary><div class="ddp-table-alt"></div></details>
<details class="ddp-keys"><summary data-t="keys"></summary><p class="ddp-keys-help"></p></details>
</div>"""

CSS = f"""
.ddp{{position:relative;font-size:14px;max-width:100%;min-width:0}}
.ddp-head{{font-weight:600;margin-bottom:4px}} .ddp-live{{font-weight:400;opacity:.8}}
.ddp-controls{{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:4px 0}}
.ddp-controls button{{min-width:34px;min-height:32px;border:1px solid {palette.MUTED};border-radius:6px;background:transparent;
  color:inherit;font:inherit;cursor:pointer}}
.ddp-controls button:focus-visible,.ddp-heat:focus-visible,.ddp-tok:focus-visible,.ddp-quiz button:focus-visible,
.ddp-redo button:focus-visible{{outline:3px solid {palette.NOW};outline-offset:2px}}
.ddp-slider{{flex:1 1 160px;min-width:120px}}
.ddp .ddp-controls select,.ddp .ddp-num{{color:inherit;background:transparent;border:1px solid {palette.MUTED};
  border-radius:4px;height:auto;width:auto;padding:2px 6px;font:inherit;font-size:13px;line-height:1.4;appearance:auto;
  box-shadow:none}}
.ddp .ddp-num{{width:4.5em}}
.ddp .ddp-controls input[type=checkbox]{{appearance:auto;width:auto;height:auto;margin:0 2px;background:none;box-shadow:none}}
.ddp-controls label{{display:inline-flex;align-items:center;gap:4px;font-size:13px}}
.ddp-controls select option{{color:#000}}
.ddp-sr{{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}}
.ddp-canvas{{font-family:ui-monospace,Menlo,monospace;line-height:1.9;overflow-wrap:anywhere;margin:4px 0}}
.ddp-caption{{font-size:13px;margin-bottom:4px}}
.ddp-tok{{display:inline-block;padding:0 2px;margin:0 1px;border-radius:3px;white-space:pre-wrap;font:inherit;
  border:1px solid transparent}}
.ddp-given{{margin:0;padding:0;border-radius:0;border-bottom:1px dotted {palette.MUTED}}}
.ddp[data-state=empty]>*{{display:none}}
.ddp-mask{{color:{palette.MASK_FG};background:{palette.MASK_BG}}}
.ddp-draft{{font-style:italic;border:1px dashed {palette.MASK_FG};color:#3f3f46}}
.ddp-changed::after{{content:"•";color:{palette.NOW};font-style:normal;margin-left:1px}}
.ddp-now{{box-shadow:0 0 0 2px {palette.NOW}}}
.ddp-pinned{{outline:2px solid #000}} .ddp-pinned::before{{content:"◆";font-size:10px;margin-right:1px}}
.ddp-stopped::before{{content:"✕";font-size:10px;margin-right:1px}}
.ddp-sel{{outline:3px solid {palette.REDO};outline-offset:1px}}
.ddp-pick{{cursor:pointer;border:1px solid {palette.MASK_FG}}} .ddp-pick sub{{font-style:normal}}
.ddp-empty,.ddp-feedback{{margin:6px 0;font-weight:600}}
.ddp-redo{{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:4px 0}}
.ddp-redo button,.ddp-quiz button{{padding:4px 10px;border-radius:6px;border:1px solid {palette.MUTED};
  background:transparent;color:inherit;font:inherit;cursor:pointer}}
.ddp-redo button:disabled{{opacity:.5;cursor:default}} .ddp-hint{{font-size:12px;opacity:.8}}
.ddp-heat-wrap{{position:relative;overflow-x:auto;margin-top:6px}}
.ddp-heat,.ddp-over{{display:block}} .ddp-over{{position:absolute;left:0;top:0;pointer-events:none}}
.ddp-tip{{position:absolute;z-index:5;max-width:260px;white-space:pre;font:12px ui-monospace,monospace;background:#fff;
  color:#111;border:1px solid {palette.MUTED};border-radius:4px;padding:4px 6px;pointer-events:none}}
.ddp-legend{{display:flex;flex-wrap:wrap;gap:4px 12px;align-items:center;font-size:12px;margin:4px 0}}
.ddp-scale{{display:inline-block;width:120px;height:10px;border-radius:2px}}
.ddp-scroll{{overflow-x:auto;max-width:100%}}
.ddp-table{{font-size:13px;border-collapse:collapse}}
.ddp-table td,.ddp-table th{{padding:2px 8px;border-bottom:1px solid {palette.MUTED};text-align:left;white-space:pre}}
.ddp-cut td{{border-bottom:3px solid {palette.NOW}}} .ddp-here td{{font-weight:600}}
.ddp-forced{{color:{palette.FORCED}}}
.ddp details summary{{cursor:pointer;font-weight:600;margin-top:6px}}
.dark .ddp-draft{{color:#e5e7eb;border-color:#9ca3af}} .dark .ddp-mask{{background:#374151;color:#d1d5db}}
.dark .ddp-tip{{background:#111827;color:#f9fafb}}
@media (prefers-reduced-motion: reduce){{.ddp *{{transition:none!important;animation:none!important;scroll-behavior:auto!important}}}}
"""


@lru_cache(maxsize=1)
def script() -> str:
    """player.js, as the Gradio component runs it (element, trigger, props, watch are given)."""
    return (HERE / "player.js").read_text(encoding="utf-8")


def _json_for_script(data) -> str:
    # Inside <script>, "</script>" or "<!--" in model text would end the block: escape < > &.
    return (json.dumps(data, ensure_ascii=False).replace("&", "\\u0026").replace("<", "\\u003c")
            .replace(">", "\\u003e"))


STANDALONE = """<!doctype html>
<html lang="__LANG__"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>__TITLE__</title>
<style>body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 12px}__CSS__</style></head>
<body><main><h1>Masked diffusion, step by step</h1><p id="prompt"></p><div id="player">__SKELETON__</div></main>
<script id="data" type="application/json">__DATA__</script>
<script>
const element = document.getElementById('player');
const props = {value: JSON.parse(document.getElementById('data').textContent)};
window.__ddpEvents = [];  // what the app would be told (a redo, a guess): kept for whoever reads the page
const trigger = (name, data) => { window.__ddpEvents.push([name, data]); };
const watch = () => {};
document.getElementById('prompt').textContent = 'Prompt: ' + (props.value.prompt || '').trim();
__SCRIPT__
</script></body></html>
"""


def standalone_page(value: dict, title: str) -> str:
    """One HTML file (no network, no server) that plays a run with the app's own player."""
    parts = {"CSS": CSS, "SKELETON": SKELETON, "LANG": html.escape(value.get("lang", "en")), "TITLE": html.escape(title),
             "DATA": _json_for_script(value), "SCRIPT": script()}
    # One pass, so text inside the run (a prompt that says "__SCRIPT__") is never substituted again.
    return re.sub(r"__(CSS|SKELETON|LANG|TITLE|DATA|SCRIPT)__", lambda m: parts[m.group(1)], STANDALONE)
