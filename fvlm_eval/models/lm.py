"""The language half every family shares: chat text as tokens, option scoring, greedy answers.

A family gives, per question, the input embeddings of any token sequence (its media put where
its architecture puts them: fVLM's visual tokens before the text, SmolVLM's image features at
its ``<image>`` tokens) and a Llama-style decoder. Then, for a batch of questions:

1. one left-padded pass over every question's prefix (media + prompt), its KV cache kept;
2. every option of every question as continuations on that cache, in one pass: each question's
   options are packed one after another into one row, and a block mask lets each option see the
   prefix and itself only (no option pays for another's padding, no cache row is copied);
3. an answer token's log-probability is read where it is predicted: the first from the prefix's
   last position, token j from the option's position j-1.

When the prompt's tokens are not a prefix of an option's full text (a tokenizer merging across
the boundary), that option is scored by its own full pass instead, and marked ``fallback``.
Everything here is a natural log.
"""

from __future__ import annotations

import hashlib
import inspect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch

from fvlm_eval.types import NEUTRAL_PROMPT, ChoiceResult, ClozeResult, Generation, Option, OptionLogprobs

LOGIT_CHUNK = 1024  # positions per lm_head call (bounds the [positions, vocab] logits)
TOKEN_CACHE = 512  # questions whose token ids are kept (a SmolVLM2 video question holds thousands)
NEUTRAL_CHUNK = 32  # distinct option texts per row of the neutral-prompt pass


class ContextOverflow(ValueError):
    """A question whose text and media do not fit the model's context."""


