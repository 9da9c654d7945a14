"""regress as a CI gate (findings 11): what the baseline measured and the current run lacks, which exit code wins,
regress.json as a machine reads it, unfinished runs, and one folder reached through links."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from fvlm_eval.errors import ExitCode
from fvlm_eval.reports.regress import RegressUnusable, regress
from tests.fvlm_eval.constructed import write_run
from tests.fvlm_eval.reports.test_regress import fail_questions
from tests.fvlm_eval.test_folder_holders import holding

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _written(run: Path) -> dict:
    return json.loads((run / "regress" / "regress.json").read_text())


def _runs(tmp_path, current_modes=("coarse_fine", "coarse_only"), base_modes=("coarse_fine", "coarse_only")):
    """Two runs of 60 unchanged questions per mode (20 videos of 3)."""
    for mode in base_modes:
        write_run(tmp_path / "base", [True] * 60, mode=mode)
    for mode in current_modes:
        write_run(tmp_path / "cur", [True] * 60, mode=mode)
    return tmp_path / "base", tmp_path / "cur"


# ----- 1: what the baseline measured and the current run lacks ----------------------------------------------------


def test_a_mode_the_baseline_measured_and_the_current_run_lacks_is_not_comparable(tmp_path, capsys):
    """The baseline's coarse_only missing from the current run passed the gate (exit 0) on coarse_fine alone, said
    only on the last line of regress.md: the Holm family shrank silently."""
    base, current = _runs(tmp_path, current_modes=("coarse_fine",))
    assert regress(base, current, max_drop=50) == ExitCode.UNUSABLE
    said = (
        "the current run lacks videomme coarse_only, which the baseline measured: score it, or gate on a subset: a "
        "baseline folder holding only the <benchmark>/<mode> folders to compare (copies or symbolic links)"
    )
    written = _written(current)
    assert written["verdict"] == f"not comparable: {said}" and written["lacking"] == ["videomme coarse_only"]
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"fvlm-eval regression: not comparable: {said}"
    assert "- videomme coarse_only" in out  # its own line in the CI log, under its heading


def test_many_benchmark_modes_lacking_are_one_clause_of_the_verdict(tmp_path, capsys):
    """A baseline of every mode gating a run of one made a verdict line of 3,000 characters: the same clause and
    its advice once per benchmark/mode (24 times), as the CI log's first line and the step summary's heading."""
    modes = ("coarse_only", "coarse_fine", "autoregressive")
    for mode in modes:
        write_run(tmp_path / "base", [True] * 60, mode=mode)
        for other in ("mvbench", "mlvu"):
            shutil.copytree(tmp_path / "base" / "videomme" / mode, tmp_path / "base" / other / mode)
    write_run(tmp_path / "cur", [True] * 60, mode="coarse_fine")
    assert regress(tmp_path / "base", tmp_path / "cur", max_drop=50) == ExitCode.UNUSABLE
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(
        "fvlm-eval regression: not comparable: the current run lacks 8 benchmark/modes the baseline measured "
        "(mlvu autoregressive, mlvu coarse_fine, mlvu coarse_only and 5 more): score them, or gate on a subset"
    )
    assert first.count("lacks") == 1 and len(first) < 320, first
    assert len(_written(tmp_path / "cur")["lacking"]) == 8


def test_a_baseline_folder_of_links_gates_on_a_subset(tmp_path):
    """The way out the verdict names: a baseline folder holding only the modes to compare, linked."""
    base, current = _runs(tmp_path, current_modes=("coarse_fine",))
    subset = tmp_path / "gate" / "videomme"
    subset.mkdir(parents=True)
    (subset / "coarse_fine").symlink_to(base / "videomme" / "coarse_fine")
    assert regress(tmp_path / "gate", current, max_drop=50, allow_underpowered=True) == ExitCode.OK


def test_a_mode_only_the_current_run_measured_is_compared_with_nothing_and_said(tmp_path, capsys):
    """The reverse stays allowed (the gate tests what the baseline pinned), but the log said nothing of it."""
    base, current = _runs(tmp_path, base_modes=("coarse_fine",))
    assert regress(base, current, max_drop=50) == ExitCode.OK
    said = (
        "the current run measured videomme coarse_only, which the baseline lacks: nothing to compare it with, so "
        "the gate does not test it"
    )
    assert said in _written(current)["warnings"] and f"- {said}" in capsys.readouterr().out


# ----- 2: a significant drop wins over another mode that is not comparable -----------------------------------------


def test_a_significant_drop_fails_the_gate_though_another_mode_is_not_comparable(tmp_path):
    """coarse_only lost half its videos in the current copy of the data (not comparable, exit 4) while coarse_fine
    dropped 100 points, beyond doubt: the verdict was exit 4, "fix the data", and the drop went unnamed."""
    base, current = _runs(tmp_path, current_modes=())
    write_run(current, [False] * 60, mode="coarse_fine")
    write_run(current, [True] * 60, mode="coarse_only")
    fail_questions(current, set(range(30)), mode="coarse_only")
    assert regress(base, current, max_drop=5) == ExitCode.FAILED
    written = _written(current)
    assert written["verdict"].startswith("fail: significant drop in videomme coarse_fine (-100.0 points, Holm-adj")
    assert written["verdict"].endswith("; not compared: videomme coarse_only (too few questions scored in both runs)")
    assert written["failing"] == ["videomme coarse_fine"]
    rows = {c["mode"]: c for c in written["comparisons"] if not c["breakdown"]}
    assert rows["coarse_fine"]["fails_gate"] and rows["coarse_fine"]["comparable"]
    assert not rows["coarse_only"]["fails_gate"] and not rows["coarse_only"]["comparable"]


def test_a_significant_drop_fails_the_gate_though_another_modes_settings_differ_or_it_is_missing(tmp_path):
    """Another mode made with other frames turned the drop into exit 3 "settings mismatch"; a whole run made with
    other settings is still exit 3 (nothing in it is comparable); a mode the current run lacks is named beside."""
    base, current = _runs(tmp_path, current_modes=())
    write_run(current, [False] * 60, mode="coarse_fine")
    write_run(current, [True] * 60, mode="coarse_only", sampling="uniform:16")
    assert regress(base, current, max_drop=5) == ExitCode.FAILED
    assert _written(current)["verdict"].endswith("; not compared: videomme coarse_only (settings differ)")
    (current / "videomme" / "coarse_only" / "samples.jsonl").unlink()
    (current / "videomme" / "coarse_only" / "summary.json").unlink()
    (current / "videomme" / "coarse_only" / "settings.json").unlink()
    assert regress(base, current, max_drop=5) == ExitCode.FAILED
    assert _written(current)["verdict"].endswith(
        "; not compared: the current run lacks videomme coarse_only, which the baseline measured"
    )
    whole = write_run(tmp_path / "other", [False] * 60, sampling="uniform:16")
    write_run(whole, [False] * 60, mode="coarse_only", sampling="uniform:16")
    assert regress(base, whole, max_drop=5) == ExitCode.REFUSED
    assert _written(whole)["verdict"] == "fail: settings mismatch" and _written(whole)["failing"] == []


def test_exit_codes_md_says_which_code_wins():
    text = " ".join((DOCS / "exit-codes.md").read_text().split())
    assert "1 wins over 3, 4 and 5" in text


# ----- 3: regress.json as a machine reads it ---------------------------------------------------------------------


def test_regress_json_names_the_failing_row_and_never_calls_it_underpowered(tmp_path):
    """The row that failed the gate (-100 points, p 1e-6) read "underpowered": true, and no key said which row
    failed: a bot had to rebuild the rule (delta < -max_drop and p_drop_adjusted < alpha)."""
    base = write_run(tmp_path / "a", [True] * 60)
    current = write_run(tmp_path / "b", [False] * 60)
    assert regress(base, current, max_drop=1) == ExitCode.FAILED
    written = _written(current)
    (row,) = [c for c in written["comparisons"] if not c["breakdown"]]
    assert row["detectable_drop_test"] > 1  # the test alone would miss a 1-point drop: yet it saw this one
    assert row["fails_gate"] is True and row["underpowered"] is False and written["underpowered"] == []
    assert written["failing"] == ["videomme coarse_fine"]
    assert all(c["fails_gate"] is False and c["underpowered"] is None for c in written["comparisons"] if c["breakdown"])


def test_a_refusal_is_written_with_the_keys_of_every_other_verdict(tmp_path):
    """An exit-4 refusal wrote {baseline, current, verdict, exit_code, error}: `d["comparisons"]` raised KeyError."""
    base = write_run(tmp_path / "a", [True] * 60)
    current = write_run(tmp_path / "b", [True] * 60)
    regress(base, current, allow_underpowered=True)
    compared = _written(current)
    with open(current / "videomme/coarse_fine/samples.jsonl", "a") as handle:
        handle.write('{"id": "broken\n')
    with pytest.raises(RegressUnusable, match="samples.jsonl:61"):
        regress(base, current)
    refused = _written(current)
    assert list(refused) == list(compared) and refused["exit_code"] == 4
    assert refused["verdict"] == f"not comparable: {refused['error']}" and compared["error"] is None
    assert refused["comparisons"] == refused["warnings"] == refused["mismatches"] == refused["failing"] == []


def test_docs_describe_regress_json_key_by_key(tmp_path):
    """docs/reports.md named 3 of regress.json's keys, and not that its numbers are points, not fractions."""
    base = write_run(tmp_path / "a", [True] * 60)
    current = write_run(tmp_path / "b", [True] * 60)
    regress(base, current, allow_underpowered=True)
    written = _written(current)
    text = (DOCS / "reports.md").read_text()
    section = text[text.index("### `regress.json`") : text.index("## The CI gate")]
    keys = set(written) | {k for c in written["comparisons"] for k in c} | set(written["comparisons"][0]["failed"])
    assert [k for k in sorted(keys) if f"`{k}`" not in section] == []
    assert re.search(r"percentage points", section) and "fractions" in section


