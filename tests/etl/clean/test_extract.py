"""HTML main-content extraction (etl.clean.extract)."""

from __future__ import annotations

import pytest

from etl.clean.extract import extract, media_type
from etl.clean.normalize import normalize

PARAGRAPHS = [
    "Tomatoes need plenty of sun and regular watering to grow well in a garden bed.",
    "Plant them in spring after the last frost, and give each plant room to spread out.",
    "Feed them with compost every few weeks, and pick the fruit when it is fully red.",
]

PAGE = f"""<!doctype html>
<html><head><title>Tomato guide</title>
<style>body {{ color: red; }} .nav {{ display: flex; }}</style>
<script>window.trackingId = "UA-1234"; console.log("tracking pixel");</script>
</head><body>
<div class="cc-window cookie-consent"><p>This website uses cookies to ensure you get the best
experience on our website.</p><a>Got it!</a></div>
<div id="gdpr-notice">We value your privacy. Manage your consent preferences.</div>
<header><div class="logo">GardenSite</div></header>
<nav><ul><li><a href="/">Home</a></li><li><a href="/blog">Blog</a></li>
<li><a href="/shop">Shop</a></li></ul></nav>
<main><article>
<h1>How to grow tomatoes</h1>
<p>{PARAGRAPHS[0]}</p>
<p>{PARAGRAPHS[1]}</p>
<p>{PARAGRAPHS[2]}</p>
</article></main>
<aside class="sidebar"><h3>Related</h3><a href="/p">Ten tips for peppers</a></aside>
<footer><p>Copyright 2024 GardenSite Ltd. All rights reserved.</p>
<a href="/privacy">Privacy policy</a></footer>
<noscript>Please enable JavaScript to use this site.</noscript>
</body></html>"""


def test_boilerplate_gone_and_paragraphs_kept_as_lines() -> None:
    text = normalize(extract(PAGE, "text/html"))
    for gone in (
        "tracking",
        "color: red",
        "cookies",
        "consent",
        "Home",
        "Blog",
        "GardenSite",
        "Copyright",
        "Privacy",
        "Ten tips",
        "JavaScript",
    ):
        assert gone not in text, gone
    lines = [line for line in text.split("\n") if line]
    for para in PARAGRAPHS:
        assert para in lines  # each paragraph is a whole line of its own
    assert "How to grow tomatoes" in lines
    # Paragraphs are separated by a blank line.
    assert f"{PARAGRAPHS[0]}\n\n{PARAGRAPHS[1]}" in text


def test_line_break_inside_paragraph() -> None:
    html = "<html><body><article><p>first line of a long paragraph here<br>second line</p>"
    html += "</article></body></html>"
    assert extract(html, "text/html").splitlines() == [
        "first line of a long paragraph here",
        "second line",
    ]


@pytest.mark.parametrize("ctype", ["text/plain", "text/plain; charset=utf-8", "text/markdown"])
def test_plain_text_passes_through(ctype: str) -> None:
    raw = "  <b>not html</b>\n\nsecond paragraph  "
    assert extract(raw, ctype) == raw


@pytest.mark.parametrize("ctype", ["TEXT/HTML; charset=ISO-8859-1", "application/xhtml+xml"])
def test_html_media_types(ctype: str) -> None:
    assert "Tomatoes need" in extract(PAGE, ctype)


def test_missing_content_type_is_sniffed() -> None:
    assert "<style>" not in extract(PAGE, None)
    assert extract("just words", None) == "just words"


@pytest.mark.parametrize("ctype", ["image/png", "application/pdf", "application/json"])
def test_other_media_types_yield_nothing(ctype: str) -> None:
    assert extract("%PDF-1.4 binary", ctype) == ""


@pytest.mark.parametrize("raw", ["", "<", "<" * 10_000, "<p>a\udcffb</p>", "\x00<html>"])
def test_bad_html_never_raises(raw: str) -> None:
    assert isinstance(extract(raw, "text/html"), str)


def test_media_type() -> None:
    assert media_type(" Text/HTML ; charset=utf-8") == "text/html"
    assert media_type(None) == ""
