"""Reading the letter out of generated answers: real answer shapes, and the traps."""

from __future__ import annotations

import pytest

from fvlm_eval.answers import extract_letter
from fvlm_eval.types import Option

OPTIONS = (Option("A", "The cup"), Option("B", "Berries"), Option("C", "A person opens the door"), Option("D", "7"))


@pytest.mark.parametrize("answer, letter, status", [
    ("B", "B", "letter"),
    ("(B)", "B", "letter"),
    ("B.", "B", "letter"),
    ("b", "B", "letter"),
    (" B\n", "B", "letter"),
    ("**B**", "B", "letter"),
    ("Answer: B", "B", "letter"),
    ("The answer is (B).", "B", "letter"),
    ("Best option: (B) the cup", "B", "letter"),
    ("B. Berries", "B", "letter"),
    ("I think it is D.", "D", "letter"),
    ("the cup", "A", "text"),
    ("Berries.", "B", "text"),  # the option's text: B by its text, not by its first letter
    ("A person opens the door", "C", "text"),  # "A" used as a word is not the letter A
    ("7", "D", "text"),
    ("", None, "empty"),
    ("   ", None, "empty"),
    ("A or B", None, "ambiguous"),
    ("(A) and (C)", None, "ambiguous"),
    ("Bananas", None, "no_letter"),  # a word starting with B is not B
    ("A dog runs", None, "no_letter"),
    ("E", None, "no_letter"),  # not one of this question's letters
])
def test_letter_extraction(answer, letter, status):
    extracted = extract_letter(answer, OPTIONS)
    assert (extracted.letter, extracted.status) == (letter, status)
    assert extracted.parseable == (letter is not None)


SUMS = (Option("A", "5"), Option("B", "7"), Option("C", "9"), Option("D", "2"))


@pytest.mark.parametrize("answer, letter, status", [
    ("2 + 5 = 7", "B", "text"),
    ("The sum is 7.", "B", "text"),
    ("5 + 2 equals 7", "B", "text"),
    ("5 or 7", None, "ambiguous"),
    ("7 apples", "B", "text"),
    ("9 - 2", None, "ambiguous"),
    ("twelve", None, "no_letter"),
])
def test_numeric_answers_by_their_text(answer, letter, status):
    extracted = extract_letter(answer, SUMS)
    assert (extracted.letter, extracted.status) == (letter, status)
