"""Terminal tables: the end of a run (its summaries; ``fvlm-eval report``'s in ``report_table``).

No name or number is ever cut ("…"), at 80 columns or in a log that is not a terminal: the tables
are narrow by construction (one row per mode and protocol shown, a table per benchmark, coverage
in its own table; formulations abbreviated by the legend ``FORMULATION_CODES``, printed under
the table), every column is as wide as its widest cell, and a table that still does not fit the
console is folded into rows: one line per row, ``header: value; ...``, wrapped between words. Each
table's title names the headline protocol and the cloze framing; text from data is ``printable`` (an
escape character in a folder name or an error is shown, never obeyed).
"""

from __future__ import annotations

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from fvlm_eval import terminal
from fvlm_eval.protocols import GENERATED, formulation_of, main_protocols
from fvlm_eval.reports.printable import printable
from fvlm_eval.reports.reasons import KINDS, kind_of
from fvlm_eval.stats import holm
from fvlm_eval.summarize import DEFAULT_ALPHA
from fvlm_eval.summary import Measure, ProtocolResult, Summary
from fvlm_eval.tasks import BENCHMARKS

FORMULATION_CODES = {
    "multiple_choice": "MC",
    "cloze": "cloze",
    "generated": "gen",
    "circular": "circ",
    "permutation_averaged": "perm",
}
FORMULATION_LEGEND = (
    "formulation: MC = multiple choice (options listed with letters), cloze = the question alone, "
    "each option's text scored, gen = generated answer, circ = circular (right under every "
    "rotation), perm = permutation-averaged"
)
GAP = 2  # characters between two columns


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def interval(result: Measure | ProtocolResult) -> str:
    return "n/a" if result.ci95 is None else f"{pct(result.ci95[0])}-{pct(result.ci95[1])}"


