"""Plugins from installed packages (``fvlm_eval.plugins``): loaded when the registries are first used, never
by ``import fvlm_eval`` or ``fvlm-eval --help``; a plugin that cannot be used is one line naming its
distribution and entry point, the rest going on; a built-in is never shadowed. (The documented plugin
package, built by pip and run through the CLI and the API: tests/test_docs.py.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fvlm_eval.errors import ExitCode, SettingsError
from tests.plugins import plugins_on_path, write_distribution

TOY_BENCHMARK = """
from dataclasses import dataclass

from fvlm_eval.tasks.base import Benchmark


@dataclass
class ToyQA(Benchmark):
    name: str = "toyqa"
    title: str = "Toy video QA"
"""
TOY_FAMILY = """
from fvlm_eval.models.families import Family

TOY = Family("toy", "toy_adapter", hub_ids=("someone/toy-model",), model_types=("toy",))
"""
BAD = """
from dataclasses import dataclass

from fvlm_eval.models.families import Family
from fvlm_eval.tasks.base import Benchmark


@dataclass
class Clash(Benchmark):
    name: str = "mvbench"


@dataclass
class Video(Benchmark):
    name: str = "video"


@dataclass
class Misnamed(Benchmark):
    name: str = "other"


@dataclass
class Twin(Benchmark):
    name: str = "twin"


@dataclass
class CasedClash(Benchmark):
    name: str = "MVBench"


@dataclass
class CasedSuite(Benchmark):
    name: str = "ALL"


@dataclass
class Upper(Benchmark):
    name: str = "Cased"


@dataclass
class Lower(Benchmark):
    name: str = "cased"


def helper():
    pass


FVLM = Family("fvlm", "bad")
OTHER = Family("other", "bad")
"""
TWIN = """
from dataclasses import dataclass

from fvlm_eval.tasks.base import Benchmark


@dataclass
class Twin(Benchmark):
    name: str = "twin"
"""


@pytest.fixture()
def toy_site(tmp_path):
    return write_distribution(
        tmp_path / "site",
        "toy-plugins",
        {"fvlm_eval.benchmarks": {"toyqa": "toy_benchmark:ToyQA"}, "fvlm_eval.families": {"toy": "toy_family:TOY"}},
        {"toy_benchmark.py": TOY_BENCHMARK, "toy_family.py": TOY_FAMILY},
    )


@pytest.fixture()
def bad_site(tmp_path):
    site = tmp_path / "site"
    write_distribution(site, "other-plugins", {"fvlm_eval.benchmarks": {"twin": "twin_module:Twin"}}, {})
    (site / "twin_module.py").write_text(TWIN)
    return write_distribution(
        site,
        "bad-plugins",
        {
            "fvlm_eval.benchmarks": {
                "mvbench": "bad:Clash",
                "video": "bad:Video",
                "broken": "no_such_module:Thing",
                "helper": "bad:helper",
                "misnamed": "bad:Misnamed",
                "twin": "bad:Twin",
                "MVBench": "bad:CasedClash",
                "ALL": "bad:CasedSuite",
                "Cased": "bad:Upper",
                "cased": "bad:Lower",
            },
            "fvlm_eval.families": {
                "fvlm": "bad:FVLM",
                "helper": "bad:helper",
                "misnamed": "bad:OTHER",
                "gone": "gone_module",
                "hollow": "twin_module",
            },
        },
        {"bad.py": BAD},
    )


def python(code: str, site, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_plugins_load_when_a_registry_is_first_used_never_on_import_or_help(toy_site, tmp_path):
    code = """
