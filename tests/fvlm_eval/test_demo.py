"""The demo end to end in a clean environment, offline; the CLI's help is instant and torch-free."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

MODES = ("coarse_only", "coarse_fine", "autoregressive")


def clean_env(tmp_path: Path) -> dict:
    keep = {"PATH", "LANG", "LC_ALL", "SYSTEMROOT", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
    return env


def demo(tmp_path, output):
    command = [sys.executable, "-m", "fvlm_eval", "demo", "--output-dir", str(output)]
    return subprocess.run(command, capture_output=True, text=True, env=clean_env(tmp_path), timeout=300, cwd=tmp_path)


def test_demo_writes_every_promised_artefact_and_resumes(tmp_path):
    output = tmp_path / "demo"
    first = demo(tmp_path, output)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "RANDOM weights" in first.stdout and "fvlm-eval prepare" in first.stdout
    assert (output / "model" / "model.safetensors").is_file() and (output / "model" / "tokenizer.json").is_file()
    for family, modes in (("fvlm", MODES), ("smolvlm", ("standard",))):
        for benchmark in ("mvbench", "videomme", "scienceqa"):
            for mode in modes:
                folder = output / "runs" / family / benchmark / mode
                records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
                assert records and all(r["error"] is None and r["generated"] is not None for r in records)
                summary = json.loads((folder / "summary.json").read_text())
                assert summary["coverage"]["recorded"] == len(records) and summary["chance"] > 0
    report = output / "report"
    text = (report / "report.md").read_text()
    for row in ("fvlm coarse_fine [reference]", "fvlm coarse_fine [generated]", "smolvlm standard [reference]",
                "smolvlm standard [generated]", "SmolVLM2-256M (published)"):
        assert f"| {row} |" in text
    assert list(csv.DictReader(open(report / "report.csv")))
    assert json.loads((report / "report.json").read_text())["main"]
    for chart in ("comparison.png", "breakdown_mvbench.png", "breakdown_videomme.png", "breakdown_scienceqa.png"):
        assert (report / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    second = demo(tmp_path, output)
    assert second.returncode == 0, second.stderr[-3000:]
    for family, mode in (("fvlm", "coarse_fine"), ("smolvlm", "standard")):
        summary = json.loads((output / "runs" / family / "mvbench" / mode / "summary.json").read_text())
        assert summary["timing"]["scored_this_invocation"] == 0


def test_help_is_instant_and_does_not_import_torch(tmp_path):
    code = "import sys; from fvlm_eval.cli import app, main; assert 'torch' not in sys.modules; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(tmp_path))
    assert result.stdout.strip() == "ok", result.stderr
    helped = subprocess.run([sys.executable, "-m", "fvlm_eval", "run", "--help"], capture_output=True, text=True,
                            env=clean_env(tmp_path))
    assert helped.returncode == 0 and "--mode" in helped.stdout and "--generate" in helped.stdout


def test_benchmarks_and_prepare_verify_offline(tmp_path):
    from fvlm_eval import fixtures

    fixtures.write_all(tmp_path / "data", faults=True)
    env = clean_env(tmp_path)
    listed = subprocess.run([sys.executable, "-m", "fvlm_eval", "benchmarks", "--data-dir", str(tmp_path / "data")],
                            capture_output=True, text=True, env=env)
    assert "mvbench" in listed.stdout and "/4000 questions usable" in listed.stdout
    verified = subprocess.run([sys.executable, "-m", "fvlm_eval", "prepare", "mvbench", "--data-dir",
                               str(tmp_path / "data"), "--no-download", "--workers", "0"], capture_output=True, text=True, env=env)
    assert verified.returncode == 1  # incomplete copy
    out = verified.stdout
    assert "fine_grained_pose" in out and "INCOMPLETE" in out
    assert "H_H_2" in out and "unreadable" in out and "escapes the data folder" in out and "H_H_missing" in out
