"""One palette for every picture: the Python colours, plotly's scale and the exported player's
JavaScript all read these stops and names.

Confidence is cividis (readable with red-green colour blindness and in grayscale): a few of its
stops, interpolated linearly in the same way everywhere.
"""

from __future__ import annotations

CIVIDIS = ((0.0, (0, 34, 78)), (0.25, (65, 77, 107)), (0.5, (124, 123, 120)), (0.75, (188, 175, 111)),
           (1.0, (254, 232, 56)))
PLOTLY_SCALE = [[x, "rgb(%d,%d,%d)" % rgb] for x, rgb in CIVIDIS]

FORCED = "#d62728"  # the stop check's overwrite: not a remasking decision
PIN = "#f4a6c1"  # a branch's pin: the person's choice (a diamond marks it too)
REDO = "#9467bd"  # a position masked again for a redo (a ring marks it)
NOW = "#e45756"  # committed at this step; the step marker
BLOCK_EDGE = "#444444"
SPLIT = "#000000"  # where a branch leaves its run
MASK_BG, MASK_FG = "#f2f2f2", "#6b6b6b"  # a masked slot in the canvas
DIFF = "#fde68a"  # a word that differs between compared answers
MUTED = "#7f7f7f"  # secondary marks: history in the context bar, bars in the step chart
FREE = "#eeeeee"
PLOT_BG = "#f4f4f4"  # a plot's drawing area in the light theme
PLOT_BG_DARK = "#565d6b"  # in the dark theme: dark, yet cividis's navy end (low) and yellow end still stand out
GIVEN = "#c9cdd4"  # given text in a row (infill, or before a redo reached it)
UNKNOWN = "#9aa0a6"  # a value an older file did not record (entropy, margin)
BANNER_BG, BANNER_EDGE = "#fff4e5", "#f0b46c"


def rgb(value: float) -> tuple[int, int, int]:
    """Cividis at `value` in [0, 1]."""
    value = min(max(value, 0.0), 1.0)
    for (x0, c0), (x1, c1) in zip(CIVIDIS, CIVIDIS[1:]):
        if value <= x1:
            f = (value - x0) / (x1 - x0)
            return tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))
    return CIVIDIS[-1][1]


def colour(value: float) -> str:
    return "#%02x%02x%02x" % rgb(value)


def luminance(c: tuple[int, int, int]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    def channel(v):
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in c)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def text_on(value: float) -> str:
    """Black or white text, whichever contrasts more with the cividis colour at `value`."""
    background = rgb(value)
    return "#000" if contrast(background, (0, 0, 0)) >= contrast(background, (255, 255, 255)) else "#fff"


QUESTION, ANSWER = colour(0.0), colour(0.75)  # the context bar: the new question, the answer
# The step chart's lines, readable on a light and on a dark page: mean confidence, the cutoff, the gate.
LINE, CUTOFF, GATE = "#3a7bd5", colour(0.75), REDO


# What the browser player (render/player.js) draws with.
PLAYER_PALETTE = {
    "stops": [[x, list(c)] for x, c in CIVIDIS], "forced": FORCED, "pin": PIN, "redo": REDO, "now": NOW,
    "edge": BLOCK_EDGE, "split": SPLIT, "bg": PLOT_BG, "bg_dark": PLOT_BG_DARK, "given": GIVEN,
    "unknown": UNKNOWN,
}
