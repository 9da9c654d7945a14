"""JSON files written and read strictly: no bare NaN or Infinity, and errors that name the file."""

from __future__ import annotations

import json

import pytest

from fvlm_eval.errors import RecordError
from fvlm_eval.files import read_json, write_json_atomic


def test_json_is_written_without_nan_or_infinity(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"p": float("nan"), "ci": [0.5, float("inf")], "n": 3, "ok": 0.25})
    text = (tmp_path / "a.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"p": None, "ci": [0.5, None], "n": 3, "ok": 0.25}


def test_json_holding_nan_is_refused_naming_the_file(tmp_path):
    (tmp_path / "summary.json").write_text('{"accuracy": NaN}')
    with pytest.raises(RecordError, match=r"summary\.json: not readable JSON .*NaN is not a JSON number"):
        read_json(tmp_path / "summary.json")


def test_an_atomic_write_through_a_link_and_dotdot_lands_where_the_path_names(tmp_path, monkeypatch):
    """`--output-dir link/../x`: mkstemp made its temporary file's name absolute by text (the link's parent's x),
    and every write of the run failed with 'No such file or directory'."""
    from fvlm_eval.files import write_bytes_atomic

    (tmp_path / "deep" / "a" / "b").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "deep" / "a" / "b")
    monkeypatch.chdir(tmp_path)
    write_bytes_atomic("link/../x/file.txt", b"kept")
    assert (tmp_path / "deep" / "a" / "x" / "file.txt").read_bytes() == b"kept"
    assert not (tmp_path / "x").exists()


def test_a_file_where_a_folder_must_be_is_said_to_be_one(tmp_path):
    """Writing into an output path that is a file said "File exists" or "Not a directory" (report --output-dir FILE,
    regress --output FILE), naming no problem; run and export-checkpoint said "a file, not a folder"."""
    from fvlm_eval.files import file_in_the_way, write_text_atomic

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    for path in (blocked / "report.md", blocked / "deeper" / "report.md"):
        with pytest.raises(OSError) as raised:
            write_text_atomic(path, "text")
        assert raised.value.strerror == f"{blocked} is a file, not a folder" and raised.value.filename == str(path)
    assert file_in_the_way(blocked) == "a file, not a folder"
    assert file_in_the_way(tmp_path / "new" / "folder") is None and file_in_the_way(tmp_path) is None
