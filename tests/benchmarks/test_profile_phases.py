"""``benchmarks/profile_phases.py``: where the time goes, per phase; phases nest, and so do the LLM columns."""

from __future__ import annotations

from tests.benchmarks.scripts import script


def test_an_llm_forward_counts_in_every_phase_it_ran_inside():
    """Before, a forward was counted in the innermost phase only: "both formulations", which holds the LLM
    packed passes (its seconds included theirs), showed 0 LLM calls and 0 positions."""
    profile = script("profile_phases")
    phases = profile.Phases()

    def forward():
        phases.record(0.5, 100, 10)

    packed = phases.wrap("LLM packed passes", lambda: [forward(), forward()])
    both = phases.wrap("both formulations", lambda: [packed(), forward()])
    both()
    forward()  # outside any phase
    assert phases.llm["LLM packed passes"] == {"seconds": 1.0, "calls": 2, "positions": 200, "padding": 20}
    assert phases.llm["both formulations"] == {"seconds": 1.5, "calls": 3, "positions": 300, "padding": 30}
    assert phases.llm["(outside any phase)"]["calls"] == 1
    assert phases.total == {"seconds": 2.0, "calls": 4, "positions": 400, "padding": 40}  # each forward once


def test_a_phase_inside_itself_counts_its_time_and_its_forwards_once(monkeypatch):
    """Its time is its outermost call's (before, both calls' were added: the inner one counted twice)."""
    profile = script("profile_phases")
    clock = iter(range(100))
    monkeypatch.setattr(profile.time, "perf_counter", lambda: next(clock))  # each reading 1 s after the last
    phases = profile.Phases()
    inner = phases.wrap("visual tokens", lambda model, clips, cache, mode: phases.record(0.1, 8, 0))
    outer = phases.wrap("visual tokens", lambda model, clips, cache, mode: inner(model, clips, cache, mode))
    outer(None, None, None, "coarse_fine")  # readings: outer 0, inner 1 (its end not needed), outer's end 2
    assert phases.seconds["visual tokens: coarse_fine"] == 2 and phases.calls["visual tokens: coarse_fine"] == 2
    assert phases.llm["visual tokens: coarse_fine"]["calls"] == 1