def print_rows(
    console: Console,
    title: str,
    headers: list[str],
    rows: list[list[str]],
    right: set[int] = frozenset(),
    styles: list[str] | None = None,
) -> None:
    """A table when every column fits whole in the console's width, else one line per row
    (``header: value; ...``). Nothing is ever cut short."""
    keep = [i for i, h in enumerate(headers) if i == 0 or any(str(r[i]) for r in rows)]  # drop an all-empty column
    headers, rows = [printable(headers[i]) for i in keep], [[printable(r[i]) for i in keep] for r in rows]
    title = printable(title)
    right = {keep.index(i) for i in right if i in keep}
    widths = [max([cell_len(h), *(cell_len(str(r[i])) for r in rows)]) for i, h in enumerate(headers)]
    if sum(widths) + GAP * (len(widths) - 1) <= console.width:
        table = Table(
            title=Text(title),
            box=box.SIMPLE_HEAD,
            padding=(0, 0),
            pad_edge=False,
            show_edge=False,
            title_justify="left",
            collapse_padding=True,
        )
        for i, header in enumerate(headers):
            table.add_column(header, justify="right" if i in right else "left", no_wrap=True, min_width=widths[i])
        for i, row in enumerate(rows):
            table.add_row(*(Text(str(v)) for v in row), style=styles[i] if styles else None)  # data, not markup
        table.padding = (0, GAP // 2)
        console.print(table)
        return
    console.print(title, highlight=False, markup=False)
    for i, row in enumerate(rows):
        console.print(
            "  " + "; ".join(f"{h}: {v}" for h, v in zip(headers, row) if str(v)),
            style=styles[i] if styles else None,
            highlight=False,
            markup=False,
        )


def _benchmark_notes(benchmark: str, summaries: list[Summary]) -> list[str]:
    """What a run's own table must say beside its numbers: an overall number that is a mean of categories (of how
    many, when some are absent) and the loaders' notes (an MLVU task file absent), once per benchmark."""
    lines = []
    for summary in summaries:
        coverage, noun = summary.coverage, BENCHMARKS[benchmark].category_field if benchmark in BENCHMARKS else ""
        if summary.aggregation == "category_mean":
            of = (
                ""
                if coverage.categories_present == coverage.categories_expected
                else f" of {coverage.categories_expected}"
            )
            lines.append(
                f"{benchmark}: accuracy is the mean of {coverage.categories_present}{of} {noun}s' accuracies (its "
                "official score)" + (", not of all of them" if of else "")
            )
        lines += [f"{benchmark}: {note}" for note in summary.notes]
    return list(dict.fromkeys(lines))


def headline_title(summaries: list[Summary]) -> str:
    """``headline cloze_pmi; cloze framing plain``: the headline protocol(s) and cloze framing(s) of these summaries."""
    headlines = list(dict.fromkeys(s.headline_protocol for s in summaries))
    framings = list(dict.fromkeys(s.cloze_framing for s in summaries if s.cloze_framing))
    words = f"headline {', '.join(headlines)}"
    return words + (f"; cloze framing {', '.join(framings)}" if framings else "")


def accuracy_cell(result: ProtocolResult, summary: Summary, protocol: str, at_chance: bool = False) -> str:
    """accuracy [interval], or what stands in for it: all failed, n/a; ⚠ when the summary flags it, or
    ``at_chance`` (not above chance once tested with every cell beside it)."""
    coverage = summary.coverage
    if coverage.all_failed:
        return f"all {coverage.failed} failed"
    if result.accuracy is None:
        return "n/a"
    text = f"{pct(result.accuracy)} [{interval(result)}]"
    if summary.flags.get(protocol) or at_chance:
        text += " ⚠"
    if result.not_measured:  # measured on part of the recorded questions: say on how many
        text += f" on {result.n} of {result.n + result.not_measured}"
    return text


def _breakdown_accuracy(summary: Summary, protocol: str, field_name: str, value: str) -> float | None:
    found = summary.accuracy[protocol].breakdowns.get(field_name, {}).get(value)
    return found.accuracy if found is not None else None


def at_chance_in_tables(summaries: dict[tuple[str, str], Summary]) -> tuple[set[tuple[str, str, str]], int]:
    """The (benchmark, mode, protocol) cells the run's tables show that are not significantly above chance with
    their p-values Holm-adjusted over every cell shown (each summary.json adjusts over its own protocols only: 27
    summaries side by side are 27 families, and a random model would be "above chance" in one of them far more
    often than alpha), and how many cells were tested."""
    shown = [
        (benchmark, mode, protocol)
        for (benchmark, mode), summary in summaries.items()
        for protocol in main_protocols(summary.accuracy, summary.headline_protocol)
        if summary.accuracy[protocol].above_chance_p is not None
    ]
    adjusted = holm([summaries[cell[:2]].accuracy[cell[2]].above_chance_p for cell in shown])
    alpha = {key: s.chance_test.alpha if s.chance_test is not None else DEFAULT_ALPHA for key, s in summaries.items()}
    return {cell for cell, p in zip(shown, adjusted) if p >= alpha[cell[:2]]}, len(shown)


def print_run_tables(summaries: dict[tuple[str, str], Summary], console: Console | None = None) -> None:
    """Per benchmark: one row per mode and protocol shown (the headline, the best cloze protocol,
    generated, circular: each with its formulation, 95% interval and chance); then coverage;
    then accuracy per category of the headline protocol."""
    console = console or terminal.console()
    at_chance, tested = at_chance_in_tables(summaries)
    for benchmark in dict.fromkeys(b for b, _ in summaries):
        rows = []
        for (name, mode), summary in summaries.items():
            if name != benchmark:
                continue
            for protocol in main_protocols(summary.accuracy, summary.headline_protocol):
                result = summary.accuracy[protocol]
                note = ""
                answered = result.n - summary.coverage.failed  # the protocol's own answers
                if protocol == GENERATED and result.generation_failed:
                    note = (
                        f"all {answered} generations failed (samples.jsonl: generated.error)"
                        if result.generation_failed >= answered
                        else f"{result.generation_failed} generations failed"
                    )
                elif result.near_ties and 2 * result.near_ties >= max(answered, 1):  # a dead or untrained model
                    note = f"{result.near_ties} of {answered} are ties (its scores hardly tell the options apart)"
                elif protocol.endswith(GENERATED) and result.unparseable:
                    note = (
                        f"all {answered} unparseable"
                        if result.unparseable >= answered
                        else f"{result.unparseable} unparseable"
                    )
                formulation = formulation_of(protocol, result)
                rows.append(
                    [
                        mode,
                        FORMULATION_CODES.get(formulation, formulation),
                        protocol,
                        accuracy_cell(result, summary, protocol, (name, mode, protocol) in at_chance),
                        pct(result.chance),
                        note,
                    ]
                )
        print_rows(
            console,
            f"{benchmark}: accuracy % (failed questions count as wrong; ⚠ = not above a constant letter, or not "
            f"above chance, Holm-adjusted over the {tested} cells of these tables and within each summary; "
            + headline_title([s for (b, _), s in summaries.items() if b == benchmark])
            + ")",
            ["mode", "form", "protocol", "accuracy [95% CI]", "chance", "note"],
            rows,
            {3, 4},
        )
        for line in _benchmark_notes(benchmark, [s for (b, _), s in summaries.items() if b == benchmark]):
            console.print(escape(printable(line)), style="yellow")
    console.print(FORMULATION_LEGEND, style="dim", highlight=False)
    rows = [
        [b, m, s.coverage.scored, s.coverage.failed, f"{s.coverage.recorded}/{s.coverage.expected}", s.fallback_options]
        for (b, m), s in summaries.items()
    ]
    print_rows(
        console,
        "coverage (fallbacks: options scored by a full pass)",
        ["benchmark", "mode", "scored", "failed", "recorded/expected", "fallbacks"],
        rows,
        {2, 3, 4, 5},
    )
    for benchmark in dict.fromkeys(b for b, _ in summaries):
        modes = [mode for b, mode in summaries if b == benchmark]
        first = summaries[(benchmark, modes[0])]
        protocol = first.headline_protocol
        field = BENCHMARKS[benchmark]().main_breakdown if benchmark in BENCHMARKS else None
        values = first.accuracy[protocol].breakdowns.get(field) if field else None
        if not values:
            continue

        rows = [
            [
                value,
                *[pct(_breakdown_accuracy(summaries[(benchmark, m)], protocol, field, value)) for m in modes],
                pct(cell.chance),
                cell.n,
            ]
            for value, cell in values.items()
        ]
        print_rows(
            console,
            f"{benchmark} by {field} ({protocol}, %)",
            [field, *modes, "chance", "n"],
            rows,
            set(range(1, len(modes) + 3)),
        )
        for mode in modes:
            summary = summaries[(benchmark, mode)]
            if summary.failures:
                first_failure = summary.failures[0]
                console.print(
                    escape(
                        printable(
                            f"{benchmark} {mode}: {len(summary.failures)} failed (counted wrong), e.g. "
                            f"{first_failure['id']}: {first_failure['error']}"
                        )
                    ),
                    style="yellow",
                )
        for line in flag_lines(benchmark, protocol, [summaries[(benchmark, mode)] for mode in modes]):
            console.print(escape(printable(line)), style="yellow")
        table_wide = [  # marked only once tested with every cell of the tables: said too, not a bare ⚠
            mode
            for mode in modes
            if (benchmark, mode, protocol) in at_chance
            and not any(kind_of(f) == KINDS[0][1] for f in summaries[(benchmark, mode)].flags.get(protocol, ()))
        ]
        if table_wide:
            console.print(
                escape(
                    printable(
                        f"{benchmark} ({protocol}): {KINDS[0][1]} once Holm-adjusted over the {tested} cells of "
                        f"these tables: {', '.join(table_wide)}"
                    )
                ),
                style="yellow",
            )


def flag_lines(benchmark: str, protocol: str, summaries: list[Summary]) -> list[str]:
    """The ⚠ reasons of a benchmark's headline protocol, one line per kind of reason naming its modes (each
    mode's own, with its numbers, is in its summary.json's ``flags``)."""
    kinds: dict[str, list[str]] = {}
    for summary in summaries:
        for flag in summary.flags.get(protocol, ()):
            kinds.setdefault(kind_of(flag), []).append(summary.mode)
    lines = []
    for kind, modes in kinds.items():
        test = next((s.chance_test for s in summaries if s.chance_test is not None), None)
        how = (
            f" (one-sided test, Holm-adjusted over each summary's {test.cells} protocols, alpha {test.alpha:g})"
            if kind == KINDS[0][1] and test is not None and test.cells > 1
            else ""
        )
        lines.append(f"{benchmark} ({protocol}): {kind}{how}: {', '.join(dict.fromkeys(modes))}")
    return lines
