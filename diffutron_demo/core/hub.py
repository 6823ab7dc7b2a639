"""Is the Hugging Face hub reachable? Asked once, in about a second, before loading a hub id, so an
offline start falls back at once instead of after half a minute of retries."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

PROBE_TIMEOUT_S = 3.0


def offline_by_setting() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def endpoint() -> tuple[str, int]:
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


def unreachable(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if a TCP connection to the hub opens within `timeout`, else why not, in a few words."""
    host, port = endpoint()
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except socket.gaierror:
        return f"{host} can't be looked up (no network?)"
    except OSError as exc:
        return f"{host}:{port} can't be reached ({exc.strerror or type(exc).__name__})"
    return None


def cached(repo_id: str) -> bool:
    """The checkpoint's config is in the local hub cache (so it can load with no network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # noqa: BLE001 - a malformed id is not cached
        return False