# ----- 4: a run still being written, or stopped before its summary -------------------------------------------------


@pytest.mark.parametrize("role", ["current", "baseline"])
def test_a_run_still_being_written_is_not_comparable(tmp_path, role):
    """A live `run` holding the current run's folder: regress said the numbers were partial, then passed (exit 0)."""
    base, current = _runs(tmp_path)
    folder = (current if role == "current" else base) / "videomme" / "coarse_only"
    with holding(folder) as pid:
        with pytest.raises(RegressUnusable, match=rf"--{role} .*coarse_only is still being written by pid {pid} "):
            regress(base, current, max_drop=50)
    assert regress(base, current, max_drop=50) == ExitCode.OK  # ended: its lock file stays, held by nobody


def test_records_without_a_summary_are_a_run_that_has_not_finished(tmp_path):
    """A run killed before its summary passed with a warning only (numbers "may be partial")."""
    base, current = _runs(tmp_path)
    (current / "videomme" / "coarse_only" / "summary.json").unlink()
    with pytest.raises(RegressUnusable) as refusal:
        regress(base, current, max_drop=50)
    assert str(refusal.value) == (
        f"--current {current}: {current / 'videomme' / 'coarse_only'} has not finished (no summary.json beside "
        "samples.jsonl: stopped or killed before its end): resume it with the same `fvlm-eval run` command, then "
        "regress"
    )


