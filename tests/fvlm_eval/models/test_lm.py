"""Packed option scoring given the decoder's keys and values over the media's first positions (``Past``):
equal to running those positions, float32 on CPU."""

from __future__ import annotations

import torch

from fvlm_eval.models.chat_tokens import continuations
from fvlm_eval.models.lm import Media, Past, TextModel, score_packed
from fvlm_model.clip_tokens import cache_tensors

torch.set_grad_enabled(False)


def text_model(model) -> TextModel:
    llm = model.llm
    return TextModel(llm.model, llm.lm_head, llm.get_input_embeddings(), llm.config.max_position_embeddings)


def media_of(lm: TextModel, visual: torch.Tensor, group: str, past_positions: int = 0) -> Media:
    """``visual`` [T, hidden] before the text; with the decoder's K/V over its first ``past_positions``."""
    past = None
    if past_positions:
        cache = lm.new_cache()
        lm.hidden(visual[None, :past_positions], cache=cache)
        keys, values = cache_tensors(cache)
        past = Past(tuple(k[0] for k in keys), tuple(v[0] for v in values))
    return Media(group, lambda ids: torch.cat([visual, lm.embed(ids)]), past)


def test_a_past_gives_what_running_its_positions_gives(model):
    lm = text_model(model)
    generator = torch.Generator().manual_seed(0)
    visual = {key: torch.randn(n, lm.config.hidden_size, generator=generator) * 0.1 for key, n in (("a", 6), ("b", 3))}
    questions = [
        ("a", (11, 12, 13), [(20, 21, 22), (20, 23), (24,)]),
        ("a", (), [(30, 31), (32,)]),  # an empty prompt: its first answer token is read at the media's last position
        ("b", (14, 15), [(40, 41), (42, 43, 44)]),
    ]

    def scored(past_positions):
        jobs = [
            (media_of(lm, visual[key], key, past_positions.get(key, 0)), continuations(prompt, answers, ""))
            for key, prompt, answers in questions
        ]
        return score_packed(lm, jobs)

    plain = scored({})
    for past in ({"a": 6, "b": 3}, {"a": 4, "b": 2}, {"a": 6}):
        given = scored(past)
        for mine, theirs in zip(given, plain):
            assert [len(v) for v in mine] == [len(v) for v in theirs]
            for a, b in zip(mine, theirs):
                torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-5, rtol=1e-5)


def test_the_positions_a_past_holds_are_not_run(model, monkeypatch):
    import fvlm_eval.models.lm as module

    lm = text_model(model)
    visual = torch.randn(5, lm.config.hidden_size) * 0.1
    nodes = []
    passes = module.TextModel.passes
    monkeypatch.setattr(
        module.TextModel,
        "passes",
        lambda self, trees, *a: nodes.append([len(t) for t in trees]) or passes(self, trees, *a),
    )
    for past in (0, 5):
        score_packed(lm, [(media_of(lm, visual, "clip", past), continuations((7, 8), [(9, 10), (11,)], ""))])
    assert nodes == [[5 + 2 + 1], [2 + 1]]  # media, prompt, the answers but their last tokens


def test_logprobs_in_vocabulary_blocks_are_the_log_softmax(model, monkeypatch):
    """Blocks of states and of the vocabulary (a target in every block, states read more than once) give
    the whole vocabulary's log-softmax; so does an ``lm_head`` that is not a plain linear map, run whole."""
    import fvlm_eval.models.lm as module

    monkeypatch.setattr(module, "LOGIT_ROWS", 3)
    monkeypatch.setattr(module, "LOGIT_COLUMNS", 1000)
    lm = text_model(model)
    vocab = lm.lm_head.out_features
    states = torch.randn(7, lm.config.hidden_size, generator=torch.Generator().manual_seed(3))
    place = [0, 0, 1, 2, 3, 4, 5, 6, 6, 2]
    targets = [0, vocab - 1, 999, 1000, 1500, vocab // 2, 7, 12, 2001, 4]
    expected = torch.log_softmax(lm.lm_head(states).float(), -1)[place, targets]
    torch.testing.assert_close(torch.tensor(lm.logprobs(states, place, targets)), expected, atol=1e-5, rtol=1e-5)
    lm.lm_head = torch.nn.Sequential(lm.lm_head)
    torch.testing.assert_close(torch.tensor(lm.logprobs(states, place, targets)), expected, atol=1e-5, rtol=1e-5)
    assert lm.logprobs(states, [], []) == []
