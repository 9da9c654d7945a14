"""A question and its options as the token ids of a family's chat text, in both formulations.

Multiple choice: the chat text up to the assistant's answer (the prompt), and per option the whole
text with ``"{letter}. {text}"`` as the answer; the answer tokens are what follows the prompt's
tokens (a tokenizer that merges across the boundary leaves the prompt not a prefix: ``prefix_ok``).
Cloze: the question alone (plain, or in the chat template), each option's text tokenized on its
own so that it reads the same after any prompt.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fvlm_eval.models.base import ModelLoadError
from fvlm_eval.types import NEUTRAL_PROMPT, Option

TOKEN_CACHE = 512  # questions whose token ids are kept (a SmolVLM2 video question holds thousands)


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


def _probed(tokenizer, render: Callable[[str, str | None], str], marker: str) -> tuple[str, str]:
    """The template rendered around ``marker`` (as the user's text and as the answer, and up to the answer), or
    a ``ModelLoadError`` naming the template when it cannot render or drops the text it is given."""
    folder = Path(str(getattr(tokenizer, "name_or_path", "") or "."))
    where = folder / "chat_template.jinja" if (folder / "chat_template.jinja").is_file() else "its chat template"
    try:
        rendered, opened = render(marker, marker), render(marker, None)
    except Exception as error:  # jinja's syntax and runtime errors, a template that raises on purpose
        if not getattr(tokenizer, "chat_template", None):  # transformers' whole paragraph said only this
            raise ModelLoadError(
                f"{folder}: its tokenizer has no chat template (chat_template.jinja missing): copy the model's own "
                "in, or remove the tokenizer files for the bundled SmolLM2-135M-Instruct one"
            ) from error
        raise ModelLoadError(
            f"{where}: cannot be used as the chat template ({type(error).__name__}: {str(error).splitlines()[0]})"
        ) from error
    if rendered.count(marker) < 2 or marker not in opened:
        raise ModelLoadError(
            f"{where}: cannot be used as the chat template: it drops the text it is given (it renders "
            f"{' '.join(rendered.split())[:60]!r})"
        )
    return rendered, opened


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
        rendered, opened = _probed(tokenizer, render, marker)
        self.suffix = tuple(self.encode(rendered[rendered.rindex(marker) + 1 :]))
        # What the template puts between the generation prompt and the assistant's text (SmolVLM2: a space).
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