# ----- 6: one folder reached through links -------------------------------------------------------------------------


@pytest.mark.parametrize("linked", ["benchmark", "mode", "records"])
def test_a_benchmark_or_mode_folder_linked_to_the_baselines_is_the_same_run(tmp_path, linked):
    """current/videomme -> base/videomme: the same records compared with themselves passed (0 lost, 0 gained)."""
    base = write_run(tmp_path / "base", [True] * 60)
    current = tmp_path / "cur"
    if linked == "benchmark":
        current.mkdir()
        (current / "videomme").symlink_to(base / "videomme")
    elif linked == "mode":
        (current / "videomme").mkdir(parents=True)
        (current / "videomme" / "coarse_fine").symlink_to(base / "videomme" / "coarse_fine")
    else:  # a folder of its own, its records the baseline's
        shutil.copytree(base, current)
        (current / "videomme" / "coarse_fine" / "samples.jsonl").unlink()
        (current / "videomme" / "coarse_fine" / "samples.jsonl").symlink_to(base / "videomme/coarse_fine/samples.jsonl")
    said = "share one samples.jsonl for videomme coarse_fine" if linked == "records" else "are the same run folder for"
    with pytest.raises(RegressUnusable, match=f"{said} .*compared with itself"):
        regress(base, current, max_drop=50)


