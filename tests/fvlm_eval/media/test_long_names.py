"""A media name the system refuses as too long (over 255 bytes) fails its own question, in one short line.

``Path.is_file`` and ``stat`` raise ``OSError(ENAMETOOLONG)`` for such a name rather than answer False;
``safe_join``, through which every benchmark locates its media, refuses it first as a ``MediaError``
(recorded against that question), and the message keeps the name's start and end only.
"""

from __future__ import annotations

import json

import pytest

from fvlm_eval.media import MediaError, safe_join, shown
from fvlm_eval.media.decode import decode
from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.rows import find_video
from fvlm_eval.types import Media, Sampling

LONG = "x" * 300 + ".mp4"


def check_short_message(message: str) -> None:
    assert "file name too long" in message and "…" in message and "304 bytes" in message
    assert len(message) < 200 and "x" * 100 not in message


def test_safe_join_refuses_a_name_too_long_for_the_system(tmp_path):
    with pytest.raises(MediaError) as caught:
        safe_join(tmp_path, f"videos/{LONG}")
    check_short_message(str(caught.value))
    with pytest.raises(MediaError, match="file name too long"):
        find_video(tmp_path, "videos", "y" * 300, (".mp4", ".webm"))
    assert safe_join(tmp_path, "videos/" + "z" * 251 + ".mp4").name == "z" * 251 + ".mp4"  # 255 bytes: allowed
    assert safe_join(tmp_path, "a\ud800.mp4").name == "a\ud800.mp4"  # not encodable: left to is_file (False)
    with pytest.raises(MediaError, match="is 304 bytes"):
        safe_join(tmp_path, "é" * 150 + ".mp4")  # 154 characters, 304 bytes in UTF-8


def test_decoding_a_path_too_long_is_a_media_error_not_an_os_error(tmp_path):
    for kind in ("video", "frame_folder", "image"):
        with pytest.raises(MediaError) as caught:
            decode(Media(kind, "clip", str(tmp_path / LONG), folder_fps=3.0), Sampling("uniform", 4))
        check_short_message(str(caught.value))


def test_an_mvbench_row_with_such_a_name_fails_alone(tmp_path):
    rows = [
        {"video": name, "question": "What happened?", "candidates": ["a", "b"], "answer": "a"}
        for name in ("ok.mp4", LONG)
    ]
    annotations = tmp_path / "mvbench" / "json"
    annotations.mkdir(parents=True)
    (annotations / "action_sequence.json").write_text(json.dumps(rows))
    loaded = get_benchmark("mvbench").load(tmp_path)
    assert [q.error is None for q in loaded.questions] == [True, False] and not loaded.problems
    assert loaded.questions[1].error.startswith("action_sequence.json[1]: file name too long: ")
    check_short_message(loaded.questions[1].error)


def test_shown_keeps_short_names_and_cuts_long_ones():
    assert shown("clip.mp4") == "clip.mp4"
    cut = shown(LONG)
    assert cut.startswith("xxx") and "…" in cut and cut.endswith("x.mp4 (304 characters)") and len(cut) < 130
