"""Reading the letter out of generated answers: real answer shapes, and the traps."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from fvlm_eval.answers import Extracted, extract_letter
from fvlm_eval.types import Option

OPTIONS = (Option("A", "The cup"), Option("B", "Berries"), Option("C", "A person opens the door"), Option("D", "7"))


@pytest.mark.parametrize(
    "answer, letter, status",
    [
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
    ],
)
def test_letter_extraction(answer, letter, status):
    extracted = extract_letter(answer, OPTIONS)
    assert (extracted.letter, extracted.status) == (letter, status)
    assert extracted.parseable == (letter is not None)


SUMS = (Option("A", "5"), Option("B", "7"), Option("C", "9"), Option("D", "2"))


@pytest.mark.parametrize(
    "answer, letter, status",
    [
        ("2 + 5 = 7", "B", "text"),
        ("The sum is 7.", "B", "text"),
        ("5 + 2 equals 7", "B", "text"),
        ("5 or 7", None, "ambiguous"),
        ("7 apples", "B", "text"),
        ("9 - 2", None, "no_letter"),  # operands, not an answer
        ("To solve this problem, we need to find the sum of 9 and ", None, "no_letter"),  # SmolLM2, cut short
        ("twelve", None, "no_letter"),
    ],
)
def test_numeric_answers_by_their_text(answer, letter, status):
    extracted = extract_letter(answer, SUMS)
    assert (extracted.letter, extracted.status) == (letter, status)


# --- the misreads of issue 16 item 4, one class each, with the statuses ---
SAMPLES = (
    Option("A", "sample B"),
    Option("B", "neither; the samples have the same temperature"),
    Option("C", "sample A"),
)
VITAMINS = (Option("A", "Vitamin C"), Option("B", "Vitamin D"), Option("C", "Iron"))
PEOPLE = (
    Option("A", "A man in a red shirt."),
    Option("B", "A woman holding an umbrella."),
    Option("C", "A dog running on the beach."),
)


@pytest.mark.parametrize(
    "answer, options, letter, status",
    [
        # (a) a capital inside an option's text is that text, not a letter
        ("C. sample A", SAMPLES, "C", "letter"),
        ("sample A", SAMPLES, "C", "text"),
        ("Sample A has more kinetic energy.", SAMPLES, "C", "text"),
        ("B. Vitamin D", VITAMINS, "B", "letter"),
        ("Vitamin D", VITAMINS, "B", "text"),
        ("Vitamin E is not shown.", VITAMINS, None, "no_letter"),  # a named thing, not a choice
        # (b) A after a cue or before a verb is the letter; A before a noun is the article
        ("A is correct.", OPTIONS, "A", "letter"),
        ("Option A is correct", OPTIONS, "A", "letter"),
        ("The answer is A because the cup is on the table.", OPTIONS, "A", "letter"),
        ("A person opens the door", OPTIONS, "C", "text"),
        ("A woman holding an umbrella.", PEOPLE, "B", "text"),
        ("A woman", PEOPLE, None, "no_letter"),
        ("A cup", OPTIONS, "A", "text"),  # "a cup" says "The cup"
        # (c) quoted letters
        ("'B'", OPTIONS, "B", "letter"),
        ("‘D’", OPTIONS, "D", "letter"),
        ('The answer is "C".', OPTIONS, "C", "letter"),
        # (d) N/A is not A
        ("N/A", OPTIONS, None, "no_letter"),
        ("n/a", OPTIONS, None, "no_letter"),
        ("N/A, B", OPTIONS, "B", "letter"),
        # (e) a lowercase letter after a cue
        ("Answer: b", OPTIONS, "B", "letter"),
        ("the answer is c", OPTIONS, "C", "letter"),
        ("option a", OPTIONS, "A", "letter"),
        ("the answer is a dog", OPTIONS, None, "no_letter"),
        # an explanation naming other letters: the answer cue decides; a negated letter is not chosen
        ("The answer is B. Option A is wrong because there is no cup.", OPTIONS, "B", "letter"),
        ("It's not A, it's B.", OPTIONS, "B", "letter"),
        ("Answer: A or B", OPTIONS, None, "ambiguous"),
    ],
)
def test_the_misread_classes(answer, options, letter, status):
    extracted = extract_letter(answer, options)
    assert (extracted.letter, extracted.status) == (letter, status)


PROMPT = "What happens in the video?\nA. The cup\nB. Berries\nC. A person opens the door\nD. 7\n"


@pytest.mark.parametrize(
    "answer, letter, status",
    [
        (PROMPT + "Answer: B", "B", "letter"),
        (PROMPT + "Answer: B. Berries", "B", "letter"),
        (PROMPT + "Berries", "B", "text"),
        (PROMPT, None, "no_letter"),  # the options list names every letter and chooses none
        (
            "What happens in the video?\nA. The cup\nB. Berries\nC. A pers",
            None,
            "no_letter",
        ),  # cut short by the token limit
        ("(A) The cup (B) Berries (C) A person opens the door (D) 7\nBest option: (C)", "C", "letter"),
        ("A. The cup\nB. Berries", None, "no_letter"),
        ("A. January\nB. June\nC. March\nD. February", None, "no_letter"),  # a list of its own, other texts: no choice
        ("A. January\nB. June\nAnswer: B", "B", "letter"),
    ],
)
def test_a_repeated_prompt_is_not_an_answer(answer, letter, status):
    extracted = extract_letter(answer, OPTIONS)
    assert (extracted.letter, extracted.status) == (letter, status)


def test_texts_that_differ_only_in_case():
    genotypes = (Option("A", "AA"), Option("B", "Aa"), Option("C", "aa"))
    assert [extract_letter(a, genotypes).letter for a in ("AA", "Aa", "aa", "B. Aa")] == ["A", "B", "C", "B"]


GENOTYPES = (Option("A", "FF"), Option("B", "Ff"), Option("C", "ff"))


# --- a second hostile round: a rejected letter, options that differ only in case inside a sentence,
# full-width letters ---
@pytest.mark.parametrize(
    "answer, options, letter, status",
    [
        # a letter the answer rejects is never the choice; the one other letter it affirms is
        ("A is not correct.", OPTIONS, None, "no_letter"),
        ("Option A is incorrect.", OPTIONS, None, "no_letter"),
        ("It can't be A.", OPTIONS, None, "no_letter"),
        ("The answer isn't B.", OPTIONS, None, "no_letter"),
        ("A is wrong, B is correct.", OPTIONS, "B", "letter"),
        ("(A) is incorrect; (B) is correct.", OPTIONS, "B", "letter"),  # the opening letter rejected: the next tier
        ("It is not A or B.", OPTIONS, None, "no_letter"),  # the negation covers the list
        ("A and C are wrong.", OPTIONS, None, "no_letter"),
        ("A is incorrect; the cup is missing.", OPTIONS, None, "no_letter"),  # nor is A chosen by its text
        ("Berries, not the cup.", OPTIONS, "B", "text"),  # an option rejected by its text, as by its letter
        ("Sample A is wrong.", SAMPLES, None, "no_letter"),
        ("The genotype is FF, not Ff.", GENOTYPES, "A", "text"),
        ("Answer: B. B does not contain a cup.", OPTIONS, "B", "letter"),  # what B is, not that B is wrong
        ("A. The cup is not visible", OPTIONS, "A", "letter"),  # the option's text is not the answer's verdict
        # options that differ only in case: the case the answer writes decides
        ("The genotype is Ff.", GENOTYPES, "B", "text"),
        ("Answer: ff", GENOTYPES, "C", "text"),
        ("The genotype is fF.", GENOTYPES, None, "ambiguous"),
        ("Answer: A", GENOTYPES, "A", "letter"),
        # full-width letters read as their letters
        ("Ｂ", OPTIONS, "B", "letter"),
        ("（Ｄ）", OPTIONS, "D", "letter"),
        ("答案：Ｂ", OPTIONS, "B", "letter"),
        ("ｔｈｅ ｃｕｐ", OPTIONS, "A", "text"),
    ],
)
def test_rejected_cased_and_full_width(answer, options, letter, status):
    extracted = extract_letter(answer, options)
    assert (extracted.letter, extracted.status) == (letter, status)


# --- a third round: self-corrections and letters labelled with a verdict, read as the answer's last word ---
@pytest.mark.parametrize(
    "answer, letter, status",
    [
        ("Answer: A. Wait, no, B.", "B", "letter"),
        ("The answer is A? No, B.", "B", "letter"),
        ("Answer: A\nCorrection: B", "B", "letter"),
        ("I first thought A, but it's B", "B", "letter"),
        ("Answer: A (wrong) B (right)", "B", "letter"),
        ("A: no. B: yes.", "B", "letter"),
        ("A) no B) yes", "B", "letter"),
        ("A - incorrect\nB - correct", "B", "letter"),
        ("Answer: B\nA is wrong", "B", "letter"),  # "A" opening a line is not the article of "A is wrong"
        # a cue the words after it fill with no letter leaves the first reading;
        # a label that starts a description is none
        ("Answer: A. No, B is wrong.", "A", "letter"),
        ("A, but it's not B", "A", "letter"),
        ("Answer: A. No doubt about it.", "A", "letter"),
        ("B rather than A", "B", "letter"),
        ("A: No cup is shown.", "A", "letter"),
        ("A (wrong)", None, "no_letter"),
    ],
)
def test_self_corrections_and_verdict_labels(answer, letter, status):
    extracted = extract_letter(answer, OPTIONS)
    assert (extracted.letter, extracted.status) == (letter, status)


YES_NO = (Option("A", "yes"), Option("B", "no"))
ANIMALS = (Option("A", "a cup"), Option("B", "a dog"), Option("C", "a cat"))


# --- "no" as the determiner of a noun is not the answer "no", and an option's text under it is not stated. Before,
# "I have no idea" read as the option "no" (counted correct whenever the gold was "no"), and "no dog" as "a dog" ---
@pytest.mark.parametrize(
    "answer, options, letter, status",
    [
        ("I have no idea", YES_NO, None, "no_letter"),
        ("There is no way to tell", YES_NO, None, "no_letter"),
        ("There's no answer", YES_NO, None, "no_letter"),
        ("no information is given", YES_NO, None, "no_letter"),
        ("no clue", YES_NO, None, "no_letter"),
        ("No dogs are shown.", YES_NO, None, "no_letter"),
        ("Yes, no doubt.", YES_NO, "A", "text"),  # was ambiguous: "no doubt" does not say "no"
        ("no dog", ANIMALS, None, "no_letter"),
        ("There is no dog in the video.", ANIMALS, None, "no_letter"),
        ("A cat, no dog.", ANIMALS, "C", "text"),
        # "no" before punctuation, a line's end, a pronoun, an article or another "no" is still the answer
        ("No.", YES_NO, "B", "text"),
        ("no", YES_NO, "B", "text"),
        ("No, it is not.", YES_NO, "B", "text"),
        ("The answer is no", YES_NO, "B", "text"),
        ("no, the man is not running", YES_NO, "B", "text"),
        ("No the man is not running.", YES_NO, "B", "text"),
        ("No it is not", YES_NO, "B", "text"),
        ("no no", YES_NO, "B", "text"),
        ("No\nExplanation: there is none.", YES_NO, "B", "text"),
        ("There are no dogs, so no.", YES_NO, "B", "text"),
        ("Yes, it is.", YES_NO, "A", "text"),
        ("a dog", ANIMALS, "B", "text"),
        ("It is a dog.", ANIMALS, "B", "text"),
        ("No. A dog.", ANIMALS, "B", "text"),
        ("A: No cup is shown.", OPTIONS, "A", "letter"),  # a letter is not rejected by a "no" describing it
    ],
)
def test_no_before_a_noun_is_not_the_answer_no(answer, options, letter, status):
    extracted = extract_letter(answer, options)
    assert (extracted.letter, extracted.status) == (letter, status)


def test_a_cue_inside_an_option_text_is_not_a_correction():
    options = (Option("A", "Wait for the bus"), Option("B", "No, never"), Option("C", "Run"))
    assert [
        extract_letter(a, options).letter
        for a in ("A. Wait for the bus", "Answer: B. No, never", "Answer: A. Wait, no, C.")
    ] == ["A", "B", "C"]


COLOURS = tuple(
    Option(letter, text)
    for letter, text in zip("ABCD", ("a red ball", "the blue car", "a green tree", "the yellow sun"))
)


@pytest.mark.parametrize(
    "answer, status",
    [
        ("A. B. C. D.", "ambiguous"),
        ("(A) (B) (C) (D)", "ambiguous"),
        ("A) B) C) D)", "ambiguous"),
        ("(A)(B)", "ambiguous"),
        ("B. C.", "ambiguous"),
        ("B. Or C.", "ambiguous"),  # as "B. or C." already was
        ("Answer: A B C D", "ambiguous"),
        ("Answer: (A) (B)", "ambiguous"),
        ("a) b) c) d)", "ambiguous"),
        ("A.\nB.\nC.\nD.", "no_letter"),  # bare lettered lines: a list of its own (rule 1), taken out
        ("(A)\n(B)", "no_letter"),
        ("Answer: (A)\n(B)\n(C)\n(D)", "no_letter"),  # the cue's letter is the list's first item
        ("Answer: A.\nB.\nC.\nD.", "no_letter"),
        ("A. B. C. D.\nI think it's B.", "ambiguous"),  # the run ends its line: a list, in the opening tier
        ("(A) (B) (C) (D)\nI think it's B.", "ambiguous"),
        ("B.\nC.\nD.", "no_letter"),  # every lettered line bare: a list
    ],
)
def test_bare_letters_in_a_row_are_a_list_never_the_first_letter(answer, status):
    """Bare letters separated by full stops, brackets, spaces after a cue or line breaks were read as their first
    letter (``A. B. C. D.`` was A): a degenerate model repeating the letters was scored right on every gold-A
    question, and "A B C D", "A, B, C, D" were ambiguous all the while."""
    assert extract_letter(answer, COLOURS) == Extracted(None, status)


@pytest.mark.parametrize(
    "answer, letter",
    [
        ("C. A is wrong", "C"),
        ("(B). (C) is wrong", "B"),
        ("The answer is A. B is wrong.", "A"),
        ("Answer: B. C is incorrect", "B"),
        ("B. C. elegans would not fit.", "B"),
        ("B. I think so.", "B"),
        ("A.\nB.\nC.\nD.\nAnswer: C", "C"),  # the list taken out, the answer after it read
        ("C. Actually, B is also possible.", "C"),
    ],
)
def test_a_letter_followed_by_a_sentence_is_not_listed(answer, letter):
    """The list rule must not swallow a second letter that a sentence is about: rejected, it stays rejected alone."""
    assert extract_letter(answer, COLOURS) == Extracted(letter, "letter")


ANIMALS = (Option("A", "the cat"), Option("B", "the dog"), Option("C", "the bird"), Option("D", "a fish"))


@pytest.mark.parametrize(
    "answer, letter",
    [
        ("B.\nC. is wrong because the bird is not shown.", "B"),
        ("B)\nC) the bird is wrong", "B"),
        ("(B)\n(C) is wrong.", "B"),
        ("A.\nB. The dog is not shown, so A.", "A"),
        ("B.\nC. is wrong.\nD. is wrong.", "B"),  # the lines after the answer, a list of their own, are cut
        ("A.\nB. January\nC. June", "A"),
    ],
)
def test_a_bare_answer_line_before_lines_with_sentences_is_the_answer(answer, letter):
    """A bare answer line ("B.") followed by a lettered line judging another option was cut with it as a list of
    letters, so the answer read as no letter (before bare lines counted as list items, it read right)."""
    assert extract_letter(answer, ANIMALS) == Extracted(letter, "letter")


@pytest.mark.parametrize(
    "answer, letter",
    [
        ("B. C, D are wrong.", "B"),
        ("Answer: B.  A, C, D: wrong", "B"),
    ],
)
def test_bare_letters_followed_by_words_are_an_answer_and_a_remark(answer, letter):
    """Bare letters were a list wherever they stood, so in "B. C, D are wrong." B was listed with C and D and
    rejected with them (no letter), and "Answer: B.  A, C, D: wrong" was ambiguous: a run is a list only when it
    ends its line."""
    assert extract_letter(answer, ANIMALS) == Extracted(letter, "letter")


@pytest.mark.parametrize(
    "answer",
    [
        "A. B. C. D. None of these",
        "(A) (B) (C) (D) all fit",
        "A, B, C, D are wrong",
        "D. C. B. A. None of these",
        "a. b. c. d. none of these",
        "B. C. D. None of these",
        "A. B. D. None of these",
        "A. B. I am not sure.",
        "B. C. I don't know which one.",
        "A. B. I think so.",
        "C. D. Neither.",
        "A. B. Both are possible.",
        "A. B. none of these",
    ],
)
def test_letters_listed_before_words_that_choose_nothing_choose_nothing(answer):
    """Words after a run of bare letters made its first letter the answer ("B. C, D are wrong." is B), so "A. B. C.
    D. None of these" and "B. C. I don't know which one." read as their first letter: only a verdict on the others
    keeps that reading (a re-check found the first mend of the list rule still flattered these)."""
    assert extract_letter(answer, COLOURS) == Extracted(None, "no_letter")
    assert not [row["answer"] for row in TABLE if "reads" in row]  # no known misread is kept in the table


# --- the table: 777 hand-labelled answers (tests/fvlm_eval/answer_table.jsonl): the shapes models write, 85 written
# after the rule was settled ("held_out"), 90 real SmolLM2-135M-Instruct answers ("smollm2_real", from
# benchmarks/real_smollm2.py --placement balanced), and 32 lists of bare letters and answers with remarks
# ("letter_list"), each labelled with the option the answer chooses, or null; a row the rule misreads keeps its label
# and says what the rule reads ("reads"), a miss the docs count ---
TABLE = [
    json.loads(line) for line in (Path(__file__).parent / "answer_table.jsonl").read_text(encoding="utf-8").splitlines()
]


def _options(texts: list[str]) -> tuple[Option, ...]:
    return tuple(Option("ABCDEFGHIJ"[i], text) for i, text in enumerate(texts))


def test_the_table_covers_every_class_of_answer():
    classes = Counter(row["class"] for row in TABLE)
    assert len(TABLE) >= 300 and min(classes.values()) >= 15, classes
    assert {
        "capital_in_option_text",
        "A_letter_or_article",
        "quoted_letter",
        "not_a_choice",
        "lowercase_after_cue",
        "repeated_prompt",
        "numeric",
        "babble",
        "held_out",
        "smollm2_real",
        "rejected_letter",
        "case_only_options",
        "full_width",
        "self_correction",
        "verdict_label",
        "letter_list",
    } <= set(classes)
    assert sum(row["expected"] is None for row in TABLE) >= 60  # the reader must also know when there is no answer


@pytest.mark.parametrize("row", TABLE, ids=[f"{n + 1}-{row['class']}" for n, row in enumerate(TABLE)])
def test_the_table_row_by_row(row):
    assert extract_letter(row["answer"], _options(row["options"])).letter == row.get("reads", row["expected"])
