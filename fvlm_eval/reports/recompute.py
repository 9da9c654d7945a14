"""A record's scores and predictions recomputed from what it holds, so that a ``pred`` that is not its
own scores' choice (a hand edit, an older rule) never passes unnoticed.

A record keeps every answer token's log-probability (``options``; the cloze formulation's in
``cloze``), from which ``scoring`` recomputes the multiple-choice scores (``reference``, ``sum``,
``mean``, ``letter``, ``option_text``) and the cloze ones (``cloze_sum``, ``cloze_token``,
``cloze_pmi``). The two scores per byte (``option_text_norm``, ``cloze_byte``) need the option's text,
which a record does not hold: their stored scores are used. Every protocol's prediction is then its
scores' choice (``scoring.predict``; cloze: options whose answer tokens are identical name the gold
when it is one of them, else the last, ``scoring.same_answers``); a generated answer's is the letter
read from it; the circular and permutation-averaged ones come from each rotation's choice, recomputed
from its scores (``circular.rotation_predictions``). A record whose numbers cannot be read (a field of another shape)
is left as it is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from fvlm_eval.circular import rotation_predictions
from fvlm_eval.protocols import CIRCULAR, CLOZE_PROTOCOLS, GENERATED, PERMUTATION_AVERAGED, PROTOCOLS
from fvlm_eval.records import Record
from fvlm_eval.scoring import (
    letter_score,
    mean_score,
    option_text_score,
    predict,
    reference_score,
    same_answers,
    sum_score,
)
from fvlm_eval.types import LETTERS, OptionLogprobs

TOLERANCE = 1e-9  # relative: a stored score is its recomputation written as JSON, exact but for the last bits


@dataclass(frozen=True)
class Recomputed:
    """A record with its recomputable scores and every prediction recomputed; what changed."""

    record: Record
    scores_changed: tuple[str, ...]  # protocols whose stored scores are not their log-probs'
    preds_changed: tuple[str, ...]  # protocols whose stored pred is not their scores' choice


def _options(record: Record) -> list[OptionLogprobs] | None:
    try:
        return [
            OptionLogprobs(
                tuple(o["token_ids"]),
                tuple(float(x) for x in o["logprobs"]),
                int(o["n_text"]),
                (int(o["own_text"][0]), int(o["own_text"][1])),
                str(o["first_token"]),
                o["pad_id"],
            )
            for o in (record.options[letter] for letter in record.letters)
        ]
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def multiple_choice_scores(record: Record) -> dict[str, dict[str, float] | None]:
    """The multiple-choice scores recomputable from ``options`` (``option_text_norm``'s needs the text)."""
    options = _options(record) if isinstance(record.options, dict) else None
    if options is None or not options:
        return {}
    letters = record.letters
    first = {letter: letter_score(o, letter) for letter, o in zip(letters, options)}
    own = {letter: option_text_score(o) for letter, o in zip(letters, options)}
    return {
        "reference": {letter: reference_score(o) for letter, o in zip(letters, options)},
        "sum": {letter: sum_score(o) for letter, o in zip(letters, options)},
        "mean": {letter: mean_score(o) for letter, o in zip(letters, options)},
        "letter": None if any(v is None for v in first.values()) else first,
        "option_text": None if any(v is None for v in own.values()) else own,
    }


def cloze_tokens(record: Record) -> dict[str, dict] | None:
    block = record.cloze.get("options") if isinstance(record.cloze, dict) else None
    if not isinstance(block, dict) or any(not isinstance(block.get(letter), dict) for letter in record.letters):
        return None
    return {letter: block[letter] for letter in record.letters}


def cloze_scores(record: Record) -> dict[str, dict[str, float]]:
    """``cloze_sum``, ``cloze_token`` and ``cloze_pmi`` from the ``cloze`` block (``cloze_byte``'s needs the text)."""
    tokens = cloze_tokens(record)
    try:
        if tokens is None or not all(t["logprobs"] for t in tokens.values()):
            return {}
        summed = {letter: float(sum(float(x) for x in t["logprobs"])) for letter, t in tokens.items()}
        return {
            "cloze_sum": summed,
            "cloze_token": {letter: summed[letter] / len(t["logprobs"]) for letter, t in tokens.items()},
            "cloze_pmi": {
                letter: summed[letter] - float(sum(float(x) for x in t["neutral_logprobs"]))
                for letter, t in tokens.items()
            },
        }
    except (KeyError, TypeError, ValueError):
        return {}


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return math.isclose(float(a), float(b), rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    except (TypeError, ValueError):
        return False


def _same_scores(stored, found) -> bool:
    if not isinstance(stored, dict) or not isinstance(found, dict):
        return stored is None and found is None or stored == found
    return stored.keys() == found.keys() and all(_close(stored[k], found[k]) for k in stored)


def _rotation_choice(rotation: dict, protocol: str) -> str | None:
    """A rotation's choice under ``protocol`` from its scores (original letters), ties broken as the run broke
    them: by the letter each option had in that rotation."""
    scores, order = (rotation.get("scores") or {}).get(protocol), rotation.get("order")
    if not isinstance(scores, dict) or not isinstance(order, str) or set(order) != set(scores):
        return None
    chosen = predict(protocol, {LETTERS[j]: scores[original] for j, original in enumerate(order)})
    return order[LETTERS.index(chosen)] if chosen else None


def _circular(record: Record) -> dict[str, str | None]:
    rotations = (record.circular or {}).get("rotations") if isinstance(record.circular, dict) else None
    if not isinstance(rotations, list) or not all(isinstance(r, dict) for r in rotations) or not rotations:
        return {}
    recomputed = [
        {**r, "pred": {p: _rotation_choice(r, p) for p in PROTOCOLS}} if not r.get("error") else r for r in rotations
    ]
    try:
        return rotation_predictions(recomputed, record.letters, any(r.get("generated") for r in rotations))
    except (KeyError, TypeError, AttributeError):
        return {}


def recompute(record: Record) -> Recomputed:
    """The record with its recomputable scores and its predictions recomputed (see the module docstring)."""
    if record.failed:
        return Recomputed(record, (), ())
    found = {**multiple_choice_scores(record), **cloze_scores(record)}
    scores = dict(record.scores)
    changed_scores = []
    for protocol, values in found.items():
        if protocol in scores and scores[protocol] is not None and not _same_scores(scores[protocol], values):
            changed_scores.append(protocol)
            scores[protocol] = values
    tokens = cloze_tokens(record)
    same = (
        same_answers(record.letters, tuple(tuple(t.get("token_ids") or ()) for t in tokens.values()), record.gold)
        if tokens
        else None
    )
    preds = dict(record.pred)
    for protocol in record.pred:
        if protocol in scores and (protocol in PROTOCOLS or protocol in CLOZE_PROTOCOLS):
            values = scores[protocol] if isinstance(scores[protocol], dict) else None
            preds[protocol] = predict(protocol, values, same if protocol in CLOZE_PROTOCOLS else None)
        elif protocol == GENERATED and isinstance(record.generated, dict):
            preds[protocol] = None if record.generated.get("error") else record.generated.get("letter")
    circular = _circular(record)
    for protocol in record.pred:
        if protocol.startswith((CIRCULAR, PERMUTATION_AVERAGED)) and protocol in circular:
            preds[protocol] = circular[protocol]
    changed_preds = tuple(p for p in record.pred if preds[p] != record.pred[p])
    if not changed_scores and not changed_preds:
        return Recomputed(record, (), ())
    return Recomputed(dataclasses.replace(record, scores=scores, pred=preds), tuple(changed_scores), changed_preds)


__all__ = ["Recomputed", "recompute"]
