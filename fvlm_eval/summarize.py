"""A ``Summary`` computed from a (benchmark, mode)'s records alone: what ``summary.json`` holds, and
what every report recomputes (the records are the truth).

Per protocol: accuracy with a 95% interval clustered by video, per breakdown value too; the
chance level (what a uniform random guess would get on the same questions, counted as the protocol
counts them: under a cloze protocol a guess of one of the gold's twins, its very text, is right); the
p-value that the accuracy is no better than chance (exact for independent questions; where
questions share a video, never below the test's on the interval's effective sample, so a model that
answers a video's questions alike is not called above chance on the strength of their number); the
letters predicted against the gold letters and the best constant-letter guess. Failed questions
count as wrong (they stay in every denominator); an empty set of questions has accuracy ``None`` (shown "n/a"), never 0.

The verdicts (``flags``) of one summary are one family: each protocol's p-value is Holm-adjusted over
every protocol the summary tests (``stats.holm``), so a model at chance is called above it under
some protocol no more often than ``alpha``. A circular protocol is tested against its plain
counterpart's chance (1/n per question, not (1/n)^n): a choice that ignores the options' positions
(``option_text`` reads only the option's own text) is the same in every rotation, so a model with
any preference, random weights included, is right under every rotation about 1/n of the time; and a
question right under ``circular_<p>`` is right under ``p`` (rotation 0 is the question as listed),
so a circular number is never more significant than its plain one. A benchmark whose official score
is the mean of its categories' accuracies (``Benchmark.aggregation``) gets that mean as the overall
number (``aggregate``), with its own interval, chance and p-value, and the pooled one beside it.
"""

from __future__ import annotations

import dataclasses

from fvlm_eval.aggregate import category_mean, category_mean_accuracy, category_mean_chance_p
from fvlm_eval.distributions import t_upper_p
from fvlm_eval.protocols import ALL_PROTOCOLS, CIRCULAR, CLOZE_PROTOCOLS, GENERATED, formulation
from fvlm_eval.records import NEAR_TIE, REGEX_MISREAD, Record
from fvlm_eval.stats import (
    above_chance_p,
    accuracy,
    chance_accuracy,
    cluster_df,
    clustered_chance_p,
    guess_chances,
    holm,
    letter_bias,
)
from fvlm_eval.summary import ChanceTest, Coverage, Letters, Measure, ProtocolResult, Summary

DEFAULT_ALPHA = 0.05
PARSED_STATUSES = ("letter", "text", "failed")  # a generated answer's status that is not "unparseable"
POOLED, CATEGORY_MEAN = "pooled", "category_mean"
SUMMARY_FAMILY = "every protocol of this benchmark and mode"


def measure(records: list[Record], protocol: str, categories: list[str] | None = None) -> Measure:
    """The accuracy of ``protocol`` on ``records`` (failed ones count wrong), with its chance level;
    ``categories`` (one per record): the mean of the categories' accuracies instead of the pooled one.
    Where questions share a video, the p-value is the largest of the exact test's (independent
    questions), the test's on the interval's effective sample (``clustered_chance_p``) and Student's t
    test on the clustered standard error (the interval's own, on ``stats.cluster_df`` degrees of freedom)."""
    if not records:
        return Measure(None)
    correct = [bool(r.correct.get(protocol)) for r in records]
    counts = [len(r.letters) for r in records]  # a circular protocol too: see the module docstring
    rights = [right_options(r, protocol) for r in records]
    groups = [r.group for r in records]
    if categories is None:
        found = accuracy(correct, groups)
        chance, p = chance_accuracy(counts, rights), above_chance_p(sum(correct), counts, rights)
    else:
        found = category_mean_accuracy(correct, groups, categories)
        chance = category_mean(guess_chances(counts, rights), categories)
        p = category_mean_chance_p(correct, counts, categories, rights)
    if len(set(groups)) < len(groups):
        p = max(p, clustered_chance_p(found.accuracy, found.n / found.design_effect, chance))
        if found.clustered and found.stderr > 0:  # the t interval's own test: the design effect is read from so
            # many videos; trusted as exact, 3-8 of them called a model at chance above it 8-24% of the time
            p = max(p, t_upper_p((found.accuracy - chance) / found.stderr, cluster_df(found.clusters)))
    low, high = found.interval
    return Measure(found.accuracy, found.correct, found.n, found.stderr, (low, high), found.design_effect, chance, p)


def right_options(record: Record, protocol: str) -> int:
    """How many of a question's options a guess is counted right with: under a cloze protocol the
    gold's twins (options with its very text, so its very answer tokens: ``scoring.same_answers``
    counts choosing any of them right), else the gold alone."""
    if protocol not in CLOZE_PROTOCOLS or not record.cloze or record.gold not in record.letters:
        return 1
    options = record.cloze.get("options") or {}
    gold = (options.get(record.gold) or {}).get("token_ids")
    twins = sum(1 for letter in record.letters if (options.get(letter) or {}).get("token_ids") == gold)
    return max(1, twins) if gold is not None else 1


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


def _by_value(records: list[Record], name: str, protocol: str) -> dict:
    """value -> the ``measure`` of the records with that value of the field ``name`` (in their order), values
    sorted: the records grouped in one pass, not filtered again per value."""
    groups: dict = {}
    for r in records:
        groups.setdefault(r.fields.get(name, ""), []).append(r)
    return {value: measure(groups[value], protocol) for value in sorted(groups)}


