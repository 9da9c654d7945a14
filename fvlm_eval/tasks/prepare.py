"""``fvlm-eval prepare`` and ``fvlm-eval benchmarks``: fetch a benchmark (with network), then verify it.

Verification never needs the network: it loads the annotations, counts questions per category
against a complete copy, and lists media that are missing or unreadable, by name.
"""

from __future__ import annotations

import json
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval import terminal
from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.media import MediaError
from fvlm_eval.tasks import Benchmark, DataMissing
from fvlm_eval.tasks.base import coverage_counts
from fvlm_eval.types import Sampling

PREPARED_FILE = ".fvlm-prepared.json"


@dataclass(frozen=True)
class Verification:
    benchmark: str
    questions: int
    expected: int
    categories: dict[str, tuple[int, int, int]]
    problems: tuple[str, ...]  # unreadable annotation files, malformed rows, repeated ids
    unreadable: tuple[str, ...]  # media missing, or there but not decodable
    notes: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.questions == self.expected and not self.problems and not self.unreadable


class HubRefused(FvlmEvalError):
    """The hub refused the download of a gated dataset: the line names the page whose conditions to accept."""


def fetch(benchmark: Benchmark, data_dir: Path, revision: str | None = None) -> Path:
    """Download the benchmark's files from the hub at its pinned revision and extract its archives. The
    repository's mirrors are tried, in order, when it is not found; a gated one refused is ``HubRefused``."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    source = benchmark.hub()
    folder = benchmark.folder(data_dir)
    revision = revision or source.revision
    repos = (source.repo, *source.mirrors)
    for repo in repos:
        try:
            sha = HfApi().dataset_info(repo, revision=revision).sha
            snapshot_download(
                repo,
                repo_type="dataset",
                revision=sha,
                local_dir=str(folder),
                allow_patterns=list(source.allow_patterns) or None,
            )
            break
        except GatedRepoError as error:
            raise gated(repo) from error
        except RepositoryNotFoundError:
            if repo == repos[-1]:
                raise
        except HfHubHTTPError as error:
            if getattr(error.response, "status_code", None) in (401, 403):
                raise gated(repo) from error
            raise
    for pattern in source.archives:
        for archive in sorted(folder.glob(pattern)):
            extract(archive, archive.parent)
    (folder / PREPARED_FILE).write_text(json.dumps({"repo": repo, "revision": revision, "sha": sha}, indent=2))
    return folder


def gated(repo: str) -> HubRefused:
    """One line: the form to accept, and what to do then."""
    return HubRefused(
        f"the hub refused {repo}: it is gated; accept its conditions at https://huggingface.co/datasets/{repo} "
        "(logged in), log in here (`huggingface-cli login` or HF_TOKEN), then rerun"
    )


def extract(archive: Path, destination: Path) -> None:
    """Unzip, refusing any member that would land outside ``destination``."""
    destination = destination.resolve()
    with zipfile.ZipFile(archive) as handle:
        for member in handle.namelist():
            target = (destination / member).resolve()
            if target != destination and destination not in target.parents:
                raise MediaError(f"{archive.name}: member {member!r} would be written outside {destination}")
        handle.extractall(destination)


def verify(
    benchmark: Benchmark, data_dir: Path, probe: bool = True, workers: int | None = None, progress: bool = False
) -> Verification:
    """Coverage of what is on disk; with ``probe``, every media is decoded (two frames) once, else
    only checked to exist. ``progress``: a bar over the media while they are probed."""
    loaded = benchmark.load(data_dir)
    questions = loaded.questions
    problems = [f"{p['file']}: cannot be read ({p['error']})" for p in loaded.problems]
    problems += sorted({f"{q.id}: {q.error}" for q in questions if q.error})
    problems += [note for note in loaded.notes if note.startswith("duplicate question id")]
    media = list({q.media.key: q.media for q in questions if not q.error}.values())
    if probe:
        from fvlm_eval.media.workers import decoded

        check = (
            Sampling("uniform", 2)
            if benchmark.sampling.policy != "fps"
            else Sampling("fps", 2, fps=benchmark.sampling.fps)
        )
        unreadable, bad_keys = [], set()
        with _probe_bar(benchmark.name, len(media), progress) as advance:
            for key, clip, _, _ in decoded(media, check, _as_is, workers, None):
                if isinstance(clip, str):
                    unreadable.append(f"{key}: {clip}")
                    bad_keys.add(key)
                advance(unreadable)
    else:
        bad_keys = _missing(media)
        unreadable = [f"{m.key}: missing" for m in media if m.key in bad_keys]
    notes = tuple(n for n in loaded.notes if not n.startswith("duplicate question id"))
    read_with_a_note = [note for q in questions for note in q.notes]  # e.g. an answer equal to two candidates
    if read_with_a_note:
        notes += (
            f"{len(read_with_a_note)} question(s) read with a note (kept in their records), e.g. {read_with_a_note[0]}",
        )
    return Verification(
        benchmark.name,
        len(questions),
        sum(benchmark.expected().values()),
        coverage_counts(benchmark, questions, frozenset(bad_keys)),
        tuple(problems),
        tuple(unreadable),
        notes,
    )


@contextmanager
def _probe_bar(name: str, total: int, show: bool):
    """A progress bar over the probed media (files done, unreadable so far, time left); or nothing."""
    if not show or not total:
        yield lambda unreadable: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(f"probing {name} media"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("unreadable {task.fields[bad]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False, refresh_per_second=2) as bar:
        task = bar.add_task("", total=total, bad=0)
        yield lambda unreadable: bar.update(task, advance=1, bad=len(unreadable))


class _AsIs:
    """No frame transform (the probe only checks that frames come out)."""

    key = "as-is"

    def __call__(self, frames, kind):
        return frames


_as_is = _AsIs()


def status(benchmark: Benchmark, data_dir: Path) -> str:
    """One line: where the data stands (no decoding), and what of the benchmark is scored when not all of it."""
    scope = f"; {benchmark.scope}" if benchmark.scope else ""
    try:
        loaded = benchmark.load(data_dir)
    except DataMissing:
        return "not prepared" + scope
    except Exception as error:
        return f"unreadable: {error}"
    readable = [q for q in loaded.questions if not q.error]
    missing = _missing(list({q.media.key: q.media for q in readable}.values()))
    usable = sum(1 for q in readable if q.media.key not in missing)
    broken = f"; {len(loaded.problems)} annotation file(s) unreadable" if loaded.problems else ""
    absent = f"; {len(missing)} media file(s) missing" if missing else ""
    return f"{usable}/{sum(benchmark.expected().values())} questions usable{broken}{absent}{scope}"


def _missing(media: list) -> set[str]:
    """The keys of the media that are neither held in memory nor a file on disk (no decoding: a stat each)."""
    return {m.key for m in media if m.data is None and (m.path is None or not Path(m.path).exists())}


def print_verification(result: Verification, console=None) -> None:
    """The coverage table of a verified copy (found vs expected per category), its problems and its verdict."""
    from rich.table import Table
    from rich.text import Text

    console = console or terminal.console()
    table = Table(title=f"{result.benchmark}: questions found vs expected")
    for column in ("category", "found", "unusable", "expected"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for category, (found, bad, expected) in result.categories.items():
        style = "red" if found < expected or bad else ""
        table.add_row(Text(category), str(found), str(bad), str(expected), style=style)
    unusable = sum(bad for _, bad, _ in result.categories.values())  # the column's sum, as the rows count
    table.add_row("total", str(result.questions), str(unusable), str(result.expected), style="bold")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    for problem in result.problems:
        console.print(Text.assemble(("problem", "red"), f" {problem}"))
    for item in result.unreadable:
        console.print(Text.assemble(("unreadable", "red"), f" {item}"))
    verdict = "complete" if result.complete else "INCOMPLETE: scores on this copy are not comparable to published ones"
    console.print(f"{result.benchmark}: {verdict}")
