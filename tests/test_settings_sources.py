"""The settings' one source: the dataclass's fields and knobs. The UI's controls, the CLI's flags
and the API's parsing must accept the same names and ranges, and refuse a bad value with the
same sentence.

The UI is read as Gradio builds it (`settings_panel()` inside `gr.Blocks()`): each control's
range, step and choices, and a typed value goes through the control's own `preprocess` before
`read_settings`, as a handler receives it. The CLI runs in-process (`main`); a bad setting exits 2
before any model is loaded. The API is `parse_settings`, what /generate, /chat and /compare call.
"""

from __future__ import annotations

import dataclasses
import json
import re

import gradio as gr
import pytest

from diffutron_demo import cli
from diffutron_demo.app.api import parse_settings
from diffutron_demo.app.sessions import Sessions
from diffutron_demo.app.ui.compare import compare_tab
from diffutron_demo.app.ui.controls import md_text, control, read_settings, settings_panel
from diffutron_demo.settings import FIELD_TYPES, KNOBS, LIMITS, REMASKING, SamplerSettings, SettingsError, check_seed

NAMES = [f.name for f in dataclasses.fields(SamplerSettings)]
NUMERIC = [n for n in NAMES if n in LIMITS]
BOOLS = [n for n in NAMES if FIELD_TYPES[n] == "bool"]
DEFAULTS = SamplerSettings()
EPS = {"int": 1, "float": 1e-6}


@pytest.fixture(scope="module")
def controls() -> dict:
    with gr.Blocks():
        return settings_panel()


def accepted(name: str) -> list:
    k, (low, high) = KNOBS[name], LIMITS[name]
    return [low + EPS[FIELD_TYPES[name]] if k.open_low else low, high]


def outside(name: str) -> list:
    k, (low, high) = KNOBS[name], LIMITS[name]
    eps = EPS[FIELD_TYPES[name]]
    values = [low - eps, high + eps] + ([low] if k.open_low else [])
    return values + ([low + 0.5] if FIELD_TYPES[name] == "int" else [])  # not a whole number


# -- each source, one value -------------------------------------------------------------------------
def via_settings(name, value):
    return SamplerSettings.from_dict({name: value})


def via_api(name, value):
    return parse_settings(json.dumps({name: value}))


def via_cli(name, value):
    text = repr(value) if FIELD_TYPES[name] != "str" else value
    args = cli.build_parser().parse_args(["generate", "--prompt", "x", f"{cli.flag(name)}={text}"])
    return cli.settings_from_args(args)


def via_ui(controls, name, value):
    """What a handler gets: the control's preprocess, then read_settings with the other knobs as set."""
    try:
        value = controls[name].preprocess(value)
    except gr.Error as exc:
        raise SettingsError(name, exc.message) from None
    return read_settings({**DEFAULTS.to_dict(), name: value, "seed": 0})[0]


def generate_parser():
    """The `generate` subcommand's parser, where the settings flags are."""
    return cli.build_parser()._subparsers._group_actions[0].choices["generate"]


def refusal(fn, *args) -> tuple[str, str]:
    with pytest.raises(SettingsError) as info:
        fn(*args)
    return info.value.field, info.value.message


