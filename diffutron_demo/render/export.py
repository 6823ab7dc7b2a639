"""Exports that play a run with no server: a standalone HTML player and an animated GIF."""

from __future__ import annotations

import bisect
import functools
import io
from dataclasses import dataclass

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


# -- the animated GIF --------------------------------------------------------------------------------
# Fonts tried for the GIF's text, in order: Pillow's own sized font if it has Turkish letters (the one
# Pillow 10.1-12 bundles, Aileron, has Latin letters only), then these files, which Pillow looks up by
# name in the system's font folders (Linux, macOS, Windows). With none of them, text is drawn in
# ASCII (ş -> s, ▒ -> #) with whatever font Pillow has.
FONT_FILES = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf", "FreeSans.ttf",
              "Arial Unicode.ttf", "arialuni.ttf", "Arial.ttf", "arial.ttf", "segoeui.ttf", "Verdana.ttf")
TURKISH = "çğıöşüÇĞİÖŞÜ"
MASK_MARK, ELLIPSIS, NEWLINE = "▒", "…", "⏎"
ASCII_FALLBACK = {"ç": "c", "ğ": "g", "ı": "i", "ö": "o", "ş": "s", "ü": "u", "Ç": "C", "Ğ": "G", "İ": "I",
                  "Ö": "O", "Ş": "S", "Ü": "U", MASK_MARK: "#", "✕": "x", ELLIPSIS: "...", NEWLINE: "/",
                  "·": ".", "⇥": ">", "∅": "0", "→": "->", "–": "-", "—": "-", "“": '"', "”": '"', "‘": "'",
                  "’": "'", "×": "x"}
GIF_FONT_SIZES = {"title": 13, "text": 12, "small": 10}
GIF_HEAT_MAX = (640, 640)  # the heatmap's largest drawing area (px): cells shrink, then steps/rows are sampled
GIF_MIN_CELL = 2
GIF_ROW_PITCH = 10  # px between two row labels
GIF_MIN_WIDTH = 560
GIF_TEXT_LINES = 8  # the canvas text's most lines (longer text ends in "…")
GIF_LABEL_CHARS = 8
GIF_LEVELS = 64  # confidence levels drawn (one GIF palette for every frame)


class _Face:
    """A font, what it can draw, and text cleaned for it (cached: pieces repeat)."""

    def __init__(self, font):
        from PIL import ImageFont

        self.font = font
        self.scalable = isinstance(font, ImageFont.FreeTypeFont)
        if self.scalable:
            ascent, descent = font.getmetrics()
            self.height = ascent + descent
            self._missing = self._glyph("\uffff")  # a character no font maps: the "missing" box
        else:
            self.height = font.getbbox("Ag")[3] + 2
        self._has: dict[str, bool] = {}
        self._clean: dict[str, str] = {}
        self._width: dict[str, float] = {}

    def _glyph(self, ch: str):
        mask = self.font.getmask(ch)
        return mask.size, bytes(mask)

    def has(self, ch: str) -> bool:
        known = self._has.get(ch)
        if known is None:
            if not self.scalable:  # the bitmap font: ASCII
                known = " " <= ch <= "~"
            else:
                known = ch == " " or self._glyph(ch) != self._missing
            self._has[ch] = known
        return known

    def covers(self, chars: str) -> bool:
        return all(self.has(ch) for ch in chars)

    @property
    def unicode(self) -> bool:
        return self.covers(TURKISH + MASK_MARK + "✕" + ELLIPSIS + NEWLINE)

    def clean(self, text: str) -> str:
        """`text` with what the font lacks replaced (ASCII look-alikes, else "?"), control characters dropped."""
        done = self._clean.get(text)
        if done is None:
            import unicodedata

            out = []
            for ch in text:
                if unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
                    continue
                if self.has(ch):
                    out.append(ch)
                    continue
                alt = ASCII_FALLBACK.get(ch)
                if alt is None:
                    alt = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode() or "?"
                out.append(alt if all(self.has(a) for a in alt) else "?")
            done = self._clean[text] = "".join(out)
        return done

    def width(self, text: str) -> float:
        w = self._width.get(text)
        if w is None:
            w = self._width[text] = self.font.getlength(text) if text else 0.0
        return w

    def fit(self, text: str, width: float) -> str:
        """`text` (cleaned), cut with "…" to fit `width`."""
        text = self.clean(text)
        if self.width(text) <= width:
            return text
        dots = self.clean(ELLIPSIS)
        lo, hi = 0, len(text)
        while lo < hi:  # the longest prefix that fits with the dots
            mid = (lo + hi + 1) // 2
            if self.width(text[:mid].rstrip() + dots) <= width:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo].rstrip() + dots if lo else (dots if self.width(dots) <= width else "")


