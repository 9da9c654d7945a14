"""regress on constructed runs: the verdicts and exit codes (power and protocols included), and the one
rule for stale summaries (unusable input: test_regress_inputs.py)."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from fvlm_eval.answers import LETTER_READER
from fvlm_eval.errors import ExitCode
from fvlm_eval.records import read_records, write_records
from fvlm_eval.reports.regress import RegressUnusable, regress
from tests.fvlm_eval.constructed import write_run


def test_regress_flags_a_clear_drop(tmp_path):
    base = write_run(tmp_path / "base", [True] * 80 + [False] * 20)
    current = write_run(tmp_path / "cur", [True] * 50 + [False] * 50)
    assert regress(base, current, max_drop=1.0, alpha=0.05) == ExitCode.FAILED
    report = json.loads((current / "regress" / "regress.json").read_text())
    overall = report["comparisons"][0]
    assert overall["delta"] == pytest.approx(-30.0) and len(overall["lost"]) == 30 and overall["mcnemar_p"] < 1e-6
    assert overall["p_drop"] < 1e-3 and overall["ci95"][1] < 0  # 10 whole videos lost, none gained: p = 2^-10
    assert "significant drop" in (current / "regress" / "regress.md").read_text()


def test_regress_passes_noise(tmp_path):
    pattern = [True, False, True, True, False] * 20
    flipped = list(pattern)
    flipped[0], flipped[1] = False, True  # one lost, one gained
    a, b = write_run(tmp_path / "a", pattern), write_run(tmp_path / "b", flipped)
    assert regress(a, b, max_drop=15) == ExitCode.OK  # 100 questions on 34 videos: the test sees ~13 points
    overall = json.loads((b / "regress" / "regress.json").read_text())["comparisons"][0]
    assert 10 < overall["detectable_drop_test"] < 15 and not overall["underpowered"]
    # the gate also needs a drop beyond 15 points: it catches 15 + z_0.8 SE 80% of the time (it printed ~13)
    assert overall["detectable_drop"] == pytest.approx(15 + 0.8416212335729143 * overall["stderr_upper"])


def test_regress_reports_a_mismatch_loudly(tmp_path, monkeypatch):
    summary_file = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    base = write_run(tmp_path / "a", [True] * 10)
    current = write_run(tmp_path / "b", [True] * 10, sampling="uniform:16")
    assert regress(base, current) == ExitCode.REFUSED
    assert regress(base, current, allow_mismatch=True, allow_underpowered=True) == ExitCode.OK
    assert "Settings differ" in summary_file.read_text()


@pytest.mark.parametrize("shared", [0, 5])
def test_runs_sharing_nothing_or_too_little_are_not_comparable(tmp_path, shared):
    base = write_run(tmp_path / "a", [True] * 40)
    current = write_run(tmp_path / "b", [False] * 40, first_id=40 - shared)  # ids 40-shared .. 79-shared
    assert regress(base, current) == 4
    verdict = json.loads((current / "regress" / "regress.json").read_text())["verdict"]
    assert verdict.startswith("not comparable")
    # 5 shared questions (2 videos), all lost: p = 1/4, and 2 videos could not show any drop
    assert regress(base, current, min_overlap=0.1) == (4 if shared == 0 else ExitCode.UNDERPOWERED)


def test_runs_without_a_common_benchmark_mode_are_not_comparable(tmp_path):
    base = write_run(tmp_path / "a", [True] * 10, mode="coarse_only")
    current = write_run(tmp_path / "b", [True] * 10, mode="coarse_fine")
    with pytest.raises(RegressUnusable, match="share no benchmark/mode"):
        regress(base, current)


def test_the_same_id_on_another_question_is_never_paired(tmp_path):
    import dataclasses

    from fvlm_eval.records import read_records, write_records

    base = write_run(tmp_path / "a", [True] * 20)
    current = write_run(tmp_path / "b", [False] * 20)
    path = current / "videomme/coarse_fine/samples.jsonl"
    write_records(path, [dataclasses.replace(r, question_sha256="other" * 12) for r in read_records(path)])
    assert regress(base, current) == 4  # nothing left to pair
    text = (current / "regress" / "regress.md").read_text()
    assert "20 questions differ between the runs under the same id" in text


def test_a_setting_that_changes_every_question_is_a_settings_difference_not_too_few_shared(tmp_path):
    """Runs with and without --subtitles: every prompt differs, so no question pairs; regress led with "not
    comparable: too few questions in common" (exit 4) and "0 questions in common, of 0 and 0" though each had 20."""
    base = write_run(tmp_path / "a", [True] * 20)
    current = write_run(tmp_path / "b", [True] * 20)
    folder = current / "videomme/coarse_fine"
    write_records(
        folder / "samples.jsonl",
        [dataclasses.replace(r, question_sha256="other" * 12) for r in read_records(folder / "samples.jsonl")],
    )
    settings = json.loads((folder / "settings.json").read_text())
    (folder / "settings.json").write_text(json.dumps({**settings, "subtitles": True}))
    assert regress(base, current) == ExitCode.REFUSED
    result = json.loads((current / "regress" / "regress.json").read_text())
    assert result["verdict"] == "fail: settings mismatch"
    text = (current / "regress" / "regress.md").read_text()
    assert "subtitles False vs True" in text
    assert "0 questions in common, of 20 (baseline) and 20 (current) (20 more differ)" in text


