"""Property tests (hypothesis) for what the public inputs reach: the sampler's settings, the
trajectory loader and SamplerSettings.from_dict.

(a) Random settings on the 4 tiny checkpoints: the trajectory's invariants hold and it
    round-trips through JSON.
(b) The loader, given arbitrary bytes, arbitrary JSON values, or a valid file with one field
    deleted or replaced by another JSON type, raises nothing but TrajectoryError; and a file it
    accepts can be drawn (every picture the Replay tab shows builds).
(c) SamplerSettings.from_dict, given arbitrary JSON values for the known keys, raises nothing but
    SettingsError, and what it returns is valid.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings, strategies as st

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.sampler import TOP_K, generate
from diffutron_demo.settings import LIMITS, REMASKING, SamplerSettings, SettingsError
from diffutron_demo.record.trajectory import Trajectory, TrajectoryError

PROMPTS = ["Türkiye'nin başkenti neresidir?", "Merhaba! Nasılsın?", "a", "<mask> </s> [/Answer]", "İı 😀"]
COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
              database=None, derandomize=True)  # the same examples every run: no flaky CI


# ------------------------------------------------------------------ (a) random settings, real runs

sampler_settings = st.builds(
    SamplerSettings,
    steps=st.integers(1, 32),
    max_new_tokens=st.integers(1, 32),
    block_length=st.integers(1, 32),
    temperature=st.sampled_from([0.0, 0.5, 1.0]),
    repetition_penalty=st.floats(1.0, 1.5),
    cfg_scale=st.one_of(st.just(0.0), st.floats(0.5, 2.0)),
    remasking=st.sampled_from(REMASKING),
    stochastic_transfer=st.booleans(),
    early_stop=st.booleans(),
    threshold=st.floats(0.05, 1.0),
    factor=st.floats(0.1, 5.0),
)


@settings(max_examples=60, **COMMON)
@given(s=sampler_settings, model=st.integers(0, 3), prompt=st.sampled_from(PROMPTS), raw=st.booleans(),
       seed=st.integers(0, 2**31))
def test_trajectory_invariants_hold_for_random_settings(models, s, model, prompt, raw, seed):
    lm = models[model]
    note(f"model {lm.name}")
    ids = build_prompt(lm.tokenizer, prompt, raw=raw, max_new_tokens=s.max_new_tokens,
                       context_window=lm.context_window).ids
    traj = generate(lm, ids, s, seed)
    P, T, N = traj.prompt_len, len(traj.final_ids), s.max_new_tokens
    mask = traj.special_ids["mask"]

    assert T == P + N and traj.final_ids[:P] == ids
    assert traj.final_ids == traj.canvas_at(len(traj.steps))
    assert traj.stop_reason in ("complete", "end_marker")
    assert s.early_stop or traj.stop_reason == "complete"
    non_mask_commits = 0
    for i, record in enumerate(traj.steps):
        assert record.step == i
        start, end = record.window
        assert P <= start < end <= T
        proposals = {c.pos: c.token for c in record.candidates}
        proposals.update({o.pos: o.token for o in record.overflow})
        for pos in record.committed:
            assert pos in proposals, f"step {i}: position {pos} committed without a proposal"
            assert P <= pos < T
            non_mask_commits += proposals[pos] != mask
        assert len(set(record.committed)) == len(record.committed)
        for c in record.candidates:
            assert 0.0 <= c.conf <= 1.0, c.conf
            assert P <= c.pos < end
            assert 1 <= len(c.top) <= TOP_K
            assert all(0.0 <= p <= 1.0 for _, p in c.top)
            assert [p for _, p in c.top] == sorted((p for _, p in c.top), reverse=True)
        for edit in record.forced:
            assert P <= edit.pos < T, f"step {i}: a forced edit at {edit['pos']}, inside the prompt"
    assert non_mask_commits <= N, f"{non_mask_commits} commits of real tokens for {N} positions"
    assert Trajectory.from_json(traj.to_json()).to_dict() == traj.to_dict()


# ------------------------------------------------------------------ (b) the loader on anything

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.sampled_from([0, -1, 1, 2**63, 10**400, -(10**400), 1e308, 0.5, "", "0", "nan", "Infinity"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                  st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=4)), max_leaves=20)


def loads_or_trajectory_error(payload):
    try:
        if isinstance(payload, (bytes, str)):
            return Trajectory.from_json(payload)
        return Trajectory.from_dict(payload)
    except TrajectoryError:
        return None


def dumps_any(value) -> bytes:
    """JSON bytes for any value, numbers of any length included (as a file on disk may hold them)."""
    import sys

    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    finally:
        sys.set_int_max_str_digits(limit)


@settings(max_examples=300, **COMMON)
@given(data=st.binary(max_size=2000))
def test_the_loader_on_arbitrary_bytes_raises_only_trajectory_error(data):
    loads_or_trajectory_error(data)


@settings(max_examples=300, **COMMON)
@given(value=json_values)
def test_the_loader_on_arbitrary_json_raises_only_trajectory_error(value):
    loads_or_trajectory_error(value)
    loads_or_trajectory_error(dumps_any(value).decode("utf-8"))
    loads_or_trajectory_error(dumps_any(value))


@pytest.fixture(scope="module")
def valid(models) -> dict:
    """A real run with forced edits (the stop-prone checkpoint) and one branch: every field present."""
    from diffutron_demo.core.branching import branch_run

    lm = models[2]
    s = SamplerSettings(steps=6, max_new_tokens=8, block_length=4, temperature=0.5)
    ids = build_prompt(lm.tokenizer, "Merhaba! Nasılsın?", max_new_tokens=8, context_window=lm.context_window).ids
    traj = generate(lm, ids, s, seed=2)
    branch = branch_run(lm, traj, 2, s.with_changes(temperature=1.0), seed=9).run_to_end()
    traj.add_branch(branch, 2, None)
    data = traj.to_dict()
    assert data["steps"] and data["branches"] and any(st_["forced"] for st_ in data["steps"])
    return data


def json_type(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {type(None): "null", str: "string", list: "array", dict: "object"}[type(value)]


OTHER_VALUES = {
    "null": st.none(), "bool": st.booleans(),
    "number": st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False)),
    "string": st.text(max_size=12), "array": st.lists(json_scalars, max_size=3),
    "object": st.dictionaries(st.text(max_size=8), json_scalars, max_size=3),
}
# Values of the same JSON type that a careless reader trips on.
EXTREMES = {
    "number": [10**400, -(10**400), -1, 0, 2.5, 2**63, 1e308, -1e308, 7 * 10**4400],
    "string": ["", "x" * 5000, "٣", "<script>", "9" * 5000],
    "array": [[], [None], [[0, 1]], list(range(3))],
    "object": [{}, {"": None}],
    "bool": [True, False],
    "null": [None],
}


@st.composite
def mutations(draw, valid, focus: list[tuple] | None = None):
    """One field of a valid file deleted, replaced by another JSON type, or by an extreme value of
    its own type. The field is found by a walk from the top (or from one of the `focus` paths),
    so fields near the start are often hit."""
    data = copy.deepcopy(valid)
    parent, key, path = None, None, []
    node = data
    if focus:
        for key in draw(st.sampled_from(focus)):
            parent, node = node, node[key]
            path.append(key)
    while True:
        children = list(node.keys()) if isinstance(node, dict) else list(range(len(node))) \
            if isinstance(node, list) else []
        if not children or (path and draw(st.integers(0, 99)) < 35):
            break
        key = draw(st.sampled_from(children))
        parent, node = node, node[key]
        path.append(key)
    action = draw(st.sampled_from(["delete", "other type", "extreme"]))
    if action == "delete":
        del parent[key]
    elif action == "other type":
        kind = draw(st.sampled_from(sorted(k for k in OTHER_VALUES if k != json_type(node))))
        parent[key] = draw(OTHER_VALUES[kind])
        action = f"replaced by a {kind}"
    else:
        value = parent[key] = copy.deepcopy(draw(st.sampled_from(EXTREMES[json_type(node)])))
        shown = f"an int of {value.bit_length()} bits" if isinstance(value, int) and abs(value) > 2**64 \
            else repr(value)[:40]
        action = f"replaced by {shown}"
    return tuple(path), action, data


@settings(max_examples=300, **COMMON)
@given(data=st.data())
def test_a_mutated_valid_file_raises_only_trajectory_error(valid, data):
    path, action, mutated = data.draw(mutations(valid))
    note(f"{'.'.join(map(str, path))} {action}")
    loads_or_trajectory_error(mutated)
    loads_or_trajectory_error(dumps_any(mutated))


def draw_everything(traj: Trajectory) -> None:
    """What the Replay tab builds for a loaded file: the player's value, the commit order and the
    chart of the run and of each branch (the viewer's picker), and the exports (HTML player, GIF)."""
    from diffutron_demo.app.edits import branch_choices, branch_label
    from diffutron_demo.render.export import gif_bytes, standalone_html
    from diffutron_demo.render.panels import run_panels

    panels = run_panels(traj, "replay", redo=True)
    json.dumps(panels.player, allow_nan=False)  # what gradio sends to the page
    branch_choices(traj)
    for i in range(len(traj.branches)):
        view = run_panels(traj.branch(i), branch_label(traj, i), split=traj.branches[i].from_step, redo=True)
        json.dumps(view.player, allow_nan=False)
    standalone_html(traj)
    gif_bytes(traj)


# What the pictures read: the settings, the step records, the special ids, the branch.
DRAWN = [("settings",), ("steps", 0), ("steps", -1), ("steps", 1, "candidates", 0), ("special_ids",),
         ("branches", 0), ("pieces",)]


# Drawing is the slow part: fewer examples, and a failure is reported as found (its note names
# the field and the change) rather than shrunk for half a minute.
@settings(max_examples=100, phases=[Phase.explicit, Phase.reuse, Phase.generate], **COMMON)
@given(data=st.data())
def test_a_mutated_file_that_loads_can_be_drawn(valid, data):
    path, action, mutated = data.draw(mutations(valid, focus=DRAWN))
    note(f"{'.'.join(map(str, path))} {action}")
    try:
        traj = Trajectory.from_dict(mutated)
    except Exception:  # noqa: BLE001 - refused (how it refuses is the test above's business)
        return
    draw_everything(traj)


# ------------------------------------------------------------------ (c) settings from anything

KEYS = list(SamplerSettings().to_dict())
setting_values = st.one_of(
    json_values,
    st.floats(),  # nan and inf included
    st.sampled_from(["8", " 8 ", "8.0", "1e3", "1e400", "-0", "nan", "inf", "true", "off", "low_confidence",
                     "1" + "0" * 400, "0x10", "½", "٣"]),
)


@settings(max_examples=500, **COMMON)
@given(values=st.dictionaries(st.sampled_from(KEYS), setting_values, max_size=len(KEYS)))
def test_settings_from_dict_raises_only_settings_error(values):
    try:
        s = SamplerSettings.from_dict(values)
    except SettingsError as exc:
        assert exc.field in KEYS
        assert str(exc) and "\n" not in str(exc) and len(str(exc)) <= 300, str(exc)[:120]
        return
    for name in ("steps", "max_new_tokens", "block_length"):
        assert type(getattr(s, name)) is int
    for name, (low, high) in LIMITS.items():
        value = getattr(s, name)
        assert not isinstance(value, bool) and math.isfinite(value) and low <= value <= high, (name, value)
    assert s.remasking in REMASKING
    assert isinstance(s.stochastic_transfer, bool) and isinstance(s.early_stop, bool)
    assert SamplerSettings.from_dict(s.to_dict()) == s
