"""The distribution functions, against published tables; and the clustered interval that uses Student's t."""

from __future__ import annotations

import numpy as np
import pytest

from fvlm_eval.distributions import t_quantile
from fvlm_eval.stats import Z95, accuracy, wilson_interval


@pytest.mark.parametrize("df, table", [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042), (120, 1.980)])
def test_t_quantile_matches_the_table(df, table):
    assert t_quantile(0.975, df) == pytest.approx(table, abs=5e-4)
    assert t_quantile(0.975, 1e7) == pytest.approx(Z95, abs=1e-9)


def test_an_interval_over_few_videos_uses_t_and_covers_about_95_percent():
    """CR1 with 1.96 covered 74% of the time on 3 videos of unequal sizes (questions on one video move
    together): the interval uses t on the effective number of videos less one. One question per video: Wilson."""
    alone = accuracy([True, False, True, True], ["a", "b", "c", "d"])
    assert alone.interval == wilson_interval(0.75, 4 / alone.design_effect)
    rng = np.random.default_rng(0)
    covered, runs = 0, 1500
    for _ in range(runs):
        sizes = rng.integers(1, 31, size=3)
        right, groups = [], []
        for video, size in enumerate(sizes):
            shared = rng.random() < 0.25
            right += list(np.where(rng.random(size) < 0.5, shared, rng.random(size) < 0.25))
            groups += [f"v{video}"] * size
        low, high = accuracy([bool(r) for r in right], groups).interval
        covered += low <= 0.25 <= high
    assert covered / runs >= 0.95  # 1.96 in place of t: 74%


def test_a_t_quantile_asked_again_is_not_bisected_again(monkeypatch):
    """A report asks for the same few t quantiles thousands of times (every protocol and category of a benchmark
    clusters by the same videos): each was a fresh 100-step bisection of the incomplete beta function, 19 s of one
    full checkpoint's report. The second ask now reads the first's answer."""
    import fvlm_eval.distributions as distributions

    first = t_quantile(0.975, 17.25)
    asked: list[float] = []
    tail = distributions.t_upper_p
    monkeypatch.setattr(distributions, "t_upper_p", lambda t, df: asked.append(df) or tail(t, df))
    assert t_quantile(0.975, 17.25) == first and asked == []
