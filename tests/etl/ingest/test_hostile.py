"""Hostile input for the readers: each kind of damage seen in real crawls, planted by hand.

Every test checks three things: what survives lands as documents, the damaged record is
quarantined (or skipped) at its own origin with a reason that names the damage, and the
file's rows add up (``account``). Records are written as raw bytes so their headers can
lie in ways no WARC writer allows.
"""

from __future__ import annotations

import gzip
import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reader_helpers import OPTS, kinds, read

from etl.ingest.account import account
from etl.ingest.readers import ReaderOptions, read_file

HTTP_CT = b"application/http; msgtype=response"


def page(text: str) -> bytes:
    return f"<html><body><p>{text}</p></body></html>".encode()


def http(body: bytes, ctype: bytes = b"text/html; charset=utf-8", nl: bytes = b"\r\n") -> bytes:
    return b"HTTP/1.1 200 OK" + nl + b"Content-Type: " + ctype + nl + nl + body


def record(uri: str, block: bytes, *, rtype: bytes = b"response", ctype: bytes = HTTP_CT,
           length: bytes | None = None, version: bytes = b"WARC/1.0",
           date: bytes = b"2026-03-01T12:00:00Z", nl: bytes = b"\r\n") -> bytes:
    """One WARC record as raw bytes; every header can be made to lie."""
    fields = [version, b"WARC-Type: " + rtype, b"WARC-Target-URI: " + uri.encode(),
              b"WARC-Date: " + date, b"Content-Type: " + ctype,
              b"Content-Length: " + (str(len(block)).encode() if length is None else length)]
    return nl.join(fields) + nl + nl + block + nl + nl


def good(n: int) -> bytes:
    return record(f"http://a.example/{n}", http(page(f"page {n}")))


def layout(records: list[bytes], gz: bool) -> tuple[bytes, list[int]]:
    """The file bytes (one gzip member per record, or plain) and each record's offset."""
    parts = [gzip.compress(r, mtime=0) if gz else r for r in records]
    offsets = [sum(len(p) for p in parts[:i]) for i in range(len(parts))]
    return b"".join(parts), offsets




def balanced(rows: list[dict], read_count: int | None = None) -> dict:
    (entry,) = account(rows).values()
    assert entry["balanced"], entry
    if read_count is not None:
        assert entry["read"] == read_count, entry
    return entry


def assert_utf8(rows: list[dict]) -> None:
    """Every string a reader yields must survive Arrow (no lone surrogates)."""
    for row in rows:
        for value in row.values():
            if isinstance(value, str):
                value.encode("utf-8")  # raises on a surrogate
    pa.Table.from_pylist([{k: v for k, v in r.items() if isinstance(v, str)} for r in rows])


# --- 1. a response record whose block cannot be trusted -----------------------------------

BAD_RESPONSES = {
    "negative length": (dict(length=b"-5"), "invalid_warc_record: Content-Length"),
    "length past 2**64": (dict(length=b"99999999999999999999"), "content_length_mismatch"),
    "length past the file": (dict(length=b"99999999999"), "content_length_mismatch"),
    "length too long": (dict(length=b"1500"), "content_length_mismatch"),
    "length too short": (dict(length=b"10"), "content_length_mismatch"),
    "no application/http": (dict(ctype=b"text/html"), "not_http_response"),
    "no Content-Type": (dict(ctype=b""), "not_http_response"),
}


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("damage", list(BAD_RESPONSES))
def test_bad_response_is_quarantined_and_reading_resumes(tmp_path, gz, damage):
    header, reason = BAD_RESPONSES[damage]
    bad = record("http://a.example/bad", http(page("bad " * 40)), **header)
    data, offsets = layout([good(1), bad, good(2), good(3)], gz)
    rows = read(tmp_path, "c.warc.gz" if gz else "c.warc", data)
    assert [d["url"] for d in kinds(rows, "doc")] == [f"http://a.example/{n}" for n in (1, 2, 3)]
    (q,) = kinds(rows, "quarantine")
    assert q["origin"].endswith(f"@byte:{offsets[1]}")
    assert q["reason"].startswith(reason), q["reason"]
    assert "reader_error" not in q["reason"]
    balanced(rows, read_count=4)


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_request_record_with_a_length_past_the_end_loses_nothing_after_it(tmp_path, gz):
    request = record("http://a.example/1", b"GET / HTTP/1.1\r\n\r\n", rtype=b"request",
                     ctype=b"application/http; msgtype=request", length=b"1000000")
    data, offsets = layout([good(1), request, good(2)], gz)
    rows = read(tmp_path, "c.warc.gz" if gz else "c.warc", data)
    assert [d["url"] for d in kinds(rows, "doc")] == ["http://a.example/1", "http://a.example/2"]
    (q,) = kinds(rows, "quarantine")
    assert q["origin"].endswith(f"@byte:{offsets[1]}")
    assert q["reason"].startswith("content_length_mismatch")
    balanced(rows, read_count=3)


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_garbage_between_records_is_one_quarantined_record(tmp_path, gz):
    data, offsets = layout([good(1), good(2)], gz)
    cut = offsets[1]
    rows = read(tmp_path, "c.warc.gz" if gz else "c.warc", data[:cut] + b"xx garbage" + data[cut:])
    assert len(kinds(rows, "doc")) == 2
    (q,) = kinds(rows, "quarantine")
    assert q["origin"].endswith(f"@byte:{cut}")
    balanced(rows, read_count=3)


