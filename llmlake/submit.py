"""Entry point shared by the ``spark-submit`` scripts under ``etl/``.

Each ETL module ends with ``if __name__ == "__main__": submit_main(run)`` so that
``spark-submit etl/ingest.py --params params.yaml --set ingest.sources='[...]'`` runs the
same ``run(params)`` as ``llmlake etl ingest``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from llmlake.config import ConfigError, Params, load_params


def submit_main(run: Callable[[Params], Any], argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params, args.overrides)
    except ConfigError as exc:
        parser.error(str(exc))
    result = run(params)
    if result is False:
        sys.exit(1)
