// The run player: one step shown everywhere (heatmap marker, canvas with drafts, "why this step",
// a position's history, the screen-reader line), drawn from the run's record (render/runview.py).
// It runs inside a Gradio HTML component (element, trigger, props, watch) and in the exported
// standalone page (a shim gives the same names). Model text only ever reaches the page through
// textContent. Live, only new steps arrive and only their heatmap columns are drawn.
const ROOT = element.querySelector('[data-ddp]') || element;
const $ = (sel) => ROOT.querySelector(sel);
const el = (tag, cls, text) => { const n = document.createElement(tag); if (cls) n.className = cls;
  if (text !== undefined && text !== null) n.textContent = text; return n; };
// Cell states and events, as the arrays below hold them.
const MASKED = 0, DRAFT = 1, NOW = 2, DONE = 3, STOPPED = 4, PINNED = 5, GIVEN = 6;
const EV_PIN = 1, EV_REDO = 2, EV_STOP = 3;
const SPEEDS = [2, 5, 10, 20];
const reducedMotion = () => window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
// The player's own drawing time, per kind of work (benchmarks/drawing.py reads it).
const STATS = { live: { n: 0, ms: 0, max: 0 }, step: { n: 0, ms: 0, max: 0 } };
function timed(kind, fn) { const t0 = performance.now(); try { return fn(); } finally {
  const ms = performance.now() - t0, k = STATS[kind]; k.n++; k.ms += ms; k.max = Math.max(k.max, ms); } }
const S = { data: null, step: 0, follow: true, timer: null, metric: 'confidence', view: 'tokens', drafts: true,
  pads: false, sel: new Set(), anchor: null, focus: 0, hist: null, hover: null, cols: [], sayTimer: null };
ROOT.__ddp = S;  // tests and the page's other handlers read the shown step from here

// ---- the record, step by step: arrays of every row's state after each step ----------------------
function blank(d) {
  const n = d.rows.length, c = { st: new Int8Array(n), tok: new Int32Array(n).fill(-1), conf: new Float32Array(n).fill(NaN),
    ent: new Float32Array(n).fill(NaN), mar: new Float32Array(n).fill(NaN), rank: new Int16Array(n), ev: new Int8Array(n) };
  d.rows.forEach((pos, r) => { const t = d.initial[pos - d.region];
    if (t !== d.mask) { c.st[r] = GIVEN; c.tok[r] = t; } });
  return c;
}
function apply(prev, e, d) {
  const c = { st: prev.st.slice(), tok: prev.tok.slice(), conf: prev.conf.slice(), ent: prev.ent.slice(),
    mar: prev.mar.slice(), rank: new Int16Array(prev.st.length), ev: new Int8Array(prev.st.length) };
  for (let r = 0; r < c.st.length; r++) {
    if (c.st[r] === NOW) c.st[r] = DONE;
    else if (c.st[r] === DRAFT) { c.st[r] = MASKED; c.tok[r] = -1; c.conf[r] = c.ent[r] = c.mar[r] = NaN; }
  }
  for (const [r, tok, kind] of e.f) {
    if (kind === 'pin') { c.st[r] = PINNED; c.tok[r] = tok; c.conf[r] = NaN; c.ev[r] = EV_PIN; }
    else if (kind === 'redo') { c.st[r] = MASKED; c.tok[r] = -1; c.conf[r] = NaN; c.ev[r] = EV_REDO; }
  }
  for (const [r, tok, conf, rank, ent, mar, , , kept] of e.c) {
    c.st[r] = kept && tok !== d.mask ? NOW : DRAFT; c.tok[r] = tok; c.conf[r] = conf;
    c.ent[r] = ent === null ? NaN : ent; c.mar[r] = mar === null ? NaN : mar; c.rank[r] = rank;
  }
  for (const [r, tok] of e.o) if (tok !== d.mask) { c.st[r] = NOW; c.tok[r] = tok; c.conf[r] = NaN; }
  for (const [r, tok, kind] of e.f) if (kind === 'stop_string') { c.st[r] = STOPPED; c.tok[r] = tok; c.ev[r] = EV_STOP; }
  return c;
}
function extend() {  // states for the steps that arrived since the last call
  const d = S.data;
  if (!S.cols.length) S.cols.push(blank(d));
  while (S.cols.length <= d.steps.length) S.cols.push(apply(S.cols[S.cols.length - 1], d.steps[S.cols.length - 1], d));
}
const T = () => S.data.text;
const fmt = (x, k = 3) => (x === null || x === undefined || Number.isNaN(x)) ? '–' : Number(x).toFixed(k);
const piece = (t) => { const p = S.data.pieces[String(t)]; return p === undefined ? `<${t}>` : p; };
// A token's text as tables and labels show it: spaces, line breaks and tabs visible, never empty.
const shown = (t) => piece(t).replace(/\n/g, '⏎').replace(/\t/g, '⇥').replace(/ /g, '·') || '∅';
// A token in the canvas: its text with line breaks shown as ⏎ (drawCanvas breaks the line after it).
function putText(n, text) {
  n.textContent = text.replace(/\n/g, '⏎') || '∅';
  if (text.includes('\n')) n.dataset.br = '1';
}
const say = (tpl, vars) => tpl.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? vars[k] : `{${k}}`));
const lastStep = () => (S.data.quiz ? Math.min(S.data.steps.length, S.data.quiz.step + (S.data.quiz.revealed ? 1 : 0)) : S.data.steps.length);

