"""The training-throughput benchmark's core, on the CPU: a tiny run of both contenders in
this process (no children), and the defaults it picks per device."""

from __future__ import annotations

import argparse

import pytest
import torch

from bench import train_throughput as bench


@pytest.fixture
def threads():
    """The benchmark sets torch's thread count; the rest of the session keeps its own."""
    before = torch.get_num_threads()
    yield 1
    torch.set_num_threads(before)


@pytest.mark.slow  # imports transformers: several seconds
def test_compare_tiny(threads):
    spec = {"preset": "tiny", "batch": 2, "context": 64, "device": "cpu", "dtype": "fp32",
            "compile": False, "steps": 2, "warmup": 1, "threads": threads}
    record = bench.compare(spec, repeats=1, isolate=False)
    for contender in ("ours", "llama"):
        result = record[contender]
        assert result["tokens_per_s"] > 0 and result["tokens_per_cpu_s"] > 0
        assert result["timed_steps"] == 2 and result["mfu"] is None  # no MFU on a CPU
        assert result["loss_first"] == pytest.approx(9.0, abs=0.5)  # ln(8192) = 9.01
    assert record["ours"]["params"] == record["llama"]["params"]  # the same shapes
    assert record["ratio_ours_over_llama"] == pytest.approx(
        record["ours"]["tokens_per_s"] / record["llama"]["tokens_per_s"], rel=1e-2)
    assert record["flops_per_token"] > 6 * record["ours"]["params"]


def args(**given) -> argparse.Namespace:
    defaults = {"presets": None, "batch": None, "dtype": None, "compile": None, "steps": None,
                "warmup": 3, "threads": None, "context": None}
    return argparse.Namespace(**{**defaults, **given})


def test_defaults_by_device():
    cpu = bench.specs(args(device="cpu"))
    assert [(s["preset"], s["batch"], s["context"], s["dtype"], s["compile"]) for s in cpu] == [
        ("tiny", 8, 256, "fp32", False), ("small", 8, 256, "fp32", False)]
    gpu = bench.specs(args(device="cuda"))
    assert [(s["preset"], s["batch"], s["context"], s["dtype"], s["compile"]) for s in gpu] == [
        ("gpt2-124m", 12, 1024, "bf16", True), ("gpt2-124m", 32, 1024, "bf16", True)]
    custom = bench.specs(args(device="cpu", presets="tiny", batch="4,6", context=64,
                              compile=True, dtype="bf16"))
    assert [(s["batch"], s["context"], s["dtype"], s["compile"]) for s in custom] == [
        (4, 64, "bf16", True), (6, 64, "bf16", True)]
