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


def _chains(*lengths: int) -> tuple[list[Tree], list[torch.Tensor]]:
    """One single-path tree per length, with random embeddings."""
    trees = []
    for n in lengths:
        tree = Tree()
        tree.insert(list(range(n)), sequence=len(trees))
        trees.append(tree)
    return trees, [torch.randn(len(t), 4) for t in trees]


def test_calls_pad_little_and_padding_sees_only_itself(monkeypatch):
    trees, embeddings = _chains(30, 27, 9)
    made = calls(trees, embeddings, torch.float32, "cpu")
    assert [c.trees for c in made] == [(0, 1), (2,)]  # 9 beside 30 would be 21 positions of padding > a call
    first = made[0]
    assert first.embeds.shape == (2, 30, 4) and torch.equal(first.embeds[1, :27], embeddings[1])
    assert first.positions[1].tolist() == list(range(27)) + [0] * 3
    row = first.mask[1, 0]
    assert row[27].eq(0).tolist() == [False] * 27 + [True, False, False]  # padding sees itself only
    assert np.array_equal(row[:27, :27].eq(0).numpy(), np.tril(np.ones((27, 27), dtype=bool)))
    monkeypatch.setattr(prefix_tree, "MASK_ENTRIES", 1500)  # 2 x 30 x 30 > 1500: one row per call
    assert [c.trees for c in calls(trees, embeddings, torch.float32, "cpu")] == [(0,), (1,), (2,)]


def _brute_force(sizes, price, entries):
    """The least cost over every way to cut ``sizes`` into runs (2^(n-1) of them)."""
    best = float("inf")
    for mask in range(1 << (len(sizes) - 1)):
        cuts = [0] + [i + 1 for i in range(len(sizes) - 1) if mask >> i & 1] + [len(sizes)]
        runs = [sizes[a:b] for a, b in zip(cuts, cuts[1:])]
        if all(len(r) == 1 or len(r) * r[0] ** 2 <= entries for r in runs):
            best = min(best, sum(len(r) * r[0] + price for r in runs))
    return best


def test_least_work_is_the_cheapest_partition():
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = sorted(rng.integers(1, 200, rng.integers(1, 9)).tolist(), reverse=True)
        price, entries = int(rng.choice([0, 8, 512])), int(rng.choice([10**3, 10**5, 1 << 23]))
        cuts = prefix_tree.least_work(sizes, price, entries)
        assert cuts[0] == 0 and cuts[-1] == len(sizes) and cuts == sorted(set(cuts))
        runs = [sizes[a:b] for a, b in zip(cuts, cuts[1:])]
        assert all(len(r) == 1 or len(r) * r[0] ** 2 <= entries for r in runs)
        assert sum(len(r) * r[0] + price for r in runs) == _brute_force(sizes, price, entries)
    assert prefix_tree.least_work([], 8, 100) == [0]


def test_an_accelerator_call_is_dear_so_its_rows_pad_more():
    trees, embeddings = _chains(30, 27, 9)
    assert [c.trees for c in calls(trees, embeddings, torch.float32, "meta")] == [(0, 1, 2)]
