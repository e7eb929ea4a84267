"""The model card: a model folder's ``README.md``, in the Hugging Face model-card layout.

The card is written from three records the pipeline already keeps: the model's
``lineage.json`` (architecture, training parameters, every table version it came from,
and what each data stage did), the evaluation report (``reports/eval.json``) and the bias
report (``reports/bias.json``). It opens with YAML front matter (language, library,
pipeline tag, tags and a ``model-index`` of the measured results, which the Hub shows as
an evaluation table) and goes on in Markdown: model details, training data, training
procedure, evaluation, bias, intended use, limitations and how to load the model.

Older models have thinner lineage: a piece the records lack leaves its section out or
says "not recorded"; it never stops the card. Values are web text and file names, so a
``|`` in a table cell is escaped: it must not open a column.

:func:`render_card` is pure; :func:`write_card` writes ``<folder>/README.md`` atomically,
and the Hugging Face export copies it.

Example::

    >>> lineage = {"run": "train-demo", "model": {"arch": "gpt", "context": 64},
    ...            "data": {"clean": {"kept_languages": {"en": 10}}}}
    >>> evaluation = {"val": {"perplexity": 99.5, "bits_per_byte": 1.234}}
    >>> card = render_card(lineage, evaluation, {})
    >>> meta = yaml.safe_load(card.split("---")[1])
    >>> meta["language"], meta["library_name"]
    (['en'], 'transformers')
    >>> meta["model-index"][0]["results"][0]["metrics"][0]["value"]
    99.5
    >>> fmt(1234567), fmt(0.123456), fmt(None), cell("a|b")
    ('1,234,567', '0.1235', 'not recorded', 'a\\\\|b')
"""

from __future__ import annotations

import math
from functools import cache
from importlib.resources import files
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import jinja2
import yaml

from llmlake.config_eval import EVAL_SPLITS
from llmlake.html import dig
from llmlake.lake import write_atomic

CARD = "README.md"
TEMPLATE = "model_card.md.j2"
NOT_RECORDED = "not recorded"
SPLITS = ("train", *EVAL_SPLITS)
METRICS = (("perplexity", "Perplexity"), ("bits_per_byte", "Bits per byte"))
# (key in the task report, the Hub's metric type, label)
TASK_METRICS = (("accuracy", "accuracy", "Accuracy"), ("macro_f1", "f1", "Macro-F1"))
# A language that holds less than this share of the kept documents is not "the" language.
MAIN_LANGUAGE_SHARE = 0.9


def fmt(value: Any) -> str:
    """A number as people read it: counts with thousands separators, other numbers to 4
    significant digits; ``None`` is "not recorded"."""
    if value is None:
        return NOT_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return f"{int(value):,}"
    if isinstance(value, Real):
        x = float(value)
        if not math.isfinite(x):
            return str(x)
        return f"{round(x):,}" if abs(x) >= 1000 else f"{x:.4g}"
    return str(value)


def cell(value: Any) -> str:
    """``fmt(value)`` made safe inside a Markdown table row: one line, ``|`` escaped."""
    return " ".join(fmt(value).split()).replace("|", "\\|")


