"""No missing glyphs: every non-ASCII character the app's visible text uses is drawn by some font.

The characters are collected from where the app's words live: the player's texts in both languages
(render/texts.py), its skeleton's labels and CSS marks (render/player.py) and the strings of its
script (render/player.js), the chat's answer labels (app/service.py `shown_answer`, "■ stopped…"),
the Learn text, the lesson's texts in both languages, and the strings of the tabs, their notes and
the "why this step" lines (app/ui, app/edits.py, app/service.py, render/fragments.py,
record/explain.py, record/stats.py, and the Sweep tab's sweep/report.py). In headless Chromium on
the app's own page, each character is drawn into a canvas with each font stack the page uses (the
page's, the player's canvas, tooltip, buttons, the heatmap's labels) and compared with the drawing
of a character no font has (U+10FFFD, private use): equal pixels mean the browser had no glyph and
drew the "missing" box. A character added to those texts that no installed font has (say "⏹",
U+23F9, which DejaVu lacks) fails the test; so does a character that only one stack lacks.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

import diffutron_demo
from diffutron_demo.app.service import shown_answer
from diffutron_demo.app.ui import lesson as lesson_ui
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.render.player import CSS, SKELETON, script
from diffutron_demo.render.texts import PLAYER_TEXTS
from diffutron_demo.teach import lesson
from diffutron_demo.teach.gallery import gallery_items
from diffutron_demo.teach.learn import LEARN_MD
from tests.helpers_app import open_page, running_app

PACKAGE = Path(diffutron_demo.__file__).parent
# Modules whose strings are shown: the tabs, their notes and errors, the "why" and screen-reader lines.
SHOWN_MODULES = sorted((PACKAGE / "app" / "ui").glob("*.py")) + [
    PACKAGE / "app" / "edits.py", PACKAGE / "app" / "service.py", PACKAGE / "render" / "fragments.py",
    PACKAGE / "record" / "explain.py", PACKAGE / "record" / "stats.py", PACKAGE / "sweep" / "report.py"]
MISSING = "\U0010fffd"  # a private-use character: no font has it
# The page's font stacks, read from the elements that show text (the heatmap's labels are drawn
# with the font player.js gives its canvas).
STACK_SOURCES = ["body", ".gradio-container", ".prose", "#player-chat .ddp-label", "#player-chat .ddp-canvas",
                 "#player-chat .ddp-tip", "#player-chat .ddp-controls button", "#player-chat .ddp-why"]
HEATMAP_STACK = "ui-monospace,monospace"

DRAW_JS = """async ([chars, stacks, missing]) => {
  const size = 40, cv = document.createElement('canvas'); cv.width = cv.height = size;
  const g = cv.getContext('2d', {willReadFrequently: true});
  const draw = (ch, stack) => { g.clearRect(0, 0, size, size); g.font = `28px ${stack}`; g.fillStyle = '#000';
    g.textBaseline = 'alphabetic'; g.fillText(ch, 4, 30);
    return Array.from(g.getImageData(0, 0, size, size).data).join(','); };
  const out = {};
  for (const stack of stacks) {
    await document.fonts.load(`28px ${stack}`, chars.join('') + missing);
    const box = draw(missing, stack);
    out[stack] = {box_is_blank: !/[1-9]/.test(box), missing: chars.filter((ch) => draw(ch, stack) === box)};
  }
  return out;
}"""


def _strings(path: Path) -> list[str]:
    """The string constants of a Python module, its docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs]


def js_strings(source: str) -> list[str]:
    """The string and template literals of a script, its comments left out (player.js has no regular
    expression holding a quote or two slashes)."""
    out, i, n = [], 0, len(source)
    while i < n:
        ch = source[i]
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
        elif source.startswith("/*", i):
            i = source.index("*/", i) + 2
        elif ch in "'\"`":
            j = i + 1
            while source[j] != ch:
                j += 2 if source[j] == "\\" else 1
            out.append(re.sub(r"\\u\{?([0-9a-fA-F]+)\}?", lambda m: chr(int(m.group(1), 16)), source[i + 1 : j]))
            i = j + 1
        else:
            i += 1
    return out


def _recorded() -> Trajectory:
    return Trajectory.load(next(iter(gallery_items().values())))


def app_texts() -> dict[str, list[str]]:
    """Where the app's visible words come from: {source: [texts]}."""
    run = _recorded()
    return {
        "render/texts.py": [t for lang in PLAYER_TEXTS.values() for t in lang.values()],
        "render/player.py SKELETON": [html.unescape(SKELETON)],
        "render/player.py CSS marks": re.findall(r'content:"([^"]*)"', CSS),
        "render/player.js": js_strings(script()),
        "app/service.py shown_answer": [shown_answer(dataclasses.replace(run, stop_reason="cancelled"), 64),
                                        shown_answer(dataclasses.replace(run, reply=""), 64)],
        "teach/learn.py": [LEARN_MD],
        "teach/lesson.py": [t for lang in lesson.TEXTS.values() for t in lang.values()],
        "app/ui/lesson.py": [*lesson_ui.HEAD.values(), *(b for pair in lesson_ui.BUTTONS.values() for b in pair),
                             *lesson_ui.CONTRAST.values()],
        **{str(p.relative_to(PACKAGE)): _strings(p) for p in SHOWN_MODULES},
    }


