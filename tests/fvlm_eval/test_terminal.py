"""A stdout that closes early (``fvlm-eval run ... | head -1``): the run goes on, says so once on stderr."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from fvlm_eval import terminal
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from fvlm_eval.tasks.fixtures.videomme import write_videomme


def test_a_closed_pipe_is_remembered_and_later_prints_cost_nothing(monkeypatch):
    monkeypatch.setattr(terminal, "_closed_early", False)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    closed = io.TextIOWrapper(io.BufferedWriter(io.FileIO(write_end, "w")), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", closed)
    console = terminal.console()
    for n in range(3):
        console.print(f"line {n}")  # rich's own Console would raise SystemExit here
    assert terminal.stdout_closed_early()
    closed.write("after\n")
    closed.flush()  # stdout now points at /dev/null: no BrokenPipeError at exit either
    monkeypatch.undo()
    closed.close()


def test_a_suggested_command_longer_than_the_screen_stays_one_line_in_a_log(capsys):
    """Where stdout is not a terminal rich wrapped at 80 columns, mid-path: a command copied from a log
    (``next: fvlm-eval report <long folder>``, the demo's next steps) came out in two pieces."""
    command = "fvlm-eval report " + "/a/long/folder/of/runs" * 8 + " results/runs/SmolVLM2-256M-Video-Instruct"
    terminal.console().print(f"  {command}", highlight=False)
    assert capsys.readouterr().out == f"  {command}\n"


def _run_both(model_dir, tmp_path) -> tuple[list[str], object]:
    """``run scienceqa videomme`` on one question each, as a command line, and its output folder."""
    write_scienceqa(tmp_path / "data")
    write_videomme(tmp_path / "data")
    output = tmp_path / "out"
    command = [sys.executable, "-m", "fvlm_eval", "run", "scienceqa", "videomme", "--model", str(model_dir)]
    command += ["--data-dir", str(tmp_path / "data"), "--output-dir", str(output), "--workers", "0"]
    command += ["--no-frame-cache", "--device", "cpu", "--limit", "1", "--frames", "2"]
    return command, output


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def test_run_piped_into_a_closed_reader_scores_every_benchmark(model_dir, tmp_path):
    command, output = _run_both(model_dir, tmp_path)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    process.stdout.close()  # as `| head -1` does once it has its line: every print now meets a closed pipe
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=300) == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if "closed before the end" in line] == [
        "note: stdout was closed before the end (a reader that left, or >&-): the rest of the printed output was "
        "dropped; the command itself ran to the end"
    ]
    for benchmark in ("scienceqa", "videomme"):  # the later benchmark too
        summary = json.loads((output / benchmark / "coarse_fine" / "summary.json").read_text())
        assert summary["coverage"]["recorded"] == 1


def test_a_run_started_with_stdout_or_stderr_closed_scores_every_benchmark(model_dir, tmp_path):
    """`run ... >&-`: Python's sys.stdout was None, the first print raised AttributeError ("an unexpected error"),
    exit 1 and no summary; `regress ... >&-` exited 1, a significant drop to a CI gate; `run nosuch 2>&-` exited 1."""
    command, output = _run_both(model_dir, tmp_path)
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                          timeout=300, preexec_fn=lambda: os.close(1))  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr.decode(), done.stderr.decode()[-2000:]
    assert "the command itself ran to the end" in done.stderr.decode()
    for benchmark in ("scienceqa", "videomme"):
        assert (output / benchmark / "coarse_fine" / "summary.json").is_file()
    usage = subprocess.run([sys.executable, "-m", "fvlm_eval", "run", "nosuch"], env=ENV, timeout=120,
                           stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(2))  # fmt: skip
    assert usage.returncode == 2


def test_a_command_that_fails_with_stdout_closed_does_not_say_it_ran_to_the_end(tmp_path):
    """`regress` on a folder of no runs, `>&-`, said "the command itself ran to the end" under its error line."""
    (tmp_path / "empty").mkdir()
    command = [sys.executable, "-m", "fvlm_eval", "regress", "--baseline", str(tmp_path / "empty")]
    done = subprocess.run(command + ["--current", str(tmp_path / "empty")], stdin=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=ENV, timeout=120, preexec_fn=lambda: os.close(1))  # fmt: skip
    stderr = done.stderr.decode()
    assert done.returncode == 4 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[0].startswith("error: --baseline ")
    assert "ran to the end" not in stderr
    assert "the command itself was ended by the error said above" in stderr


