"""The small typed records that travel through the harness."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LETTERS = "ABCDEFGHIJ"
MODES = ("coarse_only", "coarse_fine", "autoregressive")  # fVLM's inference modes (model.MODES, without torch)
MediaKind = Literal["video", "frame_folder", "image"]
SamplingPolicy = Literal["segment_midpoints", "uniform", "fps"]


@dataclass(frozen=True)
class Sampling:
    """Which frames of a clip to take.

    ``segment_midpoints``: the official MVBench rule, the middle frame of each of ``frames``
    equal segments of the clip (or of its bound). ``uniform``: ``frames`` indices spread evenly
    from the first to the last frame. ``fps``: one frame every 1/``fps`` seconds, the first
    ``frames`` kept. An image is replicated to ``image_copies`` frames.
    """

    policy: SamplingPolicy = "segment_midpoints"
    frames: int = 16
    fps: float | None = None
    image_copies: int = 8

    def describe(self) -> str:
        rate = f"@{self.fps:g}fps" if self.policy == "fps" else ""
        return f"{self.policy}:{self.frames}{rate}"


@dataclass(frozen=True)
class Media:
    """Where a question's pixels come from. ``key`` identifies it for sharing one decode."""

    kind: MediaKind
    key: str
    path: str | None = None
    data: bytes | None = field(default=None, repr=False)
    bound: tuple[float, float] | None = None
    folder_fps: float | None = None


@dataclass(frozen=True)
class Option:
    letter: str
    text: str

    @property
    def answer(self) -> str:
        """The assistant turn that scores this option: ``"{letter}. {text}"``."""
        return f"{self.letter}. {self.text}"


@dataclass(frozen=True)
class Question:
    """One multiple-choice question, as a task adapter yields it.

    ``error`` is set when the question cannot be scored for a reason known at load time
    (a malformed row, missing media, a path escaping the data folder): it is still recorded
    and counts as wrong.
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

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(option.letter for option in self.options)

    def field_dict(self) -> dict[str, str]:
        return dict(self.fields)


@dataclass(frozen=True)
class OptionLogprobs:
    """What the model says of one option's answer tokens (natural log).

    ``token_ids``/``logprobs``: every answer token (the option text, then the chat template's
    end-of-turn suffix), each token's log-probability given everything before it.
    ``n_text``: how many of them are the option text. ``first_token``: the first answer token
    as text (the ``letter`` protocol needs it to be the bare letter). ``fallback``: scored by a
    full pass because the prompt was not a token prefix of the full text.
    """

    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    n_text: int
    first_token: str
    pad_id: int | None
    fallback: bool = False


@dataclass(frozen=True)
class ScoreRequest:
    """Score ``answers`` as continuations of ``prompt`` given the clip ``clip_key``."""

    clip_key: str
    prompt: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class MediaNote:
    """A decoded clip: the frame indices used and anything worth a note (a clamped bound)."""

    indices: tuple[int, ...]
    source_frames: int
    note: str | None = None
