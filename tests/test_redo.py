"""Redo: chosen positions of a finished canvas masked again and filled by the same loop, as infill
(core/branching.py `redo_run`), and stored as a redo branch (blanks saying what they held).

At temperature 0 with unchanged settings a redo of nothing changes nothing, and a redo of a span
changes nothing outside it. A stored redo (and a redo of a redo, `parent`) replays from the record
alone to its final canvas, and round-trips through JSON. Pins and redos are applied before their
step's commits, by the record's canvas, its cells and the player's value alike.
"""

from __future__ import annotations

import random

import pytest

from diffutron_demo.core.blanks import start_infill
from diffutron_demo.core.branching import branch_run, redo_run
from diffutron_demo.core.sampler import start_run
from diffutron_demo.record.cells import (
    COMMITTED_NOW, MASKED, PINNED, PROPOSED, cell_grid, commit_ranks, commit_steps)
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.render.runview import run_value
from diffutron_demo.settings import SamplerSettings
from tests.helpers_runview import player_canvas

GREEDY = SamplerSettings(steps=10, max_new_tokens=12, block_length=4, temperature=0.0)


def generation(lm, settings=GREEDY, seed=0) -> Trajectory:
    return start_run(lm, "Türkiye'nin başkenti neresidir?", settings, seed)[0].run_to_end()


def fill(lm, settings=GREEDY, seed=0) -> Trajectory:
    return start_infill(lm, "Damlaya damlaya ___ olur, ___{3} gibi.", settings, seed)[0].run_to_end()


def changed(a: list[int], b: list[int]) -> set[int]:
    return {i for i, (x, y) in enumerate(zip(a, b)) if x != y}


def spans(positions: list[int]) -> list[tuple[int, int]]:
    """Sorted positions as [start, end) runs of consecutive ones."""
    out: list[list[int]] = []
    for p in positions:
        if out and out[-1][1] == p:
            out[-1][1] = p + 1
        else:
            out.append([p, p + 1])
    return [(a, b) for a, b in out]


# The plain, sharper and stop-string checkpoints: their runs leave no mask on the canvas.
@pytest.mark.parametrize("ckpt", range(3))
@pytest.mark.parametrize("make", [generation, fill], ids=["generate", "infill"])
def test_a_redo_of_nothing_changes_nothing(models, ckpt, make):
    traj = make(models[ckpt])
    redo = redo_run(models[ckpt], traj, []).run_to_end()
    assert redo.steps == [] and redo.final_ids == traj.final_ids


@pytest.mark.parametrize("case", range(12))
def test_a_redo_of_a_span_changes_only_that_span(models, case):
    rng = random.Random(500 + case)
    lm = models[case % 3]
    traj = (generation if case % 3 else fill)(lm, GREEDY.with_changes(block_length=rng.choice([2, 4, 12])), case)
    start = rng.randrange(traj.answer_len)
    span = traj.slots[start : start + rng.randint(1, 4)]
    redo = redo_run(lm, traj, span).run_to_end()
    info = f"checkpoint {case % 3}, {traj.mode}, span {span}"
    assert changed(traj.final_ids, redo.final_ids) <= set(span), info
    assert redo.stop_reason == "complete" and redo.steps, info
    assert [st.step for st in redo.steps] == list(range(len(traj.steps), len(traj.steps) + len(redo.steps)))
    first = redo.steps[0]
    assert [(e.pos, e.token, e.was, e.kind) for e in first.forced] == \
        [(p, traj.special_ids["mask"], traj.final_ids[p], "redo") for p in span], "masked again, recorded first"
    assert all(p in span for st in redo.steps for p in st.committed), info
    assert [(b.start, b.end, b.was) for b in redo.blanks] == [(a, b, traj.final_ids[a:b]) for a, b in spans(span)]


@pytest.mark.parametrize("make", [generation, fill], ids=["generate", "infill"])
def test_a_redo_leaves_the_masks_it_was_not_asked_to_redo(models, make):
    """A run can end with mask ids on its canvas (a committed proposal of the mask id stays a mask,
    as in dllm): a redo fills the chosen positions only, "the rest stays as it is"."""
    lm = models[3]  # proposes the mask id itself
    traj = make(lm)
    mask = traj.special_ids["mask"]
    left = [p for p in traj.slots if traj.final_ids[p] == mask]
    assert left, "the run should leave masks on its canvas"
    chosen = [p for p in traj.slots if p not in left][:2]
    problems = []
    for positions in ([], chosen):
        for temperature in (0.0, 1.0):
            settings = GREEDY.with_changes(temperature=temperature)
            redo = redo_run(lm, traj, positions, settings, seed=3).run_to_end()
            outside = sorted(changed(traj.final_ids, redo.final_ids) - set(positions))
            filled = sorted({p for st in redo.steps for p in st.committed} - set(positions))
            blanks = [(b.start, b.end) for b in redo.blanks]
            if outside or filled or blanks != spans(positions):
                problems.append(f"redo of {positions} at temperature {temperature}: {len(redo.steps)} steps, "
                                f"committed {filled} and changed {outside} outside it, blanks {blanks}")
    assert problems == []


def test_a_redo_of_the_prompt_is_refused(models):
    traj = generation(models[0])
    for pos in (0, traj.prompt_len - 1, len(traj.final_ids)):
        with pytest.raises(ValueError, match="not on the canvas that can be redone"):
            redo_run(models[0], traj, [pos])


