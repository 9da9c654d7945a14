"""Reading the chosen letter out of a generated answer.

The rule, in order:
1. the whole answer is one letter, maybe in brackets or with a full stop (``B``, ``(b)``, ``B.``);
2. else every capital letter standing alone in the answer (``Answer: B``, ``The answer is (B).``,
   ``Best option: (B) the cup``), except ``A`` and ``I`` used as words (``A person opens the
   door``, ``I think``): one letter is the answer, two different letters are ambiguous;
3. else the option whose own text the answer is (case, spaces and punctuation aside), or the one
   option whose text the answer contains, or, of several, the one it ends by stating ("2 + 5 = 7",
   "the sum is 7");
4. else unparseable. A letter that is not one of the question's letters does not count; a word
   that merely starts with a letter (``Berries``) is not that letter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fvlm_eval.types import Option

# The instruction behind the published SmolVLM2 figures (VLMEvalKit's multiple-choice prompt).
GENERATION_INSTRUCTION = "Answer with the option's letter from the given choices directly."
ExtractionStatus = Literal["letter", "text", "empty", "ambiguous", "no_letter"]

_WHOLE = re.compile(r"[\s*\[(]*([A-Za-z])[\s*\]).:]*")
_STANDALONE = re.compile(r"(?<![A-Za-z0-9'’])([A-Z])(?![A-Za-z0-9'’])")
_WORD_AFTER = re.compile(r"\s+([a-z]+)")


@dataclass(frozen=True)
class Extracted:
    letter: str | None
    status: ExtractionStatus

    @property
    def parseable(self) -> bool:
        return self.letter is not None


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _is_word(text: str, match: re.Match) -> bool:
    """``A``/``I`` followed by a lowercase word (other than or/and) is English, not a letter."""
    if match.group(1) not in ("A", "I"):
        return False
    after = _WORD_AFTER.match(text, match.end())
    return after is not None and after.group(1) not in ("or", "and")


def extract_letter(answer: str, options: tuple[Option, ...]) -> Extracted:
    letters = {option.letter for option in options}
    text = answer.strip()
    if not text:
        return Extracted(None, "empty")
    whole = _WHOLE.fullmatch(text)
    if whole and whole.group(1).upper() in letters:
        return Extracted(whole.group(1).upper(), "letter")
    found = {m.group(1) for m in _STANDALONE.finditer(text) if not _is_word(text, m)} & letters
    if len(found) == 1:
        return Extracted(found.pop(), "letter")
    if len(found) > 1:
        return Extracted(None, "ambiguous")
    said = _normal(text)
    exact = [o.letter for o in options if _normal(o.text) and _normal(o.text) == said]
    if len(exact) == 1:
        return Extracted(exact[0], "text")
    contained = [o for o in options if _normal(o.text) and re.search(rf"\b{re.escape(_normal(o.text))}\b", said)]
    if len(contained) == 1:
        return Extracted(contained[0].letter, "text")
    with_equals = " ".join(re.sub(r"[^\w\s=]", " ", text.lower()).split())  # as ``said``, "=" kept
    stated = [o for o in contained  # "2 + 5 = 7", "the sum is 7": the option it ends by stating
              if re.search(rf"(?:=|\bis|\bequals|\banswer)\s*{re.escape(_normal(o.text))}$", with_equals)]
    if len(stated) == 1:
        return Extracted(stated[0].letter, "text")
    return Extracted(None, "ambiguous" if len(contained) > 1 or len(exact) > 1 else "no_letter")
