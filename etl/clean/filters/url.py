"""URL blocklist filter: blocked domains and blocked words in a document's URL.

This module owns the URL rule. A URL is dropped with

* ``url_blocked_domain`` when its host, or any parent domain of it, is a listed domain
  (``ads.spam.example`` is blocked by ``spam.example``; a leading ``www.`` needs no entry);
* ``url_blocked_word`` when a listed word is one of the tokens (maximal runs of ASCII
  letters and digits, lowercased) of the URL's host and path: ``porn`` blocks
  ``/free-porn/`` but not ``/pornography-law/`` nor the query string.

Entries come from a list file (:mod:`etl.clean.filters.lists` format; entries with a dot are domains,
others words; the packaged default is a small illustrative list) plus the config's extra
entries. A missing or unparsable URL passes.

Example::

    >>> from etl.clean.filters.url import url_filter
    >>> url_filter("https://www.news.example.org/2024/garden-tips")
    >>> url_filter("http://cdn.hot-xxx-cams.example/video")
    'url_blocked_domain'
    >>> url_filter("https://blog.example.com/free-porn/clip?id=1")
    'url_blocked_word'
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from etl.clean.filters.lists import URL_BLOCKLIST_FILE, load_list
from llmlake.config_clean import URLFilterConfig

_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=8)
def _blocklist(
    path: str, extra_domains: tuple[str, ...], extra_words: tuple[str, ...]
) -> tuple[frozenset[str], frozenset[str]]:
    entries = load_list(path, URL_BLOCKLIST_FILE)
    domains = {e.strip(".") for e in entries if "." in e}
    domains.update(d.strip().strip(".").lower() for d in extra_domains)
    words = {e for e in entries if "." not in e}
    words.update(w.strip().lower() for w in extra_words)
    return frozenset(domains), frozenset(words)


def _host_and_path(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return "", ""
    return host.rstrip("."), parts.path


def url_signals(url: str | None, cfg: URLFilterConfig) -> dict[str, int]:
    """``{"url_blocked_domain": 0|1, "url_blocked_word": 0|1}`` for one URL."""
    domains, words = _blocklist(
        cfg.blocklist_path, tuple(cfg.extra_domains), tuple(cfg.extra_words)
    )
    host, path = _host_and_path(url or "")
    labels = host.split(".") if host else []
    # The host itself and each parent domain: a.b.c -> a.b.c, b.c, c.
    blocked_domain = any(".".join(labels[i:]) in domains for i in range(len(labels)))
    tokens = set(_TOKEN_SPLIT.split(f"{host}/{path}".lower()))
    return {
        "url_blocked_domain": int(blocked_domain),
        "url_blocked_word": int(not words.isdisjoint(tokens)),
    }


def url_reason(sig: dict[str, int]) -> str | None:
    if sig["url_blocked_domain"]:
        return "url_blocked_domain"
    if sig["url_blocked_word"]:
        return "url_blocked_word"
    return None


def url_filter(url: str | None, cfg: URLFilterConfig | None = None) -> str | None:
    return url_reason(url_signals(url, cfg or URLFilterConfig()))


URL_REASONS = ("url_blocked_domain", "url_blocked_word")
