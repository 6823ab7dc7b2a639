"""Every malformed grid, prompt file and seed list gets one line naming the entry / line and field,
and exit status 2, before any model is loaded (the model path here does not exist)."""

from __future__ import annotations

import json

import pytest

from diffutron_demo.cli import main
from diffutron_demo.sweep.grid import load_grid
from diffutron_demo.sweep.prompts import load_prompts
from diffutron_demo.sweep.seeds import stream_seed

NO_MODEL = "/nonexistent/model"  # loading it would fail with another message


def run(tmp_path, capsys, grid=None, prompts=None, grid_name="grid.json", prompts_name="prompts.txt", extra=()):
    g, p = tmp_path / grid_name, tmp_path / prompts_name
    g.write_text(grid if grid is not None else json.dumps({"a": {"steps": 8}, "b": {"steps": 16}}), encoding="utf-8")
    if isinstance(prompts, bytes):
        p.write_bytes(prompts)
    else:
        p.write_text(prompts if prompts is not None else "Merhaba\n", encoding="utf-8")
    code = main(["sweep", "--model", NO_MODEL, "--prompts", str(p), "--grid", str(g), "--out",
                 str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    return code, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


GRIDS = [
    ('{"a": {"steps": 8}, "fast": {"thresold": 0.9}}', "entry 'fast', field 'thresold': Unknown setting"),
    ('{"a": {"steps": 0}}', "entry 'a', field 'steps': Steps must be between 1 and 1024"),
    ('{"a": {"remasking": "fastest"}}', "entry 'a', field 'remasking': Remasking must be one of"),
    ('{"a": {"temperature": "hot"}}', "entry 'a', field 'temperature': Temperature must be a number"),
    ('{"a": {"steps": 8}, "a": {"steps": 16}}', "'a' appears twice"),
    ('{"a": 3}', "entry 'a' must be an object of settings"),
    ("{}", "the grid must be a non-empty object"),
    ("[1, 2]", "the grid must be a non-empty object"),
    ('{"a": {"steps": 8}', "not valid JSON"),
    ('{"base": {"steps": 8}}', "a grid with 'base' needs 'vary'"),
    ('{"base": {}, "vary": {"steps": []}}', "vary field 'steps' must be a non-empty list"),
    ('{"base": {}, "vary": {"stpes": [8]}}', "field 'stpes': Unknown setting 'stpes'"),
    ('{"base": {}, "vary": {"steps": [8, 0]}}', "entry 'steps=0', field 'steps': Steps must be between"),
    ('{"base": {}, "vary": {"steps": [8, 8]}}', "vary field 'steps' lists a value twice"),
    ('{"base": {"block_length": -1}, "vary": {"steps": [8]}}', "entry 'base', field 'block_length'"),
    ('{"base": {}, "vary": {"steps": %s, "max_new_tokens": %s}}' % (list(range(1, 41)), list(range(1, 41))),
     "expands to 1600 settings; at most 1000"),
]


@pytest.mark.parametrize("grid,expected", GRIDS)
def test_malformed_grid(tmp_path, capsys, grid, expected):
    code, err = run(tmp_path, capsys, grid=grid)
    assert code == 2
    line = one_line(err)
    assert line.startswith("error: grid.json") and expected in line, line


PROMPT_FILES = [
    ("", "prompts.txt", "the prompt file holds no prompts"),
    ("\n  \n\n", "prompts.txt", "the prompt file holds no prompts"),
    ("", "prompts.jsonl", "the prompt file holds no prompts"),
    ('{"prompt": "a"}\n{"prompt": "b"\n', "prompts.jsonl", "prompts.jsonl line 2: not valid JSON"),
    ('{"prompt": "a"}\n["b"]\n', "prompts.jsonl", "line 2: each line must be an object"),
    ('{"prompt": "  "}\n', "prompts.jsonl", "line 1: 'prompt' must be non-empty text"),
    ('{"text": "a"}\n', "prompts.jsonl", "line 1: unknown field 'text'"),
    ('{"prompt": "a", "reference": 3}\n', "prompts.jsonl", "line 1: 'reference' must be text"),
    ('{"prompt": "a", "id": "x"}\n\n{"prompt": "b", "id": "x"}\n', "prompts.jsonl", "line 3: id 'x' is used twice"),
    ('{"prompt": "a", "id": [1]}\n', "prompts.jsonl", "line 1: 'id' must be text or a whole number"),
    ('{"prompt": "a ___ b", "mode": "fill"}\n', "prompts.jsonl", "line 1: 'mode' must be \"generate\" or \"infill\" "
     "(got \"fill\")"),
    ('{"prompt": "a ___ b", "mode": 1}\n', "prompts.jsonl", "line 1: 'mode' must be \"generate\" or \"infill\""),
    ('{"prompt": "a"}\n{"prompt": "Damlaya damlaya göl olur.", "mode": "infill"}\n', "prompts.jsonl",
     "line 2: 'prompt' has no blank: write ___"),
    ('{"prompt": "a \\\\___ b", "mode": "infill"}\n', "prompts.jsonl", "line 1: 'prompt' has no blank"),
    ('{"prompt": "dosya___adı", "mode": "infill"}\n', "prompts.jsonl",
     "line 1: 'prompt': “dosya___adı”: underscores inside a word are not a blank"),
    ('{"prompt": "a ___{0} b", "mode": "infill"}\n', "prompts.jsonl", "line 1: 'prompt': “___{0}”: a blank's own length"),
    ('{"prompt": "a ___ b ___{4}", "mode": "infill", "reference": ["x"]}\n', "prompts.jsonl",
     "line 1: 'reference' lists 1 text but the prompt has 2 blanks"),
    ('{"prompt": "a ___ b", "mode": "infill", "reference": ["x", "y"]}\n', "prompts.jsonl",
     "line 1: 'reference' lists 2 texts but the prompt has 1 blank"),
    ('{"prompt": "a ___ b", "mode": "infill", "reference": [3]}\n', "prompts.jsonl",
     "line 1: 'reference' must be text, or a list of texts (one per blank)"),
    ('{"prompt": "a ___ b", "mode": "infill", "reference": {"x": 1}}\n', "prompts.jsonl",
     "line 1: 'reference' must be text, or a list of texts"),
    ('{"prompt": "a", "reference": ["x"]}\n', "prompts.jsonl", "line 1: 'reference' must be text."),
    ('{"prompt": "a ___ b", "mode": "infill", "question": 7}\n', "prompts.jsonl",
     "line 1: 'question' must be non-empty text"),
    ('{"prompt": "a ___ b", "mode": "infill", "question": " "}\n', "prompts.jsonl",
     "line 1: 'question' must be non-empty text"),
    ('{"prompt": "a", "question": "q"}\n', "prompts.jsonl", "line 1: 'question' is for \"mode\": \"infill\" rows"),
    (b"\xff\xfe bad", "prompts.txt", "not UTF-8 text"),
    ("a,b\n", "prompts.csv", "a prompt file is .txt (one prompt a line) or .jsonl"),
]


@pytest.mark.parametrize("text,name,expected", PROMPT_FILES)
def test_malformed_prompt_file(tmp_path, capsys, text, name, expected):
    code, err = run(tmp_path, capsys, prompts=text, prompts_name=name)
    assert code == 2
    line = one_line(err)
    assert expected in line, line


@pytest.mark.parametrize("extra,expected", [
    (("--seeds", "1,x"), "--seeds: Seed must be a whole number"),
    (("--seeds", "1,1"), "--seeds: a seed is listed twice"),
    (("--seeds", ","), "--seeds: give one or more seeds"),
    (("--reference", "c"), "--reference 'c' is not a grid entry (entries: a, b)"),
    (("--batch-size", "0"), "--batch-size must be a whole number from 1 to 4096"),
])
def test_bad_flags(tmp_path, capsys, extra, expected):
    code, err = run(tmp_path, capsys, extra=extra)
    assert code == 2 and expected in one_line(err)


def test_good_infill_rows_reach_the_model(tmp_path, capsys):
    """The control case for the infill rows above: every shape of a good row passes the checks."""
    rows = [{"prompt": "Damlaya damlaya ___ olur.", "mode": "infill", "reference": "göl"},
            {"prompt": "Bir ___ iki ___{2} üç \\___.", "mode": "infill", "reference": ["ve", "ile"],
             "question": "Say?"},
            {"prompt": "Merhaba", "mode": "generate", "reference": "Selam"}]
    code, err = run(tmp_path, capsys, prompts="".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    prompts_name="prompts.jsonl")
    assert code == 2 and "Could not load '/nonexistent/model'" in one_line(err)


def test_missing_files(tmp_path, capsys):
    code = main(["sweep", "--model", NO_MODEL, "--prompts", str(tmp_path / "no.txt"), "--grid",
                 str(tmp_path / "no.json"), "--out", str(tmp_path / "o")])
    assert code == 2 and "no such grid file" in one_line(capsys.readouterr().err)


def test_good_inputs_reach_the_model(tmp_path, capsys):
    """The control case: with good files the failure is the (missing) model's, so the checks above
    really ran first."""
    code, err = run(tmp_path, capsys)
    assert code == 2 and "Could not load '/nonexistent/model'" in one_line(err)


def test_another_sweep_in_the_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"model": NO_MODEL, "grid": {}, "prompts_sha256": "x",
                                                   "seeds": [0], "reference": "a", "raw": False}))
    code, err = run(tmp_path, capsys)
    assert code == 2 and "holds another sweep (different grid, prompt file)" in one_line(err)
    code, err = run(tmp_path, capsys, extra=("--force",))  # forced: past the check, on to the model
    assert code == 2 and "Could not load" in one_line(err)
    (out / "manifest.json").unlink()
    (out / "runs.jsonl").write_text("")
    code, err = run(tmp_path, capsys)
    assert code == 2 and "holds a runs.jsonl but no manifest.json" in one_line(err)


