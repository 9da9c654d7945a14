"""Asking a batch of questions in every formulation, on clips the model has loaded once: the options
listed (and, with ``--circular``, rotated through every position), the cloze prompt, and a generated
answer to each listing (``--generate``); one ``Record`` per question. A batch that fails is asked
again one question at a time, so that one bad question fails alone."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from fvlm_eval.answers import GENERATION_INSTRUCTION
from fvlm_eval.circular import rotated
from fvlm_eval.models.base import ModelAdapter, score_formulations
from fvlm_eval.plugins import kind_of, raised_words
from fvlm_eval.records import NOT_FINITE, SCORING_FAILED, Record, make_record
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.tasks import Benchmark
from fvlm_eval.types import ChoiceRequest, ChoiceResult, Clip, ClozeRequest, ClozeResult, GenerateRequest, Question


@dataclass(frozen=True)
class Asking:
    """How one run asks its questions: ``prompts`` and ``hashes`` per question id (the multiple-choice
    prompt as listed, and ``question_sha256``), the model's ``dtype`` (near-tie tolerance)."""

    benchmark: Benchmark
    model: ModelAdapter
    settings: RunSettings
    prompts: dict[str, str]
    hashes: dict[str, str]
    dtype: str

    def records(self, questions: list[Question], clips: dict[str, Clip], mode: str) -> list[Record]:
        if not questions:
            return []
        try:
            return self._ask(questions, clips, mode)
        except Exception as error:
            if len(questions) == 1:  # a batch of one question (the last of a run) fails alone too, never the run
                return [self._failed(questions[0], clips, mode, error)]
        records = []  # the batch failed: ask one at a time, so one bad question fails alone
        for question in questions:
            try:
                records += self._ask([question], clips, mode)
            except Exception as error:
                records.append(self._failed(question, clips, mode, error))
        return records

    def _failed(self, question: Question, clips: dict[str, Clip], mode: str, error: Exception) -> Record:
        return make_record(
            question,
            mode,
            self.prompts[question.id],
            self.hashes[question.id],
            error=f"{SCORING_FAILED}: {type(error).__name__}: {error}",
            clip=clips[question.media.key],
        )

    def _prompt(self, question: Question, clip: Clip, shift: int = 0) -> str:
        """The multiple-choice prompt (options listed) of ``question`` as asked with its options
        rotated by ``shift`` (``question`` already rotated)."""
        if question.subtitles or shift:
            return self.benchmark.prompt(question, clip.timestamps)
        return self.prompts[question.id]

    def _ask(self, questions: list[Question], clips: dict[str, Clip], mode: str) -> list[Record]:
        settings = self.settings
        asked = [
            (i, shift, rotated(q, shift)[0] if shift else q)
            for i, q in enumerate(questions)
            for shift in range(len(q.options) if settings.circular else 1)
        ]
        prompts = [self._prompt(q, clips[q.media.key], shift) for _, shift, q in asked]
        results, cloze = score_formulations(
            self.model,
            [ChoiceRequest(q.media.key, p, q.options) for (_, _, q), p in zip(asked, prompts)],
            [
                ClozeRequest(
                    q.media.key,
                    self.benchmark.cloze_prompt(q, clips[q.media.key].timestamps),
                    tuple(o.text for o in q.options),
                    settings.cloze_framing,
                )
                for q in questions
            ],
            mode,
        )
        generations = [None] * len(asked)
        if settings.generate:
            generations = self.model.generate(
                [
                    GenerateRequest(q.media.key, f"{p}\n{GENERATION_INSTRUCTION}", settings.max_new_tokens)
                    for (_, _, q), p in zip(asked, prompts)
                ],
                mode,
            )
        answers: dict[int, list] = {}
        for (i, _, _), prompt, result, generation in zip(asked, prompts, results, generations):
            answers.setdefault(i, []).append((prompt, result, generation))
        records = []
        for i, question in enumerate(questions):
            (prompt, result, generation), *others = answers[i]
            records.append(
                make_record(
                    question,
                    mode,
                    prompt,
                    self.hashes[question.id],
                    result=result,
                    error=not_finite([r for _, r, _ in answers[i]], cloze[i], question.letters),
                    clip=clips[question.media.key],
                    generation=generation,
                    cloze=cloze[i],
                    cloze_framing=settings.cloze_framing,
                    dtype=self.dtype,
                    rotations=[(r, g) for _, r, g in others] if settings.circular else None,
                )
            )
        return records


def prompted(benchmark: Benchmark, questions: list[Question]) -> tuple[list[Question], dict[str, str], list[str]]:
    """The questions, each one's multiple-choice prompt (by id), and one line per question failed here: a question
    whose ``prompt`` or ``cloze_prompt`` raises (or gives no text) fails alone, with what it raised as its error
    (a plugin's prompt raising on one question ended the whole run as an unexpected error)."""
    prompts, asked, failed = {}, [], []
    for question in questions:
        if question.options:
            prompt, why = "", None
            try:
                texts = {"prompt": benchmark.prompt(question), "cloze prompt": benchmark.cloze_prompt(question)}
                prompt = texts["prompt"]
                why = next(
                    (f"its {w} is {kind_of(t)}, not text" for w, t in texts.items() if not isinstance(t, str)), None
                )
            except Exception as error:
                why = f"writing its prompt failed: {raised_words(error)}"
            prompt = prompt if isinstance(prompt, str) else ""
            if why and not question.error:
                question = dataclasses.replace(question, error=why)
                failed.append(f"{question.id}: {why}")
            prompts[question.id] = prompt
        asked.append(question)
    return asked, prompts, failed


DIVERGED = ": diverged weights, or an overflow in this dtype; no prediction is made from them"


def not_finite(results: list[ChoiceResult], cloze: ClozeResult, letters: tuple[str, ...]) -> str | None:
    """Why a question's scores cannot be trusted: a log-probability that is NaN or infinite (diverged
    weights, an overflow in half precision) in any rotation or in the cloze formulation; else ``None``.
    Such a question is a recorded failure, never a prediction (``max`` of NaNs picks the first letter)."""
    for result in results:
        for letter, option in zip(letters, result.options):
            if not all(map(math.isfinite, option.logprobs)):
                return f"{NOT_FINITE} (options listed, option {letter}){DIVERGED}"
    for letter, after_question, neutral in zip(letters, cloze.logprobs, cloze.neutral):
        if not all(map(math.isfinite, (*after_question, *neutral))):
            return f"{NOT_FINITE} (cloze, option {letter}){DIVERGED}"
    return None
