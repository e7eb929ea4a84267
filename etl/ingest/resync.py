"""Where WARC records begin and end in the raw bytes, for when FastWARC meets damage.

FastWARC trusts each record's ``Content-Length`` to find the next record, and when the
header after a record fails to parse it cannot say which of the two was wrong. This module
answers from the bytes themselves, and only on those error paths:

- :func:`record_end`: the offset just past a record, if its ``Content-Length`` really ends
  it at a record boundary (the CR/LF separator, then the next ``WARC/`` line, the end of
  the file, or the end of its gzip member);
- :func:`next_record_start`: the next offset where a record begins (a gzip member header,
  or a ``WARC/`` version line in a plain file);
- :func:`diagnose`: the quarantine reason for the damaged record at an offset.

Compressed files are expected to hold one gzip member per record, as Common Crawl,
Heritrix, wget and warcio write them; :class:`Layout` notices a file that does not (one
gzip stream, zstd), and then no record can be located (``split`` is false).

Example::

    >>> import io
    >>> rec = b"WARC/1.0\\r\\nWARC-Type: resource\\r\\nContent-Length: 2\\r\\n\\r\\nhi\\r\\n\\r\\n"
    >>> bad = rec.replace(b"Length: 2", b"Length: -5")
    >>> fh = io.BytesIO(rec + bad + rec)
    >>> layout = Layout.of(fh, "a.warc")
    >>> record_end(fh, 0, layout), next_record_start(fh, 1, layout), len(rec)
    (58, 58, 58)
    >>> diagnose(fh, 58, layout, "Invalid WARC header")
    "invalid_warc_record: Content-Length '-5' is not a byte count"
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from etl.ingest.records import GZIP_MAGIC, ZSTD_MAGIC

HEAD_LIMIT = 64 << 10  # the longest WARC header looked at (FastWARC stops at 32 KiB)
_VERSION = re.compile(rb"WARC/\d\.\d+\r?\n")
# Where a header ends, as FastWARC sees it: CRLF CRLF, or in lenient mode also LF LF.
_HEAD_END = {False: re.compile(rb"\r\n\r\n"), True: re.compile(rb"\n\r?\n")}
_SECOND_RECORD = re.compile(rb"\nWARC/\d\.\d+\r?\n")


@dataclass(frozen=True)
class Layout:
    gz: bool  # gzip members, else an uncompressed file
    lf: bool  # header lines end in a bare LF (ClueWeb09's WARC/0.18)
    split: bool  # records can be located: a plain file, or one gzip member per record
    size: int

    @classmethod
    def of(cls, fh: BinaryIO, path: str) -> Layout:
        size = fh.seek(0, 2)
        fh.seek(0)
        head = fh.read(HEAD_LIMIT)
        gz, split = path.lower().endswith(".gz"), True
        if head.startswith(GZIP_MAGIC):
            member = scan_member(fh, 0, HEAD_LIMIT)
            # Magic bytes that inflate to nothing: a plain file that starts with junk.
            gz = gz or (member.error is None and (member.size > 0 or member.end is not None))
            if gz:
                head = member.head
                # A second record inside the first member: one gzip stream for all.
                split = _SECOND_RECORD.search(head) is None
        elif not gz and (path.lower().endswith((".zst", ".zstd")) or _zstd(head)):
            split = False  # zstd frames are not located in the bytes
        version = _VERSION.match(head.lstrip(b"\r\n"))
        fh.seek(0)
        return cls(gz, bool(version) and not version.group().endswith(b"\r\n"), split, size)


def _zstd(head: bytes) -> bool:
    """Whether ``head`` starts a zstd stream that decompresses (not just its magic bytes)."""
    if not head.startswith(ZSTD_MAGIC):
        return False
    import zstandard

    try:
        return bool(zstandard.ZstdDecompressor().decompressobj().decompress(head))
    except zstandard.ZstdError:
        return False


@dataclass(frozen=True)
class Member:
    """One gzip member inflated: its first and last bytes, and where it ends."""

    head: bytes
    size: int  # inflated bytes seen
    tail: bytes
    end: int | None  # offset just past the member; None when cut off, corrupt or over cap
    error: str | None = None  # zlib's complaint about a corrupt member
    over: bool = False  # inflating stopped at the cap


def scan_member(fh: BinaryIO, pos: int, cap: int) -> Member:
    """Inflate the gzip member at ``pos``, at most ``cap`` bytes, keeping head and tail."""
    dec = zlib.decompressobj(wbits=31)
    fh.seek(pos)
    head, tail, size, fed = b"", b"", 0, 0
    while not dec.eof:
        data = fh.read(1 << 14)  # small reads bound what a gzip bomb can inflate at once
        if not data:
            return Member(head, size, tail, None)
        try:
            out = dec.decompress(data)
        except zlib.error as exc:
            return Member(head, size, tail, None, str(exc))
        fed += len(data)
        if len(head) < HEAD_LIMIT:
            head += out[: HEAD_LIMIT - len(head)]
        tail = (tail + out[-16:])[-16:]
        size += len(out)
        if size > cap:
            return Member(head, size, tail, None, over=True)
    return Member(head, size, tail, pos + fed - len(dec.unused_data))


def _parse(raw: bytes, lf: bool) -> tuple[int, int] | str:
    """(header length, Content-Length) of the record at the start of ``raw``, or its fault."""
    if not _VERSION.match(raw):
        return "no WARC/ version line"
    end = _HEAD_END[lf].search(raw)
    if end is None:
        return "header without an end"
    fields = {}
    for line in raw[: end.start()].split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            fields.setdefault(name.strip().lower(), value.strip())
    value = fields.get(b"content-length")
    if value is None:
        return "no Content-Length"
    if not value.isdigit() or len(value) > 30:
        return f"Content-Length {value[:40].decode('latin-1')!r} is not a byte count"
    return end.end(), int(value)


def _read(fh: BinaryIO, pos: int, n: int) -> bytes:
    fh.seek(pos)
    return fh.read(n)


def record_end(fh: BinaryIO, pos: int, layout: Layout) -> int | None:
    """Offset just past the record at ``pos`` if its Content-Length ends it cleanly."""
    if layout.gz:
        member = scan_member(fh, pos, HEAD_LIMIT)
        parsed = _parse(member.head, layout.lf)
        if isinstance(parsed, str):
            return None
        if member.over:  # a big record: inflate all of it, once, on this error path only
            member = scan_member(fh, pos, parsed[0] + parsed[1] + 8)
        rest = member.size - parsed[0] - parsed[1]  # the separator: up to 4 CR/LF bytes
        if member.end is None or not 0 <= rest <= 4:
            return None
        return None if member.tail[len(member.tail) - rest:].strip(b"\r\n") else member.end
    parsed = _parse(_read(fh, pos, HEAD_LIMIT), layout.lf)
    if isinstance(parsed, str) or pos + parsed[0] + parsed[1] > layout.size:
        return None
    end = pos + parsed[0] + parsed[1]
    after = _read(fh, end, 64)
    following = after.lstrip(b"\r\n")
    # The separator, or straight on to the next record, or the end of the file.
    if after.startswith((b"\r\n\r\n", b"\n\n")) or not following or _VERSION.match(following):
        return end + min(len(after) - len(following), 4)
    return None


def junk_after(fh: BinaryIO, pos: int, layout: Layout) -> bool:
    """Whether anything but blank lines, zero padding or empty gzip members follows."""
    while layout.gz and _read(fh, pos, 3) == GZIP_MAGIC:
        member = scan_member(fh, pos, 4096)
        if member.end is None or member.head.strip(b"\r\n\t \x00"):
            return True
        pos = member.end
    return bool(_read(fh, pos, 4096).strip(b"\r\n\t \x00"))


def next_record_start(fh: BinaryIO, pos: int, layout: Layout, chunk: int = 1 << 20
                      ) -> int | None:
    """The first offset at or after ``pos`` where a record begins, or None."""
    marker = GZIP_MAGIC if layout.gz else b"WARC/"
    while pos < layout.size:
        block = _read(fh, pos, chunk + len(marker) - 1)
        at = block.find(marker)
        while at >= 0:
            if _starts_record(fh, pos + at, layout):
                return pos + at
            at = block.find(marker, at + 1)
        pos += chunk
    return None


def _starts_record(fh: BinaryIO, pos: int, layout: Layout) -> bool:
    head = _read(fh, pos, 16)
    if layout.gz:
        # A plausible gzip header is enough: a damaged member still marks where its
        # record began, and stray magic bytes in deflate data are one in 2**27.
        return len(head) >= 10 and not head[3] & 0xE0
    return _VERSION.match(head) is not None


def diagnose(fh: BinaryIO, pos: int, layout: Layout, error: object) -> str:
    """Quarantine reason for the damaged record at ``pos``; FastWARC's error as the fallback."""
    if layout.gz:
        magic = _read(fh, pos, 3)
        if magic != GZIP_MAGIC:
            if GZIP_MAGIC.startswith(magic) and pos + len(magic) >= layout.size:
                return "truncated_record: the file ends inside a gzip header"
            return "invalid_warc_record: bytes that are no gzip member"
        member = scan_member(fh, pos, HEAD_LIMIT)
        if member.error:
            return f"corrupt_gzip: {member.error}"
        if member.end is None and not member.over:
            return "truncated_record: the file ends inside the gzip member"
        head = member.head
    else:
        head = _read(fh, pos, HEAD_LIMIT)
    parsed = _parse(head, layout.lf)
    if isinstance(parsed, str):
        return f"invalid_warc_record: {parsed}"
    if layout.split and record_end(fh, pos, layout) is None:
        if (not layout.gz and pos + sum(parsed) > layout.size
                and next_record_start(fh, pos + 1, layout) is None):
            return "truncated_record: the file ends inside the record"
        return f"content_length_mismatch: Content-Length {parsed[1]} does not end the record"
    return f"invalid_warc_record: {error}"


def peek(fh: BinaryIO, pos: int, layout: Layout, n: int = 512) -> bytes:
    """The first bytes of the record at ``pos``, inflated when it is a gzip member."""
    if layout.gz:
        return scan_member(fh, pos, n).head[:n]
    return _read(fh, pos, n)
