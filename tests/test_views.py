"""What the viewer draws from SAVED trajectories (JSON on disk, no model): the player's value (the
data render/player.js draws the heatmap, canvas, why-this-step and history from), the step chart,
the HTML fragments and the exports.

Each trajectory is generated once on a tiny checkpoint, with the canvas snapshotted after every
step straight from the sampler (the ground truth), saved to JSON and loaded back with
`Trajectory.load`; everything below reads the loaded copy only. The browser drawing itself is
tests/test_player.py's.
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

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import Run
from diffutron_demo.record.explain import rule_words, step_line
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.render import export, figures, fragments
from diffutron_demo.render.runview import RunView, run_value
from diffutron_demo.settings import SamplerSettings
from tests.helpers_runview import player_canvas

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


def rounded(x, digits=4):
    return None if x is None else round(float(x), digits)


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


# -- the player's value: rows are answer positions, one entry per step ---------------------------------
def test_the_players_rows_are_the_answer_positions_and_its_entries_the_steps(saved):
    _, traj, _ = saved
    n, L, P = len(traj.steps), traj.answer_len, traj.prompt_len
    assert L == SETTINGS.max_new_tokens
    value = run_value(traj, label="saved")
    assert value["rows"] == traj.slots == list(range(P, P + L)), "one row per answer position"
    assert value["region"] == P and value["initial"] == traj.initial_ids[P:] == [traj.special_ids["mask"]] * L
    assert value["done"] is True and value["expected"] == n
    assert [e["n"] for e in value["steps"]] == list(range(1, n + 1)), "one entry per step, numbered from 1"
    for e, record in zip(value["steps"], traj.steps):
        assert e["b"] == record.block
        inside = [i for i, p in enumerate(traj.slots) if record.window[0] <= p < record.window[1]]
        assert e["w"] == [inside[0], inside[-1]], "the window as answer positions"
        assert all(0 <= c[0] < L for c in e["c"]) and all(0 <= r < L for r in e["k"])
        assert all(c[2] is None or 0.0 <= c[2] <= 1.0 for c in e["c"])
    json.dumps(value, allow_nan=False)  # plain JSON: what gradio sends to the page


@pytest.mark.parametrize("upto", [1, 3])
def test_a_live_value_holds_only_the_steps_so_far_and_adds_only_new_ones(tiny_checkpoints, upto):
    lm = load_model(str(tiny_checkpoints[0]), device="cpu", dtype="float32")
    prompt = build_prompt(lm.tokenizer, QUESTION, max_new_tokens=SETTINGS.max_new_tokens,
                          context_window=lm.context_window)
    run = Run(lm, prompt.ids, SETTINGS, SEED, prompt_text=prompt.text)
    view = RunView(run.snapshot(), label="live", expected=40)
    frames = []
    for _ in range(upto):
        next(run)
        frames.append(view.update(run.snapshot(), done=False))
    value = frames[-1]
    assert len(value["steps"]) == upto and value["done"] is False
    assert value["expected"] == 40, "the heatmap is sized for the expected number of steps"
    assert "words" not in value and "reply" not in value, "words and the reply come with the finished run"
    if upto > 1:  # an earlier entry is the same object in the next frame: the diff sends only new steps
        assert all(a is b for a, b in zip(frames[-2]["steps"], value["steps"]))
        assert frames[-2]["steps"] is not value["steps"]
    traj = run.run_to_end()
    final = view.update(traj, done=True)
    alone = run_value(traj, label="live")
    assert [{k: v for k, v in e.items() if k != "say"} for e in final["steps"]] == \
        [{k: v for k, v in e.items() if k != "say"} for e in alone["steps"]]
    assert final["words"] == alone["words"] and final["reply"] == traj.reply


def test_each_candidate_carries_its_recorded_draft(saved):
    """[row, token, conf, rank, entropy, margin, rest, top, committed], as recorded (the hover, the
    drafts and the table read these), with every token's text in the value's pieces."""
    _, traj, _ = saved
    value = run_value(traj, label="saved")
    rows = {p: i for i, p in enumerate(traj.slots)}
    checked = 0
    for e, record in zip(value["steps"], traj.steps):
        expected = [[rows[c.pos], c.token, rounded(c.conf), c.rank, rounded(c.entropy, 3), rounded(c.margin),
                     rounded(c.rest), [[t, rounded(q)] for t, q in c.top[:5]], int(c.pos in record.committed)]
                    for c in record.candidates]
        assert e["c"] == expected, f"step {record.step}"
        for c in record.candidates:
            assert c.entropy is not None and c.entropy >= 0 and 0 <= c.margin <= 1 and 0 <= c.rest <= 1
            for token in [c.token] + [t for t, _ in c.top[:5]]:
                assert value["pieces"][str(token)] == traj.piece(token)
            checked += 1
    assert checked


def test_the_committed_rows_are_the_records_commits(saved):
    """Each entry's `k` is the step's commits (rank order, then overflow) and each candidate's flag
    says whether it was committed; the commits of real tokens read from the value alone are the
    record's (a committed mask id stays a mask; a stop-string overwrite in the same step is forced)."""
    _, traj, _ = saved
    value = run_value(traj, label="saved")
    rows, mask = {p: i for i, p in enumerate(traj.slots)}, traj.special_ids["mask"]
    from_value = set()
    for s, (e, record) in enumerate(zip(value["steps"], traj.steps)):
        assert e["k"] == [rows[p] for p in record.committed]
        assert [c[0] for c in e["c"] if c[8]] == [rows[p] for p in sorted(record.committed)
                                                 if p in {c.pos for c in record.candidates}]
        assert e["o"] == [[rows[o.pos], o.token] for o in record.overflow]
        assert e["f"] == [[rows[f.pos], f.token, f.kind, f.was] for f in record.forced]
        forced = {f[0] for f in e["f"]}
        drafts = {c[0]: c[1] for c in e["c"]} | {o[0]: o[1] for o in e["o"]}
        from_value |= {(s, r) for r in e["k"] if drafts[r] != mask and r not in forced}
    assert from_value == committed_now(traj)


