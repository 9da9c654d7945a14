"""Every layout parses to the expected questions; prompts are pinned by golden snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fvlm_eval.tasks import DataMissing, get_benchmark, write_fixtures
from fvlm_eval.tasks.base import coverage_counts
from fvlm_eval.tasks.fixtures.mvbench import write_mvbench
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from fvlm_eval.tasks.fixtures.videomme import write_videomme
from fvlm_eval.tasks.prepare import verify

GOLDEN = Path(__file__).parent / "golden_prompts.json"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_fixtures(root, faults=True)
    write_mvbench(root / "precut", "precut")
    write_scienceqa(root / "original", "original", faults=True)
    return root


def by_id(questions):
    return {q.id: q for q in questions}


def test_mvbench_main_layout(data):
    loaded = get_benchmark("mvbench").load(data)
    questions = by_id(loaded.questions)
    q = questions["mvbench/action_sequence/0"]
    assert q.gold == "D" and q.letters == ("A", "B", "C", "D") and q.error is None
    assert q.media.bound == (0.5, 2.5) and q.media.path.endswith("video/star/Charades_v1_480/6H78U.mp4")
    assert q.field_dict() == {"task": "action_sequence"}
    assert questions["mvbench/object_interaction/0"].media.path.endswith(
        "video/data0613/star/Charades_v1_480/ZZ0613.mp4"
    )
    assert questions["mvbench/episodic_reasoning/0"].media.kind == "frame_folder"
    assert questions["mvbench/action_antonym/0"].media.path.endswith(".webm")
    clevrer = questions["mvbench/object_existence/0"].media
    perception = questions["mvbench/object_shuffle/0"].media
    assert clevrer.key != perception.key and clevrer.path != perception.path  # same file name, two folders
    assert questions["mvbench/moving_count/0"].media.key == clevrer.key  # one decode for both questions
    assert "fine_grained_pose: fine_grained_pose.json absent" in loaded.notes


def test_mvbench_bad_rows_are_recorded_not_dropped(data):
    questions = by_id(get_benchmark("mvbench").load(data).questions)
    assert "matches no candidate" in questions["mvbench/action_sequence/2"].error
    assert "action_sequence.json[2]" in questions["mvbench/action_sequence/2"].error
    assert "escapes the data folder" in questions["mvbench/action_sequence/3"].error
    assert "missing video" in questions["mvbench/action_sequence/4"].error
    missing = questions["mvbench/unexpected_action/1"]  # found missing when decoded (a frame cache may hold it)
    assert missing.error is None and missing.media.looked_in and not Path(missing.media.path).exists()
    assert questions["mvbench/unexpected_action/0"].error is None  # corrupt: found at decode time


def test_mvbench_precut_layout_reads_its_own_folder_names(data):
    questions = by_id(get_benchmark("mvbench").load(data / "precut").questions)
    q = questions["mvbench/action_sequence/0"]
    assert (
        q.media.bound is None
        and q.media.path.endswith("video/star/Charades_segment/6H78U_0.5_2.5.mp4")
        and q.gold == "D"
    )
    episodic = questions["mvbench/episodic_reasoning/0"].media
    assert episodic.kind == "video" and episodic.path.endswith(
        "tvqa/video_fps3_hq_segment/castle_s07e04_seg02_clip_14_1.0_6.0.mp4"
    )
    assert questions["mvbench/action_antonym/0"].media.path.endswith("ssv2_video_mp4/74225.mp4")
    assert questions["mvbench/object_interaction/0"].media.path.endswith("data0613/star/Charades_segment/ZZ0613.mp4")
    assert all(q.error is None and Path(q.media.path).exists() for q in questions.values())


def write_rows(tmp_path, task, rows):
    write_mvbench(tmp_path)
    (tmp_path / f"mvbench/json/{task}.json").write_text(json.dumps(rows))
    return by_id(get_benchmark("mvbench").load(tmp_path).questions)


def test_mvbench_answer_equal_to_two_candidates_takes_the_last_as_the_official_code(tmp_path):
    row = {"video": "video_10142.mp4", "question": "Which?", "candidates": ["yes", "no", "yes"], "answer": "yes"}
    q = write_rows(tmp_path, "object_existence", [row])["mvbench/object_existence/0"]
    assert q.error is None and q.gold == "C"
    assert any("equals candidates A, C" in note and "official" in note for note in q.notes)
    (said,) = [note for note in verify(get_benchmark("mvbench"), tmp_path, probe=False).notes if "with a note" in note]
    assert said.startswith("1 question(s) read with a note (kept in their records), e.g. object_existence.json[0]: ")


@pytest.mark.parametrize(
    "row, message",
    [
        (
            {"video": "v.mp4", "question": "Q?", "candidates": ["a", "b"], "answer": "a", "start": 5.0, "end": 2.0},
            "after end",
        ),
        ({"video": "v.mp4", "question": "Q?", "candidates": ["a"], "answer": "a"}, "2 to 5"),
        ({"video": "v.mp4", "question": "Q?", "candidates": "ab", "answer": "a"}, "2 to 5"),
        ({"video": "v.mp4", "question": 7, "candidates": ["a", "b"], "answer": "a"}, "question must be a string"),
        ({"video": "", "question": "Q?", "candidates": ["a", "b"], "answer": "a"}, "non-empty"),
        (
            {"video": "v.mp4", "question": "Q?", "candidates": ["a", "b"], "answer": "a", "start": "x", "end": 2},
            "not numbers",
        ),
        (["not", "an", "object"], "not an object"),
        # read as the options "None" and "" (a null answer matched "None": a question about nothing, scored)
        ({"video": "v.mp4", "question": "Q?", "candidates": [None, "b"], "answer": None}, "candidates[0] must be a"),
        ({"video": "v.mp4", "question": "Q?", "candidates": ["", "b"], "answer": ""}, "candidates[0] must be a"),
        ({"video": "v.mp4", "question": "Q?", "candidates": ["a", "b"], "answer": None}, "answer must be a non-empty"),
    ],
)
def test_mvbench_malformed_rows_are_named(tmp_path, row, message):
    q = write_rows(tmp_path, "object_existence", [row])["mvbench/object_existence/0"]
    assert message in q.error and "object_existence.json[0]" in q.error


def test_mvbench_numbers_as_candidates_are_read_as_their_text_as_the_official_code_compares_them(tmp_path):
    row = {"video": "video_10142.mp4", "question": "How many?", "candidates": [3, 2, 4], "answer": 2}
    q = write_rows(tmp_path, "object_existence", [row])["mvbench/object_existence/0"]
    assert q.error is None and q.gold == "B" and [o.text for o in q.options] == ["3", "2", "4"]


def test_annotation_files_with_a_byte_order_mark_are_read(tmp_path):
    """A UTF-8 JSON saved with a byte-order mark (Windows editors) lost every question of its file."""
    write_mvbench(tmp_path)
    path = tmp_path / "mvbench/json/object_shuffle.json"
    before = get_benchmark("mvbench").load(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    after = get_benchmark("mvbench").load(tmp_path)
    same = [(q.id, q.question, q.options, q.gold, q.error) for q in before.questions]
    assert after.problems == () and [(q.id, q.question, q.options, q.gold, q.error) for q in after.questions] == same


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', "\xff\xfe\x00garbage"])
def test_unreadable_annotation_file_is_a_problem_with_its_expected_questions(tmp_path, content):
    write_mvbench(tmp_path)
    (tmp_path / "mvbench/json/object_shuffle.json").write_bytes(content.encode("latin-1"))
    loaded = get_benchmark("mvbench").load(tmp_path)
    (problem,) = loaded.problems
    assert problem["file"].endswith("object_shuffle.json") and problem["expected"] == 200


def test_repeated_question_ids_are_disambiguated_loudly(tmp_path):
    import pandas as pd

    write_videomme(tmp_path)
    path = tmp_path / "videomme/videomme/test-00000-of-00001.parquet"
    frame = pd.read_parquet(path)
    frame.loc[1, "question_id"] = frame.loc[0, "question_id"]
    frame.to_parquet(path)
    loaded = get_benchmark("videomme").load(tmp_path)
    ids = [q.id for q in loaded.questions]
    assert len(ids) == len(set(ids)) and "videomme/001-1#2" in ids
    assert any("duplicate question id videomme/001-1" in note for note in loaded.notes)


def test_videomme_row_with_more_options_than_letters_is_a_row_error(tmp_path):
    import pandas as pd

    write_videomme(tmp_path)
    path = tmp_path / "videomme/videomme/test-00000-of-00001.parquet"
    frame = pd.read_parquet(path)
    frame.at[1, "options"] = [f"{chr(65 + i) if i < 10 else 'K'}. choice {i}" for i in range(11)]
    frame.to_parquet(path)
    questions = get_benchmark("videomme").load(tmp_path).questions  # no IndexError: the other rows load
    bad = [q for q in questions if q.error and "11 options" in q.error]
    assert len(bad) == 1 and "test-00000-of-00001.parquet[1]" in bad[0].error and bad[0].gold is None
    assert sum(q.error is None for q in questions) >= 1


@pytest.mark.parametrize(
    "answer, gold, problem",
    [
        (1, "B", None),
        (1.0, "B", None),
        (1.5, None, "not a whole number"),
        (True, None, "not an index"),
        ("1", None, "not a whole number"),
        (7, None, "out of range"),
    ],
)
def test_scienceqa_answer_index_must_be_whole(tmp_path, answer, gold, problem):
    write_scienceqa(tmp_path, "original")
    problems = json.loads((tmp_path / "scienceqa/problems.json").read_text())
    problems["1"]["answer"] = answer
    (tmp_path / "scienceqa/problems.json").write_text(json.dumps(problems))
    q = by_id(get_benchmark("scienceqa").load(tmp_path).questions)["scienceqa/1"]
    assert q.gold == gold
    assert (q.error is None) if problem is None else (problem in q.error and "problems.json[1]" in q.error)


def test_videomme_layout(data):
    task = get_benchmark("videomme")
    loaded = task.load(data)
    questions = by_id(loaded.questions)
    assert len(questions) == 9 and "expected 2700" in loaded.notes[0]
    q = questions["videomme/001-1"]
    assert q.group == "videomme/fFjv93ACGo8" and q.options[0].text == "Apples." and q.options[0].answer == "A. Apples."
    assert q.field_dict() == {
        "duration": "short",
        "domain": "Knowledge",
        "sub_category": "Humanity & History",
        "task_type": "Counting Problem",
    }
    assert questions["videomme/002-1"].media.path.endswith(".MP4")
    assert "not one of the option letters" in questions["videomme/001-2"].error
    assert questions["videomme/003-1"].error is None  # the .mkv left out with faults: missing when decoded
    with_subtitles = by_id(get_benchmark("videomme", subtitles=True).load(data).questions)["videomme/001-1"]
    assert with_subtitles.subtitles == ((0.0, 1.5, "Welcome to video 001."), (1.5, 3.0, "Count the apples with me."))


@pytest.mark.parametrize(
    "content, said",
    [
        ("1\n00:00:00,000 --> 00:00:01,500\nWelcome\n".encode("utf-16"), "is UTF-16 (a byte-order mark), not UTF-8"),
        (b"1\n00:00:00,000 --> 00:00:01,500\nCaf\xe9\n", "is not UTF-8 text (byte 35)"),
        (b"\x8f\x03garbage\x00\x01", "is not UTF-8 text"),
        (b"just some words, no timing lines\n", "holds no subtitle entry"),
    ],
)
def test_a_subtitle_file_that_cannot_be_read_fails_its_questions_by_name(tmp_path, content, said):
    """Read with errors="replace", a UTF-16 or garbage .srt became no subtitles: exit 0, another prompt, no note."""
    write_videomme(tmp_path)
    (tmp_path / "videomme" / "subtitle" / "fFjv93ACGo8.srt").write_bytes(content)
    questions = by_id(get_benchmark("videomme", subtitles=True).load(tmp_path).questions)
    error = questions["videomme/001-1"].error
    assert error and f"subtitle/fFjv93ACGo8.srt {said}" in error
    assert questions["videomme/002-1"].error is None  # another video's subtitles are fine
    assert by_id(get_benchmark("videomme").load(tmp_path).questions)["videomme/001-1"].error is None  # not asked for


def test_a_subtitle_file_that_is_a_broken_link_fails_its_questions(tmp_path):
    """A subtitle link to nowhere (or a loop) was read as "no subtitles": the questions asked without, silently."""
    write_videomme(tmp_path)
    path = tmp_path / "videomme" / "subtitle" / "fFjv93ACGo8.srt"
    path.unlink()
    path.symlink_to(tmp_path / "nowhere.srt")
    q = by_id(get_benchmark("videomme", subtitles=True).load(tmp_path).questions)["videomme/001-1"]
    assert q.error and "subtitle/fFjv93ACGo8.srt is a broken link" in q.error and "nowhere.srt" in q.error


def test_a_subtitle_file_with_a_utf8_byte_order_mark_or_empty_reads(tmp_path):
    write_videomme(tmp_path)
    path = tmp_path / "videomme" / "subtitle" / "fFjv93ACGo8.srt"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    q = by_id(get_benchmark("videomme", subtitles=True).load(tmp_path).questions)["videomme/001-1"]
    assert q.error is None and q.subtitles[0] == (0.0, 1.5, "Welcome to video 001.")
    path.write_bytes(b"")
    q = by_id(get_benchmark("videomme", subtitles=True).load(tmp_path).questions)["videomme/001-1"]
    assert q.error is None and q.subtitles == ()


def test_videomme_subtitles_follow_the_official_rule():
    from fvlm_eval.tasks.videomme import subtitle_lines

    lines = ((0.0, 1.5, "one"), (1.5, 3.0, "two"), (10.0, 12.0, "three"))
    assert subtitle_lines(lines, (0.2, 0.9, 11.0)) == ["one", "three"]  # only lines shown at the sampled times, once
    assert subtitle_lines(lines, (1.5,)) == ["two"]  # start <= t < end
    assert subtitle_lines(lines, (5.0,)) == []
    assert subtitle_lines(lines, None) == ["one", "two", "three"]


@pytest.mark.parametrize("layout", ["parquet", "original"])
def test_scienceqa_layouts(data, layout):
    root = data if layout == "parquet" else data / "original"
    questions = get_benchmark("scienceqa").load(root).questions
    assert len(questions) == 6  # test problems with an image only
    first = questions[0]
    assert first.id == ("scienceqa/0" if layout == "parquet" else "scienceqa/1")
    assert first.gold == "A" and first.field_dict()["subject"] == "social science"
    assert first.media.kind == "image"
    assert (first.media.data is not None) == (layout == "parquet")
    counts = coverage_counts(get_benchmark("scienceqa"), questions)
    assert counts["natural science"] == (3, 0, 1209)  # the image left out (original, faults) is missing when decoded


def test_missing_benchmark_names_where_it_looked(tmp_path):
    for name in ("mvbench", "videomme", "scienceqa"):
        with pytest.raises(DataMissing, match=str(tmp_path)):
            get_benchmark(name).load(tmp_path)


def test_a_benchmark_with_no_hub_copy_is_never_said_to_be_fetched_by_prepare(monkeypatch):
    """A plugin placed by hand (docs/extending.md's MyQA) missing its data was told "`fvlm-eval prepare myqa
    --data-dir ...` fetches it", which answers that myqa has no hub copy to download."""
    from dataclasses import dataclass

    from fvlm_eval.tasks import BENCHMARKS, prepare_command
    from fvlm_eval.tasks.base import Benchmark

    @dataclass
    class ByHand(Benchmark):
        name: str = "byhand"

        def hub(self):
            raise NotImplementedError("ByHand is placed by hand")

    monkeypatch.setitem(BENCHMARKS, "byhand", ByHand)
    assert prepare_command("byhand", "/x") == (
        "byhand has no hub copy to download (ByHand is placed by hand): place it under /x/byhand"
    )
    assert prepare_command("scienceqa", "/x") == "`fvlm-eval prepare scienceqa --data-dir /x` fetches it"
    assert prepare_command("scienceqa", "data") == "`fvlm-eval prepare scienceqa` fetches it"


def test_a_benchmark_registered_by_hand_as_a_folder_report_writes_is_refused(monkeypatch):
    """``BENCHMARKS["report"] = Report`` goes through the entry points' checks: its records went into ``<run>/report/``,
    the folder ``fvlm-eval report`` writes its files into by default."""
    from dataclasses import dataclass

    from fvlm_eval.tasks import BENCHMARKS, registration_refusal
    from fvlm_eval.tasks.base import Benchmark

    @dataclass
    class Report(Benchmark):
        name: str = "report"

    monkeypatch.setitem(BENCHMARKS, "report", Report)
    assert registration_refusal("report") == (
        "BENCHMARKS['report'] = Report: 'report' is the folder `fvlm-eval report` writes into a run folder by default: "
        "give the benchmark another name"
    )


# Every built-in benchmark, on its fixture written with faults.
NAMES = ("mvbench", "videomme", "scienceqa", "perceptiontest", "mlvu", "tempcompass", "tempcompass_yes_no")
NAMES += ("nextqa", "egoschema")


def current_prompts(data):
    prompts = {}
    for name in NAMES:
        task = get_benchmark(name)
        for q in task.load(data).questions:
            if q.options:
                prompts[q.id] = task.prompt(q)
    task = get_benchmark("videomme", subtitles=True)
    q = by_id(task.load(data).questions)["videomme/001-1"]
    prompts["videomme/001-1+subtitles"] = task.prompt(q, (0.5, 1.0, 20.0))
    return prompts


def test_prompts_match_golden_snapshots(data):
    prompts = current_prompts(data)
    golden = json.loads(GOLDEN.read_text())
    assert prompts == golden


def test_prompt_shapes_follow_the_spec(data):
    prompts = current_prompts(data)
    assert prompts["mvbench/action_sequence/0"] == (
        "What happened after the person took the food?\nA. Ate the medicine.\n"
        "B. Tidied up the blanket.\nC. Put down the cup/glass/bottle.\nD. Took the box."
    )
    assert prompts["videomme/001-1"].endswith(
        "\nA. Apples.\nB. Candles.\nC. Berries.\nD. The three kinds are of the same number."
    )
    assert "A. A. " not in prompts["videomme/001-1"]
    assert prompts["scienceqa/1"].startswith("Context: The passage below describes an experiment.\nIdentify")
    assert prompts["scienceqa/0"].startswith("Which of these states")
    assert not any(p.endswith("\n") for p in prompts.values())


def test_an_exactly_repeated_row_counts_once(tmp_path):
    import pandas as pd

    write_videomme(tmp_path)
    path = tmp_path / "videomme/videomme/test-00000-of-00001.parquet"
    frame = pd.read_parquet(path)
    pd.concat([frame, frame.iloc[[0]]], ignore_index=True).to_parquet(path)
    loaded = get_benchmark("videomme").load(tmp_path)
    assert len(loaded.questions) == 9 and len({q.id for q in loaded.questions}) == 9
    assert any("the same question repeated, counted once" in note for note in loaded.notes)


def test_scienceqa_split_lists_a_problem_twice_or_one_that_is_not_there(tmp_path):
    write_scienceqa(tmp_path, "original")
    splits = json.loads((tmp_path / "scienceqa/pid_splits.json").read_text())
    splits["test"] += ["1", "1", "999"]
    (tmp_path / "scienceqa/pid_splits.json").write_text(json.dumps(splits))
    problems = json.loads((tmp_path / "scienceqa/problems.json").read_text())
    problems["5"] = "not an object"
    (tmp_path / "scienceqa/problems.json").write_text(json.dumps(problems))
    questions = by_id(get_benchmark("scienceqa").load(tmp_path).questions)
    assert [i for i in questions if i.split("#")[0] == "scienceqa/1"] == ["scienceqa/1"]  # once, not three times
    assert "absent from problems.json" in questions["scienceqa/999"].error
    assert "not an object" in questions["scienceqa/5"].error


def test_scienceqa_choices_given_as_an_object_or_a_null_problem_are_named_failures(tmp_path):
    write_scienceqa(tmp_path, "original")
    problems = json.loads((tmp_path / "scienceqa/problems.json").read_text())
    problems["1"]["choices"] = {"West Virginia": 0, "Louisiana": 1}  # not its keys as options
    problems["5"] = None
    (tmp_path / "scienceqa/problems.json").write_text(json.dumps(problems))
    questions = by_id(get_benchmark("scienceqa").load(tmp_path).questions)
    dict_choices = questions["scienceqa/1"]
    assert dict_choices.error.startswith("malformed row problems.json[1]: choices must be a list, not {")
    assert dict_choices.options == () and dict_choices.gold is None
    assert questions["scienceqa/5"].error == "problems.json[5]: test problem is null, not an object"


def test_scienceqa_splits_of_the_wrong_shape_are_a_problem(tmp_path):
    write_scienceqa(tmp_path, "original")
    (tmp_path / "scienceqa/pid_splits.json").write_text(json.dumps({"test": 5}))
    (problem,) = get_benchmark("scienceqa").load(tmp_path).problems
    assert "problems.json" in problem["file"] and "'test' must be a list" in problem["error"]


@pytest.mark.parametrize("video", ["/etc/passwd", "../../../../etc/passwd", "a/../../../b.mp4"])
def test_mvbench_paths_leaving_the_data_folder_are_refused(tmp_path, video):
    q = write_rows(
        tmp_path, "object_existence", [{"video": video, "question": "Q?", "candidates": ["a", "b"], "answer": "a"}]
    )["mvbench/object_existence/0"]
    assert "escapes the data folder" in q.error


GOLDEN_CLOZE = Path(__file__).parent / "golden_cloze_prompts.json"


def current_cloze_prompts(data, tokenizer) -> dict[str, str]:
    """Every question's cloze prompt (no options), and, for one question per benchmark, the whole text
    fVLM is given in each framing (the real SmolLM2 chat template), answer included."""
    from fvlm_eval.models.chat_tokens import ChatTokens
    from fvlm_eval.models.fvlm import SYSTEM_PROMPT

    def render(user, answer=None):  # fVLM's chat: FVLMAdapter.render
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
        messages += [{"role": "assistant", "content": answer}] if answer is not None else []
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None)

    tokens = ChatTokens(tokenizer, render)
    prompts = {}
    for name in NAMES:
        task = get_benchmark(name)
        questions = [q for q in task.load(data).questions if q.options]
        for q in questions:
            prompts[q.id] = task.cloze_prompt(q)
        first = questions[0]
        for framing in ("plain", "chat"):
            answer = tokenizer.decode(tokens.cloze_answer(first.options[0].text, framing))
            prompts[f"{first.id}+{framing}"] = tokens.cloze_prompt(task.cloze_prompt(first), framing) + answer
    task = get_benchmark("videomme", subtitles=True)
    q = by_id(task.load(data).questions)["videomme/001-1"]
    prompts["videomme/001-1+subtitles"] = task.cloze_prompt(q, (0.5, 1.0, 20.0))
    return prompts


def test_cloze_prompts_match_golden_snapshots(data, tokenizer):
    assert current_cloze_prompts(data, tokenizer) == json.loads(GOLDEN_CLOZE.read_text())


def test_cloze_prompts_list_no_options(data, tokenizer):
    prompts = current_cloze_prompts(data, tokenizer)
    assert prompts["mvbench/action_sequence/0"] == "Question: What happened after the person took the food?"
    assert prompts["mvbench/action_sequence/0+plain"].endswith(
        "Question: What happened after the person took the food?\nAnswer: Ate the medicine."
    )
    chat = prompts["mvbench/action_sequence/0+chat"]
    assert chat.endswith(
        "<|im_start|>user\nQuestion: What happened after the person took the food?<|im_end|>\n"
        "<|im_start|>assistant\nAte the medicine."
    )
    for key, prompt in prompts.items():
        assert "\nA. " not in prompt and "\nB. " not in prompt, key