def test_only_the_questions_the_summary_counts_are_compared(tmp_path):
    base = write_run(tmp_path / "a", [True] * 30)
    current = write_run(tmp_path / "b", [True] * 10 + [False] * 20)
    summary_path = current / "videomme/coarse_fine/summary.json"
    summary = json.loads(summary_path.read_text())
    summary["questions"] = summary["questions"][:10]  # a rerun with --limit 10: the older records stay on disk
    summary_path.write_text(json.dumps(summary))
    assert regress(base, current, min_overlap=0.3, allow_underpowered=True) == ExitCode.OK
    assert json.loads((current / "regress" / "regress.json").read_text())["comparisons"][0]["n"] == 10


def test_a_nine_question_comparison_is_underpowered_not_a_pass(tmp_path):
    base = write_run(tmp_path / "a", [True] * 9)
    current = write_run(tmp_path / "b", [True] * 6 + [False] * 3)  # a 33-point drop on 3 videos
    assert regress(base, current) == ExitCode.UNDERPOWERED
    report = json.loads((current / "regress" / "regress.json").read_text())
    overall = report["comparisons"][0]
    assert report["verdict"].startswith("underpowered") and report["underpowered"] == ["videomme coarse_fine"]
    assert overall["delta"] == pytest.approx(-100 / 3) and overall["p_drop"] == 0.5  # one whole video lost
    assert overall["detectable_drop"] > 100 and overall["needed"] > 9
    text = (current / "regress" / "regress.md").read_text()
    assert "Underpowered" in text and f"about {overall['needed']:,} paired questions would be needed" in text


def test_allow_underpowered_passes_with_a_warning(tmp_path):
    base = write_run(tmp_path / "a", [True] * 9)
    current = write_run(tmp_path / "b", [True] * 7 + [False] * 2)
    assert regress(base, current, allow_underpowered=True) == ExitCode.OK
    report = json.loads((current / "regress" / "regress.json").read_text())
    assert report["verdict"] == "pass (underpowered, allowed by --allow-underpowered)"
    said = "the sign-flip test alone, at 0.05, would find a true drop of 1 point significant less than 80% of the time"
    assert any(said in w for w in report["warnings"]) and said in (current / "regress" / "regress.md").read_text()


