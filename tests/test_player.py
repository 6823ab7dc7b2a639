"""The run player (render/player.js) in headless Chromium, with no Gradio server.

Every check compares what a person sees (the DOM, the heatmap's pixels, the hover) with the record
(`Trajectory.canvas_at`, the steps' candidates, ranks and forced edits), computed here in Python
without the player's code. Runs are built once per module: the bundled demo model (blocks of 32 and
of 1, infill raw and chat-shaped, a redo branch, a what-if branch with a pin, an old schema-2 file)
and the tiny checkpoints (the stop-prone one, whose stop check overwrites the canvas, and the one
that proposes the mask id itself). One browser page is reused; each value is loaded with
`set_content` (the exported standalone page, tests/helpers_player.py) or, where the player must
receive a new value (live growth, a lesson's next question, an empty value), in a page that hosts
the player the way Gradio's HTML component does (`element`, `trigger`, `props`, `watch`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest

from diffutron_demo.core.blanks import start_infill
from diffutron_demo.core.branching import branch_run, redo_run
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.record.explain import rule_words, step_line
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.render import palette
from diffutron_demo.render.player import CSS, SKELETON, script
from diffutron_demo.render.runview import RunView, run_value
from diffutron_demo.render.texts import PLAYER_TEXTS
from diffutron_demo.settings import SamplerSettings
from tests.helpers_player import ROOT, canvas_tokens, events, open_player, shown_step, why_rows
from tests.helpers_schema import downgrade

EN, TR = PLAYER_TEXTS["en"], PLAYER_TEXTS["tr"]
API = f"{ROOT}.__ddpApi"
PAYLOADS = ('<img src=x onerror="window.__pwned=1">', "</script><script>window.__pwned=2</script>")


# ---- the runs ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class Case:
    name: str
    traj: Trajectory
    split: int | None = None
    redone: list[int] | None = None  # a redo: the canvas positions masked again
    pinned: tuple[int, int] | None = None  # a what-if: (answer position, token) pinned

    def value(self, **kw) -> dict:
        return run_value(self.traj, label=f"run {self.name}", split=self.split, run_id=self.name, **kw)


def _old_file(traj: Trajectory) -> Trajectory:
    """`traj` as a schema 2 file held it: no score, rank or rule (derived at load), no entropy,
    margin or rest, no infill fields."""
    data = downgrade(json.loads(traj.to_json()), 2)
    for key in ("mode", "initial_ids", "blanks"):
        data.pop(key, None)
    for step in data["steps"]:
        for c in step["candidates"]:
            for key in ("entropy", "margin", "rest"):
                c.pop(key, None)
    return Trajectory.from_dict(data)


@pytest.fixture(scope="module")
def demo_lm():
    return load_model("diffutron_demo/demo_model", device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def runs(tiny_checkpoints, demo_lm) -> dict[str, Case]:
    lm = demo_lm
    question = "What is the capital of Turkey?"
    out = {}

    def gen(name, settings, model=lm, seed=0, q=question):
        run, _ = start_run(model, q, settings, seed=seed)
        out[name] = Case(name, run.run_to_end())

    gen("gen32", SamplerSettings())  # 64 steps, blocks of 32: the answer, then many pads
    gen("gen1", SamplerSettings(steps=32, max_new_tokens=32, block_length=1))
    run, _ = start_infill(lm, "The capital of ___ is Ankara and ___ is big ___.", SamplerSettings(steps=16, blank_length=3),
                          seed=0)
    out["infill"] = Case("infill", run.run_to_end())
    run, _ = start_infill(lm, "The capital of ___ is Ankara and ___{2} is big.", SamplerSettings(steps=16, blank_length=3),
                          seed=1, question="Tell me about Turkey.")
    out["infill_chat"] = Case("infill_chat", run.run_to_end())

    # A redo of three committed answer positions, shown as the branch it makes.
    base = dataclasses.replace(out["gen32"].traj, branches=[], pieces=dict(out["gen32"].traj.pieces))
    redo_pos = base.slots[3:6]
    k = base.add_branch(redo_run(lm, base, redo_pos).run_to_end(), len(base.steps))
    out["redo"] = Case("redo", base.branch(k), split=len(base.steps))
    out["redo"].redone = redo_pos

    # A what-if from step 5 with a pin on an answer position still masked there.
    at = 5
    canvas, mask = base.canvas_at(at), base.special_ids["mask"]
    row = next(i for i, p in enumerate(base.slots) if canvas[p] == mask and i > 8)
    token = next(t for t in base.final_ids[base.prompt_len:] if base.piece(t).strip().isalpha())
    k = base.add_branch(branch_run(lm, base, at, pins={row: token}).run_to_end(), at, {row: token})
    out["pin"] = Case("pin", base.branch(k), split=at)
    out["pin"].pinned = (row, token)

    out["old"] = Case("old", _old_file(out["gen32"].traj))

    stop_lm = load_model(str(tiny_checkpoints[2]), device="cpu", dtype="float32")
    gen("stop", SamplerSettings(steps=16, max_new_tokens=16, block_length=16), model=stop_lm, seed=2, q="hello there")
    mask_lm = load_model(str(tiny_checkpoints[3]), device="cpu", dtype="float32")
    gen("maskprop", SamplerSettings(steps=12, max_new_tokens=12, block_length=12), model=mask_lm, seed=0, q="hello")

    # What the runs must hold for the checks below to mean anything.
    assert any(e.kind == "stop_string" for s in out["stop"].traj.steps for e in s.forced)
    assert sum(s.forced != [] for s in out["stop"].traj.steps) >= 2
    assert any(c.pos in s.committed and c.token == mask_lm.mask_id for s in out["maskprop"].traj.steps
               for c in s.candidates), "the mask-proposing model committed no mask id"
    assert out["infill"].traj.mode == "infill" and len(out["infill"].traj.blanks) == 3
    assert out["infill_chat"].traj.prompt_len > 0 and len(out["infill_chat"].traj.blanks) == 2
    assert out["old"].traj.steps[0].derived and out["old"].traj.steps[0].candidates[0].entropy is None
    words = out["gen32"].value()["words"]
    assert words[-1]["pads"] and len(words[-1]["rows"]) > 10, "the demo run should end in many pads"
    return out


# ---- the page ------------------------------------------------------------------------------------------
# The player hosted as Gradio's HTML component runs it: its code called with element, trigger,
# props and watch; `__host[id].set(value)` is what Gradio does when the component's value changes.
HOST = """<!doctype html><html lang="en"><head><meta charset="utf-8"><style>body{margin:8px;font-family:sans-serif}
__CSS__</style></head><body>__PLAYERS__
<script>
window.__ddpEvents = []; window.__host = {};
const CODE = __CODE__;
function mount(id, value) {
  const element = document.getElementById(id), watchers = [], props = {value};
  const trigger = (name, data) => { window.__ddpEvents.push([name, data, id]); };
  const watch = (key, cb) => { if (key === 'value') watchers.push(cb); };
  new Function('element', 'trigger', 'props', 'watch', CODE)(element, trigger, props, watch);
  window.__host[id] = {set: (v) => { props.value = v; watchers.forEach((cb) => cb()); }};
}
</script></body></html>"""


def host_page(page, *values) -> None:
    """Players for `values` (None: empty), as Gradio hosts them: #p0, #p1, ..."""
    page.goto("about:blank")
    players = "".join(f'<div id="p{i}">{SKELETON}</div>' for i in range(len(values)))
    page.set_content(HOST.replace("__CSS__", CSS).replace("__PLAYERS__", players)
                     .replace("__CODE__", json.dumps(script())))
    for i, v in enumerate(values):
        page.evaluate("([id, v]) => mount(id, v)", [f"p{i}", v])
    settle(page)


def set_value(page, value, which: int = 0) -> None:
    page.evaluate("([id, v]) => window.__host[id].set(v)", [f"p{which}", value])
    settle(page)


