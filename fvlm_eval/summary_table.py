"""Terminal tables: the end of a run, and the coverage of ``prepare``.

No name or number is ever cut ("…"), at 80 columns or in a log that is not a terminal: the tables
are narrow by construction (one row per mode and protocol shown, a table per benchmark, coverage
in its own table; formulations abbreviated by the legend ``FORMULATION_CODES``, printed under
the table), every column is as wide as its widest cell, and a table that still does not fit the
console is folded into rows: one line per row, ``header: value; ...``, wrapped between words.
"""

from __future__ import annotations

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from fvlm_eval.report import formulation_of, main_protocols
from fvlm_eval.scoring import GENERATED
from fvlm_eval.tasks import BENCHMARKS
from fvlm_eval.wording import counted

FORMULATION_CODES = {"multiple_choice": "MC", "cloze": "cloze", "generated": "gen", "circular": "circ",
                     "permutation_averaged": "perm"}
FORMULATION_LEGEND = ("formulation: MC = multiple choice (options listed with letters), cloze = the question alone, "
                      "each option's text scored, gen = generated answer, circ = circular (right under every "
                      "rotation), perm = permutation-averaged")
GAP = 2  # characters between two columns


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def interval(block: dict) -> str:
    return "n/a" if block.get("ci95") is None else f"{pct(block['ci95'][0])}-{pct(block['ci95'][1])}"


