"""Counts in words: "1 question", "3 questions"."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, the noun plural unless the number is exactly 1 (``plural``: an irregular plural)."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


__all__ = ["counted"]
