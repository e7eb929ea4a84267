"""Load test of the BentoML service: ``bentoml serve`` on loopback, ``POST /generate`` at
concurrency 1, 16 and 64.

For each preset (``tiny`` and ``small`` by default; random weights, the shape is what
costs) the bench saves a model into a BentoML home of its own, starts ``bentoml serve
serving.service:LLMService`` on 127.0.0.1, and sends a fixed prompt asking for a fixed
number of new tokens (greedy), at each concurrency level, bounded in count
(``--requests``, 1,000) and in time (``--max-seconds`` per level). It reports latency
p50/p95/p99, requests/s, generated tokens/s and errors (which must be zero), and the
batching figure the issue asks for: generated tokens/s at concurrency 16 over
concurrency 1 (goal: at least 4x; continuous batching decodes the waiting requests
together). Results go to ``bench/results/serve.json``.

    python bench/serve.py                         # tiny and small, 1,000 requests a level
    python bench/serve.py --presets tiny --requests 100 --max-seconds 30
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.common import write_results  # noqa: E402

PROMPT = "The city council met on Tuesday to discuss the new park and the budget for"


def load(url: str, requests: int, concurrency: int, max_seconds: float,
         body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Send up to ``requests`` POSTs to ``url`` from ``concurrency`` threads, stopping new
    ones after ``max_seconds``; every figure of the level."""
    import httpx

    lock, sent = threading.Lock(), [0]
    results: list[tuple[float, int, int]] = []  # latency s, status, completion tokens
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        with httpx.Client(timeout=300, headers=headers) as client:
            while True:
                with lock:
                    if sent[0] >= requests or time.monotonic() > deadline:
                        return
                    sent[0] += 1
                started = time.perf_counter()
                try:
                    r = client.post(url, json=body)
                    tokens = r.json().get("completion_tokens", 0) if r.status_code == 200 else 0
                    status = r.status_code
                except httpx.HTTPError:
                    tokens, status = 0, 0
                with lock:
                    results.append((time.perf_counter() - started, status, tokens))

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    return summarise(results, time.perf_counter() - started, concurrency)


def summarise(results: list[tuple[float, int, int]], wall: float,
              concurrency: int) -> dict[str, Any]:
    """Latency percentiles (ms) over the successful requests, throughput over the wall."""
    ok = [(lat, tok) for lat, status, tok in results if status == 200]
    lat = np.array([x[0] for x in ok]) * 1000 if ok else np.zeros(1)
    tokens = sum(x[1] for x in ok)
    return {"concurrency": concurrency, "requests": len(results), "ok": len(ok),
            "errors": len(results) - len(ok), "seconds": round(wall, 2),
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "requests_per_s": round(len(ok) / wall, 2) if wall else None,
            "tokens_per_s": round(tokens / wall, 1) if wall else None,
            "completion_tokens": tokens}


def bench_preset(preset: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch
    from serve_helpers import Server, store_model, tiny_model

    from training.checkpoint import load_model, save_model
    from training.model import LanguageModel, ModelConfig

    base = tiny_model(work / "base", context=256)  # the tokenizer, in a model folder
    vocab = load_model(base)[0].config.vocab_size
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig.from_preset(preset, vocab_size=vocab, context=256))
    folder = save_model(work / preset, model, work / "tokenizer", {"run": f"bench-{preset}"})
    tag = store_model(work / "home", folder, work / "lake", max_batch=args.max_batch)
    server = Server(work / "home", tag, work / f"{preset}.log").start()
    try:
        server.wait_ready()
        body = {"prompt": PROMPT, "max_new_tokens": args.new_tokens, "temperature": 0}
        load(f"{server.url}/generate", 2, 1, 60, body)  # warm-up
        levels = [load(f"{server.url}/generate", args.requests, c, args.max_seconds, body)
                  for c in args.concurrency]
    finally:
        server.stop()
    by_c = {lv["concurrency"]: lv for lv in levels}
    ratio = (by_c[16]["tokens_per_s"] / by_c[1]["tokens_per_s"]
             if 1 in by_c and 16 in by_c and by_c[1]["tokens_per_s"] else None)
    return {"preset": preset, "params": model.num_params(), "levels": levels,
            "c16_over_c1_tokens_per_s": round(ratio, 2) if ratio else None,
            "goal_c16_at_least_4x_c1": ratio is not None and ratio >= 4}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--requests", type=int, default=1000, help="per concurrency level")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="per level")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=16, help="serve.max_batch")
    parser.add_argument("--out", default="", help="results file (default bench/results/serve.json)")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        presets = [bench_preset(p, args, Path(tmp) / p) for p in args.presets.split(",")]
    result = {"bench": "serve", "endpoint": "/generate", "new_tokens": args.new_tokens,
              "max_batch": args.max_batch, "requests_per_level": args.requests,
              "max_seconds_per_level": args.max_seconds, "presets": presets}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    else:
        write_results("serve", result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
