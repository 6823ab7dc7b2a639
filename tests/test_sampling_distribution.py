"""At temperature > 0 the sampler's random stream differs from dllm's, but its distribution must
not (sampler-contract.md §1): the committed token ~ softmax(processed logits / T), and the
recorded confidence is the temperature-free probability (dllm-reference §4.7).
"""

import math

import pytest
import torch

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.sampler import Run
from diffutron_demo.settings import SamplerSettings

SEEDS = {"t1": 2500, "t05": 2500, "t07_pen_cfg": 1500}  # ~2 ms a run
ALPHA = 1e-3


# ------------------------------------------------------------------ chi-square, no scipy


def _upper_gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) (series / Lentz continued fraction)."""
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= x / n
            total += term
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return math.exp(log_front) * h


def chi_square_p(counts: dict[int, int], probs: torch.Tensor, n: int) -> tuple[float, int]:
    """Goodness of fit of `counts` to `probs`; tokens expected fewer than 5 times share one bin."""
    expected = probs.double() * n
    big = (expected >= 5).nonzero().flatten().tolist()
    big_set = set(big)
    stat = sum((counts.get(t, 0) - float(expected[t])) ** 2 / float(expected[t]) for t in big)
    rest_exp = n - float(expected[big].sum())
    rest_obs = n - sum(counts.get(t, 0) for t in big_set)
    bins = len(big)
    if rest_exp >= 5:
        stat += (rest_obs - rest_exp) ** 2 / rest_exp
        bins += 1
    df = bins - 1
    return _upper_gamma_q(df / 2, stat / 2), df


def test_chi_square_helper_matches_known_values():
    assert _upper_gamma_q(1, 3.0) == pytest.approx(math.exp(-3.0), rel=1e-10)  # chi2 df=2: e^(-x/2)
    assert _upper_gamma_q(0.5, 10.828 / 2) == pytest.approx(0.001, rel=1e-3)  # df=1 critical value
    assert _upper_gamma_q(50, 149.449 / 2) == pytest.approx(0.001, rel=2e-3)  # df=100
    assert _upper_gamma_q(5, 2.0) == pytest.approx(0.9473469826562889, rel=1e-9)


# ------------------------------------------------------------------ the sampler


def processed_logits(lm, ids, settings) -> torch.Tensor:
    """Row P's logits from a fresh full forward: CFG, then the presence penalty (float64)."""
    canvas = ids + [lm.mask_id]
    x = torch.tensor([canvas])
    with torch.inference_mode():
        logits = lm.model(input_ids=x).logits[0, len(ids)].double()
        if settings.cfg_scale > 0:
            un_x = x.clone()
            un_x[0, : len(ids)] = lm.mask_id
            un = lm.model(input_ids=un_x).logits[0, len(ids)].double()
            logits = un + (settings.cfg_scale + 1) * (logits - un)
    logits = logits.clone()  # a normal tensor again, for the in-place penalty
    theta = settings.repetition_penalty
    if theta != 1.0:
        present = sorted(set(canvas) - {lm.mask_id, lm.eos_id})
        cols = logits[present]
        logits[present] = torch.where(cols > 0, cols / theta, cols * theta)
    return logits


def sample(lm, ids, settings, seeds):
    counts, confs = {}, {}
    P = len(ids)
    for seed in range(seeds):
        run = Run(lm, ids, settings, seed)
        steps = list(run)
        assert len(steps) == 1 and steps[0].committed == [P]
        (cand,) = steps[0].candidates
        counts[cand.token] = counts.get(cand.token, 0) + 1
        confs.setdefault(cand.token, set()).add(cand.conf)
    return counts, confs


ONE = dict(steps=1, max_new_tokens=1, block_length=1)
# name -> (checkpoint, prompt, raw, settings). The last case puts the stop-prone checkpoint's
# favourite tokens "<s>"/"</s>" (ids 600/601, logit bias +2.5) in the prompt, so the presence
# penalty moves a lot of probability: the penalty and CFG act before sampling (§4.6).
CASES = {
    "t1": (1, "Merhaba! Nasılsın?", False, SamplerSettings(**ONE, temperature=1.0, repetition_penalty=1.0)),
    "t05": (1, "Merhaba! Nasılsın?", False, SamplerSettings(**ONE, temperature=0.5, repetition_penalty=1.0)),
    "t07_pen_cfg": (2, "merhaba <s> dünya </s>", True,
                    SamplerSettings(**ONE, temperature=0.7, repetition_penalty=2.0, cfg_scale=1.0)),
}


@pytest.fixture(scope="module")
def samples(models):
    out = {}
    for name, (which, question, raw, settings) in CASES.items():
        lm = models[which]
        ids = build_prompt(lm.tokenizer, question, raw=raw, max_new_tokens=1, context_window=256).ids
        out[name] = (lm, ids, *sample(lm, ids, settings, SEEDS[name]))
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_committed_token_follows_softmax_over_temperature(samples, name):
    which, settings = CASES[name][0], CASES[name][3]
    lm, ids, counts, _ = samples[name]
    probs = torch.softmax(processed_logits(lm, ids, settings) / settings.temperature, dim=-1)
    p, df = chi_square_p(counts, probs, SEEDS[name])
    # t1/t05: a spread-out distribution, many bins. The stop-prone model is flat apart from its
    # two favourites, so at 1,500 draws its bins are "<s>", "</s>" and the pooled rest.
    assert df >= (20 if which == 1 else 2)
    assert p > ALPHA, (p, df)


def test_the_fit_has_power(samples):
    # The same samples against a wrong distribution must be rejected, so a sampler that ignored
    # the temperature or the penalty would fail the test above. (CFG is in the mix but can't be
    # told apart here: a random tiny model barely looks at its prompt.)
    lm, ids, counts, _ = samples["t05"]
    logits = processed_logits(lm, ids, CASES["t05"][3])
    assert chi_square_p(counts, torch.softmax(logits, dim=-1), SEEDS["t05"])[0] < 1e-9  # T ignored
    lm, ids, counts, _ = samples["t1"]
    assert chi_square_p(counts, torch.softmax(logits / 0.5, dim=-1), SEEDS["t1"])[0] < 1e-9
    lm, ids, counts, _ = samples["t07_pen_cfg"]
    settings = CASES["t07_pen_cfg"][3]
    wrong = settings.with_changes(repetition_penalty=1.0)
    probs = torch.softmax(processed_logits(lm, ids, wrong) / 0.7, dim=-1)
    assert chi_square_p(counts, probs, SEEDS["t07_pen_cfg"])[0] < 1e-9


@pytest.mark.parametrize("name", list(CASES))
def test_recorded_conf_is_the_temperature_free_probability(samples, name):
    settings = CASES[name][3]
    lm, ids, _, confs = samples[name]
    logits = processed_logits(lm, ids, settings)
    free = torch.softmax(logits, dim=-1)
    scaled = torch.softmax(logits / settings.temperature, dim=-1)
    differs = 0
    for token, values in confs.items():
        for conf in values:
            assert conf == pytest.approx(float(free[token]), abs=1e-6)
        differs += abs(float(scaled[token]) - float(free[token])) > 1e-4
    if settings.temperature != 1.0:
        assert differs > 10  # the check can tell the two apart
