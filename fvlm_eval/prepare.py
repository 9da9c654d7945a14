"""``fvlm-eval prepare`` and ``fvlm-eval tasks``: fetch a benchmark (with network), then verify it.

Verification never needs the network: it loads the annotations, counts questions per category
against a complete copy, and lists media that are missing or unreadable, by name.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.media import MediaError
from fvlm_eval.tasks import DataMissing, Task
from fvlm_eval.tasks.base import coverage_counts
from fvlm_eval.types import Sampling

PREPARED_FILE = ".fvlm-prepared.json"


@dataclass(frozen=True)
class Verification:
    task: str
    questions: int
    expected: int
    categories: dict[str, tuple[int, int, int]]
    problems: tuple[str, ...]  # question-level problems known at load (missing media, malformed rows)
    unreadable: tuple[str, ...]  # media that exist but do not decode
    notes: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.questions == self.expected and not self.problems and not self.unreadable


def fetch(task: Task, data_dir: Path, revision: str | None = None) -> Path:
    """Download the task's files from the hub at its pinned revision and extract its archives."""
    from huggingface_hub import HfApi, snapshot_download

    source = task.hub()
    folder = task.folder(data_dir)
    revision = revision or source.revision
    sha = HfApi().dataset_info(source.repo, revision=revision).sha
    snapshot_download(source.repo, repo_type="dataset", revision=sha, local_dir=str(folder),
                      allow_patterns=list(source.allow_patterns) or None)
    for pattern in source.archives:
        for archive in sorted(folder.glob(pattern)):
            extract(archive, archive.parent)
    (folder / PREPARED_FILE).write_text(json.dumps({"repo": source.repo, "revision": revision, "sha": sha}, indent=2))
    return folder


def extract(archive: Path, destination: Path) -> None:
    """Unzip, refusing any member that would land outside ``destination``."""
    destination = destination.resolve()
    with zipfile.ZipFile(archive) as handle:
        for member in handle.namelist():
            target = (destination / member).resolve()
            if target != destination and destination not in target.parents:
                raise MediaError(f"{archive.name}: member {member!r} would be written outside {destination}")
        handle.extractall(destination)


def verify(task: Task, data_dir: Path, probe: bool = True, workers: int = 2) -> Verification:
    """Coverage of what is on disk; with ``probe``, every present media is decoded (a few frames) once."""
    loaded = task.load(data_dir)
    questions = loaded.questions
    problems = tuple(sorted({f"{q.id}: {q.error}" for q in questions if q.error}))
    unreadable: list[str] = []
    if probe:
        from fvlm_eval.runner import decoded

        media = list({q.media.key: q.media for q in questions if not q.error}.values())
        check = Sampling(task.sampling.policy, 2, task.sampling.fps or 1.0, image_copies=1)
        unreadable = [f"{key}: {clip}" for key, clip in decoded(media, check, workers) if isinstance(clip, str)]
    return Verification(task.name, len(questions), sum(task.expected().values()), coverage_counts(task, questions),
                        problems, tuple(unreadable), loaded.notes)


def status(task: Task, data_dir: Path) -> str:
    """One line: where the data stands (no decoding)."""
    try:
        loaded = task.load(data_dir)
    except DataMissing:
        return "not prepared"
    except Exception as error:
        return f"unreadable: {error}"
    usable = sum(1 for q in loaded.questions if not q.error)
    return f"{usable}/{sum(task.expected().values())} questions usable"

