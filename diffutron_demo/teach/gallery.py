"""The gallery: recorded runs shipped with the app, playable instantly with no model."""

from __future__ import annotations

import re
from pathlib import Path

from ..record.trajectory import Trajectory, TrajectoryError

GALLERY_DIR = Path(__file__).parents[1] / "gallery"
_ASCII = str.maketrans("çğıöşüâî", "cgiosuai")  # file names stay ASCII
PROMPTS = [
    ("Türkiye'nin başkenti", "Türkiye'nin başkenti neresidir?", {}),
    ("Kısa bir şiir", "Bana kısa bir şiir yazar mısın?", {}),
    ("İstanbul (left to right)", "İstanbul hakkında bilgi verir misin?", {"block_length": 1}),
    ("İstanbul (blocks of 32)", "İstanbul hakkında bilgi verir misin?", {}),
    ("Fast: threshold 0.9", "Yapay zekâ nedir?", {"remasking": "threshold", "threshold": 0.9}),
]


def gallery_items(folder: Path = GALLERY_DIR) -> dict[str, Path]:
    """Title -> file, for every trajectory JSON in the folder (title: its `gallery_title` or prompt)."""
    items = {}
    for path in sorted(folder.glob("*.json")):
        try:
            traj = Trajectory.load(path)
        except TrajectoryError:
            continue  # a broken file is left out of the list, not shown as an error to every visitor
        title = traj.extra.get("gallery_title") or traj.prompt.get("text", path.stem)[:60]
        items[title] = path
    # The recorded order first (the first is what the app opens on), then any others by name.
    order = [title for title, _, _ in PROMPTS]
    return dict(sorted(items.items(), key=lambda item: (order.index(item[0]) if item[0] in order else len(order),
                                                        item[1].name)))


def record_gallery(lm, folder: Path = GALLERY_DIR, seed: int = 0) -> list[Path]:
    """Record the gallery's runs with `lm` into `folder` (see README: recording more)."""
    from ..core.sampler import start_run
    from ..settings import SamplerSettings

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for title, question, changes in PROMPTS:
        settings = SamplerSettings().with_changes(**changes)
        run, _ = start_run(lm, question, settings, seed)
        traj = run.run_to_end()
        traj.extra["gallery_title"] = title
        ascii_title = title.replace("İ", "I").lower().translate(_ASCII)
        path = folder / (re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-") + ".json")
        written.append(traj.save(path))
    return written
