"""Reading a benchmark's annotation rows: a parquet as row dicts (or the problem that stops it), the checks a
row's values go through, a row that cannot be used as a recorded question, a video found under its suffixes.

Every check raises ``ValueError`` with what is wrong; the adapter adds the file and row (``file.parquet[7]``).
"""

from __future__ import annotations

import json
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


def load_one_parquet(
    benchmark: Benchmark,
    path: Path,
    columns: tuple[str, ...],
    expected: int,
    labels: tuple[str, str],
    question: Callable[[int, dict, Path, str], Question],
) -> Loaded:
    """A benchmark whose annotations are one parquet: missing, ``DataMissing`` naming it (``labels[0]``:
    what its annotations are called); not that parquet (``labels[1]``), a load problem; else each row as
    ``question(index, row, path, sha256)``, ids made unique, a row count other than ``expected`` noted."""
    if not path.is_file():
        raise DataMissing(f"{labels[0]} annotations not found: expected {path}")
    rows, problem = read_parquet(path, columns, expected, labels[1])
    if problem:
        return Loaded((), (), (problem,))
    sha = fingerprint(path)
    questions, duplicates = unique_ids([question(index, row, path, sha) for index, row in enumerate(rows)])
    return Loaded(tuple(questions), count_note(len(rows), expected, "rows") + tuple(duplicates))


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
