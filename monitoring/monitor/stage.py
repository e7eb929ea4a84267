"""``llmlake monitor``: is the current batch still the data the champion was trained on?

``run(params)`` describes a current batch (:mod:`monitoring.monitor.batch`: a folder of
raw files, extracted and cleaned in memory, or the prompts of ``ops/requests`` in a time
window) and a reference sample of the champion's gold data (its held-out splits by default)
(:mod:`monitoring.monitor.reference`) with the same descriptors
(:mod:`monitoring.descriptors`: text statistics, language, the champion's perplexity and
embeddings), runs the Evidently report (:mod:`monitoring.monitor.report`), decides
(:mod:`monitoring.monitor.drift`) and writes:

* ``reports/drift.json`` (DVC metrics): the verdict, its kinds and reasons in words, the
  drifted descriptors and their share, the perplexity ratio, the embedding score, the yield;
* ``reports/drift/<run>/``: ``index.html`` (the verdict at a glance), Evidently's
  ``report.html`` and ``report.json``; the snapshot also goes into the Evidently workspace
  (``monitor.workspace``, default ``artifacts/evidently``: ``evidently ui --workspace``).

An empty, unreadable or too small batch stops the command with the reason (exit 1): it is
never a "no drift" verdict. ``llmlake retrain`` acts on the verdict.

Example::

    >>> run_name(datetime(2026, 3, 1, 12, 30, tzinfo=UTC), "files", "data/raw/new")
    '20260301T123000000Z-files-new'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmlake.config import Params
from llmlake.config_monitor import REQUESTS
from llmlake.html import render, write_html
from llmlake.stage import Shell, StageError, stage_shell
from monitoring.monitor.batch import Batch, BatchError, read_folder, read_requests

DRIFT_DIR = "drift"


def run_name(when: datetime, kind: str, source: str) -> str:
    """A sortable, readable folder name for one check."""
    tail = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source.split(" ")[0]).name)[:40] or kind
    # Milliseconds: two checks in one second must not share a folder.
    return f"{when.strftime('%Y%m%dT%H%M%S')}{when.microsecond // 1000:03d}Z-{kind}-{tail}"


def current_batch(params: Params, sh: Shell) -> Batch:
    cfg = params.monitor
    try:
        if cfg.current == REQUESTS:
            batch = read_requests(sh.table("ops/requests"), cfg.since, cfg.until)
            sh.inputs["ops/requests"] = {"path": sh.table("ops/requests"),
                                         "version": batch.table_version}
        else:
            batch = read_folder(cfg.current, params)
    except BatchError as exc:
        raise StageError(f"monitor.current: {exc}") from exc
    if len(batch.texts) < cfg.min_docs:
        raise StageError(f"monitor.current: {batch.source} has {len(batch.texts)} usable "
                         f"documents, fewer than monitor.min_docs={cfg.min_docs}: too few "
                         "to test for drift")
    return batch.sampled(cfg.max_docs, cfg.seed)


def describe_both(params: Params, sh: Shell, ref_texts: list[str], vocab_texts: list[str],
                  batch: Batch, folder: Path) -> tuple[Any, Any, Any, Any]:
    """Descriptor rows and embeddings of the reference and the current batch."""
    from monitoring.descriptors import ModelProbe, describe, vocabulary
    from training.evaluate.stage import device_of

    cfg = params.monitor
    probe = ModelProbe.load(folder, device=device_of(cfg.device, "monitor.device"),
                            batch_size=cfg.batch_size)
    vocab = vocabulary(vocab_texts)
    sh.log.info("monitor: describing %d reference and %d current documents",
                len(ref_texts), len(batch.texts))
    ref_rows, ref_emb = describe(ref_texts, vocab, probe.tokenizer, probe)
    cur_rows, cur_emb = describe(batch.texts, vocab, probe.tokenizer, probe)
    return ref_rows, ref_emb, cur_rows, cur_emb


def judge(params: Params, sh: Shell, batch: Batch, champ: Any, described: tuple
          ) -> tuple[dict[str, Any], Any]:
    """The Evidently report and the verdict built from it."""
    from monitoring.descriptors import CATEGORICAL, MODEL_DESCRIPTORS, TEXT_DESCRIPTORS
    from monitoring.monitor.drift import drift_reason, drift_signals
    from monitoring.monitor.reference import lake_yield
    from monitoring.monitor.report import columns_of, embedding_score, evidently_report, frame_of

    cfg = params.monitor
    ref_rows, ref_emb, cur_rows, cur_emb = described
    names = [*TEXT_DESCRIPTORS, *MODEL_DESCRIPTORS]
    numeric = [n for n in names if n not in CATEGORICAL]
    categorical = [n for n in names if n in CATEGORICAL]
    snapshot = evidently_report(frame_of(ref_rows, ref_emb), frame_of(cur_rows, cur_emb),
                                numeric, categorical, cfg)
    body = snapshot.dict()
    lake_counts, lake_total = lake_yield(champ.lineage) if batch.kind == "files" else ({}, 0)
    signals = drift_signals(columns_of(body, names, cfg.p_value),
                            [r["perplexity"] for r in ref_rows],
                            [r["perplexity"] for r in cur_rows], embedding_score(body),
                            batch.outcomes(), batch.read, lake_counts,
                            lake_total, cfg)
    detected, kinds, reasons = drift_reason(signals, cfg)
    return {"drift_detected": detected, "kinds": kinds, "reasons": reasons, **signals}, snapshot


def write_page(folder: Path, metrics: dict[str, Any]) -> Path:
    return write_html(folder / "index.html",
                      render("monitoring.monitor", "drift.html.j2", **metrics))


def run(params: Params) -> dict[str, Any]:
    from monitoring.monitor.reference import champion, reference_texts
    from monitoring.monitor.report import save_run

    cfg = params.monitor
    with stage_shell("monitor", params) as sh:
        champ = champion(params.lake.artifacts)
        with sh.step("current"):
            batch = current_batch(params, sh)
        with sh.step("reference"):
            gold = champ.gold
            sh.inputs["gold/documents"] = {"path": gold["path"], "version": gold["version"]}
            ref_ids, ref_texts, vocab_texts = reference_texts(
                gold, cfg.reference, cfg.reference_docs, cfg.vocab_docs, cfg.seed)
        with sh.step("describe"):
            described = describe_both(params, sh, ref_texts, vocab_texts, batch, champ.folder)
        with sh.step("evidently"):
            verdict, snapshot = judge(params, sh, batch, champ, described)
        run = run_name(datetime.now(UTC), batch.kind, batch.source)
        folder = sh.lake.report(f"{DRIFT_DIR}/{run}")
        workspace = Path(cfg.workspace) if cfg.workspace else sh.lake.artifact("evidently")
        metrics = {
            **verdict, "run": run,
            "current": batch.summary() | {"documents": len(batch.texts)},
            "reference": {"documents": len(ref_ids), "splits": cfg.reference,
                          "table": gold["path"],
                          "version": gold["version"], "champion": champ.run,
                          "weights_sha256": champ.weights_sha256},
            "thresholds": {k: getattr(cfg, k) for k in (
                "p_value", "drift_share", "perplexity_ratio", "embedding_threshold",
                "yield_change")}}
        with sh.step("write"):
            files = save_run(snapshot, folder, workspace, run)
            metrics["files"] = files | {"page": str(write_page(folder, metrics))}
        level = sh.log.warning if verdict["drift_detected"] else sh.log.info
        level("monitor: %s", "; ".join(verdict["reasons"]) or "no drift detected")
        return sh.finish(metrics, lineage={"champion": str(champ.folder), "run": run})
