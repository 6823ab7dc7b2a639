"""Compare (app/service.py): several settings on one task and seed, drawn column by column, and its
"Sweep this" command.

Every frame keeps each run under its own column number (columns 1 and 4 stay 1 and 4), the table's
rows say their column, a set stop event cancels the runs, and a fill is compared as a fill. The
sweep command is quoted for a POSIX shell, and names the bundled demo model by its folder relative
to the checkout, which a sweep run from the repository root finds.
"""

from __future__ import annotations

import json
import shlex
import threading
from pathlib import Path

import pytest

from diffutron_demo import cli
from diffutron_demo.app import manager
from diffutron_demo.app.manager import DEMO_MODEL, model_argument
from diffutron_demo.app.service import Task, compare_frames, compare_runs
from diffutron_demo.core.blanks import BlankError
from diffutron_demo.core.sampler import start_run
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.sweep.grid import sweep_command
from tests.helpers_sweep import lines, write_inputs

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Türkiye'nin başkenti neresidir?"
S1 = SamplerSettings(steps=8, max_new_tokens=8, block_length=4, temperature=0.0)
S4 = SamplerSettings(steps=4, max_new_tokens=8, block_length=8, temperature=0.7, remasking="random")
LABELS = {1: "column 1: greedy", 4: "column 4: random"}


@pytest.fixture(scope="module")
def lm(models):
    return models[0]


@pytest.mark.parametrize("columns", [{1: S1, 4: S4}, {4: S4, 1: S1}], ids=["in-order", "given-backwards"])
def test_every_frame_keeps_each_run_under_its_own_column(lm, columns):
    frames = list(compare_frames(lm, Task(QUESTION), columns, 3, LABELS, interval=0.0))
    assert len(frames) > 2 and frames[-1].done and not any(f.done for f in frames[:-1])
    for frame in frames:
        assert frame.columns == [1, 4]
        assert [p["label"] for p in frame.players] == [LABELS[1], LABELS[4]]
        assert len(frame.answers) == 2
    last = frames[-1]
    assert [t.settings for t in last.trajs] == [S1.to_dict(), S4.to_dict()], "each column ran its own settings"
    assert [(r["column"], r["run"]) for r in last.rows] == [(1, LABELS[1]), (4, LABELS[4])]
    for traj, player, row in zip(last.trajs, last.players, last.rows):
        assert len(player["steps"]) == len(traj.steps) == row["steps"] and player["done"]
        alone = start_run(lm, QUESTION, SamplerSettings.from_dict(traj.settings), 3)[0].run_to_end()
        assert traj.final_ids == alone.final_ids, "a column's run is the run alone"


def test_a_set_stop_event_cancels_the_compare_runs(lm):
    stop = threading.Event()
    frames = []
    for frame in compare_frames(lm, Task(QUESTION), {1: S1, 4: S4}, 3, LABELS, stop=stop, interval=0.0):
        frames.append(frame)
        stop.set()  # after the first frame
    last = frames[-1]
    assert last.done and [t.stop_reason for t in last.trajs] == ["cancelled", "cancelled"]
    assert [r["stop"] for r in last.rows] == ["cancelled", "cancelled"]
    assert all(0 < len(t.steps) < 4 for t in last.trajs), "stopped between rounds, partial steps kept"


def test_compare_runs_checks_the_stop_event_every_round(lm):
    stop = threading.Event()
    stop.set()
    rounds = list(compare_runs(lm, Task(QUESTION), [S1, S4], 3, stop=stop))
    runs, _ = rounds[-1]
    assert [r.stop_reason for r in runs] == ["cancelled", "cancelled"]
    assert [len(r.steps) for r in runs] == [1, 1]
    *_, (finished, _) = compare_runs(lm, Task(QUESTION), [S1, S4], 3, stop=threading.Event())
    assert [r.stop_reason for r in finished] == ["complete", "complete"]


