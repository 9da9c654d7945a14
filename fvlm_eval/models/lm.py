"""The language half every family shares: option scoring in both formulations on one packed pass.

A family gives, per question, the group its media belongs to (a clip) and the input embeddings of
any token sequence (its media put where its architecture puts them: fVLM's visual tokens before the
text, SmolVLM's image features at its ``<image>`` tokens), and a Llama-style decoder. Then, for a
batch of questions, every option of every formulation is one sequence (the prompt, then the option as
the answer, but for its last token: nothing reads that position or attends to it); the sequences of
one clip go into one prefix tree (``prefix_tree``), so the media, the prompt and any shared start of
the answers are computed once, and the forward calls over the trees (``TextModel.passes``: on the CPU
flat, ``flat_pass``; elsewhere padded rows of similar trees) give every answer token's log-probability,
read where it is predicted (token j of an answer at the position of token j-1; the first at the
prompt's last position). Where the family has the decoder's keys and values over the media's first
positions already (``Past``: fVLM's visual tokens, run through the LLM to make them), the tree starts
after them and attends to them as a cache.

An option whose prompt tokens are not a prefix of its full text (a tokenizer merging across the
boundary) is its own path in the tree, its answer the tokens after the prompt's length, and is
marked ``fallback``. Everything here is a natural log.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from fvlm_eval.models.chat_tokens import ChatTokens, Tokenized, continuations
from fvlm_eval.models.flat_pass import FlatCall, FlatDecoder, flat_calls
from fvlm_eval.models.prefix_tree import Tree, calls
from fvlm_eval.types import ChoiceResult, ClozeResult, Option, OptionLogprobs

LOGIT_ROWS = 512  # hidden states per lm_head product
LOGIT_COLUMNS = 4096  # vocabulary entries per lm_head product (the [rows, columns] logits stay in the cache)
NEUTRAL_CHUNK = 64  # distinct option texts per tree of the neutral-prompt pass


@dataclass(frozen=True)
class Past:
    """The decoder's keys and values over the first ``length`` media positions, computed elsewhere (an
    fVLM mode's visual tokens, run through the LLM to make them): per layer [kv_heads, length,
    head_dim], RoPE applied, as the decoder's cache holds them."""

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]

    @property
    def length(self) -> int:
        return self.keys[0].shape[1]

    def first(self, length: int) -> Past:
        return Past(tuple(k[:, :length] for k in self.keys), tuple(v[:, :length] for v in self.values))


@dataclass(frozen=True)
class Media:
    """What a question's text is embedded with: ``group`` (questions of one group share their media, so
    their sequences share a prefix tree: a clip's key), ``embed(ids)``, the input embeddings of token ids
    with the media where the family puts it, and ``past``, the decoder's keys and values over the
    media's first positions where the family has them already (those positions are not run again)."""

    group: str
    embed: Callable[[tuple[int, ...]], torch.Tensor]
    past: Past | None = None


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
        self.flat = FlatDecoder(decoder) if FlatDecoder.fits(decoder) else None

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

    def cache_of(self, past: tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]] | None):
        """A fresh cache holding ``past`` (per layer keys and values [rows, kv_heads, length, head_dim]);
        None for none."""
        if past is None:
            return None
        cache = self.new_cache()
        for layer, (keys, values) in enumerate(zip(*past)):
            cache.update(keys, values, layer)
        return cache

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

    def passes(self, trees: list[Tree], embeddings: list[torch.Tensor]) -> list:
        """The forward calls that hold ``trees``: flat on the CPU where the decoder allows it (``flat_pass``:
        no padding, attention only within what a node can see), else padded rows (``prefix_tree``)."""
        if self.flat is not None and self.device.type == "cpu":
            return flat_calls(trees, embeddings, self.dtype, self.device)
        return calls(trees, embeddings, self.dtype, self.device)

    def states(self, call, at: torch.Tensor) -> torch.Tensor:
        """The last hidden states of a call of ``passes`` at its places ``at`` ([reads, 2]: row, column), [reads,
        hidden]. Flat, the last layer runs only where it is read."""
        if isinstance(call, FlatCall):
            return self.flat.hidden(call, at[:, 1])[0]
        out = self.hidden(
            call.embeds, attention_mask=call.mask, position_ids=call.positions, cache=self.cache_of(call.past)
        )
        return out[at[:, 0], at[:, 1]]

    def logprobs(self, states: torch.Tensor, place: list[int], targets: list[int]) -> list[float]:
        """log p(targets[i]) after the hidden state ``states[place[i]]``: every state through ``lm_head``
        once, ``LOGIT_ROWS`` states at a time, each normaliser the log-sum-exp of its vocabulary blocks'."""
        if not place:
            return []
        place_of = torch.tensor(place, device=self.device)
        target_of = torch.tensor(targets, device=self.device)
        values = torch.empty(len(place), dtype=torch.float32, device=self.device)
        for start in range(0, states.shape[0], LOGIT_ROWS):
            reads = ((place_of >= start) & (place_of < start + LOGIT_ROWS)).nonzero().squeeze(1)
            local, target = place_of[reads] - start, target_of[reads]
            norms, chosen = [], torch.empty(len(reads), dtype=torch.float32, device=self.device)
            for first, logits in self._logit_blocks(states[start : start + LOGIT_ROWS]):
                norms.append(logits.logsumexp(-1))
                inside = ((target >= first) & (target < first + logits.shape[1])).nonzero().squeeze(1)
                chosen[inside] = logits[local[inside], target[inside] - first]
            values[reads] = chosen - torch.stack(norms).logsumexp(0)[local]
        return values.tolist()

    def _logit_blocks(self, states: torch.Tensor):
        """(first vocabulary entry, float32 logits [states, entries]) over the whole vocabulary, in blocks
        of ``LOGIT_COLUMNS`` entries (the logits stay in the cache) where ``lm_head`` is a plain linear map."""
        head = self.lm_head
        if type(head) is not torch.nn.Linear:
            yield 0, head(states).float()
            return
        for first in range(0, head.out_features, LOGIT_COLUMNS):
            end = first + LOGIT_COLUMNS
            yield (
                first,
                F.linear(states, head.weight[first:end], None if head.bias is None else head.bias[first:end]).float(),
            )