// ---- colour -----------------------------------------------------------------------------------
function rgb(v) {
  const stops = S.data.palette.stops; v = Math.min(Math.max(v, 0), 1);
  for (let i = 1; i < stops.length; i++) if (v <= stops[i][0]) { const [x0, c0] = stops[i - 1], [x1, c1] = stops[i];
    const f = (v - x0) / (x1 - x0); return c0.map((a, j) => Math.round(a + (c1[j] - a) * f)); }
  return stops[stops.length - 1][1];
}
function lum(c) { const l = c.map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; }
const ink = (c) => ((lum(c) + 0.05) / 0.05 >= 1.05 / (lum(c) + 0.05) ? '#000' : '#fff');
// What colour says, in [0, 1], bright = sure: confidence and margin as they are; entropy as
// e^(-entropy), the inverse perplexity, so the scale is the same for every run and vocabulary.
// NaN: an older file did not record this draft's entropy or margin (drawn grey, "not recorded");
// a commit with no confidence (past the window) counts as sure, as it always has.
function level(c, r) {
  const x = S.metric === 'entropy' ? Math.exp(-c.ent[r]) : S.metric === 'margin' ? c.mar[r] : c.conf[r];
  return Number.isNaN(x) && S.metric === 'confidence' ? 1 : x;
}
const paint = (v) => (Number.isNaN(v) ? S.data.palette.unknown : `rgb(${rgb(v).join(',')})`);
const dark = () => !!(element.closest && element.closest('.dark')) || document.body.classList.contains('dark');

