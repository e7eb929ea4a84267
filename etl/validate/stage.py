"""Validate lake tables against the Great Expectations suites under ``expectations/``.

This module owns the validation stage for every lake table registered in
:mod:`etl.validate.suites` (``SUITES``: table key -> lake table, suite file, suite parameters):

* ``validate_dataframe``: the pure core. It validates one DataFrame with one suite in an
  ephemeral GX context and returns a :class:`ValidationSummary`; optionally it builds GX
  data docs into a folder. An expectation whose ``meta`` has ``"skip_if_empty": name`` is
  left out (and listed as skipped) when the suite parameter ``name`` is an empty list, for
  settings where empty means "no restriction".
* ``run(params, table)``: reads the Delta table, validates it, prints one line per
  expectation, writes ``reports/validate_<table>.json`` (statistics, the failures in full
  and ``expectations``: every expectation's type, column, success and unexpected figures)
  and data docs under ``reports/gx/<table>/``, and returns whether the suite passed.

Example::

    llmlake validate bronze
    llmlake validate silver
    spark-submit etl/validate/stage.py bronze --set validate.bronze_min_rows=10

    >>> from llmlake.config import Params
    >>> from etl.validate.suites import SUITES
    >>> sorted(SUITES["bronze"].parameters(Params()))
    ['bronze_min_rows', 'content_types']
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.validate.suites import TableSuite, table_suite
from llmlake.config import Params
from llmlake.stage import stage_shell

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.data_context import AbstractDataContext
    from pyspark.sql import DataFrame

DOCS_SITE = "llmlake"
# Columns whose values never go into reports (document text may hold PII).
PRIVATE_COLUMNS = frozenset({"text", "raw"})
# How many unexpected values a failure line shows; GX keeps up to 20 per expectation.
SAMPLE_VALUES = 5
# Expectation kwargs that say where an expectation looks, not what it expects.
_NOT_EXPECTED = frozenset({"batch_id", "column"})
# Expectation meta key naming a list suite parameter whose emptiness skips the expectation.
SKIP_IF_EMPTY = "skip_if_empty"


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, reduced to what a person reading a log needs."""

    success: bool
    expectation: str
    column: str | None
    description: str
    observed: str
    expected: str = ""
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_sample: tuple[str, ...] = ()

    def line(self) -> str:
        status = "PASS" if self.success else "FAIL"
        column = f" [{self.column}]" if self.column else ""
        expected = f" (expected {self.expected})" if self.expected and not self.success else ""
        return f"{status} {self.expectation}{column}: {self.observed}{expected}"


@dataclass(frozen=True)
class ValidationSummary:
    suite: str
    success: bool
    evaluated: int
    failed: int
    outcomes: tuple[ExpectationOutcome, ...]
    data_docs_index: str | None = None
    # "type [column]: why" of each expectation left out by skip_if_empty.
    skipped: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)

    def failed_expectations(self) -> set[tuple[str, str | None]]:
        """``(expectation type, column)`` of every failure, handy for checks and tests."""
        return {(o.expectation, o.column) for o in self.failures}

    def statistics(self) -> dict[str, Any]:
        return {
            "evaluated": self.evaluated,
            "successful": self.evaluated - self.failed,
            "failed": self.failed,
        }

    def expectations(self) -> list[dict[str, Any]]:
        """Every expectation's type, column, result and unexpected figures, passed ones too,
        so a report can show the whole suite without GX's data docs (which need a CDN)."""
        return [{"expectation": o.expectation, "column": o.column, "success": o.success,
                 "unexpected_count": o.unexpected_count,
                 "unexpected_percent": o.unexpected_percent} for o in self.outcomes]


def load_suite(suite_path: str | Path) -> ExpectationSuite:
    """Read a suite written in GX's JSON serialization (``name``, ``expectations``...)."""
    _quiet_gx_logs()
    from great_expectations.core.expectation_suite import ExpectationSuite

    data = json.loads(Path(suite_path).read_text())
    suite = ExpectationSuite(**data)
    # GX only logs and skips an expectation it cannot build; a suite must never shrink
    # silently, so compare with what the file lists.
    if len(suite.expectations) != len(data.get("expectations", [])):
        raise ValueError(
            f"{suite_path}: {len(data['expectations']) - len(suite.expectations)} expectation(s)"
            " are not valid GX expectations (see the log above)"
        )
    return suite


