"""The app's named API (/generate, /chat, /compare, /infill) through gradio_client, against the app
running in-process on a tiny checkpoint on a free localhost port."""

from __future__ import annotations

import json
import math
import re

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from diffutron_demo.core.blanks import start_infill
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import Trajectory
from tests.helpers_app import running_app

QUESTION = "Türkiye'nin başkenti neresidir?"
SMALL = {"steps": 8, "max_new_tokens": 8, "block_length": 4}
GREEDY = {**SMALL, "temperature": 0.0}
STATS_KEYS = {"forward passes", "wall s", "tokens / step", "mean conf", "answer tokens", "repeated 3-grams"}


@pytest.fixture(scope="module")
def app(tiny_checkpoint):
    with running_app(tiny_checkpoint) as (demo, url):
        yield url


@pytest.fixture(scope="module")
def client(app):
    return Client(app, verbose=False)


@pytest.fixture(scope="module")
def lm(tiny_checkpoint):
    """The same checkpoint loaded here, to compute expected answers without the app."""
    return load_model(str(tiny_checkpoint), device="cpu", dtype="float32")


def generate(client, prompt=QUESTION, settings=SMALL, seed=0, raw=False) -> Trajectory:
    text = client.predict(prompt, json.dumps(settings), seed, raw, api_name="/generate")
    assert isinstance(text, str)
    return Trajectory.from_json(text)


def committed_by_step(traj: Trajectory) -> list[list[int]]:
    return [r.committed for r in traj.steps]


def test_the_named_endpoints_exist(client):
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/generate", "/chat", "/compare", "/infill"} <= names


@pytest.mark.parametrize("settings", [SMALL, {"steps": 6, "max_new_tokens": 12, "block_length": 4},
                                      {"steps": 4, "max_new_tokens": 4, "block_length": 4, "remasking": "random"}])
def test_generate_returns_a_trajectory_shaped_by_the_settings(client, settings):
    traj = generate(client, settings=settings, seed=5)
    n, width = settings["max_new_tokens"], settings["block_length"]
    blocks = math.ceil(n / width)
    per_block = math.ceil(settings["steps"] / blocks)
    last_block = n - (blocks - 1) * width
    # Every block runs its share of steps; the last one stops once its masks are all filled
    # (one commit per step when it has fewer masks than steps).
    assert len(traj.steps) == (blocks - 1) * per_block + min(per_block, last_block)
    assert sorted({r.block for r in traj.steps}) == list(range(blocks))
    assert traj.answer_len == settings["max_new_tokens"]
    assert len(traj.final_ids) == len(traj.prompt_ids) + settings["max_new_tokens"]
    assert traj.seed == 5
    for key, value in settings.items():
        assert traj.settings[key] == value
    assert traj.stop_reason == "complete"
    assert traj.special_ids["mask"] not in traj.final_ids[traj.prompt_len :]
    assert QUESTION in traj.prompt["text"]
    assert sum(len(r.committed) for r in traj.steps) >= traj.answer_len


def test_generate_with_the_same_seed_repeats_and_matches_a_local_run(client, lm):
    settings = {**SMALL, "temperature": 0.9}
    first, second = generate(client, settings=settings, seed=11), generate(client, settings=settings, seed=11)
    assert committed_by_step(first) == committed_by_step(second)
    assert first.final_ids == second.final_ids
    assert [[(c.pos, c.token) for c in r.candidates] for r in first.steps] == \
        [[(c.pos, c.token) for c in r.candidates] for r in second.steps]
    run, _ = start_run(lm, QUESTION, SamplerSettings.from_dict(settings), 11)
    local = run.run_to_end()
    assert local.final_ids == first.final_ids
    assert committed_by_step(local) == committed_by_step(first)


def test_generate_raw_continues_the_text_as_typed(client, lm):
    traj = generate(client, prompt="Bir varmış bir yokmuş", settings=SMALL, raw=True)
    assert traj.prompt["text"] == "Bir varmış bir yokmuş"
    assert "[Question]" not in lm.tokenizer.decode(traj.prompt_ids)


def test_chat_reply_equals_the_generate_reply_at_temperature_0(client):
    for seed in (0, 7):
        reply = client.predict(QUESTION, "[]", json.dumps(GREEDY), seed, api_name="/chat")
        assert isinstance(reply, str)
        assert reply == generate(client, settings=GREEDY, seed=seed).reply


