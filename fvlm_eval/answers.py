"""Reading the chosen letter out of a generated answer.

The rule, in order (answer and option texts NFKC-normalised first: full-width ``Ｂ``, ``（Ｄ）`` read as
``B``, ``(D)``):
1. a list is taken out: it names letters and chooses none. A run of lines opening with consecutive
   letters when at least two of its lines carry text (``A. January\\nB. June``) or every line is bare
   (``A.\\nB.\\nC.``; a bare letter ending the line before such bare lines is their first item:
   ``Answer: (A)\\n(B)\\n(C)``); a bare first line followed by lines that carry sentences is the answer plus
   remarks, not a list (``B.\\nC. is wrong`` is B); and the options list of the prompt repeated
   (consecutive ``"B. <B's text>"`` items on any line, the last maybe cut short by the token limit);
2. the whole answer is one letter, maybe in brackets, quotes or bold, with a full stop
   (``B``, ``(b)``, ``'B'``, ``**B.**``);
3. else the letters the answer names, option texts and ``N/A`` taken out first (in ``C. sample
   A`` or ``B. Vitamin D`` the A and D belong to an option's text; ``N/A`` is not A), from the
   first of three tiers that names any:
   (i) a letter after an answer cue: ``Answer: b``, ``the answer is (B)``, ``The answer is A
   because``, ``Best option: B``, ``I choose C``; (ii) a letter opening the answer (``B.``,
   ``(B)``, ``b)``, ``C:``); (iii) any other capital standing alone (``I think it is D``,
   ``A is correct``), a quoted letter (``'B'``, ``‘D’``), a letter after ``option``/``choice``
   (``option a``), a bracketed lowercase letter (``(c)``). ``A`` and ``I`` followed by a
   lowercase word are English (``A person opens the door``, ``I think``) unless the word cannot
   follow the article or the pronoun (``A is``, ``A because``, ``A or``); a letter that is not one
   of the question's letters does not count. A letter the answer rejects is never the choice, in
   any tier nor by its text: negated before it (``not A``, ``It can't be A``, ``The answer isn't
   B``, ``nor B``) or judged wrong after it or after the list it heads (``A is wrong``, ``B would be
   incorrect``, ``A and C are false``, ``A is not the answer``); so ``A is wrong, B is correct`` is
   B, and ``A is not correct`` alone is unparseable. An option's text is rejected the same way
   (``Sample A is wrong``, ``Berries, not the cup``).
   One letter is the answer; two different letters in the deciding tier are ambiguous
   (``A or B``, ``(A) and (C)``); so are bare letters in a row, whatever separates them (``A. B. C. D.``,
   ``(A) (B)``, ``(A)(B)``, ``A) B)``, ``Answer: A B``, ``B. Or C.``), when nothing but punctuation or spaces
   follows the run's last letter up to the end of its line: a list, never its first letter; when words follow
   it, the first letter is the answer and the rest a remark (``B. C, D are wrong.``, ``Answer: B.  A, C, D:
   wrong`` are B; ``C. A is wrong`` is C);
4. else the option whose own text the answer is (case, spaces, punctuation and a leading article
   aside: ``A cup`` says ``The cup``; texts that differ only in case, ``AA``/``Aa``, by their case),
   or the one option whose text the answer contains (of texts that differ only in case, the one
   written in its own case: ``The genotype is Ff``), or, of several, the one it ends by stating
   ("2 + 5 = 7", "the sum is 7"; a number named only as an operand, ``the sum of 9 and``, is not
   stated), nor one written only with the determiner "no" (``no dog`` is not ``a dog``; ``I have no idea``, ``no
   clue`` are not ``no``, but ``No, it is not``, ``No the man is not running``, ``no no`` are); a word that merely
   starts with a letter (``Berries``) is not that letter;
5. else unparseable.

A correction comes first: a cue (``wait``, ``no,``, ``actually``, ``correction``, ``I mean``, ``but it's``,
``rather``) after a named letter makes the letter the words after it name, by the rule above, the answer
(``Answer: A. Wait, no, B.``, ``The answer is A? No, B.``, ``I first thought A, but it's B``); when they name
none (``Answer: A. No doubt``, ``A, but it's not B``), or add one (``C. Actually, B is also possible``), the
whole answer is read. A letter labelled with a verdict is rejected like one judged wrong (``A: no. B: yes.``,
``A) no B) yes``, ``A - incorrect``, ``A (wrong)``), and lines so labelled are not a list; ``B rather than A`` and
``B instead of A`` reject A.

Measured on the 777 hand-labelled answers of ``tests/fvlm_eval/answer_table.jsonl`` (see docs/protocols.md).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Literal

from fvlm_eval.answer_texts import (
    content,
    has_twins,
    in_their_case,
    normal,
    only_operand,
    only_under_no,
    places,
    text_pattern,
    without_lists,
)
from fvlm_eval.types import Option

# The instruction behind the published SmolVLM2 figures (VLMEvalKit's multiple-choice prompt).
GENERATION_INSTRUCTION = "Answer with the option's letter from the given choices directly."
# The version of this reader, stamped into every record's ``generated`` block (``reader``): a letter read by another
# version may not be today's reading (``letter_readings``). Bump it whenever a change to the reader changes any
# reading; the table test of hand-labelled answers (tests/fvlm_eval/answer_table.jsonl) is the guard.
LETTER_READER = 1
ExtractionStatus = Literal["letter", "text", "empty", "ambiguous", "no_letter"]

_OPEN = r"[(\[{'\"‘“]"
_CLOSE = r"[)\]}'\"’”]"
_WHOLE = re.compile(rf"[\s*_]*(?:{_OPEN}\s*)?([A-Za-z])(?:\s*{_CLOSE})?[\s*_.:]*")
_NOT_APPLICABLE = re.compile(r"(?<![A-Za-z0-9])n\s*/\s*a(?![A-Za-z0-9])", re.IGNORECASE)
# A capital standing alone: not inside a word, a contraction ("I'm") or an abbreviation ("D.C.").
_CAPITAL = re.compile(r"(?<![A-Za-z0-9'’])(?<![A-Za-z]\.)(?P<l>[A-Z])(?![A-Za-z0-9'’])(?!\.[A-Za-z])")
_QUOTED = re.compile(r"(?<![A-Za-z0-9])['‘\"“](?P<l>[A-Za-z])['’\"”](?![A-Za-z0-9])")
_BRACKETED = re.compile(r"[(\[](?P<l>[a-z])[)\]]")
_SEPARATORS = (
    r"(?:[\s*_:=\-]|\bis\b|\b(?:would|should|will|must|might|could)\s+be\b|\bbe\b"
    r"|\b(?:option|choice|letter)\b)*"
)
_ANSWER_CUE = re.compile(
    r"(?:\banswers?\b|\b(?:correct|best|right|final)\s+(?:option|choice|one)\b|\bmy\s+(?:choice|pick)\b"
    r"|\bI\s+(?:would\s+|will\s+|'d\s+|’d\s+|'ll\s+|’ll\s+)?(?:choose|pick|select|go\s+with|say)\b)"
    rf"{_SEPARATORS}{_OPEN}?\s*(?P<l>[A-Za-z])(?![A-Za-z0-9'’])",
    re.IGNORECASE,
)
_OPTION_CUE = re.compile(
    rf"\b(?:option|choice|letter)\s*[:\-]?\s*{_OPEN}?\s*(?P<l>[A-Za-z])(?![A-Za-z0-9'’])", re.IGNORECASE
)
_OPENING = re.compile(
    rf"[\s*_#>\-]*(?:(?P<o>{_OPEN})\s*)?(?P<l>[A-Za-z])"  # a bracket or quote opened is closed
    rf"(?(o)\s*{_CLOSE}|(?:[)\]}}]|[.:](?![A-Za-z0-9])))"
)
_MORE = re.compile(rf"(?:\s*{_CLOSE})?\s*(?:,|/|&|\b(?i:or|and|vs)\b\.?)\s*{_OPEN}?\s*([A-Z])(?![A-Za-z0-9'’])")
# A bare letter after another, whatever separates them ("A. B. C. D.", "(A) (B)", "(A)(B)", "A) B)", "Answer: A B",
# "B. Or C."), in a run of bare letters that ends its line: nothing but punctuation or spaces after the run's last
# letter up to the line's end. Listed, not chosen. When words follow the run ("B. C, D are wrong.", "(B). (C) is
# wrong", "B. C. elegans"), the first letter is the answer and the rest a remark on the others.
_LETTER_LINK = rf"[ \t]*(?:{_CLOSE}[ \t]*)?[.,;!?]?[ \t]*(?:(?i:or|and)\b\.?[ \t]*)?{_OPEN}?[ \t]*"
_RUN_ENDS_LINE = rf"(?:{_LETTER_LINK}[A-Za-z](?![A-Za-z0-9'’]))*(?:[ \t.,;:!?*_]|{_CLOSE})*(?:\n|$)"
_BARE = re.compile(
    rf"(?:[\s.,;!?*_]|{_CLOSE})*{_OPEN}?\s*(?<![A-Za-z0-9])([A-Za-z])(?![A-Za-z0-9'’])(?={_RUN_ENDS_LINE})"
)
_WORD_AFTER = re.compile(r"\s+([a-z]+)")
# "sample A", "Vitamin D", "Type B": a name, not a choice (when no option's text holds it).
_LABELLED = re.compile(
    r"\b(?:sample|solution|vitamin|type|plan|figure|fig\.|group|point|exit|gate|grade|class"
    r"|hepatitis|section|part|row|column|model|version|line|step|person|player|team|box|tank"
    r"|container|beaker)\s*$",
    re.IGNORECASE,
)
# A letter the answer rejects is never its choice: negated before it ("not A", "It can't be A", "isn't B",
# "nor B") or judged wrong after it, it or the list it heads ("A is wrong", "B isn't correct", "A and C are false");
# "B does not show a cup" says what B is, not that it is wrong. An option's text is rejected the same way.
_NEGATED = re.compile(
    rf"(?:\bnot|\bcannot|n['’]t|\bnor|\bneither|\brather\s+than|\binstead\s+of)"
    rf"(?:\s+(?:be|is))?(?:\s+(?:the|an?))?\s+"
    rf"(?:(?:option|choice)\s+)?{_OPEN}?\s*$",
    re.IGNORECASE,
)
_JUDGED_WRONG = re.compile(
    rf"(?:\s*{_CLOSE})?\s+(?:(?:is|are|was|were|be|would|should|must|might|could|can|will|do|does|did|seems?|appears?"
    r"|looks?|to|also|clearly|definitely|certainly|obviously|surely|then|(?-i:the|an?))\s+)*"
    r"(?:(?:not|never|cannot|\w+n['’]t)\s+(?:be\s+)?(?:the\s+)?(?:correct|right|true|valid|possible|best|answer|it)"
    r"|incorrect|wrong|false|untrue|impossible|excluded|eliminated|ruled\s+out)\b",
    re.IGNORECASE,
)
# A letter labelled with a verdict, "A: no", "A) no", "A - incorrect", "A (wrong)", is rejected; the word ends the
# label ("A: no cup is shown" describes A; "A. No, B is wrong" is a correction cue, not a label).
_LABELLED_WRONG = re.compile(
    r"(?:\s*[.:)\]}'\"’”(\-–—])+\s*(?:no|wrong|incorrect|false)\b"
    r"(?![ \t]*(?-i:[a-z])|\s*,)",
    re.IGNORECASE,
)
# A correction: a cue after a first letter makes the letter after it the answer ("Answer: A. Wait, no, B.",
# "I first thought A, but it's B", "Answer: A\nCorrection: B"); "B rather than A" is a negation, not a cue.
_CORRECTION = re.compile(
    r"\b(?:wait|actually|correction|rather(?!\s+than\b)|I\s+mean|but\s+it(?:['’]s|\s+is))\b"
    r"|\bno\s*[,.!;:]",
    re.IGNORECASE,
)
# Words that cannot follow the article "a" (or the pronoun "I"): before them, A (I) is a letter.
_AFTER_LETTER = {
    "A": set(
        "or and is was would will seems seem should could must might may can because since as fits "
        "matches appears looks describes answers shows the an a this that these those it its which but "
        "then of in on at to from by with for here there too also nor instead rather".split()
    ),
    "I": set(
        "or and is seems fits matches appears looks describes answers shows because since as the an a "
        "this that it its which but of on at to from by with for nor".split()
    ),
}


@dataclass(frozen=True)
class Extracted:
    letter: str | None
    status: ExtractionStatus

    @property
    def parseable(self) -> bool:
        return self.letter is not None


def _masked(text: str, options: tuple[Option, ...]) -> str:
    """``text`` with every option's own text and ``N/A`` blanked (same length, so positions still match)."""
    blank = lambda m: " " * len(m.group(0))  # noqa: E731
    text = _NOT_APPLICABLE.sub(blank, text)
    patterns = [p for o in options if re.search(r"[a-z0-9]{2,}|\d", normal(o.text)) and (p := text_pattern(o.text))]
    for pattern in sorted(patterns, key=len, reverse=True):
        text = re.sub(pattern, blank, text)
    return text