def interval(ci: Any) -> str:
    """``[0.35, 0.45]``; empty when the interval was not computed."""
    if not isinstance(ci, list | tuple) or len(ci) != 2 or None in ci:
        return ""
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    """A finite metric as a plain float (numpy scalars do not dump as YAML), else None."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _table(head: list[str], rows: list[list[Any]]) -> dict[str, Any] | None:
    return {"head": head, "rows": rows} if rows else None


def languages(lineage: dict[str, Any]) -> list[str]:
    """The languages clean kept, most documents first."""
    return [lang for lang, _ in _reasons(dig(lineage, "data", "clean", "kept_languages"))]


def model_index(name: str, evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """The Hub's ``model-index``: one result per evaluation split and per task; a metric
    that was not measured is left out, and so is a result without metrics."""
    def result(task: str, dataset: dict[str, Any], report: Any,
               metrics: list[tuple[str, str, str]]) -> dict[str, Any]:
        values = [{"type": kind, "value": _number(dig(report, key)), "name": label}
                  for key, kind, label in metrics]
        return {"task": {"type": "text-generation", "name": task}, "dataset": dataset,
                "metrics": [m for m in values if m["value"] is not None]}

    version = dig(evaluation, "data", "gold/documents", "version")
    results = [result("Language modeling", {
        "name": "llmlake gold/documents", "type": "gold/documents", "split": split,
        **({"revision": str(version)} if version is not None else {})}, evaluation.get(split),
        [(key, key, f"{label} ({split})") for key, label in METRICS]) for split in EVAL_SPLITS]
    for task, report in sorted(_dict(evaluation.get("tasks")).items()):
        split = {"split": report["split"]} if dig(report, "split") else {}
        results.append(result(f"{task} (multiple choice)", {"name": task, "type": task, **split},
                              report, list(TASK_METRICS)))
    return [{"name": name, "results": [r for r in results if r["metrics"]]}]


def front_matter(lineage: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML metadata, as a mapping."""
    arch = dig(lineage, "model", "arch") or dig(evaluation, "model", "arch")
    meta: dict[str, Any] = {}
    if languages(lineage):
        meta["language"] = languages(lineage)
    if arch == "gpt":  # the Hugging Face export loads it as Llama; a hybrid has no equivalent
        meta["library_name"] = "transformers"
    meta["pipeline_tag"] = "text-generation"
    meta["tags"] = ["llmlake", "causal-lm", *([arch] if arch else [])]
    # The weights derive from crawled web text whose licences nobody reviewed.
    meta["license"] = "other"
    index = model_index(_name(lineage, evaluation), evaluation)
    if index[0]["results"]:  # the Hub rejects an index without results
        meta["model-index"] = index
    return meta


def _name(lineage: dict[str, Any], evaluation: dict[str, Any]) -> str:
    return lineage.get("run") or dig(evaluation, "model", "run") or "llmlake-model"


def details(lineage: dict[str, Any], evaluation: dict[str, Any]) -> list[list[Any]]:
    """Model details as (field, value) rows."""
    model, preset = _dict(lineage.get("model")), dig(lineage, "params", "model", "preset")
    arch = model.get("arch") or dig(evaluation, "model", "arch")
    if arch == "hybrid" and model.get("attn_every"):
        arch = (f"hybrid (attention in every {model['attn_every']}th block, gated causal "
                f"convolutions of width {fmt(model.get('conv_kernel'))} between)")
    elif arch == "gpt":
        arch = "gpt (Llama-style decoder-only transformer)"
    hidden = model.get("mlp_hidden")
    return [
        ["Architecture", arch], ["Preset", preset], ["Layers", model.get("n_layer")],
        ["Attention heads", model.get("n_head")], ["Width", model.get("n_embd")],
        ["MLP width", "automatic (8/3 of the width)" if hidden == 0 else hidden],
        ["Parameters", dig(evaluation, "model", "params")],
        ["Context", model.get("context")], ["Vocabulary", model.get("vocab_size")],
        ["Tokenizer sha256", dig(lineage, "tables", "gold/sequences", "tokenizer")
         or dig(lineage, "data", "tokenizer", "tokenizer_sha256")],
        ["Weights sha256", dig(evaluation, "model", "weights_sha256")],
    ]


def table_versions(lineage: dict[str, Any]) -> tuple[list[list[Any]], str | None]:
    """Rows (table, path, version, made by) of every table the model came from, the
    sequences it trained on first; and the error that cut the chain short, if one did."""
    seq = _dict(dig(lineage, "tables", "gold/sequences"))
    rows = []
    if seq:
        rows.append(["gold/sequences", seq.get("table") or seq.get("path"), seq.get("version"),
                     "tokenize (read by train)"])
    upstream = _dict(lineage.get("upstream"))
    for table, info in upstream.items():
        info = _dict(info)
        if table == "error" or not info:
            continue
        row = [table, info.get("path"), info.get("version"), info.get("stage") or "outside"]
        if not (rows and row[:3] == rows[0][:3]):  # the train input, already listed
            rows.append(row)
    error = upstream.get("error")
    return rows, error if isinstance(error, str) else None


