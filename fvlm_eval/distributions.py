"""The distribution functions the statistics need, without scipy: the regularized incomplete beta function
(the binomial and Student's t tails) and Student's t quantile."""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist


@lru_cache(maxsize=4096)
def t_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile (above 0.5) of Student's t with ``df`` degrees of freedom, by bisection
    on its upper tail (``t_upper_p``); the normal one for many degrees of freedom. Cached: a report asks for
    the same few (every protocol and category of a benchmark clusters by the same videos), and each bisection
    evaluates the incomplete beta function a hundred times."""
    if df > 1e6:
        return NormalDist().inv_cdf(probability)
    low, high = 0.0, 1.0
    while t_upper_p(high, df) > 1.0 - probability:
        high *= 2.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if t_upper_p(middle, df) > 1.0 - probability else (low, middle)
    return (low + high) / 2


def t_upper_p(t: float, df: float) -> float:
    """P(T >= t) for Student's t with ``df`` degrees of freedom (a one-sided p-value)."""
    tail = 0.5 * regularized_beta(df / (df + t * t), df / 2, 0.5)
    return tail if t >= 0 else 1.0 - tail


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function (a, b > 0), by its continued fraction
    (evaluated with the modified Lentz method, on the side of x where it converges fast)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, front * _beta_fraction(x, a, b) / a)
    return max(0.0, 1.0 - front * _beta_fraction(1.0 - x, b, a) / b)


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny = 1e-300

    def kept(value: float) -> float:
        return value if abs(value) >= tiny else tiny

    c, d = 1.0, 1.0 / kept(1.0 - (a + b) * x / (a + 1.0))
    fraction = d
    for m in range(1, 100_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 / kept(1.0 + numerator * d)
            c = kept(1.0 + numerator / c)
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return fraction
