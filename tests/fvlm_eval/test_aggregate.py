"""A benchmark whose official score is the mean of its categories' accuracies (MLVU's rule): the estimate,
its interval, chance and exact p-value, by hand and by enumeration; and a summary that uses it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import product
from typing import ClassVar

import pytest

from fvlm_eval.aggregate import category_mean, category_mean_accuracy, category_mean_chance_p
from fvlm_eval.stats import above_chance_p, accuracy
from fvlm_eval.summarize import summarize_records
from fvlm_eval.tasks.base import Aggregation, Benchmark
from tests.fvlm_eval.constructed import record


def test_the_mean_of_categories_by_hand_and_pooled_when_there_is_one_category():
    correct = [True, True, True, False] + [False, False]  # a: 3 of 4, b: 0 of 2
    found = category_mean_accuracy(correct, [f"v{i}" for i in range(6)], ["a"] * 4 + ["b"] * 2)
    assert found.accuracy == pytest.approx((0.75 + 0.0) / 2) and (found.correct, found.n) == (3, 6)
    low, high = found.interval
    assert 0 <= low < found.accuracy < high <= 1
    groups = [f"v{i // 3}" for i in range(30)]
    one = [i % 3 != 0 for i in range(30)]
    mean, pooled = category_mean_accuracy(one, groups, ["x"] * 30), accuracy(one, groups)  # one category: pooled
    assert (mean.correct, mean.n, mean.accuracy) == (pooled.correct, pooled.n, pooled.accuracy)
    assert mean.stderr == pytest.approx(pooled.stderr, abs=1e-12) and mean.interval == pytest.approx(pooled.interval)
    groups = [f"v{i // 3}" for i in range(29)] + ["v0"]
    one[-1] = False
    mean, pooled = category_mean_accuracy(one, groups, ["x"] * 30), accuracy(one, groups)
    assert mean.stderr == pytest.approx(pooled.stderr) and mean.interval == pytest.approx(pooled.interval)
    assert category_mean([1.0, 0.0, 0.0, 0.5], ["a", "a", "b", "b"]) == pytest.approx((0.5 + 0.25) / 2)


def test_one_video_counts_once_and_no_interval_is_zero_wide():
    found = category_mean_accuracy([True] * 4, ["v"] * 4, ["a", "a", "b", "b"])
    assert found.interval[1] - found.interval[0] > 0.5  # all on one video: as one question
    for correct in ([True] * 6, [False] * 6, [True, False] * 3):
        low, high = category_mean_accuracy(correct, [f"v{i}" for i in range(6)], list("aabbbc")).interval
        assert 0.0 <= low < high <= 1.0


def test_the_p_value_is_the_exact_law_of_the_mean_by_enumeration():
    counts, categories = [2, 3, 4, 2, 3], ["a", "a", "b", "b", "b"]
    groups = [str(i) for i in range(5)]

    def mean(outcome):
        return category_mean_accuracy(list(outcome), groups, categories).accuracy

    for observed in product([False, True], repeat=5):
        exact = sum(
            math.prod(1 / c if x else 1 - 1 / c for x, c in zip(outcome, counts))
            for outcome in product([False, True], repeat=5)
            if mean(outcome) >= mean(observed) - 1e-12
        )
        assert category_mean_chance_p(list(observed), counts, categories) == pytest.approx(exact, abs=1e-12)
    same = [True, False, True, True]
    assert category_mean_chance_p(same, [4] * 4, ["x"] * 4) == pytest.approx(above_chance_p(3, [4] * 4))


def test_on_a_grid_the_p_value_is_conservative_never_smaller(monkeypatch):
    """Category sizes whose common multiple is too large for the grid: each accuracy rounded up, the p-value
    can only grow, and only a little (exact here on a grid as fine as the sizes' common multiple)."""
    from fvlm_eval import aggregate

    sizes = (31, 29, 23)  # their common multiple, 20677, is past the grid
    categories = [c for c, size in zip("abc", sizes) for _ in range(size)]
    counts = [4] * len(categories)
    for every in (3, 4):
        correct = [i % every == 0 for i in range(len(categories))]
        coarse = category_mean_chance_p(correct, counts, categories)
        monkeypatch.setattr(aggregate, "GRID", math.lcm(*sizes))
        exact = category_mean_chance_p(correct, counts, categories)
        monkeypatch.undo()
        assert exact <= coarse <= exact * 1.5 + 1e-12 and 0.0 < exact < 1.0


@dataclass
class ByCategory(Benchmark):
    """A benchmark whose official score is the mean of its durations' accuracies (as MLVU's is of its tasks')."""

    name: str = "videomme"  # the constructed records' benchmark
    breakdowns: tuple[str, ...] = ("duration",)
    category_field: str = "duration"
    main_breakdown: str = "duration"
    aggregation: ClassVar[Aggregation] = "category_mean"

    def expected(self) -> dict[str, int]:
        return {"short": 3, "long": 9}


def test_a_category_mean_benchmark_gets_that_mean_as_its_overall_number_with_its_own_chance_and_test():
    records = [replace(record(i, i < 3, f"v{i}"), fields={"duration": "short"}) for i in range(3)]  # 3 of 3
    records += [replace(record(10 + i, i < 1, f"w{i}"), fields={"duration": "long"}) for i in range(9)]  # 1 of 9
    summary = summarize_records(ByCategory(), "m", records, len(records))
    result = summary.accuracy["reference"]
    assert summary.aggregation == "category_mean" and summary.to_json()["aggregation"] == "category_mean"
    assert result.accuracy == pytest.approx((1.0 + 1 / 9) / 2) and (result.correct, result.n) == (4, 12)
    assert result.pooled.accuracy == pytest.approx(4 / 12) and result.to_json()["pooled"]["accuracy"] == 4 / 12
    assert result.chance == pytest.approx(0.25)
    correct = [r.correct["reference"] for r in records]
    durations = [r.fields["duration"] for r in records]
    assert result.above_chance_p == pytest.approx(category_mean_chance_p(correct, [4] * 12, durations))
    assert result.above_chance_p != pytest.approx(above_chance_p(4, [4] * 12))  # not the pooled test
    assert summarize_records(_Pooled(), "m", records, len(records)).accuracy["reference"].accuracy == 4 / 12


@dataclass
class _Pooled(ByCategory):
    aggregation: ClassVar[Aggregation] = "pooled"