def test_the_gate_holm_adjusts_over_benchmarks_and_modes_and_breakdown_rows_never_decide(tmp_path):
    """Three modes each losing 10 and gaining 2 of 100 questions (one a video): p = 0.019 each, and the gate failed on
    any one below 0.05 (with no true change, 3 cells failed ~13% of the time). Holm over the four modes: 0.077. A
    fourth mode's short videos all lost and long ones all gained: a breakdown drop, no change overall, never a fail."""
    from statistics import NormalDist

    groups = [f"v{i}" for i in range(100)]
    for mode, before, after in [(m, [True] * 10 + [False] * 2, [False] * 10 + [True] * 2) for m in ("m1", "m2", "m3")]:
        write_run(tmp_path / "a", before + [True] * 88, groups=groups, mode=mode)
        write_run(tmp_path / "b", after + [True] * 88, groups=groups, mode=mode)
    write_run(tmp_path / "a", [True, False] * 50, groups=groups, mode="m4")
    write_run(tmp_path / "b", [False, True] * 50, groups=groups, mode="m4")  # ids 0, 2, ...: duration "short"
    assert regress(tmp_path / "a", tmp_path / "b", max_drop=1) == ExitCode.UNDERPOWERED  # was FAILED (exit 1)
    report = json.loads((tmp_path / "b" / "regress" / "regress.json").read_text())
    assert report["holm_comparisons"] == 4 and report["alpha_first_step"] == pytest.approx(0.05 / 4)
    rows = {(c["mode"], c["value"]): c for c in report["comparisons"]}
    assert rows["m4", "short"]["delta"] == -100 and rows["m4", "short"]["p_drop"] < 1e-9
    assert rows["m4", "short"]["p_drop_adjusted"] is None and 0.5 < rows["m4", ""]["p_drop_adjusted"] < 1
    first = rows["m1", ""]
    assert first["p_drop"] < 0.05 < first["p_drop_adjusted"] == pytest.approx(4 * first["p_drop"])
    z, z80, se = NormalDist().inv_cdf(1 - 0.05 / 4), NormalDist().inv_cdf(0.8), first["stderr_upper"]
    assert se > first["stderr"]  # power is said on the spread's upper bound, never on its estimate (12 changed)
    assert first["detectable_drop"] == pytest.approx(max(1, z * se) + z80 * se)  # the gate's own
    assert first["detectable_drop_test"] == pytest.approx((z + z80) * se)  # what exit 5 rests on
    text = (tmp_path / "b" / "regress" / "regress.md").read_text()
    assert "Holm-adjusted over the 4 benchmark/mode comparisons" in text and "| 0.0193 | 0.0771 |" in text
    assert "would find a true drop of 1 point significant less than 80% of the time" in text
    assert regress(tmp_path / "a", tmp_path / "b", max_drop=1, alpha=0.1) == ExitCode.FAILED  # 0.077 < 0.1


def test_a_significant_drop_fails_even_when_a_smaller_one_would_go_unseen(tmp_path):
    base = write_run(tmp_path / "a", [True] * 60)
    current = write_run(tmp_path / "b", [False] * 60)  # 20 of 20 videos lost
    assert regress(base, current, max_drop=1) == ExitCode.FAILED


def _headline(run, protocol):
    path = run / "videomme/coarse_fine/summary.json"
    summary = json.loads(path.read_text())
    summary["headline_protocol"] = protocol
    path.write_text(json.dumps(summary))
    return run


def test_generate_baseline_against_a_run_without_generate_is_a_mismatch_naming_the_protocol(tmp_path):
    base = _headline(write_run(tmp_path / "a", [True] * 60, generated=True), "generated")
    current = write_run(tmp_path / "b", [False] * 60)  # made without --generate: reference is its headline
    for chosen in (None, "generated"):
        assert regress(base, current, protocol=chosen, allow_mismatch=True) == ExitCode.REFUSED
        report = json.loads((current / "regress" / "regress.json").read_text())
        assert report["comparisons"] == [] and "generated" in report["protocol_problems"][0]
    assert "protocol 'generated': the current run did not measure it" in report["protocol_problems"][0]
    text = (current / "regress" / "regress.md").read_text()  # nothing tested: no test described over 0 of them
    assert "no benchmark and mode could be compared" in text and "over the 0" not in text
    assert regress(current, base, protocol="generated") == ExitCode.REFUSED  # swapped: never silently `reference`
    assert "protocol 'generated': the baseline run did not measure it" in (base / "regress" / "regress.md").read_text()
    assert regress(base, current, protocol="reference") == ExitCode.FAILED  # both measured it: a real drop


