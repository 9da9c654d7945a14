"""Prefix trees: shared prefixes once, ancestry as the attention pattern, calls of similar length."""

from __future__ import annotations

import numpy as np
import torch

from fvlm_eval.models import prefix_tree
from fvlm_eval.models.prefix_tree import Tree, calls


def test_shared_prefixes_are_one_node_and_depth_is_the_position():
    tree = Tree()
    first = tree.insert(["m0", "m1", 5, 6, 7], sequence=0)
    second = tree.insert(["m0", "m1", 5, 9], sequence=1)
    assert first == [0, 1, 2, 3, 4] and second == [0, 1, 2, 5]
    assert tree.depths == [0, 1, 2, 3, 4, 3] and tree.parents == [-1, 0, 1, 2, 3, 2]
    assert tree.sources[5] == (1, 3)  # node 5's embedding: sequence 1, position 3
    sees = tree.ancestry()
    assert sees[5].tolist() == [True, True, True, False, False, True]  # its ancestors and itself, not 7's branch
    assert sees[4].tolist() == [True, True, True, True, True, False]


def test_calls_pad_little_and_padding_sees_only_itself(monkeypatch):
    trees = []
    for n in (10, 9, 3):
        tree = Tree()
        tree.insert(list(range(n)), sequence=len(trees))
        trees.append(tree)
    embeddings = [torch.randn(len(t), 4) for t in trees]
    made = calls(trees, embeddings, torch.float32, "cpu")
    assert [c.trees for c in made] == [(0, 1), (2,)]  # 3 beside 10 would be 70% padding
    first = made[0]
    assert first.embeds.shape == (2, 10, 4) and torch.equal(first.embeds[1, :9], embeddings[1])
    assert first.positions[1].tolist() == list(range(9)) + [0]
    row = first.mask[1, 0]
    assert row[9].eq(0).tolist() == [False] * 9 + [True]  # the padding position sees itself only
    assert np.array_equal(row[:9, :9].eq(0).numpy(), np.tril(np.ones((9, 9), dtype=bool)))
    monkeypatch.setattr(prefix_tree, "MASK_ENTRIES", 150)  # 2 x 10 x 10 > 150: one row per call
    assert [c.trees for c in calls(trees, embeddings, torch.float32, "cpu")] == [(0,), (1,), (2,)]
