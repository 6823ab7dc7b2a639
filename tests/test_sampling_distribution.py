"""At temperature > 0 the sampler's random stream differs from dllm's, but its distribution must
not (sampler-contract.md §1): the committed token ~ softmax(processed logits / T), and the
recorded confidence is the temperature-free probability (dllm-reference §4.7).
"""

import math

import pytest
import torch

from diffutron_demo.chat import build_prompt
from diffutron_demo.models import load_model
from diffutron_demo.sampler import Run
from diffutron_demo.settings import SamplerSettings

SEEDS = {"t1": 3000, "t05": 3000, "t07_pen_cfg": 2000}
ALPHA = 1e-3


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Thousands of one-step runs of a tiny model: one thread avoids thread overhead.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sharp(tiny_checkpoints):
    return load_model(str(tiny_checkpoints[1]), device="cpu", dtype="float32")


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
        counts[cand["token"]] = counts.get(cand["token"], 0) + 1
        confs.setdefault(cand["token"], set()).add(cand["conf"])
    return counts, confs


CASES = {
    "t1": SamplerSettings(steps=1, max_new_tokens=1, block_length=1, temperature=1.0, repetition_penalty=1.0),
    "t05": SamplerSettings(steps=1, max_new_tokens=1, block_length=1, temperature=0.5, repetition_penalty=1.0),
    # the penalty and CFG come before sampling, so they shape the distribution too (§4.6)
    "t07_pen_cfg": SamplerSettings(steps=1, max_new_tokens=1, block_length=1, temperature=0.7,
                                   repetition_penalty=1.5, cfg_scale=0.5),
}


@pytest.fixture(scope="module")
def samples(sharp):
    ids = build_prompt(sharp.tokenizer, "Merhaba! Nasılsın?", max_new_tokens=1, context_window=256).ids
    return ids, {name: sample(sharp, ids, s, SEEDS[name]) for name, s in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_committed_token_follows_softmax_over_temperature(sharp, samples, name):
    ids, results = samples
    settings = CASES[name]
    counts, _ = results[name]
    logits = processed_logits(sharp, ids, settings)
    probs = torch.softmax(logits / settings.temperature, dim=-1)
    p, df = chi_square_p(counts, probs, SEEDS[name])
    assert df >= 20  # a spread-out distribution, so the test has many bins
    assert p > ALPHA, (p, df)
    # No token outside the support shows up, and the mode is not over-sampled as with argmax.
    top = int(probs.argmax())
    n = SEEDS[name]
    assert counts.get(top, 0) < n * float(probs[top]) + 6 * math.sqrt(n) + 10


def test_the_fit_has_power(sharp, samples):
    # The same samples against the wrong temperature must be rejected, so a sampler that ignored
    # the temperature (or sampled at T=1 always) would fail the test above.
    ids, results = samples
    logits = processed_logits(sharp, ids, CASES["t05"])
    p, _ = chi_square_p(results["t05"][0], torch.softmax(logits, dim=-1), SEEDS["t05"])
    assert p < 1e-9
    p, _ = chi_square_p(results["t1"][0], torch.softmax(logits / 0.5, dim=-1), SEEDS["t1"])
    assert p < 1e-9
    # Penalty and CFG ignored -> rejected too.
    plain = processed_logits(sharp, ids, CASES["t1"])
    p, _ = chi_square_p(results["t07_pen_cfg"][0], torch.softmax(plain / 0.7, dim=-1), SEEDS["t07_pen_cfg"])
    assert p < 1e-9


@pytest.mark.parametrize("name", list(CASES))
def test_recorded_conf_is_the_temperature_free_probability(sharp, samples, name):
    ids, results = samples
    settings = CASES[name]
    _, confs = results[name]
    logits = processed_logits(sharp, ids, settings)
    free = torch.softmax(logits, dim=-1)
    scaled = torch.softmax(logits / settings.temperature, dim=-1)
    differs = 0
    for token, values in confs.items():
        for conf in values:
            assert conf == pytest.approx(float(free[token]), abs=1e-6)
        differs += abs(float(scaled[token]) - float(free[token])) > 1e-4
    if settings.temperature != 1.0:
        assert differs > 10  # the check can tell the two apart