def test_stdout_and_stderr_into_one_closed_reader_exit_as_the_run_does(model_dir, tmp_path):
    """`run ... 2>&1 | head -1` exited 1 after a clean run: its stderr lines met the closed pipe too."""
    command, output = _run_both(model_dir, tmp_path)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
    process.stdout.close()
    assert process.wait(timeout=300) == 0
    for benchmark in ("scienceqa", "videomme"):
        summary = json.loads((output / benchmark / "coarse_fine" / "summary.json").read_text())
        assert summary["coverage"]["recorded"] == 1


def _closed_reader(arguments: list[str]) -> tuple[int, str]:
    """Run ``fvlm-eval ARGUMENTS`` with its stdout's reader gone; (exit code, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fvlm_eval", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    return process.wait(timeout=300), stderr


def test_report_and_benchmarks_piped_into_a_closed_reader_finish_and_say_so(tmp_path):
    from tests.fvlm_eval.constructed import write_run

    run = write_run(tmp_path / "run", [True, False] * 5)
    code, stderr = _closed_reader(["report", str(run), "--thumbnails", "0", "--output-dir", str(tmp_path / "out")])
    assert code == 0 and "Traceback" not in stderr, stderr[-2000:]
    assert len([line for line in stderr.splitlines() if "closed before the end" in line]) == 1
    assert {"report.md", "report.html"} <= {p.name for p in (tmp_path / "out").iterdir()}
    code, stderr = _closed_reader(["benchmarks", "--data-dir", str(tmp_path)])
    assert code == 0 and "closed before the end" in stderr, stderr[-2000:]


def test_the_next_command_hint_pastes_into_a_shell_for_any_folder_name(model_dir, tmp_path, monkeypatch, capsys):
    """In this process (the line is under test, not the interpreter): quoted for a shell, never read as markup."""
    import shlex

    from fvlm_eval.cli import main

    write_scienceqa(tmp_path / "data")
    output = tmp_path / "my run [bold]x<y"
    monkeypatch.setenv("COLUMNS", "400")
    code = main(
        [
            "run",
            "scienceqa",
            "--model",
            str(model_dir),
            "--data-dir",
            str(tmp_path / "data"),
            "--output-dir",
            str(output),
            "--workers",
            "0",
            "--no-frame-cache",
            "--device",
            "cpu",
            "--limit",
            "1",
            "--frames",
            "2",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    line = next(line for line in out.splitlines() if "next: fvlm-eval report" in line)
    pasted = line.split("next: ", 1)[1].rstrip().removesuffix(")")
    assert shlex.split(pasted) == ["fvlm-eval", "report", str(output)]


def test_regress_into_a_closed_reader_says_so_and_prints_its_verdict_first(tmp_path, monkeypatch, capsys):
    """In this process: the verdict line goes out before the files are written (a `| head -1` that
    leaves after it makes the later lines meet a closed pipe), the note comes once, the exit code stands."""
    from fvlm_eval.cli import main
    from fvlm_eval.reports import regress as regress_module
    from tests.fvlm_eval.constructed import write_run

    base, current = write_run(tmp_path / "a", [True] * 9), write_run(tmp_path / "b", [True] * 9)
    arguments = ["regress", "--baseline", str(base), "--current", str(current)]
    printed_before_files = []
    write = regress_module.write_text_atomic

    def observed(path, text):  # the real write, noting what stdout had received by then
        printed_before_files.append(sys.stdout.getvalue())
        write(path, text)

    monkeypatch.setattr(regress_module, "write_text_atomic", observed)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(arguments) == 5  # 9 questions: underpowered
    assert printed_before_files[0].splitlines()[0].startswith("fvlm-eval regression: underpowered")
    monkeypatch.setattr(regress_module, "write_text_atomic", write)
    monkeypatch.setattr(terminal, "_closed_early", False)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader gone before anything is written
    closed = io.TextIOWrapper(io.BufferedWriter(io.FileIO(write_end, "w")), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", closed)
    capsys.readouterr()
    assert main(arguments) == 5
    assert [line for line in capsys.readouterr().err.splitlines() if "closed before the end" in line] == [
        "note: stdout was closed before the end (a reader that left, or >&-): the rest of the printed output was "
        "dropped; the command itself ran to the end"
    ]
    assert (current / "regress" / "regress.md").is_file()
    monkeypatch.undo()
    closed.close()


def test_regress_in_a_log_wraps_its_list_items_and_never_crops_them(tmp_path, monkeypatch):
    """Lines of text are not broken in a log, but regress's Markdown lists must still wrap: printed
    unwrapped they were cut at 80 columns ("(5 questions on 5 video")."""
    from fvlm_eval.cli import main
    from tests.fvlm_eval.constructed import write_run

    base, current = write_run(tmp_path / "a", [True] * 9), write_run(tmp_path / "b", [True] * 9)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(["regress", "--baseline", str(base), "--current", str(current)]) == 5
    printed = " ".join(sys.stdout.getvalue().split())
    bullet = next(line for line in console_lines(current) if "detectable drop" in line)
    assert " ".join(bullet.split()) in printed


def console_lines(current) -> list[str]:
    """The list items of the regress report written beside the run (the same sentences as printed)."""
    text = (current / "regress" / "regress.md").read_text(encoding="utf-8")
    return [line.lstrip("-* ").strip() for line in text.splitlines() if line.lstrip().startswith(("-", "*"))]


def test_a_stdout_that_cannot_encode_a_character_shows_a_stand_in(monkeypatch):
    """On an ASCII stdout (``PYTHONIOENCODING=ascii``, a C locale without UTF-8 coercion) the first ⚠ raised
    UnicodeEncodeError out of the console: "an unexpected error ... report it", exit 1."""
    monkeypatch.setattr(terminal, "_closed_early", False)
    raw = io.BytesIO()
    ascii_stdout = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_stdout)
    terminal.console().print("\u26a0 = not above chance; 1 \u2192 2 \u00b7 \u2500\u2500 \u00e9", highlight=False)
    terminal.echo("wrote caf\u00e9/report.md")
    ascii_stdout.flush()
    assert raw.getvalue().decode("ascii").splitlines() == [
        "! = not above chance; 1 -> 2 * -- ?",
        "wrote caf?/report.md",
    ]
    latin = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(latin, encoding="latin-1"))
    terminal.echo("\u00b7 \u00e9 \u26a0")  # what latin-1 holds is kept as it is
    sys.stdout.flush()
    assert latin.getvalue().decode("latin-1") == "\u00b7 \u00e9 !\n"


def test_commands_on_an_ascii_stdout_keep_their_exit_codes(model_dir, tmp_path):
    """`regress` on an ASCII stdout printed "pass", then exited 1 (a significant drop, to a CI gate) on the first
    "·"; `run` and `report` wrote every file, then exited 1 on the tables' ⚠."""
    from tests.fvlm_eval.constructed import write_run

    ascii_env = {**ENV, "PYTHONIOENCODING": "ascii"}
    base, current = write_run(tmp_path / "a", [True] * 9), write_run(tmp_path / "b", [True] * 9)
    for flags, code in (([], 5), (["--allow-underpowered"], 0)):
        command = [sys.executable, "-m", "fvlm_eval", "regress", "--baseline", str(base), "--current", str(current)]
        done = subprocess.run(command + flags, capture_output=True, text=True, env=ascii_env, timeout=300)
        assert done.returncode == code and "unexpected" not in done.stderr, done.stderr[-2000:]
    command = [sys.executable, "-m", "fvlm_eval", "report", str(base), "--thumbnails", "0"]
    done = subprocess.run(command, capture_output=True, text=True, env=ascii_env, timeout=300)
    assert done.returncode == 0 and "! = not above chance" in done.stdout, done.stderr[-2000:]
    command, output = _run_both(model_dir, tmp_path)
    done = subprocess.run(command, capture_output=True, text=True, env=ascii_env, timeout=300)
    assert done.returncode == 0 and "unexpected" not in done.stderr, done.stderr[-2000:]
    assert "! = not above" in done.stdout and f"next: fvlm-eval report {output}" in done.stdout


def test_help_and_version_into_a_closed_reader_exit_0():
    """`fvlm-eval --version | grep -q ...` (the reader gone first) exited 1, silently: click printed help and the
    version itself, and ended with sys.exit(1) on the broken pipe; every other command exits as it would have."""
    for arguments in (["--help"], ["--version"], ["run", "--help"]):
        code, stderr = _closed_reader(arguments)
        assert code == 0 and "Traceback" not in stderr, (arguments, stderr[-2000:])
        assert "closed before the end" in stderr
