"""Video-MME's rows: options that are not a list are named as such. (Its layout, subtitles and prompts:
test_tasks.py.)"""

from __future__ import annotations

from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.fixtures.videomme import write_videomme
from tests.fvlm_eval.tasks.edits import rewrite_parquet

PARQUET = "videomme/videomme/test-00000-of-00001.parquet"


def test_options_written_as_text_are_named_as_text_not_read_character_by_character(tmp_path):
    """A parquet whose ``options`` column was written as the text of each list was read one option per
    character: "90 options: at most 10 are supported" on every row."""

    def as_text(rows):
        for row in rows:
            row["options"] = str(list(row["options"]))

    write_videomme(tmp_path)
    rewrite_parquet(tmp_path / PARQUET, as_text)
    first = get_benchmark("videomme").load(tmp_path).questions[0]
    assert first.error.startswith(
        "malformed row test-00000-of-00001.parquet[0]: options must be a list of strings, not the text \"['A. "
    )
    assert first.gold is None and first.options == ()
