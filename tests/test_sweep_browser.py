"""A sweep's texts in a real browser (headless Chromium): a prompt and a setting name with markup
stay text in report.html and in the app's Sweep tab, whose viewer opens a kept trajectory in the
player; "Sweep this" in Compare gives a grid file that the sweep reads back as the same settings, and a
shell-quoted command with --compare-seeds. Screenshots: artifacts/screenshots/sweep-*.png."""

from __future__ import annotations

import json
import re
import shlex
import zipfile

import pytest

from diffutron_demo.app.ui.compare import COLUMN_KNOBS
from diffutron_demo.cli import main
from diffutron_demo.settings import PRESETS, SamplerSettings
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.sweep.grid import grid_file_text, load_grid, sweep_command
from diffutron_demo.sweep.load import load_files
from tests.helpers_app import open_page, running_app, shot
from tests.helpers_sweep import MARKUP, write_inputs
from tests.test_escaping_browser import assert_nothing_was_created

BOLD = '<b onmouseover="window.__pwned=4">bold</b>'  # a setting's name
GRID = {BOLD: {"steps": 4, "max_new_tokens": 6, "block_length": 6, "temperature": 0},
        "plain": {"steps": 6, "max_new_tokens": 6, "block_length": 3, "temperature": 0.5}}


@pytest.fixture(scope="module")
def sweep_dir(tiny_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep-browser")
    prompts, grid = write_inputs(folder, [{"prompt": MARKUP, "id": "markup"},
                                          {"prompt": "Merhaba", "reference": "Merhaba!"}], GRID)
    out = folder / "out"
    assert main(["sweep", "--model", str(tiny_checkpoint), "--prompts", str(prompts), "--grid", str(grid),
                 "--out", str(out), "--keep-trajectories"]) == 0
    return out


@pytest.fixture(scope="module")
def sweep_zip(sweep_dir):
    path = sweep_dir.parent / "sweep.zip"
    with zipfile.ZipFile(path, "w") as z:
        for f in sweep_dir.rglob("*"):
            if f.is_file():
                z.write(f, f"out/{f.relative_to(sweep_dir)}")
    return path


def test_report_keeps_markup_as_text(browser, sweep_dir):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(sweep_dir.joinpath("report.html").as_uri())
    page.locator(".js-plotly-plot").first.wait_for()
    text = page.evaluate("() => document.body.innerText")
    assert MARKUP in text and BOLD in text, "the prompt and the setting's name are shown as typed"
    assert page.locator(".js-plotly-plot").count() == 3  # NFE and time against agreement, NFE against chrF
    labels = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot text')].map(t => t.textContent)")
    assert any(BOLD in label for label in labels), "the point's label shows the name as text"
    assert page.evaluate("() => document.querySelectorAll('script[src]').length") == 0, "nothing loads from outside"
    plot = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    page.mouse.move(plot["x"] + plot["width"] / 2, plot["y"] + plot["height"] / 2)  # a planted handler would fire
    assert_report_clean(page)
    shot(page, "sweep-report.png")
    page.close()


def assert_report_clean(page) -> None:
    """The report's plot data sits in inline scripts as JSON strings (plotly writes < as \\u003c), so the
    shared check's "no script mentions __pwned" can't hold here; this checks what would show an injection."""
    assert page.evaluate("typeof window.__pwned") == "undefined"
    found = page.evaluate("""() => ({
      handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].filter(a => /^on/i.test(a.name))
                                                                      .map(a => e.tagName + ' ' + a.name)),
      planted: [...document.querySelectorAll('img[src="x"], b')].filter(e => e.tagName === 'IMG'
                 || e.textContent === 'bold').length,
      raw: [...document.scripts].filter(s => /<(img|b) /.test(s.textContent)).length})""")
    assert found == {"handlers": [], "planted": 0, "raw": 0}, found


@pytest.fixture(scope="module")
def app(tiny_checkpoint):
    with running_app(tiny_checkpoint) as (_, url):
        yield url


def kept_trajectory(sweep_dir, setting: str, prompt_id: str) -> tuple[str, Trajectory]:
    """The file name and the run a sweep kept for one setting and prompt (seed 0)."""
    rows = [json.loads(line) for line in (sweep_dir / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    row = next(r for r in rows if r["setting"] == setting and r["prompt_id"] == prompt_id and r["seed"] == 0)
    return row["trajectory"], Trajectory.load(sweep_dir / row["trajectory"])


def test_sweep_tab_shows_the_zip_as_text_and_opens_a_trajectory(browser, app, sweep_dir, sweep_zip):
    page = open_page(browser, app)
    page.get_by_role("tab", name="Sweep").click()
    upload = page.locator('input[type="file"][accept*=".zip"]')
    upload.wait_for(state="attached")
    assert upload.count() == 1, "the Sweep tab's upload takes a zip"
    upload.set_input_files(str(sweep_zip))
    page.get_by_text(re.compile(r"4 runs, 2 settings, 2 prompts, 4 trajectories")).wait_for(timeout=60_000)
    page.locator(".dd-sweep-answers").first.wait_for()
    answers = page.locator(".dd-sweep-answers-panel").last.inner_text()
    assert MARKUP in answers and BOLD in answers
    assert page.locator(".dd-sweep-table").inner_text().count("bold") == 1
    assert_nothing_was_created(page, "Sweep tab")
    # The first prompt is the one with markup; its run under the setting whose name is markup.
    name, traj = kept_trajectory(sweep_dir, BOLD, "markup")
    box = page.get_by_label("open a kept trajectory in the viewer", exact=True)
    box.click()
    page.locator("ul[role=listbox] [role=option]", has_text=f"{BOLD} · seed 0").click()
    page.get_by_text(re.compile(r"Loaded: \d+ steps")).wait_for(timeout=60_000)
    player = "document.querySelector('#player-sweep [data-ddp]')"
    page.wait_for_function(f"{player}.dataset.state === 'done'")
    assert page.text_content("#player-sweep .ddp-label") == \
        f"Replay of {name}: {len(traj.steps)} steps, {traj.model['name']}"
    assert page.evaluate(f"Number({player}.dataset.steps)") == len(traj.steps)
    tokens = page.evaluate(f"() => [...{player}.querySelectorAll('.ddp-tokens .ddp-tok:not(.ddp-folded)')]"
                           ".map(t => Number(t.dataset.pos))")
    assert set(tokens) <= set(traj.slots) and tokens, "the canvas shows the kept run's answer positions"
    hover = page.evaluate(f"{player}.__ddpApi.cellText({len(traj.steps)}, 0)")
    assert hover[0].startswith(f"step {len(traj.steps)}, answer position 0"), hover
    assert_nothing_was_created(page, "Sweep tab, trajectory opened")
    shot(page, "sweep-tab.png")
    page.context.close()


def test_sweep_this_in_compare_downloads_the_columns_as_a_grid(browser, app, tmp_path):
    page = open_page(browser, app)
    page.get_by_role("tab", name="Compare").click()
    seed = page.get_by_label("seed", exact=True).filter(visible=True)
    seed.fill("7")
    page.get_by_role("button", name="Sweep this").click()
    page.get_by_text(re.compile(r"Grid of 2 settings")).wait_for(timeout=60_000)
    link = page.locator('a[href*="grid.json"]').first
    link.wait_for(state="attached")
    response = page.request.get(link.get_attribute("href"))
    assert response.ok
    path = tmp_path / "grid.json"
    path.write_bytes(response.body())
    grid = load_grid(path)
    assert grid == {"column 1: dllm (model card)": PRESETS["dllm (model card)"],
                    "column 2: fast: threshold 0.9": PRESETS["fast: threshold 0.9"]}
    # The printed command: quoted for a shell, every setting of a prompt given the seed itself.
    command = page.locator("code").filter(has_text="diffutron_demo sweep").first.inner_text().strip()
    assert command == sweep_command("tiny-a", "grid.json", "prompts.txt", 7), command
    assert shlex.split(command) == ["python", "-m", "diffutron_demo", "sweep", "--model", "tiny-a", "--grid",
                                    "grid.json", "--prompts", "prompts.txt", "--seeds", "7", "--compare-seeds",
                                    "--out", "sweep-out"]
    assert "--compare-seeds" in page.locator("body").inner_text()
    page.context.close()


def test_the_printed_sweep_command_is_quoted_for_a_shell():
    """A model folder or file name with spaces or quotes comes back as one argument each."""
    odd = "my models/tiny 'a'"
    command = sweep_command(odd, "grid file.json", "prompts; rm -rf ~.txt", 3, "out dir")
    assert shlex.split(command) == ["python", "-m", "diffutron_demo", "sweep", "--model", odd, "--grid",
                                    "grid file.json", "--prompts", "prompts; rm -rf ~.txt", "--seeds", "3",
                                    "--compare-seeds", "--out", "out dir"], command


def test_uploaded_rows_that_are_not_rows_are_dropped(tmp_path, sweep_dir):
    runs = (sweep_dir / "runs.jsonl").read_text()
    bad = json.loads(runs.splitlines()[0])
    bad.update({"prompt_id": "odd", "nfe": "many"})
    path = tmp_path / "runs.jsonl"
    path.write_text(runs + json.dumps(bad) + "\n" + '{"prompt_id": "half"')
    data = load_files([path])
    assert len(data.rows) == 4 and "odd" not in {r["prompt_id"] for r in data.rows}
    assert [s["setting"] for s in data.summary] == list(GRID)


def test_sweep_this_grid_reads_back_as_the_columns_settings(tmp_path):
    """The file "Sweep this" writes (grid_file_text of the ticked columns) is a grid the sweep accepts, with
    the same settings and the first column as the reference."""
    columns = {"column 1: greedy": PRESETS["greedy"],
               "column 2: fast: threshold 0.9": PRESETS["fast: threshold 0.9"].with_changes(steps=32)}
    path = tmp_path / "grid.json"
    path.write_text(grid_file_text(columns))
    grid = load_grid(path)
    assert grid == columns and next(iter(grid)) == "column 1: greedy"
    assert set(COLUMN_KNOBS) <= set(SamplerSettings().to_dict())