def test_a_protocol_measured_on_part_of_a_run_is_said_so_and_not_compared(tmp_path):
    """Generated answers for the first 30 questions, then a rerun without --generate added 30 more."""
    for name in ("a", "b"):
        path = write_run(tmp_path / name, [True] * 60, generated=True) / "videomme/coarse_fine/samples.jsonl"
        records = read_records(path)
        write_records(
            path,
            records[:30]
            + [
                dataclasses.replace(
                    r,
                    generated=None,
                    pred={k: v for k, v in r.pred.items() if k != "generated"},
                    correct={k: v for k, v in r.correct.items() if k != "generated"},
                )
                for r in records[30:]
            ],
        )
    assert regress(tmp_path / "a", tmp_path / "b", protocol="generated") == ExitCode.REFUSED
    problem = json.loads((tmp_path / "b" / "regress" / "regress.json").read_text())["protocol_problems"][0]
    assert "the baseline run measured it on only 30 of its 60 answered questions" in problem
    assert "did not measure" not in problem


def test_protocol_chooses_what_is_compared(tmp_path):
    base = write_run(tmp_path / "a", [True] * 60, generated=True)
    current = write_run(tmp_path / "b", [True] * 60, generated=True)
    path = current / "videomme/coarse_fine/samples.jsonl"  # generated answers all wrong now, the rest unchanged
    write_records(
        path,
        [
            dataclasses.replace(
                r, pred={**r.pred, "generated": "B"}, generated={**r.generated, "text": "B", "letter": "B"}
            )
            for r in read_records(path)
        ],
    )
    assert regress(base, current, protocol="sum") == ExitCode.UNDERPOWERED  # nothing changed: p = 1
    assert regress(base, current, protocol="generated") == ExitCode.FAILED
    overall = json.loads((current / "regress" / "regress.json").read_text())["comparisons"][0]
    assert overall["protocol"] == "generated" and overall["formulation"] == "generated" and overall["delta"] == -100
    assert (
        regress(base, current, protocol="cloze_sum") == ExitCode.REFUSED
    )  # neither run measured the cloze formulation


def test_hand_edited_correct_flags_are_caught_and_recomputed(tmp_path):
    base = write_run(tmp_path / "a", [True] * 60)
    current = write_run(tmp_path / "b", [False] * 60)
    path = current / "videomme/coarse_fine/samples.jsonl"
    write_records(path, [dataclasses.replace(r, correct={p: True for p in r.correct}) for r in read_records(path)])
    summary = current / "videomme/coarse_fine/summary.json"
    os.utime(summary, (path.stat().st_mtime + 5,) * 2)  # a fresh-looking summary: only the flags lie
    assert regress(base, current) == ExitCode.FAILED
    report = json.loads((current / "regress" / "regress.json").read_text())
    assert report["comparisons"][0]["delta"] == -100
    (warning,) = report["warnings"]
    assert str(path) in warning and "60 records hold `correct` flags that disagree" in warning


def test_a_stale_summary_is_said_and_the_records_decide(tmp_path):
    """A summary older than its records (an interrupted rerun, edited records) is warned about; the records decide.
    Records with no summary at all are a run that has not finished: tests/fvlm_eval/reports/test_regress_gate.py."""
    base = write_run(tmp_path / "a", [True] * 60)
    current = write_run(tmp_path / "b", [True] * 60)
    path = current / "videomme/coarse_fine/samples.jsonl"
    summary = current / "videomme/coarse_fine/summary.json"
    os.utime(summary, (path.stat().st_mtime - 60,) * 2)
    assert regress(base, current, allow_underpowered=True) == ExitCode.OK
    assert "summary.json is older than samples.jsonl" in (current / "regress" / "regress.md").read_text()


