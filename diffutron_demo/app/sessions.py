"""One Session per visitor (per browser tab): its stop flag and its own state, dropped when the tab closes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Session:
    stop: threading.Event = field(default_factory=threading.Event)
    model: str | None = None  # the model label this visitor chose (None: the app's default)
    int8: bool | None = None  # this visitor's int8 choice (None: the app's default)


class Sessions:
    """Sessions by Gradio's session hash. A caller without one (a bare API call) gets a fresh
    Session of its own, never one shared with anybody."""

    def __init__(self):
        self._by_key: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, key: str | None) -> Session:
        if key is None:
            return Session()
        with self._lock:
            return self._by_key.setdefault(key, Session())

    def forget(self, key: str | None) -> None:
        with self._lock:
            self._by_key.pop(key, None)

    def keys(self) -> set[str]:
        with self._lock:
            return set(self._by_key)