def _counts(value: Any) -> dict[str, Any]:
    """The numeric entries of a mapping (a malformed entry is left out, not fatal)."""
    return {k: v for k, v in _dict(value).items() if _number(v) is not None}


def _reasons(counts: Any) -> list[list[Any]]:
    """(reason, count) rows, most first."""
    return [[k, v] for k, v in sorted(_counts(counts).items(), key=lambda kv: (-kv[1], kv[0]))]


def _total(counts: Any) -> int | float | None:
    values = _counts(counts).values()
    return sum(values) if values else None


def flow(data: dict[str, Any]) -> list[list[Any]]:
    """Documents into and out of each data stage: (stage, in, out, removed) rows."""
    rows = []
    ingest, clean, dedup = (_dict(data.get(s)) for s in ("ingest", "clean", "dedup"))
    if ingest:
        records = _dict(ingest.get("records"))
        present = records.get("already_present") or 0
        removed = [f"{fmt(_total(ingest.get('quarantined')) or 0)} quarantined",
                   f"{fmt(_total(ingest.get('skipped')) or 0)} skipped (not documents)",
                   *([f"{fmt(present)} already in bronze"] if present else [])]
        rows.append(["ingest (raw records)", records.get("read"), records.get("written"),
                     ", ".join(removed)])
    if clean:
        docs = _dict(clean.get("documents"))
        rows.append(["clean", docs.get("total"), docs.get("kept"),
                     f"{fmt(docs.get('dropped'))} dropped by quality and language filters"])
    if dedup:
        removed = _dict(dedup.get("removed_total"))
        gold, total = dedup.get("gold_documents"), _total(removed)
        rows.append(["dedup", gold + total if gold is not None and total is not None else None,
                     gold, f"{fmt(removed.get('exact'))} exact and {fmt(removed.get('near'))} "
                     "near duplicates"])
    return rows


def splits(lineage: dict[str, Any]) -> list[list[Any]]:
    """(split, gold documents, tokens, sequences) rows: the tokenize stage's counts, else
    the shard headers older lineage kept."""
    gold = _dict(dig(lineage, "data", "dedup", "splits"))
    tokens = _dict(dig(lineage, "data", "tokenize", "splits")) or _dict(lineage.get("shards"))
    names = [s for s in SPLITS if s in gold or s in tokens]
    return [[s, gold.get(s) if not isinstance(gold.get(s), dict) else None,
             dig(tokens, s, "tokens"), dig(tokens, s, "sequences")] for s in names]


def training_data(lineage: dict[str, Any]) -> dict[str, Any]:
    data = _dict(lineage.get("data"))
    ingest, clean = _dict(data.get("ingest")), _dict(data.get("clean"))
    versions, error = table_versions(lineage)
    kept = _dict(clean.get("kept_languages"))
    return {
        "recorded": bool(data),
        "languages": _table(["Language", "Documents kept"], _reasons(kept)),
        "files": _table(["Source file", "Records read", "Documents", "Quarantined", "Skipped"],
                        [[path, *(dig(f, k) for k in ("read", "documents", "quarantined",
                                                        "skipped"))]
                         for path, f in sorted(_dict(ingest.get("per_file")).items())]),
        "tables": _table(["Table", "Path", "Version", "Made by"], versions),
        "lineage_error": error, "upstream_recorded": "upstream" in lineage,
        "flow": _table(["Stage", "In", "Out", "Removed"], flow(data)),
        "quarantined": _table(["Quarantine reason", "Records"],
                              _reasons(ingest.get("quarantined"))),
        "skipped": _table(["Skip reason", "Records"], _reasons(ingest.get("skipped"))),
        "dropped": _table(["Drop reason", "Documents"], _reasons(clean.get("dropped_by_reason"))),
        "pii": _table(["PII kind", "Redactions"], _reasons(clean.get("pii_redactions"))),
        "splits": _table(["Split", "Gold documents", "Tokens", "Sequences"], splits(lineage)),
        "clusters": dig(data, "dedup", "clusters_with_copies"),
        "tokenizer": _dict(data.get("tokenizer")),
        "seq_len": dig(data, "tokenize", "seq_len"),
    }


