"""Sampler settings: one validated dataclass is the only source.

Each field carries its knob (range, help, step, the strategy it belongs to). The UI's controls,
the CLI's flags, the API's parsing and a trajectory file's check are all derived from these
fields and go through `SamplerSettings.from_dict` / `validate`, so a bad value gets the same
sentence wherever it was typed. A new remasking strategy with one parameter is one strategy
function (core/strategies.py) plus one field here whose knob names it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace


@dataclass(frozen=True)
class Knob:
    help: str
    low: float | None = None  # numeric range, inclusive unless open_low
    high: float | None = None
    open_low: bool = False  # the value must be above `low`, not at it
    step: float | None = None  # a slider's granularity; whole-number fields have none
    strategy: str | None = None  # this field is the parameter of that remasking strategy
    choices: tuple[str, ...] = ()


def knob(default, help: str, low=None, high=None, **extra):
    return field(default=default, metadata={"knob": Knob(help, low, high, **extra)})


# Strategies without a parameter; each parameter field below adds its own strategy's name.
PLAIN_STRATEGIES = ("low_confidence", "random")


class SettingsError(ValueError):
    """A setting is out of range or settings don't fit together. `field` names the control."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SamplerSettings:
    # The model card's recommended dllm command (the "dllm" preset).
    steps: int = knob(64, "Total denoising steps; each block gets ceil(steps / blocks) of them.", 1, 1024)
    max_new_tokens: int = knob(64, "Length of the answer canvas: how many mask tokens follow the prompt.", 1, 1024)
    block_length: int = knob(32, "Width of the window the sampler may commit in, left to right.", 1, 1024)
    temperature: float = knob(0.1, "0 = always the most likely token; higher = more random proposals.",
                              0.0, 10.0, step=0.05)
    repetition_penalty: float = knob(1.2, "Pushes down every token already on the canvas (1.0 = off).",
                                     1.0, 10.0, step=0.05)
    remasking: str = knob("low_confidence", "How the positions to commit are chosen each step.")
    stochastic_transfer: bool = knob(False, "Draw each step's token count from a Binomial instead of the schedule.")
    cfg_scale: float = knob(0.0, "Classifier-free guidance: contrast with a pass that cannot see the prompt (0 = off).",
                            0.0, 20.0, step=0.1)
    # Options that are off in the dllm preset.
    threshold: float = knob(0.9, "'threshold' remasking: commit every candidate at least this confident.",
                            0.0, 1.0, open_low=True, step=0.05, strategy="threshold")
    factor: float = knob(1.0, "'factor' remasking: commit the n best while (n+1)(1-c_n) < factor.",
                         0.0, 100.0, open_low=True, step=0.1, strategy="factor")
    early_stop: bool = knob(False, "Stop as soon as the answer's end marker is committed with everything before it.")
    # Infill: how a text's blanks become masks (core/blanks.py).
    blank_length: int = knob(4, "Infill: tokens in each ___ blank (___{n} gives one blank n tokens).", 1, 64)

    @classmethod
    def from_dict(cls, values: dict) -> "SamplerSettings":
        """Build from loosely typed input (a form, JSON, CLI) and validate; raises SettingsError."""
        for key in values:
            if key not in KNOBS:
                raise SettingsError(key, f"Unknown setting '{key}'.")
        coerced = {key: _coerce(key, FIELD_TYPES[key], value) for key, value in values.items() if value is not None}
        return cls(**coerced).validate()

    def validate(self) -> "SamplerSettings":
        for name, spec in KNOBS.items():
            value = getattr(self, name)
            if spec.choices and value not in spec.choices:
                raise SettingsError(name, f"{label(name)} must be one of {', '.join(spec.choices)} (got '{value}').")
            if spec.low is not None:
                _check_range(name, value, spec)
            if FIELD_TYPES[name] == "int" and not isinstance(value, int):
                raise SettingsError(name, f"{label(name)} must be a whole number.")
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


FIELD_TYPES: dict[str, str] = {f.name: f.type if isinstance(f.type, str) else f.type.__name__
                               for f in fields(SamplerSettings)}
REMASKING = PLAIN_STRATEGIES + tuple(f.metadata["knob"].strategy for f in fields(SamplerSettings)
                                     if f.metadata["knob"].strategy)
KNOBS: dict[str, Knob] = {f.name: f.metadata["knob"] for f in fields(SamplerSettings)}
KNOBS["remasking"] = replace(KNOBS["remasking"], choices=REMASKING)
LIMITS = {name: (k.low, k.high) for name, k in KNOBS.items() if k.low is not None}
HELP = {name: k.help for name, k in KNOBS.items()}


def label(name: str) -> str:
    """A field's name as people read it: "max_new_tokens" -> "Max new tokens"."""
    return name.replace("_", " ").capitalize()


def _check_range(name: str, value, spec: Knob) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(name, f"{label(name)} must be a number.")
    if not math.isfinite(value):
        raise SettingsError(name, f"{label(name)} must be a finite number, not {value}.")
    if not spec.low <= value <= spec.high:
        raise SettingsError(name, f"{label(name)} must be between {spec.low:g} and {spec.high:g} "
                                  f"(got {_shown(value)}).")
    if spec.open_low and value <= spec.low:
        raise SettingsError(name, f"{label(name)} must be above {spec.low:g}.")


def _shown(value) -> str:
    """A number as short as it reads, but not rounded onto a limit: 10.000001 is not "10" (a number
    of many digits stays short: 1e+257)."""
    text = f"{value:g}"
    exact = repr(value)
    return text if float(text) == value or len(exact) > 24 else exact


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


def _coerce(name: str, kind: str, value):
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.strip().lower() in ("true", "1", "yes", "on")
        raise SettingsError(name, f"{label(name)} must be true or false.")
    if kind == "str":
        if not isinstance(value, str):
            raise SettingsError(name, f"{label(name)} must be text.")
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
        raise SettingsError(name, f"{label(name)} must be a number (got {str(value)[:40]!r}).") from None
    except OverflowError:
        raise SettingsError(name, f"{label(name)} is far too large.") from None
    if isinstance(value, bool):
        raise SettingsError(name, f"{label(name)} must be a number.")
    if not math.isfinite(number):
        raise SettingsError(name, f"{label(name)} must be a finite number, not {number}.")
    if kind == "int":
        if number != int(number):
            raise SettingsError(name, f"{label(name)} must be a whole number (got {value}).")
        return int(number)
    return number
