"""``evaluate`` called at every step of a training loop: an adapter built once scores the weights it holds at
each call, and the model is handed back with every submodule in the mode it was in."""

from __future__ import annotations

import pytest
import torch

from fvlm_eval import adapter_for, evaluate
from fvlm_eval.run.lock import RunRefused
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.conftest import tiny_model


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_scienceqa(root)
    return root


@pytest.fixture(scope="module")
def smolvlm(tmp_path_factory):
    """A tiny SmolVLM as training code holds it: the model, its tokenizer and image processor."""
    from transformers import AutoTokenizer, SmolVLMForConditionalGeneration

    from fvlm_eval.models.smolvlm.folder import image_processor_class
    from fvlm_eval.models.smolvlm.tiny import save_tiny_smolvlm

    folder = save_tiny_smolvlm(tmp_path_factory.mktemp("smolvlm"))
    return (
        SmolVLMForConditionalGeneration.from_pretrained(folder),
        AutoTokenizer.from_pretrained(folder),
        image_processor_class().from_pretrained(folder),
    )


def a_training_step(model) -> None:
    """Every weight changed, as an optimiser step changes them."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(-1.0).add_(torch.randn_like(parameter))


def scored(evaluation):
    (result,) = evaluation.results
    return [(r.id, r.scores, r.pred) for r in result.records], result.summary.model["sha256"]


def test_an_fvlm_adapter_built_once_scores_the_weights_it_holds_at_each_step(data, tmp_path, tokenizer):
    """An adapter built once and handed to every step kept step 0's identity (a folder of step 0's records was
    resumed, silently, and labelled step 1000) and step 0's neutral log-probabilities (PMI, the headline,
    scored with the old weights: 0.25 where the step's own weights gave 0.5)."""
    model = tiny_model().train()
    adapter = adapter_for(model, tokenizer=tokenizer)
    common = dict(modes="coarse_only", limit=4, data_dir=data, frame_cache=False, workers=0, progress=False)
    common["keep_records"] = True
    evaluate(adapter, "scienceqa", output_dir=tmp_path / "run", step=0, **common)
    a_training_step(model)
    with pytest.raises(RunRefused, match="model_sha256"):
        evaluate(adapter, "scienceqa", output_dir=tmp_path / "run", step=1000, **common)
    reused = evaluate(adapter, "scienceqa", output_dir=tmp_path / "step-1000", step=1000, **common)
    fresh = evaluate(model, "scienceqa", tokenizer=tokenizer, output_dir=tmp_path / "fresh", **common)
    assert scored(reused) == scored(fresh)  # every protocol's scores, cloze_pmi included, and the manifest's hash


def test_a_smolvlm_adapter_built_once_scores_the_weights_it_holds_at_each_step(data, tmp_path, smolvlm):
    """The same for SmolVLM2: a reused adapter resumed the folder of the old weights (records identical to
    before, exit 0) and kept its PMI cache and clip features."""
    model, tokenizer, image_processor = smolvlm
    model = type(model)(model.config).eval()  # this test's own copy, trained below
    model.load_state_dict(smolvlm[0].state_dict())
    adapter = adapter_for(model, tokenizer=tokenizer, image_processor=image_processor)
    common = dict(limit=3, data_dir=data, frame_cache=False, workers=0, progress=False, keep_records=True)
    evaluate(adapter, "scienceqa", output_dir=tmp_path / "run", **common)
    a_training_step(model)
    with pytest.raises(RunRefused, match="model_sha256"):
        evaluate(adapter, "scienceqa", output_dir=tmp_path / "run", **common)
    reused = evaluate(adapter, "scienceqa", output_dir=tmp_path / "later", **common)
    fresh = evaluate(
        model, "scienceqa", tokenizer=tokenizer, image_processor=image_processor, output_dir=tmp_path / "f", **common
    )
    assert scored(reused) == scored(fresh)


def flags(model) -> dict[str, bool]:
    return {name: module.training for name, module in model.named_modules()}


def training_during_runs(model, monkeypatch) -> list[bool]:
    """Per run from now on, whether any submodule of ``model`` was in train mode while it ran."""
    import fvlm_eval.api

    seen, run = [], fvlm_eval.api.run
    monkeypatch.setattr(fvlm_eval.api, "run", lambda *a, **k: seen.append(any(flags(model).values())) or run(*a, **k))
    return seen


def test_every_submodule_of_an_fvlm_is_handed_back_in_its_own_mode(data, tokenizer, monkeypatch):
    """A loop that trains with a frozen encoder in eval mode (``model.train(); model.encoder.eval()``) got it
    back training: ``train(True)`` after the run set every submodule. The run itself is in eval mode, and the
    modes are put back when it raises too."""
    model = tiny_model().train()
    model.encoder.eval()
    before = flags(model)
    seen = training_during_runs(model, monkeypatch)
    common = dict(modes="coarse_only", limit=2, data_dir=data, frame_cache=False, workers=0, progress=False)
    evaluate(model, "scienceqa", tokenizer=tokenizer, **common)
    assert seen == [False]  # scored in eval mode
    assert flags(model) == before and model.training and not model.encoder.training
    import fvlm_eval.api

    def failing(*args, **kwargs):
        assert not any(flags(model).values())
        raise RuntimeError("a run that failed")

    monkeypatch.setattr(fvlm_eval.api, "run", failing)
    with pytest.raises(RuntimeError, match="a run that failed"):
        evaluate(model, "scienceqa", tokenizer=tokenizer, **common)
    assert flags(model) == before


def test_an_in_memory_smolvlm_is_handed_back_in_its_own_mode(data, smolvlm, monkeypatch):
    """SmolVLM's ``from_memory`` called ``model.eval()`` before ``evaluate`` read the mode: a model in train mode
    came back in eval mode, also from a call refused after the adapter was built (a wrong mode)."""
    model, tokenizer, image_processor = smolvlm
    model.train()
    model.model.vision_model.eval()  # a frozen vision tower
    before = flags(model)
    seen = training_during_runs(model, monkeypatch)
    try:
        common = dict(tokenizer=tokenizer, image_processor=image_processor, data_dir=data, progress=False)
        evaluate(model, "scienceqa", limit=2, frame_cache=False, workers=0, **common)
        assert seen == [False]
        assert flags(model) == before and model.training
        from fvlm_eval.errors import SettingsError

        with pytest.raises(SettingsError, match="modes='fast'"):
            evaluate(model, "scienceqa", modes="fast", **common)
        assert flags(model) == before
    finally:
        model.eval()
