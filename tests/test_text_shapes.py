"""What shows text (reply, canvas, word view, exports) on both tokenizer shapes: GPT-2's byte-level
BPE and the real model's SentencePiece shape (Gemma: "▁" for spaces, `<0xNN>` byte pieces for what
the vocabulary lacks, a decoder that fuses them)."""

from __future__ import annotations

import json
import re

import pytest

from diffutron_demo.core.chat import decode_reply, encode_text
from diffutron_demo.core.checkpoints import build_random_checkpoint
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.record.words import answer_words
from diffutron_demo.render.export import frames, standalone_html
from diffutron_demo.render.fragments import canvas_html, word_canvas_html
from diffutron_demo.settings import SamplerSettings

SETTINGS = SamplerSettings(steps=12, max_new_tokens=12, block_length=6, temperature=0.7)
QUESTION = "Türkiye'nin başkenti neresidir? 日本"


@pytest.fixture(scope="module", params=["bytelevel", "sentencepiece"])
def shaped(request, tmp_path_factory):
    folder = build_random_checkpoint(tmp_path_factory.mktemp(request.param) / "ckpt", seed=5, logit_scale=4.0,
                                     tokenizer_shape=request.param)
    lm = load_model(str(folder), device="cpu", dtype="float32")
    run, prompt = start_run(lm, QUESTION, SETTINGS, 3)
    return request.param, lm, run.run_to_end()


def test_the_sentencepiece_shape_is_gemmas(shaped):
    shape, lm, _ = shaped
    tokens = lm.tokenizer.convert_ids_to_tokens(encode_text(lm.tokenizer, "bir ev 日"))
    if shape == "sentencepiece":
        assert "▁ev" in tokens or "▁" in tokens, tokens
        assert "<0xE6>" in tokens, tokens  # 日 is not in the small vocabulary: bytes
    else:
        assert not any(t.startswith("<0x") for t in tokens)
    assert lm.tokenizer.decode(encode_text(lm.tokenizer, QUESTION)) == QUESTION


def test_the_reply_is_the_decoded_answer_with_no_sentencepiece_marks(shaped):
    _, lm, traj = shaped
    assert traj.reply == decode_reply(lm.tokenizer, traj.final_ids, traj.prompt_len)
    assert "▁" not in traj.reply
    assert QUESTION in traj.prompt["text"]


def test_the_canvas_and_the_word_view_show_spaces_not_marks(shaped):
    _, lm, traj = shaped
    n = len(traj.steps)
    for html in (canvas_html(traj, n), word_canvas_html(traj, n)):
        assert "▁" not in re.sub(r"<[^>]+>", "", html)
    pieces = [traj.piece(t) for t in traj.final_ids[traj.prompt_len:]]
    words = answer_words(traj)
    assert "".join(text for _, _, text in words) == "".join(pieces)
    for a, _, text in words[1:]:  # a word starts at a space, or is punctuation, or follows one
        previous = pieces[a - 1]
        assert text[:1].isspace() or not text.strip().isalnum() or not previous.strip().isalnum() \
            or previous.strip() == "" or "\ufffd" in previous + text, (text, previous)


def test_every_piece_is_the_tokenizers_own_text(shaped):
    _, lm, traj = shaped
    for token, text in traj.pieces.items():
        assert text == lm.tokenizer.decode([token], skip_special_tokens=False)
        assert "▁" not in text


def test_the_exported_player_carries_the_same_pieces(shaped):
    _, _, traj = shaped
    data = frames(traj)
    assert all(data["pieces"][str(t)] == traj.piece(t) for t in map(int, data["pieces"]))
    page = standalone_html(traj)
    body = page.split('<script id="data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(body)["pieces"] == data["pieces"]
