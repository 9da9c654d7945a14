"""Protocols: how one question's per-token log-probabilities become a prediction.

Every number here is a natural log. Each option's answer tokens are ``"{letter}. {text}"``
followed by the chat template's end-of-turn suffix (``<|im_end|>`` and ``"\\n"`` for SmolLM2,
``<end_of_utterance>`` and ``"\\n"`` for SmolVLM2); ``OptionLogprobs.n_text`` says how many are
``"{letter}. {text}"`` and ``own_text`` which of them cover the option's own text.

- ``reference`` (default; the public fVLM scorer, which produced the published figures): the
  mean over *all* answer tokens of the cross-entropy -log p, where a token equal to the pad id
  (SmolLM2's pad is ``<|im_end|>``) adds 0 to the sum but still counts in the denominator.
  Lowest wins.
- ``sum``: the summed log p of the ``"{letter}. {text}"`` tokens. Highest wins.
- ``mean``: ``sum`` / their number. Highest wins.
- ``letter``: log p of the option's letter as the first answer token (one next-token
  distribution shared by all options). Highest wins; undefined (``None``) when an option's first
  answer token is not its bare letter.
- ``option_text``: the summed log p of the option's own text tokens only: not the letter, not
  ``". "``, not the template's suffix (each token still conditioned on everything before it,
  the letter included). Token boundary rule: a token counts when its characters overlap the
  text's, so ``" Apples"`` (the separating space fused with the text's start) counts and a lone
  ``" "`` before a digit does not. Highest wins (lm-evaluation-harness ``acc``).
- ``option_text_norm``: ``option_text`` / the text's length in UTF-8 bytes (lm-evaluation-harness
  ``acc_norm``). Highest wins. Both are undefined for a question with an empty option text.

The **cloze** formulation (``ClozeRequest``: the prompt holds the frames and the question, no
options; each option's text is scored as the answer, ``" {text}"`` after ``"Answer:"`` in the plain
framing). Highest wins:

- ``cloze_sum``: the summed log p of the text's tokens (lm-evaluation-harness ``acc``).
- ``cloze_token``: per token.
- ``cloze_byte``: per UTF-8 byte of the text (lm-evaluation-harness ``acc_norm``).
- ``cloze_pmi``: ``cloze_sum`` minus the same tokens' summed log p after the neutral prompt
  ``"Answer:"`` alone, without media (pointwise mutual information; Holtzman et al., 2021).

With ``--circular`` (MMBench's CircularEval), each question is also asked with its options
rotated through every position: ``circular_<p>`` is right only when protocol ``p`` picks the gold
option in every rotation (its prediction: the option chosen in all of them, else none);
``permavg_<p>`` picks the option whose score, averaged over its positions, is best.

Ties go to the earliest letter. Options whose texts are identical are one answer said twice: in
the cloze formulation (which scores the text alone) they cannot be told apart, so its prediction
names the gold when the gold is one of them, else the last of them (``same_answers``; MVBench's gold
takes the last candidate equal to the answer, NExT-QA's or EgoSchema's index may name the first):
choosing the gold's text is right, whichever twin the benchmark's answer names. The multiple-choice
protocols score letters, and keep the letter chosen (as the official scorers do).
"""

from __future__ import annotations

from fvlm_eval.protocols import CLOZE_PROTOCOLS, lower_is_better
from fvlm_eval.types import OptionLogprobs


def reference_score(option: OptionLogprobs) -> float:
    """Mean cross-entropy over all answer tokens; pad-id tokens contribute 0 but are counted."""
    losses = [0.0 if token == option.pad_id else -logprob for token, logprob in zip(option.token_ids, option.logprobs)]
    return sum(losses) / len(losses)


def sum_score(option: OptionLogprobs) -> float:
    return float(sum(option.logprobs[: option.n_text]))


def mean_score(option: OptionLogprobs) -> float:
    return sum_score(option) / max(option.n_text, 1)


def letter_score(option: OptionLogprobs, letter: str) -> float | None:
    return option.logprobs[0] if option.first_token.strip() == letter else None


def option_text_score(option: OptionLogprobs) -> float | None:
    start, end = option.own_text
    return float(sum(option.logprobs[start:end])) if end > start else None


def protocol_scores(
    letters: tuple[str, ...], texts: tuple[str, ...], options: list[OptionLogprobs]
) -> dict[str, dict[str, float] | None]:
    """protocol -> letter -> score (``None`` for a protocol that does not apply to this question).

    ``texts``: each option's own text (its length in bytes normalises ``option_text_norm``).
    """
    scores: dict[str, dict[str, float] | None] = {
        "reference": {letter: reference_score(o) for letter, o in zip(letters, options)},
        "sum": {letter: sum_score(o) for letter, o in zip(letters, options)},
        "mean": {letter: mean_score(o) for letter, o in zip(letters, options)},
    }
    first = {letter: letter_score(o, letter) for letter, o in zip(letters, options)}
    scores["letter"] = None if any(v is None for v in first.values()) else first
    own = {letter: option_text_score(o) for letter, o in zip(letters, options)}
    defined = all(v is not None for v in own.values()) and all(texts)
    scores["option_text"] = own if defined else None
    scores["option_text_norm"] = (
        {letter: own[letter] / len(t.encode("utf-8")) for letter, t in zip(letters, texts)} if defined else None
    )
    return scores


def cloze_scores(
    texts: tuple[str, ...],
    letters: tuple[str, ...],
    logprobs: list[tuple[float, ...]],
    neutral: list[tuple[float, ...]],
) -> dict[str, dict[str, float] | None]:
    """cloze protocol -> letter -> score, from each text's answer-token log-probs after the question
    and after the neutral prompt; ``None`` for every one when an option's text is empty."""
    if not letters or not all(t.strip() for t in texts) or not all(logprobs):
        return {p: None for p in CLOZE_PROTOCOLS}
    summed = [float(sum(v)) for v in logprobs]
    return {
        "cloze_sum": dict(zip(letters, summed)),
        "cloze_token": {letter: s / len(v) for letter, s, v in zip(letters, summed, logprobs)},
        "cloze_byte": {letter: s / len(t.encode("utf-8")) for letter, s, t in zip(letters, summed, texts)},
        "cloze_pmi": {letter: s - float(sum(n)) for letter, s, n in zip(letters, summed, neutral)},
    }


def same_answers(letters: tuple[str, ...], texts: tuple, gold: str | None = None) -> dict[str, str]:
    """letter -> the letter that names its answer in the cloze formulation: ``gold`` when it has the
    same text, else the last option with the same text (identical texts have identical cloze answer
    tokens, so the rule is recomputable from a record's ``cloze`` block and its ``gold``)."""
    named = dict(zip(texts, letters))
    if gold in letters:
        named[texts[letters.index(gold)]] = gold
    return {letter: named[text] for letter, text in zip(letters, texts)}


def predict(protocol: str, scores: dict[str, float] | None, same: dict[str, str] | None = None) -> str | None:
    """The winning letter (ties: the earliest letter), or ``None`` when the protocol does not apply;
    ``same``: each letter's stand-in (``same_answers``), for the cloze protocols."""
    if not scores:
        return None
    sign = 1.0 if lower_is_better(protocol) else -1.0
    best = min(scores, key=lambda letter: (sign * scores[letter], letter))
    return same[best] if same else best
