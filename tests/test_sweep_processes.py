"""Sweeps on a tiny checkpoint: two real processes (accelerate launch) give the same rows as one;
a killed sweep resumes without recomputing or losing a finished run; the summary's figures are
the runs' figures; a prompt too long for the window marks its rows and the sweep goes on."""

from __future__ import annotations

import csv
import io
import json
import math
import signal
import statistics
import subprocess
import sys
import time

import pytest

from diffutron_demo.cli import main
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.sweep.summary import FIGURES, TIMING_COLUMNS
from tests.helpers_app import free_port
from tests.helpers_sweep import GRID, MARKUP, ROOT, accelerate_launch, content, env, lines, run_cli, sweep_args, \
    write_inputs

T_975 = {5: 2.570581836, 3: 3.182446305}  # Student's t table: 3 prompts x 2 seeds = 6 runs; chrF has 2 x 2


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_inputs(tmp_path_factory.mktemp("sweep-inputs"))


@pytest.fixture(scope="module")
def one_process(tiny_checkpoint, inputs, tmp_path_factory):
    """The uninterrupted sweep with one process (in this process, as `python -m diffutron_demo sweep`)."""
    out = tmp_path_factory.mktemp("one") / "out"
    assert main(sweep_args(tiny_checkpoint, *inputs, out, "--keep-trajectories")) == 0
    return out


def test_two_processes_give_the_same_rows_as_one(tiny_checkpoint, inputs, one_process, tmp_path):
    out = tmp_path / "two"
    done = run_cli(sweep_args(tiny_checkpoint, *inputs, out, "--keep-trajectories"),
                   launcher=accelerate_launch(free_port()))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "process 0 of 2" in done.stderr and "process 1 of 2" in done.stderr
    assert {row["process"] for row in lines(out)} == {0, 1}  # both really ran runs
    assert json.loads((out / "manifest.json").read_text())["num_processes"] == 2
    two, one = content(out), content(one_process)
    assert len(one) == 3 * 3 * 2 and two == one
    temperatures = {GRID[s].get("temperature") for _, s, _ in one}
    assert 0 in temperatures and max(temperatures) > 0
    assert done.stderr.strip().splitlines()[-1].startswith("sweep done: 18 of 18 runs")


def test_killed_sweep_resumes_without_recomputing(tiny_checkpoint, inputs, one_process, tmp_path):
    out = tmp_path / "killed"
    args = sweep_args(tiny_checkpoint, *inputs, out, "--keep-trajectories")
    cmd = [sys.executable, "-m", "diffutron_demo", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = out / "runs.jsonl"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if runs.exists() and runs.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = runs.read_bytes()
    finished = before[: before.rfind(b"\n") + 1]
    assert 3 <= finished.count(b"\n") < 18, "the kill must land mid-sweep"
    with open(runs, "ab") as f:  # a write cut short: half a line, no newline
        f.write(b'{"prompt_id": "p1", "setting": "greedy", "seed": 0, "status": "ok", "rep')
    code = main(args)
    assert code == 0
    after = runs.read_bytes()
    assert after.startswith(finished), "rows finished before the kill are kept as they were"
    rows = lines(out)
    first = {r["launch"] for r in rows[: finished.count(b"\n")]}
    assert len(first) == 1 and all(r["launch"] not in first for r in rows[finished.count(b"\n"):])
    assert content(out) == content(one_process)  # nothing lost, nothing twice, the same answers
    assert strip_timing(out / "summary.csv") == strip_timing(one_process / "summary.csv")


def strip_timing(path):
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(io.StringIO(
        path.read_text()))]


