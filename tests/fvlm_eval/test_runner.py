"""The run end to end on a tiny random model: records, failures, summaries, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fvlm_eval import fixtures
from fvlm_eval.fvlm_backend import load_choice_model
from fvlm_eval.records import read_records
from fvlm_eval.runner import RunMismatch, RunSettings, run
from model.loading import ModelSpec, load_tokenizer, save_model_folder
from tests.conftest import TINY_DINO, TINY_LLM, TINY_QUERY_DIM, tiny_model

MODES = ("coarse_only", "coarse_fine", "autoregressive")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    save_model_folder(tiny_model(), folder, ModelSpec(TINY_LLM, TINY_DINO, TINY_QUERY_DIM), load_tokenizer(None))
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return fixtures.write_all(tmp_path_factory.mktemp("data"), faults=True)


def settings(data, output, **extra):
    return RunSettings(tasks=("mvbench", "videomme", "scienceqa"), modes=MODES, data_dir=data, output_dir=output,
                       batch_size=4, workers=0, **extra)


def stable(summary):
    return {k: v for k, v in summary.items() if k not in ("timing", "manifest")}


@pytest.fixture(scope="module")
def full_run(model_dir, data, tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    return output, run(settings(data, output), load_choice_model(model_dir, device="cpu"))


def test_every_question_is_recorded_and_failures_count_as_wrong(full_run, data):
    output, summaries = full_run
    summary = summaries[("mvbench", "coarse_fine")]
    records = read_records(output / "mvbench/coarse_fine/samples.jsonl")
    assert len(records) == len({r["id"] for r in records}) == 14
    failed = {r["id"]: r["error"] for r in records if r["error"]}
    assert set(failed) == {"mvbench/action_sequence/2", "mvbench/action_sequence/3", "mvbench/action_sequence/4",
                           "mvbench/unexpected_action/0", "mvbench/unexpected_action/1"}
    assert "cannot decode" in failed["mvbench/unexpected_action/0"]
    coverage = summary["coverage"]
    assert (coverage["scored"], coverage["failed"], coverage["recorded"], coverage["expected"]) == (9, 5, 14, 4000)
    assert coverage["categories_present"] == 9 and coverage["categories_expected"] == 20
    for protocol, result in summary["accuracy"].items():
        assert result["n"] == 14  # failures stay in the denominator
        correct = sum(r["correct"][protocol] for r in records)
        assert result["correct"] == correct and result["accuracy"] == pytest.approx(correct / 14)
    record = next(r for r in records if r["id"] == "mvbench/action_sequence/0")
    assert record["gold"] == "D" and record["fields"] == {"task": "action_sequence"} and record["error"] is None
    assert set(record["scores"]) == {"reference", "sum", "mean", "letter"} and set(record["scores"]["sum"]) == set("ABCD")
    assert record["pred"]["reference"] == min(record["scores"]["reference"], key=record["scores"]["reference"].get)
    assert record["frames"] == [5, 6, 7, 9, 10, 11, 13, 14, 15, 16, 17, 19, 20, 21, 23, 24]
    manifest = json.loads((output / "mvbench/coarse_fine/summary.json").read_text())["manifest"]
    assert len(manifest["model"]["sha256"]) == 64 and manifest["frames"] == "segment_midpoints:16"
    assert manifest["task_settings"]["version"] == "1" and manifest["model"]["dtype"] == "float32"


def test_videomme_clusters_by_video(full_run):
    _, summaries = full_run
    summary = summaries[("videomme", "coarse_only")]
    assert summary["coverage"]["recorded"] == 9 and summary["coverage"]["failed"] == 4
    assert set(summary["accuracy"]["reference"]["breakdowns"]) == {"duration", "domain", "sub_category", "task_type"}


def test_rerun_skips_everything_and_gives_the_same_summary(full_run, model_dir, data):
    output, summaries = full_run
    before = {m: (output / f"scienceqa/{m}/samples.jsonl").read_bytes() for m in MODES}
    again = run(settings(data, output), load_choice_model(model_dir, device="cpu"))
    for key in summaries:
        assert stable(again[key]) == stable(summaries[key])
        assert again[key]["timing"]["scored_this_invocation"] == 0
    assert before == {m: (output / f"scienceqa/{m}/samples.jsonl").read_bytes() for m in MODES}


def test_retry_failed_scores_failures_again_and_keeps_one_record_per_id(model_dir, data, tmp_path):
    first = RunSettings(tasks=("videomme",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path, workers=0)
    before = run(first, load_choice_model(model_dir, device="cpu"))[("videomme", "coarse_only")]
    retried = run(RunSettings(**{**first.__dict__, "retry_failed": True}), load_choice_model(model_dir, device="cpu"))
    after = retried[("videomme", "coarse_only")]
    assert after["timing"]["scored_this_invocation"] == before["coverage"]["failed"] == 4
    assert stable(after) == stable(before)  # the same failures, still one per id


def test_changed_settings_refuse_to_mix_records(full_run, model_dir, data):
    output, _ = full_run
    with pytest.raises(RunMismatch, match="sampling"):
        run(settings(data, output, frames=8), load_choice_model(model_dir, device="cpu"))


def test_limit_takes_every_category(model_dir, data, tmp_path):
    limited = RunSettings(tasks=("mvbench",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path, limit=9, workers=0)
    summary = run(limited, load_choice_model(model_dir, device="cpu"))[("mvbench", "coarse_only")]
    assert summary["coverage"]["recorded"] == 9 and summary["coverage"]["categories_present"] == 9


def test_killed_run_resumes_without_loss_or_duplicates(full_run, model_dir, data, tmp_path):
    reference, summaries = full_run
    output = tmp_path / "killed"
    command = [sys.executable, "-m", "fvlm_eval.cli", "run", "mvbench", "--mode", "all", "--model", str(model_dir),
               "--data-dir", str(data), "--output-dir", str(output), "--batch-size", "1", "--workers", "0", "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = output / "mvbench/autoregressive/samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not target.is_file() or target.read_bytes().count(b"\n") < 6):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    recorded = target.read_bytes().count(b"\n")
    assert 6 <= recorded < 14, "the kill should land mid-run"
    with open(target, "ab") as handle:  # as if killed in the middle of writing a line
        handle.write(b'{"id": "mvbench/object_shuffle/0", "task": "mvb')
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for mode in MODES:
        records = read_records(output / f"mvbench/{mode}/samples.jsonl")
        assert len(records) == len({r["id"] for r in records}) == 14
        summary = json.loads((output / f"mvbench/{mode}/summary.json").read_text())
        assert stable(summary) == stable(summaries[("mvbench", mode)])


def test_a_complete_but_corrupt_record_is_an_error_not_skipped(tmp_path):
    from fvlm_eval.records import RecordError

    path = tmp_path / "samples.jsonl"
    path.write_text('{"id": "a"}\nnot json\n')
    with pytest.raises(RecordError, match="samples.jsonl:2"):
        read_records(path)
