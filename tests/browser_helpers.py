"""A static HTML report opened in a real headless Chromium, for the tests that check what a
reader sees (a plain module: pytest collects nothing from it).

The browser is the system's Chromium (Debian's ``chromium``; ``make browser`` installs it),
driven by Playwright; Playwright's own browser download is never used. Opening a page fetches
nothing from the network: every request that is neither a local resource (``file:``,
``data:``, ``blob:``, ``about:``) nor on loopback is aborted and its URL recorded in
``PageView.blocked``, so a test can assert that a report needs no network. A test that opens
pages carries ``@needs_browser``, which skips it, with the reason, where there is no browser.

Example::

    >>> is_local_url("file:///reports/drift.html"), is_local_url("http://127.0.0.1:3000/x.js")
    (True, True)
    >>> is_local_url("https://cdn.plot.ly/plotly-2.35.2.min.js")
    False
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page, Route

# What the system's Chromium is called on PATH; `make browser` looks for the same names.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def chromium_path() -> str | None:
    """The first Chromium on PATH, or None."""
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    return None


def browser_skip_reason() -> str | None:
    """None when pages can be opened; else a sentence naming what is missing and the fix."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed: run make setup to run the browser tests"
    if chromium_path() is None:
        return ("no Chromium on PATH: install Debian's chromium package (make browser) "
                "to run the browser tests")
    return None


def is_local_url(url: str) -> bool:
    """True for a URL that reaches no other machine: a local scheme or a loopback host."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname in LOOPBACK_HOSTS


@dataclass
class PageView:
    """What a reader of the page got: title, visible text, errors, and the blocked requests."""

    title: str
    text: str  # document.body.innerText: the rendered text, without markup or hidden parts
    console_errors: list[str]
    page_errors: list[str]  # uncaught exceptions
    blocked: list[str]  # URLs of requests aborted because they would leave the machine
    html: str  # the DOM as rendered, not the file as written


def open_page(path: Path, wait_for: str | None = None, timeout_ms: int = 30_000) -> PageView:
    """Open ``path`` in headless Chromium, wait for ``load`` (and for the CSS selector
    ``wait_for``), and return what it showed; the browser is closed before returning."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such HTML file to open")
    if (reason := browser_skip_reason()) is not None:
        raise RuntimeError(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # The sandbox needs user namespaces, which root in a container usually lacks.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=args)
        try:
            return _view(browser.new_page(), path, wait_for, timeout_ms)
        finally:
            browser.close()


def _view(page: Page, path: Path, wait_for: str | None, timeout_ms: int) -> PageView:
    """Load the page with the network fenced off, collecting errors while it renders."""
    console: list[tuple[str, str]] = []
    page_errors: list[str] = []
    blocked: list[str] = []

    def route(r: Route) -> None:
        if is_local_url(r.request.url):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort("blockedbyclient")

    def on_console(m: ConsoleMessage) -> None:
        if m.type == "error":
            console.append((m.text, m.location.get("url", "")))

    page.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load", timeout=timeout_ms)
    if wait_for is not None:
        try:
            page.wait_for_selector(wait_for, timeout=timeout_ms)
        except Exception as e:  # Playwright's TimeoutError: say what the page said instead
            raise TimeoutError(
                f"{path}: {wait_for!r} did not appear within {timeout_ms} ms; page errors: "
                f"{page_errors}; console errors: {[t for t, _ in console]}") from e
    return PageView(
        title=page.title(),
        text=page.evaluate("document.body ? document.body.innerText : ''"),
        # A blocked request's "Failed to load resource" is already reported in `blocked`.
        console_errors=[text for text, url in console if url not in blocked],
        page_errors=page_errors,
        blocked=blocked,
        html=page.content(),
    )


_SKIP_REASON = browser_skip_reason()
needs_browser = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")
