"""The gallery: recorded runs shipped with the app, playable instantly with no model: answers, fills
of blanks anywhere in a text, and an edit (a redo of chosen tokens, stored as a branch of its run)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..record.trajectory import Trajectory, TrajectoryError

GALLERY_DIR = Path(__file__).parents[1] / "gallery"
_ASCII = str.maketrans("çğıöşüâî", "cgiosuai")  # file names stay ASCII


@dataclass(frozen=True)
class Recording:
    title: str
    text: str  # the question, or (fill) the text with ___ blanks
    changes: dict = field(default_factory=dict)
    fill: bool = False
    question: str | None = None  # a fill's chat question (None: raw text)
    redo: tuple[int, ...] = ()  # answer positions redone after the run: an edit, shown as its branch


RECORDINGS = [
    Recording("Türkiye'nin başkenti", "Türkiye'nin başkenti neresidir?"),
    Recording("Kısa bir şiir", "Bana kısa bir şiir yazar mısın?"),
    Recording("İstanbul (left to right)", "İstanbul hakkında bilgi verir misin?", {"block_length": 1}),
    Recording("İstanbul (blocks of 32)", "İstanbul hakkında bilgi verir misin?"),
    Recording("Fast: threshold 0.9", "Yapay zekâ nedir?", {"remasking": "threshold", "threshold": 0.9}),
    Recording("Fill: a proverb", "Damlaya damlaya ___ olur.", fill=True),
    Recording("Fill: three blanks", "Sabah erkenden ___ kalktım, kahvaltıda ___ yedim ve ___ işe gittim.", fill=True),
    Recording("Fill: a blank in an answer", "___ Türkiye'nin başkentidir.", fill=True,
              question="Türkiye'nin başkenti neresidir?"),
    Recording("Edit: the first words redone", "Türkiye'nin başkenti neresidir?", redo=(0, 1, 2)),
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
    order = [r.title for r in RECORDINGS]
    return dict(sorted(items.items(), key=lambda item: (order.index(item[0]) if item[0] in order else len(order),
                                                        item[1].name)))


def shown_branch(traj: Trajectory) -> int | None:
    """The branch a gallery file opens on (an edit opens on its redo), else None: the run itself."""
    index = traj.extra.get("gallery_show")
    return index if isinstance(index, int) and 0 <= index < len(traj.branches) else None


def record_gallery(lm, folder: Path = GALLERY_DIR, seed: int = 0) -> list[Path]:
    """Record the gallery's runs with `lm` into `folder` (see README: recording more)."""
    from ..core.blanks import start_infill
    from ..core.branching import redo_run
    from ..core.sampler import start_run
    from ..settings import SamplerSettings

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for r in RECORDINGS:
        settings = SamplerSettings().with_changes(**r.changes)
        if r.fill:
            run, _ = start_infill(lm, r.text, settings, seed, question=r.question)
        else:
            run, _ = start_run(lm, r.text, settings, seed)
        traj = run.run_to_end()
        if r.redo:
            edit = redo_run(lm, traj, [traj.slots[i] for i in r.redo]).run_to_end()
            traj.extra["gallery_show"] = traj.add_branch(edit, len(traj.steps))
        traj.extra["gallery_title"] = r.title
        ascii_title = r.title.replace("İ", "I").lower().translate(_ASCII)
        path = folder / (re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-") + ".json")
        written.append(traj.save(path))
    return written
