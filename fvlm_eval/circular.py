"""Circular evaluation (MMBench's CircularEval, as VLMEvalKit runs it): each question asked once
per rotation of its options; ``circular_<p>`` is right only when protocol ``p`` picks the gold option
in every rotation, ``permavg_<p>`` picks the option whose score averaged over its positions is best.
"""

from __future__ import annotations

import dataclasses

from fvlm_eval.answers import extract_letter
from fvlm_eval.protocols import CIRCULAR, GENERATED, PERMUTATION_AVERAGED, PROTOCOLS
from fvlm_eval.scoring import predict, protocol_scores
from fvlm_eval.types import LETTERS, ChoiceResult, Generation, Option, Question


def rotated(question: Question, shift: int) -> tuple[Question, str]:
    """The question with its options rotated by ``shift`` positions (option at letter j is the original
    option j + shift), re-lettered A, B, ...; and the rotation's order: the original letter at each position."""
    n = len(question.options)
    order = [question.options[(j + shift) % n] for j in range(n)]
    options = tuple(Option(LETTERS[j], o.text) for j, o in enumerate(order))
    gold = next((LETTERS[j] for j, o in enumerate(order) if o.letter == question.gold), None)
    return dataclasses.replace(question, options=options, gold=gold), "".join(o.letter for o in order)


def circular_block(question: Question, asked: list[tuple[ChoiceResult, Generation | None]]) -> dict:
    """Per rotation (0 = as listed): its order and, per multiple-choice protocol, the original letter
    chosen and each original option's score; the generated answer's letter, read back to the original."""
    rotations = []
    for shift, (result, generation) in enumerate(asked):
        asked_question, order = rotated(question, shift)
        back = dict(zip(asked_question.letters, order))
        entry: dict = {"order": order, "error": result.error, "pred": {}, "scores": {}, "generated": None}
        if not result.error:
            scores = protocol_scores(
                asked_question.letters, tuple(o.text for o in asked_question.options), list(result.options)
            )
            for protocol, values in scores.items():
                entry["scores"][protocol] = (
                    None if values is None else {back[letter]: v for letter, v in values.items()}
                )
                chosen = predict(protocol, values)
                entry["pred"][protocol] = back.get(chosen) if chosen else None
        if generation is not None:
            extracted = extract_letter(generation.text, asked_question.options)
            entry["generated"] = {
                "text": generation.text,
                "status": "failed" if generation.error else extracted.status,
                "letter": None if generation.error or not extracted.letter else back[extracted.letter],
            }
        rotations.append(entry)
    return {"rotations": rotations}


def circular_predictions(block: dict, question: Question, generated: bool) -> dict[str, str | None]:
    """``circular_<p>``: the original option chosen in every rotation (else ``None``); ``permavg_<p>``:
    the option whose score averaged over its positions wins."""
    return rotation_predictions(block["rotations"], question.letters, generated)


def rotation_predictions(rotations: list[dict], letters: tuple[str, ...], generated: bool) -> dict[str, str | None]:
    """``circular_predictions`` from the rotations of a record's ``circular`` block and its ``letters`` alone
    (what a reader recomputes them from)."""
    preds: dict[str, str | None] = {}
    for protocol in PROTOCOLS:
        chosen = {r["pred"].get(protocol) for r in rotations}
        preds[CIRCULAR + protocol] = chosen.pop() if len(chosen) == 1 else None
        tables = [r["scores"].get(protocol) for r in rotations]
        if any(t is None for t in tables):
            preds[PERMUTATION_AVERAGED + protocol] = None
            continue
        averaged = {letter: sum(t[letter] for t in tables) / len(tables) for letter in letters}
        preds[PERMUTATION_AVERAGED + protocol] = predict(PERMUTATION_AVERAGED + protocol, averaged)
    if generated:
        letters = {(r["generated"] or {}).get("letter") for r in rotations}
        preds[CIRCULAR + GENERATED] = letters.pop() if len(letters) == 1 else None
    return preds