def protocol_summary(
    records: list[Record], protocol: str, breakdowns: tuple[str, ...], category_field: str | None = None
) -> ProtocolResult:
    """One protocol's result; ``category_field``: the overall number is the mean of that field's values'
    accuracies (the pooled one kept as ``pooled``)."""
    recorded = len(records)
    records = measured(records, protocol)
    near_ties = sum(
        1 for r in records for n in r.notes if n.startswith(NEAR_TIE) and protocol in n.split(": ", 1)[1].split(", ")
    )
    by_field = {name: _by_value(records, name, protocol) for name in breakdowns}
    bias = letter_bias([r.pred.get(protocol) for r in records], [r.gold for r in records], [r.letters for r in records])
    best = bias["best_constant"]
    categories = None if category_field is None else [str(r.fields.get(category_field, "")) for r in records]
    if categories is not None and best["letter"] is not None and records:  # the same rule as the overall number
        best = max(
            (
                {"letter": letter, "accuracy": category_mean([r.gold == letter for r in records], categories)}
                for letter in sorted({x for r in records for x in r.letters})
            ),
            key=lambda b: (b["accuracy"], -ord(b["letter"][0])),
        )
    letters = Letters(bias["predicted"], bias["gold"], best["letter"], best["accuracy"])
    if formulation(protocol) == "circular":  # one letter always is the gold in one rotation only: never right
        letters = Letters(letters.predicted, letters.gold, None, 0.0)
    result = ProtocolResult(
        protocol,
        formulation(protocol),
        measure(records, protocol, categories),
        recorded - len(records),
        near_ties,
        sum(1 for r in records if not r.failed and r.pred.get(protocol) is None),
        by_field,
        letters,
        pooled=measure(records, protocol) if categories is not None else None,
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


def flags(
    result: ProtocolResult | Measure,
    letters: Letters | None = None,
    alpha: float = DEFAULT_ALPHA,
    adjusted_p: float | None = None,
    cells: int = 1,
) -> list[str]:
    """Why an accuracy should not be read as skill: not significantly above chance (``adjusted_p``:
    its p-value Holm-adjusted over the ``cells`` tested with it), or not above the best constant-letter
    guess on the same questions."""
    if isinstance(result, ProtocolResult):
        result, letters = result.overall, result.letters
    if result.accuracy is None:
        return []
    found = []
    p = result.above_chance_p
    adjusted = p if adjusted_p is None else adjusted_p
    if p is not None and adjusted >= alpha:
        held = f"p={p:.2g}" if cells <= 1 else f"p={p:.2g}, Holm-adjusted over {cells} cells p={adjusted:.2g}"
        found.append(f"not significantly above chance ({100 * result.chance:.1f}%; one-sided test {held} >= {alpha:g})")
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
    aggregation = getattr(benchmark, "aggregation", POOLED)
    category_field = benchmark.category_field if aggregation == CATEGORY_MEAN else None
    by_protocol = {name: protocol_summary(records, name, benchmark.breakdowns, category_field) for name in protocols}
    by_protocol, chance_test = holm_adjusted(by_protocol, DEFAULT_ALPHA, SUMMARY_FAMILY)
    circular = CIRCULAR + GENERATED  # its unparseable answers, under some rotation and under every one
    if circular in by_protocol:
        by_protocol[circular] = circular_unparseable(by_protocol[circular], records)
    cloze = next((r.cloze["framing"] for r in records if r.cloze), None)
    found: dict[str, int] = {}
    for r in records:
        category = r.fields.get(benchmark.category_field, "")
        found[category] = found.get(category, 0) + 1
    expected = benchmark.expected()
    unreadable = sum(p.get("expected", 0) for p in problems)
    all_flags = {
        name: flags(result, adjusted_p=result.adjusted_p, cells=chance_test.cells)
        for name, result in by_protocol.items()
    }
    mixed = mixed_answer_limits(records)
    for name in (GENERATED, CIRCULAR + GENERATED):
        if mixed and name in all_flags:
            all_flags[name].append(mixed)
    if problems:
        for found_flags in all_flags.values():
            found_flags.append(
                f"{unreadable or 'the'} questions of {len(problems)} unreadable annotation file(s) are not in "
                "this accuracy (no record of them: the coverage counts them as failed)"
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
        aggregation=aggregation,
        chance_test=chance_test,
    )


def mixed_answer_limits(records: list[Record]) -> str | None:
    """Generated answers made with more than one ``--max-new-tokens`` (reruns that kept earlier answers), said:
    their accuracy is not one measure; else None."""
    limits: dict = {}
    for r in records:
        if r.generated is not None and not r.failed:
            limit = r.generated.get("max_new_tokens")
            limits[limit] = limits.get(limit, 0) + 1
    if len(limits) < 2:
        return None
    counts = ", ".join(f"{n} with {limit}" for limit, n in sorted(limits.items(), key=lambda item: str(item[0])))
    return f"answers generated with different --max-new-tokens ({counts}): not one measure; rerun with one"


def holm_adjusted(
    results: dict[str, ProtocolResult], alpha: float, family: str
) -> tuple[dict[str, ProtocolResult], ChanceTest]:
    """The results with their above-chance p-values Holm-adjusted over all of them that were tested (a
    measured accuracy), and how (``ChanceTest``)."""
    tested = [name for name, result in results.items() if result.above_chance_p is not None and result.n]
    adjusted = dict(zip(tested, holm([results[name].above_chance_p for name in tested])))
    changed = {name: dataclasses.replace(result, adjusted_p=adjusted.get(name)) for name, result in results.items()}
    return changed, ChanceTest(alpha, len(tested), family)


__all__ = ["circular_unparseable", "flags", "holm_adjusted", "measure", "summarize_records"]
