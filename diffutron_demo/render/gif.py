"""The animated GIF of a run: what a person who only gets the GIF needs to read it.

Each frame: a title (the question, the model, "step n of N"), the canvas text after that step (the
answer's tokens, masks as ▒; in infill the given text between the blanks too), the heatmap so far
(rows = answer positions, labelled with the position and its final token; columns = steps, "step"
and tick numbers along the top) and a legend (the cividis scale "confidence 0 … 1"; faint, solid,
grey, red ✕ and pink cells). Sizes are bounded: cells shrink as a run grows, then steps and rows
are sampled, labels thin out and the canvas text stops after GIF_TEXT_LINES lines.
"""

from __future__ import annotations

import bisect
import io
from dataclasses import dataclass, field

from ..record.cells import FORCED, cell_grid
from ..record.trajectory import Trajectory
from ..template import last_question
from . import gif_paint as paint
from . import gif_text

GIF_FONT_SIZES = {"title": 13, "text": 12, "small": 10}
GIF_HEAT_MAX = (640, 640)  # the heatmap's largest drawing area (px)
GIF_MIN_CELL = 2  # px; past this, steps (or rows) are sampled
GIF_ROW_PITCH = 10  # px between two row labels
GIF_MIN_WIDTH = 560
GIF_TEXT_LINES = 8
MARGIN, PAD = 8, 4


@dataclass
class GifLayout:
    """Where a GIF's parts are (boxes: left, top, right, bottom, in px) and what its frames and cells show."""
    size: tuple[int, int]
    title: tuple[int, int, int, int]
    text: tuple[int, int, int, int]  # the canvas text
    heat: tuple[int, int, int, int]  # the heatmap's cells
    labels: tuple[int, int, int, int]  # the row labels and the side axis
    legend: tuple[int, int, int, int]
    bar: tuple[int, int, int, int]  # the legend's confidence scale, 0 at the left
    steps: list[int]  # the step each frame shows (0: before the first step)
    columns: list[int]  # the step (index into traj.steps) each heatmap column shows
    rows: list[int]  # the answer position each heatmap row shows
    cell: tuple[int, int]  # a column's width, a row's height
    font: str  # the font's name; "(bitmap)" for Pillow's ASCII bitmap font
    row_labels: dict[int, str] = field(default_factory=dict)  # heatmap row -> its label


