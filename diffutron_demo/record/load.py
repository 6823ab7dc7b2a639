"""Reading a trajectory file: parse strictly, upgrade an older version, check every field, and hand
Trajectory (record/trajectory.py) its fields. The format's version and limits live here.

Each failure is a TrajectoryError naming the field and the problem (record/checks.py).
"""

from __future__ import annotations

import json

from .branch import Blank, Branch
from .checks import Checker, TrajectoryError
from .step import Step
from .upgrade import upgrade

# 2 added `branches`; 3 each candidate's score and rank and each step's rule; 4 infill (`mode`,
# `initial_ids`, `blanks`, redo branches) and each draft's entropy, margin and rest.
SCHEMA_VERSION = 4
MAX_FILE_BYTES = 20 * 1024 * 1024  # generous for 1024 steps x 1024 positions; uploads stay bounded
GENERATE, INFILL = "generate", "infill"  # a run after a prompt; blanks anywhere in a text
MODES = (GENERATE, INFILL)
BRANCH_KINDS = ("what_if", "redo")
KNOWN_FIELDS = {"schema_version", "model", "settings", "seed", "prompt", "prompt_ids", "special_ids", "final_ids",
                "reply", "stop_reason", "wall_ms", "pieces", "steps", "branches", "mode", "initial_ids", "blanks"}


