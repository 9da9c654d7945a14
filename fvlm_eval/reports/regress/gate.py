"""The gate's decisions: which (benchmark, mode) rows fail it or are underpowered, and the verdict over them all.

The verdict (``gate_decisions``) rests on the (benchmark, mode) comparisons only, one family: their p-values
Holm-adjusted over all of them, so that with no true change anywhere the gate fails at most ``alpha`` of the
time however many there are. Breakdown rows are descriptive: they decide nothing.

Which code wins (``decide``) when several apply: a significant drop in a benchmark/mode that is comparable
(exit 1) wins over another one that is not comparable (3, 4) or underpowered (5): a data fault or a changed
setting in one benchmark must not hide a drop beyond doubt in another (the verdict names both). Then, as
before: settings or protocol differ (3) explains a thin overlap, so it comes before too few shared (4),
then questions changed under the same id (3), then underpowered (5). A refusal of the whole pair (one folder
given as both, a folder that is no run or unfinished) is raised before anything is compared.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fvlm_eval.errors import ExitCode
from fvlm_eval.reports.regress.result import Row, unseen
from fvlm_eval.stats import holm


def gate_decisions(
    deltas: list[float], p_drops: list[float], max_drop: float, alpha: float
) -> tuple[list[float], list[bool]]:
    """The gate's verdict per (benchmark, mode) comparison (changes and ``max_drop`` in points): the one-sided
    p-values Holm-adjusted over all of them, and whether each fails: a drop beyond ``max_drop`` whose adjusted
    p-value is below ``alpha``. With no true drop anywhere, any comparison fails at most ``alpha`` of the time."""
    adjusted = holm(list(p_drops))
    return adjusted, [delta < -max_drop and p < alpha for delta, p in zip(deltas, adjusted)]


def compared_rows(cells: list, paired, alpha: float, max_drop: float, blocked: dict[str, list[str]]) -> list[Row]:
    """Every row: each (benchmark, mode) comparison, then its breakdown values (``paired``: base, current,
    protocol -> ``Paired``). A row of a benchmark/mode in ``blocked`` (not comparable) never fails the gate; a row
    that shows a significant drop is never underpowered (it saw one)."""
    overall = [paired(base, cur, named[2]) for named, base, cur in cells]
    adjusted, drops = gate_decisions([s.delta for s in overall], [s.p_drop for s in overall], max_drop, alpha)
    rows = []
    for (named, base, cur), stats, p, drop in zip(cells, overall, adjusted, drops):
        comparable = f"{named[0]} {named[1]}" not in blocked
        weak = stats.detectable_drop_test is None or stats.detectable_drop_test > max_drop
        rows.append(
            Row(*named, "", "", replace(stats, p_drop_adjusted=p), weak and not drop, drop and comparable, comparable)
        )
        for name in sorted({f for r in cur.values() for f in r.fields}):
            for value in sorted({str(r.fields.get(name, "")) for r in cur.values()}):

                def pick(records, name=name, value=value):
                    return {i: r for i, r in records.items() if str(r.fields.get(name, "")) == value}

                rows.append(Row(*named, name, value, paired(pick(base), pick(cur), named[2])))
    return rows


@dataclass(frozen=True)
class Findings:
    """What ``compare_runs`` found that bears on the verdict, besides the rows: per benchmark/mode what keeps it
    from deciding (``blocked``: where -> reasons in words), and the lists the report shows."""

    blocked: dict[str, list[str]]
    lacking: list[str]
    thin: list[str]
    unscored: list[str]
    mismatches: list[str]
    protocol_problems: list[str]
    settings_differ: bool


def decide(
    rows: list[Row],
    found: Findings,
    max_drop: float,
    alpha: float,
    min_overlap: float,
    allow_mismatch: bool,
    allow_underpowered: bool,
) -> tuple[ExitCode, str, list[str]]:
    """The exit code, the verdict in words and the warnings it adds (see the module docstring)."""
    family = sum(1 for r in rows if r.overall)
    failing = [r for r in rows if r.fails_gate]
    underpowered = [r for r in rows if r.overall and r.underpowered]
    if failing:
        code = ExitCode.FAILED
    elif found.protocol_problems or (found.settings_differ and not allow_mismatch):  # a setting that differs
        code = ExitCode.REFUSED  # explains a thin overlap (--subtitles changes every prompt, so no question pairs)
    elif found.thin or found.lacking:
        code = ExitCode.UNUSABLE
    elif found.mismatches and not allow_mismatch:
        code = ExitCode.REFUSED
    elif underpowered and not allow_underpowered:
        code = ExitCode.UNDERPOWERED
    else:
        code = ExitCode.OK
    too_few = f"too few questions {'in common' if not found.unscored else 'scored in both runs'}" + (
        f" (below {min_overlap:.0%} of a run" if min_overlap > 0 else " (none"
    )
    too_few += "; questions whose media or rows failed are no answers)" if found.unscored else ")"
    verdicts = {
        ExitCode.OK: "pass",
        ExitCode.FAILED: "fail: significant drop in " + ", ".join(_drop_words(r) for r in failing),
        ExitCode.REFUSED: "fail: protocol not comparable" if found.protocol_problems else "fail: settings mismatch",
        ExitCode.UNUSABLE: "not comparable: " + "; ".join(([too_few] if found.thin else []) + lacking_words(found)),
        ExitCode.UNDERPOWERED: f"underpowered: {unseen(max_drop, alpha, family)}",
    }
    verdict, warnings = verdicts[code], []
    if code == ExitCode.FAILED:
        verdict += _besides(found, [r for r in underpowered if r.comparable])
    if code == ExitCode.OK and underpowered:
        verdict = "pass (underpowered, allowed by --allow-underpowered)"
        warnings.append(
            f"passed although {unseen(max_drop, alpha, family)} in "
            + ", ".join(r.name for r in underpowered)
            + " (--allow-underpowered)"
        )
    return code, verdict, warnings


LACKING_ADVICE = (
    "score {them}, or gate on a subset: a baseline folder holding only the <benchmark>/<mode> folders to compare "
    "(copies or symbolic links)"
)


def lacking_words(found: Findings, advice: bool = True, named: int = 3) -> list[str]:
    """What the current run lacks of the baseline, in one clause (the first ``named`` named), with the way out: a
    line per benchmark/mode made the verdict (the first line of the CI log, the step summary's heading) thousands
    of characters long when a baseline of every mode gated a run of one."""
    if not found.lacking:
        return []
    count = len(found.lacking)
    listed = ", ".join(found.lacking[:named]) + (f" and {count - named} more" if count > named else "")
    said = (
        f"the current run lacks {found.lacking[0]}, which the baseline measured"
        if count == 1
        else f"the current run lacks {count} benchmark/modes the baseline measured ({listed})"
    )
    return [f"{said}: {LACKING_ADVICE.format(them='it' if count == 1 else 'them')}" if advice else said]


def _drop_words(row: Row) -> str:
    """``videomme coarse_fine (-12.0 points, Holm-adjusted p 1.86e-09)``."""
    return f"{row.name} ({row.stats.delta:+.1f} points, Holm-adjusted p {row.stats.p_drop_adjusted:.3g})"


def _besides(found: Findings, underpowered: list[Row]) -> str:
    """What else an exit-1 verdict must say: the benchmark/modes not compared and why, those underpowered."""
    parts = [f"{where} ({', '.join(reasons)})" for where, reasons in found.blocked.items()]
    parts += lacking_words(found, advice=False)
    said = f"; not compared: {'; '.join(parts)}" if parts else ""
    if underpowered:
        said += f"; underpowered: {', '.join(r.name for r in underpowered)}"
    return said


__all__ = ["Findings", "compared_rows", "decide", "gate_decisions", "lacking_words"]
