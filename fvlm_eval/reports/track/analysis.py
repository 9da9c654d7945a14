"""``track``'s statistics: accuracy per step, the best checkpoint (and the honest alternative: chosen on one
half of the videos, confirmed on the other), and consecutive checkpoints compared as ``regress`` compares.

Per benchmark, mode and protocol only comparable checkpoints are ranked and compared: those that measured the
protocol, scored at least one question (a checkpoint whose questions all failed says nothing about the model) and
share the settings ``regress`` compares (frames, prompt, dtype ...). A checkpoint made with other settings is
passed over as a checkpoint that did not run the benchmark is: its neighbours are compared across it, and its
settings are judged only against the checkpoints that measured the protocol. Checkpoints measured on different
questions (a ``--limit`` run beside a full one, or failures in one of them) are ranked on the questions all of
them scored alike (same id and ``question_sha256``), and said so; when they share none, no best step is named,
and the reason is said.
"""

from __future__ import annotations

from fvlm_eval.reports.regress.compare import COMPARED_SETTINGS
from fvlm_eval.reports.regress.failures import error_example
from fvlm_eval.reports.track.answers import FolderAnswers
from fvlm_eval.reports.track.best import best_of, confirmed, half_of, shared_questions, split_halves
from fvlm_eval.reports.track.checkpoints import TRACKED_SETTINGS, Checkpoint, Point, points
from fvlm_eval.reports.track.pairs import compare, failure_warning, step_words, verdict


def settings_groups(usable: list[Point]) -> list[list[Point]]:
    """The points of one (benchmark, mode, protocol) that can be compared, grouped by their settings, each group in
    step order and the groups by their first step; a point whose settings are unknown (no ``settings.json``: its
    reading warned of it) joins the largest group."""
    known: dict[tuple, list[Point]] = {}
    for point in usable:
        if point.settings is not None:
            known.setdefault(point.settings, []).append(point)
    groups = list(known.values())
    unknown = [p for p in usable if p.settings is None]
    if unknown and groups:
        largest = max(groups, key=len)
        largest += unknown
        largest.sort(key=lambda p: p.step)
    elif unknown:
        groups = [unknown]
    return sorted(groups, key=lambda g: g[0].step)


def differ_words(before: tuple | None, after: tuple | None) -> list[str]:
    """The settings in which two keys (``checkpoints.settings_key``) differ, as ``name 'a' vs 'b'``; none when
    either is unknown."""
    if before is None or after is None:
        return []
    return [f"{n} {a!r} vs {b!r}" for n, a, b in zip(TRACKED_SETTINGS, before, after) if a != b]


def group_words(group: list[Point], groups: list[list[Point]]) -> str:
    """A group's own values of the settings that differ between the groups: ``sampling 'uniform:8'``."""
    keys = [next((p.settings for p in g if p.settings is not None), None) for g in groups]
    own = next((p.settings for p in group if p.settings is not None), None)
    known = [k for k in keys if k is not None]
    if own is None:
        return "settings unknown"
    return ", ".join(f"{name} {own[i]!r}" for i, name in enumerate(TRACKED_SETTINGS) if len({k[i] for k in known}) > 1)


def settings_differ(before: Checkpoint, after: Checkpoint, benchmark: str, mode: str) -> list[str]:
    """The settings ``regress`` compares (frames, prompt, dtype ...) in which two checkpoints' runs of a benchmark
    and mode differ, as ``name 'a' vs 'b'``; none when either ``settings.json`` is missing or unreadable (its
    reading warned of that already)."""
    found = [before.settings.get((benchmark, mode)), after.settings.get((benchmark, mode))]
    if found[0] is None or found[1] is None:
        return []
    return [
        f"{n} {found[0].get(n)!r} vs {found[1].get(n)!r}"
        for n in COMPARED_SETTINGS
        if found[0].get(n) != found[1].get(n)
    ]


