"""Benchmark: training throughput of our model against ``transformers``' Llama of the same shape.

Both contenders are the same architecture (pre-norm RMSNorm blocks, RoPE, SwiGLU, no
biases, tied embeddings, causal attention through ``scaled_dot_product_attention``) with
the same layers, width, heads, MLP width, vocabulary, context and RMSNorm epsilon; the
parameter counts are checked equal. Each trains on the same random batch in the same
dtype with the same AdamW (weight decay on matrices only; fused on a GPU): forward,
backward and optimizer step. ``--warmup`` steps are not timed; ``--steps`` are.

- ``ours``: :class:`training.model.LanguageModel` (``arch: gpt``).
- ``llama``: ``transformers.LlamaForCausalLM``, ``attn_implementation="sdpa"``, no KV cache
  in training, its own loss (``labels=x``: it shifts them itself, so its loss covers T - 1
  positions of the T it computes logits for).

Each contender runs in its own child process (its peak memory is its own; no allocator
or thread pool is shared), ``--repeats`` times in the order ours, llama, llama, ours, ...
so a machine's drift hits both alike. Tokens/s is a batch over the median step of all
timed steps of all repeats (a step another process slowed is an outlier, not an average's
share); tokens per CPU second is printed too, as a busy machine stretches wall time more
than CPU time. Both use ``--threads`` (default: every core this process may use; on a
shared machine ``--threads 1`` is the stable measure). Peak memory:
``torch.cuda.max_memory_allocated`` on a GPU; on the CPU the peak resident set's growth
over the process's size before the model was built.

Defaults by device: CPU: presets tiny and small, fp32, batch 8, the preset's context, not
compiled. GPU: gpt2-124m at context 1024, bf16 autocast, TF32, ``torch.compile``, batches
12 and 32, with MFU (:mod:`training.hardware`; Llama does the same FLOPs per token). The
goals: ours at least 1.2x Llama's tokens/s, and 612k tokens/s on an H200 (nanoGPT's own
training loop does about 472k at batch 12 and 510k at batch 32 there, 41-44% MFU).
Writes ``bench/results/train_throughput.json`` (``train_throughput_gpu.json`` on a GPU).
Imports only torch, transformers and the standard library (no psutil: a bare GPU machine
runs it too).

Example::

    python bench/train_throughput.py --device cpu --presets tiny --steps 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from training.hardware import mfu  # noqa: E402
from training.model import LanguageModel, ModelConfig, param_groups  # noqa: E402

CONTENDERS = ("ours", "llama")
GOAL_RATIO = 1.2  # ours / llama tokens per second
GOAL_H200 = 612_000  # tokens per second for gpt2-124m on one H200 (1.2x nanoGPT's 510k)
OPTIMIZER = {"lr": 6e-4, "betas": (0.9, 0.95), "weight_decay": 0.1}  # nanoGPT's GPT-2 run


def model_config(spec: dict) -> ModelConfig:
    return ModelConfig.from_preset(spec["preset"], context=spec.get("context"))


def build_llama(config: ModelConfig) -> torch.nn.Module:
    """``LlamaForCausalLM`` with exactly our model's dimensions."""
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(
        vocab_size=config.vocab_size, hidden_size=config.n_embd,
        intermediate_size=config.hidden, num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head, num_key_value_heads=config.n_head,
        max_position_embeddings=config.context, rms_norm_eps=config.norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        initializer_range=config.init_std, tie_word_embeddings=True, attention_bias=False,
        mlp_bias=False, attention_dropout=0.0, use_cache=False, attn_implementation="sdpa"))


def build(contender: str, config: ModelConfig, device: str):
    """(model, optimizer, loss function of (x, y)) for one contender."""
    fused = {"fused": True} if device == "cuda" else {}
    if contender == "ours":
        model = LanguageModel(config).to(device)
        opt = model.configure_optimizer(OPTIMIZER["weight_decay"], OPTIMIZER["lr"],
                                        OPTIMIZER["betas"], device)
        return model, opt, lambda m, x, y: m(x, targets=y)[1]
    model = build_llama(config).to(device)
    opt = torch.optim.AdamW(param_groups(model, OPTIMIZER["weight_decay"]), lr=OPTIMIZER["lr"],
                            betas=OPTIMIZER["betas"], **fused)
    # Llama shifts its labels itself: position t predicts labels[t + 1] = y[t].
    return model, opt, lambda m, x, y: m(input_ids=x, labels=x).loss


