"""The ``evaluate`` stage: how good ``artifacts/model`` is, and how it leans.

It loads the candidate (``artifacts/model``, or ``evaluate.model``) with its tokenizer and
lineage, and measures:

* **held-out text** (:mod:`.corpus`): perplexity, bits per byte and next-token accuracy
  on gold's val and test splits at the version the model's lineage names, by language and
  by source format;
* **tasks** (:mod:`.tasks`): each multiple-choice or cloze file of ``evaluate.tasks``, and
  the built-in ``next_sentence`` task made from the test split, scored by length-normalized
  log-likelihood: accuracy and macro-F1 with bootstrap 95% intervals;
* **bias** (:mod:`.bias`): templated sentence pairs differing only in a demographic term.

It writes ``reports/eval.json`` (DVC metrics: ``dvc metrics diff`` compares two models),
``reports/bias.json`` and ``reports/bias.html``, and the model card
``artifacts/model/README.md`` (:mod:`.card`). The promotion gate reads the first two.

Run it as ``llmlake evaluate`` (``--set evaluate.device=cuda`` on a GPU).

Example::

    >>> report = run(load_params("params.yaml"))            # doctest: +SKIP
    >>> report["val"]["bits_per_byte"] > 0                   # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmlake.config import Params
from llmlake.lake import write_json
from llmlake.log import progress_bar
from llmlake.stage import MissingInput, Shell, StageError, stage_shell
from llmlake.tokenizer import EOS, TOKENIZER_FILE, file_hash
from llmlake.tokenizer import load as load_tokenizer


def model_folder(sh: Shell) -> Path:
    """The model to evaluate: ``evaluate.model``, else ``artifacts/model``."""
    chosen = sh.params.evaluate.model
    folder = Path(chosen) if chosen else sh.lake.artifact("model")
    if not (folder / "model.safetensors").exists():
        if chosen:
            raise StageError(f"evaluate.model: {folder} is not a model folder "
                             "(no model.safetensors)")
        sh.require_artifact("model", "model.safetensors")
    return folder


def device_of(choice: str, key: str = "evaluate.device") -> str:
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise StageError(f"{key}: cuda was asked for, but torch sees no GPU")
    return "cuda" if choice == "auto" and torch.cuda.is_available() else (
        "cpu" if choice == "auto" else choice)


def eval_tables(sh: Shell, lineage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """gold/documents (and bronze/documents, for the source formats) at the versions the
    model was trained from: from its lineage, else from the tokenize stage's record."""
    tables = {name: lineage.get("upstream", {}).get(name)
              for name in ("gold/documents", "bronze/documents")}
    if not tables["gold/documents"]:
        record = sh.lake.lineage("tokenize")
        if not record.exists():
            raise MissingInput(f"llmlake evaluate: the model's lineage names no gold/documents "
                               f"version and {record} does not exist; make it with "
                               "`llmlake etl tokenize`")
        tables["gold/documents"] = json.loads(record.read_text())["inputs"]["gold/documents"]
    out = {}
    for name, info in tables.items():
        if info:
            sh.inputs[name] = {"path": info["path"], "version": info["version"]}
            out[name] = sh.inputs[name]
    return out


def run(params: Params) -> dict[str, Any]:
    from training.checkpoint import load_model
    from training.evaluate import card
    from training.evaluate.bias import bias_signals, probes, write_bias_html

    cfg = params.evaluate
    with stage_shell("evaluate", params) as sh:
        folder = model_folder(sh)
        device = device_of(cfg.device)
        model, lineage = load_model(folder, device)
        tok = load_tokenizer(folder)
        tables = eval_tables(sh, lineage)
        identity = _identity(folder, model, lineage)
        sh.log.info("evaluate: %s (%s, %d parameters) on %s", folder, identity["arch"],
                    identity["params"], device)
        with sh.step("documents"):
            corpus, docs = _documents(sh, model, tok, tables, device)
        with sh.step("tasks"):
            test_docs = [(d.doc_id, d.text) for d in docs if d.split == "test"]
            tasks = _tasks(sh, model, tok, test_docs, device)
        with sh.step("bias"):
            templates = _templates(cfg.bias_templates)
            sentences = sum(len(p.terms) for p in probes(templates))
            with progress_bar(sentences, "evaluate bias", unit="sentence") as bar:
                bias = bias_signals(model, tok, templates, batch_size=cfg.batch_size,
                                    device=device, examples=cfg.bias_examples,
                                    on_batch=bar.update)
            write_json(sh.lake.report("bias.json"), bias)
            write_bias_html(sh.lake.report("bias.html"), bias, identity["run"] or str(folder))
        metrics = {"model": identity, "data": tables, **corpus, "tasks": tasks,
                   "bias": {"max_mean_gap": bias["max_mean_gap"],
                            "categories": {k: v["mean_gap"]
                                           for k, v in bias["categories"].items()}}}
        with sh.step("card"):
            card.write_card(folder, lineage, metrics, bias)
            sh.plot("bits_per_byte", _plot_rows(corpus))
        return sh.finish(metrics, lineage={"model": identity})


