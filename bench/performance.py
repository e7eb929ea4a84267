"""The README's performance tables, generated from ``bench/results/*.json``.

Each stage's benchmark writes its figures to ``bench/results/<name>.json``; this script turns
them into the markdown tables of the README's "Performance" and "Scaling out" sections
(between ``<!-- performance:begin -->`` / ``<!-- performance:end -->`` and the ``scale``
markers), so the README cannot drift from the results: ``--check`` fails when it has, and a
test runs that check. Every row is one contender on the same input as its peer, with its
rate per core, the ratio to the peer, what it got right beside how fast it was, and the
command that reruns it.

Example::

    >>> rows = ingest_rows({"docs": 10, "results": {
    ...     "fastwarc": {"records_per_s_per_core": 100.0, "documents": 10},
    ...     "readers": {"records_per_s_per_core": 80.0, "documents": 10,
    ...                 "ratio_vs_fastwarc": 0.8}}})
    >>> [(r.contender, r.ratio) for r in rows]
    [('FastWARC alone', '1.00x FastWARC'), ('llmlake reader alone', '0.80x FastWARC')]

    python bench/performance.py           # rewrite the README's tables
    python bench/performance.py --check   # exit 1 if the README is not what the results say
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"


@dataclass(frozen=True)
class Row:
    stage: str
    contender: str
    work: str           # the input, as the peer saw it too
    per_core: str       # rate per core, with its unit
    ratio: str          # against the peer named in it
    accuracy: str       # what it got right, beside how fast it was
    memory: str = ""    # peak resident memory of the process tree


def _n(x: float | None, digits: int = 0) -> str:
    return "" if x is None else f"{x:,.{digits}f}"


def _mb(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f} MB"


def ingest_rows(data: dict) -> list[Row]:
    res, docs = data["results"], data["docs"]
    names = {"fastwarc": "FastWARC alone", "datatrove": "datatrove WarcReader alone",
             "readers": "llmlake reader alone", "spark": "llmlake ingest (Spark, whole stage)"}
    rows = []
    for key, name in names.items():
        r = res.get(key)
        if r is None:
            continue
        # Documents per CPU second where the bench measured it, else per wall second per core.
        rate = r.get("docs_per_cpu_s")
        if rate is None:
            rate = r.get("records_per_s_per_core")
        ratio = [f"{r.get('ratio_vs_fastwarc', 1.0 if key == 'fastwarc' else None):.2f}x "
                 "FastWARC"] if key == "fastwarc" or "ratio_vs_fastwarc" in r else []
        if r.get("ratio_vs_datatrove") is not None:
            ratio.append(f"{r['ratio_vs_datatrove']:.2f}x datatrove")
        rows.append(Row("ingest (WARC)", name, f"{docs:,} documents", f"{_n(rate)} docs/s",
                        ", ".join(ratio), f"{_n(r.get('documents'))} documents read",
                        _mb(r.get("peak_rss_mb"))))
    return rows


def clean_rows(data: dict) -> list[Row]:
    agree = data.get("agreement_same_text", {})
    accuracy = (f"{agree['agreement_pct']:.1f}% same keep/drop as datatrove on "
                f"{agree['documents']:,} texts") if agree else ""
    rows = []
    for r in data["table"]:
        if r["contender"] not in ("datatrove", "llmlake", "llmlake-spark"):
            continue
        peer = r["contender"] == "datatrove"
        rows.append(Row("clean", r["contender"], f"{r['documents']:,} documents",
                        f"{_n(r['docs_per_s_per_core'], 1)} docs/s",
                        "1.00x datatrove" if peer else f"{r['ratio_vs_datatrove']:.2f}x datatrove",
                        "" if peer else accuracy, _mb(r.get("peak_rss_mb"))))
    return rows


def dedup_rows(data: dict) -> list[Row]:
    rows = []
    for r in data["table"]:
        rows.append(Row("dedup (MinHash)", r["contender"], f"{r['docs']:,} documents",
                        f"{_n(r['docs_per_s_per_core'], 1)} docs/s",
                        f"{r['per_core_vs_datatrove']:.2f}x datatrove",
                        f"duplicate-pair F1 {r['f1_same_text']:.3f} (identical texts merged), "
                        f"recall {r['recall']:.3f}",
                        _mb(r.get("peak_rss_mb"))))
    return rows


def tokenize_rows(data: dict) -> list[Row]:
    names = {"library": "tokenizers `encode_batch` alone",
             "library-fast": "tokenizers `encode_batch_fast` alone",
             "library-threads": "tokenizers `encode_batch` alone, all cores",
             "spark-stage": "llmlake tokenize (Spark, whole stage)"}
    # The faster bare call that gives the stage's ids (older results: plain encode_batch).
    reference = (data.get("reference") or {}).get("contender") or "library"
    rows = []
    for key, name in names.items():
        r = data["results"].get(key)
        if r is None:
            continue
        same = r.get("same_ids")
        rows.append(Row("tokenize", name, f"{data['docs']:,} documents, {r['mb']:.0f} MB",
                        f"{r['mb_s_per_core']:.2f} MB/s",
                        f"{r['per_core_vs_library']:.2f}x "
                        f"{names.get(reference, reference)}",
                        f"{_n(r.get('tokens'))} tokens" + (", same ids" if same else ""),
                        _mb(r.get("peak_rss_mb"))))
    return rows


# bench name -> (rows, the command that reruns it)
BENCHES: dict[str, tuple[Callable[[dict], list[Row]], str]] = {
    "ingest": (ingest_rows, "python bench/ingest.py"),
    "clean": (clean_rows, "python bench/clean.py"),
    "dedup": (dedup_rows, "python bench/dedup.py --datatrove-docs 50000"),
    "tokenize": (tokenize_rows, "python bench/tokenization.py"),
}


def machine_line(results: Path) -> str:
    facts = json.loads((results / "scale.json").read_text())["machine"] \
        if (results / "scale.json").exists() else {}
    cpus = facts.get("cpus", 2)
    return (f"Measured on one {cpus}-core x86-64 machine without a GPU, Python "
            f"{facts.get('python', '3.11')}. Rates are per core: documents (or MB) per CPU "
            "second of the contender's whole process tree where its bench measured that (ingest: "
            "all; the others: one-process contenders), else per wall second over the cores it "
            "used. Accuracy is what the contender got right on the same input.")


def performance_table(results: Path = RESULTS) -> str:
    lines = [machine_line(results), "",
             "| stage | contender | input | per core | vs peer | accuracy | peak memory |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    commands = []
    for name, (rows_of, command) in BENCHES.items():
        path = results / f"{name}.json"
        if not path.exists():
            continue
        for r in rows_of(json.loads(path.read_text())):
            lines.append(f"| {r.stage} | {r.contender} | {r.work} | {r.per_core} | {r.ratio} "
                         f"| {r.accuracy} | {r.memory} |")
        commands.append(f"`{command}`")
    lines += ["", "Rerun: " + ", ".join(commands) + " (`make bench` runs them all); then "
              "`python bench/performance.py` rewrites this table."]
    return "\n".join(lines)


def scale_table(results: Path = RESULTS) -> str:
    path = results / "scale.json"
    if not path.exists():
        return "No scale run recorded yet: `python bench/scale.py`."
    data = json.loads(path.read_text())
    runs = data["runs"]
    stages = list(runs[0]["stages"])
    head = "| stage | " + " | ".join(f"{r['docs']:,} docs" for r in runs) + " |"
    lines = [head, "|" + " --- |" * (len(runs) + 1)]
    for stage in stages:
        cells = [f"{r['stages'][stage]['seconds']:,.0f} s, "
                 f"{r['stages'][stage]['docs_per_s']:,.0f}/s, "
                 f"{r['stages'][stage]['peak_rss_mb'] / 1024:.1f} GB" for r in runs]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines.append("| **whole chain** | " + " | ".join(
        f"**{r['total_seconds']:,.0f} s**, {r['total_docs_per_s']:,.0f}/s" for r in runs) + " |")
    growth = ", ".join(f"{g['from']:,} -> {g['to']:,}: {g['ingest -> shards']:.2f}"
                       for g in data.get("growth", []))
    lines += ["", f"Wall seconds, documents per second and peak memory of each stage "
              f"(its own process, as `dvc repro` runs it) on {data['machine']['cpus']} cores. "
              + (f"Growth of the whole chain (time ratio over size ratio, 1.00 = linear): "
                 f"{growth}. " if growth else "")
              + projected(data.get("projection"))
              + f"Rerun: `{data['command']}`."]
    return "\n".join(lines)


def projected(p: dict | None) -> str:
    if not p:
        return ""
    return (f"Not run at {p['docs']:,} here: a straight line through the sizes run "
            f"({p['fixed_s']:,.0f} s fixed, mostly JVM starts, plus {p['ms_per_doc']:.2f} ms "
            f"per document) puts the whole chain at about {p['projected_s'] / 60:,.0f} minutes "
            f"there. ")


def replace_block(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"README.md has no {begin} ... {end} block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def render(readme: str, results: Path = RESULTS) -> str:
    text = replace_block(readme, "performance", performance_table(results))
    return replace_block(text, "scale", scale_table(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the README's tables differ from the results")
    args = parser.parse_args()
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            sys.exit("README.md's performance tables differ from bench/results: "
                     "run python bench/performance.py")
        return
    README.write_text(wanted)
    print("README.md tables rewritten from bench/results")


if __name__ == "__main__":
    main()
