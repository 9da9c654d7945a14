"""``track``'s statistics: accuracy per step, the best checkpoint (and the honest alternative: chosen on one
half of the videos, confirmed on the other), and consecutive checkpoints compared as ``regress`` compares."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fvlm_eval.reports.freshness import load_run_folder
from fvlm_eval.reports.regress.compare import compare_pair
from fvlm_eval.reports.track.checkpoints import Checkpoint, points


def _records(folder: Path) -> dict:
    """The records a summary counts (id -> record), read by the harness's one rule."""
    return dict(load_run_folder(folder).records)


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


def analyse(checkpoints: list[Checkpoint], protocols: list[str], seed: int, alpha: float) -> dict:
    rows = points(checkpoints)
    keys = sorted({(c, m) for ck in checkpoints for (c, m) in ck.summaries})
    best, pairs, halves = [], [], []
    for benchmark, mode in keys:
        present = [c for c in checkpoints if (benchmark, mode) in c.summaries]
        records = {c.step: _records(c.folder / benchmark / mode) for c in present}
        for protocol in protocols:
            line = [
                p
                for p in rows
                if (p.benchmark, p.mode, p.protocol) == (benchmark, mode, protocol) and p.accuracy is not None
            ]
            measured_at = {p.step for p in line}
            if not line:
                continue
            top = max(line, key=lambda p: (p.accuracy, -p.step))
            best.append(
                {
                    "benchmark": benchmark,
                    "mode": mode,
                    "protocol": protocol,
                    "step": top.step,
                    "accuracy": top.accuracy,
                    "low": top.low,
                    "high": top.high,
                    "n": top.n,
                    "chance": top.chance,
                    "checkpoints": len(line),
                }
            )
            split = (
                split_halves({s: r for s, r in records.items() if s in measured_at}, protocol) if len(line) > 1 else {}
            )
            if split:
                halves.append({"benchmark": benchmark, "mode": mode, "protocol": protocol, **split})
            for before, after in zip(present, present[1:]):
                missing = [c.step for c in (before, after) if c.step not in measured_at]
                if missing:  # a run that did not measure the protocol (a plain run has no circular_*): no pair
                    pairs.append(
                        {
                            "benchmark": benchmark,
                            "mode": mode,
                            "protocol": protocol,
                            "from": before.step,
                            "to": after.step,
                            "n": None,
                            "not_measured": missing,
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
                    }
                )
    return {"points": rows, "best": best, "pairs": pairs, "halves": halves}


def verdict(pair: dict, alpha: float) -> str:
    """In words: the clustered test's p-value for a drop decides a drop; the interval tells a gain."""
    if pair.get("not_measured"):
        steps = " and ".join(str(s) for s in pair["not_measured"])
        return f"not compared: step {steps} did not measure {pair['protocol']}"
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
