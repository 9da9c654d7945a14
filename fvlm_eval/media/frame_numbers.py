"""A frame folder's frames placed in time by their numbers (``00001.jpg`` is frame 1), and its gaps in words.

A frame is indexed by the number in its name, never by its place in the listing: with files 00010 to
00019 gone, frame 20 is still at 19/fps s, and the missing numbers are said. The number is the last run
of digits in the stem wherever it stands (``00001``, ``frame_0001``, ``img12``, ``1_frame``: only
digits that ended the stem were once read, and ``1_frame.jpg`` .. ``60_frame.jpg`` were taken in listing
order, 1, 10, 11, .., 2, scrambled), or the one run that differs between names where the last is the
same in all (``0001_480p``). Frames that cannot be placed in time honestly (numbered and unnumbered
files mixed, two files with one number) are a ``MediaError``; a folder whose names hold no digits at
all keeps its listing's order.
"""

from __future__ import annotations

import re
from pathlib import Path

from fvlm_eval.media import MediaError, shown

_DIGITS = re.compile(r"\d+")


def _placed_numbers(files: list[Path]) -> list[int | None]:
    """Each file's frame number: the last run of digits in its stem; where that is one number in every name
    (a resolution, a version: ``0001_480p``) and the names hold their runs alike, the one run that differs.
    None for a name without digits."""
    runs = [_DIGITS.findall(path.stem) for path in files]
    numbers = [int(found[-1]) if found else None for found in runs]
    counts = {len(found) for found in runs}
    if len(files) > 1 and len(set(numbers)) == 1 and len(counts) == 1 and counts != {0}:
        differing = [k for k in range(counts.pop()) if len({int(found[k]) for found in runs}) > 1]
        if len(differing) == 1:
            numbers = [int(found[differing[0]]) for found in runs]
    return numbers


def frame_numbers(folder: Path, files: list[Path]) -> tuple[list[tuple[int, Path]], int, list[tuple[int, int]]]:
    """``files`` (sorted) as (number, file) by number, the first index (0 where a frame 0 is there, else 1)
    and the runs of numbers missing between it and the last number, as (first, last) pairs."""
    numbers = _placed_numbers(files)
    unnumbered = [path.name for path, number in zip(files, numbers, strict=True) if number is None]
    if len(unnumbered) == len(files):  # no digits at all: the listing's order is all there is
        return [(index, path) for index, path in enumerate(files, start=1)], 1, []
    if unnumbered:
        raise MediaError(
            f"frame folder {shown(folder.name)} mixes numbered frames with {len(unnumbered)} unnumbered "
            f"({shown(unnumbered[0])}): cannot place them in time"
        )
    numbered: dict[int, Path] = {}
    for path, value in zip(files, numbers, strict=True):
        if value in numbered:
            raise MediaError(
                f"frame folder {shown(folder.name)} holds two frames numbered {value} "
                f"({shown(numbered[value].name)}, {shown(path.name)}): cannot tell which is the frame"
            )
        numbered[value] = path
    held = sorted(numbered)
    first_index = 0 if held[0] == 0 else 1
    gaps, expected = [], first_index
    for value in held:
        if value > expected:
            gaps.append((expected, value - 1))
        expected = value + 1
    return [(value, numbered[value]) for value in held], first_index, gaps


def _numbers(values: list[int]) -> str:
    """Sorted numbers as runs: ``10-12, 15``."""
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def gaps_said(folder: Path, gaps: list[tuple[int, int]], n_frames: int, first_index: int, stand_ins: list[int]) -> str:
    """The media note for a folder with missing frame numbers: how many, the first gap, which sampled
    frames show the nearest frame held instead."""
    missing = sum(b - a + 1 for a, b in gaps)
    first = f"{gaps[0][0]}-{gaps[0][1]}" if gaps[0][1] > gaps[0][0] else f"{gaps[0][0]}"
    runs = f"{len(gaps)} gaps, the first {first}" if len(gaps) > 1 else f"frames {first}"
    said = (
        f"frame folder {shown(folder.name)} lacks {missing} of its frame numbers "
        f"{first_index}-{first_index + n_frames - 1} ({runs})"
    )
    if stand_ins:
        plural = len(stand_ins) > 1
        said += f": sampled frame{'s' * plural} {_numbers(stand_ins)} show{'s' * (not plural)} the nearest frame held"
    return said
