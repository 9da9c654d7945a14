"""regress on constructed runs: the verdicts and exit codes, and every kind of unusable input."""

from __future__ import annotations

import json

import pytest

from fvlm_eval.regress import EXIT_DROP, EXIT_MISMATCH, EXIT_PASS, RegressUnusable, regress
from tests.fvlm_eval.constructed import write_run


def test_regress_flags_a_clear_drop(tmp_path):
    base = write_run(tmp_path / "base", [True] * 80 + [False] * 20)
    current = write_run(tmp_path / "cur", [True] * 50 + [False] * 50)
    assert regress(base, current, max_drop=1.0, alpha=0.05) == EXIT_DROP
    report = json.loads((current / "regress" / "regress.json").read_text())
    overall = report["comparisons"][0]
    assert overall["delta"] == pytest.approx(-30.0) and len(overall["lost"]) == 30 and overall["mcnemar_p"] < 1e-6
    assert overall["ci95"][1] < 0
    assert "significant drop" in (current / "regress" / "regress.md").read_text()


def test_regress_passes_noise(tmp_path):
    pattern = [True, False, True, True, False] * 20
    flipped = list(pattern)
    flipped[0], flipped[1] = False, True  # one lost, one gained
    assert regress(write_run(tmp_path / "a", pattern), write_run(tmp_path / "b", flipped)) == EXIT_PASS


def test_regress_reports_a_mismatch_loudly(tmp_path, monkeypatch):
    summary_file = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    base = write_run(tmp_path / "a", [True] * 10)
    current = write_run(tmp_path / "b", [True] * 10, sampling="uniform:16")
    assert regress(base, current) == EXIT_MISMATCH
    assert regress(base, current, allow_mismatch=True) == EXIT_PASS
    assert "Settings differ" in summary_file.read_text()


@pytest.mark.parametrize("shared", [0, 5])
def test_runs_sharing_nothing_or_too_little_are_not_comparable(tmp_path, shared):
    base = write_run(tmp_path / "a", [True] * 40)
    current = write_run(tmp_path / "b", [False] * 40, first_id=40 - shared)  # ids 40-shared .. 79-shared
    assert regress(base, current) == 4
    verdict = json.loads((current / "regress" / "regress.json").read_text())["verdict"]
    assert verdict.startswith("not comparable")
    assert regress(base, current, min_overlap=0.1) == (4 if shared == 0 else EXIT_PASS)  # 5 flips: p = 0.0625


def test_runs_without_a_common_benchmark_mode_are_not_comparable(tmp_path):
    base = write_run(tmp_path / "a", [True] * 10, mode="coarse_only")
    current = write_run(tmp_path / "b", [True] * 10, mode="coarse_fine")
    with pytest.raises(RegressUnusable, match="share no benchmark/mode"):
        regress(base, current)


def test_unusable_folders_are_named(tmp_path):
    good = write_run(tmp_path / "good", [True] * 10)
    with pytest.raises(RegressUnusable, match="no such folder"):
        regress(tmp_path / "missing", good)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegressUnusable, match="no <benchmark>/<mode>/samples.jsonl"):
        regress(good, tmp_path / "empty")
    with pytest.raises(RegressUnusable, match="one benchmark/mode folder; give the run folder"):
        regress(good, good / "videomme" / "coarse_fine")


@pytest.mark.parametrize("line, message", [
    (b"not json\n", "not a JSON record"),
    (b'{"id": "videomme/999", "schema_version": 2}\n', "lacks"),
    (b'{"id": "videomme/999", "correct": {}}\n', "older version"),
])
def test_a_bad_record_line_is_named(tmp_path, line, message):
    good = write_run(tmp_path / "good", [True] * 10)
    bad = write_run(tmp_path / "bad", [True] * 10)
    with open(bad / "videomme/coarse_fine/samples.jsonl", "ab") as handle:
        handle.write(line)
    with pytest.raises(RegressUnusable, match=message) as error:
        regress(good, bad)
    assert "samples.jsonl:11" in str(error.value)


def test_a_truncated_settings_file_is_named(tmp_path):
    good = write_run(tmp_path / "good", [True] * 10)
    bad = write_run(tmp_path / "bad", [True] * 10)
    (bad / "videomme/coarse_fine/settings.json").write_text('{"version": ')
    with pytest.raises(RegressUnusable, match="settings.json: not readable JSON"):
        regress(good, bad)


def test_the_same_id_on_another_question_is_never_paired(tmp_path):
    import dataclasses

    from fvlm_eval.records import read_records, write_records

    base = write_run(tmp_path / "a", [True] * 20)
    current = write_run(tmp_path / "b", [False] * 20)
    path = current / "videomme/coarse_fine/samples.jsonl"
    write_records(path, [dataclasses.replace(r, question_sha256="other" * 12) for r in read_records(path)])
    assert regress(base, current) == 4  # nothing left to pair
    text = (current / "regress" / "regress.md").read_text()
    assert "20 questions differ between the runs under the same id" in text


def test_only_the_questions_the_summary_counts_are_compared(tmp_path):
    base = write_run(tmp_path / "a", [True] * 30)
    current = write_run(tmp_path / "b", [True] * 10 + [False] * 20)
    summary_path = current / "videomme/coarse_fine/summary.json"
    summary = json.loads(summary_path.read_text())
    summary["questions"] = summary["questions"][:10]  # a rerun with --limit 10: the older records stay on disk
    summary_path.write_text(json.dumps(summary))
    assert regress(base, current, min_overlap=0.3) == EXIT_PASS
    assert json.loads((current / "regress" / "regress.json").read_text())["comparisons"][0]["n"] == 10
