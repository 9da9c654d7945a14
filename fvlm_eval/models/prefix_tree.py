"""Many sequences that share prefixes, packed as trees: each shared prefix computed once, no padding
inside a row.

A sequence is a list of elements (a media position or a token id) with its input embeddings. The
sequences of one group (one clip: the same media) go into one tree whose nodes are their distinct
prefixes; a row holds a tree's nodes in insertion order (every node after its parent), a node's
position id is its depth, and a node attends to itself and its ancestors only. One forward pass over
such rows gives at every node the hidden state its prefix gives alone, while every prefix the
sequences share (the media across a clip's questions, formulations and rotations; a prompt across its
options; a word that begins several options) is computed once.

Rows are cut into forward calls of similar length: the trees sorted by size, cut where the positions
run (rows x the call's longest) plus a fixed price per call (``CALL_COST``, in positions: what one more
call costs beside the work it holds) are least, within a budget of attention entries per call
(``MASK_ENTRIES``: rows x length x length). Padding is work a CPU does in full, so a CPU call is cheap
beside it; on an accelerator the padding is nearly free and the calls are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable

import numpy as np
import torch
import torch.nn.functional as F

# A forward call's fixed price, in positions, by device type. CPU: measured (ScienceQA's shape at real
# size: 8 to 64 all within noise, against 14% padding before). Other: a guess, no GPU having been lent.
CALL_COST = {"cpu": 8, "other": 512}
MASK_ENTRIES = 1 << 23  # rows x length^2 of one forward call (bounds the attention scores' memory)


@dataclass
class Tree:
    """The distinct prefixes of one group's sequences: per node its parent (-1: a root), depth, and
    where its input embedding is (sequence index, position in that sequence). ``offset`` positions come
    before every root, their keys and values given (``past``: ``.keys`` and ``.values``, per layer
    [kv_heads, offset, head_dim]); a node's position id is then ``offset`` + its depth."""

    offset: int = 0
    past: object | None = None
    parents: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    sources: list[tuple[int, int]] = field(default_factory=list)
    _children: list[dict] = field(default_factory=list)
    _roots: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.parents)

    def insert(self, elements: list[Hashable], sequence: int) -> list[int]:
        """Add a sequence (its elements, and its index among the embeddings given to ``pack``); the
        node of each of its positions."""
        nodes, children, parent = [], self._roots, -1
        for position, element in enumerate(elements):
            node = children.get(element)
            if node is None:
                node = len(self.parents)
                children[element] = node
                self.parents.append(parent)
                self.depths.append(position)
                self.sources.append((sequence, position))
                self._children.append({})
            nodes.append(node)
            children, parent = self._children[node], node
        return nodes

    def inputs(self, embeddings: list[torch.Tensor], dtype: torch.dtype, device) -> torch.Tensor:
        """[nodes, hidden]: each node's input embedding, from ``embeddings[s]`` (sequence s's, the index
        ``insert`` was given), gathered once per sequence."""
        by_sequence: dict[int, tuple[list[int], list[int]]] = {}
        for node, (sequence, position) in enumerate(self.sources):
            nodes, at = by_sequence.setdefault(sequence, ([], []))
            nodes.append(node)
            at.append(position)
        out = torch.empty(len(self), embeddings[self.sources[0][0]].shape[-1], dtype=dtype, device=device)
        for sequence, (nodes, at) in by_sequence.items():
            source = embeddings[sequence]
            out[torch.tensor(nodes, device=device)] = source[torch.tensor(at, device=source.device)].to(
                device=device, dtype=dtype
            )
        return out

    def ancestry(self) -> np.ndarray:
        """[n, n] booleans: node i sees node j (j is i or one of its ancestors)."""
        n = len(self)
        sees = np.zeros((n, n), dtype=bool)
        for node, parent in enumerate(self.parents):
            if parent >= 0:
                sees[node, :parent] = sees[parent, :parent]
                sees[node, parent] = True
            sees[node, node] = True
        return sees


@dataclass(frozen=True)
class Call:
    """One forward call: ``trees`` (indices into the packed trees), one row each, and its inputs."""

    trees: tuple[int, ...]
    embeds: torch.Tensor  # [rows, length, hidden]
    positions: torch.Tensor  # [rows, length]
    mask: torch.Tensor  # [rows, 1, length, past + length], 0 where seen, the dtype's lowest elsewhere
    past: tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]] | None = None  # per layer [rows, kv, past, d]

    def place(self, k: int, node: int) -> tuple[int, int]:
        """(row, column) of node ``node`` of the call's ``k``-th tree in the hidden states."""
        return k, node

    @property
    def positions_run(self) -> int:
        return self.embeds.shape[0] * self.embeds.shape[1]


