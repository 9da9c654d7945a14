"""Terminal tables: the end of a run, and the coverage of ``prepare``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def print_run_tables(summaries: dict[tuple[str, str], dict], console: Console | None = None) -> None:
    """Accuracy per task and mode (headline protocol, 95% interval, coverage), then per category."""
    console = console or Console()
    protocols = sorted({s["headline_protocol"] for s in summaries.values()})
    table = Table(title=f"fvlm-eval results (protocol: {', '.join(protocols)}; failed questions count as wrong)")
    for column in ("task", "mode", "accuracy %", "95% CI", "scored", "failed", "of expected", "fallbacks"):
        table.add_column(column, justify="right" if column not in ("task", "mode") else "left")
    for (task, mode), summary in summaries.items():
        protocol = summary["headline_protocol"]
        result = summary["accuracy"][protocol]
        coverage = summary["coverage"]
        low, high = result["ci95"]
        table.add_row(task, mode, pct(result["accuracy"]), f"{pct(low)}-{pct(high)}", str(coverage["scored"]),
                      str(coverage["failed"]), f"{coverage['recorded']}/{coverage['expected']}",
                      str(summary["fallback_options"]))
    console.print(table)
    tasks = dict.fromkeys(task for task, _ in summaries)
    for task in tasks:
        modes = [mode for t, mode in summaries if t == task]
        first = summaries[(task, modes[0])]
        protocol = first["headline_protocol"]
        field = next(iter(first["accuracy"][protocol]["breakdowns"]), None)
        if field is None:
            continue
        detail = Table(title=f"{task} by {field} ({protocol}, %)")
        detail.add_column(field)
        for mode in modes:
            detail.add_column(mode, justify="right")
        detail.add_column("n", justify="right")
        values = first["accuracy"][protocol]["breakdowns"][field]
        for value, cell in values.items():
            row = [pct(summaries[(task, m)]["accuracy"][protocol]["breakdowns"][field].get(value, {"accuracy": 0})["accuracy"]) for m in modes]
            detail.add_row(value, *row, str(cell["n"]))
        console.print(detail)
        for mode in modes:
            failures = summaries[(task, mode)]["failures"]
            if failures:
                console.print(f"[yellow]{task} {mode}: {len(failures)} failed (counted wrong), e.g. {failures[0]['id']}: {failures[0]['error']}[/]")
                break


def print_verification(result, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"{result.task}: questions found vs expected")
    for column in ("category", "found", "unusable", "expected"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for category, (found, bad, expected) in result.categories.items():
        style = "red" if found < expected or bad else ""
        table.add_row(category, str(found), str(bad), str(expected), style=style)
    table.add_row("total", str(result.questions), str(len(result.problems)), str(result.expected), style="bold")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
    for problem in result.problems:
        console.print(f"[red]problem[/] {problem}")
    for item in result.unreadable:
        console.print(f"[red]unreadable[/] {item}")
    verdict = "complete" if result.complete else "INCOMPLETE: scores on this copy are not comparable to published ones"
    console.print(f"{result.task}: {verdict}")
