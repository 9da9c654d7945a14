"""MVBench (OpenGVLab/MVBench, MIT licence): 20 video tasks x 200 multiple-choice questions.

Annotations ``json/<task>.json`` (list of rows: ``video``, ``question``, ``candidates`` 2-5,
``answer`` equal to one candidate, and ``start``/``end`` seconds on bounded tasks of the main
branch). Media extracted under ``video/`` (``star/Charades_v1_480/...``; clips missing from the
main zips are in ``data0613/``). Two layouts are read alike: main branch (raw clips, bound in
the row) and the ``video`` revision (pre-cut ``<stem>_<start>_<end>.mp4``, no bound in the row).
``fine_grained_pose`` (NTU) was removed from the hub: coverage reports it absent.
Frames: the official rule, midpoints of 16 equal segments of the (bounded) clip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.media import MediaError, safe_join
from fvlm_eval.tasks.base import DataMissing, HubSource, Loaded, Task, lettered, option_lines
from fvlm_eval.types import Media, Question, Sampling

FOLDERS = {
    "action_sequence": "star/Charades_v1_480",
    "action_prediction": "star/Charades_v1_480",
    "object_interaction": "star/Charades_v1_480",
    "action_localization": "sta/sta_video",
    "episodic_reasoning": "tvqa/frames_fps3_hq",
    "action_antonym": "ssv2_video",
    "fine_grained_action": "Moments_in_Time_Raw/videos",
    "unexpected_action": "FunQA_test/test",
    "object_existence": "clevrer/video_validation",
    "moving_direction": "clevrer/video_validation",
    "moving_count": "clevrer/video_validation",
    "moving_attribute": "clevrer/video_validation",
    "counterfactual_inference": "clevrer/video_validation",
    "object_shuffle": "perception/videos",
    "action_count": "perception/videos",
    "state_change": "perception/videos",
    "character_order": "perception/videos",
    "scene_transition": "scene_qa/video",
    "fine_grained_pose": "nturgbd",
    "egocentric_navigation": "vlnqa",
}
QUESTIONS_PER_TASK = 200
FRAME_FOLDER_FPS = 3.0
EXTRA_FOLDER = "data0613"


@dataclass
class MVBench(Task):
    name: str = "mvbench"
    version: str = "1"
    sampling: Sampling = field(default_factory=lambda: Sampling("segment_midpoints", 16))
    breakdowns: tuple[str, ...] = ("task",)
    category_field: str = "task"

    def hub(self) -> HubSource:
        return HubSource("OpenGVLab/MVBench", "main", ("json/*", "video/*"), ("video/*.zip",))

    def expected(self) -> dict[str, int]:
        return {task: QUESTIONS_PER_TASK for task in FOLDERS}

    def prompt(self, question: Question) -> str:
        return question.question + "\n" + option_lines(question)

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        annotations = root / "json"
        if not annotations.is_dir():
            raise DataMissing(f"MVBench annotations not found: expected {annotations}/<task>.json (run `fvlm-eval prepare mvbench`)")
        questions, notes = [], []
        for task in FOLDERS:
            path = annotations / f"{task}.json"
            if not path.is_file():
                notes.append(f"{task}: {path.name} absent")
                continue
            try:
                rows = json.loads(path.read_text())
                if not isinstance(rows, list):
                    raise ValueError("expected a JSON list of rows")
            except (ValueError, UnicodeDecodeError) as error:
                notes.append(f"{task}: {path} unreadable: {error}")
                continue
            questions.extend(self._question(root, task, index, row, path) for index, row in enumerate(rows))
        return Loaded(tuple(questions), tuple(notes))

    def _question(self, root: Path, task: str, index: int, row: object, path: Path) -> Question:
        qid = f"mvbench/{task}/{index}"
        fields = (("task", task),)
        try:
            video, question, options, gold, bound = _parse_row(row)
        except ValueError as error:
            bad = Media("video", f"{qid}:unparsed")
            return Question(qid, self.name, bad, "", (), None, qid, fields=fields,
                            error=f"malformed row {path.name}[{index}]: {error}")
        relative = f"{FOLDERS[task]}/{video}"
        key = f"mvbench/{relative}" + (f"@{bound[0]:g}-{bound[1]:g}" if bound else "")
        error = None
        try:
            media_path = _find_media(root / "video", FOLDERS[task], video)
            kind = "frame_folder" if media_path.is_dir() else "video"
            media = Media(kind, key, str(media_path), bound=bound, folder_fps=FRAME_FOLDER_FPS)
        except MediaError as problem:
            media, error = Media("video", key, None, bound=bound), str(problem)
        if gold is None:
            error = f"malformed row {path.name}[{index}]: answer {row['answer']!r} matches no candidate or several"
        return Question(qid, self.name, media, question, options, gold, f"mvbench/{relative}", fields=fields, error=error)


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
    options = lettered([str(c) for c in candidates])
    matches = [o.letter for o in options if o.text == str(row["answer"])]
    gold = matches[0] if len(matches) == 1 else None
    bound = None
    if "start" in row and "end" in row:
        try:
            bound = (float(row["start"]), float(row["end"]))
        except (TypeError, ValueError):
            raise ValueError(f"start/end not numbers: {row['start']!r}, {row['end']!r}") from None
    return row["video"], str(row["question"]), options, gold, bound


def _find_media(video_root: Path, folder: str, video: str) -> Path:
    """The media's path in its task folder, or in the ``data0613`` extras; never outside ``video/``."""
    candidates = [safe_join(video_root, f"{folder}/{video}"), safe_join(video_root, f"{EXTRA_FOLDER}/{folder}/{video}"),
                  safe_join(video_root, f"{EXTRA_FOLDER}/{video}")]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise MediaError(f"media {folder}/{video} is missing (looked in video/{folder}/ and video/{EXTRA_FOLDER}/)")
