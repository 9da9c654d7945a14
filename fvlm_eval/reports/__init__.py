"""The reading wing: everything here reads run folders and never writes one.

``freshness`` is the one rule every reader uses (the records are the truth); ``read`` computes a
run's summaries from its records; ``build`` makes a report's typed cells and rows (``cells``),
which ``markdown`` (and CSV), ``charts``, ``html`` and ``tables`` (the terminal) render and
``report`` writes; ``regress`` compares two runs, ``track`` many checkpoints. Nothing here imports
the writing wing (``fvlm_eval.run``), nor does it import this one.
"""

from __future__ import annotations

from fvlm_eval.errors import FvlmEvalError


class ReportError(FvlmEvalError, ValueError):
    """A run folder or baseline file a report cannot be made from, named."""


__all__ = ["ReportError"]