def settle(page) -> None:
    """Two frames: the ResizeObserver's first redraw has run."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def show(page, value: dict) -> None:
    # A fresh document (and global scope): the standalone page declares top-level consts, which a
    # second set_content into the same document would declare again.
    page.goto("about:blank")
    open_player(page, value)
    settle(page)


def go(page, step: int) -> None:
    page.evaluate(f"(s) => {API}.go(s)", step)


@pytest.fixture(scope="module")
def page(browser):
    p = browser.new_page(viewport={"width": 1400, "height": 1000})
    p.errors = []
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    yield p
    p.close()


@pytest.fixture(autouse=True)
def _no_script_errors(request):
    yield
    if "page" in request.fixturenames:
        p = request.getfixturevalue("page")
        errors, p.errors[:] = list(p.errors), []
        p.emulate_media(reduced_motion="no-preference")
        assert not errors, f"the player threw: {errors}"


# ---- what the record says a person should see -----------------------------------------------------------
def fixed(x: float, k: int = 3) -> str:
    """JavaScript's Number(x).toFixed(k) (round half away from zero on the exact double)."""
    return str(Decimal(x).quantize(Decimal(10) ** -k, rounding=ROUND_HALF_UP))


def fmt(x, k: int = 3) -> str:
    return "–" if x is None else fixed(x, k)


def r4(x):
    return None if x is None else round(float(x), 4)


def on_canvas(text: str) -> str:  # a token in the canvas: line breaks as ⏎ (then a <br>)
    return text.replace("\n", "⏎") or "∅"


def shown(text: str) -> str:  # a token in tables and hovers: spaces, breaks and tabs visible
    return text.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·") or "∅"


def writers(traj: Trajectory) -> list[dict]:
    """For every step s (0..n): canvas position -> what last wrote it ("pin", "redo", "stop_string",
    or ("commit", step))."""
    who, out = {}, [{}]
    for s, rec in enumerate(traj.steps, start=1):
        for e in rec.forced:
            if e.before_step:
                who[e.pos] = e.kind
        for p in rec.committed:
            who[p] = ("commit", s)
        for e in rec.forced:
            if not e.before_step:
                who[e.pos] = "stop_string"
        out.append(dict(who))
    return out


def expected_canvas(traj: Trajectory, s: int, who: dict) -> list[tuple]:
    """(canvas position, text, kind) for every token of the canvas after step s (pads shown)."""
    mask, slots, initial = traj.special_ids["mask"], set(traj.slots), traj.initial_ids
    canvas = traj.canvas_at(s)
    rec = traj.steps[s - 1] if s else None
    prev = traj.steps[s - 2] if s >= 2 else None
    out = []
    for pos in range(traj.prompt_len, len(canvas)):
        tok = canvas[pos]
        if pos not in slots:
            assert tok == initial[pos], "given text changed on the canvas"
            out.append((pos, on_canvas(traj.piece(tok)), "given"))
        elif tok != mask:
            w = who.get(pos)
            kind = ("given" if w is None else "pinned" if w == "pin" else "stopped" if w == "stop_string"
                    else "now" if w == ("commit", s) else "done")
            out.append((pos, on_canvas(traj.piece(tok)), kind))
        else:
            cand = rec and next((c for c in rec.candidates if c.pos == pos and pos not in rec.committed), None)
            if cand and cand.token != mask:
                before = prev and next((c for c in prev.candidates if c.pos == pos), None)
                changed = before is not None and before.token != cand.token
                out.append((pos, on_canvas(traj.piece(cand.token)), "draft*" if changed else "draft"))
            else:
                out.append((pos, "▒", "mask"))
    return out


def seen_kind(tok: dict) -> str:
    cls = set(tok["cls"])
    for c, kind in (("ddp-given", "given"), ("ddp-pinned", "pinned"), ("ddp-stopped", "stopped"), ("ddp-now", "now")):
        if c in cls:
            return kind
    if "ddp-draft" in cls:
        return "draft*" if "ddp-changed" in cls else "draft"
    return "mask" if "ddp-mask" in cls else "done"


def expected_why(traj: Trajectory, s: int, texts: dict = EN) -> tuple[list[list[str]], int | None]:
    """The why table's rows after step s, and the index of the row with the cut line."""
    rec, rows = traj.steps[s - 1], {p: i for i, p in enumerate(traj.slots)}
    ranked = sorted((c for c in rec.candidates if c.pos in rows), key=lambda c: c.rank)
    kept = [c.rank for c in ranked if c.pos in rec.committed]
    table = [[str(c.rank), str(rows[c.pos]), shown(traj.piece(c.token)), fmt(r4(c.conf)),
              fmt(None if c.entropy is None else round(c.entropy, 3)), fmt(r4(c.margin)),
              "✔ " + texts["committed"] if c.pos in rec.committed else "",
              ", ".join(f"{shown(traj.piece(t))} {fixed(r4(p), 2)}" for t, p in c.top[1:4])]
             for c in ranked[:40]]
    cut = [i for i, c in enumerate(ranked[:40]) if kept and c.rank == max(kept)]
    return table, (cut[0] if cut else None)


def expected_hover(traj: Trajectory, s: int, r: int, kind: str, texts: dict = EN) -> list[str]:
    """The hover of row r's cell after step s (token view)."""
    pos, mask = traj.slots[r], traj.special_ids["mask"]
    rec = traj.steps[s - 1] if s else None
    cand = rec and next((c for c in rec.candidates if c.pos == pos), None)
    lines = [texts["cell"].format(step=s, row=r, pos=pos)]
    tok = traj.canvas_at(s)[pos]
    if tok == mask:
        state, tok = (texts["draft"], cand.token) if cand else (texts["masked"], None)
    else:
        state = {"given": texts["given"], "pinned": texts["pinned"], "stopped": texts["forced"],
                 "now": texts["now"], "done": texts["earlier"]}[kind]
    redo = rec is not None and any(e.pos == pos and e.kind == "redo" for e in rec.forced)
    lines.append(f"{state}{': ' + shown(traj.piece(tok)) if tok is not None else ''}"
                 f"{' · ' + texts['redo'] if redo else ''}")
    if cand:
        nr = texts["not_recorded"]
        ent = nr if cand.entropy is None else fmt(round(cand.entropy, 3))
        mar = nr if cand.margin is None else fmt(r4(cand.margin))
        lines.append(f"{texts['confidence']} {fmt(r4(cand.conf))} · {texts['entropy']} {ent} · {texts['margin']} {mar}")
        n = sum(c.pos in set(traj.slots) for c in rec.candidates)
        lines.append(f"{texts['rank']} {cand.rank} / {n}{' · ' + texts['committed'] if pos in rec.committed else ''}")
        lines += [f"  {shown(traj.piece(t))} {fmt(r4(p))}" for t, p in cand.top[:5]]
        if cand.rest is not None:
            lines.append(f"  {texts['rest']} {fmt(r4(cand.rest))}")
    return lines


def masks_left(traj: Trajectory, s: int) -> int:
    canvas, mask = traj.canvas_at(s), traj.special_ids["mask"]
    return sum(canvas[p] == mask for p in traj.slots)


# Everything the player shows at every step, read in one pass: canvas, why, caption, hovers.
READ_ALL_JS = f"""() => {{
  const root = {ROOT}, api = root.__ddpApi, out = [];
  for (let s = 0; s <= api.lastStep(); s++) {{
    api.go(s);
    const rows = api.rows();
    out.push({{
      step: Number(root.dataset.step),
      tokens: [...root.querySelectorAll('.ddp-tokens .ddp-tok')].map((n) => ({{text: n.textContent,
        pos: n.dataset.pos === undefined ? null : Number(n.dataset.pos), cls: [...n.classList]}})),
      why: [...root.querySelectorAll('.ddp-why table tr')].slice(1).map((tr) => [...tr.children].map((td) => td.textContent)),
      cut: [...root.querySelectorAll('.ddp-why table tr')].slice(1).flatMap((tr, i) => tr.classList.contains('ddp-cut') ? [i] : []),
      head: (root.querySelector('.ddp-whyhead') || {{}}).textContent || null,
      rule: (root.querySelector('.ddp-rule') || {{}}).textContent || null,
      more: [...root.querySelectorAll('.ddp-why > p')].map((p) => p.textContent),
      forced: [...root.querySelectorAll('.ddp-why .ddp-forced')].map((p) => p.textContent),
      caption: root.querySelector('.ddp-caption').textContent,
      hover: rows.map((r, i) => [r[0], api.cellText(Math.max(s, 1), i)]),
    }});
  }}
  return out;
}}"""


