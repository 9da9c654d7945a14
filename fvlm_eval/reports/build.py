"""``fvlm-eval report`` as data: runs of any families side by side with the published figures.

One row per (run, mode, protocol) and per published figure, one column per benchmark. Every
number of a run carries its 95% interval, its coverage (questions recorded / in a complete copy,
categories present / expected) and the chance level on the same questions; a ⚠ marks one that is
not significantly above chance or not above always answering one letter. Every row names its
protocol: option log-likelihood (which), a generated answer read by fvlm-eval, or the published
source's. For a model whose family has published figures (``Family.published_as``), a comparison
sets our generated-answer figure beside the published one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.models import FAMILIES, published_name
from fvlm_eval.protocols import (
    FORMULATION_ORDER,
    GENERATED,
    formulation_of,
    main_protocols,
    protocol_name,
    protocol_order,
    published_formulation,
)
from fvlm_eval.reports.baselines import Baseline
from fvlm_eval.reports.cells import Cell, published_cell, run_cell
from fvlm_eval.reports.read import read_summaries, run_names
from fvlm_eval.summary import Summary
from fvlm_eval.tasks import BENCHMARKS


def _cells_json(cells: dict[str, Cell | None]) -> dict:
    return {name: cell.to_json() if cell is not None else {} for name, cell in cells.items()}


@dataclass(frozen=True)
class Row:
    """One (run, mode, protocol) of the report, with the run's summaries by benchmark."""

    label: str
    run: str
    mode: str
    protocol: str
    formulation: str
    model: dict
    summaries: dict[str, Summary]


@dataclass(frozen=True)
class FullRow:
    """A row of the table of every protocol recorded."""

    label: str
    run: str
    mode: str
    protocol: str
    formulation: str
    name: str
    cells: dict[str, Cell | None]

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "run": self.run,
            "mode": self.mode,
            "protocol": self.protocol,
            "formulation": self.formulation,
            "name": self.name,
            "cells": _cells_json(self.cells),
        }


@dataclass(frozen=True)
class Breakdown:
    """Per value of a benchmark's main breakdown field: every row's cell (runs on their headline protocol)."""

    field: str
    rows: dict[str, dict[str, Cell | None]]

    def to_json(self) -> dict:
        return {"field": self.field, "rows": {value: _cells_json(cells) for value, cells in self.rows.items()}}


@dataclass(frozen=True)
class Comparison:
    """A run's generated-answer accuracy beside the published figure of the model it is (when there is one)."""

    run: str
    published_model: str | None  # the name its published figures go by (``Family.published_as``), if known
    benchmark: str
    ours: float | None
    ci95: tuple[float, float] | None
    published: float | None
    published_protocol: str | None
    difference: float | None

    def to_json(self) -> dict:
        return {
            "run": self.run,
            "published_model": self.published_model,
            "benchmark": self.benchmark,
            "ours": self.ours,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "published": self.published,
            "published_protocol": self.published_protocol,
            "difference": self.difference,
        }


@dataclass(frozen=True)
class Report:
    """The report (see the module docstring): ``rows`` are labels, runs' then published ones; ``main``
    label -> benchmark -> cell; ``row_parts`` a run row's (run, mode, protocol)."""

    alpha: float
    benchmarks: list[str]
    rows: list[str]
    run_rows: list[str]
    protocols: dict[str, str]
    sources: dict[str, str]
    formulations: dict[str, str]
    main: dict[str, dict[str, Cell | None]]
    full: list[FullRow] = field(default_factory=list)
    row_parts: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    breakdowns: dict[str, Breakdown] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    regex_misreads: dict[str, tuple[int, int]] = field(default_factory=dict)

    def cell(self, label: str, benchmark: str) -> Cell | None:
        return self.main[label].get(benchmark)

    def flagged(self) -> list[tuple[str, str, str]]:
        """(run row, benchmark, reason) for every ⚠ of the main table."""
        return [
            (label, b, reason)
            for label in self.run_rows
            for b in self.benchmarks
            for reason in (self.cell(label, b).flags if self.cell(label, b) is not None else ())
        ]

    def to_json(self) -> dict:
        return {
            "warnings": self.warnings,
            "regex_misreads": {k: list(v) for k, v in self.regex_misreads.items()},
            "alpha": self.alpha,
            "benchmarks": self.benchmarks,
            "rows": self.rows,
            "run_rows": self.run_rows,
            "protocols": self.protocols,
            "sources": self.sources,
            "formulations": self.formulations,
            "full": [row.to_json() for row in self.full],
            "row_parts": {label: list(parts) for label, parts in self.row_parts.items()},
            "main": {label: _cells_json(cells) for label, cells in self.main.items()},
            "breakdowns": {b: table.to_json() for b, table in self.breakdowns.items()},
            "published_comparisons": [c.to_json() for c in self.comparisons],
        }


