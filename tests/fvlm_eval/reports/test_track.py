"""``fvlm-eval track`` on run folders made by the real runner: steps from manifests and names,
the files, the best checkpoint and its caveat, consecutive comparisons as regress makes them."""

from __future__ import annotations

import csv
import json
from statistics import NormalDist

import pytest

from fvlm_eval import evaluate
from fvlm_eval.cli import main
from fvlm_eval.reports.track import TrackError
from fvlm_eval.reports.track.checkpoints import load_checkpoints, step_from_name
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.conftest import tiny_model

LIMIT = 5


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tokenizer):
    """Three checkpoints of a tiny random fVLM on ScienceQA: two with --step, one named by its folder."""
    root = tmp_path_factory.mktemp("track")
    data = write_scienceqa(root / "data") and root / "data"
    folders = {100: root / "runs" / "a", 200: root / "runs" / "b", 300: root / "runs" / "checkpoint-300"}
    for seed, (step, folder) in enumerate(folders.items()):
        evaluate(
            tiny_model(seed),
            "scienceqa",
            tokenizer=tokenizer,
            limit=LIMIT,
            data_dir=data,
            output_dir=folder,
            frame_cache=root / "cache",
            workers=0,
            progress=False,
            step=None if step == 300 else step,
        )
    return root / "runs", folders


