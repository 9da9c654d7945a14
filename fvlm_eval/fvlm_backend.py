"""fVLM behind the ``ChoiceModel`` boundary: every prefix shared, many questions per pass.

Per clip: one DINOv2 encode (distinct frames only: an image replicated 8x encodes once), the
per-layer K/V kept for every mode and question. Per (clip, mode): the T visual tokens once.
Per question: one LLM pass over [visual tokens; prompt], left-padded across the batch, its KV
cache kept; then every option of every question of the batch as continuations on that cache
(the cache rows repeated per option), right-padded. Text is the SmolLM2 chat template with the
system prompt the release always sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fvlm_eval.media import Clip
from fvlm_eval.types import MODES, OptionLogprobs, ScoreRequest

SYSTEM_PROMPT = "You are a helpful AI assistant."
LOGIT_CHUNK = 1024  # positions per lm_head call (bounds the [positions, vocab] logits)
ENCODE_CHUNK = 256  # frames per DINOv2 call


@dataclass(frozen=True)
class Tokenized:
    """A prompt's ids and, per answer, its full ids; ``prefix_ok[k]``: the prompt is a token prefix of full k."""

    prompt: tuple[int, ...]
    fulls: tuple[tuple[int, ...], ...]
    n_text: tuple[int, ...]
    prefix_ok: tuple[bool, ...]

    @property
    def answers(self) -> tuple[tuple[int, ...], ...]:
        """Each option's answer tokens: full[len(prompt):] (option text, then the template suffix)."""
        return tuple(full[len(self.prompt) :] for full in self.fulls)


class ChatTokens:
    """The chat-template text of a question and its options, as token ids (cached per prompt)."""

    def __init__(self, tokenizer, system_prompt: str = SYSTEM_PROMPT):
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.pad_id = tokenizer.pad_token_id
        marker = "\u2063"
        rendered = self.render(marker, marker)
        self.suffix = tuple(self.encode(rendered[rendered.rindex(marker) + 1 :]))
        self._cache: dict[tuple[str, tuple[str, ...]], Tokenized] = {}

    def render(self, user: str, answer: str | None = None) -> str:
        messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": user}]
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def __call__(self, prompt: str, answers: tuple[str, ...]) -> Tokenized:
        key = (prompt, answers)
        if key not in self._cache:
            prompt_ids = tuple(self.encode(self.render(prompt)))
            fulls = tuple(tuple(self.encode(self.render(prompt, answer))) for answer in answers)
            tails = [full[len(prompt_ids) :] for full in fulls]
            n_text = [len(t) - len(self.suffix) if t[len(t) - len(self.suffix) :] == self.suffix else len(t) for t in tails]
            ok = [full[: len(prompt_ids)] == prompt_ids for full in fulls]
            self._cache[key] = Tokenized(prompt_ids, fulls, tuple(n_text), tuple(ok))
        return self._cache[key]

    def token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id])


