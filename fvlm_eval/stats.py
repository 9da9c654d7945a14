"""Statistics over per-sample records: accuracy with clustered standard errors, paired tests.

Failed questions count as wrong (they stay in every denominator). Standard errors are
clustered by ``group`` (the video) because questions on one video are not independent.

Intervals: a Wilson score interval on the effective sample size ``n / deff``, where the design
effect ``deff`` is the clustered variance over the binomial one (floored at 1; ``n`` when all the
questions are on one video, whose clustering cannot be estimated), with Student's t in place of 1.96
where questions share videos (``cluster_df``: the effective number of videos less one). Its width is never zero while
``n >= 1``: 1 right of 1 is [20.7, 100].

Paired comparisons (``paired_cluster_test``): the verdict comes from an exact sign-flip
(randomisation) test on the per-video sums of differences, which respects the clustering and is
exact in finite samples; with one question per video it is the exact one-sided McNemar (sign)
test. Its power: the minimum detectable drop ``(z_{1-alpha} + z_{power}) * SE+``, SE+ from the same
per-video sums at a 90% upper confidence bound of their spread (``spread_widening``: read from few changed
videos, the spread's estimate is often low, and power claimed on it was 57-78% where 80% was said), never
below the SE of three whole videos flipping, nor the bound one changed question gives (``upper_floor``: no
change seen is no more reassuring than one). Its interval (``paired_bootstrap``: videos resampled) and p-values
use the estimate itself; the interval is never narrower than that floor either, so one video, or videos that
all moved alike, never give a zero-width interval such as [-100, -100]. A gate that also requires the observed
drop to exceed a margin sees less (``reports.regress.power``).

Many cells tested at once (``holm``): a report or a summary tests every cell it shows against
chance; Holm's step-down correction keeps the chance of calling any cell at chance "above
chance" within ``alpha``, whatever the dependence between the cells (they share questions).

A significance level (``significance_level``) is checked once, over its whole range: a number above 0
and below 0.5 (a one-sided test at 0.5 or more calls a coin flip significant).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from fvlm_eval.distributions import regularized_beta, t_quantile
from fvlm_eval.errors import SettingsError

Z95 = 1.959963984540054
SPREAD_CONFIDENCE = 0.9  # power is claimed at this upper confidence bound of the spread, never its estimate
SIGNIFICANCE_RANGE = "above 0 and below 0.5 (a one-sided test at 0.5 or more calls a coin flip significant)"


def significance_level(alpha: float, flag: str = "--alpha") -> float:
    """``alpha`` when it is a usable significance level (above 0, below 0.5), else a ``SettingsError``
    naming ``flag`` (exit 2)."""
    number = isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
    if not number or not 0 < alpha < 0.5:
        shown = f"{alpha:g}" if number else repr(alpha)
        raise SettingsError(f"{flag} {shown}: must be {SIGNIFICANCE_RANGE}")
    return float(alpha)


def z_one_sided(alpha: float) -> float:
    """z_{1-alpha}, exact for any level above 0 (``1 - 1e-17`` is 1.0 in floating point: not used)."""
    return -NormalDist().inv_cdf(alpha)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): a cell is significant at ``alpha``
    when its adjusted p-value is below ``alpha``, which keeps the family-wise error (any cell at chance
    called above it) within ``alpha`` under any dependence between the tests."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


@dataclass(frozen=True)
class Accuracy:
    """``correct`` of ``n`` right; ``stderr`` clustered by video; ``design_effect``: how many
    questions count as one independent one (>= 1)."""

    correct: int
    n: int
    accuracy: float
    stderr: float
    design_effect: float = 1.0
    clusters: float = 0.0  # the effective number of videos, n^2 / sum(size^2) (0: not known; = videos if equal)

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson score interval on the effective sample size ``n / design_effect``; where questions share
        videos and the design effect is read from their variance (not at an accuracy of 0 or 1), with Student's
        t in place of 1.96, on ``cluster_df`` degrees of freedom: that variance is estimated from so many videos
        (with 3 to 8 of unequal sizes, 1.96 covered 74-83%)."""
        z = t_quantile(0.975, cluster_df(self.clusters)) if self.clustered else Z95
        return wilson_interval(self.accuracy, self.n / self.design_effect if self.n else 0.0, z)

    @property
    def clustered(self) -> bool:
        """Whether the questions share videos and the design effect is read from their variance."""
        return 1.0 < self.clusters < self.n - 1e-9 and 0.0 < self.accuracy < 1.0

    def as_dict(self) -> dict:
        low, high = self.interval
        return {
            "accuracy": self.accuracy,
            "correct": self.correct,
            "n": self.n,
            "stderr": self.stderr,
            "ci95": [low, high],
            "design_effect": self.design_effect,
        }


