"""Tests for the sample crawl generator: bytes, offsets and planted truth read back independently.

Every check reads the written files with a second implementation (warcio, fastwarc, zlib,
gzip/zstandard, pyarrow) rather than trusting the generator, so the ingest can rely on
``truth.jsonl``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import html
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import zlib
from collections import Counter
from pathlib import Path

import pytest

from etl.sample.pages import SPAM_KEYWORDS, jaccard, luhn_ok, shingles
from etl.sample.stage import generate, plan_corrupt, run, shard_sizes
from llmlake.config import SampleConfig

SMALL = {"docs": 300, "docs_per_shard": 60, "seed": 11}


def _read_truth(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "truth.jsonl").read_text("utf-8").splitlines()]


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}


def _member(data: bytes, offset: int) -> tuple[bytes, bool]:
    """Decompress the single gzip member at ``offset``; also say whether it ended cleanly."""
    d = zlib.decompressobj(31)
    return d.decompress(memoryview(data)[offset:]), d.eof


def _warcio_record(data: bytes, offset: int):
    from warcio.archiveiterator import ArchiveIterator

    raw, eof = _member(data, offset)
    assert eof
    rec = next(iter(ArchiveIterator(io.BytesIO(raw))))
    return rec, rec.content_stream().read()


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> tuple[Path, dict, list[dict]]:
    out = tmp_path_factory.mktemp("sample") / "crawl"
    summary = generate(SampleConfig(docs=2000, seed=7, docs_per_shard=400), out)
    return out, summary, _read_truth(out)


def _docs(truth: list[dict], fmt: str | None = None) -> list[dict]:
    return [t for t in truth if t["kind"] == "document" and fmt in (None, t["format"])]


# -- determinism and layout ---------------------------------------------------------------
def test_same_seed_same_bytes_and_rerun_cleans(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    generate(SampleConfig(**{**SMALL, "docs_per_shard": 20}), a)  # more shards than below
    before = set(_files(a))
    generate(SampleConfig(**SMALL), a)
    generate(SampleConfig(**SMALL), b)
    fa, fb = _files(a), _files(b)
    assert len(before) > len(fa) and fa.keys() == fb.keys()  # the rerun removed stale shards
    assert all(fa[k] == fb[k] for k in fa), [k for k in fa if fa[k] != fb[k]]


def test_other_seed_other_bytes(tmp_path: Path) -> None:
    generate(SampleConfig(**SMALL), tmp_path / "a")
    generate(SampleConfig(**{**SMALL, "seed": 12}), tmp_path / "b")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert all(a[k] != b[k] for k in a.keys() & b.keys())


def test_layout_and_summary(crawl) -> None:
    out, summary, truth = crawl
    names = set(_files(out))
    assert {"warc/crawl-00000.warc.gz", "wet/crawl-00000.warc.wet.gz",
            "jsonl/part-00000.jsonl.gz", "jsonl/part-00001.jsonl.zst", "jsonl/part-00002.jsonl",
            "parquet/part-00000.parquet", "truth.jsonl"} <= names
    assert summary["formats"] == {"jsonl": 300, "parquet": 200, "warc": 1200, "wet": 300}
    docs = _docs(truth)
    assert len(docs) == 2000 == sum(summary["formats"].values())
    assert Counter(t["file"] for t in docs)["warc/crawl-00000.warc.gz"] <= 400
    urls = [t["url"] for t in truth]
    assert len(urls) == len(set(urls))
    assert summary["corrupt"] == {"bad_json_line": 2, "bad_warc_header": 2, "truncated_gzip": 2}


def test_shard_and_corrupt_plans() -> None:
    assert shard_sizes(10, 4, 1) == [4, 3, 3]
    assert shard_sizes(5, 100, 3) == [2, 2, 1]
    assert shard_sizes(0, 100, 3) == []
    plants, truncate, short = plan_corrupt(3, {"warc": [10, 10], "jsonl": [4]})
    assert truncate == {0, 1} and short["truncated_gzip"] == 1
    assert sum(len(v) for v in plants.values()) == 6
    assert all(1 <= after <= 10 for v in plants.values() for after, _ in v)


# -- formats read back ----------------------------------------------------------------------
def test_warc_offsets_point_at_the_records(crawl) -> None:
    out, _, truth = crawl
    blobs = {}
    for t in truth:
        if t["format"] != "warc" or t["kind"] == "corrupt":
            continue
        data = blobs.setdefault(t["file"], (out / t["file"]).read_bytes())
        rec, payload = _warcio_record(data, t["offset"])
        assert rec.rec_type == "response"
        assert rec.rec_headers.get_header("WARC-Target-URI") == t["url"]
        status = int(rec.http_headers.get_statuscode())
        ctype = rec.http_headers.get_header("Content-Type")
        if t["kind"] == "skip":
            assert (status, ctype) == (t["status"], t["content_type"])
            assert status != 200 or not ctype.startswith("text/")
            continue
        assert status == 200 and ctype.startswith("text/html")
        page = payload.decode(t["charset"])
        assert all(html.escape(p, False) in page for p in t["text"].split("\n"))
        _check_charset(t, ctype, page, payload)


def _check_charset(t: dict, ctype: str, page: str, payload: bytes) -> None:
    if "missing_charset" in t["defects"]:
        assert "charset" not in ctype and "charset" not in page
    else:
        assert "charset=utf-8" in ctype and '<meta charset="utf-8">' in page
    if "wrong_charset" in t["defects"]:
        assert t["charset"] == "cp1252"
        with pytest.raises(UnicodeDecodeError):
            payload.decode("utf-8")
    if "broken_html" in t["defects"]:
        assert "</html>" not in page
    else:
        assert page.rstrip().endswith("</html>")


def test_fastwarc_reads_clean_shards_and_stops_at_bad_headers(crawl) -> None:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    out, _, truth = crawl
    for path in sorted((out / "warc").glob("*.warc.gz")):
        rel = f"warc/{path.name}"
        want = {t["offset"] for t in truth if t["file"] == rel and t["kind"] != "corrupt"}
        bad = [t["offset"] for t in truth if t["file"] == rel and t.get("corrupt") ==
               "bad_warc_header"]
        got, error = [], None
        try:
            for rec in ArchiveIterator(str(path), parse_http=False):
                if rec.record_type == WarcRecordType.response:
                    got.append(rec.stream_pos)
        except OSError as exc:
            error = exc
        if bad:
            assert error is not None and max(got) <= min(bad)
            assert set(got) - set(bad) == {o for o in want if o < min(bad)}
        else:
            assert error is None and want <= set(got)


def test_wet_conversion_records(crawl) -> None:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    out, _, truth = crawl
    docs, blobs = _docs(truth, "wet"), {}
    for t in docs:
        data = blobs.setdefault(t["file"], (out / t["file"]).read_bytes())
        rec, body = _warcio_record(data, t["offset"])
        assert rec.rec_type == "conversion"
        assert rec.rec_headers.get_header("Content-Type") == "text/plain"
        assert rec.rec_headers.get_header("WARC-Target-URI") == t["url"]
        assert body.decode("utf-8") == t["text"]
    for path in (out / "wet").glob("*.gz"):
        offsets = {r.stream_pos for r in ArchiveIterator(str(path), parse_http=False)
                   if r.record_type == WarcRecordType.conversion}
        assert offsets == {t["offset"] for t in docs if t["file"] == f"wet/{path.name}"}


def _jsonl_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    elif path.name.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    # Not splitlines(): it would also split on U+2028 and friends inside JSON strings.
    return data.decode("utf-8").removesuffix("\n").split("\n")


def test_jsonl_lines_and_bad_lines(crawl) -> None:
    out, _, truth = crawl
    for path in sorted((out / "jsonl").iterdir()):
        rel, lines = f"jsonl/{path.name}", _jsonl_lines(path)
        docs = {t["offset"]: t for t in _docs(truth, "jsonl") if t["file"] == rel}
        bad = {t["offset"] for t in truth if t["file"] == rel and t["kind"] == "corrupt"}
        assert len(lines) == len(docs) + len(bad)
        for n, line in enumerate(lines):
            if n in bad:
                with pytest.raises(json.JSONDecodeError):
                    json.loads(line)
                continue
            obj, t = json.loads(line), docs[n]
            assert (obj["id"], obj["url"], obj["text"]) == (t["id"], t["url"], t["text"])
            assert obj["source"] == "sample-jsonl" and obj["fetched_at"].endswith("Z")


def test_parquet_rows(crawl) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out, _, truth = crawl
    for path in (out / "parquet").iterdir():
        table = pq.ParquetFile(path).read()  # read_table would import pandas (slow)
        assert table.schema.field("fetched_at").type == pa.timestamp("us", tz="UTC")
        rows = table.to_pylist()
        docs = [t for t in _docs(truth, "parquet") if t["file"] == f"parquet/{path.name}"]
        assert len(rows) == len(docs)
        for t in docs:
            row = rows[t["offset"]]
            assert (row["id"], row["url"], row["text"]) == (t["id"], t["url"], t["text"])


def test_truncated_member_is_last_and_incomplete(crawl) -> None:
    out, _, truth = crawl
    cut = [t for t in truth if t["kind"] == "corrupt" and t["corrupt"] == "truncated_gzip"]
    assert len({t["file"] for t in cut}) == len(cut) == 2
    for t in cut:
        data = (out / t["file"]).read_bytes()
        d = zlib.decompressobj(31)
        raw = d.decompress(data[t["offset"]:])
        # It runs to the end of the file without finishing: a cut-off last member.
        assert not d.eof and not d.unused_data and raw.startswith(b"WARC/1.0")
        assert t["url"].encode() in raw
        before = max(x["offset"] for x in truth if x["file"] == t["file"] and x is not t)
        assert before < t["offset"] and _member(data, before)[1]


def test_bad_header_record_is_its_own_member(crawl) -> None:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    out, _, truth = crawl
    bad = [t for t in truth if t.get("corrupt") == "bad_warc_header"]
    assert len(bad) == 2
    for t in bad:
        data = (out / t["file"]).read_bytes()
        raw, eof = _member(data, t["offset"])
        assert eof and t["url"].encode() in raw
        first = raw.split(b"\r\n", 1)[0]
        assert first != b"WARC/1.0" or b"Content-Length: abc" in raw
        later = [x for x in truth if x["file"] == t["file"] and x["offset"] > t["offset"]
                 and x["kind"] == "document"]
        assert later, "well-formed records must follow the bad one"
        rec, _ = _warcio_record(data, later[0]["offset"])
        assert rec.rec_headers.get_header("WARC-Target-URI") == later[0]["url"]
        with pytest.raises(ArchiveLoadFailed):
            for rec in ArchiveIterator(io.BytesIO(data[t["offset"]:])):
                rec.content_stream().read()


# -- planted content --------------------------------------------------------------------------
def test_rates_within_tolerance(crawl) -> None:
    _, summary, truth = crawl
    cfg, n = SampleConfig(), 2000
    defects = Counter(d for t in _docs(truth) for d in t["defects"])
    charset = defects["wrong_charset"] + defects["missing_charset"]
    observed = {**{k: defects[k] for k in ("spam", "repeated", "short", "foreign", "pii",
                                           "broken_html")},
                "bad_charset": charset, "exact_dup": summary["dups"]["exact"],
                "near_dup": summary["dups"]["near"]}
    for name, count in observed.items():
        rate = getattr(cfg, f"{name}_rate")
        tol = 4 * (rate * (1 - rate) / n) ** 0.5 + 0.005
        assert abs(count / n - rate) <= tol, (name, count / n, rate)
    langs = Counter(t["lang"] for t in _docs(truth))
    assert len(set(langs) - {"en"}) >= 4 and langs["en"] > 1700
    skips = Counter(t["reason"] for t in truth if t["kind"] == "skip")
    assert 0.01 < skips["http_status"] / 1200 < 0.06 and 0.01 < skips["content_type"] / 1200 < 0.06
    for t in _docs(truth):
        content = set(t["defects"]) & {"spam", "repeated", "short", "foreign"}
        assert len(content) <= 1
        assert t["format"] == "warc" or not set(t["defects"]) & {"broken_html", "wrong_charset",
                                                                   "missing_charset"}


def test_defect_shapes(crawl) -> None:
    _, _, truth = crawl
    for t in _docs(truth):
        lines, words = t["text"].split("\n"), t["text"].split()
        if "spam" in t["defects"]:
            assert max(t["text"].lower().count(k) for k in SPAM_KEYWORDS) >= 12
        elif "repeated" in t["defects"]:
            assert len(lines) >= 16 and len(set(lines)) <= 4
        elif "short" in t["defects"]:
            assert len(words) < 20
        elif "foreign" not in t["defects"]:
            assert len(words) >= 40 and t["lang"] == "en"


def test_pii_spans_and_lookalikes(crawl) -> None:
    _, _, truth = crawl
    seen = Counter()
    for t in _docs(truth):
        if not t["pii"]:
            assert "@" not in t["text"] and not _luhn_runs(t["text"])
            continue
        assert "pii" in t["defects"]
        for item in t["pii"]:
            assert t["text"][item["start"]:item["end"]] == item["value"]
            seen[item["type"]] += 1
            if item["type"] == "card":
                digits = re.sub(r"\D", "", item["value"])
                assert len(digits) == 16 and luhn_ok(digits)
            if item["type"] == "iban":  # ISO 13616: the rearranged number is 1 mod 97
                iban = item["value"].replace(" ", "")
                assert int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1
            if item["type"] == "ssn":
                area, group, serial = map(int, item["value"].split("-"))
                assert 0 < area < 900 and area != 666 and group > 0 and serial > 0
    assert set(seen) == {"email", "phone", "ipv4", "card", "iban", "ssn"}
    phones = [p["value"] for t in _docs(truth) for p in t["pii"] if p["type"] == "phone"]
    assert any(p.startswith("+44") for p in phones) and any("(" in p for p in phones)
    assert any("." in p for p in phones) and any(re.fullmatch(r"\d{3}-\d{3}-\d{4}", p)
                                                 for p in phones)
    plain = " ".join(t["text"] for t in _docs(truth) if not t["pii"])
    assert re.search(r"\$\d+\.\d\d", plain) and re.search(r"\b\d\.\d+\.\d\b", plain)
    assert re.search(r"\b(19|20)\d\d\b", plain)


def _luhn_runs(text: str) -> list[str]:
    runs = re.findall(r"\b\d(?:[ -]?\d){12,18}\b", text)
    return [r for r in runs if luhn_ok(re.sub(r"\D", "", r))]


def test_duplicates(crawl) -> None:
    _, _, truth = crawl
    by_url = {t["url"]: t for t in _docs(truth)}
    kinds = Counter()
    for t in _docs(truth):
        if not t["dup_kind"]:
            assert t["dup_of"] is None
            continue
        orig = by_url[t["dup_of"]]
        assert orig["dup_kind"] is None and t["cluster"] == orig["cluster"]
        kinds[t["dup_kind"]] += 1
        if t["dup_kind"] == "exact":
            assert t["text"] == orig["text"]
        else:
            assert t["text"] != orig["text"]
            assert jaccard(shingles(t["text"]), shingles(orig["text"])) >= 0.8
    assert kinds["exact"] > 50 and kinds["near"] > 50


def test_english_vocabulary_is_rich(crawl) -> None:
    _, _, truth = crawl
    texts = [t["text"] for t in _docs(truth) if not t["defects"] and not t["dup_kind"]][:500]
    words = {w.lower() for text in texts for w in re.findall(r"[A-Za-z]+", text)}
    assert len(texts) == 500 and len(words) >= 3000
    sentences = [s for text in texts for s in re.split(r"(?<=[.?!])\s+", text) if s]
    assert len(set(sentences)) / len(sentences) > 0.95
    assert sum(len(text.split()) for text in texts) / len(texts) > 250


# -- entry points and memory ------------------------------------------------------------------
def test_run_uses_params(make_params, tmp_path: Path) -> None:
    params = make_params(sample={"out": str(tmp_path / "s"), "docs": 60, "seed": 3})
    summary = run(params)
    assert summary["docs"] == 60 and (tmp_path / "s" / "truth.jsonl").exists()
    digest = hashlib.sha256((tmp_path / "s" / "truth.jsonl").read_bytes()).hexdigest()
    run(params)
    assert hashlib.sha256((tmp_path / "s" / "truth.jsonl").read_bytes()).hexdigest() == digest


@pytest.mark.slow
def test_memory_stays_bounded(tmp_path: Path) -> None:
    """A 20k-document run must not grow with the document count (streaming shards)."""
    script = textwrap.dedent(f"""
        import resource, sys
        from pathlib import Path
        import pyarrow as pa
        pa.array([1])
        from etl.sample import pages as pg
        from etl.sample.stage import generate
        from etl.sample.text import English
        from llmlake.config import SampleConfig
        for lang in ("de", "fr", "es", "it", "pt", "nl"):
            pg.foreign_lexicon(lang)
        English(5)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        generate(SampleConfig(docs=20000, seed=5), Path({str(tmp_path / "big")!r}))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((peak - base) // 1024)
    """)
    env = {**os.environ, "LLMLAKE_LOG_LEVEL": "WARNING"}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, cwd=Path(__file__).parents[3], timeout=240, check=True)
    growth_mb = int(res.stdout.strip().splitlines()[-1])
    assert growth_mb < 80, growth_mb


def test_another_batch_has_its_own_topic_mix_and_length(tmp_path: Path) -> None:
    """The knobs the drift tests and the demo's incoming batch use: a topic subset, longer
    articles; the defaults leave the crawl as it was (the byte-for-byte tests above)."""
    base = SampleConfig(docs=80, seed=9, docs_per_shard=40, exact_dup_rate=0.0,
                        near_dup_rate=0.0)
    generate(base, tmp_path / "base")
    generate(dataclasses.replace(base, topics=["cars", "finance"], length=3.0),
             tmp_path / "other")
    base_docs = [d for d in _read_truth(tmp_path / "base") if d["kind"] == "document"]
    other_docs = [d for d in _read_truth(tmp_path / "other") if d["kind"] == "document"]
    assert len({d["topic"] for d in base_docs}) > 8
    assert {d["topic"] for d in other_docs} == {"cars", "finance"}
    articles = [d for d in other_docs if not d["defects"] and d["lang"] == "en"]
    plain = [d for d in base_docs if not d["defects"] and d["lang"] == "en"]
    mean = lambda docs: sum(len(d["text"]) for d in docs) / len(docs)  # noqa: E731
    assert mean(articles) > 2 * mean(plain)
    with pytest.raises(ValueError, match=r"^sample\.topics: unknown 'cooking!'"):
        generate(dataclasses.replace(base, topics=["cooking!"]), tmp_path / "bad")


def test_the_stage_writes_the_incoming_batch_beside_the_sample(tmp_path: Path) -> None:
    from lake_helpers import params_at

    params = params_at(tmp_path, sample={
        "out": str(tmp_path / "raw"), "docs": 40, "docs_per_shard": 40,
        "incoming": str(tmp_path / "incoming"), "incoming_docs": 30,
        "incoming_topics": ["pets"]})
    report = run(params)
    assert report["incoming"]["docs"] == 30
    topics = {d["topic"] for d in _read_truth(tmp_path / "incoming") if d["kind"] == "document"}
    assert topics == {"pets"}


def test_the_stage_writes_the_instruction_set_with_its_planted_bad_lines(tmp_path: Path) -> None:
    from lake_helpers import params_at

    from etl.sample.instructions import QUESTION

    sft = tmp_path / "sft" / "sft.jsonl"
    params = params_at(tmp_path, sample={
        "out": str(tmp_path / "raw"), "docs": 20, "docs_per_shard": 20, "topics": ["pets", "cars"],
        "sft": str(sft), "sft_examples": 12, "sft_bad": 4})
    assert run(params)["sft"] == {"examples": 12, "malformed": 4}
    first = sft.read_bytes()
    good, bad = [], 0
    for line in first.decode().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        answer = row.get("response") or next(
            (m["content"] for m in row.get("messages", []) if m["role"] == "assistant"), None)
        if not isinstance(answer, str):
            bad += 1
            continue
        good.append((row, answer))
    assert (len(good), bad) == (12, 4)
    assert {answer for _, answer in good} <= {"pets", "cars"}
    assert sum("messages" in row for row, _ in good) == 3  # every fourth row is a chat
    assert all(row["prompt"].startswith(QUESTION) for row, _ in good if "prompt" in row)
    run(params)
    assert sft.read_bytes() == first  # same seed, same bytes
