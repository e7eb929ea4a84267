"""The ingest's books: per-file accounts from the readers' rows, and the check that stops
the stage when a record went missing."""

from __future__ import annotations

import os

from reader_helpers import read

from etl.ingest.account import accounts, per_file, row_sums, shown, totals, unbalanced


def test_reader_rows_balance_per_file(tmp_path):
    data = b'{"id": 1, "text": "a"}\n{broken\n{"id": 2, "text": "b"}\n'
    books = accounts(row_sums(read(tmp_path, "x.jsonl", data)))
    (book,) = books.values()
    assert (book["read"], book["documents"], dict(book["quarantined"])) == (3, 2, {
        "invalid_json": 1})
    assert unbalanced(books) == []


def test_a_lost_record_unbalances_its_file_only(tmp_path):
    rows = read(tmp_path, "x.jsonl", b'{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n')
    rows += read(tmp_path, "y.jsonl", b'{"id": 3, "text": "c"}\n')
    dropped = next(i for i, r in enumerate(rows) if r["kind"] == "doc" and "x.jsonl" in
                   r["origin"])
    lost = rows[:dropped] + rows[dropped + 1:]  # one document vanished on the way
    books = accounts(row_sums(lost))
    assert [os.path.basename(f) for f in unbalanced(books)] == ["x.jsonl"]


def test_totals_and_the_report_view(tmp_path):
    rows = read(tmp_path, "x.jsonl", b'{"id": 1, "text": "a"}\n\n{broken\n')
    rows += read(tmp_path, "empty.jsonl", b"")
    books = accounts(row_sums(rows))
    total = totals(books)
    assert total["read"] == total["documents"] + sum(total["skipped"].values()) + sum(
        total["quarantined"].values())
    assert total["skipped"]["empty_file"] == 1
    view = per_file(books)
    assert all(v["read"] == v["documents"] + v["skipped"] + v["quarantined"]
               for v in view.values())


def test_shown_paths_carry_no_machine_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shown(f"file:{tmp_path}/data/a.warc.gz") == "data/a.warc.gz"
    assert shown(f"file://{tmp_path}/data/a.warc.gz") == "data/a.warc.gz"
    assert shown("hdfs://nn/crawl/a.warc.gz") == "hdfs://nn/crawl/a.warc.gz"
    assert shown("/elsewhere/a.warc.gz") == "/elsewhere/a.warc.gz"
