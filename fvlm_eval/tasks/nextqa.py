"""NExT-QA, multiple choice, test split (doc-doc/NExT-QA; annotations MIT, videos from VidOR/YFCC100M).

From ``lmms-lab/NExTQA`` (also ``lmms-eval/NExTQA``, the same commits; both are tried), config ``MC``, split
``test``: ``MC/test-00000-of-00001.parquet`` (the file name was not verified: the hub's shard set of the split is
read, whatever its count; any other ``MC/test-*.parquet`` is left out and named, ``rows.hub_shards``), 8,564
rows of ``video`` (INT64), ``frame_count``, ``width``, ``height``, ``question`` (lower case, no question mark),
``answer`` (INT64, the index into the options), ``qid`` (int64, an index WITHIN the video: repeated
across videos), ``type`` and the option texts ``a0``..``a4``. A question is keyed ``<video>_<qid>``, the
official convention. Media ``NExTVideo/<video>.mp4`` (``.MP4`` too), flat, as lmms-eval reads the extracted
``videos.zip`` (inferred from its loader); the official release's nested ``NExTVideo/<dir>/<video>.mp4`` is
read too when its ``map_vid_vidorID.json`` is in the folder.

Question types: CW (why), CH (how): causal; TN (before/after), TC (when): temporal; DC (count), DL
(location), DO (other): descriptive. The 93 ``TP`` questions are counted as TN, as the official
``eval_mc.py`` merges them, so ``type`` has the official seven values and ``group`` the three reported
groups; overall accuracy is pooled over all questions, as there. Prompt: lmms-eval's
(``nextqa_mc_test``), the question and ``A. ``..``E. ``-lettered options. Frames: no official rule (its
baselines used pre-extracted features); the lmms-eval default is used, 32 frames spread uniformly over the
whole video (``max_frames_num=32`` of its LLaVA-OneVision/LLaVA-Video wrappers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from fvlm_eval.media import MediaError
from fvlm_eval.tasks.base import Benchmark, HubSource, Loaded, integral, lettered
from fvlm_eval.tasks.rows import find_video, load_hub_parquet, text, texts, unusable
from fvlm_eval.types import LETTERS, Media, Question, Sampling

ANNOTATIONS = "MC"  # the config's folder: test-00000-of-00001.parquet
COLUMNS = ("video", "question", "answer", "qid", "type", "a0", "a1", "a2", "a3", "a4")
VIDEO_SUFFIXES = (".mp4", ".MP4")
VIDEO_MAP = "map_vid_vidorID.json"  # the official release: video id -> "<dir>/<video id>"
# The official types (TP merged into TN, as eval_mc.py does) and their questions in the test split.
TYPES = {"CW": 3329, "CH": 1173, "TN": 1399 + 93, "TC": 1165, "DC": 322, "DL": 483, "DO": 600}
MERGED = {"TP": "TN"}
GROUPS = {"C": "causal", "T": "temporal", "D": "descriptive"}
EXPECTED_ROWS = sum(TYPES.values())


@dataclass
class NExTQA(Benchmark):
    name: str = "nextqa"
    title: str = "NExT-QA (test, MC)"
    version: str = "1"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 32))
    breakdowns: tuple[str, ...] = ("type", "group")
    category_field: str = "type"
    main_breakdown: str = "type"

    def hub(self) -> HubSource:
        return HubSource(
            "lmms-lab/NExTQA",
            "0d019debcbf84a3d91ee608ab9ef9ab2a9e7dec5",
            ("MC/*", "videos.zip"),
            ("videos.zip",),
            config="MC",
            mirrors=("lmms-eval/NExTQA",),
        )

    def expected(self) -> dict[str, int]:
        return dict(TYPES)

    def write_fixture(self, data_dir: Path, faults: bool = False) -> Path:
        from fvlm_eval.tasks.fixtures.nextqa import write_nextqa

        return write_nextqa(Path(data_dir), faults=faults)

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        video_map, map_problems = _video_map(root)
        loaded = load_hub_parquet(
            self,
            root / ANNOTATIONS,
            "test",
            COLUMNS,
            EXPECTED_ROWS,
            ("NExT-QA", "NExT-QA MC parquet"),
            lambda index, row, path, sha: self._question(root, index, row, path, sha, video_map),
        )
        return replace(loaded, problems=tuple(map_problems) + loaded.problems)

    def _question(self, root: Path, index: int, row: dict, path: Path, sha: str, video_map: dict) -> Question:
        where = f"{path.name}[{index}]"
        kind = MERGED.get(str(row["type"]), str(row["type"]))
        fields = (("type", kind), ("group", GROUPS.get(kind[:1], "?")))
        qid = f"{self.name}/{row['video']}_{row['qid']}"
        try:
            video = str(integral(row["video"], "video"))
            qid = f"{self.name}/{video}_{integral(row['qid'], 'qid')}"
            options = lettered([t.strip() for t in texts([row[f"a{i}"] for i in range(5)], "a0..a4")])
            answer = integral(row["answer"], "answer")
            if not 0 <= answer < len(options):
                raise ValueError(f"answer {answer} is out of range for {len(options)} options")
            question = text(row, "question").strip()
            media_path, looked_in = find_video(root, "NExTVideo", video_map.get(video, video), VIDEO_SUFFIXES)
        except (ValueError, MediaError) as problem:
            return unusable(self.name, qid, where, str(problem), fields, path, sha)
        key = f"{self.name}/{video}"
        return Question(
            qid,
            self.name,
            Media("video", key, str(media_path), looked_in=looked_in),
            question,
            options,
            LETTERS[answer],
            key,
            fields=fields,
            source=path.name,
            source_sha256=sha,
        )


def _video_map(root: Path) -> tuple[dict[str, str], list[dict]]:
    """The official release's ``map_vid_vidorID.json`` (video id -> ``"<dir>/<id>"``), when it is there; a
    file that cannot be read is a problem (no question is lost: the flat layout is looked in instead). A path
    in it that leaves the folder is refused for the questions of that video."""
    path = root / VIDEO_MAP
    if not path.is_file():
        return {}, []
    try:
        mapping = json.loads(path.read_bytes().decode("utf-8-sig"))
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise ValueError("expected an object of video id -> '<folder>/<video id>'")
    except (ValueError, UnicodeDecodeError, OSError) as error:
        return {}, [{"file": str(path), "error": f"{type(error).__name__}: {error}", "expected": 0}]
    return {str(k): v for k, v in mapping.items()}, []