def _quiet_gx_logs() -> None:
    # GX logs its import-time bookkeeping at INFO, which the stage log level would show.
    logger = logging.getLogger("great_expectations")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def validate_dataframe(
    df: DataFrame,
    suite_path: str | Path,
    parameters: Mapping[str, Any],
    data_docs_dir: str | Path | None = None,
) -> ValidationSummary:
    """Validate ``df`` with the suite in ``suite_path``; build data docs if a folder is given.

    ``parameters`` supplies every ``$PARAMETER`` of the suite; a missing one is an error here
    rather than a per-expectation exception inside GX.
    """
    suite = load_suite(suite_path)
    import great_expectations as gx

    missing = sorted(set(suite.suite_parameter_options) - set(parameters))
    if missing:
        raise ValueError(f"{suite_path}: suite parameters not supplied: {', '.join(missing)}")
    skipped = _skip_expectations(suite, parameters)
    context = _ephemeral_context(data_docs_dir)
    batch = (
        context.data_sources.add_spark(name="lake")
        .add_dataframe_asset(name=suite.name)
        .add_batch_definition_whole_dataframe("whole_table")
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=context.suites.add(suite))
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=[definition],
            actions=actions if data_docs_dir is not None else [],
            result_format="SUMMARY",
        )
    )
    result = checkpoint.run(
        batch_parameters={"dataframe": df}, expectation_parameters=dict(parameters)
    )
    (suite_result,) = result.run_results.values()
    index = None if data_docs_dir is None else str(Path(data_docs_dir) / "index.html")
    return summarize(suite_result, index, skipped)


def _skip_expectations(suite: ExpectationSuite, parameters: Mapping[str, Any]) -> tuple[str, ...]:
    """Drop the expectations whose ``skip_if_empty`` parameter is empty; describe them."""
    kept, skipped = [], []
    for expectation in suite.expectations:
        name = (expectation.meta or {}).get(SKIP_IF_EMPTY)
        if name is not None and name not in parameters:
            raise ValueError(f"{suite.name}: {SKIP_IF_EMPTY} names unknown parameter {name!r}")
        if name is None or parameters[name]:
            kept.append(expectation)
            continue
        column = getattr(expectation, "column", None)
        where = f" [{column}]" if column else ""
        skipped.append(f"{expectation.expectation_type}{where}: suite parameter {name} is empty")
    suite.expectations = kept
    return tuple(skipped)


