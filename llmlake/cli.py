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
"""

from __future__ import annotations

import json
import sys

import click

from llmlake.config import ConfigError, Params, as_dict, load_params
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


def main() -> None:
    cli(prog_name="llmlake")


if __name__ == "__main__":
    main()
