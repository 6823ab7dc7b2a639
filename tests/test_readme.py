"""The README's two commands are the ones that work: CI runs the README's test command verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The indented command lines under the README's "Install and run" paragraphs."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^Install and run [^\n]*:\n\n    (.+)$", text, flags=re.M)


def test_the_readme_gives_the_app_and_the_test_command():
    commands = readme_commands()
    assert len(commands) == 2, commands
    assert commands[0].endswith("python app.py") and commands[1].endswith("python -m pytest -q"), commands


def test_ci_runs_the_readme_test_command_word_for_word():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert readme_commands()[1] in ci_lines


def test_the_test_command_brings_the_browser():
    assert "bash scripts/install-browser.sh" in readme_commands()[1]
    script = (ROOT / "scripts" / "install-browser.sh").read_text(encoding="utf-8")
    assert "apt-get install" in script and "/usr/bin/chromium" in script


def _fake_bin(tmp_path, **scripts) -> str:
    """A PATH whose first folder holds fake `id`, `sudo` and `apt-get`, so the script's choices show."""
    import stat

    folder = tmp_path / "bin"
    folder.mkdir()
    for name, body in scripts.items():
        path = folder / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return f"{folder}:/usr/bin:/bin"


def _install(tmp_path, path: str):
    import subprocess

    env = {"PATH": path, "CHROMIUM": str(tmp_path / "no-chromium"), "HOME": str(tmp_path)}
    return subprocess.run(["bash", str(ROOT / "scripts" / "install-browser.sh")], env=env, capture_output=True,
                          text=True, timeout=30)


def test_without_root_the_script_says_in_one_line_what_to_do(tmp_path):
    done = _install(tmp_path, _fake_bin(tmp_path, id="echo 1000", sudo="exit 1", **{"apt-get": "exit 99"}))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "needs root" in done.stderr, done.stderr
    assert "not browser" in done.stderr


def test_as_root_the_script_installs_debians_chromium(tmp_path):
    log = tmp_path / "apt.log"
    done = _install(tmp_path, _fake_bin(tmp_path, id="echo 0", sudo="exit 1",
                                        **{"apt-get": f'echo "$@" >> {log}'}))
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]
