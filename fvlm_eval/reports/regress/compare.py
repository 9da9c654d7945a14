"""Two runs paired question by question and compared: the statistics, then the verdict, as a typed result.

Only questions both runs asked alike (equal ``question_sha256``) are paired; a question changed
under the same id is a settings mismatch, and so, for a generated protocol, are answers whose letters
different letter readers read (``letter_readings``). Per benchmark, mode and breakdown value: the accuracy
change, a seeded paired bootstrap 95% interval (resampling videos), the one-sided p-value of an
exact sign-flip test over videos, McNemar's exact p-value beside it (shown, never used), the
smallest drop the gate would catch, the questions that flipped.

A question that failed (its record holds an ``error``: a missing video, a row that could not be read) was never
answered: it is paired in neither run (``failures``). Failed in one run only, it counts against ``min_overlap``
like a question the other run lacks, so a data fault in one copy is "not comparable" (exit 4), never a drop
(exit 1); fewer than that, the runs are compared on the rest and a warning counts them.

A benchmark/mode the baseline measured and the current run lacks is not comparable (exit 4): the gate was pinned
to it, and passing on the rest would shrink the family silently; one only the current run measured is said in a
warning (nothing to compare it with). Which rows fail and which verdict wins: ``gate``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from fvlm_eval.errors import SettingsError
from fvlm_eval.letter_readings import reader_difference
from fvlm_eval.protocols import (  # DEFAULT: when no summary names one
    CIRCULAR,
    DEFAULT_PROTOCOL,
    GENERATED,
    cloze_framing_of,
    formulation,
)
from fvlm_eval.records import Record
from fvlm_eval.reports.freshness import RunFolder, no_records
from fvlm_eval.reports.regress.failures import failed_by_the_model_words, failed_words, scored_in_both
from fvlm_eval.reports.regress.folders import (
    RegressUnusable,
    load_folder,
    measured,
    runs_of,
    same_folders,
    selected_otherwise,
    settings_of,
)
from fvlm_eval.reports.regress.gate import Findings, compared_rows, decide
from fvlm_eval.reports.regress.power import gate_detectable, questions_needed
from fvlm_eval.reports.regress.result import POWER, Comparison, Paired
from fvlm_eval.stats import (
    cluster_sums,
    mcnemar_exact,
    paired_bootstrap,
    paired_cluster_test,
    signflip_p_lower,
    significance_level,
)
from fvlm_eval.wording import agreeing, counted

COMPARED_SETTINGS = ("version", "sampling", "subtitles", "prompt", "family", "frame_transform", "dtype")


def drop_in_points(max_drop: float) -> float:
    """``max_drop`` when it is a usable drop in points (0 to 100), else a ``SettingsError`` (exit 2)."""
    number = isinstance(max_drop, (int, float)) and not isinstance(max_drop, bool)
    if not number or not 0 <= max_drop <= 100:
        shown = f"{max_drop:g}" if number else repr(max_drop)
        raise SettingsError(
            f"--max-drop {shown}: must be a number of points from 0 to 100 (an accuracy moves by 100 at most)"
        )
    return float(max_drop) + 0.0  # -0.0 is 0.0 (a report never says "-0")


NOT_IN_RECORDS = "did not measure it: not in its records"


def unmeasured(run: RunFolder, protocol: str) -> str | None:
    """Why ``run`` cannot be compared on ``protocol`` (it did not measure it), or ``None``.

    Its records decide (a failed question counts as wrong under every protocol and proves
    nothing); a run whose questions all failed is judged by its summary.
    """
    answered = [r for r in run.records.values() if r.error is None]
    lacking = sum(1 for r in answered if protocol not in r.correct)
    if answered:
        if lacking == len(answered):
            return NOT_IN_RECORDS
        return (
            (
                f"measured it on only {len(answered) - lacking} of its {len(answered)} answered questions (the others "
                "were "
                "scored without it, e.g. by a rerun with other flags)"
            )
            if lacking
            else None
        )
    if run.summary is not None and protocol not in run.summary.get("accuracy", {}):
        return "did not measure it: not in its summary.json"
    return None


def compare_pair(
    baseline: dict[str, Record],
    current: dict[str, Record],
    protocol: str,
    seed: int,
    alpha: float = 0.05,
    max_drop: float = 1.0,
    family: int = 1,
    gate: bool = False,
) -> Paired:
    """Paired statistics over the ids both runs hold and both scored (a question that failed in either is left
    out and counted: ``failures``; see ``Paired``). Power is said at ``alpha / family``, the level of Holm's first
    step over ``family`` comparisons. ``gate``: the detectable drop is that of ``regress``'s gate (a drop beyond
    ``max_drop`` points and significance), else that of the test alone (``track``)."""
    baseline, current, failed = scored_in_both(baseline, current)
    shared = [i for i in baseline if i in current]
    before = [bool(baseline[i].correct.get(protocol)) for i in shared]
    after = [bool(current[i].correct.get(protocol)) for i in shared]
    groups = [current[i].group for i in shared]
    lost = [i for i, b, a in zip(shared, before, after) if b and not a]
    gained = [i for i, b, a in zip(shared, before, after) if a and not b]
    n = len(shared)
    level = alpha / max(1, family)
    test = paired_cluster_test(before, after, groups, level, POWER)
    low, high = paired_bootstrap(before, after, groups, seed=seed)
    alone = 100 * test.detectable if math.isfinite(test.detectable) else None
    gated = 100 * gate_detectable(test.stderr_upper, max_drop / 100, level, POWER)
    detectable = (gated if math.isfinite(gated) else None) if gate else alone
    return Paired(
        n,
        test.clusters,
        questions_needed(test, max_drop / 100),
        100 * sum(before) / n if n else 0.0,
        100 * sum(after) / n if n else 0.0,
        100 * test.delta,
        (100 * low, 100 * high),
        test.p_drop,
        mcnemar_exact(len(lost), len(gained)),
        100 * test.stderr if math.isfinite(test.stderr) else None,
        detectable,
        lost,
        gained,
        alone,
        p_gain=signflip_p_lower(-cluster_sums(before, after, groups)) if n else 1.0,
        failed=failed,
        stderr_upper=100 * test.stderr_upper if math.isfinite(test.stderr_upper) else None,
    )


def _headline(base: RunFolder, cur: RunFolder, where: str, problems: list[str], warnings: list[str]) -> str | None:
    """The protocol both runs headline, or ``None`` (with the problem said) when they differ."""
    found = {role: run.headline_protocol for role, run in (("baseline", base), ("current", cur))}
    if found["baseline"] and found["current"] and found["baseline"] != found["current"]:
        problems.append(
            f"{where}: the runs headline different protocols (baseline {found['baseline']!r}, current "
            f"{found['current']!r}); choose one with --protocol"
        )
        return None
    if not found["baseline"] and not found["current"]:
        warnings.append(
            f"{where}: neither run has a summary naming its headline protocol; comparing "
            f"{DEFAULT_PROTOCOL!r} (choose with --protocol)"
        )
    return found["baseline"] or found["current"] or DEFAULT_PROTOCOL


def compare_runs(
    baseline: Path,
    current: Path,
    max_drop: float = 1.0,
    alpha: float = 0.05,
    allow_mismatch: bool = False,
    seed: int = 0,
    min_overlap: float = 0.9,
    protocol: str | None = None,
    allow_underpowered: bool = False,
) -> Comparison:
    """Pair, compare and decide (see the module docstring); the verdict's exit code (which wins: ``gate``): 0 pass;
    1 a drop larger than ``max_drop`` points, significant at ``alpha``; 3 settings or protocol differ; 4 not
    comparable; 5 underpowered (``allow_underpowered``: a pass with a warning)."""
    significance_level(alpha)
    max_drop = drop_in_points(max_drop)
    base_runs, cur_runs = runs_of(baseline, "baseline"), runs_of(current, "current")
    if os.path.realpath(baseline) == os.path.realpath(current):  # a gate that compares a run with itself always passes
        raise RegressUnusable(f"--baseline {baseline} and --current {current} are the same run folder")
    common = sorted(set(base_runs) & set(cur_runs))
    if not common:
        raise RegressUnusable(
            f"the runs share no benchmark/mode: baseline has {', '.join('/'.join(k) for k in base_runs)}; "
            f"current has {', '.join('/'.join(k) for k in cur_runs)}"
        )
    same = same_folders(base_runs, cur_runs, common)
    if same:  # linked <benchmark> or <mode> folders, or one record file: the same records compared with themselves
        key = same[0]
        one = (
            f"are the same run folder for {key[0]} {key[1]} (both are {os.path.realpath(base_runs[key])})"
            if os.path.samefile(base_runs[key], cur_runs[key])
            else f"share one samples.jsonl for {key[0]} {key[1]} ({base_runs[key] / 'samples.jsonl'} and "
            f"{cur_runs[key] / 'samples.jsonl'} are one file: a hard or symbolic link)"
        )
        raise RegressUnusable(
            f"--baseline {baseline} and --current {current} {one}: a run compared with itself always passes"
        )
    cells, mismatches, protocol_problems, warnings, only, thin, unscored, neither = [], [], [], [], {}, [], [], []
    blocked: dict[str, list[str]] = {}  # benchmark/mode -> what keeps it from deciding (``gate``)
    settings_differ = False  # a setting, not a question, differs: that is the verdict, even when nothing pairs
    for key in common:
        where = f"{key[0]} {key[1]}"
        base_folder, cur_folder = base_runs[key], cur_runs[key]
        base_settings, cur_settings = settings_of(base_folder), settings_of(cur_folder)
        unknown = [
            f"{role} run's {folder / 'settings.json'}"
            for role, folder in (("baseline", base_folder), ("current", cur_folder))
            if not (folder / "settings.json").is_file()
        ]
        if unknown:  # one line naming the file, not a line per setting reading "None"
            mismatches.append(f"{where}: no {' and no '.join(unknown)}: its settings are unknown")
        differing = [n for n in COMPARED_SETTINGS if not unknown and base_settings.get(n) != cur_settings.get(n)]
        mismatches += [f"{where}: {n} {base_settings.get(n)!r} vs {cur_settings.get(n)!r}" for n in differing]
        settings_differ = settings_differ or bool(unknown or differing)
        if unknown or differing:
            _block(blocked, where, "settings differ", allow_mismatch)
        base, cur = load_folder(base_folder), load_folder(cur_folder)
        warnings += [f"baseline: {w}" for w in base.warnings] + [f"current: {w}" for w in cur.warnings]
        base_records, cur_records = base.records, cur.records
        changed = sorted(
            i
            for i in set(base_records) & set(cur_records)
            if base_records[i].question_sha256 != cur_records[i].question_sha256
        )
        if changed:  # the same id, another question: never paired
            mismatches.append(
                f"{where}: {counted(len(changed), 'question')} {agreeing(len(changed), 'differs', 'differ')} between "
                "the runs under the same id "
                f"(question, options, gold or media changed), e.g. {changed[0]}; they are not compared"
            )
            _block(blocked, where, f"{counted(len(changed), 'question')} changed under the same id", allow_mismatch)
            base_records = {i: r for i, r in base_records.items() if i not in changed}
            cur_records = {i: r for i, r in cur_records.items() if i not in changed}
        _, _, failed = scored_in_both(base_records, cur_records)  # failed ones are no answers: never paired
        shared = len(set(base_records) & set(cur_records)) - failed.one_run_only - failed.both
        if shared < min_overlap * (max(len(base_records), len(cur_records)) - failed.both) or shared == 0:
            apart = f" ({len(changed)} more differ)" if changed else ""
            fault = f"; {failed_words(failed)}" + (
                ": their media or rows, not the model" if failed.one_run_only else ""
            )
            unscored += [where] if failed.any else []
            _block(blocked, where, f"too few questions {'scored in both runs' if failed.any else 'in common'}")
            thin.append(
                f"{where}: {counted(shared, 'question')} in common{' that both runs scored' if failed.any else ''}, "
                f"of {len(base.records)} (baseline) and {len(cur.records)} (current){apart}"
                f"{fault if failed.any else ''}{selected_otherwise(base, cur)}"
            )
        elif failed.any:
            warnings.append(
                f"{where}: {failed_words(failed)}: compared on the {counted(shared, 'question')} both runs scored "
                "(a question whose media or row could not be read is no answer, not counted as one)"
            )
        for records, run in ((base_records, "the baseline"), (cur_records, "the current run")):
            said = failed_by_the_model_words(records, run)
            warnings += [f"{where}: {said}"] if said else []
        only[where] = {
            "baseline_only": sorted(set(base_records) - set(cur_records)),
            "current_only": sorted(set(cur_records) - set(base_records)),
        }
        chosen = protocol or _headline(base, cur, where, protocol_problems, warnings)
        if chosen is None:
            _block(blocked, where, "the runs headline different protocols")
            continue
        missing = [
            f"the {role} run {why}"
            for role, run in (("baseline", base), ("current", cur))
            if (why := unmeasured(run, chosen))
        ]
        if len(missing) == 2 and all(line.endswith(NOT_IN_RECORDS) for line in missing):  # alike: neither did
            neither.append((where, chosen))
            _block(blocked, where, f"neither run measured {chosen}")
            continue
        if missing:
            protocol_problems.append(
                f"{where}: protocol {chosen!r}: " + "; ".join(missing) + ": not compared (a protocol one run lacks is "
                "a settings difference, not a drop)"
            )
            _block(blocked, where, f"protocol {chosen} not measured by both runs")
            continue
        framings = [
            cloze_framing_of(settings, records.values())
            for settings, records in ((base_settings, base_records), (cur_settings, cur_records))
        ]
        if formulation(chosen) == "cloze" and framings[0] != framings[1]:
            settings_differ = True
            _block(blocked, where, "settings differ", allow_mismatch)
            mismatches.append(
                f"{where}: cloze_framing {framings[0]!r} vs {framings[1]!r} (protocol {chosen} is a cloze one)"
            )
        readers = chosen in (GENERATED, CIRCULAR + GENERATED) and reader_difference(
            base_records.values(), cur_records.values()
        )
        if readers:  # a change of the rule that reads the letters is no change of the model
            settings_differ = True
            _block(blocked, where, "settings differ", allow_mismatch)
            mismatches.append(
                f"{where}: letter readers differ or are unknown ({readers}): protocol {chosen} compares the letters "
                "read from generated answers, which a change of reader moves as a change of model would; rerun the "
                "same `fvlm-eval run` command with --generate into each run an older reader read, to read its answers "
                "again with today's"
            )
        cells.append(((key[0], key[1], chosen, formulation(chosen)), base_records, cur_records))

    if neither and not cells and not protocol_problems:  # comparing nothing is never a pass
        named = ", ".join(where for where, _ in neither[:3]) + (
            f" and {len(neither) - 3} more" if len(neither) > 3 else ""
        )
        protocol_problems.append(
            f"protocol {neither[0][1]!r}: measured by neither run in {counted(len(neither), 'benchmark/mode')} "
            f"({named}), so nothing was compared; choose a --protocol both runs measured"
        )
    else:
        warnings += [f"{where}: neither run measured protocol {chosen!r}: not compared" for where, chosen in neither]

    def paired(base, cur, chosen):
        return compare_pair(base, cur, chosen, seed, alpha, max_drop, len(cells), gate=True)

    rows = compared_rows(cells, paired, alpha, max_drop, blocked)
    lacking, extra = _unpaired(base_runs, cur_runs, warnings)
    found = Findings(blocked, lacking, thin, unscored, mismatches, protocol_problems, settings_differ)
    code, verdict, said = decide(rows, found, max_drop, alpha, min_overlap, allow_mismatch, allow_underpowered)
    return Comparison(
        str(baseline),
        str(current),
        max_drop,
        alpha,
        seed,
        min_overlap,
        protocol,
        verdict,
        int(code),
        rows,
        [r for r in rows if r.fails_gate],
        thin,
        mismatches,
        protocol_problems,
        [r for r in rows if r.overall and r.underpowered],
        warnings + extra + said,
        [" ".join(k) for k in sorted(set(base_runs) ^ set(cur_runs))],
        only,
        family=len(cells),
        lacking=lacking,
    )


def _block(blocked: dict[str, list[str]], where: str, reason: str, allowed: bool = False) -> None:
    """``where`` is not comparable for ``reason`` (said by an exit-1 verdict), unless ``allowed``."""
    if not allowed and reason not in blocked.setdefault(where, []):
        blocked[where].append(reason)


def _unpaired(base_runs: dict, cur_runs: dict, warnings: list[str]) -> tuple[list[str], list[str]]:
    """The benchmark/modes in one run only: each one the baseline measured (holds records of) that the current
    run lacks (``videomme coarse_fine``: not comparable), and a warning per one only the current run measured (not
    gated); a
    folder of either that holds a summary without records is warned about (``no_records``)."""
    unpaired = sorted(set(base_runs) ^ set(cur_runs))
    for role, runs in (("baseline", base_runs), ("current", cur_runs)):
        warnings += [f"{role}: {why}" for key in unpaired if key in runs and (why := no_records(runs[key]))]
    lacking = [" ".join(key) for key in unpaired if key in base_runs and measured(base_runs[key])]
    extra = [
        f"the current run measured {' '.join(key)}, which the baseline lacks: nothing to compare it with, so the gate "
        "does not test it"
        for key in unpaired
        if key in cur_runs and measured(cur_runs[key])
    ]
    return lacking, extra