// ---- heatmap: one canvas, drawn column by column; the marker on an overlay -------------------------
const heat = $('.ddp-heat'), over = $('.ddp-over'), tip = $('.ddp-tip');
const G = { gutter: 0, cw: 8, rh: 12, dpr: 1, rows: [], drawn: 0, cols: 0 };
const columns = (d) => Math.max(d.expected, d.steps.length, 1);  // the heatmap's width in steps
function visibleRows() {  // token view: every row (pads hidden unless asked); word view: words
  const d = S.data;
  if (S.view === 'words' && d.words) return d.words.filter((w) => S.pads || !w.pads).map((w) => ({ rows: w.rows, label: w.text, word: true }));
  const pads = new Set(S.pads || !d.words ? [] : d.words.filter((w) => w.pads).flatMap((w) => w.rows));
  return d.rows.map((pos, r) => ({ rows: [r], label: null })).filter((x) => !pads.has(x.rows[0]));
}
function rowLabel(row, c) {
  if (row.word) return row.label.replace(/\n/g, '⏎').replace(/\t/g, '⇥') || '∅';
  const r = row.rows[0], t = c.tok[r];
  return `${r} ${t >= 0 && c.st[r] !== DRAFT ? shown(t) : '▒'}`;
}
function layout() {
  const d = S.data, width = Math.max(ROOT.clientWidth - 8, 240);
  G.rows = visibleRows();
  G.gutter = Math.min(140, Math.max(48, Math.floor(width * 0.18)));
  const cols = G.cols = columns(d);
  G.cw = Math.max(1, Math.min(18, Math.floor((width - G.gutter) / cols)));
  G.rh = G.rows.length > 160 ? 5 : G.rows.length > 96 ? 8 : 13;
  G.dpr = window.devicePixelRatio || 1;
  const w = G.gutter + cols * G.cw, h = G.rows.length * G.rh + 2;
  for (const cv of [heat, over]) { cv.width = Math.ceil(w * G.dpr); cv.height = Math.ceil(h * G.dpr);
    cv.style.width = w + 'px'; cv.style.height = h + 'px'; }
  G.drawn = 0;
  const g = heat.getContext('2d'); g.setTransform(G.dpr, 0, 0, G.dpr, 0, 0);
  g.fillStyle = dark() ? S.data.palette.bg_dark : S.data.palette.bg; g.fillRect(0, 0, w, h);
}
function cellValue(row, c) {  // a word is as sure as its least sure piece; its state from its pieces
  if (!row.word) { const r = row.rows[0]; return { st: c.st[r], v: level(c, r), ev: c.ev[r] }; }
  let done = 0, st = MASKED, v = 1, ev = 0, drafts = 0;
  for (const r of row.rows) { const s = c.st[r]; if ([NOW, DONE, STOPPED, PINNED, GIVEN].includes(s)) done++;
    if (s === DRAFT) drafts++; if (s === NOW) st = NOW; if (!Number.isNaN(level(c, r)) && s !== GIVEN) v = Math.min(v, level(c, r));
    if (c.ev[r]) ev = c.ev[r]; }
  if (done === row.rows.length) st = st === NOW ? NOW : DONE; else if (done || drafts) st = DRAFT; else st = MASKED;
  return { st, v, ev };
}
function drawColumn(s) {  // column s = the state after step s (1-based)
  const g = heat.getContext('2d'), c = S.cols[s], pal = S.data.palette, x = G.gutter + (s - 1) * G.cw;
  const bg = dark() ? pal.bg_dark : pal.bg;
  G.rows.forEach((row, i) => {
    const { st, v, ev } = cellValue(row, c), y = 1 + i * G.rh, w = Math.max(G.cw - (G.cw > 3 ? 1 : 0), 1), h = G.rh - 1;
    g.fillStyle = bg; g.fillRect(x, y, G.cw, G.rh);
    if (st === MASKED && !ev) return;
    if (st === GIVEN) { g.fillStyle = pal.given; g.fillRect(x, y, w, h); return; }
    const col = st === STOPPED ? pal.forced : st === PINNED ? pal.pin : paint(v);
    g.globalAlpha = st === DRAFT ? 0.35 : 1; g.fillStyle = col; if (st !== MASKED) g.fillRect(x, y, w, h); g.globalAlpha = 1;
    if (st === NOW && G.cw >= 4) { g.strokeStyle = '#fff'; g.lineWidth = 1; g.strokeRect(x + 1.5, y + 1.5, Math.max(w - 3, 1), Math.max(h - 3, 1)); }
    if (ev && G.cw >= 4) mark(g, ev, x, y, w, h);
  });
}
function mark(g, ev, x, y, w, h) {  // shapes, not colour alone: ✕ stop check, ◆ pin, ○ redo
  const cx = x + w / 2, cy = y + h / 2, r = Math.min(w, h) / 2 - 1;
  g.strokeStyle = ev === EV_STOP ? '#fff' : '#000'; g.fillStyle = '#000'; g.lineWidth = 1.2; g.beginPath();
  if (ev === EV_STOP) { g.moveTo(cx - r, cy - r); g.lineTo(cx + r, cy + r); g.moveTo(cx + r, cy - r); g.lineTo(cx - r, cy + r); g.stroke(); }
  else if (ev === EV_PIN) { g.moveTo(cx, cy - r); g.lineTo(cx + r, cy); g.lineTo(cx, cy + r); g.lineTo(cx - r, cy); g.closePath(); g.fill(); }
  else { g.strokeStyle = S.data.palette.redo; g.arc(cx, cy, r, 0, 2 * Math.PI); g.stroke(); }
}
function drawGutter() {
  const g = heat.getContext('2d'), c = S.cols[Math.min(S.cols.length - 1, lastStep())], pal = S.data.palette;
  g.fillStyle = dark() ? pal.bg_dark : pal.bg; g.fillRect(0, 0, G.gutter - 2, heat.height / G.dpr);
  g.fillStyle = dark() ? '#e5e7eb' : '#222'; g.font = `${Math.max(G.rh - 3, 5)}px ui-monospace,monospace`; g.textBaseline = 'middle';
  if (G.rh >= 8) G.rows.forEach((row, i) => { let s = rowLabel(row, c); if (s.length > 18) s = s.slice(0, 17) + '…';
    g.fillText(s, 2, 1 + i * G.rh + G.rh / 2, G.gutter - 6); });
  g.strokeStyle = pal.edge; g.setLineDash([4, 3]); g.lineWidth = 1;
  if (S.view === 'tokens') for (const r of S.data.edges) { const i = G.rows.findIndex((x) => x.rows[0] === r);
    if (i > 0) { g.beginPath(); g.moveTo(G.gutter, 1 + i * G.rh - 0.5); g.lineTo(heat.width / G.dpr, 1 + i * G.rh - 0.5); g.stroke(); } }
  g.setLineDash([]);
}
function drawHeat(full) {
  if (!S.data) return;
  if (full) layout();
  const upto = lastStep();
  for (let s = G.drawn + 1; s <= upto; s++) drawColumn(s);
  G.drawn = upto;
  drawGutter();
  drawMarker();
  heat.setAttribute('aria-label', say(T().heat_img, { rows: S.data.rows.length, steps: S.data.steps.length,
    metric: T()[S.metric], step: S.step }));
}
function drawMarker() {
  const g = over.getContext('2d'), pal = S.data.palette; g.setTransform(G.dpr, 0, 0, G.dpr, 0, 0);
  g.clearRect(0, 0, over.width, over.height);
  const h = G.rows.length * G.rh + 2;
  if (S.data.split !== null && S.data.split !== undefined) { const x = G.gutter + S.data.split * G.cw;
    g.strokeStyle = dark() ? '#fff' : pal.split; g.setLineDash([2, 2]); g.beginPath(); g.moveTo(x, 0); g.lineTo(x, h); g.stroke(); g.setLineDash([]); }
  if (S.step > 0) { const x = G.gutter + (S.step - 1) * G.cw; g.strokeStyle = pal.now; g.lineWidth = 2; g.strokeRect(x, 0.5, G.cw, h - 1); }
  if (S.hist !== null) { const i = G.rows.findIndex((x) => x.rows.includes(S.hist));
    if (i >= 0) { g.strokeStyle = pal.now; g.lineWidth = 1; g.strokeRect(G.gutter, 1 + i * G.rh, heat.width / G.dpr - G.gutter, G.rh); } }
}
function cellAt(ev) {
  const b = heat.getBoundingClientRect(), x = ev.clientX - b.left, y = ev.clientY - b.top;
  const s = Math.floor((x - G.gutter) / G.cw) + 1, i = Math.floor((y - 1) / G.rh);
  return (s >= 1 && s <= lastStep() && i >= 0 && i < G.rows.length) ? { s, i } : (i >= 0 && i < G.rows.length && x < G.gutter ? { s: S.step, i } : null);
}
function cellText(s, i) {  // the hover: what the record says of this cell at this step
  const row = G.rows[i], d = S.data, c = S.cols[s], r = row.rows[0], t = T(), lines = [];
  lines.push(row.word ? `${t.step} ${s} · ${row.label}` : say(t.cell, { step: s, row: r, pos: d.rows[r] }));
  if (row.word) { lines.push(row.rows.map((x) => shown(c.tok[x] >= 0 ? c.tok[x] : d.mask)).join(' + ')); return lines; }
  const state = { [MASKED]: t.masked, [DRAFT]: t.draft, [NOW]: t.now, [DONE]: t.earlier, [STOPPED]: t.forced, [PINNED]: t.pinned, [GIVEN]: t.given }[c.st[r]];
  lines.push(`${state}${c.tok[r] >= 0 ? ': ' + shown(c.tok[r]) : ''}${c.ev[r] === EV_REDO ? ' · ' + t.redo : ''}`);
  const e = d.steps[s - 1], cand = e && e.c.find((x) => x[0] === r);
  if (cand) {
    lines.push(`${t.confidence} ${fmt(cand[2])} · ${t.entropy} ${cand[4] === null ? t.not_recorded : fmt(cand[4])} · ${t.margin} ${cand[5] === null ? t.not_recorded : fmt(cand[5])}`);
    lines.push(`${t.rank} ${cand[3]} / ${e.c.length}${cand[8] ? ' · ' + t.committed : ''}`);
    for (const [tok, p] of cand[7]) lines.push(`  ${shown(tok)} ${fmt(p)}`);
    if (cand[6] !== null) lines.push(`  ${t.rest} ${fmt(cand[6])}`);
  }
  return lines;
}
heat.addEventListener('mousemove', (ev) => { const at = cellAt(ev); if (!at) { tip.hidden = true; return; }
  tip.textContent = cellText(at.s, at.i).join('\n'); tip.hidden = false;
  const b = heat.getBoundingClientRect(), wb = ROOT.getBoundingClientRect();
  tip.style.left = Math.min(ev.clientX - wb.left + 12, wb.width - 260) + 'px'; tip.style.top = (ev.clientY - wb.top + 12) + 'px'; });
