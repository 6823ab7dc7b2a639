"""Figures, HTML fragments and exports drawn from SAVED trajectories (JSON on disk, no model).

Each trajectory is generated once on a tiny checkpoint, with the canvas snapshotted after every
step straight from the sampler (the ground truth), saved to JSON and loaded back with
`Trajectory.load`; everything below draws from the loaded copy only.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from html.parser import HTMLParser

import pytest
from PIL import Image

from diffutron_demo.render import export

from diffutron_demo.render import figures

from diffutron_demo.render import fragments
from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import Run
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import Trajectory

QUESTION = "Merhaba dünya, nasılsın?"
# 3 blocks (4 + 4 + 2 positions), not a multiple of the block: the last block is short.
SETTINGS = SamplerSettings(steps=16, max_new_tokens=10, block_length=4, temperature=0.8)
SEED = 3
# tiny_checkpoints: 0 plain, 2 proposes "<s>"/"</s>" (forced stop edits), 3 proposes the mask id.
CASES = {"plain": 0, "stop": 2, "mask": 3}

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
QUOTE = '" onmouseover="alert(3)'
PROMPT_PAYLOAD = '</script><script>alert("prompt")</script><!--<script>'
REPLY_PAYLOAD = '</SCRIPT><script>alert("reply")</script> <img src=x onerror=alert(4)> <!--'


def _generate(lm, settings, seed):
    """Run the sampler step by step; return (trajectory, canvas after each step, index 0 = start)."""
    prompt = build_prompt(lm.tokenizer, QUESTION, max_new_tokens=settings.max_new_tokens,
                          context_window=lm.context_window)
    run = Run(lm, prompt.ids, settings, seed, prompt_text=prompt.text)
    snapshots = [run.final_ids]
    for _ in run:
        snapshots.append(run.final_ids)
    return run.trajectory(), snapshots


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def saved(request, tiny_checkpoints, tmp_path_factory):
    """(loaded trajectory, canvas snapshots, path of the JSON file)."""
    lm = load_model(str(tiny_checkpoints[CASES[request.param]]), device="cpu", dtype="float32")
    traj, snapshots = _generate(lm, SETTINGS, SEED)
    del lm
    path = tmp_path_factory.mktemp(f"traj-{request.param}") / "run.json"
    traj.save(path)
    return request.param, Trajectory.load(path), snapshots


@pytest.fixture(scope="module")
def long_traj(tiny_checkpoint, tmp_path_factory):
    """A run with more steps than the GIF's frame cap (96 steps)."""
    lm = load_model(str(tiny_checkpoint), device="cpu", dtype="float32")
    traj, _ = _generate(lm, SamplerSettings(steps=96, max_new_tokens=96, block_length=32), 0)
    path = tmp_path_factory.mktemp("traj-long") / "long.json"
    traj.save(path)
    return Trajectory.load(path)


# -- independent readings of the step records ---------------------------------------------------------
def proposals(record) -> dict[int, int]:
    tokens = {c.pos: c.token for c in record.candidates}
    tokens.update({o.pos: o.token for o in record.overflow})
    return tokens


def committed_now(traj: Trajectory) -> set[tuple[int, int]]:
    """(step index, answer row) of every commit of a real token (a committed mask id stays a mask;
    a position overwritten by a forced stop edit in the same step shows as forced instead)."""
    P, mask = traj.prompt_len, traj.special_ids["mask"]
    out = set()
    for s, record in enumerate(traj.steps):
        tokens = proposals(record)
        forced = {e.pos for e in record.forced}
        for pos in record.committed:
            if pos >= P and tokens[pos] != mask and pos not in forced:
                out.add((s, pos - P))
    return out


def heatmaps(fig):
    return [t for t in fig.data if t.type == "heatmap"]


def marker_trace(fig):
    found = [t for t in fig.data if t.type == "scatter" and t.name == "committed at this step"]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def visible_piece(piece: str) -> str:
    return html.escape(piece, quote=True)


