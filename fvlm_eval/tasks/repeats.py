"""Repeated question ids made distinct, whoever wrote the benchmark (its ``load``, or ``checked_load`` after it): one
record must never stand for two questions, nor one question count twice."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from fvlm_eval.types import Question


def unique_ids(
    questions: list[Question], rows: list[tuple[str, int, object]] | None = None, counted_by: str = ""
) -> tuple[list[Question], list[str]]:
    """Questions with distinct ids. A row repeated exactly (same id, same question, from the same file or
    another) is one question, counted once; a repeated id on another question gets ``#2``, ``#3``... in file
    order. A note says which (one record must never stand for two questions, nor one question count twice).

    ``rows``, for a benchmark whose ids are row positions (a repeated row gets an id of its own): each
    question's annotation row as ``(file, index, row)``. A row equal to an earlier row of the same file is
    the same question repeated: counted once, under the first row's id (the ids of the other rows are
    their positions, unchanged), with a note naming the file and both rows. ``counted_by``: the official
    scorer that counts such a repeat as a question of its own (its published counts include it): then it is
    kept as one, with the note saying so."""
    seen: dict[str, list[Question]] = {}
    taken = {question.id for question in questions}  # a new name is never another question's id
    first_rows: dict[tuple[str, str], tuple[int, str]] = {}
    result, notes = [], []
    for number, question in enumerate(questions):
        if rows is not None:
            file, index, row = rows[number]
            first, first_id = first_rows.setdefault((file, _canonical(row)), (index, question.id))
            if first != index and counted_by:  # a note only: the data as published (``prepare`` passes it)
                notes.append(
                    f"repeated row (from {Path(file).name}): row {index} repeats row {first} exactly, the same "
                    f"question: asked again as {question.id}, as {counted_by} counts it (its published counts "
                    "include it)"
                )
            elif first != index:  # "duplicate question id": the runner shows it, ``prepare`` fails on it
                notes.append(
                    f"duplicate question id {question.id} (from {Path(file).name}): row {index} repeats row {first} "
                    f"exactly, the same question: counted once (as {first_id})"
                )
                continue
        earlier = seen.setdefault(question.id, [])
        same = next((q for q in earlier if _as_asked(q, question.id) == _as_asked(question, question.id)), None)
        if same is not None:
            where = "" if same.source == question.source else f" as in {same.source}"
            notes.append(
                f"duplicate question id {question.id} (from {question.source}): the same question repeated"
                f"{where}, counted once"
            )
            continue
        if earlier:
            number = len(earlier) + 1
            while f"{question.id}#{number}" in taken:
                number += 1
            renamed = f"{question.id}#{number}"
            taken.add(renamed)
            notes.append(
                f"duplicate question id {question.id} (from {question.source}): another question under it "
                f"is recorded as {renamed}"
            )
            question = replace(question, id=renamed)
        earlier.append(question)
        result.append(question)
    return result, notes


def _as_asked(question: Question, qid: str) -> Question:
    """``question`` under ``id`` without the file it was read from: the same row read from two files (a stray
    copy beside the annotations) is one question, not a second one under ``id#2``."""
    return replace(question, id=qid, source="", source_sha256="")


def _canonical(row: object) -> str:
    """An annotation row as one string, equal for equal rows (keys in any order)."""
    try:
        return json.dumps(row, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # keys that cannot be sorted (not from JSON or parquet): as it is written
        return repr(row)
