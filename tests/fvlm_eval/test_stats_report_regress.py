"""Statistics on hand-computed cases; report rendering; regress exit codes on constructed runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fvlm_eval.records import append_records, write_json_atomic
from fvlm_eval.regress import EXIT_DROP, EXIT_MISMATCH, EXIT_PASS, regress
from fvlm_eval.report import build, markdown, read_baselines, write_report
from fvlm_eval.scoring import predict, reference_score
from fvlm_eval.stats import accuracy, clustered_stderr, mcnemar_exact, paired_bootstrap
from fvlm_eval.types import OptionLogprobs


@pytest.mark.parametrize("b,c,expected", [
    (0, 0, 1.0),
    (1, 0, 1.0),
    (0, 5, 2 / 32),            # 2 * 0.5^5
    (2, 8, 2 * (1 + 10 + 45) / 1024),
    (10, 10, 1.0),
])
def test_mcnemar_exact_on_known_tables(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected)


def test_clustered_stderr_reduces_to_the_sample_stderr_with_singleton_clusters():
    values = [1, 0, 1, 1, 0, 1, 0, 1]
    expected = np.std(values, ddof=1) / math.sqrt(len(values))
    assert clustered_stderr(values, [str(i) for i in range(8)]) == pytest.approx(expected)


def test_clustered_stderr_by_hand():
    # clusters {1,1,1} and {0,0,0}: mean .5, residual sums +1.5 and -1.5; var = 2/1 * (2.25+2.25)/36 = 0.25
    assert clustered_stderr([1, 1, 1, 0, 0, 0], list("aaabbb")) == pytest.approx(0.5)
    assert accuracy([True, False], ["a", "b"]).as_dict()["accuracy"] == 0.5


def test_bootstrap_is_reproducible_by_seed_and_covers_the_truth():
    rng = np.random.default_rng(1)
    hits = 0
    for trial in range(40):
        base = rng.random(300) < 0.5
        current = np.where(rng.random(300) < 0.8, base, rng.random(300) < 0.5)  # same true accuracy
        groups = [str(i // 3) for i in range(300)]
        low, high = paired_bootstrap(list(base), list(current), groups, seed=trial, resamples=2000)
        assert (low, high) == paired_bootstrap(list(base), list(current), groups, seed=trial, resamples=2000)
        hits += low <= 0.0 <= high
    assert hits >= 34  # ~95% of 40


def test_reference_protocol_pad_quirk():
    option = OptionLogprobs((49, 30, 1792, 2, 198), (-1.0, -2.0, -3.0, -9.0, -0.5), 3, "A", pad_id=2)
    assert reference_score(option) == pytest.approx((1 + 2 + 3 + 0 + 0.5) / 5)
    assert predict("reference", {"A": 1.0, "B": 1.0}) == "A" and predict("sum", {"A": -2.0, "B": -1.0}) == "B"


# ----- constructed runs -----------------------------------------------------------------------

def write_run(folder: Path, correct: list[bool], sampling="uniform:64", groups=None):
    mode = folder / "videomme" / "coarse_fine"
    records = []
    for i, ok in enumerate(correct):
        records.append({"id": f"videomme/{i:03d}", "task": "videomme", "mode": "coarse_fine",
                        "group": (groups or [f"v{i // 3}" for i in range(len(correct))])[i], "gold": "A",
                        "fields": {"duration": ["short", "long"][i % 2]}, "scores": {}, "pred": {},
                        "correct": {"reference": ok, "sum": ok, "mean": ok, "letter": ok}, "error": None})
    append_records(mode / "samples.jsonl", records)
    write_json_atomic(mode / "settings.json", {"task": "videomme", "mode": "coarse_fine", "version": "1",
                                               "sampling": sampling, "subtitles": False, "prompt": "p", "dtype": "bfloat16"})
    n = len(correct)
    acc = accuracy(correct, [r["group"] for r in records]).as_dict()
    write_json_atomic(mode / "summary.json", {
        "task": "videomme", "mode": "coarse_fine", "headline_protocol": "reference",
        "accuracy": {"reference": {**acc, "breakdowns": {"task_type": {"Counting Problem": acc}}}},
        "coverage": {"recorded": n, "expected": 2700, "failed": 0, "scored": n, "categories_present": 2, "categories_expected": 3},
    })
    return folder


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


def test_report_shows_coverage_protocol_and_interval(tmp_path):
    run = write_run(tmp_path / "myrun", [True] * 30 + [False] * 70)
    report = build([run], read_baselines(None))
    text = markdown(report)
    row = next(line for line in text.splitlines() if line.startswith("| Video-MME"))
    assert "30.0 [" in row and "(100/2700 q, 2/3 durations)" in row
    assert "*generated answer (VLMEvalKit)*" in text and "*option log-likelihood (reference)*" in text
    assert "| 33.7 |" in row  # SmolVLM2-256M published
    written = write_report([run], None, tmp_path / "out")
    names = {p.name for p in written}
    assert {"report.md", "report.csv", "report.json", "comparison.png", "breakdown_videomme.png"} <= names
    assert all(p.stat().st_size > 0 for p in written)
    assert (tmp_path / "out" / "report.md").read_text() == text


def test_report_markdown_snapshot(tmp_path):
    run = write_run(tmp_path / "snap", [True, False, True, True] * 5)
    text = markdown(build([run], read_baselines(None)))
    expected = (Path(__file__).parent / "golden_report.md").read_text()
    assert text == expected