@dataclass(frozen=True)
class Tokenized:
    """A question's prompt ids and, per option, its full ids; ``prefix_ok[k]``: the prompt is a
    token prefix of full k. ``n_text[k]``: answer tokens of ``"{letter}. {text}"`` (before the
    template's suffix); ``own_text[k]``: [start, end) of the answer tokens covering the option's
    own text (see ``OptionLogprobs``)."""

    prompt: tuple[int, ...]
    fulls: tuple[tuple[int, ...], ...]
    n_text: tuple[int, ...]
    own_text: tuple[tuple[int, int], ...]
    prefix_ok: tuple[bool, ...]
    prompt_sha256: str

    @property
    def answers(self) -> tuple[tuple[int, ...], ...]:
        """Each option's answer tokens: full[len(prompt):] (the option, then the template suffix)."""
        return tuple(full[len(self.prompt) :] for full in self.fulls)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ChatTokens:
    """The chat text of a question and its options as token ids (cached per question).

    ``render(user, answer)`` is the family's chat template: the whole text with the assistant
    turn ``answer``, or, with ``answer=None``, the text up to where the assistant's answer starts.
    """

    def __init__(self, tokenizer, render: Callable[[str, str | None], str]):
        self.tokenizer = tokenizer
        self.render = render
        self.pad_id = tokenizer.pad_token_id
        marker = "\u2063"
        rendered = render(marker, marker)
        self.suffix = tuple(self.encode(rendered[rendered.rindex(marker) + 1 :]))
        # What the template puts between the generation prompt and the assistant's text (SmolVLM2: a space).
        opened = render(marker, None)
        self.answer_lead = rendered[len(opened) : rendered.rindex(marker)] if rendered.startswith(opened) else ""
        self._cache: OrderedDict[tuple, Tokenized] = OrderedDict()

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt(self, user: str) -> tuple[list[int], str]:
        """The ids of the text up to the assistant's answer, and that text's SHA-256."""
        text = self.render(user, None)
        return self.encode(text), sha256_text(text)

    def choice(self, user: str, options: tuple[Option, ...]) -> Tokenized:
        """The question's ids, cached for the most recent ``TOKEN_CACHE`` questions (the same question is
        asked in every mode, and scored and generated)."""
        key = (user, options)
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            while len(self._cache) >= TOKEN_CACHE:
                self._cache.popitem(last=False)
            prompt_text = self.render(user, None)
            prompt_ids = tuple(self.encode(prompt_text))
            fulls, n_text, own, ok = [], [], [], []
            for option in options:
                full_text = self.render(user, option.answer)
                encoded = self.tokenizer(full_text, add_special_tokens=False, return_offsets_mapping=True)
                full = tuple(encoded["input_ids"])
                tail = full[len(prompt_ids) :]
                has_suffix = len(tail) >= len(self.suffix) and tail[len(tail) - len(self.suffix) :] == self.suffix
                n_text.append(len(tail) - len(self.suffix) if has_suffix else len(tail))
                own.append(_own_text_tokens(full_text, option, encoded["offset_mapping"], len(prompt_ids), len(full)))
                fulls.append(full)
                ok.append(full[: len(prompt_ids)] == prompt_ids)
            self._cache[key] = Tokenized(
                prompt_ids,
                tuple(fulls),
                tuple(n_text),
                tuple(own),
                tuple(ok),
                sha256_text(prompt_text + "".join("\n" + o.answer for o in options)),
            )
        return self._cache[key]

    def cloze_prompt(self, user: str, framing: str) -> str:
        """The text before the answer in the cloze formulation (``ClozeRequest``)."""
        return f"{user}\n{NEUTRAL_PROMPT}" if framing == "plain" else self.render(user, None)

    def neutral_prompt(self, framing: str) -> str:
        """The neutral prompt PMI divides by: ``"Answer:"`` alone (chat: as the user turn)."""
        return NEUTRAL_PROMPT if framing == "plain" else self.render(NEUTRAL_PROMPT, None)

    def cloze_answer(self, text: str, framing: str) -> tuple[int, ...]:
        """An option's text as answer tokens, tokenized on its own so that they are the same after
        any prompt (the question's or the neutral one): ``" {text}"`` (plain) or what the chat
        template puts before the assistant's text, then the text."""
        if not text.strip():
            return ()
        return tuple(self.encode((" " if framing == "plain" else self.answer_lead) + text))

    def cloze(self, user: str, texts: tuple[str, ...], framing: str) -> Tokenized:
        """A cloze question's ids (cached like ``choice``): every answer continues the prompt."""
        key = ("cloze", framing, user, texts)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        while len(self._cache) >= TOKEN_CACHE:
            self._cache.popitem(last=False)
        prompt_text = self.cloze_prompt(user, framing)
        prompt_ids = tuple(self.encode(prompt_text))
        self._cache[key] = continuations(
            prompt_ids,
            [self.cloze_answer(text, framing) for text in texts],
            sha256_text(prompt_text + "".join("\n" + t for t in texts)),
        )
        return self._cache[key]

    def token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id])


def continuations(prompt: tuple[int, ...], answers: list[tuple[int, ...]], prompt_sha256: str) -> Tokenized:
    """A prompt whose answers are token sequences of their own, each continuing it (the cloze
    formulation): every answer token is the answer's text."""
    return Tokenized(
        prompt,
        tuple(prompt + a for a in answers),
        tuple(len(a) for a in answers),
        tuple((0, len(a)) for a in answers),
        (True,) * len(answers),
        prompt_sha256,
    )


def _own_text_tokens(full_text: str, option: Option, offsets, answer_start: int, end: int) -> tuple[int, int]:
    """[start, end) among the answer tokens (indices from ``answer_start``) that cover the option's own text.

    The option is the last occurrence of ``"{letter}. {text}"`` in the full text (the assistant
    turn; the user turn lists it too, earlier). A token belongs to the option's text when its
    characters overlap the text's: the letter and ``"."`` do not, a token ``" text"`` holding the
    separating space and the text's start does, the template's suffix does not.
    """
    at = full_text.rfind(option.answer)
    if at < 0 or not option.text:
        return (0, 0)
    text_start, text_end = at + option.text_offset, at + len(option.answer)
    inside = [
        j - answer_start for j in range(answer_start, end) if offsets[j][0] < text_end and offsets[j][1] > text_start
    ]
    return (inside[0], inside[-1] + 1) if inside else (0, 0)