def test_a_sweep_with_the_other_seed_choice_is_refused(tmp_path, capsys):
    """--compare-seeds is part of the sweep's identity; a manifest from before the flag means without it."""
    from diffutron_demo.cli import build_parser
    from diffutron_demo.sweep.command import check_inputs

    run(tmp_path, capsys)  # writes the input files
    out = tmp_path / "out"
    args = build_parser().parse_args(["sweep", "--model", NO_MODEL, "--prompts", str(tmp_path / "prompts.txt"),
                                      "--grid", str(tmp_path / "grid.json"), "--out", str(out)])
    wanted = check_inputs(args).wanted
    assert wanted["compare_seeds"] is False
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps(wanted))
    code, err = run(tmp_path, capsys, extra=("--compare-seeds",))
    assert code == 2 and "holds another sweep (different --compare-seeds)" in one_line(err)
    code, err = run(tmp_path, capsys, extra=("--compare-seeds", "--force"))
    assert code == 2 and "Could not load" in one_line(err)
    code, err = run(tmp_path, capsys)  # the same choice: resumed, on to the model
    assert code == 2 and "Could not load" in one_line(err)
    del wanted["compare_seeds"]  # a manifest written before the flag existed
    (out / "manifest.json").write_text(json.dumps(wanted))
    code, err = run(tmp_path, capsys)
    assert code == 2 and "Could not load" in one_line(err)
    code, err = run(tmp_path, capsys, extra=("--compare-seeds",))
    assert code == 2 and "different --compare-seeds" in one_line(err)


