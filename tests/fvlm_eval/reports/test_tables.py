"""The run's own tables (``print_run_tables``): a random model's luck in one of many summaries is never shown as
"above chance"."""

from __future__ import annotations

import io

from rich.console import Console

from fvlm_eval.records import make_record
from fvlm_eval.reports.tables import at_chance_in_tables, print_run_tables
from fvlm_eval.summarize import summarize_records
from fvlm_eval.tasks import get_benchmark
from fvlm_eval.types import ChoiceResult, Media, Option, OptionLogprobs, Question


def _summary(mode: str):
    """40 two-option questions, 29 right (72.5%, chance 50%: one-sided p 0.003), answers half A, half B, golds
    19 A (no constant letter does as well)."""

    def choosing(letter: str) -> ChoiceResult:
        high, low = (-0.1, -3.0) if letter == "A" else (-3.0, -0.1)
        return ChoiceResult(
            "p" * 64,
            (
                OptionLogprobs((1, 2, 198), (high, high, -0.1), 2, (1, 2), "A", 1),
                OptionLogprobs((4, 5, 198), (low, low, -0.1), 2, (1, 2), "B", 1),
            ),
        )

    records = []
    for i in range(40):
        answer = "A" if i < 20 else "B"
        gold = answer if i % 20 < 15 and i != 0 else ("B" if answer == "A" else "A")
        question = Question(
            f"scienceqa/{i}", "scienceqa", Media("image", f"img{i}"), "Which?", (Option("A", "yes"), Option("B", "no")),
            gold, f"img{i}", fields=(("subject", "natural science"),),
        )  # fmt: skip
        records.append(make_record(question, mode, "Which?\nA. yes\nB. no", "q" * 64, choosing(answer)))
    return summarize_records(get_benchmark("scienceqa"), mode, records, 40)


def test_one_family_over_every_cell_the_run_shows():
    """Each summary.json Holm-adjusts over its own protocols: 20 summaries side by side were 20 families, and a
    cell significant within its own was shown without a mark however many were printed beside it."""
    one = _summary("coarse_only")
    assert not one.flags["reference"]  # above chance within its own summary
    assert at_chance_in_tables({("scienceqa", "coarse_only"): one})[0] == set()
    many = {("scienceqa", f"mode{i}"): one for i in range(20)}
    at_chance, tested = at_chance_in_tables(many)
    assert tested == 20 and ("scienceqa", "mode3", "reference") in at_chance
    console = Console(file=io.StringIO(), width=200)
    print_run_tables(many, console)
    text = console.file.getvalue()
    assert f"Holm-adjusted over the {tested} cells of these tables" in " ".join(text.split())
    rows = [line for line in text.splitlines() if line.split()[:1] == ["mode3"] and "reference" in line]
    assert rows and all("⚠" in row for row in rows)
    # and the reason is said, not a bare ⚠ (each summary's own flags do not hold it)
    said = " ".join(text.split())
    assert "scienceqa (reference): not significantly above chance once Holm-adjusted over the 20 cells" in said
    assert "mode0, mode1" in said


def test_a_model_whose_predictions_are_ties_is_said_so():
    """An all-zero checkpoint scores every option alike: each prediction a tie broken to A, shown as a plain 50.0
    with nothing printed of the ties (summary.json alone counted them)."""
    flat = ChoiceResult(
        "p" * 64,
        (
            OptionLogprobs((1, 2, 198), (-1.0, -1.0, -0.1), 2, (1, 2), "A", 1),
            OptionLogprobs((4, 5, 198), (-1.0, -1.0, -0.1), 2, (1, 2), "B", 1),
        ),
    )
    records = []
    for i in range(6):
        question = Question(
            f"scienceqa/{i}", "scienceqa", Media("image", f"img{i}"), "Which?", (Option("A", "yes"), Option("B", "no")),
            "AB"[i % 2], f"img{i}", fields=(("subject", "natural science"),),
        )  # fmt: skip
        records.append(make_record(question, "coarse_only", "Which?\nA. yes\nB. no", "q" * 64, flat))
    summary = summarize_records(get_benchmark("scienceqa"), "coarse_only", records, 6, protocol="sum")
    assert summary.accuracy["sum"].near_ties == 6
    console = Console(file=io.StringIO(), width=200)
    print_run_tables({("scienceqa", "coarse_only"): summary}, console)
    assert "6 of 6 are ties (its scores hardly tell the options apart)" in " ".join(console.file.getvalue().split())


def test_a_mean_of_categories_says_so_and_of_how_many_and_the_loaders_notes_are_shown(model_dir, tmp_path, capsys):
    """MLVU with a task file absent: the run's table showed the mean of 6 tasks as MLVU's accuracy, and neither
    the rule nor the missing file was said (only summary.json's notes held it; `report` said it)."""
    from fvlm_eval.cli import main
    from fvlm_eval.tasks.fixtures.mlvu import write_mlvu

    write_mlvu(tmp_path / "data")
    (tmp_path / "data/mlvu/MLVU/json/2_needle.json").unlink()
    code = main(["run", "mlvu", "--model", str(model_dir), "--data-dir", str(tmp_path / "data"), "--mode",
                 "coarse_only", "--output-dir", str(tmp_path / "out"), "--workers", "0"])  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0
    assert "mlvu: accuracy is the mean of 6 of 7 tasks' accuracies (its official score), not of all of them" in out
    assert "mlvu: needle: 2_needle.json absent" in out