class TextModel:
    """A Llama-style decoder (``.model``-like: inputs_embeds -> last_hidden_state), its input
    embedding and its ``lm_head``, with the longest sequence it takes."""

    def __init__(
        self, decoder: torch.nn.Module, lm_head: torch.nn.Module, embedding: torch.nn.Module, max_positions: int
    ):
        self.decoder = decoder
        self.lm_head = lm_head
        self.embedding = embedding
        self.max_positions = int(max_positions)
        # transformers 5.2x names the KV-cache argument ``cache``; earlier 5.x ``past_key_values``.
        self.cache_keyword = "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"
        self.config = decoder.config

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embedding.weight.dtype

    def embed(self, ids) -> torch.Tensor:
        return self.embedding(torch.as_tensor(ids, device=self.device, dtype=torch.long))

    def new_cache(self):
        from transformers import DynamicCache

        return DynamicCache(config=self.config)

    def hidden(self, embeds: torch.Tensor, attention_mask=None, position_ids=None, cache=None) -> torch.Tensor:
        kwargs = {self.cache_keyword: cache} if cache is not None else {}
        out = self.decoder(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=cache is not None,
            **kwargs,
        )
        return out.last_hidden_state

    def logprobs_at(self, hidden: torch.Tensor, rows: list[int], cols: list[int], targets: list[int]) -> list[float]:
        """log p(target) at the given (row, position)s, in chunks so [positions, vocab] stays small."""
        if not rows:
            return []
        index_rows = torch.tensor(rows, device=self.device)
        index_cols = torch.tensor(cols, device=self.device)
        target = torch.tensor(targets, device=self.device)
        values = []
        for start in range(0, len(rows), LOGIT_CHUNK):
            part = slice(start, start + LOGIT_CHUNK)
            logits = self.lm_head(hidden[index_rows[part], index_cols[part]]).float()
            values.append(logits.gather(-1, target[part, None]).squeeze(-1) - logits.logsumexp(-1))
        return torch.cat(values).tolist()


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


def score_options(
    lm: TextModel, tokenized: list[Tokenized], embed_sequence: Callable[[int, tuple[int, ...]], torch.Tensor]
) -> list[list[list[float]] | str]:
    """Per question, per option, the log-probability of each answer token; or why the question
    could not be scored. ``embed_sequence(i, ids)``: question i's input embeddings for ``ids``
    (its media included)."""
    results: list[list[list[float]] | str] = [""] * len(tokenized)
    sequences, kept = [], []
    for i, t in enumerate(tokenized):
        sequence = embed_sequence(i, t.prompt)
        need = sequence.shape[0] + max(len(a) for a in t.answers)
        if need > lm.max_positions:
            results[i] = (
                f"does not fit the model's context: {need} positions (media and prompt "
                f"{sequence.shape[0]}, longest answer {max(len(a) for a in t.answers)}) > {lm.max_positions}"
            )
            continue
        sequences.append(sequence)
        kept.append(i)
    if not kept:
        return results
    prefixes = run_prefixes(lm, sequences)
    first = lm.lm_head(prefixes.last_hidden).float().log_softmax(-1)
    continued = _packed_continuations(lm, prefixes, [tokenized[i] for i in kept], first)
    for row, i in enumerate(kept):
        t = tokenized[i]
        options = []
        for k, answer in enumerate(t.answers):
            if t.prefix_ok[k]:
                options.append(continued[row].get(k, []))  # an empty answer has no tokens to score
            else:
                options.append(_full_pass(lm, embed_sequence(i, t.fulls[k]), len(t.fulls[k]) - len(t.prompt), answer))
        results[i] = options
    return results


