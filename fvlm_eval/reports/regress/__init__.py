"""``fvlm-eval regress``: is the current run a real drop from the baseline run, or noise, and could
this comparison have told?

Pairs the two runs question by question (same ids) per benchmark and mode, and per breakdown
value, on one protocol (``protocol``; default: the headline protocol, which must be the same in
both runs): the accuracy change, a seeded paired bootstrap 95% interval (resampling videos), the
one-sided p-value of an exact sign-flip test over videos (``stats.paired_cluster_test``: it
respects that questions on one video move together), the exact McNemar p-value beside it (it
treats questions as independent: shown, never used), the smallest true drop the gate catches 80% of
the time, the questions that flipped, and ids present in one run only.

Run folders are read by the one rule of ``freshness.load_run_folder``: the records are the truth
(``correct`` recomputed from ``pred`` and ``gold``), the summary gives the selection of questions
and the headline protocol. Only questions both runs asked alike (equal ``question_sha256``) are
paired: a question changed under the same id is a settings mismatch.

Exit codes tell the outcomes apart: 0 pass; 1 a drop larger than ``max_drop`` points and significant at
``alpha`` (sign-flip test, Holm-adjusted over the (benchmark, mode) comparisons); 3 the settings differ
(benchmark version, frames, prompt, model family, dtype) unless allowed, or the protocol compared was not
measured by one run, or the headline protocols differ (never allowed: a protocol one run lacks is no drop); 4
not comparable: a folder that is not a run, or is still being written, or stopped before its summary; a record
that cannot be read; one folder in both runs; no (benchmark, mode) in common, one the baseline measured and the
current run lacks, or the runs share fewer than ``min_overlap`` of either run's questions (a question that
failed in one run only, a missing video, is not shared: a data fault is never read as a drop); 5 underpowered:
no significant drop, but the test alone, at ``alpha`` / the comparisons, would find a true drop of ``max_drop``
points significant less than 80% of the time, at the upper confidence bound of the change's spread
(``allow_underpowered`` makes it a pass with a warning). Comparing nothing is never a pass. A significant drop
in a comparable benchmark/mode is exit 1 whatever the others are (``gate``).
A verdict whose ``regress.md`` cannot be written exits 2 (as a bad flag does), never a verdict's code.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from fvlm_eval.errors import ExitCode, FvlmEvalError
from fvlm_eval.files import write_json_atomic, write_text_atomic
from fvlm_eval.reports.regress.compare import RegressUnusable, compare_pair, compare_runs, drop_in_points
from fvlm_eval.reports.regress.folders import file_in_the_way, refuse_unfinished
from fvlm_eval.reports.regress.render import console_text, markdown
from fvlm_eval.reports.regress.result import Comparison
from fvlm_eval.stats import significance_level


def regress(
    baseline: Path,
    current: Path,
    max_drop: float = 1.0,
    alpha: float = 0.05,
    allow_mismatch: bool = False,
    seed: int = 0,
    output: Path | None = None,
    min_overlap: float = 0.9,
    protocol: str | None = None,
    allow_underpowered: bool = False,
) -> int:
    """Compare, say the verdict, write ``regress.md`` and ``regress.json`` (and append to
    ``$GITHUB_STEP_SUMMARY`` when set); returns the exit code."""
    folder = Path(output) if output else Path(current) / "regress"
    significance_level(alpha)
    max_drop = drop_in_points(max_drop)
    try:
        for run, role in ((baseline, "baseline"), (current, "current")):
            refuse_unfinished(run, role)
        result = compare_runs(
            baseline, current, max_drop, alpha, allow_mismatch, seed, min_overlap, protocol, allow_underpowered
        )
    except RegressUnusable as refusal:  # an earlier comparison's "pass" must not stand in the folder it wrote
        written = Comparison.refused(baseline, current, max_drop, alpha, seed, min_overlap, protocol, str(refusal))
        _refusal_written(written, folder if output or folder.is_dir() else None)
        raise
    text = markdown(result)
    # the verdict first, on its own (`regress ... | head -1`: a reader that leaves after it makes the later lines
    # meet a closed pipe, said on stderr), `_say`
    verdict = console_text(result, folder).split("\n", 1)[0]
    _say(verdict)
    try:
        write_text_atomic(folder / "regress.md", text)
        write_json_atomic(folder / "regress.json", result.to_json())
        unwritten = None
    except OSError as error:  # said after the details, with an exit code no CI gate reads as a verdict
        blocked = file_in_the_way(folder)  # "File exists" or "Not a directory" would name no problem
        unwritten = RegressNotWritten(
            f"cannot write {folder if blocked else error.filename or folder}: {blocked or error.strerror or error}; "
            f"the verdict above (exit {result.exit_code}) is not written down: give --output a writable folder"
        )
    _to_step_summary(text)
    rest = console_text(result, None if unwritten else folder).split("\n", 1)[1]  # no pointer to a file not there
    _say(rest.lstrip("\n"))
    if unwritten is not None:
        raise unwritten
    return result.exit_code


def _say(text: str) -> None:
    """Markdown rendered on a terminal; elsewhere (a CI log, a pipe) the text as written: rich renders Markdown to
    80 columns there, padding lines with spaces and breaking the path of regress.md in two."""
    from fvlm_eval.terminal import console, echo

    out = console()
    if out.is_terminal:
        from rich.markdown import Markdown

        out.print(Markdown(text), soft_wrap=False)  # soft_wrap would crop its list items at the console's width
    else:  # headings and bold as plain text
        echo("\n".join(re.sub(r"^#+ ", "", line).replace("**", "") for line in text.rstrip("\n").split("\n")))


def _to_step_summary(text: str) -> None:
    """Appended to ``$GITHUB_STEP_SUMMARY`` when set; best-effort: a bad path must not turn the verdict into
    "cannot write"."""
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            print(
                f"warning: GITHUB_STEP_SUMMARY={step_summary}: not written ({error.strerror or error}); "
                "the verdict stands",
                file=sys.stderr,
            )


def _refusal_written(refusal: Comparison, folder: Path | None) -> None:
    """The refusal (exit 4) as ``regress.md``/``regress.json`` (the keys of every other verdict's) where a report
    folder is there already (or ``--output`` names one): it replaces an earlier comparison's verdict; and in
    ``$GITHUB_STEP_SUMMARY``."""
    from fvlm_eval.reports.printable import printable

    text = f"## fvlm-eval regression: not comparable (exit {refusal.exit_code})\n\n{printable(refusal.error or '')}\n"
    if folder is not None:
        try:
            write_text_atomic(folder / "regress.md", text)
            write_json_atomic(folder / "regress.json", refusal.to_json())
        except OSError as error:
            blocked = file_in_the_way(folder)
            where = folder if blocked else error.filename or folder
            print(f"warning: cannot write {where}: {blocked or error.strerror or error}", file=sys.stderr)
    _to_step_summary(text)


class RegressNotWritten(FvlmEvalError):
    """The verdict was reached but ``regress.md``/``regress.json`` could not be written (a read-only folder, or
    ``--output`` naming a file: said so) (exit 2: not a verdict's code, so a gate never reads a read-only folder as
    a drop or a pass)."""

    exit_code = ExitCode.USAGE


__all__ = ["Comparison", "RegressNotWritten", "RegressUnusable", "compare_pair", "compare_runs", "regress"]
