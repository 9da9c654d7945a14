"""Reading a run's folders: a folder a live run is writing is said as such, never as a run to rerun."""

from __future__ import annotations

import pytest

from fvlm_eval.reports import ReportError
from fvlm_eval.reports.read import read_run
from tests.fvlm_eval.constructed import write_run
from tests.fvlm_eval.test_folder_holders import holding


def test_a_mode_a_live_run_has_not_reached_is_said_to_be_written_not_stopped(tmp_path):
    """`report` on a run mid-way through `--mode all` warned "its run was stopped before it recorded anything
    (settings.json only): not shown; rerun it" of the modes the run holds but had not reached."""
    run = write_run(tmp_path / "run", [True, False, True])
    waiting = run / "videomme" / "autoregressive"
    with holding(waiting) as pid:
        (waiting / "settings.json").write_text("{}")
        warnings: list[str] = []
        read_run(run, warnings)
        (said,) = [w for w in warnings if str(waiting) in w]
        assert f"a run (pid {pid} on " in said and "is writing it now and has recorded nothing yet" in said
        assert "report again when it ends" in said and "stopped" not in said and "rerun" not in said
    warnings = []
    read_run(run, warnings)
    assert f"{waiting}: its run was stopped before it recorded anything (settings.json only)" in " ".join(warnings)


def test_unmerged_shards_still_being_written_are_said_to_be_written_now(tmp_path):
    """A run whose shards were still being written was refused with only "run `fvlm-eval merge` first"."""
    run = write_run(tmp_path / "run", [True, False, True])
    folder = run / "videomme" / "coarse_fine"
    (folder / "samples.shard-1-of-2.jsonl").write_text("")
    with pytest.raises(ReportError, match="holds unmerged shards .* run `fvlm-eval merge"):
        read_run(run)
    with holding(folder, ".fvlm-eval.shard-1-of-2.lock") as pid:
        with pytest.raises(ReportError) as refused:
            read_run(run)
    said = str(refused.value)
    assert f"shards are writing it now (pid {pid} on " in said and "once every shard has finished, merge it" in said