def check_every_step(page, case: Case, texts: dict = EN) -> None:
    """Items 2 and 3: the canvas, the why table and the hover at every step read the record."""
    traj = case.traj
    page.check(".ddp-pads")  # every row shown, no folded chip
    seen = page.evaluate(READ_ALL_JS)
    assert len(seen) == len(traj.steps) + 1
    who = writers(traj)
    rows = {p: i for i, p in enumerate(traj.slots)}
    problems, spaced = [], 0
    for s, shot in enumerate(seen):
        assert shot["step"] == s
        want = expected_canvas(traj, s, who[s])
        got = [(t["pos"], t["text"], seen_kind(t)) for t in shot["tokens"]]
        if got != want:
            bad = [(w, g) for w, g in zip(want, got) if w != g][:4]
            problems.append(f"step {s}: canvas {len(got)} tokens vs {len(want)}; first differences {bad}")
        if s == 0:
            assert shot["head"] is None and texts["no_step"] in shot["more"]
        else:
            rec = traj.steps[s - 1]
            table, cut = expected_why(traj, s, texts)
            if shot["why"] != table:
                bad = [(w, g) for w, g in zip(table, shot["why"]) if w != g][:3]
                problems.append(f"step {s}: why table differs: {bad}")
            assert shot["cut"] == ([] if cut is None else [cut]), f"step {s}: cut line on {shot['cut']}, not {cut}"
            window = [i for i, p in enumerate(traj.slots) if rec.window[0] <= p < rec.window[1]]
            ncand = sum(c.pos in rows for c in rec.candidates)
            head = (f"{texts['step']} {s} · {texts['block']} {rec.block + 1}"
                    f"{f' ({window[0]}–{window[-1]})' if window else ''} · {ncand} {texts['candidates']} · "
                    f"{sum(p in rows for p in rec.committed)} {texts['committed']}")
            assert shot["head"] == head
            assert shot["rule"] == rule_words(rec, traj_lang(texts))
            if ncand > 40:
                assert texts["more"].format(k=ncand - 40) in shot["more"]
            what = {"pin": texts["pinned"], "redo": texts["redo"], "stop_string": texts["forced"]}
            mask = traj.special_ids["mask"]
            forced = [f"{rows[e.pos]}: {what[e.kind]} · "
                      f"{shown(traj.piece(e.was if e.token == mask and e.was is not None else e.token))}"
                      for e in rec.forced if e.pos in rows]
            assert shot["forced"] == forced
            # The caption (and the screen-reader line) is the record's sentence, with the masks left counted.
            assert shot["caption"] == step_line(traj, rec, masks_left(traj, s), len(traj.steps), traj_lang(texts))
        if case.name == "gen32" and s and any(traj.piece(c.token).startswith(" ") for c in traj.steps[s - 1].candidates):
            spaced += 1
            assert any(row[2].startswith("·") for row in shot["why"]), f"step {s}: a leading space without its ·"
        if case.name == "old" and s:
            assert all(row[4] == row[5] == "–" for row in shot["why"]), "an old file's entropy and margin"
            assert any(f"{texts['entropy']} {texts['not_recorded']}" in " ".join(lines) for _, lines in shot["hover"])
        kinds = {p: k for p, _, k in want}
        hs = max(s, 1)
        hk = kinds if s else {p: k for p, _, k in expected_canvas(traj, 1, who[1])}
        for r, lines in shot["hover"]:
            want_lines = expected_hover(traj, hs, r, hk[traj.slots[r]], texts)
            if lines != want_lines:
                problems.append(f"step {hs} row {r}: hover {lines} != {want_lines}")
                break
    assert not problems, "\n".join(problems[:12])
    assert spaced or case.name != "gen32", "no proposal with a leading space: the · check meant nothing"
    # The heatmap as a table: each position's final token, and when, at what rank and how surely it was
    # last committed.
    open_table(page)
    n, mask = len(traj.steps), traj.special_ids["mask"]
    final, when = traj.canvas_at(n), {}
    for i, rec in enumerate(traj.steps, start=1):
        for c in rec.candidates:
            if c.pos in rows and c.pos in rec.committed:
                when[rows[c.pos]] = [str(i), str(c.rank), fmt(r4(c.conf)),
                                     fmt(None if c.entropy is None else round(c.entropy, 3)), fmt(r4(c.margin))]
    want = [[str(r), str(p), "▒" if final[p] == mask else shown(traj.piece(final[p])),
             *when.get(r, ["", "", "–", "–", "–"])] for r, p in enumerate(traj.slots)]
    assert table_rows(page) == want
    page.click(".ddp-table-box summary")
    page.uncheck(".ddp-pads")


def traj_lang(texts: dict) -> str:
    return "tr" if texts is TR else "en"


# ---- 2 and 3: every step of every run -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gen32", "gen1", "infill", "infill_chat", "redo", "pin", "old", "stop", "maskprop"])
def test_every_step_reads_the_record(page, runs, name):
    case = runs[name]
    show(page, case.value())
    assert shown_step(page) == len(case.traj.steps), "a finished run opens at its last step"
    check_every_step(page, case)


# ---- 1: one step everywhere --------------------------------------------------------------------------------
STATE_JS = f"""() => {{
  const root = {ROOT}, q = (s) => root.querySelector(s);
  return {{data: Number(root.dataset.step), state: root.__ddp.step, slider: Number(q('.ddp-slider').value),
    sliderMax: Number(q('.ddp-slider').max), num: Number(q('.ddp-num').value), valuetext: q('.ddp-slider').getAttribute('aria-valuetext'),
    caption: q('.ddp-caption').textContent, head: (q('.ddp-whyhead') || {{}}).textContent || q('.ddp-why').textContent,
    say: q('.ddp-say').textContent, playing: q('.ddp-play').getAttribute('aria-pressed')}};
}}"""

# The marker: the columns of the overlay that hold any paint (there is no split and no row picked).
MARKER_JS = """() => {
  const over = document.querySelector('[data-ddp] .ddp-over'), g = over.getContext('2d');
  const {width, height} = over, px = g.getImageData(0, 0, width, height).data, cols = [];
  for (let x = 0; x < width; x++) for (let y = 0; y < height; y++) if (px[(y * width + x) * 4 + 3] > 0) { cols.push(x); break; }
  const b = over.getBoundingClientRect();
  return {cols, left: b.left, top: b.top, height: b.height, dpr: window.devicePixelRatio};
}"""


def marker_columns(page) -> list[int]:
    return page.evaluate(MARKER_JS)["cols"]


def hover_step(page, x: float, row: int = 0) -> int:
    """The step the hover names for a point of the heatmap (x in canvas pixels)."""
    rows = page.evaluate(f"{API}.rows().length")
    m = page.evaluate(MARKER_JS)
    rh = (m["height"] - 2) / rows
    y = m["top"] + 1 + rh * (row + 0.5)
    page.evaluate("(y) => window.scrollBy(0, y - innerHeight / 2)", y)  # the row in the viewport
    m = page.evaluate(MARKER_JS)
    page.mouse.move(m["left"] + x / m["dpr"], m["top"] + 1 + rh * (row + 0.5))
    tip = page.text_content(".ddp-tip")
    assert page.is_visible(".ddp-tip"), "no hover"
    return int(re.match(r"step (\d+),", tip).group(1))


def assert_one_step(page, traj: Trajectory, step: int, marker: bool = True) -> None:
    """Everything that shows the step shows `step`; the screen-reader line after its pause."""
    n = len(traj.steps)
    st = page.evaluate(STATE_JS)
    caption = step_line(traj, traj.steps[step - 1], masks_left(traj, step), n) if step else f"Step 0 of {n}."
    assert (st["data"], st["state"], st["slider"], st["num"]) == (step,) * 4, st
    assert st["valuetext"] == f"Step {step} of {n}"
    assert st["caption"] == caption
    assert st["head"].startswith(f"Step {step} · ") if step else st["head"] == EN["no_step"]
    page.wait_for_function(f"{ROOT}.querySelector('.ddp-say').textContent === {json.dumps(caption)}", timeout=2000)
    if marker:
        cols = marker_columns(page)
        if step == 0:
            assert cols == [], "a marker at step 0"
        else:
            assert cols, "no marker"
            assert hover_step(page, (cols[0] + cols[-1]) / 2) == step, "the marker is not on the shown step's column"
            page.mouse.move(0, 0)


