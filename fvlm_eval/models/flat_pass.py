"""Prefix trees run flat: every node of a call's trees in one sequence, no padding, each attention
over only the nodes it needs. The CPU's packed pass (``prefix_tree.calls`` pads trees into rows).

The decoder's matrices and norms see all the nodes of a call at once, as one sequence (its own
projections and MLPs, one matrix product per weight for up to ``FLAT_POSITIONS`` positions, at the
core's best rate; its norms and RoPE computed value for value as its modules compute them), and the
attention is split where the tree allows it. A tree is cut into segments: a
chain of nodes down to where the tree branches, with the branches too small to be worth their own
segment, and each larger branch a segment of its own (recursively). A segment's queries are its
own nodes, laid out next to each other, and its keys are the nodes above it, its own, and the
tree's past (the keys and values given for the media's first positions), with the tree's ancestry
as the mask. So a clip's multiple-choice prompt and its cloze prompt, which share only the visual
tokens, do not attend over each other's positions as they would in one padded row.

Only the read nodes' last states are asked for: the last layer gives every node its keys and values
but runs its queries, output projection and MLP at the read nodes alone (a fifth of a ScienceQA
batch's nodes). Every node's hidden state is what its prefix gives alone (float32 equivalence tests
against the decoder's own forward). Used for a transformers ``LlamaModel`` (both families' decoders)
on the CPU, where padding and attention over other branches are work done in full; elsewhere the
padded rows of ``prefix_tree`` run through the decoder's own forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from fvlm_eval.models.prefix_tree import Tree, additive_mask

FLAT_POSITIONS = 1024  # nodes per forward call: beyond about this the elementwise work leaves the cache
SEGMENT_BELOW = 32  # a branch of fewer nodes stays in its parent's segment


@dataclass(frozen=True)
class Segment:
    """Queries at flat positions [start, end), attending to the flat positions ``keys`` (its ancestors,
    then itself) after its tree's past (``past``: an index into the call's pasts, -1 for none)."""

    start: int
    end: int
    keys: torch.Tensor | slice  # a slice where they run on one by one
    mask: torch.Tensor  # [1, 1, queries, past + keys]: 0 where seen, the dtype's lowest elsewhere
    past: int


@dataclass(frozen=True)
class FlatCall:
    """One forward call: ``trees`` (indices into the packed trees), their nodes as one sequence."""

    trees: tuple[int, ...]
    embeds: torch.Tensor  # [1, nodes, hidden]
    positions: torch.Tensor  # [1, nodes]
    where: tuple[np.ndarray, ...]  # per tree of the call: node -> flat position
    segments: tuple[Segment, ...]
    pasts: tuple[tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]], ...]  # per layer [1, kv, past, d]

    def place(self, k: int, node: int) -> tuple[int, int]:
        """(row, column) of node ``node`` of the call's ``k``-th tree in the hidden states."""
        return 0, int(self.where[k][node])

    @property
    def positions_run(self) -> int:
        return self.embeds.shape[1]


def segments_of(tree: Tree) -> list[tuple[list[int], list[int]]]:
    """The tree cut for attention: per segment (its nodes, the nodes above it), every node in exactly one
    segment, a parent's segment before its children's. A segment is a chain down to a branching, with
    the branches of fewer than ``SEGMENT_BELOW`` nodes; each larger branch is cut the same way."""
    n = len(tree)
    children: list[list[int]] = [[] for _ in range(n)]
    size = [1] * n
    for node in range(n - 1, -1, -1):
        parent = tree.parents[node]
        if parent >= 0:
            children[parent].append(node)
            size[parent] += size[node]
    for kids in children:
        kids.reverse()  # back to insertion order

    def subtrees(tops: list[int]) -> list[int]:
        """The nodes of the subtrees under ``tops``, each before its children."""
        out, stack = [], tops[::-1]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(children[node][::-1])
        return out

    made: list[tuple[list[int], list[int]]] = []

    def cut(top: int, above: list[int]) -> None:
        chain, node = [top], top
        while len(children[node]) == 1:
            node = children[node][0]
            chain.append(node)
        made.append((chain + subtrees([k for k in children[node] if size[k] < SEGMENT_BELOW]), above))
        for kid in children[node]:
            if size[kid] >= SEGMENT_BELOW:
                cut(kid, above + chain)

    roots = [node for node in range(n) if tree.parents[node] < 0]
    small = [root for root in roots if size[root] < SEGMENT_BELOW]
    if small:
        made.append((subtrees(small), []))
    for root in roots:
        if size[root] >= SEGMENT_BELOW:
            cut(root, [])
    return made


