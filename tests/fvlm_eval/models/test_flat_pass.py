"""Prefix trees run flat: segments that see exactly their ancestors, and every node's hidden state what
its prefix gives through the decoder's own forward (float32, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fvlm_eval.models import flat_pass
from fvlm_eval.models.chat_tokens import continuations
from fvlm_eval.models.flat_pass import FlatDecoder, flat_calls, segments_of
from fvlm_eval.models.lm import score_packed
from fvlm_eval.models.prefix_tree import Tree
from tests.fvlm_eval.models.test_lm import media_of, text_model

torch.set_grad_enabled(False)


def clip_tree(prompts: dict[str, int], answers: int) -> Tree:
    """A clip's tree as the packed pass makes it: after the media, per prompt (its first token and its
    length) ``answers`` answers of 3 tokens that share their first."""
    tree = Tree()
    for sequence, (first, length) in enumerate(prompts.items()):
        prompt = [first] + [f"{first}{i}" for i in range(1, length)]
        for a in range(answers):
            tree.insert(["m0", "m1", *prompt, "A", f"x{a}", f"y{a}"], sequence)
    return tree


def ancestors(tree: Tree, node: int) -> list[int]:
    out = []
    while tree.parents[node] >= 0:
        node = tree.parents[node]
        out.append(node)
    return sorted(out)


@pytest.mark.parametrize("below", [1, 4, 32, 1000])
def test_every_node_is_in_one_segment_that_sees_its_ancestors(monkeypatch, below):
    monkeypatch.setattr(flat_pass, "SEGMENT_BELOW", below)
    tree = clip_tree({"mc": 40, "cloze": 20, "q3": 5}, answers=3)
    made = segments_of(tree)
    nodes = [n for queries, _ in made for n in queries]
    assert sorted(nodes) == list(range(len(tree)))  # each node once
    placed = set()
    for queries, above in made:
        assert set(above) <= placed  # a parent's segment comes before its children's
        for node in queries:
            assert set(ancestors(tree, node)) <= set(above) | set(queries)
        assert all(any(a in ancestors(tree, q) for q in queries) for a in above)  # no keys it cannot use
        placed |= set(queries)


def test_a_clips_prompts_attend_apart():
    """The media chain, then each large prompt with its small answers: a segment each; a small one
    joins the chain's segment."""
    tree = clip_tree({"mc": 40, "cloze": 30, "q3": 5}, answers=3)
    made = segments_of(tree)
    sizes = [(len(queries), len(above)) for queries, above in made]
    # the chain m0 m1 with the small prompt (5 + "A" + 3 x 2 nodes), then the two large ones after the chain
    assert sizes == [(2 + 12, 0), (40 + 1 + 6, 2), (30 + 1 + 6, 2)]


def test_flat_calls_hold_every_node_once_in_bounded_calls(monkeypatch):
    monkeypatch.setattr(flat_pass, "FLAT_POSITIONS", 100)
    trees = [clip_tree({"mc": n, "cloze": 10}, answers=2) for n in (30, 90, 10, 5)]
    embeddings = [torch.randn(200, 4) for _ in range(2)]
    made = flat_calls(trees, embeddings, torch.float32, "cpu")
    assert [c.trees for c in made] == [(0,), (1,), (2, 3)]  # 49 + 109 > 100; a tree over the bound alone
    for call in made:
        n = call.embeds.shape[1]
        assert n == sum(len(trees[t]) for t in call.trees)  # no padding
        spans = sorted((s.start, s.end) for s in call.segments)
        assert spans[0][0] == 0 and spans[-1][1] == n and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        for k, t in enumerate(call.trees):
            assert sorted(call.where[k].tolist()) == list(range(n))[call.where[k].min() : call.where[k].max() + 1]
            assert call.positions[0, call.where[k]].tolist() == trees[t].depths
            for node, (sequence, position) in enumerate(trees[t].sources):
                assert torch.equal(call.embeds[0, call.where[k][node]], embeddings[sequence][position])


def test_only_a_plain_llama_decoder_runs_flat(model):
    assert FlatDecoder.fits(model.llm.model)
    assert not FlatDecoder.fits(model.encoder.dino)  # not a Llama decoder
    model.llm.model.config.sliding_window = 4  # attends to fewer positions than its ancestors: not what we compute
    try:
        assert not FlatDecoder.fits(model.llm.model)
    finally:
        model.llm.model.config.sliding_window = None


