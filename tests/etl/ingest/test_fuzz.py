"""Fuzzing the readers with damaged copies of valid sample files (hypothesis).

The sample generator writes valid WARC.gz, WET and JSONL files once per module. Every
example damages one copy: truncation, flipped bytes, garbage between records, a lying
WARC header (Content-Length, Content-Type, WARC-Type, WARC-Date), HTTP headers with bare
LF, invalid UTF-8, a lone surrogate escape or an out-of-range time in a JSONL line. The
file is kept as a list of pieces (one per record: a gzip member, a plain WARC record or a
JSONL line) so the test knows which records the damage touched and where each record
starts afterwards. Then:

- no exception escapes ``read_file``, no reason is a ``reader_error`` and every string
  yielded encodes to UTF-8;
- the file's ``account`` balances;
- every record the damage did not touch ends as before (the same document at its shifted
  origin, or still skipped);
- a touched record lands as a document only at its own origin, is quarantined, or is
  skipped (counted); damage the bytes cannot reveal (a flipped letter in a plain text)
  may change a document. A lying ``Content-Length`` or ``Content-Type`` or invalid UTF-8
  never yields a document; a bad date, a lone surrogate or bare-LF HTTP headers keep it.

Not drawn: a Content-Length that ends the block exactly where a later record begins (the
bytes agree with it, so no reader can tell). A touched record whose gzip magic or
``WARC/`` line was destroyed has nothing left to mark it, so it may fall into the
quarantined span before it.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.ingest.account import account
from etl.ingest.readers import ReaderOptions, detect_format, read_file
from etl.sample.stage import generate
from llmlake.config import SampleConfig

OPTS = ReaderOptions()
# The same 600 examples per format on every run (about 10 s in all); against the readers
# before this test was written they found all of: lost records after a bad response, bare-LF
# HTTP headers, lone surrogates and out-of-range times.
SETTINGS = settings(max_examples=600, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
BAD_DATES = [b"2008-10-294T05:21:46-0700", b"0000-01-01T00:00:00Z", b"", b"yesterday",
             b"99999-01-01T00:00:00Z"]
BAD_TIMES = [1e20, -1e20, float("nan"), float("inf"), 10**30, "absurd", "2009-03-65"]


@dataclass(frozen=True)
class Base:
    """A valid file as records, and what reading each record gave."""

    name: str  # decides format and compression
    records: tuple[bytes, ...]  # uncompressed: a WARC record, or a JSONL line with its \n
    gz: bool
    outcomes: tuple[tuple[str, str | None], ...]  # ("doc", doc_id) or ("skip", None)


@dataclass(frozen=True)
class Piece:
    data: bytes  # as stored in the file
    index: int | None  # the record it holds; None for inserted garbage
    touched: bool = False
    expect: str | None = None  # "no_doc", "same_doc", "null_time" or "repaired"


def _members(data: bytes) -> list[bytes]:
    out = []
    while data:
        dec = zlib.decompressobj(wbits=31)
        out.append(dec.decompress(data))
        data = dec.unused_data
    return out


def _base(name: str, records: list[bytes], gz: bool) -> Base:
    pieces = [Piece(gzip.compress(r, mtime=0) if gz else r, i) for i, r in enumerate(records)]
    rows = list(read_file(name, detect_format(name), OPTS,
                          stream=io.BytesIO(b"".join(p.data for p in pieces))))
    assert not [r for r in rows if r["kind"] == "quarantine"], "the sample must be valid"
    docs = {_pos(r["origin"]): r["doc_id"] for r in rows if r["kind"] == "doc"}
    outcomes = tuple(("doc", docs[at]) if at in docs else ("skip", None)
                     for at in _starts(name, pieces))
    return Base(name, tuple(records), gz, outcomes)


CORPUS: dict[str, Base] = {}  # not a fixture argument: hypothesis would print it all


@pytest.fixture(scope="module", autouse=True)
def corpus(tmp_path_factory):
    CORPUS.update(_corpus(tmp_path_factory.mktemp("fuzz")))
    yield
    CORPUS.clear()


def _corpus(out: Path) -> dict[str, Base]:
    generate(SampleConfig(docs=40, seed=3, docs_per_shard=40, corrupt_per_kind=0,
                          wet_share=0.25, jsonl_share=0.25, parquet_share=0.1), out)
    warc = _members((out / "warc" / "crawl-00000.warc.gz").read_bytes())
    wet = _members((out / "wet" / "crawl-00000.warc.wet.gz").read_bytes())
    lines = []
    for path in sorted((out / "jsonl").iterdir()):
        lines += _jsonl_text(path).splitlines(keepends=True)
    return {"warc.gz": _base("f.warc.gz", warc, True), "warc": _base("f.warc", warc, False),
            "wet": _base("f.warc.wet.gz", wet, True), "jsonl": _base("f.jsonl", lines, False)}


def _jsonl_text(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def _pos(origin: str) -> int:
    return int(origin.rsplit(":", 1)[1])


def _starts(name: str, pieces: list[Piece]) -> list[int]:
    """Each piece's origin number in the damaged file: byte offset, or line index."""
    starts, at = [], 0
    for p in pieces:
        starts.append(at)
        at += p.data.count(b"\n") if name.endswith(".jsonl") else len(p.data)
    return starts