def procedure(lineage: dict[str, Any]) -> list[list[Any]]:
    """Training procedure as (field, value) rows, from ``params.train`` and the run."""
    t, git = _dict(dig(lineage, "params", "train")), _dict(lineage.get("git"))
    revision = git.get("revision")
    if revision and git.get("dirty"):
        revision = f"{revision} (with uncommitted changes)"
    rows: list[list[Any]] = [["Optimizer steps", lineage.get("step")],
                             ["Tokens seen", lineage.get("tokens")], ["Git revision", revision]]
    if not t:
        return rows
    sizes = [t.get(k) for k in ("batch_size", "grad_accum", "num_workers")]
    batch = math.prod(sizes) if all(isinstance(n, Integral) for n in sizes) else None
    nodes = lineage.get("nodes")
    return [*rows, ["Planned steps", t.get("max_steps")],
            ["Batch", f"{fmt(batch)} sequences of {fmt(t.get('context'))} tokens per step "
             f"({fmt(sizes[0])} per worker x {fmt(sizes[1])} accumulation steps x "
             f"{fmt(sizes[2])} workers)"],
            ["Learning rate", f"{fmt(t.get('lr'))} peak, linear warmup over "
             f"{fmt(t.get('warmup_steps'))} steps, cosine decay to "
             f"{fmt(t.get('min_lr_ratio'))} of the peak at the last planned step"],
            ["Optimizer", f"AdamW, betas ({fmt(t.get('beta1'))}, {fmt(t.get('beta2'))}), "
             f"weight decay {fmt(t.get('weight_decay'))}, gradient clip "
             f"{fmt(t.get('grad_clip'))}"],
            ["Workers", f"{fmt(sizes[2])} {'GPU' if t.get('use_gpu') else 'CPU'} workers "
             "(Ray Train, data parallel)"
             + (f" on {fmt(len(set(nodes)))} node(s)" if isinstance(nodes, list) else "")],
            ["Precision", t.get("dtype")], ["Data", t.get("data")], ["Seed", t.get("seed")]]


def _metric_row(prefix: list[Any], m: Any) -> list[Any]:
    m = _dict(m)
    return [*prefix, m.get("documents"), m.get("tokens"), m.get("perplexity"),
            m.get("bits_per_byte"), m.get("accuracy")]