def _passed_over(checkpoints: list[Checkpoint], before: Point, after: Point, by_step: dict) -> dict:
    """Why each checkpoint between two compared ones is passed over: ``skipped`` (did not run the benchmark and
    mode), ``not_measured`` (not the protocol), ``all_failed``, ``other_settings``; only the kinds that occur."""
    found: dict[str, list[int]] = {}
    for c in checkpoints:
        if not before.step < c.step < after.step:
            continue
        point = by_step.get(c.step)
        if (before.benchmark, before.mode) not in c.summaries:
            kind = "skipped"
        elif point is None:
            kind = "not_measured_between"
        elif point.all_failed:
            kind = "all_failed_between"
        else:
            kind = "other_settings"
        found.setdefault(kind, []).append(c.step)
    return found


def _pairs(checkpoints, present, by_step, groups, records, seed, alpha) -> list[dict]:
    """The compared pairs (consecutive within each group of comparable checkpoints, across the checkpoints passed
    over) and a not-compared row for each pair of neighbouring runs that is not one (a side that did not measure
    the protocol, whose questions all failed, or made with other settings); none where neither side measured it."""
    first = next(iter(by_step.values()))
    base = {"benchmark": first.benchmark, "mode": first.mode, "protocol": first.protocol}
    found, compared = [], set()
    for group in groups:
        for x, y in zip(group, group[1:]):
            result = compare(records[x.step], records[y.step], x.protocol, seed, alpha)
            compared.add((x.step, y.step))
            found.append(
                {
                    **base,
                    "from": x.step,
                    "to": y.step,
                    **{k: v for k, v in result.items() if k not in ("lost", "gained")},
                    "lost": len(result.get("lost") or ()),
                    "gained": len(result.get("gained") or ()),
                    **_passed_over(checkpoints, x, y, by_step),
                }
            )
    for x, y in zip(present, present[1:]):
        ends = [by_step.get(x.step), by_step.get(y.step)]
        if (x.step, y.step) in compared or ends == [None, None]:
            continue
        missing = [c.step for c, p in zip((x, y), ends) if p is None]
        failed = [p.step for p in ends if p is not None and p.all_failed]
        differ = [] if missing or failed else differ_words(ends[0].settings, ends[1].settings) or ["one unknown"]
        between = [c.step for c in checkpoints if x.step < c.step < y.step]
        found.append(
            {
                **base,
                "from": x.step,
                "to": y.step,
                "n": None,
                **({"not_measured": missing} if missing else {}),
                **({"all_failed": failed} if failed else {}),
                **({"settings_differ": differ} if differ else {}),
                **({"skipped": between} if between else {}),
            }
        )
    return sorted(found, key=lambda p: (p["from"], p["to"]))


def _failure_warnings(checkpoints: list[Checkpoint]) -> list[str]:
    """One warning per checkpoint, benchmark and mode with failed questions: how many, and an example."""
    found = []
    for c in checkpoints:
        for (benchmark, mode), answers in sorted(c.answers.items()):
            by_id = answers.by_id
            failed = [r for r in by_id.values() if r.error is not None]
            if not failed:
                continue
            every = len(failed) == len(by_id)
            after = (
                ": nothing was scored, so it is neither ranked nor compared"
                if every
                else ": compared with its neighbours on the questions both scored"
            )
            counts = f"all {len(failed)}" if every else f"{len(failed)} of {len(by_id)}"
            found.append(
                f"step {c.step}: {benchmark} {mode}: {counts} questions failed{error_example(failed[0].error)}{after}"
            )
    return found


