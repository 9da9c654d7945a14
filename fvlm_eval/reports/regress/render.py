"""A regression comparison in words: ``regress.md`` (every row, per breakdown, the questions that flipped)
and the terminal's shorter text (the verdict, what is wrong, one line per benchmark and mode)."""

from __future__ import annotations

import html
from pathlib import Path

from fvlm_eval.reports.printable import md_row, md_text, printable
from fvlm_eval.reports.regress.power import NEEDED_AT_MOST
from fvlm_eval.reports.regress.result import Comparison, Row, level_words, unseen
from fvlm_eval.stats import SPREAD_CONFIDENCE
from fvlm_eval.wording import counted


def _points(value: float | None) -> str:
    """A detectable drop in a table cell: none above 100 points (an accuracy moves by 100 at most)."""
    return "n/a" if value is None else "none (> 100)" if value > 100 else f"{value:.1f}"


def _detectable(row: Row, test: bool = False) -> str:
    value = row.stats.detectable_drop_test if test else row.stats.detectable_drop
    return "none (> 100 points)" if value is None or value > 100 else f"{value:.1f} points"


def _needed(row: Row, max_drop: float) -> str:
    if row.stats.needed:
        return f"about {row.stats.needed:,} paired questions"
    return "no finite number (--max-drop 0)" if max_drop <= 0 else f"more than {NEEDED_AT_MOST:,} questions"


def _adjusted(row: Row) -> str:
    return "n/a (decides nothing)" if row.stats.p_drop_adjusted is None else f"{row.stats.p_drop_adjusted:.3g}"


def _change(s, flag: str = "") -> tuple[str, str, str, str]:
    """Baseline %, current %, change (with ``flag``) and its interval as shown; "n/a" when nothing was paired."""
    if not s.n:
        return "n/a", "n/a", "n/a", "n/a"
    return f"{s.baseline:.1f}", f"{s.current:.1f}", f"{s.delta:+.1f}{flag}", f"[{s.ci95[0]:+.1f}, {s.ci95[1]:+.1f}]"


def console_text(result: Comparison, folder: Path | None) -> str:
    """What the terminal shows: the verdict, what is wrong, and one line per benchmark and mode (the
    full table, per breakdown, is in ``folder``'s ``regress.md``: too wide for a CI log; ``None``: not written)."""
    full = markdown(result)
    head = full[: full.index("| benchmark | mode |")]
    lines = [head.rstrip(), ""]
    for r in result.rows:
        if not r.overall:
            continue
        s = r.stats
        flag = " **(significant drop)**" if r in result.failing else ""
        if not s.n:
            lines.append(f"- {r.benchmark} {printable(r.mode)} [{r.protocol}, {r.formulation}]: no question paired")
            continue
        lines.append(
            f"- {r.benchmark} {printable(r.mode)} [{r.protocol}, {r.formulation}]: "
            f"{s.baseline:.1f}% -> {s.current:.1f}% "
            f"({s.delta:+.1f}{flag}; 95% CI [{s.ci95[0]:+.1f}, {s.ci95[1]:+.1f}]; p = {s.p_drop:.3g}, "
            f"Holm-adjusted {_adjusted(r)}; detectable drop {_detectable(r)}; {counted(s.n, 'question')} on "
            f"{counted(s.videos, 'video')}, {len(s.lost)} lost, {len(s.gained)} gained)"
        )
    if folder is not None:
        lines += ["", f"Per breakdown, and the questions that flipped: {printable(folder / 'regress.md')}"]
    return "\n".join(lines) + "\n"