import sys
from fvlm_eval.cli import main
import fvlm_eval.tasks, fvlm_eval.models
assert main(["--help"]) == 0 and main(["--version"]) == 0
assert "toy_benchmark" not in sys.modules and "toy_family" not in sys.modules, "imported too early"
from fvlm_eval.tasks import BENCHMARKS, PLUGINS, suite
assert "toy_benchmark" in sys.modules and BENCHMARKS["toyqa"].__name__ == "ToyQA"
assert PLUGINS.added["toyqa"].distribution == "toy-plugins 0.1.0"
assert suite("video")[-1] == "toyqa" and suite("all")[-1] == "toyqa" and "scienceqa" not in suite("video")
from fvlm_eval.models import FAMILIES, detect_family
assert FAMILIES["toy"].module == "toy_adapter" and "toy_adapter" not in sys.modules
assert detect_family("someone/toy-model") == "toy"
print("ok")
"""
    result = python(code, toy_site, tmp_path)
    assert result.stdout.splitlines()[-1] == "ok" and result.stderr == "", result.stderr


def test_the_help_and_the_listing_name_the_plugins_and_the_suites(toy_site, capsys):
    from fvlm_eval.cli import main

    with plugins_on_path(toy_site, ("toy_benchmark", "toy_family")):
        assert main(["run", "--help"]) == 0
        helped = " ".join(capsys.readouterr().out.split()).replace("│ ", "")
        assert "toyqa; or a suite: video (every video benchmark), all (every benchmark)" in helped
        assert "fvlm or smolvlm or toy" in helped
        assert main(["benchmarks", "--data-dir", "nowhere"]) == 0
        listed = capsys.readouterr().out.splitlines()
    (toy,) = [line for line in listed if line.startswith("toyqa")]
    assert toy.endswith("(plugin: toy-plugins 0.1.0)")
    assert listed[-2].split()[0] == "video" and listed[-2].endswith(" toyqa") and listed[-1].endswith(" toyqa")


BAD_BENCHMARK = "benchmark plugin '{0}' from bad-plugins 0.1.0 (entry point fvlm_eval.benchmarks: {0} = {1}) is refused"
BAD_FAMILY = "model family plugin '{0}' from bad-plugins 0.1.0 (entry point fvlm_eval.families: {0} = {1}) is refused"
REFUSED = [
    BAD_BENCHMARK.format("mvbench", "bad:Clash") + ": 'mvbench' is a built-in benchmark's name (the built-in is kept)",
    BAD_BENCHMARK.format("video", "bad:Video") + ": 'video' is the name of a suite (every video benchmark)",
    BAD_BENCHMARK.format("broken", "no_such_module:Thing")
    + ": cannot be imported: ModuleNotFoundError: No module named 'no_such_module'",
    BAD_BENCHMARK.format("helper", "bad:helper")
    + ": it gives a function, not a subclass of fvlm_eval.tasks.base.Benchmark",
    BAD_BENCHMARK.format("misnamed", "bad:Misnamed")
    + ": its class Misnamed has name 'other': the entry point must be named as the benchmark is",
    "benchmark plugins 'twin' from bad-plugins 0.1.0 (entry point fvlm_eval.benchmarks: twin = bad:Twin) and "
    "'twin' from other-plugins 0.1.0 (entry point fvlm_eval.benchmarks: twin = twin_module:Twin) all take the "
    "name 'twin': none of them is used (uninstall all but one)",
    BAD_FAMILY.format("fvlm", "bad:FVLM") + ": 'fvlm' is a built-in family's name (the built-in is kept)",
    BAD_FAMILY.format("helper", "bad:helper")
    + ": it gives a function, not a fvlm_eval.models.Family (name a Family, or the family module itself: "
    'helper = "bad")',
    BAD_FAMILY.format("misnamed", "bad:OTHER")
    + ": its Family is named 'other': the entry point must be named as the family is",
    # names that differ only in case are one folder on macOS and Windows (`run ALL` ran the plugin, not the suite)
    BAD_BENCHMARK.format("MVBench", "bad:CasedClash") + ": 'MVBench' is a built-in benchmark's name (the built-in is "
    "kept): 'mvbench' but for case, one folder where case is not told apart (macOS, Windows)",
    BAD_BENCHMARK.format("ALL", "bad:CasedSuite") + ": 'ALL' is the name of a suite (every benchmark): 'all' but for "
    "case, one folder where case is not told apart (macOS, Windows)",
    "benchmark plugins 'Cased' from bad-plugins 0.1.0 (entry point fvlm_eval.benchmarks: Cased = bad:Upper) and "
    "'cased' from bad-plugins 0.1.0 (entry point fvlm_eval.benchmarks: cased = bad:Lower) all take the name 'Cased' "
    "('Cased', 'cased': one folder where case is not told apart): none of them is used (uninstall all but one)",
]


def test_a_plugin_that_cannot_be_used_is_one_line_and_the_rest_go_on(bad_site, capsys):
    from fvlm_eval import models, tasks
    from fvlm_eval.models.base import ModelLoadError
    from fvlm_eval.run.options import check_benchmarks

    with plugins_on_path(bad_site, ("bad", "twin_module")):
        warned = capsys.readouterr().err.splitlines()
        tasks.load_plugins()
        models.load_plugins()
        again = capsys.readouterr().err
        assert tasks.BENCHMARKS["mvbench"] is tasks.BUILT_IN["mvbench"]
        assert models.FAMILIES["fvlm"].module == "fvlm_eval.models.fvlm"
        assert not {"video", "broken", "helper", "misnamed", "twin", "MVBench", "ALL", "Cased", "cased"} & set(
            tasks.BENCHMARKS
        )
        assert not {"helper", "misnamed"} & set(models.FAMILIES)
        assert check_benchmarks("mvbench") == ("mvbench",)
        with pytest.raises(SettingsError) as broken:
            check_benchmarks(["mvbench", "broken"])
        with pytest.raises(SettingsError) as twin:
            check_benchmarks("twin")
        with pytest.raises(ModelLoadError) as gone:
            models.family_module("gone")
        with pytest.raises(ModelLoadError) as hollow:
            models.family_module("hollow")
    assert sorted(warned) == sorted(f"warning: {line}" for line in REFUSED) and again == ""  # each told once
    assert broken.value.cli_message == REFUSED[2] and broken.value.exit_code == ExitCode.USAGE
    assert twin.value.cli_message == REFUSED[5]
    assert str(gone.value) == (
        "model family 'gone' (plugin 'gone' from bad-plugins 0.1.0 (entry point fvlm_eval.families: gone = "
        "gone_module)): its module 'gone_module' cannot be found: install the package that provides it, or put "
        "the folder holding it on PYTHONPATH (the fvlm-eval command does not look in the current folder: "
        "PYTHONPATH=. fvlm-eval ...)"
    )
    assert "its module 'twin_module' (" in str(hollow.value) and "has no VARIANTS, DEFAULT_VARIANT, load" in str(
        hollow.value
    )


@pytest.mark.parametrize(
    "args, code, said",
    [
        (["run", "broken"], ExitCode.USAGE, REFUSED[2]),
        (["run", "twin", "--limit", "1"], ExitCode.USAGE, REFUSED[5]),
        (["run", "scienceqa", "--family", "helper"], ExitCode.USAGE, "--family helper: " + REFUSED[7]),
        (["run", "scienceqa", "--family", "gone", "--model", "nowhere"], ExitCode.FAILED, "its module 'gone_module'"),
        (["prepare", "broken"], ExitCode.USAGE, REFUSED[2]),
        (["run", "ALL", "--limit", "1"], ExitCode.USAGE, REFUSED[-2]),
        (["run", "cased", "--limit", "1"], ExitCode.USAGE, REFUSED[-1]),
    ],
)
def test_asking_the_cli_for_a_refused_plugin_is_that_line_as_the_error(bad_site, capsys, args, code, said):
    from fvlm_eval.cli import main

    with plugins_on_path(bad_site, ("bad", "twin_module")):
        capsys.readouterr()
        assert main(args) == code
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert line.startswith("error: ") and said in line and "Traceback" not in out + err


def test_a_family_registered_in_code_whose_module_is_not_importable_says_how(monkeypatch):
    from fvlm_eval.models import FAMILIES, Family, family_module
    from fvlm_eval.models.base import ModelLoadError

    monkeypatch.setitem(FAMILIES, "blind", Family("blind", "blind"))
    with pytest.raises(
        ModelLoadError, match=r"model family 'blind': its module 'blind' cannot be found: .*PYTHONPATH=\."
    ):
        family_module("blind")


HOSTILE = """
from dataclasses import dataclass

