"""Saving and loading trajectories: exact round trips, and malformed files refused with a
TrajectoryError whose message says which field (or what about the file) is wrong."""

import copy
import json

import pytest

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import generate
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import MAX_FILE_BYTES, SCHEMA_VERSION, Trajectory, TrajectoryError
from tests.helpers_schema import refused


@pytest.fixture(scope="module")
def traj(tiny_checkpoints):
    # The stop-prone checkpoint, so the file holds forced edits as well as commits.
    lm = load_model(str(tiny_checkpoints[2]), device="cpu")
    ids = build_prompt(lm.tokenizer, "Merhaba! Nasılsın?", max_new_tokens=16, context_window=256).ids
    t = generate(lm, ids, SamplerSettings(steps=8, max_new_tokens=16, block_length=8, temperature=0.5), seed=2)
    assert any(st.forced for st in t.steps) and len(t.steps) >= 2
    return t


@pytest.fixture
def data(traj):
    return copy.deepcopy(traj.to_dict())


# ------------------------------------------------------------------ round trip


def test_save_load_round_trip_is_exact(traj, tmp_path):
    path = traj.save(tmp_path / "run.json")
    loaded = Trajectory.load(path)
    assert loaded.to_dict() == traj.to_dict()
    assert loaded.to_json() == traj.to_json() == path.read_text(encoding="utf-8")
    # What the pictures use survives too.
    assert loaded.canvas_at(len(loaded.steps)) == traj.final_ids
    assert all(loaded.canvas_at(s) == traj.canvas_at(s) for s in range(len(traj.steps) + 1))
    assert loaded.pieces == traj.pieces and all(isinstance(k, int) for k in loaded.pieces)


def test_round_trip_keeps_unknown_top_level_fields(data):
    data["note"] = {"by": "a newer minor version"}
    loaded = Trajectory.from_dict(data)
    assert loaded.to_dict()["note"] == {"by": "a newer minor version"}
    assert json.loads(loaded.to_json()) == data


def test_json_is_plain_and_strict(traj):
    text = traj.to_json()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION


# ------------------------------------------------------------------ malformed files


def test_invalid_json():
    refused("{not json", "not valid JSON")
    refused("", "not valid JSON")


@pytest.mark.parametrize("fraction", [0.5, 0.25, 0.75, 0.99])
def test_truncated_file_is_refused(traj, fraction):
    text = traj.to_json()
    refused(text[: int(len(text) * fraction)], "not valid JSON")
    refused(text.encode("utf-8")[: int(len(text) * fraction)], "not")  # bytes, maybe mid-character


def _cut(text: str, kind: str) -> str:
    mid = len(text) // 2
    if kind == "after_a_comma":
        return text[: text.index(", ", mid) + 1]
    if kind == "inside_a_number":
        return text[: text.index('"conf": 0.', mid) + len('"conf": 0.1')]
    if kind == "inside_a_key":
        return text[: text.index('"pos"', mid) + 3]  # ... "po
    if kind == "inside_a_piece":
        return text[: text.index('"pieces": {"') + len('"pieces": {"') + 1]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["after_a_comma", "inside_a_number", "inside_a_key", "inside_a_piece"])
def test_truncated_file_is_called_truncated(traj, kind):
    # The loader means to say "it ends early (truncated?)". Cut inside a string, json reports
    # "Unterminated string starting at ..." at the opening quote, not at the end of the text,
    # and the file must still be reported as truncated.
    refused(_cut(traj.to_json(), kind), "not valid JSON", "truncated")


@pytest.mark.parametrize("payload", ["[]", "3", '"text"', "null"])
def test_wrong_top_level_type(payload):
    refused(payload, "top level", "object")


def test_missing_steps(data):
    del data["steps"]
    refused(data, "steps", "missing")
    refused(json.dumps(data), "steps", "missing")


def test_schema_version_missing(data):
    del data["schema_version"]
    refused(data, "schema_version", "missing")


@pytest.mark.parametrize("value", ["1", 1.0, True, None, [1]])
def test_schema_version_not_a_whole_number(data, value):
    data["schema_version"] = value
    refused(data, "schema_version")


def test_schema_version_from_the_future(data):
    data["schema_version"] = 99
    message = refused(data, "schema_version", "99", "newer")
    assert "update" in message