def _packed_continuations(
    lm: TextModel, prefixes: Prefixes, tokenized: list[Tokenized], first: torch.Tensor
) -> list[dict[int, list[float]]]:
    """Every prefix-ok option of every question in one pass on the prefix cache (see the module doc)."""
    packs = []  # per question: [(option k, start in the packed row, answer ids)]
    for t in tokenized:
        start, pack = 0, []
        for k, answer in enumerate(t.answers):
            if t.prefix_ok[k] and answer:
                pack.append((k, start, answer))
                start += len(answer)
        packs.append(pack)
    width = max(1, max((p[-1][1] + len(p[-1][2]) for p in packs if p), default=1))
    rows, prefix_width = len(tokenized), prefixes.mask.shape[1]
    ids = torch.zeros(rows, width, dtype=torch.long)
    positions = torch.zeros(rows, width, dtype=torch.long)
    allowed = torch.zeros(rows, width, prefix_width + width, dtype=torch.bool)
    allowed[:, :, :prefix_width] = prefixes.mask.bool().cpu()[:, None, :]
    for row, pack in enumerate(packs):
        used = 0
        for _, start, answer in pack:
            n = len(answer)
            ids[row, start : start + n] = torch.tensor(answer)
            positions[row, start : start + n] = prefixes.lengths[row] + torch.arange(n)
            block = torch.ones(n, n, dtype=torch.bool).tril()
            allowed[row, start : start + n, prefix_width + start : prefix_width + start + n] = block
            used = start + n
        for pad in range(used, width):  # padding queries see only themselves (no empty softmax)
            allowed[row, pad, :prefix_width] = False
            allowed[row, pad, prefix_width + pad] = True
            positions[row, pad] = prefixes.lengths[row]
    mask = torch.zeros(allowed.shape, dtype=lm.dtype).masked_fill_(~allowed, torch.finfo(lm.dtype).min)
    hidden = lm.hidden(
        lm.embed(ids),
        attention_mask=mask[:, None].to(lm.device),
        position_ids=positions.to(lm.device),
        cache=prefixes.cache,
    )
    gather_rows, gather_cols, targets, firsts = [], [], [], []
    for row, pack in enumerate(packs):
        for _, start, answer in pack:
            firsts.append((row, answer[0]))
            for j in range(1, len(answer)):
                gather_rows.append(row)
                gather_cols.append(start + j - 1)
                targets.append(answer[j])
    later = lm.logprobs_at(hidden, gather_rows, gather_cols, targets)
    first_values = (
        first[
            torch.tensor([r for r, _ in firsts], device=lm.device),
            torch.tensor([a for _, a in firsts], device=lm.device),
        ].tolist()
        if firsts
        else []
    )
    result: list[dict[int, list[float]]] = []
    cursor = index = 0
    for pack in packs:
        scored = {}
        for k, _, answer in pack:
            scored[k] = [first_values[index]] + later[cursor : cursor + len(answer) - 1]
            cursor += len(answer) - 1
            index += 1
        result.append(scored)
    return result


def _full_pass(lm: TextModel, embeds: torch.Tensor, n_answer: int, answer: tuple[int, ...]) -> list[float]:
    """Fallback: one option's whole text in one pass; its answer tokens are the last ``n_answer``."""
    hidden = lm.hidden(embeds.unsqueeze(0))
    total = embeds.shape[0]
    cols = [total - n_answer - 1 + j for j in range(n_answer)]
    return lm.logprobs_at(hidden, [0] * n_answer, cols, list(answer))


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


