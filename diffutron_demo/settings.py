"""Sampler settings: one validated dataclass, named presets, one place for every message.

The UI, the CLI and the API all build settings through `SamplerSettings.from_dict` /
`validate`, so a bad value gets the same sentence wherever it was typed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

REMASKING = ("low_confidence", "random", "threshold", "factor")

LIMITS = {
    "steps": (1, 1024),
    "max_new_tokens": (1, 1024),
    "block_length": (1, 1024),
    "temperature": (0.0, 10.0),
    "repetition_penalty": (1.0, 10.0),
    "cfg_scale": (0.0, 20.0),
    "threshold": (0.0, 1.0),
    "factor": (0.0, 100.0),
}

HELP = {
    "steps": "Total denoising steps; each block gets ceil(steps / blocks) of them.",
    "max_new_tokens": "Length of the answer canvas: how many mask tokens follow the prompt.",
    "block_length": "Width of the window the sampler may commit in, left to right.",
    "temperature": "0 = always the most likely token; higher = more random proposals.",
    "repetition_penalty": "Pushes down every token already on the canvas (1.0 = off).",
    "remasking": "How the positions to commit are chosen each step.",
    "stochastic_transfer": "Draw each step's token count from a Binomial instead of the schedule.",
    "cfg_scale": "Classifier-free guidance: contrast with a pass that cannot see the prompt (0 = off).",
    "threshold": "'threshold' remasking: commit every candidate at least this confident.",
    "factor": "'factor' remasking: commit the n best while (n+1)(1-c_n) < factor.",
    "early_stop": "Stop as soon as the answer's end marker is committed with everything before it.",
}


class SettingsError(ValueError):
    """A setting is out of range or settings don't fit together. `field` names the control."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SamplerSettings:
    # The model card's recommended dllm command (the "dllm" preset).
    steps: int = 64
    max_new_tokens: int = 64
    block_length: int = 32
    temperature: float = 0.1
    repetition_penalty: float = 1.2
    remasking: str = "low_confidence"
    stochastic_transfer: bool = False
    cfg_scale: float = 0.0
    # Options that are off in the dllm preset.
    threshold: float = 0.9
    factor: float = 1.0
    early_stop: bool = False

    @classmethod
    def from_dict(cls, values: dict) -> "SamplerSettings":
        """Build from loosely typed input (a form, JSON, CLI) and validate; raises SettingsError."""
        known = {f.name: f for f in fields(cls)}
        for key in values:
            if key not in known:
                raise SettingsError(key, f"Unknown setting '{key}'.")
        coerced = {}
        for key, value in values.items():
            if value is None:
                continue
            coerced[key] = _coerce(key, known[key].type, value)
        return cls(**coerced).validate()

    def validate(self) -> "SamplerSettings":
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SettingsError(name, f"{_label(name)} must be a number.")
            if not math.isfinite(value):
                raise SettingsError(name, f"{_label(name)} must be a finite number, not {value}.")
            if not low <= value <= high:
                raise SettingsError(name, f"{_label(name)} must be between {low:g} and {high:g} (got {value:g}).")
        for name in ("steps", "max_new_tokens", "block_length"):
            if not isinstance(getattr(self, name), int):
                raise SettingsError(name, f"{_label(name)} must be a whole number.")
        if self.remasking not in REMASKING:
            raise SettingsError(
                "remasking", f"Remasking must be one of {', '.join(REMASKING)} (got '{self.remasking}')."
            )
        if self.threshold <= 0.0:
            raise SettingsError("threshold", "Threshold must be above 0.")
        if self.factor <= 0.0:
            raise SettingsError("factor", "Factor must be above 0.")
        return self

    @property
    def num_blocks(self) -> int:
        return math.ceil(self.max_new_tokens / self.block_length)

    @property
    def steps_per_block(self) -> int:
        return math.ceil(self.steps / self.num_blocks)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_changes(self, **changes) -> "SamplerSettings":
        return replace(self, **changes).validate()


def check_fits(prompt_tokens: int, max_new_tokens: int, context_window: int) -> None:
    """The canvas (prompt + answer) must fit the model's trained window."""
    if max_new_tokens >= context_window:
        raise SettingsError(
            "max_new_tokens",
            f"Max new tokens ({max_new_tokens}) must be below the model's {context_window}-token window, "
            "to leave room for the prompt.",
        )
    if prompt_tokens + max_new_tokens > context_window:
        raise SettingsError(
            "max_new_tokens",
            f"The prompt is {prompt_tokens} tokens; with {max_new_tokens} new tokens that exceeds the model's "
            f"{context_window}-token window: shorten the prompt or lower max new tokens.",
        )


MAX_SEED = 2**63 - 1


def check_seed(value) -> int:
    """The seed from any interface (UI number, API JSON, CLI text): a whole number 0..2**63-1."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                value = None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    try:
        ok = ok and float(value).is_integer() and 0 <= value <= MAX_SEED
    except OverflowError:
        ok = False
    if not ok:
        raise SettingsError("seed", f"Seed must be a whole number from 0 to {MAX_SEED}.")
    return int(value)


PRESETS: dict[str, SamplerSettings] = {
    "dllm (model card)": SamplerSettings(),
    "longer answer": SamplerSettings(steps=128, max_new_tokens=128),
    "greedy": SamplerSettings(temperature=0.0),
    "fast: threshold 0.9": SamplerSettings(remasking="threshold", threshold=0.9, early_stop=True),
    "fast: factor 1.0": SamplerSettings(remasking="factor", factor=1.0, early_stop=True),
    "left to right": SamplerSettings(block_length=1),
}
DEFAULT_PRESET = "dllm (model card)"


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _coerce(name: str, kind, value):
    kind = kind if isinstance(kind, str) else kind.__name__
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.strip().lower() in ("true", "1", "yes", "on")
        raise SettingsError(name, f"{_label(name)} must be true or false.")
    if kind == "str":
        if not isinstance(value, str):
            raise SettingsError(name, f"{_label(name)} must be text.")
        return value.strip()
    if isinstance(value, str):
        value = value.strip()
        try:
            value = int(value)  # "1000…0" is the integer JSON would give, not a float that overflows to inf
        except ValueError:
            pass
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(name, f"{_label(name)} must be a number (got {str(value)[:40]!r}).") from None
    except OverflowError:
        raise SettingsError(name, f"{_label(name)} is far too large.") from None
    if isinstance(value, bool):
        raise SettingsError(name, f"{_label(name)} must be a number.")
    if not math.isfinite(number):
        raise SettingsError(name, f"{_label(name)} must be a finite number, not {number}.")
    if kind == "int":
        if number != int(number):
            raise SettingsError(name, f"{_label(name)} must be a whole number (got {value}).")
        return int(number)
    return number
