"""Which frames a bound picks, and what is said when a bound cannot be used as given."""

from __future__ import annotations

import pytest

from fvlm_eval.media import MediaError
from fvlm_eval.media.sampling import MISSES_THE_CLIP, frame_indices
from fvlm_eval.types import Sampling


@pytest.mark.parametrize("bound", [(1.0, float("inf")), (float("-inf"), 2.0), (float("nan"), 2.0)])
def test_a_bound_that_is_not_finite_is_said_so(bound):
    """``"end": Infinity`` read "bound 1-infs ends before it starts": it does not end before it starts."""
    with pytest.raises(MediaError) as error:
        frame_indices(Sampling("uniform", 4), 100, 10.0, bound)
    assert str(error.value).endswith("s is not finite") and "before it starts" not in str(error.value)


def test_a_reversed_bound_ends_before_it_starts():
    with pytest.raises(MediaError, match=r"^bound 5-2s ends before it starts$"):
        frame_indices(Sampling("uniform", 4), 100, 10.0, (5.0, 2.0))


@pytest.mark.parametrize("bound, frame, where", [((50.0, 60.0), 29, "last"), ((-9.0, -5.0), 0, "first")])
def test_a_bound_that_misses_the_clip_says_so_apart_from_a_clamped_one(bound, frame, where):
    """Both read "bound ... clamped to the clip", so prepare could not tell the bound that leaves one frame of the
    clip standing for the whole question from one cut at the clip's end."""
    indices, note = frame_indices(Sampling("uniform", 4), 30, 10.0, bound)
    said = f"bound {bound[0]:g}-{bound[1]:g}s {MISSES_THE_CLIP} (30 frames at 10 fps)"
    assert indices == [frame] * 4 and note == f"{said}: clamped to its {where} frame alone"
    indices, note = frame_indices(Sampling("uniform", 4), 30, 10.0, (2.0, 60.0))
    assert indices[-1] == 29 and note == "bound 2-60s clamped to the clip (30 frames at 10 fps)"