from fvlm_eval.tasks.egoschema import EgoSchema


@dataclass
class Escape(EgoSchema):
    name: str = "../escaped"


@dataclass
class NeedsArgs(EgoSchema):
    name: str = "needsargs"

    def __init__(self, x):
        pass
"""


def test_a_plugin_that_exits_names_a_path_or_cannot_be_made_is_refused_and_every_command_goes_on(tmp_path, capsys):
    """Found in the hostile round: a plugin module calling sys.exit() at import ended every command at once with
    exit 0 (a CI `run` passed having scored nothing); a benchmark named '../escaped' was run into a folder outside
    --output-dir; a class that cannot be made without arguments made `benchmarks` (and `run video`, after scoring)
    an unexpected error."""
    from fvlm_eval import models, tasks
    from fvlm_eval.cli import main
    from fvlm_eval.run.options import check_benchmarks

    site = write_distribution(
        tmp_path / "site",
        "hostile-plugins",
        {
            "fvlm_eval.benchmarks": {"../escaped": "hostile:Escape", "needsargs": "hostile:NeedsArgs", "exits": "ex:X"},
            "fvlm_eval.families": {"exits": "ex:FAMILY"},
        },
        {"hostile.py": HOSTILE, "ex.py": "import sys\n\nsys.exit(0)\n"},
    )
    with plugins_on_path(site, ("hostile", "ex")):
        warned = capsys.readouterr().err
        assert not {"../escaped", "needsargs", "exits"} & set(tasks.BENCHMARKS)
        assert "exits" not in models.FAMILIES
        with pytest.raises(SettingsError) as escaped:
            check_benchmarks("../escaped")
        assert main(["benchmarks", "--data-dir", str(tmp_path / "data")]) == ExitCode.OK
    out, err = capsys.readouterr()
    assert "Traceback" not in warned + out + err and "egoschema" in out
    assert "'../escaped' is not a plain name" in escaped.value.cli_message
    lines = warned.splitlines()
    assert len(lines) == 4 and all(line.startswith("warning: ") for line in lines), lines
    assert any("'../escaped' from hostile-plugins 0.1.0" in line and "not a plain name" in line for line in lines)
    assert any("NeedsArgs cannot be made without arguments (TypeError:" in line for line in lines)
    assert sum("cannot be imported: SystemExit" in line for line in lines) == 2  # the benchmark and the family


def test_the_documented_benchmark_turns_a_malformed_row_into_a_failed_question(tmp_path, monkeypatch):
    """docs/extending.md's worked ``my_benchmark.py`` promised that a malformed row becomes a question with ``error``
    set, but a blank line, a row that is not JSON, a missing key or ``"answer": "1"`` raised out of ``load`` (and
    ended the run)."""
    import importlib
    import json

    from tests.test_docs import module_files

    (tmp_path / "my_benchmark.py").write_text(module_files()["my_benchmark.py"][1])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_benchmark", raising=False)
    my_benchmark = importlib.import_module("my_benchmark")
    good = {"id": "q1", "image": "images/q1.png", "question": "Q?", "options": ["a", "b"], "answer": 1}
    rows = [
        json.dumps({**good, "subject": "biology"}),
        "",
        "{not json",
        json.dumps({**good, "id": "q3"}),
        json.dumps({**good, "id": "q4", "subject": "biology", "answer": "1"}),
        json.dumps({**good, "id": "q5", "subject": "biology", "answer": 5}),
    ]
    (tmp_path / "data/myqa").mkdir(parents=True)
    (tmp_path / "data/myqa/questions.jsonl").write_text("\n".join(rows) + "\n")
    questions = {q.id: q for q in my_benchmark.MyQA().load(tmp_path / "data").questions}
    sys.modules.pop("my_benchmark", None)
    assert list(questions) == ["myqa/q1", "myqa/line3", "myqa/q3", "myqa/q4", "myqa/q5"]  # the blank line holds none
    assert questions["myqa/q1"].error is None and questions["myqa/q1"].gold == "B"
    assert questions["myqa/line3"].error.startswith("questions.jsonl line 3: JSONDecodeError: ")
    assert questions["myqa/q3"].error == "questions.jsonl line 4: KeyError: 'subject'"
    assert questions["myqa/q4"].error == "questions.jsonl line 5: ValueError: answer '1' is not a whole number"
    assert questions["myqa/q5"].error == "questions.jsonl line 6: ValueError: answer 5 is not an option index"


COMMAND_FOLDERS = """
from dataclasses import dataclass

