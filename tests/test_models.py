"""Model loading (clear one-sentence errors, no hangs offline) and settings validation."""

import os
import time

import pytest
import torch

from diffutron_demo.core.checkpoints import build_tokenizer, tiny_config
from diffutron_demo.core.models import ModelLoadError, load_model
from diffutron_demo.settings import SamplerSettings, SettingsError

HANG_BOUND_S = 5.0  # a hang check, not a benchmark


def one_sentence(message: str) -> bool:
    body = message.strip()
    return "\n" not in body and body.endswith(".") and ". " not in body and "Traceback" not in body


# ------------------------------------------------------------------ load_model


def test_load_a_folder(tiny_checkpoint):
    lm = load_model(str(tiny_checkpoint), device="cpu")
    assert lm.device == "cpu"
    assert lm.dtype == "float32"  # bf16 on a CPU is several times slower
    assert all(p.dtype == torch.float32 for p in lm.model.parameters())
    assert not lm.model.training
    assert lm.mask_id == 4 and lm.pad_id == 0 and lm.eos_id == 1 and lm.bos_id == 2
    assert lm.name == tiny_checkpoint.name  # the folder's name only: no server path in pages or files
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([[5, 6, 4]])).logits
    assert logits.shape == (1, 3, len(lm.tokenizer)) and torch.isfinite(logits).all()


def test_explicit_dtype(tiny_checkpoint):
    lm = load_model(str(tiny_checkpoint), device="cpu", dtype="bfloat16")
    assert lm.dtype == "bfloat16" and next(lm.model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ModelLoadError) as info:
        load_model(str(tiny_checkpoint), device="cpu", dtype="float8")
    assert "float8" in str(info.value)


@pytest.mark.parametrize("name", ["nobody-here/no-such-model-xyz", "/nonexistent/diffutron/folder",
                                  "diffutron/DiffutronLM-0.3B-Instruct-typo"])
def test_missing_model_fails_fast_and_names_it(name):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by conftest: no network here
    started = time.monotonic()
    with pytest.raises(ModelLoadError) as info:
        load_model(name, device="cpu")
    assert time.monotonic() - started < HANG_BOUND_S
    assert name in str(info.value)
    assert one_sentence(str(info.value)), str(info.value)


def test_empty_folder(tmp_path):
    with pytest.raises(ModelLoadError) as info:
        load_model(str(tmp_path), device="cpu")
    assert str(tmp_path) in str(info.value) and one_sentence(str(info.value))


def test_causal_lm_folder_is_refused(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path / "gpt2"
    config = GPT2Config(vocab_size=600, n_embd=16, n_layer=1, n_head=2, n_positions=64,
                        bos_token_id=2, eos_token_id=1)
    GPT2LMHeadModel(config).save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    with pytest.raises(ModelLoadError) as info:
        load_model(str(folder), device="cpu")
    message = str(info.value)
    assert str(folder) in message and "gpt2" in message and "masked-LM" in message
    assert one_sentence(message), message


def test_headless_encoder_folder_is_refused(tmp_path):
    """A bare ModernBertModel (an embedding model: no MLM head) loads through
    AutoModelForMaskedLM with a freshly *random* head and decoder bias (transformers only logs
    "MISSING"); sampling from it gives noise. It must be refused like any head-less model."""
    from transformers import ModernBertModel

    folder = tmp_path / "encoder-only"
    ModernBertModel(tiny_config(600)).save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    with pytest.raises(ModelLoadError) as info:
        load_model(str(folder), device="cpu")
    assert str(folder) in str(info.value) and one_sentence(str(info.value))


def test_tokenizer_without_mask_is_refused(tmp_path, tiny_checkpoint):
    from transformers import AutoModelForMaskedLM, PreTrainedTokenizerFast

    folder = tmp_path / "nomask"
    AutoModelForMaskedLM.from_pretrained(tiny_checkpoint).save_pretrained(folder)
    tok = build_tokenizer()
    PreTrainedTokenizerFast(tokenizer_object=tok.backend_tokenizer, pad_token="<pad>",
                            eos_token="<eos>").save_pretrained(folder)
    with pytest.raises(ModelLoadError) as info:
        load_model(str(folder), device="cpu")
    assert "mask" in str(info.value) and one_sentence(str(info.value))


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    "value",
    [0, -1, -64, float("nan"), "nan", float("inf"), "-inf", "1e400", 10**9, 1025, 2.5, "2.5", "abc", "", True,
     [8]],
)
def test_bad_steps_are_refused_with_the_field(value):
    with pytest.raises(SettingsError) as info:
        SamplerSettings.from_dict({"steps": value})
    assert info.value.field == "steps"
    assert "Steps" in str(info.value)


def test_astronomically_large_steps():
    # A JSON body can carry any integer; float(10**400) overflows. Still a SettingsError.
    with pytest.raises(SettingsError) as info:
        SamplerSettings.from_dict({"steps": 10**400})
    assert info.value.field == "steps"


@pytest.mark.parametrize("field, value", [
    ("max_new_tokens", 0), ("block_length", -3), ("block_length", 4.5), ("temperature", -0.1),
    ("temperature", float("nan")), ("repetition_penalty", 0.5), ("cfg_scale", float("inf")),
    ("threshold", 0.0), ("factor", 0), ("stochastic_transfer", "maybe"), ("early_stop", 2),
])
def test_other_bad_values_name_their_field(field, value):
    with pytest.raises(SettingsError) as info:
        SamplerSettings.from_dict({field: value})
    assert info.value.field == field


@pytest.mark.parametrize("value", ["lowconf", "LOW_CONFIDENCE2", "", "entropy", 3])
def test_unknown_remasking(value):
    with pytest.raises(SettingsError) as info:
        SamplerSettings.from_dict({"remasking": value})
    assert info.value.field == "remasking"


@pytest.mark.parametrize("key", ["stepz", "top_k", "seed", ""])
def test_unknown_key(key):
    with pytest.raises(SettingsError) as info:
        SamplerSettings.from_dict({"steps": 8, key: 1})
    assert info.value.field == key
    assert repr(key)[1:-1] in str(info.value)


def test_good_values_are_coerced():
    s = SamplerSettings.from_dict({"steps": "12", "max_new_tokens": 32.0, "temperature": "0.5",
                                   "stochastic_transfer": "true", "remasking": " random ", "cfg_scale": None})
    assert (s.steps, s.max_new_tokens, s.temperature, s.stochastic_transfer, s.remasking, s.cfg_scale) == (
        12, 32, 0.5, True, "random", 0.0)
    assert isinstance(s.steps, int) and isinstance(s.max_new_tokens, int)
    assert SamplerSettings.from_dict({}) == SamplerSettings()
    assert SamplerSettings.from_dict({"steps": 1024}).steps == 1024  # the upper limit itself is fine