def test_one_step_everywhere_keys_number_box_and_buttons(page, runs):
    traj = runs["gen32"].traj
    n = len(traj.steps)
    show(page, runs["gen32"].value())
    page.evaluate(f"{ROOT}.querySelector('.ddp-say').textContent = ''")
    page.focus(".ddp-heat")  # the heatmap: the player's own shortcuts
    for key, want in [("Home", 0), ("ArrowRight", 1), ("ArrowRight", 2), ("ArrowLeft", 1), ("PageDown", 11),
                      ("PageDown", 21), ("PageUp", 11), ("End", n), ("ArrowRight", n), ("PageUp", n - 10),
                      ("Home", 0), ("ArrowLeft", 0)]:
        page.keyboard.press(key)
        assert shown_step(page) == want, f"{key} on the heatmap"
        assert_one_step(page, traj, want, marker=key in ("Home", "PageDown", "End"))
    page.focus(".ddp-next")  # a button of the player: the same shortcuts (Space there presses the button)
    page.keyboard.press("PageDown")
    assert_one_step(page, traj, 10, marker=False)
    page.focus(".ddp-slider")  # the slider: the same keys, ten steps a page as everywhere
    for key, want in [("ArrowRight", 11), ("ArrowLeft", 10), ("End", n), ("ArrowLeft", n - 1), ("PageUp", n - 11),
                      ("PageDown", n - 1), ("Home", 0), ("PageDown", 10), ("ArrowRight", 11)]:
        page.keyboard.press(key)
        assert shown_step(page) == want, f"{key} on the slider"
        assert_one_step(page, traj, want, marker=False)
    for typed in (17, 0, n, n + 50, -3):  # the number box (clamped to the run)
        page.fill(".ddp-num", str(typed))
        page.keyboard.press("Enter")
        assert_one_step(page, traj, min(max(typed, 0), n), marker=typed == 17)
    go(page, 30)
    for button, want in [(".ddp-prev", 29), (".ddp-next", 30), (".ddp-next", 31), (".ddp-first", 0), (".ddp-prev", 0),
                         (".ddp-last", n), (".ddp-next", n)]:
        page.click(button)
        assert_one_step(page, traj, want, marker=button == ".ddp-prev" and want == 29)


def test_play_pause_resume_and_reduced_motion(page, runs):
    traj = runs["gen32"].traj
    n = len(traj.steps)
    show(page, runs["gen32"].value())
    page.select_option(".ddp-speed", "3")  # 20 steps a second
    page.click(".ddp-first")
    page.click(".ddp-play")
    assert page.get_attribute(".ddp-play", "aria-pressed") == "true"
    assert page.get_attribute(".ddp-play", "aria-label") == EN["pause"]
    page.wait_for_function(f"Number({ROOT}.dataset.step) >= 4")
    page.click(".ddp-play")  # pause
    paused = shown_step(page)
    assert 4 <= paused < n
    assert page.get_attribute(".ddp-play", "aria-pressed") == "false"
    assert page.get_attribute(".ddp-play", "aria-label") == EN["play"]
    page.wait_for_timeout(400)
    assert shown_step(page) == paused, "the step moved while paused"
    assert_one_step(page, traj, paused)
    # Resume: the next step shown is the one after the pause, not a restart.
    page.evaluate(f"""() => {{ window.__seen = []; new MutationObserver(() => window.__seen.push(Number({ROOT}.dataset.step)))
        .observe({ROOT}, {{attributes: true, attributeFilter: ['data-step']}}); }}""")
    page.click(".ddp-play")
    page.wait_for_function(f"Number({ROOT}.dataset.step) >= {paused + 2}")
    page.click(".ddp-play")
    seen = page.evaluate("window.__seen")
    assert seen[:2] == [paused + 1, paused + 2], seen
    # Space on the heatmap plays; it runs to the last step and stops there, then says where it is.
    page.focus(".ddp-heat")
    page.keyboard.press("End")
    page.keyboard.press("Home")
    page.keyboard.press(" ")
    page.wait_for_function(f"{ROOT}.querySelector('.ddp-play').getAttribute('aria-pressed') === 'false'", timeout=10_000)
    assert shown_step(page) == n
    assert_one_step(page, traj, n, marker=False)

    page.emulate_media(reduced_motion="reduce")
    show(page, runs["gen32"].value())
    assert EN["reduced"] in page.text_content(".ddp-keys-help")
    page.click(".ddp-first")
    page.click(".ddp-play")
    assert shown_step(page) == n, "with reduced motion, Play shows the last step at once"
    assert page.get_attribute(".ddp-play", "aria-pressed") == "false"
    assert_one_step(page, traj, n)


# ---- the heatmap's pixels --------------------------------------------------------------------------------
CELL_JS = """([x0, x1, i]) => {
  const heat = document.querySelector('[data-ddp] .ddp-heat'), g = heat.getContext('2d');
  const rows = document.querySelector('[data-ddp]').__ddpApi.rows().length, rh = (heat.height - 2) / rows;
  const y0 = Math.round(1 + i * rh), y1 = Math.round(1 + (i + 1) * rh) - 1;
  const px = g.getImageData(x0, y0, x1 - x0, y1 - y0).data, seen = new Set();
  for (let k = 0; k < px.length; k += 4) seen.add(`${px[k]},${px[k + 1]},${px[k + 2]}`);
  const c = g.getImageData(Math.floor((x0 + x1) / 2), Math.floor((y0 + y1) / 2), 1, 1).data;
  return {colours: [...seen].map((s) => s.split(',').map(Number)), centre: [c[0], c[1], c[2]]};
}"""


def cell_pixels(page, step: int, i: int) -> dict:
    """The colours inside the heatmap cell of visible row i at `step` (found from the step marker)."""
    go(page, step)
    cols = marker_columns(page)
    x, cw = cols[0] + 1, cols[-1] - cols[0] - 1
    return page.evaluate(CELL_JS, [x, x + cw - 1, i])


def hexrgb(h: str) -> list[int]:
    return [int(h[k:k + 2], 16) for k in (1, 3, 5)]


def near(a, b, tol: int = 2) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def has_colour(colours, want, tol: int = 2) -> bool:
    return any(near(c, want, tol) for c in colours)


def visible_index(page, row: int) -> int:
    return next(i for i, rows in enumerate(page.evaluate(f"{API}.rows()")) if row in rows)


def token_at(page, pos: int) -> dict:
    return next(t for t in canvas_tokens(page) if t["pos"] == pos)


def open_table(page) -> None:
    """Open "The heatmap as a table" (drawn on its toggle event)."""
    page.click(".ddp-table-box summary")
    page.wait_for_selector(".ddp-table-alt table")


def table_rows(page) -> list[list[str]]:
    return page.evaluate("""() => [...document.querySelectorAll('[data-ddp] .ddp-table-alt table tr')].slice(1)
        .map((tr) => [...tr.children].map((td) => td.textContent))""")


def hist_rows(page) -> list[list[str]]:
    return page.evaluate("""() => [...document.querySelectorAll('[data-ddp] .ddp-hist table tr')].slice(1)
        .map((tr) => [...tr.children].map((td) => td.textContent))""")


def split_columns_map_to_the_split(page, split: int) -> None:
    """At step 0 (no marker) the overlay holds only the split's dotted line: hovering just left of it
    names step `split`, just right of it step `split + 1`."""
    page.evaluate(f"{ROOT}.__ddp.hist = null")  # no row picked: its outline would cross the overlay
    go(page, 0)
    cols = marker_columns(page)
    assert cols and cols[-1] - cols[0] <= 2, f"the split line: {cols}"
    assert hover_step(page, cols[0] - 2) == split
    assert hover_step(page, cols[-1] + 2) == split + 1
    page.mouse.move(0, 0)


