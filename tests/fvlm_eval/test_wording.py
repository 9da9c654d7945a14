from fvlm_eval.wording import agreeing, counted


def test_counts_read_as_english():
    assert counted(1, "question") == "1 question"
    assert [counted(n, "video") for n in (0, 2, 10)] == ["0 videos", "2 videos", "10 videos"]
    assert counted(3, "index", "indices") == "3 indices" and counted(1, "index", "indices") == "1 index"
    assert [counted(x, "point") for x in (1.0, 0.5, 5.0)] == ["1 point", "0.5 points", "5 points"]
    assert counted(1234567, "question") == "1234567 questions"
    assert (agreeing(1, "has", "have"), agreeing(2, "has", "have")) == ("has", "have")


def test_one_hand_edited_record_reads_as_english(tmp_path):
    import dataclasses

    from fvlm_eval.records import read_records, write_records
    from fvlm_eval.reports.freshness import load_run_folder
    from tests.fvlm_eval.constructed import write_run

    path = write_run(tmp_path / "a", [True] * 6) / "videomme/coarse_fine/samples.jsonl"
    records = read_records(path)
    write_records(
        path, [dataclasses.replace(records[0], correct={**records[0].correct, "reference": False})] + records[1:]
    )
    warnings = load_run_folder(path.parent).warnings
    assert any(": 1 record holds `correct` flags that disagree" in w for w in warnings), warnings
