"""`fvlm-eval -h` at any width, the demo's `--benchmark` (several, and suites) and `benchmarks` on a data
folder that is not one: one clear line each, never a traceback."""

from __future__ import annotations

import pytest

from fvlm_eval.cli import main


def call(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def squashed(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("columns", ["200", "80"])
def test_the_top_level_help_stays_within_80_columns_and_shows_each_command_whole(capsys, monkeypatch, columns):
    """`COLUMNS=200 fvlm-eval -h` drew rich's boxes 200 columns wide, while every command's own `-h` kept to
    78 (click's layout): the top level is in that layout too, each command's first paragraph whole."""
    import typer

    from fvlm_eval.cli.app import app

    monkeypatch.setenv("COLUMNS", columns)
    code, out, _ = call(capsys, "-h")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80, out
    assert "╭" not in out and "…" not in out and "Commands:" in out
    for name, command in typer.main.get_command(app).commands.items():
        first = squashed((command.help or "").split("\n\n")[0])
        assert f"{name} {first}" in squashed(out), (name, out)


def test_the_demos_help_says_how_to_give_several_benchmarks(capsys, monkeypatch, tmp_path):
    """`fvlm-eval demo -h` showed `-b, --benchmark TEXT...`, yet `demo --benchmark scienceqa mvbench` was
    "Got unexpected extra argument(s) (mvbench)": the help says to repeat the flag, and so does the error."""
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = call(capsys, "demo", "-h")
    assert code == 0 and "TEXT..." not in out and "Usage: fvlm-eval demo [OPTIONS]\n" in out
    assert "-b, --benchmark BENCHMARK" in out and "repeatable: -b NAME -b NAME" in squashed(out)
    code, out, err = call(capsys, "demo", "--benchmark", "scienceqa", "mvbench", "--output-dir", tmp_path / "demo")
    assert code == 2 and not out and len(err.splitlines()) == 1, err
    assert "several benchmarks: repeat the flag, -b scienceqa -b mvbench" in err
    assert not (tmp_path / "demo").exists()


def test_a_suite_given_to_the_demo_stands_for_its_benchmarks_with_a_copy(capsys, tmp_path):
    """`fvlm-eval demo -b video` said "the demo has no synthetic copy of it" of a suite `run` takes: a suite
    stands for its benchmarks, in the order given, each once; those without a synthetic copy are left out."""
    from fvlm_eval.demo import demo_benchmarks
    from fvlm_eval.tasks import suite, with_fixtures

    copies = with_fixtures()
    assert demo_benchmarks(("video",), copies) == (suite("video"), [])
    chosen, left_out = demo_benchmarks(("scienceqa", "video", "mvbench"), copies)
    assert chosen == ("scienceqa", *suite("video")) and left_out == []
    assert demo_benchmarks(("all",), copies) == (suite("all"), [])
    assert demo_benchmarks((), copies) == (suite("all"), [])
    without_mlvu = tuple(name for name in copies if name != "mlvu")
    assert demo_benchmarks(("video",), without_mlvu) == (tuple(n for n in suite("video") if n != "mlvu"), ["mlvu"])
    code, _, err = call(capsys, "demo", "-b", "nope", "-b", "video", "--output-dir", tmp_path / "demo")
    assert code == 2 and "--benchmark nope: the demo has no synthetic copy of it" in err
    assert "or a suite: video, all" in err and not (tmp_path / "demo").exists()


@pytest.mark.parametrize("kind", ["missing", "file", "broken link"])
def test_benchmarks_lists_and_says_when_the_data_folder_is_not_a_folder(capsys, tmp_path, kind):
    """`fvlm-eval benchmarks --data-dir /nonexist` listed every benchmark "not prepared" and exited 0 without a
    word on the folder: the listing stands (exit 0), with one note naming --data-dir and what it is (a folder
    gets none)."""
    place = tmp_path / "data"
    if kind == "file":
        place.write_text("not a folder")
    elif kind == "broken link":
        place.symlink_to(tmp_path / "gone")
    code, out, err = call(capsys, "benchmarks", "--data-dir", place)
    assert code == 0 and "mvbench" in out and "not prepared" in out and "suites" in out
    said = {
        "missing": f"note: --data-dir {place} does not exist: no benchmark is prepared there",
        "file": f"note: --data-dir {place} is a file: give the folder that holds <benchmark>/",
        "broken link": f"note: --data-dir {place} is a link to {tmp_path / 'gone'}, which does not exist",
    }[kind]
    assert len(err.splitlines()) == 1 and err.startswith(said), err
    (tmp_path / "folder").mkdir()
    code, out, err = call(capsys, "benchmarks", "--data-dir", tmp_path / "folder")
    assert code == 0 and "not prepared" in out and not err