# ---- 4: pins, the stop check, redo, the split ---------------------------------------------------------------
def test_pin_is_drawn_as_a_pin(page, runs):
    case = runs["pin"]
    traj, (row, token) = case.traj, case.pinned
    pos, s = traj.slots[row], case.split + 1
    show(page, case.value())
    for step in (s, len(traj.steps)):
        go(page, step)
        tok = token_at(page, pos)
        assert "ddp-pinned" in tok["cls"] and "ddp-stopped" not in tok["cls"]
        assert tok["text"] == on_canvas(traj.piece(token))
        title = page.get_attribute(f".ddp-tokens [data-pos='{pos}']", "title")
        assert title.endswith(EN["pinned"]) and "stop check" not in title
        i = visible_index(page, row)
        hover = page.evaluate(f"([s, i]) => {API}.cellText(s, i)", [step, i])
        assert hover[1] == f"{EN['pinned']}: {shown(traj.piece(token))}"
        assert not any("stop check" in line for line in hover)
        px = cell_pixels(page, step, i)
        assert has_colour(px["colours"], hexrgb(palette.PIN)), "a pinned cell is the pin's colour"
        if step > s:  # the diamond only marks the step that pinned it
            assert near(px["centre"], hexrgb(palette.PIN))
        assert not has_colour(px["colours"], hexrgb(palette.FORCED), 10)
    go(page, s)
    assert has_colour(cell_pixels(page, s, i)["colours"], [0, 0, 0], 40), "the pin's diamond"
    assert f"{row}: {EN['pinned']} · {shown(traj.piece(token))}" in page.evaluate(
        "() => [...document.querySelectorAll('.ddp-why .ddp-forced')].map((p) => p.textContent)")
    page.click(f".ddp-tokens [data-pos='{pos}']")  # its history names the pin
    assert [s and str(s), shown(traj.piece(token)), "", "", "", "", EN["pinned"]] in hist_rows(page)
    split_columns_map_to_the_split(page, case.split)


def test_stop_check_edits_are_drawn_as_the_stop_check(page, runs):
    case = runs["stop"]
    traj = case.traj
    rows = {p: r for r, p in enumerate(traj.slots)}
    show(page, case.value())
    page.check(".ddp-pads")
    checked = 0
    for s, rec in enumerate(traj.steps, start=1):
        for e in rec.forced:
            go(page, s)
            tok = token_at(page, e.pos)
            assert "ddp-stopped" in tok["cls"] and "ddp-pinned" not in tok["cls"]
            assert page.get_attribute(f".ddp-tokens [data-pos='{e.pos}']", "title").endswith(EN["forced"])
            i = visible_index(page, rows[e.pos])
            hover = page.evaluate(f"([s, i]) => {API}.cellText(s, i)", [s, i])
            assert hover[1] == f"{EN['forced']}: {shown(traj.piece(e.token))}"
            if checked < 3:
                px = cell_pixels(page, s, i)
                assert has_colour(px["colours"], hexrgb(palette.FORCED)) and has_colour(px["colours"], [255, 255, 255], 30), \
                    "a stop-check cell is red with a white ✕"
            checked += 1
    assert checked


def test_redo_rows_are_masked_at_the_split_with_the_redo_event(page, runs):
    case = runs["redo"]
    traj, split = case.traj, case.split
    rows = {p: r for r, p in enumerate(traj.slots)}
    show(page, case.value())
    page.check(".ddp-pads")
    before, after = traj.canvas_at(split), traj.canvas_at(split + 1)
    for pos in case.redone:
        go(page, split)
        tok = token_at(page, pos)
        assert tok["text"] == on_canvas(traj.piece(before[pos])) and "ddp-mask" not in tok["cls"]
        go(page, split + 1)
        hover = page.evaluate(f"([s, i]) => {API}.cellText(s, i)", [split + 1, visible_index(page, rows[pos])])
        assert hover[1].endswith(" · " + EN["redo"]), hover
        tok = token_at(page, pos)
        if after[pos] == traj.special_ids["mask"]:
            assert "ddp-mask" in tok["cls"]
        assert f"{rows[pos]}: {EN['redo']} · {shown(traj.piece(before[pos]))}" in page.evaluate(
            "() => [...document.querySelectorAll('.ddp-why .ddp-forced')].map((p) => p.textContent)")
        assert has_colour(cell_pixels(page, split + 1, visible_index(page, rows[pos]))["colours"],
                          hexrgb(palette.REDO), 40), "the redo ring"
    # Rows not redone carry no redo event.
    other = next(r for r in range(len(traj.slots)) if traj.slots[r] not in case.redone)
    hover = page.evaluate(f"([s, i]) => {API}.cellText(s, i)", [split + 1, visible_index(page, other)])
    assert EN["redo"] not in hover[1]
    split_columns_map_to_the_split(page, split)


# ---- 5: the word view and the pads ------------------------------------------------------------------------
def test_word_view_folds_the_pads_and_keeps_the_heatmap_wide(page, runs):
    case = runs["gen32"]
    traj, value = case.traj, case.value()
    words = value["words"]
    pads = words[-1]
    assert pads["pads"] and all(not w["pads"] for w in words[:-1])
    n = len(traj.steps)
    for host in (False, True):  # the exported page (1100 px wide at most) and a full-width Gradio-like host
        host_page(page, value) if host else show(page, value)
        width = lambda: page.evaluate(  # noqa: E731
            f"() => parseFloat({ROOT}.querySelector('.ddp-heat').style.width) / {ROOT}.clientWidth")
        # Token view: one row per position, the pads hidden unless asked for.
        assert page.evaluate(f"{API}.rows()") == [[r] for r in range(len(traj.slots)) if r not in pads["rows"]]
        page.check(".ddp-pads")
        assert page.evaluate(f"{API}.rows()") == [[r] for r in range(len(traj.slots))]
        page.uncheck(".ddp-pads")
        page.select_option(".ddp-view", "words")
        assert page.evaluate(f"{API}.rows()") == [w["rows"] for w in words[:-1]]
        assert width() > 0.6, "the word view's heatmap lost its width"
        page.check(".ddp-pads")
        assert page.evaluate(f"{API}.rows()") == [w["rows"] for w in words], "the pads: one row when shown"
        assert width() > 0.6
        i = len(words) - 1
        assert page.evaluate(f"([s, i]) => {API}.cellText(s, i)", [n, i])[0] == f"Step {n} · {pads['text']}"
        page.uncheck(".ddp-pads")
        page.select_option(".ddp-view", "tokens")
        assert width() > 0.6
    # A word's cell is as sure as its least sure piece (last step: every piece committed earlier or now).
    page.select_option(".ddp-view", "words")
    conf = {}
    for rec in traj.steps:
        for c in rec.candidates:
            if c.pos in rec.committed:
                conf[c.pos] = r4(c.conf)
    k, word = next((k, w) for k, w in enumerate(words) if len(w["rows"]) >= 3 and not w["pads"])
    least = min(conf[traj.slots[r]] for r in word["rows"])
    centre = cell_pixels(page, n, k)["centre"]
    assert near(centre, palette.rgb(least)), (centre, palette.rgb(least))
    page.select_option(".ddp-view", "tokens")

    # The canvas folds the pads into one chip at the last step only, and not when pads are shown.
    pad_pos = {traj.slots[r] for r in pads["rows"]}
    go(page, n)
    toks = canvas_tokens(page)
    chips = [t for t in toks if "ddp-folded" in t["cls"]]
    assert [c["text"] for c in chips] == [EN["pads_folded"].format(k=len(pads["rows"]))]
    assert not pad_pos & {t["pos"] for t in toks}
    assert "ddp-folded" in toks[-1]["cls"], "the chip ends the canvas"
    go(page, n - 1)
    assert not [t for t in canvas_tokens(page) if "ddp-folded" in t["cls"]]
    assert pad_pos <= {t["pos"] for t in canvas_tokens(page)}
    go(page, n)
    page.check(".ddp-pads")
    toks = canvas_tokens(page)
    assert not [t for t in toks if "ddp-folded" in t["cls"]] and pad_pos <= {t["pos"] for t in toks}


