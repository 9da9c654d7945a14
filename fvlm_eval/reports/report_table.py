"""``fvlm-eval report`` in the terminal: per benchmark, every row of the main table, runs named R1, R2, ... and
published figures P1, P2, ... (the legend beneath says which is which), as narrow as ``tables`` makes a run's."""

from __future__ import annotations

from rich.console import Console

from fvlm_eval import terminal
from fvlm_eval.reports.cells import fmt
from fvlm_eval.reports.printable import printable
from fvlm_eval.reports.reasons import grouped_reasons
from fvlm_eval.reports.rows import Report
from fvlm_eval.reports.tables import FORMULATION_CODES, FORMULATION_LEGEND, print_rows
from fvlm_eval.tasks import BENCHMARKS
from fvlm_eval.wording import counted


def _report_headlines(report: Report, benchmark: str, codes: dict[str, str]) -> str:
    """The headline protocol of each run on ``benchmark`` (``headline R1 cloze_pmi, R2 reference``) and the
    cloze framings of its cloze rows."""
    found: dict[str, list[str]] = {}
    for label, mark in report.headlines.items():
        run, _, protocol = report.row_parts[label]
        if report.cell(label, benchmark) is not None and (mark == "headline" or benchmark in mark):
            found.setdefault(protocol, [])
            if codes[run] not in found[protocol]:
                found[protocol].append(codes[run])
    words = "headline " + (", ".join(f"{' '.join(runs)} {p}" for p, runs in found.items()) or "not shown")
    framings = sorted({f for label, f in report.framings.items() if report.cell(label, benchmark) is not None})
    return words + (f"; cloze framing {', '.join(framings)}" if framings else "")


def print_report(report: Report, folder=None, console: Console | None = None) -> None:
    """``fvlm-eval report`` in the terminal: per benchmark, every row of the main table. Runs are
    named R1, R2, ... and published figures P1, P2, ... (the legend beneath says which is which),
    so that no name is cut; the full text is in report.md."""
    console = console or terminal.console()
    parts = report.row_parts
    codes, legend = {}, []
    for label in report.rows:
        if label in parts:
            run = parts[label][0]
            if run not in codes:
                codes[run] = f"R{sum(1 for c in codes.values() if c.startswith('R')) + 1}"
                legend.append(f"{codes[run]} = {run}")
        else:
            codes[label] = f"P{sum(1 for c in codes.values() if c.startswith('P')) + 1}"
            legend.append(f"{codes[label]} = {label}: {report.protocols[label]}")
    for benchmark in report.benchmarks:
        title = BENCHMARKS[benchmark]().title if benchmark in BENCHMARKS else benchmark
        rows, notes, seen = [], [], set()
        for label in report.rows:
            cell = report.cell(label, benchmark)
            if cell is None:
                continue
            formulation = report.formulations.get(label, "")
            run, mode, protocol = parts.get(label, (label, "", "published"))
            accuracy = (
                fmt(cell, benchmark, with_coverage=False) if cell.kind != "failed" else f"all {cell.failed} failed"
            )
            rows.append(
                [
                    codes[run],
                    mode,
                    FORMULATION_CODES.get(formulation, formulation),
                    protocol,
                    accuracy,
                    "" if cell.chance is None else f"{cell.chance:.1f}",
                ]
            )
            if cell.overall and (run, mode) not in seen:  # coverage once per run and mode
                seen.add((run, mode))
                extra = f", {cell.failed} failed" if cell.failed else ""
                notes.append(
                    f"{codes[run]} {mode}: {cell.recorded}/{cell.expected} q"
                    + (f", {cell.categories} categories" if cell.categories else "")
                    + extra
                )
            if cell.unparseable:
                notes.append(
                    f"{codes[run]} {mode} [{protocol}]: {counted(cell.unparseable, 'answer')} unparseable (counted "
                    "wrong)"
                )
        print_rows(
            console,
            f"{title}: accuracy % (95% interval; ⚠ = not above chance or a constant letter; "
            + _report_headlines(report, benchmark, codes)
            + ")",
            ["run", "mode", "form", "protocol", "accuracy [95% CI]", "chance"],
            rows,
            {4, 5},
        )
        for note in notes:
            console.print(f"  {printable(note)}", highlight=False, markup=False)
    for line in legend:
        console.print(line, highlight=False, markup=False)
    console.print(FORMULATION_LEGEND, style="dim", highlight=False, markup=False)
    for warning in report.warnings:
        console.print(f"warning: {printable(warning)}", style="yellow", highlight=False, markup=False)
    for line in grouped_reasons(report):
        console.print(f"⚠ {printable(line)}", style="yellow", highlight=False, markup=False)
    for c in report.comparisons:
        if c.published is not None and c.ours is not None:
            console.print(c.sentence(BENCHMARKS[c.benchmark]().title), highlight=False, markup=False)
    if folder is not None:
        console.print(
            f"the full report (every protocol, breakdowns, sources): {folder}/report.md, report.html",
            highlight=False,
            markup=False,
        )
