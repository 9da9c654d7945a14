"""``benchmarks/bench_reports_memory.py``: report and track over K full-size checkpoints, peak memory as K grows.
Run here at its smallest size (3 questions per benchmark, K = 1 and 2), so that it cannot break unseen."""

from __future__ import annotations

import json

import pytest

from tests.benchmarks.scripts import script


def test_bench_reports_memory_measures_both_commands_at_each_checkpoint_count(tmp_path):
    """Every figure the results table quotes is in the JSON: per K, each command's exit code 0, its wall seconds and
    its peak RSS; the ratio of the peaks and the memory per checkpoint added, between which K."""
    out = tmp_path / "figures.json"
    result = script("bench_reports_memory").main(["--questions", "3", "--steps", "2", "1", "--json", str(out)])
    assert json.loads(out.read_text(encoding="utf-8")) == result
    assert result["modes"] == 1 and result["questions"] == {"mvbench": 3, "videomme": 3, "scienceqa": 3}
    assert [row["checkpoints"] for row in result["rows"]] == [1, 2]
    for row in result["rows"]:
        for command in ("report", "track"):
            figures = row[command]
            assert figures["exit_code"] == 0, (command, row)
            assert figures["seconds"] > 0 and figures["peak_rss_mb"] > 50  # the interpreter with fvlm_eval: ~100 MB
            assert all(w.startswith("warning:") for w in figures["warnings"])
        assert not row["track"]["warnings"]  # what write_runs writes is all track reads
    for command in ("report", "track"):
        first, last = (row[command]["peak_rss_mb"] for row in result["rows"])
        assert result["peak_ratio"][command] == pytest.approx(last / first)
        assert result["peak_mb_per_added_checkpoint"][command] == pytest.approx(last - first)
    assert result["added_between"] == [1, 2]


def test_bench_reports_memory_stops_at_a_command_that_fails(tmp_path):
    """A command that does not exit 0 is no measurement: the benchmark stops with its exit code and last lines."""
    with pytest.raises(SystemExit) as stop:
        script("bench_reports_memory").measured(["track", str(tmp_path / "missing")], tmp_path)
    assert "exit code 1" in str(stop.value) and "missing" in str(stop.value)


@pytest.mark.parametrize("flags", [["--modes", "4"], ["--steps", "0"], ["--questions", "x"]])
def test_bench_reports_memory_refuses_a_wrong_number_in_one_line(flags, capsys):
    with pytest.raises(SystemExit) as stop:
        script("bench_reports_memory").main(flags)
    assert stop.value.code == 2 and f"argument {flags[0]}:" in capsys.readouterr().err