heat.addEventListener('mouseleave', () => { tip.hidden = true; });
heat.addEventListener('click', (ev) => { const at = cellAt(ev); if (!at) return; S.hist = G.rows[at.i].rows[0]; go(at.s, true); });
heat.addEventListener('keydown', (ev) => {  // ↑/↓ pick a row for its history, ←/→ step (the shortcuts)
  if (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') { ev.preventDefault(); const i = Math.max(0, G.rows.findIndex((x) => x.rows.includes(S.hist)));
    const j = Math.min(G.rows.length - 1, Math.max(0, (S.hist === null ? 0 : i + (ev.key === 'ArrowUp' ? -1 : 1))));
    S.hist = G.rows[j].rows[0]; showHistory(); drawMarker(); announce(cellText(Math.max(S.step, 1), j).join('. ')); }
});

// ---- the canvas at this step: given text fixed, committed text tinted, drafts as ghosts -----------
const canvasBox = $('.ddp-canvas');
function tokenNode(pos, s) {
  const d = S.data, r = S.rowOf.get(pos), c = S.cols[s], t = T(), quiz = d.quiz;
  const pending = quiz && !quiz.revealed && s === quiz.step;  // the step to guess: its drafts, without confidence
  const pickable = pending && r !== undefined && quiz.picks.includes(r);
  const n = el(pickable ? 'button' : 'span', 'ddp-tok');
  n.dataset.pos = pos;
  if (r === undefined || c.st[r] === GIVEN) {  // given text (infill, or before a redo reached it)
    n.classList.add('ddp-given'); putText(n, piece(r === undefined ? d.initial[pos - d.region] : c.tok[r]));
  } else if (c.st[r] === MASKED || c.st[r] === DRAFT || pickable) {
    n.classList.add('ddp-mask');
    const draftRec = pending ? d.steps[quiz.step] : (c.st[r] === DRAFT ? d.steps[s - 1] : null);
    const cand = draftRec && draftRec.c.find((x) => x[0] === r && !(draftRec === d.steps[s - 1] && x[8]));
    if (S.drafts && cand && cand[1] !== d.mask) {
      n.classList.add('ddp-draft'); putText(n, piece(cand[1]));
      const before = s >= 2 && !pending ? d.steps[s - 2].c.find((x) => x[0] === r) : null;
      if (before && before[1] !== cand[1]) { n.classList.add('ddp-changed'); n.dataset.changed = '1'; }
      n.title = `${say(t.cell, { step: s, row: r, pos })}: ${t.draft} ${shown(cand[1])}${pending ? '' : ' (' + fmt(cand[2], 2) + ')'}`;
    } else { n.textContent = '▒'; n.title = say(t.cell, { step: s, row: r, pos }) + ': ' + t.masked; }
    if (pickable) { n.setAttribute('aria-label', say(t.pick, { row: r })); n.dataset.pick = r; n.classList.add('ddp-pick');
      const sub = el('sub', null, String(r)); n.appendChild(sub); }
  } else {
    const v = level(c, r), col = Number.isNaN(v) ? null : rgb(v);
    putText(n, piece(c.tok[r]));
    n.style.background = c.st[r] === STOPPED ? d.palette.forced : c.st[r] === PINNED ? d.palette.pin : paint(v);
    n.style.color = c.st[r] === STOPPED ? '#fff' : c.st[r] === PINNED || !col ? '#000' : ink(col);
    if (c.st[r] === NOW) n.classList.add('ddp-now');
    if (c.st[r] === PINNED) n.classList.add('ddp-pinned');
    if (c.st[r] === STOPPED) n.classList.add('ddp-stopped');
    n.title = `${say(t.cell, { step: s, row: r, pos })}: ${c.st[r] === STOPPED ? t.forced : c.st[r] === PINNED ? t.pinned : t.confidence + ' ' + fmt(c.conf[r], 2)}`;
  }
  if (!pickable && !quiz) { n.setAttribute('role', 'option'); n.setAttribute('aria-selected', S.sel.has(pos) ? 'true' : 'false');
    n.tabIndex = -1; if (S.sel.has(pos)) n.classList.add('ddp-sel'); }
  return n;
}
function drawCanvas() {
  const d = S.data, s = S.step, box = canvasBox, t = T();
  box.replaceChildren();
  const cap = el('div', 'ddp-caption', captionText());
  box.appendChild(cap);
  // A listbox of tokens to choose (for a redo, or a position's history); in the lesson, a group whose
  // masked slots to guess are buttons.
  const list = el('div', 'ddp-tokens'); list.setAttribute('role', d.quiz ? 'group' : 'listbox');
  if (!d.quiz) list.setAttribute('aria-multiselectable', d.redo ? 'true' : 'false');
  list.setAttribute('aria-label', t.canvas);
  const end = d.region + d.initial.length, folded = foldedPads();
  for (let pos = d.region; pos < end; pos++) {
    if (folded.has(pos)) { if (pos === Math.min(...folded)) list.appendChild(el('span', 'ddp-tok ddp-folded', say(t.pads_folded, { k: folded.size }))); continue; }
    const node = tokenNode(pos, s);
    list.appendChild(node);
    if (node.dataset.br) list.appendChild(el('br'));
  }
  box.appendChild(list);
  const opts = list.querySelectorAll('[role=option]');
  if (opts.length) { S.focus = Math.min(S.focus, opts.length - 1); opts[S.focus].tabIndex = 0; }
  if (d.done && d.empty && s === d.steps.length) box.appendChild(el('div', 'ddp-empty', say(t.empty, { why: d.empty })));
  drawRedo();
}
function foldedPads() {  // the padding after the answer, as one chip, once the run is done and pads are hidden
  const d = S.data; if (S.pads || !d.words || S.step < d.steps.length) return new Set();
  const w = d.words.find((x) => x.pads); return new Set(w ? w.rows.map((r) => d.rows[r]) : []);
}
function captionText() {
  const d = S.data, e = d.steps[S.step - 1];
  const head = `${T().step} ${S.step} ${T().of} ${d.done ? d.steps.length : '~' + d.expected}`;
  return e ? e.say : head + '.';
}