# --- 2. old crawls: bare LF line ends, WARC/0.18, impossible dates ------------------------

def test_bare_lf_http_headers_parse_like_crlf(tmp_path):
    block = http(page("from 2009"), ctype=b"text/html; charset=utf-8", nl=b"\n")
    rec = record("http://old.example/", block, version=b"WARC/0.18",
                 date=b"2008-10-294T05:21:46-0700")
    rows = read(tmp_path, "clueweb.warc.gz", gzip.compress(rec) + gzip.compress(good(1)))
    docs = kinds(rows, "doc")
    assert [d["url"] for d in docs] == ["http://old.example/", "http://a.example/1"]
    assert docs[0]["content_type"] == "text/html" and "from 2009" in docs[0]["raw"]
    assert docs[0]["fetched_at"] is None and docs[1]["fetched_at"].year == 2026
    assert not kinds(rows, "skip") and not kinds(rows, "quarantine")
    balanced(rows, read_count=2)


@pytest.mark.parametrize("date", [b"0000-01-01T00:00:00Z", b"2009-03-65T08:43:19-0800", b"",
                                  b"99999-01-01T00:00:00Z"])
def test_unparseable_warc_date_gives_null_fetched_at(tmp_path, date):
    rows = read(tmp_path, "d.warc", record("http://d.example/", http(page("x")), date=date)
                + good(1))
    docs = kinds(rows, "doc")
    assert [d["url"] for d in docs] == ["http://d.example/", "http://a.example/1"]
    assert docs[0]["fetched_at"] is None
    balanced(rows, read_count=2)


def test_lf_only_warc_headers_are_read(tmp_path):
    records = [record(f"http://lf.example/{n}", http(page(f"lf {n}"), nl=b"\n"), nl=b"\n",
                      version=b"WARC/0.18") for n in range(3)]
    rows = read(tmp_path, "lf.warc", b"".join(records))
    assert [d["url"] for d in kinds(rows, "doc")] == [f"http://lf.example/{n}" for n in range(3)]
    balanced(rows, read_count=3)


# --- 3. lone surrogates ------------------------------------------------------------------

def test_jsonl_lone_surrogate_is_replaced_and_counted(tmp_path):
    lines = [r'{"id": "1", "text": "cut \ud83d emoji", "url": "http://j.example/\udc00"}',
             r'{"id": "2", "text": "whole \ud83d\ude00 emoji"}',
             r'{"id": "3", "text": "plain"}']
    rows = read(tmp_path, "s.jsonl", "\n".join(lines).encode())
    docs = kinds(rows, "doc")
    assert [d["raw"] for d in docs] == ["cut \ufffd emoji", "whole \U0001f600 emoji", "plain"]
    assert docs[0]["url"] == "http://j.example/\ufffd"
    assert [(r["reason"], r["count"]) for r in kinds(rows, "repair")] == [
        ("replaced_surrogates", 1)]
    assert_utf8(rows)
    balanced(rows, read_count=3)