# -- the saved file is what was generated ----------------------------------------------------------------
def test_the_case_exercises_what_it_is_for(saved):
    case, traj, snapshots = saved
    assert traj.steps and len(snapshots) == len(traj.steps) + 1
    mask = traj.special_ids["mask"]
    mask_commits = sum(1 for r in traj.steps for pos in r.committed if proposals(r).get(pos) == mask)
    forced = sum(len(r.forced) for r in traj.steps)
    if case == "mask":
        assert mask_commits > 0, "the mask checkpoint should commit the mask id at least once"
    if case == "stop":
        assert forced > 0, "the stop checkpoint should trigger a forced stop edit"
    if case == "plain":
        assert mask_commits == 0 and forced == 0


# -- heatmap --------------------------------------------------------------------------------------------
def test_heatmap_is_positions_by_steps_with_steps_on_x(saved):
    _, traj, _ = saved
    n, L = len(traj.steps), traj.answer_len
    assert L == SETTINGS.max_new_tokens
    fig = figures.heatmap_figure(traj)
    maps = heatmaps(fig)
    assert len(maps) >= 1
    for trace in maps:
        z = [list(row) for row in trace.z]
        assert len(z) == L, "one row per answer position"
        assert all(len(row) == n for row in z), "one column per step"
        assert list(trace.x) == list(range(1, n + 1)), "x = step numbers 1..n"
        assert list(trace.y) == list(range(L))
        text = [list(row) for row in trace.text]
        assert len(text) == L and all(len(row) == n for row in text)
        for row in z:
            assert all(v is None or 0.0 <= v <= 1.0 for v in row)
    lo, hi = fig.layout.xaxis.range
    assert lo <= 1 and hi >= n, "every step column is inside the x range"


@pytest.mark.parametrize("upto", [1, 3])
def test_heatmap_of_a_run_in_progress_has_only_the_steps_so_far(saved, upto):
    _, traj, _ = saved
    upto = min(upto, len(traj.steps))
    total = 40
    fig = figures.heatmap_figure(traj, upto=upto, total_steps=total)
    for trace in heatmaps(fig):
        assert len(trace.z) == traj.answer_len
        assert all(len(row) == upto for row in trace.z)
        assert list(trace.x) == list(range(1, upto + 1))
    lo, hi = fig.layout.xaxis.range
    assert lo <= 1 and hi >= total, "the axis is sized for the expected number of steps"


def test_hover_of_a_committed_now_cell_names_the_piece_and_confidence(saved):
    _, traj, _ = saved
    P = traj.prompt_len
    fig = figures.heatmap_figure(traj)
    texts = [[list(row) for row in trace.text] for trace in heatmaps(fig)]
    checked = 0
    for s, record in enumerate(traj.steps):
        forced = {e.pos for e in record.forced}
        for c in record.candidates:
            if c.pos not in record.committed or c.token == traj.special_ids["mask"] or c.pos in forced:
                continue
            piece = traj.pieces[c.token]
            hovers = {t[c.pos - P][s] for t in texts}
            for hover in hovers:
                assert f"{c.conf:.3f}" in hover, (s, c, hover)
                if piece.strip() and not re.search(r"\s", piece):
                    assert visible_piece(piece) in hover, (s, piece, hover)
                    checked += 1
    if committed_now(traj):
        assert checked > 0, "no committed-now cell with a printable piece was checked"


def test_one_marker_per_commit_of_a_real_token(saved):
    _, traj, _ = saved
    marker = marker_trace(figures.heatmap_figure(traj))
    points = list(zip(marker.x, marker.y))
    expected = committed_now(traj)
    assert len(points) == len(expected)
    assert {(x - 1, y) for x, y in points} == expected


@pytest.mark.parametrize("block", [1, 3, 4, 5, 10, 64])
def test_block_boundary_lines(saved, block):
    _, traj, _ = saved
    data = traj.to_dict()
    data["settings"]["block_length"] = block
    fig = figures.heatmap_figure(Trajectory.from_dict(data))
    L = traj.answer_len
    lines = [s for s in fig.layout.shapes if s.type == "line" and s.y0 == s.y1]
    assert len(lines) == math.ceil(L / block) - 1
    assert sorted(s.y0 for s in lines) == [k * block - 0.5 for k in range(1, math.ceil(L / block))]


