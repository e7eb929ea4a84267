"""The data half of the page: the document funnel, data quality, the tokenizer and the
training curves, each built from :func:`monitoring.report.inputs.read_reports`'s result.

Every builder is pure and returns a section (:func:`monitoring.report.common.section`). An
input that is missing or unreadable is named in the section's ``missing`` list with the
command that makes it; the section still renders what the other inputs give.

Example::

    >>> reports = {"json": {"clean": {"documents": {"total": 10, "kept": 8, "dropped": 2},
    ...                               "dropped_by_reason": {"short": 2}}},
    ...            "logs": {}, "problems": {}, "history": None, "pages": []}
    >>> s = funnel(reports)
    >>> s["status"], [r["stage"] for r in s["body"]["rows"]]
    ('present', ['clean'])
    >>> s["missing"][0]
    'reports/sample.json is missing: run `llmlake sample`'
    >>> training(reports)["missing"][0]
    'No model yet: run `llmlake train` (or `dvc repro`)'
"""

from __future__ import annotations

from typing import Any

from llmlake.html import dig
from monitoring.report.charts import line_chart, loss_series
from monitoring.report.common import (
    count,
    facts,
    fmt,
    mapping,
    need,
    num,
    reasons,
    section,
    texts,
    total,
)
from monitoring.report.inputs import VALIDATED, made_by

NO_MODEL = "No model yet: run `llmlake train` (or `dvc repro`)"


# --- funnel -------------------------------------------------------------------------------

def _row(stage: str, label: str, into: Any, out: Any, out_unit: str = "documents",
         removed: list[dict[str, Any]] | None = None, note: str = "") -> dict[str, Any]:
    return {"stage": stage, "command": made_by(stage), "label": label, "in": fmt(num(into)),
            "out": fmt(num(out)), "out_unit": out_unit, "bar": count(out),
            "removed": removed or [], "note": note}


def _removed(what: str, mapping: Any) -> dict[str, Any]:
    return {"what": what, "count": fmt(total(mapping)), "reasons": [
        {"reason": r["reason"], "count": fmt(r["count"])} for r in reasons(mapping)]}


def _sample_row(d: dict[str, Any]) -> dict[str, Any]:
    dups = mapping(d.get("dups"))
    note = (f"{fmt(num(d.get('files')))} files; duplicates planted: "
            f"{fmt(num(dig(dups, 'exact')))} exact, {fmt(num(dig(dups, 'near')))} near")
    return _row("sample", "raw documents", None, d.get("docs"), note=note)


def _ingest_row(d: dict[str, Any]) -> dict[str, Any]:
    # The table's rows, not this batch's: clean reads the whole bronze table.
    out = dig(d, "tables", "bronze/documents", "rows") or dig(d, "records", "documents")
    removed = [_removed("skipped (not documents)", d.get("skipped")),
               _removed("quarantined", d.get("quarantined"))]
    return _row("ingest", "bronze", dig(d, "records", "read"), out, removed=removed,
                note="in: records read from the raw files")


def _clean_row(d: dict[str, Any]) -> dict[str, Any]:
    docs = mapping(d.get("documents"))
    return _row("clean", "silver kept", dig(docs, "total"), dig(docs, "kept"),
                removed=[_removed("dropped", d.get("dropped_by_reason"))])


def _dedup_row(d: dict[str, Any]) -> dict[str, Any]:
    gold, dups = num(d.get("gold_documents")), total(d.get("removed_total"))
    into = gold + dups if gold is not None and dups is not None else None
    return _row("dedup", "gold", into, gold,
                removed=[_removed("duplicates removed", d.get("removed_total"))])


def _tokenize_row(d: dict[str, Any]) -> dict[str, Any]:
    splits = {k: v for k, v in mapping(d.get("splits")).items() if isinstance(v, dict)}
    docs = sum(count(s.get("documents")) for s in splits.values())
    seqs = sum(count(s.get("sequences")) for s in splits.values())
    tokens = sum(count(s.get("tokens")) for s in splits.values())
    return _row("tokenize", "tokenized", docs, docs,
                note=f"{fmt(seqs)} sequences of {fmt(num(d.get('seq_len')))} tokens, "
                     f"{fmt(tokens)} tokens")


FUNNEL = (("sample", _sample_row), ("ingest", _ingest_row), ("clean", _clean_row),
          ("dedup", _dedup_row), ("tokenize", _tokenize_row))


def funnel(reports: dict[str, Any]) -> dict[str, Any]:
    """Documents in and out of each data stage, with what each removed and why."""
    rows, missing = [], []
    for stem, build in FUNNEL:
        data, problem = need(reports, stem)
        if data is None:
            missing.append(problem)
        else:
            rows.append(build(data))
    bars = [{"label": f"{r['label']} ({r['stage']})", "value": r["bar"],
             "text": f"{r['out']} {r['out_unit']}"} for r in rows]
    body = {"rows": rows, "bars": bars} if rows else None
    return section("funnel", "Documents through the pipeline", body, missing)


# --- data quality -------------------------------------------------------------------------

def _expectation(e: Any) -> dict[str, Any]:
    e = mapping(e)
    pct = num(e.get("unexpected_percent"))
    return {"expectation": str(e.get("expectation") or "?"), "column": e.get("column") or "",
            "success": e.get("success") is True,
            "unexpected": fmt(num(e.get("unexpected_count"))),
            "percent": f"{pct:.2f}%" if pct is not None else fmt(None),
            "observed": str(e.get("observed") or ""), "expected": str(e.get("expected") or "")}


