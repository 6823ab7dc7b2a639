"""The GIF's one palette and pictures drawn straight in it.

Every frame uses the same 256 colours: the marks (palette.py's stop check, pin, redo, step marker),
cividis at LEVELS confidence levels, the same levels faint (a draft: masked still), and greys for
anti-aliased text (every text colour here is a grey, over white or a light grey). Shapes are drawn
with their exact palette index. Drawing in RGB and converting (Pillow's quantize) would move colours
by a few units: white came out off-white.
"""

from __future__ import annotations

import functools

from ..record.cells import FORCED, MASKED, PINNED, PROPOSED
from . import palette

LEVELS = 64  # confidence levels drawn
TRANSPARENT = 255  # the palette index of "as in the frame before"


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[k : k + 2], 16) for k in (1, 3, 5))


def faint(c: tuple[int, int, int]) -> tuple[int, int, int]:
    """A draft's colour: the confidence colour blended with white."""
    return tuple(int(255 - (255 - v) * 0.35) for v in c)


CIVIDIS = [palette.rgb(k / (LEVELS - 1)) for k in range(LEVELS)]
FAINT = [faint(c) for c in CIVIDIS]
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
MASKED_BG = rgb(palette.PLOT_BG)  # a masked cell with no draft, and the canvas text's box
GIVEN_TEXT, MUTED_TEXT, EDGE = (85, 85, 85), rgb(palette.MUTED), (200, 200, 200)
FORCED_RGB, PIN_RGB, REDO_RGB, NOW_RGB, MASK_TEXT = (rgb(c) for c in (palette.FORCED, palette.PIN, palette.REDO,
                                                                       palette.NOW, palette.MASK_FG))
_GREYS = [(v, v, v) for v in (round(k * 255 / 47) for k in range(48))]
COLOURS = list(dict.fromkeys([WHITE, BLACK, MASKED_BG, FORCED_RGB, PIN_RGB, REDO_RGB, NOW_RGB, MASK_TEXT,
                              GIVEN_TEXT, MUTED_TEXT, EDGE] + CIVIDIS + FAINT + _GREYS))[:TRANSPARENT]
_INDEX = {c: k for k, c in enumerate(COLOURS)}


def level(conf: float | None) -> int:
    """The confidence level drawn for `conf` (None, a commit with no confidence recorded: 1)."""
    return LEVELS - 1 if conf is None else round(min(max(conf, 0.0), 1.0) * (LEVELS - 1))


def cell_colour(c) -> tuple[int, int, int]:
    """A heatmap cell's colour: cividis by confidence, faint while a draft; stop check, pin, redo marks."""
    if c.state == MASKED:
        return REDO_RGB if c.event == "redo" else MASKED_BG
    if c.state == FORCED:
        return FORCED_RGB
    if c.state == PINNED:
        return PIN_RGB
    k = level(c.conf)
    return FAINT[k] if c.state == PROPOSED else CIVIDIS[k]


@functools.lru_cache(maxsize=None)
def flat_palette() -> tuple[int, ...]:
    """The palette as 768 numbers; the unused entries distinct (the GIF writer maps colours to indices)."""
    filler = [(1, 2, k) for k in range(256) if (1, 2, k) not in _INDEX]
    colours = COLOURS + filler[: 256 - len(COLOURS)]
    return tuple(v for c in colours for v in c)


def index(c: tuple[int, int, int]) -> int:
    """The palette index of a colour (exact for each colour drawn here; else the nearest)."""
    exact = _INDEX.get(c)
    if exact is not None:
        return exact
    return min(_INDEX.items(), key=lambda kv: sum((a - b) ** 2 for a, b in zip(kv[0], c)))[1]


@functools.lru_cache(maxsize=None)
def _blend(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> tuple[int, ...]:
    """Text coverage (0-255) -> the palette index nearest to `fg` over `bg` at that coverage."""
    steps = [index(tuple(round(b + (f - b) * a / 63) for f, b in zip(fg, bg))) for a in range(64)]
    return tuple(steps[v >> 2] for v in range(256))


_ON = tuple([0] + [255] * 255)  # coverage -> a paste mask: copy wherever there is ink


def coverage(text: str, face):
    """`text` in `face` (a gif_text.Face) as an "L" image: 255 where fully inked."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (int(face.width(text)) + 2, face.height), 0)
    ImageDraw.Draw(image).text((0, 0), text, font=face.font, fill=255)
    return image


class Paper:
    """A picture in the GIF's palette (mode "P")."""

    def __init__(self, size: tuple[float, float], bg: tuple[int, int, int] = WHITE):
        from PIL import Image, ImageDraw

        self.image = Image.new("P", (max(1, int(size[0])), max(1, int(size[1]))), index(bg))
        self.image.putpalette(flat_palette())
        self.draw = ImageDraw.Draw(self.image)

    def rect(self, box, fill, outline=None):
        self.draw.rectangle(box, fill=index(fill), outline=None if outline is None else index(outline))

    def line(self, xy, fill, width: int = 1):
        self.draw.line(xy, fill=index(fill), width=width)

    def ink(self, cover, xy, fill, bg=WHITE):
        """Paste a coverage image at `xy` in `fill` over a `bg` background (anti-aliased through the palette)."""
        ink, mask = _inked(cover, fill, bg)
        self.image.paste(ink, (int(round(xy[0])), int(round(xy[1]))), mask)

    def text(self, xy, text: str, face, fill=BLACK, bg=WHITE):
        if text:
            ink, mask = _text_ink(face, text, fill, bg)
            self.image.paste(ink, (int(round(xy[0])), int(round(xy[1]))), mask)


def _inked(cover, fill, bg):
    """(the ink in palette indices, the paste mask: wherever there is ink)."""
    from PIL import Image

    return Image.frombytes("P", cover.size, cover.point(_blend(fill, bg)).tobytes()), cover.point(_ON)


@functools.lru_cache(maxsize=8192)
def _text_ink(face, text: str, fill, bg):
    """A text's ink and mask, kept: a run's tokens and labels are drawn again in every frame."""
    return _inked(coverage(text, face), fill, bg)
