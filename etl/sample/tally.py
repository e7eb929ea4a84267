"""The sample crawl's ground truth: ``truth.jsonl`` and the counts behind the summary.

This module owns what is known about every planted record: one ``truth.jsonl`` line per
document, skipped response and corrupt record (with its file and exact offset), the counters
per format, language, defect, duplicate kind, skip reason and corrupt kind, and the summary
:func:`etl.sample.stage.generate` returns. It draws nothing at random.

Example::

    >>> import tempfile
    >>> from pathlib import Path
    >>> from etl.sample.tally import Tally
    >>> out = Path(tempfile.mkdtemp())
    >>> tally = Tally(out)
    >>> tally.event("skip.http_status", {"kind": "skip", "url": "https://a.io/old/1"})
    >>> tally.close()
    >>> tally.stats["skip.http_status"], (out / "truth.jsonl").read_text()[:14]
    (1, '{"kind": "skip')
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from etl.sample.documents import Doc
from etl.sample.plan import FORMATS, Plan
from llmlake.config import SampleConfig


class Tally:
    """Counts and truth records of one run; ``truth.jsonl`` is open until ``close``."""

    def __init__(self, out: Path):
        self.out = out
        self.stats: Counter = Counter()
        self.truth_f = open(out / "truth.jsonl", "w", encoding="utf-8")  # noqa: SIM115

    def truth(self, obj: dict) -> None:
        self.truth_f.write(json.dumps(obj, ensure_ascii=False) + "\n")

    def document(self, doc: Doc, rel: str, offset: int) -> None:
        """The truth line of a written document, and its counts."""
        self.truth({"kind": "document", "url": doc.url,
                    "id": doc.id if doc.fmt in ("jsonl", "parquet") else None,
                    "format": doc.fmt, "file": rel, "offset": offset, "lang": doc.lang,
                    "text": doc.text, "cluster": doc.cluster, "dup_kind": doc.dup_kind,
                    "dup_of": doc.dup_of, "defects": doc.defects, "pii": doc.pii,
                    "charset": doc.charset, "topic": doc.topic})
        s = self.stats
        s[f"format.{doc.fmt}"] += 1
        s[f"lang.{doc.lang}"] += 1
        for d in doc.defects:
            s[f"defect.{d}"] += 1
        if doc.dup_kind:
            s[f"dup.{doc.dup_kind}"] += 1
        s["pii.values"] += len(doc.pii)

    def event(self, stat: str, obj: dict) -> None:
        """A record that is not a document (a skip or a corrupt record): count it, note it."""
        self.stats[stat] += 1
        self.truth(obj)

    def close(self) -> None:
        self.truth_f.close()

    def summary(self, cfg: SampleConfig, plan: Plan) -> dict:
        s = self.stats

        def part(prefix: str) -> dict[str, int]:
            return {k.split(".", 1)[1]: v for k, v in sorted(s.items())
                    if k.startswith(prefix + ".")}

        files = [p for sub in FORMATS for p in (self.out / sub).iterdir()]
        files.append(self.out / "truth.jsonl")
        return {"out": str(self.out), "docs": cfg.docs, "seed": cfg.seed,
                "formats": part("format"), "shards": {f: len(plan.sizes[f]) for f in FORMATS},
                "defects": part("defect"), "dups": part("dup"), "langs": part("lang"),
                "pii_values": s["pii.values"], "skips": part("skip"),
                "corrupt": part("corrupt"), "corrupt_shortfall": plan.shortfall,
                "files": len(files), "bytes": sum(p.stat().st_size for p in files)}
