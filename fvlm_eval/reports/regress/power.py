"""What the gate could detect: the smallest true drop it catches ``POWER`` of the time, and how many questions would
bring the test's own detectable drop down to ``--max-drop`` (said with exit 5). Both rest on the change's standard
error at the upper confidence bound of its spread (``stats.spread_widening``), never on the estimate alone: read
from a few changed videos, that estimate is often low and the power claimed on it flattered the gate."""

from __future__ import annotations

import math
from statistics import NormalDist

from fvlm_eval.stats import PairedTest, spread_widening, upper_floor, z_one_sided


def gate_detectable(stderr: float, max_drop: float, alpha: float, power: float = 0.8) -> float:
    """The smallest true drop that a gate failing on an observed drop beyond ``max_drop`` *and* a one-sided p below
    ``alpha`` catches ``power`` of the time (normal approximation; ``stderr`` and ``max_drop`` in one unit): the
    estimate must fall below both -max_drop and -z_{1-alpha} SE, so max(max_drop, z_{1-alpha} SE) + z_power SE. The
    p-value's own (z_{1-alpha} + z_power) SE is smaller when max_drop is larger: such a drop passes most such gates."""
    if not math.isfinite(stderr):
        return math.inf
    return max(max_drop, z_one_sided(alpha) * stderr) + NormalDist().inv_cdf(power) * stderr


NEEDED_AT_MOST = 10**12  # past it no number of questions is a practical answer (``None``, said so)


def questions_needed(test: PairedTest, max_drop: float) -> int | None:
    """About how many paired questions would bring the test's detectable drop down to ``max_drop`` (a fraction),
    with the same discordance and questions per video: the smallest n' (at least n) with z * max(sqrt(spread *
    w(df n' / n) / n'), upper_floor * n / n') <= max_drop, w the spread's widening at n'
    (more questions, more changed videos: a narrower bound). ``None`` when no size can (``max_drop`` 0, nothing
    paired) or none up to ``NEEDED_AT_MOST`` does."""
    if max_drop <= 0 or test.n == 0:
        return None
    by_floor = upper_floor(test.n, test.clusters) * test.n * test.z / max_drop  # the floor's SE at n' is c / n'
    if not by_floor <= NEEDED_AT_MOST:
        return None

    def enough(size: int) -> bool:  # z sqrt(spread w / size) <= max_drop, kept clear of under- and overflow
        widening = spread_widening(test.spread_df * size / test.n) if test.spread > 0 else 0.0
        return test.z * math.sqrt(test.spread * widening) / max_drop <= math.sqrt(size)

    low = max(test.n, math.ceil(by_floor))
    high = low
    while not enough(high):  # the widening shrinks with size, and is infinite below about 0.2 degrees of freedom
        if high > NEEDED_AT_MOST:
            return None
        low, high = high + 1, 2 * high
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle + 1, high)
    return low
