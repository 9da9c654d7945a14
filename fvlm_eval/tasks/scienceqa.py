"""ScienceQA, image subset of the test split (2017 questions; CC BY-NC-SA 4.0).

Two layouts: the hub's ``lmms-lab/ScienceQA`` config ``ScienceQA-IMG`` (``ScienceQA-IMG/test-*.parquet``
with ``image`` bytes, ``question``, ``choices``, ``answer`` index, ``hint``, ``subject``, ``grade``,
``topic``...; ids are the row numbers there), or the original release (``problems.json`` keyed by
problem id, ``pid_splits.json``, images ``test/<pid>/image.png``; ids are the problem ids).
An image goes to fVLM as 8 copies of one frame (encoded once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fvlm_eval.media import MediaError, safe_join
from fvlm_eval.tasks.base import DataMissing, HubSource, Loaded, Task, lettered, option_lines
from fvlm_eval.types import LETTERS, Media, Question, Sampling

PARQUET_GLOB = "ScienceQA-IMG/test-*.parquet"
SUBJECTS = {"natural science": 1209, "social science": 764, "language science": 44}
EXPECTED_ROWS = 2017


@dataclass
class ScienceQA(Task):
    name: str = "scienceqa"
    version: str = "1"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 8, image_copies=8))
    breakdowns: tuple[str, ...] = ("subject", "grade", "topic")
    category_field: str = "subject"
    uses_images: bool = True

    def hub(self) -> HubSource:
        return HubSource("lmms-lab/ScienceQA", "main", ("ScienceQA-IMG/test-*",))

    def expected(self) -> dict[str, int]:
        return dict(SUBJECTS)

    def prompt(self, question: Question) -> str:
        context = f"Context: {question.context}\n" if question.context else ""
        return context + question.question + "\n" + option_lines(question)

    def load(self, data_dir: Path) -> Loaded:
        root = self.folder(data_dir)
        parquets = sorted(root.glob(PARQUET_GLOB))
        if parquets:
            return self._load_parquet(parquets)
        if (root / "problems.json").is_file():
            return self._load_original(root)
        raise DataMissing(f"ScienceQA not found: expected {root}/{PARQUET_GLOB} or {root}/problems.json "
                          "(run `fvlm-eval prepare scienceqa`)")

    def _load_parquet(self, paths: list[Path]) -> Loaded:
        import pandas as pd

        frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
        questions = []
        for index, row in enumerate(frame.to_dict("records")):
            image = row.get("image")
            data = image.get("bytes") if isinstance(image, dict) else image
            media = Media("image", f"scienceqa/row{index}", None, data=data if isinstance(data, bytes) else None)
            where = f"{paths[0].name}[{index}]"
            questions.append(self._question(str(index), row, media, where, None if media.data else "the row has no image"))
        return Loaded(tuple(questions), _count_note(len(questions)))

    def _load_original(self, root: Path) -> Loaded:
        problems = json.loads((root / "problems.json").read_text())
        splits_path = root / "pid_splits.json"
        test_ids = json.loads(splits_path.read_text())["test"] if splits_path.is_file() else \
            [pid for pid, p in problems.items() if p.get("split") == "test"]
        questions = []
        for pid in test_ids:
            problem = problems.get(str(pid))
            if not isinstance(problem, dict) or not problem.get("image"):
                continue  # the image subset: test problems that have an image
            error = None
            try:
                path = safe_join(root, f"test/{pid}/{problem['image']}")
                if not path.is_file():
                    path = safe_join(root, f"images/test/{pid}/{problem['image']}")
                if not path.is_file():
                    raise MediaError(f"image test/{pid}/{problem['image']} is missing")
                media = Media("image", f"scienceqa/{pid}", str(path))
            except MediaError as problem_error:
                media, error = Media("image", f"scienceqa/{pid}", None), str(problem_error)
            questions.append(self._question(str(pid), problem, media, f"problems.json[{pid}]", error))
        return Loaded(tuple(questions), _count_note(len(questions)))

    def _question(self, pid: str, row: dict, media: Media, where: str, error: str | None) -> Question:
        qid = f"scienceqa/{pid}"
        fields = tuple((name, str(row.get(name, ""))) for name in self.breakdowns)
        choices = row.get("choices")
        try:
            options = lettered([str(c) for c in list(choices)])
            answer = int(row["answer"])
            if not 0 <= answer < len(options) or len(options) < 2:
                raise ValueError(f"answer {answer} out of range for {len(options)} choices")
            gold = LETTERS[answer]
        except (TypeError, ValueError, KeyError) as problem:
            options, gold, error = (), None, f"malformed row {where}: {problem}"
        hint = row.get("hint") or ""
        return Question(qid, self.name, media, str(row.get("question", "")), options, gold, qid,
                        context=str(hint), fields=fields, error=error)


def _count_note(count: int) -> tuple[str, ...]:
    return () if count == EXPECTED_ROWS else (f"{count} test questions with an image, expected {EXPECTED_ROWS}",)
