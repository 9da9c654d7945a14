"""``benchmarks/compare_runs.py``: two demo (or run) folders compared file by file, timestamps aside; a gate, so
nothing compared is never "identical"."""

from __future__ import annotations

import json

import pytest

from tests.benchmarks.scripts import script


def demo_like(folder, model_source: str, weights) -> None:
    """A folder as ``fvlm-eval demo`` leaves it: a model and one run whose manifest names the model as typed."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.safetensors").write_bytes(b"weights")
    run = folder / "runs" / "fvlm" / "mvbench" / "coarse_only"
    run.mkdir(parents=True)
    (run / "samples.jsonl").write_text(json.dumps({"id": "mvbench/1", "pred": {"reference": "A"}}) + "\n")
    (run / "settings.json").write_text(json.dumps({"benchmark": "mvbench", "mode": "coarse_only"}))
    manifest = {"model": {"source": model_source, "weights": weights, "name": "model"}, "data_dir": str(folder)}
    (run / "summary.json").write_text(json.dumps({"manifest": manifest, "accuracy": {"reference": 0.5}}))


def test_compare_runs_finds_two_demos_identical_whether_their_folders_were_typed_relative_or_absolute(
    tmp_path, monkeypatch, capsys
):
    """Before, the model path a manifest records as typed (``demoD/model``, relative to where the demo ran) was
    not written ``<root>``: a relative and an absolute ``--output-dir`` of the same demo differed in every
    summary."""
    (tmp_path / "a").mkdir()
    demo_like(tmp_path / "a" / "demoD", "demoD/model", ["demoD/model/model.safetensors"])  # typed in tmp/a
    absolute = tmp_path / "demoB"
    demo_like(absolute, str(absolute / "model"), [str(absolute / "model" / "model.safetensors")])
    monkeypatch.chdir(tmp_path)  # not where demoD was made: its relative paths do not resolve from here
    assert script("compare_runs").main([str(absolute), "a/demoD"]) == 0
    assert capsys.readouterr().out.startswith("identical: 3 files compared")
    monkeypatch.chdir(tmp_path / "a")  # where it was made: they resolve into it
    assert script("compare_runs").main([str(absolute), "demoD"]) == 0


def test_compare_runs_still_tells_another_model(tmp_path, capsys):
    demo_like(tmp_path / "before", str(tmp_path / "before" / "model"), None)
    demo_like(tmp_path / "after", "/elsewhere/model", None)
    assert script("compare_runs").main([str(tmp_path / "before"), str(tmp_path / "after")]) == 1
    assert '/manifest/model/source: "<root>/model" != "/elsewhere/model"' in capsys.readouterr().out


@pytest.mark.parametrize("which", ["missing", "empty"])
def test_compare_runs_with_nothing_to_compare_exits_2_in_one_line(which, tmp_path, capsys):
    """Before, two wrong paths (or folders with no run in them) were "identical: 0 files compared", exit 0."""
    demo_like(tmp_path / "demo", "demo/model", None)
    other = tmp_path / which
    if which == "empty":
        (other / "data").mkdir(parents=True)
    for before, after in ((tmp_path / "demo", other), (other, tmp_path / "demo")):
        assert script("compare_runs").main([str(before), str(after)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and str(other) in err
        assert ("no such folder" if which == "missing" else "nothing to compare") in err
