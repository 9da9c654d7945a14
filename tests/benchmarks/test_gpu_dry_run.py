"""``benchmarks/gpu_run.py --dry-run``: the GPU measurement's code, end to end on the CPU with a tiny model,
so that it is known to work before a GPU is lent; and ``benchmarks/bench_public.py``: ours alone (its
timing and position counts), its flags, and against the public scorer where a nanoSmol checkout is at
hand (never in CI: that test is skipped without one)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.benchmarks.scripts import script

PUBLIC = Path("/tmp/nanoSmol")
ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize("shape", ["scienceqa", "mvbench", "videomme"])
def test_the_public_scorers_default_sample_has_the_option_mix_of_the_questions_ours_runs(shape):
    """Its cost is per option: a sample of fewer options per question than ours ran would flatter us."""
    bench = script("bench_public")
    sample = bench.mix_cycle(bench.SHAPES[shape])
    for count in (sample, 16, 32, 48):
        _, questions, _ = bench.make_questions(bench.SHAPES[shape], count, 8)
        _, first, _ = bench.make_questions(bench.SHAPES[shape], sample, 8)
        if len(questions) % sample == 0:
            assert bench.options_per_question(first[:sample]) == bench.options_per_question(questions)
        assert [q.options for q in first[:sample]] == [q.options for q in questions[:sample]]  # the same questions


def test_bench_public_without_the_public_code_times_ours_and_counts_the_cloze_positions(tmp_path):
    md = tmp_path / "bench.md"
    args = ["--size", "tiny", "--no-public", "--shapes", "mvbench", "--questions", "2", "--repeats", "1"]
    result = script("bench_public").main([*args, "--mode-repeats", "0", "--md", str(md)])
    (row,) = result["rows"]  # no mode timed alone: the all-three row only
    assert row["mode"] == "all three" and row["ours_ms"] > 0 and row["mc_ms"] > 0
    # both formulations run more positions than multiple choice alone, and never pad much
    assert row["positions"]["nodes"] > row["mc_positions"]["nodes"] > 0
    assert row["cloze_positions"] == row["positions"]["nodes"] / row["mc_positions"]["nodes"] > 1
    assert row["positions"]["padded"] <= 1.15 * row["positions"]["nodes"]
    table = md.read_text()
    assert "cloze positions" in table and "MVBench (16 frames" in table


@pytest.mark.parametrize("flag", [["--threads", "0"], ["--questions", "0"], ["--repeats", "two"]])
def test_bench_public_refuses_a_wrong_number_in_one_line(flag, capsys):
    with pytest.raises(SystemExit) as stop:
        script("bench_public").main(["--no-public", *flag])
    assert stop.value.code == 2 and f"argument {flag[0]}:" in capsys.readouterr().err


@pytest.mark.parametrize("altered", [False, True])
def test_bench_public_with_an_unusable_public_checkout_named_exits_1_in_one_line(altered, tmp_path, capsys):
    """Before, a --public PATH that was missing or held other files was said and the run went on without the
    comparison it was asked for, exit 0."""
    checkout = tmp_path / "nanoSmol"
    if altered:
        (checkout / "fVLM").mkdir(parents=True)
        for name in ("benchmark.py", "model.py", "encoder.py"):
            (checkout / "fVLM" / name).write_text("# not the public file\n")
    with pytest.raises(SystemExit) as stop:
        script("bench_public").main(["--quick", "--size", "tiny", "--shapes", "scienceqa", "--public", str(checkout)])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 1 and len(err) == 1
    assert err[0].startswith(f"error: --public {checkout}: ") and "get it: git clone" in err[0]
    assert ("is not the public file" in err[0]) is altered


def test_the_gpu_runs_json_in_the_repository_root_is_not_left_untracked():
    """``bash benchmarks/gpu.sh --dry-run`` writes ./gpu_run.json (no $OUT) in the repository root: before, git
    status showed it as an untracked file."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "gpu_run.json"], check=False)
    assert ignored.returncode == 0
    kept = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "benchmarks/gpu_run.py"], check=False)
    assert kept.returncode == 1  # the script itself is not ignored
