"""The small typed values that travel through the harness (no torch here: the CLI imports this)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

LETTERS = "ABCDEFGHIJ"
MediaKind = Literal["video", "frame_folder", "image"]
ClozeFraming = Literal["plain", "chat"]
CLOZE_FRAMINGS = ("plain", "chat")
NEUTRAL_PROMPT = "Answer:"  # what PMI conditions an option's text on when there is no question (and no media)
SamplingPolicy = Literal["segment_midpoints", "uniform", "fps", "fps_spread"]
# The settings.json keys that name the model of a run: one output folder holds one model's runs (``run`` refuses
# another's, ``report`` says when an older folder mixes them)
MODEL_IDENTITY = ("family", "model_sha256", "model_build_sha256", "dtype")
# ... of which settings.json holds some only since they were added: a folder made before is compared without them
IDENTITY_ADDED_SINCE = ("model_build_sha256",)


def identity_keys(*settings: dict) -> tuple[str, ...]:
    """The ``MODEL_IDENTITY`` keys every one of ``settings`` can be compared on (one added since is left out
    when a settings object made before it lacks it)."""
    return tuple(k for k in MODEL_IDENTITY if k not in IDENTITY_ADDED_SINCE or all(k in s for s in settings))


@dataclass(frozen=True)
class Sampling:
    """Which frames of a clip to take (images are one frame; replicating it is a model's choice).

    ``segment_midpoints``: the official MVBench rule, the middle frame of each of ``frames`` equal
    segments of the clip (or of its bound). ``uniform``: ``frames`` indices spread evenly from the
    first to the last frame. ``fps``: every ``max(1, int(video fps / fps))``-th frame from the first, the
    first ``frames`` kept (whole frames, as fVLM's release decodes: every 29th of a 29.97 fps video).
    ``fps_spread``: about ``fps`` frames a second spread evenly over the clip, at most ``frames``,
    ``skip_seconds`` cut from both ends of a clip long enough, duplicates dropped (a model's own
    video input: ``ModelAdapter.video_sampling``).
    """

    policy: SamplingPolicy = "segment_midpoints"
    frames: int = 16
    fps: float | None = None
    skip_seconds: float = 0.0

    def describe(self) -> str:
        rate = f"@{self.fps:g}fps" if self.policy in ("fps", "fps_spread") else ""
        skip = f"-skip{self.skip_seconds:g}s" if self.skip_seconds else ""
        # ``-whole``: steps of whole frames; a folder made before (``fps:64@1fps``, exact seconds) is another setting
        whole = "-whole" if self.policy == "fps" else ""
        return f"{self.policy}:{self.frames}{rate}{skip}{whole}"


@dataclass(frozen=True)
class Media:
    """Where a question's pixels come from. ``key`` names it (one decode per key, the frame cache's name)."""

    kind: MediaKind
    key: str
    path: str | None = None
    data: bytes | None = field(default=None, repr=False)
    bound: tuple[float, float] | None = None
    folder_fps: float | None = None
    looked_in: tuple[str, ...] = ()  # where a missing file was searched for (the error message says so)


@dataclass(frozen=True)
class Option:
    letter: str
    text: str

    @property
    def answer(self) -> str:
        """The assistant turn that scores this option: ``"{letter}. {text}"``."""
        return f"{self.letter}. {self.text}"

    @property
    def text_offset(self) -> int:
        """Where the option's own text starts in ``answer`` (after the letter and ``". "``)."""
        return len(self.letter) + 2


@dataclass(frozen=True)
class Question:
    """One multiple-choice question, as a benchmark adapter yields it.

    ``error`` is set when the question cannot be scored for a reason known at load time (a
    malformed row, a path escaping the data folder): it is still recorded and counts as wrong.
    ``source``/``source_sha256``: the annotation file it came from and that file's fingerprint.
    ``notes``: anything the adapter had to decide (e.g. an answer equal to two candidates).
    """

    id: str
    benchmark: str
    media: Media
    question: str
    options: tuple[Option, ...]
    gold: str | None
    group: str
    context: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    source: str = ""
    source_sha256: str = ""
    notes: tuple[str, ...] = ()
    subtitles: tuple[tuple[float, float, str], ...] = ()  # (start s, end s, text), for prompts that use them

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(option.letter for option in self.options)

    def field_dict(self) -> dict[str, str]:
        return dict(self.fields)


@dataclass(frozen=True)
class Clip:
    """Decoded frames of one media, as uint8 RGB, after the model's own frame transform.

    ``frames`` [U,H,W,3] holds each distinct sampled frame once; the clip's T frames are
    ``frames[frame_map]``. ``indices``/``timestamps``: each sampled frame's index in the source
    and its time in seconds (``None`` for an image). ``kind`` is ``"image"`` for a still image.
    """

    key: str
    kind: Literal["video", "image"]
    frames: np.ndarray = field(repr=False)
    frame_map: tuple[int, ...]
    indices: tuple[int, ...]
    timestamps: tuple[float, ...] | None
    source_frames: int
    duration: float | None = None
    note: str | None = None
    from_cache: bool = False

    @property
    def n_frames(self) -> int:
        return len(self.frame_map)


@dataclass(frozen=True)
class OptionLogprobs:
    """What the model says of one option's answer tokens (natural log).

    ``token_ids``/``logprobs``: every answer token (the option ``"{letter}. {text}"``, then the
    chat template's end-of-turn suffix), each token's log-probability given everything before it.
    ``n_text``: how many of them are ``"{letter}. {text}"``. ``own_text``: the slice [start, end)
    of the tokens that cover the option's own text (not the letter, not ``". "`` alone, not the
    suffix; a token that holds the separating space and the text's first characters counts).
    ``first_token``: the first answer token as text. ``fallback``: scored by a full pass because
    the prompt was not a token prefix of the full text.
    """

    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    n_text: int
    own_text: tuple[int, int]
    first_token: str
    pad_id: int | None
    fallback: bool = False


@dataclass(frozen=True)
class ChoiceRequest:
    """Score every option of one question as an answer to ``prompt`` (the user turn) given clip ``clip_key``."""

    clip_key: str
    prompt: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class ChoiceResult:
    """One question's option scores and the SHA-256 of the exact text the model was given; or
    ``error``, why this question alone could not be scored (e.g. it does not fit the model's context)."""

    prompt_sha256: str
    options: tuple[OptionLogprobs, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class ClozeRequest:
    """Score each text of ``texts`` as the answer to ``prompt`` given clip ``clip_key``, in the
    cloze formulation: the prompt lists no options (the frames, then the question).

    ``framing`` ``"plain"``: the text ``f"{prompt}\nAnswer:"`` (no chat template), each answer
    ``" {text}"``; ``"chat"``: the family's chat template with ``prompt`` as the user turn, each
    answer ``text`` as the assistant's. Only the answer's own tokens are scored (no end of turn).
    """

    clip_key: str
    prompt: str
    texts: tuple[str, ...]
    framing: ClozeFraming = "plain"


@dataclass(frozen=True)
class ClozeResult:
    """Per text: its answer tokens and their log-probabilities after the question
    (``logprobs``) and after the neutral prompt alone, without media (``neutral``: for PMI).
    ``prompt_sha256``: the exact text the model was given; ``error`` as in ``ChoiceResult``."""

    prompt_sha256: str
    token_ids: tuple[tuple[int, ...], ...] = ()
    logprobs: tuple[tuple[float, ...], ...] = ()
    neutral: tuple[tuple[float, ...], ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class GenerateRequest:
    """Generate a free answer to ``prompt`` given clip ``clip_key`` (greedy, at most ``max_new_tokens``)."""

    clip_key: str
    prompt: str
    max_new_tokens: int = 16


@dataclass(frozen=True)
class Generation:
    prompt_sha256: str
    text: str = ""
    new_tokens: int = 0
    stopped: bool = False  # ended by the end of turn (not by the token limit)
    error: str | None = None
    limit: int = 0  # the most new tokens it was allowed
