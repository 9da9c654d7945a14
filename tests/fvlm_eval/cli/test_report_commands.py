"""``report``, ``regress`` and ``track`` at the command line: what their help and docs/exit-codes.md promise is
what they do."""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.cli import main

EXIT_CODES = Path(__file__).parents[3] / "docs" / "exit-codes.md"


def test_track_alpha_help_says_how_each_pair_is_tested(capsys):
    """`track --alpha`'s help said "significance level of the consecutive comparisons": not that each pair is
    tested two-sided (a drop and a gain each at alpha / 2) nor that nothing is adjusted over the pairs."""
    assert main(["track", "--help"]) == 0
    said = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "each pair of consecutive checkpoints is tested on its own (not adjusted over the pairs)" in said, said
    assert "two-sided: a drop and a gain each at alpha / 2 (exact sign-flip test over videos)" in said, said


def test_exit_codes_md_says_track_exits_2_for_an_output_that_is_a_file_and_when_regress_exits_4():
    """docs/exit-codes.md listed track's exit 2 for an unknown protocol only (an `--output` that is a file exits 2
    too: tests/fvlm_eval/reports/test_track.py), and regress's 4 as "too little shared" without saying that a
    question failed in one run only is not shared (tests/fvlm_eval/reports/test_regress.py)."""
    text = " ".join(EXIT_CODES.read_text().split())
    assert "2 for a protocol that does not exist or an `--output` that is a file or a path below one" in text
    assert (
        "fewer than `--min-overlap` (90%) of the larger run's questions less those that failed in both (a question "
        "that failed in one run only is not shared but still counted" in text
    )
