"""A model family from an installed package, loaded as the built-in ones are: a ``load`` that raises is a
``ModelLoadError`` naming the family, its plugin, the source and where it raised (one line from the CLI, exit 1),
and a local path that names nothing is said as the built-ins say it, before the family's ``load`` is asked."""

from __future__ import annotations

import pytest

from fvlm_eval.errors import ExitCode
from fvlm_eval.models import ModelLoadError, load_model
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.plugins import plugins_on_path, write_distribution

READER = """
import json
from pathlib import Path

FAMILY = "reader"
VARIANTS = ("text_only",)
DEFAULT_VARIANT = "text_only"
ASKED = []


def load(source, device, dtype):
    ASKED.append(source)
    config = json.loads((Path(source) / "config.json").read_text())
    return config["adapter"]
"""
PLUGIN = "model family 'reader' (plugin 'reader' from reader-plugins 0.1.0 (entry point fvlm_eval.families: reader = "


@pytest.fixture()
def reader_site(tmp_path):
    site = write_distribution(
        tmp_path / "site",
        "reader-plugins",
        {"fvlm_eval.families": {"reader": "reader_family"}},
        {"reader_family.py": READER},
    )
    with plugins_on_path(site, ("reader_family",)):
        yield site


def test_a_plugin_family_whose_load_raises_is_a_model_load_error_naming_it_and_where(reader_site, tmp_path, capsys):
    """A family plugin's load() given a folder it cannot read raised a bare FileNotFoundError (a ValueError, an
    OSError) through evaluate, no FvlmEvalError, and the CLI called it "an unexpected error ... report it"."""
    from fvlm_eval.cli import main

    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(ModelLoadError) as raised:
        load_model(str(folder), "reader", device="cpu")
    said = str(raised.value)
    assert said.startswith(PLUGIN + "reader_family)): " + f"its load({str(folder)!r}) failed: FileNotFoundError: ")
    assert said.endswith("config.json' (at reader_family.py:13, in load)")
    assert raised.value.exit_code == ExitCode.FAILED
    write_scienceqa(tmp_path / "data")
    capsys.readouterr()
    args = ["run", "scienceqa", "--family", "reader", "--model", str(folder), "--data-dir", str(tmp_path / "data")]
    assert main([*args, "--output-dir", str(tmp_path / "out"), "--workers", "0"]) == ExitCode.FAILED
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"error: {said}"] and "Traceback" not in out + err


@pytest.mark.parametrize("where", ["absolute", "./", "~/", "in a folder that is there"])
def test_a_local_path_that_names_nothing_is_said_before_a_plugin_family_is_asked(
    reader_site, tmp_path, monkeypatch, where
):
    """A path that is not there, given with --family of a plugin, went to its load(): a hub library's error about
    repo ids ("Repo id must use alphanumeric chars ... '/nonexistent'"), called an unexpected error of fvlm-eval's,
    where the built-in families say "no such file or folder, and not a hub id"."""
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    source = {"absolute": str(tmp_path / "nope"), "./": "./nope", "~/": "~/nope"}.get(where, "models/nope")
    with pytest.raises(ModelLoadError) as raised:
        load_model(source, "reader", device="cpu")
    assert str(raised.value).startswith(f"--model {source}: no such file or folder")
    assert sys.modules["reader_family"].ASKED == []