# ---- 6: hostile text stays text ----------------------------------------------------------------------------
def test_hostile_pieces_and_label_are_shown_as_text(page, runs):
    base = runs["infill"].traj
    slots, n = set(base.slots), len(base.steps)
    final = base.canvas_at(n)
    given = next(t for p, t in enumerate(base.initial_ids) if p not in slots and base.piece(t).strip())
    rec_i, cand = next((i, c) for i, rec in enumerate(base.steps) for c in rec.candidates
                       if c.pos in rec.committed and c.token != given)
    written = cand.token
    alt = next(t for t, _ in cand.top[1:4] if t not in (given, written))
    pieces = {**base.pieces, written: PAYLOADS[0], given: PAYLOADS[1], alt: " " + PAYLOADS[0]}
    traj = dataclasses.replace(base, pieces=pieces)
    label = PAYLOADS[1] + PAYLOADS[0]
    show(page, run_value(traj, label=label, redo=True))
    assert page.text_content(".ddp-label") == label
    go(page, n)
    text = page.text_content(".ddp-tokens")
    assert PAYLOADS[0] in text and PAYLOADS[1] in text, "the pieces are not on the canvas as text"
    s = rec_i + 1
    go(page, s)
    rows = why_rows(page)
    assert any(r[2] == shown(PAYLOADS[0]) for r in rows), "why: the proposal"
    assert any(shown(" " + PAYLOADS[0]) in r[7] for r in rows), "why: the next best"
    assert shown(" " + PAYLOADS[0]).startswith("·<img")
    page.click(f".ddp-tokens [data-pos='{cand.pos}']")
    assert any(r[1] == shown(PAYLOADS[0]) for r in hist_rows(page)), "history"
    i = visible_index(page, base.slots.index(cand.pos))
    hover = "\n".join(page.evaluate(f"([s, i]) => {API}.cellText(s, i)", [s, i]))
    assert shown(PAYLOADS[0]) in hover and shown(" " + PAYLOADS[0]) in hover
    go(page, s)
    cols = marker_columns(page)
    hover_step(page, (cols[0] + cols[-1]) / 2, i)  # the real tooltip, under the mouse
    assert shown(PAYLOADS[0]) in page.text_content(".ddp-tip")
    open_table(page)
    assert final[cand.pos] == written and shown(PAYLOADS[0]) in page.text_content(".ddp-table-alt")
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    found = page.evaluate(f"""() => ({{img: {ROOT}.querySelectorAll('img').length,
        scripts: document.querySelectorAll('script').length,
        handlers: [...{ROOT}.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith('on')).map((a) => a.name))}})""")
    assert found == {"img": 0, "scripts": 2, "handlers": []}, found


# ---- 7: choosing tokens to redo -----------------------------------------------------------------------------
def selected(page) -> list[int]:
    return page.evaluate("""() => [...document.querySelectorAll('[data-ddp] .ddp-tokens [role=option]')]
        .filter((n) => n.getAttribute('aria-selected') === 'true').map((n) => Number(n.dataset.pos))""")


def focused_pos(page):
    return page.evaluate("() => { const p = document.activeElement.dataset.pos; return p === undefined ? null : Number(p); }")


def test_redo_selection_by_click_shift_click_and_keys(page, runs):
    case = runs["gen32"]
    traj = case.traj
    n, slots = len(traj.steps), traj.slots
    show(page, case.value(redo=True))
    assert page.is_disabled(".ddp-redo-btn") and page.text_content(".ddp-redo-btn") == EN["nothing_sel"]
    tok = lambda p: f".ddp-tokens [data-pos='{p}']"  # noqa: E731
    page.click(tok(slots[2]))
    assert selected(page) == [slots[2]]
    page.click(tok(slots[6]), modifiers=["Shift"])
    assert selected(page) == slots[2:7], "shift+click selects the range"
    assert page.text_content(".ddp-redo-btn") == EN["redo_btn"].format(k=5)
    page.click(tok(slots[4]))  # a click toggles one off
    assert selected(page) == [slots[2], slots[3], slots[5], slots[6]]
    page.click(".ddp-folded")  # the folded pads are no token to redo
    assert selected(page) == [slots[2], slots[3], slots[5], slots[6]]
    page.click(".ddp-redo-btn")
    assert events(page) == [["submit", {"positions": [slots[2], slots[3], slots[5], slots[6]]}]]
    page.click(".ddp-clear")
    assert selected(page) == [] and page.is_disabled(".ddp-redo-btn")

    # Keys, in the canvas: one tab stop (roving), arrows move, Space/Enter toggle, Shift+arrows extend.
    page.click(tok(slots[12]))
    page.click(tok(slots[9]))
    page.click(".ddp-redo-btn")
    assert events(page)[-1] == ["submit", {"positions": [slots[9], slots[12]]}], "positions sorted"
    page.click(".ddp-clear")
    page.click(tok(slots[10]))
    page.click(tok(slots[10]))  # selected then unselected: the focus stays on it
    assert selected(page) == [] and focused_pos(page) == slots[10]
    step = shown_step(page)
    page.keyboard.press("ArrowRight")
    assert focused_pos(page) == slots[11] and shown_step(page) == step, "arrows in the canvas move, not step"
    tabbable = page.evaluate(
        "() => [...document.querySelectorAll('[data-ddp] .ddp-tokens [tabindex]')].filter((n) => n.tabIndex === 0).length")
    assert tabbable == 1
    page.keyboard.press(" ")
    assert selected(page) == [slots[11]] and shown_step(page) == step and not page.evaluate(f"{ROOT}.__ddp.timer")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    assert selected(page) == slots[11:14] and focused_pos(page) == slots[13]
    page.keyboard.press("Enter")
    assert selected(page) == slots[11:13]
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    assert selected(page) == [slots[11]]
    page.click(".ddp-redo-btn")
    assert events(page)[-1] == ["submit", {"positions": [slots[11]]}]
    assert shown_step(page) == n

    show(page, case.value(redo=False))
    assert page.query_selector(".ddp-redo-btn") is None
    page.click(tok(slots[2]))
    assert selected(page) == []


# ---- 8: the lesson's quiz -------------------------------------------------------------------------------------
def quiz_value(case: Case, step: int, picks: list[int], revealed: bool, **more) -> dict:
    quiz = {"step": step, "picks": picks, "revealed": revealed, "done": False, "question": f"Question {step}",
            "feedback": "", "score": "", **more}
    return run_value(case.traj, label="lesson", run_id="lesson-test", extra={"quiz": quiz})


def candidate_rows(traj: Trajectory, k: int) -> list[int]:
    rows = {p: i for i, p in enumerate(traj.slots)}
    return [rows[c.pos] for c in traj.steps[k].candidates if c.pos in rows]


def host_events(page) -> list:
    return [e[:2] for e in page.evaluate("window.__ddpEvents")]


