"""Entry point shared by the ``spark-submit`` scripts: ``etl/<stage>/stage.py``.

Each stage module ends with ``if __name__ == "__main__": submit_main("<stage>")`` so that
``spark-submit etl/ingest/stage.py --params params.yaml --set ingest.sources='[...]'``
runs the same ``run(params)`` as ``llmlake etl ingest``, with the same one-line errors.
A stage run per item (``validate``) takes the item first: ``etl/validate/stage.py gold``.
"""

from __future__ import annotations

import argparse

from llmlake.config import ConfigError, load_params


def submit_main(stage: str, argv: list[str] | None = None) -> None:
    from llmlake.cli import run_stage
    from llmlake.stages import stage_spec

    spec = stage_spec(stage)
    parser = argparse.ArgumentParser(prog=f"{spec.folder}/stage.py", description=spec.help)
    if spec.items:
        parser.add_argument("item", choices=spec.items)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params, args.overrides)
    except ConfigError as exc:
        parser.error(str(exc))
    run_stage(spec, params, getattr(args, "item", None))
