"""A ``Summary`` computed from a (benchmark, mode)'s records alone: what ``summary.json`` holds, and
what every report recomputes (the records are the truth).

Per protocol: accuracy with a 95% interval clustered by video, per breakdown value too; the
chance level (what a uniform random guess would get on the same questions); the exact p-value
that the accuracy is no better than chance; the letters predicted against the gold letters and
the best constant-letter guess. Failed questions count as wrong (they stay in every
denominator); an empty set of questions has accuracy ``None`` (shown "n/a"), never 0.
"""

from __future__ import annotations

from fvlm_eval.protocols import ALL_PROTOCOLS, GENERATED, chance_outcomes, formulation
from fvlm_eval.records import NEAR_TIE, REGEX_MISREAD, Record
from fvlm_eval.stats import above_chance_p, accuracy, chance_accuracy, letter_bias
from fvlm_eval.summary import Coverage, Letters, Measure, ProtocolResult, Summary

DEFAULT_ALPHA = 0.05
PARSED_STATUSES = ("letter", "text", "failed")  # a generated answer's status that is not "unparseable"


def measure(records: list[Record], protocol: str) -> Measure:
    """The accuracy of ``protocol`` on ``records`` (failed ones count wrong), with its chance level."""
    if not records:
        return Measure(None)
    correct = [bool(r.correct.get(protocol)) for r in records]
    counts = [chance_outcomes(protocol, len(r.letters)) for r in records]
    found = accuracy(correct, [r.group for r in records])
    low, high = found.interval
    return Measure(
        found.accuracy,
        found.correct,
        found.n,
        found.stderr,
        (low, high),
        found.design_effect,
        chance_accuracy(counts),
        above_chance_p(sum(correct), counts),
    )


def measured(records: list[Record], protocol: str) -> list[Record]:
    """The records a protocol's accuracy counts: those where it was measured (a generated answer, a
    circular run) and every failed question (failures count as wrong everywhere). A question recorded
    without ``--generate`` is not a wrong generated answer: it is outside that denominator."""
    return [r for r in records if r.failed or protocol in r.pred]


def recorded_protocols(records: list[Record]) -> list[str]:
    """Every protocol some record measured, in the canonical order (formulation by formulation)."""
    present = {p for r in records for p in r.pred}
    return [p for p in ALL_PROTOCOLS if p in present] or [
        p for p in ALL_PROTOCOLS if formulation(p) == "multiple_choice"
    ]


def protocol_summary(records: list[Record], protocol: str, breakdowns: tuple[str, ...]) -> ProtocolResult:
    recorded = len(records)
    records = measured(records, protocol)
    near_ties = sum(
        1 for r in records for n in r.notes if n.startswith(NEAR_TIE) and protocol in n.split(": ", 1)[1].split(", ")
    )
    by_field = {
        name: {
            value: measure([r for r in records if r.fields.get(name, "") == value], protocol)
            for value in sorted({r.fields.get(name, "") for r in records})
        }
        for name in breakdowns
    }
    bias = letter_bias([r.pred.get(protocol) for r in records], [r.gold for r in records], [r.letters for r in records])
    best = bias["best_constant"]
    letters = Letters(bias["predicted"], bias["gold"], best["letter"], best["accuracy"])
    if formulation(protocol) == "circular":  # one letter always is the gold in one rotation only: never right
        letters = Letters(letters.predicted, letters.gold, None, 0.0)
    result = ProtocolResult(
        protocol,
        formulation(protocol),
        measure(records, protocol),
        recorded - len(records),
        near_ties,
        sum(1 for r in records if not r.failed and r.pred.get(protocol) is None),
        by_field,
        letters,
    )
    if protocol == GENERATED:
        statuses: dict[str, int] = {}
        for r in records:
            if r.generated is not None and not r.failed:
                statuses[r.generated["status"]] = statuses.get(r.generated["status"], 0) + 1
        result = ProtocolResult(
            **{
                **result.__dict__,
                "statuses": statuses,
                "generation_failed": statuses.get("failed", 0),
                "unparseable": sum(n for s, n in statuses.items() if s not in PARSED_STATUSES),
            }
        )
    return result


