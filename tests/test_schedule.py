"""Per-step transfer counts: `transfer_schedule` against dllm-reference §4.5 and the oracle."""

import pytest
import torch

from diffutron_demo.core.schedule import transfer_schedule
from tests.dllm_reference import reference_schedule


@pytest.mark.parametrize(
    "n, steps, expected",
    [
        # The reference doc's worked examples (§4.5); the float32 detour makes them differ
        # from exact rationals (5, 3 would be [2, 2, 1]).
        (5, 3, [2, 1, 2]),
        (10, 4, [2, 3, 2, 3]),
        (32, 25, [1] * 11 + [2, 1, 2, 1, 1, 2, 2, 1, 2, 1, 1, 2, 1, 2]),
        (50, 16, [3] * 12 + [4, 3, 4, 3]),
        (32, 32, [1] * 32),
        (32, 64, [1] * 32),  # zero steps are dropped (compaction)
        (18, 32, [1] * 18),
        (0, 4, []),
    ],
)
def test_worked_examples(n, steps, expected):
    assert transfer_schedule(n, steps) == expected


def test_not_the_llada_formula():
    # LLaDA spreads the remainder over the first steps: [3, 3, 2, 2]; dllm does not (§4.5).
    assert transfer_schedule(10, 4) != [3, 3, 2, 2]


@pytest.mark.parametrize("n", [1, 7, 31, 64])
def test_n_up_to_steps_is_all_ones(n):
    for steps in range(n, 65):
        assert transfer_schedule(n, steps) == [1] * n, (n, steps)


def test_matches_the_oracle_everywhere():
    # One test over the whole grid (4,160 pairs) keeps pytest's per-test overhead out of it.
    wrong = []
    for steps in range(1, 65):
        for n in range(0, 65):
            ours = transfer_schedule(n, steps)
            if ours != reference_schedule(n, steps):
                wrong.append((n, steps, ours, reference_schedule(n, steps)))
            # Invariants that hold whatever the rounding: the block empties, no zero steps,
            # never more steps than the budget.
            assert sum(ours) == n and all(c > 0 for c in ours) and len(ours) <= steps, (n, steps, ours)
    assert not wrong, wrong[:5]


def test_stochastic_sums_to_n_and_has_no_zero_steps():
    gen = torch.Generator().manual_seed(0)
    lengths = set()
    for steps in (1, 2, 3, 5, 8, 16, 32):
        for n in (0, 1, 2, 5, 17, 32, 50):
            for _ in range(20):
                counts = transfer_schedule(n, steps, gen)
                assert sum(counts) == n, (n, steps, counts)  # the last step has p = 1
                assert all(c > 0 for c in counts), (n, steps, counts)
                assert len(counts) <= steps
                if n == 32 and steps == 8:
                    lengths.add(len(counts))
    # It really is random: with Binomial counts the number of effective steps varies.
    assert len(lengths) > 1


def test_stochastic_is_seeded_and_binomial():
    a = [transfer_schedule(20, 4, torch.Generator().manual_seed(s)) for s in range(5)]
    b = [transfer_schedule(20, 4, torch.Generator().manual_seed(s)) for s in range(5)]
    assert a == b
    # The first count is Binomial(20, 1/4) (mean 5, sd of a 2,000-draw mean ~0.04); a zero
    # draw (0.3%) is dropped, which moves the mean of the first kept count up only slightly.
    gen = torch.Generator().manual_seed(1)
    firsts = [transfer_schedule(20, 4, gen)[0] for _ in range(2000)]
    mean = sum(firsts) / len(firsts)
    assert 4.85 < mean < 5.2, mean
