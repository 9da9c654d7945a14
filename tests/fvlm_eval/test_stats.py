"""Statistics on hand-computed cases."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest

from fvlm_eval.stats import (above_chance_p, accuracy, chance_accuracy, clustered_stderr, letter_bias, mcnemar_exact,
                             paired_bootstrap)


@pytest.mark.parametrize("b,c,expected", [
    (0, 0, 1.0),
    (1, 0, 1.0),
    (0, 5, 2 / 32),            # 2 * 0.5^5
    (2, 8, 2 * (1 + 10 + 45) / 1024),
    (10, 10, 1.0),
])
def test_mcnemar_exact_on_known_tables(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected)


def test_clustered_stderr_reduces_to_the_sample_stderr_with_singleton_clusters():
    values = [1, 0, 1, 1, 0, 1, 0, 1]
    expected = np.std(values, ddof=1) / math.sqrt(len(values))
    assert clustered_stderr(values, [str(i) for i in range(8)]) == pytest.approx(expected)


def test_clustered_stderr_by_hand():
    # clusters {1,1,1} and {0,0,0}: mean .5, residual sums +1.5 and -1.5; var = 2/1 * (2.25+2.25)/36 = 0.25
    assert clustered_stderr([1, 1, 1, 0, 0, 0], list("aaabbb")) == pytest.approx(0.5)
    assert accuracy([True, False], ["a", "b"]).as_dict()["accuracy"] == 0.5


def test_bootstrap_is_reproducible_by_seed_and_covers_the_truth():
    rng = np.random.default_rng(1)
    hits = 0
    for trial in range(40):
        base = rng.random(300) < 0.5
        current = np.where(rng.random(300) < 0.8, base, rng.random(300) < 0.5)  # same true accuracy
        groups = [str(i // 3) for i in range(300)]
        low, high = paired_bootstrap(list(base), list(current), groups, seed=trial, resamples=2000)
        assert (low, high) == paired_bootstrap(list(base), list(current), groups, seed=trial, resamples=2000)
        hits += low <= 0.0 <= high
    assert hits >= 34  # ~95% of 40


def test_chance_is_the_mean_of_one_over_the_options():
    assert chance_accuracy([4, 4, 2]) == pytest.approx((0.25 + 0.25 + 0.5) / 3)
    assert chance_accuracy([4, 0]) == pytest.approx(0.125)  # a question without options: no guess is right
    assert chance_accuracy([]) == 0.0


@pytest.mark.parametrize("correct, n, options", [(0, 5, 4), (3, 5, 4), (5, 5, 2), (12, 30, 4), (30, 30, 4)])
def test_above_chance_p_equals_the_binomial_tail(correct, n, options):
    p = 1 / options
    tail = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(correct, n + 1))
    assert above_chance_p(correct, [options] * n) == pytest.approx(tail)


def test_above_chance_p_with_mixed_option_counts_by_enumeration():
    counts = [2, 3, 4, 5]
    for correct in range(5):
        exact = 0.0
        for outcome in product([0, 1], repeat=4):
            if sum(outcome) >= correct:
                exact += math.prod(1 / c if o else 1 - 1 / c for o, c in zip(outcome, counts))
        assert above_chance_p(correct, counts) == pytest.approx(exact)


def test_letter_bias_counts_and_the_best_constant_guess():
    bias = letter_bias(["A", "A", "B", None], ["A", "B", "B", "C"], [("A", "B", "C")] * 4)
    assert bias["predicted"] == {"A": 2, "B": 1, "none": 1}
    assert bias["gold"] == {"A": 1, "B": 2, "C": 1}
    assert bias["best_constant"] == {"letter": "B", "accuracy": 0.5}
