"""Protocols: how one question's per-token log-probabilities become a prediction.

Every number here is a natural log. Each option's answer tokens are the option text
``"{letter}. {text}"`` followed by the chat template's end-of-turn suffix (``<|im_end|>`` and
``"\\n"`` for SmolLM2); ``OptionLogprobs.n_text`` says how many are the text.

- ``reference`` (default; the public fVLM scorer, which produced the published figures): the
  mean over *all* answer tokens of the cross-entropy -log p, where a token equal to the pad id
  (SmolLM2's pad is ``<|im_end|>``) adds 0 to the sum but still counts in the denominator.
  Lowest wins.
- ``sum``: the summed log p of the option-text tokens only. Highest wins (lm-eval ``acc``).
- ``mean``: ``sum`` / number of option-text tokens. Highest wins.
- ``letter``: log p of the option's letter as the first answer token (one next-token
  distribution shared by all options). Highest wins; undefined (``None``) when an option's first
  answer token is not its bare letter.
Ties go to the earliest letter.
"""

from __future__ import annotations

from fvlm_eval.types import OptionLogprobs

PROTOCOLS = ("reference", "sum", "mean", "letter")
LOWER_IS_BETTER = {"reference"}


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


def protocol_scores(letters: tuple[str, ...], options: list[OptionLogprobs]) -> dict[str, dict[str, float] | None]:
    """protocol -> letter -> score (``None`` for a protocol that does not apply to this question)."""
    scores: dict[str, dict[str, float] | None] = {
        "reference": {l: reference_score(o) for l, o in zip(letters, options)},
        "sum": {l: sum_score(o) for l, o in zip(letters, options)},
        "mean": {l: mean_score(o) for l, o in zip(letters, options)},
    }
    letter = {l: letter_score(o, l) for l, o in zip(letters, options)}
    scores["letter"] = None if any(v is None for v in letter.values()) else letter
    return scores


def predict(protocol: str, scores: dict[str, float] | None) -> str | None:
    """The winning letter (ties: the earliest letter), or ``None`` when the protocol does not apply."""
    if not scores:
        return None
    sign = 1.0 if protocol in LOWER_IS_BETTER else -1.0
    return min(scores, key=lambda letter: (sign * scores[letter], letter))
