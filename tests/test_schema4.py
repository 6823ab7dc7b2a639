"""Schema 4: infill runs (`mode`, `initial_ids`, `blanks`), redo branches (`kind`, `blanks` with
`was`, `parent`) and each draft's `entropy`, `margin` and `rest`.

A file holding all of them round-trips exactly; each new field, malformed, is refused with a
TrajectoryError naming it; files of schema 1, 2 and 3 load as generation runs with their spreads
unrecorded (None), and save as schema 4.
"""

from __future__ import annotations

import copy
import json

import pytest

from diffutron_demo.core.blanks import start_infill
from diffutron_demo.core.branching import branch_run, redo_run
from diffutron_demo.core.sampler import start_run
from diffutron_demo.record.trajectory import SCHEMA_VERSION, Trajectory
from diffutron_demo.settings import SamplerSettings
from tests.helpers_schema import downgrade, refused as refused_file

SETTINGS = SamplerSettings(steps=8, max_new_tokens=8, block_length=4, temperature=0.7)


@pytest.fixture(scope="module")
def generation(models) -> Trajectory:
    """A run with a what-if branch (0), a redo of the run (1) and a redo of that redo (2)."""
    lm = models[1]
    traj = start_run(lm, "Merhaba! Nasılsın?", SETTINGS, 2)[0].run_to_end()
    traj.add_branch(branch_run(lm, traj, 3, SETTINGS.with_changes(temperature=1.0), seed=5).run_to_end(), 3)
    traj.add_branch(redo_run(lm, traj, traj.slots[2:4], seed=6).run_to_end(), len(traj.steps))
    base = traj.branch(1)
    traj.add_branch(redo_run(lm, base, traj.slots[:1], seed=7).run_to_end(), len(base.steps), parent=1)
    return traj


@pytest.fixture(scope="module")
def infill(models) -> Trajectory:
    """A fill of a chat answer, with a redo of its first blank."""
    lm = models[1]
    run, _ = start_infill(lm, "Ankara ___ başkentidir, ___{2} değil.", SETTINGS, 3, question="Başkent neresi?")
    traj = run.run_to_end()
    traj.add_branch(redo_run(lm, traj, traj.slots[:2], seed=4).run_to_end(), len(traj.steps))
    return traj


@pytest.fixture(params=["generation", "infill"])
def data(request, generation, infill) -> dict:
    return copy.deepcopy({"generation": generation, "infill": infill}[request.param].to_dict())


def refused(data: dict, *words: str) -> str:
    message = refused_file(data, *words)
    assert "\n" not in message
    return message


# -- round trip ------------------------------------------------------------------------------------------
def test_a_schema_4_file_round_trips_exactly(generation, infill, tmp_path):
    for name, traj in (("generation", generation), ("infill", infill)):
        path = traj.save(tmp_path / f"{name}.json")
        saved = json.loads(path.read_text(encoding="utf-8"))
        assert saved["schema_version"] == SCHEMA_VERSION == 4
        loaded = Trajectory.load(path)
        assert loaded.to_dict() == traj.to_dict() and loaded.to_json() == path.read_text(encoding="utf-8")
        assert (loaded.mode, loaded.initial_ids, loaded.blanks) == (traj.mode, traj.initial_ids, traj.blanks)
        assert loaded.slots == traj.slots and loaded.answer_len == len(traj.slots)
        assert all(c.entropy is not None and c.margin is not None and c.rest is not None
                   for st in loaded.steps for c in st.candidates), "every draft's spread is recorded"
        assert [(b.kind, b.parent) for b in loaded.branches] == [(b.kind, b.parent) for b in traj.branches]
        for i in range(len(loaded.branches)):
            view = loaded.branch(i)
            assert view.canvas_at(len(view.steps)) == loaded.branches[i].final_ids
    assert [(b.kind, b.parent) for b in generation.branches] == [("what_if", None), ("redo", None), ("redo", 1)]
    assert infill.mode == "infill" and [b.kind for b in infill.branches] == ["redo"]
    assert generation.initial_ids == generation.prompt_ids + [generation.special_ids["mask"]] * 8
    assert [(b.start, b.end, b.was) for b in generation.blanks] == [(generation.prompt_len, len(generation.final_ids),
                                                                    None)]


# -- each new field, malformed, is named ---------------------------------------------------------------
@pytest.mark.parametrize("mode", ["complete", "", "Infill", 3, None])
def test_a_bad_mode_is_refused(data, mode):
    data["mode"] = mode
    refused(data, "mode")


def test_a_schema_4_file_must_say_its_mode(data):
    del data["mode"]
    refused(data, "mode", "missing")


@pytest.mark.parametrize("change", ["shorter", "longer"])
def test_initial_ids_of_another_length_are_refused(data, change):
    if change == "shorter":
        data["initial_ids"].pop()
    else:
        data["initial_ids"].append(data["initial_ids"][-1])
    refused(data, "initial_ids", "as long as final_ids")


def test_an_initial_id_not_in_pieces_is_refused(data):
    data["initial_ids"][-1] = 987_654
    refused(data, "initial_ids[", "987654", "not in pieces")


def test_initial_ids_that_do_not_start_with_the_prompt_are_refused_naming_them(generation):
    data = copy.deepcopy(generation.to_dict())
    data["initial_ids"][0] = next(t for t in map(int, data["pieces"]) if t != data["initial_ids"][0])
    refused(data, "initial_ids", "prompt_ids")


def test_blanks_that_do_not_cover_the_masks_are_refused(data):
    data["blanks"] = data["blanks"][:-1]
    refused(data, "blanks", "cover every mask")
    data["blanks"] = []
    refused(data, "blanks", "cover every mask")