def _plot_rows(corpus: dict[str, Any]) -> list[dict[str, Any]]:
    """Bits per byte of each split, language and source, for ``dvc plots``."""
    rows = []
    for split, report in corpus.items():
        rows.append({"group": f"{split}", "bits_per_byte": report["bits_per_byte"]})
        for kind in ("lang", "source"):
            for name, sub in report[f"by_{kind}"].items():
                rows.append({"group": f"{split} {kind}={name}",
                             "bits_per_byte": sub["bits_per_byte"]})
    return rows


def _identity(folder: Path, model: Any, lineage: dict[str, Any]) -> dict[str, Any]:
    """What names the evaluated model: the promotion gate checks the candidate is it."""
    return {"path": str(folder), "run": lineage.get("run"),
            "weights_sha256": file_hash(folder / "model.safetensors"),
            "tokenizer_sha256": file_hash(folder / TOKENIZER_FILE),
            "params": model.num_params(), "arch": model.config.arch}


def _documents(sh: Shell, model: Any, tok: Any, tables: dict[str, Any],
               device: str) -> tuple[dict[str, Any], list[Any]]:
    from training.evaluate.corpus import evaluate_documents, read_documents

    cfg = sh.params.evaluate
    gold, bronze = tables["gold/documents"], tables.get("bronze/documents") or {}
    docs = read_documents(gold["path"], gold["version"], bronze.get("path"), bronze.get("version"),
                          cfg.splits, cfg.max_docs, cfg.seed)
    if not docs:
        raise StageError(f"llmlake evaluate: gold/documents version {gold['version']} has no "
                         f"documents in the {', '.join(cfg.splits)} split(s)")
    sh.log.info("evaluate: %d documents", len(docs))
    report = evaluate_documents(model, tok, docs, tok.token_to_id(EOS), cfg.batch_size,
                                cfg.stride, device)
    return report, docs


def _tasks(sh: Shell, model: Any, tok: Any, test_docs: list[tuple[str, str]],
           device: str) -> dict[str, Any]:
    from training.evaluate.tasks import evaluate_task, resolve_task

    cfg, out = sh.params.evaluate, {}
    for spec in cfg.tasks:
        try:
            name, examples, problems = resolve_task(spec, cfg, test_docs)
        except FileNotFoundError as exc:
            raise StageError(str(exc)) from exc
        if name in out:
            raise StageError(f"evaluate.tasks: two tasks are named {name!r}; rename a file")
        for problem in problems:
            sh.log.warning("evaluate: %s line %d skipped: %s", spec, problem.line,
                           problem.reason)
        if not examples:
            sh.log.warning("evaluate: task %s has no usable examples", spec)
        choices = sum(len(ex.choices) for ex in examples)
        with progress_bar(choices, f"evaluate {name}", unit="choice") as bar:
            out[name] = evaluate_task(model, tok, name, examples, problems, cfg, device,
                                      on_batch=bar.update)
        if spec.startswith("builtin:"):
            out[name]["split"] = "test"
    return out


def _templates(path: str) -> Any:
    from training.evaluate.bias import load_templates

    try:
        return load_templates(path)
    except (OSError, ValueError) as exc:
        raise StageError(f"evaluate.{exc}") from exc