Job = tuple[Media, Tokenized]  # a question's prompt and options (in one formulation), with its media


def score_packed(lm: TextModel, jobs: list[Job]) -> list[list[list[float]] | str]:
    """Per job, per option, the log-probability of each answer token; or why the question could not be
    scored (see the module doc)."""
    results: list[list[list[float]] | str] = [""] * len(jobs)
    trees: dict[tuple[object, int], Tree] = {}  # (media group, positions the past holds) -> its tree
    embeddings: list[torch.Tensor] = []
    reads: list[list[tuple[object, int, int]]] = []  # per (job, option) scored: (group, node, target) per token
    slots: list[tuple[int, int]] = []  # (job, option) of each entry of ``reads``
    for j, (media, tokenized) in enumerate(jobs):
        paths = [(k, full) for k, full in enumerate(tokenized.fulls) if len(full) > len(tokenized.prompt)]
        embedded = [media.embed(full) for _, full in paths]
        extra = embedded[0].shape[0] - len(paths[0][1]) if paths else 0  # media positions before the ids
        need = extra + max((len(full) for _, full in paths), default=0)
        if need > lm.max_positions:
            longest = max(len(a) for a in tokenized.answers)
            results[j] = (
                f"does not fit the model's context: {need} positions (media and prompt "
                f"{extra + len(tokenized.prompt)}, longest answer {longest}) > {lm.max_positions}"
            )
            continue
        if extra + len(tokenized.prompt) < 1:
            raise ValueError("an answer needs a prompt or media before it: its first token is predicted there")
        results[j] = [[] for _ in tokenized.fulls]  # an empty answer has no tokens to score
        # The positions the past holds are not run, but the prompt's last (the first answer token is read
        # there): a tree per group and skip (one, but for an empty prompt after the whole media).
        skip = min(media.past.length, extra, extra + len(tokenized.prompt) - 1) if media.past else 0
        group = (media.group, skip)
        tree = trees.setdefault(group, Tree(skip, media.past.first(skip) if skip else None))
        for (k, full), embeds in zip(paths, embedded):
            # The last token is read where it is predicted, and nothing attends to it: it needs no node.
            nodes = tree.insert([("media", d) for d in range(skip, extra)] + list(full[:-1]), len(embeddings))
            embeddings.append(embeds[skip:])
            start = extra + len(tokenized.prompt)
            reads.append([(group, nodes[at - 1 - skip], full[at - extra]) for at in range(start, extra + len(full))])
            slots.append((j, k))
    groups = list(trees)
    wanted: list[tuple[object, int, int]] = []  # every distinct read, as the calls reach them
    places: dict[tuple[object, int], int] = {}  # (group, node) read -> its row in ``states``
    states: list[torch.Tensor] = []  # the hidden states read, per call
    for call in lm.passes([trees[g] for g in groups], embeddings):
        index_of = {groups[t]: k for k, t in enumerate(call.trees)}
        here = list(dict.fromkeys(read for path in reads for read in path if read[0] in index_of))
        new = list(dict.fromkeys((g, node) for g, node, _ in here))
        at = torch.tensor([call.place(index_of[g], node) for g, node in new], dtype=torch.long, device=lm.device)
        at = at.reshape(-1, 2)
        states.append(lm.states(call, at))
        for read_at in new:
            places[read_at] = len(places)
        wanted += here
    found = lm.logprobs(
        torch.cat(states) if states else torch.empty(0),
        [places[(g, node)] for g, node, _ in wanted],
        [t for *_, t in wanted],
    )
    values = dict(zip(wanted, found))
    for (j, k), path in zip(slots, reads):
        results[j][k] = [values[read] for read in path]
    return results


