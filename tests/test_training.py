"""The demo model's training pieces (training/): pair building, the SFT row layout, the MDLM loss.

Uses the bundled demo model's tokenizer (offline); the 40-minute run itself is checked by its
rerun from the README, not here."""

import math
from pathlib import Path

import pytest
import torch

from diffutron_demo.core.checkpoints import MASK_ID, PAD_ID
from training import pairs, train
from training.sources import Doc
from training.tokenizer import load_tokenizer

TOKENIZER_DIR = Path(__file__).resolve().parents[1] / "diffutron_demo" / "demo_model"
SENTENCES = [f"Bu {n}. cümle belgeyi kaydetmek ve biçimlendirmek için seçilen komutları açıklar." for n in range(8)]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(TOKENIZER_DIR)


def test_continuations_start_at_every_sentence(tok):
    doc = Doc("help/x.xhp", "libreoffice-help", "Belge Kaydetme", [("Belge Kaydetme", [" ".join(SENTENCES)])])
    built = pairs.Builder(tok).doc_pairs(doc)
    title, rest = built[0], built[1:]
    assert title["kind"] == "title" and title["a"].startswith(SENTENCES[0])
    assert all(p["kind"] == "continuation" for p in rest) and len(rest) >= 3
    for p in rest:
        i = next(k for k, s in enumerate(SENTENCES) if p["q"].endswith(s))
        assert p["a"].startswith(SENTENCES[i + 1])  # the answer is what follows the question
        assert pairs.MIN_ANSWER_TOKENS <= len(tok(p["a"], add_special_tokens=False)["input_ids"])
    starts = [next(k for k, s in enumerate(SENTENCES) if p["q"].endswith(s)) for p in rest]
    assert starts == list(range(starts[0], starts[0] + len(starts)))  # overlapping windows, stride 1


def test_an_sft_row_is_answer_end_marker_then_pads(tok):
    prompt, region, n_text = pairs.encode_pair(tok, {"q": "Soru?", "a": SENTENCES[0]})
    assert len(region) == pairs.ANSWER_SLOTS and region[-1] == PAD_ID
    text = tok.decode(region[:n_text])
    assert text.strip() == SENTENCES[0]
    assert "[/Answer]" in tok.decode(region[n_text:]) and PAD_ID not in region[:n_text]
    assert "[Question]" in tok.decode(prompt) and "[Answer]" in tok.decode(prompt)
    with pytest.raises(ValueError, match="too long"):
        pairs.encode_pair(tok, {"q": "Soru?", "a": " ".join(SENTENCES)})


def test_mdlm_loss_masks_only_the_answer_region_and_weights_by_one_over_t(tok, monkeypatch):
    examples = [pairs.encode_pair(tok, {"q": f"Soru {n}?", "a": SENTENCES[n]}) for n in range(4)]
    ids, region, _ = train.collate(examples, [0, 1, 2, 3])
    seen = {}

    class Spy(torch.nn.Module):  # records what the loss feeds the encoder
        def forward(self, input_ids):
            seen["noised"] = input_ids
            return type("Out", (), {"last_hidden_state": torch.zeros(*input_ids.shape, 8)})()

    model = torch.nn.Module()
    model.model, model.head = Spy(), torch.nn.Identity()
    model.decoder = torch.nn.Linear(8, len(tok), bias=False)
    torch.nn.init.zeros_(model.decoder.weight)  # uniform predictions: every CE is log(V)
    loss, _ = train.mdlm_loss(model, ids, region, torch.Generator().manual_seed(0), eps=0.1)
    masked = seen["noised"] == MASK_ID
    assert masked.any() and not (masked & ~region).any()  # the prompt is never masked
    # dllm's normalisation: mean over rows of (sum of masked CE) / t / |region|. With uniform
    # logits every CE is log V; t is redrawn here from the same generator, as the loss draws it.
    gen = torch.Generator().manual_seed(0)
    B = ids.shape[0]
    t = 0.1 + 0.9 * (torch.arange(B) + torch.rand(B, generator=gen)) / B
    t = t[torch.randperm(B, generator=gen)]
    per_row = masked.sum(1) / t / region.sum(1) * math.log(len(tok))
    assert loss.item() == pytest.approx(per_row.mean().item(), rel=1e-5)


def test_learning_rate_warms_up_then_decays_to_its_floor():
    cfg = train.TrainConfig()
    assert train.lr_at(0.0, cfg) < train.lr_at(cfg.warmup_frac, cfg) == pytest.approx(cfg.lr)
    assert train.lr_at(1.0, cfg) == pytest.approx(cfg.lr * cfg.min_lr_frac)
    assert train.lr_at(0.5, cfg) > train.lr_at(0.9, cfg)
