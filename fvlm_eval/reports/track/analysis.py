"""``track``'s statistics: accuracy per step, the best checkpoint (and the honest alternative: chosen on one
half of the videos, confirmed on the other), and consecutive checkpoints compared as ``regress`` compares.

Checkpoints measured on different questions (a ``--limit`` run beside a full one) are not ranked by their
own numbers: the best step is chosen on the questions all of them measured alike (same id and
``question_sha256``), and said so; when they share none, no best step is named, and the reason is said.
"""

from __future__ import annotations

import hashlib

from fvlm_eval.reports.regress.compare import COMPARED_SETTINGS, compare_pair
from fvlm_eval.reports.track.checkpoints import Checkpoint, Point, points
from fvlm_eval.summarize import CATEGORY_MEAN, measure
from fvlm_eval.tasks import BENCHMARKS


def measured(record, protocol: str) -> bool:
    """Whether ``record`` measured ``protocol``: a failed question counts as wrong under every
    protocol; otherwise the protocol must have a prediction (a plain run has no ``circular_*``)."""
    return record.error is not None or protocol in (record.pred or {})


def compare(before: dict, after: dict, protocol: str, seed: int, alpha: float) -> dict:
    """``regress``'s paired statistics over the questions both runs asked alike and both measured
    under ``protocol``."""
    shared = [
        i
        for i in before
        if i in after
        and before[i].question_sha256 == after[i].question_sha256
        and measured(before[i], protocol)
        and measured(after[i], protocol)
    ]
    base = {i: before[i] for i in shared}
    cur = {i: after[i] for i in shared}
    return compare_pair(base, cur, protocol, seed, alpha=alpha).to_json()


def half_of(group: str) -> int:
    """0 or 1: a fixed split of the videos (a question goes with its video), the same for every run."""
    return hashlib.sha256(group.encode()).digest()[0] & 1


def split_halves(records: dict[str, dict], protocol: str) -> dict:
    """Select the best checkpoint on half 0 of the videos, report it on half 1 (and the reverse):
    per step, accuracy on each half; the selected step and its confirmation accuracy."""
    per_step = {}
    for step, by_id in records.items():
        halves = [[0, 0], [0, 0]]
        for record in by_id.values():
            if not measured(record, protocol):
                continue
            half = halves[half_of(record.group)]
            half[0] += bool(record.correct.get(protocol))
            half[1] += 1
        per_step[step] = [h[0] / h[1] if h[1] else None for h in halves] + [halves[0][1], halves[1][1]]
    usable = {s: v for s, v in per_step.items() if v[0] is not None and v[1] is not None}
    if not usable:
        sizes = [sum(v[2] for v in per_step.values()), sum(v[3] for v in per_step.values())]
        return (
            {
                "select_on": "videos of half A",
                "selected_step": None,
                "selection_accuracy": None,
                "confirmation_accuracy": None,
                "confirmation_n": 0,
                "reverse_selected_step": None,
                "reverse_confirmation_accuracy": None,
                "half_sizes": sizes,
            }
            if per_step
            else {}
        )
    chosen = max(usable, key=lambda s: (usable[s][0], -s))
    reverse = max(usable, key=lambda s: (usable[s][1], -s))
    return {
        "select_on": "videos of half A",
        "selected_step": chosen,
        "selection_accuracy": usable[chosen][0],
        "confirmation_accuracy": usable[chosen][1],
        "confirmation_n": usable[chosen][3],
        "reverse_selected_step": reverse,
        "reverse_confirmation_accuracy": usable[reverse][0],
    }


def shared_questions(records: dict[int, dict], protocol: str) -> tuple[set[str], dict[int, int]]:
    """The ids every step measured ``protocol`` on alike (same ``question_sha256``), and how many each measured."""
    asked = {
        step: {i: r.question_sha256 for i, r in by_id.items() if measured(r, protocol)}
        for step, by_id in records.items()
    }
    first = next(iter(asked.values()), {})
    shared = {i for i, sha in first.items() if all(other.get(i) == sha for other in asked.values())}
    return shared, {step: len(ids) for step, ids in asked.items()}


