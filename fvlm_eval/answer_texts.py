"""Reading an option by its text in a generated answer: the option whose own text the answer writes (case,
spaces, punctuation and a leading article aside; texts that differ only in case, by their case), never a
number it names only as an operand. Used by ``answers.extract_letter``."""

from __future__ import annotations

import re

from fvlm_eval.types import Option


def normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def content(text: str, keep: str = "") -> str:
    """``normal`` without a leading article: "A cup" says "The cup" (but "Solution A" keeps its A)."""
    words = " ".join(re.sub(rf"[^\w\s{keep}]", " ", text.lower()).split()).split()
    return " ".join(words[1:] if len(words) > 1 and words[0] in ("a", "an", "the") else words)


def text_pattern(text: str) -> str | None:
    """A regex for an option's text in an answer, case, spaces and punctuation aside; None for a text of no words."""
    words = normal(text).split()
    if not words:
        return None
    return r"(?<![A-Za-z0-9])(?i:" + r"[\W_]+".join(re.escape(w) for w in words) + r")(?![A-Za-z0-9])"


OPERATOR = r"(?:[-+*/×÷]|\b(?:x|plus|minus|times|and)\b)"


def only_operand(option_text: str, answer: str) -> bool:
    """A number the answer names only as an operand (``9 - 2``, ``the sum of 9 and``) is not the answer it states."""
    number = option_text.strip().rstrip(".")
    if not re.fullmatch(r"\d+(?:\.\d+)?", number):
        return False
    places = list(re.finditer(rf"(?<![\d.]){re.escape(number)}(?![\d]|\.\d)", answer.lower()))
    return bool(places) and all(
        re.search(rf"{OPERATOR}\s*$", answer.lower()[: m.start()])
        or re.match(rf"\s*{OPERATOR}", answer.lower()[m.end() :])
        for m in places
    )


def places(option: Option, answer: str, cased: bool = False) -> list[re.Match]:
    """Where the answer writes the option's text (spaces, punctuation and a leading article aside; case too unless
    ``cased``)."""
    words = re.sub(r"[^\w\s]", " ", option.text).split()
    if len(words) > 1 and words[0].lower() in ("a", "an", "the"):
        words = words[1:]
    if not words:
        return []
    pattern = r"(?<![A-Za-z0-9])" + r"[\W_]+".join(map(re.escape, words)) + r"(?![A-Za-z0-9])"
    return list(re.finditer(pattern, answer, 0 if cased else re.IGNORECASE))


def has_twins(option: Option, options: tuple[Option, ...] | list[Option]) -> bool:
    """Whether another option's text differs from this one's only in case (``FF``, ``Ff``, ``ff``)."""
    return any(o is not option and content(o.text) == content(option.text) for o in options)


def in_their_case(options: list[Option], answer: str) -> list[Option]:
    """Of options whose texts differ only in case, those the answer writes in their own case, when it writes any
    (``The genotype is Ff``)."""
    kept = []
    for option in options:
        twins = [o for o in options if content(o.text) == content(option.text)]
        if (
            len(twins) == 1
            or places(option, answer, cased=True)
            or not any(places(o, answer, cased=True) for o in twins)
        ):
            kept.append(option)
    return kept
