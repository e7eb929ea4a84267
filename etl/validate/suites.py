"""The registry of lake tables that the validation stage (``etl/validate/stage.py``) checks.

``SUITES`` maps a table key (``"bronze"``, ``"silver"``, ``"gold"``, ``"sequences"``) to a
:class:`TableSuite`: the lake table, its Great Expectations suite file under
``expectations/`` and a function that turns :class:`~llmlake.config.Params` into the suite
parameter values (the ``{"$PARAMETER": name}`` placeholders in the suite JSON). A later
stage adds its table here, not another runner.

Example::

    >>> from llmlake.config import Params
    >>> sorted(SUITES["bronze"].parameters(Params()))
    ['bronze_min_rows', 'content_types']
    >>> sorted(SUITES["silver"].parameters(Params()))
    ['drop_reasons', 'languages', 'silver_min_kept', 'silver_min_rows']
    >>> SUITES["gold"].parameters(Params())["train_min_share"]
    0.85
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmlake.config import Params
from llmlake.lake import SPLITS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# The packaged suites (the ``expectations`` package): a Traversable, since from a zip
# (spark-submit --py-files) they are zip members with no file system path of their own.
SUITES_DIR: Traversable = files("expectations")
# as_file copies a zip member to a temporary file that lives as long as its context; these
# stay open until the process exits. From a directory (source tree, wheel) nothing is copied.
_extracted = ExitStack()
atexit.register(_extracted.close)


@cache
def _suite_file(name: str) -> Path:
    return _extracted.enter_context(as_file(SUITES_DIR / name))


@dataclass(frozen=True)
class TableSuite:
    """How to validate one lake table: where it lives, its suite, its suite parameters."""

    table: str
    suite_file: str
    parameters: Callable[[Params], dict[str, Any]]
    # Adds derived columns the suite checks (e.g. an array's length); None: the table as is.
    view: Callable[[DataFrame, Params], DataFrame] | None = None

    @property
    def suite_path(self) -> Path:
        """A real file (the stage's ``load_suite`` opens it by path), even from a zip."""
        return _suite_file(self.suite_file)


def _bronze_parameters(params: Params) -> dict[str, Any]:
    v = params.validate
    return {"bronze_min_rows": v.bronze_min_rows, "content_types": list(v.content_types)}


def _silver_parameters(params: Params) -> dict[str, Any]:
    # Imported here so that loading the registry does not load the text filters.
    from etl.clean.document import DROP_REASONS

    v = params.validate
    return {
        "silver_min_rows": v.silver_min_rows,
        "silver_min_kept": v.silver_min_kept,
        # [] keeps every language; the suite then skips its kept-language expectation.
        "languages": list(params.clean.languages),
        # Sorted, so the report lists the same set the same way every run.
        "drop_reasons": sorted(DROP_REASONS),
    }


# The split names the dedup stage writes, in params order; each has a ratio in params.dedup.
# Decimals kept of a share bound: r - tol in floats can land a hair above the exact share
# (0.9 - 0.05 == 0.8500000000000001), which would fail a table that sits on the bound.
_SHARE_DECIMALS = 9


def _share(value: float) -> float:
    return min(1.0, max(0.0, round(value, _SHARE_DECIMALS)))


def _gold_parameters(params: Params) -> dict[str, Any]:
    v = params.validate
    tol = v.split_tolerance
    if not 0.0 <= tol <= 1.0:
        raise ValueError(f"validate.split_tolerance must be in [0, 1], got {tol}")
    values: dict[str, Any] = {"gold_min_rows": v.gold_min_rows, **_split_min_rows(params)}
    for split in SPLITS:
        ratio = getattr(params.dedup, split)
        # GX's mostly is the least share of rows that meet an expectation: "split in [s]"
        # with mostly r - tol is share >= r - tol; "split not in [s]" with mostly
        # 1 - (r + tol) is share <= r + tol.
        values[f"{split}_min_share"] = _share(ratio - tol)
        values[f"not_{split}_min_share"] = _share(1.0 - (ratio + tol))
    return values


def _split_min_rows(params: Params) -> dict[str, int]:
    # A split with ratio 0 gets no documents by design, so only the others must have rows.
    return {f"{s}_min_rows": 1 if getattr(params.dedup, s) > 0 else 0 for s in SPLITS}


def _sequences_parameters(params: Params) -> dict[str, Any]:
    return {
        "sequences_min_rows": params.validate.sequences_min_rows,
        "seq_len": params.train.context + 1,
        "max_token_id": params.tokenizer.vocab_size - 1,
        **_split_min_rows(params),
    }


def _sequences_view(df: DataFrame, params: Params) -> DataFrame:
    """Per-sequence facts GX cannot compute on an array column: length, id range, EOS."""
    from pyspark.sql import functions as F

    from llmlake.tokenizer import EOS, SPECIAL_TOKENS

    eos = SPECIAL_TOKENS.index(EOS)
    return (df.withColumn("n_tokens", F.size("tokens"))
            .withColumn("min_token", F.array_min("tokens"))
            .withColumn("max_token", F.array_max("tokens"))
            .withColumn("eos_count", F.size(F.filter("tokens", lambda t: t == eos))))


SUITES: dict[str, TableSuite] = {
    "bronze": TableSuite("bronze/documents", "bronze_documents.json", _bronze_parameters),
    "silver": TableSuite("silver/documents", "silver_documents.json", _silver_parameters),
    "gold": TableSuite("gold/documents", "gold_documents.json", _gold_parameters),
    "sequences": TableSuite("gold/sequences", "gold_sequences.json", _sequences_parameters,
                            _sequences_view),
}


def table_suite(table: str) -> TableSuite:
    try:
        return SUITES[table]
    except KeyError:
        known = ", ".join(sorted(SUITES))
        raise ValueError(f"no suite registered for table {table!r}; known: {known}") from None