def _on_shared(line: list[Point], records: dict[int, dict], protocol: str, categories_of: str | None) -> list[Point]:
    """The points of ``line`` recomputed on the questions every one of its steps measured alike."""
    shared, _ = shared_questions({p.step: records[p.step] for p in line}, protocol)
    found = []
    for p in line:
        chosen = [r for i, r in sorted(records[p.step].items()) if i in shared]
        categories = [str(r.fields.get(categories_of, "")) for r in chosen] if categories_of else None
        m = measure(chosen, protocol, categories)
        low, high = m.ci95 or (None, None)
        found.append(
            Point(
                p.step,
                p.run,
                p.benchmark,
                p.mode,
                p.protocol,
                p.formulation,
                m.accuracy,
                low,
                high,
                m.correct,
                m.n,
                m.chance,
            )
        )
    return found


def _best(benchmark: str, mode: str, protocol: str, line: list[Point], records: dict[int, dict]) -> dict:
    """The best step of ``line`` (on the questions its steps share, when they measured different ones), or
    why none is named."""
    row = {"benchmark": benchmark, "mode": mode, "protocol": protocol, "checkpoints": len(line)}
    shared, sizes = shared_questions({p.step: records[p.step] for p in line}, protocol)
    if any(size != len(shared) for size in sizes.values()):
        row["measured"] = {str(step): size for step, size in sizes.items()}
        row["shared"] = len(shared)
        if not shared:
            return {**row, "step": None, "refused": "the checkpoints measured no question in common"}
        summary_rule = BENCHMARKS[benchmark].aggregation if benchmark in BENCHMARKS else "pooled"
        field = BENCHMARKS[benchmark]().category_field if summary_rule == CATEGORY_MEAN else None
        line = _on_shared(line, records, protocol, field)
    top = max(line, key=lambda p: (p.accuracy if p.accuracy is not None else -1.0, -p.step))
    return {
        **row,
        "step": top.step,
        "accuracy": top.accuracy,
        "low": top.low,
        "high": top.high,
        "n": top.n,
        "chance": top.chance,
    }


def analyse(checkpoints: list[Checkpoint], protocols: list[str], seed: int, alpha: float) -> dict:
    rows = points(checkpoints)
    keys = sorted({(c, m) for ck in checkpoints for (c, m) in ck.summaries})
    best, pairs, halves = [], [], []
    differ_of = {  # consecutive checkpoints' settings that differ, read once per pair: (benchmark, mode, step)
        (b, m, x.step): settings_differ(x, y, b, m) for b, m in keys for x, y in _consecutive(checkpoints, b, m)
    }
    skipped_of = {  # the checkpoints between two consecutive ones that did not run the benchmark and mode
        (b, m, x.step): skipped(checkpoints, x, y) for b, m in keys for x, y in _consecutive(checkpoints, b, m)
    }
    for benchmark, mode in keys:
        present = [c for c in checkpoints if (benchmark, mode) in c.summaries]
        records = {c.step: c.records.get((benchmark, mode), {}) for c in present}
        for protocol in protocols:
            line = [
                p
                for p in rows
                if (p.benchmark, p.mode, p.protocol) == (benchmark, mode, protocol) and p.accuracy is not None
            ]
            measured_at = {p.step for p in line}
            if not line:
                continue
            mixed = [d for a in present[:-1] for d in differ_of[(benchmark, mode, a.step)]]
            if mixed:  # no ranking of checkpoints that are not comparable (nor a halves check of one)
                best.append(
                    {
                        "benchmark": benchmark,
                        "mode": mode,
                        "protocol": protocol,
                        "checkpoints": len(line),
                        "step": None,
                        "refused": f"the checkpoints were made with other settings ({'; '.join(dict.fromkeys(mixed))})",
                        "settings_differ": True,
                    }
                )
            else:
                best.append(_best(benchmark, mode, protocol, line, records))
            shared, _ = shared_questions({s: r for s, r in records.items() if s in measured_at}, protocol)
            split = (
                split_halves(
                    {
                        s: {i: r for i, r in by_id.items() if i in shared}
                        for s, by_id in records.items()
                        if s in measured_at
                    },
                    protocol,
                )
                if len(line) > 1 and not mixed
                else {}
            )
            if split:
                halves.append({"benchmark": benchmark, "mode": mode, "protocol": protocol, **split})
            for before, after in zip(present, present[1:]):
                missing = [c.step for c in (before, after) if c.step not in measured_at]
                differ = differ_of[(benchmark, mode, before.step)]
                between = skipped_of[(benchmark, mode, before.step)]
                across = {"skipped": between} if between else {}  # not neighbours: the steps between did not run it
                if missing or differ:  # a run that did not measure the protocol (a plain run has no circular_*),
                    pairs.append(  # or made with other frames, prompt, dtype ...: no pair
                        {
                            "benchmark": benchmark,
                            "mode": mode,
                            "protocol": protocol,
                            "from": before.step,
                            "to": after.step,
                            "n": None,
                            **({"not_measured": missing} if missing else {"settings_differ": differ}),
                            **across,
                        }
                    )
                    continue
                result = compare(records[before.step], records[after.step], protocol, seed, alpha)
                pairs.append(
                    {
                        "benchmark": benchmark,
                        "mode": mode,
                        "protocol": protocol,
                        "from": before.step,
                        "to": after.step,
                        **{k: v for k, v in result.items() if k not in ("lost", "gained")},
                        "lost": len(result.get("lost") or ()),
                        "gained": len(result.get("gained") or ()),
                        **across,
                    }
                )
    warnings = [f"step {c.step}: {w}" for c in checkpoints for w in c.warnings]
    for benchmark, mode in keys:
        for before, after in _consecutive(checkpoints, benchmark, mode):
            between = skipped_of[(benchmark, mode, before.step)]
            if between:
                warnings.append(
                    f"{step_words(between)}: {benchmark} {mode} not measured (no run), so steps {before.step} → "
                    f"{after.step} are compared across {'it' if len(between) == 1 else 'them'}: they are not "
                    "neighbouring checkpoints"
                )
            differ = differ_of[(benchmark, mode, before.step)]
            if differ:
                warnings.append(
                    f"steps {before.step} and {after.step}: {benchmark} {mode} made with other settings "
                    f"({'; '.join(differ)}): their accuracies are not comparable, and they are not compared"
                )
    return {"points": rows, "best": best, "pairs": pairs, "halves": halves, "warnings": warnings}