Reading = Literal["chosen", "rejected"]


def _reading(original: str, masked: str, match: re.Match, listed: int, forced: bool = False) -> Reading | None:
    """How the answer names the letter matched: chosen, rejected (negated before it, or judged wrong after it or
    after the list it heads, which ends at ``listed``), or None when it is not meant as a letter (the
    article/pronoun, a name such as ``Vitamin D``)."""
    before = masked[: match.start("l")]
    if _LABELLED.search(before):
        return None
    letter = match.group("l")
    if letter.upper() in _AFTER_LETTER and not (forced and letter.isupper()):
        after = _WORD_AFTER.match(original, match.end("l"))
        if after is not None and after.group(1) not in _AFTER_LETTER[letter.upper()]:
            return None
    judged = _JUDGED_WRONG.match(masked, listed)  # in the answer's own words, not across an option's text
    judged_wrong = judged is not None and original[judged.start() : judged.end()] == judged.group(0)
    labelled = _LABELLED_WRONG.match(masked, match.end("l"))
    judged_wrong |= labelled is not None and original[labelled.start() : labelled.end()] == labelled.group(0)
    return "rejected" if _NEGATED.search(before) or judged_wrong else "chosen"


def _more(masked: str, end: int) -> tuple[list[str], int]:
    """Further letters listed right after a letter (``A or B``, ``(A) and (C)``, ``A. B. C.``), and where the list
    ends."""
    found = []
    while (more := _MORE.match(masked, end) or _BARE.match(masked, end)) is not None:
        found.append(more.group(1).upper())
        end = more.end()
    return found, end


