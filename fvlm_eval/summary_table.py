"""Terminal tables: the end of a run, and the coverage of ``prepare``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from fvlm_eval.scoring import GENERATED
from fvlm_eval.tasks import BENCHMARKS


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def interval(block: dict) -> str:
    return "n/a" if block.get("ci95") is None else f"{pct(block['ci95'][0])}-{pct(block['ci95'][1])}"


def print_run_tables(summaries: dict[tuple[str, str], dict], console: Console | None = None) -> None:
    """Accuracy per benchmark and mode (headline protocol, 95% interval, chance, coverage), then per category."""
    console = console or Console()
    protocols = sorted({s["headline_protocol"] for s in summaries.values()})
    generated = any(GENERATED in s["accuracy"] for s in summaries.values())
    table = Table(title=f"fvlm-eval results (protocol: {', '.join(protocols)}; failed questions count as wrong; "
                        "⚠ = not above chance or a constant letter)")
    columns = ["benchmark", "mode", "accuracy %", "95% CI", "chance %"] + (["generated %", "unparseable"] if generated else []) \
        + ["scored", "failed", "of expected", "fallbacks"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("benchmark", "mode") else "right")
    for (benchmark, mode), summary in summaries.items():
        protocol = summary["headline_protocol"]
        result = summary["accuracy"][protocol]
        coverage = summary["coverage"]
        warn = " ⚠" if summary.get("flags", {}).get(protocol) else ""
        row = [benchmark, mode, pct(result["accuracy"]) + warn, interval(result), pct(summary.get("chance"))]
        if generated:
            block = summary["accuracy"].get(GENERATED)
            row += [pct(block["accuracy"]) if block else "-", str(block["unparseable"]) if block else "-"]
        row += [str(coverage["scored"]), str(coverage["failed"]), f"{coverage['recorded']}/{coverage['expected']}",
                str(summary["fallback_options"])]
        table.add_row(*row)
    console.print(table)
    for benchmark in dict.fromkeys(b for b, _ in summaries):
        modes = [mode for b, mode in summaries if b == benchmark]
        first = summaries[(benchmark, modes[0])]
        protocol = first["headline_protocol"]
        field = BENCHMARKS[benchmark]().main_breakdown if benchmark in BENCHMARKS else None
        values = first["accuracy"][protocol]["breakdowns"].get(field) if field else None
        if not values:
            continue
        detail = Table(title=f"{benchmark} by {field} ({protocol}, %)")
        detail.add_column(field)
        for mode in modes:
            detail.add_column(mode, justify="right")
        detail.add_column("chance", justify="right")
        detail.add_column("n", justify="right")
        for value, cell in values.items():
            row = [pct(summaries[(benchmark, m)]["accuracy"][protocol]["breakdowns"][field].get(value, {}).get("accuracy"))
                   for m in modes]
            detail.add_row(value, *row, pct(cell.get("chance")), str(cell["n"]))
        console.print(detail)
        for mode in modes:
            summary = summaries[(benchmark, mode)]
            failures = summary["failures"]
            if failures:
                console.print(f"[yellow]{benchmark} {mode}: {len(failures)} failed (counted wrong), e.g. "
                              f"{failures[0]['id']}: {failures[0]['error']}[/]")
            for flag in summary.get("flags", {}).get(protocol, []):
                console.print(f"[yellow]{benchmark} {mode} ({protocol}): {flag}[/]")


def print_verification(result, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"{result.benchmark}: questions found vs expected")
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
    console.print(f"{result.benchmark}: {verdict}")
