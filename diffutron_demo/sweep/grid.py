"""The grid file: named settings, or a base with fields to vary (expanded to their product).

Every entry goes through `SamplerSettings.from_dict`, so a bad value gets the same sentence as
in the UI and the CLI, prefixed with the entry and the field.
"""

from __future__ import annotations

import itertools
import json
import shlex
from pathlib import Path

from ..settings import SamplerSettings, SettingsError

MAX_ENTRIES = 1000  # a typo in `vary` should not plan a million runs
MAX_NAME = 80


class SweepInputError(ValueError):
    """A grid, prompt file, seed list or output folder that can't be used; the message is one line."""


def load_grid(path: str | Path) -> dict[str, SamplerSettings]:
    """{entry name: validated settings}, in the file's order; raises SweepInputError."""
    path = Path(path)
    data = _read(path)
    where = path.name
    if not isinstance(data, dict) or not data:
        raise SweepInputError(f"{where}: the grid must be a non-empty object of named settings, "
                              "or {\"base\": {...}, \"vary\": {field: [values]}}.")
    if "vary" in data and set(data) <= {"base", "vary"}:
        return _expand(where, data.get("base", {}), data["vary"])
    if "base" in data and set(data) <= {"base", "vary"}:
        raise SweepInputError(f"{where}: a grid with 'base' needs 'vary' (the fields to vary over).")
    return {name: _entry(where, name, values) for name, values in _named(where, data)}


def _read(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepInputError(f"{path}: no such grid file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepInputError(f"{path}: can't read the grid file ({type(exc).__name__}).") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # PyYAML comes with accelerate

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1})" if mark else ""
            raise SweepInputError(f"{path.name}: not valid YAML{at}.") from None
    if path.suffix.lower() != ".json":
        raise SweepInputError(f"{path.name}: a grid file is .json, .yaml or .yml.")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise SweepInputError(f"{path.name}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") \
            from None
    except SweepInputError as exc:
        raise SweepInputError(f"{path.name}: {exc}") from None


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise SweepInputError(f"'{key}' appears twice")
        seen[key] = value
    return seen


def _named(where: str, data: dict):
    for name, values in data.items():
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise SweepInputError(f"{where}: entry names must be text of 1 to {MAX_NAME} characters "
                                  f"(got {str(name)[:40]!r}).")
        if not isinstance(values, dict):
            raise SweepInputError(f"{where}: entry '{name}' must be an object of settings, like "
                                  "{\"steps\": 32}.")
        yield name, values


def _entry(where: str, name: str, values: dict) -> SamplerSettings:
    try:
        return SamplerSettings.from_dict(values)
    except SettingsError as exc:
        raise SweepInputError(f"{where}: entry '{name}', field '{exc.field}': {exc.message}") from None


def _expand(where: str, base, vary) -> dict[str, SamplerSettings]:
    if not isinstance(base, dict):
        raise SweepInputError(f"{where}: 'base' must be an object of settings.")
    if not isinstance(vary, dict) or not vary:
        raise SweepInputError(f"{where}: 'vary' must be a non-empty object of field: [values].")
    _entry(where, "base", base)
    for field, values in vary.items():
        if not isinstance(values, list) or not values:
            raise SweepInputError(f"{where}: vary field '{field}' must be a non-empty list of values.")
        if len(set(map(json.dumps, values))) != len(values):
            raise SweepInputError(f"{where}: vary field '{field}' lists a value twice.")
        _entry(where, f"vary {field}", {**base, field: values[0]})  # an unknown field is named here
    count = 1
    for values in vary.values():
        count *= len(values)
    if count > MAX_ENTRIES:
        raise SweepInputError(f"{where}: 'vary' expands to {count} settings; at most {MAX_ENTRIES}.")
    grid = {}
    for combo in itertools.product(*vary.values()):
        changes = dict(zip(vary, combo))
        name = ",".join(f"{k}={_show(v)}" for k, v in changes.items())
        grid[name] = _entry(where, name, {**base, **changes})
    return grid


def _show(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def grid_dict(grid: dict[str, SamplerSettings]) -> dict[str, dict]:
    """The grid as plain data, every field explicit (what the manifest stores and a grid file can hold)."""
    return {name: settings.to_dict() for name, settings in grid.items()}


def grid_file_text(named: dict[str, SamplerSettings]) -> str:
    """A grid file holding these settings (every field explicit), the first one the reference."""
    return json.dumps(grid_dict(named), indent=2, ensure_ascii=False) + "\n"


def sweep_command(model: str, grid: str, prompts: str, seed: int, out: str = "sweep-out") -> str:
    """The command that sweeps a grid file over a prompt file, quoted for a POSIX shell, with every
    setting of a prompt given the seed itself (--compare-seeds), as Compare runs it."""
    parts = ["python", "-m", "diffutron_demo", "sweep", "--model", model, "--grid", grid, "--prompts", prompts,
             "--seeds", str(seed), "--compare-seeds", "--out", out]
    return " ".join(shlex.quote(p) for p in parts)


def pick_reference(grid: dict[str, SamplerSettings], name: str | None) -> str:
    if name is None:
        return next(iter(grid))
    if name not in grid:
        shown = ", ".join(list(grid)[:8]) + (", ..." if len(grid) > 8 else "")
        raise SweepInputError(f"--reference '{name}' is not a grid entry (entries: {shown}).")
    return name
