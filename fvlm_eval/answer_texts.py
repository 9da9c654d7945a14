"""Reading an option by its text in a generated answer: the option whose own text the answer writes (case,
spaces, punctuation and a leading article aside; texts that differ only in case, by their case), never a
number it names only as an operand, nor a text it writes only with the determiner "no" (``no dog``, ``no idea``);
and the lists an answer writes, which choose nothing (``without_lists``). Used by ``answers.extract_letter``."""

from __future__ import annotations

import re

from fvlm_eval.types import LETTERS, Option


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


# Words that cannot follow the determiner "no" ("no idea", "no dog", "no clear answer"): before them, or before
# punctuation, a line's end or the answer's end, "no" is the answer "no" ("No it is not", "No the man is not running").
_AFTER_NO = set(
    "the a an this that these those his her its their my your our some any all both each every it he she they we you "
    "i there here is are was were am be been do does did can could would will should shall may might must has have had "
    "not never nor neither and or but because since as so if for to in on at of with from by than then yes no nope "
    "sir".split()
)
_NO_AND_WORD = re.compile(r"no[ \t]+([A-Za-z]+)", re.IGNORECASE)
_NO_BEFORE = re.compile(r"(?<![A-Za-z0-9])no[ \t]+$", re.IGNORECASE)


def _determiner_no(answer: str, at: int) -> bool:
    """Whether the "no" at ``at`` is the determiner of the word after it (``no idea``), not the answer "no"."""
    word = _NO_AND_WORD.match(answer, at)
    return word is not None and word.group(1).lower() not in _AFTER_NO


