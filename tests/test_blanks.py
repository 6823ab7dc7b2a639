"""Fill in the blanks: the ___ syntax (core/blanks.py), the infill canvas it builds, the run that fills
it, and the CLI's `infill` subcommand.

- `___` is a blank of `blank_length` tokens, `___{n}` one of n tokens (1..64), `\\___` three literal
  underscores; underscores inside a word are refused with how to write them literally.
- Raw text is its own canvas (no prompt); a chat-shaped canvas puts the text inside a finished
  turn, and its `prompt_len` is the template's part before the answer.
- The CLI writes a trajectory with mode "infill", and refuses bad input with exit 2 and one line,
  before any model loads.
"""

from __future__ import annotations

import pytest

from diffutron_demo.core.blanks import BlankError, build_infill, split_blanks, start_infill
from diffutron_demo.core.chat import PromptError, encode_text, render_turn
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.settings import SamplerSettings, SettingsError
from tests.helpers_cli import cli_in_process

SMALL = SamplerSettings(steps=8, max_new_tokens=8, block_length=4, temperature=0.0)


@pytest.fixture(scope="module")
def lm(models):
    return models[0]


# -- the syntax -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, pieces", [
    ("Bir ___ gün.", ["Bir ", 4, " gün."]),
    ("___ başta", [4, " başta"]),
    ("sonda ___", ["sonda ", 4]),
    ("uzun _____ çizgi", ["uzun ", 4, " çizgi"]),  # three or more underscores: one blank
    ("kendi ___{7} boyu", ["kendi ", 7, " boyu"]),
    ("iki ___ ve ___{2}", ["iki ", 4, " ve ", 2]),
    ("(___)", ["(", 4, ")"]),
    ("yarım___ kelime", ["yarım", 4, " kelime"]),  # a letter on one side only: a blank
    ("tek __ iki _ alt", ["tek __ iki _ alt"]),  # fewer than three: text
    ("dosya\\___adı ve ___", ["dosya___adı ve ", 4]),  # \___: literal, the backslash goes
    ("\\___{3} kalır", ["___{3} kalır"]),
])
def test_split_blanks(text, pieces):
    assert split_blanks(text, 4) == pieces


@pytest.mark.parametrize("text", ["___{0}", "x ___{65} y", "___{x}", "___{}", "___{-1}", "___{2.5}"])
def test_a_blank_of_a_bad_own_length_is_refused(text):
    with pytest.raises(BlankError) as info:
        split_blanks(text, 4)
    message = str(info.value)
    assert "own length" in message and "from 1 to 64" in message, message
    assert "\n" not in message


@pytest.mark.parametrize("text, word", [("dosya___adı", "dosya___adı"), ("ver 2___3 sonra", "2___3"),
                                        ("x_y___z", "x_y___z")])
def test_underscores_inside_a_word_are_refused_with_how_to_write_them(text, word):
    with pytest.raises(BlankError) as info:
        split_blanks(text, 4)
    message = str(info.value)
    assert word in message, message
    assert "\\___" in message and "literal" in message, "the message says how to write literal underscores"
    assert "space" in message, "and how to make a blank"


def test_a_blank_error_is_a_prompt_error():
    """The app, the API and the CLI already turn a PromptError into its sentence."""
    assert issubclass(BlankError, PromptError)


# -- the canvas -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, words", [("Bugün hava güzel.", ["no blank", "\\___"]),
                                         ("\\___ yalnızca", ["no blank"]),
                                         ("", ["empty"]), ("  \n ", ["empty"])])
def test_a_text_with_no_blank_or_no_text_is_refused(lm, text, words):
    with pytest.raises(BlankError) as info:
        build_infill(lm.tokenizer, text, blank_length=4, context_window=lm.context_window)
    for word in words:
        assert word in str(info.value), str(info.value)


@pytest.mark.parametrize("bad", [0, 65, -1])
def test_a_blank_length_out_of_range_is_refused_naming_the_setting(lm, bad):
    with pytest.raises(SettingsError) as info:
        build_infill(lm.tokenizer, "Bir ___ gün.", blank_length=bad, context_window=lm.context_window)
    assert info.value.field == "blank_length" and "1 and 64" in str(info.value)
    with pytest.raises(SettingsError) as info:
        SamplerSettings.from_dict({"blank_length": bad})
    assert info.value.field == "blank_length"


def test_a_raw_canvas_is_the_text_with_mask_ids_at_the_blanks(lm):
    tok = lm.tokenizer
    text = "Damlaya <mask> damlaya ___ olur, ___{2} gibi."
    canvas = build_infill(tok, text, blank_length=3, context_window=lm.context_window)
    assert canvas.raw and canvas.prompt_len == 0
    assert [b - a for a, b in canvas.blanks] == [3, 2] and canvas.blank_tokens == 5
    masked = [i for i, t in enumerate(canvas.ids) if t == tok.mask_token_id]
    assert masked == [i for a, b in canvas.blanks for i in range(a, b)], "mask ids at the blanks and nowhere else"
    # Each stretch of text is tokenized on its own; a typed "<mask>" stays text.
    a, b = canvas.blanks
    assert canvas.ids[: a[0]] == encode_text(tok, "Damlaya <mask> damlaya ")
    assert canvas.ids[a[1]: b[0]] == encode_text(tok, " olur, ")
    assert canvas.ids[b[1]:] == encode_text(tok, " gibi.")
    assert canvas.text == "Damlaya <mask> damlaya " + tok.mask_token * 3 + " olur, " + tok.mask_token * 2 + " gibi."


