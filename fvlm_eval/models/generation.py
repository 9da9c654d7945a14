"""Greedy answers, KV-cached, to many questions at once: one left-padded pass over their prefixes
(media and prompt), then one token a step for every question still answering."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fvlm_eval.models.chat_tokens import ChatTokens
from fvlm_eval.models.lm import Media, TextModel
from fvlm_eval.types import Generation


@dataclass
class Prefixes:
    """The KV cache of a left-padded pass over several prefixes, with what continuing it needs."""

    cache: object
    mask: torch.Tensor  # [B, L] 1 on real positions
    lengths: list[int]
    last_hidden: torch.Tensor  # [B, hidden]: each prefix's last position


def run_prefixes(lm: TextModel, sequences: list[torch.Tensor]) -> Prefixes:
    """One pass over ``sequences`` (each [L_i, D] input embeddings), left-padded to the longest."""
    lengths = [s.shape[0] for s in sequences]
    longest = max(lengths)
    embeds = torch.zeros(len(sequences), longest, sequences[0].shape[1], device=lm.device, dtype=lm.dtype)
    mask = torch.zeros(len(sequences), longest, device=lm.device, dtype=torch.long)
    for i, sequence in enumerate(sequences):
        embeds[i, longest - lengths[i] :] = sequence
        mask[i, longest - lengths[i] :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = lm.new_cache()
    hidden = lm.hidden(embeds, attention_mask=mask, position_ids=positions, cache=cache)
    return Prefixes(cache, mask, lengths, hidden[:, -1])


def generate_greedy(
    lm: TextModel, sequences: list[torch.Tensor], stop_ids: set[int], limits: list[int]
) -> list[tuple[list[int], bool] | str]:
    """Greedy answers to several prefixes at once, KV-cached; per prefix (new ids, ended by a stop
    id) or why it could not run. A stop id ends an answer and is not part of it; prefix i gets at
    most ``limits[i]`` new tokens."""
    results: list[tuple[list[int], bool] | str] = [""] * len(sequences)
    kept = []
    for i, sequence in enumerate(sequences):
        if sequence.shape[0] + limits[i] > lm.max_positions:
            results[i] = (
                f"does not fit the model's context: {sequence.shape[0]} positions of media and "
                f"prompt + {limits[i]} new tokens > {lm.max_positions}"
            )
        else:
            kept.append(i)
    max_new_tokens = max((limits[i] for i in kept), default=0)
    if not kept:
        return results
    prefixes = run_prefixes(lm, [sequences[i] for i in kept])
    mask = prefixes.mask
    lengths = torch.tensor(prefixes.lengths, device=lm.device)
    token = lm.lm_head(prefixes.last_hidden).float().argmax(-1)
    generated: list[list[int]] = [[] for _ in kept]
    stopped = [False] * len(kept)
    finished = [False] * len(kept)
    for step in range(max_new_tokens):
        for row, value in enumerate(token.tolist()):
            if not finished[row]:
                if value in stop_ids:
                    stopped[row] = finished[row] = True
                else:
                    generated[row].append(value)
                    finished[row] = len(generated[row]) >= limits[kept[row]]
        if all(finished):
            break
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        hidden = lm.hidden(
            lm.embed(token[:, None]), attention_mask=mask, position_ids=(lengths + step)[:, None], cache=prefixes.cache
        )
        token = lm.lm_head(hidden[:, -1]).float().argmax(-1)
    for row, i in enumerate(kept):
        results[i] = (generated[row], stopped[row])
    return results


def generate_answers(
    lm: TextModel,
    tokens: ChatTokens,
    users: list[str],
    limits: list[int],
    stop_ids: set[int],
    media: list[Media],
) -> list[Generation]:
    """The boundary's ``generate``: a greedy answer to each user turn, at most ``limits[i]`` tokens."""
    prompts = [tokens.prompt(user) for user in users]
    sequences = [m.embed(ids) for m, (ids, _) in zip(media, prompts)]
    results = []
    for (_, sha), limit, outcome in zip(prompts, limits, generate_greedy(lm, sequences, stop_ids, limits)):
        if isinstance(outcome, str):
            results.append(Generation(sha, error=outcome, limit=limit))
        else:
            ids, stopped = outcome
            results.append(
                Generation(sha, tokens.tokenizer.decode(ids, skip_special_tokens=True), len(ids), stopped, limit=limit)
            )
    return results
