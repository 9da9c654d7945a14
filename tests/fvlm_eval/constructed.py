"""Constructed run folders (records, settings, summary) for report and regress tests."""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.files import write_json_atomic
from fvlm_eval.protocols import CLOZE_PROTOCOLS, PROTOCOLS
from fvlm_eval.records import Record, append_records
from fvlm_eval.summarize import summarize_records
from fvlm_eval.tasks import get_benchmark


def record(
    i: int, ok: bool, group: str, mode: str = "coarse_fine", generated: bool = False, cloze: bool = False
) -> Record:
    pred = "A" if ok else "B"
    preds = {p: pred for p in PROTOCOLS + (CLOZE_PROTOCOLS if cloze else ())} | (
        {"generated": pred} if generated else {}
    )
    return Record(
        id=f"videomme/{i:03d}",
        benchmark="videomme",
        mode=mode,
        group=group,
        gold="A",
        letters=("A", "B", "C", "D"),
        fields={"duration": ["short", "long"][i % 2], "task_type": "Counting Problem"},
        scores={p: None for p in PROTOCOLS},
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
        generated={"text": pred, "letter": pred, "status": "letter"} if generated else None,
        notes=(),
        recorded_at=1.0,
        cloze=None,
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
) -> Path:
    target = folder / "videomme" / mode
    groups = groups or [f"v{i // 3}" for i in range(len(correct))]
    records = [
        record(first_id + i, ok, groups[i], mode, generated, cloze_framing is not None) for i, ok in enumerate(correct)
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
        },
    )
    summary = summarize_records(get_benchmark("videomme"), mode, records, len(records)).to_json()
    summary["manifest"] = {"model": model or {"family": family, "name": folder.name}}
    summary["questions"] = [r.id for r in records]
    write_json_atomic(target / "summary.json", summary)
    return folder