def call(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out + err


@pytest.mark.parametrize(
    "name, step",
    [
        ("step_9000", 9000),
        ("checkpoint-9000", 9000),
        ("ckpt9000", 9000),
        ("global_step9000", 9000),
        ("run3-step-9000", 9000),
        ("iter_120", 120),
        ("9000", 9000),
        ("latest", None),
        ("run-2024-01-05", None),
    ],
)
def test_step_from_folder_name(name, step):
    assert step_from_name(name) == step


def test_track_writes_the_curve_the_best_checkpoint_and_the_comparisons(capsys, runs, tmp_path):
    parent, folders = runs
    code, output = call(capsys, "track", parent, "--output", tmp_path / "out", "-p", "reference", "-p", "sum")
    assert code == 0 and "best step" in output and "biased upward" in output
    checkpoints = load_checkpoints([parent])
    assert [(c.step, c.step_from) for c in checkpoints] == [(100, "manifest"), (200, "manifest"), (300, "folder name")]
    rows = list(csv.DictReader((tmp_path / "out/track.csv").open()))
    summary = json.loads((folders[200] / "scienceqa/coarse_fine/summary.json").read_text())
    assert {r["protocol"] for r in rows} == set(summary["accuracy"])
    row = next(r for r in rows if r["step"] == "200" and r["protocol"] == "reference")
    assert float(row["accuracy"]) == pytest.approx(summary["accuracy"]["reference"]["accuracy"])
    assert int(row["n"]) == LIMIT and float(row["chance"]) == pytest.approx(summary["accuracy"]["reference"]["chance"])
    report = json.loads((tmp_path / "out/track.json").read_text())
    best = next(b for b in report["best"] if b["protocol"] == "reference")
    top = max((r for r in rows if r["protocol"] == "reference"), key=lambda r: (float(r["accuracy"]), -int(r["step"])))
    assert best["step"] == int(top["step"]) and best["checkpoints"] == 3
    pairs = [p for p in report["pairs"] if p["protocol"] == "reference"]
    assert [(p["from"], p["to"]) for p in pairs] == [(100, 200), (200, 300)]
    from fvlm_eval.reports.freshness import load_run_folder
    from fvlm_eval.reports.regress import compare_pair

    expected = compare_pair(
        load_run_folder(folders[100] / "scienceqa/coarse_fine").records,
        load_run_folder(folders[200] / "scienceqa/coarse_fine").records,
        "reference",
        0,
    )
    assert pairs[0]["delta"] == pytest.approx(expected.delta) and pairs[0]["n"] == LIMIT
    assert pairs[0]["ci95"] == pytest.approx(list(expected.ci95))
    markdown = (tmp_path / "out/track.md").read_text()
    # each pair on its own at the raw alpha, with the test's detectable drop: not the gate regress is
    assert (
        "not adjusted over the pairs" in " ".join(markdown.split())
        and "as `fvlm-eval regress` compares" not in markdown
    )
    assert "biased upward" in markdown and "half A" in markdown and "confirmed on half B" in markdown
    assert "| 100 → 200 | reference |" in markdown and "chance" in markdown
    from PIL import Image

    with Image.open(tmp_path / "out/track.png") as image:
        assert image.size[0] > 300 and image.size[1] > 200


def test_bad_input_is_one_line(capsys, runs, tmp_path):
    parent, folders = runs
    code, output = call(capsys, "track", tmp_path / "missing")
    assert code == 1 and "missing: no such folder" in output
    (tmp_path / "empty").mkdir()
    code, output = call(capsys, "track", tmp_path / "empty")
    assert code == 1 and "not a run folder" in output
    import shutil

    shutil.copytree(folders[300], tmp_path / "latest")
    code, output = call(capsys, "track", folders[100], tmp_path / "latest")
    assert code == 1 and "latest: no training step" in output and "--step" in output
    shutil.copytree(folders[300], tmp_path / "step_300")
    code, output = call(capsys, "track", parent, tmp_path / "step_300")
    assert code == 1 and "two runs at step 300" in output
    code, output = call(capsys, "track", parent, "--protocol", "circular_sum")
    assert code == 1 and "--protocol circular_sum: no run measured it" in output
    code, output = call(capsys, "track", parent, "--alpha", "0")
    assert code == 2 and "--alpha" in output
    with pytest.raises(TrackError):
        load_checkpoints([])


def test_a_protocol_one_checkpoint_did_not_measure_is_not_compared(capsys, tmp_path, tokenizer):
    """A --circular run then a plain one: circular_reference is 'not measured' at the plain step and
    the pair is not compared (counting its unmeasured questions as wrong would be a silent drop)."""
    data = write_scienceqa(tmp_path / "data") and tmp_path / "data"
    for step, circular in ((1, True), (2, False)):
        evaluate(
            tiny_model(step),
            "scienceqa",
            tokenizer=tokenizer,
            limit=2,
            data_dir=data,
            output_dir=tmp_path / f"step_{step}",
            frame_cache=False,
            workers=0,
            progress=False,
            circular=circular,
        )
    code, output = call(
        capsys,
        "track",
        tmp_path / "step_1",
        tmp_path / "step_2",
        "-p",
        "circular_reference",
        "-p",
        "reference",
        "--output",
        tmp_path / "out",
    )
    assert code == 0 and "not compared" not in output  # one checkpoint measured it: its best line says so
    assert "only step 1" in output and "nothing to choose between" in output and "maximum of 1" not in output
    report = json.loads((tmp_path / "out/track.json").read_text())
    circular = [p for p in report["pairs"] if p["protocol"] == "circular_reference"]
    assert circular == [
        {
            "benchmark": "scienceqa",
            "mode": "coarse_fine",
            "protocol": "circular_reference",
            "from": 1,
            "to": 2,
            "n": None,
            "not_measured": [2],
        }
    ]
    reference = next(p for p in report["pairs"] if p["protocol"] == "reference")
    assert reference["n"] == 2 and "delta" in reference  # both measured it: compared as before
    markdown = (tmp_path / "out/track.md").read_text()
    assert "| 2 | not measured | " in markdown and "not compared: step 2 did not measure circular_reference" in markdown
    code, output = call(capsys, "track", tmp_path / "step_1", "--output", tmp_path / "one")
    assert code == 0 and "biased upward" not in output and "nothing to choose between" in output
    assert "maximum of 1" not in (tmp_path / "one/track.md").read_text()


def test_unknown_protocol_is_a_usage_error_and_a_file_is_not_a_folder(capsys, runs, tmp_path):
    parent, _ = runs
    code, output = call(capsys, "track", parent, "-p", "bogus")
    assert code == 2 and "--protocol bogus: no such protocol" in output
    (tmp_path / "file.txt").write_text("x")
    code, output = call(capsys, "track", tmp_path / "file.txt")
    assert code == 1 and "file.txt: a file, not a folder" in output


def test_a_half_without_questions_is_n_a():
    from types import SimpleNamespace

    from fvlm_eval.reports.track.analysis import half_of, split_halves

    group = next(g for g in (f"v{i}" for i in range(100)) if half_of(g) == 0)
    record = SimpleNamespace(group=group, error=None, pred={"reference": "A"}, correct={"reference": True})
    split, measured = split_halves({1: {"q": record}, 2: {"q": record}}, "reference")
    assert (
        measured is None
        and split["selected_step"] is None
        and split["confirmation_accuracy"] is None
        and split["half_sizes"] == [2, 0]
    )


# ----- track by the records (issue 23) ---------------------------------------------------------------------


def _summary(run, change):
    path = run / "videomme/coarse_fine/summary.json"
    summary = json.loads(path.read_text())
    change(summary)
    path.write_text(json.dumps(summary))


def _constructed(root, steps: dict[int, list[bool]], first_ids: dict[int, int] | None = None):
    from tests.fvlm_eval.constructed import write_run

    return {
        step: write_run(root / f"step_{step}", correct, first_id=(first_ids or {}).get(step, 0))
        for step, correct in steps.items()
    }


def test_a_hand_edited_summary_never_makes_the_best_step(capsys, tmp_path):
    runs = _constructed(tmp_path / "runs", {1: [True] * 6 + [False] * 3, 2: [True] * 3 + [False] * 6})

    def ninety_nine(summary):
        summary["accuracy"]["reference"].update(accuracy=0.99, correct=9)

    _summary(runs[2], ninety_nine)
    code, output = call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")
    assert code == 0 and "best step 1 " in output and "disagree with its records" in output
    rows = list(csv.DictReader((tmp_path / "out/track.csv").open()))
    assert {r["step"]: float(r["accuracy"]) for r in rows if r["protocol"] == "reference"} == pytest.approx(
        {"1": 6 / 9, "2": 3 / 9}
    )


def test_a_checkpoint_without_a_summary_is_read_from_its_records_and_said_so(capsys, tmp_path):
    runs = _constructed(tmp_path / "runs", {1: [True] * 3 + [False] * 6, 2: [True] * 6 + [False] * 3})
    (runs[2] / "videomme/coarse_fine/summary.json").unlink()  # killed before its summary, or still running
    code, output = call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")
    assert code == 0 and "best step 2 " in output  # it used to be dropped without a word
    assert "warning: step 2: " in output and "no summary.json beside samples.jsonl" in output
    report = json.loads((tmp_path / "out/track.json").read_text())
    assert [c["step"] for c in report["checkpoints"]] == [1, 2] and report["warnings"]
    assert "no summary.json beside samples.jsonl" in (tmp_path / "out/track.md").read_text()


def test_checkpoints_made_with_other_settings_are_said_and_not_compared(capsys, tmp_path):
    """Step 400 sampled 4 frames, step 200 sixteen: track compared them ("-33.3, no significant change") without a
    word, where regress refuses them (exit 3)."""
    from tests.fvlm_eval.constructed import write_run

    write_run(tmp_path / "runs/step_200", [True] * 6 + [False] * 3)
    write_run(tmp_path / "runs/step_400", [True] * 3 + [False] * 6, sampling="uniform:4")
    code, output = call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")
    assert code == 0
    said = "sampling 'uniform:64' vs 'uniform:4'"
    assert f"warning: steps 200 and 400: videomme coarse_fine made with other settings ({said})" in output
    report = json.loads((tmp_path / "out/track.json").read_text())
    (pair,) = [p for p in report["pairs"] if p["protocol"] == "reference"]
    assert pair["n"] is None and pair["settings_differ"] == [said]
    # nor ranked: it named step 200 "best" across the runs it had just called not comparable
    assert f"no best step on reference: the checkpoints were made with other settings ({said})" in output
    assert "best step 200" not in output and not report["halves"]
    assert (
        f"| 200 → 400 | reference | n/a | n/a | n/a | n/a | n/a | n/a | n/a | not compared: settings differ ({said}) |"
        in (tmp_path / "out/track.md").read_text()
    )


def test_checkpoints_on_different_questions_are_ranked_on_those_they_share(capsys, tmp_path):
    """A --limit 9 run beside a 30-question run: step 2 is better on its own 30 (60% vs 44%), but on the 9
    questions both measured it is worse; with no question in common no best step is named."""
    _constructed(
        tmp_path / "runs", {1: [True] * 4 + [False] * 5, 2: [True] * 2 + [False] * 7 + [True] * 16 + [False] * 5}
    )
    code, output = call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")
    assert code == 0 and "best step 1 on 9 shared questions" in output
    (best,) = json.loads((tmp_path / "out/track.json").read_text())["best"]
    assert best["step"] == 1 and best["shared"] == 9 and best["measured"] == {"1": 9, "2": 30}
    assert best["accuracy"] == pytest.approx(4 / 9)
    assert "on the 9 questions every checkpoint measured" in (tmp_path / "out/track.md").read_text()
    _constructed(tmp_path / "apart", {1: [True] * 9, 2: [False] * 9}, {2: 100})
    code, output = call(capsys, "track", tmp_path / "apart", "-p", "reference", "--output", tmp_path / "out2")
    assert code == 0 and "no best step on reference: the checkpoints measured no question in common" in output
    (best,) = json.loads((tmp_path / "out2/track.json").read_text())["best"]
    assert best["step"] is None and best["refused"]


@pytest.mark.parametrize(
    "step, shown",
    [
        (3.5, "3.5"),
        ("abc", "'abc'"),
        (True, "True"),
        ([1], "[1]"),
        (-1, "-1"),  # run --step takes none below 0: a hand edit, once named the best step
        (1e20, "1e+20"),  # beyond an int64: once an unexpected TypeError from numpy
        (10**20, "100000000000000000000"),
    ],
)
def test_a_manifest_step_that_is_not_a_whole_number_is_one_line(capsys, tmp_path, step, shown):
    runs = _constructed(tmp_path / "runs", {1: [True] * 3, 2: [False] * 3})
    _summary(runs[2], lambda s: s["manifest"].update(step=step))
    code, output = call(capsys, "track", tmp_path / "runs")
    assert code == 1 and f"its manifest's step {shown} is not a whole number" in output
    assert len(output.strip().splitlines()) == 1


def test_a_whole_float_step_is_that_step(tmp_path):
    runs = _constructed(tmp_path / "runs", {1: [True] * 3})
    _summary(runs[1], lambda s: s["manifest"].update(step=3000.0))
    assert [c.step for c in load_checkpoints([tmp_path / "runs"])] == [3000]


def test_a_step_in_a_folder_name_beyond_an_int64_is_one_line(capsys, tmp_path):
    """Found in the hostile round: `step_<21 digits>` made track an unexpected TypeError from numpy."""
    runs = _constructed(tmp_path / "runs", {1: [True] * 3})
    runs[1].rename(tmp_path / "runs" / "step_100000000000000000000")
    code, output = call(capsys, "track", tmp_path / "runs")
    assert code == 1 and "step_100000000000000000000: the step in its name" in output
    assert len(output.strip().splitlines()) == 1 and "unexpected" not in output


def test_a_checkpoint_that_did_not_run_a_benchmark_is_shown_not_measured(capsys, tmp_path):
    """Step 50 ran no coarse_only: its table went 10, 100 and `10 → 100` read as neighbouring checkpoints, with no
    word in the terminal, track.md or track.json (found in the audit of the reports)."""
    from tests.fvlm_eval.constructed import write_run

    for step in (10, 50, 100):
        write_run(tmp_path / f"runs/step_{step}", [True, False, True] * 3)
        if step != 50:
            write_run(tmp_path / f"runs/step_{step}", [True, False, False] * 3, mode="coarse_only")
    code, output = call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")
    said = "step 50: videomme coarse_only not measured (no run), so steps 10 → 100 are compared across it"
    assert code == 0 and f"warning: {said}" in output
    report = json.loads((tmp_path / "out/track.json").read_text())
    assert [w for w in report["warnings"] if said in w]
    pairs = {(p["mode"], p["from"], p["to"]): p for p in report["pairs"]}
    assert pairs[("coarse_only", 10, 100)]["skipped"] == [50] and pairs[("coarse_only", 10, 100)]["n"] == 9
    assert "skipped" not in pairs[("coarse_fine", 10, 50)]  # neighbours: nothing between them
    markdown = (tmp_path / "out/track.md").read_text()
    assert said in markdown
    only = markdown.split("## videomme · coarse_only")[1]
    assert "| 50 | not measured | n/a |" in only and "| 10 → 100 (step 50 not measured) | reference | 9 |" in only


def test_a_dollar_in_a_mode_is_shown_as_it_is_on_the_chart(capsys, tmp_path):
    """A mode (a folder's name) `$\\frac{$` in track.png's titles was read as mathtext: an unexpected error, exit 1."""
    from tests.fvlm_eval.constructed import write_run

    for step in (1, 2):
        write_run(tmp_path / f"runs/step_{step}", [True, False, True], mode="$\\frac{$")
    code, output = call(capsys, "track", tmp_path / "runs", "--output", tmp_path / "out")
    assert code == 0 and "unexpected" not in output and (tmp_path / "out/track.png").is_file()


def test_skipped_steps_are_listed_in_words():
    from fvlm_eval.reports.track.analysis import step_words

    assert step_words([50]) == "step 50" and step_words([50, 70]) == "steps 50 and 70"
    assert step_words([200, 300, 500]) == "steps 200, 300 and 500"  # was "steps 200 and 300 and 500"
    assert step_words(list(range(100, 1000, 100))) == "9 steps, 100 to 900"


# ----- findings 9: failed questions, --alpha both ways, other settings, no winner at chance, --output -----------------


def _pair_row(markdown: str, steps: str, protocol: str = "reference") -> str:
    return next(line for line in markdown.splitlines() if line.startswith(f"| {steps} | {protocol} |"))


def test_questions_failed_at_one_step_are_counted_and_never_a_drop(capsys, tmp_path):
    """The same answers at both steps, 15 of 30 questions failing at step 2 (their videos missing): track called it a
    "significant drop" of -50 points, and no word anywhere said a question had failed."""
    from tests.fvlm_eval.reports.test_regress import fail_questions

    runs = _constructed(tmp_path / "runs", {1: [True] * 30, 2: [True] * 30})
    fail_questions(runs[2], set(range(15)))
    code, output = call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")
    assert code == 0
    said = "step 2: videomme coarse_fine: 15 of 30 questions failed (e.g. video v0.mp4 is missing)"
    assert f"warning: {said}" in output
    report = json.loads((tmp_path / "out/track.json").read_text())
    assert [w for w in report["warnings"] if said in w]
    (pair,) = [p for p in report["pairs"] if p["protocol"] == "reference"]
    assert pair["n"] == 15 and pair["delta"] == 0 and pair["failed"] == {"from_only": 0, "to_only": 15, "both": 0}
    markdown = (tmp_path / "out/track.md").read_text()
    assert "| 2 | 50.0 [" in markdown and "(30; 15 failed)" in markdown
    row = _pair_row(markdown, "1 → 2")
    assert "| 15 |" in row and row.endswith("no significant change; ⚠ 15 failed at step 2 only: left out |")
    (best,) = report["best"]  # ranked on the 15 questions both scored, where they tie
    assert best["step"] == 1 and best["shared"] == 15 and best["failed"] == {"2": 15}
    rows = {r["step"]: r for r in csv.DictReader((tmp_path / "out/track.csv").open()) if r["protocol"] == "reference"}
    assert rows["2"]["failed"] == "15" and rows["1"]["failed"] == "0"


def test_a_checkpoint_that_diverged_on_some_questions_is_ranked_with_them_wrong(capsys, tmp_path):
    """Step 2 gave NaN log-probabilities on 10 questions: they were left out of the ranking as a data fault, so it
    ranked 100% on the rest and was named best over step 1, which answers 25 of the 30 right."""
    from tests.fvlm_eval.reports.test_regress import fail_questions

    runs = _constructed(tmp_path / "runs", {1: [True] * 25 + [False] * 5, 2: [True] * 30})
    nan = "the model gave log-probabilities that are NaN or infinite (cloze, option A): diverged weights"
    fail_questions(runs[2], set(range(10)), error=nan)
    code, _ = call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")
    assert code == 0
    report = json.loads((tmp_path / "out/track.json").read_text())
    (best,) = report["best"]
    assert best["step"] == 1 and "shared" not in best  # ranked on all 30 questions


def test_a_step_whose_questions_all_failed_reads_all_failed_and_is_passed_over(capsys, tmp_path):
    """Every question of step 2 failed: its cell read `0.0 [0.0, ...] (9)`, `1 → 2` a drop and `2 → 3` a gain, and the
    chart drew a point at 0; now `all 9 failed`, not compared, and steps 1 → 3 compared across it."""
    from tests.fvlm_eval.reports.test_regress import fail_questions

    runs = _constructed(tmp_path / "runs", {1: [True] * 9, 2: [True] * 9, 3: [True] * 9})
    fail_questions(runs[2], set(range(9)))
    code, output = call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")
    assert code == 0 and "step 2: videomme coarse_fine: all 9 questions failed" in output
    markdown = (tmp_path / "out/track.md").read_text()
    assert "| 2 | all 9 failed | n/a |" in markdown and "0.0 [0.0" not in markdown
    assert _pair_row(markdown, "1 → 2").endswith("not compared: every question failed at step 2 |")
    assert _pair_row(markdown, "2 → 3").endswith("not compared: every question failed at step 2 |")
    across = _pair_row(markdown, "1 → 3 (step 2 every question failed)")
    assert "| 9 | +0.0 |" in across and "no significant change" in across
    report = json.loads((tmp_path / "out/track.json").read_text())
    (best,) = report["best"]
    assert best["step"] == 1 and best["checkpoints"] == 2 and best["left_out"] == {"2": "every question failed"}
    rows = {r["step"]: r for r in csv.DictReader((tmp_path / "out/track.csv").open()) if r["protocol"] == "reference"}
    assert rows["2"]["accuracy"] == "" and rows["2"]["failed"] == "9"


def test_the_chart_marks_failed_steps_and_breaks_the_line_where_settings_change():
    """track.png joined every step into one line: a step made with other settings (4 frames among 64) and a step
    whose questions all failed (drawn at 0) sat on the line as if comparable."""
    from fvlm_eval.reports.track.chart import _draw_line
    from fvlm_eval.reports.track.checkpoints import Point

    calls = []

    class Axis:
        def plot(self, xs, ys, **style):
            calls.append(("plot", list(xs), list(ys), style))

        def fill_between(self, xs, low, high, **style):
            calls.append(("band", list(xs)))

        def annotate(self, text, xy, **style):
            calls.append(("note", text, xy))

    def point(step, accuracy, settings, failed=0):
        return Point(
            step,
            "r",
            "videomme",
            "coarse_fine",
            "reference",
            "multiple_choice",
            accuracy,
            0.1,
            0.9,
            3,
            9,
            0.25,
            failed=failed,
            settings=settings,
        )

    a, b = ("uniform:64",), ("uniform:4",)
    _draw_line(Axis(), [point(1, 0.5, a), point(2, 0.3, b), point(3, 0.0, a, failed=9), point(4, 0.6, a)], "C0", "r")
    lines = [c[1] for c in calls if c[0] == "plot" and c[3].get("marker") == "o"]
    assert sorted(lines) == [[1, 4], [2]]  # no line through 2 (other settings) nor a point at 0 for 3
    assert ("note", "failed", (3, 0)) in calls


def test_alpha_governs_gains_as_it_does_drops(capsys, tmp_path):
    """A gain of 10 questions to 1 (one question per video: exact sign test, one-sided p = 0.0059) was labelled
    "gain (95% interval above 0)" at --alpha 0.001 as at 0.05: gains were read off a fixed 95% interval whatever
    --alpha said; each direction is now tested at alpha / 2 (two-sided at alpha)."""
    from tests.fvlm_eval.constructed import write_run

    before = [True] * 40 + [False] * 60
    after = list(before)
    for i in range(40, 50):
        after[i] = True  # 10 gained
    after[0] = False  # 1 lost
    groups = [f"v{i}" for i in range(100)]
    for step, correct in ((1, before), (2, after)):
        write_run(tmp_path / f"up/step_{step}", correct, groups=groups)
        write_run(tmp_path / f"down/step_{step}", after if correct is before else before, groups=groups)
    verdicts = {}
    for way in ("up", "down"):
        for alpha in ("0.05", "0.001"):
            out = tmp_path / f"{way}-{alpha}"
            code, _ = call(capsys, "track", tmp_path / way, "-p", "reference", "--alpha", alpha, "--output", out)
            assert code == 0
            (pair,) = json.loads((out / "track.json").read_text())["pairs"]
            verdicts[(way, alpha)] = _pair_row((out / "track.md").read_text(), "1 → 2").rsplit("|", 2)[1].strip()
            assert pair["p_gain" if way == "up" else "p_drop"] == pytest.approx(12 / 2048)
    assert verdicts == {
        ("up", "0.05"): "significant gain",
        ("up", "0.001"): "no significant change",
        ("down", "0.05"): "significant drop",
        ("down", "0.001"): "no significant change",
    }
    text = " ".join((tmp_path / "up-0.001/track.md").read_text().split())
    assert "two-sided at alpha 0.001" in text and "below 0.0005 (alpha / 2)" in text


def test_random_models_are_called_a_significant_change_no_more_often_than_alpha():
    """Seeded null simulation: 200 pairs of "random model" runs (each answer right at random, 25%, independently in
    the two runs; 300 questions on 100 videos) must be called a significant change, either way, by track's verdict at
    a rate a true rate of alpha could give: at most the count whose binomial upper tail is above 2.5%. Drops tested at
    alpha and gains read off a 95% interval called 17 of 200 (8.5%) a change; now 6 (3.0%)."""
    import math
    import random
    from types import SimpleNamespace

    from fvlm_eval.reports.track.pairs import compare, verdict

    rng = random.Random(9)
    pairs, alpha, questions = 200, 0.05, 300

    def run():
        return {
            f"q{i}": SimpleNamespace(
                question_sha256=f"s{i}",
                error=None,
                group=f"v{i // 3}",
                pred={"reference": "A"},
                correct={"reference": rng.random() < 0.25},
            )
            for i in range(questions)
        }

    called = sum(
        verdict(compare(run(), run(), "reference", seed, alpha), alpha) != "no significant change"
        for seed in range(pairs)
    )
    tail = sum(math.comb(pairs, k) * alpha**k * (1 - alpha) ** (pairs - k) for k in range(called, pairs + 1))
    assert tail > 0.025, f"{called} of {pairs} pairs of random models called a significant change"  # 6: 3.0%


def test_a_checkpoint_with_other_settings_is_passed_over_and_the_rest_ranked(capsys, tmp_path):
    """Step 200 sampled 4 frames between two 64-frame steps: no best step was named for any protocol (one only step
    300 measured included), 100 and 300 were never compared, and the console printed a "not compared" line per
    pair for a protocol one checkpoint measured."""
    from tests.fvlm_eval.constructed import write_run

    write_run(tmp_path / "runs/step_100", [True] * 6 + [False] * 3)
    write_run(tmp_path / "runs/step_200", [True] * 3 + [False] * 6, sampling="uniform:4")
    write_run(tmp_path / "runs/step_300", [True] * 5 + [False] * 4, generated=True)
    args = ("track", tmp_path / "runs", "-p", "reference", "-p", "generated", "--output", tmp_path / "out")
    code, output = call(capsys, *args)
    assert code == 0 and "best step 100 among the checkpoints with sampling 'uniform:64'" in output
    assert "generated: only step 300" in output and "other settings (" not in output.split("generated:")[1]
    assert "did not measure" not in output  # generated: one checkpoint measured it, its best line says so
    report = json.loads((tmp_path / "out/track.json").read_text())
    best = {b["protocol"]: b for b in report["best"]}
    assert best["reference"]["step"] == 100 and best["reference"]["left_out"] == {"200": "made with other settings"}
    assert best["generated"]["step"] == 300 and "settings" not in best["generated"]
    assert [h["selected_step"] for h in report["halves"]] and report["halves"][0]["protocol"] == "reference"
    markdown = (tmp_path / "out/track.md").read_text()
    assert "| 9 |" in _pair_row(markdown, "100 → 300 (step 200 other settings)")
    assert _pair_row(markdown, "100 → 200").endswith(
        "not compared: settings differ (sampling 'uniform:64' vs 'uniform:4') |"
    )
    assert "| 100 → 200 | generated |" not in markdown  # neither measured it: no pair of it


def test_steps_that_did_not_measure_a_protocol_are_named_in_plural():
    """`not compared: step 100 and 200 did not measure it`."""
    from fvlm_eval.reports.track.pairs import verdict

    pair = {"protocol": "generated", "from": 100, "to": 200, "n": None, "not_measured": [100, 200]}
    assert verdict(pair, 0.05) == "not compared: steps 100 and 200 did not measure generated"


def test_a_best_checkpoint_not_above_chance_is_no_winner(capsys, tmp_path, monkeypatch):
    """Two checkpoints at chance (30% and 27% of 30 four-option questions, not above always answering A): step 1 was
    starred on track.png, bolded in track.md and called "best" with no ⚠; the half-B confirmation bolded a bare
    percentage with no interval or chance."""
    import matplotlib.axes

    runs = _constructed(tmp_path / "runs", {1: [True] * 9 + [False] * 21, 2: [True] * 8 + [False] * 22})
    assert runs
    markers = []
    plot = matplotlib.axes.Axes.plot
    monkeypatch.setattr(
        matplotlib.axes.Axes, "plot", lambda self, *a, **k: markers.append(k.get("marker")) or plot(self, *a, **k)
    )
    code, output = call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")
    assert code == 0 and "best step 1 (30.0%, chance 25.0% ⚠ not significantly above chance" in output
    assert "*" not in markers and "o" in markers  # drawn, never starred
    markdown = (tmp_path / "out/track.md").read_text()
    assert "**1**" not in markdown and "step 1, 30.0% [" in markdown and "no winner" in markdown
    assert "| 1 | 30.0 [" in markdown and "] ⚠ (30) |" in markdown
    halves = next(line for line in markdown.splitlines() if "confirmed on half B" in line)
    confirmed = halves.split("confirmed on half B: ")[1]
    assert confirmed.startswith(tuple("0123456789")) and "%** " not in halves  # not bolded
    assert "% [" in confirmed and ", chance 25.0%" in confirmed and "⚠" in confirmed


def test_track_output_naming_a_file_says_so(capsys, tmp_path):
    """`track --output afile` said "cannot read or write afile: File exists" (exit 1): the path, not the problem."""
    runs = _constructed(tmp_path / "runs", {1: [True] * 3, 2: [False] * 3})
    assert runs
    (tmp_path / "afile").write_text("x")
    code, output = call(capsys, "track", tmp_path / "runs", "--output", tmp_path / "afile")
    assert code == 2 and len(output.strip().splitlines()) == 1
    assert f"--output {tmp_path / 'afile'}: a file, not a folder" in output and "File exists" not in output
    code, output = call(capsys, "track", tmp_path / "runs", "--output", tmp_path / "afile" / "inner")
    assert code == 2 and f"{tmp_path / 'afile'} is a file, not a folder" in output


def test_a_run_given_twice_is_tracked_once_and_said_so(capsys, tmp_path):
    """``track A A`` (or ``A ./A/``, or A beside the folder of runs that holds it) read A once without a word:
    the user could not tell that one of the folders they named was not a checkpoint of its own."""
    runs = _constructed(tmp_path / "runs", {1: [True] * 3 + [False] * 6, 2: [True] * 6 + [False] * 3})
    code, output = call(
        capsys, "track", tmp_path / "runs", runs[2], f"{runs[2]}/", "-p", "reference", "--output", tmp_path / "out"
    )
    assert code == 0 and "best step 2 " in output
    assert output.count("given more than once; tracked once") == 2
    report = json.loads((tmp_path / "out/track.json").read_text())
    assert [c["step"] for c in report["checkpoints"]] == [1, 2]


def test_random_checkpoints_are_named_the_winner_no_more_often_than_alpha(monkeypatch):
    """Seeded null simulation: 100 tracks of 3 random checkpoints on 6 lines (2 benchmarks x 3 modes, 80 questions,
    each answer a random letter). The best step kept its own summary's verdict (Holm over that summary's protocols
    only): the maximum of 3 random checkpoints on one of 6 lines cleared it, and was bolded as the winner, in 65 of
    the 100 tracks. Now every point the track shows is one family, and every line's half-split confirmation
    another: a track of random checkpoints names a best step, or a confirmed figure, no more often than alpha
    allows."""
    import math
    import random
    from pathlib import Path

    from fvlm_eval.records import Record
    from fvlm_eval.reports.track import analysis
    from fvlm_eval.reports.track.answers import SharedValues, folder_answers
    from fvlm_eval.reports.track.checkpoints import Checkpoint
    from fvlm_eval.summarize import summarize_records
    from fvlm_eval.tasks import get_benchmark

    monkeypatch.setattr(analysis, "_pairs", lambda *args: [])  # consecutive pairs: tested on their own above
    letters, alpha, tracks = ("A", "B", "C", "D"), 0.05, 100
    rng = random.Random(3)

    def records(benchmark: str, mode: str) -> list[Record]:
        found = []
        for i in range(80):
            pred = rng.choice(letters)
            found.append(
                Record(
                    id=f"{benchmark}/{i:03d}", benchmark=benchmark, mode=mode, group=f"v{i}", gold=letters[i % 4],
                    letters=letters, fields={"task_type": "t", "task": f"t{i % 3}"},
                    scores={"reference": {x: 1.0 if x == pred else 2.0 for x in letters}}, pred={"reference": pred},
                    correct={"reference": pred == letters[i % 4]}, options=None, question_sha256="q" * 64,
                    prompt_sha256="p" * 64, source="s", source_sha256="s" * 64, frames=None, timestamps=None,
                    media_note=None, error=None, generated=None, cloze=None, circular=None, notes=(), recorded_at=0.0,
                )
            )  # fmt: skip
        return found

    def named_winners() -> tuple[bool, bool]:
        checkpoints, shared = [], SharedValues()
        for step in (100, 200, 300):
            read = {
                (b, m): records(b, m)
                for b in ("videomme", "mvbench")
                for m in ("coarse_only", "coarse_fine", "autoregressive")
            }
            summaries = {key: summarize_records(get_benchmark(key[0]), key[1], rs, len(rs)) for key, rs in read.items()}
            answers = {key: folder_answers(key[0], {r.id: r for r in rs}, None, shared) for key, rs in read.items()}
            checkpoints.append(Checkpoint(step, Path(f"step_{step}"), "manifest", summaries, answers))
        found = analysis.analyse(checkpoints, ["reference"], 0, alpha)
        best = [b for b in found["best"] if b.get("step") is not None and not b.get("flags")]
        confirmed = [h for h in found["halves"] if h.get("selected_step") is not None and not h["confirmation_flags"]]
        return bool(best), bool(confirmed)

    named = [named_winners() for _ in range(tracks)]
    for claim, called in (("best step", sum(b for b, _ in named)), ("confirmed figure", sum(c for _, c in named))):
        tail = sum(math.comb(tracks, k) * alpha**k * (1 - alpha) ** (tracks - k) for k in range(called, tracks + 1))
        assert tail > 0.025, f"{called} of {tracks} tracks of random checkpoints named a {claim}"  # 7 and 7 (65 before)


def test_a_cloze_protocol_is_never_ranked_or_paired_across_cloze_framings(capsys, tmp_path):
    """Step 100 framed the cloze prompt as a chat, step 200 plainly: track ranked them together and called the pair
    "no significant change" on cloze_pmi, where regress refuses the comparison (the prompt changed). A
    multiple-choice protocol, which the framing does not touch, is still ranked and paired across them."""
    from tests.fvlm_eval.constructed import write_run

    write_run(tmp_path / "runs/step_100", [True] * 6 + [False] * 3, cloze_framing="chat")
    write_run(tmp_path / "runs/step_200", [True] * 3 + [False] * 6, cloze_framing="plain")
    args = ("track", tmp_path / "runs", "-p", "cloze_pmi", "-p", "reference", "--output", tmp_path / "out")
    code, output = call(capsys, *args)
    assert code == 0
    report = json.loads((tmp_path / "out/track.json").read_text())
    cloze = [b for b in report["best"] if b["protocol"] == "cloze_pmi"]
    assert [b["step"] for b in cloze] == [None] and "cloze_framing 'chat' vs 'plain'" in cloze[0]["refused"]
    pairs = {p["protocol"]: p for p in report["pairs"]}
    assert pairs["cloze_pmi"]["settings_differ"] == ["cloze_framing 'chat' vs 'plain'"]
    assert "settings_differ" not in pairs["reference"] and pairs["reference"]["lost"] == 3
    markdown = (tmp_path / "out/track.md").read_text()
    assert _pair_row(markdown, "100 → 200", "cloze_pmi").endswith(
        "not compared: settings differ (cloze_framing 'chat' vs 'plain') |"
    )


def test_a_checkpoint_of_an_older_record_schema_says_the_others_can_be_tracked_without_it(capsys, tmp_path):
    """One checkpoint made by a much older fvlm-eval stopped the whole track with advice for that run alone
    ("rerun into a new --output-dir, or use that version"): leaving it out, the simplest remedy, went unsaid."""
    runs = _constructed(tmp_path / "runs", {1: [True] * 3 + [False] * 6, 2: [True] * 6 + [False] * 3})
    path = runs[1] / "videomme/coarse_fine/samples.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**row, "schema_version": 2}) + "\n" for row in rows))
    code, output = call(capsys, "track", tmp_path / "runs", "--output", tmp_path / "out")
    said = " ".join(output.split())
    assert code == 1 and "(record schema 2; this version reads" in said
    assert f"or track the other checkpoints without {runs[1]}" in said


def test_generated_answers_read_by_other_letter_readers_are_never_ranked_or_paired(capsys, tmp_path):
    """Step 100's answers were read by an older letter reader (no version recorded), step 200's by today's: track
    paired their generated letters as a change of the model, where regress refuses them (a change of reading). Two
    checkpoints whose readers are both unrecorded may differ too (regress refuses them): never ranked as one. The
    log-likelihood protocols, which no reader touches, are still paired."""
    from tests.fvlm_eval.constructed import write_run

    write_run(tmp_path / "runs/step_100", [True] * 6 + [False] * 3, generated=True)
    write_run(tmp_path / "runs/step_200", [True] * 3 + [False] * 6, generated=True)
    write_run(tmp_path / "runs/step_300", [True] * 3 + [False] * 6, generated=True)
    for step in (100, 300):
        path = tmp_path / f"runs/step_{step}/videomme/coarse_fine/samples.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            del row["generated"]["reader"]  # as a run made before readers were versioned
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, output = call(
        capsys, "track", tmp_path / "runs", "-p", "generated", "-p", "reference", "--output", tmp_path / "out"
    )
    assert code == 0 and "older letter reader" in output  # read_run's warning, once per folder
    report = json.loads((tmp_path / "out/track.json").read_text())
    generated = {(p["from"], p["to"]): p for p in report["pairs"] if p["protocol"] == "generated"}
    assert generated[(100, 200)]["settings_differ"] == ["letter_reader 'not recorded (step 100)' vs 1"]
    assert all("settings_differ" in p for p in generated.values())  # 100 -> 300 too: two unknown readers
    assert [b["step"] for b in report["best"] if b["protocol"] == "generated"] == [None]
    assert all("settings_differ" not in p for p in report["pairs"] if p["protocol"] == "reference")


def test_a_pair_holds_no_questions_needed_and_agrees_with_regress(capsys, tmp_path):
    """Every pair of track.json held `needed` (e.g. 10989): the questions a 1-point --max-drop would need, a flag
    track does not have. The rest of a pair is regress's own on the same two runs (its detectable drop the test's,
    at alpha / 2, on the spread's upper bound as regress's)."""
    from tests.fvlm_eval.reports.test_regress import fail_questions

    runs = _constructed(tmp_path / "runs", {1: [True] * 60, 2: [True] * 40 + [False] * 20})
    fail_questions(runs[2], {0, 1, 2})
    assert call(capsys, "track", tmp_path / "runs", "-p", "reference", "--output", tmp_path / "out")[0] == 0
    (pair,) = [
        p for p in json.loads((tmp_path / "out/track.json").read_text())["pairs"] if p["protocol"] == "reference"
    ]
    assert "needed" not in pair
    from fvlm_eval.reports.regress import regress

    regress(runs[1], runs[2], min_overlap=0.5, allow_underpowered=True)
    (row,) = [
        c for c in json.loads((runs[2] / "regress/regress.json").read_text())["comparisons"] if not c["breakdown"]
    ]
    for key in ("n", "videos", "baseline", "current", "delta", "ci95", "p_drop", "p_gain", "stderr", "stderr_upper"):
        assert pair[key] == pytest.approx(row[key]), key
    assert pair["stderr_upper"] > pair["stderr"] and pair["detectable_drop"] == pytest.approx(
        (NormalDist().inv_cdf(1 - 0.05 / 2) + NormalDist().inv_cdf(0.8)) * pair["stderr_upper"]
    )
