"""Word and domain lists shipped as package data (plain text, one entry a line).

Loaded with :mod:`importlib.resources`, so they work from a wheel, a zip and
under Pyodide. ``#`` starts a comment; blank lines are ignored; entries are
lower-cased.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def word_list(name: str) -> frozenset[str]:
    """The entries of ``<name>.txt`` in this package."""
    text = resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    entries = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(entry for entry in entries if entry)
