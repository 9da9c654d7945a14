"""What the gate could detect: the smallest true drop it catches ``POWER`` of the time, and how many questions would
bring the test's own detectable drop down to ``--max-drop`` (said with exit 5). Both rest on the change's standard
error at the upper confidence bound of its spread (``stats.spread_widening``), never on the estimate alone: read
from a few changed videos, that estimate is often low and the power claimed on it flattered the gate."""

from __future__ import annotations

import math
from statistics import NormalDist

from fvlm_eval.stats import PairedTest, spread_widening


def gate_detectable(stderr: float, max_drop: float, alpha: float, power: float = 0.8) -> float:
    """The smallest true drop that a gate failing on an observed drop beyond ``max_drop`` *and* a one-sided p below
    ``alpha`` catches ``power`` of the time (normal approximation; ``stderr`` and ``max_drop`` in one unit): the
    estimate must fall below both -max_drop and -z_{1-alpha} SE, so max(max_drop, z_{1-alpha} SE) + z_power SE. The
    p-value's own (z_{1-alpha} + z_power) SE is smaller when max_drop is larger: such a drop passes most such gates."""
    if not math.isfinite(stderr):
        return math.inf
    return max(max_drop, -NormalDist().inv_cdf(alpha) * stderr) + NormalDist().inv_cdf(power) * stderr


def questions_needed(test: PairedTest, max_drop: float) -> int | None:
    """About how many paired questions would bring the test's detectable drop down to ``max_drop`` (a fraction),
    with the same discordance and questions per video: the smallest n' with z * max(sqrt(spread * w(df n' / n) /
    n'), sqrt(3) * (n / videos) / n') <= max_drop, w the spread's widening at n' (more questions, more changed
    videos: a narrower bound). ``None`` when no size can (``max_drop`` 0, or nothing paired)."""
    if max_drop <= 0 or test.n == 0:
        return None
    by_floor = math.ceil(math.sqrt(3.0) * (test.n / test.clusters) * test.z / max_drop)

    def enough(size: int) -> bool:
        widened = test.spread * spread_widening(test.spread_df * size / test.n)
        return test.z**2 * widened <= max_drop**2 * size

    by_spread = 0
    if test.spread > 0:  # the widening is at least 1 and shrinks with size: bisect between the two bounds
        low = max(1, math.ceil(test.z**2 * test.spread / max_drop**2))
        widening = spread_widening(test.spread_df * low / test.n)
        if not math.isfinite(widening):
            return None
        high = max(low, math.ceil(low * widening))
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if enough(middle) else (middle + 1, high)
        by_spread = low
    return max(test.n, by_floor, by_spread)