def current_rss() -> int:
    """This process's resident bytes now (Linux), else its peak so far."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return peak_rss()


def peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes; Linux: KiB


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run_contender(contender: str, spec: dict) -> dict:
    """Train ``contender`` for spec's warm-up and timed steps, in this process."""
    device, config = spec["device"], model_config(spec)
    torch.manual_seed(0)
    torch.set_num_threads(spec["threads"])
    if contender == "llama":
        import transformers  # noqa: F401  (imported before the memory baseline)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats()
    base = current_rss()
    model, opt, loss_of = build(contender, config, device)
    params = sum(p.numel() for p in model.parameters())
    step_model = torch.compile(model) if spec["compile"] else model
    tokens = torch.randint(0, config.vocab_size, (spec["batch"], config.context + 1),
                           device=device)
    x, y = tokens[:, :-1], tokens[:, 1:]
    amp = (torch.autocast(device, dtype=torch.bfloat16) if spec["dtype"] == "bf16"
           else contextlib.nullcontext())
    model.train()
    walls, cpus, losses = [], [], []
    for i in range(spec["warmup"] + spec["steps"]):
        sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        with amp:
            loss = loss_of(step_model, x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        if i >= spec["warmup"]:
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        losses.append(loss.item())
    peak = (torch.cuda.max_memory_allocated() if device == "cuda"
            else max(0, peak_rss() - base))
    return {"params": params, "step_s": walls, "step_cpu_s": cpus,
            "peak_mem_mb": round(peak / 2**20, 1), "loss_first": losses[0],
            "loss_last": losses[-1]}


def run_child(contender: str, spec: dict) -> dict:
    """:func:`run_contender` in a fresh Python process (one ``RESULT {json}`` line back)."""
    cmd = [sys.executable, __file__, "--child", contender, "--spec", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"{contender} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def compare(spec: dict, repeats: int = 1, isolate: bool = True) -> dict:
    """Both contenders on one spec, ``repeats`` times each in ABBA order; the record."""
    run = run_child if isolate else run_contender
    order = [CONTENDERS if r % 2 == 0 else CONTENDERS[::-1] for r in range(repeats)]
    samples: dict[str, list[dict]] = {c: [] for c in CONTENDERS}
    for contenders in order:
        for contender in contenders:
            samples[contender].append(run(contender, spec))
    with torch.device("meta"):
        flops = LanguageModel(model_config(spec)).flops_per_token()
    gpu = torch.cuda.get_device_name() if spec["device"] == "cuda" else None
    record = {**spec, "gpu": gpu, "flops_per_token": flops}
    tokens = spec["batch"] * spec["context"]
    for contender, runs in samples.items():
        # The median step over every run: a step another process slowed is an outlier.
        rate = tokens / statistics.median(t for r in runs for t in r["step_s"])
        per_cpu = tokens / statistics.median(t for r in runs for t in r["step_cpu_s"])
        record[contender] = {
            "tokens_per_s": round(rate, 1), "tokens_per_cpu_s": round(per_cpu, 1),
            "runs_tokens_per_s": [round(tokens * len(r["step_s"]) / sum(r["step_s"]), 1)
                                  for r in runs],
            "timed_steps": sum(len(r["step_s"]) for r in runs),
            "peak_mem_mb": max(r["peak_mem_mb"] for r in runs), "params": runs[0]["params"],
            "loss_first": runs[0]["loss_first"], "loss_last": runs[0]["loss_last"],
            "mfu": device_mfu(rate, flops, spec)}
    if record["ours"]["params"] != record["llama"]["params"]:
        raise SystemExit(f"not the same model size: {record['ours']['params']} parameters "
                         f"against Llama's {record['llama']['params']}")
    for key, rate in (("ratio_ours_over_llama", "tokens_per_s"),
                      ("ratio_ours_over_llama_cpu", "tokens_per_cpu_s")):
        record[key] = round(record["ours"][rate] / record["llama"][rate], 3)
    return record


def device_mfu(tokens_per_s: float, flops: int, spec: dict) -> float | None:
    if spec["device"] != "cuda":
        return None
    dtype = spec["dtype"] if spec["dtype"] == "bf16" else "tf32"  # fp32 matmuls run as TF32
    value = mfu(tokens_per_s, flops, torch.cuda.get_device_name(), dtype)
    return None if value is None else round(value, 4)


def specs(args: argparse.Namespace) -> list[dict]:
    gpu = args.device == "cuda"
    presets = args.presets or ("gpt2-124m" if gpu else "tiny,small")
    batches = args.batch or ("12,32" if gpu else "8")
    common = {"device": args.device, "dtype": args.dtype or ("bf16" if gpu else "fp32"),
              "compile": gpu if args.compile is None else args.compile,
              "steps": args.steps or (50 if gpu else 20), "warmup": args.warmup,
              "threads": args.threads or cores()}
    return [{"preset": p, "batch": int(b), **common,
             "context": ModelConfig.from_preset(p, context=args.context).context}
            for p in presets.split(",") for b in batches.split(",")]


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def report(records: list[dict], out: Path) -> None:
    print(f"\n{'preset':<10} {'batch':>5} {'ctx':>5} {'dtype':>5} {'thr':>3} {'steps':>5} "
          f"{'ours tok/s':>10} {'llama tok/s':>11} {'ratio':>5} {'cpu-s':>5} {'ours MB':>7} "
          f"{'llama MB':>8} {'MFU':>5} {'llama':>5}")
    for r in records:
        o, ll = r["ours"], r["llama"]
        mfus = ["-" if m is None else f"{m:.1%}" for m in (o["mfu"], ll["mfu"])]
        print(f"{r['preset']:<10} {r['batch']:>5} {r['context']:>5} {r['dtype']:>5} "
              f"{r['threads']:>3} {o['timed_steps']:>5} {o['tokens_per_s']:>10,.0f} "
              f"{ll['tokens_per_s']:>11,.0f} {r['ratio_ours_over_llama']:>5.2f} "
              f"{r['ratio_ours_over_llama_cpu']:>5.2f} {o['peak_mem_mb']:>7.0f} "
              f"{ll['peak_mem_mb']:>8.0f} {mfus[0]:>5} {mfus[1]:>5}")
    print("(steps: timed steps per contender, over all repeats; tok/s from the median step; "
          "cpu-s: the ratio in tokens per CPU second)")
    print(f"\ngoals: ours >= {GOAL_RATIO}x Llama's tokens/s; gpt2-124m on an H200 >= "
          f"{GOAL_H200:,} tokens/s (nanoGPT there: ~472k at batch 12, ~510k at batch 32)")
    for r in records:
        met = r["ratio_ours_over_llama"] >= GOAL_RATIO
        line = f"  {r['preset']} batch {r['batch']}: ratio {'met' if met else 'NOT met'}"
        if r["device"] == "cuda" and r["preset"] == "gpt2-124m" and "H200" in (r["gpu"] or ""):
            fast = r["ours"]["tokens_per_s"] >= GOAL_H200
            line += f", H200 tokens/s {'met' if fast else 'NOT met'}"
        print(line)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(records), "results": records}, indent=2)
                   + "\n")
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def machine(records: list[dict]) -> dict:
    gpu = any(r["device"] == "cuda" for r in records)
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "load": [round(x, 2) for x in os.getloadavg()],
            "gpu": torch.cuda.get_device_name() if gpu else None}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--presets", default=None, help="comma-separated preset names")
    parser.add_argument("--batch", default=None, help="batch size(s), comma-separated")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default=None)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--context", type=int, default=None, help="override the preset's")
    parser.add_argument("--repeats", type=int, default=2, help="runs per contender (ABBA)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (all cores)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", choices=CONTENDERS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--spec", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        print("RESULT " + json.dumps(run_contender(args.child, json.loads(args.spec))),
              flush=True)
        return
    name = "train_throughput_gpu" if args.device == "cuda" else "train_throughput"
    out = args.out or ROOT / "bench" / "results" / f"{name}.json"
    records = []
    for spec in specs(args):
        print(f"{spec['preset']} batch {spec['batch']}: {args.repeats} x {CONTENDERS} ...",
              flush=True)
        records.append(compare(spec, args.repeats))
    report(records, out)


if __name__ == "__main__":
    main()