def markdown(result: Comparison) -> str:
    level = level_words(result.alpha, result.family)
    tested = (
        f"a benchmark and mode fails when its drop exceeds {counted(result.max_drop, 'point')} and the one-sided "
        "p-value of an exact sign-flip test over videos, Holm-adjusted over the "
        f"{counted(result.family, 'benchmark/mode comparison')}, is below {result.alpha:g}. *Detectable*: the "
        f"smallest true drop this gate fails on {result.power:.0%} of the time (normal approximation: "
        f"max(--max-drop, z(1-a)·SE+) + z({result.power:g})·SE+, a = {level}, SE+ the change's standard error over "
        f"videos at the {SPREAD_CONFIDENCE:.0%} upper confidence bound of its spread). *Underpowered* (exit 5): the "
        f"sign-flip test alone, at {level}, would find a true drop of --max-drop significant less than "
        f"{result.power:.0%} of the time (on SE+ likewise). Breakdown rows are descriptive: not "
        "adjusted, they decide nothing. McNemar's p treats questions as independent: shown, not used. Bootstrap "
        f"seed {result.seed}."
        if result.family
        else "no benchmark and mode could be compared (below), so nothing was tested."
    )
    lines = [
        f"## fvlm-eval regression: {result.verdict}",
        "",
        f"baseline `{printable(result.baseline)}` vs current `{printable(result.current)}`; {tested}",
        "",
    ]
    sections = [
        (result.too_little_shared, "**Not comparable: the runs share too few questions.**"),
        (result.lacking, "**Not comparable: the current run lacks these benchmark/modes the baseline measured.**"),
        (result.protocol_problems, "**The protocol compared is not measured by both runs.**"),
        (result.mismatches, "**Settings differ: these runs are not comparable as they stand.**"),
        (result.warnings, "**Warnings**"),
    ]
    for items, title in sections:
        if items:
            lines += [title, ""] + [f"- {md_text(m)}" for m in items] + [""]
    weak = result.underpowered
    if weak:
        lines += [f"**Underpowered: {unseen(result.max_drop, result.alpha, result.family)}.**", ""]
        lines += [
            f"- {r.benchmark} {md_text(r.mode)}: no question paired, so no drop could be detected"
            if not r.stats.n
            else f"- {r.benchmark} {md_text(r.mode)}: detectable drop {_detectable(r)} (the gate), "
            f"{_detectable(r, test=True)} for the sign-flip test alone ({counted(r.stats.n, 'question')} on "
            f"{counted(r.stats.videos, 'video')}, {len(r.stats.lost) + len(r.stats.gained)} changed); "
            f"{_needed(r, result.max_drop)} would be needed to bring the test's to {counted(result.max_drop, 'point')}"
            for r in weak
        ] + [""]
    lines += [
        "| benchmark | mode | protocol | breakdown | n (videos) | baseline % | current % | change | "
        "95% CI (paired bootstrap over videos) | p (drop, sign-flip over videos) | p Holm-adjusted "
        f"(over {result.family}) | detectable drop (gate) | McNemar p | lost | gained |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result.rows:
        s = r.stats
        where = f"{r.breakdown}={r.value}" if r.breakdown else "**all**"
        flag = " ⚠" if r in result.failing else ""
        lines.append(
            md_row(
                r.benchmark,
                r.mode,
                f"{r.protocol} ({r.formulation})",
                where,
                f"{s.n} ({s.videos})",
                *_change(s, flag),
                f"{s.p_drop:.3g}",
                _adjusted(r),
                _points(s.detectable_drop),
                f"{s.mcnemar_p:.3g}",
                len(s.lost),
                len(s.gained),
            )
        )
    for r in [r for r in result.rows if r.overall and (r.stats.lost or r.stats.gained)]:
        lost, gained = r.stats.lost, r.stats.gained
        lines += [
            "",
            f"<details><summary>{r.benchmark} {html.escape(printable(r.mode))}: {len(lost)} now wrong, "
            f"{len(gained)} now right</summary>",
            "",
            "now wrong: " + (md_text(", ".join(lost[:200])) or "none"),
            "",
            "now right: " + (md_text(", ".join(gained[:200])) or "none"),
            "",
            "</details>",
        ]
    for name, ids in result.only_in_one_run.items():
        if ids["baseline_only"] or ids["current_only"]:
            lines += [
                "",
                f"**{md_text(name)}: ids in one run only** (not compared): "
                f"baseline only {len(ids['baseline_only'])}, "
                f"current only {len(ids['current_only'])}",
            ]
    if result.unpaired_runs:
        lines += ["", "benchmark/mode in one run only: " + md_text(", ".join(result.unpaired_runs))]
    return "\n".join(lines) + "\n"