# --- damage ------------------------------------------------------------------------------

def _pieces(base: Base) -> list[Piece]:
    return [Piece(gzip.compress(r, mtime=0) if base.gz else r, i)
            for i, r in enumerate(base.records)]


def _flip(pieces: list[Piece], flips: list[tuple[int, int]]) -> list[Piece]:
    data = bytearray(b"".join(p.data for p in pieces))
    for pos, mask in flips:
        data[pos % len(data)] ^= mask
    out, at = [], 0
    for p in pieces:
        new = bytes(data[at: at + len(p.data)])
        out.append(replace(p, data=new, touched=p.touched or new != p.data))
        at += len(p.data)
    return out


def _truncate(pieces: list[Piece], cut: int) -> list[Piece]:
    out, at = [], 0
    for p in pieces:
        if at + len(p.data) <= cut:
            out.append(p)
        elif at < cut:
            out.append(replace(p, data=p.data[: cut - at], touched=True))
        at += len(p.data)
    return out


def _rewrite(base: Base, pieces: list[Piece], i: int, record: bytes, expect: str) -> None:
    pieces[i] = Piece(gzip.compress(record, mtime=0) if base.gz else record, i, True, expect)


def _warc_lie(base: Base, pieces: list[Piece], data) -> None:
    kind = data.draw(st.sampled_from(["content_length", "content_type", "warc_type",
                                      "warc_date", "lf_http"]))
    docs = [i for i, (k, _) in enumerate(base.outcomes) if k == "doc"]
    if kind in ("content_type", "lf_http") and base.name.endswith(".wet.gz"):
        kind = "warc_date"  # conversion records carry no HTTP message
    i = data.draw(st.sampled_from(docs if kind != "content_length" else range(len(pieces))))
    rec = base.records[i]
    head, sep, block = rec.partition(b"\r\n\r\n")
    if kind == "content_length":
        true = len(block) - 4
        # A length that ends the block just before a later record (blank lines aside) is
        # indistinguishable from a true one: the bytes agree with it. Not such lies.
        after = [sum(map(len, base.records[i + 1: j])) for j in range(i + 1, len(pieces) + 1)]
        honest = {true + gap + 4 - blank for gap in after for blank in range(5)}
        value = data.draw(st.one_of(
            st.sampled_from([b"-5", b"99999999999999999999", b"99999999999", b"abc", b""]),
            st.integers(-10, 4 * true + 2000).filter(lambda n: n not in honest)
            .map(lambda n: str(n).encode())))
        head = re.sub(rb"Content-Length: \d+", b"Content-Length: " + value, head)
        _rewrite(base, pieces, i, head + sep + block, "no_doc")
    elif kind == "content_type":
        value = data.draw(st.sampled_from([b"", b"Content-Type: text/html\r\n",
                                           b"Content-Type: \x01\r\n"]))
        head = re.sub(rb"Content-Type: application/http[^\r]*\r\n", value, head + b"\r\n")
        _rewrite(base, pieces, i, head[:-2] + sep + block, "no_doc")
    elif kind == "warc_type":
        value = data.draw(st.text("abcdefxyz-", min_size=1, max_size=12))
        head = head.replace(b"WARC-Type: response", b"WARC-Type: " + value.encode())
        head = head.replace(b"WARC-Type: conversion", b"WARC-Type: " + value.encode())
        _rewrite(base, pieces, i, head + sep + block, "no_doc")
    elif kind == "warc_date":
        value = data.draw(st.sampled_from(BAD_DATES))
        head = re.sub(rb"WARC-Date: [^\r]*", b"WARC-Date: " + value, head)
        _rewrite(base, pieces, i, head + sep + block, "null_time")
    else:  # bare LF in the HTTP header lines, Content-Length recounted
        http_head, _, body = block[:-4].partition(b"\r\n\r\n")
        block = http_head.replace(b"\r\n", b"\n") + b"\n\n" + body
        head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(block), head)
        _rewrite(base, pieces, i, head + sep + block + b"\r\n\r\n", "same_doc")


