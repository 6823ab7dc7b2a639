"""The sampler's controls, derived from the settings dataclass: one control per field, its range,
step and help from the field's knob, so the UI accepts exactly what the settings accept."""

from __future__ import annotations

import html

import gradio as gr

from ...settings import DEFAULT_PRESET, FIELD_TYPES, KNOBS, PRESETS, SamplerSettings, SettingsError, check_seed

ROWS = (("steps", "max_new_tokens", "block_length"), ("temperature", "repetition_penalty", "cfg_scale"),
        ("remasking", "threshold", "factor"), ("stochastic_transfer", "early_stop", "blank_length"))
assert sorted(n for row in ROWS for n in row) == sorted(KNOBS), "every setting has its place in the panel"
SEED_HELP = "Same seed + settings = same run."


def control(name: str, value, *, compact: bool = False, label: str | None = None):
    """The Gradio control for one settings field, from its knob (`compact`: a number box, no help)."""
    k, kind = KNOBS[name], FIELD_TYPES[name]
    text = label or name.replace("_", " ")
    info = None if compact else md_text(k.help)  # Gradio shows `info` as Markdown
    if k.choices:
        return gr.Dropdown(list(k.choices), value=value, label=text, info=info)
    if kind == "bool":
        return gr.Checkbox(value, label=text, info=info)
    if kind == "int" or compact:
        # No minimum, maximum or precision: Gradio would refuse or round a typed number in its own
        # words first; the settings refuse it with their sentence, the CLI's and the API's.
        return gr.Number(value, label=text, info=info)
    low = k.low + k.step if k.open_low else k.low  # a slider can't show "above 0": start one step up
    return gr.Slider(low, k.high, value=value, step=k.step, label=text, info=info)


def settings_panel() -> dict:
    """Preset, every knob, the seed and an error line; returns {name: component}."""
    start = PRESETS[DEFAULT_PRESET]
    c = {"preset": gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Preset",
                               info="The model card's recommended settings are the default.")}
    for row in ROWS:
        with gr.Row():
            for name in row:
                c[name] = control(name, getattr(start, name))
            if row is ROWS[-1]:
                c["seed"] = gr.Number(0, label="seed", info=SEED_HELP)  # check_seed says the range
    c["error"] = gr.Markdown(elem_classes=["dd-settings-error"])
    follow_preset(c["preset"], c, list(KNOBS))
    return c


def follow_preset(preset, controls: dict, names: list[str]) -> None:
    """Choosing a preset fills the controls named `names` with its values."""
    preset.change(lambda p: {controls[n]: getattr(PRESETS[p], n) for n in names}, preset,
                  [controls[n] for n in names], api_visibility="private", queue=False)


def knob_inputs(controls: dict) -> set:
    """The components a handler reads settings and seed from (it receives {component: value})."""
    return {controls[n] for n in KNOBS} | {controls["seed"]}


def panel_values(controls: dict, values: dict) -> dict:
    """{component: value}, as a handler with set inputs receives it -> {setting name: value}."""
    return {name: values[c] for name, c in controls.items() if c in values}


def read_settings(values: dict) -> tuple[SamplerSettings, int]:
    """{setting name: value, ..., "seed": value} -> validated settings and seed; raises SettingsError."""
    return SamplerSettings.from_dict({n: values[n] for n in KNOBS}), check_seed(values["seed"])


def md_text(text: str) -> str:
    """Text shown through Markdown as written: HTML escaped, and Markdown's marks (a blank's ___, the
    backslash of a literal \\___) kept as characters."""
    text = html.escape(text, quote=False)
    for mark in "\\`*_[]":
        text = text.replace(mark, "\\" + mark)
    return text


def error_md(exc: Exception) -> str:
    where = f"**{exc.field.replace('_', ' ')}**: " if isinstance(exc, SettingsError) else ""
    return f"⚠️ {where}{md_text(str(exc))}"


def wire_stop(button, sessions) -> None:
    """A Stop button sets the visitor's stop flag, which a running loop reads between steps (unqueued,
    so it is not behind the run it stops)."""

    def request_stop(request: gr.Request):
        sessions.get(request.session_hash).stop.set()

    button.click(request_stop, None, None, queue=False, api_visibility="private")