def test_a_blank_over_given_text_is_refused(data):
    blank = data["blanks"][0]
    blank["start"] -= 1  # one position of given text (or prompt) before it
    refused(data, "blanks[0]", "masks only")


@pytest.mark.parametrize("bad", [{"start": 5, "end": 5}, {"start": -1, "end": 2}, {"start": 0, "end": 10_000},
                                 {"start": "0", "end": 2}, {"end": 2}, 7])
def test_a_malformed_blank_is_refused(data, bad):
    data["blanks"][0] = bad if not isinstance(bad, dict) else {**bad, "was": None}
    refused(data, "blanks[0]")


def test_blanks_out_of_order_are_refused(infill):
    data = copy.deepcopy(infill.to_dict())
    assert len(data["blanks"]) == 2
    data["blanks"].reverse()
    refused(data, "blanks[1]", "after the last one")


def _redo_index(data: dict) -> int:
    return next(j for j, b in enumerate(data["branches"]) if b["kind"] == "redo")


@pytest.mark.parametrize("change", ["shorter", "longer"])
def test_a_redo_branch_whose_was_is_not_one_id_per_position_is_refused(data, change):
    j = _redo_index(data)
    was = data["branches"][j]["blanks"][0]["was"]
    if change == "shorter":
        was.pop()
    else:
        was.append(was[0])
    refused(data, f"branches[{j}].blanks[0].was", "one id per position")


def test_a_redo_branch_must_say_what_its_blanks_held(data):
    j = _redo_index(data)
    data["branches"][j]["blanks"][0]["was"] = None
    refused(data, f"branches[{j}].blanks[0].was")
    data["branches"][j]["blanks"][0]["was"] = [987_654] * 2
    refused(data, f"branches[{j}].blanks[0].was[0]", "not in pieces")


def test_a_what_if_branch_has_no_blanks(generation):
    data = copy.deepcopy(generation.to_dict())
    data["branches"][0]["blanks"] = copy.deepcopy(data["branches"][1]["blanks"])
    refused(data, "branches[0].blanks[0]")


@pytest.mark.parametrize("kind", ["undo", "", None, 1])
def test_a_bad_branch_kind_is_refused(generation, kind):
    data = copy.deepcopy(generation.to_dict())
    data["branches"][1]["kind"] = kind
    refused(data, "branches[1].kind")


@pytest.mark.parametrize("parent", [2, 3, 99, -1, True, "1", 1.0])
def test_a_parent_that_is_not_an_earlier_branch_is_refused(generation, parent):
    data = copy.deepcopy(generation.to_dict())
    data["branches"][2]["parent"] = parent  # only 0 and 1 come before it
    refused(data, "branches[2].parent", "earlier branch")


def test_a_branch_from_past_its_parents_end_is_refused(generation):
    data = copy.deepcopy(generation.to_dict())
    end = len(generation.branch(1).steps)
    data["branches"][2]["from_step"] = end + 1
    refused(data, "branches[2].from_step", f"outside 0..{end}")
    data["branches"][2]["parent"] = 0  # the what-if branch: a shorter base
    if len(generation.branch(0).steps) < end:
        refused(data, "branches[2].from_step")


@pytest.mark.parametrize("key", ["entropy", "margin", "rest"])
@pytest.mark.parametrize("bad", ["0.5", [0.1], True])
def test_a_draft_spread_that_is_not_a_number_is_refused(data, key, bad):
    data["steps"][0]["candidates"][0][key] = bad
    refused(data, f"steps[0].candidates[0].{key}", "number")


@pytest.mark.parametrize("key", ["entropy", "margin", "rest"])
def test_a_draft_spread_may_be_unrecorded(data, key):
    data["steps"][0]["candidates"][0][key] = None
    loaded = Trajectory.from_dict(data)
    assert getattr(loaded.steps[0].candidates[0], key) is None


def test_a_forced_edit_of_an_unknown_kind_is_refused(generation):
    data = copy.deepcopy(generation.to_dict())
    step = data["branches"][1]["steps"][0]
    assert [e["kind"] for e in step["forced"]] == ["redo", "redo"]
    step["forced"][0]["kind"] = "undo"
    refused(data, "branches[1].steps[0].forced[0].kind", "pin, redo, stop_string")


# -- older files -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_older_file_loads_as_a_generation_run_with_no_spread(models, version, tmp_path):
    lm = models[1]
    traj = start_run(lm, "Merhaba! Nasılsın?", SETTINGS, 2)[0].run_to_end()
    traj.add_branch(branch_run(lm, traj, 3, SETTINGS.with_changes(temperature=1.0), seed=5).run_to_end(), 3)
    old = downgrade(traj.to_dict(), version)
    assert "mode" not in old and "initial_ids" not in old and "entropy" not in old["steps"][0]["candidates"][0]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old, ensure_ascii=False), encoding="utf-8")
    loaded = Trajectory.load(path)
    assert loaded.mode == "generate" and loaded.schema_version == SCHEMA_VERSION
    assert loaded.initial_ids == traj.prompt_ids + [traj.special_ids["mask"]] * 8 == traj.initial_ids
    assert loaded.blanks == traj.blanks and loaded.slots == traj.slots
    runs = [loaded.steps] + [b.steps for b in loaded.branches]
    assert all(c.entropy is None and c.margin is None and c.rest is None
               for steps in runs for st in steps for c in st.candidates)
    assert [(b.kind, b.blanks, b.parent) for b in loaded.branches] == ([("what_if", [], None)] if version > 1 else [])
    assert loaded.canvas_at(len(loaded.steps)) == traj.final_ids
    saved = json.loads(loaded.to_json())
    assert saved["schema_version"] == 4 and saved["mode"] == "generate"
    assert Trajectory.from_json(loaded.to_json()).to_dict() == loaded.to_dict()
