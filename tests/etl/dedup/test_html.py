"""etl.dedup.html: the dedup page shows counts in tables, the size chart, and diffed pairs,
and escapes crawled text everywhere, diff marks included."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from etl.dedup.html import CONTEXT, DIFF_WORDS, SNIPPET_WORDS, render_dedup, word_diff
from etl.dedup.minhash import exact_jaccard, shingles

HOSTILE = '<script>alert(1)</script>"onload=x'
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}
KEPT = " ".join(f"k{i}" for i in range(300))
# The removed copy: word 50 replaced, one word inserted after word 100, words 200-201 dropped.
REMOVED = " ".join([*(f"k{i}" for i in range(50)), "CHANGED", *(f"k{i}" for i in range(51, 101)),
                    "EXTRA", *(f"k{i}" for i in range(101, 200)),
                    *(f"k{i}" for i in range(202, 300))])


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
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "children": []}
        if self.open:
            self.open[-1]["children"].append(element)
        self.elements.append(element)
        self.stack.append(tag)
        self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element["text"] += data

    def find(self, tag: str, cls: str | None = None,
             within: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        pool = _descendants(within) if within else self.elements
        return [e for e in pool if e["tag"] == tag
                and (cls is None or cls in (e["attrs"].get("class") or "").split())]


def _descendants(element: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for child in element["children"]:
        out += [child, *_descendants(child)]
    return out


def example(**overrides: Any) -> dict[str, Any]:
    return {"cluster_id": "c" * 40, "size": 7, "match": "near", "url": None, "text": REMOVED,
            "survivor_url": "https://kept.example/", "survivor_text": KEPT, **overrides}


def page(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "batch": "dedup-2024", "ngram": 5,
        "summary": {"new_documents": 1234, "kept": 1200, "gold_documents": 56789},
        "removed": {"near": 4, "exact": 30},
        "gold_removed": {"exact": 300, "near": 40},
        "splits": {"test": 3789, "train": 50000, "val": 3000},
        "histogram": {"2": 20, "3": 5, "4-5": 0, "101+": 1},
        "examples": [example()],
    }
    return render_dedup(**{**args, **overrides})


def parse(html: str) -> Page:
    parsed = Page()
    parsed.feed(html)
    parsed.close()
    assert parsed.errors == []
    assert parsed.stack == []
    return parsed


def table(parsed: Page, cls: str) -> list[list[str]]:
    """The text of each data cell of the table with class ``cls``, row by row."""
    rows = parsed.find("tr", within=parsed.find("table", cls)[0])
    return [[c["text"] for c in row["children"] if c["tag"] == "td"] for row in rows
            if any(c["tag"] == "td" for c in row["children"])]


def test_counts_are_tables_not_dicts() -> None:
    html = page()
    assert "{'" not in html and "{&#39;" not in html
    parsed = parse(html)
    assert table(parsed, "this-run") == [
        ["New documents", "1,234", "–"], ["Kept", "1,200", "97.2%"],
        ["Removed: exact", "30", "2.4%"], ["Removed: near", "4", "0.3%"],
        ["Removed: total", "34", "2.8%"]]
    assert table(parsed, "splits") == [
        ["train", "50,000", "88.0%"], ["val", "3,000", "5.3%"], ["test", "3,789", "6.7%"],
        ["total", "56,789", "100.0%"]]
    assert table(parsed, "gold-removed") == [
        ["exact", "300", "88.2%"], ["near", "40", "11.8%"], ["total", "340", "100.0%"]]
    assert "dedup-2024" in parsed.find("p")[0]["text"]


def test_histogram_is_a_chart_and_a_table() -> None:
    parsed = parse(page())
    svg = parsed.find("svg")
    assert len(svg) == 1
    bars = parsed.find("rect", within=svg[0])
    assert len(bars) == 4
    widths = [float(b["attrs"]["width"]) for b in bars]
    assert widths[0] == max(widths) and widths[1] == pytest.approx(widths[0] / 4)
    labels = [t["text"] for t in parsed.find("text", within=svg[0])]
    assert labels[::2] == ["2", "3", "4-5", "101+"]
    assert table(parsed, "histogram") == [["2", "20", "76.9%"], ["3", "5", "19.2%"],
                                          ["4-5", "0", "0.0%"], ["101+", "1", "3.8%"]]


def test_pair_shows_exact_jaccard_and_match_kind() -> None:
    parsed = parse(page())
    want = exact_jaccard(shingles(KEPT, 5), shingles(REMOVED, 5))
    assert 0 < want < 1
    jaccard = parsed.find("span", "jaccard")[0]
    assert float(jaccard["attrs"]["data-jaccard"]) == want
    assert jaccard["text"] == f"Jaccard {want:.2f}"
    assert parsed.find("span", "match")[0]["text"] == "near match"
    # The config's ngram is the one used: a different size gives a different measure.
    other = parse(page(ngram=2)).find("span", "jaccard")[0]["attrs"]["data-jaccard"]
    assert float(other) == exact_jaccard(shingles(KEPT, 2), shingles(REMOVED, 2)) != want


def test_differing_words_are_marked_on_their_own_side() -> None:
    parsed = parse(page())
    kept, removed = parsed.find("div", "copy")
    assert "kept" in kept["attrs"]["class"] and "removed" in removed["attrs"]["class"]
    # Kept lacks CHANGED, EXTRA; removed lacks k50, k200, k201: 5 words in all.
    assert parsed.find("span", "differ")[0]["text"] == "5 words differ"
    # The window starts CONTEXT words before the first difference (word 50).
    kept_marks = [e["text"] for e in parsed.find("del", "only-kept", within=kept)]
    removed_marks = [e["text"] for e in parsed.find("ins", "only-removed", within=removed)]
    first = 50 - CONTEXT
    shown = range(first, first + SNIPPET_WORDS)
    assert kept_marks == [f"k{i}" for i in (50, 200, 201) if i in shown]
    assert removed_marks == ["CHANGED", "EXTRA"]
    assert parsed.find("ins", within=kept) == [] and parsed.find("del", within=removed) == []
    words = parsed.find("p", "words", within=kept)[0]["text"].split()
    assert words[0] == "…" and words[1] == f"k{first}" and words[-1] == "…"
    assert len(words) == SNIPPET_WORDS + 2
    notes = [e["text"] for e in parsed.find("div", "muted")]
    assert notes == [f"3 of 300 words only in this copy; words {first + 1}–{first + SNIPPET_WORDS} shown",
                     f"2 of 299 words only in this copy; words {first + 1}–{first + SNIPPET_WORDS} shown"]


def test_equal_words_are_not_marked() -> None:
    parsed = parse(page(examples=[example(text="same words here", survivor_text="same  words\nhere",
                                          match="exact")]))
    pair = parsed.find("section", "cluster")[0]
    assert parsed.find("del", within=pair) == [] and parsed.find("ins", within=pair) == []
    assert parsed.find("span", "differ")[0]["text"] == "0 words differ"
    assert [e["text"] for e in parsed.find("p", "words")] == ["same words here"] * 2
    assert parsed.find("span", "jaccard")[0]["text"] == "Jaccard 1.00"


def test_crawled_text_and_urls_are_escaped_inside_diff_marks() -> None:
    hostile = f"intro words {HOSTILE} outro words"
    html = page(examples=[example(url=f"http://evil.example/{HOSTILE}", text=hostile,
                                  survivor_text="intro words outro words", survivor_url=HOSTILE)])
    assert "<script" not in html.lower()  # the template has none of its own either
    assert '"onload' not in html
    assert '<ins class="only-removed">&lt;script&gt;alert(1)&lt;/script&gt;&#34;onload=x</ins>' in html
    parsed = parse(html)
    # The parser unescapes: a reader sees exactly the crawled characters.
    pair = parsed.find("section", "cluster")[0]
    assert [e["text"] for e in parsed.find("ins", "only-removed", within=pair)] == [HOSTILE]
    assert [e["text"] for e in parsed.find("span", "url")] == [
        HOSTILE, f"http://evil.example/{HOSTILE}"]


def test_empty_run() -> None:
    html = page(summary={"new_documents": 0, "kept": 0, "gold_documents": 0}, removed={},
                gold_removed={}, splits={}, histogram={}, examples=[])
    parsed = parse(html)
    assert "No clusters with copies yet." in html and "No duplicates found." in html
    assert parsed.find("svg") == [] and parsed.find("table", "histogram") == []
    assert table(parsed, "this-run")[-1] == ["Removed: total", "0", "–"]
    assert table(parsed, "splits")[-1] == ["total", "0", "–"]
    assert "{'" not in html


def test_missing_summary_count_is_an_error() -> None:
    with pytest.raises(KeyError, match="gold_documents"):
        page(summary={"new_documents": 1, "kept": 1})


def test_long_differing_middle_is_compared_in_part() -> None:
    a = ["A", *(f"w{i}" for i in range(DIFF_WORDS + 50)), "A"]
    b = ["B", *(f"w{i}" for i in range(DIFF_WORDS + 50)), "B"]
    only_a, only_b, partial = word_diff(a, b)
    assert partial and sum(only_a) == 1 and sum(only_b) == 1  # the end was not compared
    assert only_a[0] and not any(only_a[1:])
    parsed = parse(page(examples=[example(text=" ".join(b), survivor_text=" ".join(a))]))
    assert parsed.find("span", "differ")[0]["text"] == "at least 2 words differ"


def test_word_diff_matches_around_common_start_and_end() -> None:
    assert word_diff([], []) == ([], [], False)
    assert word_diff(["a"], []) == ([True], [], False)
    assert word_diff(["x", "a", "b"], ["a", "b"]) == ([True, False, False], [False, False], False)
    assert word_diff(["a", "b", "a"], ["a", "b", "a", "a"])[1].count(True) == 1
