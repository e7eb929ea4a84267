"""The Spark-free record readers: every format, every planted kind of damage."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from reader_helpers import OPTS, kinds, read

from etl.ingest.account import account
from etl.ingest.readers import (
    decode_body,
    detect_format,
    doc_id,
    read_file,
    sniff_format,
)


def warc_record(uri: str, body: bytes = b"", *, rtype: str = "response", status: int = 200,
                ctype: str = "text/html; charset=utf-8", length: bytes | None = None) -> bytes:
    if rtype == "response":
        block = (f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n\r\n").encode() + body
        content_type = "application/http; msgtype=response"
    else:
        block, content_type = body, "text/plain"
    head = (
        f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Target-URI: {uri}\r\n"
        f"WARC-Date: 2026-03-01T12:00:00Z\r\nWARC-Record-ID: <urn:uuid:{abs(hash(uri))}>\r\n"
        f"Content-Type: {content_type}\r\n"
    ).encode() + b"Content-Length: " + (length or str(len(block)).encode()) + b"\r\n\r\n"
    return head + block + b"\r\n\r\n"


def gz_members(*records: bytes) -> tuple[bytes, list[int]]:
    """Concatenated gzip members (one per record, like Common Crawl) and their offsets."""
    out, offsets = b"", []
    for rec in records:
        offsets.append(len(out))
        out += gzip.compress(rec, mtime=0)
    return out, offsets




def page(text: str) -> bytes:
    return f"<html><body><p>{text}</p></body></html>".encode()


def test_warc_keeps_200_html_and_counts_skips(tmp_path):
    data, offsets = gz_members(
        warc_record("http://a.example/1", b"GET / HTTP/1.1\r\n\r\n", rtype="request"),
        warc_record("http://a.example/1", page("hello")),
        warc_record("http://a.example/2", b"", status=404),
        warc_record("http://a.example/3", b"\xff\xd8\xff", ctype="image/jpeg"),
        warc_record("http://a.example/4", page("plain"), ctype="text/plain"),
    )
    rows = read(tmp_path, "c.warc.gz", data)
    docs = kinds(rows, "doc")
    assert [d["url"] for d in docs] == ["http://a.example/1", "http://a.example/4"]
    assert docs[0]["content_type"] == "text/html" and docs[1]["content_type"] == "text/plain"
    assert docs[0]["origin"].endswith(f"c.warc.gz@byte:{offsets[1]}")
    assert docs[0]["fetched_at"].year == 2026
    skips = {r["reason"]: r["count"] for r in kinds(rows, "skip")}
    assert skips == {"warc_type:request": 1, "http_status:404": 1, "content_type:image/jpeg": 1}
    assert not kinds(rows, "quarantine")


def test_bad_header_is_quarantined_and_parsing_resumes(tmp_path):
    data, offsets = gz_members(
        warc_record("http://a.example/1", page("one")),
        warc_record("http://a.example/2", page("two"), length=b"abc"),
        warc_record("http://a.example/3", page("three")),
    )
    rows = read(tmp_path, "c.warc.gz", data)
    assert [d["url"] for d in kinds(rows, "doc")] == ["http://a.example/1", "http://a.example/3"]
    (bad,) = kinds(rows, "quarantine")
    assert bad["origin"].endswith(f"@byte:{offsets[1]}")
    assert bad["reason"].startswith("invalid_warc_record")
    assert "WARC-Target-URI: http://a.example/2" in bad["payload"]


def test_bad_header_in_uncompressed_warc_resumes_at_next_record(tmp_path):
    records = [warc_record("http://a.example/1", page("one")),
               warc_record("http://a.example/2", page("two"), length=b"abc"),
               warc_record("http://a.example/3", page("three"))]
    rows = read(tmp_path, "c.warc", b"".join(records))
    assert [d["url"] for d in kinds(rows, "doc")] == ["http://a.example/1", "http://a.example/3"]
    assert len(kinds(rows, "quarantine")) == 1


def test_truncated_last_member_is_quarantined(tmp_path):
    data, offsets = gz_members(
        warc_record("http://a.example/1", page("one")),
        warc_record("http://a.example/2", page("two " * 300)),
    )
    rows = read(tmp_path, "c.warc.gz", data[:-40])
    assert [d["url"] for d in kinds(rows, "doc")] == ["http://a.example/1"]
    (bad,) = kinds(rows, "quarantine")
    assert bad["origin"].endswith(f"@byte:{offsets[1]}")


def test_wet_conversion_records_are_plain_text_documents(tmp_path):
    data, _ = gz_members(
        warc_record("", b"software: x", rtype="warcinfo"),
        warc_record("http://b.example/", "Grüße aus Köln".encode(), rtype="conversion"),
    )
    (doc,) = kinds(read(tmp_path, "c.warc.wet.gz", data), "doc")
    assert doc["source"] == "wet" and doc["content_type"] == "text/plain"
    assert doc["raw"] == "Grüße aus Köln"


@pytest.mark.parametrize(
    ("body", "declared", "expected"),
    [
        ("café “quoted”".encode("cp1252"), "utf-8", "café “quoted”"),  # wrong header
        ('<meta charset="windows-1252"><p>naïve</p>'.encode("cp1252"), None, "naïve"),
        ("déjà vu, encore une fois".encode(), None, "déjà vu"),
        ("Ærøskøbing og Ålborg".encode("latin-1"), "no-such-codec", "Ærøskøbing"),
    ],
)
def test_charset_fallbacks(body, declared, expected):
    assert expected in decode_body(body, declared)


def test_jsonl_formats_bad_lines_and_missing_fields(tmp_path):
    lines = [
        json.dumps({"id": "1", "url": "http://j.example/1", "text": "first",
                    "fetched_at": "2026-02-03T04:05:06Z"}),
        '{"id": "2", "text": "half writ',
        json.dumps({"id": "3", "body": "no text field"}),
        json.dumps({"id": "4", "text": "   "}),
        json.dumps([1, 2]),
        json.dumps({"id": "6", "text": "sixth"}),
    ]
    payload = ("\n".join(lines) + "\n").encode()
    for name, data in [("p.jsonl", payload), ("p.jsonl.gz", gzip.compress(payload)),
                       ("p.jsonl.zst", zstandard.ZstdCompressor().compress(payload))]:
        rows = read(tmp_path, name, data)
        docs = kinds(rows, "doc")
        assert [d["raw"] for d in docs] == ["first", "sixth"]
        assert docs[0]["url"] == "http://j.example/1" and docs[0]["fetched_at"].month == 2
        assert docs[1]["url"] is None and docs[1]["doc_id"] == doc_id("6", "sixth")
        reasons = {r["origin"].rsplit("@", 1)[1]: r["reason"] for r in kinds(rows, "quarantine")}
        assert set(reasons) == {"line:1", "line:2", "line:4"}
        assert reasons["line:1"].startswith("invalid_json")
        assert reasons["line:2"] == "missing_field:text"
        assert reasons["line:4"] == "not_a_json_object"
        assert {r["reason"]: r["count"] for r in kinds(rows, "skip")} == {"empty_text": 1}


def test_truncated_jsonl_gzip_keeps_what_was_read(tmp_path):
    payload = "".join(json.dumps({"id": str(i), "text": f"doc {i} " * 50}) + "\n"
                      for i in range(200)).encode()
    rows = read(tmp_path, "t.jsonl.gz", gzip.compress(payload)[:-200])
    docs, bad = kinds(rows, "doc"), kinds(rows, "quarantine")
    assert 0 < len(docs) < 200
    assert len(bad) == 1 and bad[0]["reason"].startswith("corrupt_stream")


def test_parquet_good_missing_column_and_corrupt(tmp_path):
    table = pa.table({"id": ["a", "b"], "url": ["http://p.example/a", None],
                      "text": ["alpha", "beta"]})
    good = tmp_path / "g.parquet"
    pq.write_table(table, good)
    rows = list(read_file(str(good), "parquet", OPTS))
    assert [r["raw"] for r in kinds(rows, "doc")] == ["alpha", "beta"]
    assert kinds(rows, "doc")[1]["origin"].endswith("@row:1")

    pq.write_table(table.drop(["text"]), tmp_path / "m.parquet")
    rows = list(read_file(str(tmp_path / "m.parquet"), "parquet", OPTS))
    (bad,) = kinds(rows, "quarantine")
    assert bad["reason"] == "missing_field:text"
    assert account(rows)[str(tmp_path / "m.parquet")]["read"] == 1  # a file-level failure

    rows = read(tmp_path, "x.parquet", b"PAR1" + b"\x00" * 64)
    assert [r["kind"] for r in rows] == ["quarantine", "file"]
    assert rows[0]["reason"].startswith("unreadable_parquet")
    assert all(e["balanced"] for e in account(rows).values())


def test_format_detection_by_name_and_content():
    assert detect_format("s3a://b/crawl-1.warc.gz") == "warc"
    assert detect_format("x/CC-MAIN-1.warc.wet.gz") == "warc"
    assert detect_format("x/part-0.jsonl.zst") == "jsonl"
    assert detect_format("x/part-0.parquet") == "parquet"
    assert detect_format("x/blob") is None
    assert sniff_format(gzip.compress(b"WARC/1.0\r\n")) == "warc"
    assert sniff_format(zstandard.ZstdCompressor().compress(b'{"text": 1}')) == "jsonl"
    assert sniff_format(b"PAR1....") == "parquet"
    assert sniff_format(b"\x00\x01garbage") is None


@settings(max_examples=60, deadline=None)
@given(url=st.one_of(st.none(), st.text(min_size=1, max_size=30)),
       text=st.text(min_size=1).filter(lambda t: t.strip()))
def test_jsonl_round_trip_preserves_text_and_id(url, text):
    line = json.dumps({"id": "k", "url": url, "text": text}).encode() + b"\n"
    rows = list(read_file("mem.jsonl", "jsonl", OPTS, stream=io.BytesIO(line)))
    (doc,) = kinds(rows, "doc")
    assert doc["raw"] == text
    assert doc["doc_id"] == doc_id(url or "k", text)


# NUL is doc_id's separator, so ("\x00", "") and ("", "\x00") share an id: a collision needs
# a NUL inside a URL or id. Changing the hash would change every doc_id already in bronze.
NO_NUL = st.text(st.characters(blacklist_characters="\x00"))


@given(a=NO_NUL, b=NO_NUL)
def test_doc_id_separates_key_from_content(a, b):
    assert doc_id(a, b) == doc_id(a, b)
    if (a, b) != ("", ""):
        assert doc_id(a + b, "") != doc_id(a, b) or b == ""


# The id every bronze row already carries: xxh3-128 over key, NUL, content, fed in parts.
def streamed_id(key: str | None, raw: str) -> str:
    import xxhash

    h = xxhash.xxh3_128()
    for part in ((key or "").encode("utf-8", "surrogatepass"), b"\x00",
                 raw.encode("utf-8", "surrogatepass")):
        h.update(part)
    return h.hexdigest()


@settings(max_examples=60, deadline=None)
@given(key=st.one_of(st.none(), st.text(max_size=40)), raw=st.text(max_size=300))
def test_doc_ids_are_unchanged_and_body_bytes_give_the_same_row(key, raw):
    from etl.ingest.records import doc_row, utf8_safe

    assert doc_id(key, raw) == streamed_id(key, raw)
    row = doc_row("warc", key, None, "text/html", raw, "f@byte:0", key)
    safe_key = utf8_safe(key) if key else key
    assert row["doc_id"] == streamed_id(safe_key, utf8_safe(raw))
    if raw == utf8_safe(raw):  # a body decoded as UTF-8 is the text's encoding
        assert doc_row("warc", key, None, "text/html", raw, "f@byte:0", key,
                       raw.encode("utf-8")) == row


@pytest.mark.parametrize("body, declared", [
    ("<meta charset=cp1251>Привет", "utf-8"),      # the HTTP charset is wrong: meta decides
    ("<meta charset=utf-8>Привет", None),           # no HTTP charset: meta decides
    ("plain café", "iso-8859-1"),                   # a declared charset that decodes cleanly
])
def test_meta_charset_is_read_only_when_the_http_one_fails(body, declared):
    enc = "cp1251" if "cp1251" in body else "utf-8" if declared is None else declared
    assert decode_body(body.encode(enc), declared) == body


# --- per-file accounting -----------------------------------------------------------------

def test_every_file_ends_with_its_record_count(tmp_path):
    data, _ = gz_members(
        warc_record("http://a.example/1", b"GET / HTTP/1.1\r\n\r\n", rtype="request"),
        warc_record("http://a.example/1", page("hello")),
        warc_record("http://a.example/2", b"", status=404),
        warc_record("http://a.example/3", page("three"), length=b"abc"),
        warc_record("http://a.example/4", page("four")),
    )
    rows = read(tmp_path, "c.warc.gz", data)
    path = str(tmp_path / "c.warc.gz")
    assert rows[-1] == {"kind": "file", "origin": path, "count": 5}
    assert account(rows) == {path: {
        "read": 5, "documents": 2, "skipped": {"http_status:404": 1, "warc_type:request": 1},
        "quarantined": {"invalid_warc_record": 1}, "repaired": {}, "balanced": True}}


def test_corrupt_gzip_member_is_one_record_read(tmp_path):
    data, offsets = gz_members(
        warc_record("http://a.example/1", page("one")),
        warc_record("http://a.example/2", page("two " * 500)),
        warc_record("http://a.example/3", page("three")),
    )
    middle = (offsets[1] + offsets[2]) // 2
    damaged = data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1:]
    rows = read(tmp_path, "c.warc.gz", damaged)
    assert [d["url"] for d in kinds(rows, "doc")] == ["http://a.example/1", "http://a.example/3"]
    (bad,) = kinds(rows, "quarantine")
    assert bad["origin"].endswith(f"@byte:{offsets[1]}")
    assert bad["reason"].startswith("corrupt_gzip")
    entry = account(rows)[str(tmp_path / "c.warc.gz")]
    assert entry["read"] == 3 and entry["balanced"]


def test_jsonl_counts_every_line_once(tmp_path):
    lines = [json.dumps({"text": "a"}), "", "{broken", json.dumps({"text": " "}),
             json.dumps({"text": "b"})]
    rows = read(tmp_path, "l.jsonl", "\n".join(lines).encode())
    assert account(rows)[str(tmp_path / "l.jsonl")] == {
        "read": 5, "documents": 2, "skipped": {"blank_line": 1, "empty_text": 1},
        "quarantined": {"invalid_json": 1}, "repaired": {}, "balanced": True}
    cut = gzip.compress("\n".join(lines * 200).encode())[:-100]
    rows = read(tmp_path, "cut.jsonl.gz", cut)
    entry = account(rows)[str(tmp_path / "cut.jsonl.gz")]
    assert entry["balanced"] and entry["quarantined"]["corrupt_stream"] == 1


def test_unreadable_file_is_one_quarantined_record(tmp_path):
    path = str(tmp_path / "gone.jsonl")
    rows = list(read_file(path, "jsonl", OPTS))
    assert [r["kind"] for r in rows] == ["quarantine", "file"]
    assert rows[0]["reason"].startswith("unreadable_file")
    assert account(rows)[path] == {"read": 1, "documents": 0, "skipped": {},
                                   "quarantined": {"unreadable_file": 1}, "repaired": {},
                                   "balanced": True}


def test_account_keeps_files_apart_and_flags_a_lost_record():
    rows = [{"kind": "doc", "origin": "s3a://b/x@y/a.jsonl@line:0"},
            {"kind": "skip", "origin": "s3a://b/x@y/a.jsonl", "reason": "blank_line", "count": 1},
            {"kind": "file", "origin": "s3a://b/x@y/a.jsonl", "count": 2},
            {"kind": "quarantine", "origin": "b.warc@byte:7", "reason": "truncated_record: x"},
            {"kind": "file", "origin": "b.warc", "count": 2}]
    result = account(rows)
    assert set(result) == {"s3a://b/x@y/a.jsonl", "b.warc"}
    assert result["s3a://b/x@y/a.jsonl"]["balanced"]
    assert result["b.warc"]["quarantined"] == {"truncated_record": 1}
    assert not result["b.warc"]["balanced"]
