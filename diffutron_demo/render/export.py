"""Exports that play a run with no server: a standalone HTML player and an animated GIF."""

from __future__ import annotations

import html
import io
import json

from ..record.cells import COMMITTED_NOW, FORCED, MASKED, PROPOSED, cell_grid
from ..record.trajectory import Trajectory
from . import palette


def frames(traj: Trajectory) -> dict:
    """Compact per-step data: for every step and answer position [state, token, conf]."""
    grid = cell_grid(traj)
    tokens = {c.token for row in grid for c in row if c.token is not None}
    return {
        "title": traj.prompt.get("text", ""),
        "reply": traj.reply,
        "model": traj.model.get("name", ""),
        "pieces": {str(t): traj.piece(t) for t in sorted(tokens)},
        "steps": [[[int(c.state), c.token, None if c.conf is None else round(c.conf, 4)] for c in row]
                  for row in grid],
        "block": traj.settings.get("block_length") or traj.answer_len,
    }


def _json_for_script(data) -> str:
    # Inside <script>, "</script>" or "<!--" in model text would end the block: escape < > &.
    return (json.dumps(data, ensure_ascii=False).replace("&", "\\u0026").replace("<", "\\u003c")
            .replace(">", "\\u003e"))


_PLAYER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;max-width:1100px}
#canvas{font-family:ui-monospace,monospace;line-height:1.9;font-size:15px;margin:12px 0}
.t{display:inline-block;padding:1px 2px;margin:0 1px;border-radius:3px;white-space:pre-wrap}
.m{color:__MASK_FG__;background:__MASK_BG__}.now{box-shadow:0 0 0 2px __NOW__}.f{outline:2px solid __FORCED__}
#heat{border:1px solid #ddd;image-rendering:pixelated}
.row{display:flex;gap:12px;align-items:center}
</style></head><body>
<h2>Masked diffusion, step by step</h2>
<div id="prompt"></div>
<div class="row"><button id="play">▶ play</button>
<input id="slider" type="range" min="0" value="0" style="flex:1"><span id="label"></span></div>
<div id="canvas"></div>
<canvas id="heat"></canvas>
<p style="color:#666;font-size:13px">Rows: answer positions. Columns: steps. Faint: still masked (colour =
confidence of the current proposal). Solid: committed. Red x: forced edit. Colours: cividis (dark = low, yellow = high).</p>
<script id="data" type="application/json">__DATA__</script>
<script>
const D = JSON.parse(document.getElementById('data').textContent);
const P = D.palette, stops = P.stops, S = P.states;
function rgb(v){v=Math.min(Math.max(v,0),1);for(let i=1;i<stops.length;i++){if(v<=stops[i][0]){
 const [x0,c0]=stops[i-1],[x1,c1]=stops[i],f=(v-x0)/(x1-x0);
 return c0.map((a,j)=>Math.round(a+(c1[j]-a)*f));}}return stops[stops.length-1][1];}
function col(v){return 'rgb('+rgb(v).join(',')+')';}
function lum(c){const l=c.map(v=>{v/=255;return v<=0.04045?v/12.92:Math.pow((v+0.055)/1.055,2.4);});
 return 0.2126*l[0]+0.7152*l[1]+0.0722*l[2];}
function ink(v){const L=lum(rgb(v));return (L+0.05)/0.05>=1.05/(L+0.05)?'#000':'#fff';}
const n = D.steps.length, L = n ? D.steps[0].length : 0;
document.getElementById('prompt').textContent = 'Prompt: ' + D.title.trim();
const slider = document.getElementById('slider'); slider.max = n;
const heat = document.getElementById('heat'), cw = Math.max(4, Math.min(14, Math.floor(900 / Math.max(n,1)))), ch = 10;
heat.width = n * cw; heat.height = L * ch; const g = heat.getContext('2d');
function drawHeat(upto){g.clearRect(0,0,heat.width,heat.height);
 for(let s=0;s<upto;s++){for(let i=0;i<L;i++){const [st,tok,c]=D.steps[s][i]; if(st===S.masked) continue;
  g.globalAlpha = st===S.proposed ? 0.35 : 1; g.fillStyle = st===S.forced ? P.forced : col(c===null?1:c);
  g.fillRect(s*cw,i*ch,cw-1,ch-1); if(st===S.now){g.globalAlpha=1;g.strokeStyle='#fff';g.strokeRect(s*cw+1,i*ch+1,cw-3,ch-3);}}}
 g.globalAlpha=1; g.strokeStyle=P.edge; for(let b=D.block;b<L;b+=D.block){g.beginPath();g.moveTo(0,b*ch);g.lineTo(heat.width,b*ch);g.stroke();}}
function show(step){const box=document.getElementById('canvas'); box.replaceChildren();
 const row = step ? D.steps[step-1] : Array(L).fill([S.masked,null,null]);
 for(const [st,tok,c] of row){const s=document.createElement('span'); s.className='t';
  if(st===S.masked||st===S.proposed){s.className+=' m'; s.textContent='▒'; if(st===S.proposed) s.title='proposal: '+D.pieces[tok]+' ('+c+')';}
  else{s.textContent=D.pieces[tok]; const v=c===null?1:c; s.style.background=col(v); s.style.color=ink(v);
   if(st===S.now) s.className+=' now'; if(st===S.forced) s.className+=' f';}
  box.appendChild(s);}
 document.getElementById('label').textContent='step '+step+' / '+n; drawHeat(step);}
slider.oninput=()=>show(+slider.value);
let timer=null; document.getElementById('play').onclick=()=>{ if(timer){clearInterval(timer);timer=null;return;}
 if(+slider.value>=n) slider.value=0; timer=setInterval(()=>{ if(+slider.value>=n){clearInterval(timer);timer=null;return;}
 slider.value=+slider.value+1; show(+slider.value);}, 120);};
show(n);
</script></body></html>
"""


PLAYER_PALETTE = {
    "stops": [[x, list(c)] for x, c in palette.CIVIDIS], "forced": palette.FORCED, "edge": palette.BLOCK_EDGE,
    "states": {"masked": int(MASKED), "proposed": int(PROPOSED), "now": int(COMMITTED_NOW), "forced": int(FORCED)},
}


def standalone_html(traj: Trajectory) -> str:
    """A single HTML file (no network, no server) with a slider, play button, canvas and heatmap."""
    title = html.escape(f"diffutron-demo: {traj.prompt.get('text', '')[:60]}", quote=True)
    page = _PLAYER.replace("__MASK_FG__", palette.MASK_FG).replace("__MASK_BG__", palette.MASK_BG)
    page = page.replace("__NOW__", palette.NOW).replace("__FORCED__", palette.FORCED)
    data = {**frames(traj), "palette": PLAYER_PALETTE}
    return page.replace("__TITLE__", title).replace("__DATA__", _json_for_script(data))


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
                color = palette.FORCED if c.state == FORCED else palette.colour(1.0 if c.conf is None else c.conf)
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