def test_marker_step_adds_one_vertical_line_at_that_step(saved):
    _, traj, _ = saved
    step = len(traj.steps)
    fig = figures.heatmap_figure(traj, marker_step=step)
    vertical = [s for s in fig.layout.shapes if s.type == "line" and s.x0 == s.x1]
    assert [s.x0 for s in vertical] == [step]


def test_step_chart_has_one_bar_per_step(saved):
    _, traj, _ = saved
    fig = figures.step_chart(traj)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 1
    assert list(bars[0].x) == list(range(1, len(traj.steps) + 1))
    assert list(bars[0].y) == [len(r.committed) for r in traj.steps]


# -- canvas replay --------------------------------------------------------------------------------------
def rebuild_canvas(traj: Trajectory, step: int) -> list[int]:
    canvas = list(traj.prompt_ids) + [traj.special_ids["mask"]] * traj.answer_len
    for record in traj.steps[:step]:
        tokens = proposals(record)
        for pos in record.committed:
            assert pos in tokens, f"step {record['step']} commits {pos} with no proposal recorded"
            canvas[pos] = tokens[pos]
        for edit in record.forced:
            canvas[edit.pos] = edit.token
    return canvas


def test_canvas_at_every_step_is_the_sampler_canvas(saved):
    _, traj, snapshots = saved
    for step in range(len(traj.steps) + 1):
        assert traj.canvas_at(step) == snapshots[step], step
        assert traj.canvas_at(step) == rebuild_canvas(traj, step), step
    assert traj.canvas_at(len(traj.steps)) == traj.final_ids


@pytest.mark.parametrize("step", [0, 1, -1])
def test_canvas_html_shows_the_canvas_at_that_step(saved, step):
    _, traj, _ = saved
    step = step % (len(traj.steps) + 1)
    page = fragments.canvas_html(traj, step)
    assert f"step {step} of {len(traj.steps)}" in page
    tokens = _Elements.parse(page).spans
    assert len(tokens) == traj.answer_len, "one span per answer position"
    canvas = traj.canvas_at(step)[traj.prompt_len :]
    mask = traj.special_ids["mask"]
    shown = [t for t in tokens if t.strip() != fragments.MASK_GLYPH]
    assert len(shown) == sum(1 for t in canvas if t != mask)