def _rows(
    runs: list[Path], summaries: list[dict[tuple[str, str], Summary]], protocols: list[str] | None, every: bool = False
) -> list[Row]:
    """One row per (run, mode, protocol shown): its label and its summaries by benchmark. Shown:
    ``protocols`` when given, else every recorded one (``every``), else ``main_protocols``."""
    rows: dict[tuple, Row] = {}
    names = run_names(runs)
    for run, name, found in zip(runs, names, summaries):
        for (benchmark, mode), summary in found.items():
            recorded = summary.accuracy
            shown = protocols or (
                protocol_order(recorded) if every else main_protocols(recorded, summary.headline_protocol)
            )
            for protocol in dict.fromkeys(shown):
                if protocol not in recorded:
                    continue
                row = rows.setdefault(
                    (str(run), mode, protocol),
                    Row(
                        f"{name} {mode} [{protocol}]",
                        name,
                        mode,
                        protocol,
                        formulation_of(protocol, recorded[protocol]),
                        summary.model,
                        {},
                    ),
                )
                row.summaries[benchmark] = summary
    if every:
        order = {name: i for i, name in enumerate(names)}
        rank = {f: i for i, f in enumerate(FORMULATION_ORDER)}
        return sorted(rows.values(), key=lambda r: (order[r.run], r.mode, rank.get(r.formulation, len(rank))))
    return list(rows.values())


def _comparisons(run_rows: list[Row], baselines: list[Baseline], alpha: float) -> list[Comparison]:
    """Per run row of generated answers whose family has published figures: ours beside theirs."""
    found = []
    for row in run_rows:
        family = FAMILIES.get(str(row.model.get("family")))
        if row.protocol != GENERATED or family is None or family.published_as is None:
            continue
        name = published_name(row.model)
        for benchmark, summary in row.summaries.items():
            ours = run_cell(summary, GENERATED, alpha=alpha)
            theirs = (
                next((b for b in baselines if b.model == name and b.benchmark == benchmark and not b.breakdown), None)
                if name
                else None
            )
            accuracy = ours.accuracy if ours is not None else None
            found.append(
                Comparison(
                    row.label,
                    name,
                    benchmark,
                    accuracy,
                    ours.ci95 if ours is not None else None,
                    theirs.accuracy if theirs else None,
                    theirs.protocol if theirs else None,
                    accuracy - theirs.accuracy if theirs and accuracy is not None else None,
                )
            )
    return found


def _breakdowns(benchmarks: list[str], run_rows: list[Row], baselines: list[Baseline]) -> dict[str, Breakdown]:
    tables = {}
    for benchmark in benchmarks:
        field_name = BENCHMARKS[benchmark]().main_breakdown
        headline = [
            row
            for row in run_rows
            if benchmark in row.summaries and row.protocol == row.summaries[benchmark].headline_protocol
        ]
        values = set()
        for row in headline:
            values |= set(row.summaries[benchmark].accuracy[row.protocol].breakdowns.get(field_name, {}))
        per_category = [b for b in baselines if b.benchmark == benchmark and b.breakdown == field_name]
        values |= {b.value for b in per_category}
        table = {}
        for value in sorted(values):
            cells = {
                row.label: run_cell(row.summaries[benchmark], row.protocol, (field_name, value)) for row in headline
            }
            cells.update({b.label: published_cell(b.accuracy) for b in per_category if b.value == value})
            table[value] = cells
        tables[benchmark] = Breakdown(field_name, table)
    return tables


def build(
    runs: list[Path], baselines: list[Baseline], alpha: float = 0.05, protocols: list[str] | None = None
) -> Report:
    """The report as data: rows (runs and published), the main table, breakdowns, comparisons."""
    warnings: list[str] = []
    runs = [Path(r) for r in runs]
    run_names(runs)  # the same folder twice is refused before anything is read
    summaries = [read_summaries(run, warnings) for run in runs]
    run_rows = _rows(runs, summaries, protocols)
    published: dict[str, dict] = {}
    for b in baselines:
        if not b.breakdown:
            published.setdefault(b.label, {"protocol": b.protocol, "source": b.source, "cells": {}})
            published[b.label]["cells"][b.benchmark] = published_cell(b.accuracy)
    benchmarks = [b for b in BENCHMARKS if any(b in row.summaries for row in run_rows)]
    main = {
        row.label: {b: run_cell(row.summaries[b], row.protocol, alpha=alpha) for b in row.summaries} for row in run_rows
    }
    main.update({label: p["cells"] for label, p in published.items()})
    protocols_of = {row.label: protocol_name(row.protocol) for row in run_rows}
    protocols_of.update({label: p["protocol"] for label, p in published.items()})
    formulations = {row.label: row.formulation for row in run_rows}
    formulations.update({label: published_formulation(p["protocol"]) for label, p in published.items()})
    full = [
        FullRow(
            row.label,
            row.run,
            row.mode,
            row.protocol,
            row.formulation,
            protocol_name(row.protocol),
            {b: run_cell(row.summaries[b], row.protocol, alpha=alpha) for b in row.summaries},
        )
        for row in _rows(runs, summaries, protocols, every=True)
    ]
    misreads = {
        f"{row.run} {row.mode} on {benchmark}": (summary.regex_misreads, summary.coverage.recorded)
        for row in run_rows
        for benchmark, summary in row.summaries.items()
        if summary.regex_misreads
    }
    return Report(
        alpha=alpha,
        benchmarks=benchmarks,
        rows=[row.label for row in run_rows] + list(published),
        run_rows=[row.label for row in run_rows],
        protocols=protocols_of,
        sources={label: p["source"] for label, p in published.items()},
        formulations=formulations,
        main=main,
        full=full,
        row_parts={row.label: (row.run, row.mode, row.protocol) for row in run_rows},
        breakdowns=_breakdowns(benchmarks, run_rows, baselines),
        comparisons=_comparisons(run_rows, baselines, alpha),
        warnings=warnings,
        regex_misreads=misreads,
    )