def evaluation_tables(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The held-out text results, overall and by language and source, and the tasks."""
    head = ["Documents", "Tokens", "Perplexity", "Bits per byte", "Accuracy"]
    present = [s for s in EVAL_SPLITS if isinstance(evaluation.get(s), dict)]
    overall = [_metric_row([s], evaluation[s]) for s in present]
    by = {key: [_metric_row([s, group], m) for s in present
                for group, m in sorted(_dict(evaluation[s].get(key)).items())]
          for key in ("by_lang", "by_source")}
    tasks = []
    for name, r in sorted(_dict(evaluation.get("tasks")).items()):
        r = _dict(r)
        tasks.append([name, r.get("examples"), r.get("skipped"),
                      f"{fmt(r.get('accuracy'))} {interval(r.get('accuracy_ci'))}".strip(),
                      f"{fmt(r.get('macro_f1'))} {interval(r.get('macro_f1_ci'))}".strip(),
                      r.get("chance"), r.get("normalize")])
    data = [[t, dig(info, "path"), dig(info, "version")]
            for t, info in sorted(_dict(evaluation.get("data")).items())]
    return {
        "data": _table(["Table", "Path", "Version"], data),
        "overall": _table(["Split", *head], overall),
        "by_lang": _table(["Split", "Language", *head], by["by_lang"]),
        "by_source": _table(["Split", "Source", *head], by["by_source"]),
        "tasks": _table(["Task", "Examples", "Skipped", "Accuracy (95% CI)",
                         "Macro-F1 (95% CI)", "Chance", "Scored by"], tasks),
    }


def bias_table(bias: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, Any]:
    """Per category: probes, mean and worst gap and the favoured term (the highest mean
    log-likelihood of the shared continuation). Only the mean gaps when the full bias
    report is missing."""
    rows = []
    for name, c in sorted(_dict(bias.get("categories")).items()):
        means = _counts(dig(c, "term_means"))
        favoured = dig(c, "favoured") or (max(means, key=means.__getitem__) if means else None)
        rows.append([name, dig(c, "pairs"), dig(c, "mean_gap"), dig(c, "worst_gap"),
                     favoured])
    if not rows:
        gaps = _dict(dig(evaluation, "bias", "categories"))
        rows = [[name, None, gap, None, None] for name, gap in sorted(gaps.items())]
    source = bias if bias.get("categories") else _dict(evaluation.get("bias"))
    return {"table": _table(["Category", "Probes", "Mean gap", "Worst gap", "Favoured term"],
                            rows),
            "max_mean_gap": source.get("max_mean_gap"), "unit": bias.get("unit", "nats/token"),
            "sentences": bias.get("sentences"), "templates": bias.get("templates_source")}


def facts(lineage: dict[str, Any], evaluation: dict[str, Any]) -> dict[str, Any]:
    """The figures the summary and the limitations speak of."""
    kept = _counts(dig(lineage, "data", "clean", "kept_languages"))
    main = max(kept, key=kept.__getitem__) if kept else None
    share = kept[main] / sum(kept.values()) if main and sum(kept.values()) else None
    train_tokens = (dig(lineage, "data", "tokenize", "splits", "train", "tokens")
                    or dig(lineage, "shards", "train", "tokens"))
    return {
        "arch": dig(lineage, "model", "arch") or dig(evaluation, "model", "arch"),
        "params": dig(evaluation, "model", "params"),
        "train_tokens": train_tokens,
        "languages": languages(lineage),
        "main_language": main if share is not None and share >= MAIN_LANGUAGE_SHARE else None,
        "main_share": share,
        "pii_total": _total(dig(lineage, "data", "clean", "pii_redactions")),
        "parent": _dict(lineage.get("parent")) or None,
        "parent_recorded": "parent" in lineage,
    }


def card_context(lineage: dict[str, Any], evaluation: dict[str, Any],
                 bias: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, each missing piece as None or an empty table."""
    lineage, evaluation, bias = _dict(lineage), _dict(evaluation), _dict(bias)
    meta = yaml.safe_dump(front_matter(lineage, evaluation), sort_keys=False,
                          allow_unicode=True, width=1000)
    return {
        "front_matter": meta.rstrip("\n"),
        "name": _name(lineage, evaluation),
        "facts": facts(lineage, evaluation),
        "details": _table(["Field", "Value"], details(lineage, evaluation)),
        "data": training_data(lineage),
        "procedure": _table(["Field", "Value"], procedure(lineage)),
        "evaluation": evaluation_tables(evaluation),
        "bias": bias_table(bias, evaluation),
    }


@cache
def environment() -> jinja2.Environment:
    """Markdown, not HTML: no autoescaping (table cells go through ``cell`` instead)."""
    folder = files("training.evaluate") / "templates"

    def source(name: str) -> str | None:  # None: jinja2's TemplateNotFound
        return (folder / name).read_text(encoding="utf-8") if (folder / name).is_file() else None

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(source),
        autoescape=False, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(fmt=fmt, cell=cell)
    return env


def render_card(lineage: dict[str, Any], evaluation: dict[str, Any],
                bias: dict[str, Any]) -> str:
    """The model card's Markdown."""
    return environment().get_template(TEMPLATE).render(
        **card_context(lineage, evaluation, bias))


def write_card(folder: Path, lineage: dict[str, Any], evaluation: dict[str, Any],
               bias: dict[str, Any]) -> Path:
    """Write ``<folder>/README.md``; a killed stage leaves the old card, never half one."""
    text = render_card(lineage, evaluation, bias)
    return write_atomic(Path(folder) / CARD, lambda fh: fh.write(text))
