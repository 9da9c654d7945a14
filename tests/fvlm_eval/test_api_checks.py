"""``evaluate``'s own checks (``fvlm_eval.api_checks``): a wrong argument named before any work, Python's
``random`` state left as it was, and what a stopped run in a temporary folder says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fvlm_eval import SettingsError, adapter_for, evaluate
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.conftest import tiny_model

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_scienceqa(root)
    return root


@pytest.mark.parametrize("console", [sys.stdout, "stdout", print])
def test_a_console_that_is_not_a_rich_console_is_named_before_any_work(data, tmp_path, tokenizer, console):
    """``console=sys.stdout`` (natural in a notebook) raised a raw AttributeError from the progress bar, after the
    model was hashed and the data loaded; with ``progress=False`` it was silently accepted."""
    for progress in (True, False):
        with pytest.raises(SettingsError, match=r"^console=.*: give a rich\.console\.Console"):
            evaluate(tiny_model(), "scienceqa", tokenizer=tokenizer, data_dir=data, output_dir=tmp_path,
                     console=console, progress=progress)  # fmt: skip
    assert not (tmp_path / "scienceqa").exists()


def test_the_first_evaluation_leaves_pythons_random_state_as_it_was(data, tmp_path):
    """rich, first imported inside ``evaluate``, draws ``getrandbits(24)`` at import: a training loop that seeds
    ``random`` got another stream after its first evaluation than without it. A fresh process, as a loop's."""
    code = (
        "import random, sys\n"
        "from tests.conftest import tiny_model\n"
        "from fvlm_model.loading import load_tokenizer\n"
        "from fvlm_eval import evaluate\n"
        "model, tokenizer = tiny_model(), load_tokenizer(None)\n"
        "assert 'rich.style' not in sys.modules, 'rich imported before the call: the test would prove nothing'\n"
        "random.seed(1234)\n"
        f"evaluate(model, 'scienceqa', tokenizer=tokenizer, limit=1, data_dir={str(data)!r}, "
        f"output_dir={str(tmp_path / 'run')!r}, frame_cache=False, workers=0, modes='coarse_only')\n"
        "print('kept' if random.random() == random.Random(1234).random() else 'advanced')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "kept"


def stopped_at_the_second_batch(adapter) -> None:
    """A Ctrl-C once the first question is recorded."""
    score, asked = adapter.score_formulations, []

    def stopping(choices, clozes, variant):
        asked.append(1)
        if len(asked) == 2:
            raise KeyboardInterrupt
        return score(choices, clozes, variant)

    adapter.score_formulations = stopping


def test_a_run_stopped_in_a_temporary_folder_does_not_say_rerun_to_resume(data, tmp_path, tokenizer):
    """``output_dir=None`` stopped by Ctrl-C said "rerun the same command to resume": the temporary folder that
    held the records is removed by ``evaluate``, so nothing resumes. In a folder of one's own it still says so."""
    common = dict(modes="coarse_only", limit=3, data_dir=data, frame_cache=False, workers=0, progress=False)
    common["batch_size"] = 1
    adapter = adapter_for(tiny_model(), tokenizer=tokenizer)
    stopped_at_the_second_batch(adapter)
    with pytest.raises(KeyboardInterrupt) as raised:
        evaluate(adapter, "scienceqa", **common)
    said = str(raised.value)
    assert "scienceqa coarse_only 1/3 recorded" in said and "rerun the same command" not in said, said
    assert "output_dir=None: they were in a temporary folder, now removed; give output_dir" in said
    stopped_at_the_second_batch(adapter)
    returned = evaluate(adapter, "scienceqa", on_interrupt="return", **common)
    assert returned.exit_code == 130 and "temporary folder, now removed" in " ".join(returned.messages)
    stopped_at_the_second_batch(adapter)
    with pytest.raises(KeyboardInterrupt, match="rerun the same command to resume"):
        evaluate(adapter, "scienceqa", output_dir=tmp_path / "kept", **common)


def test_arguments_an_fvlm_does_not_take_are_refused_not_ignored(data, tmp_path, tokenizer, model_dir):
    """``processor=`` given with an fVLM model was silently ignored (family, device and dtype were refused); a
    tokenizer or processor given with an adapter already built, or with a model folder, too."""
    common = dict(data_dir=data, output_dir=tmp_path, progress=False)
    for argument in ("processor", "image_processor"):
        with pytest.raises(SettingsError, match=f"^{argument}=: fVLM takes no "):
            evaluate(tiny_model(), "scienceqa", tokenizer=tokenizer, **{argument: object()}, **common)
    adapter = adapter_for(tiny_model(), tokenizer=tokenizer)
    with pytest.raises(SettingsError, match="^tokenizer=: an adapter already built has its own"):
        evaluate(adapter, "scienceqa", tokenizer=tokenizer, **common)
    with pytest.raises(SettingsError, match="^processor=: a model folder or hub id has its own"):
        evaluate(model_dir, "scienceqa", processor=object(), **common)
    assert not (tmp_path / "scienceqa").exists()


@pytest.mark.parametrize(
    "model, benchmarks, message",
    [
        (5, "scienceqa", "^model: an int is not something fvlm-eval can evaluate"),
        (torch.nn.Linear(2, 2), "scienceqa", "^model: a Linear is not something"),
        (None, "", r"^benchmarks='': a blank name is no benchmark; known: .*scienceqa.*; or a suite: video"),
        (None, ["scienceqa", " "], r"^benchmarks=\['scienceqa', ' '\]: a blank name is no benchmark"),
    ],
)
def test_wrong_arguments_read_as_sentences(data, tokenizer, model, benchmarks, message):
    """``model=5`` said "a int is not something ..."; ``benchmarks=""`` said "unknown benchmark ; known: ..."."""
    model = tiny_model() if model is None else model
    with pytest.raises(SettingsError, match=message):
        evaluate(model, benchmarks, tokenizer=tokenizer, data_dir=data, progress=False)