def test_cloze_protocols_compare_only_runs_of_the_same_cloze_framing(tmp_path):
    base = write_run(tmp_path / "a", [True] * 300, cloze_framing="plain")
    chat = write_run(tmp_path / "b", [True] * 300, cloze_framing="chat")
    plain = write_run(tmp_path / "c", [True] * 300, cloze_framing="plain")
    assert regress(base, chat, protocol="cloze_pmi") == ExitCode.REFUSED
    assert "cloze_framing 'plain' vs 'chat'" in (chat / "regress" / "regress.md").read_text()
    assert regress(base, chat, protocol="sum") != ExitCode.REFUSED  # the framing changes no multiple-choice number
    assert regress(base, plain, protocol="cloze_pmi") != ExitCode.REFUSED


def test_a_run_made_before_the_cloze_framing_was_a_setting_is_compared_on_the_framing_its_records_hold(tmp_path):
    """settings.json has held cloze_framing only since it became a setting: an older run of the very framing was
    refused as "cloze_framing None vs 'plain'" (exit 3); its records say which framing made them."""
    older = write_run(tmp_path / "a", [True] * 300, cloze_framing="chat")
    path = older / "videomme/coarse_fine/settings.json"
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "cloze_framing"}))
    chat = write_run(tmp_path / "b", [True] * 300, cloze_framing="chat")
    plain = write_run(tmp_path / "c", [True] * 300, cloze_framing="plain")
    assert regress(older, chat, protocol="cloze_pmi") != ExitCode.REFUSED
    assert regress(older, plain, protocol="cloze_pmi") == ExitCode.REFUSED
    assert "cloze_framing 'chat' vs 'plain'" in (plain / "regress" / "regress.md").read_text()


def test_generated_letters_read_by_different_letter_readers_are_a_settings_mismatch_not_a_drop(tmp_path):
    """The same answers read by an older reader ("A. B. C. D." as A, right) and by today's (none, wrong) were a
    significant drop of the model (exit 1): a change of the reader read as a regression."""

    def answered(run, text, letter, reader):
        path = run / "videomme/coarse_fine/samples.jsonl"
        kept = {k: v for k, v in read_records(path)[0].generated.items() if k != "reader"}
        generated = kept | {"text": text, "letter": letter} | ({"reader": reader} if reader else {})
        chosen = {"generated": letter, "circular_generated": letter}
        write_records(
            path,
            [
                dataclasses.replace(
                    r,
                    generated=generated,
                    pred={**r.pred, **chosen},
                    correct={**r.correct, **{p: letter == r.gold for p in chosen}},
                )
                for r in read_records(path)
            ],
        )
        return run

    base = answered(write_run(tmp_path / "a", [True] * 300, generated=True), "A. B. C. D.", "A", None)
    current = answered(write_run(tmp_path / "b", [True] * 300, generated=True), "A. B. C. D.", None, LETTER_READER)
    same = answered(write_run(tmp_path / "c", [True] * 300, generated=True), "A", "A", LETTER_READER)
    for protocol in ("generated", "circular_generated"):
        assert regress(base, current, protocol=protocol) == ExitCode.REFUSED
        report = json.loads((current / "regress" / "regress.json").read_text())
        assert report["verdict"] == "fail: settings mismatch" and report["exit_code"] == 3
        (mismatch,) = report["mismatches"]
        assert "videomme coarse_fine: letter readers differ or are unknown (baseline: not recorded" in mismatch
        assert (
            f"current: reader {LETTER_READER}): protocol {protocol} compares" in mismatch and "--generate" in mismatch
        )
        assert regress(same, current, protocol=protocol) == ExitCode.FAILED  # one reader: the drop is the model's
    assert regress(base, current, protocol="generated", allow_mismatch=True) == ExitCode.FAILED  # compared if asked
    assert regress(base, current, protocol="sum") != ExitCode.REFUSED  # the reader reads no multiple-choice number


def test_one_video_gives_no_certain_change_interval(tmp_path):
    base = write_run(tmp_path / "a", [True] * 6, groups=["v"] * 6)
    current = write_run(tmp_path / "b", [False] * 6, groups=["v"] * 6)
    regress(base, current, allow_underpowered=True)
    overall = json.loads((current / "regress" / "regress.json").read_text())["comparisons"][0]
    assert overall["delta"] == -100 and overall["ci95"] == [-100.0, 100.0]  # was [-100.0, -100.0]