def test_a_hard_linked_copy_is_said_to_share_its_records_not_to_be_the_same_folder(tmp_path):
    """`cp -al`: rightly refused, but named the baseline's folder as both ("both are <baseline's>")."""
    import os

    base = write_run(tmp_path / "base", [True] * 60)
    folder = tmp_path / "cur" / "videomme" / "coarse_fine"
    folder.mkdir(parents=True)
    for path in (base / "videomme" / "coarse_fine").iterdir():
        os.link(path, folder / path.name)
    with pytest.raises(RegressUnusable) as refused:
        regress(base, tmp_path / "cur", max_drop=50)
    assert "share one samples.jsonl" in str(refused.value) and "a hard or symbolic link" in str(refused.value)
    assert "both are" not in str(refused.value)


# ----- recheck: a protocol neither run measured, and the power figures at their edges -------------------------------


def test_a_protocol_neither_run_measured_in_one_mode_is_not_compared_there_and_said(tmp_path, capsys):
    """--protocol generated, measured by both runs in coarse_fine and by neither in coarse_only, was exit 3 "not
    measured alike by both runs ... a protocol one run lacks": both false, and the comparison that could decide was
    overridden. Measured by neither anywhere, nothing is compared, and that is never a pass."""
    for run in ("base", "cur"):
        write_run(tmp_path / run, [True] * 60, mode="coarse_fine", generated=True)
        write_run(tmp_path / run, [True] * 60, mode="coarse_only")
    base, current = tmp_path / "base", tmp_path / "cur"
    assert regress(base, current, max_drop=50, protocol="generated", allow_underpowered=True) == ExitCode.OK
    said = "videomme coarse_only: neither run measured protocol 'generated': not compared"
    assert said in _written(current)["warnings"] and f"- {said}" in capsys.readouterr().out
    shutil.rmtree(base / "videomme" / "coarse_fine")
    shutil.rmtree(current / "videomme" / "coarse_fine")
    assert regress(base, current, max_drop=50, protocol="generated") == ExitCode.REFUSED
    written = _written(current)
    assert written["protocol_problems"] == [
        "protocol 'generated': measured by neither run in 1 benchmark/mode (videomme coarse_only), so nothing was "
        "compared; choose a --protocol both runs measured"
    ]
    assert not [w for w in written["warnings"] if "neither run measured" in w]  # said once, not again per mode


def test_one_changed_answer_names_the_questions_needed(tmp_path, capsys):
    """One changed video (2 degrees of freedom), just underpowered: "no finite number (--max-drop 0) would be
    needed" at --max-drop 5, and regress.json `needed: null`, though a few hundred questions would do."""
    write_run(tmp_path / "base", [True] * 100, groups=[f"v{i}" for i in range(100)])
    write_run(tmp_path / "cur", [False] + [True] * 99, groups=[f"v{i}" for i in range(100)])
    assert regress(tmp_path / "base", tmp_path / "cur", max_drop=5) == ExitCode.UNDERPOWERED
    (row,) = [c for c in _written(tmp_path / "cur")["comparisons"] if c["breakdown"] == ""]
    assert 100 < row["needed"] < 1000, row["needed"]
    assert "--max-drop 0" not in capsys.readouterr().out


def test_a_tiny_max_drop_is_a_verdict_never_a_crash(tmp_path, capsys):
    """--max-drop 1e-160: max_drop**2 underflowed to 0 and a ZeroDivisionError exited 1, the gate's "significant
    drop"."""
    write_run(tmp_path / "base", [True] * 60)
    write_run(tmp_path / "cur", [False] * 8 + [True] * 52)
    assert regress(tmp_path / "base", tmp_path / "cur", max_drop=1e-160) == ExitCode.UNDERPOWERED
    assert "more than 1,000,000,000,000 questions would be needed" in capsys.readouterr().out
