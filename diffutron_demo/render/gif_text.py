"""The GIF's text: a font that has Turkish letters, text cleaned for the font, and the canvas text of
each frame (the run's tokens, masks as ▒) wrapped to the picture's width.

Fonts are tried in order: Pillow's own sized font if it has Turkish letters (the one Pillow 10.1 to 12
bundles, Aileron, has Latin letters only), then FONT_FILES, which Pillow looks up by name in the
system's font folders (Linux, macOS, Windows). With none of them the text is drawn in ASCII
(ş -> s, ▒ -> #) with the font Pillow has, its bitmap font at worst.
"""

from __future__ import annotations

import functools
import unicodedata

from ..record.trajectory import Trajectory

FONT_FILES = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf", "FreeSans.ttf",
              "Arial Unicode.ttf", "arialuni.ttf", "Arial.ttf", "arial.ttf", "segoeui.ttf", "Verdana.ttf")
TURKISH = "çğıöşüÇĞİÖŞÜ"
MASK_MARK, ELLIPSIS, NEWLINE, TAB = "▒", "…", "⏎", "⇥"
SYMBOLS = MASK_MARK + "✕" + ELLIPSIS + NEWLINE + "·→"  # the symbols the GIF draws
ASCII_FALLBACK = {"ç": "c", "ğ": "g", "ı": "i", "ö": "o", "ş": "s", "ü": "u", "Ç": "C", "Ğ": "G", "İ": "I",
                  "Ö": "O", "Ş": "S", "Ü": "U", MASK_MARK: "#", "✕": "x", ELLIPSIS: "...", NEWLINE: "/",
                  "·": ".", TAB: ">", "∅": "0", "→": "->", "–": "-", "—": "-", "“": '"', "”": '"', "‘": "'",
                  "’": "'", "×": "x"}
LABEL_CHARS = 8  # a row label's token, at most


class Face:
    """A font, what it can draw, and text cleaned and measured for it (cached: pieces repeat)."""

    def __init__(self, font):
        from PIL import ImageFont

        self.font = font
        self.scalable = isinstance(font, ImageFont.FreeTypeFont)
        if self.scalable:
            ascent, descent = font.getmetrics()
            self.height = ascent + descent
            self._missing = self._glyph("\uffff")  # a character no font maps: the "missing glyph" box
        else:
            self.height = font.getbbox("Ag")[3] + 2
        self._has: dict[str, bool] = {}
        self._clean: dict[str, str] = {}
        self._width: dict[str, float] = {}

    @property
    def name(self) -> str:
        return " ".join(self.font.getname()) if self.scalable else "(bitmap)"

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

    @property
    def unicode(self) -> bool:
        """Has it the Turkish letters and the symbols drawn?"""
        return all(self.has(ch) for ch in TURKISH + SYMBOLS)

    def clean(self, text: str) -> str:
        """`text` with what the font lacks replaced (an ASCII look-alike, else "?"), control characters
        dropped."""
        done = self._clean.get(text)
        if done is None:
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
        """`text`, cleaned, cut with "…" to fit `width` px."""
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


def _candidates():
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
def font_source() -> str | None:
    """Where the GIF's font comes from ("load_default" or a file's path), or None: no font with
    Turkish letters and the symbols (text falls back to ASCII)."""
    from PIL import ImageFont

    for source, font in _candidates():
        if isinstance(font, ImageFont.FreeTypeFont) and Face(font).unicode:
            return source
    return None


@functools.lru_cache(maxsize=None)
def face(size: int) -> Face:
    """The GIF's font at `size` px."""
    from PIL import ImageFont

    source = font_source()
    if source and source != "load_default":
        return Face(ImageFont.truetype(source, size, layout_engine=ImageFont.Layout.BASIC))
    try:
        return Face(ImageFont.load_default(size=size))
    except (TypeError, OSError, ImportError, AttributeError):
        return Face(ImageFont.load_default())  # the bitmap font (ASCII)


def forget_fonts() -> None:
    """Look the font up again on the next call (after FONT_FILES or the fonts installed changed)."""
    font_source.cache_clear()
    face.cache_clear()


def label_piece(text: str) -> str:
    """A token as a row label shows it: spaces as ·, line breaks as ⏎ (as the player shows them), short."""
    text = text.replace("\n", NEWLINE).replace("\t", TAB).replace(" ", "·") or "∅"
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + ELLIPSIS


def canvas_snapshots(traj: Trajectory, shown: list[int]) -> list[list[tuple[str, str]]]:
    """For each step in `shown` (0 = before the first): the canvas after it, from the answer's first
    position on, as (text, kind) tokens; kind is "given" (infill's given text), "written", "new" (written
    since the step shown before), "mask" or "muted". Built step by step as Trajectory.canvas_at builds
    it; committed padding (pad, eos, bos) is counted at the end, not drawn."""
    mask = traj.special_ids["mask"]
    specials = {traj.special_ids[k] for k in ("pad", "eos", "bos") if traj.special_ids.get(k) is not None}
    slots, start = set(traj.slots), traj.prompt_len
    canvas, written = list(traj.initial_ids), {}
    wanted, out, previous = set(shown), [], 0

    def snapshot():
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
        out.append(snapshot())
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
            out.append(snapshot())
            previous = s
    return out


def _glued(tokens: list[tuple[str, str]], k: int) -> bool:
    """Does token k continue the word before it (no space, mask or line break between)?"""
    raw, kind = tokens[k]
    return bool(raw) and kind not in ("mask", "muted") and not raw[:1].isspace() and tokens[k - 1][1] != "mask" \
        and "\n" not in tokens[k - 1][0]


def wrap(tokens: list[tuple[str, str]], face: Face, width: float, max_lines: int) -> list[list[list]]:
    """Lines of [x, text, kind] (one a token): a word moves to the next line
    whole where it fits on one, a piece's line break breaks the line (shown as ⏎), and text past
    `max_lines` lines ends in "…"."""
    lines: list[list[list]] = [[]]
    x = 0.0
    for k, (raw, kind) in enumerate(tokens):
        text = face.clean(raw.replace("\r", "").replace("\n", NEWLINE).replace("\t", TAB))
        if not text:
            continue
        if x > 0 and not (k and _glued(tokens, k)):  # a word starts: does it fit, with the pieces glued to it?
            end = next((j for j in range(k + 1, len(tokens)) if not _glued(tokens, j)), len(tokens))
            word = sum(face.width(face.clean(t)) for t, _ in tokens[k + 1 : end]) + face.width(text)
            if x + min(word, width) > width:
                lines.append([])
                x = 0.0
        elif x > 0 and x + face.width(text) > width:
            lines.append([])
            x = 0.0
        if x == 0:
            text = face.fit(text.lstrip() or text, width)
        lines[-1].append([x, text, kind])
        x += face.width(text)
        if "\n" in raw:
            lines.append([])
            x = 0.0
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return _cut(lines, face, width, max_lines)


def _cut(lines: list[list[list]], face: Face, width: float, max_lines: int) -> list[list[list]]:
    """At most `max_lines` lines, the last ending in "…" if any were left out."""
    if len(lines) <= max_lines:
        return lines
    lines, dots = lines[:max_lines], face.clean(ELLIPSIS)
    last = lines[-1]
    while last and last[-1][0] + face.width(last[-1][1] + dots) > width:
        last[-1][1] = last[-1][1][:-1]
        if not last[-1][1]:
            last.pop()
    end = last[-1][0] + face.width(last[-1][1]) if last else 0.0
    last.append([end, dots, "muted"])
    return lines
