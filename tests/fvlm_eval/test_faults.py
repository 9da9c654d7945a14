"""Faults during a run: a full disk, a question far too long, a hub-less commit: loud, and nothing lost."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

import fvlm_eval
from fvlm_eval.cli import main
from fvlm_eval.records import read_records
from fvlm_eval.run import benchmark_run
from fvlm_eval.run.manifest import git_commit
from fvlm_eval.tasks import write_fixtures


def test_a_full_disk_stops_the_run_and_keeps_what_was_written(model_dir, tmp_path, monkeypatch, capsys):
    data = write_fixtures(tmp_path / "data")
    real_append, calls = benchmark_run.append_records, []

    def fill_up(path, records):
        calls.append(path)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_append(path, records)

    monkeypatch.setattr(benchmark_run, "append_records", fill_up)
    args = [
        "run",
        "mvbench",
        "--model",
        str(model_dir),
        "--data-dir",
        str(data),
        "--output-dir",
        str(tmp_path / "out"),
        "--workers",
        "0",
        "--batch-size",
        "2",
        "--no-frame-cache",
    ]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert (
        "No space left on device" in err
        and "records written before this are kept (free some space, then rerun the same command to resume)" in err
        and "Traceback" not in out + err
    )
    path = tmp_path / "out/mvbench/coarse_fine/samples.jsonl"
    kept = read_records(path)
    assert 0 < len(kept) < 9
    monkeypatch.setattr(benchmark_run, "append_records", real_append)
    assert main(args) == 0
    records = read_records(path)
    assert len(records) == len({r.id for r in records}) == 9 and {r.id for r in kept} <= {r.id for r in records}


def test_a_question_of_200000_characters_fails_alone(model_dir, tmp_path):
    data = write_fixtures(tmp_path / "data")
    path = data / "mvbench/json/moving_count.json"
    rows = json.loads(path.read_text())
    rows.append({**rows[0], "question": "How many? " + "very " * 40_000})
    path.write_text(json.dumps(rows))
    assert (
        main(
            [
                "run",
                "mvbench",
                "--model",
                str(model_dir),
                "--data-dir",
                str(data),
                "--output-dir",
                str(tmp_path / "out"),
                "--workers",
                "0",
                "--no-frame-cache",
                "--generate",
            ]
        )
        == 0
    )
    records = {r.id: r for r in read_records(tmp_path / "out/mvbench/coarse_fine/samples.jsonl")}
    assert "does not fit the model's context" in records["mvbench/moving_count/1"].error
    assert records["mvbench/moving_count/0"].error is None and len(records) == 10


def test_the_manifest_never_records_a_users_commit_as_the_harness(tmp_path, monkeypatch):
    """Installed inside a user's repository (a venv in it), the harness's commit is unknown, not the user's."""
    fake = tmp_path / "site-packages" / "fvlm_eval"
    fake.mkdir(parents=True)
    (tmp_path / ".git").mkdir()  # the user's repository around the installed package
    monkeypatch.setattr(fvlm_eval, "__file__", str(fake / "__init__.py"))
    assert git_commit() is None


def test_the_manifest_finds_the_harness_checkout_from_the_package_root():
    """The commit comes from the checkout holding the package (computed from its root, not a module's depth)."""
    import subprocess

    top = Path(fvlm_eval.__file__).resolve().parent.parent
    if not (top / ".git").exists():
        pytest.skip("not running from a checkout")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=top, capture_output=True, text=True).stdout.strip()
    assert git_commit() == head
