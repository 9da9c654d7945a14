"""ScienceQA, image subset of the test split (2017 questions; CC BY-NC-SA 4.0).

Two layouts: the hub's ``lmms-lab/ScienceQA`` config ``ScienceQA-IMG``
(``ScienceQA-IMG/test-00000-of-00001.parquet``: the hub's shard set of the split, any other ``test-*.parquet``
left out and named, ``rows.hub_shards``; with ``image`` bytes, ``question``, ``choices``, ``answer`` index,
``hint``, ``subject``, ``grade``, ``topic``...; ids are the row numbers there, counted on across shards), or the
original release (``problems.json`` keyed by problem id, ``pid_splits.json``, images ``test/<pid>/image.png``;
ids are the problem ids).
Each question's image is one frame; how a model shows it is the model's choice (fVLM: 8 copies,
encoded once; SmolVLM2: its own tiling).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from fvlm_eval.media import MediaError, safe_join
from fvlm_eval.tasks.base import (
    Benchmark,
    DataMissing,
    HubSource,
    Loaded,
    fingerprint,
    integral,
    lettered,
    option_lines,
    unique_ids,
)
from fvlm_eval.tasks.rows import Shards, hub_shards, no_rows
from fvlm_eval.types import LETTERS, Media, Question, Sampling

ANNOTATIONS = "ScienceQA-IMG"  # the config's folder: test-00000-of-00001.parquet
SUBJECTS = {"natural science": 1209, "social science": 764, "language science": 44}
EXPECTED_ROWS = 2017


@dataclass
class ScienceQA(Benchmark):
    name: str = "scienceqa"
    title: str = "ScienceQA (IMG test)"
    version: str = "2"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 1))
    breakdowns: tuple[str, ...] = ("subject", "grade", "topic")
    category_field: str = "subject"
    main_breakdown: str = "subject"
    uses_images: bool = True

    def hub(self) -> HubSource:
        return HubSource("lmms-lab/ScienceQA", "main", ("ScienceQA-IMG/test-*",))

    def expected(self) -> dict[str, int]:
        return dict(SUBJECTS)

    def prompt(self, question: Question, timestamps=None) -> str:
        context = f"Context: {question.context}\n" if question.context else ""
        return context + question.question + "\n" + option_lines(question)

    def cloze_prompt(self, question: Question, timestamps=None) -> str:
        context = f"Context: {question.context}\n" if question.context else ""
        return context + f"Question: {question.question}"

    def write_fixture(self, data_dir: Path, faults: bool = False) -> Path:
        from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa

        return write_scienceqa(Path(data_dir), "parquet", faults)

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        shards = hub_shards(root / ANNOTATIONS, "test")
        if shards.paths or shards.sets:
            return self._load_parquet(shards)
        if (root / "problems.json").is_file():
            loaded = self._load_original(root)
            return replace(loaded, notes=loaded.notes + shards.notes())
        raise DataMissing(shards.not_found("ScienceQA") + f"; or the original release's {root}/problems.json")

    def _load_parquet(self, shards: Shards) -> Loaded:
        import pandas as pd

        questions, problems, offset = [], [], 0
        expected = EXPECTED_ROWS if len(shards.paths) == 1 else 0  # one file: all of them; else unknown
        for path in shards.paths:
            try:
                frame = pd.read_parquet(path)
            except Exception as error:  # pyarrow raises several types for a file that is not parquet
                problems.append({"file": str(path), "error": f"{type(error).__name__}: {error}", "expected": expected})
                continue
            if len(frame) == 0:
                problems.append(no_rows(path, expected))
                continue
            sha = fingerprint(path)
            for index, row in enumerate(frame.to_dict("records")):
                image = row.get("image")
                data = image.get("bytes") if isinstance(image, dict) else image
                media = Media(
                    "image", f"scienceqa/row{offset + index}", None, data=data if isinstance(data, bytes) else None
                )
                where = f"{path.name}[{index}]"
                question = self._question(
                    str(offset + index), row, media, where, None if media.data else "the row has no image"
                )
                questions.append(replace(question, source=path.name, source_sha256=sha))
            offset += len(frame)
        problems += shards.problems(EXPECTED_ROWS, offset)
        if problems and not questions and not any(p["expected"] for p in problems):
            problems[0]["expected"] = EXPECTED_ROWS
        questions, duplicates = unique_ids(questions)
        notes = _count_note(len(questions)) + shards.notes() + tuple(duplicates)
        return Loaded(tuple(questions), notes, tuple(problems))

    def _load_original(self, root: Path) -> Loaded:
        try:
            problems_file = json.loads((root / "problems.json").read_bytes().decode("utf-8-sig"))
            if not isinstance(problems_file, dict):
                raise ValueError(f"expected an object keyed by problem id, found {type(problems_file).__name__}")
            splits_path = root / "pid_splits.json"
            test_ids = (
                json.loads(splits_path.read_bytes().decode("utf-8-sig"))["test"]
                if splits_path.is_file()
                else [pid for pid, p in problems_file.items() if isinstance(p, dict) and p.get("split") == "test"]
            )
            if not isinstance(test_ids, list):
                raise ValueError(f"pid_splits.json: 'test' must be a list of problem ids, not {test_ids!r}"[:200])
            if not problems_file or not test_ids:
                listed = "pid_splits.json lists no 'test' problem" if splits_path.is_file() else "no problem is 'test'"
                empty = "problems.json holds no problems" if not problems_file else listed
                raise ValueError(f"{empty} (expected {EXPECTED_ROWS} test questions with an image)")
        except (ValueError, UnicodeDecodeError, OSError, KeyError, TypeError) as error:
            return Loaded(
                (),
                (),
                (
                    {
                        "file": str(root / "problems.json"),
                        "error": f"{type(error).__name__}: {error}",
                        "expected": EXPECTED_ROWS,
                    },
                ),
            )
        sha = fingerprint(root / "problems.json")
        questions = []
        for pid in dict.fromkeys(map(str, test_ids)):  # a pid listed twice is one problem
            problem = problems_file.get(pid)
            if not isinstance(problem, dict):
                bad = Media("image", f"scienceqa/{pid}", None)
                why = "absent from problems.json" if pid not in problems_file else f"is {_json(problem)}, not an object"
                questions.append(
                    Question(
                        f"scienceqa/{pid}",
                        self.name,
                        bad,
                        "",
                        (),
                        None,
                        f"scienceqa/{pid}",
                        error=f"problems.json[{pid}]: test problem {why}",
                        source="problems.json",
                        source_sha256=sha,
                    )
                )
                continue
            if not problem.get("image"):
                continue  # the image subset: test problems that have an image
            error = None
            try:
                path = safe_join(root, f"test/{pid}/{problem['image']}")
                if not path.is_file() and safe_join(root, f"images/test/{pid}/{problem['image']}").is_file():
                    path = safe_join(root, f"images/test/{pid}/{problem['image']}")
                media = Media("image", f"scienceqa/{pid}", str(path))
            except MediaError as problem_error:
                media, error = Media("image", f"scienceqa/{pid}", None), f"problems.json[{pid}]: {problem_error}"
            question = self._question(str(pid), problem, media, f"problems.json[{pid}]", error)
            questions.append(replace(question, source="problems.json", source_sha256=sha))
        questions, duplicates = unique_ids(questions)
        return Loaded(tuple(questions), _count_note(len(questions)) + tuple(duplicates))

    def _question(self, pid: str, row: dict, media: Media, where: str, error: str | None) -> Question:
        qid = f"scienceqa/{pid}"
        fields = tuple((name, str(row.get(name, ""))) for name in self.breakdowns)
        choices = row.get("choices")
        try:
            if isinstance(choices, (str, bytes, dict)) or not hasattr(choices, "__len__"):
                raise ValueError(f"choices must be a list, not {choices!r}"[:200])
            options = lettered([str(c) for c in list(choices)])
            answer = integral(row["answer"], "answer")
            if not 0 <= answer < len(options) or len(options) < 2:
                raise ValueError(f"answer {answer} out of range for {len(options)} choices")
            if not isinstance(row.get("question"), str):
                raise ValueError(f"question must be a string, not {row.get('question')!r}")
            gold = LETTERS[answer]
        except (TypeError, ValueError, KeyError) as problem:
            options, gold, error = (), None, f"malformed row {where}: {problem}"
        hint = row.get("hint") or ""
        return Question(
            qid,
            self.name,
            media,
            str(row.get("question", "")),
            options,
            gold,
            qid,
            context=str(hint),
            fields=fields,
            error=error,
        )


def _json(value) -> str:
    """A value read from JSON as JSON writes it (``null``, ``"text"``), cut short."""
    written = json.dumps(value)
    return written if len(written) <= 60 else written[:57] + "..."


def _count_note(count: int) -> tuple[str, ...]:
    return () if count == EXPECTED_ROWS else (f"{count} test questions with an image, expected {EXPECTED_ROWS}",)
