"""A report as text: ``report.md`` (the tables) and ``report.csv`` (every number, one line each)."""

from __future__ import annotations

import csv
import io

from fvlm_eval.protocols import formulation_label
from fvlm_eval.reports.build import Report
from fvlm_eval.reports.cells import Cell, fmt
from fvlm_eval.tasks import BENCHMARKS

REGEX_NOTE = (
    "Its option regex (`([A-Z])\\.\\s*(.+?)(?=\\n[A-Z]\\.|$)` over the prompt) reads another option set from "
    'these questions\' prompts (e.g. "U.S." or "World War II." in a question): published figures made '
    "with it scored them with wrong options."
)


def _table_head(first: str, titles: list[str]) -> list[str]:
    return [
        f"| {first} | formulation | protocol | " + " | ".join(titles) + " |",
        "|---|---|---" + "|---" * len(titles) + "|",
    ]


def _chance_note(cell: Cell | None) -> str:
    if cell is None:
        return ""
    extra = f" (chance {cell.chance:.1f})" if cell.chance is not None else ""
    return extra + (f" ({cell.unparseable} unparseable)" if cell.unparseable and not cell.all_unparseable else "")


def markdown(report: Report) -> str:
    benchmarks = report.benchmarks
    titles = {b: BENCHMARKS[b]().title for b in benchmarks}
    lines = [
        "# fvlm-eval report",
        "",
        "Accuracy %, with the 95% interval (clustered by video), coverage (questions recorded / in a complete "
        "copy, categories present / expected) and the chance level of a uniform guess on the same questions. "
        "Failed questions count as wrong. "
        f"⚠: not significantly above chance (exact test, alpha {report.alpha:g}) or not above always "
        "answering one letter.",
        "",
        "Each number names its formulation; formulations are never mixed in one number, and each has its own "
        "chance level.",
        "",
        *_table_head("model and mode", [titles[b] for b in benchmarks]),
    ]
    formulations = report.formulations
    for label in report.rows:
        cells = [fmt(report.cell(label, b), b) for b in benchmarks]
        lines.append(
            f"| {label} | {formulations.get(label, '')} | {report.protocols[label]} | " + " | ".join(cells) + " |"
        )
    used = list(dict.fromkeys(formulations[label] for label in report.rows if label in formulations))
    if used:
        lines += ["", "Formulations: " + "; ".join(f"`{f}`: {formulation_label(f)}" for f in used) + "."]
    if report.warnings:
        lines += [""] + [f"**Warning:** {w}" for w in report.warnings]
    flagged = report.flagged()
    if flagged:
        lines += ["", "⚠ reasons:", ""] + [f"- {label} on {titles[b]}: {f}" for label, b, f in flagged]
    if report.full:
        lines += [
            "",
            "## Every protocol recorded, by formulation",
            "",
            "Accuracy % [95% interval] (chance %); `-`: not measured; failed questions count as wrong.",
            "",
            *_table_head("model and mode", [titles[b] for b in benchmarks]),
        ]
        for row in report.full:
            cells = [fmt(row.cells.get(b), b, with_coverage=False) + _chance_note(row.cells.get(b)) for b in benchmarks]
            lines.append(f"| {row.run} {row.mode} | {row.formulation} | {row.protocol} | " + " | ".join(cells) + " |")
    if report.comparisons:
        lines += ["", "## Measured here vs published (generated answers)", ""]
        for c in report.comparisons:
            ours = "n/a" if c.ours is None else f"{c.ours:.1f} [{c.ci95[0]:.1f}, {c.ci95[1]:.1f}]"
            if c.published is None:
                lines.append(
                    f"- {c.run} on {titles[c.benchmark]}: {ours}; no published figure for this model"
                    + (f" ({c.published_model} has none on this benchmark)" if c.published_model else "")
                )
            else:
                lines.append(
                    f"- {c.published_model} on {titles[c.benchmark]}: ours {ours} (generated answers, the "
                    f"harness's frames and prompt) vs published {c.published:.1f} ({c.published_protocol}): "
                    f"{c.difference:+.1f} points"
                )
    for benchmark, table in report.breakdowns.items():
        columns = [c for c in report.rows if any(c in r for r in table.rows.values())]
        lines += [
            "",
            f"## {titles[benchmark]} by {table.field}",
            "",
            f"| {table.field} | " + " | ".join(columns) + " |",
            "|---" * (len(columns) + 1) + "|",
        ]
        for value, row in table.rows.items():
            cells = []
            for c in columns:
                cell = row.get(c)
                extra = (
                    f" (n={cell.n}, chance {cell.chance:.1f})" if cell and cell.n and cell.chance is not None else ""
                )
                cells.append(fmt(cell, with_coverage=False) + extra)
            lines.append(f"| {value} | " + " | ".join(cells) + " |")
    if report.regex_misreads:
        lines += ["", "## Questions the public fVLM scorer misreads", "", REGEX_NOTE, ""]
        lines += [f"- {where}: {count} of {total}" for where, (count, total) in report.regex_misreads.items()]
    lines += ["", "## Sources", ""] + [f"- {c}: {s}" for c, s in report.sources.items()]
    return "\n".join(lines) + "\n"


CSV_HEADER = [
    "benchmark",
    "breakdown",
    "value",
    "row",
    "formulation",
    "protocol",
    "accuracy",
    "ci95_low",
    "ci95_high",
    "n",
    "chance",
    "flags",
    "recorded",
    "expected",
    "categories",
    "failed",
    "unparseable",
]


def csv_text(report: Report) -> str:
    """Every number of the report, one line each, with its formulation; every protocol recorded
    (the main table's rows and the rest), breakdowns; a cell whose questions all failed keeps its
    line, with an empty accuracy and its failed count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    formulations = dict(report.formulations)
    names = dict(report.protocols)
    for row in report.full:
        formulations.setdefault(row.label, row.formulation)
        names.setdefault(row.label, row.name)

    def blank(value) -> object:
        return "" if value is None else value

    def line(benchmark: str, field_name: str, value: str, label: str, cell: Cell | None) -> None:
        if cell is None or (cell.accuracy is None and cell.kind != "failed"):
            return
        low, high = cell.ci95 if cell.ci95 is not None else ("", "")
        chance = "" if cell.chance is None else f"{cell.chance:.2f}"
        accuracy = "" if cell.accuracy is None else f"{cell.accuracy:.2f}"
        writer.writerow(
            [
                benchmark,
                field_name,
                value,
                label,
                formulations.get(label, ""),
                names.get(label, ""),
                accuracy,
                low,
                high,
                blank(cell.n),
                chance,
                "; ".join(cell.flags),
                blank(cell.recorded),
                blank(cell.expected),
                blank(cell.categories),
                blank(cell.failed),
                blank(cell.unparseable),
            ]
        )

    for label, cells in report.main.items():
        for benchmark, cell in cells.items():
            line(benchmark, "", "", label, cell)
    for row in report.full:
        if row.label not in report.main:
            for benchmark, cell in row.cells.items():
                line(benchmark, "", "", row.label, cell)
    for benchmark, table in report.breakdowns.items():
        for value, cells in table.rows.items():
            for label, cell in cells.items():
                line(benchmark, table.field, value, label, cell)
    return buffer.getvalue()
