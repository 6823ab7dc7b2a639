"""Self-checks of the independent dllm oracle in tests/dllm_reference.py (not of the package)."""

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from dllm_reference import (
    reference_decode_trim,
    reference_generate,
    reference_prompt_ids,
    reference_schedule,
    render_chat,
)

GREEDY = dict(
    steps=8, max_new_tokens=8, block_length=4, temperature=0.0, repetition_penalty=1.2,
    remasking="low_confidence", stochastic_transfer=False, cfg_scale=0.0,
)


@pytest.fixture(scope="module")
def model_and_tok(tiny_checkpoint):
    model = AutoModelForMaskedLM.from_pretrained(tiny_checkpoint).eval()
    return model, AutoTokenizer.from_pretrained(tiny_checkpoint)


@pytest.mark.parametrize(
    "n, steps, expected",
    [
        (5, 3, [2, 1, 2]),
        (10, 4, [2, 3, 2, 3]),
        (32, 25, [1] * 11 + [2, 1, 2, 1, 1, 2, 2, 1, 2, 1, 1, 2, 1, 2]),
        (50, 16, [3] * 12 + [4, 3, 4, 3]),
        (32, 32, [1] * 32),
        (32, 64, [1] * 32),
        (18, 32, [1] * 18),
        (0, 4, []),
    ],
)
def test_schedule_examples(n, steps, expected):
    assert reference_schedule(n, steps) == expected  # dllm-reference §4.5


def test_render_chat_one_turn():
    msgs = [{"role": "user", "content": "  Merhaba?\n"}]
    assert render_chat(msgs) == "[Question]\nMerhaba?\n[/Question]\n\n[Answer]\n"


def test_render_chat_multi_turn_and_system():
    msgs = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": " a1\n"},
        {"role": "user", "content": "q2"},
    ]
    expected = (
        "[Question]\nq1\n[/Question]\n\n[Answer]\na1\n[/Answer]\n\n"
        "[Question]\nq2\n[/Question]\n\n[Answer]\n"
    )
    assert render_chat(msgs) == expected
    sys = [{"role": "system", "content": "kısa cevap ver"}] + msgs
    assert render_chat(sys) == "[SYS]\nkısa cevap ver\n[/SYS]\n\n" + expected
    # no generation prompt after an assistant turn
    assert render_chat(msgs[:2]) == "[Question]\nq1\n[/Question]\n\n[Answer]\na1\n[/Answer]\n\n"


def test_greedy_fills_every_generated_position(model_and_tok):
    model, tok = model_and_tok
    ids = reference_prompt_ids(tok, [{"role": "user", "content": "Merhaba, nasılsın?"}], chat=True)
    assert tok.mask_token_id not in ids and ids[:1] != [tok.bos_token_id]  # no special tokens added
    P = len(ids)
    canvas, hist = reference_generate(model, tok, ids, generator=torch.Generator().manual_seed(0), **GREEDY)
    assert canvas[:P] == ids and len(canvas) == P + 8
    assert tok.mask_token_id not in canvas[P:]
    # 2 blocks x ceil(8/2)=4 steps, 1 token each: 1 + 8 histories (dllm-reference §7)
    assert len(hist) == 1 + 2 * len(reference_schedule(4, 4)) == 9
    assert hist[0] == ids + [tok.mask_token_id] * 8 and hist[-1] == canvas
    # every step commits one mask inside the current window (no stop fired here)
    for i in range(1, len(hist)):
        changed = [j for j in range(len(canvas)) if hist[i][j] != hist[i - 1][j]]
        b = (i - 1) // 4
        assert len(changed) == 1 and P <= changed[0] < P + (b + 1) * 4
        assert hist[i - 1][changed[0]] == tok.mask_token_id


def test_stop_string_in_prompt_wipes_the_reply(model_and_tok):
    model, tok = model_and_tok
    ids = reference_prompt_ids(tok, "merhaba </s> dünya", chat=False)
    P, pad = len(ids), tok.pad_token_id
    canvas, hist = reference_generate(model, tok, ids, generator=torch.Generator().manual_seed(0), **GREEDY)
    assert canvas[P:] == [pad] * 8  # reference bug: overwrite starts inside the prompt (§5)
    assert canvas[:P] != ids  # the prompt itself is rewritten with "\n[/Answer]\n"
    assert len(hist) == 2  # one step, then no mask is left: early exit everywhere
    assert reference_decode_trim(tok, canvas, P) == ""


def test_user_mask_text_becomes_mask_id(model_and_tok):
    model, tok = model_and_tok
    ids = reference_prompt_ids(tok, "a <mask> b", chat=True)
    pos = ids.index(tok.mask_token_id)  # reference bug (§9): typed "<mask>" is the mask id
    canvas, _ = reference_generate(model, tok, ids, generator=torch.Generator().manual_seed(0), **GREEDY)
    assert canvas[pos] != tok.mask_token_id  # ... and the sampler fills it


@pytest.mark.parametrize(
    "opts",
    [
        dict(temperature=0.7),
        dict(remasking="random"),
        dict(stochastic_transfer=True, temperature=0.5),
        dict(cfg_scale=1.5),
        dict(repetition_penalty=1.0, steps=3, max_new_tokens=7, block_length=3),
    ],
)
def test_other_settings_run_and_are_seeded(model_and_tok, opts):
    model, tok = model_and_tok
    ids = reference_prompt_ids(tok, "Bugün hava nasıl?", chat=True)
    kw = {**GREEDY, **opts}
    a = reference_generate(model, tok, ids, generator=torch.Generator().manual_seed(3), **kw)
    b = reference_generate(model, tok, ids, generator=torch.Generator().manual_seed(3), **kw)
    assert a == b
    assert len(a[0]) == len(ids) + kw["max_new_tokens"]


def test_decode_trim(model_and_tok):
    _, tok = model_and_tok
    prompt = reference_prompt_ids(tok, "Merhaba", chat=True)
    reply = tok("İyiyim.\n[/Answer]\n", add_special_tokens=False).input_ids
    canvas = prompt + reply + [tok.pad_token_id] * 3
    assert reference_decode_trim(tok, canvas, len(prompt)) == "İyiyim.\n"  # §6: cut at [/Answer]
    canvas = prompt + tok("Ankara", add_special_tokens=False).input_ids + [tok.eos_token_id] + reply
    assert reference_decode_trim(tok, canvas, len(prompt)) == "Ankara"  # cut at the first eos id
