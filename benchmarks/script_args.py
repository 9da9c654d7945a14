"""What the benchmark scripts share to read their arguments: numbers checked by argparse, so a wrong one is one
line naming its flag (argparse's ``error: argument --flag: ...``, exit 2), never a traceback later."""

from __future__ import annotations

import argparse


def at_least(low: int):
    """An argparse type: a whole number >= ``low`` (a wrong one is argparse's one-line error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}")
        return value

    return parse


def positive(text: str) -> float:
    """An argparse type: a number above 0 (a length, a duration)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not above 0")
    return value