def frame_steps(n: int, max_frames: int) -> list[int]:
    """The steps the frames show: the start (all masked), then evenly to the last, at most `max_frames`."""
    if n == 0:
        return [0]
    if max_frames <= 1:
        return [n]
    every = -(-n // (max_frames - 1))
    shown = [0] + list(range(every, n + 1, every))
    return shown if shown[-1] == n else shown + [n]


def _sample(count: int, cap: int, want: int, last: bool) -> tuple[int, list[int]]:
    """(cell size in px, the indices drawn): all of them while `count` cells of at least GIF_MIN_CELL
    px fit in `cap` px, else an even sample (the last index of each bucket if `last`, else the first)."""
    if count <= 0:
        return max(want, GIF_MIN_CELL), []
    size = max(GIF_MIN_CELL, min(want, cap // count))
    if count * size <= cap:
        return size, list(range(count))
    k = cap // GIF_MIN_CELL
    if last:
        return GIF_MIN_CELL, [-(-(j + 1) * count // k) - 1 for j in range(k)]
    return GIF_MIN_CELL, [j * count // k for j in range(k)]


def _nice(at_least: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `at_least`."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if base * m >= at_least:
                return base * m
        base *= 10


def _legend(traj: Trajectory, small, inner: int) -> tuple[list, int]:
    """The legend's entries flowed into lines `inner` px wide: ([(x, y, op, arg)], height)."""
    entries = [[("text", "confidence 0"), ("bar", 120), ("text", "1")],
               [("swatch", (paint.FAINT[45], "")), ("text", "faint: draft (still masked)")],
               [("swatch", (paint.CIVIDIS[45], "")), ("text", "solid: committed")],
               [("swatch", (paint.MASKED_BG, "")), ("text", "grey: masked, no draft")],
               [("swatch", (paint.FORCED_RGB, "x")), ("text", "✕ red: stop check")],
               [("swatch", (paint.PIN_RGB, "")), ("text", "pink: pin")]]
    if any(e.kind == "redo" for st in traj.steps for e in st.forced):
        entries.append([("swatch", (paint.FAINT[45], "ring")), ("text", "purple ring: masked again (redo)")])
    entries.append([("text", f"text: {gif_text.MASK_MARK} masked, underlined = new in this frame")])
    ops, x, y, line = [], 0.0, 0, max(small.height, 12) + 4
    for entry in entries:
        parts = [(op, small.clean(arg) if op == "text" else arg) for op, arg in entry]
        widths = [small.width(a) if op == "text" else 11 if op == "swatch" else a for op, a in parts]
        if x and x + sum(widths) + 4 * len(parts) > inner:
            x, y = 0.0, y + line
        for (op, arg), w in zip(parts, widths):
            ops.append((x, y, op, arg))
            x += w + 4
        x += 14
    return ops, y + line


@dataclass
class _Plan:
    """Every measure a frame is drawn with."""
    n: int
    faces: dict
    width: int
    height: int
    cw: int
    rh: int
    columns: list[int]
    rows: list[int]
    labels: dict[int, str]
    heat_x: int
    heat_y: int
    heat_area: int  # the heatmap's height, or the side axis's if longer
    text_y: int
    text_h: int
    axis_y: int
    legend_y: int
    legend: list
    legend_h: int
    lines: list  # each frame's canvas text, wrapped


def _plan(traj: Trajectory, grid, cell: int, shown: list[int]) -> _Plan:
    faces = {k: gif_text.face(v) for k, v in GIF_FONT_SIZES.items()}
    title, body, small = faces["title"], faces["text"], faces["small"]
    n, L = len(grid), traj.answer_len
    # Small runs get bigger cells; a row gets a label every GIF_ROW_PITCH px.
    cw, columns = _sample(n, GIF_HEAT_MAX[0], max(cell, min(3 * cell, 384 // max(n, 1))), last=True)
    rh, rows = _sample(L, GIF_HEAT_MAX[1], max(cell, GIF_ROW_PITCH, min(2 * cell, 240 // max(L, 1))), last=False)
    every = _nice(GIF_ROW_PITCH / rh)
    labels = {k: small.fit(f"{rows[k]} {gif_text.label_piece(traj.piece(traj.final_ids[traj.slots[rows[k]]]))}", 120)
              for k in range(0, len(rows), every)}
    label_w = int(max((small.width(v) for v in labels.values()), default=0)) + 6
    heat_x = MARGIN + small.height + 4 + max(label_w, int(small.width(small.clean("step →"))) + 12)
    width = max(GIF_MIN_WIDTH, heat_x + len(columns) * cw + 16)
    inner = width - 2 * MARGIN
    text_y = MARGIN + title.height + small.height + 6
    lines = [gif_text.wrap(tokens, body, inner - 2 * PAD, GIF_TEXT_LINES)
             for tokens in gif_text.canvas_snapshots(traj, shown)]
    text_h = max(len(x) for x in lines) * body.height + 2 * PAD
    axis_y = text_y + text_h + 6
    heat_y = axis_y + small.height + 8
    heat_area = max(len(rows) * rh, int(small.width(small.clean("answer position"))) + 8)
    legend_y = heat_y + heat_area + 10
    legend, legend_h = _legend(traj, small, inner)
    return _Plan(n, faces, width, legend_y + legend_h + MARGIN, cw, rh, columns, rows, labels, heat_x, heat_y,
                 heat_area, text_y, text_h, axis_y, legend_y, legend, legend_h, lines)


def _title(traj: Trajectory) -> str:
    """The question (generation) or the text with blanks (infill), on one line."""
    if traj.is_infill:
        text = traj.prompt.get("input") or traj.prompt.get("text", "")
    else:
        text = last_question(traj.prompt.get("text", ""))
    return " ".join(str(text).split()) or "(no question)"


def _draw_legend(paper: paint.Paper, p: _Plan, text: bool) -> tuple[int, int, int, int]:
    """The legend; returns the confidence bar's box."""
    bar = (0, 0, 0, 0)
    for x, y, op, arg in p.legend:
        x0, y0 = int(MARGIN + x), p.legend_y + y
        if op == "bar":
            for k in range(arg):
                paper.line([(x0 + k, y0 + 1), (x0 + k, y0 + 11)], paint.CIVIDIS[paint.level(k / (arg - 1))])
            bar = (x0, y0 + 1, x0 + arg, y0 + 12)
        elif op == "swatch":
            colour, mark = arg
            paper.rect([x0, y0 + 1, x0 + 10, y0 + 11], colour, outline=paint.REDO_RGB if mark == "ring" else paint.EDGE)
            if mark == "x":
                paper.line([(x0 + 2, y0 + 3), (x0 + 8, y0 + 9)], paint.WHITE, width=2)
                paper.line([(x0 + 2, y0 + 9), (x0 + 8, y0 + 3)], paint.WHITE, width=2)
        elif text:
            paper.text((x0, y0), arg, p.faces["small"])
    return bar


def _draw_axes(paper: paint.Paper, p: _Plan, traj: Trajectory) -> None:
    """The title's question, "step →" and its ticks, "answer position" up the side, the row labels."""
    small, title = p.faces["small"], p.faces["title"]
    paper.text((MARGIN, MARGIN), title.fit(_title(traj), p.width - 2 * MARGIN), title)
    step = small.clean("step →")
    paper.text((p.heat_x - 10 - small.width(step), p.axis_y), step, small)
    if p.columns:
        every, right = _nice(30 / (len(p.columns) * p.cw / p.n)), -1e9
        for t in [1] + list(range(every, p.n + 1, every)):
            j, label = bisect.bisect_left(p.columns, t - 1), str(t)
            cx = p.heat_x + j * p.cw + p.cw // 2
            left = cx - small.width(label) / 2
            if j < len(p.columns) and left >= right + 6:
                paper.text((left, p.axis_y), label, small)
                paper.line([(cx, p.heat_y - 3), (cx, p.heat_y - 1)], paint.MUTED_TEXT)
                right = left + small.width(label)
    side = paint.coverage(small.clean("answer position"), small).rotate(90, expand=True)
    paper.ink(side, (MARGIN, p.heat_y + max(0, (p.heat_area - side.height) // 2)), paint.BLACK)
    for k, label in p.labels.items():
        paper.text((p.heat_x - 4 - small.width(label), p.heat_y + k * p.rh + p.rh / 2 - small.height / 2), label, small)


def _heat(grid, p: _Plan):
    """The whole heatmap (every column), one palette index per cell scaled up, gaps and ✕ drawn."""
    from PIL import Image

    buffer, known, crosses, rings = bytearray(), {}, [], []
    for k, i in enumerate(p.rows):
        for j, s in enumerate(p.columns):
            c = grid[s][i]
            key = (c.state, c.event, paint.level(c.conf))
            if key not in known:
                known[key] = paint.index(paint.cell_colour(c))
            buffer.append(known[key])
            if c.state == FORCED and c.event:
                crosses.append((j, k))
            elif c.event == "redo":
                rings.append((j, k))
    w, h = len(p.columns) * p.cw, len(p.rows) * p.rh
    sheet = paint.Paper((w, h))
    cells = Image.frombytes("P", (len(p.columns), len(p.rows)), bytes(buffer))
    sheet.image.paste(cells.resize((w, h), Image.Resampling.NEAREST))
    for j in range(len(p.columns) if p.cw >= 4 else 0):
        sheet.line([(j * p.cw + p.cw - 1, 0), (j * p.cw + p.cw - 1, h)], paint.WHITE)
    for k in range(len(p.rows) if p.rh >= 4 else 0):
        sheet.line([(0, k * p.rh + p.rh - 1), (w, k * p.rh + p.rh - 1)], paint.WHITE)
    big = p.cw >= 5 and p.rh >= 5
    for j, k in crosses if big else []:
        x0, y0, x1, y1 = j * p.cw + 1, k * p.rh + 1, j * p.cw + p.cw - 3, k * p.rh + p.rh - 3
        sheet.line([(x0, y0), (x1, y1)], paint.WHITE)
        sheet.line([(x0, y1), (x1, y0)], paint.WHITE)
    for j, k in rings:  # a redo's step: a purple ring (small cells: all purple)
        box = [j * p.cw, k * p.rh, j * p.cw + max(p.cw - 2, 0), k * p.rh + max(p.rh - 2, 0)]
        if big:
            sheet.draw.rectangle(box, outline=paint.index(paint.REDO_RGB))
        else:
            sheet.rect(box, paint.REDO_RGB)
    return sheet.image


def _text_line(line, face, width: float):
    """One line of the canvas text: its runs in their colours, the new ones underlined."""
    colours = {"mask": paint.MASK_TEXT, "given": paint.GIVEN_TEXT, "muted": paint.MUTED_TEXT}
    paper = paint.Paper((width, face.height), paint.MASKED_BG)
    for x, run, kind in line:
        paper.text((x, 0), run, face, colours.get(kind, paint.BLACK), paint.MASKED_BG)
        if kind == "new":  # from the first letter: a piece's leading space is not underlined
            start = x + face.width(run[: len(run) - len(run.lstrip())])
            paper.line([(start, face.height - 2), (x + face.width(run), face.height - 2)], paint.NOW_RGB, width=2)
    return paper.image


def gif_frames(traj: Trajectory, cell: int = 8, max_frames: int = 80, *, text: bool = True):
    """(frames, GifLayout): the GIF's frames as images in its palette (mode "P"), one per step in
    `layout.steps`. `text=False` draws the same frames with every piece of text left out."""
    from PIL import ImageDraw

    grid = cell_grid(traj)
    shown = frame_steps(len(grid), max_frames)
    p = _plan(traj, grid, cell, shown)
    small, body = p.faces["small"], p.faces["text"]
    paper = paint.Paper((p.width, p.height))
    paper.rect([MARGIN, p.text_y, p.width - MARGIN - 1, p.text_y + p.text_h - 1], paint.MASKED_BG)
    bar = _draw_legend(paper, p, text)
    if text:
        _draw_axes(paper, p, traj)
    heat = _heat(grid, p) if p.columns and p.rows else None
    frames, drawn, inner = [], {}, p.width - 2 * MARGIN
    status = f"{traj.model.get('name') or 'model'} · {'fill in the blanks' if traj.mode == 'infill' else 'answer'}"
    for upto, lines in zip(shown, p.lines):
        frame = paper.image.copy()
        reached = bisect.bisect_left(p.columns, upto)
        if heat is not None and reached:
            frame.paste(heat.crop((0, 0, reached * p.cw, len(p.rows) * p.rh)), (p.heat_x, p.heat_y))
        if reached:  # the step marker above the last column reached
            cx = p.heat_x + (reached - 1) * p.cw + p.cw // 2
            ImageDraw.Draw(frame).polygon([(cx - 3, p.heat_y - 6), (cx + 3, p.heat_y - 6), (cx, p.heat_y - 2)],
                                          fill=paint.index(paint.NOW_RGB))
        if text:
            line = paint.Paper((inner, small.height))
            line.text((0, 0), small.fit(f"{status} · step {upto} of {p.n}", inner), small, paint.GIVEN_TEXT)
            frame.paste(line.image, (MARGIN, MARGIN + p.faces["title"].height + 2))
            for r, runs in enumerate(lines):
                key = tuple(tuple(run) for run in runs)
                if key not in drawn:  # most lines are as in the frame before: each is drawn once
                    drawn[key] = _text_line(runs, body, inner - 2 * PAD)
                frame.paste(drawn[key], (MARGIN + PAD, p.text_y + PAD + r * body.height))
        frames.append(frame)
    return frames, _layout(p, shown, bar)


def _layout(p: _Plan, shown: list[int], bar) -> GifLayout:
    heat = (p.heat_x, p.heat_y, p.heat_x + len(p.columns) * p.cw, p.heat_y + len(p.rows) * p.rh)
    return GifLayout(
        size=(p.width, p.height), title=(MARGIN, MARGIN, p.width - MARGIN, p.text_y),
        text=(MARGIN, p.text_y, p.width - MARGIN, p.text_y + p.text_h), heat=heat,
        labels=(MARGIN, p.heat_y, p.heat_x, p.heat_y + p.heat_area),
        legend=(MARGIN, p.legend_y, p.width - MARGIN, p.legend_y + p.legend_h), bar=bar, steps=shown,
        columns=p.columns, rows=p.rows, cell=(p.cw, p.rh), font=p.faces["text"].name, row_labels=dict(p.labels))


def encode_gif(frames, durations: list[int]) -> bytes:
    """The frames (in the GIF's palette) as a looping GIF; each after the first keeps only the pixels
    that changed, the rest transparent (what Pillow's writer would work out, slowly, in Python)."""
    from PIL import Image, ImageChops

    changed_lut = [0] + [255] * 255
    out = frames[:1]
    for previous, current in zip(frames, frames[1:]):
        a, b = (Image.frombytes("L", im.size, im.tobytes()) for im in (previous, current))
        delta = Image.new("P", current.size, paint.TRANSPARENT)
        delta.putpalette(paint.flat_palette())
        delta.paste(current, mask=ImageChops.difference(a, b).point(changed_lut))
        out.append(delta)
    buffer = io.BytesIO()
    out[0].save(buffer, format="GIF", save_all=True, append_images=out[1:], duration=durations, loop=0,
                transparency=paint.TRANSPARENT, disposal=1, palette=list(paint.flat_palette()), optimize=False)
    return buffer.getvalue()
