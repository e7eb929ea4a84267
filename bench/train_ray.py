"""Benchmark: what Ray costs the training loop, on the demo lake (``make demo`` first).

The same model (``--preset``, default ``tiny``), batch, steps, seed and threads, three
ways, each in its own process:

- ``plain``: :class:`training.train.loop.Loop` in one process on the memory-mapped shards
  (no Ray at all);
- ``ray-shards``: ``llmlake train`` with one Ray Train worker on the shards;
- ``ray-delta``: the same reading ``gold/sequences`` through Ray Data.

Each contender reports its training tokens/s (tokens over the seconds spent in optimizer
steps and evaluation, checkpoints excluded: the steady state) and its wall time (process
start to model written: Ray's start, the worker group, data loading, checkpoints). The
ratios against ``plain`` are the cost of Ray's overhead. Writes
``bench/results/train_ray.json``.

Example::

    python bench/train_ray.py --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import write_results  # noqa: E402


def child(kind: str, args: argparse.Namespace, work: Path) -> dict:
    from llmlake.config import load_params

    overrides = [f"model.preset={args.preset}", f"train.max_steps={args.steps}",
                 f"train.batch_size={args.batch}", "train.num_workers=1",
                 f"train.cpus_per_worker={args.threads}", f"train.eval_every={args.steps}",
                 f"train.checkpoint_every={args.steps}", f"train.log_every={args.steps}",
                 f"train.storage={work / 'runs'}", f"lake.reports={work / 'reports'}"]
    started = time.perf_counter()
    if kind == "plain":
        return plain(load_params(ROOT / "params.yaml", overrides), started)
    (work / "reports" / "lineage").mkdir(parents=True, exist_ok=True)
    lineage = ROOT / "reports" / "lineage" / "tokenize.json"
    (work / "reports" / "lineage" / "tokenize.json").write_text(lineage.read_text())
    data = "shards" if kind == "ray-shards" else "delta"
    params = load_params(ROOT / "params.yaml", [*overrides, f"train.data={data}",
                                                f"lake.artifacts={work / 'artifacts'}"])
    artifacts = work / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    for name in ("shards", "tokenizer"):
        (artifacts / name).symlink_to(ROOT / "artifacts" / name)
    from training.train import stage

    report = stage.run(params)
    return {"tokens_per_s": report["tokens_per_s"], "tokens": report["tokens"],
            "wall_seconds": round(time.perf_counter() - started, 1),
            "val_loss": report["val_loss"]}


def plain(params, started: float) -> dict:
    import torch

    from training.data import shard_split
    from training.train.loop import Loop
    from training.train.stage import resolve_model

    torch.set_num_threads(params.train.cpus_per_worker)
    shards = ROOT / "artifacts" / "shards"
    train, header = shard_split(shards, "train")
    val, _ = shard_split(shards, "val")
    loop = Loop(resolve_model(params, header.vocab_size), params.train, train, val,
                header.pad_id)
    state = loop.run(report=lambda state, save: None)
    return {"tokens_per_s": round(state.tokens / state.train_seconds, 1),
            "tokens": state.tokens, "wall_seconds": round(time.perf_counter() - started, 1),
            "val_loss": state.log[-1]["val_loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=["plain", "ray-shards", "ray-delta"])
    parser.add_argument("--work")
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args, Path(args.work))), flush=True)
        return
    if not (ROOT / "artifacts" / "shards" / "train.json").exists():
        sys.exit("bench/train_ray.py: no demo lake; run `make demo` first")
    results = {}
    for kind in ("plain", "ray-shards", "ray-delta"):
        with tempfile.TemporaryDirectory(prefix="llmlake-bench-") as work:
            cmd = [sys.executable, __file__, "--child", kind, "--work", work,
                   "--preset", args.preset, "--steps", str(args.steps),
                   "--batch", str(args.batch), "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                  env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{kind} failed:\n{proc.stderr[-3000:]}")
            results[kind] = json.loads(line[len("RESULT "):])
        print(f"{kind:>11}: {results[kind]['tokens_per_s']:>10,.0f} tokens/s, "
              f"{results[kind]['wall_seconds']:6.1f} s wall", flush=True)
    base = results["plain"]
    for kind in ("ray-shards", "ray-delta"):
        r = results[kind]
        r["tokens_per_s_vs_plain"] = round(r["tokens_per_s"] / base["tokens_per_s"], 3)
        r["wall_vs_plain"] = round(r["wall_seconds"] / base["wall_seconds"], 2)
        print(f"{kind:>11}: {r['tokens_per_s_vs_plain']:.3f}x plain tokens/s, "
              f"{r['wall_vs_plain']:.2f}x plain wall time")
    write_results("train_ray", {"preset": args.preset, "steps": args.steps,
                                "batch": args.batch, "threads": args.threads,
                                "results": results})


if __name__ == "__main__":
    main()
