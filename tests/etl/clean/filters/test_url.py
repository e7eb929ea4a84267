"""URL blocklist filter (etl.clean.filters.url)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.clean.filters.url import URLFilterConfig, url_filter, url_signals


@pytest.mark.parametrize(
    "url",
    [
        "http://hot-xxx-cams.example/",
        "https://HOT-XXX-CAMS.EXAMPLE/path",
        "https://www.hot-xxx-cams.example/video?id=1",
        "http://cdn.eu.hot-xxx-cams.example:8080/a.jpg",
        "http://user:pw@link-farm.invalid./",
    ],
)
def test_blocked_domain_and_its_subdomains(url: str) -> None:
    assert url_filter(url) == "url_blocked_domain"


@pytest.mark.parametrize(
    "url",
    [
        "https://not-hot-xxx-cams.example/",  # a different registered name
        "https://hot-xxx-cams.example.org/",  # blocked name as a subdomain of another site
        "https://news.example.org/hot-xxx-cams.example",  # the name only in the path
    ],
)
def test_domain_match_is_by_whole_labels(url: str) -> None:
    assert url_signals(url, URLFilterConfig())["url_blocked_domain"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://blog.example.com/free-porn/clip",
        "https://porn.example.com/",
        "http://a.example/XXX",
    ],
)
def test_blocked_words_in_host_or_path(url: str) -> None:
    assert url_filter(url) == "url_blocked_word"


@pytest.mark.parametrize(
    "url",
    [
        "https://law.example.com/pornography-law-reform",  # not a whole token
        "https://shop.example.com/search?q=porn",  # query strings are not read
        "https://www.example.org/garden/tomatoes",
        None,
        "",
        "not a url",
        "http://[broken/",
    ],
)
def test_allowed_urls(url: str | None) -> None:
    assert url_filter(url) is None


def test_user_list_file_and_extras(tmp_path: Path) -> None:
    path = tmp_path / "block.txt"
    path.write_text("# mine\nspam.example.net\ncasino\n\n", encoding="utf-8")
    cfg = URLFilterConfig(
        blocklist_path=str(path), extra_domains=["Bad.Example"], extra_words=["Lottery"]
    )
    assert url_filter("https://x.spam.example.net/", cfg) == "url_blocked_domain"
    assert url_filter("https://bad.example/", cfg) == "url_blocked_domain"
    assert url_filter("https://a.example/online-casino", cfg) == "url_blocked_word"
    assert url_filter("https://a.example/lottery/win", cfg) == "url_blocked_word"
    # The user's file replaces the packaged list.
    assert url_filter("http://hot-xxx-cams.example/", cfg) is None
