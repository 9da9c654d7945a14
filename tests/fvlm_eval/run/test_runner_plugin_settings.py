"""A plugin benchmark's ``settings()`` that settings.json cannot hold as it is: one line naming the benchmark, its
plugin and the key, that benchmark not scored, the run's others going on (``tasks.own_code.settings_checked``); and
a benchmark whose own code calls ``sys.exit``."""

from __future__ import annotations

import json

import pytest

from fvlm_eval.errors import ExitCode
from fvlm_eval.tasks.fixtures.media import png_bytes
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.fvlm_eval.run.test_plugin_benchmarks import QUIZ, ROWS, ran
from tests.plugins import plugins_on_path, write_distribution

NOT_SCORED = "it is not scored (the run's other benchmarks go on)"


@pytest.fixture()
def data(tmp_path):
    """The quiz's questions and images, and ScienceQA's fixture beside them."""
    folder = tmp_path / "data" / "quiz"
    folder.mkdir(parents=True)
    rows = []
    for seed, (name, text, options, answer, subject) in enumerate(ROWS):
        (folder / f"{name}.png").write_bytes(png_bytes(seed))
        rows.append({"id": name, "image": f"{name}.png", "question": text, "options": options, "answer": answer})
        rows[-1]["subject"] = subject
    (folder / "questions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_scienceqa(tmp_path / "data")
    return tmp_path / "data"


def _settings_plugin(folder, returned: str):
    """The distribution ``settings-plugins`` with one benchmark, ``unjson``, whose settings() returns ``returned``
    (Python source) added to the base class's."""
    source = (
        QUIZ
        + "\n\n@dataclass\nclass Unjson(Quiz):\n    name: str = 'unjson'\n\n    def settings(self):\n"
        + f"        return {{**super().settings(), **{returned}}}\n"
    )
    return write_distribution(
        folder / "site", "settings-plugins", {"fvlm_eval.benchmarks": {"unjson": "quiz:Unjson"}}, {"quiz.py": source}
    )


@pytest.mark.parametrize(
    "returned, said",
    [
        ("{'annotations': Path('questions.jsonl')}", "(annotations: PosixPath)"),
        ("{'x': object()}", "(x: object)"),
        ("{'sizes': {'small': [1, (2, 3)]}}", "(sizes.small[1]: tuple)"),
        ("{'by_size': {8: 'fps'}}", "(by_size: a key 8 of type int)"),
        ("{'threshold': float('nan')}", "(threshold: nan)"),
        (
            "{'root': 'caf\\udce9'}",
            "(root: text that is not UTF-8 ('caf\\udce9'))",
        ),  # a non-UTF-8 byte, as Python reads it
        ("{'seed': 10**5000}", "(seed: a number of over 4,000 digits)"),
    ],
)
def test_a_settings_value_that_is_not_json_is_one_line_naming_the_key_and_the_others_go_on(
    tmp_path, model_dir, data, returned, said
):
    """A settings() holding a Path (or any value json cannot write) raised a raw TypeError when settings.json was
    written: the whole run ended (exit 1, "an unexpected error ... report it" from the CLI), no benchmark of it
    scored, neither the benchmark nor its plugin named. One that json writes but reads back otherwise (a tuple, a key
    that is not text, NaN) was scored once and refused at every resume, the whole run with it."""
    with plugins_on_path(_settings_plugin(tmp_path, returned), ("quiz",)):
        outcome = ran(model_dir, data, tmp_path / "out", "unjson", "scienceqa")
    assert outcome.exit_code == ExitCode.FAILED
    assert set(outcome.summaries) == {("scienceqa", "coarse_only")}
    (line,) = [m for m in outcome.messages if m.startswith("unjson (plugin settings-plugins 0.1.0): ")]
    assert f"settings() gave a value that is not JSON {said}, so settings.json cannot hold it; {NOT_SCORED}" in line
    assert not (tmp_path / "out" / "unjson").exists()


def test_a_settings_value_changed_to_a_tuple_refuses_that_benchmark_not_the_whole_run(tmp_path, model_dir, data):
    """The up-front check of every benchmark's folder compared a settings() now holding a tuple with the list that
    settings.json reads back: the whole run was refused (exit 3, nothing scored) for one plugin's settings; its
    ``except Exception: break`` also hid any other error of that check."""
    with plugins_on_path(_settings_plugin(tmp_path / "v1", "{'sizes': [2, 3]}"), ("quiz",)):
        assert ran(model_dir, data, tmp_path / "out", "unjson").exit_code == ExitCode.OK
    with plugins_on_path(_settings_plugin(tmp_path / "v2", "{'sizes': (2, 3)}"), ("quiz",)):
        outcome = ran(model_dir, data, tmp_path / "out", "unjson", "scienceqa")
    assert outcome.exit_code == ExitCode.FAILED
    assert set(outcome.summaries) == {("scienceqa", "coarse_only")}
    assert any("(sizes: tuple)" in m and m.endswith(NOT_SCORED) for m in outcome.messages)


@pytest.mark.parametrize("code", [0, 3])
def test_a_plugin_that_calls_sys_exit_is_one_line_and_the_others_are_scored(tmp_path, model_dir, data, code):
    """A plugin's load() calling sys.exit(N) (a config helper's) ended the whole run silently with exit N: with 0 the
    plugin's benchmark went unscored without a word and the run "passed"; with 3 (a settings refusal, by the docs)
    nothing was printed and the benchmarks after it were lost."""
    source = QUIZ + "\n\n@dataclass\nclass Quits(Quiz):\n    name: str = 'quits'\n\n    def load(self, data_dir):\n"
    source += f"        import sys\n\n        sys.exit({code})\n"
    site = write_distribution(
        tmp_path / "site", "quitting-plugins", {"fvlm_eval.benchmarks": {"quits": "quiz:Quits"}}, {"quiz.py": source}
    )
    with plugins_on_path(site, ("quiz",)):
        outcome = ran(model_dir, data, tmp_path / "out", "quits", "scienceqa")
    assert outcome.exit_code == ExitCode.FAILED and set(outcome.summaries) == {("scienceqa", "coarse_only")}
    (line,) = [m for m in outcome.messages if m.startswith("quits (plugin quitting-plugins 0.1.0): ")]
    assert f"its load() failed reading {data / 'quits'}: SystemExit: {code} (at quiz.py:" in line
    assert line.endswith(NOT_SCORED)