def only_under_no(option: Option, answer: str) -> bool:
    """An option's text the answer writes only with the determiner "no" is not the answer it states: ``no dog`` does
    not say "a dog", ``I have no idea`` and ``no clue`` do not say "no" (``No, it is not``, ``no no`` do)."""
    found = places(option, answer)
    is_no = normal(option.text) == "no"
    return bool(found) and all(
        (is_no and _determiner_no(answer, place.start()))
        or (
            (before := _NO_BEFORE.search(answer[: place.start()])) is not None
            and _determiner_no(answer, before.start())
        )
        for place in found
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


def without_lists(text: str, options: tuple[Option, ...]) -> str:
    """The answer without the lists it writes, which choose nothing: lines opening with consecutive letters
    (``without_lettered_lines``), and the prompt's options list repeated (``A. x\\nB. y\\n...``, maybe cut short)."""
    text = without_every_letter(without_lettered_lines(text), options)
    by_index = {LETTERS.index(o.letter): o for o in options if o.letter in LETTERS}
    items = []  # (start, end, letter index) of every "B. <B's text>" in the answer
    for index, option in by_index.items():
        pattern = text_pattern(option.text)
        if pattern is not None:
            item = rf"(?<![A-Za-z0-9])[(\[]?{option.letter}[)\].:]\s*{pattern}"
            items += [(m.start(), m.end(), index) for m in re.finditer(item, text)]
    runs: list[list[tuple[int, int, int]]] = []  # consecutive letters, nothing but separators between them
    for item in sorted(items):
        last = runs[-1][-1] if runs else None
        if last is not None and item[0] < last[1]:
            continue  # inside the previous item (an option text holding "B. ...")
        if last is not None and item[2] == last[2] + 1 and re.fullmatch(r"[\s,;|.]*", text[last[1] : item[0]]):
            runs[-1].append(item)
        else:
            runs.append([item])
    cuts = []
    for run in runs:
        start, end, following = run[0][0], run[-1][1], by_index.get(run[-1][2] + 1)
        if following is not None:  # the next item, cut short by the token limit
            tail = re.fullmatch(rf"[\s,;|.]*[(\[]?{following.letter}(?:[)\].:]\s*(.*))?", text[end:], re.DOTALL)
            if tail and normal(following.text).startswith(normal(tail.group(1) or "")):
                run, end = run + [(end, len(text), run[-1][2] + 1)], len(text)
        if len(run) >= 2:
            cuts.append((start, end))
    for start, end in reversed(cuts):
        text = text[:start] + "\n" + text[end:]
    return text


def without_every_letter(text: str, options: tuple[Option, ...]) -> str:
    """The answer without the runs of letters it lists before words that choose nothing: a run of two or more
    option letters each marked bare (``A.``, ``(B)``, ``c)``), in any order or case, followed on its line by words
    that do not judge them ("B. C. D. None of these", "A. B. I am not sure.", "(A) (B) (C) (D) all fit"), and a
    run of every option's letter in order however written ("A B C D none of these"). Words after a run otherwise
    make its first letter the answer; only a verdict on the rest keeps that reading ("B. C. is wrong", "B. C, D
    are wrong.": a remark on the others). A run's last capital before a lower-case word is a name's initial
    ("B. C. elegans would not fit." is B)."""
    letters = {o.letter.upper() for o in options}

    def cut(run: re.Match) -> str:
        items = list(_MARKED_LETTER.finditer(run.group("run")))
        rest = run.group("rest")
        word = re.match(r" ([a-z]+)\b", rest)
        if items[-1].group(0) == f"{items[-1].group(1).upper()}." and word and word.group(1) not in _PLAIN_WORDS:
            items = items[:-1]  # "C. elegans": an initial, not a letter listed
        listed = [item.group(1).upper() for item in items]
        if len(listed) < 2 or not set(listed) <= letters or _VERDICT.match(rest):
            return run.group(0)
        return "\n" + run.group(0)[items[-1].end() :]

    text = _LISTED_RUN.sub(cut, text)
    in_order = [o.letter for o in options]
    if len(in_order) >= 3:
        items = r"[\s,;|.]*".join(rf"[(\[]?{letter}(?:[)\].:]|(?=[ \t,;|]))" for letter in in_order)
        text = re.sub(rf"(?<![A-Za-z0-9]){items}(?![A-Za-z0-9'’])(?=[ \t.,;:!?]*[A-Za-z])", "\n", text)
    return text


# Lower-case words that follow a list of letters ("A. B. none of these", "(A) (B) all fit"): not a name after an
# initial ("C. elegans")
_PLAIN_WORDS = frozenset(
    "a all and any are both but either i is it maybe neither no none not of or perhaps possibly probably so the "
    "these they this unsure".split()
)
_MARKED_LETTER = re.compile(r"[(\[]?([A-Za-z])[)\].:]")
_LISTED_RUN = re.compile(
    r"(?<![A-Za-z0-9])(?P<run>[(\[]?[A-Za-z][)\].:](?:[ \t,;|]*[(\[]?[A-Za-z][)\].:])+)"
    r"(?P<rest>[ \t]*[-–—:]?[ \t]*(?![(\[]?[A-Za-z][)\].:])[A-Za-z][^\n]*)"
)
_VERDICT = re.compile(
    r"[ \t]*[-–—:]?[ \t]*(?:(?:is|are|was|were|all|both|seems?|looks?)\s+)*"
    r"(?:wrong|incorrect|false|impossible|not\s+(?:correct|right|true|possible|the\s+answer)|ruled\s+out"
    r"|eliminated|excluded)\b",
    re.IGNORECASE,
)


# A line opening with a letter, whatever its text, even none ("A.", "(B)"); a line labelled with a verdict
# ("A: no", "B) correct") judges its letter: it is not a list item.
_LETTERED_LINE = re.compile(
    r"^[ \t*_]*[(\[]?([A-J])[)\].:][ \t]*"
    r"(?!(?i:no|yes|wrong|right|correct|incorrect|true|false)[ \t.!]*$)(\S[^\n]*)?$",
    re.MULTILINE,
)


def _first_item_before(text: str, start: int, letter: str) -> int:
    """Where the line before a list of bare lettered lines ends with the letter before its first one
    (``Answer: (A)\\n(B)\\n(C)``: that letter is the list's first item, not a choice); else ``start``."""
    if letter == "A":
        return start
    before = chr(ord(letter) - 1)
    item = re.search(rf"(?<![A-Za-z0-9])[(\[]?[ \t]*{before}[ \t]*[)\]]?[.:)]?[ \t]*\n\s*\Z", text[:start])
    return item.start() if item else start


def _list_of(run: list[re.Match]) -> tuple[int, int] | None:
    """Where a run of consecutive lettered lines is a list: when two or more of its lines carry text
    (``A. January\\nB. June``), or when every line is bare (``A.\\nB.\\nC.``); a bare first line before lines
    that carry text is the answer, not an item (``B.\\nC. is wrong``, ``A.\\nB. x\\nC. y``: B, A); else None."""
    if len(run) >= 2 and all(line.group(2) is None for line in run):
        return run[0].start(), run[-1].end()
    if run[0].group(2) is None:
        run = run[1:]  # the answer, kept
    if sum(line.group(2) is not None for line in run) >= 2:
        return run[0].start(), run[-1].end()
    return None


def without_lettered_lines(text: str) -> str:
    """The answer without a list of its own (``A. January\\nB. June``, ``A.\\nB.\\nC.``: lines opening with
    consecutive letters, see ``_list_of``): a list chooses nothing."""
    lines = list(_LETTERED_LINE.finditer(text))
    cuts, run = [], lines[:1]
    for line in lines[1:] + [None]:
        if (
            line is not None
            and ord(line.group(1)) == ord(run[-1].group(1)) + 1
            and not text[run[-1].end() : line.start()].strip()
        ):
            run.append(line)
            continue
        if run and (cut := _list_of(run)) is not None:
            start, end = cut
            if all(item.group(2) is None for item in run):
                start = _first_item_before(text, start, run[0].group(1))
            cuts.append((start, end))
        run = [line]
    for start, end in reversed(cuts):
        text = text[:start] + text[end:]
    return text
