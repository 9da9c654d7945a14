"""``export-checkpoint``'s check of the folder it is to write, before any work: the reason a folder takes no file
is the file system's own (a read-only one is said to be read-only), and a file in the way is said to be one."""

from __future__ import annotations

import errno
import os

import pytest

from fvlm_eval.api import export_checkpoint
from fvlm_eval.cli import main


@pytest.fixture()
def checkpoint(tmp_path):
    """A file named as a checkpoint: the folder is checked before the checkpoint is read."""
    path = tmp_path / "step_10.pt"
    path.write_bytes(b"not read")
    return path


def test_a_read_only_file_system_is_said_to_be_one(checkpoint, tmp_path, monkeypatch, capsys):
    """`export-checkpoint X.pt /readonly-fs/x` said "permission denied": os.access answered before the real probe,
    and its False was said as EACCES, though the file system is read-only (EROFS), which no chmod fixes."""
    place = tmp_path / "mounted-read-only"
    place.mkdir()
    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):  # what the kernel answers on a read-only mount
        if str(path).startswith(str(place)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: not mode & os.W_OK)  # access(2): EROFS for W_OK
    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(OSError) as refused:
        export_checkpoint(checkpoint, place / "x")
    assert refused.value.errno == errno.EROFS and not isinstance(refused.value, PermissionError)
    code = main(["export-checkpoint", str(checkpoint), str(place / "x")])
    err = capsys.readouterr().err
    assert code == 1 and "Read-only file system" in err and "ermission denied" not in err, err
    assert f"takes no new file: {os.strerror(errno.EROFS)}" in err and "Traceback" not in err


def test_a_file_above_the_folder_is_not_a_directory(checkpoint, tmp_path, capsys):
    """A path below a file raised PermissionError "permission denied": a file in the way is no permission."""
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(NotADirectoryError, match="a-file is a file, not a folder"):
        export_checkpoint(checkpoint, tmp_path / "a-file" / "out")
    code = main(["export-checkpoint", str(checkpoint), str(tmp_path / "a-file" / "out")])
    err = capsys.readouterr().err
    assert code == 1 and f"{tmp_path / 'a-file'} is a file, not a folder" in err and "ermission" not in err, err
