"""``benchmarks/gpu_run.py --dry-run``: the GPU measurement's code, end to end on the CPU with a tiny model,
so that it is known to work before a GPU is lent; and ``benchmarks/bench_public.py`` against the public
scorer where a nanoSmol checkout is at hand (never in CI: that test is skipped without one)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
PUBLIC = Path("/tmp/nanoSmol")


def script(name: str):
    """``benchmarks/<name>.py`` loaded by path (benchmarks/ is not a package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def test_the_gpu_run_works_end_to_end_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("FVLM_PUBLIC", str(tmp_path / "no-checkout"))  # as on CI and the GPU machine: no public code
    out = tmp_path / "gpu_run.json"
    script("gpu_run").main(["--dry-run", "--out", str(out)])
    result = json.loads(out.read_text())
    assert set(result) >= {"environment", "model", "suite", "public", "batch_invariance", "gpu_busy", "errors"}
    assert result["errors"] == {} and result["dry_run"] is True
    assert result["model"]["size"] == "tiny" and result["environment"]["device"] == "cpu"
    suite = result["suite"]
    assert set(suite["benchmarks"]) == {"mvbench", "videomme", "scienceqa"}
    for numbers in suite["benchmarks"].values():
        assert set(numbers["q_per_s"]) == {"coarse_only", "coarse_fine", "autoregressive", "all three"}
        assert numbers["timed_questions"] == numbers["questions"] > 0 and numbers["seconds"] > 0
        assert numbers["peak_memory_bytes"] is None  # CPU: no CUDA memory to read
    assert suite["suite_seconds"] > 0 and suite["complete"] is True
    assert "git clone https://github.com/spsanps/nanoSmol" in result["public"]["skipped"]
    invariance = result["batch_invariance"]
    assert set(invariance["benchmarks"]) == set(suite["benchmarks"]) and invariance["changed"] >= 0
    for numbers in invariance["benchmarks"].values():
        assert all(v["max_abs_delta"] < 1e-3 for k, v in numbers.items() if "/" in k)
    for numbers in result["gpu_busy"]["benchmarks"].values():
        assert numbers["wall_s"] > 0 and numbers["busy_fraction"] is None  # no CUDA kernels on the CPU


@pytest.mark.skipif(not (PUBLIC / "fVLM" / "benchmark.py").is_file(), reason=f"no nanoSmol checkout at {PUBLIC}")
def test_the_public_scorer_agrees_with_ours(tmp_path):
    result = script("bench_public").main(
        ["--quick", "--size", "tiny", "--shapes", "scienceqa", "--questions", "1", "--public", str(PUBLIC)]
    )
    rows = {row["mode"]: row for row in result["rows"]}
    assert set(rows) == {"coarse_only", "coarse_fine", "autoregressive", "all three"}
    for row in rows.values():
        assert row["max_abs_delta"] < 1e-4 and row["public_options_misread"] == 0
        assert row["same_predictions"].split("/")[0] == row["same_predictions"].split("/")[1]
