"""``benchmarks/bench_decode.py``: decoding timed per backend and strategy; PyAV's cases where decord is not
installed (pyproject installs it on x86_64 only), and bad flags as one line."""

from __future__ import annotations

import sys

import pytest

from tests.benchmarks.scripts import script


@pytest.fixture
def no_decord(tmp_path, monkeypatch):
    """decord made unimportable here and in the cases' processes (as on aarch64, where it is not installed)."""
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "decord.py").write_text('raise ImportError("decord hidden for this test")\n')
    monkeypatch.setenv("PYTHONPATH", str(hidden))
    monkeypatch.setitem(sys.modules, "decord", None)  # `import decord` raises ImportError in this process


def test_bench_decode_times_pyav_where_decord_is_not_installed(no_decord, tmp_path, capsys):
    """Before, every case imported decord "as the same baseline": without decord every PyAV case failed too
    (ImportError), and the script measured nothing."""
    cases = ["decord/each", "pyav/stream", "pyav/auto"]
    code = script("bench_decode").main(
        ["--minutes", "0.05", "--repeat", "1", "--cache", str(tmp_path / "videos"), "--cases", *cases]
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    rows = [line for line in out.splitlines() if " min " in line]
    assert len(rows) == 4 and all(line.endswith("  yes") for line in rows)  # 2 samplings x 2 PyAV cases, same frames
    assert "decord/each" not in out and "decord is not installed: decord/each not timed" in err


@pytest.mark.parametrize(
    "flags",
    [["--minutes", "0"], ["--minutes", "0.0001"], ["--repeat", "0"], ["--gop", "-1"], ["--cases", "pyav/fast"]],
)
def test_bench_decode_refuses_a_wrong_flag_in_one_line(flags, tmp_path, capsys):
    """Before, ``--minutes 0`` ended in a FileNotFoundError traceback (an empty video never written)."""
    with pytest.raises(SystemExit) as stop:
        script("bench_decode").main([*flags, "--cache", str(tmp_path / "videos")])
    assert stop.value.code == 2 and f"argument {flags[0]}:" in capsys.readouterr().err
    assert not (tmp_path / "videos").exists()


def test_bench_decode_with_only_decord_cases_and_no_decord_says_so(no_decord, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        script("bench_decode").main(["--minutes", "0.05", "--cases", "decord/batch", "--cache", str(tmp_path)])
    assert stop.value.code == 2 and "decord is not installed" in capsys.readouterr().err
