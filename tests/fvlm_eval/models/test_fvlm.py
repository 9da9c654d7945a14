"""The fVLM adapter's fast path against naive re-computations (each option its own full forward;
each generated token from a full forward without a cache), float32 on CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fvlm_eval.models.fvlm import FVLMAdapter, normalise
from fvlm_eval.protocols import PROTOCOLS
from fvlm_eval.scoring import predict, protocol_scores
from fvlm_eval.types import ChoiceRequest, Clip, GenerateRequest, Option, OptionLogprobs
from fvlm_model import MODES, VisionKV
from tests.conftest import TINY_IMAGE

torch.set_grad_enabled(False)
SYSTEM = "You are a helpful AI assistant."


def make_clip(key, n_frames, seed, distinct=None, kind="video"):
    generator = np.random.default_rng(seed)
    distinct = n_frames if distinct is None else distinct
    frames = generator.integers(0, 256, (distinct, TINY_IMAGE, TINY_IMAGE, 3), dtype=np.uint8)
    frame_map = tuple(i % distinct for i in range(n_frames))
    timestamps = None if kind == "image" else tuple(float(i) for i in frame_map)
    return Clip(key, kind, frames, frame_map, frame_map, timestamps, n_frames)


def options(*texts):
    return tuple(Option("ABCDE"[i], text) for i, text in enumerate(texts))


QUESTIONS = [
    ChoiceRequest(
        "v1",
        "Which object was taken by the person?\nA. The clothes.\nB. The pillow.\nC. The shoe.\nD. The phone/camera.",
        options("The clothes.", "The pillow.", "The shoe.", "The phone/camera."),
    ),
    ChoiceRequest("v1", "How many objects move?\nA. 2\nB. 0\nC. 1", options("2", "0", "1")),
    ChoiceRequest(
        "v2",
        "Context: A long hint about maps and north.\nWhich of these states is farthest north?\nA. West Virginia\nB. "
        "Louisiana",
        options("West Virginia", "Louisiana"),
    ),
    ChoiceRequest(
        "img",
        "Is it a cat?\nA. yes\nB. no\nC. not sure\nD. maybe\nE. never",
        options("yes", "no", "not sure", "maybe", "never"),
    ),
    ChoiceRequest("dup", "Same frame twice?\nA. yes\nB. no", options("yes", "no")),
]


def pixels_of(clip):
    """The clip's T frames as the release's scorer shows them, [1,T,3,H,W]: nanoSmol's ``prepare_frames_tensor``
    repeats any one-frame input (an image, a video sampled to one) to 8 frames."""
    frames = normalise(clip.frames[list(clip.frame_map)])
    return (frames.repeat(8, 1, 1, 1) if frames.shape[0] == 1 else frames).unsqueeze(0)


def chat(tokenizer, prompt, answer=None):
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def naive_option_logprobs(model, tokenizer, clip, request, mode):
    """Every option by its own forward over [frames; full chat text], written plainly."""
    prompt_ids = chat(tokenizer, request.prompt)
    result = []
    for option in request.options:
        full = chat(tokenizer, request.prompt, option.answer)
        assert full[: len(prompt_ids)] == prompt_ids
        logits = model(pixels_of(clip), torch.tensor([full]), mode=mode)["logits"][0]
        logprobs = [logits[p - 1].log_softmax(-1)[full[p]].item() for p in range(len(prompt_ids), len(full))]
        result.append((full[len(prompt_ids) :], logprobs))
    return result


@pytest.fixture()
def clips():
    return {
        "v1": make_clip("v1", 4, 1),
        "v2": make_clip("v2", 4, 2),
        "img": make_clip("img", 1, 3, kind="image"),
        "dup": make_clip("dup", 4, 4, distinct=2),
    }


@pytest.mark.parametrize("mode", MODES)
def test_fast_path_equals_naive_path_for_every_protocol(model, tokenizer, clips, mode):
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))
    fast = scorer.score(QUESTIONS, mode)
    assert scorer.fallback_count == 0
    for request, result in zip(QUESTIONS, fast):
        assert result.error is None and len(result.prompt_sha256) == 64
        naive = naive_option_logprobs(model, tokenizer, clips[request.clip_key], request, mode)
        for option, (ids, logprobs) in zip(result.options, naive):
            assert list(option.token_ids) == ids
            assert option.token_ids[-2:] == (2, 198)  # <|im_end|>, "\n": the template suffix
            assert option.n_text == len(ids) - 2
            torch.testing.assert_close(torch.tensor(option.logprobs), torch.tensor(logprobs), atol=1e-5, rtol=1e-5)
        letters = tuple(o.letter for o in request.options)
        texts = tuple(o.text for o in request.options)
        fast_scores = protocol_scores(letters, texts, list(result.options))
        naive_options = [
            OptionLogprobs(tuple(ids), tuple(lp), len(ids) - 2, o.own_text, tokenizer.decode([ids[0]]), 2)
            for (ids, lp), o in zip(naive, result.options)
        ]
        naive_scores = protocol_scores(letters, texts, naive_options)
        for protocol in PROTOCOLS:
            assert fast_scores[protocol] is not None
            for letter in letters:
                assert abs(fast_scores[protocol][letter] - naive_scores[protocol][letter]) < 1e-5
            assert predict(protocol, fast_scores[protocol]) == predict(protocol, naive_scores[protocol])


@pytest.mark.parametrize("mode", MODES)
def test_question_alone_equals_question_in_mixed_batch(model, tokenizer, clips, mode):
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))
    batch = scorer.score(QUESTIONS, mode)
    for index, request in enumerate(QUESTIONS):
        alone = FVLMAdapter(model, tokenizer)
        alone.load_clips([clips[request.clip_key]])
        (single,) = alone.score([request], mode)
        for a, b in zip(single.options, batch[index].options):
            assert a.token_ids == b.token_ids
            torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=1e-5)


def test_image_encodes_once_and_its_kv_is_never_copied(model, tokenizer, clips):
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips([clips["img"]])
    assert scorer.frames_encoded == 1
    assert scorer._layouts["img"].rows == (0,) * 8
    copied = []
    original = VisionKV.select
    VisionKV.select = lambda self, index: copied.append(index) or original(self, index)
    try:
        for mode in MODES:
            scorer.score([ChoiceRequest("img", "What is shown?\nA. a\nB. b", options("a", "b"))], mode)
    finally:
        VisionKV.select = original
    assert copied == []  # eight copies of one frame: its K/V read in place in every mode
    scorer.load_clips([clips["img"]])  # already loaded: nothing more is encoded
    assert scorer.frames_encoded == 1
    scorer.forget_clips(["img"])
    assert not scorer._batches and not scorer._layouts


def test_prompt_not_a_token_prefix_falls_back_to_a_full_pass(model, tokenizer, clips):
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips([clips["v1"]])
    request = QUESTIONS[1]
    (expected,) = scorer.score([request], "coarse_only")
    tokenized = scorer.tokens.choice(request.prompt, request.options)
    broken = type(tokenized)(
        tokenized.prompt,
        tokenized.fulls,
        tokenized.n_text,
        tokenized.own_text,
        (True, False, True),
        tokenized.prompt_sha256,
    )
    scorer.tokens._cache[(request.prompt, request.options)] = broken
    (fallback,) = scorer.score([request], "coarse_only")
    assert scorer.fallback_count == 1 and fallback.options[1].fallback and not fallback.options[0].fallback
    for a, b in zip(expected.options, fallback.options):
        torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_generation_equals_naive_greedy_decoding(model, tokenizer, clips, mode):
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))
    requests = [
        GenerateRequest(r.clip_key, r.prompt, max_new_tokens=limit)
        for r, limit in ((QUESTIONS[0], 5), (QUESTIONS[3], 3))
    ]
    fast = scorer.generate(requests, mode)
    for request, result in zip(requests, fast):
        ids = chat(tokenizer, request.prompt)
        new = []
        for _ in range(request.max_new_tokens):  # no cache: the whole sequence every step
            logits = model(pixels_of(clips[request.clip_key]), torch.tensor([ids + new]), mode=mode)["logits"][0, -1]
            token = int(logits.argmax())
            if token == 2:
                break
            new.append(token)
        assert result.error is None and result.new_tokens == len(new)
        assert result.text == tokenizer.decode(new, skip_special_tokens=True)


def test_a_question_longer_than_the_context_fails_alone(model, tokenizer, clips):
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))
    huge = ChoiceRequest("v2", "word " * 1200 + "\nA. yes\nB. no", options("yes", "no"))
    results = scorer.score([QUESTIONS[0], huge, QUESTIONS[2]], "coarse_fine")
    assert results[0].error is None and results[2].error is None
    assert "does not fit the model's context" in results[1].error and "> 1024" in results[1].error
    (generated,) = scorer.generate([GenerateRequest("v2", huge.prompt)], "coarse_fine")
    assert "does not fit" in generated.error


CLOZE = [
    ("v1", "Question: Which object was taken by the person?", ("The clothes.", "The pillow.", "The shoe.")),
    ("img", "Context: A long hint.\nQuestion: Is it a cat?", ("yes", "no", "not sure", "maybe")),
    ("dup", "Question: How many objects move?", ("2", "0", "1")),
]


def naive_cloze(model, tokenizer, clip, prompt, text, mode, framing):
    """One option by its own forward over [frames; prompt + answer], and the answer after the neutral
    prompt by the LLM alone (no frames), written plainly."""

    def encode(s):
        return tokenizer(s, add_special_tokens=False)["input_ids"]

    if framing == "plain":
        prompt_ids, neutral_ids, answer = encode(prompt + "\nAnswer:"), encode("Answer:"), encode(" " + text)
    else:
        prompt_ids, neutral_ids, answer = chat(tokenizer, prompt), chat(tokenizer, "Answer:"), encode(text)
    logits = model(pixels_of(clip), torch.tensor([prompt_ids + answer]), mode=mode)["logits"][0].log_softmax(-1)
    logprobs = [logits[len(prompt_ids) - 1 + j, t].item() for j, t in enumerate(answer)]
    plain = model.llm(input_ids=torch.tensor([neutral_ids + answer])).logits[0].log_softmax(-1)
    neutral = [plain[len(neutral_ids) - 1 + j, t].item() for j, t in enumerate(answer)]
    return answer, logprobs, neutral


@pytest.mark.parametrize("framing", ["plain", "chat"])
@pytest.mark.parametrize("mode", MODES)
def test_cloze_fast_path_equals_naive_path(model, tokenizer, clips, mode, framing):
    from fvlm_eval.protocols import CLOZE_PROTOCOLS
    from fvlm_eval.scoring import cloze_scores
    from fvlm_eval.types import ClozeRequest

    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))
    requests = [ClozeRequest(key, prompt, texts, framing) for key, prompt, texts in CLOZE]
    results = scorer.score_cloze(requests, mode)
    for request, result in zip(requests, results):
        assert result.error is None and len(result.prompt_sha256) == 64
        naive = [
            naive_cloze(model, tokenizer, clips[request.clip_key], request.prompt, t, mode, framing)
            for t in request.texts
        ]
        for ids, logprobs, neutral, (naive_ids, naive_logprobs, naive_neutral) in zip(
            result.token_ids, result.logprobs, result.neutral, naive
        ):
            assert list(ids) == naive_ids
            torch.testing.assert_close(torch.tensor(logprobs), torch.tensor(naive_logprobs), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(torch.tensor(neutral), torch.tensor(naive_neutral), atol=1e-5, rtol=1e-5)
        letters = "ABCD"[: len(request.texts)]
        scores = cloze_scores(request.texts, tuple(letters), list(result.logprobs), list(result.neutral))
        assert set(scores) == set(CLOZE_PROTOCOLS) and all(scores[p] for p in CLOZE_PROTOCOLS)
        total = sum(naive[0][1])
        assert scores["cloze_sum"]["A"] == pytest.approx(total, abs=1e-4)
        assert scores["cloze_token"]["A"] == pytest.approx(total / len(naive[0][0]), abs=1e-4)
        assert scores["cloze_byte"]["A"] == pytest.approx(total / len(request.texts[0].encode()), abs=1e-4)
        assert scores["cloze_pmi"]["A"] == pytest.approx(total - sum(naive[0][2]), abs=1e-4)


def test_cloze_neutral_prompt_is_computed_once_per_text(model, tokenizer, clips):
    from fvlm_eval.types import ClozeRequest

    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))
    first = scorer.score_cloze(
        [ClozeRequest("v1", "Question: one?", ("yes", "no")), ClozeRequest("dup", "Question: two?", ("no", "maybe"))],
        "coarse_only",
    )
    assert sorted(scorer._neutral) == [("plain", "maybe"), ("plain", "no"), ("plain", "yes")]
    assert first[0].neutral[1] == first[1].neutral[0]  # "no": one neutral pass for both questions
    trees = []
    original = scorer.lm.passes
    scorer.lm.passes = lambda packed, embeddings: trees.append(len(packed)) or original(packed, embeddings)
    scorer.score_cloze([ClozeRequest("v2", "Question: three?", ("yes", "maybe"))], "coarse_only")
    assert trees == [1]  # one pass, one tree (the question's): no neutral tree for texts already seen
    scorer.score_cloze([ClozeRequest("v2", "Question: three?", ("yes", "never"))], "coarse_only")
    assert trees[1:] == [2]  # a new text: its neutral tree beside the question's


def test_cloze_question_alone_equals_question_in_batch(model, tokenizer, clips):
    from fvlm_eval.types import ClozeRequest

    requests = [ClozeRequest(key, prompt, texts) for key, prompt, texts in CLOZE]
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))
    batch = scorer.score_cloze(requests, "coarse_fine")
    for request, together in zip(requests, batch):
        alone = FVLMAdapter(model, tokenizer)
        alone.load_clips([clips[request.clip_key]])
        (single,) = alone.score_cloze([request], "coarse_fine")
        assert single.token_ids == together.token_ids
        for a, b in zip(single.logprobs, together.logprobs):
            torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_both_formulations_in_one_pass_equal_each_question_alone(model, tokenizer, clips, mode):
    """One packed pass (a clip's questions, options and cloze texts in one prefix tree; clips of other
    lengths in other rows) gives each question what it gets scored alone, formulation by formulation."""
    from fvlm_eval.types import ClozeRequest

    choices = QUESTIONS + [ChoiceRequest("v1", "Same clip, another question?\nA. yes\nB. no", options("yes", "no"))]
    clozes = [ClozeRequest(key, prompt, texts) for key, prompt, texts in CLOZE]
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))
    packed_choices, packed_clozes = scorer.score_formulations(choices, clozes, mode)
    for request, together in zip(choices, packed_choices):
        alone = FVLMAdapter(model, tokenizer)
        alone.load_clips([clips[request.clip_key]])
        (single,) = alone.score([request], mode)
        for a, b in zip(single.options, together.options):
            assert a.token_ids == b.token_ids
            torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=1e-5)
    for request, together in zip(clozes, packed_clozes):
        alone = FVLMAdapter(model, tokenizer)
        alone.load_clips([clips[request.clip_key]])
        (single,) = alone.score_cloze([request], mode)
        assert single.token_ids == together.token_ids
        for a, b in zip(single.logprobs + single.neutral, together.logprobs + together.neutral):
            torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-5, rtol=1e-5)


def test_scoring_starts_after_the_visual_positions_a_mode_ran_already(model, tokenizer, clips, monkeypatch):
    """coarse_only's prefix is the coarse pass (run once for both coarse modes), the autoregressive one
    the loop's all but its last token: the packed passes start after them."""
    import fvlm_eval.models.lm as lm
    import fvlm_model.clip_tokens as made

    offsets, passes = {}, []
    packed, coarse_pass = lm.TextModel.passes, made.coarse_pass
    monkeypatch.setattr(
        lm.TextModel,
        "passes",
        lambda self, trees, *a: offsets.update({len(offsets): [t.offset for t in trees]}) or packed(self, trees, *a),
    )
    monkeypatch.setattr(
        "fvlm_eval.models.fvlm.coarse_pass", lambda m, kv, rows: passes.append(rows) or coarse_pass(m, kv, rows)
    )
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))
    frames = {key: (8 if clip.kind == "image" else clip.n_frames) for key, clip in clips.items()}
    questions = [q for q in QUESTIONS if q.clip_key != "v2"]
    kept = {  # per mode and clip: the visual positions whose K/V the mode kept
        "coarse_only": lambda t: t,  # the coarse pass
        "coarse_fine": lambda t: 0,  # its fine tokens never went through the LLM before scoring
        "autoregressive": lambda t: t - 1,  # the loop's, but the last token's
    }
    for index, mode in enumerate(kept):
        scorer.score(questions, mode)
        assert sorted(offsets[index]) == sorted(kept[mode](frames[k]) for k in {q.clip_key for q in questions}), mode
    assert len(passes) == 1 and len(passes[0]) == 3  # one coarse pass, for coarse_only and coarse_fine
    scorer.forget_clips(list(clips))
    assert not scorer._past and not scorer._coarse


def test_on_cpu_an_image_batch_is_twice_a_videos(model, tokenizer):
    """The autoregressive loop reads every LLM weight once a step for the whole batch: images (one
    frame, small K/V) share it among more clips."""
    adapter = FVLMAdapter(model, tokenizer)
    assert (adapter.suggested_batch_size(1), adapter.suggested_batch_size(16), adapter.suggested_batch_size(64)) == (
        32,
        16,
        16,
    )


def test_a_chat_template_that_cannot_be_used_is_one_line_naming_it(model_dir, tmp_path):
    """A garbage or broken chat_template.jinja failed as "an unexpected error: ValueError: substring not found"."""
    import shutil

    from fvlm_eval.models import load_model
    from fvlm_eval.models.base import ModelLoadError

    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    template = folder / "chat_template.jinja"
    for text, said in (
        ("garbage", "cannot be used as the chat template: it drops the text it is given (it renders 'garbage')"),
        ("{% for m in messages %}{{ m.content }", "cannot be used as the chat template (TemplateSyntaxError: "),
    ):
        template.write_text(text)
        with pytest.raises(ModelLoadError) as raised:
            load_model(str(folder), device="cpu")
        assert str(raised.value).startswith(f"{template}: {said}")
