"""How one sample page is stored: HTML around the text, HTTP / WARC records, shard writers.

The HTML page (optionally broken), the HTTP response and WARC record bytes, and the shard
writers: WARC/WET with one gzip member per record, JSONL as gzip, zstd or plain, Parquet in
row groups. :mod:`etl.sample.pages` makes the text; :mod:`etl.sample.stage` decides which page
goes where. Everything random comes from the ``random.Random`` passed in.

Example::

    >>> import random
    >>> from etl.sample.files import Page, render_html
    >>> "<h1>Hi</h1>" in render_html(random.Random(1), Page("Hi", ["Some text."]))
    True
"""

from __future__ import annotations

import gzip
import hashlib
import random
import time
import zlib
from base64 import b32encode
from dataclasses import dataclass, field
from html import escape
from pathlib import Path


# -- HTML / HTTP / WARC -------------------------------------------------------------------
@dataclass
class Page:
    title: str
    paras: list[str]
    site: str = "Example News"
    author: str = "Staff"
    date: str = "2024-01-01"
    lang: str = "en"
    nav: list[str] = field(default_factory=lambda: ["news", "about"])
    related: list[str] = field(default_factory=list)


_STYLE = ("body{font-family:Georgia,serif;margin:0;color:#222}nav ul{display:flex;gap:1em}"
          ".cookie-banner{position:fixed;bottom:0;background:#eee;padding:1em}")
_SCRIPT = ("window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
           "gtag('js',new Date());gtag('config','G-%06d');")


