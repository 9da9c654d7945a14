"""Shared by the benchmark tests: rewriting a fixture's annotation rows, and reading back which frames a
benchmark's frame rule sampled (the fixture videos show their frame numbers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def rewrite_parquet(path: Path, change) -> None:
    """``path`` rewritten with ``change(rows)`` (a list of dicts, edited in place or returned); the column
    types are inferred again, so a column may change type as a whole (e.g. an index written as ints)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    rows = change(rows) or rows
    pq.write_table(pa.Table.from_pylist(rows), path)


def set_row(path: Path, index: int, **values) -> None:
    """Row ``index`` of the parquet at ``path`` with ``values`` in place of its own."""

    def change(rows):
        rows[index].update(values)

    rewrite_parquet(path, change)


def sampled_numbers(question, sampling) -> list[int]:
    """The frame numbers the frames sampled from ``question``'s video show (read from the pixels)."""
    from fvlm_eval.media.decode import decode
    from fvlm_eval.tasks.fixtures.media import read_frame_number

    decoded = decode(question.media, sampling)
    return [read_frame_number(decoded.frames[i]) for i in decoded.frame_map]


def uniform(n_frames: int, count: int = 32) -> list[int]:
    """lmms-eval's default video sampling: ``np.linspace(0, n - 1, count, dtype=int)``."""
    return np.linspace(0, n_frames - 1, count, dtype=int).tolist()