def parse(text: str | bytes):
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise TrajectoryError(f"The file is {len(text) // 1_000_000} MB; trajectories are limited to {MAX_FILE_BYTES // 1_000_000} MB.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TrajectoryError(f"The file is not UTF-8 text (byte {exc.start}): is it a trajectory JSON?") from None
    elif len(text) > MAX_FILE_BYTES:
        raise TrajectoryError(f"The file is larger than {MAX_FILE_BYTES // 1_000_000} MB.")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        # An unterminated string reports where the string began; any other error at the end means truncation.
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        where = "the file ends early (truncated?)" if truncated else f"line {exc.lineno}, column {exc.colno}"
        raise TrajectoryError(f"The file is not valid JSON: {exc.msg} ({where}).") from None
    except RecursionError:
        raise TrajectoryError("The file nests JSON too deeply to be a trajectory.") from None
    except TrajectoryError:  # from _reject_constant (a ValueError too)
        raise
    except ValueError:  # an integer literal past Python's 4300-digit conversion limit
        raise TrajectoryError("The file holds a number far too long to be a trajectory's.") from None


def build(data) -> dict:
    """The checked fields of a trajectory file, as Trajectory takes them."""
    v = Checker()
    v.require(isinstance(data, dict), "top level", "must be a JSON object")
    version = data.get("schema_version")
    v.require(version is not None, "schema_version", "is missing")
    v.require(isinstance(version, int) and not isinstance(version, bool), "schema_version", "must be a whole number")
    if version > SCHEMA_VERSION:
        raise TrajectoryError(
            f"schema_version {version} is newer than this version of diffutron-demo reads ({SCHEMA_VERSION}): update it."
        )
    v.require(version >= 1, "schema_version", f"must be at least 1 (got {version})")
    upgrade(data, version)
    model = v.obj(data, "model", {"name": str, "device": str, "dtype": str, "context_window": int})
    settings = v.field(data, "settings", dict)
    v.settings(settings, "settings")
    v.field(data, "seed", int)
    v.field(v.field(data, "prompt", dict), "text", str, "prompt.text")
    special = v.obj(data, "special_ids", {"mask": int, "pad": int, "eos": int})
    pieces = _pieces(v, v.field(data, "pieces", dict))
    prompt_ids = v.ids(data, "prompt_ids", pieces)
    final_ids = v.ids(data, "final_ids", pieces)
    mode = v.field(data, "mode", str)
    v.require(mode in MODES, "mode", f"must be one of {', '.join(MODES)} (got '{mode[:20]}')")
    initial_ids = v.ids(data, "initial_ids", pieces, also=special["mask"])
    v.require(len(prompt_ids) >= 1 or mode == INFILL, "prompt_ids", "is empty")
    v.require(len(initial_ids) == len(final_ids) >= len(prompt_ids), "initial_ids",
              "must be as long as final_ids, and not shorter than prompt_ids")
    v.require(initial_ids[: len(prompt_ids)] == prompt_ids, "initial_ids", "does not start with prompt_ids")
    v.require(final_ids[: len(prompt_ids)] == prompt_ids, "final_ids", "does not start with prompt_ids")
    blanks = _blanks(v, v.field(data, "blanks", list), "blanks", initial_ids, special["mask"], pieces)
    v.require(sum(b.end - b.start for b in blanks) == initial_ids.count(special["mask"]), "blanks",
              "must cover every mask of initial_ids")
    steps = v.field(data, "steps", list)
    for i, record in enumerate(steps):
        v.step(record, i, len(final_ids), pieces, edits_from=len(prompt_ids))
    branches = v.field(data, "branches", list) if version >= 2 else []
    lengths: list[int] = []  # each branch's steps as a whole run, for a branch of it
    for j, b in enumerate(branches):
        lengths.append(_check_branch(v, b, f"branches[{j}]", lengths, len(steps), prompt_ids, final_ids, pieces))
    return dict(
        model=model, settings=settings, seed=data["seed"], prompt=data["prompt"], prompt_ids=prompt_ids,
        special_ids=special, final_ids=final_ids, reply=v.field(data, "reply", str),
        stop_reason=v.field(data, "stop_reason", str), wall_ms=v.number(data, "wall_ms"), pieces=pieces,
        steps=[Step.from_dict(s) for s in steps],
        schema_version=SCHEMA_VERSION,  # an old file is upgraded on load; saving writes the new version
        branches=[_branch(b) for b in branches],
        extra={k: val for k, val in data.items() if k not in KNOWN_FIELDS},
        mode=mode, initial_ids=initial_ids, blanks=blanks,
    )


def _branch(b: dict) -> Branch:
    return Branch(from_step=b["from_step"], settings=b["settings"], seed=b["seed"], pins=b["pins"],
                  final_ids=b["final_ids"], reply=b["reply"], stop_reason=b["stop_reason"], wall_ms=b["wall_ms"],
                  steps=[Step.from_dict(s) for s in b["steps"]], kind=b["kind"],
                  blanks=[Blank(x["start"], x["end"], x["was"]) for x in b["blanks"]], parent=b["parent"])


def _blanks(v: Checker, raw: list, at: str, canvas: list[int], mask_id: int, pieces: dict,
            redo: bool = False) -> list[Blank]:
    """Blanks are spans of the canvas in order; a run's hold masks at the start, a redo's say what was there."""
    out, end = [], 0
    for k, b in enumerate(raw):
        w = f"{at}[{k}]"
        v.require(isinstance(b, dict), w, "must be an object")
        start, stop = v.field(b, "start", int, f"{w}.start"), v.field(b, "end", int, f"{w}.end")
        v.require(end <= start < stop <= len(canvas), w, "must be a span [start, end) of the canvas after the last one")
        was = b.get("was")
        if redo:
            was = v.ids(b, "was", pieces, f"{w}.was")
            v.require(len(was) == stop - start, f"{w}.was", "must hold one id per position")
        else:
            v.require(was is None and all(t == mask_id for t in canvas[start:stop]), w, "must cover masks only")
        out.append(Blank(start, stop, was))
        end = stop
    return out


def _pieces(v: Checker, raw: dict) -> dict[int, str]:
    pieces = {}
    for key, text in raw.items():
        v.require(key.isascii() and key.isdigit() and len(key) <= 18, f"pieces['{key[:20]}']", "keys must be token ids")
        v.require(isinstance(text, str), f"pieces['{key}']", "must be text")
        pieces[int(key)] = text
    return pieces


def _check_branch(v: Checker, b, at: str, earlier: list[int], n_steps: int, prompt_ids: list, final_ids: list,
                  pieces: dict) -> int:
    """Checks branch `b` (its base: the main run, or an earlier branch); returns its length as a whole run."""
    v.require(isinstance(b, dict), at, "must be an object")
    parent = b.get("parent")
    v.require(parent is None or isinstance(parent, int) and not isinstance(parent, bool)
              and 0 <= parent < len(earlier), f"{at}.parent", "must be null or the index of an earlier branch")
    kind = v.field(b, "kind", str, f"{at}.kind")
    v.require(kind in BRANCH_KINDS, f"{at}.kind", f"must be one of {', '.join(BRANCH_KINDS)}")
    split = v.field(b, "from_step", int, f"{at}.from_step")
    base = n_steps if parent is None else earlier[parent]
    v.require(0 <= split <= base, f"{at}.from_step", f"is {split}, outside 0..{base}")
    v.settings(v.field(b, "settings", dict, f"{at}.settings"), f"{at}.settings")
    v.field(b, "seed", int, f"{at}.seed")
    v.field(b, "reply", str, f"{at}.reply")
    v.field(b, "stop_reason", str, f"{at}.stop_reason")
    v.number(b, "wall_ms", f"{at}.wall_ms")
    T = len(final_ids)
    for k, pin in enumerate(v.field(b, "pins", list, f"{at}.pins")):
        v.require(isinstance(pin, dict), f"{at}.pins[{k}]", "must be an object")
        v.pos(pin.get("pos"), f"{at}.pins[{k}].pos", T - len(prompt_ids))
        v.token(pin.get("token"), f"{at}.pins[{k}].token", pieces)
    b_final = v.ids(b, "final_ids", pieces, f"{at}.final_ids")
    v.require(len(b_final) == T and b_final[: len(prompt_ids)] == prompt_ids, f"{at}.final_ids",
              "must be the same canvas length and prompt as final_ids")
    _blanks(v, v.field(b, "blanks", list, f"{at}.blanks"), f"{at}.blanks", b_final, -1, pieces, redo=kind == "redo")
    steps = v.field(b, "steps", list, f"{at}.steps")
    for i, record in enumerate(steps):
        v.step(record, i, T, pieces, first=split, where=f"{at}.steps[{i}]", edits_from=len(prompt_ids))
    return split + len(steps)


def _reject_constant(name: str):
    raise TrajectoryError(f"The file holds {name}, which is not valid JSON (numbers must be finite).")
