"""``fvlm-eval report`` as data: runs of any families side by side with the published figures.

One row per (run, mode, protocol) and per published figure, one column per benchmark. Every
number of a run carries its 95% interval, its coverage (questions recorded / in a complete copy,
categories present / expected) and the chance level on the same questions; a ⚠ marks one that is
not significantly above chance or not above always answering one letter. The above-chance verdicts
are one family: every run cell of the report is tested, its p-value Holm-adjusted over all of them
(``chance_test``), so a report of models at chance calls none of them above it but with
probability ``alpha``. Every row names its protocol (option log-likelihood (which), a generated
answer read by fvlm-eval, or the published source's), its formulation (a cloze one with its framing:
``framings``) and whether it is its run's headline protocol (``headlines``). For a model whose
family has published figures (``Family.published_as``), a comparison sets our generated-answer
figure beside the published one. Text from data (folder names, categories, warnings) is made
``printable``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
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
from fvlm_eval.reports.cells import Cell, asked_words, published_cell, run_cell
from fvlm_eval.reports.freshness import RunFolder
from fvlm_eval.reports.printable import printable
from fvlm_eval.reports.read import read_summaries, run_names
from fvlm_eval.reports.rows import Breakdown, Comparison, FullRow, Report, Row
from fvlm_eval.stats import holm, significance_level
from fvlm_eval.summary import ChanceTest, Summary
from fvlm_eval.tasks import BENCHMARKS

REPORT_FAMILY = "every run cell of this report (each run, mode, protocol and benchmark)"


def _rows(
    runs: list[Path], summaries: list[dict[tuple[str, str], Summary]], protocols: list[str] | None, every: bool = False
) -> list[Row]:
    """One row per (run, mode, protocol shown): its label and its summaries by benchmark. Shown:
    ``protocols`` when given, else every recorded one (``every``), else ``main_protocols``."""
    rows: dict[tuple, Row] = {}
    names = run_names(runs)
    for run, name, found in zip(runs, names, summaries):
        for (benchmark, folder_mode), summary in found.items():
            mode = printable(folder_mode)
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
            limit = summary.manifest.get("limit") if isinstance(summary.manifest, dict) else None
            found.append(
                Comparison(
                    row.label,
                    printable(name) if name else name,
                    benchmark,
                    accuracy,
                    ours.ci95 if ours is not None else None,
                    theirs.accuracy if theirs else None,
                    printable(theirs.protocol) if theirs else None,
                    accuracy - theirs.accuracy if theirs and accuracy is not None else None,
                    ours.pooled if ours is not None and ours.aggregation == "category_mean" else None,
                    recorded=summary.coverage.recorded,
                    expected=summary.coverage.expected,
                    categories=f"{summary.coverage.categories_present}/{summary.coverage.categories_expected}",
                    limit=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
                    asked=asked_words(summary) or "",
                )
            )
    return found


def _asked_differently(runs: list[Path], summaries: list[dict[tuple[str, str], Summary]]) -> list[str]:
    """A warning per benchmark that the runs of the report asked otherwise (frames, sampling, subtitles: the
    manifests' ``benchmark_settings``; ``regress`` refuses to compare such runs): side by side, and beside a
    published figure, their numbers are not like for like."""
    asked: dict[str, dict[str, list[str]]] = {}
    for name, found in zip(run_names(runs), summaries):
        for (benchmark, mode), summary in found.items():
            words = asked_words(summary)
            if words is not None:  # an older summary without them: unknown, not different
                asked.setdefault(benchmark, {}).setdefault(words or "defaults", []).append(f"{name} {mode}")
    return [
        f"{benchmark}: the runs asked its questions differently ("
        + "; ".join(f"{words}: {', '.join(where)}" for words, where in ways.items())
        + "): their numbers are not like for like"
        for benchmark, ways in asked.items()
        if len(ways) > 1
    ]


def _breakdowns(benchmarks: list[str], run_rows: list[Row], baselines: list[Baseline]) -> dict[str, Breakdown]:
    tables = {}
    for benchmark in benchmarks:
        field_name = BENCHMARKS[benchmark]().main_breakdown
        if not field_name:  # a benchmark without categories (EgoSchema's subset): no breakdown table, no chart
            continue
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
            cells.update({printable(b.label): published_cell(b.accuracy) for b in per_category if b.value == value})
            table[printable(value)] = cells
        tables[benchmark] = Breakdown(field_name, table)
    return tables


def _tested(rows: list[Row]) -> list[tuple[str, str, str, str]]:
    """(run, mode, protocol, benchmark) of every cell given an above-chance verdict: measured on some
    question, not one whose questions all failed."""
    return [
        (row.run, row.mode, row.protocol, b)
        for row in rows
        for b, summary in row.summaries.items()
        if not summary.coverage.all_failed
        and summary.accuracy[row.protocol].accuracy is not None
        and summary.accuracy[row.protocol].above_chance_p is not None
    ]


def build(
    runs: list[Path],
    baselines: list[Baseline],
    alpha: float = 0.05,
    protocols: list[str] | None = None,
    each: Callable[[int, RunFolder], None] | None = None,
) -> Report:
    """The report as data: rows (runs and published), the main table, breakdowns, comparisons. ``each``, when
    given, is handed (the run's index, the folder) for every folder read, records and all, so the question
    browser reads no folder again (``read.read_summaries``)."""
    significance_level(alpha)
    warnings: list[str] = []
    runs = [Path(r) for r in runs]
    run_names(runs)  # the same folder twice is refused before anything is read
    summaries = [
        read_summaries(run, warnings, None if each is None else partial(each, index)) for index, run in enumerate(runs)
    ]
    warnings.extend(_asked_differently(runs, summaries))
    run_rows = _rows(runs, summaries, protocols)
    every = _rows(runs, summaries, protocols, every=True)  # the main table's rows are among these
    tested = _tested(every)
    adjusted = dict(
        zip(tested, holm([row_summary.accuracy[p].above_chance_p for row_summary, p in _summaries_of(every, tested)]))
    )
    chance_test = ChanceTest(alpha, len(tested), REPORT_FAMILY)

    def cell(row: Row, benchmark: str) -> Cell | None:
        key = (row.run, row.mode, row.protocol, benchmark)
        return run_cell(
            row.summaries[benchmark], row.protocol, alpha=alpha, adjusted_p=adjusted.get(key), cells=len(tested)
        )

    published: dict[str, dict] = {}
    for b in baselines:
        if not b.breakdown:
            label = printable(b.label)
            published.setdefault(label, {"protocol": printable(b.protocol), "source": printable(b.source), "cells": {}})
            published[label]["cells"][b.benchmark] = published_cell(b.accuracy)
    benchmarks = [b for b in BENCHMARKS if any(b in row.summaries for row in run_rows)]
    main = {row.label: {b: cell(row, b) for b in row.summaries} for row in run_rows}
    main.update({label: p["cells"] for label, p in published.items()})
    protocols_of = {row.label: protocol_name(row.protocol) for row in run_rows}
    protocols_of.update({label: p["protocol"] for label, p in published.items()})
    formulations = {row.label: row.formulation for row in run_rows}
    formulations.update({printable(b.label): published_formulation(b.protocol) for b in baselines if b.breakdown})
    formulations.update({label: published_formulation(p["protocol"]) for label, p in published.items()})
    full = [
        FullRow(
            row.label,
            row.run,
            row.mode,
            row.protocol,
            row.formulation,
            protocol_name(row.protocol),
            {b: cell(row, b) for b in row.summaries},
            row.headline,
            row.framing,
        )
        for row in every
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
        warnings=[printable(w) for w in warnings],
        regex_misreads=misreads,
        headlines={row.label: row.headline for row in run_rows if row.headline},
        framings={row.label: row.framing for row in run_rows if row.framing},
        chance_test=chance_test,
        aggregations={b: BENCHMARKS[b].aggregation for b in benchmarks if BENCHMARKS[b].aggregation != "pooled"},
    )


def _summaries_of(rows: list[Row], keys: list[tuple[str, str, str, str]]) -> list[tuple[Summary, str]]:
    """The summary and protocol of each (run, mode, protocol, benchmark) key, in order."""
    by_key = {(row.run, row.mode, row.protocol): row for row in rows}
    return [(by_key[key[:3]].summaries[key[3]], key[2]) for key in keys]
