"""The exported GIF explains itself: the question, model and step; the canvas text at each frame; the
heatmap's axes and row labels; a legend with cividis's ends. Real runs on a tiny random checkpoint
(generation and infill), saved gallery runs, and fabricated runs: one with pins and stop-check edits,
one enormous (300 steps x 300 positions) that must stay bounded in size and time.
"""

from __future__ import annotations

import dataclasses
import io
import random
import time
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFont

from diffutron_demo.core.blanks import start_infill
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.record.cells import FORCED, PINNED, cell_grid
from diffutron_demo.record.step import Candidate, Edit, Step
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.render import export, gif, gif_text, palette
from diffutron_demo.settings import SamplerSettings

GALLERY = Path(__file__).resolve().parents[1] / "diffutron_demo" / "gallery"
QUESTION = "İstanbul'da çay mı içelim, şöyle güzel bir yerde? Ağaç ölü mü?"
WHITE = (255, 255, 255)


# -- helpers ---------------------------------------------------------------------------------------
def decoded(gif_data: bytes) -> list[Image.Image]:
    """Every frame of a GIF as the reader composes it (RGB)."""
    assert gif_data[:6] in (b"GIF87a", b"GIF89a")
    out = []
    with Image.open(io.BytesIO(gif_data)) as image:
        for k in range(image.n_frames):
            image.seek(k)
            out.append(image.convert("RGB"))
    return out


def rgb(frame: Image.Image) -> Image.Image:
    return frame.convert("RGB")


def region(frame: Image.Image, box) -> Image.Image:
    return rgb(frame).crop(tuple(int(v) for v in box))


def dark_pixels(image: Image.Image, below: int = 110) -> int:
    """Pixels darker than `below` (text is black or dark grey)."""
    return sum(image.convert("L").point(lambda v: 255 if v < below else 0).histogram()[255:])


def colours(image: Image.Image) -> set:
    return {c for _, c in image.getcolors(1 << 20)}


def close(a, b, tolerance: int = 6) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