def analyse(checkpoints: list[Checkpoint], protocols: list[str], seed: int, alpha: float) -> dict:
    rows = points(checkpoints, protocols, alpha)
    keys = sorted({(c, m) for ck in checkpoints for (c, m) in ck.summaries})
    best, pairs, halves = [], [], []
    for benchmark, mode in keys:
        present = [c for c in checkpoints if (benchmark, mode) in c.summaries]
        records = {c.step: c.answers.get((benchmark, mode), FolderAnswers({})).by_id for c in present}
        for protocol in protocols:
            by_step = {
                p.step: p
                for p in rows
                if (p.benchmark, p.mode, p.protocol) == (benchmark, mode, protocol) and p.accuracy is not None
            }
            if not by_step:
                continue
            usable = [p for p in by_step.values() if not p.all_failed]
            groups = settings_groups(usable)
            ranked = groups if len(groups) == 1 else [g for g in groups if len(g) > 1]
            base = {"benchmark": benchmark, "mode": mode, "protocol": protocol}
            failed = sorted(s for s, p in by_step.items() if p.all_failed)
            if not usable:
                best.append(
                    {
                        **base,
                        "checkpoints": len(by_step),
                        "step": None,
                        "refused": f"every question failed at {step_words(failed)}",
                        "all_failed": failed,
                    }
                )
            elif not ranked:  # no two that share settings: nothing comparable to rank
                mixed = [d for x, y in zip(usable, usable[1:]) for d in differ_words(x.settings, y.settings)]
                best.append(
                    {
                        **base,
                        "checkpoints": len(usable),
                        "step": None,
                        "refused": f"the checkpoints were made with other settings ({'; '.join(dict.fromkeys(mixed))})",
                        "settings_differ": True,
                    }
                )
            for group in ranked:
                row = best_of(benchmark, mode, protocol, group, records)
                members = {p.step for p in group}
                left_out = {str(s): "every question failed" for s in failed}
                left_out |= {str(p.step): "made with other settings" for p in usable if p.step not in members}
                best.append(
                    {
                        **row,
                        **({"settings": group_words(group, groups)} if len(groups) > 1 else {}),
                        **({"left_out": dict(sorted(left_out.items(), key=lambda i: int(i[0])))} if left_out else {}),
                    }
                )
                if len(group) > 1:
                    chosen = {p.step: records[p.step] for p in group}
                    shared, _ = shared_questions(chosen, protocol)
                    split, measured = split_halves(
                        {s: {i: r for i, r in by_id.items() if i in shared} for s, by_id in chosen.items()}, protocol
                    )
                    if split:
                        extra = {"settings": group_words(group, groups)} if len(groups) > 1 else {}
                        halves.append(({**base, **extra, **split}, measured))
            pairs += _pairs(checkpoints, present, by_step, groups, records, seed, alpha)
    warnings = [f"step {c.step}: {w}" for c in checkpoints for w in c.warnings] + _failure_warnings(checkpoints)
    warnings += list(dict.fromkeys(w for p in pairs if (w := failure_warning(p))))
    for benchmark, mode in keys:
        for before, after in _consecutive(checkpoints, benchmark, mode):
            between = skipped(checkpoints, before, after)
            if between:
                warnings.append(
                    f"{step_words(between)}: {benchmark} {mode} not measured (no run), so steps {before.step} → "
                    f"{after.step} are compared across {'it' if len(between) == 1 else 'them'}: they are not "
                    "neighbouring checkpoints"
                )
            differ = settings_differ(before, after, benchmark, mode)
            if differ:
                warnings.append(
                    f"steps {before.step} and {after.step}: {benchmark} {mode} made with other settings "
                    f"({'; '.join(differ)}): their accuracies are not comparable, and they are not compared (each is "
                    "ranked and compared only with the checkpoints made with its own settings)"
                )
    judged = iter(confirmed([(split, measured) for split, measured in halves if measured is not None], alpha))
    halves = [split if measured is None else next(judged) for split, measured in halves]
    return {"points": rows, "best": best, "pairs": pairs, "halves": halves, "warnings": warnings}


def _consecutive(checkpoints: list[Checkpoint], benchmark: str, mode: str) -> list[tuple[Checkpoint, Checkpoint]]:
    """The checkpoints that ran ``benchmark`` in ``mode``, paired each with the next (by step)."""
    present = [c for c in checkpoints if (benchmark, mode) in c.summaries]
    return list(zip(present, present[1:]))


def skipped(checkpoints: list[Checkpoint], before: Checkpoint, after: Checkpoint) -> list[int]:
    """The steps of the checkpoints between ``before`` and ``after`` (consecutive runs of one benchmark and mode):
    those that did not run it, which a comparison of the two steps passes over."""
    return [c.step for c in checkpoints if before.step < c.step < after.step]


__all__ = [
    "analyse",
    "half_of",
    "settings_differ",
    "settings_groups",
    "skipped",
    "split_halves",
    "step_words",
    "verdict",
]
