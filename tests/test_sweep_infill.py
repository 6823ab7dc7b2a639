"""Fill-in-the-blanks rows in a sweep, --compare-seeds, and --model demo.

An infill row runs through start_infill (its trajectory is an infill, bit-identical to the run
alone), its row holds each blank's fill (the final ids decoded over the blank's span) and the
figures against the references (blank_exact with a Turkish-aware fold, chrF per blank or of the
whole text), summary.csv and the report carry blank_exact. With --compare-seeds a sweep gives
Compare's answers for the same prompt, settings and seed; without it, not. The command the app's
"Sweep this" prints runs as printed, from the repository root, on the bundled demo model.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from sacrebleu.metrics import CHRF

from diffutron_demo import cli
from diffutron_demo.sweep.figures import blank_figures, fold
from diffutron_demo.sweep.grid import grid_file_text, load_grid, sweep_command
from diffutron_demo.sweep.load import load_files
from diffutron_demo.sweep.report import answers_html, summary_table_html
from diffutron_demo.sweep.seeds import stream_seed
from diffutron_demo.sweep.summary import summarize
from tests.helpers_sweep import ROOT, content, env, lines, write_inputs

RAW = "Damlaya damlaya ___ olur."
CHAT = "Türkiye'nin başkenti ___ şehridir, en büyük şehri ___{2}."
QUESTION = "Türkiye hakkında ne biliyorsun?"
# Two settings with different blank lengths (a plain blank's token count), one at temperature 0.
GRID = {"greedy": {"steps": 8, "max_new_tokens": 8, "block_length": 8, "temperature": 0, "blank_length": 3},
        "warm": {"steps": 8, "max_new_tokens": 8, "block_length": 4, "temperature": 0.8, "blank_length": 2}}


def tr_upper(text: str) -> str:
    """Upper case the Turkish way (i to İ, ı to I)."""
    return text.replace("i", "İ").replace("ı", "I").upper()


def decode_fills(lm, final_ids, spans):
    return [lm.tokenizer.decode(final_ids[a:b], skip_special_tokens=True).strip() for a, b in spans]


def sweep(model, prompts, grid, out, seeds="0", *extra) -> int:
    return cli.main(["sweep", "--model", str(model), "--prompts", str(prompts), "--grid", str(grid), "--out", str(out),
                     "--seeds", seeds, *extra])


@pytest.fixture(scope="module")
def lm(models):
    return models[0]  # the tiny_checkpoint the sweeps load


# -- infill rows ------------------------------------------------------------------------------------------------
def test_infill_rows_are_filled_by_start_infill_and_measured_against_their_blanks(tiny_checkpoint, lm, tmp_path):
    from diffutron_demo.core.blanks import build_infill, start_infill
    from diffutron_demo.record.trajectory import Trajectory

    # The references are the greedy setting's own fills, Turkish upper-cased: blank_exact must fold them back.
    greedy = load_grid(write_inputs(tmp_path / "pilot", [{"prompt": "x"}], GRID)[1])["greedy"]
    pilot = {}
    for pid, text, question in (("raw", RAW, None), ("chat", CHAT, QUESTION)):
        run, canvas = start_infill(lm, text, greedy, stream_seed(pid, "greedy", 0), question=question)
        pilot[pid] = decode_fills(lm, run.run_to_end().final_ids, canvas.blanks)
    whole = f"Damlaya damlaya {tr_upper(pilot['raw'][0])} olur."  # the whole filled text: its blank is read out
    prompts = [{"prompt": "Türkiye'nin başkenti neresidir?", "id": "gen", "reference": "Ankara."},
               {"prompt": RAW, "id": "raw", "mode": "infill", "reference": whole},
               {"prompt": CHAT, "id": "chat", "mode": "infill", "question": QUESTION,
                "reference": [tr_upper(f) for f in pilot["chat"]]},
               {"prompt": " ".join(["kelime"] * 400) + " ___", "id": "long", "mode": "infill", "reference": ["x"]}]
    prompts_file, grid_file = write_inputs(tmp_path, prompts, GRID)
    grid = load_grid(grid_file)
    out = tmp_path / "out"
    assert sweep(tiny_checkpoint, prompts_file, grid_file, out, "0", "--keep-trajectories") == 0
    rows = {(r["prompt_id"], r["setting"]): r for r in lines(out)}
    assert len(rows) == 8 and all(r["status"] == "ok" for (pid, _), r in rows.items() if pid != "long")
    for setting in grid:  # longer than the window: marked, and the sweep goes on
        long = rows["long", setting]
        assert long["status"] == "too_long" and "window" in long["reason"] and long["mode"] == "infill"
        assert long["blank_fills"] is None and long["blank_exact"] is None and long["chrf"] is None

    gen = rows["gen", "greedy"]
    assert "mode" not in gen and "blank_fills" not in gen and "blank_exact" not in gen
    assert gen["chrf"] == pytest.approx(CHRF().sentence_score(gen["reply"].strip(), ["Ankara."]).score, abs=1e-3)

    for pid, text, question in (("raw", RAW, None), ("chat", CHAT, QUESTION)):
        for setting, settings in grid.items():
            r = rows[pid, setting]
            assert r["mode"] == "infill" and r["question"] == question and r["prompt"] == text
            traj = Trajectory.load(out / r["trajectory"])
            alone, canvas = start_infill(lm, text, settings, stream_seed(pid, setting, 0), question=question)
            assert traj.mode == "infill" and traj.final_ids == alone.run_to_end().final_ids
            spans = build_infill(lm.tokenizer, text, blank_length=settings.blank_length,
                                 context_window=lm.context_window, question=question).blanks
            assert spans == canvas.blanks and len(spans) == (1 if pid == "raw" else 2)
            assert spans[0][1] - spans[0][0] == settings.blank_length  # each setting's own blank length
            assert r["blank_fills"] == decode_fills(lm, traj.final_ids, spans)
            refs = r["blank_references"]
            assert len(refs) == len(spans)
            share = sum(fold(f) == fold(x) for f, x in zip(r["blank_fills"], refs)) / len(spans)
            assert r["blank_exact"] == pytest.approx(share)
            if pid == "raw":  # the whole text: chrF of the reply
                assert refs == [tr_upper(pilot["raw"][0]).strip()]
                want = CHRF().sentence_score(r["reply"].strip(), [whole]).score
            else:  # per blank: the mean of each blank's chrF
                want = statistics.mean(CHRF().sentence_score(f, [x.strip()]).score
                                       for f, x in zip(r["blank_fills"], refs))
            assert r["chrf"] == pytest.approx(want, abs=1e-3)
        assert rows[pid, "greedy"]["blank_fills"] == pilot[pid]
        assert rows[pid, "greedy"]["blank_exact"] == 1.0, "Turkish upper case folds back to the fill"

    summary = {s["setting"]: s for s in csv.DictReader(io.StringIO((out / "summary.csv").read_text()))}
    for setting in grid:
        mine = [r["blank_exact"] for (_, s), r in rows.items() if s == setting and r.get("blank_exact") is not None]
        assert len(mine) == 2 and float(summary[setting]["blank_exact_mean"]) == pytest.approx(statistics.mean(mine))
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<th>blanks exact</th>" in report

    batched = tmp_path / "batched"  # infill and generation runs of a setting stepped together
    assert sweep(tiny_checkpoint, prompts_file, grid_file, batched, "0", "--keep-trajectories", "--batch-size", "4") == 0
    assert content(batched) == content(out)


def test_generation_only_sweeps_leave_blank_exact_empty():
    rows = [{"prompt_id": "p1", "setting": s, "seed": 0, "status": "ok", "model_ms": 1.0, "gen_tokens": 2,
             "agreement": 1.0} for s in ("a", "b")]
    rows.append({**rows[0], "setting": "b", "prompt_id": "p2", "mode": "infill", "blank_exact": 0.5})
    summary = {s["setting"]: s for s in summarize(rows, ["a", "b"])}
    assert summary["a"]["blank_exact_mean"] is None and summary["b"]["blank_exact_mean"] == 0.5
    table = summary_table_html(list(summary.values()), "a")
    assert "<th>blanks exact</th>" in table and "50%" in table


# -- the figures, the fold, the views ----------------------------------------------------------------------------
def test_the_fold_is_turkish():
    assert fold("  İSTANBUL ") == fold("istanbul") == "istanbul"
    assert fold("IRMAK") == fold("ırmak") and fold("IRMAK") != fold("irmak")
    assert fold("I\u0307ZMI\u0307R") == fold("izmir")  # İ written as I and a combining dot
    assert fold("Göl") == fold("GÖL") and fold("göl") != fold("gol")


def test_blank_figures():
    got = blank_figures(["Göl", " deniz ", "İz"], ["göl", "Nehir", "iz"], "unused", None)
    assert got["blank_exact"] == pytest.approx(2 / 3) and got["blank_fills"] == ["Göl", " deniz ", "İz"]
    per_blank = [CHRF().sentence_score(f.strip(), [x]).score for f, x in (("Göl", "göl"), ("deniz", "Nehir"),
                                                                           ("İz", "iz"))]
    assert got["chrf"] == pytest.approx(statistics.mean(per_blank), abs=1e-3)
    whole = blank_figures(["göl"], None, "Damlaya damlaya göl olur.", "Damlaya damlaya göl olur.")
    assert whole["blank_exact"] is None and whole["chrf"] == pytest.approx(100.0)
    assert blank_figures(None, ["göl"], None, None) == {"blank_fills": None, "blank_references": ["göl"],
                                                       "blank_exact": None, "chrf": None}
    assert blank_figures(["x"], None, "x", None)["chrf"] is None


def infill_row(setting, fills, refs, exact, reply="Damlaya damlaya göl olur."):
    return {"prompt_id": "raw", "setting": setting, "seed": 0, "status": "ok", "reason": None, "prompt": RAW,
            "mode": "infill", "question": "Soru <i>?</i>", "reply": reply, "answer_ids": [5, 6], "gen_tokens": 2,
            "nfe": 3, "model_ms": 1.0, "agreement": 1.0, "blank_fills": fills, "blank_references": refs,
            "blank_exact": exact}


def test_the_answers_view_shows_each_blanks_fill_as_text():
    rows = [infill_row("a", ["Göl"], ["göl"], 1.0), infill_row("b", ["<b>deniz</b>"], ["göl"], 0.0),
            infill_row("c", ["", "x"], None, None)]
    page = answers_html(rows, "raw", ["a", "b", "c"], "a")
    assert "Fill in the blanks, the answer to: Soru &lt;i&gt;?&lt;/i&gt;" in page
    assert '<span class="dd-fill">Göl</span> <span class="ci" style="color:#777">(✓ reference)</span>' in page
    assert '<span class="dd-fill">&lt;b&gt;deniz&lt;/b&gt;</span> <span class="ci" style="color:#777">(reference: göl)</span>' in page
    assert "<b>deniz</b>" not in page and "<i>(empty)</i>" in page and "blanks exact 100%" in page


def test_old_rows_still_load_and_malformed_infill_rows_are_dropped(tmp_path):
    old = {"prompt_id": "p1", "setting": "a", "seed": 0, "status": "ok", "reason": None, "prompt": "Merhaba",
           "stream_seed": 1, "reply": "Selam", "answer_ids": [1, 2], "gen_tokens": 2, "nfe": 4, "steps": 4,
           "tokens_per_forward": 0.5, "model_ms": 3.0, "wall_ms": 4.0, "mean_conf": 0.5, "closed": False,
           "stop_reason": "complete", "repeated_3grams": 0, "agreement": 1.0, "exact_match": True, "chrf": None,
           "trajectory": None, "process": 0, "launch": "x", "finished_at": 1.0}
    bad = [infill_row("a", [3], None, None), infill_row("a", "göl", None, None), {**infill_row("a", [], None, None),
                                                                                 "mode": "fill"}]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [old, *[{**b, "prompt_id": f"bad{i}"}
                                                                  for i, b in enumerate(bad)]]))
    data = load_files([path])
    assert [r["prompt_id"] for r in data.rows] == ["p1"]
    assert data.summary[0]["blank_exact_mean"] is None and data.summary[0]["gen_tokens_mean"] == 2
    assert "Selam" in answers_html(data.rows, "p1", data.settings, data.reference)


# -- --compare-seeds ------------------------------------------------------------------------------------------------
def test_compare_seeds_gives_compares_answers(tiny_checkpoint, lm, tmp_path):
    from diffutron_demo.app.service import Task, compare_runs
    from diffutron_demo.record.stats import answer_tokens

    grid = {"low confidence": {"steps": 8, "max_new_tokens": 8, "block_length": 4, "temperature": 0.7},
            "random": {"steps": 4, "max_new_tokens": 8, "block_length": 8, "temperature": 0.7,
                       "remasking": "random", "blank_length": 2}}
    prompts = [{"prompt": "Türkiye'nin başkenti neresidir?"}, {"prompt": "Bana kısa bir şiir yazar mısın?"},
               {"prompt": RAW, "mode": "infill"}, {"prompt": CHAT, "mode": "infill", "question": QUESTION}]
    tasks = {"p1": Task(prompts[0]["prompt"]), "p2": Task(prompts[1]["prompt"]), "p3": Task(RAW, fill=True),
             "p4": Task(CHAT, fill=True, question=QUESTION)}
    prompts_file, grid_file = write_inputs(tmp_path, prompts, grid)
    settings = load_grid(grid_file)
    seed = 5
    compare = {}
    for pid, task in tasks.items():
        *_, (runs, _) = compare_runs(lm, task, list(settings.values()), seed)
        for name, run in zip(settings, runs):
            compare[pid, name] = answer_tokens(run.trajectory())
    assert len(set(map(tuple, compare.values()))) > 1

    same, other = tmp_path / "compare-seeds", tmp_path / "streams"
    assert sweep(tiny_checkpoint, prompts_file, grid_file, same, str(seed), "--compare-seeds") == 0
    assert sweep(tiny_checkpoint, prompts_file, grid_file, other, str(seed)) == 0
    rows = {(r["prompt_id"], r["setting"]): r for r in lines(same)}
    assert set(rows) == set(compare)
    assert {k: r["answer_ids"] for k, r in rows.items()} == compare
    assert all(r["stream_seed"] == seed for r in rows.values())
    assert json.loads((same / "manifest.json").read_text())["compare_seeds"] is True
    streams = {(r["prompt_id"], r["setting"]): r for r in lines(other)}
    assert all(r["stream_seed"] == stream_seed(pid, s, seed) for (pid, s), r in streams.items())
    assert any(streams[k]["answer_ids"] != compare[k] for k in compare), "the stream seeds give other answers"
    assert json.loads((other / "manifest.json").read_text())["compare_seeds"] is False


# -- --model demo, and the printed command ---------------------------------------------------------------------------
TINY = {"steps": 8, "max_new_tokens": 8, "block_length": 8, "temperature": 0}


def test_model_demo_is_the_bundled_demo_model(tmp_path):
    from diffutron_demo.app.manager import demo_checkpoint_dir

    prompts, grid = write_inputs(tmp_path, [{"prompt": "Merhaba"}], {"greedy": TINY})
    out = tmp_path / "out"
    assert sweep("demo", prompts, grid, out) == 0
    assert [r["status"] for r in lines(out)] == ["ok"]
    manifest = json.loads((out / "manifest.json").read_text())
    folder = demo_checkpoint_dir()
    assert manifest["model"] == "demo"
    assert manifest["model_fingerprint"]["weights"] == {p.name: p.stat().st_size for p in folder.iterdir()
                                                         if p.suffix == ".safetensors"}


def test_the_printed_sweep_command_runs_from_the_repository_root(tmp_path):
    """The command "Sweep this" prints for the demo model (a folder relative to the checkout, and
    --compare-seeds), split as a shell splits it and run from the repository root."""
    from diffutron_demo.app.manager import DEMO_MODEL, ModelManager, model_argument
    from diffutron_demo.settings import SamplerSettings

    lm = ModelManager().serve(DEMO_MODEL).lm
    argument = model_argument(lm)
    grid = tmp_path / "grid.json"
    grid.write_text(grid_file_text({"greedy": SamplerSettings.from_dict(TINY),
                                    "warm": SamplerSettings.from_dict({**TINY, "temperature": 0.7})}))
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Türkiye'nin başkenti neresidir?\nMerhaba, nasılsın?\n", encoding="utf-8")
    out = tmp_path / "sweep-out"  # the printed command's default, `sweep-out`, would land in the checkout
    printed = sweep_command(argument, str(grid), str(prompts), 3)
    command = sweep_command(argument, str(grid), str(prompts), 3, str(out))
    assert command == printed.replace("--out sweep-out", f"--out {shlex.quote(str(out))}")
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "diffutron_demo"] and "--compare-seeds" in argv
    run_env = dict(env(), PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run(argv, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = lines(out)
    assert len(rows) == 4 and all(r["status"] == "ok" and r["stream_seed"] == 3 for r in rows)
    assert json.loads((out / "manifest.json").read_text())["model"] == argument
