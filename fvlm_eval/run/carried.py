"""What a rescored question keeps from its earlier record: the measures this run does not take again.

A rerun scores a question again when its record lacks what this run measures (``--circular``,
``--generate``). The earlier record may hold the other measure (a run with ``--generate``, then one
with ``--circular``): the same model, settings and question made it (the folder's settings check and
the question's hash say so), so it is carried into the new record rather than dropped. A measure this
run takes again (``--generate`` with another ``--max-new-tokens``) is this run's.
"""

from __future__ import annotations

import dataclasses

from fvlm_eval.protocols import CIRCULAR, GENERATED, PERMUTATION_AVERAGED
from fvlm_eval.records import Record


def _is_circular(protocol: str) -> bool:
    return protocol.startswith((CIRCULAR, PERMUTATION_AVERAGED))


def with_earlier_measures(new: Record, earlier: Record | None) -> Record:
    """``new``, plus the generated answer and the circular rotations of ``earlier`` that ``new`` lacks, with
    their predictions (only from an earlier record of the same question that did not fail)."""
    if (
        earlier is None
        or new.error
        or earlier.error
        or earlier.question_sha256 != new.question_sha256
        or new.gold != earlier.gold
    ):
        return new
    carried, protocols = {}, []
    if new.generated is None and earlier.generated is not None:
        carried["generated"] = earlier.generated
        protocols += [p for p in earlier.pred if p == GENERATED]
    if new.circular is None and earlier.circular is not None and _fits(earlier.circular, new, carried):
        carried["circular"] = earlier.circular
        protocols += [p for p in earlier.pred if _is_circular(p)]
    if not carried:
        return new
    pred = {**new.pred, **{p: earlier.pred[p] for p in protocols}}
    correct = {**new.correct, **{p: earlier.correct.get(p, False) for p in protocols}}
    return dataclasses.replace(new, pred=pred, correct=correct, **carried)


def _fits(circular: dict, new: Record, carried: dict) -> bool:
    """Whether an earlier circular block can stand beside the new record's generated answer: its rotations hold no
    generated answers, or the new record's is the earlier one too (carried), not one generated again (another
    answer limit: the rotations' answers would be of the other)."""
    return not rotations_generated(circular) or new.generated is None or "generated" in carried


def rotations_generated(circular: dict) -> bool:
    """Whether a circular block's rotations hold generated answers (it was made with ``--generate``)."""
    return any(r.get("generated") for r in circular.get("rotations", []))


def carried_measures(earlier: Record, generate: bool, circular: bool) -> tuple[list[str], list[str]]:
    """What a rerun that generates (``generate``) or rotates (``circular``) keeps of ``earlier`` when it scores
    the question again, and what it drops, in words (the rule of ``with_earlier_measures``, said before)."""
    kept, dropped = [], []
    if earlier.generated is not None and not generate:
        kept.append("generated answers")
    if earlier.circular is not None and not circular:
        if generate and rotations_generated(earlier.circular):
            dropped.append("circular rotations")
        else:
            kept.append("circular rotations")
    return kept, dropped