def calls(trees: list[Tree], embeddings: list[torch.Tensor], dtype: torch.dtype, device) -> list[Call]:
    """The forward calls that hold every tree once, longest first; ``embeddings[s]``: sequence s's input
    embeddings [length, hidden] (the sequence index ``insert`` was given)."""
    order = sorted((i for i in range(len(trees)) if len(trees[i])), key=lambda i: -len(trees[i]))
    price = CALL_COST["cpu" if torch.device(device).type == "cpu" else "other"]
    cuts = least_work([len(trees[i]) for i in order], price, MASK_ENTRIES)
    return [_call(order[a:b], trees, embeddings, dtype, device) for a, b in zip(cuts, cuts[1:])]


def least_work(sizes: list[int], price: int, entries: int) -> list[int]:
    """Where to cut ``sizes`` (longest first) into calls: [0, ..., len(sizes)], the cuts that make
    sum(rows x longest + price) least with rows x longest^2 <= ``entries`` (a call of one row always
    allowed); an optimal partition into runs, by dynamic programming."""
    n = len(sizes)
    best = [0.0] + [float("inf")] * n  # best[j]: the least cost of sizes[:j]
    cut = [0] * (n + 1)
    for start in range(n):
        longest = sizes[start]
        for end in range(start + 1, n + 1):
            rows = end - start
            if rows > 1 and rows * longest * longest > entries:
                break
            cost = best[start] + rows * longest + price
            if cost < best[end]:
                best[end], cut[end] = cost, start
    cuts, end = [n], n
    while end:
        end = cut[end]
        cuts.append(end)
    return cuts[::-1]


def _call(batch: list[int], trees: list[Tree], embeddings: list[torch.Tensor], dtype, device) -> Call:
    longest = len(trees[batch[0]])
    hidden = embeddings[trees[batch[0]].sources[0][0]].shape[-1]
    embeds = torch.zeros(len(batch), longest, hidden, dtype=dtype, device=device)
    positions = torch.zeros(len(batch), longest, dtype=torch.long)
    sees = np.zeros((len(batch), longest, longest), dtype=bool)
    sees[:, np.arange(longest), np.arange(longest)] = True  # padding sees itself only (no empty softmax)
    for row, index in enumerate(batch):
        tree = trees[index]
        n = len(tree)
        embeds[row, :n] = tree.inputs(embeddings, dtype, device)
        positions[row, :n] = torch.tensor(tree.depths) + tree.offset
        sees[row, :n, :n] = tree.ancestry()
    past, seen = _past(batch, trees, dtype, device)
    sees = np.concatenate([np.broadcast_to(seen[:, None, :], (len(batch), longest, seen.shape[1])), sees], axis=2)
    return Call(tuple(batch), embeds, positions.to(device), additive_mask(sees, dtype)[:, None].to(device), past)


def additive_mask(sees: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """An attention mask from booleans (True: seen): 0 where seen, the dtype's lowest elsewhere."""
    return torch.zeros(sees.shape, dtype=dtype).masked_fill_(torch.from_numpy(~sees), torch.finfo(dtype).min)


def _past(batch: list[int], trees: list[Tree], dtype, device):
    """The rows' given keys and values, per layer [rows, kv_heads, longest, head_dim], zero-padded (None
    when no row has any), and [rows, longest] booleans: which of those positions a row has."""
    offsets = [trees[i].offset for i in batch]
    longest = max(offsets)
    seen = np.arange(longest)[None, :] < np.array(offsets)[:, None]
    if not longest:
        return None, seen

    first = next(trees[i].past for i in batch if trees[i].offset)

    def stacked(part: str) -> tuple[torch.Tensor, ...]:
        layers = []
        for layer, like in enumerate(getattr(first, part)):
            empty = like[:, :0]
            rows = [getattr(trees[i].past, part)[layer] if offset else empty for i, offset in zip(batch, offsets)]
            padded = [F.pad(r, (0, 0, 0, longest - r.shape[1])) for r in rows]
            layers.append(torch.stack(padded).to(device=device, dtype=dtype))
        return tuple(layers)

    return (stacked("keys"), stacked("values")), seen