def _consecutive(checkpoints: list[Checkpoint], benchmark: str, mode: str) -> list[tuple[Checkpoint, Checkpoint]]:
    """The checkpoints that ran ``benchmark`` in ``mode``, paired each with the next (by step)."""
    present = [c for c in checkpoints if (benchmark, mode) in c.summaries]
    return list(zip(present, present[1:]))


def skipped(checkpoints: list[Checkpoint], before: Checkpoint, after: Checkpoint) -> list[int]:
    """The steps of the checkpoints between ``before`` and ``after`` (consecutive runs of one benchmark and mode):
    those that did not run it, which a comparison of the two steps passes over."""
    return [c.step for c in checkpoints if before.step < c.step < after.step]


def step_words(steps: list[int]) -> str:
    """``step 50``, ``steps 50 and 70``, ``steps 50, 70 and 90``; a long gap ``8 steps, 50 to 400``."""
    if len(steps) == 1:
        return f"step {steps[0]}"
    if len(steps) > 4:
        return f"{len(steps)} steps, {steps[0]} to {steps[-1]}"
    return "steps " + ", ".join(str(s) for s in steps[:-1]) + f" and {steps[-1]}"


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


def verdict(pair: dict, alpha: float) -> str:
    """In words: the clustered test's p-value for a drop decides a drop; the interval tells a gain."""
    if pair.get("not_measured"):
        steps = " and ".join(str(s) for s in pair["not_measured"])
        return f"not compared: step {steps} did not measure {pair['protocol']}"
    if pair.get("settings_differ"):
        return f"not compared: settings differ ({'; '.join(pair['settings_differ'])})"
    if not pair.get("n"):
        return "no shared questions"
    low, high = (pair.get("ci95") or [None, None])[:2]
    if pair.get("p_drop") is not None and pair["p_drop"] < alpha:
        return "significant drop"
    if low is not None and low > 0:
        return "gain (95% interval above 0)"
    if high is not None and high < 0:
        return "drop (95% interval below 0)"
    return "no significant change"