def test_a_fill_is_compared_as_a_fill(lm):
    task = Task("Damlaya damlaya ___ olur.", fill=True)
    *_, (runs, _) = compare_runs(lm, task, [S1, S4], 3)
    trajs = [r.trajectory() for r in runs]
    assert [t.mode for t in trajs] == ["infill", "infill"] and all(t.answer_len == S1.blank_length for t in trajs)
    with pytest.raises(BlankError, match="no blank"):
        list(compare_runs(lm, Task("Damlaya damlaya göl olur.", fill=True), [S1, S4], 3))


# -- "Sweep this" -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model, grid, prompts, out", [
    ("tiny-a", "grid.json", "prompts.txt", "sweep-out"),
    ("my models/it's \"here\"", "my grid.json", "prompts $(rm -rf x).txt", "out; echo hi"),
    ("user/model-name", "a'b.yaml", "p\tq.jsonl", "with space/"),
])
def test_the_sweep_command_round_trips_through_a_shell(model, grid, prompts, out):
    command = sweep_command(model, grid, prompts, 7, out)
    assert shlex.split(command) == ["python", "-m", "diffutron_demo", "sweep", "--model", model, "--grid", grid,
                                    "--prompts", prompts, "--seeds", "7", "--compare-seeds", "--out", out]
    # Every flag is the sweep command's own.
    parsed = cli.build_parser().parse_args(shlex.split(command)[3:])
    assert (parsed.command, parsed.model, parsed.grid, parsed.prompts, parsed.seeds, parsed.out) == \
        ("sweep", model, grid, prompts, "7", out)
    assert parsed.compare_seeds is True


class Named:
    """What model_argument reads of a loaded model: its name."""

    def __init__(self, name: str):
        self.name = name


def test_a_model_is_named_as_the_page_names_it(lm):
    assert model_argument(lm) == lm.name == "tiny-a"
    assert model_argument(Named("someone/model")) == "someone/model"


def sweep_from_the_root(argument: str, folder: Path, monkeypatch) -> Path:
    """Run the printed "Sweep this" command (in-process) from the repository root; its output folder."""
    prompts, grid = write_inputs(folder / "inputs", prompts=[{"prompt": "Merhaba"}],
                                 grid={"greedy": {"steps": 4, "max_new_tokens": 4, "block_length": 4,
                                                  "temperature": 0}})
    monkeypatch.chdir(ROOT)
    command = shlex.split(sweep_command(argument, str(grid), str(prompts), 0, str(folder / "out")))
    assert command[:3] == ["python", "-m", "diffutron_demo"]
    assert cli.main(command[3:]) == 0, "the printed command runs from the repository root"
    rows = lines(folder / "out")
    assert rows and all(r["setting"] == "greedy" and r["status"] == "ok" for r in rows)
    return folder / "out"


def test_the_bundled_demo_model_is_named_by_its_folder_and_a_sweep_from_the_root_finds_it(tmp_path, monkeypatch):
    argument = model_argument(Named(DEMO_MODEL))
    assert not Path(argument).is_absolute() and (ROOT / argument / "model.safetensors").exists(), argument
    assert str(ROOT) not in sweep_command(argument, "grid.json", "prompts.txt", 0), "no server path"
    out = sweep_from_the_root(argument, tmp_path, monkeypatch)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == argument and manifest["model_fingerprint"]["weights"], "the bundled folder itself"


def test_the_random_fallback_is_named_so_that_a_sweep_finds_it(tmp_path, monkeypatch):
    """Where the checkout lacks the bundled model, the demo is a random checkpoint built on first
    use (outside the checkout); the argument printed for it must still run the sweep."""
    from diffutron_demo.core.checkpoints import build_random_checkpoint

    fallback = build_random_checkpoint(tmp_path / "demo-random", seed=0, logit_scale=4.0)
    monkeypatch.setattr(manager, "demo_checkpoint_dir", lambda: Path(fallback))
    argument = model_argument(Named(DEMO_MODEL))
    assert str(tmp_path) not in argument, "no server path"
    out = sweep_from_the_root(argument, tmp_path, monkeypatch)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model_name"] == Path(fallback).name, "the sweep ran on the fallback the app serves"
