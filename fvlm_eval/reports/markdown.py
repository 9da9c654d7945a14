"""A report as text: ``report.md`` (the tables) and ``report.csv`` (every number, one line each)."""

from __future__ import annotations

import csv
import io

from fvlm_eval.protocols import formulation_label
from fvlm_eval.reports.cells import Cell, fmt
from fvlm_eval.reports.printable import md_row, md_text, printable
from fvlm_eval.reports.reasons import grouped_reasons
from fvlm_eval.reports.rows import Report
from fvlm_eval.tasks import BENCHMARKS

BREAKDOWN_NOTE = (
    "Each run on its headline protocol; each column names its formulation (a published figure keeps its own, "
    "often another one than the runs')."
)
REGEX_NOTE = (
    "Its option regex (`([A-Z])\\.\\s*(.+?)(?=\\n[A-Z]\\.|$)` over the prompt) reads another option set from "
    'these questions\' prompts (e.g. "U.S." or "World War II." in a question): published figures made '
    "with it scored them with wrong options."
)


def _table_head(first: str, titles: list[str]) -> list[str]:
    return [
        md_row(first, "formulation", "protocol", *titles),
        "|---|---|---" + "|---" * len(titles) + "|",
    ]


def chance_note(cell: Cell | None) -> str:
    """What follows a cell of the every-protocol table: its chance, and its unparseable generated answers."""
    if cell is None:
        return ""
    extra = f" (chance {cell.chance:.1f})" if cell.chance is not None else ""
    return extra + (f" ({cell.unparseable} unparseable)" if cell.unparseable and not cell.all_unparseable else "")


def breakdown_cell(cell: Cell | None) -> str:
    """A cell of a per-category table: accuracy [interval] with its questions and chance (a category may hold
    one question, and chance differs by category)."""
    extra = f" (n={cell.n}, chance {cell.chance:.1f})" if cell and cell.n and cell.chance is not None else ""
    return fmt(cell, with_coverage=False) + extra


def verdict_words(report: Report) -> str:
    """How the ⚠ above-chance verdicts were made, in words (report.md, report.html)."""
    test = report.chance_test
    cells = f"the {test.cells} run cells of this report" if test is not None else "the run cells of this report"
    return (
        f"⚠: not significantly above chance (exact one-sided test against a uniform guess, its p-value "
        f"Holm-adjusted over {cells}, alpha {report.alpha:g}: no cell at chance is called above it but with "
        "that probability) or not above always answering one letter."
    )


def headline_words(report: Report) -> str:
    """What the headline and framing marks mean, in words (report.md, report.html)."""
    framings = sorted({f for f in report.framings.values()})
    framing = f" (here: {', '.join(framings)})" if framings else ""
    return (
        "`headline:` marks each run's headline protocol (the one its summaries lead with and `regress` "
        "compares; `run --protocol`, default `cloze_pmi`). A cloze number names its framing" + framing + ": `plain` "
        "scores each option's text after `Question: ...\\nAnswer:`, `chat` as the assistant's turn of the chat "
        "template (the two framings can give very different numbers)."
    )


def aggregation_words(report: Report, titles: dict[str, str]) -> list[str]:
    """One sentence per benchmark whose overall number is not the pooled accuracy."""
    return [
        f"{titles[b]}: the overall number is the mean of its {BENCHMARKS[b]().category_field} accuracies (its "
        "official score), with its own interval, chance and test; the pooled accuracy is `pooled` in report.json."
        for b, rule in report.aggregations.items()
        if rule == "category_mean" and b in titles
    ]


def markdown(report: Report) -> str:
    benchmarks = report.benchmarks
    titles = {b: BENCHMARKS[b]().title for b in benchmarks}
    lines = [
        "# fvlm-eval report",
        "",
        "Accuracy %, with the 95% interval (clustered by video), coverage (questions recorded / in a complete "
        "copy, categories present / expected) and the chance level of a uniform guess on the same questions. "
        "Failed questions count as wrong. " + verdict_words(report),
        "",
        "Each number names its formulation; formulations are never mixed in one number, and each has its own "
        "chance level. " + headline_words(report),
        *[line for sentence in aggregation_words(report, titles) for line in ("", sentence)],
        "",
        *_table_head("model and mode", [titles[b] for b in benchmarks]),
    ]
    formulations = report.formulations
    for label in report.rows:
        cells = [fmt(report.cell(label, b), b) for b in benchmarks]
        lines.append(md_row(label, report.formulation_text(label), report.protocol_text(label), *cells))
    used = list(dict.fromkeys(formulations[label] for label in report.rows if label in formulations))
    if used:
        lines += ["", "Formulations: " + "; ".join(f"`{f}`: {formulation_label(f)}" for f in used) + "."]
    if report.warnings:
        lines += [""] + [f"**Warning:** {md_text(w)}" for w in report.warnings]
    reasons = grouped_reasons(report)
    if reasons:
        lines += ["", "⚠ reasons (one line per run and reason; each cell's own in report.csv and report.json):", ""]
        lines += [f"- {md_text(line)}" for line in reasons]
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
            cells = [fmt(row.cells.get(b), b, with_coverage=False) + chance_note(row.cells.get(b)) for b in benchmarks]
            formulation = f"{row.formulation} ({row.framing} framing)" if row.framing else row.formulation
            protocol = f"{row.protocol} ({row.headline})" if row.headline else row.protocol
            lines.append(md_row(f"{row.run} {row.mode}", formulation, protocol, *cells))
    if report.comparisons:
        lines += ["", "## Measured here vs published (generated answers)", ""]
        lines += [f"- {md_text(c.sentence(titles[c.benchmark]))}" for c in report.comparisons]
    for benchmark, table in report.breakdowns.items():
        columns = [c for c in report.rows if any(c in r for r in table.rows.values())]
        lines += [
            "",
            f"## {titles[benchmark]} by {table.field}",
            "",
            BREAKDOWN_NOTE,
            "",
            md_row(table.field, *(report.series(c) for c in columns)),
            "|---" * (len(columns) + 1) + "|",
        ]
        for value, row in table.rows.items():
            lines.append(md_row(value, *(breakdown_cell(row.get(c)) for c in columns)))
    if report.regex_misreads:
        lines += ["", "## Questions the public fVLM scorer misreads", "", REGEX_NOTE, ""]
        lines += [f"- {md_text(where)}: {count} of {total}" for where, (count, total) in report.regex_misreads.items()]
    lines += ["", "## Sources", ""] + [f"- {md_text(c)}: {md_text(s)}" for c, s in report.sources.items()]
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
    "above_chance_p",
    "above_chance_p_adjusted",
    "headline",
    "cloze_framing",
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

    headlines = dict(report.headlines)
    framings = dict(report.framings)
    for row in report.full:
        headlines.setdefault(row.label, row.headline)
        framings.setdefault(row.label, row.framing)

    def line(benchmark: str, field_name: str, value: str, label: str, cell: Cell | None) -> None:
        if cell is None or (cell.accuracy is None and cell.kind != "failed"):
            return
        low, high = cell.ci95 if cell.ci95 is not None else ("", "")
        chance = "" if cell.chance is None else f"{cell.chance:.2f}"
        accuracy = "" if cell.accuracy is None else f"{cell.accuracy:.2f}"
        fields = [
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
            blank(cell.above_chance_p),
            blank(cell.adjusted_p),
            headlines.get(label, ""),
            framings.get(label, ""),
        ]
        writer.writerow([printable(f) if isinstance(f, str) else f for f in fields])

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
