"""Branching: continue a recorded run from the canvas at step k, then store the branch in the file.

At temperature 0 with low_confidence remasking and unchanged settings, a branch must repeat the
original run from step k on, token for token. Changed settings and pinned tokens must give a
complete run that keeps what was on the canvas at k. Branches survive save/load exactly, a
malformed branch is refused naming the field, and version-1 files (no `branches`) still load. A pin
goes only where the canvas at k still holds a mask: a committed token is never overwritten.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random

import pytest

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.branching import branch_run
from diffutron_demo.core.sampler import Run
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import SCHEMA_VERSION, Trajectory
from tests.helpers_schema import downgrade, refused, without_derived, without_spread

QUESTION = "Türkiye'nin başkenti neresidir?"
TIMING = ("forward_ms", "step_ms")
N_CASES = 20


def original(lm, settings: SamplerSettings, seed: int = 0) -> Trajectory:
    prompt = build_prompt(lm.tokenizer, QUESTION, max_new_tokens=settings.max_new_tokens,
                          context_window=lm.context_window)
    return Run(lm, prompt.ids, settings, seed, prompt_text=prompt.text).run_to_end()


def masked_at(traj: Trajectory, k: int) -> list[int]:
    """The answer positions still masked on the canvas after k steps."""
    canvas, mask = traj.canvas_at(k), traj.special_ids["mask"]
    return [i for i, p in enumerate(traj.slots) if canvas[p] == mask]


def no_spread(steps: list) -> list:
    """Steps with each draft's entropy, margin and rest unrecorded, as an upgraded older file holds them."""
    return [dataclasses.replace(st, candidates=[dataclasses.replace(c, entropy=None, margin=None, rest=None)
                                                for c in st.candidates]) for st in steps]


def decisions(steps: list) -> list[dict]:
    """Step records without their timings."""
    return [{k: v for k, v in st.to_dict().items() if k not in TIMING} for st in steps]


