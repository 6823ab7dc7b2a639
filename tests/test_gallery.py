"""The gallery: the recorded runs shipped with the package load, and a broken file is left out."""

from __future__ import annotations

import json
import shutil

import pytest

from diffutron_demo.teach.gallery import GALLERY_DIR, gallery_items
from diffutron_demo.record.trajectory import SCHEMA_VERSION, Trajectory

SHIPPED = sorted(GALLERY_DIR.glob("*.json"))


def test_the_gallery_ships_runs():
    assert len(SHIPPED) >= 3, f"expected the recorded runs in {GALLERY_DIR}, found {SHIPPED}"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_file_loads_with_steps_and_a_reply(path):
    traj = Trajectory.load(path)
    assert traj.steps, "no steps"
    assert traj.reply.strip(), "no reply"
    assert traj.answer_len > 0
    assert json.loads(path.read_text(encoding="utf-8"))["schema_version"] == SCHEMA_VERSION
    assert traj.extra.get("gallery_title"), "no gallery_title"
    # The replay a visitor sees ends on the recorded answer.
    assert traj.canvas_at(len(traj.steps)) == traj.final_ids
    assert [st.step for st in traj.steps] == list(range(len(traj.steps)))


def test_gallery_items_lists_every_file_with_distinct_titles():
    items = gallery_items()
    assert sorted(items.values()) == SHIPPED, "a shipped file is missing from the list (or two share a title)"
    assert len(set(items)) == len(items) == len(SHIPPED)
    for title, path in items.items():
        assert title == Trajectory.load(path).extra["gallery_title"]
        assert title.strip()


def test_a_broken_file_is_left_out(tmp_path):
    for path in SHIPPED[:2]:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "aa-broken.json").write_text('{"schema_version": 2, "steps": [', encoding="utf-8")
    (tmp_path / "ab-not-a-trajectory.json").write_text('{"hello": "world"}', encoding="utf-8")
    (tmp_path / "ac-binary.json").write_bytes(b"\xff\xfe\x00garbage")
    truncated = SHIPPED[0].read_text(encoding="utf-8")
    (tmp_path / "ad-truncated.json").write_text(truncated[: len(truncated) // 2], encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not json", encoding="utf-8")
    items = gallery_items(tmp_path)
    assert sorted(items.values()) == sorted(tmp_path / p.name for p in SHIPPED[:2])


def test_an_empty_or_missing_folder_gives_no_items(tmp_path):
    assert gallery_items(tmp_path) == {}
    assert gallery_items(tmp_path / "missing") == {}


def test_a_file_without_a_title_is_listed_under_its_prompt(tmp_path):
    data = json.loads(SHIPPED[0].read_text(encoding="utf-8"))
    del data["gallery_title"]
    data["prompt"]["text"] = "Merhaba " * 20
    (tmp_path / "untitled.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    items = gallery_items(tmp_path)
    assert list(items) == [("Merhaba " * 20)[:60]]