@pytest.mark.parametrize("charset", ["utf-7", "unicode_escape", "raw_unicode_escape",
                                     "base64", "rot13", "zlib", "punycode"])
def test_odd_declared_charsets_never_yield_surrogates_or_errors(tmp_path, charset):
    body = b"<html><body><p>+2D0- \\ud83d caf\xc3\xa9</p></body></html>"
    rec = record("http://cs.example/", http(body, ctype=f"text/html; charset={charset}".encode()))
    rows = read(tmp_path, "cs.warc", rec + good(1))
    assert len(kinds(rows, "doc")) == 2
    assert "caf\xe9" in kinds(rows, "doc")[0]["raw"]
    assert_utf8(rows)
    balanced(rows, read_count=2)


def test_path_with_undecodable_bytes_gives_utf8_origins(tmp_path):
    name = os.fsdecode(b"bad-\xff.jsonl")
    (tmp_path / name).write_bytes(b'{"text": "a"}\n{"text": \n')
    rows = list(read_file(str(tmp_path / name), "jsonl", OPTS))
    assert [r["kind"] for r in rows] == ["doc", "quarantine", "file"]
    assert_utf8(rows)
    balanced(rows, read_count=2)


def test_parquet_invalid_utf8_quarantines_that_row_only(tmp_path):
    text = pa.array([b"alpha", b"be\xfft", b"gamma"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": text}), tmp_path / "u.parquet")
    rows = list(read_file(str(tmp_path / "u.parquet"), "parquet", OPTS))
    assert [d["raw"] for d in kinds(rows, "doc")] == ["alpha", "gamma"]
    (q,) = kinds(rows, "quarantine")
    assert q["origin"].endswith("@row:1") and q["reason"].startswith("unreadable_value:text")
    assert_utf8(rows)
    balanced(rows, read_count=3)


# --- 4. time values no datetime can hold --------------------------------------------------

@pytest.mark.parametrize("value", ["1e20", "-1e20", "NaN", "Infinity", "-Infinity", "1e400",
                                   "10000000000000000000000000000", "-62135596801",
                                   '"absurd"', '"2008-10-294T05:21:46-0700"',
                                   '"0001-01-01T00:00:00+01:00"', "true", "[1]"])
def test_jsonl_out_of_range_time_gives_null_and_keeps_reading(tmp_path, value):
    lines = ['{"id": "1", "text": "first", "fetched_at": ' + value + "}",
             json.dumps({"id": "2", "text": "second", "fetched_at": 1700000000})]
    rows = read(tmp_path, "t.jsonl", "\n".join(lines).encode())
    docs = kinds(rows, "doc")
    assert [d["raw"] for d in docs] == ["first", "second"]
    assert docs[0]["fetched_at"] is None and docs[1]["fetched_at"].year == 2023
    balanced(rows, read_count=2)


def test_parquet_out_of_range_times_give_null(tmp_path):
    times = pa.array([0, 2**62, -(2**62), 1_700_000_000_000_000], pa.timestamp("us", tz="UTC"))
    table = pa.table({"text": ["a", "b", "c", "d"], "fetched_at": times})
    pq.write_table(table, tmp_path / "t.parquet")
    rows = list(read_file(str(tmp_path / "t.parquet"), "parquet", OPTS))
    docs = kinds(rows, "doc")
    assert [d["raw"] for d in docs] == ["a", "b", "c", "d"]
    assert [d["fetched_at"] is None for d in docs] == [False, True, True, False]
    floats = pa.table({"text": ["x", "y"], "fetched_at": [float("nan"), 1e300]})
    pq.write_table(floats, tmp_path / "f.parquet")
    rows = list(read_file(str(tmp_path / "f.parquet"), "parquet", OPTS))
    assert [d["fetched_at"] for d in kinds(rows, "doc")] == [None, None]


# --- 5. zero-byte files -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["e.warc.gz", "e.warc", "e.warc.wet.gz", "e.jsonl",
                                  "e.jsonl.gz", "e.jsonl.zst", "e.parquet"])
