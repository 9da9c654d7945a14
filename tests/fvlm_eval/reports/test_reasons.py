"""The ⚠ reasons name the benchmarks a group of cells is on briefly when a report holds many side by side."""

from __future__ import annotations

from fvlm_eval.reports.reasons import _on

EVERY = ["mvbench", "videomme", "scienceqa", "mlvu"]


def test_most_or_all_of_many_benchmarks_are_said_briefly():
    assert _on(EVERY, EVERY) == "every benchmark"
    assert _on(["videomme", "mvbench", "mlvu"], EVERY) == "every benchmark but ScienceQA (IMG test)"
    assert _on(["mvbench", "mlvu"], EVERY) == "MVBench, MLVU (dev, MC)"  # half: named
    assert _on(["mvbench", "videomme"], ["mvbench", "videomme"]) == "MVBench, Video-MME"  # two: named