from fvlm_eval.tasks.base import Benchmark


@dataclass
class Report(Benchmark):
    name: str = "report"


@dataclass
class Regress(Benchmark):
    name: str = "regress"


@dataclass
class Track(Benchmark):
    name: str = "Track"
"""


def test_a_plugin_named_as_a_folder_report_regress_or_track_writes_is_refused(tmp_path, capsys):
    """A benchmark named ``report`` or ``regress`` wrote its records into ``<run>/report/`` and ``<run>/regress/``,
    the folders those commands write their files into by default: one folder held ``report.html`` and the
    benchmark's ``coarse_only/`` records."""
    from fvlm_eval import tasks
    from fvlm_eval.run.options import check_benchmarks

    points = {"report": "folders:Report", "regress": "folders:Regress", "Track": "folders:Track"}
    site = write_distribution(tmp_path / "site", "folder-plugins", {"fvlm_eval.benchmarks": points}, {})
    (site / "folders.py").write_text(COMMAND_FOLDERS)
    with plugins_on_path(site, ("folders",)):
        warned = capsys.readouterr().err.splitlines()
        assert not {"report", "regress", "Track"} & set(tasks.BENCHMARKS)
        with pytest.raises(SettingsError) as asked:
            check_benchmarks("report")
    line = "benchmark plugin '{0}' from folder-plugins 0.1.0 (entry point fvlm_eval.benchmarks: {0} = folders:{1}) is "
    assert sorted(warned) == [
        "warning: "
        + line.format("Track", "Track")
        + "refused: 'Track' is the folder `fvlm-eval track` writes beside its runs by default (its records would be "
        "mixed with that command's files): 'track' but for case, one folder where case is not told apart (macOS, "
        "Windows)",
        "warning: "
        + line.format("regress", "Regress")
        + "refused: 'regress' is the folder `fvlm-eval regress` writes into the current run folder by default (its "
        "records would be mixed with that command's files)",
        "warning: "
        + line.format("report", "Report")
        + "refused: 'report' is the folder `fvlm-eval report` writes into a run folder by default (its records would "
        "be mixed with that command's files)",
    ]
    assert f"warning: {asked.value.cli_message}" == sorted(warned)[-1]  # asking for it: that line, exit 2


