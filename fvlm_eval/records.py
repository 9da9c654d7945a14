"""The per-sample JSONL log: the record of a run. Resume, summaries and reports read it.

Appends are whole lines in one ``write`` followed by ``fsync``; a run killed mid-append leaves
at most one partial last line, which ``read_records`` cuts off (that question was not recorded,
so it is scored again). A complete line that does not parse is an error, never skipped.
Other files are written atomically (temporary file, then rename). Write errors propagate.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class RecordError(ValueError):
    """A record file that cannot be trusted, with the file and line."""


def read_records(path: Path, repair: bool = False) -> list[dict]:
    """Every complete record in ``path`` in order (``repair``: cut a partial last line off the file)."""
    path = Path(path)
    if not path.is_file():
        return []
    data = path.read_bytes()
    complete_end = data.rfind(b"\n") + 1
    if complete_end < len(data) and repair:
        with open(path, "r+b") as handle:
            handle.truncate(complete_end)
            handle.flush()
            os.fsync(handle.fileno())
    records = []
    for number, line in enumerate(data[:complete_end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise RecordError(f"{path}:{number}: not a JSON record ({error})") from error
        if not isinstance(record, dict) or "id" not in record:
            raise RecordError(f"{path}:{number}: a record must be an object with an 'id'")
        records.append(record)
    return records


def latest_by_id(records: list[dict]) -> dict[str, dict]:
    """One record per id; a later record of the same id (a retried failure) replaces the earlier."""
    return {record["id"]: record for record in records}


def append_records(path: Path, records: list[dict]) -> None:
    """Append whole lines in one write and fsync; raises on any failure."""
    if not records:
        return
    payload = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, payload)
        if written != len(payload):
            raise OSError(f"short write to {path}: {written} of {len(payload)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, value) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json(path: Path):
    return json.loads(Path(path).read_text())
