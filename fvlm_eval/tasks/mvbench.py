"""MVBench (OpenGVLab/MVBench, MIT licence): 20 video tasks x 200 multiple-choice questions.

Annotations ``json/<task>.json`` (list of rows: ``video``, ``question``, ``candidates`` 2-5,
``answer`` equal to one candidate, and ``start``/``end`` seconds on bounded tasks of the main
branch). Media extracted under ``video/`` (``star/Charades_v1_480/...``; clips missing from the
main zips are in ``data0613/``). Two layouts are read alike: main branch (raw clips, bound in
the row) and the ``video`` revision (pre-cut ``<stem>_<start>_<end>.mp4`` under its own folder
names: ``star/Charades_segment``, ``sta/sta_video_segment``, ``tvqa/video_fps3_hq_segment`` (mp4,
not frame folders), ``ssv2_video_mp4``, ``nturgbd_convert``; no bound in the row). A row whose
answer equals two candidates takes the last, as the official code does, with a note. A question is keyed
``<task>/<row>``; a row repeated exactly in its file is one question, counted once under its first row's id,
with a note naming both rows. A file holding no rows is a problem (its 200 questions count as failed).
``fine_grained_pose`` (NTU) was removed from the hub: coverage reports it absent.
Frames: the official rule, midpoints of 16 equal segments of the (bounded) clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.media import MediaError, present, safe_join
from fvlm_eval.tasks.base import (
    Benchmark,
    DataMissing,
    HubSource,
    Loaded,
    fingerprint,
    lettered,
    unique_ids,
)
from fvlm_eval.tasks.rows import read_json_rows
from fvlm_eval.types import Media, Question, Sampling

# task -> (folder on the main branch, folder of the pre-cut ``video`` revision)
FOLDERS = {
    "action_sequence": ("star/Charades_v1_480", "star/Charades_segment"),
    "action_prediction": ("star/Charades_v1_480", "star/Charades_segment"),
    "object_interaction": ("star/Charades_v1_480", "star/Charades_segment"),
    "action_localization": ("sta/sta_video", "sta/sta_video_segment"),
    "episodic_reasoning": ("tvqa/frames_fps3_hq", "tvqa/video_fps3_hq_segment"),
    "action_antonym": ("ssv2_video", "ssv2_video_mp4"),
    "fine_grained_action": ("Moments_in_Time_Raw/videos", "Moments_in_Time_Raw/videos"),
    "unexpected_action": ("FunQA_test/test", "FunQA_test/test"),
    "object_existence": ("clevrer/video_validation", "clevrer/video_validation"),
    "moving_direction": ("clevrer/video_validation", "clevrer/video_validation"),
    "moving_count": ("clevrer/video_validation", "clevrer/video_validation"),
    "moving_attribute": ("clevrer/video_validation", "clevrer/video_validation"),
    "counterfactual_inference": ("clevrer/video_validation", "clevrer/video_validation"),
    "object_shuffle": ("perception/videos", "perception/videos"),
    "action_count": ("perception/videos", "perception/videos"),
    "state_change": ("perception/videos", "perception/videos"),
    "character_order": ("perception/videos", "perception/videos"),
    "scene_transition": ("scene_qa/video", "scene_qa/video"),
    "fine_grained_pose": ("nturgbd", "nturgbd_convert"),
    "egocentric_navigation": ("vlnqa", "vlnqa"),
}
QUESTIONS_PER_TASK = 200
FRAME_FOLDER_FPS = 3.0
EXTRA_FOLDER = "data0613"


@dataclass
class MVBench(Benchmark):
    name: str = "mvbench"
    title: str = "MVBench"
    version: str = "2"
    sampling: Sampling = field(default_factory=lambda: Sampling("segment_midpoints", 16))
    breakdowns: tuple[str, ...] = ("task",)
    category_field: str = "task"
    main_breakdown: str = "task"

    def hub(self) -> HubSource:
        return HubSource("OpenGVLab/MVBench", "main", ("json/*", "video/*"), ("video/*.zip",))

    def expected(self) -> dict[str, int]:
        return {task: QUESTIONS_PER_TASK for task in FOLDERS}

    def write_fixture(self, data_dir: Path, faults: bool = False) -> Path:
        from fvlm_eval.tasks.fixtures.mvbench import write_mvbench

        return write_mvbench(Path(data_dir), "main", faults)

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        annotations = root / "json"
        if not annotations.is_dir():
            raise DataMissing(f"MVBench annotations not found: expected {annotations}/<task>.json")
        questions, notes, problems, places = [], [], [], []
        for task in FOLDERS:
            path = annotations / f"{task}.json"
            if not path.is_file():
                notes.append(f"{task}: {path.name} absent")
                continue
            rows, problem = read_json_rows(path, QUESTIONS_PER_TASK)
            if problem:
                problems.append(problem)
                continue
            sha = fingerprint(path)
            questions.extend(self._question(root, task, index, row, path, sha) for index, row in enumerate(rows))
            places.extend((str(path), index, row) for index, row in enumerate(rows))
        questions, duplicates = unique_ids(questions, places)
        return Loaded(tuple(questions), tuple(notes + duplicates), tuple(problems))

    def _question(self, root: Path, task: str, index: int, row: object, path: Path, sha: str) -> Question:
        qid = f"mvbench/{task}/{index}"
        fields = (("task", task),)
        where = f"{path.name}[{index}]"
        try:
            video, question, options, gold, bound, row_notes = _parse_row(row)
        except ValueError as error:
            bad = Media("video", f"{qid}:unparsed")
            return Question(
                qid,
                self.name,
                bad,
                "",
                (),
                None,
                qid,
                fields=fields,
                error=f"malformed row {where}: {error}",
                source=path.name,
                source_sha256=sha,
            )
        main, precut = FOLDERS[task]
        key = f"mvbench/{main}/{video}" + (f"@{bound[0]:g}-{bound[1]:g}" if bound else "")
        error = None
        try:
            media_path, looked_in = _find_media(root / "video", (main, precut), video)
            kind = (
                "frame_folder"
                if present(media_path, "is_dir") or (not present(media_path) and not Path(video).suffix)
                else "video"
            )
            media = Media(kind, key, str(media_path), bound=bound, folder_fps=FRAME_FOLDER_FPS, looked_in=looked_in)
        except MediaError as problem:
            media, error = Media("video", key, None, bound=bound), f"{where}: {problem}"
        return Question(
            qid,
            self.name,
            media,
            question,
            options,
            gold,
            key.split("@")[0],
            fields=fields,
            error=error,
            source=path.name,
            source_sha256=sha,
            notes=tuple(f"{where}: {n}" for n in row_notes),
        )


def _parse_row(row: object):
    if not isinstance(row, dict):
        raise ValueError("row is not an object")
    missing = [k for k in ("video", "question", "candidates", "answer") if k not in row]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    candidates = row["candidates"]
    if not isinstance(candidates, list) or not 2 <= len(candidates) <= 5:
        raise ValueError("candidates must be a list of 2 to 5 strings")
    if not isinstance(row["video"], str) or not row["video"]:
        raise ValueError("video must be a non-empty string")
    if not isinstance(row["question"], str):
        raise ValueError(f"question must be a string, not {type(row['question']).__name__}")
    for i, candidate in enumerate([*candidates, row["answer"]]):  # a number is read as its text, as the official
        if candidate is None or isinstance(candidate, (dict, list)) or not str(candidate).strip():  # code compares
            what = "answer" if i == len(candidates) else f"candidates[{i}]"
            raise ValueError(f"{what} must be a non-empty string, not {candidate!r}")
    options = lettered([str(c) for c in candidates])
    matches = [o.letter for o in options if o.text == str(row["answer"])]
    if not matches:
        raise ValueError(f"answer {row['answer']!r} matches no candidate")
    notes = []
    if len(matches) > 1:  # the official code keeps the last candidate equal to the answer
        notes.append(
            f"answer {row['answer']!r} equals candidates {', '.join(matches)}: gold is the last, "
            f"{matches[-1]}, as the official MVBench code takes it"
        )
    bound = None
    if "start" in row and "end" in row:
        try:
            bound = (float(row["start"]), float(row["end"]))
        except (TypeError, ValueError):
            raise ValueError(f"start/end not numbers: {row['start']!r}, {row['end']!r}") from None
        if not (bound[0] == bound[0] and bound[1] == bound[1]) or bound[1] < bound[0]:
            raise ValueError(f"bound start {row['start']!r} is after end {row['end']!r}")
    return row["video"], row["question"], options, matches[-1], bound, notes


def _find_media(video_root: Path, folders: tuple[str, str], video: str) -> tuple[Path, tuple[str, ...]]:
    """The media's path in its task folder (main-branch or pre-cut name), or in the ``data0613``
    extras; never outside ``video/``. When it is nowhere, the first place (decoding says it is
    missing, unless the frame cache holds it)."""
    safe_join(video_root, video)  # the annotation's own path must not leave the folder (absolute, or by "..")
    places = list(dict.fromkeys([*folders, *(f"{EXTRA_FOLDER}/{f}" for f in folders), EXTRA_FOLDER]))
    candidates = [safe_join(video_root, f"{place}/{video}") for place in places]
    for candidate in candidates:
        if present(candidate):
            return candidate, ()
    return candidates[0], tuple(f"video/{place}/" for place in places)