def flags(result: ProtocolResult | Measure, letters: Letters | None = None, alpha: float = DEFAULT_ALPHA) -> list[str]:
    """Why an accuracy should not be read as skill: not significantly above chance, or not above
    the best constant-letter guess on the same questions."""
    if isinstance(result, ProtocolResult):
        result, letters = result.overall, result.letters
    if result.accuracy is None:
        return []
    found = []
    if result.above_chance_p is not None and result.above_chance_p >= alpha:
        found.append(
            f"not significantly above chance ({100 * result.chance:.1f}%; exact test "
            f"p={result.above_chance_p:.2g} >= {alpha:g})"
        )
    if letters is not None and letters.best_letter and result.accuracy <= letters.best_accuracy:
        found.append(f"not above always answering {letters.best_letter} ({100 * letters.best_accuracy:.1f}%)")
    return found


def circular_unparseable(result: ProtocolResult, records: list[Record]) -> ProtocolResult:
    """``circular_generated`` with its unparseable answers counted from the records: questions with an
    unparseable generated answer under some rotation (each counts wrong), and ``unparseable_all``: those
    unparseable under every rotation."""
    some = every = 0
    for record in records:
        rotations = (record.circular or {}).get("rotations") or []
        statuses = [
            (rotation.get("generated") or {}).get("status")
            for rotation in rotations
            if isinstance(rotation, dict) and rotation.get("generated") is not None
        ]
        bad = [status not in PARSED_STATUSES for status in statuses]
        some += any(bad)
        every += bool(bad) and all(bad)
    return ProtocolResult(**{**result.__dict__, "unparseable": some, "unparseable_all": every})


def summarize_records(
    benchmark, mode: str, records: list[Record], selected: int, protocol: str = "reference", notes=(), problems=()
) -> Summary:
    """The summary of one (benchmark, mode) from its records; ``problems``: annotation files that
    could not be read (their expected questions count as failed in the coverage)."""
    failures = tuple({"id": r.id, "error": r.error} for r in records if r.failed)
    protocols = recorded_protocols(records)
    if protocol not in protocols:
        protocols.append(protocol)
    by_protocol = {name: protocol_summary(records, name, benchmark.breakdowns) for name in protocols}
    cloze = next((r.cloze["framing"] for r in records if r.cloze), None)
    found: dict[str, int] = {}
    for r in records:
        category = r.fields.get(benchmark.category_field, "")
        found[category] = found.get(category, 0) + 1
    expected = benchmark.expected()
    unreadable = sum(p.get("expected", 0) for p in problems)
    all_flags = {name: flags(result) for name, result in by_protocol.items()}
    if problems:
        for found_flags in all_flags.values():
            found_flags.append(
                f"{unreadable or 'the'} questions of {len(problems)} unreadable annotation file(s) are not in "
                "this accuracy"
            )
    coverage = Coverage(
        scored=len(records) - len(failures),
        failed=len(failures) + unreadable,
        recorded=len(records),
        unreadable_annotations=unreadable,
        selected=selected,
        expected=sum(expected.values()),
        categories={
            c: {"found": found.get(c, 0), "expected": expected.get(c, 0)} for c in sorted(set(expected) | set(found))
        },
        categories_present=sum(1 for c in expected if found.get(c, 0)),
        categories_expected=len(expected),
    )
    return Summary(
        benchmark=benchmark.name,
        mode=mode,
        headline_protocol=protocol,
        headline_formulation=formulation(protocol),
        cloze_framing=cloze,
        chance=by_protocol[protocol].chance,
        accuracy=by_protocol,
        flags={p: tuple(f) for p, f in all_flags.items()},
        coverage=coverage,
        failures=failures,
        problems=tuple(problems),
        fallback_options=sum(1 for r in records for o in (r.options or {}).values() if o["fallback"]),
        media_notes=sum(1 for r in records if r.media_note),
        regex_misreads=sum(1 for r in records if REGEX_MISREAD in r.notes),
        notes=tuple(notes),
    )


__all__ = ["circular_unparseable", "flags", "measure", "summarize_records"]
