"""``summary.json``: what a run's records add up to, computed from the records alone.

Per protocol: accuracy with a 95% interval clustered by video, per breakdown value too; the
chance level (what a uniform random guess would get on the same questions); the exact p-value
that the accuracy is no better than chance; the letters predicted against the gold letters and
the best constant-letter guess. Failed questions count as wrong (they stay in every
denominator); an empty set of questions has accuracy ``None`` (shown "n/a"), never 0.
"""

from __future__ import annotations

from fvlm_eval.records import NEAR_TIE, REGEX_MISREAD, Record
from fvlm_eval.scoring import ALL_PROTOCOLS, GENERATED, chance_outcomes, formulation
from fvlm_eval.stats import above_chance_p, accuracy, chance_accuracy, letter_bias

DEFAULT_ALPHA = 0.05


def _accuracy_block(records: list[Record], protocol: str) -> dict:
    correct = [bool(r.correct.get(protocol)) for r in records]
    counts = [chance_outcomes(protocol, len(r.letters)) for r in records]
    if not records:
        return {"accuracy": None, "correct": 0, "n": 0, "stderr": None, "ci95": None, "chance": None,
                "above_chance_p": None}
    return {**accuracy(correct, [r.group for r in records]).as_dict(), "chance": chance_accuracy(counts),
            "above_chance_p": above_chance_p(sum(correct), counts)}


def measured(records: list[Record], protocol: str) -> list[Record]:
    """The records a protocol's accuracy counts: those where it was measured (a generated answer, a
    circular run) and every failed question (failures count as wrong everywhere). A question recorded
    without ``--generate`` is not a wrong generated answer: it is outside that denominator."""
    return [r for r in records if r.failed or protocol in r.pred]


def recorded_protocols(records: list[Record]) -> list[str]:
    """Every protocol some record measured, in the canonical order (formulation by formulation)."""
    present = {p for r in records for p in r.pred}
    return [p for p in ALL_PROTOCOLS if p in present] or [p for p in ALL_PROTOCOLS if formulation(p) == "multiple_choice"]


def protocol_summary(records: list[Record], protocol: str, breakdowns: tuple[str, ...]) -> dict:
    recorded = len(records)
    records = measured(records, protocol)
    block = {"formulation": formulation(protocol), **_accuracy_block(records, protocol),
             "not_measured": recorded - len(records),
             "near_ties": sum(1 for r in records for n in r.notes if n.startswith(NEAR_TIE) and protocol in n.split(": ", 1)[1].split(", "))}
    block["undefined"] = sum(1 for r in records if not r.failed and r.pred.get(protocol) is None)
    block["breakdowns"] = {
        field: {value: _accuracy_block([r for r in records if r.fields.get(field, "") == value], protocol)
                for value in sorted({r.fields.get(field, "") for r in records})}
        for field in breakdowns}
    block["letters"] = letter_bias([r.pred.get(protocol) for r in records], [r.gold for r in records],
                                   [r.letters for r in records])
    if formulation(protocol) == "circular":  # one letter always is the gold in one rotation only: never right
        block["letters"]["best_constant"] = {"letter": None, "accuracy": 0.0}
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
    protocols = recorded_protocols(records)
    if protocol not in protocols:
        protocols.append(protocol)
    by_protocol = {name: protocol_summary(records, name, benchmark.breakdowns) for name in protocols}
    if GENERATED in by_protocol:
        statuses: dict[str, int] = {}
        for r in records:
            if r.generated is not None and not r.failed:
                statuses[r.generated["status"]] = statuses.get(r.generated["status"], 0) + 1
        by_protocol[GENERATED]["unparseable"] = sum(n for s, n in statuses.items() if s not in ("letter", "text", "failed"))
        by_protocol[GENERATED]["generation_failed"] = statuses.get("failed", 0)
        by_protocol[GENERATED]["statuses"] = statuses
    cloze = next((r.cloze["framing"] for r in records if r.cloze), None)
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
        "headline_formulation": formulation(protocol),
        "cloze_framing": cloze,
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
