"""What ``regress`` finds, as typed values: per comparison the paired statistics, and the verdict over all."""

from __future__ import annotations

from dataclasses import dataclass, field

from fvlm_eval.errors import ExitCode
from fvlm_eval.reports.regress.failures import FailedPairs
from fvlm_eval.wording import counted

POWER = 0.8  # the detectable drop is the one found this often


def level_words(alpha: float, family: int) -> str:
    """The level each comparison is tested at first: ``alpha``, or Holm's first step over ``family``."""
    return f"{alpha:g}" if family <= 1 else f"{alpha:g}/{family} = {alpha / family:.3g}"


def unseen(max_drop: float, alpha: float, family: int) -> str:
    """What an underpowered comparison is, in words: its significance test alone misses a drop of ``max_drop``."""
    return (
        f"the sign-flip test alone, at {level_words(alpha, family)}, would find a true drop of "
        f"{counted(max_drop, 'point')} significant less than {POWER:.0%} of the time"
    )


@dataclass(frozen=True)
class Paired:
    """Paired statistics over the questions both runs hold: accuracies, change, interval, standard errors and
    detectable drops in points. ``detectable_drop``: the smallest true drop the verdict catches ``POWER`` of the
    time (``regress``: the gate's, which needs a drop beyond ``--max-drop`` as well as significance; ``track``: the
    test's); ``detectable_drop_test``: the sign-flip test's alone, at the level power is said at; both rest on
    ``stderr_upper``, the change's standard error at the upper bound of its spread (``stats.spread_widening``),
    never on ``stderr``, its estimate; ``needed``: about how many
    questions would bring that one to ``--max-drop``; ``p_drop_adjusted``: ``p_drop`` Holm-adjusted over the
    comparisons that decide the verdict (``None``: a row that decides nothing); ``p_gain``: the same test's
    one-sided p-value for a gain (``track`` tests both ways); ``failed``: the questions both runs asked that
    failed in either, left out of the pairing (``failures``)."""

    n: int
    videos: int
    needed: int | None
    baseline: float
    current: float
    delta: float
    ci95: tuple[float, float]
    p_drop: float
    mcnemar_p: float
    stderr: float | None
    detectable_drop: float | None
    lost: list[str]
    gained: list[str]
    detectable_drop_test: float | None = None
    p_drop_adjusted: float | None = None
    p_gain: float = 1.0
    failed: FailedPairs = field(default_factory=FailedPairs)
    stderr_upper: float | None = None

    def to_json(self) -> dict:
        paired = self.n > 0  # nothing paired: no accuracy, no change (null, never a made-up 0.0)
        return {
            "n": self.n,
            "videos": self.videos,
            "needed": self.needed,
            "baseline": self.baseline if paired else None,
            "current": self.current if paired else None,
            "delta": self.delta if paired else None,
            "ci95": list(self.ci95) if paired else None,
            "p_drop": self.p_drop,
            "p_drop_adjusted": self.p_drop_adjusted,
            "p_gain": self.p_gain,
            "mcnemar_p": self.mcnemar_p,
            "stderr": self.stderr,
            "stderr_upper": self.stderr_upper,
            "detectable_drop": self.detectable_drop,
            "detectable_drop_test": self.detectable_drop_test,
            "lost": self.lost,
            "gained": self.gained,
            "failed": self.failed.to_json(),
        }


@dataclass(frozen=True)
class Row:
    """One comparison: a (benchmark, mode) overall (``breakdown`` empty) or one breakdown value (``None`` for
    the three verdict fields: it decides nothing). ``comparable``: nothing about this benchmark/mode keeps it
    from deciding (its settings, protocol and questions alike, enough of them shared); ``fails_gate``: comparable
    and a drop beyond ``--max-drop`` whose Holm-adjusted p is below alpha; ``underpowered``: no such drop, and the
    test alone would find a true drop of ``--max-drop`` significant less than ``POWER`` of the time."""

    benchmark: str
    mode: str
    protocol: str
    formulation: str
    breakdown: str
    value: str
    stats: Paired
    underpowered: bool | None = None
    fails_gate: bool | None = None
    comparable: bool | None = None

    @property
    def overall(self) -> bool:
        return not self.breakdown

    @property
    def name(self) -> str:
        return f"{self.benchmark} {self.mode}"

    def to_json(self) -> dict:
        return {
            "benchmark": self.benchmark,
            "mode": self.mode,
            "protocol": self.protocol,
            "formulation": self.formulation,
            "breakdown": self.breakdown,
            "value": self.value,
            "comparable": self.comparable,
            "fails_gate": bool(self.fails_gate),
            "underpowered": self.underpowered,
            **self.stats.to_json(),
        }


@dataclass(frozen=True)
class Comparison:
    """What ``regress`` found: the verdict and its exit code, what made the runs not comparable, the
    warnings, and every comparison row. ``family``: how many (benchmark, mode) comparisons decide the verdict,
    their p-values Holm-adjusted over all of them; ``level``: the level of Holm's first step, at which power is
    said; ``lacking``: a line per benchmark/mode the baseline measured and the current run lacks; ``error``: why a
    refusal (``refused``) compared nothing."""

    baseline: str
    current: str
    max_drop: float
    alpha: float
    seed: int
    min_overlap: float
    protocol: str | None
    verdict: str
    exit_code: int
    rows: list[Row]
    failing: list[Row]
    too_little_shared: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    protocol_problems: list[str] = field(default_factory=list)
    underpowered: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unpaired_runs: list[str] = field(default_factory=list)
    only_in_one_run: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    power: float = POWER
    family: int = 1
    lacking: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def level(self) -> float:
        return self.alpha / max(1, self.family)

    @classmethod
    def refused(cls, baseline, current, max_drop, alpha, seed, min_overlap, protocol, error: str) -> Comparison:
        """A refusal before anything was compared (exit 4: a folder that is no run or is unfinished, one folder as
        both), in the shape of every other comparison: its lists empty, so a reader of regress.json never
        meets a missing key."""
        args = (str(baseline), str(current), max_drop, alpha, seed, min_overlap, protocol)
        return cls(*args, f"not comparable: {error}", int(ExitCode.UNUSABLE), [], [], family=0, error=error)

    def to_json(self) -> dict:
        return {
            "baseline": self.baseline,
            "current": self.current,
            "max_drop": self.max_drop,
            "alpha": self.alpha,
            "power": self.power,
            "holm_comparisons": self.family,
            "alpha_first_step": self.level,
            "seed": self.seed,
            "min_overlap": self.min_overlap,
            "protocol": self.protocol,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "error": self.error,
            "failing": [r.name for r in self.failing],
            "lacking": self.lacking,
            "too_little_shared": self.too_little_shared,
            "mismatches": self.mismatches,
            "protocol_problems": self.protocol_problems,
            "underpowered": [r.name for r in self.underpowered],
            "warnings": self.warnings,
            "unpaired_runs": self.unpaired_runs,
            "only_in_one_run": self.only_in_one_run,
            "comparisons": [r.to_json() for r in self.rows],
        }
