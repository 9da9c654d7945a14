"""Model folders a user hands over or has written: a SmolVLM folder missing or with a broken file is refused at
load in one line naming the file; ``export-checkpoint`` refuses empty and mistaken arguments, names the CLI's
flag on the CLI and the Python argument in Python; the weights it writes are as readable as the other files."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
import torch

from fvlm_eval.api import ExportRefused, SettingsError, export_checkpoint
from fvlm_eval.cli import main
from fvlm_eval.files import current_umask
from fvlm_eval.models import write_tiny_model
from fvlm_eval.models.smolvlm import tiny as smolvlm_tiny
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.conftest import TINY_DINO, TINY_LLM, TINY_QUERY_DIM, tiny_model


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_scienceqa(root)
    return root


@pytest.fixture(scope="module")
def smolvlm_folder(tmp_path_factory):
    return smolvlm_tiny.save_tiny_smolvlm(tmp_path_factory.mktemp("smolvlm") / "tiny", seed=0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A training checkpoint (.pt) of the tiny fVLM, and its config.json beside it."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.save({"model_state_dict": tiny_model(5).state_dict(), "step": 10}, folder / "step_10.pt")
    (folder / "config.json").write_text(json.dumps({"llm": TINY_LLM, "dino": TINY_DINO, "query_dim": TINY_QUERY_DIM}))
    return folder / "step_10.pt"


def run_scienceqa(capsys, data, model, tmp_path) -> tuple[int, str]:
    code = main(
        ["run", "scienceqa", "--data-dir", str(data), "--model", str(model), "--limit", "1"]
        + ["--output-dir", str(tmp_path / "run"), "--device", "cpu", "--workers", "0"]
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


def test_a_smolvlm_folder_without_config_json_says_that_it_has_none(capsys, data, smolvlm_folder, tmp_path):
    """It was taken for an fVLM folder (the family of a folder without config.json) and refused as 'does not
    match the fVLM architecture: missing keys ... (+501 more)', never saying that config.json is missing."""
    folder = tmp_path / "smolvlm"
    shutil.copytree(smolvlm_folder, folder)
    (folder / "config.json").unlink()
    code, err = run_scienceqa(capsys, data, folder, tmp_path)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith(
        f"error: {folder} has no config.json, so the model's family and architecture cannot be known: put the "
        "model's config.json beside its weights"
    )