@pytest.mark.parametrize("block", [1, 3, 4, 5, 10, 64])
def test_block_edges(saved, block):
    """Rows where a new block starts (the player's dashed lines); none for one-token blocks."""
    _, traj, _ = saved
    data = traj.to_dict()
    data["settings"]["block_length"] = block
    value = run_value(Trajectory.from_dict(data), label="blocks")
    L = traj.answer_len
    expected = [] if block == 1 else [k * block for k in range(1, math.ceil(L / block))]
    assert value["edges"] == expected


def test_step_chart_has_one_bar_per_step(saved):
    _, traj, _ = saved
    fig = figures.step_chart(traj)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 1
    assert list(bars[0].x) == list(range(1, len(traj.steps) + 1))
    assert list(bars[0].y) == [len(r.committed) for r in traj.steps]


def test_why_and_the_spoken_line_are_the_records(saved):
    """Each entry's `why` is the step's rule in words and `say` the screen reader's line, with the
    masks left on the sampler's own canvas after the step."""
    _, traj, snapshots = saved
    value, mask, n = run_value(traj, label="saved"), traj.special_ids["mask"], len(traj.steps)
    for s, (e, record) in enumerate(zip(value["steps"], traj.steps)):
        assert e["why"] == rule_words(record)
        left = sum(snapshots[s + 1][p] == mask for p in traj.slots)
        assert e["say"] == step_line(traj, record, left, n)
        assert e["say"].startswith(f"Step {s + 1} of {n}: ") and f"; {left} {'mask' if left == 1 else 'masks'} left" in e["say"]
    tr = run_value(traj, label="saved", lang="tr")
    assert [e["why"] for e in tr["steps"]] == [rule_words(r, "tr") for r in traj.steps]


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


def test_the_players_canvas_at_every_step_is_the_sampler_canvas(saved):
    _, traj, snapshots = saved
    value = run_value(traj, label="saved")
    for step in range(len(traj.steps) + 1):
        assert player_canvas(value, step) == [snapshots[step][p] for p in traj.slots], step


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
    assert_inert(fragments.commit_order_html(bad), "commit_order_html")
    assert_inert(fragments.diff_html(bad.reply, bad.reply + " x"), "diff_html")
    assert_inert(fragments.diff_html("a b", bad.reply), "diff_html")
    assert_inert(fragments.diff_html(bad.prompt["text"], bad.reply), "diff_html")
    # The payload is shown (escaped), not dropped.
    order = fragments.commit_order_html(bad)
    assert html.escape(IMG) in order or html.escape(IMG, quote=False) in order
    assert "&lt;img" in fragments.diff_html("", bad.reply)


def test_the_players_value_carries_the_exact_text_as_data(hostile):
    """The player writes text with textContent only: its value holds the pieces and the reply as
    they are (escaping them here would show entities), and is plain JSON."""
    _, bad = hostile
    value = run_value(bad, label=SCRIPT)
    assert IMG in value["pieces"].values() and QUOTE in value["pieces"].values()
    assert value["reply"] == REPLY_PAYLOAD and value["label"] == SCRIPT
    assert not any("&lt;" in text for text in value["pieces"].values())
    json.loads(json.dumps(value, allow_nan=False))


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
    assert "<" not in body, "model text inside the <script> data is escaped"
    data = json.loads(body)
    assert data["prompt"] == PROMPT_PAYLOAD and data["reply"] == REPLY_PAYLOAD
    assert IMG in data["pieces"].values() and QUOTE in data["pieces"].values()
    assert len(data["steps"]) == len(bad.steps)
    assert data["rows"] == bad.slots
    assert {k: v for k, v in data.items() if k not in ("id", "prompt")} == \
        {k: v for k, v in run_value(bad, label=data["label"]).items() if k != "id"}


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
