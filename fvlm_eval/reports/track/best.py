"""The best checkpoint of a line of comparable checkpoints, and the honest alternative: chosen on one half of the
videos, confirmed on the other (with its interval, its chance level and whether it is above them).

Only scored questions rank checkpoints: a question whose data failed (a missing video, a row that could not be
read) was never answered, so checkpoints whose failures differ are ranked on the questions all of them scored, as
checkpoints measured on different questions are (a ``--limit`` run beside a full one); one the model failed on
(NaN log-probabilities, an error while scoring) is its answer, wrong.
"""

from __future__ import annotations

import dataclasses
import hashlib

from fvlm_eval.protocols import formulation
from fvlm_eval.records import failed_by_the_model
from fvlm_eval.reports.track.answers import category_field
from fvlm_eval.reports.track.checkpoints import Point
from fvlm_eval.stats import holm, letter_bias
from fvlm_eval.summarize import flags, measure
from fvlm_eval.summary import Letters, Measure


def asked(record, protocol: str) -> bool:
    """Whether ``record`` was asked under ``protocol``: it failed (every protocol's question, never answered), or
    the protocol has a prediction (a plain run has no ``circular_*``)."""
    return record.error is not None or protocol in (record.pred or {})


def scored(record, protocol: str) -> bool:
    """Whether ``record`` answered under ``protocol``: asked, and not failed for its data; a failure the model caused
    (NaN log-probabilities, an error while scoring) is its answer, wrong: left out, a checkpoint that diverged on
    the questions it got wrong ranked at 100% of the rest."""
    if record.error is not None:
        return failed_by_the_model(record.error)
    return protocol in (record.pred or {})


def half_of(group: str) -> int:
    """0 or 1: a fixed split of the videos (a question goes with its video), the same for every run."""
    return hashlib.sha256(group.encode()).digest()[0] & 1


def confirmation(records: list, protocol: str) -> tuple[Measure, Letters | None]:
    """The chosen step's number on the other half, and the letters it chose there (``None`` for a circular protocol:
    one letter is the gold in one rotation only, so there is no constant guess)."""
    found = measure(records, protocol)
    if formulation(protocol) == "circular":
        return found, None
    bias = letter_bias([r.pred.get(protocol) for r in records], [r.gold for r in records], [r.letters for r in records])
    best = bias["best_constant"]
    return found, Letters(bias["predicted"], bias["gold"], best["letter"], best["accuracy"])


def confirmed(halves: list[tuple[dict, tuple[Measure, Letters | None]]], alpha: float) -> list[dict]:
    """Each line's half-split with its confirmation's interval, chance level and reasons not to read it as skill (not
    above chance at ``alpha``, not above always answering one letter), as ``report`` gives them; the confirmations of
    every line are one family, their p-values Holm-adjusted over all of them (each tested alone, a random checkpoint
    was confirmed on about 4% of the lines: on some line of most tracks)."""
    tested = [i for i, (_, (found, _)) in enumerate(halves) if found.above_chance_p is not None]
    adjusted = dict(zip(tested, holm([halves[i][1][0].above_chance_p for i in tested])))
    done = []
    for i, (split, (found, letters)) in enumerate(halves):
        low, high = found.ci95 or (None, None)
        cells = len(tested) if i in adjusted else 1
        done.append(
            {
                **split,
                "confirmation_low": low,
                "confirmation_high": high,
                "confirmation_chance": found.chance,
                "confirmation_flags": flags(found, letters, alpha=alpha, adjusted_p=adjusted.get(i), cells=cells),
            }
        )
    return done


def split_halves(records: dict[int, dict], protocol: str) -> tuple[dict, tuple[Measure, Letters | None] | None]:
    """Select the best checkpoint on half 0 of the videos, report it on half 1 (and the reverse): per step,
    accuracy on each half; the selected step and its confirmation accuracy; and the confirmation's measure, which
    ``confirmed`` judges with every other line's (``None`` when no step could be selected)."""
    per_step = {}
    for step, by_id in records.items():
        halves = [[0, 0], [0, 0]]
        for record in by_id.values():
            if not scored(record, protocol):
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
        ), None
    chosen = max(usable, key=lambda s: (usable[s][0], -s))
    reverse = max(usable, key=lambda s: (usable[s][1], -s))
    half_b = [r for r in records[chosen].values() if scored(r, protocol) and half_of(r.group) == 1]
    return {
        "select_on": "videos of half A",
        "selected_step": chosen,
        "selection_accuracy": usable[chosen][0],
        "confirmation_accuracy": usable[chosen][1],
        "confirmation_n": usable[chosen][3],
        "reverse_selected_step": reverse,
        "reverse_confirmation_accuracy": usable[reverse][0],
    }, confirmation(half_b, protocol)


def shared_questions(records: dict[int, dict], protocol: str) -> tuple[set[str], dict[int, int]]:
    """The ids every step scored ``protocol`` on alike (same ``question_sha256``), and how many each scored."""
    answered = {
        step: {i: r.question_sha256 for i, r in by_id.items() if scored(r, protocol)} for step, by_id in records.items()
    }
    first = next(iter(answered.values()), {})
    shared = {i for i, sha in first.items() if all(other.get(i) == sha for other in answered.values())}
    return shared, {step: len(ids) for step, ids in answered.items()}


def on_shared(line: list[Point], records: dict[int, dict], protocol: str, categories_of: str | None) -> list[Point]:
    """The points of ``line`` recomputed on the questions every one of its steps scored alike."""
    shared, _ = shared_questions({p.step: records[p.step] for p in line}, protocol)
    found = []
    for p in line:
        chosen = [r for i, r in sorted(records[p.step].items()) if i in shared]
        categories = [str(r.fields.get(categories_of, "")) for r in chosen] if categories_of else None
        m = measure(chosen, protocol, categories)
        low, high = m.ci95 or (None, None)
        found.append(
            dataclasses.replace(
                p, accuracy=m.accuracy, low=low, high=high, correct=m.correct, n=m.n, chance=m.chance, failed=0
            )
        )
    return found


def best_of(benchmark: str, mode: str, protocol: str, line: list[Point], records: dict[int, dict]) -> dict:
    """The best step of ``line`` (comparable checkpoints, none all failed; on the questions its steps share
    when they scored different ones), with its point's flags (``checkpoints.points``), or why none is named."""
    row = {"benchmark": benchmark, "mode": mode, "protocol": protocol, "checkpoints": len(line)}
    shared, sizes = shared_questions({p.step: records[p.step] for p in line}, protocol)
    if any(size != len(shared) for size in sizes.values()):
        row["measured"] = {str(step): size for step, size in sizes.items()}
        row["shared"] = len(shared)
        row["failed"] = {str(p.step): p.failed for p in line if p.failed}
        if not shared:
            return {**row, "step": None, "refused": "the checkpoints measured no question in common"}
        line = on_shared(line, records, protocol, category_field(benchmark))
    top = max(line, key=lambda p: (p.accuracy if p.accuracy is not None else -1.0, -p.step))
    return {
        **row,
        "step": top.step,
        "accuracy": top.accuracy,
        "low": top.low,
        "high": top.high,
        "n": top.n,
        "chance": top.chance,
        "flags": list(top.flags),
    }


__all__ = ["asked", "best_of", "confirmed", "half_of", "on_shared", "scored", "shared_questions", "split_halves"]
