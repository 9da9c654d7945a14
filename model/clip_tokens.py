"""Visual tokens of many clips of any frame layout at once, from one encode's K/V.

Clip b's frame t is row ``rows[b][t]`` of the encoded frames: an image shown as 8 copies is one row
eight times, a short video sampled to more frames than it has repeats rows, clips differ in length.
Every query a mode makes depends only on its frame's row and on the query itself, so:

- the coarse query (``q_static``, the same for every frame) runs once per distinct row;
- the fine queries (from the LLM over each clip's coarse tokens, right-padded: causal attention keeps
  a clip's positions blind to the padding after it) run grouped by their row, against its K/V in
  place (no copy) unless the grouping would waste more than it saves;
- autoregressive: one loop of ``max(T_b)`` steps for every clip together (a clip past its length
  steps on, discarded), each step's K/V as views when the clips lie regularly in the encode, else
  gathered (the step's frames only).

The LLM's keys and values over the visual tokens it ran over are kept (``LLMPrefix``): the coarse
pass's are ``coarse_only``'s whole prefix, the loop's all of the autoregressive prefix but its last
token, so a scorer need not run those positions again.

Equal, token for token, to ``FoveatedVLM.visual_tokens`` on each clip's frames alone (tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .fvlm import FoveatedVLM, Mode, VisionKV


@dataclass(frozen=True)
class LLMPrefix:
    """The LLM's keys and values over a clip's first ``length`` visual tokens, as its cache holds them
    (RoPE applied): per layer [kv_heads, length, head_dim]. A scorer that starts from them need not run
    those positions again."""

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]

    @property
    def length(self) -> int:
        return self.keys[0].shape[1]


@dataclass(frozen=True)
class CoarsePass:
    """A clip's coarse tokens [T, llm_dim], the LLM's final hidden states over them [T, llm_dim] (the
    fine queries come from these) and its keys and values over them (``coarse_only``'s prefix)."""

    tokens: torch.Tensor
    hidden: torch.Tensor
    prefix: LLMPrefix


def clip_tokens(model: FoveatedVLM, kv: VisionKV, rows: list[tuple[int, ...]], mode: Mode) -> list[torch.Tensor]:
    """Per clip, its visual tokens [T_b, llm_dim] in ``mode``."""
    if mode == "autoregressive":
        return [tokens for tokens, _ in autoregressive_tokens(model, kv, rows)]
    if mode == "coarse_only":
        return _per_row(model, kv, rows)
    if mode != "coarse_fine":
        raise ValueError(f"unknown mode {mode!r}")
    return fine_tokens(model, kv, rows, [p.hidden for p in coarse_pass(model, kv, rows)])


def coarse_pass(model: FoveatedVLM, kv: VisionKV, rows: list[tuple[int, ...]]) -> list[CoarsePass]:
    """Per clip, its coarse tokens and the LLM over them: every clip in one call, right-padded (causal
    attention keeps a clip's positions blind to the padding after it). A clip of one frame repeated (an
    image) has T equal tokens, so the LLM's hidden state and value are the same at each of them (each
    position attends over equal values): it runs one position, and its keys are that one rotated to
    each position."""
    from transformers import DynamicCache

    coarse = _per_row(model, kv, rows)
    run = [1 if len(set(clip)) == 1 else len(clip) for clip in rows]
    padded = coarse[0].new_zeros(len(rows), max(run), coarse[0].shape[-1])
    for b, (tokens, n) in enumerate(zip(coarse, run)):
        padded[b, :n] = tokens[:n]
    cache = DynamicCache(config=model.llm.config)
    hidden = model.llm_hidden(padded, cache=cache)  # [B, longest run, llm_dim]
    keys, values = cache_tensors(cache)
    passes = []
    for b, (tokens, n) in enumerate(zip(coarse, run)):
        if n == len(rows[b]):
            passes.append(CoarsePass(tokens, hidden[b, :n], _prefix(keys, values, b, n)))
        else:
            prefix = _repeated(
                model, tuple(k[b, :, :1] for k in keys), tuple(v[b, :, :1] for v in values), len(rows[b])
            )
            passes.append(CoarsePass(tokens, hidden[b, :1].expand(len(rows[b]), -1), prefix))
    return passes


def _repeated(model: FoveatedVLM, keys, values, length: int) -> LLMPrefix:
    """The prefix of ``length`` equal tokens from the LLM's keys and values at the first ([kv_heads, 1,
    head_dim] per layer; position 0's rotation is the identity): the value repeated, the key rotated to
    each position as the LLM rotates it (Llama's rotary embedding)."""
    from transformers.models.llama.modeling_llama import rotate_half

    positions = torch.arange(length, device=keys[0].device)[None]
    cos, sin = model.llm.model.rotary_emb(keys[0], positions)  # [1, length, head_dim]
    rotated = tuple(k * cos + rotate_half(k) * sin for k in keys)
    return LLMPrefix(rotated, tuple(v.expand(-1, length, -1) for v in values))


def fine_tokens(
    model: FoveatedVLM, kv: VisionKV, rows: list[tuple[int, ...]], hidden: list[torch.Tensor]
) -> list[torch.Tensor]:
    """Per clip, its ``coarse_fine`` tokens from the LLM's hidden states over its coarse tokens."""
    longest = max(len(r) for r in rows)
    padded = hidden[0].new_zeros(len(rows), longest, hidden[0].shape[-1])
    for b, states in enumerate(hidden):
        padded[b, : states.shape[0]] = states
    queries = torch.cat([model.q_init.expand(len(rows), 1, -1), model.llm_to_query(padded[:, :-1])], dim=1)
    wanted = [(b, t, row) for b, clip in enumerate(rows) for t, row in enumerate(clip)]
    tokens = _grouped_by_row(model, kv, queries, wanted)
    out = [tokens.new_empty(len(clip), tokens.shape[-1]) for clip in rows]
    for (b, t, _), token in zip(wanted, tokens):
        out[b][t] = token
    return out


def cache_tensors(cache) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """A transformers KV cache's per-layer keys and values [batch, kv_heads, positions, head_dim]."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return tuple(layer.keys for layer in layers), tuple(layer.values for layer in layers)
    return tuple(cache.key_cache), tuple(cache.value_cache)


def _prefix(keys, values, b: int, length: int) -> LLMPrefix | None:
    if not length:
        return None
    return LLMPrefix(tuple(k[b, :, :length] for k in keys), tuple(v[b, :, :length] for v in values))


def _per_row(model: FoveatedVLM, kv: VisionKV, rows: list[tuple[int, ...]]) -> list[torch.Tensor]:
    """The coarse tokens: ``q_static`` once per distinct row used, then each clip's rows picked."""
    used = sorted({row for clip in rows for row in clip})
    if used == list(range(kv.n_frames)):
        selected, where = kv, None
    else:
        selected, where = kv.select(used), {row: i for i, row in enumerate(used)}
    per_row = model.project(model.encoder.query_attend(model.q_static.expand(selected.n_frames, -1), selected))
    index = [list(clip) if where is None else [where[row] for row in clip] for clip in rows]
    return [per_row[torch.tensor(i, device=per_row.device)] for i in index]


def _grouped_by_row(
    model: FoveatedVLM, kv: VisionKV, queries: torch.Tensor, wanted: list[tuple[int, int, int]]
) -> torch.Tensor:
    """Query (b, t) against row ``row`` of ``kv`` for every (b, t, row) of ``wanted``; tokens in that order."""
    slots: dict[int, list[int]] = {}
    for i, (_, _, row) in enumerate(wanted):
        slots.setdefault(row, []).append(i)
    width = max(len(s) for s in slots.values())
    flat = queries[[b for b, _, _ in wanted], [t for _, t, _ in wanted]]  # [len(wanted), query_dim]
    if kv.n_frames * width > 2 * len(wanted):  # rows used unevenly: gather each query's frame instead
        picked = kv.select([row for _, _, row in wanted])
        return model.project(model.encoder.query_attend(flat, picked))
    grouped = flat.new_zeros(kv.n_frames, width, flat.shape[-1])
    places = [(row, k, i) for row, members in slots.items() for k, i in enumerate(members)]
    grouped[[r for r, _, _ in places], [k for _, k, _ in places]] = flat[[i for _, _, i in places]]
    attended = model.project(model.encoder.query_attend(grouped, kv))  # [rows, width, llm_dim]
    tokens = attended.new_empty(len(wanted), attended.shape[-1])
    tokens[[i for _, _, i in places]] = attended[[r for r, _, _ in places], [k for _, k, _ in places]]
    return tokens


def _regular_start(rows: list[tuple[int, ...]]) -> tuple[int, int, int] | None:
    """(first row, distinct rows per clip, copies) when the clips are equal in length and lie one after
    another with frame t at row first + b * distinct + t // copies (step views need no copy); else None."""
    length = len(rows[0])
    distinct = max(rows[0]) - rows[0][0] + 1
    if length % distinct or any(len(r) != length for r in rows):
        return None
    copies, first = length // distinct, rows[0][0]
    for b, clip in enumerate(rows):
        if any(row != first + b * distinct + t // copies for t, row in enumerate(clip)):
            return None
    return first, distinct, copies


def autoregressive_tokens(
    model: FoveatedVLM, kv: VisionKV, rows: list[tuple[int, ...]]
) -> list[tuple[torch.Tensor, LLMPrefix | None]]:
    """Per clip, its autoregressive tokens and the loop's LLM keys and values over all but its last
    (the LLM never ran over the last: no query follows it)."""
    from transformers import DynamicCache

    regular = _regular_start(rows)
    if regular:
        first, distinct, copies = regular
        clips = kv.narrow(first, distinct * len(rows))
    cache = DynamicCache(config=model.llm.config)
    query = model.q_init.expand(len(rows), -1)
    longest = max(len(r) for r in rows)
    tokens = []
    for t in range(longest):
        if regular:
            frame_kv = clips.column(len(rows), t // copies)
        else:
            frame_kv = kv.select([clip[min(t, len(clip) - 1)] for clip in rows])
        token = model.project(model.encoder.query_attend(query, frame_kv)).unsqueeze(1)
        tokens.append(token)
        if t + 1 < longest:
            hidden = model.llm_hidden(token, cache=cache)
            query = model.llm_to_query(hidden[:, -1])
    stacked = torch.cat(tokens, dim=1)
    keys, values = cache_tensors(cache) if longest > 1 else ((), ())
    return [(stacked[b, : len(clip)], _prefix(keys, values, b, len(clip) - 1)) for b, clip in enumerate(rows)]