def _suite(table: str, d: dict[str, Any], pages: list[str]) -> dict[str, Any]:
    stats = mapping(d.get("statistics"))
    listed = d.get("expectations")
    docs = f"gx/{table}/index.html"
    return {
        "table": table, "suite": str(d.get("suite") or table), "success": d.get("success"),
        "version": fmt(num(d.get("delta_version"))),
        "evaluated": fmt(num(stats.get("evaluated"))), "failed": fmt(num(stats.get("failed"))),
        "successful": fmt(num(stats.get("successful"))),
        "expectations": ([_expectation(e) for e in listed] if isinstance(listed, list)
                         else None),
        "failures": [_expectation(e) for e in d.get("failed_expectations")]
        if isinstance(d.get("failed_expectations"), list) else [],
        "skipped": texts(d.get("skipped_expectations")),
        "docs": docs if docs in pages else None,
    }


def quality(reports: dict[str, Any]) -> dict[str, Any]:
    """Each table's Great Expectations suite: the verdict and every expectation."""
    suites, missing = [], []
    for table in VALIDATED:
        data, problem = need(reports, f"validate_{table}")
        if data is None:
            missing.append(problem)
        else:
            suites.append(_suite(table, data, reports["pages"]))
    body = {"suites": suites} if suites else None
    return section("quality", "Data quality (Great Expectations)", body, missing)


# --- tokenizer ----------------------------------------------------------------------------

def tokenizer(reports: dict[str, Any]) -> dict[str, Any]:
    """The tokenizer's figures and how gold was cut into sequences."""
    data, problem = need(reports, "tokenizer",
                         "No tokenizer yet: run `llmlake etl tokenizer` (or `dvc repro`)")
    missing = [problem] if problem else []
    if data is None:
        return section("tokenizer", "Tokenizer", None, missing)
    val = mapping(data.get("val"))
    sha = data.get("tokenizer_sha256")
    body = {"facts": facts(
        ("vocabulary", num(data.get("vocab_size"))),
        ("trained on (gold train documents)", num(data.get("train_documents"))),
        ("gold version", num(data.get("gold_version"))),
        ("bytes per token (val)", num(val.get("bytes_per_token"))),
        ("tokens per word (val)", num(val.get("tokens_per_word"))),
        ("val documents", num(val.get("documents"))),
        ("reused from", data.get("reused_from")),
        ("sha256", sha[:16] if isinstance(sha, str) else None)), "splits": []}
    seqs, problem = need(reports, "tokenize")
    if seqs is None:
        missing.append(problem)
    else:
        for name, s in mapping(seqs.get("splits")).items():
            if isinstance(s, dict):
                body["splits"].append({"split": str(name), **{k: fmt(num(s.get(k))) for k in (
                    "documents", "sequences", "tokens", "bytes", "remainder_tokens")}})
    return section("tokenizer", "Tokenizer", body, missing)


# --- training -----------------------------------------------------------------------------

def _run(name: str, summary: dict[str, Any] | None, log: list[dict[str, Any]] | None,
         ) -> dict[str, Any]:
    s = summary or {}
    return {"name": name, "chart": line_chart(loss_series(log)) if log else None,
            "facts": facts(("steps", num(s.get("steps"))), ("tokens", num(s.get("tokens"))),
                           ("parameters", num(s.get("params"))),
                           ("first val loss", num(s.get("first_val_loss"))),
                           ("final train loss", num(s.get("train_loss"))),
                           ("final val loss", num(s.get("val_loss"))),
                           ("tokens per second", num(s.get("tokens_per_s"))),
                           ("wall seconds", num(s.get("wall_seconds"))),
                           ("mode", s.get("mode")),
                           ("val exact match", num(s.get("val_exact_match"))))}


def _tuned(data: dict[str, Any] | None) -> list[dict[str, str]]:
    best = dig(data, "best")
    if not isinstance(best, dict):
        return []
    config = mapping(best.get("config"))
    return facts(("best trial", best.get("trial")), ("best val loss", num(best.get("val_loss"))),
                 ("improvement over the defaults", num(dig(data, "improvement"))),
                 *((str(k), v) for k, v in config.items()))


def training(reports: dict[str, Any]) -> dict[str, Any]:
    """Loss curves of the training run and of the fine-tuning run when there is one."""
    runs, missing = [], []
    for name, absent in (("train", NO_MODEL), ("finetune", "No fine-tuning run yet: "
                                               "run `llmlake finetune` (optional)")):
        summary, problem = need(reports, name, absent)
        log, bad = reports["logs"].get(name), reports["problems"].get(f"{name}/log.csv")
        if problem:
            missing.append(problem)
        if summary is None and log is None and not bad:
            continue  # no run at all: the one message above says so
        if bad or log is None:
            missing.append(bad or f"reports/{name}/log.csv is missing: run `{made_by(name)}`")
        runs.append(_run(name, summary, log))
    tuned, _ = need(reports, "tune_best")  # optional: no word when there is none
    has_train = any(r["name"] == "train" for r in runs)
    body = {"runs": runs, "tuned": _tuned(tuned)} if has_train else None
    return section("training", "Training", body, missing)