def test_quiz_shows_steps_up_to_the_question_and_picks_are_buttons(page, runs):
    case = runs["gen32"]
    traj, slots = case.traj, case.traj.slots
    k = 40
    cands = candidate_rows(traj, k)
    assert len(cands) >= 3
    picks, left_out = cands[:-1], cands[-1]
    host_page(page, quiz_value(case, k, picks, False))
    assert shown_step(page) == k and page.evaluate(f"{API}.lastStep()") == k
    assert page.get_attribute(".ddp-slider", "max") == str(k) and page.get_attribute(".ddp-num", "max") == str(k)
    n = len(traj.steps)  # "of" counts the run's steps, as the caption does, though the slider stops at the question
    assert page.text_content(".ddp-total") == f"of {n}" and page.get_attribute(".ddp-slider", "aria-valuetext") == f"Step {k} of {n}"
    assert page.text_content(".ddp-caption").startswith(f"Step {k} of {n}")
    page.focus(".ddp-heat")
    page.keyboard.press("End")
    page.keyboard.press("ArrowRight")
    assert shown_step(page) == k, "a step past the question can't be shown"
    go(page, k + 5)
    assert shown_step(page) == k
    assert page.text_content(".ddp-question") == f"Question {k}"
    assert page.query_selector(".ddp-next-q") is None

    buttons = page.evaluate("""() => [...document.querySelectorAll('[data-ddp] .ddp-tokens .ddp-pick')].map((n) => ({
        tag: n.tagName, pick: Number(n.dataset.pick), pos: Number(n.dataset.pos), text: n.textContent, title: n.title,
        label: n.getAttribute('aria-label')}))""")
    assert [b["pick"] for b in buttons] == picks and {b["tag"] for b in buttons} == {"BUTTON"}
    pending = {c.pos: c.token for c in traj.steps[k].candidates}  # the drafts of the step to guess
    for b in buttons:
        r, pos = b["pick"], slots[b["pick"]]
        assert b["pos"] == pos and b["label"] == EN["pick"].format(row=r)
        assert b["text"] == on_canvas(traj.piece(pending[pos])) + str(r)
        assert b["title"] == f"{EN['cell'].format(step=k, row=r, pos=pos)}: {EN['draft']} {shown(traj.piece(pending[pos]))}", \
            "the draft to guess shows no confidence"
    other = token_at(page, slots[left_out])
    assert other["pick"] is None and page.evaluate(
        f"document.querySelector(\"[data-ddp] .ddp-tokens [data-pos='{slots[left_out]}']\").tagName") == "SPAN"
    page.click(f".ddp-tokens [data-pick='{picks[1]}']")
    assert host_events(page) == [["click", {"pos": picks[1]}]]

    # Steps before the question show their own drafts, as in any run.
    who = writers(traj)
    page.check(".ddp-pads")
    for s in (1, k // 2, k - 1):
        go(page, s)
        got = [(t["pos"], t["text"], seen_kind(t)) for t in canvas_tokens(page)]
        assert got == expected_canvas(traj, s, who[s]), f"step {s} before the question"
    go(page, k)
    # Nothing shows what happens after the question: a position's history, the table.
    page.click(f".ddp-tokens [data-pos='{slots[left_out]}']")
    assert all(int(r[0]) <= k for r in hist_rows(page)), "the history shows steps after the question"
    open_table(page)
    canvas, mask = traj.canvas_at(k), traj.special_ids["mask"]
    for r, row in enumerate(table_rows(page)):
        assert row[3] == "" or int(row[3]) <= k
        if canvas[slots[r]] == mask:
            assert row[2] == "▒", f"row {r}: a masked position's final token shown as {row[2]!r}"

    # The answer: one more step, the Next button, and focus on it.
    set_value(page, quiz_value(case, k, picks, True, feedback="Right!"))
    assert shown_step(page) == k + 1 and page.get_attribute(".ddp-slider", "max") == str(k + 1)
    assert page.query_selector(".ddp-pick") is None
    assert page.text_content(".ddp-feedback") == "Right!"
    assert page.evaluate("document.activeElement.className") == "ddp-next-q"
    page.keyboard.press("Enter")
    assert host_events(page)[-1] == ["submit", {"next": True}]
    # The next question: focus on its first pick.
    picks2 = candidate_rows(traj, k + 1)
    set_value(page, quiz_value(case, k + 1, picks2, False))
    assert shown_step(page) == k + 1 and page.query_selector(".ddp-next-q") is None
    assert page.evaluate("Number(document.activeElement.dataset.pick)") == picks2[0]
    page.keyboard.press("Enter")
    assert host_events(page)[-1] == ["click", {"pos": picks2[0]}]


# ---- 9: Turkish -------------------------------------------------------------------------------------------------
def test_turkish_labels_and_lines(page, runs):
    case = runs["gen32"]
    traj = case.traj
    show(page, case.value(lang="tr"))
    assert page.get_attribute("[data-ddp]", "lang") == "tr"
    labels = page.evaluate(f"""() => {{ const q = (s) => {ROOT}.querySelector(s);
      return {{first: q('.ddp-first').getAttribute('aria-label'), prev: q('.ddp-prev').getAttribute('aria-label'),
        next: q('.ddp-next').getAttribute('aria-label'), last: q('.ddp-last').getAttribute('aria-label'),
        play: q('.ddp-play').getAttribute('aria-label'), controls: q('.ddp-controls').getAttribute('aria-label'),
        step: q('.ddp-slider').getAttribute('aria-label'), num: q('.ddp-num').getAttribute('aria-label'),
        heatmap: q('.ddp-heat-wrap').getAttribute('aria-label'), keys_help: q('.ddp-keys-help').textContent,
        words: [...{ROOT}.querySelectorAll('[data-t]')].map((n) => [n.dataset.t, n.textContent]),
        options: [...{ROOT}.querySelectorAll('.ddp-metric option, .ddp-view option')].map((o) => [o.value, o.textContent])}}; }}""")
    for key in ("first", "prev", "next", "last", "play", "controls", "heatmap", "keys_help"):
        assert labels[key] == TR[key], key
    assert labels["step"] == labels["num"] == TR["step"]
    assert labels["words"] and all(text == TR[key] for key, text in labels["words"])
    assert all(text == TR[value] for value, text in labels["options"])
    n = len(traj.steps)
    assert page.text_content(".ddp-total") == f"{TR['of']} {n}"
    assert page.text_content(".ddp-legend").startswith(f"{TR['confidence']}: 0")
    check_every_step(page, case, TR)  # the why header, rule, caption and hover, in Turkish
    page.focus(".ddp-heat")
    page.keyboard.press("ArrowLeft")
    line = step_line(traj, traj.steps[n - 2], masks_left(traj, n - 1), n, "tr")
    assert line.startswith(f"Adım {n - 1} / {n}")
    page.wait_for_function(f"{ROOT}.querySelector('.ddp-say').textContent === {json.dumps(line)}")
    assert page.get_attribute(".ddp-slider", "aria-valuetext") == f"{TR['step']} {n - 1} {TR['of']} {n}"
    assert page.text_content(".ddp-rule") == rule_words(traj.steps[n - 2], "tr") != rule_words(traj.steps[n - 2], "en")
    go(page, n)
    assert TR["pads_folded"].format(k=len(case.value()["words"][-1]["rows"])) in page.text_content(".ddp-tokens")
    page.select_option(".ddp-metric", "entropy")
    assert TR["entropy_scale"] in page.text_content(".ddp-legend")


# ---- 10: the colour picker --------------------------------------------------------------------------------------
def legend(page) -> str:
    return page.text_content(".ddp-legend")


def test_colour_picker_recolours_cells_from_the_record(page, runs):
    case = runs["gen32"]
    traj = case.traj
    n = len(traj.steps)
    show(page, case.value())
    rows = {p: r for r, p in enumerate(traj.slots)}
    # A position committed early, read at the last step (committed earlier: one solid colour).
    s0, c = next((s, c) for s, rec in enumerate(traj.steps, start=1) for c in rec.candidates
                 if c.pos in rec.committed and 0.3 < c.conf < 0.97 and c.entropy > 0.3 and s < n - 5)
    i = visible_index(page, rows[c.pos])
    conf, ent, mar = r4(c.conf), round(c.entropy, 3), r4(c.margin)
    shades = {"confidence": palette.rgb(conf), "entropy": palette.rgb(math.exp(-ent)), "margin": palette.rgb(mar)}
    assert not near(shades["confidence"], shades["entropy"], 6), "pick a cell whose two colours differ"
    token_bg = f"() => getComputedStyle(document.querySelector(\"[data-ddp] .ddp-tokens [data-pos='{c.pos}']\")).backgroundColor"

    def seen():
        return cell_pixels(page, n, i)["centre"], [int(x) for x in re.findall(r"\d+", page.evaluate(token_bg))[:3]]

    first_legend = legend(page)
    assert first_legend.startswith(f"{EN['confidence']}: 0") and EN["legend_scale"] in first_legend
    cell, tok = seen()
    assert near(cell, shades["confidence"]) and near(tok, shades["confidence"]), (cell, tok, shades)
    page.select_option(".ddp-metric", "entropy")
    assert legend(page).startswith(f"{EN['entropy']}: {EN['high']}") and EN["entropy_scale"] in legend(page)
    assert EN["low"] in legend(page)
    cell, tok = seen()
    assert near(cell, shades["entropy"]) and near(tok, shades["entropy"]), (cell, tok, shades)
    assert f"{EN['entropy']}" in page.get_attribute(".ddp-heat", "aria-label")
    page.select_option(".ddp-metric", "margin")
    cell, tok = seen()
    assert near(cell, shades["margin"]) and near(tok, shades["margin"])
    page.select_option(".ddp-metric", "confidence")
    assert legend(page) == first_legend
    cell, tok = seen()
    assert near(cell, shades["confidence"]) and near(tok, shades["confidence"])
    assert shown_step(page) == n, "recolouring keeps the step"


# ---- 11: live growth (Python) and in the page --------------------------------------------------------------------
def live_values(lm, settings: SamplerSettings, expected: int | None = None, seed: int = 0):
    """The values a live run sends, one per step (done=False), then the finished one."""
    run, _ = start_run(lm, "What is the capital of Turkey?", settings, seed=seed)
    view = RunView(run.snapshot(), label="live", expected=run.expected_steps() if expected is None else expected,
                   run_id="live")
    values = []
    for _ in run:
        values.append(view.update(run.snapshot(), done=False))
    values.append(view.update(run.trajectory(), done=True))
    return run, values


def test_live_values_grow_and_keep_their_old_steps(demo_lm):
    settings = SamplerSettings(steps=16, max_new_tokens=32, block_length=16)
    run, values = live_values(demo_lm, settings)
    traj = run.trajectory()
    n = len(traj.steps)
    assert len(values) == n + 1 and n == run.expected_steps()
    for k, (before, after) in enumerate(zip(values, values[1:]), start=1):
        assert len(after["steps"]) == len(before["steps"]) + (k < n)
        assert after is not before and (after["steps"] is not before["steps"] or k == n)
        assert all(a is b for a, b in zip(after["steps"], before["steps"])), f"frame {k}: an old step was rebuilt"
        for key in ("text", "palette", "rows", "initial", "edges"):
            assert after[key] is before[key], key
    for v in values[:-1]:
        assert v["done"] is False and v["expected"] == n and v["redo"] is False
        assert not {"words", "reply", "empty"} & v.keys()
    final = values[-1]
    assert final["done"] is True and final["reply"] == traj.reply
    assert final["words"] and all(isinstance(r, int) for w in final["words"] for r in w["rows"])
    # Built live or in one go, the steps are the same.
    assert final["steps"] == run_value(traj, label="live")["steps"]
    assert final["pieces"] == {k: v for k, v in run_value(traj, label="live")["pieces"].items() if k in final["pieces"]}


def test_live_run_in_the_page_follows_then_stays_where_the_person_is(page, demo_lm):
    # A threshold run takes more steps than its schedule's estimate: the heatmap must still hold them all.
    settings = SamplerSettings(steps=8, max_new_tokens=32, block_length=16, remasking="threshold", threshold=0.95)
    run, values = live_values(demo_lm, settings)
    n = len(values) - 1
    assert n > run.expected_steps() + 2, "the run should outgrow its estimate"
    host_page(page, values[0])
    assert page.get_attribute("[data-ddp]", "data-state") == "live"
    assert page.text_content(".ddp-live") == EN["live"].format(n=1) and shown_step(page) == 1
    set_value(page, values[4])
    assert shown_step(page) == 5 and page.text_content(".ddp-live") == EN["live"].format(n=5)
    page.click(".ddp-prev")
    page.click(".ddp-prev")
    set_value(page, values[7])
    assert shown_step(page) == 3, "a new frame moved the step the person chose"
    page.click(".ddp-last")
    for k in range(8, n):
        set_value(page, values[k])
        assert shown_step(page) == k + 1
    set_value(page, values[-1])
    assert page.get_attribute("[data-ddp]", "data-state") == "done" and page.text_content(".ddp-live") == ""
    traj = run.trajectory()
    say = EN["run_done"].format(n=n, reply=traj.reply)
    page.wait_for_function(f"{ROOT}.querySelector('.ddp-say').textContent === {json.dumps(say)}")
    # Every column is on the heatmap: the marker of the last step, and the hover there.
    cols = marker_columns(page)
    width = page.evaluate(f"{ROOT}.querySelector('.ddp-heat').width")
    assert cols and cols[-1] < width, "the last step's column is off the heatmap"
    assert hover_step(page, (cols[0] + cols[-1]) / 2) == n
    page.mouse.move(0, 0)
    rows = {p: r for r, p in enumerate(traj.slots)}
    last = traj.steps[-1]
    r = rows[last.committed[0]]
    px = cell_pixels(page, n, visible_index(page, r))
    assert not near(px["centre"], hexrgb(palette.PLOT_BG), 1), "the last step's column was not drawn"


def test_compare_group_shares_the_step(page, runs):
    a, b = runs["gen32"], runs["pin"]
    va = run_value(a.traj, label="a", group="g", run_id="a")
    vb = run_value(b.traj, label="b", group="g", run_id="b", split=b.split)
    vc = run_value(runs["gen1"].traj, label="c", group="other", run_id="c")
    host_page(page, va, vb, vc)
    def steps():
        return page.evaluate("[...document.querySelectorAll('[data-ddp]')].map((r) => Number(r.dataset.step))")

    page.focus("#p0 .ddp-heat")
    page.keyboard.press("Home")
    page.keyboard.press("PageDown")
    assert steps() == [10, 10, len(runs["gen1"].traj.steps)]
    page.click("#p1 .ddp-next")
    assert steps()[:2] == [11, 11]
    page.fill("#p1 .ddp-num", "3")
    page.keyboard.press("Enter")
    assert steps()[:2] == [3, 3]


# ---- 12: no run ------------------------------------------------------------------------------------------------------
EMPTY_JS = f"""() => {{ const root = {ROOT}, q = (s) => root.querySelector(s);
  return {{state: root.dataset.state, step: root.dataset.step, tokens: root.querySelectorAll('.ddp-tok').length,
    canvas: q('.ddp-canvas').textContent, why: q('.ddp-why').textContent, hist: q('.ddp-hist').textContent,
    label: q('.ddp-label').textContent, say: q('.ddp-say').textContent, legend: q('.ddp-legend').textContent,
    table: q('.ddp-table-alt').textContent, heat: [q('.ddp-heat').width, q('.ddp-heat').height],
    redo: q('.ddp-redo').textContent, quiz: q('.ddp-quiz').textContent,
    visible: [...root.children].filter((n) => n.getClientRects().length).map((n) => n.className)}}; }}"""
NOTHING = {"state": "empty", "step": "0", "tokens": 0, "canvas": "", "why": "", "hist": "", "label": "", "say": "",
           "legend": "", "table": "", "heat": [0, 0], "redo": "", "quiz": "", "visible": []}


def test_empty_value_shows_nothing(page, runs):
    host_page(page, None)
    assert page.evaluate(EMPTY_JS) == NOTHING
    page.keyboard.press("End")
    value = runs["gen32"].value(redo=True)
    set_value(page, value)
    assert page.get_attribute("[data-ddp]", "data-state") == "done" and canvas_tokens(page)
    page.click(f".ddp-tokens [data-pos='{runs['gen32'].traj.slots[1]}']")
    page.focus(".ddp-heat")
    page.keyboard.press("ArrowLeft")
    open_table(page)
    set_value(page, None)  # nothing of the last run stays
    page.wait_for_timeout(300)  # the screen-reader line's pause, had one been pending
    assert page.evaluate(EMPTY_JS) == NOTHING
    set_value(page, value)  # and the next value starts over
    assert shown_step(page) == len(runs["gen32"].traj.steps) and page.evaluate(f"[...{ROOT}.__ddp.sel]") == []
    # A sentence about the last run, pending when another run arrives, is not said over the new one.
    page.focus(".ddp-heat")
    page.keyboard.press("Home")
    set_value(page, runs["gen1"].value())
    page.wait_for_timeout(400)
    assert page.text_content(".ddp-say") != f"Step 0 of {len(runs['gen32'].traj.steps)}."