def test_runs_whose_limit_chose_otherwise_say_so_when_they_share_too_few(tmp_path):
    """A baseline made with `--limit` before the selection became stratified shares too few questions with a run of
    the same `--limit` made after: refused (exit 4) as if the data had changed, the upgrade never named."""
    base = write_run(tmp_path / "a", [True] * 40)
    current = write_run(tmp_path / "b", [True] * 40, first_id=30)
    for run, selection in ((base, None), (current, "stratified")):
        path = run / "videomme/coarse_fine/summary.json"
        summary = json.loads(path.read_text())
        summary["manifest"].update(limit=40, **({"limit_selection": selection} if selection else {}))
        path.write_text(json.dumps(summary))
    assert regress(base, current) == 4
    text = " ".join((current / "regress" / "regress.md").read_text().split())
    assert (
        "10 questions in common, of 40 (baseline) and 40 (current): their --limit questions were chosen otherwise "
        "(baseline's round-robin, current's stratified: an earlier fvlm-eval took categories round-robin, this one "
        "in proportion to their sizes); remake the older run with this version"
    ) in text


# ----- failed questions are no answers (findings 9, #1) ------------------------------------------------------------


def fail_questions(run, indices, error="video v0.mp4 is missing", mode="coarse_fine", change=None):
    """Rewrite a constructed run as a run whose questions ``indices`` failed (as the runner records a question whose
    video is missing: no scores, no prediction, the error), or were changed by ``change`` (a record -> record); its
    summary made again from the records, its manifest and selection kept."""
    from fvlm_eval.files import write_json_atomic
    from fvlm_eval.summarize import summarize_records
    from fvlm_eval.tasks import get_benchmark

    folder = run / "videomme" / mode
    records = read_records(folder / "samples.jsonl")
    changed = []
    for i, record in enumerate(records):
        if i in indices:
            record = dataclasses.replace(
                record,
                error=error,
                pred={p: None for p in record.pred},
                scores={p: None for p in record.scores},
                correct={p: False for p in record.correct},
                cloze=None,
                generated=None,
            )
        changed.append(change(record) if change else record)
    write_records(folder / "samples.jsonl", changed)
    old = json.loads((folder / "summary.json").read_text())
    summary = summarize_records(get_benchmark("videomme"), mode, changed, len(changed)).to_json()
    summary["manifest"], summary["questions"] = old["manifest"], old["questions"]
    write_json_atomic(folder / "summary.json", summary)
    return run


def test_questions_failed_in_one_run_only_are_not_comparable_never_a_drop(tmp_path, capsys):
    """The same answers, 15 of 30 questions failing in the current run (their videos missing): regress failed the
    gate, "fail: significant drop" (exit 1), with no word of the failures in regress.md or regress.json."""
    base = write_run(tmp_path / "base", [True] * 30)
    current = fail_questions(write_run(tmp_path / "cur", [True] * 30), set(range(15)))
    assert regress(base, current) == ExitCode.UNUSABLE  # a data fault: not comparable, never a drop
    report = json.loads((current / "regress" / "regress.json").read_text())
    assert report["verdict"].startswith("not comparable: too few questions scored in both runs")
    (said,) = report["too_little_shared"]
    assert "15 questions in common that both runs scored" in said
    assert "15 questions failed in the current run only (e.g. video v0.mp4 is missing): their media or rows" in said
    overall = report["comparisons"][0]
    assert (
        overall["n"] == 15
        and overall["delta"] == 0
        and overall["failed"]
        == {
            "baseline_only": 0,
            "current_only": 15,
            "both": 0,
        }
    )
    assert "15 questions failed in the current run only" in (current / "regress" / "regress.md").read_text()


