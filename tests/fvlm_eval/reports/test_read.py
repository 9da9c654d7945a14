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


def test_generated_answers_an_older_letter_reader_read_are_warned_of_once_per_folder(tmp_path):
    """An old folder's generated letters, read by the reader of the version that made it, were shown as today's
    reading (22.2% where today's rule reads 0%), with no warning in the terminal, report.md or report.json."""
    import dataclasses
    import json

    from fvlm_eval.records import read_records, write_records
    from fvlm_eval.reports.report import write_report

    run = write_run(tmp_path / "run", [True, False, True, True], generated=True)
    path = run / "videomme/coarse_fine/samples.jsonl"
    records = read_records(path)
    older = [dataclasses.replace(r, generated={k: v for k, v in r.generated.items() if k != "reader"}) for r in records]
    write_records(path, older[:3] + records[3:])  # 3 read by a version that recorded no reader, 1 by today's
    warnings: list[str] = []
    read_run(run, warnings)
    (said,) = [w for w in warnings if "letter reader" in w]
    assert said.startswith(f"{run / 'videomme/coarse_fine'}: 3 generated answers were read by an older letter reader")
    assert "rerun the same `fvlm-eval run` command with --generate" in said and f"into {run} to read them" in said
    write_report([run], None, tmp_path / "out", show=False, thumbnails=0)
    assert said in json.loads((tmp_path / "out/report.json").read_text())["warnings"]
    assert said in (tmp_path / "out/report.md").read_text()
    write_records(path, records)
    warnings = []
    read_run(run, warnings)
    assert not [w for w in warnings if "letter reader" in w]
