"""A benchmark's overall score when its official rule is the mean of its categories' accuracies
(``Benchmark.aggregation == "category_mean"``, as MLVU's M-Avg is): the estimate, its interval, its
chance level and the exact p-value above chance, each for that mean, not for the pooled accuracy.

The estimate is a weighted mean of the questions, each weighing 1 / (categories x questions in its
category). Its standard error is clustered by video (CR1, each question's residual taken from its
own category's accuracy); the 95% interval is a Wilson interval on the effective number of
questions: Kish's for these weights (categories^2 / sum of 1 / questions per category), divided by
the design effect (clustered over binomial variance, at least 1; all of them as one when every
question is on one video; each video as one question, by its weight, at an estimate of 0 or 1). With
one category it is the pooled accuracy, exactly.

Chance: the mean over categories of each category's chance. The p-value is exact in law for
independent questions and conservative by at most ``1 / GRID`` of a category's accuracy: under chance
each category's count right is a Poisson-binomial law; each category's accuracy is put on a grid of
``GRID`` steps, rounded up (exact when every category's size divides the grid), and the categories'
laws convolved. Where questions share videos, the summary also tests on the effective sample
(``stats.clustered_chance_p``) and keeps the larger p-value.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from fvlm_eval.stats import Accuracy, binomial_pmf, effective_clusters, guess_chances

GRID = 4096  # steps of a category's accuracy on the p-value's grid (exact when each size divides it)


def _by_category(values: list, categories: list[str]) -> dict[str, list]:
    found: dict[str, list] = {}
    for value, category in zip(values, categories):
        found.setdefault(category, []).append(value)
    return found


def category_mean_accuracy(correct: list[bool], groups: list[str], categories: list[str]) -> Accuracy:
    """The mean of the categories' accuracies, with its clustered standard error and design effect
    (see the module docstring); ``correct`` and ``n`` stay the pooled counts."""
    n = len(correct)
    if not n:
        return Accuracy(0, 0, 0.0, 0.0)
    sizes = Counter(categories)
    rates = {c: sum(v) / len(v) for c, v in _by_category([float(x) for x in correct], categories).items()}
    count = len(sizes)
    estimate = sum(rates.values()) / count
    weights = [1.0 / (count * sizes[c]) for c in categories]
    sums: dict[str, float] = {}
    for weight, value, category, group in zip(weights, correct, categories, groups):
        sums[group] = sums.get(group, 0.0) + weight * (float(value) - rates[category])
    clusters = len(sums)
    variance = clusters / (clusters - 1) * sum(s * s for s in sums.values()) if clusters > 1 else 0.0
    stderr = math.sqrt(variance)
    kish = count * count / sum(1.0 / size for size in sizes.values())
    if n <= 1:
        effect = 1.0
    elif clusters < 2:
        effect = float(n)  # every question on one video: they count as one
    elif 0.0 < estimate < 1.0:
        binomial = estimate * (1 - estimate) / kish
        effect = max(1.0, variance / binomial) * n / kish
    else:  # every video answered alike, as stats.design_effect reads it: each video as one question
        weights_of: dict[str, float] = {}
        for weight, group in zip(weights, groups):
            weights_of[group] = weights_of.get(group, 0.0) + weight
        effect = n * sum(w * w for w in weights_of.values())
    return Accuracy(
        int(sum(correct)), n, estimate, stderr, max(1.0, effect), effective_clusters(list(Counter(groups).values()))
    )


def category_mean(values: list[float], categories: list[str]) -> float:
    """The mean over categories of the mean of ``values`` in each (0 for none): e.g. the chance level,
    with ``values`` one over each question's number of options."""
    per = _by_category(values, categories)
    return sum(sum(v) / len(v) for v in per.values()) / len(per) if per else 0.0


def _count_law(chances: list[float]) -> np.ndarray:
    """P(k right) under chance for questions a guess gets right with these probabilities (one binomial
    per distinct chance, convolved)."""
    law = np.array([1.0])
    for chance, number in sorted(Counter(chances).items()):
        law = np.convolve(law, binomial_pmf(number, chance))
    return law


def category_mean_chance_p(
    correct: list[bool], option_counts: list[int], categories: list[str], right_counts: list[int] | None = None
) -> float:
    """One-sided p-value that the mean of the categories' accuracies is no better than guessing (see the
    module docstring); ``right_counts`` as ``stats.guess_chances`` takes them."""
    counts = _by_category(guess_chances(option_counts, right_counts), categories)
    rights = _by_category([bool(x) for x in correct], categories)
    sizes = {c: len(v) for c, v in counts.items()}
    grid = math.lcm(*sizes.values()) if sizes else 1
    grid = grid if grid <= GRID else GRID
    total = np.array([1.0])  # total[s]: P(sum over categories of ceil(grid * right / size) == s)
    observed = 0.0
    for category, chances in counts.items():
        size = sizes[category]
        widened = np.zeros(len(total) + grid)
        for k, probability in enumerate(_count_law(chances)):  # a sparse convolution: size + 1 steps
            if probability > 0:
                step = math.ceil(grid * k / size - 1e-9)
                widened[step : step + len(total)] += probability * total
        total = widened
        observed += grid * sum(rights[category]) / size
    start = math.ceil(observed - 1e-9 * max(1.0, observed))
    return float(min(1.0, max(0.0, total[start:].sum()))) if start < len(total) else 0.0


__all__ = ["category_mean", "category_mean_accuracy", "category_mean_chance_p"]
