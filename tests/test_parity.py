"""Token-for-token parity with an independent implementation of the dllm reference.

Temperature 0, float32, four seeded random tiny checkpoints (plain, sharp, stop-prone,
mask-prone), 160 random settings covering
steps, lengths, block lengths that don't divide the length, penalties, CFG, both remasking
modes, chat template and raw text. Every final canvas must be equal.
"""

import random

import pytest
import torch

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.sampler import decode_reply, generate
from diffutron_demo.settings import SamplerSettings
from tests.dllm_reference import reference_decode_trim, reference_generate, reference_prompt_ids

PROMPTS = [
    "Türkiye'nin başkenti neresidir?",
    "Merhaba! Nasılsın?",
    "Bana kısa bir şiir yaz.",
    "İstanbul",
    "a",
    "Bir, iki, üç, dört, beş, altı, yedi",
]
CASES_PER_CHECKPOINT = 40


def random_settings(rng: random.Random) -> SamplerSettings:
    return SamplerSettings(
        steps=rng.randint(1, 64),
        max_new_tokens=rng.randint(1, 64),
        block_length=rng.choice([rng.randint(1, 64), rng.randint(1, 8)]),
        temperature=0.0,
        repetition_penalty=rng.choice([1.0, round(rng.uniform(1.0, 1.5), 3)]),
        remasking=rng.choice(["low_confidence", "random"]),
        cfg_scale=rng.choice([0.0, 0.0, round(rng.uniform(0.1, 3.0), 2)]),
    )


def check_case(models, which, case):
    """Run one random case through both implementations; return our trajectory."""
    lm = models[which]
    rng = random.Random(1000 * which + case)
    settings = random_settings(rng)
    question = rng.choice(PROMPTS)
    raw = rng.random() < 0.3
    seed = rng.randint(0, 2**31)

    prompt = build_prompt(lm.tokenizer, question, raw=raw, max_new_tokens=settings.max_new_tokens,
                          context_window=lm.context_window)
    assert prompt.ids == reference_prompt_ids(lm.tokenizer, question, chat=not raw)

    ours = generate(lm, prompt.ids, settings, seed=seed)
    theirs, _ = reference_generate(
        lm.model, lm.tokenizer, prompt.ids, generator=torch.Generator().manual_seed(seed),
        **{k: getattr(settings, k) for k in ("steps", "max_new_tokens", "block_length", "temperature",
                                              "repetition_penalty", "remasking", "stochastic_transfer",
                                              "cfg_scale")},
    )
    assert ours.final_ids == theirs, f"settings={settings} raw={raw} prompt={question!r}"
    assert ours.reply == reference_decode_trim(lm.tokenizer, theirs, len(prompt.ids))
    assert ours.reply == decode_reply(lm.tokenizer, theirs, len(prompt.ids))
    return ours


@pytest.mark.parametrize("which", [0, 1, 2, 3])
@pytest.mark.parametrize("case", range(CASES_PER_CHECKPOINT))
def test_final_canvas_equals_reference(models, which, case):
    check_case(models, which, case)


def test_the_sweep_reaches_the_rare_paths(models):
    """The parity sweep is only as good as the paths it walks: the stop check must fire and the
    model must commit its own mask id in some cases."""
    seen = {"forced": 0, "mask_commit": 0, "multi_commit": 0, "cfg": 0, "random": 0}
    for which in range(4):
        for case in range(0, CASES_PER_CHECKPOINT, 4):
            traj = check_case(models, which, case)
            mask_id = models[which].mask_id
            seen["forced"] += any(st.forced for st in traj.steps)
            seen["mask_commit"] += any(
                c.token == mask_id and c.pos in st.committed for st in traj.steps for c in st.candidates
            )
            seen["multi_commit"] += any(len(st.committed) > 1 for st in traj.steps)
            seen["cfg"] += traj.settings["cfg_scale"] > 0
            seen["random"] += traj.settings["remasking"] == "random"
    assert all(count >= 2 for count in seen.values()), seen
