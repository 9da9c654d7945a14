"""Constructed run folders (records, settings, summary) for report and regress tests."""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.answers import LETTER_READER
from fvlm_eval.files import write_json_atomic
from fvlm_eval.protocols import CLOZE_PROTOCOLS, PROTOCOLS, lower_is_better
from fvlm_eval.records import Record, append_records
from fvlm_eval.summarize import summarize_records
from fvlm_eval.tasks import get_benchmark

LETTERS = ("A", "B", "C", "D")


def choosing(letter: str, protocol: str) -> dict[str, float]:
    """Scores under which ``protocol`` chooses ``letter`` (lowest wins for ``reference``, highest otherwise)."""
    best, other = (1.0, 2.0) if lower_is_better(protocol) else (-1.0, -2.0)
    return {option: best if option == letter else other for option in LETTERS}


def cloze_block(letter: str, framing: str = "plain") -> dict:
    """A record's ``cloze`` block whose log-probabilities make every cloze protocol choose ``letter`` (one answer
    token per option: its log-probability is ``choosing``'s score, after the neutral prompt 0)."""
    scores = choosing(letter, "cloze_sum")
    return {
        "framing": framing,
        "prompt_sha256": "c" * 64,
        "options": {
            option: {"token_ids": [100 + i], "logprobs": [scores[option]], "neutral_logprobs": [0.0]}
            for i, option in enumerate(LETTERS)
        },
    }


def choose(row: dict, protocols, letter: str) -> None:
    """Edit a record (as JSON) as a run that chose ``letter`` under ``protocols`` would have recorded it: their
    scores (and the cloze log-probabilities, for a cloze protocol: every cloze protocol then chooses it), pred
    and correct."""
    if any(p in CLOZE_PROTOCOLS for p in protocols):  # one set of log-probabilities for them all
        row["cloze"] = cloze_block(letter, row["cloze"]["framing"])
        protocols = list(dict.fromkeys([*protocols, *(p for p in CLOZE_PROTOCOLS if p in row["scores"])]))
    for protocol in protocols:
        row["scores"][protocol] = choosing(letter, protocol)
        row["pred"][protocol] = letter
        row["correct"][protocol] = row["error"] is None and letter == row["gold"]


def record(
    i: int,
    ok: bool,
    group: str,
    mode: str = "coarse_fine",
    generated: bool = False,
    cloze: bool = False,
    framing: str = "plain",
) -> Record:
    pred = "A" if ok else "B"
    scored = PROTOCOLS + (CLOZE_PROTOCOLS if cloze else ())
    preds = {p: pred for p in scored} | ({"generated": pred} if generated else {})
    return Record(
        id=f"videomme/{i:03d}",
        benchmark="videomme",
        mode=mode,
        group=group,
        gold="A",
        letters=LETTERS,
        fields={"duration": ["short", "long"][i % 2], "task_type": "Counting Problem"},
        scores={p: choosing(pred, p) for p in scored},  # as the runner records them: pred is their choice
        pred=preds,
        correct={p: ok for p in preds},
        options=None,
        question_sha256="q" * 64,
        prompt_sha256="p" * 64,
        source="test.parquet",
        source_sha256="s" * 64,
        frames=None,
        timestamps=None,
        media_note=None,
        error=None,
        generated={"text": pred, "letter": pred, "status": "letter", "reader": LETTER_READER} if generated else None,
        notes=(),
        recorded_at=1.0,
        cloze=cloze_block(pred, framing) if cloze else None,
        circular=None,
    )


def write_run(
    folder: Path,
    correct: list[bool],
    sampling="uniform:64",
    groups=None,
    mode="coarse_fine",
    family="fvlm",
    model: dict | None = None,
    generated: bool = False,
    first_id: int = 0,
    cloze_framing: str | None = None,
    identity: dict | None = None,
) -> Path:
    target = folder / "videomme" / mode
    groups = groups or [f"v{i // 3}" for i in range(len(correct))]
    records = [
        record(first_id + i, ok, groups[i], mode, generated, cloze_framing is not None, cloze_framing or "plain")
        for i, ok in enumerate(correct)
    ]
    append_records(target / "samples.jsonl", records)
    write_json_atomic(
        target / "settings.json",
        {
            "benchmark": "videomme",
            "mode": mode,
            "version": "2",
            "sampling": sampling,
            "subtitles": False,
            "family": family,
            "prompt": "p",
            "frame_transform": "t",
            "dtype": "bfloat16",
            **({"cloze_framing": cloze_framing} if cloze_framing else {}),
            **(identity or {}),
        },
    )
    summary = summarize_records(get_benchmark("videomme"), mode, records, len(records)).to_json()
    summary["manifest"] = {"model": model or {"family": family, "name": folder.name}}
    summary["questions"] = [r.id for r in records]
    write_json_atomic(target / "summary.json", summary)
    return folder