def random_case(i: int) -> tuple[int, SamplerSettings, int, float]:
    """(checkpoint index, greedy low_confidence settings, seed, where to branch as a fraction)."""
    rng = random.Random(1000 + i)
    n = rng.randint(1, 16)
    block = rng.choice([1, 2, 3, 5, 7, n, n + 3, max(1, n // 2)])  # dividing, not dividing, wider than the canvas
    settings = SamplerSettings(
        steps=rng.randint(1, 16), max_new_tokens=n, block_length=block, temperature=0.0,
        repetition_penalty=rng.choice([1.0, 1.0, 1.3, 2.0]), remasking="low_confidence",
        cfg_scale=rng.choice([0.0, 0.0, 1.5]),
    )
    return i % 4, settings, rng.randint(0, 99), rng.random()


# -- same settings: the branch repeats the run ------------------------------------------------------
@pytest.mark.parametrize("case", range(N_CASES))
def test_a_greedy_branch_repeats_the_run_from_its_step(models, case):
    ckpt, settings, seed, where = random_case(case)
    traj = original(models[ckpt], settings, seed)
    k = min(int(where * (len(traj.steps) + 1)), len(traj.steps))  # 0..len(steps)
    branch = branch_run(models[ckpt], traj, k).run_to_end()
    info = f"checkpoint {ckpt}, {settings}, seed {seed}, k={k} of {len(traj.steps)}"
    assert [st.step for st in branch.steps] == list(range(k, k + len(branch.steps))), info
    assert [st.committed for st in branch.steps] == [st.committed for st in traj.steps[k:]], info
    assert branch.final_ids == traj.final_ids, info
    assert decisions(branch.steps) == decisions(traj.steps[k:]), info
    assert branch.stop_reason == traj.stop_reason and branch.reply == traj.reply, info
    assert branch.settings == traj.settings and branch.seed == traj.seed


@pytest.mark.parametrize("ckpt", range(4))
def test_a_branch_from_the_last_step_adds_nothing(models, ckpt):
    # The run is over at k = len(steps); on the mask-proposing checkpoint masks are still on the
    # canvas there (committed as the mask id), and the branch must not start the schedule again.
    settings = SamplerSettings(steps=8, max_new_tokens=12, block_length=4, temperature=0.0, repetition_penalty=1.0)
    traj = original(models[ckpt], settings)
    branch = branch_run(models[ckpt], traj, len(traj.steps)).run_to_end()
    assert branch.steps == [], f"{len(branch.steps)} extra steps after the run's last step"
    assert branch.final_ids == traj.final_ids


# -- changed settings and pins ------------------------------------------------------------------------
CHANGES = [
    {"block_length": 3},
    {"block_length": 16},
    {"temperature": 0.7},
    {"temperature": 1.2, "block_length": 5},
    {"steps": 3},
    {"remasking": "random"},
    {"remasking": "threshold", "threshold": 0.3},
    {"cfg_scale": 1.0, "repetition_penalty": 1.5},
]


def committed_mask(steps: list[dict], mask: int) -> bool:
    """Whether any step committed the mask id itself."""
    for st in steps:
        tokens = {c.pos: c.token for c in st.candidates}
        tokens.update({o.pos: o.token for o in st.overflow})
        if any(tokens.get(p) == mask for p in st.committed):
            return True
    return False


def forced_positions(steps: list[dict]) -> set[int]:
    return {e.pos for st in steps for e in st.forced}


@pytest.mark.parametrize("case", range(len(CHANGES) * 2))
def test_a_branch_with_other_settings_completes_and_keeps_the_canvas(models, case):
    rng = random.Random(2000 + case)
    ckpt = case % 4
    base = SamplerSettings(steps=12, max_new_tokens=14, block_length=7, temperature=0.0, repetition_penalty=1.2)
    traj = original(models[ckpt], base, seed=case)
    k = rng.randint(0, len(traj.steps))
    changes = CHANGES[case % len(CHANGES)]
    settings = base.with_changes(**changes)
    branch = branch_run(models[ckpt], traj, k, settings, seed=rng.randint(0, 99)).run_to_end()
    info = f"checkpoint {ckpt}, changes {changes}, k={k} of {len(traj.steps)}"
    assert branch.stop_reason == "complete", info
    assert [st.step for st in branch.steps] == list(range(k, k + len(branch.steps))), info
    assert branch.settings == settings.to_dict()
    mask, P = traj.special_ids["mask"], traj.prompt_len
    if mask in branch.final_ids[P:]:
        assert committed_mask(traj.steps[:k] + branch.steps, mask), f"masks left: {info}"
    before = traj.canvas_at(k)
    forced = forced_positions(branch.steps)
    kept = [p for p in range(P, len(before)) if before[p] != mask and p not in forced]
    assert [branch.final_ids[p] for p in kept] == [before[p] for p in kept], info
    assert branch.final_ids[:P] == traj.prompt_ids


@pytest.mark.parametrize("case", range(6))
def test_pinned_tokens_are_on_the_branch_canvas(models, case):
    rng = random.Random(3000 + case)
    ckpt = case % 2  # the plain checkpoints: no stop strings, no committed masks
    base = SamplerSettings(steps=10, max_new_tokens=12, block_length=rng.choice([4, 5, 12]), temperature=0.0,
                           repetition_penalty=1.0)
    traj = original(models[ckpt], base, seed=case)
    k = rng.randint(0, len(traj.steps) - 1)  # before the last step: some positions are still masked
    masked = masked_at(traj, k)
    assert masked, f"nothing left to pin after step {k}"
    pins = {pos: rng.randint(10, 590) for pos in rng.sample(masked, min(len(masked), rng.randint(1, 3)))}
    settings = base.with_changes(temperature=0.5) if case % 3 == 0 else None
    branch = branch_run(models[ckpt], traj, k, settings, pins=pins).run_to_end()
    P, mask = traj.prompt_len, traj.special_ids["mask"]
    forced = forced_positions(branch.steps)
    info = f"checkpoint {ckpt}, pins {pins}, k={k} of {len(traj.steps)}"
    for pos, token in pins.items():
        if P + pos not in forced:
            assert branch.final_ids[P + pos] == token, info
    assert branch.stop_reason == "complete"
    assert mask not in branch.final_ids[P:] or committed_mask(branch.steps, mask), info
    # A pinned position is never a candidate of the branch (it is not a mask there).
    assert not any(c.pos - P in pins for st in branch.steps for c in st.candidates), info


def test_invalid_branch_requests_arerefused(models):
    lm = models[0]
    settings = SamplerSettings(steps=6, max_new_tokens=8, block_length=4, temperature=0.0)
    traj = original(lm, settings)
    n = len(traj.steps)
    for k in (-1, n + 1, n + 100):
        with pytest.raises(ValueError, match="between 0 and"):
            branch_run(lm, traj, k)
    with pytest.raises(ValueError, match="max new tokens"):
        branch_run(lm, traj, 1, settings.with_changes(max_new_tokens=9))
    for pos in (traj.answer_len, traj.answer_len + 5, -1):
        with pytest.raises(ValueError, match="outside the answer"):
            branch_run(lm, traj, 1, pins={pos: 10})
    # Refusals leave the trajectory as it was, and the edges themselves are fine.
    assert branch_run(lm, traj, 0).run_to_end().final_ids == traj.final_ids
    branch_run(lm, traj, 0, pins={0: 10, traj.answer_len - 1: 11})


@pytest.mark.parametrize("ckpt", range(2))
def test_a_pin_over_a_committed_token_isrefused(models, ckpt):
    """A pin never overwrites a token the run committed: only a position still masked at the split
    can be pinned, and the refusal names the position and the step."""
    lm = models[ckpt]
    settings = SamplerSettings(steps=8, max_new_tokens=8, block_length=4, temperature=0.0)
    traj = original(lm, settings)
    before = traj.to_dict()
    k = 2
    committed = [i for i in range(traj.answer_len) if i not in masked_at(traj, k)]
    assert committed and masked_at(traj, k), "the split needs committed and masked positions"
    for pos in committed:
        with pytest.raises(ValueError, match=rf"Answer position {pos} already holds .* after step {k}"):
            branch_run(lm, traj, k, pins={pos: 10})
    # One committed position among masked ones refuses the whole request.
    with pytest.raises(ValueError, match="already holds"):
        branch_run(lm, traj, k, pins={masked_at(traj, k)[0]: 10, committed[0]: 11})
    # At the last step every position is written: nothing can be pinned.
    with pytest.raises(ValueError, match="already holds"):
        branch_run(lm, traj, len(traj.steps), pins={0: 10})
    assert traj.to_dict() == before
    # A masked one is pinned, recorded as the branch's first step's forced edit.
    pos = masked_at(traj, k)[0]
    branch = branch_run(lm, traj, k, pins={pos: 10}).run_to_end()
    assert [(e.pos, e.token, e.kind) for e in branch.steps[0].forced] == [(traj.slots[pos], 10, "pin")]
    assert branch.final_ids[traj.slots[pos]] == 10


# -- storage --------------------------------------------------------------------------------------------
SETTINGS = SamplerSettings(steps=10, max_new_tokens=12, block_length=6, temperature=0.0, repetition_penalty=1.2)


@pytest.fixture(scope="module")
def base_run(models):
    traj = original(models[0], SETTINGS, seed=5)
    assert len(traj.steps) >= 4
    return traj


def _branched(models, base_run, k, pins=None, **changes):
    traj = Trajectory.from_dict(copy.deepcopy(base_run.to_dict()))
    settings = SETTINGS.with_changes(**changes) if changes else None
    result = branch_run(models[0], traj, k, settings, seed=9, pins=pins).run_to_end()
    index = traj.add_branch(result, k, pins)
    assert index == len(traj.branches) - 1
    return traj, result


@pytest.mark.parametrize("pins", [None, {7: 300, 8: 301}], ids=["no-pins", "pins"])
def test_a_stored_branch_round_trips_and_replays(models, base_run, tmp_path, pins):
    k = 3
    assert set(pins or ()) <= set(masked_at(base_run, k)), "pins go where the canvas is still masked"
    traj, result = _branched(models, base_run, k, pins, temperature=0.8, block_length=4)
    path = traj.save(tmp_path / "run.json")
    loaded = Trajectory.load(path)
    assert loaded.to_dict() == traj.to_dict()
    assert loaded.to_json() == path.read_text(encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8"))["schema_version"] == SCHEMA_VERSION == 4
    assert len(loaded.branches) == 1
    stored = loaded.branches[0]
    assert stored.from_step == k
    assert stored.pins == [{"pos": p, "token": t} for p, t in sorted((pins or {}).items())]
    # The main run is untouched by the branch.
    assert loaded.final_ids == base_run.final_ids and loaded.steps == base_run.steps

    view = loaded.branch(0)
    expected = Trajectory(
        model=loaded.model, settings=result.settings, seed=result.seed, prompt=loaded.prompt,
        prompt_ids=loaded.prompt_ids, special_ids=loaded.special_ids, final_ids=result.final_ids,
        reply=result.reply, stop_reason=result.stop_reason, wall_ms=result.wall_ms, pieces=loaded.pieces,
        steps=loaded.steps[:k] + result.steps,
    )
    assert view.to_dict() == expected.to_dict()
    for step in range(k + 1):
        assert view.canvas_at(step) == base_run.canvas_at(step)
    assert view.canvas_at(len(view.steps)) == result.final_ids, (
        "replaying the branch does not end on its final canvas: positions "
        f"{[i for i, (a, b) in enumerate(zip(view.canvas_at(len(view.steps)), result.final_ids)) if a != b]}")
    assert all(t in loaded.pieces for t in result.final_ids)


def test_two_branches_are_stored_in_order(models, base_run, tmp_path):
    traj, first = _branched(models, base_run, 2)
    second = branch_run(models[0], traj, 0, SETTINGS.with_changes(block_length=12)).run_to_end()
    assert traj.add_branch(second, 0) == 1
    loaded = Trajectory.load(traj.save(tmp_path / "two.json"))
    assert [b.from_step for b in loaded.branches] == [2, 0]
    assert loaded.branch(0).final_ids == first.final_ids
    assert loaded.branch(1).final_ids == second.final_ids
    assert loaded.branch(1).steps == second.steps


@pytest.fixture
def branched_dict(models, base_run):
    traj, result = _branched(models, base_run, 2, temperature=0.9)
    assert result.steps, "the branch needs steps for these checks"
    return copy.deepcopy(traj.to_dict())


def test_a_branch_from_a_step_out_of_range_isrefused(branched_dict):
    n = len(branched_dict["steps"])
    for bad in (n + 1, -1):
        data = copy.deepcopy(branched_dict)
        data["branches"][0]["from_step"] = bad
        assert refused(data, "branches[0].from_step", str(bad)).startswith("branches[0]")


def test_a_branch_step_numbered_wrong_isrefused(branched_dict):
    data = copy.deepcopy(branched_dict)
    data["branches"][0]["steps"][0]["step"] += 1
    refused(data, "branches[0].steps[0].step", "expected 2")
    data = copy.deepcopy(branched_dict)
    data["branches"][0]["steps"][0]["step"] = 0  # numbered from 0 instead of from the split
    refused(data, "branches[0].steps[0].step")


@pytest.mark.parametrize("change", ["longer", "shorter", "other prompt"])
def test_branch_final_ids_of_another_canvas_arerefused(branched_dict, change):
    data = copy.deepcopy(branched_dict)
    final = data["branches"][0]["final_ids"]
    if change == "longer":
        final.append(final[-1])
    elif change == "shorter":
        final.pop()
    else:
        final[0] = next(t for t in map(int, data["pieces"]) if t != final[0])
    refused(data, "branches[0].final_ids")


def test_other_malformed_branch_fields_are_named(branched_dict):
    for key, value, where in [
        ("from_step", "2", "branches[0].from_step"),
        ("seed", None, "branches[0].seed"),
        ("pins", [{"pos": 10_000, "token": 5}], "branches[0].pins[0].pos"),
        ("pins", [{"pos": 0, "token": 10**9}], "branches[0].pins[0].token"),
        ("steps", "nope", "branches[0].steps"),
    ]:
        data = copy.deepcopy(branched_dict)
        data["branches"][0][key] = value
        refused(data, where)
    data = copy.deepcopy(branched_dict)
    data["branches"] = {"not": "a list"}
    refused(data, "branches")
    data = copy.deepcopy(branched_dict)
    data["branches"][0] = 7
    refused(data, "branches[0]")


# -- the old format ---------------------------------------------------------------------------------
def test_a_version_1_file_loads_and_saves_as_the_current_version(base_run, tmp_path):
    path = base_run.save(tmp_path / "new.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema_version"] == SCHEMA_VERSION and data["branches"] == []
    old = tmp_path / "old.json"
    old.write_text(json.dumps(downgrade(data, 1), ensure_ascii=False), encoding="utf-8")

    loaded = Trajectory.load(old)
    assert loaded.branches == []
    assert loaded.schema_version == SCHEMA_VERSION
    # A greedy low_confidence run: what is derived at load is exactly what was recorded, marked derived.
    assert all(st.derived for st in loaded.steps)
    # Entropy, margin and rest were not recorded before schema 4: they load as None.
    assert [dataclasses.replace(st, derived=False) for st in loaded.steps] == no_spread(base_run.steps)
    assert loaded.mode == "generate" and loaded.initial_ids == base_run.initial_ids
    assert loaded.final_ids == base_run.final_ids
    assert "branches" not in loaded.extra and "schema_version" not in loaded.extra
    again = json.loads(loaded.save(tmp_path / "again.json").read_text(encoding="utf-8"))
    assert again["schema_version"] == SCHEMA_VERSION and again["branches"] == []
    assert without_derived(again) == without_spread(json.loads(path.read_text(encoding="utf-8")))


def test_a_version_2_file_must_have_branches(base_run):
    data = copy.deepcopy(base_run.to_dict())
    del data["branches"]
    refused(data, "branches", "missing")
