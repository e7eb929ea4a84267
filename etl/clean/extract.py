"""Main-content text from a raw web payload: HTML through Resiliparse, plain text as is.

This module owns :func:`extract`, the first step of cleaning. HTML is parsed with
Resiliparse's Lexbor-based :class:`~resiliparse.parse.html.HTMLTree` and reduced to its main
content with ``extract_plain_text(main_content=True)``: navigation, headers, footers,
sidebars, scripts, styles, forms, ``<noscript>``, image alt texts and user-comment sections
are dropped, and so are cookie / consent banners (matched by class, id or ARIA label, which
Resiliparse's own heuristics miss when the banner has no telling tag). Block elements become
paragraphs separated by a blank line, ``<br>`` a line break; :mod:`etl.clean.normalize`
canonicalises the whitespace afterwards.

Other ``text/*`` payloads pass through untouched; a missing content type is sniffed (HTML if
the payload starts like a tag); any other media type (images, PDF, JSON) yields ``""``.

Example::

    >>> from etl.clean.extract import extract
    >>> page = ("<html><body><nav><a href='/'>Home</a></nav><script>track()</script>"
    ...         "<main><p>First paragraph of the article body, long enough to count.</p>"
    ...         "<p>Second paragraph of the article body, also long enough.</p></main>"
    ...         "<footer>Copyright 2024</footer></body></html>")
    >>> print(extract(page, "text/html; charset=utf-8"))
    First paragraph of the article body, long enough to count.
    <BLANKLINE>
    Second paragraph of the article body, also long enough.
    >>> extract("just text", "text/plain")
    'just text'
"""

from __future__ import annotations

import re

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLParserException, HTMLTree

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

# Consent and cookie banners: the class, id or ARIA label names them even when nothing else
# in the markup (no <nav>, <footer>, ...) gives them away.
_BANNER_SELECTORS = (
    "[class*=cookie i]",
    "[id*=cookie i]",
    "[class*=consent i]",
    "[id*=consent i]",
    "[class*=gdpr i]",
    "[id*=gdpr i]",
    "[aria-label*=cookie i]",
    "[aria-label*=consent i]",
)
_SURROGATES = re.compile("[\ud800-\udfff]")
_LOOKS_LIKE_HTML = re.compile(r"\A\s*(?:<!doctype\s+html|<html|<head|<body|<!--)", re.IGNORECASE)


def media_type(content_type: str | None) -> str:
    """``"text/html; charset=utf-8"`` -> ``"text/html"`` (lowercase, no parameters)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def html_to_text(html: str) -> str:
    """Main-content plain text of an HTML document (paragraphs as blank-line blocks).

    A page the parser rejects yields ``""``: a crawl always has a few, and one must not
    stop a job. Lone surrogates (from lenient byte decoding) are removed first, because
    the parser needs valid UTF-8.
    """
    try:
        tree = HTMLTree.parse(_SURROGATES.sub("", html))
    except HTMLParserException:
        return ""
    return extract_plain_text(
        tree,
        main_content=True,
        list_bullets=True,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
        comments=False,
        skip_elements=_BANNER_SELECTORS,
    )


def extract(raw: str, content_type: str | None) -> str:
    """Text of a raw payload given its HTTP content type (see the module docstring)."""
    if not raw:
        return ""
    mime = media_type(content_type)
    if mime in HTML_TYPES or (not mime and _LOOKS_LIKE_HTML.match(raw)):
        return html_to_text(raw)
    if not mime or mime.startswith("text/"):
        return raw
    return ""
