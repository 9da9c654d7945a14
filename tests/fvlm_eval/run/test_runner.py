"""The run end to end on a tiny random fVLM: records, failures, summaries, resume, locks, stops."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fvlm_eval.errors import ExitCode
from fvlm_eval.models import load_model
from fvlm_eval.protocols import CLOZE_PROTOCOLS, PROTOCOLS
from fvlm_eval.records import SCHEMA_VERSION, read_records
from fvlm_eval.run.benchmark_run import error_signature
from fvlm_eval.run.lock import FolderLock, RunRefused
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.tasks import write_fixtures
from fvlm_eval.tasks.fixtures.media import write_json
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.processes import catches, live_processes

MODES = ("coarse_only", "coarse_fine", "autoregressive")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("data"), faults=True)


def settings(data, output, **extra):
    return RunSettings(
        benchmarks=("mvbench", "videomme", "scienceqa"),
        modes=MODES,
        data_dir=data,
        output_dir=output,
        batch_size=4,
        workers=0,
        **extra,
    )


def stable(summary, tied=frozenset()):
    """A summary without its timing and manifest, and without the protocols in ``tied``."""
    return {
        k: ({p: b for p, b in v.items() if p not in tied} if k in ("accuracy", "flags") else v)
        for k, v in summary.items()
        if k not in ("timing", "manifest")
    }


def same_numbers(one, other):
    """Equal summaries, but for protocols where either run decided a question by less than float noise
    (its near-tie flag): another batch composition may move those log-probs by ~1e-6."""
    tied = {p for s in (one, other) for p, block in s["accuracy"].items() if block.get("near_ties")}
    return stable(one, tied) == stable(other, tied)


def fvlm(model_dir):
    return load_model(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def full_run(model_dir, data, tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    return output, run(settings(data, output), fvlm(model_dir), progress=False)


def test_every_question_is_recorded_and_failures_count_as_wrong(full_run):
    output, outcome = full_run
    assert outcome.exit_code == ExitCode.OK
    summary = outcome.summaries[("mvbench", "coarse_fine")].to_json()
    records = read_records(output / "mvbench/coarse_fine/samples.jsonl")
    assert len(records) == len({r.id for r in records}) == 14
    failed = {r.id: r.error for r in records if r.error}
    assert set(failed) == {
        "mvbench/action_sequence/2",
        "mvbench/action_sequence/3",
        "mvbench/action_sequence/4",
        "mvbench/unexpected_action/0",
        "mvbench/unexpected_action/1",
    }
    assert "cannot decode" in failed["mvbench/unexpected_action/0"]
    assert (
        "is missing" in failed["mvbench/unexpected_action/1"] and "looked in" in failed["mvbench/unexpected_action/1"]
    )
    coverage = summary["coverage"]
    assert (coverage["scored"], coverage["failed"], coverage["recorded"], coverage["expected"]) == (9, 5, 14, 4000)
    assert coverage["categories_present"] == 9 and coverage["categories_expected"] == 20
    for protocol in PROTOCOLS:
        result = summary["accuracy"][protocol]
        assert result["n"] == 14  # failures stay in the denominator
        correct = sum(r.correct[protocol] for r in records)
        assert result["correct"] == correct and result["accuracy"] == pytest.approx(correct / 14)
        assert 0 < result["chance"] < 1 and 0 <= result["above_chance_p"] <= 1
        assert sum(result["letters"]["predicted"].values()) == 14
    record = next(r for r in records if r.id == "mvbench/action_sequence/0")
    assert record.gold == "D" and record.fields == {"task": "action_sequence"} and record.error is None
    assert (
        record.schema_version == SCHEMA_VERSION
        and len(record.question_sha256) == 64
        and len(record.prompt_sha256) == 64
    )
    assert record.source == "action_sequence.json" and len(record.source_sha256) == 64
    assert set(record.scores) == set(PROTOCOLS) | set(CLOZE_PROTOCOLS) and set(record.scores["sum"]) == set("ABCD")
    assert record.pred["reference"] == min(record.scores["reference"], key=record.scores["reference"].get)
    assert record.frames == (5, 6, 7, 9, 10, 11, 13, 14, 15, 16, 17, 19, 20, 21, 23, 24)
    assert record.timestamps[0] == pytest.approx(0.5)
    manifest = json.loads((output / "mvbench/coarse_fine/summary.json").read_text())["manifest"]
    assert len(manifest["model"]["sha256"]) == 64 and manifest["frames"] == "segment_midpoints:16"
    assert manifest["benchmark_settings"]["version"] == "2" and manifest["model"]["dtype"] == "float32"
    assert manifest["model"]["family"] == "fvlm"


def test_chance_and_letter_bias_by_hand(full_run):
    output, outcome = full_run
    records = read_records(output / "scienceqa/coarse_only/samples.jsonl")
    summary = outcome.summaries[("scienceqa", "coarse_only")].to_json()
    assert summary["chance"] == pytest.approx(sum(1 / len(r.letters) for r in records) / len(records))
    golds = [r.gold for r in records]
    best = max(set(golds), key=lambda letter: (golds.count(letter), -ord(letter)))
    bias = summary["accuracy"]["reference"]["letters"]
    assert bias["best_constant"] == {"letter": best, "accuracy": pytest.approx(golds.count(best) / len(golds))}
    assert bias["gold"] == {letter: golds.count(letter) for letter in sorted(set(golds))}


def test_videomme_clusters_by_video(full_run):
    _, outcome = full_run
    summary = outcome.summaries[("videomme", "coarse_only")].to_json()
    assert summary["coverage"]["recorded"] == 9 and summary["coverage"]["failed"] == 4
    assert set(summary["accuracy"]["reference"]["breakdowns"]) == {"duration", "domain", "sub_category", "task_type"}


def test_rerun_scores_only_the_failures_again_and_gives_the_same_summary(full_run, model_dir, data):
    output, outcome = full_run
    again = run(settings(data, output), fvlm(model_dir), progress=False)
    # the failures retried fail again: the run is as it was, not "every question scored now failed" (exit 1)
    assert again.exit_code == outcome.exit_code == ExitCode.OK, again.messages
    assert not any("every question scored now failed" in m for m in again.messages)
    for key, summary in outcome.summaries.items():
        summary = summary.to_json()
        assert stable(again.summaries[key].to_json()) == stable(summary)
        assert again.summaries[key].to_json()["timing"] == summary["timing"]  # failures failing again: kept
    lines = (output / "mvbench/coarse_fine/samples.jsonl").read_text().splitlines()
    assert len(lines) == 14 + 5  # the retried failures appended once more; one record per id is read


def test_changed_annotations_are_scored_again(model_dir, tmp_path):
    data = write_fixtures(tmp_path / "data")
    one = dataclasses.replace(settings(data, tmp_path / "out"), benchmarks=("mvbench",), modes=("coarse_only",))
    run(one, fvlm(model_dir), progress=False)
    records = tmp_path / "out/mvbench/coarse_only/samples.jsonl"
    before = {r.id: r for r in read_records(records)}["mvbench/moving_count/0"]
    path = data / "mvbench/json/moving_count.json"
    rows = json.loads(path.read_text())
    rows[0]["candidates"][2] = "seven"  # an option changed; the gold stays "0"
    path.write_text(json.dumps(rows))
    again = run(one, fvlm(model_dir), progress=False)
    assert again.summaries[("mvbench", "coarse_only")].to_json()["timing"]["scored_this_invocation"] == 1
    assert any("1 recorded questions changed" in m for m in again.messages)
    after = {r.id: r for r in read_records(records)}["mvbench/moving_count/0"]
    assert after.question_sha256 != before.question_sha256 and after.prompt_sha256 != before.prompt_sha256
    assert (
        after.source_sha256 != before.source_sha256
        and after.scores["reference"]["C"] != before.scores["reference"]["C"]
    )


def test_changed_settings_refuse_to_mix_records(full_run, model_dir, data):
    output, _ = full_run
    with pytest.raises(RunRefused, match="sampling"):
        run(settings(data, output, frames=8), fvlm(model_dir), progress=False)


def test_a_benchmark_made_otherwise_is_refused_before_any_benchmark_is_scored(full_run, model_dir, data, tmp_path):
    """`run scienceqa mvbench --frames 8` into a folder whose mvbench was made with 16 frames scored all of
    scienceqa first, then was refused at mvbench."""
    import shutil

    output = tmp_path / "copy"
    shutil.copytree(full_run[0] / "mvbench", output / "mvbench")
    asked = dataclasses.replace(settings(data, output, frames=8), benchmarks=("scienceqa", "mvbench"))
    with pytest.raises(RunRefused, match=r"mvbench/\w+ holds records made with other settings \(sampling differs\)"):
        run(asked, fvlm(model_dir), progress=False)
    assert not (output / "scienceqa").exists()


def test_records_without_their_settings_are_not_adopted_by_another_run(full_run, model_dir, data, tmp_path):
    """A folder whose settings.json was lost took the next run's settings (another model, frame count, dtype) as
    its records' own: "nothing to score", and the new settings and manifest over the old records."""
    import shutil

    output = tmp_path / "copy"
    shutil.copytree(full_run[0], output)
    folder = output / "mvbench" / "coarse_fine"
    (folder / "settings.json").unlink()
    with pytest.raises(RunRefused) as refused:  # even with the very settings they were made with: no one knows
        run(settings(data, output), fvlm(model_dir), progress=False)
    assert refused.value.cli_message == (
        f"{folder} holds records (samples.jsonl) but no settings.json, so what made them is unknown; use another "
        "--output-dir, or remove those record files to score again"
    )
    assert not (folder / "settings.json").exists()


