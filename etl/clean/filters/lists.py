"""Word and domain list files used by the filters, read once per process.

This module owns the list-file format and the packaged defaults in ``etl/clean/filters/data/``:
one entry per line, ``#`` starts a comment, blank lines are skipped, entries are lowercased
and stripped. An empty path means the packaged default of that list; any other path is a
user's own file in the same format.

Example::

    >>> from etl.clean.filters.lists import load_list
    >>> "porn" in load_list("", default="url_blocklist.txt")
    True
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

# A Traversable, not a Path: inside a zip (spark-submit --py-files) the packaged lists are
# zip members with no file system path, yet they open and read all the same.
DATA_DIR: Traversable = files("etl.clean.filters") / "data"
BAD_WORDS_FILE = "bad_words_en.txt"
URL_BLOCKLIST_FILE = "url_blocklist.txt"


def list_path(path: str, default: str) -> Path | Traversable:
    """The file behind a configured path: ``""`` means the packaged ``default``.

    Either way the result has ``.open()`` and ``.read_text()``; only a user's file is
    certain to be a real :class:`~pathlib.Path`.
    """
    return Path(path) if path else DATA_DIR / default


@lru_cache(maxsize=32)
def load_list(path: str, default: str) -> frozenset[str]:
    """The entries of a list file (cached: each file is read once per process)."""
    entries = set()
    with list_path(path, default).open(encoding="utf-8") as f:
        for line in f:
            entry = line.split("#", 1)[0].strip().lower()
            if entry:
                entries.add(entry)
    return frozenset(entries)
