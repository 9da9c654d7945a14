"""A run's benchmarks checked before anything loads: names and suites (``video``, ``all``), in the order given,
each once; a wrong one is one line listing both."""

from __future__ import annotations

import pytest

from fvlm_eval.errors import ExitCode, SettingsError
from fvlm_eval.run.options import check_benchmarks
from fvlm_eval.tasks import BENCHMARKS, BUILT_IN, SUITES, suite

VIDEO = tuple(name for name, cls in BENCHMARKS.items() if not cls.uses_images)


def test_a_suite_stands_for_its_benchmarks_in_registry_order():
    assert check_benchmarks("video") == VIDEO == suite("video")
    assert {"mvbench", "videomme"} <= set(VIDEO) and "scienceqa" not in VIDEO
    assert check_benchmarks("all") == tuple(BENCHMARKS) == suite("all")
    assert check_benchmarks(["all"]) == tuple(BENCHMARKS)


def test_suites_and_names_mix_in_the_order_given_each_once():
    assert check_benchmarks(["scienceqa", "video"]) == ("scienceqa", *VIDEO)
    assert check_benchmarks(["video", "scienceqa", "mvbench"]) == (*VIDEO, "scienceqa")
    assert check_benchmarks(["videomme", "all"]) == ("videomme", *(b for b in BENCHMARKS if b != "videomme"))
    assert check_benchmarks(["all", "video", "all"]) == tuple(BENCHMARKS)


def test_no_benchmark_is_named_like_a_suite():
    assert not set(SUITES) & set(BUILT_IN)


def test_names_run_together_with_commas_are_told_apart_from_an_unknown_name():
    with pytest.raises(SettingsError) as error:
        check_benchmarks("scienceqa, mvbench")
    assert str(error.value) == (
        "benchmarks='scienceqa, mvbench': names go in a list, not one string with commas: ['scienceqa', 'mvbench']"
    )
    with pytest.raises(SettingsError, match="unknown benchmark scienceqa,nope"):  # not every part is a benchmark
        check_benchmarks("scienceqa,nope")


@pytest.mark.parametrize(
    "given, told",
    [
        (["mvbench", "vidoe"], "unknown benchmark vidoe"),
        ([], "no benchmark given"),
    ],
)
def test_a_wrong_name_lists_the_benchmarks_and_the_suites(given, told):
    with pytest.raises(SettingsError) as error:
        check_benchmarks(given)
    listed = f"; known: {', '.join(BENCHMARKS)}; or a suite: video (every video benchmark), all (every benchmark)"
    assert error.value.cli_message == told + listed and str(error.value) == f"benchmarks: {told}{listed}"
    assert error.value.exit_code == ExitCode.USAGE


def _named(name: str) -> type:
    from dataclasses import dataclass

    from fvlm_eval.tasks.base import Benchmark

    @dataclass
    class ByHand(Benchmark):
        pass

    ByHand.name = name
    return ByHand


@pytest.mark.parametrize(
    "key, cls, said",
    [
        (
            "../../escaped",
            _named("../../escaped"),
            "BENCHMARKS['../../escaped'] = ByHand: '../../escaped' is not a plain name (letters, digits, '_', '.', "
            "'-'; not starting with '.' or '-'): it names the folders a run writes",
        ),
        (
            "keyname",
            _named("realname"),
            "BENCHMARKS['keyname'] = ByHand: its class ByHand has name 'realname': register it under its name "
            "(BENCHMARKS['realname'] = ByHand)",
        ),
        (
            "MVBench",
            _named("MVBench"),
            "BENCHMARKS['MVBench'] = ByHand: 'MVBench' is 'mvbench' but for case, one folder where case is not "
            "told apart (macOS, Windows)",
        ),
        ("helper", len, "BENCHMARKS['helper'] = len: it gives a builtin_function_or_method, not a subclass"),
    ],
)
def test_a_benchmark_registered_by_hand_is_checked_as_an_entry_point_is(monkeypatch, key, cls, said):
    """``BENCHMARKS[...] = cls`` (the notebook way) skipped the entry points' checks: a name with '..' wrote its run
    two folders above the output folder, and a key other than the class's name gave a result under another name."""
    monkeypatch.setitem(BENCHMARKS, key, cls)
    with pytest.raises(SettingsError) as refused:
        check_benchmarks(key)
    assert said in refused.value.cli_message and str(refused.value) == f"benchmarks: {refused.value.cli_message}"
    assert refused.value.exit_code == ExitCode.USAGE
    assert check_benchmarks("mvbench") == ("mvbench",)  # the built-in is kept