def _named_letters(original: str, masked: str) -> tuple[list[set[str]], set[str]]:
    """The letters the answer names, by tier (after an answer cue, opening the answer, anywhere else), and the
    letters it rejects."""
    cued, opening, other, rejected = set(), set(), set(), set()

    def read(match: re.Match, tier: set[str], end: int, forced: bool = False, listing: bool = True) -> None:
        more, listed = _more(masked, end)
        reading = _reading(original, masked, match, listed, forced)
        named = {match.group("l").upper(), *more}
        if reading == "rejected":
            rejected.update(named)
        elif reading == "chosen":
            tier.update(named if listing else {match.group("l").upper()})

    for match in _ANSWER_CUE.finditer(masked):
        read(match, cued, match.end("l"))
    first = _OPENING.match(masked)
    if first:
        read(first, opening, first.end(), forced=True)
    for match in _CAPITAL.finditer(masked):
        read(match, other, match.end("l"), listing=False)
    for regex in (_QUOTED, _OPTION_CUE, _BRACKETED):
        for match in regex.finditer(masked):
            read(match, other, match.end("l"), forced=True, listing=False)
    return [cued, opening, other], rejected


def _rejected_texts(options: tuple[Option, ...], answer: str) -> set[str]:
    """The letters of the options the answer rejects by their text, as it rejects letters (``Sample A is wrong``,
    ``The genotype is FF, not Ff``)."""
    return {
        o.letter
        for o in options
        for place in places(o, answer, cased=has_twins(o, options))
        if _NEGATED.search(answer[: place.start()]) or _JUDGED_WRONG.match(answer, place.end())
    }