def test_a_few_failed_questions_are_left_out_and_said(tmp_path):
    """3 of 60 questions failing in the current run (fewer than --min-overlap leaves out): they were paired as lost
    answers (-5 points) without a word; now the runs are compared on the 57 both scored, and a warning counts them."""
    base = write_run(tmp_path / "base", [True] * 60)
    current = fail_questions(write_run(tmp_path / "cur", [True] * 60), {0, 1, 2})
    assert regress(base, current, max_drop=20, allow_underpowered=True) == ExitCode.OK
    report = json.loads((current / "regress" / "regress.json").read_text())
    overall = report["comparisons"][0]
    assert overall["n"] == 57 and overall["delta"] == 0 and overall["lost"] == []
    assert [w for w in report["warnings"] if "3 questions failed in the current run only" in w and "57" in w]


@pytest.mark.parametrize(
    "error",
    [
        "the model gave log-probabilities that are NaN or infinite (cloze, option A): diverged weights, or an "
        "overflow in this dtype; no prediction is made from them",
        "scoring failed: RuntimeError: CUDA out of memory",
        "vision encode failed: RuntimeError: CUDA out of memory",
    ],
)
def test_a_question_the_model_failed_on_is_its_answer_counted_wrong(tmp_path, error):
    """A checkpoint whose log-probabilities were NaN on 20 of 60 questions (diverged) passed the gate: its failures
    were left out as "a data fault, not a model change" and the rest compared; they are its answers, wrong."""
    base = write_run(tmp_path / "base", [True] * 60)
    current = fail_questions(write_run(tmp_path / "cur", [True] * 60), set(range(20)), error=error)
    assert regress(base, current, max_drop=5) == ExitCode.FAILED
    overall = json.loads((current / "regress" / "regress.json").read_text())["comparisons"][0]
    assert overall["n"] == 60 and len(overall["lost"]) == 20 and overall["failed"]["current_only"] == 0
    warnings = json.loads((current / "regress" / "regress.json").read_text())["warnings"]
    assert [w for w in warnings if "20 questions the model failed on in the current run" in w and "counted wrong" in w]


def test_regress_output_naming_a_file_says_so(tmp_path, capsys):
    """`regress --output afile` said "cannot write afile/regress.md: File exists": the path, not the problem."""
    from fvlm_eval.cli import main

    base, current = write_run(tmp_path / "a", [True] * 60), write_run(tmp_path / "b", [True] * 60)
    (tmp_path / "afile").write_text("x")
    args = ["regress", "--baseline", base, "--current", current, "--allow-underpowered"]
    assert main([str(a) for a in [*args, "--output", tmp_path / "afile"]]) == ExitCode.USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert f"cannot write {tmp_path / 'afile'}: a file, not a folder; the verdict above (exit 0)" in line
    assert "File exists" not in line


def test_a_log_gets_the_report_unwrapped(tmp_path, capsys):
    """Where stdout is not a terminal (a CI log) rich rendered the Markdown at 80 columns: lines padded with spaces
    and the path of regress.md broken in two, so a path copied from the log did not exist."""
    from fvlm_eval.cli import main

    base, current = write_run(tmp_path / "a", [True] * 60), write_run(tmp_path / "b", [True] * 60)
    folder = tmp_path / ("a-rather-long-folder-name-for-the-regression-report-of-checkpoint-" + "0" * 40)
    args = ["regress", "--baseline", base, "--current", current, "--allow-underpowered", "--output", folder]
    assert main([str(a) for a in args]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("fvlm-eval regression: pass")
    assert any(line.endswith(f": {folder / 'regress.md'}") for line in out.splitlines())
    assert not any(line != line.rstrip() for line in out.splitlines())


def test_nothing_scored_in_both_at_min_overlap_0_says_none(tmp_path):
    """`--min-overlap 0` with no question scored in both runs said "(below 0% of a run)"."""
    base = write_run(tmp_path / "base", [True] * 30)
    current = fail_questions(write_run(tmp_path / "cur", [True] * 30), set(range(30)))
    assert regress(base, current, min_overlap=0.0) == ExitCode.UNUSABLE
    verdict = json.loads((current / "regress" / "regress.json").read_text())["verdict"]
    assert verdict.startswith("not comparable: too few questions scored in both runs (none;") and "0%" not in verdict
