"""EgoSchema, the 500-question subset whose answers are public (egoschema/EgoSchema; hub card: MIT; the
videos are Ego4D clips, whose licence terms apply).

The full set's 5,031 answers are NOT public: they are scored only by the official Kaggle competition or
validation server, so the full set cannot be scored here and nothing of it is counted; the configs
``MC``/``GENERATION``/``MC_PPL`` (answers null) are not read. From ``lmms-lab/egoschema`` (also
``lmms-eval/egoschema``, the same commits; both are tried), config ``Subset``, split ``test``:
``Subset/test-00000-of-00001.parquet``, 500 rows of ``question_idx`` (a string), ``question``,
``video_idx`` (the official ``q_uid``, a UUID string: one question per video, so the question's key),
``option`` (five texts WITH their letter, ``"A. ..."``) and ``answer`` (a STRING, "0".."4", the index of the
right option; an int column is read alike). Media ``videos/<video_idx>.mp4`` (``.MP4`` too), extracted from
``videos_chunked_01.zip`` .. ``_05.zip`` (all 5,031 videos, ~106 GB: the zips are not split by subset). The
letter prefix is taken off an option's text (``Option.answer`` writes it back) by its first ``"X. "`` only: an
option holding a full stop keeps all of its text (lmms-eval's ``option.split(".")[1]`` cuts it).

Prompt: lmms-eval's (``egoschema_subset``), the question and the five lettered options. Frames: no official
rule (the clips are 3 minutes); the lmms-eval default is used, 32 frames spread uniformly over the clip
(``max_frames_num=32`` of its LLaVA-OneVision/LLaVA-Video wrappers). Accuracy pooled over the 500 (one
category: the subset). Revision: the hub head is known by its short id only (5835052), so ``main`` is
fetched and ``prepare`` records the commit it resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from fvlm_eval.media import MediaError
from fvlm_eval.tasks.base import Benchmark, HubSource, Loaded, integral
from fvlm_eval.tasks.rows import find_video, load_hub_parquet, text, texts, unusable
from fvlm_eval.types import LETTERS, Media, Option, Question, Sampling

ANNOTATIONS = "Subset"  # the config's folder: test-00000-of-00001.parquet
COLUMNS = ("question_idx", "question", "video_idx", "option", "answer")
VIDEO_SUFFIXES = (".mp4", ".MP4")
SUBSET = "subset"
EXPECTED_ROWS = 500
OPTIONS = 5
_LETTER = re.compile(r"^\s*([A-Z])\s*[.)]\s*")


@dataclass
class EgoSchema(Benchmark):
    name: str = "egoschema"
    title: str = "EgoSchema (subset)"
    version: str = "1"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 32))
    breakdowns: tuple[str, ...] = ()
    category_field: str = "split"
    main_breakdown: str = ""
    scope: ClassVar[str] = "the 500-question subset (the full set's 5,031 answers are not public: not scored)"

    def hub(self) -> HubSource:
        return HubSource(
            "lmms-lab/egoschema",
            "main",
            ("Subset/*", "videos_chunked_*.zip"),
            ("videos_chunked_*.zip",),
            config="Subset",
            mirrors=("lmms-eval/egoschema",),
        )

    def expected(self) -> dict[str, int]:
        return {SUBSET: EXPECTED_ROWS}

    def write_fixture(self, data_dir: Path, faults: bool = False) -> Path:
        from fvlm_eval.tasks.fixtures.egoschema import write_egoschema

        return write_egoschema(Path(data_dir), faults)

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        return load_hub_parquet(
            self,
            root / ANNOTATIONS,
            "test",
            COLUMNS,
            EXPECTED_ROWS,
            ("EgoSchema subset", "EgoSchema Subset parquet"),
            lambda index, row, path, sha: self._question(root, index, row, path, sha),
        )

    def _question(self, root: Path, index: int, row: dict, path: Path, sha: str) -> Question:
        where = f"{path.name}[{index}]"
        fields = (("split", SUBSET),)
        qid = f"{self.name}/{row['video_idx']}"
        try:
            video = text(row, "video_idx")
            options = unlettered(texts(row["option"], "option", least=OPTIONS))
            answer = row["answer"]
            if answer is None:
                raise ValueError("the row has no answer (as the full set's rows, whose answers are not public)")
            if isinstance(answer, str) and not answer.strip().isdigit():
                raise ValueError(f"answer must be an index, not {answer!r}")
            index = int(answer) if isinstance(answer, str) else integral(answer, "answer")  # an int column too
            if not 0 <= index < len(options):
                raise ValueError(f"answer {answer!r} is out of range for {len(options)} options")
            question = text(row, "question")
            media_path, looked_in = find_video(root, "videos", video, VIDEO_SUFFIXES)
        except (ValueError, MediaError) as problem:
            return unusable(self.name, qid, where, str(problem), fields, path, sha)
        return Question(
            qid,
            self.name,
            Media("video", qid, str(media_path), looked_in=looked_in),
            question,
            options,
            LETTERS[index],
            qid,
            fields=fields,
            source=path.name,
            source_sha256=sha,
        )


def unlettered(raw: list[str]) -> tuple[Option, ...]:
    """``["A. text", ...]`` -> options A.. with the letter taken off at its first ``"X. "`` (or ``"X) "``); an
    option lettered out of its place is an error, one without a letter keeps its whole text."""
    options = []
    for i, item in enumerate(raw):
        match = _LETTER.match(item)
        if match and match.group(1) != LETTERS[i]:
            raise ValueError(f"option {i} {item[:60]!r} is lettered {match.group(1)}, not {LETTERS[i]}")
        own = item[match.end() :] if match else item
        if not own.strip():
            raise ValueError(f"option {i} {item!r} has no text after its letter")
        options.append(Option(LETTERS[i], own.strip()))
    return tuple(options)