def cli_refusal(capsys, name, value) -> tuple[str, str]:
    """The CLI's exit status and stderr line for a bad setting: it must stop before loading a model."""
    text = repr(value) if FIELD_TYPES[name] != "str" else value
    code = cli.main(["generate", "--model", "/nonexistent/model", "--prompt", "x", f"{cli.flag(name)}={text}"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    match = re.fullmatch(r"error \((--[a-z-]+)\): (.*)", err)
    assert match, err
    assert match.group(1) == cli.flag(name)
    return name, match.group(2)


# -- the same names everywhere ----------------------------------------------------------------------
def test_every_source_has_exactly_the_dataclass_fields(controls):
    generate = generate_parser()
    flags = {a.dest: a.option_strings for a in generate._actions if a.dest in KNOBS}
    ui = set(controls) - {"preset", "seed", "error"}
    assert set(NAMES) == set(KNOBS) == set(FIELD_TYPES) == ui == set(flags)
    assert all(flags[n] == ["--" + n.replace("_", "-")] for n in NAMES)
    for name in NAMES:  # and the API takes each by its name
        assert getattr(via_api(name, getattr(DEFAULTS, name)), name) == getattr(DEFAULTS, name)
    assert refusal(via_api, "stepz", 3) == refusal(via_settings, "stepz", 3) == ("stepz", "Unknown setting 'stepz'.")


def test_every_source_starts_at_the_defaults_with_the_knobs_help(controls):
    args = cli.build_parser().parse_args(["generate", "--prompt", "x"])
    assert cli.settings_from_args(args) == DEFAULTS == parse_settings("{}")
    generate = generate_parser()
    helps = {a.dest: a.help for a in generate._actions}
    for name in NAMES:
        assert controls[name].value == getattr(DEFAULTS, name), name
        assert controls[name].info == md_text(KNOBS[name].help), name  # as written, through Markdown
        assert helps[name].startswith(KNOBS[name].help), name


# -- the same ranges everywhere ---------------------------------------------------------------------
def test_the_controls_ranges_are_the_limits(controls):
    for name in NUMERIC:
        k, c, (low, high) = KNOBS[name], controls[name], LIMITS[name]
        if isinstance(c, gr.Slider):
            assert (c.minimum, c.maximum, c.step) == (low + k.step if k.open_low else low, high, k.step), name
            assert FIELD_TYPES[name] == "float"
        else:  # a whole-number box: every typed value reaches the settings' check, which says the range
            assert isinstance(c, gr.Number) and FIELD_TYPES[name] == "int" and k.step is None, name
    assert {n for n in NUMERIC if isinstance(controls[n], gr.Slider)} == {n for n in NUMERIC if KNOBS[n].step}


@pytest.mark.parametrize("name", NUMERIC)
def test_the_ends_of_each_range_are_accepted_everywhere(controls, name):
    control = controls[name]
    slider = [control.minimum, control.maximum] if isinstance(control, gr.Slider) else []
    for value in accepted(name) + slider:  # an open range's slider starts one step up
        sources = [via_settings, via_api, via_cli]
        if not slider or value in slider:  # a slider offers only its own range
            sources.append(lambda n, v: via_ui(controls, n, v))
        for source in sources:
            got = getattr(source(name, value), name)
            assert got == value and type(got) is type(getattr(DEFAULTS, name)), (name, value, source)


@pytest.mark.parametrize("name", NUMERIC)
def test_just_outside_each_range_is_refused_everywhere_with_one_sentence(controls, capsys, name):
    for value in outside(name):
        expected = refusal(via_settings, name, value)
        assert expected[0] == name and expected[1].startswith(name.replace("_", " ").capitalize())
        if got := re.search(r"\(got (.+)\)\.$", expected[1]):  # the value as given, not rounded onto a limit
            assert float(got.group(1)) == value, expected
        assert refusal(via_api, name, value) == expected, value
        assert refusal(via_cli, name, value) == expected, value
        assert cli_refusal(capsys, name, value) == expected, value
        control = controls[name]
        if isinstance(control, gr.Slider):  # the slider can't reach it: Gradio refuses a forged value
            assert not control.minimum <= value <= control.maximum
            assert refusal(via_ui, controls, name, value)[0] == name
        else:  # a box takes any typed number: the settings' sentence, at the control
            assert refusal(via_ui, controls, name, value) == expected, value


# -- choices and switches ---------------------------------------------------------------------------
def test_the_remasking_choices_are_the_strategies_everywhere(controls, capsys):
    dropdown = controls["remasking"]
    assert [value for _, value in dropdown.choices] == list(REMASKING) == list(KNOBS["remasking"].choices)
    generate = generate_parser()
    help_text = next(a.help for a in generate._actions if a.dest == "remasking")
    assert tuple(re.search(r"\(([a-z_|]+)\)", help_text).group(1).split("|")) == REMASKING
    for name in REMASKING:
        for source in (via_settings, via_api, via_cli, lambda n, v: via_ui(controls, n, v)):
            assert source("remasking", name).remasking == name
    expected = refusal(via_settings, "remasking", "sideways")
    assert expected == ("remasking", f"Remasking must be one of {', '.join(REMASKING)} (got 'sideways').")
    assert refusal(via_api, "remasking", "sideways") == refusal(via_cli, "remasking", "sideways") == expected
    assert cli_refusal(capsys, "remasking", "sideways") == expected
    assert refusal(via_ui, controls, "remasking", "sideways")[0] == "remasking"  # not a choice the dropdown has


@pytest.mark.parametrize("name", BOOLS)
def test_a_switch_is_a_checkbox_a_flag_and_a_json_boolean(controls, name):
    assert isinstance(controls[name], gr.Checkbox)
    on = cli.build_parser().parse_args(["generate", "--prompt", "x", cli.flag(name)])
    assert getattr(cli.settings_from_args(on), name) is True
    for value in (True, False):
        assert getattr(via_api(name, value), name) is value
        assert getattr(via_ui(controls, name, value), name) is value
    expected = refusal(via_settings, name, "maybe")
    assert refusal(via_api, name, "maybe") == expected == (name, f"{name.replace('_', ' ').capitalize()} must be "
                                                                 "true or false.")


def test_a_bad_seed_gets_the_same_sentence_in_the_panel_and_the_cli(controls, capsys):
    for value in (-1, 1.5):
        with pytest.raises(SettingsError) as info:
            check_seed(value)
        with pytest.raises(SettingsError) as ui:
            read_settings({**DEFAULTS.to_dict(), "seed": controls["seed"].preprocess(value)})
        assert ui.value.message == info.value.message
        assert cli.main(["generate", "--model", "/nonexistent/model", "--prompt", "x", f"--seed={value}"]) == 2
        assert capsys.readouterr().err.strip() == f"error (--seed): {info.value.message}"


# -- the other places a setting is typed: the compare columns and the branch panel's boxes ----------
@pytest.fixture(scope="module")
def compare_boxes() -> dict[str, list]:
    """The Compare tab's number boxes by label (its seed; each column's compact knob boxes)."""
    with gr.Blocks() as demo:
        compare_tab(lambda request=None: None, Sessions(), "Merhaba")
    boxes = {}
    for block in demo.blocks.values():
        if isinstance(block, gr.Number):
            boxes.setdefault(block.label, []).append(block)
    return boxes


@pytest.mark.parametrize("name", NUMERIC)
def test_a_compact_box_takes_the_same_range_with_the_same_sentence(name):
    with gr.Blocks():
        box = control(name, getattr(DEFAULTS, name), compact=True)
    assert isinstance(box, gr.Number) and box.info is None
    for value in accepted(name):
        assert getattr(SamplerSettings.from_dict({name: box.preprocess(value)}), name) == value
    for value in outside(name):
        assert refusal(lambda: SamplerSettings.from_dict({name: box.preprocess(value)})) == \
            refusal(via_settings, name, value), value


def test_the_compare_tabs_seed_and_boxes_leave_the_range_to_the_settings(compare_boxes):
    assert len(compare_boxes["seed"]) == 1 and len(compare_boxes["steps"]) == 4
    for boxes in compare_boxes.values():
        assert all((b.minimum, b.maximum, b.precision) == (None, None, None) for b in boxes)
    seed = compare_boxes["seed"][0]
    for value in (-1, 1.5):
        assert refusal(check_seed, seed.preprocess(value)) == refusal(check_seed, value)