def _ephemeral_context(data_docs_dir: str | Path | None) -> AbstractDataContext:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if data_docs_dir is not None:
        # An ephemeral context has no project folder, so the site needs an absolute path.
        store = {"class_name": "TupleFilesystemStoreBackend",
                 "base_directory": str(Path(data_docs_dir).resolve())}
        sites[DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": store,
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        # Metric progress bars would flood non-interactive logs (DVC, spark-submit).
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def summarize(
    result: ExpectationSuiteValidationResult,
    data_docs_index: str | None = None,
    skipped: tuple[str, ...] = (),
) -> ValidationSummary:
    outcomes = tuple(_outcome(r) for r in result.results)
    return ValidationSummary(
        suite=result.suite_name,
        success=bool(result.success),
        evaluated=len(outcomes),
        failed=sum(not o.success for o in outcomes),
        outcomes=outcomes,
        data_docs_index=data_docs_index,
        skipped=skipped,
    )


def _outcome(r: ExpectationValidationResult) -> ExpectationOutcome:
    config = r.expectation_config
    res = dict(r.result or {})
    # Nulls say nothing beyond the count, and duplicates would repeat the same value.
    values = dict.fromkeys(v for v in res.get("partial_unexpected_list") or [] if v is not None)
    sample = tuple(_short(v, 60) for v in list(values)[:SAMPLE_VALUES])
    if config.kwargs.get("column") in PRIVATE_COLUMNS:
        sample = ()  # a failing PII check would otherwise copy the PII into the reports
    return ExpectationOutcome(
        success=bool(r.success),
        expectation=config.type,
        column=config.kwargs.get("column"),
        description=config.description or config.type,
        observed=_observed(res, sample, _exception_message(r.exception_info)),
        expected=", ".join(
            f"{k}={_kwarg_text(k, v)}" for k, v in config.kwargs.items() if k not in _NOT_EXPECTED
        ),
        unexpected_count=res.get("unexpected_count"),
        unexpected_percent=res.get("unexpected_percent"),
        unexpected_sample=sample,
    )


def _observed(res: dict[str, Any], sample: tuple[str, ...], error: str | None) -> str:
    if error:
        return f"error: {error}"
    count = res.get("unexpected_count")
    if count is None:
        text = f"observed {_short(res.get('observed_value'), 200)}"
        # Column-set expectations name the missing and unexpected columns here.
        mismatched = (res.get("details") or {}).get("mismatched")
        return f"{text}, mismatched {_short(mismatched, 200)}" if mismatched else text
    total = res.get("element_count", 0)
    # Most column expectations skip nulls; their share is then of the non-null values.
    checked = f"{total - res['missing_count']} non-null" if "missing_count" in res else total
    text = f"{count} unexpected of {checked} ({res.get('unexpected_percent') or 0:.2f}%)"
    if sample:
        text += f", e.g. {list(sample)}"
    return text


def _kwarg_text(key: str, value: Any) -> str:
    # A serialized Condition is a nested dict; its repr reads "drop_reason IS NULL".
    if key == "row_condition" and isinstance(value, dict):
        from great_expectations.expectations.row_conditions import deserialize_row_condition

        return repr(deserialize_row_condition(value))
    return _short(value, 80)


def _exception_message(info: Any) -> str | None:
    # GX reports either one exception dict or a dict of them keyed by metric.
    if not info:
        return None
    infos = [info] if "raised_exception" in info else list(info.values())
    messages = [i.get("exception_message") for i in infos if i.get("raised_exception")]
    return "; ".join(str(m) for m in messages) or None


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run(params: Params, table: str) -> bool:
    """Validate the lake table registered as ``table``; report and return success."""
    spec = table_suite(table)
    with stage_shell("validate", params, item=table) as sh:
        version = sh.require(spec.table)
        path = sh.table(spec.table)
        parameters = spec.parameters(params)
        with sh.step("validate"):
            # Pin the version, so the report names exactly the snapshot that was validated.
            df = sh.spark.read.format("delta").option("versionAsOf", version).load(path)
            if spec.view is not None:
                df = spec.view(df, params)
            # One site per table: DVC stages must not share an output folder.
            summary = validate_dataframe(df, spec.suite_path, parameters,
                                         sh.lake.report("gx") / table)
        _print_summary(table, path, version, summary, sh.steps.seconds["validate"])
        sh.finish(_report(spec, version, parameters, summary),
                  data_docs=summary.data_docs_index)
        return summary.success


def _print_summary(
    table: str, path: str, version: int, summary: ValidationSummary, seconds: float
) -> None:
    print(f"validate {table}: {path} (Delta version {version}), suite {summary.suite}")
    for outcome in summary.outcomes:
        print(f"  {outcome.line()}")
    for skipped in summary.skipped:
        print(f"  SKIP {skipped}")
    verdict = "PASSED" if summary.success else "FAILED"
    print(
        f"validate {table}: {verdict}, {summary.evaluated - summary.failed}/{summary.evaluated}"
        f" expectations met in {seconds:.1f}s"
    )
    if summary.data_docs_index:
        print(f"data docs: {summary.data_docs_index}")


def _report(
    spec: TableSuite,
    version: int,
    parameters: Mapping[str, Any],
    summary: ValidationSummary,
) -> dict[str, Any]:
    return {
        "table": spec.table,
        "delta_version": version,
        "suite": summary.suite,
        "suite_parameters": dict(parameters),
        "success": summary.success,
        "statistics": summary.statistics(),
        "failed_expectations": [asdict(o) for o in summary.failures],
        "expectations": summary.expectations(),
        "skipped_expectations": list(summary.skipped),
    }


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("validate")
