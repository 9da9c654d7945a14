"""Failed questions in a comparison. A question whose media or row could not be read (a missing video or image,
a malformed row) was never answered, so it is no evidence about the model: counted wrong, a question that failed
in one run only read as a question the model lost or gained, and a data fault (half the images gone from one
copy) became a "significant drop" of the same weights. So ``regress`` and ``track`` pair only the questions both
runs could ask, and count the others beside the comparison (``FailedPairs``, said by ``failed_words``).

A failure the model caused (``records.failed_by_the_model``: NaN or infinite log-probabilities from diverged
weights, an error raised while scoring) is the model's answer: it stays paired, wrong, as ``run`` and ``report``
count it; left out, a checkpoint that diverged on some questions passed the gate on the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from fvlm_eval.records import Record, failed_by_the_model
from fvlm_eval.reports.printable import printable
from fvlm_eval.wording import counted

SHOWN_ERROR = 120  # characters of an error message quoted as an example


@dataclass(frozen=True)
class FailedPairs:
    """Among the questions both runs asked: how many failed in the baseline only, in the current run only, in
    both, and the error of one that failed in one run only (``example``), as its record says it."""

    baseline_only: int = 0
    current_only: int = 0
    both: int = 0
    example: str | None = None

    @property
    def one_run_only(self) -> int:
        return self.baseline_only + self.current_only

    @property
    def any(self) -> bool:
        return bool(self.one_run_only or self.both)

    def to_json(self) -> dict:
        return {"baseline_only": self.baseline_only, "current_only": self.current_only, "both": self.both}


def scored_in_both(
    baseline: dict[str, Record], current: dict[str, Record]
) -> tuple[dict[str, Record], dict[str, Record], FailedPairs]:
    """The two runs' records without the questions both hold whose data failed in either (ids in one run only are
    kept: they are counted as such elsewhere; failures of the model are kept, wrong), and those failures counted."""
    shared = [i for i in baseline if i in current]
    before = {i for i in shared if _unasked(baseline[i])}
    after = {i for i in shared if _unasked(current[i])}
    one_only = sorted(before ^ after)
    example = None
    if one_only:
        first = one_only[0]
        example = (baseline[first] if first in before else current[first]).error
    failed = FailedPairs(len(before - after), len(after - before), len(before & after), example)
    dropped = before | after
    return (
        {i: r for i, r in baseline.items() if i not in dropped},
        {i: r for i, r in current.items() if i not in dropped},
        failed,
    )


def _unasked(record: Record) -> bool:
    """Failed for its data (media, row), not by the model: no answer to compare."""
    return record.error is not None and not failed_by_the_model(record.error)


def error_example(error: str | None) -> str:
    """``(e.g. <the error>)``, cut to ``SHOWN_ERROR`` characters and printable, or ``""``."""
    if not error:
        return ""
    text = printable(str(error))
    if len(text) > SHOWN_ERROR:
        text = text[: SHOWN_ERROR - 1]
        if text.count("(") > text.count(")"):  # cut inside its own brackets: end before them
            text = text[: text.rfind(" (")] if " (" in text else text
        text += "…"
    return f" (e.g. {text})"


def failed_by_the_model_words(records: dict[str, Record], run: str) -> str | None:
    """The questions the model failed on in ``run`` (kept, wrong), in words; None when none: the numbers counted
    them, but no line said why the questions were lost (an out-of-memory error is the machine's: a rerun scores
    them again)."""
    failed = [r for r in records.values() if failed_by_the_model(r.error)]
    if not failed:
        return None
    return (
        f"{counted(len(failed), 'question')} the model failed on in {run}{error_example(failed[0].error)}: counted "
        "wrong, as run counts them (an error of the machine, such as out of memory: rerun that run to score them)"
    )


def failed_words(failed: FailedPairs, baseline: str = "the baseline", current: str = "the current run") -> str:
    """The failures of a comparison in words: ``80 questions failed in the current run only (e.g. ...)``; ``""``
    when none failed."""
    parts = [
        f"{counted(count, 'question')} failed in {where} only"
        for count, where in ((failed.baseline_only, baseline), (failed.current_only, current))
        if count
    ]
    if failed.both:
        parts.append(f"{counted(failed.both, 'question')} failed in both")
    return "; ".join(parts) + error_example(failed.example) if parts else ""


__all__ = ["FailedPairs", "error_example", "failed_by_the_model_words", "failed_words", "scored_in_both"]
