"""Where each sample document is stored: shard files, one record per format, planted records.

This module owns the output files. :class:`Shards` opens the next shard of a format when
the last one filled (WARC/WET ``crawl-NNNNN``, JSONL as gzip, zstd or plain, Parquet) and
counts the documents in it. :class:`Writer` turns a :class:`~etl.sample.documents.Doc` into
its format's record (a WARC request/response/metadata exchange, a WET conversion, a JSONL
line, a Parquet row), and plants the records that are not documents: skipped responses
after WARC documents (redirects, 404s, images, PDFs) and the corrupt records the plan
places (a malformed WARC header, a half-written JSON line, a truncated last gzip member).
Record bytes come from :mod:`etl.sample.files`; truth lines and counts go to
:class:`~etl.sample.tally.Tally`. "Now" is the fetch time of the document just written.

Example::

    >>> import random, tempfile
    >>> from pathlib import Path
    >>> from etl.sample.writer import Shards
    >>> out = Path(tempfile.mkdtemp())
    >>> (out / "jsonl").mkdir()
    >>> shards = Shards(out, {"jsonl": [2, 1]}, random.Random(1))
    >>> f = shards.open("jsonl", 1_700_000_000)
    >>> f.rel, shards.tick("jsonl"), shards.tick("jsonl")
    ('jsonl/part-00000.jsonl.gz', (0, 1, False), (0, 2, True))
    >>> shards.close("jsonl"); shards.open("jsonl", 1_700_000_000).rel
    'jsonl/part-00001.jsonl.zst'
    >>> shards.close_all()
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from etl.sample import files as sf
from etl.sample.documents import Doc
from etl.sample.files import GzRecords, JsonlFile, ParquetFile, iso
from etl.sample.plan import FORMATS, Plan
from etl.sample.sites import TOPIC_NAMES, Sites
from etl.sample.tally import Tally

SKIP_RATES = (("301", 0.015), ("404", 0.015), ("jpeg", 0.015), ("pdf", 0.015))
SKIP_PATHS = {"301": "/old/{n}", "404": "/missing/{n}.html", "jpeg": "/images/photo-{n}.jpg",
              "pdf": "/files/report-{n}.pdf"}
LANG_NAMES = {"en": ("eng", "ENGLISH"), "de": ("deu", "GERMAN"), "fr": ("fra", "FRENCH"),
              "es": ("spa", "SPANISH"), "it": ("ita", "ITALIAN"), "pt": ("por", "PORTUGUESE"),
              "nl": ("nld", "DUTCH")}


class Shards:
    """The open shard of each format, and how many documents it holds so far."""

    def __init__(self, out: Path, sizes: dict[str, list[int]], r: random.Random):
        self.out, self.sizes, self.r = out, sizes, r
        self.shard = dict.fromkeys(sizes, -1)
        self.in_shard = dict.fromkeys(sizes, 0)
        self.files: dict[str, object] = dict.fromkeys(sizes)

    def open(self, fmt: str, ts: int):
        """The open shard of ``fmt``, starting the next one (dated ``ts``) if none is open."""
        if self.files[fmt] is None:
            self.shard[fmt] += 1
            k, n = self.shard[fmt], len(self.sizes[fmt])
            if fmt == "warc":
                self.files[fmt] = GzRecords(self.out, f"warc/crawl-{k:05d}.warc.gz", self.r, ts)
            elif fmt == "wet":
                self.files[fmt] = GzRecords(self.out, f"wet/crawl-{k:05d}.warc.wet.gz", self.r,
                                            ts)
            elif fmt == "jsonl":
                ext = ".jsonl.zst" if k == 1 else ".jsonl" if k == 2 and n >= 3 else ".jsonl.gz"
                self.files[fmt] = JsonlFile(self.out, f"jsonl/part-{k:05d}{ext}")
            else:
                self.files[fmt] = ParquetFile(self.out, f"parquet/part-{k:05d}.parquet")
            self.in_shard[fmt] = 0
        return self.files[fmt]

    def tick(self, fmt: str) -> tuple[int, int, bool]:
        """Count one more document in the open shard: (shard, documents in it, whether full)."""
        self.in_shard[fmt] += 1
        k = self.shard[fmt]
        return k, self.in_shard[fmt], self.in_shard[fmt] == self.sizes[fmt][k]

    def close(self, fmt: str) -> None:
        if self.files[fmt] is not None:
            self.files[fmt].close()
            self.files[fmt] = None

    def close_all(self) -> None:
        for fmt in self.files:
            self.close(fmt)


class Writer:
    """Writes documents into their shards, then the skips and corrupt records around them."""

    def __init__(self, out: Path, plan: Plan, seed: int, r: random.Random, eng, sites: Sites,
                 tally: Tally):
        self.plan, self.seed, self.r, self.eng, self.sites = plan, seed, r, eng, sites
        self.names, self.tally = eng.names, tally
        self.shards = Shards(out, {f: plan.sizes[f] for f in FORMATS}, r)

    def document(self, doc: Doc, related: list[str]) -> None:
        """Write ``doc`` into the open shard of its format and note its truth line."""
        f = self.shards.open(doc.fmt, doc.fetched)
        if doc.fmt == "warc":
            offset = self.write_warc(f, doc, related)
        elif doc.fmt == "wet":
            offset = f.conversion(doc.url, doc.fetched, doc.text.encode(),
                                  LANG_NAMES[doc.lang][0])
        elif doc.fmt == "jsonl":
            offset = f.add(json.dumps({"id": doc.id, "url": doc.url, "text": doc.text,
                                       "fetched_at": iso(doc.fetched), "source": "sample-jsonl"},
                                      ensure_ascii=False))
        else:
            offset = f.add(doc.id, doc.url, doc.text, doc.fetched * 1_000_000)
        self.tally.document(doc, f.rel, offset)

    def after(self, doc: Doc, related: list[str]) -> None:
        """After ``doc``: maybe a skipped response, the corrupt records planned at this point,
        and closing the shard when it is full (a planned truncated member goes last)."""
        fmt, now = doc.fmt, doc.fetched
        f = self.shards.files[fmt]
        if fmt == "warc":
            self.maybe_skip(f, now)
        k, n, full = self.shards.tick(fmt)
        for after, kind in self.plan.plants.get((fmt, k), ()):
            if after == n:
                self.plant(kind, f, now, related)
        if full:
            if fmt == "warc" and k in self.plan.truncate:
                self.plant("truncated_gzip", f, now, related)
            self.shards.close(fmt)

    def maybe_skip(self, f, now: int) -> None:
        """With the SKIP_RATES odds, a response ingest must skip (bad status or content type)."""
        u, acc, kind = self.r.random(), 0.0, None
        for name, p in SKIP_RATES:
            acc += p
            if u < acc:
                kind = name
                break
        if kind is None:
            return
        url = self.sites.extra_url(self.r.choice(TOPIC_NAMES), path=SKIP_PATHS[kind])[0]
        status, ctype, http = sf.skip_body(self.r, kind, url)
        payload = http.split(b"\r\n\r\n", 1)[1]
        offset = f.exchange(url, now, http, payload, ctype.split(";")[0])
        reason = "http_status" if status != 200 else "content_type"
        self.tally.event(f"skip.{reason}", {
            "kind": "skip", "url": url, "format": "warc", "file": f.rel, "offset": offset,
            "reason": reason, "status": status, "content_type": ctype})

    def plant(self, kind: str, f, now: int, related: list[str]) -> None:
        """Write one corrupt record (not a document) into the open shard ``f``."""
        topic = self.r.choice(TOPIC_NAMES)
        title, paras = self.eng.article(self.r, topic)
        url, site = self.sites.extra_url(topic, title)
        extra = {}
        if kind == "bad_json_line":
            line = json.dumps({"id": f"sample-{self.seed}-x{self.sites.serial}", "url": url,
                               "text": "\n".join(paras), "fetched_at": iso(now),
                               "source": "sample-jsonl"})
            offset = f.add(line[: len(line) // 2])
        else:
            doc = Doc(-1, "warc", topic, title, paras, url=url, site=site, fetched=now,
                      text="\n".join(paras))
            bad = None
            if kind == "bad_warc_header":
                bad = extra["detail"] = self.r.choice(("content_length", "version"))
            offset = self.write_warc(f, doc, related, bad=bad, cut=kind == "truncated_gzip")
        self.tally.event(f"corrupt.{kind}", {
            "kind": "corrupt", "corrupt": kind, "format": f.rel.split("/")[0], "file": f.rel,
            "offset": offset, "url": url, **extra})

    def write_warc(self, f, doc: Doc, related: list[str], bad: str | None = None,
                   cut: bool = False) -> int:
        """The HTML page of ``doc`` as a WARC exchange; ``bad``/``cut`` corrupt the response."""
        r = self.r
        missing = "missing_charset" in doc.defects
        page = sf.Page(doc.title, doc.paras, site=doc.site,
                       author=self.names.person(r), date=iso(doc.fetched)[:10], lang=doc.lang,
                       nav=r.sample(TOPIC_NAMES, 5), related=related)
        html = sf.render_html(r, page, None if missing else "utf-8",
                              broken="broken_html" in doc.defects)
        body = html.encode(doc.charset)
        ctype = "text/html" if missing else "text/html; charset=utf-8"
        http = sf.http_response("200 OK", [("Date", iso(doc.fetched, http=True)),
                                           ("Server", "nginx"), ("Content-Type", ctype)], body)
        meta = None if bad or cut else self.metadata(doc)
        return f.exchange(doc.url, doc.fetched, http, body, "text/html", meta, bad, cut)

    def metadata(self, doc: Doc) -> bytes:
        """The WARC metadata record's fields, as Common Crawl writes them."""
        code3, name = LANG_NAMES[doc.lang]
        langs = (f'{{"reliable":true,"text-bytes":{len(doc.text)},"languages":[{{"code":'
                 f'"{doc.lang}","code-iso-639-3":"{code3}","text-covered":0.97,'
                 f'"score":980.0,"name":"{name}"}}]}}')
        return (f"fetchTimeMs: {self.r.randint(40, 2500)}\r\ncharset-detected: "
                f"{doc.charset.upper()}\r\nlanguages-cld2: {langs}\r\n").encode()

    def close(self) -> None:
        self.shards.close_all()