def print_rows(console: Console, title: str, headers: list[str], rows: list[list[str]], right: set[int] = frozenset(),
               styles: list[str] | None = None) -> None:
    """A table when every column fits whole in the console's width, else one line per row
    (``header: value; ...``). Nothing is ever cut short."""
    keep = [i for i, h in enumerate(headers) if i == 0 or any(str(r[i]) for r in rows)]  # drop an all-empty column
    headers, rows = [headers[i] for i in keep], [[r[i] for i in keep] for r in rows]
    right = {keep.index(i) for i in right if i in keep}
    widths = [max([cell_len(h), *(cell_len(str(r[i])) for r in rows)]) for i, h in enumerate(headers)]
    if sum(widths) + GAP * (len(widths) - 1) <= console.width:
        table = Table(title=Text(title), box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, show_edge=False,
                      title_justify="left", collapse_padding=True)
        for i, header in enumerate(headers):
            table.add_column(header, justify="right" if i in right else "left", no_wrap=True, min_width=widths[i])
        for i, row in enumerate(rows):
            table.add_row(*(Text(str(v)) for v in row), style=styles[i] if styles else None)  # data, not markup
        table.padding = (0, GAP // 2)
        console.print(table)
        return
    console.print(title, highlight=False, markup=False)
    for i, row in enumerate(rows):
        console.print("  " + "; ".join(f"{h}: {v}" for h, v in zip(headers, row) if str(v)), style=styles[i] if styles else None,
                      highlight=False, markup=False)


def accuracy_cell(block: dict, summary: dict, protocol: str) -> str:
    """accuracy [interval], or what stands in for it: all failed, n/a."""
    coverage = summary["coverage"]
    if coverage.get("recorded") and not coverage.get("scored"):
        return f"all {coverage['failed']} failed"
    if block.get("accuracy") is None:
        return "n/a"
    text = f"{pct(block['accuracy'])} [{interval(block)}]"
    if summary.get("flags", {}).get(protocol):
        text += " ⚠"
    if block.get("not_measured"):  # measured on part of the recorded questions: say on how many
        text += f" on {block['n']} of {block['n'] + block['not_measured']}"
    return text


def print_run_tables(summaries: dict[tuple[str, str], dict], console: Console | None = None) -> None:
    """Per benchmark: one row per mode and protocol shown (the headline, the best cloze protocol,
    generated, circular: each with its formulation, 95% interval and chance); then coverage;
    then accuracy per category of the headline protocol."""
    console = console or Console()
    for benchmark in dict.fromkeys(b for b, _ in summaries):
        rows = []
        for (name, mode), summary in summaries.items():
            if name != benchmark:
                continue
            for protocol in main_protocols(summary):
                block = summary["accuracy"][protocol]
                note = ""
                if protocol.endswith(GENERATED) and block.get("unparseable"):
                    answered = block["n"] - summary["coverage"]["failed"]  # the protocol's own answers
                    note = (f"all {answered} unparseable" if block["unparseable"] >= answered
                            else f"{block['unparseable']} unparseable")
                formulation = formulation_of(protocol, block)
                rows.append([mode, FORMULATION_CODES.get(formulation, formulation), protocol,
                             accuracy_cell(block, summary, protocol), pct(block.get("chance")), note])
        print_rows(console, f"{benchmark}: accuracy % (failed questions count as wrong; ⚠ = not above chance or a "
                   "constant letter)", ["mode", "form", "protocol", "accuracy [95% CI]", "chance", "note"], rows, {3, 4})
    console.print(FORMULATION_LEGEND, style="dim", highlight=False)
    rows = [[b, m, s["coverage"]["scored"], s["coverage"]["failed"], f"{s['coverage']['recorded']}/{s['coverage']['expected']}",
             s.get("fallback_options", 0)] for (b, m), s in summaries.items()]
    print_rows(console, "coverage (fallbacks: options scored by a full pass)",
               ["benchmark", "mode", "scored", "failed", "recorded/expected", "fallbacks"], rows, {2, 3, 4, 5})
    for benchmark in dict.fromkeys(b for b, _ in summaries):
        modes = [mode for b, mode in summaries if b == benchmark]
        first = summaries[(benchmark, modes[0])]
        protocol = first["headline_protocol"]
        field = BENCHMARKS[benchmark]().main_breakdown if benchmark in BENCHMARKS else None
        values = first["accuracy"][protocol]["breakdowns"].get(field) if field else None
        if not values:
            continue
        rows = [[value, *[pct(summaries[(benchmark, m)]["accuracy"][protocol]["breakdowns"][field].get(value, {}).get("accuracy"))
                          for m in modes], pct(cell.get("chance")), cell["n"]] for value, cell in values.items()]
        print_rows(console, f"{benchmark} by {field} ({protocol}, %)", [field, *modes, "chance", "n"], rows,
                   set(range(1, len(modes) + 3)))
        for mode in modes:
            summary = summaries[(benchmark, mode)]
            failures = summary["failures"]
            if failures:
                console.print(escape(f"{benchmark} {mode}: {len(failures)} failed (counted wrong), e.g. "
                                     f"{failures[0]['id']}: {failures[0]['error']}"), style="yellow")
            for flag in summary.get("flags", {}).get(protocol, []):
                console.print(escape(f"{benchmark} {mode} ({protocol}): {flag}"), style="yellow")


def print_report(report: dict, folder=None, console: Console | None = None) -> None:
    """``fvlm-eval report`` in the terminal: per benchmark, every row of the main table. Runs are
    named R1, R2, ... and published figures P1, P2, ... (the legend beneath says which is which),
    so that no name is cut; the full text is in report.md."""
    from fvlm_eval.report import fmt

    console = console or Console()
    parts = report.get("row_parts", {})
    codes, legend = {}, []
    for label in report["rows"]:
        if label in parts:
            run = parts[label][0]
            if run not in codes:
                codes[run] = f"R{sum(1 for c in codes.values() if c.startswith('R')) + 1}"
                legend.append(f"{codes[run]} = {run}")
        else:
            codes[label] = f"P{sum(1 for c in codes.values() if c.startswith('P')) + 1}"
            legend.append(f"{codes[label]} = {label}: {report['protocols'][label]}")
    for benchmark in report["benchmarks"]:
        title = BENCHMARKS[benchmark]().title if benchmark in BENCHMARKS else benchmark
        rows, notes, seen = [], [], set()
        for label in report["rows"]:
            cell = report["main"][label].get(benchmark)
            if not cell:
                continue
            formulation = report.get("formulations", {}).get(label, "")
            run, mode, protocol = parts.get(label, [label, "", "published"])
            accuracy = fmt(cell, benchmark, with_coverage=False) if not cell.get("all_failed") else f"all {cell['failed']} failed"
            rows.append([codes[run], mode, FORMULATION_CODES.get(formulation, formulation), protocol, accuracy,
                         "" if cell.get("chance") is None else f"{cell['chance']:.1f}"])
            if "recorded" in cell and (run, mode) not in seen:  # coverage once per run and mode
                seen.add((run, mode))
                extra = f", {cell['failed']} failed" if cell.get("failed") else ""
                notes.append(f"{codes[run]} {mode}: {cell['recorded']}/{cell['expected']} q"
                             + (f", {cell['categories']} categories" if cell.get("categories") else "") + extra)
            if cell.get("unparseable"):
                notes.append(f"{codes[run]} {mode} [{protocol}]: {counted(cell['unparseable'], 'answer')} unparseable (counted wrong)")
        print_rows(console, f"{title}: accuracy % (95% interval; ⚠ = not above chance or a constant letter)",
                   ["run", "mode", "form", "protocol", "accuracy [95% CI]", "chance"], rows, {4, 5})
        for note in notes:
            console.print(f"  {note}", highlight=False, markup=False)
    for line in legend:
        console.print(line, highlight=False, markup=False)
    console.print(FORMULATION_LEGEND, style="dim", highlight=False, markup=False)
    for warning in report.get("warnings", []):
        console.print(f"warning: {warning}", style="yellow", highlight=False, markup=False)
    flagged = [(label, b, f) for label in report["run_rows"] for b in report["benchmarks"]
               for f in report["main"][label].get(b, {}).get("flags", [])]
    for label, benchmark, flag in flagged:
        console.print(f"⚠ {label} on {benchmark}: {flag}", style="yellow", highlight=False, markup=False)
    for c in report.get("smolvlm2", []):
        if c["published"] is not None and c["ours"] is not None:
            console.print(f"SmolVLM2-{c['size']} on {c['benchmark']}: ours {c['ours']:.1f} (generated answers) vs published "
                          f"{c['published']:.1f} ({c['published_protocol']}): {c['difference']:+.1f} points",
                          highlight=False, markup=False)
    if folder is not None:
        console.print(f"the full report (every protocol, breakdowns, sources): {folder}/report.md, report.html",
                      highlight=False, markup=False)


def print_verification(result, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"{result.benchmark}: questions found vs expected")
    for column in ("category", "found", "unusable", "expected"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for category, (found, bad, expected) in result.categories.items():
        style = "red" if found < expected or bad else ""
        table.add_row(Text(category), str(found), str(bad), str(expected), style=style)
    table.add_row("total", str(result.questions), str(len(result.problems)), str(result.expected), style="bold")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    for problem in result.problems:
        console.print(Text.assemble(("problem", "red"), f" {problem}"))
    for item in result.unreadable:
        console.print(Text.assemble(("unreadable", "red"), f" {item}"))
    verdict = "complete" if result.complete else "INCOMPLETE: scores on this copy are not comparable to published ones"
    console.print(f"{result.benchmark}: {verdict}")
