"""regress on unusable input: folders that are no runs, bad records and settings, flags out of range, a
verdict that cannot be written."""

from __future__ import annotations

import json

import pytest

from fvlm_eval.errors import ExitCode
from fvlm_eval.records import SCHEMA_VERSION
from fvlm_eval.reports.regress import RegressUnusable, regress
from tests.fvlm_eval.constructed import write_run


def test_unusable_folders_are_named(tmp_path):
    good = write_run(tmp_path / "good", [True] * 10)
    with pytest.raises(RegressUnusable, match="no such folder"):
        regress(tmp_path / "missing", good)
    with pytest.raises(RegressUnusable, match="--current .*summary.json: a file, not a run folder"):
        regress(good, good / "videomme" / "coarse_fine" / "summary.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegressUnusable, match="no <benchmark>/<mode>/samples.jsonl"):
        regress(good, tmp_path / "empty")
    with pytest.raises(RegressUnusable, match="one <benchmark>/<mode> folder: give the run folder, two levels up"):
        regress(good, good / "videomme" / "coarse_fine")


@pytest.mark.parametrize(
    "line, message",
    [
        (b"not json\n", "not a JSON record"),
        (b'{"id": "videomme/999", "schema_version": %d}\n' % SCHEMA_VERSION, "lacks"),
        (b'{"id": "videomme/999", "correct": {}}\n', "older version"),
    ],
)
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


def test_alpha_must_be_above_zero(tmp_path, capsys):
    from fvlm_eval.cli import main

    base, current = write_run(tmp_path / "a", [True] * 9), write_run(tmp_path / "b", [True] * 9)
    with pytest.raises(ValueError, match="--alpha 0"):
        regress(base, current, alpha=0)
    assert main(["regress", "--baseline", str(base), "--current", str(current), "--alpha", "0"]) == 2
    assert main(["regress", "--baseline", str(base), "--current", str(current), "--protocol", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert "--alpha 0" in err and "--protocol nonsense" in err and "Traceback" not in err


def test_a_bad_step_summary_path_warns_and_keeps_the_verdict(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no-such-folder" / "summary.md"))
    base = write_run(tmp_path / "a", [True] * 10)
    current = write_run(tmp_path / "b", [True] * 10, sampling="uniform:16")
    assert regress(base, current) == ExitCode.REFUSED  # not "cannot read or write"
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "GITHUB_STEP_SUMMARY" in line]) == 1
    assert (current / "regress" / "regress.md").is_file()


def test_a_verdict_that_cannot_be_written_exits_2_never_a_verdicts_code(tmp_path, capsys):
    """A read-only output folder turned every verdict into exit 1, the code of a significant drop."""
    from fvlm_eval.cli import main

    base = write_run(tmp_path / "a", [True] * 60)
    current = write_run(tmp_path / "b", [True] * 60)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    args = ["regress", "--baseline", str(base), "--current", str(current), "--output", str(blocked / "regress")]
    assert main([*args, "--allow-underpowered"]) == ExitCode.USAGE
    captured = capsys.readouterr()
    assert "pass" in captured.out.splitlines()[0]  # the verdict is still said first
    assert "Perbreakdown" not in "".join(captured.out.split())  # no pointer to a regress.md not written
    (line,) = captured.err.splitlines()
    assert line.startswith(f"error: cannot write {blocked / 'regress'}")
    assert line.endswith("the verdict above (exit 0) is not written down: give --output a writable folder")
    assert main(args) == ExitCode.USAGE and "(exit 5)" in capsys.readouterr().err


def test_an_empty_record_file_is_named_and_shows_no_made_up_numbers(tmp_path, capsys):
    """An emptied samples.jsonl read "0.0% -> 0.0% (+0.0; 95% CI [+0.0, +0.0])", "--max-drop 0" (it was 1) and no
    warning naming the file."""
    from fvlm_eval.cli import main

    base = write_run(tmp_path / "a", [True] * 6 + [False] * 3)
    current = write_run(tmp_path / "b", [True] * 9)
    samples = current / "videomme" / "coarse_fine" / "samples.jsonl"
    samples.write_text("")
    assert main(["regress", "--baseline", str(base), "--current", str(current)]) == ExitCode.UNUSABLE
    out = " ".join(capsys.readouterr().out.split())
    text = (current / "regress" / "regress.md").read_text()
    assert f"current: {samples}: holds no records; nothing is counted for this folder" in text
    assert "videomme coarse_fine [reference, multiple_choice]: no question paired" in out
    assert "0.0% -> 0.0%" not in out and "--max-drop 0" not in out
    assert "no question paired, so no drop could be detected" in out
    written = json.loads((current / "regress" / "regress.json").read_text())["comparisons"][0]
    assert written["n"] == 0 and written["baseline"] is None and written["delta"] is None and written["ci95"] is None
    assert "| n/a | n/a | n/a | n/a |" in text


def test_a_missing_settings_file_is_named_once(tmp_path, capsys):
    from fvlm_eval.cli import main

    base = write_run(tmp_path / "a", [True] * 9)
    current = write_run(tmp_path / "b", [True] * 9)
    settings = current / "videomme" / "coarse_fine" / "settings.json"
    settings.unlink()
    assert main(["regress", "--baseline", str(base), "--current", str(current)]) == ExitCode.REFUSED
    text = (current / "regress" / "regress.md").read_text()
    assert f"videomme coarse_fine: no current run's {settings}: its settings are unknown" in text
    assert "vs None" not in text + capsys.readouterr().out
    assert f"current: {settings}: missing, so the settings its records were made with are unknown" in text


def test_alpha_and_max_drop_are_checked_over_their_whole_range(tmp_path, capsys):
    from fvlm_eval.cli import main

    base = write_run(tmp_path / "a", [True] * 60)
    current = write_run(tmp_path / "b", [True] * 30 + [False] * 30)
    args = ["regress", "--baseline", str(base), "--current", str(current)]
    for flag, value in (
        ("--alpha", "0.5"),
        ("--alpha", "0.9"),
        ("--alpha", "nan"),
        ("--max-drop", "101"),
        ("--max-drop", "-1"),
        ("--max-drop", "nan"),
        ("--max-drop", "inf"),
    ):
        assert main([*args, flag, value]) == 2, (flag, value)
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"error: {flag} ") and "must be" in line and "Traceback" not in line
    # was an unexpected error (1 - 1e-17 == 1.0): a 10-video drop is not significant at 1e-17, and could not be
    assert main([*args, "--alpha", "1e-17"]) == ExitCode.UNDERPOWERED
    capsys.readouterr()
    overall = json.loads((current / "regress" / "regress.json").read_text())["comparisons"][0]
    assert 1e-17 < overall["p_drop"] < 0.01 and overall["detectable_drop"] > 50


def test_a_max_drop_of_minus_zero_is_zero_in_every_report(tmp_path, capsys):
    from fvlm_eval.cli import main

    base = write_run(tmp_path / "a", [True] * 60)
    current = write_run(tmp_path / "b", [True] * 60)
    main(["regress", "--baseline", str(base), "--current", str(current), "--max-drop", "-0.0"])
    out = capsys.readouterr().out + (current / "regress" / "regress.md").read_text()
    assert "-0" not in out.replace("e-0", "")  # was "max drop -0"
    assert json.loads((current / "regress" / "regress.json").read_text())["max_drop"] == 0.0


def test_a_refusal_replaces_the_verdict_an_earlier_comparison_wrote(tmp_path, monkeypatch):
    """After a "pass", `regress --baseline missing` exited 4 but left regress.md saying "pass"."""
    base = write_run(tmp_path / "a", [True] * 9)
    current = write_run(tmp_path / "b", [True] * 9)
    assert regress(base, current, allow_underpowered=True) == 0
    assert "pass" in (current / "regress" / "regress.md").read_text().splitlines()[0]
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for baseline, said in ((tmp_path / "missing", "no such folder"), (current, "are the same run folder")):
        with pytest.raises(RegressUnusable, match=said):
            regress(baseline, current)
        lines = (current / "regress" / "regress.md").read_text().splitlines()
        assert lines[0] == "## fvlm-eval regression: not comparable (exit 4)" and said in lines[2]
        written = json.loads((current / "regress" / "regress.json").read_text())
        assert written["verdict"] == f"not comparable: {written['error']}" and written["exit_code"] == 4
        assert said in written["error"] and written["comparisons"] == [] and written["failing"] == []
        assert summary.read_text().endswith(lines[2] + "\n")
    with pytest.raises(RegressUnusable):  # no report folder there yet: none is made in a folder that is no run
        regress(base, tmp_path)
    assert not (tmp_path / "regress").exists()


def test_a_run_compared_with_itself_is_not_comparable(tmp_path):
    """`--baseline runs/x --current runs/./x` (or a link to it) passed: a CI gate on it always would."""
    run = write_run(tmp_path / "a", [True] * 9)
    (tmp_path / "link").symlink_to(run)
    for other in (tmp_path / "a" / ".", tmp_path / "link"):
        with pytest.raises(RegressUnusable, match="are the same run folder"):
            regress(run, other)