// ---- why this step, a position's history, the heatmap as a table -------------------------------
function scroller(child, label) {  // a wide table scrolls sideways; the keyboard can reach it to scroll
  const w = el('div', 'ddp-scroll'); w.tabIndex = 0; w.setAttribute('role', 'region'); w.setAttribute('aria-label', label);
  w.appendChild(child); return w;
}
function cell(tr, text, tag = 'td') { tr.appendChild(el(tag, null, text)); }
function table(headers) { const tb = el('table', 'ddp-table'), tr = el('tr'); headers.forEach((h) => cell(tr, h, 'th'));
  tb.appendChild(tr); return tb; }
function drawWhy() {
  const box = $('.ddp-why'), t = T(), e = S.data.steps[S.step - 1];
  box.replaceChildren();
  if (!e) { box.appendChild(el('p', null, t.no_step)); return; }
  const rows = e.w.length ? ` (${e.w[0]}–${e.w[1]})` : '';
  box.appendChild(el('p', 'ddp-whyhead', `${t.step} ${e.n} · ${t.block} ${e.b + 1}${rows} · ${e.c.length} ${t.candidates} · ${e.k.length} ${t.committed}`));
  box.appendChild(el('p', 'ddp-rule', e.why));
  const tb = table([t.rank, t.pos, t.proposal, t.confidence, t.entropy, t.margin, '', t.next_best]);
  const ranked = e.c.slice().sort((a, b) => a[3] - b[3]);
  const cut = Math.max(0, ...ranked.filter((x) => x[8]).map((x) => x[3]));
  for (const x of ranked.slice(0, 40)) { const tr = el('tr'); if (x[3] === cut) tr.className = 'ddp-cut';
    [x[3], x[0], shown(x[1]), fmt(x[2]), x[4] === null ? '–' : fmt(x[4]), x[5] === null ? '–' : fmt(x[5]), x[8] ? '✔ ' + t.committed : '',
      x[7].slice(1, 4).map(([tok, p]) => `${shown(tok)} ${fmt(p, 2)}`).join(', ')].forEach((v) => cell(tr, String(v)));
    tb.appendChild(tr); }
  box.appendChild(scroller(tb, t.why));
  if (ranked.length > 40) box.appendChild(el('p', null, say(t.more, { k: ranked.length - 40 })));
  for (const [r, tok, kind, was] of e.f) box.appendChild(el('p', 'ddp-forced',
    `${r}: ${kind === 'pin' ? t.pinned : kind === 'redo' ? t.redo : t.forced} · ${shown(tok === S.data.mask ? (was ?? tok) : tok)}`));
}
function showHistory() {
  const box = $('.ddp-hist'), t = T(), d = S.data, r = S.hist;
  box.replaceChildren();
  if (r === null || r === undefined) { box.appendChild(el('p', null, t.hist_pick)); return; }
  box.appendChild(el('p', null, say(t.hist_head, { row: r, pos: d.rows[r] })));
  const tb = table([t.step, t.proposal, t.confidence, t.entropy, t.margin, t.rank, t.committed]);
  let any = false;
  d.steps.forEach((e, i) => {
    if (i >= lastStep()) return;  // a lesson's steps after its question stay hidden
    const x = e.c.find((y) => y[0] === r), f = e.f.find((y) => y[0] === r);
    if (f) { any = true; const tr = el('tr'); [i + 1, shown(f[1] === d.mask ? (f[3] ?? f[1]) : f[1]), '', '', '', '',
      f[2] === 'pin' ? t.pinned : f[2] === 'redo' ? t.redo : t.forced].forEach((v) => cell(tr, String(v))); tb.appendChild(tr); }
    if (x) { any = true; const tr = el('tr'); if (i + 1 === S.step) tr.className = 'ddp-here';
      [i + 1, shown(x[1]), fmt(x[2]), x[4] === null ? '–' : fmt(x[4]), x[5] === null ? '–' : fmt(x[5]), `${x[3]} / ${e.c.length}`,
        x[8] ? '✔' : ''].forEach((v) => cell(tr, String(v))); tb.appendChild(tr); }
  });
  if (!any) box.appendChild(el('p', null, t.never)); else box.appendChild(scroller(tb, t.history));
}
function drawTable() {  // the picture as text: each position's final token, when and how surely it was written
  const box = $('.ddp-table-alt'), t = T(), d = S.data;
  if (!box.closest('details').open) return;
  const last = S.cols[lastStep()], when = new Map();
  d.steps.forEach((e, i) => { if (i < lastStep()) for (const x of e.c) if (x[8]) when.set(x[0], [i + 1, x[3], x[2], x[4], x[5]]); });
  const tb = table([t.pos, t.canvas_index, t.final, t.at_step, t.at_rank, t.conf_then, t.entropy, t.margin]);
  d.rows.forEach((pos, r) => { const w = when.get(r) || ['', '', null, null, null], tr = el('tr');
    [r, pos, last.tok[r] >= 0 && last.st[r] !== DRAFT ? shown(last.tok[r]) : '▒', w[0], w[1], fmt(w[2]), fmt(w[3]), fmt(w[4])].forEach((v) => cell(tr, String(v)));
    tb.appendChild(tr); });
  box.replaceChildren(scroller(tb, t.table));
}
$('.ddp-table-box').addEventListener('toggle', () => { if (S.data) drawTable(); });