def test_every_node_gets_what_its_prefix_gives_alone(model, monkeypatch):
    """Trees with and without a past, several to a call and one over the bound, small segments: each
    node's hidden state equals the decoder's own forward over its prefix."""
    monkeypatch.setattr(flat_pass, "FLAT_POSITIONS", 40)
    monkeypatch.setattr(flat_pass, "SEGMENT_BELOW", 3)
    lm = text_model(model)
    generator = torch.Generator().manual_seed(1)
    hidden = lm.config.hidden_size
    sequences = {  # per tree: its sequences' token ids, after 4 media positions
        "a": [(5, 6, 7, 8), (5, 6, 9), (5, 10, 11, 12, 13)],
        "b": [(20, 21), (22, 23, 24)],
        "c": [tuple(range(30, 70)), tuple(range(30, 50)) + (99,)],
    }
    media = {key: torch.randn(4, hidden, generator=generator) * 0.1 for key in sequences}
    trees, embeddings, paths = [], [], []
    for key, ids_list in sequences.items():
        past = media_of(lm, media[key], key, past_positions=3).past if key != "b" else None
        skip = 3 if past else 0
        tree = Tree(skip, past)
        for ids in ids_list:
            full = torch.cat([media[key], lm.embed(ids)])
            nodes = tree.insert([("m", d) for d in range(skip, 4)] + list(ids), len(embeddings))
            embeddings.append(full[skip:])
            paths.append((len(trees), nodes, full))
        trees.append(tree)
    made = flat_calls(trees, embeddings, torch.float32, "cpu")
    # several calls, and keys that are not one run of positions (ancestors above a segment, then itself)
    assert len(made) > 1 and any(isinstance(s.keys, torch.Tensor) for c in made for s in c.segments)
    states = {}
    for call in made:
        out = lm.flat.hidden(call)[0]
        for k, t in enumerate(call.trees):
            states[t] = out[torch.from_numpy(call.where[k])]
    for t, nodes, full in paths:
        alone = lm.hidden(full[None])[0]
        skip = trees[t].offset
        torch.testing.assert_close(states[t][nodes], alone[skip:], atol=1e-5, rtol=1e-5)


def test_the_last_layer_at_the_read_nodes_alone_gives_their_states(model, monkeypatch):
    """Read out of order, some segments read and some not: the states equal those of the whole pass."""
    monkeypatch.setattr(flat_pass, "SEGMENT_BELOW", 2)
    lm = text_model(model)
    tree = clip_tree({"p": 5, "q": 3}, answers=3)
    generator = torch.Generator().manual_seed(3)
    embeddings = [torch.randn(12, lm.config.hidden_size, generator=generator) * 0.1 for _ in range(2)]
    (call,) = flat_calls([tree], embeddings, torch.float32, "cpu")
    assert len(call.segments) > 3
    whole = lm.flat.hidden(call)[0]
    reads = torch.tensor([call.segments[-1].start, 0, call.segments[1].end - 1, call.segments[-1].start + 1])
    torch.testing.assert_close(lm.flat.hidden(call, reads)[0], whole[reads], atol=1e-5, rtol=1e-5)
    assert lm.flat.hidden(call, reads[:0]).shape == (1, 0, lm.config.hidden_size)  # nothing read: nothing run


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rope_and_norm_are_the_decoders_value_for_value(model, dtype):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    decoder = model.llm.model
    generator = torch.Generator().manual_seed(4)
    heads, width = decoder.config.num_attention_heads, decoder.layers[0].self_attn.head_dim
    x = torch.randn(1, 7, heads, width, generator=generator).to(dtype)
    cos, sin = decoder.rotary_emb(x, torch.tensor([[0, 3, 4, 9, 10, 11, 40]]))
    theirs, _ = apply_rotary_pos_emb(x.transpose(1, 2), x.transpose(1, 2), cos, sin)
    assert torch.equal(flat_pass._rotated(x, cos[:, :, None], sin[:, :, None]).transpose(1, 2), theirs)
    norm = decoder.layers[0].input_layernorm.to(dtype)
    hidden = torch.randn(1, 7, decoder.config.hidden_size, generator=generator).to(dtype)
    assert torch.equal(flat_pass._normed(norm, hidden), norm(hidden))


def test_flat_and_padded_passes_score_alike(model):
    lm = text_model(model)
    generator = torch.Generator().manual_seed(2)
    visual = {k: torch.randn(n, lm.config.hidden_size, generator=generator) * 0.1 for k, n in (("a", 6), ("b", 3))}
    jobs = [
        (media_of(lm, visual["a"], "a", 6), continuations((11, 12, 13), [(20, 21, 22), (20, 23), (24,)], "")),
        (media_of(lm, visual["a"], "a", 6), continuations(tuple(range(40, 80)), [(5, 6), (7,)], "")),
        (media_of(lm, visual["b"], "b"), continuations((14, 15), [(40, 41), (42, 43, 44)], "")),
    ]
    flat = score_packed(lm, jobs)
    lm.flat = None
    padded = score_packed(lm, jobs)
    for mine, theirs in zip(flat, padded):
        for a, b in zip(mine, theirs):
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
