"""Text from data (folder names, ids, categories, error messages, a baselines CSV) made safe to show.

A run folder's name, a question id or an error read from a record is data: in a terminal an escape
character in it would be obeyed (colours, a cleared screen, a moved cursor), a NUL in ``report.md``
or ``report.csv`` cuts the file short for many readers, and a line break or a bidirectional control
breaks a table row or reorders what is read. ``printable`` writes every such character visibly, as
Python writes it in a string (``\\x1b``, ``\\n``, ``\\u202e``); all other text is kept as it is.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL (line breaks and tabs included: one value is one line), the Unicode line and
# paragraph separators, and the bidirectional controls (embeddings, overrides and isolates).
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _escaped(match: re.Match) -> str:
    return repr(match.group(0))[1:-1]


def printable(text) -> str:
    """``text`` (any value, as ``str``) with every control character written visibly (see the module
    docstring)."""
    return UNPRINTABLE.sub(_escaped, str(text))


def md_text(text) -> str:
    """``text`` ``printable``, with its ``<`` escaped for Markdown (``\\<``): a category or id from data such as
    ``<script>`` or ``<details>`` is shown, never rendered as HTML (GitHub renders HTML in report.md, regress.md
    and the step summary). Not for code spans, where the backslash would show."""
    return printable(text).replace("<", "\\<")


def md_row(*cells) -> str:
    """One row of a Markdown table, each cell ``md_text`` and its ``|`` escaped: a category, run folder or id
    from data holding a ``|`` would otherwise split its row, and a number would sit under another column."""
    return "| " + " | ".join(md_text(cell).replace("|", "\\|") for cell in cells) + " |"


def printable_lines(text: str) -> str:
    """Several lines of text, each made ``printable`` (the line breaks between them kept)."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


__all__ = ["md_row", "md_text", "printable", "printable_lines"]