def flat_calls(trees: list[Tree], embeddings: list[torch.Tensor], dtype: torch.dtype, device) -> list[FlatCall]:
    """The forward calls that hold every tree once, up to ``FLAT_POSITIONS`` nodes each (a larger tree
    alone); ``embeddings[s]``: sequence s's input embeddings (the sequence index ``Tree.insert`` was given)."""
    batches: list[list[int]] = []
    held = FLAT_POSITIONS
    for index in (i for i in range(len(trees)) if len(trees[i])):
        if held + len(trees[index]) > FLAT_POSITIONS:
            batches.append([])
            held = 0
        batches[-1].append(index)
        held += len(trees[index])
    return [_flat_call(batch, trees, embeddings, dtype, device) for batch in batches]


def _flat_call(batch: list[int], trees: list[Tree], embeddings: list[torch.Tensor], dtype, device) -> FlatCall:
    hidden = embeddings[trees[batch[0]].sources[0][0]].shape[-1]
    embeds = torch.empty(sum(len(trees[i]) for i in batch), hidden, dtype=dtype, device=device)
    positions = np.empty(embeds.shape[0], dtype=np.int64)
    where, segments, pasts = [], [], []
    at = 0
    for index in batch:
        tree = trees[index]
        past = -1
        if tree.offset:
            past = len(pasts)
            pasts.append(
                tuple(
                    tuple(t[None].to(device=device, dtype=dtype) for t in part)
                    for part in (tree.past.keys, tree.past.values)
                )
            )
        sees = tree.ancestry()
        flat = np.empty(len(tree), dtype=np.int64)
        for queries, above in segments_of(tree):
            flat[queries] = np.arange(at, at + len(queries))
            keys = flat[above + queries]
            seen = np.concatenate(
                [np.ones((len(queries), tree.offset), dtype=bool), sees[np.ix_(queries, above + queries)]], 1
            )
            mask = additive_mask(seen, dtype)[None, None].to(device)
            segments.append(Segment(at, at + len(queries), _selector(keys, device), mask, past))
            at += len(queries)
        positions[flat] = np.asarray(tree.depths) + tree.offset
        embeds[torch.from_numpy(flat).to(device)] = tree.inputs(embeddings, dtype, device)
        where.append(flat)
    return FlatCall(
        tuple(batch),
        embeds[None],
        torch.from_numpy(positions)[None].to(device),
        tuple(where),
        tuple(segments),
        tuple(pasts),
    )


def _selector(flat: np.ndarray, device) -> torch.Tensor | slice:
    """Flat positions as a slice where they run on one by one (a view, not a copy), else an index."""
    if len(flat) and flat[-1] - flat[0] == len(flat) - 1 and np.all(np.diff(flat) == 1):
        return slice(int(flat[0]), int(flat[-1]) + 1)
    return torch.from_numpy(flat).to(device)


