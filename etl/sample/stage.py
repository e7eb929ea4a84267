"""Deterministic sample web crawl: WARC, WET, JSONL and Parquet shards plus ``truth.jsonl``.

This stage owns the synthetic raw input of the pipeline, so the demo needs no download and
ingest tests and benchmarks have ground truth. ``generate`` streams ``cfg.docs`` documents
into ``warc/``, ``wet/``, ``jsonl/`` and ``parquet/`` under ``out`` (each document in exactly
one format), plants the configured defects (spam, repeated lines, short and foreign pages,
exact and near duplicates, PII, broken HTML, wrong or missing charsets), non-document
responses (redirects, 404s, images, PDFs) and corrupt records (a truncated last gzip member,
a malformed WARC header, a half-written JSON line), and writes one ``truth.jsonl`` line per
planted record with its file and exact offset. Each ``*_rate`` is a share of all documents
(WARC-only defects are concentrated on the WARC documents to reach it). Memory stays
bounded: shards are written as they fill and duplicates are drawn from a ring of the last
``RESERVOIR`` originals. The same seed gives byte-identical files (dates and record ids
come from the seeded RNG, gzip mtime is 0).

Example (also ``llmlake sample --out data/raw/sample --docs 3000 --seed 1234``)::

    >>> import tempfile
    >>> from pathlib import Path
    >>> from llmlake.config import SampleConfig
    >>> from etl.sample.stage import generate
    >>> generate(SampleConfig(docs=40), Path(tempfile.mkdtemp()))["docs"]
    40
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from etl.sample import files as sf
from etl.sample import pages as pg
from etl.sample.files import GzRecords, JsonlFile, ParquetFile, iso
from etl.sample.text import TOPICS, english
from llmlake.config import Params, SampleConfig
from llmlake.log import get_logger, progress

log = get_logger(__name__)

FORMATS = ("warc", "wet", "jsonl", "parquet")
CONTENT_DEFECTS = ("spam", "repeated", "short", "foreign")
RESERVOIR = 2000
EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z; fetch times move forward from here
SKIP_RATES = (("301", 0.015), ("404", 0.015), ("jpeg", 0.015), ("pdf", 0.015))
LANG_NAMES = {"en": ("eng", "ENGLISH"), "de": ("deu", "GERMAN"), "fr": ("fra", "FRENCH"),
              "es": ("spa", "SPANISH"), "it": ("ita", "ITALIAN"), "pt": ("por", "PORTUGUESE"),
              "nl": ("nld", "DUTCH")}
FOREIGN = ("de", "fr", "es", "it", "pt", "nl")
TOPIC_NAMES = tuple(TOPICS)
_MARK = re.compile("\x00(\\d+)\x00")


@dataclass(slots=True)
class Doc:
    i: int
    fmt: str
    topic: str
    title: str
    paras: list[str]
    lang: str = "en"
    defects: list[str] = field(default_factory=list)
    pii: list[dict] = field(default_factory=list)
    cluster: int = -1
    dup_kind: str | None = None
    dup_of: str | None = None
    charset: str = "utf-8"
    url: str = ""
    site: str = ""
    text: str = ""
    fetched: int = 0


def _cond(rate: float, eligible: float) -> float:
    """Probability to apply to eligible documents so that ``rate`` holds over all documents."""
    return min(1.0, rate / eligible) if eligible > 0 else 0.0


def shard_sizes(n: int, per_shard: int, want: int) -> list[int]:
    """Split ``n`` documents evenly over enough shards (at least ``want`` when possible)."""
    if n <= 0:
        return []
    k = max(math.ceil(n / max(1, per_shard)), min(want, n))
    return [n // k + (1 if j < n % k else 0) for j in range(k)]


def plan_corrupt(per_kind: int, sizes: dict[str, list[int]]):
    """Where corrupt records go: ``{(format, shard): [(after_n_docs, kind)]}``, the WARC
    shards whose last member is truncated, and how many of each kind did not fit."""
    plants: dict[tuple[str, int], list[tuple[int, str]]] = {}
    shortfall = {"truncated_gzip": 0, "bad_warc_header": 0, "bad_json_line": 0}
    for kind, fmt in (("bad_warc_header", "warc"), ("bad_json_line", "jsonl")):
        n = len(sizes[fmt])
        if not n:
            shortfall[kind] = per_kind
            continue
        per = Counter(j * n // per_kind if per_kind <= n else j % n for j in range(per_kind))
        if fmt == "warc":
            # Count bad headers from the last shard so some shards hold only a truncated tail.
            per = Counter({n - 1 - shard: c for shard, c in per.items()})
        for shard, c in sorted(per.items()):
            size = sizes[fmt][shard]
            plants.setdefault((fmt, shard), []).extend(
                (max(1, size * (m + 1) // (c + 1)), kind) for m in range(c))
    n = len(sizes["warc"])
    fit = min(per_kind, n)
    shortfall["truncated_gzip"] = per_kind - fit
    return plants, {j * n // fit for j in range(fit)}, shortfall


def plan_counts(cfg: SampleConfig) -> dict[str, int]:
    counts = {f: round(cfg.docs * getattr(cfg, f"{f}_share")) for f in FORMATS[1:]}
    counts["warc"] = cfg.docs - sum(counts.values())
    if counts["warc"] < 0:
        raise ValueError("sample: wet_share + jsonl_share + parquet_share must be <= 1")
    return {f: counts[f] for f in FORMATS}


class Generator:
    """Streams one sample crawl; ``step(i)`` makes and writes document ``i``."""

    def __init__(self, cfg: SampleConfig, out: Path):
        self.cfg, self.out, self.r = cfg, out, random.Random(cfg.seed)
        self.eng = english(cfg.seed)
        self.names = self.eng.names
        self.counts = plan_counts(cfg)
        want = {"warc": max(1, cfg.corrupt_per_kind), "jsonl": 3}
        self.sizes = {f: shard_sizes(self.counts[f], cfg.docs_per_shard, want.get(f, 1))
                      for f in FORMATS}
        self.plants, self.truncate, self.shortfall = plan_corrupt(cfg.corrupt_per_kind,
                                                                  self.sizes)
        self.remaining = dict(self.counts)
        self.shard = dict.fromkeys(FORMATS, -1)
        self.in_shard = dict.fromkeys(FORMATS, 0)
        self.files: dict[str, object] = dict.fromkeys(FORMATS)
        self.reservoir: list[tuple] = []  # ring of the last RESERVOIR originals
        self.kept = 0
        self.clock, self.serial = EPOCH, 10_000 + cfg.docs
        self.stats: Counter = Counter()
        self.sites = {t: pg.make_sites(self.r, [w for sg, _ in self.eng.topics[t].nouns
                                                for w in sg.split()] + self.eng.topics[t].adjs,
                                       self.names.cities, 250) for t in TOPIC_NAMES}
        self._rates()
        if cfg.foreign_rate > 0:
            for lang in FOREIGN:  # load word lists up front, not in the middle of the loop
                pg.foreign_lexicon(lang)
        self.truth_f = open(out / "truth.jsonl", "w", encoding="utf-8")  # noqa: SIM115

    def _rates(self) -> None:
        c = self.cfg
        dup = c.exact_dup_rate + c.near_dup_rate
        junk = c.spam_rate + c.repeated_rate + c.short_rate
        warc = self.counts["warc"] / max(1, c.docs)
        self.p_exact, self.p_dup = c.exact_dup_rate, dup
        self.p_content = [(k, _cond(getattr(c, f"{k}_rate"), 1 - dup)) for k in CONTENT_DEFECTS]
        self.p_pii = _cond(c.pii_rate, (1 - dup) * (1 - junk - c.foreign_rate))
        self.p_broken = _cond(c.broken_html_rate, warc)
        self.p_charset = _cond(c.bad_charset_rate, warc * (1 - dup) * (1 - junk))

    # -- documents -----------------------------------------------------------------------
    def pick_format(self) -> str:
        x = self.r.random() * sum(self.remaining.values())
        for f in FORMATS:
            x -= self.remaining[f]
            if x < 0 and self.remaining[f]:
                break
        else:
            f = next(f for f in FORMATS if self.remaining[f])
        self.remaining[f] -= 1
        return f

    def fresh_doc(self, i: int, fmt: str) -> Doc:
        r, eng = self.r, self.eng
        topic, u, content = r.choice(TOPIC_NAMES), r.random(), None
        for name, p in self.p_content:
            u -= p
            if u < 0:
                content = name
                break
        lang = r.choice(FOREIGN) if content == "foreign" else "en"
        if content == "spam":
            title, paras = pg.spam_page(r, self.names.cities)
        elif content == "repeated":
            title, paras = pg.repeated_page(eng, r, topic)
        elif content == "short":
            title, paras = pg.short_page(eng, r, topic)
        elif content == "foreign":
            title, paras = pg.foreign_page(r, lang)
        else:
            title, paras = eng.article(r, topic)
        doc = Doc(i, fmt, topic, title, paras, lang, [content] if content else [], cluster=i)
        if fmt == "warc" and content in (None, "foreign") and r.random() < self.p_charset:
            self.add_charset(doc)
        elif content is None and r.random() < 0.03:
            self.add_accented(doc)
        if content is None and r.random() < self.p_pii:
            self.add_pii(doc)
        return doc

    def dup_doc(self, i: int, fmt: str, exact: bool) -> Doc:
        oi, url, topic, title, paras = self.r.choice(self.reservoir)
        if not exact:
            paras = pg.near_dup(self.eng, self.r, topic, paras)
        return Doc(i, fmt, topic, title, list(paras), cluster=oi,
                   dup_kind="exact" if exact else "near", dup_of=url)

    def add_accented(self, doc: Doc) -> None:
        j = self.r.randrange(len(doc.paras))
        doc.paras[j] += " " + pg.accented_sentence(self.r, self.names.person(self.r),
                                                   self.r.choice(self.names.cities))

    def add_charset(self, doc: Doc) -> None:
        r = self.r
        kind = r.choice(("wrong_charset", "missing_charset"))
        if doc.lang == "en" or all(p.isascii() for p in doc.paras):
            # Without non-ASCII characters a wrong charset would change nothing.
            self.add_accented(doc)
        charset = "cp1252" if kind == "wrong_charset" or r.random() < 0.5 else "utf-8"
        try:
            (doc.title + "\n".join(doc.paras)).encode(charset)
        except UnicodeEncodeError:
            return
        doc.charset = charset
        doc.defects.append(kind)

    def add_pii(self, doc: Doc) -> None:
        """Insert 1-3 PII sentences; ``\\x00k\\x00`` markers become spans in ``finish``."""
        for k in range(self.r.randint(1, 3)):
            sent, kind, value = pg.pii_sentence(self.r, self.names.person(self.r),
                                                self.r.choice(self.names.companies))
            doc.pii.append({"type": kind, "value": value})
            j = self.r.randrange(len(doc.paras))
            doc.paras[j] += " " + sent.replace("{v}", f"\x00{k}\x00")
        doc.defects.append("pii")

    def finish(self, doc: Doc) -> None:
        text = "\n".join(doc.paras)
        if doc.pii:
            values, doc.pii, parts, pos, n = doc.pii, [], [], 0, 0
            for m in _MARK.finditer(text):
                parts.append(text[pos:m.start()])
                n += m.start() - pos
                item = values[int(m.group(1))]
                doc.pii.append({**item, "start": n, "end": n + len(item["value"])})
                parts.append(item["value"])
                n, pos = n + len(item["value"]), m.end()
            text = "".join([*parts, text[pos:]])
            doc.paras = text.split("\n")
        doc.text = text

    def make_doc(self, i: int, fmt: str) -> Doc:
        r = self.r
        u = r.random()
        if self.reservoir and u < self.p_dup:
            doc = self.dup_doc(i, fmt, exact=u < self.p_exact)
        else:
            doc = self.fresh_doc(i, fmt)
        if fmt == "warc" and r.random() < self.p_broken:
            doc.defects.append("broken_html")
        self.finish(doc)
        host, doc.site = r.choice(self.sites[doc.topic])
        scheme = "https" if r.random() < 0.9 else "http"
        doc.url = f"{scheme}://{host}{pg.make_path(r, 10_000 + i, doc.title, doc.topic)}"
        self.clock += r.randint(1, 60)
        doc.fetched = self.clock
        return doc

    def remember(self, doc: Doc) -> None:
        """Keep clean English originals (bounded ring) as sources for later duplicates."""
        if doc.dup_kind or doc.pii or doc.lang != "en" or set(doc.defects) & {*CONTENT_DEFECTS}:
            return
        if len(doc.text.split()) < 80:
            return
        item = (doc.i, doc.url, doc.topic, doc.title, tuple(doc.paras))  # ~3 KB
        if len(self.reservoir) < RESERVOIR:
            self.reservoir.append(item)
        else:
            self.reservoir[self.kept % RESERVOIR] = item
        self.kept += 1

    # -- writing -------------------------------------------------------------------------
    def step(self, i: int) -> None:
        fmt = self.pick_format()
        doc = self.make_doc(i, fmt)
        f = self.open(fmt)
        offset = getattr(self, f"write_{fmt}")(f, doc)
        self.truth({"kind": "document", "url": doc.url,
                    "id": self.doc_id(doc) if fmt in ("jsonl", "parquet") else None,
                    "format": fmt, "file": f.rel, "offset": offset, "lang": doc.lang,
                    "text": doc.text, "cluster": doc.cluster, "dup_kind": doc.dup_kind,
                    "dup_of": doc.dup_of, "defects": doc.defects, "pii": doc.pii,
                    "charset": doc.charset, "topic": doc.topic})
        self.count(doc)
        self.remember(doc)
        if fmt == "warc":
            self.maybe_skip(f)
        self.after_doc(fmt, f)

    def doc_id(self, doc: Doc) -> str:
        return f"sample-{self.cfg.seed}-{doc.i:08d}"

    def count(self, doc: Doc) -> None:
        s = self.stats
        s[f"format.{doc.fmt}"] += 1
        s[f"lang.{doc.lang}"] += 1
        for d in doc.defects:
            s[f"defect.{d}"] += 1
        if doc.dup_kind:
            s[f"dup.{doc.dup_kind}"] += 1
        s["pii.values"] += len(doc.pii)

    def truth(self, obj: dict) -> None:
        self.truth_f.write(json.dumps(obj, ensure_ascii=False) + "\n")

    def open(self, fmt: str):
        if self.files[fmt] is None:
            self.shard[fmt] += 1
            k, n = self.shard[fmt], len(self.sizes[fmt])
            if fmt == "warc":
                self.files[fmt] = GzRecords(self.out, f"warc/crawl-{k:05d}.warc.gz", self.r,
                                              self.clock)
            elif fmt == "wet":
                self.files[fmt] = GzRecords(self.out, f"wet/crawl-{k:05d}.warc.wet.gz", self.r,
                                              self.clock)
            elif fmt == "jsonl":
                ext = ".jsonl.zst" if k == 1 else ".jsonl" if k == 2 and n >= 3 else ".jsonl.gz"
                self.files[fmt] = JsonlFile(self.out, f"jsonl/part-{k:05d}{ext}")
            else:
                self.files[fmt] = ParquetFile(self.out, f"parquet/part-{k:05d}.parquet")
            self.in_shard[fmt] = 0
        return self.files[fmt]

    def after_doc(self, fmt: str, f) -> None:
        self.in_shard[fmt] += 1
        key = (fmt, self.shard[fmt])
        for after, kind in self.plants.get(key, ()):
            if after == self.in_shard[fmt]:
                self.plant(kind, f)
        if self.in_shard[fmt] == self.sizes[fmt][self.shard[fmt]]:
            if fmt == "warc" and self.shard[fmt] in self.truncate:
                self.plant("truncated_gzip", f)
            f.close()
            self.files[fmt] = None

    def extra_url(self, topic: str, title: str = "", path: str = "") -> tuple[str, str]:
        """(url, site) for a non-document record; its serial never collides with a document's."""
        self.serial += 1
        path = path or pg.make_path(self.r, self.serial, title, topic)
        host, site = self.r.choice(self.sites[topic])
        return f"https://{host}{path.format(n=self.serial)}", site

    def maybe_skip(self, f) -> None:
        u, acc, kind = self.r.random(), 0.0, None
        for name, p in SKIP_RATES:
            acc += p
            if u < acc:
                kind = name
                break
        if kind is None:
            return
        path = {"301": "/old/{n}", "404": "/missing/{n}.html", "jpeg": "/images/photo-{n}.jpg",
                "pdf": "/files/report-{n}.pdf"}[kind]
        url = self.extra_url(self.r.choice(TOPIC_NAMES), path=path)[0]
        status, ctype, http = sf.skip_body(self.r, kind, url)
        payload = http.split(b"\r\n\r\n", 1)[1]
        offset = f.exchange(url, self.clock, http, payload, ctype.split(";")[0])
        reason = "http_status" if status != 200 else "content_type"
        self.stats[f"skip.{reason}"] += 1
        self.truth({"kind": "skip", "url": url, "format": "warc", "file": f.rel,
                    "offset": offset, "reason": reason, "status": status,
                    "content_type": ctype})

    def plant(self, kind: str, f) -> None:
        """Write one corrupt record (not a document) into the open shard ``f``."""
        topic = self.r.choice(TOPIC_NAMES)
        title, paras = self.eng.article(self.r, topic)
        url, site = self.extra_url(topic, title)
        extra = {}
        if kind == "bad_json_line":
            line = json.dumps({"id": f"sample-{self.cfg.seed}-x{self.serial}", "url": url,
                               "text": "\n".join(paras), "fetched_at": iso(self.clock),
                               "source": "sample-jsonl"})
            offset = f.add(line[: len(line) // 2])
        else:
            doc = Doc(-1, "warc", topic, title, paras, url=url, site=site, fetched=self.clock,
                      text="\n".join(paras))
            bad = None
            if kind == "bad_warc_header":
                bad = extra["detail"] = self.r.choice(("content_length", "version"))
            offset = self.write_warc(f, doc, bad=bad, cut=kind == "truncated_gzip")
        self.stats[f"corrupt.{kind}"] += 1
        self.truth({"kind": "corrupt", "corrupt": kind, "format": f.rel.split("/")[0],
                    "file": f.rel, "offset": offset, "url": url, **extra})

    def write_warc(self, f, doc: Doc, bad: str | None = None, cut: bool = False) -> int:
        r = self.r
        missing = "missing_charset" in doc.defects
        page = sf.Page(doc.title, doc.paras, site=doc.site,
                       author=self.names.person(r), date=iso(doc.fetched)[:10], lang=doc.lang,
                       nav=r.sample(TOPIC_NAMES, 5), related=[x[3] for x in self.reservoir[-3:]])
        html = sf.render_html(r, page, None if missing else "utf-8",
                              broken="broken_html" in doc.defects)
        body = html.encode(doc.charset)
        ctype = "text/html" if missing else "text/html; charset=utf-8"
        http = sf.http_response("200 OK", [("Date", iso(doc.fetched, http=True)),
                                           ("Server", "nginx"), ("Content-Type", ctype)], body)
        meta = None if bad or cut else self.metadata(doc)
        return f.exchange(doc.url, doc.fetched, http, body, "text/html", meta, bad, cut)

    def metadata(self, doc: Doc) -> bytes:
        code3, name = LANG_NAMES[doc.lang]
        langs = (f'{{"reliable":true,"text-bytes":{len(doc.text)},"languages":[{{"code":'
                 f'"{doc.lang}","code-iso-639-3":"{code3}","text-covered":0.97,'
                 f'"score":980.0,"name":"{name}"}}]}}')
        return (f"fetchTimeMs: {self.r.randint(40, 2500)}\r\ncharset-detected: "
                f"{doc.charset.upper()}\r\nlanguages-cld2: {langs}\r\n").encode()

    def write_wet(self, f, doc: Doc) -> int:
        return f.conversion(doc.url, doc.fetched, doc.text.encode(), LANG_NAMES[doc.lang][0])

    def write_jsonl(self, f, doc: Doc) -> int:
        return f.add(json.dumps({"id": self.doc_id(doc), "url": doc.url, "text": doc.text,
                                 "fetched_at": iso(doc.fetched), "source": "sample-jsonl"},
                                ensure_ascii=False))

    def write_parquet(self, f, doc: Doc) -> int:
        return f.add(self.doc_id(doc), doc.url, doc.text, doc.fetched * 1_000_000)

    def close(self) -> None:
        for fmt in FORMATS:
            if self.files[fmt] is not None:
                self.files[fmt].close()
                self.files[fmt] = None
        self.truth_f.close()

    def summary(self) -> dict:
        s = self.stats

        def part(prefix: str) -> dict[str, int]:
            return {k.split(".", 1)[1]: v for k, v in sorted(s.items())
                    if k.startswith(prefix + ".")}

        files = [p for sub in FORMATS for p in (self.out / sub).iterdir()]
        files.append(self.out / "truth.jsonl")
        return {"out": str(self.out), "docs": self.cfg.docs, "seed": self.cfg.seed,
                "formats": part("format"), "shards": {f: len(self.sizes[f]) for f in FORMATS},
                "defects": part("defect"), "dups": part("dup"), "langs": part("lang"),
                "pii_values": s["pii.values"], "skips": part("skip"),
                "corrupt": part("corrupt"), "corrupt_shortfall": self.shortfall,
                "files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def clean(out: Path) -> None:
    """Remove what an earlier run wrote (only our own subfolders and truth file)."""
    for sub in FORMATS:
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / "truth.jsonl").unlink(missing_ok=True)
    for sub in FORMATS:
        (out / sub).mkdir(parents=True, exist_ok=True)


def generate(cfg: SampleConfig, out: Path) -> dict:
    """Write the sample crawl under ``out`` and return the summary (counts per format/defect)."""
    t0 = time.perf_counter()
    out = Path(out)
    clean(out)
    gen = Generator(cfg, out)
    t1 = time.perf_counter()
    try:
        for i in progress(range(cfg.docs), desc="sample", total=cfg.docs, unit="doc"):
            gen.step(i)
    finally:
        gen.close()
    t2 = time.perf_counter()
    summary = gen.summary()
    summary["seconds"] = round(t2 - t0, 2)
    # Rate of the document loop alone; start-up (word lists, Faker pools) is a fixed cost.
    summary["docs_per_s"] = round(cfg.docs / (t2 - t1), 1) if t2 > t1 else None
    return summary


def run(params: Params) -> dict:
    cfg = params.sample
    summary = generate(cfg, Path(cfg.out))
    log.info("sample: %d docs in %.1fs (%s docs/s) -> %s", summary["docs"], summary["seconds"],
             summary["docs_per_s"], cfg.out)
    log.info("sample summary: %s", json.dumps(summary, sort_keys=True))
    if any(summary["corrupt_shortfall"].values()):
        log.warning("sample: fewer corrupt records than asked (too few shards): %s",
                    summary["corrupt_shortfall"])
    return summary


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("sample")