def test_zero_byte_file_is_one_skipped_record(tmp_path, name):
    rows = read(tmp_path, name, b"")
    path = str(tmp_path / name)
    assert rows == [{"kind": "skip", "origin": path, "reason": "empty_file", "count": 1},
                    {"kind": "file", "origin": path, "count": 1}]
    assert account(rows)[path] == {"read": 1, "documents": 0, "skipped": {"empty_file": 1},
                                   "quarantined": {}, "repaired": {}, "balanced": True}


def test_compressed_file_with_no_records_is_empty_too(tmp_path):
    for name in ("n.warc.gz", "n.jsonl.gz"):
        rows = read(tmp_path, name, gzip.compress(b""))
        assert [(r["kind"], r.get("reason")) for r in rows] == [("skip", "empty_file"),
                                                                ("file", None)]


# --- more of what real crawls hold -------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_record_over_the_size_limit_is_quarantined_and_skipped_over(tmp_path, gz):
    big = record("http://a.example/big", http(page("big " * 200)))
    data, offsets = layout([good(1), big, good(2)], gz)
    path = tmp_path / ("c.warc.gz" if gz else "c.warc")
    path.write_bytes(data)
    rows = list(read_file(str(path), "warc", ReaderOptions(max_record_bytes=500)))
    assert [d["url"] for d in kinds(rows, "doc")] == ["http://a.example/1", "http://a.example/2"]
    (q,) = kinds(rows, "quarantine")
    assert q["origin"].endswith(f"@byte:{offsets[1]}") and q["reason"] == "record_too_large"
    balanced(rows, read_count=3)


def test_warc_type_missing_odd_or_in_capitals(tmp_path):
    block = http(page("t"))
    no_type = record("http://t.example/0", block).replace(b"WARC-Type: response\r\n", b"")
    records = [no_type, record("http://t.example/1", block, rtype=b"Response"),
               record("http://t.example/2", block, rtype=b"weird"),
               record("dns:t.example", b"20260301 t.example 1.2.3.4", ctype=b"text/dns"),
               good(3)]
    rows = read(tmp_path, "t.warc.gz", layout(records, gz=True)[0])
    assert [d["url"] for d in kinds(rows, "doc")] == ["http://t.example/1", "http://a.example/3"]
    (q,) = kinds(rows, "quarantine")
    assert q["origin"].endswith("@byte:0") and q["reason"].startswith("invalid_warc_record")
    assert {r["reason"] for r in kinds(rows, "skip")} == {"warc_type:weird",
                                                          "non_http_response:dns"}
    balanced(rows, read_count=5)


def test_one_gzip_stream_for_all_records_reads_and_stops_cleanly(tmp_path):
    plain = good(1) + good(2) + good(3)
    rows = read(tmp_path, "one.warc.gz", gzip.compress(plain))
    assert len(kinds(rows, "doc")) == 3
    balanced(rows, read_count=3)
    # Records cannot be told apart in one stream: the damage ends the file, in one row.
    rows = read(tmp_path, "cut.warc.gz", gzip.compress(plain)[:-30])
    assert len(kinds(rows, "quarantine")) == 1
    balanced(rows)


def test_stump_of_a_member_after_the_last_record_is_quarantined(tmp_path):
    data = layout([good(1), good(2)], gz=True)[0]
    rows = read(tmp_path, "s.warc.gz", data + data[:1])
    assert len(kinds(rows, "doc")) == 2
    (q,) = kinds(rows, "quarantine")
    assert q["origin"].endswith(f"@byte:{len(data)}") and q["reason"].startswith("truncated")
    balanced(rows, read_count=3)


def test_zstd_warc_is_read(tmp_path):
    import zstandard

    big = record("http://a.example/big", http(page("big " * 200)))
    path = tmp_path / "z.warc.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(good(1) + big + good(2)))
    rows = list(read_file(str(path), "warc", ReaderOptions(max_record_bytes=500)))
    assert [d["url"] for d in kinds(rows, "doc")] == ["http://a.example/1", "http://a.example/2"]
    assert [q["reason"] for q in kinds(rows, "quarantine")] == ["record_too_large"]
    balanced(rows, read_count=3)