class FVLMChoiceModel:
    """``ChoiceModel`` for ``model.FoveatedVLM`` (the fast path)."""

    modes = MODES

    def __init__(self, model, tokenizer, description: dict[str, object] | None = None):
        self.model = model
        self.tokens = ChatTokens(tokenizer)
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self._description = description or {}
        self._kv: dict[str, tuple] = {}
        self._visual: dict[tuple[str, str], torch.Tensor] = {}
        self.fallback_count = 0
        self.frames_encoded = 0

    def describe(self) -> dict[str, object]:
        return {**self._description, "device": str(self.device), "dtype": str(self.dtype).replace("torch.", ""),
                "prompt_format": f"chat template, system prompt {self.tokens.system_prompt!r}"}

    # ----- vision ---------------------------------------------------------------------------

    @torch.no_grad()
    def prepare(self, clips: list[Clip]) -> None:
        """One DINOv2 pass over the distinct frames of all ``clips``; K/V kept per clip."""
        clips = [c for c in clips if c.key not in self._kv]
        if not clips:
            return
        pixels = torch.cat([c.pixels for c in clips]).to(self.device, self.dtype)
        from model import VisionKV

        parts = [self.model.encode(pixels[i : i + ENCODE_CHUNK]) for i in range(0, len(pixels), ENCODE_CHUNK)]
        kv = VisionKV.cat(parts)
        self.frames_encoded += len(pixels)
        offset = 0
        for clip in clips:
            distinct = clip.pixels.shape[0]
            if clip.frame_map == tuple(range(distinct)):  # frames in order, none repeated: a view, no copy
                self._kv[clip.key] = (kv.narrow(offset, distinct), clip.n_frames)
            else:
                self._kv[clip.key] = (kv.select([offset + i for i in clip.frame_map]), clip.n_frames)
            offset += distinct

    def release(self, keys: list[str]) -> None:
        for key in keys:
            self._kv.pop(key, None)
            for mode in self.modes:
                self._visual.pop((key, mode), None)

    @torch.no_grad()
    def _visual_tokens(self, keys: list[str], mode: str) -> None:
        """Visual tokens of every clip in ``keys`` not yet computed for ``mode``, batched by frame count."""
        from model import VisionKV

        todo = [k for k in dict.fromkeys(keys) if (k, mode) not in self._visual]
        by_frames: dict[int, list[str]] = {}
        for key in todo:
            by_frames.setdefault(self._kv[key][1], []).append(key)
        for n_frames, group in by_frames.items():
            kv = VisionKV.cat([self._kv[k][0] for k in group])
            tokens = self.model.visual_tokens(kv, n_frames, mode)
            for key, clip_tokens in zip(group, tokens):
                self._visual[(key, mode)] = clip_tokens

    # ----- language -------------------------------------------------------------------------

    @torch.no_grad()
    def score(self, requests: list[ScoreRequest], mode: str) -> list[list[OptionLogprobs]]:
        if not requests:
            return []
        self._visual_tokens([r.clip_key for r in requests], mode)
        tokenized = [self.tokens(r.prompt, r.answers) for r in requests]
        visuals = [self._visual[(r.clip_key, mode)] for r in requests]
        first_logprobs, cache, prefix_mask, prefix_lengths = self._prefix_pass(visuals, tokenized)
        rows = [(i, k) for i, t in enumerate(tokenized) for k in range(len(t.answers)) if t.prefix_ok[k]]
        continued = self._continuations(rows, tokenized, first_logprobs, cache, prefix_mask, prefix_lengths)
        results = []
        for i, t in enumerate(tokenized):
            options = []
            for k, answer in enumerate(t.answers):
                if t.prefix_ok[k]:
                    logprobs = continued[(i, k)]
                else:
                    self.fallback_count += 1
                    logprobs = self._full_pass(visuals[i], t, k)
                options.append(OptionLogprobs(answer, tuple(logprobs), t.n_text[k], self.tokens.token_text(answer[0]),
                                              self.tokens.pad_id, fallback=not t.prefix_ok[k]))
            results.append(options)
        return results

    def _embed(self, ids) -> torch.Tensor:
        return self.model.llm.get_input_embeddings()(torch.as_tensor(ids, device=self.device, dtype=torch.long))

    def _prefix_pass(self, visuals, tokenized):
        """One left-padded LLM pass over [visual; prompt] per request; returns the first-answer-token
        log-distribution per request, the KV cache, the padding mask and each prefix's length."""
        from transformers import DynamicCache

        sequences = [torch.cat([v.to(self.dtype), self._embed(t.prompt)]) for v, t in zip(visuals, tokenized)]
        lengths = [s.shape[0] for s in sequences]
        longest = max(lengths)
        width = sequences[0].shape[1]
        embeds = torch.zeros(len(sequences), longest, width, device=self.device, dtype=self.dtype)
        mask = torch.zeros(len(sequences), longest, device=self.device, dtype=torch.long)
        for i, sequence in enumerate(sequences):
            embeds[i, longest - lengths[i] :] = sequence
            mask[i, longest - lengths[i] :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.llm.config)
        hidden = self.model.llm_hidden(embeds, attention_mask=mask, position_ids=positions, cache=cache)
        first = self.model.llm.lm_head(hidden[:, -1]).float().log_softmax(-1)
        return first, cache, mask, torch.tensor(lengths, device=self.device)

    def _continuations(self, rows, tokenized, first_logprobs, cache, prefix_mask, prefix_lengths):
        """All (request, option) answers as one right-padded batch on the repeated prefix cache."""
        if not rows:
            return {}
        answers = [tokenized[i].answers[k] for i, k in rows]
        longest = max(len(a) for a in answers)
        ids = torch.zeros(len(rows), longest, device=self.device, dtype=torch.long)
        answer_mask = torch.zeros(len(rows), longest, device=self.device, dtype=torch.long)
        for row, answer in enumerate(answers):
            ids[row, : len(answer)] = torch.tensor(answer)
            answer_mask[row, : len(answer)] = 1
        source = torch.tensor([i for i, _ in rows], device=self.device)
        firsts = first_logprobs[source, torch.tensor([a[0] for a in answers], device=self.device)].tolist()
        cache.batch_select_indices(source)
        mask = torch.cat([prefix_mask[source], answer_mask], dim=1)
        positions = prefix_lengths[source, None] + torch.arange(longest, device=self.device)
        hidden = self.model.llm_hidden(self._embed(ids), attention_mask=mask, position_ids=positions, cache=cache)
        # Answer token j>0 is predicted at continuation position j-1; token 0 by the prefix's last position.
        picks = [(row, j) for row, answer in enumerate(answers) for j in range(len(answer) - 1)]
        targets = [answers[row][j + 1] for row, j in picks]
        later = self._gather_logprobs(hidden, picks, targets)
        result, cursor = {}, 0
        for row, (i, k) in enumerate(rows):
            answer = answers[row]
            values = [firsts[row]] + later[cursor : cursor + len(answer) - 1]
            cursor += len(answer) - 1
            result[(i, k)] = values
        return result

    def _gather_logprobs(self, hidden, picks, targets) -> list[float]:
        """log p(target) at the given (row, position)s, in chunks so [positions, vocab] stays small."""
        if not picks:
            return []
        index_rows = torch.tensor([r for r, _ in picks], device=self.device)
        index_cols = torch.tensor([c for _, c in picks], device=self.device)
        target = torch.tensor(targets, device=self.device)
        values = []
        for start in range(0, len(picks), LOGIT_CHUNK):
            sl = slice(start, start + LOGIT_CHUNK)
            logits = self.model.llm.lm_head(hidden[index_rows[sl], index_cols[sl]]).float()
            values.append(logits.gather(-1, target[sl, None]).squeeze(-1) - logits.logsumexp(-1))
        return torch.cat(values).tolist()

    def _full_pass(self, visual, tokenized: Tokenized, k: int) -> list[float]:
        """Fallback: the option's full text in one pass; its answer tokens are full[len(prompt):]."""
        full = list(tokenized.fulls[k])
        start = len(tokenized.prompt)
        embeds = torch.cat([visual.to(self.dtype), self._embed(full)]).unsqueeze(0)
        hidden = self.model.llm_hidden(embeds)
        offset = visual.shape[0]
        picks = [(0, offset + p - 1) for p in range(start, len(full))]
        return self._gather_logprobs(hidden, picks, full[start:])


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_choice_model(source, device: str | None = None, dtype: str | None = None) -> FVLMChoiceModel:
    """An fVLM checkpoint (hub id, folder or file) behind the harness's model boundary."""
    from model.loading import file_sha256, load_fvlm, resolve_source

    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype}; choose from {', '.join(DTYPES)}")
    weights, _ = resolve_source(source)  # a hub id is downloaded once, here
    model, tokenizer = load_fvlm(weights, device=device, dtype=DTYPES.get(dtype))
    return FVLMChoiceModel(model, tokenizer, {"source": str(source), "weights": str(weights), "sha256": file_sha256(weights)})