def _gif_fonts():
    """Fonts to try, best first: (where it comes from: "load_default" or a file's path, the font)."""
    from PIL import ImageFont

    try:
        yield "load_default", ImageFont.load_default(size=12)  # scalable in Pillow >= 10.1 (with FreeType)
    except (TypeError, OSError, ImportError, AttributeError):
        pass
    for name in FONT_FILES:
        try:
            font = ImageFont.truetype(name, 12, layout_engine=ImageFont.Layout.BASIC)
        except (OSError, ValueError, ImportError):
            continue
        yield font.path, font


@functools.lru_cache(maxsize=None)
def _gif_font_source():
    """A font with Turkish letters and the symbols drawn ("load_default", a file path), or None."""
    from PIL import ImageFont

    for source, font in _gif_fonts():
        if isinstance(font, ImageFont.FreeTypeFont) and _Face(font).unicode:
            return source
    return None


@functools.lru_cache(maxsize=None)
def _gif_face(size: int) -> _Face:
    from PIL import ImageFont

    source = _gif_font_source()
    if source and source != "load_default":
        return _Face(ImageFont.truetype(source, size, layout_engine=ImageFont.Layout.BASIC))
    try:
        return _Face(ImageFont.load_default(size=size))
    except (TypeError, OSError, ImportError, AttributeError):
        return _Face(ImageFont.load_default())  # the bitmap font (ASCII)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[k : k + 2], 16) for k in (1, 3, 5))