def _jsonl_lie(base: Base, pieces: list[Piece], data) -> None:
    kind = data.draw(st.sampled_from(["invalid_utf8", "surrogate", "time"]))
    docs = [i for i, (k, _) in enumerate(base.outcomes) if k == "doc"]
    i = data.draw(st.sampled_from(docs))
    line = base.records[i]
    if kind == "invalid_utf8":
        at = data.draw(st.integers(0, len(line) - 1))
        bad = data.draw(st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf0\x9f"]))
        _rewrite(base, pieces, i, line[:at] + bad + line[at:], "no_doc")
        return
    obj = json.loads(line)
    if kind == "surrogate":
        at = data.draw(st.integers(0, len(obj["text"])))
        obj["text"] = obj["text"][:at] + "\ud83d" + obj["text"][at:]
        expect = "repaired"
    else:
        obj["fetched_at"] = data.draw(st.sampled_from(BAD_TIMES))
        expect = "null_time"
    _rewrite(base, pieces, i, json.dumps(obj).encode() + b"\n", expect)


def damage(base: Base, data) -> list[Piece]:
    pieces = _pieces(base)
    size = sum(len(p.data) for p in pieces)
    kind = data.draw(st.sampled_from(["truncate", "flip", "garbage", "lie", "lie"]))
    if kind == "truncate":
        pieces = _truncate(pieces, data.draw(st.integers(0, size)))
    elif kind == "flip":
        flips = data.draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(1, 255)),
                                   min_size=1, max_size=3))
        pieces = _flip(pieces, flips)
    elif kind == "garbage":
        junk = data.draw(st.binary(min_size=1, max_size=200))
        pieces.insert(data.draw(st.integers(0, len(pieces))), Piece(junk, None, True))
    elif base.name.endswith(".jsonl"):
        _jsonl_lie(base, pieces, data)
    else:
        _warc_lie(base, pieces, data)
    if base.name.endswith(".jsonl"):  # a line that lost its \n runs into the next one
        for k in range(len(pieces) - 1):
            if not pieces[k].data.endswith(b"\n"):
                pieces[k + 1] = replace(pieces[k + 1], touched=True)
    return pieces


# --- the checks --------------------------------------------------------------------------

def check(base: Base, pieces: list[Piece]) -> None:
    rows = list(read_file(base.name, detect_format(base.name), OPTS,
                          stream=io.BytesIO(b"".join(p.data for p in pieces))))
    for row in rows:
        assert not row.get("reason", "").startswith("reader_error"), row
        for value in row.values():
            if isinstance(value, str):
                value.encode("utf-8")
    entry = account(rows)[base.name]
    assert entry["balanced"], entry
    docs = {_pos(r["origin"]): r for r in rows if r["kind"] == "doc"}
    quarantined = {_pos(r["origin"]) for r in rows if r["kind"] == "quarantine"}
    starts = _starts(base.name, pieces)
    assert set(docs) <= {at for p, at in zip(pieces, starts, strict=True) if p.index is not None}
    skipped = 0  # records with neither a document nor a quarantine row: skip counts
    for p, at in zip(pieces, starts, strict=True):
        if p.index is None:
            continue
        kind, ident = base.outcomes[p.index]
        doc = docs.get(at)
        if p.touched and not _marked(base, p):
            continue  # no gzip magic or WARC/ line left: part of the damage before it
        if not p.touched:
            assert (doc["doc_id"] if doc else None) == ident, (at, kind)
            assert at not in quarantined, (at, kind)
        elif p.expect == "no_doc":
            assert doc is None, (at, p.expect)
        elif p.expect == "same_doc":
            assert doc is not None and doc["doc_id"] == ident, (at, p.expect)
        elif p.expect == "null_time" and kind == "doc":
            assert doc is not None and doc["doc_id"] == ident, (at, p.expect)
            assert doc["fetched_at"] is None, at
        elif p.expect == "repaired":
            assert doc is not None and "\ufffd" in doc["raw"] and entry["repaired"], at
        skipped += doc is None and at not in quarantined
    assert sum(entry["skipped"].values()) >= skipped


def _marked(base: Base, p: Piece) -> bool:
    """Whether the bytes that mark where a record begins survived the damage."""
    if base.name.endswith(".jsonl"):
        return True
    n = 4 if base.gz else len(b"WARC/1.0\r\n")
    return p.data[:n] == _pieces(base)[p.index].data[:n]


@SETTINGS
@given(data=st.data())
def test_damaged_warc_gz(data):
    check(CORPUS["warc.gz"], damage(CORPUS["warc.gz"], data))


@SETTINGS
@given(data=st.data())
def test_damaged_plain_warc(data):
    check(CORPUS["warc"], damage(CORPUS["warc"], data))


@SETTINGS
@given(data=st.data())
def test_damaged_wet(data):
    check(CORPUS["wet"], damage(CORPUS["wet"], data))


@SETTINGS
@given(data=st.data())
def test_damaged_jsonl(data):
    check(CORPUS["jsonl"], damage(CORPUS["jsonl"], data))