def extract_letter(answer: str, options: tuple[Option, ...]) -> Extracted:
    # Full-width and other compatibility forms read as their plain letters: "Ｂ", "（Ｄ）" are "B", "(D)".
    options = tuple(replace(o, text=unicodedata.normalize("NFKC", o.text)) for o in options)
    text = unicodedata.normalize("NFKC", answer).strip()
    if not text:
        return Extracted(None, "empty")
    text = without_lists(text, options).strip()
    corrected = _corrected(text, options)
    return corrected if corrected is not None else _read(text, options)


def _corrected(text: str, options: tuple[Option, ...]) -> Extracted | None:
    """The letter after the last correction cue (in the answer's own words, not an option's text) that follows a
    named letter, when the words after the cue name one; else None."""
    letters = {option.letter for option in options}
    for cue in reversed(list(_CORRECTION.finditer(_masked(text, options)))):
        before = text[: cue.start()]
        if not any(tier & letters for tier in _named_letters(before, _masked(before, options))[0]):
            continue
        words = text[cue.end() :].lstrip(" \t\n,.:;!?-–—")
        if re.search(r"\b(?:also|too|as\s+well)\b", words, re.IGNORECASE):
            return None  # "C. Actually, B is also possible" adds a letter, it does not replace one
        after = _read(words, options)
        if after.status == "letter":
            return after
    return None