Choice = tuple[str, tuple[Option, ...], Media]  # the user turn, its options (listed in it), its media
Cloze = tuple[str, tuple[str, ...], str, Media]  # the cloze prompt, the option texts, the framing, its media


def score_formulations(
    lm: TextModel, tokens: ChatTokens, choices: list[Choice], clozes: list[Cloze], neutral: dict
) -> tuple[list[ChoiceResult], list[ClozeResult]]:
    """The boundary's ``score`` and ``score_cloze`` in one packed pass: a clip's sequences of both
    formulations share one tree. ``neutral``: (framing, text) -> the text's log-probs after the neutral
    prompt (for PMI), filled here, in the same pass, for texts not seen before (once per distinct text
    for as long as the caller keeps it)."""
    choice_tokens = [tokens.choice(user, options) for user, options, _ in choices]
    cloze_tokens = [tokens.cloze(user, texts, framing) for user, texts, framing, _ in clozes]
    missing = _neutral_jobs(lm, tokens, clozes, neutral)
    jobs = [(m, t) for (*_, m), t in zip(choices, choice_tokens)] + [(m, t) for (*_, m), t in zip(clozes, cloze_tokens)]
    outcomes = score_packed(lm, jobs + [job for job, _, _ in missing])
    for (_, framing, texts), outcome in zip(missing, outcomes[len(jobs) :]):
        if isinstance(outcome, str):
            raise ValueError(f"the neutral prompt does not fit the model: {outcome}")
        neutral.update(((framing, text), tuple(logprobs)) for text, logprobs in zip(texts, outcome))
    choice_results = [_choice_result(tokens, t, o) for t, o in zip(choice_tokens, outcomes)]
    cloze_results = [
        ClozeResult(t.prompt_sha256, error=outcome)
        if isinstance(outcome, str)
        else ClozeResult(
            t.prompt_sha256,
            t.answers,
            tuple(tuple(v) for v in outcome),
            tuple(neutral[(framing, text)] for text in texts),
        )
        for (_, texts, framing, _), t, outcome in zip(clozes, cloze_tokens, outcomes[len(choices) : len(jobs)])
    ]
    return choice_results, cloze_results


def _choice_result(tokens: ChatTokens, t: Tokenized, outcome: list[list[float]] | str) -> ChoiceResult:
    if isinstance(outcome, str):
        return ChoiceResult(t.prompt_sha256, error=outcome)
    return ChoiceResult(
        t.prompt_sha256,
        tuple(
            OptionLogprobs(
                answer,
                tuple(logprobs),
                t.n_text[k],
                t.own_text[k],
                tokens.token_text(answer[0]) if answer else "",
                tokens.pad_id,
                fallback=not t.prefix_ok[k],
            )
            for k, (answer, logprobs) in enumerate(zip(t.answers, outcome))
        ),
    )


def _neutral_jobs(lm: TextModel, tokens: ChatTokens, clozes: list[Cloze], neutral: dict):
    """The neutral-prompt pass for the option texts ``neutral`` lacks: per chunk of texts, (job, framing,
    texts); text only, the chunk's texts continuing one prompt (one tree)."""
    jobs = []
    for framing in dict.fromkeys(f for _, _, f, _ in clozes):
        texts = [t for _, texts, f, _ in clozes if f == framing for t in texts]
        missing = [text for text in dict.fromkeys(texts) if (framing, text) not in neutral]
        prompt = tuple(tokens.encode(tokens.neutral_prompt(framing)))
        for start in range(0, len(missing), NEUTRAL_CHUNK):
            chunk = missing[start : start + NEUTRAL_CHUNK]
            answers = [tokens.cloze_answer(text, framing) for text in chunk]
            media = Media(("neutral", framing, start), lm.embed)
            jobs.append(((media, continuations(prompt, answers, "")), framing, chunk))
    return jobs


def score_choices(lm: TextModel, tokens: ChatTokens, choices: list[Choice]) -> list[ChoiceResult]:
    """The boundary's ``score``: question i's user turn with its options listed, each option scored as
    the assistant's answer."""
    return score_formulations(lm, tokens, choices, [], {})[0]


def score_cloze(lm: TextModel, tokens: ChatTokens, clozes: list[Cloze], neutral: dict) -> list[ClozeResult]:
    """The boundary's ``score_cloze``: question i's cloze prompt (its media text included, for a family
    that writes media into the text) with each of its texts as the answer (see ``score_formulations``)."""
    return score_formulations(lm, tokens, [], clozes, neutral)[1]


def fallbacks(results: list[ChoiceResult]) -> int:
    """Options scored by their own path (the prompt was not a token prefix)."""
    return sum(o.fallback for r in results for o in r.options)
