"""The serving load test's client and summary (bench/serve.py) against a loopback stub
server, so the bench cannot rot; the real run against `bentoml serve` is `make bench`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.serve import load, summarise


class Stub(BaseHTTPRequestHandler):
    """/generate answers 5 tokens; every 4th request gets a 500 (an error to count)."""

    count = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).count += 1
        status = 500 if type(self).count % 4 == 0 else 200
        payload = json.dumps({"completion_tokens": 5, "echo": body["prompt"]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


def test_load_sends_the_count_and_counts_errors(stub):
    Stub.count = 0
    level = load(f"{stub}/generate", requests=20, concurrency=4, max_seconds=60,
                 body={"prompt": "hi"})
    assert level["requests"] == 20 == Stub.count
    assert level["errors"] == 5 and level["ok"] == 15
    assert level["completion_tokens"] == 75
    assert level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]


def test_load_stops_at_the_time_bound(stub):
    level = load(f"{stub}/generate", requests=10**9, concurrency=2, max_seconds=0.5,
                 body={"prompt": "hi"})
    assert 0 < level["requests"] < 10**9


def test_summary_of_known_latencies():
    results = [(0.1, 200, 4), (0.2, 200, 4), (0.3, 200, 4), (1.0, 503, 0)]
    got = summarise(results, wall=2.0, concurrency=1)
    assert got["ok"] == 3 and got["errors"] == 1
    assert got["p50_ms"] == pytest.approx(200.0)
    assert got["tokens_per_s"] == pytest.approx(6.0)
    assert got["requests_per_s"] == pytest.approx(1.5)
