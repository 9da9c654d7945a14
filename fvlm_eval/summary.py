"""``summary.json``: what a run's records add up to, computed from the records alone.

Per protocol: accuracy with a 95% interval clustered by video, per breakdown value too; the
chance level (what a uniform random guess would get on the same questions); the exact p-value
that the accuracy is no better than chance; the letters predicted against the gold letters and
the best constant-letter guess. Failed questions count as wrong (they stay in every
denominator); an empty set of questions has accuracy ``None`` (shown "n/a"), never 0.
"""

from __future__ import annotations

from fvlm_eval.records import REGEX_MISREAD, Record
from fvlm_eval.scoring import GENERATED, PROTOCOLS
from fvlm_eval.stats import above_chance_p, accuracy, chance_accuracy, letter_bias

DEFAULT_ALPHA = 0.05


def _accuracy_block(records: list[Record], protocol: str) -> dict:
    correct = [bool(r.correct.get(protocol)) for r in records]
    counts = [len(r.letters) for r in records]
    if not records:
        return {"accuracy": None, "correct": 0, "n": 0, "stderr": None, "ci95": None, "chance": None,
                "above_chance_p": None}
    return {**accuracy(correct, [r.group for r in records]).as_dict(), "chance": chance_accuracy(counts),
            "above_chance_p": above_chance_p(sum(correct), counts)}


def protocol_summary(records: list[Record], protocol: str, breakdowns: tuple[str, ...]) -> dict:
    block = _accuracy_block(records, protocol)
    block["undefined"] = sum(1 for r in records if not r.failed and r.pred.get(protocol) is None)
    block["breakdowns"] = {
        field: {value: _accuracy_block([r for r in records if r.fields.get(field, "") == value], protocol)
                for value in sorted({r.fields.get(field, "") for r in records})}
        for field in breakdowns}
    block["letters"] = letter_bias([r.pred.get(protocol) for r in records], [r.gold for r in records],
                                   [r.letters for r in records])
    return block


def flags(block: dict, alpha: float = DEFAULT_ALPHA) -> list[str]:
    """Why an accuracy should not be read as skill: not significantly above chance, or not above
    the best constant-letter guess on the same questions."""
    if block.get("accuracy") is None:
        return []
    found = []
    if block["above_chance_p"] is not None and block["above_chance_p"] >= alpha:
        found.append(f"not significantly above chance ({100 * block['chance']:.1f}%; exact test p={block['above_chance_p']:.2g} >= {alpha:g})")
    best = block.get("letters", {}).get("best_constant", {})
    if best.get("letter") and block["accuracy"] <= best["accuracy"]:
        found.append(f"not above always answering {best['letter']} ({100 * best['accuracy']:.1f}%)")
    return found


def summarize_records(benchmark, mode: str, records: list[Record], selected: int, protocol: str = "reference",
                      notes=(), problems=()) -> dict:
    """The summary of one (benchmark, mode) from its records; ``problems``: annotation files that
    could not be read (their expected questions count as failed in the coverage)."""
    failures = [{"id": r.id, "error": r.error} for r in records if r.failed]
    protocols = list(PROTOCOLS) + ([GENERATED] if any(r.generated is not None for r in records) else [])
    by_protocol = {name: protocol_summary(records, name, benchmark.breakdowns) for name in protocols}
    if GENERATED in by_protocol:
        statuses: dict[str, int] = {}
        for r in records:
            if r.generated is not None and not r.failed:
                statuses[r.generated["status"]] = statuses.get(r.generated["status"], 0) + 1
        by_protocol[GENERATED]["unparseable"] = sum(n for s, n in statuses.items() if s not in ("letter", "text"))
        by_protocol[GENERATED]["statuses"] = statuses
    found: dict[str, int] = {}
    for r in records:
        category = r.fields.get(benchmark.category_field, "")
        found[category] = found.get(category, 0) + 1
    expected = benchmark.expected()
    unreadable = sum(p.get("expected", 0) for p in problems)
    all_flags = {name: flags(block) for name, block in by_protocol.items()}
    if problems:
        for found_flags in all_flags.values():
            found_flags.append(f"{unreadable or 'the'} questions of {len(problems)} unreadable annotation file(s) are not in "
                               "this accuracy")
    return {
        "benchmark": benchmark.name,
        "mode": mode,
        "headline_protocol": protocol,
        "chance": by_protocol[protocol]["chance"],
        "accuracy": by_protocol,
        "flags": all_flags,
        "coverage": {
            "scored": len(records) - len(failures), "failed": len(failures) + unreadable, "recorded": len(records),
            "unreadable_annotations": unreadable, "selected": selected, "expected": sum(expected.values()),
            "categories": {c: {"found": found.get(c, 0), "expected": expected.get(c, 0)}
                           for c in sorted(set(expected) | set(found))},
            "categories_present": sum(1 for c in expected if found.get(c, 0)), "categories_expected": len(expected),
        },
        "failures": failures,
        "problems": list(problems),
        "fallback_options": sum(1 for r in records for o in (r.options or {}).values() if o["fallback"]),
        "media_notes": sum(1 for r in records if r.media_note),
        "regex_misreads": sum(1 for r in records if REGEX_MISREAD in r.notes),
        "notes": list(notes),
    }