def test_chat_uses_the_history(client, lm):
    history = [["Merhaba!", "Merhaba, size nasıl yardımcı olabilirim?"]]
    reply = client.predict(QUESTION, json.dumps(history), json.dumps(GREEDY), 0, api_name="/chat")
    run, prompt = start_run(lm, QUESTION, SamplerSettings.from_dict(GREEDY), 0,
                            history=[tuple(p) for p in history])
    assert prompt.history == [tuple(p) for p in history], "the turn fits the window and is kept"
    assert reply == run.run_to_end().reply


@pytest.mark.parametrize("count", [2, 4])
def test_compare_returns_one_result_per_settings(client, count):
    settings_list = [SMALL, {**SMALL, "steps": 4}, {**SMALL, "remasking": "random"}, GREEDY][:count]
    results = json.loads(client.predict(QUESTION, json.dumps(settings_list), 3, api_name="/compare"))
    assert isinstance(results, list) and len(results) == count
    for settings, result in zip(settings_list, results):
        assert STATS_KEYS <= set(result["stats"]), set(result["stats"])
        for key, value in settings.items():
            assert result["settings"][key] == value
        alone = generate(client, settings=settings, seed=3)
        stats = result["stats"]
        assert result["reply"] == alone.reply, "compare runs the same run as /generate"
        assert stats["forward passes"] == len(alone.steps)
        assert 0 <= stats["answer tokens"] <= settings["max_new_tokens"]
        assert stats["tokens / step"] == pytest.approx(settings["max_new_tokens"] / len(alone.steps), abs=0.01)
        assert stats["mean conf"] is None or 0.0 <= stats["mean conf"] <= 1.0
        assert stats["wall s"] >= 0 and stats["repeated 3-grams"] >= 0


BAD_SETTINGS = [
    ('{"steps": 0}', ["steps"]),
    ('{"steps": NaN}', ["steps", "finite"]),
    ('{"temperature": "nan"}', ["temperature", "finite"]),
    ('{"remasking": "sideways"}', ["remasking", "sideways"]),
    ('{"block_length": 2.5}', ["block length", "whole"]),
    ('{"stepz": 8}', ["stepz"]),
    ('[8, 8]', ["settings_json"]),
    ('{"steps": ', ["settings_json"]),
]


def assert_app_error(call, *words):
    with pytest.raises(AppError) as info:
        call()
    message = str(info.value).lower()
    for word in words:
        assert word.lower() in message, f"{word!r} not in {str(info.value)!r}"
    return message


@pytest.mark.parametrize("settings_json, words", BAD_SETTINGS)
def test_bad_settings_are_refused_with_the_reason(client, settings_json, words):
    assert_app_error(lambda: client.predict(QUESTION, settings_json, 0, False, api_name="/generate"), *words)
    assert_app_error(lambda: client.predict(QUESTION, "[]", settings_json, 0, api_name="/chat"), *words)


@pytest.mark.parametrize("settings_json, words", BAD_SETTINGS[:4])
def test_compare_refuses_bad_settings_with_the_reason(client, settings_json, words):
    settings_list = f"[{json.dumps(SMALL)}, {settings_json}]"
    assert_app_error(lambda: client.predict(QUESTION, settings_list, 0, api_name="/compare"), *words)


@pytest.mark.parametrize("settings_list", ["[]", json.dumps([SMALL]), json.dumps([SMALL] * 5), "{}", "nope"])
def test_compare_needs_two_to_four_settings(client, settings_list):
    assert_app_error(lambda: client.predict(QUESTION, settings_list, 0, api_name="/compare"), "2 to 4")


@pytest.mark.parametrize("prompt", ["", "   \n "])
def test_an_empty_prompt_is_refused(client, prompt):
    assert_app_error(lambda: client.predict(prompt, json.dumps(SMALL), 0, False, api_name="/generate"), "empty")
    assert_app_error(lambda: client.predict(prompt, "[]", json.dumps(SMALL), 0, api_name="/chat"), "empty")
    assert_app_error(lambda: client.predict(prompt, json.dumps([SMALL, SMALL]), 0, api_name="/compare"), "empty")


def test_a_prompt_too_long_for_the_window_is_refused(client, lm):
    prompt = "kelime " * 400
    assert len(lm.tokenizer(prompt)["input_ids"]) > lm.context_window
    for raw in (False, True):
        message = assert_app_error(
            lambda: client.predict(prompt, json.dumps(SMALL), 0, raw, api_name="/generate"), "window")
        assert str(lm.context_window) in message
    assert_app_error(lambda: client.predict(prompt, "[]", json.dumps(SMALL), 0, api_name="/chat"), "window")
    assert_app_error(lambda: client.predict(prompt, json.dumps([SMALL, SMALL]), 0, api_name="/compare"), "window")