def _read(text: str, options: tuple[Option, ...]) -> Extracted:
    """The letter of an answer already normalised, with any repeated options list taken out."""
    letters = {option.letter for option in options}
    if not text:
        return Extracted(None, "no_letter")
    whole = _WHOLE.fullmatch(text)
    if whole and whole.group(1).upper() in letters:
        return Extracted(whole.group(1).upper(), "letter")
    masked = _masked(text, options)
    tiers, rejected = _named_letters(text, masked)
    rejected |= _rejected_texts(options, text)
    options = tuple(o for o in options if o.letter not in rejected)  # a rejected letter is never the choice
    for tier in tiers:
        named = (tier & letters) - rejected
        if len(named) == 1:
            return Extracted(named.pop(), "letter")
        if len(named) > 1:
            return Extracted(None, "ambiguous")
    said = content(text)
    exact = [o.letter for o in options if content(o.text) and content(o.text) == said]
    if len(exact) > 1:  # texts that differ only in case ("AA", "Aa", "aa"): the case decides
        cased = " ".join(re.sub(r"[^\w\s]", " ", text).split())
        exact = [
            o.letter
            for o in options
            if o.letter in exact and " ".join(re.sub(r"[^\w\s]", " ", o.text).split()) == cased
        ]
    if len(exact) == 1:
        return Extracted(exact[0], "text")
    contained = [
        o
        for o in options
        if content(o.text)
        and re.search(rf"\b{re.escape(content(o.text))}\b", said)
        and not only_operand(o.text, text)
        and not only_under_no(o, text)
    ]
    contained = in_their_case(contained, text)
    if len(contained) == 1:
        return Extracted(contained[0].letter, "text")
    with_equals = content(text, keep="=")  # as ``said``, "=" kept
    stated = [
        o
        for o in contained  # "2 + 5 = 7", "the sum is 7": the option it ends by stating
        if re.search(rf"(?:=|\bis|\bequals|\banswer)\s*{re.escape(content(o.text))}$", with_equals)
    ]
    if len(stated) == 1:
        return Extracted(stated[0].letter, "text")
    return Extracted(None, "ambiguous" if len(contained) > 1 or len(exact) > 1 else "no_letter")
