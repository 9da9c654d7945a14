"""The ⚠ reasons of a report, grouped: one line per run and kind of reason, naming its cells.

A report of three modes and three protocols on three benchmarks can carry dozens of ⚠; listed one
per cell they bury the table (68 items, 121 of 261 terminal lines in the demo). Grouped, each line
says one thing about one run: which of its cells are not significantly above chance (with how the
test was made), which are not above always answering one letter. Each cell's own reason, with its
numbers, stays in ``report.json`` and ``report.csv`` (``flags``).
"""

from __future__ import annotations

from fvlm_eval.reports.rows import Report
from fvlm_eval.tasks import BENCHMARKS
from fvlm_eval.wording import counted

KINDS = (
    ("not significantly above chance", "not significantly above chance"),
    ("not above always answering", "not above always answering one letter (the best constant-letter guess)"),
)


def kind_of(reason: str) -> str:
    """What a reason says, without its numbers: one of ``KINDS``' words, else the reason up to its first "("."""
    for start, words in KINDS:
        if reason.startswith(start):
            return words
    return reason.split(" (", 1)[0]


def _title(benchmark: str) -> str:
    return BENCHMARKS[benchmark]().title if benchmark in BENCHMARKS else benchmark


def _on(flagged: list[str], every: list[str]) -> str:
    """The benchmarks a group of cells is on; in a report of three or more, ``every benchmark`` when that is all
    of them, ``every benchmark but ...`` when it is most of them."""
    missing = [b for b in every if b not in flagged]
    if len(every) > 2 and set(flagged) <= set(every) and len(missing) < len(every) / 2:
        return "every benchmark" + (f" but {', '.join(_title(b) for b in missing)}" if missing else "")
    return ", ".join(_title(b) for b in flagged)


def grouped_reasons(report: Report) -> list[str]:
    """One line per (run, kind of reason): ``<run>: <kind>: <mode> [<protocols>] on <benchmarks>; ...``, the
    chance test's correction named on the lines that rest on it."""
    groups: dict[tuple[str, str], dict[tuple[str, str], list[str]]] = {}
    for label, benchmark, reason in report.flagged():
        run, mode, protocol = report.row_parts.get(label, (label, "", ""))
        cells = groups.setdefault((run, kind_of(reason)), {})
        on = cells.setdefault((mode, protocol), [])
        if benchmark not in on:
            on.append(benchmark)
    test = report.chance_test
    lines = []
    for (run, kind), cells in groups.items():
        merged: dict[
            tuple[str, tuple[str, ...]], list[str]
        ] = {}  # protocols of one mode flagged on the same benchmarks
        for (mode, protocol), benchmarks in cells.items():
            merged.setdefault((mode, tuple(benchmarks)), []).append(protocol)
        parts = [
            f"{mode} [{', '.join(protocols)}] on {_on(benchmarks, report.benchmarks)}"
            for (mode, benchmarks), protocols in merged.items()
        ]
        how = ""
        if kind == KINDS[0][1] and test is not None:
            how = f" (one-sided test, Holm-adjusted over the report's {test.cells} cells, alpha {test.alpha:g})"
        count = counted(sum(len(b) for b in cells.values()), "cell")
        lines.append(f"{run}: {kind}{how}, {count}: " + "; ".join(parts))
    return lines


__all__ = ["grouped_reasons", "kind_of"]
