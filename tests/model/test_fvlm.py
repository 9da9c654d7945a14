"""The three modes against a plain re-computation written from the spec's description."""

from __future__ import annotations

import math

import pytest
import torch

from fvlm_model import MODES
from fvlm_model.dino_names import attention_projections
from tests.conftest import TINY_IMAGE, tiny_model

torch.set_grad_enabled(False)


def reference_kv(model, pixels):
    """Each layer's key(norm1(h)) and value(norm1(h)) of its input h, from stock DINOv2's hidden states."""
    dino = model.encoder.dino
    hidden_states = dino(pixel_values=pixels, output_hidden_states=True).hidden_states
    kv = []
    for layer, h in zip(dino.encoder.layer, hidden_states):
        proj = attention_projections(layer)
        normed = layer.norm1(h)
        kv.append((proj.key(normed), proj.value(normed)))
    return kv


def plain_attention(q, k, v, heads):
    """softmax(QK^T / sqrt(d)) V over heads, written out."""
    n, lq, dim = q.shape
    d = dim // heads

    def split(x):
        return x.view(n, x.shape[1], heads, d).transpose(1, 2)

    weights = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(d), dim=-1)
    return (weights @ split(v)).transpose(1, 2).reshape(n, lq, dim)


def reference_query(model, query, kv):
    dino = model.encoder.dino
    q = model.encoder.query_input_proj(query).unsqueeze(1)
    for layer, (k, v) in zip(dino.encoder.layer, kv):
        proj = attention_projections(layer)
        a = plain_attention(proj.query(layer.norm1(q)), k, v, dino.config.num_attention_heads)
        q = q + layer.layer_scale1(proj.output(a))
        q = q + layer.layer_scale2(layer.mlp(layer.norm2(q)))
    token = model.encoder.output_proj(dino.layernorm(q)).squeeze(1)
    return model.dino_to_llm(token) * model.visual_scale


def final_hidden(model, embeds):
    return model.llm(inputs_embeds=embeds, output_hidden_states=True).hidden_states[-1]


def reference_visual(model, frames, mode):
    """[T, llm_dim] visual tokens of one clip ``frames`` [T,3,H,W], computed naively."""
    n_frames = frames.shape[0]
    kv = reference_kv(model, frames)

    def per_frame(t):
        return [(k[t : t + 1], v[t : t + 1]) for k, v in kv]

    coarse = torch.cat([reference_query(model, model.q_static, per_frame(t)) for t in range(n_frames)])
    if mode == "coarse_only":
        return coarse
    if mode == "coarse_fine":
        hidden = final_hidden(model, coarse.unsqueeze(0))[0]
        queries = [model.q_init] + [model.llm_to_query(hidden[t : t + 1]) for t in range(n_frames - 1)]
        return torch.cat([reference_query(model, queries[t], per_frame(t)) for t in range(n_frames)])
    tokens = [reference_query(model, model.q_init, per_frame(0))]
    for t in range(1, n_frames):  # no KV cache: the whole sequence so far, every step
        hidden = final_hidden(model, torch.cat(tokens).unsqueeze(0))[0, -1:]
        tokens.append(reference_query(model, model.llm_to_query(hidden), per_frame(t)))
    return torch.cat(tokens)


def reference_logits(model, frames, input_ids, mode):
    visual = reference_visual(model, frames, mode)
    text = model.llm.get_input_embeddings()(input_ids)
    logits = model.llm(inputs_embeds=torch.cat([visual, text]).unsqueeze(0)).logits[0]
    return logits[frames.shape[0] :]


def clips(batch=2, n_frames=3, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n_frames, 3, TINY_IMAGE, TINY_IMAGE, generator=generator)


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_matches_plain_recomputation(model, mode):
    frames = clips()
    input_ids = torch.tensor([[1, 9690, 198, 2683, 359], [1, 4093, 198, 65, 47]])
    logits = model(frames, input_ids, mode=mode)["logits"]
    for b in range(frames.shape[0]):
        expected = reference_logits(model, frames[b], input_ids[b], mode)
        torch.testing.assert_close(logits[b], expected, atol=1e-5, rtol=1e-5)