def test_summary_figures_are_the_runs_figures(one_process):
    rows = lines(one_process)
    summary = {r["setting"]: r for r in csv.DictReader(io.StringIO((one_process / "summary.csv").read_text()))}
    assert list(summary) == list(GRID)
    for setting, s in summary.items():
        mine = [r for r in rows if r["setting"] == setting]
        assert int(s["runs"]) == len(mine) == 6 and int(s["too_long"]) == 0
        for fig in FIGURES:
            values = [float(r[fig]) for r in mine if r.get(fig) is not None]  # blank_exact: infill rows only
            if not values:
                assert s[f"{fig}_mean"] == "" and s[f"{fig}_low"] == ""
                continue
            mean = statistics.mean(values)
            half = T_975[len(values) - 1] * statistics.stdev(values) / math.sqrt(len(values))
            top = 100 if fig == "chrf" else 1 if fig in ("mean_conf", "closed", "agreement", "exact_match",
                                                         "blank_exact") else 1e99
            for part, want in (("mean", mean), ("low", max(mean - half, 0)), ("high", min(mean + half, top))):
                assert float(s[f"{fig}_{part}"]) == pytest.approx(want, rel=1e-4, abs=1e-4), (setting, fig, part)
        model_s = sum(r["model_ms"] for r in mine) / 1000
        assert float(s["total_model_s"]) == pytest.approx(model_s, rel=1e-4)
        assert float(s["tokens_per_s"]) == pytest.approx(sum(r["gen_tokens"] for r in mine) / model_s, rel=1e-4)
    reference = [r for r in rows if r["setting"] == "greedy"]
    assert all(r["agreement"] == 1.0 and r["exact_match"] for r in reference)
    assert {r["chrf"] is None for r in rows} == {True, False}  # only prompts with a reference answer


def test_agreement_exact_match_and_chrf_are_recomputed_from_the_rows(one_process, inputs):
    """Each row against the reference setting's row for the same prompt and seed (by hand), and chrF
    against the prompt's reference answer (sacrebleu called here)."""
    from sacrebleu.metrics import CHRF

    rows = lines(one_process)
    refs = {(r["prompt_id"], r["seed"]): r for r in rows if r["setting"] == "greedy"}
    answers = {p.get("id", f"p{i + 1}"): p.get("reference") for i, p in enumerate(map(json.loads, inputs[0].read_text(
        encoding="utf-8").splitlines()))}
    differ = 0
    for r in rows:
        ref = refs[r["prompt_id"], r["seed"]]
        a, b = r["answer_ids"], ref["answer_ids"]
        same = sum(x == y for x, y in zip(a, b))
        assert r["agreement"] == pytest.approx(same / max(len(a), len(b), 1) if (a or b) else 1.0, abs=1e-6)
        assert r["exact_match"] == (a == b)
        differ += a != b
        want = answers[r["prompt_id"]]
        if want is None:
            assert r["chrf"] is None
        else:
            assert r["chrf"] == pytest.approx(CHRF().sentence_score(r["reply"].strip(), [want]).score, abs=1e-3)
    assert differ, "some answers differ from the reference's, so agreement is really measured"


def test_rows_hold_what_the_readme_says(one_process):
    row = lines(one_process)[0]
    for name in ("prompt_id", "setting", "seed", "status", "reason", "prompt", "stream_seed", "reply", "answer_ids",
                 "gen_tokens", "nfe", "steps", "tokens_per_forward", "model_ms", "wall_ms", "mean_conf", "closed",
                 "stop_reason", "repeated_3grams", "agreement", "exact_match", "chrf", "trajectory", "process",
                 "launch", "finished_at"):
        assert name in row, name
    readme = (ROOT / "README.md").read_text()
    for name in row:
        assert f"`{name}`" in readme, f"runs.jsonl field {name} is not documented in the README"


def test_special_token_strings_stay_text_and_trajectories_load(one_process, models):
    rows = [r for r in lines(one_process) if r["prompt_id"] == "markup"]
    assert rows and all(r["prompt"] == MARKUP for r in rows)
    traj = Trajectory.load(one_process / rows[0]["trajectory"])
    assert traj.prompt_ids and models[0].mask_id not in traj.prompt_ids
    assert "<mask>" in traj.prompt["text"]


def test_too_long_prompt_marks_its_rows_and_the_sweep_goes_on(tiny_checkpoint, tmp_path, capsys):
    long = " ".join(["kelime"] * 400)
    grid = {"short": {"steps": 4, "max_new_tokens": 4, "temperature": 0}}
    prompts, grid_file = write_inputs(tmp_path, [{"prompt": long, "id": "long"}, {"prompt": "Merhaba"}], grid)
    out = tmp_path / "out"
    assert main(["sweep", "--model", str(tiny_checkpoint), "--prompts", str(prompts), "--grid", str(grid_file),
                 "--out", str(out)]) == 0
    rows = {r["prompt_id"]: r for r in lines(out)}
    assert rows["long"]["status"] == "too_long" and rows["long"]["reply"] is None
    assert "exceeds the model's 256-token window" in rows["long"]["reason"]
    assert rows["p2"]["status"] == "ok" and rows["p2"]["gen_tokens"] is not None
    summary = next(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
    assert summary["runs"] == "1" and summary["too_long"] == "1"
    assert "1 too long" in capsys.readouterr().err