def test_schema_version_zero(data):
    data["schema_version"] = 0
    refused(data, "schema_version")


def test_token_not_in_pieces(data):
    data["final_ids"][-1] = 99999
    refused(data, f"final_ids[{len(data['final_ids']) - 1}]", "99999", "pieces")


def test_candidate_token_not_in_pieces(data):
    data["steps"][0]["candidates"][0]["token"] = 99999
    refused(data, "steps[0].candidates[0].token", "pieces")


def test_pieces_key_not_a_token_id(data):
    data["pieces"]["abc"] = "x"
    refused(data, "pieces", "abc")


def test_pieces_key_with_a_unicode_digit(data):
    # "²".isdigit() is True but int("²") raises: that must still be a TrajectoryError.
    data["pieces"]["²"] = "x"
    refused(data, "pieces")


def test_candidate_pos_out_of_range(data):
    T = len(data["final_ids"])
    data["steps"][1]["candidates"][0]["pos"] = T
    refused(data, "steps[1].candidates[0].pos", str(T), "outside")
    data["steps"][1]["candidates"][0]["pos"] = -1
    refused(data, "steps[1].candidates[0].pos", "outside")


def test_committed_pos_out_of_range(data):
    data["steps"][0]["committed"] = [len(data["final_ids"]) + 5]
    refused(data, "steps[0].committed[0]")


def test_forced_pos_out_of_range(data):
    step = next(i for i, st in enumerate(data["steps"]) if st["forced"])
    data["steps"][step]["forced"][0]["pos"] = 10**6
    refused(data, f"steps[{step}].forced[0].pos")


def test_conf_not_a_probability(data):
    data["steps"][0]["candidates"][2]["conf"] = 2.0
    refused(data, "steps[0].candidates[2].conf", "2.0", "probability")
    data["steps"][0]["candidates"][2]["conf"] = -0.5
    refused(data, "steps[0].candidates[2].conf", "probability")
    data["steps"][0]["candidates"][2]["conf"] = "0.5"
    refused(data, "steps[0].candidates[2].conf")


def test_nan_literal(traj):
    text = traj.to_json()
    conf = traj.steps[0].candidates[0].conf
    needle = f'"conf": {json.dumps(conf)}'
    assert needle in text
    for literal in ("NaN", "Infinity", "-Infinity"):
        refused(text.replace(needle, f'"conf": {literal}', 1), literal)


def test_nan_value_in_a_dict_names_the_field(data):
    data["steps"][0]["candidates"][0]["conf"] = float("nan")
    refused(data, "steps[0].candidates[0].conf", "finite")
    data["wall_ms"] = float("inf")
    data["steps"][0]["candidates"][0]["conf"] = 0.5
    refused(data, "wall_ms", "finite")


def test_non_utf8_bytes(traj):
    raw = traj.to_json().encode("utf-8")
    refused(b"\xff\xfe" + raw, "UTF-8")
    refused(raw[:100] + b"\xc3\x28" + raw[100:], "UTF-8")


def test_file_over_the_size_limit_bytes():
    # Size is checked before anything is decoded or parsed: the content doesn't matter.
    refused(b" " * (MAX_FILE_BYTES + 1), "MB")


def test_file_over_the_size_limit_text():
    refused(" " * (MAX_FILE_BYTES + 1), "MB")


def test_load_over_the_size_limit_without_reading(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no real 20 MB written
    with pytest.raises(TrajectoryError) as info:
        Trajectory.load(path)
    assert "huge.json" in str(info.value) and "MB" in str(info.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(TrajectoryError) as info:
        Trajectory.load(tmp_path / "nope.json")
    assert "nope.json" in str(info.value)


def test_load_a_folder(tmp_path):
    # A folder is not a trajectory: say so, don't leak IsADirectoryError.
    folder = tmp_path / "run.json"
    folder.mkdir()
    with pytest.raises(TrajectoryError) as info:
        Trajectory.load(folder)
    assert "run.json" in str(info.value)


def test_final_ids_must_start_with_the_prompt(data):
    data["final_ids"][0] = data["final_ids"][1]
    refused(data, "final_ids", "prompt_ids")


def test_step_index_out_of_order(data):
    data["steps"][1]["step"] = 5
    refused(data, "steps[1].step")


def test_deep_nesting():
    refused("[" * 100_000 + "]" * 100_000)