def test_encode_matches_stock_dinov2(model):
    pixels = clips(1, 4)[0]
    kv = model.encode(pixels)
    for (key, value), (k, v) in zip(reference_kv(model, pixels), zip(kv.keys, kv.values)):

        def merge(x):
            return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1)

        torch.testing.assert_close(merge(k), key, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(merge(v), value, atol=1e-5, rtol=1e-5)


def test_single_frame_coarse_fine_equals_autoregressive(model):
    frames = clips(2, 1)
    input_ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    fine = model(frames, input_ids, mode="coarse_fine")["logits"]
    auto = model(frames, input_ids, mode="autoregressive")["logits"]
    coarse = model(frames, input_ids, mode="coarse_only")["logits"]
    torch.testing.assert_close(fine, auto, atol=1e-6, rtol=1e-6)
    assert (coarse - fine).abs().max() > 1e-4


def test_pass_one_over_visual_only_equals_visual_positions_of_full_pass(model):
    frames = clips(1, 4)[0]
    kv = model.encode(frames)
    coarse = model.visual_tokens(kv, 4, "coarse_only")
    text = model.llm.get_input_embeddings()(torch.tensor([[5, 6, 7, 8]]))
    alone = model.llm_hidden(coarse)
    full = model.llm_hidden(torch.cat([coarse, text], dim=1))[:, :4]
    torch.testing.assert_close(alone, full, atol=1e-6, rtol=1e-6)


def test_autoregressive_cached_equals_uncached(model):
    frames = clips(2, 4)
    kv = model.encode(frames.flatten(0, 1))
    cached = model.visual_tokens(kv, 4, "autoregressive")
    for b in range(2):
        torch.testing.assert_close(
            cached[b], reference_visual(model, frames[b], "autoregressive"), atol=1e-5, rtol=1e-5
        )


def test_loss_is_masked_mean_of_next_token_cross_entropy(model):
    frames = clips(1, 2)
    input_ids = torch.tensor([[1, 2, 3, 4]])
    loss_mask = torch.tensor([[0, 0, 1, 1]])
    out = model(frames, input_ids, loss_mask=loss_mask, mode="coarse_only")
    logprobs = out["logits"][0].log_softmax(-1)
    expected = -(logprobs[1, 3] + logprobs[2, 4]) / 2
    torch.testing.assert_close(out["loss"], expected)


def test_modes_differ_with_several_frames():
    model = tiny_model(seed=3)
    frames = clips(1, 3)
    ids = torch.tensor([[1, 2, 3]])
    results = [model(frames, ids, mode=mode)["logits"] for mode in MODES]
    assert (results[0] - results[1]).abs().max() > 1e-4
    assert (results[1] - results[2]).abs().max() > 1e-4


def test_harness_spells_the_modes_as_the_model_does():
    from fvlm_eval.models.fvlm import VARIANTS

    assert VARIANTS == MODES


@pytest.mark.parametrize("mode", MODES)
def test_copies_equal_the_frames_repeated(model, mode):
    """An image as 8 copies of one encoded frame: the same tokens as encoding the 8 frames."""
    image = clips(2, 1, seed=5)[:, 0]  # two distinct images [2,3,H,W]
    repeated = image.repeat_interleave(8, dim=0)
    expected = model.visual_tokens(model.encode(repeated), 8, mode)
    got = model.visual_tokens(model.encode(image), 8, mode, copies=8)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_several_queries_per_frame_are_independent(model):
    frames = clips(1, 2, seed=6)[0]
    kv = model.encode(frames)
    queries = torch.randn(2, 3, model.query_dim)
    together = model.encoder.query_attend(queries, kv)
    for q in range(3):
        alone = model.encoder.query_attend(queries[:, q], kv)
        torch.testing.assert_close(together[:, q], alone, atol=1e-6, rtol=1e-6)


def test_column_is_a_view_of_each_clips_frame(model):
    kv = model.encode(clips(1, 6, seed=7)[0])  # 2 clips of 3 frames, clip-major
    column = kv.column(2, 1)
    assert column.keys[0].data_ptr() == kv.keys[0][1].data_ptr()  # no copy
    torch.testing.assert_close(column.keys[0], kv.keys[0][[1, 4]])


def test_encode_in_chunks_equals_one_pass(model):
    frames = clips(1, 5, seed=8)[0]
    whole, chunked = model.encode(frames), model.encoder.encode(frames, chunk=2)
    for a, b in zip(whole.keys + whole.values, chunked.keys + chunked.values):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
