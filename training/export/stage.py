"""The ``export`` command: a model folder in another tool's format, on demand.

``llmlake export --format hf`` writes the champion (the folder ``artifacts/champion.json``
names), else ``artifacts/model``, or the folder ``--model`` names, to ``--out`` (default
``artifacts/hf``) as a transformers Llama checkpoint (:mod:`training.export.hf`). It is
no pipeline stage: nothing downstream reads the export, so it writes no report or lineage
of its own beyond the export's ``lineage.json``. A model that cannot be exported (a
hybrid) or a missing model folder is one line and exit status 1.

Example::

    >>> from llmlake.config import Params, LakeConfig
    >>> import tempfile
    >>> params = Params(lake=LakeConfig(artifacts=tempfile.mkdtemp()))
    >>> source_model(params).name
    'model'
    >>> run(params)
    Traceback (most recent call last):
    ...
    llmlake.stage.MissingInput: llmlake export: model folder .../model does not exist; make it with `llmlake train`
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmlake.config import Params
from llmlake.log import get_logger
from llmlake.stage import MissingInput, StageError
from llmlake.stages import maker_of, stage_spec


def source_model(params: Params) -> Path:
    """The folder to export: ``export.model``, else the champion, else ``artifacts/model``."""
    from training.checkpoint import model_or_champion

    try:
        return model_or_champion(params.lake.artifacts, params.export.model)
    except ValueError as exc:
        raise StageError(str(exc)) from exc


def out_folder(params: Params) -> Path:
    return Path(params.export.out or Path(params.lake.artifacts) / params.export.format)


def run(params: Params) -> dict[str, Any]:
    from training.checkpoint import WEIGHTS
    from training.export.hf import ExportError, count_params, export_hf

    command = stage_spec("export").command
    model, out = source_model(params), out_folder(params)
    if not (model / WEIGHTS).exists():
        maker = maker_of("artifacts/model")
        how = f"; make it with `{maker.command}`" if maker else ""
        raise MissingInput(f"{command}: model folder {model} does not exist{how}")
    try:
        export_hf(model, out)
    except (ExportError, FileNotFoundError) as exc:
        raise StageError(f"{command}: {model}: {exc}") from exc
    n = count_params(out)
    get_logger(__name__).info(
        "export: %s (%d parameters) written to %s as %s; load it with "
        "transformers.AutoModelForCausalLM.from_pretrained(%r)",
        model, n, out, params.export.format, str(out))
    return {"format": params.export.format, "model": str(model), "out": str(out), "params": n}