def test_max_new_tokens_as_large_as_the_window_is_refused(client, lm):
    settings = {"steps": 8, "max_new_tokens": lm.context_window, "block_length": 8}
    assert_app_error(lambda: client.predict("kısa", json.dumps(settings), 0, False, api_name="/generate"),
                     "max new tokens", "window")


@pytest.mark.parametrize("seed", [-1, 1.5, 2**64])
def test_a_bad_seed_is_refused(client, seed):
    # The UI accepts seeds 0 <= seed < 2**63; torch can't take 2**64 at all.
    assert_app_error(lambda: client.predict(QUESTION, json.dumps(SMALL), seed, False, api_name="/generate"), "seed")
    assert_app_error(lambda: client.predict(QUESTION, "[]", json.dumps(SMALL), seed, api_name="/chat"), "seed")


@pytest.mark.parametrize("history_json", ["{not json", "[null]", '[["only a question"]]', '[["q", "a", "extra"]]',
                                          '{"question": "answer"}', '"some text"'])
def test_bad_history_is_refused(client, history_json):
    assert_app_error(lambda: client.predict(QUESTION, history_json, json.dumps(SMALL), 0, api_name="/chat"),
                     "history_json")


def test_the_app_still_answers_after_errors(client):
    with pytest.raises(AppError):
        client.predict("", "{}", 0, False, api_name="/generate")
    assert generate(client, settings=SMALL).answer_len == SMALL["max_new_tokens"]


# -- /infill ----------------------------------------------------------------------------------------------
FILL = "Damlaya damlaya ___ olur, ___{2} gibi."


def one_sentence(message: str) -> str:
    """A clear one-sentence message: one line, short, ends with a full stop, no second sentence."""
    assert message and "\n" not in message and "Traceback" not in message, message
    assert len(message) <= 300 and message.endswith("."), message
    assert not re.search(r"[.!?]\s+[A-Z]", message[:-1]), f"more than one sentence: {message}"
    return message


@pytest.mark.parametrize("question", ["", "Ne olur?"])
def test_infill_returns_a_trajectory_in_infill_mode(client, lm, question):
    settings = {**GREEDY, "blank_length": 3}
    traj = Trajectory.from_json(client.predict(FILL, json.dumps(settings), 4, question, api_name="/infill"))
    assert traj.mode == "infill" and traj.answer_len == 3 + 2 and traj.settings["blank_length"] == 3
    assert traj.seed == 4 and traj.model["name"] == "tiny-a" and traj.stop_reason == "complete"
    assert traj.special_ids["mask"] not in [traj.final_ids[p] for p in traj.slots]
    assert (traj.prompt_len > 0) is bool(question) and traj.prompt["raw"] is (not question)
    run, canvas = start_infill(lm, FILL, SamplerSettings.from_dict(settings), 4, question=question or None)
    local = run.run_to_end()
    assert traj.initial_ids == canvas.ids and traj.final_ids == local.final_ids, "the API runs the fill as here"
    assert traj.reply == local.reply


@pytest.mark.parametrize("text, settings, words", [
    ("Bugün hava güzel.", SMALL, ["no blank"]),
    ("", SMALL, ["empty"]),
    ("   ", SMALL, ["empty"]),
    ("Bir ___{0} gün.", SMALL, ["own length"]),
    ("Bir ___{65} gün.", SMALL, ["own length"]),
    ("Bir ___ gün.", {**SMALL, "blank_length": 0}, ["blank length"]),
    ("Bir ___ gün.", {**SMALL, "blank_length": 65}, ["blank length"]),
    ("kelime " * 300 + "___", SMALL, ["window"]),
])
def test_infill_refuses_bad_input_with_one_sentence(client, text, settings, words):
    message = assert_app_error(lambda: client.predict(text, json.dumps(settings), 0, "", api_name="/infill"), *words)
    one_sentence(str(message))


def test_infill_refuses_bad_settings_json_and_seed(client):
    assert_app_error(lambda: client.predict(FILL, "[1]", 0, "", api_name="/infill"), "settings_json")
    assert_app_error(lambda: client.predict(FILL, json.dumps(SMALL), -1, "", api_name="/infill"), "seed")


def test_infill_refuses_underscores_inside_a_word_with_one_sentence(client):
    with pytest.raises(AppError) as info:
        client.predict("dosya___adı ___", json.dumps(SMALL), 0, "", api_name="/infill")
    message = str(info.value)
    assert "dosya___adı" in message and "\\___" in message
    one_sentence(message)