class FlatDecoder:
    """A transformers ``LlamaModel`` run over a ``FlatCall``: its own norms, projections and MLPs over
    all the nodes at once, the attention per segment."""

    def __init__(self, decoder: torch.nn.Module):
        self.decoder = decoder
        self.layers = list(decoder.layers[: decoder.config.num_hidden_layers])

    @staticmethod
    def fits(decoder: torch.nn.Module) -> bool:
        """A plain Llama decoder: what ``hidden`` computes is what its forward computes."""
        if type(decoder).__name__ != "LlamaModel" or getattr(decoder.config, "sliding_window", None):
            return False
        parts = ("input_layernorm", "post_attention_layernorm", "self_attn", "mlp")
        projections = ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim", "scaling")
        return all(hasattr(decoder, a) for a in ("rotary_emb", "layers", "norm")) and all(
            all(hasattr(layer, a) for a in parts) and all(hasattr(layer.self_attn, a) for a in projections)
            for layer in decoder.layers
        )

    def hidden(self, call: FlatCall, reads: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's last hidden state at every node of the call, [1, nodes, hidden]; or only at the flat
        positions ``reads``, [1, reads, hidden], where the last layer runs its queries, its output
        projection and its MLP at those nodes alone (every other node gives that layer only its keys and
        values)."""
        x = call.embeds
        cos, sin = self.decoder.rotary_emb(x, call.positions)
        cos, sin = cos[:, :, None], sin[:, :, None]  # [1, nodes, 1, head_dim]: over the heads
        last = len(self.layers) - 1 if reads is not None else len(self.layers)
        for i, layer in enumerate(self.layers[:last]):
            x = x + self._attention(call, i, layer, _normed(layer.input_layernorm, x), cos, sin, None)
            x = x + layer.mlp(_normed(layer.post_attention_layernorm, x))
        if reads is not None:
            layer = self.layers[last]
            x = x[:, reads] + self._attention(call, last, layer, _normed(layer.input_layernorm, x), cos, sin, reads)
            x = x + layer.mlp(_normed(layer.post_attention_layernorm, x))
        return _normed(self.decoder.norm, x)

    def _attention(self, call: FlatCall, i: int, layer, h: torch.Tensor, cos, sin, reads) -> torch.Tensor:
        """Layer ``i``'s self-attention output (after ``o_proj``) at every node, or at the flat positions
        ``reads`` only, from its normed input ``h`` [1, nodes, hidden]: each segment's queries over its keys."""
        attention = layer.self_attn
        nodes, width = h.shape[1], attention.head_dim
        heads = attention.q_proj.out_features // width
        k = _rotated(attention.k_proj(h).view(1, nodes, -1, width), cos, sin).transpose(1, 2)
        v = attention.v_proj(h).view(1, nodes, -1, width).transpose(1, 2)
        if reads is None:
            q = _rotated(attention.q_proj(h).view(1, nodes, heads, width), cos, sin).transpose(1, 2)
            runs = [(s, slice(s.start, s.end), slice(None)) for s in call.segments]
        else:
            q = attention.q_proj(h[:, reads]).view(1, len(reads), heads, width)
            q = _rotated(q, cos[:, reads], sin[:, reads]).transpose(1, 2)
            runs = _read_runs(call.segments, reads)
        out = torch.empty_like(q)
        for s, queries, rows in runs:
            keys, values = k[:, :, s.keys], v[:, :, s.keys]
            if s.past >= 0:
                past_keys, past_values = call.pasts[s.past]
                keys, values = torch.cat([past_keys[i], keys], 2), torch.cat([past_values[i], values], 2)
            out[:, :, queries] = F.scaled_dot_product_attention(
                q[:, :, queries], keys, values, attn_mask=s.mask[:, :, rows], scale=attention.scaling, enable_gqa=True
            )
        return attention.o_proj(out.transpose(1, 2).reshape(1, q.shape[2], heads * width))


def _read_runs(segments: tuple[Segment, ...], reads: torch.Tensor) -> list[tuple[Segment, torch.Tensor, torch.Tensor]]:
    """Per segment that holds any of the flat positions ``reads``: (segment, which of the reads, their
    rows of the segment's queries)."""
    at = reads.cpu().numpy()
    runs = []
    for s in segments:
        inside = np.flatnonzero((at >= s.start) & (at < s.end))
        if len(inside):
            runs.append(
                (s, torch.from_numpy(inside).to(reads.device), torch.from_numpy(at[inside] - s.start).to(reads.device))
            )
    return runs


def _normed(norm: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The Llama RMS norm ``norm`` of ``x``: in float32 torch's own ``rms_norm`` (the module's values bit
    for bit, in fewer passes over ``x``), else the module itself (it rounds between its steps)."""
    eps = getattr(norm, "variance_epsilon", None)
    if eps is None or x.dtype != torch.float32 or norm.weight.dtype != torch.float32:
        return norm(x)
    return F.rms_norm(x, norm.weight.shape, norm.weight, eps)


def _rotated(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on ``x`` [1, nodes, heads, head_dim] as transformers' ``apply_rotary_pos_emb`` computes it,
    ``x * cos + rotate_half(x) * sin``, value for value, without the concatenated copy of ``x`` and over
    contiguous rows (a tenth of its time, measured alone on a call's 1,024 nodes)."""
    half = x.shape[-1] // 2
    out = x * cos
    out[..., :half] -= x[..., half:] * sin[..., :half]
    out[..., half:] += x[..., :half] * sin[..., half:]
    return out
