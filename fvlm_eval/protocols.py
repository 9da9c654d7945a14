"""The protocols' vocabulary: their names, formulations, order and words (no computation here).

A protocol turns one question's per-token log-probabilities into a prediction (``scoring``);
every number fvlm-eval shows names its protocol and the formulation it comes from: multiple
choice (the options listed with letters), cloze (the question alone, each option's text scored),
a generated answer, circular and permutation-averaged variants of the multiple-choice ones.
"""

from __future__ import annotations

PROTOCOLS = ("reference", "sum", "mean", "letter", "option_text", "option_text_norm")  # multiple choice
CLOZE_PROTOCOLS = ("cloze_sum", "cloze_token", "cloze_byte", "cloze_pmi")
# A run's headline (what its tables show first and `regress` compares by default): the cloze
# formulation with PMI, the protocol that read content best with the real SmolLM2-135M
# (benchmarks/RESULTS.md); every other protocol is recorded beside it.
DEFAULT_PROTOCOL = "cloze_pmi"
LOWER_IS_BETTER = {"reference"}
GENERATED = "generated"  # not a log-likelihood protocol: the letter read from a generated answer
CIRCULAR, PERMUTATION_AVERAGED = "circular_", "permavg_"
CIRCULAR_PROTOCOLS = tuple(CIRCULAR + p for p in (*PROTOCOLS, GENERATED))
PERMUTATION_PROTOCOLS = tuple(PERMUTATION_AVERAGED + p for p in PROTOCOLS)
ALL_PROTOCOLS = (*PROTOCOLS, *CLOZE_PROTOCOLS, GENERATED, *CIRCULAR_PROTOCOLS, *PERMUTATION_PROTOCOLS)
FORMULATION_LABELS = {
    "multiple_choice": "multiple choice: options listed with letters, the answer scored",
    "cloze": "cloze: the question alone, each option's text scored as the answer",
    "generated": "generated answer, its letter read",
    "circular": "circular: right only if right with the options in every rotation",
    "permutation_averaged": "multiple choice, each option's score averaged over its positions",
}


def formulation(protocol: str) -> str:
    """The formulation a protocol's number comes from (a key of ``FORMULATION_LABELS``)."""
    if protocol.startswith(CIRCULAR):
        return "circular"
    if protocol.startswith(PERMUTATION_AVERAGED):
        return "permutation_averaged"
    if protocol in CLOZE_PROTOCOLS:
        return "cloze"
    return "generated" if protocol == GENERATED else "multiple_choice"


def lower_is_better(protocol: str) -> bool:
    return protocol.removeprefix(PERMUTATION_AVERAGED) in LOWER_IS_BETTER


PROTOCOL_NAMES = {
    "reference": "option log-likelihood (reference: mean CE, the public fVLM scorer's)",
    "sum": "option log-likelihood (sum)",
    "mean": "option log-likelihood (mean)",
    "letter": "log p of the letter",
    "option_text": "log p of the option's own text (sum)",
    "option_text_norm": "log p of the option's own text per byte",
    GENERATED: "generated answer, letter read by fvlm-eval",
    "cloze_sum": "cloze: log p of the option's text (sum)",
    "cloze_token": "cloze: log p of the option's text per token",
    "cloze_byte": "cloze: log p of the option's text per byte",
    "cloze_pmi": "cloze: log p of the text minus its log p after a neutral prompt (PMI)",
}


def protocol_name(protocol: str) -> str:
    """What a protocol's number is, in words (circular and permutation-averaged variants by their base)."""
    for prefix, words in (
        ("circular_", "circular, right under every rotation: "),
        ("permavg_", "permutation-averaged: "),
    ):
        if protocol.startswith(prefix):
            return words + protocol_name(protocol[len(prefix) :])
    return PROTOCOL_NAMES.get(protocol, protocol)


CLOZE_ORDER = ("cloze_pmi", "cloze_byte", "cloze_token", "cloze_sum")  # the main table shows the first recorded
FORMULATION_ORDER = ("multiple_choice", "cloze", "generated", "circular", "permutation_averaged", "published")


def formulation_of(protocol: str, result=None) -> str:
    """The formulation a protocol's number comes from: its result's own word (a ``ProtocolResult``), else
    ``formulation``."""
    return getattr(result, "formulation", None) or formulation(protocol)


def formulation_label(formulation: str) -> str:
    return {**FORMULATION_LABELS, "published": "published figure (its own protocol)"}.get(formulation, formulation)


def published_formulation(protocol: str) -> str:
    """A published figure's formulation, read from its protocol text (it keeps its own label)."""
    text = protocol.lower()
    if "generat" in text:
        return "generated"
    if "cloze" in text:
        return "cloze"
    return "multiple_choice" if "likelihood" in text or "log p" in text else "published"


def main_protocols(recorded, headline: str) -> list[str]:
    """The protocols a run's row set shows in the main table, of those ``recorded``: the headline,
    ``reference`` (the published fVLM figures' protocol), the best-known cloze protocol recorded,
    ``generated``, and the circular version of each of these that is recorded (a cloze protocol has
    none: with the cloze headline, ``circular_reference`` and ``circular_generated`` are shown)."""
    shown = [headline] + [p for p in ("reference",) if p in recorded]  # the published fVLM figures' protocol
    shown += [p for p in CLOZE_ORDER if p in recorded][:1]
    shown += [p for p in (GENERATED,) if p in recorded]
    shown += [CIRCULAR + p for p in shown if CIRCULAR + p in recorded]
    return list(dict.fromkeys(shown))


def protocol_order(protocols) -> list[str]:
    """Protocols grouped by formulation (multiple choice, cloze, generated, circular, ...), in recorded order."""
    protocols = list(dict.fromkeys(protocols))
    rank = {f: i for i, f in enumerate(FORMULATION_ORDER)}
    return sorted(protocols, key=lambda p: (rank.get(formulation_of(p), len(rank)), protocols.index(p)))


def known_protocols(generate: bool, circular: bool) -> tuple[str, ...]:
    """Every protocol a run with these options records (any of them can be the headline)."""
    return tuple(
        p
        for p in ALL_PROTOCOLS
        if (generate or GENERATED not in p) and (circular or formulation(p) not in ("circular", "permutation_averaged"))
    )


def recorded_framing(records) -> str | None:
    """The cloze framing records were scored with, as their ``cloze`` blocks hold it: None when they hold none, or
    several."""
    found = {r.cloze.get("framing") for r in records if isinstance(r.cloze, dict)}
    return found.pop() if len(found) == 1 else None


def cloze_framing_of(settings: dict | None, records) -> str | None:
    """A run's cloze framing: its settings.json's, else (a folder made before the framing was a setting) its
    records'."""
    return (settings or {}).get("cloze_framing") or recorded_framing(records)