def test_a_chat_shaped_canvas_puts_the_text_in_a_finished_turn(lm):
    tok = lm.tokenizer
    question = "Türkiye'nin başkenti neresidir?"
    canvas = build_infill(tok, "  ___ başkentidir.  ", blank_length=2, context_window=lm.context_window,
                          question=question)
    head, tail = render_turn(question, "\0").split("\0")
    assert not canvas.raw and canvas.text == head + tok.mask_token * 2 + " başkentidir." + tail
    # prompt_len is the template's part before the answer: where the template's own tokens end.
    assert 0 < canvas.prompt_len <= canvas.blanks[0][0]
    assert canvas.ids[: canvas.prompt_len] == encode_text(tok, head)[: canvas.prompt_len]
    assert canvas.prompt_len >= len(encode_text(tok, head)) - 1, "at most the last piece merges with the text"
    assert tok.decode(canvas.ids[canvas.prompt_len:]).endswith(tail)
    assert canvas.blanks == [(canvas.blanks[0][0], canvas.blanks[0][0] + 2)]


def test_a_canvas_over_the_window_is_refused(lm):
    text = "kelime " * 200 + "___{64}"
    with pytest.raises(BlankError) as info:
        build_infill(lm.tokenizer, text, blank_length=4, context_window=lm.context_window)
    message = str(info.value)
    assert "window" in message and str(lm.context_window) in message, message
    # The same text fits a wider window.
    assert build_infill(lm.tokenizer, text, blank_length=4, context_window=10_000).blank_tokens == 64


# -- the run --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("question", [None, "Ne olur?"])
def test_an_infill_run_writes_only_its_blanks(lm, question):
    run, canvas = start_infill(lm, "Damlaya damlaya ___ olur, ___{2} gibi.", SMALL, 3, question=question)
    traj = run.run_to_end()
    blank_positions = [i for a, b in canvas.blanks for i in range(a, b)]
    assert traj.mode == "infill" and traj.slots == blank_positions and traj.answer_len == 6
    assert traj.initial_ids == canvas.ids and traj.prompt_ids == canvas.ids[: canvas.prompt_len]
    assert [(b.start, b.end, b.was) for b in traj.blanks] == [(a, b, None) for a, b in canvas.blanks]
    given = [i for i in range(len(canvas.ids)) if i not in blank_positions]
    assert [traj.final_ids[i] for i in given] == [canvas.ids[i] for i in given], "given text is never overwritten"
    assert all(p in blank_positions for st in traj.steps for p in st.committed)
    assert all(st.window[0] <= c.pos < st.window[1] for st in traj.steps for c in st.candidates), \
        "infill candidates are the masks inside the window"
    assert traj.prompt["raw"] is (question is None) and traj.prompt["input"] == "Damlaya damlaya ___ olur, ___{2} gibi."
    assert Trajectory.from_json(traj.to_json()).to_dict() == traj.to_dict()


# -- the CLI --------------------------------------------------------------------------------------------
def infill_args(model, text: str, *extra: str) -> list[str]:
    return ["infill", "--model", str(model), "--text", text, "--steps", "4", "--max-new-tokens", "4",
            "--block-length", "4", "--device", "cpu", "--dtype", "float32", "--quiet", *extra]


@pytest.mark.parametrize("question", [None, "Ne olur?"])
def test_the_cli_fills_a_text_and_writes_an_infill_trajectory(tiny_checkpoint, tmp_path, question):
    out = tmp_path / "fill.json"
    extra = ["--out", str(out), "--blank-length", "3", "--seed", "2"] + (["--question", question] if question else [])
    code, stdout, stderr = cli_in_process(infill_args(tiny_checkpoint, "Damlaya damlaya ___ olur.", *extra))
    assert code == 0, stderr
    traj = Trajectory.load(out)
    assert traj.mode == "infill" and traj.answer_len == 3 and traj.settings["blank_length"] == 3
    assert stdout == traj.reply + "\n"
    assert traj.prompt["raw"] is (question is None) and (traj.prompt_len > 0) is (question is not None)
    assert traj.model["name"] == "tiny-a"


def test_the_cli_fills_with_the_demo_model(tmp_path):
    out = tmp_path / "demo.json"
    code, _, stderr = cli_in_process(infill_args("demo", "Bir ___ gün.", "--out", str(out)))
    assert code == 0, stderr
    assert Trajectory.load(out).mode == "infill"


@pytest.mark.parametrize("case, text, extra, words", [
    ("no blank", "Bugün hava güzel.", [], ["no blank", "--text"]),
    ("empty text", "   ", [], ["empty", "--text"]),
    ("blank length 0", "Bir ___ gün.", ["--blank-length", "0"], ["--blank-length", "Blank length"]),
    ("blank length 65", "Bir ___ gün.", ["--blank-length", "65"], ["--blank-length", "64"]),
    ("blank length text", "Bir ___ gün.", ["--blank-length", "dört"], ["--blank-length"]),
    ("own length 0", "Bir ___{0} gün.", [], ["own length"]),
    ("inside a word", "dosya___adı ___", [], ["dosya___adı", "\\___"]),
    ("unknown flag", "Bir ___ gün.", ["--bogus", "1"], ["unrecognized arguments: --bogus"]),
])
def test_the_cli_refuses_bad_input_with_exit_2_and_one_line(case, text, extra, words):
    # A missing model folder: a refusal must come before any model loads.
    code, stdout, stderr = cli_in_process(infill_args("/nonexistent/model", text, *extra))
    assert code == 2, (case, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error"), (case, stderr)
    assert "Traceback" not in stderr and stdout == ""
    for word in words:
        assert word in lines[0], (case, lines[0])
