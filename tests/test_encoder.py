"""The bucketed encoder (the GPU fast path's shapes): padding with a mask changes no real position."""

import dataclasses

import pytest
import torch

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.encoder import BucketedEncoder, EagerEncoder
from diffutron_demo.core.models import ModelLoadError, load_model
from diffutron_demo.core.sampler import Run
from diffutron_demo.app.service import Task, compare_runs
from diffutron_demo.settings import SamplerSettings


def padded(lm, buckets=(64, 128, 192, 256)):
    return dataclasses.replace(lm, encoder=BucketedEncoder(lm.model, lm.pad_id, buckets, compile_mode=None))


@pytest.mark.parametrize("length", [1, 5, 63, 64, 65, 130, 256])
@pytest.mark.parametrize("rows", [1, 2])
def test_real_positions_match_the_eager_pass(models, length, rows):
    lm = models[0]
    ids = torch.randint(5, 600, (rows, length), generator=torch.Generator().manual_seed(length))
    with torch.inference_mode():
        eager = EagerEncoder(lm.model)(ids)
        bucketed = BucketedEncoder(lm.model, lm.pad_id, compile_mode=None)(ids)
    assert bucketed.shape == eager.shape
    torch.testing.assert_close(bucketed, eager, atol=2e-5, rtol=1e-4)


def test_padding_is_really_masked(models):
    """Without the mask the pads would change the real positions: the test can tell."""
    lm = models[0]
    ids = torch.randint(5, 600, (1, 40), generator=torch.Generator().manual_seed(0))
    enc = BucketedEncoder(lm.model, lm.pad_id, compile_mode=None)
    unmasked = lm.model.model(input_ids=torch.nn.functional.pad(ids, (0, 24), value=lm.pad_id)).last_hidden_state
    with torch.inference_mode():
        eager = EagerEncoder(lm.model)(ids)
        assert not torch.allclose(unmasked[:, :40], eager, atol=1e-3)
        torch.testing.assert_close(enc(ids), eager, atol=2e-5, rtol=1e-4)


def test_longer_than_the_last_bucket_falls_back_to_eager(models):
    lm = models[0]
    enc = BucketedEncoder(lm.model, lm.pad_id, buckets=(16, 32), compile_mode=None)
    ids = torch.randint(5, 600, (1, 50), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        out = enc(ids)
    assert out.shape[1] == 50 and enc.bucket_for(50) is None
    assert set(enc.first_call_s) == set()  # no bucket was used
    with torch.inference_mode():
        enc(ids[:, :20])
    assert set(enc.first_call_s) == {(1, 32)}


@pytest.mark.parametrize("index", range(4))
def test_same_tokens_as_eager_at_temperature_zero(models, index):
    """Every tiny checkpoint (stop-check and mask-proposing ones included), with and without CFG."""
    lm = models[index]
    for n, settings in enumerate([
        SamplerSettings(temperature=0.0, steps=32, max_new_tokens=32, block_length=16),
        SamplerSettings(temperature=0.0, steps=24, max_new_tokens=48, block_length=16, cfg_scale=1.0),
        SamplerSettings(temperature=0.0, steps=20, max_new_tokens=40, block_length=40, repetition_penalty=1.3),
    ]):
        ids = build_prompt(lm.tokenizer, f"Soru {n}: başkent neresidir?", max_new_tokens=settings.max_new_tokens,
                           context_window=lm.context_window).ids
        eager = Run(lm, ids, settings, seed=n).run_to_end()
        fast = Run(padded(lm), ids, settings, seed=n).run_to_end()
        assert fast.final_ids == eager.final_ids
        assert [s.committed for s in fast.steps] == [s.committed for s in eager.steps]


def test_batched_compare_uses_the_encoder_and_matches(models):
    lm = padded(models[1])
    settings = [SamplerSettings(temperature=0.0, steps=16, max_new_tokens=32, block_length=16),
                SamplerSettings(temperature=0.0, steps=32, max_new_tokens=32, block_length=32)]
    *_, (runs, _) = compare_runs(lm, Task("Merhaba"), settings, seed=3, batched=True)
    alone = [Run(models[1], r.prompt_ids, s, seed=3).run_to_end().final_ids for r, s in zip(runs, settings)]
    assert [r.final_ids for r in runs] == alone
    assert (2, 64) in lm.encoder.first_call_s  # both canvases went through one padded pass


def test_int8_and_compile_together_are_refused(tiny_checkpoint):
    with pytest.raises(ModelLoadError, match="pick one"):
        load_model(str(tiny_checkpoint), device="cpu", int8=True, compile=True)


def test_a_failing_compile_falls_back_to_the_eager_pass(models):
    lm = models[0]
    enc = BucketedEncoder(lm.model, lm.pad_id, compile_mode=None)
    enc.compile_mode = "reduce-overhead"  # as if compiled, without paying for a compile here

    def broken(ids, mask):
        raise RuntimeError("no compiler on this machine")

    enc._forward = broken
    ids = torch.randint(5, 600, (1, 30), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        out = enc(ids)
        torch.testing.assert_close(out, EagerEncoder(lm.model)(ids))
    assert "no compiler" in enc.failed and enc.label == "eager (compile failed)"


def test_the_app_compiles_only_on_a_dedicated_gpu(tiny_checkpoint, monkeypatch):
    from diffutron_demo.app import main as app_main
    from diffutron_demo.app.manager import ModelManager

    manager = ModelManager(requested=str(tiny_checkpoint), device="cpu", dtype="float32", compile=True)
    manager.load()
    assert manager.lm.encoder is None and "compiled" not in manager.banner  # CUDA only
    assert app_main.parse_args(["--eager"]).eager and not app_main.parse_args([]).eager
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert app_main.zero_gpu()
    monkeypatch.delenv("SPACES_ZERO_GPU")
    assert not app_main.zero_gpu()
