"""The ``llmlake`` console script: one sub-command per pipeline stage.

Every command takes ``--params PATH`` (repeat it to merge overlay files over the first) and
repeatable ``--set section.key=value`` (YAML typed) before the sub-command name. The stage commands are built from the stage table
(:mod:`llmlake.stages`) and import their stage only when they run, so ``llmlake --help``
stays instant. A stage that cannot run (a missing input, say) prints one line naming the
cause and exits 1, without a traceback.

Example::

    llmlake --set sample.docs=500 sample --out data/raw/sample
    llmlake etl ingest
    llmlake validate bronze
    llmlake lake vacuum --dry-run

Besides the stages, ``llmlake lake optimize|vacuum`` keep the Delta tables small and
refuse to delete any table version a lineage file or model still names.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from llmlake.config import ConfigError, Params, as_dict, load_params
from llmlake.lake import TABLES
from llmlake.stages import STAGES, StageSpec


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--params", "params_paths", multiple=True, metavar="PATH",
    type=click.Path(dir_okay=False),
    help="params.yaml with one section per stage (default: params.yaml). Repeat it to "
         "merge overlays over the first, e.g. --params params.yaml --params "
         "reports/tune_best.yaml.",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
    help="Override one parameter (value parsed as YAML). Repeatable.",
)
@click.pass_context
def cli(ctx: click.Context, params_paths: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """llmlake: raw web text to a served language model, as a lakehouse pipeline."""
    path, *overlays = params_paths or ("params.yaml",)
    ctx.obj = {"path": path, "overlays": overlays, "overrides": list(overrides)}


def params_of(ctx: click.Context, *extra: str) -> Params:
    """Load params for the running command; extra overrides come from command flags."""
    obj = ctx.find_root().obj
    try:
        return load_params(obj["path"], [*obj["overrides"], *extra], obj["overlays"])
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


@cli.command("params")
@click.pass_context
def show_params(ctx: click.Context) -> None:
    """Print the resolved parameters (params.yaml plus --set overrides) as YAML."""
    import yaml

    click.echo(yaml.safe_dump(as_dict(params_of(ctx)), sort_keys=False))


@cli.group()
def etl() -> None:
    """Spark ETL stages (each is also a spark-submit script: etl/<stage>/stage.py)."""


def run_stage(spec: StageSpec, params: Params, item: str | None = None) -> None:
    """Run one stage; a stage error becomes one line on stderr and exit status 1."""
    from llmlake.spark import SparkSetupError
    from llmlake.stage import StageError

    try:
        result = spec.load().run(params, item) if spec.items else spec.load().run(params)
    except (StageError, SparkSetupError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if result is False:
        sys.exit(1)


def _stage_command(spec: StageSpec) -> click.Command:
    @click.pass_context
    def command(ctx: click.Context, item: str | None = None, **flags: object) -> None:
        # A text option stays text (JSON is YAML): `--since 2026-11-01` is no date object.
        extra = [f"{o.key}={json.dumps(v) if o.type is str else v}" for o in spec.options
                 if (v := flags[o.flag.lstrip("-")]) is not None]
        run_stage(spec, params_of(ctx, *extra), item)

    for option in spec.options:
        if option.type is bool:  # a switch: given -> key=true, absent -> the params' value
            command = click.option(option.flag, is_flag=True, default=None,
                                   help=option.help)(command)
        else:
            command = click.option(option.flag, type=option.type, default=None,
                                   help=option.help)(command)
    if spec.items:
        command = click.argument("item", metavar="TABLE",
                                 type=click.Choice(spec.items))(command)
    return click.command(spec.cli_name, help=spec.help)(command)


for _spec in STAGES:
    (etl if _spec.group == "etl" else cli).add_command(_stage_command(_spec))


@cli.group()
def lake() -> None:
    """Delta table upkeep: compaction and vacuum that keep every version lineage pins."""


def run_upkeep(action: Callable[[], object]) -> None:
    """Run an upkeep command; a refusal or error becomes one line and exit status 1."""
    from llmlake.spark import SparkSetupError
    from llmlake.stage import StageError

    try:
        action()
    except (StageError, SparkSetupError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@lake.command("optimize")
@click.argument("tables", nargs=-1, metavar="[TABLE]...", type=click.Choice(TABLES))
@click.option("--zorder-by", metavar="COLUMN", default=None,
              help="Z-order the files by this column (every table named must have it).")
@click.pass_context
def lake_optimize(ctx: click.Context, tables: tuple[str, ...], zorder_by: str | None) -> None:
    """Compact small files of the lake's tables (default: all); writes
    reports/lake_optimize.json."""
    from llmlake.upkeep_spark import run_optimize

    run_upkeep(lambda: run_optimize(params_of(ctx), tables, zorder_by))


@lake.command("vacuum")
@click.argument("tables", nargs=-1, metavar="[TABLE]...", type=click.Choice(TABLES))
@click.option("--retention-hours", type=float, default=None,
              help="Delete files removed longer ago than this (default: "
                   "lake.vacuum_retention_hours). Refused if it would delete a file of a "
                   "version a lineage file or model pins.")
@click.option("--to-pins", is_flag=True,
              help="Use the shortest retention that keeps every pinned version (plus "
                   "lake.vacuum_margin_hours), per table.")
@click.option("--dry-run", is_flag=True, help="List the files it would delete, and the bytes.")
@click.option("--force", is_flag=True,
              help="Allow a retention below the table's delta.deletedFileRetentionDuration "
                   "(no query or write may be running). Pinned versions stay protected.")
@click.pass_context
def lake_vacuum(ctx: click.Context, tables: tuple[str, ...], retention_hours: float | None,
                to_pins: bool, dry_run: bool, force: bool) -> None:
    """Delete data files no version still needed holds (default: all tables); writes
    reports/lake_vacuum.json."""
    from llmlake.upkeep_spark import run_vacuum

    if to_pins and retention_hours is not None:
        raise click.UsageError("--to-pins and --retention-hours exclude each other")
    extra = [] if retention_hours is None else [f"lake.vacuum_retention_hours={retention_hours}"]
    run_upkeep(lambda: run_vacuum(params_of(ctx, *extra), tables, dry_run, force, to_pins))


def main() -> None:
    cli(prog_name="llmlake")


if __name__ == "__main__":
    main()