def test_endless_jsonl_line_is_quarantined_with_bounded_memory(tmp_path):
    lines = [b'{"text": "a"}', b'{"text": "' + b"x" * 300_000 + b'"}', b'{"text": "b"}']
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"\n".join(lines))
    rows = list(read_file(str(path), "jsonl", ReaderOptions(max_record_bytes=1000)))
    assert [d["raw"] for d in kinds(rows, "doc")] == ["a", "b"]
    (q,) = kinds(rows, "quarantine")
    assert q["reason"] == "record_too_large" and len(q["payload"]) <= OPTS.payload_chars
    balanced(rows, read_count=3)


def test_jsonl_nested_too_deep_for_the_parser(tmp_path):
    rows = read(tmp_path, "deep.jsonl", b"[" * 200_000 + b'\n{"text": "after"}\n')
    assert [d["raw"] for d in kinds(rows, "doc")] == ["after"]
    assert kinds(rows, "quarantine")[0]["reason"].startswith("invalid_json")
    balanced(rows, read_count=2)


def test_jsonl_byte_order_mark_and_encoded_surrogate(tmp_path):
    data = b"\xef\xbb\xbf" + b'{"text": "bom"}\n{"text": "cesu \xed\xa0\xbd"}\n'
    rows = read(tmp_path, "b.jsonl", data)
    assert [d["raw"] for d in kinds(rows, "doc")] == ["bom"]
    (q,) = kinds(rows, "quarantine")
    assert q["origin"].endswith("@line:1") and q["reason"].startswith("invalid_utf8")
    assert_utf8(rows)
    balanced(rows, read_count=2)


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_damaged_zstd_jsonl_is_never_taken_for_empty(tmp_path, damage):
    import zstandard

    payload = b"".join(b'{"text": "doc %d"}\n' % i for i in range(2000))
    data = zstandard.ZstdCompressor(write_checksum=True).compress(payload)
    data = data[:-50] if damage == "cut" else data[:99] + bytes([data[99] ^ 0xFF]) + data[100:]
    rows = read(tmp_path, "z.jsonl.zst", data)
    assert kinds(rows, "quarantine")[-1]["reason"].startswith("corrupt_stream")
    assert not kinds(rows, "skip")
    balanced(rows)


class FailingDisk(io.BytesIO):
    """A file system client that breaks mid-file with an error nobody plans for."""

    def read(self, size: int = -1) -> bytes:
        if self.tell() > 100:
            raise RuntimeError("connection reset by a flaky object store")
        return super().read(size if 0 <= size <= 64 else 64)


def test_unforeseen_error_ends_the_file_as_one_quarantined_record():
    data = b"".join(b'{"text": "doc %d"}\n' % i for i in range(50))
    rows = list(read_file("flaky.jsonl", "jsonl", OPTS, stream=FailingDisk(data)))
    (q,) = kinds(rows, "quarantine")
    assert q["origin"] == "flaky.jsonl" and q["reason"].startswith("reader_error: RuntimeError")
    assert kinds(rows, "doc") and rows[-1]["kind"] == "file"
    balanced(rows)


def test_compression_is_told_by_the_bytes_not_fooled_by_them(tmp_path):
    lines = b'{"text": "a"}\n{"text": "b"}\n'
    rows = read(tmp_path, "misnamed.jsonl", gzip.compress(lines))  # gzip without .gz
    assert [d["raw"] for d in kinds(rows, "doc")] == ["a", "b"]
    rows = read(tmp_path, "junk.jsonl", b"\x1f\x8b\x08\n" + lines)  # plain, junk in front
    assert [d["raw"] for d in kinds(rows, "doc")] == ["a", "b"]
    assert len(kinds(rows, "quarantine")) == 1
    balanced(rows, read_count=3)
    data = layout([good(1), good(2)], gz=False)[0]
    for junk in (b"\x1f\x8b\x08", b"\x1f\x8b\x08\n"):  # the second reads as a gzip header
        rows = read(tmp_path, "junk.warc", junk + data)
        assert [d["url"] for d in kinds(rows, "doc")] == ["http://a.example/1",
                                                          "http://a.example/2"]
        balanced(rows, read_count=3)