def wilson_interval(p: float, n_effective: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``p`` seen on ``n_effective`` independent trials
    ((0, 1) when there are none): never zero width, never outside [0, 1]."""
    if n_effective <= 0:
        return 0.0, 1.0
    z2n = z * z / n_effective
    center = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n_effective + z2n / (4 * n_effective)) / (1 + z2n)
    return min(p, max(0.0, center - half)), max(p, min(1.0, center + half))  # exact at p = 0 or 1


def design_effect(p: float, n: int, stderr: float, sizes: list[int]) -> float:
    """Clustered variance over binomial variance, floored at 1, for clusters of ``sizes`` questions;
    ``n`` (all questions count as one) when they share one cluster and so the clustering cannot be
    estimated. At an accuracy of 0 or 1 neither variance says anything: every video answered alike is
    read as videos answering as one, sum(size^2) / n (each video one question when they are equal)."""
    if n <= 1:
        return 1.0
    if len(sizes) < 2:
        return float(n)
    binomial = p * (1 - p) / n
    if binomial <= 0:
        return max(1.0, sum(size * size for size in sizes) / n)
    return max(1.0, stderr * stderr / binomial)


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
    p = hits / n if n else 0.0
    stderr = clustered_stderr([float(c) for c in correct], groups)
    sizes = list(Counter(groups).values())
    return Accuracy(hits, n, p, stderr, design_effect(p, n, stderr, sizes), effective_clusters(sizes))


def effective_clusters(sizes: list[int]) -> float:
    """The effective number of videos of these sizes, n^2 / sum(size^2): the count when they are equal, fewer
    when one video holds most questions (its variance is read mostly from that one)."""
    squares = sum(size * size for size in sizes)
    return sum(sizes) ** 2 / squares if squares else 0.0


def cluster_df(clusters: float) -> float:
    """The degrees of freedom of a variance read from ``clusters`` effective videos (their number less one;
    at least 0.5): with them a model at chance on 3 to 8 videos of 1 to 30 questions was called above it at
    most 3.1% of the time at alpha 0.05 and the 95% interval covered 95-100% (simulated); on the plain count
    of videos, 6-12% and 87-98%."""
    return max(clusters - 1.0, 0.5)


def mcnemar_exact(baseline_only: int, current_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (binomial, p = 1/2)."""
    n = baseline_only + current_only
    if n == 0:
        return 1.0
    k = min(baseline_only, current_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(
    baseline: list[bool], current: list[bool], groups: list[str], seed: int = 0, resamples: int = 10_000
) -> tuple[float, float]:
    """95% interval of accuracy(current) - accuracy(baseline), resampling clusters of paired questions,
    never narrower than the change +- 1.96 x the three-video floor sqrt(3) / videos (see the module
    docstring), within [-1, 1]: resampling one video, or videos that all moved alike, sees no spread."""
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
    delta = float(cluster_sum.sum() / cluster_size.sum())
    floor = Z95 * math.sqrt(3.0) / len(names)
    return max(-1.0, min(float(low), delta - floor)), min(1.0, max(float(high), delta + floor))


@dataclass(frozen=True)
class PairedTest:
    """``current - baseline`` on paired questions, clustered by video (fractions, not points)."""

    n: int  # paired questions
    clusters: int  # videos they are on
    discordant: int  # questions right in one run only
    delta: float  # accuracy change
    stderr: float  # its standard error from the per-video sums (never below the three-video floor)
    p_drop: float  # one-sided exact sign-flip p-value of "the current run is no worse"
    detectable: float  # the smallest drop detectable at ``alpha`` with ``power``: (z_{1-a} + z_power) * stderr_upper
    z: float = 0.0  # z_{1-alpha} + z_power
    spread: float = 0.0  # sum over videos of (gained - lost)^2, per question: stderr^2 * n before the floor
    stderr_upper: float = math.inf  # the stderr at the spread's upper bound (``spread_widening``), floored alike
    spread_df: float = 0.0  # the degrees of freedom the spread is estimated on (``spread_widening``)


def cluster_sums(baseline: list[bool], current: list[bool], groups: list[str]) -> np.ndarray:
    """Per video, (questions now right) - (questions now wrong) among its paired questions: integers."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(g, len(index)) for g in groups), dtype=np.int64, count=len(groups))
    diff = np.asarray(current, dtype=np.int64) - np.asarray(baseline, dtype=np.int64)
    return np.bincount(codes, weights=diff, minlength=len(index)).round().astype(np.int64)


def binomial_pmf(count: int, p: float = 0.5) -> np.ndarray:
    """P(k successes in ``count`` trials of probability ``p``), k = 0..count, in log space (no overflow)."""
    if p <= 0.0 or p >= 1.0:
        pmf = np.zeros(count + 1)
        pmf[count if p >= 1.0 else 0] = 1.0
        return pmf
    k = np.arange(count + 1)
    log_comb = np.concatenate([[0.0], np.cumsum(np.log((count - k[1:] + 1) / k[1:]))])
    return np.exp(log_comb + k * math.log(p) + (count - k) * math.log1p(-p))


def signflip_p_lower(sums: np.ndarray) -> float:
    """Exact one-sided p-value P(S <= observed), S = sum of the per-video sums with independent fair
    random signs: the randomisation distribution when, within every video, which run is "baseline"
    and which "current" is exchangeable (no change). Videos with equal magnitudes share a binomial;
    distinct magnitudes are convolved (exact integer support, no approximation)."""
    sums = np.asarray(sums, dtype=np.int64)
    magnitudes = np.abs(sums[sums != 0])
    if magnitudes.size == 0:
        return 1.0
    observed = int(sums.sum())
    pmf, offset = np.ones(1), 0  # pmf[i] = P(S = i - offset)
    for size, count in zip(*np.unique(magnitudes, return_counts=True)):
        size, count = int(size), int(count)
        part = np.zeros(2 * size * count + 1)
        part[:: 2 * size] = binomial_pmf(count)  # S_part = size * (2k - count)
        pmf, offset = np.convolve(pmf, part), offset + size * count
    return float(min(1.0, pmf[: observed + offset + 1].sum()))


def chi_square_quantile(probability: float, df: float) -> float:
    """The ``probability`` quantile of the chi-square law on ``df`` degrees of freedom, by Wilson and Hilferty's
    cube-root normal approximation (no scipy): at the 10% quantile 7% low at 2 degrees, within 0.3% from 4 (a
    bound built on it errs wide); 0 where the approximation fails (very few degrees, extreme quantiles)."""
    root = 1.0 - 2.0 / (9.0 * df) + NormalDist().inv_cdf(probability) * math.sqrt(2.0 / (9.0 * df))
    return df * root**3 if root > 0 else 0.0


def spread_widening(df: float, confidence: float = SPREAD_CONFIDENCE) -> float:
    """The factor from the spread's estimate to its upper bound at ``confidence``: df / chi2_{1-confidence}(df).
    ``df``: Satterthwaite's 2 (sum s^2)^2 / sum s^4 over the per-video sums s, the spread's own degrees of
    freedom (2 per changed video when they change alike, as a Poisson count's). Seeded simulations of whole
    videos changing (1000 x 1 to 1000 x 8 questions, 100 x 10; docs/reports.md): a setting whose real power is
    below 80% was said to reach 80% in at most 11% of the runs (up to 63% on the estimate itself)."""
    if df <= 0:
        return 1.0  # nothing changed: ``upper_floor`` stands in
    quantile = chi_square_quantile(1.0 - confidence, df)
    return df / quantile if quantile > 0 else math.inf


def upper_floor(n: int, clusters: int) -> float:
    """The least ``stderr_upper`` of ``n`` questions on ``clusters`` videos: the three-video floor, and the bound
    one changed question gives, sqrt(w(2)) / n (3.2 / n). With no change seen the spread's estimate is 0 and its
    bound was the floor alone, below the bound one changed answer gives: two identical checkpoints on 100
    questions claimed a 5-point drop detectable 80% of the time, where the test finds it 58% of the time, and one
    changed answer turned that pass into "underpowered". ``n`` times it is the same for any n' questions alike."""
    return max(math.sqrt(3.0) / clusters, math.sqrt(spread_widening(2.0)) / n)


def paired_cluster_test(
    baseline: list[bool], current: list[bool], groups: list[str], alpha: float = 0.05, power: float = 0.8
) -> PairedTest:
    """The paired comparison a regression verdict rests on (see the module docstring).

    ``stderr``: sqrt(sum over videos of their squared sum of differences) / n, the spread of the
    change under the sign-flip null; when few or no questions changed it is floored at the SE that
    three whole videos of average size flipping would give, sqrt(3) / videos, so a comparison
    with no discordance never claims to detect everything. ``stderr_upper`` (what ``detectable`` rests on):
    the same at the spread's upper bound (``spread_widening``), never below ``upper_floor``.
    """
    n = len(baseline)
    sums = cluster_sums(baseline, current, groups)
    clusters = len(sums)
    z = z_one_sided(alpha) + NormalDist().inv_cdf(power)
    if n == 0:
        return PairedTest(0, 0, 0, 0.0, math.inf, 1.0, math.inf, z)
    discordant = int(sum(b != c for b, c in zip(baseline, current)))
    squares = sums.astype(float) ** 2
    spread = float(squares.sum()) / n
    df = 2.0 * float(squares.sum()) ** 2 / float((squares**2).sum()) if spread else 0.0
    stderr = max(math.sqrt(spread / n), math.sqrt(3.0) / clusters)
    upper = max(math.sqrt(spread * spread_widening(df) / n), upper_floor(n, clusters))
    return PairedTest(
        n, clusters, discordant, float(sums.sum()) / n, stderr, signflip_p_lower(sums), z * upper, z, spread, upper, df
    )


def guess_chances(option_counts: list[int], right_counts: list[int] | None = None) -> list[float]:
    """Per question, the probability that a uniform random guess is counted right: ``right / options``
    (``right_counts``, default 1 each: how many of its options a protocol counts right, e.g. the
    gold's twins in the cloze formulation, whose identical texts cannot be told apart). A question
    without options (a row that could not be read: failed, wrong for every model) gets the mean
    chance of the others: counted 0 it lowered the chance level (25% -> 12.5% with one such row of
    two), so a model looked further above chance for the rows it was never asked."""
    rights = right_counts if right_counts is not None else [1] * len(option_counts)
    known = [min(1.0, right / n) for n, right in zip(option_counts, rights) if n]
    unknown = sum(known) / len(known) if known else 0.0
    return [min(1.0, right / n) if n else unknown for n, right in zip(option_counts, rights)]


def chance_accuracy(option_counts: list[int], right_counts: list[int] | None = None) -> float:
    """The expected accuracy of a uniform random guess: the mean of ``guess_chances`` (0 for no questions)."""
    chances = guess_chances(option_counts, right_counts)
    return sum(chances) / len(chances) if chances else 0.0


def above_chance_p(correct: int, option_counts: list[int], right_counts: list[int] | None = None) -> float:
    """One-sided exact p-value that ``correct`` right answers are no better than guessing, the
    questions independent (``clustered_chance_p`` for questions that share a video).

    Under the null each question i is right with its ``guess_chances`` probability independently, so
    the number right follows a Poisson-binomial law (a binomial when every question has the same
    chance): P(X >= correct): the questions grouped by chance, one binomial law per group, the groups'
    laws convolved (a few convolutions, not one per question: a 4000-question run has 2 to 5 groups).
    """
    distribution = np.array([1.0])
    for chance, count in sorted(Counter(guess_chances(option_counts, right_counts)).items()):
        distribution = np.convolve(distribution, binomial_pmf(count, chance))
    return float(min(1.0, distribution[correct:].sum())) if correct < len(distribution) else 0.0


def clustered_chance_p(accuracy: float, n_effective: float, chance: float) -> float:
    """One-sided p-value that ``accuracy`` is no better than guessing (mean chance ``chance``) when the
    questions are clustered (several on one video, answered alike): the binomial test on the effective
    sample the interval uses, ``n / design effect`` trials of which ``accuracy`` were right, through its
    continuation to real counts, P(X >= k) = I_chance(k, n - k + 1) (the regularized incomplete beta
    function; the binomial tail exactly at whole numbers). One binomial at the mean chance spreads at
    least as wide as the questions' Poisson-binomial law, so it errs towards "not above chance"."""
    right = accuracy * n_effective
    if n_effective <= 0 or right <= 0:
        return 1.0
    if chance <= 0.0 or chance >= 1.0:
        return 0.0 if chance <= 0.0 else 1.0
    return regularized_beta(chance, right, n_effective - right + 1.0)


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
    candidates = sorted({letter for options in letters for letter in options})
    best = max(candidates, key=lambda letter: (gold.get(letter, 0), -ord(letter[0])), default=None)
    return {
        "predicted": dict(sorted(predicted.items())),
        "gold": dict(sorted(gold.items())),
        "best_constant": {"letter": best, "accuracy": gold.get(best, 0) / n if n and best else 0.0},
    }
