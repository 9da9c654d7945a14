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

Equal, token for token, to ``FoveatedVLM.visual_tokens`` on each clip's frames alone (tests).
"""

from __future__ import annotations

import torch

from .fvlm import FoveatedVLM, Mode, VisionKV


def clip_tokens(model: FoveatedVLM, kv: VisionKV, rows: list[tuple[int, ...]], mode: Mode) -> list[torch.Tensor]:
    """Per clip, its visual tokens [T_b, llm_dim] in ``mode``."""
    if mode == "autoregressive":
        return _autoregressive(model, kv, rows)
    coarse = _per_row(model, kv, rows)
    if mode == "coarse_only":
        return coarse
    if mode != "coarse_fine":
        raise ValueError(f"unknown mode {mode!r}")
    longest = max(len(r) for r in rows)
    padded = coarse[0].new_zeros(len(rows), longest, coarse[0].shape[-1])
    for b, tokens in enumerate(coarse):
        padded[b, : tokens.shape[0]] = tokens
    hidden = model.llm_hidden(padded)  # [B, longest, llm_dim]; causal, so the right padding is unseen
    queries = torch.cat([model.q_init.expand(len(rows), 1, -1), model.llm_to_query(hidden[:, :-1])], dim=1)
    wanted = [(b, t, row) for b, clip in enumerate(rows) for t, row in enumerate(clip)]
    tokens = _grouped_by_row(model, kv, queries, wanted)
    out = [tokens.new_empty(len(clip), tokens.shape[-1]) for clip in rows]
    for (b, t, _), token in zip(wanted, tokens):
        out[b][t] = token
    return out


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


def _autoregressive(model: FoveatedVLM, kv: VisionKV, rows: list[tuple[int, ...]]) -> list[torch.Tensor]:
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
    return [stacked[b, : len(clip)] for b, clip in enumerate(rows)]