@pytest.mark.parametrize(
    "preprocessor, said",
    [
        ({}, "max_image_size is not set (the file holds no settings), so the image processor's default, 364,"),
        ({"max_image_size": {"longest_edge": 64}}, "max_image_size.longest_edge is 64;"),
    ],
)
def test_a_preprocessor_config_that_is_not_the_models_is_refused_at_load(
    capsys, data, smolvlm_folder, tmp_path, preprocessor, said
):
    """An empty preprocessor_config.json loaded with the image processor's defaults (364 px tiles for a model of
    32 px tiles), and every question was then recorded as 'vision encode failed: RuntimeError: shape ... is
    invalid', exit 1, with no word of the file."""
    folder = tmp_path / "smolvlm"
    shutil.copytree(smolvlm_folder, folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    code, err = run_scienceqa(capsys, data, folder, tmp_path)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {folder}/preprocessor_config.json: {said}")
    assert "the model's tiles are 32 px (config.json's vision_config.image_size)" in err
    assert not (tmp_path / "run").exists()  # refused before anything was scored


def test_an_image_seq_len_that_is_not_the_models_names_processor_config(smolvlm_folder, tmp_path):
    """processor_config.json's image_seq_len was taken as it was: a prompt with another count of image tokens
    than the vision encoder gives, failing on every question."""
    from fvlm_eval.models import ModelLoadError, smolvlm

    folder = tmp_path / "smolvlm"
    shutil.copytree(smolvlm_folder, folder)
    (folder / "processor_config.json").write_text(json.dumps({"image_seq_len": 9}))
    with pytest.raises(ModelLoadError, match=r"processor_config.json: image_seq_len is 9, but the model gives 4 "):
        smolvlm.load(str(folder), torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("empty", ["checkpoint", "folder", "config"])
def test_an_empty_export_argument_is_a_usage_error(capsys, checkpoint, tmp_path, monkeypatch, empty):
    """An empty FOLDER was the current folder (Path("") is "."): the model was written there, 'wrote .', exit 0."""
    monkeypatch.chdir(tmp_path)
    given = {"checkpoint": str(checkpoint), "folder": "out", "config": str(checkpoint.parent / "config.json")}
    given[empty] = ""
    code = main(["export-checkpoint", given["checkpoint"], given["folder"], "--config", given["config"]])
    err = capsys.readouterr().err
    flag = {"checkpoint": "CHECKPOINT", "folder": "FOLDER", "config": "--config"}[empty]
    assert code == 2 and err.startswith(f"error: {flag} is empty: give ") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SettingsError, match=f"^{empty}='' is empty: give "):
        export_checkpoint(given["checkpoint"], given["folder"], given["config"])


def test_export_refusing_a_model_folder_names_the_flag_on_the_cli_and_the_argument_in_python(
    capsys, checkpoint, tmp_path
):
    """Both said '--force (force=True)', a CLI flag and a Python argument in one line."""
    folder = export_checkpoint(checkpoint, tmp_path / "out")
    code = main(["export-checkpoint", str(checkpoint), str(folder)])
    err = capsys.readouterr().err
    assert code == 3 and err.rstrip().endswith("or overwrite it (--force)") and "force=True" not in err
    with pytest.raises(ExportRefused, match=r"or overwrite it \(force=True\)$") as refused:
        export_checkpoint(checkpoint, folder)
    assert "--force" not in str(refused.value)


def test_a_config_json_given_as_the_checkpoint_is_said_to_be_one(capsys, checkpoint, tmp_path):
    """It was 'the checkpoint itself was given as the config': the user had given it as the checkpoint."""
    config = checkpoint.parent / "config.json"
    code = main(["export-checkpoint", str(config), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: {config}: a config.json was given as the checkpoint; give the weights")
    assert "itself" not in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask-022", "umask-002"])
def test_written_weights_follow_the_umask_as_the_other_files_do(capsys, checkpoint, tmp_path, umask):
    """model.safetensors was always 0600 (safetensors renames a temporary into place), the other files 0644:
    others sharing a model folder could read its config and tokenizer, not its weights."""
    before = os.umask(umask)
    current_umask.cache_clear()
    try:
        folders = [export_checkpoint(checkpoint, tmp_path / "exported")]
        folders += [write_tiny_model(family, tmp_path / family) for family in ("fvlm", "smolvlm")]
    finally:
        os.umask(before)
        current_umask.cache_clear()
    for folder in folders:
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if p.is_file()}
        assert modes["model.safetensors"] == 0o666 & ~umask == modes["config.json"], (folder, modes)


def test_a_tiny_model_killed_while_written_is_written_again_whole(tmp_path, monkeypatch):
    """A demo SIGKILLed while it wrote smolvlm/ left config.json without the weights or the processor: every rerun
    took the folder as written and failed ("not a SmolVLM folder"). It is written aside and renamed when whole."""
    import importlib

    from fvlm_eval.models import FAMILIES, load_model

    folder = tmp_path / "smolvlm"
    module, _, function = FAMILIES["smolvlm"].tiny.partition(":")
    writer = getattr(importlib.import_module(module), function)

    def killed(target):
        writer(target)
        (target / "preprocessor_config.json").unlink()
        raise KeyboardInterrupt  # the kill, after config.json and before the processor

    monkeypatch.setattr(importlib.import_module(module), function, killed)
    with pytest.raises(KeyboardInterrupt):
        write_tiny_model("smolvlm", folder)
    assert not folder.exists() and not list(tmp_path.iterdir())  # nothing half written, nothing left aside
    monkeypatch.undo()
    (tmp_path / ".smolvlm.partial-999999999").mkdir()  # a writer killed by SIGKILL: its folder, its pid gone
    folder.mkdir()  # and a folder an older version began in place
    (folder / "tokenizer.json").write_text("{}")
    write_tiny_model("smolvlm", folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smolvlm"]
    assert load_model(str(folder), device="cpu").family == "smolvlm"


def test_an_exported_folder_carries_the_chat_template_its_checkpoint_is_scored_with(checkpoint, tmp_path):
    """Export wrote the bundled tokenizer and template, while `--model step_10.pt` reads the ones beside it: the
    round trip changed every prompt (0 of 6 records equal)."""
    import shutil

    from fvlm_eval.models import load_model

    beside = tmp_path / "ckpt"
    shutil.copytree(checkpoint.parent, beside)
    template = "{% for m in messages %}<|im_start|>{{ m['role'] }} said\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    template += "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    from fvlm_model.loading import load_tokenizer

    tokenizer = load_tokenizer(None)
    tokenizer.chat_template = template
    tokenizer.save_pretrained(beside)
    folder = export_checkpoint(beside / checkpoint.name, tmp_path / "exported")
    direct = load_model(str(beside / checkpoint.name), device="cpu")
    exported = load_model(str(folder), device="cpu")
    assert " said\n" in exported.render("Which?") and exported.render("Which?") == direct.render("Which?")


def test_a_folder_without_its_chat_template_is_named_in_one_short_line(capsys, model_dir, tmp_path):
    import shutil

    from fvlm_eval.models import load_model
    from fvlm_eval.models.base import ModelLoadError

    folder = tmp_path / "notemplate"
    shutil.copytree(model_dir, folder)
    (folder / "chat_template.jinja").unlink()
    with pytest.raises(ModelLoadError) as raised:
        load_model(str(folder), device="cpu")
    said = str(raised.value)
    assert said.startswith(f"{folder}: its tokenizer has no chat template (chat_template.jinja missing)")
    assert "huggingface.co" not in said and len(said) < len(str(folder)) + 200


def test_an_fvlm_folder_given_as_smolvlm_is_told_so(model_dir, tmp_path):
    from fvlm_eval.models import load_model
    from fvlm_eval.models.base import ModelLoadError

    with pytest.raises(ModelLoadError, match=r"config.json: fVLM's config \(llm and dino keys\), not a SmolVLM's"):
        load_model(str(model_dir), family="smolvlm", device="cpu")
