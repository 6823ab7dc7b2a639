"""The bundled trained demo model (diffutron_demo/demo_model, built by `python -m training.run`).

It must load like any checkpoint, predict masked held-out answer tokens far better than the same
architecture untrained and better than always guessing the commonest token, and end its greedy
answers with [/Answer] followed by pads. The held-out pairs ship in the folder (heldout.jsonl:
documents the model never saw), so this runs offline in a few seconds.
"""

import json
import os
from pathlib import Path

import pytest
import torch

from diffutron_demo.core.chat import build_prompt, encode_text, render_turn
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import Run
from diffutron_demo.settings import SamplerSettings

# DEMO_MODEL_DIR checks another build (`python -m training.run --out DIR`) against the same bar.
FOLDER = Path(os.environ.get("DEMO_MODEL_DIR") or Path(__file__).resolve().parent.parent / "diffutron_demo" / "demo_model")
SLOTS = 64  # answer slots the model was trained with
END = "\n[/Answer]\n\n"
GREEDY = SamplerSettings(steps=64, max_new_tokens=SLOTS, block_length=32, temperature=0.0, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def lm():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # single short sequences: one thread is faster on a busy machine
    yield load_model(str(FOLDER), device="cpu", dtype="float32")
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def heldout():
    rows = [json.loads(line) for line in (FOLDER / "heldout.jsonl").read_text(encoding="utf-8").splitlines() if line]
    assert len(rows) >= 50 and {r["source"] for r in rows} == {"ataturk", "libreoffice-help"}
    return rows


def test_loads_as_a_trained_demo_checkpoint(lm):
    meta = json.loads((FOLDER / "diffutron_demo.json").read_text())
    assert meta["kind"] == "trained-demo"
    assert (lm.mask_id, lm.eos_id, lm.pad_id, lm.bos_id) == (4, 1, 0, 2)
    assert type(lm.model).__name__ == "ModernBertForMaskedLM"
    assert lm.context_window == 256
    assert 1_000_000 < sum(p.numel() for p in lm.model.parameters()) < 20_000_000
    assert sum(p.stat().st_size for p in FOLDER.rglob("*") if p.is_file()) <= 25 * 1024 * 1024
    for marker in ("[Question]", "[/Question]", "[Answer]", "[/Answer]"):
        assert len(encode_text(lm.tokenizer, marker)) <= 2, marker
    assert (FOLDER / "README.md").read_text(encoding="utf-8").count("MPL-2.0") >= 1


def _examples(tokenizer, rows):
    out = []
    for row in rows:
        prompt = encode_text(tokenizer, render_turn(row["q"]))
        text = encode_text(tokenizer, row["a"].strip())
        region = encode_text(tokenizer, row["a"].strip() + END)
        assert len(region) <= SLOTS
        n_text = 0
        while n_text < min(len(text), len(region)) and text[n_text] == region[n_text]:
            n_text += 1
        out.append((prompt, region + [tokenizer.pad_token_id] * (SLOTS - len(region)), n_text))
    return out


@torch.no_grad()
def _masked_accuracy(model, examples, mask_id, ratio=0.5, seed=7):
    """Accuracy on masked answer-text tokens, with round(ratio * SLOTS) region positions masked."""
    gen = torch.Generator().manual_seed(seed)
    correct = total = 0
    targets_seen = []
    for prompt, region, n_text in examples:
        ids = torch.tensor(prompt + region)
        picks = torch.randperm(SLOTS, generator=gen)[: round(ratio * SLOTS)] + len(prompt)
        noised = ids.clone()
        noised[picks] = mask_id
        logits = model(input_ids=noised[None]).logits[0]
        scored = picks[picks < len(prompt) + n_text]
        correct += int((logits[scored].argmax(-1) == ids[scored]).sum())
        total += len(scored)
        targets_seen += ids[scored].tolist()
    return correct / total, targets_seen


def test_beats_untrained_model_and_unigram(lm, heldout):
    from transformers import ModernBertForMaskedLM

    examples = _examples(lm.tokenizer, heldout)
    trained, targets = _masked_accuracy(lm.model, examples, lm.mask_id)
    torch.manual_seed(0)
    fresh = ModernBertForMaskedLM(lm.model.config).eval()
    untrained, _ = _masked_accuracy(fresh, examples, lm.mask_id)
    # An oracle unigram: the commonest answer token of these very held-out targets.
    unigram = max(targets.count(t) for t in set(targets)) / len(targets)
    assert len(targets) > 500
    # Measured on these 100 pairs at export: 26.4% (speeches 20.5%, help 31.4%), untrained 0.0%,
    # oracle unigram 5.4%. The bars leave room for a rebuild's run-to-run noise.
    assert trained >= untrained + 0.15, (trained, untrained)
    assert trained >= 3 * unigram, (trained, unigram)


def _ends_with_marker_then_pads(lm, final_ids, prompt_len):
    marker = encode_text(lm.tokenizer, "[/Answer]")
    region = final_ids[prompt_len:]
    for i in range(len(region) - len(marker) + 1):
        if region[i:i + len(marker)] == marker:
            rest = region[i + len(marker):]
            pads = [t for t in rest if t == lm.pad_id]
            others = [t for t in rest if t != lm.pad_id]
            return len(pads) >= 1 and all(lm.tokenizer.decode([t]).strip() == "" for t in others)
    return False


def test_greedy_answers_end_with_marker_and_pads(lm, heldout):
    questions = ["Türkiye'nin başkenti neresidir?"] + [r["q"] for r in heldout[::20]][:5]
    ok = []
    for question in questions:
        prompt = build_prompt(lm.tokenizer, question, max_new_tokens=SLOTS, context_window=lm.context_window)
        trajectory = Run(lm, prompt.ids, GREEDY, 0).run_to_end()
        ok.append(_ends_with_marker_then_pads(lm, trajectory.final_ids, len(prompt.ids)))
        assert "[/Answer]" not in trajectory.reply
    assert sum(ok) >= len(questions) - 1, list(zip(questions, ok))


def test_the_offline_fallback_runs_the_trained_model_exact_even_with_int8_on():
    from diffutron_demo.app.manager import DEMO_MODEL, ModelManager

    manager = ModelManager(requested="/nonexistent/model-folder", device="cpu", int8=True)
    banner = manager.load()
    assert manager.is_demo and manager.lm.name == DEMO_MODEL
    assert manager.lm.dtype == "float32" and "int8" not in banner
    assert "trained here" in banner
