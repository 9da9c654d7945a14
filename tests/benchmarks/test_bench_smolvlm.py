"""``benchmarks/bench_smolvlm.py``: the SmolVLM2 adapter's fast path against a naive scorer; a model or flag it
cannot use is one line, never a traceback."""

from __future__ import annotations

import json

import pytest

from tests.benchmarks.scripts import script


def test_bench_smolvlm_with_an_fvlm_model_says_it_times_smolvlm_only(tmp_path, capsys):
    """Before: a traceback ending in ModelLoadError "... leave --family out" (the script has no --family)."""
    (tmp_path / "config.json").write_text(json.dumps({"llm": {}, "dino": {}}))
    with pytest.raises(SystemExit) as stop:
        script("bench_smolvlm").main(["--model", str(tmp_path), "--questions", "2"])
    assert str(stop.value.code) == (
        f"error: --model {tmp_path}: a model of the fvlm family; this script times SmolVLM2 only "
        "(leave --model out for a random one)"
    )
    assert "Traceback" not in capsys.readouterr().err


def test_bench_smolvlm_with_a_missing_model_says_so_in_one_line(tmp_path):
    """Before: a ModelLoadError traceback."""
    with pytest.raises(SystemExit) as stop:
        script("bench_smolvlm").main(["--model", str(tmp_path / "nonexist")])
    assert str(stop.value.code).startswith(f"error: --model {tmp_path / 'nonexist'}: no such file or folder")


@pytest.mark.parametrize(
    "flags", [["--frames", "0"], ["--questions", "0"], ["--per-clip", "0"], ["--batch-size", "x"], ["--device", "gpu"]]
)
def test_bench_smolvlm_refuses_a_wrong_flag_in_one_line(flags, capsys):
    """Before, ``--frames 0`` ended in ``ValueError: need at least one array to stack``."""
    with pytest.raises(SystemExit) as stop:
        script("bench_smolvlm").main(flags)
    assert stop.value.code == 2 and f"argument {flags[0]}:" in capsys.readouterr().err