def _faint(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """A draft's colour: the confidence colour blended with white."""
    return tuple(int(255 - (255 - v) * 0.35) for v in rgb)


_CIVIDIS = [palette.rgb(k / (GIF_LEVELS - 1)) for k in range(GIF_LEVELS)]
_FAINT = [_faint(c) for c in _CIVIDIS]
_WHITE, _BLACK = (255, 255, 255), (0, 0, 0)
_MASKED_BG = _rgb(palette.PLOT_BG)  # a masked cell with no draft (a step not reached yet stays white)
_TEXT_GIVEN, _TEXT_MUTED = (85, 85, 85), _rgb(palette.MUTED)
_NAMED = [_WHITE, _BLACK, _MASKED_BG, _rgb(palette.FORCED), _rgb(palette.PIN), _rgb(palette.REDO),
          _rgb(palette.NOW), _rgb(palette.MASK_FG), _TEXT_GIVEN, _TEXT_MUTED]


def _level(conf: float | None) -> int:
    return GIF_LEVELS - 1 if conf is None else round(min(max(conf, 0.0), 1.0) * (GIF_LEVELS - 1))


_TRANSPARENT = 255  # the palette index of "as in the previous frame"


@functools.lru_cache(maxsize=None)
def _gif_palette():
    """The one palette every frame is drawn in: the marks, cividis, its faint drafts and greys (anti-aliased
    text), each colour once; the last index is kept for "unchanged" (transparent) pixels."""
    from PIL import Image

    greys = [(v, v, v) for v in (round(k * 255 / 47) for k in range(48))]
    colours = list(dict.fromkeys(_NAMED + _CIVIDIS + _FAINT + greys))[:_TRANSPARENT]
    filler = [(1, 2, k) for k in range(256)]  # unused and distinct: the writer maps colours back to indices
    colours += [c for c in filler if c not in colours][: 256 - len(colours)]
    image = Image.new("P", (1, 1))
    image.putpalette([v for c in colours for v in c])
    return image


@functools.lru_cache(maxsize=None)
def _palette_lookup() -> dict[tuple[int, int, int], int]:
    flat = _gif_palette().getpalette()
    out = {}
    for k in range(_TRANSPARENT):
        out.setdefault(tuple(flat[3 * k : 3 * k + 3]), k)
    return out


def _index(rgb: tuple[int, int, int]) -> int:
    """The palette index of a colour drawn here (each is in the palette), else the nearest."""
    exact = _palette_lookup().get(rgb)
    if exact is not None:
        return exact
    return min(_palette_lookup().items(), key=lambda kv: sum((a - b) ** 2 for a, b in zip(kv[0], rgb)))[1]


@functools.lru_cache(maxsize=None)
def _blend_lut(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> tuple[int, ...]:
    """Text coverage (0-255) -> the palette index nearest to `fg` over `bg` at that coverage."""
    levels = [_index(tuple(round(b + (f - b) * a / 63) for f, b in zip(fg, bg))) for a in range(64)]
    return tuple(levels[v >> 2] for v in range(256))


_ON = tuple([0] + [255] * 255)  # coverage -> a paste mask: copy where any ink is


class _Paper:
    """A picture drawn straight in the GIF's palette: shapes in their exact colours, text anti-aliased
    through the palette's nearest colours (the greys, for the text colours used here). Converting an RGB
    picture instead (Pillow's quantize) moves colours by a few units: white would come out off-white."""

    def __init__(self, size: tuple[int, int], bg: tuple[int, int, int] = _WHITE):
        from PIL import Image, ImageDraw

        self.image = Image.new("P", (max(1, int(size[0])), max(1, int(size[1]))), _index(bg))
        self.image.putpalette(_gif_palette().getpalette())
        self.draw = ImageDraw.Draw(self.image)

    def rect(self, box, fill, outline=None):
        self.draw.rectangle(box, fill=_index(fill), outline=None if outline is None else _index(outline))

    def line(self, xy, fill, width: int = 1):
        self.draw.line(xy, fill=_index(fill), width=width)

    def ink(self, coverage, xy, fill, bg=_WHITE):
        """Paste text coverage (an "L" image) at `xy` in `fill` over a `bg` background."""
        from PIL import Image

        ink = Image.frombytes("P", coverage.size, coverage.point(_blend_lut(fill, bg)).tobytes())
        self.image.paste(ink, (int(round(xy[0])), int(round(xy[1]))), coverage.point(_ON))

    def text(self, xy, text: str, face: "_Face", fill=_BLACK, bg=_WHITE):
        if text:
            self.ink(_coverage(text, face), xy, fill, bg)


def _coverage(text: str, face: "_Face"):
    """`text`'s coverage: an "L" image, 255 where fully inked."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (int(face.width(text)) + 2, face.height), 0)
    ImageDraw.Draw(image).text((0, 0), text, font=face.font, fill=255)
    return image


def _cell_rgb(c) -> tuple[int, int, int]:
    if c.state == MASKED:
        return _rgb(palette.REDO) if c.event == "redo" else _MASKED_BG
    if c.state == FORCED:
        return _rgb(palette.FORCED)
    if c.state == PINNED:
        return _rgb(palette.PIN)
    level = _level(c.conf)
    return _FAINT[level] if c.state == PROPOSED else _CIVIDIS[level]


def _sample(count: int, cap: int, want: int, last: bool) -> tuple[int, list[int]]:
    """(cell size in px, the indices drawn): all of them while `count` cells of at least GIF_MIN_CELL px
    fit in `cap` px, else an even sample (the last index of each bucket if `last`, else the first)."""
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
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is >= `at_least`."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if base * m >= at_least:
                return base * m
        base *= 10


def _label_piece(text: str) -> str:
    """A token as a row label shows it: spaces as ·, line breaks as ⏎ (as the player shows them)."""
    text = text.replace("\n", NEWLINE).replace("\t", "⇥").replace(" ", "·") or "∅"
    return text if len(text) <= GIF_LABEL_CHARS else text[: GIF_LABEL_CHARS - 1] + ELLIPSIS


def _canvas_snapshots(traj: Trajectory, shown: list[int]) -> list[list[tuple[str, str]]]:
    """For each step in `shown`: the canvas after it as (text, kind) tokens, kind one of "given",
    "written", "new" (written since the previous frame), "mask", "muted". Built step by step as
    Trajectory.canvas_at builds it; committed padding (pad, eos, bos) is counted, not drawn."""
    mask = traj.special_ids["mask"]
    specials = {traj.special_ids[k] for k in ("pad", "eos", "bos") if traj.special_ids.get(k) is not None}
    slots, start = set(traj.slots), traj.prompt_len
    canvas, written = list(traj.initial_ids), {}
    wanted, out, previous = set(shown), [], 0

    def snapshot(upto: int):
        tokens, pads = [], 0
        for pos in range(start, len(canvas)):
            token = canvas[pos]
            if token == mask:
                tokens.append((MASK_MARK, "mask"))
            elif token in specials:
                pads += 1
            else:
                kind = "given" if pos not in slots or pos not in written else \
                    "new" if written[pos] > previous else "written"
                tokens.append((traj.piece(token), kind))
        if pads:
            tokens.append((f" +{pads} padding", "muted"))
        return tokens

    if 0 in wanted:
        out.append(snapshot(0))
    for s, record in enumerate(traj.steps, start=1):
        proposals = record.proposals()
        for edit in record.forced:
            if edit.before_step:
                canvas[edit.pos], written[edit.pos] = edit.token, s
        for pos in record.committed:
            canvas[pos], written[pos] = proposals.get(pos, traj.final_ids[pos]), s
        for edit in record.forced:
            if not edit.before_step:
                canvas[edit.pos], written[edit.pos] = edit.token, s
        if s in wanted:
            out.append(snapshot(s))
            previous = s
    return out


def _wrap(tokens: list[tuple[str, str]], face: _Face, width: float, max_lines: int):
    """Lines of (x, text, kind) runs: words stay whole where they fit, a piece's line break breaks the
    line, and text past `max_lines` ends in "…"."""
    lines: list[list[list]] = [[]]
    x, previous_kind, ended = 0.0, None, False

    def newline():
        nonlocal x
        lines.append([])
        x = 0.0

    def put(text, kind):
        nonlocal x
        line = lines[-1]
        if line and line[-1][2] == kind and line[-1][0] + face.width(line[-1][1]) == x:
            line[-1][1] += text  # one run per kind: fewer draw calls
        else:
            line.append([x, text, kind])
        x += face.width(text)

    for k, (raw, kind) in enumerate(tokens):
        breaks = raw.count("\n") + raw.count("\r") > 0
        text = face.clean(raw.replace("\r", "").replace("\n", NEWLINE).replace("\t", "⇥"))
        if not text:
            continue
        starts_word = kind in ("mask", "muted") or previous_kind == "mask" or text[0].isspace() or ended
        if starts_word and x > 0:
            # the whole word (this piece and the ones glued to it) goes to the next line if it does not fit
            word = face.width(text)
            for raw2, kind2 in tokens[k + 1 :]:
                if kind2 in ("mask", "muted") or raw2[:1].isspace() or "\n" in raw2 or not raw2:
                    break
                word += face.width(face.clean(raw2))
            if x + min(word, width) > width:
                newline()
        if x == 0:
            text = text.lstrip() or text
        if x > 0 and x + face.width(text) > width:
            newline()
        if face.width(text) > width:
            text = face.fit(text, width)
        put(text, kind)
        previous_kind, ended = kind, False
        if breaks:
            newline()
            ended = True
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        dots = face.clean(ELLIPSIS)
        last = lines[-1]
        while last and last[-1][0] + face.width(last[-1][1] + dots) > width:
            run = last[-1]
            run[1] = run[1][:-1]
            if not run[1]:
                last.pop()
        end = last[-1][0] + face.width(last[-1][1]) if last else 0.0
        last.append([end, dots, "muted"])
    return lines


_TEXT_COLOURS = {"mask": _rgb(palette.MASK_FG), "given": _TEXT_GIVEN, "muted": _TEXT_MUTED}


def _text_line(line, face: _Face, width: float):
    """One line of the canvas text: its runs in their colours, new ones underlined."""
    paper = _Paper((width, face.height), _MASKED_BG)
    for x, run, kind in line:
        paper.text((x, 0), run, face, _TEXT_COLOURS.get(kind, _BLACK), _MASKED_BG)
        if kind == "new":  # underlined from its first letter (a piece's leading space is not underlined)
            start = x + face.width(run[: len(run) - len(run.lstrip())])
            paper.line([(start, face.height - 2), (x + face.width(run), face.height - 2)], _rgb(palette.NOW), width=2)
    return paper.image


@dataclass
class GifLayout:
    """Where a GIF's parts are (px boxes (left, top, right, bottom)), and what its frames and cells show."""
    size: tuple[int, int]
    title: tuple[int, int, int, int]
    text: tuple[int, int, int, int]  # the canvas text
    heat: tuple[int, int, int, int]  # the heatmap's cells
    labels: tuple[int, int, int, int]  # the row labels
    legend: tuple[int, int, int, int]
    bar: tuple[int, int, int, int]  # the legend's confidence scale
    steps: list[int]  # the steps the frames show (0 = before the first step)
    columns: list[int]  # the step (index) each heatmap column shows
    rows: list[int]  # the answer position each heatmap row shows
    font: str  # the font's name, "(bitmap)" for Pillow's ASCII bitmap font


def _frame_steps(n: int, max_frames: int) -> list[int]:
    """The steps shown: the start (all masked), then evenly to the last step, at most `max_frames`."""
    if n == 0:
        return [0]
    if max_frames <= 1:
        return [n]
    every = -(-n // (max_frames - 1))
    shown = [0] + list(range(every, n + 1, every))
    if shown[-1] != n:
        shown.append(n)
    return shown


def _legend_items(traj: Trajectory, faces) -> list[tuple[float, list]]:
    """The legend's entries: (width, [(dx, op, args)]) with op "text", "swatch" or "bar"."""
    small = faces["small"]
    sw = 11
    redo = any(e.kind == "redo" for st in traj.steps for e in st.forced)
    items = []

    def entry(parts):
        x, ops = 0.0, []
        for op, arg in parts:
            if op == "text":
                text = small.clean(arg)
                ops.append((x, "text", text))
                x += small.width(text) + 4
            elif op == "swatch":
                ops.append((x, "swatch", arg))
                x += sw + 4
            else:  # the bar
                ops.append((x, "bar", arg))
                x += arg + 4
        items.append((x, ops))

    entry([("text", "confidence 0"), ("bar", 120), ("text", "1")])
    entry([("swatch", (_FAINT[45], "")), ("text", "faint: draft (still masked)")])
    entry([("swatch", (_CIVIDIS[45], "")), ("text", "solid: committed")])
    entry([("swatch", (_MASKED_BG, "")), ("text", "grey: masked, no draft")])
    entry([("swatch", (_rgb(palette.FORCED), "x")), ("text", "✕ red: stop check")])
    entry([("swatch", (_rgb(palette.PIN), "")), ("text", "pink: pin")])
    if redo:
        entry([("swatch", (_rgb(palette.REDO), "")), ("text", "purple: masked again (redo)")])
    entry([("text", f"text: {MASK_MARK} masked, underlined = new in this frame")])
    return items


def gif_frames(traj: Trajectory, cell: int = 8, max_frames: int = 80, *, text: bool = True):
    """The GIF's frames (images in the GIF's palette, mode "P") and where their parts are. Each frame: a title (the question, the
    model, the step), the canvas text after that step, the heatmap so far (rows = answer positions,
    columns = steps) with its axes and row labels (answer position and final token), and a legend.
    `text=False` leaves every piece of text out (the same picture otherwise)."""
    from PIL import Image, ImageDraw

    faces = {k: _gif_face(v) for k, v in GIF_FONT_SIZES.items()}
    title_face, body, small = faces["title"], faces["text"], faces["small"]
    grid = cell_grid(traj)
    n, L = len(grid), traj.answer_len
    shown = _frame_steps(n, max_frames)
    margin = 8

    # The heatmap: columns = steps, rows = answer positions; small runs get bigger cells.
    cw, columns = _sample(n, GIF_HEAT_MAX[0], max(cell, min(3 * cell, 384 // max(n, 1))), last=True)
    rh, rows = _sample(L, GIF_HEAT_MAX[1], max(cell, GIF_ROW_PITCH, min(2 * cell, 240 // max(L, 1))), last=False)
    heat_w, heat_h = len(columns) * cw, len(rows) * rh
    label_every = _nice(GIF_ROW_PITCH / rh) if rows else 1
    labels = {k: f"{rows[k]} {_label_piece(traj.piece(traj.final_ids[traj.slots[rows[k]]]))}"
              for k in range(0, len(rows), label_every)}
    labels = {k: small.fit(v, 120) for k, v in labels.items()}
    label_w = int(max((small.width(v) for v in labels.values()), default=0)) + 6
    side = small.height + 4  # the rotated "answer position"
    step_title = small.clean("step →")
    heat_x = margin + side + max(label_w, int(small.width(step_title)) + 6)
    width = max(GIF_MIN_WIDTH, heat_x + heat_w + 16)
    inner = width - 2 * margin

    # Heights, top to bottom: title (2 lines), canvas text, step axis, heatmap, legend.
    question = (last_question(traj.prompt.get("text", "")) if traj.mode != "infill" else
                traj.prompt.get("input") or traj.prompt.get("text", ""))
    question = " ".join(str(question).split()) or "(no question)"
    title_y = margin
    text_y = title_y + title_face.height + small.height + 6
    pad = 4
    snapshots = _canvas_snapshots(traj, shown)
    wrapped = [_wrap(tokens, body, inner - 2 * pad, GIF_TEXT_LINES) for tokens in snapshots]
    text_h = max(len(lines) for lines in wrapped) * body.height + 2 * pad
    axis_y = text_y + text_h + 6
    heat_y = axis_y + small.height + 8
    side_len = int(small.width(small.clean("answer position"))) + 8
    heat_area = max(heat_h, side_len)
    legend_y = heat_y + heat_area + 10
    items = _legend_items(traj, faces)
    placed, x, y = [], 0.0, 0.0
    line_h = max(small.height, 12) + 4
    for w, ops in items:
        if x and x + w > inner:
            x, y = 0.0, y + line_h
        placed.append((margin + x, legend_y + y, ops))
        x += w + 14
    legend_h = int(y + line_h)
    height = legend_y + legend_h + margin

    # The static parts, drawn in the GIF's palette: every frame starts as a copy of this.
    paper = _Paper((width, height))
    paper.rect([margin, text_y, width - margin - 1, text_y + text_h - 1], _MASKED_BG)
    bar_box = (0, 0, 0, 0)
    for px, py, ops in placed:
        for dx, op, arg in ops:
            x0, y0 = int(px + dx), int(py)
            if op == "bar":
                for k in range(arg):
                    paper.line([(x0 + k, y0 + 1), (x0 + k, y0 + 11)], _CIVIDIS[_level(k / (arg - 1))])
                bar_box = (x0, y0 + 1, x0 + arg, y0 + 12)
            elif op == "swatch":
                colour, mark = arg
                paper.rect([x0, y0 + 1, x0 + 10, y0 + 11], colour, outline=(200, 200, 200))
                if mark:
                    paper.line([(x0 + 2, y0 + 3), (x0 + 8, y0 + 9)], _WHITE, width=2)
                    paper.line([(x0 + 2, y0 + 9), (x0 + 8, y0 + 3)], _WHITE, width=2)
            elif text:
                paper.text((x0, y0), arg, small)
    if text:
        paper.text((margin, title_y), title_face.fit(question, inner), title_face)
        # "step →" and tick numbers along the top; "answer position" up the left side; the row labels.
        paper.text((heat_x - 4 - small.width(step_title), axis_y), step_title, small)
        if columns:
            every = _nice(30 / (heat_w / n))
            right = -1e9
            for t in [1] + list(range(every, n + 1, every)):
                j = bisect.bisect_left(columns, t - 1)
                label = str(t)
                cx = heat_x + j * cw + cw // 2
                left = cx - small.width(label) / 2
                if j >= len(columns) or left < right + 6:
                    continue
                paper.text((left, axis_y), label, small)
                paper.line([(cx, heat_y - 3), (cx, heat_y - 1)], _TEXT_MUTED)
                right = left + small.width(label)
        strip = _coverage(small.clean("answer position"), small).rotate(90, expand=True)
        paper.ink(strip, (margin, heat_y + max(0, (min(heat_area, 400) - strip.height) // 2)), _BLACK)
        for k, label in labels.items():
            paper.text((heat_x - 4 - small.width(label), heat_y + k * rh + rh / 2 - small.height / 2), label, small)
    base = paper.image

    # The heatmap, all steps: one pixel per cell (a palette index), scaled up; frames paste the columns reached.
    heat = None
    if columns and rows:
        buffer, cache, crosses = bytearray(), {}, []
        for k, i in enumerate(rows):
            for j, s in enumerate(columns):
                c = grid[s][i]
                key = (c.state, c.event, _level(c.conf))
                index = cache.get(key)
                if index is None:
                    index = cache[key] = _index(_cell_rgb(c))
                buffer.append(index)
                if c.state == FORCED and c.event:
                    crosses.append((j, k))
        small_heat = Image.frombytes("P", (len(columns), len(rows)), bytes(buffer))
        sheet = _Paper((heat_w, heat_h))
        sheet.image.paste(small_heat.resize((heat_w, heat_h), Image.Resampling.NEAREST))
        if cw >= 4:
            for j in range(len(columns)):
                sheet.line([(j * cw + cw - 1, 0), (j * cw + cw - 1, heat_h)], _WHITE)
        if rh >= 4:
            for k in range(len(rows)):
                sheet.line([(0, k * rh + rh - 1), (heat_w, k * rh + rh - 1)], _WHITE)
        if cw >= 5 and rh >= 5:
            for j, k in crosses:
                x0, y0, x1, y1 = j * cw + 1, k * rh + 1, j * cw + cw - 3, k * rh + rh - 3
                sheet.line([(x0, y0), (x1, y1)], _WHITE)
                sheet.line([(x0, y1), (x1, y0)], _WHITE)
        heat = sheet.image

    frames, drawn_lines, now = [], {}, _index(_rgb(palette.NOW))
    model = traj.model.get("name") or "model"
    what = "fill in the blanks" if traj.mode == "infill" else "answer"
    for upto, lines in zip(shown, wrapped):
        frame = base.copy()
        reached = bisect.bisect_left(columns, upto)
        if heat is not None and reached:
            frame.paste(heat.crop((0, 0, reached * cw, heat_h)), (heat_x, heat_y))
        if reached:  # the step marker above the last column reached
            cx = heat_x + (reached - 1) * cw + cw // 2
            ImageDraw.Draw(frame).polygon([(cx - 3, heat_y - 6), (cx + 3, heat_y - 6), (cx, heat_y - 2)], fill=now)
        if text:
            status = _Paper((inner, small.height))
            status.text((0, 0), small.fit(f"{model} · {what} · step {upto} of {n}", inner), small, _TEXT_GIVEN)
            frame.paste(status.image, (margin, title_y + title_face.height + 2))
            for r, line in enumerate(lines):
                key = tuple(tuple(run) for run in line)
                image = drawn_lines.get(key)
                if image is None:  # most lines are the same as in the frame before: draw each once
                    image = drawn_lines[key] = _text_line(line, body, inner - 2 * pad)
                frame.paste(image, (margin + pad, text_y + pad + r * body.height))
        frames.append(frame)
    layout = GifLayout(
        size=(width, height), title=(margin, title_y, width - margin, text_y),
        text=(margin, text_y, width - margin, text_y + text_h), heat=(heat_x, heat_y, heat_x + heat_w, heat_y + heat_h),
        labels=(margin, heat_y, heat_x, heat_y + heat_area), legend=(margin, legend_y, width - margin, legend_y + legend_h),
        bar=bar_box, steps=shown, columns=columns, rows=rows,
        font=" ".join(body.font.getname()) if body.scalable else "(bitmap)",
    )
    return frames, layout


def gif_bytes(traj: Trajectory, cell: int = 8, max_frames: int = 80, frame_ms: int = 90) -> bytes:
    """An animated GIF of the run (Pillow, which Gradio already depends on): the heatmap filling in,
    with the question, the canvas text at each frame's step, axes, row labels and a legend (see
    `gif_frames`). At most `max_frames` frames; the last one holds for two seconds."""
    frames, _ = gif_frames(traj, cell=cell, max_frames=max_frames)
    return _encode_gif(frames, [frame_ms] * (len(frames) - 1) + [max(frame_ms, 2000)])


def _encode_gif(frames, durations: list[int]) -> bytes:
    """Frames in the GIF's palette; each one after the first keeps only the pixels that changed (the rest
    transparent), which the GIF writer would otherwise work out slowly in Python."""
    from PIL import Image, ImageChops

    pal, images = _gif_palette(), frames
    changed_lut = [0] + [255] * 255
    out = images[:1]
    for previous, current in zip(images, images[1:]):
        a, b = (Image.frombytes("L", im.size, im.tobytes()) for im in (previous, current))
        changed = ImageChops.difference(a, b).point(changed_lut)
        delta = Image.new("P", current.size, _TRANSPARENT)
        delta.putpalette(pal.getpalette())
        delta.paste(current, mask=changed)
        out.append(delta)
    buffer = io.BytesIO()
    out[0].save(buffer, format="GIF", save_all=True, append_images=out[1:], duration=durations, loop=0,
                transparency=_TRANSPARENT, disposal=1, palette=pal.getpalette(), optimize=False)
    return buffer.getvalue()