def test_a_settings_file_that_is_not_an_object_is_refused_and_reported_in_one_line(full_run, model_dir, data, tmp_path):
    """`[1, 2]` as settings.json: run and report ended in "an unexpected error: AttributeError: 'list' object has
    no attribute 'get'"."""
    import shutil

    from fvlm_eval.reports.report import write_report

    output = tmp_path / "copy"
    shutil.copytree(full_run[0], output)
    path = output / "mvbench" / "coarse_fine" / "settings.json"
    path.write_text("[1, 2]\n")
    with pytest.raises(RunRefused, match=f"^{path}: not a settings object, so what made the records beside it"):
        run(settings(data, output), fvlm(model_dir), progress=False)
    made = write_report([output], output_dir=tmp_path / "report", show=False, thumbnails=0)
    assert tmp_path / "report" / "report.html" in made
    warnings = json.loads((tmp_path / "report" / "report.json").read_text())["warnings"]
    assert f"{path}: not a settings object; the settings are unknown" in warnings


def test_another_models_run_is_refused_in_a_folder_of_one_model(model_dir, data, tmp_path):
    """Another checkpoint's MVBench beside this one's ScienceQA in one output folder: report showed them as one run."""
    from fvlm_model.loading import ModelSpec, load_tokenizer, save_model_folder
    from tests.conftest import TINY_DINO, TINY_LLM, TINY_QUERY_DIM, tiny_model

    other = tmp_path / "other-model"
    save_model_folder(tiny_model(seed=1), other, ModelSpec(TINY_LLM, TINY_DINO, TINY_QUERY_DIM), load_tokenizer(None))
    output = tmp_path / "run"
    first = dataclasses.replace(settings(data, output, limit=1), benchmarks=("scienceqa",), modes=("coarse_only",))
    assert run(first, fvlm(model_dir), progress=False).exit_code == 0
    second = dataclasses.replace(first, benchmarks=("mvbench",))
    with pytest.raises(RunRefused) as refused:
        run(second, fvlm(other), progress=False)
    message = str(refused.value)
    assert message.startswith(f"{output} holds another model's runs (scienceqa/coarse_only: model_sha256 '")
    assert message.endswith("): one output folder holds one model's; use another output_dir")  # evaluate's argument
    assert refused.value.cli_message.endswith("; use another --output-dir")  # the CLI's flag
    assert not (output / "mvbench").exists() or not any((output / "mvbench").glob("*/settings.json"))
    assert run(second, fvlm(model_dir), progress=False).exit_code == 0  # the same model: another benchmark is fine