def fabricate(steps: int, slots: int, *, seed: int = 0, stops: int = 0, pins: int = 0, pads: int = 0,
              dense: bool = True) -> Trajectory:
    """A trajectory built by hand, a few positions committed per step: `pins` positions pinned at step
    1, `stops` overwritten by the stop check halfway, `pads` trailing pads. Dense: every masked position
    is a candidate at every step; else only those committed."""
    rng = random.Random(seed)
    words = [" çay", " İstanbul", "'da", " <b>", "kalın", "</b>", " ğüzel", " şöyle", " ıs", "lak", ",", ".", "\n",
             " & ", ' "tırnak"', "\t", "\x00", "🙂", "x" * 40]
    pieces = {0: "<pad>", 1: "</s>", 2: "<s>", 4: "<mask>", 10: "[Question]"}
    pieces.update({20 + k: w for k, w in enumerate(words)})
    prompt = [2, 10]
    start = len(prompt)
    final = prompt + [rng.randrange(20, 20 + len(words)) for _ in range(slots - pads)] + [0] * pads
    order = list(range(start, start + slots))
    rng.shuffle(order)
    pinned, stopped = set(order[:pins]), set(order[pins: pins + stops])
    schedule = [p for p in order if p not in pinned | stopped]
    per, masked, records = -(-len(schedule) // steps), set(order), []
    for s in range(steps):
        forced = [Edit(pos, final[pos], None, "pin") for pos in sorted(pinned)] if s == 1 else []
        masked -= {e.pos for e in forced}
        chosen = schedule[s * per: (s + 1) * per]
        pool = sorted(masked) if dense else chosen
        candidates = [Candidate(pos, final[pos], c, c, r + 1, [[final[pos], c]], 1.0, 0.1, 0.0)
                      for r, (pos, c) in enumerate((pos, rng.random()) for pos in pool)]
        masked -= set(chosen)
        if s == steps // 2:
            forced += [Edit(pos, 1, final[pos], "stop_string") for pos in sorted(stopped)]
            masked -= stopped
        records.append(Step(step=s, block=0, scheduled=per, quota=per, window=(start, start + slots),
                            candidates=candidates, committed=chosen, rule={"kind": "quota", "by": "confidence"},
                            forced=forced))
    return Trajectory(model={"name": "fabricated ğüşİ"}, settings={}, seed=seed,
                      prompt={"text": f"[Question]\n{QUESTION} <b>kalın</b>\n[/Question]\n\n[Answer]\n"},
                      prompt_ids=prompt, special_ids={"mask": 4, "pad": 0, "eos": 1, "bos": 2}, final_ids=final,
                      reply="", stop_reason="complete", wall_ms=0.0, pieces=pieces, steps=records)


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lm(tiny_checkpoints):
    return load_model(str(tiny_checkpoints[0]), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def generated(lm) -> Trajectory:
    run, _ = start_run(lm, QUESTION, SamplerSettings(steps=16, max_new_tokens=16, block_length=8), seed=0)
    return run.run_to_end()


@pytest.fixture(scope="module")
def infilled(lm) -> Trajectory:
    run, _ = start_infill(lm, "Sabah erkenden ___ kalktım, kahvaltıda ___ yedim.", SamplerSettings(steps=8, blank_length=3),
                          seed=0)
    return run.run_to_end()


@pytest.fixture(scope="module")
def gallery_run() -> Trajectory:
    return Trajectory.load(GALLERY / "turkiye-nin-baskenti.json")


# -- frames -----------------------------------------------------------------------------------------
def test_frame_count_is_bounded(generated, gallery_run):
    assert len(gallery_run.steps) == 64
    assert len(decoded(export.gif_bytes(gallery_run))) == 65  # the start, then every step
    for cap in (10, 2):
        frames = decoded(export.gif_bytes(gallery_run, max_frames=cap))
        assert 2 <= len(frames) <= cap
    assert len(decoded(export.gif_bytes(gallery_run, max_frames=1))) == 1
    assert len(decoded(export.gif_bytes(generated))) == len(generated.steps) + 1
    _, layout = gif.gif_frames(gallery_run, max_frames=10)
    assert layout.steps[0] == 0 and layout.steps[-1] == 64 and layout.steps == sorted(set(layout.steps))


def test_the_gif_plays_the_frames_drawn(generated):
    """What a reader composes from the GIF (unchanged pixels left transparent) is each frame as drawn."""
    frames, _ = gif.gif_frames(generated)
    played = decoded(export.gif_bytes(generated))
    assert len(played) == len(frames)
    for k, (a, b) in enumerate(zip(played, frames)):
        assert ImageChops.difference(a, rgb(b)).getbbox() is None, f"frame {k}"


def test_first_and_last_frames_differ_where_the_canvas_changed(generated, gallery_run):
    for traj in (generated, gallery_run):
        played = decoded(export.gif_bytes(traj))
        _, layout = gif.gif_frames(traj)
        first, last = played[0], played[-1]
        assert ImageChops.difference(first.crop(layout.text), last.crop(layout.text)).getbbox() is not None
        heat = layout.heat
        assert first.crop(heat).getcolors() == [((heat[2] - heat[0]) * (heat[3] - heat[1]), WHITE)]  # nothing run yet
        assert len(last.crop(heat).getcolors(4096)) > 3
        # The title and the legend stay put.
        assert ImageChops.difference(first.crop(layout.legend), last.crop(layout.legend)).getbbox() is None


def test_the_canvas_text_is_the_canvas_at_each_step(generated, infilled, gallery_run):
    for traj in (generated, infilled, gallery_run, fabricate(10, 40, stops=2, pins=2, pads=5)):
        steps = gif.frame_steps(len(traj.steps), 80)
        snapshots = gif_text.canvas_snapshots(traj, steps)
        specials = {traj.special_ids[k] for k in ("pad", "eos", "bos")}
        for step, tokens in zip(steps, snapshots):
            canvas = traj.canvas_at(step)[traj.prompt_len:]
            want = [gif_text.MASK_MARK if t == traj.special_ids["mask"] else traj.piece(t)
                    for t in canvas if t not in specials]
            assert [text for text, kind in tokens if kind != "muted"] == want, step
        assert all(kind != "mask" for _, kind in snapshots[-1]) or traj.special_ids["mask"] in traj.final_ids


def test_the_legend_has_cividis_ends(gallery_run):
    last = decoded(export.gif_bytes(gallery_run))[-1]
    _, layout = gif.gif_frames(gallery_run)
    x0, y0, x1, y1 = layout.bar
    assert layout.legend[1] <= y0 < y1 <= layout.legend[3] and x1 - x0 >= 60
    middle = (y0 + y1) // 2
    assert close(last.getpixel((x0 + 1, middle)), palette.rgb(0.0))
    assert close(last.getpixel((x1 - 2, middle)), palette.rgb(1.0))
    assert last.getpixel((x0, middle)) == palette.rgb(0.0) and last.getpixel((x1 - 1, middle)) == palette.rgb(1.0)
    # The scale runs dark to light, as cividis does.
    lum = [sum(last.getpixel((x, middle))) for x in range(x0, x1, 10)]
    assert lum == sorted(lum)
    legend = colours(last.crop(layout.legend))
    assert {palette.rgb(0.0), palette.rgb(1.0), gif_colour(palette.FORCED), gif_colour(palette.PIN)} <= legend


def gif_colour(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[k: k + 2], 16) for k in (1, 3, 5))


def test_the_text_is_drawn(generated):
    """Titles, labels, axes and the legend's words: a frame with them differs from one without, there."""
    frames, layout = gif.gif_frames(generated)
    bare, same = gif.gif_frames(generated, text=False)
    assert same == layout
    with_text, without = rgb(frames[-1]), rgb(bare[-1])
    for box in (layout.title, layout.text, layout.labels, layout.legend):
        assert dark_pixels(with_text.crop(box)) > 30, box
        assert ImageChops.difference(with_text.crop(box), without.crop(box)).getbbox() is not None, box
    assert dark_pixels(without.crop(layout.title)) == 0 and dark_pixels(without.crop(layout.labels)) == 0
    # The heatmap itself is the same picture with or without the words.
    assert ImageChops.difference(with_text.crop(layout.heat), without.crop(layout.heat)).getbbox() is None
    # Row labels name the position and its final token.
    first = gif_text.face(10).clean(gif_text.label_piece(generated.piece(generated.final_ids[generated.slots[0]])))
    assert layout.row_labels[0].startswith(f"0 {first[:2]}")


def test_the_font_has_turkish_letters():
    """Pillow's bundled sized font lacks ç ğ ı ö ş ü İ: a font that has them is found, or text turns ASCII."""
    face = gif_text.face(12)
    if gif_text.font_source() is None:
        pytest.skip("no font with Turkish letters on this machine (FONT_FILES): the GIF falls back to ASCII")
    assert face.unicode and face.clean(QUESTION) == QUESTION
    assert face.clean(gif_text.MASK_MARK + "✕…⏎") == gif_text.MASK_MARK + "✕…⏎"
    # Each Turkish letter draws its own glyph, not the missing-glyph box (nor the ASCII letter).
    assert len({bytes(face.font.getmask(ch)) for ch in gif_text.TURKISH + "cgiosuI"}) == len(gif_text.TURKISH) + 7


def test_without_such_a_font_text_falls_back_to_ascii(monkeypatch, generated):
    monkeypatch.setattr(gif_text, "FONT_FILES", ())
    gif_text.forget_fonts()
    try:
        face = gif_text.face(12)
        assert gif_text.font_source() in (None, "load_default")
        if gif_text.font_source() is None:  # Pillow's sized font (Latin letters only), or its bitmap font
            cleaned = face.clean("şİ▒✕ğ")
            assert cleaned.startswith("sI#xg"[: len(cleaned)]) and cleaned.isascii()
        frames, layout = gif.gif_frames(generated)
        assert dark_pixels(rgb(frames[-1]).crop(layout.title)) > 30
        # An older Pillow: no sized default font, only the bitmap one.
        plain = getattr(ImageFont, "load_default_imagefont", None)
        if plain is None:
            return

        def no_sizes(size=None):
            if size is not None:
                raise TypeError("load_default() got an unexpected keyword argument 'size'")
            return plain()

        monkeypatch.setattr(ImageFont, "load_default", no_sizes)
        gif_text.forget_fonts()
        assert gif_text.face(12).name == "(bitmap)"
        frames = decoded(export.gif_bytes(generated))
        assert len(frames) == len(generated.steps) + 1
    finally:
        monkeypatch.undo()
        gif_text.forget_fonts()


def test_turkish_letters_and_markup_in_pieces(generated):
    """Pieces with Turkish letters, `<b>`, control characters, an emoji, a tab and a very long piece."""
    odd = ["<b>ş</b>", "İĞÜ", "\x00\x1b[31m", "🙂", "\t", "\n\n", "y" * 300, "<script>", "\ufffd"]
    pieces = dict(generated.pieces)
    for k, token in enumerate(sorted(set(generated.final_ids[generated.prompt_len:]))):
        pieces[token] = odd[k % len(odd)]
    traj = dataclasses.replace(generated, pieces=pieces, prompt={**generated.prompt, "text": generated.prompt["text"]
                                                                 .replace("İstanbul", "<b>İstanbul</b>\x07")})
    frames, layout = gif.gif_frames(traj)
    assert len(decoded(export.gif_bytes(traj))) == len(frames)
    assert all(len(label) <= 40 for label in layout.row_labels.values())
    assert dark_pixels(rgb(frames[-1]).crop(layout.text)) > 30


def test_an_infill_run_exports(infilled):
    assert infilled.mode == "infill"
    frames = decoded(export.gif_bytes(infilled))
    assert len(frames) == len(infilled.steps) + 1
    _, layout = gif.gif_frames(infilled)
    assert layout.rows == list(range(infilled.answer_len))
    first = gif_text.canvas_snapshots(infilled, [0])[0]
    assert {kind for _, kind in first} == {"given", "mask"}
    assert sum(kind == "mask" for _, kind in first) == infilled.answer_len
    assert ImageChops.difference(frames[0].crop(layout.text), frames[-1].crop(layout.text)).getbbox() is not None
    saved = Trajectory.load(GALLERY / "fill-three-blanks.json")
    assert len(decoded(export.gif_bytes(saved))) == len(saved.steps) + 1


def test_pins_and_stop_check_edits_are_drawn():
    traj = fabricate(20, 12, stops=2, pins=2, pads=3)
    states = {c.state for row in cell_grid(traj) for c in row}
    assert {FORCED, PINNED} <= states
    frames, layout = gif.gif_frames(traj)
    last = rgb(frames[-1])
    heat = colours(last.crop(layout.heat))
    assert {gif_colour(palette.FORCED), gif_colour(palette.PIN)} <= heat
    # A stop check's step shows a ✕: white strokes inside a red cell.
    s = next(k for k, row in enumerate(cell_grid(traj)) if any(c.state == FORCED and c.event for c in row))
    i = next(i for i, c in enumerate(cell_grid(traj)[s]) if c.state == FORCED and c.event)
    cw, rh = layout.cell
    x, y = layout.heat[0] + layout.columns.index(s) * cw, layout.heat[1] + layout.rows.index(i) * rh
    cell = colours(last.crop((x, y, x + cw - 1, y + rh - 1)))
    assert gif_colour(palette.FORCED) in cell and WHITE in cell
    assert any(kind == "muted" and "padding" in text for text, kind in gif_text.canvas_snapshots(traj, [20])[0])


def test_an_enormous_run_stays_bounded():
    traj = fabricate(300, 300, stops=5, pins=5, pads=50)
    started = time.perf_counter()
    data = export.gif_bytes(traj)
    took = time.perf_counter() - started
    with Image.open(io.BytesIO(data)) as image:
        width, height, n = image.width, image.height, image.n_frames
    assert width <= 1024 and height <= 1024 and n <= 80
    assert len(data) < 4_000_000
    assert took < 15, f"{took:.1f} s"
    _, layout = gif.gif_frames(traj)
    assert len(layout.columns) * layout.cell[0] <= gif.GIF_HEAT_MAX[0]
    assert len(layout.rows) * layout.cell[1] <= gif.GIF_HEAT_MAX[1]
    assert len(layout.row_labels) <= 80  # labels thin out


def test_a_huge_sparse_run_is_sampled():
    """1024 steps x 1024 positions: steps and rows are sampled (the first row and the last step kept)."""
    traj = fabricate(1024, 1024, pads=300, stops=3, pins=3, dense=False)
    frames, layout = gif.gif_frames(traj, max_frames=12)
    assert len(frames) <= 12 and layout.size[0] <= 1024 and layout.size[1] <= 1024
    assert layout.columns[-1] == 1023 and layout.rows[0] == 0 and len(layout.columns) < 1024


def test_a_redo_is_ringed_and_explained():
    """A redo branch (gallery): the step that masked positions again rings them in purple; the legend says so."""
    traj = Trajectory.load(GALLERY / "edit-the-first-words-redone.json").branch(0)
    at = next(k for k, st in enumerate(traj.steps) if any(e.kind == "redo" for e in st.forced))
    frames, layout = gif.gif_frames(traj)
    purple = gif_colour(palette.REDO)
    assert purple in colours(rgb(frames[-1]).crop(layout.legend))
    before, after = (rgb(frames[layout.steps.index(k)]).crop(layout.heat) for k in (at, at + 1))
    assert purple not in colours(before) and purple in colours(after)
