"""etl.dedup.html: the dedup page shows the counts and examples, and escapes crawled text."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from etl.dedup.html import SNIPPET, render_dedup

HOSTILE = '<script>alert(1)</script>"onload=x'
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}


class Page(HTMLParser):
    """Checks tags balance and keeps each element's attributes and text, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.elements: list[dict[str, Any]] = []
        self.open: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        self.stack.append(tag)
        self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element["text"] += data

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.elements if e["tag"] == tag
                and (cls is None or cls in (e["attrs"].get("class") or "").split())]


def page(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "batch": "dedup-2024",
        "summary": {"new_documents": 1234, "kept": 1200, "gold_documents": 56789},
        "removed": {"exact": 30, "near": 4},
        "splits": {"train": 50000, "val": 3000, "test": 3789},
        "histogram": {"2": 20, "3": 5, "4-5": 0, "101+": 1},
        "examples": [{"cluster_id": "c" * 40, "size": 7, "match": "near",
                      "url": f"http://evil.example/{HOSTILE}", "text": HOSTILE * 3,
                      "survivor_url": None, "survivor_text": "kept text " * 100}],
    }
    return render_dedup(**{**args, **overrides})


def parse(html: str) -> Page:
    parsed = Page()
    parsed.feed(html)
    parsed.close()
    assert parsed.errors == []
    assert parsed.stack == []
    return parsed


def test_crawled_text_and_urls_are_escaped() -> None:
    html = page()
    assert "<script" not in html.lower()  # the template has none of its own either
    assert '"onload' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;onload=x" in html
    removed = parse(html).find("div", "removed")[0]
    # The parser unescapes: a reader sees exactly the crawled characters.
    assert removed["text"].count("<script>alert(1)</script>") == 4  # URL once, text three times


def test_counts_and_histogram_appear() -> None:
    parsed = parse(page())
    facts = [e["text"] for e in parsed.find("dd")]
    assert facts == ["1,234", "1,200", "34 (exact 30, near 4)", "56,789",
                     "train 50,000, val 3,000, test 3,789"]
    assert "dedup-2024" in parsed.find("p")[0]["text"]
    rows = [[c["text"] for c in cells] for cells in _rows(parsed, "histogram")]
    assert rows == [["2", "20", ""], ["3", "5", ""], ["4-5", "0", ""], ["101+", "1", ""]]
    widths = [e["attrs"]["style"] for e in parsed.find("div", "bar")]
    assert widths == ["width: 100.0%", "width: 25.0%", "width: 0.0%", "width: 5.0%"]


def _rows(parsed: Page, table_class: str) -> list[list[dict[str, Any]]]:
    """The cells of each data row of the table with ``table_class``, in order."""
    table = parsed.find("table", table_class)[0]
    after = parsed.elements[parsed.elements.index(table):]
    rows: list[list[dict[str, Any]]] = []
    for e in after[1:]:
        if e["tag"] == "table":
            break
        if e["tag"] == "tr":
            rows.append([])
        elif e["tag"] == "td":
            rows[-1].append(e)
    return [r for r in rows if r]


def test_example_sides_urls_and_cut() -> None:
    parsed = parse(page())
    heading = parsed.find("h3")[0]["text"]
    assert "cccccccccccc: 7 documents" in heading and "(near copy shown)" in heading
    assert parsed.find("code")[1]["attrs"]["title"] == "c" * 40
    urls = [e["text"] for e in parsed.find("span", "url")]
    assert urls == ["", f"http://evil.example/{HOSTILE}"]  # None shows as nothing
    kept, removed = (e["text"] for e in parsed.find("pre"))
    assert kept == ("kept text " * 100)[:SNIPPET]
    assert removed == HOSTILE * 3  # short texts are whole
    notes = [e["text"] for e in parsed.find("div", "muted")]
    assert notes == ["first 600 of 1,000 characters shown"]


def test_empty_run() -> None:
    html = page(removed={}, splits={}, histogram={}, examples=[])
    parsed = parse(html)
    assert [e["text"] for e in parsed.find("dd")][2:] == ["0", "56,789", "none"]
    assert "No clusters with copies yet." in html
    assert "No duplicates found." in html
    assert parsed.find("table") == []


def test_missing_summary_count_is_an_error() -> None:
    with pytest.raises(KeyError, match="gold_documents"):
        page(summary={"new_documents": 1, "kept": 1})