def test_a_held_folder_is_refused_naming_the_holder(full_run, model_dir, data):
    output, _ = full_run
    lock = FolderLock(output / "scienceqa" / "coarse_only").acquire()
    try:
        with pytest.raises(RunRefused, match=f"in use by pid {os.getpid()}"):
            run(dataclasses.replace(settings(data, output), benchmarks=("scienceqa",)), fvlm(model_dir), progress=False)
    finally:
        lock.release()


def test_limit_takes_every_category(model_dir, data, tmp_path):
    limited = RunSettings(
        benchmarks=("mvbench",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path, limit=9, workers=0
    )
    summary = run(limited, fvlm(model_dir), progress=False).summaries[("mvbench", "coarse_only")].to_json()
    assert summary["coverage"]["recorded"] == 9 and summary["coverage"]["categories_present"] == 9


def test_generated_answers_are_recorded_and_summarised(model_dir, data, tmp_path):
    one = RunSettings(
        benchmarks=("scienceqa",),
        modes=("coarse_fine",),
        data_dir=data,
        output_dir=tmp_path,
        workers=0,
        generate=True,
        max_new_tokens=4,
    )
    summary = run(one, fvlm(model_dir), progress=False).summaries[("scienceqa", "coarse_fine")].to_json()
    block = summary["accuracy"]["generated"]
    assert block["n"] == 6 and block["unparseable"] == sum(
        n for s, n in block["statuses"].items() if s not in ("letter", "text")
    )
    for record in read_records(tmp_path / "scienceqa/coarse_fine/samples.jsonl"):
        if not record.error:
            assert set(record.generated) >= {"text", "letter", "status", "prompt_sha256", "new_tokens", "stopped"}
            assert record.pred["generated"] == record.generated["letter"]


def test_error_signatures_blank_names_and_numbers():
    assert error_signature("video a/b/6H78U.mp4 is missing") == error_signature("video c/ZZ.mp4 is missing")
    assert error_signature("video x.mp4 is missing") != error_signature("cannot decode x.mp4: DECORDError")


def test_systematic_failures_stop_the_run(model_dir, tmp_path):
    data = tmp_path / "data"
    rows = [{"video": f"clip{i}.mp4", "question": f"Q{i}?", "candidates": ["a", "b"], "answer": "a"} for i in range(40)]
    write_json(data / "mvbench/json/object_existence.json", rows)
    one = RunSettings(
        benchmarks=("mvbench",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path / "out", workers=0
    )
    outcome = run(one, fvlm(model_dir), progress=False)
    assert outcome.exit_code == ExitCode.FAILED
    (message,) = [m for m in outcome.messages if "stopped" in m]
    assert "first 16 questions all failed with the same error" in message and "clip0.mp4 is missing" in message
    assert len(read_records(tmp_path / "out/mvbench/coarse_only/samples.jsonl")) < 40
    going = run(dataclasses.replace(one, keep_going=True), fvlm(model_dir), progress=False)
    assert (
        going.exit_code == ExitCode.FAILED
        and going.summaries[("mvbench", "coarse_only")].to_json()["coverage"]["failed"] == 40
    )


class _BrokenInOneMode:
    """The real tiny fVLM, except that every question fails in ``broken`` (as a mode with a bug would)."""

    def __init__(self, model, broken):
        self.model, self.broken = model, broken

    def __getattr__(self, name):
        return getattr(self.model, name)

    def score(self, requests, mode):
        if mode == self.broken:
            raise RuntimeError(f"{mode} is broken")
        return self.model.score(requests, mode)

    def score_formulations(self, choices, clozes, mode):
        return self.score(choices, mode), self.model.score_cloze(clozes, mode)


def test_a_mode_in_which_every_question_fails_is_caught_in_whichever_mode(model_dir, tmp_path):
    """Not only the first mode's failures count: the rerun that adds a broken mode exits 1 and says so."""
    data = tmp_path / "data"
    write_scienceqa(data)  # no faults: every question can be scored
    one = RunSettings(
        benchmarks=("scienceqa",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path / "out", workers=0
    )
    assert run(one, fvlm(model_dir), progress=False).exit_code == ExitCode.OK
    both = dataclasses.replace(one, modes=("coarse_only", "autoregressive"))
    outcome = run(both, _BrokenInOneMode(fvlm(model_dir), "autoregressive"), progress=False)
    assert outcome.exit_code == ExitCode.FAILED
    assert any(
        "every question scored now failed (in at least one mode)" in m and "autoregressive is broken" in m
        for m in outcome.messages
    ), outcome.messages
    assert outcome.summaries[("scienceqa", "autoregressive")].to_json()["coverage"]["failed"] == 6


def test_unreadable_annotation_counts_as_failed_and_exits_non_zero(model_dir, tmp_path):
    data = write_fixtures(tmp_path / "data")
    (data / "mvbench/json/object_shuffle.json").write_text("[{truncated")
    one = RunSettings(
        benchmarks=("mvbench",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path / "out", workers=0
    )
    outcome = run(one, fvlm(model_dir), progress=False)
    assert outcome.exit_code == ExitCode.FAILED
    assert any(
        "object_shuffle.json cannot be read" in m and "200 questions count as failed" in m for m in outcome.messages
    )
    coverage = outcome.summaries[("mvbench", "coarse_only")].to_json()["coverage"]
    assert coverage["unreadable_annotations"] == 200 and coverage["failed"] == 200


def ctrl_c_as_usual():
    """In the child: SIGINT as a terminal gives it (a shell that started pytest in the background ignores
    SIGINT, and children inherit that: Python would never see the Ctrl-C these tests send)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args, env=None, **kwargs):
    return [sys.executable, "-m", "fvlm_eval", *args]


def test_interrupted_run_says_how_to_resume(model_dir, data, tmp_path):
    output = tmp_path / "interrupted"
    command = cli(
        "run",
        "mvbench",
        "--mode",
        "autoregressive",
        "--model",
        str(model_dir),
        "--data-dir",
        str(data),
        "--output-dir",
        str(output),
        "--batch-size",
        "1",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--no-frame-cache",
    )
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_usual
    )
    target = output / "mvbench/autoregressive/samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not target.is_file() or target.read_bytes().count(b"\n") < 7):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err[-2000:]
    assert "stopped: mvbench autoregressive" in out + err and "rerun the same command to resume" in out + err
    assert "Traceback" not in out + err


def test_the_stop_line_counts_the_records_on_disk(model_dir, data, tmp_path, monkeypatch):
    """Ctrl-C after some batches: the line says how many questions are recorded on disk, failures included
    (it once said "0/60 recorded" with 16 on disk, counting only the questions scored without failure)."""
    import re

    model = fvlm(model_dir)
    asked = []
    score = model.score_formulations

    def stopped_at_the_second_batch(choices, clozes, variant):
        asked.append(len(choices))
        if len(asked) == 2:
            raise KeyboardInterrupt
        return score(choices, clozes, variant)

    monkeypatch.setattr(model, "score_formulations", stopped_at_the_second_batch)
    one = RunSettings(("mvbench",), ("coarse_only",), data, tmp_path, batch_size=2, workers=0)
    outcome = run(one, model, progress=False)
    assert outcome.exit_code == ExitCode.INTERRUPTED
    records = read_records(tmp_path / "mvbench/coarse_only/samples.jsonl")
    failed = len({r.id for r in records if r.failed})
    line = next(m for m in outcome.messages if m.startswith("stopped"))
    said = re.search(r"mvbench coarse_only (\d+)/14 recorded \((\d+) of them failed", line)
    assert said and (int(said[1]), int(said[2])) == (len({r.id for r in records}), failed) and failed, line


def test_a_new_answer_limit_generates_again(model_dir, data, tmp_path):
    one = RunSettings(
        benchmarks=("scienceqa",),
        modes=("coarse_fine",),
        data_dir=data,
        output_dir=tmp_path,
        workers=0,
        generate=True,
        max_new_tokens=1,
    )
    run(one, fvlm(model_dir), progress=False)
    again = run(dataclasses.replace(one, max_new_tokens=3), fvlm(model_dir), progress=False)
    assert again.summaries[("scienceqa", "coarse_fine")].to_json()["timing"]["scored_this_invocation"] == 6
    records = [r for r in read_records(tmp_path / "scienceqa/coarse_fine/samples.jsonl") if not r.error]
    latest = {r.id: r for r in records}
    assert {r.generated["max_new_tokens"] for r in latest.values()} == {3}


def test_an_unwritable_frame_cache_is_said_once_and_the_run_goes_on(model_dir, data, tmp_path):
    blocked = tmp_path / "cache-is-a-file"
    blocked.write_text("x")
    one = RunSettings(
        benchmarks=("mvbench",),
        modes=("coarse_only",),
        data_dir=data,
        output_dir=tmp_path / "out",
        workers=0,
        frame_cache=blocked,
    )
    outcome = run(one, fvlm(model_dir), progress=False)
    warnings = [m for m in outcome.messages if "frame cache" in m]
    assert len(warnings) == 1 and "clips are decoded, not cached" in warnings[0]
    assert outcome.summaries[("mvbench", "coarse_only")].to_json()["coverage"]["scored"] == 9


def test_interrupted_while_loading_says_how_to_resume_too(model_dir, data, tmp_path):
    command = cli(
        "run",
        "mvbench",
        "--mode",
        "all",
        "--model",
        str(model_dir),
        "--data-dir",
        str(data),
        "--output-dir",
        str(tmp_path / "early"),
        "--workers",
        "0",
        "--device",
        "cpu",
        "--no-frame-cache",
    )
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_usual
    )
    deadline = time.time() + 60  # Python's own SIGINT handler first: sent before it, Ctrl-C kills or is ignored
    while time.time() < deadline and process.poll() is None and not catches(process.pid, signal.SIGINT, "fvlm_eval"):
        time.sleep(0.02)
    time.sleep(1.0)  # imports and the model load: before any question is scored
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in out + err, (process.returncode, out[-1500:], err[-3000:])
    assert "rerun the same command" in out + err  # "... to resume", or "while starting; nothing was written: ..."


# ----- a killed run always resumes: no decoding worker outlives it, none holds the folder's lock -----------------


def _holds(pid: int, fragment: str) -> bool:
    try:
        return any(fragment in os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def _stop_mid_run(command: list[str], target, sig, tmp_path, ready) -> tuple[int, str]:
    """Start ``command``, send ``sig`` once ``ready()`` and its decoding workers are up; then check that no
    process of it remains. Returns (exit code, stdout + stderr)."""
    log = open(tmp_path / f"stopped-{int(sig)}.log", "w+")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # a file: orphans cannot block a pipe
    deadline, workers = time.time() + 180, []
    while time.time() < deadline and process.poll() is None:
        workers = live_processes(lambda pid, ppid, cmd: ppid == process.pid)
        if len(workers) >= 2 and ready():
            break
        time.sleep(0.02)
    else:
        process.kill()
        pytest.fail("the run ended (or never got going) before it could be stopped mid-run")
    assert not any(_holds(w, ".fvlm-eval.lock") for w in workers), "a decoding worker holds the folder's lock"
    process.send_signal(sig)
    process.wait(timeout=120)
    deadline = time.time() + 5
    left = workers
    while left and time.time() < deadline:
        time.sleep(0.1)
        left = live_processes(
            lambda pid, ppid, cmd: pid in workers or ppid == process.pid or str(target.parents[2]) in cmd
        )
    for pid in left:  # never leave them behind for the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the stopped run remain: {left}"
    log.seek(0)
    return process.returncode, log.read()


def test_a_killed_run_with_decoding_workers_resumes_at_once(full_run, model_dir, data, tmp_path):
    """SIGTERM, then SIGKILL (as if in the middle of writing a line), mid-run while two decoding workers decode:
    each time no process of the run remains and the rerun resumes at once; at the end no question was scored
    twice (failed ones are tried again, by design) and the summary equals an uninterrupted run's."""
    from fvlm_eval.cli import main

    _, outcome = full_run
    output = tmp_path / "out"
    args = [
        "run",
        "mvbench",
        "--mode",
        "coarse_only",
        "--model",
        str(model_dir),
        "--data-dir",
        str(data),
        "--output-dir",
        str(output),
        "--batch-size",
        "1",
        "--workers",
        "2",
        "--device",
        "cpu",
        "--no-frame-cache",
    ]
    target = output / "mvbench/coarse_only/samples.jsonl"
    expected = outcome.summaries[("mvbench", "coarse_only")].to_json()
    total = expected["coverage"]["scored"]
    scored = lambda: sum(1 for r in read_records(target) if not r.failed) if target.is_file() else 0  # noqa: E731
    code, said = _stop_mid_run(cli(*args), target, signal.SIGTERM, tmp_path, ready=lambda: scored() >= 1)
    said = " ".join(said.split())
    assert code == 143 and "Traceback" not in said, said[-2000:]
    assert "stopped by SIGTERM: mvbench coarse_only" in said and "rerun the same command to resume" in said
    after_term = scored()
    assert after_term < total, "the signal should land mid-run"
    _stop_mid_run(
        cli(*args), target, signal.SIGKILL, tmp_path, ready=lambda: scored() > after_term
    )  # resumed, then killed
    assert scored() < total, "the kill should land mid-run"
    with open(target, "ab") as handle:  # as if killed in the middle of writing a line
        handle.write(b'{"id": "mvbench/object_shuffle/0", "benchmark": "mvb')
    assert main(args) == ExitCode.OK  # at once: no lock left behind
    records = read_records(target)
    scored_ids = [r.id for r in records if not r.failed]
    assert len(scored_ids) == len(set(scored_ids)) == total, "lost or repeated questions"
    summary = json.loads((output / "mvbench/coarse_only/summary.json").read_text())
    assert same_numbers(summary, expected)


def test_a_forked_child_never_holds_the_folder_lock(tmp_path):
    lock = FolderLock(tmp_path).acquire()
    try:
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # the child: report whether it still has the lock file open
            os.write(write, b"1" if _holds(os.getpid(), ".fvlm-eval.lock") else b"0")
            os._exit(0)
        os.close(write)
        assert os.read(read, 1) == b"0"
        os.waitpid(child, 0)
        with pytest.raises(RunRefused):  # and the parent's lock is still held
            FolderLock(tmp_path).acquire()
    finally:
        lock.release()
    FolderLock(tmp_path).acquire().release()


def test_a_lock_held_after_its_owner_died_names_who_holds_it(tmp_path):
    """flock is released when its last holder ends; if a left-behind process holds it, the refusal names that one."""
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
                "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"
            ),
            str(tmp_path / ".fvlm-eval.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        (tmp_path / ".fvlm-eval.lock").write_text(
            f"pid {dead.pid} on {socket.gethostname()} since 10:00:00 (fvlm-eval run)"
        )
        with pytest.raises(
            RunRefused, match=f"pid {dead.pid} is no longer running; the lock is held by pid {holder.pid}"
        ):
            FolderLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("prctl", [True, False], ids=["prctl", "parent-watch thread"])
def test_a_decoding_worker_dies_with_its_parent(prctl, monkeypatch):
    """The worker guard alone: a grandchild guarded against its parent ends within a second of that parent's SIGKILL."""
    from fvlm_eval.media import workers as decoding

    if not prctl:
        monkeypatch.setattr(decoding.sys, "platform", "elsewhere")  # as on a platform without prctl
    read, write = os.pipe()
    parent = os.fork()
    if parent == 0:
        try:
            me = os.getpid()  # taken before the fork, as the runner does (``DieWithParent(os.getpid())``): the
            worker = os.fork()  # worker's own getppid() would name the reaper if this process were killed first
            if worker == 0:
                decoding.die_with_parent(me, poll_seconds=3600 if prctl else 0.05)  # each path alone
                time.sleep(30)
                os._exit(0)
            os.write(write, str(worker).encode())
            time.sleep(30)
        finally:
            os._exit(0)
    os.close(write)
    worker = int(os.read(read, 32))
    os.kill(parent, signal.SIGKILL)
    os.waitpid(parent, 0)
    deadline = time.time() + 3
    while time.time() < deadline and live_processes(lambda pid, ppid, cmd: pid == worker):
        time.sleep(0.02)
    alive = live_processes(lambda pid, ppid, cmd: pid == worker)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive


def test_subtitles_asked_for_where_no_video_has_a_subtitle_file_are_said(model_dir, tmp_path):
    """`run --subtitles` on a copy whose subtitle archive was never extracted scored every question without a
    subtitle and recorded subtitles: true, without a word."""
    import shutil

    from fvlm_eval.tasks.fixtures.videomme import write_videomme

    write_videomme(tmp_path / "data")
    shutil.rmtree(tmp_path / "data/videomme/subtitle")
    one = RunSettings(
        benchmarks=("videomme",), modes=("coarse_only",), data_dir=tmp_path / "data", output_dir=tmp_path / "out",
        workers=0, subtitles=True, limit=1, frames=2,
    )  # fmt: skip
    outcome = run(one, fvlm(model_dir), progress=False)
    assert any("videomme: --subtitles, but no video has a subtitle file" in m for m in outcome.messages)


def test_a_model_folder_edited_between_runs_does_not_resume_the_folder_it_made(model_dir, tmp_path):
    """Only the weights file identified the model: after an edit of config.json (visual_scale, rope_theta) or of
    the chat template, a rerun kept the old records and added the new model's. Both are part of its identity."""
    import shutil

    data = tmp_path / "data"
    write_scienceqa(data)
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    one = RunSettings(
        benchmarks=("scienceqa",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path / "out", workers=0,
        limit=2,
    )  # fmt: skip
    assert run(one, fvlm(folder), progress=False).exit_code == ExitCode.OK
    written = json.loads((tmp_path / "out/scienceqa/coarse_only/settings.json").read_text())
    del written["model_build_sha256"]  # a folder made before the key was recorded still resumes
    (tmp_path / "out/scienceqa/coarse_only/settings.json").write_text(json.dumps(written))
    assert run(one, fvlm(folder), progress=False).exit_code == ExitCode.OK
    config = json.loads((folder / "config.json").read_text())
    config["visual_scale"] = 5.0
    (folder / "config.json").write_text(json.dumps(config))
    fresh = dataclasses.replace(one, output_dir=tmp_path / "fresh")
    assert run(fresh, fvlm(folder), progress=False).exit_code == ExitCode.OK
    template = (folder / "chat_template.jinja") if (folder / "chat_template.jinja").is_file() else None
    with pytest.raises(RunRefused, match="model_build_sha256 differ"):
        run(dataclasses.replace(fresh, limit=None), fvlm(model_dir), progress=False)  # the original config
    if template is not None:
        template.write_text(template.read_text().replace("<|im_start|>", "<|im_start|> "))
        with pytest.raises(RunRefused, match="model_build_sha256 differ"):
            run(fresh, fvlm(folder), progress=False)


def test_an_edited_model_folder_does_not_add_a_benchmark_to_the_folder_the_original_made(model_dir, tmp_path):
    """The output folder's one-model rule compared weights, family and dtype only: after an edit of config.json
    another benchmark's run joined the original model's, and a report showed both as one model's."""
    import shutil

    data = tmp_path / "data"
    write_scienceqa(data)
    write_mvbench(data)
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    one = RunSettings(
        benchmarks=("scienceqa",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path / "out", workers=0,
        limit=1,
    )  # fmt: skip
    assert run(one, fvlm(folder), progress=False).exit_code == ExitCode.OK
    config = json.loads((folder / "config.json").read_text())
    config["visual_scale"] = 5.0
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunRefused, match=r"holds another model's runs \(scienceqa/coarse_only: model_build_sha256 '"):
        run(dataclasses.replace(one, benchmarks=("mvbench",)), fvlm(folder), progress=False)
    written = tmp_path / "out/scienceqa/coarse_only/settings.json"
    older = json.loads(written.read_text())
    del older["model_build_sha256"]  # a folder made before the key was recorded: compared without it
    written.write_text(json.dumps(older))
    assert run(dataclasses.replace(one, benchmarks=("mvbench",)), fvlm(folder), progress=False).exit_code == 0


def test_a_folder_of_fvlms_own_sampling_of_before_is_refused_saying_why(model_dir, tmp_path):
    """The same `--sampling model` command was refused as "(sampling differ)": nothing said that fVLM's own sampling
    had changed (exact seconds then, whole frames now), nor was the verb agreed."""
    data = tmp_path / "data"
    write_mvbench(data)
    one = RunSettings(benchmarks=("mvbench",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path / "out",
                      workers=0, limit=1, model_sampling=True)  # fmt: skip
    assert run(one, fvlm(model_dir), progress=False).exit_code == ExitCode.OK
    path = tmp_path / "out/mvbench/coarse_only/settings.json"
    written = json.loads(path.read_text())
    written["sampling"] = written["sampling"].removesuffix("-whole")  # as a folder made before
    path.write_text(json.dumps(written))
    with pytest.raises(RunRefused, match=r"\(sampling differs: fVLM's own sampling now steps by whole frames, as its"):
        run(one, fvlm(model_dir), progress=False)


def test_a_run_records_its_data_folder_and_resumes_from_data_moved_since(model_dir, tmp_path, monkeypatch):
    """Only a summary named the data folder, so a run killed before it (or still running) showed its questions as
    bare ids in report.html. A run records it now (absolute) in data_dir.json beside settings.json, never compared:
    a rerun on the data moved elsewhere still resumes; and settings.json is left as every earlier version wrote it
    (they compare it whole: with the data folder in it, yesterday's fvlm-eval refused today's folders as "made with
    other settings (data_dir differs)")."""
    import shutil

    monkeypatch.chdir(tmp_path)
    write_scienceqa(tmp_path / "data")
    one = RunSettings(benchmarks=("scienceqa",), modes=("coarse_only",), data_dir=Path("data"),
                      output_dir=tmp_path / "out", workers=0, limit=1)  # fmt: skip
    assert run(one, fvlm(model_dir), progress=False).exit_code == ExitCode.OK
    folder = tmp_path / "out/scienceqa/coarse_only"
    assert "data_dir" not in json.loads((folder / "settings.json").read_text())
    where = folder / "data_dir.json"
    assert json.loads(where.read_text()) == {"data_dir": os.path.realpath(tmp_path / "data")}  # typed relative
    shutil.move(tmp_path / "data", tmp_path / "moved")
    moved = dataclasses.replace(one, data_dir=tmp_path / "moved", limit=2)
    assert run(moved, fvlm(model_dir), progress=False).exit_code == ExitCode.OK  # not refused
    assert json.loads(where.read_text()) == {"data_dir": os.path.realpath(tmp_path / "data")}  # as it was made
    where.unlink()  # a folder made before runs recorded it
    assert run(dataclasses.replace(moved, limit=3), fvlm(model_dir), progress=False).exit_code == ExitCode.OK
    assert not where.exists()  # left as it was


def test_a_folder_made_before_the_cloze_framing_was_a_setting_resumes_with_the_framing_its_records_hold(
    model_dir, tmp_path
):
    """settings.json has held cloze_framing only since it became a setting: an older folder, resumed with the very
    framing its records hold, was refused as "(cloze_framing differs)". Its records say which framing made them:
    the same one resumes, another is refused."""
    data = tmp_path / "data"
    write_mvbench(data)
    one = RunSettings(benchmarks=("mvbench",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path / "out",
                      workers=0, limit=1, cloze_framing="chat")  # fmt: skip
    assert run(one, fvlm(model_dir), progress=False).exit_code == ExitCode.OK
    path = tmp_path / "out/mvbench/coarse_only/settings.json"
    written = json.loads(path.read_text())
    del written["cloze_framing"]  # as a folder made before
    path.write_text(json.dumps(written))
    assert run(dataclasses.replace(one, limit=2), fvlm(model_dir), progress=False).exit_code == ExitCode.OK
    with pytest.raises(RunRefused, match=r"\(cloze_framing differs\)"):
        run(dataclasses.replace(one, cloze_framing="plain"), fvlm(model_dir), progress=False)


def test_a_rerun_that_scores_nothing_keeps_the_timing_of_the_run_that_scored(model_dir, tmp_path):
    """A rerun that found every question recorded ("nothing to score") wrote its own 0.02 s and 0 clips decoded
    over the summary's timing: how long a 17-minute run took and what the frame cache served were gone."""
    data = write_fixtures(tmp_path / "data")
    one = dataclasses.replace(settings(data, tmp_path / "out"), benchmarks=("mvbench",), modes=("coarse_only",))
    first = run(one, fvlm(model_dir), progress=False).summaries[("mvbench", "coarse_only")].to_json()["timing"]
    assert first["scored_this_invocation"] > 0 and first["clips"]["decoded"] > 0
    again = run(one, fvlm(model_dir), progress=False)
    summary = json.loads((tmp_path / "out/mvbench/coarse_only/summary.json").read_text())
    assert summary["timing"] == first == again.summaries[("mvbench", "coarse_only")].to_json()["timing"]


def test_a_rerun_whose_failed_questions_fail_again_keeps_the_timing_of_the_run_that_scored(model_dir, tmp_path):
    """A missing video is asked again by every rerun and fails again: its 0.1 s and 1 question "scored" replaced the
    timing of the run that scored the others, for good."""
    data = write_fixtures(tmp_path / "data")
    next(p for p in (data / "mvbench").rglob("*.mp4")).unlink()
    one = dataclasses.replace(settings(data, tmp_path / "out"), benchmarks=("mvbench",), modes=("coarse_only",))
    first = run(one, fvlm(model_dir), progress=False).summaries[("mvbench", "coarse_only")].to_json()["timing"]
    assert first["failed_this_invocation"] >= 1 and first["scored_this_invocation"] > first["failed_this_invocation"]
    again = run(one, fvlm(model_dir), progress=False).summaries[("mvbench", "coarse_only")].to_json()["timing"]
    assert again == first
