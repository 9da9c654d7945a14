"""A report's cells: one number of one run (or one published figure) on one benchmark, as a typed value.

A run's cell is its accuracy in percent with the 95% interval, the chance level on the same
questions and its p-value, the protocol and its formulation; the overall cell of a run also
carries its coverage (recorded / expected questions, categories, failures), the best
constant-letter guess, the reasons it should not be read as skill (``flags``, its above-chance
p-value Holm-adjusted over every cell the report tests: ``adjusted_p``), the rule that made it
(``aggregation``: ``category_mean`` for a benchmark whose official score is the mean of its
categories' accuracies, the ``pooled`` accuracy beside it), and for a generated answer's protocol the
unparseable answers. A cell whose questions all failed says so (never 0.0); one measured on no
question is ``n/a``; a published figure is its accuracy alone; no cell is ``-``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fvlm_eval.protocols import GENERATED, formulation_of
from fvlm_eval.reports.printable import printable
from fvlm_eval.summarize import flags
from fvlm_eval.summary import Measure, Summary
from fvlm_eval.tasks import BENCHMARKS

CellKind = Literal["measured", "na", "failed", "published"]


@dataclass(frozen=True)
class Cell:
    """One cell (see the module docstring); numbers in percent. ``kind``: ``measured``, ``na`` (measured on
    no question), ``failed`` (every question failed) or ``published``. Fields that do not apply are ``None``."""

    kind: CellKind
    accuracy: float | None = None
    formulation: str | None = None
    protocol: str | None = None
    ci95: tuple[float, float] | None = None
    n: int | None = None
    chance: float | None = None
    above_chance_p: float | None = None
    failed: int | None = None
    recorded: int | None = None
    expected: int | None = None
    categories: str | None = None
    constant_letter: tuple[str | None, float] | None = None
    flags: tuple[str, ...] = ()
    not_measured: int | None = None
    unparseable: int | None = None
    all_unparseable: bool | None = None
    generation_failed: int | None = None  # answers whose generation failed (e.g. no room in the context)
    adjusted_p: float | None = None
    aggregation: str | None = None
    pooled: float | None = None
    averaged: int | None = None  # categories averaged (``aggregation == "category_mean"``)

    @property
    def overall(self) -> bool:
        """A run's whole-benchmark cell (with its coverage), not a breakdown's."""
        return self.expected is not None

    def to_json(self) -> dict:
        if self.kind == "published":
            return {"accuracy": self.accuracy}
        if self.kind == "na":
            return {"accuracy": None, "formulation": self.formulation}
        if self.kind == "failed":
            if not self.overall:
                return {"accuracy": None, "all_failed": True, "failed": self.failed, "formulation": self.formulation}
            return {
                "accuracy": None,
                "all_failed": True,
                "failed": self.failed,
                "recorded": self.recorded,
                "expected": self.expected,
                "protocol": self.protocol,
                "formulation": self.formulation,
            }
        value = {
            "accuracy": self.accuracy,
            "ci95": list(self.ci95),
            "n": self.n,
            "chance": self.chance,
            "above_chance_p": self.above_chance_p,
            "protocol": self.protocol,
            "formulation": self.formulation,
        }
        if self.adjusted_p is not None:
            value["above_chance_p_adjusted"] = self.adjusted_p
        if self.aggregation is not None:
            value.update(aggregation=self.aggregation)
            if self.pooled is not None:
                value.update(pooled=self.pooled, categories_averaged=self.averaged)
        if self.overall:
            letter, accuracy = self.constant_letter
            value.update(
                recorded=self.recorded,
                expected=self.expected,
                failed=self.failed,
                categories=self.categories,
                constant_letter={"letter": letter, "accuracy": accuracy},
                flags=list(self.flags),
            )
            if self.not_measured:
                value["not_measured"] = self.not_measured
            if self.unparseable is not None:
                value["unparseable"] = self.unparseable
                value["all_unparseable"] = self.all_unparseable
            if self.generation_failed:
                value["generation_failed"] = self.generation_failed
        return value


def published_cell(accuracy: float) -> Cell:
    return Cell("published", accuracy)


def run_cell(
    summary: Summary,
    protocol: str,
    breakdown: tuple[str, str] | None = None,
    alpha: float = 0.05,
    adjusted_p: float | None = None,
    cells: int = 1,
) -> Cell | None:
    """The cell of ``protocol`` in a run's (benchmark, mode), overall or for one ``breakdown`` (field, value);
    ``None`` when it was not measured there. ``adjusted_p``: the overall cell's above-chance p-value
    Holm-adjusted over the ``cells`` the report tests."""
    result = summary.accuracy.get(protocol)
    formulation = formulation_of(protocol, result)
    measure: Measure | None = None
    if result is not None:
        measure = result.overall if breakdown is None else result.breakdowns.get(breakdown[0], {}).get(breakdown[1])
    if measure is None:
        return None
    coverage = summary.coverage
    if coverage.all_failed:  # the accuracy (0 of n) says nothing about the model: say what happened
        if breakdown is not None:
            return Cell("failed", failed=measure.n, formulation=formulation)
        return Cell(
            "failed",
            failed=coverage.failed,
            recorded=coverage.recorded,
            expected=coverage.expected,
            protocol=protocol,
            formulation=formulation,
        )
    if measure.accuracy is None:
        return Cell("na", formulation=formulation)
    numbers = dict(
        accuracy=100 * measure.accuracy,
        ci95=(100 * measure.ci95[0], 100 * measure.ci95[1]),
        n=measure.n,
        chance=100 * measure.chance if measure.chance is not None else None,
        above_chance_p=measure.above_chance_p,
        protocol=protocol,
        formulation=formulation,
    )
    if breakdown is not None:
        return Cell("measured", **numbers)
    unparseable = all_unparseable = generation_failed = None
    if protocol == GENERATED:
        generation_failed = result.generation_failed or None
    if protocol.endswith(GENERATED):
        unparseable = result.unparseable or 0
        answered = result.n - coverage.failed  # the protocol's own answers (failed ones are in its n)
        every = (
            result.unparseable_all if result.unparseable_all is not None else unparseable
        )  # circular: every rotation
        all_unparseable = answered > 0 and every >= answered
    return Cell(
        "measured",
        **numbers,
        recorded=coverage.recorded,
        expected=coverage.expected,
        failed=coverage.failed,
        categories=f"{coverage.categories_present}/{coverage.categories_expected}",
        constant_letter=(result.letters.best_letter, 100 * result.letters.best_accuracy),
        flags=tuple(printable(f) for f in flags(result, alpha=alpha, adjusted_p=adjusted_p, cells=cells)),
        not_measured=result.not_measured or None,
        unparseable=unparseable,
        all_unparseable=all_unparseable,
        generation_failed=generation_failed,
        adjusted_p=adjusted_p,
        aggregation=summary.aggregation,
        pooled=100 * result.pooled.accuracy
        if result.pooled is not None and result.pooled.accuracy is not None
        else None,
        averaged=len(result.breakdowns.get(_category_field(summary.benchmark), {}))
        if result.pooled is not None
        else None,
    )


def _category_field(benchmark: str) -> str:
    return BENCHMARKS[benchmark]().category_field if benchmark in BENCHMARKS else ""


def asked_words(summary: Summary) -> str | None:
    """How a run asked a benchmark beyond its data, from its manifest's ``benchmark_settings``: ``sampling
    uniform:64, subtitles`` (a setting off is left out; None when the summary does not record them)."""
    settings = summary.manifest.get("benchmark_settings") if isinstance(summary.manifest, dict) else None
    if not isinstance(settings, dict):
        return None
    words = [
        key if value is True else f"{key} {value}" for key, value in settings.items() if value not in (False, None)
    ]
    return printable(", ".join(w for w in words if not w.startswith("version ")))


def measured_on(cell: Cell) -> str:
    """``on 1 of 6 recorded q`` for a protocol measured on part of the recorded questions, else ``""``."""
    if not cell.not_measured or cell.n is None:
        return ""
    return f"on {cell.n} of {cell.n + cell.not_measured} recorded q"


def of_the_answered(count: int | None, n: int | None, failed: int | None) -> str:
    """``7/7, 2 failed``: a count of the questions answered (``n`` less the failed ones, which had no answer to
    read: "every answer unparseable (7/9)" read as if two answers were not)."""
    answered = (n or 0) - (failed or 0)
    return f"{count}/{answered}" + (f", {failed} failed" if failed else "")


def fmt(cell: Cell | None, benchmark: str | None = None, with_coverage: bool = True) -> str:
    """A cell as text: ``-`` not measured, ``n/a`` measured on no question, ``all N failed`` when no
    question could be scored (never ``0.0 [0.0, 0.0]``), else accuracy [95% interval] (coverage)."""
    if cell is None:
        return "-"
    if cell.kind == "failed":
        where = f" ({cell.recorded}/{cell.expected} q recorded, none scored)" if with_coverage and cell.overall else ""
        return f"all {cell.failed} failed{where}"
    if cell.accuracy is None:
        return "n/a"
    if cell.ci95 is None:
        return f"{cell.accuracy:.1f}"
    text = f"{cell.accuracy:.1f} [{cell.ci95[0]:.1f}, {cell.ci95[1]:.1f}]"
    if cell.generation_failed and cell.generation_failed >= (cell.n or 0) - (cell.failed or 0):
        text = f"every generation failed ({of_the_answered(cell.generation_failed, cell.n, cell.failed)}): {text}"
    elif cell.all_unparseable:
        text = f"every answer unparseable ({of_the_answered(cell.unparseable, cell.n, cell.failed)}): {text}"
    if cell.flags:
        text += " ⚠"
    if with_coverage:
        noun = f"{BENCHMARKS[benchmark].category_field}s" if benchmark in BENCHMARKS else "categories"
        chance = f"; chance {cell.chance:.1f}" if cell.chance is not None else ""
        failed = f"; {cell.failed} failed" if cell.failed else ""
        unparseable = f"; {cell.unparseable} unparseable" if cell.unparseable and not cell.all_unparseable else ""
        unparseable += f"; {cell.generation_failed} generations failed" if cell.generation_failed else ""
        partial = f"{measured_on(cell)}; " if measured_on(cell) else ""
        mean = f"; the mean of {cell.averaged} {noun}' accuracies" if cell.averaged is not None else ""
        counts = f"{cell.recorded}/{cell.expected} q, {cell.categories} {noun}"
        text += f" ({partial}{counts}{mean}{chance}{failed}{unparseable})"
    elif measured_on(cell):
        text += f" ({measured_on(cell)})"
    return text
