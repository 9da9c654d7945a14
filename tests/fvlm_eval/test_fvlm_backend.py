"""The fast scorer against a naive one (each option its own full forward), float32 on CPU."""

from __future__ import annotations

import pytest
import torch

from fvlm_eval.fvlm_backend import FVLMChoiceModel
from fvlm_eval.media import Clip
from fvlm_eval.scoring import PROTOCOLS, predict, protocol_scores
from fvlm_eval.types import MediaNote, ScoreRequest
from model import MODES
from tests.conftest import TINY_IMAGE

torch.set_grad_enabled(False)
SYSTEM = "You are a helpful AI assistant."


def make_clip(key, n_frames, seed, distinct=None):
    generator = torch.Generator().manual_seed(seed)
    distinct = n_frames if distinct is None else distinct
    pixels = torch.randn(distinct, 3, TINY_IMAGE, TINY_IMAGE, generator=generator)
    frame_map = tuple(i % distinct for i in range(n_frames))
    return Clip(key, pixels, frame_map, MediaNote(frame_map, n_frames))


QUESTIONS = [
    ScoreRequest("v1", "Which object was taken by the person?\nA. The clothes.\nB. The pillow.\nC. The shoe.\nD. The phone/camera.",
                 ("A. The clothes.", "B. The pillow.", "C. The shoe.", "D. The phone/camera.")),
    ScoreRequest("v1", "How many objects move?\nA. 2\nB. 0\nC. 1", ("A. 2", "B. 0", "C. 1")),
    ScoreRequest("v2", "Context: A long hint about maps and north.\nWhich of these states is farthest north?\nA. West Virginia\nB. Louisiana",
                 ("A. West Virginia", "B. Louisiana")),
    ScoreRequest("img", "Is it a cat?\nA. yes\nB. no\nC. not sure\nD. maybe\nE. never",
                 ("A. yes", "B. no", "C. not sure", "D. maybe", "E. never")),
]


def naive_option_logprobs(model, tokenizer, clip, request, mode):
    """Every option by its own forward over [frames; full chat text], written plainly."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": request.prompt}]
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
    prompt_ids = encode(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    frames = clip.pixels[list(clip.frame_map)].unsqueeze(0)
    result = []
    for answer in request.answers:
        full = encode(tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": answer}], tokenize=False))
        assert full[: len(prompt_ids)] == prompt_ids
        logits = model(frames, torch.tensor([full]), mode=mode)["logits"][0]
        logprobs = []
        for p in range(len(prompt_ids), len(full)):
            logprobs.append(logits[p - 1].log_softmax(-1)[full[p]].item())
        result.append((full[len(prompt_ids):], logprobs))
    return result


@pytest.fixture()
def clips():
    return {"v1": make_clip("v1", 4, 1), "v2": make_clip("v2", 4, 2), "img": make_clip("img", 8, 3, distinct=1)}


@pytest.mark.parametrize("mode", MODES)
def test_fast_path_equals_naive_path_for_every_protocol(model, tokenizer, clips, mode):
    scorer = FVLMChoiceModel(model, tokenizer)
    scorer.prepare(list(clips.values()))
    fast = scorer.score(QUESTIONS, mode)
    assert scorer.fallback_count == 0
    for request, options in zip(QUESTIONS, fast):
        naive = naive_option_logprobs(model, tokenizer, clips[request.clip_key], request, mode)
        for option, (ids, logprobs) in zip(options, naive):
            assert list(option.token_ids) == ids
            assert option.token_ids[-2:] == (2, 198)  # <|im_end|>, "\n": the template suffix
            assert option.n_text == len(ids) - 2
            torch.testing.assert_close(torch.tensor(option.logprobs), torch.tensor(logprobs), atol=1e-5, rtol=1e-5)
        letters = tuple(a[0] for a in request.answers)
        fast_scores = protocol_scores(letters, options)
        from fvlm_eval.types import OptionLogprobs

        naive_options = [OptionLogprobs(tuple(ids), tuple(lp), len(ids) - 2, tokenizer.decode([ids[0]]), 2) for ids, lp in naive]
        naive_scores = protocol_scores(letters, naive_options)
        for protocol in PROTOCOLS:
            assert fast_scores[protocol] is not None
            for letter in letters:
                assert abs(fast_scores[protocol][letter] - naive_scores[protocol][letter]) < 1e-5
            assert predict(protocol, fast_scores[protocol]) == predict(protocol, naive_scores[protocol])


@pytest.mark.parametrize("mode", MODES)
def test_question_alone_equals_question_in_mixed_batch(model, tokenizer, clips, mode):
    scorer = FVLMChoiceModel(model, tokenizer)
    scorer.prepare(list(clips.values()))
    batch = scorer.score(QUESTIONS, mode)
    for index, request in enumerate(QUESTIONS):
        alone = FVLMChoiceModel(model, tokenizer)
        alone.prepare([clips[request.clip_key]])
        (single,) = alone.score([request], mode)
        for a, b in zip(single, batch[index]):
            assert a.token_ids == b.token_ids
            torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=1e-5)


def test_replicated_image_encodes_once(model, tokenizer, clips):
    scorer = FVLMChoiceModel(model, tokenizer)
    scorer.prepare([clips["img"]])
    assert scorer.frames_encoded == 1
    kv, n_frames = scorer._kv["img"]
    assert n_frames == 8 and kv.n_frames == 8
    scorer.prepare([clips["img"]])  # already prepared: nothing more is encoded
    assert scorer.frames_encoded == 1


def test_prompt_not_a_token_prefix_falls_back_to_a_full_pass(model, tokenizer, clips):
    scorer = FVLMChoiceModel(model, tokenizer)
    scorer.prepare([clips["v1"]])
    request = QUESTIONS[1]
    (expected,) = scorer.score([request], "coarse_only")
    tokenized = scorer.tokens(request.prompt, request.answers)
    broken = type(tokenized)(tokenized.prompt, tokenized.fulls, tokenized.n_text, (True, False, True))
    scorer.tokens._cache[(request.prompt, request.answers)] = broken
    (fallback,) = scorer.score([request], "coarse_only")
    assert scorer.fallback_count == 1 and fallback[1].fallback and not fallback[0].fallback
    for a, b in zip(expected, fallback):
        torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=1e-5)