// ---- one step, everywhere ------------------------------------------------------------------------
const slider = $('.ddp-slider'), num = $('.ddp-num'), total = $('.ddp-total'), playBtn = $('.ddp-play');
function go(step, byUser, quiet) {
  if (!S.data) return;
  const max = lastStep();
  S.step = Math.max(0, Math.min(max, Math.round(Number(step) || 0)));
  S.follow = S.step === S.data.steps.length;
  ROOT.dataset.step = S.step;
  slider.max = max; slider.value = S.step; num.max = max; num.value = S.step;
  // A lesson's slider stops at the question, but the run's length is what "of" counts, as in its caption.
  const of = S.data.quiz ? S.data.steps.length : max;
  total.textContent = `${T().of} ${S.data.done || S.data.quiz ? of : '~' + S.data.expected}`;
  slider.setAttribute('aria-valuetext', `${T().step} ${S.step} ${T().of} ${of}`);
  drawMarker(); drawCanvas(); drawWhy(); showHistory(); drawTable();
  if (byUser && !quiet) announce(captionText());
  if (byUser && S.data.group) window.dispatchEvent(new CustomEvent('ddp-step', { detail: { group: S.data.group, step: S.step, from: S.data.id } }));
}
function announce(text) {  // the live region speaks once the person stops moving the step
  clearTimeout(S.sayTimer);
  S.sayTimer = setTimeout(() => { $('.ddp-say').textContent = text; }, 250);
}
function stop() {
  if (S.timer) { clearInterval(S.timer); S.timer = null; }
  playBtn.textContent = '▶'; playBtn.setAttribute('aria-pressed', 'false');
  if (S.data) playBtn.setAttribute('aria-label', T().play);
}
function play() {
  if (S.timer) { stop(); announce(captionText()); return; }  // paused: say where it stopped
  if (reducedMotion()) { go(lastStep(), true); return; }
  if (S.step >= lastStep()) go(0, true, true);
  playBtn.textContent = '❚❚'; playBtn.setAttribute('aria-label', T().pause); playBtn.setAttribute('aria-pressed', 'true');
  S.timer = setInterval(() => { if (S.step >= lastStep()) { stop(); announce(captionText()); return; }
    timed('step', () => go(S.step + 1, false)); },
    1000 / SPEEDS[Number($('.ddp-speed').value) || 0]);
}
slider.addEventListener('input', () => { stop(); go(slider.value, true); });
num.addEventListener('change', () => { stop(); go(num.value, true); });
playBtn.addEventListener('click', play);
$('.ddp-first').addEventListener('click', () => { stop(); go(0, true); });
$('.ddp-prev').addEventListener('click', () => { stop(); go(S.step - 1, true); });
$('.ddp-next').addEventListener('click', () => { stop(); go(S.step + 1, true); });
$('.ddp-last').addEventListener('click', () => { stop(); go(lastStep(), true); });
$('.ddp-speed').addEventListener('change', () => { if (S.timer) { stop(); play(); } });
$('.ddp-metric').addEventListener('change', (ev) => { S.metric = ev.target.value; drawLegend(); drawHeat(true); go(S.step, false); });
$('.ddp-view').addEventListener('change', (ev) => { S.view = ev.target.value; drawHeat(true); go(S.step, false); });
$('.ddp-drafts').addEventListener('change', (ev) => { S.drafts = ev.target.checked; drawCanvas(); });
$('.ddp-pads').addEventListener('change', (ev) => { S.pads = ev.target.checked; drawHeat(true); drawCanvas(); });
// The stepping shortcuts, anywhere in the player but the canvas and the form fields; on the slider
// too, so that PageUp/PageDown are ten steps there as everywhere.
ROOT.addEventListener('keydown', (ev) => {
  if (!S.data || ev.target.closest('.ddp-tokens') || ev.target.matches('input:not([type=range]),select,textarea') || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const k = ev.key, moves = { ArrowLeft: -1, ArrowRight: 1, PageUp: -10, PageDown: 10 };
  if (k in moves && !(ev.target === heat && (k === 'ArrowUp' || k === 'ArrowDown'))) { ev.preventDefault(); stop(); go(S.step + moves[k], true); }
  else if (k === 'Home' || k === 'End') { ev.preventDefault(); stop(); go(k === 'Home' ? 0 : lastStep(), true); }
  else if ((k === ' ' || k === 'k') && !ev.target.matches('button')) { ev.preventDefault(); play(); }
});
window.addEventListener('ddp-step', (ev) => { const x = ev.detail;  // Compare: the columns share their step
  if (S.data && x.group === S.data.group && x.from !== S.data.id) { stop(); go(x.step, false); } });

// ---- choosing tokens: Redo, a position's history, the lesson's guess ----------------------------------
canvasBox.addEventListener('click', (ev) => {
  const n = ev.target.closest('.ddp-tok'); if (!n || n.dataset.pos === undefined) return;  // the folded pads: no position
  if (n.dataset.pick !== undefined) { trigger('click', { pos: Number(n.dataset.pick) }); return; }
  choose(n, ev.shiftKey);
});
canvasBox.addEventListener('keydown', (ev) => {
  const opts = [...canvasBox.querySelectorAll('[role=option]')], i = opts.indexOf(ev.target);
  if (i < 0) return;
  if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft' || ev.key === 'Home' || ev.key === 'End') {
    ev.preventDefault();
    const j = ev.key === 'Home' ? 0 : ev.key === 'End' ? opts.length - 1 : Math.max(0, Math.min(opts.length - 1, i + (ev.key === 'ArrowRight' ? 1 : -1)));
    opts[i].tabIndex = -1; opts[j].tabIndex = 0; opts[j].focus(); S.focus = j;
    if (ev.shiftKey) choose(opts[j], true, true);
  } else if (ev.key === ' ' || ev.key === 'Enter') { ev.preventDefault(); choose(opts[i], false); }
});
function choose(n, range, keep) {
  const pos = Number(n.dataset.pos), r = S.rowOf.get(pos);
  if (r !== undefined) { S.hist = r; showHistory(); drawMarker(); }
  if (S.data.redo) {
    if (range && S.anchor !== null) { const [a, b] = [Math.min(S.anchor, pos), Math.max(S.anchor, pos)];
      for (let p = a; p <= b; p++) S.sel.add(p); }
    else if (S.sel.has(pos) && !keep) S.sel.delete(pos); else S.sel.add(pos);
    if (!range) S.anchor = pos;
  }
  const opts = [...canvasBox.querySelectorAll('[role=option]')]; S.focus = Math.max(0, opts.indexOf(n));
  drawCanvas();
  const again = canvasBox.querySelectorAll('[role=option]')[S.focus]; if (again) again.focus();
}
function drawRedo() {
  const box = $('.ddp-redo'), t = T(); box.replaceChildren();
  if (!S.data.redo) return;
  const redo = el('button', 'ddp-redo-btn', S.sel.size ? say(t.redo_btn, { k: S.sel.size }) : t.nothing_sel);
  redo.disabled = !S.sel.size; redo.type = 'button';
  redo.addEventListener('click', () => trigger('submit', { positions: [...S.sel].sort((a, b) => a - b) }));
  const clear = el('button', 'ddp-clear', t.clear_sel); clear.type = 'button'; clear.disabled = !S.sel.size;
  clear.addEventListener('click', () => { S.sel.clear(); drawCanvas(); });
  box.append(redo, clear, el('span', 'ddp-hint', t.select_help));
}
function drawQuiz() {  // the lesson: feedback, score and the next question
  const box = $('.ddp-quiz'), q = S.data.quiz; box.replaceChildren();
  if (!q) return;
  if (q.question) box.appendChild(el('p', 'ddp-question', q.question));
  if (q.feedback) box.appendChild(el('p', 'ddp-feedback', q.feedback));
  if (q.score) box.appendChild(el('p', 'ddp-score', q.score));
  if (q.revealed && !q.done) { const nxt = el('button', 'ddp-next-q', T().next_q); nxt.type = 'button';
    nxt.addEventListener('click', () => trigger('submit', { next: true })); box.appendChild(nxt); }
}

