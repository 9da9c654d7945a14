"""A frame folder's frames placed in time by their numbers (``00001.jpg`` is frame 1), and its gaps in words.

A frame is indexed by the number in its name, never by its place in the listing: with files 00010 to
00019 gone, frame 20 is still at 19/fps s, and the missing numbers are said. Frames that cannot be
placed in time honestly (numbered and unnumbered files mixed, two files with one number) are a
``MediaError``; a folder whose names hold no numbers at all keeps its listing's order.
"""

from __future__ import annotations

import re
from pathlib import Path

from fvlm_eval.media import MediaError, shown

_NUMBER = re.compile(r"(\d+)$")  # the digits that end a file's stem: 00001, frame_0001, img12


def frame_numbers(folder: Path, files: list[Path]) -> tuple[list[tuple[int, Path]], int, list[tuple[int, int]]]:
    """``files`` (sorted) as (number, file) by number, the first index (0 where a frame 0 is there, else 1)
    and the runs of numbers missing between it and the last number, as (first, last) pairs."""
    numbers = [_NUMBER.search(path.stem) for path in files]
    unnumbered = [path.name for path, number in zip(files, numbers, strict=True) if number is None]
    if len(unnumbered) == len(files):  # no numbers at all: the listing's order is all there is
        return [(index, path) for index, path in enumerate(files, start=1)], 1, []
    if unnumbered:
        raise MediaError(
            f"frame folder {shown(folder.name)} mixes numbered frames with {len(unnumbered)} unnumbered "
            f"({shown(unnumbered[0])}): cannot place them in time"
        )
    numbered: dict[int, Path] = {}
    for path, number in zip(files, numbers, strict=True):
        value = int(number.group(1))
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
