"""Batched stepping (the GPU path, checked here on a CPU): runs of different canvas lengths share one
padded, masked encoder pass per step and give the same tokens as each run alone, at temperature 0
in fp32; a sweep's rows don't depend on the batch size."""

from __future__ import annotations

import dataclasses
import time

import pytest

from diffutron_demo.cli import main
from diffutron_demo.core.encoder import BucketedEncoder
from diffutron_demo.core.sampler import drive, start_run
from diffutron_demo.settings import SamplerSettings
from tests.helpers_sweep import content, sweep_args, write_inputs

QUESTIONS = ["Merhaba", "Türkiye'nin başkenti neresidir?",
             "Bana kısa bir şiir yazar mısın? Uzun olmasın lütfen.", "<mask> </s> İstanbul"]
SETTINGS = [
    SamplerSettings(steps=8, max_new_tokens=12, block_length=4, temperature=0.0),
    SamplerSettings(steps=6, max_new_tokens=12, block_length=12, temperature=0.0, cfg_scale=1.5),
    SamplerSettings(steps=12, max_new_tokens=12, block_length=6, temperature=0.0, remasking="threshold",
                    threshold=0.3, early_stop=True),
]


class CountingEncoder(BucketedEncoder):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = []

    def __call__(self, input_ids, lengths=None, attention_mask=None):
        self.calls.append((tuple(input_ids.shape), lengths))
        return super().__call__(input_ids, lengths, attention_mask=attention_mask)


def shared_encoder(lm):
    encoder = CountingEncoder(lm.model, lm.pad_id, compile_mode=None)
    return dataclasses.replace(lm, encoder=encoder), encoder


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("settings", SETTINGS, ids=["low_confidence", "cfg", "threshold"])
def test_batched_runs_of_different_lengths_give_the_same_tokens_as_each_alone(models, index, settings):
    """The same (bucketed) encoder one run at a time, and batched: only the batching differs.
    (Padding against the unpadded pass is test_encoder.py's; on random models it can flip 1e-8 ties.)"""
    alone_lm, _ = shared_encoder(models[index])
    alone = [start_run(alone_lm, q, settings, seed=7)[0].run_to_end() for q in QUESTIONS]
    lm, encoder = shared_encoder(models[index])
    runs = [start_run(lm, q, settings, seed=7)[0] for q in QUESTIONS]
    assert len({len(r.prompt_ids) for r in runs}) == len(QUESTIONS)  # all canvas lengths differ
    rounds = list(drive(runs, batched=True))
    for a, run in zip(alone, runs):
        b = run.trajectory()
        assert b.final_ids == a.final_ids
        assert [s.committed for s in b.steps] == [s.committed for s in a.steps]
    assert any(lengths is not None for _, lengths in encoder.calls), "rows of different lengths shared a pass"
    assert len(encoder.calls) == len(rounds) < sum(len(r.steps) for r in runs)


@pytest.mark.parametrize("index", range(4))
def test_batched_runs_of_one_shape_match_the_eager_pass(models, index):
    """Equal canvases (one prompt, several seeds) batch with no padding at all: the eager pass alone."""
    lm, settings = models[index], SETTINGS[1]
    alone = [start_run(lm, QUESTIONS[1], settings, seed=s)[0].run_to_end() for s in range(3)]
    runs = [start_run(lm, QUESTIONS[1], settings, seed=s)[0] for s in range(3)]
    rounds = list(drive(runs, batched=True))
    assert all(len(r) == 3 for r in rounds[:1])
    for a, run in zip(alone, runs):
        assert run.trajectory().final_ids == a.final_ids
        assert [s.committed for s in run.steps] == [s.committed for s in a.steps]


def test_unbatched_drive_keeps_runs_apart(models):
    lm, encoder = shared_encoder(models[0])
    runs = [start_run(lm, q, SETTINGS[0], seed=1)[0] for q in QUESTIONS[:2]]
    list(drive(runs, batched=False))
    assert all(lengths is None and shape[0] == 1 for shape, lengths in encoder.calls)
    assert len(encoder.calls) == sum(len(r.steps) for r in runs)


def test_a_shared_pass_is_charged_in_shares(models):
    """Each run's model time holds its share of a shared pass, so the runs' times add up to the pass's."""
    lm = models[0]
    slow_ms = 200

    def slow_encode(ids, lengths=None):
        time.sleep(slow_ms / 1000)
        return lm.model.model(input_ids=ids).last_hidden_state

    slow = dataclasses.replace(lm)
    slow.encode = slow_encode
    runs = [start_run(slow, "Merhaba", SETTINGS[0], seed=s)[0] for s in range(4)]  # one shape: one pass a round
    list(drive(runs, batched=True))
    steps = [s.forward_ms for run in runs for s in run.steps]
    assert all(slow_ms / 4 <= ms < slow_ms * 3 / 4 for ms in steps), steps


def test_sweep_rows_do_not_depend_on_the_batch_size(tiny_checkpoint, tmp_path):
    inputs = write_inputs(tmp_path)
    one, four = tmp_path / "b1", tmp_path / "b4"
    assert main(sweep_args(tiny_checkpoint, *inputs, one)) == 0
    assert main(sweep_args(tiny_checkpoint, *inputs, four, "--batch-size", "4")) == 0
    assert content(four) == content(one)