def score_choices(
    lm: TextModel,
    tokens: ChatTokens,
    users: list[str],
    options: list[tuple[Option, ...]],
    embed_sequence: Callable[[int, tuple[int, ...]], torch.Tensor],
) -> list[ChoiceResult]:
    """The boundary's ``score``: question i's user turn ``users[i]`` with ``options[i]``, its media
    embedded by ``embed_sequence`` (see ``score_options``)."""
    tokenized = [tokens.choice(user, choices) for user, choices in zip(users, options)]
    results = []
    for t, outcome in zip(tokenized, score_options(lm, tokenized, embed_sequence)):
        if isinstance(outcome, str):
            results.append(ChoiceResult(t.prompt_sha256, error=outcome))
            continue
        results.append(
            ChoiceResult(
                t.prompt_sha256,
                tuple(
                    OptionLogprobs(
                        answer,
                        tuple(logprobs),
                        t.n_text[k],
                        t.own_text[k],
                        tokens.token_text(answer[0]),
                        tokens.pad_id,
                        fallback=not t.prefix_ok[k],
                    )
                    for k, (answer, logprobs) in enumerate(zip(t.answers, outcome))
                ),
            )
        )
    return results


def generate_answers(
    lm: TextModel,
    tokens: ChatTokens,
    users: list[str],
    limits: list[int],
    stop_ids: set[int],
    embed_sequence: Callable[[int, tuple[int, ...]], torch.Tensor],
) -> list[Generation]:
    """The boundary's ``generate``: a greedy answer to each user turn, at most ``limits[i]`` tokens."""
    prompts = [tokens.prompt(user) for user in users]
    sequences = [embed_sequence(i, ids) for i, (ids, _) in enumerate(prompts)]
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


def score_cloze(
    lm: TextModel,
    tokens: ChatTokens,
    users: list[str],
    texts: list[tuple[str, ...]],
    framings: list[str],
    embed_sequence: Callable[[int, tuple[int, ...]], torch.Tensor],
    neutral: dict,
) -> list[ClozeResult]:
    """The boundary's ``score_cloze``: question i's cloze prompt ``users[i]`` (its media text
    included, for a family that writes media into the text) with each text of ``texts[i]`` as the
    answer (framed by ``framings[i]``): one prefix pass per question and the answers packed on its
    cache, as ``score_options``.
    ``neutral``: (framing, text) -> the text's log-probs after the neutral prompt, filled here
    for texts not seen before (once per distinct text for as long as the caller keeps it)."""
    tokenized = [tokens.cloze(user, choices, framing) for user, choices, framing in zip(users, texts, framings)]
    outcomes = score_options(lm, tokenized, embed_sequence)
    for framing in dict.fromkeys(framings):
        fill_neutral(
            lm,
            tokens,
            framing,
            [text for choices, f in zip(texts, framings) if f == framing for text in choices],
            neutral,
        )
    results = []
    for t, choices, framing, outcome in zip(tokenized, texts, framings, outcomes):
        if isinstance(outcome, str):
            results.append(ClozeResult(t.prompt_sha256, error=outcome))
            continue
        results.append(
            ClozeResult(
                t.prompt_sha256,
                t.answers,
                tuple(tuple(v) for v in outcome),
                tuple(neutral[(framing, text)] for text in choices),
            )
        )
    return results


def fill_neutral(lm: TextModel, tokens: ChatTokens, framing: str, texts: list[str], neutral: dict) -> None:
    """Each text's log-probs after the neutral prompt alone (no media), for texts ``neutral`` lacks."""
    missing = [text for text in dict.fromkeys(texts) if (framing, text) not in neutral]
    if not missing:
        return
    prompt = tuple(tokens.encode(tokens.neutral_prompt(framing)))
    chunks = [missing[i : i + NEUTRAL_CHUNK] for i in range(0, len(missing), NEUTRAL_CHUNK)]
    tokenized = [continuations(prompt, [tokens.cloze_answer(text, framing) for text in chunk], "") for chunk in chunks]
    for chunk, outcome in zip(chunks, score_options(lm, tokenized, lambda i, ids: lm.embed(ids))):
        if isinstance(outcome, str):
            raise ValueError(f"the neutral prompt does not fit the model: {outcome}")
        for text, logprobs in zip(chunk, outcome):
            neutral[(framing, text)] = tuple(logprobs)


def fallbacks(results: list[ChoiceResult]) -> int:
    """Options scored by their own full pass (the prompt was not a token prefix)."""
    return sum(o.fallback for r in results for o in r.options)
