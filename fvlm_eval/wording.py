"""Counts in words: "1 question", "3 questions", "1 record holds", "0.5 points"."""

from __future__ import annotations


def counted(number: int | float, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, the noun plural unless the number is exactly 1 (``plural``: an irregular plural)."""
    shown = f"{number:g}" if isinstance(number, float) else str(number)
    return f"{shown} {noun if number == 1 else plural or noun + 's'}"


def agreeing(number: int | float, singular: str, plural: str) -> str:
    """The word that agrees with ``number`` ("has"/"have", "is"/"are")."""
    return singular if number == 1 else plural


__all__ = ["agreeing", "counted"]