@pytest.mark.parametrize("make", [generation, fill], ids=["generate", "infill"])
def test_a_stored_redo_and_a_redo_of_it_replay_and_round_trip(models, make, tmp_path):
    lm = models[1]
    traj = make(lm, GREEDY.with_changes(temperature=0.8), 4)
    first = traj.slots[1:3]
    redo = redo_run(lm, traj, first, seed=9).run_to_end()
    i = traj.add_branch(redo, len(traj.steps))
    stored = traj.branches[i]
    assert stored.kind == "redo" and stored.parent is None and stored.from_step == len(traj.steps)
    assert [(b.start, b.end, b.was) for b in stored.blanks] == [(a, b, traj.final_ids[a:b]) for a, b in spans(first)]
    view = traj.branch(i)
    again = [traj.slots[-1]]
    second = redo_run(lm, view, again, seed=10).run_to_end()
    j = traj.add_branch(second, len(view.steps), parent=i)
    loaded = Trajectory.load(traj.save(tmp_path / "redo.json"))
    assert loaded.to_dict() == traj.to_dict()
    assert (loaded.branches[j].kind, loaded.branches[j].parent) == ("redo", i)
    for index, result in ((i, redo), (j, second)):
        shown = loaded.branch(index)
        assert shown.canvas_at(len(shown.steps)) == result.final_ids, "the record replays to the redo's canvas"
        assert shown.slots == traj.slots, "the redo's positions are rows the run already has"
    nested = loaded.branch(j)
    assert nested.steps[: len(view.steps)] == view.steps, "a redo of a redo continues its base"
    assert changed(redo.final_ids, second.final_ids) <= set(again)


# -- pins and redos on the record: the canvas, the cells and the player's value ----------------------------
@pytest.fixture(scope="module")
def edited(models) -> Trajectory:
    """A run with a pinned what-if branch (0) and a redo of that branch (1)."""
    lm = models[0]
    traj = generation(lm, GREEDY.with_changes(temperature=0.6), 2)
    k = 3
    canvas = traj.canvas_at(k)
    masked = [i for i, p in enumerate(traj.slots) if canvas[p] == traj.special_ids["mask"]]
    pins = {masked[0]: 300, masked[1]: 301}
    traj.add_branch(branch_run(lm, traj, k, pins=pins).run_to_end(), k, pins)
    view = traj.branch(0)
    traj.add_branch(redo_run(lm, view, view.slots[:3]).run_to_end(), len(view.steps), parent=0)
    return traj


def test_pins_and_redos_apply_before_their_steps_commits(edited):
    for index in (0, 1):
        view = edited.branch(index)
        first = view.steps[edited.branches[index].from_step]
        kinds = {e.kind for e in first.forced}
        assert kinds == ({"pin"} if index == 0 else {"redo"})
        split = edited.branches[index].from_step
        before, after = view.canvas_at(split), view.canvas_at(split + 1)
        for e in first.forced:
            # The edit is on the canvas the step decides on: a pin stays, a redo's position is refilled
            # by this step's commits only if it committed it.
            assert after[e.pos] == (e.token if e.kind == "pin" else
                                    first.proposals()[e.pos] if e.pos in first.committed else e.token)
            assert before[e.pos] == e.was
        assert view.canvas_at(len(view.steps)) == edited.branches[index].final_ids


def test_the_cells_say_which_edit_touched_them(edited):
    for index, kind, state in ((0, "pin", PINNED), (1, "redo", None)):
        view = edited.branch(index)
        split = edited.branches[index].from_step
        rows = {p: i for i, p in enumerate(view.slots)}
        grid = cell_grid(view)
        edits = [e for e in view.steps[split].forced if e.kind == kind]
        assert edits
        for e in edits:
            cell = grid[split][rows[e.pos]]
            assert cell.event == kind
            if state is not None:
                assert cell.state == state and cell.token == e.token
            else:
                assert cell.state in (MASKED, PROPOSED, COMMITTED_NOW)
        if kind == "pin":  # a pin is the person's choice: its commit step is the pin's, with no rank
            order, ranks = commit_steps(view), commit_ranks(view)
            assert all(order[rows[e.pos]] == split and ranks[rows[e.pos]] is None for e in edits)


def test_the_spoken_line_counts_a_single_redone_position_in_the_singular(models):
    traj = generation(models[0], GREEDY, 2)
    traj.add_branch(redo_run(models[0], traj, traj.slots[:1]).run_to_end(), len(traj.steps))
    view = traj.branch(0)
    say = run_value(view, label="redo", split=len(traj.steps), redo=True)["steps"][len(traj.steps)]["say"]
    assert "masked 1 position again to redo it;" in say
    assert "positions" not in say


def test_the_players_value_carries_the_edits_and_replays_them(edited):
    for index in (0, 1):
        view = edited.branch(index)
        split = edited.branches[index].from_step
        value = run_value(view, label="edited", split=split, redo=True)
        assert value["split"] == split and value["redo"] is True
        rows = {p: i for i, p in enumerate(view.slots)}
        entry = value["steps"][split]
        assert entry["f"] == [[rows[e.pos], e.token, e.kind, e.was] for e in view.steps[split].forced]
        for step in range(len(view.steps) + 1):
            assert player_canvas(value, step) == [view.canvas_at(step)[p] for p in view.slots], (index, step)
        if index == 1:
            assert f"masked {len(entry['f'])} positions again to redo them" in entry["say"]
        else:
            assert entry["say"].startswith(f"Step {split + 1} of {len(view.steps)}: pinned ")
