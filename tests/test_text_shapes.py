"""What shows text (reply, the player's canvas and word view, exports) on both tokenizer shapes:
GPT-2's byte-level BPE and the real model's SentencePiece shape (Gemma: "▁" for spaces, `<0xNN>`
byte pieces for what the vocabulary lacks, a decoder that fuses them)."""

from __future__ import annotations

import json

import pytest

from diffutron_demo.core.chat import decode_reply, encode_text
from diffutron_demo.core.checkpoints import build_random_checkpoint
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import start_run
from diffutron_demo.record.words import answer_words
from diffutron_demo.render.export import standalone_html
from diffutron_demo.render.runview import run_value
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
    """The player draws the canvas and the word view from its value's pieces and words: spaces, not
    SentencePiece's marks, and words that cover the answer in order."""
    _, lm, traj = shaped
    value = run_value(traj, label="shapes")
    assert value["pieces"] and not any("▁" in text for text in value["pieces"].values())
    assert value["words"] and not any("▁" in w["text"] for w in value["words"])
    pieces = [traj.piece(traj.final_ids[p]) for p in traj.slots]
    words = answer_words(traj)
    assert [r for w in words for r in w.rows] == list(range(traj.answer_len)), "the words partition the answer"
    assert [{"rows": list(w.rows), "text": w.label, "pads": w.pads} for w in words] == value["words"]
    assert "".join("".join(pieces[r] for r in w.rows) if w.pads else w.text for w in words) == "".join(pieces)
    for word in words[1:]:  # a word starts at a space, or is punctuation, or follows one
        if word.pads:
            continue
        a = word.rows[0]
        text, previous = word.text, pieces[a - 1]
        assert text[:1].isspace() or not text.strip().isalnum() or not previous.strip().isalnum() \
            or previous.strip() == "" or "\ufffd" in previous + text \
            or traj.final_ids[traj.slots[a - 1]] in traj.special_ids.values(), (text, previous)


def test_every_piece_is_the_tokenizers_own_text(shaped):
    _, lm, traj = shaped
    for token, text in traj.pieces.items():
        assert text == lm.tokenizer.decode([token], skip_special_tokens=False)
        assert "▁" not in text


def test_the_exported_player_carries_the_same_pieces(shaped):
    _, _, traj = shaped
    data = run_value(traj, label="shapes")
    assert all(data["pieces"][str(t)] == traj.piece(t) for t in map(int, data["pieces"]))
    assert {str(traj.final_ids[p]) for p in traj.slots} <= set(data["pieces"]), "every answer token's text"
    page = standalone_html(traj)
    body = page.split('<script id="data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(body)["pieces"] == data["pieces"]