def drawn(ch: str) -> bool:
    """A character that draws something of its own: not ASCII, not a space, not a mark or a format
    character that only changes its neighbour (U+FE0F after ⚠ asks for the emoji form)."""
    return ord(ch) > 127 and not ch.isspace() and unicodedata.category(ch) not in ("Mn", "Me", "Cf")


def app_characters(texts: dict[str, list[str]] | None = None) -> dict[str, set[str]]:
    """{character: the sources that use it}."""
    found: dict[str, set[str]] = {}
    for source, strings in (texts or app_texts()).items():
        for ch in {c for s in strings for c in s if drawn(c)}:
            found.setdefault(ch, set()).add(source)
    return found


@pytest.fixture(scope="module")
def page(browser, tiny_checkpoint):
    with running_app(tiny_checkpoint) as (_, url):
        page = open_page(browser, url)
        page.wait_for_function("() => { const r = document.querySelector('#player-chat [data-ddp]');"
                               " return r && r.dataset.state !== 'empty'; }")
        yield page
        page.context.close()


def font_stacks(page) -> list[str]:
    stacks = page.evaluate("""(sels) => sels.map((s) => document.querySelector(s)).filter(Boolean)
        .map((e) => getComputedStyle(e).fontFamily)""", STACK_SOURCES)
    assert len(stacks) == len(STACK_SOURCES), stacks
    return sorted({re.sub(r",\s*", ", ", s) for s in stacks + [HEATMAP_STACK]})


def missing_glyphs(page, chars) -> dict[str, list[str]]:
    """{font stack: the characters drawn as the missing-glyph box with it}."""
    result = page.evaluate(DRAW_JS, [sorted(chars), font_stacks(page), MISSING])
    for stack, r in result.items():
        assert not r["box_is_blank"], f"{stack}: the missing-glyph box draws nothing; the check can't see it"
    return {stack: r["missing"] for stack, r in result.items() if r["missing"]}


def test_the_collection_reads_every_source():
    chars = app_characters()
    for ch, source in [("■", "app/service.py shown_answer"), ("▶", "render/player.py SKELETON"),
                       ("◆", "render/player.py CSS marks"), ("❚", "render/player.js"), ("ı", "render/texts.py"),
                       ("✘", "teach/lesson.py"), ("▒", "teach/learn.py"), ("ş", "app/ui/lesson.py"),
                       ("✓", "sweep/report.py")]:
        assert source in chars.get(ch, ()), (ch, source, chars.get(ch))
    js = js_strings(script())
    assert "⏎" in "".join(js) and not any("The run player:" in s for s in js), "comments are not strings"


def test_every_character_the_app_shows_has_a_glyph(page):
    chars = app_characters()
    print(f"{len(chars)} characters: {''.join(sorted(chars))}; font stacks: {font_stacks(page)}")
    missing = missing_glyphs(page, chars)
    where = {stack: {ch: f"U+{ord(ch):04X} {unicodedata.name(ch, '?')} in {sorted(chars[ch])}" for ch in found}
             for stack, found in missing.items()}
    assert missing == {}, f"characters with no glyph in the page's fonts: {where}"


def font_has(ch: str) -> bool:
    """Whether fontconfig knows an installed font with a glyph for `ch` (False where it can't say)."""
    if not shutil.which("fc-list"):
        return False
    found = subprocess.run(["fc-list", f":charset={ord(ch):x}", "family"], capture_output=True, text=True)
    return bool(found.stdout.strip())


def test_a_character_no_installed_font_has_is_caught(page, monkeypatch):
    """The check has teeth: a stop button labelled "⏹" (U+23F9, which DejaVu lacks) fails it, and so
    does another private-use character (every missing character draws the same box)."""
    other = "\U000f0000"
    assert missing_glyphs(page, {other, "A", "ı"}) == {stack: [other] for stack in font_stacks(page)}
    if font_has("⏹"):
        pytest.skip("an installed font draws ⏹ here")
    monkeypatch.setitem(PLAYER_TEXTS["en"], "stop", "⏹ Stop")
    chars = app_characters()
    assert chars["⏹"] == {"render/texts.py"}
    missing = missing_glyphs(page, chars)
    assert missing == {stack: ["⏹"] for stack in font_stacks(page)}, missing
