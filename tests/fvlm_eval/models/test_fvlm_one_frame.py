"""A single frame is shown to fVLM as the release's scorer shows it, whether it is an image or a video sampled
to one frame (``--frames 1``, or ``--sampling model`` on a clip under a second): 8 copies, float32 on CPU."""

from __future__ import annotations

import pytest
import torch

from fvlm_eval.models.fvlm import FVLMAdapter
from fvlm_eval.types import ChoiceRequest
from fvlm_model import MODES
from tests.fvlm_eval.models.test_fvlm import make_clip, naive_option_logprobs, options

QUESTIONS = [
    ChoiceRequest(
        "one", "What happens?\nA. It falls.\nB. It rises.\nC. Nothing.", options("It falls.", "It rises.", "Nothing.")
    ),
    ChoiceRequest("four", "How many objects move?\nA. 2\nB. 0", options("2", "0")),
    ChoiceRequest("img", "Is it a cat?\nA. yes\nB. no", options("yes", "no")),
]


@pytest.fixture()
def clips():
    return {
        "one": make_clip("one", 1, 7),  # a video sampled to one frame
        "four": make_clip("four", 4, 8),
        "img": make_clip("img", 1, 9, kind="image"),
    }


@pytest.mark.parametrize("mode", MODES)
def test_a_video_sampled_to_one_frame_is_shown_as_the_public_scorer_shows_it(model, tokenizer, clips, mode):
    """A one-frame video got one visual token (T=1) while nanoSmol's ``prepare_frames_tensor`` repeats any single
    frame to 8, video or image: the ``reference`` losses differed from the public scorer's by 0.01-0.03 and
    predictions changed. The frame is still encoded once."""
    scorer = FVLMAdapter(model, tokenizer)
    scorer.load_clips(list(clips.values()))  # one batch: a one-frame video beside a video and an image
    assert scorer.frames_encoded == 1 + 4 + 1
    assert len(scorer._layouts["one"].rows) == 8 and len(set(scorer._layouts["one"].rows)) == 1
    assert len(scorer._layouts["four"].rows) == 4  # more than one frame: shown as sampled
    for request, result in zip(QUESTIONS, scorer.score(QUESTIONS, mode)):
        naive = naive_option_logprobs(model, tokenizer, clips[request.clip_key], request, mode)
        for option, (ids, logprobs) in zip(result.options, naive):
            assert list(option.token_ids) == ids
            torch.testing.assert_close(torch.tensor(option.logprobs), torch.tensor(logprobs), atol=1e-5, rtol=1e-5)


def test_a_folder_made_when_one_frame_was_shown_once_is_not_resumed(model_dir, tmp_path):
    """A run folder of `--frames 1` made before the frame was shown 8 times resumed, its records of two frame
    layouts side by side; a folder of more frames (nothing changed) still resumes."""
    import dataclasses
    import json

    from fvlm_eval.models import load_model
    from fvlm_eval.run.lock import RunRefused
    from fvlm_eval.run.runner import run
    from fvlm_eval.run.settings import RunSettings
    from fvlm_eval.tasks.fixtures.mvbench import write_mvbench

    write_mvbench(tmp_path / "data")
    model = load_model(str(model_dir), device="cpu")
    one = RunSettings(benchmarks=("mvbench",), modes=("coarse_only",), data_dir=tmp_path / "data",
                      output_dir=tmp_path / "out", workers=0, limit=2, frames=1)  # fmt: skip
    for frames in (1, 2):
        settings = dataclasses.replace(one, frames=frames, output_dir=tmp_path / f"out{frames}")
        assert run(settings, model, progress=False).exit_code == 0
        path = tmp_path / f"out{frames}/mvbench/coarse_only/settings.json"
        written = json.loads(path.read_text())
        assert ("single_frame" in written) == (frames == 1)
        written.pop("single_frame", None)  # as a folder made before
        path.write_text(json.dumps(written))
        if frames == 1:
            with pytest.raises(RunRefused, match="single_frame differ"):
                run(settings, model, progress=False)
        else:
            assert run(settings, model, progress=False).exit_code == 0
