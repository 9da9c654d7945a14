"""The per-sample record, the record of a run: its type, how it is made, read and written.

``samples.jsonl`` holds one ``Record`` per line. Appends are whole lines in one ``write``
followed by ``fsync``; a run killed mid-append leaves at most one partial last line, which
``read_records(repair=True)`` cuts off (that question was not recorded, so it is scored again).
A complete line that does not parse, lacks a field, or was written by another schema version is
an error naming the file and line, never skipped. Lines are strict JSON: a ``NaN`` or ``Infinity``
is neither written nor read. Other files are written atomically (temporary
file, then rename). Write errors propagate.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.answers import LETTER_READER, extract_letter
from fvlm_eval.circular import circular_block, circular_predictions
from fvlm_eval.errors import RecordError
from fvlm_eval.files import not_json, wide_encoding, write_text_atomic
from fvlm_eval.protocols import CLOZE_PROTOCOLS, GENERATED, PROTOCOLS, lower_is_better
from fvlm_eval.scoring import cloze_scores, predict, protocol_scores, same_answers
from fvlm_eval.types import ChoiceResult, Clip, ClozeResult, Generation, Question

SCHEMA_VERSION = 3
REGEX_MISREAD = "public-scorer-regex-misreads-options"
SAME_TEXT = (
    "same-text-options"  # a note: options with identical texts (the cloze prediction names the gold, else the last)
)
NEAR_TIE = "near-tie"  # a note: the best and second-best scores of a protocol differ by less than float noise
# Batch composition (shards, ranks, --batch-size) moves log-probs by up to ~5e-6 in float32; a
# How a failure the model caused begins (its log-probabilities NaN or infinite: diverged weights; an error raised
# while it scored or encoded): regress and track count such a question wrong in the run it failed in, as run and
# report do, where a question whose media or row could not be read is left out as no evidence about the model.
NOT_FINITE = "the model gave log-probabilities that are NaN or infinite"
SCORING_FAILED = "scoring failed"
ENCODING_FAILED = "vision encode failed"


def failed_by_the_model(error: str | None) -> bool:
    """Whether a record's ``error`` is a failure of the model, not of its question's data."""
    return error is not None and error.startswith((NOT_FINITE, f"{SCORING_FAILED}:", f"{ENCODING_FAILED}:"))


# prediction decided by less than this is flagged, never silently trusted (bfloat16: 1e-2).
NEAR_TIE_TOLERANCE = {"float32": 1e-4, "float64": 1e-8, "bfloat16": 1e-2, "float16": 1e-2}


@dataclass(frozen=True)
class Record:
    """One question scored in one model variant (``mode``), or why it could not be.

    ``scores``: protocol -> letter -> score (``None``: the protocol does not apply); ``pred`` and
    ``correct`` per protocol (and ``generated`` with ``--generate``). ``options``: per letter the
    answer's token ids and log-probs, from which every protocol can be recomputed.
    ``question_sha256``: what the question was (prompt, options, gold, media); a rerun rescores a
    question whose hash changed. ``prompt_sha256``: the exact text the model was given.
    ``source``/``source_sha256``: the annotation file and its fingerprint. A failed question has
    ``error`` set and counts as wrong under every protocol. ``cloze``: the cloze formulation's
    framing, prompt hash and, per letter, the text's answer tokens with their log-probs after the
    question and after the neutral prompt (every cloze protocol is recomputable from them).
    ``circular`` (``--circular``): per rotation of the options, each protocol's choice (as the
    original letter) and scores. For every protocol ``correct[p]`` is ``pred[p] == gold`` (and no error).
    """

    id: str
    benchmark: str
    mode: str
    group: str
    gold: str | None
    letters: tuple[str, ...]
    fields: dict
    scores: dict
    pred: dict
    correct: dict
    options: dict | None
    question_sha256: str
    prompt_sha256: str | None
    source: str
    source_sha256: str
    frames: tuple[int, ...] | None
    timestamps: tuple[float, ...] | None
    media_note: str | None
    error: str | None
    generated: dict | None
    cloze: dict | None
    circular: dict | None
    notes: tuple[str, ...]
    recorded_at: float
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: object, where: str) -> "Record":
        if not isinstance(data, dict) or "id" not in data:
            raise RecordError(f"{where}: a record must be an object with an 'id'")
        version = data.get("schema_version", 1)
        if version != SCHEMA_VERSION:
            age = "an older" if isinstance(version, int) and version < SCHEMA_VERSION else "a newer"
            raise RecordError(
                f"{where}: made by {age} version of fvlm-eval (record schema {version}; this version "
                f"reads {SCHEMA_VERSION}): rerun into a new --output-dir, or use that version"
            )
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise RecordError(f"{where}: record {data['id']!r} lacks {', '.join(missing)}")
        values = {n: data[n] for n in names}
        kinds = {
            "id": str,
            "benchmark": str,
            "mode": str,
            "group": str,
            "letters": list,
            "fields": dict,
            "scores": dict,
            "pred": dict,
            "correct": dict,
            "question_sha256": str,
            "notes": list,
        }
        wrong = [n for n, kind in kinds.items() if not isinstance(values[n], kind)]
        wrong += [
            n
            for n in ("options", "generated", "error", "frames", "cloze", "circular")
            if values[n] is not None
            and not isinstance(
                values[n],
                {"options": dict, "generated": dict, "error": str, "frames": list, "cloze": dict, "circular": dict}[n],
            )
        ]
        wrong += (
            ["correct"]
            if isinstance(values["correct"], dict) and not all(isinstance(v, bool) for v in values["correct"].values())
            else []
        )
        if wrong:
            raise RecordError(
                f"{where}: record {data['id']!r} has fields of the wrong type: {', '.join(sorted(set(wrong)))}"
            )
        for name in ("letters", "frames", "timestamps", "notes"):
            if isinstance(values[name], list):
                values[name] = tuple(values[name])
        return cls(**values)

    @property
    def failed(self) -> bool:
        return self.error is not None


def question_sha256(question: Question, prompt: str, version: str) -> str:
    """What a record was computed from, on the harness's side: change any of it and the question
    is scored again on resume."""
    payload = [
        question.id,
        version,
        prompt,
        [o.answer for o in question.options],
        question.gold,
        question.media.key,
        question.media.bound,
        question.error,
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def reference_regex_options(user_text: str) -> dict[str, str]:
    """The options as the public fVLM scorer re-reads them from the prompt (its regex, verbatim)."""
    found = {}
    for match in re.finditer(r"([A-Z])\.\s*(.+?)(?=\n[A-Z]\.|$)", user_text, re.DOTALL):
        found[match.group(1)] = match.group(1) + ". " + match.group(2).strip()
    return found


def make_record(
    question: Question,
    mode: str,
    prompt: str,
    question_hash: str,
    result: ChoiceResult | None = None,
    error: str | None = None,
    clip: Clip | None = None,
    generation: Generation | None = None,
    cloze: ClozeResult | None = None,
    cloze_framing: str = "plain",
    rotations: list[tuple[ChoiceResult, Generation | None]] | None = None,
    dtype: str = "float32",
) -> Record:
    """The record of one (question, mode): scores and predictions of every protocol, or the error.

    ``cloze``: the question's cloze formulation; ``rotations``: with ``--circular``, the results of
    the question asked with its options rotated by 1, 2, ... positions (``rotated``)."""
    letters = question.letters
    texts = tuple(o.text for o in question.options)
    error = error or (result.error if result is not None else None) or (cloze.error if cloze is not None else None)
    if result is None or error:
        scores = {p: None for p in PROTOCOLS}
    else:
        scores = protocol_scores(letters, texts, list(result.options))
    cloze_block = None
    if cloze is not None and not error:
        scores.update(cloze_scores(texts, letters, list(cloze.logprobs), list(cloze.neutral)))
        cloze_block = {
            "framing": cloze_framing,
            "prompt_sha256": cloze.prompt_sha256,
            "options": {
                letter: {"token_ids": list(ids), "logprobs": list(lp), "neutral_logprobs": list(nl)}
                for letter, ids, lp, nl in zip(letters, cloze.token_ids, cloze.logprobs, cloze.neutral)
            },
        }
    same = same_answers(letters, texts, question.gold)
    preds = {p: predict(p, v, same if p in CLOZE_PROTOCOLS else None) for p, v in scores.items()}
    generated = None
    if generation is not None:
        extracted = extract_letter(generation.text, question.options)
        status = "failed" if generation.error else extracted.status
        generated = {
            "text": generation.text,
            "letter": extracted.letter,
            "status": status,
            "new_tokens": generation.new_tokens,
            "stopped": generation.stopped,
            "max_new_tokens": generation.limit,
            "prompt_sha256": generation.prompt_sha256,
            "error": generation.error,
            "reader": LETTER_READER,  # the reader that read ``letter`` and the circular rotations' (letter_readings)
        }
        preds[GENERATED] = None if error or generation.error else extracted.letter
    notes = list(question.notes)
    expected = {o.letter: f"{o.letter}. {o.text.strip()}" for o in question.options}
    if question.options and reference_regex_options(prompt) != expected:
        notes.append(REGEX_MISREAD)
    tolerance = NEAR_TIE_TOLERANCE.get(dtype, NEAR_TIE_TOLERANCE["bfloat16"])
    ties = [p for p, v in scores.items() if v and len(v) > 1 and _margin(p, v, same) < tolerance]
    if ties:
        notes.append(f"{NEAR_TIE}: {', '.join(ties)}")
    repeated = [letter for letter in letters if list(same.values()).count(same[letter]) > 1]
    if repeated:
        notes.append(f"{SAME_TEXT}: {', '.join(repeated)}")
    circular = None
    if rotations is not None and result is not None and not error:
        circular = circular_block(question, [(result, generation)] + list(rotations))
        preds.update(circular_predictions(circular, question, generation is not None))
    options = None
    if result is not None and not error:
        options = {
            letter: {
                "token_ids": list(o.token_ids),
                "logprobs": list(o.logprobs),
                "n_text": o.n_text,
                "own_text": list(o.own_text),
                "first_token": o.first_token,
                "pad_id": o.pad_id,
                "fallback": o.fallback,
            }
            for letter, o in zip(letters, result.options)
        }
    return Record(
        id=question.id,
        benchmark=question.benchmark,
        mode=mode,
        group=question.group,
        gold=question.gold,
        letters=letters,
        fields=question.field_dict(),
        scores=scores,
        pred=preds,
        correct={p: error is None and v is not None and v == question.gold for p, v in preds.items()},
        options=options,
        question_sha256=question_hash,
        prompt_sha256=result.prompt_sha256 if result is not None else None,
        source=question.source,
        source_sha256=question.source_sha256,
        frames=clip.indices if clip else None,
        timestamps=clip.timestamps if clip else None,
        media_note=clip.note if clip else None,
        error=error,
        generated=generated,
        cloze=cloze_block,
        circular=circular,
        notes=tuple(notes),
        recorded_at=time.time(),
    )


def _margin(protocol: str, scores: dict[str, float], same: dict[str, str]) -> float:
    """How far apart the best two scores of ``protocol`` are (cloze: of different answers, one score per text)."""
    if protocol in CLOZE_PROTOCOLS:
        scores = {same[letter]: score for letter, score in scores.items()}
    if len(scores) < 2:
        return math.inf
    best, second = sorted(scores.values(), reverse=not lower_is_better(protocol))[:2]
    return abs(best - second)


# ----- files ----------------------------------------------------------------------------------


def read_records(path: Path, repair: bool = False) -> list[Record]:
    """Every complete record in ``path`` in order (``repair``: cut a partial last line off the file)."""
    path = Path(path)
    if not path.is_file():
        return []
    data = path.read_bytes()
    complete_end = data.rfind(b"\n") + 1
    if complete_end < len(data) and repair:
        with open(path, "r+b") as handle:
            handle.truncate(complete_end)
            handle.flush()
            os.fsync(handle.fileno())
    records = []
    for number, line in enumerate(data[:complete_end].splitlines(), start=1):
        if not line.strip():
            continue
        wide = wide_encoding(line)  # json.loads would decode such a line, or fail on its neighbour
        if wide:
            raise RecordError(
                f"{path}:{number}: the file is {wide} (this line starts with a {wide} byte-order "
                "mark), not UTF-8 JSON lines; convert it to UTF-8"
            )
        if b"\x00" in line:
            raise RecordError(
                f"{path}:{number}: not UTF-8 JSON lines (this line holds NUL bytes: UTF-16 text, or "
                "zeros left by a crash?)"
            )
        try:
            value = json.loads(line, parse_constant=not_json)
        except (ValueError, UnicodeDecodeError) as error:
            raise RecordError(f"{path}:{number}: not a JSON record ({error})") from error
        try:
            records.append(Record.from_json(value, f"{path}:{number}"))
        except TypeError as error:
            raise RecordError(f"{path}:{number}: not a record of this version ({error})") from error
    return records


def latest_by_id(records: list[Record]) -> dict[str, Record]:
    """One record per id; a later record of the same id (a rescored question) replaces the earlier."""
    return {record.id: record for record in records}


def _line(record: Record) -> str:
    """One record as strict JSON (a score that is NaN or infinite is refused: JSON has no such number)."""
    try:
        return json.dumps(record.to_json(), ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n"
    except ValueError as error:
        raise RecordError(f"record {record.id!r} ({record.mode}) holds a number that is not finite: {error}") from error


def append_records(path: Path, records: list[Record]) -> None:
    """Append whole lines and fsync; raises on any failure (naming ``path``), after cutting the file back
    to its length before the call, so a full disk leaves no part of a line behind."""
    if not records:
        return
    payload = memoryview("".join(_line(r) for r in records).encode())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        before = os.fstat(fd).st_size  # the folder's lock makes this process its only writer
        try:
            while payload:  # a full disk first writes part, then refuses with ENOSPC
                written = os.write(fd, payload)
                if not written:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                payload = payload[written:]
            os.fsync(fd)
        except OSError as error:
            try:
                os.ftruncate(fd, before)
            except OSError:
                pass  # the error below is what the user must hear; a cut line is repaired on the next read
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
    finally:
        os.close(fd)


def write_records(path: Path, records: list[Record]) -> None:
    """Replace ``path`` with exactly ``records``, atomically."""
    write_text_atomic(path, "".join(_line(r) for r in records))
