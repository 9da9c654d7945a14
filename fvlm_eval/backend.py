"""The model boundary: what the harness needs of a model, and nothing more.

Tasks never see tensors or tokenizers; a model never sees dataset rows. A model family plugs
in by implementing ``ChoiceModel``: encode clips once (``prepare``), then score answer
continuations of a prompt given a prepared clip, in one of its inference modes.
"""

from __future__ import annotations

from typing import Protocol

from fvlm_eval.media import Clip
from fvlm_eval.types import OptionLogprobs, ScoreRequest


class ChoiceModel(Protocol):
    modes: tuple[str, ...]

    def describe(self) -> dict[str, object]:
        """What identifies this model in a run manifest (source, checksum, dtype, device...)."""

    def prepare(self, clips: list[Clip]) -> None:
        """Do the per-clip work (vision encode) once; requests then refer to clips by key."""

    def release(self, keys: list[str]) -> None:
        """Forget prepared clips."""

    def score(self, requests: list[ScoreRequest], mode: str) -> list[list[OptionLogprobs]]:
        """For each request, each answer's per-token log-probabilities (see ``OptionLogprobs``)."""

    @property
    def fallback_count(self) -> int:
        """Options scored by a full pass because the prompt was not a token prefix."""
