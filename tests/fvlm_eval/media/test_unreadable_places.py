"""A place that cannot be looked at (a folder without read permission: EACCES) fails the questions of that
media alone, in one line naming it; ``Path.is_file``/``exists`` raise there rather than answer False, and the
whole run stopped with "cannot read or write"."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from fvlm_eval.media import MediaError, present
from fvlm_eval.tasks import get_benchmark, write_fixtures


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("data"))


def _denied(monkeypatch, fragment: str) -> None:
    """Every look at a path holding ``fragment`` fails as in a folder the user may not read."""
    for name in ("exists", "is_file", "is_dir"):
        real = getattr(Path, name)

        def looked(self, *args, real=real, **kwargs):
            if fragment in str(self):
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, name, looked)


def test_present_answers_or_names_what_could_not_be_looked_at(tmp_path, monkeypatch):
    (tmp_path / "a.mp4").write_bytes(b"")
    assert present(tmp_path / "a.mp4", "is_file") and not present(tmp_path / "b.mp4") and present(tmp_path, "is_dir")
    _denied(monkeypatch, "locked")
    with pytest.raises(MediaError, match=r"^cannot look at clip\.mp4: Permission denied$"):
        present(tmp_path / "locked" / "clip.mp4", "is_file")


@pytest.mark.parametrize("benchmark", ["mvbench", "videomme", "tempcompass"])
def test_a_video_that_cannot_be_looked_at_fails_its_own_questions_only(data, monkeypatch, benchmark):
    before = get_benchmark(benchmark).load(data).questions
    first = next(q for q in before if q.error is None and q.media.path)
    fragment = Path(first.media.path).stem
    _denied(monkeypatch, fragment)
    after = get_benchmark(benchmark).load(data).questions
    failed = [q for q in after if q.error]
    assert failed and all("Permission denied" in q.error and "cannot look at" in q.error for q in failed)
    assert {q.id for q in failed} == {q.id for q in before if q.media.path and fragment in q.media.path}
    assert len(after) == len(before)
