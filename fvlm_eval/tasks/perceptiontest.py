"""Perception Test, validation split, multiple choice (google-deepmind/perception_test; annotations CC BY 4.0).

From ``lmms-lab/PerceptionTest_Val`` (the same repository, same commits, is also ``lmms-eval/PerceptionTest_Val``
since lmms-eval moved its video datasets; both are tried), config ``mc_question_val``, split ``validation``:
``mc_question_val/validation-00000-of-00001.parquet``, 19,140 rows of ``video_name`` (no extension),
``question``, ``question_id`` (a string), ``options`` (three texts, no letters), ``answer_id`` (a STRING,
"0".."2", the index of the right option), ``area`` (memory, abstraction, physics, semantics; spelled as the
file spells it), ``reasoning`` (descriptive, explanatory, predictive, counterfactual) and ``tag`` (a list of
skill tags). Media ``videos/<video_name>.mp4`` (``.MP4`` too, as lmms-eval looks), extracted from
``videos_chunked_01.zip`` and ``_02.zip`` (the audio zip is not fetched). A question is keyed by its video
and ``question_id`` (whether ``question_id`` alone is unique was not verified).

Coverage counts against the split (19,140): the per-area counts of the validation split were not found in
any source, so none is invented; reports break accuracy down by ``area`` and ``reasoning`` (a question's
tags are kept in its record, not a breakdown: a question has several). Official metric: top-1 accuracy,
pooled. Prompt: lmms-eval's (``perceptiontest_val_mc``), the question and ``A. ``-lettered options.
Frames: the benchmark has no official rule; the lmms-eval default is used, 32 frames spread uniformly over
the whole clip (``max_frames_num=32`` of its LLaVA-OneVision/LLaVA-Video wrappers, ``np.linspace``). The
validation clips are not cut where the official test split cuts them (``cut_frame_mapping_valid.json`` is
on the official storage, not on the hub): a few cup-game questions can be answered from the last frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.media import MediaError
from fvlm_eval.tasks.base import (
    Benchmark,
    HubSource,
    Loaded,
    lettered,
)
from fvlm_eval.tasks.rows import find_video, load_hub_parquet, text, texts, unusable
from fvlm_eval.types import LETTERS, Media, Question, Sampling

ANNOTATIONS = "mc_question_val"  # the config's folder: validation-00000-of-00001.parquet
COLUMNS = ("video_name", "question", "question_id", "options", "answer_id", "area", "reasoning", "tag")
VIDEO_SUFFIXES = (".mp4", ".MP4")
SPLIT = "validation"
EXPECTED_ROWS = 19140


@dataclass
class PerceptionTest(Benchmark):
    name: str = "perceptiontest"
    title: str = "Perception Test (val, MC)"
    version: str = "1"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 32))
    breakdowns: tuple[str, ...] = ("area", "reasoning")
    category_field: str = "split"
    main_breakdown: str = "area"

    def hub(self) -> HubSource:
        return HubSource(
            "lmms-lab/PerceptionTest_Val",
            "c5e520d8c4167fb1f135c36e9d6e67312b4f8e6b",
            ("mc_question_val/*", "videos_chunked_*.zip"),
            ("videos_chunked_*.zip",),
            config="mc_question_val",
            mirrors=("lmms-eval/PerceptionTest_Val",),
        )

    def expected(self) -> dict[str, int]:
        return {SPLIT: EXPECTED_ROWS}

    def write_fixture(self, data_dir: Path, faults: bool = False) -> Path:
        from fvlm_eval.tasks.fixtures.perceptiontest import write_perceptiontest

        return write_perceptiontest(Path(data_dir), faults)

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        return load_hub_parquet(
            self,
            root / ANNOTATIONS,
            SPLIT,
            COLUMNS,
            EXPECTED_ROWS,
            ("Perception Test", "Perception Test mc_question_val parquet"),
            lambda index, row, path, sha: self._question(root, index, row, path, sha),
        )

    def _question(self, root: Path, index: int, row: dict, path: Path, sha: str) -> Question:
        where = f"{path.name}[{index}]"
        fields = (
            ("split", SPLIT),
            ("area", str(row["area"])),
            ("reasoning", str(row["reasoning"])),
            ("tag", _tags(row["tag"])),
        )
        qid = f"{self.name}/{row['video_name']}/{row['question_id']}"
        try:
            video = text(row, "video_name")
            question_id = text(row, "question_id")
            qid = f"{self.name}/{video}/{question_id}"
            options = lettered(texts(row["options"], "options"))
            answer = row["answer_id"]
            if not isinstance(answer, str) or not answer.strip().isdigit():
                raise ValueError(f"answer_id must be a string holding an index, not {answer!r}")
            if int(answer) >= len(options):
                raise ValueError(f"answer_id {answer!r} is out of range for {len(options)} options")
            question = text(row, "question")
            media_path, looked_in = find_video(root, "videos", video, VIDEO_SUFFIXES)
        except (ValueError, MediaError) as problem:
            return unusable(self.name, qid, where, str(problem), fields, path, sha)
        key = f"{self.name}/{video}"
        return Question(
            qid,
            self.name,
            Media("video", key, str(media_path), looked_in=looked_in),
            question,
            options,
            LETTERS[int(answer)],
            key,
            fields=fields,
            source=path.name,
            source_sha256=sha,
        )


def _tags(value) -> str:
    """A question's skill tags as one string (a list in the file; kept in the record, not a breakdown)."""
    if value is None or isinstance(value, str):
        return value or ""
    return ", ".join(map(str, value))
