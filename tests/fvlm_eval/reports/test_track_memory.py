"""What ``track`` keeps of each checkpoint: no full record (token log-probabilities, scores, cloze and circular
blocks), only what its numbers read; and those numbers are the ones the full records give."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Mapping
from pathlib import Path

from fvlm_eval.records import NOT_FINITE, Record
from fvlm_eval.reports.track.checkpoints import load_checkpoints


def _held(value: object) -> Iterator[object]:
    """Every object reachable from ``value`` through dataclass fields, mappings and sequences."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack += [getattr(item, f.name) for f in dataclasses.fields(item)]
        elif isinstance(item, Mapping):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack += list(item)


def test_loaded_checkpoints_hold_no_full_record_nor_log_probabilities(tmp_path):
    """Every ``Checkpoint`` kept each full ``Record`` of its run (scores, token log-probabilities, cloze blocks,
    generated text) for the whole command: 34 KB a record, 6.5 GB for 20 full checkpoints, growing with each one
    until an out-of-memory kill that says nothing. A loaded checkpoint now holds only what track reads."""
    from tests.fvlm_eval.constructed import write_run

    for step in (100, 200):
        write_run(tmp_path / f"runs/step_{step}", [True] * 5 + [False] * 4, cloze_framing="plain", generated=True)
    checkpoints = load_checkpoints([tmp_path / "runs"])
    assert [c.step for c in checkpoints] == [100, 200]
    held = list(_held(checkpoints))
    assert not [item for item in held if isinstance(item, Record)]
    blocks = ("logprobs", "neutral_logprobs", "rotations", "text")
    assert not [item for item in held if isinstance(item, Mapping) and any(key in item for key in blocks)]


def _records(benchmark: str, step: int, rng: random.Random, count: int) -> list[Record]:
    """``count`` questions of ``benchmark`` answered at random under every protocol (generated too), some options
    sharing answer tokens (a cloze guess is right on either), questions of three categories."""
    from tests.fvlm_eval.constructed import LETTERS, record

    found = []
    for i in range(count):
        base = record(i, True, f"v{i // 3}", generated=True, cloze=True)
        pred = {p: rng.choice(LETTERS) for p in base.pred}
        cloze = base.cloze
        if i % 4 == 0:  # option B has A's text: the same answer tokens
            options = {**cloze["options"], "B": {**cloze["options"]["B"], "token_ids": [100]}}
            cloze = {**cloze, "options": options}
        found.append(
            dataclasses.replace(
                base,
                id=f"{benchmark}/{i:03d}",
                benchmark=benchmark,
                gold=LETTERS[i % 4],
                fields={**base.fields, "task": f"t{i % 3}"},
                pred=pred,
                correct={p: letter == LETTERS[i % 4] for p, letter in pred.items()},
                cloze=cloze,
                generated=None if step == 100 else base.generated,  # step 100: no reader recorded
            )
        )
    return found


def _failed(record: Record, error: str) -> Record:
    return dataclasses.replace(
        record, error=error, pred={p: None for p in record.pred}, correct={p: False for p in record.correct}
    )


def test_track_answers_give_the_numbers_the_full_records_give():
    """The answers track keeps give every number of its analysis (points, best steps, half-splits, pairs and
    warnings) exactly as the full records do: questions that failed for their data and by the model, options
    sharing answer tokens (their chance), a category-mean benchmark ranked on the questions its steps share,
    generated answers with and without a recorded reader."""
    from fvlm_eval.letter_readings import reader_of
    from fvlm_eval.protocols import cloze_framing_of
    from fvlm_eval.reports.track.analysis import analyse
    from fvlm_eval.reports.track.answers import Answer, FolderAnswers, SharedValues, folder_answers
    from fvlm_eval.reports.track.checkpoints import Checkpoint
    from fvlm_eval.summarize import summarize_records
    from fvlm_eval.tasks import get_benchmark

    rng, shared = random.Random(7), SharedValues()
    settings = {"version": "2", "sampling": "uniform:8", "prompt": "p", "dtype": "float32"}
    compact, full = [], []
    for step, count in ((100, 60), (200, 60), (300, 45)):
        read = {(b, "coarse_fine"): _records(b, step, rng, count) for b in ("mlvu", "videomme")}
        if step == 200:
            for records in read.values():
                records[3] = _failed(records[3], "video v1.mp4 is missing")
                records[5] = _failed(records[5], f"{NOT_FINITE} (step 200)")
        summaries = {key: summarize_records(get_benchmark(key[0]), key[1], rs, len(rs)) for key, rs in read.items()}
        by_id = {key: {r.id: r for r in rs} for key, rs in read.items()}
        kept = {key: folder_answers(key[0], records, settings, shared) for key, records in by_id.items()}
        assert all(isinstance(a, Answer) for answers in kept.values() for a in answers.by_id.values())
        as_read = {
            key: FolderAnswers(
                records,
                cloze_framing_of(settings, records.values()),
                frozenset(reader_of(r) for r in records.values() if not r.failed and isinstance(r.generated, dict)),
            )
            for key, records in by_id.items()
        }
        own = dict.fromkeys(read, settings)
        compact.append(Checkpoint(step, Path(f"step_{step}"), "manifest", summaries, kept, (), own))
        full.append(Checkpoint(step, Path(f"step_{step}"), "manifest", summaries, as_read, (), own))
    protocols = ["reference", "cloze_pmi", "generated", "circular_reference"]
    found = analyse(compact, protocols, 0, 0.05)
    assert repr(found) == repr(analyse(full, protocols, 0, 0.05))
    assert any("measured" in b and b.get("step") is not None for b in found["best"])  # ranked on shared questions
    assert any(h.get("selected_step") is not None for h in found["halves"])
    assert any((p.get("failed") or {}).get("to_only") for p in found["pairs"])
    assert any("settings_differ" in p for p in found["pairs"] if p["protocol"] == "generated")
