"""Reading the player's value (render/runview.py) the way render/player.js reads it, in Python."""

from __future__ import annotations


def player_canvas(value: dict, upto: int) -> list[int]:
    """The tokens on the answer rows after `upto` steps, read from the player's value alone: a
    step's pins and redos, then its commits of real tokens (and overflow), then the stop check's
    overwrite."""
    mask, region = value["mask"], value["region"]
    tokens = [value["initial"][p - region] for p in value["rows"]]
    for e in value["steps"][:upto]:
        for row, token, kind, _ in e["f"]:
            if kind in ("pin", "redo"):
                tokens[row] = token
        for row, token, *_, kept in e["c"]:
            if kept and token != mask:
                tokens[row] = token
        for row, token in e["o"]:
            if token != mask:
                tokens[row] = token
        for row, token, kind, _ in e["f"]:
            if kind == "stop_string":
                tokens[row] = token
    return tokens