def test_vary_expands_to_the_product_with_readable_names(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"base": {"temperature": 0}, "vary": {"steps": [16, 32], "block_length": [8, 32]}}))
    grid = load_grid(path)
    assert list(grid) == ["steps=16,block_length=8", "steps=16,block_length=32", "steps=32,block_length=8",
                          "steps=32,block_length=32"]
    assert grid["steps=32,block_length=8"].steps == 32 and grid["steps=32,block_length=8"].temperature == 0


def test_yaml_grid(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("card: {}\nfast:\n  remasking: threshold\n  threshold: 0.8\n")
    grid = load_grid(path)
    assert list(grid) == ["card", "fast"] and grid["fast"].threshold == 0.8


def test_prompt_ids_and_hash(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("bir\n\n  iki  \n")
    items, sha = load_prompts(txt)
    assert [(i.id, i.text) for i in items] == [("p1", "bir"), ("p2", "iki")] and len(sha) == 64
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a", "id": 7, "reference": "r"}\n{"prompt": "b"}\n')
    items, _ = load_prompts(jsonl)
    assert [(i.id, i.reference) for i in items] == [("7", "r"), ("p2", None)]


def test_infill_references_are_read_per_blank(tmp_path):
    """A list is one reference per blank; a text that reads as the filled prompt gives each blank's part;
    a one-blank prompt's other text is the blank's fill; else the text is the whole filled text only."""
    rows = [
        {"prompt": "Damlaya damlaya ___ olur.", "mode": "infill", "reference": "göl", "id": "bare"},
        {"prompt": "Damlaya damlaya ___ olur.", "mode": "infill", "reference": " Damlaya  damlaya Göl olur. ",
         "id": "whole"},
        {"prompt": "Bir ___ iki ___{2} üç \\___.", "mode": "infill", "reference": ["ve", "ile"], "id": "list",
         "question": " Say? "},
        {"prompt": "Bir ___ iki ___ üç.", "mode": "infill", "reference": "Bir ve iki ile üç.", "id": "parts"},
        {"prompt": "Bir ___ iki ___ üç.", "mode": "infill", "reference": "bambaşka bir metin", "id": "other"},
        {"prompt": "Bir ___{2}___{3} üç.", "mode": "infill", "reference": "Bir ve ile üç.", "id": "touching"},
        {"prompt": "Bir ___ üç.", "mode": "infill", "id": "none"},
        {"prompt": "Merhaba", "reference": "Selam", "id": "gen"},
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    items = {i.id: i for i in load_prompts(path)[0]}
    got = {k: (i.mode, i.reference, i.blank_references) for k, i in items.items()}
    assert got == {
        "bare": ("infill", None, ("göl",)),
        "whole": ("infill", " Damlaya  damlaya Göl olur. ", ("Göl",)),
        "list": ("infill", None, ("ve", "ile")),
        "parts": ("infill", "Bir ve iki ile üç.", ("ve", "ile")),
        "other": ("infill", "bambaşka bir metin", None),
        "touching": ("infill", "Bir ve ile üç.", None),
        "none": ("infill", None, None),
        "gen": ("generate", "Selam", None),
    }
    assert items["list"].question == " Say? " and items["bare"].question is None and items["gen"].question is None


def test_stream_seed_depends_on_the_triple_only():
    base = stream_seed("p1", "card", 0)
    assert base == stream_seed("p1", "card", 0)
    assert len({base, stream_seed("p2", "card", 0), stream_seed("p1", "fast", 0), stream_seed("p1", "card", 1),
                stream_seed("p1,card", "", 0)}) == 5
    assert 0 <= base < 2**63


def test_the_sweep_files_readers_import_no_torch():
    """The app's Sweep tab and the input checks read a sweep with no torch (the house rule for record/,
    render/ and sweep's non-model parts); the runner is the part that loads the model."""
    import subprocess
    import sys

    from tests.helpers_sweep import ROOT, env

    code = ("import sys; import diffutron_demo.cli; from diffutron_demo.sweep import command, figures, finish, grid, "
            "load, manifest, plots, prompts, report, runsfile, seeds, summary; "
            "print(sorted(m for m in ('torch', 'accelerate', 'gradio') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
