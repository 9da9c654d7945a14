"""``--limit N``: which questions a limited run takes (``runner.select``)."""

from __future__ import annotations

import random
from collections import Counter

from fvlm_eval.run.runner import select
from fvlm_eval.tasks import get_benchmark
from fvlm_eval.types import Media, Option, Question


def _questions(benchmark: str, field: str, sizes: dict[str, int], seed: int = 0) -> tuple[Question, ...]:
    questions = [
        Question(
            f"{category}/{i}",
            benchmark,
            Media("image", "x"),
            "q",
            (Option("A", "a"), Option("B", "b")),
            "A",
            f"{category}/{i}",
            fields=((field, category),),
        )  # fmt: skip
        for category, size in sizes.items()
        for i in range(size)
    ]
    random.Random(seed).shuffle(questions)
    return tuple(questions)


def test_a_limited_run_keeps_the_benchmarks_proportions_and_every_category():
    """Round-robin took categories equally: ScienceQA's language science (44 of its 2,017 questions, 2.2%) made
    14.7% of --limit 300, so a limited run's pooled accuracy was a reweighted mix, not the benchmark's."""
    sizes = {"natural science": 1209, "social science": 764, "language science": 44}
    questions = _questions("scienceqa", "subject", sizes)
    benchmark = get_benchmark("scienceqa")
    for limit in (100, 300, 1000):
        taken = Counter(q.field_dict()["subject"] for q in select(questions, benchmark, limit))
        assert sum(taken.values()) == limit
        for category, size in sizes.items():  # within one question of its share, and at least one
            assert max(1, limit * size / 2017 - 1) <= taken[category] <= limit * size / 2017 + 1.01
    assert {q.field_dict()["subject"] for q in select(questions, benchmark, 3)} == set(sizes)  # one of each first
    assert select(questions, benchmark, 300) == select(questions, benchmark, 300)  # the same N every time


def test_equal_categories_are_taken_round_robin_as_before():
    """MVBench's 20 tasks of 200: a limited run takes what it took before (regress baselines stay comparable)."""
    questions = _questions("mvbench", "task", {f"task{t}": 200 for t in range(20)}, seed=1)
    seen: Counter[str] = Counter()
    ranked = []
    for order, question in enumerate(questions):
        ranked.append((seen[question.field_dict()["task"]], order, question))
        seen[question.field_dict()["task"]] += 1
    round_robin = [q for *_, q in sorted(ranked, key=lambda item: item[:2])]
    for limit in (7, 20, 205, 999):
        assert select(questions, get_benchmark("mvbench"), limit) == round_robin[:limit]
