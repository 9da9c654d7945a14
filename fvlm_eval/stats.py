"""Statistics over per-sample records: accuracy with clustered standard errors, paired tests.

Failed questions count as wrong (they stay in every denominator). Standard errors are
clustered by ``group`` (the video) because questions on one video are not independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Accuracy:
    correct: int
    n: int
    accuracy: float
    stderr: float

    @property
    def interval(self) -> tuple[float, float]:
        return max(0.0, self.accuracy - Z95 * self.stderr), min(1.0, self.accuracy + Z95 * self.stderr)

    def as_dict(self) -> dict:
        low, high = self.interval
        return {"accuracy": self.accuracy, "correct": self.correct, "n": self.n, "stderr": self.stderr,
                "ci95": [low, high]}


def clustered_stderr(values: list[float], groups: list[str]) -> float:
    """Standard error of the mean of ``values`` with clusters ``groups`` (CR1: G/(G-1) correction).

    With one value per cluster this is the usual sample standard error sqrt(s^2 / n).
    """
    n = len(values)
    if n < 2:
        return 0.0
    array = np.asarray(values, dtype=float)
    residual = array - array.mean()
    sums: dict[str, float] = {}
    for group, r in zip(groups, residual):
        sums[group] = sums.get(group, 0.0) + r
    n_groups = len(sums)
    if n_groups < 2:
        return 0.0
    variance = n_groups / (n_groups - 1) * sum(s * s for s in sums.values()) / (n * n)
    return math.sqrt(variance)


def accuracy(correct: list[bool], groups: list[str]) -> Accuracy:
    n = len(correct)
    hits = int(sum(correct))
    return Accuracy(hits, n, hits / n if n else 0.0, clustered_stderr([float(c) for c in correct], groups))


def mcnemar_exact(baseline_only: int, current_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (binomial, p = 1/2)."""
    n = baseline_only + current_only
    if n == 0:
        return 1.0
    k = min(baseline_only, current_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(baseline: list[bool], current: list[bool], groups: list[str], seed: int = 0,
                     resamples: int = 10_000) -> tuple[float, float]:
    """95% interval of accuracy(current) - accuracy(baseline), resampling clusters of paired questions."""
    if not baseline:
        return 0.0, 0.0
    diff = np.asarray(current, dtype=float) - np.asarray(baseline, dtype=float)
    names = list(dict.fromkeys(groups))
    index = {name: i for i, name in enumerate(names)}
    cluster_sum = np.zeros(len(names))
    cluster_size = np.zeros(len(names))
    for group, d in zip(groups, diff):
        cluster_sum[index[group]] += d
        cluster_size[index[group]] += 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    estimates = cluster_sum[draws].sum(axis=1) / cluster_size[draws].sum(axis=1)
    low, high = np.quantile(estimates, [0.025, 0.975])
    return float(low), float(high)


def chance_accuracy(option_counts: list[int]) -> float:
    """The expected accuracy of a uniform random guess: mean of 1/(number of options) (0 for a
    question without options, which no guess can get right)."""
    if not option_counts:
        return 0.0
    return sum(1.0 / n if n else 0.0 for n in option_counts) / len(option_counts)


def above_chance_p(correct: int, option_counts: list[int]) -> float:
    """One-sided exact p-value that ``correct`` right answers are no better than guessing.

    Under the null each question i is right with probability 1/n_i independently, so the number
    right follows a Poisson-binomial law (a binomial when every question has as many options):
    P(X >= correct), by exact convolution.
    """
    distribution = np.array([1.0])
    for n in option_counts:
        p = 1.0 / n if n else 0.0
        distribution = np.concatenate([distribution * (1 - p), [0.0]]) + np.concatenate([[0.0], distribution * p])
    return float(min(1.0, distribution[correct:].sum())) if correct < len(distribution) else 0.0


def letter_bias(preds: list[str | None], golds: list[str | None], letters: list[tuple[str, ...]]) -> dict:
    """Predicted and gold letters counted, and the best constant-letter guess on the same questions.

    A constant guess L is right on the questions whose gold is L (and wrong where L is not even
    an option). ``best_constant``: the letter that guess would do best with, and its accuracy.
    """
    predicted: dict[str, int] = {}
    gold: dict[str, int] = {}
    for pred, answer in zip(preds, golds):
        predicted[pred or "none"] = predicted.get(pred or "none", 0) + 1
        if answer:
            gold[answer] = gold.get(answer, 0) + 1
    n = len(golds)
    candidates = sorted({l for options in letters for l in options})
    best = max(candidates, key=lambda l: (gold.get(l, 0), -ord(l[0])), default=None)
    return {"predicted": dict(sorted(predicted.items())), "gold": dict(sorted(gold.items())),
            "best_constant": {"letter": best, "accuracy": gold.get(best, 0) / n if n and best else 0.0}}