// ---- legend ----------------------------------------------------------------------------------------
function drawLegend() {
  const box = $('.ddp-legend'), t = T(), stops = S.data.palette.stops;
  box.replaceChildren();
  const bar = el('span', 'ddp-scale'); bar.style.background = `linear-gradient(90deg, ${stops.map(([x, c]) => `rgb(${c.join(',')}) ${x * 100}%`).join(',')})`;
  const ends = S.metric === 'entropy' ? [t.high, t.low] : ['0', '1'];
  box.append(el('span', null, `${t[S.metric]}: ${ends[0]}`), bar, el('span', null, `${ends[1]} · ${S.metric === 'entropy' ? t.entropy_scale : t.legend_scale}`));
  const keys = ['legend_masked', 'legend_solid', 'legend_now', 'legend_forced', 'legend_pin', 'legend_redo', 'legend_edge',
    'legend_split'].concat(S.metric === 'confidence' ? [] : ['legend_unknown']);
  for (const k of keys) box.appendChild(el('span', 'ddp-key', t[k]));
}

// ---- data in: a new run starts over; more steps of the same run only add columns ------------------
function labels() {
  const t = T();
  $('.ddp-label').textContent = S.data.label;
  $('.ddp-controls').setAttribute('aria-label', t.controls);
  for (const [cls, key] of [['.ddp-first', 'first'], ['.ddp-prev', 'prev'], ['.ddp-next', 'next'], ['.ddp-last', 'last']])
    $(cls).setAttribute('aria-label', t[key]);
  slider.setAttribute('aria-label', t.step); num.setAttribute('aria-label', t.step);
  for (const k of ['speed', 'colour', 'view', 'drafts', 'pads', 'why', 'history', 'table', 'keys'])
    ROOT.querySelectorAll(`[data-t=${k}]`).forEach((n) => { n.textContent = t[k]; });
  ROOT.querySelectorAll('.ddp-metric option, .ddp-view option').forEach((o) => { o.textContent = t[o.value]; });
  $('.ddp-keys-help').textContent = t.keys_help + (reducedMotion() ? ' ' + t.reduced : '');
  heat.setAttribute('role', 'img'); $('.ddp-heat-wrap').setAttribute('aria-label', t.heatmap);
  ROOT.lang = S.data.lang;
}
function clearAll() {  // no run: nothing of the last one stays on the page
  stop(); clearTimeout(S.sayTimer); S.data = null; S.cols = []; S.sel.clear(); S.hist = null; G.drawn = 0;
  ROOT.dataset.state = 'empty'; ROOT.dataset.steps = 0; ROOT.dataset.step = 0;
  for (const sel of ['.ddp-label', '.ddp-live', '.ddp-canvas', '.ddp-quiz', '.ddp-redo', '.ddp-legend', '.ddp-why', '.ddp-hist', '.ddp-table-alt', '.ddp-say'])
    $(sel).replaceChildren();
  for (const cv of [heat, over]) { cv.width = 0; cv.height = 0; cv.style.width = '0px'; cv.style.height = '0px'; }
  slider.max = 0; slider.value = 0; num.value = 0; total.textContent = '';
}
function load(v, arrived) {  // arrived: sent by the app (not the page's first value)
  if (!v || typeof v !== 'object' || !v.v) { clearAll(); return; }
  const fresh = !S.data || v.id !== S.data.id, wasLast = S.data ? S.step === lastStep() : true;
  const started = fresh && arrived && !v.quiz && !v.group;  // a new run arrives: on a phone, bring its canvas into view
  S.data = v; S.rowOf = new Map(v.rows.map((p, r) => [p, r]));
  if (fresh) { stop(); clearTimeout(S.sayTimer); S.cols = []; S.sel.clear(); S.anchor = null; S.hist = null; S.focus = 0; labels(); drawLegend(); }
  extend();
  ROOT.dataset.state = v.done ? 'done' : 'live';
  ROOT.dataset.steps = v.steps.length;
  $('.ddp-live').textContent = v.done ? '' : say(T().live, { n: v.steps.length });
  if (S.view === 'words' && !v.words) { S.view = 'tokens'; $('.ddp-view').value = 'tokens'; }
  // The word view labels rows with the final words: in a lesson that would give the answer away.
  $('.ddp-view').disabled = !v.words || !!v.quiz; $('.ddp-pads').disabled = !v.words;
  if (v.quiz && S.view === 'words') { S.view = 'tokens'; $('.ddp-view').value = 'tokens'; }
  // Redrawn whole when the rows change or the run outgrows its estimated steps (the columns narrow).
  drawHeat(fresh || G.rows.length !== visibleRows().length || G.cols !== columns(v));
  const target = v.quiz ? lastStep() : (fresh ? v.steps.length : (wasLast || S.follow ? lastStep() : S.step));
  go(target, false);
  drawQuiz();
  if (v.quiz && fresh === false) focusQuiz();
  if (v.done && !fresh && !v.quiz) announce(say(T().run_done, { n: v.steps.length, reply: v.reply || '' }));
  if (started && window.innerWidth < 700) canvasBox.scrollIntoView({ block: 'start' });  // at once: later frames would stop a smooth scroll
}
function focusQuiz() {  // after a guess, focus goes to "Next step"; after Next, to the first slot to guess
  const q = S.data.quiz, target = q.revealed ? $('.ddp-next-q') : canvasBox.querySelector('.ddp-pick');
  if (target) target.focus();
}
// What tests and the page's other handlers may ask of the player (nothing here changes the run).
ROOT.__ddpApi = { go: (s) => { stop(); timed('step', () => go(s, true)); }, stats: () => STATS, cellText: (s, i) => cellText(s, i), caption: () => captionText(),
  rows: () => G.rows.map((r) => r.rows), lastStep: () => lastStep() };
let width = 0;  // redraw when the width changes (a phone turned), not when the panels below grow
new ResizeObserver(() => { if (S.data && ROOT.clientWidth !== width) { width = ROOT.clientWidth; drawHeat(true); } }).observe(ROOT);
watch('value', () => timed('live', () => load(props.value, true)));
load(props.value);
