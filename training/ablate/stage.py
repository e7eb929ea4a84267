"""The ``ablate`` stage: what each curation step buys the model, measured on this lake.

For every variant in ``ablate.variants`` (:mod:`training.ablate.variants`) it builds the
training documents from the lake at the versions the data stages recorded
(:mod:`training.ablate.build`), trains the ``model`` preset on them for ``ablate.tokens``
tokens once per seed (:mod:`training.ablate.runs`), and scores each model on gold's test
split (bits per byte, perplexity) and the next-sentence task. Variants with the same
documents are trained once and say so (``same_as``). Then it writes:

* ``reports/ablate.json`` (DVC metrics): one row per variant with its documents, tokens,
  the figures, the difference to ``curated`` with its noise, and the verdict
  (:mod:`training.ablate.signals`);
* ``reports/ablate.html``: the table and a chart;
* ``reports/plots/ablate_bits_per_byte.csv`` for ``dvc plots``.

Run it as ``llmlake ablate`` (``--set ablate.seeds=3 --set ablate.tokens=1000000`` for a
firmer answer).

Example::

    >>> report = run(load_params("params.yaml"))                     # doctest: +SKIP
    >>> report["variants"]["raw"]["verdict"]                          # doctest: +SKIP
    'worse'
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmlake.config import Params, fingerprint
from llmlake.config_ablate import REFERENCE
from llmlake.log import progress_bar
from llmlake.stage import MissingInput, Shell, StageError, stage_shell
from training.ablate.runs import steps_for

# (stage, its lineage section, table): silver at the version dedup read, so that gold and
# its duplicates account for every kept silver row.
TABLES = (("ingest", "tables", "bronze/documents"), ("dedup", "inputs", "silver/documents"),
          ("dedup", "tables", "gold/documents"), ("dedup", "tables", "gold/duplicates"))


CODE = ("training.ablate.runs", "training.ablate.heldout", "training.train.loop",
        "training.model", "training.conv", "training.loss", "training.data",
        "training.evaluate.score", "training.evaluate.tasks", "training.evaluate.corpus")


def lake_tables(sh: Shell) -> dict[str, dict[str, Any]]:
    """Each table at the version its lineage record names."""
    out = {}
    for stage, section, table in TABLES:
        record = sh.lake.lineage(stage)
        if not record.exists():
            raise MissingInput(f"llmlake ablate: {record} does not exist; make it with "
                               f"`llmlake etl {stage}`")
        info = json.loads(record.read_text())[section][table]
        out[table] = sh.inputs[table] = {"path": info["path"], "version": info["version"]}
    return out


def run(params: Params) -> dict[str, Any]:
    from training.ablate.build import build, read_lake
    from training.ablate.report import write_reports

    cfg = params.ablate
    with stage_shell("ablate", params) as sh:
        tables = lake_tables(sh)
        folder = sh.require_artifact("tokenizer", "tokenizer.json")
        with sh.step("variants"):
            lake = read_lake(tables)
            variants = build(lake, cfg.variants, params.clean, params.dedup)
        for v in variants.values():
            sh.log.info("ablate: %s: %d documents", v.name, len(v.docs))
            if not v.docs:
                raise StageError(f"ablate.variants: {v.name} has no documents in this lake")
        with sh.step("held_out"):
            setup = _setup(params, folder, lake)
        with sh.step("train"):
            runs, same_as = _train_all(sh, params, variants, setup)
        with sh.step("report"):
            metrics = write_reports(sh, params, variants, runs, same_as, setup)
        return sh.finish(metrics)


def _setup(params: Params, folder: Any, lake: Any) -> dict[str, Any]:
    """What every run shares: tokenizer, model config, device, the held-out set."""
    from llmlake.tokenizer import EOS, PAD, TOKENIZER_FILE, file_hash, load
    from training.ablate.heldout import held_out
    from training.evaluate.stage import device_of
    from training.train.stage import resolve_model

    tok = load(folder)
    if tok.token_to_id(EOS) is None or tok.token_to_id(PAD) is None:
        raise StageError(f"llmlake ablate: {folder} has no {EOS} or {PAD} token; make the "
                         "tokenizer with `llmlake etl tokenizer`")
    model_cfg = resolve_model(params, tok.get_vocab_size())
    held = held_out(lake, tok, model_cfg.context, params)
    device = device_of(params.ablate.device, "ablate.device")
    # What a cached run must share with this one besides its documents, seed and loop: the
    # code that trains and scores too, so a changed loop or model never reuses old runs.
    key = fingerprint({"model": asdict(model_cfg), "tokenizer": file_hash(folder / TOKENIZER_FILE),
                       "held_out": held.fingerprint(), "device": device, "code": code_hash(),
                       "evaluate": [params.evaluate.batch_size, params.evaluate.normalize]})
    return {"tok": tok, "model": model_cfg, "held": held, "key": key, "eos": tok.token_to_id(EOS),
            "pad": tok.token_to_id(PAD), "device": device}


def code_hash() -> str:
    """SHA-256 of the modules a run's result depends on."""
    import hashlib
    import importlib

    h = hashlib.sha256()
    for name in CODE:
        h.update(Path(importlib.import_module(name).__file__ or "").read_bytes())
    return h.hexdigest()[:16]


