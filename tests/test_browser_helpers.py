"""The browser helper: pages render in a real headless Chromium, their errors are collected,
and nothing leaves the machine while they load."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser_helpers import browser_skip_reason, needs_browser, open_page


def page(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_text(f"<!doctype html><html><head><title>Report</title></head>"
                    f"<body>{body}</body></html>")
    return path


@needs_browser
def test_sees_text_rendered_by_script(tmp_path: Path) -> None:
    (tmp_path / "late.js").write_text(
        "setTimeout(() => { const p = document.createElement('p'); p.id = 'late';"
        " p.textContent = 'drift detected in 2 of 3 columns'; document.body.append(p); }, 50);")
    path = page(tmp_path, "<main id=app></main><script>document.getElementById('app')"
                ".textContent = 'rendered ' + (6 * 7);</script><script src=late.js></script>")
    view = open_page(path, wait_for="#late")
    assert view.title == "Report"
    assert "rendered 42" in view.text and "drift detected in 2 of 3 columns" in view.text
    assert "6 * 7" not in view.text  # the script's source is not what a reader sees
    assert '<main id="app">rendered 42</main>' in view.html
    assert (view.console_errors, view.page_errors, view.blocked) == ([], [], [])


@needs_browser
def test_collects_uncaught_errors(tmp_path: Path) -> None:
    view = open_page(page(tmp_path, "<script>null.render();</script><p>after</p>"))
    assert len(view.page_errors) == 1 and "null" in view.page_errors[0]
    assert view.console_errors == []


@needs_browser
def test_collects_console_errors_only(tmp_path: Path) -> None:
    view = open_page(page(tmp_path, "<script>console.error('chart failed: no data');"
                                    "console.warn('slow'); console.log('ok');</script>"))
    assert view.console_errors == ["chart failed: no data"]
    assert view.page_errors == []


@needs_browser
def test_blocks_and_records_remote_requests(tmp_path: Path) -> None:
    url = "https://example.invalid/x.png"
    view = open_page(page(tmp_path, f'<img src="{url}" onerror="this.alt = \'not loaded\';'
                                    f'document.body.append(\'image failed\')">'))
    assert view.blocked == [url]
    assert "image failed" in view.text  # the browser got no image: the request never left
    assert view.console_errors == []  # its "Failed to load resource" is reported as blocked


@pytest.fixture
def loopback_script() -> Iterator[str]:
    """A URL on a loopback HTTP server that serves a script writing 'served locally'."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"document.body.append('served locally');"
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/app.js"
    server.shutdown()
    server.server_close()


@needs_browser
def test_lets_loopback_requests_through(tmp_path: Path, loopback_script: str) -> None:
    view = open_page(page(tmp_path, f"<script src='{loopback_script}'></script>"))
    assert "served locally" in view.text
    assert view.blocked == []


@needs_browser
def test_selector_that_never_appears_names_the_page_errors(tmp_path: Path) -> None:
    path = page(tmp_path, "<script>throw new Error('bundle broken')</script>")
    with pytest.raises(TimeoutError, match=r"'#app' did not appear.*bundle broken"):
        open_page(path, wait_for="#app", timeout_ms=500)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.html: no such HTML file"):
        open_page(tmp_path / "absent.html")


def test_skip_reason_names_missing_chromium(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("playwright")  # without it, the reason names playwright instead
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = browser_skip_reason()
    assert reason is not None
    assert "Chromium" in reason and "make browser" in reason