def render_html(rng: random.Random, page: Page, meta_charset: str | None = "utf-8",
                broken: bool = False) -> str:
    """A full page: nav, header, article (h1 + one <p> per paragraph), aside, footer, banner."""
    t, site = escape(page.title, False), escape(page.site, False)
    meta = f'<meta charset="{meta_charset}">\n' if meta_charset else ""
    nav = "".join(f'<li><a href="/{n.replace(" ", "-")}/">{n.title()}</a></li>' for n in page.nav)
    end_p = "" if broken else "</p>"
    body = "\n".join(f"<p>{escape(p, False)}{end_p}" for p in page.paras)
    related = "".join(f'<li><a href="/p/{rng.randint(1000, 99999)}">{escape(r, False)}</a></li>'
                      for r in page.related)
    stray = "<" if broken else ""
    head = (f'<!DOCTYPE html>\n<html lang="{page.lang}">\n<head>\n{meta}'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{t} | {site}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f'<nav class="menu"><ul><li><a href="/">Home</a></li>{nav}</ul></nav>\n'
            f'<header class="site-header"><a class="logo" href="/">{site}</a>'
            f"{'<div class=tagline>' if broken else ''}</header>\n<main>\n<article>\n"
            f'<h1>{t}</h1>\n<div class="byline">By {escape(page.author, False)} | {page.date}'
            f"</div>\n{body}\n</article>\n</main>\n"
            f'<aside class="sidebar"><h3>Related {stray}stories</h3><ul>{related}</ul></aside>\n')
    foot = ('<footer><a href="/about">About</a> <a href="/privacy">Privacy</a> '
            f'<a href="/contact">Contact</a><p>&copy; {page.date[:4]} {site}. '
            "All rights reserved.</p></footer>\n")
    if broken:
        # Truncated download: the page stops inside the footer, no </body></html>.
        return head + foot[: rng.randint(8, len(foot) // 2)]
    return (head + foot + '<div class="cookie-banner" id="cookies">We use cookies to improve '
            "your experience. <button>Accept</button></div>\n"
            f"<script>{_SCRIPT % rng.randrange(10**6)}</script>\n</body>\n</html>\n")


def http_response(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def skip_body(rng: random.Random, kind: str, url: str) -> tuple[int, str, bytes]:
    """(status, content type, HTTP block) of a response an ingest must skip."""
    date = [("Server", "nginx")]
    if kind == "301":
        body = b"<html><body>Moved</body></html>"
        head = [*date, ("Location", url.rsplit("/", 1)[0] + "/moved"),
                ("Content-Type", "text/html; charset=utf-8")]
        return 301, "text/html; charset=utf-8", http_response("301 Moved Permanently", head, body)
    if kind == "404":
        body = b"<html><body><h1>404 Not Found</h1></body></html>"
        head = [*date, ("Content-Type", "text/html; charset=utf-8")]
        return 404, "text/html; charset=utf-8", http_response("404 Not Found", head, body)
    if kind == "jpeg":
        body = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(rng.randint(40, 400))
                + b"\xff\xd9")
        ctype = "image/jpeg"
    else:
        body = (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + rng.randbytes(200)
                + b"\n%%EOF\n")
        ctype = "application/pdf"
    return 200, ctype, http_response("200 OK", [*date, ("Content-Type", ctype)], body)


def sha1_digest(data: bytes) -> str:
    return "sha1:" + b32encode(hashlib.sha1(data).digest()).decode()


def warc_record(wtype: str, headers: list[tuple[str, str]], block: bytes,
                bad: str | None = None) -> bytes:
    """One WARC/1.0 record; ``bad`` plants a malformed header ("content_length"/"version")."""
    length = "abc" if bad == "content_length" else str(len(block))
    version = "WARC/1.0" if bad != "version" else "WRAC/1.O"
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (f"{version}\r\nWARC-Type: {wtype}\r\n{head}Content-Length: {length}\r\n\r\n"
            ).encode() + block + b"\r\n\r\n"


# -- shard files ----------------------------------------------------------------------------
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GZ_LEVEL = 4  # ~15% faster than 6 on these records for <1% larger files
_UUID_MASK = ~((0xF << 76) | (0xC << 60)) & ((1 << 128) - 1)
_UUID_BITS = (4 << 76) | (0x8 << 60)


def iso(ts: int, http: bool = False) -> str:
    """ISO-8601 UTC (or an HTTP date) without the locale-dependent strftime names."""
    t = time.gmtime(ts)
    if http:
        return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONS[t.tm_mon - 1]} {t.tm_year} "
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")
    return (f"{t.tm_year}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d}Z")


def record_id(rng: random.Random) -> str:
    """A random (version 4) UUID URN; formatted by hand because uuid.UUID is slow here."""
    h = f"{rng.getrandbits(128) & _UUID_MASK | _UUID_BITS:032x}"
    return f"<urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}>"


class GzRecords:
    """A WARC or WET file where every record is its own gzip member, as Common Crawl writes."""

    def __init__(self, out: Path, rel: str, rng: random.Random, ts: int):
        self.rel, self.rng, self.pos = rel, rng, 0
        self.f = open(out / rel, "wb")  # noqa: SIM115 - closed by close()
        self.info_id = record_id(rng)
        info = (b"software: llmlake-sample/1.0\r\nformat: WARC File Format 1.0\r\n"
                b"isPartOf: llmlake-sample\r\ndescription: synthetic web crawl\r\n")
        self.add(warc_record("warcinfo", [
            ("WARC-Date", iso(ts)), ("WARC-Filename", rel.rsplit("/", 1)[-1]),
            ("WARC-Record-ID", self.info_id), ("Content-Type", "application/warc-fields")], info))

    def add(self, record: bytes, cut: bool = False) -> int:
        """Append one gzip member and return its byte offset; ``cut`` truncates it."""
        data = zlib.compress(record, GZ_LEVEL, 31)
        if cut:
            data = data[: len(data) // 2]
        offset = self.pos
        self.f.write(data)
        self.pos += len(data)
        return offset

    def exchange(self, url: str, ts: int, http: bytes, payload: bytes, ptype: str,
                 meta: bytes | None = None, bad: str | None = None, cut: bool = False) -> int:
        """request + response (+ metadata) records; returns the response's offset."""
        date, req_id, resp_id = iso(ts), record_id(self.rng), record_id(self.rng)
        _, _, host, path = url.split("/", 3)
        req = (f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: llmlake-sample-bot/1.0\r\n"
               "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n\r\n").encode()
        common = [("WARC-Date", date), ("WARC-Warcinfo-ID", self.info_id),
                  ("WARC-Target-URI", url)]
        self.add(warc_record("request", [("WARC-Record-ID", req_id), *common, (
            "Content-Type", "application/http; msgtype=request")], req))
        ip = f"{self.rng.randint(11, 223)}.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}" \
             f".{self.rng.randint(1, 254)}"
        offset = self.add(warc_record("response", [
            ("WARC-Record-ID", resp_id), *common, ("WARC-Concurrent-To", req_id),
            ("WARC-IP-Address", ip), ("Content-Type", "application/http; msgtype=response"),
            ("WARC-Payload-Digest", sha1_digest(payload)), ("WARC-Block-Digest", sha1_digest(http)),
            ("WARC-Identified-Payload-Type", ptype)], http, bad), cut)
        if meta is not None:
            self.add(warc_record("metadata", [
                ("WARC-Record-ID", record_id(self.rng)), *common, ("WARC-Refers-To", resp_id),
                ("Content-Type", "application/warc-fields")], meta))
        return offset

    def conversion(self, url: str, ts: int, text: bytes, lang3: str) -> int:
        """A WET ``conversion`` record (plain text of a page)."""
        return self.add(warc_record("conversion", [
            ("WARC-Target-URI", url), ("WARC-Date", iso(ts)),
            ("WARC-Record-ID", record_id(self.rng)), ("WARC-Refers-To", record_id(self.rng)),
            ("WARC-Block-Digest", sha1_digest(text)), ("WARC-Identified-Content-Language", lang3),
            ("Content-Type", "text/plain")], text))

    def close(self) -> None:
        self.f.close()


class JsonlFile:
    """JSON lines, gzip (mtime 0, no name), zstd or plain by file name."""

    BATCH = 64

    def __init__(self, out: Path, rel: str):
        self.rel, self.line, self.buf = rel, 0, []
        self.raw = open(out / rel, "wb")  # noqa: SIM115 - closed by close()
        if rel.endswith(".gz"):
            self.f = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0,
                                   compresslevel=GZ_LEVEL)
        elif rel.endswith(".zst"):
            import zstandard

            self.f = zstandard.ZstdCompressor(level=3).stream_writer(self.raw)
        else:
            self.f = self.raw

    def add(self, line: str) -> int:
        # Compressing a batch of lines at once is much cheaper than one write per line.
        self.buf.append(line)
        if len(self.buf) >= self.BATCH:
            self.flush()
        self.line += 1
        return self.line - 1

    def flush(self) -> None:
        if self.buf:
            self.f.write(("\n".join(self.buf) + "\n").encode())
            self.buf = []

    def close(self) -> None:
        self.flush()
        self.f.close()
        self.raw.close()


class ParquetFile:
    """Parquet shard written in row groups of ``ROWS`` (bounded memory, no varying metadata)."""

    ROWS = 500

    def __init__(self, out: Path, rel: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa, self.rel, self.n = pa, rel, 0
        self.schema = pa.schema([("id", pa.string()), ("url", pa.string()),
                                 ("text", pa.string()),
                                 ("fetched_at", pa.timestamp("us", tz="UTC"))])
        self.w = pq.ParquetWriter(out / rel, self.schema, compression="zstd")
        self.rows: list[tuple] = []

    def add(self, doc_id: str, url: str, text: str, ts_us: int) -> int:
        self.rows.append((doc_id, url, text, ts_us))
        if len(self.rows) >= self.ROWS:
            self.flush()
        self.n += 1
        return self.n - 1

    def flush(self) -> None:
        # Arrays are built from buffers: pa.array() on Python lists imports pandas (~1 s).
        if not self.rows:
            return
        import numpy as np

        pa, cols = self.pa, list(zip(*self.rows, strict=True))
        arrays = []
        for values in cols[:3]:
            data = [v.encode() for v in values]
            offsets = np.zeros(len(data) + 1, dtype=np.int32)
            np.cumsum([len(d) for d in data], out=offsets[1:])
            arrays.append(pa.StringArray.from_buffers(len(data), pa.py_buffer(offsets),
                                                      pa.py_buffer(b"".join(data))))
        ts = pa.py_buffer(np.array(cols[3], dtype=np.int64))
        arrays.append(pa.Array.from_buffers(self.schema.types[3], len(ts) // 8, [None, ts]))
        self.w.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.rows = []

    def close(self) -> None:
        self.flush()
        self.w.close()
