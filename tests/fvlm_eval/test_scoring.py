"""Protocols on hand-computed per-token log-probabilities."""

from __future__ import annotations

import pytest

from fvlm_eval.protocols import PROTOCOLS
from fvlm_eval.scoring import option_text_score, predict, protocol_scores, reference_score
from fvlm_eval.types import OptionLogprobs


def option(logprobs, n_text, own, first="A", ids=None):
    ids = ids or tuple(range(10, 10 + len(logprobs) - 2)) + (2, 198)
    return OptionLogprobs(tuple(ids), tuple(logprobs), n_text, own, first, pad_id=2)


def test_reference_protocol_pad_quirk():
    o = OptionLogprobs((49, 30, 1792, 2, 198), (-1.0, -2.0, -3.0, -9.0, -0.5), 3, (2, 3), "A", pad_id=2)
    assert reference_score(o) == pytest.approx((1 + 2 + 3 + 0 + 0.5) / 5)
    assert predict("reference", {"A": 1.0, "B": 1.0}) == "A" and predict("sum", {"A": -2.0, "B": -1.0}) == "B"


def test_every_protocol_by_hand():
    # answers "A. cat" and "B. elephant": tokens [letter, ".", text..., <|im_end|>, "\n"]
    a = option([-0.1, -0.2, -3.0, -0.5, -0.7], 3, (2, 3), "A")
    b = option([-2.0, -0.2, -1.0, -1.0, -0.5, -0.7], 4, (2, 4), "B")
    scores = protocol_scores(("A", "B"), ("cat", "elephant"), [a, b])
    assert scores["sum"] == {"A": pytest.approx(-3.3), "B": pytest.approx(-4.2)}
    assert scores["mean"] == {"A": pytest.approx(-1.1), "B": pytest.approx(-1.05)}
    assert scores["letter"] == {"A": -0.1, "B": -2.0}
    assert scores["option_text"] == {"A": -3.0, "B": -2.0}  # the letters' log-probs do not count
    assert scores["option_text_norm"] == {"A": pytest.approx(-1.0), "B": pytest.approx(-0.25)}  # per UTF-8 byte
    assert [predict(p, scores[p]) for p in ("sum", "letter", "option_text", "option_text_norm")] == ["A", "A", "B", "B"]
    assert set(scores) == set(PROTOCOLS)


def test_option_text_is_undefined_without_text_tokens():
    empty = option([-1.0, -1.0, -1.0, -1.0], 2, (0, 0))
    assert option_text_score(empty) is None
    scores = protocol_scores(("A", "B"), ("", "x"), [empty, option([-1.0, -1.0, -1.0, -1.0, -1.0], 3, (2, 3), "B")])
    assert scores["option_text"] is None and scores["option_text_norm"] is None and predict("option_text", None) is None


def test_letter_is_undefined_when_the_first_token_is_not_the_bare_letter():
    scores = protocol_scores(
        ("A", "B"), ("x", "y"), [option([-1.0] * 5, 3, (2, 3), "A."), option([-1.0] * 5, 3, (2, 3), "B")]
    )
    assert scores["letter"] is None


def test_option_text_norm_counts_bytes_not_characters():
    o = option([-0.1, -0.2, -4.0, -0.5, -0.7], 3, (2, 3))
    scores = protocol_scores(("A",), ("café",), [o])  # 5 bytes in UTF-8
    assert scores["option_text_norm"]["A"] == pytest.approx(-4.0 / 5)


def test_cloze_protocols_by_hand():
    from fvlm_eval.protocols import CLOZE_PROTOCOLS
    from fvlm_eval.scoring import cloze_scores

    # " Paris" (one token) and " Lyon city" (two), after the question and after the neutral "Answer:" alone
    scores = cloze_scores(("Paris", "Lyon city"), ("A", "B"), [(-1.0,), (-0.5, -1.5)], [(-3.0,), (-0.2, -0.3)])
    assert scores["cloze_sum"] == {"A": -1.0, "B": -2.0}
    assert scores["cloze_token"] == {"A": -1.0, "B": -1.0}
    assert scores["cloze_byte"] == {"A": pytest.approx(-1 / 5), "B": pytest.approx(-2 / 9)}
    assert scores["cloze_pmi"] == {"A": pytest.approx(2.0), "B": pytest.approx(-1.5)}
    assert [predict(p, scores[p]) for p in CLOZE_PROTOCOLS] == ["A", "A", "A", "A"]
    empty = cloze_scores(("Paris", " "), ("A", "B"), [(-1.0,), ()], [(-3.0,), ()])
    assert all(v is None for v in empty.values())


def test_formulations():
    from fvlm_eval.protocols import ALL_PROTOCOLS, FORMULATION_LABELS, formulation

    assert formulation("reference") == "multiple_choice" and formulation("cloze_pmi") == "cloze"
    assert formulation("generated") == "generated" and formulation("circular_generated") == "circular"
    assert formulation("circular_sum") == "circular" and formulation("permavg_reference") == "permutation_averaged"
    assert {formulation(p) for p in ALL_PROTOCOLS} == set(FORMULATION_LABELS)
    assert predict("permavg_reference", {"A": 2.0, "B": 1.0}) == "B"  # a cross-entropy averaged: lowest still wins
