"""A report's typed values: its rows (``Row``, ``FullRow``), per-category tables (``Breakdown``), the
comparisons with published figures (``Comparison``) and the ``Report`` itself, which ``build`` makes
and the renderers (``markdown``, ``charts``, ``html``, ``tables``) read."""

from __future__ import annotations

from dataclasses import dataclass, field

from fvlm_eval.reports.cells import Cell
from fvlm_eval.summary import ChanceTest, Summary


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

    @property
    def headline(self) -> str:
        """``headline`` when the protocol is its run's headline on every benchmark of the row,
        ``headline on <benchmarks>`` when on some, else ``""``."""
        on = [b for b, s in self.summaries.items() if s.headline_protocol == self.protocol]
        if not on:
            return ""
        return "headline" if len(on) == len(self.summaries) else "headline on " + ", ".join(on)

    @property
    def framing(self) -> str:
        """A cloze protocol's framing (``plain``, ``chat``; per benchmark when they differ), else ``""``."""
        if self.formulation != "cloze":
            return ""
        found = {b: s.cloze_framing for b, s in self.summaries.items() if s.cloze_framing}
        if len(set(found.values())) > 1:
            return ", ".join(f"{framing} on {b}" for b, framing in found.items())
        return next(iter(found.values()), "")


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
    headline: str = ""
    framing: str = ""

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "run": self.run,
            "mode": self.mode,
            "protocol": self.protocol,
            "formulation": self.formulation,
            "name": self.name,
            "headline": self.headline,
            "cloze_framing": self.framing,
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
    pooled: float | None = None  # ours pooled over the questions, when ``ours`` is the mean of the categories
    recorded: int | None = None  # the questions ours was measured on (recorded), of
    expected: int | None = None  # ... the benchmark's in a complete copy
    categories: str | None = None  # categories present / expected
    limit: int | None = None  # the run's --limit
    asked: str = ""  # how ours asked beyond the data (``cells.asked_words``: sampling, subtitles)

    @property
    def whole(self) -> bool:
        """Ours was measured on the whole benchmark (every question of a complete copy), as a published figure."""
        return self.recorded is not None and self.recorded >= (self.expected or 0) and self.limit is None

    def measured_words(self) -> str:
        """`` on all 2,017 questions``, or `` on 3 of 2,017 questions (--limit 3; 3/3 categories): part of the
        benchmark, not like for like``; ``""`` when unknown."""
        if self.recorded is None or self.expected is None:
            return ""
        if self.whole:
            return f" on all {self.expected:,} questions"
        why = [f"--limit {self.limit}"] if self.limit is not None else []
        if self.categories and self.categories.partition("/")[0] != self.categories.partition("/")[2]:
            why.append(f"{self.categories} categories")
        reasons = f" ({'; '.join(why)})" if why else ""
        return (
            f" on {self.recorded:,} of {self.expected:,} questions{reasons}: part of the benchmark, not like for like"
        )

    def how_words(self) -> str:
        """`` (generated answers; sampling uniform:64)``: how ours was asked."""
        return f" (generated answers{f'; {self.asked}' if self.asked else ''})"

    def sentence(self, title: str) -> str:
        """The comparison in one plain sentence (terminal, report.md, report.html), ``title`` naming the benchmark."""
        ours = "n/a" if self.ours is None else f"{self.ours:.1f}"
        if self.ours is not None and self.ci95 is not None:
            ours += f" [{self.ci95[0]:.1f}, {self.ci95[1]:.1f}]"
        if self.published is None:
            none = f" ({self.published_model} has none on this benchmark)" if self.published_model else ""
            return f"{self.run} on {title}: {ours}{self.pooled_words()}; no published figure for this model{none}"
        return (
            f"{self.run} ({self.published_model}) on {title}: ours {ours}{self.pooled_words()}{self.measured_words()}"
            f"{self.how_words()} vs published {self.published:.1f} ({self.published_protocol}): "
            f"{self.difference_words() if self.difference is not None else 'n/a'}"
        )

    def pooled_words(self) -> str:
        """For a mean of categories, `` (the mean of its categories; pooled 25.0)``: a published figure may be
        either average (VLMEvalKit's MLVU M-Avg pools); else nothing."""
        return f" (the mean of its categories; pooled {self.pooled:.1f})" if self.pooled is not None else ""

    def difference_words(self) -> str:
        pooled = f" ({self.pooled - self.published:+.1f} pooled)" if self.pooled is not None else ""
        return f"{self.difference:+.1f} points{pooled}"

    def to_json(self) -> dict:
        return {
            "run": self.run,
            "published_model": self.published_model,
            "benchmark": self.benchmark,
            "ours": self.ours,
            "ours_pooled": self.pooled,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "published": self.published,
            "published_protocol": self.published_protocol,
            "difference": self.difference,
            "recorded": self.recorded,
            "expected": self.expected,
            "categories": self.categories,
            "limit": self.limit,
            "whole_benchmark": self.whole,
            "asked": self.asked,
        }


@dataclass(frozen=True)
class Report:
    """The report (see the module docstring): ``rows`` are labels, runs' then published ones; ``main``
    label -> benchmark -> cell; ``row_parts`` a run row's (run, mode, protocol); ``headlines`` and
    ``framings`` a run row's headline mark and cloze framing (``Row.headline``, ``Row.framing``);
    ``chance_test`` how the above-chance verdicts were made; ``aggregations`` benchmark -> the rule of its
    overall number, for a benchmark that is not pooled."""

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
    headlines: dict[str, str] = field(default_factory=dict)
    framings: dict[str, str] = field(default_factory=dict)
    chance_test: ChanceTest | None = None
    aggregations: dict[str, str] = field(default_factory=dict)

    def cell(self, label: str, benchmark: str) -> Cell | None:
        return self.main[label].get(benchmark)

    def formulation_text(self, label: str) -> str:
        """A row's formulation, a cloze one with its framing: ``cloze (plain framing)``."""
        formulation = self.formulations.get(label, "")
        framing = self.framings.get(label)
        return f"{formulation} ({framing} framing)" if framing else formulation

    def protocol_text(self, label: str) -> str:
        """A row's protocol in words, its run's headline marked: ``headline: cloze: log p of ...``."""
        mark = self.headlines.get(label)
        return f"{mark}: {self.protocols[label]}" if mark else self.protocols[label]

    def series(self, label: str) -> str:
        """A row as a chart's legend names it: ``fvlm coarse_fine [cloze_pmi]: cloze, plain framing, headline``."""
        framing = self.framings.get(label)
        words = [
            self.formulations.get(label) or "formulation unknown",
            f"{framing} framing" if framing else "",
            self.headlines.get(label, ""),
        ]
        return f"{label}: {', '.join(w for w in words if w)}"

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
            "headlines": self.headlines,
            "cloze_framings": self.framings,
            "above_chance_test": self.chance_test.to_json() if self.chance_test is not None else None,
            "aggregations": self.aggregations,
        }