def test_the_documented_benchmark_fails_a_row_whose_image_leaves_its_folder(tmp_path, monkeypatch):
    """docs/extending.md's ``my_benchmark.py`` joined the row's image to its folder by hand: ``"../../secret.png"``
    or an absolute path was read and scored; it now joins with ``fvlm_eval.media.safe_join``, so the row fails
    with its line number."""
    import importlib
    import json

    from tests.test_docs import module_files

    (tmp_path / "my_benchmark.py").write_text(module_files()["my_benchmark.py"][1])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_benchmark", raising=False)
    my_benchmark = importlib.import_module("my_benchmark")
    row = {"id": "q1", "image": "images/q1.png", "question": "Q?", "options": ["a", "b"], "answer": 1}
    rows = [row, {**row, "id": "q2", "image": "../../secret.png"}, {**row, "id": "q3", "image": "/tmp/secret.png"}]
    (tmp_path / "data/myqa").mkdir(parents=True)
    (tmp_path / "data/myqa/questions.jsonl").write_text("".join(json.dumps({**r, "subject": "x"}) + "\n" for r in rows))
    questions = {q.id: q for q in my_benchmark.MyQA().load(tmp_path / "data").questions}
    sys.modules.pop("my_benchmark", None)
    assert questions["myqa/q1"].error is None
    assert questions["myqa/q1"].media.path == str(tmp_path / "data/myqa/images/q1.png")
    folder = tmp_path / "data/myqa"
    assert questions["myqa/q2"].error == (
        f"questions.jsonl line 2: MediaError: path '../../secret.png' escapes the data folder {folder}"
    )
    assert questions["myqa/q3"].error == (
        f"questions.jsonl line 3: MediaError: path '/tmp/secret.png' escapes the data folder {folder}"
    )
