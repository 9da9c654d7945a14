"""Consecutive comparable checkpoints compared as ``regress`` compares two runs, and the verdict in words.

Each pair is tested both ways at ``--alpha``, two-sided: a significant drop when the exact sign-flip test's
one-sided p-value for a drop is below alpha / 2, a significant gain when its p-value for a gain is; so two
checkpoints that do not differ are called a significant change (either way) at most ``alpha`` of the time. Only
questions both runs scored are paired: one that failed in either (a missing video) is no answer, left out and
counted beside the pair, never read as a question the model lost or gained.
"""

from __future__ import annotations

from fvlm_eval.reports.regress.compare import compare_pair
from fvlm_eval.reports.regress.failures import error_example
from fvlm_eval.reports.track.best import asked

SIDES = 2  # each pair is tested two-sided: each direction at alpha / 2


def compare(before: dict, after: dict, protocol: str, seed: int, alpha: float) -> dict:
    """``regress``'s paired statistics over the questions both runs asked alike under ``protocol`` and both scored
    (the failed ones counted in ``failed``: ``from_only``, ``to_only``, ``both``), with the test's p-values both
    ways; its detectable drop is the test's at alpha / 2. No ``needed``: ``regress``'s questions needed to bring
    that drop to ``--max-drop``, a flag ``track`` does not have (it was a figure for a 1-point drop nobody set)."""
    shared = [
        i
        for i in before
        if i in after
        and before[i].question_sha256 == after[i].question_sha256
        and asked(before[i], protocol)
        and asked(after[i], protocol)
    ]
    result = compare_pair(
        {i: before[i] for i in shared}, {i: after[i] for i in shared}, protocol, seed, alpha=alpha, family=SIDES
    )
    found = {k: v for k, v in result.to_json().items() if k != "needed"}
    failed = result.failed
    found["failed"] = {"from_only": failed.baseline_only, "to_only": failed.current_only, "both": failed.both}
    found["failed_example"] = failed.example
    return found


def step_words(steps: list[int]) -> str:
    """``step 50``, ``steps 50 and 70``, ``steps 50, 70 and 90``; a long gap ``8 steps, 50 to 400``."""
    if len(steps) == 1:
        return f"step {steps[0]}"
    if len(steps) > 4:
        return f"{len(steps)} steps, {steps[0]} to {steps[-1]}"
    return "steps " + ", ".join(str(s) for s in steps[:-1]) + f" and {steps[-1]}"


def failed_in_one(pair: dict) -> str:
    """The questions of a compared pair that failed in one run only, in words (``""`` for none)."""
    failed = pair.get("failed") or {}
    parts = [
        f"{failed[key]} failed at step {pair[end]} only"
        for key, end in (("from_only", "from"), ("to_only", "to"))
        if failed.get(key)
    ]
    return " and ".join(parts)


def failure_warning(pair: dict) -> str | None:
    """A warning for a compared pair whose runs failed on different questions: what was left out, and that the
    change is measured on the rest; None when none failed in one run only."""
    said = failed_in_one(pair)
    if not said:
        return None
    return (
        f"steps {pair['from']} → {pair['to']}: {pair['benchmark']} {pair['mode']} compared on the questions both "
        f"scored; {said}{error_example(pair.get('failed_example'))}: left out (a question whose media or row "
        "could not be read is no answer; one the model failed on, NaN or an error, is kept and counted wrong)"
    )


def verdict(pair: dict, alpha: float) -> str:
    """In words: not compared (and why), or the two-sided test's verdict at ``alpha`` (see the module
    docstring), with the questions left out because they failed in one run only."""
    if pair.get("all_failed"):
        return f"not compared: every question failed at {step_words(pair['all_failed'])}"
    if pair.get("not_measured"):
        return f"not compared: {step_words(pair['not_measured'])} did not measure {pair['protocol']}"
    if pair.get("settings_differ"):
        return f"not compared: settings differ ({'; '.join(pair['settings_differ'])})"
    said = failed_in_one(pair)
    left_out = f"; ⚠ {said}: left out" if said else ""
    if not pair.get("n"):
        return ("no question scored in both" if said else "no shared questions") + left_out
    if pair.get("p_drop") is not None and pair["p_drop"] < alpha / SIDES:
        found = "significant drop"
    elif pair.get("p_gain") is not None and pair["p_gain"] < alpha / SIDES:
        found = "significant gain"
    else:
        found = "no significant change"
    return found + left_out


__all__ = ["SIDES", "compare", "failed_in_one", "failure_warning", "step_words", "verdict"]
