"""Model names from where a model lies: a hub id, a folder, a file, the Hugging Face cache."""

from __future__ import annotations

from fvlm_eval.models.hub import model_name


def test_a_model_in_the_hub_cache_is_named_after_its_repo(tmp_path):
    """A snapshot folder (what `huggingface-cli download` prints) named the run after its commit, and a weights
    file in it after the sha256 of the blob it links to: the default output folder was results/runs/0123abc..."""
    repo = tmp_path / "hub" / "models--sanps--fVLM-135M"
    blob = repo / "blobs" / ("07" * 32)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"weights")
    snapshot = repo / "snapshots" / ("0123456789abcdef" * 2 + "01234567")
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to(blob)
    assert model_name(snapshot) == model_name(f"{snapshot}/") == "fVLM-135M"
    assert model_name(snapshot / "model.safetensors") == "fVLM-135M"


def test_other_models_keep_their_own_names(tmp_path):
    (tmp_path / "checkpoint-1000").mkdir()
    (tmp_path / "latest").symlink_to(tmp_path / "checkpoint-1000")
    (tmp_path / "step_500.safetensors").write_bytes(b"weights")
    assert model_name(tmp_path / "latest") == "checkpoint-1000"  # a link's target names the run, as before
    assert model_name(tmp_path / "step_500.safetensors") == "step_500"
    assert model_name("HuggingFaceTB/SmolVLM2-256M-Video-Instruct") == "SmolVLM2-256M-Video-Instruct"
    assert model_name(tmp_path / "snapshots" / "abc") == "abc"  # not there: its last part, as a hub id's