# -- escaping -------------------------------------------------------------------------------------------
class _Elements(HTMLParser):
    """Every start tag and attribute name in an HTML string, plus the text of each span and script."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.spans, self.scripts = [], [], [], []
        self._in = []

    @classmethod
    def parse(cls, text: str) -> "_Elements":
        parser = cls()
        parser.feed(text)
        parser.close()
        return parser

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(name for name, _ in attrs)
        if tag in ("span", "script"):
            self._in.append((tag, dict(attrs), []))

    def handle_data(self, data):
        for _, _, parts in self._in:
            parts.append(data)

    def handle_endtag(self, tag):
        if self._in and self._in[-1][0] == tag:
            name, attrs, parts = self._in.pop()
            (self.spans if name == "span" else self.scripts).append("".join(parts) if name == "span"
                                                                      else (attrs, "".join(parts)))


def assert_inert(fragment: str, where: str) -> None:
    low = fragment.lower()
    assert "<img" not in low and "<script" not in low, f"{where}: raw tag in {fragment[:300]!r}"
    found = _Elements.parse(fragment)
    assert not {"img", "script"} & set(found.tags), f"{where}: {found.tags}"
    handlers = [a for a in found.attrs if a.startswith("on")]
    assert not handlers, f"{where}: event handler attributes {handlers}"


@pytest.fixture(scope="module")
def hostile(saved):
    """The saved trajectory with hostile token pieces, prompt text and reply."""
    case, traj, _ = saved
    P = traj.prompt_len
    data = json.loads(traj.to_json())
    answer = list(dict.fromkeys(t for t in traj.final_ids[P:] if t not in traj.special_ids.values()))
    assert len(answer) >= 2, "the answer needs two distinct ordinary tokens to poison"
    alternatives = [t for r in traj.steps for c in r.candidates for t, _ in c.top[1:4]
                    if t not in answer and t not in traj.special_ids.values()]
    data["pieces"][str(answer[0])] = IMG
    data["pieces"][str(answer[-1])] = QUOTE
    if alternatives:
        data["pieces"][str(alternatives[0])] = SCRIPT
    data["prompt"]["text"] = PROMPT_PAYLOAD
    data["reply"] = REPLY_PAYLOAD
    return traj, Trajectory.from_dict(data)


def test_html_fragments_escape_pieces_prompt_and_reply(hostile):
    _, bad = hostile
    n = len(bad.steps)
    for step in range(n + 1):
        assert_inert(fragments.canvas_html(bad, step), f"canvas_html step {step}")
        assert_inert(fragments.why_html(bad, step), f"why_html step {step}")
    for pos in range(bad.answer_len):
        assert_inert(fragments.history_html(bad, pos), f"history_html {pos}")
    assert_inert(fragments.commit_order_html(bad), "commit_order_html")
    assert_inert(fragments.diff_html(bad.reply, bad.reply + " x"), "diff_html")
    assert_inert(fragments.diff_html("a b", bad.reply), "diff_html")
    assert_inert(fragments.diff_html(bad.prompt["text"], bad.reply), "diff_html")
    # The payload is shown (escaped), not dropped.
    final = fragments.canvas_html(bad, n) + fragments.commit_order_html(bad)
    assert html.escape(IMG) in final or html.escape(IMG, quote=False) in final
    assert "&lt;img" in fragments.diff_html("", bad.reply)


def test_figure_hover_and_tick_labels_escape_pieces(hostile):
    _, bad = hostile
    fig = figures.heatmap_figure(bad, marker_step=1, title=None)
    hovers = [cell for trace in heatmaps(fig) for row in trace.text for cell in row]
    ticks = list(fig.layout.yaxis.ticktext or [])
    assert ticks, "expected a text label per answer row"
    for text in hovers + ticks:
        assert_inert(text, "heatmap text")
    assert any("&lt;img" in t for t in ticks), "the poisoned token is labelled (escaped)"


def _script_blocks(page: str):
    return _Elements.parse(page).scripts


def test_standalone_player_escapes_and_embeds_the_exact_text(hostile):
    clean, bad = hostile
    page, reference = export.standalone_html(bad), export.standalone_html(clean)
    low = page.lower()
    assert "<img" not in low
    # The payloads add no element: same tags, same scripts as the player of the clean run.
    assert _Elements.parse(page).tags == _Elements.parse(reference).tags
    assert low.count("<script") == reference.lower().count("<script")
    assert low.count("</script") == reference.lower().count("</script") == low.count("<script")
    assert page.count("<!--") == reference.count("<!--")
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert "<" not in title
    data_blocks = [body for attrs, body in _script_blocks(page) if attrs.get("type") == "application/json"]
    assert len(data_blocks) == 1
    body = data_blocks[0]
    assert not re.search(r"</script|<script|<!--", body, re.I), "the JSON block can end early"
    data = json.loads(body)
    assert data["title"] == PROMPT_PAYLOAD and data["reply"] == REPLY_PAYLOAD
    assert IMG in data["pieces"].values() and QUOTE in data["pieces"].values()
    assert len(data["steps"]) == len(bad.steps)
    assert all(len(row) == bad.answer_len for row in data["steps"])


# -- GIF -------------------------------------------------------------------------------------------------
def _frames(gif: bytes) -> int:
    assert gif[:4] == b"GIF8", gif[:8]
    with Image.open(io.BytesIO(gif)) as image:
        assert image.format == "GIF"
        return image.n_frames


def test_gif_of_a_short_run(saved):
    _, traj, _ = saved
    assert 2 <= len(traj.steps) <= 80
    frames = _frames(export.gif_bytes(traj))
    assert 2 <= frames <= 80


def test_gif_of_a_long_run_is_capped(long_traj):
    assert len(long_traj.steps) > 80
    frames = _frames(export.gif_bytes(long_traj))
    assert 2 <= frames <= 80
    assert _frames(export.gif_bytes(long_traj, max_frames=10)) <= 10