def _train_all(sh: Shell, params: Params, variants: dict[str, Any], setup: dict[str, Any]
               ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Runs per variant (one per seed); a variant with another's documents reuses its runs."""
    from training.ablate.runs import cached, loop_config

    cfg, context = params.ablate, params.train.context
    seeds = [cfg.seed + i for i in range(cfg.seeds)]
    count = steps_for(cfg.tokens, cfg.batch_size, context) * cfg.batch_size
    prints = {name: v.fingerprint() for name, v in variants.items()}
    # documents' fingerprint -> the variant trained on them: the reference first, so a
    # variant with curated's documents reads "= curated" wherever it is listed.
    first = {prints[REFERENCE]: REFERENCE}
    for name, fp in prints.items():
        first.setdefault(fp, name)
    same_as = {name: first[fp] for name, fp in prints.items() if first[fp] != name}
    todo = [v for v in variants.values() if v.name not in same_as]
    runs: dict[str, list[dict[str, Any]]] = {}
    folder = sh.lake.artifact("ablate")
    with progress_bar(len(todo) * len(seeds), "ablate", unit="run") as bar:
        for v in todo:
            runs[v.name] = []
            for seed in seeds:
                key = fingerprint({"docs": prints[v.name], "seed": seed, "setup": setup["key"],
                                   "loop": asdict(loop_config(params.train, cfg, seed))})
                record = cached(folder, key, lambda v=v, seed=seed: _one_run(
                    params, v.docs, seed, count, setup))
                runs[v.name].append(record)
                sh.log.info("ablate: %s seed %d: train loss %.3f in %.1fs", v.name, seed,
                            record["train_loss"] or float("nan"), record["train_seconds"])
                bar.update(1)
    for name, other in same_as.items():
        runs[name] = runs[other]
    return runs, same_as


def _one_run(params: Params, docs: dict[str, str], seed: int, count: int,
             setup: dict[str, Any]) -> dict[str, Any]:
    from training.ablate.runs import loop_config, sample_sequences, score_run, train_run

    seqs, info = sample_sequences(docs, setup["tok"], setup["eos"], params.train.context + 1,
                                  count, seed)
    model, losses = train_run(setup["model"], loop_config(params.train, params.ablate, seed),
                              seqs, setup["held"], setup["pad"], setup["device"])
    scores = score_run(model, setup["tok"], setup["held"], params.evaluate.batch_size,
                       params.evaluate.normalize, setup["device"])
    return {"seed": seed, **info, **losses, **scores}
