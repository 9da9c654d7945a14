"""Visual tokens of clips of any frame layout, batched, against each clip's own ``visual_tokens``."""

from __future__ import annotations

import pytest
import torch

from fvlm_model import MODES, VisionKV
from fvlm_model.clip_tokens import autoregressive_tokens, cache_tensors, clip_tokens, coarse_pass
from tests.conftest import TINY_IMAGE

torch.set_grad_enabled(False)


def frames(n, seed):
    return torch.randn(n, 3, TINY_IMAGE, TINY_IMAGE, generator=torch.Generator().manual_seed(seed))


def alone(model, pixels, rows, mode):
    """One clip's tokens by the model's own path: its frames laid out one by one."""
    return model.visual_tokens(model.encode(pixels[list(rows)]), len(rows), mode)[0]


LAYOUTS = {
    "repeats and lengths differ": [(0, 0, 1, 2, 2), (3, 4), (5, 5, 5, 5, 5, 6)],
    "an image as 8 copies beside a video": [(0,) * 8, (1, 2, 3)],
    "regular, contiguous": [(0, 1, 2), (3, 4, 5)],
    "regular, images": [(0,) * 8, (1,) * 8, (2,) * 8],
    "some rows unused": [(1, 3), (4, 4, 2)],
    "one frame beside images": [(0,) * 8, (1,), (2,) * 3],
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_clip_equals_its_own_pass(model, mode, layout):
    rows = LAYOUTS[layout]
    pixels = frames(7, seed=3)
    together = clip_tokens(model, model.encode(pixels), rows, mode)
    for clip, tokens in zip(rows, together):
        assert tokens.shape[0] == len(clip)
        torch.testing.assert_close(tokens, alone(model, pixels, clip, mode), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_regular_clips_read_their_kv_in_place(model, mode, monkeypatch):
    copied = []
    original = VisionKV.select
    monkeypatch.setattr(VisionKV, "select", lambda self, index: copied.append(index) or original(self, index))
    clip_tokens(model, model.encode(frames(3, seed=4)), [(0,) * 8, (1,) * 8, (2,) * 8], mode)
    clip_tokens(model, model.encode(frames(6, seed=4)), [(0, 1, 2), (3, 4, 5)], mode)
    assert copied == []


def test_an_uneven_layout_steps_once_for_all_clips(model):
    steps = []
    original = model.llm_hidden
    model.llm_hidden = lambda embeds, **k: steps.append(embeds.shape) or original(embeds, **k)
    try:
        clip_tokens(model, model.encode(frames(7, seed=5)), LAYOUTS["repeats and lengths differ"], "autoregressive")
    finally:
        del model.llm_hidden
    assert [tuple(s[:2]) for s in steps] == [(3, 1)] * 5  # the longest clip's 6 frames: 5 LLM steps, all clips in each


def own_cache(model, tokens):
    """The LLM's keys, values and final hidden states over one clip's tokens [T, llm_dim] alone."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.llm.config)
    hidden = model.llm_hidden(tokens[None], cache=cache)[0]
    keys, values = cache_tensors(cache)
    return [k[0] for k in keys], [v[0] for v in values], hidden


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_coarse_pass_keeps_what_the_llm_computes_over_each_clip_alone(model, layout):
    rows = LAYOUTS[layout]
    pixels = frames(7, seed=3)
    for clip, made in zip(rows, coarse_pass(model, model.encode(pixels), rows)):
        tokens = alone(model, pixels, clip, "coarse_only")
        torch.testing.assert_close(made.tokens, tokens, atol=1e-5, rtol=1e-5)
        keys, values, hidden = own_cache(model, tokens)
        assert made.prefix.length == len(clip) and made.hidden.shape[0] == len(clip)
        torch.testing.assert_close(made.hidden, hidden, atol=1e-5, rtol=1e-5)
        for mine, theirs in zip((*made.prefix.keys, *made.prefix.values), (*keys, *values)):
            torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_an_image_runs_one_position_of_the_coarse_pass(model):
    lengths = []
    original = model.llm_hidden
    model.llm_hidden = lambda embeds, **k: lengths.append(embeds.shape[1]) or original(embeds, **k)
    try:
        coarse_pass(model, model.encode(frames(3, seed=4)), LAYOUTS["regular, images"])
    finally:
        del model.llm_hidden
    assert lengths == [1]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_autoregressive_loop_keeps_the_llms_keys_and_values_but_the_last_tokens(model, layout):
    rows = LAYOUTS[layout]
    pixels = frames(7, seed=3)
    for clip, (tokens, prefix) in zip(rows, autoregressive_tokens(model, model.encode(pixels), rows)):
        torch.testing.assert_close(tokens, alone(model, pixels, clip, "autoregressive"), atol=1e-5, rtol=1e-5)
        if len(clip) == 1:
            assert prefix is None
            continue
        keys, values, _ = own_cache(model, tokens[:-1])
        assert prefix.length == len(clip) - 1
        for mine, theirs in zip((*prefix.keys, *prefix.values), (*keys, *values)):
            torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)
