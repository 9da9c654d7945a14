"""Reading a benchmark's annotation rows: the hub's parquet shards of a split (exactly that set), a parquet as
row dicts (or the problem that stops it), the checks a row's values go through, a row that cannot be used as a
recorded question, a video found under its suffixes.

Every check raises ``ValueError`` with what is wrong; the adapter adds the file and row (``file.parquet[7]``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fvlm_eval.media import present, safe_join
from fvlm_eval.tasks.base import Benchmark, DataMissing, Loaded, fingerprint, unique_ids
from fvlm_eval.types import LETTERS, Media, Question


def no_rows(path: Path, expected: int) -> dict:
    """The problem (``Loaded.problems``' shape) of an annotation file that holds no rows: it is read, but none
    of the questions it should hold is there (they count as failed, as those of an unreadable file)."""
    return {
        "file": str(path),
        "error": "holds no rows" + (f" (expected {expected})" if expected else ""),
        "expected": expected,
    }


def read_json_rows(path: Path, expected: int) -> tuple[list, dict | None]:
    """The rows of a JSON annotation file holding a list of rows, or none and the problem when it is not
    UTF-8 JSON (a byte-order mark is allowed), not a list, or an empty list."""
    try:
        rows = json.loads(path.read_bytes().decode("utf-8-sig"))
        if not isinstance(rows, list):
            raise ValueError(f"expected a JSON list of rows, found {type(rows).__name__}")
    except (ValueError, UnicodeDecodeError, OSError) as error:
        return [], {"file": str(path), "error": f"{type(error).__name__}: {error}", "expected": expected}
    return (rows, None) if rows else ([], no_rows(path, expected))


def read_parquet(path: Path, columns: tuple[str, ...], expected: int, what: str) -> tuple[list[dict], dict | None]:
    """The rows of ``path`` as dicts, or none and the problem (``Loaded.problems``' shape) when the file is
    not a parquet, lacks one of ``columns`` or holds no rows."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several types for a file that is not parquet
        return [], {"file": str(path), "error": f"{type(error).__name__}: {error}", "expected": expected}
    absent = [c for c in columns if c not in table.column_names]
    if absent:
        return [], {
            "file": str(path),
            "error": f"lacks the columns {', '.join(absent)}: not the {what}",
            "expected": expected,
        }
    if table.num_rows == 0:
        return [], no_rows(path, expected)
    return table.to_pylist(), None  # plain Python values: None for a null, lists for list columns


@dataclass(frozen=True)
class Shards:
    """The annotation files of one split as the hub names its shards, ``test-00000-of-00002.parquet``,
    ``test-00001-of-00002.parquet`` (an older upload adds ``-<16 hex digits>``): exactly one such set is read.
    Any other ``<split>-*.parquet`` beside it (a browser's ``... (1).parquet``, a ``.old.parquet`` kept by hand)
    is not: read too, it added every question a second time."""

    folder: Path
    split: str
    paths: tuple[Path, ...] = ()  # the shard set read, in shard order
    missing: tuple[str, ...] = ()  # the names of that set's shards that are not there
    sets: tuple[tuple[str, ...], ...] = ()  # several shard sets (none is read): each one's file names
    strays: tuple[str, ...] = ()  # the other ``<split>-*.parquet`` files there, not read

    @property
    def usual(self) -> Path:
        """Where a split held in one file is (what a missing copy is told to hold)."""
        return self.folder / f"{self.split}-00000-of-00001.parquet"

    def not_found(self, what: str) -> str:
        """``DataMissing``'s message when no shard is there: where it was looked for, and the strays."""
        return f"{what} not found: expected {self.usual}" + "".join(f"; {note}" for note in self.notes())

    def notes(self) -> tuple[str, ...]:
        """A note naming the files that are there but not read."""
        if not self.strays:
            return ()
        read = ", ".join(path.name for path in self.paths) or "none"
        return (
            f"not read: {', '.join(repr(name) for name in self.strays)} in {self.folder}: not one of the hub's "
            f"shard files of the {self.split} split ({self.split}-NNNNN-of-NNNNN.parquet; read: {read}). A copy, or "
            "another revision's file? Read too, its questions would count twice: move it away",
        )

    def problems(self, expected: int, found: int) -> list[dict]:
        """``Loaded.problems`` of a set that cannot be read whole: several sets (none is read: the ``expected``
        questions count as failed), or shards missing (the questions the copy lacks, ``expected - found``)."""
        if self.sets:
            listed = " | ".join(", ".join(names) for names in self.sets)
            return [
                {
                    "file": str(self.folder),
                    "error": f"{len(self.sets)} sets of {self.split} shards ({listed}): another revision's files "
                    "beside this one's? None is read: keep one set",
                    "expected": expected,
                }
            ]
        if self.missing:
            total = len(self.paths) + len(self.missing)
            return [
                {
                    "file": str(self.folder / self.missing[0]),
                    "error": f"missing: the {self.split} split is {total} files, {len(self.missing)} of them absent "
                    f"({', '.join(self.missing)}): a download cut short?",
                    "expected": max(expected - found, 0),
                }
            ]
        return []


def hub_shards(folder: Path, split: str) -> Shards:
    """The hub's shard set of ``split`` in ``folder`` (see ``Shards``): the one whose shards are all there, or
    else the only one there; the other ``<split>-*.parquet`` files are strays."""
    named = re.compile(re.escape(split) + r"-(\d{5})-of-(\d{5})(-[0-9a-f]{16})?\.parquet")
    sets: dict[tuple[int, str], dict[int, Path]] = {}
    strays = []
    for path in sorted(folder.glob(f"{split}-*.parquet")):
        match = named.fullmatch(path.name)
        if match and int(match.group(1)) < int(match.group(2)):
            sets.setdefault((int(match.group(2)), match.group(3) or ""), {})[int(match.group(1))] = path
        else:
            strays.append(path.name)
    whole = [key for key, shards in sets.items() if len(shards) == key[0]]
    chosen = whole if len(whole) == 1 else list(sets) if len(sets) == 1 else []
    if not chosen:
        groups = tuple(tuple(path.name for _, path in sorted(shards.items())) for shards in sets.values())
        return Shards(folder, split, sets=groups, strays=tuple(strays))
    (total, tag), shards = chosen[0], sets[chosen[0]]
    strays += [path.name for key, others in sets.items() if key != chosen[0] for path in others.values()]
    missing = tuple(f"{split}-{i:05d}-of-{total:05d}{tag}.parquet" for i in range(total) if i not in shards)
    return Shards(folder, split, tuple(shards[i] for i in sorted(shards)), missing, (), tuple(sorted(strays)))


def load_hub_parquet(
    benchmark: Benchmark,
    folder: Path,
    split: str,
    columns: tuple[str, ...],
    expected: int,
    labels: tuple[str, str],
    question: Callable[[int, dict, Path, str], Question],
) -> Loaded:
    """A benchmark whose annotations are the hub's parquet shards of ``split`` in ``folder`` (``hub_shards``):
    none there, ``DataMissing`` naming where (``labels[0]``: what its annotations are called); a shard that is
    not that parquet (``labels[1]``), missing, or two shard sets, a load problem; else each row as
    ``question(index, row, path, sha256)``, ids made unique, a row count other than ``expected`` noted."""
    shards = hub_shards(folder, split)
    if not shards.paths and not shards.sets:
        raise DataMissing(shards.not_found(f"{labels[0]} annotations"))
    questions, problems, found = [], [], 0
    for path in shards.paths:
        rows, problem = read_parquet(path, columns, expected if len(shards.paths) == 1 else 0, labels[1])
        if problem:
            problems.append(problem)
            continue
        sha = fingerprint(path)
        questions += [question(index, row, path, sha) for index, row in enumerate(rows)]
        found += len(rows)
    problems += shards.problems(expected, found)
    if problems and not questions and not any(p["expected"] for p in problems):
        problems[0]["expected"] = expected  # nothing read: every question of the split counts as failed
    unique, duplicates = unique_ids(questions)
    notes = count_note(found, expected, "rows") if not problems else ()
    return Loaded(tuple(unique), notes + shards.notes() + tuple(duplicates), tuple(problems))


def count_note(found: int, expected: int, what: str) -> tuple[str, ...]:
    """A note when a file holds another number of rows than a complete copy (an older revision, a cut copy)."""
    return () if found == expected else (f"{found} {what}, expected {expected}: another revision, or a partial copy?",)


def text(row: dict, key: str) -> str:
    """``row[key]``, a non-empty string."""
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty string, not {value!r}")
    return value


def texts(value, key: str, least: int = 2) -> list[str]:
    """A list of option texts: strings, none empty, ``least`` to 10."""
    if value is None or isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise ValueError(f"{key} must be a list of strings, not {value!r}"[:200])
    items = list(value)
    if not least <= len(items) <= len(LETTERS):
        raise ValueError(f"{key} holds {len(items)} options: {least} to {len(LETTERS)} are supported")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{key}[{i}] must be a non-empty string, not {item!r}")
    return items


def unusable(benchmark: str, qid: str, where: str, problem: str, fields, source: Path, sha: str) -> Question:
    """The recorded failure of a row that cannot be asked: ``malformed row <file>[<row>]: <problem>``."""
    return Question(
        qid,
        benchmark,
        Media("video", f"{qid}:unparsed"),
        "",
        (),
        None,
        qid,
        fields=tuple(fields),
        error=f"malformed row {where}: {problem}",
        source=source.name,
        source_sha256=sha,
    )


def find_video(folder: Path, subfolder: str, name: str, suffixes: tuple[str, ...]) -> tuple[Path, tuple[str, ...]]:
    """``folder/subfolder/<name><suffix>`` with the first suffix that exists; a name that leaves ``subfolder``
    (absolute, or by "..") is refused. When none exists, the first (decoding says it is missing, unless the
    frame cache holds it) and the places looked in, relative to ``folder`` (the benchmark's folder)."""
    videos = folder / subfolder if subfolder else folder
    candidates = [safe_join(videos, f"{name}{suffix}") for suffix in suffixes]
    found = next((c for c in candidates if present(c, "is_file")), None)
    if found is not None:
        return found, ()
    return candidates[0], tuple(str(c.relative_to(folder)) for c in candidates)
