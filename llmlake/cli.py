"""The ``llmlake`` console script: one sub-command per pipeline stage.

Every command takes ``--params PATH`` and repeatable ``--set section.key=value`` (YAML
typed) before the sub-command name. Heavy libraries are imported inside the commands, so
``llmlake --help`` stays instant.

Example::

    llmlake --set sample.docs=500 sample --out data/raw/sample
    llmlake etl ingest
    llmlake validate bronze
"""

from __future__ import annotations

import importlib
import sys

import click

from llmlake.config import ConfigError, Params, as_dict, load_params


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True,
    type=click.Path(dir_okay=False), help="params.yaml with one section per stage.",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
    help="Override one parameter (value parsed as YAML). Repeatable.",
)
@click.pass_context
def cli(ctx: click.Context, params_path: str, overrides: tuple[str, ...]) -> None:
    """llmlake: raw web text to a served language model, as a lakehouse pipeline."""
    ctx.obj = {"path": params_path, "overrides": list(overrides)}


def params_of(ctx: click.Context, *extra: str) -> Params:
    """Load params for the running command; extra overrides come from command flags."""
    obj = ctx.find_root().obj
    try:
        return load_params(obj["path"], [*obj["overrides"], *extra])
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


@cli.command("params")
@click.pass_context
def show_params(ctx: click.Context) -> None:
    """Print the resolved parameters (params.yaml plus --set overrides) as YAML."""
    import yaml

    click.echo(yaml.safe_dump(as_dict(params_of(ctx)), sort_keys=False))


@cli.command()
@click.option("--out", default=None, help="Output folder (default: sample.out).")
@click.option("--docs", type=int, default=None, help="Number of documents (default: sample.docs).")
@click.option("--seed", type=int, default=None, help="Random seed (default: sample.seed).")
@click.pass_context
def sample(ctx: click.Context, out: str | None, docs: int | None, seed: int | None) -> None:
    """Write the deterministic sample web crawl (WARC, WET, JSONL, Parquet + truth.jsonl)."""
    extra = [f"sample.{k}={v}" for k, v in (("out", out), ("docs", docs), ("seed", seed))
             if v is not None]
    from etl import sample as stage

    stage.run(params_of(ctx, *extra))


@cli.group()
def etl() -> None:
    """Spark ETL jobs (each is also a spark-submit script under etl/)."""


# (command, module under etl/, help): each runs ``etl.<module>.run(params)``, imported only
# when the command runs.
ETL_STAGES = (
    ("ingest", "ingest", "Read raw corpora into the bronze/documents Delta table."),
    ("clean", "clean",
     "Extract, normalize, identify language, filter and redact: bronze to silver."),
    ("dedup", "dedup",
     "Exact and MinHash near-duplicate removal, clusters and splits: silver to gold."),
    ("tokenizer", "tokenizer", "Train the byte-level BPE tokenizer on the gold train split."),
    ("tokenize", "sequences",
     "Encode gold documents and pack them into gold/sequences of context + 1 tokens."),
    ("export-shards", "shards",
     "Write gold/sequences as flat binary token shards for numpy/torch-only training."),
)


def _stage_command(name: str, module: str, help_text: str) -> click.Command:
    @click.pass_context
    def command(ctx: click.Context) -> None:
        stage = importlib.import_module(f"etl.{module}")
        stage.run(params_of(ctx))

    return click.command(name, help=help_text)(command)


for _name, _module, _help in ETL_STAGES:
    etl.add_command(_stage_command(_name, _module, _help))


@cli.command()
@click.argument("table", type=click.Choice(["bronze", "silver", "gold", "sequences"]))
@click.pass_context
def validate(ctx: click.Context, table: str) -> None:
    """Validate a lake table with its Great Expectations suite (exit 1 on failure)."""
    from etl import validate as stage

    ok = stage.run(params_of(ctx), table)
    sys.exit(0 if ok else 1)


def main() -> None:
    cli(prog_name="llmlake")


if __name__ == "__main__":
    main()
